//! `ceiling machine`: this machine's HTTP ceiling in one command. Starts `ceiling
//! serve` (this same binary, as a child process) on one half of the CPUs, runs the
//! generator pinned to the other half against plaintext, json and a large body,
//! and prints the ceiling table; with `--target NAME=URL` it runs the user's
//! servers too and shows each as a share of the ceiling.

use super::{
    parse_target, plan_for, run_load, run_load_shown, Placement, Reach, Renderers, ReportFiles,
};
use crate::error::{CliError, Failed, ServerStartError};
use crate::meta::Meta;
use crate::options::{self, ConnArgs, ValueError};
use crate::plan::{Arrivals, Load, PipelineMode};
use crate::result::RunResult;
use clap::Parser;
use serde::{Deserialize, Serialize};
use shared::runtime::{format_cpu_list, IoEngine};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "ceiling machine",
    bin_name = "ceiling machine",
    about = "This machine's HTTP ceiling: ceiling serve and the generator on disjoint CPUs, plaintext, json and a large body",
    after_help = "Exit codes: 0 the tests ran; 1 they could not complete; 2 bad usage."
)]
pub(crate) struct Args {
    /// Length of each test (10ms to 30 days)
    #[arg(short, long, default_value = "5s", value_parser = options::run_length_value, allow_hyphen_values = true)]
    duration: Duration,
    #[command(flatten)]
    conn: ConnArgs,
    /// Unreported warm-up before each server's tests (connections, caches): 0 to skip,
    /// else 10ms to 30 days like any run
    #[arg(long, default_value = "1s", value_parser = warmup_value, allow_hyphen_values = true)]
    warmup: Duration,
    /// Body size of the large-body test (/bytes/N), 0 to 1 GiB
    #[arg(long, default_value_t = 65536, value_parser = options::count_value::<0, { 1 << 30 }>, allow_hyphen_values = true)]
    bytes: u64,
    /// CPUs of the server [default: the first half of the allowed CPUs]
    #[arg(long)]
    server_cpus: Option<String>,
    /// CPUs of the generator [default: the other half]
    #[arg(long)]
    generator_cpus: Option<String>,
    /// auto, uring, monoio or epoll (both sides; the server runs monoio for uring)
    #[arg(long, default_value = "auto")]
    io_engine: IoEngine,
    /// Also measure your server: NAME=URL (repeatable), shown as a share of the ceiling
    #[arg(long = "target", value_name = "NAME=URL")]
    targets: Vec<String>,
    #[command(flatten)]
    out: ReportFiles,
}

/// `--warmup`: exactly 0 (in any unit) means none; anything else is a run and
/// has a run's bounds (10ms to 30 days), so `5us` is refused rather than
/// rounded to nothing, with the message naming both choices.
fn warmup_value(t: &str) -> Result<Duration, ValueError> {
    if t.trim().parse::<f64>() == Ok(0.0)
        || humantime::parse_duration(t.trim()) == Ok(Duration::ZERO)
    {
        return Ok(Duration::ZERO);
    }
    options::run_length_value(t).map_err(|e| match e {
        ValueError::TooSmall { min } => {
            ValueError::Invalid(format!("must be 0 (no warm-up) or at least {min}"))
        }
        e => e,
    })
}

/// One row of the table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub name: String,
    /// The URL, its password masked.
    pub url: String,
    pub requests_per_sec: f64,
    pub bytes_read_per_sec: f64,
    /// Latency percentiles, µs; None (JSON null) when nothing completed.
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
    pub p999_us: Option<u64>,
    pub errors: u64,
    /// Generator CPU per request sent, µs; None when nothing was sent.
    pub generator_us_per_request: Option<f64>,
    /// Server CPU per request completed (only for the embedded server).
    pub server_us_per_request: Option<f64>,
    /// For targets: requests/s as a percentage of the ceiling's plaintext row.
    pub pct_of_ceiling: Option<f64>,
    pub result: RunResult,
}

