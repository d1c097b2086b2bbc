//! `ceiling ramp`: a concurrency ramp with --server-pid of a server the test starts,
//! a rate ramp, a capacity search; the text, Markdown and CSV rows agree with the
//! steps' own results in the JSON. Bad usage exits 2 before anything is sent.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::{ceiling_bin, start_server};

/// A temporary file path unique to this process and test.
fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ceiling-ramp-{}-{name}", std::process::id()))
}

fn ramp(args: &[&str]) -> (Output, String, String) {
    let out = Command::new(ceiling_bin())
        .arg("ramp")
        .args(args)
        .output()
        .expect("run ceiling ramp");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

/// Reads and removes a file the command wrote.
fn take(path: &PathBuf) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let _ = std::fs::remove_file(path);
    text
}

/// Microseconds as the reports print them (wrk's units).
fn time_us(us: f64) -> String {
    if us < 1000.0 {
        format!("{us:.2}us")
    } else if us < 1_000_000.0 {
        format!("{:.2}ms", us / 1000.0)
    } else {
        format!("{:.2}s", us / 1_000_000.0)
    }
}

fn p99_of(result: &Value) -> u64 {
    result["latency"]["percentiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["percentile"].as_f64() == Some(99.0))
        .unwrap()["value_us"]
        .as_u64()
        .unwrap()
}

/// The text table's row of step `n`: its cells split on whitespace.
fn text_row(stdout: &str, n: u64) -> Vec<String> {
    stdout
        .lines()
        .map(|l| l.split_whitespace().map(String::from).collect::<Vec<_>>())
        .find(|cells| cells.first().map(String::as_str) == Some(&n.to_string()))
        .unwrap_or_else(|| panic!("no row for step {n} in\n{stdout}"))
}

#[test]
fn ramp_steps_connections_and_samples_the_server() {
    let _serial = crate::support::exclusive();
    let server = start_server(&[]);
    let pid = server.child.id().to_string();
    let (json, md, csv) = (temp("a.json"), temp("a.md"), temp("a.csv"));
    let html = temp("a.html");
    let (out, stdout, stderr) = ramp(&[
        &server.url(),
        "--from",
        "2",
        "--to",
        "6",
        "--step",
        "2",
        "--step-duration",
        "1s",
        "-t",
        "1",
        "--server-pid",
        &pid,
        "--json",
        json.to_str().unwrap(),
        "--markdown",
        md.to_str().unwrap(),
        "--csv",
        csv.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    let (json, markdown, csv) = (take(&json), take(&md), take(&csv));
    let page = take(&html);
    // Throughput, latency, errors (a chart, or a line saying there were none)
    // and (with --server-pid) the server's CPU; the steps as an HTML table.
    let errors_drawn = !page.contains("No errors at any level.");
    assert_eq!(
        page.matches("<svg").count(),
        3 + usize::from(errors_drawn),
        "{}",
        &page[..page.len().min(300)]
    );
    assert!(page.contains("<table>") && !page.contains("<pre>"));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let v: Value = serde_json::from_str(&json).expect("the JSON report parses");
    assert_eq!(v["schema"], "ceiling.ramp/1");
    assert_eq!(v["config"]["mode"], "connections");
    let steps = v["steps"].as_array().unwrap();
    let levels: Vec<u64> = steps.iter().map(|s| s["level"].as_u64().unwrap()).collect();
    assert_eq!(levels, [2, 4, 6]);
    // The header line carries the machine facts.
    let header = stdout.lines().next().unwrap();
    assert!(
        header.contains(v["meta"]["kernel"].as_str().unwrap()),
        "{header}"
    );
    let csv_rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(csv_rows.len(), 3, "{csv}");
    let csv_head: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |name: &str| csv_head.iter().position(|h| *h == name).unwrap();

    for (i, s) in steps.iter().enumerate() {
        let n = s["step"].as_u64().unwrap();
        let level = s["level"].as_u64().unwrap();
        let result = &s["result"];
        let rps = s["requests_per_sec"].as_f64().unwrap();
        let p99 = s["p99_us"].as_u64().unwrap();
        // The row's figures are the step's own result's.
        assert!(rps > 0.0, "{s}");
        assert_eq!(rps, result["requests_per_sec"].as_f64().unwrap());
        assert_eq!(p99, p99_of(result));
        assert_eq!(result["config"]["connections"].as_u64(), Some(level));
        assert_eq!(s["errors"], 0, "{s}");
        assert!(s["p50_us"].as_u64() <= s["p95_us"].as_u64());
        assert!(s["p95_us"].as_u64().unwrap() <= p99);
        assert!(s["command"]
            .as_str()
            .unwrap()
            .contains(&format!("-c {level} ")));
        let server_use = &s["server"];
        let cpu = server_use["avg_cpu_pct"].as_f64().unwrap();
        assert!(cpu > 0.0, "{server_use}");
        assert!(server_use["peak_rss_mib"].as_f64().unwrap() > 0.0);

        // The same numbers in the text, Markdown and CSV rows.
        let (rps_text, p99_text, cpu_text) = (
            format!("{rps:.0}"),
            time_us(p99 as f64),
            format!("{cpu:.1}%"),
        );
        let row = text_row(&stdout, n);
        assert_eq!(row[1], level.to_string(), "{row:?}");
        assert_eq!(row[2], rps_text, "{row:?}");
        assert_eq!(row[8], p99_text, "{row:?}");
        assert_eq!(row[9], cpu_text, "{row:?}");
        let md_row = format!("| {n} | {level} | {rps_text} | 0 | 0.00% |");
        let md_line = markdown
            .lines()
            .find(|l| l.starts_with(&md_row))
            .unwrap_or_else(|| panic!("{md_row} not in\n{markdown}"));
        assert!(
            md_line.contains(&format!("| {p99_text} | {cpu_text} |")),
            "{md_line}"
        );
        let c = &csv_rows[i];
        assert_eq!(c[col("step")], n.to_string());
        assert_eq!(c[col("level")], level.to_string());
        assert_eq!(c[col("requests_per_sec")], format!("{rps:.2}"));
        assert_eq!(c[col("p99_us")], p99.to_string());
        assert_eq!(c[col("server_cpu_avg_pct")], format!("{cpu:.2}"));
    }
    assert!(v["breaking_point"].is_null() || v["breaking_point"]["step"].as_u64().is_some());
    assert!(stdout.contains(v["summary"].as_str().unwrap()), "{stdout}");
}

/// A pre-fork server (a master that only waits, two CPU-bound workers, re-forked
/// every 300 requests): `--server-pid` of the master counts its workers, and the
/// CPU is capped at what the server may use, stated in the header.
#[test]
fn ramp_samples_a_forking_servers_tree() {
    let _serial = crate::support::exclusive();
    let server = crate::support::forking::Forking::start(&[
        "--workers",
        "2",
        "--work",
        "3000",
        "--max-requests",
        "300",
    ]);
    let json = temp("fork.json");
    let (out, stdout, stderr) = ramp(&[
        &server.url(),
        "--from",
        "2",
        "--to",
        "4",
        "--step",
        "2",
        "--step-duration",
        "1500ms",
        "-t",
        "1",
        "--max-errors",
        "5",
        "--server-pid",
        &server.pid(),
        "--json",
        json.to_str().unwrap(),
    ]);
    let json = take(&json);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let v: Value = serde_json::from_str(&json).unwrap();
    for s in v["steps"].as_array().unwrap() {
        let u = &s["server"];
        // The master alone would read 0%.
        assert!(u["avg_cpu_pct"].as_f64().unwrap() > 20.0, "{u}");
        let cpus = u["cpus"].as_f64().unwrap();
        assert!(cpus >= 1.0, "{u}");
        assert!(u["peak_cpu_pct"].as_f64().unwrap() <= 100.0 * cpus, "{u}");
        assert!(u["processes"].as_u64().unwrap() >= 3, "{u}");
        assert!(u["ended"].as_u64().unwrap() > 0, "workers recycled: {u}");
        assert_eq!(
            u["exited"].as_array().unwrap().len(),
            0,
            "the master lives: {u}"
        );
    }
    let header = stdout.lines().next().unwrap();
    assert!(header.contains("and its child processes"), "{header}");
    assert!(header.contains("the server may use"), "{header}");
}

#[test]
fn rate_ramp_asks_each_level() {
    let _serial = crate::support::exclusive();
    let server = start_server(&[]);
    let json = temp("rate.json");
    let (out, stdout, stderr) = ramp(&[
        &server.url(),
        "--rate-from",
        "200",
        "--rate-to",
        "600",
        "--rate-step",
        "200",
        "-c",
        "8",
        "-t",
        "1",
        "--step-duration",
        "1s",
        "--json",
        json.to_str().unwrap(),
    ]);
    let json = take(&json);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["config"]["mode"], "rate");
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3, "{stdout}");
    for (s, want) in steps.iter().zip([200.0, 400.0, 600.0]) {
        assert_eq!(s["level"].as_f64(), Some(want));
        assert_eq!(s["result"]["rate"]["asked"].as_f64(), Some(want), "{s}");
        assert_eq!(s["result"]["config"]["connections"], 8);
        assert!(s["achieved_pct"].as_f64().is_some());
    }
}

#[test]
fn rate_search_finds_a_capacity_and_lists_every_probe() {
    let _serial = crate::support::exclusive();
    let server = start_server(&[]);
    let json = temp("search.json");
    let (out, stdout, stderr) = ramp(&[
        &server.url(),
        "--rate-search",
        "--slo",
        "p99<50ms",
        "--rate-from",
        "500",
        "--rate-to",
        "4000",
        "--search-steps",
        "2",
        "--step-duration",
        "1s",
        "-c",
        "16",
        "-t",
        "1",
        "--json",
        json.to_str().unwrap(),
    ]);
    let json = take(&json);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["config"]["mode"], "rate_search");
    let capacity = v["capacity"]["rate"].as_u64().expect("a capacity");
    assert!(capacity >= 500, "{stdout}");
    assert!(
        stdout.contains(&format!("capacity: {capacity} req/s"))
            || stdout.contains(&format!("capacity: at least {capacity} req/s")),
        "{stdout}"
    );
    let steps = v["steps"].as_array().unwrap();
    // Doubling (500, 1000, 2000, 4000) plus at most two bisection probes.
    assert!(!steps.is_empty() && steps.len() <= 6, "{stdout}");
    assert_eq!(steps[0]["level"], 500);
    for s in steps {
        let n = s["step"].as_u64().unwrap();
        let level = s["level"].as_u64().unwrap();
        assert_eq!(s["result"]["rate"]["asked"].as_f64(), Some(level as f64));
        let passed = s["failures"].as_array().unwrap().is_empty();
        assert!(!passed || level <= capacity, "{s}");
        // A probe that fails the SLO mostly on the generator's own lag says so
        // (no lag figure: the late sends mostly waited for busy connections).
        let rate = &s["result"]["rate"];
        let generators = rate["sends_late_busy"].as_u64() <= rate["sends_late_generator"].as_u64();
        assert_eq!(s["slo_lag_us"].is_u64(), generators, "{s}");
        let lag = s["slo_lag_us"].as_u64().unwrap_or(0);
        let value = s["slo_value_us"].as_u64().unwrap();
        let flagged = s["failures"].as_array().unwrap().iter().any(|f| {
            f.as_str()
                .unwrap()
                .contains("the generator's own schedule lag")
        });
        assert_eq!(
            flagged,
            value > 50_000 && lag as f64 >= 0.25 * value as f64,
            "{s}"
        );
        let row = text_row(&stdout, n);
        assert_eq!(row[1], level.to_string(), "{row:?}");
        assert_eq!(
            row.iter().any(|c| c == "pass"),
            passed,
            "{row:?} passed={passed}"
        );
    }
}

