//! Campaigns: several runs built as Plans and read back as RunResults. A campaign
//! never touches a socket itself; the worker code does. Each changes the typed
//! fields of one [`Load`] from step to step (connections, rate, duration) and
//! builds every step's plan before the first runs, so bad usage stops before load.

pub mod compare;
pub mod machine;
pub mod matrix;
pub mod ramp;
pub mod sampler;
pub mod stats;
pub mod tune;

use crate::error::{CliError, Failed};
use crate::options::{ConnArgs, RequestArgs, UsageError};
use crate::plan::{build, BuildError, Load, Machine, Mode, Outputs, Plan, Share};
use crate::result::RunResult;
use crate::run;
use serde::Serialize;
use shared::runtime::{format_cpu_list, IoEngine};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use crate::options::Reach;

/// The report files every campaign can write.
#[derive(Debug, Default, clap::Args)]
pub struct ReportFiles {
    /// Write the report and every run's full result as JSON
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the tables as Markdown
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Write the rows as CSV
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Write a self-contained HTML page with the tables and charts
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// A campaign report's renderers, one per file kind.
pub struct Renderers<R> {
    pub markdown: fn(&R) -> String,
    pub csv: fn(&R) -> String,
    pub html: fn(&R) -> String,
}

impl ReportFiles {
    /// Creates every asked-for file now, so a bad path fails before any load.
    pub fn check(&self) -> Result<(), BuildError> {
        for (flag, path) in [
            ("--json", &self.json),
            ("--markdown", &self.markdown),
            ("--csv", &self.csv),
            ("--html", &self.html),
        ] {
            if let Some(path) = path {
                std::fs::File::create(path).map_err(|source| BuildError::Output {
                    flag,
                    path: path.clone(),
                    source,
                })?;
            }
        }
        Ok(())
    }

    /// Writes every asked-for file; Err names each one that could not be written.
    pub fn write<R: Serialize>(&self, report: &R, r: Renderers<R>) -> Result<(), Failed> {
        let mut failed = Vec::new();
        let json = || serde_json::to_string_pretty(report).expect("serialisable") + "\n";
        let files: [(&Option<PathBuf>, &dyn Fn() -> String); 4] = [
            (&self.json, &json),
            (&self.markdown, &|| (r.markdown)(report)),
            (&self.csv, &|| (r.csv)(report)),
            (&self.html, &|| (r.html)(report)),
        ];
        for (path, text) in files {
            if let Some(p) = path {
                if let Err(e) = std::fs::write(p, text()) {
                    failed.push(format!("could not write {}: {e}", p.display()));
                }
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(Failed::Outputs(failed))
        }
    }
}

/// "1 round", "3 rounds".
pub fn rounds(n: usize) -> String {
    format!("{n} round{}", if n == 1 { "" } else { "s" })
}

/// Prints a campaign's text report; Err when stdout is gone.
pub fn print(text: &str) -> Result<(), Failed> {
    use std::io::Write as _;
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(|e| Failed::Outputs(vec![format!("could not print the report: {e}")]))
}

/// Where a same-machine campaign runs: the server on one set of CPUs, the
/// generator on a disjoint one (shared on a one-CPU machine).
pub struct Placement {
    pub server_cpus: Vec<usize>,
    pub generator_cpus: Vec<usize>,
}

impl Placement {
    /// The two halves of the CPUs this process may use, unless given as lists.
    pub fn new(server: Option<&str>, generator: Option<&str>) -> Result<Self, UsageError> {
        use shared::runtime::placement::split_halves;
        use shared::runtime::resolve_cpus;
        let cpus = |flag: &'static str, list: Option<&str>| {
            resolve_cpus(list).map_err(|e| UsageError::Flag {
                flag,
                reason: e.to_string(),
            })
        };
        let allowed = cpus("--cpus", None)?;
        let (mut server_cpus, mut generator_cpus) = if allowed.len() >= 2 {
            split_halves(&allowed)
        } else {
            (allowed.clone(), allowed)
        };
        if let Some(list) = server {
            server_cpus = cpus("--server-cpus", Some(list))?;
        }
        if let Some(list) = generator {
            generator_cpus = cpus("--generator-cpus", Some(list))?;
        }
        Ok(Self {
            server_cpus,
            generator_cpus,
        })
    }

