//! The generator over TLS (issue 15): `https://` runs against `ceiling serve --tls`, against
//! TLS peers that misbehave on purpose (support::tls_peer), and against nginx where it is
//! installed. Every run is bounded in requests and time (a watchdog kills the child by PID),
//! must not panic, and must keep the accounting identity
//! `sent == completed + read + write + timeout + invalid + tls + in_flight_at_stop`
//! (`tls_handshake`, like `connect`, counts connections, not requests).
//!
//! What each failure is, by the issue and the generator's docs:
//! - the preflight handshake before any load turns an untrusted, expired or wrongly named
//!   certificate, plain HTTP on the port, or a port that never answers into one line on
//!   stderr and exit 1, nothing sent;
//! - a handshake that fails during the run is one `tls_handshake` error with its cause in
//!   `tls.failures` (plain HTTP named as the preflight names it); a stalled one ends at
//!   `--timeout`; under `-n` alone, handshakes failing for a whole `--timeout` give up and
//!   the run ends; a run in which no handshake ever completed exits 1 with a line, as one
//!   that could never connect does;
//! - the generator's own closes are clean for the server (no reset, no TLS error), including
//!   those of connections that carried no request;
//! - after the handshake, an undecryptable record or a close without close_notify while a
//!   response is outstanding loses the outstanding requests to `errors.tls`; a close without
//!   close_notify with nothing outstanding is no error; a body cut short after close_notify
//!   is a `read` error (the TLS layer ended cleanly, the HTTP message did not); a fatal alert
//!   is a `tls` error naming the alert.
//!
//! `CEILING_TEST_SHOW=1 cargo test --test integration tls_client -- --nocapture` prints every
//! run (command, exit, counters, tls, rate, output), passing or not.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::misbehave::Unaccepted;
use crate::support::tls_peer::{self, Mode, PeerOptions, TlsPeer};
use crate::support::{ceiling_bin, run_ceiling, Server};

/// Every generator run here is killed (by PID, via Child) and fails past this.
const WATCHDOG: Duration = Duration::from_secs(30);
/// `--timeout` of the runs against misbehaving peers.
const TIMEOUT: &str = "500ms";
/// Process start, runtime set-up, preflight and the JSON write, on a loaded 2-CPU machine.
const MARGIN: Duration = Duration::from_secs(3);

fn temp_path(what: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    std::env::temp_dir().join(format!(
        "ceiling-tls-client-{}-{}-{what}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ))
}

/// One finished generator run.
struct Run {
    cmd: String,
    code: Option<i32>,
    wall: Duration,
    stdout: String,
    stderr: String,
    json: Option<Value>,
    /// Whether the --json file exists after the run (empty or not).
    json_written: bool,
}

impl Run {
    fn json(&self) -> &Value {
        self.json
            .as_ref()
            .unwrap_or_else(|| panic!("no --json result\n{}", self.describe()))
    }

    /// A counter by its path under `counters`, e.g. `"errors.tls"`.
    fn n(&self, path: &str) -> u64 {
        path.split('.')
            .fold(&self.json()["counters"], |v, k| &v[k])
            .as_u64()
            .unwrap_or_else(|| panic!("counters.{path} missing\n{}", self.describe()))
    }

    /// A number by its path under `tls`, e.g. `"handshakes"`.
    fn t(&self, path: &str) -> u64 {
        path.split('.')
            .fold(&self.json()["tls"], |v, k| &v[k])
            .as_u64()
            .unwrap_or_else(|| panic!("tls.{path} missing\n{}", self.describe()))
    }

    /// `tls.failures` as (cause, count).
    fn failures(&self) -> Vec<(String, u64)> {
        self.json()["tls"]["failures"]
            .as_object()
            .unwrap_or_else(|| panic!("tls.failures missing\n{}", self.describe()))
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
            .collect()
    }

    /// How many failures have a cause containing any of `words` (case-insensitive).
    fn failures_about(&self, words: &[&str]) -> u64 {
        self.failures()
            .iter()
            .filter(|(cause, _)| {
                let c = cause.to_lowercase();
                words.iter().any(|w| c.contains(w))
            })
            .map(|(_, n)| n)
            .sum()
    }

    fn describe(&self) -> String {
        let pick = |k: &str| {
            self.json
                .as_ref()
                .map(|j| j[k].to_string())
                .unwrap_or_else(|| "(no JSON)".into())
        };
        format!(
            "command: {}\nexit: {:?}, wall: {:?}\ncounters: {}\ntls: {}\nrate: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmd,
            self.code,
            self.wall,
            pick("counters"),
            pick("tls"),
            pick("rate"),
            tail(&self.stdout),
            tail(&self.stderr)
        )
    }
}

fn tail(s: &str) -> &str {
    let cut = s.len().saturating_sub(4000);
    let cut = (cut..s.len())
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(s.len());
    &s[cut..]
}

/// Runs `ceiling --json FILE ARGS` under the watchdog; the JSON is read if written.
fn ceiling(args: &[&str]) -> Run {
    let path = temp_path("result.json");
    let path_s = path.display().to_string();
    let mut argv = vec!["--json", &path_s];
    argv.extend_from_slice(args);
    let start = Instant::now();
    let out = run_ceiling(&argv, WATCHDOG);
    let wall = start.elapsed();
    let json_written = path.exists();
    // An empty file is no result (and a test says whether one may be left behind).
    let json = std::fs::read_to_string(&path)
        .ok()
        .filter(|t| !t.is_empty())
        .map(|text| {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{argv:?}: --json output is not JSON ({e}):\n{text}"))
        });
    let _ = std::fs::remove_file(&path);
    let run = Run {
        cmd: format!("ceiling {}", argv.join(" ")),
        code: out.code,
        wall,
        stdout: out.stdout,
        stderr: out.stderr,
        json,
        json_written,
    };
    // CEILING_TEST_SHOW=1 (with --nocapture) shows every run, passing or not.
    if std::env::var_os("CEILING_TEST_SHOW").is_some() {
        eprintln!("{}\n", run.describe());
    }
    run
}

/// No panic, the exit code, a JSON result, the accounting identity with `tls` in it, and
/// completed == final responses.
fn assert_sane(run: &Run, code: i32) {
    let d = run.describe();
    assert!(
        !run.stderr.contains("panicked"),
        "the generator panicked\n{d}"
    );
    assert_eq!(run.code, Some(code), "exit code\n{d}");
    let accounted = run.n("completed")
        + run.n("errors.read")
        + run.n("errors.write")
        + run.n("errors.timeout")
        + run.n("errors.invalid")
        + run.n("errors.tls")
        + run.n("in_flight_at_stop");
    assert_eq!(
        run.n("sent"),
        accounted,
        "accounting identity: sent != completed + read + write + timeout + invalid + tls + in_flight_at_stop\n{d}"
    );
    let finals = [
        "success",
        "redirect",
        "client_error",
        "server_error",
        "other",
    ]
    .iter()
    .map(|c| run.n(&format!("status.{c}")))
    .sum::<u64>();
    assert_eq!(
        run.n("completed"),
        finals,
        "completed != final responses\n{d}"
    );
    assert!(
        run.json()["tls"].is_object(),
        "an https run reports its tls object\n{d}"
    );
}

/// Each named counter equals its value.
fn assert_counts(run: &Run, expected: &[(&str, u64)]) {
    for (path, want) in expected {
        assert_eq!(run.n(path), *want, "counters.{path}\n{}", run.describe());
    }
}

/// Every error class, connection-level ones included, is zero.
fn assert_no_errors(run: &Run) {
    assert_counts(
        run,
        &[
            ("errors.connect", 0),
            ("errors.read", 0),
            ("errors.write", 0),
            ("errors.timeout", 0),
            ("errors.invalid", 0),
            ("errors.tls", 0),
            ("errors.tls_handshake", 0),
        ],
    );
    assert!(
        run.failures().is_empty(),
        "no TLS failure causes expected\n{}",
        run.describe()
    );
}

/// What the handshakes agreed on, and the handshake figures' shape: one handshake latency
/// value per completed handshake, every handshake a connection the run opened.
fn assert_handshakes(run: &Run, version: &str) {
    let d = run.describe();
    let tls = &run.json()["tls"];
    let neg = &tls["negotiated"];
    assert_eq!(neg["version"], version, "tls.negotiated.version\n{d}");
    assert_eq!(neg["alpn"], "http/1.1", "tls.negotiated.alpn\n{d}");
    let suite = neg["cipher_suite"].as_str().unwrap_or_default();
    let want = if version == "TLSv1_3" {
        "TLS13_"
    } else {
        "TLS_ECDHE_"
    };
    assert!(
        suite.starts_with(want),
        "tls.negotiated.cipher_suite {suite:?}\n{d}"
    );
    assert!(neg["resumed"].is_boolean(), "tls.negotiated.resumed\n{d}");
    let handshakes = run.t("handshakes");
    assert!(handshakes > 0, "{d}");
    assert_eq!(
        handshakes,
        run.n("connects"),
        "every connection opened is one completed handshake\n{d}"
    );
    assert!(run.t("resumed") <= handshakes, "{d}");
    let hl = &tls["handshake_latency"];
    assert_eq!(hl["unit"], "us", "handshake_latency in µs\n{d}");
    assert_eq!(
        hl["count"].as_u64(),
        Some(handshakes),
        "one handshake time per handshake\n{d}"
    );
    assert!(hl["max"].as_u64().unwrap_or(0) > 0, "{d}");
    assert!(
        hl["percentiles"].as_array().is_some_and(|p| !p.is_empty()),
        "{d}"
    );
    assert!(
        tls["handshakes_per_sec"].as_f64().unwrap_or(0.0) > 0.0,
        "{d}"
    );
}

/// A `ceiling serve --tls` child (self-signed certificate), killed on drop.
struct TlsServe(Server);

impl TlsServe {
    fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.0.addr)
    }

    /// The server's `/__ceiling/stats`, read over TLS.
    fn stats(&self) -> Value {
        let body = tls_peer::get(self.0.addr, "/__ceiling/stats")
            .unwrap_or_else(|e| panic!("stats over TLS: {e}"));
        serde_json::from_slice(&body).expect("stats JSON")
    }

    /// Requests the server answered (it does not count its stats requests).
    fn served(&self) -> u64 {
        self.stats()["requests"].as_u64().expect("requests")
    }

    /// (requests answered, handshakes completed, TLS errors) from one stats read; the
    /// handshakes include the stats connection's own.
    fn figures(&self) -> (u64, u64, u64) {
        let v = self.stats();
        if std::env::var_os("CEILING_TEST_SHOW").is_some() {
            eprintln!("server stats: {v}");
        }
        let n = |x: &Value| x.as_u64().unwrap_or_else(|| panic!("stats: {v}"));
        (
            n(&v["requests"]),
            n(&v["tls_handshakes"]),
            n(&v["errors"]["tls"]),
        )
    }
}

