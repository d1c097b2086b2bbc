//! wrk's text layout, so people's parsers and habits keep working, plus the lines
//! wrk lacks (invalid responses, reconnects, in flight at the stop).

use crate::load::Arrivals;
use crate::result::{Config, RunResult, Spread};
use std::fmt::Write as _;

/// Not measured: shown where a figure has nothing to stand on (no sample, no
/// completion, an interval of no length), never a zero that looks measured.
const NA: &str = "n/a";

/// Renders the report exactly in wrk's columns, from the result alone:
/// [`header`] then [`body`].
pub fn render(r: &RunResult) -> String {
    header(&r.config) + &body(r)
}

/// wrk's first two lines, `Running 10.00s test @ URL` and `  2 threads and 64
/// connections`: they stand on the run's configuration alone, so a run prints
/// them when it starts, as wrk does, and the [`body`] when it ends.
pub fn header(cfg: &Config) -> String {
    let mut s = String::new();
    let what = match (cfg.requests, cfg.duration_s) {
        (Some(n), _) => format!("{n} requests"),
        (None, Some(d)) => format!("{} test", time_s(d)),
        (None, None) => "test".into(),
    };
    let _ = writeln!(s, "Running {what} @ {}{}", cfg.url, connected(cfg));
    let _ = writeln!(
        s,
        "  {} threads and {} connections{}{}",
        cfg.threads,
        cfg.connections,
        if cfg.pipeline > 1 {
            format!(", pipeline {} ({})", cfg.pipeline, cfg.pipeline_mode.name())
        } else {
            String::new()
        },
        sources(&cfg.source_ips)
    );
    s
}

