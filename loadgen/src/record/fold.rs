//! Tallies to the [`RunResult`], one concern per function: rates over the
//! measured interval, the time series, Req/Sec, the rate report, warnings, and
//! for a merge the interval, node summaries and what the merge doubts.

use super::config;
use super::node::{NodeRecord, RecordError};
use super::tally::Tally;
use crate::meta::Meta;
use crate::result::{
    per_sec, Config, Latency, NodeSummary, PaceTotals, RateReport, RunResult, Spread, ThreadResult,
    TimePoint, TlsReport, SCHEMA,
};
use shared::stats::Counters;

/// A single process's result: `tally` over its measured interval, described by
/// `config` and `meta`.
pub fn run(config: Config, meta: Meta, tally: &Tally) -> RunResult {
    build(config, meta, tally, tally.duration_s, Vec::new())
}

/// What `ceiling merge` reports: `nodes` (sorted by index, checked to be one
/// run), with the merge's display flags and command line. `partial`: nodes or
/// parts of them are missing; `warnings`: what the check found.
pub fn merged(
    nodes: &[NodeRecord],
    (latency, u_latency): (bool, bool),
    command_line: &str,
    partial: bool,
    mut warnings: Vec<String>,
) -> Result<RunResult, RecordError> {
    let first = nodes.first().ok_or_else(|| RecordError::Shape {
        path: "ceiling merge".into(),
        what: "no node records".into(),
    })?;
    let tallies = nodes
        .iter()
        .map(Tally::of_node)
        .collect::<Result<Vec<_>, _>>()?;
    let mut total = Tally::default();
    for t in &tallies {
        total.add(t);
    }
    let summaries: Vec<NodeSummary> = nodes.iter().zip(&tallies).map(summary).collect();
    for (node, s) in nodes.iter().zip(&summaries) {
        node_warnings(node, s, &mut warnings);
    }
    if nodes.len() > 1 {
        skew_warnings(nodes, &mut warnings);
    }
    let load = &first.header.plan.load;
    let config = config::of_load(load, total.threads.len(), latency, u_latency);
    let mut meta = first.header.meta.clone();
    meta.command_line = command_line.to_string();
    let window = merge_window(&config, &tallies, &total);
    let mut r = build(config, meta, &total, window, warnings);
    if nodes.len() > 1 || partial {
        r.nodes = summaries;
    }
    r.partial = partial;
    Ok(r)
}

/// The interval a merge's rates are over: from T0 to the last node's stop, as
/// measured. One exception, on purpose: when several nodes all ran a `-d` run
/// to its planned end (none interrupted, truncated or stopped early by `-n`),
/// the planned window. Each node notices the end on its own 10 ms tick and its
/// own clock, so their measured stops differ by a tick and by the clocks' skew;
/// the planned window [T0, T0 + d] is the one interval all of them were aligned
/// to, so under -R sent/s over it is the schedule's rate exactly.
fn merge_window(config: &Config, nodes: &[Tally], total: &Tally) -> f64 {
    match config.duration_s {
        Some(d)
            if nodes.len() > 1
                && nodes
                    .iter()
                    .all(|n| n.complete && !n.interrupted && n.duration_s >= d) =>
        {
            d
        }
        _ => total.duration_s,
    }
}

/// The result of `t` over `secs` seconds.
fn build(config: Config, meta: Meta, t: &Tally, secs: f64, mut warnings: Vec<String>) -> RunResult {
    let c = &t.counters;
    if let Some(w) = status_warning(c, secs) {
        warnings.insert(0, w);
    }
    let rate = config.rate.as_ref().map(|asked| {
        let none = PaceTotals::new();
        RateReport::new(
            asked,
            secs,
            c,
            t.pace.as_ref().unwrap_or(&none),
            &t.histogram,
        )
    });
    if let Some(w) = rate.as_ref().and_then(RateReport::lag_warning) {
        warnings.push(w);
    }
    let (threads, req_per_sec) = threads(t);
    let resume = config.tls.as_ref().is_none_or(|o| o.resume);
    let tls = t.tls.as_ref().map(|x| TlsReport::new(x, secs, resume));
    RunResult {
        schema: SCHEMA.into(),
        meta,
        config,
        duration_s: secs,
        counters: *c,
        first_invalid: t.first_invalid.clone(),
        requests_per_sec: per_sec(c.completed, secs),
        successful_per_sec: per_sec(successful(c), secs),
        bytes_read_per_sec: per_sec(c.bytes_read, secs),
        gbit_read_per_sec: per_sec(c.bytes_read, secs) * 8.0 / 1e9,
        latency: Latency::of(&t.histogram),
        req_per_sec,
        threads,
        generator_cpu: t.generator_cpu,
        rate,
        timeseries: timeseries(t),
        interrupted: t.interrupted,
        nodes: Vec::new(),
        partial: false,
        warnings,
        tls,
    }
}