/// The server's view of a run between two [`TlsServe::figures`] reads: it answered every
/// request the generator completed, saw no TLS error (the generator's closes are clean), and
/// completed no more handshakes than the generator's, the preflight's and the second stats
/// read's (no connection the generator did not report). Not fewer is not asserted: the
/// server counts a handshake once its last flight (TLS 1.3's tickets) is written, and the
/// preflight closes right after its Finished, so that write can fail (the server then counts
/// an I/O error); under `-p 16` it was seen 1 short of the run's own as well (see the report).
fn assert_server_agrees(run: &Run, before: (u64, u64, u64), after: (u64, u64, u64)) {
    let d = run.describe();
    assert_eq!(
        after.0 - before.0,
        run.n("completed"),
        "server requests\n{d}"
    );
    let server = after.1 - before.1;
    assert!(
        server <= run.t("handshakes") + 2,
        "server handshakes {server}: more than the run's, the preflight's and the stats read's\n{d}"
    );
    assert_eq!(after.2 - before.2, 0, "server TLS errors\n{d}");
}

#[allow(clippy::zombie_processes)] // `Server`'s Drop kills and waits; a panic here kills the test.
/// Starts `ceiling serve --tls --bind 127.0.0.1:0` and waits (at most 20 s) for its
/// `listening on https://ADDR` line.
fn serve_tls() -> TlsServe {
    serve_tls_on("127.0.0.1:0", &[])
}

