//! A std-only TLS test server that behaves or misbehaves on purpose, for the generator's
//! `https://` tests (tls_client.rs): rustls's `ServerConnection` over a blocking `TcpStream`,
//! one thread per connection, certificates from `shared::tls` (rcgen).
//!
//! [`TlsPeer::start`] binds 127.0.0.1:0 and returns once the listener exists, so its address is
//! ready to use. Dropping the peer sets a stop flag, wakes the accept loop by connecting to
//! itself, shuts down every open connection and joins every thread it started.
//!
//! Also [`get`]: one request over TLS to a server whose certificate is not checked (the
//! handshake signatures still are), to read `ceiling serve --tls`'s `/__ceiling/stats`.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, ServerConfig, ServerConnection,
    SignatureScheme, StreamOwned,
};

use super::misbehave::parse_request;

/// What the peer does on each connection (after the first [`PeerOptions::good_first`], which
/// are always [`Mode::Valid`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A correct TLS server: keep-alive `200 OK` with the 2-byte body `ok` to every request;
    /// a request with `Connection: close` gets its answer, close_notify, and the close.
    Valid,
    /// A correct TLS server that waits [`SLOW_HANDSHAKE`] after the ClientHello arrives
    /// before it answers: every handshake takes at least that long; requests are then answered
    /// as [`Mode::Valid`] does.
    SlowHandshake,
    /// No TLS at all: reads what comes (a ClientHello), answers `HTTP/1.1 400 Bad Request`
    /// and closes, as a plain-HTTP server on the port does.
    PlainHttp,
    /// Reads the ClientHello and never answers; the connection stays open until the client
    /// closes it or the peer is dropped.
    StallHandshake,
    /// Reads the ClientHello and closes the TCP connection (FIN, no alert).
    CloseInHandshake,
    /// A good handshake; each request is answered with `Content-Length: 1000` and 500 body
    /// bytes, then the TCP connection is closed: with close_notify first, or without it.
    TruncatedBody { close_notify: bool },
    /// A good handshake; each request gets a complete `200 OK` with `Connection: close`, then
    /// the TCP connection is closed: with close_notify first, or without it (as many servers
    /// do at a keep-alive timeout; nothing is outstanding, so it is no error).
    CloseAfterResponse { close_notify: bool },
    /// A correct keep-alive server that closes a connection idle for [`IDLE_CLOSE`] after an
    /// answer, as a keep-alive timeout does: with close_notify first, or without it (as many
    /// servers do; nothing is outstanding, so it is no error).
    ClosesWhenIdle { close_notify: bool },
    /// A good handshake; the request is answered with a fatal alert, encrypted as the
    /// connection's records are (rustls's own `bad_record_mac`, provoked by feeding the server
    /// side a record that does not decrypt), then the TCP connection is closed.
    AlertAfterRequest,
    /// A good handshake; the request is answered with an application-data record that does
    /// not decrypt (32 bytes of `A`), then the peer waits for the client to close.
    GarbageRecord,
}

/// How long a [`Mode::SlowHandshake`] server waits before it starts the handshake.
pub const SLOW_HANDSHAKE: Duration = Duration::from_millis(200);

/// How long a [`Mode::ClosesWhenIdle`] connection may wait for its next request.
pub const IDLE_CLOSE: Duration = Duration::from_millis(50);

/// The head and the 500 of 1000 body bytes of a [`Mode::TruncatedBody`] answer.
pub const TRUNCATED_HEAD: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n";
pub const TRUNCATED_SENT: usize = 500;

const OK_SMALL: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
const OK_CLOSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
const PLAIN_400: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\nBad Request\n";
/// An application-data record (type 23, TLS 1.2 legacy version) of 32 bytes no key decrypts.
const GARBAGE_RECORD: &[u8] = b"\x17\x03\x03\x00\x20AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// How the peer is set up.
pub struct PeerOptions {
    pub mode: Mode,
    /// The chain (leaf first) and key the peer presents.
    pub cert: shared::tls::CertifiedKey,
    /// The first this many connections are served as [`Mode::Valid`] whatever `mode`: the
    /// generator's preflight handshake succeeds and the load's connections meet `mode`.
    pub good_first: u64,
    /// Offer TLS 1.2 only (else 1.3 and 1.2).
    pub tls12_only: bool,
    /// mTLS: require a client certificate issued by this CA.
    pub client_ca: Option<rustls::pki_types::CertificateDer<'static>>,
}