/// Completed responses with a 2xx or 3xx status.
fn successful(c: &Counters) -> u64 {
    c.status.success + c.status.redirect
}

/// One plain line when most completed responses were not 2xx/3xx, so a
/// Requests/sec of 404s is not read as a server's throughput.
fn status_warning(c: &Counters, secs: f64) -> Option<String> {
    let other = c.completed.saturating_sub(successful(c));
    (other > 0 && other * 2 > c.completed).then(|| {
        format!(
            "most responses were not 2xx or 3xx ({other} of {}, {:.1}%): Requests/sec counts them all; successful responses: {:.2}/s",
            c.completed,
            100.0 * other as f64 / c.completed as f64,
            per_sec(successful(c), secs)
        )
    })
}

/// One point per second; the last, partial one over its own length.
fn timeseries(t: &Tally) -> Vec<TimePoint> {
    t.seconds
        .iter()
        .enumerate()
        .map(|(i, s)| s.to_point(i))
        .collect()
}

/// Each thread's figures, and the run's Req/Sec over every thread's samples.
fn threads(t: &Tally) -> (Vec<ThreadResult>, Spread) {
    let threads = t
        .threads
        .iter()
        .map(|th| ThreadResult::new(th.cpu, th.requests, &th.samples))
        .collect();
    let samples: Vec<f64> = t.threads.iter().flat_map(|th| th.samples.clone()).collect();
    (threads, Spread::of(&samples))
}

/// What one node contributed.
fn summary((node, t): (&NodeRecord, &Tally)) -> NodeSummary {
    let c = &t.counters;
    NodeSummary {
        index: node.header.node_index,
        hostname: node.header.meta.hostname.clone(),
        sent: c.sent,
        completed: c.completed,
        errors: c.request_errors() + c.errors.connection_errors(),
        requests_per_sec: per_sec(c.completed, t.duration_s),
        achieved_pct: t.pace.as_ref().and_then(|p| p.achieved_pct(c.sent)),
        late_ms: node.header.clock.late_ms,
        clock: node.header.clock.status.sync.clone(),
        generator_us_per_request: t.generator_cpu.us_per_request,
        complete: t.complete,
    }
}

/// What one node's record makes doubtful: a truncated file, an overloaded
/// generator, a node below its schedule.
fn node_warnings(node: &NodeRecord, s: &NodeSummary, warnings: &mut Vec<String>) {
    // A run of one machine has no "node 0" to a person: it is the generator.
    let who = if node.header.node_count > 1 {
        format!("node {} ({})", s.index, s.hostname)
    } else {
        "the generator".to_string()
    };
    match &node.footer {
        None => warnings.push(format!(
            "the file of {who} is truncated after {} s: it counts only the completions of its per-second records",
            node.seconds.len()
        )),
        Some(f) => {
            if let Some(p) = &f.pace {
                if f.counters.sent > 0 && p.late_generator as f64 > 0.01 * f.counters.sent as f64 {
                    warnings.push(format!(
                        "{who} was overloaded: {} sends were late with a free connection; its latencies include its own queueing",
                        p.late_generator
                    ));
                }
            }
        }
    }
    if let Some(a) = s.achieved_pct.filter(|&a| a < 99.0) {
        warnings.push(format!("{who} sent only {a:.1}% of its scheduled requests"));
    }
}

