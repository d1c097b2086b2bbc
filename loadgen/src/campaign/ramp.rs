//! `ceiling ramp URL --from 10 --to 60 --step 10`: one generator run per concurrency
//! level (or per rate level with `--rate-from/--rate-to`), a row per level with
//! throughput, errors, latency and, with `--server-pid`, the server's CPU and
//! memory, and the breaking point. `--rate-search --slo p99<50ms` instead searches
//! the highest rate that still meets the SLO and the error budget.

mod render;
mod slo;
mod verdict;

use super::sampler;
pub use super::sampler::ServerUsage;
pub use render::{render_csv, render_html, render_markdown, render_text};
pub use slo::Slo;
pub use verdict::{failures as verdict_failures, first_break, Limits, Observed, Search};

use super::{plan_for, run_load, Reach, Renderers, ReportFiles};
use crate::error::{CliError, Failed};
use crate::meta::Meta;
use crate::options::{self, ConnArgs, MachineArgs, RequestArgs, UsageError};
use crate::plan::{Load, Machine};
use crate::result::RunResult;
use clap::Parser;
use serde::{Deserialize, Serialize};
use shared::stats::Counters;
use std::ffi::OsString;
use std::io::IsTerminal;
use std::time::Duration;

/// Schema tag of the JSON report.
pub const SCHEMA: &str = "ceiling.ramp/1";

/// More steps than this is a typo, not a benchmark.
const MAX_STEPS: usize = 1000;
/// The highest rate level, requests/s (as -R).
const MAX_RATE_LEVEL: u64 = 1_000_000_000;

#[derive(Debug, Parser)]
#[command(
    name = "ceiling ramp",
    bin_name = "ceiling ramp",
    about = "One run per concurrency (or rate) level: throughput, errors, latency and the server's CPU and memory per level, and where it breaks",
    after_help = "Examples:\n  ceiling ramp http://127.0.0.1:8080/ --from 10 --to 60 --step 10 --step-duration 30s --server-pid 1234\n  ceiling ramp http://127.0.0.1:8080/ --rate-from 1000 --rate-to 5000 --rate-step 1000 -c 64\n  ceiling ramp http://127.0.0.1:8080/ --rate-search --slo 'p99<50ms' -c 64\n\nExit codes: 0 the ramp ran (a breaking point is a finding, not a failure); 1 it could not complete; 2 bad usage."
)]
pub(crate) struct Args {
    /// Target URL (http://[user:password@]host[:port][/path])
    url: String,
    /// First concurrency level (connections)
    #[arg(long, value_parser = options::count_value::<1, { options::MAX_CONNECTIONS }>, allow_hyphen_values = true)]
    from: Option<u64>,
    /// Last concurrency level (always run, even off the step)
    #[arg(long, value_parser = options::count_value::<1, { options::MAX_CONNECTIONS }>, allow_hyphen_values = true)]
    to: Option<u64>,
    /// Connections added per level
    #[arg(long, default_value_t = 10, value_parser = options::count_value::<1, { options::MAX_CONNECTIONS }>, allow_hyphen_values = true)]
    step: u64,
    /// First rate level in requests/s (a rate ramp; the start of --rate-search) [search default: 100]
    #[arg(long, value_parser = options::count_value::<1, MAX_RATE_LEVEL>, allow_hyphen_values = true)]
    rate_from: Option<u64>,
    /// Last rate level (the bound of --rate-search) [search default: 1000000]
    #[arg(long, value_parser = options::count_value::<1, MAX_RATE_LEVEL>, allow_hyphen_values = true)]
    rate_to: Option<u64>,
    /// Requests/s added per rate level [default: --rate-from]
    #[arg(long, value_parser = options::count_value::<1, MAX_RATE_LEVEL>, allow_hyphen_values = true)]
    rate_step: Option<u64>,
    /// Search the highest rate meeting --slo, --max-errors and the schedule: double, then bisect
    #[arg(long)]
    rate_search: bool,
    /// Bisection probes of --rate-search after the first failure, 0 to 64
    #[arg(long, default_value_t = 6, value_parser = options::usize_value::<0, 64>, allow_hyphen_values = true)]
    search_steps: usize,
    /// Length of each level's run (10ms to 30 days)
    #[arg(long, default_value = "10s", value_parser = options::run_length_value, allow_hyphen_values = true)]
    step_duration: Duration,
    /// Connections of a rate ramp or search (a concurrency ramp sets them per
    /// level) and generator threads
    #[command(flatten)]
    conn: ConnArgs,
    #[command(flatten)]
    request: RequestArgs,
    #[command(flatten)]
    machine: MachineArgs,
    /// Sample this server process's CPU and memory during each step (repeatable; summed)
    #[arg(long = "server-pid", value_name = "PID")]
    server_pids: Vec<i32>,
    /// Error budget in percent, 0 to 100: a level above it is a breaking point
    #[arg(long, default_value_t = 1.0, value_name = "PCT", value_parser = pct_value, allow_hyphen_values = true)]
    max_errors: f64,
    /// Latency objective, e.g. p99<50ms (p50, p90, p95, p99, p99.9; us, ms, s)
    #[arg(long)]
    slo: Option<String>,
    /// Stop at the breaking point instead of running every level
    #[arg(long)]
    stop_at_break: bool,
    /// No progress line and no table on stdout (the files are still written)
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    out: ReportFiles,
}

