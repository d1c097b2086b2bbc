//! The one result model. Every renderer reads only this; it is written to JSON and
//! can be read back (the histogram travels as HdrHistogram V2+DEFLATE, base64), so
//! runs can be merged and compared later.

use crate::load::{Arrivals, PipelineMode};
use crate::meta::Meta;
use serde::{Deserialize, Serialize};
use shared::stats::codec::{decode_base64, encode_base64};
use shared::stats::{Counters, Histogram};
use std::net::{IpAddr, SocketAddr};

/// Schema tag of the JSON result; bumped on any incompatible change.
pub const SCHEMA: &str = "ceiling.run/1";

/// Percentiles in the report (wrk's four, and the tail wrk does not show).
pub const PERCENTILES: [f64; 8] = [50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 99.999, 100.0];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    pub schema: String,
    pub meta: Meta,
    pub config: Config,
    /// Seconds from the start to the stop (the measured interval).
    pub duration_s: f64,
    pub counters: Counters,
    /// The first invalid response seen, described, for the report.
    pub first_invalid: Option<String>,
    /// Completed responses per second over `duration_s` (0 when nothing ran).
    pub requests_per_sec: f64,
    /// Completed responses with a 2xx or 3xx status per second over `duration_s`.
    #[serde(default)]
    pub successful_per_sec: f64,
    /// Bytes read per second over `duration_s`.
    pub bytes_read_per_sec: f64,
    /// The same rate in gigabits per second (10^9 bit/s), as links are rated.
    #[serde(default)]
    pub gbit_read_per_sec: f64,
    pub latency: Latency,
    /// Requests/sec of each worker thread, sampled every 100 ms (wrk's Req/Sec row);
    /// a thread that ran less than one sample counts its own rate over what it ran.
    pub req_per_sec: Spread,
    pub threads: Vec<ThreadResult>,
    /// The generator's own CPU use over the run.
    pub generator_cpu: GeneratorCpu,
    /// Under -R: the asked and achieved rates, the schedule audit and the
    /// uncorrected latency; null for closed-loop runs.
    pub rate: Option<RateReport>,
    /// One point per second of the run (the last may be partial).
    pub timeseries: Vec<TimePoint>,
    /// Ended early by Ctrl-C: the numbers cover what ran.
    pub interrupted: bool,
    /// A merge of several nodes: what each contributed (empty for one machine).
    #[serde(default)]
    pub nodes: Vec<NodeSummary>,
    /// A merge that lacks nodes or parts of them (`ceiling merge --allow-partial`).
    #[serde(default)]
    pub partial: bool,
    /// What the run or merge found doubtful, one line each: most responses not
    /// 2xx/3xx, start skew, unsynchronized clocks, nodes below their rate,
    /// overloaded generators.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// `https://` runs: what the handshakes agreed on, their count and time,
    /// and the TLS failures by cause; null for plain HTTP.
    #[serde(default)]
    pub tls: Option<TlsReport>,
}

/// At most this many distinct TLS failure causes are kept per worker; more
/// are counted under [`TLS_OTHER`].
pub const TLS_CAUSES: usize = 16;
/// The cause that failures beyond [`TLS_CAUSES`] distinct ones are counted under.
pub const TLS_OTHER: &str = "other";

/// The TLS side of a run, summed over workers and nodes.
#[derive(Debug, Clone)]
pub struct TlsTotals {
    /// Each completed handshake's time, µs: from the ClientHello handed to
    /// the socket (right after the TCP connection opens; at T0 for a
    /// distributed node's connections opened before it) to the handshake's end.
    pub handshake: Histogram,
    /// Completed handshakes that were full (a certificate exchanged).
    pub full: u64,
    /// Completed handshakes that resumed a session (a ticket or session id).
    pub resumed: u64,
    /// TLS failures by cause (an alert, a refused certificate, a handshake
    /// with no answer within --timeout, a close without close_notify), at
    /// most [`TLS_CAUSES`] causes and [`TLS_OTHER`].
    pub failures: std::collections::BTreeMap<String, u64>,
    /// What the first completed handshake agreed on.
    pub negotiated: Option<crate::tls::Negotiated>,
}

impl TlsTotals {
    pub fn new() -> Self {
        Self {
            handshake: shared::stats::new_histogram(),
            full: 0,
            resumed: 0,
            failures: Default::default(),
            negotiated: None,
        }
    }

    /// Counts one failure of `cause`, keeping at most [`TLS_CAUSES`] causes.
    pub fn fail(&mut self, cause: &str, n: u64) {
        let key = if self.failures.contains_key(cause) || self.failures.len() < TLS_CAUSES {
            cause
        } else {
            TLS_OTHER
        };
        *self.failures.entry(key.to_string()).or_default() += n;
    }

