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

use super::{plan_from, run_args, Failure, Outputs, Renderers};
use crate::meta::Meta;
use crate::result::RunResult;
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::PathBuf;

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

/// `ceiling matrix FILE.toml [--json F] [--markdown F]`; args[0] is "matrix".
pub fn main(args: &[OsString]) -> u8 {
    match run(args) {
        Ok(code) => code,
        Err((code, m)) => {
            eprintln!("ceiling matrix: {m}");
            code
        }
    }
}

fn usage(m: impl Into<String>) -> (u8, String) {
    (crate::EXIT_USAGE, m.into())
}

fn run(args: &[OsString]) -> Result<u8, (u8, String)> {
    let mut file = None;
    let (mut json, mut markdown, mut csv, mut html) = (None, None, None, None);
    let mut it = args
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned());
    while let Some(a) = it.next() {
        match a.as_str() {
            "--json" => {
                json = Some(PathBuf::from(
                    it.next().ok_or_else(|| usage("--json needs a FILE"))?,
                ))
            }
            "--markdown" => {
                markdown = Some(PathBuf::from(
                    it.next().ok_or_else(|| usage("--markdown needs a FILE"))?,
                ))
            }
            "--csv" => {
                csv = Some(PathBuf::from(
                    it.next().ok_or_else(|| usage("--csv needs a FILE"))?,
                ))
            }
            "--html" => {
                html = Some(PathBuf::from(
                    it.next().ok_or_else(|| usage("--html needs a FILE"))?,
                ))
            }
            "-h" | "--help" => {
                println!("usage: ceiling matrix FILE.toml [--json FILE] [--markdown FILE] [--csv FILE] [--html FILE]\n\nRuns every target x endpoint x setup of FILE.toml (see docs/campaigns.md) and prints one table per endpoint.");
                return Ok(crate::EXIT_OK);
            }
            s if s.starts_with('-') => {
                return Err(usage(format!("unknown option {s} (see --help)")))
            }
            s if file.is_none() => file = Some(PathBuf::from(s)),
            s => return Err(usage(format!("unexpected argument {s:?}"))),
        }
    }
    let file = file.ok_or_else(|| usage("no matrix file given: ceiling matrix FILE.toml"))?;
    let text = std::fs::read_to_string(&file)
        .map_err(|e| usage(format!("cannot read {}: {e}", file.display())))?;
    let m: MatrixFile = toml::from_str(&text).map_err(|e| {
        let first = e.to_string();
        usage(format!(
            "{}: {}",
            file.display(),
            first.lines().last().unwrap_or("invalid TOML").trim()
        ))
    })?;
    if m.targets.is_empty() || m.endpoints.is_empty() {
        return Err(usage(format!(
            "{}: needs at least one [[targets]] and one [[endpoints]]",
            file.display()
        )));
    }
    let setups = if m.setups.is_empty() {
        vec![Setup {
            name: "default".into(),
            args: Vec::new(),
        }]
    } else {
        m.setups.clone()
    };
    // Every cell's arguments, validated before any load.
    let mut cells = Vec::new();
    for e in &m.endpoints {
        for t in &m.targets {
            for s in &setups {
                let url = format!("{}{}", t.url.trim_end_matches('/'), e.path);
                let mut a = m.args.clone();
                a.extend(s.args.iter().cloned());
                a.extend(e.args.iter().cloned());
                a.extend(["--quiet".to_string(), url.clone()]);
                plan_from(&a)
                    .map_err(|msg| usage(format!("{} x {} x {}: {msg}", t.name, e.name, s.name)))?;
                cells.push((t.name.clone(), e.name.clone(), s.name.clone(), url, a));
            }
        }
    }
    let out = Outputs {
        json,
        markdown,
        csv,
        html,
    };
    out.check().map_err(|e| match e {
        Failure::Usage(m) | Failure::Run(m) => usage(m),
    })?;

    let total = cells.len();
    let mut done = Vec::with_capacity(total);
    for (i, (target, endpoint, setup, url, a)) in cells.into_iter().enumerate() {
        eprintln!(
            "ceiling matrix: {}/{total}: {target} x {endpoint} x {setup}",
            i + 1
        );
        let (_, result) = run_args(&a).map_err(|e| (crate::EXIT_FAILED, e))?;
        let q = |p: f64| result.latency.at(p);
        done.push(Cell {
            target,
            endpoint,
            setup,
            url,
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
    print!("{}", render_text(&report));
    Ok(out.write(
        "matrix",
        &report,
        Renderers {
            markdown: render_markdown,
            csv: render_csv,
            html: render_html,
        },
    ))
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
