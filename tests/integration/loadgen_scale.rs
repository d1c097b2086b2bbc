//! Scale features of the generator: `--source-ips` (the server sees peers from each
//! listed address; with root, in a namespace of its own with a 200-port range, 500
//! connections open from three addresses) and `--pipeline-mode` (refill keeps N in flight, batch waits
//! for all N before sending N more).

use std::collections::BTreeSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::loadgen_count::{assert_balanced, json_path, n, served};
use crate::support::{ceiling_bin, run_ceiling, start_server};

const WATCHDOG: Duration = Duration::from_secs(30);

/// Peers of established connections to local `port`, from /proc/net/tcp (the
/// server's side of each connection: local 127.0.0.1:port, remote the client).
fn peers_of(port: u16) -> BTreeSet<Ipv4Addr> {
    let text = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let addr = |field: &str| -> Option<(Ipv4Addr, u16)> {
        let (ip, p) = field.split_once(':')?;
        // The address is the kernel's u32 in host order, printed as hex.
        let ip = Ipv4Addr::from(u32::from_str_radix(ip, 16).ok()?.to_le_bytes());
        Some((ip, u16::from_str_radix(p, 16).ok()?))
    };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (local, remote, state) = (addr(f.get(1)?)?, addr(f.get(2)?)?, *f.get(3)?);
            (local.1 == port && state == "01").then_some(remote.0)
        })
        .collect()
}

#[test]
fn source_ips_spread_connections_over_the_listed_addresses() {
    let server = start_server(&[]);
    let url = format!("{}/plaintext", server.url());
    let before = served(&server);
    let path = json_path();
    // Paced, so the connections stay open long enough to be seen (600 at 300/s: 2 s).
    let mut child = Command::new(ceiling_bin())
        .args(["-t", "1", "-c", "6", "-n", "600", "-R", "300"])
        .args(["--source-ips", "127.0.0.2-127.0.0.4", "--json", &path, &url])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ceiling");
    let want: BTreeSet<Ipv4Addr> = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let start = Instant::now();
    let mut seen = BTreeSet::new();
    let status = loop {
        seen.extend(peers_of(server.addr.port()));
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > WATCHDOG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ceiling --source-ips ran past {WATCHDOG:?}");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(seen, want, "the server's peers");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(n(&v, "sent"), 600);
    assert_eq!(n(&v, "completed"), 600);
    assert_eq!(n(&v, "errors.connect"), 0);
    assert_balanced(&v);
    assert_eq!(served(&server) - before, 600, "the server disagrees");
    assert_eq!(
        v["config"]["source_ips"],
        serde_json::json!(["127.0.0.2", "127.0.0.3", "127.0.0.4"])
    );
    assert!(
        stdout.contains("6 connections, from 3 source addresses (127.0.0.2 .. 127.0.0.4)"),
        "{stdout}"
    );
}

#[test]
fn source_ips_work_on_both_engines_and_refused_ports_fail_cleanly() {
    let server = start_server(&[]);
    let url = format!("{}/", server.url());
    for engine in ["uring", "epoll"] {
        let out = run_ceiling(
            &[
                "-t",
                "1",
                "-c",
                "4",
                "-n",
                "2000",
                "--io-engine",
                engine,
                "--source-ips",
                "127.0.0.5,127.0.0.6",
                &url,
            ],
            WATCHDOG,
        );
        assert_eq!(out.code, Some(0), "{engine}: {}", out.stderr);
        assert!(out.stdout.contains("2000 requests in"), "{}", out.stdout);
    }
    // A refused port: connect errors, not hangs, through the hand-made socket.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    let out = run_ceiling(
        &[
            "-t",
            "1",
            "-c",
            "1",
            "-n",
            "5",
            "--timeout",
            "300ms",
            "--source-ips",
            "127.0.0.2",
            &dead,
        ],
        WATCHDOG,
    );
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("could not connect"), "{}", out.stderr);
}

