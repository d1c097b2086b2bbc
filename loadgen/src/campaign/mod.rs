//! Campaigns: several runs built as Plans and read back as RunResults. A campaign
//! never touches a socket itself; the worker code does.

pub mod compare;
pub mod machine;
pub mod matrix;
pub mod ramp;
pub mod tune;

use crate::options::{self, Parsed};
use crate::plan::Plan;
use crate::result::RunResult;
use crate::run;
use serde::Serialize;
use std::ffi::OsString;
use std::path::PathBuf;

/// Why a campaign stopped before its report.
pub enum Failure {
    /// Bad usage, found before any load: exit 2.
    Usage(String),
    /// A run could not happen: exit 1.
    Run(String),
}

/// A campaign command's whole life: parse its arguments with clap (help and version
/// print and exit 0; a mistake is one line and exit 2), run it, and turn a failure
/// into one line on stderr and its exit code.
pub fn command<A: clap::Parser>(
    name: &str,
    args: &[OsString],
    run: impl FnOnce(A) -> Result<u8, Failure>,
) -> u8 {
    let a = match A::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            use clap::error::ErrorKind::*;
            if matches!(e.kind(), DisplayHelp | DisplayVersion) {
                print!("{}", e.render());
                return crate::EXIT_OK;
            }
            eprintln!("ceiling {name}: {} (see --help)", options::usage_line(&e));
            return crate::EXIT_USAGE;
        }
    };
    match run(a) {
        Ok(code) => code,
        Err(Failure::Usage(m)) => {
            eprintln!("ceiling {name}: {m}");
            crate::EXIT_USAGE
        }
        Err(Failure::Run(m)) => {
            eprintln!("ceiling {name}: {m}");
            crate::EXIT_FAILED
        }
    }
}

/// The report files every campaign can write.
#[derive(Debug, Default, clap::Args)]
pub struct Outputs {
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

impl Outputs {
    /// Creates every asked-for file now, so a bad path fails before any load.
    pub fn check(&self) -> Result<(), Failure> {
        for path in [&self.json, &self.markdown, &self.csv, &self.html]
            .into_iter()
            .flatten()
        {
            std::fs::File::create(path)
                .map_err(|e| Failure::Usage(format!("cannot write {}: {e}", path.display())))?;
        }
        Ok(())
    }

    /// Writes every asked-for file; EXIT_FAILED (after saying which) if one could
    /// not be written, else EXIT_OK.
    pub fn write<R: Serialize>(&self, name: &str, report: &R, r: Renderers<R>) -> u8 {
        let mut code = crate::EXIT_OK;
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
                    eprintln!("ceiling {name}: could not write {}: {e}", p.display());
                    code = crate::EXIT_FAILED;
                }
            }
        }
        code
    }
}

/// Where a same-machine campaign runs: the server on one set of CPUs, the
/// generator on a disjoint one (shared on a one-CPU machine).
pub struct Placement {
    pub server_cpus: Vec<usize>,
    pub generator_cpus: Vec<usize>,
}

impl Placement {
    /// The two halves of the CPUs this process may use, unless given as lists.
    pub fn new(server: Option<&str>, generator: Option<&str>) -> Result<Self, Failure> {
        use shared::runtime::placement::split_halves;
        use shared::runtime::resolve_cpus;
        let allowed = resolve_cpus(None).map_err(|e| Failure::Usage(e.to_string()))?;
        let (mut server_cpus, mut generator_cpus) = if allowed.len() >= 2 {
            split_halves(&allowed)
        } else {
            (allowed.clone(), allowed)
        };
        if let Some(list) = server {
            server_cpus = resolve_cpus(Some(list))
                .map_err(|e| Failure::Usage(format!("--server-cpus: {e}")))?;
        }
        if let Some(list) = generator {
            generator_cpus = resolve_cpus(Some(list))
                .map_err(|e| Failure::Usage(format!("--generator-cpus: {e}")))?;
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

    /// One quiet generator run against `url`, a thread per generator CPU.
    pub fn generator_args(
        &self,
        connections: usize,
        duration: &str,
        io_engine: &str,
        url: &str,
    ) -> Vec<String> {
        vec![
            "--cpus".into(),
            shared::runtime::format_cpu_list(&self.generator_cpus),
            "-t".into(),
            self.generator_cpus.len().to_string(),
            "-c".into(),
            connections.to_string(),
            "-d".into(),
            duration.into(),
            "--io-engine".into(),
            io_engine.into(),
            "--quiet".into(),
            url.into(),
        ]
    }
}

/// `NAME=URL`, both parts non-empty.
pub fn parse_target(t: &str) -> Result<(String, String), String> {
    t.split_once('=')
        .filter(|(n, u)| !n.is_empty() && !u.is_empty())
        .map(|(n, u)| (n.to_string(), u.to_string()))
        .ok_or_else(|| format!("{t:?}: expected NAME=URL"))
}

/// Builds a Plan from generator arguments (as a user would type them), so every
/// campaign run goes through the same validation.
pub fn plan_from(args: &[String]) -> Result<Plan, String> {
    let argv: Vec<OsString> = std::iter::once("ceiling".to_string())
        .chain(args.iter().cloned())
        .map(OsString::from)
        .collect();
    let command_line = format!("ceiling {}", args.join(" "));
    match options::parse(&argv, command_line) {
        Ok(Parsed::Plan(p)) => Ok(*p),
        Ok(Parsed::Info(_)) => Err("unexpected --help".into()),
        Err(e) => Err(e.0),
    }
}

/// Runs one generator invocation of a campaign.
pub fn run_args(args: &[String]) -> Result<(Plan, RunResult), String> {
    let plan = plan_from(args)?;
    let result = run::run(&plan).map_err(|e| e.to_string())?;
    Ok((plan, result))
}
