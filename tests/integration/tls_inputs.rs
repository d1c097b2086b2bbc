//! `https://` URLs on the command line: the certificate flags, the preflight
//! handshake before any load (exit 1 naming the cause and the fix: a
//! self-signed or unknown certificate, a name mismatch, plain HTTP on the
//! port, a silent port), and the bad usage found before it (exit 2: files
//! that cannot be used, a lone --cert, http and https in one run).

use crate::support::{ceiling_bin, run_ceiling, start_server, Finished, Server};
use shared::tls::{TestCa, Validity};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const WATCHDOG: Duration = Duration::from_secs(30);

/// Starts `ceiling serve --tls --bind 127.0.0.1:0 <extra>` and waits for its
/// `listening on https://ADDR` line.
#[allow(clippy::zombie_processes)] // `Server`'s Drop kills and waits.
fn start_tls(extra: &[&str]) -> Server {
    let mut child = Command::new(ceiling_bin())
        .args(["serve", "--tls", "--bind", "127.0.0.1:0", "--cpus", "0"])
        .args(["--io-engine", "epoll"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn ceiling serve --tls");
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
    let addr = line
        .split("listening on https://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next()?.parse::<SocketAddr>().ok());
    let Some(addr) = addr else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("no https address in {line:?}");
    };
    Server {
        child,
        addr,
        stdout: rx,
    }
}

/// A scratch directory for this test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ceiling-tls-in-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Writes the CA's certificate and a leaf for `names` (chain, key) under
/// `dir`; returns (ca, cert, key) paths.
fn files(dir: &Path, ca: &TestCa, names: &[&str], tag: &str) -> (PathBuf, PathBuf, PathBuf) {
    let leaf = ca
        .issue(
            &names.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
            Validity::Long,
        )
        .unwrap();
    let (cafile, cert, key) = (
        dir.join("ca.pem"),
        dir.join(format!("{tag}.crt")),
        dir.join(format!("{tag}.key")),
    );
    std::fs::write(&cafile, ca.ca_pem()).unwrap();
    std::fs::write(&cert, &leaf.cert_pem).unwrap();
    std::fs::write(&key, &leaf.key_pem).unwrap();
    (cafile, cert, key)
}

/// `ceiling -t1 -c1 -n1 ARGS URL`, bounded.
fn one_request(args: &[&str], url: &str) -> Finished {
    let mut all = vec!["-t1", "-c1", "-n1", "--cpus", "1", "--io-engine", "epoll"];
    all.extend_from_slice(args);
    all.push(url);
    run_ceiling(&all, WATCHDOG)
}

/// Exit 1, one line on stderr with every needle, nothing on stdout (no header:
/// nothing ran).
fn assert_preflight_failed(out: &Finished, needles: &[&str]) {
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("TLS preflight handshake failed, no load sent"),
        "{}",
        out.stderr
    );
    for n in needles {
        assert!(out.stderr.contains(n), "{n:?} not in {}", out.stderr);
    }
    assert!(out.stdout.is_empty(), "{}", out.stdout);
}

/// Exit 2, one line naming every needle, nothing on stdout.
fn assert_usage(out: &Finished, needles: &[&str]) {
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    for n in needles {
        assert!(out.stderr.contains(n), "{n:?} not in {}", out.stderr);
    }
    assert!(out.stdout.is_empty(), "{}", out.stdout);
}

#[test]
fn a_self_signed_server_without_k_exits_1_naming_cacert_and_k() {
    let t = start_tls(&[]);
    let url = format!("https://localhost:{}/", t.addr.port());
    let out = one_request(&[], &url);
    assert_preflight_failed(&out, &["--cacert", "-k", "localhost", "trusted root"]);
    // It stops before the output files are created: none is left empty.
    let dir = scratch("selfsigned");
    let json = dir.join("r.json");
    let out = one_request(&["--json", s(&json)], &url);
    assert_preflight_failed(&out, &["-k"]);
    assert!(!json.exists(), "an empty --json file was left");
    std::fs::remove_dir_all(&dir).unwrap();
    // -k: the preflight passes and the request is answered over TLS.
    let out = one_request(&["-k", "--json", "-"], &url);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["counters"]["completed"], 1, "{v}");
    assert_eq!(v["counters"]["status"]["success"], 1, "{v}");
    assert_eq!(v["config"]["tls"]["insecure"], true);
}

