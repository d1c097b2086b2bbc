//! Inputs the field's bug reports say load generators get wrong (issue 11): each
//! kind of bad input gets one line and exit 2 before any load; the good ones that
//! looked odd (a name with two addresses, credentials in the URL, one round of a
//! comparison) do the right thing.

use crate::support::{ceiling_bin, exclusive, run_ceiling, served, start_server, start_server_on};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const WATCHDOG: Duration = Duration::from_secs(60);

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ceiling-inputs-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `ceiling ARGS`, expects bad usage: exit 2, one line on stderr naming
/// `why`, nothing on stdout, and no panic.
fn refused(args: &[&str], why: &str) {
    let out = run_ceiling(args, WATCHDOG);
    assert_eq!(
        out.code,
        Some(2),
        "{args:?}: exit {:?}\n{}",
        out.code,
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{args:?}: {}", out.stderr);
    assert_eq!(
        out.stderr.trim().lines().count(),
        1,
        "{args:?}: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains(why),
        "{args:?}: wanted {why:?} in {}",
        out.stderr
    );
}

/// Item 4: out-of-range, non-finite and negative values of every subcommand's
/// numeric and duration flags: one line, exit 2, never a panic (exit 134).
#[test]
fn out_of_range_values_are_one_line_and_exit_2() {
    let dir = scratch("range");
    let profiles = dir.join("profiles.toml");
    std::fs::write(
        &profiles,
        "[profiles.a]\n[profiles.b]\nio_engine = \"epoll\"\n",
    )
    .unwrap();
    let matrix = dir.join("m.toml");
    std::fs::write(
        &matrix,
        "args = [\"-d\", \"1e20\"]\n[[targets]]\nname = \"t\"\nurl = \"http://127.0.0.1:1\"\n[[endpoints]]\nname = \"e\"\npath = \"/\"\n",
    )
    .unwrap();
    let (p, m) = (profiles.to_str().unwrap(), matrix.to_str().unwrap());
    let plan = dir.join("plan.json");
    let plan = plan.to_str().unwrap();
    let url = "http://127.0.0.1:1/";
    for (args, why) in [
        (&["-d", "1e20", url][..], "-d"),
        (&["--timeout", "1e20", url], "--timeout"),
        (&["-d", "NaN", url], "finite"),
        (&["-d", "inf", url], "finite"),
        (&["-d", "-1", url], "at least"),
        (&["-d", "99999999999999999999999s", url], "at most"),
        (&["-R", "1e300", url], "--rate"),
        (&["-R", "0", url], "--rate"),
        (&["-R", "-3", url], "--rate"),
        (&["-R", "NaN", url], "finite"),
        (&["-c", "99999999999999999999", url], "--connections"),
        (&["-c", "-1", url], "--connections"),
        (&["-t", "0", "-c", "1", url], "--threads"),
        (&["-p", "1e9", url], "--pipeline"),
        (&["-n", "0", url], "--requests"),
        (&["-n", "1e30", url], "--requests"),
        (&["run", "-d", "1e20", url], "-d"),
        (
            &[
                "ramp",
                url,
                "--from",
                "1",
                "--to",
                "2",
                "--step-duration",
                "1e20",
            ],
            "--step-duration",
        ),
        (
            &[
                "ramp",
                url,
                "--from",
                "1",
                "--to",
                "2",
                "--max-errors",
                "inf",
            ],
            "--max-errors",
        ),
        (
            &["ramp", url, "--rate-from", "1e300", "--rate-to", "2"],
            "--rate-from",
        ),
        (&["ramp", url, "--from", "-1", "--to", "2"], "--from"),
        (
            &["ramp", url, "--rate-search", "--slo", "p99<1e300s"],
            "--slo",
        ),
        (
            &[
                "ramp",
                url,
                "--rate-search",
                "--slo",
                "p99<1ms",
                "--search-steps",
                "1e9",
            ],
            "--search-steps",
        ),
        (
            &[
                "compare",
                "a=http://127.0.0.1:1/",
                "b=http://127.0.0.1:2/",
                "--repeats",
                "0",
            ],
            "--repeats",
        ),
        (
            &[
                "compare",
                "a=http://127.0.0.1:1/",
                "b=http://127.0.0.1:2/",
                "-d",
                "1e20",
            ],
            "-d",
        ),
        (
            &[
                "compare",
                "a=http://127.0.0.1:1/",
                "b=http://127.0.0.1:2/",
                "--levels",
                "0",
            ],
            "--levels",
        ),
        (&["tune", p, "--repeats", "-1"], "--repeats"),
        (&["tune", p, "-d", "1e20"], "-d"),
        (&["machine", "--bytes", "1e20"], "--bytes"),
        (&["machine", "-d", "1e20"], "-d"),
        (&["machine", "--warmup", "-5s"], "--warmup"),
        (&["matrix", m], "-d"),
        (&["serve", "--grace", "1e20s"], "--grace"),
        (&["serve", "--grace", "99999999999999999999s"], "--grace"),
        (&["serve", "--backlog", "-1"], "--backlog"),
        (&["serve", "--idle-timeout", "0s"], "--idle-timeout"),
        (
            &["serve", "--max-body", "18446744073709551615G"],
            "--max-body",
        ),
        (&["plan", "-o", plan, "--nodes", "0", url], "--nodes"),
        (
            &[
                "plan",
                "-o",
                plan,
                "--nodes",
                "1",
                "--start-in",
                "1e20",
                url,
            ],
            "--start-in",
        ),
        (
            &[
                "plan",
                "-o",
                plan,
                "--nodes",
                "1",
                "--start-tolerance",
                "NaN",
                url,
            ],
            "--start-tolerance",
        ),
        (
            &["run", "--plan", plan, "--node-index", "-1"],
            "--node-index",
        ),
    ] {
        refused(args, why);
    }
}

/// Item 5: durations below what the engines honour are refused, naming the
/// smallest accepted value; at or above it they run for that long, not 0 s.
#[test]
fn sub_tick_durations_are_refused_and_short_ones_kept() {
    let _serial = exclusive();
    let server = start_server(&["--cpus", "0"]);
    let url = format!("{}/plaintext", server.url());
    refused(&["-t1", "-c1", "-d", "500us", &url], "at least 10ms");
    refused(&["-t1", "-c1", "-d", "0.0005", &url], "at least 10ms");
    refused(&["-t1", "-c1", "--timeout", "500us", &url], "at least 10ms");
    refused(
        &[
            "ramp",
            &url,
            "--from",
            "1",
            "--to",
            "2",
            "--step-duration",
            "9ms",
        ],
        "at least 10ms",
    );
    assert_eq!(served(server.addr), 0, "a refused run sent requests");
    // 150.5 ms is kept to the microsecond: the run lasts that long, not 150 or 0.
    let out = run_ceiling(
        &["-t1", "-c1", "-d", "150.5ms", "--json", "-", &url],
        WATCHDOG,
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let planned = v["config"]["duration_s"].as_f64().unwrap();
    assert!((planned - 0.1505).abs() < 1e-9, "{planned}");
    assert!(v["counters"]["completed"].as_u64().unwrap() > 0);
}

/// Item 8: request headers that contradict each other or the request are
/// refused before any load; the server sees nothing.
#[test]
fn contradictory_headers_are_refused_before_any_load() {
    let _serial = exclusive();
    let server = start_server(&["--cpus", "0"]);
    let url = format!("{}/echo", server.url());
    for (args, why) in [
        (
            &["-H", "Host: a", "-H", "Host: b"][..],
            "Host is given 2 times",
        ),
        (&["-H", "host: a", "-H", "HOST: a"], "Host is given 2 times"),
        (
            &["-m", "POST", "--body", "hi", "-H", "Content-Length: 5"],
            "contradicts the body of 2 bytes",
        ),
        (
            &["-m", "POST", "-H", "Content-Length: 1"],
            "contradicts the body of 0 bytes",
        ),
        (
            &[
                "-m",
                "POST",
                "--body",
                "hi",
                "-H",
                "Content-Length: 2",
                "-H",
                "Content-Length: 2",
            ],
            "2 times",
        ),
        (
            &[
                "-m",
                "POST",
                "--body",
                "hi",
                "-H",
                "Transfer-Encoding: chunked",
            ],
            "never chunks",
        ),
        (&["-H", "Transfer-Encoding: chunked"], "never chunks"),
        (
            &[
                "-m",
                "POST",
                "--body",
                "hi",
                "-H",
                "Content-Length: 2",
                "-H",
                "Transfer-Encoding: chunked",
            ],
            "never chunks",
        ),
        (&["-m", "TRACE", "--body", "x"], "no body"),
        (&["-H", "X-A: 1\r\nX-B: 2"], "control character"),
        (&["-H", "X A: 1"], "token"),
        (&["-H", "novalue"], "Name: value"),
        (&["-m", "GE T"], "token"),
        (&["-m", "GET\r\n"], "token"),
        (&["-H", "Host: a b"], "not a host[:port]"),
        (&["-H", "Host: a:99999"], "not a host[:port]"),
        (
            &["-H", "Connection: close", "-H", "Connection: keep-alive"],
            "both to close",
        ),
    ] {
        let mut full = vec!["-t1", "-c1", "-n", "5"];
        full.extend_from_slice(args);
        full.push(&url);
        refused(&full, why);
    }
    assert_eq!(served(server.addr), 0, "a refused run sent requests");
}

/// Item 11: a second `ceiling serve` on a port another server holds is refused
/// (SO_REUSEPORT would have let both listen); `--share-port` says it is meant.
#[test]
fn serve_refuses_a_port_in_use_unless_sharing_is_asked() {
    let first = start_server(&["--cpus", "0"]);
    let bind = first.addr.to_string();
    refused(&["serve", "--bind", &bind, "--cpus", "0"], "already in use");
    // A socket without SO_REUSEPORT holds a port too.
    let plain = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = plain.local_addr().unwrap().to_string();
    refused(
        &["serve", "--bind", &taken, "--cpus", "0"],
        "already in use",
    );
    // Sharing on purpose: it starts, on the same port.
    let shared = start_server_on(&bind, &["--cpus", "0", "--share-port"]);
    assert_eq!(shared.addr, first.addr);
    // Port 0 always gets a port of its own.
    let other = start_server(&["--cpus", "0"]);
    assert_ne!(other.addr.port(), first.addr.port());
}

/// A keep-alive server that answers 200 when the request carries `want` as its
/// Authorization header, else 401; counts both. Runs until the test ends.
fn auth_server(want: &'static str) -> (std::net::SocketAddr, Arc<AtomicU64>, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (ok, denied) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (ok2, denied2) = (ok.clone(), denied.clone());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let (ok, denied) = (ok2.clone(), denied2.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                loop {
                    let mut authorized = false;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if line.trim_end() == format!("Authorization: {want}") {
                            authorized = true;
                        }
                    }
                    let reply: &[u8] = if authorized {
                        ok.fetch_add(1, Ordering::Relaxed);
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                    } else {
                        denied.fetch_add(1, Ordering::Relaxed);
                        b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"
                    };
                    if conn.write_all(reply).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, ok, denied)
}

