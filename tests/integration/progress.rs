//! What a person sees while a command runs, read as it streams (each line's
//! arrival time from the child's start): wrk's header as a run starts, the
//! `machine` steps as each starts, a node's countdown to T0. On a pipe, and
//! under a pseudo-terminal (util-linux `script`) where the terminal bar applies.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::{ceiling_bin, start_server};

/// A line and when it arrived, from the child's spawn.
struct Arrived {
    at: Duration,
    text: String,
}

/// Spawns `cmd` with stdout and stderr piped and returns every line of each
/// with its arrival time, once the child exits (killed past `watchdog`).
/// Lines end at `\n` or `\r` (a terminal bar redraws with `\r`).
fn stream(mut cmd: Command, watchdog: Duration) -> (Vec<Arrived>, Vec<Arrived>) {
    let spawned = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let read = |mut r: Box<dyn Read + Send>| {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                for &b in &buf[..n] {
                    if b == b'\n' || b == b'\r' {
                        let text = String::from_utf8_lossy(&line).into_owned();
                        line.clear();
                        let _ = tx.send(Arrived {
                            at: spawned.elapsed(),
                            text,
                        });
                    } else {
                        line.push(b);
                    }
                }
            }
            if !line.is_empty() {
                let _ = tx.send(Arrived {
                    at: spawned.elapsed(),
                    text: String::from_utf8_lossy(&line).into_owned(),
                });
            }
        });
        rx
    };
    let out = read(Box::new(child.stdout.take().unwrap()));
    let err = read(Box::new(child.stderr.take().unwrap()));
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if spawned.elapsed() > watchdog {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} ran past {watchdog:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let collect = |rx: mpsc::Receiver<Arrived>| rx.iter().collect::<Vec<_>>();
    (collect(out), collect(err))
}

/// `cmd ARGS` under a pseudo-terminal (util-linux `script`), or None when
/// `script` is not installed.
fn under_pty(args: &[String]) -> Option<Command> {
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let line = format!("'{}' {}", ceiling_bin(), quoted.join(" "));
    let has_script = Command::new("script")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_script {
        eprintln!("util-linux `script` is not installed: the pseudo-terminal half is skipped");
        return None;
    }
    let mut c = Command::new("script");
    c.args(["-qfec", &line, "/dev/null"]);
    Some(c)
}

fn first<'a>(lines: &'a [Arrived], needle: &str) -> Option<&'a Arrived> {
    lines.iter().find(|l| l.text.contains(needle))
}

