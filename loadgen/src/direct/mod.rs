//! The generator's io_uring driver: its own ring, one per pinned worker, for
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
//! - Paced runs (-R) wake on the ring: one timeout operation to the earliest
//!   due send (nanosecond deadline, timer slack of 1 ns), none while nothing is
//!   due; no spinning.
//!
//! This loop only moves bytes and time: every decision (the accounting, error
//! classes, reconnects with backoff, `-n` budget, duration, Ctrl-C, deadlines,
//! samples, the schedule) is the [`Core`]'s, the same one the monoio tasks
//! drive. Its 10 ms tick is a timeout operation, no timer per request.
//!
//! Buffer lifetimes: every operation in flight names memory this worker owns (the
//! buffer pool, a connection's send buffer or the plan's request bytes, the
//! connect address, timespecs). The loop returns only when no operation is in
//! flight; if it is left early (a panic), that memory is leaked, never freed under
//! the kernel.

mod bufring;
mod probe;

pub use probe::choose;

use crate::plan::Plan;
use crate::progress::{Board, Published};
use crate::worker::core::{Core, End, Next, Setup};
use crate::worker::layer::Layered;
use crate::worker::{WorkerResult, TICK};
use bufring::BufRing;
use io_uring::{cqueue, opcode, squeue, types, IoUring};
use shared::runtime::{RingFlags, Stop};
use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::IntoRawFd;
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
/// The paced runs' timeout to the earliest due send (its generation above).
const OP_PACE: u64 = 8;

/// Timespecs the pace timeouts point to, reused in turn.
const PACE_SLOTS: usize = 4;

fn user_data(op: u64, conn: usize) -> u64 {
    (conn as u64) << 8 | op
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting until this instant to (re)connect.
    Backoff(Instant),
    Connecting,
    Open,
    /// The session ended, with this decision; waiting for its operations to end.
    Closing(End),
    Done,
}

/// One connection slot's socket and operations; its index is also its
/// registered-file index. The protocol state is the core's.
struct Conn {
    state: State,
    fd: i32,
    /// This connection's operations in flight.
    ops: u32,
    sending: bool,
    /// The send in flight: the bytes the core handed out, length and progress.
    send_ptr: *const u8,
    send_len: usize,
    send_done: usize,
    /// The connect's linked timeout (read by the kernel at submission).
    connect_limit: types::Timespec,
}

/// Memory the kernel may read or write while an operation is in flight: freed
/// only when none is (see [`Direct`]'s Drop).
struct Pinned {
    conns: Box<[Conn]>,
    pool: BufRing,
    /// The address every connect reads (until it completes).
    address: socket2::SockAddr,
    tick: types::Timespec,
    /// From the loop's first turn to the run's start (zero: already started).
    until_start: types::Timespec,
    /// The paced runs' timeouts to the earliest due send, used in turn.
    pace: [types::Timespec; PACE_SLOTS],
    /// The core behind its per-connection layer (plain, or TLS): its send
    /// buffers, the plan's request bytes or the layer's ciphertext are sent
    /// from without copying.
    core: Layered,
}

struct Direct {
    plan: Arc<Plan>,
    ring: IoUring,
    pinned: ManuallyDrop<Pinned>,
    /// Operations in flight, all connections and the timers together.
    ops: usize,
    /// Completions of this turn (copied out so handlers may submit).
    cqes: Vec<(u64, i32, u32)>,
    tick_due: bool,
    /// Sending has begun: a distributed node connects before T0 and waits.
    started: bool,
    /// Connections opened before the start, waiting to send.
    waiting: Vec<usize>,
    paced: bool,
    /// The pace timeout in flight (the latest armed): when it fires, and its generation.
    pace_armed: Option<(Instant, usize)>,
    pace_generation: usize,
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
    // A script's delay() wakes connections by the same timeout as pacing.
    let paced = plan.pacing.is_some() || plan.dynamic.as_ref().is_some_and(|d| d.has_delay());
    if paced {
        // Timers fire on time, not up to the default 50 µs slack late.
        // SAFETY: prctl with an integer argument changes this thread only.
        unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
    }
    let slots: Box<[Conn]> = (0..conns)
        .map(|_| Conn {
            state: State::Done,
            fd: -1,
            ops: 0,
            sending: false,
            send_ptr: std::ptr::null(),
            send_len: 0,
            send_done: 0,
            connect_limit: types::Timespec::new(),
        })
        .collect();
    let mut d = Direct {
        pinned: ManuallyDrop::new(Pinned {
            conns: slots,
            pool,
            address: socket2::SockAddr::from(plan.addr),
            tick: types::Timespec::from(TICK),
            until_start: types::Timespec::from(start.saturating_duration_since(Instant::now())),
            pace: [types::Timespec::new(); PACE_SLOTS],
            core: Layered::new(
                Core::new(Setup::of(&plan, index), start, stop, Duration::ZERO),
                plan.tls.clone(),
                plan.timeout,
            ),
        }),
        plan,
        ring,
        ops: 0,
        cqes: Vec::with_capacity(sq as usize * 4),
        tick_due: false,
        started: Instant::now() >= start,
        waiting: Vec::new(),
        paced,
        pace_armed: None,
        pace_generation: 0,
    };
    d.run(&board.workers[index]);
    Ok(d.pinned.core.finish(Instant::now(), cpu))
}