#[allow(clippy::zombie_processes)] // as serve_tls
/// [`serve_tls`] on `bind`, with more flags.
fn serve_tls_on(bind: &str, extra: &[&str]) -> TlsServe {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(ceiling_bin())
        .args(["serve", "--tls", "--bind", bind])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn ceiling serve --tls");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ceiling serve --tls did not print its address within 20 s");
        };
        if let Some(rest) = line.split("listening on https://").nth(1) {
            let addr = rest.split_whitespace().next().unwrap();
            return TlsServe(Server {
                child,
                addr: addr.parse().expect("printed address parses"),
                stdout: rx,
            });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Exact counts against `ceiling serve --tls`.

fn exact_count_with(engine: &str, extra: &[&str]) {
    let server = serve_tls();
    let before = server.figures();
    let url = server.url("/plaintext");
    let mut args = vec![
        "-k",
        "-t",
        "2",
        "-c",
        "8",
        "-n",
        "1000",
        "--io-engine",
        engine,
    ];
    args.extend_from_slice(extra);
    args.push(&url);
    let run = ceiling(&args);
    assert_sane(&run, 0);
    assert_counts(
        &run,
        &[
            ("sent", 1000),
            ("completed", 1000),
            ("status.success", 1000),
            ("in_flight_at_stop", 0),
        ],
    );
    assert_no_errors(&run);
    assert_handshakes(&run, "TLSv1_3");
    // Kept alive: one connection (one handshake) each, none reopened.
    assert_eq!(run.n("connects"), 8, "{}", run.describe());
    assert_eq!(run.n("reconnects"), 0, "{}", run.describe());
    let cfg = &run.json()["config"]["tls"];
    assert_eq!(cfg["insecure"], true, "config.tls\n{}", run.describe());
    assert_eq!(
        cfg["resume"],
        true,
        "config.tls (--tls-resume defaults to on)\n{}",
        run.describe()
    );
    assert_server_agrees(&run, before, server.figures());
}

fn exact_count(engine: &str) {
    exact_count_with(engine, &[]);
}

fn exact_count_pipelined(engine: &str) {
    exact_count_with(engine, &["-p", "16"]);
}

/// More connections than requests (`-c 8 -n 16 -p 16`: a worker's first connection takes its
/// whole share, the others carry nothing): every connection still ends cleanly for the server.
/// A connection that closes right after its handshake with the server's last flight (TLS 1.3
/// session tickets) unread is reset by the kernel, and the server counts an I/O error and no
/// handshake for a handshake the generator counted; so the server must see no I/O error and
/// every one of the generator's handshakes (plus the preflight's and the stats read's).
fn connections_that_carry_nothing_close_cleanly(engine: &str) {
    let server = serve_tls();
    let url = server.url("/plaintext");
    let before = server.stats();
    let run = ceiling(&[
        "-k",
        "-t",
        "2",
        "-c",
        "8",
        "-n",
        "16",
        "-p",
        "16",
        "--io-engine",
        engine,
        &url,
    ]);
    let after = server.stats();
    let d = format!(
        "server before: {before}\nserver after: {after}\n{}",
        run.describe()
    );
    assert_sane(&run, 0);
    assert_counts(&run, &[("sent", 16), ("completed", 16)]);
    assert_no_errors(&run);
    let delta = |k: &str| {
        let get = |v: &Value| k.split('.').fold(v, |v, k| &v[k]).as_u64().unwrap_or(0);
        get(&after) - get(&before)
    };
    assert_eq!(delta("requests"), 16, "{d}");
    assert_eq!(
        delta("errors.io"),
        0,
        "server I/O errors: connections reset\n{d}"
    );
    assert_eq!(delta("errors.tls"), 0, "{d}");
    assert_eq!(
        delta("tls_handshakes"),
        run.t("handshakes") + 2,
        "server handshakes: the run's, the preflight's and the stats read's\n{d}"
    );
}

/// One request per connection: 200 handshakes. With resumption on, the reconnects resume
/// (at most the first wave of `-c` connections can be full, plus a few whose ticket had not
/// arrived; the session cache is the run's, shared by both workers); with it off, none does.
fn connection_close_handshakes(engine: &str) {
    let server = serve_tls();
    let url = server.url("/plaintext");
    for resume in ["on", "off"] {
        let before = server.figures();
        let run = ceiling(&[
            "-k",
            "-t",
            "2",
            "-c",
            "4",
            "-n",
            "200",
            "-H",
            "Connection: close",
            "--tls-resume",
            resume,
            "--io-engine",
            engine,
            &url,
        ]);
        let d = run.describe();
        assert_sane(&run, 0);
        assert_counts(
            &run,
            &[("sent", 200), ("completed", 200), ("in_flight_at_stop", 0)],
        );
        assert_no_errors(&run);
        assert_handshakes(&run, "TLSv1_3");
        assert_eq!(run.t("handshakes"), 200, "one handshake a request\n{d}");
        assert_eq!(run.n("connects"), 200, "{d}");
        assert_eq!(
            run.json()["tls"]["resume"],
            resume == "on",
            "tls.resume\n{d}"
        );
        assert_eq!(run.json()["config"]["tls"]["resume"], resume == "on", "{d}");
        if resume == "on" {
            assert!(
                run.t("resumed") >= 180,
                "--tls-resume on: most reconnects resume (>= 180 of 200)\n{d}"
            );
        } else {
            assert_eq!(run.t("resumed"), 0, "--tls-resume off: none resumes\n{d}");
        }
        assert_server_agrees(&run, before, server.figures());
    }
}

/// Bodies far larger than a TLS record (16 KiB) both ways: 1 MiB responses span many records
/// and receive buffers, 200 KB request bodies (`/echo`, pipelined by 2) many records and
/// partial writes; every byte counted, every response complete.
fn large_bodies_both_ways(engine: &str) {
    let server = serve_tls();
    let url = server.url("/bytes/1048576");
    let before = server.figures();
    let run = ceiling(&[
        "-k",
        "-t",
        "1",
        "-c",
        "4",
        "-n",
        "40",
        "--io-engine",
        engine,
        &url,
    ]);
    let d = run.describe();
    assert_sane(&run, 0);
    assert_counts(
        &run,
        &[("sent", 40), ("completed", 40), ("status.success", 40)],
    );
    assert_no_errors(&run);
    assert!(run.n("bytes_read") >= 40 * 1_048_576, "{d}");
    assert_server_agrees(&run, before, server.figures());

    let dir = TempDir::new();
    let body = dir.write("body", &"b".repeat(200_000));
    let url = server.url("/echo");
    let before = server.figures();
    let run = ceiling(&[
        "-k",
        "-t",
        "1",
        "-c",
        "2",
        "-p",
        "2",
        "-n",
        "20",
        "-m",
        "POST",
        "--body-file",
        &body,
        "--io-engine",
        engine,
        &url,
    ]);
    let d = run.describe();
    assert_sane(&run, 0);
    assert_counts(
        &run,
        &[("sent", 20), ("completed", 20), ("status.success", 20)],
    );
    assert_no_errors(&run);
    assert!(run.n("bytes_written") >= 20 * 200_000, "{d}");
    assert!(
        run.n("bytes_read") >= 20 * 200_000,
        "the bodies echoed back\n{d}"
    );
    assert_server_agrees(&run, before, server.figures());
}

/// A Lua script (`-s`) whose request() writes three requests at once, over TLS: the hooks
/// path through the TLS layer; each request one of the budget, each answered.
fn script_writing_three_requests_at_once(engine: &str) {
    let server = serve_tls();
    let dir = TempDir::new();
    let script = dir.write(
        "three.lua",
        "local batch\n\
         init = function(args)\n\
           batch = wrk.format(nil, \"/plaintext\") .. wrk.format(nil, \"/json\") .. wrk.format(nil, \"/\")\n\
         end\n\
         request = function() return batch end\n",
    );
    let url = server.url("/");
    let before = server.figures();
    let run = ceiling(&[
        "-k",
        "-t",
        "1",
        "-c",
        "2",
        "-n",
        "300",
        "-s",
        &script,
        "--io-engine",
        engine,
        &url,
    ]);
    assert_sane(&run, 0);
    assert_counts(
        &run,
        &[("sent", 300), ("completed", 300), ("status.success", 300)],
    );
    assert_no_errors(&run);
    assert_server_agrees(&run, before, server.figures());
}

// ---------------------------------------------------------------------------------------------
// Handshakes that fail during the run: the preflight's connection is served well, the load's
// are not.

/// The load's handshakes stall: each ends at `--timeout` as a `tls_handshake` error with a
/// timeout cause; under `-n` alone they give up after failing for a whole `--timeout`.
fn stalled_handshakes_time_out(engine: &str) {
    let mut o = PeerOptions::new(Mode::StallHandshake);
    o.good_first = 1;
    let peer = TlsPeer::start(o);
    let url = peer.url();
    let run = ceiling(&[
        "-k",
        "-t",
        "1",
        "-c",
        "2",
        "-n",
        "10",
        "--timeout",
        TIMEOUT,
        "--io-engine",
        engine,
        &url,
    ]);
    let d = run.describe();
    assert_ended_with_handshake_failures(&run, &["time"]);
    // Two stalls of --timeout back to back (the second ends a whole --timeout of failing).
    assert!(
        run.wall < Duration::from_millis(1500) + MARGIN,
        "-n with handshakes failing for a whole --timeout ({TIMEOUT}) gives up\n{d}"
    );
    // Each stalled handshake lasted its --timeout: two of them cannot fail in less.
    assert!(run.wall >= Duration::from_millis(500), "{d}");
    assert!(peer.accepted() >= 3, "preflight + both connections\n{d}");

    // For a duration: the run lasts its -d, handshake after handshake timing out. A fresh
    // peer, whose first connection (this run's preflight) is served.
    let mut o = PeerOptions::new(Mode::StallHandshake);
    o.good_first = 1;
    let peer = TlsPeer::start(o);
    let url = peer.url();
    let run = ceiling(&[
        "-k",
        "-t",
        "1",
        "-c",
        "2",
        "-d",
        "2s",
        "--timeout",
        TIMEOUT,
        "--io-engine",
        engine,
        &url,
    ]);
    let d = run.describe();
    assert_ended_with_handshake_failures(&run, &["time"]);
    assert!(
        run.n("errors.tls_handshake") >= 4,
        "2 connections, a handshake timing out every ~500 ms for 2 s\n{d}"
    );
    assert!(run.wall < Duration::from_secs(2) + MARGIN, "{d}");
}

/// The load's connections are closed by the server after the ClientHello: `tls_handshake`
/// errors whose cause says the connection closed, retried with backoff, given up under `-n`.
fn closed_handshakes_fail(engine: &str) {
    let mut o = PeerOptions::new(Mode::CloseInHandshake);
    o.good_first = 1;
    let peer = TlsPeer::start(o);
    let url = peer.url();
    let run = ceiling(&[
        "-k",
        "-t",
        "1",
        "-c",
        "2",
        "-n",
        "10",
        "--timeout",
        TIMEOUT,
        "--io-engine",
        engine,
        &url,
    ]);
    let d = run.describe();
    assert_ended_with_handshake_failures(&run, &["close", "eof"]);
    assert!(run.wall < Duration::from_millis(1500) + MARGIN, "{d}");
    // Retried with a backoff (10 ms doubling), not in a tight loop, and not only once.
    let failed = run.n("errors.tls_handshake");
    assert!(failed >= 4, "retries until the give-up\n{d}");
    assert!(failed <= 200, "a backoff between retries\n{d}");
    assert!(peer.accepted() > failed, "{d}");
}

/// The preflight's connection is served over TLS, the load's get plain HTTP answers (a
/// server swapped behind a load balancer): `tls_handshake` errors whose cause says so.
fn plain_http_after_the_preflight(engine: &str) {
    let mut o = PeerOptions::new(Mode::PlainHttp);
    o.good_first = 1;
    let peer = TlsPeer::start(o);
    let url = peer.url();
    let run = ceiling(&[
        "-k",
        "-t",
        "1",
        "-c",
        "2",
        "-n",
        "10",
        "--timeout",
        TIMEOUT,
        "--io-engine",
        engine,
        &url,
    ]);
    let d = run.describe();
    assert_ended_with_handshake_failures(&run, &["plain http", "http/"]);
    assert!(run.wall < Duration::from_millis(1500) + MARGIN, "{d}");
}

/// Nothing completed, nothing sent, only `tls_handshake` errors, whose causes (in
/// `tls.failures`) contain one of `words`. As when nothing could ever connect (a refused
/// port: exit 1, the JSON written, one line "could not connect"), a run in which no
/// handshake ever completed could not use the server at all: exit 1, a line about it.
fn assert_ended_with_handshake_failures(run: &Run, words: &[&str]) {
    let d = run.describe();
    assert_eq!(
        run.code,
        Some(1),
        "no handshake ever completed: the run could not complete (exit 1, as for a refused port)\n{d}"
    );
    assert!(
        run.stderr.to_lowercase().contains("handshake"),
        "a line saying no handshake completed\n{d}"
    );
    assert!(
        !run.stderr.contains("panicked"),
        "the generator panicked\n{d}"
    );
    assert_counts(
        run,
        &[
            ("sent", 0),
            ("completed", 0),
            ("errors.connect", 0),
            ("errors.tls", 0),
            ("errors.read", 0),
            ("errors.timeout", 0),
        ],
    );
    let failed = run.n("errors.tls_handshake");
    assert!(failed >= 2, "each connection's handshake failed\n{d}");
    assert_eq!(
        run.failures_about(words),
        failed,
        "every handshake failure's cause mentions one of {words:?}\n{d}"
    );
    assert_eq!(run.t("handshakes"), 0, "no load handshake completed\n{d}");
}

// ---------------------------------------------------------------------------------------------
// Failures after the handshake.

/// 500 of 1000 body bytes, then a TCP close without close_notify: a truncation attack as
/// far as TLS can tell, so the request is a `tls` error, not a `read` one.
fn cut_body_without_close_notify_is_tls(engine: &str) {
    let peer = TlsPeer::start(PeerOptions::new(Mode::TruncatedBody {
        close_notify: false,
    }));
    let run = truncated_run(engine, &peer);
    let d = run.describe();
    assert_counts(&run, &[("errors.tls", 10), ("errors.read", 0)]);
    assert_eq!(
        run.failures_about(&["close_notify"]),
        10,
        "the cause names the missing close_notify\n{d}"
    );
}

/// Pipelined (`-p 4`): the cut answer's connection had 4 requests outstanding, and all 4 are
/// lost to `tls`, none to `read`, none back to the budget.
fn cut_body_pipelined_loses_every_outstanding_request(engine: &str) {
    let peer = TlsPeer::start(PeerOptions::new(Mode::TruncatedBody {
        close_notify: false,
    }));
    let url = peer.url();
    let run = ceiling(&[
        "-k",
        "-t",
        "1",
        "-c",
        "1",
        "-p",
        "4",
        "-n",
        "12",
        "--timeout",
        "2s",
        "--io-engine",
        engine,
        &url,
    ]);
    let d = run.describe();
    assert_sane(&run, 0);
    assert_counts(
        &run,
        &[
            ("sent", 12),
            ("completed", 0),
            ("errors.tls", 12),
            ("errors.read", 0),
            ("errors.timeout", 0),
            ("in_flight_at_stop", 0),
        ],
    );
    assert_eq!(run.n("connects"), 3, "4 requests a connection\n{d}");
    assert_eq!(peer.answered(), 3, "one cut answer a connection\n{d}");
    assert!(run.wall < Duration::from_secs(3) + MARGIN, "{d}");
}

/// The same cut, but after close_notify: TLS ended cleanly, the HTTP message did not, so it
/// is a `read` error (as over plain HTTP), and no TLS failure.
fn cut_body_after_close_notify_is_read(engine: &str) {
    let peer = TlsPeer::start(PeerOptions::new(Mode::TruncatedBody { close_notify: true }));
    let run = truncated_run(engine, &peer);
    assert_counts(&run, &[("errors.read", 10), ("errors.tls", 0)]);
    assert!(run.failures().is_empty(), "{}", run.describe());
}

/// `-c 1 -n 10` against a peer that cuts every answer: 10 connections, 10 lost requests.
fn truncated_run(engine: &str, peer: &TlsPeer) -> Run {
    let url = peer.url();
    let run = ceiling(&[
        "-k",
        "-t",
        "1",
        "-c",
        "1",
        "-n",
        "10",
        "--timeout",
        "2s",
        "--io-engine",
        engine,
        &url,
    ]);
    let d = run.describe();
    assert_sane(&run, 0);
    assert_counts(
        &run,
        &[
            ("sent", 10),
            ("completed", 0),
            ("errors.timeout", 0),
            ("errors.invalid", 0),
            ("errors.tls_handshake", 0),
            ("in_flight_at_stop", 0),
        ],
    );
    assert_handshakes(&run, "TLSv1_3");
    assert_eq!(peer.answered(), 10, "{d}");
    // Each cut is seen at the close, not at --timeout: 10 in well under 10 x 2 s.
    assert!(run.wall < Duration::from_secs(3) + MARGIN, "{d}");
    run
}

/// A complete answer with `Connection: close`, then a close with or without close_notify:
/// nothing was outstanding, so neither is an error (many servers skip close_notify).
fn close_after_a_complete_answer_is_clean(engine: &str) {
    for notify in [false, true] {
        let peer = TlsPeer::start(PeerOptions::new(Mode::CloseAfterResponse {
            close_notify: notify,
        }));
        let url = peer.url();
        let run = ceiling(&[
            "-k",
            "-t",
            "1",
            "-c",
            "2",
            "-n",
            "20",
            "--timeout",
            "2s",
            "--io-engine",
            engine,
            &url,
        ]);
        let d = format!("close_notify: {notify}\n{}", run.describe());
        assert_sane(&run, 0);
        assert_counts(
            &run,
            &[("sent", 20), ("completed", 20), ("status.success", 20)],
        );
        assert_no_errors(&run);
        assert_handshakes(&run, "TLSv1_3");
        assert_eq!(peer.answered(), 20, "{d}");
        assert!(run.wall < Duration::from_secs(3) + MARGIN, "{d}");
    }
}

/// A fatal alert from the server in place of the answer: the request is a `tls` error, its
/// cause names the alert.
fn fatal_alert_is_tls(engine: &str) {
    let peer = TlsPeer::start(PeerOptions::new(Mode::AlertAfterRequest));
    let url = peer.url();
    let run = ceiling(&[
        "-k",
        "-t",
        "1",
        "-c",
        "1",
        "-n",
        "10",
        "--timeout",
        "2s",
        "--io-engine",
        engine,
        &url,
    ]);
    let d = run.describe();
    assert_sane(&run, 0);
    assert_counts(
        &run,
        &[
            ("sent", 10),
            ("completed", 0),
            ("errors.tls", 10),
            ("errors.read", 0),
            ("errors.timeout", 0),
            ("errors.invalid", 0),
            ("errors.tls_handshake", 0),
        ],
    );
    assert_eq!(
        run.failures_about(&["badrecordmac", "bad_record_mac", "bad record mac"]),
        10,
        "the cause names the alert\n{d}"
    );
    assert!(run.wall < Duration::from_secs(3) + MARGIN, "{d}");
}

/// A record that does not decrypt, in place of the answer: a `tls` error with a cause.
fn undecryptable_record_is_tls(engine: &str) {
    let peer = TlsPeer::start(PeerOptions::new(Mode::GarbageRecord));
    let url = peer.url();
    let run = ceiling(&[
        "-k",
        "-t",
        "1",
        "-c",
        "1",
        "-n",
        "10",
        "--timeout",
        "2s",
        "--io-engine",
        engine,
        &url,
    ]);
    let d = run.describe();
    assert_sane(&run, 0);
    assert_counts(
        &run,
        &[
            ("sent", 10),
            ("completed", 0),
            ("errors.tls", 10),
            ("errors.read", 0),
            ("errors.timeout", 0),
            ("errors.invalid", 0),
        ],
    );
    let failures: u64 = run.failures().iter().map(|(_, n)| n).sum();
    assert_eq!(failures, 10, "each with its cause in tls.failures\n{d}");
    assert!(run.wall < Duration::from_secs(3) + MARGIN, "{d}");
}

/// Paced (`-R 200 -d 1s`) over kept-alive TLS connections: the schedule's count is exact
/// (the window is [0, 1 s)), the handshakes delay no slot out of the accounting, no errors.
fn paced_exact_schedule(engine: &str) {
    let server = serve_tls();
    let url = server.url("/plaintext");
    let before = server.figures();
    let run = ceiling(&[
        "-k",
        "-t",
        "1",
        "-c",
        "4",
        "-R",
        "200",
        "-d",
        "1s",
        "--io-engine",
        engine,
        &url,
    ]);
    let d = run.describe();
    assert_sane(&run, 0);
    assert_no_errors(&run);
    assert_handshakes(&run, "TLSv1_3");
    assert_eq!(run.n("connects"), 4, "{d}");
    let rate = &run.json()["rate"];
    let scheduled = rate["scheduled"].as_u64().unwrap_or_default();
    let behind = rate["behind_at_stop"].as_u64().unwrap_or_default();
    assert_eq!(scheduled, 200, "rate.scheduled\n{d}");
    assert_eq!(
        run.n("sent") + behind,
        scheduled,
        "sent + behind_at_stop\n{d}"
    );
    assert!(run.n("completed") >= 190, "{d}");
    assert_server_agrees(&run, before, server.figures());
}

/// A paced connection waiting for its next send sees the server's idle close, with or
/// without close_notify: no response was outstanding, so neither is an error, and the next
/// request goes out on a new connection (a new handshake).
fn paced_run_sees_an_idle_close(engine: &str) {
    for notify in [false, true] {
        let peer = TlsPeer::start(PeerOptions::new(Mode::ClosesWhenIdle {
            close_notify: notify,
        }));
        let url = peer.url();
        // 4 a second: 250 ms between sends, the peer closes after 50 ms idle, so its close
        // comes ~200 ms before the next send even when the runner is busy (a close that
        // crosses a request in flight is a real loss, counted as one: the keep-alive race).
        let run = ceiling(&[
            "-k",
            "-t",
            "1",
            "-c",
            "1",
            "-R",
            "4",
            "-d",
            "2s",
            "--timeout",
            TIMEOUT,
            "--io-engine",
            engine,
            &url,
        ]);
        let d = format!("close_notify: {notify}\n{}", run.describe());
        assert_sane(&run, 0);
        assert_no_errors(&run);
        let completed = run.n("completed");
        assert_eq!(run.n("sent"), completed + run.n("in_flight_at_stop"), "{d}");
        let rate = &run.json()["rate"];
        let scheduled = rate["scheduled"].as_u64().unwrap_or_default();
        let behind = rate["behind_at_stop"].as_u64().unwrap_or_default();
        assert_eq!(scheduled, 8, "rate.scheduled: 4/s over [0, 2 s)\n{d}");
        assert_eq!(run.n("sent") + behind, scheduled, "{d}");
        // Most of the schedule is sent (a loaded 2-CPU runner can delay the peer's closes
        // and the reconnects, so not all of it is asked).
        assert!(completed >= 4, "{d}");
        // The idle closes were seen: later requests went out on new connections (new
        // handshakes), each one the peer accepted.
        assert_eq!(run.t("handshakes"), run.n("connects"), "{d}");
        assert!(run.n("connects") >= 2, "{d}");
        assert!(
            peer.accepted() > run.n("connects"),
            "the preflight's and the run's\n{d}"
        );
    }
}

/// Ctrl-C while every handshake of the load stalls: the run stops at once (not at
/// --timeout), prints its report and writes the result of what it measured (nothing sent).
fn ctrl_c_during_stalled_handshakes(engine: &str) {
    let mut o = PeerOptions::new(Mode::StallHandshake);
    o.good_first = 1;
    let peer = TlsPeer::start(o);
    let url = peer.url();
    let path = temp_path("ctrl-c-stalled.json");
    let path_s = path.display().to_string();
    let argv = [
        "-k",
        "-t",
        "1",
        "-c",
        "2",
        "-d",
        "60s",
        "--timeout",
        "30s",
        "--io-engine",
        engine,
        "--json",
        &path_s,
        &url,
    ];
    let mut child = Command::new(ceiling_bin())
        .args(argv)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ceiling");
    let guard = Killed(&mut child);
    // Readiness: the preflight's connection and both of the load's reached the peer.
    let start = Instant::now();
    while peer.accepted() < 3 {
        if let Ok(Some(status)) = guard.0.try_wait() {
            panic!("the run ended ({status}) before it was interrupted");
        }
        assert!(start.elapsed() < WATCHDOG, "the run never got going");
        thread::sleep(Duration::from_millis(10));
    }
    let run = interrupt(guard, &path, format!("ceiling {} (SIGINT)", argv.join(" ")));
    let d = run.describe();
    assert!(
        run.wall < Duration::from_secs(10),
        "stopped at once, not at --timeout\n{d}"
    );
    assert!(!run.stderr.contains("panicked"), "{d}");
    assert!(matches!(run.code, Some(0 | 1)), "{d}");
    assert_eq!(run.json()["interrupted"], true, "{d}");
    assert!(run.stdout.contains("Interrupted"), "{d}");
    assert_counts(&run, &[("sent", 0), ("completed", 0), ("errors.tls", 0)]);
    assert_eq!(run.t("handshakes"), 0, "{d}");
}

/// Sends SIGINT to the child and waits for it (within the watchdog); its output and result.
fn interrupt(guard: Killed<'_>, json: &Path, cmd: String) -> Run {
    use std::io::Read;
    let start = Instant::now();
    // SAFETY: plain kill(2) on our own child's PID.
    unsafe {
        libc::kill(guard.0.id() as i32, libc::SIGINT);
    }
    let status = loop {
        if let Some(s) = guard.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < WATCHDOG,
            "ceiling did not stop on SIGINT: {cmd}"
        );
        thread::sleep(Duration::from_millis(5));
    };
    let wall = start.elapsed();
    let mut stdout = String::new();
    let _ = guard.0.stdout.take().unwrap().read_to_string(&mut stdout);
    let mut stderr = String::new();
    let _ = guard.0.stderr.take().unwrap().read_to_string(&mut stderr);
    drop(guard);
    let text = std::fs::read_to_string(json).unwrap_or_default();
    let _ = std::fs::remove_file(json);
    Run {
        cmd,
        code: status.code(),
        wall,
        stdout,
        stderr,
        json_written: !text.is_empty(),
        json: serde_json::from_str(&text).ok(),
    }
}