    /// Adds another worker's or node's totals (one histogram layout: exact).
    pub fn add(&mut self, o: &TlsTotals) {
        self.handshake
            .add(&o.handshake)
            .expect("one histogram layout");
        self.full += o.full;
        self.resumed += o.resumed;
        for (cause, n) in &o.failures {
            self.fail(cause, *n);
        }
        if self.negotiated.is_none() {
            self.negotiated.clone_from(&o.negotiated);
        }
    }
}

impl Default for TlsTotals {
    fn default() -> Self {
        Self::new()
    }
}

/// The TLS figures of an `https://` run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TlsReport {
    /// What the first completed handshake agreed on: version, cipher suite,
    /// ALPN, resumed (null when none completed).
    pub negotiated: Option<crate::tls::Negotiated>,
    /// `--tls-resume`: whether reconnects offered a session to resume.
    pub resume: bool,
    /// Completed handshakes, full and resumed.
    pub handshakes: u64,
    pub resumed: u64,
    /// Completed handshakes per second over the measured interval.
    pub handshakes_per_sec: f64,
    /// Handshake time (µs), from the ClientHello handed to the socket to the handshake's end.
    pub handshake_latency: Latency,
    /// TLS failures by cause (handshakes and later together); their counts by
    /// class are `counters.errors.tls_handshake` and `counters.errors.tls`.
    pub failures: std::collections::BTreeMap<String, u64>,
}

impl TlsReport {
    /// The report of `t` over `secs` seconds, with the `--tls-resume` setting.
    pub fn new(t: &TlsTotals, secs: f64, resume: bool) -> Self {
        let handshakes = t.full + t.resumed;
        Self {
            negotiated: t.negotiated.clone(),
            resume,
            handshakes,
            resumed: t.resumed,
            handshakes_per_sec: per_sec(handshakes, secs),
            handshake_latency: Latency::of(&t.handshake),
            failures: t.failures.clone(),
        }
    }
}

/// What one node contributed, in a merged result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeSummary {
    pub index: usize,
    pub hostname: String,
    pub sent: u64,
    pub completed: u64,
    /// Request and connect errors.
    pub errors: u64,
    /// Completed per second over the node's own measured interval.
    pub requests_per_sec: f64,
    /// Under -R: sent / scheduled, percent.
    pub achieved_pct: Option<f64>,
    /// How far past T0 the node was launched, ms.
    pub late_ms: f64,
    /// The node's clock status ("synchronized", "unsynchronized", "unknown").
    pub clock: String,
    pub generator_us_per_request: f64,
    /// False: the file ended before its footer.
    pub complete: bool,
}

/// User and system CPU of the generator process over the run.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct GeneratorCpu {
    pub user_s: f64,
    pub sys_s: f64,
    /// (user + sys) per request sent, in microseconds (0 when none was sent).
    pub us_per_request: f64,
}

impl GeneratorCpu {
    /// `user_s` and `sys_s` CPU seconds spent on `sent` requests.
    pub fn new(user_s: f64, sys_s: f64, sent: u64) -> Self {
        Self {
            user_s,
            sys_s,
            us_per_request: if sent > 0 {
                (user_s + sys_s) * 1e6 / sent as f64
            } else {
                0.0
            },
        }
    }
}

/// The schedule audit of a paced run, summed over workers and nodes.
#[derive(Debug, Clone)]
pub struct PaceTotals {
    /// Actual minus intended send time of every paced request, µs.
    pub lag: Histogram,
    /// Latency from the actual send, µs.
    pub uncorrected: Histogram,
    /// Sends more than 1 ms late whose connection was busy (or connecting).
    pub late_busy: u64,
    /// Sends more than 1 ms late although their connection was free.
    pub late_generator: u64,
    /// Requests due before the stop that were never sent.
    pub behind: u64,
}

impl PaceTotals {
    pub fn new() -> Self {
        Self {
            lag: shared::stats::new_histogram(),
            uncorrected: shared::stats::new_histogram(),
            late_busy: 0,
            late_generator: 0,
            behind: 0,
        }
    }

    /// Adds another worker's or node's audit (one histogram layout: exact).
    pub fn add(&mut self, o: &PaceTotals) {
        self.lag.add(&o.lag).expect("one histogram layout");
        self.uncorrected
            .add(&o.uncorrected)
            .expect("one histogram layout");
        self.late_busy += o.late_busy;
        self.late_generator += o.late_generator;
        self.behind += o.behind;
    }

