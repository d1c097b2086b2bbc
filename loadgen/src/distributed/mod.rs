//! Runs split over several generator machines, with no coordinator: a plan file
//! (`ceiling plan`) that N ordinary runs each take their share of
//! (`ceiling run --plan FILE --node-index I`), and `ceiling merge`, which reads
//! the node result files (`crate::record::node`, written by `--out`) and adds
//! the nodes' counters and histograms exactly, interval by interval. Kubernetes, ssh fan-out or Slurm start the
//! nodes; the wall-clock start instant T0 in the plan lines them up.

pub mod merge;
pub mod plan_cmd;

use crate::load::Load;
use serde::{Deserialize, Serialize};
use shared::stats::layout::{LATENCY_HIGHEST_US, LATENCY_LOWEST_US, SIGNIFICANT_DIGITS};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Schema tag of plan files.
pub const PLAN_SCHEMA: &str = "ceiling.plan/1";

/// What every node of a run shares: written once by `ceiling plan`, read by each node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    pub schema: String,
    /// Random, so two runs of one plan text are still told apart.
    pub run_id: String,
    pub created_at: String,
    pub nodes: usize,
    /// T0: every node starts sending at this wall-clock instant (Unix ms).
    pub start_unix_ms: u64,
    /// A node that reaches T0 later than this refuses to start.
    pub start_tolerance_ms: u64,
    pub load: Load,
    pub histogram: Layout,
}

/// The latency histogram layout; merging needs every node to use the same one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    pub unit: String,
    pub lowest: u64,
    pub highest: u64,
    pub significant_digits: u8,
}

impl Layout {
    /// This build's layout.
    pub fn current() -> Self {
        Self {
            unit: "us".into(),
            lowest: LATENCY_LOWEST_US,
            highest: LATENCY_HIGHEST_US,
            significant_digits: SIGNIFICANT_DIGITS,
        }
    }
}

impl PlanFile {
    pub fn new(load: Load, nodes: usize, start: SystemTime, tolerance: Duration) -> Self {
        Self {
            schema: PLAN_SCHEMA.into(),
            run_id: run_id(),
            created_at: crate::meta::rfc3339(SystemTime::now()),
            nodes,
            start_unix_ms: unix_ms(start),
            start_tolerance_ms: tolerance.as_millis() as u64,
            load,
            histogram: Layout::current(),
        }
    }

    /// T0 as a wall-clock instant.
    pub fn start(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.start_unix_ms)
    }

    pub fn tolerance(&self) -> Duration {
        Duration::from_millis(self.start_tolerance_ms)
    }

    /// A short digest of the whole plan: nodes of one run carry the same one.
    pub fn hash(&self) -> String {
        let text = serde_json::to_string(self).expect("a plan serializes");
        format!("{:016x}", fnv1a(text.as_bytes()))
    }
}

/// A plan file as a node read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub file: PlanFile,
    pub hash: String,
}

/// A plan file that cannot be used: bad usage on the node (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("cannot read the plan {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a ceiling plan: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
    #[error("{path}: plan schema {found:?}, this ceiling reads {PLAN_SCHEMA:?}")]
    Schema { path: String, found: String },
    #[error("{path}: the plan's histogram layout differs from this ceiling's: use the same version on every node")]
    Layout { path: String },
    #[error("{path}: a plan needs at least one node")]
    NoNodes { path: String },
}

impl Planned {
    /// Reads and checks a plan file.
    pub fn read(path: &Path) -> Result<Self, PlanFileError> {
        let p = || path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|source| PlanFileError::Read { path: p(), source })?;
        let file: PlanFile = serde_json::from_str(&text)
            .map_err(|source| PlanFileError::Parse { path: p(), source })?;
        if file.schema != PLAN_SCHEMA {
            return Err(PlanFileError::Schema {
                path: p(),
                found: file.schema,
            });
        }
        if file.histogram != Layout::current() {
            return Err(PlanFileError::Layout { path: p() });
        }
        if file.nodes == 0 {
            return Err(PlanFileError::NoNodes { path: p() });
        }
        let hash = file.hash();
        Ok(Self { file, hash })
    }
}

/// No usable node index.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NodeIndexError {
    #[error("${var} is {value:?}, not a node index")]
    NotANumber { var: &'static str, value: String },
    #[error("no node index: give --node-index I (or run under an Indexed Job or Slurm, which set $JOB_COMPLETION_INDEX / $SLURM_PROCID)")]
    Missing,
}