fn pct_value(t: &str) -> Result<f64, options::ValueError> {
    options::number(t, 0.0, 100.0)
}

/// What varies from step to step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Closed loop; the level is the connection count.
    Connections,
    /// `-R level` over fixed connections; latency corrected.
    Rate,
    /// `-R`, doubling then bisecting towards the highest rate meeting the limits.
    RateSearch,
}

impl Mode {
    /// "30 connections", "400 req/s".
    pub fn level(self, level: u64) -> String {
        match self {
            Mode::Connections if level == 1 => "1 connection".into(),
            Mode::Connections => format!("{level} connections"),
            Mode::Rate | Mode::RateSearch => format!("{level} req/s"),
        }
    }
}

/// The ramp as asked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RampConfig {
    /// The URL, its password masked.
    pub url: String,
    pub mode: Mode,
    /// The planned levels (a search's are found as it goes: empty).
    pub levels: Vec<u64>,
    pub step_duration: String,
    /// Fixed connections of a rate ramp or search.
    pub connections: Option<usize>,
    pub search_from: Option<u64>,
    pub search_to: Option<u64>,
    pub search_steps: Option<usize>,
    pub max_errors_pct: f64,
    pub slo: Option<Slo>,
    pub stop_at_break: bool,
    pub server_pids: Vec<i32>,
}

/// One level's row, with the run's full result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    /// 1-based.
    pub step: usize,
    /// Connections, or requests/s asked.
    pub level: u64,
    pub connections: usize,
    pub threads: usize,
    /// The exact generator command of this step.
    pub command: String,
    pub requests_per_sec: f64,
    /// Failed attempts: request errors (read, write, timeout, invalid) + connect
    /// errors + responses outside 2xx/3xx.
    pub errors: u64,
    /// 100 x errors / (requests sent + connect and TLS handshake errors).
    pub error_pct: f64,
    /// Latency of the step's completions, µs; None (JSON null, `n/a` in the
    /// tables) when nothing completed: no latency was measured, not 0.
    pub avg_us: Option<f64>,
    pub p50_us: Option<u64>,
    pub p95_us: Option<u64>,
    pub p99_us: Option<u64>,
    /// The latency at the SLO's percentile.
    pub slo_value_us: Option<u64>,
    /// Under -R: sent / scheduled, in percent.
    pub achieved_pct: Option<f64>,
    /// Under -R with --slo: the generator's own schedule lag at the SLO's percentile,
    /// µs; null when most late sends waited for a busy connection (then the lag is
    /// the server's backpressure).
    #[serde(default)]
    pub slo_lag_us: Option<u64>,
    /// The --server-pid processes during this step.
    pub server: Option<ServerUsage>,
    /// Which limits the step failed (errors, SLO, schedule); empty when it met them.
    pub failures: Vec<String>,
    pub result: RunResult,
}

impl Step {
    pub fn observed(&self) -> Observed {
        Observed {
            requests_per_sec: self.requests_per_sec,
            error_pct: self.error_pct,
            slo_value_us: self.slo_value_us,
            achieved_pct: self.achieved_pct,
            slo_lag_us: self.slo_lag_us,
        }
    }
}

/// The first level that broke.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BreakingPoint {
    /// 1-based step number.
    pub step: usize,
    pub level: u64,
    pub reasons: Vec<String>,
}

/// What `--rate-search` found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Capacity {
    /// The highest rate that met every limit (None: not even --rate-from did).
    pub rate: Option<u64>,
    /// Requests/s completed at that rate.
    pub requests_per_sec: Option<f64>,
    /// The lowest rate that failed (None: nothing failed up to --rate-to).
    pub lowest_failure: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RampReport {
    pub schema: String,
    pub meta: Meta,
    pub config: RampConfig,
    pub steps: Vec<Step>,
    pub breaking_point: Option<BreakingPoint>,
    pub capacity: Option<Capacity>,
    /// The conclusion, as printed under the table.
    pub summary: String,
    /// Ctrl-C ended the ramp early.
    pub interrupted: bool,
}

