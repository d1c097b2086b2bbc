//! `ceiling serve --tls`: the routes over TLS 1.3 and 1.2 (a rustls client in
//! the test, pinning the printed fingerprint or trusting a test CA), plain HTTP
//! on the TLS port, stalled handshakes, and bad certificate flags.

use crate::support::{ceiling_bin, run_ceiling, Server};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// A started `ceiling serve --tls` and the fingerprint it printed.
struct TlsServer {
    server: Server,
    fingerprint: String,
}

#[allow(clippy::zombie_processes)] // `Server`'s Drop kills and waits.
fn start_tls(engine: &str, extra: &[&str]) -> Option<TlsServer> {
    if engine == "uring"
        && shared::runtime::choose_engine(shared::runtime::IoEngine::Uring).is_err()
    {
        eprintln!("io_uring unavailable here: skipping the uring variant");
        return None;
    }
    let mut child = Command::new(ceiling_bin())
        .args(["serve", "--tls", "--bind", "127.0.0.1:0", "--cpus", "0"])
        .args(["--io-engine", engine])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn ceiling serve");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
    let parsed = line
        .split("listening on https://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next()?.parse::<SocketAddr>().ok())
        .zip(line.split("certificate SHA-256 ").nth(1));
    let Some((addr, fingerprint)) = parsed else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("no https address and fingerprint in {line:?}");
    };
    let fingerprint = fingerprint.trim().to_string();
    Some(TlsServer {
        server: Server {
            child,
            addr,
            stdout: rx,
        },
        fingerprint,
    })
}

/// Trusts exactly the certificate whose SHA-256 the server printed, and checks
/// the handshake signatures with the provider's algorithms.
#[derive(Debug)]
struct Pinned(String);

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if shared::tls::sha256_fingerprint(end_entity) == self.0 {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("fingerprint differs".into()))
        }
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

fn versions(v: &str) -> Vec<&'static rustls::SupportedProtocolVersion> {
    match v {
        "1.2" => vec![&rustls::version::TLS12],
        _ => vec![&rustls::version::TLS13],
    }
}

fn pinned_config(fingerprint: &str, version: &str) -> Arc<ClientConfig> {
    let mut c = ClientConfig::builder_with_provider(shared::tls::provider())
        .with_protocol_versions(&versions(version))
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned(fingerprint.to_string())))
        .with_no_client_auth();
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(c)
}

type Tls = StreamOwned<ClientConnection, TcpStream>;

fn connect(addr: SocketAddr, cfg: Arc<ClientConfig>, name: &str) -> Tls {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let conn = ClientConnection::new(cfg, ServerName::try_from(name.to_string()).unwrap()).unwrap();
    let mut s = StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock).expect("handshake");
    }
    s
}

/// Reads one response with a Content-Length body: (status, body).
fn response(s: &mut impl Read, pending: &mut Vec<u8>) -> (u16, Vec<u8>) {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut r = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(n) = r.parse(pending).unwrap() {
            let len: usize = r
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .map(|h| std::str::from_utf8(h.value).unwrap().parse().unwrap())
                .unwrap_or(0);
            let status = r.code.unwrap();
            while pending.len() < n + len {
                let mut buf = [0u8; 65536];
                let k = s.read(&mut buf).expect("body");
                assert!(k > 0, "closed inside a body");
                pending.extend_from_slice(&buf[..k]);
            }
            let body = pending[n..n + len].to_vec();
            pending.drain(..n + len);
            return (status, body);
        }
        let mut buf = [0u8; 16384];
        let k = s.read(&mut buf).expect("a response");
        assert!(k > 0, "closed before a response");
        pending.extend_from_slice(&buf[..k]);
    }
}

