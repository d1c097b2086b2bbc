//! The generator's TLS client side, before any load: the rustls client
//! configuration from the certificate flags, and the preflight handshake that
//! turns a bad certificate, a name mismatch, a plain-HTTP server or a silent
//! port into one line naming the cause and what to do.
//!
//! `plan::build` calls both for an `https://` URL: [`client_config`] (its
//! errors are bad usage, exit 2) and, for a run, [`preflight`] (its errors
//! exit 1). The workers take the [`TlsClient`] it puts in the plan and hold one
//! rustls `ClientConnection` per connection between socket and core
//! (docs/architecture.md, "The seam for TLS and HTTP/2").

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::ResolvesClientCert;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme,
};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// Why the client configuration cannot be built (bad usage, exit 2): one
/// line naming the flag and the file.
#[derive(Debug, thiserror::Error)]
pub enum ClientTlsError {
    /// A file of `--cacert`, `--cert` or `--key` that cannot be read or holds
    /// no PEM item of its kind.
    #[error("{flag}: {source}")]
    File {
        flag: &'static str,
        source: shared::tls::TlsError,
    },
    #[error("--cert needs --key (the certificate's private key), and --key needs --cert")]
    Pair,
    #[error("--cacert {path}: not a usable CA certificate: {reason}")]
    BadRoot { path: PathBuf, reason: String },
    #[error("no trusted roots: the system has none ({0}); give --cacert FILE, or -k to skip verification")]
    NoRoots(String),
    /// rustls refused the client certificate, e.g. a key that is not the certificate's.
    #[error("--cert/--key: {0}")]
    ClientAuth(rustls::Error),
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
}

impl ClientTlsOptions {
    /// Whether any flag differs from its default (an `http://` run ignores them).
    pub fn given(&self) -> bool {
        *self != Self::default()
    }

    /// The flags given, as typed (`-k --cacert ca.pem --tls-resume off`), for
    /// messages and the command line a campaign step records: paths only.
    pub fn flags(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.insecure {
            v.push("-k".to_string());
        }
        for (flag, path) in [
            ("--cacert", &self.cacert),
            ("--cert", &self.cert),
            ("--key", &self.key),
        ] {
            if let Some(p) = path {
                v.push(flag.to_string());
                v.push(p.display().to_string());
            }
        }
        if !self.resume {
            v.push("--tls-resume".to_string());
            v.push("off".to_string());
        }
        v
    }

    /// The checks that read no file: `--cert` and `--key` come together (a
    /// plan file, which no flag parser has seen, may hold one alone).
    pub fn check(&self) -> Result<(), ClientTlsError> {
        if self.cert.is_some() != self.key.is_some() {
            return Err(ClientTlsError::Pair);
        }
        Ok(())
    }
}

/// TLS 1.3 and 1.2, ALPN `http/1.1`, the shared provider; roots: the
/// system's (rustls-native-certs reads the same store as curl and openssl,
/// /etc/ssl/certs on Debian, so a certificate an administrator added is
/// trusted; webpki-roots would compile Mozilla's list in and ignore it) plus
/// `--cacert`, or none with `--insecure`. Session resumption per `resume`,
/// into a store with room for a ticket per connection of a run of
/// `connections` ([`crate::resume::SessionStore`]).
pub fn client_config(
    o: &ClientTlsOptions,
    connections: usize,
) -> Result<Arc<ClientConfig>, ClientTlsError> {
    o.check()?;
    let file = |flag| move |source| ClientTlsError::File { flag, source };
    let builder = ClientConfig::builder_with_provider(shared::tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?;
    let builder = if o.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Verifier::new(None, Vec::new())))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        let mut given = Vec::new();
        if let Some(path) = &o.cacert {
            for c in shared::tls::load_certs(path).map_err(file("--cacert"))? {
                given.push(c.clone());
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
        let provider = shared::tls::provider();
        let webpki =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| ClientTlsError::BadRoot {
                    path: o.cacert.clone().unwrap_or_default(),
                    reason: e.to_string(),
                })?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Verifier::new(Some(webpki), given)))
    };
    let mut cfg = match (&o.cert, &o.key) {
        (Some(c), Some(k)) => builder
            .with_client_auth_cert(
                shared::tls::load_certs(c).map_err(file("--cert"))?,
                shared::tls::load_key(k).map_err(file("--key"))?,
            )
            .map_err(ClientTlsError::ClientAuth)?,
        (None, None) => builder.with_no_client_auth(),
        _ => return Err(ClientTlsError::Pair),
    };
    cfg.alpn_protocols = vec![shared::tls::ALPN_HTTP11.to_vec()];
    cfg.resumption = if o.resume {
        rustls::client::Resumption::store(Arc::new(crate::resume::SessionStore::for_connections(
            connections,
        )))
    } else {
        rustls::client::Resumption::disabled()
    };
    Ok(Arc::new(cfg))
}

