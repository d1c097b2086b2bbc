//! wrk scripts (`-s`) and requests files (`--requests-file`) against the real
//! `ceiling serve` and against a small recording server here that keeps every
//! request it got (method, path, headers, body) and answers by path.

use crate::support::{run_ceiling, start_server, Finished};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WATCHDOG: Duration = Duration::from_secs(40);

/// One request as the recording server read it.
#[derive(Debug, Clone, PartialEq)]
struct Got {
    method: String,
    path: String,
    /// (lower-cased name, value), in order.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A thread-per-connection HTTP/1.1 server that records what it got. `/login`
/// and `/authenticate` answer `{"token":"t-42"}` with `X-Token: t-42`; other paths answer `ok:PATH`.
struct Recorder {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Recorder {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = Arc::clone(&got);
        std::thread::spawn(move || {
            for s in listener.incoming() {
                let Ok(s) = s else { break };
                let g = Arc::clone(&g);
                std::thread::spawn(move || serve(s, g));
            }
        });
        Self { addr, got }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }
}

fn serve(s: TcpStream, got: Arc<Mutex<Vec<Got>>>) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let len = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0usize);
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let answer = if path == "/login" || path == "/authenticate" {
            "HTTP/1.1 200 OK\r\nX-Token: t-42\r\nContent-Length: 16\r\n\r\n{\"token\":\"t-42\"}"
                .to_string()
        } else {
            let b = format!("ok:{path}");
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{b}", b.len())
        };
        got.lock().unwrap().push(Got {
            method,
            path,
            headers,
            body,
        });
        if w.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// A file under the temp dir with `text`, removed on drop.
struct Temp(std::path::PathBuf);

impl Temp {
    fn new(name: &str, text: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ceiling-scripts-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        Self(p)
    }
    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
    fn dir(&self) -> std::path::PathBuf {
        self.0.parent().unwrap().to_path_buf()
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.dir());
    }
}

fn ceiling(args: &[&str]) -> Finished {
    run_ceiling(args, WATCHDOG)
}

/// Runs with `--json FILE` and returns the output and the parsed result.
fn run_json(args: &[&str]) -> (Finished, Value) {
    let t = Temp::new("result.json", "");
    let mut argv = vec!["--json", t.path()];
    argv.extend_from_slice(args);
    let out = ceiling(&argv);
    let text = std::fs::read_to_string(t.path()).unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}) for {args:?}\nstdout: {}\nstderr: {}",
            out.stdout, out.stderr
        )
    });
    (out, json)
}

fn completed(j: &Value) -> u64 {
    j["counters"]["completed"].as_u64().unwrap()
}

fn script_errors(j: &Value) -> u64 {
    j["counters"]["errors"]["script"].as_u64().unwrap_or(0)
}

const POST_JSON: &str = r#"
wrk.method = "POST"
wrk.body   = '{"name":"ceiling","n":1}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer secret-token"
"#;

