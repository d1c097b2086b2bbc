//! `--server-pid`: a server's CPU and memory while a run goes, over its whole process
//! tree (a gunicorn-like master that forks the workers doing the work counts its
//! workers), read through procfs every 200 ms on a thread of its own. One sampler
//! for `ramp`, `compare` and `matrix`.
//!
//! **Which processes.** Each sample walks the tree from the given PIDs through
//! `/proc/PID/task/TID/children`, and also re-reads every member seen before (same
//! PID and start time), so a worker whose master died and that was re-parented is
//! still counted.
//!
//! **CPU.** A member's CPU is `utime + stime + cutime + cstime` from
//! `/proc/PID/stat` (proc(5)): its own time plus that of the children it has reaped.
//! The tree's CPU over an interval is the change of that sum, member by member:
//! - a member seen last time adds its change;
//! - a member born during the run (its start time is after the sampler's start) adds
//!   all of it; one that existed before but is seen for the first time adds nothing
//!   yet (its time before this run is not this run's);
//! - a member that is gone keeps what it used up to its last sample, and when its
//!   parent in the tree reaped it, the parent's `cutime + cstime` rose by the child's
//!   whole life: that rise is reduced by the child's last-seen time, which is already
//!   counted (by at most the rise: a child reaped with SIGCHLD ignored adds nothing
//!   to its parent). A child that starts and exits between two samples is counted
//!   through its parent's `cutime`. When a child and its parent are both gone in one
//!   interval, the grandparent reaped the parent, whose `cutime` held the child's
//!   whole life: the child's credit goes up to the nearest member still present.
//!
//! CPU is in percent of one CPU (200% = two CPUs busy), and [`ServerUsage::cpus`]
//! says how many the server may use (its affinity, and its cgroup v2 `cpu.max`
//! quota when there is one). Times come in clock ticks (10 ms with USER_HZ 100), so
//! a 200 ms interval is ±5% at best: the peak is the busiest window of
//! [`PEAK_WINDOW`] (±1%). Average and peak are capped at what the server may use;
//! a raw figure above it is kept in [`ServerUsage::cpu_over_cap_pct`] and said.
//!
//! **Memory.** RSS summed over the live members (zombies hold none). Pages shared by
//! forked workers count once per process, as `ps` and `top` show them.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the processes are read.
pub const EVERY: Duration = Duration::from_millis(200);
/// The window of the CPU peak: long enough that the tick resolution is ±1%.
pub const PEAK_WINDOW: Duration = Duration::from_secs(1);