impl PeerOptions {
    /// `mode` with a fresh self-signed certificate for 127.0.0.1 and localhost, TLS 1.3 and 1.2.
    pub fn new(mode: Mode) -> PeerOptions {
        let names: Vec<String> = shared::tls::LOOPBACK_NAMES
            .iter()
            .map(|s| s.to_string())
            .collect();
        PeerOptions {
            mode,
            cert: shared::tls::self_signed(&names, shared::tls::Validity::Long)
                .expect("self-signed certificate"),
            good_first: 0,
            tls12_only: false,
            client_ca: None,
        }
    }
}

/// What [`TlsPeer`] counts; every field only grows.
#[derive(Debug, Default)]
pub struct Counts {
    /// TCP connections accepted (the stop wake-up connection excluded).
    pub accepted: AtomicU64,
    /// Handshakes completed by the server side.
    pub handshakes: AtomicU64,
    /// ... of which resumed a session.
    pub resumed: AtomicU64,
    /// Complete requests read over TLS.
    pub received: AtomicU64,
    /// Requests answered (counted before the answer is written, complete or not).
    pub answered: AtomicU64,
    /// The server name (SNI) of every ClientHello the server processed; `None` for none (an
    /// IP URL).
    pub sni: Mutex<Vec<Option<String>>>,
}

