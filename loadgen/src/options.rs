//! argv -> typed arguments (ripgrep's "low args"). Every flag is declared once, in
//! the clap structs below, and flattened into each subcommand that takes it: `run`
//! and `plan` take [`LoadArgs`]; `ramp`, `compare` and `tune` take its parts
//! ([`RequestArgs`], [`ConnArgs`], [`StopArgs`], [`RateArgs`]) and [`MachineArgs`].
//! Each value is parsed and range-checked by its own parser, so a bad one stops
//! here with one line naming the flag. Nothing here resolves names, reads the
//! kernel's limits or creates files: [`crate::plan::build`] does that, after parsing.

use crate::plan::{Arrivals, BuildError, Load, Machine, Mode, Outputs, PipelineMode, Plan, Share};
use clap::builder::TypedValueParser as _;
use clap::{Args, Parser};
use shared::runtime::IoEngine;
use std::ffi::OsString;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;
use thiserror::Error;

use crate::plan::limits::{self, RangeError};
pub use crate::plan::limits::{
    show, MAX_CONNECTIONS, MAX_PIPELINE, MAX_RATE, MAX_REQUESTS, MAX_RUN, MAX_THREADS, MAX_TIMEOUT,
    MIN_INTERVAL, MIN_RATE,
};
pub use crate::plan::HeaderError;

/// How far a command goes: its checks only (arguments, files, every run's
/// plan, output files created; nothing sent, no server started, no setting
/// changed), or the whole way. The property test of every flag uses `Checks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    Checks,
    Whole,
}

/// A flag's value that its parser refused; clap prefixes the flag and the value.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ValueError {
    #[error("not a whole number")]
    NotACount,
    #[error("not a number")]
    NotANumber,
    #[error("must be a finite number")]
    NotFinite,
    #[error("must be at least {min}")]
    TooSmall { min: String },
    #[error("must be at most {max}")]
    TooLarge { max: String },
    #[error("not a duration (use 10s, 500ms, 250us, 5m, 1h; a bare number is seconds)")]
    NotADuration,
    #[error("{0}")]
    Invalid(String),
}

impl From<RangeError> for ValueError {
    fn from(e: RangeError) -> Self {
        match e {
            RangeError::TooSmall { min } => ValueError::TooSmall { min },
            RangeError::TooLarge { max } => ValueError::TooLarge { max },
            RangeError::NotFinite => ValueError::NotFinite,
        }
    }
}

