//! The closed-loop generator on its own io_uring ring, one per pinned worker:
//! what monoio's fixed operation set cannot give.
//!
//! - One `submit_and_wait` per loop turn carries every connection's sends, and
//!   returns every completion that is ready: no task, waker or future per request.
//! - One multishot receive per connection, fed from a provided-buffer ring shared
//!   by the worker: an idle connection holds no read buffer, and a receive is
//!   armed once per connection, not once per response.
//! - Sockets are registered (fixed) files: no file-table lookup per operation.
//! - Requests are sent from the bytes formatted before the run (the plan's target
//!   itself when one request goes out, else `depth` copies in one send).
//!
//! The semantics are the monoio worker's (`crate::worker`): the same accounting,
//! error classes, reconnects with backoff, `-n` budget, duration, Ctrl-C, 10 ms
//! tick for deadlines (a timeout operation, no timer per request), 100 ms Req/Sec
//! samples, per-second samples and progress board. Paced (-R) runs stay there.
//!
//! Buffer lifetimes: every operation in flight names memory this worker owns (the
//! buffer pool, a connection's send buffer or the plan's request bytes, the
//! connect address, timespecs). The loop returns only when no operation is in
//! flight; if it is left early (a panic), that memory is leaked, never freed under
//! the kernel.

mod bufring;
mod probe;

pub use probe::choose;

use crate::plan::{PipelineMode, Plan};
use crate::progress::{Board, Published};
use crate::worker::{SecondSample, WorkerResult, BACKOFF_MAX, BACKOFF_MIN, SAMPLE, TICK};
use bufring::BufRing;
use io_uring::{cqueue, opcode, squeue, types, IoUring};
use shared::runtime::{RingFlags, Stop};
use shared::stats::codec::encode_base64;
use shared::stats::layout::record_clamped;
use shared::stats::{new_histogram, Counters, ErrorClass, Histogram};
use shared::wire::framing::{Completed, FrameError, FramingLimits, ResponseFramer};
use std::collections::VecDeque;
use std::io;
use std::mem::ManuallyDrop;
use std::net::SocketAddr;
use std::os::fd::IntoRawFd;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Receive buffer size: large, so a 1 MiB body arrives in ~16 completions, yet a
/// small response touches one page of it.
const BUF_SIZE: usize = 64 * 1024;
/// Buffers per worker: enough for one turn's completions of many connections; a
/// turn that needs more ends some receives with ENOBUFS and they are re-armed.
/// Few, because every buffer's first page ends up resident (256 pages: 1 MiB).
const BUFS_MIN: usize = 128;
const BUFS_MAX: usize = 256;
/// Submission queue entries at most: a fuller turn submits early (one more
/// syscall per this many operations); every entry's page ends up resident.
const SQ_MAX: u32 = 2048;
const BGID: u16 = 0;

// What a completion is for: the low byte of user_data; the connection above it.
const OP_TICK: u64 = 0;
const OP_CONNECT: u64 = 1;
const OP_LINK_TIMEOUT: u64 = 2;
const OP_RECV: u64 = 3;
const OP_SEND: u64 = 4;
const OP_CANCEL: u64 = 5;
/// The one-off timeout that fires at the run's start (a distributed node's T0).
const OP_START: u64 = 6;
/// Removal of that timeout when the run stops before its start.
const OP_START_REMOVE: u64 = 7;

fn user_data(op: u64, conn: usize) -> u64 {
    (conn as u64) << 8 | op
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting until this instant to (re)connect.
    Backoff(Instant),
    Connecting,
    Open,
    /// The session ended (decision in `then`); waiting for its operations to end.
    Closing,
    Done,
}

/// How a session ended (as in `crate::worker`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Reconnect,
    Done,
}

/// One connection slot; its index is also its registered-file index.
struct Conn {
    state: State,
    fd: i32,
    /// This connection's operations in flight.
    ops: u32,
    recv_armed: bool,
    sending: bool,
    /// The send in flight: its bytes (the plan's or `wbuf`), length and progress.
    send_ptr: *const u8,
    send_len: usize,
    send_done: usize,
    then: End,
    framer: ResponseFramer,
    /// Send time of each outstanding request, oldest first.
    sent_at: VecDeque<Instant>,
    deadline: Option<Instant>,
    timed_out: bool,
    /// Unframed bytes (a head split across receives); empty and unallocated on an
    /// idle connection.
    rbuf: Vec<u8>,
    /// Pipelined sends: `depth` requests copied together.
    wbuf: Vec<u8>,
    next_target: usize,
    opened_before: bool,
    backoff: Duration,
    refused_since: Option<Instant>,
    /// The connect's linked timeout (read by the kernel at submission).
    connect_limit: types::Timespec,
}