/// Failed attempts and the error percentage of a run's counters (see `Step::errors`).
pub fn error_rate(c: &Counters) -> (u64, f64) {
    let failed = c.request_errors() + c.errors.connection_errors() + c.status.non_2xx_3xx();
    let attempts = c.sent + c.errors.connection_errors();
    let pct = 100.0 * failed as f64 / attempts.max(1) as f64;
    (failed, pct.min(100.0))
}

/// `ceiling ramp ARGS` (args[0] is "ramp").
pub fn main(args: &[OsString]) -> Result<(), CliError> {
    command(args, Reach::Whole)
}

/// `main` as far as `reach` goes.
pub fn command(args: &[OsString], reach: Reach) -> Result<(), CliError> {
    match options::parse_args::<Args>(args)?.or_print(reach) {
        Some(a) => run(a, reach),
        None => Ok(()),
    }
}

/// The levels from `from` to `to` by `step`, `to` included even off the step.
fn levels(from: u64, to: u64, step: u64) -> Vec<u64> {
    let mut v = Vec::new();
    let mut l = from;
    while l < to && v.len() <= MAX_STEPS {
        v.push(l);
        l = l.saturating_add(step);
    }
    v.push(to);
    v
}

/// Validated settings the steps are built from.
struct Setup {
    mode: Mode,
    levels: Vec<u64>,
    connections: usize,
    limits: Limits,
    /// The load before a level sets its connections or rate.
    base: Load,
    machine: Machine,
}

fn setup(a: &Args) -> Result<Setup, UsageError> {
    let conflict = |m: &str| UsageError::Conflict(m.to_string());
    let concurrency_flags = a.from.is_some() || a.to.is_some();
    let rate_flags = a.rate_from.is_some() || a.rate_to.is_some() || a.rate_step.is_some();
    let slo = a
        .slo
        .as_deref()
        .map(Slo::parse)
        .transpose()
        .map_err(|e| UsageError::Conflict(e.to_string()))?;
    let mode = if a.rate_search {
        if concurrency_flags || a.rate_step.is_some() {
            return Err(conflict("--rate-search takes --rate-from/--rate-to as its bounds, not --from/--to/--rate-step"));
        }
        if slo.is_none() {
            return Err(conflict("--rate-search needs --slo, e.g. --slo p99<50ms"));
        }
        Mode::RateSearch
    } else if rate_flags {
        if concurrency_flags {
            return Err(conflict(
                "give --from/--to (connections) or --rate-from/--rate-to (rate), not both",
            ));
        }
        Mode::Rate
    } else {
        Mode::Connections
    };
    let (levels, connections) = match mode {
        Mode::Connections => {
            let (Some(from), Some(to)) = (a.from, a.to) else {
                return Err(conflict("give --from and --to (connections), --rate-from and --rate-to (requests/s), or --rate-search --slo"));
            };
            if a.conn.connections.is_some() {
                return Err(conflict("-c: in a concurrency ramp each level is the connection count (--from/--to/--step)"));
            }
            if from > to {
                return Err(conflict(&format!("--from {from} is above --to {to}")));
            }
            (levels(from, to, a.step), 0)
        }
        Mode::Rate => {
            let (Some(from), Some(to)) = (a.rate_from, a.rate_to) else {
                return Err(conflict("a rate ramp needs both --rate-from and --rate-to"));
            };
            let step = a.rate_step.unwrap_or(from);
            if from > to {
                return Err(conflict(&format!(
                    "--rate-from {from} is above --rate-to {to}"
                )));
            }
            (levels(from, to, step), a.conn.connections.unwrap_or(64))
        }
        Mode::RateSearch => {
            let (from, to) = (a.rate_from.unwrap_or(100), a.rate_to.unwrap_or(1_000_000));
            if from > to {
                return Err(conflict(&format!(
                    "--rate-from {from} is above --rate-to {to}"
                )));
            }
            (vec![from, to], a.conn.connections.unwrap_or(64))
        }
    };
    if levels.len() > MAX_STEPS {
        return Err(conflict(&format!(
            "more than {MAX_STEPS} levels: use a larger step"
        )));
    }
    let base = super::base_load(
        &a.url,
        &a.request,
        &a.conn,
        connections.max(1),
        a.step_duration,
    )?;
    Ok(Setup {
        mode,
        levels,
        connections,
        limits: Limits {
            max_errors_pct: a.max_errors,
            slo,
        },
        base,
        machine: a.machine.machine()?,
    })
}