/// Bad usage: found before any load is sent, reported as one line (exit 2).
#[derive(Debug, Error)]
pub enum UsageError {
    /// clap's own line: an unknown flag, a missing or refused value.
    #[error("{0} (see --help)")]
    Args(String),
    /// A flag's value that does not fit the others or the run.
    #[error("{flag}: {reason}")]
    Flag { flag: &'static str, reason: String },
    /// Flags that cannot be given together, or a required one missing.
    #[error("{0}")]
    Conflict(String),
    /// A request header that is malformed or contradicts the request.
    #[error("{0}")]
    Header(#[from] HeaderError),
    /// An input file (plan, profiles, matrix, body, URL list) that cannot be used.
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    /// A node file that cannot be read (`ceiling merge`).
    #[error("{0}")]
    NodeFile(String),
    /// Node files that do not make one run (`ceiling merge`).
    #[error(transparent)]
    NotOneRun(#[from] Box<crate::distributed::NotOneRun>),
    /// Building the plan from the parsed arguments failed at one step.
    #[error(transparent)]
    Build(#[from] BuildError),
}

/// What a command's parse produced: arguments, or text to print (`--help`, `--version`).
pub enum Parsed<T> {
    Args(T),
    Info(String),
}

impl<T> Parsed<T> {
    /// The arguments; or `None` for `--help`/`--version`, whose text is printed
    /// when `reach` is `Whole` (a check-only pass prints nothing).
    pub fn or_print(self, reach: Reach) -> Option<T> {
        match self {
            Parsed::Args(a) => Some(a),
            Parsed::Info(text) => {
                if reach == Reach::Whole {
                    shared::show!("{text}");
                }
                None
            }
        }
    }
}

/// Parses `args` with clap; `--help` and `--version` come back as text to print.
pub fn parse_args<T: Parser>(args: &[OsString]) -> Result<Parsed<T>, UsageError> {
    match T::try_parse_from(args) {
        Ok(a) => Ok(Parsed::Args(a)),
        Err(e) => info_or_usage(e).map(Parsed::Info),
    }
}

/// `--help`/`--version` are information to print; anything else is bad usage.
pub fn info_or_usage(e: clap::Error) -> Result<String, UsageError> {
    use clap::error::ErrorKind::*;
    if matches!(e.kind(), DisplayHelp | DisplayVersion) {
        return Ok(e.render().to_string());
    }
    Err(UsageError::Args(usage_line(&e)))
}

/// The line of a clap error that says what is wrong (clap's message is several
/// lines), with the next one when it ends in a colon (the missing argument's name)
/// and clap's bracketed note under it, on the same line:
/// `invalid value 'maybe' for '--tls-resume <on|off>' [possible values: on, off]`.
pub fn usage_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    // The first paragraph says what is wrong; a value quoted in it keeps its
    // CR/LF escaped, so the message stays one line.
    let head = text.split("\n\n").next().unwrap_or("invalid arguments");
    let mut line = String::new();
    for l in head.lines() {
        let l = l.trim_start_matches("error: ");
        if line.is_empty() {
            line.push_str(l);
        } else if line.ends_with(':') {
            // "required arguments were not provided:" and their names.
            line.push(' ');
            line.push_str(l.trim());
        } else if l.starts_with("  [") && l.ends_with(']') {
            // clap's note, indented under its message: "  [possible values: on, off]".
            line.push(' ');
            line.push_str(l.trim());
        } else {
            line.push_str("\\n");
            line.push_str(l);
        }
    }
    let line = line.replace('\r', "\\r");
    crate::redact::command_line(line.trim())
}

/// What each request is: method, headers, body, and how long one may take.
#[derive(Debug, Clone, Args)]
pub struct RequestArgs {
    /// Request method (a token: GET, POST, PURGE...)
    #[arg(short, long, default_value = "GET", value_parser = method_value, allow_hyphen_values = true)]
    pub method: String,
    /// Extra request header "Name: value" (repeatable)
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE", value_parser = header_value, allow_hyphen_values = true)]
    pub headers: Vec<String>,
    /// Request body
    #[arg(long, conflicts_with = "body_file")]
    pub body: Option<String>,
    /// Request body read from a file
    #[arg(long, value_name = "FILE")]
    pub body_file: Option<PathBuf>,
    /// A request not answered within this is a timeout (also those pending at the
    /// end); 10ms to 1h
    #[arg(long, default_value = "2s", value_parser = timeout_value, allow_hyphen_values = true)]
    pub timeout: Duration,
    /// Requests in flight per connection (HTTP/1.1 pipelining), 1 to 1024
    #[arg(short, long, default_value_t = 1, value_parser = pipeline_value, allow_hyphen_values = true)]
    pub pipeline: usize,
    /// With -p: refill (keep N in flight, refilling as responses arrive) or batch
    /// (wrk's pipeline.lua: send N, wait for all N, send N again)
    #[arg(long, value_enum, default_value_t = PipelineMode::Refill)]
    pub pipeline_mode: PipelineMode,
    /// wrk Lua script (wrk's SCRIPTING interface; see docs/scripts.md); with run
    /// and plan, what follows `--` goes to its init(args)
    #[arg(
        short = 's',
        long,
        value_name = "FILE",
        conflicts_with = "requests_file"
    )]
    pub script: Option<PathBuf>,
    /// Several whole requests in vegeta's http targets format, with `# weight: N`
    /// and {{seq}}, {{rand A B}}, {{line FILE}}, {{uuid}} (see docs/scripts.md)
    #[arg(long, value_name = "FILE")]
    pub requests_file: Option<PathBuf>,
    /// With --requests-file: rotate (by weight, per connection) or random (by weight)
    #[arg(long, default_value = "rotate", requires = "requests_file")]
    pub requests_order: String,
    /// With --requests-file --requests-order random: the picks' seed
    #[arg(long, default_value_t = 1, requires = "requests_file")]
    pub requests_seed: u64,
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// The client's certificate flags, for `https://` URLs (`ceiling serve` has its
/// own server-side `--tls`, `--cert` and `--key`). A plan file carries them as
/// paths: each node reads the files itself.
#[derive(Debug, Clone, Args)]
pub struct TlsArgs {
    /// https: accept any server certificate (no chain or name check; the
    /// handshake's signatures are still verified)
    #[arg(short = 'k', long, conflicts_with = "cacert")]
    pub insecure: bool,
    /// https: also trust the CA certificates in FILE (PEM), besides the system's
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// https: send the client certificate (chain, PEM) in FILE, for mutual TLS;
    /// needs --key
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// https: the private key (PEM) of --cert
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// https: on: a reconnect resumes its TLS session, as browsers do (measures
    /// resumed handshakes); off: every connection makes a full handshake
    /// (measures the full handshake's cost)
    #[arg(
        long,
        value_name = "on|off",
        default_value = "on",
        action = clap::ArgAction::Set,
        value_parser = clap::builder::PossibleValuesParser::new(["on", "off"]).map(|v| v == "on")
    )]
    pub tls_resume: bool,
}

