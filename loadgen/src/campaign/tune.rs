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

use super::compare::{mean_ci95, median, ratio, times, Ratio};
use super::machine::EmbeddedServer;
use super::{plan_from, run_args, Failure, Outputs, Placement, Renderers};
use crate::meta::Meta;
use crate::result::RunResult;
use crate::sysctl;
use clap::Parser;
use serde::{Deserialize, Serialize};
use shared::runtime::format_cpu_list;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "ceiling tune",
    bin_name = "ceiling tune",
    about = "Compare kernel-setting profiles: apply, measure, restore; interleaved rounds, noise-aware"
)]
struct Args {
    /// The profiles file ([profiles.NAME] tables of sysctl = value)
    file: PathBuf,
    /// Measure this server instead of the embedded ceiling server
    #[arg(long)]
    target: Option<String>,
    /// Length of each run
    #[arg(short, long, default_value = "5s")]
    duration: String,
    /// Rounds; each runs every profile once, in a rotating order
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Connections [default: 64 per generator CPU]
    #[arg(short, long)]
    connections: Option<usize>,
    /// auto, uring or epoll (generator and embedded server)
    #[arg(long, default_value = "auto")]
    io_engine: String,
    #[command(flatten)]
    out: Outputs,
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
    pub median_rps: f64,
    pub mean_rps: f64,
    pub ci95_rps: f64,
    pub median_p99_us: u64,
    pub median_generator_us_per_request: f64,
    /// Server CPU per request (embedded server only).
    pub median_server_us_per_request: Option<f64>,
    pub vs_baseline: Option<Ratio>,
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

/// `ceiling tune ARGS` (args[0] is "tune"); returns the exit code.
pub fn main(args: &[OsString]) -> u8 {
    super::command("tune", args, run)
}

fn value_text(v: &toml::Value) -> Result<String, String> {
    match v {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Boolean(b) => Ok(u8::from(*b).to_string()),
        other => Err(format!(
            "unsupported value {other:?}: use a number or a string"
        )),
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
fn load(path: &PathBuf) -> Result<(String, Vec<Profile>), Failure> {
    let usage = |m: String| Failure::Usage(format!("{}: {m}", path.display()));
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
            let text = value_text(v).map_err(|m| usage(format!("{name}.{k}: {m}")))?;
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

fn run(a: Args) -> Result<u8, Failure> {
    if a.repeats == 0 {
        return Err(Failure::Usage("--repeats must be at least 1".into()));
    }
    let (baseline, profiles) = load(&a.file)?;
    let names: Vec<&str> = profiles
        .iter()
        .flat_map(|(_, s, _)| s.iter().map(|(k, _)| k.as_str()))
        .collect();
    sysctl::preflight(&names).map_err(Failure::Usage)?;
    for (name, _, server) in &profiles {
        if *server != ServerSetup::default() && a.target.is_some() {
            return Err(Failure::Usage(format!(
                "profile {name} sets the embedded server's io_engine or server_cpus, which --target does not use"
            )));
        }
    }
    // Catch Ctrl-C from here on: a first one ends the current run (then the
    // profile is restored and the report written), a second exits at once after
    // restoring.
    let stop = crate::run::ctrl_c();
    let place = Placement::new(None, None)?;
    let connections = place.connections(a.connections);
    let gen_args = |url: &str| place.generator_args(connections, &a.duration, &a.io_engine, url);
    plan_from(&gen_args(
        a.target.as_deref().unwrap_or("http://127.0.0.1:1/"),
    ))
    .map_err(Failure::Usage)?;
    a.out.check()?;

    let n = profiles.len();
    let mut runs: Vec<Vec<(RunResult, Option<f64>)>> = vec![Vec::new(); n];
    let mut restore_failures = Vec::new();
    'rounds: for round in 0..a.repeats {
        for k in 0..n {
            let i = (k + round) % n;
            let (name, settings, server) = &profiles[i];
            eprintln!("ceiling tune: round {}/{}: {name}", round + 1, a.repeats);
            sysctl::apply(settings).map_err(Failure::Run)?;
            // The server starts under the profile: some settings (backlogs) apply
            // when a socket is created.
            let outcome = measure(&a, server, &place.server_cpus, &gen_args);
            restore_failures.extend(sysctl::restore_all());
            let (result, server_us) = outcome?;
            let interrupted = result.interrupted || stop.is_triggered();
            runs[i].push((result, server_us));
            if interrupted {
                break 'rounds;
            }
        }
    }
    let base_index = profiles
        .iter()
        .position(|(n, _, _)| *n == baseline)
        .expect("checked");
    let base_rps: Vec<f64> = runs[base_index]
        .iter()
        .map(|(r, _)| r.requests_per_sec)
        .collect();
    let meta = runs
        .iter()
        .flatten()
        .next()
        .map(|(r, _)| r.meta.clone())
        .ok_or_else(|| Failure::Run("no run completed".into()))?;
    let summaries = profiles
        .into_iter()
        .zip(runs)
        .enumerate()
        .map(|(i, ((name, settings, server), runs))| {
            let rps: Vec<f64> = runs.iter().map(|(r, _)| r.requests_per_sec).collect();
            let (mean, half) = mean_ci95(&rps);
            let p99: Vec<f64> = runs
                .iter()
                .map(|(r, _)| r.latency.at(99.0) as f64)
                .collect();
            let gen: Vec<f64> = runs
                .iter()
                .map(|(r, _)| r.generator_cpu.us_per_request)
                .collect();
            let srv: Vec<f64> = runs.iter().filter_map(|(_, s)| *s).collect();
            ProfileSummary {
                name,
                settings,
                server,
                median_rps: median(&rps),
                mean_rps: mean,
                ci95_rps: half,
                median_p99_us: median(&p99) as u64,
                median_generator_us_per_request: median(&gen),
                median_server_us_per_request: (!srv.is_empty()).then(|| median(&srv)),
                vs_baseline: (i != base_index && !rps.is_empty()).then(|| ratio(&rps, &base_rps)),
                rps,
                runs: runs.into_iter().map(|(r, _)| r).collect(),
            }
        })
        .collect();
    let report = TuneReport {
        schema: "ceiling.tune/1".into(),
        meta,
        repeats: a.repeats,
        baseline,
        profiles: summaries,
        restore_failures,
    };
    print!("{}", render_text(&report));
    let code = a.out.write(
        "tune",
        &report,
        Renderers {
            markdown: render_markdown,
            csv: render_csv,
            html: render_html,
        },
    );
    if !report.restore_failures.is_empty() {
        eprintln!(
            "ceiling tune: could not restore: {}",
            report.restore_failures.join("; ")
        );
        return Ok(crate::EXIT_FAILED);
    }
    Ok(code)
}

/// One run under the profile now applied: against --target, or a fresh embedded
/// server (whose CPU per request is measured too).
fn measure(
    a: &Args,
    setup: &ServerSetup,
    server_cpus: &[usize],
    gen_args: &dyn Fn(&str) -> Vec<String>,
) -> Result<(RunResult, Option<f64>), Failure> {
    if let Some(url) = &a.target {
        let (_, r) = run_args(&gen_args(url)).map_err(Failure::Run)?;
        return Ok((r, None));
    }
    let cpus = setup
        .server_cpus
        .clone()
        .unwrap_or_else(|| format_cpu_list(server_cpus));
    let engine = setup.io_engine.as_deref().unwrap_or(&a.io_engine);
    let server = EmbeddedServer::start(&cpus, engine).map_err(Failure::Run)?;
    let before = server.cpu_seconds();
    let (_, r) = run_args(&gen_args(&format!("{}/plaintext", server.url))).map_err(Failure::Run)?;
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
    match p.vs_baseline {
        None => "baseline".into(),
        Some(r) if r.within_noise => format!(
            "{:+.1}% [{:+.1}%, {:+.1}%]: within noise",
            (r.ratio - 1.0) * 100.0,
            (r.low - 1.0) * 100.0,
            (r.high - 1.0) * 100.0
        ),
        Some(r) => format!(
            "{} ({:+.1}%), beyond noise [{:.3}, {:.3}]",
            times(r.ratio),
            (r.ratio - 1.0) * 100.0,
            r.low,
            r.high
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
        "{} rounds, interleaved; {} ({} CPUs, {}); each run: `{}`",
        r.repeats, r.meta.kernel, r.meta.nproc, r.meta.cpu_model, r.meta.command_line
    );
    let _ = writeln!(
        s,
        "{:<18} {:>12} {:>18} {:>10} {:>12} {:>12}  vs {}",
        "profile", "median rps", "mean ± 95%", "p99", "gen CPU/req", "srv CPU/req", r.baseline
    );
    for p in &r.profiles {
        let _ = writeln!(
            s,
            "{:<18} {:>12.0} {:>18} {:>10} {:>12} {:>12}  {}",
            p.name,
            p.median_rps,
            format!("{:.0} ± {:.0}", p.mean_rps, p.ci95_rps),
            us(p.median_p99_us as f64),
            us(p.median_generator_us_per_request),
            p.median_server_us_per_request.map_or("n/a".into(), us),
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
        "{} · {} CPUs ({}) · {} rounds, interleaved · {}\n\nEach run: `{}`\n",
        r.meta.kernel,
        r.meta.nproc,
        r.meta.cpu_model,
        r.repeats,
        r.meta.started_at,
        r.meta.command_line
    );
    let _ = writeln!(s, "| Profile | Settings | Median RPS | Mean ± 95% | p99 | Generator CPU/req | Server CPU/req | vs {} |", r.baseline);
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    for p in &r.profiles {
        let _ = writeln!(
            s,
            "| {} | {} | {:.0} | {:.0} ± {:.0} | {} | {} | {} | {} |",
            p.name,
            settings_text(p),
            p.median_rps,
            p.mean_rps,
            p.ci95_rps,
            us(p.median_p99_us as f64),
            us(p.median_generator_us_per_request),
            p.median_server_us_per_request.map_or("n/a".into(), us),
            vs_text(p)
        );
    }
    s
}

pub fn render_csv(r: &TuneReport) -> String {
    let mut s = String::from("profile,round,requests_per_sec,p99_us,generator_us_per_request\n");
    for p in &r.profiles {
        for (i, run) in p.runs.iter().enumerate() {
            let _ = writeln!(
                s,
                "{},{},{:.2},{},{:.3}",
                p.name,
                i + 1,
                run.requests_per_sec,
                run.latency.at(99.0),
                run.generator_cpu.us_per_request
            );
        }
    }
    s
}

pub fn render_html(r: &TuneReport) -> String {
    use crate::report::html::{bar_chart, escape, page};
    let bars: Vec<(String, f64)> = r
        .profiles
        .iter()
        .map(|p| (p.name.clone(), p.median_rps))
        .collect();
    let body = format!(
        "<pre>{}</pre><h2>Median requests/s per profile</h2>{}",
        escape(&render_text(r)),
        bar_chart("requests/s", &bars)
    );
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
            assert!(matches!(parse(bad), Err(Failure::Usage(_))), "{bad}");
        }
        let _ = std::fs::remove_file(&path);
    }
}