/// A server that takes 200 ms to start each handshake: `tls.handshake_latency` measures it
/// (from the TCP connection's open to the handshake's end), and the requests' latency does
/// not include it (the first request goes out after the handshake).
fn handshake_latency_measures_the_handshake(engine: &str) {
    let peer = TlsPeer::start(PeerOptions::new(Mode::SlowHandshake));
    let url = peer.url();
    let run = ceiling(&[
        "-k",
        "-t",
        "1",
        "-c",
        "2",
        "-n",
        "40",
        "--timeout",
        "2s",
        "--io-engine",
        engine,
        &url,
    ]);
    let d = run.describe();
    assert_sane(&run, 0);
    assert_counts(&run, &[("sent", 40), ("completed", 40)]);
    assert_no_errors(&run);
    assert_handshakes(&run, "TLSv1_3");
    let slow = tls_peer::SLOW_HANDSHAKE.as_micros() as u64;
    let hl = &run.json()["tls"]["handshake_latency"];
    // The histogram keeps 3 significant digits: a value is read back as the
    // lowest of its bucket (128 µs wide at 200 ms), so allow 0.1%.
    let floor = slow - slow / 1000;
    assert!(
        hl["min"].as_u64().unwrap_or(0) >= floor,
        "every handshake took >= {slow} µs (less the histogram's 0.1%)\n{d}"
    );
    assert!(hl["max"].as_u64().unwrap_or(u64::MAX) < 2_000_000, "{d}");
    let p50 = run.json()["latency"]["percentiles"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["percentile"] == 50.0))
        .and_then(|p| p["value_us"].as_u64())
        .unwrap_or_else(|| panic!("latency p50\n{d}"));
    assert!(
        p50 < slow,
        "request latency p50 {p50} µs includes the handshake\n{d}"
    );
}

