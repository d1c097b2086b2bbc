//! One worker: its pinned runtime's share of connections, its own counters and
//! histogram, and one tick task. Nothing here is shared with another worker.
//!
//! Timeouts cost nothing per request: each connection keeps the deadline of its
//! oldest outstanding request in a `Slot`, and the worker's tick (every 10 ms)
//! shuts down the socket of any connection past its deadline, which wakes its
//! pending read or write on either engine. The same tick notices the end of the
//! run (duration or Ctrl-C), samples requests/sec every 100 ms and wakes every
//! connection at the stop.

use crate::plan::Plan;
use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use shared::runtime::Stop;
use shared::stats::layout::record_clamped;
use shared::stats::{new_histogram, Counters, ErrorClass, Histogram};
use shared::wire::framing::{Completed, FrameError, FramingLimits, ResponseFramer};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TICK: Duration = Duration::from_millis(10);
/// Req/Sec sampling period (wrk samples per thread on the same scale).
const SAMPLE: Duration = Duration::from_millis(100);
/// Read buffer: the spare room kept for each read; it grows only for large heads,
/// which the framer bounds.
const READ_ROOM: usize = 16 * 1024;
const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_millis(200);

/// What one worker measured.
#[derive(Debug)]
pub struct WorkerResult {
    pub cpu: Option<usize>,
    pub counters: Counters,
    pub histogram: Histogram,
    /// Requests/sec of this worker, sampled every 100 ms.
    pub samples: Vec<f64>,
    pub first_invalid: Option<String>,
    /// When this worker stopped sending (the end of its measured interval).
    pub stopped_at: Instant,
}

/// Per-connection state the tick reads.
struct Slot {
    /// The open socket, or -1.
    fd: Cell<i32>,
    /// Deadline of the oldest outstanding request.
    deadline: Cell<Option<Instant>>,
    /// The tick shut the socket down because the deadline passed.
    timed_out: Cell<bool>,
}

struct Worker {
    plan: Arc<Plan>,
    stop: Stop,
    end: Option<Instant>,
    stopping: Cell<bool>,
    stopped_at: Cell<Option<Instant>>,
    /// Requests left to send under `-n` (u64::MAX: no limit).
    budget: Cell<u64>,
    counters: RefCell<Counters>,
    histogram: RefCell<Histogram>,
    first_invalid: RefCell<Option<String>>,
    slots: RefCell<Vec<Rc<Slot>>>,
    live: Cell<usize>,
}

impl Worker {
    /// Takes one request from the budget, unless the run is stopping.
    #[inline]
    fn take(&self) -> bool {
        let left = self.budget.get();
        if self.stopping.get() || left == 0 {
            return false;
        }
        if left != u64::MAX {
            self.budget.set(left - 1);
        }
        true
    }

    fn finished_sending(&self) -> bool {
        self.stopping.get() || self.budget.get() == 0
    }

    fn begin_stop(&self, now: Instant) {
        if self.stopping.replace(true) {
            return;
        }
        self.stopped_at.set(Some(now));
        // Wake every connection blocked in a read or write.
        for slot in self.slots.borrow().iter() {
            shutdown(slot.fd.get());
        }
    }

    fn fail(&self, class: ErrorClass, n: u64) {
        if n > 0 {
            self.counters.borrow_mut().errors.add(class, n);
        }
    }

    fn note_invalid(&self, e: &FrameError, bytes: &[u8]) {
        let mut first = self.first_invalid.borrow_mut();
        if first.is_none() {
            let shown: String = String::from_utf8_lossy(&bytes[..bytes.len().min(64)])
                .chars()
                .map(|c| if c.is_control() { '.' } else { c })
                .collect();
            *first = Some(format!("{e}: {shown:?}"));
        }
    }
}

fn shutdown(fd: i32) {
    if fd >= 0 {
        // SAFETY: fd is a socket this worker owns and has not closed (slots are
        // cleared before the stream is dropped, on this same thread).
        unsafe {
            libc::shutdown(fd, libc::SHUT_RDWR);
        }
    }
}

