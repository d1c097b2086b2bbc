//! `ceiling compare NAME=URL NAME=URL ... [--levels 10,20,40] [--server-pid NAME=PID]`:
//! the same workload against each target at each concurrency level, interleaved
//! over rounds (the order rotating each round) so a noisy machine does not favour
//! one side. Per target and level: median requests/s with its interval, error % by
//! class, latency, and with `--server-pid` the server's CPU and memory over its
//! process tree (`campaign::sampler`). A winner per level by a printed rule (the
//! highest throughput within the error budget and the SLO), a breaking point per
//! target as `ramp` finds it.
//!
//! One model ([`CompareReport`]) and one set of tables ([`render::summary_table`],
//! [`render::target_table`]) feed every format: text, Markdown, CSV, JSON, HTML.

mod render;

pub use render::{render_csv, render_html, render_markdown, render_text, Table};

use super::ramp::{error_rate, first_break, latency_at, Limits, Observed, Slo};
use super::sampler::{self, Sampler, ServerUsage};
use super::stats::{self, ratio, Ratio};
use super::{parse_target, plan_for, run_load, Reach, Renderers, ReportFiles};
use crate::error::CliError;
use crate::meta::Meta;
use crate::options::{self, ConnArgs, MachineArgs, RateArgs, RequestArgs, StopArgs, UsageError};
use crate::plan::{Load, Machine};
use crate::result::RunResult;
use clap::Parser;
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "ceiling compare",
    bin_name = "ceiling compare",
    about = "The same workload against several servers, interleaved over rounds, with confidence intervals",
    after_help = "Exit codes: 0 the comparison ran; 1 it could not complete; 2 bad usage."
)]
pub(crate) struct Args {
    /// Targets as NAME=URL (at least two)
    #[arg(required = true, num_args = 2.., value_name = "NAME=URL")]
    targets: Vec<String>,
    /// Rounds, 1 to 1000; each runs every target once, in a rotating order (2 or
    /// more give a noise estimate)
    #[arg(long, default_value_t = 3, value_parser = options::usize_value::<1, 1000>, allow_hyphen_values = true)]
    repeats: usize,
    /// The target the others are compared with [default: the first]
    #[arg(long)]
    baseline: Option<String>,
    /// Compare at several connection counts, e.g. 10,20,40 (a winner per level;
    /// run in increasing order)
    #[arg(long, value_delimiter = ',', conflicts_with = "connections", value_parser = options::connections_value, allow_hyphen_values = true)]
    levels: Vec<usize>,
    /// Sample this target's server process tree (CPU, memory) during its runs, as
    /// NAME=PID (repeatable, once per target)
    #[arg(long = "server-pid", value_name = "NAME=PID")]
    server_pids: Vec<String>,
    /// Error budget in percent, 0 to 100: a target above it at a level cannot win
    /// there, and its first such level is its breaking point
    #[arg(long, default_value_t = 1.0, value_name = "PCT", value_parser = pct_value, allow_hyphen_values = true)]
    max_errors: f64,
    /// Latency objective every winner must meet, e.g. p99<50ms (p50, p90, p95,
    /// p99, p99.9; us, ms, s)
    #[arg(long)]
    slo: Option<String>,
    #[command(flatten)]
    conn: ConnArgs,
    #[command(flatten)]
    stop: StopArgs,
    #[command(flatten)]
    rate: RateArgs,
    #[command(flatten)]
    request: RequestArgs,
    #[command(flatten)]
    machine: MachineArgs,
    #[command(flatten)]
    out: ReportFiles,
}

fn pct_value(t: &str) -> Result<f64, options::ValueError> {
    options::number(t, 0.0, 100.0)
}

/// Schema tag of the JSON report.
pub const SCHEMA: &str = "ceiling.compare/2";

/// Failed attempts by class, summed over a target's rounds at one level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorClasses {
    pub connect: u64,
    /// TLS handshakes that failed (connections, like `connect`).
    #[serde(default)]
    pub tls_handshake: u64,
    pub read: u64,
    pub write: u64,
    pub timeout: u64,
    /// Responses that could not be parsed.
    pub invalid: u64,
    /// Requests lost to a TLS failure after the handshake.
    #[serde(default)]
    pub tls: u64,
    /// Complete responses with a 4xx status.
    pub status_4xx: u64,
    /// Complete responses with a 5xx status.
    pub status_5xx: u64,
    /// Complete responses with any other status outside 2xx/3xx.
    pub status_other: u64,
}

impl ErrorClasses {
    fn of(c: &shared::stats::Counters) -> Self {
        Self {
            connect: c.errors.connect,
            tls_handshake: c.errors.tls_handshake,
            read: c.errors.read,
            write: c.errors.write,
            timeout: c.errors.timeout,
            invalid: c.errors.invalid,
            tls: c.errors.tls,
            status_4xx: c.status.client_error,
            status_5xx: c.status.server_error,
            status_other: c.status.non_2xx_3xx() - c.status.client_error - c.status.server_error,
        }
    }

