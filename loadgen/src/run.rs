//! Runs a plan: one pinned worker per CPU entry, Ctrl-C handling, and the merge of
//! the workers' results into one [`RunResult`].

use crate::direct;
use crate::distributed::node::{
    self, Footer, Header, NodeClock, NodeRecord, PaceRecord, Second, SecondSum, Streamer,
    ThreadRecord, NODE_SCHEMA,
};
use crate::distributed::{unix_ms, ClockStatus, Layout, PlanFile};
use crate::meta::Meta;
use crate::plan::Plan;
use crate::progress::{Board, Reporter};
use crate::result::{GeneratorCpu, RunResult};
use crate::worker::{self, WorkerResult};
use shared::runtime::{join_all, spawn_workers, SpawnError, Stop};
use shared::stats::codec::encode_base64;
use shared::stats::{new_histogram, Counters};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};
use thiserror::Error;

/// The run could not happen at all.
#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    #[error("launched {:.0} ms after the plan's start T0, beyond its tolerance of {:.0} ms: refusing to start late (make a new plan with a later --start-in)", late.as_secs_f64() * 1e3, tolerance.as_secs_f64() * 1e3)]
    Late { late: Duration, tolerance: Duration },
    #[error("{0}")]
    Record(String),
    #[error("could not write --out: {0}")]
    Out(std::io::Error),
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
    run_recorded(plan).map(|(r, _, _)| r)
}

/// Runs `plan` and returns its report with the node record it came from (what
/// `--out` writes and `ceiling merge` reads), and the error writing `--out` hit,
/// if any (the report is still printed: nothing measured is lost for it).
#[allow(clippy::type_complexity)]
pub fn run_recorded(
    plan: &Plan,
) -> Result<(RunResult, NodeRecord, Option<std::io::Error>), RunError> {
    let stop = ctrl_c();
    let meta = Meta::collect(plan);
    let clock = ClockStatus::read();
    let launched = SystemTime::now();
    let (start, late) = start_instant(plan, launched)?;
    let t0 = match &plan.distributed {
        Some(p) => p.file.start(),
        // A run of its own starts when launched.
        None => launched,
    };
    let mut header = Header {
        schema: NODE_SCHEMA.into(),
        run_id: String::new(),
        plan_hash: String::new(),
        node_index: plan.share.index,
        node_count: plan.share.count,
        plan: match &plan.distributed {
            Some(p) => p.file.clone(),
            None => PlanFile::new(plan.load.clone(), 1, t0, Duration::ZERO),
        },
        histogram: Layout::current(),
        clock: NodeClock {
            status: clock,
            t0_unix_ms: unix_ms(t0),
            launched_unix_ms: unix_ms(launched),
            late_ms: late.as_secs_f64() * 1e3,
        },
        meta,
    };
    header.plan_hash = header.plan.hash();
    header.run_id.clone_from(&header.plan.run_id);
    let plan = Arc::new(plan.clone());
    let cpu_before = cpu_times();
    let board = Board::new(plan.threads());
    // --out streams: the header now, each second as it closes, the footer at the end.
    let stream = match &plan.out {
        Some(out) => {
            let s = Streamer::start(out, &header, plan.threads()).map_err(RunError::Out)?;
            board.stream_to(&s);
            Some(s)
        }
        None => None,
    };
    let reporter = Reporter::start(board.clone(), plan.duration, plan.quiet);
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
    board.end_stream();
    for r in joined {
        workers.push(r?);
    }
    let (user, sys) = cpu_times();
    let cpu = (user - cpu_before.0, sys - cpu_before.1);
    let record = record(header, start, workers, cpu, stop.is_triggered());
    let out_error = stream.and_then(|s| s.finish(&record).err());
    // The whole run's description: for a node, its own share.
    let result = node::result(&plan, std::slice::from_ref(&record), false, Vec::new())
        .map_err(RunError::Record)?;
    Ok((result, record, out_error))
}

/// The monotonic instant the run starts at: now, or the plan's T0 (a node
/// launched a little late still counts from T0, so the nodes' schedules line up;
/// one later than the plan's tolerance refuses to start).
fn start_instant(plan: &Plan, launched: SystemTime) -> Result<(Instant, Duration), RunError> {
    let now = Instant::now();
    let Some(p) = &plan.distributed else {
        return Ok((now, Duration::ZERO));
    };
    let t0 = p.file.start();
    match t0.duration_since(launched) {
        Ok(ahead) => Ok((now + ahead, Duration::ZERO)),
        Err(e) => {
            let late = e.duration();
            if late > p.file.tolerance() {
                return Err(RunError::Late {
                    late,
                    tolerance: p.file.tolerance(),
                });
            }
            Ok((now.checked_sub(late).unwrap_or(now), late))
        }
    }
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

/// The workers' results as this node's record.
fn record(
    header: Header,
    start: Instant,
    workers: Vec<WorkerResult>,
    (user_s, sys_s): (f64, f64),
    interrupted: bool,
) -> NodeRecord {
    let mut counters = Counters::default();
    let mut histogram = new_histogram();
    let mut lag = new_histogram();
    let mut uncorrected = new_histogram();
    let (mut late_busy, mut late_generator, mut behind) = (0, 0, 0);
    let mut paced = false;
    let mut first_invalid = None;
    let mut threads = Vec::with_capacity(workers.len());
    let mut end = start;
    let n = workers.iter().map(|w| w.seconds.len()).max().unwrap_or(0);
    let mut series: Vec<SecondSum> = (0..n).map(|_| SecondSum::new()).collect();
    for w in workers {
        counters += w.counters;
        // Same layout everywhere, so adding is exact.
        histogram
            .add(&w.histogram)
            .expect("workers share one histogram layout");
        if let Some(a) = &w.audit {
            paced = true;
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
        threads.push(ThreadRecord {
            cpu: w.cpu,
            requests: w.counters.completed,
            samples: w.samples,
        });
        for (sum, s) in series.iter_mut().zip(&w.seconds) {
            // The worker encoded it a moment ago: it decodes.
            sum.add_sample(s).expect("a worker's own histogram");
        }
    }
    let seconds: Vec<Second> = series
        .iter()
        .enumerate()
        .map(|(i, sum)| sum.to_second(i))
        .collect();
    let footer = Footer {
        duration_s: end.saturating_duration_since(start).as_secs_f64(),
        counters,
        histogram: encode_base64(&histogram),
        first_invalid,
        threads,
        generator_cpu: GeneratorCpu {
            user_s,
            sys_s,
            us_per_request: if counters.sent > 0 {
                (user_s + sys_s) * 1e6 / counters.sent as f64
            } else {
                0.0
            },
        },
        pace: paced.then(|| PaceRecord {
            lag: encode_base64(&lag),
            uncorrected: encode_base64(&uncorrected),
            late_busy,
            late_generator,
            behind,
        }),
        interrupted,
        seconds: seconds.len(),
    };
    NodeRecord {
        header,
        seconds,
        footer: Some(footer),
    }
}