/// The servers' use of CPU and memory over one run, summed over their process trees.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerUsage {
    /// CPU time over the run's wall time, in percent of one CPU.
    pub avg_cpu_pct: f64,
    /// The busiest [`PEAK_WINDOW`] (the whole run when shorter), in percent of one
    /// CPU, capped at `100 x cpus`.
    pub peak_cpu_pct: f64,
    /// CPUs the server may use: the CPUs in its affinity mask, or its cgroup quota
    /// when lower.
    pub cpus: f64,
    /// CPU seconds the tree used during the run (user + system).
    pub cpu_s: f64,
    /// The run's wall time as sampled, seconds.
    pub wall_s: f64,
    /// Resident memory (RSS) of the tree in MiB, averaged over the samples.
    pub avg_rss_mib: f64,
    pub peak_rss_mib: f64,
    pub samples: usize,
    /// The most processes seen in the tree at once.
    pub processes: usize,
    /// Members that started during the run (forked workers, respawns).
    pub started: usize,
    /// Members that exited during the run; their CPU up to then is counted.
    pub ended: usize,
    /// Given PIDs that exited (or became zombies) during the run; their own figures
    /// stop there.
    pub exited: Vec<i32>,
    /// The sampling thread's own CPU time over the run's wall time, in percent of
    /// one CPU: what sampling cost the machine.
    pub sampler_cpu_pct: f64,
    /// The raw CPU figure (average or peak, percent of one CPU) when it was above
    /// `100 x cpus` and the figures above were capped; None when it never was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_over_cap_pct: Option<f64>,
    /// Samples that found at least one live process: the memory average is over
    /// these, and with none the run measured nothing of the server.
    #[serde(default)]
    pub live_samples: usize,
    /// `/proc/PID/task/TID/children` lists that could not be read (a process of
    /// another user, a race with its exit): the tree may be missing their children.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unreadable_children: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl ServerUsage {
    /// Several runs of the same server as one: CPU over the summed wall time, the
    /// highest peaks, RSS averaged over all samples.
    pub fn combine(runs: &[ServerUsage]) -> Option<ServerUsage> {
        // The CPUs of a run that saw the server alive: one that found it gone could
        // not read its affinity.
        let first = runs.iter().find(|u| u.live_samples > 0).or(runs.first())?;
        let live: usize = runs.iter().map(|u| u.live_samples).sum();
        let wall: f64 = runs.iter().map(|u| u.wall_s).sum();
        let cpu: f64 = runs.iter().map(|u| u.cpu_s).sum();
        let samples: usize = runs.iter().map(|u| u.samples).sum();
        let max = |f: fn(&ServerUsage) -> f64| runs.iter().map(f).fold(0.0, f64::max);
        let mut exited: Vec<i32> = runs.iter().flat_map(|u| u.exited.clone()).collect();
        exited.sort_unstable();
        exited.dedup();
        Some(ServerUsage {
            avg_cpu_pct: if wall > 0.0 { 100.0 * cpu / wall } else { 0.0 },
            peak_cpu_pct: max(|u| u.peak_cpu_pct),
            cpus: first.cpus,
            cpu_s: cpu,
            wall_s: wall,
            avg_rss_mib: runs
                .iter()
                .map(|u| u.avg_rss_mib * u.live_samples as f64)
                .sum::<f64>()
                / live.max(1) as f64,
            peak_rss_mib: max(|u| u.peak_rss_mib),
            samples,
            processes: runs.iter().map(|u| u.processes).max().unwrap_or(0),
            started: runs.iter().map(|u| u.started).sum(),
            ended: runs.iter().map(|u| u.ended).sum(),
            exited,
            sampler_cpu_pct: if wall > 0.0 {
                runs.iter()
                    .map(|u| u.sampler_cpu_pct * u.wall_s)
                    .sum::<f64>()
                    / wall
            } else {
                0.0
            },
            cpu_over_cap_pct: runs
                .iter()
                .filter_map(|u| u.cpu_over_cap_pct)
                .reduce(f64::max),
            live_samples: live,
            unreadable_children: runs.iter().map(|u| u.unreadable_children).sum(),
        })
    }

    /// "4 CPUs", "1.5 CPUs".
    pub fn cpus_text(&self) -> String {
        cpus_text(self.cpus)
    }
}

/// What a run's figures cannot show by themselves, one line each: a raw CPU figure
/// over the cap, child lists that could not be read.
pub fn warnings(u: &ServerUsage) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(raw) = u.cpu_over_cap_pct {
        v.push(format!(
            "server CPU measured {raw:.1}%, more than the {} it may use; shown as {:.1}%",
            u.cpus_text(),
            100.0 * u.cpus
        ));
    }
    if u.unreadable_children > 0 {
        v.push(format!(
            "{} child lists of the server's processes could not be read (another user's processes?); its figures may miss some children",
            u.unreadable_children
        ));
    }
    v
}

/// "1 CPU", "4 CPUs", "1.5 CPUs".
pub fn cpus_text(cpus: f64) -> String {
    if cpus == 1.0 {
        "1 CPU".into()
    } else if cpus.fract() == 0.0 {
        format!("{cpus:.0} CPUs")
    } else {
        format!("{cpus:.2} CPUs")
    }
}

/// One process as read from `/proc/PID/stat`.
#[derive(Debug, Clone, Copy)]
struct Proc {
    pid: i32,
    ppid: i32,
    /// Start time, clock ticks after boot: with the PID, the process's identity.
    start: u64,
    /// utime + stime, ticks.
    own: u64,
    /// cutime + cstime (reaped children), ticks.
    reaped: u64,
    rss_bytes: u64,
    zombie: bool,
}

impl Proc {
    fn total(&self) -> u64 {
        self.own + self.reaped
    }
}

fn read(pid: i32) -> Option<Proc> {
    let stat = procfs::process::Process::new(pid).ok()?.stat().ok()?;
    Some(Proc {
        pid,
        ppid: stat.ppid,
        start: stat.starttime,
        own: stat.utime + stat.stime,
        reaped: (stat.cutime.max(0) + stat.cstime.max(0)) as u64,
        rss_bytes: stat.rss * procfs::page_size(),
        zombie: stat.state == 'Z' || stat.state == 'X',
    })
}