    /// Connections when not given: 64 per generator CPU.
    pub fn connections(&self, given: Option<usize>) -> usize {
        given
            .unwrap_or(64 * self.generator_cpus.len())
            .max(self.generator_cpus.len())
    }

    /// The generator's machine: pinned to the generator CPUs, a thread per CPU.
    pub fn machine(&self, io_engine: IoEngine, source_ips: Vec<IpAddr>) -> Machine {
        Machine {
            cpus: Some(format_cpu_list(&self.generator_cpus)),
            io_engine,
            source_ips,
            tls_checked: false,
        }
    }
}

/// `NAME=URL`, both parts non-empty.
pub fn parse_target(t: &str) -> Result<(String, String), UsageError> {
    t.split_once('=')
        .filter(|(n, u)| !n.is_empty() && !u.is_empty())
        .map(|(n, u)| (n.to_string(), u.to_string()))
        .ok_or_else(|| {
            UsageError::Conflict(format!("{:?}: expected NAME=URL", crate::redact::url(t)))
        })
}

/// A campaign's load before its steps change it: the request flags, the
/// connections and threads, `duration` per run, against `url`.
pub fn base_load(
    url: &str,
    request: &RequestArgs,
    conn: &ConnArgs,
    connections: usize,
    duration: Duration,
) -> Result<Load, BuildError> {
    let (urls, body) = crate::plan::read_inputs(
        Some(url),
        None,
        request.body.as_deref(),
        request.body_file.as_deref(),
    )?;
    let (script, requests_file) = request.sources(&[])?;
    Ok(Load {
        urls,
        method: request.method.clone(),
        headers: request.headers.clone(),
        body,
        connections,
        threads: conn.threads,
        duration: Some(duration),
        requests: None,
        pipeline: request.pipeline,
        pipeline_mode: request.pipeline_mode,
        timeout: request.timeout,
        rate: None,
        arrivals: crate::plan::Arrivals::Constant,
        seed: 1,
        script,
        requests_file,
        tls: request.tls.options(),
    })
}

/// The plan of one campaign run: quiet, no files, recorded with the generator
/// command line that would run it alone. An `https://` target's first plan
/// (the campaign's up-front check, or its first run) makes the preflight
/// handshake: a bad certificate or plain HTTP stops the campaign with one
/// line, exit 1. Later plans of the same target do not, so a server that
/// fails handshakes under load is measured (`tls_handshake` errors in that
/// run's row), not a reason to throw away the rows already measured.
pub fn plan_for(load: &Load, machine: &Machine) -> Result<Plan, BuildError> {
    let origin = load.urls.first().cloned().unwrap_or_default();
    let checked = tls_checked()
        .lock()
        .map(|s| s.contains(&origin))
        .unwrap_or(false);
    let m = Machine {
        tls_checked: checked,
        ..machine.clone()
    };
    let plan = plan_alone(load, &m)?;
    if plan.tls.is_some() && !checked {
        if let Ok(mut s) = tls_checked().lock() {
            s.insert(origin);
        }
    }
    Ok(plan)
}

/// [`plan_for`] without the memory of checked targets.
fn plan_alone(load: &Load, machine: &Machine) -> Result<Plan, BuildError> {
    build(
        load,
        machine,
        &Outputs::quiet(),
        Share::WHOLE,
        Mode::Run,
        &crate::plan::command_line(load, machine),
    )
}

/// The `https://` origins (the first URL of a load) whose preflight handshake
/// passed in this process: a campaign checks each target once, before its
/// first run.
fn tls_checked() -> &'static std::sync::Mutex<std::collections::HashSet<String>> {
    static CHECKED: std::sync::OnceLock<std::sync::Mutex<std::collections::HashSet<String>>> =
        std::sync::OnceLock::new();
    CHECKED.get_or_init(Default::default)
}

