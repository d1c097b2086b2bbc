//! Runs a plan: one pinned worker per CPU entry, Ctrl-C handling, and the run's
//! one collector (`record`), which turns the workers' results into one [`RunResult`].

use crate::direct;
use crate::distributed::{unix_ms, ClockStatus, Layout, PlanFile};
use crate::meta::Meta;
use crate::plan::{JsonOut, Plan};
use crate::record::collector::Progress;
use crate::record::node::{Header, NodeClock, NODE_SCHEMA};
use crate::record::{self, config, fold, Collector};
use crate::result::RunResult;
use crate::worker;
use shared::runtime::{join_all, spawn_workers, SpawnError, Stop};
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

/// A Ctrl-C this soon after the first is ignored: the partial results are
/// written, not lost to a signal sent twice (a supervisor signalling the
/// process and then its group). A later one exits at once (exit 130).
pub const CTRL_C_GRACE: Duration = Duration::from_secs(1);

/// The process-wide stop flag Ctrl-C sets; installed once. Campaigns call it
/// before they change anything, so a Ctrl-C at any moment is caught.
pub fn ctrl_c() -> Stop {
    static STOP: OnceLock<Stop> = OnceLock::new();
    STOP.get_or_init(|| {
        let stop = Stop::new();
        let s = stop.clone();
        // When the first Ctrl-C came: one within GRACE of it is the same
        // interrupt delivered twice (GNU timeout signals the child, then its
        // process group), not a user insisting.
        let mut first: Option<Instant> = None;
        // A second Ctrl-C ends the process at once, for a run that will not stop.
        let _ = ctrlc::set_handler(move || {
            if first.is_some_and(|t| t.elapsed() < CTRL_C_GRACE) {
                return;
            }
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
            first.get_or_insert_with(Instant::now);
            s.trigger();
        });
        stop
    })
    .clone()
}

/// Runs `plan` to its end (duration, request count or Ctrl-C) and returns its result.
pub fn run(plan: &Plan) -> Result<RunResult, RunError> {
    run_recorded(plan).map(|(r, _)| r)
}

/// Runs `plan` and returns its result, with the error writing `--out` hit, if
/// any (the result is still returned: nothing measured is lost for it).
///
/// The workers publish each closed second to the run's one collector
/// (`record::Collector`), which sums it once, writes the node file when `--out` asks
/// for it and draws the progress line; their results go to the same collector
/// at the end, and from its tally to the [`RunResult`].
pub fn run_recorded(plan: &Plan) -> Result<(RunResult, Option<std::io::Error>), RunError> {
    let stop = ctrl_c();
    let meta = Meta::collect(&plan.command_line, &plan.cpus, &plan.engine);
    let launched = SystemTime::now();
    let (start, late) = start_instant(plan, launched)?;
    let header = plan
        .out
        .as_ref()
        .map(|_| header(plan, meta.clone(), launched, late));
    let out = match &plan.out {
        Some(out) => Some(sink(out).map_err(RunError::Out)?),
        None => None,
    };
    let progress = (!plan.quiet).then_some(Progress {
        total: plan.duration,
        requests: plan.requests,
        start,
        node: plan
            .distributed
            .as_ref()
            .map(|_| (plan.share.index, plan.share.count)),
    });
    let collector = Collector::start(plan.threads(), out.zip(header.as_ref()), progress)
        .map_err(RunError::Out)?;
    let plan = Arc::new(plan.clone());
    let cpu_before = cpu_times();
    let board = collector.board();
    let spawned = {
        let plan = plan.clone();
        let stop = stop.clone();
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
                        Err(e) => shared::say!(
                            "ceiling: worker {}: direct io_uring loop could not start ({e}); \
                             this worker runs on epoll",
                            ctx.index
                        ),
                    }
                }
                worker::run(plan, ctx.index, ctx.cpu, start, stop, board).await
            }
        })
    };
    let joined = spawned.and_then(|handles| join_all(handles).into_iter().collect());
    let workers = match joined {
        Ok(w) => w,
        Err(e) => {
            // No result: the collector's thread ends instead of waiting.
            collector.abandon();
            return Err(e.into());
        }
    };
    let (user, sys) = cpu_times();
    let cpu = (user - cpu_before.0, sys - cpu_before.1);
    let (tally, out_error) = collector.finish(start, workers, cpu, stop.is_triggered());
    let result = fold::run(config::of_plan(&plan), meta, &tally);
    Ok((result, out_error))
}

/// The node file's header: the plan file this node runs (a run of its own: one
/// made for it, one node starting when launched), where it ran and its clock.
fn header(plan: &Plan, meta: Meta, launched: SystemTime, late: Duration) -> Header {
    let t0 = match &plan.distributed {
        Some(p) => p.file.start(),
        None => launched,
    };
    let file = match &plan.distributed {
        Some(p) => p.file.clone(),
        None => PlanFile::new(plan.load.clone(), 1, t0, Duration::ZERO),
    };
    Header {
        schema: NODE_SCHEMA.into(),
        run_id: file.run_id.clone(),
        plan_hash: file.hash(),
        node_index: plan.share.index,
        node_count: plan.share.count,
        plan: file,
        histogram: Layout::current(),
        clock: NodeClock {
            status: ClockStatus::read(),
            t0_unix_ms: unix_ms(t0),
            launched_unix_ms: unix_ms(launched),
            late_ms: late.as_secs_f64() * 1e3,
        },
        meta,
    }
}

/// Where `--out` writes: stdout, or a file created now.
fn sink(out: &JsonOut) -> std::io::Result<record::collector::Out> {
    Ok(match out {
        JsonOut::Stdout => Box::new(std::io::stdout()),
        JsonOut::File(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
    })
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