#[test]
fn ramp_bad_usage_exits_2_and_sends_nothing() {
    let _serial = crate::support::exclusive();
    // A listener nobody should connect to: bad usage is found before any load.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let u = url.as_str();
    let cases: &[&[&str]] = &[
        &[u, "--from", "6", "--to", "2"],
        &[u, "--from", "2", "--to", "6", "--step", "0"],
        &[u, "--from", "2", "--to", "6", "--slo", "p99>50ms"],
        &[u, "--from", "2", "--to", "6", "--slo", "p99<50"],
        &[u, "--from", "2", "--to", "6", "--server-pid", "2147483646"],
        &[u, "--rate-search"],
        &[u],
        &[
            u,
            "--from",
            "2",
            "--to",
            "6",
            "--json",
            "/nonexistent-dir/x.json",
        ],
        &[
            "https://127.0.0.1:1/",
            "--from",
            "1",
            "--to",
            "2",
            "--cacert",
            "/nonexistent/ca.pem",
        ],
        &["http://exa mple/", "--from", "1", "--to", "2"],
        &[u, "--from", "1", "--to", "2", "--step-duration", "0s"],
    ];
    for args in cases {
        let (out, _, stderr) = ramp(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("ceiling ramp: "), "{args:?}: {stderr}");
    }
    assert_eq!(
        listener.accept().unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock,
        "a bad usage case connected"
    );
}

