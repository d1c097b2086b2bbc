//! `ceiling serve`: the ceiling server. One pinned worker per CPU, each with its
//! own SO_REUSEPORT listener and monoio runtime, answering from pre-formatted
//! responses; see docs/server.md for the flags, routes and why it is built so.

mod conn;
mod listener;
mod options;
mod routes;
mod shutdown;
mod stats;
mod tls;
mod transport;
mod worker;

use clap::Parser;
use options::{Config, Options};
use shared::runtime::{choose_engine, format_cpu_list, join_all, spawn_workers, IoEngine, Stop};
use stats::StatsTable;
use std::ffi::OsString;
use std::io::Write as _;
use std::os::fd::{FromRawFd, IntoRawFd, RawFd};
use std::rc::Rc;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Why `ceiling serve` did not serve and stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// clap's line: an unknown flag, a missing or refused value.
    #[error("{0} (see ceiling serve --help)")]
    Args(String),
    #[error(transparent)]
    Config(#[from] options::ConfigError),
    /// Another socket holds the port (SO_REUSEPORT would let both listen and the
    /// kernel split the connections between them).
    #[error("{addr} is already in use (another server listens there, and SO_REUSEPORT would quietly split the connections with it): stop it, pick another --bind, or give --share-port to share on purpose")]
    PortInUse { addr: std::net::SocketAddr },
    #[error("could not listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    /// The server could not run or write its summary.
    #[error("{0}")]
    Run(String),
}

impl ServeError {
    /// Bad usage, found before a connection was accepted.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            ServeError::Args(_) | ServeError::Config(_) | ServeError::PortInUse { .. }
        )
    }
}

/// Runs `ceiling serve ARGS` (args[0] is "serve") until a signal; Ok: served
/// and stopped cleanly (`--help` printed counts too).
pub fn main(args: &[OsString]) -> Result<(), ServeError> {
    let opts = match Options::try_parse_from(args) {
        Ok(o) => o,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return Ok(());
            }
            return Err(ServeError::Args(first_line(&e.to_string())));
        }
    };
    run(opts.validate()?)
}

/// clap's first line without its `error: ` prefix.
fn first_line(msg: &str) -> String {
    let line = msg.lines().next().unwrap_or(msg);
    line.strip_prefix("error: ").unwrap_or(line).to_string()
}

/// Raises the soft open-files limit to the hard one: every connection is a
/// descriptor, and the common soft default of 1024 would cap the server far
/// below --max-conns-per-worker. Failing to raise it is not fatal.
fn raise_nofile_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn run(cfg: Config) -> Result<(), ServeError> {
    raise_nofile_limit();
    let engine = choose_engine(cfg.io_engine).map_err(|e| ServeError::Run(e.to_string()))?;
    // A port someone else listens on is refused, unless sharing is asked for:
    // SO_REUSEPORT would let this server join it silently.
    let mut bind = cfg.bind;
    if !cfg.share_port {
        bind = listener::exclusive(cfg.bind).map_err(|source| {
            if source.kind() == std::io::ErrorKind::AddrInUse {
                ServeError::PortInUse { addr: cfg.bind }
            } else {
                ServeError::Listen {
                    addr: cfg.bind,
                    source,
                }
            }
        })?;
    }
    let (listeners, addr) =
        listener::bind_all(bind, cfg.cpus.len(), cfg.backlog).map_err(|source| {
            if source.kind() == std::io::ErrorKind::AddrInUse && !cfg.share_port {
                ServeError::PortInUse { addr: bind }
            } else {
                ServeError::Listen { addr: bind, source }
            }
        })?;
    let stop = Stop::new();
    let (wake_tx, wake_rx) = mpsc::channel();
    shutdown::install(stop.clone(), wake_tx.clone()).map_err(ServeError::Run)?;

    let cfg = Arc::new(cfg);
    let stats = Arc::new(StatsTable::new(&cfg.cpus));
    // Raw fds are Copy and Send; each worker takes ownership of its own one.
    let fds: Arc<Vec<RawFd>> =
        Arc::new(listeners.into_iter().map(IntoRawFd::into_raw_fd).collect());
    let (ready_tx, ready_rx) = mpsc::channel::<usize>();
    let started = Instant::now();
    let handles = {
        let (shared_cfg, shared_stats, shared_stop) = (cfg.clone(), stats.clone(), stop.clone());
        spawn_workers("ceiling-serve", &cfg.cpus, &engine, move |ctx| {
            let (cfg, stats, stop, fds) = (
                shared_cfg.clone(),
                shared_stats.clone(),
                shared_stop.clone(),
                fds.clone(),
            );
            let ready = ready_tx.clone();
            let wake = wake_tx.clone();
            async move {
                let index = ctx.index;
                // The fd was made for this worker alone and is taken exactly once.
                let listener = unsafe { std::net::TcpListener::from_raw_fd(fds[index]) };
                let w = Rc::new(worker::Worker::new(index, cfg, stats));
                let _ = ready.send(index);
                worker::run(w, listener, stop).await;
                // A worker ending on its own (not by a stop) wakes the main thread.
                let _ = wake.send(());
            }
        })
        .map_err(|e| ServeError::Run(e.to_string()))?
    };

    // Wait until every runtime is up, so the startup line means "serving".
    let mut ready = 0;
    while ready < handles.len() {
        match ready_rx.recv_timeout(Duration::from_millis(50)) {
            Ok(_) => ready += 1,
            Err(_) if handles.iter().any(|h| h.is_finished()) => {
                stop.trigger();
                let errs: Vec<String> = join_all(handles)
                    .into_iter()
                    .filter_map(|r| r.err().map(|e| e.to_string()))
                    .collect();
                return Err(ServeError::Run(errs.join("; ")));
            }
            Err(_) => {}
        }
    }
    let engine_name = match engine.ring_flags {
        Some(flags) if engine.engine == IoEngine::Uring => format!("io_uring {}", flags.name()),
        _ => "epoll".to_string(),
    };
    let mut out = std::io::stdout().lock();
    let (scheme, cert) = match &cfg.tls {
        None => ("http", String::new()),
        Some(t) => ("https", t.startup_note()),
    };
    let _ = writeln!(
        out,
        "ceiling serve: listening on {scheme}://{addr} ({} {} on CPUs {}, {engine_name}){cert}",
        cfg.cpus.len(),
        if cfg.cpus.len() == 1 {
            "worker"
        } else {
            "workers"
        },
        format_cpu_list(&cfg.cpus)
    );
    if engine.fell_back() {
        let _ = writeln!(out, "ceiling serve: {}", engine.describe());
    }
    let _ = out.flush();
    drop(out);

    // Serve until a signal (or a worker ending by itself).
    let _ = wake_rx.recv();
    stop.trigger();
    // Drain: workers stop accepting and finish in-flight responses, bounded by
    // --grace; whatever is still running then is abandoned when we return.
    let deadline = Instant::now() + cfg.grace;
    while Instant::now() < deadline && !handles.iter().all(|h| h.is_finished()) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let summary = shutdown::Summary::new(
        addr.to_string(),
        engine,
        started.elapsed(),
        stats.snapshot(),
    );
    shared::show!("{}\n", summary.line());
    let _ = std::io::stdout().flush();
    if let Some(path) = &cfg.json {
        let text =
            serde_json::to_string_pretty(&summary).map_err(|e| ServeError::Run(e.to_string()))?;
        std::fs::write(path, text + "\n")
            .map_err(|e| ServeError::Run(format!("could not write {}: {e}", path.display())))?;
    }
    Ok(())
}
