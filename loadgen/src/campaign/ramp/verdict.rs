//! Pure decisions: whether a step failed the error budget or the SLO, where a ramp
//! breaks, and which rate the capacity search probes next.

use super::slo::Slo;
use crate::report::text::time_us;
use crate::result::{Latency, LAG_SIZEABLE_SHARE};

/// What a step measured, as the decisions need it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observed {
    pub requests_per_sec: f64,
    pub error_pct: f64,
    /// The latency at the SLO's percentile (None without --slo, or when
    /// nothing completed: then the SLO is not met).
    pub slo_value_us: Option<u64>,
    /// Under -R: sent / scheduled in percent.
    pub achieved_pct: Option<f64>,
    /// Under -R with --slo: the generator's own schedule lag at the SLO's
    /// percentile, µs (`rate.lag`), weighed against `slo_value_us`.
    pub slo_lag_us: Option<u64>,
}

/// `l`'s value at `percentile`, µs: from its table, else from its histogram (p95);
/// 0 when nothing was recorded.
pub fn latency_at(l: &Latency, percentile: f64) -> u64 {
    l.get(percentile).unwrap_or_else(|| {
        shared::stats::codec::decode_base64(&l.histogram)
            .ok()
            .filter(|h| !h.is_empty())
            .map_or(0, |h| h.value_at_percentile(percentile))
    })
}

/// The limits a step is held to.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// --max-errors, in percent.
    pub max_errors_pct: f64,
    pub slo: Option<Slo>,
}

/// Share of the schedule a rate step must send to count as keeping its rate.
pub const MIN_ACHIEVED_PCT: f64 = 99.0;

/// Throughput this far below the best level so far is a breaking point.
pub const MAX_DROP: f64 = 0.10;

/// Why the step fails its limits (empty: it passes). Used for a rate-search probe
/// and, with the throughput drop added, for the ramp's breaking point.
pub fn failures(o: &Observed, l: &Limits) -> Vec<String> {
    let mut why = Vec::new();
    if o.error_pct > l.max_errors_pct {
        why.push(format!(
            "errors {:.2}% > {}%",
            o.error_pct, l.max_errors_pct
        ));
    }
    if let (Some(slo), None) = (&l.slo, o.slo_value_us) {
        // No response: no latency met the SLO (never a 0 that passes it).
        why.push(format!("{}: no response completed", slo.label()));
    }
    if let (Some(slo), Some(v)) = (&l.slo, o.slo_value_us) {
        if v > slo.limit_us {
            let mut line = format!(
                "{} {} > {}",
                slo.label(),
                time_us(v as f64),
                time_us(slo.limit_us as f64)
            );
            // A probe whose percentile is largely the generator's own wake-up lag
            // failed on the generator, not the server: said, so the capacity is
            // read as a lower bound.
            if let Some(lag) = o
                .slo_lag_us
                .filter(|&lag| lag as f64 >= LAG_SIZEABLE_SHARE * v as f64)
            {
                line.push_str(&format!(
                    " ({} of it, {:.0}%, is the generator's own schedule lag: the generator's limit, not necessarily the server's)",
                    time_us(lag.min(v) as f64),
                    100.0 * lag.min(v) as f64 / v as f64
                ));
            }
            why.push(line);
        }
    }
    if let Some(a) = o.achieved_pct {
        if a < MIN_ACHIEVED_PCT {
            why.push(format!("sent only {a:.1}% of the scheduled requests"));
        }
    }
    why
}

/// The first step (index into `steps`) that breaks, and why: it fails its limits,
/// or its throughput is more than 10% below the best of the steps before it.
pub fn first_break(steps: &[Observed], l: &Limits) -> Option<(usize, Vec<String>)> {
    let mut best = 0.0f64;
    for (i, o) in steps.iter().enumerate() {
        let mut why = failures(o, l);
        if best > 0.0 && o.requests_per_sec < (1.0 - MAX_DROP) * best {
            why.push(format!(
                "throughput {:.0} req/s is {:.0}% below the best so far ({best:.0} req/s)",
                o.requests_per_sec,
                100.0 * (1.0 - o.requests_per_sec / best)
            ));
        }
        if !why.is_empty() {
            return Some((i, why));
        }
        best = best.max(o.requests_per_sec);
    }
    None
}

