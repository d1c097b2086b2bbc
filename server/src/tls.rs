//! `ceiling serve --tls`: HTTPS on the same connection loop. rustls's sans-IO
//! `ServerConnection` sits between the socket and the HTTP loop: ciphertext
//! read from the socket goes in through `read_tls` and `process_new_packets`,
//! plaintext comes out of its `reader()`; answers go in through `writer()` and
//! the records come out of `write_tls` into one buffer sent with one write.
//!
//! Bounds: the handshake must finish within --header-timeout (the worker's
//! tick closes it otherwise); a first record that is not a TLS handshake is
//! refused at once (plain HTTP gets a readable 400); rustls holds at most
//! 16 KiB of undelivered plaintext and [`OUT_LIMIT`] of unsent records, and
//! ciphertext is read [`TIN`] bytes at a time, so memory per connection stays
//! bounded whatever the peer does.
//!
//! No kTLS: the kernel's `tls` ULP is not offered on the machines this was
//! built and measured on (`/proc/sys/net/ipv4/tcp_available_ulp` lists only
//! `mptcp`), so no untested path hands records to the kernel.

use crate::stats::{Counter, WorkerStats};
use crate::transport::Transport;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use rustls::server::{ServerConfig, ServerConnection};
use shared::tls::{self as stls, TlsError, Validity};
use std::io::{self, Read as _, Write as _};
use std::path::PathBuf;
use std::sync::Arc;

/// Ciphertext read size: one full TLS record (16 KiB of plaintext plus its
/// header and tag) fits, so a bulk upload is one read per record.
pub const TIN: usize = 16 * 1024 + 512;
/// Most unsent TLS records held per connection (rustls's buffer limit); the
/// loop flushes after every write, so this only bounds one big answer's piece.
pub const OUT_LIMIT: usize = 64 * 1024;
/// A TLS record's first byte for a handshake message (RFC 8446 §5.1).
const HANDSHAKE_RECORD: u8 = 0x16;

/// The 400 answer to plain HTTP on a TLS port, sent in clear before closing.
pub const PLAIN_ON_TLS: &[u8] = b"HTTP/1.1 400 Bad Request\r\nServer: ceiling\r\nContent-Type: text/plain\r\nContent-Length: 64\r\nConnection: close\r\n\r\nThis port speaks HTTPS: send the request over TLS (https://...)\n";

/// The TLS flags of `ceiling serve` (flattened into its options).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsOptions {
    /// Serve HTTPS (TLS 1.3 and 1.2, ALPN http/1.1) on the same routes. Without
    /// --cert/--key a self-signed certificate for localhost, 127.0.0.1, ::1 and
    /// each --tls-name is made at start-up; its SHA-256 fingerprint is printed.
    #[arg(long)]
    pub tls: bool,
    /// Certificate chain to serve, PEM, leaf first (with --key; implies --tls).
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// Private key of --cert, PEM (PKCS#8, RSA or EC; implies --tls).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Another name (DNS name or IP address) for the self-signed certificate;
    /// repeat for more (implies --tls; not with --cert).
    #[arg(long = "tls-name", value_name = "NAME", conflicts_with = "cert")]
    pub tls_names: Vec<String>,
}

/// Why the TLS flags cannot make a server configuration (bad usage, exit 2).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("--cert needs --key (the certificate's private key), and --key needs --cert")]
    Pair,
    #[error("--tls-name {0:?}: not a DNS name or an IP address a client could ask for")]
    Name(String),
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// For `validate`'s one-line error (a typed error enum takes it with `#[from]`).
impl From<SetupError> for String {
    fn from(e: SetupError) -> String {
        e.to_string()
    }
}

/// The server's TLS configuration, made once before the workers start.
#[derive(Debug, Clone)]
pub struct Setup {
    pub config: Arc<ServerConfig>,
    /// SHA-256 of the leaf certificate, `AB:CD:...` (as openssl prints it).
    pub fingerprint: String,
    /// The certificate was made at start-up (not read from --cert).
    pub self_signed: bool,
}

