//! argv -> typed arguments (ripgrep's "low args"). Every flag is declared once, in
//! the clap structs below, and flattened into each subcommand that takes it: `run`
//! and `plan` take [`LoadArgs`]; `ramp`, `compare` and `tune` take its parts
//! ([`RequestArgs`], [`ConnArgs`], [`StopArgs`], [`RateArgs`]) and [`MachineArgs`].
//! Each value is parsed and range-checked by its own parser, so a bad one stops
//! here with one line naming the flag. Nothing here resolves names, reads the
//! kernel's limits or creates files: [`crate::plan::build`] does that, after parsing.

use crate::plan::{Arrivals, PipelineMode};
use clap::{Args, Parser};
use shared::runtime::IoEngine;
use std::ffi::OsString;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;
use thiserror::Error;

/// The shortest run length and request timeout an engine honours: the workers
/// check their deadlines once per tick (`worker::TICK`, 10 ms).
pub const MIN_INTERVAL: Duration = crate::worker::TICK;
/// The longest run (`-d`, `--step-duration`): 30 days. Longer is a typo, and up
/// to this length a plan file's millisecond figures read back to the nanosecond.
pub const MAX_RUN: Duration = Duration::from_secs(30 * 86_400);
/// The longest request timeout: the latency histogram's highest value (1 h).
pub const MAX_TIMEOUT: Duration =
    Duration::from_secs(shared::stats::layout::LATENCY_HIGHEST_US / 1_000_000);
