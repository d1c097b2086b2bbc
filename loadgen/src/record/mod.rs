//! The record stage: every run's measurements take one road to a [`RunResult`].
//!
//! ```text
//! workers ──closed seconds (progress::Board)──> Collector ──> Tally ──fold──> RunResult
//!         ──WorkerResult at the end──────────────┘   │
//!                                                     └──> --out node file (a view, `node`)
//! node files (ceiling merge) ──NodeRecord::read──> Tally per node ──fold::merged──> RunResult
//! ```
//!
//! - `collector`: one thread per run. It sums each closed second once, as it
//!   arrives, writes the node file when `--out` asks for it, and draws the live
//!   progress line; at the end it folds the workers' results into a [`Tally`].
//! - [`tally`]: what one generator process measured, decoded (counters,
//!   histograms, seconds, threads, the schedule audit).
//! - [`sum`]: one second added up over workers or nodes.
//! - [`fold`]: tallies to the [`RunResult`], one concern per function (rates,
//!   time series, Req/Sec, the rate report, warnings, node summaries).
//! - [`node`]: the node file format (`ceiling.node/1`) and its reader.
//! - [`config`]: the configuration a result carries, from a Plan or a plan file.
//!
//! [`RunResult`]: crate::result::RunResult

pub(crate) mod collector;
pub mod config;
pub mod fold;
pub mod node;
pub mod sum;
pub mod tally;

pub(crate) use collector::Collector;
pub use node::{NodeRecord, RecordError};
pub use sum::SecondSum;
pub use tally::Tally;

/// Node headers for the record stage's unit tests.
#[cfg(test)]
pub(crate) mod fixture {
    use super::node::{Header, NodeClock, NODE_SCHEMA};
    use crate::distributed::{ClockStatus, Layout, PlanFile};
    use std::time::{Duration, SystemTime};

    /// The header of node `index` of `count` of one fixed plan.
    pub fn header(index: usize, count: usize) -> Header {
        // The distributed tests' load, whatever its fields are.
        let load = crate::load::Load {
            rate: None,
            ..crate::distributed::tests::load()
        };
        let file = PlanFile::new(load, count, SystemTime::UNIX_EPOCH, Duration::ZERO);
        Header {
            schema: NODE_SCHEMA.into(),
            run_id: file.run_id.clone(),
            plan_hash: file.hash(),
            node_index: index,
            node_count: count,
            plan: file,
            histogram: Layout::current(),
            clock: NodeClock {
                status: ClockStatus {
                    sync: "synchronized".into(),
                    max_error_us: Some(100),
                    est_error_us: Some(10),
                },
                t0_unix_ms: 0,
                launched_unix_ms: 0,
                late_ms: 0.0,
            },
            meta: serde_json::from_value(serde_json::json!({
                "command_line": "ceiling run --plan p.json", "version": "0", "kernel": "",
                "cpu_model": "", "hostname": format!("gen{index}"), "nproc": 2, "cpus": [0, 1],
                "engine": {"requested": "auto", "engine": "epoll", "ring_flags": null,
                           "ring_entries": 0, "reason": "", "direct": false},
                "sysctls": {}, "loopback_mtu": null, "started_at": "2026-11-23T08:30:00Z"
            }))
            .expect("a fixed meta"),
        }
    }
}