impl Setup {
    /// The start-up line's TLS part: which certificate, and its fingerprint
    /// for a client to pin or compare (`openssl x509 -noout -fingerprint -sha256`).
    pub fn startup_note(&self) -> String {
        let made = if self.self_signed { "self-signed " } else { "" };
        format!(
            "; TLS 1.3/1.2 ({}), {made}certificate SHA-256 {}",
            stls::provider_name(),
            self.fingerprint
        )
    }
}

impl TlsOptions {
    /// Whether any TLS flag was given.
    pub fn wanted(&self) -> bool {
        self.tls || self.cert.is_some() || !self.tls_names.is_empty()
    }

    /// Reads or makes the certificate and builds the rustls configuration;
    /// `None` without TLS flags. Errors name the file and what is wrong.
    pub fn setup(&self) -> Result<Option<Setup>, SetupError> {
        if !self.wanted() && self.key.is_none() {
            return Ok(None);
        }
        let (chain, key, self_signed) = match (&self.cert, &self.key) {
            (Some(c), Some(k)) => (stls::load_certs(c)?, stls::load_key(k)?, false),
            (Some(_), None) | (None, Some(_)) => return Err(SetupError::Pair),
            (None, None) => {
                let mut names: Vec<String> =
                    stls::LOOPBACK_NAMES.iter().map(|s| s.to_string()).collect();
                for n in &self.tls_names {
                    // What a client sends as SNI (and verifies) must be one of
                    // these: a name no client can ask for is a typo.
                    if rustls::pki_types::ServerName::try_from(n.as_str()).is_err() {
                        return Err(SetupError::Name(n.clone()));
                    }
                    if !names.contains(n) {
                        names.push(n.clone());
                    }
                }
                let ck = stls::self_signed(&names, Validity::Long)?;
                (ck.chain, ck.key, true)
            }
        };
        let fingerprint = stls::sha256_fingerprint(&chain[0]);
        Ok(Some(Setup {
            config: server_config(chain, key).map_err(SetupError::Tls)?,
            fingerprint,
            self_signed,
        }))
    }
}

/// TLS 1.3 and 1.2 with the shared provider, ALPN `http/1.1`, stateless
/// session tickets (any worker resumes any session), no client certificates.
pub fn server_config(
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let mut cfg = ServerConfig::builder_with_provider(stls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    cfg.alpn_protocols = vec![stls::ALPN_HTTP11.to_vec()];
    cfg.ticketer = stls::ticketer()?;
    Ok(Arc::new(cfg))
}

/// How a handshake failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeEnd {
    /// The peer closed before sending anything (a port probe).
    Closed,
    /// A read or write failed, or the peer closed mid-handshake (or the tick
    /// shut the socket at the deadline).
    Io,
    /// A bad TLS message or an alert; our alert has been sent.
    Tls,
    /// The first bytes look like an HTTP request: answer [`PLAIN_ON_TLS`].
    PlainHttp,
}

/// One TLS connection over a socket, driven by the connection loop.
pub struct TlsStream {
    stream: TcpStream,
    conn: ServerConnection,
    /// Ciphertext as read from the socket.
    tin: Vec<u8>,
    /// Ciphertext to send.
    tout: Vec<u8>,
    /// Plaintext that arrived with the handshake's last flight.
    early: Vec<u8>,
    /// The peer closed the TCP stream (no close_notify can reach it).
    peer_eof: bool,
    /// The peer sent close_notify: nothing more will be read.
    peer_closed: bool,
}

impl TlsStream {
    pub fn new(stream: TcpStream, config: Arc<ServerConfig>) -> Result<Self, rustls::Error> {
        let mut conn = ServerConnection::new(config)?;
        conn.set_buffer_limit(Some(OUT_LIMIT));
        Ok(Self {
            stream,
            conn,
            tin: Vec::with_capacity(TIN),
            tout: Vec::new(),
            early: Vec::new(),
            peer_eof: false,
            peer_closed: false,
        })
    }

