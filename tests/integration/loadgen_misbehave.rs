//! The generator against servers that misbehave (support::misbehave): every run must end on
//! time by itself, never panic, classify what the server did into the right class, count
//! odd but legal framing as success, and keep the accounting identity
//! `sent == completed + read + write + timeout + invalid + in_flight_at_stop`.
//!
//! Each run: `ceiling -t 1 -c 2 -d 1s --timeout 500ms --json FILE URL` (plus per-test flags)
//! under a watchdog that kills the child by PID and fails the test when it runs past
//! duration + timeout + 1 s + a 1 s start-up margin.
//!
//! Exit codes, from the contract (README, DESIGN): 0 whenever the run happened, however
//! badly the server behaved, including a server that accepts and closes at once (connecting
//! worked); 1 when nothing could connect (refused port). The JSON result is required in both
//! cases: with exit 1 it must still be written and report the connect errors, so that a
//! script sees why the run could not complete.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::ceiling_bin;
use crate::support::misbehave::{
    Behaviour, Misbehaving, RefusedPort, Unaccepted, HUGE_HEADERS_BYTES,
};

const DURATION: Duration = Duration::from_secs(1);
const TIMEOUT: Duration = Duration::from_millis(500);
/// Process start, runtime set-up and the JSON write, on a loaded 2-CPU test machine.
const STARTUP_MARGIN: Duration = Duration::from_secs(1);
/// `-c` for every duration run: with `-t 1`, two connections on one worker.
const CONNS: u64 = 2;

/// The longest a run may take, wall time from spawn to exit.
fn limit() -> Duration {
    DURATION + TIMEOUT + Duration::from_secs(1) + STARTUP_MARGIN
}

fn json_path() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    std::env::temp_dir().join(format!("ceiling-misbehave-{}-{n}.json", std::process::id()))
}

/// One finished generator run.
struct Run {
    cmd: String,
    code: Option<i32>,
    wall: Duration,
    stdout: String,
    stderr: String,
    json: Option<Value>,
}

impl Run {
    /// A counter by its path under `counters`, e.g. `"errors.read"`; panics when missing.
    fn n(&self, path: &str) -> u64 {
        let mut v = self
            .json
            .as_ref()
            .unwrap_or_else(|| panic!("no JSON result\n{}", self.describe()))
            .get("counters")
            .unwrap_or_else(|| panic!("JSON has no counters\n{}", self.describe()));
        for key in path.split('.') {
            v = v
                .get(key)
                .unwrap_or_else(|| panic!("JSON has no counters.{path}\n{}", self.describe()));
        }
        v.as_u64().unwrap_or_else(|| {
            panic!(
                "counters.{path} is not an unsigned integer\n{}",
                self.describe()
            )
        })
    }