/// Every case above, once per engine: `direct` (the io_uring loop, `--io-engine auto`),
/// `monoio` (monoio's io_uring driver) and `epoll`.
macro_rules! on_every_engine {
    ($($case:ident),* $(,)?) => {
        $(
            mod $case {
                #[test]
                fn direct() {
                    super::$case("auto");
                }
                #[test]
                fn monoio() {
                    super::$case("monoio");
                }
                #[test]
                fn epoll() {
                    super::$case("epoll");
                }
            }
        )*
    };
}

on_every_engine!(
    exact_count,
    exact_count_pipelined,
    connection_close_handshakes,
    connections_that_carry_nothing_close_cleanly,
    large_bodies_both_ways,
    script_writing_three_requests_at_once,
    stalled_handshakes_time_out,
    closed_handshakes_fail,
    plain_http_after_the_preflight,
    cut_body_without_close_notify_is_tls,
    cut_body_pipelined_loses_every_outstanding_request,
    cut_body_after_close_notify_is_read,
    close_after_a_complete_answer_is_clean,
    undecryptable_record_is_tls,
    fatal_alert_is_tls,
    paced_exact_schedule,
    handshake_latency_measures_the_handshake,
    paced_run_sees_an_idle_close,
    ctrl_c_during_stalled_handshakes,
    ctrl_c_writes_the_partial_https_result,
);

// ---------------------------------------------------------------------------------------------
// The preflight: one line, exit 1, before any load.

/// A run that the preflight stops: exit 1, one line on stderr (returned), no result, no
/// request reached the peer, and within `bound`.
fn refused_by_preflight(args: &[&str], bound: Duration) -> String {
    let run = ceiling(args);
    let d = run.describe();
    assert!(
        !run.stderr.contains("panicked"),
        "the generator panicked\n{d}"
    );
    assert_eq!(run.code, Some(1), "exit code\n{d}");
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "one line naming the cause and the fix\n{d}");
    assert!(
        !run.json_written,
        "no load ran, so no --json file is left, not even an empty one\n{d}"
    );
    assert!(!run.stdout.contains("Requests/sec"), "{d}");
    assert!(run.wall < bound, "{d}");
    lines[0].to_string()
}

