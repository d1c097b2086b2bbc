//! The worker's semantics, once, with no I/O: the connection core both drivers
//! run (the direct io_uring loop and the monoio tasks).
//!
//! In the style of quinn-proto and of [`crate::pacing`]: the driver passes the time
//! in (`now`, an `Instant` it read), hands over the bytes a connection received,
//! and asks what to do; the core answers with decisions ([`Next`]: write these
//! bytes on connection i, wait, wake at T; [`End`]: close connection i and
//! reconnect or stop; a pause before reconnecting; which connections to shut down
//! at a deadline or at the stop). The core never reads a clock, never sleeps and
//! never touches a socket, so every rule below is tested without one.
//!
//! What it owns:
//! - the `-n` budget, the duration and the stop (the first send past the end
//!   begins the stop, so the measured interval ends on time);
//! - the ledger of pending requests (intended and actual send time, oldest first)
//!   and their deadlines: `--timeout` is checked by [`Core::tick`], every 10 ms,
//!   per connection (the deadline of its oldest request), not per request;
//! - pipeline top-up (`-p`, refill and batch modes), the targets' rotation, and
//!   requests that ask the server to close (`Connection: close`, or HTTP/1.0
//!   without keep-alive): such a request is the last one its connection carries;
//! - framing (through `ResponseFramer`) and the error classes;
//! - each second of the time series, the 100 ms Req/Sec samples and the progress
//!   board;
//! - connect give-up and backoff;
//! - the pacing schedule (`-R`) and its lateness audit.
//!
//! The seam for TLS and HTTP/2 (see docs/architecture.md): bytes the core hands
//! out ([`Next::Write`]) and takes in ([`Core::received`]) are the HTTP/1.1 stream
//! of one connection. A TLS layer (rustls's sans-IO `ConnectionCommon`:
//! `read_tls`/`process_new_packets`/`reader()` in, `writer()`/`write_tls` out)
//! sits between a driver's socket bytes and these calls, per connection; so would
//! an HTTP/2 codec, turning streams into the same per-request events. Neither
//! touches the accounting.

use super::{PaceAudit, SecondSample, WorkerResult, BACKOFF_MAX, BACKOFF_MIN, LATE, SAMPLE, TICK};
use crate::pacing::Schedule;
use crate::plan::{Pacing, PipelineMode, Plan, Target};
use crate::progress::Published;
use shared::runtime::Stop;
use shared::stats::codec::encode_base64;
use shared::stats::layout::record_clamped;
use shared::stats::{new_histogram, Counters, ErrorClass, Histogram};
use shared::wire::framing::{Completed, FrameError, FramingLimits, ResponseFramer};
use shared::wire::request::closes_connection;
use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a session (one TCP connection's life) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// Close the socket, reopen and go on.
    Reconnect,
    /// Close the socket; this connection has nothing more to do.
    Done,
    /// Close the socket and reconnect at this instant: the connection failed
    /// before it carried a request (a TLS handshake), so it backs off as a
    /// failed connect does. The core itself never answers this; the layer
    /// on its seam does (`worker::layer`).
    Backoff(Instant),
}

/// What a connection does next, from [`Core::poll_send`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next<'a> {
    /// Write these bytes (whole requests), then report [`Core::written`]. They
    /// stay valid and unchanged until then: the plan's own request bytes, or the
    /// connection's send buffer, which the core leaves alone while a write is out.
    Write(&'a [u8]),
    /// Wait for responses (or for the write in flight).
    Await,
    /// Nothing outstanding: the next paced request is due at this instant. Ask
    /// again then (or sooner: asking early is harmless).
    Sleep(Instant),
    /// The session is over: close the socket, then [`Core::closed`].
    End(End),
}

pub(crate) use crate::hooks::{Hooked, Hooks};

/// When an outstanding request should have gone out, and when it did.
#[derive(Debug, Clone, Copy)]
struct Sent {
    intended: Instant,
    actual: Instant,
}

/// One connection's protocol state, kept across reconnects so nothing is
/// allocated per request or per reconnect.
struct Conn {
    framer: ResponseFramer,
    /// Each outstanding request, oldest first.
    ledger: VecDeque<Sent>,
    /// Unframed bytes (a head split across reads); empty on an idle connection.
    rbuf: Vec<u8>,
    /// Pipelined requests copied together (one request is sent from the plan).
    wbuf: Vec<u8>,
    /// A write was handed out and not yet reported: `wbuf` must not change.
    writing: bool,
    /// Requests in the write handed out and not yet confirmed: counted
    /// `sent` only once written (a write cut off by the stop sent nothing).
    unwritten: usize,
    /// The last request written asked the server to close the connection:
    /// nothing more goes on it.
    last: bool,
    open: bool,
    next_target: usize,
    /// Under -R: when each next request is due (boxed: a closed-loop connection
    /// stays small).
    schedule: Option<Box<Schedule>>,
    /// When the connection last had room to send (opened, or a response
    /// completed): a send due before it was late because the connection was busy.
    free_since: Instant,
    /// Deadline of the oldest outstanding request.
    deadline: Option<Instant>,
    /// The deadline passed and the core asked for the socket to be shut down.
    timed_out: bool,
    opened_before: bool,
    /// Its session ended with [`End::Reconnect`] and it has not opened again:
    /// it stands for one request of the budget (see [`Core::reconnecting`]).
    reconnecting: bool,
    backoff: Duration,
    refused_since: Option<Instant>,
    /// Paced, with room to send: when the next request falls due (a driver with
    /// its own timers wakes for it; see [`Core::earliest_wake`]).
    wake: Option<Instant>,
}

/// What the core needs of the plan, for one worker: derived once at start-up
/// ([`Setup::of`]), so the core (and its tests) depend on nothing else of it.
#[derive(Debug, Clone)]
pub(crate) struct Setup {
    /// The requests, formatted before the run, rotated per connection.
    pub targets: Arc<[Target]>,
    /// This worker's connections.
    pub connections: usize,
    /// Index of this worker's first connection in the whole run.
    pub first_conn: usize,
    /// Connections of the whole run (this process), for the pacing schedule.
    pub total_connections: usize,
    /// Stop after this long (None: only `-n` stops the run).
    pub duration: Option<Duration>,
    /// This worker's share of `-n` (None: unlimited).
    pub requests: Option<u64>,
    /// Requests in flight per connection (`-p`), at least 1.
    pub pipeline: usize,
    pub pipeline_mode: PipelineMode,
    /// `--timeout`: a request older than this is a timeout.
    pub timeout: Duration,
    pub pacing: Option<Pacing>,
    /// Per-request scripts or a requests file (None: the plan's targets as they are).
    pub dynamic: Option<std::sync::Arc<dyn crate::hooks::MakeHooks>>,
    /// This worker's index.
    pub index: usize,
}

impl Setup {
    /// Worker `index`'s part of `plan`.
    pub fn of(plan: &Plan, index: usize) -> Self {
        Self {
            targets: plan.targets.clone().into(),
            connections: plan.connections_of(index),
            first_conn: (0..index).map(|i| plan.connections_of(i)).sum(),
            total_connections: plan.connections,
            duration: plan.duration,
            requests: plan.requests_of(index),
            pipeline: plan.pipeline.max(1),
            pipeline_mode: plan.pipeline_mode,
            timeout: plan.timeout,
            pacing: plan.pacing,
            dynamic: plan.dynamic.clone(),
            index,
        }
    }
}

/// The 100 ms samples and the per-second series.
struct Clock {
    samples: Vec<f64>,
    seconds: Vec<SecondSample>,
    /// (completed, errors) at the last closed second.
    second_counts: (u64, u64),
    last_sample: Instant,
    last_completed: u64,
}

