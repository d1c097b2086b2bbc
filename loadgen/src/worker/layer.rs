//! The per-connection layer on the core's seam: plain bytes pass straight
//! through; `https://` connections go through one rustls `ClientConnection`
//! each (sans-IO: `read_tls`/`process_new_packets`/`reader()` in,
//! `writer()`/`write_tls` out), between the driver's socket bytes and the
//! [`Core`]'s plaintext HTTP/1.1 stream. Both drivers (the direct io_uring loop
//! and the monoio tasks) hold a [`Layered`] core and call the same methods they
//! would call on the core, so TLS is written once for every engine and the
//! core stays the one place that counts requests.
//!
//! What the layer owns:
//! - the handshake: it starts when the TCP connection opens, its bytes are the
//!   layer's own writes, and the core hears of the connection
//!   ([`Core::opened`]) only when it is done, so the core's first request
//!   goes out with (or right after) the client's Finished;
//! - the handshake's time (µs, from the ClientHello handed to the socket to
//!   its end),
//!   whether it was full or resumed, and what the first one agreed on;
//! - TLS failures: a failed handshake (an alert, a refused certificate, no
//!   answer within --timeout, a close or reset mid-handshake) is a connection
//!   that never carried a request (`tls_handshake`), retried after the
//!   core's connect backoff; a failure after it (a fatal alert, a record that
//!   does not decrypt, a close without close_notify while a response is
//!   outstanding) fails the outstanding requests as `tls`. Each cause is
//!   counted by name ([`TlsTotals::failures`]).
//!
//! A session the core ends (nothing more to send or to wait for) ends with
//! the layer's last bytes: close_notify (RFC 8446 §6.1), after the client's
//! Finished when a connection that never carried a request still had it to
//! send, so the server sees a clean close, not a handshake cut short.
//!
//! A close without close_notify on an idle connection is no error (servers
//! commonly close idle keep-alive connections so); with a response outstanding
//! it is, since the response may have been cut short (RFC 8446 §6.1).

use super::core::{Core, End, Next};
use super::WorkerResult;
use crate::progress::Published;
use crate::result::TlsTotals;
use crate::tls::{Negotiated, TlsClient};
use rustls::ClientConnection;
use shared::stats::layout::record_clamped;
use shared::stats::ErrorClass;
use std::io::BufRead;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The worker's core behind its per-connection layer. Derefs to the [`Core`]
/// for everything that is not a connection's bytes (the budget, the stop,
/// connect backoff, pacing queries).
pub(crate) struct Layered {
    core: Core,
    tls: Option<Box<TlsLayer>>,
}

/// The TLS state of a worker's connections.
struct TlsLayer {
    client: Arc<TlsClient>,
    /// One per connection; None while it has no TCP connection.
    links: Vec<Option<Box<Link>>>,
    totals: TlsTotals,
    /// --timeout: the longest a handshake may take.
    timeout: Duration,
}

/// A TLS connection's handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The TCP connection is open; the ClientHello has not gone out yet (a
    /// distributed node opens its connections before T0 and begins their
    /// handshakes at T0: the wait is neither handshake time nor a timeout).
    Opened,
    /// The ClientHello went out at this instant: the handshake's clock and
    /// its --timeout run from it.
    Hello(Instant),
    /// The handshake is done: the core's session runs.
    Done,
}

/// One TLS connection.
struct Link {
    tls: ClientConnection,
    /// Ciphertext handed to the driver: unchanged until it reports the write.
    out: Vec<u8>,
    /// The core's write inside `out`: its plaintext length (None: the layer's
    /// own bytes only, e.g. the ClientHello).
    plain: Option<usize>,
    /// Where the handshake is.
    phase: Phase,
    /// The handshake ran past --timeout and the socket was shut down.
    timed_out: bool,
    /// The core ended the session (this decision) and the layer's last bytes
    /// (its Finished, if still unsent, and close_notify) are being written.
    ending: Option<End>,
}

impl Deref for Layered {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.core
    }
}

impl DerefMut for Layered {
    fn deref_mut(&mut self) -> &mut Core {
        &mut self.core
    }
}

