//! TLS pieces both halves share: the one crypto provider (chosen by a cargo
//! feature of this crate, measured in BENCHMARKS.md), certificates made with
//! rcgen (self-signed, or under a throw-away CA for tests and mTLS), PEM
//! loading, and the SHA-256 fingerprint printed for a certificate.
//!
//! Nothing here does I/O on sockets: the server and the generator drive
//! rustls's own sans-IO connection objects between their bytes and HTTP.

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[cfg(not(any(feature = "tls-aws-lc", feature = "tls-ring")))]
compile_error!("enable one TLS crypto provider: feature tls-aws-lc or tls-ring of `shared`");

// aws-lc-rs is the default (see BENCHMARKS.md); with `tls-ring` also on (cargo
// unifies features, and the default cannot be switched off from the command
// line without plumbing), ring is used: `--features shared/tls-ring` selects it.
#[cfg(all(feature = "tls-aws-lc", not(feature = "tls-ring")))]
use aws_lc_rs as crypto_impl;
#[cfg(feature = "tls-ring")]
use ring as crypto_impl;
#[cfg(all(feature = "tls-aws-lc", not(feature = "tls-ring")))]
use rustls::crypto::aws_lc_rs as rustls_provider;
#[cfg(feature = "tls-ring")]
use rustls::crypto::ring as rustls_provider;

/// The ALPN protocol both sides offer: HTTP/1.1 only (RFC 7301 id `http/1.1`).
pub const ALPN_HTTP11: &[u8] = b"http/1.1";

/// Why a certificate or key could not be made or loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("could not read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)")]
    NoCertificate { path: PathBuf },
    #[error("{path}: {detail}")]
    Pem { path: PathBuf, detail: String },
    #[error("{path} holds no PEM private key (expected -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)")]
    NoKey { path: PathBuf },
    #[error("could not make a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the configuration, e.g. a key that does not match the certificate.
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
}

/// The crypto provider's name, as recorded in results and benchmarks.
pub fn provider_name() -> &'static str {
    #[cfg(not(feature = "tls-ring"))]
    {
        "aws-lc-rs"
    }
    #[cfg(feature = "tls-ring")]
    {
        "ring"
    }
}

/// The crypto provider every TLS configuration in Ceiling is built with: the
/// provider's defaults (TLS 1.3 AES-256-GCM, AES-128-GCM, ChaCha20-Poly1305 and
/// the TLS 1.2 ECDHE suites; X25519 first, then P-256, P-384).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls_provider::default_provider())
}

/// A stateless session-ticket maker for servers (ChaCha20-Poly1305 under keys
/// rotated every 6 hours), so any worker can resume a session another began.
pub fn ticketer() -> Result<Arc<dyn rustls::server::ProducesTickets>, TlsError> {
    Ok(rustls_provider::Ticketer::new()?)
}

/// The SHA-256 fingerprint of a DER certificate as colon-separated upper-case
/// hex pairs, the form `openssl x509 -fingerprint -sha256` prints (95 chars).
pub fn sha256_fingerprint(der: &[u8]) -> String {
    let digest = crypto_impl::digest::digest(&crypto_impl::digest::SHA256, der);
    let mut s = String::with_capacity(95);
    for (i, b) in digest.as_ref().iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{b:02X}");
    }
    s
}

/// A certificate chain (leaf first) and its private key, in DER and PEM.
#[derive(Debug)]
pub struct CertifiedKey {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// The leaf certificate as PEM.
    pub cert_pem: String,
    /// The private key as PKCS#8 PEM.
    pub key_pem: String,
}

impl Clone for CertifiedKey {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            cert_pem: self.cert_pem.clone(),
            key_pem: self.key_pem.clone(),
        }
    }
}

/// How long a made certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// rcgen's default, 1975 to 4096: never expires for a test server.
    Long,
    /// 2000-01-01 to 2001-01-01: expired, to test that clients refuse it.
    Expired,
}

/// The names every self-signed server certificate carries: a client reaching
/// the server on loopback by name or either address verifies.
pub const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

fn params(
    names: &[String],
    validity: Validity,
    cn: &str,
) -> Result<rcgen::CertificateParams, TlsError> {
    // IP literals become IP-address SANs, anything else a DNS name.
    let mut p = rcgen::CertificateParams::new(names.to_vec())?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, cn);
    p.distinguished_name = dn;
    if validity == Validity::Expired {
        p.not_before = rcgen::date_time_ymd(2000, 1, 1);
        p.not_after = rcgen::date_time_ymd(2001, 1, 1);
    }
    Ok(p)
}