    /// (class, count) for the classes that occurred, in a fixed order.
    pub fn nonzero(&self) -> Vec<(&'static str, u64)> {
        [
            ("connect", self.connect),
            ("tls handshake", self.tls_handshake),
            ("read", self.read),
            ("write", self.write),
            ("timeout", self.timeout),
            ("invalid", self.invalid),
            ("tls", self.tls),
            ("4xx", self.status_4xx),
            ("5xx", self.status_5xx),
            ("other status", self.status_other),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect()
    }
}

/// One target at one level, over its rounds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetSummary {
    pub name: String,
    /// The URL, its password masked.
    pub url: String,
    /// Requests/s of each round.
    pub rps: Vec<f64>,
    pub median_rps: f64,
    pub min_rps: f64,
    pub max_rps: f64,
    pub mean_rps: f64,
    /// Half-width of the 95% confidence interval of the mean (Student's t); None
    /// with one round (no noise estimate).
    pub ci95_rps: Option<f64>,
    /// Failed attempts over all rounds: request errors (read, write, timeout,
    /// invalid, tls), connect and TLS handshake errors and responses outside
    /// 2xx/3xx (as `ramp` counts).
    pub errors: u64,
    /// Requests sent plus failed connects and TLS handshakes, over all rounds.
    pub attempts: u64,
    /// 100 x errors / attempts.
    pub error_pct: f64,
    pub error_classes: ErrorClasses,
    /// Latency in µs: the median of the figures of the rounds that completed
    /// requests; None (n/a, empty in CSV, null in JSON) when none did.
    pub mean_us: Option<f64>,
    pub p50_us: Option<u64>,
    pub p95_us: Option<u64>,
    pub p99_us: Option<u64>,
    /// The latency at the SLO's percentile (median of the rounds), µs.
    pub slo_value_us: Option<u64>,
    /// Under -R: the median of the rounds' sent / scheduled, in percent.
    pub achieved_pct: Option<f64>,
    /// The server's process tree over this target's rounds at this level.
    pub server: Option<ServerUsage>,
    /// The limits this target failed here (error budget, SLO, schedule); empty:
    /// it qualifies to win.
    pub failures: Vec<String>,
    /// Geometric mean of the per-round ratios to the baseline, with its 95% interval.
    pub vs_baseline: Option<Ratio>,
    /// Why there is no ratio to the baseline although it ran (its errors were over
    /// the budget: error responses count as throughput, so every healthy target
    /// would look slower); None when the ratio stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vs_baseline_na: Option<String>,
    pub runs: Vec<RunResult>,
}

impl TargetSummary {
    fn observed(&self) -> Observed {
        Observed {
            requests_per_sec: self.median_rps,
            error_pct: self.error_pct,
            slo_value_us: self.slo_value_us,
            achieved_pct: self.achieved_pct,
            // Medians over rounds carry no lag histogram to split the SLO value by.
            slo_lag_us: None,
        }
    }
}

/// One connection count: every target's summary and the winner.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Level {
    pub connections: usize,
    pub targets: Vec<TargetSummary>,
    /// The winner by the report's rule; None when no target qualifies.
    pub winner: Option<String>,
    /// One line: the winner and its lead (and whether the lead is beyond the
    /// run-to-run noise), or why there is none.
    pub verdict: String,
}

/// The first level at which a target broke, as `ramp` decides it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakingPoint {
    pub connections: usize,
    pub reasons: Vec<String>,
}

/// A target across the levels.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Target {
    pub name: String,
    /// The URL, its password masked.
    pub url: String,
    /// The sampled server process (with its children), if given.
    pub server_pid: Option<i32>,
    /// The first level that failed a limit or lost more than 10% of the best
    /// throughput so far; None: none up to the last level.
    pub breaking_point: Option<BreakingPoint>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompareReport {
    pub schema: String,
    pub meta: Meta,
    pub repeats: usize,
    pub baseline: String,
    /// --max-errors, percent.
    pub max_errors_pct: f64,
    pub slo: Option<Slo>,
    /// The winner rule, as printed under the summary table.
    pub rule: String,
    /// Sampling interval of the servers, ms.
    pub sample_every_ms: u64,
    pub targets: Vec<Target>,
    /// One comparison per connection count, in increasing order.
    pub levels: Vec<Level>,
    /// Ctrl-C ended the comparison early: the levels measured so far.
    pub interrupted: bool,
}

/// `ceiling compare ARGS` (args[0] is "compare").
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

/// The load of one run: `url` at `connections`.
fn load_for(a: &Args, url: &str, connections: usize) -> Result<Load, CliError> {
    let duration = a.stop.duration.unwrap_or(Duration::from_secs(10));
    let mut load = super::base_load(url, &a.request, &a.conn, connections, duration)?;
    load.requests = a.stop.requests;
    if a.stop.requests.is_some() && a.stop.duration.is_none() {
        load.duration = None;
    }
    load.rate = a.rate.rate;
    load.arrivals = a.rate.arrivals;
    load.seed = a.rate.seed;
    // Never more threads than connections.
    load.threads = load.threads.map(|t| t.min(connections));
    Ok(load)
}

