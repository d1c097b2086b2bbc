//! `ceiling compare` against two `ceiling serve` instances (one slowed by /delay):
//! interleaved rounds, and tables that agree with the runs' own results. Against
//! two pre-fork servers (a master that only waits, workers that do the work):
//! their process trees' CPU and memory, workers that exit and are re-forked during
//! the runs, a target that fails above a level, and formats that agree.

use std::process::Command;

use serde_json::Value;

use crate::support::forking::Forking;
use crate::support::{ceiling_bin, run_ceiling, start_server};
use std::time::Duration;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[test]
fn compare_reports_medians_intervals_and_the_winner() {
    let _serial = crate::support::exclusive();
    let fast = start_server(&[]);
    let slow = start_server(&[]);
    let dir = std::env::temp_dir();
    let id = std::process::id();
    let (json, md, csv) = (
        dir.join(format!("ceiling-compare-{id}.json")),
        dir.join(format!("ceiling-compare-{id}.md")),
        dir.join(format!("ceiling-compare-{id}.csv")),
    );
    let html = dir.join(format!("ceiling-compare-{id}.html"));
    let out = Command::new(ceiling_bin())
        .args([
            "compare",
            "--repeats",
            // Three rounds: with two, the t quantile (12.7) makes even a 10x
            // difference fall within the interval on a busy machine.
            "3",
            "-d",
            "1s",
            "--levels",
            "2,4",
            "-t",
            "1",
        ])
        .arg(format!("slow={}/delay/20", slow.url()))
        .arg(format!("fast={}/plaintext", fast.url()))
        .args(["--json", json.to_str().unwrap()])
        .args([
            "--markdown",
            md.to_str().unwrap(),
            "--csv",
            csv.to_str().unwrap(),
            "--html",
            html.to_str().unwrap(),
        ])
        .output()
        .expect("run ceiling compare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let markdown = std::fs::read_to_string(&md).unwrap();
    let csv_text = std::fs::read_to_string(&csv).unwrap();
    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(
        page.matches("<svg").count(),
        2,
        "requests/s and p99 against the level (no server sampled: no CPU charts)"
    );
    for p in [&json, &md, &csv, &html] {
        let _ = std::fs::remove_file(p);
    }
    assert_eq!(v["schema"], "ceiling.compare/2");
    assert_eq!(v["baseline"], "slow");
    let levels = v["levels"].as_array().unwrap();
    assert_eq!(levels.len(), 2);
    for level in levels {
        let conns = level["connections"].as_u64().unwrap();
        let targets = level["targets"].as_array().unwrap();
        assert_eq!(targets.len(), 2);
        for t in targets {
            let runs = t["runs"].as_array().unwrap();
            assert_eq!(runs.len(), 3, "one run per round");
            let rps: Vec<f64> = runs
                .iter()
                .map(|r| r["requests_per_sec"].as_f64().unwrap())
                .collect();
            // serde_json's float parsing may differ in the last bit: compare closely, not exactly.
            let want = median(rps.clone());
            assert!((t["median_rps"].as_f64().unwrap() - want).abs() <= want * 1e-9);
            let name = t["name"].as_str().unwrap();
            let shown = format!("{:.0}", t["median_rps"].as_f64().unwrap());
            assert!(
                stdout
                    .lines()
                    .any(|l| l.split_whitespace().any(|c| c == name) && l.contains(&shown)),
                "{name} {shown}\n{stdout}"
            );
            assert!(
                markdown.contains(&format!("| {conns} | {shown} |")),
                "{markdown}"
            );
            assert_eq!(
                csv_text
                    .lines()
                    .filter(|l| l.starts_with(&format!("{conns},{name},")))
                    .count(),
                1
            );
            for run in runs {
                assert_eq!(run["config"]["connections"].as_u64(), Some(conns));
            }
            assert!(t["server"].is_null(), "no --server-pid, no server figures");
        }
        // A few connections against a 20 ms delay: at most ~200 req/s; plaintext is far faster.
        let fast_t = &targets[1];
        let r = &fast_t["vs_baseline"];
        assert!(r["ratio"].as_f64().unwrap() > 10.0, "{r}");
        assert_eq!(r["within_noise"], false);
        let verdict = level["verdict"].as_str().unwrap();
        assert!(verdict.starts_with("winner: fast"), "{verdict}");
        assert!(verdict.contains("beyond the run-to-run noise"), "{verdict}");
        assert_eq!(level["winner"], "fast");
    }
    assert!(stdout.contains(v["rule"].as_str().unwrap()), "{stdout}");
    assert!(
        markdown.contains("| Connections | slow req/s | slow err % | slow mean | slow p95 | slow p99 | fast req/s |"),
        "{markdown}"
    );
}

#[test]
fn compare_bad_usage_exits_2() {
    let _serial = crate::support::exclusive();
    for args in [
        &["compare", "only=http://127.0.0.1:1/"][..],
        &["compare", "a=http://127.0.0.1:1/", "noequals"],
        &["compare", "a=http://127.0.0.1:1/", "a=http://127.0.0.1:2/"],
        &[
            "compare",
            "a=http://127.0.0.1:1/",
            "b=http://127.0.0.1:2/",
            "--baseline",
            "c",
        ],
        &[
            "compare",
            "a=http://127.0.0.1:1/",
            "b=https://127.0.0.1:2/",
            "--cacert",
            "/nonexistent/ca.pem",
        ],
        &[
            "compare",
            "a=http://127.0.0.1:1/",
            "b=http://127.0.0.1:2/",
            "--server-pid",
            "c=1",
        ],
        &[
            "compare",
            "a=http://127.0.0.1:1/",
            "b=http://127.0.0.1:2/",
            "--server-pid",
            "a",
        ],
        &[
            "compare",
            "a=http://127.0.0.1:1/",
            "b=http://127.0.0.1:2/",
            "--server-pid",
            "a=x",
        ],
        &[
            "compare",
            "a=http://127.0.0.1:1/",
            "b=http://127.0.0.1:2/",
            "--server-pid",
            "a=2147483647",
        ],
        &[
            "compare",
            "a=http://127.0.0.1:1/",
            "b=http://127.0.0.1:2/",
            "--server-pid",
            "a=1",
            "--server-pid",
            "a=1",
        ],
        &[
            "compare",
            "a=http://127.0.0.1:1/",
            "b=http://127.0.0.1:2/",
            "--max-errors",
            "101",
        ],
        &[
            "compare",
            "a=http://127.0.0.1:1/",
            "b=http://127.0.0.1:2/",
            "--slo",
            "p99>5ms",
        ],
        &[
            "compare",
            "a=http://127.0.0.1:1/",
            "b=http://127.0.0.1:2/",
            "--levels",
            "4,1,4",
        ],
    ] {
        let out = Command::new(ceiling_bin()).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
    }
}

/// A process tree's CPU ticks as read from outside: the master's own and reaped
/// children's time plus each live child's (proc(5) fields 14-17).
fn tree_ticks(pid: u32) -> u64 {
    let stat = |p: &str| -> Vec<u64> {
        let text = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
        let after = text.rsplit_once(") ").map_or("", |x| x.1);
        // Fields from the state (3rd) on; utime is the 14th.
        after
            .split_whitespace()
            .skip(11)
            .take(4)
            .map(|f| f.parse().unwrap_or(0))
            .collect()
    };
    let master = stat(&pid.to_string());
    let mut total: u64 = master.iter().sum();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let kids = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for kid in kids.split_whitespace() {
            total += stat(kid).iter().sum::<u64>();
        }
    }
    total
}

