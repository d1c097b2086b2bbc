//! `ceiling tune PROFILES.toml`: the same workload under several kernel-setting
//! profiles, interleaved over rounds, each profile applied before its run and
//! restored after it (also on errors and Ctrl-C), with each profile's difference
//! to the baseline and whether it is beyond the run-to-run noise.
//!
//! ```toml
//! baseline = "default"            # optional; else the first empty profile
//! [profiles.default]               # empty: the settings as they are
//! [profiles.small-backlog]
//! "net.core.somaxconn" = 128
//! [profiles.no-tw-reuse]
//! "net.ipv4.tcp_tw_reuse" = 0
//! [profiles.epoll-server]          # not a sysctl: how the embedded server runs
//! io_engine = "epoll"
//! server_cpus = "0"
//! ```
//!
//! Keys without a dot are not sysctls (every sysctl name has one): `io_engine`
//! and `server_cpus` set the embedded server's engine and CPUs for that profile.

use super::machine::EmbeddedServer;
use super::stats::{self, ratio, times, Ratio};
use super::{plan_for, run_load, Placement, Reach, Renderers, ReportFiles};
use crate::error::{CliError, Failed};
use crate::meta::Meta;
use crate::options::{self, ConnArgs, MachineArgs, RequestArgs, StopArgs, UsageError};
use crate::plan::{Load, Machine};
use crate::result::RunResult;
use crate::sysctl;
use clap::Parser;
use serde::{Deserialize, Serialize};
use shared::runtime::format_cpu_list;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "ceiling tune",
    bin_name = "ceiling tune",
    about = "Compare kernel-setting profiles: apply, measure, restore; interleaved rounds, noise-aware",
    after_help = "Exit codes: 0 the profiles ran; 1 it could not complete (or a setting could not be restored); 2 bad usage."
)]
pub(crate) struct Args {
    /// The profiles file ([profiles.NAME] tables of sysctl = value)
    file: PathBuf,
    /// Measure this server instead of the embedded ceiling server
    #[arg(long)]
    target: Option<String>,
    /// Rounds, 1 to 1000; each runs every profile once, in a rotating order (2 or
    /// more give a noise estimate)
    #[arg(long, default_value_t = 3, value_parser = options::usize_value::<1, 1000>, allow_hyphen_values = true)]
    repeats: usize,
    #[command(flatten)]
    conn: ConnArgs,
    #[command(flatten)]
    stop: StopArgs,
    #[command(flatten)]
    request: RequestArgs,
    /// The generator's CPUs (--cpus) and engine; the engine is the embedded server's too
    #[command(flatten)]
    machine: MachineArgs,
    #[command(flatten)]
    out: ReportFiles,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfilesFile {
    baseline: Option<String>,
    profiles: BTreeMap<String, BTreeMap<String, toml::Value>>,
}

/// One profile's measurements over the rounds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProfileSummary {
    pub name: String,
    /// The settings it applies (empty: unchanged).
    pub settings: Vec<(String, String)>,
    /// The embedded server's engine and CPUs under this profile, when it sets them.
    #[serde(default)]
    pub server: ServerSetup,
    pub rps: Vec<f64>,
    /// None for a profile that never ran (Ctrl-C before its turn).
    pub median_rps: Option<f64>,
    pub mean_rps: Option<f64>,
    /// Half-width of the 95% interval of the mean; None with fewer than 2 rounds.
    pub ci95_rps: Option<f64>,
    /// Median p99 (µs) over the rounds where something completed; None when nothing did.
    pub median_p99_us: Option<u64>,
    /// Median generator CPU per request sent (µs) over the rounds that sent any.
    pub median_generator_us_per_request: Option<f64>,
    /// Server CPU per request (embedded server only).
    pub median_server_us_per_request: Option<f64>,
    pub vs_baseline: Option<Ratio>,
    /// Request and connect errors over all its rounds.
    #[serde(default)]
    pub errors: u64,
    pub runs: Vec<RunResult>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TuneReport {
    pub schema: String,
    pub meta: Meta,
    pub repeats: usize,
    pub baseline: String,
    pub profiles: Vec<ProfileSummary>,
    /// Settings whose restore failed (should be empty).
    pub restore_failures: Vec<String>,
}

/// `ceiling tune ARGS` (args[0] is "tune").
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

fn value_text(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Boolean(b) => Some(u8::from(*b).to_string()),
        _ => None,
    }
}

