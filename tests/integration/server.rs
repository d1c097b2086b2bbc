//! `ceiling serve` against real sockets, with each I/O engine: every route, pipelining,
//! every refusal (400, 431, 413), slowloris and idle handling, HTTP/1.0 and
//! `Connection: close`, the stats endpoint and graceful shutdown.
//!
//! Every socket has a read timeout and every wait is bounded; the tests wait on
//! readiness (the printed address, a response, a close), never on fixed sleeps.

use crate::support::{start_server, Server};
use serde_json::Value;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Longest any single read may block before the test fails.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// One parsed response.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A client connection with a read buffer that survives between responses.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    fn send(&mut self, raw: &[u8]) {
        self.stream.write_all(raw).expect("write request");
    }

    /// Reads more bytes; false at end of stream. Panics on timeout.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 64 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => false,
            Err(e) if e.kind() == ErrorKind::Interrupted => true,
            Err(e) => panic!("read failed (timeout?): {e}"),
        }
    }

    /// Reads one response; `head_only` for answers to HEAD.
    fn response(&mut self, head_only: bool) -> Resp {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut r = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(n) = r.parse(&self.buf).expect("valid response") {
                let status = r.code.unwrap();
                let headers: Vec<(String, String)> = r
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_string(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                let len: usize = if head_only || status == 204 || status == 304 || status == 100 {
                    0
                } else {
                    headers
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                        .map(|(_, v)| v.parse().unwrap())
                        .expect("every response has a Content-Length")
                };
                while self.buf.len() < n + len {
                    assert!(self.fill(), "connection closed inside a body");
                }
                let body = self.buf[n..n + len].to_vec();
                self.buf.drain(..n + len);
                return Resp {
                    status,
                    headers,
                    body,
                };
            }
            assert!(self.fill(), "connection closed before a response");
        }
    }

    /// Sends one request and reads its response.
    fn roundtrip(&mut self, raw: &[u8]) -> Resp {
        self.send(raw);
        self.response(raw.starts_with(b"HEAD "))
    }

    /// True when the server closes the connection (EOF or reset) with nothing
    /// more to read, within the read timeout.
    fn closed(&mut self) -> bool {
        while self.fill() {}
        self.buf.is_empty()
    }
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes()
}