impl Layered {
    /// `core` behind TLS when `tls` is given (an `https://` run), else plain;
    /// `timeout` bounds each handshake.
    pub fn new(core: Core, tls: Option<Arc<TlsClient>>, timeout: Duration) -> Self {
        let n = core.connections();
        Self {
            tls: tls.map(|client| {
                Box::new(TlsLayer {
                    client,
                    links: (0..n).map(|_| None).collect(),
                    totals: TlsTotals::new(),
                    timeout,
                })
            }),
            core,
        }
    }

    /// Connection `i`'s TCP connection opened at `now`: plain, the core's
    /// session begins; TLS, the handshake does (the core's once it is done).
    #[inline]
    pub fn opened(&mut self, i: usize, now: Instant) {
        let Some(t) = &mut self.tls else {
            return self.core.opened(i, now);
        };
        match ClientConnection::new(t.client.config.clone(), t.client.name.clone()) {
            Ok(mut tls) => {
                // Plaintext queued before the handshake ends is bounded by the
                // pipeline depth; received plaintext is drained every read.
                tls.set_buffer_limit(None);
                t.links[i] = Some(Box::new(Link {
                    tls,
                    out: Vec::new(),
                    plain: None,
                    phase: Phase::Opened,
                    timed_out: false,
                    ending: None,
                }));
            }
            // Cannot happen with a config that built; counted, not a panic.
            Err(e) => t.totals.fail(&cause(&e), 1),
        }
    }

