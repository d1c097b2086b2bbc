//! Open-loop schedules: when each request of a connection should be sent.
//!
//! The total rate is split evenly over connections; connection `j` of `C` starts
//! `j / rate` seconds into the run, so with constant arrivals the connections'
//! schedules interleave into one evenly spaced stream (wrk2 starts them all at
//! once, which makes a burst). Poisson arrivals draw exponential gaps at the same
//! mean from a per-connection stream of a fixed seed.
//!
//! A distributed run at total rate R over N nodes is the same stream dealt out:
//! request j is due at j/R and belongs to node j mod N, so node i runs at R/N
//! starting i/R in (`Pacing::offset_s`).

use crate::plan::{Arrivals, Pacing};
use std::time::{Duration, Instant};

/// One connection's schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    next: Instant,
    /// Mean gap between this connection's requests, in seconds.
    gap: f64,
    /// Poisson stream state (None: constant gaps).
    rng: Option<SplitMix64>,
    /// Fractional nanoseconds carried so constant gaps do not drift.
    carry: f64,
}

impl Schedule {
    /// Connection `j` of `connections`, the run starting at `start`.
    pub fn new(p: &Pacing, start: Instant, j: usize, connections: usize) -> Self {
        let gap = connections as f64 / p.rate;
        let mut s = Self {
            next: start,
            gap,
            rng: None,
            carry: 0.0,
        };
        match p.arrivals {
            Arrivals::Constant => s.push(p.offset_s + j as f64 / p.rate),
            Arrivals::Poisson => {
                // Distinct, reproducible, uncorrelated streams per connection: the
                // start state is the seed plus a mixed connection index (a plain
                // XOR of the index made neighbouring streams overlap).
                let global = p.first_connection + j as u64;
                let index = mix((global + 1).wrapping_mul(GOLDEN));
                let mut rng = SplitMix64(mix(p.seed.wrapping_add(index)));
                let first = p.offset_s + exponential(&mut rng) * gap;
                s.rng = Some(rng);
                s.push(first);
            }
        }
        s
    }

    /// The intended send time of the next request.
    #[inline]
    pub fn due(&self) -> Instant {
        self.next
    }

    /// Moves to the following request.
    #[inline]
    pub fn advance(&mut self) {
        let gap = match &mut self.rng {
            None => self.gap,
            Some(rng) => exponential(rng) * self.gap,
        };
        self.push(gap);
    }

    /// How many requests fall due before `t` from here on: the window is
    /// half-open, `[now, t)`, as a run's is (counting stops at `cap`). Constant
    /// gaps are counted in whole nanoseconds by division, so a schedule far
    /// behind at the stop costs nothing to count; any rate saturates at `cap`.
    pub fn count_until(&self, t: Instant, cap: u64) -> u64 {
        if self.next >= t {
            return 0;
        }
        if self.rng.is_none() {
            // Requests at next + k·gap for k = 0, 1, ...: those with k·gap < behind.
            let behind = (t - self.next).as_nanos() as f64;
            let gap = self.gap * 1e9;
            let k = (behind / gap).ceil();
            return if k >= cap as f64 {
                cap
            } else {
                (k as u64).max(1).min(cap)
            };
        }
        let mut s = self.clone();
        let mut n = 0;
        while s.next < t && n < cap {
            n += 1;
            s.advance();
        }
        n
    }

    /// Moves the next send `secs` on (a rate too high for the clock's
    /// nanoseconds piles sends onto the same instant; a time past what an
    /// `Instant` holds saturates, never panics).
    fn push(&mut self, secs: f64) {
        let ns = secs * 1e9 + self.carry;
        let whole = ns.floor();
        self.carry = ns - whole;
        // `as` saturates a huge or non-finite float.
        let step = Duration::from_nanos(whole as u64);
        self.next = self.next.checked_add(step).unwrap_or(self.next);
    }
}

