//! `ceiling compare` against two `ceiling serve` instances (one slowed by /delay):
//! interleaved rounds, and tables that agree with the runs' own results.

use std::process::Command;

use serde_json::Value;

use crate::support::{ceiling_bin, start_server};

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
        4,
        "a bar chart per level, then requests/s and p99 against the level"
    );
    for p in [&json, &md, &csv, &html] {
        let _ = std::fs::remove_file(p);
    }
    assert_eq!(v["schema"], "ceiling.compare/1");
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
                    .any(|l| l.starts_with(name) && l.contains(&shown)),
                "{name} {shown}\n{stdout}"
            );
            assert!(
                markdown.contains(&format!("| {name} | {shown} |")),
                "{markdown}"
            );
            assert_eq!(
                csv_text
                    .lines()
                    .filter(|l| l.starts_with(&format!("{conns},{name},")))
                    .count(),
                3
            );
            for run in runs {
                assert_eq!(run["config"]["connections"].as_u64(), Some(conns));
            }
        }
        // A few connections against a 20 ms delay: at most ~200 req/s; plaintext is far faster.
        let fast_t = &targets[1];
        let r = &fast_t["vs_baseline"];
        assert!(r["ratio"].as_f64().unwrap() > 10.0, "{r}");
        assert_eq!(r["within_noise"], false);
        let verdict = level["verdict"].as_str().unwrap();
        assert!(verdict.starts_with("winner: fast"), "{verdict}");
        assert_eq!(level["winner"], "fast");
    }
    assert!(stdout.contains("winner: fast"));
    assert!(stdout.contains("Winner per concurrency level:"), "{stdout}");
    assert!(
        markdown
            .contains("| Connections | slow RPS | fast RPS | slow Err % | fast Err % | Winner |"),
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
        &["compare", "a=http://127.0.0.1:1/", "b=https://127.0.0.1:2/"],
    ] {
        let out = Command::new(ceiling_bin()).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
    }
}