/// How a profile runs the embedded server (None: the command line's choice).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerSetup {
    pub io_engine: Option<String>,
    pub server_cpus: Option<String>,
}

/// A profile: its name, the (setting, value) pairs it applies, its server setup.
type Profile = (String, Vec<(String, String)>, ServerSetup);

/// The baseline's name and the profiles, in name order.
fn load(path: &PathBuf) -> Result<(String, Vec<Profile>), UsageError> {
    let usage = |reason: String| UsageError::File {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| usage(e.to_string()))?;
    let f: ProfilesFile = toml::from_str(&text).map_err(|e| {
        usage(
            e.to_string()
                .lines()
                .last()
                .unwrap_or("invalid TOML")
                .trim()
                .to_string(),
        )
    })?;
    if f.profiles.len() < 2 {
        return Err(usage("needs at least two [profiles.NAME] tables".into()));
    }
    let mut profiles = Vec::new();
    for (name, table) in &f.profiles {
        let mut settings = Vec::new();
        let mut server = ServerSetup::default();
        for (k, v) in table {
            let text = value_text(v).ok_or_else(|| {
                usage(format!(
                    "{name}.{k}: unsupported value {v:?}: use a number or a string"
                ))
            })?;
            match k.as_str() {
                "io_engine" => {
                    text.parse::<shared::runtime::IoEngine>()
                        .map_err(|m| usage(format!("{name}.io_engine: {m}")))?;
                    server.io_engine = Some(text);
                }
                "server_cpus" => {
                    shared::runtime::resolve_cpus(Some(&text))
                        .map_err(|m| usage(format!("{name}.server_cpus: {m}")))?;
                    server.server_cpus = Some(text);
                }
                k if !k.contains('.') => {
                    return Err(usage(format!(
                        "{name}.{k}: not a sysctl name (net.core.somaxconn, ...) nor io_engine or server_cpus"
                    )))
                }
                _ => settings.push((k.to_string(), text)),
            }
        }
        profiles.push((name.clone(), settings, server));
    }
    let baseline = match f.baseline {
        Some(b) if profiles.iter().any(|(n, _, _)| *n == b) => b,
        Some(b) => return Err(usage(format!("baseline {b:?} is not a profile"))),
        None => profiles
            .iter()
            .find(|(_, s, server)| s.is_empty() && *server == ServerSetup::default())
            .map(|(n, _, _)| n.clone())
            .ok_or_else(|| {
                usage("no baseline: add an empty profile or baseline = \"NAME\"".into())
            })?,
    };
    Ok((baseline, profiles))
}