/// A file in a fresh temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let p = temp_path("dir");
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn write(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.0.as_os_str().is_empty() {
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn loopback_names() -> Vec<String> {
    shared::tls::LOOPBACK_NAMES
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// A peer presenting a leaf issued by a test CA; the CA's PEM is written to `dir/ca.pem`.
fn peer_under_ca(
    dir: &TempDir,
    names: &[String],
    validity: shared::tls::Validity,
) -> (TlsPeer, String) {
    let ca = shared::tls::TestCa::new().unwrap();
    let ca_path = dir.write("ca.pem", &ca.ca_pem());
    let mut o = PeerOptions::new(Mode::Valid);
    o.cert = ca.issue(names, validity).unwrap();
    (TlsPeer::start(o), ca_path)
}

#[test]
fn preflight_plain_http_on_the_port() {
    let peer = TlsPeer::start(PeerOptions::new(Mode::PlainHttp));
    let url = peer.url();
    let line = refused_by_preflight(&["-k", "-n", "10", &url], Duration::from_secs(10));
    assert!(line.contains("plain HTTP"), "{line}");
    assert!(line.contains("http://"), "the fix: use http://\n{line}");
    assert_eq!(peer.accepted(), 1, "the preflight's connection only");
}

#[test]
fn preflight_stalled_handshake_times_out() {
    let peer = TlsPeer::start(PeerOptions::new(Mode::StallHandshake));
    let url = peer.url();
    let start = Instant::now();
    let line = refused_by_preflight(
        &["-k", "-n", "10", "--timeout", "1s", &url],
        Duration::from_secs(1) + MARGIN,
    );
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "waited --timeout"
    );
    assert!(line.contains("handshake"), "{line}");
    assert!(line.contains("1s"), "names the timeout\n{line}");
    assert_eq!(peer.accepted(), 1);
}

#[test]
fn preflight_silent_port_times_out() {
    // Listening, never accepting: the TCP connect succeeds from the backlog, nothing answers.
    let silent = Unaccepted::bind();
    let url = format!("https://{}/", silent.addr());
    let line = refused_by_preflight(
        &["-k", "-n", "10", "--timeout", "1s", &url],
        Duration::from_secs(1) + MARGIN,
    );
    assert!(line.contains("handshake"), "{line}");
}

/// The preflight is bounded by --timeout and by its own limit (5 s, docs/loadgen.md): a long
/// --timeout does not make a silent port hang the start.
#[test]
fn preflight_bound_with_a_long_timeout() {
    let silent = Unaccepted::bind();
    let url = format!("https://{}/", silent.addr());
    let line = refused_by_preflight(
        &["-k", "-n", "10", "--timeout", "60s", &url],
        Duration::from_secs(5) + MARGIN,
    );
    assert!(line.contains("5s"), "names the bound it waited\n{line}");
}

#[test]
fn preflight_untrusted_certificate_needs_cacert_or_k() {
    let dir = TempDir::new();
    let (peer, ca) = peer_under_ca(&dir, &loopback_names(), shared::tls::Validity::Long);
    let url = peer.url();
    let line = refused_by_preflight(&["-n", "10", &url], Duration::from_secs(10));
    assert!(line.contains("--cacert"), "{line}");
    assert!(line.contains("-k"), "{line}");
    assert_eq!(peer.received(), 0);
    // Trusting the CA verifies the certificate, by IP address: the run works.
    let run = ceiling(&["--cacert", &ca, "-t", "1", "-c", "2", "-n", "50", &url]);
    assert_sane(&run, 0);
    assert_counts(&run, &[("sent", 50), ("completed", 50)]);
    assert_no_errors(&run);
    assert_handshakes(&run, "TLSv1_3");
    assert_eq!(run.json()["config"]["tls"]["insecure"], false);
    assert_eq!(peer.received(), 50);
}

/// A host name URL: SNI carries the name on every handshake (preflight and load), and the
/// certificate is verified against it (DNS name `localhost`, trusted through --cacert); an IP
/// URL sends no SNI (RFC 6066 §3: literal addresses are not server names).
#[test]
fn sni_is_the_url_host() {
    let dir = TempDir::new();
    let (peer, ca) = peer_under_ca(&dir, &loopback_names(), shared::tls::Validity::Long);
    let url = format!("https://localhost:{}/", peer.addr().port());
    let run = ceiling(&["--cacert", &ca, "-t", "1", "-c", "2", "-n", "20", &url]);
    let d = run.describe();
    assert_sane(&run, 0);
    assert_counts(&run, &[("sent", 20), ("completed", 20)]);
    assert_no_errors(&run);
    let sni = peer.sni();
    assert_eq!(
        sni.len() as u64,
        run.t("handshakes") + 1,
        "the preflight's too\n{d}"
    );
    assert!(
        sni.iter().all(|n| n.as_deref() == Some("localhost")),
        "{sni:?}\n{d}"
    );
    let ip_peer = TlsPeer::start(PeerOptions::new(Mode::Valid));
    let run = ceiling(&["-k", "-t", "1", "-c", "1", "-n", "5", &ip_peer.url()]);
    assert_sane(&run, 0);
    assert!(
        ip_peer.sni().iter().all(Option::is_none),
        "{:?}",
        ip_peer.sni()
    );
}

#[test]
fn preflight_expired_certificate() {
    let dir = TempDir::new();
    let (peer, ca) = peer_under_ca(&dir, &loopback_names(), shared::tls::Validity::Expired);
    let url = peer.url();
    let line = refused_by_preflight(
        &["--cacert", &ca, "-n", "10", &url],
        Duration::from_secs(10),
    );
    assert!(line.contains("expired"), "{line}");
    assert!(line.contains("-k"), "the fix\n{line}");
    assert_eq!(peer.received(), 0);
    // -k accepts it: the run works.
    let run = ceiling(&["-k", "-t", "1", "-c", "2", "-n", "20", &url]);
    assert_sane(&run, 0);
    assert_counts(&run, &[("sent", 20), ("completed", 20)]);
    assert_no_errors(&run);
}

#[test]
fn preflight_name_mismatch() {
    let dir = TempDir::new();
    let names = vec!["example.test".to_string()];
    let (peer, ca) = peer_under_ca(&dir, &names, shared::tls::Validity::Long);
    let url = peer.url();
    let line = refused_by_preflight(
        &["--cacert", &ca, "-n", "10", &url],
        Duration::from_secs(10),
    );
    assert!(line.contains("name"), "{line}");
    assert!(
        line.contains("127.0.0.1"),
        "names the name asked for\n{line}"
    );
    assert_eq!(peer.received(), 0);
}

/// mTLS: a server that requires a client certificate from its CA. With `--cert/--key` the
/// run works; without them the server refuses (after the client's Finished, in TLS 1.3), and
/// the preflight says so before any load: exit 1, one line naming `--cert`.
#[test]
fn client_certificate() {
    let dir = TempDir::new();
    let ca = shared::tls::TestCa::new().unwrap();
    let ca_path = dir.write("ca.pem", &ca.ca_pem());
    let client = ca
        .issue(&["ceiling client".into()], shared::tls::Validity::Long)
        .unwrap();
    let cert = dir.write("client.pem", &client.cert_pem);
    let key = dir.write("client.key", &client.key_pem);
    let mut o = PeerOptions::new(Mode::Valid);
    o.cert = ca
        .issue(&loopback_names(), shared::tls::Validity::Long)
        .unwrap();
    o.client_ca = Some(ca.ca_der());
    let peer = TlsPeer::start(o);
    let url = peer.url();
    let run = ceiling(&[
        "--cacert", &ca_path, "--cert", &cert, "--key", &key, "-t", "1", "-c", "2", "-n", "30",
        &url,
    ]);
    let d = run.describe();
    assert_sane(&run, 0);
    assert_counts(&run, &[("sent", 30), ("completed", 30)]);
    assert_no_errors(&run);
    assert_handshakes(&run, "TLSv1_3");
    let cfg = &run.json()["config"]["tls"];
    assert_eq!(
        cfg["cert"],
        cert.as_str(),
        "config.tls.cert is the path\n{d}"
    );
    assert!(
        !run.json().to_string().contains("PRIVATE KEY"),
        "no key is ever written\n{d}"
    );
    assert_eq!(peer.received(), 30, "{d}");

    let line = refused_by_preflight(
        &["--cacert", &ca_path, "-n", "10", &url],
        Duration::from_secs(10),
    );
    assert!(
        ["--cert", "client certificate", "CertificateRequired"]
            .iter()
            .any(|w| line.contains(w)),
        "names the missing client certificate\n{line}"
    );
    assert_eq!(peer.received(), 30, "nothing sent after the refusal");

    // A client certificate the server does not trust (another CA): refused as well.
    let other = shared::tls::TestCa::new()
        .unwrap()
        .issue(&["ceiling client".into()], shared::tls::Validity::Long)
        .unwrap();
    let other_cert = dir.write("other.pem", &other.cert_pem);
    let other_key = dir.write("other.key", &other.key_pem);
    let line = refused_by_preflight(
        &[
            "--cacert",
            &ca_path,
            "--cert",
            &other_cert,
            "--key",
            &other_key,
            "-n",
            "10",
            &url,
        ],
        Duration::from_secs(10),
    );
    assert!(line.contains("refused"), "{line}");
    assert_eq!(peer.received(), 30, "nothing sent after the refusal");
}

// ---------------------------------------------------------------------------------------------
// TLS 1.2, nginx, Ctrl-C.

/// A TLS 1.2-only server: negotiated and recorded as such; with `Connection: close` and
/// resumption on, reconnects resume the 1.2 session.
#[test]
fn tls12_server() {
    let mut o = PeerOptions::new(Mode::Valid);
    o.tls12_only = true;
    let peer = TlsPeer::start(o);
    let url = peer.url();
    let run = ceiling(&["-k", "-t", "1", "-c", "2", "-n", "100", &url]);
    assert_sane(&run, 0);
    assert_counts(&run, &[("sent", 100), ("completed", 100)]);
    assert_no_errors(&run);
    assert_handshakes(&run, "TLSv1_2");
    let run = ceiling(&[
        "-k",
        "-t",
        "1",
        "-c",
        "2",
        "-n",
        "50",
        "-H",
        "Connection: close",
        &url,
    ]);
    let d = run.describe();
    assert_sane(&run, 0);
    assert_counts(&run, &[("sent", 50), ("completed", 50)]);
    assert_no_errors(&run);
    assert_handshakes(&run, "TLSv1_2");
    assert_eq!(run.t("handshakes"), 50, "{d}");
    assert!(run.t("resumed") >= 45, "TLS 1.2 sessions resume\n{d}");
}

/// An IPv6 literal URL (`https://[::1]:PORT/`): the certificate is verified against its
/// IP-address name `::1` (issued by a test CA given with `--cacert`), not the bracketed host.
#[test]
fn ipv6_literal_verified_by_its_address() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here: skipping");
        return;
    }
    let dir = TempDir::new();
    let ca = shared::tls::TestCa::new().unwrap();
    let ca_path = dir.write("ca.pem", &ca.ca_pem());
    let leaf = ca
        .issue(&["::1".to_string()], shared::tls::Validity::Long)
        .unwrap();
    let cert = dir.write("cert.pem", &(leaf.cert_pem.clone() + &ca.ca_pem()));
    let key = dir.write("key.pem", &leaf.key_pem);
    let server = serve_tls_on("[::1]:0", &["--cert", &cert, "--key", &key]);
    let url = format!("https://{}/plaintext", server.0.addr);
    assert!(url.starts_with("https://[::1]:"), "{url}");
    let before = server.figures();
    let run = ceiling(&[
        "--cacert", &ca_path, "-t", "1", "-c", "2", "-n", "100", &url,
    ]);
    assert_sane(&run, 0);
    assert_counts(&run, &[("sent", 100), ("completed", 100)]);
    assert_no_errors(&run);
    assert_handshakes(&run, "TLSv1_3");
    assert_server_agrees(&run, before, server.figures());
}