impl Direct {
    /// The loop: until every connection is done and no operation is in flight.
    fn run(&mut self, board: &Published) {
        let now = Instant::now();
        for i in 0..self.pinned.conns.len() {
            if self.pinned.core.finished_sending() {
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
                if self.pinned.core.live() > 0 {
                    self.tick(Instant::now(), board);
                }
                if self.pinned.core.live() > 0 {
                    self.arm_tick();
                }
            }
            if self.paced && self.started {
                self.pace(Instant::now());
            }
            if self.pinned.core.live() == 0 && self.ops == 0 {
                break;
            }
            if let Err(e) = self.ring.submit_and_wait(1) {
                match e.raw_os_error() {
                    Some(libc::EINTR) | Some(libc::EAGAIN) | Some(libc::EBUSY) => {}
                    _ => panic!("io_uring_enter failed: {e}"),
                }
            }
        }
    }

    /// Paced runs, once a turn: sends every due request, then keeps one timeout
    /// in flight to the earliest next one (nanoseconds, relative to `now`).
    fn pace(&mut self, now: Instant) {
        for i in 0..self.pinned.conns.len() {
            if self.pinned.core.wants_send(i, now) {
                self.top_up(i, now);
            }
        }
        let Some(at) = self.pinned.core.earliest_wake() else {
            return;
        };
        if self.pace_armed.is_some_and(|(armed, _)| armed <= at) {
            return;
        }
        // An earlier send than the timeout in flight: arm another; the older one
        // still fires and is ignored (its generation is stale).
        self.pace_generation += 1;
        self.pace_armed = Some((at, self.pace_generation));
        let slot = &mut self.pinned.pace[self.pace_generation % PACE_SLOTS];
        *slot = types::Timespec::from(at.saturating_duration_since(now));
        let e = opcode::Timeout::new(slot)
            .build()
            .user_data(user_data(OP_PACE, self.pace_generation));
        // SAFETY: the timespec lives in `pinned`; the kernel reads it when it takes
        // the entry, long before the slot comes round again (one arm a turn).
        unsafe { self.push(&e) };
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
        match op {
            OP_TICK => self.tick_due = true,
            OP_START => self.begin_sending(now),
            OP_START_REMOVE => {}
            OP_PACE => {
                if self
                    .pace_armed
                    .is_some_and(|(_, generation)| generation == i)
                {
                    self.pace_armed = None;
                }
            }
            _ => {
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
                if matches!(self.pinned.conns[i].state, State::Closing(_)) {
                    self.settle_closing(i, now);
                }
                return;
            }
        }
        self.ops -= 1;
    }

    // ---- connecting -------------------------------------------------------

