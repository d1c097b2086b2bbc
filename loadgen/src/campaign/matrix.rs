//! `ceiling matrix FILE.toml`: targets x endpoints x setups from one file into one
//! report (the "sync/async x json/json_query/template_query/gateway_1s" tables
//! people build by hand from wrk runs).
//!
//! ```toml
//! title = "Django workers"
//! args = ["-t", "2", "-c", "64", "-d", "10s"]      # every cell
//! [[targets]]
//! name = "sync"
//! url = "http://127.0.0.1:8000/myapp/sync"
//! server_pid = 4242                                 # optional: CPU and memory per cell
//! [[endpoints]]
//! name = "json"
//! path = "/json"
//! [[endpoints]]
//! name = "gateway_1s"
//! path = "/gateway"
//! args = ["--timeout", "5s"]                        # this endpoint only
//! [[setups]]                                        # optional: more ways to run each cell
//! name = "2000 connections"
//! args = ["-c", "2000"]
//! ```

use super::sampler::{self, Sampler, ServerUsage};
use super::{plan_for, run_load, Reach, Renderers, ReportFiles};
use crate::error::CliError;
use crate::meta::Meta;
use crate::options::{self, Parsed, RunArgs, UsageError};
use crate::plan::{Load, Machine};
use crate::result::RunResult;
use clap::Parser;
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::PathBuf;