/// The header of a 3 s run arrives within 1 s of the start, once, and well
/// before the rest of wrk's report (the end of the run).
fn header_first(out: &[Arrived]) {
    let all: Vec<&str> = out.iter().map(|l| l.text.as_str()).collect();
    let header = first(out, "Running 3.00s test @").unwrap_or_else(|| panic!("{all:?}"));
    assert!(
        header.at < Duration::from_secs(1),
        "header after {:?}",
        header.at
    );
    assert_eq!(
        out.iter().filter(|l| l.text.contains("Running ")).count(),
        1,
        "{all:?}"
    );
    assert!(
        first(out, "1 threads and 2 connections").is_some(),
        "{all:?}"
    );
    let stats = first(out, "Thread Stats").unwrap_or_else(|| panic!("{all:?}"));
    assert!(
        stats.at >= header.at + Duration::from_secs(2),
        "header at {:?}, report at {:?}",
        header.at,
        stats.at
    );
    // wrk's layout: header lines, then the thread stats, once each.
    let order: Vec<usize> = ["Running ", "threads and", "Thread Stats", "Requests/sec:"]
        .iter()
        .map(|n| all.iter().position(|l| l.contains(n)).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{all:?}");
}

#[test]
fn a_run_prints_wrks_header_as_it_starts() {
    let _serial = crate::support::exclusive();
    let server = start_server(&[]);
    let url = format!("{}/plaintext", server.url());
    let args: Vec<String> = ["-t", "1", "-c", "2", "-d", "3s", &url]
        .iter()
        .map(|s| s.to_string())
        .collect();
    // On a pipe: the header on stdout, no progress line on stderr.
    let mut c = Command::new(ceiling_bin());
    c.args(&args);
    let (out, err) = stream(c, Duration::from_secs(30));
    header_first(&out);
    assert!(
        !err.iter().any(|l| l.text.contains("req/s")),
        "no bar on a pipe: {:?}",
        err.iter().map(|l| &l.text).collect::<Vec<_>>()
    );
    // On a terminal: the same, and the bar counts the seconds.
    if let Some(c) = under_pty(&args) {
        let (out, _) = stream(c, Duration::from_secs(30));
        header_first(&out);
        let bar = first(&out, "[1s/3s]")
            .unwrap_or_else(|| panic!("{:?}", out.iter().map(|l| &l.text).collect::<Vec<_>>()));
        assert!(bar.at < Duration::from_millis(2500), "{:?}", bar.at);
        assert!(first(&out, "req/s").is_some());
    }
}

#[test]
fn machine_prints_a_line_per_workload_as_it_starts() {
    let _serial = crate::support::exclusive();
    let mut c = Command::new(ceiling_bin());
    c.args(["machine", "-d", "1s", "--warmup", "0", "--bytes", "4096"]);
    let (out, err) = stream(c, Duration::from_secs(90));
    let texts: Vec<&str> = err.iter().map(|l| l.text.as_str()).collect();
    let steps: Vec<&Arrived> = ["[1/3] plaintext", "[2/3] json", "[3/3] bytes/4096"]
        .iter()
        .map(|n| first(&err, n).unwrap_or_else(|| panic!("{n} in {texts:?}")))
        .collect();
    // Each as its 1 s test starts: a test's length apart, not all at the end.
    for w in steps.windows(2) {
        assert!(
            w[1].at >= w[0].at + Duration::from_millis(900),
            "{:?} then {:?}",
            w[0].at,
            w[1].at
        );
    }
    let table = first(&out, "workload").expect("the ceiling table");
    assert!(steps[2].at + Duration::from_millis(900) <= table.at);
}

#[test]
fn a_node_waiting_for_t0_prints_the_time_left() {
    let server = start_server(&[]);
    let dir = std::env::temp_dir();
    let plan = dir.join(format!("ceiling-progress-plan-{}.json", std::process::id()));
    let manifest = dir.join(format!("ceiling-progress-plan-{}.yaml", std::process::id()));
    let url = format!("{}/plaintext", server.url());
    let node_args = |start_in: &str| {
        let made = Command::new(ceiling_bin())
            .args(["plan", "--nodes", "2", "--start-in", start_in, "-o"])
            .arg(&plan)
            .arg("--manifest")
            .arg(&manifest)
            .args(["-t", "1", "-c", "2", "-d", "1s", &url])
            .output()
            .unwrap();
        assert!(made.status.success(), "{made:?}");
        // The terminal gets the steps; the manifest stays in its file.
        let said = String::from_utf8_lossy(&made.stdout);
        assert!(!said.contains("apiVersion"), "{said}");
        assert!(said.contains("2 nodes, 1 connection each"), "{said}");
        vec![
            "run".to_string(),
            "--plan".into(),
            plan.to_str().unwrap().into(),
            "--node-index".into(),
            "0".into(),
        ]
    };
    // On a pipe: one line, before the load, with the seconds left.
    let args = node_args("3s");
    let mut c = Command::new(ceiling_bin());
    c.args(&args);
    let (out, err) = stream(c, Duration::from_secs(30));
    let texts: Vec<&str> = err.iter().map(|l| l.text.as_str()).collect();
    let wait = first(&err, "node 0 of 2 waiting for T0").unwrap_or_else(|| panic!("{texts:?}"));
    assert!(wait.at < Duration::from_secs(1), "{:?}", wait.at);
    let left: u64 = wait
        .text
        .rsplit(": ")
        .next()
        .and_then(|s| s.strip_suffix("s left"))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{}", wait.text));
    assert!((2..=4).contains(&left), "{}", wait.text);
    let report = first(&out, "Thread Stats").expect("the report");
    assert!(report.at >= wait.at + Duration::from_secs(2));
    // On a terminal: a countdown, second by second.
    if let Some(c) = under_pty(&node_args("3s")) {
        let (out, _) = stream(c, Duration::from_secs(30));
        let counts: Vec<u64> = out
            .iter()
            .filter_map(|l| {
                let at = l.text.find("waiting for T0")?;
                l.text[at..]
                    .rsplit(": ")
                    .next()?
                    .trim()
                    .strip_suffix("s left")?
                    .parse()
                    .ok()
            })
            .collect();
        let mut distinct = counts.clone();
        distinct.dedup();
        assert!(distinct.len() >= 2, "{counts:?}");
        assert!(distinct.windows(2).all(|w| w[0] > w[1]), "{counts:?}");
    }
    let _ = std::fs::remove_file(&plan);
    let _ = std::fs::remove_file(&manifest);
}

/// `ceiling ... 2>&1 | head -1`: stdout and stderr both closed under the
/// run. Nothing may panic (a panic aborts the release build and loses the
/// result): the run ends with exit 1 (its report could not be printed) and
/// its `--json` file holds every request.
#[test]
fn closed_stdout_and_stderr_lose_the_text_not_the_result() {
    let server = start_server(&[]);
    let json =
        std::env::temp_dir().join(format!("ceiling-closed-pipes-{}.json", std::process::id()));
    let mut child = Command::new(ceiling_bin())
        .args(["-c", "1", "-t", "1", "-n", "200", "--json"])
        .arg(&json)
        .arg(format!("{}/plaintext", server.url()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Both read ends closed at once: every write the run makes fails (EPIPE).
    drop(child.stdout.take());
    drop(child.stderr.take());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the run did not end");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(1), "{status:?}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the --json file")).unwrap();
    assert_eq!(r["counters"]["completed"], 200);
    let _ = std::fs::remove_file(&json);
}