/// One worker's semantics: its connections' protocol state, budget, counters,
/// histograms and clock. See the module docs.
pub(crate) struct Core {
    plan: Setup,
    start: Instant,
    end: Option<Instant>,
    stop: Stop,
    /// A paced send due within this much goes now (the driver's timer resolution).
    early: Duration,
    stopping: bool,
    stopped_at: Option<Instant>,
    /// The stop began and the driver has not yet woken every connection.
    wake_all: bool,
    /// Requests left to send under `-n` (u64::MAX: no limit).
    budget: u64,
    /// Connections told to reconnect that have not opened yet: each will take
    /// a request of the budget, so a session ends with Done rather than open a
    /// connection for a request another reconnect is already going to send.
    reconnecting: u64,
    /// When the script ended sending (`thread:stop()`, a failed `request()`):
    /// nothing more goes out, what was written is answered (as at the end of
    /// `-n`, not as at the stop).
    closed_at: Option<Instant>,
    /// Per target: its request asks the server to close after answering.
    closes: Vec<bool>,
    counters: Counters,
    /// The run's latencies: every second folded in as it closes.
    histogram: Histogram,
    /// This second's completions (corrected latency), for the time series.
    second: Histogram,
    audit: Option<PaceAudit>,
    first_invalid: Option<String>,
    conns: Vec<Conn>,
    /// Index of this worker's first connection in the whole run.
    first_conn: usize,
    /// Connections not yet done.
    live: usize,
    clock: Clock,
    hooks: Option<Box<dyn Hooks>>,
}

impl Core {
    /// A worker set up as `plan`, the run starting at `start`. `early`: how much
    /// before its intended time a paced send may go out (the driver's timer
    /// resolution; zero with nanosecond timers).
    pub fn new(plan: Setup, start: Instant, stop: Stop, early: Duration) -> Self {
        let n = plan.connections;
        let first_conn = plan.first_conn;
        let conns = (0..n)
            .map(|i| Conn {
                framer: ResponseFramer::new(FramingLimits::default()),
                ledger: VecDeque::with_capacity(plan.pipeline),
                rbuf: Vec::new(),
                wbuf: Vec::new(),
                writing: false,
                unwritten: 0,
                last: false,
                open: false,
                next_target: (first_conn + i) % plan.targets.len(),
                schedule: plan.pacing.map(|p| {
                    Box::new(Schedule::new(
                        &p,
                        start,
                        first_conn + i,
                        plan.total_connections,
                    ))
                }),
                free_since: start,
                deadline: None,
                timed_out: false,
                opened_before: false,
                reconnecting: false,
                backoff: BACKOFF_MIN,
                refused_since: None,
                wake: None,
            })
            .collect();
        Self {
            start,
            end: plan
                .duration
                .map(|d| start.checked_add(d).unwrap_or(start + d.min(YEAR))),
            stop,
            early,
            stopping: false,
            stopped_at: None,
            wake_all: false,
            budget: plan.requests.unwrap_or(u64::MAX),
            reconnecting: 0,
            closed_at: None,
            closes: plan
                .targets
                .iter()
                .map(|t| closes_connection(&t.request))
                .collect(),
            counters: Counters::default(),
            histogram: new_histogram(),
            second: new_histogram(),
            audit: plan.pacing.map(|_| PaceAudit {
                lag: new_histogram(),
                uncorrected: new_histogram(),
                late_busy: 0,
                late_generator: 0,
                behind: 0,
            }),
            first_invalid: None,
            conns,
            first_conn,
            live: n,
            clock: Clock {
                samples: Vec::new(),
                seconds: Vec::new(),
                second_counts: (0, 0),
                last_sample: start,
                last_completed: 0,
            },
            hooks: plan
                .dynamic
                .as_ref()
                .and_then(|d| d.hooks(plan.index, first_conn, n)),
            plan,
        }
    }

    /// Sets the per-request hooks.
    #[allow(dead_code)] // Core::new sets the plan's; tests set their own
    pub fn set_hooks(&mut self, hooks: Box<dyn Hooks>) {
        self.hooks = Some(hooks);
    }

    // ---- what the driver reads -------------------------------------------

    /// Connections of this worker.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Index of this worker's connection `i` in the whole run (source addresses).
    pub fn global(&self, i: usize) -> usize {
        self.first_conn + i
    }

    /// Connections not yet done.
    pub fn live(&self) -> usize {
        self.live
    }

    pub fn stopping(&self) -> bool {
        self.stopping
    }

    /// Ctrl-C (or the controller) asked every worker to stop.
    pub fn stop_requested(&self) -> bool {
        self.stop.is_triggered()
    }

    /// No request will be sent any more: `-n` is used up or the run stopped.
    pub fn finished_sending(&self) -> bool {
        self.stopping || self.budget == 0 || self.closed_at.is_some()
    }

    /// True once, when the stop began: the driver wakes every connection blocked
    /// on its socket (and cancels connects, ends pauses).
    pub fn take_wake_all(&mut self) -> bool {
        std::mem::take(&mut self.wake_all)
    }

    /// The time a connect started at `now` may take: --timeout, and not much past
    /// the end of the run.
    pub fn connect_limit(&self, now: Instant) -> Duration {
        match self.end {
            Some(end) => self
                .plan
                .timeout
                .min(end.saturating_duration_since(now) + TICK),
            None => self.plan.timeout,
        }
    }

    /// Paced: the earliest instant an open connection waits for to send (None:
    /// closed loop, or nothing due). O(connections): drivers call it once a turn,
    /// on paced runs only.
    pub fn earliest_wake(&self) -> Option<Instant> {
        self.conns
            .iter()
            .filter(|c| c.open && !c.writing)
            .filter_map(|c| c.wake)
            .min()
    }

    /// Paced: connection `i` has a send due at `now`.
    pub fn wants_send(&self, i: usize, now: Instant) -> bool {
        let c = &self.conns[i];
        c.open && !c.writing && c.wake.is_some_and(|w| w <= now)
    }

    // ---- connecting -------------------------------------------------------

    /// Connection `i` opened at `now`.
    pub fn opened(&mut self, i: usize, now: Instant) {
        self.reconnected(i);
        let c = &mut self.conns[i];
        self.counters.connects += 1;
        if c.opened_before {
            self.counters.reconnects += 1;
        }
        c.opened_before = true;
        c.refused_since = None;
        c.backoff = BACKOFF_MIN;
        c.open = true;
        c.timed_out = false;
        c.deadline = None;
        c.last = false;
        c.writing = false;
        // Sends that fell due while connecting were waiting on the connection.
        c.free_since = now.max(self.start);
    }

    /// Connecting `i` failed at `now` (refused, unreachable, timed out): one
    /// connect error. Returns when to try again, or None: give up (the
    /// connection is done).
    pub fn connect_failed(&mut self, i: usize, now: Instant) -> Option<Instant> {
        self.setup_failed(i, now, ErrorClass::Connect)
    }

    /// Setting connection `i` up failed at `now` before it carried a request
    /// (`Connect`, or a TLS handshake: `TlsHandshake`): one error of `class`,
    /// and the same backoff and give-up as a refused connect.
    pub fn setup_failed(&mut self, i: usize, now: Instant, class: ErrorClass) -> Option<Instant> {
        self.fail(class, 1);
        let c = &mut self.conns[i];
        let since = *c.refused_since.get_or_insert(now);
        // Under -n with no time limit, a port that has refused for a whole
        // --timeout is not coming back: give up rather than run forever.
        if self.end.is_none() && now.saturating_duration_since(since) >= self.plan.timeout {
            return None;
        }
        let pause = match self.end {
            Some(end) => c.backoff.min(end.saturating_duration_since(now)),
            None => c.backoff,
        };
        c.backoff = (c.backoff * 2).min(BACKOFF_MAX);
        Some(now + pause)
    }

