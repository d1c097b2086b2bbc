//! `ceiling serve` flags (clap) and their validation into a [`Config`]. Any bad
//! input stops here with one line and exit code 2, before a socket is opened.

use clap::Parser;
use shared::runtime::{resolve_cpus, CpuListError, IoEngine};
use shared::wire::server_request::{Limits, MAX_HEAD};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// Largest `/bytes/{n}` and `--max-body` accepted.
pub const ONE_GIB: u64 = 1 << 30;
/// The longest --header-timeout and --idle-timeout: a week.
const MAX_TIMEOUT: Duration = Duration::from_secs(7 * 86_400);
/// The longest --grace: an hour.
const MAX_GRACE: Duration = Duration::from_secs(3600);

/// Options that cannot make a server: bad usage, nothing opened (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid --bind {0:?}: expected HOST:PORT such as 127.0.0.1:8080")]
    Bind(String),
    #[error("--cpus: {0}")]
    Cpus(#[from] CpuListError),
    /// A TLS flag that cannot make a certificate or configuration.
    #[error(transparent)]
    Tls(#[from] crate::tls::SetupError),
    /// The --json file cannot be created: found before serving, not at the stop.
    #[error("cannot write --json {path}: {reason}")]
    Output { path: String, reason: String },
}

/// A flag's value its parser refused (clap names the flag and the value).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ValueError {
    #[error("not a duration (examples: 10s, 500ms, 1m)")]
    Duration,
    #[error("must be at least {0}")]
    TooSmall(String),
    #[error("must be at most {0}")]
    TooLarge(String),
    #[error("not a size: expected e.g. 1048576, 64KiB or 1MiB")]
    Size,
    #[error("unknown size unit: use k, KiB, M, MiB, G or GiB")]
    Unit,
    #[error("not a whole number")]
    Count,
}

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
    /// I/O engine: auto (io_uring, else epoll), uring, monoio (the same as uring: the server's
    /// io_uring is monoio's driver) or epoll.
    #[arg(long, value_name = "ENGINE", default_value = "auto")]
    pub io_engine: IoEngine,
    /// Listen backlog per worker socket, 1 to 2147483647 (default: /proc/sys/net/core/somaxconn).
    #[arg(long, value_name = "N", value_parser = backlog_value, allow_hyphen_values = true)]
    pub backlog: Option<u32>,
    /// Largest request body in bytes (suffixes k, KiB, M, MiB...), at most 1 GiB; larger gets 413.
    #[arg(long, value_name = "BYTES", default_value = "1MiB", value_parser = max_body_value, allow_hyphen_values = true)]
    pub max_body: u64,
    /// A request head not complete within this is closed (slowloris); 1ms to 7 days.
    #[arg(long, value_name = "DUR", default_value = "10s", value_parser = timeout_value, allow_hyphen_values = true)]
    pub header_timeout: Duration,
    /// A connection silent this long between requests (or inside a body) is closed; 1ms to 7 days.
    #[arg(long, value_name = "DUR", default_value = "60s", value_parser = timeout_value, allow_hyphen_values = true)]
    pub idle_timeout: Duration,
    /// Connections per worker, 1 to 10000000; more are accepted and closed at once (counted as rejected).
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = conns_value, allow_hyphen_values = true)]
    pub max_conns_per_worker: usize,
    /// On SIGINT/SIGTERM, how long in-flight responses may take to finish; 0 to 1h.
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = grace_value, allow_hyphen_values = true)]
    pub grace: Duration,
    /// Join a port other listeners already hold with SO_REUSEPORT, on purpose: the
    /// kernel then splits new connections between them. Without it a port in use
    /// by anything is refused.
    #[arg(long)]
    pub share_port: bool,
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
    /// Join listeners already on the port (`--share-port`).
    pub share_port: bool,
}