/// The node index from the engine that started this process: Kubernetes Indexed
/// Jobs set JOB_COMPLETION_INDEX, Slurm sets SLURM_PROCID.
pub fn index_from_env() -> Result<usize, NodeIndexError> {
    for var in ["JOB_COMPLETION_INDEX", "SLURM_PROCID"] {
        if let Ok(v) = std::env::var(var) {
            return v
                .trim()
                .parse()
                .map_err(|_| NodeIndexError::NotANumber { var, value: v });
        }
    }
    Err(NodeIndexError::Missing)
}

/// Node files that do not make one run (bad usage of `ceiling merge`: exit 2).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NotOneRun {
    /// `run` and `first_run` read "plan HASH (run ID)".
    #[error("{file} is from {run}, {first} from {first_run}: not one run")]
    OtherRun {
        file: String,
        run: String,
        first: String,
        first_run: String,
    },
    #[error(
        "{file} has another histogram layout ({layout}): written by a different ceiling version"
    )]
    Layout { file: String, layout: String },
    #[error("{file}: node {index} of {count} does not fit a run of {nodes} nodes")]
    Misfit {
        file: String,
        index: usize,
        count: usize,
        nodes: usize,
    },
    #[error("node {index} appears twice: {first} and {second}")]
    Twice {
        index: usize,
        first: String,
        second: String,
    },
    #[error("{0} (--allow-partial merges the rest)")]
    Missing(String),
    #[error("{0} ended before its footer: the node died or the file was cut (--allow-partial merges what is there)")]
    Truncated(String),
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What the kernel says about this machine's clock: T0 is only as good as it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClockStatus {
    /// "synchronized", "unsynchronized" (adjtimex reports TIME_ERROR: no NTP/PTP
    /// discipline), or "unknown".
    pub sync: String,
    /// The kernel's maximum and estimated error of the clock, µs.
    pub max_error_us: Option<i64>,
    pub est_error_us: Option<i64>,
}

impl ClockStatus {
    pub fn read() -> Self {
        // SAFETY: adjtimex with modes = 0 only reads the kernel's clock state
        // into the zeroed struct it is given.
        let (state, tx) = unsafe {
            let mut tx: libc::timex = std::mem::zeroed();
            tx.modes = 0;
            (libc::adjtimex(&mut tx), tx)
        };
        if state < 0 {
            return Self {
                sync: "unknown".into(),
                max_error_us: None,
                est_error_us: None,
            };
        }
        Self {
            sync: if state == libc::TIME_ERROR {
                "unsynchronized"
            } else {
                "synchronized"
            }
            .into(),
            max_error_us: Some(tx.maxerror),
            est_error_us: Some(tx.esterror),
        }
    }
}

/// 64 random bits, hex.
fn run_id() -> String {
    let mut bytes = [0u8; 8];
    // SAFETY: getrandom writes at most `len` bytes into the buffer given.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if n != bytes.len() as isize {
        // No entropy source: time and pid still tell runs apart.
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        bytes = fnv1a(format!("{t}-{}", std::process::id()).as_bytes()).to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// FNV-1a, 64 bits: a stable digest (std's hashers may change between releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::plan::Arrivals;

    pub(crate) fn load() -> Load {
        Load {
            urls: vec!["http://10.0.0.1:8080/".into()],
            method: "GET".into(),
            headers: vec![],
            body: Vec::new(),
            connections: 30,
            threads: Some(2),
            duration: Some(Duration::from_secs(10)),
            requests: None,
            pipeline: 1,
            pipeline_mode: Default::default(),
            timeout: Duration::from_secs(2),
            rate: Some(3000.0),
            arrivals: Arrivals::Constant,
            seed: 1,
            script: None,
            requests_file: None,
            tls: Default::default(),
        }
    }

    #[test]
    fn hash_is_stable_and_tells_plans_apart() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let a = PlanFile::new(load(), 3, t0, Duration::from_secs(1));
        assert_eq!(a.hash(), a.clone().hash());
        let mut b = a.clone();
        b.nodes = 4;
        assert_ne!(a.hash(), b.hash());
        let c = PlanFile::new(load(), 3, t0, Duration::from_secs(1));
        assert_ne!(a.run_id, c.run_id, "run ids are random");
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn clock_status_reads() {
        let c = ClockStatus::read();
        assert!(["synchronized", "unsynchronized", "unknown"].contains(&c.sync.as_str()));
    }
}
