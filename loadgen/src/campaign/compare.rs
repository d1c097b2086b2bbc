//! `ceiling compare NAME=URL NAME=URL ...`: the same workload against each target,
//! interleaved over rounds (the order rotating each round) so a noisy machine does
//! not favour one side; medians, spread, 95% confidence intervals, the winner, and
//! each target relative to the baseline, saying plainly when a difference is
//! within the run-to-run noise.

use super::{parse_target, plan_from, run_args, Failure, Outputs, Renderers};
use crate::meta::Meta;
use crate::result::RunResult;
use clap::Parser;
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::fmt::Write as _;

#[derive(Debug, Parser)]
#[command(
    name = "ceiling compare",
    bin_name = "ceiling compare",
    about = "The same workload against several servers, interleaved over rounds, with confidence intervals"
)]
struct Args {
    /// Targets as NAME=URL (at least two)
    #[arg(required = true, num_args = 2.., value_name = "NAME=URL")]
    targets: Vec<String>,
    /// Rounds; each runs every target once, in a rotating order
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// The target the others are compared with [default: the first]
    #[arg(long)]
    baseline: Option<String>,
    #[arg(short, long)]
    threads: Option<usize>,
    #[arg(short, long, default_value_t = 64)]
    connections: usize,
    /// Compare at several connection counts, e.g. 10,20,40 (a winner per level)
    #[arg(long, value_delimiter = ',', conflicts_with = "connections")]
    levels: Vec<usize>,
    #[arg(short, long, default_value = "10s")]
    duration: String,
    #[arg(short, long)]
    pipeline: Option<usize>,
    /// Constant rate per run (then latency is corrected for coordinated omission)
    #[arg(short = 'R', long)]
    rate: Option<f64>,
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    #[arg(short, long)]
    method: Option<String>,
    #[arg(long)]
    body: Option<String>,
    #[arg(long)]
    timeout: Option<String>,
    #[arg(long)]
    cpus: Option<String>,
    #[arg(long)]
    io_engine: Option<String>,
    /// Bind the generator's connections round-robin to these local addresses
    /// (127.0.0.2-127.0.0.40, or a list): more connections than one address's ports
    #[arg(long, value_name = "LIST")]
    source_ips: Option<String>,
    #[command(flatten)]
    out: Outputs,
}

/// Median, spread and a 95% confidence interval of one target's requests/s.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetSummary {
    pub name: String,
    pub url: String,
    pub rps: Vec<f64>,
    pub median_rps: f64,
    pub min_rps: f64,
    pub max_rps: f64,
    pub mean_rps: f64,
    /// Half-width of the 95% confidence interval of the mean (Student's t).
    pub ci95_rps: f64,
    pub median_p99_us: u64,
    pub errors: u64,
    /// errors / (requests sent + connect attempts that failed), over all rounds, in percent.
    pub error_pct: f64,
    /// Geometric mean of the per-round ratios to the baseline, with its 95% interval.
    pub vs_baseline: Option<Ratio>,
    pub runs: Vec<RunResult>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Ratio {
    pub ratio: f64,
    pub low: f64,
    pub high: f64,
    /// The interval holds 1: the difference is within the run-to-run noise.
    pub within_noise: bool,
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
    /// One line: the winner, or that there is none beyond the noise.
    pub verdict: String,
    /// The winner's name, or None when the best two are within the noise.
    pub winner: Option<String>,
}

/// `ceiling compare ARGS` (args[0] is "compare"); returns the exit code.
pub fn main(args: &[OsString]) -> u8 {
    super::command("compare", args, run)
}

fn generator_args(a: &Args, connections: usize, url: &str) -> Vec<String> {
    let mut v: Vec<String> = vec![
        "-c".into(),
        connections.to_string(),
        "-d".into(),
        a.duration.clone(),
        "--quiet".into(),
    ];
    let mut opt = |flag: &str, value: Option<String>| {
        if let Some(x) = value {
            v.push(flag.into());
            v.push(x);
        }
    };
    opt("-t", a.threads.map(|t| t.to_string()));
    opt("-p", a.pipeline.map(|p| p.to_string()));
    opt("-R", a.rate.map(|r| r.to_string()));
    opt("-m", a.method.clone());
    opt("--body", a.body.clone());
    opt("--timeout", a.timeout.clone());
    opt("--cpus", a.cpus.clone());
    opt("--io-engine", a.io_engine.clone());
    opt("--source-ips", a.source_ips.clone());
    for h in &a.headers {
        v.push("-H".into());
        v.push(h.clone());
    }
    v.push(url.into());
    v
}

