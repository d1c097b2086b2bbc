//! Spawning the real binary and waiting on readiness (a printed address), never on sleeps.

#![allow(dead_code)]

pub mod forking;
pub mod misbehave;
pub mod stall;
pub mod tls_peer;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Serialises the tests whose figures depend on having the machine's CPUs (rate
/// accuracy, latency truth, campaigns that start their own servers): on a 2-CPU
/// runner two of them at once would measure each other. Hold the guard for the test.
pub fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    // A failed test poisons the lock; the next one may still run.
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a bounded `ceiling` run printed and how it ended.
pub struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `ceiling ARGS` to its end; past `watchdog` the child is killed (by its PID,
/// through `Child`) and the test fails. Output is drained while it runs, so a
/// chatty child never blocks on a full pipe.
pub fn run_ceiling(args: &[&str], watchdog: Duration) -> Finished {
    use std::io::Read;
    let mut child = Command::new(ceiling_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ceiling");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > watchdog {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ceiling {args:?} ran past {watchdog:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Finished {
        code: status.code(),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Path of the `ceiling` binary built for these tests.
pub fn ceiling_bin() -> &'static str {
    env!("CARGO_BIN_EXE_ceiling")
}

/// A `ceiling serve` child process, killed on drop.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    /// Lines the server printed on stdout after the address line.
    pub stdout: mpsc::Receiver<String>,
}

impl Server {
    /// `http://ADDR` without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[allow(clippy::zombie_processes)] // `Server`'s Drop kills and waits; a panic here kills the test.
/// Starts `ceiling serve --bind 127.0.0.1:0 <extra>` and waits (at most 20 s) for the
/// line `listening on http://ADDR` (`https://` with `--tls`) on its stdout.
pub fn start_server(extra: &[&str]) -> Server {
    start_server_on("127.0.0.1:0", extra)
}

#[allow(clippy::zombie_processes)] // as start_server
/// Starts `ceiling serve --bind BIND <extra>` and waits for its address line.
pub fn start_server_on(bind: &str, extra: &[&str]) -> Server {
    let mut child = Command::new(ceiling_bin())
        .arg("serve")
        .args(["--bind", bind])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn ceiling serve");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = rx
            .recv_timeout(left)
            .expect("ceiling serve did not print its address within 20 s");
        // `ceiling serve --tls` says https://; `addr` is the same either way.
        let rest = line.split("listening on http://").nth(1);
        if let Some(rest) = rest.or_else(|| line.split("listening on https://").nth(1)) {
            let addr = rest.split_whitespace().next().unwrap();
            return Server {
                child,
                addr: addr.parse().expect("printed address parses"),
                stdout: rx,
            };
        }
    }
}

/// The server's request count from `/__ceiling/stats` (which it does not count).
pub fn served(addr: SocketAddr) -> u64 {
    server_stats(addr)["requests"].as_u64().expect("requests")
}

/// The server's `/__ceiling/stats` document.
pub fn server_stats(addr: SocketAddr) -> serde_json::Value {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the server");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /__ceiling/stats HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let body = text.split_once("\r\n\r\n").expect("a response").1;
    serde_json::from_str(body).expect("stats JSON")
}
