//! argv -> a validated [`Plan`]. Every mistake is caught here, with one clear line,
//! before any load is sent (the caller exits 2).

use crate::plan::{split, Arrivals, JsonOut, Load, Pacing, PipelineMode, Plan, Share, Target};
use clap::Parser;
use shared::runtime::{choose_engine, raise_open_files, resolve_cpus, IoEngine};
use shared::wire::request::{format_request, RequestSpec};
use std::ffi::OsString;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;
use thiserror::Error;

/// wrk-compatible flags, plus Ceiling's own.
#[derive(Debug, Parser)]
#[command(
    name = "ceiling",
    version,
    about = "HTTP/1.1 load generator with wrk's flags. Subcommands: `ceiling serve` (the ceiling server), `ceiling machine` (this machine's ceiling), `ceiling ramp`, `ceiling compare`, `ceiling matrix`, `ceiling tune`, `ceiling plan` and `ceiling merge` (several generator machines); each takes --help",
    after_help = "Exit codes: 0 the run happened; 1 it could not complete; 2 bad usage."
)]
pub(crate) struct Args {
    /// Worker threads, each pinned to its own CPU from --cpus [default: CPUs in --cpus, at most -c]
    #[arg(short, long)]
    threads: Option<usize>,
    /// Total connections, spread exactly over the threads
    #[arg(short, long, default_value_t = 10)]
    connections: usize,
    /// Run time: 10s, 5m, 1h (a bare number is seconds) [default: 10s, or none with -n]
    #[arg(short, long)]
    duration: Option<String>,
    /// A request not answered within this is a timeout (also those pending at the end)
    #[arg(long, default_value = "2s")]
    timeout: String,
    /// Extra request header "Name: value" (repeatable)
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    /// Print the latency distribution
    #[arg(long)]
    latency: bool,
    /// Request method
    #[arg(short, long, default_value = "GET")]
    method: String,
    /// Request body
    #[arg(long, conflicts_with = "body_file")]
    body: Option<String>,
    /// Request body read from a file
    #[arg(long)]
    body_file: Option<PathBuf>,
    /// Requests in flight per connection (HTTP/1.1 pipelining)
    #[arg(short, long, default_value_t = 1)]
    pipeline: usize,
    /// With -p: refill (keep N in flight, refilling as responses arrive) or batch
    /// (wrk's pipeline.lua: send N, wait for all N, send N again)
    #[arg(long, default_value = "refill")]
    pipeline_mode: String,
    /// Bind outgoing connections round-robin to these local addresses: an IPv4
    /// range 127.0.0.2-127.0.0.40, or a comma list (IPv6 too)
    #[arg(long, value_name = "LIST")]
    source_ips: Option<String>,
    /// Send exactly N requests, then stop (instead of a duration)
    #[arg(short = 'n', long = "requests")]
    requests: Option<u64>,
    /// File with one URL per line (same host and port), rotated per request
    #[arg(long)]
    urls_file: Option<PathBuf>,
    /// CPUs to pin workers to, e.g. 0-3,6 [default: every CPU the process may use]
    #[arg(long)]
    cpus: Option<String>,
    /// auto (io_uring, falling back to epoll), uring, monoio (io_uring through
    /// monoio, not the direct loop) or epoll
    #[arg(long, default_value = "auto")]
    io_engine: String,
    /// Write the full result as JSON to FILE, or - for stdout
    #[arg(long, value_name = "FILE")]
    json: Option<String>,
    /// Constant request rate, all connections together (wrk2's -R); latency then
    /// counts from each request's intended send time
    #[arg(short = 'R', long)]
    rate: Option<f64>,
    /// Arrival process under -R: constant or poisson
    #[arg(long, default_value = "constant", requires = "rate")]
    arrivals: String,
    /// Seed of the poisson arrivals
    #[arg(long, default_value_t = 1, requires = "rate")]
    seed: u64,
    /// Also print the uncorrected latency distribution (measured from the actual send)
    #[arg(long = "u_latency", alias = "u-latency")]
    u_latency: bool,
    /// Write the latency percentile spectrum (HdrHistogram .hgrm) to FILE
    #[arg(long, value_name = "FILE")]
    hgrm: Option<PathBuf>,
    /// Write a self-contained HTML page with charts to FILE
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Write per-second latency histograms as an HdrHistogram interval log to FILE
    #[arg(long, value_name = "FILE")]
    hlog: Option<PathBuf>,
    /// Print nothing but errors
    #[arg(short, long)]
    quiet: bool,
    /// Run node --node-index of this plan file (from `ceiling plan`); the load
    /// options come from the file
    #[arg(long, value_name = "FILE")]
    plan: Option<PathBuf>,
    /// This node's index in the plan [default: $JOB_COMPLETION_INDEX, $SLURM_PROCID]
    #[arg(long, requires = "plan")]
    node_index: Option<usize>,
    /// Nodes in the plan, checked against the file [default: the file's]
    #[arg(long, requires = "plan")]
    node_count: Option<usize>,
    /// Write the node result file (JSON Lines, for `ceiling merge`) to FILE, or - for stdout
    #[arg(long, value_name = "FILE")]
    out: Option<String>,
    /// wrk Lua script (wrk's SCRIPTING interface; see docs/scripts.md); what
    /// follows `--` goes to its init(args)
    #[arg(
        short = 's',
        long,
        value_name = "FILE",
        conflicts_with_all = ["requests_file", "urls_file"]
    )]
    script: Option<PathBuf>,
    /// Several whole requests in vegeta's http targets format, with `# weight: N`
    /// and {{seq}}, {{rand A B}}, {{line FILE}}, {{uuid}} (see docs/scripts.md)
    #[arg(long, value_name = "FILE", conflicts_with = "urls_file")]
    requests_file: Option<PathBuf>,
    /// With --requests-file: rotate (by weight, per connection) or random (by weight)
    #[arg(long, default_value = "rotate", requires = "requests_file")]
    requests_order: String,
    /// Target URL (http://host[:port][/path]); optional with --urls-file or --requests-file
    url: Option<String>,
    /// Arguments for the script's init(args), after `--`
    #[arg(last = true, value_name = "SCRIPT_ARGS")]
    script_args: Vec<String>,
}

