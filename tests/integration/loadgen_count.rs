//! The generator against the real `ceiling serve`: exact counts that the server's
//! own `/__ceiling/stats` agrees with, on both engines, pipelined or not; and bad
//! usage that fails at once with exit 2, one line, and nothing sent.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{ceiling_bin, run_ceiling, start_server, Finished, Server};

/// Every generator run here is bounded: killed (by PID, via Child) past this.
const WATCHDOG: Duration = Duration::from_secs(30);

type Out = Finished;

fn ceiling(args: &[&str]) -> Out {
    run_ceiling(args, WATCHDOG)
}

pub(crate) fn json_path() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    std::env::temp_dir()
        .join(format!(
            "ceiling-count-{}-{}.json",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ))
        .display()
        .to_string()
}

/// Runs the generator with `--json FILE` and returns the parsed result.
pub(crate) fn run_json(args: &[&str]) -> (Out, Value) {
    let path = json_path();
    let mut argv = vec!["--json", &path];
    argv.extend_from_slice(args);
    let out = ceiling(&argv);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let _ = std::fs::remove_file(&path);
    let json = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "no JSON result ({e}) for {args:?}\nstdout: {}\nstderr: {}",
            out.stdout, out.stderr
        )
    });
    (out, json)
}

/// The server's request count (it does not count its stats requests).
pub(crate) fn served(server: &Server) -> u64 {
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /__ceiling/stats HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let body = text.split_once("\r\n\r\n").expect("a response").1;
    let v: Value = serde_json::from_str(body).expect("stats JSON");
    v["requests"].as_u64().expect("requests")
}

pub(crate) fn n(v: &Value, path: &str) -> u64 {
    path.split('.')
        .fold(&v["counters"], |v, k| &v[k])
        .as_u64()
        .unwrap_or_else(|| panic!("counters.{path} missing in {v}"))
}

pub(crate) fn assert_balanced(v: &Value) {
    let accounted = n(v, "completed")
        + n(v, "errors.read")
        + n(v, "errors.write")
        + n(v, "errors.timeout")
        + n(v, "errors.invalid")
        + n(v, "in_flight_at_stop");
    assert_eq!(
        n(v, "sent"),
        accounted,
        "accounting identity: {}",
        v["counters"]
    );
}

fn exact_count(engine: &str, pipeline: &str) {
    exact_count_with(engine, pipeline, "refill");
}

fn exact_count_with(engine: &str, pipeline: &str, mode: &str) {
    let server = start_server(&["--io-engine", engine]);
    let url = format!("{}/plaintext", server.url());
    let before = served(&server);
    let (out, v) = run_json(&[
        "-t",
        "2",
        "-c",
        "8",
        "-n",
        "10000",
        "-p",
        pipeline,
        "--pipeline-mode",
        mode,
        "--io-engine",
        engine,
        &url,
    ]);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert_eq!(n(&v, "sent"), 10_000);
    assert_eq!(n(&v, "completed"), 10_000);
    assert_eq!(n(&v, "status.success"), 10_000);
    assert_eq!(n(&v, "in_flight_at_stop"), 0);
    assert_balanced(&v);
    assert_eq!(served(&server) - before, 10_000, "the server disagrees");
    // Every completed request's latency is in the merged histogram, once.
    let h = shared::stats::codec::decode_base64(v["latency"]["histogram"].as_str().unwrap())
        .expect("the histogram decodes");
    assert_eq!(h.len(), 10_000);
    let p50 = v["latency"]["percentiles"][0]["value_us"].as_u64().unwrap();
    assert!(p50 > 0, "latency recorded");
    assert!(out.stdout.contains("10000 requests in"), "{}", out.stdout);
    assert_eq!(v["config"]["pipeline_mode"], mode);
    if pipeline != "1" {
        let shown = format!(", pipeline {pipeline} ({mode})");
        assert!(out.stdout.contains(&shown), "{}", out.stdout);
    }
}

#[test]
fn exact_count_uring() {
    exact_count("uring", "1");
}

#[test]
fn exact_count_epoll() {
    exact_count("epoll", "1");
}

#[test]
fn exact_count_pipelined_uring() {
    exact_count("uring", "16");
}

#[test]
fn exact_count_pipelined_epoll() {
    exact_count("epoll", "16");
}

// `uring` runs the generator's direct io_uring loop; `monoio` the monoio worker on
// io_uring: the same exact counts on both.
#[test]
fn exact_count_monoio() {
    exact_count("monoio", "1");
}

#[test]
fn exact_count_pipelined_monoio() {
    exact_count("monoio", "16");
}

