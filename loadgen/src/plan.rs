//! The validated, immutable description of a run: everything the hot path needs is
//! decided here, before any worker starts. [`build`] makes one from parsed
//! arguments (the side effects: names, limits, probes, output files); [`Load`] is
//! the serialisable half a plan file carries.

pub mod build;
pub mod header;
pub mod limits;

pub use crate::load::{Arrivals, Load, PipelineMode};
pub use build::{build, command_line, read_inputs, BuildError, Machine, Mode, Outputs};
pub use header::{check_headers, parse_header, HeaderError};

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
    /// Per-request work: a Lua script's hooks, or a requests file's (None: the
    /// targets as formatted).
    pub dynamic: Option<std::sync::Arc<dyn crate::hooks::MakeHooks>>,
    /// `https://`: the client configuration every connection's TLS layer uses
    /// (None: plain HTTP).
    pub tls: Option<std::sync::Arc<crate::tls::TlsClient>>,
    /// `https://`: what the preflight handshake to `addr` negotiated, and how
    /// long it took (connect included); None for plain HTTP, a plan only
    /// described, or when nothing accepted the preflight's connection.
    pub handshake: Option<(crate::tls::Negotiated, Duration)>,
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
}