/// The configuration of the preflight handshake: `config` with resumption
/// off. A clone of a `ClientConfig` shares its session store, so a preflight
/// on the run's own configuration would leave a TLS 1.3 ticket that the run's
/// first connection resumes: that connection would then measure a resumed
/// handshake where every other first connection makes a full one, and the
/// run would count a resumption it did not earn.
pub fn preflight_config(config: &ClientConfig) -> Arc<ClientConfig> {
    let mut c = config.clone();
    c.resumption = rustls::client::Resumption::disabled();
    Arc::new(c)
}

/// The server-certificate check of a run.
///
/// - `-k` (`chain` None): any certificate is accepted; the handshake's
///   signatures are still checked, so it costs what a verified handshake does,
///   minus the chain walk.
/// - Otherwise the usual chain verification (webpki), and one case more: a
///   server certificate that is itself one of the `--cacert` certificates is
///   trusted as given, for the names it carries. `openssl req -x509` marks the
///   self-signed certificates it makes `CA:TRUE`, which webpki refuses as a
///   server's own (`CaUsedAsEndEntity`) while curl and OpenSSL accept the
///   certificate the user named: a user following "give --cacert FILE" with
///   the server's own certificate must not be refused.
#[derive(Debug)]
struct Verifier {
    chain: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    /// The `--cacert` certificates (DER).
    given: Vec<CertificateDer<'static>>,
    /// The provider's signature algorithms (what webpki checks with too).
    algs: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl Verifier {
    fn new(
        chain: Option<Arc<rustls::client::WebPkiServerVerifier>>,
        given: Vec<CertificateDer<'static>>,
    ) -> Self {
        Self {
            chain,
            given,
            algs: shared::tls::provider().signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(webpki) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match webpki.verify_server_cert(end_entity, intermediates, name, ocsp, now) {
            // Only that refusal: webpki checks the dates before the basic
            // constraints, so an expired or not-yet-valid certificate stays
            // refused as such, given or not (as curl refuses it).
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(o)))
                if format!("{o:?}").contains("CaUsedAsEndEntity")
                    && self.given.iter().any(|g| g.as_ref() == end_entity.as_ref()) =>
            {
                let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
                rustls::client::verify_server_name(&parsed, name)?;
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
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

impl std::fmt::Display for Negotiated {
    /// `TLSv1_3 TLS13_AES_256_GCM_SHA384, ALPN http/1.1` (ALPN `none` when
    /// the server chose none).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}, ALPN {}",
            self.version,
            self.cipher_suite,
            self.alpn.as_deref().unwrap_or("none")
        )
    }
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
    #[error("{host}: the server's certificate was refused: {detail}; check it (and --cacert), or -k to skip verification")]
    BadCertificate { host: String, detail: String },
    #[error("{addr} answered plain HTTP to a TLS handshake: use http:// instead of https://")]
    PlainHttp { addr: SocketAddr },
    #[error("{addr} did not complete a TLS handshake within {timeout:?}: is it a TLS server?")]
    Timeout { addr: SocketAddr, timeout: Duration },
    #[error("{addr} asks for a client certificate and refused the handshake without one ({detail}): give --cert FILE --key FILE")]
    ClientCertRequired { addr: SocketAddr, detail: String },
    #[error("{addr} refused the client certificate of --cert ({detail}): give one it trusts")]
    ClientCertRefused { addr: SocketAddr, detail: String },
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

/// The client-certificate resolver of `config`, noting whether the server
/// asked for a certificate (a CertificateRequest: rustls asks the resolver
/// whenever one arrives, with or without `--cert`).
#[derive(Debug)]
struct Asked {
    inner: Arc<dyn ResolvesClientCert>,
    asked: AtomicBool,
}

impl ResolvesClientCert for Asked {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        sigschemes: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        self.asked.store(true, Ordering::Relaxed);
        self.inner.resolve(root_hint_subjects, sigschemes)
    }
    fn only_raw_public_keys(&self) -> bool {
        self.inner.only_raw_public_keys()
    }
    fn has_certs(&self) -> bool {
        self.inner.has_certs()
    }
}

/// One handshake to `addr` for `host` (SNI and verification), bounded by
/// `timeout` as a whole; on success also the handshake time. Blocking: it
/// runs once, before any load.
///
/// A TLS 1.3 server that asked for a client certificate judges it (or its
/// absence) only after the client's handshake is done, and says so with an
/// alert; so when it asked, the preflight then reads for
/// max(2 x the handshake's time, 100 ms) (within `timeout`) for that alert.
/// A server that asks for none is not waited for.
pub fn preflight(
    addr: SocketAddr,
    host: &str,
    config: Arc<ClientConfig>,
    timeout: Duration,
    warnings: &mut Vec<String>,
) -> Result<(Negotiated, Duration), PreflightError> {
    // The crypto library's one-off start-up (aws-lc seeds its random
    // generator from CPU jitter: 20-40 ms here) happens before the clock
    // starts, so a short --timeout is not read as a silent server.
    let _ = (config.crypto_provider().secure_random).fill(&mut [0u8; 32]);
    // (A ClientHello made and dropped: its key share draws on the generator.)
    if let Ok(name) = ServerName::try_from("localhost") {
        let _ = ClientConnection::new(config.clone(), name);
    }
    let start = Instant::now();
    // A clone shares the session store: resumption is as `config` has it.
    let asked = Arc::new(Asked {
        inner: config.client_auth_cert_resolver.clone(),
        asked: AtomicBool::new(false),
    });
    let mut cfg = (*config).clone();
    cfg.client_auth_cert_resolver = asked.clone();
    let config = Arc::new(cfg);
    // Some(had a certificate to send) once the server asked for one.
    let asked_for = || {
        asked
            .asked
            .load(Ordering::Relaxed)
            .then(|| asked.inner.has_certs())
    };
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
            // A signal (the Ctrl-C handler's thread, a child's exit) is no
            // answer from the server: try again, within the bound.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(classify(addr, host, &io.first, &e, timeout, asked_for())),
        }
    }
    let elapsed = start.elapsed();
    let neg = Negotiated::of(&conn);
    if let (Some(had), true) = (asked_for(), neg.version == "TLSv1_3") {
        let grace = (elapsed * 2).max(Duration::from_millis(100));
        let until = (start + timeout).min(Instant::now() + grace);
        judged(&mut conn, &mut io.sock, until).map_err(|detail| match had {
            false => PreflightError::ClientCertRequired { addr, detail },
            true => PreflightError::ClientCertRefused { addr, detail },
        })?;
    }
    if asked_for() == Some(false) {
        // The handshake went through without one (the server's choice, e.g.
        // nginx `ssl_verify_client on`, which then answers every request
        // 400): a run would measure refusals.
        warnings.push(format!(
            "warning: {addr} asked for a client certificate and none is given: it may refuse every request (give --cert FILE --key FILE)"
        ));
    }
    conn.send_close_notify();
    let _ = conn.complete_io(&mut io);
    Ok((neg, elapsed))
}