    /// Connection `i`'s socket is closed (after an [`End`], or a connect
    /// cancelled by the stop): forget the session.
    pub fn closed(&mut self, i: usize) {
        if !self.conns[i].ledger.is_empty() {
            // Every driver settles its requests before closing; never lose one.
            self.failed(i, ErrorClass::Read);
        }
        if let Some(h) = &mut self.hooks {
            h.closed(self.first_conn + i);
        }
        let c = &mut self.conns[i];
        c.open = false;
        c.framer.reset();
        c.rbuf.clear();
        c.wbuf.clear();
        c.writing = false;
        c.unwritten = 0;
        c.last = false;
        c.deadline = None;
        c.wake = None;
    }

    /// Connection `i` has nothing more to do.
    pub fn done(&mut self, i: usize) {
        self.reconnected(i);
        self.conns[i].open = false;
        self.conns[i].wake = None;
        self.live -= 1;
    }

    // ---- sending ----------------------------------------------------------

    /// Takes one request from the budget, unless the run is stopping. `now` is
    /// the send time: the first send past the end begins the stop.
    #[inline]
    fn take(&mut self, now: Instant) -> bool {
        if self.stopping || self.budget == 0 || self.closed_at.is_some() {
            return false;
        }
        if self.end.is_some_and(|end| now >= end) {
            self.begin_stop(now);
            return false;
        }
        if self.budget != u64::MAX {
            self.budget -= 1;
        }
        true
    }

    fn begin_stop(&mut self, now: Instant) {
        if !self.stopping {
            self.stopping = true;
            self.stopped_at = Some(now);
            self.wake_all = true;
        }
    }

    /// The session of connection `i` ends (its socket is to be closed): it
    /// sends nothing more and wakes for nothing until it is opened again.
    fn ends(&mut self, i: usize) -> End {
        let c = &mut self.conns[i];
        c.open = false;
        c.wake = None;
        if c.reconnecting {
            return End::Reconnect;
        }
        let end = self.next_end();
        // Under -n, the reconnects already under way cover what is left.
        if end == End::Reconnect && self.budget != u64::MAX && self.budget <= self.reconnecting {
            return End::Done;
        }
        if end == End::Reconnect {
            self.conns[i].reconnecting = true;
            self.reconnecting += 1;
        }
        end
    }

    /// Connection `i` no longer stands for a reconnect (it opened, or gave up).
    fn reconnected(&mut self, i: usize) {
        if std::mem::take(&mut self.conns[i].reconnecting) {
            self.reconnecting -= 1;
        }
    }

    fn next_end(&self) -> End {
        if self.finished_sending() {
            End::Done
        } else {
            End::Reconnect
        }
    }