/// The flags that shape the load: with --plan they come from the file, so a node
/// may not give them.
pub(crate) const LOAD_IDS: [&str; 20] = [
    "threads",
    "connections",
    "duration",
    "timeout",
    "headers",
    "method",
    "body",
    "body_file",
    "pipeline",
    "pipeline_mode",
    "requests",
    "urls_file",
    "rate",
    "arrivals",
    "seed",
    "url",
    "script",
    "requests_file",
    "requests_order",
    "script_args",
];

/// What the machine running a load decides for itself: where, how, and what it writes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Local {
    pub cpus: Option<String>,
    pub io_engine: Option<String>,
    pub latency: bool,
    pub u_latency: bool,
    pub hgrm: Option<PathBuf>,
    pub html: Option<PathBuf>,
    pub hlog: Option<PathBuf>,
    pub json: Option<String>,
    pub out: Option<String>,
    pub quiet: bool,
    /// `--source-ips` as given (each node binds its own addresses).
    pub source_ips: Option<String>,
}

/// Whether the plan is for running here, or only to describe a run (`ceiling
/// plan` and `ceiling merge`, which may not resolve the target or share its limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Run,
    Describe,
}

/// Bad usage: one line, exit 2, nothing sent.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct UsageError(pub String);

fn usage(msg: impl Into<String>) -> UsageError {
    UsageError(msg.into())
}

/// What parsing produced.
#[derive(Debug)]
pub enum Parsed {
    Plan(Box<Plan>),
    /// `--help` or `--version`: print it and exit 0.
    Info(String),
}