/// Item 3: credentials in the URL are sent as Basic auth (as curl does) and
/// appear in no output or file: run header, JSON, node file, merge, plan's
/// printout, campaign reports.
#[test]
fn url_credentials_authenticate_and_are_never_shown() {
    let _serial = exclusive();
    // base64("user:s3cret")
    let (addr, ok, denied) = auth_server("Basic dXNlcjpzM2NyZXQ=");
    let dir = scratch("auth");
    let url = format!("http://user:s3cret@{addr}/auth");
    let file = |n: &str| dir.join(n).to_str().unwrap().to_string();
    let (json, html, out_file) = (file("r.json"), file("r.html"), file("node.jsonl"));
    let out = run_ceiling(
        &[
            "-t1",
            "-c1",
            "-n",
            "20",
            "--latency",
            "--json",
            &json,
            "--html",
            &html,
            "--out",
            &out_file,
            &url,
        ],
        WATCHDOG,
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        denied.load(Ordering::Relaxed),
        0,
        "requests without credentials"
    );
    assert_eq!(ok.load(Ordering::Relaxed), 20);
    let mut shown = vec![out.stdout.clone(), out.stderr.clone()];
    assert!(out.stdout.contains("user:***@"), "{}", out.stdout);
    // A -H Authorization of the user's own wins, and its value is not shown either.
    let out = run_ceiling(
        &[
            "-t1",
            "-c1",
            "-n",
            "5",
            "-H",
            "Authorization: Bearer t0ken",
            "--json",
            "-",
            &url,
        ],
        WATCHDOG,
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        denied.load(Ordering::Relaxed),
        5,
        "the -H header is the one sent"
    );
    assert!(!out.stdout.contains("t0ken") && !out.stderr.contains("t0ken"));
    shown.extend([out.stdout, out.stderr]);

    // A planned run: the plan's printout, the node file and the merge.
    let plan = file("plan.json");
    let p = run_ceiling(
        &[
            "plan",
            "--nodes",
            "1",
            "--start-in",
            "1s",
            "-o",
            &plan,
            "-c",
            "1",
            "-n",
            "10",
            &url,
        ],
        WATCHDOG,
    );
    assert_eq!(p.code, Some(0), "{}", p.stderr);
    let node_file = file("node-0.jsonl");
    let n = run_ceiling(
        &[
            "run",
            "--plan",
            &plan,
            "--node-index",
            "0",
            "--out",
            &node_file,
        ],
        WATCHDOG,
    );
    assert_eq!(n.code, Some(0), "{}", n.stderr);
    let merged = file("merged.json");
    let m = run_ceiling(&["merge", &node_file, "--json", &merged], WATCHDOG);
    assert_eq!(m.code, Some(0), "{}", m.stderr);
    shown.extend([p.stdout, p.stderr, n.stdout, n.stderr, m.stdout, m.stderr]);

    // A campaign: compare's report and its JSON.
    let report = file("compare.json");
    let c = run_ceiling(
        &[
            "compare",
            "--repeats",
            "1",
            "-d",
            "100ms",
            "-c",
            "1",
            "-t",
            "1",
            &format!("a={url}"),
            &format!("b={url}"),
            "--json",
            &report,
        ],
        WATCHDOG,
    );
    assert_eq!(c.code, Some(0), "{}", c.stderr);
    shown.extend([c.stdout, c.stderr]);
    // A mistake quoting the URL does not quote the password either.
    let bad = run_ceiling(
        &["-t", "1", "-c", "1", "ftp://user:s3cret@127.0.0.1:1/"],
        WATCHDOG,
    );
    assert_eq!(bad.code, Some(2));
    shown.push(bad.stderr);

    for path in [&json, &html, &out_file, &node_file, &merged, &report] {
        shown.push(std::fs::read_to_string(path).unwrap());
    }
    for text in &shown {
        assert!(!text.contains("s3cret"), "the password is shown:\n{text}");
        assert!(
            !text.contains("dXNlcjpzM2NyZXQ"),
            "the credential is shown:\n{text}"
        );
    }
}