impl Options {
    /// Checks the options and resolves addresses and CPUs (each value was
    /// range-checked by its parser).
    pub fn validate(self) -> Result<Config, ConfigError> {
        let bind = self
            .bind
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| ConfigError::Bind(self.bind.clone()))?;
        let cpus = resolve_cpus(self.cpus.as_deref())?;
        // Created now (as the generator's outputs are), so a path that cannot be
        // written is bad usage before a socket is opened, not a failure at the stop.
        if let Some(path) = &self.json {
            std::fs::File::create(path).map_err(|e| ConfigError::Output {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
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
            share_port: self.share_port,
        })
    }
}

fn duration_in(s: &str, min: Duration, max: Duration) -> Result<Duration, ValueError> {
    let d = humantime::parse_duration(s.trim()).map_err(|e| match e {
        humantime::DurationError::NumberOverflow => {
            ValueError::TooLarge(humantime::format_duration(max).to_string())
        }
        _ => ValueError::Duration,
    })?;
    if d < min {
        return Err(ValueError::TooSmall(
            humantime::format_duration(min).to_string(),
        ));
    }
    if d > max {
        return Err(ValueError::TooLarge(
            humantime::format_duration(max).to_string(),
        ));
    }
    Ok(d)
}

fn timeout_value(s: &str) -> Result<Duration, ValueError> {
    duration_in(s, Duration::from_millis(1), MAX_TIMEOUT)
}

fn grace_value(s: &str) -> Result<Duration, ValueError> {
    duration_in(s, Duration::ZERO, MAX_GRACE)
}

fn count_in(s: &str, min: u64, max: u64) -> Result<u64, ValueError> {
    let n: u64 = s.trim().parse().map_err(|_| {
        if s.trim().starts_with('-') {
            ValueError::TooSmall(min.to_string())
        } else {
            ValueError::Count
        }
    })?;
    if n < min {
        return Err(ValueError::TooSmall(min.to_string()));
    }
    if n > max {
        return Err(ValueError::TooLarge(max.to_string()));
    }
    Ok(n)
}

fn backlog_value(s: &str) -> Result<u32, ValueError> {
    count_in(s, 1, i32::MAX as u64).map(|n| n as u32)
}

fn conns_value(s: &str) -> Result<usize, ValueError> {
    count_in(s, 1, 10_000_000).map(|n| n as usize)
}

fn max_body_value(s: &str) -> Result<u64, ValueError> {
    let n = parse_bytes(s)?;
    if n > ONE_GIB {
        return Err(ValueError::TooLarge("1GiB".into()));
    }
    Ok(n)
}