/// `--server-pid NAME=PID` for target names: each a target, once, a live process.
fn server_pids(
    given: &[String],
    targets: &[(String, String)],
) -> Result<Vec<Option<i32>>, UsageError> {
    let mut pids = vec![None; targets.len()];
    for g in given {
        let bad = |why: String| UsageError::Conflict(format!("--server-pid {g:?}: {why}"));
        let (name, pid) = g
            .split_once('=')
            .ok_or_else(|| bad("expected NAME=PID, NAME a target's name".into()))?;
        let i = targets
            .iter()
            .position(|(n, _)| n == name)
            .ok_or_else(|| bad(format!("{name:?} is not a target name")))?;
        let pid: i32 = pid
            .parse()
            .map_err(|_| bad("the PID is not a number".into()))?;
        if pids[i].is_some() {
            return Err(bad(format!("{name:?} given twice")));
        }
        sampler::check(&[pid]).map_err(|e| bad(e.to_string()))?;
        pids[i] = Some(pid);
    }
    Ok(pids)
}

fn run(a: Args, reach: Reach) -> Result<(), CliError> {
    let machine = a.machine.machine()?;
    let mut targets: Vec<(String, String)> = Vec::new();
    for t in &a.targets {
        let (name, url) = parse_target(t)?;
        if targets.iter().any(|(n, _)| *n == name) {
            return Err(UsageError::Conflict(format!("target name {name:?} given twice")).into());
        }
        targets.push((name, url));
    }
    let baseline = a.baseline.clone().unwrap_or_else(|| targets[0].0.clone());
    if !targets.iter().any(|(n, _)| *n == baseline) {
        return Err(
            UsageError::Conflict(format!("--baseline {baseline:?} is not a target name")).into(),
        );
    }
    let slo = a
        .slo
        .as_deref()
        .map(Slo::parse)
        .transpose()
        .map_err(|e| UsageError::Conflict(e.to_string()))?;
    let limits = Limits {
        max_errors_pct: a.max_errors,
        slo,
    };
    // Increasing, each once: a breaking point reads the levels in order.
    let mut levels = if a.levels.is_empty() {
        vec![a.conn.connections.unwrap_or(64)]
    } else {
        a.levels.clone()
    };
    levels.sort_unstable();
    // A level given twice would run once and look like one asked-for level.
    if let Some(w) = levels.windows(2).find(|w| w[0] == w[1]) {
        return Err(UsageError::Conflict(format!("--levels: {} given twice", w[0])).into());
    }
    // Every run's plan, before any load.
    for (_, url) in &targets {
        for &c in &levels {
            plan_for(&load_for(&a, url, c)?, &machine)?;
        }
    }
    let pids = server_pids(&a.server_pids, &targets)?;
    a.out.check()?;
    if reach == Reach::Checks {
        return Ok(());
    }

    let mut done = Vec::with_capacity(levels.len());
    let mut interrupted = false;
    for &connections in &levels {
        let (runs, usage, stopped) = measure_level(&a, &machine, &targets, &pids, connections)?;
        // A level cut short by Ctrl-C is kept when every target ran at least once.
        if runs.iter().all(|r| !r.is_empty()) {
            done.push(level_of(
                &targets,
                &baseline,
                &limits,
                connections,
                runs,
                usage,
            ));
        }
        if stopped {
            interrupted = true;
            break;
        }
    }
    if done.is_empty() {
        return Err(crate::error::Failed::NothingRan.into());
    }
    let report = report_of(
        &targets,
        &pids,
        &baseline,
        &limits,
        a.repeats,
        done,
        interrupted,
    );
    super::print(&render_text(&report))?;
    a.out.write(
        &report,
        Renderers {
            markdown: render_markdown,
            csv: render_csv,
            html: render_html,
        },
    )?;
    Ok(())
}

/// One level's runs (`runs[i]`: target i's rounds) and server usage per run;
/// true when Ctrl-C stopped it.
type LevelRuns = (Vec<Vec<RunResult>>, Vec<Vec<ServerUsage>>, bool);