/// Counters, histograms and the run's clock state: everything but the sockets.
struct Book {
    plan: Arc<Plan>,
    end: Option<Instant>,
    stop: Stop,
    stopping: bool,
    stopped_at: Option<Instant>,
    budget: u64,
    counters: Counters,
    histogram: Histogram,
    second: Histogram,
    first_invalid: Option<String>,
    live: usize,
}

impl Book {
    /// Takes one request from the budget unless the run is stopping. Returns
    /// (taken, the stop just began).
    #[inline]
    fn take(&mut self, now: Instant) -> (bool, bool) {
        if self.stopping || self.budget == 0 {
            return (false, false);
        }
        if self.end.is_some_and(|end| now >= end) {
            return (false, self.begin_stop(now));
        }
        if self.budget != u64::MAX {
            self.budget -= 1;
        }
        (true, false)
    }

    fn finished_sending(&self) -> bool {
        self.stopping || self.budget == 0
    }

    /// True when this call began the stop.
    fn begin_stop(&mut self, now: Instant) -> bool {
        if self.stopping {
            return false;
        }
        self.stopping = true;
        self.stopped_at = Some(now);
        true
    }

    fn fail(&mut self, class: ErrorClass, n: u64) {
        if n > 0 {
            self.counters.errors.add(class, n);
        }
    }

    fn note_invalid(&mut self, e: &FrameError, bytes: &[u8]) {
        if self.first_invalid.is_none() {
            let shown: String = String::from_utf8_lossy(&bytes[..bytes.len().min(64)])
                .chars()
                .map(|c| if c.is_control() { '.' } else { c })
                .collect();
            self.first_invalid = Some(format!("{e}: {shown:?}"));
        }
    }

    /// One response completed at `now`.
    #[inline]
    fn record(&mut self, sent_at: &mut VecDeque<Instant>, done: Completed, now: Instant) {
        let sent = sent_at.pop_front().expect("framer and queue agree");
        let us = now.saturating_duration_since(sent).as_micros() as u64;
        record_clamped(&mut self.second, us);
        let c = &mut self.counters;
        c.completed += 1;
        c.status.record(done.status);
        c.status.informational += u64::from(done.interim);
    }

    /// Every outstanding request of a connection ends in `class`.
    fn fail_all(&mut self, sent_at: &mut VecDeque<Instant>, class: ErrorClass) {
        self.fail(class, sent_at.len() as u64);
        sent_at.clear();
    }

    /// At the stop: requests older than --timeout are timeouts, the rest were in flight.
    fn settle_at_stop(&mut self, sent_at: &mut VecDeque<Instant>) {
        let now = self.stopped_at.unwrap_or_else(Instant::now);
        let timeout = self.plan.timeout;
        let late = sent_at
            .iter()
            .filter(|&&t| now.saturating_duration_since(t) >= timeout)
            .count() as u64;
        let young = sent_at.len() as u64 - late;
        self.fail(ErrorClass::Timeout, late);
        self.counters.in_flight_at_stop += young;
        sent_at.clear();
    }

    /// A connection failed with requests outstanding: their class, and what next.
    fn failed(&mut self, c: &mut Conn, class: ErrorClass) -> End {
        if c.timed_out {
            self.fail_all(&mut c.sent_at, ErrorClass::Timeout);
        } else if self.stopping {
            self.settle_at_stop(&mut c.sent_at);
        } else {
            self.fail_all(&mut c.sent_at, class);
        }
        if self.finished_sending() {
            End::Done
        } else {
            End::Reconnect
        }
    }

    /// Adds this second's latencies to the run's histogram; returns them encoded.
    fn fold_second(&mut self) -> String {
        let encoded = encode_base64(&self.second);
        self.histogram
            .add(&self.second)
            .expect("one histogram layout");
        self.second.reset();
        encoded
    }

    fn close_second(&mut self, last: &mut (u64, u64), length: Duration) -> SecondSample {
        let c = self.counters;
        let errors = c.request_errors() + c.errors.connect;
        let histogram = self.fold_second();
        let sample = SecondSample {
            completed: c.completed - last.0,
            errors: errors - last.1,
            length,
            histogram,
        };
        *last = (c.completed, errors);
        sample
    }
}

/// The socket address a connect reads (kept where the kernel may read it until
/// the connect completes).
struct Address {
    addr: socket2::SockAddr,
    family: i32,
}

impl Address {
    fn new(addr: SocketAddr) -> Self {
        let family = if addr.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        };
        Self {
            addr: socket2::SockAddr::from(addr),
            family,
        }
    }
}