/// A running TLS peer; stops and joins its threads when dropped.
pub struct TlsPeer {
    addr: SocketAddr,
    counts: Arc<Counts>,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

struct Shared {
    stop: AtomicBool,
    /// A clone of each open connection, so that drop can shut it down; a connection's own
    /// thread removes its clone before closing, so that its close is the real one.
    open: Mutex<HashMap<u64, TcpStream>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl TlsPeer {
    /// Binds 127.0.0.1:0 and starts accepting; the address is ready when this returns.
    pub fn start(o: PeerOptions) -> TlsPeer {
        let versions: &[&'static rustls::SupportedProtocolVersion] = if o.tls12_only {
            &[&rustls::version::TLS12]
        } else {
            &[&rustls::version::TLS13, &rustls::version::TLS12]
        };
        let builder = ServerConfig::builder_with_provider(shared::tls::provider())
            .with_protocol_versions(versions)
            .expect("protocol versions");
        let builder = match &o.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                roots.add(ca.clone()).expect("client CA");
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    shared::tls::provider(),
                )
                .build()
                .expect("client verifier");
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(o.cert.chain.clone(), o.cert.key.clone_key())
            .expect("certificate and key");
        config.alpn_protocols = vec![shared::tls::ALPN_HTTP11.to_vec()];
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr");
        let counts = Arc::new(Counts::default());
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            open: Mutex::new(HashMap::new()),
            threads: Mutex::new(Vec::new()),
        });
        let (mode, good_first) = (o.mode, o.good_first);
        let acceptor = {
            let (counts, shared) = (counts.clone(), shared.clone());
            thread::Builder::new()
                .name(format!("tls-peer-accept-{mode:?}"))
                .spawn(move || accept_loop(listener, mode, good_first, config, &counts, &shared))
                .expect("spawn accept thread")
        };
        TlsPeer {
            addr,
            counts,
            shared,
            acceptor: Some(acceptor),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://ADDR/`
    pub fn url(&self) -> String {
        format!("https://{}/", self.addr)
    }

    pub fn accepted(&self) -> u64 {
        self.counts.accepted.load(Ordering::SeqCst)
    }

    pub fn handshakes(&self) -> u64 {
        self.counts.handshakes.load(Ordering::SeqCst)
    }

    pub fn resumed(&self) -> u64 {
        self.counts.resumed.load(Ordering::SeqCst)
    }

    pub fn received(&self) -> u64 {
        self.counts.received.load(Ordering::SeqCst)
    }

    pub fn answered(&self) -> u64 {
        self.counts.answered.load(Ordering::SeqCst)
    }

    /// The server names (SNI) of the ClientHellos processed, in order.
    pub fn sni(&self) -> Vec<Option<String>> {
        lock(&self.counts.sni).clone()
    }
}

impl Drop for TlsPeer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept(); the loop sees the flag and returns.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for stream in lock(&self.shared.open).values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let threads = std::mem::take(&mut *lock(&self.shared.threads));
        for t in threads {
            let _ = t.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn accept_loop(
    listener: TcpListener,
    mode: Mode,
    good_first: u64,
    config: Arc<ServerConfig>,
    counts: &Arc<Counts>,
    shared: &Arc<Shared>,
) {
    let mut next_id = 0u64;
    loop {
        let accepted = listener.accept();
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
            Err(_) => {
                // Out of descriptors or similar: back off briefly rather than spin.
                thread::sleep(Duration::from_millis(5));
                continue;
            }
        };
        let n = counts.accepted.fetch_add(1, Ordering::SeqCst);
        let mode = if n < good_first { Mode::Valid } else { mode };
        let _ = stream.set_nodelay(true);
        let Ok(clone) = stream.try_clone() else {
            continue;
        };
        let id = next_id;
        next_id += 1;
        lock(&shared.open).insert(id, clone);
        let (counts2, shared2, config2) = (counts.clone(), shared.clone(), config.clone());
        let spawned = thread::Builder::new()
            .name(format!("tls-peer-conn-{id}"))
            .spawn(move || {
                let mut stream = stream;
                let end = serve(&mut stream, mode, config2, &counts2);
                drop(lock(&shared2.open).remove(&id));
                finish(stream, end);
            });
        let mut threads = lock(&shared.threads);
        threads.retain(|t| !t.is_finished());
        match spawned {
            Ok(handle) => threads.push(handle),
            Err(_) => drop(lock(&shared.open).remove(&id)),
        }
    }
}

/// How a connection ends.
enum End {
    /// Just close (a FIN; a RST if unread bytes remain).
    Close,
    /// A FIN after the data, then drain what the client still sends (bounded), so that its
    /// unread bytes do not turn the close into a RST.
    Graceful,
}

fn finish(stream: TcpStream, end: End) {
    if let End::Graceful = end {
        let _ = stream.shutdown(Shutdown::Write);
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let mut sink = [0u8; 4096];
        let mut s = &stream;
        while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
    }
    drop(stream);
}

fn serve(stream: &mut TcpStream, mode: Mode, config: Arc<ServerConfig>, counts: &Counts) -> End {
    let mut buf = [0u8; 16384];
    match mode {
        Mode::PlainHttp => {
            if matches!(stream.read(&mut buf), Ok(n) if n > 0) {
                counts.answered.fetch_add(1, Ordering::SeqCst);
                let _ = stream.write_all(PLAIN_400);
            }
            return End::Graceful;
        }
        Mode::StallHandshake => {
            // Until the client gives up (EOF or reset) or the peer is dropped (shutdown).
            while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
            return End::Close;
        }
        Mode::CloseInHandshake => {
            let _ = stream.read(&mut buf);
            return End::Graceful;
        }
        _ => {}
    }
    if mode == Mode::SlowHandshake {
        // From the ClientHello's arrival (peeked, left for the handshake): the
        // generator's handshake clock starts when it hands the ClientHello
        // out, which may be after the accept.
        let _ = stream.peek(&mut buf[..1]);
        thread::sleep(SLOW_HANDSHAKE);
    }
    let Ok(conn) = ServerConnection::new(config) else {
        return End::Close;
    };
    let sock = match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return End::Close,
    };
    let mut tls = StreamOwned::new(conn, sock);
    let mut first = true;
    while tls.conn.is_handshaking() {
        let r = tls.conn.complete_io(&mut tls.sock);
        // The first call reads and processes the ClientHello (and usually runs the whole
        // handshake): its name is known even when a later write fails (the client gone).
        if first {
            first = false;
            lock(&counts.sni).push(tls.conn.server_name().map(str::to_string));
        }
        // An alert, bad bytes, or an EOF in the middle of the handshake (UnexpectedEof).
        if r.is_err() {
            return End::Close;
        }
    }
    counts.handshakes.fetch_add(1, Ordering::SeqCst);
    if tls.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
        counts.resumed.fetch_add(1, Ordering::SeqCst);
    }
    let mut pending = Vec::new();
    loop {
        let request = loop {
            match parse_request(&pending) {
                Ok(Some(r)) => break r,
                Ok(None) => {}
                Err(_) => return End::Graceful,
            }
            match tls.read(&mut buf) {
                Ok(n) if n > 0 => pending.extend_from_slice(&buf[..n]),
                // Idle past IDLE_CLOSE (the read timeout set after an answer).
                Err(e)
                    if pending.is_empty()
                        && matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) =>
                {
                    if let Mode::ClosesWhenIdle { close_notify: true } = mode {
                        close_notify(&mut tls);
                    }
                    return End::Graceful;
                }
                // close_notify, a TCP close or an error: this connection is over.
                _ => return End::Graceful,
            }
        };
        pending.drain(..request.len);
        counts.received.fetch_add(1, Ordering::SeqCst);
        counts.answered.fetch_add(1, Ordering::SeqCst);
        match mode {
            Mode::ClosesWhenIdle { .. } => {
                if tls.write_all(OK_SMALL).and_then(|_| tls.flush()).is_err() {
                    return End::Close;
                }
                if tls.sock.set_read_timeout(Some(IDLE_CLOSE)).is_err() {
                    return End::Close;
                }
            }
            Mode::Valid | Mode::SlowHandshake => {
                let answer = if request.close { OK_CLOSE } else { OK_SMALL };
                if tls.write_all(answer).and_then(|_| tls.flush()).is_err() {
                    return End::Close;
                }
                if request.close {
                    close_notify(&mut tls);
                    return End::Graceful;
                }
            }
            Mode::TruncatedBody {
                close_notify: notify,
            } => {
                let mut answer = TRUNCATED_HEAD.to_vec();
                answer.extend(std::iter::repeat_n(b'x', TRUNCATED_SENT));
                let _ = tls.write_all(&answer).and_then(|_| tls.flush());
                if notify {
                    close_notify(&mut tls);
                }
                return End::Graceful;
            }
            Mode::CloseAfterResponse {
                close_notify: notify,
            } => {
                let _ = tls.write_all(OK_CLOSE).and_then(|_| tls.flush());
                if notify {
                    close_notify(&mut tls);
                }
                return End::Graceful;
            }
            Mode::AlertAfterRequest => {
                // The server side fails on a record it cannot decrypt and queues its alert.
                let mut garbage = GARBAGE_RECORD;
                let _ = tls.conn.read_tls(&mut garbage);
                if tls.conn.process_new_packets().is_ok() {
                    return End::Close;
                }
                while tls.conn.wants_write() {
                    if tls.conn.write_tls(&mut tls.sock).is_err() {
                        break;
                    }
                }
                return End::Graceful;
            }
            Mode::GarbageRecord => {
                let _ = tls.sock.write_all(GARBAGE_RECORD);
                // The client's alert and close end the connection (or the peer's drop does).
                while matches!(tls.sock.read(&mut buf), Ok(n) if n > 0) {}
                return End::Close;
            }
            Mode::PlainHttp | Mode::StallHandshake | Mode::CloseInHandshake => unreachable!(),
        }
    }
}