    /// Opens a socket and submits its connect, bounded by --timeout (and the end
    /// of the run) with a linked timeout.
    fn connect(&mut self, i: usize, now: Instant) {
        let socket = match self.plan.source_of(self.pinned.core.global(i)) {
            // --source-ips: bound to its address, the port left to the connect.
            Some(ip) => crate::source::bound_socket(ip),
            None => crate::source::tcp_socket(self.plan.addr.is_ipv4()),
        };
        let Ok(fd) = socket.map(IntoRawFd::into_raw_fd) else {
            self.connect_failed(i, now);
            return;
        };
        let limit = self.pinned.core.connect_limit(now);
        let c = &mut self.pinned.conns[i];
        c.fd = fd;
        c.state = State::Connecting;
        c.connect_limit = types::Timespec::from(limit);
        c.ops += 2;
        let a = &self.pinned.address;
        let connect = opcode::Connect::new(types::Fd(fd), a.as_ptr(), a.len())
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
            if self.pinned.core.stopping() && res == -libc::ECANCELED {
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
        c.state = State::Open;
        self.pinned.core.opened(i, now);
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
        match self.pinned.core.connect_failed(i, now) {
            Some(at) => self.pinned.conns[i].state = State::Backoff(at),
            None => self.done(i),
        }
    }

    // ---- sending ----------------------------------------------------------

    /// Asks the core what connection `i` sends now: a send, nothing yet, or the
    /// end of the session.
    fn top_up(&mut self, i: usize, now: Instant) {
        let p = &mut *self.pinned;
        let c = &mut p.conns[i];
        if c.state != State::Open || c.sending {
            return;
        }
        match p.core.poll_send(i, now) {
            Next::Write(bytes) => {
                c.send_ptr = bytes.as_ptr();
                c.send_len = bytes.len();
                c.send_done = 0;
                self.send(i);
            }
            // A paced connection waits for `pace`'s timeout.
            Next::Await | Next::Sleep(_) => {}
            Next::End(end) => self.end_session(i, end),
        }
        if self.pinned.core.take_wake_all() {
            self.wake_all_at_stop();
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
        // SAFETY: the bytes are the plan's or the core's send buffer of this
        // connection (both in `pinned`), untouched until the core hears of the
        // write's end.
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
            let end = self.pinned.core.write_failed(i, now);
            self.end_session(i, end);
            return;
        }
        c.send_done += res as usize;
        if c.send_done < c.send_len {
            self.send(i);
            return;
        }
        let len = c.send_len;
        self.pinned.core.written(i, len);
        // Responses that completed while the send was in flight left room.
        self.top_up(i, now);
    }

    // ---- receiving --------------------------------------------------------

    fn arm_recv(&mut self, i: usize) {
        self.pinned.conns[i].ops += 1;
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
            self.pinned.conns[i].ops -= 1;
        }
        let mut end = None;
        if res > 0 {
            let bid = cqueue::buffer_select(flags).expect("a receive with data names its buffer");
            let p = &mut *self.pinned;
            // SAFETY: the kernel handed us buffer `bid` with `res` bytes; it is
            // recycled below, after the slice's last use.
            let data = unsafe { p.pool.filled(bid, res as usize) };
            if p.conns[i].state == State::Open {
                end = Some(p.core.received(i, data, now));
            }
            p.pool.recycle(bid);
        } else if let Some(bid) = cqueue::buffer_select(flags) {
            self.pinned.pool.recycle(bid);
        }
        if self.pinned.conns[i].state != State::Open {
            return;
        }
        match end {
            Some(Some(end)) => self.end_session(i, end),
            Some(None) => self.top_up(i, now),
            None if res == 0 => {
                let end = self.pinned.core.eof(i, now);
                self.end_session(i, end);
            }
            None if res < 0 && res != -libc::ENOBUFS => {
                let end = self.pinned.core.read_failed(i, now);
                self.end_session(i, end);
            }
            _ => {}
        }
        if !more && self.pinned.conns[i].state == State::Open {
            // Out of buffers this turn (ENOBUFS) or the kernel ended the
            // multishot: the data waits in the socket; receive again.
            self.arm_recv(i);
        }
    }

    // ---- ending -----------------------------------------------------------

    /// The session is over: shut the socket so its receive ends, then close it
    /// once no operation names it.
    fn end_session(&mut self, i: usize, end: End) {
        let c = &mut self.pinned.conns[i];
        if c.state != State::Open {
            return;
        }
        c.state = State::Closing(end);
        shutdown(c.fd);
    }

    fn settle_closing(&mut self, i: usize, now: Instant) {
        let c = &mut self.pinned.conns[i];
        if c.ops > 0 {
            return;
        }
        let State::Closing(then) = c.state else {
            return;
        };
        let _ = self.ring.submitter().register_files_update(i as u32, &[-1]);
        close(c.fd);
        c.fd = -1;
        self.pinned.core.closed(i);
        match then {
            End::Reconnect if !self.pinned.core.finished_sending() => self.connect(i, now),
            // A failed TLS handshake backs off as a failed connect does.
            End::Backoff(at) if !self.pinned.core.finished_sending() => {
                self.pinned.conns[i].state = State::Backoff(at)
            }
            _ => self.done(i),
        }
    }

    fn done(&mut self, i: usize) {
        self.pinned.conns[i].state = State::Done;
        self.pinned.core.done(i);
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
                State::Closing(_) | State::Done => {}
            }
        }
    }

    // ---- the clock --------------------------------------------------------

    /// Every 10 ms: the core's clock (the stop, deadlines, samples) and
    /// reconnects after backoff.
    fn tick(&mut self, now: Instant, board: &Published) {
        let p = &mut *self.pinned;
        let conns = &p.conns;
        p.core.tick(now, board, |i| shutdown(conns[i].fd));
        if self.pinned.core.take_wake_all() {
            self.wake_all_at_stop();
        }
        if self.pinned.core.stopping() && !self.started {
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
            if let State::Backoff(at) = self.pinned.conns[i].state {
                if self.pinned.core.finished_sending() {
                    self.done(i);
                } else if now >= at {
                    self.connect(i, now);
                }
            }
        }
    }
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
    /// a connection's own state (the driver's slot and the core's) stays a few
    /// hundred bytes (304 when written; 352 with the core split out; 368 with
    /// a failed TLS handshake's backoff instant in the closing state). A TLS
    /// connection's rustls state is apart, boxed, only on https runs.
    #[test]
    fn connection_state_stays_small() {
        let size = std::mem::size_of::<Conn>() + crate::worker::core::CONN_SIZE;
        assert!(size <= 368, "{size}");
    }

    #[test]
    fn user_data_round_trips() {
        for (op, conn) in [(OP_RECV, 0usize), (OP_SEND, 9_999), (OP_CANCEL, 1 << 40)] {
            let ud = user_data(op, conn);
            assert_eq!((ud & 0xff, (ud >> 8) as usize), (op, conn));
        }
    }
}