    /// Sent / scheduled in percent, None when nothing was scheduled.
    pub fn achieved_pct(&self, sent: u64) -> Option<f64> {
        let scheduled = sent + self.behind;
        (scheduled > 0).then(|| 100.0 * sent as f64 / scheduled as f64)
    }
}

impl Default for PaceTotals {
    fn default() -> Self {
        Self::new()
    }
}

/// Open-loop (-R) figures and the self-audit of the schedule.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RateReport {
    /// Requests per second asked for.
    pub asked: f64,
    pub arrivals: Arrivals,
    pub seed: u64,
    /// Requests sent per second over the measured interval.
    pub sent_per_sec: f64,
    /// Responses completed per second over the measured interval.
    pub completed_per_sec: f64,
    /// Requests whose intended time fell before the stop.
    pub scheduled: u64,
    /// ... of which never sent: the schedule was this far behind at the stop.
    pub behind_at_stop: u64,
    /// Sent / scheduled, in percent (with Poisson arrivals the schedule itself
    /// varies around the asked rate).
    pub achieved_pct: f64,
    /// Sends later than 1 ms after their intended time.
    pub sends_late: u64,
    /// ... because their connection was busy (or connecting) when they fell due.
    pub sends_late_busy: u64,
    /// ... although their connection was free: the generator was behind.
    pub sends_late_generator: u64,
    /// Schedule lag: actual minus intended send time (µs).
    pub lag: Latency,
    /// Latency from the actual send, as a closed-loop tool measures it (µs).
    pub uncorrected_latency: Latency,
    /// The largest share of the corrected latency that the generator's own
    /// schedule lag makes up, over p50, p90 and p99 ([`LagShare::worst`]); null
    /// when nothing completed (and in results written before it existed).
    #[serde(default)]
    pub lag_share: Option<LagShare>,
    /// One line: did the generator keep its schedule, and if not, why.
    pub verdict: String,
}

/// At or above this share of the corrected latency (at one of
/// [`LAG_COMPARED_AT`]), the generator's own schedule lag is a sizeable part of
/// what the run measured: the verdict names it instead of "kept its schedule",
/// and the run carries a warning. 0.25: a quarter of the figure is the
/// generator's wake-up, not the server (docs/loadgen.md, "Constant rate").
pub const LAG_SIZEABLE_SHARE: f64 = 0.25;

/// The percentiles at which the lag is compared with the corrected latency.
pub const LAG_COMPARED_AT: [f64; 3] = [50.0, 90.0, 99.0];

/// The generator's schedule lag against the corrected latency at one percentile.
///
/// The corrected latency of a request is its lag plus its latency from the
/// actual send, so at any percentile the lag is at most the corrected latency
/// (up to the histograms' 3-digit precision, and the lag also counts sends that
/// never completed): `share` is read as "this much of the figure is the
/// generator's own delay", 0 to 1 (capped at 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LagShare {
    /// 50, 90 or 99.
    pub percentile: f64,
    /// Schedule lag at that percentile, µs.
    pub lag_us: u64,
    /// Corrected latency at that percentile, µs.
    pub corrected_us: u64,
    /// `lag_us / corrected_us`, 0 to 1.
    pub share: f64,
}

impl LagShare {
    /// The comparison at `percentile`; None when `corrected_us` is 0.
    pub fn at(percentile: f64, lag_us: u64, corrected_us: u64) -> Option<Self> {
        (corrected_us > 0).then(|| Self {
            percentile,
            lag_us,
            corrected_us,
            share: (lag_us as f64 / corrected_us as f64).min(1.0),
        })
    }

    /// The largest share over [`LAG_COMPARED_AT`] of `lag` against `corrected`
    /// (the first of equal shares); None when either histogram is empty.
    pub fn worst(lag: &Histogram, corrected: &Histogram) -> Option<Self> {
        if lag.is_empty() || corrected.is_empty() {
            return None;
        }
        LAG_COMPARED_AT
            .iter()
            .filter_map(|&p| {
                Self::at(
                    p,
                    lag.value_at_percentile(p),
                    corrected.value_at_percentile(p),
                )
            })
            .fold(None, |best: Option<Self>, s| match best {
                Some(b) if b.share >= s.share => Some(b),
                _ => Some(s),
            })
    }

    /// At or above [`LAG_SIZEABLE_SHARE`].
    pub fn sizeable(&self) -> bool {
        self.share >= LAG_SIZEABLE_SHARE
    }

    /// "lag p90 533us of the corrected p90 658us (81%)".
    pub fn describe(&self) -> String {
        format!(
            "lag p{} {} of the corrected p{} {} ({:.0}%)",
            self.percentile,
            short_us(self.lag_us),
            self.percentile,
            short_us(self.corrected_us),
            100.0 * self.share
        )
    }
}

