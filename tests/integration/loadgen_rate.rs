//! Constant-rate runs (-R): coordinated-omission correction against a server whose
//! stalls give a known latency distribution, and the achieved rate against
//! `ceiling serve`.

use std::time::Duration;

use serde_json::Value;

use crate::support::stall::Stalling;
use crate::support::{run_ceiling, start_server};

const WATCHDOG: Duration = Duration::from_secs(40);

fn run(args: &[&str]) -> (i32, String, Value) {
    let path = std::env::temp_dir().join(format!(
        "ceiling-rate-{}-{}.json",
        std::process::id(),
        args.join("_").replace(['/', ':'], "")
    ));
    let mut argv = vec!["--json", path.to_str().unwrap()];
    argv.extend_from_slice(args);
    let done = run_ceiling(&argv, WATCHDOG);
    eprint!("{}", done.stderr);
    let text = std::fs::read_to_string(&path).expect("JSON result");
    let _ = std::fs::remove_file(&path);
    (
        done.code.unwrap_or(-1),
        done.stdout,
        serde_json::from_str(&text).unwrap(),
    )
}

fn percentile(latency: &Value, p: f64) -> Duration {
    let us = latency["percentiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["percentile"].as_f64() == Some(p))
        .unwrap_or_else(|| panic!("no p{p} in {latency}"))["value_us"]
        .as_u64()
        .unwrap();
    Duration::from_micros(us)
}

fn within(got: Duration, want: Duration, share: f64) -> bool {
    let (g, w) = (got.as_secs_f64(), want.as_secs_f64());
    (g - w).abs() <= w * share
}

#[test]
fn corrected_percentiles_match_the_known_truth_of_a_stalling_server() {
    let _serial = crate::support::exclusive();
    let period = Duration::from_secs(1);
    let stall = Duration::from_millis(200);
    let server = Stalling::start(period, stall);
    let hgrm = std::env::temp_dir().join(format!("ceiling-{}.hgrm", std::process::id()));
    let hlog = std::env::temp_dir().join(format!("ceiling-{}.hlog", std::process::id()));
    // A whole number of periods: any such window holds exactly the same stall time.
    let (code, stdout, v) = run(&[
        "-t",
        "1",
        "-c",
        "10",
        "-R",
        "1000",
        "-d",
        "4s",
        "--timeout",
        "2s",
        "--latency",
        "--u_latency",
        "--hgrm",
        hgrm.to_str().unwrap(),
        "--hlog",
        hlog.to_str().unwrap(),
        &server.url(),
    ]);
    assert_eq!(code, 0, "{stdout}");
    let c = &v["counters"];
    assert_eq!(c["errors"]["timeout"], 0, "{c}");
    let lat = &v["latency"];
    let unc = &v["rate"]["uncorrected_latency"];
    let base = percentile(lat, 50.0);
    let report = format!(
        "corrected p50 {:?} p99 {:?} p99.9 {:?}; uncorrected p99 {:?}; truth p99 {:?} p99.9 {:?}\n{stdout}",
        base,
        percentile(lat, 99.0),
        percentile(lat, 99.9),
        percentile(unc, 99.0),
        Stalling::truth(0.99, period, stall),
        Stalling::truth(0.999, period, stall)
    );
    // p50 is the unstalled latency (within 2 ms).
    assert!(base < Duration::from_millis(2), "{report}");
    for q in [99.0, 99.9] {
        let truth = base + Stalling::truth(q / 100.0, period, stall);
        assert!(
            within(percentile(lat, q), truth, 0.10),
            "corrected p{q} is not within 10% of the truth {truth:?}: {report}"
        );
    }
    // What a closed-loop tool sees is far from the truth: only the one request
    // each connection had out when a stall began waited, so the slow share is
    // ~1%, not 20%, and p90 looks unstalled.
    let truth90 = base + Stalling::truth(0.90, period, stall);
    assert!(
        percentile(unc, 90.0) < truth90 / 4,
        "uncorrected p90 should be far below the truth {truth90:?}: {report}"
    );
    assert!(
        within(percentile(lat, 90.0), truth90, 0.10),
        "corrected p90 should match the truth {truth90:?}: {report}"
    );
    // wrk2's layout and the files.
    assert!(stdout.contains("Latency Distribution (HdrHistogram - Recorded Latency)"));
    assert!(stdout.contains("Latency Distribution (HdrHistogram - Uncorrected Latency"));
    assert!(stdout.contains("Detailed Percentile spectrum:"));
    assert!(stdout.contains("  Verdict: "), "{stdout}");
    let hgrm_text = std::fs::read_to_string(&hgrm).unwrap();
    assert!(hgrm_text.contains("#[Max     ="), "{hgrm_text}");
    let hlog_text = std::fs::read_to_string(&hlog).unwrap();
    let intervals = hlog_text.lines().filter(|l| l.contains(",HISTF")).count();
    assert!((4..=5).contains(&intervals), "{hlog_text}");
    let _ = std::fs::remove_file(&hgrm);
    let _ = std::fs::remove_file(&hlog);
    assert_eq!(v["timeseries"].as_array().unwrap().len(), intervals);
}

fn achieved(rate: &str, conns: &str, arrivals: &str, tolerance: f64) {
    let server = start_server(&[]);
    let url = format!("{}/plaintext", server.url());
    let (code, stdout, v) = run(&[
        "-t",
        "1",
        "-c",
        conns,
        "-R",
        rate,
        "--arrivals",
        arrivals,
        "-d",
        "2s",
        &url,
    ]);
    assert_eq!(code, 0, "{stdout}");
    let asked: f64 = rate.parse().unwrap();
    let r = &v["rate"];
    let sent = r["sent_per_sec"].as_f64().unwrap();
    assert!(
        (sent - asked).abs() <= asked * tolerance,
        "asked {asked}/s, sent {sent}/s\n{stdout}"
    );
    assert_eq!(r["asked"].as_f64(), Some(asked));
    // On a busy runner the generator may be late now and then; the verdict must
    // then say so, never claim a rate it did not keep. Its own lag, when a
    // sizeable share of the latency, is named in the verdict and a warning.
    let verdict = r["verdict"].as_str().unwrap();
    assert!(
        verdict.starts_with("kept its schedule")
            || verdict.starts_with("sent its schedule")
            || verdict.starts_with("the generator was the bottleneck"),
        "{stdout}"
    );
    // Sizeable and the generator's: most late sends did not wait for a busy connection.
    let sizeable = r["lag_share"]["share"].as_f64().unwrap() >= 0.25
        && r["sends_late_busy"].as_u64() <= r["sends_late_generator"].as_u64();
    assert!(!(sizeable && verdict.starts_with("kept")), "{stdout}");
    let warned = v["warnings"].as_array().unwrap().iter().any(|w| {
        w.as_str()
            .unwrap()
            .starts_with("the generator's own schedule lag")
    });
    assert_eq!(warned, sizeable, "{stdout}");
    let c = &v["counters"];
    let sent_n = c["sent"].as_u64().unwrap();
    let accounted = c["completed"].as_u64().unwrap()
        + c["in_flight_at_stop"].as_u64().unwrap()
        + ["read", "write", "timeout", "invalid"]
            .iter()
            .map(|k| c["errors"][k].as_u64().unwrap())
            .sum::<u64>();
    assert_eq!(sent_n, accounted, "{c}");
}

#[test]
fn achieved_rate_within_1_percent_at_200_per_second() {
    let _serial = crate::support::exclusive();
    achieved("200", "4", "constant", 0.01);
}

#[test]
fn achieved_rate_within_1_percent_at_5000_per_second() {
    let _serial = crate::support::exclusive();
    achieved("5000", "16", "constant", 0.01);
}

#[test]
fn poisson_arrivals_keep_the_mean_rate() {
    let _serial = crate::support::exclusive();
    // 4000 arrivals: the count's standard deviation is 1.6%; allow three of them.
    achieved("2000", "16", "poisson", 0.05);
}

/// `-R 1000 -d 2s` schedules exactly 2,000 requests (the window is [0, 2 s)), on every
/// engine: the direct loop's ring timeouts and monoio's timer alike; and a rate run's
/// accounting stays balanced.
#[test]
fn the_scheduled_count_is_exact_on_every_engine() {
    let _serial = crate::support::exclusive();
    let server = start_server(&[]);
    let url = format!("{}/plaintext", server.url());
    for engine in ["auto", "monoio", "epoll"] {
        for arrivals in ["constant", "poisson"] {
            let args =
                format!("-t 1 -c 10 -R 1000 -d 2s --arrivals {arrivals} --io-engine {engine}");
            let mut argv: Vec<&str> = args.split(' ').collect();
            argv.push(&url);
            let (code, stdout, v) = run(&argv);
            assert_eq!(code, 0, "{stdout}");
            let r = &v["rate"];
            let c = &v["counters"];
            let sent = c["sent"].as_u64().unwrap();
            let scheduled = r["scheduled"].as_u64().unwrap();
            let behind = r["behind_at_stop"].as_u64().unwrap();
            assert_eq!(sent + behind, scheduled, "{engine} {arrivals}: {r}");
            if arrivals == "constant" {
                assert_eq!(scheduled, 2000, "{engine}: {r}\n{stdout}");
            } else {
                // Poisson: the count over 2 s at 1000/s, within 4 standard deviations.
                assert!((1820..=2180).contains(&scheduled), "{engine}: {r}");
            }
            let direct = v["meta"]["engine"]["direct"].as_bool().unwrap_or(false);
            if engine == "monoio" || engine == "epoll" {
                assert!(!direct, "{engine}");
            }
        }
    }
}