/// The load of one level: its connections (a concurrency ramp) or its rate.
fn load_at(s: &Setup, level: u64) -> Load {
    let mut load = s.base.clone();
    load.connections = match s.mode {
        Mode::Connections => level as usize,
        Mode::Rate | Mode::RateSearch => s.connections,
    };
    // Never more threads than connections.
    load.threads = load.threads.map(|t| t.min(load.connections));
    if s.mode != Mode::Connections {
        load.rate = Some(level as f64);
    }
    load
}

/// The one-line progress on a terminal's stderr.
struct Progress {
    on: bool,
}

impl Progress {
    fn show(&self, text: &str) {
        if self.on {
            // Carriage return and erase-line: the line is rewritten in place.
            let mut err = std::io::stderr();
            let _ = std::io::Write::write_fmt(&mut err, format_args!("\r\x1b[2K{text}"));
            let _ = std::io::Write::flush(&mut err);
        }
    }

    fn clear(&self) {
        self.show("");
    }
}

fn run(a: Args, reach: Reach) -> Result<(), CliError> {
    let s = setup(&a)?;
    // The extremes of the levels stand for all of them: only -c, -t and -R vary.
    for &level in [s.levels[0], *s.levels.last().expect("one level")].iter() {
        plan_for(&load_at(&s, level), &s.machine)?;
    }
    sampler::check(&a.server_pids).map_err(|e| UsageError::Conflict(e.to_string()))?;
    a.out.check()?;
    if reach == Reach::Checks {
        return Ok(());
    }

    let progress = Progress {
        on: !a.quiet && std::io::stderr().is_terminal(),
    };
    let mut steps: Vec<Step> = Vec::new();
    let mut breaking_point = None;
    let mut capacity = None;
    let mut interrupted = false;
    match s.mode {
        Mode::Connections | Mode::Rate => {
            let total = s.levels.len();
            for (i, &level) in s.levels.iter().enumerate() {
                progress.show(&format!(
                    "step {}/{total}: {}, {}{}",
                    i + 1,
                    s.mode.level(level),
                    options::show(a.step_duration),
                    last_step(&steps)
                ));
                let step = run_step(&a, &s, i + 1, level)?;
                interrupted = step.result.interrupted;
                steps.push(step);
                let observed: Vec<Observed> = steps.iter().map(Step::observed).collect();
                if breaking_point.is_none() {
                    breaking_point =
                        first_break(&observed, &s.limits).map(|(k, reasons)| BreakingPoint {
                            step: k + 1,
                            level: steps[k].level,
                            reasons,
                        });
                }
                if interrupted || (a.stop_at_break && breaking_point.is_some()) {
                    break;
                }
            }
        }
        Mode::RateSearch => {
            let mut search = Search::new(s.levels[0], s.levels[1], a.search_steps);
            while let Some(rate) = search.next() {
                progress.show(&format!(
                    "probe {}: {}, {}{}",
                    steps.len() + 1,
                    s.mode.level(rate),
                    options::show(a.step_duration),
                    last_step(&steps)
                ));
                let step = run_step(&a, &s, steps.len() + 1, rate)?;
                interrupted = step.result.interrupted;
                search.record(rate, step.failures.is_empty());
                steps.push(step);
                if interrupted {
                    break;
                }
            }
            let rate = search.capacity();
            capacity = Some(Capacity {
                rate,
                requests_per_sec: rate.and_then(|r| {
                    steps
                        .iter()
                        .find(|st| st.level == r)
                        .map(|st| st.requests_per_sec)
                }),
                lowest_failure: search.lowest_failure(),
            });
        }
    }
    progress.clear();

    let summary = summary(
        &s,
        &steps,
        breaking_point.as_ref(),
        capacity.as_ref(),
        a.stop_at_break,
        interrupted,
    );
    let report = RampReport {
        schema: SCHEMA.into(),
        meta: steps[0].result.meta.clone(),
        config: RampConfig {
            url: crate::redact::url(&a.url),
            mode: s.mode,
            levels: if s.mode == Mode::RateSearch {
                Vec::new()
            } else {
                s.levels.clone()
            },
            step_duration: options::show(a.step_duration),
            connections: (s.mode != Mode::Connections).then_some(s.connections),
            search_from: (s.mode == Mode::RateSearch).then(|| s.levels[0]),
            search_to: (s.mode == Mode::RateSearch).then(|| s.levels[1]),
            search_steps: (s.mode == Mode::RateSearch).then_some(a.search_steps),
            max_errors_pct: s.limits.max_errors_pct,
            slo: s.limits.slo.clone(),
            stop_at_break: a.stop_at_break,
            server_pids: a.server_pids.clone(),
        },
        steps,
        breaking_point,
        capacity,
        summary,
        interrupted,
    };
    let printed = if a.quiet {
        Ok(())
    } else {
        super::print(&render_text(&report))
    };
    let written = a.out.write(
        &report,
        Renderers {
            markdown: render_markdown,
            csv: render_csv,
            html: render_html,
        },
    );
    printed?;
    Ok(written?)
}