fn run(a: Args, reach: Reach) -> Result<(), CliError> {
    let (baseline, profiles) = load(&a.file)?;
    let names: Vec<&str> = profiles
        .iter()
        .flat_map(|(_, s, _)| s.iter().map(|(k, _)| k.as_str()))
        .collect();
    sysctl::preflight(&names).map_err(|e| UsageError::Conflict(e.to_string()))?;
    for (name, _, server) in &profiles {
        if *server != ServerSetup::default() && a.target.is_some() {
            return Err(UsageError::Conflict(format!(
                "profile {name} sets the embedded server's io_engine or server_cpus, which --target does not use"
            ))
            .into());
        }
    }
    let place = Placement::new(None, a.machine.cpus.as_deref())?;
    let machine = place.machine(
        a.machine.io_engine,
        options::source_ips(a.machine.source_ips.as_deref())?,
    );
    let connections = place.connections(a.conn.connections);
    let duration = a.stop.duration.unwrap_or(Duration::from_secs(5));
    let load_for = |url: &str| -> Result<Load, CliError> {
        let mut load = super::base_load(url, &a.request, &a.conn, connections, duration)?;
        load.requests = a.stop.requests;
        Ok(load)
    };
    plan_for(
        &load_for(a.target.as_deref().unwrap_or("http://127.0.0.1:1/"))?,
        &machine,
    )?;
    a.out.check()?;
    if reach == Reach::Checks {
        return Ok(());
    }
    // Catch Ctrl-C from here on: a first one ends the current run (then the
    // profile is restored and the report written), a second exits at once after
    // restoring.
    let stop = crate::run::ctrl_c();

    let n = profiles.len();
    let mut runs: Vec<Vec<(RunResult, Option<f64>)>> = vec![Vec::new(); n];
    let mut restore_failures = Vec::new();
    'rounds: for round in 0..a.repeats {
        for k in 0..n {
            let i = (k + round) % n;
            let (name, settings, server) = &profiles[i];
            shared::say!("ceiling tune: round {}/{}: {name}", round + 1, a.repeats);
            sysctl::apply(settings).map_err(Failed::Sysctl)?;
            // The server starts under the profile: some settings (backlogs) apply
            // when a socket is created.
            let outcome = measure(&a, &machine, server, &place.server_cpus, &load_for);
            restore_failures.extend(sysctl::restore_all());
            let (result, server_us) = outcome?;
            let interrupted = result.interrupted || stop.is_triggered();
            runs[i].push((result, server_us));
            if interrupted {
                break 'rounds;
            }
        }
    }
    let meta = runs
        .iter()
        .flatten()
        .next()
        .map(|(r, _)| r.meta.clone())
        .ok_or(Failed::NothingRan)?;
    let report = report_of(meta, a.repeats, baseline, profiles, runs, restore_failures);
    super::print(&render_text(&report))?;
    let written = a.out.write(
        &report,
        Renderers {
            markdown: render_markdown,
            csv: render_csv,
            html: render_html,
        },
    );
    if !report.restore_failures.is_empty() {
        return Err(Failed::Outputs(vec![format!(
            "could not restore: {}",
            report.restore_failures.join("; ")
        )])
        .into());
    }
    written?;
    // Like a single run: when no run could connect at all, the command could
    // not do its job (exit 1), after the report of what was tried.
    match nothing_connected(&report) {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// `Some` when every run of every profile failed every connect.
fn nothing_connected(r: &TuneReport) -> Option<Failed> {
    let mut runs = r.profiles.iter().flat_map(|p| &p.runs).peekable();
    runs.peek()?;
    let mut errors = 0;
    let mut addr = None;
    for run in runs {
        let c = &run.counters;
        if c.connects > 0 || c.errors.connect == 0 {
            return None;
        }
        errors += c.errors.connect;
        addr = addr.or(run.config.addr);
    }
    Some(Failed::NoConnection {
        addr: addr?,
        errors,
    })
}

/// The report of the profiles' runs (`runs[i]`: profile i's rounds, each with
/// the embedded server's CPU per request).
fn report_of(
    meta: Meta,
    repeats: usize,
    baseline: String,
    profiles: Vec<Profile>,
    runs: Vec<Vec<(RunResult, Option<f64>)>>,
    restore_failures: Vec<String>,
) -> TuneReport {
    let base_index = profiles
        .iter()
        .position(|(n, _, _)| *n == baseline)
        .unwrap_or(0);
    let base_rps: Vec<f64> = runs[base_index]
        .iter()
        .map(|(r, _)| r.requests_per_sec)
        .collect();
    let summaries = profiles
        .into_iter()
        .zip(runs)
        .enumerate()
        .map(|(i, ((name, settings, server), runs))| {
            let rps: Vec<f64> = runs.iter().map(|(r, _)| r.requests_per_sec).collect();
            // A round where nothing completed has no latency (not 0 µs), and
            // one that sent nothing no CPU per request.
            let p99: Vec<f64> = runs
                .iter()
                .filter(|(r, _)| r.counters.completed > 0)
                .map(|(r, _)| r.latency.at(99.0) as f64)
                .collect();
            let gen: Vec<f64> = runs
                .iter()
                .filter(|(r, _)| r.counters.sent > 0)
                .map(|(r, _)| r.generator_cpu.us_per_request)
                .collect();
            let errors = runs
                .iter()
                .map(|(r, _)| r.counters.request_errors() + r.counters.errors.connection_errors())
                .sum();
            let srv: Vec<f64> = runs.iter().filter_map(|(_, s)| *s).collect();
            ProfileSummary {
                name,
                settings,
                server,
                median_rps: stats::median(&rps),
                mean_rps: stats::mean(&rps),
                ci95_rps: stats::ci95(&rps),
                median_p99_us: stats::median(&p99).map(|v| v as u64),
                median_generator_us_per_request: stats::median(&gen),
                median_server_us_per_request: stats::median(&srv),
                vs_baseline: (i != base_index && !rps.is_empty()).then(|| ratio(&rps, &base_rps)),
                errors,
                rps,
                runs: runs.into_iter().map(|(r, _)| r).collect(),
            }
        })
        .collect();
    TuneReport {
        schema: "ceiling.tune/1".into(),
        meta,
        repeats,
        baseline,
        profiles: summaries,
        restore_failures,
    }
}

/// One run under the profile now applied: against --target, or a fresh embedded
/// server (whose CPU per request is measured too).
fn measure(
    a: &Args,
    machine: &Machine,
    setup: &ServerSetup,
    server_cpus: &[usize],
    load_for: &dyn Fn(&str) -> Result<Load, CliError>,
) -> Result<(RunResult, Option<f64>), CliError> {
    if let Some(url) = &a.target {
        let (_, r) = run_load(&load_for(url)?, machine)?;
        return Ok((r, None));
    }
    let cpus = setup
        .server_cpus
        .clone()
        .unwrap_or_else(|| format_cpu_list(server_cpus));
    let engine = setup
        .io_engine
        .clone()
        .unwrap_or_else(|| a.machine.io_engine.to_string());
    let server = EmbeddedServer::start(&cpus, &engine).map_err(Failed::Server)?;
    let before = server.cpu_seconds();
    let (_, r) = run_load(&load_for(&format!("{}/plaintext", server.url))?, machine)?;
    let cpu = server.cpu_seconds() - before;
    let per = (r.counters.completed > 0).then(|| cpu * 1e6 / r.counters.completed as f64);
    Ok((r, per))
}

fn settings_text(p: &ProfileSummary) -> String {
    let mut parts: Vec<String> = p.settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if let Some(e) = &p.server.io_engine {
        parts.push(format!("server io_engine={e}"));
    }
    if let Some(c) = &p.server.server_cpus {
        parts.push(format!("server CPUs {c}"));
    }
    if parts.is_empty() {
        "(unchanged)".into()
    } else {
        parts.join(", ")
    }
}

fn vs_text(p: &ProfileSummary) -> String {
    let Some(r) = p.vs_baseline else {
        return if p.runs.is_empty() {
            "not run".into()
        } else {
            "baseline".into()
        };
    };
    let Some(x) = r.ratio else {
        return "n/a (no throughput to compare)".into();
    };
    let pct = |v: f64| (v - 1.0) * 100.0;
    match (r.low, r.high, r.within_noise) {
        (Some(lo), Some(hi), Some(true)) => format!(
            "{:+.1}% [{:+.1}%, {:+.1}%]: within noise",
            pct(x),
            pct(lo),
            pct(hi)
        ),
        (Some(lo), Some(hi), _) => format!(
            "{} ({:+.1}%), beyond noise [{lo:.3}, {hi:.3}]",
            times(x),
            pct(x)
        ),
        _ => format!(
            "{} ({:+.1}%): {}",
            times(x),
            pct(x),
            stats::no_estimate(r.rounds)
        ),
    }
}

fn us(v: f64) -> String {
    crate::report::text::time_us(v)
}

pub fn render_text(r: &TuneReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}, interleaved; {} ({} CPUs, {}); each run: `{}`",
        super::rounds(r.repeats),
        r.meta.kernel,
        r.meta.nproc,
        r.meta.cpu_model,
        r.meta.command_line
    );
    let _ = writeln!(
        s,
        "{:<18} {:>12} {:>18} {:>10} {:>12} {:>12} {:>8}  vs {}",
        "profile",
        "median rps",
        "mean ± 95%",
        "p99",
        "gen CPU/req",
        "srv CPU/req",
        "errors",
        r.baseline
    );
    for p in &r.profiles {
        let _ = writeln!(
            s,
            "{:<18} {:>12} {:>18} {:>10} {:>12} {:>12} {:>8}  {}",
            p.name,
            p.median_rps.map_or("n/a".into(), |v| format!("{v:.0}")),
            stats::mean_text(p.mean_rps, p.ci95_rps),
            p.median_p99_us.map_or("n/a".into(), |v| us(v as f64)),
            p.median_generator_us_per_request.map_or("n/a".into(), us),
            p.median_server_us_per_request.map_or("n/a".into(), us),
            p.errors,
            vs_text(p)
        );
    }
    for p in &r.profiles {
        let _ = writeln!(s, "  {}: {}", p.name, settings_text(p));
    }
    s
}