/// The PIDs of every thread's children (procfs(5): `/proc/PID/task/TID/children`).
/// Lists that cannot be read (other than the process or thread having just exited)
/// are counted in `unreadable`.
fn children(pid: i32, unreadable: &mut usize) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        // Gone since it was read: nothing to miss.
        return Vec::new();
    };
    let mut v = Vec::new();
    for task in dir.flatten() {
        let mut path = task.path();
        path.push("children");
        match std::fs::read_to_string(&path) {
            Ok(text) => v.extend(
                text.split_whitespace()
                    .filter_map(|c| c.parse::<i32>().ok()),
            ),
            // The thread or process exited between the listing and the read.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) if e.raw_os_error() == Some(nix::libc::ESRCH) => {}
            Err(_) if !task.path().exists() => {}
            Err(_) => *unreadable += 1,
        }
    }
    v
}

/// The tree now: from `roots` and every earlier member still alive, down through
/// the children. Keyed by (PID, start time).
fn snapshot(
    roots: &[i32],
    known: &[(i32, u64)],
    unreadable: &mut usize,
) -> HashMap<(i32, u64), Proc> {
    let mut out = HashMap::new();
    let mut visited = HashSet::new();
    let mut stack: Vec<(i32, Option<u64>)> = roots.iter().map(|&p| (p, None)).collect();
    stack.extend(known.iter().map(|&(p, s)| (p, Some(s))));
    while let Some((pid, expect)) = stack.pop() {
        let Some(p) = read(pid) else { continue };
        // A reused PID is not the member seen before.
        if expect.is_some_and(|s| s != p.start) || !visited.insert(pid) {
            continue;
        }
        if !p.zombie {
            stack.extend(children(pid, unreadable).into_iter().map(|c| (c, None)));
        }
        out.insert((pid, p.start), p);
    }
    out
}

/// What is remembered of a member between samples.
#[derive(Debug, Clone, Copy)]
struct Seen {
    total: u64,
    reaped: u64,
    ppid: i32,
    gone: bool,
}

/// The CPU accounting of one tree across samples (see the module's notes).
struct Tracker {
    /// The sampler's start, ticks after boot.
    start_ticks: u64,
    seen: HashMap<(i32, u64), Seen>,
    started: usize,
    ended: usize,
}

impl Tracker {
    fn new(start_ticks: u64, first: &HashMap<(i32, u64), Proc>) -> Self {
        let seen = first
            .iter()
            .map(|(k, p)| {
                (
                    *k,
                    Seen {
                        total: p.total(),
                        reaped: p.reaped,
                        ppid: p.ppid,
                        gone: false,
                    },
                )
            })
            .collect();
        Self {
            start_ticks,
            seen,
            started: 0,
            ended: 0,
        }
    }

    /// Members seen and not gone: they seed the next walk.
    fn known(&self) -> Vec<(i32, u64)> {
        self.seen
            .iter()
            .filter(|(_, s)| !s.gone)
            .map(|(k, _)| *k)
            .collect()
    }

