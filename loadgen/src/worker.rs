//! One worker: its pinned runtime's share of connections, its own counters and
//! histogram, and one tick task. Nothing here is shared with another worker.
//!
//! Timeouts cost nothing per request: each connection keeps the deadline of its
//! oldest outstanding request in a `Slot`, and the worker's tick (every 10 ms)
//! shuts down the socket of any connection past its deadline, which wakes its
//! pending read or write on either engine. The same tick notices the end of the
//! run (duration or Ctrl-C), samples requests/sec every 100 ms and wakes every
//! connection at the stop.
//!
//! Under `-R` each connection follows its own `Schedule`: a request is sent at its
//! intended time, or as soon as the connection is free when it is late, and its
//! latency counts from the intended time (coordinated-omission correction); the
//! latency from the actual send is kept in a second histogram.

use crate::pacing::Schedule;
use crate::plan::{PipelineMode, Plan};
use crate::progress::{Board, Published};
use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use shared::runtime::Stop;
use shared::stats::codec::encode_base64;
use shared::stats::layout::record_clamped;
use shared::stats::{new_histogram, Counters, ErrorClass, Histogram};
use shared::wire::framing::{Completed, FrameError, FramingLimits, ResponseFramer};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) const TICK: Duration = Duration::from_millis(10);
/// Req/Sec sampling period (wrk samples per thread on the same scale).
pub(crate) const SAMPLE: Duration = Duration::from_millis(100);
/// Read room of a new connection: small, so 10,000 idle-ish connections cost
/// little memory. A read that fills the room doubles it, up to READ_MAX, so large
/// bodies still arrive in few reads. (Heads larger than the room grow the buffer
/// as they arrive; the framer bounds them.)
const READ_MIN: usize = 1024;
const READ_MAX: usize = 256 * 1024;
pub(crate) const BACKOFF_MIN: Duration = Duration::from_millis(10);
pub(crate) const BACKOFF_MAX: Duration = Duration::from_millis(200);
/// A paced send later than this after its intended time counts as late.
const LATE: Duration = Duration::from_millis(1);
/// The runtime's timer resolution: a paced send may go out this much before its
/// intended time, batched with others, rather than up to this much after it.
const EARLY: Duration = Duration::from_millis(1);
/// Longest sleep of a paced connection waiting for its next send, so it notices
/// Ctrl-C promptly.
const PACE_NAP: Duration = Duration::from_millis(100);

/// One second of the run, for the time series and the interval log.
#[derive(Debug, Clone)]
pub struct SecondSample {
    /// Responses completed in this second.
    pub completed: u64,
    /// Request and connect errors in this second.
    pub errors: u64,
    /// Length of the interval (the last one may be partial).
    pub length: Duration,
    /// Corrected latency of this second's completions: V2+DEFLATE, base64 (kept
    /// compressed so an hour-long run stays small).
    pub histogram: String,
}

/// What the schedule audit found (paced runs).
#[derive(Debug, Clone)]
pub struct PaceAudit {
    /// Actual minus intended send time of every paced request, µs.
    pub lag: Histogram,
    /// Latency from the actual send (what closed-loop tools report).
    pub uncorrected: Histogram,
    /// Late sends whose connection was still busy (or connecting) when they fell due.
    pub late_busy: u64,
    /// Late sends whose connection was free: the generator itself was behind.
    pub late_generator: u64,
    /// Requests that fell due before the stop and were never sent.
    pub behind: u64,
}

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
    pub seconds: Vec<SecondSample>,
    pub audit: Option<PaceAudit>,
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
    start: Instant,
    stop: Stop,
    end: Option<Instant>,
    stopping: Cell<bool>,
    stopped_at: Cell<Option<Instant>>,
    /// Requests left to send under `-n` (u64::MAX: no limit).
    budget: Cell<u64>,
    counters: RefCell<Counters>,
    /// The run's latencies: every second folded in as it closes.
    histogram: RefCell<Histogram>,
    /// This second's completions (corrected latency), for the time series.
    second: RefCell<Histogram>,
    uncorrected: RefCell<Histogram>,
    lag: RefCell<Histogram>,
    late_busy: Cell<u64>,
    late_generator: Cell<u64>,
    /// Paced requests that fell due before the stop but were never sent.
    behind: Cell<u64>,
    first_invalid: RefCell<Option<String>>,
    slots: RefCell<Vec<Rc<Slot>>>,
    live: Cell<usize>,
}