/// nginx (nginx-light has the ssl module) with an rcgen certificate: an exact `-n` over TLS.
#[test]
fn nginx_over_tls() {
    let Some(nginx) = Nginx::start() else {
        return;
    };
    let url = format!("https://{}/", nginx.addr);
    let run = ceiling(&["-k", "-t", "1", "-c", "4", "-n", "500", &url]);
    let d = run.describe();
    assert_sane(&run, 0);
    assert_counts(
        &run,
        &[
            ("sent", 500),
            ("completed", 500),
            ("status.success", 500),
            ("in_flight_at_stop", 0),
        ],
    );
    assert_no_errors(&run);
    assert_eq!(run.t("handshakes"), run.n("connects"), "{d}");
    assert_eq!(run.json()["tls"]["negotiated"]["version"], "TLSv1_3", "{d}");
    // nginx keeps these 4 connections alive (keepalive_requests 1000 by default).
    assert_eq!(run.n("connects"), 4, "{d}");
}

/// The harness itself: nginx answers `ok` over TLS to a rustls client.
#[test]
fn nginx_harness_answers_over_tls() {
    let Some(nginx) = Nginx::start() else {
        return;
    };
    assert_eq!(tls_peer::get(nginx.addr, "/").unwrap(), b"ok");
}

/// nginx on 127.0.0.1, one process (`master_process off`, so killing its PID stops it), TLS
/// with a fresh self-signed rcgen certificate, `return 200 "ok"` on every path; killed on drop.
struct Nginx {
    child: Child,
    addr: SocketAddr,
    _dir: TempDir,
}

impl Nginx {
    /// None (with a line saying why) where nginx is not installed.
    fn start() -> Option<Nginx> {
        let Some(bin) = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| Path::new(p).exists())
        else {
            eprintln!("nginx is not installed (apt-get install nginx-light): skipping");
            return None;
        };
        let dir = TempDir::new();
        let ck = shared::tls::self_signed(&loopback_names(), shared::tls::Validity::Long).unwrap();
        let cert = dir.write("cert.pem", &ck.cert_pem);
        let key = dir.write("key.pem", &ck.key_pem);
        let d = dir.path().display().to_string();
        // A port free when asked; nginx failing to bind it (taken since) is retried.
        for _ in 0..5 {
            let port = free_port();
            let conf = dir.write(
                "nginx.conf",
                &format!(
                    "worker_processes 1;\n\
                     daemon off;\n\
                     master_process off;\n\
                     pid {d}/nginx.pid;\n\
                     error_log {d}/error.log warn;\n\
                     events {{ worker_connections 1024; }}\n\
                     http {{\n\
                       access_log off;\n\
                       client_body_temp_path {d}/body;\n\
                       proxy_temp_path {d}/proxy;\n\
                       fastcgi_temp_path {d}/fastcgi;\n\
                       uwsgi_temp_path {d}/uwsgi;\n\
                       scgi_temp_path {d}/scgi;\n\
                       server {{\n\
                         listen 127.0.0.1:{port} ssl;\n\
                         ssl_protocols TLSv1.2 TLSv1.3;\n\
                         ssl_certificate {cert};\n\
                         ssl_certificate_key {key};\n\
                         location / {{ default_type text/plain; return 200 \"ok\"; }}\n\
                       }}\n\
                     }}\n"
                ),
            );
            let child = Command::new(bin)
                .args(["-p", &d, "-e", &format!("{d}/error.log"), "-c", &conf])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn nginx");
            let mut nginx = Nginx {
                child,
                addr: format!("127.0.0.1:{port}").parse().unwrap(),
                _dir: TempDir(PathBuf::new()),
            };
            if nginx.wait_listening(&dir) {
                nginx._dir = dir;
                return Some(nginx);
            }
        }
        let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
        panic!("nginx did not start (5 tries):\n{log}");
    }

    /// Polls the port until it accepts (at most 20 s): true; false when nginx exited.
    fn wait_listening(&mut self, dir: &TempDir) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return true;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
                eprintln!(
                    "nginx exited ({status}) before listening on {}:\n{log}",
                    self.addr
                );
                return false;
            }
            assert!(
                Instant::now() < deadline,
                "nginx did not listen on {} within 20 s",
                self.addr
            );
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Kills and reaps a child on drop (by its PID, through `Child`).
struct Killed<'a>(&'a mut Child);

