//! Parsed arguments -> a [`Plan`] (ripgrep's "high args"). Every side effect of
//! getting ready happens here, in this order, and an error names its step:
//! reading input files ([`load_of`]), the URLs and headers, the TLS client
//! configuration of an `https://` URL (its certificate files), resolving the
//! host and finding the address that accepts, the node's share, `--source-ips`,
//! this machine's limits, CPUs, the I/O engine, for an `https://` run the
//! preflight handshake (the one step whose failure is not bad usage: exit 1),
//! and creating the output files.

use super::{check_headers, parse_header, split, HeaderError, Load, Pacing, Plan, Share, Target};
use crate::plan::JsonOut;
use shared::runtime::{choose_engine, raise_open_files, resolve_cpus, CpuListError, EngineError};
use shared::runtime::{EngineChoice, IoEngine};
use shared::wire::request::{format_request, RequestSpec};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;
use thiserror::Error;

/// Whether the plan is for running here, or only to describe a run (`ceiling
/// plan` and `ceiling merge`, which may not resolve the target or share its limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Run,
    Describe,
}

/// What the machine running a load decides for itself.
#[derive(Debug, Clone, Default)]
pub struct Machine {
    /// CPU list as given (resolved against the allowed CPUs when building).
    pub cpus: Option<String>,
    pub io_engine: IoEngine,
    /// `--source-ips`, parsed (each node binds its own addresses).
    pub source_ips: Vec<IpAddr>,
    /// An `https://` origin this process already checked with a preflight
    /// handshake (a campaign's later runs of one target): no second one. A
    /// server that fails handshakes later, under or after load, then shows as
    /// the run's `tls_handshake` errors, as a server that stopped accepting
    /// shows as connect errors, rather than ending the campaign.
    pub tls_checked: bool,
}

/// Where a run's results go and what the text shows.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    pub latency: bool,
    pub u_latency: bool,
    pub hgrm: Option<PathBuf>,
    pub html: Option<PathBuf>,
    pub hlog: Option<PathBuf>,
    /// `--json`: a path, or "-" for stdout.
    pub json: Option<String>,
    /// `--out`: a path, or "-" for stdout.
    pub out: Option<String>,
    pub quiet: bool,
}

impl Outputs {
    /// No text, no files: a campaign's step.
    pub fn quiet() -> Self {
        Self {
            quiet: true,
            ..Self::default()
        }
    }
}