    /// Tops connection `i`'s pipeline up at `now`: what to do next.
    pub fn poll_send(&mut self, i: usize, now: Instant) -> Next<'_> {
        let pipeline = self.plan.pipeline;
        if let Some(h) = &self.hooks {
            if h.stopped() {
                // thread:stop(): this worker sends nothing more; what is in
                // flight is answered and counted.
                self.closed_at.get_or_insert(now);
            }
        }
        let c = &mut self.conns[i];
        if !c.open || c.writing {
            return Next::Await;
        }
        let outstanding = c.framer.outstanding();
        if c.last {
            // A close was asked for: the connection carries nothing more.
            return if outstanding == 0 {
                Next::End(self.ends(i))
            } else {
                Next::Await
            };
        }
        // wrk's batch mode: the next N go out only when all N came back.
        let room = outstanding < pipeline
            && (self.plan.pipeline_mode == PipelineMode::Refill || outstanding == 0);
        let mut queued = 0usize;
        // Exactly one request so far, not copied: sent from the plan's own bytes.
        let mut from_plan: Option<usize> = None;
        // wrk's delay(): closed loop only (under -R the schedule decides).
        let mut held: Option<Instant> = None;
        while room && self.conns[i].framer.outstanding() < pipeline {
            let c = &self.conns[i];
            if c.schedule.is_none() && !self.finished_sending() {
                if let Some(h) = &mut self.hooks {
                    held = h.hold(self.first_conn + i, now);
                    if held.is_some() {
                        break;
                    }
                }
            }
            let c = &self.conns[i];
            let intended = match &c.schedule {
                None => now,
                // Sends due within the timer's resolution go now, together:
                // waking once per batch, not once per request.
                Some(s) if s.due() > now + self.early => break,
                // The run's window is [start, end): a request due at the end or
                // later is not the run's (-R 1000 -d 2s sends 2,000).
                Some(s) if self.end.is_some_and(|e| s.due() >= e) => break,
                Some(s) => s.due(),
            };
            if !self.take(now) {
                break;
            }
            let c = &mut self.conns[i];
            if let Some(s) = &mut c.schedule {
                s.advance();
                if let Some(a) = &mut self.audit {
                    let lag = now.saturating_duration_since(intended);
                    record_clamped(&mut a.lag, lag.as_micros() as u64);
                    if lag > LATE {
                        if intended < c.free_since {
                            a.late_busy += 1;
                        } else {
                            a.late_generator += 1;
                        }
                    }
                }
            }
            let t = c.next_target;
            c.next_target = if t + 1 == self.plan.targets.len() {
                0
            } else {
                t + 1
            };
            let target = &self.plan.targets[t];
            if queued == 0 {
                c.wbuf.clear();
            }
            if let Some(f) = from_plan.take() {
                // A second request: the first goes into the buffer too.
                c.wbuf.extend_from_slice(&self.plan.targets[f].request);
            }
            let hooked = match &mut self.hooks {
                Some(h) => h.request(self.first_conn + i, t, &mut c.wbuf),
                None => Hooked::Planned,
            };
            if hooked == Hooked::Failed {
                // Nothing was sent for this one: back to the budget; the
                // worker stops (see `Hooks::stopped`).
                // u64::MAX (no -n) stays as it is.
                self.budget = self.budget.saturating_add(1);
                if queued == 0 {
                    c.wbuf.clear();
                }
                // The worker sends nothing more (its in-flight requests are
                // answered and counted).
                self.closed_at.get_or_insert(now);
                break;
            }
            if hooked == Hooked::Planned {
                if queued == 0 {
                    from_plan = Some(t);
                } else {
                    c.wbuf.extend_from_slice(&target.request);
                }
            }
            c.framer.expect(target.is_head);
            c.ledger.push_back(Sent {
                intended,
                actual: now,
            });
            queued += 1;
            if let Hooked::WrittenMany(n) = hooked {
                // The rest of the script's string: already written, so sent
                // even past -n's count (which they use up).
                for _ in 1..n {
                    if self.budget != u64::MAX {
                        self.budget = self.budget.saturating_sub(1);
                    }
                    // Under -R each request is one slot of the schedule: the
                    // string's k requests go together at the first's slot and
                    // use the next k-1 (the rate holds).
                    if let Some(s) = &mut c.schedule {
                        s.advance();
                    }
                    c.framer.expect(target.is_head);
                    c.ledger.push_back(Sent {
                        intended,
                        actual: now,
                    });
                    queued += 1;
                }
            }
            if self.closes[t] {
                // RFC 9112 §9.6: nothing may follow a request that asks to close.
                c.last = true;
                break;
            }
        }
        let c = &mut self.conns[i];
        if queued > 0 {
            c.unwritten = queued;
            if c.deadline.is_none() {
                c.deadline = c.ledger.front().map(|t| t.actual + self.plan.timeout);
            }
            c.writing = true;
            c.wake = None;
            return Next::Write(match from_plan {
                Some(t) => &self.plan.targets[t].request,
                None => &self.conns[i].wbuf,
            });
        }
        if c.schedule.is_some() && self.end.is_some_and(|e| now >= e) {
            // A paced connection woke at the end: the run is over.
            self.begin_stop(now);
        }
        let sending = !self.finished_sending();
        let c = &mut self.conns[i];
        let outstanding = c.framer.outstanding();
        let has_room = outstanding < pipeline
            && (self.plan.pipeline_mode == PipelineMode::Refill || outstanding == 0);
        c.wake = match &c.schedule {
            Some(s) if has_room && sending => {
                let wake = s.due().checked_sub(self.early).unwrap_or(now);
                // Nothing past the end is sent: wake at the end at the latest.
                Some(self.end.map_or(wake, |e| wake.min(e)))
            }
            None if sending => held.map(|h| self.end.map_or(h, |e| h.min(e))),
            _ => None,
        };
        if outstanding > 0 {
            return Next::Await;
        }
        match c.wake {
            Some(wake) => Next::Sleep(wake),
            // Nothing sent and nothing awaited: -n is used up or the run stopped.
            None => Next::End(self.ends(i)),
        }
    }

    /// The write handed out for connection `i` went out in full: `bytes` long.
    pub fn written(&mut self, i: usize, bytes: usize) {
        self.counters.bytes_written = self.counters.bytes_written.saturating_add(bytes as u64);
        self.conns[i].writing = false;
        self.confirm_written(i, 0);
    }

    /// Counts `sent` the requests of connection `i`'s write but the last
    /// `keep` (those still unconfirmed).
    fn confirm_written(&mut self, i: usize, keep: usize) {
        let c = &mut self.conns[i];
        let n = c.unwritten.saturating_sub(keep);
        c.unwritten -= n;
        self.counters.sent = self.counters.sent.saturating_add(n as u64);
    }

    /// The write handed out for connection `i` failed.
    pub fn write_failed(&mut self, i: usize) -> End {
        self.conns[i].writing = false;
        // Attempted: counted sent and as write errors.
        self.confirm_written(i, 0);
        self.failed(i, ErrorClass::Write)
    }

    // ---- receiving --------------------------------------------------------

    /// Connection `i` received `data` at `now`: frames it and records every
    /// completed response. None: go on ([`Core::poll_send`] next); Some: the
    /// session is over (close the socket).
    pub fn received(&mut self, i: usize, data: &[u8], now: Instant) -> Option<End> {
        self.counters.bytes_read = self.counters.bytes_read.saturating_add(data.len() as u64);
        if let Some(h) = &mut self.hooks {
            h.received(self.first_conn + i, data);
        }
        let (mut book, c) = self.split(i, now);
        let Conn {
            framer,
            ledger,
            rbuf,
            free_since,
            ..
        } = c;
        let result = if rbuf.is_empty() {
            // The common case: whole responses, framed in place, nothing copied.
            let (pos, r) = framer.feed_all(data, |d| book.record(ledger, free_since, d));
            match &r {
                Ok(true) if pos < data.len() => rbuf.extend_from_slice(&data[pos..]),
                Ok(_) => {}
                Err(e) => book.note_invalid(e, &data[pos..]),
            }
            r
        } else {
            rbuf.extend_from_slice(data);
            let (pos, r) = framer.feed_all(rbuf, |d| book.record(ledger, free_since, d));
            match &r {
                Ok(_) => {
                    rbuf.drain(..pos);
                }
                Err(e) => book.note_invalid(e, &rbuf[pos..]),
            }
            r
        };
        match result {
            Ok(true) => {}
            // The server closes after this response.
            Ok(false) => return Some(self.server_closes(i)),
            Err(_) => {
                self.fail_all(i, ErrorClass::Invalid);
                return Some(self.ends(i));
            }
        }
        // A response to a request of the pending write: it went out.
        let left = self.conns[i].ledger.len();
        self.confirm_written(i, left);
        let c = &mut self.conns[i];
        c.deadline = c.ledger.front().map(|t| t.actual + self.plan.timeout);
        if self.stopping {
            self.settle_at_stop(i);
            return Some(self.ends(i));
        }
        None
    }

    /// Connection `i` and, beside it, where its responses are recorded.
    fn split(&mut self, i: usize, now: Instant) -> (Book<'_>, &mut Conn) {
        let book = Book {
            counters: &mut self.counters,
            second: &mut self.second,
            audit: &mut self.audit,
            hooks: &mut self.hooks,
            first_invalid: &mut self.first_invalid,
            conn: self.first_conn + i,
            now,
        };
        (book, &mut self.conns[i])
    }

    /// The server announced it closes after the response just completed
    /// (`Connection: close`, HTTP/1.0 without keep-alive): requests pipelined
    /// behind it were never read (RFC 9112 §9.6), so they were not sent; they go
    /// back to the budget and out again on the next connection. Not an error.
    fn server_closes(&mut self, i: usize) -> End {
        let c = &mut self.conns[i];
        let unread = c.ledger.len() as u64;
        // Those of an unconfirmed write were never counted sent.
        let counted = unread - c.unwritten.min(c.ledger.len()) as u64;
        c.unwritten = 0;
        c.ledger.clear();
        c.deadline = None;
        self.counters.sent = self.counters.sent.saturating_sub(counted);
        if self.budget != u64::MAX {
            self.budget = self.budget.saturating_add(unread);
        }
        self.ends(i)
    }

    /// The peer closed its side of connection `i` at `now`.
    pub fn eof(&mut self, i: usize, now: Instant) -> End {
        if !(self.conns[i].timed_out || self.stopping) {
            // Closed between responses, or mid-response: what is left was cut off.
            let (mut book, c) = self.split(i, now);
            if let Ok(Some(done)) = c.framer.finish_on_eof(&c.rbuf) {
                book.record(&mut c.ledger, &mut c.free_since, done);
                // A close-delimited response ends at the server's close, which
                // is then on purpose: requests pipelined behind it were never
                // read, as with `Connection: close`.
                return self.server_closes(i);
            }
        }
        // A close after the last response (the one the request asked for, or an
        // idle keep-alive timeout) leaves nothing outstanding: no error.
        self.failed(i, ErrorClass::Read)
    }

    /// Reading connection `i` failed (reset, or shut down at a deadline or the stop).
    pub fn read_failed(&mut self, i: usize) -> End {
        self.failed(i, ErrorClass::Read)
    }

    /// The layer between the socket and the core (TLS) failed on connection
    /// `i`: its outstanding requests end in `class` (timeouts and the stop
    /// take precedence, as for a read failure).
    pub fn layer_failed(&mut self, i: usize, class: ErrorClass) -> End {
        self.failed(i, class)
    }

    /// The counters so far (tests of the layer on the seam).
    #[cfg(test)]
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Connection `i` waits for a response, or holds part of one.
    pub fn outstanding(&self, i: usize) -> bool {
        let c = &self.conns[i];
        !c.ledger.is_empty() || !c.rbuf.is_empty()
    }

    /// Connection `i` was shut down on purpose: past its deadline, or the stop.
    pub fn shut_down(&self, i: usize) -> bool {
        self.conns[i].timed_out || self.stopping
    }

    /// Connection `i` failed with requests outstanding: decides their class.
    fn failed(&mut self, i: usize, class: ErrorClass) -> End {
        if self.conns[i].timed_out {
            self.fail_all(i, ErrorClass::Timeout);
        } else if self.stopping {
            self.settle_at_stop(i);
        } else {
            self.fail_all(i, class);
        }
        self.ends(i)
    }

    fn fail(&mut self, class: ErrorClass, n: u64) {
        if n > 0 {
            self.counters.errors.add(class, n);
        }
    }

    /// Every outstanding request of connection `i` ends in `class`.
    fn fail_all(&mut self, i: usize, class: ErrorClass) {
        // Attempted: an error counts a request sent.
        self.confirm_written(i, 0);
        let n = self.conns[i].ledger.len() as u64;
        self.conns[i].ledger.clear();
        self.fail(class, n);
    }

    /// At the stop: requests of connection `i` older than --timeout are
    /// timeouts, the rest were in flight.
    fn settle_at_stop(&mut self, i: usize) {
        let at = self.stopped_at.unwrap_or(self.start);
        let timeout = self.plan.timeout;
        // A write the stop cut off before it was confirmed sent nothing: its
        // requests (the ledger's last) are neither sent nor in flight.
        let c = &mut self.conns[i];
        let cut = c.unwritten.min(c.ledger.len());
        c.unwritten = 0;
        let keep = c.ledger.len() - cut;
        c.ledger.truncate(keep);
        let ledger = &mut self.conns[i].ledger;
        let late = ledger
            .iter()
            .filter(|t| at.saturating_duration_since(t.actual) >= timeout)
            .count() as u64;
        let young = ledger.len() as u64 - late;
        ledger.clear();
        self.fail(ErrorClass::Timeout, late);
        self.counters.in_flight_at_stop += young;
    }

    // ---- the clock --------------------------------------------------------

    /// Every [`TICK`]: the stop (Ctrl-C, the duration), deadlines, samples and the
    /// per-second series. Calls `shut` for each connection past its deadline:
    /// the driver shuts its socket down, which ends its pending read or write;
    /// the requests then count as timeouts.
    pub fn tick(&mut self, now: Instant, board: &Published, mut shut: impl FnMut(usize)) {
        if !self.stopping && (self.stop.is_triggered() || self.end.is_some_and(|e| now >= e)) {
            self.begin_stop(now);
        }
        if self.stopping {
            // The stop wakes every connection; what is pending is then split by
            // age (`settle_at_stop`), not all counted as timeouts.
            return;
        }
        for (i, c) in self.conns.iter_mut().enumerate() {
            if c.open && !c.timed_out && c.deadline.is_some_and(|d| now >= d) {
                c.timed_out = true;
                shut(i);
            }
        }
        self.sample(now, board);
    }

    fn sample(&mut self, now: Instant, board: &Published) {
        let k = &mut self.clock;
        if now.saturating_duration_since(k.last_sample) >= SAMPLE {
            let completed = self.counters.completed;
            let secs = now.duration_since(k.last_sample).as_secs_f64();
            k.samples
                .push(completed.saturating_sub(k.last_completed) as f64 / secs);
            k.last_completed = completed;
            k.last_sample = now;
            board.completed.store(completed, Relaxed);
            board.errors.store(
                self.counters.request_errors() + self.counters.errors.connection_errors(),
                Relaxed,
            );
        }
        let closed = self.clock.seconds.len() as u64;
        if now.saturating_duration_since(self.start) >= Duration::from_secs(closed + 1) {
            let s = self.close_second(Duration::from_secs(1));
            board.second_closed(self.clock.seconds.len(), &s);
            self.clock.seconds.push(s);
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

    fn close_second(&mut self, length: Duration) -> SecondSample {
        let c = self.counters;
        let errors = c.request_errors() + c.errors.connection_errors();
        let histogram = self.fold_second();
        let last = self.clock.second_counts;
        self.clock.second_counts = (c.completed, errors);
        SecondSample {
            completed: c.completed.saturating_sub(last.0),
            errors: errors.saturating_sub(last.1),
            length,
            histogram,
        }
    }

    /// Every connection is done (`now`: when the last one ended): the last,
    /// partial intervals, the schedule's audit, and the result.
    pub fn finish(&mut self, now: Instant, cpu: Option<usize>) -> WorkerResult {
        // Ended by -n: the interval ends when the last connection finished.
        let stopped = *self.stopped_at.get_or_insert(now);
        for i in 0..self.conns.len() {
            if !self.conns[i].ledger.is_empty() {
                self.settle_at_stop(i);
            }
        }
        if let Some(a) = &mut self.audit {
            // What fell due before the stop (and inside the run's window) and
            // was never sent; -n caps it.
            let until = self.end.map_or(stopped, |e| e.min(stopped));
            // After thread:stop() nothing more was due.
            let until = self.closed_at.map_or(until, |c| c.min(until));
            let mut cap = self.budget;
            for c in &self.conns {
                if let Some(s) = &c.schedule {
                    let n = s.count_until(until, cap);
                    cap -= n;
                    a.behind = a.behind.saturating_add(n);
                }
            }
        }
        let k = &mut self.clock;
        let secs = stopped
            .saturating_duration_since(k.last_sample)
            .as_secs_f64();
        if secs >= SAMPLE.as_secs_f64() / 4.0 {
            let completed = self.counters.completed;
            k.samples
                .push(completed.saturating_sub(k.last_completed) as f64 / secs);
        }
        let done = Duration::from_secs(k.seconds.len() as u64);
        let rest = stopped
            .saturating_duration_since(self.start)
            .saturating_sub(done);
        if !rest.is_zero() {
            let s = self.close_second(rest);
            self.clock.seconds.push(s);
        } else {
            // Nothing left to report as a second, but its latencies belong to the run.
            self.fold_second();
        }
        if let Some(h) = &self.hooks {
            self.counters.errors.script += h.script_errors();
        }
        WorkerResult {
            cpu,
            counters: self.counters,
            histogram: std::mem::replace(&mut self.histogram, new_histogram()),
            samples: std::mem::take(&mut self.clock.samples),
            first_invalid: self.first_invalid.take(),
            stopped_at: stopped,
            seconds: std::mem::take(&mut self.clock.seconds),
            audit: self.audit.take(),
            tls: None,
        }
    }
}

/// A long horizon for a duration too large to add to an `Instant`.
const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);