impl TlsArgs {
    /// The options these flags describe (paths, not the files' contents: a
    /// run reads them when its plan is built).
    pub fn options(&self) -> crate::tls::ClientTlsOptions {
        crate::tls::ClientTlsOptions {
            insecure: self.insecure,
            cacert: self.cacert.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
            resume: self.tls_resume,
        }
    }
}

impl RequestArgs {
    /// `-s FILE [-- ARGS]` (`script_args`: what followed `--`) and
    /// `--requests-file FILE`, read (their text travels in the load, not their paths).
    pub fn sources(
        &self,
        script_args: &[String],
    ) -> Result<
        (
            Option<crate::script::ScriptSource>,
            Option<crate::requests_file::RequestsSource>,
        ),
        BuildError,
    > {
        crate::script::sources(
            self.script.as_deref(),
            script_args,
            self.requests_file.as_deref(),
            &self.requests_order,
            self.requests_seed,
        )
        .map_err(BuildError::Script)
    }
}

/// How many connections, over how many threads.
#[derive(Debug, Clone, Args)]
pub struct ConnArgs {
    /// Worker threads, each pinned to its own CPU from --cpus [default: CPUs in
    /// --cpus, at most -c]
    #[arg(short, long, value_parser = threads_value, allow_hyphen_values = true)]
    pub threads: Option<usize>,
    /// Total connections, 1 to 10000000, spread exactly over the threads
    /// [default: 10 for a run; 64 for compare and a rate ramp; 64 per generator CPU
    /// for machine and tune]
    #[arg(short, long, value_parser = connections_value, allow_hyphen_values = true)]
    pub connections: Option<usize>,
}

/// When a run stops.
#[derive(Debug, Clone, Args)]
pub struct StopArgs {
    /// Run time: 10s, 500ms, 5m, 1h (a bare number is seconds), 10ms to 30 days
    /// [default: 10s, or none with -n]
    #[arg(short, long, value_parser = run_length_value, allow_hyphen_values = true)]
    pub duration: Option<Duration>,
    /// Send exactly N requests, then stop (instead of a duration)
    #[arg(short = 'n', long = "requests", value_parser = requests_value, allow_hyphen_values = true)]
    pub requests: Option<u64>,
}

/// Open-loop pacing (wrk2's -R).
#[derive(Debug, Clone, Args)]
pub struct RateArgs {
    /// Constant request rate, all connections together (wrk2's -R), 0.001 to 1e9
    /// req/s; latency then counts from each request's intended send time
    #[arg(short = 'R', long, value_parser = rate_value, allow_hyphen_values = true)]
    pub rate: Option<f64>,
    /// Arrival process under -R
    #[arg(long, value_enum, default_value_t = Arrivals::Constant, requires = "rate")]
    pub arrivals: Arrivals,
    /// Seed of the poisson arrivals
    #[arg(long, default_value_t = 1, requires = "rate")]
    pub seed: u64,
}

