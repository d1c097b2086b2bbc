//! One worker: its pinned thread's share of connections, its own counters and
//! histograms. Nothing here is shared with another worker.
//!
//! The worker's semantics live once, in [`core`]: a sans-IO state machine that is
//! handed bytes and the time and answers with decisions (write these bytes on
//! connection i, close it, reconnect after a pause, wake at T). Two drivers move
//! bytes and time between the kernel and the core and decide nothing themselves:
//! the direct io_uring loop (`crate::direct`) and the monoio tasks ([`monoio`]),
//! which also serve the epoll fallback.

pub(crate) mod core;
pub(crate) mod layer;
mod monoio;

use crate::plan::Plan;
use crate::progress::Board;
use shared::runtime::Stop;
use shared::stats::{Counters, Histogram};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a worker looks at its deadlines, the stop and the samples.
pub(crate) const TICK: Duration = Duration::from_millis(10);
/// Req/Sec sampling period (wrk samples per thread on the same scale).
pub(crate) const SAMPLE: Duration = Duration::from_millis(100);
/// First pause before reconnecting after a failed connect; doubles up to BACKOFF_MAX.
pub(crate) const BACKOFF_MIN: Duration = Duration::from_millis(10);
pub(crate) const BACKOFF_MAX: Duration = Duration::from_millis(200);
/// A paced send later than this after its intended time counts as late.
pub(crate) const LATE: Duration = Duration::from_millis(1);

/// One second of the run, for the time series and the interval log.
#[derive(Debug, Clone)]
pub struct SecondSample {
    /// Responses completed in this second.
    pub completed: u64,
    /// Request and connect errors in this second.
    pub errors: u64,
    /// Length of the interval (the last one may be partial).
    pub length: Duration,
    /// Corrected latency of this second's completions: V2+DEFLATE, base64 (kept
    /// compressed so an hour-long run stays small).
    pub histogram: String,
}

/// What the schedule audit found (paced runs).
#[derive(Debug, Clone)]
pub struct PaceAudit {
    /// Actual minus intended send time of every paced request, µs.
    pub lag: Histogram,
    /// Latency from the actual send (what closed-loop tools report).
    pub uncorrected: Histogram,
    /// Late sends whose connection was still busy (or connecting) when they fell due.
    pub late_busy: u64,
    /// Late sends whose connection was free: the generator itself was behind.
    pub late_generator: u64,
    /// Requests that fell due before the stop and were never sent.
    pub behind: u64,
}

/// What one worker measured.
#[derive(Debug)]
pub struct WorkerResult {
    pub cpu: Option<usize>,
    pub counters: Counters,
    pub histogram: Histogram,
    /// Requests/sec of this worker, sampled every 100 ms.
    pub samples: Vec<f64>,
    pub first_invalid: Option<String>,
    /// When this worker stopped sending (the end of its measured interval).
    pub stopped_at: Instant,
    pub seconds: Vec<SecondSample>,
    pub audit: Option<PaceAudit>,
    /// `https://`: handshakes, their time and the TLS failures.
    pub tls: Option<crate::result::TlsTotals>,
}

/// Runs worker `index` of `plan` on the current (pinned) monoio runtime: the
/// monoio driver around a new core.
pub async fn run(
    plan: Arc<Plan>,
    index: usize,
    cpu: Option<usize>,
    start: Instant,
    stop: Stop,
    board: Arc<Board>,
) -> WorkerResult {
    let core = core::Core::new(core::Setup::of(&plan, index), start, stop, monoio::EARLY);
    let core = layer::Layered::new(core, plan.tls.clone(), plan.timeout);
    monoio::run(plan, core, start, &board.workers[index], cpu).await
}