/// The capacity search: double from `from` until a probe fails (or `to` passes),
/// then bisect between the highest pass and the lowest failure for a fixed number
/// of probes. Rates are whole requests per second.
#[derive(Debug, Clone)]
pub struct Search {
    from: u64,
    to: u64,
    bisect_left: usize,
    /// Highest rate that passed.
    pass: Option<u64>,
    /// Lowest rate that failed.
    fail: Option<u64>,
}

impl Search {
    pub fn new(from: u64, to: u64, bisect_steps: usize) -> Self {
        Self {
            from,
            to,
            bisect_left: bisect_steps,
            pass: None,
            fail: None,
        }
    }

    /// The next rate to probe, or None when the search is over.
    pub fn next(&self) -> Option<u64> {
        match (self.pass, self.fail) {
            (None, None) => Some(self.from),
            // Even the starting rate failed: nothing to bisect towards.
            (None, Some(_)) => None,
            // Still doubling.
            (Some(p), None) => (p < self.to).then(|| p.saturating_mul(2).min(self.to)),
            (Some(p), Some(f)) => {
                let mid = p + (f - p) / 2;
                (self.bisect_left > 0 && mid > p).then_some(mid)
            }
        }
    }

    /// Records a probe of `rate` (the one `next` gave).
    pub fn record(&mut self, rate: u64, passed: bool) {
        // Probes after the first failure are the bisection's.
        if self.fail.is_some() {
            self.bisect_left = self.bisect_left.saturating_sub(1);
        }
        if passed {
            self.pass = Some(self.pass.map_or(rate, |p| p.max(rate)));
        } else {
            self.fail = Some(self.fail.map_or(rate, |f| f.min(rate)));
        }
    }

    /// The highest rate that met every limit.
    pub fn capacity(&self) -> Option<u64> {
        self.pass
    }

