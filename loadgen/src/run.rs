//! Runs a plan: one pinned worker per CPU entry, Ctrl-C handling, and the merge of
//! the workers' results into one [`RunResult`].

use crate::direct;
use crate::meta::Meta;
use crate::plan::Plan;
use crate::progress::{Board, Reporter};
use crate::result::{GeneratorCpu, RateReport, RunResult, ThreadResult, TimePoint};
use crate::worker::{self, WorkerResult};
use shared::runtime::{join_all, spawn_workers, SpawnError, Stop};
use shared::stats::codec::decode_base64;
use shared::stats::{new_histogram, Counters, Histogram};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use thiserror::Error;

/// The run could not happen at all.
#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Spawn(#[from] SpawnError),
}

/// Child processes (campaigns' embedded servers) to stop if the process has to
/// exit at once.
static CHILDREN: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

/// Registers a child to be sent SIGTERM on an immediate exit (second Ctrl-C).
pub fn track_child(pid: u32) {
    CHILDREN.lock().unwrap_or_else(|e| e.into_inner()).push(pid);
}

/// Forgets a child that has been stopped and waited for.
pub fn untrack_child(pid: u32) {
    CHILDREN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|&p| p != pid);
}

/// The process-wide stop flag Ctrl-C sets; installed once. Campaigns call it
/// before they change anything, so a Ctrl-C at any moment is caught.
pub fn ctrl_c() -> Stop {
    static STOP: OnceLock<Stop> = OnceLock::new();
    STOP.get_or_init(|| {
        let stop = Stop::new();
        let s = stop.clone();
        // A second Ctrl-C ends the process at once, for a run that will not stop.
        let _ = ctrlc::set_handler(move || {
            if s.is_triggered() {
                // Never leave a kernel setting changed or a server running, even
                // on the way out.
                crate::sysctl::restore_all();
                for &pid in CHILDREN.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                    // SAFETY: kill(2) on a child this process started and has not
                    // yet waited for (untracked before the wait).
                    unsafe {
                        libc::kill(pid as i32, libc::SIGTERM);
                    }
                }
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
    let cpu_before = cpu_times();
    let board = Board::new(plan.threads());
    let reporter = Reporter::start(board.clone(), plan.duration, plan.quiet);
    let start = Instant::now();
    let handles = {
        let plan = plan.clone();
        let stop = stop.clone();
        let board = board.clone();
        let (cpus, engine) = (plan.cpus.clone(), plan.engine.clone());
        spawn_workers("ceiling", &cpus, &engine, move |ctx| {
            let plan = plan.clone();
            let stop = stop.clone();
            let board = board.clone();
            async move {
                if plan.engine.direct {
                    let (p, s, b) = (plan.clone(), stop.clone(), board.clone());
                    match direct::run(p, ctx.index, ctx.cpu, start, s, b) {
                        Ok(r) => return r,
                        // The probe passed, so this is rare (memory): this worker
                        // runs monoio's worker on the thread's epoll runtime instead.
                        Err(e) => eprintln!(
                            "ceiling: worker {}: direct io_uring loop could not start ({e}); \
                             this worker runs on epoll",
                            ctx.index
                        ),
                    }
                }
                worker::run(plan, ctx.index, ctx.cpu, start, stop, board).await
            }
        })?
    };
    let mut workers = Vec::with_capacity(handles.len());
    let joined = join_all(handles);
    reporter.finish();
    for r in joined {
        workers.push(r?);
    }
    let (user, sys) = cpu_times();
    let cpu = (user - cpu_before.0, sys - cpu_before.1);
    Ok(merge(&plan, meta, start, workers, cpu, stop.is_triggered()))
}

/// User and system CPU seconds of this process so far.
fn cpu_times() -> (f64, f64) {
    use nix::sys::resource::{getrusage, UsageWho};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
            (secs(u.user_time()), secs(u.system_time()))
        }
        Err(_) => (0.0, 0.0),
    }
}

fn merge(
    plan: &Plan,
    meta: Meta,
    start: Instant,
    workers: Vec<WorkerResult>,
    (user_s, sys_s): (f64, f64),
    interrupted: bool,
) -> RunResult {
    let mut counters = Counters::default();
    let mut histogram = new_histogram();
    let mut lag = new_histogram();
    let mut uncorrected = new_histogram();
    let (mut late_busy, mut late_generator, mut behind) = (0, 0, 0);
    let mut first_invalid = None;
    let mut threads = Vec::with_capacity(workers.len());
    let mut samples = Vec::new();
    let mut end = start;
    let seconds = workers.iter().map(|w| w.seconds.len()).max().unwrap_or(0);
    // (length, completed, errors, histogram) per second, all workers added.
    let mut series: Vec<(Duration, u64, u64, Histogram)> = (0..seconds)
        .map(|_| (Duration::ZERO, 0, 0, new_histogram()))
        .collect();
    for w in workers {
        counters += w.counters;
        // Same layout everywhere, so adding is exact.
        histogram
            .add(&w.histogram)
            .expect("workers share one histogram layout");
        if let Some(a) = &w.audit {
            lag.add(&a.lag).expect("one layout");
            uncorrected.add(&a.uncorrected).expect("one layout");
            late_busy += a.late_busy;
            late_generator += a.late_generator;
            behind += a.behind;
        }
        if first_invalid.is_none() {
            first_invalid = w.first_invalid;
        }
        end = end.max(w.stopped_at);
        threads.push(ThreadResult::new(w.cpu, w.counters.completed, &w.samples));
        samples.extend_from_slice(&w.samples);
        for (slot, s) in series.iter_mut().zip(&w.seconds) {
            slot.0 = slot.0.max(s.length);
            slot.1 += s.completed;
            slot.2 += s.errors;
            if let Ok(h) = decode_base64(&s.histogram) {
                slot.3.add(&h).expect("one layout");
            }
        }
    }
    let duration = end.duration_since(start);
    let timeseries = series
        .iter()
        .enumerate()
        .map(|(i, (len, completed, errors, h))| {
            TimePoint::new(i, len.as_secs_f64(), *completed, *errors, h)
        })
        .collect();
    let generator_cpu = GeneratorCpu {
        user_s,
        sys_s,
        us_per_request: if counters.sent > 0 {
            (user_s + sys_s) * 1e6 / counters.sent as f64
        } else {
            0.0
        },
    };
    let rate = plan.pacing.as_ref().map(|p| {
        RateReport::new(
            p,
            duration.as_secs_f64(),
            &counters,
            &lag,
            &uncorrected,
            late_busy,
            late_generator,
            behind,
        )
    });
    RunResult::new(
        plan,
        meta,
        duration,
        counters,
        first_invalid,
        histogram,
        threads,
        &samples,
        generator_cpu,
        rate,
        timeseries,
        interrupted,
    )
}
