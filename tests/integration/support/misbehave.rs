//! A std-only HTTP/1.1 test server that misbehaves on purpose, for the generator's robustness
//! tests: resets, garbage, stalls, trickles, cut bodies, and odd but legal framing.
//!
//! [`Misbehaving::start`] binds 127.0.0.1:0 and returns once the listener exists, so its
//! address is ready to use. One thread accepts; one thread serves each connection. Dropping
//! the server sets a stop flag, wakes the accept loop by connecting to itself, shuts down
//! every open connection and joins every thread it started.
//!
//! [`RefusedPort`] (bound, not listening: connection refused) and [`Unaccepted`] (listening,
//! never accepting: connections sit in the backlog) cover the servers that never answer at all.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How the server answers each request it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// A correct keep-alive `200 OK` with a 2-byte body: the control case.
    Valid,
    /// Reads one request, sets SO_LINGER 0 and closes: the peer sees a reset (RST).
    ResetAfterRequest,
    /// Answers every request with `NOT HTTP AT ALL\r\n\r\n`.
    Garbage,
    /// A chunked `200 OK` whose first chunk size is not hexadecimal.
    InvalidChunkSize,
    /// Reads requests and never writes; keeps the connection open.
    NeverAnswers,
    /// A valid keep-alive response, one byte every [`TRICKLE_INTERVAL`] (a few seconds in all).
    Trickle,
    /// `Content-Length: 100`, then 10 body bytes, then a clean close (FIN).
    BodyCutShort,
    /// `304 Not Modified` with `Content-Length: 1234` and no body (legal: RFC 9112 6.3), keep-alive.
    NotModifiedWithLength,
    /// HEAD: `200 OK` with `Content-Length: 1234` and no body (legal); other methods get the body.
    HeadWithLength,
    /// `HTTP/1.0 200 OK` without Content-Length: the body ends when the server closes.
    Http10CloseDelimited,
    /// `100 Continue`, then `200 OK` with a 2-byte body, keep-alive.
    Continue100,
    /// 64 KiB of header lines (16 of 4 KiB), then a valid 2-byte body, keep-alive.
    HugeHeaders,
    /// Accepts and closes at once, without reading.
    AcceptThenClose,
    /// A correct `200 OK` with Content-Length and no `Connection` header, keep-alive
    /// unless the request says `Connection: close`: then, as RFC 9112 §9.6 asks, the
    /// server closes after the answer and reads nothing more.
    ClosesWhenAsked,
    /// Every answer says `Connection: close`, and the server closes after it.
    AnswersClose,
    /// A correct keep-alive `200 OK`; a connection idle for [`IDLE_CLOSE`] after an answer is
    /// closed politely (FIN), as a keep-alive timeout does.
    ClosesWhenIdle,
}

/// How long a [`Behaviour::ClosesWhenIdle`] connection may wait for its next request.
pub const IDLE_CLOSE: Duration = Duration::from_millis(50);

/// Time between two bytes of a [`Behaviour::Trickle`] response.
pub const TRICKLE_INTERVAL: Duration = Duration::from_millis(100);

/// Total size of the extra header lines in a [`Behaviour::HugeHeaders`] response.
pub const HUGE_HEADERS_BYTES: usize = 64 * 1024;

/// The body the valid keep-alive behaviours send.
pub const SMALL_BODY: &[u8] = b"ok";

/// Largest request head the server buffers before giving up on a connection.
const MAX_REQUEST_HEAD: usize = 1 << 20;

const GARBAGE: &[u8] = b"NOT HTTP AT ALL\r\n\r\n";
const OK_SMALL: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
const INVALID_CHUNK: &[u8] =
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nhello\r\n0\r\n\r\n";
const CUT_SHORT: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789";
const NOT_MODIFIED: &[u8] =
    b"HTTP/1.1 304 Not Modified\r\nETag: \"ceiling\"\r\nContent-Length: 1234\r\n\r\n";