/// Where the requests go: a URL, or a file of them.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// File with one URL per line (same scheme, host and port), rotated per request
    #[arg(long, value_name = "FILE")]
    pub urls_file: Option<PathBuf>,
    /// Target URL (http[s]://[user:password@]host[:port][/path]); optional with
    /// --urls-file or --requests-file
    pub url: Option<String>,
    /// Arguments for the script's init(args), after `--`
    #[arg(last = true, value_name = "SCRIPT_ARGS")]
    pub script_args: Vec<String>,
}

/// The load options of a run: what a plan file carries to every node.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    // wrk's order in --help: -t, -c, -d first.
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub stop: StopArgs,
    #[command(flatten)]
    pub request: RequestArgs,
    #[command(flatten)]
    pub rate: RateArgs,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// What the machine running a load decides for itself: which CPUs, which engine,
/// which source addresses.
#[derive(Debug, Clone, Args)]
pub struct MachineArgs {
    /// CPUs to pin the generator's workers to, e.g. 0-3,6 [default: every CPU the
    /// process may use]
    #[arg(long, value_name = "LIST")]
    pub cpus: Option<String>,
    /// auto (io_uring, falling back to epoll), uring, monoio (io_uring through
    /// monoio, not the direct loop) or epoll
    #[arg(long, default_value = "auto", value_name = "ENGINE")]
    pub io_engine: IoEngine,
    /// Bind outgoing connections round-robin to these local addresses: an IPv4
    /// range 127.0.0.2-127.0.0.40, or a comma list (IPv6 too)
    #[arg(long, value_name = "LIST")]
    pub source_ips: Option<String>,
}

/// A run's result files.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Write the full result as JSON to FILE, or - for stdout
    #[arg(long, value_name = "FILE")]
    pub json: Option<String>,
    /// Write the latency percentile spectrum (HdrHistogram .hgrm) to FILE
    #[arg(long, value_name = "FILE")]
    pub hgrm: Option<PathBuf>,
    /// Write a self-contained HTML page with charts to FILE
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write per-second latency histograms as an HdrHistogram interval log to FILE
    #[arg(long, value_name = "FILE")]
    pub hlog: Option<PathBuf>,
}

/// What the text report shows.
#[derive(Debug, Clone, Args)]
pub struct DisplayArgs {
    /// Print the latency distribution
    #[arg(long)]
    pub latency: bool,
    /// Also print the uncorrected latency distribution (measured from the actual send)
    #[arg(long = "u_latency", alias = "u-latency")]
    pub u_latency: bool,
    /// Print nothing but errors
    #[arg(short, long)]
    pub quiet: bool,
}

/// A node's share of a planned run (`ceiling plan`).
#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    /// Run node --node-index of this plan file (from `ceiling plan`); the load
    /// options come from the file
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// This node's index in the plan [default: $JOB_COMPLETION_INDEX, $SLURM_PROCID]
    #[arg(long, requires = "plan", value_parser = node_index_value, allow_hyphen_values = true)]
    pub node_index: Option<usize>,
    /// Nodes in the plan, checked against the file [default: the file's]
    #[arg(long, requires = "plan", value_parser = nodes_value, allow_hyphen_values = true)]
    pub node_count: Option<usize>,
    /// Write the node result file (JSON Lines, for `ceiling merge`) to FILE, or - for stdout
    #[arg(long, value_name = "FILE")]
    pub out: Option<String>,
}

/// Every command of the binary, one line each, at the top of `ceiling --help`
/// (each takes --help for its own flags).
pub const SUBCOMMANDS: &str = "\
Commands (each takes --help):
  ceiling run URL    One load-generator run, wrk's flags (those below); `run` may be left out
  ceiling serve      The ceiling server: the most req/s this machine's network path allows
  ceiling machine    This machine's ceiling: server and generator on disjoint CPUs
  ceiling ramp       One run per concurrency or rate level, or a rate search under an SLO
  ceiling compare    The same workload against several servers, interleaved over rounds
  ceiling matrix     Every target x endpoint x setup of a TOML file, one table per endpoint
  ceiling tune       Kernel-setting profiles: apply, measure, restore
  ceiling plan       Split one run over several generator machines (writes the plan file)
  ceiling merge      Merge the node files of a planned run into one report";