/// Memory the kernel may read or write while an operation is in flight: freed
/// only when none is (see [`Direct`]'s Drop).
struct Pinned {
    conns: Box<[Conn]>,
    pool: BufRing,
    address: Address,
    tick: types::Timespec,
    /// From the loop's first turn to the run's start (zero: already started).
    until_start: types::Timespec,
    /// Keeps the plan's request bytes (sent without copying) alive.
    _plan: Arc<Plan>,
}

struct Direct {
    ring: IoUring,
    pinned: ManuallyDrop<Pinned>,
    book: Book,
    /// Operations in flight, all connections and the tick together.
    ops: usize,
    /// Completions of this turn (copied out so handlers may submit).
    cqes: Vec<(u64, i32, u32)>,
    tick_due: bool,
    /// Index of this worker's first connection in the whole run (source addresses).
    first_conn: usize,
    /// Sending has begun: a distributed node connects before T0 and waits.
    started: bool,
    /// Connections opened before the start, waiting to send.
    waiting: Vec<usize>,
}

impl Drop for Direct {
    fn drop(&mut self) {
        if self.ops == 0 {
            self.pinned.pool.unregister(&self.ring);
            // SAFETY: no operation is in flight, so the kernel holds no pointer
            // into this memory; it is dropped once, here.
            unsafe { ManuallyDrop::drop(&mut self.pinned) };
        }
        // Else (left by a panic with operations in flight) the memory is leaked:
        // the kernel may still write to it until the ring is torn down.
    }
}

/// Runs worker `index` of `plan` on the current (pinned) thread with its own ring.
/// Err: the ring could not be set up (the caller runs the monoio worker instead).
pub fn run(
    plan: Arc<Plan>,
    index: usize,
    cpu: Option<usize>,
    start: Instant,
    stop: Stop,
    board: Arc<Board>,
) -> io::Result<WorkerResult> {
    let conns = plan.connections_of(index);
    let flags = plan.engine.ring_flags.unwrap_or(RingFlags::None);
    // Room for every connection's operations of a turn; a fuller turn submits early.
    let sq = (conns as u32 * 2 + 64).next_power_of_two().min(SQ_MAX);
    let mut builder = flags.builder();
    builder.setup_cqsize(sq * 4).setup_submit_all();
    let ring = builder.build(sq)?;
    ring.submitter().register_files_sparse(conns as u32)?;
    let bufs = (conns * 2).clamp(BUFS_MIN, BUFS_MAX).next_power_of_two();
    let pool = BufRing::new(bufs as u16, BUF_SIZE, BGID)?;
    // SAFETY: the pool lives in `pinned`, freed only when no operation is in
    // flight (after which it is unregistered) or leaked.
    unsafe { pool.register(&ring.submitter())? };
    let pipeline = plan.pipeline;
    let wlen = plan
        .targets
        .iter()
        .map(|t| t.request.len())
        .max()
        .unwrap_or(0)
        * pipeline;
    let first_conn: usize = (0..index).map(|i| plan.connections_of(i)).sum();
    let slots: Box<[Conn]> = (0..conns)
        .map(|i| Conn {
            state: State::Done,
            fd: -1,
            ops: 0,
            recv_armed: false,
            sending: false,
            send_ptr: std::ptr::null(),
            send_len: 0,
            send_done: 0,
            then: End::Done,
            framer: ResponseFramer::new(FramingLimits::default()),
            sent_at: VecDeque::with_capacity(pipeline),
            deadline: None,
            timed_out: false,
            rbuf: Vec::new(),
            wbuf: if pipeline > 1 {
                Vec::with_capacity(wlen)
            } else {
                Vec::new()
            },
            next_target: (first_conn + i) % plan.targets.len(),
            opened_before: false,
            backoff: BACKOFF_MIN,
            refused_since: None,
            connect_limit: types::Timespec::new(),
        })
        .collect();
    let mut d = Direct {
        pinned: ManuallyDrop::new(Pinned {
            conns: slots,
            pool,
            address: Address::new(plan.addr),
            tick: types::Timespec::from(TICK),
            until_start: types::Timespec::from(start.saturating_duration_since(Instant::now())),
            _plan: plan.clone(),
        }),
        ring,
        book: Book {
            end: plan.duration.map(|d| start + d),
            budget: plan.requests_of(index).unwrap_or(u64::MAX),
            plan,
            stop,
            stopping: false,
            stopped_at: None,
            counters: Counters::default(),
            histogram: new_histogram(),
            second: new_histogram(),
            first_invalid: None,
            live: conns,
        },
        ops: 0,
        cqes: Vec::with_capacity(sq as usize * 4),
        tick_due: false,
        first_conn,
        started: Instant::now() >= start,
        waiting: Vec::new(),
    };
    let (samples, seconds) = d.run(start, &board.workers[index]);
    let stopped_at = d.book.stopped_at.unwrap_or_else(Instant::now);
    let histogram = std::mem::replace(&mut d.book.histogram, new_histogram());
    Ok(WorkerResult {
        cpu,
        counters: d.book.counters,
        histogram,
        samples,
        first_invalid: d.book.first_invalid.take(),
        stopped_at,
        seconds,
        audit: None,
    })
}

