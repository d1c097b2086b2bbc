//! The generator's TLS client side, before any load: the rustls client
//! configuration from the certificate flags, and the preflight handshake that
//! turns a bad certificate, a name mismatch, a plain-HTTP server or a silent
//! port into one line naming the cause and what to do.
//!
//! Not yet wired: the `https://` flags in `options` and the per-connection
//! TLS layer on the core's seam (docs/architecture.md, "The seam for TLS and
//! HTTP/2"). Both engines will take the [`ClientConfig`] built here and hold
//! one rustls `ClientConnection` per connection between socket and core.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme,
};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The certificate flags of a run (they travel in a plan file as paths: a
/// node reads the files itself, so no key is ever written into a plan).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ClientTlsOptions {
    /// `-k/--insecure`: accept any server certificate (signatures are still
    /// checked, so the handshake costs what a verified one does, minus the
    /// chain walk).
    pub insecure: bool,
    /// `--cacert FILE`: more roots to trust (PEM), besides the system's.
    pub cacert: Option<PathBuf>,
    /// `--cert FILE` / `--key FILE`: a client certificate for mTLS (PEM).
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// `--tls-resume on|off`: offer session tickets on reconnects (default on).
    pub resume: bool,
}

impl Default for ClientTlsOptions {
    fn default() -> Self {
        Self {
            insecure: false,
            cacert: None,
            cert: None,
            key: None,
            resume: true,
        }
    }
}

/// What the workers of an `https://` run share: the client configuration
/// (its session cache, when resumption is on, is shared by every connection
/// of the run) and the name each handshake sends (SNI) and verifies.
#[derive(Debug)]
pub struct TlsClient {
    pub config: Arc<ClientConfig>,
    pub name: ServerName<'static>,
}

/// Why the client configuration cannot be built (bad usage, exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ClientTlsError {
    #[error(transparent)]
    Files(#[from] shared::tls::TlsError),
    #[error("--cert needs --key (the certificate's private key), and --key needs --cert")]
    Pair,
    #[error("{path}: not a usable CA certificate: {reason}")]
    BadRoot { path: PathBuf, reason: String },
    #[error("no trusted roots: the system has none ({0}); give --cacert FILE, or -k to skip verification")]
    NoRoots(String),
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
}

/// TLS 1.3 and 1.2, ALPN `http/1.1`, the shared provider; roots: the
/// system's (rustls-native-certs reads the same store as curl and openssl,
/// /etc/ssl/certs on Debian, so a certificate an administrator added is
/// trusted; webpki-roots would compile Mozilla's list in and ignore it) plus
/// `--cacert`, or none with `--insecure`. Session resumption per `resume`.
pub fn client_config(o: &ClientTlsOptions) -> Result<Arc<ClientConfig>, ClientTlsError> {
    let builder = ClientConfig::builder_with_provider(shared::tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?;
    let builder = if o.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        if let Some(path) = &o.cacert {
            for c in shared::tls::load_certs(path)? {
                roots.add(c).map_err(|e| ClientTlsError::BadRoot {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            }
        }
        let native = rustls_native_certs::load_native_certs();
        let (added, _ignored) = roots.add_parsable_certificates(native.certs);
        if roots.is_empty() {
            let why = native
                .errors
                .first()
                .map(|e| e.to_string())
                .unwrap_or_else(|| format!("{added} certificates found"));
            return Err(ClientTlsError::NoRoots(why));
        }
        builder.with_root_certificates(roots)
    };
    let mut cfg = match (&o.cert, &o.key) {
        (Some(c), Some(k)) => {
            builder.with_client_auth_cert(shared::tls::load_certs(c)?, shared::tls::load_key(k)?)?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err(ClientTlsError::Pair),
    };
    cfg.alpn_protocols = vec![shared::tls::ALPN_HTTP11.to_vec()];
    if !o.resume {
        cfg.resumption = rustls::client::Resumption::disabled();
    }
    Ok(Arc::new(cfg))
}

/// `-k`: trusts any certificate, still checking the handshake signatures.
#[derive(Debug)]
struct AcceptAny;

impl ServerCertVerifier for AcceptAny {
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

/// What a handshake agreed on, recorded in every result.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Negotiated {
    /// `TLSv1_3` or `TLSv1_2`.
    pub version: String,
    /// The IANA name, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher_suite: String,
    /// The ALPN protocol the server chose, if any (`http/1.1`).
    pub alpn: Option<String>,
    /// Whether the session was resumed (no certificate exchanged).
    pub resumed: bool,
}

impl Negotiated {
    /// What `conn`'s handshake agreed on (empty strings before it is done).
    pub fn of(conn: &ClientConnection) -> Self {
        Self {
            version: conn
                .protocol_version()
                .map(|v| format!("{v:?}"))
                .unwrap_or_default(),
            cipher_suite: conn
                .negotiated_cipher_suite()
                .map(|s| format!("{:?}", s.suite()))
                .unwrap_or_default(),
            alpn: conn
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
            resumed: matches!(conn.handshake_kind(), Some(rustls::HandshakeKind::Resumed)),
        }
    }
}

/// Why the preflight handshake failed: one line with the cause and the fix.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PreflightError {
    #[error("{host}: the server's certificate is not signed by a trusted root ({detail}); give --cacert FILE with its CA, or -k to skip verification")]
    UnknownIssuer { host: String, detail: String },
    #[error("{host}: the server's certificate is not valid for the name {host:?} ({detail}); use a name it carries, or -k to skip verification")]
    NameMismatch { host: String, detail: String },
    #[error("{host}: the server's certificate has expired or is not yet valid ({detail}); renew it, or -k to skip verification")]
    Expired { host: String, detail: String },
    #[error("{host}: the server's certificate was refused: {detail}; -k skips verification")]
    BadCertificate { host: String, detail: String },
    #[error("{addr} answered plain HTTP to a TLS handshake: use http:// instead of https://")]
    PlainHttp { addr: SocketAddr },
    #[error("{addr} did not complete a TLS handshake within {timeout:?}: is it a TLS server?")]
    Timeout { addr: SocketAddr, timeout: Duration },
    #[error("{addr} refused the TLS handshake: {detail}")]
    Tls { addr: SocketAddr, detail: String },
    #[error("could not connect to {addr}: {detail}")]
    Connect { addr: SocketAddr, detail: String },
}

/// A socket that keeps the first bytes it reads, to tell a plain-HTTP answer
/// from a broken TLS one.
struct Recording {
    sock: TcpStream,
    first: Vec<u8>,
}

impl Read for Recording {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.sock.read(buf)?;
        if self.first.len() < 8 {
            let k = n.min(8 - self.first.len());
            self.first.extend_from_slice(&buf[..k]);
        }
        Ok(n)
    }
}

impl Write for Recording {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sock.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.sock.flush()
    }
}