    /// The lowest rate that failed (None: the search never failed up to --rate-to).
    pub fn lowest_failure(&self) -> Option<u64> {
        self.fail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(rps: f64, err: f64, slo: Option<u64>) -> Observed {
        Observed {
            requests_per_sec: rps,
            error_pct: err,
            slo_value_us: slo,
            achieved_pct: None,
            slo_lag_us: None,
        }
    }

    #[test]
    fn a_probe_failed_by_the_generators_own_lag_is_flagged() {
        let l = limits(Some("p99<1ms"));
        // Issue 12: p99 1.2 ms of which 0.9 ms is the generator's lag.
        let mut o = obs(20_000.0, 0.0, Some(1_200));
        o.slo_lag_us = Some(900);
        assert_eq!(
            failures(&o, &l),
            ["p99 1.20ms > 1.00ms (900.00us of it, 75%, is the generator's own schedule lag: the generator's limit, not necessarily the server's)"]
        );
        // A quarter is the boundary: 299 of 1200 is not named, 300 is.
        o.slo_lag_us = Some(299);
        assert_eq!(failures(&o, &l), ["p99 1.20ms > 1.00ms"]);
        o.slo_lag_us = Some(300);
        assert!(failures(&o, &l)[0].contains("300.00us of it, 25%"));
        // A passing probe is not flagged, whatever its lag.
        let mut ok = obs(20_000.0, 0.0, Some(900));
        ok.slo_lag_us = Some(800);
        assert!(failures(&ok, &l).is_empty());
    }

    #[test]
    fn latency_at_reads_the_table_then_the_histogram() {
        let mut h = shared::stats::new_histogram();
        for v in 1..=100u64 {
            h.record(v).unwrap();
        }
        let l = Latency::of(&h);
        assert_eq!(latency_at(&l, 99.0), 99);
        // p95 is not in the table: read from the histogram.
        assert_eq!(latency_at(&l, 95.0), 95);
        assert_eq!(
            latency_at(&Latency::of(&shared::stats::new_histogram()), 95.0),
            0
        );
    }

    fn limits(slo: Option<&str>) -> Limits {
        Limits {
            max_errors_pct: 1.0,
            slo: slo.map(|s| Slo::parse(s).unwrap()),
        }
    }

    #[test]
    fn breaks_on_errors_slo_or_a_throughput_drop() {
        let l = limits(Some("p99<50ms"));
        let ok = |rps| obs(rps, 0.0, Some(10_000));
        assert_eq!(first_break(&[ok(100.0), ok(200.0), ok(190.0)], &l), None);
        // Errors: 1% is within the budget, more is not.
        let (i, why) = first_break(
            &[
                ok(100.0),
                obs(150.0, 1.0, Some(1)),
                obs(160.0, 1.5, Some(1)),
            ],
            &l,
        )
        .unwrap();
        assert_eq!(i, 2);
        assert_eq!(why, ["errors 1.50% > 1%"]);
        // The SLO.
        let (i, why) = first_break(&[ok(100.0), obs(200.0, 0.0, Some(72_100))], &l).unwrap();
        assert_eq!(i, 1);
        assert_eq!(why, ["p99 72.10ms > 50.00ms"]);
        // More than 10% below the best level so far, not just the previous one.
        let (i, why) = first_break(&[ok(100.0), ok(200.0), ok(185.0), ok(179.0)], &l).unwrap();
        assert_eq!(i, 3);
        assert!(
            why[0].starts_with("throughput 179 req/s is ")
                && why[0].ends_with("below the best so far (200 req/s)"),
            "{why:?}"
        );
        // Without --slo the latency is not judged.
        assert_eq!(first_break(&[obs(100.0, 0.0, None)], &limits(None)), None);
        // Several reasons at once are all named.
        let (_, why) = first_break(&[ok(100.0), obs(10.0, 50.0, Some(60_000))], &l).unwrap();
        assert_eq!(why.len(), 3);
    }

    #[test]
    fn a_rate_step_that_cannot_keep_its_schedule_fails() {
        let mut o = obs(100.0, 0.0, None);
        o.achieved_pct = Some(99.5);
        assert!(failures(&o, &limits(None)).is_empty());
        o.achieved_pct = Some(80.0);
        assert_eq!(failures(&o, &limits(None)).len(), 1);
    }

    /// Runs a search against a server whose capacity is `cap` req/s.
    fn search(from: u64, to: u64, steps: usize, cap: u64) -> (Vec<u64>, Option<u64>) {
        let mut s = Search::new(from, to, steps);
        let mut probes = Vec::new();
        while let Some(r) = s.next() {
            probes.push(r);
            s.record(r, r <= cap);
            assert!(probes.len() < 100, "runaway search");
        }
        (probes, s.capacity())
    }

    #[test]
    fn doubles_then_bisects() {
        let (probes, cap) = search(100, 1_000_000, 3, 1000);
        assert_eq!(probes, [100, 200, 400, 800, 1600, 1200, 1000, 1100]);
        assert_eq!(cap, Some(1000));
        // Two bisection steps, as the integration test runs it.
        let (probes, cap) = search(500, 4000, 2, 1300);
        assert_eq!(probes, [500, 1000, 2000, 1500, 1250]);
        assert_eq!(cap, Some(1250));
    }

    #[test]
    fn search_bounds() {
        // Never fails: doubles up to --rate-to, which is then the capacity.
        let (probes, cap) = search(100, 500, 6, u64::MAX);
        assert_eq!(probes, [100, 200, 400, 500]);
        assert_eq!(cap, Some(500));
        // The first probe fails: no capacity, no bisection.
        let (probes, cap) = search(100, 500, 6, 50);
        assert_eq!(probes, [100]);
        assert_eq!(cap, None);
        // Bisection stops when the bounds are adjacent, before its step budget.
        let (probes, cap) = search(1, 100, 50, 2);
        assert_eq!(probes, [1, 2, 4, 3]);
        assert_eq!(cap, Some(2));
        // Zero bisection steps: the doubling alone.
        let (probes, cap) = search(100, 10_000, 0, 300);
        assert_eq!(probes, [100, 200, 400]);
        assert_eq!(cap, Some(200));
    }
}