/// The previous step's outcome for the progress line ("" before the first).
fn last_step(steps: &[Step]) -> String {
    steps.last().map_or(String::new(), |st| {
        format!(
            " (previous: {:.0} req/s, {:.2}% errors, p99 {})",
            st.requests_per_sec,
            st.error_pct,
            st.p99_us
                .map_or("n/a".into(), |v| crate::report::text::time_us(v as f64))
        )
    })
}

/// A run's latency at `percentile` in µs: the report's own figure where it lists
/// that percentile, else read from its histogram (p95); 0 without either.
pub fn latency_at(result: &RunResult, percentile: f64) -> u64 {
    if let Some(v) = result.latency.get(percentile) {
        return v;
    }
    shared::stats::codec::decode_base64(&result.latency.histogram)
        .ok()
        .filter(|h| !h.is_empty())
        .map_or(0, |h| h.value_at_percentile(percentile))
}

/// Runs one level with the servers sampled alongside.
fn run_step(a: &Args, s: &Setup, index: usize, level: u64) -> Result<Step, CliError> {
    let sampler = (!a.server_pids.is_empty())
        .then(|| sampler::Sampler::start(a.server_pids.clone(), sampler::EVERY));
    let ran = run_load(&load_at(s, level), &s.machine);
    let server = sampler.map(sampler::Sampler::finish);
    let (plan, result) = ran?;
    let c = &result.counters;
    if index == 1 && c.connects == 0 && c.errors.connect > 0 {
        return Err(Failed::NoConnection {
            addr: plan.addr,
            errors: c.errors.connect,
        }
        .into());
    }
    if let Some(u) = &server {
        for pid in &u.exited {
            shared::say!(
                "ceiling ramp: server PID {pid} is gone (step {index}); its figures stop there"
            );
        }
        for line in sampler::warnings(u) {
            shared::say!("ceiling ramp: step {index}: {line}");
        }
    }
    // No live process sampled: n/a, not 0% and 0 MiB.
    let server = server.filter(|u| u.live_samples > 0);
    let (errors, error_pct) = error_rate(c);
    let at = |p: f64| latency_at(&result, p);
    let measured = result.latency.count > 0;
    let slo_value_us = s
        .limits
        .slo
        .as_ref()
        .filter(|_| measured)
        .map(|slo| at(slo.percentile));
    let mut step = Step {
        step: index,
        level,
        connections: plan.connections,
        threads: plan.threads(),
        command: plan.command_line.clone(),
        requests_per_sec: result.requests_per_sec,
        errors,
        error_pct,
        avg_us: measured.then_some(result.latency.mean),
        p50_us: measured.then(|| at(50.0)),
        p95_us: measured.then(|| at(95.0)),
        p99_us: measured.then(|| at(99.0)),
        slo_value_us,
        achieved_pct: result.rate.as_ref().map(|r| r.achieved_pct),
        slo_lag_us: s.limits.slo.as_ref().and_then(|slo| {
            let rate = result.rate.as_ref().filter(|r| r.lag_is_generators())?;
            Some(verdict::latency_at(&rate.lag, slo.percentile))
        }),
        server,
        failures: Vec::new(),
        result,
    };
    step.failures = verdict::failures(&step.observed(), &s.limits);
    Ok(step)
}