/// Where a completed response is recorded (split from `Core` so a connection's
/// framer and ledger can be borrowed beside it).
struct Book<'a> {
    counters: &'a mut Counters,
    second: &'a mut Histogram,
    audit: &'a mut Option<PaceAudit>,
    hooks: &'a mut Option<Box<dyn Hooks>>,
    first_invalid: &'a mut Option<String>,
    /// The connection's index in the whole run.
    conn: usize,
    now: Instant,
}

impl Book<'_> {
    /// One response completed: its latency from the intended send (the actual
    /// one when it went out early; under -R also the uncorrected one) and status.
    #[inline]
    fn record(&mut self, ledger: &mut VecDeque<Sent>, free_since: &mut Instant, done: Completed) {
        let sent = ledger.pop_front().expect("framer and ledger agree");
        let from = sent.intended.min(sent.actual);
        let us = self.now.saturating_duration_since(from).as_micros() as u64;
        record_clamped(self.second, us);
        if let Some(a) = self.audit {
            let us = self.now.saturating_duration_since(sent.actual).as_micros() as u64;
            record_clamped(&mut a.uncorrected, us);
        }
        *free_since = self.now;
        let c = &mut *self.counters;
        c.completed += 1;
        c.status.record(done.status);
        c.status.informational += u64::from(done.interim);
        if let Some(h) = self.hooks {
            h.response(self.conn, &done);
        }
    }

    /// Keeps the first invalid response's start for the report (64 bytes,
    /// control characters shown as dots).
    fn note_invalid(&mut self, e: &FrameError, bytes: &[u8]) {
        if self.first_invalid.is_none() {
            let shown: String = String::from_utf8_lossy(&bytes[..bytes.len().min(64)])
                .chars()
                .map(|c| if c.is_control() { '.' } else { c })
                .collect();
            *self.first_invalid = Some(format!("{e}: {shown:?}"));
        }
    }
}

