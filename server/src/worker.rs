//! One worker: its listener, its accept loop, its connections and one timer task
//! (the tick) that keeps the coarse clock and the Date value fresh, closes
//! connections past their deadline and notices the stop flag. Everything here
//! lives on the worker's own thread (`Rc`, `Cell`): nothing is locked.

use crate::conn;
use crate::options::Config;
use crate::stats::{Counter, StatsTable, WorkerStats};
use monoio::io::Canceller;
use monoio::net::TcpListener;
use shared::runtime::Stop;
use shared::wire::date::{DateCache, DATE_LEN};
use std::cell::{Cell, RefCell};
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Tick period: the resolution of timeouts and of noticing a stop.
pub const TICK: Duration = Duration::from_millis(100);
pub const TICK_MS: u64 = 100;
/// A deadline that never comes.
pub const NEVER: u64 = u64::MAX;

/// The deadline `ms` after `from` on the worker clock. The tick may run up to
/// one period after the clock it read, so deadlines get one tick of slack:
/// never early, at most two ticks late. Saturating, so huge timeouts mean never.
#[inline]
pub fn deadline(from: u64, ms: u64) -> u64 {
    from.saturating_add(ms).saturating_add(TICK_MS)
}

/// A duration in whole milliseconds, saturating.
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A connection as the tick sees it: its socket and when it must be closed.
#[derive(Debug)]
pub struct Slot {
    fd: RawFd,
    index: Cell<usize>,
    /// Worker-clock millisecond after which the tick closes the connection.
    pub deadline: Cell<u64>,
    /// Waiting for a new request with nothing buffered: closed at once on stop.
    pub idle: Cell<bool>,
    /// The tick closed it for passing its deadline.
    pub timed_out: Cell<bool>,
}

/// The worker's state shared by its tasks.
pub struct Worker {
    pub index: usize,
    pub cfg: Arc<Config>,
    pub stats: Arc<StatsTable>,
    /// Milliseconds since the worker started, as of the last tick. Reading it
    /// costs nothing, unlike a clock call per request.
    pub now_ms: Cell<u64>,
    pub stopping: Cell<bool>,
    date: Cell<[u8; DATE_LEN]>,
    date_cache: RefCell<DateCache>,
    open: Cell<u64>,
    slots: RefCell<Vec<Rc<Slot>>>,
    accept_cancel: RefCell<Canceller>,
    started: Instant,
}

impl Worker {
    pub fn new(index: usize, cfg: Arc<Config>, stats: Arc<StatsTable>) -> Self {
        let cache = DateCache::new(SystemTime::now());
        Self {
            index,
            cfg,
            stats,
            now_ms: Cell::new(0),
            stopping: Cell::new(false),
            date: Cell::new(*cache.value()),
            date_cache: RefCell::new(cache),
            open: Cell::new(0),
            slots: RefCell::new(Vec::new()),
            accept_cancel: RefCell::new(Canceller::new()),
            started: Instant::now(),
        }
    }

    /// This worker's counters.
    #[inline]
    pub fn my_stats(&self) -> &WorkerStats {
        &self.stats.workers[self.index]
    }

    /// The current Date header value.
    #[inline]
    pub fn date(&self) -> [u8; DATE_LEN] {
        self.date.get()
    }

    /// Registers a new connection's socket with the tick.
    pub fn register(self: &Rc<Self>, fd: RawFd) -> Registration {
        let mut slots = self.slots.borrow_mut();
        let slot = Rc::new(Slot {
            fd,
            index: Cell::new(slots.len()),
            deadline: Cell::new(NEVER),
            idle: Cell::new(false),
            timed_out: Cell::new(false),
        });
        slots.push(slot.clone());
        self.open.set(self.open.get() + 1);
        self.my_stats().set_open(self.open.get());
        Registration {
            worker: self.clone(),
            slot,
        }
    }

    fn deregister(&self, slot: &Slot) {
        let mut slots = self.slots.borrow_mut();
        let i = slot.index.get();
        slots.swap_remove(i);
        if let Some(moved) = slots.get(i) {
            moved.index.set(i);
        }
        self.open.set(self.open.get() - 1);
        self.my_stats().set_open(self.open.get());
    }

    /// One tick: clock, Date, stop flag, deadlines.
    fn tick(&self, stop: &Stop) {
        let now = millis(self.started.elapsed());
        self.now_ms.set(now);
        if self.date_cache.borrow_mut().update(SystemTime::now()) {
            self.date.set(*self.date_cache.borrow().value());
        }
        if stop.is_triggered() && !self.stopping.get() {
            self.begin_stop();
        }
        for slot in self.slots.borrow().iter() {
            if slot.deadline.get() <= now {
                slot.deadline.set(NEVER);
                slot.timed_out.set(true);
                shutdown(slot.fd);
            }
        }
    }

    /// Stops accepting and closes idle connections; busy ones close after
    /// their current response.
    fn begin_stop(&self) {
        self.stopping.set(true);
        std::mem::take(&mut *self.accept_cancel.borrow_mut()).cancel();
        for slot in self.slots.borrow().iter() {
            if slot.idle.get() {
                shutdown(slot.fd);
            }
        }
    }
}

/// Shutting the socket down (not closing it: the connection task owns the fd)
/// makes its pending read or write return at once, with io_uring and epoll alike,
/// so no per-read timer or cancellation is needed.
fn shutdown(fd: RawFd) {
    unsafe {
        libc::shutdown(fd, libc::SHUT_RDWR);
    }
}

/// Keeps a connection known to the tick; dropping it deregisters, which must
/// happen before the socket closes (the fd number could be reused).
pub struct Registration {
    worker: Rc<Worker>,
    pub slot: Rc<Slot>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.worker.deregister(&self.slot);
    }
}

/// Runs one worker until the stop flag is seen and its connections are done.
pub async fn run(worker: Rc<Worker>, listener: std::net::TcpListener, stop: Stop) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            shared::say!(
                "ceiling serve: worker {} could not use its listener: {e}",
                worker.index
            );
            worker.my_stats().add(Counter::Io, 1);
            return;
        }
    };
    monoio::spawn(ticker(worker.clone(), stop));
    let max = worker.cfg.max_conns_per_worker as u64;
    while !worker.stopping.get() {
        let handle = worker.accept_cancel.borrow().handle();
        match listener.cancelable_accept(handle).await {
            Ok((stream, _peer)) => {
                if worker.open.get() >= max {
                    worker.my_stats().add(Counter::Rejected, 1);
                    drop(stream);
                    continue;
                }
                worker.my_stats().add(Counter::ConnectionsAccepted, 1);
                // Responses are written whole, so Nagle would only add delay.
                let _ = stream.set_nodelay(true);
                match &worker.cfg.tls {
                    None => monoio::spawn(conn::serve(worker.clone(), stream)),
                    Some(tls) => {
                        monoio::spawn(conn::serve_tls(worker.clone(), stream, tls.config.clone()))
                    }
                };
            }
            Err(_) if worker.stopping.get() => break,
            Err(e) => {
                worker.my_stats().add(Counter::Io, 1);
                // Out of descriptors or memory: back off instead of spinning.
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
                ) {
                    monoio::time::sleep(TICK).await;
                }
            }
        }
    }
    drop(listener);
    while worker.open.get() > 0 {
        monoio::time::sleep(TICK).await;
    }
}

async fn ticker(worker: Rc<Worker>, stop: Stop) {
    loop {
        monoio::time::sleep(TICK).await;
        worker.tick(&stop);
        if worker.stopping.get() && worker.open.get() == 0 {
            break;
        }
    }
}