impl Direct {
    /// The loop: until every connection is done and no operation is in flight.
    fn run(&mut self, start: Instant, board: &Published) -> (Vec<f64>, Vec<SecondSample>) {
        let mut clock = Clock {
            samples: Vec::new(),
            seconds: Vec::new(),
            second_counts: (0, 0),
            last_sample: start,
            last_completed: 0,
            start,
        };
        let now = Instant::now();
        for i in 0..self.pinned.conns.len() {
            if self.book.finished_sending() {
                self.done(i);
            } else {
                self.connect(i, now);
            }
        }
        self.arm_tick();
        if !self.started {
            let e = opcode::Timeout::new(&self.pinned.until_start)
                .build()
                .user_data(user_data(OP_START, 0));
            // SAFETY: the timespec lives in `pinned`.
            unsafe { self.push(&e) };
        }
        loop {
            let now = Instant::now();
            self.reap();
            let mut k = 0;
            // Handlers may append (when a full queue forced an early submit).
            while k < self.cqes.len() {
                let (ud, res, flags) = self.cqes[k];
                k += 1;
                self.complete(ud, res, flags, now);
            }
            self.cqes.clear();
            self.pinned.pool.publish();
            if self.tick_due {
                self.tick_due = false;
                if self.book.live > 0 {
                    self.tick(Instant::now(), &mut clock, board);
                }
                if self.book.live > 0 {
                    self.arm_tick();
                }
            }
            if self.book.live == 0 && self.ops == 0 {
                break;
            }
            if let Err(e) = self.ring.submit_and_wait(1) {
                match e.raw_os_error() {
                    Some(libc::EINTR) | Some(libc::EAGAIN) | Some(libc::EBUSY) => {}
                    _ => panic!("io_uring_enter failed: {e}"),
                }
            }
        }
        clock.finish(&mut self.book)
    }

    /// Copies the ready completions into `cqes`.
    fn reap(&mut self) {
        for c in self.ring.completion() {
            self.cqes.push((c.user_data(), c.result(), c.flags()));
        }
    }

    /// Queues one operation, submitting early when the queue is full.
    ///
    /// # Safety
    /// Whatever `entry` points to must stay valid until its completion arrives.
    unsafe fn push(&mut self, entry: &squeue::Entry) {
        loop {
            // SAFETY: the caller vouches for the entry's pointers.
            if unsafe { self.ring.submission().push(entry) }.is_ok() {
                self.ops += 1;
                return;
            }
            self.make_room(1);
        }
    }

    /// Submits what is queued unless `n` more entries fit.
    fn make_room(&mut self, n: usize) {
        loop {
            {
                let sq = self.ring.submission();
                if sq.capacity() - sq.len() >= n {
                    return;
                }
            }
            if self.ring.submit().is_err() {
                // The completion queue is backed up: take what is there (handled
                // later this turn) so the kernel can go on.
                self.reap();
            }
        }
    }

    fn arm_tick(&mut self) {
        let e = opcode::Timeout::new(&self.pinned.tick)
            .build()
            .user_data(user_data(OP_TICK, 0));
        // SAFETY: the timespec lives in `pinned`.
        unsafe { self.push(&e) };
    }

    fn complete(&mut self, ud: u64, res: i32, flags: u32, now: Instant) {
        let op = ud & 0xff;
        let i = (ud >> 8) as usize;
        if op == OP_TICK {
            self.ops -= 1;
            self.tick_due = true;
            return;
        }
        if op == OP_START {
            self.ops -= 1;
            self.begin_sending(now);
            return;
        }
        if op == OP_START_REMOVE {
            self.ops -= 1;
            return;
        }
        match op {
            OP_RECV => self.on_recv(i, res, flags, now),
            OP_SEND => self.on_send(i, res, now),
            OP_CONNECT => self.on_connect(i, res, now),
            _ => {
                // Linked timeouts and cancels only end.
                self.ops -= 1;
                self.pinned.conns[i].ops -= 1;
            }
        }
        if self.pinned.conns[i].state == State::Closing {
            self.settle_closing(i, now);
        }
    }

    // ---- connecting -------------------------------------------------------