/// A server for one connection that answers one of the `depth` outstanding
/// requests, then looks (for up to 1 s, ample even on a loaded machine) whether the client sends another
/// before the rest are answered: refill does at once, batch never does.
/// Returns (requests served, whether a refill was seen).
fn watch_pipeline(mode: &str) -> (u64, bool) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let total = 8u64;
    let depth = 4u64;
    let server = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        let (mut received, mut answered, mut refilled) = (0u64, 0u64, false);
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let mut read = |s: &mut std::net::TcpStream, received: &mut u64| -> bool {
            match s.read(&mut chunk) {
                Ok(0) => false,
                Ok(k) => {
                    buf.extend_from_slice(&chunk[..k]);
                    let text = String::from_utf8_lossy(&buf).into_owned();
                    *received = text.matches("\r\n\r\n").count() as u64;
                    true
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
                Err(e) => panic!("{e}"),
            }
        };
        while answered < total {
            while received - answered < depth.min(total - answered) {
                assert!(read(&mut s, &mut received), "the client stopped sending");
            }
            s.write_all(response).unwrap();
            answered += 1;
            if answered < total {
                s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
                let before = received;
                while received == before && read(&mut s, &mut received) {}
                refilled |= received > before;
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            }
            while answered < received {
                s.write_all(response).unwrap();
                answered += 1;
            }
        }
        (answered, refilled)
    });
    let out = run_ceiling(
        &[
            "-t",
            "1",
            "-c",
            "1",
            "-n",
            "8",
            "-p",
            "4",
            "--pipeline-mode",
            mode,
            &url,
        ],
        WATCHDOG,
    );
    assert_eq!(out.code, Some(0), "{mode}: {}", out.stderr);
    assert!(out.stdout.contains("8 requests in"), "{}", out.stdout);
    server.join().unwrap()
}

#[test]
fn refill_tops_up_and_batch_waits_for_the_whole_batch() {
    assert_eq!(watch_pipeline("refill"), (8, true));
    assert_eq!(watch_pipeline("batch"), (8, false));
}

/// A network namespace of this test's own, deleted on drop (with what runs in it).
struct Netns {
    name: String,
    server: Option<std::process::Child>,
}

impl Netns {
    /// None when this process may not make one (not root, no `ip`).
    fn new(tag: &str) -> Option<Netns> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return None;
        }
        let name = format!("ceil-{tag}-{}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return None;
        }
        let ns = Netns { name, server: None };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        Some(ns)
    }

    fn exec(&self, args: &[&str]) {
        let s = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .status()
            .unwrap();
        assert!(s.success(), "ip netns exec {} {args:?}", self.name);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Some(mut c) = self.server.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

#[test]
fn source_ips_open_more_connections_than_one_address_has_ports() {
    let _guard = crate::support::exclusive();
    let Some(mut ns) = Netns::new("ports") else {
        eprintln!("skipped: needs root and `ip netns` (a namespace of its own for the port range)");
        return;
    };
    // 200 local ports in this namespace only; 500 connections need 3 source addresses.
    ns.exec(&["sysctl", "-qw", "net.ipv4.ip_local_port_range=40000 40199"]);
    let mut server = Command::new("ip")
        .args(["netns", "exec", &ns.name, ceiling_bin(), "serve"])
        .args(["--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn ceiling serve");
    let stdout = server.stdout.take().unwrap();
    ns.server = Some(server);
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(rest) = line.split("listening on ").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap().to_string());
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("ceiling serve printed its address");
    let url = format!("{base}/plaintext");
    let gen = |extra: &[&str]| {
        let mut args = vec!["netns", "exec", &ns.name, ceiling_bin()];
        args.extend_from_slice(&["-t", "1", "-c", "500", "-n", "5000"]);
        args.extend_from_slice(extra);
        let path = json_path();
        args.extend_from_slice(&["--json", &path, &url]);
        let out = Command::new("ip")
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let json = std::fs::read_to_string(&path).ok();
        let _ = std::fs::remove_file(&path);
        (out, json)
    };
    // One address: refused before any load, naming the remedy.
    let (out, _) = gen(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--source-ips"), "{stderr}");
    // Three: every connection opens and every request is answered.
    let (out, json) = gen(&["--source-ips", "127.0.0.2-127.0.0.4"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v: Value = serde_json::from_str(&json.expect("a JSON result")).unwrap();
    assert_eq!(n(&v, "completed"), 5000);
    // More connections than one address's 200 ports (all 500 normally).
    assert!(n(&v, "connects") > 200, "{}", v["counters"]);
    assert_eq!(n(&v, "errors.connect"), 0);
    assert_balanced(&v);
}
