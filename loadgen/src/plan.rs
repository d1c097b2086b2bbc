//! The validated, immutable description of a run: everything the hot path needs is
//! decided here, before any worker starts. [`build`] makes one from parsed
//! arguments (the side effects: names, limits, probes, output files); [`Load`] is
//! the serialisable half a plan file carries.

pub mod build;
pub mod header;

pub use build::{build, load_of, BuildError, Machine, Mode, Outputs};
pub use header::{check_headers, parse_header};

use shared::runtime::EngineChoice;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// One request, formatted once into the bytes sent on the wire.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub request: Vec<u8>,
    /// HEAD responses carry no body whatever their Content-Length says.
    pub is_head: bool,
}

/// Where the JSON result goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonOut {
    Stdout,
    File(PathBuf),
}

/// How intended send times are spaced under `-R`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Arrivals {
    /// Evenly spaced, interleaved across connections (wrk2's schedule).
    Constant,
    /// Exponential gaps at the same mean rate, from a fixed seed.
    Poisson,
}

/// How `-p N` keeps requests in flight on a connection.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
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

/// Open-loop pacing: a total rate, split evenly over connections.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pacing {
    /// Requests per second, all this process's connections together.
    pub rate: f64,
    pub arrivals: Arrivals,
    pub seed: u64,
    /// Seconds from the start to this process's first request: node `i` of a
    /// distributed run at total rate R owns requests `i, i+N, i+2N...` of the one
    /// stream, so it starts `i/R` in (0 for a single machine).
    pub offset_s: f64,
    /// Index of this process's first connection in the whole run, so Poisson
    /// streams differ across nodes.
    pub first_connection: u64,
}

/// The load half of a run's options: what a plan file carries to every node, and
/// all a merge needs to describe the run again. What the machine running it
/// decides (CPUs, engine, outputs) is not here. Campaigns change its typed fields
/// (connections, rate, duration) from step to step. Durations are `Duration` in
/// memory and milliseconds only in the file (`duration_ms`, `timeout_ms`: whole
/// ms as an integer, else a fraction that reads back to the nanosecond).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Load {
    /// As given, credentials included (a run's [`Plan::load`] holds them masked).
    pub urls: Vec<String>,
    /// Upper-cased token.
    pub method: String,
    /// "Name: value", as given.
    pub headers: Vec<String>,
    /// Request body; base64 in the file.
    #[serde(with = "base64_bytes")]
    pub body: Vec<u8>,
    /// Total connections (of every node together).
    pub connections: usize,
    /// Threads of each node (None: one per CPU it may use, at most its connections).
    pub threads: Option<usize>,
    /// Run length (None: until -n requests are done).
    #[serde(rename = "duration_ms", with = "millis::option")]
    pub duration: Option<Duration>,
    /// Total requests under -n (of every node together).
    pub requests: Option<u64>,
    /// Requests in flight per connection.
    pub pipeline: usize,
    #[serde(default)]
    pub pipeline_mode: PipelineMode,
    /// A request unanswered this long is a timeout.
    #[serde(rename = "timeout_ms", with = "millis")]
    pub timeout: Duration,
    /// Total rate under -R, requests/s (of every node together).
    pub rate: Option<f64>,
    pub arrivals: Arrivals,
    pub seed: u64,
}

impl Load {
    /// The same load with every credential masked (URL passwords, Authorization
    /// values): what results, node files and reports may hold.
    pub fn redacted(&self) -> Load {
        Load {
            urls: self.urls.iter().map(|u| crate::redact::url(u)).collect(),
            headers: self
                .headers
                .iter()
                .map(|h| crate::redact::header(h))
                .collect(),
            ..self.clone()
        }
    }

    /// The generator command line that runs this load on `machine`, as a user
    /// would type it (credentials masked): what a campaign step records.
    pub fn command_line(&self, machine: &Machine) -> String {
        let mut v: Vec<String> = vec!["ceiling".into()];
        let mut flag = |f: &str, value: String| {
            v.push(f.into());
            v.push(value);
        };
        if let Some(t) = self.threads {
            flag("-t", t.to_string());
        }
        flag("-c", self.connections.to_string());
        if let Some(d) = self.duration {
            flag("-d", crate::options::show(d));
        }
        if let Some(n) = self.requests {
            flag("-n", n.to_string());
        }
        if let Some(r) = self.rate {
            flag("-R", r.to_string());
        }
        if self.method != "GET" {
            flag("-m", self.method.clone());
        }
        if self.pipeline != 1 {
            flag("-p", self.pipeline.to_string());
        }
        if self.timeout != Duration::from_secs(2) {
            flag("--timeout", crate::options::show(self.timeout));
        }
        if let Some(cpus) = &machine.cpus {
            flag("--cpus", cpus.clone());
        }
        for h in &self.headers {
            flag("-H", crate::redact::header(h));
        }
        if !self.body.is_empty() {
            flag("--body", format!("<{} bytes>", self.body.len()));
        }
        v.extend(self.urls.iter().map(|u| crate::redact::url(u)));
        v.join(" ")
    }
}