    /// Runs the handshake to its end. The caller bounds it in time (the
    /// worker's tick shuts the socket at the deadline, failing the read).
    pub async fn handshake(&mut self, stats: &WorkerStats) -> Result<(), HandshakeEnd> {
        let mut first = true;
        while self.conn.is_handshaking() {
            if self.conn.wants_write() {
                self.flush_tls(stats).await.map_err(|_| HandshakeEnd::Io)?;
                continue;
            }
            let n = self
                .read_socket(stats)
                .await
                .map_err(|_| HandshakeEnd::Io)?;
            if n == 0 {
                return Err(if first {
                    HandshakeEnd::Closed
                } else {
                    HandshakeEnd::Io
                });
            }
            if first {
                first = false;
                if self.tin[0] != HANDSHAKE_RECORD {
                    return Err(if looks_like_http(&self.tin) {
                        HandshakeEnd::PlainHttp
                    } else {
                        self.fail(stats).await
                    });
                }
            }
            let mut early = std::mem::take(&mut self.early);
            let fed = self.feed(&mut early);
            self.early = early;
            if fed.is_err() {
                return Err(self.fail(stats).await);
            }
            if self.peer_closed && self.conn.is_handshaking() {
                return Err(HandshakeEnd::Io);
            }
        }
        // The last flight: TLS 1.2's Finished, or TLS 1.3's session tickets.
        if self.conn.wants_write() {
            self.flush_tls(stats).await.map_err(|_| HandshakeEnd::Io)?;
        }
        stats.add(Counter::TlsHandshakes, 1);
        Ok(())
    }

    /// After a rustls error: send the alert it queued, report a TLS failure.
    async fn fail(&mut self, stats: &WorkerStats) -> HandshakeEnd {
        let _ = self.flush_tls(stats).await;
        HandshakeEnd::Tls
    }

    /// Reads one piece of ciphertext into `tin` (replacing what was there).
    async fn read_socket(&mut self, stats: &WorkerStats) -> io::Result<usize> {
        let mut buf = std::mem::take(&mut self.tin);
        buf.clear();
        // monoio reads a Vec from its start and sets its length.
        let (res, buf) = self.stream.read(buf).await;
        self.tin = buf;
        let n = res?;
        if n == 0 {
            self.peer_eof = true;
        } else {
            stats.add(Counter::BytesRead, n as u64);
        }
        Ok(n)
    }

    /// Feeds all of `tin` to rustls, appending the plaintext it yields to
    /// `dst`. Err: a TLS failure, with the alert queued.
    fn feed(&mut self, dst: &mut Vec<u8>) -> Result<(), ()> {
        let Self {
            conn,
            tin,
            peer_closed,
            ..
        } = self;
        let mut rest: &[u8] = tin;
        while !rest.is_empty() && !*peer_closed {
            // Plaintext is drained after every record batch, so rustls's
            // 16 KiB plaintext limit is never hit; a refusal here is a bug or
            // a peer that breaks framing: either way a TLS failure.
            if conn.read_tls(&mut rest).is_err() {
                return Err(());
            }
            let state = conn.process_new_packets().map_err(|_| ())?;
            let n = state.plaintext_bytes_to_read();
            if n > 0 {
                let at = dst.len();
                dst.resize(at + n, 0);
                conn.reader().read_exact(&mut dst[at..]).map_err(|_| ())?;
            }
            if state.peer_has_closed() {
                *peer_closed = true;
            }
        }
        Ok(())
    }

    /// Sends every record rustls has queued.
    async fn flush_tls(&mut self, stats: &WorkerStats) -> io::Result<()> {
        while self.conn.wants_write() {
            let mut out = std::mem::take(&mut self.tout);
            out.clear();
            while self.conn.wants_write() {
                self.conn.write_tls(&mut out)?;
            }
            let (res, buf) = self.stream.write_all(out).await;
            self.tout = buf;
            stats.add(Counter::BytesWritten, res? as u64);
        }
        Ok(())
    }

    /// Encrypts and sends all of `data`, at most [`OUT_LIMIT`] at a time.
    async fn send(&mut self, data: &[u8], stats: &WorkerStats) -> io::Result<()> {
        let mut off = 0;
        while off < data.len() {
            off += self.conn.writer().write(&data[off..])?;
            self.flush_tls(stats).await?;
        }
        Ok(())
    }