/// One comparison at `connections`: interleaved, rotating rounds, each target's
/// server sampled during its own runs only.
fn measure_level(
    a: &Args,
    machine: &Machine,
    targets: &[(String, String)],
    pids: &[Option<i32>],
    connections: usize,
) -> Result<LevelRuns, CliError> {
    let n = targets.len();
    let mut runs: Vec<Vec<RunResult>> = vec![Vec::new(); n];
    let mut usage: Vec<Vec<ServerUsage>> = vec![Vec::new(); n];
    for round in 0..a.repeats {
        for k in 0..n {
            // Rotate the order each round: nobody always runs first (cold) or last.
            let i = (k + round) % n;
            let (name, url) = &targets[i];
            shared::say!(
                "ceiling compare: {connections} connections, round {}/{}: {name}",
                round + 1,
                a.repeats
            );
            let sampler = pids[i].map(|p| Sampler::start(vec![p], sampler::EVERY));
            let ran = run_load(&load_for(a, url, connections)?, machine);
            let server = sampler.map(Sampler::finish);
            let (_, result) = ran?;
            if let Some(u) = server {
                for pid in &u.exited {
                    shared::say!("ceiling compare: server PID {pid} of {name} is gone; its figures stop there");
                }
                for line in sampler::warnings(&u) {
                    shared::say!("ceiling compare: {name}: {line}");
                }
                usage[i].push(u);
            }
            let stop = result.interrupted;
            runs[i].push(result);
            if stop {
                return Ok((runs, usage, true));
            }
        }
    }
    Ok((runs, usage, false))
}

/// The summaries and the winner of one level.
pub fn level_of(
    targets: &[(String, String)],
    baseline: &str,
    limits: &Limits,
    connections: usize,
    runs: Vec<Vec<RunResult>>,
    usage: Vec<Vec<ServerUsage>>,
) -> Level {
    let base_index = targets.iter().position(|(n, _)| n == baseline).unwrap_or(0);
    let base_rps: Vec<f64> = runs[base_index]
        .iter()
        .map(|r| r.requests_per_sec)
        .collect();
    let summaries: Vec<TargetSummary> = targets
        .iter()
        .zip(runs)
        .zip(usage)
        .enumerate()
        .map(|(i, (((name, url), runs), usage))| {
            let base = (i != base_index).then_some(&base_rps[..]);
            summarise(name, url, runs, &usage, base, limits)
        })
        .collect();
    let mut summaries = summaries;
    let base = &summaries[base_index];
    if base.error_pct > limits.max_errors_pct {
        let why = format!(
            "baseline {} had {:.2}% errors, over the {}% budget",
            base.name, base.error_pct, limits.max_errors_pct
        );
        for (i, t) in summaries.iter_mut().enumerate() {
            if i != base_index {
                t.vs_baseline = Some(Ratio {
                    ratio: None,
                    low: None,
                    high: None,
                    rounds: 0,
                    within_noise: None,
                });
                t.vs_baseline_na = Some(why.clone());
            }
        }
    }
    let (verdict, winner) = verdict(&summaries, limits);
    Level {
        connections,
        targets: summaries,
        verdict,
        winner,
    }
}

fn median_u64(v: impl Iterator<Item = u64>) -> u64 {
    let v: Vec<f64> = v.map(|x| x as f64).collect();
    stats::median(&v).unwrap_or(0.0).round() as u64
}

fn summarise(
    name: &str,
    url: &str,
    runs: Vec<RunResult>,
    usage: &[ServerUsage],
    base: Option<&[f64]>,
    limits: &Limits,
) -> TargetSummary {
    let rps: Vec<f64> = runs.iter().map(|r| r.requests_per_sec).collect();
    let mut counters = shared::stats::Counters::default();
    for r in &runs {
        counters += r.counters;
    }
    let (errors, error_pct) = error_rate(&counters);
    // Only rounds that completed requests have latencies: an empty one is no 0 µs.
    let measured: Vec<&RunResult> = runs.iter().filter(|r| r.latency.count > 0).collect();
    let at = |p: f64| {
        (!measured.is_empty()).then(|| median_u64(measured.iter().map(|r| latency_at(r, p))))
    };
    let achieved: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.rate.as_ref().map(|x| x.achieved_pct))
        .collect();
    let means: Vec<f64> = measured.iter().map(|r| r.latency.mean).collect();
    let mut t = TargetSummary {
        name: name.to_string(),
        url: crate::redact::url(url),
        median_rps: stats::median(&rps).unwrap_or(0.0),
        min_rps: rps.iter().copied().reduce(f64::min).unwrap_or(0.0),
        max_rps: rps.iter().copied().reduce(f64::max).unwrap_or(0.0),
        mean_rps: stats::mean(&rps).unwrap_or(0.0),
        ci95_rps: stats::ci95(&rps),
        errors,
        attempts: counters.sent + counters.errors.connection_errors(),
        error_pct,
        error_classes: ErrorClasses::of(&counters),
        mean_us: stats::median(&means),
        p50_us: at(50.0),
        p95_us: at(95.0),
        p99_us: at(99.0),
        slo_value_us: limits.slo.as_ref().and_then(|s| at(s.percentile)),
        achieved_pct: stats::median(&achieved),
        // Runs that found no live process measured nothing: n/a, not 0% and 0 MiB.
        server: ServerUsage::combine(usage).filter(|u| u.live_samples > 0),
        failures: Vec::new(),
        vs_baseline: base.map(|b| ratio(&rps, b)),
        vs_baseline_na: None,
        rps,
        runs,
    };
    t.failures = super::ramp::verdict_failures(&t.observed(), limits);
    t
}