/// A `Duration` as milliseconds in a file: whole ones as an integer, else a
/// fraction (exact to the nanosecond up to [`crate::options::MAX_RUN`]).
mod millis {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        if d.subsec_nanos().is_multiple_of(1_000_000) {
            (d.as_millis() as u64).serialize(s)
        } else {
            (d.as_nanos() as f64 / 1e6).serialize(s)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let ms = f64::deserialize(d)?;
        if !(ms.is_finite() && ms >= 0.0) {
            return Err(serde::de::Error::custom(format!(
                "{ms} is not a duration in ms"
            )));
        }
        let ns = (ms * 1e6).round();
        if ns >= u64::MAX as f64 {
            return Err(serde::de::Error::custom(format!("{ms} ms is too long")));
        }
        Ok(Duration::from_nanos(ns as u64))
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            #[derive(Deserialize)]
            struct Wrap(#[serde(with = "super")] Duration);
            Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
        }
    }
}

/// Bytes as standard base64 in a file.
mod base64_bytes {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)
    }
}

/// Which part of a run this process takes: node `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    pub index: usize,
    pub count: usize,
}

impl Share {
    /// The whole run on one machine.
    pub const WHOLE: Share = Share { index: 0, count: 1 };
}

/// A validated run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The command line as given, recorded in every result.
    pub command_line: String,
    /// Resolved once: every target shares it (HTTP/1.1 connections are per origin).
    pub addr: SocketAddr,
    /// Rotated per request on each connection, starting at a per-connection offset.
    pub targets: Vec<Target>,
    pub method: String,
    /// One entry per worker thread: the CPU it is pinned to.
    pub cpus: Vec<usize>,
    pub connections: usize,
    /// Stop after this long (always set unless `-n` runs without `-d`).
    pub duration: Option<Duration>,
    /// Stop after exactly this many requests have been sent and finished.
    pub requests: Option<u64>,
    /// Requests in flight per connection.
    pub pipeline: usize,
    pub pipeline_mode: PipelineMode,
    /// Local addresses outgoing connections bind to, round-robin by connection
    /// (`--source-ips`); empty: the kernel chooses.
    pub source_ips: Vec<IpAddr>,
    /// Lines for stderr before the run (things that may limit it but are not errors).
    pub warnings: Vec<String>,
    pub timeout: Duration,
    pub engine: EngineChoice,
    /// Open-loop pacing (`-R`); None: closed loop, each connection sends as fast as
    /// answers come back.
    pub pacing: Option<Pacing>,
    pub latency: bool,
    /// Print the uncorrected distribution beside the corrected one (`--u_latency`).
    pub u_latency: bool,
    /// Write the corrected distribution as an HdrHistogram .hgrm percentile table.
    pub hgrm: Option<PathBuf>,
    /// Write per-second histograms as an HdrHistogram interval log.
    pub hlog: Option<PathBuf>,
    /// Write an HTML page with charts.
    pub html: Option<PathBuf>,
    pub json: Option<JsonOut>,
    pub quiet: bool,
    /// The load as planned, for every node together.
    pub load: Load,
    /// This process's part of it.
    pub share: Share,
    /// The plan file this node runs (None: a run of its own, starting now).
    pub distributed: Option<crate::distributed::Planned>,
    /// Write the node result file (JSON Lines) here.
    pub out: Option<JsonOut>,
}

impl Plan {
    pub fn threads(&self) -> usize {
        self.cpus.len()
    }

    /// Connections of worker `i`: the total spread exactly, the first ones taking the rest.
    pub fn connections_of(&self, i: usize) -> usize {
        split(self.connections as u64, self.threads(), i) as usize
    }

    /// Request budget of worker `i` under `-n` (None: unlimited).
    pub fn requests_of(&self, i: usize) -> Option<u64> {
        self.requests.map(|n| split(n, self.threads(), i))
    }

    /// The source address of connection `conn` (numbered over the whole run).
    pub fn source_of(&self, conn: usize) -> Option<IpAddr> {
        (!self.source_ips.is_empty()).then(|| self.source_ips[conn % self.source_ips.len()])
    }

    pub fn json_stdout(&self) -> bool {
        self.json == Some(JsonOut::Stdout)
    }
}

/// Share `i` of `total` split over `parts`, differing by at most one and summing to `total`.
pub fn split(total: u64, parts: usize, i: usize) -> u64 {
    let parts = parts as u64;
    total / parts + u64::from((i as u64) < total % parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_exact_and_even() {
        for (total, parts) in [(10u64, 3usize), (64, 2), (7, 7), (1, 4), (100_003, 8)] {
            let shares: Vec<u64> = (0..parts).map(|i| split(total, parts, i)).collect();
            assert_eq!(shares.iter().sum::<u64>(), total);
            let (min, max) = (shares.iter().min().unwrap(), shares.iter().max().unwrap());
            assert!(max - min <= 1);
        }
    }

    #[test]
    fn durations_read_back_from_the_file_to_the_nanosecond() {
        let mut load = crate::distributed::tests::load();
        for (d, t) in [
            (
                Some(Duration::from_millis(10_500)),
                Duration::from_micros(12_345),
            ),
            (
                Some(Duration::new(2_591_999, 999_999_999)),
                Duration::from_nanos(10_000_001),
            ),
            (None, Duration::from_secs(3600)),
        ] {
            load.duration = d;
            load.timeout = t;
            let text = serde_json::to_string(&load).unwrap();
            let back: Load = serde_json::from_str(&text).unwrap();
            assert_eq!(back, load, "{text}");
        }
        // Whole milliseconds stay integers, as plan files always had them.
        load.duration = Some(Duration::from_secs(10));
        let text = serde_json::to_string(&load).unwrap();
        assert!(text.contains("\"duration_ms\":10000,"), "{text}");
    }
}
