//! argv -> a validated [`Plan`]. Every mistake is caught here, with one clear line,
//! before any load is sent (the caller exits 2).

use crate::plan::{Arrivals, JsonOut, Pacing, Plan, Target};
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
    about = "HTTP/1.1 load generator with wrk's flags. Subcommands: `ceiling serve` (the ceiling server), `ceiling machine` (this machine's ceiling), `ceiling ramp`, `ceiling compare`, `ceiling matrix`, `ceiling tune`; each takes --help",
    after_help = "Exit codes: 0 the run happened; 1 it could not complete; 2 bad usage."
)]
struct Args {
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
    /// Target URL (http://host[:port][/path]); optional with --urls-file
    url: Option<String>,
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
    let a = match Args::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            use clap::error::ErrorKind::*;
            if matches!(e.kind(), DisplayHelp | DisplayVersion) {
                return Ok(Parsed::Info(e.render().to_string()));
            }
            let line = usage_line(&e);
            return Err(usage(format!("{line} (see --help)")));
        }
    };
    plan(a, command_line).map(|p| Parsed::Plan(Box::new(p)))
}

fn plan(a: Args, command_line: String) -> Result<Plan, UsageError> {
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
    if urls.is_empty() {
        return Err(usage(
            "no URL given: ceiling [OPTIONS] http://host[:port]/path",
        ));
    }

    let headers = a
        .headers
        .iter()
        .map(|h| parse_header(h))
        .collect::<Result<Vec<_>, _>>()?;
    let body = match (&a.body, &a.body_file) {
        (Some(b), _) => b.clone().into_bytes(),
        (None, Some(path)) => std::fs::read(path)
            .map_err(|e| usage(format!("cannot read --body-file {}: {e}", path.display())))?,
        (None, None) => Vec::new(),
    };

    let mut addr: Option<(SocketAddr, String)> = None;
    let mut targets = Vec::with_capacity(urls.len());
    for raw in &urls {
        let u = parse_url(raw)?;
        let origin = format!("{}:{}", u.host, u.port);
        match &addr {
            None => addr = Some((resolve(&u.host, u.port)?, origin)),
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
    let (addr, _) = addr.expect("at least one URL");

    if a.connections == 0 {
        return Err(usage("-c/--connections must be at least 1"));
    }
    // One descriptor per connection, plus the runtime's own (rings, timers, stdio).
    let open_files = raise_open_files();
    if a.connections as u64 + 64 > open_files {
        return Err(usage(format!(
            "-c {} needs more open files than this process may have ({open_files}): \
             raise `ulimit -n`, or split the connections over several processes",
            a.connections
        )));
    }
    // Every connection to one address:port takes a local port from this range.
    if let Some(ports) = local_ports() {
        if a.connections as u64 > ports {
            return Err(usage(format!(
                "-c {} needs more local ports than net.ipv4.ip_local_port_range gives ({ports}): \
                 widen it (sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\") or use fewer connections",
                a.connections
            )));
        }
    }
    if a.pipeline == 0 {
        return Err(usage("-p/--pipeline must be at least 1"));
    }
    if a.requests == Some(0) {
        return Err(usage("-n/--requests must be at least 1"));
    }
    let duration = match (&a.duration, a.requests) {
        (Some(d), _) => Some(parse_duration("-d/--duration", d)?),
        (None, Some(_)) => None,
        (None, None) => Some(Duration::from_secs(10)),
    };
    let timeout = parse_duration("--timeout", &a.timeout)?;

    let allowed = resolve_cpus(a.cpus.as_deref()).map_err(|e| usage(format!("--cpus: {e}")))?;
    let threads = match a.threads {
        Some(0) => return Err(usage("-t/--threads must be at least 1")),
        Some(t) => t,
        None => allowed.len().min(a.connections).max(1),
    };
    if a.connections < threads {
        return Err(usage(format!(
            "-c/--connections ({}) must be at least -t/--threads ({threads}): each thread needs a connection",
            a.connections
        )));
    }
    // More threads than CPUs share CPUs round-robin.
    let cpus = (0..threads).map(|i| allowed[i % allowed.len()]).collect();

    let engine: IoEngine = a.io_engine.parse().map_err(usage)?;
    let engine = choose_engine(engine).map_err(|e| usage(e.to_string()))?;

    let pacing = match a.rate {
        None => None,
        Some(r) if !(r.is_finite() && r > 0.0) => {
            return Err(usage(format!(
                "-R/--rate must be a positive number, not {r}"
            )))
        }
        Some(rate) => Some(Pacing {
            rate,
            arrivals: match a.arrivals.as_str() {
                "constant" => Arrivals::Constant,
                "poisson" => Arrivals::Poisson,
                other => {
                    return Err(usage(format!(
                        "--arrivals {other:?}: use constant or poisson"
                    )))
                }
            },
            seed: a.seed,
        }),
    };
    // Closed-loop io_uring runs get the direct loop when the kernel allows it.
    let engine = crate::direct::choose(engine, pacing.is_some());
    for path in [&a.hgrm, &a.hlog, &a.html].into_iter().flatten() {
        std::fs::File::create(path)
            .map_err(|e| usage(format!("cannot write {}: {e}", path.display())))?;
    }

    let json = match a.json.as_deref() {
        None => None,
        Some("-") => Some(JsonOut::Stdout),
        Some(path) => {
            let path = PathBuf::from(path);
            // Found out now, not after the run: create (and truncate) the file.
            std::fs::File::create(&path)
                .map_err(|e| usage(format!("cannot write --json {}: {e}", path.display())))?;
            Some(JsonOut::File(path))
        }
    };

    Ok(Plan {
        command_line,
        addr,
        targets,
        method,
        cpus,
        connections: a.connections,
        duration,
        requests: a.requests,
        pipeline: a.pipeline,
        timeout,
        engine,
        pacing,
        latency: a.latency,
        u_latency: a.u_latency,
        hgrm: a.hgrm,
        hlog: a.hlog,
        html: a.html,
        json,
        quiet: a.quiet,
    })
}

/// How many local ports outgoing connections may use, from
/// net.ipv4.ip_local_port_range (None when it cannot be read).
fn local_ports() -> Option<u64> {
    ports_in(&std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?)
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
fn parse_duration(flag: &str, text: &str) -> Result<Duration, UsageError> {
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
    fn more_threads_than_cpus_share_round_robin() {
        let p = try_plan(&["-t3", "-c3", "--cpus", "0", "http://127.0.0.1:1/"]).unwrap();
        assert_eq!(p.cpus, vec![0, 0, 0]);
    }
}
