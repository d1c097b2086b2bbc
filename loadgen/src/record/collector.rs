//! The run's one collector: a thread that receives each worker's closed seconds
//! as they close, sums each second once, writes the node file (`--out`) when one
//! is asked for and draws the live progress line; at the end it folds the
//! workers' results into the run's [`Tally`]. It is off the hot path: the workers
//! hand it one message per second each.

use super::node::{write_line, Header, Line, ThreadRecord};
use super::sum::SecondSum;
use super::tally::Tally;
use crate::progress::{self, Board, Closed, Event};
use crate::result::{GeneratorCpu, PaceTotals};
use crate::worker::{SecondSample, WorkerResult};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The seam to the workers' own sample type: what they hand the board.
impl From<SecondSample> for Closed {
    fn from(s: SecondSample) -> Self {
        Self {
            completed: s.completed,
            errors: s.errors,
            length: s.length,
            histogram: s.histogram,
        }
    }
}

/// Where the node file goes while the run goes.
pub type Out = Box<dyn Write + Send>;

/// What the collector shows while the run goes: on a terminal (stderr), an
/// indicatif bar redrawn each second; elsewhere one line per step (the wait for
/// T0), never a line per second.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// The planned duration, shown as `[3s/10s]` and as the bar's length.
    pub total: Option<Duration>,
    /// The planned request count (`-n`), the bar's length when there is no duration.
    pub requests: Option<u64>,
    /// When the load starts: now, or a node's T0, counted down to until then.
    pub start: Instant,
    /// This node's place among the plan's nodes (index from 0, count), when
    /// the run is one node's share.
    pub node: Option<(usize, usize)>,
}

/// The collector thread and the board the workers publish to.
pub struct Collector {
    board: Arc<Board>,
    tx: Sender<Event>,
    thread: JoinHandle<Streamed>,
}

/// What the thread hands back at the end.
struct Streamed {
    /// Second number -> (workers that closed it, their sum).
    seconds: Vec<(usize, SecondSum)>,
    /// Seconds received from each worker (they arrive in order).
    received: Vec<usize>,
    out: Option<NodeOut>,
}

/// The node file being written: seconds go out in order, once every worker has
/// closed them.
struct NodeOut {
    w: Out,
    written: usize,
    /// The first write error; writing stops there, the collecting does not.
    error: Option<std::io::Error>,
}

impl NodeOut {
    fn write(&mut self, line: &Line) {
        if self.error.is_none() {
            if let Err(e) = write_line(&mut self.w, line) {
                self.error = Some(e);
            }
        }
    }
}

impl Collector {
    /// Starts the collector for `workers` workers. With `out`, the node file's
    /// header is written before this returns (an error here means no run);
    /// with `progress`, the countdown to T0 and the live line are shown on
    /// stderr (see [`Progress`]).
    pub fn start(
        workers: usize,
        out: Option<(Out, &Header)>,
        progress: Option<Progress>,
    ) -> std::io::Result<Self> {
        let out = match out {
            Some((mut w, header)) => {
                write_line(&mut w, &Line::Header(Box::new(header.clone())))?;
                Some(NodeOut {
                    w,
                    written: 0,
                    error: None,
                })
            }
            None => None,
        };
        let (tx, rx) = channel();
        let board = Board::to(workers, &tx);
        let thread = {
            let board = board.clone();
            std::thread::Builder::new()
                .name("ceiling-record".into())
                .spawn(move || collect(rx, &board, workers, out, progress))?
        };
        Ok(Self { board, tx, thread })
    }

    /// The board the workers publish to.
    pub fn board(&self) -> Arc<Board> {
        self.board.clone()
    }

    /// Stops the collector without a result (the workers could not all be
    /// joined): its thread ends instead of waiting for seconds that never come.
    pub fn abandon(self) {
        let _ = self.tx.send(Event::End);
        let _ = self.thread.join();
    }

