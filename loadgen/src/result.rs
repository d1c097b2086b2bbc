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
    /// One line: did the generator keep its schedule, and if not, why.
    pub verdict: String,
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
    /// counted over `secs` (the measured interval), and the schedule audit.
    pub fn new(asked: &AskedRate, secs: f64, counters: &Counters, pace: &PaceTotals) -> Self {
        let (lag, uncorrected) = (&pace.lag, &pace.uncorrected);
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
        let errors = counters.request_errors() + counters.errors.connect;
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
            verdict,
        }
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