/// Whether the schedule lag is the generator's own: false when most of the
/// sends more than 1 ms late waited for a busy connection (then the lag is the
/// server's backpressure, which the corrected latency rightly counts).
pub fn lag_is_generators(late_busy: u64, late_generator: u64) -> bool {
    late_busy <= late_generator
}

/// µs as the verdicts write them: "533us", "1.20ms", "2.50s" (the result model
/// stands alone, so not the text report's formatter).
fn short_us(v: u64) -> String {
    match v {
        0..=999 => format!("{v}us"),
        1_000..=999_999 => format!("{:.2}ms", v as f64 / 1e3),
        _ => format!("{:.2}s", v as f64 / 1e6),
    }
}

/// One second of the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TimePoint {
    /// 0-based second since the start.
    pub second: usize,
    /// Length of this interval in seconds (1, or less for the last one).
    pub length_s: f64,
    pub completed: u64,
    pub errors: u64,
    /// `completed / length_s`: the last, partial second over its own length.
    pub requests_per_sec: f64,
    /// Latency percentiles of this second's completions, µs; null in a second
    /// that completed nothing.
    pub p50_us: Option<u64>,
    pub p90_us: Option<u64>,
    pub p99_us: Option<u64>,
    pub p999_us: Option<u64>,
    pub max_us: Option<u64>,
    /// This second's latency histogram: V2+DEFLATE, base64.
    pub histogram: String,
}

impl TimePoint {
    pub fn new(second: usize, length_s: f64, completed: u64, errors: u64, h: &Histogram) -> Self {
        let q = |p: f64| (!h.is_empty()).then(|| h.value_at_percentile(p));
        Self {
            second,
            length_s,
            completed,
            errors,
            requests_per_sec: per_sec(completed, length_s),
            p50_us: q(50.0),
            p90_us: q(90.0),
            p99_us: q(99.0),
            p999_us: q(99.9),
            max_us: (!h.is_empty()).then(|| h.max()),
            histogram: encode_base64(h),
        }
    }
}

impl RateReport {
    /// Builds the report and its verdict: the rate `asked`, what `counters`
    /// counted over `secs` (the measured interval), the schedule audit, and the
    /// run's `corrected` latency (µs), against which the lag is weighed.
    pub fn new(
        asked: &AskedRate,
        secs: f64,
        counters: &Counters,
        pace: &PaceTotals,
        corrected: &Histogram,
    ) -> Self {
        let (lag, uncorrected) = (&pace.lag, &pace.uncorrected);
        let lag_share = LagShare::worst(lag, corrected);
        // Sends that waited for a busy connection are the server's backpressure,
        // rightly in the corrected latency: the lag is the generator's only while
        // they are not most of the late sends.
        let sizeable = lag_share
            .filter(LagShare::sizeable)
            .filter(|_| lag_is_generators(pace.late_busy, pace.late_generator));
        let (late_busy, late_generator, behind) =
            (pace.late_busy, pace.late_generator, pace.behind);
        let sent_per_sec = per_sec(counters.sent, secs);
        let scheduled = counters.sent + behind;
        let achieved_pct = if scheduled > 0 {
            100.0 * counters.sent as f64 / scheduled as f64
        } else {
            100.0
        };
        let late = late_busy + late_generator;
        let share = |n: u64| {
            if counters.sent > 0 {
                100.0 * n as f64 / counters.sent as f64
            } else {
                0.0
            }
        };
        let errors = counters.request_errors() + counters.errors.connection_errors();
        let verdict = if share(late_generator) > 1.0 {
            format!(
                "the generator was the bottleneck: {late_generator} sends ({:.1}%) were more than 1 ms late with a free connection, so latencies include its own queueing; use more threads or a lower rate",
                share(late_generator)
            )
        } else if achieved_pct < 99.0 {
            let why = if share(late_busy) > 1.0 {
                format!(
                    "all connections were busy ({late_busy} sends waited for one): add connections (-c) or pipelining (-p), or the server cannot keep up"
                )
            } else if errors > 0 {
                format!("{errors} errors interrupted the schedule")
            } else {
                "the schedule had not caught up when the run ended".to_string()
            };
            format!(
                "could not keep the asked rate: {behind} of {scheduled} scheduled requests were never sent ({achieved_pct:.1}% sent; asked {:.2}/s, sent {sent_per_sec:.2}/s): {why}",
                asked.requests_per_sec
            )
        } else if let Some(l) = sizeable {
            let late = if late > 0 {
                format!("; {late} sends were more than 1 ms late ({late_busy} waited for a busy connection)")
            } else {
                String::new()
            };
            format!(
                "sent its schedule ({achieved_pct:.1}% of the scheduled requests sent), but its own lag is a sizeable share of the measured latency ({}): the latencies measure the generator's wake-ups as well as the server{late}",
                l.describe()
            )
        } else if late > 0 {
            format!(
                "kept its schedule ({achieved_pct:.1}% of the scheduled requests sent); {late} sends were more than 1 ms late ({late_busy} waited for a busy connection) and count from their intended time"
            )
        } else {
            format!("kept its schedule ({achieved_pct:.1}% of the scheduled requests sent, no late sends)")
        };
        Self {
            asked: asked.requests_per_sec,
            arrivals: asked.arrivals,
            seed: asked.seed,
            sent_per_sec,
            completed_per_sec: per_sec(counters.completed, secs),
            scheduled,
            behind_at_stop: behind,
            achieved_pct,
            sends_late: late,
            sends_late_busy: late_busy,
            sends_late_generator: late_generator,
            lag: Latency::of(lag),
            uncorrected_latency: Latency::of(uncorrected),
            lag_share,
            verdict,
        }
    }