    /// Answers plain HTTP on the TLS port in clear, so a person who typed
    /// http:// reads what went wrong.
    pub async fn answer_plain_http(&mut self, stats: &WorkerStats) {
        if let (Ok(n), _) = self.stream.write_all(PLAIN_ON_TLS).await {
            stats.add(Counter::BytesWritten, n as u64);
        }
    }
}

impl Transport for TlsStream {
    async fn read_more(&mut self, rbuf: &mut Vec<u8>, stats: &WorkerStats) -> io::Result<usize> {
        if !self.early.is_empty() {
            let n = self.early.len();
            rbuf.extend_from_slice(&self.early);
            self.early = Vec::new();
            return Ok(n);
        }
        loop {
            if self.peer_closed {
                return Ok(0);
            }
            if self.read_socket(stats).await? == 0 {
                return Ok(0);
            }
            let before = rbuf.len();
            if self.feed(rbuf).is_err() {
                let _ = self.flush_tls(stats).await;
                return Err(io::Error::new(io::ErrorKind::InvalidData, "TLS failure"));
            }
            // A key update or an alert may want an answer.
            if self.conn.wants_write() {
                self.flush_tls(stats).await?;
            }
            let got = rbuf.len() - before;
            if got > 0 {
                return Ok(got);
            }
        }
    }

    async fn write_buf(&mut self, wbuf: &mut Vec<u8>, stats: &WorkerStats) -> io::Result<()> {
        let res = self.send(wbuf, stats).await;
        wbuf.clear();
        res
    }

    async fn write_static(&mut self, data: &'static [u8], stats: &WorkerStats) -> io::Result<()> {
        self.send(data, stats).await
    }

    async fn close(&mut self, stats: &WorkerStats) {
        if !self.peer_eof {
            self.conn.send_close_notify();
            let _ = self.flush_tls(stats).await;
        }
    }

    fn socket(&mut self) -> &mut TcpStream {
        &mut self.stream
    }
}

/// Whether bytes read where a ClientHello was due start like an HTTP request
/// line: an upper-case token then a space (`GET /`, `POST /`, `PRI *`).
fn looks_like_http(b: &[u8]) -> bool {
    let token = b.iter().take_while(|c| c.is_ascii_uppercase()).count();
    token > 0 && (token == b.len() || b[token] == b' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_recognised() {
        assert!(looks_like_http(b"GET / HTTP/1.1\r\n"));
        assert!(looks_like_http(b"POST"));
        assert!(looks_like_http(b"PRI * HTTP/2.0"));
        assert!(!looks_like_http(b"\x16\x03\x01"));
        assert!(!looks_like_http(b"get /"));
        assert!(!looks_like_http(b"\r\n"));
    }

    #[test]
    fn plain_answer_length_matches() {
        let text = std::str::from_utf8(PLAIN_ON_TLS).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
    }

    #[test]
    fn setup_makes_a_certificate_for_the_names() {
        let opts = TlsOptions {
            tls_names: vec!["example.test".into()],
            ..TlsOptions::default()
        };
        assert!(opts.wanted());
        let s = opts.setup().unwrap().unwrap();
        assert!(s.self_signed);
        assert_eq!(s.fingerprint.len(), 95);
        assert_eq!(s.config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert!(TlsOptions::default().setup().unwrap().is_none());
        for bad in ["bad name!", "", "a..b", "-x-"] {
            let opts = TlsOptions {
                tls_names: vec![bad.into()],
                ..TlsOptions::default()
            };
            let e = opts.setup().unwrap_err().to_string();
            assert!(e.starts_with("--tls-name"), "{bad:?}: {e}");
        }
        for good in ["example.test", "10.0.0.1", "::1", "a-b.example"] {
            let opts = TlsOptions {
                tls_names: vec![good.into()],
                ..TlsOptions::default()
            };
            assert!(opts.setup().is_ok(), "{good}");
        }
    }

    #[test]
    fn a_key_that_is_not_the_certificates_is_refused() {
        let names = vec!["localhost".to_string()];
        let a = stls::self_signed(&names, Validity::Long).unwrap();
        let b = stls::self_signed(&names, Validity::Long).unwrap();
        assert!(server_config(a.chain, b.key).is_err());
    }
}