/// `ceiling matrix FILE.toml`: its targets x endpoints x setups, one run each.
#[derive(Debug, Parser)]
#[command(
    name = "ceiling matrix",
    bin_name = "ceiling matrix",
    about = "Runs every target x endpoint x setup of FILE.toml (see docs/campaigns.md) and prints one table per endpoint",
    after_help = "Each cell's `args` are generator flags (as `ceiling run` takes them). Exit codes: 0 the matrix ran; 1 it could not complete; 2 bad usage."
)]
pub(crate) struct Args {
    /// The matrix file
    file: PathBuf,
    #[command(flatten)]
    out: ReportFiles,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatrixFile {
    title: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    targets: Vec<Named>,
    endpoints: Vec<Endpoint>,
    #[serde(default)]
    setups: Vec<Setup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Named {
    name: String,
    url: String,
    /// The server's PID: its process tree is sampled during this target's cells.
    server_pid: Option<i32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Endpoint {
    name: String,
    path: String,
    #[serde(default)]
    args: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Setup {
    name: String,
    #[serde(default)]
    args: Vec<String>,
}

/// One cell: a target, an endpoint, a setup, and its run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cell {
    pub target: String,
    pub endpoint: String,
    pub setup: String,
    pub url: String,
    pub requests_per_sec: f64,
    /// Median latency, µs; null when no response completed (not a zero that
    /// looks measured).
    pub p50_us: Option<u64>,
    /// 99th percentile latency, µs; null when no response completed.
    pub p99_us: Option<u64>,
    pub errors: u64,
    pub timeouts: u64,
    /// The target's server process tree during this cell (`server_pid`).
    pub server: Option<ServerUsage>,
    /// The error classes that occurred, largest first (`connect 120, timeout 3`,
    /// with non-2xx/3xx statuses as `5xx 40`); null when there were none.
    #[serde(default)]
    pub failure: Option<String>,
    pub result: RunResult,
    /// wrk's text report of this cell, as people paste it.
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MatrixReport {
    pub schema: String,
    pub title: Option<String>,
    pub meta: Meta,
    pub cells: Vec<Cell>,
}

/// `ceiling matrix ARGS` (args[0] is "matrix").
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

/// A cell's generator flags as typed values: parsed as `ceiling run` parses them.
fn cell_load(argv: &[String]) -> Result<(Load, Machine), UsageError> {
    let full: Vec<OsString> = std::iter::once("ceiling".to_string())
        .chain(argv.iter().cloned())
        .map(OsString::from)
        .collect();
    let a = match RunArgs::parse_cell(&full)? {
        Parsed::Args(a) => a,
        Parsed::Info(_) => {
            return Err(UsageError::Conflict(
                "--help and --version are not generator flags".into(),
            ))
        }
    };
    if a.node.plan.is_some() || a.node.out.is_some() {
        return Err(UsageError::Conflict(
            "--plan and --out belong to a node's own run, not a matrix cell".into(),
        ));
    }
    // A single run's outputs and display flags would be silently dropped: the
    // matrix writes its own report (its --json, --markdown, --csv, --html).
    let o = &a.output;
    let d = &a.display;
    let single_run_only = [
        ("--json", o.json.is_some()),
        ("--hgrm", o.hgrm.is_some()),
        ("--html", o.html.is_some()),
        ("--hlog", o.hlog.is_some()),
        ("-q/--quiet", d.quiet),
        ("--latency", d.latency),
        ("--u_latency", d.u_latency),
    ];
    if let Some((flag, _)) = single_run_only.iter().find(|(_, given)| *given) {
        return Err(UsageError::Conflict(format!(
            "{flag} belongs to a single run, not a matrix cell: give `ceiling matrix` its own --json, --markdown, --csv or --html"
        )));
    }
    Ok((a.load.load()?, a.machine.machine()?))
}

fn run(a: Args, reach: Reach) -> Result<(), CliError> {
    let file = &a.file;
    let bad_file = |reason: String| UsageError::File {
        path: file.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(file).map_err(|e| bad_file(e.to_string()))?;
    let m: MatrixFile = toml::from_str(&text).map_err(|e| {
        let first = e.to_string();
        bad_file(
            first
                .lines()
                .last()
                .unwrap_or("invalid TOML")
                .trim()
                .to_string(),
        )
    })?;
    if m.targets.is_empty() || m.endpoints.is_empty() {
        return Err(bad_file("needs at least one [[targets]] and one [[endpoints]]".into()).into());
    }
    for t in &m.targets {
        if let Some(pid) = t.server_pid {
            sampler::check(&[pid]).map_err(|e| bad_file(format!("target {}: {e}", t.name)))?;
        }
    }
    // The path is appended to each target's URL: without its leading '/', it
    // would be glued onto the host or the last segment ("/base" + "json").
    if let Some(e) = m.endpoints.iter().find(|e| !e.path.starts_with('/')) {
        return Err(bad_file(format!(
            "endpoint {}: path {:?} must start with '/'",
            e.name, e.path
        ))
        .into());
    }
    let setups = if m.setups.is_empty() {
        vec![Setup {
            name: "default".into(),
            args: Vec::new(),
        }]
    } else {
        m.setups.clone()
    };
    // Every cell's load and plan, before any load is sent.
    let mut cells = Vec::new();
    for e in &m.endpoints {
        for t in &m.targets {
            for s in &setups {
                let url = format!("{}{}", t.url.trim_end_matches('/'), e.path);
                let mut argv = m.args.clone();
                argv.extend(s.args.iter().cloned());
                argv.extend(e.args.iter().cloned());
                argv.push(url.clone());
                let cell = |reason: String| {
                    UsageError::Conflict(format!("{} x {} x {}: {reason}", t.name, e.name, s.name))
                };
                let (load, machine) = cell_load(&argv).map_err(|x| cell(x.to_string()))?;
                // A failed TLS preflight is the server's doing (exit 1), not usage.
                plan_for(&load, &machine).map_err(|x| match x.is_usage() {
                    true => CliError::from(cell(x.to_string())),
                    false => CliError::from(x),
                })?;
                cells.push((
                    t.server_pid,
                    t.name.clone(),
                    e.name.clone(),
                    s.name.clone(),
                    url,
                    load,
                    machine,
                ));
            }
        }
    }
    a.out.check()?;
    if reach == Reach::Checks {
        return Ok(());
    }

    let total = cells.len();
    let mut done = Vec::with_capacity(total);
    for (i, (pid, target, endpoint, setup, url, load, machine)) in cells.into_iter().enumerate() {
        shared::say!(
            "ceiling matrix: {}/{total}: {target} x {endpoint} x {setup}",
            i + 1
        );
        let sampling = pid.map(|p| Sampler::start(vec![p], sampler::EVERY));
        let ran = run_load(&load, &machine);
        let server = sampling.map(Sampler::finish);
        for line in server.iter().flat_map(sampler::warnings) {
            shared::say!("ceiling matrix: {line}");
        }
        // No live process sampled: n/a, not 0% and 0 MiB.
        let server = server.filter(|u| u.live_samples > 0);
        let (_, result) = ran?;
        let measured = result.latency.count > 0;
        let q = |p: f64| measured.then(|| result.latency.at(p));
        done.push(Cell {
            target,
            endpoint,
            setup,
            url: crate::redact::url(&url),
            requests_per_sec: result.requests_per_sec,
            p50_us: q(50.0),
            p99_us: q(99.0),
            errors: result.counters.request_errors() + result.counters.errors.connection_errors(),
            timeouts: result.counters.errors.timeout,
            server,
            failure: failure(&result.counters),
            text: crate::report::text::render(&result),
            result,
        });
    }
    let report = MatrixReport {
        schema: "ceiling.matrix/1".into(),
        title: m.title,
        meta: done[0].result.meta.clone(),
        cells: done,
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

/// A latency in wrk's units, or `n/a` when nothing completed.
fn us(v: Option<u64>) -> String {
    v.map_or("n/a".into(), |v| crate::report::text::time_us(v as f64))
}

/// The error classes of a run, largest first: `connect 120, timeout 3`, TLS
/// failures as `tls handshake 64` (connections) and `tls 2` (requests), and
/// responses outside 2xx/3xx as `4xx 2` and `5xx 40`; None when all went well.
pub fn failure(c: &shared::stats::Counters) -> Option<String> {
    let e = &c.errors;
    let mut classes = [
        ("connect", e.connect),
        ("tls handshake", e.tls_handshake),
        ("read", e.read),
        ("write", e.write),
        ("timeout", e.timeout),
        ("invalid", e.invalid),
        ("tls", e.tls),
        ("4xx", c.status.client_error),
        ("5xx", c.status.server_error),
    ];
    // Stable: equal counts keep this order.
    classes.sort_by_key(|c| std::cmp::Reverse(c.1));
    let named: Vec<String> = classes
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(name, n)| format!("{name} {n}"))
        .collect();
    (!named.is_empty()).then(|| named.join(", "))
}

/// Endpoints in file order, each once.
fn endpoints(r: &MatrixReport) -> Vec<&str> {
    let mut v: Vec<&str> = Vec::new();
    for c in &r.cells {
        if !v.contains(&c.endpoint.as_str()) {
            v.push(&c.endpoint);
        }
    }
    v
}

/// Whether any cell's server was sampled (the CPU and memory columns).
fn sampled(r: &MatrixReport) -> bool {
    r.cells.iter().any(|c| c.server.is_some())
}

/// CPU average and peak (% of one CPU), RSS average and peak (MiB), or n/a.
fn server_cells(c: &Cell) -> [String; 4] {
    match &c.server {
        Some(u) => [
            format!("{:.1}%", u.avg_cpu_pct),
            format!("{:.1}%", u.peak_cpu_pct),
            format!("{:.1}", u.avg_rss_mib),
            format!("{:.1}", u.peak_rss_mib),
        ],
        None => ["n/a".into(), "n/a".into(), "n/a".into(), "n/a".into()],
    }
}

pub fn render_text(r: &MatrixReport) -> String {
    let server = sampled(r);
    let mut s = String::new();
    if let Some(t) = &r.title {
        let _ = writeln!(s, "{t}");
    }
    for e in endpoints(r) {
        let _ = writeln!(s, "\n{e}");
        let _ = write!(
            s,
            "  {:<16} {:<18} {:>12} {:>10} {:>10} {:>8} {:>9}",
            "target", "setup", "req/s", "p50", "p99", "errors", "timeouts"
        );
        if server {
            let _ = write!(
                s,
                " {:>8} {:>9} {:>8} {:>9}",
                "CPU avg", "CPU peak", "MiB avg", "MiB peak"
            );
        }
        s.push_str("  error classes\n");
        for c in r.cells.iter().filter(|c| c.endpoint == e) {
            let _ = write!(
                s,
                "  {:<16} {:<18} {:>12.2} {:>10} {:>10} {:>8} {:>9}",
                c.target,
                c.setup,
                c.requests_per_sec,
                us(c.p50_us),
                us(c.p99_us),
                c.errors,
                c.timeouts
            );
            if server {
                let [a, b, m, p] = server_cells(c);
                let _ = write!(s, " {a:>8} {b:>9} {m:>8} {p:>9}");
            }
            let _ = writeln!(s, "  {}", c.failure.as_deref().unwrap_or("-"));
        }
    }
    s
}

pub fn render_markdown(r: &MatrixReport) -> String {
    let server = sampled(r);
    let mut s = String::new();
    let m = &r.meta;
    let _ = writeln!(s, "# {}\n", r.title.as_deref().unwrap_or("Matrix"));
    let _ = writeln!(
        s,
        "{} · {} CPUs ({}) · {} · {}\n",
        m.kernel,
        m.nproc,
        m.cpu_model,
        m.engine.describe(),
        m.started_at
    );
    for e in endpoints(r) {
        let _ = writeln!(s, "## {e}\n");
        let (extra, rule) = if server {
            (
                " Server CPU avg | CPU peak | MiB avg | MiB peak |",
                "---|---|---|---|",
            )
        } else {
            ("", "")
        };
        let _ = writeln!(
            s,
            "| Target | Setup | Requests/sec | p50 | p99 | Errors | Timeouts | Error classes |{extra}"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|{rule}");
        for c in r.cells.iter().filter(|c| c.endpoint == e) {
            let _ = write!(
                s,
                "| {} | {} | {:.2} | {} | {} | {} | {} | {} |",
                c.target,
                c.setup,
                c.requests_per_sec,
                us(c.p50_us),
                us(c.p99_us),
                c.errors,
                c.timeouts,
                c.failure.as_deref().unwrap_or("-")
            );
            if server {
                let _ = write!(s, " {} |", server_cells(c).join(" | "));
            }
            s.push('\n');
        }
        for c in r.cells.iter().filter(|c| c.endpoint == e) {
            let _ = writeln!(
                s,
                "\n### {} · {}\n\n`{}`\n\n```\n{}```",
                c.target, c.setup, c.result.meta.command_line, c.text
            );
        }
        s.push('\n');
    }
    s
}

/// One CSV row per cell.
pub fn render_csv(r: &MatrixReport) -> String {
    let mut s = String::from(
        "endpoint,target,setup,url,requests_per_sec,p50_us,p99_us,errors,timeouts,error_classes,server_cpu_avg_pct,server_cpu_peak_pct,server_cpus,server_rss_avg_mib,server_rss_peak_mib\n",
    );
    // Not measured: an empty field, never a zero.
    let num = |v: Option<u64>| v.map_or(String::new(), |v| v.to_string());
    for c in &r.cells {
        let u = c.server.as_ref();
        let opt = |f: &dyn Fn(&ServerUsage) -> String| u.map(f).unwrap_or_default();
        let _ = writeln!(
            s,
            "{},{},{},{},{:.2},{},{},{},{},\"{}\",{},{},{},{},{}",
            c.endpoint,
            c.target,
            c.setup,
            c.url,
            c.requests_per_sec,
            num(c.p50_us),
            num(c.p99_us),
            c.errors,
            c.timeouts,
            c.failure.as_deref().unwrap_or(""),
            opt(&|u| format!("{:.2}", u.avg_cpu_pct)),
            opt(&|u| format!("{:.2}", u.peak_cpu_pct)),
            opt(&|u| format!("{}", u.cpus)),
            opt(&|u| format!("{:.2}", u.avg_rss_mib)),
            opt(&|u| format!("{:.2}", u.peak_rss_mib)),
        );
    }
    s
}

/// The page: per endpoint, an HTML table of its cells (failed ones with their
/// error classes), requests/s as bars and every cell's latency by percentile;
/// failed cells in a warning box.
pub fn render_html(r: &MatrixReport) -> String {
    use crate::report::html::{bar_chart, escape, page, percentile_chart, table, warnings};
    let m = &r.meta;
    let mut body = format!(
        "<p>{} · {} CPUs ({}) · {} · {}</p>",
        escape(&m.kernel),
        m.nproc,
        escape(&m.cpu_model),
        escape(&m.engine.describe()),
        escape(&m.started_at)
    );
    let failed: Vec<String> = r
        .cells
        .iter()
        .filter(|c| c.result.counters.completed == 0)
        .map(|c| {
            format!(
                "{} x {} x {}: no response completed ({})",
                c.target,
                c.endpoint,
                c.setup,
                c.failure.as_deref().unwrap_or("no request sent")
            )
        })
        .collect();
    body.push_str(&warnings(&failed));
    for e in endpoints(r) {
        let cells: Vec<&Cell> = r.cells.iter().filter(|c| c.endpoint == e).collect();
        let rows: Vec<Vec<String>> = cells
            .iter()
            .map(|c| {
                vec![
                    c.target.clone(),
                    c.setup.clone(),
                    format!("{:.2}", c.requests_per_sec),
                    us(c.p50_us),
                    us(c.p99_us),
                    c.errors.to_string(),
                    c.timeouts.to_string(),
                    c.failure.clone().unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        let bars: Vec<(String, f64)> = cells
            .iter()
            .map(|c| (format!("{} · {}", c.target, c.setup), c.requests_per_sec))
            .collect();
        let curves: Vec<(String, String)> = cells
            .iter()
            .map(|c| {
                (
                    format!("{} · {}", c.target, c.setup),
                    c.result.latency.histogram.clone(),
                )
            })
            .collect();
        let _ = write!(
            body,
            "<h2>{}</h2>{}{}{}",
            escape(e),
            table(
                &[
                    "target",
                    "setup",
                    "req/s",
                    "p50",
                    "p99",
                    "errors",
                    "timeouts",
                    "error classes"
                ],
                &rows
            ),
            bar_chart("requests/s", &bars),
            percentile_chart(&curves)
        );
    }
    page(r.title.as_deref().unwrap_or("ceiling matrix"), &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A matrix whose second cell never got an answer: n/a latencies and the
    /// error class in every layout, a warning on the page, tables as tables.
    #[test]
    fn a_failed_cell_shows_its_error_class_not_zero_latency() {
        use crate::campaign::fixture::result;
        let ok = result(40_000.0, 250, 900, 0);
        let mut dead = result(0.0, 0, 0, 0);
        dead.counters.completed = 0;
        dead.counters.status.success = 0;
        dead.counters.errors.connect = 120;
        let cell = |target: &str, r: RunResult| Cell {
            target: target.into(),
            endpoint: "/plaintext".into(),
            setup: "c64".into(),
            url: "http://127.0.0.1:1/plaintext".into(),
            requests_per_sec: r.requests_per_sec,
            p50_us: (r.counters.completed > 0).then(|| r.latency.at(50.0)),
            p99_us: (r.counters.completed > 0).then(|| r.latency.at(99.0)),
            errors: r.counters.request_errors() + r.counters.errors.connection_errors(),
            timeouts: 0,
            failure: failure(&r.counters),
            server: None,
            text: String::new(),
            result: r,
        };
        let report = MatrixReport {
            schema: "ceiling.matrix/1".into(),
            title: Some("two servers".into()),
            meta: ok.meta.clone(),
            cells: vec![cell("up", ok), cell("down", dead)],
        };
        let text = render_text(&report);
        let down = text.lines().find(|l| l.contains("down")).unwrap();
        assert!(
            down.contains("n/a") && down.contains("connect 120"),
            "{down}"
        );
        assert!(!down.contains("0.00us"), "{down}");
        assert!(render_markdown(&report).contains("| n/a | n/a | 120 | 0 | connect 120 |"));
        assert!(render_csv(&report).contains(",,,120,0,\"connect 120\""));
        let html = render_html(&report);
        crate::report::html::assert_page(&html);
        assert!(html.contains("<td>connect 120</td>"), "{html}");
        assert!(html.contains("class=\"warn\""));
        assert!(html.contains("down x /plaintext x c64: no response completed (connect 120)"));
        let json = serde_json::to_value(&report).unwrap();
        assert!(json["cells"][1]["p50_us"].is_null());
    }

    #[test]
    fn error_classes_are_named_largest_first() {
        let mut c = shared::stats::Counters::default();
        assert_eq!(failure(&c), None);
        c.errors.timeout = 3;
        c.errors.connect = 120;
        c.status.server_error = 40;
        assert_eq!(
            failure(&c).as_deref(),
            Some("connect 120, 5xx 40, timeout 3")
        );
        c.errors.tls_handshake = 64;
        c.errors.tls = 3;
        assert_eq!(
            failure(&c).as_deref(),
            Some("connect 120, tls handshake 64, 5xx 40, timeout 3, tls 3")
        );
    }

    #[test]
    fn a_setup_flag_overrides_the_files_and_headers_add_up() {
        let argv: Vec<String> = [
            "-c",
            "64",
            "-d",
            "10s",
            "-H",
            "A: 1",
            "-c",
            "2000",
            "-H",
            "B: 2",
            "--timeout",
            "5s",
            "http://127.0.0.1:1/json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (load, _) = cell_load(&argv).unwrap();
        assert_eq!(load.connections, 2000);
        assert_eq!(load.headers, ["A: 1", "B: 2"]);
        assert_eq!(load.timeout, std::time::Duration::from_secs(5));
        // A single run still refuses a flag given twice.
        let twice: Vec<OsString> = ["ceiling", "-c", "1", "-c", "2", "http://h/"]
            .iter()
            .map(OsString::from)
            .collect();
        assert!(RunArgs::parse_from(&twice).is_err());
    }

    #[test]
    fn parses_the_documented_file() {
        let m: MatrixFile = toml::from_str(
            r#"
title = "t"
args = ["-c", "4"]
[[targets]]
name = "sync"
url = "http://127.0.0.1:1"
[[endpoints]]
name = "json"
path = "/json"
[[endpoints]]
name = "slow"
path = "/delay/1000"
args = ["--timeout", "5s"]
[[setups]]
name = "many"
args = ["-c", "100"]
"#,
        )
        .unwrap();
        assert_eq!(m.targets.len(), 1);
        assert_eq!(m.endpoints[1].args, ["--timeout", "5s"]);
        assert_eq!(m.setups[0].name, "many");
        assert!(toml::from_str::<MatrixFile>("targets = []\nendpoints = []\nbogus = 1").is_err());
    }
}
