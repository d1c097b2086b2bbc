//! `ceiling serve` flags (clap) and their validation into a [`Config`]. Any bad
//! input stops here with one line and exit code 2, before a socket is opened.

use clap::Parser;
use shared::runtime::{resolve_cpus, IoEngine};
use shared::wire::server_request::{Limits, MAX_HEAD};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// Largest `/bytes/{n}` and `--max-body` accepted.
pub const ONE_GIB: u64 = 1 << 30;

#[derive(Debug, Parser)]
#[command(
    name = "ceiling serve",
    bin_name = "ceiling serve",
    about = "The ceiling server: the most requests per second this machine's network path allows",
    disable_version_flag = true
)]
pub struct Options {
    /// Address to listen on (port 0 picks a free port; the startup line shows it).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// CPUs to run workers on, one worker per CPU, e.g. 0-3,6 (default: all allowed).
    #[arg(long, value_name = "LIST")]
    pub cpus: Option<String>,
    /// I/O engine: auto (io_uring, else epoll), uring or epoll.
    #[arg(long, value_name = "ENGINE", default_value = "auto")]
    pub io_engine: IoEngine,
    /// Listen backlog per worker socket (default: /proc/sys/net/core/somaxconn).
    #[arg(long, value_name = "N")]
    pub backlog: Option<u32>,
    /// Largest request body in bytes (suffixes k, KiB, M, MiB...); larger gets 413.
    #[arg(long, value_name = "BYTES", default_value = "1MiB", value_parser = parse_bytes)]
    pub max_body: u64,
    /// A request head not complete within this is closed (slowloris).
    #[arg(long, value_name = "DUR", default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,
    /// A connection silent this long between requests (or inside a body) is closed.
    #[arg(long, value_name = "DUR", default_value = "60s", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// Connections per worker; more are accepted and closed at once (counted as rejected).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_conns_per_worker: usize,
    /// On SIGINT/SIGTERM, how long in-flight responses may take to finish.
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = parse_duration)]
    pub grace: Duration,
    /// Write the shutdown summary as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub tls: crate::tls::TlsOptions,
}

/// Everything the workers need, decided before they start.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub cpus: Vec<usize>,
    pub io_engine: IoEngine,
    pub backlog: u32,
    pub limits: Limits,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_conns_per_worker: usize,
    /// HTTPS (`--tls`): the rustls configuration and certificate fingerprint.
    pub tls: Option<crate::tls::Setup>,
    pub grace: Duration,
    pub json: Option<PathBuf>,
}

impl Options {
    /// Checks the options and resolves addresses and CPUs.
    pub fn validate(self) -> Result<Config, String> {
        let bind = self
            .bind
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| {
                format!(
                    "invalid --bind {:?}: expected HOST:PORT such as 127.0.0.1:8080",
                    self.bind
                )
            })?;
        let cpus = resolve_cpus(self.cpus.as_deref()).map_err(|e| format!("--cpus: {e}"))?;
        if self.max_body > ONE_GIB {
            return Err(format!(
                "--max-body {} is over the 1 GiB limit",
                self.max_body
            ));
        }
        if self.max_conns_per_worker == 0 {
            return Err("--max-conns-per-worker must be at least 1".into());
        }
        for (name, d) in [
            ("--header-timeout", self.header_timeout),
            ("--idle-timeout", self.idle_timeout),
        ] {
            if d.is_zero() {
                return Err(format!("{name} must be more than 0"));
            }
        }
        if self.backlog == Some(0) {
            return Err("--backlog must be at least 1".into());
        }
        Ok(Config {
            bind,
            cpus,
            io_engine: self.io_engine,
            backlog: self.backlog.unwrap_or_else(crate::listener::somaxconn),
            limits: Limits {
                max_head: MAX_HEAD,
                max_body: self.max_body,
            },
            header_timeout: self.header_timeout,
            idle_timeout: self.idle_timeout,
            max_conns_per_worker: self.max_conns_per_worker,
            tls: self.tls.setup()?,
            grace: self.grace,
            json: self.json,
        })
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 10s, 500ms, 1m)"))
}

/// Bytes with an optional unit: `1048576`, `64k`, `64KiB`, `1M`, `1MiB`, `1G`.
/// Decimal and binary units both mean powers of 1024: a limit, not a rate.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid size {s:?}: expected e.g. 1048576, 64KiB or 1MiB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "invalid size unit in {s:?}: use k, KiB, M, MiB, G or GiB"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let mut v = vec!["serve"];
        v.extend_from_slice(args);
        Options::try_parse_from(v)
            .map_err(|e| e.to_string())?
            .validate()
    }

    #[test]
    fn defaults() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.bind, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.limits.max_body, 1 << 20);
        assert_eq!(c.header_timeout, Duration::from_secs(10));
        assert_eq!(c.idle_timeout, Duration::from_secs(60));
        assert_eq!(c.grace, Duration::from_secs(5));
        assert!(c.backlog > 0);
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_bytes("64KiB").unwrap(), 65536);
        assert_eq!(parse_bytes("2m").unwrap(), 2 << 20);
        assert_eq!(parse_bytes("100").unwrap(), 100);
        assert!(parse_bytes("1X").is_err());
        assert!(parse_bytes("").is_err());
        let c = parse(&["--header-timeout", "300ms", "--max-body", "10"]).unwrap();
        assert_eq!(c.header_timeout, Duration::from_millis(300));
        assert_eq!(c.limits.max_body, 10);
    }

    #[test]
    fn bad_input_is_refused() {
        assert!(parse(&["--bind", "nonsense"]).is_err());
        assert!(parse(&["--io-engine", "kqueue"]).is_err());
        assert!(parse(&["--max-body", "2GiB"]).is_err());
        assert!(parse(&["--idle-timeout", "0s"]).is_err());
        assert!(parse(&["--max-conns-per-worker", "0"]).is_err());
        assert!(parse(&["--cpus", "100000"]).is_err());
    }
}