/// The line of a clap error that says what is wrong (clap's message is several
/// lines), with the next one when it ends in a colon (the missing argument's name).
pub(crate) fn usage_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let mut line = lines
        .next()
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ")
        .to_string();
    if line.ends_with(':') {
        if let Some(next) = lines.next() {
            line = format!("{line} {next}");
        }
    }
    line
}

/// Parses and validates `args` (`args[0]` is the program name).
pub fn parse(args: &[OsString], command_line: String) -> Result<Parsed, UsageError> {
    use clap::{CommandFactory, FromArgMatches};
    let matches = match Args::command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => return info_or_usage(e),
    };
    let a = Args::from_arg_matches(&matches).map_err(|e| usage(usage_line(&e)))?;
    let local = local_of(&a);
    let Some(path) = &a.plan else {
        let load = load_of(&a)?;
        return build(&load, &local, Share::WHOLE, Mode::Run, command_line)
            .map(|p| Parsed::Plan(Box::new(p)));
    };
    if let Some(id) = LOAD_IDS
        .iter()
        .find(|id| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
    {
        return Err(usage(format!(
            "--{} comes from the plan file: a node takes only --node-index, --node-count, --cpus, --io-engine and outputs",
            id.replace('_', "-")
        )));
    }
    let planned = crate::distributed::Planned::read(path).map_err(usage)?;
    let count = planned.file.nodes;
    if let Some(n) = a.node_count {
        if n != count {
            return Err(usage(format!(
                "--node-count {n} does not match the plan's {count} nodes ({})",
                path.display()
            )));
        }
    }
    let index = match a.node_index {
        Some(i) => i,
        None => crate::distributed::index_from_env().map_err(usage)?,
    };
    if index >= count {
        return Err(usage(format!(
            "--node-index {index} is out of range: the plan has {count} nodes (0 to {})",
            count - 1
        )));
    }
    let load = planned.file.load.clone();
    let mut plan = build(
        &load,
        &local,
        Share { index, count },
        Mode::Run,
        command_line,
    )?;
    plan.distributed = Some(planned);
    Ok(Parsed::Plan(Box::new(plan)))
}

/// `--help`/`--version` are information (exit 0); anything else is bad usage.
pub(crate) fn info_or_usage(e: clap::Error) -> Result<Parsed, UsageError> {
    use clap::error::ErrorKind::*;
    if matches!(e.kind(), DisplayHelp | DisplayVersion) {
        return Ok(Parsed::Info(e.render().to_string()));
    }
    let line = usage_line(&e);
    Err(usage(format!("{line} (see --help)")))
}

pub(crate) fn local_of(a: &Args) -> Local {
    Local {
        cpus: a.cpus.clone(),
        io_engine: Some(a.io_engine.clone()),
        latency: a.latency,
        u_latency: a.u_latency,
        hgrm: a.hgrm.clone(),
        html: a.html.clone(),
        hlog: a.hlog.clone(),
        json: a.json.clone(),
        out: a.out.clone(),
        quiet: a.quiet,
        source_ips: a.source_ips.clone(),
    }
}