/// Everything after wrk's two header lines: the thread stats, the distribution,
/// the totals.
pub fn body(r: &RunResult) -> String {
    let mut s = String::new();
    let cfg = &r.config;
    let _ = writeln!(
        s,
        "  Thread Stats{:>6}{:>11}{:>8}{:>12}",
        "Avg", "Stdev", "Max", "+/- Stdev"
    );
    let l = &r.latency;
    let measured = l.count > 0;
    row(
        &mut s,
        "Latency",
        Spread {
            mean: measured.then_some(l.mean),
            stdev: measured.then_some(l.stdev),
            max: measured.then_some(l.max as f64),
            within_stdev_pct: measured.then_some(l.within_stdev_pct),
        },
        time_us,
    );
    row(&mut s, "Req/Sec", r.req_per_sec, metric);
    if let Some(rate) = &r.rate {
        // wrk2's layout: the corrected distribution, then the uncorrected one.
        if cfg.latency {
            distribution(&mut s, "Recorded Latency", &l.histogram, &l.percentiles);
        }
        if cfg.u_latency {
            let u = &rate.uncorrected_latency;
            distribution(
                &mut s,
                "Uncorrected Latency (measured without taking delayed starts into account)",
                &u.histogram,
                &u.percentiles,
            );
        }
    } else if cfg.latency {
        let _ = writeln!(s, "  Latency Distribution");
        if l.percentiles.is_empty() {
            let _ = writeln!(s, "     {NA} (no response completed)");
        }
        for p in l.percentiles.iter().filter(|p| p.percentile < 100.0) {
            let label = if p.percentile.fract() == 0.0 {
                format!("{:.0}%", p.percentile)
            } else {
                format!("{}%", p.percentile)
            };
            let _ = write!(s, "{label:>8}");
            units(&mut s, time_us(p.value_us as f64), 10);
            s.push('\n');
        }
    }
    let c = &r.counters;
    let _ = writeln!(
        s,
        "  {} requests in {}, {}B read",
        c.completed,
        time_s(r.duration_s),
        binary(c.bytes_read as f64)
    );
    let e = &c.errors;
    let tls_errors = e.tls + e.tls_handshake;
    if e.connect + e.read + e.write + e.timeout + tls_errors > 0 {
        // wrk's line; `tls` is appended only when there are TLS errors, so a
        // plain run's line is wrk's exactly.
        let _ = writeln!(
            s,
            "  Socket errors: connect {}, read {}, write {}, timeout {}{}",
            e.connect,
            e.read,
            e.write,
            e.timeout,
            if tls_errors > 0 {
                format!(", tls {tls_errors}")
            } else {
                String::new()
            }
        );
    }
    if let Some(t) = &r.tls {
        tls_lines(&mut s, r, t);
    }
    if c.status.non_2xx_3xx() > 0 {
        let _ = writeln!(s, "  Non-2xx or 3xx responses: {}", c.status.non_2xx_3xx());
    }
    if e.invalid > 0 {
        let _ = writeln!(
            s,
            "  Invalid responses: {} (first: {})",
            e.invalid,
            r.first_invalid.as_deref().unwrap_or("?")
        );
    }
    if e.script > 0 {
        let _ = writeln!(s, "  Script errors: {} (the first is on stderr)", e.script);
    }
    if c.reconnects > 0 {
        let _ = writeln!(s, "  Reconnects: {}", c.reconnects);
    }
    if c.in_flight_at_stop > 0 {
        let _ = writeln!(s, "  In flight at the stop: {}", c.in_flight_at_stop);
    }
    if r.interrupted {
        let _ = writeln!(
            s,
            "  Interrupted: the figures cover the {} that ran",
            time_s(r.duration_s)
        );
    }
    if let Some(rate) = &r.rate {
        let _ = writeln!(
            s,
            "  Rate: asked {:.2}/s ({}), sent {:.2}/s ({:.2}% of scheduled), completed {:.2}/s",
            rate.asked,
            match rate.arrivals {
                Arrivals::Constant => "constant",
                Arrivals::Poisson => "poisson",
            },
            rate.sent_per_sec,
            rate.achieved_pct,
            rate.completed_per_sec
        );
        let lag99 = rate.lag.at(99.0);
        let _ = writeln!(
            s,
            "  Schedule: {} sends late by >1ms ({} waited for a busy connection, {} generator lag); lag p99 {}, max {}",
            rate.sends_late,
            rate.sends_late_busy,
            rate.sends_late_generator,
            time_us(lag99 as f64),
            time_us(rate.lag.max as f64)
        );
        let g = &r.generator_cpu;
        let _ = writeln!(
            s,
            "  Generator CPU: {:.2}us per request ({:.2}s user, {:.2}s sys)",
            g.us_per_request, g.user_s, g.sys_s
        );
        let _ = writeln!(s, "  Verdict: {}", rate.verdict);
    }
    nodes(&mut s, r);
    if r.duration_s > 0.0 {
        let _ = writeln!(s, "Requests/sec: {:>9.2}", r.requests_per_sec);
        // wrk's line, then the rate in link units (appended, so wrk parsers still read it).
        let _ = writeln!(
            s,
            "Transfer/sec: {:>10}B  {}",
            binary(r.bytes_read_per_sec),
            gbit(r.gbit_read_per_sec)
        );
    } else {
        // A run of no length has no rate.
        let _ = writeln!(s, "Requests/sec: {NA:>9}");
        let _ = writeln!(s, "Transfer/sec: {NA:>10}");
    }
    s
}