    fn describe(&self) -> String {
        let counters = self
            .json
            .as_ref()
            .and_then(|j| j.get("counters"))
            .map(|c| c.to_string())
            .unwrap_or_else(|| "(no JSON)".into());
        let first_invalid = self
            .json
            .as_ref()
            .and_then(|j| j.get("first_invalid"))
            .map(|c| c.to_string())
            .unwrap_or_default();
        format!(
            "command: {}\nexit: {:?}, wall: {:?}\ncounters: {counters}\nfirst_invalid: {first_invalid}\n\
             --- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmd,
            self.code,
            self.wall,
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

/// Runs `ceiling -t 1 --timeout 500ms --json FILE <args> URL` under the watchdog.
fn ceiling(args: &[&str], url: &str) -> Run {
    let path = json_path();
    let timeout = format!("{}ms", TIMEOUT.as_millis());
    let mut argv: Vec<String> = vec!["-t".into(), "1".into(), "--timeout".into(), timeout];
    argv.extend(["--json".into(), path.display().to_string()]);
    argv.extend(args.iter().map(|a| a.to_string()));
    argv.push(url.to_string());
    let cmd = format!("ceiling {}", argv.join(" "));

    let _ = std::fs::remove_file(&path);
    let start = Instant::now();
    let mut child = Command::new(ceiling_bin())
        .args(&argv)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ceiling");
    let pid = child.id();
    let drain = |mut r: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut s = Vec::new();
            let _ = r.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));

    // Watchdog: poll the child; past the limit, kill it (by its PID, via Child) and fail.
    let (status, overran) = loop {
        if let Some(status) = child.try_wait().expect("wait for ceiling") {
            break (status, false);
        }
        if start.elapsed() > limit() {
            let _ = child.kill();
            break (child.wait().expect("wait for killed ceiling"), true);
        }
        thread::sleep(Duration::from_millis(5));
    };
    let wall = start.elapsed();
    let json = std::fs::read_to_string(&path).ok().map(|text| {
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{cmd}: --json output is not JSON ({e}):\n{text}"))
    });
    let _ = std::fs::remove_file(&path);
    let run = Run {
        cmd,
        code: status.code(),
        wall,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        json,
    };
    assert!(
        !overran,
        "ceiling (pid {pid}) ran past {:?} and was killed\n{}",
        limit(),
        run.describe()
    );
    run
}

/// A duration run: `-c 2 -d 1s` plus `extra`.
fn run_for(extra: &[&str], url: &str) -> Run {
    let d = format!("{}s", DURATION.as_secs());
    let c = CONNS.to_string();
    let mut args = vec!["-c", &c, "-d", &d];
    args.extend_from_slice(extra);
    ceiling(&args, url)
}

/// What every run must satisfy: on time, no panic, the expected exit code, a JSON result of
/// the contract's schema, balanced accounting, completed == final statuses, not interrupted.
fn assert_sane(run: &Run, code: i32) {
    let d = run.describe();
    assert!(
        run.wall <= limit(),
        "took {:?} > {:?}\n{d}",
        run.wall,
        limit()
    );
    assert!(
        !run.stderr.contains("panicked"),
        "the generator panicked\n{d}"
    );
    assert_eq!(run.code, Some(code), "exit code\n{d}");
    let json = run
        .json
        .as_ref()
        .unwrap_or_else(|| panic!("no --json result written\n{d}"));
    assert_eq!(json["schema"], "ceiling.run/1", "schema\n{d}");
    assert_eq!(json["interrupted"], false, "interrupted\n{d}");
    let accounted = run.n("completed")
        + run.n("errors.read")
        + run.n("errors.write")
        + run.n("errors.timeout")
        + run.n("errors.invalid")
        + run.n("in_flight_at_stop");
    assert_eq!(
        run.n("sent"),
        accounted,
        "accounting identity: sent != completed + read + write + timeout + invalid + in_flight_at_stop\n{d}"
    );
    let finals = run.n("status.success")
        + run.n("status.redirect")
        + run.n("status.client_error")
        + run.n("status.server_error")
        + run.n("status.other");
    assert_eq!(
        run.n("completed"),
        finals,
        "completed != final responses by status class\n{d}"
    );
}

/// Asserts each named counter equals its value.
fn assert_counts(run: &Run, expected: &[(&str, u64)]) {
    for (path, want) in expected {
        assert_eq!(run.n(path), *want, "counters.{path}\n{}", run.describe());
    }
}

fn assert_positive(run: &Run, paths: &[&str]) {
    for path in paths {
        assert!(
            run.n(path) > 0,
            "counters.{path} should be > 0\n{}",
            run.describe()
        );
    }
}

/// A valid-but-odd server: requests complete, counted under `status_class`, no request errors.
fn assert_valid_run(run: &Run, server: &Misbehaving, status_class: &str) {
    assert_sane(run, 0);
    assert_positive(run, &["completed"]);
    assert_eq!(
        run.n(&format!("status.{status_class}")),
        run.n("completed"),
        "every completed response should be {status_class}\n{}",
        run.describe()
    );
    assert_counts(
        run,
        &[
            ("errors.read", 0),
            ("errors.write", 0),
            ("errors.timeout", 0),
            ("errors.invalid", 0),
            ("errors.connect", 0),
        ],
    );
    assert_server_agrees(run, server);
    let first_invalid = &run.json.as_ref().unwrap()["first_invalid"];
    assert!(
        first_invalid.is_null(),
        "first_invalid should be null\n{}",
        run.describe()
    );
}

/// The generator cannot complete more than the server answered, nor have the server receive
/// more than it sent.
fn assert_server_agrees(run: &Run, server: &Misbehaving) {
    assert!(
        run.n("completed") <= server.answered(),
        "completed {} > server answered {}\n{}",
        run.n("completed"),
        server.answered(),
        run.describe()
    );
    assert!(
        server.received() <= run.n("sent"),
        "server received {} > sent {}\n{}",
        server.received(),
        run.n("sent"),
        run.describe()
    );
}

/// Requests that never get an answer: all of them time out or are young and in flight at the
/// stop. Each connection's first `pipeline` requests were sent at the start, so they are older
/// than the timeout at the end and must be timeouts (mid-run or at the stop), never in flight.
fn assert_all_time_out(run: &Run, pipeline: u64) {
    assert_sane(run, 0);
    assert_counts(
        run,
        &[
            ("completed", 0),
            ("errors.read", 0),
            ("errors.write", 0),
            ("errors.invalid", 0),
            ("errors.connect", 0),
        ],
    );
    let d = run.describe();
    assert_eq!(
        run.n("sent"),
        run.n("errors.timeout") + run.n("in_flight_at_stop"),
        "{d}"
    );
    assert!(
        run.n("errors.timeout") >= CONNS * pipeline,
        "requests pending since the start (older than the timeout at the stop) must be timeouts: \
         expected >= {}\n{d}",
        CONNS * pipeline
    );
    assert!(
        run.n("in_flight_at_stop") <= CONNS * pipeline,
        "more requests in flight at the stop than connections x pipeline\n{d}"
    );
}

fn assert_invalid_run(run: &Run) {
    assert_sane(run, 0);
    assert_positive(run, &["errors.invalid", "connects"]);
    assert_counts(run, &[("completed", 0), ("errors.connect", 0)]);
    let first_invalid = &run.json.as_ref().unwrap()["first_invalid"];
    assert!(
        first_invalid.as_str().is_some_and(|s| !s.is_empty()),
        "first_invalid should describe the bad bytes\n{}",
        run.describe()
    );
    assert!(
        run.n("reconnects") > 0,
        "after invalid bytes the connection cannot be trusted: expected a reconnect\n{}",
        run.describe()
    );
}

fn valid_control(engine: &str) {
    let server = Misbehaving::start(Behaviour::Valid);
    let run = run_for(&["--io-engine", engine], &server.url());
    assert_valid_run(&run, &server, "success");
}

/// `-c 2 -n N` plus `extra` against `behaviour`: a valid run, exactly N sent and completed,
/// none in flight, and the server answered exactly N.
fn exact_count(engine: &str, behaviour: Behaviour, n: u64, extra: &[&str]) -> (Run, Misbehaving) {
    let server = Misbehaving::start(behaviour);
    let n_text = n.to_string();
    let mut args = vec!["--io-engine", engine, "-c", "2", "-n", &n_text];
    args.extend_from_slice(extra);
    let run = ceiling(&args, &server.url());
    assert_valid_run(&run, &server, "success");
    assert_counts(
        &run,
        &[("sent", n), ("completed", n), ("in_flight_at_stop", 0)],
    );
    assert_eq!(server.answered(), n, "server answered\n{}", run.describe());
    (run, server)
}

fn valid_exact_count_pipelined(engine: &str) {
    let (run, server) = exact_count(engine, Behaviour::Valid, 200, &["-p", "4"]);
    assert_eq!(
        server.received(),
        200,
        "server received\n{}",
        run.describe()
    );
}

fn reset_after_request_is_read_error(engine: &str) {
    let server = Misbehaving::start(Behaviour::ResetAfterRequest);
    let run = run_for(&["--io-engine", engine], &server.url());
    reset_checks(&run);
}

fn reset_checks(run: &Run) {
    assert_sane(run, 0);
    assert_positive(run, &["errors.read", "reconnects"]);
    assert_counts(
        run,
        &[
            ("completed", 0),
            ("errors.invalid", 0),
            ("errors.timeout", 0),
            ("errors.connect", 0),
        ],
    );
}

fn garbage_is_invalid(engine: &str) {
    let server = Misbehaving::start(Behaviour::Garbage);
    let run = run_for(&["--io-engine", engine], &server.url());
    assert_invalid_run(&run);
}

fn invalid_chunk_size_is_invalid(engine: &str) {
    let server = Misbehaving::start(Behaviour::InvalidChunkSize);
    let run = run_for(&["--io-engine", engine], &server.url());
    assert_invalid_run(&run);
}

fn never_answers_times_out_including_at_the_stop(engine: &str) {
    let server = Misbehaving::start(Behaviour::NeverAnswers);
    let run = run_for(&["--io-engine", engine], &server.url());
    assert_all_time_out(&run, 1);
}

fn never_answers_pipelined_times_out_every_request(engine: &str) {
    let server = Misbehaving::start(Behaviour::NeverAnswers);
    let run = run_for(&["--io-engine", engine, "-p", "4"], &server.url());
    assert_all_time_out(&run, 4);
}

fn never_accepted_backlog_times_out(engine: &str) {
    let listener = Unaccepted::bind();
    let run = run_for(&["--io-engine", engine], &listener.url());
    assert_all_time_out(&run, 1);
}

fn trickle_is_timeout_not_idle(engine: &str) {
    // One byte every 100 ms never leaves the connection idle for 500 ms, but the response
    // takes seconds: the timeout is per request, not per read.
    let server = Misbehaving::start(Behaviour::Trickle);
    let run = run_for(&["--io-engine", engine], &server.url());
    assert_all_time_out(&run, 1);
}

fn body_cut_short_is_read_error(engine: &str) {
    let server = Misbehaving::start(Behaviour::BodyCutShort);
    let run = run_for(&["--io-engine", engine], &server.url());
    assert_sane(&run, 0);
    assert_positive(&run, &["errors.read", "reconnects"]);
    assert_counts(
        &run,
        &[
            ("completed", 0),
            ("errors.invalid", 0),
            ("errors.timeout", 0),
            ("errors.connect", 0),
        ],
    );
}

fn not_modified_with_length_has_no_body(engine: &str) {
    let server = Misbehaving::start(Behaviour::NotModifiedWithLength);
    let run = run_for(&["--io-engine", engine], &server.url());
    assert_valid_run(&run, &server, "redirect");
}

fn head_with_length_has_no_body(engine: &str) {
    let server = Misbehaving::start(Behaviour::HeadWithLength);
    let run = run_for(&["--io-engine", engine, "-m", "HEAD"], &server.url());
    assert_valid_run(&run, &server, "success");
}

fn http10_close_delimited_completes_and_reconnects(engine: &str) {
    let server = Misbehaving::start(Behaviour::Http10CloseDelimited);
    let run = run_for(&["--io-engine", engine], &server.url());
    assert_valid_run(&run, &server, "success");
    assert_positive(&run, &["reconnects"]);
}

fn continue_100_then_200_completes(engine: &str) {
    let server = Misbehaving::start(Behaviour::Continue100);
    let run = run_for(&["--io-engine", engine], &server.url());
    assert_valid_run(&run, &server, "success");
    // shared::stats::StatusCounts: 1xx interim responses are counted in `informational`.
    assert_positive(&run, &["status.informational"]);
}

fn huge_headers_complete(engine: &str) {
    let server = Misbehaving::start(Behaviour::HugeHeaders);
    let run = run_for(&["--io-engine", engine], &server.url());
    assert_valid_run(&run, &server, "success");
    assert!(
        run.n("bytes_read") >= run.n("completed") * HUGE_HEADERS_BYTES as u64,
        "bytes_read should count the 64 KiB heads\n{}",
        run.describe()
    );
}

fn accept_then_close_is_read_or_write_error(engine: &str) {
    let server = Misbehaving::start(Behaviour::AcceptThenClose);
    let run = run_for(&["--io-engine", engine], &server.url());
    assert_sane(&run, 0);
    assert_positive(&run, &["connects"]);
    assert_counts(
        &run,
        &[
            ("completed", 0),
            ("errors.invalid", 0),
            ("errors.timeout", 0),
        ],
    );
    assert!(
        run.n("errors.read") + run.n("errors.write") > 0,
        "a connection closed before answering is a read (or write) error\n{}",
        run.describe()
    );
}

fn refused_port_exits_1_and_reports_connect_errors(engine: &str) {
    let port = RefusedPort::bind();
    let run = run_for(&["--io-engine", engine], &port.url());
    assert_sane(&run, 1);
    assert_positive(&run, &["errors.connect"]);
    assert_counts(&run, &[("connects", 0), ("sent", 0), ("completed", 0)]);
    assert!(
        !run.stderr.trim().is_empty(),
        "exit 1 should say why on stderr\n{}",
        run.describe()
    );
}

/// The client's own `Connection: close` (issue 11): every request is the last on its
/// connection, so with any `-p` exactly one is in flight per connection, each is read by the
/// server, and the close it asked for is never an error.
fn client_close_exact_count(engine: &str) {
    for p in ["1", "4"] {
        let (run, server) = exact_count(
            engine,
            Behaviour::ClosesWhenAsked,
            100,
            &["-p", p, "-H", "Connection: close"],
        );
        assert_eq!(
            server.received(),
            100,
            "-p {p}: server received\n{}",
            run.describe()
        );
        // One connection a request, and none opened for a request that a reconnect
        // under way already covers.
        assert_eq!(
            server.accepted(),
            100,
            "-p {p}: one connection a request\n{}",
            run.describe()
        );
    }
}

/// The client's `Connection: close` behind 70 other headers (more than any fixed header
/// array) is still seen: one request a connection, none an error.
fn client_close_behind_many_headers(engine: &str) {
    let headers: Vec<String> = (0..70).map(|i| format!("X-H{i}: v")).collect();
    let mut extra: Vec<&str> = vec!["-p", "4"];
    for h in &headers {
        extra.extend(["-H", h.as_str()]);
    }
    extra.extend(["-H", "Connection: close"]);
    let (run, server) = exact_count(engine, Behaviour::ClosesWhenAsked, 40, &extra);
    assert_eq!(server.received(), 40, "{}", run.describe());
}

/// The same for a timed run: no errors, and `sent` counts only requests the server could
/// still read (it read every one of them but those in flight at the stop).
fn client_close_for_a_duration(engine: &str) {
    let server = Misbehaving::start(Behaviour::ClosesWhenAsked);
    let run = run_for(
        &["--io-engine", engine, "-p", "4", "-H", "Connection: close"],
        &server.url(),
    );
    assert_valid_run(&run, &server, "success");
    let (sent, completed) = (run.n("sent"), run.n("completed"));
    assert!(completed > 10, "{}", run.describe());
    assert!(
        sent - completed <= CONNS,
        "in flight: one a connection\n{}",
        run.describe()
    );
    assert!(server.received() >= completed, "{}", run.describe());
    assert!(server.received() <= sent, "{}", run.describe());
}

/// A server that answers `Connection: close` on its own and closes: requests pipelined behind
/// that answer were never read, so they are sent again on the next connection and `-n` stays
/// exact, with no error.
fn server_close_exact_count(engine: &str) {
    exact_count(engine, Behaviour::AnswersClose, 60, &["-p", "4"]);
}

/// A close-delimited (HTTP/1.0) answer ends at the server's close, which is then on purpose:
/// requests pipelined behind it were never read, so they go out again on the next connection
/// (one answer a connection) and `-n` stays exact, with no error.
fn http10_close_delimited_pipelined_exact_count(engine: &str) {
    let (run, server) = exact_count(engine, Behaviour::Http10CloseDelimited, 60, &["-p", "8"]);
    assert_eq!(server.received(), 60, "server received\n{}", run.describe());
    assert!(
        (60..=60 + CONNS).contains(&server.accepted()),
        "one connection an answer\n{}",
        run.describe()
    );
    // For a duration too: no errors, and `sent` is what the server read but those in
    // flight at the stop (at most a pipeline a connection).
    let server = Misbehaving::start(Behaviour::Http10CloseDelimited);
    let run = run_for(&["--io-engine", engine, "-p", "4"], &server.url());
    assert_valid_run(&run, &server, "success");
    assert!(
        run.n("sent") - run.n("completed") <= 4 * CONNS,
        "in flight: a pipeline a connection at most\n{}",
        run.describe()
    );
    assert!(
        server.received() + 4 * CONNS >= run.n("sent"),
        "server received {}\n{}",
        server.received(),
        run.describe()
    );
}

/// A paced connection waiting for its next send notices the server's idle keep-alive close
/// and sends the next request on a new connection: every scheduled request completes, none is
/// an error.
fn paced_run_sees_an_idle_close(engine: &str) {
    let server = Misbehaving::start(Behaviour::ClosesWhenIdle);
    // 8 a second: 125 ms between sends, the server closes after 50 ms idle.
    let run = ceiling(
        &["--io-engine", engine, "-c", "1", "-R", "8", "-d", "1s"],
        &server.url(),
    );
    assert_valid_run(&run, &server, "success");
    let completed = run.n("completed");
    assert!(completed >= 6, "{}", run.describe());
    assert_eq!(run.n("sent"), completed + run.n("in_flight_at_stop"));
    assert!(server.accepted() >= completed, "{}", run.describe());
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
    valid_control,
    valid_exact_count_pipelined,
    reset_after_request_is_read_error,
    garbage_is_invalid,
    invalid_chunk_size_is_invalid,
    never_answers_times_out_including_at_the_stop,
    never_answers_pipelined_times_out_every_request,
    never_accepted_backlog_times_out,
    trickle_is_timeout_not_idle,
    body_cut_short_is_read_error,
    not_modified_with_length_has_no_body,
    head_with_length_has_no_body,
    http10_close_delimited_completes_and_reconnects,
    continue_100_then_200_completes,
    huge_headers_complete,
    accept_then_close_is_read_or_write_error,
    refused_port_exits_1_and_reports_connect_errors,
    client_close_exact_count,
    client_close_behind_many_headers,
    client_close_for_a_duration,
    server_close_exact_count,
    http10_close_delimited_pipelined_exact_count,
    paced_run_sees_an_idle_close,
);

/// The misbehaving server itself, talked to with std TcpStream (no generator needed).
mod server_self_check {
    use std::io::{ErrorKind, Read, Write};
    use std::net::TcpStream;
    use std::time::{Duration, Instant};