fn run(a: Args) -> Result<u8, Failure> {
    if a.repeats == 0 {
        return Err(Failure::Usage("--repeats must be at least 1".into()));
    }
    let mut targets: Vec<(String, String)> = Vec::new();
    for t in &a.targets {
        let (name, url) = parse_target(t).map_err(Failure::Usage)?;
        if targets.iter().any(|(n, _)| *n == name) {
            return Err(Failure::Usage(format!("target name {name:?} given twice")));
        }
        targets.push((name, url));
    }
    let baseline = a.baseline.clone().unwrap_or_else(|| targets[0].0.clone());
    if !targets.iter().any(|(n, _)| *n == baseline) {
        return Err(Failure::Usage(format!(
            "--baseline {baseline:?} is not a target name"
        )));
    }
    for (_, url) in &targets {
        for c in a.levels.iter().copied().chain([a.connections]) {
            plan_from(&generator_args(&a, c.max(1), url)).map_err(Failure::Usage)?;
        }
    }
    a.out.check()?;

    let levels = if a.levels.is_empty() {
        vec![a.connections]
    } else {
        a.levels.clone()
    };
    if levels.contains(&0) {
        return Err(Failure::Usage("--levels must be at least 1 each".into()));
    }
    let mut done = Vec::with_capacity(levels.len());
    for &connections in &levels {
        done.push(measure_level(&a, &targets, &baseline, connections)?);
    }
    let report = CompareReport {
        schema: "ceiling.compare/1".into(),
        meta: done[0].targets[0].runs[0].meta.clone(),
        repeats: a.repeats,
        baseline,
        levels: done,
    };
    print!("{}", render_text(&report));
    Ok(a.out.write(
        "compare",
        &report,
        Renderers {
            markdown: render_markdown,
            csv: render_csv,
            html: render_html,
        },
    ))
}

/// One comparison at `connections`: interleaved, rotating rounds.
fn measure_level(
    a: &Args,
    targets: &[(String, String)],
    baseline: &str,
    connections: usize,
) -> Result<Level, Failure> {
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
            let (_, result) =
                run_args(&generator_args(a, connections, url)).map_err(Failure::Run)?;
            runs[i].push(result);
        }
    }
    let base_index = targets
        .iter()
        .position(|(n, _)| n == baseline)
        .expect("checked");
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
    Ok(Level {
        connections,
        targets: summaries,
        verdict,
        winner,
    })
}

fn summarise(name: &str, url: &str, runs: Vec<RunResult>, base: Option<&[f64]>) -> TargetSummary {
    let rps: Vec<f64> = runs.iter().map(|r| r.requests_per_sec).collect();
    let p99s: Vec<f64> = runs.iter().map(|r| r.latency.at(99.0) as f64).collect();
    let (mean, half) = mean_ci95(&rps);
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
        url: url.to_string(),
        median_rps: median(&rps),
        min_rps: rps.iter().copied().fold(f64::INFINITY, f64::min),
        max_rps: rps.iter().copied().fold(0.0, f64::max),
        mean_rps: mean,
        ci95_rps: half,
        median_p99_us: median(&p99s) as u64,
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

pub(super) fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// Two-sided 95% Student's t quantile for `df` degrees of freedom.
fn t95(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        d if d <= 30 => T[d - 1],
        _ => 1.96,
    }
}

/// Mean and the half-width of its 95% confidence interval (infinite for one sample).
pub(super) fn mean_ci95(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (mean, f64::INFINITY);
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, t95(v.len() - 1) * (var / n).sqrt())
}

/// Ratio of `a` to `b` over paired rounds: the geometric mean of the per-round
/// ratios, with a t interval on their logarithms (rounds are interleaved, so a
/// slow stretch of the machine hits both sides of a pair).
pub(super) fn ratio(a: &[f64], b: &[f64]) -> Ratio {
    let logs: Vec<f64> = a
        .iter()
        .zip(b)
        .filter(|(x, y)| **x > 0.0 && **y > 0.0)
        .map(|(x, y)| (x / y).ln())
        .collect();
    if logs.is_empty() {
        return Ratio {
            ratio: 0.0,
            low: 0.0,
            high: 0.0,
            within_noise: false,
        };
    }
    let (m, half) = mean_ci95(&logs);
    let (low, high) = ((m - half).exp(), (m + half).exp());
    Ratio {
        ratio: m.exp(),
        low,
        high,
        within_noise: low <= 1.0 && high >= 1.0,
    }
}