/// The size of one connection's protocol state, bytes (a memory budget test).
#[cfg(test)]
pub(crate) const CONN_SIZE: usize = std::mem::size_of::<Conn>();

#[cfg(test)]
pub(crate) mod tests {
    //! The core with no sockets: a scripted driver and server, virtual time.
    use super::*;
    use crate::plan::Arrivals;
    use crate::progress::Board;

    const GET: &str = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    const CLOSE: &str = "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    const OK_CLOSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

    pub(crate) fn setup(
        requests: Option<u64>,
        connections: usize,
        pipeline: usize,
        req: &str,
    ) -> Setup {
        Setup {
            targets: vec![Target {
                url: "http://t/".into(),
                request: req.as_bytes().to_vec(),
                is_head: false,
            }]
            .into(),
            connections,
            first_conn: 0,
            total_connections: connections,
            duration: None,
            requests,
            pipeline,
            pipeline_mode: PipelineMode::Refill,
            timeout: Duration::from_secs(2),
            pacing: None,
            dynamic: None,
            index: 0,
        }
    }

    pub(crate) fn core(s: Setup, t0: Instant) -> Core {
        Core::new(s, t0, Stop::new(), Duration::ZERO)
    }

    /// Requests in a write (every test request starts with "GET ").
    fn requests_in(bytes: &[u8]) -> usize {
        bytes.windows(4).filter(|w| w == b"GET ").count()
    }

    fn balanced(c: &Counters) {
        assert!(c.balanced(), "{c:?}");
    }

    /// What a scripted run saw.
    #[derive(Default, Debug)]
    struct Seen {
        /// Requests written per session, in order.
        sessions: Vec<usize>,
        written: usize,
    }

    /// Drives every connection like a driver would, against a server that
    /// answers each request (one response per turn, so refills interleave) with
    /// `answer(k)` for its k-th request overall, until every connection is done.
    fn drive(core: &mut Core, now: Instant, answer: impl Fn(usize) -> Vec<u8>) -> Seen {
        let n = core.connections();
        let mut seen = Seen::default();
        let mut open = vec![None::<usize>; n];
        let mut pending = vec![0usize; n];
        let mut done = vec![false; n];
        let mut answered = 0;
        let mut turns = 0;
        while done.iter().any(|d| !d) {
            turns += 1;
            assert!(turns < 100_000, "the core never ended the run");
            for i in 0..n {
                if done[i] {
                    continue;
                }
                if open[i].is_none() {
                    core.opened(i, now);
                    open[i] = Some(seen.sessions.len());
                    seen.sessions.push(0);
                }
                let end = match core.poll_send(i, now) {
                    Next::Write(b) => {
                        let k = requests_in(b);
                        let len = b.len();
                        core.written(i, len);
                        pending[i] += k;
                        seen.written += k;
                        seen.sessions[open[i].unwrap()] += k;
                        None
                    }
                    Next::Await => {
                        assert!(pending[i] > 0, "awaiting nothing on {i}");
                        pending[i] -= 1;
                        answered += 1;
                        core.received(i, &answer(answered - 1), now)
                    }
                    Next::Sleep(_) => panic!("closed loop never sleeps"),
                    Next::End(e) => Some(e),
                };
                if let Some(e) = end {
                    // The server saw the rest of what was written unanswered.
                    pending[i] = 0;
                    core.closed(i);
                    open[i] = None;
                    if e == End::Done {
                        core.done(i);
                        done[i] = true;
                    }
                }
            }
        }
        seen
    }

    fn finish(core: &mut Core, now: Instant) -> WorkerResult {
        assert_eq!(core.live(), 0);
        core.finish(now, None)
    }

    #[test]
    fn exact_count_with_pipelining_in_both_modes() {
        for mode in [PipelineMode::Refill, PipelineMode::Batch] {
            for (n, conns, p) in [(100u64, 2usize, 4usize), (7, 3, 16), (1, 1, 1), (0, 2, 2)] {
                let t0 = Instant::now();
                let mut s = setup(Some(n), conns, p, GET);
                s.pipeline_mode = mode;
                let mut c = core(s, t0);
                let seen = drive(&mut c, t0, |_| OK.to_vec());
                let r = finish(&mut c, t0);
                assert_eq!(seen.written as u64, n, "{mode:?} n={n} p={p}");
                assert_eq!((r.counters.sent, r.counters.completed), (n, n));
                assert_eq!(r.counters.errors.total(), 0);
                balanced(&r.counters);
            }
        }
    }

    #[test]
    fn a_request_asking_to_close_is_the_last_on_its_connection() {
        // -n 100 -c 2 -p 8 -H "Connection: close": 100 sessions of exactly one
        // request each, no errors, every request sent reached the server.
        let t0 = Instant::now();
        let mut c = core(setup(Some(100), 2, 8, CLOSE), t0);
        let seen = drive(&mut c, t0, |_| OK.to_vec());
        let r = finish(&mut c, t0);
        assert_eq!(seen.written, 100);
        assert_eq!(seen.sessions.len(), 100, "{:?}", seen.sessions);
        assert!(seen.sessions.iter().all(|&k| k == 1), "{:?}", seen.sessions);
        assert_eq!((r.counters.sent, r.counters.completed), (100, 100));
        assert_eq!(r.counters.errors.total(), 0, "{:?}", r.counters.errors);
        assert_eq!(r.counters.reconnects, 98);
        balanced(&r.counters);
    }

    #[test]
    fn no_connection_is_opened_for_a_request_another_reconnect_covers() {
        // One request a connection (`Connection: close`): when the last requests
        // of -n are already covered by reconnects under way, a session ends with
        // Done, so the server sees exactly -n connections, none idle.
        for (n, conns) in [(99, 2), (101, 2), (100, 3), (7, 4)] {
            let t0 = Instant::now();
            let mut c = core(setup(Some(n), conns, 1, CLOSE), t0);
            let seen = drive(&mut c, t0, |_| OK.to_vec());
            let r = finish(&mut c, t0);
            let what = format!("-n {n} -c {conns}: {:?}", seen.sessions);
            assert!(seen.sessions.iter().all(|&k| k == 1), "{what}");
            assert_eq!(seen.sessions.len() as u64, n, "{what}");
            assert_eq!((r.counters.sent, r.counters.completed), (n, n), "{what}");
            assert_eq!(r.counters.connects, n, "{what}");
            balanced(&r.counters);
        }
    }

    #[test]
    fn the_server_closing_on_its_own_loses_no_request() {
        // Every 3rd response says `Connection: close`, with 4 pipelined: what was
        // written behind it was never read, so it is not counted as sent, goes
        // out again, and -n stays exact.
        let t0 = Instant::now();
        let mut c = core(setup(Some(50), 2, 4, GET), t0);
        let seen = drive(&mut c, t0, |k| {
            if k % 3 == 2 { OK_CLOSE } else { OK }.to_vec()
        });
        let r = finish(&mut c, t0);
        assert!(
            seen.written > 50,
            "some were written twice: {}",
            seen.written
        );
        assert_eq!((r.counters.sent, r.counters.completed), (50, 50));
        assert_eq!(r.counters.errors.total(), 0, "{:?}", r.counters.errors);
        balanced(&r.counters);
    }

    #[test]
    fn an_http10_response_without_keep_alive_closes_without_error() {
        let t0 = Instant::now();
        let mut c = core(setup(Some(10), 1, 1, GET), t0);
        let seen = drive(&mut c, t0, |_| {
            b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx".to_vec()
        });
        let r = finish(&mut c, t0);
        assert_eq!(seen.sessions, vec![1; 10]);
        assert_eq!((r.counters.completed, r.counters.errors.total()), (10, 0));
        balanced(&r.counters);
    }