/// The load options of `a`, checked (files read, numbers in range).
pub(crate) fn load_of(a: &Args) -> Result<Load, UsageError> {
    use base64::Engine as _;
    let method = a.method.to_ascii_uppercase();
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-') {
        return Err(usage(format!("invalid method {:?}", a.method)));
    }
    let mut urls = Vec::new();
    if let Some(u) = &a.url {
        urls.push(u.clone());
    }
    if let Some(path) = &a.urls_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| usage(format!("cannot read --urls-file {}: {e}", path.display())))?;
        urls.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from),
        );
        if urls.is_empty() {
            return Err(usage(format!("--urls-file {} has no URLs", path.display())));
        }
    }
    let (script, requests_file) = crate::script::sources(
        a.script.as_deref(),
        &a.script_args,
        a.requests_file.as_deref(),
        &a.requests_order,
        a.seed,
    )
    .map_err(usage)?;
    if let (true, Some(rf)) = (urls.is_empty(), &requests_file) {
        urls.push(rf.requests[0].url.clone());
    }
    if urls.is_empty() {
        return Err(usage(
            "no URL given: ceiling [OPTIONS] http://host[:port]/path",
        ));
    }
    for h in &a.headers {
        parse_header(h)?;
    }
    let body = match (&a.body, &a.body_file) {
        (Some(b), _) => b.clone().into_bytes(),
        (None, Some(path)) => std::fs::read(path)
            .map_err(|e| usage(format!("cannot read --body-file {}: {e}", path.display())))?,
        (None, None) => Vec::new(),
    };
    if a.connections == 0 {
        return Err(usage("-c/--connections must be at least 1"));
    }
    if a.pipeline == 0 {
        return Err(usage("-p/--pipeline must be at least 1"));
    }
    let pipeline_mode = match a.pipeline_mode.as_str() {
        "refill" => PipelineMode::Refill,
        "batch" => PipelineMode::Batch,
        other => {
            return Err(usage(format!(
                "--pipeline-mode {other:?}: use refill or batch"
            )))
        }
    };
    if a.requests == Some(0) {
        return Err(usage("-n/--requests must be at least 1"));
    }
    let duration = match (&a.duration, a.requests) {
        (Some(d), _) => Some(parse_duration("-d/--duration", d)?),
        (None, Some(_)) => None,
        (None, None) => Some(Duration::from_secs(10)),
    };
    let timeout = parse_duration("--timeout", &a.timeout)?;
    if a.threads == Some(0) {
        return Err(usage("-t/--threads must be at least 1"));
    }
    if let Some(r) = a.rate {
        if !(r.is_finite() && r > 0.0) {
            return Err(usage(format!(
                "-R/--rate must be a positive number, not {r}"
            )));
        }
    }
    let arrivals = match a.arrivals.as_str() {
        "constant" => Arrivals::Constant,
        "poisson" => Arrivals::Poisson,
        other => {
            return Err(usage(format!(
                "--arrivals {other:?}: use constant or poisson"
            )))
        }
    };
    Ok(Load {
        urls,
        method,
        headers: a.headers.clone(),
        body: base64::engine::general_purpose::STANDARD.encode(body),
        connections: a.connections,
        threads: a.threads,
        duration_ms: duration.map(|d| d.as_millis() as u64),
        requests: a.requests,
        pipeline: a.pipeline,
        pipeline_mode,
        timeout_ms: timeout.as_millis() as u64,
        rate: a.rate,
        arrivals,
        seed: a.seed,
        script,
        requests_file,
    })
}