    /// [`lag_is_generators`] of this run's late sends.
    pub fn lag_is_generators(&self) -> bool {
        lag_is_generators(self.sends_late_busy, self.sends_late_generator)
    }

    /// The warning a run carries when the generator's own lag is a sizeable
    /// share of its corrected latency ([`LAG_SIZEABLE_SHARE`]); None otherwise.
    pub fn lag_warning(&self) -> Option<String> {
        let l = self
            .lag_share
            .filter(LagShare::sizeable)
            .filter(|_| self.lag_is_generators())?;
        Some(format!(
            "the generator's own schedule lag is a sizeable share of the measured latency: {} (uncorrected p{} {}); the corrected latencies are partly the generator's wake-ups: use fewer requests per thread (more -t), a quieter generator machine, or read them as an upper bound",
            l.describe(),
            l.percentile,
            short_us(self.uncorrected_latency.at(l.percentile))
        ))
    }
}

/// The run's configuration as it ran.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    pub url: String,
    pub urls: Vec<String>,
    pub method: String,
    pub threads: usize,
    pub connections: usize,
    pub duration_s: Option<f64>,
    pub requests: Option<u64>,
    pub pipeline: usize,
    /// How -p kept requests in flight: refill or batch.
    #[serde(default)]
    pub pipeline_mode: PipelineMode,
    /// Local addresses the connections were bound to, round-robin (`--source-ips`);
    /// empty when the kernel chose.
    #[serde(default)]
    pub source_ips: Vec<IpAddr>,
    pub timeout_ms: u64,
    /// The address the connections went to: the first resolved address that
    /// accepted. None in a merge of nodes (each resolved its own) and in older results.
    #[serde(default)]
    pub addr: Option<SocketAddr>,
    /// Under -R: the rate asked for, all connections together; None: closed loop.
    #[serde(default)]
    pub rate: Option<AskedRate>,
    /// `--latency`: the text report prints the latency distribution.
    #[serde(default)]
    pub latency: bool,
    /// `--u_latency`: the text report of a rate run also prints the uncorrected one.
    #[serde(default)]
    pub u_latency: bool,
    /// `-s`: the script's file name (never its text or arguments); None: no script.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    /// `--requests-file`: its file name (never its requests); None: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_file: Option<String>,
    /// `https://`: the certificate flags (`insecure`, the `cacert`, `cert`
    /// and `key` paths, never their contents, and `resume`); absent for
    /// plain HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<crate::tls::ClientTlsOptions>,
}

/// The open-loop rate a run asked for (`-R`, `--arrivals`, `--seed`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AskedRate {
    pub requests_per_sec: f64,
    pub arrivals: Arrivals,
    pub seed: u64,
}

/// Latency of completed requests, in microseconds. With no completion at all
/// (`count` 0) nothing was measured: the JSON has `null` for every figure and no
/// percentiles, the text `n/a`; in memory the figures are 0.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(into = "LatencyJson", try_from = "LatencyJson")]
pub struct Latency {
    pub unit: String,
    /// Values recorded (completions, or paced sends for `rate.lag`).
    pub count: u64,
    pub min: u64,
    pub mean: f64,
    pub stdev: f64,
    pub max: u64,
    /// Share of requests within one standard deviation of the mean, in percent.
    pub within_stdev_pct: f64,
    pub percentiles: Vec<Percentile>,
    /// The merged histogram: HdrHistogram V2+DEFLATE, base64.
    pub histogram: String,
}