#[test]
fn a_trusted_ca_passes_and_a_name_mismatch_exits_1_naming_the_name() {
    let dir = scratch("ca");
    let ca = TestCa::new().unwrap();
    let (cafile, cert, key) = files(&dir, &ca, &["localhost"], "server");
    let t = start_tls(&["--cert", s(&cert), "--key", s(&key)]);
    let port = t.addr.port();
    // Trusted by --cacert, for the name it carries: the request is answered
    // over TLS. A client certificate (mTLS; this server asks for none) is
    // loaded too.
    let (_, ccert, ckey) = files(&dir, &ca, &["client.test"], "client");
    for extra in [
        &["--cacert", s(&cafile)][..],
        &[
            "--cacert",
            s(&cafile),
            "--cert",
            s(&ccert),
            "--key",
            s(&ckey),
        ],
        &["--cacert", s(&cafile), "--tls-resume", "off"],
    ] {
        let mut args = extra.to_vec();
        args.extend(["--json", "-"]);
        let out = one_request(&args, &format!("https://localhost:{port}/"));
        assert_eq!(out.code, Some(0), "{extra:?}: {}", out.stderr);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(v["counters"]["completed"], 1, "{extra:?}: {v}");
        assert_eq!(v["config"]["tls"]["cacert"], s(&cafile), "{extra:?}");
        assert_eq!(v["config"]["tls"]["insecure"], false);
        assert_eq!(v["tls"]["negotiated"]["alpn"], "http/1.1", "{extra:?}: {v}");
        assert_eq!(v["tls"]["handshakes"], 1, "{extra:?}: {v}");
        let resume = !extra.contains(&"off");
        assert_eq!(v["config"]["tls"]["resume"], resume);
        assert_eq!(v["tls"]["resume"], resume);
        // Paths, never the key's contents.
        assert!(!out.stdout.contains("PRIVATE KEY"));
    }
    // The certificate carries localhost, not the IP address the URL names.
    let out = one_request(
        &["--cacert", s(&cafile)],
        &format!("https://127.0.0.1:{port}/"),
    );
    assert_preflight_failed(&out, &["\"127.0.0.1\"", "not valid for the name", "-k"]);
    // Another CA's certificate: not trusted.
    let other = TestCa::new().unwrap();
    let odir = dir.join("other");
    std::fs::create_dir_all(&odir).unwrap();
    let (othercafile, _, _) = files(&odir, &other, &["localhost"], "x");
    let out = one_request(
        &["--cacert", s(&othercafile)],
        &format!("https://localhost:{port}/"),
    );
    assert_preflight_failed(&out, &["--cacert", "-k"]);
    // A key that is not the client certificate's: bad usage, before any load.
    let out = one_request(
        &[
            "--cacert",
            s(&cafile),
            "--cert",
            s(&ccert),
            "--key",
            s(&key),
        ],
        &format!("https://localhost:{port}/"),
    );
    assert_usage(&out, &["--cert/--key"]);
    drop(t);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What --tls-resume measures: with every request closing its connection,
/// on: reconnects resume the session (handshakes after the first are
/// resumed); off: every connection makes a full handshake.
#[test]
fn tls_resume_on_resumes_reconnects_and_off_never_does() {
    let t = start_tls(&[]);
    let url = format!("https://localhost:{}/", t.addr.port());
    for (resume, want_resumed) in [("on", true), ("off", false)] {
        let out = run_ceiling(
            &[
                "-t1",
                "-c1",
                "-n10",
                "--cpus",
                "1",
                "-k",
                "-H",
                "Connection: close",
                "--tls-resume",
                resume,
                "--json",
                "-",
                &url,
            ],
            WATCHDOG,
        );
        assert_eq!(out.code, Some(0), "{resume}: {}", out.stderr);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(v["counters"]["completed"], 10, "{resume}: {v}");
        let handshakes = v["tls"]["handshakes"].as_u64().unwrap();
        let resumed = v["tls"]["resumed"].as_u64().unwrap();
        assert_eq!(handshakes, 10, "{resume}: one connection per request: {v}");
        if want_resumed {
            // The first connection has no session to resume; the preflight
            // left none either.
            assert_eq!(resumed, 9, "{v}");
        } else {
            assert_eq!(resumed, 0, "{v}");
        }
    }
}

#[test]
fn https_to_a_plain_http_server_exits_1_saying_use_http() {
    let plain = start_server(&["--cpus", "0"]);
    let out = one_request(&["-k"], &format!("https://{}/", plain.addr));
    assert_preflight_failed(&out, &["answered plain HTTP", "use http://"]);
    assert_eq!(crate::support::served(plain.addr), 0, "no load was sent");
}

#[test]
fn a_silent_port_exits_1_within_the_bound() {
    // Accepted by the kernel, never answered.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}/", silent.local_addr().unwrap());
    let start = Instant::now();
    let out = one_request(&["-k", "--timeout", "300ms"], &url);
    let took = start.elapsed();
    assert_preflight_failed(&out, &["did not complete a TLS handshake within 300ms"]);
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    // Without --timeout: its default (2s) bounds the preflight too.
    let start = Instant::now();
    let out = one_request(&["-k"], &url);
    assert_preflight_failed(&out, &["within 2s"]);
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn unusable_certificate_flags_exit_2_before_any_connection() {
    let dir = scratch("flags");
    let junk = dir.join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    // Nothing listens on port 1: these stop before any connection is tried.
    let url = "https://127.0.0.1:1/";
    let cases: [(&[&str], &[&str]); 6] = [
        (&["--cert", s(&junk)], &["--key"]),
        (&["--key", s(&junk)], &["--cert"]),
        (
            &["--cacert", "/nonexistent/ca.pem"],
            &["--cacert", "/nonexistent/ca.pem"],
        ),
        (&["--cacert", s(&junk)], &["--cacert", "junk.pem"]),
        (&["-k", "--cacert", s(&junk)], &["--cacert"]),
        (&["--tls-resume", "sometimes"], &["--tls-resume", "on, off"]),
    ];
    for (args, needles) in cases {
        let out = one_request(args, url);
        assert_usage(&out, needles);
    }
    // A URL list that mixes http and https: one run speaks one scheme.
    let urls = dir.join("urls.txt");
    std::fs::write(&urls, "https://127.0.0.1:1/a\nhttp://127.0.0.1:1/b\n").unwrap();
    let out = run_ceiling(
        &["-t1", "-c1", "-n1", "-k", "--urls-file", s(&urls)],
        WATCHDOG,
    );
    assert_usage(
        &out,
        &["same scheme, host and port", "http://127.0.0.1:1/b"],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn tls_flags_with_an_http_url_warn_and_run() {
    let plain = start_server(&["--cpus", "0"]);
    // Not only certificate flags: `--tls-resume off` alone is named too.
    for (flags, shown) in [
        (&["-k", "--tls-resume", "off"][..], "-k --tls-resume off"),
        (&["--tls-resume", "off"], "--tls-resume off"),
    ] {
        let out = one_request(flags, &format!("http://{}/", plain.addr));
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        let want = format!(
            "warning: the TLS flags ({shown}) apply to https:// URLs only: http://{}/ is plain HTTP, so they are ignored",
            plain.addr
        );
        assert!(out.stderr.contains(&want), "{want}\n{}", out.stderr);
        assert!(!out.stderr.contains("certificate flags"), "{}", out.stderr);
    }
    assert_eq!(crate::support::served(plain.addr), 2);
}

#[test]
fn a_plan_carries_certificate_paths_and_each_node_reads_them() {
    let dir = scratch("plan");
    let t = start_tls(&[]);
    let url = format!("https://localhost:{}/", t.addr.port());
    // `ceiling plan` reads no certificate file: the nodes do.
    let plan = dir.join("plan.json");
    let out = run_ceiling(
        &[
            "plan",
            "-o",
            s(&plan),
            "--nodes",
            "1",
            "-c",
            "1",
            "-n",
            "1",
            "--cacert",
            "/nonexistent/ca.pem",
            &url,
        ],
        WATCHDOG,
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains(
            "with the certificate files it names (/nonexistent/ca.pem) at the same paths"
        ),
        "{}",
        out.stdout
    );
    let text = std::fs::read_to_string(&plan).unwrap();
    assert!(text.contains("/nonexistent/ca.pem"), "{text}");
    let node = |plan: &Path| {
        run_ceiling(
            &[
                "run",
                "--plan",
                s(plan),
                "--node-index",
                "0",
                "--cpus",
                "1",
                "--quiet",
            ],
            WATCHDOG,
        )
    };
    // The node cannot read the file: bad usage, before T0.
    assert_usage(&node(&plan), &["--cacert", "/nonexistent/ca.pem"]);
    // A plan without certificate flags: the node's preflight finds the
    // self-signed certificate, before T0.
    let out = run_ceiling(
        &[
            "plan",
            "-o",
            s(&plan),
            "--nodes",
            "1",
            "-c",
            "1",
            "-n",
            "1",
            &url,
        ],
        WATCHDOG,
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let start = Instant::now();
    assert_preflight_failed(&node(&plan), &["--cacert", "-k"]);
    assert!(start.elapsed() < Duration::from_secs(20));
    // A node takes no load flag: the certificate flags come from the file.
    let out = run_ceiling(
        &["run", "--plan", s(&plan), "--node-index", "0", "-k"],
        WATCHDOG,
    );
    assert_usage(&out, &["--insecure", "plan file"]);
    drop(t);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One handshake with `config`, one request and its response read (which
/// also reads the session tickets a TLS 1.3 server sends after the
/// handshake); returns whether the handshake resumed a session.
fn request_over(addr: SocketAddr, config: std::sync::Arc<rustls::ClientConfig>) -> bool {
    use std::io::{Read, Write};
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    let mut s = rustls::StreamOwned::new(conn, tcp);
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = Vec::new();
    let _ = s.read_to_end(&mut text);
    assert!(
        text.starts_with(b"HTTP/1.1 200 "),
        "{:?}",
        String::from_utf8_lossy(&text)
    );
    matches!(
        s.conn.handshake_kind(),
        Some(rustls::HandshakeKind::Resumed)
    )
}

/// The preflight uses a configuration of its own without resumption: the
/// run's first connection finds no session to resume, even when the preflight
/// read the server's tickets. The run's configuration shared would resume
/// (checked, so the test can fail).
#[test]
fn the_preflight_leaves_no_session_for_the_run_to_resume() {
    use loadgen::tls::{client_config, preflight, preflight_config, ClientTlsOptions};
    let t = start_tls(&[]);
    let run = || {
        client_config(
            &ClientTlsOptions {
                insecure: true,
                ..Default::default()
            },
            1,
        )
        .unwrap()
    };
    let limit = Duration::from_secs(5);
    let cfg = run();
    let (neg, _) = preflight(
        t.addr,
        "localhost",
        preflight_config(&cfg),
        limit,
        &mut Vec::new(),
    )
    .unwrap();
    assert!(!neg.resumed);
    // Even a preflight connection that reads tickets leaves none behind.
    assert!(!request_over(t.addr, preflight_config(&cfg)));
    assert!(
        !request_over(t.addr, cfg.clone()),
        "the preflight's session leaked into the run"
    );
    // The run's own connections resume each other's sessions (the server
    // issues tickets): what sharing the run's configuration would have done.
    assert!(request_over(t.addr, cfg.clone()));
    // The preflight never resumes, even on the run's configuration (its
    // client-certificate resolver is its own, and rustls resumes only with
    // the same one), so it cannot take a session from the run either.
    let (neg, _) = preflight(t.addr, "localhost", cfg.clone(), limit, &mut Vec::new()).unwrap();
    assert!(!neg.resumed, "{neg:?}");
    assert!(request_over(t.addr, cfg));
    // --tls-resume off: never.
    let off = client_config(
        &ClientTlsOptions {
            insecure: true,
            resume: false,
            ..Default::default()
        },
        1,
    )
    .unwrap();
    assert!(!request_over(t.addr, off.clone()));
    assert!(!request_over(t.addr, off));
}

/// A requests file (`--requests-file`) may name https:// URLs; its requests
/// share the run's scheme, host and port like --urls-file's.
#[test]
fn a_requests_file_speaks_https_and_one_scheme() {
    let dir = scratch("reqfile");
    let t = start_tls(&[]);
    let origin = format!("https://localhost:{}", t.addr.port());
    let good = dir.join("good.http");
    std::fs::write(
        &good,
        format!("GET {origin}/json\n\n# weight: 3\nGET {origin}/plaintext\n"),
    )
    .unwrap();
    let out = run_ceiling(
        &[
            "-t1",
            "-c1",
            "-n8",
            "--cpus",
            "1",
            "-k",
            "--requests-file",
            s(&good),
            "--json",
            "-",
        ],
        WATCHDOG,
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["counters"]["status"]["success"], 8, "{v}");
    assert_eq!(v["config"]["url"], format!("{origin}/json"));
    // The same host and port over plain HTTP is another origin.
    let mixed = dir.join("mixed.http");
    let plain = format!("http://localhost:{}", t.addr.port());
    std::fs::write(&mixed, format!("GET {origin}/json\n\nGET {plain}/json\n")).unwrap();
    let out = run_ceiling(
        &["-t1", "-c1", "-n1", "-k", "--requests-file", s(&mixed)],
        WATCHDOG,
    );
    assert_usage(&out, &["every request must go to", &origin]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A TLS server that requires a client certificate signed by `client_ca`
/// (TLS 1.3 and 1.2, or 1.2 only), answering every request `200 ok`; one
/// thread per connection. Returns its address; it lives as long as the test.
fn mtls_server(
    cert: &shared::tls::CertifiedKey,
    client_ca: rustls::pki_types::CertificateDer<'static>,
    tls12_only: bool,
) -> SocketAddr {
    use std::io::{Read, Write};
    let mut roots = rustls::RootCertStore::empty();
    roots.add(client_ca).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        std::sync::Arc::new(roots),
        shared::tls::provider(),
    )
    .build()
    .unwrap();
    let versions: &[&'static rustls::SupportedProtocolVersion] = if tls12_only {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let config = std::sync::Arc::new(
        rustls::ServerConfig::builder_with_provider(shared::tls::provider())
            .with_protocol_versions(versions)
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(cert.chain.clone(), cert.key.clone_key())
            .unwrap(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(sock) = sock else { break };
            let config = config.clone();
            std::thread::spawn(move || {
                sock.set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut s = rustls::StreamOwned::new(conn, sock);
                let mut buf = [0u8; 4096];
                let mut pending = Vec::new();
                // The handshake happens inside the first read; a refused
                // client certificate ends it with an alert.
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    pending.extend_from_slice(&buf[..n]);
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        pending.drain(..end + 4);
                        if s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

/// mTLS: a server that requires a client certificate is named by the
/// preflight when none is given (TLS 1.3 judges it after the client's
/// handshake is done, TLS 1.2 inside it) or when it refuses the one given;
/// with one it trusts, the run completes.
#[test]
fn a_required_client_certificate_is_named_by_the_preflight() {
    let dir = scratch("mtls");
    let ca = TestCa::new().unwrap();
    let (cafile, _, _) = files(&dir, &ca, &["localhost"], "unused");
    let server_cert = ca.issue(&["localhost".into()], Validity::Long).unwrap();
    let (_, ccert, ckey) = files(&dir, &ca, &["client.test"], "client");
    let stranger = TestCa::new().unwrap();
    let sdir = dir.join("stranger");
    std::fs::create_dir_all(&sdir).unwrap();
    let (_, scert, skey) = files(&sdir, &stranger, &["client.test"], "client");
    for tls12_only in [false, true] {
        let addr = mtls_server(&server_cert, ca.ca_der(), tls12_only);
        let url = format!("https://localhost:{}/", addr.port());
        let v = if tls12_only { "1.2" } else { "1.3" };
        let start = Instant::now();
        let out = one_request(&["--cacert", s(&cafile)], &url);
        assert_preflight_failed(
            &out,
            &["asks for a client certificate", "--cert FILE --key FILE"],
        );
        assert!(start.elapsed() < Duration::from_secs(10), "TLS {v}");
        let out = one_request(
            &[
                "--cacert",
                s(&cafile),
                "--cert",
                s(&scert),
                "--key",
                s(&skey),
            ],
            &url,
        );
        assert_preflight_failed(&out, &["refused the client certificate of --cert"]);
        let out = run_ceiling(
            &[
                "-t1",
                "-c2",
                "-n6",
                "--cpus",
                "1",
                "--cacert",
                s(&cafile),
                "--cert",
                s(&ccert),
                "--key",
                s(&ckey),
                "--json",
                "-",
                &url,
            ],
            WATCHDOG,
        );
        assert_eq!(out.code, Some(0), "TLS {v}: {}", out.stderr);
        let j: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(j["counters"]["status"]["success"], 6, "TLS {v}: {j}");
        let want = if tls12_only { "TLSv1_2" } else { "TLSv1_3" };
        assert_eq!(j["tls"]["negotiated"]["version"], want, "{j}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `openssl req -x509` marks the self-signed certificate it makes `CA:TRUE`,
/// the most common certificate a user makes for a test server: with
/// `--cacert` naming that very certificate the run works (as with curl); a
/// name the certificate lacks still fails, and without `--cacert` the line
/// names the certificate as untrusted, with the fix.
#[test]
fn an_openssl_self_signed_ca_certificate_is_trusted_by_cacert_of_itself() {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("skipped: openssl is not installed");
        return;
    }
    let dir = scratch("openssl-ca");
    let (cert, key) = (dir.join("c.pem"), dir.join("k.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "30"])
        .args(["-subj", "/CN=localhost", "-addext"])
        .arg("subjectAltName=DNS:localhost")
        .args(["-keyout", s(&key), "-out", s(&cert)])
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in", s(&cert)])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("CA:TRUE"));
    let t = start_tls(&["--cert", s(&cert), "--key", s(&key)]);
    let port = t.addr.port();
    let out = one_request(
        &["--cacert", s(&cert), "--json", "-"],
        &format!("https://localhost:{port}/plaintext"),
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let r: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(r["counters"]["completed"], 1, "{}", out.stdout);
    let out = one_request(&[], &format!("https://localhost:{port}/plaintext"));
    assert_preflight_failed(&out, &["CA:TRUE", "--cacert", "-k"]);
    // The same server by its address, which the certificate does not carry.
    let out = one_request(
        &["--cacert", s(&cert)],
        &format!("https://127.0.0.1:{port}/plaintext"),
    );
    assert_preflight_failed(&out, &["not valid for the name"]);
}