/// A standard exponential variate (mean 1).
fn exponential(rng: &mut SplitMix64) -> f64 {
    // 53 random bits in (0, 1]: never ln(0).
    let u = ((rng.next() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    -u.ln()
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast and good enough for arrival
/// times; reproducible from its seed.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix(self.0)
    }
}

/// SplitMix64's output function: a bijective 64-bit mixer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pacing(rate: f64, arrivals: Arrivals) -> Pacing {
        Pacing {
            rate,
            arrivals,
            seed: 7,
            offset_s: 0.0,
            first_connection: 0,
        }
    }

    /// Node `index` of `nodes` sharing `connections` at total `rate`, as
    /// options::build deals it out.
    fn node_pacing(rate: f64, connections: u64, index: usize, nodes: usize) -> (Pacing, u64) {
        let share = |i| crate::plan::split(connections, nodes, i);
        let p = Pacing {
            rate: rate / nodes as f64,
            offset_s: index as f64 / rate,
            first_connection: (0..index).map(share).sum(),
            ..pacing(rate, Arrivals::Constant)
        };
        (p, share(index))
    }

    #[test]
    fn nodes_together_send_the_single_machine_stream() {
        // 3 nodes sharing 10 connections at 3000/s: request j at j/3000 s, each
        // exactly once, whichever node sends it.
        let start = Instant::now();
        let mut times = Vec::new();
        for index in 0..3 {
            let (p, conns) = node_pacing(3000.0, 10, index, 3);
            for j in 0..conns as usize {
                let mut s = Schedule::new(&p, start, j, conns as usize);
                while s.due() < start + Duration::from_secs(1) {
                    times.push(s.due() - start);
                    s.advance();
                }
            }
        }
        times.sort();
        assert!((2999..=3001).contains(&times.len()), "{}", times.len());
        for (k, t) in times.iter().enumerate() {
            let want = Duration::from_nanos(1_000_000_000 * k as u64 / 3000);
            assert!(
                t.abs_diff(want) < Duration::from_micros(2),
                "request {k} at {t:?}, want {want:?}"
            );
        }
    }

    #[test]
    fn constant_connections_interleave_into_one_even_stream() {
        let start = Instant::now();
        let p = pacing(1000.0, Arrivals::Constant);
        let mut times: Vec<Duration> = Vec::new();
        for j in 0..4 {
            let mut s = Schedule::new(&p, start, j, 4);
            for _ in 0..250 {
                times.push(s.due() - start);
                s.advance();
            }
        }
        times.sort();
        for (k, t) in times.iter().enumerate() {
            let want = Duration::from_micros(1000 * k as u64);
            let diff = t.abs_diff(want);
            assert!(
                diff < Duration::from_micros(2),
                "request {k} at {t:?}, want {want:?}"
            );
        }
    }

    #[test]
    fn counting_what_fell_due() {
        let start = Instant::now();
        let s = Schedule::new(&pacing(100.0, Arrivals::Constant), start, 0, 1);
        assert_eq!(
            s.count_until(start + Duration::from_millis(995), u64::MAX),
            100
        );
        // Half-open windows: the request due at exactly 1 s is not in [0, 1 s).
        assert_eq!(s.count_until(start + Duration::from_secs(1), u64::MAX), 100);
        assert_eq!(
            s.count_until(start + Duration::from_nanos(1_000_000_001), u64::MAX),
            101
        );
        assert_eq!(s.count_until(start, u64::MAX), 0);
        assert_eq!(s.count_until(start + Duration::from_secs(10), 50), 50);
        let p = Schedule::new(&pacing(100.0, Arrivals::Poisson), start, 0, 1);
        let n = p.count_until(start + Duration::from_secs(10), u64::MAX);
        assert!((900..=1100).contains(&n), "{n}");
    }

    /// `-R 1000` over 2 s, 10 connections: exactly 2,000 intended sends in
    /// [0, 2 s), whichever way they are counted.
    #[test]
    fn a_window_holds_exactly_its_share() {
        let start = Instant::now();
        let end = start + Duration::from_secs(2);
        let p = pacing(1000.0, Arrivals::Constant);
        let mut walked = 0;
        let mut counted = 0;
        for j in 0..10 {
            let mut s = Schedule::new(&p, start, j, 10);
            counted += s.count_until(end, u64::MAX);
            while s.due() < end {
                walked += 1;
                s.advance();
            }
        }
        assert_eq!((walked, counted), (2000, 2000));
    }

    /// A rate far too high to keep saturates: nothing overflows, and the count
    /// of what fell due stops at its cap instead of wrapping.
    #[test]
    fn absurd_rates_saturate() {
        let start = Instant::now();
        let mut s = Schedule::new(&pacing(1e18, Arrivals::Constant), start, 0, 1);
        for _ in 0..1000 {
            s.advance();
        }
        assert!(s.due() < start + Duration::from_micros(1));
        let far = start + Duration::from_secs(3600);
        assert_eq!(s.count_until(far, 12_345), 12_345);
        assert_eq!(s.count_until(far, u64::MAX), u64::MAX);
        let mut slow = Schedule::new(&pacing(1e-300, Arrivals::Constant), start, 0, 1);
        slow.advance();
        assert!(slow.due() >= start);
    }

    #[test]
    fn poisson_has_the_asked_mean_and_is_reproducible() {
        let start = Instant::now();
        let p = pacing(500.0, Arrivals::Poisson);
        let mut a = Schedule::new(&p, start, 3, 10);
        let mut b = Schedule::new(&p, start, 3, 10);
        let n = 20_000;
        for _ in 0..n {
            assert_eq!(a.due(), b.due());
            a.advance();
            b.advance();
        }
        // Mean gap per connection: 10 / 500 = 20 ms; n gaps within 2%.
        let mean = (a.due() - start).as_secs_f64() / n as f64;
        assert!((mean - 0.02).abs() < 0.02 * 0.02, "mean gap {mean}");
        // Connections' streams are independent: the total count over many
        // connections and seeds spreads like a Poisson count, not wider.
        let mut totals = Vec::new();
        for seed in 1..=20 {
            let p = Pacing { seed, ..p };
            let horizon = start + Duration::from_secs(2);
            let mut total = 0.0;
            for j in 0..16 {
                let mut s = Schedule::new(&Pacing { rate: 2000.0, ..p }, start, j, 16);
                while s.due() <= horizon {
                    total += 1.0;
                    s.advance();
                }
            }
            totals.push(total);
        }
        let m = totals.iter().sum::<f64>() / 20.0;
        let sd = (totals.iter().map(|t| (t - m).powi(2)).sum::<f64>() / 19.0).sqrt();
        assert!((m - 4000.0).abs() < 100.0, "mean {m}");
        assert!(sd < 63.0 * 1.6, "sd {sd}: streams are correlated");
        let c = Schedule::new(&p, start, 4, 10);
        assert_ne!(c.due(), Schedule::new(&p, start, 3, 10).due());
    }
}