/// The most connections one process may open (the open-files limit usually
/// stops a run long before).
pub const MAX_CONNECTIONS: u64 = 10_000_000;
/// The most worker threads.
pub const MAX_THREADS: u64 = 4096;
/// The deepest pipeline: each connection buffers this many requests.
pub const MAX_PIPELINE: u64 = 1024;
/// The most requests under `-n` (far beyond any run; keeps the counters' sums exact).
pub const MAX_REQUESTS: u64 = 1_000_000_000_000_000;
/// The lowest `-R`, requests/s (one request every 1000 s).
pub const MIN_RATE: f64 = 0.001;
/// The highest `-R`, requests/s (one per nanosecond: the schedule's resolution).
pub const MAX_RATE: f64 = 1e9;

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
    /// A target URL that cannot be used.
    #[error("invalid URL {url}: {reason}")]
    Url { url: String, reason: String },
    /// An input file (plan, profiles, matrix, body, URL list) that cannot be used.
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    /// A node file that cannot be read (`ceiling merge`).
    #[error("{0}")]
    NodeFile(String),
    /// Node files that do not make one run (`ceiling merge`).
    #[error(transparent)]
    NotOneRun(#[from] Box<crate::distributed::merge::NotOneRun>),
    /// Building the plan from the parsed arguments failed at one step.
    #[error(transparent)]
    Build(#[from] crate::plan::BuildError),
}

/// What a command's parse produced: arguments, or text to print (`--help`, `--version`).
pub enum Parsed<T> {
    Args(T),
    Info(String),
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
/// lines), with the next one when it ends in a colon (the missing argument's name).
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
    /// File with one URL per line (same host and port), rotated per request
    #[arg(long, value_name = "FILE")]
    pub urls_file: Option<PathBuf>,
    /// Target URL (http://[user:password@]host[:port][/path]); optional with --urls-file
    pub url: Option<String>,
}

/// The load options of a run: what a plan file carries to every node.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    #[command(flatten)]
    pub request: RequestArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub stop: StopArgs,
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

/// `ceiling [run] [OPTIONS] URL`: wrk's flags, plus Ceiling's own.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "ceiling",
    version,
    about = "HTTP/1.1 load generator with wrk's flags. Subcommands: `ceiling serve` (the ceiling server), `ceiling machine` (this machine's ceiling), `ceiling ramp`, `ceiling compare`, `ceiling matrix`, `ceiling tune`, `ceiling plan` and `ceiling merge` (several generator machines); each takes --help",
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
        use clap::{CommandFactory, FromArgMatches};
        let matches = match Self::command().try_get_matches_from(args) {
            Ok(m) => m,
            Err(e) => return info_or_usage(e).map(Parsed::Info),
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

/// `n` checked against `min..=max` (for values that came from a file).
pub fn count_value_in(n: u64, min: u64, max: u64) -> Result<u64, ValueError> {
    if n < min {
        return Err(ValueError::TooSmall {
            min: min.to_string(),
        });
    }
    if n > max {
        return Err(ValueError::TooLarge {
            max: max.to_string(),
        });
    }
    Ok(n)
}

/// `d` checked against `min..=max` (for values that came from a file).
pub fn duration_in(d: Duration, min: Duration, max: Duration) -> Result<Duration, ValueError> {
    if d < min {
        return Err(ValueError::TooSmall { min: show(min) });
    }
    if d > max {
        return Err(ValueError::TooLarge { max: show(max) });
    }
    Ok(d)
}

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
    if n < min {
        return Err(ValueError::TooSmall {
            min: min.to_string(),
        });
    }
    if n > max {
        return Err(ValueError::TooLarge {
            max: max.to_string(),
        });
    }
    Ok(n)
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
    if !v.is_finite() {
        return Err(ValueError::NotFinite);
    }
    if v < min {
        return Err(ValueError::TooSmall {
            min: min.to_string(),
        });
    }
    if v > max {
        return Err(ValueError::TooLarge {
            max: max.to_string(),
        });
    }
    Ok(v)
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
    if d < min {
        return Err(ValueError::TooSmall { min: show(min) });
    }
    if d > max {
        return Err(ValueError::TooLarge { max: show(max) });
    }
    Ok(d)
}

/// A duration as people write it: `10ms`, `1h`, `30days`.
pub fn show(d: Duration) -> String {
    humantime::format_duration(d).to_string()
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
    if t.is_empty() || !t.bytes().all(is_tchar) {
        return Err(ValueError::Invalid(
            "a method is a token: letters, digits and !#$%&'*+-.^_`|~".into(),
        ));
    }
    Ok(t.to_ascii_uppercase())
}

/// RFC 9110 §5.6.2 tchar.
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `-H "Name: value"`, checked alone (against the rest of the request when the
/// plan is built); kept as given.
fn header_value(t: &str) -> Result<String, ValueError> {
    crate::plan::parse_header(t).map_err(|e| ValueError::Invalid(e.to_string()))?;
    Ok(t.to_string())
}

/// A request header that cannot be sent, alone or with the rest of the request.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum HeaderError {
    #[error("invalid header {0:?}: expected \"Name: value\"")]
    Shape(String),
    #[error("invalid header name {0:?}: a name is a token (letters, digits, !#$%&'*+-.^_`|~)")]
    Name(String),
    #[error("header {name}: the value holds a control character (CR, LF, NUL...), which would split or corrupt the request")]
    Value { name: String },
    #[error("{name} is given {count} times: a request has one (RFC 9110 §7.2, §8.6)")]
    Twice { name: String, count: usize },
    #[error("Content-Length: {given} contradicts the body of {actual} bytes")]
    Length { given: String, actual: usize },
    #[error("Transfer-Encoding: {0}: Ceiling sends bodies with a Content-Length and never chunks them, so the server would wait for chunks that never come")]
    TransferEncoding(String),
    #[error(
        "{method} carries no body (RFC 9110 §9.3.8): drop --body/--body-file or use another method"
    )]
    BodyNotAllowed { method: String },
    #[error("Host is empty: a request to an http URL names its host (RFC 9112 §3.2)")]
    EmptyHost,
    #[error("CONNECT asks a proxy for a tunnel (RFC 9110 §9.3.6), which takes an authority, not a URL's path: Ceiling sends origin-form requests")]
    Connect,
}