/// A validated plan for node `share` of `load`. `Mode::Describe` resolves no
/// names and checks no local limits: the run happens elsewhere, or has happened.
pub(crate) fn build(
    load: &Load,
    local: &Local,
    share: Share,
    mode: Mode,
    command_line: String,
) -> Result<Plan, UsageError> {
    use base64::Engine as _;
    let headers = load
        .headers
        .iter()
        .map(|h| parse_header(h))
        .collect::<Result<Vec<_>, _>>()?;
    let body = base64::engine::general_purpose::STANDARD
        .decode(&load.body)
        .map_err(|e| usage(format!("invalid body in the plan: {e}")))?;
    let method = load.method.clone();
    let mut addr: Option<(SocketAddr, String)> = None;
    let mut targets = Vec::with_capacity(load.urls.len());
    for raw in &load.urls {
        let u = parse_url(raw)?;
        let origin = format!("{}:{}", u.host, u.port);
        match &addr {
            None => {
                let a = match mode {
                    Mode::Run => resolve(&u.host, u.port)?,
                    Mode::Describe => SocketAddr::from(([0, 0, 0, 0], u.port)),
                };
                addr = Some((a, origin))
            }
            Some((_, first)) if *first != origin => {
                return Err(usage(format!(
                    "every URL must have the same host and port: {raw} is not on {first}"
                )))
            }
            Some(_) => {}
        }
        let spec = RequestSpec {
            method: method.clone(),
            target: u.target,
            host: u.host_header,
            headers: headers.clone(),
            body: body.clone(),
        };
        targets.push(Target {
            url: u.normalized,
            request: format_request(&spec),
            is_head: method == "HEAD",
        });
    }
    let (addr, _) = addr.ok_or_else(|| usage("no URL given"))?;

    // This node's part: the parts add up to the whole.
    let connections = split(load.connections as u64, share.count, share.index) as usize;
    let requests = load.requests.map(|n| split(n, share.count, share.index));
    if connections == 0 || requests == Some(0) {
        return Err(usage(format!(
            "{} nodes need at least {} connections (and requests) to share: give each node one",
            share.count, share.count
        )));
    }
    let source_ips = match &local.source_ips {
        None => Vec::new(),
        Some(text) => {
            let ips = crate::source::parse(text).map_err(usage)?;
            if mode == Mode::Run {
                crate::source::validate(&ips, addr).map_err(usage)?;
            }
            ips
        }
    };
    let mut warnings = Vec::new();
    if mode == Mode::Run {
        preflight(connections, &source_ips, addr, &mut warnings)?;
    }
    let allowed = resolve_cpus(local.cpus.as_deref()).map_err(|e| usage(format!("--cpus: {e}")))?;
    let threads = match load.threads {
        // A node's share may be smaller than the threads asked for each node.
        Some(t) if share.count > 1 => t.min(connections),
        Some(t) => t,
        None => allowed.len().min(connections).max(1),
    };
    if connections < threads {
        return Err(usage(format!(
            "-c/--connections ({connections}) must be at least -t/--threads ({threads}): each thread needs a connection"
        )));
    }
    // More threads than CPUs share CPUs round-robin.
    let cpus = (0..threads).map(|i| allowed[i % allowed.len()]).collect();
    let dynamic = crate::script::dynamic_of(load, &headers, &body, addr, threads, &mut targets)
        .map_err(usage)?;
    if load.rate.is_some() && dynamic.as_ref().is_some_and(|d| d.has_delay()) {
        warnings.push(crate::script::DELAY_UNDER_RATE.into());
    }

    let engine: IoEngine = local
        .io_engine
        .as_deref()
        .unwrap_or("auto")
        .parse()
        .map_err(usage)?;
    let engine = choose_engine(engine).map_err(|e| usage(e.to_string()))?;

    let pacing = load.rate.map(|rate| Pacing {
        rate: rate / share.count as f64,
        arrivals: load.arrivals,
        seed: load.seed,
        // Request j of the whole run is due at j/R and belongs to node j mod N.
        offset_s: share.index as f64 / rate,
        first_connection: (0..share.index)
            .map(|i| split(load.connections as u64, share.count, i))
            .sum(),
    });
    // Closed-loop io_uring runs get the direct loop when the kernel allows it.
    let engine = crate::direct::choose(engine, pacing.is_some());
    for path in [&local.hgrm, &local.hlog, &local.html]
        .into_iter()
        .flatten()
    {
        std::fs::File::create(path)
            .map_err(|e| usage(format!("cannot write {}: {e}", path.display())))?;
    }
    let json = output("--json", local.json.as_deref())?;
    let out = output("--out", local.out.as_deref())?;
    if json == Some(JsonOut::Stdout) && out == Some(JsonOut::Stdout) {
        return Err(usage("--json - and --out - cannot both take stdout"));
    }

    Ok(Plan {
        command_line,
        addr,
        targets,
        method,
        cpus,
        connections,
        duration: load.duration_ms.map(Duration::from_millis),
        requests,
        pipeline: load.pipeline,
        pipeline_mode: load.pipeline_mode,
        source_ips,
        warnings,
        timeout: Duration::from_millis(load.timeout_ms),
        engine,
        pacing,
        latency: local.latency,
        u_latency: local.u_latency,
        hgrm: local.hgrm.clone(),
        hlog: local.hlog.clone(),
        html: local.html.clone(),
        json,
        quiet: local.quiet,
        load: load.clone(),
        share,
        distributed: None,
        out,
        dynamic,
    })
}

