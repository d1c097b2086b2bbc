//! `ceiling machine`: this machine's HTTP ceiling in one command. Starts `ceiling
//! serve` (this same binary, as a child process) on one half of the CPUs, runs the
//! generator pinned to the other half against plaintext, json and a large body,
//! and prints the ceiling table; with `--tls` it adds three HTTPS rows against
//! `ceiling serve --tls` (kept-alive requests, new full handshakes, resumed
//! handshakes); with `--target NAME=URL` it runs the user's servers too and
//! shows each as a share of the ceiling.

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
    /// Skip the certificate check of https `--target` servers (the `--tls`
    /// rows always skip it: their server is our own)
    #[arg(short = 'k', long)]
    insecure: bool,
    /// Also trust the CA certificates in this PEM file (https `--target` servers)
    #[arg(long, value_name = "FILE")]
    cacert: Option<std::path::PathBuf>,
    /// Add the TLS rows: requests/s over kept-alive TLS connections, new full
    /// handshakes/s and resumed handshakes/s (one request per connection), each with
    /// CPU per request or per handshake on both sides, against `ceiling serve --tls`
    /// (a fresh self-signed certificate, not verified: the server is our own)
    #[arg(long)]
    tls: bool,
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
    /// The `--tls` rows' TLS figures; absent for plain rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsRow>,
    /// Ctrl-C cut this row's run short: its figures cover `result.duration_s`,
    /// not the asked length (the tables mark the row and say how long it ran).
    #[serde(default)]
    pub interrupted: bool,
    pub result: RunResult,
}

/// What a `--tls` row measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsWorkload {
    /// Requests over kept-alive TLS connections: the record layer's cost per request.
    KeptAlive,
    /// One request per connection (`Connection: close`), `--tls-resume off`:
    /// every connection makes a full handshake.
    FullHandshakes,
    /// One request per connection, `--tls-resume on`: reconnects resume a session.
    ResumedHandshakes,
}

impl TlsWorkload {
    /// Every `--tls` row, in the order they run and are shown.
    pub const ALL: [TlsWorkload; 3] = [
        TlsWorkload::KeptAlive,
        TlsWorkload::FullHandshakes,
        TlsWorkload::ResumedHandshakes,
    ];

    /// The row's name in every table.
    pub fn name(self) -> &'static str {
        match self {
            TlsWorkload::KeptAlive => "TLS kept-alive",
            TlsWorkload::FullHandshakes => "TLS new handshakes",
            TlsWorkload::ResumedHandshakes => "TLS resumed handshakes",
        }
    }

    /// Whether the row measures handshakes (one request per connection).
    pub fn handshakes(self) -> bool {
        self != TlsWorkload::KeptAlive
    }

    /// The row's load: a GET of `url` (an `https://` URL of our own server)
    /// with its certificate unverified (`-k`: the server made it at start-up),
    /// `Connection: close` and the resumption setting for the handshake rows.
    pub fn load(
        self,
        url: &str,
        connections: usize,
        threads: Option<usize>,
        duration: Duration,
    ) -> Load {
        let mut load = get(url, connections, threads, duration);
        load.tls.insecure = true;
        load.tls.resume = self != TlsWorkload::FullHandshakes;
        if self.handshakes() {
            load.headers.push("Connection: close".into());
        }
        load
    }
}

/// The TLS figures of a `--tls` row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TlsRow {
    pub workload: TlsWorkload,
    /// What the handshakes agreed on (version, cipher suite, ALPN).
    pub negotiated: Option<crate::tls::Negotiated>,
    /// Completed handshakes, full and resumed, and the resumed ones.
    pub handshakes: u64,
    pub resumed: u64,
    /// Completed handshakes per second of the run.
    pub handshakes_per_sec: f64,
    /// Handshake time, µs (TCP open to handshake end); None when none completed.
    pub handshake_p50_us: Option<u64>,
    pub handshake_p99_us: Option<u64>,
    /// Failed handshakes (connections) and requests lost after one.
    pub tls_handshake_errors: u64,
    pub tls_errors: u64,
    /// Generator CPU (user + sys) per completed handshake, µs: the whole
    /// connection's cost (TCP connect, handshake, its one request, close).
    /// Handshake rows only; None when none completed.
    pub generator_us_per_handshake: Option<f64>,
    /// Server CPU per completed handshake, µs, as above.
    pub server_us_per_handshake: Option<f64>,
}