/// 1 MiB bodies span many receive buffers: every byte is counted, every response completes.
#[test]
fn large_bodies_complete_on_every_engine() {
    let server = start_server(&[]);
    let url = format!("{}/bytes/1048576", server.url());
    for engine in ["auto", "monoio", "epoll"] {
        let (out, v) = run_json(&[
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
        assert_eq!(out.code, Some(0), "{engine}: stderr: {}", out.stderr);
        assert_eq!(n(&v, "completed"), 40, "{engine}: {}", v["counters"]);
        assert_eq!(n(&v, "status.success"), 40, "{engine}");
        assert!(
            n(&v, "bytes_read") >= 40 * 1_048_576,
            "{engine}: {}",
            v["counters"]
        );
        assert_balanced(&v);
    }
}

/// The result says which loop ran: the direct loop for io_uring runs, paced (-R)
/// or not, monoio's driver when asked for with `monoio`, epoll when asked for.
#[test]
fn engine_choice_is_recorded() {
    if shared::runtime::choose_engine(shared::runtime::IoEngine::Uring).is_err() {
        return;
    }
    let server = start_server(&[]);
    let url = format!("{}/plaintext", server.url());
    let cases: [(&[&str], bool); 4] = [
        (&["--io-engine", "uring"], true),
        (&["--io-engine", "monoio"], false),
        (&["--io-engine", "uring", "-R", "2000"], true),
        (&["--io-engine", "epoll"], false),
    ];
    for (extra, direct) in cases {
        let mut args = vec!["-t", "1", "-c", "2", "-n", "200"];
        args.extend_from_slice(extra);
        args.push(&url);
        let (out, v) = run_json(&args);
        assert_eq!(out.code, Some(0), "{extra:?}: stderr: {}", out.stderr);
        assert_eq!(n(&v, "completed"), 200, "{extra:?}");
        let engine = &v["meta"]["engine"];
        assert_eq!(engine["direct"], direct, "{extra:?}: {engine}");
        assert!(!engine["reason"].as_str().unwrap_or("").is_empty());
    }
}

#[test]
fn exact_count_pipelined_batch_uring() {
    exact_count_with("uring", "16", "batch");
}

#[test]
fn exact_count_pipelined_batch_epoll() {
    exact_count_with("epoll", "16", "batch");
}

#[test]
fn duration_run_balances_and_prints_wrk_layout() {
    let server = start_server(&[]);
    let url = format!("{}/json", server.url());
    let (out, v) = run_json(&["-t", "1", "-c", "4", "-d", "1s", "--latency", &url]);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert_balanced(&v);
    assert!(n(&v, "completed") > 0);
    assert_eq!(v["interrupted"], false);
    assert!(v["duration_s"].as_f64().unwrap() >= 0.99);
    for line in [
        "Running 1.00s test @ ",
        "  1 threads and 4 connections",
        "  Thread Stats   Avg      Stdev     Max   +/- Stdev",
        "    Latency ",
        "    Req/Sec ",
        "  Latency Distribution",
        "     99% ",
        " requests in ",
        "Requests/sec: ",
        "Transfer/sec: ",
        "Gbit/s\n",
    ] {
        assert!(
            out.stdout.contains(line),
            "missing {line:?} in\n{}",
            out.stdout
        );
    }
    // The link rate beside wrk's MB/s, in the JSON too.
    let gbit = v["gbit_read_per_sec"].as_f64().unwrap();
    let bytes = v["bytes_read_per_sec"].as_f64().unwrap();
    assert!((gbit - bytes * 8.0 / 1e9).abs() < 1e-9, "{gbit} vs {bytes}");
    // The histogram travels with the result, to be merged later.
    let h = v["latency"]["histogram"].as_str().unwrap();
    assert!(!h.is_empty());
}

#[test]
fn json_to_stdout_keeps_text_off_stdout() {
    let server = start_server(&[]);
    let url = format!("{}/", server.url());
    let out = ceiling(&["-t", "1", "-c", "1", "-n", "10", "--json", "-", &url]);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).expect("stdout is only JSON");
    assert_eq!(n(&v, "completed"), 10);
    assert!(out.stderr.contains("Requests/sec:"));
}

#[test]
fn urls_file_rotates_and_post_bodies_are_sent() {
    let server = start_server(&[]);
    let list = json_path() + ".urls";
    std::fs::write(
        &list,
        format!(
            "{0}/plaintext\n{0}/json\n# a comment\n{0}/status/404\n",
            server.url()
        ),
    )
    .unwrap();
    let (out, v) = run_json(&["-t", "1", "-c", "1", "-n", "9", "--urls-file", &list]);
    let _ = std::fs::remove_file(&list);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert_eq!(n(&v, "status.success"), 6);
    assert_eq!(n(&v, "status.client_error"), 3);
    assert!(
        out.stdout.contains("Non-2xx or 3xx responses: 3"),
        "{}",
        out.stdout
    );

    let url = format!("{}/echo", server.url());
    let (out, v) = run_json(&[
        "-t",
        "1",
        "-c",
        "1",
        "-n",
        "5",
        "-m",
        "POST",
        "--body",
        "0123456789",
        &url,
    ]);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert_eq!(n(&v, "status.success"), 5);
}

#[test]
fn bad_usage_exits_2_with_one_line_and_sends_nothing() {
    let server = start_server(&[]);
    let url = format!("{}/", server.url());
    let before = served(&server);
    let bad: &[&[&str]] = &[
        &["http://"],
        &["http://no-such-host.invalid/"],
        &["-t", "4", "-c", "2", &url],
        &["-d", "0s", &url],
        &["-p", "0", &url],
        &["--json", "/nonexistent-dir/result.json", &url],
        &["--io-engine", "fast", &url],
        &["--no-such-flag", &url],
        &["--pipeline-mode", "burst", &url],
        &["--source-ips", "127.0.0.9-127.0.0.2", &url],
        &["--source-ips", "::1", &url],
        &["--source-ips", "203.0.113.7", &url],
        &["--source-ips", "127.0.0.2,nope", &url],
    ];
    for args in bad {
        let out = ceiling(args);
        assert_eq!(out.code, Some(2), "{args:?}: stderr {}", out.stderr);
        assert_eq!(
            out.stderr.trim().lines().count(),
            1,
            "{args:?}: {}",
            out.stderr
        );
        assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
    }
    assert_eq!(served(&server), before, "bad usage must send nothing");
}

#[test]
fn ctrl_c_still_prints_and_writes_the_partial_result() {
    let server = start_server(&[]);
    let url = format!("{}/plaintext", server.url());
    let path = json_path();
    let mut child = Command::new(ceiling_bin())
        .args(["-t", "1", "-c", "2", "-d", "60s", "--json", &path, &url])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ceiling");
    // Readiness: the server has answered some of this run's requests.
    let start = Instant::now();
    while served(&server) < 100 {
        assert!(start.elapsed() < WATCHDOG, "the run never got going");
        thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: plain kill(2) on our own child's PID.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > WATCHDOG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ceiling did not stop on SIGINT");
        }
        thread::sleep(Duration::from_millis(5));
    };
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("Requests/sec:"), "{stdout}");
    assert!(stdout.contains("Interrupted"), "{stdout}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(v["interrupted"], true);
    assert!(n(&v, "completed") >= 100);
    assert!(v["duration_s"].as_f64().unwrap() < 30.0);
    assert_balanced(&v);
}

