//! The live progress line on a terminal: elapsed / total, requests/s, errors. The
//! workers publish their totals from their 100 ms tick (one relaxed store each,
//! never per request); a reporter thread reads them once a second.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One worker's published totals, alone on its cache line.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Published {
    pub completed: AtomicU64,
    pub errors: AtomicU64,
}

/// Totals of every worker, shared with the reporter.
#[derive(Debug)]
pub struct Board {
    pub workers: Vec<Published>,
    done: AtomicBool,
}

impl Board {
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