/// An `https://` run's lines: the TLS errors by cause (when there are any),
/// what was negotiated with the handshakes' count and rate, and with
/// `--latency` the handshake time's p50/p99/max.
fn tls_lines(s: &mut String, r: &RunResult, t: &crate::result::TlsReport) {
    let e = &r.counters.errors;
    if e.tls + e.tls_handshake > 0 || !t.failures.is_empty() {
        let causes = t
            .failures
            .iter()
            .map(|(cause, n)| format!("{cause} x{n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            s,
            "  TLS errors: {} handshake{} failed, {} request{} lost{}{}",
            e.tls_handshake,
            plural(e.tls_handshake),
            e.tls,
            plural(e.tls),
            if causes.is_empty() { "" } else { ": " },
            causes
        );
    }
    let agreed = match &t.negotiated {
        Some(n) => n.to_string(),
        None => "no handshake completed".into(),
    };
    let rate = if r.duration_s > 0.0 {
        format!(", {:.2}/s", t.handshakes_per_sec)
    } else {
        String::new()
    };
    let _ = writeln!(
        s,
        "  TLS: {agreed}, {} handshake{} ({} resumed{}){rate}",
        t.handshakes,
        plural(t.handshakes),
        t.resumed,
        if t.resume { "" } else { ", resumption off" }
    );
    if r.config.latency {
        let h = &t.handshake_latency;
        if h.count > 0 {
            let _ = writeln!(
                s,
                "  TLS handshake time: p50 {}, p99 {}, max {}",
                time_us(h.at(50.0) as f64),
                time_us(h.at(99.0) as f64),
                time_us(h.max as f64)
            );
        } else {
            let _ = writeln!(s, "  TLS handshake time: {NA} (no handshake completed)");
        }
    }
}

/// "s" unless `n` is one.
fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// ` (127.0.0.1:8080)`: the address connected to, unless the URL already shows it.
fn connected(cfg: &Config) -> String {
    match cfg.addr {
        Some(a) if !cfg.url.contains(&a.to_string()) => format!(" ({a})"),
        _ => String::new(),
    }
}

/// One "Thread Stats" row in wrk's columns; a figure not measured is `n/a`.
fn row(s: &mut String, label: &str, q: Spread, unit: fn(f64) -> String) {
    let _ = write!(s, "    {label:<10}");
    let shown = |v: Option<f64>| v.map_or(NA.to_string(), unit);
    units(s, shown(q.mean), 8);
    units(s, shown(q.stdev), 10);
    units(s, shown(q.max), 9);
    match q.within_stdev_pct {
        Some(p) => {
            let _ = writeln!(s, "{p:>8.2}%");
        }
        None => {
            let _ = writeln!(s, "{NA:>9}");
        }
    }
}

/// A merge's nodes, and what it doubts.
fn nodes(s: &mut String, r: &RunResult) {
    if r.partial {
        let _ = writeln!(
            s,
            "  PARTIAL: nodes or parts of them are missing; the figures cover only what is here"
        );
    }
    if !r.nodes.is_empty() {
        let _ = writeln!(
            s,
            "  Nodes: {}{}",
            r.nodes.len(),
            if r.partial { " (partial)" } else { "" }
        );
        for n in &r.nodes {
            let _ = writeln!(
                s,
                "    node {:<3} {:<20} {:>10} completed {:>12.2}/s {:>6} errors{}{}",
                n.index,
                n.hostname,
                n.completed,
                n.requests_per_sec,
                n.errors,
                n.achieved_pct
                    .map(|a| format!(", {a:.1}% of schedule"))
                    .unwrap_or_default(),
                if n.complete { "" } else { ", TRUNCATED" }
            );
        }
    }
    for w in &r.warnings {
        let _ = writeln!(s, "  Warning: {w}");
    }
}

/// `, from 3 source addresses (127.0.0.2 .. 127.0.0.4)`, or nothing.
fn sources(ips: &[std::net::IpAddr]) -> String {
    match ips {
        [] => String::new(),
        [one] => format!(", from {one}"),
        [first, .., last] => format!(", from {} source addresses ({first} .. {last})", ips.len()),
    }
}

/// Gbit/s with three significant decimals: "9.412Gbit/s", "0.015Gbit/s".
fn gbit(g: f64) -> String {
    format!("{g:.3}Gbit/s")
}

/// wrk2's distribution block: its percentiles, then the full .hgrm spectrum.
fn distribution(
    s: &mut String,
    title: &str,
    histogram: &str,
    percentiles: &[crate::result::Percentile],
) {
    let _ = writeln!(s, "  Latency Distribution (HdrHistogram - {title})");
    for p in percentiles {
        let _ = write!(s, "{:7.3}%", p.percentile);
        units(s, time_us(p.value_us as f64), 10);
        s.push('\n');
    }
    s.push('\n');
    let _ = writeln!(s, "  Detailed Percentile spectrum:");
    if let Ok(h) = shared::stats::codec::decode_base64(histogram) {
        s.push_str(&super::hgrm::spectrum(&h));
    }
    let _ = writeln!(s, "{}", "-".repeat(58));
}

/// wrk's print_units: right-aligned in `width`, with room kept for a short unit.
fn units(s: &mut String, text: String, width: usize) {
    let b = text.as_bytes();
    let mut pad = 2usize;
    if b.last().is_some_and(u8::is_ascii_alphabetic) {
        pad -= 1;
    }
    if b.len() > 1 && b[b.len() - 2].is_ascii_alphabetic() {
        pad -= 1;
    }
    let width = width.saturating_sub(pad);
    let _ = write!(s, "{text:>width$}{}", &"  "[..pad]);
}

/// Microseconds as wrk prints times: 631.75us, 1.55ms, 2.00s, 1.50m.
pub fn time_us(us: f64) -> String {
    if us < 1000.0 {
        format!("{us:.2}us")
    } else if us < 1_000_000.0 {
        format!("{:.2}ms", us / 1000.0)
    } else {
        time_s(us / 1_000_000.0)
    }
}

/// Seconds as wrk prints them: 10.00s, 1.50m, 2.00h.
pub fn time_s(secs: f64) -> String {
    if secs < 60.0 {
        format!("{secs:.2}s")
    } else if secs < 3600.0 {
        format!("{:.2}m", secs / 60.0)
    } else {
        format!("{:.2}h", secs / 3600.0)
    }
}

/// Base-1000 with k/M/G, as wrk prints request rates.
pub fn metric(n: f64) -> String {
    scaled(n, 1000.0, &["", "k", "M", "G", "T"])
}

/// Base-1024 with K/M/G (the caller appends "B"), as wrk prints bytes.
pub fn binary(n: f64) -> String {
    scaled(n, 1024.0, &["", "K", "M", "G", "T"])
}

fn scaled(mut n: f64, base: f64, units: &[&str]) -> String {
    let mut i = 0;
    while n >= base && i + 1 < units.len() {
        n /= base;
        i += 1;
    }
    format!("{n:.2}{}", units[i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::node::ThreadRecord;
    use crate::record::{fold, SecondSum, Tally};
    use crate::result::{AskedRate, Config, GeneratorCpu, PaceTotals};
    use shared::stats::{new_histogram, Counters, Histogram};

    /// Latencies 40..~2,040 µs in a fixed, uneven pattern.
    fn latencies(n: u64, scale: u64) -> Histogram {
        let mut h = new_histogram();
        for i in 0..n {
            h.record(40 + (i * 7919 % 2003) * scale / 10 + (i % 97) * 3)
                .unwrap();
        }
        h
    }

    fn meta() -> crate::meta::Meta {
        serde_json::from_value(serde_json::json!({
            "command_line": "ceiling -t2 -c64 -d10s --latency http://localhost:8080/plaintext",
            "version": "0.1.0", "kernel": "Linux 6.1.0 x86_64", "cpu_model": "Test CPU",
            "hostname": "gen0", "nproc": 4, "cpus": [2, 3],
            "engine": {"requested": "auto", "engine": "uring",
                       "ring_flags": "single_issuer_defer_taskrun", "ring_entries": 4096,
                       "reason": "io_uring available", "direct": true},
            "sysctls": {}, "loopback_mtu": 65536, "started_at": "2026-11-23T08:30:00Z"
        }))
        .unwrap()
    }

    fn config() -> Config {
        Config {
            url: "http://localhost:8080/plaintext".into(),
            urls: vec!["http://localhost:8080/plaintext".into()],
            method: "GET".into(),
            threads: 2,
            connections: 64,
            duration_s: Some(10.0),
            requests: None,
            pipeline: 1,
            pipeline_mode: Default::default(),
            source_ips: Vec::new(),
            timeout_ms: 2000,
            addr: Some("127.0.0.1:8080".parse().unwrap()),
            rate: None,
            latency: true,
            u_latency: false,
            script: None,
            requests_file: None,
            tls: None,
        }
    }

    /// A ten-second closed-loop run of two threads, with 404s, timeouts and
    /// requests in flight at the stop.
    fn tally(completed: u64, secs: usize, scale: u64) -> Tally {
        let mut c = Counters {
            sent: completed + 45,
            completed,
            in_flight_at_stop: 40,
            bytes_read: completed * 131,
            bytes_written: completed * 40,
            connects: 64,
            reconnects: 3,
            ..Counters::default()
        };
        c.errors.timeout = 5;
        c.status.client_error = 300;
        c.status.success = completed - 300;
        let mut t = Tally {
            duration_s: secs as f64 + 0.003,
            counters: c,
            histogram: latencies(completed / 50, scale),
            threads: (0..2)
                .map(|i| ThreadRecord {
                    cpu: Some(2 + i),
                    requests: completed / 2,
                    samples: (0..secs * 10)
                        .map(|k| {
                            let mean = completed as f64 / secs as f64 / 2.0;
                            mean * (0.95 + ((k * 37 + i * 11) % 23) as f64 * 0.005)
                        })
                        .collect(),
                })
                .collect(),
            generator_cpu: GeneratorCpu::new(9.1, 6.2, completed + 45),
            ..Tally::default()
        };
        for s in 0..secs {
            let part = SecondSum {
                length_s: 1.0,
                completed: completed / secs as u64,
                errors: 0,
                histogram: latencies(completed / secs as u64 / 50, scale),
            };
            t.second_mut(s).add_sum(&part);
        }
        t
    }

    /// The layout is pinned: run with UPDATE_SNAPSHOTS=1 to rewrite the file
    /// after a deliberate change, and read the diff.
    fn snapshot(name: &str, text: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/report/snapshots")
            .join(name);
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, text).unwrap();
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        if want != text {
            let first = want
                .lines()
                .zip(text.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(want.lines().count().min(text.lines().count()));
            panic!(
                "{} differs from the rendered text at line {} (UPDATE_SNAPSHOTS=1 rewrites it):\n--- want\n{}\n--- got\n{}",
                path.display(),
                first + 1,
                want.lines().nth(first).unwrap_or("<end>"),
                text.lines().nth(first).unwrap_or("<end>")
            );
        }
    }

    #[test]
    fn snapshot_of_a_run() {
        let r = fold::run(config(), meta(), &tally(500_300, 10, 10));
        snapshot("run.txt", &render(&r));
    }

    #[test]
    fn snapshot_of_a_rate_run() {
        let mut config = config();
        config.rate = Some(AskedRate {
            requests_per_sec: 2000.0,
            arrivals: crate::load::Arrivals::Constant,
            seed: 1,
        });
        config.u_latency = true;
        let mut t = tally(20_000, 10, 3);
        t.counters.in_flight_at_stop = 0;
        t.counters.errors.timeout = 0;
        t.counters.sent = 20_000;
        t.counters.status.client_error = 0;
        t.counters.status.success = 20_000;
        t.pace = Some(PaceTotals {
            lag: latencies(400, 1),
            uncorrected: latencies(400, 2),
            late_busy: 12,
            late_generator: 3,
            behind: 2,
        });
        let r = fold::run(config, meta(), &t);
        snapshot("rate_run.txt", &render(&r));
    }

    #[test]
    fn a_run_that_completed_nothing_has_no_latency_to_show() {
        let mut c = Counters::default();
        c.errors.connect = 12;
        let t = Tally {
            duration_s: 1.0,
            counters: c,
            threads: vec![ThreadRecord {
                cpu: Some(1),
                requests: 0,
                samples: vec![0.0; 10],
            }],
            ..Tally::default()
        };
        let r = fold::run(config(), meta(), &t);
        let text = render(&r);
        let row = text.lines().find(|l| l.contains("Latency ")).unwrap();
        assert_eq!(row.matches("n/a").count(), 4, "{row:?}");
        assert!(text.contains("     n/a (no response completed)"), "{text}");
        // Zero requests a second over a second that ran is measured: a zero.
        assert!(
            text.contains("    Req/Sec     0.00      0.00     0.00    100.00%"),
            "{text}"
        );
        assert!(text.contains("Socket errors: connect 12"), "{text}");
    }

    #[test]
    fn snapshot_of_a_run_too_short_to_sample() {
        // -t1 -c2 -n 100 that lasted 10 ms: no Req/Sec sample, one completion
        // of latency; nothing shown as a measured zero.
        let mut config = config();
        config.duration_s = None;
        config.requests = Some(100);
        config.latency = false;
        config.url = "http://127.0.0.1:8080/".into();
        let c = Counters {
            sent: 100,
            completed: 100,
            bytes_read: 13_100,
            ..Counters::default()
        };
        let mut t = Tally {
            duration_s: 0.01,
            counters: c,
            histogram: latencies(100, 1),
            threads: vec![ThreadRecord {
                cpu: Some(1),
                requests: 100,
                samples: Vec::new(),
            }],
            ..Tally::default()
        };
        t.counters.status.success = 100;
        let r = fold::run(config, meta(), &t);
        let text = render(&r);
        assert!(
            text.contains("Running 100 requests @ http://127.0.0.1:8080/\n"),
            "{text}"
        );
        assert!(
            text.contains("    Req/Sec       n/a       n/a      n/a       n/a\n"),
            "{text}"
        );
        assert!(text.contains("Requests/sec:  10000.00"), "{text}");
    }

    /// An https run: `handshakes` completed (`resumed` of them resumed), with
    /// TLS failures by cause.
    fn tls_tally(handshakes: u64, resumed: u64) -> Tally {
        let mut t = tally(500_300, 10, 10);
        let mut x = crate::result::TlsTotals::new();
        for i in 0..handshakes {
            x.handshake.record(900 + (i * 37) % 400).unwrap();
        }
        x.handshake.record(5_000).unwrap();
        x.full = handshakes + 1 - resumed;
        x.resumed = resumed;
        x.negotiated = Some(crate::tls::Negotiated {
            version: "TLSv1_3".into(),
            cipher_suite: "TLS13_AES_256_GCM_SHA384".into(),
            alpn: Some("http/1.1".into()),
            resumed: false,
        });
        t.tls = Some(x);
        t
    }

    fn tls_config() -> Config {
        let mut c = config();
        c.url = "https://localhost:8443/plaintext".into();
        c.urls = vec![c.url.clone()];
        c.addr = Some("127.0.0.1:8443".parse().unwrap());
        c.tls = Some(crate::tls::ClientTlsOptions::default());
        c
    }

    #[test]
    fn an_https_run_shows_what_was_negotiated_and_the_handshake_times() {
        let r = fold::run(tls_config(), meta(), &tls_tally(199, 0));
        let text = render(&r);
        assert!(
            text.contains(
                "  TLS: TLSv1_3 TLS13_AES_256_GCM_SHA384, ALPN http/1.1, 200 handshakes (0 resumed), 19.99/s\n"
            ),
            "{text}"
        );
        // 199 handshakes of 900..1,300 µs and one of 5 ms.
        let line = text
            .lines()
            .find(|l| l.starts_with("  TLS handshake time: "))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(
            line.contains("p99 1.") && line.ends_with("max 5.00ms"),
            "{line}"
        );
        assert!(!line.contains("p50 5"), "{line}");
        // No TLS errors: no TLS error line, and wrk's socket error line as before.
        assert!(!text.contains("TLS errors"), "{text}");
        assert!(
            text.contains("  Socket errors: connect 0, read 0, write 0, timeout 5\n"),
            "{text}"
        );
        // The handshake time is a --latency line.
        let mut cfg = tls_config();
        cfg.latency = false;
        let text = render(&fold::run(cfg, meta(), &tls_tally(199, 0)));
        assert!(text.contains("  TLS: TLSv1_3"), "{text}");
        assert!(!text.contains("TLS handshake time"), "{text}");
    }

    #[test]
    fn an_https_run_counts_tls_errors_beside_the_socket_errors_and_by_cause() {
        let mut t = tls_tally(20, 12);
        t.counters.errors.tls_handshake = 3;
        t.counters.errors.tls = 2;
        t.counters.sent += 2;
        let x = t.tls.as_mut().unwrap();
        x.fail("alert HandshakeFailure", 3);
        x.fail("closed without close_notify mid-response", 1);
        let mut cfg = tls_config();
        cfg.tls.as_mut().unwrap().resume = false;
        let text = render(&fold::run(cfg, meta(), &t));
        assert!(
            text.contains("  Socket errors: connect 0, read 0, write 0, timeout 5, tls 5\n"),
            "{text}"
        );
        assert!(
            text.contains("  TLS errors: 3 handshakes failed, 2 requests lost: alert HandshakeFailure x3, closed without close_notify mid-response x1\n"),
            "{text}"
        );
        assert!(
            text.contains("21 handshakes (12 resumed, resumption off)"),
            "{text}"
        );
        // Only TLS errors still print wrk's socket line, with the tls count.
        t.counters.errors.timeout = 0;
        t.counters.in_flight_at_stop += 5;
        t.counters.errors.tls_handshake = 1;
        t.counters.errors.tls = 0;
        t.counters.sent -= 2;
        let text = render(&fold::run(tls_config(), meta(), &t));
        assert!(
            text.contains("  Socket errors: connect 0, read 0, write 0, timeout 0, tls 1\n"),
            "{text}"
        );
        assert!(
            text.contains("  TLS errors: 1 handshake failed, 0 requests lost: "),
            "{text}"
        );
    }

    #[test]
    fn snapshot_of_an_https_run() {
        let mut t = tls_tally(199, 150);
        t.counters.errors.tls_handshake = 2;
        t.counters.errors.tls = 3;
        t.counters.sent += 3;
        let x = t.tls.as_mut().unwrap();
        x.fail("alert HandshakeFailure", 2);
        x.fail("closed without close_notify mid-response", 1);
        let r = fold::run(tls_config(), meta(), &t);
        snapshot("https_run.txt", &render(&r));
    }

    #[test]
    fn an_https_run_with_no_handshake_says_so() {
        let mut c = Counters::default();
        c.errors.tls_handshake = 64;
        let mut t = Tally {
            duration_s: 1.0,
            counters: c,
            threads: vec![ThreadRecord {
                cpu: Some(1),
                requests: 0,
                samples: vec![0.0; 10],
            }],
            ..Tally::default()
        };
        let mut x = crate::result::TlsTotals::new();
        x.fail("invalid certificate: UnknownIssuer", 64);
        t.tls = Some(x);
        let text = render(&fold::run(tls_config(), meta(), &t));
        assert!(
            text.contains("  TLS: no handshake completed, 0 handshakes (0 resumed)"),
            "{text}"
        );
        assert!(
            text.contains("  TLS handshake time: n/a (no handshake completed)\n"),
            "{text}"
        );
        assert!(
            text.contains("TLS errors: 64 handshakes failed, 0 requests lost: invalid certificate: UnknownIssuer x64"),
            "{text}"
        );
    }

    #[test]
    fn units_like_wrk() {
        assert_eq!(time_us(631.75), "631.75us");
        assert_eq!(time_us(1550.0), "1.55ms");
        assert_eq!(time_us(2_000_000.0), "2.00s");
        assert_eq!(metric(50_810.0), "50.81k");
        assert_eq!(metric(999.0), "999.00");
        assert_eq!(binary(123.54 * 1024.0 * 1024.0), "123.54M");
        assert_eq!(time_s(10.0), "10.00s");
    }

    #[test]
    fn columns_like_wrk() {
        // wrk: "    Latency   631.75us  293.16us  10.89ms   89.20%"
        let mut s = format!("    {:<10}", "Latency");
        units(&mut s, time_us(631.75), 8);
        units(&mut s, time_us(293.16), 10);
        units(&mut s, time_us(10_890.0), 9);
        s.push_str(&format!("{:>8.2}%", 89.2));
        assert_eq!(s, "    Latency   631.75us  293.16us  10.89ms   89.20%");
        // wrk: "    Req/Sec    50.81k     3.40k   57.25k    71.00%"
        let mut s = format!("    {:<10}", "Req/Sec");
        units(&mut s, metric(50_810.0), 8);
        units(&mut s, metric(3_400.0), 10);
        units(&mut s, metric(57_250.0), 9);
        s.push_str(&format!("{:>8.2}%", 71.0));
        assert_eq!(s, "    Req/Sec    50.81k     3.40k   57.25k    71.00%");
    }
}