/// [`Latency`] as written: its figures are `null` when nothing was recorded.
#[derive(Serialize, Deserialize)]
struct LatencyJson {
    unit: String,
    /// Absent in results written before it existed: read from the histogram.
    #[serde(default)]
    count: Option<u64>,
    min: Option<u64>,
    mean: Option<f64>,
    stdev: Option<f64>,
    max: Option<u64>,
    within_stdev_pct: Option<f64>,
    percentiles: Vec<Percentile>,
    histogram: String,
}

impl From<Latency> for LatencyJson {
    fn from(l: Latency) -> Self {
        let measured = l.count > 0;
        let some = |v| measured.then_some(v);
        Self {
            unit: l.unit,
            count: Some(l.count),
            min: some(l.min as f64).map(|v| v as u64),
            mean: some(l.mean),
            stdev: some(l.stdev),
            max: some(l.max as f64).map(|v| v as u64),
            within_stdev_pct: some(l.within_stdev_pct),
            percentiles: l.percentiles,
            histogram: l.histogram,
        }
    }
}

impl TryFrom<LatencyJson> for Latency {
    type Error = String;

    fn try_from(j: LatencyJson) -> Result<Self, String> {
        let count = match j.count {
            Some(c) => c,
            None => decode_base64(&j.histogram)
                .map_err(|e| format!("latency histogram: {e}"))?
                .len(),
        };
        Ok(Self {
            unit: j.unit,
            count,
            min: j.min.unwrap_or(0),
            mean: j.mean.unwrap_or(0.0),
            stdev: j.stdev.unwrap_or(0.0),
            max: j.max.unwrap_or(0),
            within_stdev_pct: j.within_stdev_pct.unwrap_or(0.0),
            percentiles: j.percentiles,
            histogram: j.histogram,
        })
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Percentile {
    pub percentile: f64,
    pub value_us: u64,
}

/// Mean, standard deviation, maximum and share within one deviation of a sample
/// set. `None` is not measured: no sample at all, or (for the deviation and the
/// share within it) a single sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub mean: Option<f64>,
    pub stdev: Option<f64>,
    pub max: Option<f64>,
    pub within_stdev_pct: Option<f64>,
}

impl Spread {
    /// The spread of `samples` (sample standard deviation, n - 1).
    pub fn of(samples: &[f64]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        let n = samples.len() as f64;
        let mean = samples.iter().sum::<f64>() / n;
        let max = samples.iter().copied().fold(f64::MIN, f64::max);
        if samples.len() < 2 {
            return Self {
                mean: Some(mean),
                stdev: None,
                max: Some(max),
                within_stdev_pct: None,
            };
        }
        let stdev = (samples.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        let within = samples
            .iter()
            .filter(|&&s| (s - mean).abs() <= stdev)
            .count() as f64;
        Self {
            mean: Some(mean),
            stdev: Some(stdev),
            max: Some(max),
            within_stdev_pct: Some(100.0 * within / n),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThreadResult {
    pub cpu: Option<usize>,
    pub requests: u64,
    pub req_per_sec: Spread,
}

impl ThreadResult {
    pub fn new(cpu: Option<usize>, requests: u64, samples: &[f64]) -> Self {
        Self {
            cpu,
            requests,
            req_per_sec: Spread::of(samples),
        }
    }
}

impl Latency {
    /// The value at `percentile` when the table has it (50, 75, 90, 99, 99.9,
    /// 99.99, 99.999, 100); None also when nothing was recorded.
    pub fn get(&self, percentile: f64) -> Option<u64> {
        self.percentiles
            .iter()
            .find(|p| p.percentile == percentile)
            .map(|p| p.value_us)
    }

    /// The value at one of the table's percentiles, 0 if absent.
    pub fn at(&self, percentile: f64) -> u64 {
        self.get(percentile).unwrap_or(0)
    }

    /// The summary of `h`; an empty histogram gives `count` 0 and no percentiles.
    pub fn of(h: &Histogram) -> Self {
        let empty = h.is_empty();
        let (mean, stdev) = if empty {
            (0.0, 0.0)
        } else {
            (h.mean(), h.stdev())
        };
        let (lo, hi) = (mean - stdev, mean + stdev);
        let within: u64 = h
            .iter_recorded()
            .filter(|v| {
                let x = v.value_iterated_to() as f64;
                x >= lo && x <= hi
            })
            .map(|v| v.count_at_value())
            .sum();
        Self {
            unit: "us".into(),
            count: h.len(),
            min: if empty { 0 } else { h.min() },
            mean,
            stdev,
            max: if empty { 0 } else { h.max() },
            within_stdev_pct: if empty {
                0.0
            } else {
                100.0 * within as f64 / h.len() as f64
            },
            percentiles: if empty {
                Vec::new()
            } else {
                PERCENTILES
                    .iter()
                    .map(|&p| Percentile {
                        percentile: p,
                        value_us: h.value_at_percentile(p),
                    })
                    .collect()
            },
            histogram: encode_base64(h),
        }
    }
}

/// `n` per second over `secs`; 0 over an interval of no length (nothing ran).
pub fn per_sec(n: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::stats::codec::decode_base64;
    use shared::stats::new_histogram;

    /// A histogram of `n` values, 90% at `low` and the rest at `high`: its p50
    /// and p90 are `low`, its p99 `high`.
    fn two_values(n: u64, low: u64, high: u64) -> Histogram {
        let mut h = new_histogram();
        h.record_n(low, n * 9 / 10).unwrap();
        h.record_n(high, n - n * 9 / 10).unwrap();
        h
    }

    /// A paced run of 10,000 requests over 2 s, all sent and completed, with
    /// `late_generator` sends more than 1 ms late.
    fn paced(
        lag: Histogram,
        uncorrected: Histogram,
        corrected: &Histogram,
        late_generator: u64,
    ) -> RateReport {
        let c = Counters {
            sent: 10_000,
            completed: 10_000,
            ..Counters::default()
        };
        let pace = PaceTotals {
            lag,
            uncorrected,
            late_busy: 0,
            late_generator,
            behind: 0,
        };
        let asked = AskedRate {
            requests_per_sec: 5000.0,
            arrivals: Arrivals::Constant,
            seed: 1,
        };
        RateReport::new(&asked, 2.0, &c, &pace, corrected)
    }

    #[test]
    fn a_sizeable_generator_lag_is_named_never_kept() {
        // Issue 12's run at 5,000 req/s against an idle server: corrected p90
        // 658 µs, uncorrected 142 µs, the generator's own lag p90 533 µs.
        let r = paced(
            two_values(10_000, 20, 533),
            two_values(10_000, 60, 142),
            &two_values(10_000, 90, 658),
            0,
        );
        let l = r.lag_share.unwrap();
        // p99 here (the 90% tail) is where the lag is the largest share.
        assert_eq!((l.percentile, l.lag_us, l.corrected_us), (99.0, 533, 658));
        assert!((l.share - 533.0 / 658.0).abs() < 1e-9);
        assert!(!r.verdict.contains("kept its schedule"), "{}", r.verdict);
        assert!(
            r.verdict.starts_with("sent its schedule (100.0% of the scheduled requests sent), but its own lag is a sizeable share of the measured latency (lag p99 533us of the corrected p99 658us (81%))"),
            "{}",
            r.verdict
        );
        let w = r.lag_warning().unwrap();
        assert!(
            w.starts_with("the generator's own schedule lag is a sizeable share of the measured latency: lag p99 533us of the corrected p99 658us (81%) (uncorrected p99 142us)"),
            "{w}"
        );
        // Late sends do not bring "kept" back.
        let r = paced(
            two_values(10_000, 20, 1_500),
            two_values(10_000, 60, 142),
            &two_values(10_000, 90, 1_700),
            5,
        );
        assert!(r.verdict.starts_with("sent its schedule"), "{}", r.verdict);
        assert!(
            r.verdict
                .ends_with("; 5 sends were more than 1 ms late (0 waited for a busy connection)"),
            "{}",
            r.verdict
        );
    }

    #[test]
    fn a_small_lag_keeps_the_schedule_and_the_boundary_is_a_quarter() {
        // Lag 10 µs of 100 µs everywhere: 10%.
        let r = paced(
            two_values(10_000, 10, 10),
            two_values(10_000, 90, 90),
            &two_values(10_000, 100, 100),
            0,
        );
        assert_eq!(r.lag_share.unwrap().share, 0.1);
        assert!(r.verdict.starts_with("kept its schedule"), "{}", r.verdict);
        assert_eq!(r.lag_warning(), None);
        // Just under a quarter at p50 (24 of 100), and exactly a quarter (25 of 100).
        for (lag, sizeable) in [(24, false), (25, true)] {
            let r = paced(
                two_values(10_000, lag, 1),
                two_values(10_000, 76, 99),
                &two_values(10_000, 100, 100),
                0,
            );
            let l = r.lag_share.unwrap();
            assert_eq!((l.percentile, l.lag_us), (50.0, lag));
            assert_eq!(l.sizeable(), sizeable);
            assert_eq!(r.verdict.starts_with("kept its schedule"), !sizeable);
            assert_eq!(r.lag_warning().is_some(), sizeable);
        }
    }

    #[test]
    fn a_lag_of_sends_waiting_for_busy_connections_is_the_servers() {
        // Lag 1.5 ms of 1.7 ms at p99, but the late sends mostly waited for a
        // busy connection: the server's backpressure, not the generator's lag.
        let mut pace = PaceTotals {
            lag: two_values(10_000, 20, 1_500),
            uncorrected: two_values(10_000, 60, 142),
            late_busy: 900,
            late_generator: 10,
            behind: 0,
        };
        let c = Counters {
            sent: 10_000,
            completed: 10_000,
            ..Counters::default()
        };
        let asked = AskedRate {
            requests_per_sec: 5000.0,
            arrivals: Arrivals::Constant,
            seed: 1,
        };
        let corrected = two_values(10_000, 90, 1_700);
        let r = RateReport::new(&asked, 2.0, &c, &pace, &corrected);
        assert!(r.lag_share.unwrap().sizeable());
        assert!(r.verdict.starts_with("kept its schedule"), "{}", r.verdict);
        assert_eq!(r.lag_warning(), None);
        // As many late for the generator as for busy connections: the generator's.
        pace.late_generator = 900;
        let r = RateReport::new(&asked, 2.0, &c, &pace, &corrected);
        assert!(r.lag_warning().is_some());
    }

    #[test]
    fn no_completion_has_no_lag_share() {
        let r = paced(
            two_values(10_000, 10, 10),
            new_histogram(),
            &new_histogram(),
            0,
        );
        assert_eq!(r.lag_share, None);
        assert_eq!(r.lag_warning(), None);
        assert_eq!(LagShare::at(99.0, 5, 0), None);
        // The share is capped at 1 (histogram precision, sends that never completed).
        assert_eq!(LagShare::at(99.0, 120, 100).unwrap().share, 1.0);
    }

    #[test]
    fn short_us_units() {
        assert_eq!(short_us(0), "0us");
        assert_eq!(short_us(999), "999us");
        assert_eq!(short_us(1_200), "1.20ms");
        assert_eq!(short_us(2_500_000), "2.50s");
    }

    #[test]
    fn spread_of_samples() {
        let s = Spread::of(&[10.0, 10.0, 10.0, 10.0]);
        assert_eq!(
            (s.mean, s.stdev, s.max),
            (Some(10.0), Some(0.0), Some(10.0))
        );
        assert_eq!(s.within_stdev_pct, Some(100.0));
        let s = Spread::of(&[0.0, 10.0]);
        assert_eq!(s.mean, Some(5.0));
        assert!((s.stdev.unwrap() - 7.0710678).abs() < 1e-6);
        // Nothing sampled is not a zero; one sample has no deviation.
        assert_eq!(Spread::of(&[]), Spread::default());
        assert_eq!(Spread::of(&[]).mean, None);
        let one = Spread::of(&[250.0]);
        assert_eq!((one.mean, one.max), (Some(250.0), Some(250.0)));
        assert_eq!((one.stdev, one.within_stdev_pct), (None, None));
    }

    #[test]
    fn latency_summary_round_trips_its_histogram() {
        let mut h = new_histogram();
        for v in 1..=1000u64 {
            h.record(v).unwrap();
        }
        let l = Latency::of(&h);
        assert_eq!(l.min, 1);
        assert_eq!(l.max, 1000);
        assert!((l.mean - 500.5).abs() < 1.0);
        assert!(l.within_stdev_pct > 50.0 && l.within_stdev_pct < 65.0);
        assert_eq!(l.percentiles[0].percentile, 50.0);
        assert!((495..=505).contains(&l.percentiles[0].value_us));
        assert_eq!(decode_base64(&l.histogram).unwrap().len(), 1000);
    }

    #[test]
    fn empty_latency_is_not_measured() {
        let l = Latency::of(&new_histogram());
        assert_eq!((l.count, l.min, l.max, l.mean), (0, 0, 0, 0.0));
        assert!(l.percentiles.is_empty());
        assert_eq!(l.get(99.0), None);
        let json = serde_json::to_value(&l).unwrap();
        for key in ["min", "mean", "stdev", "max", "within_stdev_pct"] {
            assert!(json[key].is_null(), "{key}: {}", json[key]);
        }
        assert_eq!(json["count"], 0);
        let back: Latency = serde_json::from_value(json).unwrap();
        assert_eq!(back.count, 0);
    }

    #[test]
    fn latency_reads_back_and_older_results_without_count() {
        let mut h = new_histogram();
        h.record(100).unwrap();
        h.record(300).unwrap();
        let l = Latency::of(&h);
        let mut json = serde_json::to_value(&l).unwrap();
        assert_eq!(json["min"], 100);
        json.as_object_mut().unwrap().remove("count");
        let back: Latency = serde_json::from_value(json).unwrap();
        assert_eq!((back.count, back.min, back.max), (2, 100, l.max));
    }
}