pub fn render_markdown(r: &TuneReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Kernel tuning comparison\n");
    let _ = writeln!(
        s,
        "{} · {} CPUs ({}) · {}, interleaved · {}\n\nEach run: `{}`\n",
        r.meta.kernel,
        r.meta.nproc,
        r.meta.cpu_model,
        super::rounds(r.repeats),
        r.meta.started_at,
        r.meta.command_line
    );
    let _ = writeln!(s, "| Profile | Settings | Median RPS | Mean ± 95% | p99 | Generator CPU/req | Server CPU/req | Errors | vs {} |", r.baseline);
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|");
    for p in &r.profiles {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            p.name,
            settings_text(p),
            p.median_rps.map_or("n/a".into(), |v| format!("{v:.0}")),
            stats::mean_text(p.mean_rps, p.ci95_rps),
            p.median_p99_us.map_or("n/a".into(), |v| us(v as f64)),
            p.median_generator_us_per_request.map_or("n/a".into(), us),
            p.median_server_us_per_request.map_or("n/a".into(), us),
            p.errors,
            vs_text(p)
        );
    }
    s
}

pub fn render_csv(r: &TuneReport) -> String {
    let mut s =
        String::from("profile,round,requests_per_sec,p99_us,generator_us_per_request,errors\n");
    for p in &r.profiles {
        for (i, run) in p.runs.iter().enumerate() {
            let c = &run.counters;
            // Nothing completed (sent): no latency (CPU per request) was
            // measured: an empty cell, as the other layouts' n/a.
            let p99 = if c.completed > 0 {
                run.latency.at(99.0).to_string()
            } else {
                String::new()
            };
            let gen = if c.sent > 0 {
                format!("{:.3}", run.generator_cpu.us_per_request)
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "{},{},{:.2},{p99},{gen},{}",
                p.name,
                i + 1,
                run.requests_per_sec,
                c.request_errors() + c.errors.connection_errors()
            );
        }
    }
    s
}