    #[test]
    fn a_close_delimited_response_returns_the_requests_behind_it_to_the_budget() {
        // HTTP/1.0 without a length: the body ends at the server's close, so the
        // close is on purpose and the pipelined requests behind it were never
        // read. Each connection completes one response; none is an error.
        for p in [1, 4, 8] {
            let t0 = Instant::now();
            let mut c = core(setup(Some(20), 1, p, GET), t0);
            let mut sessions = 0;
            loop {
                sessions += 1;
                assert!(sessions <= 20, "p {p}: more connections than requests");
                c.opened(0, t0);
                let Next::Write(b) = c.poll_send(0, t0) else {
                    panic!("nothing to write")
                };
                assert!(requests_in(b) >= 1);
                let len = b.len();
                c.written(0, len);
                assert_eq!(c.received(0, b"HTTP/1.0 200 OK\r\n\r\nhel", t0), None);
                assert_eq!(c.received(0, b"lo", t0), None);
                let end = c.eof(0, t0);
                c.closed(0);
                if end == End::Done {
                    c.done(0);
                    break;
                }
                assert_eq!(end, End::Reconnect);
            }
            let r = finish(&mut c, t0);
            assert_eq!(sessions, 20, "p {p}");
            assert_eq!(
                (
                    r.counters.sent,
                    r.counters.completed,
                    r.counters.errors.total()
                ),
                (20, 20, 0),
                "p {p}: {:?}",
                r.counters
            );
            balanced(&r.counters);
        }
    }

    /// Opens connection 0 of a fresh core and writes `p` requests on it.
    fn opened_with(p: usize, n: Option<u64>) -> (Core, Instant) {
        let t0 = Instant::now();
        let mut c = core(setup(n, 1, p, GET), t0);
        c.opened(0, t0);
        let Next::Write(b) = c.poll_send(0, t0) else {
            panic!("nothing to write")
        };
        assert_eq!(requests_in(b), p);
        let len = b.len();
        c.written(0, len);
        (c, t0)
    }

    #[test]
    fn every_error_class() {
        // Invalid: bytes that are not a response; the first one is kept.
        let (mut c, t0) = opened_with(3, Some(3));
        let end = c.received(0, b"SSH-2.0-OpenSSH\r\n\r\n", t0);
        assert_eq!(end, Some(End::Done));
        c.closed(0);
        c.done(0);
        let r = finish(&mut c, t0);
        assert_eq!(r.counters.errors.invalid, 3);
        assert!(r.first_invalid.unwrap().contains("SSH-2.0"));
        balanced(&r.counters);

        // Read: the peer closed mid-response (one complete, one cut, one unsent).
        let (mut c, t0) = opened_with(3, None);
        assert_eq!(c.received(0, OK, t0), None);
        assert_eq!(c.received(0, &OK[..10], t0), None);
        assert_eq!(c.eof(0, t0), End::Reconnect);
        c.closed(0);
        assert_eq!(
            (c.counters.completed, c.counters.errors.read),
            (1, 2),
            "{:?}",
            c.counters
        );
        balanced(&c.counters);

        // Read: a reset.
        let (mut c, _) = opened_with(2, None);
        assert_eq!(c.read_failed(0), End::Reconnect);
        assert_eq!(c.counters.errors.read, 2);

        // Write: the send failed; the budget used up: the connection is done.
        let (mut c, _) = opened_with(2, Some(2));
        assert_eq!(c.write_failed(0), End::Done);
        assert_eq!(c.counters.errors.write, 2);
        balanced(&c.counters);

        // Timeout: the tick shuts the socket of a connection past its deadline;
        // the read that ends counts its requests as timeouts.
        let (mut c, t0) = opened_with(2, None);
        let board = Board::new(1);
        let mut shut = vec![];
        c.tick(t0 + Duration::from_secs(1), &board.workers[0], |i| {
            shut.push(i)
        });
        assert!(shut.is_empty());
        c.tick(t0 + Duration::from_secs(2), &board.workers[0], |i| {
            shut.push(i)
        });
        assert_eq!(shut, vec![0]);
        c.tick(t0 + Duration::from_secs(3), &board.workers[0], |i| {
            shut.push(i)
        });
        assert_eq!(shut, vec![0], "shut once");
        assert_eq!(c.read_failed(0), End::Reconnect);
        assert_eq!(c.counters.errors.timeout, 2);
        balanced(&c.counters);

        // Connect: backoff doubles to its cap; under -n alone, a port refusing
        // for a whole --timeout is given up.
        let t0 = Instant::now();
        let mut c = core(setup(Some(5), 1, 1, GET), t0);
        let mut at = t0;
        let mut pauses = vec![];
        while let Some(next) = c.connect_failed(0, at) {
            pauses.push(next - at);
            at = next;
        }
        assert_eq!(
            pauses[..6],
            [10, 20, 40, 80, 160, 200].map(Duration::from_millis)
        );
        assert!(at - t0 >= Duration::from_secs(2));
        assert_eq!(c.counters.errors.connect as usize, pauses.len() + 1);
        assert_eq!(c.counters.sent, 0);
    }

    #[test]
    fn accounting_at_the_stop() {
        // A 1 s run, timeout 2 s: at the stop, requests older than the timeout
        // are timeouts, the younger ones in flight; an answer after the stop is
        // not counted as completed.
        let t0 = Instant::now();
        let mut s = setup(None, 3, 2, GET);
        s.duration = Some(Duration::from_secs(10));
        let mut c = core(s, t0);
        let board = Board::new(1);
        for i in 0..3 {
            c.opened(i, t0);
        }
        // Connection 0: two requests at t0 (old at the stop).
        let Next::Write(b) = c.poll_send(0, t0) else {
            panic!()
        };
        let len = b.len();
        c.written(0, len);
        // Connection 1 at 9 s, one answered, the other pending.
        let t9 = t0 + Duration::from_secs(9);
        let Next::Write(b) = c.poll_send(1, t9) else {
            panic!()
        };
        let len = b.len();
        c.written(1, len);
        assert_eq!(c.received(1, OK, t9), None);
        // Connection 2 has sent nothing when the stop comes.
        let stop = t0 + Duration::from_secs(10);
        c.tick(stop, &board.workers[0], |_| {});
        assert!(c.stopping() && c.take_wake_all() && !c.take_wake_all());
        // A send after the end is refused and ends the session.
        assert_eq!(c.poll_send(2, stop), Next::End(End::Done));
        // The shut-down sockets' reads end.
        assert_eq!(c.read_failed(0), End::Done);
        assert_eq!(c.received(1, OK, stop), Some(End::Done));
        for i in 0..3 {
            c.closed(i);
            c.done(i);
        }
        let r = finish(&mut c, stop + Duration::from_millis(5));
        let k = r.counters;
        assert_eq!(k.sent, 4);
        // conn 1's late answer still completed (it came before the socket closed).
        assert_eq!(
            (k.completed, k.errors.timeout, k.in_flight_at_stop),
            (2, 2, 0)
        );
        balanced(&k);
        assert_eq!(r.stopped_at, stop);
        let secs: Duration = r.seconds.iter().map(|s| s.length).sum();
        assert_eq!(secs, Duration::from_secs(10));
    }