#[test]
fn post_json_script_sends_the_body_and_headers_exactly() {
    let rec = Recorder::start();
    let s = Temp::new("post.lua", POST_JSON);
    let (out, j) = run_json(&[
        "-c",
        "2",
        "-t",
        "1",
        "-n",
        "50",
        "-s",
        s.path(),
        &rec.url("/api"),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(completed(&j), 50);
    let got = rec.got();
    assert_eq!(got.len(), 50);
    for g in &got {
        assert_eq!(g.method, "POST");
        assert_eq!(g.path, "/api");
        assert_eq!(g.body, br#"{"name":"ceiling","n":1}"#);
        assert_eq!(g.header("content-type"), Some("application/json"));
        assert_eq!(g.header("authorization"), Some("Bearer secret-token"));
        assert_eq!(g.header("content-length"), Some("24"));
        assert_eq!(g.header("host"), Some(rec.addr.to_string().as_str()));
    }
    // And against the ceiling server's /echo: the body comes back.
    let server = start_server(&["--cpus", "0"]);
    let (out, j) = run_json(&[
        "-c",
        "2",
        "-t",
        "1",
        "-n",
        "100",
        "-s",
        s.path(),
        &format!("{}/echo", server.url()),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(completed(&j), 100);
    assert_eq!(j["counters"]["status"]["success"].as_u64(), Some(100));
}

#[test]
fn wrk_sends_the_same_requests_for_the_same_script() {
    if std::process::Command::new("wrk")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("wrk is not installed: skipped");
        return;
    }
    let rec = Recorder::start();
    let s = Temp::new("post.lua", POST_JSON);
    let out = ceiling(&[
        "-c",
        "1",
        "-t",
        "1",
        "-n",
        "5",
        "-s",
        s.path(),
        &rec.url("/api?x=1"),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let ours = rec.got();
    let wrk_rec = Recorder::start();
    let status = std::process::Command::new("timeout")
        .args([
            "20",
            "wrk",
            "-c",
            "1",
            "-t",
            "1",
            "-d",
            "1s",
            "-s",
            s.path(),
            &wrk_rec.url("/api?x=1"),
        ])
        .output()
        .unwrap();
    assert!(status.status.success());
    let theirs = wrk_rec.got();
    assert!(!theirs.is_empty());
    let norm = |g: &Got| {
        // Each recorder has its own port: Host is checked against it below.
        let mut h: Vec<(String, String)> = g
            .headers
            .iter()
            .filter(|(k, _)| k != "host")
            .cloned()
            .collect();
        h.sort();
        (g.method.clone(), g.path.clone(), h, g.body.clone())
    };
    assert_eq!(norm(&ours[0]), norm(&theirs[0]));
    assert_eq!(ours[0].header("host"), Some(rec.addr.to_string().as_str()));
    assert_eq!(
        theirs[0].header("host"),
        Some(wrk_rec.addr.to_string().as_str())
    );
}

#[test]
fn a_static_script_makes_no_lua_call_per_request() {
    // wrk.format is wrapped to log each call: the fast path formats once, at load.
    let log = Temp::new("calls.log", "");
    let text = format!(
        r#"
local real = wrk.format
wrk.format = function(...)
  local f = io.open("{}", "a"); f:write("format\n"); f:close()
  return real(...)
end
wrk.path = "/static"
"#,
        log.path()
    );
    let s = Temp::new("static.lua", &text);
    let rec = Recorder::start();
    let (out, j) = run_json(&[
        "-c",
        "4",
        "-t",
        "2",
        "-n",
        "400",
        "-s",
        s.path(),
        &rec.url("/"),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(completed(&j), 400);
    assert!(rec.got().iter().all(|g| g.path == "/static"));
    let calls = std::fs::read_to_string(log.path()).unwrap().lines().count();
    assert_eq!(calls, 1, "one format at load, none per request");
}

#[test]
fn counter_rotates_paths_exactly() {
    let rec = Recorder::start();
    let s = Temp::new(
        "counter.lua",
        r#"
counter = 0
request = function()
  local path = "/p/" .. (counter % 20)
  counter = counter + 1
  return wrk.format(nil, path)
end
"#,
    );
    let (out, j) = run_json(&[
        "-c",
        "1",
        "-t",
        "1",
        "-n",
        "60",
        "-s",
        s.path(),
        &rec.url("/"),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(completed(&j), 60);
    let got = rec.got();
    for k in 0..20 {
        let n = got.iter().filter(|g| g.path == format!("/p/{k}")).count();
        assert_eq!(n, 3, "/p/{k}");
    }
    // Against ceiling serve, through its /bytes/N route, with a response() check.
    let server = start_server(&["--cpus", "0"]);
    let s = Temp::new(
        "bytes.lua",
        r#"
counter = 0
checked = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/bytes/" .. (counter % 20))
end
response = function(status, headers, body)
  if status ~= 200 or #body ~= tonumber(headers["Content-Length"]) then
    error("bad response")
  end
  checked = checked + 1
end
"#,
    );
    let (out, j) = run_json(&[
        "-c",
        "2",
        "-t",
        "1",
        "-n",
        "200",
        "-s",
        s.path(),
        &server.url(),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(completed(&j), 200);
    assert_eq!(script_errors(&j), 0, "{}", out.stderr);
}

#[test]
fn response_body_checks_and_a_custom_done_summary() {
    let rec = Recorder::start();
    let s = Temp::new(
        "check.lua",
        r#"
threads = {}
function setup(thread)
  table.insert(threads, thread)
end
good, bad = 0, 0
function response(status, headers, body)
  if body == "ok:/check" then good = good + 1 else bad = bad + 1 end
end
function done(summary, latency, requests)
  local g, b = 0, 0
  for _, t in ipairs(threads) do
    g = g + t:get("good")
    b = b + t:get("bad")
  end
  io.write(string.format("SUMMARY requests=%d good=%d bad=%d errors=%d\n",
    summary.requests, g, b, summary.errors.connect + summary.errors.read
      + summary.errors.tls + summary.errors.tls_handshake))
  io.write(string.format("LATENCY min<=p50 %s p50<=p99 %s p99<=max %s n=%d first=%s\n",
    tostring(latency.min <= latency:percentile(50)),
    tostring(latency:percentile(50) <= latency:percentile(99)),
    tostring(latency:percentile(99) <= latency.max),
    #latency, tostring(latency[1] ~= nil)))
end
"#,
    );
    let out = ceiling(&[
        "-c",
        "4",
        "-t",
        "2",
        "-n",
        "300",
        "-s",
        s.path(),
        &rec.url("/check"),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout
            .contains("SUMMARY requests=300 good=300 bad=0 errors=0"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("LATENCY min<=p50 true p50<=p99 true p99<=max true"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("first=true"), "{}", out.stdout);
}

#[test]
fn an_auth_flow_reads_the_token_from_a_response() {
    let rec = Recorder::start();
    let s = Temp::new(
        "auth.lua",
        r#"
token = nil
request = function()
  if not token then
    return wrk.format("POST", "/login", nil, "user=a&password=b")
  end
  return wrk.format("GET", "/me", { ["Authorization"] = "Bearer " .. token })
end
response = function(status, headers, body)
  if not token and status == 200 then
    token = body:match('"token":"([^"]+)"')
  end
end
"#,
    );
    let out = ceiling(&[
        "-c",
        "1",
        "-t",
        "1",
        "-n",
        "20",
        "-s",
        s.path(),
        &rec.url("/"),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let got = rec.got();
    assert_eq!(got.len(), 20);
    assert_eq!(got[0].path, "/login");
    assert_eq!(got[0].body, b"user=a&password=b");
    for g in &got[1..] {
        assert_eq!(g.path, "/me");
        assert_eq!(g.header("authorization"), Some("Bearer t-42"));
    }
}

#[test]
fn setup_gives_each_thread_its_values() {
    let rec = Recorder::start();
    let s = Temp::new(
        "setup.lua",
        r#"
local n = 0
function setup(thread)
  n = n + 1
  thread:set("id", n)
  thread:set("tags", { "a", "b" })
end
function request()
  return wrk.format(nil, "/t/" .. id .. "/" .. tags[2])
end
"#,
    );
    let (out, j) = run_json(&[
        "-c",
        "4",
        "-t",
        "2",
        "-n",
        "200",
        "-s",
        s.path(),
        &rec.url("/"),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(completed(&j), 200);
    let got = rec.got();
    let one = got.iter().filter(|g| g.path == "/t/1/b").count();
    let two = got.iter().filter(|g| g.path == "/t/2/b").count();
    assert_eq!((one, two), (100, 100), "each thread takes -n's half");
}

#[test]
fn thread_stop_ends_a_finite_list() {
    let rec = Recorder::start();
    let s = Temp::new(
        "list.lua",
        r#"
local paths = { "/a", "/b", "/c", "/d", "/e" }
local i = 0
function request()
  i = i + 1
  if i == #paths then wrk.thread:stop() end
  return wrk.format(nil, paths[i])
end
"#,
    );
    let out = ceiling(&[
        "-c",
        "1",
        "-t",
        "1",
        "-d",
        "20s",
        "-s",
        s.path(),
        &rec.url("/"),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let paths: Vec<String> = rec.got().into_iter().map(|g| g.path).collect();
    assert_eq!(paths, ["/a", "/b", "/c", "/d", "/e"]);
}

#[test]
fn bad_scripts_at_load_exit_2_with_the_line() {
    let rec = Recorder::start();
    for (name, text, want) in [
        ("syntax.lua", "wrk.method = \n = 3\n", "syntax.lua:2:"),
        (
            "runtime.lua",
            "local x = nil\nlocal y = x.field\n",
            "runtime.lua:2:",
        ),
        (
            "setup.lua",
            "function setup(t)\n  error('no setup')\nend\n",
            "setup.lua:2: no setup",
        ),
        ("endless.lua", "while true do end\n", "endless loop"),
        (
            "two.lua",
            "wrk.body = nil\nfunction init() wrk.path = '/x HTTP/1.1\\r\\n\\r\\nGET /y' end\n",
            "more than one HTTP request",
        ),
    ] {
        let s = Temp::new(name, text);
        let out = ceiling(&["-c", "1", "-n", "5", "-s", s.path(), &rec.url("/")]);
        assert_eq!(out.code, Some(2), "{name}: {}", out.stderr);
        assert!(out.stderr.contains(want), "{name}: {}", out.stderr);
        assert_eq!(
            out.stderr.trim().lines().count(),
            1,
            "{name}: {}",
            out.stderr
        );
    }
    assert!(rec.got().is_empty(), "nothing is sent");
}

#[test]
fn errors_in_hooks_count_as_script_errors() {
    let rec = Recorder::start();
    // response() fails on every response: each counts, the load goes on.
    let s = Temp::new(
        "resp.lua",
        "function response(status, headers, body)\n  error('check failed')\nend\n",
    );
    let (out, j) = run_json(&[
        "-c",
        "1",
        "-t",
        "1",
        "-n",
        "30",
        "-s",
        s.path(),
        &rec.url("/"),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(completed(&j), 30);
    assert_eq!(script_errors(&j), 30);
    assert!(
        out.stderr.contains("resp.lua:2: check failed"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("Script errors: 30"), "{}", out.stdout);
    // request() returning a number: one error, the thread stops, no hang.
    let s = Temp::new("num.lua", "function request()\n  return 42\nend\n");
    let (out, j) = run_json(&[
        "-c",
        "1",
        "-t",
        "1",
        "-d",
        "20s",
        "-s",
        s.path(),
        &rec.url("/"),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(script_errors(&j), 1);
    assert!(
        out.stderr
            .contains("request() returned an integer, not a string")
            || out.stderr.contains("not a string"),
        "{}",
        out.stderr
    );
    // request() that never returns: stopped by the guard, counted, no hang.
    let s = Temp::new("spin.lua", "function request()\n  while true do end\nend\n");
    let (out, j) = run_json(&[
        "-c",
        "1",
        "-t",
        "1",
        "-d",
        "30s",
        "-s",
        s.path(),
        &rec.url("/"),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(script_errors(&j), 1);
    assert!(out.stderr.contains("endless loop"), "{}", out.stderr);
}

#[test]
fn delay_paces_the_closed_loop_and_rate_overrides_it() {
    // Paced runs measured against the clock: not beside other load tests.
    let _quiet = crate::support::exclusive();
    let rec = Recorder::start();
    let s = Temp::new("delay.lua", "function delay()\n  return 100\nend\n");
    let (out, j) = run_json(&[
        "-c",
        "1",
        "-t",
        "1",
        "-d",
        "1s",
        "-s",
        s.path(),
        &rec.url("/"),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let n = completed(&j);
    // 100 ms before each request: at most 10 in a second.
    assert!((5..=10).contains(&n), "{n}");
    // Under -R the schedule decides (as in wrk2): 50 req/s for 1 s sends 50.
    let (out, j) = run_json(&[
        "-c",
        "1",
        "-t",
        "1",
        "-d",
        "1s",
        "-R",
        "50",
        "-s",
        s.path(),
        &rec.url("/"),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    // The schedule is exact; what went out shows delay()'s 100 ms was not
    // applied (that would allow at most 10), on a loaded machine too.
    assert_eq!(j["rate"]["scheduled"].as_u64(), Some(50));
    assert!(
        j["counters"]["sent"].as_u64().unwrap() >= 40,
        "{}",
        j["counters"]
    );
}

#[test]
fn script_args_reach_init() {
    let rec = Recorder::start();
    let s = Temp::new(
        "args.lua",
        "function init(args)\n  wrk.path = '/' .. args[1] .. '/' .. #args\nend\n",
    );
    let out = ceiling(&[
        "-c",
        "1",
        "-n",
        "3",
        "-s",
        s.path(),
        &rec.url("/"),
        "--",
        "hello",
        "x",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(rec.got().iter().all(|g| g.path == "/hello/2"));
}

#[test]
fn a_plan_file_carries_the_script_text_and_nodes_run_it() {
    // Two nodes pacing against a deadline: not beside other load tests.
    let _quiet = crate::support::exclusive();
    let rec = Recorder::start();
    let text = "n = 0\nfunction request()\n  n = n + 1\n  return wrk.format('POST', '/node/' .. n, nil, 'x')\nend\n";
    let s = Temp::new("node.lua", text);
    let plan = Temp::new("plan.json", "");
    let out = ceiling(&[
        "plan",
        "--nodes",
        "2",
        "--start-in",
        "3s",
        "-o",
        plan.path(),
        "-c",
        "2",
        "-d",
        "1s",
        "-R",
        "100",
        "-s",
        s.path(),
        &rec.url("/"),
    ]);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let file = std::fs::read_to_string(plan.path()).unwrap();
    let v: Value = serde_json::from_str(&file).unwrap();
    assert_eq!(v["load"]["script"]["text"].as_str(), Some(text), "{file}");
    assert!(!file.contains(s.path()), "the path does not travel");
    // The nodes run the text: the script file is gone by then.
    std::fs::remove_file(&s.0).unwrap();
    let path = plan.path().to_string();
    let nodes: Vec<_> = (0..2)
        .map(|i| {
            let path = path.clone();
            std::thread::spawn(move || {
                let i = i.to_string();
                ceiling(&["run", "--plan", &path, "--node-index", &i, "-q"])
            })
        })
        .collect();
    for n in nodes {
        let out = n.join().unwrap();
        assert_eq!(out.code, Some(0), "{}", out.stderr);
    }
    let got = rec.got();
    // 100 req/s for 1 s over two nodes, each node's thread counting its own.
    assert!((95..=100).contains(&got.len()), "{}", got.len());
    assert!(got.iter().all(|g| g.method == "POST" && g.body == b"x"));
    assert!(
        got.iter().any(|g| g.path == "/node/50"),
        "each node's counter runs to 50"
    );
}

fn requests_file(text: &str, extra: &[&str], n: &str, rec: &Recorder) -> Vec<Got> {
    let f = Temp::new("targets.http", &text.replace("ADDR", &rec.addr.to_string()));
    std::fs::write(f.dir().join("names.txt"), "alice\nbob\ncarol\n").unwrap();
    std::fs::write(
        f.dir().join("body.txt"),
        "{\"n\":{{seq}},\"who\":\"{{line names.txt}}\"}",
    )
    .unwrap();
    let mut args = vec!["-c", "1", "-t", "1", "-n", n, "--requests-file", f.path()];
    args.extend_from_slice(extra);
    let (out, j) = run_json(&args);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(completed(&j).to_string(), n);
    rec.got()
}

#[test]
fn requests_file_rotates_by_weight() {
    let rec = Recorder::start();
    let got = requests_file(
        "GET http://ADDR/a\nX-Kind: light\n\n# weight: 3\nPOST http://ADDR/b\nContent-Type: text/plain\n",
        &[],
        "40",
        &rec,
    );
    let a = got.iter().filter(|g| g.path == "/a").count();
    let b: Vec<&Got> = got.iter().filter(|g| g.path == "/b").collect();
    assert_eq!((a, b.len()), (10, 30));
    assert!(got
        .iter()
        .filter(|g| g.path == "/a")
        .all(|g| g.header("x-kind") == Some("light")));
    assert!(b
        .iter()
        .all(|g| g.method == "POST" && g.header("content-type") == Some("text/plain")));
}

#[test]
fn requests_file_random_by_weight() {
    let rec = Recorder::start();
    let got = requests_file(
        "GET http://ADDR/a\n\n# weight: 3\nGET http://ADDR/b\n",
        &["--requests-order", "random"],
        "400",
        &rec,
    );
    let b = got.iter().filter(|g| g.path == "/b").count();
    assert!((250..350).contains(&b), "{b} of 400 at weight 3:1");
}

#[test]
fn requests_file_substitutions() {
    let rec = Recorder::start();
    let got = requests_file(
        "POST http://ADDR/item/{{seq}}?r={{rand 10 12}}\nX-Id: {{uuid}}\nX-User: {{line names.txt}}\n@body.txt\n",
        &[],
        "60",
        &rec,
    );
    assert_eq!(got.len(), 60);
    let mut seqs = std::collections::BTreeSet::new();
    let mut rands = std::collections::BTreeSet::new();
    let mut users = std::collections::BTreeSet::new();
    let mut ids = std::collections::BTreeSet::new();
    for g in &got {
        let (item, r) = g
            .path
            .trim_start_matches("/item/")
            .split_once("?r=")
            .unwrap();
        seqs.insert(item.parse::<u64>().unwrap());
        rands.insert(r.parse::<u64>().unwrap());
        let id = g.header("x-id").unwrap();
        assert_eq!(id.len(), 36, "{id}");
        assert_eq!(&id[14..15], "4", "version 4: {id}");
        ids.insert(id.to_string());
        let user = g.header("x-user").unwrap().to_string();
        let body = String::from_utf8(g.body.clone()).unwrap();
        assert!(body.starts_with("{\"n\":"), "{body}");
        assert!(
            ["alice", "bob", "carol"].iter().any(|u| body.contains(u)),
            "{body}"
        );
        users.insert(user);
    }
    // {{seq}} appears twice per request (path and body): 120 numbers, each once.
    assert_eq!(seqs.len(), 60);
    assert_eq!(rands, [10, 11, 12].into_iter().collect());
    assert_eq!(users.len(), 3);
    assert_eq!(ids.len(), 60);
}

/// wrk's own example scripts, as Debian's wrk package ships them (skipped where
/// they are not installed): run unchanged, with exact counts.
#[test]
fn wrk_example_scripts_run_unchanged() {
    let dir = std::path::Path::new("/usr/share/doc/wrk/examples/scripts");
    if !dir.join("counter.lua").exists() {
        eprintln!("wrk's example scripts are not installed: skipped");
        return;
    }
    let ex = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let rec = Recorder::start();
    // counter.lua: a path and an X-Counter header per request, one counter per thread.
    let (out, j) = run_json(&[
        "-c",
        "1",
        "-t",
        "1",
        "-n",
        "30",
        "-s",
        &ex("counter.lua"),
        &rec.url("/"),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(completed(&j), 30);
    let got = rec.got();
    for (k, g) in got.iter().enumerate() {
        assert_eq!(g.path, format!("/{k}"));
        assert_eq!(g.header("x-counter"), Some(k.to_string().as_str()));
    }
    // auth.lua: the token from /authenticate's X-Token header on every later request.
    let rec = Recorder::start();
    let out = ceiling(&[
        "-c",
        "1",
        "-t",
        "1",
        "-n",
        "10",
        "-s",
        &ex("auth.lua"),
        &rec.url("/"),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let got = rec.got();
    assert_eq!(got[0].path, "/authenticate");
    assert_eq!(got.len(), 10);
    for g in &got[1..] {
        assert_eq!(g.path, "/resource");
        assert_eq!(g.header("x-token"), Some("t-42"));
    }

    let server = start_server(&["--cpus", "0"]);
    // setup.lua: threads' counts read back in done() through thread:get.
    let out = ceiling(&[
        "-c",
        "4",
        "-t",
        "2",
        "-n",
        "400",
        "-s",
        &ex("setup.lua"),
        &server.url(),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout
            .contains("thread 1 made 200 requests and got 200 responses"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("thread 2 made 200 requests and got 200 responses"),
        "{}",
        out.stdout
    );
    // pipeline.lua: three requests per request() call, each counted.
    let (out, j) = run_json(&[
        "-c",
        "2",
        "-t",
        "1",
        "-n",
        "300",
        "-s",
        &ex("pipeline.lua"),
        &server.url(),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(completed(&j), 300);
    assert_eq!(j["counters"]["errors"]["invalid"].as_u64(), Some(0));
    // post.lua against /echo.
    let (out, j) = run_json(&[
        "-c",
        "2",
        "-t",
        "1",
        "-n",
        "100",
        "-s",
        &ex("post.lua"),
        &format!("{}/echo", server.url()),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(completed(&j), 100);
    // report.lua: percentiles as CSV after the report.
    let out = ceiling(&[
        "-c",
        "2",
        "-t",
        "1",
        "-n",
        "200",
        "-s",
        &ex("report.lua"),
        &server.url(),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    for p in ["50%,", "90%,", "99%,", "99.999%,"] {
        assert!(out.stdout.contains(p), "{}", out.stdout);
    }
    // stop.lua: the thread stops after its 100th response.
    let (out, j) = run_json(&[
        "-c",
        "1",
        "-t",
        "1",
        "-d",
        "20s",
        "-s",
        &ex("stop.lua"),
        &server.url(),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(completed(&j), 100);
    // delay.lua: a random 10-50 ms before each request.
    let (out, j) = run_json(&[
        "-c",
        "1",
        "-t",
        "1",
        "-d",
        "1s",
        "-s",
        &ex("delay.lua"),
        &server.url(),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!((15..=100).contains(&completed(&j)), "{}", completed(&j));
    // addr.lua: setup() looks the host up and keeps the address.
    let out = ceiling(&[
        "-c",
        "2",
        "-t",
        "2",
        "-n",
        "20",
        "-s",
        &ex("addr.lua"),
        &server.url(),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout
            .contains(&format!("thread addr: {}", server.addr)),
        "{}",
        out.stdout
    );
}

/// The same script on every engine and under -R: the hooks live in the one core.
#[test]
fn scripts_and_requests_files_run_on_every_engine_and_paced() {
    // Paced runs measured against the clock: not beside other load tests.
    let _quiet = crate::support::exclusive();
    let s = Temp::new(
        "rot.lua",
        "n = 0\nfunction request()\n  n = n + 1\n  return wrk.format(nil, '/e/' .. (n % 3))\nend\nfunction response(s, h, b)\n  if b ~= 'ok:/e/' .. (n % 3) then error('out of order: ' .. b) end\nend\n",
    );
    for engine in ["uring", "monoio", "epoll"] {
        let rec = Recorder::start();
        let (out, j) = run_json(&[
            "--io-engine",
            engine,
            "-c",
            "1",
            "-t",
            "1",
            "-n",
            "30",
            "-s",
            s.path(),
            &rec.url("/"),
        ]);
        assert_eq!(out.code, Some(0), "{engine}: {}", out.stderr);
        assert_eq!(completed(&j), 30, "{engine}");
        assert_eq!(script_errors(&j), 0, "{engine}: {}", out.stderr);
        let got = rec.got();
        for k in 0..3 {
            assert_eq!(
                got.iter().filter(|g| g.path == format!("/e/{k}")).count(),
                10,
                "{engine}"
            );
        }
    }
    // Paced: -R 100 for 1 s sends 100, whatever rotates them.
    let rec = Recorder::start();
    let (out, j) = run_json(&[
        "-c",
        "2",
        "-t",
        "1",
        "-d",
        "1s",
        "-R",
        "100",
        "-s",
        s.path(),
        &rec.url("/"),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(j["rate"]["scheduled"].as_u64(), Some(100));
    assert!(
        j["counters"]["sent"].as_u64().unwrap() >= 90,
        "{}",
        j["counters"]
    );
    let rec = Recorder::start();
    let f = Temp::new(
        "t.http",
        &format!("GET {}\n\nGET {}\n", rec.url("/x/{{seq}}"), rec.url("/y")),
    );
    let (out, j) = run_json(&[
        "-c",
        "2",
        "-t",
        "1",
        "-d",
        "1s",
        "-R",
        "100",
        "--requests-file",
        f.path(),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(j["rate"]["scheduled"].as_u64(), Some(100));
    assert!(
        j["counters"]["sent"].as_u64().unwrap() >= 90,
        "{}",
        j["counters"]
    );
    let got = rec.got();
    assert_eq!(
        got.iter().filter(|g| g.path == "/y").count()
            + got.iter().filter(|g| g.path.starts_with("/x/")).count(),
        got.len()
    );
    assert!(
        got.iter().filter(|g| g.path == "/y").count() >= 40,
        "rotation under -R"
    );
}

#[test]
fn bad_script_and_requests_file_usage_exits_2() {
    let rec = Recorder::start();
    let s = Temp::new("ok.lua", "wrk.path = '/'\n");
    let bad = Temp::new("bad.http", "GET http://127.0.0.1:1/{{nope}}\n");
    let other = Temp::new("other.http", "GET http://127.0.0.1:1/a\n");
    let urls = Temp::new("urls.txt", &rec.url("/"));
    let url = rec.url("/");
    for (args, want) in [
        (
            vec![
                "-n",
                "1",
                "-s",
                s.path(),
                "--urls-file",
                urls.path(),
                url.as_str(),
            ],
            "--urls-file",
        ),
        (
            vec![
                "-n",
                "1",
                "-s",
                s.path(),
                "--requests-file",
                other.path(),
                url.as_str(),
            ],
            "cannot be used with",
        ),
        (
            vec!["-n", "1", url.as_str(), "--", "x"],
            "arguments after -- are for a script",
        ),
        (vec!["-n", "1", "--requests-file", bad.path()], "{{nope}}"),
        (
            vec!["-n", "1", "--requests-file", other.path(), url.as_str()],
            "every request must go to",
        ),
        (
            vec!["-n", "1", "-s", "/nonexistent/x.lua", url.as_str()],
            "cannot read",
        ),
        (
            vec![
                "-n",
                "1",
                "--requests-file",
                other.path(),
                "--requests-order",
                "shuffle",
            ],
            "use rotate or random",
        ),
    ] {
        let out = ceiling(&args);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(want), "{args:?}: {}", out.stderr);
        assert_eq!(
            out.stderr.trim().lines().count(),
            1,
            "{args:?}: {}",
            out.stderr
        );
    }
    assert!(rec.got().is_empty());
}

#[test]
fn thread_stop_drains_what_was_written_on_every_engine() {
    // wrk.thread:stop() ends sending, as the end of -n does: the requests
    // written are answered and counted, and `sent` counts only those.
    let s = Temp::new(
        "stopc.lua",
        "local n = 0\nfunction request()\n  n = n + 1\n  if n >= 2 then wrk.thread:stop() end\n  return wrk.format(nil, '/s' .. n)\nend\n",
    );
    for engine in ["uring", "monoio", "epoll"] {
        for c in ["1", "2", "5"] {
            let rec = Recorder::start();
            let (out, j) = run_json(&[
                "--io-engine",
                engine,
                "-t",
                "1",
                "-c",
                c,
                "-n",
                "20",
                "-s",
                s.path(),
                &rec.url("/x"),
            ]);
            assert_eq!(out.code, Some(0), "{engine} -c{c}: {}", out.stderr);
            let got = rec.got().len() as u64;
            let k = &j["counters"];
            assert_eq!(got, 2, "{engine} -c{c}");
            assert_eq!(
                (
                    k["sent"].as_u64(),
                    k["completed"].as_u64(),
                    k["in_flight_at_stop"].as_u64()
                ),
                (Some(2), Some(2), Some(0)),
                "{engine} -c{c}: {k}"
            );
        }
    }
}

#[test]
fn requests_file_messages_redact_and_name_the_line_and_port() {
    let rec = Recorder::start();
    let other = Temp::new("up.http", "GET http://bob:hunter2@127.0.0.1:1/\n");
    let url = rec.url("/");
    let out = ceiling(&["-n", "1", "--requests-file", other.path(), &url]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);
    assert!(out.stderr.contains("127.0.0.1:1 "), "{}", out.stderr);
    assert!(out.stderr.contains(&rec.addr.to_string()), "{}", out.stderr);
    for (text, line) in [
        (
            "GET http://127.0.0.1:1/a\n\nGET http://127.0.0.1:1/{{nope}}\n",
            ":3:",
        ),
        ("GET http://127.0.0.1:1/a\nX-N: {{rand 5 1}}\n", ":2:"),
        ("\nGET http://127.0.0.1:1/{{line missing.txt}}\n", ":2:"),
        (
            "GET http://127.0.0.1:1/a\nAuthorization Basic c2VjcmV0\n",
            ":2:",
        ),
        ("http://bob:hunter2@127.0.0.1:1/\n", ":1:"),
    ] {
        let f = Temp::new("subs.http", text);
        let out = ceiling(&["-n", "1", "--requests-file", f.path()]);
        assert_eq!(out.code, Some(2), "{text:?}: {}", out.stderr);
        assert!(out.stderr.contains(line), "{text:?}: {}", out.stderr);
        assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);
        assert!(!out.stderr.contains("c2VjcmV0"), "{}", out.stderr);
        assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    }
    assert!(rec.got().is_empty());
}

#[test]
fn endless_inputs_are_refused_at_once() {
    let rec = Recorder::start();
    let url = rec.url("/");
    for flag in ["-s", "--requests-file"] {
        let out = ceiling(&["-n", "1", flag, "/dev/zero", &url]);
        assert_eq!(out.code, Some(2), "{flag}: {}", out.stderr);
        assert!(
            out.stderr.contains("not a regular file"),
            "{flag}: {}",
            out.stderr
        );
        assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    }
    assert!(rec.got().is_empty());
}

#[test]
fn requests_file_userinfo_sends_basic_auth_like_the_command_line() {
    let rec = Recorder::start();
    let text = format!(
        "GET http://bob:hunter2@{0}/a\n\nGET http://bob:hunter2@{0}/b\nAuthorization: Bearer own\n",
        rec.addr
    );
    let f = Temp::new("auth.http", &text);
    let out = ceiling(&[
        "-t",
        "1",
        "-c",
        "1",
        "-n",
        "2",
        "--requests-file",
        f.path(),
        &rec.url("/"),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let got = rec.got();
    let auth: Vec<(String, Option<String>)> = got
        .iter()
        .map(|g| (g.path.clone(), g.header("authorization").map(String::from)))
        .collect();
    assert_eq!(
        auth,
        [
            ("/a".to_string(), Some("Basic Ym9iOmh1bnRlcjI=".to_string())),
            ("/b".to_string(), Some("Bearer own".to_string())),
        ]
    );
    assert!(!out.stdout.contains("hunter2"), "{}", out.stdout);
}

#[test]
fn several_requests_per_call_use_one_slot_each_under_rate() {
    // wrk's pipeline.lua under -R 100 -d 2s: about 200 requests, not 600;
    // each request of the string takes one slot of the schedule.
    let _quiet = crate::support::exclusive();
    let server = start_server(&["--cpus", "0"]);
    let s = Temp::new(
        "pipe3.lua",
        "init = function(args)\n  local r = {}\n  for i = 1, 3 do r[i] = wrk.format(nil, '/p' .. i) end\n  req = table.concat(r)\nend\nrequest = function() return req end\n",
    );
    let (out, j) = run_json(&[
        "-t",
        "1",
        "-c",
        "1",
        "-d",
        "2s",
        "-R",
        "100",
        "-s",
        s.path(),
        &server.url(),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let sent = j["counters"]["sent"].as_u64().unwrap();
    assert!((150..=203).contains(&sent), "sent {sent}: {}", out.stdout);
    let r = &j["rate"];
    let scheduled = r["scheduled"].as_u64().unwrap();
    assert!(scheduled >= sent && scheduled <= 203, "{r}");
    let pct = r["achieved_pct"].as_f64().unwrap();
    assert!(
        (pct - 100.0 * sent as f64 / scheduled as f64).abs() < 0.1,
        "{r}"
    );
}

#[test]
fn results_and_rerun_commands_name_the_script_and_requests_file() {
    let server = start_server(&["--cpus", "0"]);
    let s = Temp::new("named.lua", "-- KEY-IN-TEXT\nwrk.path = '/'\n");
    let (out, j) = run_json(&["-n", "3", "-s", s.path(), &server.url(), "--", "arg-secret"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(j["config"]["script"], "named.lua", "{}", j["config"]);
    let text = j.to_string();
    // The name only: not the text (the arguments are in meta.command_line,
    // as typed).
    assert!(!text.contains("KEY-IN-TEXT"), "{text}");
    let f = Temp::new("named.http", &format!("GET {}/a\n", server.url()));
    let (out, j) = run_json(&["-n", "3", "--requests-file", f.path()]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        j["config"]["requests_file"], "named.http",
        "{}",
        j["config"]
    );

    let json = Temp::new("ramp.json", "");
    let out = ceiling(&[
        "ramp",
        &server.url(),
        "--from",
        "1",
        "--to",
        "2",
        "--step",
        "1",
        "--step-duration",
        "300ms",
        "-t",
        "1",
        "-s",
        s.path(),
        "--json",
        json.path(),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("-s named.lua"), "{}", out.stdout);
    let j: Value = serde_json::from_str(&std::fs::read_to_string(json.path()).unwrap()).unwrap();
    for step in j["steps"].as_array().unwrap() {
        let c = step["command"].as_str().unwrap();
        assert!(c.contains("-s named.lua"), "{c}");
    }
    let out = ceiling(&[
        "compare",
        "--repeats",
        "1",
        "-d",
        "300ms",
        "--levels",
        "1",
        "-t",
        "1",
        "--requests-file",
        f.path(),
        &format!("a={}/", server.url()),
        &format!("b={}/", server.url()),
    ]);
    assert!(
        out.stdout.contains("--requests-file named.http")
            || out.stderr.contains("--requests-file named.http"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
}

#[test]
fn a_percentile_out_of_range_is_a_done_error() {
    let server = start_server(&["--cpus", "0"]);
    let s = Temp::new(
        "pct.lua",
        "function done(s, latency, requests)\n  print('p50 ' .. latency:percentile(50))\n  latency:percentile(150)\nend\n",
    );
    let out = ceiling(&[
        "-n",
        "3",
        "-c",
        "1",
        "-t",
        "1",
        "-s",
        s.path(),
        &server.url(),
    ]);
    assert_eq!(out.code, Some(1), "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("p50 "), "{}", out.stdout);
    assert!(
        out.stderr.contains("give a percentile from 0 to 100"),
        "{}",
        out.stderr
    );
}

#[test]
fn script_args_without_dashes_get_a_hint() {
    let s = Temp::new("a.lua", "wrk.path = '/'\n");
    let out = ceiling(&["-n", "1", "-s", s.path(), "http://127.0.0.1:1/", "foo"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("'foo'"), "{}", out.stderr);
    assert!(out.stderr.contains("go after --"), "{}", out.stderr);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
}