    /// Folds the workers' results (all of them returned) into the run's tally:
    /// the seconds not yet streamed, the totals, the threads. `start` is the
    /// run's start (a node: T0), `cpu` the process's (user, system) CPU seconds
    /// over the run. Writes the rest of the node file; its error, if any, comes
    /// back beside the tally (nothing measured is lost for it).
    pub fn finish(
        self,
        start: Instant,
        workers: Vec<WorkerResult>,
        (user_s, sys_s): (f64, f64),
        interrupted: bool,
    ) -> (Tally, Option<std::io::Error>) {
        // Every worker has returned, so every second it closed is in the channel
        // before this.
        let _ = self.tx.send(Event::End);
        let streamed = self.thread.join().expect("the collector does not panic");
        let Streamed {
            seconds,
            received,
            mut out,
        } = streamed;
        let mut t = Tally {
            seconds: seconds.into_iter().map(|(_, s)| s).collect(),
            interrupted,
            ..Tally::default()
        };
        // The interval runs from the start to the last worker's stop.
        for (i, w) in workers.into_iter().enumerate() {
            add_worker(&mut t, start, w, received.get(i).copied().unwrap_or(0));
        }
        t.generator_cpu = GeneratorCpu::new(user_s, sys_s, t.counters.sent);
        let error = out.as_mut().and_then(|o| {
            for i in o.written..t.seconds.len() {
                o.write(&Line::Second(t.second(i)));
            }
            o.write(&Line::Footer(Box::new(t.footer())));
            o.error.take()
        });
        (t, error)
    }
}

/// One worker's result into the tally. Its first `streamed` seconds reached the
/// collector while it ran; only the rest (the last, partial one) is added here.
fn add_worker(t: &mut Tally, start: Instant, w: WorkerResult, streamed: usize) {
    t.counters += w.counters;
    t.histogram
        .add(&w.histogram)
        .expect("workers share one histogram layout");
    if let Some(a) = w.audit {
        t.pace.get_or_insert_with(PaceTotals::new).add(&PaceTotals {
            lag: a.lag,
            uncorrected: a.uncorrected,
            late_busy: a.late_busy,
            late_generator: a.late_generator,
            behind: a.behind,
        });
    }
    if t.first_invalid.is_none() {
        t.first_invalid = w.first_invalid;
    }
    if let Some(x) = &w.tls {
        t.tls
            .get_or_insert_with(crate::result::TlsTotals::new)
            .add(x);
    }
    let ran = w.stopped_at.saturating_duration_since(start);
    t.duration_s = t.duration_s.max(ran.as_secs_f64());
    t.threads.push(ThreadRecord {
        cpu: w.cpu,
        requests: w.counters.completed,
        samples: samples_of(w.samples, w.counters.completed, ran),
    });
    for (i, s) in w.seconds.into_iter().enumerate().skip(streamed) {
        t.second_mut(i)
            .add_closed(&s.into())
            .expect("a worker's own histogram decodes");
    }
}

/// A worker's Req/Sec samples. One that ran less than one sample interval has
/// none: its rate over what it ran is its one sample, never a zero that looks
/// measured (none at all when it ran no time).
fn samples_of(samples: Vec<f64>, completed: u64, ran: Duration) -> Vec<f64> {
    if samples.is_empty() && !ran.is_zero() {
        vec![completed as f64 / ran.as_secs_f64()]
    } else {
        samples
    }
}