fn md_row<'a>(markdown: &'a str, section: &str, first_cell: &str) -> Vec<&'a str> {
    let at = markdown
        .find(&format!("\n## {section}\n"))
        .unwrap_or_else(|| panic!("no section {section}\n{markdown}"));
    markdown[at..]
        .lines()
        .find(|l| l.starts_with(&format!("| {first_cell} |")))
        .unwrap_or_else(|| panic!("no row {first_cell} in {section}\n{markdown}"))
        .trim_matches('|')
        .split(" | ")
        .map(str::trim)
        .collect()
}

#[test]
fn compare_samples_the_process_trees_of_two_forking_servers() {
    let _serial = crate::support::exclusive();
    // Both CPU-bound by design; the second recycles its workers every 300
    // requests, so workers exit and are forked during every run.
    let steady = Forking::start(&["--workers", "2", "--work", "3000"]);
    let recycled = Forking::start(&["--workers", "2", "--work", "3000", "--max-requests", "300"]);
    let dir = std::env::temp_dir();
    let id = std::process::id();
    let path = |ext: &str| dir.join(format!("ceiling-compare-fork-{id}.{ext}"));
    let (json, md, csv, html) = (path("json"), path("md"), path("csv"), path("html"));
    let before = (
        tree_ticks(steady.child.id()),
        tree_ticks(recycled.child.id()),
    );
    let args = [
        "compare".to_string(),
        format!("steady={}", steady.url()),
        format!("recycled={}", recycled.url()),
        "--levels".into(),
        "2,4".into(),
        "-d".into(),
        "1s".into(),
        "-t".into(),
        "1".into(),
        "--repeats".into(),
        "1".into(),
        "--max-errors".into(),
        "5".into(),
        "--server-pid".into(),
        format!("steady={}", steady.pid()),
        "--server-pid".into(),
        format!("recycled={}", recycled.pid()),
        "--json".into(),
        json.to_str().unwrap().into(),
        "--markdown".into(),
        md.to_str().unwrap().into(),
        "--csv".into(),
        csv.to_str().unwrap().into(),
        "--html".into(),
        html.to_str().unwrap().into(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_ceiling(&args, Duration::from_secs(60));
    let after = (
        tree_ticks(steady.child.id()),
        tree_ticks(recycled.child.id()),
    );
    let read = |p: &std::path::PathBuf| {
        let t = std::fs::read_to_string(p).unwrap_or_default();
        let _ = std::fs::remove_file(p);
        t
    };
    let (json, markdown, csv, page) = (read(&json), read(&md), read(&csv), read(&html));
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        page.matches("<svg").count(),
        4,
        "requests/s, p99, server CPU and memory"
    );
    let tps = 100.0; // USER_HZ on Linux
    let mut sampled_s = [0.0f64; 2];
    let csv_head: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |n: &str| csv_head.iter().position(|h| *h == n).unwrap();
    for level in v["levels"].as_array().unwrap() {
        let conns = level["connections"].as_u64().unwrap();
        for (i, t) in level["targets"].as_array().unwrap().iter().enumerate() {
            let name = t["name"].as_str().unwrap();
            let u = &t["server"];
            let cpu = u["avg_cpu_pct"].as_f64().unwrap();
            // The master does nothing: without its workers this would be 0.
            assert!(cpu > 20.0, "{name} at {conns}: {u}");
            assert!(u["peak_cpu_pct"].as_f64().unwrap() <= 100.0 * u["cpus"].as_f64().unwrap());
            assert!(u["processes"].as_u64().unwrap() >= 3, "{u}");
            assert!(u["peak_rss_mib"].as_f64().unwrap() > 5.0, "{u}");
            assert!(u["sampler_cpu_pct"].as_f64().unwrap() < 5.0, "{u}");
            sampled_s[i] += u["cpu_s"].as_f64().unwrap();
            if name == "recycled" {
                assert!(u["ended"].as_u64().unwrap() > 0, "{u}");
                assert!(u["started"].as_u64().unwrap() > 0, "{u}");
            }
            // Markdown, CSV and JSON agree.
            let shown_rps = format!("{:.0}", t["median_rps"].as_f64().unwrap());
            let shown_cpu = format!("{cpu:.1}%");
            let row = md_row(&markdown, name, &conns.to_string());
            assert_eq!(row[1], shown_rps, "{row:?}");
            assert!(row.contains(&shown_cpu.as_str()), "{row:?} {shown_cpu}");
            let c: Vec<&str> = csv
                .lines()
                .find(|l| l.starts_with(&format!("{conns},{name},")))
                .unwrap()
                .split(',')
                .collect();
            assert_eq!(
                c[col("median_rps")],
                format!("{:.2}", t["median_rps"].as_f64().unwrap())
            );
            assert_eq!(c[col("server_cpu_avg_pct")], format!("{cpu:.2}"));
            assert_eq!(c[col("p99_us")], t["p99_us"].to_string());
            assert_eq!(c[col("winner")] == "true", level["winner"] == name);
        }
    }
    // Every tick the trees used went into the runs and was counted once, exited
    // workers included (they idle between runs: within a few ticks per process
    // and run).
    for (i, (b, a)) in [(before.0, after.0), (before.1, after.1)]
        .iter()
        .enumerate()
    {
        let outside = (a - b) as f64 / tps;
        assert!(
            (sampled_s[i] - outside).abs() <= 0.15 * outside + 0.15,
            "target {i}: sampled {:.2} s, the tree used {outside:.2} s",
            sampled_s[i]
        );
    }
}

#[test]
fn a_target_failing_above_a_level_breaks_and_loses_the_winner_there() {
    let _serial = crate::support::exclusive();
    // `fast` does little per request but answers 503 once a worker holds more than
    // 2 connections; `slow` burns more CPU per request and never fails.
    // Two levels, so a noisy machine cannot fake a throughput drop between
    // passing levels: the break must come from the errors.
    let fast = Forking::start(&["--workers", "1", "--work", "50", "--fail-above", "2"]);
    let slow = Forking::start(&["--workers", "2", "--work", "20000"]);
    let dir = std::env::temp_dir();
    let json = dir.join(format!("ceiling-compare-break-{}.json", std::process::id()));
    let out = run_ceiling(
        &[
            "compare",
            &format!("fast={}", fast.url()),
            &format!("slow={}", slow.url()),
            "--levels",
            "2,4",
            "-d",
            "1s",
            "-t",
            "1",
            "--repeats",
            "1",
            "--server-pid",
            &format!("fast={}", fast.pid()),
            "--json",
            json.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    let text = std::fs::read_to_string(&json).unwrap_or_default();
    let _ = std::fs::remove_file(&json);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let v: Value = serde_json::from_str(&text).unwrap();
    let winners: Vec<&str> = v["levels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["winner"].as_str().unwrap_or("none"))
        .collect();
    assert_eq!(winners, ["fast", "slow"], "{}", out.stdout);
    let bp = &v["targets"][0]["breaking_point"];
    assert_eq!(bp["connections"], 4, "{}", out.stdout);
    assert!(
        bp["reasons"][0].as_str().unwrap().starts_with("errors"),
        "{bp}"
    );
    let fast_at_4 = &v["levels"][1]["targets"][0];
    assert!(fast_at_4["error_classes"]["status_5xx"].as_u64().unwrap() > 0);
    assert!(
        out.stdout.contains("fast: breaking point at 4 connections"),
        "{}",
        out.stdout
    );
    assert!(v["targets"][1]["server_pid"].is_null());
    assert!(v["levels"][0]["targets"][1]["server"].is_null());
}