/// An output flag's destination, found writable now rather than after the run.
fn output(flag: &str, given: Option<&str>) -> Result<Option<JsonOut>, UsageError> {
    match given {
        None => Ok(None),
        Some("-") => Ok(Some(JsonOut::Stdout)),
        Some(path) => {
            let path = PathBuf::from(path);
            std::fs::File::create(&path)
                .map_err(|e| usage(format!("cannot write {flag} {}: {e}", path.display())))?;
            Ok(Some(JsonOut::File(path)))
        }
    }
}

/// Limits of this machine a run of `connections` would hit, found before any load.
fn preflight(
    connections: usize,
    source_ips: &[std::net::IpAddr],
    addr: SocketAddr,
    warnings: &mut Vec<String>,
) -> Result<(), UsageError> {
    // One descriptor per connection, plus the runtime's own (rings, timers, stdio).
    let open_files = raise_open_files();
    if connections as u64 + 64 > open_files {
        return Err(usage(format!(
            "-c {connections} needs more open files than this process may have ({open_files}): \
             raise `ulimit -n`, or split the connections over several processes"
        )));
    }
    // Every connection from one source address to one address:port takes a local
    // port from this range; each source address has the whole range.
    if let Some(ports) = local_ports() {
        let sources = source_ips.len().max(1) as u64;
        if connections as u64 > ports * sources {
            let more = if sources > 1 {
                format!("{sources} source addresses x {ports} ports")
            } else {
                format!("{ports}")
            };
            return Err(usage(format!(
                "-c {connections} needs more local ports than net.ipv4.ip_local_port_range gives ({more}): \
                 widen it (sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\"), add --source-ips, \
                 or use fewer connections"
            )));
        }
    }
    // The server's accept queue is capped by somaxconn: a burst of connects beyond
    // it waits for SYN retries (1 s and more). Only knowable for a local target.
    if let Some(max) = somaxconn() {
        if connections as u64 > max && crate::source::is_local(addr.ip()) {
            warnings.push(format!(
                "warning: -c {connections} exceeds net.core.somaxconn ({max}), the most a listen backlog on this \
                 machine can hold: connects may stall while the server accepts; raise it \
                 (sysctl -w net.core.somaxconn={}) and restart the server",
                connections.next_power_of_two()
            ));
        }
    }
    Ok(())
}

/// How many local ports outgoing connections may use, from
/// net.ipv4.ip_local_port_range (None when it cannot be read).
fn local_ports() -> Option<u64> {
    ports_in(&std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?)
}

/// net.core.somaxconn (None when it cannot be read).
fn somaxconn() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// "32768\t60999" -> 28232.
fn ports_in(range: &str) -> Option<u64> {
    let mut it = range.split_whitespace().map(|v| v.parse::<u64>().ok());
    let (lo, hi) = (it.next()??, it.next()??);
    (hi >= lo).then(|| hi - lo + 1)
}

/// A URL taken apart for the request line and the Host header.
struct ParsedUrl {
    normalized: String,
    host: String,
    port: u16,
    host_header: String,
    target: String,
}