/// The page: the profiles as an HTML table (settings, medians, the change
/// against the baseline) and the median requests/s as bars.
pub fn render_html(r: &TuneReport) -> String {
    use crate::report::html::{bar_chart, escape, page, table};
    let m = &r.meta;
    let mut body = format!(
        "<p>{} · {} ({} CPUs, {}) · each run: <code>{}</code></p>",
        escape(&super::rounds(r.repeats)),
        escape(&m.kernel),
        m.nproc,
        escape(&m.cpu_model),
        escape(&m.command_line)
    );
    let rows: Vec<Vec<String>> = r
        .profiles
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                settings_text(p),
                p.median_rps.map_or("n/a".into(), |v| format!("{v:.0}")),
                stats::mean_text(p.mean_rps, p.ci95_rps),
                p.median_p99_us.map_or("n/a".into(), |v| us(v as f64)),
                p.median_generator_us_per_request.map_or("n/a".into(), us),
                p.median_server_us_per_request.map_or("n/a".into(), us),
                vs_text(p),
            ]
        })
        .collect();
    let vs = format!("vs {}", r.baseline);
    body.push_str(&table(
        &[
            "profile",
            "settings",
            "median rps",
            "mean ± 95%",
            "p99",
            "gen CPU/req",
            "srv CPU/req",
            vs.as_str(),
        ],
        &rows,
    ));
    // A profile with no measured run has no bar, rather than a bar at 0.
    let bars: Vec<(String, f64)> = r
        .profiles
        .iter()
        .filter_map(|p| Some((p.name.clone(), p.median_rps?)))
        .collect();
    body.push_str(&format!(
        "<h2>Median requests/s per profile</h2>{}",
        bar_chart("requests/s", &bars)
    ));
    page("ceiling tune", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_file_parses_and_finds_the_baseline() {
        let dir =
            std::env::temp_dir().join(format!("ceiling-tune-unit-{}.toml", std::process::id()));
        std::fs::write(
            &dir,
            "[profiles.base]\n[profiles.small]\n\"net.core.somaxconn\" = 128\n\"net.ipv4.tcp_rmem\" = \"4096 131072 6291456\"\n",
        )
        .unwrap();
        let (baseline, profiles) = load(&dir).ok().unwrap();
        let _ = std::fs::remove_file(&dir);
        assert_eq!(baseline, "base");
        assert_eq!(profiles.len(), 2);
        assert!(profiles[1]
            .1
            .contains(&("net.core.somaxconn".into(), "128".into())));
    }

    #[test]
    fn dotless_keys_set_the_server_not_sysctls() {
        let path =
            std::env::temp_dir().join(format!("ceiling-tune-srv-{}.toml", std::process::id()));
        let parse = |text: &str| {
            std::fs::write(&path, text).unwrap();
            load(&path)
        };
        let (_, profiles) = parse(
            "[profiles.base]\n[profiles.epoll]\nio_engine = \"epoll\"\nserver_cpus = \"0\"\n",
        )
        .ok()
        .unwrap();
        assert_eq!(profiles[1].0, "epoll");
        assert!(profiles[1].1.is_empty());
        assert_eq!(profiles[1].2.io_engine.as_deref(), Some("epoll"));
        assert_eq!(profiles[1].2.server_cpus.as_deref(), Some("0"));
        for bad in [
            "[profiles.base]\n[profiles.x]\nio_engine = \"fast\"\n",
            "[profiles.base]\n[profiles.x]\nserver_cpus = \"z\"\n",
            "[profiles.base]\n[profiles.x]\nsomaxconn = 5\n",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let _ = std::fs::remove_file(&path);
    }

    fn profiles() -> Vec<Profile> {
        vec![
            ("base".into(), Vec::new(), ServerSetup::default()),
            (
                "small".into(),
                vec![("net.core.somaxconn".into(), "128".into())],
                ServerSetup::default(),
            ),
        ]
    }

    /// One round, and a profile that never ran: no inf, no NaN, no claim about
    /// the noise, and the layout pinned.
    #[test]
    fn one_round_and_a_profile_not_run() {
        use crate::campaign::fixture::{result, snapshot};
        let r = result(20_000.0, 90, 400, 0);
        let report = report_of(
            r.meta.clone(),
            1,
            "base".into(),
            profiles(),
            vec![
                vec![(r, Some(3.5))],
                vec![(result(24_000.0, 80, 350, 0), Some(3.1))],
            ],
            Vec::new(),
        );
        let text = render_text(&report);
        assert!(!text.contains("inf") && !text.contains("NaN"), "{text}");
        assert!(
            !text.contains("within noise") && !text.contains("beyond noise"),
            "{text}"
        );
        assert!(text.contains("no noise estimate from 1 round"), "{text}");
        snapshot("tune-one-round", &text);
        let html = render_html(&report);
        crate::report::html::assert_page(&html);
        assert!(html.contains("<th>median rps</th>"), "{html}");
        assert!(html.contains("<td>base</td>"));
        let r = result(20_000.0, 90, 400, 0);
        let report = report_of(
            r.meta.clone(),
            3,
            "base".into(),
            profiles(),
            vec![vec![(r, None)], Vec::new()],
            Vec::new(),
        );
        let text = render_text(&report);
        assert!(!text.contains("inf") && !text.contains("NaN"), "{text}");
        assert!(text.contains("not run"), "{text}");
    }

    /// Rounds where nothing could connect: no p99 or CPU per request that reads
    /// as measured (n/a), the connect errors shown, and the command fails with
    /// exit 1 as a single run that cannot connect does; one round that connected is
    /// enough for the command to stand.
    #[test]
    fn nothing_connected_shows_no_figures_and_fails() {
        use crate::campaign::fixture::result;
        let refused = || {
            let mut r = result(0.0, 0, 0, 0);
            r.counters.sent = 0;
            r.counters.completed = 0;
            r.counters.connects = 0;
            r.counters.errors.connect = 64;
            r.config.addr = Some(([127, 0, 0, 1], 1).into());
            r
        };
        let report = report_of(
            refused().meta.clone(),
            2,
            "base".into(),
            profiles(),
            vec![
                vec![(refused(), None), (refused(), None)],
                vec![(refused(), None), (refused(), None)],
            ],
            Vec::new(),
        );
        let base = &report.profiles[0];
        assert_eq!(base.median_p99_us, None);
        assert_eq!(base.median_generator_us_per_request, None);
        assert_eq!(base.errors, 128);
        let text = render_text(&report);
        let row = text.lines().find(|l| l.starts_with("base ")).unwrap();
        assert!(row.contains("n/a") && row.contains(" 128 "), "{text}");
        assert!(!row.contains("0.00us"), "{text}");
        // The CSV too: empty cells, not 0, and the errors of each round.
        let csv = render_csv(&report);
        assert!(csv.starts_with(
            "profile,round,requests_per_sec,p99_us,generator_us_per_request,errors\n"
        ));
        assert!(csv.contains("\nbase,1,0.00,,,64\n"), "{csv}");
        assert!(
            matches!(
                nothing_connected(&report),
                Some(Failed::NoConnection { errors: 256, .. })
            ),
            "{text}"
        );

        let mut report = report;
        report.profiles[1].runs[1] = result(20_000.0, 90, 400, 0);
        assert!(nothing_connected(&report).is_none());
    }
}