/// The rule a winner is chosen by, in words.
pub fn rule(limits: &Limits) -> String {
    let slo = limits
        .slo
        .as_ref()
        .map_or(String::new(), |s| format!(" and {}", s.text));
    format!(
        "Winner: the highest median requests/s among the targets that meet the error budget ({}% errors){slo}; a level where no target meets them has no winner.",
        limits.max_errors_pct
    )
}

/// The winner by [`rule`] and a line that says how clear its lead is.
fn verdict(targets: &[TargetSummary], limits: &Limits) -> (String, Option<String>) {
    let mut ok: Vec<&TargetSummary> = targets
        .iter()
        .filter(|t| t.failures.is_empty() && t.median_rps > 0.0)
        .collect();
    ok.sort_by(|x, y| y.median_rps.total_cmp(&x.median_rps));
    let Some(best) = ok.first() else {
        let limits_text = match &limits.slo {
            Some(s) => format!("{}% errors and {}", limits.max_errors_pct, s.text),
            None => format!("{}% errors", limits.max_errors_pct),
        };
        return (
            format!("no winner: no target completed requests and met {limits_text}"),
            None,
        );
    };
    let Some(second) = ok.get(1) else {
        return (
            format!(
                "winner: {} (the only target that met the limits)",
                best.name
            ),
            Some(best.name.clone()),
        );
    };
    // The lead in the statistic the table and the rule use (medians); the noise
    // from the paired rounds (geometric mean of their ratios and its interval).
    let ahead = 100.0 * (best.median_rps / second.median_rps - 1.0);
    let r = ratio(&best.rps, &second.rps);
    let interval = |x: f64| {
        format!(
            "95% interval of the paired-round ratio {:.3}..{:.3}",
            r.low.unwrap_or(x),
            r.high.unwrap_or(x)
        )
    };
    let head = format!("{ahead:.1}% ahead of {} by median requests/s", second.name);
    let lead = match (r.ratio, r.within_noise) {
        (Some(x), Some(false)) if x < 1.0 => format!(
            "{head}, but behind it in the paired rounds (not a clear lead): {}",
            interval(x)
        ),
        (Some(x), Some(false)) => {
            format!("{head}, beyond the run-to-run noise: {}", interval(x))
        }
        (Some(x), Some(true)) => format!(
            "{head}, within the run-to-run noise (not a clear lead): {}",
            interval(x)
        ),
        (Some(_), None) => format!("{head}; {}", stats::no_estimate(r.rounds)),
        (None, _) => format!("{head}; {} has no paired rounds to compare", second.name),
    };
    (
        format!("winner: {} ({lead})", best.name),
        Some(best.name.clone()),
    )
}

