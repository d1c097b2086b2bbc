//! `ceiling compare NAME=URL NAME=URL ...`: the same workload against each target,
//! interleaved over rounds (the order rotating each round) so a noisy machine does
//! not favour one side; medians, spread, 95% confidence intervals, the winner, and
//! each target relative to the baseline, saying plainly when a difference is
//! within the run-to-run noise.

use super::stats::{self, ratio, times, Ratio};
use super::{parse_target, plan_for, run_load, Reach, Renderers, ReportFiles};
use crate::error::CliError;
use crate::meta::Meta;
use crate::options::{
    self, ConnArgs, MachineArgs, Parsed, RateArgs, RequestArgs, StopArgs, UsageError,
};
use crate::plan::{Load, Machine};
use crate::result::RunResult;
use clap::Parser;
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::fmt::Write as _;
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
    /// Compare at several connection counts, e.g. 10,20,40 (a winner per level)
    #[arg(long, value_delimiter = ',', conflicts_with = "connections", value_parser = options::connections_value, allow_hyphen_values = true)]
    levels: Vec<usize>,
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

/// Median, spread and a 95% confidence interval of one target's requests/s.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetSummary {
    pub name: String,
    /// The URL, its password masked.
    pub url: String,
    pub rps: Vec<f64>,
    pub median_rps: f64,
    pub min_rps: f64,
    pub max_rps: f64,
    pub mean_rps: f64,
    /// Half-width of the 95% confidence interval of the mean (Student's t); None
    /// with one round (no noise estimate).
    pub ci95_rps: Option<f64>,
    pub median_p99_us: u64,
    pub errors: u64,
    /// errors / (requests sent + connect attempts that failed), over all rounds, in percent.
    pub error_pct: f64,
    /// Geometric mean of the per-round ratios to the baseline, with its 95% interval.
    pub vs_baseline: Option<Ratio>,
    pub runs: Vec<RunResult>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompareReport {
    pub schema: String,
    pub meta: Meta,
    pub repeats: usize,
    pub baseline: String,
    /// One comparison per connection count (one level unless --levels).
    pub levels: Vec<Level>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Level {
    pub connections: usize,
    pub targets: Vec<TargetSummary>,
    /// One line: the winner, or that there is none beyond the noise (or no
    /// noise estimate to tell).
    pub verdict: String,
    /// The winner's name; None when the best two are within the noise, or
    /// when there is no noise estimate.
    pub winner: Option<String>,
}

/// `ceiling compare ARGS` (args[0] is "compare").
pub fn main(args: &[OsString]) -> Result<(), CliError> {
    command(args, Reach::Whole)
}

/// `main` as far as `reach` goes.
pub fn command(args: &[OsString], reach: Reach) -> Result<(), CliError> {
    let a = match options::parse_args::<Args>(args)? {
        Parsed::Args(a) => a,
        Parsed::Info(text) => {
            if reach == Reach::Whole {
                print!("{text}");
            }
            return Ok(());
        }
    };
    run(a, reach)
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
    Ok(load)
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
    let levels = if a.levels.is_empty() {
        vec![a.conn.connections.unwrap_or(64)]
    } else {
        a.levels.clone()
    };
    // Every run's plan, before any load.
    for (_, url) in &targets {
        for &c in &levels {
            plan_for(&load_for(&a, url, c)?, &machine)?;
        }
    }
    a.out.check()?;
    if reach == Reach::Checks {
        return Ok(());
    }

    let mut done = Vec::with_capacity(levels.len());
    for &connections in &levels {
        done.push(measure_level(
            &a,
            &machine,
            &targets,
            &baseline,
            connections,
        )?);
    }
    let report = CompareReport {
        schema: "ceiling.compare/1".into(),
        meta: done[0].targets[0].runs[0].meta.clone(),
        repeats: a.repeats,
        baseline,
        levels: done,
    };
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

/// One comparison at `connections`: interleaved, rotating rounds.
fn measure_level(
    a: &Args,
    machine: &Machine,
    targets: &[(String, String)],
    baseline: &str,
    connections: usize,
) -> Result<Level, CliError> {
    let n = targets.len();
    let mut runs: Vec<Vec<RunResult>> = vec![Vec::new(); n];
    for round in 0..a.repeats {
        for k in 0..n {
            // Rotate the order each round: nobody always runs first (cold) or last.
            let i = (k + round) % n;
            let (name, url) = &targets[i];
            eprintln!(
                "ceiling compare: {connections} connections, round {}/{}: {name}",
                round + 1,
                a.repeats
            );
            let (_, result) = run_load(&load_for(a, url, connections)?, machine)?;
            runs[i].push(result);
        }
    }
    Ok(level_of(targets, baseline, connections, runs))
}

/// The summaries and the verdict of one level's runs (`runs[i]`: target i's rounds).
pub fn level_of(
    targets: &[(String, String)],
    baseline: &str,
    connections: usize,
    runs: Vec<Vec<RunResult>>,
) -> Level {
    let base_index = targets.iter().position(|(n, _)| n == baseline).unwrap_or(0);
    let base_rps: Vec<f64> = runs[base_index]
        .iter()
        .map(|r| r.requests_per_sec)
        .collect();
    let summaries: Vec<TargetSummary> = targets
        .iter()
        .zip(runs)
        .enumerate()
        .map(|(i, ((name, url), runs))| {
            summarise(name, url, runs, (i != base_index).then_some(&base_rps[..]))
        })
        .collect();
    let (verdict, winner) = verdict(&summaries, baseline);
    Level {
        connections,
        targets: summaries,
        verdict,
        winner,
    }
}

fn summarise(name: &str, url: &str, runs: Vec<RunResult>, base: Option<&[f64]>) -> TargetSummary {
    let rps: Vec<f64> = runs.iter().map(|r| r.requests_per_sec).collect();
    let p99s: Vec<f64> = runs.iter().map(|r| r.latency.at(99.0) as f64).collect();
    let errors: u64 = runs
        .iter()
        .map(|r| r.counters.request_errors() + r.counters.errors.connect)
        .sum();
    let attempts: u64 = runs
        .iter()
        .map(|r| r.counters.sent + r.counters.errors.connect)
        .sum();
    TargetSummary {
        name: name.to_string(),
        url: crate::redact::url(url),
        median_rps: stats::median(&rps).unwrap_or(0.0),
        min_rps: rps.iter().copied().reduce(f64::min).unwrap_or(0.0),
        max_rps: rps.iter().copied().reduce(f64::max).unwrap_or(0.0),
        mean_rps: stats::mean(&rps).unwrap_or(0.0),
        ci95_rps: stats::ci95(&rps),
        median_p99_us: stats::median(&p99s).unwrap_or(0.0) as u64,
        errors,
        error_pct: if attempts > 0 {
            100.0 * errors as f64 / attempts as f64
        } else {
            0.0
        },
        vs_baseline: base.map(|b| ratio(&rps, b)),
        rps,
        runs,
    }
}

fn verdict(targets: &[TargetSummary], baseline: &str) -> (String, Option<String>) {
    let mut order: Vec<&TargetSummary> = targets.iter().collect();
    order.sort_by(|x, y| y.median_rps.total_cmp(&x.median_rps));
    let (best, second) = (order[0], order[1]);
    if best.median_rps <= 0.0 {
        return ("no winner: no target completed a request".into(), None);
    }
    let r = ratio(&best.rps, &second.rps);
    let Some(rr) = r.ratio else {
        // The runner-up completed nothing in any round: no ratio, but a winner.
        return (
            format!(
                "winner: {} ({} completed no requests)",
                best.name, second.name
            ),
            Some(best.name.clone()),
        );
    };
    let pct = 100.0 * (rr - 1.0);
    match r.within_noise {
        None => (
            format!(
                "no verdict: {} ahead of {} by {pct:.1}% (ratio {rr:.3}), but {}",
                best.name,
                second.name,
                stats::no_estimate(r.rounds)
            ),
            None,
        ),
        Some(true) => (
            format!(
                "no clear winner: {} and {} differ by {pct:.1}%, within the run-to-run noise (95% interval of the ratio {:.3}..{:.3})",
                best.name,
                second.name,
                r.low.unwrap_or(rr),
                r.high.unwrap_or(rr)
            ),
            None,
        ),
        Some(false) => {
            let vs = targets
                .iter()
                .find(|t| t.name == baseline)
                .filter(|b| b.name != best.name)
                .map(|b| {
                    let r = ratio(&best.rps, &b.rps);
                    match (r.ratio, r.low, r.high) {
                        (Some(x), Some(lo), Some(hi)) => format!(
                            " ({} vs {baseline}, 95% interval {lo:.2}..{hi:.2})",
                            times(x)
                        ),
                        (Some(x), _, _) => format!(" ({} vs {baseline})", times(x)),
                        _ => format!(" ({baseline} completed no requests)"),
                    }
                })
                .unwrap_or_default();
            (
                format!("winner: {}{vs}", best.name),
                Some(best.name.clone()),
            )
        }
    }
}

fn ratio_text(t: &TargetSummary) -> String {
    let Some(r) = t.vs_baseline else {
        return "baseline".into();
    };
    let Some(x) = r.ratio else {
        return "n/a (no throughput to compare)".into();
    };
    match (r.low, r.high, r.within_noise) {
        (Some(lo), Some(hi), Some(true)) => format!("{x:.3}x [{lo:.3}, {hi:.3}]: within noise"),
        // The interval in the same direction as the words.
        (Some(lo), Some(hi), _) if x >= 1.0 => format!("{} [{lo:.2}, {hi:.2}]", times(x)),
        (Some(lo), Some(hi), _) => format!("{} [{:.2}, {:.2}]", times(x), 1.0 / hi, 1.0 / lo),
        _ => format!("{}: no noise estimate ({} round)", times(x), r.rounds),
    }
}

fn us(v: f64) -> String {
    crate::report::text::time_us(v)
}

pub fn render_text(r: &CompareReport) -> String {
    let mut s = String::new();
    let m = &r.meta;
    let _ = writeln!(
        s,
        "{}, interleaved; {} ({} CPUs, {}); each run: `{}`",
        super::rounds(r.repeats),
        m.kernel,
        m.nproc,
        m.cpu_model,
        r.levels[0].targets[0].runs[0].meta.command_line
    );
    for level in &r.levels {
        if r.levels.len() > 1 {
            let _ = writeln!(s, "\n{} connections", level.connections);
        }
        let _ = writeln!(
            s,
            "{:<16} {:>12} {:>12} {:>12} {:>18} {:>10} {:>8}  vs {}",
            "target", "median rps", "min", "max", "mean ± 95%", "p99", "errors", r.baseline
        );
        for t in &level.targets {
            let _ = writeln!(
                s,
                "{:<16} {:>12.0} {:>12.0} {:>12.0} {:>18} {:>10} {:>7.2}%  {}",
                t.name,
                t.median_rps,
                t.min_rps,
                t.max_rps,
                stats::mean_text(Some(t.mean_rps), t.ci95_rps),
                us(t.median_p99_us as f64),
                t.error_pct,
                ratio_text(t)
            );
        }
        let _ = writeln!(s, "{}", level.verdict);
    }
    if r.levels.len() > 1 {
        s.push('\n');
        s.push_str(&winners_table(r, false));
    }
    s
}

/// The "winner per concurrency level" table (plain text or Markdown).
fn winners_table(r: &CompareReport, markdown: bool) -> String {
    let names: Vec<&str> = r.levels[0]
        .targets
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    let mut head = vec!["Connections".to_string()];
    head.extend(names.iter().map(|n| format!("{n} RPS")));
    head.extend(names.iter().map(|n| format!("{n} Err %")));
    head.push("Winner".into());
    let mut rows = Vec::new();
    for level in &r.levels {
        let mut row = vec![level.connections.to_string()];
        row.extend(level.targets.iter().map(|t| format!("{:.2}", t.median_rps)));
        row.extend(level.targets.iter().map(|t| format!("{:.2}%", t.error_pct)));
        row.push(level.winner.clone().unwrap_or_else(|| "none".into()));
        rows.push(row);
    }
    let mut s = String::new();
    if markdown {
        let _ = writeln!(s, "| {} |", head.join(" | "));
        let _ = writeln!(s, "|{}", "---|".repeat(head.len()));
        for row in rows {
            let _ = writeln!(s, "| {} |", row.join(" | "));
        }
    } else {
        let _ = writeln!(s, "Winner per concurrency level:");
        let widths: Vec<usize> = (0..head.len())
            .map(|i| {
                rows.iter()
                    .map(|r| r[i].len())
                    .chain([head[i].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| {
            cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:>w$}"))
                .collect::<Vec<_>>()
                .join("  ")
        };
        let _ = writeln!(s, "{}", line(&head));
        for row in &rows {
            let _ = writeln!(s, "{}", line(row));
        }
    }
    s
}

pub fn render_markdown(r: &CompareReport) -> String {
    let mut s = String::new();
    let m = &r.meta;
    let _ = writeln!(s, "# Comparison\n");
    let _ = writeln!(
        s,
        "{} · {} CPUs ({}) · {} rounds, interleaved · {}\n\nEach run: `{}`\n",
        m.kernel,
        m.nproc,
        m.cpu_model,
        r.repeats,
        m.started_at,
        r.levels[0].targets[0].runs[0].meta.command_line
    );
    if r.levels.len() > 1 {
        let _ = writeln!(s, "## Summary\n\n{}", winners_table(r, true));
    }
    for level in &r.levels {
        if r.levels.len() > 1 {
            let _ = writeln!(s, "## {} connections\n", level.connections);
        }
        let _ = writeln!(
            s,
            "| Target | Median RPS | Min | Max | Mean ± 95% | p99 | Err % | Relative to {} |",
            r.baseline
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
        for t in &level.targets {
            let _ = writeln!(
                s,
                "| {} | {:.0} | {:.0} | {:.0} | {} | {} | {:.2}% | {} |",
                t.name,
                t.median_rps,
                t.min_rps,
                t.max_rps,
                stats::mean_text(Some(t.mean_rps), t.ci95_rps),
                us(t.median_p99_us as f64),
                t.error_pct,
                ratio_text(t)
            );
        }
        let _ = writeln!(s, "\n{}\n", level.verdict);
    }
    s
}

/// The Markdown tables as an HTML page, with the charts: median requests/s (with
/// its min..max spread as separate series) and median p99 against connections.
pub fn render_html(r: &CompareReport) -> String {
    use crate::report::html::{escape, page, xy_chart};
    let names: Vec<&str> = r.levels[0]
        .targets
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    let series = |f: &dyn Fn(&TargetSummary) -> f64| -> Vec<(String, Vec<(f64, f64)>)> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let pts = r
                    .levels
                    .iter()
                    .map(|l| (l.connections as f64, f(&l.targets[i])))
                    .collect();
                (n.to_string(), pts)
            })
            .collect()
    };
    let mut body = String::new();
    let _ = write!(
        body,
        "<p><code>{}</code><br>{} rounds, interleaved · {} · {} CPUs ({})</p>",
        escape(&r.levels[0].targets[0].runs[0].meta.command_line),
        r.repeats,
        escape(&r.meta.kernel),
        r.meta.nproc,
        escape(&r.meta.cpu_model)
    );
    for level in &r.levels {
        let _ = write!(
            body,
            "<h2>{} connections</h2><table><tr><th>target</th><th>median rps</th><th>min</th><th>max</th><th>mean ± 95%</th><th>p99</th><th>err %</th><th>vs {}</th></tr>",
            level.connections,
            escape(&r.baseline)
        );
        for t in &level.targets {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{:.0}</td><td>{:.0}</td><td>{:.0}</td><td>{}</td><td>{}</td><td>{:.2}%</td><td>{}</td></tr>",
                escape(&t.name),
                t.median_rps,
                t.min_rps,
                t.max_rps,
                stats::mean_text(Some(t.mean_rps), t.ci95_rps),
                us(t.median_p99_us as f64),
                t.error_pct,
                escape(&ratio_text(t))
            );
        }
        let _ = write!(body, "</table><p>{}</p>", escape(&level.verdict));
    }
    for level in &r.levels {
        let bars: Vec<(String, f64)> = level
            .targets
            .iter()
            .map(|t| (t.name.clone(), t.median_rps))
            .collect();
        let _ = write!(
            body,
            "<h2>Median requests/s, {} connections</h2>{}",
            level.connections,
            crate::report::html::bar_chart("requests/s", &bars)
        );
    }
    let _ = write!(
        body,
        "<h2>Requests/s (median of the rounds)</h2>{}<h2>p99 latency (median of the rounds, ms)</h2>{}",
        xy_chart("connections", "requests/s", &series(&|t| t.median_rps)),
        xy_chart("connections", "p99 (ms)", &series(&|t| t.median_p99_us as f64 / 1000.0))
    );
    page("ceiling compare", &body)
}

pub fn render_csv(r: &CompareReport) -> String {
    let mut s = String::from("connections,target,url,round,requests_per_sec,p99_us,errors\n");
    for (level, t) in r
        .levels
        .iter()
        .flat_map(|l| l.targets.iter().map(move |t| (l.connections, t)))
    {
        for (i, run) in t.runs.iter().enumerate() {
            let p99 = run.latency.at(99.0);
            let _ = writeln!(
                s,
                "{level},{},{},{},{:.2},{},{}",
                t.name,
                t.url,
                i + 1,
                run.requests_per_sec,
                p99,
                run.counters.request_errors() + run.counters.errors.connect
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::fixture::result;

    fn report(rounds: &[(f64, f64)]) -> CompareReport {
        let targets = vec![
            (
                "slow".to_string(),
                "http://127.0.0.1:8081/delay/5".to_string(),
            ),
            (
                "fast".to_string(),
                "http://u:pw@127.0.0.1:8080/plaintext".to_string(),
            ),
        ];
        let runs = vec![
            rounds.iter().map(|r| result(r.0, 5200, 6100, 0)).collect(),
            rounds.iter().map(|r| result(r.1, 40, 180, 2)).collect(),
        ];
        let level = level_of(&targets, "slow", 16, runs);
        CompareReport {
            schema: "ceiling.compare/1".into(),
            meta: level.targets[0].runs[0].meta.clone(),
            repeats: rounds.len(),
            baseline: "slow".into(),
            levels: vec![level],
        }
    }

    /// The text layout, pinned: three rounds, a winner beyond the noise.
    #[test]
    fn text_layout_with_three_rounds() {
        let r = report(&[(3000.0, 30000.0), (3100.0, 31000.0), (2950.0, 29500.0)]);
        assert_eq!(
            render_text(&r),
            "\
3 rounds, interleaved; Linux 6.1.0 x86_64 (4 CPUs, Fixture CPU); each run: `ceiling -t 1 -c 1 -d 1s http://127.0.0.1:8080/plaintext`
target             median rps          min          max         mean ± 95%        p99   errors  vs slow
slow                     3000         2950         3100         3017 ± 190     6.10ms    0.00%  baseline
fast                    30000        29500        31000       30167 ± 1897   180.00us    0.20%  10.00x faster [10.00, 10.00]
winner: fast (10.00x faster vs slow, 95% interval 10.00..10.00)
"
        );
        assert!(!serde_json::to_string(&r).unwrap().contains("pw@"));
    }

    /// One round: no interval, no claim about the noise, no inf.
    #[test]
    fn text_layout_with_one_round() {
        let r = report(&[(1000.0, 2800.0)]);
        assert_eq!(
            render_text(&r),
            "\
1 round, interleaved; Linux 6.1.0 x86_64 (4 CPUs, Fixture CPU); each run: `ceiling -t 1 -c 1 -d 1s http://127.0.0.1:8080/plaintext`
target             median rps          min          max         mean ± 95%        p99   errors  vs slow
slow                     1000         1000         1000         1000 ± n/a     6.10ms    0.00%  baseline
fast                     2800         2800         2800         2800 ± n/a   180.00us    0.20%  2.80x faster: no noise estimate (1 round)
no verdict: fast ahead of slow by 180.0% (ratio 2.800), but no noise estimate from 1 round: --repeats 2 or more gives one (3+ advised)
"
        );
        let json = serde_json::to_value(&r).unwrap();
        let vs = &json["levels"][0]["targets"][1]["vs_baseline"];
        assert_eq!(vs["within_noise"], serde_json::Value::Null);
        assert_eq!(vs["low"], serde_json::Value::Null);
        assert_eq!(json["levels"][0]["winner"], serde_json::Value::Null);
    }

    /// A target that completed nothing: no ratio, never inf or NaN.
    #[test]
    fn zero_throughput_has_no_ratio() {
        let r = report(&[(0.0, 2800.0), (0.0, 2900.0)]);
        let text = render_text(&r);
        assert!(!text.contains("inf") && !text.contains("NaN"), "{text}");
        assert!(
            text.contains("winner: fast (slow completed no requests)"),
            "{text}"
        );
        let r = report(&[(0.0, 0.0), (0.0, 0.0)]);
        let text = render_text(&r);
        assert!(!text.contains("inf") && !text.contains("NaN"), "{text}");
        assert!(
            text.contains("no winner: no target completed a request"),
            "{text}"
        );
    }
}