/// One handshake to `addr` for `host` (SNI and verification), bounded by
/// `timeout` as a whole; on success also the handshake time. Blocking: it
/// runs once, before any load.
pub fn preflight(
    addr: SocketAddr,
    host: &str,
    config: Arc<ClientConfig>,
    timeout: Duration,
) -> Result<(Negotiated, Duration), PreflightError> {
    let start = Instant::now();
    let sock = TcpStream::connect_timeout(&addr, timeout).map_err(|e| PreflightError::Connect {
        addr,
        detail: e.to_string(),
    })?;
    let name = ServerName::try_from(host.to_string()).map_err(|e| PreflightError::Tls {
        addr,
        detail: format!("{host:?} is not a server name: {e}"),
    })?;
    let mut conn = ClientConnection::new(config, name).map_err(|e| PreflightError::Tls {
        addr,
        detail: e.to_string(),
    })?;
    let mut io = Recording {
        sock,
        first: Vec::new(),
    };
    while conn.is_handshaking() {
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Err(PreflightError::Timeout { addr, timeout });
        }
        let _ = io.sock.set_read_timeout(Some(left));
        let _ = io.sock.set_write_timeout(Some(left));
        match conn.complete_io(&mut io) {
            Ok(_) => {}
            Err(e) => return Err(classify(addr, host, &io.first, &e, timeout)),
        }
    }
    let elapsed = start.elapsed();
    let neg = Negotiated::of(&conn);
    conn.send_close_notify();
    let _ = conn.complete_io(&mut io);
    Ok((neg, elapsed))
}

fn classify(
    addr: SocketAddr,
    host: &str,
    first: &[u8],
    e: &io::Error,
    timeout: Duration,
) -> PreflightError {
    let host = host.to_string();
    if first.starts_with(b"HTTP/") {
        return PreflightError::PlainHttp { addr };
    }
    if matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ) {
        return PreflightError::Timeout { addr, timeout };
    }
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls {
        Some(rustls::Error::InvalidCertificate(c)) => {
            let detail = format!("{c:?}");
            match c {
                CertificateError::UnknownIssuer => PreflightError::UnknownIssuer { host, detail },
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => {
                    PreflightError::NameMismatch { host, detail }
                }
                CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. } => {
                    PreflightError::Expired { host, detail }
                }
                _ => PreflightError::BadCertificate { host, detail },
            }
        }
        Some(other) => PreflightError::Tls {
            addr,
            detail: other.to_string(),
        },
        None => PreflightError::Tls {
            addr,
            detail: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insecure_config_needs_no_roots_and_offers_http11() {
        let cfg = client_config(&ClientTlsOptions {
            insecure: true,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(cfg.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn a_lone_cert_or_key_is_refused() {
        let o = ClientTlsOptions {
            insecure: true,
            cert: Some("c.pem".into()),
            ..Default::default()
        };
        assert!(matches!(client_config(&o), Err(ClientTlsError::Pair)));
    }

    #[test]
    fn messages_name_the_cause_and_the_fix() {
        let e = PreflightError::UnknownIssuer {
            host: "localhost".into(),
            detail: "UnknownIssuer".into(),
        };
        let line = e.to_string();
        assert!(line.contains("--cacert") && line.contains("-k"), "{line}");
        assert!(!line.contains('\n'));
        let e = PreflightError::PlainHttp {
            addr: "127.0.0.1:1".parse().unwrap(),
        };
        assert!(e.to_string().contains("use http://"));
    }
}