fn summary(
    s: &Setup,
    steps: &[Step],
    bp: Option<&BreakingPoint>,
    cap: Option<&Capacity>,
    stop_at_break: bool,
    interrupted: bool,
) -> String {
    let mut line = match (s.mode, bp, cap) {
        (Mode::RateSearch, _, Some(c)) => {
            let within = match &s.limits.slo {
                Some(slo) => format!("{} and {}% errors", slo.text, s.limits.max_errors_pct),
                None => format!("{}% errors", s.limits.max_errors_pct),
            };
            let failed = |f: u64| {
                steps
                    .iter()
                    .find(|st| st.level == f)
                    .map(|st| format!("{f} req/s failed: {}", st.failures.join(", ")))
                    .unwrap_or_default()
            };
            match (c.rate, c.lowest_failure) {
                (Some(r), Some(f)) => format!(
                    "capacity: {r} req/s within {within} ({:.0} req/s completed); {}",
                    c.requests_per_sec.unwrap_or(0.0),
                    failed(f)
                ),
                (Some(r), None) => format!(
                    "capacity: at least {r} req/s within {within}: nothing failed up to --rate-to"
                ),
                (None, Some(f)) => {
                    format!(
                        "no capacity within {within}: {}; lower --rate-from",
                        failed(f)
                    )
                }
                (None, None) => "no capacity: no probe ran".into(),
            }
        }
        (_, Some(b), _) => format!(
            "breaking point: {} ({}){}",
            s.mode.level(b.level),
            b.reasons.join(", "),
            if stop_at_break { "; stopped there" } else { "" }
        ),
        _ => format!(
            "no breaking point up to {}",
            s.mode.level(steps.last().map_or(0, |st| st.level))
        ),
    };
    if interrupted {
        line.push_str(&format!(" (interrupted during step {})", steps.len()));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_include_both_ends() {
        assert_eq!(levels(10, 60, 10), [10, 20, 30, 40, 50, 60]);
        assert_eq!(levels(5, 30, 10), [5, 15, 25, 30]);
        assert_eq!(levels(7, 7, 10), [7]);
        assert_eq!(levels(1, u64::MAX, u64::MAX), [1, u64::MAX]);
    }

    #[test]
    fn error_rate_counts_failed_attempts() {
        let mut c = Counters {
            sent: 1000,
            completed: 990,
            ..Counters::default()
        };
        assert_eq!(error_rate(&c), (0, 0.0));
        c.errors.timeout = 5;
        c.errors.read = 5;
        c.status.server_error = 10;
        c.errors.connect = 1000;
        // 5 + 5 + 10 + 1000 failed of 1000 sent + 1000 connect attempts.
        assert_eq!(error_rate(&c), (1020, 51.0));
        assert_eq!(error_rate(&Counters::default()), (0, 0.0));
    }

    fn args(extra: &[&str]) -> Result<Setup, String> {
        let argv = ["ramp", "http://127.0.0.1:1/"]
            .iter()
            .chain(extra)
            .map(OsString::from)
            .collect::<Vec<_>>();
        let a = Args::try_parse_from(argv).map_err(|e| e.to_string())?;
        setup(&a).map_err(|e| e.to_string())
    }

    #[test]
    fn modes_and_their_mistakes() {
        let s = args(&["--from", "2", "--to", "6", "--step", "2"]).unwrap();
        assert_eq!((s.mode, s.levels), (Mode::Connections, vec![2, 4, 6]));
        let s = args(&["--rate-from", "200", "--rate-to", "600", "-c", "8"]).unwrap();
        assert_eq!(
            (s.mode, s.levels, s.connections),
            (Mode::Rate, vec![200, 400, 600], 8)
        );
        let s = args(&["--rate-search", "--slo", "p99<50ms"]).unwrap();
        assert_eq!(
            (s.mode, s.levels, s.connections),
            (Mode::RateSearch, vec![100, 1_000_000], 64)
        );
        for bad in [
            &["--from", "6", "--to", "2"][..],
            &["--from", "2", "--to", "6", "--step", "0"],
            &["--from", "0", "--to", "6"],
            &["--from", "2"],
            &[],
            &["--from", "2", "--to", "6", "-c", "5"],
            &["--from", "2", "--to", "6", "--rate-from", "5"],
            &["--rate-from", "5"],
            &["--rate-from", "5", "--rate-to", "10", "--rate-step", "0"],
            &["--rate-search"],
            &[
                "--rate-search",
                "--slo",
                "p99<50ms",
                "--from",
                "1",
                "--to",
                "2",
            ],
            &[
                "--rate-search",
                "--slo",
                "p99<50ms",
                "--rate-from",
                "9",
                "--rate-to",
                "3",
            ],
            &["--from", "1", "--to", "2", "--slo", "p99>1ms"],
            &["--from", "1", "--to", "2", "--max-errors", "101"],
            &["--from", "1", "--to", "2", "--max-errors", "NaN"],
            &["--from", "1", "--to", "100000", "--step", "1"],
            &["--from", "1", "--to", "2", "--step-duration", "0s"],
            &["--from", "1", "--to", "2", "--step-duration", "5ms"],
            &["--from", "1", "--to", "2", "--step-duration", "1e20"],
            &["--from", "1", "--to", "2", "--step-duration", "soon"],
        ] {
            assert!(args(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn levels_set_typed_fields_of_one_load() {
        let argv: Vec<OsString> = [
            "ramp",
            "http://h:1/",
            "--from",
            "1",
            "--to",
            "8",
            "-t",
            "4",
            "-H",
            "A: b",
            "--timeout",
            "1s",
            "--step-duration",
            "250ms",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let a = Args::try_parse_from(argv).unwrap();
        let s = setup(&a).unwrap();
        // Fewer connections than threads: the threads follow the connections.
        let l = load_at(&s, 1);
        assert_eq!((l.connections, l.threads, l.rate), (1, Some(1), None));
        assert_eq!(l.duration, Some(Duration::from_millis(250)));
        assert_eq!(l.timeout, Duration::from_secs(1));
        assert_eq!(l.headers, ["A: b"]);
        let l = load_at(&s, 8);
        assert_eq!((l.connections, l.threads), (8, Some(4)));
        assert_eq!(
            crate::plan::command_line(&l, &s.machine),
            "ceiling -t 4 -c 8 -d 250ms --timeout 1s -H A: b http://h:1/"
        );
    }

    fn step(n: usize, level: u64, rps: f64, p99: u64, errors: u64, failures: &[&str]) -> Step {
        let result = crate::campaign::fixture::result(rps, p99 / 4, p99, errors);
        let (errors, error_pct) = error_rate(&result.counters);
        Step {
            step: n,
            level,
            connections: level as usize,
            threads: 1,
            command: format!("ceiling -t 1 -c {level} -d 1s http://127.0.0.1:8080/"),
            requests_per_sec: rps,
            errors,
            error_pct,
            avg_us: Some(result.latency.mean),
            p50_us: Some(result.latency.at(50.0)),
            p95_us: Some(result.latency.at(90.0)),
            p99_us: Some(result.latency.at(99.0)),
            slo_value_us: Some(p99),
            achieved_pct: None,
            slo_lag_us: None,
            server: Some(ServerUsage {
                avg_cpu_pct: 40.0 * n as f64,
                peak_cpu_pct: 45.0 * n as f64,
                avg_rss_mib: 12.5,
                peak_rss_mib: 13.0,
                cpus: 2.0,
                cpu_s: 0.4 * n as f64,
                wall_s: 1.0,
                samples: 5,
                processes: 3,
                started: 0,
                ended: 0,
                exited: Vec::new(),
                sampler_cpu_pct: 0.1,
                ..Default::default()
            }),
            failures: failures.iter().map(|f| f.to_string()).collect(),
            result,
        }
    }

    /// The text, Markdown and CSV layouts of a concurrency ramp, pinned.
    #[test]
    fn layouts_of_a_concurrency_ramp() {
        let steps = vec![
            step(1, 10, 9000.0, 900, 0, &[]),
            step(2, 20, 15000.0, 1500, 0, &[]),
            step(
                3,
                30,
                15500.0,
                60_000,
                30,
                &["errors 3.00% > 1%", "p99 60.00ms > 50ms"],
            ),
        ];
        let report = RampReport {
            schema: SCHEMA.into(),
            meta: steps[0].result.meta.clone(),
            config: RampConfig {
                url: crate::redact::url("http://u:pw@127.0.0.1:8080/"),
                mode: Mode::Connections,
                levels: vec![10, 20, 30],
                step_duration: "1s".into(),
                connections: None,
                search_from: None,
                search_to: None,
                search_steps: None,
                max_errors_pct: 1.0,
                slo: Some(Slo::parse("p99<50ms").unwrap()),
                stop_at_break: false,
                server_pids: vec![4242],
            },
            breaking_point: Some(BreakingPoint {
                step: 3,
                level: 30,
                reasons: steps[2].failures.clone(),
            }),
            steps,
            capacity: None,
            summary: "breaking point: 30 connections (errors 3.00% > 1%, p99 60.00ms > 50ms)"
                .into(),
            interrupted: false,
        };
        let text = render_text(&report);
        assert!(!text.contains("pw@"), "{text}");
        crate::campaign::fixture::snapshot("ramp", &text);
        crate::campaign::fixture::snapshot("ramp.md", &render_markdown(&report));
        crate::campaign::fixture::snapshot("ramp.csv", &render_csv(&report));
        let html = render_html(&report);
        crate::report::html::assert_page(&html);
        assert!(html.contains("<th>connections</th>"), "{html}");
        assert!(html.contains("<td>30</td>"));
        assert!(html.contains("SLO: p99&lt;50ms"));
        assert!(
            !html.contains("capacity found"),
            "a concurrency ramp finds no capacity"
        );

        // A step Ctrl-C cut short says how long it ran beside its asked -d.
        let mut report = report;
        let last = report.steps.last_mut().unwrap();
        last.result.interrupted = true;
        last.result.duration_s = 0.5;
        report.interrupted = true;
        let text = render_text(&report);
        assert!(
            text.contains("-d 1s http://127.0.0.1:8080/ (interrupted after 0.50s)"),
            "{text}"
        );
        assert_eq!(text.matches("interrupted after").count(), 1, "{text}");
        let md = render_markdown(&report);
        assert!(md.contains("` (interrupted after 0.50s)"), "{md}");

        // A step where nothing completed (every handshake failed): no
        // latency was measured, so none is shown, never 0.00us.
        let last = report.steps.last_mut().unwrap();
        (last.avg_us, last.p50_us, last.p95_us, last.p99_us) = (None, None, None, None);
        let text = render_text(&report);
        assert!(!text.contains(" 0.00us"), "{text}");
        assert!(text.contains("n/a"), "{text}");
        let csv = render_csv(&report);
        let row = csv.lines().nth(3).unwrap();
        assert!(row.contains(",,,,"), "{row}");
        let json = serde_json::to_value(&report.steps[2]).unwrap();
        assert!(json["p99_us"].is_null(), "{json}");
        crate::report::html::assert_page(&render_html(&report));
    }

    #[test]
    fn a_step_with_no_response_fails_its_slo() {
        let l = verdict::Limits {
            max_errors_pct: 100.0,
            slo: Some(Slo::parse("p99<50ms").unwrap()),
        };
        let o = verdict::Observed {
            error_pct: 100.0,
            requests_per_sec: 0.0,
            slo_value_us: None,
            achieved_pct: None,
            slo_lag_us: None,
        };
        let why = verdict::failures(&o, &l);
        assert!(
            why.iter().any(|w| w.contains("no response completed")),
            "{why:?}"
        );
    }

    /// A rate search's page: the probes in rate order (not the order they
    /// ran), the SLO line and the capacity found, the table as a table; an
    /// interrupted one says so in the warning box.
    #[test]
    fn a_rate_search_page_draws_probes_in_rate_order_with_its_slo_and_capacity() {
        // Bisection order: 1000, 8000, 4000, 2000, 3000.
        let mut steps = vec![
            step(1, 1000, 1000.0, 2_000, 0, &[]),
            step(2, 8000, 5000.0, 900_000, 0, &["p99 900.00ms > 50ms"]),
            step(3, 4000, 4000.0, 80_000, 0, &["p99 80.00ms > 50ms"]),
            step(4, 2000, 2000.0, 5_000, 0, &[]),
            step(5, 3000, 3000.0, 20_000, 0, &[]),
        ];
        for s in &mut steps {
            s.server = None;
        }
        let report = RampReport {
            schema: SCHEMA.into(),
            meta: steps[0].result.meta.clone(),
            config: RampConfig {
                url: "http://127.0.0.1:8080/".into(),
                mode: Mode::RateSearch,
                levels: Vec::new(),
                step_duration: "1s".into(),
                connections: Some(64),
                search_from: Some(1000),
                search_to: Some(8000),
                search_steps: Some(5),
                max_errors_pct: 1.0,
                slo: Some(Slo::parse("p99<50ms").unwrap()),
                stop_at_break: false,
                server_pids: Vec::new(),
            },
            breaking_point: None,
            steps,
            capacity: Some(Capacity {
                rate: Some(3000),
                requests_per_sec: Some(3000.0),
                lowest_failure: Some(4000),
            }),
            summary: "capacity: 3000 req/s within p99<50ms".into(),
            interrupted: true,
        };
        let html = render_html(&report);
        // For docs/img: CEILING_PAGES=DIR keeps the page to look at.
        if let Some(dir) = std::env::var_os("CEILING_PAGES") {
            std::fs::write(std::path::Path::new(&dir).join("search.html"), &html).unwrap();
        }
        crate::report::html::assert_page(&html);
        assert!(html.contains("<th>asked req/s</th>"));
        assert!(html.contains("SLO: p99&lt;50ms"));
        assert!(html.contains("capacity found: 3000 req/s"));
        assert!(html.contains("class=\"warn\"") && html.contains("Ctrl-C"));
        let lines = crate::report::html::polylines(&html);
        assert!(!lines.is_empty());
        for l in &lines {
            assert!(
                l.windows(2).all(|w| w[0] < w[1]),
                "points out of rate order: {l:?}"
            );
        }
    }
}