/// The whole `machine` report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MachineReport {
    pub schema: String,
    pub meta: Meta,
    pub server_cpus: Vec<usize>,
    pub generator_cpus: Vec<usize>,
    pub ceiling: Vec<Row>,
    pub targets: Vec<Row>,
}

/// `ceiling machine ARGS` (args[0] is "machine").
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

/// A plain GET of `url` over `connections` for `duration`.
pub(super) fn get(
    url: &str,
    connections: usize,
    threads: Option<usize>,
    duration: Duration,
) -> Load {
    Load {
        urls: vec![url.to_string()],
        method: "GET".into(),
        headers: Vec::new(),
        body: Vec::new(),
        connections,
        threads,
        duration: Some(duration),
        requests: None,
        pipeline: 1,
        pipeline_mode: PipelineMode::Refill,
        timeout: Duration::from_secs(2),
        rate: None,
        arrivals: Arrivals::Constant,
        seed: 1,
        script: None,
        requests_file: None,
        tls: Default::default(),
    }
}

fn run(a: Args, reach: Reach) -> Result<(), CliError> {
    let place = Placement::new(a.server_cpus.as_deref(), a.generator_cpus.as_deref())?;
    let machine = place.machine(a.io_engine, Vec::new());
    let connections = place.connections(a.conn.connections);
    let targets = a
        .targets
        .iter()
        .map(|t| parse_target(t))
        .collect::<Result<Vec<_>, _>>()?;
    let load = |url: &str, d: Duration| get(url, connections, a.conn.threads, d);
    // Validate the generator's plan (and every target's) before starting anything.
    plan_for(&load("http://127.0.0.1:1/", a.duration), &machine)?;
    for (_, url) in &targets {
        plan_for(&load(url, a.duration), &machine)?;
    }
    a.out.check()?;
    if reach == Reach::Checks {
        return Ok(());
    }

    // Catch Ctrl-C before the server starts, so even a second one stops it.
    let _ = crate::run::ctrl_c();
    let server = EmbeddedServer::start(
        &format_cpu_list(&place.server_cpus),
        &a.io_engine.to_string(),
    )
    .map_err(Failed::Server)?;
    eprintln!(
        "ceiling machine: server on CPUs {} ({}), generator on CPUs {}, {} connections, {} per test",
        format_cpu_list(&place.server_cpus),
        server.describe,
        format_cpu_list(&place.generator_cpus),
        connections,
        options::show(a.duration)
    );
    let workloads = [
        ("plaintext".to_string(), format!("{}/plaintext", server.url)),
        ("json".to_string(), format!("{}/json", server.url)),
        (
            format!("bytes/{}", a.bytes),
            format!("{}/bytes/{}", server.url, a.bytes),
        ),
    ];
    // One line per step as it starts, so a person sees what runs and how far
    // along the campaign is (the runs' own bar shows on a terminal).
    let steps = workloads.len() + targets.len();
    let step = |i: usize, name: &str, url: &str| {
        eprintln!(
            "ceiling machine: [{}/{steps}] {name} ({url}), {}",
            i + 1,
            options::show(a.duration)
        );
    };
    let warm_up = |url: &str| -> Result<(), CliError> {
        if a.warmup.is_zero() {
            return Ok(());
        }
        eprintln!(
            "ceiling machine: warm-up ({url}), {}",
            options::show(a.warmup)
        );
        run_load(&load(url, a.warmup), &machine).map(|_| ())
    };
    warm_up(&workloads[0].1)?;
    let mut ceiling = Vec::new();
    let mut meta = None;
    for (i, (name, url)) in workloads.iter().enumerate() {
        step(i, name, url);
        let before = server.cpu_seconds();
        let (_, result) = run_load_shown(&load(url, a.duration), &machine)?;
        let server_cpu = server.cpu_seconds() - before;
        meta.get_or_insert_with(|| result.meta.clone());
        let mut row = Row::of(name, url, result);
        if row.result.counters.completed > 0 {
            row.server_us_per_request =
                Some(server_cpu * 1e6 / row.result.counters.completed as f64);
        }
        ceiling.push(row);
    }
    drop(server);
    let base = ceiling[0].requests_per_sec;
    let mut rows = Vec::new();
    for (i, (name, url)) in targets.iter().enumerate() {
        warm_up(url)?;
        step(workloads.len() + i, name, url);
        let (_, result) = run_load_shown(&load(url, a.duration), &machine)?;
        let mut row = Row::of(name, url, result);
        if base > 0.0 {
            row.pct_of_ceiling = Some(100.0 * row.requests_per_sec / base);
        }
        rows.push(row);
    }
    let report = MachineReport {
        schema: "ceiling.machine/1".into(),
        meta: meta.ok_or(Failed::NothingRan)?,
        server_cpus: place.server_cpus,
        generator_cpus: place.generator_cpus,
        ceiling,
        targets: rows,
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

impl Row {
    fn of(name: &str, url: &str, result: RunResult) -> Self {
        // No completed response: no latency, not a latency of 0.
        let measured = result.counters.completed > 0;
        let q = |p: f64| measured.then(|| result.latency.at(p));
        Self {
            name: name.to_string(),
            url: crate::redact::url(url),
            requests_per_sec: result.requests_per_sec,
            bytes_read_per_sec: result.bytes_read_per_sec,
            p50_us: q(50.0),
            p99_us: q(99.0),
            p999_us: q(99.9),
            errors: result.counters.request_errors() + result.counters.errors.connection_errors(),
            generator_us_per_request: (result.counters.sent > 0)
                .then_some(result.generator_cpu.us_per_request),
            server_us_per_request: None,
            pct_of_ceiling: None,
            result,
        }
    }
}

/// The `ceiling serve` child this command starts and stops.
pub(super) struct EmbeddedServer {
    child: Child,
    pub(super) url: String,
    describe: String,
}

impl EmbeddedServer {
    pub(super) fn start(cpus: &str, engine: &str) -> Result<Self, ServerStartError> {
        let exe = std::env::current_exe().map_err(ServerStartError::Exe)?;
        let mut child = Command::new(exe)
            .args([
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--cpus",
                cpus,
                "--io-engine",
                engine,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(ServerStartError::Spawn)?;
        crate::run::track_child(child.id());
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Readiness: the printed address, not a sleep.
        loop {
            match rx.recv_timeout(Duration::from_secs(20)) {
                Ok(line) => {
                    if let Some(rest) = line.split("listening on ").nth(1) {
                        let url = rest
                            .split_whitespace()
                            .next()
                            .unwrap_or_default()
                            .to_string();
                        let describe = rest
                            .split_once('(')
                            .map(|(_, d)| d.trim_end_matches(')').to_string())
                            .unwrap_or_default();
                        return Ok(Self {
                            child,
                            url,
                            describe,
                        });
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    crate::run::untrack_child(child.id());
                    let _ = child.wait();
                    return Err(ServerStartError::NotReady);
                }
            }
        }
    }

    /// The server's user + system CPU so far, in seconds.
    pub(super) fn cpu_seconds(&self) -> f64 {
        let tps = procfs::ticks_per_second() as f64;
        procfs::process::Process::new(self.child.id() as i32)
            .and_then(|p| p.stat())
            .map(|s| (s.utime + s.stime) as f64 / tps)
            .unwrap_or(0.0)
    }
}

impl Drop for EmbeddedServer {
    fn drop(&mut self) {
        // SIGTERM: the server drains and exits; the wait is bounded by its --grace.
        // SAFETY: kill(2) on the PID of our own child, not yet waited for.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        crate::run::untrack_child(self.child.id());
        let _ = self.child.wait();
    }
}

fn us(v: f64) -> String {
    crate::report::text::time_us(v)
}

fn rate(bytes_per_sec: f64) -> String {
    format!(
        "{}B/s ({:.2} Gbit/s)",
        crate::report::text::binary(bytes_per_sec),
        bytes_per_sec * 8.0 / 1e9
    )
}

const CEILING_HEAD: [&str; 9] = [
    "workload",
    "req/s",
    "transfer",
    "p50",
    "p99",
    "p99.9",
    "errors",
    "gen CPU/req",
    "srv CPU/req",
];
const CEILING_WIDTHS: [usize; 9] = [16, 12, 28, 10, 10, 10, 8, 12, 12];
const TARGET_HEAD: [&str; 7] = [
    "target",
    "req/s",
    "of ceiling",
    "p50",
    "p99",
    "p99.9",
    "errors",
];
const TARGET_WIDTHS: [usize; 7] = [16, 12, 12, 10, 10, 10, 8];

/// A latency cell: `n/a` when nothing completed.
fn opt_us(v: Option<u64>) -> String {
    v.map_or("n/a".into(), |v| us(v as f64))
}

/// One ceiling row's cells, as both tables show them.
fn ceiling_cells(row: &Row) -> Vec<String> {
    vec![
        row.name.clone(),
        format!("{:.0}", row.requests_per_sec),
        rate(row.bytes_read_per_sec),
        opt_us(row.p50_us),
        opt_us(row.p99_us),
        opt_us(row.p999_us),
        row.errors.to_string(),
        row.generator_us_per_request.map_or("n/a".into(), us),
        row.server_us_per_request.map_or("n/a".into(), us),
    ]
}

/// One target row's cells.
fn target_cells(row: &Row) -> Vec<String> {
    vec![
        row.name.clone(),
        format!("{:.0}", row.requests_per_sec),
        row.pct_of_ceiling
            .map_or("n/a".into(), |p| format!("{p:.1}%")),
        opt_us(row.p50_us),
        opt_us(row.p99_us),
        opt_us(row.p999_us),
        row.errors.to_string(),
    ]
}

/// A text row: the first column left-aligned, the rest right-aligned.
fn text_row<S: AsRef<str>>(cells: &[S], widths: &[usize]) -> String {
    let mut line = String::new();
    for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
        let c = c.as_ref();
        if i == 0 {
            let _ = write!(line, "{c:<w$}");
        } else {
            let _ = write!(line, " {c:>w$}");
        }
    }
    line
}

fn markdown_row<S: AsRef<str>>(cells: &[S]) -> String {
    let cells: Vec<&str> = cells.iter().map(AsRef::as_ref).collect();
    format!("| {} |", cells.join(" | "))
}

/// The table as text.
pub fn render_text(r: &MachineReport) -> String {
    let mut s = String::new();
    let m = &r.meta;
    let _ = writeln!(
        s,
        "This machine's ceiling: {} ({} CPUs, {}), server on CPUs {}, generator on CPUs {}, {}",
        m.kernel,
        m.nproc,
        m.cpu_model,
        format_cpu_list(&r.server_cpus),
        format_cpu_list(&r.generator_cpus),
        m.engine.describe()
    );
    let _ = writeln!(s, "{}", text_row(&CEILING_HEAD, &CEILING_WIDTHS));
    for row in &r.ceiling {
        let _ = writeln!(s, "{}", text_row(&ceiling_cells(row), &CEILING_WIDTHS));
    }
    if !r.targets.is_empty() {
        let _ = writeln!(s, "\nYour servers, against the ceiling's plaintext row:");
        let _ = writeln!(s, "{}", text_row(&TARGET_HEAD, &TARGET_WIDTHS));
        for row in &r.targets {
            let _ = writeln!(s, "{}", text_row(&target_cells(row), &TARGET_WIDTHS));
        }
    }
    s
}

/// The table as Markdown, with the machine facts.
pub fn render_markdown(r: &MachineReport) -> String {
    let mut s = String::new();
    let m = &r.meta;
    let _ = writeln!(s, "# This machine's HTTP ceiling\n");
    let _ = writeln!(
        s,
        "{} · {} CPUs ({}) · server on CPUs {} · generator on CPUs {} · {} · {}\n",
        m.kernel,
        m.nproc,
        m.cpu_model,
        format_cpu_list(&r.server_cpus),
        format_cpu_list(&r.generator_cpus),
        m.engine.describe(),
        m.started_at
    );
    let _ = writeln!(s, "{}", markdown_row(&CEILING_HEAD));
    let _ = writeln!(s, "|{}", "---|".repeat(CEILING_HEAD.len()));
    for row in &r.ceiling {
        let _ = writeln!(s, "{}", markdown_row(&ceiling_cells(row)));
    }
    if !r.targets.is_empty() {
        let _ = writeln!(s, "\n{}", markdown_row(&TARGET_HEAD));
        let _ = writeln!(s, "|{}", "---|".repeat(TARGET_HEAD.len()));
        for row in &r.targets {
            let _ = writeln!(s, "{}", markdown_row(&target_cells(row)));
        }
    }
    let _ = writeln!(
        s,
        "\nEach test ran as `{}`, the URL changing per row.",
        r.ceiling[0].result.meta.command_line
    );
    s
}

/// One CSV row per workload and target; an empty cell where nothing was measured.
pub fn render_csv(r: &MachineReport) -> String {
    let cell = |v: Option<u64>| v.map_or(String::new(), |v| v.to_string());
    let mut s = String::from(
        "kind,name,url,requests_per_sec,bytes_read_per_sec,p50_us,p99_us,p999_us,errors,generator_us_per_request,server_us_per_request,pct_of_ceiling\n",
    );
    for (kind, rows) in [("ceiling", &r.ceiling), ("target", &r.targets)] {
        for row in rows {
            let _ = writeln!(
                s,
                "{kind},{},{},{:.2},{:.0},{},{},{},{},{},{},{}",
                row.name,
                row.url,
                row.requests_per_sec,
                row.bytes_read_per_sec,
                cell(row.p50_us),
                cell(row.p99_us),
                cell(row.p999_us),
                row.errors,
                row.generator_us_per_request
                    .map_or(String::new(), |v| format!("{v:.3}")),
                row.server_us_per_request
                    .map_or(String::new(), |v| format!("{v:.3}")),
                row.pct_of_ceiling
                    .map_or(String::new(), |v| format!("{v:.2}")),
            );
        }
    }
    s
}

/// The page: the machine, the ceiling table and your servers' as HTML tables,
/// requests/s as bars, and every row's latency by percentile (log latency axis
/// when a slow target's tail would flatten the rest).
pub fn render_html(r: &MachineReport) -> String {
    use crate::report::html::{bar_chart, escape, page, percentile_chart, table};
    let m = &r.meta;
    let mut body = format!(
        "<p>{} ({} CPUs, {}) · server on CPUs {}, generator on CPUs {} · {} · {}</p>",
        escape(&m.kernel),
        m.nproc,
        escape(&m.cpu_model),
        format_cpu_list(&r.server_cpus),
        format_cpu_list(&r.generator_cpus),
        escape(&m.engine.describe()),
        escape(&m.started_at)
    );
    let rows: Vec<Vec<String>> = r.ceiling.iter().map(ceiling_cells).collect();
    body.push_str(&table(&CEILING_HEAD, &rows));
    if !r.targets.is_empty() {
        let rows: Vec<Vec<String>> = r.targets.iter().map(target_cells).collect();
        body.push_str("<h2>Your servers, against the ceiling's plaintext row</h2>");
        body.push_str(&table(&TARGET_HEAD, &rows));
    }
    let bars: Vec<(String, f64)> = r
        .ceiling
        .iter()
        .chain(&r.targets)
        .map(|row| (row.name.clone(), row.requests_per_sec))
        .collect();
    let curves: Vec<(String, String)> = r
        .ceiling
        .iter()
        .chain(&r.targets)
        .map(|row| (row.name.clone(), row.result.latency.histogram.clone()))
        .collect();
    body.push_str(&format!(
        "<h2>Requests per second</h2>{}<h2>Latency by percentile</h2>{}",
        bar_chart("requests/s", &bars),
        percentile_chart(&curves)
    ));
    page("This machine's HTTP ceiling", &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::fixture::{result, snapshot};

    /// The text, Markdown and CSV layouts of `ceiling machine`, pinned.
    #[test]
    fn layouts_of_the_ceiling_table() {
        let mut ceiling = vec![
            Row::of(
                "plaintext",
                "http://127.0.0.1:8080/plaintext",
                result(250_000.0, 120, 410, 0),
            ),
            Row::of(
                "json",
                "http://127.0.0.1:8080/json",
                result(230_000.0, 130, 450, 0),
            ),
            Row::of(
                "bytes/65536",
                "http://127.0.0.1:8080/bytes/65536",
                result(41_000.0, 700, 2100, 0),
            ),
        ];
        for (row, srv) in ceiling.iter_mut().zip([3.9, 4.2, 11.5]) {
            row.server_us_per_request = Some(srv);
        }
        let mut target = Row::of(
            "mine",
            "http://u:pw@127.0.0.1:9000/",
            result(50_000.0, 600, 3000, 12),
        );
        target.pct_of_ceiling = Some(20.0);
        let report = MachineReport {
            schema: "ceiling.machine/1".into(),
            meta: ceiling[0].result.meta.clone(),
            server_cpus: vec![0],
            generator_cpus: vec![1],
            ceiling,
            targets: vec![target],
        };
        let text = render_text(&report);
        assert!(!serde_json::to_string(&report).unwrap().contains("pw@"));
        snapshot("machine", &text);
        snapshot("machine.md", &render_markdown(&report));
        snapshot("machine.csv", &render_csv(&report));
        let html = render_html(&report);
        crate::report::html::assert_page(&html);
        assert!(html.contains("<th>workload</th>") && html.contains("<td>plaintext</td>"));
        assert!(html.contains("<th>of ceiling</th>") && html.contains("<td>mine</td>"));
        assert!(!html.contains("pw@"));
        assert!(html.contains("<h2>Requests per second</h2>"));
    }

    /// A row where nothing completed (nothing listening) shows n/a, never a 0 µs
    /// latency or CPU that reads as measured.
    #[test]
    fn warmup_is_zero_for_none_or_a_run_length() {
        for zero in ["0", "0s", "0ms", "0.0"] {
            assert_eq!(warmup_value(zero), Ok(Duration::ZERO), "{zero}");
        }
        assert_eq!(warmup_value("10ms"), Ok(Duration::from_millis(10)));
        for short in ["5us", "1ms", "0.001"] {
            let e = warmup_value(short).unwrap_err().to_string();
            assert_eq!(e, "must be 0 (no warm-up) or at least 10ms", "{short}");
        }
        assert!(warmup_value("-1s").is_err() && warmup_value("soon").is_err());
    }

    #[test]
    fn a_row_with_nothing_completed_shows_no_figures() {
        let mut r = result(0.0, 0, 0, 0);
        r.counters.completed = 0;
        r.counters.sent = 0;
        r.counters.errors.connect = 256;
        let row = Row::of("a", "http://127.0.0.1:1/", r);
        assert_eq!((row.p50_us, row.p99_us, row.p999_us), (None, None, None));
        assert_eq!(row.generator_us_per_request, None);
        assert_eq!(row.errors, 256);
        let cells = target_cells(&row);
        assert_eq!(cells[3..6], ["n/a", "n/a", "n/a"]);
        let cells = ceiling_cells(&row);
        assert_eq!(cells[3..6], ["n/a", "n/a", "n/a"]);
        assert_eq!(cells[7], "n/a");
        let json = serde_json::to_value(&row).unwrap();
        assert!(json["p99_us"].is_null() && json["generator_us_per_request"].is_null());
    }
}