fn verdict(targets: &[TargetSummary], baseline: &str) -> (String, Option<String>) {
    let mut order: Vec<&TargetSummary> = targets.iter().collect();
    order.sort_by(|x, y| y.median_rps.total_cmp(&x.median_rps));
    let (best, second) = (order[0], order[1]);
    let r = ratio(&best.rps, &second.rps);
    if r.within_noise {
        let text = format!(
            "no clear winner: {} and {} differ by {:.1}% in the median, within the run-to-run noise (95% interval of the ratio {:.3}..{:.3})",
            best.name,
            second.name,
            100.0 * (best.median_rps / second.median_rps - 1.0),
            r.low,
            r.high
        );
        (text, None)
    } else {
        let vs = targets
            .iter()
            .find(|t| t.name == baseline)
            .filter(|b| b.name != best.name)
            .map(|b| {
                let r = ratio(&best.rps, &b.rps);
                format!(
                    " ({} vs {baseline}, 95% interval {:.2}..{:.2})",
                    times(r.ratio),
                    r.low,
                    r.high
                )
            })
            .unwrap_or_default();
        (
            format!("winner: {}{vs}", best.name),
            Some(best.name.clone()),
        )
    }
}

/// "11.3x faster" / "2.0x slower".
pub(super) fn times(r: f64) -> String {
    if r >= 1.0 {
        format!("{r:.2}x faster")
    } else if r > 0.0 {
        format!("{:.2}x slower", 1.0 / r)
    } else {
        "n/a".into()
    }
}

fn ratio_text(t: &TargetSummary) -> String {
    match t.vs_baseline {
        None => "baseline".into(),
        Some(r) if r.within_noise => {
            format!(
                "{:.3}x [{:.3}, {:.3}]: within noise",
                r.ratio, r.low, r.high
            )
        }
        // The interval in the same direction as the words.
        Some(r) if r.ratio >= 1.0 => format!("{} [{:.2}, {:.2}]", times(r.ratio), r.low, r.high),
        Some(r) => format!(
            "{} [{:.2}, {:.2}]",
            times(r.ratio),
            1.0 / r.high,
            1.0 / r.low
        ),
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
        "{} rounds, interleaved; {} ({} CPUs, {}); each run: `{}`",
        r.repeats, m.kernel, m.nproc, m.cpu_model, r.levels[0].targets[0].runs[0].meta.command_line
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
                format!("{:.0} ± {:.0}", t.mean_rps, t.ci95_rps),
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
        row.push(
            level
                .winner
                .clone()
                .unwrap_or_else(|| "within noise".into()),
        );
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
                "| {} | {:.0} | {:.0} | {:.0} | {:.0} ± {:.0} | {} | {:.2}% | {} |",
                t.name,
                t.median_rps,
                t.min_rps,
                t.max_rps,
                t.mean_rps,
                t.ci95_rps,
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
                "<tr><td>{}</td><td>{:.0}</td><td>{:.0}</td><td>{:.0}</td><td>{:.0} ± {:.0}</td><td>{}</td><td>{:.2}%</td><td>{}</td></tr>",
                escape(&t.name),
                t.median_rps,
                t.min_rps,
                t.max_rps,
                t.mean_rps,
                t.ci95_rps,
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

    #[test]
    fn medians_and_intervals() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let (m, h) = mean_ci95(&[10.0, 12.0, 14.0]);
        assert_eq!(m, 12.0);
        // sd 2, n 3: t(2) 4.303 x 2 / sqrt(3).
        assert!((h - 4.303 * 2.0 / 3f64.sqrt()).abs() < 1e-9);
        assert!(mean_ci95(&[5.0]).1.is_infinite());
    }

    #[test]
    fn ratios_say_when_they_are_noise() {
        let clear = ratio(&[200.0, 210.0, 205.0], &[100.0, 101.0, 99.0]);
        assert!(!clear.within_noise);
        assert!((clear.ratio - 2.05).abs() < 0.05);
        assert!(clear.low < clear.ratio && clear.ratio < clear.high);
        let noise = ratio(&[100.0, 96.0, 104.0], &[99.0, 101.0, 100.0]);
        assert!(noise.within_noise);
    }

    #[test]
    fn times_reads_both_ways() {
        assert_eq!(times(11.3), "11.30x faster");
        assert_eq!(times(0.5), "2.00x slower");
    }
}