/// A ramp of one level (`--from 3 --to 3`, `--rate-from X --rate-to X`) is a one-step
/// report, and a search over one rate probes it once: never a panic after the load, with the
/// --json written.
#[test]
fn one_level_ramps_report_their_one_step() {
    let _serial = crate::support::exclusive();
    let server = start_server(&[]);
    let cases: [(&[&str], &str); 3] = [
        (&["--from", "3", "--to", "3"], "connections"),
        (&["--rate-from", "100", "--rate-to", "100"], "rate"),
        (
            &[
                "--rate-search",
                "--slo",
                "p99<1s",
                "--rate-from",
                "100",
                "--rate-to",
                "100",
            ],
            "rate_search",
        ),
    ];
    for (i, (levels, mode)) in cases.into_iter().enumerate() {
        let json = temp(&format!("one-{i}.json"));
        let mut args = vec![
            server.url(),
            "-t".into(),
            "1".into(),
            "--step-duration".into(),
            "200ms".into(),
            "--json".into(),
            json.display().to_string(),
        ];
        args.extend(levels.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (out, stdout, stderr) = ramp(&args);
        let json = take(&json);
        assert_eq!(out.status.code(), Some(0), "{args:?}\n{stdout}\n{stderr}");
        let v: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
        assert_eq!(v["config"]["mode"], mode, "{json}");
        let steps = v["steps"].as_array().unwrap();
        assert!(!steps.is_empty(), "{json}");
        assert!(steps[0]["result"]["counters"]["completed"].as_u64() > Some(0));
    }
}
