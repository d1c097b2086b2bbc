//! Plain per-worker counters. Workers own theirs; the controller adds them up once
//! at the end (`+=`), so nothing is shared on the hot path.

use serde::{Deserialize, Serialize};
use std::ops::AddAssign;

/// How a request failed. Every failure is exactly one class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The connection could not be established (refused, unreachable, timed out connecting).
    Connect,
    /// Reading failed (reset) or the peer closed in the middle of a response.
    Read,
    /// Writing the request failed.
    Write,
    /// The response did not complete within the timeout (including requests still
    /// pending when the run ended).
    Timeout,
    /// Bytes that are not a valid HTTP/1.x response.
    Invalid,
    /// A Lua script's hook failed (`-s`): not a request error (the request it
    /// would have made was never sent, or its response was complete).
    Script,
    /// A TLS failure after the handshake (a fatal alert, a record that does
    /// not decrypt, a close without close_notify in the middle of a response):
    /// the requests outstanding on the connection.
    Tls,
    /// A TLS handshake that failed (an alert, a refused certificate, no
    /// answer within --timeout): a connection, not a request, like `Connect`.
    TlsHandshake,
}

/// Error counts by class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCounts {
    pub connect: u64,
    pub read: u64,
    pub write: u64,
    pub timeout: u64,
    pub invalid: u64,
    /// Errors in a script's hooks (`request()`, `response()`, `delay()`).
    #[serde(default)]
    pub script: u64,
    /// Requests lost to a TLS failure after the handshake.
    #[serde(default)]
    pub tls: u64,
    /// Handshakes that failed (connections, not requests).
    #[serde(default)]
    pub tls_handshake: u64,
}

impl ErrorCounts {
    #[inline]
    pub fn add(&mut self, class: ErrorClass, n: u64) {
        match class {
            ErrorClass::Connect => self.connect += n,
            ErrorClass::Read => self.read += n,
            ErrorClass::Write => self.write += n,
            ErrorClass::Timeout => self.timeout += n,
            ErrorClass::Invalid => self.invalid += n,
            ErrorClass::Script => self.script += n,
            ErrorClass::Tls => self.tls += n,
            ErrorClass::TlsHandshake => self.tls_handshake += n,
        }
    }

    pub fn total(&self) -> u64 {
        self.connect
            + self.read
            + self.write
            + self.timeout
            + self.invalid
            + self.script
            + self.tls
            + self.tls_handshake
    }

    /// Connections that never carried a request: connects and TLS handshakes
    /// that failed.
    pub fn connection_errors(&self) -> u64 {
        self.connect + self.tls_handshake
    }
}

impl AddAssign for ErrorCounts {
    fn add_assign(&mut self, o: Self) {
        self.connect += o.connect;
        self.read += o.read;
        self.write += o.write;
        self.timeout += o.timeout;
        self.invalid += o.invalid;
        self.script += o.script;
        self.tls += o.tls;
        self.tls_handshake += o.tls_handshake;
    }
}

/// Completed responses by status class (final responses only; 1xx interim
/// responses are skipped by the framer and counted in `informational`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    pub informational: u64,
    pub success: u64,
    pub redirect: u64,
    pub client_error: u64,
    pub server_error: u64,
    /// Status codes outside 100..=599.
    pub other: u64,
}

impl StatusCounts {
    #[inline]
    pub fn record(&mut self, status: u16) {
        match status {
            100..=199 => self.informational += 1,
            200..=299 => self.success += 1,
            300..=399 => self.redirect += 1,
            400..=499 => self.client_error += 1,
            500..=599 => self.server_error += 1,
            _ => self.other += 1,
        }
    }

    /// What wrk prints as "Non-2xx or 3xx responses".
    pub fn non_2xx_3xx(&self) -> u64 {
        self.client_error + self.server_error + self.other
    }
}

impl AddAssign for StatusCounts {
    fn add_assign(&mut self, o: Self) {
        self.informational += o.informational;
        self.success += o.success;
        self.redirect += o.redirect;
        self.client_error += o.client_error;
        self.server_error += o.server_error;
        self.other += o.other;
    }
}

/// A worker's (or a whole run's) counters.
///
/// Accounting identity, checked by tests: `sent == completed + errors.total_request_errors + in_flight_at_stop`
/// where request errors are read, write, timeout, invalid and tls (connect and
/// TLS handshake errors happen before a request is sent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Requests written (or handed to the kernel) in full or in part.
    pub sent: u64,
    /// Requests whose final response was read completely (any status).
    pub completed: u64,
    /// Requests that were sent but neither completed nor failed when the run stopped
    /// (stopped by `-n` reaching its count, Ctrl-C, or the duration ending; the ones
    /// older than the timeout are counted as timeouts instead).
    pub in_flight_at_stop: u64,
    /// Response bytes read, heads and bodies.
    pub bytes_read: u64,
    /// Request bytes written.
    pub bytes_written: u64,
    /// Connections opened successfully.
    pub connects: u64,
    /// Connections reopened after the server closed or an error.
    pub reconnects: u64,
    pub status: StatusCounts,
    pub errors: ErrorCounts,
}

impl Counters {
    /// Requests that were sent and failed (connect errors are not requests).
    pub fn request_errors(&self) -> u64 {
        self.errors.read
            + self.errors.write
            + self.errors.timeout
            + self.errors.invalid
            + self.errors.tls
    }

    /// True when every sent request is accounted for exactly once.
    pub fn balanced(&self) -> bool {
        self.sent == self.completed + self.request_errors() + self.in_flight_at_stop
    }
}

impl AddAssign for Counters {
    fn add_assign(&mut self, o: Self) {
        self.sent += o.sent;
        self.completed += o.completed;
        self.in_flight_at_stop += o.in_flight_at_stop;
        self.bytes_read += o.bytes_read;
        self.bytes_written += o.bytes_written;
        self.connects += o.connects;
        self.reconnects += o.reconnects;
        self.status += o.status;
        self.errors += o.errors;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_and_balances() {
        let mut a = Counters {
            sent: 10,
            completed: 7,
            in_flight_at_stop: 1,
            ..Default::default()
        };
        a.errors.add(ErrorClass::Timeout, 2);
        a.errors.add(ErrorClass::Connect, 5);
        assert!(a.balanced());
        let mut b = a;
        b += a;
        assert_eq!(b.sent, 20);
        assert_eq!(b.errors.connect, 10);
        assert!(b.balanced());
    }

    #[test]
    fn status_classes() {
        let mut s = StatusCounts::default();
        for code in [200, 204, 301, 404, 503, 700] {
            s.record(code);
        }
        assert_eq!(s.success, 2);
        assert_eq!(s.non_2xx_3xx(), 3);
    }
}
