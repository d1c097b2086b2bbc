//! The monoio driver: one task per connection and one tick task on the worker's
//! pinned runtime (monoio's io_uring driver, or its epoll fallback), moving bytes
//! and time between the sockets and the [`Core`], which decides everything.
//!
//! Timeouts cost nothing per request: the tick (every 10 ms) asks the core which
//! connections are past their deadline and shuts their sockets down, which wakes
//! their pending read or write on either engine; at the stop it shuts down every
//! socket. A paced connection with nothing outstanding sleeps until its next
//! send is due (the runtime's timer has millisecond resolution, so a send due
//! within `EARLY` goes out at once).

use super::core::{End, Next};
use super::layer::Layered;
use super::{WorkerResult, TICK};
use crate::progress::Published;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use std::cell::{Cell, RefCell};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::plan::Plan;

/// Read room of a new connection: small, so 10,000 idle-ish connections cost
/// little memory. A read that fills the room doubles it, up to READ_MAX, so large
/// bodies still arrive in few reads.
const READ_MIN: usize = 1024;
const READ_MAX: usize = 256 * 1024;
/// The runtime's timer resolution: a paced send may go out this much before its
/// intended time, batched with others, rather than up to this much after it.
pub(super) const EARLY: Duration = Duration::from_millis(1);
/// Longest sleep of a paced connection or a connection waiting for the start, so
/// it notices Ctrl-C promptly.
const NAP: Duration = Duration::from_millis(100);

/// The worker's state shared by its tasks (one thread: no locks).
struct Worker {
    plan: Arc<Plan>,
    /// The core behind its per-connection layer (plain, or TLS).
    core: RefCell<Layered>,
    /// Each connection's open socket, or -1 (for shutting it down).
    fds: Box<[Cell<i32>]>,
    start: Instant,
}

impl Worker {
    /// When the stop began, shuts every socket down so blocked reads and writes end.
    fn wake_at_stop(&self) {
        if self.core.borrow_mut().take_wake_all() {
            for fd in self.fds.iter() {
                shutdown(fd.get());
            }
        }
    }
}

/// Drives `core` (of `plan`, starting at `start`) on the current runtime until
/// every connection is done; publishes to `board`.
pub(super) async fn run(
    plan: Arc<Plan>,
    core: Layered,
    start: Instant,
    board: &Published,
    cpu: Option<usize>,
) -> WorkerResult {
    let n = core.connections();
    let w = Rc::new(Worker {
        plan,
        core: RefCell::new(core),
        fds: (0..n).map(|_| Cell::new(-1)).collect(),
        start,
    });
    let handles: Vec<_> = (0..n)
        .map(|i| monoio::spawn(connection(w.clone(), i)))
        .collect();
    // The clock: deadlines, the stop and the samples, until every connection ended.
    while w.core.borrow().live() > 0 {
        monoio::time::sleep(TICK).await;
        w.core
            .borrow_mut()
            .tick(Instant::now(), board, |i| shutdown(w.fds[i].get()));
        w.wake_at_stop();
    }
    for h in handles {
        h.await;
    }
    let result = w.core.borrow_mut().finish(Instant::now(), cpu);
    result
}

