//! What the workers publish while a run goes, and the live progress line made of it.
//!
//! The workers write here from their 100 ms tick and at each second's close, never
//! per request: their running totals (one relaxed store each) and each closed
//! second, sent on to the run's one collector (`crate::record::Collector`). The
//! collector owns the other end: it sums the seconds, writes `--out` and draws the
//! line with [`line`]. This module imports nothing of the workers or the collector.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;

/// One worker's closed second, as the collector receives it.
#[derive(Debug, Clone)]
pub struct Closed {
    /// Responses completed in this second.
    pub completed: u64,
    /// Request and connect errors in this second.
    pub errors: u64,
    /// Length of the interval (1 s; the last one may be shorter).
    pub length: Duration,
    /// Latency of this second's completions, µs: HdrHistogram V2+DEFLATE, base64.
    pub histogram: String,
}

/// What goes down the collector's channel.
#[derive(Debug)]
pub enum Event {
    /// Worker `worker` closed its second number `second` (from the start).
    Second {
        worker: usize,
        second: usize,
        sample: Closed,
    },
    /// Every worker has returned: the collector stops listening.
    End,
}

/// One worker's published totals, alone on its cache line.
#[derive(Debug)]
#[repr(align(128))]
pub struct Published {
    /// Responses completed so far.
    pub completed: AtomicU64,
    /// Request and connect errors so far.
    pub errors: AtomicU64,
    worker: usize,
    to_collector: Sender<Event>,
}

impl Published {
    /// Hands this worker's second number `index` to the collector (once a second
    /// per worker, never per request). `S` is the worker's own sample type.
    pub fn second_closed<S: Clone + Into<Closed>>(&self, index: usize, sample: &S) {
        // A collector that has gone away (it never does before the workers end)
        // would only lose the streaming: the worker's result still carries it.
        let _ = self.to_collector.send(Event::Second {
            worker: self.worker,
            second: index,
            sample: sample.clone().into(),
        });
    }
}

/// Totals of every worker, shared by the workers and the collector.
#[derive(Debug)]
pub struct Board {
    pub workers: Vec<Published>,
}

impl Board {
    /// A board for `workers` workers with no collector: closed seconds go
    /// nowhere (a worker driven alone, in unit tests).
    #[cfg(test)]
    pub fn new(workers: usize) -> Arc<Self> {
        Self::to(workers, &std::sync::mpsc::channel().0)
    }

    /// A board for `workers` workers whose closed seconds go to `to_collector`.
    pub fn to(workers: usize, to_collector: &Sender<Event>) -> Arc<Self> {
        Arc::new(Self {
            workers: (0..workers)
                .map(|worker| Published {
                    completed: AtomicU64::new(0),
                    errors: AtomicU64::new(0),
                    worker,
                    to_collector: to_collector.clone(),
                })
                .collect(),
        })
    }

    /// (completed, errors) of every worker together, as last published.
    pub fn totals(&self) -> (u64, u64) {
        self.workers.iter().fold((0, 0), |(c, e), w| {
            (c + w.completed.load(Relaxed), e + w.errors.load(Relaxed))
        })
    }
}

/// The progress line: `  [3s/10s] 51234 req/s, 153702 done, 0 errors`.
/// `rps` is over the last second; `total` is the planned duration, if any.
pub fn line(
    elapsed: Duration,
    total: Option<Duration>,
    rps: f64,
    completed: u64,
    errors: u64,
) -> String {
    // Whole seconds as `10s`, anything else as `2.5s`, so the total is not rounded away.
    let of = total.map_or(String::new(), |t| {
        let secs = t.as_secs_f64();
        if secs.fract() == 0.0 {
            format!("/{secs:.0}s")
        } else {
            format!("/{secs:.1}s")
        }
    });
    format!(
        "  [{:.0}s{of}] {rps:.0} req/s, {completed} done, {errors} errors",
        elapsed.as_secs_f64()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_names_elapsed_rate_and_totals() {
        let l = line(
            Duration::from_secs(3),
            Some(Duration::from_secs(10)),
            51_234.4,
            153_702,
            2,
        );
        assert_eq!(l, "  [3s/10s] 51234 req/s, 153702 done, 2 errors");
        assert_eq!(
            line(Duration::from_secs(1), None, 0.0, 0, 0),
            "  [1s] 0 req/s, 0 done, 0 errors"
        );
        assert_eq!(
            line(
                Duration::from_secs(2),
                Some(Duration::from_millis(2500)),
                1.0,
                2,
                0
            ),
            "  [2s/2.5s] 1 req/s, 2 done, 0 errors"
        );
    }

    #[test]
    fn closed_seconds_reach_the_collector_with_their_worker() {
        let (tx, rx) = std::sync::mpsc::channel();
        let board = Board::to(2, &tx);
        let s = Closed {
            completed: 5,
            errors: 1,
            length: Duration::from_secs(1),
            histogram: String::new(),
        };
        board.workers[1].second_closed(0, &s);
        board.workers[1].completed.store(5, Relaxed);
        board.workers[0].errors.store(3, Relaxed);
        assert_eq!(board.totals(), (5, 3));
        match rx.try_recv().unwrap() {
            Event::Second {
                worker,
                second,
                sample,
            } => assert_eq!((worker, second, sample.completed), (1, 0, 5)),
            Event::End => panic!("a second was sent"),
        }
        // A board alone takes seconds and drops them.
        Board::new(1).workers[0].second_closed(0, &s);
    }
}
