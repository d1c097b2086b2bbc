//! The one result model. Every renderer reads only this; it is written to JSON and
//! can be read back (the histogram travels as HdrHistogram V2+DEFLATE, base64), so
//! runs can be merged and compared later.

use crate::meta::Meta;
use crate::plan::{Arrivals, Pacing, PipelineMode, Plan};
use serde::{Deserialize, Serialize};
use shared::stats::codec::encode_base64;
use shared::stats::{Counters, Histogram};
use std::net::IpAddr;
use std::time::Duration;

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
    pub requests_per_sec: f64,
    pub bytes_read_per_sec: f64,
    /// The same rate in gigabits per second (10^9 bit/s), as links are rated.
    #[serde(default)]
    pub gbit_read_per_sec: f64,
    pub latency: Latency,
    /// Requests/sec of each worker thread, sampled every 100 ms (wrk's Req/Sec row).
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
    pub nodes: Vec<crate::distributed::node::NodeSummary>,
    /// A merge that lacks nodes or parts of them (`ceiling merge --allow-partial`).
    #[serde(default)]
    pub partial: bool,
    /// What the merge found doubtful (start skew, unsynchronized clocks, nodes
    /// below their rate, overloaded generators).
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// User and system CPU of the generator process over the run.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct GeneratorCpu {
    pub user_s: f64,
    pub sys_s: f64,
    /// (user + sys) per request sent, in microseconds.
    pub us_per_request: f64,
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
    pub requests_per_sec: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    /// This second's latency histogram: V2+DEFLATE, base64.
    pub histogram: String,
}

impl TimePoint {
    pub fn new(second: usize, length_s: f64, completed: u64, errors: u64, h: &Histogram) -> Self {
        let q = |p: f64| {
            if h.is_empty() {
                0
            } else {
                h.value_at_percentile(p)
            }
        };
        Self {
            second,
            length_s,
            completed,
            errors,
            requests_per_sec: if length_s > 0.0 {
                completed as f64 / length_s
            } else {
                0.0
            },
            p50_us: q(50.0),
            p90_us: q(90.0),
            p99_us: q(99.0),
            p999_us: q(99.9),
            max_us: if h.is_empty() { 0 } else { h.max() },
            histogram: encode_base64(h),
        }
    }
}

impl RateReport {
    /// Builds the report and its verdict. `sent`, `completed`, `errors` over `secs`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        pacing: &Pacing,
        secs: f64,
        counters: &Counters,
        lag: &Histogram,
        uncorrected: &Histogram,
        late_busy: u64,
        late_generator: u64,
        behind: u64,
    ) -> Self {
        let per_sec = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        let sent_per_sec = per_sec(counters.sent);
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
                pacing.rate
            )
        } else if late > 0 {
            format!(
                "kept its schedule ({achieved_pct:.1}% of the scheduled requests sent); {late} sends were more than 1 ms late ({late_busy} waited for a busy connection) and count from their intended time"
            )
        } else {
            format!("kept its schedule ({achieved_pct:.1}% of the scheduled requests sent, no late sends)")
        };
        Self {
            asked: pacing.rate,
            arrivals: pacing.arrivals,
            seed: pacing.seed,
            sent_per_sec,
            completed_per_sec: per_sec(counters.completed),
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
}

/// Latency of completed requests, in microseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Latency {
    pub unit: String,
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

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Percentile {
    pub percentile: f64,
    pub value_us: u64,
}

/// Mean, standard deviation, maximum and share within one deviation of a sample set.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Spread {
    pub mean: f64,
    pub stdev: f64,
    pub max: f64,
    pub within_stdev_pct: f64,
}

impl Spread {
    pub fn of(samples: &[f64]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        let n = samples.len() as f64;
        let mean = samples.iter().sum::<f64>() / n;
        let var = if samples.len() > 1 {
            samples.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (n - 1.0)
        } else {
            0.0
        };
        let stdev = var.sqrt();
        let within = samples
            .iter()
            .filter(|&&s| (s - mean).abs() <= stdev)
            .count() as f64;
        Self {
            mean,
            stdev,
            max: samples.iter().copied().fold(0.0, f64::max),
            within_stdev_pct: 100.0 * within / n,
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
    /// 99.99, 99.999, 100).
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
            min: if empty { 0 } else { h.min() },
            mean,
            stdev,
            max: if empty { 0 } else { h.max() },
            within_stdev_pct: if empty {
                0.0
            } else {
                100.0 * within as f64 / h.len() as f64
            },
            percentiles: PERCENTILES
                .iter()
                .map(|&p| Percentile {
                    percentile: p,
                    value_us: if empty { 0 } else { h.value_at_percentile(p) },
                })
                .collect(),
            histogram: encode_base64(h),
        }
    }
}

impl RunResult {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        plan: &Plan,
        meta: Meta,
        duration: Duration,
        counters: Counters,
        first_invalid: Option<String>,
        histogram: Histogram,
        threads: Vec<ThreadResult>,
        samples: &[f64],
        generator_cpu: GeneratorCpu,
        rate: Option<RateReport>,
        timeseries: Vec<TimePoint>,
        interrupted: bool,
    ) -> Self {
        let secs = duration.as_secs_f64();
        let per_sec = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        Self {
            schema: SCHEMA.into(),
            meta,
            config: Config {
                url: plan.targets[0].url.clone(),
                urls: plan.targets.iter().map(|t| t.url.clone()).collect(),
                method: plan.method.clone(),
                threads: plan.threads(),
                connections: plan.connections,
                duration_s: plan.duration.map(|d| d.as_secs_f64()),
                requests: plan.requests,
                pipeline: plan.pipeline,
                pipeline_mode: plan.pipeline_mode,
                source_ips: plan.source_ips.clone(),
                timeout_ms: plan.timeout.as_millis() as u64,
            },
            duration_s: secs,
            counters,
            first_invalid,
            requests_per_sec: per_sec(counters.completed),
            bytes_read_per_sec: per_sec(counters.bytes_read),
            gbit_read_per_sec: per_sec(counters.bytes_read) * 8.0 / 1e9,
            latency: Latency::of(&histogram),
            req_per_sec: Spread::of(samples),
            threads,
            generator_cpu,
            rate,
            timeseries,
            interrupted,
            nodes: Vec::new(),
            partial: false,
            warnings: Vec::new(),
        }
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
        assert_eq!((s.mean, s.stdev, s.max), (10.0, 0.0, 10.0));
        assert_eq!(s.within_stdev_pct, 100.0);
        let s = Spread::of(&[0.0, 10.0]);
        assert_eq!(s.mean, 5.0);
        assert!((s.stdev - 7.0710678).abs() < 1e-6);
        assert_eq!(Spread::of(&[]).mean, 0.0);
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
    fn empty_latency_is_zeros() {
        let l = Latency::of(&new_histogram());
        assert_eq!((l.min, l.max, l.mean), (0, 0, 0.0));
    }
}
