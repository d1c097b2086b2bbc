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