    /// Opens a socket and submits its connect, bounded by --timeout (and the end
    /// of the run) with a linked timeout.
    fn connect(&mut self, i: usize, now: Instant) {
        let family = self.pinned.address.family;
        let fd = match self.book.plan.source_of(self.first_conn + i) {
            // --source-ips: bound to its address, the port left to the connect.
            Some(ip) => crate::source::bound_socket(ip).map_or(-1, IntoRawFd::into_raw_fd),
            // SAFETY: plain socket(2); the descriptor is owned by this slot until closed.
            None => unsafe {
                libc::socket(
                    family,
                    libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                    0,
                )
            },
        };
        if fd < 0 {
            self.connect_failed(i, now);
            return;
        }
        let one: libc::c_int = 1;
        // SAFETY: setsockopt on our socket with a c_int option value.
        unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        let mut limit = self.book.plan.timeout;
        if let Some(end) = self.book.end {
            limit = limit.min(end.saturating_duration_since(now) + TICK);
        }
        let c = &mut self.pinned.conns[i];
        c.fd = fd;
        c.state = State::Connecting;
        c.connect_limit = types::Timespec::from(limit);
        c.ops += 2;
        let a = &self.pinned.address;
        let connect = opcode::Connect::new(types::Fd(fd), a.addr.as_ptr(), a.addr.len())
            .build()
            .flags(squeue::Flags::IO_LINK)
            .user_data(user_data(OP_CONNECT, i));
        let timeout = opcode::LinkTimeout::new(&self.pinned.conns[i].connect_limit)
            .build()
            .user_data(user_data(OP_LINK_TIMEOUT, i));
        // The pair must go in one submission for the link to hold.
        self.make_room(2);
        // SAFETY: the address and the timespec live in `pinned`.
        unsafe {
            self.push(&connect);
            self.push(&timeout);
        }
    }

    fn on_connect(&mut self, i: usize, res: i32, now: Instant) {
        self.ops -= 1;
        let c = &mut self.pinned.conns[i];
        c.ops -= 1;
        if res < 0 {
            close(c.fd);
            c.fd = -1;
            if self.book.stopping && res == -libc::ECANCELED {
                // Cancelled by the stop: not a failure of the server.
                self.done(i);
            } else {
                self.connect_failed(i, now);
            }
            return;
        }
        if let Err(_e) = self
            .ring
            .submitter()
            .register_files_update(i as u32, &[c.fd])
        {
            close(c.fd);
            c.fd = -1;
            self.connect_failed(i, now);
            return;
        }
        c.refused_since = None;
        c.backoff = BACKOFF_MIN;
        self.book.counters.connects += 1;
        if c.opened_before {
            self.book.counters.reconnects += 1;
        }
        c.opened_before = true;
        c.timed_out = false;
        c.deadline = None;
        c.state = State::Open;
        self.arm_recv(i);
        if self.started {
            self.top_up(i, now);
        } else {
            self.waiting.push(i);
        }
    }

    /// The start has come: every connection opened before it sends.
    fn begin_sending(&mut self, now: Instant) {
        if self.started {
            return;
        }
        self.started = true;
        for i in std::mem::take(&mut self.waiting) {
            self.top_up(i, now);
        }
    }

    fn connect_failed(&mut self, i: usize, now: Instant) {
        self.book.fail(ErrorClass::Connect, 1);
        let c = &mut self.pinned.conns[i];
        let since = *c.refused_since.get_or_insert(now);
        // Under -n with no time limit, a port that has refused for a whole
        // --timeout is not coming back: give up rather than run forever.
        if self.book.end.is_none() && now.duration_since(since) >= self.book.plan.timeout {
            self.done(i);
            return;
        }
        let pause = match self.book.end {
            Some(end) => c.backoff.min(end.saturating_duration_since(now)),
            None => c.backoff,
        };
        c.state = State::Backoff(now + pause);
        c.backoff = (c.backoff * 2).min(BACKOFF_MAX);
    }

    // ---- sending ----------------------------------------------------------