/// `ceiling [run] [OPTIONS] URL`: wrk's flags, plus Ceiling's own.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "ceiling",
    version,
    about = "HTTP/1.1 load generator with wrk's flags (`ceiling run URL`, or `ceiling URL`), and the commands around it",
    before_help = SUBCOMMANDS,
    after_help = "Exit codes: 0 the run happened; 1 it could not complete; 2 bad usage (nothing sent)."
)]
pub struct RunArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub machine: MachineArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub display: DisplayArgs,
    #[command(flatten)]
    pub node: NodeArgs,
}

impl RunArgs {
    /// Parses a run's argv; with `--plan`, refuses load flags (they come from the file).
    pub fn parse_from(args: &[OsString]) -> Result<Parsed<Self>, UsageError> {
        Self::parse_with(args, false)
    }

    /// A matrix cell's argv: the file's flags for every cell, then its setup's
    /// and its endpoint's, so a flag given again overrides the earlier value
    /// (`-c 64` for every cell, `-c 2000` in one setup); appended flags (`-H`)
    /// still add up.
    pub fn parse_cell(args: &[OsString]) -> Result<Parsed<Self>, UsageError> {
        Self::parse_with(args, true)
    }

    fn parse_with(args: &[OsString], later_wins: bool) -> Result<Parsed<Self>, UsageError> {
        use clap::{CommandFactory, FromArgMatches};
        // `ceiling run --help` says `Usage: ceiling run`, `ceiling --help` `Usage: ceiling`.
        let name = if args.first().is_some_and(|a| a == "run") {
            "ceiling run"
        } else {
            "ceiling"
        };
        let matches = match Self::command()
            .bin_name(name)
            .args_override_self(later_wins)
            .try_get_matches_from(args)
        {
            Ok(m) => m,
            Err(e) => {
                // wrk takes a script's arguments after the URL (`-s x.lua URL foo`);
                // here they follow `--`.
                let script = args
                    .iter()
                    .any(|a| a == "-s" || a.to_str().is_some_and(|a| a.starts_with("--script")));
                let dashes = args.iter().any(|a| a == "--");
                if e.kind() == clap::error::ErrorKind::UnknownArgument && script && !dashes {
                    return Err(UsageError::Args(format!(
                        "{}: a script's arguments go after --: ceiling -s FILE URL -- ARGS",
                        usage_line(&e)
                    )));
                }
                return info_or_usage(e).map(Parsed::Info);
            }
        };
        let a = Self::from_arg_matches(&matches).map_err(|e| UsageError::Args(usage_line(&e)))?;
        if a.node.plan.is_some() {
            if let Some(flag) = given_from::<LoadArgs>(&matches) {
                return Err(UsageError::Conflict(format!(
                    "{flag} comes from the plan file: a node takes only --node-index, --node-count, --cpus, --io-engine, --source-ips and outputs"
                )));
            }
        }
        Ok(Parsed::Args(a))
    }
}

impl LoadArgs {
    /// The load these flags describe, with the input files read (the body, the
    /// URL list): the one step of parsing that touches the file system.
    pub fn load(&self) -> Result<Load, BuildError> {
        let r = &self.request;
        let (script, requests_file) = r.sources(&self.target.script_args)?;
        if self.target.urls_file.is_some() && (script.is_some() || requests_file.is_some()) {
            return Err(BuildError::Script(
                "-s and --requests-file take no --urls-file: the paths come from the script or the file".into(),
            ));
        }
        // With --requests-file the URL may come from the file's first request.
        let first = requests_file.as_ref().map(|f| f.requests[0].url.clone());
        let (urls, body) = crate::plan::read_inputs(
            self.target.url.as_deref().or(first.as_deref()),
            self.target.urls_file.as_deref(),
            r.body.as_deref(),
            r.body_file.as_deref(),
        )?;
        let duration = match (self.stop.duration, self.stop.requests) {
            (Some(d), _) => Some(d),
            (None, Some(_)) => None,
            (None, None) => Some(Duration::from_secs(10)),
        };
        Ok(Load {
            urls,
            method: r.method.clone(),
            headers: r.headers.clone(),
            body,
            connections: self.conn.connections.unwrap_or(10),
            threads: self.conn.threads,
            duration,
            requests: self.stop.requests,
            pipeline: r.pipeline,
            pipeline_mode: r.pipeline_mode,
            timeout: r.timeout,
            rate: self.rate.rate,
            arrivals: self.rate.arrivals,
            seed: self.rate.seed,
            script,
            requests_file,
            tls: r.tls.options(),
        })
    }
}