/// Runs worker `index` of `plan` on the current (pinned) runtime.
pub async fn run(
    plan: Arc<Plan>,
    index: usize,
    cpu: Option<usize>,
    start: Instant,
    stop: Stop,
) -> WorkerResult {
    let conns = plan.connections_of(index);
    let w = Rc::new(Worker {
        end: plan.duration.map(|d| start + d),
        budget: Cell::new(plan.requests_of(index).unwrap_or(u64::MAX)),
        plan,
        stop,
        stopping: Cell::new(false),
        stopped_at: Cell::new(None),
        counters: RefCell::new(Counters::default()),
        histogram: RefCell::new(new_histogram()),
        first_invalid: RefCell::new(None),
        slots: RefCell::new(Vec::with_capacity(conns)),
        live: Cell::new(conns),
    });
    let offset = index * conns;
    let handles: Vec<_> = (0..conns)
        .map(|i| monoio::spawn(connection(w.clone(), offset + i)))
        .collect();
    let samples = tick(&w, start).await;
    for h in handles {
        h.await;
    }
    let stopped_at = w.stopped_at.get().unwrap_or_else(Instant::now);
    let counters = *w.counters.borrow();
    let histogram = w.histogram.replace(new_histogram());
    let first_invalid = w.first_invalid.borrow_mut().take();
    WorkerResult {
        cpu,
        counters,
        histogram,
        samples,
        first_invalid,
        stopped_at,
    }
}

/// The worker's clock: deadlines, the stop, Req/Sec samples. Returns when every
/// connection has ended.
async fn tick(w: &Worker, start: Instant) -> Vec<f64> {
    let mut samples = Vec::new();
    let mut last_sample = start;
    let mut last_completed = 0;
    while w.live.get() > 0 {
        monoio::time::sleep(TICK).await;
        let now = Instant::now();
        if !w.stopping.get() && (w.stop.is_triggered() || w.end.is_some_and(|e| now >= e)) {
            w.begin_stop(now);
        }
        for slot in w.slots.borrow().iter() {
            if let Some(d) = slot.deadline.get() {
                if now >= d && !slot.timed_out.get() {
                    slot.timed_out.set(true);
                    shutdown(slot.fd.get());
                }
            }
        }
        if now.duration_since(last_sample) >= SAMPLE && !w.stopping.get() {
            let completed = w.counters.borrow().completed;
            let secs = now.duration_since(last_sample).as_secs_f64();
            samples.push((completed - last_completed) as f64 / secs);
            last_completed = completed;
            last_sample = now;
        }
    }
    if w.stopped_at.get().is_none() {
        // Ended by -n: the interval ends when the last connection finished.
        w.stopped_at.set(Some(Instant::now()));
    }
    // The last, partial interval, unless it is too short to mean anything.
    let stopped = w.stopped_at.get().unwrap_or(last_sample);
    let secs = stopped.saturating_duration_since(last_sample).as_secs_f64();
    if secs >= SAMPLE.as_secs_f64() / 4.0 {
        let completed = w.counters.borrow().completed;
        samples.push(completed.saturating_sub(last_completed) as f64 / secs);
    }
    samples
}

/// How a session (one TCP connection's life) ended.
enum End {
    /// Reopen and go on.
    Reconnect,
    /// Nothing more to do on this connection.
    Done,
}

