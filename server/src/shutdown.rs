//! SIGINT/SIGTERM handling and the summary printed (and optionally written as
//! JSON) when the server stops.

use crate::stats::Snapshot;
use serde::Serialize;
use shared::runtime::{EngineChoice, Stop};
use std::fmt::Write as _;
use std::sync::mpsc::Sender;
use std::time::Duration;

/// Sets the stop flag and wakes the main thread on SIGINT or SIGTERM.
pub fn install(stop: Stop, wake: Sender<()>) -> Result<(), String> {
    ctrlc::set_handler(move || {
        stop.trigger();
        let _ = wake.send(());
    })
    .map_err(|e| format!("could not install the SIGINT/SIGTERM handler: {e}"))
}

/// The shutdown summary: the stats document plus time, rate and engine.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Listening address.
    pub address: String,
    pub engine: EngineChoice,
    /// Seconds from listening to the end of the drain.
    pub elapsed_s: f64,
    /// `requests / elapsed_s`.
    pub requests_per_sec: f64,
    #[serde(flatten)]
    pub stats: Snapshot,
}

impl Summary {
    pub fn new(address: String, engine: EngineChoice, elapsed: Duration, stats: Snapshot) -> Self {
        let elapsed_s = elapsed.as_secs_f64();
        let requests_per_sec = if elapsed_s > 0.0 {
            stats.total.requests as f64 / elapsed_s
        } else {
            0.0
        };
        Self {
            address,
            engine,
            elapsed_s,
            requests_per_sec,
            stats,
        }
    }

    /// `ceiling serve: N requests in Xs (R req/s); per worker: cpu0 A, cpu1 B`
    pub fn line(&self) -> String {
        let mut s = format!(
            "ceiling serve: {} requests in {:.2}s ({:.0} req/s); per worker:",
            self.stats.total.requests, self.elapsed_s, self.requests_per_sec
        );
        for (i, w) in self.stats.workers.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            let _ = write!(s, "{sep}cpu{} {}", w.cpu, w.counts.requests);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Counter;
    use crate::stats::StatsTable;

    #[test]
    fn summary_line_and_json() {
        let t = StatsTable::new(&[0, 1]);
        t.workers[0].add(Counter::Requests, 10);
        t.workers[1].add(Counter::Requests, 30);
        let engine = shared::runtime::choose_engine(shared::runtime::IoEngine::Epoll).unwrap();
        let s = Summary::new(
            "127.0.0.1:1".into(),
            engine,
            Duration::from_secs(2),
            t.snapshot(),
        );
        assert_eq!(
            s.line(),
            "ceiling serve: 40 requests in 2.00s (20 req/s); per worker: cpu0 10, cpu1 30"
        );
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["requests"], 40);
        assert_eq!(v["requests_per_sec"], 20.0);
        assert_eq!(v["workers"][1]["requests"], 30);
        assert_eq!(v["engine"]["engine"], "epoll");
    }
}