impl MachineArgs {
    /// The machine these flags describe (`--source-ips` parsed here).
    pub fn machine(&self) -> Result<Machine, UsageError> {
        Ok(Machine {
            cpus: self.cpus.clone(),
            io_engine: self.io_engine,
            source_ips: source_ips(self.source_ips.as_deref())?,
            tls_checked: false,
        })
    }
}

/// A run's outputs from its output and display flags, and `--out`.
pub fn outputs(o: &OutputArgs, d: &DisplayArgs, out: Option<String>) -> Outputs {
    Outputs {
        latency: d.latency,
        u_latency: d.u_latency,
        hgrm: o.hgrm.clone(),
        html: o.html.clone(),
        hlog: o.hlog.clone(),
        json: o.json.clone(),
        out,
        quiet: d.quiet,
    }
}

impl RunArgs {
    /// The plan of `ceiling run`: the whole load, or with `--plan` this node's
    /// share of the plan file's (built by [`crate::plan::build`]).
    pub fn plan(&self, command_line: &str) -> Result<Plan, UsageError> {
        let machine = self.machine.machine()?;
        let outputs = outputs(&self.output, &self.display, self.node.out.clone());
        let plan = match &self.node.plan {
            None => crate::plan::build(
                &self.load.load()?,
                &machine,
                &outputs,
                Share::WHOLE,
                Mode::Run,
                command_line,
            )?,
            Some(path) => crate::plan::build::node(
                path,
                self.node.node_index,
                self.node.node_count,
                &machine,
                &outputs,
                command_line,
            )?,
        };
        Ok(plan)
    }
}

/// The first flag of the group `G` given on the command line (as `--long`), read
/// from clap's own declaration of the group rather than a list of names.
pub fn given_from<G: Args>(matches: &clap::ArgMatches) -> Option<String> {
    let group = G::augment_args(clap::Command::new("group"));
    let first = group
        .get_arguments()
        .filter(|arg| {
            matches.value_source(arg.get_id().as_str())
                == Some(clap::parser::ValueSource::CommandLine)
        })
        .map(|arg| match (arg.get_long(), arg.get_short()) {
            (Some(l), _) => format!("--{l}"),
            (None, Some(s)) => format!("-{s}"),
            (None, None) => arg.get_id().as_str().to_uppercase(),
        })
        .next();
    first
}

/// The long names of the group `G`'s flags (`--json`, ...), from its declaration.
pub fn longs_of<G: Args>() -> Vec<String> {
    G::augment_args(clap::Command::new("group"))
        .get_arguments()
        .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
        .collect()
}

/// `--source-ips` parsed (a pure parse: binding them is checked when building).
pub fn source_ips(text: Option<&str>) -> Result<Vec<IpAddr>, UsageError> {
    match text {
        None => Ok(Vec::new()),
        Some(t) => crate::source::parse(t).map_err(|reason| UsageError::Flag {
            flag: "--source-ips",
            reason,
        }),
    }
}

// ---- value parsers: each refuses what its flag cannot honour, in one line ----

fn count(text: &str, min: u64, max: u64) -> Result<u64, ValueError> {
    let t = text.trim();
    let n: u64 = match t.parse() {
        Ok(n) => n,
        // "-1", "1e3", "2.5", "99999999999999999999999": say which.
        Err(_) if t.starts_with('-') && t[1..].parse::<f64>().is_ok() => {
            return Err(ValueError::TooSmall {
                min: min.to_string(),
            })
        }
        Err(_) if t.parse::<f64>().is_ok_and(|v| v.is_finite() && v > 0.0) => {
            return match t.parse::<f64>() {
                Ok(v) if v > max as f64 => Err(ValueError::TooLarge {
                    max: max.to_string(),
                }),
                _ => Err(ValueError::NotACount),
            }
        }
        Err(_) => return Err(ValueError::NotACount),
    };
    Ok(limits::count(n, min, max)?)
}