    /// Tops the pipeline up with one send, or ends the session when there is
    /// nothing to send and nothing to wait for.
    fn top_up(&mut self, i: usize, now: Instant) {
        let plan = self.book.plan.clone();
        let c = &mut self.pinned.conns[i];
        if c.state != State::Open || c.sending {
            return;
        }
        // wrk's batch mode: the next N go out only when all N came back.
        if plan.pipeline_mode == PipelineMode::Batch && c.framer.outstanding() > 0 {
            return;
        }
        let mut queued = 0usize;
        let mut first = c.next_target;
        let mut stop_began = false;
        while c.framer.outstanding() < plan.pipeline {
            let (taken, began) = self.book.take(now);
            stop_began |= began;
            if !taken {
                break;
            }
            let t = &plan.targets[c.next_target];
            if queued == 0 {
                first = c.next_target;
                c.wbuf.clear();
            }
            c.next_target += 1;
            if c.next_target == plan.targets.len() {
                c.next_target = 0;
            }
            if plan.pipeline > 1 {
                c.wbuf.extend_from_slice(&t.request);
            }
            c.framer.expect(t.is_head);
            c.sent_at.push_back(now);
            queued += 1;
        }
        if queued > 0 {
            self.book.counters.sent += queued as u64;
            if c.deadline.is_none() {
                c.deadline = c.sent_at.front().map(|&t| t + plan.timeout);
            }
            if plan.pipeline > 1 {
                c.send_ptr = c.wbuf.as_ptr();
                c.send_len = c.wbuf.len();
            } else {
                let r = &plan.targets[first].request;
                c.send_ptr = r.as_ptr();
                c.send_len = r.len();
            }
            c.send_done = 0;
            self.send(i);
        }
        let idle = self.pinned.conns[i].framer.outstanding() == 0;
        if stop_began {
            self.wake_all_at_stop();
        }
        if idle {
            // Closed loop, nothing sent and nothing awaited: -n is used up or
            // the run stopped.
            self.end_session(i, End::Done);
        }
    }

    /// Submits the rest of the connection's current send.
    fn send(&mut self, i: usize) {
        let c = &mut self.pinned.conns[i];
        c.sending = true;
        c.ops += 1;
        // SAFETY (pointer arithmetic): send_done < send_len, inside the buffer.
        let ptr = unsafe { c.send_ptr.add(c.send_done) };
        let e = opcode::Send::new(
            types::Fixed(i as u32),
            ptr,
            (c.send_len - c.send_done) as u32,
        )
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data(user_data(OP_SEND, i));
        // SAFETY: the bytes are the plan's (kept alive in `pinned`) or this
        // connection's wbuf, untouched until this send completes (no top-up while
        // `sending`).
        unsafe { self.push(&e) };
    }

    fn on_send(&mut self, i: usize, res: i32, now: Instant) {
        self.ops -= 1;
        let c = &mut self.pinned.conns[i];
        c.ops -= 1;
        c.sending = false;
        if c.state != State::Open {
            return;
        }
        if res < 0 {
            let end = self.book.failed(c, ErrorClass::Write);
            self.end_session(i, end);
            return;
        }
        c.send_done += res as usize;
        if c.send_done < c.send_len {
            self.send(i);
            return;
        }
        self.book.counters.bytes_written += c.send_len as u64;
        // Responses that completed while the send was in flight left room.
        if c.framer.outstanding() < self.book.plan.pipeline {
            self.top_up(i, now);
        }
    }

    // ---- receiving --------------------------------------------------------

    fn arm_recv(&mut self, i: usize) {
        let c = &mut self.pinned.conns[i];
        c.recv_armed = true;
        c.ops += 1;
        let e = opcode::RecvMulti::new(types::Fixed(i as u32), BGID)
            .build()
            .user_data(user_data(OP_RECV, i));
        // SAFETY: the receive writes only into the registered pool, in `pinned`.
        unsafe { self.push(&e) };
    }

    fn on_recv(&mut self, i: usize, res: i32, flags: u32, now: Instant) {
        let more = cqueue::more(flags);
        if !more {
            self.ops -= 1;
            let c = &mut self.pinned.conns[i];
            c.ops -= 1;
            c.recv_armed = false;
        }
        if res > 0 {
            let bid = cqueue::buffer_select(flags).expect("a receive with data names its buffer");
            // SAFETY: the kernel handed us buffer `bid` with `res` bytes; it is
            // recycled below, after the slice's last use.
            let data = unsafe { self.pinned.pool.filled(bid, res as usize) };
            if self.pinned.conns[i].state == State::Open {
                self.on_data(i, data, now);
            }
            self.pinned.pool.recycle(bid);
        } else if let Some(bid) = cqueue::buffer_select(flags) {
            self.pinned.pool.recycle(bid);
        }
        if self.pinned.conns[i].state != State::Open {
            return;
        }
        if res == 0 {
            self.closed(i, now);
        } else if res < 0 && res != -libc::ENOBUFS {
            let end = self
                .book
                .failed(&mut self.pinned.conns[i], ErrorClass::Read);
            self.end_session(i, end);
        } else if !more {
            // Out of buffers this turn (ENOBUFS) or the kernel ended the
            // multishot: the data waits in the socket; receive again.
            self.arm_recv(i);
        }
    }