/// The collector thread: seconds in, node file lines and the progress line out.
fn collect(
    rx: Receiver<Event>,
    board: &Board,
    workers: usize,
    mut out: Option<NodeOut>,
    progress: Option<Progress>,
) -> Streamed {
    let mut seconds: Vec<(usize, SecondSum)> = Vec::new();
    let mut received = vec![0; workers];
    let terminal = std::io::stderr().is_terminal();
    let mut line = progress.and_then(|p| Ticker::new(p, terminal));
    loop {
        let event = match &line {
            Some(l) => match rx.recv_timeout(l.next.saturating_duration_since(Instant::now())) {
                Ok(e) => e,
                Err(RecvTimeoutError::Timeout) => {
                    if let Some(l) = line.as_mut() {
                        l.draw(board, &seconds, workers);
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            },
            None => match rx.recv() {
                Ok(e) => e,
                Err(_) => break,
            },
        };
        let (worker, second, sample) = match event {
            Event::End => break,
            Event::Second {
                worker,
                second,
                sample,
            } => (worker, second, sample),
        };
        if second >= seconds.len() {
            seconds.resize_with(second + 1, || (0, SecondSum::new()));
        }
        let (closed, sum) = &mut seconds[second];
        *closed += 1;
        sum.add_closed(&sample)
            .expect("a worker's own histogram decodes");
        received[worker] += 1;
        // In order, and only once every worker has closed it.
        if let Some(o) = out.as_mut() {
            while seconds.get(o.written).is_some_and(|(n, _)| *n == workers) {
                let line = Line::Second(seconds[o.written].1.to_second(o.written));
                o.write(&line);
                o.written += 1;
            }
        }
    }
    if let Some(l) = line {
        // Clear the bar before the report.
        l.bar.finish_and_clear();
    }
    Streamed {
        seconds,
        received,
        out,
    }
}

/// The terminal bar's state: when to draw next.
struct Ticker {
    p: Progress,
    bar: ProgressBar,
    next: Instant,
    /// Board totals at the last draw, for the rate before a second has closed.
    last: (Instant, u64),
    /// Whether the bar shows the load yet (it showed the countdown before).
    loading: bool,
}

impl Ticker {
    /// The bar on a terminal; elsewhere, the one line that says how long until
    /// T0 (when the start is ahead) and no ticker.
    fn new(p: Progress, terminal: bool) -> Option<Self> {
        let now = Instant::now();
        if !terminal {
            if p.start > now + Duration::from_millis(500) {
                shared::say!("ceiling: {}", countdown(&p, p.start - now));
            }
            return None;
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(ProgressStyle::with_template("  {msg}").expect("a fixed template"));
        Some(Self {
            p,
            bar,
            next: now,
            last: (p.start.max(now), 0),
            loading: false,
        })
    }

    /// Redraws the bar: the time left to T0, or the load so far (the rate of
    /// the last second every worker has closed, the figure the report sums;
    /// before one has, the board's totals over the time since the last draw).
    fn draw(&mut self, board: &Board, seconds: &[(usize, SecondSum)], workers: usize) {
        let now = Instant::now();
        self.next = next_tick(self.p.start, now + Duration::from_millis(1));
        if now < self.p.start {
            self.bar.set_message(countdown(&self.p, self.p.start - now));
            return;
        }
        if !self.loading {
            self.loading = true;
            let (len, template) = match (self.p.total, self.p.requests) {
                (Some(d), _) => (Some(d.as_millis() as u64), "  {bar:24} {msg}"),
                (None, Some(n)) => (Some(n), "  {bar:24} {msg}"),
                (None, None) => (None, "  {msg}"),
            };
            if let Some(len) = len {
                self.bar.set_length(len);
            }
            self.bar
                .set_style(ProgressStyle::with_template(template).expect("a fixed template"));
        }
        let (completed, errors) = board.totals();
        let rps = last_closed_rate(seconds, workers).unwrap_or_else(|| {
            completed.saturating_sub(self.last.1) as f64
                / now.duration_since(self.last.0).as_secs_f64().max(1e-9)
        });
        self.last = (now, completed);
        let elapsed = now.duration_since(self.p.start);
        self.bar.set_position(match self.p.total {
            Some(_) => elapsed.as_millis() as u64,
            None => completed,
        });
        self.bar.set_message(progress::line(
            elapsed,
            self.p.total,
            rps,
            completed,
            errors,
        ));
    }
}

/// Requests/s of the last second every worker has closed: the figure the
/// report's per-second series and rate are made of, so the live line does not
/// under-read a paced run (the board's totals lag by up to a worker's tick at
/// each end of the interval). None before a second has closed.
fn last_closed_rate(seconds: &[(usize, SecondSum)], workers: usize) -> Option<f64> {
    seconds
        .iter()
        .rev()
        .find(|(n, s)| *n == workers && s.length_s > 0.0)
        .map(|(_, s)| s.completed as f64 / s.length_s)
}

/// The next whole second before `start` (so the countdown reads 3, 2, 1), or
/// after it (so the line reads [1s], [2s], ...), from `now`.
fn next_tick(start: Instant, now: Instant) -> Instant {
    let second = Duration::from_secs(1);
    if now < start {
        let left = start - now;
        start - second * (left.as_secs() as u32)
    } else {
        start + second * ((now - start).as_secs() as u32 + 1)
    }
}

/// `node 1 of 3 waiting for T0 (14:03:20 UTC): 87s left`, the whole seconds
/// rounded up so it never reads 0 before the start.
fn countdown(p: &Progress, left: Duration) -> String {
    let node = p
        .node
        .filter(|&(_, count)| count > 1)
        .map_or(String::new(), |(i, n)| format!("node {i} of {n} "));
    let at = std::time::SystemTime::now() + left;
    let secs = at
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    format!(
        "{node}waiting for T0 ({h:02}:{m:02}:{s:02} UTC): {}s left",
        left.as_secs_f64().ceil() as u64
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::node::NodeRecord;
    use shared::stats::codec::encode_base64;
    use shared::stats::{new_histogram, Counters, Histogram};
    use std::sync::Mutex;

    /// A node file written into memory.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn lines(&self) -> Vec<serde_json::Value> {
            String::from_utf8(self.0.lock().unwrap().clone())
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        }
    }

    fn header() -> Header {
        crate::record::fixture::header(0, 1)
    }

    fn hist(values: &[u64]) -> Histogram {
        let mut h = new_histogram();
        for &v in values {
            h.record(v).unwrap();
        }
        h
    }

    fn second(completed: u64, length_ms: u64, latency: u64) -> SecondSample {
        SecondSample {
            completed,
            errors: 0,
            length: Duration::from_millis(length_ms),
            histogram: encode_base64(&hist(&vec![latency; completed as usize])),
        }
    }

    /// Worker `cpu`'s result after `seconds`, stopped `ran` after `start`.
    fn worker(start: Instant, seconds: Vec<SecondSample>, ran: Duration) -> WorkerResult {
        let completed: u64 = seconds.iter().map(|s| s.completed).sum();
        let mut h = new_histogram();
        for s in &seconds {
            h.add(shared::stats::codec::decode_base64(&s.histogram).unwrap())
                .unwrap();
        }
        WorkerResult {
            cpu: Some(0),
            counters: Counters {
                sent: completed,
                completed,
                ..Counters::default()
            },
            histogram: h,
            samples: vec![10.0; seconds.len()],
            first_invalid: None,
            stopped_at: start + ran,
            seconds,
            audit: None,
            tls: None,
        }
    }

    #[test]
    fn each_second_is_summed_once_and_streamed_in_order() {
        let out = Shared::default();
        let h = header();
        let c = Collector::start(2, Some((Box::new(out.clone()), &h)), None).unwrap();
        let board = c.board();
        let start = Instant::now();
        let w0 = vec![
            second(10, 1000, 100),
            second(20, 1000, 200),
            second(5, 500, 300),
        ];
        let w1 = vec![
            second(1, 1000, 400),
            second(2, 1000, 500),
            second(3, 500, 600),
        ];
        // Both close second 0; only worker 0 closes second 1 before the end.
        board.workers[0].second_closed(0, &w0[0]);
        board.workers[1].second_closed(0, &w1[0]);
        board.workers[0].second_closed(1, &w0[1]);
        let ran = Duration::from_millis(2500);
        let (t, error) = c.finish(
            start,
            vec![worker(start, w0, ran), worker(start, w1, ran)],
            (0.5, 0.25),
            false,
        );
        assert!(error.is_none());
        let per_second: Vec<(u64, f64)> = t
            .seconds
            .iter()
            .map(|s| (s.completed, s.length_s))
            .collect();
        assert_eq!(per_second, vec![(11, 1.0), (22, 1.0), (8, 0.5)]);
        assert_eq!(t.seconds[1].histogram.len(), 22);
        assert_eq!(t.counters.completed, 41);
        assert_eq!(t.histogram.len(), 41);
        assert!((t.duration_s - 2.5).abs() < 1e-9);
        assert!((t.generator_cpu.us_per_request - 0.75e6 / 41.0).abs() < 1e-6);
        // The file: header, the three seconds in order, the footer.
        let lines = out.lines();
        let types: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["header", "second", "second", "second", "footer"]);
        let numbers: Vec<u64> = lines[1..4]
            .iter()
            .map(|l| l["second"].as_u64().unwrap())
            .collect();
        assert_eq!(numbers, [0, 1, 2]);
        assert_eq!(lines[2]["completed"], 22);
        assert_eq!(lines[4]["counters"]["completed"], 41);
        assert_eq!(lines[4]["seconds"], 3);
    }

    #[test]
    fn a_node_file_reads_back_to_the_same_tally() {
        let out = Shared::default();
        let h = header();
        let c = Collector::start(1, Some((Box::new(out.clone()), &h)), None).unwrap();
        let start = Instant::now();
        let w = vec![second(7, 1000, 90), second(3, 300, 95)];
        c.board().workers[0].second_closed(0, &w[0]);
        let (t, _) = c.finish(
            start,
            vec![worker(start, w, Duration::from_millis(1300))],
            (0.0, 0.0),
            false,
        );
        let dir = std::env::temp_dir().join(format!("ceiling-collector-{}", std::process::id()));
        std::fs::write(&dir, out.0.lock().unwrap().as_slice()).unwrap();
        let read = NodeRecord::read(&dir).unwrap();
        let _ = std::fs::remove_file(&dir);
        let back = Tally::of_node(&read).unwrap();
        assert_eq!(back.counters, t.counters);
        assert_eq!(back.histogram, t.histogram);
        assert_eq!(back.seconds.len(), 2);
        assert_eq!(back.seconds[1].histogram, t.seconds[1].histogram);
        assert_eq!(back.duration_s, t.duration_s);
    }

    #[test]
    fn the_live_rate_is_the_last_second_every_worker_closed() {
        let sum = |completed: u64, length_s: f64| {
            let mut s = SecondSum::new();
            s.add(length_s, completed, 0, &new_histogram());
            s
        };
        assert_eq!(last_closed_rate(&[], 2), None);
        // Second 1 is closed by one worker of two only: second 0 counts.
        let seconds = vec![(2, sum(50_000, 1.0)), (1, sum(24_000, 1.0))];
        assert_eq!(last_closed_rate(&seconds, 2), Some(50_000.0));
        let seconds = vec![(2, sum(50_000, 1.0)), (2, sum(25_000, 0.5))];
        assert_eq!(last_closed_rate(&seconds, 2), Some(50_000.0));
    }

    #[test]
    fn the_countdown_ticks_on_whole_seconds_to_t0_then_from_it() {
        let now = Instant::now();
        let start = now + Duration::from_millis(2300);
        assert_eq!(next_tick(start, now), start - Duration::from_secs(2));
        assert_eq!(next_tick(start, start - Duration::from_millis(10)), start);
        assert_eq!(
            next_tick(start, start + Duration::from_millis(10)),
            start + Duration::from_secs(1)
        );
        let p = Progress {
            total: None,
            requests: None,
            start,
            node: Some((1, 3)),
        };
        let c = countdown(&p, Duration::from_millis(2300));
        assert!(c.starts_with("node 1 of 3 waiting for T0 ("), "{c}");
        assert!(c.ends_with(" UTC): 3s left"), "{c}");
        let alone = Progress {
            node: Some((0, 1)),
            ..p
        };
        assert!(countdown(&alone, Duration::from_secs(5)).starts_with("waiting for T0"));
    }

    #[test]
    fn a_worker_shorter_than_one_sample_counts_its_own_rate() {
        let ran = Duration::from_millis(10);
        assert_eq!(samples_of(Vec::new(), 100, ran), vec![10_000.0]);
        assert_eq!(samples_of(vec![5.0], 100, ran), vec![5.0]);
        // No time at all: nothing to stand on, no sample (the report says n/a).
        assert!(samples_of(Vec::new(), 0, Duration::ZERO).is_empty());
    }
}