    /// What connection `i` writes next (see [`Core::poll_send`]): during the
    /// handshake the layer's own bytes; then the core's requests, encrypted,
    /// with whatever the layer still has to send in front of them.
    #[inline]
    pub fn poll_send(&mut self, i: usize, now: Instant) -> Next<'_> {
        let Some(t) = &mut self.tls else {
            return self.core.poll_send(i, now);
        };
        let Some(link) = t.links[i].as_deref_mut() else {
            // The link could not be made: end the session as a failed handshake.
            return Next::End(handshake_end(&mut self.core, i, now));
        };
        if let Some(end) = link.ending {
            return Next::End(end);
        }
        if link.phase == Phase::Done {
            match self.core.poll_send(i, now) {
                Next::Write(bytes) => {
                    // Encrypted into rustls's send buffer, which has no limit
                    // (set at the open): this cannot fail.
                    let _ = std::io::Write::write_all(&mut link.tls.writer(), bytes);
                    link.plain = Some(bytes.len());
                }
                // The core has nothing more to send nor to wait for: close the
                // TLS session as RFC 8446 §6.1 asks, with close_notify (after
                // the client's Finished, if a connection that never carried a
                // request still had it to send), so the server sees a clean
                // close rather than a handshake cut short or a reset.
                Next::End(end) => {
                    link.tls.send_close_notify();
                    link.ending = Some(end);
                }
                other if !link.tls.wants_write() => return other,
                // The layer has bytes of its own to send (an alert, a key
                // update's answer) before it waits or sleeps.
                _ => {}
            }
        }
        if !link.tls.wants_write() {
            return Next::Await;
        }
        if link.phase == Phase::Opened {
            link.phase = Phase::Hello(now);
        }
        link.out.clear();
        while link.tls.wants_write() {
            if link.tls.write_tls(&mut link.out).is_err() {
                break;
            }
        }
        Next::Write(&link.out)
    }

    /// The write handed out for connection `i` went out in full (`bytes` long,
    /// ciphertext for TLS).
    #[inline]
    pub fn written(&mut self, i: usize, bytes: usize) {
        let Some(t) = &mut self.tls else {
            return self.core.written(i, bytes);
        };
        if let Some(plain) = t.links[i].as_mut().and_then(|l| l.plain.take()) {
            // What the core counts is its own (plaintext) bytes.
            self.core.written(i, plain);
        }
    }

    /// The write handed out for connection `i` failed at `now`.
    pub fn write_failed(&mut self, i: usize, now: Instant) -> End {
        let Some(t) = &mut self.tls else {
            return self.core.write_failed(i);
        };
        match t.links[i].as_deref_mut() {
            Some(l) if l.phase != Phase::Done => {
                self.handshake_failed(i, now, "the connection failed during the handshake")
            }
            // The last bytes of a session the core had ended: nothing lost.
            Some(l) if l.ending.is_some() => l.ending.unwrap_or(End::Done),
            Some(l) => {
                l.plain = None;
                self.core.write_failed(i)
            }
            None => handshake_end(&mut self.core, i, now),
        }
    }

    /// Connection `i` received `data` at `now` (see [`Core::received`]).
    #[inline]
    pub fn received(&mut self, i: usize, data: &[u8], now: Instant) -> Option<End> {
        let Some(t) = &mut self.tls else {
            return self.core.received(i, data, now);
        };
        let Some(link) = t.links[i].as_deref_mut() else {
            return Some(handshake_end(&mut self.core, i, now));
        };
        if let Some(end) = link.ending {
            // Closing: what still comes (session tickets) is of no use.
            return Some(end);
        }
        let mut rest = data;
        while !rest.is_empty() {
            if let Err(e) = link.tls.read_tls(&mut rest) {
                let why = format!("unreadable TLS input: {e}");
                return Some(self.tls_failed(i, now, &why));
            }
            let state = match link.tls.process_new_packets() {
                Ok(s) => s,
                // A plain-HTTP answer to the ClientHello: say so, as the
                // preflight does, rather than rustls's "corrupt message".
                Err(_) if link.phase != Phase::Done && data.starts_with(b"HTTP/") => {
                    return Some(self.tls_failed(i, now, PLAIN_HTTP));
                }
                Err(e) => return Some(self.tls_failed(i, now, &cause(&e))),
            };
            let (closed, mut pending) = (state.peer_has_closed(), state.plaintext_bytes_to_read());
            if link.phase != Phase::Done {
                if link.tls.is_handshaking() {
                    continue;
                }
                let since = match link.phase {
                    Phase::Hello(at) => at,
                    _ => now,
                };
                link.phase = Phase::Done;
                let us = now.saturating_duration_since(since).as_micros() as u64;
                record_clamped(&mut t.totals.handshake, us);
                if matches!(
                    link.tls.handshake_kind(),
                    Some(rustls::HandshakeKind::Resumed)
                ) {
                    t.totals.resumed += 1;
                } else {
                    t.totals.full += 1;
                }
                if t.totals.negotiated.is_none() {
                    t.totals.negotiated = Some(Negotiated::of(&link.tls));
                }
                self.core.opened(i, now);
            }
            // The plaintext, read in place (no copy) and handed to the core.
            while pending > 0 {
                let mut reader = link.tls.reader();
                let chunk = match reader.fill_buf() {
                    Ok(c) if !c.is_empty() => c,
                    _ => break,
                };
                let n = chunk.len();
                let end = self.core.received(i, chunk, now);
                reader.consume(n);
                pending = pending.saturating_sub(n);
                if end.is_some() {
                    return end;
                }
            }
            if closed {
                // close_notify: the server ended the session cleanly; what is
                // still outstanding was cut off (a read error, as over TCP).
                return Some(self.core.eof(i, now));
            }
        }
        None
    }

    /// The peer closed connection `i`'s TCP connection at `now`.
    pub fn eof(&mut self, i: usize, now: Instant) -> End {
        if self.tls.is_none() {
            return self.core.eof(i, now);
        }
        if let Some(end) = self.ended(i, now, "closed by the server during the handshake") {
            return end;
        }
        if self.core.outstanding(i) && !self.core.shut_down(i) {
            let why = "closed without close_notify while a response was outstanding";
            return self.tls_failed(i, now, why);
        }
        self.core.eof(i, now)
    }

    /// Reading connection `i` failed at `now` (reset, or shut down at a
    /// deadline or the stop).
    pub fn read_failed(&mut self, i: usize, now: Instant) -> End {
        if self.tls.is_none() {
            return self.core.read_failed(i);
        }
        match self.ended(i, now, "the connection failed during the handshake") {
            Some(end) => end,
            None => self.core.read_failed(i),
        }
    }

    /// A TLS connection `i`'s socket ended at `now` (a close or a failed
    /// read) where the layer decides: a session already ending, a handshake
    /// in progress (failed for `why`, or for the --timeout it ran past), no
    /// link. None: the core's to decide.
    fn ended(&mut self, i: usize, now: Instant, why: &str) -> Option<End> {
        let l = self.tls.as_ref()?.links[i].as_deref();
        match l {
            Some(l) if l.ending.is_some() => l.ending,
            Some(l) if l.phase != Phase::Done => {
                let why = if l.timed_out {
                    "no handshake within --timeout"
                } else {
                    why
                };
                Some(self.handshake_failed(i, now, why))
            }
            Some(_) => None,
            None => Some(handshake_end(&mut self.core, i, now)),
        }
    }

    /// Connection `i`'s socket is closed: forgets its TLS state, and the
    /// core's session if it had begun.
    pub fn closed(&mut self, i: usize) {
        let Some(t) = &mut self.tls else {
            return self.core.closed(i);
        };
        let began = t.links[i].take().is_some_and(|l| l.phase == Phase::Done);
        if began {
            self.core.closed(i);
        }
    }

    /// Every tick: the core's clock, and handshakes past --timeout shut down
    /// (`shut`) so their reads end.
    pub fn tick(&mut self, now: Instant, board: &Published, mut shut: impl FnMut(usize)) {
        self.core.tick(now, board, &mut shut);
        let Some(t) = &mut self.tls else {
            return;
        };
        if self.core.stopping() {
            return;
        }
        for (i, l) in t.links.iter_mut().enumerate() {
            if let Some(l) = l.as_deref_mut() {
                let due = matches!(l.phase, Phase::Hello(at) if now.saturating_duration_since(at) >= t.timeout);
                if !l.timed_out && due {
                    l.timed_out = true;
                    shut(i);
                }
            }
        }
    }

    /// Every connection is done: the core's result with the TLS totals.
    pub fn finish(&mut self, now: Instant, cpu: Option<usize>) -> WorkerResult {
        let mut r = self.core.finish(now, cpu);
        r.tls = self.tls.take().map(|t| t.totals);
        r
    }

    /// The handshake of connection `i` failed at `now` for `why`: counted
    /// unless the stop shut it down; the connection retries after the
    /// core's connect backoff, or gives up.
    fn handshake_failed(&mut self, i: usize, now: Instant, why: &str) -> End {
        if let Some(t) = &mut self.tls {
            if let Some(l) = t.links[i].as_deref_mut() {
                // Ended here: nothing more is sent on it.
                l.plain = None;
            }
            if !(self.core.stopping() || self.core.finished_sending()) {
                t.totals.fail(why, 1);
            }
        }
        handshake_end(&mut self.core, i, now)
    }

    /// A TLS failure on connection `i` after its handshake (or during it):
    /// the outstanding requests fail as `tls` (timeouts and the stop still
    /// take precedence, as for any read failure).
    fn tls_failed(&mut self, i: usize, now: Instant, why: &str) -> End {
        let handshaking = self
            .tls
            .as_ref()
            .is_some_and(|t| t.links[i].as_ref().is_some_and(|l| l.phase != Phase::Done));
        if handshaking {
            return self.handshake_failed(i, now, why);
        }
        if let Some(t) = &mut self.tls {
            if !self.core.shut_down(i) {
                t.totals.fail(why, 1);
            }
        }
        self.core.layer_failed(i, ErrorClass::Tls)
    }
}