fn parse_url(raw: &str) -> Result<ParsedUrl, UsageError> {
    // wrk insists on a scheme; accept `host:port/path` too, as http.
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("http://{raw}")
    };
    let u =
        url::Url::parse(&with_scheme).map_err(|e| usage(format!("invalid URL {raw:?}: {e}")))?;
    match u.scheme() {
        "http" => {}
        "https" => {
            return Err(usage(format!(
                "{raw}: https is not supported yet (no TLS in this version); use http://"
            )))
        }
        other => {
            return Err(usage(format!(
                "{raw}: unsupported scheme {other:?}; use http://"
            )))
        }
    }
    let host = match u.host() {
        Some(url::Host::Domain(d)) => d.to_string(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err(usage(format!("invalid URL {raw:?}: no host"))),
    };
    let host_str = u.host_str().unwrap_or_default().to_string();
    let port = u.port().unwrap_or(80);
    let host_header = match u.port() {
        Some(p) => format!("{host_str}:{p}"),
        None => host_str,
    };
    let mut target = u.path().to_string();
    if target.is_empty() {
        target.push('/');
    }
    if let Some(q) = u.query() {
        target.push('?');
        target.push_str(q);
    }
    Ok(ParsedUrl {
        normalized: u.to_string(),
        host,
        port,
        host_header,
        target,
    })
}

fn resolve(host: &str, port: u16) -> Result<SocketAddr, UsageError> {
    let mut addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| usage(format!("cannot resolve host {host:?}: {e}")))?;
    addrs
        .next()
        .ok_or_else(|| usage(format!("host {host:?} has no address")))
}

fn parse_header(h: &str) -> Result<(String, String), UsageError> {
    let bad = || usage(format!("invalid header {h:?}: expected \"Name: value\""));
    let (name, value) = h.split_once(':').ok_or_else(bad)?;
    let name = name.trim();
    let valid_name = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !valid_name || value.contains(['\r', '\n']) {
        return Err(bad());
    }
    Ok((name.to_string(), value.trim().to_string()))
}