    use crate::support::misbehave::{
        parse_request, Behaviour, Misbehaving, RefusedPort, Request, Unaccepted, HUGE_HEADERS_BYTES,
    };

    const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

    fn connect(server: &Misbehaving) -> TcpStream {
        let s = TcpStream::connect(server.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s
    }

    /// Reads until `want` bytes or EOF.
    fn read_n(s: &mut TcpStream, want: usize) -> Vec<u8> {
        let mut out = vec![0u8; want];
        let mut got = 0;
        while got < want {
            match s.read(&mut out[got..]).unwrap() {
                0 => break,
                n => got += n,
            }
        }
        out.truncate(got);
        out
    }

    fn read_to_end(s: &mut TcpStream) -> Vec<u8> {
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn parses_pipelined_requests_and_bodies() {
        assert_eq!(parse_request(b"GET / HTTP/1.1\r\n"), Ok(None));
        let post = b"POST /x HTTP/1.1\r\ncontent-length: 3\r\n\r\nab";
        assert_eq!(parse_request(post), Ok(None));
        let mut full = post.to_vec();
        full.extend_from_slice(b"cGET");
        assert_eq!(
            parse_request(&full),
            Ok(Some(Request {
                method: "POST".into(),
                len: post.len() + 1,
                close: false,
            }))
        );
        assert!(parse_request(b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n").is_err());
    }

    #[test]
    fn valid_answers_each_pipelined_request() {
        let server = Misbehaving::start(Behaviour::Valid);
        let mut s = connect(&server);
        let mut reqs = GET.to_vec();
        reqs.extend_from_slice(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
        reqs.extend_from_slice(GET);
        // Split across writes, mid-head and mid-body.
        s.write_all(&reqs[..10]).unwrap();
        s.write_all(&reqs[10..50]).unwrap();
        s.write_all(&reqs[50..]).unwrap();
        let one = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
        let got = read_n(&mut s, 3 * one.len());
        assert_eq!(got, one.repeat(3));
        assert_eq!(
            (server.accepted(), server.received(), server.answered()),
            (1, 3, 3)
        );
    }

    #[test]
    fn reset_after_request_sends_rst() {
        let server = Misbehaving::start(Behaviour::ResetAfterRequest);
        let mut s = connect(&server);
        s.write_all(GET).unwrap();
        let err = s.read(&mut [0u8; 64]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionReset);
        assert_eq!(server.answered(), 0);
    }

    #[test]
    fn garbage_and_invalid_chunk() {
        let server = Misbehaving::start(Behaviour::Garbage);
        let mut s = connect(&server);
        s.write_all(GET).unwrap();
        assert_eq!(read_n(&mut s, 19), b"NOT HTTP AT ALL\r\n\r\n");

        let server = Misbehaving::start(Behaviour::InvalidChunkSize);
        let mut s = connect(&server);
        s.write_all(GET).unwrap();
        let want = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n";
        assert_eq!(read_n(&mut s, want.len()), want);
    }

    #[test]
    fn never_answers_and_unaccepted_stay_silent() {
        let server = Misbehaving::start(Behaviour::NeverAnswers);
        let mut s = connect(&server);
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        s.write_all(GET).unwrap();
        let err = s.read(&mut [0u8; 16]).unwrap_err();
        assert!(matches!(
            err.kind(),
            ErrorKind::WouldBlock | ErrorKind::TimedOut
        ));
        assert_eq!(server.received(), 1);

        let listener = Unaccepted::bind();
        let mut s = TcpStream::connect(listener.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        s.write_all(GET).unwrap();
        let err = s.read(&mut [0u8; 16]).unwrap_err();
        assert!(matches!(
            err.kind(),
            ErrorKind::WouldBlock | ErrorKind::TimedOut
        ));
    }

    #[test]
    fn trickle_sends_one_byte_at_a_time() {
        let server = Misbehaving::start(Behaviour::Trickle);
        let mut s = connect(&server);
        s.write_all(GET).unwrap();
        let start = Instant::now();
        let mut got = Vec::new();
        while got.len() < 3 {
            let mut b = [0u8; 16];
            let n = s.read(&mut b).unwrap();
            got.extend_from_slice(&b[..n]);
        }
        assert_eq!(got, b"HTT");
        assert!(start.elapsed() >= Duration::from_millis(190));
        // Dropping a server mid-trickle returns promptly.
        let t = Instant::now();
        drop(server);
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "drop took {:?}",
            t.elapsed()
        );
    }

    #[test]
    fn body_cut_short_closes_after_ten_bytes() {
        let server = Misbehaving::start(Behaviour::BodyCutShort);
        let mut s = connect(&server);
        s.write_all(GET).unwrap();
        assert_eq!(
            read_to_end(&mut s),
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"
        );
    }

    #[test]
    fn legal_odd_framing() {
        let server = Misbehaving::start(Behaviour::NotModifiedWithLength);
        let mut s = connect(&server);
        s.write_all(&GET.repeat(2)).unwrap();
        let one = b"HTTP/1.1 304 Not Modified\r\nETag: \"ceiling\"\r\nContent-Length: 1234\r\n\r\n";
        assert_eq!(read_n(&mut s, 2 * one.len()), one.repeat(2));

        let server = Misbehaving::start(Behaviour::HeadWithLength);
        let mut s = connect(&server);
        s.write_all(b"HEAD / HTTP/1.1\r\n\r\n").unwrap();
        s.write_all(GET).unwrap();
        let head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1234\r\n\r\n";
        let got = read_n(&mut s, 2 * head.len() + 1234);
        assert_eq!(&got[..head.len()], head);
        assert_eq!(&got[head.len()..2 * head.len()], head);
        assert_eq!(got.len(), 2 * head.len() + 1234);

        let server = Misbehaving::start(Behaviour::Http10CloseDelimited);
        let mut s = connect(&server);
        s.write_all(GET).unwrap();
        let got = read_to_end(&mut s);
        assert_eq!(
            got,
            b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nclose-delimited body"
        );

        let server = Misbehaving::start(Behaviour::Continue100);
        let mut s = connect(&server);
        s.write_all(GET).unwrap();
        let want = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(read_n(&mut s, want.len()), want);
    }

    #[test]
    fn huge_headers_are_64_kib() {
        let server = Misbehaving::start(Behaviour::HugeHeaders);
        let mut s = connect(&server);
        s.write_all(&GET.repeat(2)).unwrap();
        let first = b"HTTP/1.1 200 OK\r\n".len();
        let tail = b"Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
        let len = first + HUGE_HEADERS_BYTES + tail.len();
        let got = read_n(&mut s, 2 * len);
        assert_eq!(got.len(), 2 * len);
        assert!(got[..len].ends_with(tail));
        assert!(got[len..].ends_with(tail));
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        assert!(resp.parse(&got[..len]).unwrap().is_complete());
        assert_eq!(server.answered(), 2);
    }

    #[test]
    fn accept_then_close_and_refused() {
        let server = Misbehaving::start(Behaviour::AcceptThenClose);
        let mut s = connect(&server);
        match s.read(&mut [0u8; 16]) {
            Ok(0) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            other => panic!("expected EOF or reset, got {other:?}"),
        }

        let port = RefusedPort::bind();
        let err = TcpStream::connect(port.addr()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    }

    #[test]
    fn drop_is_prompt_with_open_connections() {
        let server = Misbehaving::start(Behaviour::NeverAnswers);
        let conns: Vec<TcpStream> = (0..8).map(|_| connect(&server)).collect();
        for mut c in &conns {
            c.write_all(GET).unwrap();
        }
        // Readiness: every connection has been accepted and served (bounded poll).
        let deadline = Instant::now() + Duration::from_secs(5);
        while server.received() < 8 {
            assert!(Instant::now() < deadline, "server did not read 8 requests");
            std::thread::yield_now();
        }
        let t = Instant::now();
        drop(server);
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "drop took {:?}",
            t.elapsed()
        );
        for mut c in &conns {
            assert_eq!(
                c.read(&mut [0u8; 16]).unwrap(),
                0,
                "connection closed on drop"
            );
        }
    }
}
