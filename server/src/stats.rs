//! Per-worker counters. Each worker writes only its own cache-line-padded block
//! (plain load + store, no locked instruction, since there is one writer); the
//! stats endpoint and the shutdown summary read every block.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// One worker's counters, alone on its cache lines so workers never share one.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct WorkerStats {
    requests: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
    connections_accepted: AtomicU64,
    connections_open: AtomicU64,
    tls_handshakes: AtomicU64,
    bad_request: AtomicU64,
    header_too_large: AtomicU64,
    body_too_large: AtomicU64,
    timeouts: AtomicU64,
    rejected: AtomicU64,
    io: AtomicU64,
    tls: AtomicU64,
}

/// Which counter to bump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    Requests,
    BytesRead,
    BytesWritten,
    ConnectionsAccepted,
    TlsHandshakes,
    BadRequest,
    HeaderTooLarge,
    BodyTooLarge,
    Timeouts,
    Rejected,
    Io,
    Tls,
}

impl WorkerStats {
    fn cell(&self, c: Counter) -> &AtomicU64 {
        match c {
            Counter::Requests => &self.requests,
            Counter::BytesRead => &self.bytes_read,
            Counter::BytesWritten => &self.bytes_written,
            Counter::ConnectionsAccepted => &self.connections_accepted,
            Counter::TlsHandshakes => &self.tls_handshakes,
            Counter::BadRequest => &self.bad_request,
            Counter::HeaderTooLarge => &self.header_too_large,
            Counter::BodyTooLarge => &self.body_too_large,
            Counter::Timeouts => &self.timeouts,
            Counter::Rejected => &self.rejected,
            Counter::Io => &self.io,
            Counter::Tls => &self.tls,
        }
    }

    /// Adds `n`. Only the owning worker may call this: it is a load and a store,
    /// not an atomic add, which is what keeps it free on the hot path.
    #[inline]
    pub fn add(&self, c: Counter, n: u64) {
        let cell = self.cell(c);
        cell.store(cell.load(Relaxed).wrapping_add(n), Relaxed);
    }

    /// Sets the open-connections gauge (owning worker only).
    #[inline]
    pub fn set_open(&self, n: u64) {
        self.connections_open.store(n, Relaxed);
    }

    /// Reads the counters (any thread).
    pub fn snapshot(&self, cpu: usize) -> WorkerSnapshot {
        WorkerSnapshot {
            cpu,
            counts: Counts {
                requests: self.requests.load(Relaxed),
                bytes_read: self.bytes_read.load(Relaxed),
                bytes_written: self.bytes_written.load(Relaxed),
                connections_accepted: self.connections_accepted.load(Relaxed),
                connections_open: self.connections_open.load(Relaxed),
                tls_handshakes: self.tls_handshakes.load(Relaxed),
                errors: Errors {
                    bad_request: self.bad_request.load(Relaxed),
                    header_too_large: self.header_too_large.load(Relaxed),
                    body_too_large: self.body_too_large.load(Relaxed),
                    timeouts: self.timeouts.load(Relaxed),
                    rejected: self.rejected.load(Relaxed),
                    io: self.io.load(Relaxed),
                    tls: self.tls.load(Relaxed),
                },
            },
        }
    }
}

/// Error counts, as served by `/__ceiling/stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Errors {
    /// Malformed requests answered 400 (or 501 for an unknown transfer coding).
    pub bad_request: u64,
    /// Heads over 16 KiB answered 431.
    pub header_too_large: u64,
    /// Bodies over --max-body answered 413.
    pub body_too_large: u64,
    /// Connections closed by --header-timeout or --idle-timeout.
    pub timeouts: u64,
    /// Connections over --max-conns-per-worker, closed at once.
    pub rejected: u64,
    /// Connections ended by a read or write error (reset, broken pipe).
    pub io: u64,
    /// `--tls` connections that failed the handshake or a record (a bad or
    /// unexpected message, an alert from the client, plain HTTP on the TLS
    /// port, which is answered 400); handshakes cut by --header-timeout count
    /// as timeouts.
    pub tls: u64,
}

/// The counters shared by the totals and each worker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Requests answered, not counting `/__ceiling/stats` itself.
    pub requests: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub connections_accepted: u64,
    pub connections_open: u64,
    /// TLS handshakes completed (full or resumed); 0 without --tls.
    pub tls_handshakes: u64,
    pub errors: Errors,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Self) {
        self.requests += o.requests;
        self.bytes_read += o.bytes_read;
        self.bytes_written += o.bytes_written;
        self.connections_accepted += o.connections_accepted;
        self.connections_open += o.connections_open;
        self.tls_handshakes += o.tls_handshakes;
        self.errors.bad_request += o.errors.bad_request;
        self.errors.header_too_large += o.errors.header_too_large;
        self.errors.body_too_large += o.errors.body_too_large;
        self.errors.timeouts += o.errors.timeouts;
        self.errors.rejected += o.errors.rejected;
        self.errors.io += o.errors.io;
        self.errors.tls += o.errors.tls;
    }
}

/// One worker's counters with the CPU it ran on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WorkerSnapshot {
    pub cpu: usize,
    #[serde(flatten)]
    pub counts: Counts,
}

/// The `/__ceiling/stats` document: totals, then each worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    #[serde(flatten)]
    pub total: Counts,
    pub workers: Vec<WorkerSnapshot>,
}

/// Every worker's block, indexed by worker, plus the CPU each is pinned to.
#[derive(Debug)]
pub struct StatsTable {
    pub workers: Box<[WorkerStats]>,
    pub cpus: Box<[usize]>,
}

impl StatsTable {
    pub fn new(cpus: &[usize]) -> Self {
        Self {
            workers: cpus.iter().map(|_| WorkerStats::default()).collect(),
            cpus: cpus.into(),
        }
    }

    /// Reads every worker's counters and adds them up.
    pub fn snapshot(&self) -> Snapshot {
        let workers: Vec<WorkerSnapshot> = self
            .workers
            .iter()
            .zip(self.cpus.iter())
            .map(|(w, &cpu)| w.snapshot(cpu))
            .collect();
        let mut total = Counts::default();
        for w in &workers {
            total += w.counts;
        }
        Snapshot { total, workers }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_do_not_share_cache_lines() {
        assert!(std::mem::align_of::<WorkerStats>() >= 128);
        assert_eq!(std::mem::size_of::<WorkerStats>() % 128, 0);
    }

    #[test]
    fn snapshot_json_shape() {
        let t = StatsTable::new(&[0, 1]);
        t.workers[0].add(Counter::Requests, 3);
        t.workers[1].add(Counter::Requests, 4);
        t.workers[1].add(Counter::Timeouts, 1);
        t.workers[0].add(Counter::TlsHandshakes, 2);
        t.workers[1].add(Counter::Tls, 1);
        let v = serde_json::to_value(t.snapshot()).unwrap();
        assert_eq!(v["requests"], 7);
        assert_eq!(v["errors"]["timeouts"], 1);
        assert_eq!(v["tls_handshakes"], 2);
        assert_eq!(v["errors"]["tls"], 1);
        assert_eq!(v["workers"][1]["cpu"], 1);
        assert_eq!(v["workers"][1]["requests"], 4);
        assert_eq!(v["workers"][0]["errors"]["io"], 0);
    }
}