#[test]
fn html_report_has_the_summary_and_three_charts() {
    let server = start_server(&[]);
    let url = format!("{}/plaintext", server.url());
    let page = json_path() + ".html";
    let (out, v) = run_json(&["-t", "1", "-c", "2", "-d", "1s", "--html", &page, &url]);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    let html = std::fs::read_to_string(&page).unwrap();
    let _ = std::fs::remove_file(&page);
    assert!(html.starts_with("<!doctype html>"));
    assert_eq!(
        html.matches("<svg").count(),
        3,
        "percentiles, throughput, latency over time"
    );
    let shown = format!("{:.2}", v["requests_per_sec"].as_f64().unwrap());
    assert!(
        html.contains(&shown),
        "the page shows the run's requests/s {shown}"
    );
}

#[test]
fn a_doubled_ctrl_c_still_writes_the_partial_result() {
    // GNU timeout forwards SIGINT to the child and then to its group: two
    // signals back to back are one interrupt, and nothing measured is lost.
    let server = start_server(&[]);
    let url = format!("{}/plaintext", server.url());
    let path = json_path();
    let mut child = Command::new(ceiling_bin())
        .args(["-t", "1", "-c", "2", "-d", "60s", "--json", &path, &url])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ceiling");
    let start = Instant::now();
    while served(&server) < 100 {
        assert!(start.elapsed() < WATCHDOG, "the run never got going");
        thread::sleep(Duration::from_millis(10));
    }
    // Pending signals of one kind merge: a few, 2 ms apart (all well inside
    // the 1 s grace), so that more than one is delivered.
    for _ in 0..10 {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        // SAFETY: plain kill(2) on our own child's PID.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGINT);
        }
        thread::sleep(Duration::from_millis(2));
    }
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > WATCHDOG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ceiling did not stop on SIGINT");
        }
        thread::sleep(Duration::from_millis(5));
    };
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("Interrupted"), "{stdout}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(v["interrupted"], true);
    assert!(n(&v, "completed") >= 100);
    assert_balanced(&v);
}