/// A whole number from `min` to `max`, as a flag's value parser.
pub fn count_value<const MIN: u64, const MAX: u64>(text: &str) -> Result<u64, ValueError> {
    count(text, MIN, MAX)
}

/// As [`count_value`], for the flags that hold a `usize`.
pub fn usize_value<const MIN: u64, const MAX: u64>(text: &str) -> Result<usize, ValueError> {
    count(text, MIN, MAX).map(|n| n as usize)
}

fn threads_value(t: &str) -> Result<usize, ValueError> {
    usize_value::<1, MAX_THREADS>(t)
}
pub(crate) fn connections_value(t: &str) -> Result<usize, ValueError> {
    usize_value::<1, MAX_CONNECTIONS>(t)
}
fn pipeline_value(t: &str) -> Result<usize, ValueError> {
    usize_value::<1, MAX_PIPELINE>(t)
}
fn requests_value(t: &str) -> Result<u64, ValueError> {
    count_value::<1, MAX_REQUESTS>(t)
}
fn node_index_value(t: &str) -> Result<usize, ValueError> {
    usize_value::<0, 99_999>(t)
}
/// Nodes of a plan: 1 to 100000.
pub fn nodes_value(t: &str) -> Result<usize, ValueError> {
    usize_value::<1, 100_000>(t)
}

/// A finite number from `min` to `max`.
pub fn number(text: &str, min: f64, max: f64) -> Result<f64, ValueError> {
    let v: f64 = text.trim().parse().map_err(|_| ValueError::NotANumber)?;
    Ok(limits::number(v, min, max)?)
}

/// `-R`: requests/s from [`MIN_RATE`] to [`MAX_RATE`].
pub fn rate_value(t: &str) -> Result<f64, ValueError> {
    number(t, MIN_RATE, MAX_RATE)
}

/// `10s`, `500ms`, `250us`, `5m`, `1h`, or a bare number of seconds (as wrk takes
/// it), from `min` to `max`. Kept to the nanosecond: nothing rounds it to ms.
pub fn duration(text: &str, min: Duration, max: Duration) -> Result<Duration, ValueError> {
    let t = text.trim();
    let d = match t.parse::<f64>() {
        Ok(secs) if !secs.is_finite() => return Err(ValueError::NotFinite),
        Ok(secs) if secs < 0.0 => return Err(ValueError::TooSmall { min: show(min) }),
        Ok(secs) => Duration::try_from_secs_f64(secs)
            .map_err(|_| ValueError::TooLarge { max: show(max) })?,
        Err(_) => humantime::parse_duration(t).map_err(|e| match e {
            humantime::DurationError::NumberOverflow => ValueError::TooLarge { max: show(max) },
            _ => ValueError::NotADuration,
        })?,
    };
    Ok(limits::duration(d, min, max)?)
}

/// `-d`, `--step-duration`: [`MIN_INTERVAL`] to [`MAX_RUN`].
pub fn run_length_value(t: &str) -> Result<Duration, ValueError> {
    duration(t, MIN_INTERVAL, MAX_RUN)
}

/// `--timeout`: [`MIN_INTERVAL`] to [`MAX_TIMEOUT`].
pub fn timeout_value(t: &str) -> Result<Duration, ValueError> {
    duration(t, MIN_INTERVAL, MAX_TIMEOUT)
}

/// A request method: an RFC 9110 token, upper-cased (`post` sends `POST`).
pub fn method_value(t: &str) -> Result<String, ValueError> {
    if t.is_empty() || !t.bytes().all(crate::plan::header::is_tchar) {
        return Err(ValueError::Invalid(
            "a method is a token: letters, digits and !#$%&'*+-.^_`|~".into(),
        ));
    }
    Ok(t.to_ascii_uppercase())
}

/// `-H "Name: value"`, checked alone (against the rest of the request when the
/// plan is built); kept as given.
fn header_value(t: &str) -> Result<String, ValueError> {
    crate::plan::parse_header(t).map_err(|e| ValueError::Invalid(e.to_string()))?;
    Ok(t.to_string())
}