    /// Frames received bytes; records every completed response with `now`.
    fn on_data(&mut self, i: usize, data: &[u8], now: Instant) {
        let b = &mut self.book;
        b.counters.bytes_read += data.len() as u64;
        let c = &mut self.pinned.conns[i];
        let result = if c.rbuf.is_empty() {
            let (r, pos) = frame(&mut c.framer, &mut c.sent_at, b, data, now);
            match &r {
                Ok(_) if pos < data.len() => c.rbuf.extend_from_slice(&data[pos..]),
                Ok(_) => {}
                Err(e) => b.note_invalid(e, &data[pos..]),
            }
            r
        } else {
            c.rbuf.extend_from_slice(data);
            let (r, pos) = frame(&mut c.framer, &mut c.sent_at, b, &c.rbuf, now);
            match &r {
                Ok(_) => {
                    c.rbuf.drain(..pos);
                }
                Err(e) => b.note_invalid(e, &c.rbuf[pos..]),
            }
            r
        };
        match result {
            Ok(true) => {}
            // The server said it closes after this response.
            Ok(false) => {
                let end = b.failed(c, ErrorClass::Read);
                self.end_session(i, end);
                return;
            }
            Err(_) => {
                b.fail_all(&mut c.sent_at, ErrorClass::Invalid);
                let end = if b.finished_sending() {
                    End::Done
                } else {
                    End::Reconnect
                };
                self.end_session(i, end);
                return;
            }
        }
        c.deadline = c.sent_at.front().map(|&t| t + b.plan.timeout);
        if b.stopping {
            b.settle_at_stop(&mut c.sent_at);
            self.end_session(i, End::Done);
            return;
        }
        self.top_up(i, now);
    }

    /// The peer closed its side.
    fn closed(&mut self, i: usize, now: Instant) {
        let b = &mut self.book;
        let c = &mut self.pinned.conns[i];
        if !(c.timed_out || b.stopping) {
            // Closed between responses, or mid-response: what is left was cut off.
            if let Ok(Some(done)) = c.framer.finish_on_eof(&c.rbuf) {
                b.record(&mut c.sent_at, done, now);
            }
        }
        let end = b.failed(c, ErrorClass::Read);
        self.end_session(i, end);
    }

    // ---- ending -----------------------------------------------------------

    /// The session is over: shut the socket so its receive ends, then close it
    /// once no operation names it.
    fn end_session(&mut self, i: usize, end: End) {
        let c = &mut self.pinned.conns[i];
        if c.state != State::Open {
            return;
        }
        c.state = State::Closing;
        c.then = end;
        shutdown(c.fd);
    }

    fn settle_closing(&mut self, i: usize, now: Instant) {
        let c = &mut self.pinned.conns[i];
        if c.ops > 0 {
            return;
        }
        let _ = self.ring.submitter().register_files_update(i as u32, &[-1]);
        close(c.fd);
        c.fd = -1;
        c.framer.reset();
        c.sent_at.clear();
        c.rbuf.clear();
        c.wbuf.clear();
        c.deadline = None;
        match c.then {
            End::Reconnect if !self.book.finished_sending() => self.connect(i, now),
            _ => self.done(i),
        }
    }

    fn done(&mut self, i: usize) {
        self.pinned.conns[i].state = State::Done;
        self.book.live -= 1;
    }

    /// The stop began: wake every connection blocked on its socket.
    fn wake_all_at_stop(&mut self) {
        for i in 0..self.pinned.conns.len() {
            let c = &mut self.pinned.conns[i];
            match c.state {
                State::Open => shutdown(c.fd),
                State::Connecting => {
                    c.ops += 1;
                    let e = opcode::AsyncCancel::new(user_data(OP_CONNECT, i))
                        .build()
                        .user_data(user_data(OP_CANCEL, i));
                    // SAFETY: a cancel names no memory.
                    unsafe { self.push(&e) };
                }
                State::Backoff(_) => self.done(i),
                State::Closing | State::Done => {}
            }
        }
    }

    // ---- the clock --------------------------------------------------------