impl TlsRow {
    /// The figures of `workload`'s `result`, with the server's CPU seconds
    /// over the run (None: not measured).
    fn of(workload: TlsWorkload, result: &RunResult, server_cpu_s: Option<f64>) -> Self {
        let e = &result.counters.errors;
        let t = result.tls.as_ref();
        let handshakes = t.map_or(0, |t| t.handshakes);
        let done = workload.handshakes() && handshakes > 0;
        let per = |cpu_s: f64| cpu_s * 1e6 / handshakes as f64;
        let g = &result.generator_cpu;
        let measured = t.is_some_and(|t| t.handshake_latency.count > 0);
        let q = |p: f64| t.filter(|_| measured).map(|t| t.handshake_latency.at(p));
        Self {
            workload,
            negotiated: t.and_then(|t| t.negotiated.clone()),
            handshakes,
            resumed: t.map_or(0, |t| t.resumed),
            handshakes_per_sec: t.map_or(0.0, |t| t.handshakes_per_sec),
            handshake_p50_us: q(50.0),
            handshake_p99_us: q(99.0),
            tls_handshake_errors: e.tls_handshake,
            tls_errors: e.tls,
            generator_us_per_handshake: done.then(|| per(g.user_s + g.sys_s)),
            server_us_per_handshake: server_cpu_s.filter(|_| done).map(per),
        }
    }
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
    /// Ctrl-C ended the campaign early: a row's run was cut short (that row's
    /// `interrupted`) or tests did not run (`not_run`).
    #[serde(default)]
    pub interrupted: bool,
    /// The names of the tests Ctrl-C left out, in the order they would have run.
    #[serde(default)]
    pub not_run: Vec<String>,
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
    // The user's servers: https:// ones verified unless -k, with --cacert.
    let target_load = |url: &str, d: Duration| {
        let mut l = load(url, d);
        l.tls.insecure = a.insecure;
        l.tls.cacert.clone_from(&a.cacert);
        l
    };
    let tls_load =
        |w: TlsWorkload, url: &str, d: Duration| w.load(url, connections, a.conn.threads, d);
    // Validate the generator's plan (and every target's) before starting anything.
    plan_for(&load("http://127.0.0.1:1/", a.duration), &machine)?;
    if a.tls {
        for w in TlsWorkload::ALL {
            plan_for(&tls_load(w, "https://127.0.0.1:1/", a.duration), &machine)?;
        }
    }
    for (_, url) in &targets {
        plan_for(&target_load(url, a.duration), &machine)?;
    }
    a.out.check()?;
    if reach == Reach::Checks {
        return Ok(());
    }

