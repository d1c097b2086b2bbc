//! The load a run applies, as plain serialisable data: what a plan file carries to
//! every node and what a result records. It sits below `plan` (the validated run),
//! `distributed` (plan files) and `result`, so none of them has to import another
//! for these types.

/// How intended send times are spaced under `-R`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arrivals {
    /// Evenly spaced, interleaved across connections (wrk2's schedule).
    Constant,
    /// Exponential gaps at the same mean rate, from a fixed seed.
    Poisson,
}

/// How `-p N` keeps requests in flight on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PipelineMode {
    /// N in flight at all times: each response frees a slot that is refilled.
    #[default]
    Refill,
    /// wrk's pipeline.lua: send N, wait for all N, send N again.
    Batch,
}

impl PipelineMode {
    pub fn name(self) -> &'static str {
        match self {
            Self::Refill => "refill",
            Self::Batch => "batch",
        }
    }
}

/// The load half of a run's options: what a plan file carries to every node, and
/// all a merge needs to describe the run again. What the machine running it
/// decides (CPUs, engine, outputs) is not here.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Load {
    pub urls: Vec<String>,
    pub method: String,
    /// "Name: value", as given.
    pub headers: Vec<String>,
    /// Request body, base64.
    pub body: String,
    /// Total connections (of every node together).
    pub connections: usize,
    /// Threads of each node (None: one per CPU it may use, at most its connections).
    pub threads: Option<usize>,
    pub duration_ms: Option<u64>,
    /// Total requests under -n (of every node together).
    pub requests: Option<u64>,
    pub pipeline: usize,
    #[serde(default)]
    pub pipeline_mode: PipelineMode,
    pub timeout_ms: u64,
    /// Total rate under -R (of every node together).
    pub rate: Option<f64>,
    pub arrivals: Arrivals,
    pub seed: u64,
}