const HEAD_OK: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1234\r\n\r\n";
const HTTP10: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nclose-delimited body";
const OK_CLOSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n\
HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";

/// What [`Misbehaving`] counts; every field only grows.
#[derive(Debug, Default)]
pub struct Counts {
    /// Connections accepted (the stop wake-up connection excluded).
    pub accepted: AtomicU64,
    /// Complete requests read (head and Content-Length body).
    pub received: AtomicU64,
    /// Requests the server answered, counted just before the answer is written (so a client that
    /// has read an answer always finds it counted); garbage and cut-short answers count.
    pub answered: AtomicU64,
}

/// A running misbehaving server; stops and joins its threads when dropped.
pub struct Misbehaving {
    addr: SocketAddr,
    behaviour: Behaviour,
    counts: Arc<Counts>,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

struct Shared {
    stop: AtomicBool,
    /// A clone of each open connection, so that drop can shut it down. A connection's own
    /// thread removes its clone before closing, so that its close is the last one (a FIN or,
    /// with SO_LINGER 0, a RST goes out at once).
    open: Mutex<HashMap<u64, TcpStream>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Misbehaving {
    /// Binds 127.0.0.1:0 and starts accepting; the address is ready when this returns.
    pub fn start(behaviour: Behaviour) -> Misbehaving {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr");
        let counts = Arc::new(Counts::default());
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            open: Mutex::new(HashMap::new()),
            threads: Mutex::new(Vec::new()),
        });
        let acceptor = {
            let (counts, shared) = (counts.clone(), shared.clone());
            thread::Builder::new()
                .name(format!("misbehave-accept-{behaviour:?}"))
                .spawn(move || accept_loop(listener, behaviour, &counts, &shared))
                .expect("spawn accept thread")
        };
        Misbehaving {
            addr,
            behaviour,
            counts,
            shared,
            acceptor: Some(acceptor),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR/`
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn behaviour(&self) -> Behaviour {
        self.behaviour
    }

    pub fn counts(&self) -> Arc<Counts> {
        self.counts.clone()
    }

    pub fn accepted(&self) -> u64 {
        self.counts.accepted.load(Ordering::SeqCst)
    }

    pub fn received(&self) -> u64 {
        self.counts.received.load(Ordering::SeqCst)
    }

    pub fn answered(&self) -> u64 {
        self.counts.answered.load(Ordering::SeqCst)
    }
}

impl Drop for Misbehaving {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept(); the loop sees the flag and returns.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        // Unblock every connection thread (blocked in read or write), then join them.
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
    behaviour: Behaviour,
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
            // Out of descriptors or similar: back off briefly rather than spin.
            Err(_) => {
                thread::sleep(Duration::from_millis(5));
                continue;
            }
        };
        counts.accepted.fetch_add(1, Ordering::SeqCst);
        let _ = stream.set_nodelay(true);
        if behaviour == Behaviour::AcceptThenClose {
            drop(stream);
            continue;
        }
        let Ok(clone) = stream.try_clone() else {
            continue;
        };
        let id = next_id;
        next_id += 1;
        lock(&shared.open).insert(id, clone);
        let (counts2, shared2) = (counts.clone(), shared.clone());
        let spawned = thread::Builder::new()
            .name(format!("misbehave-conn-{id}"))
            .spawn(move || {
                let mut stream = stream;
                let end = serve_connection(&mut stream, behaviour, &counts2, &shared2);
                // Drop our clone first so that closing `stream` is the real close.
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

/// What follows an answer.
#[derive(PartialEq, Eq)]
enum Then {
    KeepAlive,
    /// The answer goes out one byte per [`TRICKLE_INTERVAL`], then keep-alive.
    Trickle,
    /// Close after the answer (FIN, then drain).
    Close,
}

/// How a connection ends.
enum End {
    /// Peer closed, error, or server stopping: just close.
    Close,
    /// Close with SO_LINGER 0: a RST instead of a FIN.
    Reset,
    /// Send FIN after the data, then drain what the peer still sends (bounded) so that unread
    /// request bytes do not turn the close into a RST.
    Graceful,
}

fn finish(stream: TcpStream, end: End) {
    match end {
        End::Close => {}
        End::Reset => set_linger_zero(&stream),
        End::Graceful => {
            let _ = stream.shutdown(Shutdown::Write);
            let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
            let mut sink = [0u8; 4096];
            let mut s = &stream;
            while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
        }
    }
    drop(stream);
}

fn set_linger_zero(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket descriptor and a correctly sized, initialised option value.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(
        rc,
        0,
        "setsockopt(SO_LINGER): {}",
        io::Error::last_os_error()
    );
}

/// A parsed request: its method, its total length in bytes (head and body), and
/// whether it asks the server to close the connection (`Connection: close`).
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub len: usize,
    pub close: bool,
}

/// Parses the first request in `buf`: `Ok(None)` when more bytes are needed, `Err` when the
/// bytes cannot be a request this server understands (then it closes the connection).
pub fn parse_request(buf: &[u8]) -> Result<Option<Request>, &'static str> {
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() > MAX_REQUEST_HEAD {
            Err("request head too large")
        } else {
            Ok(None)
        };
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| "request head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let method = request_line
        .split(' ')
        .next()
        .filter(|m| !m.is_empty())
        .ok_or("empty request line")?;
    let mut body_len = 0usize;
    let mut close = false;
    for line in lines {
        let (name, value) = line.split_once(':').ok_or("header line without ':'")?;
        if name.trim().eq_ignore_ascii_case("connection") {
            close |= value
                .split(',')
                .any(|o| o.trim().eq_ignore_ascii_case("close"));
        } else if name.trim().eq_ignore_ascii_case("content-length") {
            body_len = value.trim().parse().map_err(|_| "bad Content-Length")?;
        } else if name.trim().eq_ignore_ascii_case("transfer-encoding") {
            return Err("chunked request bodies are not supported");
        }
    }
    let len = head_end + 4 + body_len;
    if buf.len() < len {
        return Ok(None);
    }
    Ok(Some(Request {
        method: method.to_string(),
        len,
        close,
    }))
}

fn huge_headers_response() -> Vec<u8> {
    const LINES: usize = 16;
    const LINE: usize = HUGE_HEADERS_BYTES / LINES;
    let mut r = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..LINES {
        let name = format!("X-Filler-{i:02}: ");
        r.extend_from_slice(name.as_bytes());
        r.resize(r.len() + LINE - name.len() - 2, b'a');
        r.extend_from_slice(b"\r\n");
    }
    r.extend_from_slice(b"Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nok");
    r
}

fn head_with_length_response(method: &str) -> Vec<u8> {
    let mut r = HEAD_OK.to_vec();
    if method != "HEAD" {
        r.resize(r.len() + 1234, b'x');
    }
    r
}

fn serve_connection(
    stream: &mut TcpStream,
    behaviour: Behaviour,
    counts: &Counts,
    shared: &Shared,
) -> End {
    let huge = (behaviour == Behaviour::HugeHeaders).then(huge_headers_response);
    if behaviour == Behaviour::ClosesWhenIdle {
        let _ = stream.set_read_timeout(Some(IDLE_CLOSE));
    }
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut chunk = [0u8; 16 * 1024];
    loop {
        // Answer every complete request already buffered (pipelining).
        loop {
            let req = match parse_request(&buf) {
                Ok(Some(req)) => req,
                Ok(None) => break,
                Err(_) => return End::Close,
            };
            buf.drain(..req.len);
            counts.received.fetch_add(1, Ordering::SeqCst);
            let head_answer;
            let (answer, then): (&[u8], Then) = match behaviour {
                Behaviour::Valid => (OK_SMALL, Then::KeepAlive),
                Behaviour::ResetAfterRequest => return End::Reset,
                Behaviour::Garbage => (GARBAGE, Then::KeepAlive),
                Behaviour::InvalidChunkSize => (INVALID_CHUNK, Then::KeepAlive),
                Behaviour::NeverAnswers => continue,
                Behaviour::Trickle => (OK_SMALL, Then::Trickle),
                Behaviour::BodyCutShort => (CUT_SHORT, Then::Close),
                Behaviour::NotModifiedWithLength => (NOT_MODIFIED, Then::KeepAlive),
                Behaviour::HeadWithLength => {
                    head_answer = head_with_length_response(&req.method);
                    (&head_answer, Then::KeepAlive)
                }
                Behaviour::Http10CloseDelimited => (HTTP10, Then::Close),
                Behaviour::Continue100 => (CONTINUE, Then::KeepAlive),
                Behaviour::HugeHeaders => (huge.as_deref().unwrap_or_default(), Then::KeepAlive),
                Behaviour::AcceptThenClose => return End::Close,
                Behaviour::ClosesWhenAsked if req.close => (OK_SMALL, Then::Close),
                Behaviour::ClosesWhenAsked => (OK_SMALL, Then::KeepAlive),
                Behaviour::AnswersClose => (OK_CLOSE, Then::Close),
                Behaviour::ClosesWhenIdle => (OK_SMALL, Then::KeepAlive),
            };
            // Counted before writing: whoever has read an answer sees it counted.
            counts.answered.fetch_add(1, Ordering::SeqCst);
            if then == Then::Trickle {
                for byte in answer {
                    if shared.stop.load(Ordering::SeqCst) || stream.write_all(&[*byte]).is_err() {
                        return End::Close;
                    }
                    thread::sleep(TRICKLE_INTERVAL);
                }
            } else if stream.write_all(answer).is_err() {
                return End::Close;
            }
            if then == Then::Close {
                return End::Graceful;
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => return End::Close,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // The idle timeout, between requests only (a request begun is waited for).
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if buf.is_empty() {
                    return End::Graceful;
                }
            }
            Err(_) => return End::Close,
        }
        if shared.stop.load(Ordering::SeqCst) {
            return End::Close;
        }
    }
}

/// A TCP port on 127.0.0.1 that refuses connections: a socket bound to it, never listening.
/// Nobody else can take the port while this lives.
pub struct RefusedPort {
    _fd: OwnedFd,
    addr: SocketAddr,
}

impl RefusedPort {
    pub fn bind() -> RefusedPort {
        // SAFETY: plain socket calls on a descriptor this function owns; `sin` and `len` are
        // initialised and sized for AF_INET.
        unsafe {
            let raw = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            assert!(raw >= 0, "socket: {}", io::Error::last_os_error());
            let fd = OwnedFd::from_raw_fd(raw);
            let mut sin: libc::sockaddr_in = std::mem::zeroed();
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = 0;
            sin.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
            let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            let rc = libc::bind(raw, (&sin as *const libc::sockaddr_in).cast(), len);
            assert_eq!(rc, 0, "bind: {}", io::Error::last_os_error());
            let rc = libc::getsockname(raw, (&mut sin as *mut libc::sockaddr_in).cast(), &mut len);
            assert_eq!(rc, 0, "getsockname: {}", io::Error::last_os_error());
            let addr = SocketAddr::from(([127, 0, 0, 1], u16::from_be(sin.sin_port)));
            RefusedPort { _fd: fd, addr }
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

/// A listener that never accepts: the kernel completes handshakes into its backlog and the
/// requests sit there unanswered. Queued connections are reset when it is dropped.
pub struct Unaccepted {
    listener: TcpListener,
}

impl Unaccepted {
    pub fn bind() -> Unaccepted {
        Unaccepted {
            listener: TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("local_addr")
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr())
    }
}