/// The end of a session whose handshake failed at `now`: a failed handshake
/// for the core (backoff, or give up), nothing when the stop or the end of
/// `-n` ended it.
fn handshake_end(core: &mut Core, i: usize, now: Instant) -> End {
    if core.stopping() || core.finished_sending() {
        return End::Done;
    }
    match core.setup_failed(i, now, ErrorClass::TlsHandshake) {
        Some(at) => End::Backoff(at),
        None => End::Done,
    }
}

/// The cause of a handshake answered with plain HTTP.
const PLAIN_HTTP: &str = "the server answered plain HTTP, not TLS (use http://)";

/// A rustls error as a short cause: the alert's or the certificate
/// problem's name, else its text.
fn cause(e: &rustls::Error) -> String {
    match e {
        rustls::Error::AlertReceived(a) => format!("alert {a:?} from the server"),
        rustls::Error::InvalidCertificate(c) => format!("certificate refused: {c:?}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    //! The layer with no sockets: a rustls server in memory, virtual time.
    use super::*;
    use crate::progress::Board;
    use crate::worker::core::tests::{core, setup};
    use rustls::pki_types::ServerName;
    use rustls::{ServerConfig, ServerConnection};
    use std::io::{Read, Write};

    const GET: &str = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

    fn server_config(validity: shared::tls::Validity) -> Arc<ServerConfig> {
        let ck = shared::tls::self_signed(&["localhost".to_string()], validity).unwrap();
        let mut cfg = ServerConfig::builder_with_provider(shared::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(ck.chain, ck.key)
            .unwrap();
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(cfg)
    }

    /// `-k`, or trusting only a CA that signed nothing the server has.
    fn client(insecure: bool) -> Arc<TlsClient> {
        let config = if insecure {
            crate::tls::client_config(
                &crate::tls::ClientTlsOptions {
                    insecure: true,
                    ..Default::default()
                },
                1,
            )
            .unwrap()
        } else {
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(shared::tls::TestCa::new().unwrap().ca_der())
                .unwrap();
            Arc::new(
                rustls::ClientConfig::builder_with_provider(shared::tls::provider())
                    .with_safe_default_protocol_versions()
                    .unwrap()
                    .with_root_certificates(roots)
                    .with_no_client_auth(),
            )
        };
        Arc::new(TlsClient {
            config,
            name: ServerName::try_from("localhost").unwrap(),
        })
    }

    /// A layered core of one connection: `-n requests`, `-p pipeline`.
    fn layered(requests: Option<u64>, pipeline: usize, insecure: bool) -> (Layered, Instant) {
        let t0 = Instant::now();
        let c = core(setup(requests, 1, pipeline, GET), t0);
        (
            Layered::new(c, Some(client(insecure)), Duration::from_secs(2)),
            t0,
        )
    }

    /// What the in-memory server does with each request it reads.
    enum Answer {
        Full,
        /// The head claims 10 bytes of body; 3 are sent.
        Truncated,
    }

    /// Moves bytes both ways until neither side has anything more: the
    /// server answers every request it reads; Some when the client's
    /// session ended.
    fn exchange(
        l: &mut Layered,
        s: &mut ServerConnection,
        now: Instant,
        answer: Answer,
    ) -> Option<End> {
        loop {
            let mut moved = false;
            match l.poll_send(0, now) {
                Next::Write(bytes) => {
                    let bytes = bytes.to_vec();
                    l.written(0, bytes.len());
                    s.read_tls(&mut &bytes[..]).unwrap();
                    s.process_new_packets().unwrap();
                    let mut plain = Vec::new();
                    let _ = s.reader().read_to_end(&mut plain);
                    let n = plain.windows(4).filter(|w| w == b"GET ").count();
                    for _ in 0..n {
                        match answer {
                            Answer::Full => s.writer().write_all(OK).unwrap(),
                            Answer::Truncated => s
                                .writer()
                                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
                                .unwrap(),
                        }
                    }
                    moved = true;
                }
                Next::End(end) => return Some(end),
                Next::Await | Next::Sleep(_) => {}
            }
            if s.wants_write() {
                let mut out = Vec::new();
                while s.wants_write() {
                    s.write_tls(&mut out).unwrap();
                }
                if let Some(end) = l.received(0, &out, now) {
                    return Some(end);
                }
                moved = true;
            }
            if !moved {
                return None;
            }
        }
    }

    #[test]
    fn a_handshake_then_exact_requests_pipelined() {
        let (mut l, t0) = layered(Some(40), 16, true);
        let mut s = ServerConnection::new(server_config(shared::tls::Validity::Long)).unwrap();
        l.opened(0, t0);
        // The core hears of the connection only when the handshake is done.
        assert_eq!(l.counters().connects, 0);
        // The ClientHello goes out later (a node's connections wait for T0):
        // the handshake's clock starts then, not at the TCP connection's open.
        let t1 = t0 + Duration::from_millis(500);
        let hello = match l.poll_send(0, t1) {
            Next::Write(b) => b.to_vec(),
            other => panic!("{other:?}"),
        };
        l.written(0, hello.len());
        s.read_tls(&mut &hello[..]).unwrap();
        s.process_new_packets().unwrap();
        let end = exchange(&mut l, &mut s, t1 + Duration::from_millis(3), Answer::Full);
        assert_eq!(end, Some(End::Done));
        // The session ended with close_notify (after the last response).
        assert!(s.process_new_packets().unwrap().peer_has_closed());
        let c = *l.counters();
        assert_eq!((c.sent, c.completed, c.connects), (40, 40, 1));
        assert!(c.balanced(), "{c:?}");
        // Plaintext is what the core counts: 40 requests' bytes.
        assert_eq!(c.bytes_written, 40 * GET.len() as u64);
        l.closed(0);
        l.done(0);
        let r = l.finish(t0 + Duration::from_millis(4), None);
        let t = r.tls.unwrap();
        assert_eq!((t.full, t.resumed), (1, 0));
        assert_eq!(t.handshake.len(), 1);
        let us = t.handshake.max();
        assert!(
            (2_995..=3_005).contains(&us),
            "µs from the open to the end: {us}"
        );
        let n = t.negotiated.unwrap();
        assert_eq!(n.alpn.as_deref(), Some("http/1.1"));
        assert!(n.version.starts_with("TLSv1_"), "{}", n.version);
        assert!(t.failures.is_empty());
    }

    #[test]
    fn a_close_without_close_notify_mid_response_is_a_tls_error() {
        let (mut l, t0) = layered(None, 1, true);
        let mut s = ServerConnection::new(server_config(shared::tls::Validity::Long)).unwrap();
        l.opened(0, t0);
        assert_eq!(exchange(&mut l, &mut s, t0, Answer::Truncated), None);
        // The TCP connection ends with no close_notify, the body cut short.
        let end = l.eof(0, t0);
        assert_eq!(end, End::Reconnect);
        let c = *l.counters();
        assert_eq!((c.errors.tls, c.errors.read, c.completed), (1, 0, 0));
        assert!(c.balanced(), "{c:?}");
        l.closed(0);
        l.done(0);
        let t = l.finish(t0, None).tls.unwrap();
        assert_eq!(
            t.failures.keys().collect::<Vec<_>>(),
            ["closed without close_notify while a response was outstanding"]
        );
    }

    #[test]
    fn close_notify_mid_response_is_a_read_error() {
        let (mut l, t0) = layered(None, 1, true);
        let mut s = ServerConnection::new(server_config(shared::tls::Validity::Long)).unwrap();
        l.opened(0, t0);
        assert_eq!(exchange(&mut l, &mut s, t0, Answer::Truncated), None);
        // A clean TLS close: the HTTP message was cut off, the TLS layer was fine.
        s.send_close_notify();
        let mut out = Vec::new();
        s.write_tls(&mut out).unwrap();
        assert_eq!(l.received(0, &out, t0), Some(End::Reconnect));
        let c = *l.counters();
        assert_eq!((c.errors.tls, c.errors.read), (0, 1));
        assert!(c.balanced(), "{c:?}");
    }

    #[test]
    fn an_idle_close_without_close_notify_is_no_error() {
        let (mut l, t0) = layered(None, 1, true);
        let mut s = ServerConnection::new(server_config(shared::tls::Validity::Long)).unwrap();
        l.opened(0, t0);
        // Handshake only: the core opened, nothing outstanding yet.
        let hello = match l.poll_send(0, t0) {
            Next::Write(b) => b.to_vec(),
            other => panic!("{other:?}"),
        };
        l.written(0, hello.len());
        s.read_tls(&mut &hello[..]).unwrap();
        s.process_new_packets().unwrap();
        let mut out = Vec::new();
        while s.wants_write() {
            s.write_tls(&mut out).unwrap();
        }
        assert_eq!(l.received(0, &out, t0), None);
        assert_eq!(l.counters().connects, 1);
        assert_eq!(l.eof(0, t0), End::Reconnect);
        assert_eq!(l.counters().errors.total(), 0);
    }

    #[test]
    fn a_refused_certificate_is_a_failed_handshake_that_backs_off() {
        let (mut l, t0) = layered(Some(5), 1, false);
        let mut s = ServerConnection::new(server_config(shared::tls::Validity::Long)).unwrap();
        l.opened(0, t0);
        let end = exchange(&mut l, &mut s, t0, Answer::Full);
        let Some(End::Backoff(at)) = end else {
            panic!("{end:?}")
        };
        assert!(at > t0, "a pause before the next try");
        let c = *l.counters();
        assert_eq!((c.errors.tls_handshake, c.errors.tls, c.sent), (1, 0, 0));
        assert_eq!(c.connects, 0);
        l.closed(0);
        l.done(0);
        let t = l.finish(t0, None).tls.unwrap();
        assert_eq!(
            t.failures.keys().collect::<Vec<_>>(),
            ["certificate refused: UnknownIssuer"]
        );
        assert_eq!(t.full + t.resumed, 0);
    }

    #[test]
    fn a_stalled_handshake_ends_at_the_timeout() {
        let (mut l, t0) = layered(None, 1, true);
        l.opened(0, t0);
        assert!(matches!(l.poll_send(0, t0), Next::Write(_)));
        l.written(0, 1);
        assert_eq!(l.poll_send(0, t0), Next::Await);
        let board = Board::new(1);
        let mut shut = Vec::new();
        l.tick(t0 + Duration::from_millis(1990), &board.workers[0], |i| {
            shut.push(i)
        });
        assert!(shut.is_empty());
        l.tick(t0 + Duration::from_secs(2), &board.workers[0], |i| {
            shut.push(i)
        });
        assert_eq!(shut, [0]);
        // The shut-down socket's read ends.
        let end = l.read_failed(0, t0 + Duration::from_secs(2));
        assert!(matches!(end, End::Backoff(_)), "{end:?}");
        assert_eq!(l.counters().errors.tls_handshake, 1);
        l.closed(0);
        l.done(0);
        let t = l.finish(t0, None).tls.unwrap();
        assert_eq!(t.failures["no handshake within --timeout"], 1);
    }

    #[test]
    fn a_connection_waiting_for_the_start_has_no_handshake_timeout() {
        // A distributed node opens its connections before T0 and sends the
        // ClientHello at T0: the wait is not a stalled handshake.
        let (mut l, t0) = layered(None, 1, true);
        l.opened(0, t0);
        let board = Board::new(1);
        let mut shut = Vec::new();
        l.tick(t0 + Duration::from_secs(10), &board.workers[0], |i| {
            shut.push(i)
        });
        assert!(shut.is_empty());
        let t1 = t0 + Duration::from_secs(10);
        assert!(matches!(l.poll_send(0, t1), Next::Write(_)));
        l.tick(t1 + Duration::from_secs(2), &board.workers[0], |i| {
            shut.push(i)
        });
        assert_eq!(shut, [0]);
    }

    #[test]
    fn plain_bytes_pass_straight_through() {
        let t0 = Instant::now();
        let mut l = Layered::new(
            core(setup(Some(1), 1, 1, GET), t0),
            None,
            Duration::from_secs(2),
        );
        l.opened(0, t0);
        match l.poll_send(0, t0) {
            Next::Write(b) => assert_eq!(b, GET.as_bytes()),
            other => panic!("{other:?}"),
        }
        l.written(0, GET.len());
        assert_eq!(l.received(0, OK, t0), None);
        assert_eq!(l.counters().completed, 1);
        assert!(l.finish(t0, None).tls.is_none());
    }
}