/// Runs one load of a campaign.
pub fn run_load(load: &Load, machine: &Machine) -> Result<(Plan, RunResult), CliError> {
    let plan = plan_for(load, machine)?;
    let result = run::run(&plan).map_err(Failed::Run)?;
    Ok((plan, result))
}

/// [`run_load`] with the run's progress bar on a terminal (stderr), for a
/// campaign whose runs are long enough to look hung without it.
pub fn run_load_shown(load: &Load, machine: &Machine) -> Result<(Plan, RunResult), CliError> {
    let mut plan = plan_for(load, machine)?;
    // Only the bar: the text report is the campaign's to print.
    plan.quiet = false;
    let result = run::run(&plan).map_err(Failed::Run)?;
    Ok((plan, result))
}

/// Fixed run results for the campaigns' snapshot tests: `testdata/run.json` (a
/// real result, its machine facts replaced) with the figures a campaign reads set.
#[cfg(test)]
pub(crate) mod fixture {
    use crate::result::RunResult;

    /// A result of `rps` requests/s, p50/p99 (and p99.9 = 2 x p99) in µs, and
    /// `errors` read errors out of 1000 sent.
    pub(crate) fn result(rps: f64, p50_us: u64, p99_us: u64, errors: u64) -> RunResult {
        let mut v: serde_json::Value =
            serde_json::from_str(include_str!("testdata/run.json")).expect("fixture");
        v["requests_per_sec"] = rps.into();
        v["bytes_read_per_sec"] = (rps * 132.0).into();
        v["gbit_read_per_sec"] = (rps * 132.0 * 8.0 / 1e9).into();
        v["latency"]["mean"] = (p50_us as f64 * 1.25).into();
        for p in v["latency"]["percentiles"].as_array_mut().expect("list") {
            let pct = p["percentile"].as_f64().expect("number");
            let value = if pct <= 50.0 {
                p50_us
            } else if pct < 99.0 {
                (p50_us + p99_us) / 2
            } else if pct <= 99.0 {
                p99_us
            } else {
                2 * p99_us
            };
            p["value_us"] = value.into();
        }
        v["counters"]["sent"] = 1000.into();
        v["counters"]["completed"] = (1000 - errors).into();
        v["counters"]["status"]["success"] = (1000 - errors).into();
        v["counters"]["errors"]["read"] = errors.into();
        v["generator_cpu"]["us_per_request"] = 4.5.into();
        serde_json::from_value(v).expect("the fixture is a RunResult")
    }

    /// The TLS report of an https run of `secs` seconds: `handshakes`
    /// completed (`resumed` of them resumed, 1-2 ms each), TLSv1_3 agreed.
    pub(crate) fn tls(handshakes: u64, resumed: u64, secs: f64) -> crate::result::TlsReport {
        let mut t = crate::result::TlsTotals::new();
        for i in 0..handshakes {
            t.handshake.record(1_000 + i % 1_000).expect("in range");
        }
        t.full = handshakes - resumed;
        t.resumed = resumed;
        t.negotiated = Some(crate::tls::Negotiated {
            version: "TLSv1_3".into(),
            cipher_suite: "TLS13_AES_256_GCM_SHA384".into(),
            alpn: Some("http/1.1".into()),
            resumed: false,
        });
        crate::result::TlsReport::new(&t, secs, resumed > 0)
    }

    /// Compares `actual` with `testdata/NAME.txt`; with CEILING_UPDATE_SNAPSHOTS=1
    /// in the environment, writes it there instead (review the diff, then commit).
    pub(crate) fn snapshot(name: &str, actual: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/campaign/testdata")
            .join(format!("{name}.txt"));
        if std::env::var_os("CEILING_UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, actual).expect("write the snapshot");
            return;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            want == actual,
            "{name} layout changed (CEILING_UPDATE_SNAPSHOTS=1 rewrites {}):\n--- want\n{want}\n--- got\n{actual}",
            path.display()
        );
    }
}