/// Reads what a TLS 1.3 server sends after the handshake until `until`: Ok
/// when nothing refuses it (its session tickets, or silence), else what did
/// (an alert, a close, a reset).
fn judged(conn: &mut ClientConnection, sock: &mut TcpStream, until: Instant) -> Result<(), String> {
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        let _ = sock.set_read_timeout(Some(left));
        match conn.read_tls(sock) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Ok(0) => return Err("it closed the connection".into()),
            Ok(_) => match conn.process_new_packets() {
                Err(e) => return Err(e.to_string()),
                Ok(st) if st.peer_has_closed() => return Err("it closed the connection".into()),
                Ok(_) => {}
            },
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(())
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// The preflight's error for `e`; `asked`: Some(had a certificate to send)
/// when the server asked for a client certificate before failing.
fn classify(
    addr: SocketAddr,
    host: &str,
    first: &[u8],
    e: &io::Error,
    timeout: Duration,
    asked: Option<bool>,
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
            // rustls's own words ("certificate expired: verification time
            // ..., but certificate is not valid after ..."), not its Debug.
            let detail = rustls::Error::InvalidCertificate(c.clone()).to_string();
            let detail = detail
                .strip_prefix("invalid peer certificate: ")
                .unwrap_or(&detail)
                .to_string();
            match c {
                // A chain whose issuer is named by a trusted root whose key
                // did not sign it (another CA of the same name) is untrusted
                // for the same reason, with the same fix.
                CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                    PreflightError::UnknownIssuer { host, detail }
                }
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
                // `openssl req -x509` makes self-signed certificates CA:TRUE;
                // not among the trusted ones, it is untrusted like any other,
                // and `--cacert` with the certificate itself is the fix.
                CertificateError::Other(o) if format!("{o:?}").contains("CaUsedAsEndEntity") => {
                    PreflightError::UnknownIssuer {
                        host,
                        detail:
                            "a self-signed certificate marked CA:TRUE, not among the trusted ones"
                                .into(),
                    }
                }
                _ => PreflightError::BadCertificate { host, detail },
            }
        }
        // TLS 1.2: the server judges the client certificate inside the
        // handshake; after it asked for one, an alert, a close or a reset
        // (it may close while the client still writes) is about that.
        Some(rustls::Error::AlertReceived(_)) | None if asked.is_some() => {
            let detail = match tls {
                Some(alert) => alert.to_string(),
                None => e.to_string(),
            };
            match asked {
                Some(true) => PreflightError::ClientCertRefused { addr, detail },
                _ => PreflightError::ClientCertRequired { addr, detail },
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

    /// The given-certificate exception covers exactly webpki's refusal of a
    /// `CA:TRUE` server certificate: valid, it is trusted for its names;
    /// expired, it stays refused as expired; another name, refused.
    #[test]
    fn a_given_ca_marked_certificate_is_trusted_only_when_valid_and_named() {
        let names = ["localhost".to_string()];
        let check = |validity, host: &str| {
            let ck = shared::tls::self_signed_ca(&names, validity).unwrap();
            let der = ck.chain[0].clone();
            let mut roots = rustls::RootCertStore::empty();
            roots.add(der.clone()).unwrap();
            let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                shared::tls::provider(),
            )
            .build()
            .unwrap();
            let v = Verifier::new(Some(webpki), vec![der.clone()]);
            let name = ServerName::try_from(host.to_string()).unwrap();
            v.verify_server_cert(&der, &[], &name, &[], UnixTime::now())
        };
        assert!(check(shared::tls::Validity::Long, "localhost").is_ok());
        let e = check(shared::tls::Validity::Expired, "localhost").unwrap_err();
        assert!(
            matches!(
                e,
                rustls::Error::InvalidCertificate(
                    CertificateError::Expired | CertificateError::ExpiredContext { .. }
                )
            ),
            "{e:?}"
        );
        let e = check(shared::tls::Validity::Long, "other.test").unwrap_err();
        assert!(
            matches!(
                e,
                rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                        | CertificateError::NotValidForNameContext { .. }
                )
            ),
            "{e:?}"
        );
    }

    #[test]
    fn insecure_config_needs_no_roots_and_offers_http11() {
        let cfg = client_config(
            &ClientTlsOptions {
                insecure: true,
                ..Default::default()
            },
            1,
        )
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
        assert!(matches!(client_config(&o, 1), Err(ClientTlsError::Pair)));
    }

    #[test]
    fn unusable_files_name_their_flag() {
        let o = ClientTlsOptions {
            cacert: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        };
        let e = client_config(&o, 1).unwrap_err().to_string();
        assert!(
            e.starts_with("--cacert: ") && e.contains("/nonexistent/ca.pem"),
            "{e}"
        );
        let o = ClientTlsOptions {
            insecure: true,
            cert: Some("/nonexistent/c.pem".into()),
            key: Some("/nonexistent/k.pem".into()),
            ..Default::default()
        };
        let e = client_config(&o, 1).unwrap_err().to_string();
        assert!(
            e.starts_with("--cert: ") && e.contains("/nonexistent/c.pem"),
            "{e}"
        );
    }

    #[test]
    fn the_flags_as_typed_paths_only() {
        let o = ClientTlsOptions::default();
        assert!(!o.given() && o.flags().is_empty() && o.check().is_ok());
        let o = ClientTlsOptions {
            insecure: true,
            cacert: Some("ca.pem".into()),
            cert: Some("c.pem".into()),
            key: Some("k.pem".into()),
            resume: false,
        };
        assert!(o.given());
        assert_eq!(
            o.flags().join(" "),
            "-k --cacert ca.pem --cert c.pem --key k.pem --tls-resume off"
        );
        let lone = ClientTlsOptions {
            key: Some("k.pem".into()),
            ..Default::default()
        };
        assert!(matches!(lone.check(), Err(ClientTlsError::Pair)));
    }

    #[test]
    fn client_certificate_messages_name_the_flags() {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let e = PreflightError::ClientCertRequired {
            addr,
            detail: "received fatal alert: CertificateRequired".into(),
        };
        assert!(e.to_string().contains("give --cert FILE --key FILE"), "{e}");
        // TLS 1.2: an alert after the server asked is about the certificate.
        let alert = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure),
        );
        let t = Duration::from_secs(1);
        assert!(matches!(
            classify(addr, "h", b"", &alert, t, Some(false)),
            PreflightError::ClientCertRequired { .. }
        ));
        assert!(matches!(
            classify(addr, "h", b"", &alert, t, Some(true)),
            PreflightError::ClientCertRefused { .. }
        ));
        assert!(matches!(
            classify(addr, "h", b"", &alert, t, None),
            PreflightError::Tls { .. }
        ));
        // A refused server certificate stays about the server, asked or not.
        let bad = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        );
        assert!(matches!(
            classify(addr, "h", b"", &bad, t, Some(false)),
            PreflightError::UnknownIssuer { .. }
        ));
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