    // Catch Ctrl-C before the server starts, so even a second one stops it.
    // The first ends the run under way; that row is kept (marked) and none
    // after it runs.
    let stop = crate::run::ctrl_c();
    // Whether a test was left out for it.
    let mut interrupted = false;
    let server = EmbeddedServer::start(
        &format_cpu_list(&place.server_cpus),
        &a.io_engine.to_string(),
    )
    .map_err(Failed::Server)?;
    shared::say!(
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
    let tls_steps = if a.tls { TlsWorkload::ALL.len() } else { 0 };
    let steps = workloads.len() + tls_steps + targets.len();
    // A target's URL may hold a password or token: shown masked, as everywhere.
    let step = |i: usize, name: &str, url: &str| {
        shared::say!(
            "ceiling machine: [{}/{steps}] {name} ({}), {}",
            i + 1,
            crate::redact::url(url),
            options::show(a.duration)
        );
    };
    // `make(url, length)` is the load of what is warmed up.
    let warm_up = |url: &str, make: &dyn Fn(&str, Duration) -> Load| -> Result<(), CliError> {
        if a.warmup.is_zero() {
            return Ok(());
        }
        shared::say!(
            "ceiling machine: warm-up ({}), {}",
            crate::redact::url(url),
            options::show(a.warmup)
        );
        run_load(&make(url, a.warmup), &machine).map(|_| ())
    };
    warm_up(&workloads[0].1, &load)?;
    let mut ceiling = Vec::new();
    let mut meta = None;
    for (i, (name, url)) in workloads.iter().enumerate() {
        if stop.is_triggered() {
            interrupted = true;
            break;
        }
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
    if a.tls && stop.is_triggered() {
        interrupted = true;
    } else if a.tls {
        // Its own server: `ceiling serve --tls`, a self-signed certificate made
        // at its start, on the same CPUs.
        let server = EmbeddedServer::start_with(
            &format_cpu_list(&place.server_cpus),
            &a.io_engine.to_string(),
            &["--tls"],
        )
        .map_err(Failed::Server)?;
        shared::say!("ceiling machine: TLS server ({})", server.describe);
        let url = format!("{}/plaintext", server.url);
        warm_up(&url, &|u, d| tls_load(TlsWorkload::KeptAlive, u, d))?;
        for (i, w) in TlsWorkload::ALL.into_iter().enumerate() {
            if stop.is_triggered() {
                interrupted = true;
                break;
            }
            step(workloads.len() + i, w.name(), &url);
            let before = server.cpu_seconds();
            let (_, result) = run_load_shown(&tls_load(w, &url, a.duration), &machine)?;
            let server_cpu = server.cpu_seconds() - before;
            ceiling.push(Row::of_tls(w, &url, result, Some(server_cpu)));
        }
    }
    // Interrupted before the first row ended: nothing to report.
    let meta = meta.ok_or(Failed::NothingRan)?;
    let base = ceiling[0].requests_per_sec;
    let mut rows = Vec::new();
    for (i, (name, url)) in targets.iter().enumerate() {
        if stop.is_triggered() {
            interrupted = true;
            break;
        }
        warm_up(url, &target_load)?;
        if stop.is_triggered() {
            interrupted = true;
            break;
        }
        step(workloads.len() + tls_steps + i, name, url);
        let (_, result) = run_load_shown(&target_load(url, a.duration), &machine)?;
        let mut row = Row::of(name, url, result);
        if base > 0.0 {
            row.pct_of_ceiling = Some(100.0 * row.requests_per_sec / base);
        }
        rows.push(row);
    }
    // The rows run in the planned order, so those left out are the tail.
    let planned = workloads
        .iter()
        .map(|(name, _)| name.clone())
        .chain(
            TlsWorkload::ALL
                .iter()
                .filter(|_| a.tls)
                .map(|w| w.name().to_string()),
        )
        .chain(targets.iter().map(|(name, _)| name.clone()));
    let not_run: Vec<String> = planned.skip(ceiling.len() + rows.len()).collect();
    debug_assert_eq!(interrupted, !not_run.is_empty());
    let interrupted = !not_run.is_empty() || ceiling.iter().chain(&rows).any(|r| r.interrupted);
    let report = MachineReport {
        schema: "ceiling.machine/1".into(),
        meta,
        server_cpus: place.server_cpus,
        generator_cpus: place.generator_cpus,
        ceiling,
        targets: rows,
        interrupted,
        not_run,
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
            tls: None,
            interrupted: result.interrupted,
            result,
        }
    }

    /// A `--tls` row: the plain figures, the server's CPU per request, and the
    /// TLS figures (`server_cpu_s`: the server's CPU seconds over the run).
    fn of_tls(
        workload: TlsWorkload,
        url: &str,
        result: RunResult,
        server_cpu_s: Option<f64>,
    ) -> Self {
        let tls = TlsRow::of(workload, &result, server_cpu_s);
        let mut row = Row::of(workload.name(), url, result);
        if row.result.counters.completed > 0 {
            row.server_us_per_request =
                server_cpu_s.map(|s| s * 1e6 / row.result.counters.completed as f64);
        }
        row.tls = Some(tls);
        row
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
        Self::start_with(cpus, engine, &[])
    }

    /// [`EmbeddedServer::start`] with more `ceiling serve` flags (`--tls`).
    pub(super) fn start_with(
        cpus: &str,
        engine: &str,
        extra: &[&str],
    ) -> Result<Self, ServerStartError> {
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
            .args(extra)
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
                        let (url, describe) = startup_line(rest);
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

/// The URL and the description of `ceiling serve`'s start-up line after
/// "listening on ": `http://127.0.0.1:PORT (1 worker on CPUs 0, epoll)`, and
/// with `--tls` the certificate after it: `...); TLS 1.3/1.2 (aws-lc-rs),
/// self-signed certificate SHA-256 AB:CD:..`, kept in the description.
fn startup_line(rest: &str) -> (String, String) {
    let url = rest
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    let describe = match rest.split_once('(') {
        Some((_, d)) => match d.split_once(')') {
            Some((inner, "")) => inner.to_string(),
            Some((inner, after)) => format!("{inner};{}", after.trim_start_matches(';')),
            None => d.to_string(),
        },
        None => String::new(),
    };
    (url, describe)
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
const HANDSHAKE_HEAD: [&str; 8] = [
    "workload",
    "handshakes/s",
    "resumed",
    "hs p50",
    "hs p99",
    "errors",
    "gen CPU/hs",
    "srv CPU/hs",
];
const HANDSHAKE_WIDTHS: [usize; 8] = [24, 12, 9, 10, 10, 8, 12, 12];
/// The title above the handshake rows, in every layout.
const HANDSHAKE_TITLE: &str =
    "TLS handshakes, one request per connection (Connection: close), CPU per completed handshake:";

/// The rows of the main table: the plain workloads and TLS kept-alive.
fn request_rows(r: &MachineReport) -> impl Iterator<Item = &Row> {
    r.ceiling
        .iter()
        .filter(|row| !row.tls.as_ref().is_some_and(|t| t.workload.handshakes()))
}

/// The handshake rows (`--tls`), each with its TLS figures.
fn handshake_rows(r: &MachineReport) -> impl Iterator<Item = (&Row, &TlsRow)> {
    r.ceiling.iter().filter_map(|row| {
        row.tls
            .as_ref()
            .filter(|t| t.workload.handshakes())
            .map(|t| (row, t))
    })
}

/// What the `--tls` rows' handshakes agreed on, once: `TLSv1_3
/// TLS13_AES_256_GCM_SHA384, ALPN http/1.1`; None without TLS rows.
fn negotiated(r: &MachineReport) -> Option<String> {
    let mut tls = r
        .ceiling
        .iter()
        .filter_map(|row| row.tls.as_ref())
        .peekable();
    tls.peek()?;
    Some(
        match tls.find_map(|t| t.negotiated.as_ref()) {
            Some(n) => n.to_string(),
            None => "no handshake completed".into(),
        } + " (ceiling serve --tls with a self-signed certificate made at its start, not verified)",
    )
}

/// One handshake row's cells: handshakes/s, the resumed share, handshake time,
/// errors (every class of the run) and CPU per handshake on both sides.
fn handshake_cells(row: &Row, t: &TlsRow) -> Vec<String> {
    vec![
        name_cell(row),
        format!("{:.0}", t.handshakes_per_sec),
        if t.handshakes > 0 {
            format!("{:.1}%", 100.0 * t.resumed as f64 / t.handshakes as f64)
        } else {
            "n/a".into()
        },
        opt_us(t.handshake_p50_us),
        opt_us(t.handshake_p99_us),
        row.errors.to_string(),
        t.generator_us_per_handshake.map_or("n/a".into(), us),
        t.server_us_per_handshake.map_or("n/a".into(), us),
    ]
}

/// A latency cell: `n/a` when nothing completed.
fn opt_us(v: Option<u64>) -> String {
    v.map_or("n/a".into(), |v| us(v as f64))
}

/// After the name of a row whose run Ctrl-C cut short; its footnote says how
/// much of the run its figures cover.
const INTERRUPTED_MARK: &str = " *";
/// The mark of a row whose run warned (most responses not 2xx/3xx: its
/// requests/s is not a healthy throughput), explained in a footnote.
const WARNED_MARK: &str = " !";

/// A row's name, marked when its run was interrupted.
fn name_cell(row: &Row) -> String {
    let mut name = row.name.clone();
    if !row.result.warnings.is_empty() {
        name.push_str(WARNED_MARK);
    }
    if row.interrupted {
        name.push_str(INTERRUPTED_MARK);
    }
    name
}

/// What Ctrl-C did, one line each (the footnotes of every layout), then what
/// each row's run warned of: each cut
/// row, marked as in its table, with the time its figures cover (`covers 512 ms
/// of the 5s asked`), then the tests that did not run. Empty when it did nothing.
fn interruption_notes(r: &MachineReport) -> Vec<String> {
    let mut notes: Vec<String> = r
        .ceiling
        .iter()
        .chain(&r.targets)
        .filter(|row| row.interrupted)
        .map(|row| {
            let asked = row
                .result
                .config
                .duration_s
                .map(|d| {
                    format!(
                        " of the {} asked",
                        options::show(Duration::from_secs_f64(d))
                    )
                })
                .unwrap_or_default();
            format!(
                "{}: {}: interrupted (Ctrl-C): covers {:.0} ms{asked}",
                INTERRUPTED_MARK.trim(),
                row.name,
                row.result.duration_s * 1e3
            )
        })
        .collect();
    if !r.not_run.is_empty() {
        notes.push(format!(
            "Interrupted (Ctrl-C): not run: {}",
            r.not_run.join(", ")
        ));
    } else if r.interrupted && notes.is_empty() {
        notes.push("Interrupted (Ctrl-C)".into());
    }
    // What a row's run warned of (most responses not 2xx/3xx: a target that
    // answers 400 or 404 is not a healthy throughput; the generator's lag):
    // the table's errors column counts failed requests, not these.
    for row in r.ceiling.iter().chain(&r.targets) {
        for w in &row.result.warnings {
            notes.push(format!(
                "{}: {}: {}",
                WARNED_MARK.trim(),
                row.name,
                w.trim_start_matches("warning: ")
            ));
        }
    }
    notes
}

/// One ceiling row's cells, as both tables show them.
fn ceiling_cells(row: &Row) -> Vec<String> {
    vec![
        name_cell(row),
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
        name_cell(row),
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

/// A Markdown table row; the interrupted mark escaped (a bare `*` may start emphasis).
fn markdown_row<S: AsRef<str>>(cells: &[S]) -> String {
    let cells: Vec<String> = cells.iter().map(|c| markdown_marked(c.as_ref())).collect();
    format!("| {} |", cells.join(" | "))
}

/// `text` with a leading or trailing interrupted mark escaped for Markdown.
fn markdown_marked(text: &str) -> String {
    let mark = INTERRUPTED_MARK.trim();
    if let Some(name) = text.strip_suffix(mark) {
        format!("{name}\\{mark}")
    } else if let Some(rest) = text.strip_prefix(mark) {
        format!("\\{mark}{rest}")
    } else {
        text.to_string()
    }
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
    for row in request_rows(r) {
        let _ = writeln!(s, "{}", text_row(&ceiling_cells(row), &CEILING_WIDTHS));
    }
    let mut handshakes = handshake_rows(r).peekable();
    if handshakes.peek().is_some() {
        let _ = writeln!(s, "\n{HANDSHAKE_TITLE}");
        let _ = writeln!(s, "{}", text_row(&HANDSHAKE_HEAD, &HANDSHAKE_WIDTHS));
        for (row, t) in handshakes {
            let _ = writeln!(
                s,
                "{}",
                text_row(&handshake_cells(row, t), &HANDSHAKE_WIDTHS)
            );
        }
    }
    if let Some(n) = negotiated(r) {
        let _ = writeln!(s, "TLS: {n}");
    }
    if !r.targets.is_empty() {
        let _ = writeln!(s, "\nYour servers, against the ceiling's plaintext row:");
        let _ = writeln!(s, "{}", text_row(&TARGET_HEAD, &TARGET_WIDTHS));
        for row in &r.targets {
            let _ = writeln!(s, "{}", text_row(&target_cells(row), &TARGET_WIDTHS));
        }
    }
    let notes = interruption_notes(r);
    if !notes.is_empty() {
        let _ = writeln!(s, "\n{}", notes.join("\n"));
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
    for row in request_rows(r) {
        let _ = writeln!(s, "{}", markdown_row(&ceiling_cells(row)));
    }
    let mut handshakes = handshake_rows(r).peekable();
    if handshakes.peek().is_some() {
        let _ = writeln!(s, "\n{HANDSHAKE_TITLE}\n");
        let _ = writeln!(s, "{}", markdown_row(&HANDSHAKE_HEAD));
        let _ = writeln!(s, "|{}", "---|".repeat(HANDSHAKE_HEAD.len()));
        for (row, t) in handshakes {
            let _ = writeln!(s, "{}", markdown_row(&handshake_cells(row, t)));
        }
    }
    if let Some(n) = negotiated(r) {
        let _ = writeln!(s, "\nTLS: {n}.");
    }
    if !r.targets.is_empty() {
        let _ = writeln!(s, "\n{}", markdown_row(&TARGET_HEAD));
        let _ = writeln!(s, "|{}", "---|".repeat(TARGET_HEAD.len()));
        for row in &r.targets {
            let _ = writeln!(s, "{}", markdown_row(&target_cells(row)));
        }
    }
    for note in interruption_notes(r) {
        let _ = writeln!(s, "\n{}", markdown_marked(&note));
    }
    let _ = writeln!(
        s,
        "\nEach test ran as `{}`, the URL changing per row{}.",
        r.ceiling[0].result.meta.command_line,
        if negotiated(r).is_some() {
            "; the TLS rows add `-k` (an https URL of `ceiling serve --tls`), the handshake rows `-H 'Connection: close'` and `--tls-resume off` (new) or `on` (resumed)"
        } else {
            ""
        }
    );
    s
}

/// One CSV row per workload and target; an empty cell where nothing was measured.
///
/// With `--tls` rows, six columns follow (empty on plain rows): handshakes_per_sec,
/// resumed, handshake_p50_us, handshake_p99_us, generator_us_per_handshake,
/// server_us_per_handshake. When Ctrl-C cut a row short, a last column
/// `interrupted` (true or false) says which.
pub fn render_csv(r: &MachineReport) -> String {
    let cell = |v: Option<u64>| v.map_or(String::new(), |v| v.to_string());
    let float = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.3}"));
    let with_tls = r.ceiling.iter().any(|row| row.tls.is_some());
    let mut s = String::from(
        "kind,name,url,requests_per_sec,bytes_read_per_sec,p50_us,p99_us,p999_us,errors,generator_us_per_request,server_us_per_request,pct_of_ceiling",
    );
    if with_tls {
        s.push_str(",handshakes_per_sec,resumed,handshake_p50_us,handshake_p99_us,generator_us_per_handshake,server_us_per_handshake");
    }
    let with_cut = r
        .ceiling
        .iter()
        .chain(&r.targets)
        .any(|row| row.interrupted);
    if with_cut {
        s.push_str(",interrupted");
    }
    s.push('\n');
    for (kind, rows) in [("ceiling", &r.ceiling), ("target", &r.targets)] {
        for row in rows {
            let _ = write!(
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
            if with_tls {
                let t = row.tls.as_ref();
                let _ = write!(
                    s,
                    ",{},{},{},{},{},{}",
                    float(t.map(|t| t.handshakes_per_sec)),
                    t.map_or(String::new(), |t| t.resumed.to_string()),
                    cell(t.and_then(|t| t.handshake_p50_us)),
                    cell(t.and_then(|t| t.handshake_p99_us)),
                    float(t.and_then(|t| t.generator_us_per_handshake)),
                    float(t.and_then(|t| t.server_us_per_handshake)),
                );
            }
            if with_cut {
                let _ = write!(s, ",{}", row.interrupted);
            }
            s.push('\n');
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
    let rows: Vec<Vec<String>> = request_rows(r).map(ceiling_cells).collect();
    body.push_str(&table(&CEILING_HEAD, &rows));
    let handshakes: Vec<(&Row, &TlsRow)> = handshake_rows(r).collect();
    if !handshakes.is_empty() {
        let rows: Vec<Vec<String>> = handshakes
            .iter()
            .map(|(row, t)| handshake_cells(row, t))
            .collect();
        body.push_str(&format!(
            "<h2>{}</h2>",
            escape(HANDSHAKE_TITLE.trim_end_matches(':'))
        ));
        body.push_str(&table(&HANDSHAKE_HEAD, &rows));
    }
    if let Some(n) = negotiated(r) {
        body.push_str(&format!("<p>TLS: {}</p>", escape(&n)));
    }
    if !r.targets.is_empty() {
        let rows: Vec<Vec<String>> = r.targets.iter().map(target_cells).collect();
        body.push_str("<h2>Your servers, against the ceiling's plaintext row</h2>");
        body.push_str(&table(&TARGET_HEAD, &rows));
    }
    for note in interruption_notes(r) {
        body.push_str(&format!("<p>{}</p>", escape(&note)));
    }
    let bars: Vec<(String, f64)> = request_rows(r)
        .chain(&r.targets)
        .map(|row| (row.name.clone(), row.requests_per_sec))
        .collect();
    let curves: Vec<(String, String)> = request_rows(r)
        .chain(&r.targets)
        .map(|row| (row.name.clone(), row.result.latency.histogram.clone()))
        .collect();
    body.push_str(&format!(
        "<h2>Requests per second</h2>{}<h2>Latency by percentile</h2>{}",
        bar_chart("requests/s", &bars),
        percentile_chart(&curves)
    ));
    if !handshakes.is_empty() {
        let bars: Vec<(String, f64)> = handshakes
            .iter()
            .map(|(row, t)| (row.name.clone(), t.handshakes_per_sec))
            .collect();
        let curves: Vec<(String, String)> = handshakes
            .iter()
            .filter_map(|(row, _)| {
                let t = row.result.tls.as_ref()?;
                (t.handshake_latency.count > 0)
                    .then(|| (row.name.clone(), t.handshake_latency.histogram.clone()))
            })
            .collect();
        body.push_str(&format!(
            "<h2>TLS handshakes per second</h2>{}",
            bar_chart("handshakes/s", &bars)
        ));
        if !curves.is_empty() {
            body.push_str(&format!(
                "<h2>TLS handshake time by percentile</h2>{}",
                percentile_chart(&curves)
            ));
        }
    }
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
            interrupted: false,
            not_run: Vec::new(),
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

    /// A `--tls` row of `rps` requests/s over a 5 s run with `handshakes`
    /// (`resumed` of them resumed) and 2 s of generator CPU.
    fn tls_result(rps: f64, handshakes: u64, resumed: u64) -> RunResult {
        let mut r = result(rps, 200, 600, 0);
        r.duration_s = 5.0;
        r.counters.sent = (rps * 5.0) as u64;
        r.counters.completed = r.counters.sent;
        r.generator_cpu = crate::result::GeneratorCpu::new(1.5, 0.5, r.counters.sent);
        r.tls = Some(crate::campaign::fixture::tls(handshakes, resumed, 5.0));
        r
    }

    /// The plain rows and the three `--tls` rows, as `ceiling machine --tls` reports them.
    fn tls_report() -> MachineReport {
        let mut plain = Row::of(
            "plaintext",
            "http://127.0.0.1:8080/plaintext",
            result(250_000.0, 120, 410, 0),
        );
        plain.server_us_per_request = Some(3.9);
        let url = "https://127.0.0.1:8443/plaintext";
        let keep = Row::of_tls(
            TlsWorkload::KeptAlive,
            url,
            tls_result(200_000.0, 64, 0),
            Some(4.0),
        );
        let full = Row::of_tls(
            TlsWorkload::FullHandshakes,
            url,
            tls_result(4_000.0, 20_000, 0),
            Some(3.0),
        );
        let resumed = Row::of_tls(
            TlsWorkload::ResumedHandshakes,
            url,
            tls_result(10_000.0, 50_000, 49_000),
            Some(2.5),
        );
        MachineReport {
            schema: "ceiling.machine/1".into(),
            meta: plain.result.meta.clone(),
            server_cpus: vec![0],
            generator_cpus: vec![1],
            ceiling: vec![plain, keep, full, resumed],
            targets: Vec::new(),
            interrupted: false,
            not_run: Vec::new(),
        }
    }

    /// Ctrl-C during the last row: the row is marked in every layout, a
    /// footnote says how much of its run it covers, and the JSON says so at
    /// the row's top level and the report's.
    #[test]
    fn a_row_whose_run_warned_is_marked_and_footnoted() {
        let mut r = tls_report();
        let first = r.ceiling.first_mut().unwrap();
        let name = first.name.clone();
        first.result.warnings.push(
            "most responses were not 2xx or 3xx (10 of 10, 100.0%): Requests/sec counts them all"
                .into(),
        );
        let text = render_text(&r);
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{name} ! "))),
            "{text}"
        );
        let note = format!("!: {name}: most responses were not 2xx or 3xx");
        assert!(text.contains(&note), "{text}");
        assert!(render_markdown(&r).contains(&note));
        assert!(render_html(&r).contains("most responses were not 2xx or 3xx"));
    }

    #[test]
    fn an_interrupted_row_is_marked_in_every_layout() {
        let mut r = tls_report();
        let last = r.ceiling.last_mut().unwrap();
        last.result.interrupted = true;
        last.result.duration_s = 0.512;
        last.result.config.duration_s = Some(5.0);
        *last = Row::of_tls(
            TlsWorkload::ResumedHandshakes,
            "https://127.0.0.1:8443/plaintext",
            last.result.clone(),
            Some(2.5),
        );
        r.interrupted = true;
        let note = "*: TLS resumed handshakes: interrupted (Ctrl-C): covers 512 ms of the 5s asked";
        let text = render_text(&r);
        assert!(
            text.lines()
                .any(|l| l.starts_with("TLS resumed handshakes * ")),
            "{text}"
        );
        assert!(
            text.lines().any(|l| l.starts_with("TLS new handshakes  ")),
            "{text}"
        );
        assert_eq!(text.matches(" * ").count(), 1, "{text}");
        assert!(text.contains(&format!("\n{note}\n")), "{text}");
        let md = render_markdown(&r);
        assert!(md.contains("| TLS resumed handshakes \\* |"), "{md}");
        assert!(md.contains(&format!("\\{note}")), "{md}");
        let csv = render_csv(&r);
        assert!(
            csv.lines().next().unwrap().ends_with(",interrupted"),
            "{csv}"
        );
        assert!(csv.lines().last().unwrap().ends_with(",true"), "{csv}");
        assert!(csv.lines().nth(1).unwrap().ends_with(",false"), "{csv}");
        let html = render_html(&r);
        crate::report::html::assert_page(&html);
        assert!(html.contains("<td>TLS resumed handshakes *</td>"), "{html}");
        assert!(html.contains(&format!("<p>{note}</p>")), "{html}");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["interrupted"], true);
        assert_eq!(json["ceiling"][3]["interrupted"], true);
        assert_eq!(json["ceiling"][2]["interrupted"], false);

        // Ctrl-C between rows: nothing cut, the rest named as not run.
        let mut r = tls_report();
        r.ceiling.truncate(2);
        r.interrupted = true;
        r.not_run = vec!["TLS new handshakes".into(), "TLS resumed handshakes".into()];
        let text = render_text(&r);
        assert!(!text.contains(" * "), "{text}");
        assert!(
            text.ends_with(
                "\nInterrupted (Ctrl-C): not run: TLS new handshakes, TLS resumed handshakes\n"
            ),
            "{text}"
        );
        // An uninterrupted report has no notes, and a report written before
        // these fields reads back as uninterrupted.
        assert!(interruption_notes(&tls_report()).is_empty());
        let mut json = serde_json::to_value(tls_report()).unwrap();
        json.as_object_mut().unwrap().remove("interrupted");
        json.as_object_mut().unwrap().remove("not_run");
        json["ceiling"][0]
            .as_object_mut()
            .unwrap()
            .remove("interrupted");
        let back: MachineReport = serde_json::from_value(json).unwrap();
        assert!(!back.interrupted && !back.ceiling[0].interrupted);
    }

    #[test]
    fn tls_rows_carry_cpu_per_request_and_per_handshake_on_both_sides() {
        let r = tls_report();
        let keep = r.ceiling[1].tls.as_ref().unwrap();
        assert_eq!(keep.workload, TlsWorkload::KeptAlive);
        // Kept-alive: per request (4 s of server CPU over 1,000,000 requests),
        // no per-handshake figure (64 handshakes carry the whole run).
        assert_eq!(r.ceiling[1].server_us_per_request, Some(4.0));
        assert_eq!(r.ceiling[1].generator_us_per_request, Some(2.0));
        assert_eq!(keep.generator_us_per_handshake, None);
        assert_eq!(keep.server_us_per_handshake, None);
        // Full handshakes: 2 s of generator CPU and 3 s of server CPU over 20,000.
        let full = r.ceiling[2].tls.as_ref().unwrap();
        assert_eq!((full.handshakes, full.resumed), (20_000, 0));
        assert_eq!(full.handshakes_per_sec, 4_000.0);
        assert_eq!(full.generator_us_per_handshake, Some(100.0));
        assert_eq!(full.server_us_per_handshake, Some(150.0));
        assert!(full.handshake_p50_us.unwrap() >= 1_000);
        let resumed = r.ceiling[3].tls.as_ref().unwrap();
        assert_eq!(resumed.resumed, 49_000);
        assert_eq!(resumed.generator_us_per_handshake, Some(40.0));
        assert_eq!(resumed.server_us_per_handshake, Some(50.0));
        // The loads: -k against our own server, Connection: close and the
        // resumption setting on the handshake rows.
        let d = Duration::from_secs(1);
        let k = TlsWorkload::KeptAlive.load("https://h/", 8, None, d);
        assert!(k.tls.insecure && k.headers.is_empty());
        let f = TlsWorkload::FullHandshakes.load("https://h/", 8, None, d);
        assert!(f.tls.insecure && !f.tls.resume);
        assert_eq!(f.headers, ["Connection: close"]);
        let r2 = TlsWorkload::ResumedHandshakes.load("https://h/", 8, None, d);
        assert!(r2.tls.insecure && r2.tls.resume);
        assert_eq!(r2.headers, ["Connection: close"]);
        // JSON: the rows follow the plain ones, with their TLS figures.
        let json = serde_json::to_value(&r).unwrap();
        assert!(json["ceiling"][0].get("tls").is_none());
        assert_eq!(json["ceiling"][2]["tls"]["workload"], "full_handshakes");
        assert_eq!(json["ceiling"][3]["tls"]["server_us_per_handshake"], 50.0);
        let back: MachineReport = serde_json::from_value(json).unwrap();
        assert_eq!(back.ceiling[3].tls.as_ref().unwrap().resumed, 49_000);
    }

    #[test]
    fn a_tls_row_with_no_handshake_shows_no_figures() {
        let mut res = tls_result(0.0, 0, 0);
        res.counters.errors.tls_handshake = 64;
        let row = Row::of_tls(TlsWorkload::FullHandshakes, "https://h/", res, Some(0.1));
        let t = row.tls.as_ref().unwrap();
        assert_eq!(t.tls_handshake_errors, 64);
        assert_eq!(
            (t.handshake_p50_us, t.generator_us_per_handshake),
            (None, None)
        );
        assert_eq!(
            handshake_cells(&row, t)[1..],
            ["0", "n/a", "n/a", "n/a", "64", "n/a", "n/a"]
        );
    }

    /// The text, Markdown and CSV layouts with the `--tls` rows, pinned.
    #[test]
    fn layouts_with_the_tls_rows() {
        let report = tls_report();
        let text = render_text(&report);
        snapshot("machine-tls", &text);
        snapshot("machine-tls.md", &render_markdown(&report));
        snapshot("machine-tls.csv", &render_csv(&report));
        // Kept-alive in the requests table, the handshakes in their own.
        let keep = text
            .lines()
            .position(|l| l.starts_with("TLS kept-alive "))
            .unwrap();
        let title = text
            .lines()
            .position(|l| l.starts_with("TLS handshakes"))
            .unwrap();
        let full = text
            .lines()
            .position(|l| l.starts_with("TLS new handshakes "))
            .unwrap();
        assert!(keep < title && title < full, "{text}");
        assert!(text.contains("TLS: TLSv1_3 TLS13_AES_256_GCM_SHA384, ALPN http/1.1"));
        let html = render_html(&report);
        crate::report::html::assert_page(&html);
        assert!(
            html.contains("<th>handshakes/s</th>")
                && html.contains("<td>TLS resumed handshakes</td>")
        );
        assert!(html.contains("<h2>TLS handshakes per second</h2>"));
        assert!(html.contains("<h2>TLS handshake time by percentile</h2>"));
        assert_eq!(
            html.matches("<svg").count(),
            4,
            "two charts of requests, two of handshakes"
        );
    }

    #[test]
    fn the_start_up_line_gives_the_url_and_what_serves_it() {
        assert_eq!(
            startup_line("http://127.0.0.1:41000 (1 worker on CPUs 0, epoll)"),
            (
                "http://127.0.0.1:41000".into(),
                "1 worker on CPUs 0, epoll".into()
            )
        );
        assert_eq!(
            startup_line("https://127.0.0.1:41001 (1 worker on CPUs 0, epoll); TLS 1.3/1.2 (aws-lc-rs), self-signed certificate SHA-256 AB:CD"),
            (
                "https://127.0.0.1:41001".into(),
                "1 worker on CPUs 0, epoll; TLS 1.3/1.2 (aws-lc-rs), self-signed certificate SHA-256 AB:CD".into()
            )
        );
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