    /// The tree's CPU ticks since the last sample.
    fn update(&mut self, now: &HashMap<(i32, u64), Proc>) -> u64 {
        let mut delta: i64 = 0;
        // Rise of each continuing member's reaped-children time.
        let mut reaped_rise: HashMap<i32, u64> = HashMap::new();
        for (k, p) in now {
            match self.seen.get(k) {
                Some(s) => {
                    delta += p.total() as i64 - s.total as i64;
                    reaped_rise.insert(p.pid, p.reaped.saturating_sub(s.reaped));
                }
                None if p.start + 1 >= self.start_ticks => {
                    // Born during the run: all its time is this run's.
                    delta += p.total() as i64;
                    reaped_rise.insert(p.pid, p.reaped);
                    self.started += 1;
                }
                None => {}
            }
        }
        // The gone: credit their last-seen time back from the nearest live ancestor.
        // A child and its parent gone in the same interval: the grandparent reaped the
        // parent, whose cutime held the child's whole life, so the child's credit goes
        // up the chain to the first member still here (`sh -c` wrappers, any depth).
        let mut gone_now: Vec<(i32, i32, u64)> = Vec::new();
        for (k, s) in self.seen.iter_mut() {
            if !s.gone && !now.contains_key(k) {
                s.gone = true;
                self.ended += 1;
                gone_now.push((k.0, s.ppid, s.total));
            }
        }
        let parent_of: HashMap<i32, i32> = gone_now.iter().map(|&(p, pp, _)| (p, pp)).collect();
        let mut gone_by_parent: HashMap<i32, u64> = HashMap::new();
        for &(pid, ppid, total) in &gone_now {
            let mut ancestor = ppid;
            // Bounded by the number gone: a PID cycle cannot loop.
            for _ in 0..gone_now.len() {
                if ancestor == pid || reaped_rise.contains_key(&ancestor) {
                    break;
                }
                match parent_of.get(&ancestor) {
                    Some(&up) => ancestor = up,
                    None => break,
                }
            }
            *gone_by_parent.entry(ancestor).or_default() += total;
        }
        for (parent, counted) in gone_by_parent {
            if let Some(rise) = reaped_rise.get(&parent) {
                delta -= (*rise).min(counted) as i64;
            }
        }
        for (k, p) in now {
            self.seen.insert(
                *k,
                Seen {
                    total: p.total(),
                    reaped: p.reaped,
                    ppid: p.ppid,
                    gone: false,
                },
            );
        }
        delta.max(0) as u64
    }
}

/// A `--server-pid` that is not a live process.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("--server-pid {0}: no such process")]
pub struct NoSuchProcess(pub i32);

/// Checks before any load that each PID is a live process.
pub fn check(pids: &[i32]) -> Result<(), NoSuchProcess> {
    for &pid in pids {
        if pid <= 0 || read(pid).is_none_or(|p| p.zombie) {
            return Err(NoSuchProcess(pid));
        }
    }
    Ok(())
}

/// CPUs the processes may use: the union of their affinity masks, or their cgroup
/// v2 `cpu.max` quota when lower. None when it cannot be read.
pub fn cpus_allowed(pids: &[i32]) -> Option<f64> {
    let mut cpus: HashSet<u32> = HashSet::new();
    let mut quota: Option<f64> = None;
    for &pid in pids {
        let p = procfs::process::Process::new(pid).ok()?;
        let status = p.status().ok()?;
        for (a, b) in status.cpus_allowed_list.unwrap_or_default() {
            cpus.extend(a..=b);
        }
        if let Some(q) = cgroup_quota(pid) {
            quota = Some(quota.map_or(q, |x: f64| x.max(q)));
        }
    }
    if cpus.is_empty() {
        return None;
    }
    let n = cpus.len() as f64;
    Some(quota.map_or(n, |q| q.min(n)))
}

/// A cgroup v2 `cpu.max` quota in CPUs ("200000 100000" is 2), None for "max".
fn cgroup_quota(pid: i32) -> Option<f64> {
    let groups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let path = groups.lines().find_map(|l| l.strip_prefix("0::"))?;
    let max = std::fs::read_to_string(format!("/sys/fs/cgroup{path}/cpu.max")).ok()?;
    let mut it = max.split_whitespace();
    let quota: f64 = it.next()?.parse().ok()?;
    let period: f64 = it.next()?.parse().ok()?;
    (period > 0.0).then(|| quota / period)
}

/// Clock ticks since boot (the unit of a process's start time), from /proc/uptime.
fn ticks_since_boot(tps: f64) -> u64 {
    let up = std::fs::read_to_string("/proc/uptime").unwrap_or_default();
    let secs: f64 = up
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    (secs * tps) as u64
}