fn stats_over_tls(t: &TlsServer) -> serde_json::Value {
    let mut s = connect(
        t.server.addr,
        pinned_config(&t.fingerprint, "1.3"),
        "localhost",
    );
    s.write_all(b"GET /__ceiling/stats HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let (status, body) = response(&mut s, &mut Vec::new());
    assert_eq!(status, 200);
    serde_json::from_slice(&body).unwrap()
}

fn routes_over_tls(engine: &str) {
    let Some(t) = start_tls(engine, &[]) else {
        return;
    };
    assert_eq!(t.fingerprint.len(), 95, "{}", t.fingerprint);
    for version in ["1.3", "1.2"] {
        let mut s = connect(
            t.server.addr,
            pinned_config(&t.fingerprint, version),
            "localhost",
        );
        assert_eq!(s.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
        let want = if version == "1.3" {
            rustls::ProtocolVersion::TLSv1_3
        } else {
            rustls::ProtocolVersion::TLSv1_2
        };
        assert_eq!(s.conn.protocol_version(), Some(want));
        let mut pending = Vec::new();
        // Keep-alive: three requests, one at a time.
        for (path, body) in [
            ("/plaintext", &b"Hello, World!"[..]),
            ("/json", &br#"{"message":"Hello, World!"}"#[..]),
            ("/", &b"Hello, World!"[..]),
        ] {
            write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
            let (status, got) = response(&mut s, &mut pending);
            assert_eq!(
                (status, got.as_slice()),
                (200, body),
                "{path} over TLS {version}"
            );
        }
        // 16 pipelined in one write: 16 answers in order.
        let mut batch = Vec::new();
        for i in 0..16 {
            write!(batch, "GET /status/{} HTTP/1.1\r\nHost: l\r\n\r\n", 200 + i).unwrap();
        }
        s.write_all(&batch).unwrap();
        for i in 0..16 {
            assert_eq!(response(&mut s, &mut pending).0, 200 + i);
        }
        // Bodies bigger than a record both ways: 1 MiB echoed, 3 MB streamed.
        let up = vec![b'u'; 1 << 20];
        write!(
            s,
            "POST /echo HTTP/1.1\r\nHost: l\r\nContent-Length: {}\r\n\r\n",
            up.len()
        )
        .unwrap();
        s.write_all(&up).unwrap();
        let (status, got) = response(&mut s, &mut pending);
        assert_eq!((status, got.len()), (200, up.len()));
        assert!(got == up);
        s.write_all(b"GET /bytes/3000000 HTTP/1.1\r\nHost: l\r\n\r\n")
            .unwrap();
        let (status, got) = response(&mut s, &mut pending);
        assert_eq!((status, got.len()), (200, 3_000_000));
        // The server closes after Connection: close with close_notify: a clean end.
        s.write_all(b"GET / HTTP/1.1\r\nHost: l\r\nConnection: close\r\n\r\n")
            .unwrap();
        assert_eq!(response(&mut s, &mut pending).0, 200);
        let mut rest = Vec::new();
        s.read_to_end(&mut rest)
            .expect("close_notify, not a truncation");
        assert!(rest.is_empty());
    }
    // The plain path's limits hold inside TLS: a 20 KiB head is refused (431)
    // and the connection closed, with close_notify.
    let mut s = connect(
        t.server.addr,
        pinned_config(&t.fingerprint, "1.3"),
        "localhost",
    );
    let big = format!(
        "GET / HTTP/1.1\r\nHost: l\r\nX-Big: {}\r\n\r\n",
        "b".repeat(20 << 10)
    );
    s.write_all(big.as_bytes()).unwrap();
    let mut pending = Vec::new();
    assert_eq!(response(&mut s, &mut pending).0, 431);
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).expect("closed with close_notify");
    let v = stats_over_tls(&t);
    // Three connections above, plus the one asking now.
    assert_eq!(v["tls_handshakes"], 4);
    assert_eq!(v["errors"]["header_too_large"], 1);
    assert_eq!(v["requests"], 2 * (3 + 16 + 2 + 1));
    assert_eq!(v["errors"]["tls"], 0);
}

fn plain_http_on_the_tls_port(engine: &str) {
    let Some(t) = start_tls(engine, &[]) else {
        return;
    };
    let mut s = TcpStream::connect(t.server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let start = Instant::now();
    s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: l\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).expect("closed, not left open");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
    assert!(text.contains("Connection: close"));
    assert!(text.ends_with("over TLS (https://...)\n"), "{text}");
    // Bytes that are neither TLS nor HTTP: closed at once, no answer.
    let mut s = TcpStream::connect(t.server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"\x00\x01\x02 not tls").unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty());
    let v = stats_over_tls(&t);
    assert_eq!(v["errors"]["tls"], 2);
    assert_eq!(v["requests"], 0);
}

fn stalled_handshakes_are_closed(engine: &str) {
    let Some(t) = start_tls(engine, &["--header-timeout", "300ms"]) else {
        return;
    };
    // One sends nothing; one stops inside its ClientHello record.
    let partial: &[u8] = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
    let mut conns: Vec<TcpStream> = [&b""[..], partial]
        .iter()
        .map(|bytes| {
            let mut s = TcpStream::connect(t.server.addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(bytes).unwrap();
            s
        })
        .collect();
    let start = Instant::now();
    for s in &mut conns {
        let mut rest = Vec::new();
        // Closed by the server (EOF or reset), well before the 10 s read timeout.
        let r = s.read_to_end(&mut rest);
        assert!(
            r.is_ok() || r.as_ref().unwrap_err().kind() != std::io::ErrorKind::WouldBlock,
            "{r:?}"
        );
    }
    // 300 ms plus at most two 100 ms ticks, with room for a loaded machine.
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(250),
        "closed too early: {took:?}"
    );
    assert!(took < Duration::from_secs(3), "closed too late: {took:?}");
    let v = stats_over_tls(&t);
    assert_eq!(v["errors"]["timeouts"], 2);
    assert_eq!(
        v["connections_open"], 1,
        "only the stats connection is left"
    );
}

fn certificate_files(engine: &str) {
    let ca = shared::tls::TestCa::new().unwrap();
    let leaf = ca
        .issue(
            &["localhost".into(), "127.0.0.1".into()],
            shared::tls::Validity::Long,
        )
        .unwrap();
    let dir = std::env::temp_dir().join(format!("ceiling-tls-{engine}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    // The chain as a server sends it: leaf then CA.
    std::fs::write(&cert, leaf.cert_pem.clone() + &ca.ca_pem()).unwrap();
    std::fs::write(&key, &leaf.key_pem).unwrap();
    let Some(t) = start_tls(
        engine,
        &[
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    ) else {
        return;
    };
    assert_eq!(
        t.fingerprint,
        shared::tls::sha256_fingerprint(&leaf.chain[0])
    );
    // Real verification against the CA, by name and by IP address.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.ca_der()).unwrap();
    let cfg = Arc::new(
        ClientConfig::builder_with_provider(shared::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    for name in ["localhost", "127.0.0.1"] {
        let mut s = connect(t.server.addr, cfg.clone(), name);
        s.write_all(b"GET /json HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        assert_eq!(response(&mut s, &mut Vec::new()).0, 200);
    }
    // A name the certificate does not carry fails verification on the client.
    let tcp = TcpStream::connect(t.server.addr).unwrap();
    let conn = ClientConnection::new(cfg, ServerName::try_from("example.test").unwrap()).unwrap();
    let mut s = StreamOwned::new(conn, tcp);
    let mut err = None;
    while s.conn.is_handshaking() {
        if let Err(e) = s.conn.complete_io(&mut s.sock) {
            err = Some(e);
            break;
        }
    }
    assert!(err.is_some(), "a name mismatch must fail");
    drop(s);
    drop(t);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_tls_flags_exit_2_with_one_line() {
    let dir = std::env::temp_dir().join(format!("ceiling-tls-flags-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let not_pem = dir.join("not.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    let not_pem = not_pem.to_str().unwrap();
    let missing = dir.join("missing.pem");
    let missing = missing.to_str().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (&["--cert", not_pem], "--key"),
        (&["--cert", missing, "--key", missing], "missing.pem"),
        (&["--cert", not_pem, "--key", not_pem], "no PEM certificate"),
        (
            &["--tls-name", "x", "--cert", not_pem, "--key", not_pem],
            "--tls-name",
        ),
    ];
    for (args, needle) in cases {
        let mut all = vec!["serve", "--bind", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let out = run_ceiling(&all, Duration::from_secs(20));
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The same checks with each engine.
macro_rules! per_engine {
    ($($engine:ident),*) => {$(
        mod $engine {
            const ENGINE: &str = stringify!($engine);
            #[test] fn routes_over_tls() { super::routes_over_tls(ENGINE) }
            #[test] fn plain_http_on_the_tls_port() { super::plain_http_on_the_tls_port(ENGINE) }
            #[test] fn stalled_handshakes_are_closed() { super::stalled_handshakes_are_closed(ENGINE) }
            #[test] fn certificate_files() { super::certificate_files(ENGINE) }
        }
    )*};
}

per_engine!(uring, epoll);

/// Writes `ck`'s chain and key as PEM files under `dir`; returns their paths.
fn write_pair(
    dir: &std::path::Path,
    name: &str,
    ck: &shared::tls::CertifiedKey,
) -> (String, String) {
    let (c, k) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&c, &ck.cert_pem).unwrap();
    std::fs::write(&k, &ck.key_pem).unwrap();
    (c.to_str().unwrap().into(), k.to_str().unwrap().into())
}

/// The generator's preflight handshake names each cause in one line: an
/// unknown issuer, a name mismatch, an expired certificate, plain HTTP, a port
/// that never answers; and records what a good handshake negotiated.
#[test]
fn preflight_names_each_cause() {
    use loadgen::tls::{client_config, preflight, ClientTlsOptions, PreflightError};
    use shared::tls::{TestCa, Validity};
    let dir = std::env::temp_dir().join(format!("ceiling-tls-pre-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = TestCa::new().unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.ca_pem()).unwrap();
    let trusting = |cacert: &std::path::Path| {
        client_config(
            &ClientTlsOptions {
                cacert: Some(cacert.to_path_buf()),
                resume: true,
                ..Default::default()
            },
            1,
        )
        .unwrap()
    };
    let limit = Duration::from_secs(5);

    // The self-signed server: unknown issuer unless -k.
    let selfsigned = start_tls("epoll", &[]).unwrap();
    let e = preflight(
        selfsigned.server.addr,
        "localhost",
        trusting(&ca_file),
        limit,
        &mut Vec::new(),
    )
    .unwrap_err();
    assert!(matches!(e, PreflightError::UnknownIssuer { .. }), "{e}");
    assert!(e.to_string().contains("-k"), "{e}");
    let insecure = client_config(
        &ClientTlsOptions {
            insecure: true,
            ..Default::default()
        },
        1,
    )
    .unwrap();
    let (neg, took) = preflight(
        selfsigned.server.addr,
        "localhost",
        insecure,
        limit,
        &mut Vec::new(),
    )
    .unwrap();
    assert_eq!(neg.version, "TLSv1_3");
    assert_eq!(neg.alpn.as_deref(), Some("http/1.1"));
    assert!(
        neg.cipher_suite.starts_with("TLS13_"),
        "{}",
        neg.cipher_suite
    );
    assert!(!neg.resumed);
    assert!(took < limit);

    // A CA-issued certificate for localhost: good by name, refused for another.
    let leaf = ca.issue(&["localhost".into()], Validity::Long).unwrap();
    let (c, k) = write_pair(&dir, "good", &leaf);
    let good = start_tls("epoll", &["--cert", &c, "--key", &k]).unwrap();
    let (neg, _) = preflight(
        good.server.addr,
        "localhost",
        trusting(&ca_file),
        limit,
        &mut Vec::new(),
    )
    .unwrap();
    assert_eq!(neg.alpn.as_deref(), Some("http/1.1"));
    let e = preflight(
        good.server.addr,
        "example.test",
        trusting(&ca_file),
        limit,
        &mut Vec::new(),
    )
    .unwrap_err();
    assert!(matches!(e, PreflightError::NameMismatch { .. }), "{e}");

    // An expired one.
    let old = ca.issue(&["localhost".into()], Validity::Expired).unwrap();
    let (c, k) = write_pair(&dir, "old", &old);
    let expired = start_tls("epoll", &["--cert", &c, "--key", &k]).unwrap();
    let e = preflight(
        expired.server.addr,
        "localhost",
        trusting(&ca_file),
        limit,
        &mut Vec::new(),
    )
    .unwrap_err();
    assert!(matches!(e, PreflightError::Expired { .. }), "{e}");

    // A plain-HTTP server on the port.
    let plain = crate::support::start_server(&["--cpus", "0"]);
    let e = preflight(
        plain.addr,
        "localhost",
        trusting(&ca_file),
        limit,
        &mut Vec::new(),
    )
    .unwrap_err();
    assert!(matches!(e, PreflightError::PlainHttp { .. }), "{e}");
    assert!(e.to_string().contains("use http://"), "{e}");

    // A port that accepts and never answers: bounded by the timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let start = Instant::now();
    let short = Duration::from_millis(300);
    let e = preflight(
        silent.local_addr().unwrap(),
        "localhost",
        trusting(&ca_file),
        short,
        &mut Vec::new(),
    )
    .unwrap_err();
    assert!(matches!(e, PreflightError::Timeout { .. }), "{e}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