/// The report of measured levels: breaking points from the levels in order.
pub fn report_of(
    targets: &[(String, String)],
    pids: &[Option<i32>],
    baseline: &str,
    limits: &Limits,
    repeats: usize,
    levels: Vec<Level>,
    interrupted: bool,
) -> CompareReport {
    let targets = targets
        .iter()
        .enumerate()
        .map(|(i, (name, url))| {
            let observed: Vec<Observed> = levels.iter().map(|l| l.targets[i].observed()).collect();
            Target {
                name: name.clone(),
                url: crate::redact::url(url),
                server_pid: pids.get(i).copied().flatten(),
                breaking_point: first_break(&observed, limits).map(|(k, reasons)| BreakingPoint {
                    connections: levels[k].connections,
                    reasons,
                }),
            }
        })
        .collect();
    CompareReport {
        schema: SCHEMA.into(),
        meta: levels[0].targets[0].runs[0].meta.clone(),
        repeats,
        baseline: baseline.to_string(),
        max_errors_pct: limits.max_errors_pct,
        slo: limits.slo.clone(),
        rule: rule(limits),
        sample_every_ms: sampler::EVERY.as_millis() as u64,
        targets,
        levels,
        interrupted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::fixture::result;

    fn usage(cpu: f64, mib: f64) -> ServerUsage {
        ServerUsage {
            avg_cpu_pct: cpu,
            peak_cpu_pct: cpu + 5.0,
            cpus: 2.0,
            cpu_s: cpu / 100.0,
            wall_s: 1.0,
            avg_rss_mib: mib,
            peak_rss_mib: mib + 1.0,
            samples: 5,
            processes: 3,
            started: 0,
            ended: 0,
            exited: Vec::new(),
            sampler_cpu_pct: 0.1,
            live_samples: 5,
            ..Default::default()
        }
    }

    fn two() -> Vec<(String, String)> {
        vec![
            ("a".to_string(), "http://127.0.0.1:1/".to_string()),
            ("b".to_string(), "http://127.0.0.1:2/".to_string()),
        ]
    }

    /// Medians 1100 vs 1000 (+10%) while the geometric mean of the paired rounds is
    /// ~+4.9%: the verdict states the medians, as the table and the rule do.
    #[test]
    fn the_lead_is_stated_in_medians() {
        let limits = Limits {
            max_errors_pct: 1.0,
            slo: None,
        };
        let runs = vec![
            vec![
                result(1000.0, 100, 200, 0),
                result(1100.0, 100, 200, 0),
                result(1200.0, 100, 200, 0),
            ],
            vec![
                result(1000.0, 100, 200, 0),
                result(1000.0, 100, 200, 0),
                result(1000.0, 100, 200, 0),
            ],
        ];
        let l = level_of(&two(), "b", &limits, 1, runs, vec![vec![], vec![]]);
        assert_eq!(l.winner.as_deref(), Some("a"));
        assert!(
            l.verdict.contains("10.0% ahead of b by median requests/s"),
            "{}",
            l.verdict
        );
        assert!(l.verdict.contains("paired-round ratio"), "{}", l.verdict);
    }

    /// A baseline that answered with errors (over the budget): the others' ratios
    /// to it are n/a, with the reason, not "42x slower".
    #[test]
    fn no_ratio_against_a_failing_baseline() {
        let limits = Limits {
            max_errors_pct: 1.0,
            slo: None,
        };
        let runs = vec![
            vec![result(50000.0, 10, 20, 999), result(51000.0, 10, 20, 999)],
            vec![result(1000.0, 100, 200, 0), result(1010.0, 100, 200, 0)],
        ];
        let l = level_of(&two(), "a", &limits, 1, runs, vec![vec![], vec![]]);
        let b = &l.targets[1];
        assert_eq!(b.vs_baseline.and_then(|r| r.ratio), None);
        let why = b.vs_baseline_na.as_deref().expect("a reason");
        assert!(why.contains("baseline a had 99.90% errors"), "{why}");
        assert_eq!(
            render::ratio_text(b),
            format!("n/a ({why})"),
            "the table says it"
        );
        // A healthy baseline keeps its ratio.
        let runs = vec![
            vec![result(2000.0, 10, 20, 0), result(2000.0, 10, 20, 0)],
            vec![result(1000.0, 100, 200, 0), result(1000.0, 100, 200, 0)],
        ];
        let l = level_of(&two(), "a", &limits, 1, runs, vec![vec![], vec![]]);
        assert_eq!(l.targets[1].vs_baseline.and_then(|r| r.ratio), Some(0.5));
        assert_eq!(l.targets[1].vs_baseline_na, None);
    }

    /// A server gone before its runs: no live sample, so no 0% / 0 MiB figures;
    /// gone half-way: its memory average is over the samples that found it.
    #[test]
    fn a_gone_server_has_no_figures() {
        let limits = Limits {
            max_errors_pct: 1.0,
            slo: None,
        };
        let gone = ServerUsage {
            cpus: 1.0,
            wall_s: 1.0,
            samples: 5,
            exited: vec![100],
            ..Default::default()
        };
        let runs = vec![
            vec![result(1000.0, 100, 200, 0)],
            vec![result(1000.0, 100, 200, 0)],
        ];
        let l = level_of(
            &two(),
            "a",
            &limits,
            1,
            runs,
            vec![vec![gone.clone()], vec![usage(50.0, 20.0)]],
        );
        assert!(l.targets[0].server.is_none(), "{:?}", l.targets[0].server);
        assert!(l.targets[1].server.is_some());
        let half = ServerUsage {
            live_samples: 2,
            avg_rss_mib: 30.0,
            ..gone.clone()
        };
        let both = ServerUsage::combine(&[gone, usage(50.0, 20.0), half]).unwrap();
        // (5 x 20 + 2 x 30) / 7 live samples; the CPUs of a run that saw it alive.
        assert!((both.avg_rss_mib - 160.0 / 7.0).abs() < 1e-9, "{both:?}");
        assert_eq!(both.cpus, 2.0);
    }

    /// A target where nothing completed (every connect refused): its latency is
    /// n/a in text and Markdown, empty in CSV, null in JSON, never 0 µs.
    #[test]
    fn no_latency_where_nothing_completed() {
        let limits = Limits {
            max_errors_pct: 1.0,
            slo: Some(Slo::parse("p99<5ms").unwrap()),
        };
        let mut dead = result(0.0, 0, 0, 0);
        dead.latency.count = 0;
        dead.latency.mean = 0.0;
        dead.counters.sent = 0;
        dead.counters.completed = 0;
        dead.counters.status = Default::default();
        dead.counters.errors.connect = 50;
        let runs = vec![vec![dead], vec![result(1000.0, 100, 200, 0)]];
        let l = level_of(&two(), "a", &limits, 1, runs, vec![vec![], vec![]]);
        let t = &l.targets[0];
        assert_eq!(
            (t.mean_us, t.p50_us, t.p95_us, t.p99_us, t.slo_value_us),
            (None, None, None, None, None)
        );
        assert_eq!(l.targets[1].p99_us, Some(200));
        let json = serde_json::to_value(t).unwrap();
        assert!(
            json["mean_us"].is_null() && json["p99_us"].is_null(),
            "{json}"
        );
        let r = report_of(&two(), &[None, None], "a", &limits, 1, vec![l], false);
        let csv = render_csv(&r);
        let row = csv.lines().nth(1).unwrap();
        assert!(row.contains(",,,,"), "mean..p99 empty: {row}");
        let text = render_text(&r);
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with("1 ") || l.contains(" a "))
            .unwrap();
        assert!(line.contains("n/a"), "{line}\n{text}");
        assert!(!text.contains(" 0.00us"), "{text}");
        assert!(!render_markdown(&r).contains(" 0.00us"));
    }

    /// Two targets at three levels; `flaky` fails 5% of its requests from 40
    /// connections on, though it is the fastest there.
    fn report(repeats: usize, slo: Option<&str>) -> CompareReport {
        let targets = vec![
            ("steady".to_string(), "http://127.0.0.1:8081/".to_string()),
            (
                "flaky".to_string(),
                "http://u:pw@127.0.0.1:8080/".to_string(),
            ),
        ];
        let limits = Limits {
            max_errors_pct: 1.0,
            slo: slo.map(|s| Slo::parse(s).unwrap()),
        };
        let levels = [10usize, 20, 40]
            .iter()
            .map(|&c| {
                let k = c as f64 / 10.0;
                let round = |base: f64, p99: u64, errors: u64| -> Vec<RunResult> {
                    (0..repeats)
                        .map(|i| result(base * k + 10.0 * i as f64, p99 / 4, p99, errors))
                        .collect()
                };
                let flaky_errors = if c >= 40 { 50 } else { 0 };
                let runs = vec![round(1000.0, 900, 0), round(1500.0, 400, flaky_errors)];
                let usage = vec![
                    vec![usage(50.0 * k, 20.0); repeats],
                    vec![usage(90.0 * k, 80.0); repeats],
                ];
                level_of(&targets, "steady", &limits, c, runs, usage)
            })
            .collect();
        report_of(
            &targets,
            &[Some(100), Some(200)],
            "steady",
            &limits,
            repeats,
            levels,
            false,
        )
    }

    /// The layouts, pinned.
    #[test]
    fn layouts() {
        let r = report(3, None);
        let text = render_text(&r);
        assert!(!text.contains("pw@"), "{text}");
        crate::campaign::fixture::snapshot("compare", &text);
        crate::campaign::fixture::snapshot("compare.md", &render_markdown(&r));
        crate::campaign::fixture::snapshot("compare.csv", &render_csv(&r));
        assert!(!serde_json::to_string(&r).unwrap().contains("pw@"));
    }

    /// TLS failures are classes of their own: handshakes beside connects (they
    /// count as attempts), requests lost after one beside the request errors.
    #[test]
    fn tls_errors_are_classes_of_their_own() {
        let mut r = result(10_000.0, 300, 900, 0);
        r.counters.errors.tls_handshake = 10;
        r.counters.errors.tls = 40;
        r.counters.errors.read = 0;
        r.counters.completed -= 40;
        r.counters.status.success -= 40;
        let limits = Limits {
            max_errors_pct: 1.0,
            slo: None,
        };
        let t = summarise("tls", "https://x/", vec![r], &[], None, &limits);
        assert_eq!(t.error_classes.tls_handshake, 10);
        assert_eq!(t.error_classes.tls, 40);
        assert_eq!(
            t.error_classes.nonzero(),
            [("tls handshake", 10), ("tls", 40)]
        );
        assert_eq!((t.errors, t.attempts), (50, 1010));
        assert_eq!(render::classes_cell(&t), "tls handshake 0.99%, tls 3.96%");
        // Reports written before the classes existed still read.
        let old: ErrorClasses = serde_json::from_str(
            r#"{"connect":1,"read":0,"write":0,"timeout":0,"invalid":0,"status_4xx":0,"status_5xx":0,"status_other":0}"#,
        )
        .unwrap();
        assert_eq!((old.connect, old.tls, old.tls_handshake), (1, 0, 0));
    }

    /// A target past the error budget loses the level it would win on throughput,
    /// and that level is its breaking point.
    #[test]
    fn the_error_budget_decides_the_winner_and_the_breaking_point() {
        let r = report(3, None);
        let winners: Vec<Option<&str>> = r.levels.iter().map(|l| l.winner.as_deref()).collect();
        assert_eq!(winners, [Some("flaky"), Some("flaky"), Some("steady")]);
        let flaky = &r.levels[2].targets[1];
        assert!(flaky.median_rps > r.levels[2].targets[0].median_rps);
        assert_eq!(flaky.error_classes.read, 150);
        assert_eq!(flaky.failures, ["errors 5.00% > 1%"]);
        assert_eq!(r.targets[0].breaking_point, None);
        assert_eq!(
            r.targets[1].breaking_point,
            Some(BreakingPoint {
                connections: 40,
                reasons: vec!["errors 5.00% > 1%".into()]
            })
        );
        assert!(r.levels[2]
            .verdict
            .starts_with("winner: steady (the only target"));
        // An SLO neither meets: no winner anywhere, and it says so.
        let r = report(3, Some("p99<100us"));
        for l in &r.levels {
            assert_eq!(l.winner, None);
            assert!(l.verdict.starts_with("no winner:"), "{}", l.verdict);
        }
        assert!(r.rule.contains("p99<100us"), "{}", r.rule);
        // One round: a winner by the rule, no claim about the noise.
        let r = report(1, None);
        assert_eq!(r.levels[0].winner.as_deref(), Some("flaky"));
        assert!(
            r.levels[0].verdict.contains("no noise estimate"),
            "{}",
            r.levels[0].verdict
        );
        assert!(!render_text(&r).contains("NaN"));
    }

    /// Splits a Markdown table's rows into cells.
    fn md_rows(block: &str) -> Vec<Vec<String>> {
        block
            .lines()
            .take_while(|l| l.starts_with('|'))
            .filter(|l| !l.starts_with("|---"))
            .map(|l| {
                l.trim_matches('|')
                    .split(" | ")
                    .map(|c| c.trim().to_string())
                    .collect()
            })
            .collect()
    }

    /// The summary's winner and figures are the details' at every level, as the
    /// Markdown shows them; the summary comes first, then a section per target,
    /// each with every level.
    #[test]
    fn the_summary_agrees_with_the_details() {
        let r = report(3, None);
        let md = render_markdown(&r);
        let summary_at = md.find("## Summary\n\n").expect("a summary") + "## Summary\n\n".len();
        let summary = md_rows(&md[summary_at..]);
        let (head, rows) = (&summary[0], &summary[1..]);
        assert_eq!(rows.len(), r.levels.len());
        let mut last = summary_at;
        for t in &r.targets {
            let at = md.find(&format!("\n## {}\n", t.name)).expect("a section");
            assert!(at > last, "sections follow the summary in order");
            last = at;
            let table_at = at + md[at..].find("\n|").unwrap() + 1;
            let details = md_rows(&md[table_at..]);
            let dh = &details[0];
            assert_eq!(details.len() - 1, r.levels.len(), "{}", t.name);
            for (row, drow) in rows.iter().zip(&details[1..]) {
                assert_eq!(row[0], drow[0], "the same level");
                let col = |h: &[String], name: &str| h.iter().position(|x| x == name).unwrap();
                for (sum_col, det_col) in [
                    ("req/s", "req/s"),
                    ("err %", "err %"),
                    ("mean", "mean"),
                    ("p95", "p95"),
                    ("p99", "p99"),
                    ("CPU avg", "CPU avg"),
                    ("MiB avg", "MiB avg"),
                    ("MiB peak", "MiB peak"),
                ] {
                    assert_eq!(
                        row[col(head, &format!("{} {sum_col}", t.name))],
                        drow[col(dh, det_col)],
                        "{} {sum_col} at {} connections",
                        t.name,
                        row[0]
                    );
                }
                let won = row[col(head, "Winner")] == t.name;
                assert_eq!(
                    drow[col(dh, "winner")] == "yes",
                    won,
                    "{} at {}",
                    t.name,
                    row[0]
                );
            }
        }
        // And each level's winner is the best qualifying target in the model.
        for l in &r.levels {
            let best = l
                .targets
                .iter()
                .filter(|t| t.failures.is_empty())
                .max_by(|a, b| a.median_rps.total_cmp(&b.median_rps))
                .map(|t| t.name.clone());
            assert_eq!(l.winner, best);
        }
    }

    /// The CSV rows carry the JSON's figures.
    #[test]
    fn csv_agrees_with_the_json() {
        let r = report(3, None);
        let json: serde_json::Value = serde_json::to_value(&r).unwrap();
        let csv = render_csv(&r);
        let mut lines = csv.lines();
        let head: Vec<&str> = lines.next().unwrap().split(',').collect();
        let col = |n: &str| head.iter().position(|h| *h == n).unwrap();
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
        assert_eq!(rows.len(), 6);
        for row in rows {
            let level = json["levels"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| {
                    l["connections"].as_u64().map(|c| c.to_string()).as_deref()
                        == Some(row[col("connections")])
                })
                .unwrap();
            let t = level["targets"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["name"] == row[col("target")])
                .unwrap();
            let median: f64 = row[col("median_rps")].parse().unwrap();
            assert!((median - t["median_rps"].as_f64().unwrap()).abs() < 0.01);
            assert_eq!(row[col("p99_us")], t["p99_us"].to_string());
            assert_eq!(row[col("errors")], t["errors"].to_string());
            let cpu: f64 = row[col("server_cpu_avg_pct")].parse().unwrap();
            assert!((cpu - t["server"]["avg_cpu_pct"].as_f64().unwrap()).abs() < 0.01);
            assert_eq!(row[col("winner")] == "true", level["winner"] == t["name"]);
        }
    }
}