/// One connection slot: connect, run a session, reconnect when the server closed
/// or something failed, until the run stops.
async fn connection(w: Rc<Worker>, index: usize) {
    let slot = Rc::new(Slot {
        fd: Cell::new(-1),
        deadline: Cell::new(None),
        timed_out: Cell::new(false),
    });
    w.slots.borrow_mut().push(slot.clone());
    let mut conn = Conn {
        framer: ResponseFramer::new(FramingLimits::default()),
        sent_at: VecDeque::with_capacity(w.plan.pipeline),
        rbuf: Vec::with_capacity(READ_ROOM),
        wbuf: Vec::with_capacity(w.plan.targets[0].request.len() * w.plan.pipeline),
        next_target: index % w.plan.targets.len(),
    };
    let mut opened_before = false;
    let mut backoff = BACKOFF_MIN;
    let mut refused_since: Option<Instant> = None;
    while !w.finished_sending() {
        let stream = match connect(&w).await {
            Ok(s) => s,
            Err(()) => {
                w.fail(ErrorClass::Connect, 1);
                let now = Instant::now();
                let since = *refused_since.get_or_insert(now);
                // Under -n with no time limit, a port that has refused for a whole
                // --timeout is not coming back: give up rather than run forever.
                if w.end.is_none() && now.duration_since(since) >= w.plan.timeout {
                    break;
                }
                let pause = match w.end {
                    Some(end) => backoff.min(end.saturating_duration_since(now)),
                    None => backoff,
                };
                monoio::time::sleep(pause).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        refused_since = None;
        backoff = BACKOFF_MIN;
        {
            let mut c = w.counters.borrow_mut();
            c.connects += 1;
            if opened_before {
                c.reconnects += 1;
            }
        }
        opened_before = true;
        let _ = stream.set_nodelay(true);
        slot.fd.set(stream.as_raw_fd());
        slot.timed_out.set(false);
        slot.deadline.set(None);
        let end = conn.session(&w, &slot, stream).await;
        // The stream is closed inside `session`, after the slot forgot its fd.
        conn.reset();
        if matches!(end, End::Done) {
            break;
        }
    }
    w.live.set(w.live.get() - 1);
}

/// Connects within --timeout (and not past the end of the run).
async fn connect(w: &Worker) -> Result<TcpStream, ()> {
    let now = Instant::now();
    let mut limit = w.plan.timeout;
    if let Some(end) = w.end {
        limit = limit.min(end.saturating_duration_since(now) + TICK);
    }
    monoio::select! {
        r = TcpStream::connect(w.plan.addr) => r.map_err(|_| ()),
        _ = monoio::time::sleep(limit) => Err(()),
    }
}

/// A connection's reusable state: kept across reconnects so nothing is allocated
/// per request or per reconnect.
struct Conn {
    framer: ResponseFramer,
    /// Send time of each outstanding request, oldest first.
    sent_at: VecDeque<Instant>,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    next_target: usize,
}

impl Conn {
    fn reset(&mut self) {
        self.framer.reset();
        self.sent_at.clear();
        self.rbuf.clear();
        self.wbuf.clear();
    }

    /// Every outstanding request ends in `class`.
    fn fail_all(&mut self, w: &Worker, class: ErrorClass) {
        w.fail(class, self.sent_at.len() as u64);
        self.sent_at.clear();
    }

    /// At the stop: requests older than --timeout are timeouts, the rest were in flight.
    fn settle_at_stop(&mut self, w: &Worker) {
        let now = w.stopped_at.get().unwrap_or_else(Instant::now);
        let timeout = w.plan.timeout;
        let late = self
            .sent_at
            .iter()
            .filter(|&&t| now.saturating_duration_since(t) >= timeout)
            .count() as u64;
        let young = self.sent_at.len() as u64 - late;
        w.fail(ErrorClass::Timeout, late);
        w.counters.borrow_mut().in_flight_at_stop += young;
        self.sent_at.clear();
    }

    /// The connection failed with requests outstanding: decide their class.
    fn failed(&mut self, w: &Worker, slot: &Slot, class: ErrorClass) -> End {
        if slot.timed_out.get() {
            self.fail_all(w, ErrorClass::Timeout);
        } else if w.stopping.get() {
            self.settle_at_stop(w);
        } else {
            self.fail_all(w, class);
        }
        if w.finished_sending() {
            End::Done
        } else {
            End::Reconnect
        }
    }

    async fn session(&mut self, w: &Worker, slot: &Slot, mut stream: TcpStream) -> End {
        let end = self.exchange(w, slot, &mut stream).await;
        slot.fd.set(-1);
        slot.deadline.set(None);
        drop(stream);
        end
    }

    async fn exchange(&mut self, w: &Worker, slot: &Slot, stream: &mut TcpStream) -> End {
        let plan = &*w.plan;
        loop {
            // Top the pipeline up: every request formatted before the run, copied.
            let now = Instant::now();
            let mut queued = 0u64;
            while self.framer.outstanding() < plan.pipeline && w.take() {
                let t = &plan.targets[self.next_target];
                self.next_target += 1;
                if self.next_target == plan.targets.len() {
                    self.next_target = 0;
                }
                self.wbuf.extend_from_slice(&t.request);
                self.framer.expect(t.is_head);
                self.sent_at.push_back(now);
                queued += 1;
            }
            if queued > 0 {
                w.counters.borrow_mut().sent += queued;
                if slot.deadline.get().is_none() {
                    slot.deadline
                        .set(self.sent_at.front().map(|&t| t + plan.timeout));
                }
                let buf = std::mem::take(&mut self.wbuf);
                let (res, mut buf) = stream.write_all(buf).await;
                let len = buf.len() as u64;
                buf.clear();
                self.wbuf = buf;
                match res {
                    Ok(_) => w.counters.borrow_mut().bytes_written += len,
                    Err(_) => return self.failed(w, slot, ErrorClass::Write),
                }
            }
            if self.framer.outstanding() == 0 {
                // Nothing sent and nothing awaited: -n is used up or the run stopped.
                return End::Done;
            }

            // Read: the whole spare capacity, kept at READ_ROOM at least.
            if self.rbuf.capacity() - self.rbuf.len() < READ_ROOM / 4 {
                self.rbuf.reserve(READ_ROOM);
            }
            let (len, cap) = (self.rbuf.len(), self.rbuf.capacity());
            let rbuf = std::mem::take(&mut self.rbuf);
            let (res, slice) = stream.read(rbuf.slice_mut(len..cap)).await;
            self.rbuf = slice.into_inner();
            let n = match res {
                Ok(0) => return self.closed(w, slot),
                Ok(n) => n,
                Err(_) => return self.failed(w, slot, ErrorClass::Read),
            };
            let now = Instant::now();
            w.counters.borrow_mut().bytes_read += n as u64;
            match self.frame(w, now) {
                Ok(true) => {}
                // The server said it closes after this response.
                Ok(false) => return self.failed(w, slot, ErrorClass::Read),
                Err(e) => {
                    w.note_invalid(&e, &self.rbuf);
                    self.fail_all(w, ErrorClass::Invalid);
                    return if w.finished_sending() {
                        End::Done
                    } else {
                        End::Reconnect
                    };
                }
            }
            slot.deadline
                .set(self.sent_at.front().map(|&t| t + plan.timeout));
            if w.stopping.get() {
                self.settle_at_stop(w);
                return End::Done;
            }
        }
    }

    /// Frames what is in the read buffer; records every completed response with
    /// `now`. Ok(false): the server closes after the last one.
    fn frame(&mut self, w: &Worker, now: Instant) -> Result<bool, FrameError> {
        let mut pos = 0;
        let result = loop {
            match self.framer.feed(&self.rbuf[pos..]) {
                Ok(p) => {
                    pos += p.consumed;
                    if let Some(done) = p.completed {
                        self.record(w, done, now);
                        if !done.keep_alive {
                            break Ok(false);
                        }
                    } else if p.consumed == 0 {
                        break Ok(true);
                    }
                }
                Err(e) => break Err(e),
            }
        };
        if result.is_ok() {
            if pos == self.rbuf.len() {
                self.rbuf.clear();
            } else if pos > 0 {
                self.rbuf.drain(..pos);
            }
        } else {
            // Keep the bad bytes at the front for the report.
            self.rbuf.drain(..pos);
        }
        result
    }

    /// One response completed at `now`: its latency and status.
    #[inline]
    fn record(&mut self, w: &Worker, done: Completed, now: Instant) {
        let sent = self.sent_at.pop_front().expect("framer and queue agree");
        let us = now.saturating_duration_since(sent).as_micros() as u64;
        record_clamped(&mut w.histogram.borrow_mut(), us);
        let mut c = w.counters.borrow_mut();
        c.completed += 1;
        c.status.record(done.status);
        c.status.informational += u64::from(done.interim);
    }

    /// The peer closed its side.
    fn closed(&mut self, w: &Worker, slot: &Slot) -> End {
        if slot.timed_out.get() || w.stopping.get() {
            return self.failed(w, slot, ErrorClass::Read);
        }
        // Closed between responses, or mid-response: what is left was cut off.
        if let Ok(Some(done)) = self.framer.finish_on_eof(&self.rbuf) {
            self.record(w, done, Instant::now());
        }
        self.failed(w, slot, ErrorClass::Read)
    }
}
