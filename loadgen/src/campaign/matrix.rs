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
    pub p50_us: u64,
    pub p99_us: u64,
    pub errors: u64,
    pub timeouts: u64,
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

/// A cell's generator flags as typed values: parsed as `ceiling run` parses them.
fn cell_load(argv: &[String]) -> Result<(Load, Machine), UsageError> {
    let full: Vec<OsString> = std::iter::once("ceiling".to_string())
        .chain(argv.iter().cloned())
        .map(OsString::from)
        .collect();
    let a = match RunArgs::parse_from(&full)? {
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
                plan_for(&load, &machine).map_err(|x| cell(x.to_string()))?;
                cells.push((
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
    for (i, (target, endpoint, setup, url, load, machine)) in cells.into_iter().enumerate() {
        eprintln!(
            "ceiling matrix: {}/{total}: {target} x {endpoint} x {setup}",
            i + 1
        );
        let (_, result) = run_load(&load, &machine)?;
        let q = |p: f64| result.latency.at(p);
        done.push(Cell {
            target,
            endpoint,
            setup,
            url: crate::redact::url(&url),
            requests_per_sec: result.requests_per_sec,
            p50_us: q(50.0),
            p99_us: q(99.0),
            errors: result.counters.request_errors() + result.counters.errors.connect,
            timeouts: result.counters.errors.timeout,
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

fn us(v: u64) -> String {
    crate::report::text::time_us(v as f64)
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

pub fn render_text(r: &MatrixReport) -> String {
    let mut s = String::new();
    if let Some(t) = &r.title {
        let _ = writeln!(s, "{t}");
    }
    for e in endpoints(r) {
        let _ = writeln!(s, "\n{e}");
        let _ = writeln!(
            s,
            "  {:<16} {:<18} {:>12} {:>10} {:>10} {:>8} {:>9}",
            "target", "setup", "req/s", "p50", "p99", "errors", "timeouts"
        );
        for c in r.cells.iter().filter(|c| c.endpoint == e) {
            let _ = writeln!(
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
        }
    }
    s
}

pub fn render_markdown(r: &MatrixReport) -> String {
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
        let _ = writeln!(
            s,
            "| Target | Setup | Requests/sec | p50 | p99 | Errors | Timeouts |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|");
        for c in r.cells.iter().filter(|c| c.endpoint == e) {
            let _ = writeln!(
                s,
                "| {} | {} | {:.2} | {} | {} | {} | {} |",
                c.target,
                c.setup,
                c.requests_per_sec,
                us(c.p50_us),
                us(c.p99_us),
                c.errors,
                c.timeouts
            );
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
    let mut s =
        String::from("endpoint,target,setup,url,requests_per_sec,p50_us,p99_us,errors,timeouts\n");
    for c in &r.cells {
        let _ = writeln!(
            s,
            "{},{},{},{},{:.2},{},{},{},{}",
            c.endpoint,
            c.target,
            c.setup,
            c.url,
            c.requests_per_sec,
            c.p50_us,
            c.p99_us,
            c.errors,
            c.timeouts
        );
    }
    s
}

/// The tables, a bar chart of requests/s per endpoint, and every latency curve.
pub fn render_html(r: &MatrixReport) -> String {
    use crate::report::html::{bar_chart, escape, page, percentile_chart};
    let mut body = format!("<pre>{}</pre>", escape(&render_text(r)));
    for e in endpoints(r) {
        let cells: Vec<&Cell> = r.cells.iter().filter(|c| c.endpoint == e).collect();
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
            "<h2>{}</h2>{}{}",
            escape(e),
            bar_chart("requests/s", &bars),
            percentile_chart(&curves)
        );
    }
    page(r.title.as_deref().unwrap_or("ceiling matrix"), &body)
}

#[cfg(test)]
mod tests {
    use super::*;

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