/// Nodes that launched after T0, or whose clocks the kernel does not trust.
fn skew_warnings(nodes: &[NodeRecord], warnings: &mut Vec<String>) {
    let mut unsynced = Vec::new();
    for n in nodes {
        let c = &n.header.clock;
        if c.late_ms > 1.0 {
            warnings.push(format!(
                "node {} ({}) launched {:.0} ms after T0: its first requests were late and count from their intended times",
                n.header.node_index, n.header.meta.hostname, c.late_ms
            ));
        }
        if c.status.sync == "unsynchronized" {
            unsynced.push(format!(
                "{} ({})",
                n.header.node_index, n.header.meta.hostname
            ));
        } else if let Some(e) = c.status.max_error_us.filter(|&e| e > 10_000) {
            warnings.push(format!(
                "node {} ({}): clock error up to {:.0} ms",
                n.header.node_index,
                n.header.meta.hostname,
                e as f64 / 1000.0
            ));
        }
    }
    if !unsynced.is_empty() {
        warnings.push(format!(
            "the kernel reports the clock of node{} {} unsynchronized (no NTP/PTP discipline): T0 may be off there",
            if unsynced.len() > 1 { "s" } else { "" },
            unsynced.join(", ")
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(completed: u64, success: u64) -> Counters {
        let mut c = Counters {
            sent: completed,
            completed,
            bytes_read: completed * 100,
            ..Counters::default()
        };
        c.status.success = success;
        c.status.client_error = completed - success;
        c
    }

    fn config(duration_s: Option<f64>) -> Config {
        let load = crate::load::Load {
            urls: vec!["http://u:secret@127.0.0.1:1/".into()],
            requests: Some(100_000),
            rate: None,
            ..crate::distributed::tests::load()
        };
        Config {
            duration_s,
            ..config::of_load(&load, 1, false, false)
        }
    }

    fn meta() -> Meta {
        serde_json::from_value(serde_json::json!({
            "command_line": "x", "version": "0", "kernel": "", "cpu_model": "", "hostname": "h",
            "nproc": 1, "cpus": [0],
            "engine": {"requested": "auto", "engine": "epoll", "ring_flags": null,
                       "ring_entries": 0, "reason": "", "direct": false},
            "sysctls": {}, "loopback_mtu": null, "started_at": "2026-11-23T08:30:00Z"
        }))
        .unwrap()
    }

    #[test]
    fn rates_are_over_the_interval_that_ran_not_the_planned_one() {
        // -n 100000 -d 5s that ended after 0.5 s.
        let t = Tally {
            duration_s: 0.5,
            counters: counters(100_000, 100_000),
            ..Tally::default()
        };
        let r = run(config(Some(5.0)), meta(), &t);
        assert_eq!(r.duration_s, 0.5);
        assert_eq!(r.requests_per_sec, 200_000.0);
        assert_eq!(r.successful_per_sec, 200_000.0);
        assert_eq!(r.bytes_read_per_sec, 20_000_000.0);
        assert!(r.warnings.is_empty());
        assert_eq!(r.config.url, "http://u:***@127.0.0.1:1/");
    }

    #[test]
    fn most_responses_not_2xx_or_3xx_is_one_warning() {
        let t = Tally {
            duration_s: 2.0,
            counters: counters(1000, 400),
            ..Tally::default()
        };
        let r = run(config(None), meta(), &t);
        assert_eq!(r.successful_per_sec, 200.0);
        assert_eq!(r.requests_per_sec, 500.0);
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
        assert!(
            r.warnings[0].starts_with("most responses were not 2xx or 3xx (600 of 1000, 60.0%)")
        );
        // Half is not most.
        let t = Tally {
            counters: counters(1000, 500),
            ..t
        };
        assert!(run(config(None), meta(), &t).warnings.is_empty());
    }

    #[test]
    fn a_rate_run_whose_lag_is_a_sizeable_share_carries_a_warning() {
        // 5,000 req/s for 2 s: corrected 658 µs, of which the generator's lag 533 µs.
        let paced = |lag_us: u64| {
            let mut t = Tally {
                duration_s: 2.0,
                counters: counters(10_000, 10_000),
                pace: Some(PaceTotals::new()),
                ..Tally::default()
            };
            let p = t.pace.as_mut().unwrap();
            p.lag.record_n(lag_us, 10_000).unwrap();
            p.uncorrected.record_n(658 - lag_us, 10_000).unwrap();
            t.histogram.record_n(658, 10_000).unwrap();
            let mut c = config(None);
            c.rate = Some(crate::result::AskedRate {
                requests_per_sec: 5000.0,
                arrivals: crate::load::Arrivals::Constant,
                seed: 1,
            });
            run(c, meta(), &t)
        };
        let r = paced(533);
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
        assert!(r.warnings[0].starts_with("the generator's own schedule lag is a sizeable share"));
        assert!(r.rate.unwrap().verdict.starts_with("sent its schedule"));
        let r = paced(16);
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        assert!(r.rate.unwrap().verdict.starts_with("kept its schedule"));
    }

    /// Node `index` of `count`: `completed` responses in `secs` whole seconds.
    fn node(index: usize, count: usize, completed: u64, secs: usize) -> NodeRecord {
        let mut t = Tally {
            duration_s: secs as f64,
            counters: counters(completed, completed),
            ..Tally::default()
        };
        for s in 0..secs {
            let sum = t.second_mut(s);
            sum.length_s = 1.0;
            sum.completed = completed / secs as u64;
            for _ in 0..sum.completed {
                sum.histogram.record(100 + index as u64 * 100).unwrap();
            }
            let h = sum.histogram.clone();
            t.histogram.add(&h).unwrap();
        }
        NodeRecord {
            header: super::super::fixture::header(index, count),
            seconds: (0..secs).map(|s| t.second(s)).collect(),
            footer: Some(t.footer()),
        }
    }

    /// An overloaded generator: a run of one machine names "the generator",
    /// never "node 0 (host)"; a planned run names the node and its host.
    #[test]
    fn an_overloaded_generator_is_named_as_the_person_knows_it() {
        let overloaded = |index, count| {
            let mut n = node(index, count, 1000, 1);
            n.footer.as_mut().unwrap().pace = Some(crate::record::node::PaceRecord {
                lag: shared::stats::codec::encode_base64(&shared::stats::new_histogram()),
                uncorrected: shared::stats::codec::encode_base64(&shared::stats::new_histogram()),
                late_busy: 0,
                late_generator: 500,
                behind: 0,
            });
            n
        };
        let alone = merged(&[overloaded(0, 1)], (false, false), "m", false, Vec::new()).unwrap();
        assert!(
            alone
                .warnings
                .iter()
                .any(|w| w.starts_with("the generator was overloaded")),
            "{:?}",
            alone.warnings
        );
        assert!(!alone.warnings.iter().any(|w| w.contains("node 0")));
        let two = merged(
            &[overloaded(0, 2), node(1, 2, 1000, 1)],
            (false, false),
            "m",
            false,
            Vec::new(),
        )
        .unwrap();
        assert!(
            two.warnings
                .iter()
                .any(|w| w.starts_with("node 0 (gen0) was overloaded")),
            "{:?}",
            two.warnings
        );
    }

    #[test]
    fn a_merge_adds_nodes_exactly_and_summarises_each() {
        let nodes = [node(0, 2, 3000, 3), node(1, 2, 1000, 2)];
        let r = merged(
            &nodes,
            (true, false),
            "ceiling merge a b",
            false,
            Vec::new(),
        )
        .unwrap();
        assert_eq!(r.counters.completed, 4000);
        assert_eq!(r.latency.count, 4000);
        // p50 is node 0's latency (3000 of 4000 at 100 µs), never an average.
        assert_eq!(r.latency.get(50.0), Some(100));
        assert_eq!(r.timeseries.len(), 3);
        assert_eq!(r.timeseries[0].completed, 1500);
        assert_eq!(r.timeseries[2].completed, 1000);
        assert_eq!(r.nodes.len(), 2);
        assert_eq!(
            (r.nodes[1].hostname.as_str(), r.nodes[1].requests_per_sec),
            ("gen1", 500.0)
        );
        // Node 1 stopped at 2 s of a 2.5 s plan: the interval that ran, T0 to 3 s.
        assert_eq!(r.duration_s, 3.0);
        assert!(r.config.latency && !r.config.u_latency);
        assert_eq!(r.config.addr, None);
        assert_eq!(r.meta.command_line, "ceiling merge a b");
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    }

    #[test]
    fn a_truncated_node_counts_its_seconds_and_is_said() {
        let mut cut = node(1, 2, 1000, 2);
        cut.footer = None;
        let r = merged(
            &[node(0, 2, 3000, 3), cut],
            (false, false),
            "m",
            true,
            Vec::new(),
        )
        .unwrap();
        assert_eq!(r.counters.completed, 4000);
        assert!(r.partial);
        assert!(!r.nodes[1].complete);
        assert!(
            r.warnings
                .iter()
                .any(|w| w.starts_with("the file of node 1 (")
                    && w.contains("is truncated after 2 s"))
        );
    }

    #[test]
    fn a_merge_uses_the_planned_window_only_when_every_node_ran_it() {
        let node = |duration_s: f64| Tally {
            duration_s,
            ..Tally::default()
        };
        let full = [node(5.004), node(5.009)];
        let mut total = Tally::default();
        full.iter().for_each(|n| total.add(n));
        assert_eq!(merge_window(&config(Some(5.0)), &full, &total), 5.0);
        // One node stopped early by -n: the interval that ran.
        let early = [node(0.5), node(0.7)];
        let mut total = Tally::default();
        early.iter().for_each(|n| total.add(n));
        assert_eq!(merge_window(&config(Some(5.0)), &early, &total), 0.7);
        // A single node is a run: always measured.
        assert_eq!(
            merge_window(&config(Some(5.0)), &full[..1], &full[0]),
            5.004
        );
    }
}