fn close_notify(tls: &mut StreamOwned<ServerConnection, TcpStream>) {
    tls.conn.send_close_notify();
    while tls.conn.wants_write() {
        if tls.conn.write_tls(&mut tls.sock).is_err() {
            break;
        }
    }
}

/// Accepts any certificate, checks the handshake signatures with the provider's algorithms.
#[derive(Debug)]
struct AnyCertificate;

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = shared::tls::provider().signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, &algs)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = shared::tls::provider().signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, &algs)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        shared::tls::provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A client configuration that accepts any certificate (the handshake signatures are still
/// checked), TLS 1.3 and 1.2, ALPN `http/1.1`.
pub fn insecure_client_config() -> Arc<ClientConfig> {
    let mut config = ClientConfig::builder_with_provider(shared::tls::provider())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate))
        .with_no_client_auth();
    config.alpn_protocols = vec![shared::tls::ALPN_HTTP11.to_vec()];
    Arc::new(config)
}

/// A TLS client stream over a blocking socket.
pub type ClientStream = StreamOwned<ClientConnection, TcpStream>;

/// Connects to `addr` and completes a handshake (SNI and name: the address), with reads and
/// writes bounded by `timeout`; the handshake's error when it fails.
pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<ClientStream> {
    connect_with(addr, insecure_client_config(), timeout)
}

/// [`connect`] with `config` (whose session cache a later connection may resume from).
pub fn connect_with(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    timeout: Duration,
) -> io::Result<ClientStream> {
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(timeout))?;
    tcp.set_write_timeout(Some(timeout))?;
    let name = ServerName::try_from(addr.ip().to_string())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let conn = ClientConnection::new(config, name)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut s = StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock)?;
    }
    Ok(s)
}

/// `GET path` over TLS to `addr` with `Connection: close`, the certificate unchecked; the
/// response's body (read to the server's close_notify), or why not.
pub fn get(addr: SocketAddr, path: &str) -> Result<Vec<u8>, String> {
    let mut s = connect(addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .and_then(|_| s.flush())
    .map_err(|e| e.to_string())?;
    let mut text = Vec::new();
    s.read_to_end(&mut text).map_err(|e| e.to_string())?;
    let at = text
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no response head in {:?}", String::from_utf8_lossy(&text)))?;
    Ok(text[at + 4..].to_vec())
}