/// One connection slot: connect, run a session, reconnect when the server closed
/// or something failed, until the run stops.
async fn connection(w: Rc<Worker>, i: usize) {
    let mut rbuf = Vec::new();
    let mut room = READ_MIN;
    let mut wbuf = Vec::new();
    while !w.core.borrow().finished_sending() {
        let (limit, global) = {
            let core = w.core.borrow();
            (core.connect_limit(Instant::now()), core.global(i))
        };
        let source = w.plan.source_of(global);
        let connected = monoio::select! {
            r = crate::source::connect(w.plan.addr, source) => r.ok(),
            _ = monoio::time::sleep(limit) => None,
        };
        let Some(mut stream) = connected else {
            let now = Instant::now();
            let Some(at) = w.core.borrow_mut().connect_failed(i, now) else {
                break;
            };
            monoio::time::sleep(at.saturating_duration_since(now)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        w.fds[i].set(stream.as_raw_fd());
        w.core.borrow_mut().opened(i, Instant::now());
        // A distributed node connects before T0 and sends from T0 on.
        let end = if wait_for_start(&w).await {
            session(&w, i, &mut stream, (&mut rbuf, &mut room), &mut wbuf).await
        } else {
            End::Done
        };
        // The slot forgets the descriptor before the stream closes it.
        w.fds[i].set(-1);
        drop(stream);
        w.core.borrow_mut().closed(i);
        match end {
            End::Done => break,
            // A failed TLS handshake backs off as a failed connect does.
            End::Backoff(at) => {
                monoio::time::sleep(at.saturating_duration_since(Instant::now())).await;
            }
            End::Reconnect => {}
        }
    }
    w.core.borrow_mut().done(i);
}

/// Waits until the run's start (already past for a run of its own); false when
/// the run stopped (Ctrl-C) meanwhile.
async fn wait_for_start(w: &Worker) -> bool {
    loop {
        let now = Instant::now();
        if w.core.borrow().finished_sending() || w.core.borrow().stop_requested() {
            return false;
        }
        if now >= w.start {
            return true;
        }
        monoio::time::sleep((w.start - now).min(NAP)).await;
    }
}

/// What the connection does after asking the core (the core borrowed only
/// between awaits).
enum Step {
    Write,
    Read,
    Sleep(Instant),
}

/// One session: writes what the core hands out, reads and hands the bytes back,
/// until the core ends it.
async fn session(
    w: &Worker,
    i: usize,
    stream: &mut TcpStream,
    (rbuf, room): (&mut Vec<u8>, &mut usize),
    wbuf: &mut Vec<u8>,
) -> End {
    // A read just handed over: its clock reading serves the next send too
    // (one clock reading per completion, as the direct loop does).
    let mut read_at: Option<Instant> = None;
    loop {
        let now = read_at.take().unwrap_or_else(Instant::now);
        let step = match w.core.borrow_mut().poll_send(i, now) {
            Next::Write(bytes) => {
                wbuf.clear();
                wbuf.extend_from_slice(bytes);
                Step::Write
            }
            Next::Await => Step::Read,
            Next::Sleep(at) => Step::Sleep(at),
            Next::End(end) => return end,
        };
        w.wake_at_stop();
        match step {
            Step::Write => {
                let (res, buf) = stream.write_all(std::mem::take(wbuf)).await;
                *wbuf = buf;
                let mut core = w.core.borrow_mut();
                match res {
                    Ok(_) => core.written(i, wbuf.len()),
                    Err(_) => return core.write_failed(i, Instant::now()),
                }
            }
            Step::Sleep(at) => {
                // Always yield, even when already due, so the tick and the other
                // connections run; nap so Ctrl-C is noticed.
                let nap = at.saturating_duration_since(now).min(NAP);
                // Nothing is outstanding while a paced connection waits, but the
                // server may close it meanwhile (an idle keep-alive timeout): wake
                // on readability too, so the close is seen now and the next
                // request goes to a new connection (the direct loop's multishot
                // receive sees it the same way). A poll, not a read: cancelling
                // it at the nap's end loses no bytes.
                let woke = monoio::select! {
                    _ = monoio::time::sleep(nap) => None,
                    r = stream.readable(false) => Some(r.is_ok()),
                };
                match woke {
                    Some(true) => match read_once(w, i, stream, (rbuf, room)).await {
                        Ok(at) => read_at = Some(at),
                        Err(end) => return end,
                    },
                    // The poll itself failed: a plain nap (the next write finds
                    // whatever is wrong), never a read that could block the sends.
                    Some(false) => monoio::time::sleep(nap).await,
                    None => {}
                }
            }
            Step::Read => match read_once(w, i, stream, (rbuf, room)).await {
                Ok(at) => read_at = Some(at),
                Err(end) => return end,
            },
        }
    }
}

/// One read on connection `i`, handed to the core: Ok with the time it
/// completed, Err when the session is over.
async fn read_once(
    w: &Worker,
    i: usize,
    stream: &mut TcpStream,
    (rbuf, room): (&mut Vec<u8>, &mut usize),
) -> Result<Instant, End> {
    let mut buf = std::mem::take(rbuf);
    buf.clear();
    buf.reserve(*room);
    let (res, buf) = stream.read(buf).await;
    *rbuf = buf;
    let now = Instant::now();
    let mut core = w.core.borrow_mut();
    let n = match res {
        Ok(0) => return Err(core.eof(i, now)),
        Ok(n) => n,
        Err(_) => return Err(core.read_failed(i, now)),
    };
    if n == rbuf.capacity() && *room < READ_MAX {
        // The read filled the room: more was waiting. Give the next one more.
        *room *= 2;
    }
    match core.received(i, rbuf, now) {
        Some(end) => Err(end),
        None => Ok(now),
    }
}

fn shutdown(fd: i32) {
    if fd >= 0 {
        // SAFETY: fd is a socket this worker owns and has not closed (the slot
        // forgets it before the stream is dropped, on this same thread).
        unsafe {
            libc::shutdown(fd, libc::SHUT_RDWR);
        }
    }
}