/// `10s`, `500ms`, `5m`, `1h`, or a bare number of seconds (as wrk takes it).
pub(crate) fn parse_duration(flag: &str, text: &str) -> Result<Duration, UsageError> {
    let t = text.trim();
    let d = match t.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs >= 0.0 => Duration::from_secs_f64(secs),
        _ => humantime::parse_duration(t).map_err(|_| {
            usage(format!(
                "{flag}: invalid duration {text:?} (use 10s, 500ms, 5m, 1h)"
            ))
        })?,
    };
    if d.is_zero() {
        return Err(usage(format!("{flag} must be more than zero")));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn try_plan(args: &[&str]) -> Result<Plan, UsageError> {
        let argv: Vec<OsString> = std::iter::once("ceiling")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        match parse(&argv, args.join(" "))? {
            Parsed::Plan(p) => Ok(*p),
            Parsed::Info(_) => panic!("info"),
        }
    }

    #[test]
    fn wrk_style_flags() {
        let p = try_plan(&[
            "-t1",
            "-c64",
            "-d5s",
            "--latency",
            "http://127.0.0.1:8080/plaintext",
        ])
        .unwrap();
        assert_eq!(p.threads(), 1);
        assert_eq!(p.connections, 64);
        assert_eq!(p.duration, Some(Duration::from_secs(5)));
        assert!(p.latency);
        assert_eq!(p.addr, "127.0.0.1:8080".parse().unwrap());
        let req = String::from_utf8(p.targets[0].request.clone()).unwrap();
        assert!(
            req.starts_with("GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"),
            "{req}"
        );
    }

    #[test]
    fn url_without_port_or_path() {
        let p = try_plan(&["-t1", "-c1", "localhost"]).unwrap();
        assert_eq!(p.addr.port(), 80);
        let req = String::from_utf8(p.targets[0].request.clone()).unwrap();
        assert!(
            req.starts_with("GET / HTTP/1.1\r\nHost: localhost\r\n"),
            "{req}"
        );
    }

    #[test]
    fn requests_without_duration_has_no_time_limit() {
        let p = try_plan(&["-t1", "-c1", "-n", "5", "http://127.0.0.1:1/"]).unwrap();
        assert_eq!(p.duration, None);
        assert_eq!(p.requests_of(0), Some(5));
    }

    #[test]
    fn bad_usage_is_one_line() {
        for args in [
            &["-t4", "-c2", "http://127.0.0.1:1/"][..],
            &["-d0s", "http://127.0.0.1:1/"],
            &["-d", "soon", "http://127.0.0.1:1/"],
            &["https://127.0.0.1/"],
            &["ftp://127.0.0.1/"],
            &["http://no-such-host.invalid/"],
            &["-H", "novalue", "http://127.0.0.1:1/"],
            &["--bogus", "http://127.0.0.1:1/"],
            &[],
            &["--json", "/nonexistent-dir/x.json", "http://127.0.0.1:1/"],
        ] {
            let e = try_plan(args).expect_err(&format!("{args:?} should fail"));
            assert!(!e.0.contains('\n'), "{args:?}: {}", e.0);
            assert!(!e.0.is_empty());
        }
    }

    #[test]
    fn headers_and_body() {
        let p = try_plan(&[
            "-t1",
            "-c1",
            "-m",
            "post",
            "-H",
            "X-A: 1",
            "--body",
            "hi",
            "http://127.0.0.1:1/e",
        ])
        .unwrap();
        let req = String::from_utf8(p.targets[0].request.clone()).unwrap();
        assert!(req.starts_with("POST /e HTTP/1.1\r\n"));
        assert!(req.contains("X-A: 1\r\n"));
        assert!(req.contains("Content-Length: 2\r\n"));
        assert!(req.ends_with("\r\n\r\nhi"));
    }

    #[test]
    fn local_port_range_sizes() {
        assert_eq!(ports_in("32768\t60999\n"), Some(28232));
        assert_eq!(ports_in("1024 65535"), Some(64512));
        assert_eq!(ports_in("garbage"), None);
        assert_eq!(ports_in("5 4"), None);
    }

    #[test]
    fn connections_beyond_somaxconn_warn_for_a_local_target() {
        let Some(max) = somaxconn() else { return };
        let c = (max + 1).to_string();
        // Only where the other limits allow that many connections.
        if let Ok(p) = try_plan(&["-t1", "-c", &c, "http://127.0.0.1:1/"]) {
            assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
            assert!(
                p.warnings[0].contains("net.core.somaxconn"),
                "{:?}",
                p.warnings
            );
            assert!(!p.warnings[0].contains('\n'));
        }
        let p = try_plan(&["-t1", "-c", "2", "http://127.0.0.1:1/"]).unwrap();
        assert!(p.warnings.is_empty());
    }

    #[test]
    fn pipeline_mode_and_source_ips_reach_the_plan() {
        let p = try_plan(&[
            "-t1",
            "-c4",
            "-p4",
            "--pipeline-mode",
            "batch",
            "--source-ips",
            "127.0.0.2-127.0.0.3",
            "http://127.0.0.1:1/",
        ])
        .unwrap();
        assert_eq!(p.pipeline_mode, PipelineMode::Batch);
        let sources: Vec<_> = (0..4)
            .map(|i| p.source_of(i).unwrap().to_string())
            .collect();
        assert_eq!(
            sources,
            ["127.0.0.2", "127.0.0.3", "127.0.0.2", "127.0.0.3"]
        );
        let p = try_plan(&["-t1", "-c1", "http://127.0.0.1:1/"]).unwrap();
        assert_eq!(p.pipeline_mode, PipelineMode::Refill);
        assert_eq!(p.source_of(0), None);
    }

    #[test]
    fn more_threads_than_cpus_share_round_robin() {
        let p = try_plan(&["-t3", "-c3", "--cpus", "0", "http://127.0.0.1:1/"]).unwrap();
        assert_eq!(p.cpus, vec![0, 0, 0]);
    }
}