/// Bytes with an optional unit: `1048576`, `64k`, `64KiB`, `1M`, `1MiB`, `1G`.
/// Decimal and binary units both mean powers of 1024: a limit, not a rate.
pub fn parse_bytes(s: &str) -> Result<u64, ValueError> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| ValueError::Size)?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(ValueError::Unit),
    };
    n.checked_mul(mult)
        .ok_or_else(|| ValueError::TooLarge("1GiB".into()))
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
            .map_err(|e| e.to_string())
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

    /// The help of --io-engine names every engine the flag accepts, and no other.
    #[test]
    fn io_engine_help_names_what_is_accepted() {
        use clap::CommandFactory;
        let help = Options::command().render_long_help().to_string();
        let from = help.find("--io-engine").unwrap();
        let line = &help[from..help[from..].find("--backlog").unwrap() + from];
        for engine in ["auto", "uring", "monoio", "epoll"] {
            assert!(line.contains(engine), "{engine} missing from:\n{line}");
            assert!(parse(&["--io-engine", engine]).is_ok(), "{engine}");
        }
    }

    #[test]
    fn bad_input_is_refused() {
        assert!(parse(&["--bind", "nonsense"]).is_err());
        assert!(parse(&["--io-engine", "kqueue"]).is_err());
        assert!(parse(&["--max-body", "2GiB"]).is_err());
        assert!(parse(&["--idle-timeout", "0s"]).is_err());
        assert!(parse(&["--max-conns-per-worker", "0"]).is_err());
        assert!(parse(&["--cpus", "100000"]).is_err());
        let e = parse(&["--json", "/nonexistent/x.json"]).unwrap_err();
        assert!(e.contains("cannot write --json /nonexistent/x.json"), "{e}");
        for (flag, value) in [
            ("--grace", "1e20s"),
            ("--grace", "99999999999999999999s"),
            ("--grace", "2h"),
            ("--header-timeout", "0s"),
            ("--idle-timeout", "30days"),
            ("--backlog", "0"),
            ("--backlog", "-1"),
            ("--backlog", "4294967296"),
            ("--max-conns-per-worker", "99999999999"),
            ("--max-body", "99999999999999999999"),
            ("--max-body", "18446744073709551615G"),
        ] {
            assert!(parse(&[flag, value]).is_err(), "{flag} {value}");
        }
    }

    mod every_flag {
        use super::*;
        use clap::{ArgAction, CommandFactory};
        use proptest::prelude::*;

        const EXTREMES: [&str; 16] = [
            "0",
            "-1",
            "1e20",
            "1e20s",
            "NaN",
            "inf",
            "-5s",
            "",
            "18446744073709551616",
            "99999999999999999999s",
            "4294967296",
            "2147483648",
            "1ns",
            "584942417355y",
            "18446744073709551615G",
            "1GiB",
        ];

        /// A value for `arg`: --bind only on loopback (no name lookups), files
        /// only in the temp directory, anything else random or extreme.
        fn value_for(arg: &clap::Arg) -> BoxedStrategy<String> {
            match arg.get_id().as_str() {
                "bind" => prop_oneof![
                    Just("127.0.0.1:0".to_string()),
                    Just("[::1]:0".to_string()),
                    Just("127.0.0.1:99999".to_string()),
                    Just("nonsense".to_string()),
                ]
                .boxed(),
                "json" => Just(std::env::temp_dir().join("ceiling-serve-flags.json"))
                    .prop_map(|p| p.to_string_lossy().into_owned())
                    .boxed(),
                _ => prop_oneof![
                    proptest::sample::select(&EXTREMES[..]).prop_map(String::from),
                    "\\PC{0,12}",
                    any::<u64>().prop_map(|n| n.to_string()),
                    any::<f64>().prop_map(|f| f.to_string()),
                ]
                .boxed(),
            }
        }

        fn flags() -> BoxedStrategy<Vec<String>> {
            let args: Vec<clap::Arg> = Options::command()
                .get_arguments()
                .filter(|a| !matches!(a.get_action(), ArgAction::Help | ArgAction::Version))
                .cloned()
                .collect();
            let one = proptest::sample::select(args).prop_flat_map(|arg| {
                let flag = format!("--{}", arg.get_long().expect("every serve flag is long"));
                if arg.get_action().takes_values() {
                    value_for(&arg)
                        .prop_map(move |v| vec![flag.clone(), v])
                        .boxed()
                } else {
                    Just(vec![flag]).boxed()
                }
            });
            proptest::collection::vec(one, 1..=4)
                .prop_map(|v| v.into_iter().flatten().collect())
                .boxed()
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

            /// Every flag with random and extreme values: a config or one
            /// refusal, never a panic (nothing is bound: validation only).
            #[test]
            fn no_value_panics(flags in flags()) {
                let argv = std::iter::once("serve".to_string()).chain(flags.iter().cloned());
                if let Ok(o) = Options::try_parse_from(argv) {
                    if let Ok(c) = o.validate() {
                        // What the server adds to these at run time stays in range.
                        let _ = std::time::Instant::now() + c.grace + c.idle_timeout + c.header_timeout;
                        prop_assert!(c.max_conns_per_worker >= 1 && c.backlog >= 1);
                    }
                }
            }
        }
    }
}