/// This thread's time on a CPU, from /proc/thread-self/schedstat (nanoseconds).
fn thread_cpu() -> Duration {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns: u64 = text
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

/// A running sampler; `finish` stops it and returns the run's figures.
pub struct Sampler {
    stop: mpsc::Sender<()>,
    handle: JoinHandle<ServerUsage>,
}

impl Sampler {
    /// Starts sampling the trees under `pids` every `every`.
    pub fn start(pids: Vec<i32>, every: Duration) -> Self {
        let (stop, rx) = mpsc::channel();
        let tps = procfs::ticks_per_second().max(1) as f64;
        // The first reading is taken here, not on the thread, so it is the run's start.
        let start = Instant::now();
        let start_ticks = ticks_since_boot(tps);
        let mut unreadable = 0;
        let first = snapshot(&pids, &[], &mut unreadable);
        let cpus = cpus_allowed(&pids).unwrap_or(1.0);
        let handle = std::thread::Builder::new()
            .name("ceiling-sampler".into())
            .spawn(move || {
                let cpu0 = thread_cpu();
                let mut u = sample(&pids, first, start, start_ticks, tps, every, &rx);
                u.unreadable_children += unreadable;
                u.cpus = cpus;
                cap(&mut u, cpus);
                if u.wall_s > 0.0 {
                    u.sampler_cpu_pct = 100.0 * (thread_cpu() - cpu0).as_secs_f64() / u.wall_s;
                }
                u
            })
            .expect("spawn the sampling thread");
        Self { stop, handle }
    }

    pub fn finish(self) -> ServerUsage {
        let _ = self.stop.send(());
        self.handle.join().unwrap_or_default()
    }
}

/// Neither the average nor the peak may be above what `cpus` CPUs can do; a raw
/// figure above it (tick rounding, or an accounting the kernel did not expose) is
/// kept in `cpu_over_cap_pct` so that it is said, not hidden.
fn cap(u: &mut ServerUsage, cpus: f64) {
    let most = 100.0 * cpus;
    let raw = u.avg_cpu_pct.max(u.peak_cpu_pct);
    u.cpu_over_cap_pct = (raw > most).then_some(raw);
    u.avg_cpu_pct = u.avg_cpu_pct.min(most);
    u.peak_cpu_pct = u.peak_cpu_pct.max(u.avg_cpu_pct).min(most);
}

fn sample(
    roots: &[i32],
    first: HashMap<(i32, u64), Proc>,
    start: Instant,
    start_ticks: u64,
    tps: f64,
    every: Duration,
    stop: &mpsc::Receiver<()>,
) -> ServerUsage {
    let mut tracker = Tracker::new(start_ticks, &first);
    let root_keys: Vec<(i32, u64)> = first
        .keys()
        .filter(|(p, _)| roots.contains(p))
        .copied()
        .collect();
    // Gone before the run began (it died during an earlier one): still named.
    let mut exited: Vec<i32> = roots
        .iter()
        .filter(|r| !root_keys.iter().any(|(p, _)| p == *r))
        .copied()
        .collect();
    let (mut rss_sum, mut rss_peak, mut samples, mut most) = (0.0f64, 0.0f64, 0usize, 0usize);
    // (time, cumulative ticks) of every sample, for the peak window.
    let mut history: Vec<(Instant, u64)> = vec![(start, 0)];
    let mut ticks = 0u64;
    let mut cpu_peak = 0.0f64;
    let (mut unreadable, mut live_samples) = (0usize, 0usize);
    loop {
        // The channel is the timer too: a stop ends the wait at once.
        let stopping = !matches!(stop.recv_timeout(every), Err(RecvTimeoutError::Timeout));
        let now = Instant::now();
        let snap = snapshot(roots, &tracker.known(), &mut unreadable);
        ticks += tracker.update(&snap);
        for &(pid, st) in &root_keys {
            let alive = snap.get(&(pid, st)).is_some_and(|p| !p.zombie);
            if !alive && !exited.contains(&pid) {
                exited.push(pid);
            }
        }
        let live: Vec<&Proc> = snap.values().filter(|p| !p.zombie).collect();
        most = most.max(live.len());
        let mib = live.iter().map(|p| p.rss_bytes).sum::<u64>() as f64 / (1024.0 * 1024.0);
        // A sample with nobody alive measured no memory: it is not a 0 MiB.
        if !live.is_empty() {
            rss_sum += mib;
            live_samples += 1;
        }
        rss_peak = rss_peak.max(mib);
        samples += 1;
        history.push((now, ticks));
        // The busiest window: from the latest sample at least a window back.
        if let Some(&(then, t0)) = history
            .iter()
            .rev()
            .find(|(at, _)| now.duration_since(*at) >= PEAK_WINDOW)
        {
            let secs = now.duration_since(then).as_secs_f64();
            cpu_peak = cpu_peak.max(100.0 * (ticks - t0) as f64 / tps / secs);
        }
        if stopping {
            break;
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu_s = ticks as f64 / tps;
    let avg_cpu_pct = if wall > 0.0 {
        100.0 * cpu_s / wall
    } else {
        0.0
    };
    ServerUsage {
        avg_cpu_pct,
        // A run shorter than the window: its average is its peak.
        peak_cpu_pct: cpu_peak.max(avg_cpu_pct),
        cpus: 1.0,
        cpu_s,
        wall_s: wall,
        avg_rss_mib: rss_sum / live_samples.max(1) as f64,
        peak_rss_mib: rss_peak,
        samples,
        processes: most,
        started: tracker.started,
        ended: tracker.ended,
        exited,
        sampler_cpu_pct: 0.0,
        cpu_over_cap_pct: None,
        live_samples,
        unreadable_children: unreadable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(pid: i32, ppid: i32, own: u64, reaped: u64) -> ((i32, u64), Proc) {
        (
            (pid, 5),
            Proc {
                pid,
                ppid,
                start: 5,
                own,
                reaped,
                rss_bytes: 4096,
                zombie: false,
            },
        )
    }

    /// A master that does nothing, workers that do the work, one that exits and is
    /// reaped, one born mid-run that exits between samples: every tick counted once.
    #[test]
    fn tree_accounting_counts_each_tick_once() {
        let t0: HashMap<_, _> = [proc(1, 0, 10, 100), proc(2, 1, 50, 0), proc(3, 1, 70, 0)]
            .into_iter()
            .collect();
        // Started at tick 5, before the sampler (tick 6): pre-run time is not counted.
        let mut t = Tracker::new(6, &t0);
        // Workers 2 and 3 each use 20 ticks.
        let t1: HashMap<_, _> = [proc(1, 0, 10, 100), proc(2, 1, 70, 0), proc(3, 1, 90, 0)]
            .into_iter()
            .collect();
        assert_eq!(t.update(&t1), 40);
        // Worker 3 uses 5 more, exits and is reaped (95 into the master's cutime);
        // worker 4 is born (start 7), uses 30; a child born and reaped between samples
        // used 8 (it shows only in the master's cutime).
        let mut t2: HashMap<_, _> = [proc(1, 0, 10, 100 + 95 + 8), proc(2, 1, 80, 0)]
            .into_iter()
            .collect();
        let (k, mut p) = proc(4, 1, 30, 0);
        p.start = 7;
        t2.insert((4, 7), p);
        let _ = k;
        // 10 (worker 2) + 5 (worker 3's last) + 30 (worker 4) + 8 (the short-lived one).
        assert_eq!(t.update(&t2), 10 + 5 + 30 + 8);
        assert_eq!((t.started, t.ended), (1, 1));
        // Worker 2 exits and is auto-reaped (SIGCHLD ignored): nothing reaches the
        // master's cutime; what it used up to its last sample stays counted.
        t2.remove(&(2, 5));
        assert_eq!(t.update(&t2), 0);
        assert_eq!(t.ended, 2);
    }

    /// bash -> sh -> python: python burns, then python and sh exit in the same
    /// interval and bash reaps sh, whose cutime held python's whole life. Only
    /// python's last interval is new; its earlier time was counted already.
    #[test]
    fn a_chain_gone_in_one_interval_counts_each_tick_once() {
        let t0: HashMap<_, _> = [proc(1, 0, 10, 0), proc(2, 1, 1, 0), proc(3, 2, 50, 0)]
            .into_iter()
            .collect();
        let mut t = Tracker::new(6, &t0);
        let t1: HashMap<_, _> = [proc(1, 0, 10, 0), proc(2, 1, 1, 0), proc(3, 2, 70, 0)]
            .into_iter()
            .collect();
        assert_eq!(t.update(&t1), 20);
        // Python uses 5 more and exits; sh reaps it (cutime 75) and exits; bash reaps
        // sh: bash's cutime rises by sh's 1 + 75.
        let t2: HashMap<_, _> = [proc(1, 0, 10, 76)].into_iter().collect();
        assert_eq!(t.update(&t2), 5);
        assert_eq!(t.ended, 2);
        // Four deep, three gone at once: the credit still reaches the root.
        let t0: HashMap<_, _> = [
            proc(1, 0, 0, 0),
            proc(2, 1, 0, 0),
            proc(3, 2, 0, 0),
            proc(4, 3, 40, 0),
        ]
        .into_iter()
        .collect();
        let mut t = Tracker::new(6, &t0);
        let t1: HashMap<_, _> = [proc(1, 0, 0, 40 + 3)].into_iter().collect();
        assert_eq!(t.update(&t1), 3);
    }

    /// An average over the cap must not lift the peak over it, nor stay over it.
    #[test]
    fn cpu_figures_never_exceed_the_cpus() {
        let mut u = ServerUsage {
            avg_cpu_pct: 128.1,
            peak_cpu_pct: 120.0,
            ..Default::default()
        };
        cap(&mut u, 1.0);
        assert_eq!((u.avg_cpu_pct, u.peak_cpu_pct), (100.0, 100.0));
        assert_eq!(u.cpu_over_cap_pct, Some(128.1));
        let mut u = ServerUsage {
            avg_cpu_pct: 50.0,
            peak_cpu_pct: 40.0,
            ..Default::default()
        };
        cap(&mut u, 2.0);
        assert_eq!((u.avg_cpu_pct, u.peak_cpu_pct), (50.0, 50.0));
        assert_eq!(u.cpu_over_cap_pct, None);
    }

    #[test]
    fn samples_this_process() {
        let me = std::process::id() as i32;
        check(&[me]).unwrap();
        assert!(check(&[0]).is_err());
        assert!(check(&[i32::MAX]).is_err());
        let s = Sampler::start(vec![me], Duration::from_millis(20));
        // Burn some CPU so there is something to see.
        let until = Instant::now() + Duration::from_millis(150);
        let mut x = 0u64;
        while Instant::now() < until {
            x = x.wrapping_mul(31).wrapping_add(1);
        }
        std::hint::black_box(x);
        let u = s.finish();
        assert!(u.samples >= 2, "{u:?}");
        assert!(
            u.avg_rss_mib > 0.0 && u.peak_rss_mib >= u.avg_rss_mib,
            "{u:?}"
        );
        assert!(
            u.avg_cpu_pct > 0.0 && u.peak_cpu_pct >= u.avg_cpu_pct,
            "{u:?}"
        );
        assert!(u.peak_cpu_pct <= 100.0 * u.cpus, "{u:?}");
        assert!(u.cpus >= 1.0, "{u:?}");
        assert!(u.exited.is_empty());
    }

    /// Children that burn CPU under a parent that only waits: the tree's CPU is
    /// theirs, including a child that exits before the run ends. The truth is this
    /// process's reaped-children time (getrusage), read around the run.
    #[test]
    fn a_forking_parent_counts_its_children() {
        use std::io::{BufRead, Write};
        // The parent waits for a line before it forks, so every child is born after
        // the sampler's first reading; `times` then prints its own and its reaped
        // children's CPU (this process's rusage would hold other tests' children).
        let mut parent = std::process::Command::new("sh")
            .arg("-c")
            // Two busy children under `timeout` (a chain: sh -> timeout -> sh); one
            // stops after ~0.3 s, the parent waits.
            .arg("read go; timeout 0.3 sh -c 'while :; do :; done' & timeout 0.8 sh -c 'while :; do :; done' & wait; times")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn sh");
        let pid = parent.id() as i32;
        let s = Sampler::start(vec![pid], Duration::from_millis(50));
        writeln!(parent.stdin.take().unwrap(), "go").unwrap();
        let out = std::io::BufReader::new(parent.stdout.take().unwrap());
        let lines: Vec<String> = out.lines().map_while(Result::ok).collect();
        parent.wait().unwrap();
        let u = s.finish();
        // "0m0.01s 0m0.00s" (shell), then the same for its children.
        let secs = |t: &str| {
            let (m, s) = t.trim_end_matches('s').split_once('m').expect("XmY.Zs");
            m.parse::<f64>().unwrap() * 60.0 + s.parse::<f64>().unwrap()
        };
        let truth: f64 = lines
            .iter()
            .flat_map(|l| l.split_whitespace())
            .map(secs)
            .sum();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(truth > 0.05, "the children ran: {truth} s");
        // Ticks are 10 ms; a few per process, and the shell's start before the first
        // reading.
        assert!(
            (u.cpu_s - truth).abs() <= 0.06 + 0.1 * truth,
            "sampled {} s, the tree used {truth} s: {u:?}",
            u.cpu_s
        );
        assert!(u.ended >= 1, "{u:?}");
        assert_eq!(u.exited, [pid]);
    }
}