/// Item 9: one round gives no estimate of the run-to-run noise; compare and tune
/// say so, and how many rounds would give one, instead of `± inf` or a claim of
/// "within the noise".
#[test]
fn one_round_has_no_noise_estimate() {
    let _serial = exclusive();
    let fast = start_server(&["--cpus", "0"]);
    let slow = start_server(&["--cpus", "0"]);
    let out = run_ceiling(
        &[
            "compare",
            "--repeats",
            "1",
            "-d",
            "300ms",
            "-c",
            "2",
            "-t",
            "1",
            &format!("slow={}/delay/20", slow.url()),
            &format!("fast={}/plaintext", fast.url()),
        ],
        WATCHDOG,
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let text = out.stdout.to_lowercase();
    assert!(!text.contains("inf"), "{}", out.stdout);
    assert!(!text.contains("nan"), "{}", out.stdout);
    assert!(!text.contains("within"), "{}", out.stdout);
    assert!(text.contains("no noise estimate"), "{}", out.stdout);
    assert!(text.contains("--repeats 2"), "{}", out.stdout);

    let dir = scratch("tune1");
    let profiles = dir.join("p.toml");
    // Server-side profiles only: nothing in the kernel changes.
    std::fs::write(
        &profiles,
        "[profiles.a]\n[profiles.b]\nserver_cpus = \"0\"\n",
    )
    .unwrap();
    let out = run_ceiling(
        &[
            "tune",
            profiles.to_str().unwrap(),
            "--repeats",
            "1",
            "-d",
            "200ms",
            "-c",
            "2",
        ],
        WATCHDOG,
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let text = out.stdout.to_lowercase();
    assert!(
        !text.contains("inf") && !text.contains("nan"),
        "{}",
        out.stdout
    );
    assert!(
        !text.contains("within noise") && !text.contains("beyond noise"),
        "{}",
        out.stdout
    );
    assert!(text.contains("no noise estimate"), "{}", out.stdout);
}

/// Item 2: `localhost` resolving to ::1 then 127.0.0.1, the server on
/// 127.0.0.1 only: every address is tried in order before any load and the run
/// goes to the one that accepts. The hosts file is replaced in a private mount
/// namespace (`unshare -m`), never on the machine.
#[test]
fn localhost_uses_the_address_that_accepts() {
    let _serial = exclusive();
    let probe = Command::new("unshare")
        .args(["-m", "true"])
        .stderr(Stdio::null())
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("skipped: unshare -m is not permitted here (needs root or user namespaces)");
        return;
    }
    let server = start_server(&["--cpus", "0"]);
    let dir = scratch("hosts");
    let hosts = dir.join("hosts");
    std::fs::write(&hosts, "::1 localhost\n127.0.0.1 localhost\n").unwrap();
    let script = format!(
        "mount --bind {} /etc/hosts && exec {} -t1 -c2 -n 50 --json - http://localhost:{}/plaintext",
        hosts.display(),
        ceiling_bin(),
        server.addr.port()
    );
    let mut child = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    if stderr.contains("mount:") {
        eprintln!("skipped: cannot bind-mount over /etc/hosts here: {stderr}");
        return;
    }
    assert_eq!(status.code(), Some(0), "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect(&stderr);
    assert_eq!(v["counters"]["completed"], 50, "{stdout}");
    assert_eq!(v["counters"]["errors"]["connect"], 0, "{stdout}");
    assert_eq!(served(server.addr), 50);
    // The machine's own hosts file is untouched.
    let real = std::fs::read_to_string("/etc/hosts").unwrap();
    assert_ne!(real, "::1 localhost\n127.0.0.1 localhost\n");
    let _ = TcpStream::connect(server.addr);
}

/// A refused value of a flag with fixed choices, in every subcommand that takes
/// one: one real line, clap's `[possible values: ...]` on it, no literal `\n`
/// (which once joined the two lines), no escape sequence.
#[test]
fn refused_choices_are_one_real_line() {
    let (a, b) = ("a=http://127.0.0.1:1/", "b=http://127.0.0.1:2/");
    let ramp = ["--from", "1", "--to", "2", "http://127.0.0.1:1/"];
    let on_off = "[possible values: on, off] (see --help)";
    let pipeline = "[possible values: refill, batch] (see --help)";
    let arrivals = "[possible values: constant, poisson] (see --help)";
    for (args, want) in [
        (vec!["https://x/", "--tls-resume", "maybe"], on_off),
        (vec!["https://x/", "--tls-resume", "ON"], on_off),
        (vec!["https://x/", "--tls-resume"], on_off),
        (vec!["http://x/", "--pipeline-mode", "xx"], pipeline),
        (vec!["http://x/", "-R", "10", "--arrivals", "zz"], arrivals),
        (vec!["compare", "--tls-resume", "maybe", a, b], on_off),
        (vec!["compare", "--pipeline-mode", "xx", a, b], pipeline),
        ([&["ramp", "--tls-resume", "1"][..], &ramp].concat(), on_off),
        (
            [&["ramp", "--pipeline-mode", ""][..], &ramp].concat(),
            pipeline,
        ),
        (vec!["tune", "p.toml", "--tls-resume", "yes"], on_off),
        (vec!["tune", "p.toml", "--pipeline-mode", "xx"], pipeline),
        (vec!["plan", "--arrivals", "uniform", "http://x/"], arrivals),
        (vec!["plan", "--tls-resume", "no", "https://x/"], on_off),
    ] {
        let out = run_ceiling(&args, WATCHDOG);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        let line = out.stderr.strip_suffix('\n').unwrap_or(&out.stderr);
        assert!(!line.contains('\n'), "{args:?}: {line}");
        assert!(
            !line.contains("\\n") && !line.contains('\x1b'),
            "{args:?}: {line}"
        );
        assert!(
            line.ends_with(&format!("' {want}")) || line.ends_with(&format!(" supplied {want}")),
            "{args:?}: wanted {want:?} after the flag in {line}"
        );
    }
    // Other refusals stay one line too; a newline inside the value itself is
    // shown escaped, so the line still holds the whole value.
    for args in [
        vec!["machine", "--io-engine", "zz"],
        vec!["serve", "--io-engine", "zz"],
        vec!["http://x/", "--bogus"],
        vec!["compare"],
    ] {
        let out = run_ceiling(&args, WATCHDOG);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.stderr);
        assert!(!out.stderr.contains("\\n"), "{args:?}: {}", out.stderr);
    }
    let out = run_ceiling(&["https://x/", "--tls-resume", "ma\nybe"], WATCHDOG);
    assert_eq!(
        out.stderr,
        format!("ceiling: invalid value 'ma\\nybe' for '--tls-resume <on|off>' {on_off}\n")
    );
}
