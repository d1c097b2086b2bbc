//! Runs a plan: one pinned worker per CPU entry, Ctrl-C handling, and the merge of
//! the workers' results into one [`RunResult`].

use crate::meta::Meta;
use crate::plan::Plan;
use crate::result::{RunResult, ThreadResult};
use crate::worker::{self, WorkerResult};
use shared::runtime::{join_all, spawn_workers, SpawnError, Stop};
use shared::stats::{new_histogram, Counters};
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use thiserror::Error;

/// The run could not happen at all.
#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Spawn(#[from] SpawnError),
}

/// The process-wide stop flag Ctrl-C sets; installed once.
fn ctrl_c() -> Stop {
    static STOP: OnceLock<Stop> = OnceLock::new();
    STOP.get_or_init(|| {
        let stop = Stop::new();
        let s = stop.clone();
        // A second Ctrl-C ends the process at once, for a run that will not stop.
        let _ = ctrlc::set_handler(move || {
            if s.is_triggered() {
                std::process::exit(130);
            }
            s.trigger();
        });
        stop
    })
    .clone()
}

/// Runs `plan` to its end (duration, request count or Ctrl-C) and merges the result.
pub fn run(plan: &Plan) -> Result<RunResult, RunError> {
    let stop = ctrl_c();
    let meta = Meta::collect(plan);
    let plan = Arc::new(plan.clone());
    let start = Instant::now();
    let handles = {
        let plan = plan.clone();
        let stop = stop.clone();
        let (cpus, engine) = (plan.cpus.clone(), plan.engine.clone());
        spawn_workers("ceiling", &cpus, &engine, move |ctx| {
            let plan = plan.clone();
            let stop = stop.clone();
            async move { worker::run(plan, ctx.index, ctx.cpu, start, stop).await }
        })?
    };
    let mut workers = Vec::with_capacity(handles.len());
    for r in join_all(handles) {
        workers.push(r?);
    }
    Ok(merge(&plan, meta, start, workers, stop.is_triggered()))
}

fn merge(
    plan: &Plan,
    meta: Meta,
    start: Instant,
    workers: Vec<WorkerResult>,
    interrupted: bool,
) -> RunResult {
    let mut counters = Counters::default();
    let mut histogram = new_histogram();
    let mut first_invalid = None;
    let mut threads = Vec::with_capacity(workers.len());
    let mut samples = Vec::new();
    let mut end = start;
    for w in workers {
        counters += w.counters;
        // Same layout everywhere, so adding is exact.
        histogram
            .add(&w.histogram)
            .expect("workers share one histogram layout");
        if first_invalid.is_none() {
            first_invalid = w.first_invalid;
        }
        end = end.max(w.stopped_at);
        threads.push(ThreadResult::new(w.cpu, w.counters.completed, &w.samples));
        samples.extend_from_slice(&w.samples);
    }
    let duration = end.duration_since(start);
    RunResult::new(
        plan,
        meta,
        duration,
        counters,
        first_invalid,
        histogram,
        threads,
        &samples,
        interrupted,
    )
}