fn stats(addr: SocketAddr) -> Value {
    let mut c = Client::connect(addr);
    let r = c.roundtrip(b"GET /__ceiling/stats HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    serde_json::from_slice(&r.body).expect("stats is JSON")
}

/// Starts a server on `engine`, or None when io_uring is unavailable here
/// (the uring variants are then skipped, loudly).
fn serve(engine: &str, extra: &[&str]) -> Option<Server> {
    if engine == "uring"
        && shared::runtime::choose_engine(shared::runtime::IoEngine::Uring).is_err()
    {
        eprintln!("io_uring unavailable here: skipping the uring variant");
        return None;
    }
    let mut args = vec!["--io-engine", engine];
    args.extend_from_slice(extra);
    Some(start_server(&args))
}

fn routes(engine: &str) {
    let Some(s) = serve(engine, &[]) else { return };
    let mut c = Client::connect(s.addr);
    for path in ["/", "/plaintext"] {
        let r = c.roundtrip(&get(path));
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"Hello, World!");
        assert_eq!(r.header("content-type"), Some("text/plain"));
        assert_eq!(r.header("server"), Some("ceiling"));
        let date = r.header("date").expect("Date header");
        assert!(date.ends_with(" GMT") && date.len() == 29, "{date}");
    }
    let r = c.roundtrip(&get("/json"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body, br#"{"message":"Hello, World!"}"#);

    // HEAD: headers only, with the GET length; the next response must still parse.
    let r = c.roundtrip(b"HEAD /plaintext HTTP/1.1\r\n\r\n");
    assert_eq!((r.status, r.header("content-length")), (200, Some("13")));
    let r = c.roundtrip(b"HEAD /bytes/5000 HTTP/1.1\r\n\r\n");
    assert_eq!(r.header("content-length"), Some("5000"));
    assert_eq!(c.roundtrip(&get("/json")).status, 200);

    for n in [0usize, 1, 100, 65_536, 300_001] {
        let r = c.roundtrip(&get(&format!("/bytes/{n}")));
        assert_eq!(r.status, 200);
        assert_eq!(r.body.len(), n);
    }
    let r = c.roundtrip(&get("/bytes/1073741825"));
    assert_eq!(r.status, 400);
    c = Client::connect(s.addr);

    let t = Instant::now();
    let r = c.roundtrip(&get("/delay/150"));
    assert_eq!((r.status, r.body.as_slice()), (200, &b"Hello, World!"[..]));
    assert!(t.elapsed() >= Duration::from_millis(150));

    for code in [200u16, 201, 302, 404, 418, 503, 599] {
        let r = c.roundtrip(&get(&format!("/status/{code}")));
        assert_eq!(r.status, code);
        assert_eq!(r.header("content-length"), Some("0"));
    }
    for code in [204u16, 304] {
        let r = c.roundtrip(&get(&format!("/status/{code}")));
        assert_eq!(r.status, code);
        assert_eq!(r.header("content-length"), None);
    }
    assert_eq!(c.roundtrip(&get("/status/99")).status, 400);
    c = Client::connect(s.addr);
    assert_eq!(c.roundtrip(&get("/status/600")).status, 400);
    c = Client::connect(s.addr);

    let r = c.roundtrip(b"POST /echo HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello world"[..]));
    let r = c.roundtrip(
        b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1;ext=1\r\n!\r\n0\r\n\r\n",
    );
    assert_eq!(r.body, b"hello!");
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let mut req = format!(
        "POST /echo HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
        big.len()
    )
    .into_bytes();
    req.extend_from_slice(&big);
    assert!(c.roundtrip(&req).body == big, "echo of 200 kB differs");
    // Expect: 100-continue gets its interim response before the body is sent.
    c.send(b"POST /echo HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
    assert_eq!(c.response(false).status, 100);
    c.send(b"abc");
    assert_eq!(c.response(false).body, b"abc");

    let r = c.roundtrip(&get("/nope"));
    assert_eq!(r.status, 404);
    // Any method works on the simple routes.
    let r = c.roundtrip(b"DELETE /plaintext HTTP/1.1\r\n\r\n");
    assert_eq!(r.body, b"Hello, World!");
}

fn pipelining(engine: &str) {
    let Some(s) = serve(engine, &[]) else { return };
    let mut c = Client::connect(s.addr);
    // 16 requests in one write; a delay and a streamed body in the middle must
    // not reorder anything.
    let mut batch = Vec::new();
    let mut expect = Vec::new();
    for i in 0..16u16 {
        let path = match i {
            3 => "/delay/50".to_string(),
            7 => "/bytes/70000".to_string(),
            11 => "/json".to_string(),
            _ => format!("/status/{}", 200 + i),
        };
        batch.extend_from_slice(&get(&path));
        expect.push((
            path.clone(),
            if path.starts_with("/status/") {
                200 + i
            } else {
                200
            },
        ));
    }
    c.send(&batch);
    for (path, status) in &expect {
        let r = c.response(false);
        assert_eq!(r.status, *status, "{path}");
        match path.as_str() {
            "/delay/50" => assert_eq!(r.body, b"Hello, World!"),
            "/bytes/70000" => assert_eq!(r.body.len(), 70_000),
            "/json" => assert_eq!(r.body, br#"{"message":"Hello, World!"}"#),
            _ => assert!(r.body.is_empty()),
        }
    }
    // 16 plaintext requests, byte-split at an awkward point, still 16 answers.
    let one = get("/plaintext");
    let all: Vec<u8> = one.iter().copied().cycle().take(one.len() * 16).collect();
    c.send(&all[..37]);
    c.send(&all[37..]);
    for _ in 0..16 {
        assert_eq!(c.response(false).body, b"Hello, World!");
    }
}

fn refusals(engine: &str) {
    let Some(s) = serve(engine, &["--max-body", "1024"]) else {
        return;
    };

    let mut c = Client::connect(s.addr);
    let r = c.roundtrip(b"BLAH\x01\x02 nonsense\r\n\r\n");
    assert_eq!(r.status, 400);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed());

    let mut c = Client::connect(s.addr);
    let mut req = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..17 {
        req.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "a".repeat(1000)).as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    let r = c.roundtrip(&req);
    assert_eq!(r.status, 431);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed());

    let mut c = Client::connect(s.addr);
    let mut req = b"POST /echo HTTP/1.1\r\nContent-Length: 4096\r\n\r\n".to_vec();
    req.extend_from_slice(&[b'z'; 4096]);
    let r = c.roundtrip(&req);
    assert_eq!(r.status, 413);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed());

    // A chunked body over the limit is refused too.
    let mut c = Client::connect(s.addr);
    let r = c.roundtrip(b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n");
    assert_eq!(r.status, 413);

    // Within the limit still works.
    let mut c = Client::connect(s.addr);
    let mut req = b"POST /echo HTTP/1.1\r\nContent-Length: 1024\r\n\r\n".to_vec();
    req.extend_from_slice(&[b'k'; 1024]);
    assert_eq!(c.roundtrip(&req).body.len(), 1024);

    // The server counts a refusal after answering it: poll (bounded) for the counts.
    let want = |v: &Value| {
        let e = &v["errors"];
        e["bad_request"] == 1 && e["header_too_large"] == 1 && e["body_too_large"] == 2
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    while !want(&stats(s.addr)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let errors = &stats(s.addr)["errors"];
    assert_eq!(errors["bad_request"], 1);
    assert_eq!(errors["header_too_large"], 1);
    assert_eq!(errors["body_too_large"], 2);
}

fn slowloris(engine: &str) {
    let Some(s) = serve(
        engine,
        &["--header-timeout", "300ms", "--idle-timeout", "30s"],
    ) else {
        return;
    };
    let mut c = Client::connect(s.addr);
    // A request is fine; then half a head, and silence.
    assert_eq!(c.roundtrip(&get("/plaintext")).status, 200);
    let t = Instant::now();
    c.send(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n");
    assert!(c.closed(), "the server must close a stalled head");
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "closed too early: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(3),
        "closed too late: {waited:?}"
    );
    // The client can see the close before the server's connection task has
    // counted it: poll the counter (bounded) instead of reading it once.
    let deadline = Instant::now() + Duration::from_secs(3);
    while stats(s.addr)["errors"]["timeouts"] != 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(stats(s.addr)["errors"]["timeouts"], 1);
}

fn idle_timeout(engine: &str) {
    let Some(s) = serve(engine, &["--idle-timeout", "300ms"]) else {
        return;
    };
    let mut c = Client::connect(s.addr);
    assert_eq!(c.roundtrip(&get("/")).status, 200);
    let t = Instant::now();
    assert!(c.closed());
    assert!(t.elapsed() >= Duration::from_millis(250));
}

fn connection_handling(engine: &str) {
    let Some(s) = serve(engine, &[]) else { return };

    let mut c = Client::connect(s.addr);
    let r = c.roundtrip(b"GET /plaintext HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed());

    let mut c = Client::connect(s.addr);
    let r = c.roundtrip(b"GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(r.header("connection"), Some("keep-alive"));
    let r = c.roundtrip(b"GET /json HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(r.status, 200);

    let mut c = Client::connect(s.addr);
    let r = c.roundtrip(b"GET /json HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed());

    // Requests pipelined after a `Connection: close` one are not answered.
    let mut c = Client::connect(s.addr);
    c.send(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET /json HTTP/1.1\r\n\r\n");
    assert_eq!(c.response(false).body, b"Hello, World!");
    assert!(c.closed());
}

fn stats_endpoint(engine: &str) {
    let Some(s) = serve(engine, &[]) else { return };
    let before = stats(s.addr);
    for key in [
        "requests",
        "bytes_read",
        "bytes_written",
        "connections_accepted",
        "connections_open",
    ] {
        assert!(before[key].is_u64(), "{key} missing: {before}");
    }
    for key in [
        "bad_request",
        "header_too_large",
        "body_too_large",
        "timeouts",
        "rejected",
        "io",
    ] {
        assert!(before["errors"][key].is_u64(), "errors.{key} missing");
    }
    let workers = before["workers"].as_array().unwrap();
    assert!(!workers.is_empty());
    for w in workers {
        assert!(w["cpu"].is_u64() && w["requests"].is_u64() && w["errors"]["io"].is_u64());
    }
    // The stats request itself was not counted.
    assert_eq!(before["requests"], 0);

    let mut c = Client::connect(s.addr);
    for _ in 0..5 {
        assert_eq!(c.roundtrip(&get("/plaintext")).status, 200);
    }
    c.send(&get("/json").repeat(7));
    for _ in 0..7 {
        c.response(false);
    }
    let after = stats(s.addr);
    assert_eq!(
        after["requests"].as_u64().unwrap() - before["requests"].as_u64().unwrap(),
        12
    );
    let per_worker: u64 = after["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(per_worker, 12);
    assert!(after["connections_accepted"].as_u64().unwrap() >= 3);
    assert!(after["connections_open"].as_u64().unwrap() >= 2);
}

fn max_conns(engine: &str) {
    let Some(s) = serve(engine, &["--cpus", "0", "--max-conns-per-worker", "1"]) else {
        return;
    };
    let mut first = Client::connect(s.addr);
    assert_eq!(first.roundtrip(&get("/")).status, 200);
    // Over the cap: accepted and closed at once (the write may already fail).
    let mut second = Client::connect(s.addr);
    let _ = second.stream.write_all(&get("/"));
    assert!(second.closed());
    drop(first);
    // Once the first is gone, new connections are served again; the worker
    // notices the close asynchronously, so retry within a bound.
    let deadline = Instant::now() + Duration::from_secs(5);
    let v = loop {
        if let Some(v) = try_stats(s.addr) {
            break v;
        }
        assert!(Instant::now() < deadline, "the server never served again");
    };
    assert!(v["errors"]["rejected"].as_u64().unwrap() >= 1);
}

/// The stats document, or None when the connection is closed without one.
fn try_stats(addr: SocketAddr) -> Option<Value> {
    let mut c = Client::connect(addr);
    c.stream
        .write_all(b"GET /__ceiling/stats HTTP/1.1\r\nConnection: close\r\n\r\n")
        .ok()?;
    while c.fill() {}
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut r = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(n) = r.parse(&c.buf).ok()? else {
        return None;
    };
    serde_json::from_slice(&c.buf[n..]).ok()
}

fn graceful_shutdown(engine: &str) {
    let dir = std::env::temp_dir().join(format!(
        "ceiling-serve-{}-{engine}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("summary.json");
    let json_arg = json.to_str().unwrap().to_string();
    let Some(mut s) = serve(engine, &["--grace", "5s", "--json", &json_arg]) else {
        return;
    };
    let mut c = Client::connect(s.addr);
    for _ in 0..3 {
        assert_eq!(c.roundtrip(&get("/plaintext")).status, 200);
    }
    // An in-flight slow response must still be delivered after the signal. The
    // first answer of the pipelined pair proves the server is inside the delay.
    let mut slow = Client::connect(s.addr);
    let mut pair = get("/plaintext");
    pair.extend_from_slice(&get("/delay/400"));
    slow.send(&pair);
    assert_eq!(slow.response(false).status, 200);
    let pid = s.child.id() as libc::pid_t;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let r = slow.response(false);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"Hello, World!"[..]));
    assert!(slow.closed());
    // The idle keep-alive connection is closed by the stop.
    assert!(c.closed());

    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "server did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    let mut summary = None;
    while let Ok(line) = s.stdout.recv_timeout(Duration::from_secs(2)) {
        if line.contains(" requests in ") {
            summary = Some(line);
        }
    }
    let line = summary.expect("summary line");
    assert!(line.starts_with("ceiling serve: 5 requests in "), "{line}");
    assert!(line.contains("req/s); per worker: cpu"), "{line}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["requests"], 5);
    assert!(v["elapsed_s"].as_f64().unwrap() > 0.0);
    assert!(v["workers"].is_array() && v["errors"].is_object());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_usage_exits_2_with_one_line() {
    let out = std::process::Command::new(crate::support::ceiling_bin())
        .args(["serve", "--io-engine", "kqueue"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let out = std::process::Command::new(crate::support::ceiling_bin())
        .args(["serve", "--header-timeout", "soon"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_unwritable_json_path_exits_2_before_serving() {
    // Found before a socket is opened, as the generator's outputs are (not at the stop).
    let mut child = std::process::Command::new(crate::support::ceiling_bin())
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--json",
            "/nonexistent/x.json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Bounded: a server that started serving is killed (by its own handle) and fails.
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ceiling serve started serving with an unwritable --json");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot write --json /nonexistent/x.json"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).trim().is_empty());
}

#[test]
fn a_taken_port_exits_2() {
    // Bad usage before a connection is accepted (issue 11: a port in use).
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let out = std::process::Command::new(crate::support::ceiling_bin())
        .args(["serve", "--bind", &taken.local_addr().unwrap().to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already in use"));
}

/// The same checks with each engine.
macro_rules! per_engine {
    ($($engine:ident),*) => {$(
        mod $engine {
            const ENGINE: &str = stringify!($engine);
            #[test] fn routes() { super::routes(ENGINE) }
            #[test] fn pipelining() { super::pipelining(ENGINE) }
            #[test] fn refusals() { super::refusals(ENGINE) }
            #[test] fn slowloris() { super::slowloris(ENGINE) }
            #[test] fn idle_timeout() { super::idle_timeout(ENGINE) }
            #[test] fn connection_handling() { super::connection_handling(ENGINE) }
            #[test] fn stats_endpoint() { super::stats_endpoint(ENGINE) }
            #[test] fn max_conns() { super::max_conns(ENGINE) }
            #[test] fn graceful_shutdown() { super::graceful_shutdown(ENGINE) }
        }
    )*};
}

per_engine!(uring, epoll);