    #[test]
    fn requests_pending_at_the_stop_split_by_age() {
        let t0 = Instant::now();
        let mut s = setup(None, 1, 4, GET);
        s.duration = Some(Duration::from_secs(5));
        s.timeout = Duration::from_secs(3);
        let mut c = core(s, t0);
        c.opened(0, t0);
        // One request at 1 s (4 s old at the stop: a timeout) ...
        let t1 = t0 + Duration::from_secs(1);
        let Next::Write(b) = c.poll_send(0, t1) else {
            panic!()
        };
        let len = b.len();
        c.written(0, len);
        // ... answered three times, each answer freeing one slot refilled at 4 s.
        let t4 = t0 + Duration::from_secs(4);
        for _ in 0..3 {
            assert_eq!(c.received(0, OK, t4), None);
        }
        let Next::Write(b) = c.poll_send(0, t4) else {
            panic!()
        };
        assert_eq!(requests_in(b), 3);
        let len = b.len();
        c.written(0, len);
        let board = Board::new(1);
        c.tick(t0 + Duration::from_secs(5), &board.workers[0], |_| {});
        assert_eq!(c.eof(0, t0 + Duration::from_secs(5)), End::Done);
        c.closed(0);
        c.done(0);
        let k = finish(&mut c, t0 + Duration::from_secs(5)).counters;
        assert_eq!(
            (k.sent, k.completed, k.errors.timeout, k.in_flight_at_stop),
            (7, 3, 1, 3),
            "{k:?}"
        );
        balanced(&k);
    }

    fn paced(rate: f64, connections: usize, secs: u64) -> Setup {
        let mut s = setup(None, connections, 1, GET);
        s.duration = Some(Duration::from_secs(secs));
        s.pacing = Some(Pacing {
            rate,
            arrivals: Arrivals::Constant,
            seed: 1,
            offset_s: 0.0,
            first_connection: 0,
        });
        s
    }

    /// Runs a paced core the way the direct loop does, in virtual time: wake at
    /// the earliest due send, send what is due, answer after `rtt`.
    fn drive_paced(c: &mut Core, t0: Instant, rtt: Duration, lag: Duration) -> usize {
        let n = c.connections();
        for i in 0..n {
            c.opened(i, t0);
        }
        let mut inbox: Vec<(Instant, usize)> = vec![];
        let mut now = t0;
        let mut written = 0;
        let mut live = vec![true; n];
        loop {
            for (i, alive) in live.iter_mut().enumerate() {
                if !*alive {
                    continue;
                }
                match c.poll_send(i, now) {
                    Next::Write(b) => {
                        written += requests_in(b);
                        let len = b.len();
                        c.written(i, len);
                        inbox.push((now + rtt, i));
                    }
                    Next::End(e) => {
                        assert_eq!(e, End::Done);
                        c.closed(i);
                        c.done(i);
                        *alive = false;
                    }
                    Next::Await | Next::Sleep(_) => {}
                }
            }
            if c.live() == 0 {
                return written;
            }
            // The next event: an answer or a due send (late by `lag`).
            let wake = c.earliest_wake().map(|w| w + lag);
            let answer = inbox.iter().map(|a| a.0).min();
            now = [wake, answer]
                .into_iter()
                .flatten()
                .min()
                .expect("something to wait for");
            let (ready, rest): (Vec<_>, Vec<_>) = inbox.iter().partition(|a| a.0 <= now);
            inbox = rest;
            for (_, i) in ready {
                assert_eq!(c.received(i, OK, now), None);
            }
        }
    }

    #[test]
    fn paced_window_is_exact_and_lag_is_audited() {
        // -R 1000 -d 2s over 10 connections: exactly 2,000 sends, none behind.
        let t0 = Instant::now();
        let mut c = core(paced(1000.0, 10, 2), t0);
        let written = drive_paced(&mut c, t0, Duration::from_micros(200), Duration::ZERO);
        let r = finish(&mut c, t0 + Duration::from_secs(2));
        let a = r.audit.unwrap();
        assert_eq!(
            (written, r.counters.sent, r.counters.completed),
            (2000, 2000, 2000)
        );
        assert_eq!((a.behind, a.late_busy, a.late_generator), (0, 0, 0));
        // (Histograms clamp to their lowest value, 1 µs.)
        assert!(a.lag.max() <= 1, "{}", a.lag.max());
        // Corrected latency is the answer time from the intended send: 200 µs.
        assert_eq!(r.histogram.value_at_quantile(0.5), 200);

        // The generator wakes 3 ms late for every send: each is late (the
        // connection was free), the lag is audited, and latency counts from the
        // intended time.
        let t0 = Instant::now();
        let mut c = core(paced(100.0, 1, 1), t0);
        drive_paced(
            &mut c,
            t0,
            Duration::from_micros(100),
            Duration::from_millis(3),
        );
        let r = finish(&mut c, t0 + Duration::from_secs(1));
        let a = r.audit.unwrap();
        assert_eq!(
            r.counters.sent + a.behind,
            100,
            "{:?} {}",
            r.counters,
            a.behind
        );
        // (The first send, at the start, went out on time.)
        assert_eq!(a.late_generator, r.counters.sent - 1);
        assert_eq!(a.late_busy, 0);
        let p50 = a.lag.value_at_quantile(0.5);
        assert!((2990..=3010).contains(&p50), "{p50}");
        let corrected = r.histogram.value_at_quantile(0.5);
        assert!((3090..=3110).contains(&corrected), "{corrected}");
        assert!(a.uncorrected.value_at_quantile(0.5) <= 101);

        // A server slower than the schedule (5 ms answers at 1 ms gaps, one
        // connection): sends are late because the connection was busy.
        let t0 = Instant::now();
        let mut c = core(paced(1000.0, 1, 1), t0);
        drive_paced(&mut c, t0, Duration::from_millis(5), Duration::ZERO);
        let r = finish(&mut c, t0 + Duration::from_secs(1));
        let a = r.audit.unwrap();
        assert!(a.late_busy > 150, "{}", a.late_busy);
        assert_eq!(a.late_generator, 0);
        assert_eq!(
            r.counters.sent + a.behind,
            1000,
            "{:?} {}",
            r.counters,
            a.behind
        );
    }

    #[test]
    fn hooks_are_called_only_when_set() {
        #[derive(Default)]
        struct Count(std::rc::Rc<std::cell::Cell<(usize, usize)>>);
        impl Hooks for Count {
            fn request(&mut self, _conn: usize, _target: usize, out: &mut Vec<u8>) -> Hooked {
                let (q, r) = self.0.get();
                self.0.set((q + 1, r));
                out.extend_from_slice(b"GET /hooked HTTP/1.1\r\nHost: t\r\n\r\n");
                Hooked::Written
            }
            fn response(&mut self, _conn: usize, done: &Completed) {
                assert_eq!(done.status, 200);
                let (q, r) = self.0.get();
                self.0.set((q, r + 1));
            }
        }
        let t0 = Instant::now();
        let mut c = core(setup(Some(9), 1, 3, GET), t0);
        let counts = std::rc::Rc::default();
        c.set_hooks(Box::new(Count(std::rc::Rc::clone(&counts))));
        c.opened(0, t0);
        let Next::Write(b) = c.poll_send(0, t0) else {
            panic!()
        };
        assert_eq!(b.windows(12).filter(|w| w == b"GET /hooked ").count(), 3);
        let len = b.len();
        c.written(0, len);
        assert_eq!(c.received(0, &OK.repeat(3), t0), None);
        assert_eq!(counts.get(), (3, 3));
    }

    #[test]
    fn huge_durations_and_budgets_saturate() {
        let t0 = Instant::now();
        let mut s = setup(Some(u64::MAX - 1), 1, 1, GET);
        s.duration = Some(Duration::MAX);
        let mut c = core(s, t0);
        c.opened(0, t0);
        assert!(matches!(c.poll_send(0, t0), Next::Write(_)));
        assert!(c.connect_limit(t0) <= Duration::from_secs(2));
    }
}