    /// Every 10 ms: the stop, deadlines, reconnects after backoff, samples.
    fn tick(&mut self, now: Instant, clock: &mut Clock, board: &Published) {
        let b = &mut self.book;
        let due = b.stop.is_triggered() || b.end.is_some_and(|e| now >= e);
        if !b.stopping && due && b.begin_stop(now) {
            self.wake_all_at_stop();
        }
        if self.book.stopping && !self.started {
            // Stopped (Ctrl-C) before the start: the loop ends only when no
            // operation is in flight, so take the start timeout back.
            let e = opcode::TimeoutRemove::new(user_data(OP_START, 0))
                .build()
                .user_data(user_data(OP_START_REMOVE, 0));
            // SAFETY: the removal points at nothing but the user_data it names.
            unsafe { self.push(&e) };
            self.begin_sending(now);
        }
        for i in 0..self.pinned.conns.len() {
            let c = &mut self.pinned.conns[i];
            match c.state {
                State::Open => {
                    if let Some(d) = c.deadline {
                        if now >= d && !c.timed_out {
                            c.timed_out = true;
                            shutdown(c.fd);
                        }
                    }
                }
                State::Backoff(at) => {
                    if self.book.finished_sending() {
                        self.done(i);
                    } else if now >= at {
                        self.connect(i, now);
                    }
                }
                _ => {}
            }
        }
        if !self.book.stopping {
            clock.sample(&mut self.book, now, board);
        }
    }
}

/// The worker's samples and per-second series (as in `crate::worker`'s tick).
struct Clock {
    samples: Vec<f64>,
    seconds: Vec<SecondSample>,
    second_counts: (u64, u64),
    last_sample: Instant,
    last_completed: u64,
    start: Instant,
}

impl Clock {
    fn sample(&mut self, b: &mut Book, now: Instant, board: &Published) {
        if now.duration_since(self.last_sample) >= SAMPLE {
            let completed = b.counters.completed;
            let secs = now.duration_since(self.last_sample).as_secs_f64();
            self.samples
                .push((completed - self.last_completed) as f64 / secs);
            self.last_completed = completed;
            self.last_sample = now;
            board.completed.store(completed, Relaxed);
            board.errors.store(
                b.counters.request_errors() + b.counters.errors.connect,
                Relaxed,
            );
        }
        if now.duration_since(self.start) >= Duration::from_secs(self.seconds.len() as u64 + 1) {
            let s = b.close_second(&mut self.second_counts, Duration::from_secs(1));
            board.second_closed(self.seconds.len(), &s);
            self.seconds.push(s);
        }
    }

    /// The last, partial intervals once every connection has ended.
    fn finish(mut self, b: &mut Book) -> (Vec<f64>, Vec<SecondSample>) {
        if b.stopped_at.is_none() {
            // Ended by -n: the interval ends when the last connection finished.
            b.stopped_at = Some(Instant::now());
        }
        let stopped = b.stopped_at.unwrap_or(self.last_sample);
        let secs = stopped
            .saturating_duration_since(self.last_sample)
            .as_secs_f64();
        if secs >= SAMPLE.as_secs_f64() / 4.0 {
            let completed = b.counters.completed;
            self.samples
                .push(completed.saturating_sub(self.last_completed) as f64 / secs);
        }
        let done = Duration::from_secs(self.seconds.len() as u64);
        let rest = stopped
            .saturating_duration_since(self.start)
            .saturating_sub(done);
        if !rest.is_zero() {
            let s = b.close_second(&mut self.second_counts, rest);
            self.seconds.push(s);
        } else {
            b.fold_second();
        }
        (self.samples, self.seconds)
    }
}

/// Frames `input`; records every completed response. Returns Ok(false) when the
/// server closes after the last one, and how many bytes were consumed.
fn frame(
    framer: &mut ResponseFramer,
    sent_at: &mut VecDeque<Instant>,
    b: &mut Book,
    input: &[u8],
    now: Instant,
) -> (Result<bool, FrameError>, usize) {
    let (pos, r) = framer.feed_all(input, |done| b.record(sent_at, done, now));
    (r, pos)
}

fn shutdown(fd: i32) {
    if fd >= 0 {
        // SAFETY: fd is a socket this worker owns and has not closed (closed only
        // in `settle_closing`, which forgets it).
        unsafe {
            libc::shutdown(fd, libc::SHUT_RDWR);
        }
    }
}

fn close(fd: i32) {
    if fd >= 0 {
        // SAFETY: fd is this slot's socket, closed once (the slot forgets it).
        unsafe {
            libc::close(fd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 10,000 connections must fit in ~1 KiB of RSS each, pool and rings included:
    /// a connection's own state stays a few hundred bytes (304 when written).
    #[test]
    fn connection_state_stays_small() {
        assert!(
            std::mem::size_of::<Conn>() <= 320,
            "{}",
            std::mem::size_of::<Conn>()
        );
    }

    #[test]
    fn user_data_round_trips() {
        for (op, conn) in [(OP_RECV, 0usize), (OP_SEND, 9_999), (OP_CANCEL, 1 << 40)] {
            let ud = user_data(op, conn);
            assert_eq!((ud & 0xff, (ud >> 8) as usize), (op, conn));
        }
    }
}