/// A step of getting ready that failed: bad usage, found before any load (exit 2).
#[derive(Debug, Error)]
pub enum BuildError {
    #[error("cannot read {flag} {path}: {source}")]
    Read {
        flag: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--urls-file {0} has no URLs")]
    NoUrlsInFile(PathBuf),
    #[error("no URL given: ceiling [OPTIONS] http://host[:port]/path")]
    NoUrl,
    /// A script (`-s`) or requests file that cannot run: the message names the
    /// file and line.
    #[error("{0}")]
    Script(String),
    #[error("invalid URL {url}: {reason}")]
    Url { url: String, reason: String },
    #[error("every URL must have the same scheme, host and port: {url} is not on {first}")]
    MixedOrigins { url: String, first: String },
    /// `-k`, `--cacert`, `--cert/--key` of an `https://` URL that cannot be used.
    #[error(transparent)]
    ClientTls(#[from] crate::tls::ClientTlsError),
    #[error("{url}: {host:?} cannot be sent as a TLS server name (SNI): {reason}")]
    TlsName {
        url: String,
        host: String,
        reason: String,
    },
    /// The preflight handshake of an `https://` run failed: the server, not the
    /// usage, is wrong (exit 1, nothing sent). See [`BuildError::is_usage`].
    #[error("TLS preflight handshake failed, no load sent: {0}")]
    Preflight(#[from] crate::tls::PreflightError),
    #[error(transparent)]
    Header(#[from] HeaderError),
    #[error("resolving {host:?}: {source}")]
    Resolve {
        host: String,
        source: std::io::Error,
    },
    #[error("resolving {host:?}: it has no address")]
    NoAddress { host: String },
    #[error("{nodes} nodes need at least {nodes} connections (and requests) to share: give each node one")]
    Share { nodes: usize },
    #[error("{0}")]
    SourceIps(String),
    #[error("-c {connections} needs more open files than this process may have ({limit}): raise `ulimit -n`, or split the connections over several processes")]
    OpenFiles { connections: usize, limit: u64 },
    #[error("-c {connections} needs more local ports than net.ipv4.ip_local_port_range gives ({ports}): widen it (sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\"), add --source-ips, or use fewer connections")]
    LocalPorts { connections: usize, ports: String },
    #[error("--cpus: {0}")]
    Cpus(#[from] CpuListError),
    #[error("-c/--connections ({connections}) must be at least -t/--threads ({threads}): each thread needs a connection")]
    ThreadsAboveConnections { connections: usize, threads: usize },
    #[error("{0}")]
    Engine(#[from] EngineError),
    #[error("cannot write {flag} {path}: {source}")]
    Output {
        flag: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--json - and --out - cannot both take stdout")]
    BothStdout,
    #[error(transparent)]
    PlanFile(#[from] crate::distributed::PlanFileError),
    /// A load read from a file (a plan, a node file) with a value no flag accepts.
    #[error("the plan's {field} {value} is out of range: {reason}")]
    LoadValue {
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error(transparent)]
    NodeIndex(#[from] crate::distributed::NodeIndexError),
    #[error("--node-count {given} does not match the plan's {count} nodes ({path})")]
    NodeCount {
        given: usize,
        count: usize,
        path: PathBuf,
    },
    #[error("--node-index {index} is out of range: the plan has {count} nodes (0 to {})", count - 1)]
    NodeOutOfRange { index: usize, count: usize },
}

impl BuildError {
    /// Bad usage (exit 2): every step but the preflight handshake, which
    /// found the server unusable for the run (exit 1).
    pub fn is_usage(&self) -> bool {
        !matches!(self, BuildError::Preflight(_))
    }
}

/// The longest the preflight handshake of an `https://` run may take (less
/// when `--timeout` is shorter): long enough for a slow full handshake across
/// the world, short enough that a silent port is reported at once.
pub const PREFLIGHT_LIMIT: Duration = Duration::from_secs(5);

/// The target URLs and the request body, with the input files read: `url`
/// first, then the lines of `urls_file` (blank lines and `#` comments skipped);
/// `body`, or the bytes of `body_file`.
pub fn read_inputs(
    url: Option<&str>,
    urls_file: Option<&std::path::Path>,
    body: Option<&str>,
    body_file: Option<&std::path::Path>,
) -> Result<(Vec<String>, Vec<u8>), BuildError> {
    let mut urls = Vec::new();
    if let Some(u) = url {
        urls.push(u.to_string());
    }
    if let Some(path) = urls_file {
        let text = std::fs::read_to_string(path).map_err(|source| BuildError::Read {
            flag: "--urls-file",
            path: path.to_path_buf(),
            source,
        })?;
        urls.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from),
        );
        if urls.is_empty() {
            return Err(BuildError::NoUrlsInFile(path.to_path_buf()));
        }
    }
    if urls.is_empty() {
        return Err(BuildError::NoUrl);
    }
    let body = match (body, body_file) {
        (Some(b), _) => b.as_bytes().to_vec(),
        (None, Some(path)) => std::fs::read(path).map_err(|source| BuildError::Read {
            flag: "--body-file",
            path: path.to_path_buf(),
            source,
        })?,
        (None, None) => Vec::new(),
    };
    Ok((urls, body))
}

/// The plan of node `index` (None: from the environment) of the plan file at
/// `path`, its node count checked against `count` when given.
pub fn node(
    path: &std::path::Path,
    index: Option<usize>,
    count: Option<usize>,
    machine: &Machine,
    outputs: &Outputs,
    command_line: &str,
) -> Result<Plan, BuildError> {
    let mut planned = crate::distributed::Planned::read(path)?;
    let nodes = planned.file.nodes;
    if let Some(given) = count {
        if given != nodes {
            return Err(BuildError::NodeCount {
                given,
                count: nodes,
                path: path.to_path_buf(),
            });
        }
    }
    let index = match index {
        Some(i) => i,
        None => crate::distributed::index_from_env()?,
    };
    if index >= nodes {
        return Err(BuildError::NodeOutOfRange {
            index,
            count: nodes,
        });
    }
    let load = planned.file.load.clone();
    let mut plan = build(
        &load,
        machine,
        outputs,
        Share {
            index,
            count: nodes,
        },
        Mode::Run,
        command_line,
    )?;
    // The node file records the plan: without its credentials (the hash that
    // ties the nodes together is the file's as read).
    planned.file.load = planned.file.load.redacted();
    plan.distributed = Some(planned);
    Ok(plan)
}

/// The generator command line that runs `load` on `machine`, as a user would
/// type it (credentials masked): what a campaign step records.
pub fn command_line(load: &Load, machine: &Machine) -> String {
    let mut v: Vec<String> = vec!["ceiling".into()];
    let mut flag = |f: &str, value: String| {
        v.push(f.into());
        v.push(value);
    };
    if let Some(t) = load.threads {
        flag("-t", t.to_string());
    }
    flag("-c", load.connections.to_string());
    if let Some(d) = load.duration {
        flag("-d", crate::plan::limits::show(d));
    }
    if let Some(n) = load.requests {
        flag("-n", n.to_string());
    }
    if let Some(r) = load.rate {
        flag("-R", r.to_string());
    }
    if load.method != "GET" {
        flag("-m", load.method.clone());
    }
    if load.pipeline != 1 {
        flag("-p", load.pipeline.to_string());
    }
    if load.timeout != Duration::from_secs(2) {
        flag("--timeout", crate::plan::limits::show(load.timeout));
    }
    if let Some(cpus) = &machine.cpus {
        flag("--cpus", cpus.clone());
    }
    for h in &load.headers {
        flag("-H", crate::redact::header(h));
    }
    if !load.body.is_empty() {
        flag("--body", format!("<{} bytes>", load.body.len()));
    }
    // The script or requests file by its name (as the user named it on the
    // command line, without directories): never its text.
    if let Some(s) = &load.script {
        v.push("-s".into());
        v.push(s.name.clone());
    }
    v.extend(load.tls.flags());
    if let Some(r) = &load.requests_file {
        v.push("--requests-file".into());
        v.push(r.name.clone());
        // The default order (rotate) goes unsaid.
        if r.order != Default::default() {
            v.push("--requests-order".into());
            v.push("random".into());
        }
    }
    v.extend(load.urls.iter().map(|u| crate::redact::url(u)));
    if let Some(s) = load.script.as_ref().filter(|s| !s.args.is_empty()) {
        v.push("--".into());
        v.extend(crate::redact::args(&s.args));
    }
    v.join(" ")
}

/// A validated plan for node `share` of `load`. `Mode::Describe` resolves no
/// names, probes nothing and checks no local limits: the run happens elsewhere,
/// or has happened. `command_line` is recorded as given, credentials masked.
pub fn build(
    load: &Load,
    machine: &Machine,
    outputs: &Outputs,
    share: Share,
    mode: Mode,
    command_line: &str,
) -> Result<Plan, BuildError> {
    check_load(load)?;
    // The request: headers alone, then against each other and the body.
    let headers = load
        .headers
        .iter()
        .map(|h| parse_header(h))
        .collect::<Result<Vec<_>, _>>()?;
    check_headers(&load.method, &headers, load.body.len())?;
    let method = load.method.clone();

    // The URLs: one origin; credentials become a Basic Authorization header (as
    // curl does) unless -H gives one.
    let mut origin: Option<(ParsedUrl, String)> = None;
    let mut parsed = Vec::with_capacity(load.urls.len());
    for raw in &load.urls {
        let u = parse_url(raw)?;
        // The scheme is part of the origin: one run's connections all speak
        // TLS, or none does.
        let o = format!("{}://{}:{}", u.scheme.name(), u.host_port(), u.port);
        match &origin {
            None => origin = Some((u.clone(), o)),
            Some((_, first)) if *first != o => {
                return Err(BuildError::MixedOrigins {
                    url: crate::redact::url(raw),
                    first: first.clone(),
                })
            }
            Some(_) => {}
        }
        parsed.push(u);
    }
    let (first, _) = origin.ok_or(BuildError::NoUrl)?;
    let mut warnings = Vec::new();
    // https: the client configuration (reading the certificate files: a bad
    // one is bad usage) and the server name. A plan described here runs on
    // other machines, which read the files themselves: only the checks that
    // read no file.
    let tls = match (first.scheme, mode) {
        (Scheme::Https, Mode::Run) => {
            let name =
                rustls::pki_types::ServerName::try_from(first.host.clone()).map_err(|e| {
                    BuildError::TlsName {
                        url: first.shown.clone(),
                        host: first.host.clone(),
                        reason: e.to_string(),
                    }
                })?;
            let config = crate::tls::client_config(&load.tls, load.connections)?;
            Some(std::sync::Arc::new(crate::tls::TlsClient { config, name }))
        }
        (Scheme::Https, Mode::Describe) => {
            load.tls.check()?;
            None
        }
        (Scheme::Http, _) => {
            if load.tls.given() {
                warnings.push(format!(
                    "warning: the TLS flags ({}) apply to https:// URLs only: {} is plain HTTP, so they are ignored",
                    load.tls.flags().join(" "),
                    first.shown
                ));
            }
            None
        }
    };
    let user_auth = headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("authorization"));
    let mut targets: Vec<Target> = parsed
        .into_iter()
        .map(|u| {
            // Each URL's own credentials (a --urls-file may hold several).
            let mut headers = headers.clone();
            if let (Some(auth), false) = (&u.basic_auth, user_auth) {
                headers.push(("Authorization".into(), auth.clone()));
            }
            let spec = RequestSpec {
                method: method.clone(),
                target: u.target,
                host: u.host_header,
                headers,
                body: load.body.clone(),
            };
            Target {
                url: u.shown,
                request: format_request(&spec),
                is_head: method == "HEAD",
            }
        })
        .collect();

    // This node's part: the parts add up to the whole.
    let connections = split(load.connections as u64, share.count, share.index) as usize;
    let requests = load.requests.map(|n| split(n, share.count, share.index));
    if connections == 0 || requests == Some(0) {
        return Err(BuildError::Share { nodes: share.count });
    }

    // The address: every one the name resolves to, in order, the first that
    // accepts a connection (as curl does: `localhost` is ::1 and 127.0.0.1).
    let addr = match mode {
        Mode::Run => address(&first.host, first.port, &machine.source_ips)?,
        Mode::Describe => SocketAddr::from(([0, 0, 0, 0], first.port)),
    };
    if mode == Mode::Run && !machine.source_ips.is_empty() {
        crate::source::validate(&machine.source_ips, addr).map_err(BuildError::SourceIps)?;
    }
    if mode == Mode::Run {
        preflight(connections, &machine.source_ips, addr, &mut warnings)?;
    }
    let allowed = resolve_cpus(machine.cpus.as_deref())?;
    let threads = match load.threads {
        // A node's share may be smaller than the threads asked for each node.
        Some(t) if share.count > 1 => t.min(connections),
        Some(t) => t,
        None => allowed.len().min(connections).max(1),
    };
    if connections < threads {
        return Err(BuildError::ThreadsAboveConnections {
            connections,
            threads,
        });
    }
    // More threads than CPUs share CPUs round-robin.
    let cpus = (0..threads).map(|i| allowed[i % allowed.len()]).collect();
    // A script or requests file: prepared now (a bad one stops here, before any load).
    let dynamic =
        crate::script::dynamic_of(load, &headers, &load.body, addr, threads, &mut targets)
            .map_err(BuildError::Script)?;
    if load.rate.is_some() && dynamic.as_ref().is_some_and(|d| d.has_delay()) {
        warnings.push(crate::script::DELAY_UNDER_RATE.into());
    }

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
    let engine: EngineChoice = choose_engine(machine.io_engine)?;
    // Closed-loop io_uring runs get the direct loop when the kernel allows it.
    let engine = match mode {
        Mode::Run => crate::direct::choose(engine, pacing.is_some()),
        Mode::Describe => engine,
    };

    // Once the usage is known to be good (but for the output paths): one
    // handshake, so a bad certificate, a wrong name, plain HTTP or a silent
    // port is one line before any load rather than a run of handshake errors.
    // Bounded by --timeout (a request's limit) and at most PREFLIGHT_LIMIT.
    // Before the output files are created: a run that stops here leaves no
    // empty result file behind (nor truncates an old one).
    let handshake = match &tls {
        Some(t) if mode == Mode::Run && !machine.tls_checked => {
            let limit = load.timeout.min(PREFLIGHT_LIMIT);
            let config = crate::tls::preflight_config(&t.config);
            match crate::tls::preflight(addr, &first.host, config, limit, &mut warnings) {
                Ok(done) => Some(done),
                // Nothing accepts: as for http://, the run counts the connect
                // errors and says so (exit 1); checks never fail on it.
                Err(crate::tls::PreflightError::Connect { .. }) => None,
                Err(e) => return Err(e.into()),
            }
        }
        _ => None,
    };

    // Output files last: created now, so a bad path fails before any load.
    for (flag, path) in [
        ("--hgrm", &outputs.hgrm),
        ("--hlog", &outputs.hlog),
        ("--html", &outputs.html),
    ] {
        if let Some(path) = path {
            std::fs::File::create(path).map_err(|source| BuildError::Output {
                flag,
                path: path.clone(),
                source,
            })?;
        }
    }
    let json = output("--json", outputs.json.as_deref())?;
    let out = output("--out", outputs.out.as_deref())?;
    if json == Some(JsonOut::Stdout) && out == Some(JsonOut::Stdout) {
        return Err(BuildError::BothStdout);
    }

    Ok(Plan {
        command_line: crate::redact::command_line(command_line),
        addr,
        targets,
        method,
        cpus,
        connections,
        duration: load.duration,
        requests,
        pipeline: load.pipeline,
        pipeline_mode: load.pipeline_mode,
        source_ips: machine.source_ips.clone(),
        warnings,
        timeout: load.timeout,
        engine,
        pacing,
        latency: outputs.latency,
        u_latency: outputs.u_latency,
        hgrm: outputs.hgrm.clone(),
        hlog: outputs.hlog.clone(),
        html: outputs.html.clone(),
        json,
        quiet: outputs.quiet,
        // What results and node files record: no credential in them.
        load: load.redacted(),
        share,
        distributed: None,
        out,
        dynamic,
        tls,
        handshake,
    })
}

/// The ranges the flags enforce, for a load read from a file (a plan file or a
/// node file's copy of it), which no flag parser has seen.
fn check_load(load: &Load) -> Result<(), BuildError> {
    use super::limits::{self as l, RangeError};
    let bad = |field: &'static str, value: String, e: RangeError| BuildError::LoadValue {
        field,
        value,
        reason: e.to_string(),
    };
    let count =
        |field, n: u64, min, max| l::count(n, min, max).map_err(|e| bad(field, n.to_string(), e));
    count(
        "connections",
        load.connections as u64,
        1,
        l::MAX_CONNECTIONS,
    )?;
    if let Some(t) = load.threads {
        count("threads", t as u64, 1, l::MAX_THREADS)?;
    }
    count("pipeline", load.pipeline as u64, 1, l::MAX_PIPELINE)?;
    if let Some(n) = load.requests {
        count("requests", n, 1, l::MAX_REQUESTS)?;
    }
    let within = |field, d: Duration, min, max| {
        l::duration(d, min, max).map_err(|e| bad(field, l::show(d), e))
    };
    if let Some(d) = load.duration {
        within("duration", d, l::MIN_INTERVAL, l::MAX_RUN)?;
    }
    within("timeout", load.timeout, l::MIN_INTERVAL, l::MAX_TIMEOUT)?;
    if let Some(r) = load.rate {
        l::number(r, l::MIN_RATE, l::MAX_RATE).map_err(|e| bad("rate", r.to_string(), e))?;
    }
    if load.method.is_empty() || !load.method.bytes().all(super::header::is_tchar) {
        return Err(BuildError::LoadValue {
            field: "method",
            value: load.method.clone(),
            reason: "a method is a token".into(),
        });
    }
    Ok(())
}

/// An output flag's destination, found writable now rather than after the run.
fn output(flag: &'static str, given: Option<&str>) -> Result<Option<JsonOut>, BuildError> {
    match given {
        None => Ok(None),
        Some("-") => Ok(Some(JsonOut::Stdout)),
        Some(path) => {
            let path = PathBuf::from(path);
            std::fs::File::create(&path).map_err(|source| BuildError::Output {
                flag,
                path: path.clone(),
                source,
            })?;
            Ok(Some(JsonOut::File(path)))
        }
    }
}

/// How long the connect probe waits for each address.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The address to load: the only one, or of several, the first (in the
/// resolver's order) that accepts a TCP connection; none accepting: the first,
/// and the run reports the connect errors. Addresses of another family than
/// `--source-ips` are skipped.
fn address(host: &str, port: u16, sources: &[IpAddr]) -> Result<SocketAddr, BuildError> {
    let all: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|source| BuildError::Resolve {
            host: host.to_string(),
            source,
        })?
        .collect();
    let mut candidates: Vec<SocketAddr> = Vec::with_capacity(all.len());
    for a in all {
        let family_fits = sources.first().is_none_or(|s| s.is_ipv4() == a.is_ipv4());
        if family_fits && !candidates.contains(&a) {
            candidates.push(a);
        }
    }
    let Some(&first) = candidates.first() else {
        return Err(BuildError::NoAddress {
            host: host.to_string(),
        });
    };
    // One address: nothing to choose, and no extra connection to the server.
    if candidates.len() == 1 {
        return Ok(first);
    }
    Ok(candidates
        .into_iter()
        .find(|a| TcpStream::connect_timeout(a, PROBE_TIMEOUT).is_ok())
        .unwrap_or(first))
}

/// Limits of this machine a run of `connections` would hit, found before any load.
fn preflight(
    connections: usize,
    source_ips: &[IpAddr],
    addr: SocketAddr,
    warnings: &mut Vec<String>,
) -> Result<(), BuildError> {
    // One descriptor per connection, plus the runtime's own (rings, timers, stdio).
    let open_files = raise_open_files();
    if connections as u64 + 64 > open_files {
        return Err(BuildError::OpenFiles {
            connections,
            limit: open_files,
        });
    }
    // Every connection from one source address to one address:port takes a local
    // port from this range; each source address has the whole range.
    if let Some(ports) = local_ports() {
        let sources = source_ips.len().max(1) as u64;
        if connections as u64 > ports * sources {
            let ports = if sources > 1 {
                format!("{sources} source addresses x {ports} ports")
            } else {
                format!("{ports}")
            };
            return Err(BuildError::LocalPorts { connections, ports });
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
pub(crate) fn somaxconn() -> Option<u64> {
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

/// The schemes a run speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn name(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// A URL taken apart for the request line, the Host header and the display.
#[derive(Debug, Clone)]
struct ParsedUrl {
    scheme: Scheme,
    /// Normalised, the password masked: what is printed and recorded.
    shown: String,
    /// The host to resolve and, for https, the TLS server name: a domain, or an
    /// IP address without brackets.
    host: String,
    port: u16,
    host_header: String,
    target: String,
    /// `Basic base64(user:password)` from the userinfo, percent-decoded (as curl).
    basic_auth: Option<String>,
}

impl ParsedUrl {
    /// The host as a URL writes it (IPv6 in brackets), for the origin.
    fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }
}

fn parse_url(raw: &str) -> Result<ParsedUrl, BuildError> {
    use base64::Engine as _;
    let bad = |reason: String| BuildError::Url {
        url: crate::redact::url(raw),
        reason,
    };
    // A scheme with one slash (`https:/host/`) would read as a host named
    // "https": say what is wrong instead.
    let lower = raw.to_ascii_lowercase();
    if !raw.contains("://") && (lower.starts_with("http:/") || lower.starts_with("https:/")) {
        return Err(bad(
            "the scheme needs two slashes: http:// or https://".into()
        ));
    }
    // wrk insists on a scheme; accept `host:port/path` too, as http.
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("http://{raw}")
    };
    let mut u = url::Url::parse(&with_scheme).map_err(|e| bad(e.to_string()))?;
    let scheme = match u.scheme() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => {
            return Err(bad(format!(
                "unsupported scheme {other:?}; use http:// or https://"
            )))
        }
    };
    let host = match u.host() {
        Some(url::Host::Domain(d)) => d.to_string(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err(bad("no host".into())),
    };
    let decode = |s: &str| -> Result<String, BuildError> {
        percent_decode(s)
            .ok_or_else(|| bad("the userinfo is not valid percent-encoded UTF-8".into()))
    };
    let basic_auth = if u.username().is_empty() && u.password().is_none() {
        None
    } else {
        let user = decode(u.username())?;
        let password = decode(u.password().unwrap_or(""))?;
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        ))
    };
    if u.password().is_some() {
        // The url crate cannot fail this for an http URL with a host.
        let _ = u.set_password(Some(crate::redact::MASK));
    } else if !u.username().is_empty() {
        // A user alone is often a token (`https://TOKEN@host/`): masked too.
        let _ = u.set_username(crate::redact::MASK);
    }
    let host_str = u.host_str().unwrap_or_default().to_string();
    // The url crate drops a port that is the scheme's default (https://h:443/
    // is https://h/), so the Host header carries a port only when it differs.
    let port = u.port_or_known_default().unwrap_or(80);
    if port == 0 {
        return Err(bad("port 0 cannot be connected to".into()));
    }
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
        scheme,
        // The url crate percent-encodes the mask; show it plainly.
        shown: u.to_string().replace("%2A%2A%2A@", "***@"),
        host,
        port,
        host_header,
        target,
        basic_auth,
    })
}

/// `%40` -> `@`; None when an escape is malformed or the bytes are not UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{Parsed, RunArgs, UsageError};
    use crate::plan::PipelineMode;
    use std::ffi::OsString;

    fn try_plan(args: &[&str]) -> Result<Plan, UsageError> {
        let argv: Vec<OsString> = std::iter::once("ceiling")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        match RunArgs::parse_from(&argv)? {
            Parsed::Args(a) => a.plan(&args.join(" ")),
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
    fn durations_keep_their_nanoseconds() {
        let p = try_plan(&[
            "-t1",
            "-c1",
            "-d",
            "10.5ms",
            "--timeout",
            "12345us",
            "http://127.0.0.1:1/",
        ])
        .unwrap();
        assert_eq!(p.duration, Some(Duration::from_micros(10_500)));
        assert_eq!(p.timeout, Duration::from_micros(12_345));
        assert_eq!(p.load.timeout, Duration::from_micros(12_345));
    }

    #[test]
    fn url_without_port_or_path() {
        let p = try_plan(&["-t1", "-c1", "127.0.0.1"]).unwrap();
        assert_eq!(p.addr.port(), 80);
        let req = String::from_utf8(p.targets[0].request.clone()).unwrap();
        assert!(
            req.starts_with("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"),
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
            &["-d", "500us", "http://127.0.0.1:1/"],
            &["-d", "1e20", "http://127.0.0.1:1/"],
            &["--timeout", "1e20", "http://127.0.0.1:1/"],
            &["--timeout", "500us", "http://127.0.0.1:1/"],
            &["-R", "inf", "http://127.0.0.1:1/"],
            &["-R", "-5", "http://127.0.0.1:1/"],
            &["-c", "-1", "http://127.0.0.1:1/"],
            &["-p", "100000", "http://127.0.0.1:1/"],
            &["ftp://127.0.0.1/"],
            &["--cacert", "/nonexistent/ca.pem", "https://127.0.0.1:1/"],
            &["--cert", "/nonexistent/c.pem", "https://127.0.0.1:1/"],
            &[
                "-k",
                "--cacert",
                "/nonexistent/ca.pem",
                "https://127.0.0.1:1/",
            ],
            &["--tls-resume", "maybe", "https://127.0.0.1:1/"],
            &["http://no-such-host.invalid/"],
            &["-H", "novalue", "http://127.0.0.1:1/"],
            &["-H", "Host: a", "-H", "Host: b", "http://127.0.0.1:1/"],
            &["--bogus", "http://127.0.0.1:1/"],
            &[],
            &["--json", "/nonexistent-dir/x.json", "http://127.0.0.1:1/"],
        ] {
            let e = try_plan(args).expect_err(&format!("{args:?} should fail"));
            let line = e.to_string();
            assert!(!line.contains('\n'), "{args:?}: {line}");
            assert!(!line.is_empty());
        }
        let e = try_plan(&["-d", "500us", "http://127.0.0.1:1/"]).unwrap_err();
        assert!(e.to_string().contains("at least 10ms"), "{e}");
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
    fn credentials_in_the_url_send_basic_auth_and_show_masked() {
        let p = try_plan(&["-t1", "-c1", "http://user:pw@127.0.0.1:1/auth"]).unwrap();
        let req = String::from_utf8(p.targets[0].request.clone()).unwrap();
        assert!(
            req.contains("Authorization: Basic dXNlcjpwdw==\r\n"),
            "{req}"
        );
        assert_eq!(p.targets[0].url, "http://user:***@127.0.0.1:1/auth");
        assert!(!p.command_line.contains("pw@"), "{}", p.command_line);
        assert!(!format!("{:?}", p.load).contains(":pw@"));
        // -H Authorization wins over the URL's.
        let p = try_plan(&[
            "-t1",
            "-c1",
            "-H",
            "Authorization: Bearer t",
            "http://user:pw@127.0.0.1:1/",
        ])
        .unwrap();
        let req = String::from_utf8(p.targets[0].request.clone()).unwrap();
        assert_eq!(req.matches("Authorization").count(), 1, "{req}");
        assert!(req.contains("Authorization: Bearer t\r\n"));
        assert!(!p.command_line.contains("Bearer t"), "{}", p.command_line);
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

    #[test]
    fn loads_from_files_are_range_checked() {
        let mut load = crate::distributed::tests::load();
        assert!(check_load(&load).is_ok());
        for change in [
            |l: &mut Load| l.connections = 0,
            |l: &mut Load| l.pipeline = 5000,
            |l: &mut Load| l.duration = Some(Duration::ZERO),
            |l: &mut Load| l.timeout = Duration::from_micros(500),
            |l: &mut Load| l.rate = Some(f64::INFINITY),
            |l: &mut Load| l.requests = Some(0),
            |l: &mut Load| l.method = "G T".into(),
        ] {
            let mut l = load.clone();
            change(&mut l);
            let e = check_load(&l).unwrap_err().to_string();
            assert!(e.contains("out of range"), "{e}");
        }
        load.duration = None;
        assert!(check_load(&load).is_ok());
    }

    #[test]
    fn local_port_range_sizes() {
        assert_eq!(ports_in("32768\t60999\n"), Some(28232));
        assert_eq!(ports_in("1024 65535"), Some(64512));
        assert_eq!(ports_in("garbage"), None);
        assert_eq!(ports_in("5 4"), None);
    }

    #[test]
    fn a_scheme_with_one_slash_and_port_0_are_refused() {
        for (raw, why) in [
            ("https:/127.0.0.1:8443/", "two slashes"),
            ("http:/h/", "two slashes"),
            ("HTTPS:/h/", "two slashes"),
            ("https://127.0.0.1:0/", "port 0"),
            ("http://h:0/", "port 0"),
        ] {
            let e = parse_url(raw).unwrap_err().to_string();
            assert!(e.contains(why), "{raw}: {e}");
        }
        // A host and port without a scheme is still http.
        assert_eq!(parse_url("h:8080/x").unwrap().port, 8080);
    }

    #[test]
    fn credentials_become_basic_auth_and_are_masked() {
        let u = parse_url("http://us%40er:p%3Aw@127.0.0.1:8080/auth").unwrap();
        // base64("us@er:p:w")
        assert_eq!(u.basic_auth.as_deref(), Some("Basic dXNAZXI6cDp3"));
        assert_eq!(u.shown, "http://us%40er:***@127.0.0.1:8080/auth");
        assert!(parse_url("http://h/").unwrap().basic_auth.is_none());
        let u = parse_url("http://user@h/").unwrap();
        assert_eq!(u.basic_auth.as_deref(), Some("Basic dXNlcjo="));
        // A user alone may be a token: not shown either.
        assert_eq!(u.shown, "http://***@h/");
        let e = parse_url("ftp://u:secret@h/").unwrap_err().to_string();
        assert!(!e.contains("secret"), "{e}");
        let u = parse_url("https://u:secret@h/").unwrap();
        assert_eq!(u.shown, "https://u:***@h/");
    }

    #[test]
    fn https_defaults_to_443_and_names_the_port_only_when_it_differs() {
        for (raw, port, host_header, shown) in [
            (
                "https://example.test/a?b",
                443,
                "example.test",
                "https://example.test/a?b",
            ),
            (
                "https://example.test:443/",
                443,
                "example.test",
                "https://example.test/",
            ),
            (
                "HTTPS://Example.TEST:8443",
                8443,
                "example.test:8443",
                "https://example.test:8443/",
            ),
            ("https://[::1]/", 443, "[::1]", "https://[::1]/"),
            // The other scheme's default port is just a port.
            ("https://h:80/", 80, "h:80", "https://h:80/"),
            ("http://h:443/", 443, "h:443", "http://h:443/"),
            ("http://h/", 80, "h", "http://h/"),
        ] {
            let u = parse_url(raw).unwrap();
            assert_eq!(
                (u.port, u.host_header.as_str(), u.shown.as_str()),
                (port, host_header, shown),
                "{raw}"
            );
        }
        assert_eq!(parse_url("https://[::1]:8443/").unwrap().host, "::1");
        assert_eq!(parse_url("https://h/").unwrap().scheme, Scheme::Https);
        assert_eq!(parse_url("h:1/").unwrap().scheme, Scheme::Http);
        let e = parse_url("ws://h/").unwrap_err().to_string();
        assert!(e.contains("use http:// or https://"), "{e}");
    }

    #[test]
    fn an_https_plan_carries_the_client_and_the_server_name() {
        use rustls::pki_types::ServerName;
        // Nothing listens on port 1: the preflight finds no server, as an
        // http:// run would, and leaves the connect errors to the run.
        // An IP literal is an IP name (verified against the certificate's IP
        // addresses, and sent without SNI); a domain is a DNS name.
        for (url, host, ip) in [
            ("https://127.0.0.1:1/", "127.0.0.1", true),
            ("https://localhost:1/", "localhost", false),
            ("https://[::1]:1/", "::1", true),
        ] {
            let p = try_plan(&["-t1", "-c1", "-k", url]).unwrap();
            let tls = p.tls.as_ref().expect("an https plan has a TLS client");
            assert_eq!(tls.name, ServerName::try_from(host).unwrap(), "{url}");
            assert_eq!(matches!(tls.name, ServerName::IpAddress(_)), ip, "{url}");
            assert_eq!(tls.config.alpn_protocols, vec![b"http/1.1".to_vec()]);
            assert!(p.handshake.is_none());
            assert!(p.warnings.is_empty(), "{:?}", p.warnings);
            let req = String::from_utf8(p.targets[0].request.clone()).unwrap();
            assert!(
                req.contains(&format!("\r\nHost: {}\r\n", &url[8..url.len() - 1])),
                "{req}"
            );
            assert!(p.load.tls.insecure);
        }
        let p = try_plan(&["-t1", "-c1", "http://127.0.0.1:1/"]).unwrap();
        assert!(p.tls.is_none());
    }

    #[test]
    fn certificate_flags_with_an_http_url_warn_that_they_are_ignored() {
        let p = try_plan(&[
            "-t1",
            "-c1",
            "--cacert",
            "/nonexistent/ca.pem",
            "--tls-resume",
            "off",
            "http://127.0.0.1:1/",
        ])
        .unwrap();
        assert!(p.tls.is_none());
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        let w = &p.warnings[0];
        assert!(
            w.contains("--cacert /nonexistent/ca.pem --tls-resume off"),
            "{w}"
        );
        assert!(
            w.contains("https:// URLs only") && w.contains("http://127.0.0.1:1/"),
            "{w}"
        );
        assert!(!w.contains('\n'));
    }

    #[test]
    fn certificate_files_that_cannot_be_used_are_bad_usage_naming_the_flag() {
        let dir = std::env::temp_dir().join(format!("ceiling-build-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "not pem\n").unwrap();
        let junk = junk.to_str().unwrap();
        for (args, needles) in [
            (
                &["--cacert", "/nonexistent/ca.pem"][..],
                &["--cacert", "/nonexistent/ca.pem"][..],
            ),
            (&["--cacert", junk], &["--cacert", "no PEM certificate"]),
            (&["--cert", junk, "--key", junk], &["--cert", "junk.pem"]),
            (
                &["--cert", "/nonexistent/c.pem", "--key", junk],
                &["--cert", "/nonexistent/c.pem"],
            ),
        ] {
            let mut all = vec!["-t1", "-c1"];
            all.extend_from_slice(args);
            all.push("https://127.0.0.1:1/");
            let e = try_plan(&all).expect_err(&format!("{args:?}"));
            assert!(
                matches!(e, UsageError::Build(BuildError::ClientTls(_))),
                "{args:?}: {e:?}"
            );
            let line = e.to_string();
            for n in needles {
                assert!(line.contains(n), "{args:?}: {line}");
            }
            assert!(!line.contains('\n'));
        }
        // clap pairs --cert and --key, and refuses -k with --cacert.
        for args in [
            &["--cert", junk][..],
            &["--key", junk],
            &["-k", "--cacert", junk],
        ] {
            let mut all = vec!["-t1", "-c1"];
            all.extend_from_slice(args);
            all.push("https://127.0.0.1:1/");
            let e = try_plan(&all).expect_err(&format!("{args:?}"));
            assert!(matches!(e, UsageError::Args(_)), "{args:?}: {e:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn one_run_speaks_one_scheme() {
        let dir = std::env::temp_dir().join(format!("ceiling-build-mixed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("urls.txt");
        for (lines, ok) in [
            ("https://127.0.0.1:1/a\nhttps://127.0.0.1:1/b\n", true),
            ("https://127.0.0.1:1/a\nhttp://127.0.0.1:1/b\n", false),
            ("http://127.0.0.1:443/a\nhttps://127.0.0.1/b\n", false),
            ("https://127.0.0.1/a\nhttps://127.0.0.1:443/b\n", true),
        ] {
            std::fs::write(&file, lines).unwrap();
            let r = try_plan(&["-t1", "-c1", "-k", "--urls-file", file.to_str().unwrap()]);
            match r {
                Ok(p) => {
                    assert!(ok, "{lines:?} ran");
                    assert_eq!(p.targets.len(), 2);
                    assert_eq!(p.addr.port(), if lines.contains(":1/") { 1 } else { 443 });
                }
                Err(e) => {
                    assert!(!ok, "{lines:?}: {e}");
                    let line = e.to_string();
                    assert!(line.contains("same scheme, host and port"), "{line}");
                    assert!(
                        line.contains("http://127.0.0.1") && line.contains("https://127.0.0.1"),
                        "{line}"
                    );
                }
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_described_https_plan_reads_no_certificate_file() {
        let mut load = crate::distributed::tests::load();
        load.urls = vec!["https://127.0.0.1:1/".into()];
        load.tls.cacert = Some("/nonexistent/on/this/machine.pem".into());
        let describe = |load: &Load| {
            build(
                load,
                &Machine::default(),
                &Outputs::default(),
                Share::WHOLE,
                Mode::Describe,
                "",
            )
        };
        let p = describe(&load).unwrap();
        assert!(p.tls.is_none() && p.handshake.is_none());
        // A lone --cert in a plan file is refused without reading it.
        load.tls.cert = Some("/nonexistent/c.pem".into());
        let e = describe(&load).unwrap_err();
        assert!(
            matches!(e, BuildError::ClientTls(crate::tls::ClientTlsError::Pair)),
            "{e}"
        );
    }

    #[test]
    fn a_campaign_step_records_the_certificate_flags() {
        let mut load = crate::distributed::tests::load();
        load.urls = vec!["https://127.0.0.1:1/".into()];
        load.tls = crate::tls::ClientTlsOptions {
            insecure: true,
            cert: Some("c.pem".into()),
            key: Some("k.pem".into()),
            resume: false,
            ..Default::default()
        };
        let line = command_line(&load, &Machine::default());
        assert!(
            line.contains("-k --cert c.pem --key k.pem --tls-resume off"),
            "{line}"
        );
    }

    #[test]
    fn only_the_preflight_is_not_bad_usage() {
        let e = BuildError::Preflight(crate::tls::PreflightError::PlainHttp {
            addr: "127.0.0.1:1".parse().unwrap(),
        });
        assert!(!e.is_usage());
        assert!(BuildError::NoUrl.is_usage());
        let cli: crate::CliError = UsageError::from(e).into();
        assert!(matches!(
            cli,
            crate::CliError::Failed(crate::Failed::Preflight(_))
        ));
    }
}