fn pack(cert: &rcgen::Certificate, key: &rcgen::KeyPair) -> CertifiedKey {
    CertifiedKey {
        chain: vec![cert.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

/// A self-signed ECDSA P-256 certificate for `names` (DNS names or IP
/// addresses, as subject alternative names), made now with a fresh key.
pub fn self_signed(names: &[String], validity: Validity) -> Result<CertifiedKey, TlsError> {
    let key = rcgen::KeyPair::generate()?;
    let cert = params(names, validity, "ceiling serve")?.self_signed(&key)?;
    Ok(pack(&cert, &key))
}

/// A self-signed certificate for `names` marked `CA:TRUE`, as `openssl req
/// -x509` makes them: for tests of clients that must accept it as the very
/// certificate they were given, and still refuse it expired.
pub fn self_signed_ca(names: &[String], validity: Validity) -> Result<CertifiedKey, TlsError> {
    let key = rcgen::KeyPair::generate()?;
    let mut p = params(names, validity, "ceiling self-signed CA")?;
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = p.self_signed(&key)?;
    Ok(pack(&cert, &key))
}

/// A throw-away certificate authority that issues leaf certificates, for
/// tests and for trying mTLS: `ca_pem` is what a peer trusts.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl TestCa {
    /// A new CA with a fresh ECDSA P-256 key.
    pub fn new() -> Result<Self, TlsError> {
        let key = rcgen::KeyPair::generate()?;
        let mut p = params(&[], Validity::Long, "ceiling test CA")?;
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let cert = p.self_signed(&key)?;
        Ok(Self { cert, key })
    }

    /// The CA certificate as PEM.
    pub fn ca_pem(&self) -> String {
        self.cert.pem()
    }

    /// The CA certificate as DER.
    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    /// A leaf certificate for `names` signed by this CA; the chain holds the
    /// leaf then the CA.
    pub fn issue(&self, names: &[String], validity: Validity) -> Result<CertifiedKey, TlsError> {
        let key = rcgen::KeyPair::generate()?;
        let cn = names.first().map(String::as_str).unwrap_or("ceiling");
        let cert = params(names, validity, cn)?.signed_by(&key, &self.cert, &self.key)?;
        let mut ck = pack(&cert, &key);
        ck.chain.push(self.cert.der().clone());
        Ok(ck)
    }
}

/// Reads every PEM certificate in `path`, in order (leaf first for a chain).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// Reads the first PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC) in `path`.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey {
            path: path.to_path_buf(),
        },
        e => TlsError::Pem {
            path: path.to_path_buf(),
            detail: e.to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_openssl_shaped() {
        let fp = sha256_fingerprint(b"abc");
        // SHA-256("abc") per FIPS 180-2's example.
        assert!(fp.starts_with("BA:78:16:BF:8F:01:CF:EA"), "{fp}");
        assert_eq!(fp.len(), 95);
    }

    #[test]
    fn self_signed_round_trips_through_pem() {
        let names: Vec<String> = LOOPBACK_NAMES.iter().map(|s| s.to_string()).collect();
        let ck = self_signed(&names, Validity::Long).unwrap();
        let dir = std::env::temp_dir().join(format!("ceiling-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (c, k) = (dir.join("c.pem"), dir.join("k.pem"));
        std::fs::write(&c, &ck.cert_pem).unwrap();
        std::fs::write(&k, &ck.key_pem).unwrap();
        assert_eq!(load_certs(&c).unwrap(), ck.chain);
        assert_eq!(load_key(&k).unwrap().secret_der(), ck.key.secret_der());
        // The wrong file for each is a clear error, not a panic.
        assert!(matches!(
            load_certs(&k),
            Err(TlsError::NoCertificate { .. })
        ));
        assert!(matches!(load_key(&c), Err(TlsError::NoKey { .. })));
        assert!(matches!(
            load_key(&dir.join("missing.pem")),
            Err(TlsError::Read { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_ca_issues_a_chain() {
        let ca = TestCa::new().unwrap();
        let leaf = ca.issue(&["localhost".into()], Validity::Expired).unwrap();
        assert_eq!(leaf.chain.len(), 2);
        assert_eq!(leaf.chain[1], ca.ca_der());
        assert!(ca.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    }
}
