//! `--server-pid`: the server processes' CPU and memory during a step, read through
//! procfs every 200 ms on a thread of its own.

use serde::{Deserialize, Serialize};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the processes are read.
pub const EVERY: Duration = Duration::from_millis(200);

/// The servers' use of CPU and memory over one step, summed over the PIDs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerUsage {
    /// CPU time over the step's wall time, in percent of one core.
    pub avg_cpu_pct: f64,
    /// The busiest sampling interval, in percent of one core.
    pub peak_cpu_pct: f64,
    /// Resident memory (RSS) in MiB, averaged over the samples.
    pub avg_rss_mib: f64,
    pub peak_rss_mib: f64,
    pub samples: usize,
    /// PIDs that exited (or became zombies) during the step; their figures stop there.
    pub exited: Vec<i32>,
}

/// User + system CPU ticks and RSS bytes of a live process; None once it is gone.
fn read(pid: i32) -> Option<(u64, u64)> {
    let stat = procfs::process::Process::new(pid).ok()?.stat().ok()?;
    // A zombie still has a stat file, but it is no longer a server.
    if stat.state == 'Z' || stat.state == 'X' {
        return None;
    }
    Some((stat.utime + stat.stime, stat.rss * procfs::page_size()))
}

/// A `--server-pid` that is not a live process.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("--server-pid {0}: no such process")]
pub struct NoSuchProcess(pub i32);

/// Checks before any load that each PID is a live process.
pub fn check(pids: &[i32]) -> Result<(), NoSuchProcess> {
    for &pid in pids {
        if pid <= 0 || read(pid).is_none() {
            return Err(NoSuchProcess(pid));
        }
    }
    Ok(())
}

/// A running sampler; `finish` stops it and returns the step's figures.
pub struct Sampler {
    stop: mpsc::Sender<()>,
    handle: JoinHandle<ServerUsage>,
}

impl Sampler {
    pub fn start(pids: Vec<i32>, every: Duration) -> Self {
        let (stop, rx) = mpsc::channel();
        // The first reading is taken here, not on the thread, so it is the step's start.
        let start = Instant::now();
        let first: Vec<Option<(u64, u64)>> = pids.iter().map(|&p| read(p)).collect();
        let handle = std::thread::Builder::new()
            .name("ceiling-sampler".into())
            .spawn(move || sample(&pids, first, start, every, &rx))
            .expect("spawn the sampling thread");
        Self { stop, handle }
    }

    pub fn finish(self) -> ServerUsage {
        let _ = self.stop.send(());
        self.handle.join().unwrap_or_default()
    }
}

fn sample(
    pids: &[i32],
    first: Vec<Option<(u64, u64)>>,
    start: Instant,
    every: Duration,
    stop: &mpsc::Receiver<()>,
) -> ServerUsage {
    let tps = procfs::ticks_per_second().max(1) as f64;
    // Last ticks seen per PID: a PID that dies keeps what it used until then.
    let mut last_ticks: Vec<Option<u64>> = first.iter().map(|r| r.map(|(t, _)| t)).collect();
    let mut alive: Vec<bool> = first.iter().map(Option::is_some).collect();
    // Gone before the step began (it died during an earlier one): still named.
    let mut exited: Vec<i32> = pids
        .iter()
        .zip(&first)
        .filter(|(_, f)| f.is_none())
        .map(|(&p, _)| p)
        .collect();
    let (mut rss_sum, mut rss_peak, mut samples) = (0.0f64, 0.0f64, 0usize);
    let mut cpu_peak = 0.0f64;
    let mut last_at = start;
    loop {
        // The channel is the timer too: a stop ends the wait at once.
        let stopping = !matches!(stop.recv_timeout(every), Err(RecvTimeoutError::Timeout));
        let now = Instant::now();
        let (mut ticks, mut rss) = (0u64, 0u64);
        for (i, &pid) in pids.iter().enumerate() {
            if !alive[i] {
                continue;
            }
            match read(pid) {
                Some((t, r)) => {
                    ticks += t.saturating_sub(last_ticks[i].unwrap_or(t));
                    last_ticks[i] = Some(t);
                    rss += r;
                }
                None => {
                    alive[i] = false;
                    exited.push(pid);
                }
            }
        }
        let secs = (now - last_at).as_secs_f64();
        // The last interval is cut short by the stop; at tick resolution (10 ms) a
        // short one would read as a spike, so only full-ish intervals make the peak.
        if secs >= every.as_secs_f64() / 2.0 {
            cpu_peak = cpu_peak.max(100.0 * ticks as f64 / tps / secs);
        }
        let mib = rss as f64 / (1024.0 * 1024.0);
        rss_sum += mib;
        rss_peak = rss_peak.max(mib);
        samples += 1;
        last_at = now;
        if stopping {
            break;
        }
    }
    let total_ticks: u64 = first
        .iter()
        .zip(&last_ticks)
        .map(|(f, l)| match (f, l) {
            (Some((a, _)), Some(b)) => b.saturating_sub(*a),
            _ => 0,
        })
        .sum();
    let wall = start.elapsed().as_secs_f64();
    let avg_cpu_pct = if wall > 0.0 {
        100.0 * total_ticks as f64 / tps / wall
    } else {
        0.0
    };
    ServerUsage {
        avg_cpu_pct,
        // A step shorter than one interval has no full interval: its average is its peak.
        peak_cpu_pct: cpu_peak.max(avg_cpu_pct),
        avg_rss_mib: rss_sum / samples.max(1) as f64,
        peak_rss_mib: rss_peak,
        samples,
        exited,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(u.exited.is_empty());
    }

    #[test]
    fn a_pid_that_exits_is_reported_not_fatal() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let pid = child.id() as i32;
        let s = Sampler::start(
            vec![pid, std::process::id() as i32],
            Duration::from_millis(10),
        );
        child.kill().unwrap();
        child.wait().unwrap();
        let u = s.finish();
        assert_eq!(u.exited, [pid]);
        assert!(u.avg_rss_mib > 0.0);
    }
}