impl Worker {
    /// Takes one request from the budget, unless the run is stopping. `now` is the
    /// send time already taken: the first connection past the end starts the stop,
    /// so the measured interval ends on time, not at the next tick.
    #[inline]
    fn take(&self, now: Instant) -> bool {
        let left = self.budget.get();
        if self.stopping.get() || left == 0 {
            return false;
        }
        if self.end.is_some_and(|end| now >= end) {
            self.begin_stop(now);
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
    board: Arc<Board>,
) -> WorkerResult {
    let conns = plan.connections_of(index);
    let first_conn: usize = (0..index).map(|i| plan.connections_of(i)).sum();
    let w = Rc::new(Worker {
        end: plan.duration.map(|d| start + d),
        budget: Cell::new(plan.requests_of(index).unwrap_or(u64::MAX)),
        plan,
        start,
        stop,
        stopping: Cell::new(false),
        stopped_at: Cell::new(None),
        counters: RefCell::new(Counters::default()),
        histogram: RefCell::new(new_histogram()),
        second: RefCell::new(new_histogram()),
        uncorrected: RefCell::new(new_histogram()),
        lag: RefCell::new(new_histogram()),
        late_busy: Cell::new(0),
        late_generator: Cell::new(0),
        behind: Cell::new(0),
        first_invalid: RefCell::new(None),
        slots: RefCell::new(Vec::with_capacity(conns)),
        live: Cell::new(conns),
    });
    let handles: Vec<_> = (0..conns)
        .map(|i| monoio::spawn(connection(w.clone(), first_conn + i)))
        .collect();
    let (samples, seconds) = tick(&w, start, &board.workers[index]).await;
    for h in handles {
        h.await;
    }
    let stopped_at = w.stopped_at.get().unwrap_or_else(Instant::now);
    let counters = *w.counters.borrow();
    let histogram = w.histogram.replace(new_histogram());
    let first_invalid = w.first_invalid.borrow_mut().take();
    let audit = w.plan.pacing.map(|_| PaceAudit {
        lag: w.lag.replace(new_histogram()),
        uncorrected: w.uncorrected.replace(new_histogram()),
        late_busy: w.late_busy.get(),
        late_generator: w.late_generator.get(),
        behind: w.behind.get(),
    });
    WorkerResult {
        cpu,
        counters,
        histogram,
        samples,
        first_invalid,
        stopped_at,
        seconds,
        audit,
    }
}

/// Closes the current second of the time series.
fn close_second(w: &Worker, last: &mut (u64, u64), length: Duration) -> SecondSample {
    let c = *w.counters.borrow();
    let errors = c.request_errors() + c.errors.connect;
    let histogram = fold_second(w);
    let sample = SecondSample {
        completed: c.completed - last.0,
        errors: errors - last.1,
        length,
        histogram,
    };
    *last = (c.completed, errors);
    sample
}

/// Adds this second's latencies to the run's histogram and starts the next
/// second: each response is recorded once, into the second, not twice.
fn fold_second(w: &Worker) -> String {
    let mut h = w.second.borrow_mut();
    let encoded = encode_base64(&h);
    w.histogram
        .borrow_mut()
        .add(&*h)
        .expect("one histogram layout");
    h.reset();
    encoded
}

/// The worker's clock: deadlines, the stop, Req/Sec samples and the per-second
/// series. Returns when every connection has ended.
async fn tick(w: &Worker, start: Instant, board: &Published) -> (Vec<f64>, Vec<SecondSample>) {
    let mut samples = Vec::new();
    let mut seconds = Vec::new();
    let mut second_counts = (0, 0);
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
        if w.stopping.get() {
            continue;
        }
        if now.duration_since(last_sample) >= SAMPLE {
            let completed = w.counters.borrow().completed;
            let secs = now.duration_since(last_sample).as_secs_f64();
            samples.push((completed - last_completed) as f64 / secs);
            last_completed = completed;
            last_sample = now;
            let c = w.counters.borrow();
            board.completed.store(c.completed, Relaxed);
            board
                .errors
                .store(c.request_errors() + c.errors.connect, Relaxed);
        }
        if now.duration_since(start) >= Duration::from_secs(seconds.len() as u64 + 1) {
            let sample = close_second(w, &mut second_counts, Duration::from_secs(1));
            board.second_closed(seconds.len(), &sample);
            seconds.push(sample);
        }
    }
    if w.stopped_at.get().is_none() {
        // Ended by -n: the interval ends when the last connection finished.
        w.stopped_at.set(Some(Instant::now()));
    }
    let stopped = w.stopped_at.get().unwrap_or(last_sample);
    // The last, partial intervals, unless too short to mean anything.
    let secs = stopped.saturating_duration_since(last_sample).as_secs_f64();
    if secs >= SAMPLE.as_secs_f64() / 4.0 {
        let completed = w.counters.borrow().completed;
        samples.push(completed.saturating_sub(last_completed) as f64 / secs);
    }
    let done = Duration::from_secs(seconds.len() as u64);
    let rest = stopped
        .saturating_duration_since(start)
        .saturating_sub(done);
    if !rest.is_zero() {
        seconds.push(close_second(w, &mut second_counts, rest));
    } else {
        // Nothing left to report as a second, but its latencies belong to the run.
        fold_second(w);
    }
    (samples, seconds)
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
        rbuf: Vec::new(),
        room: READ_MIN,
        wbuf: Vec::with_capacity(w.plan.targets[0].request.len() * w.plan.pipeline),
        next_target: index % w.plan.targets.len(),
        schedule: w
            .plan
            .pacing
            .map(|p| Schedule::new(&p, w.start, index, w.plan.connections)),
        free_since: w.start,
    };
    let mut opened_before = false;
    let mut backoff = BACKOFF_MIN;
    let mut refused_since: Option<Instant> = None;
    while !w.finished_sending() {
        let stream = match connect(&w, w.plan.source_of(index)).await {
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
        // A distributed node connects before T0 and sends from T0 on.
        if !wait_for_start(&w).await {
            slot.fd.set(-1);
            drop(stream);
            break;
        }
        // Sends that fell due while connecting were waiting on the connection.
        conn.free_since = Instant::now();
        let end = conn.session(&w, &slot, stream).await;
        // The stream is closed inside `session`, after the slot forgot its fd.
        conn.reset();
        if matches!(end, End::Done) {
            break;
        }
    }
    if let Some(s) = conn.schedule.take() {
        // What fell due before the stop and was never sent (-n caps it).
        let stop = w.stopped_at.get().unwrap_or_else(Instant::now);
        let behind = s.count_until(stop, w.budget.get().min(10_000_000));
        w.behind.set(w.behind.get() + behind);
    }
    w.live.set(w.live.get() - 1);
}

/// Waits until the run's start (already past for a run of its own); false when
/// the run stopped (Ctrl-C) meanwhile.
async fn wait_for_start(w: &Worker) -> bool {
    loop {
        let now = Instant::now();
        if w.stopping.get() || w.stop.is_triggered() {
            return false;
        }
        if now >= w.start {
            return true;
        }
        monoio::time::sleep((w.start - now).min(PACE_NAP)).await;
    }
}

/// Connects within --timeout (and not past the end of the run), from `source`
/// when `--source-ips` gave one.
async fn connect(w: &Worker, source: Option<std::net::IpAddr>) -> Result<TcpStream, ()> {
    let now = Instant::now();
    let mut limit = w.plan.timeout;
    if let Some(end) = w.end {
        limit = limit.min(end.saturating_duration_since(now) + TICK);
    }
    monoio::select! {
        r = crate::source::connect(w.plan.addr, source) => r.map_err(|_| ()),
        _ = monoio::time::sleep(limit) => Err(()),
    }
}

/// A connection's reusable state: kept across reconnects so nothing is allocated
/// per request or per reconnect.
struct Conn {
    framer: ResponseFramer,
    /// Each outstanding request, oldest first.
    sent_at: VecDeque<Sent>,
    rbuf: Vec<u8>,
    /// Spare capacity each read gets (adaptive, see READ_MIN).
    room: usize,
    wbuf: Vec<u8>,
    next_target: usize,
    /// Under -R: when each next request is due.
    schedule: Option<Schedule>,
    /// When the connection last had room to send (connected, or a response
    /// completed): a send due before it was late because the connection was busy.
    free_since: Instant,
}

/// One response completed at `now`: its latency (from the intended send, or the
/// actual one when it went out early; under -R also the uncorrected one) and status.
fn record(
    w: &Worker,
    sent_at: &mut VecDeque<Sent>,
    paced: bool,
    free_since: &mut Instant,
    done: Completed,
    now: Instant,
) {
    let sent = sent_at.pop_front().expect("framer and queue agree");
    let from = sent.intended.min(sent.actual);
    let us = now.saturating_duration_since(from).as_micros() as u64;
    record_clamped(&mut w.second.borrow_mut(), us);
    if paced {
        let us = now.saturating_duration_since(sent.actual).as_micros() as u64;
        record_clamped(&mut w.uncorrected.borrow_mut(), us);
    }
    *free_since = now;
    let mut c = w.counters.borrow_mut();
    c.completed += 1;
    c.status.record(done.status);
    c.status.informational += u64::from(done.interim);
}

/// When an outstanding request should have gone out, and when it did.
#[derive(Debug, Clone, Copy)]
struct Sent {
    intended: Instant,
    actual: Instant,
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
            .filter(|t| now.saturating_duration_since(t.actual) >= timeout)
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
            // Batch mode (wrk's pipeline.lua) sends the next N only once all N are answered.
            let refill =
                plan.pipeline_mode == PipelineMode::Refill || self.framer.outstanding() == 0;
            while refill && self.framer.outstanding() < plan.pipeline {
                let intended = match &self.schedule {
                    None => now,
                    // Sends due within the timer's resolution go now, together:
                    // waking once per batch, not once per request.
                    Some(s) if s.due() > now + EARLY => break,
                    Some(s) => s.due(),
                };
                if !w.take(now) {
                    break;
                }
                if let Some(s) = &mut self.schedule {
                    s.advance();
                    let lag = now.saturating_duration_since(intended);
                    record_clamped(&mut w.lag.borrow_mut(), lag.as_micros() as u64);
                    if lag > LATE {
                        let late = if intended < self.free_since {
                            &w.late_busy
                        } else {
                            &w.late_generator
                        };
                        late.set(late.get() + 1);
                    }
                }
                let t = &plan.targets[self.next_target];
                self.next_target += 1;
                if self.next_target == plan.targets.len() {
                    self.next_target = 0;
                }
                self.wbuf.extend_from_slice(&t.request);
                self.framer.expect(t.is_head);
                self.sent_at.push_back(Sent {
                    intended,
                    actual: now,
                });
                queued += 1;
            }
            if queued > 0 {
                w.counters.borrow_mut().sent += queued;
                if slot.deadline.get().is_none() {
                    slot.deadline
                        .set(self.sent_at.front().map(|t| t.actual + plan.timeout));
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
                let Some(s) = &self.schedule else {
                    // Closed loop, nothing sent and nothing awaited: -n is used up
                    // or the run stopped.
                    return End::Done;
                };
                if w.finished_sending() {
                    return End::Done;
                }
                // Open loop: sleep until the next request is due (in naps, so
                // Ctrl-C is noticed), sending nothing meanwhile: no spinning.
                let now = Instant::now();
                if w.end.is_some_and(|end| now >= end) {
                    w.begin_stop(now);
                    return End::Done;
                }
                let mut wake = s
                    .due()
                    .checked_sub(EARLY)
                    .unwrap_or(now)
                    .min(now + PACE_NAP);
                if let Some(end) = w.end {
                    wake = wake.min(end);
                }
                // Always yield, even when already due, so the tick and the other
                // connections run.
                monoio::time::sleep(wake.saturating_duration_since(now)).await;
                continue;
            }

            // Read into the spare capacity, at least `room` of it.
            if self.rbuf.capacity() - self.rbuf.len() < self.room {
                self.rbuf.reserve(self.room);
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
            if n == cap - len && self.room < READ_MAX {
                // The read filled the room: more was waiting. Give the next one more.
                self.room *= 2;
            }
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
                .set(self.sent_at.front().map(|t| t.actual + plan.timeout));
            if w.stopping.get() {
                self.settle_at_stop(w);
                return End::Done;
            }
        }
    }

    /// Frames what is in the read buffer; records every completed response with
    /// `now`. Ok(false): the server closes after the last one.
    fn frame(&mut self, w: &Worker, now: Instant) -> Result<bool, FrameError> {
        let Conn {
            framer,
            rbuf,
            sent_at,
            schedule,
            free_since,
            ..
        } = self;
        let paced = schedule.is_some();
        let (pos, result) = framer.feed_all(rbuf, |done| {
            record(w, sent_at, paced, free_since, done, now);
        });
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

    /// One response completed at `now`: its latency and status. Latency counts
    /// from the intended send (the actual send outside -R); under -R the latency
    /// from the actual send goes to the uncorrected histogram.
    #[inline]
    fn record(&mut self, w: &Worker, done: Completed, now: Instant) {
        let paced = self.schedule.is_some();
        record(w, &mut self.sent_at, paced, &mut self.free_since, done, now);
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
