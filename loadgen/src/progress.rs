//! The live progress line on a terminal: elapsed / total, requests/s, errors. The
//! workers publish their totals from their 100 ms tick (one relaxed store each,
//! never per request); a reporter thread reads them once a second.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A closed second of one worker, for a node file written as the run goes:
/// (worker, second, sample).
pub type ClosedSecond = (usize, usize, crate::worker::SecondSample);

/// One worker's published totals, alone on its cache line.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Published {
    pub completed: AtomicU64,
    pub errors: AtomicU64,
    /// Where closed seconds go when `--out` streams (set before the workers start,
    /// taken away after they end so the writer sees the channel close).
    pub sink: std::sync::Mutex<Option<(usize, std::sync::mpsc::Sender<ClosedSecond>)>>,
}

impl Published {
    /// Hands second `index` on to the node file, if one is being written (once a
    /// second per worker, never per request).
    pub fn second_closed(&self, index: usize, sample: &crate::worker::SecondSample) {
        let sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((worker, tx)) = sink.as_ref() {
            // A writer that has gone away only loses the streaming, not the run.
            let _ = tx.send((*worker, index, sample.clone()));
        }
    }
}

/// Totals of every worker, shared with the reporter.
#[derive(Debug)]
pub struct Board {
    pub workers: Vec<Published>,
    done: AtomicBool,
}

impl Board {
    /// Sends every worker's closed seconds to `stream` (a node file being written).
    pub fn stream_to(&self, stream: &crate::distributed::node::Streamer) {
        for (i, p) in self.workers.iter().enumerate() {
            *p.sink.lock().unwrap_or_else(|e| e.into_inner()) = Some((i, stream.sender()));
        }
    }

    /// Drops the workers' senders, so the writer can finish.
    pub fn end_stream(&self) {
        for p in &self.workers {
            p.sink.lock().unwrap_or_else(|e| e.into_inner()).take();
        }
    }

    pub fn new(workers: usize) -> Arc<Self> {
        Arc::new(Self {
            workers: (0..workers).map(|_| Published::default()).collect(),
            done: AtomicBool::new(false),
        })
    }

    fn totals(&self) -> (u64, u64) {
        self.workers.iter().fold((0, 0), |(c, e), w| {
            (c + w.completed.load(Relaxed), e + w.errors.load(Relaxed))
        })
    }
}

/// The reporter thread, when stderr is a terminal; `finish` clears the line.
pub struct Reporter {
    board: Arc<Board>,
    thread: Option<JoinHandle<()>>,
}

impl Reporter {
    /// Starts the reporter unless `quiet` or stderr is not a terminal.
    pub fn start(board: Arc<Board>, total: Option<Duration>, quiet: bool) -> Self {
        let thread = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let board = board.clone();
            std::thread::spawn(move || report(&board, total))
        });
        Self { board, thread }
    }

    pub fn finish(mut self) {
        self.board.done.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
            // Clear the progress line before the report.
            let _ = write!(std::io::stderr(), "\r\x1b[K");
        }
    }
}

fn report(board: &Board, total: Option<Duration>) {
    let start = Instant::now();
    let mut last = (Instant::now(), 0u64);
    let step = Duration::from_millis(50);
    let mut next = start + Duration::from_secs(1);
    while !board.done.load(Relaxed) {
        std::thread::sleep(step);
        let now = Instant::now();
        if now < next {
            continue;
        }
        next += Duration::from_secs(1);
        let (completed, errors) = board.totals();
        let rps = (completed - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
        last = (now, completed);
        let of = total.map_or(String::new(), |t| format!("/{:.0}s", t.as_secs_f64()));
        let _ = write!(
            std::io::stderr(),
            "\r\x1b[K  [{:.0}s{of}] {rps:.0} req/s, {completed} done, {errors} errors",
            now.duration_since(start).as_secs_f64()
        );
    }
}