impl Drop for Killed<'_> {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port free at the time of asking (the listener is closed before returning).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Ctrl-C during an https run: the text report and the JSON result of what was measured,
/// TLS figures included.
fn ctrl_c_writes_the_partial_https_result(engine: &str) {
    let server = serve_tls();
    let url = server.url("/plaintext");
    let path = temp_path("ctrl-c.json");
    let path_s = path.display().to_string();
    let mut child = Command::new(ceiling_bin())
        .args([
            "-k",
            "-t",
            "1",
            "-c",
            "2",
            "-d",
            "60s",
            "--io-engine",
            engine,
            "--json",
            &path_s,
            &url,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ceiling");
    let guard = Killed(&mut child);
    // Readiness: the server has answered some of this run's requests.
    let start = Instant::now();
    while server.served() < 100 {
        if let Ok(Some(status)) = guard.0.try_wait() {
            panic!("the run ended ({status}) before it was interrupted");
        }
        assert!(start.elapsed() < WATCHDOG, "the run never got going");
        thread::sleep(Duration::from_millis(10));
    }
    let run = interrupt(
        guard,
        &path,
        format!("ceiling -k -t 1 -c 2 -d 60s --io-engine {engine} --json {path_s} {url} (SIGINT)"),
    );
    let d = run.describe();
    assert_sane(&run, 0);
    assert!(run.stdout.contains("Requests/sec:"), "{d}");
    assert!(run.stdout.contains("Interrupted"), "{d}");
    assert_eq!(run.json()["interrupted"], true, "{d}");
    assert!(run.n("completed") >= 100, "{d}");
    assert!(run.json()["duration_s"].as_f64().unwrap() < 30.0, "{d}");
    assert_counts(&run, &[("errors.tls", 0), ("errors.tls_handshake", 0)]);
    assert_handshakes(&run, "TLSv1_3");
    assert_eq!(run.t("handshakes"), 2, "two kept-alive connections\n{d}");
}

/// The TLS peer itself, talked to with a rustls client (no generator needed): each mode does
/// what the tests above rely on.
mod peer_self_check {
    use std::io::{ErrorKind, Read, Write};
    use std::time::{Duration, Instant};

    use crate::support::tls_peer::{
        self, connect, Mode, PeerOptions, TlsPeer, TRUNCATED_HEAD, TRUNCATED_SENT,
    };

    const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    const T: Duration = Duration::from_secs(5);

    /// Reads until an error or the end; what was read and how it ended.
    fn read_all(s: &mut impl Read) -> (Vec<u8>, std::io::Result<()>) {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) => return (out, Ok(())),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => return (out, Err(e)),
            }
        }
    }

    #[test]
    fn valid_keeps_alive_and_closes_with_close_notify() {
        let peer = TlsPeer::start(PeerOptions::new(Mode::Valid));
        let mut s = connect(peer.addr(), T).unwrap();
        assert_eq!(s.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
        assert_eq!(
            s.conn.protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_3)
        );
        let one = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
        s.write_all(&GET.repeat(2)).unwrap();
        let mut got = vec![0u8; 2 * one.len()];
        s.read_exact(&mut got).unwrap();
        assert_eq!(got, one.repeat(2));
        assert_eq!(tls_peer::get(peer.addr(), "/").unwrap(), b"ok");
        assert_eq!((peer.handshakes(), peer.received()), (2, 3));
    }

    #[test]
    fn resumption_on_tls13_and_tls12_only() {
        for tls12_only in [false, true] {
            let mut o = PeerOptions::new(Mode::Valid);
            o.tls12_only = tls12_only;
            let peer = TlsPeer::start(o);
            let config = tls_peer::insecure_client_config();
            for i in 0..3 {
                let mut s = tls_peer::connect_with(peer.addr(), config.clone(), T).unwrap();
                let want = if tls12_only {
                    rustls::ProtocolVersion::TLSv1_2
                } else {
                    rustls::ProtocolVersion::TLSv1_3
                };
                assert_eq!(s.conn.protocol_version(), Some(want));
                // TLS 1.3 tickets arrive after the handshake: read an answer to take them in.
                s.write_all(GET).unwrap();
                let mut got = [0u8; 66];
                s.read_exact(&mut got).unwrap();
                let resumed = s.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
                assert_eq!(resumed, i > 0, "connection {i}, tls12_only {tls12_only}");
            }
            assert_eq!((peer.handshakes(), peer.resumed()), (3, 2));
        }
    }

    #[test]
    fn truncated_body_with_and_without_close_notify() {
        for notify in [false, true] {
            let peer = TlsPeer::start(PeerOptions::new(Mode::TruncatedBody {
                close_notify: notify,
            }));
            let mut s = connect(peer.addr(), T).unwrap();
            s.write_all(GET).unwrap();
            let (got, end) = read_all(&mut s);
            assert_eq!(got.len(), TRUNCATED_HEAD.len() + TRUNCATED_SENT, "{notify}");
            assert!(got.starts_with(TRUNCATED_HEAD));
            if notify {
                end.expect("close_notify: a clean end of the TLS stream");
            } else {
                assert_eq!(end.unwrap_err().kind(), ErrorKind::UnexpectedEof);
            }
        }
    }

    #[test]
    fn close_after_response_with_and_without_close_notify() {
        for notify in [false, true] {
            let peer = TlsPeer::start(PeerOptions::new(Mode::CloseAfterResponse {
                close_notify: notify,
            }));
            let mut s = connect(peer.addr(), T).unwrap();
            s.write_all(GET).unwrap();
            let (got, end) = read_all(&mut s);
            assert!(got.ends_with(b"Connection: close\r\n\r\nok"), "{got:?}");
            assert_eq!(end.is_ok(), notify, "{end:?}");
        }
    }

    #[test]
    fn closes_when_idle_with_and_without_close_notify() {
        for notify in [false, true] {
            let peer = TlsPeer::start(PeerOptions::new(Mode::ClosesWhenIdle {
                close_notify: notify,
            }));
            let mut s = connect(peer.addr(), T).unwrap();
            let one = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
            // Two requests in a row are answered on one connection, then it idles.
            for _ in 0..2 {
                s.write_all(GET).unwrap();
                let mut got = vec![0u8; one.len()];
                s.read_exact(&mut got).unwrap();
                assert_eq!(got, one);
            }
            let start = Instant::now();
            let (got, end) = read_all(&mut s);
            assert!(got.is_empty());
            assert!(start.elapsed() >= Duration::from_millis(40));
            if notify {
                end.expect("close_notify: a clean end");
            } else {
                assert_eq!(end.unwrap_err().kind(), ErrorKind::UnexpectedEof);
            }
            assert_eq!(peer.answered(), 2);
        }
    }

    #[test]
    fn garbage_record_does_not_decrypt() {
        let peer = TlsPeer::start(PeerOptions::new(Mode::GarbageRecord));
        let mut s = connect(peer.addr(), T).unwrap();
        s.write_all(GET).unwrap();
        let (got, end) = read_all(&mut s);
        assert!(got.is_empty());
        let e = end.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidData, "{e}");
        assert_eq!(peer.answered(), 1);
    }

    #[test]
    fn alert_after_request() {
        let peer = TlsPeer::start(PeerOptions::new(Mode::AlertAfterRequest));
        let mut s = connect(peer.addr(), T).unwrap();
        s.write_all(GET).unwrap();
        let (got, end) = read_all(&mut s);
        assert!(got.is_empty());
        let e = end.unwrap_err();
        let alert = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .cloned();
        assert_eq!(
            alert,
            Some(rustls::Error::AlertReceived(
                rustls::AlertDescription::BadRecordMac
            )),
            "{e}"
        );
    }

    #[test]
    fn plain_http_answers_400() {
        let peer = TlsPeer::start(PeerOptions::new(Mode::PlainHttp));
        let mut s = std::net::TcpStream::connect(peer.addr()).unwrap();
        s.set_read_timeout(Some(T)).unwrap();
        s.write_all(b"\x16\x03\x01\x00\x05hello").unwrap();
        let (got, _) = read_all(&mut s);
        assert!(got.starts_with(b"HTTP/1.1 400 Bad Request\r\n"), "{got:?}");
        assert!(connect(peer.addr(), T).is_err());
    }

    #[test]
    fn stall_and_close_in_handshake_after_good_first() {
        let mut o = PeerOptions::new(Mode::StallHandshake);
        o.good_first = 1;
        let peer = TlsPeer::start(o);
        connect(peer.addr(), T).expect("the first connection is served");
        let start = Instant::now();
        let e = connect(peer.addr(), Duration::from_millis(300)).unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "{e}"
        );
        assert!(start.elapsed() >= Duration::from_millis(250));

        let mut o = PeerOptions::new(Mode::CloseInHandshake);
        o.good_first = 1;
        let peer = TlsPeer::start(o);
        connect(peer.addr(), T).expect("the first connection is served");
        let e = connect(peer.addr(), T).unwrap_err();
        assert!(
            matches!(
                e.kind(),
                ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset
            ),
            "{e}"
        );
        // The server counts its side of the first handshake once it has sent its Finished,
        // which may be after the client is done: wait for it, bounded.
        let start = Instant::now();
        while peer.handshakes() < 1 && start.elapsed() < T {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(peer.handshakes(), 1);
    }
}

/// A campaign checks a target once: a server that passes the first preflight
/// and then fails every handshake is measured (its rows: 100% `tls handshake`
/// errors) beside the healthy target's rows, the report files written, exit 0;
/// not a campaign thrown away at its second run with "no load sent".
#[test]
fn a_campaign_measures_a_target_that_fails_handshakes_after_its_preflight() {
    let good = TlsPeer::start(PeerOptions::new(Mode::Valid));
    let mut o = PeerOptions::new(Mode::CloseInHandshake);
    o.good_first = 1;
    let bad = TlsPeer::start(o);
    let dir = std::env::temp_dir().join(format!("ceiling-tls-campaign-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (json, csv) = (dir.join("c.json"), dir.join("c.csv"));
    let a = format!("good={}", good.url());
    let b = format!("bad={}", bad.url());
    let out = run_ceiling(
        &[
            "compare",
            &a,
            &b,
            "-k",
            "--levels",
            "1,2",
            "-d",
            "300ms",
            "--repeats",
            "1",
            "--timeout",
            "1s",
            "--json",
            json.to_str().unwrap(),
            "--csv",
            csv.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(!out.stderr.contains("no load sent"), "{}", out.stderr);
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let text = r.to_string();
    assert!(text.contains("\"tls_handshake\""), "{text}");
    let csv = std::fs::read_to_string(&csv).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (tls_hs, target) = (col("tls_handshake"), col("target"));
    let bad_rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f[target] == "bad")
        .collect();
    assert_eq!(bad_rows.len(), 2, "{csv}");
    for f in &bad_rows {
        assert!(f[tls_hs].parse::<u64>().unwrap() > 0, "{csv}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
