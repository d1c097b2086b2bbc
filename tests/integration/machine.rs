//! `ceiling machine`: the embedded server and the generator on disjoint CPUs; the
//! printed table, the Markdown and the JSON agree with the runs' own results.

use std::process::Command;

use serde_json::Value;

use crate::support::{ceiling_bin, start_server};

#[test]
fn machine_measures_the_ceiling_and_a_target_as_a_share_of_it() {
    let _serial = crate::support::exclusive();
    let target = start_server(&[]);
    let dir = std::env::temp_dir();
    let json = dir.join(format!("ceiling-machine-{}.json", std::process::id()));
    let md = dir.join(format!("ceiling-machine-{}.md", std::process::id()));
    let csv = dir.join(format!("ceiling-machine-{}.csv", std::process::id()));
    let html = dir.join(format!("ceiling-machine-{}.html", std::process::id()));
    let out = Command::new(ceiling_bin())
        .args([
            "machine",
            "--duration",
            "1s",
            "--warmup",
            "0",
            "--bytes",
            "4096",
        ])
        .args(["--target", &format!("mine={}/json", target.url())])
        .args([
            "--json",
            json.to_str().unwrap(),
            "--markdown",
            md.to_str().unwrap(),
            "--csv",
            csv.to_str().unwrap(),
            "--html",
            html.to_str().unwrap(),
        ])
        .output()
        .expect("run ceiling machine");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let markdown = std::fs::read_to_string(&md).unwrap();
    let csv_text = std::fs::read_to_string(&csv).unwrap();
    let page = std::fs::read_to_string(&html).unwrap();
    for p in [&json, &md, &csv, &html] {
        let _ = std::fs::remove_file(p);
    }
    assert_eq!(
        csv_text.lines().count(),
        1 + 3 + 1,
        "header, 3 workloads, 1 target"
    );
    // Requests/s as bars, latency by percentile; the rows as HTML tables.
    assert_eq!(page.matches("<svg").count(), 2);
    assert!(page.contains("<td>plaintext</td>") && page.contains("<td>mine</td>"));

    assert_eq!(v["schema"], "ceiling.machine/1");
    let rows = v["ceiling"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["plaintext", "json", "bytes/4096"]);
    for row in rows {
        let rps = row["requests_per_sec"].as_f64().unwrap();
        let result = &row["result"];
        assert!(rps > 0.0, "{row}");
        assert_eq!(row["errors"], 0, "{row}");
        assert_eq!(rps, result["requests_per_sec"].as_f64().unwrap());
        assert!(row["server_us_per_request"].as_f64().unwrap() > 0.0);
        assert!(row["generator_us_per_request"].as_f64().unwrap() > 0.0);
        // The same figure in the text table and the Markdown table.
        let shown = format!("{rps:.0}");
        let name = row["name"].as_str().unwrap();
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(name) && l.contains(&shown)),
            "{name} {shown} not in\n{stdout}"
        );
        assert!(
            markdown.contains(&format!("| {name} | {shown} |")),
            "{markdown}"
        );
    }
    // The large body really was 4096 bytes a response.
    let big = &rows[2]["result"]["counters"];
    let per = big["bytes_read"].as_f64().unwrap() / big["completed"].as_f64().unwrap();
    assert!(
        per > 4096.0 && per < 4096.0 + 512.0,
        "{per} bytes per response"
    );

    let t = &v["targets"][0];
    assert_eq!(t["name"], "mine");
    let pct = t["pct_of_ceiling"].as_f64().unwrap();
    let want = 100.0 * t["requests_per_sec"].as_f64().unwrap()
        / rows[0]["requests_per_sec"].as_f64().unwrap();
    assert!((pct - want).abs() < 1e-6);
    assert!(stdout.contains(&format!("{pct:.1}%")), "{stdout}");
}

#[test]
fn machine_bad_usage_exits_2_before_starting_anything() {
    let _serial = crate::support::exclusive();
    for args in [
        &["machine", "--target", "no-equals-sign"][..],
        &["machine", "--target", "x=ftp://127.0.0.1/"],
        &["machine", "--duration", "0s"],
        &["machine", "--warmup", "soon"],
        &[
            "machine",
            "--cacert",
            "/nonexistent/ca.pem",
            "--target",
            "x=https://127.0.0.1:1/",
        ],
    ] {
        let out = Command::new(ceiling_bin()).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
    }
}

/// `ceiling machine --tls`: the three TLS rows follow the plain ones, against
/// its own `ceiling serve --tls` (self-signed, `-k`), each with handshakes and
/// CPU on both sides; the text, Markdown and CSV show them. Bounded: 1 s a row,
/// no warm-up, a watchdog.
///
/// NEEDS HTTPS IN THE GENERATOR (issue 15): the per-connection layer (main,
/// 034eddb) and the `https://` URLs of `plan::build` (branch `tin`); without
/// both, `ceiling machine --tls` stops at its plan check with "https is not
/// supported" (exit 2) and this test fails there.
#[test]
fn machine_tls_adds_kept_alive_full_and_resumed_handshake_rows() {
    let _serial = crate::support::exclusive();
    let dir = std::env::temp_dir();
    let json = dir.join(format!("ceiling-machine-tls-{}.json", std::process::id()));
    let md = dir.join(format!("ceiling-machine-tls-{}.md", std::process::id()));
    let csv = dir.join(format!("ceiling-machine-tls-{}.csv", std::process::id()));
    let out = crate::support::run_ceiling(
        &[
            "machine",
            "--tls",
            "--duration",
            "1s",
            "--warmup",
            "0",
            "--bytes",
            "4096",
            "--json",
            json.to_str().unwrap(),
            "--markdown",
            md.to_str().unwrap(),
            "--csv",
            csv.to_str().unwrap(),
        ],
        std::time::Duration::from_secs(120),
    );
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let markdown = std::fs::read_to_string(&md).unwrap();
    let csv_text = std::fs::read_to_string(&csv).unwrap();
    for p in [&json, &md, &csv] {
        let _ = std::fs::remove_file(p);
    }
    let rows = v["ceiling"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "plaintext",
            "json",
            "bytes/4096",
            "TLS kept-alive",
            "TLS new handshakes",
            "TLS resumed handshakes"
        ]
    );
    assert!(rows[..3].iter().all(|r| r.get("tls").is_none()));
    let n = |v: &Value| v.as_u64().unwrap_or_else(|| panic!("{v} is not a count"));
    let f = |v: &Value| v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"));
    for (row, workload) in
        rows[3..]
            .iter()
            .zip(["kept_alive", "full_handshakes", "resumed_handshakes"])
    {
        let t = &row["tls"];
        let result = &row["result"];
        assert_eq!(t["workload"], workload, "{row}");
        assert!(result["config"]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://"));
        assert_eq!(result["config"]["tls"]["insecure"], true);
        assert_eq!(row["errors"], 0, "{workload}: {}", result["counters"]);
        assert!(f(&row["requests_per_sec"]) > 0.0, "{row}");
        assert!(f(&row["server_us_per_request"]) > 0.0, "{row}");
        assert!(f(&row["generator_us_per_request"]) > 0.0, "{row}");
        // The row's figures are its result's own.
        assert!(n(&t["handshakes"]) > 0, "{workload}: {t}");
        assert_eq!(t["handshakes"], result["tls"]["handshakes"]);
        assert_eq!(t["handshakes_per_sec"], result["tls"]["handshakes_per_sec"]);
        assert_eq!(t["negotiated"]["alpn"], "http/1.1", "{t}");
        assert!(t["handshake_p50_us"].as_u64().is_some(), "{t}");
    }
    let (keep, full, resumed) = (&rows[3], &rows[4], &rows[5]);
    // Kept-alive: a few handshakes carry many requests; no per-handshake CPU.
    assert!(
        n(&keep["result"]["counters"]["completed"]) > 10 * n(&keep["tls"]["handshakes"]),
        "{}",
        keep["tls"]
    );
    assert!(keep["tls"]["generator_us_per_handshake"].is_null());
    // One request per connection: a handshake for every request that completed.
    for row in [full, resumed] {
        let t = &row["tls"];
        let completed = n(&row["result"]["counters"]["completed"]);
        let handshakes = n(&t["handshakes"]);
        assert!(completed <= handshakes, "{completed} > {handshakes}");
        assert!(f(&t["handshakes_per_sec"]) > 0.0);
        assert!(f(&t["generator_us_per_handshake"]) > 0.0, "{t}");
        assert!(f(&t["server_us_per_handshake"]) > 0.0, "{t}");
        let shown = format!("{:.0}", f(&t["handshakes_per_sec"]));
        let name = row["name"].as_str().unwrap();
        assert!(
            out.stdout
                .lines()
                .any(|l| l.starts_with(name) && l.contains(&shown)),
            "{name} {shown} not in\n{}",
            out.stdout
        );
        assert!(
            markdown.contains(&format!("| {name} | {shown} |")),
            "{markdown}"
        );
    }
    // --tls-resume off: every handshake full; on: reconnects resume. Not
    // most of them at 64 connections: rustls's client cache keeps 8 TLS 1.3
    // tickets per server, so only about 8 of the connections that reconnect
    // at once find one (measured: 365 of 1,472 here).
    assert_eq!(full["tls"]["resumed"], 0, "{}", full["tls"]);
    assert_eq!(full["result"]["config"]["tls"]["resume"], false);
    assert_eq!(resumed["result"]["config"]["tls"]["resume"], true);
    let (r, h) = (
        n(&resumed["tls"]["resumed"]),
        n(&resumed["tls"]["handshakes"]),
    );
    assert!(r > 0 && r <= h, "{r} of {h} handshakes resumed");
    assert!(out.stdout.contains("TLS: TLSv1_"), "{}", out.stdout);
    assert_eq!(csv_text.lines().count(), 1 + 6, "{csv_text}");
    assert!(csv_text
        .lines()
        .next()
        .unwrap()
        .ends_with(",server_us_per_handshake"));
}

/// A password or a lone user (a token) in a target URL shows nowhere: not on the
/// progress lines, the text report, the JSON, Markdown, CSV or HTML file, nor an
/// error message, of `machine`, `compare`, `ramp`, `matrix` and (as root) `tune`,
/// against a real `ceiling serve --tls`. Bounded: 200 ms runs, one round, a watchdog.
#[test]
fn no_campaign_shows_a_url_password_or_token() {
    let _serial = crate::support::exclusive();
    const PASSWORD: &str = "s3cretPW";
    const TOKEN: &str = "t0kenXYZ";
    let server = start_server(&["--tls"]);
    let with_password = format!("https://u:{PASSWORD}@{}/plaintext", server.addr);
    let with_token = format!("https://{TOKEN}@{}/json", server.addr);
    let dir = std::env::temp_dir().join(format!("ceiling-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let reports = |kind: &str| {
        ["json", "markdown", "csv", "html"]
            .into_iter()
            .flat_map(|f| [format!("--{f}"), file(&format!("{kind}.{f}"))])
            .collect::<Vec<String>>()
    };
    std::fs::write(
        file("matrix.toml"),
        format!(
            "args = [\"-k\", \"-t\", \"1\", \"-c\", \"2\", \"-d\", \"200ms\"]\n\
             [[targets]]\nname = \"p\"\nurl = \"https://u:{PASSWORD}@{addr}\"\n\
             [[targets]]\nname = \"t\"\nurl = \"https://{TOKEN}@{addr}\"\n\
             [[endpoints]]\nname = \"plaintext\"\npath = \"/plaintext\"\n",
            addr = server.addr
        ),
    )
    .unwrap();
    let (password_target, token_target) = (format!("p={with_password}"), format!("t={with_token}"));
    let short = ["-k", "-t", "1", "-c", "2"];
    let mut runs: Vec<Vec<String>> = vec![
        [
            &[
                "machine", "-d", "200ms", "--warmup", "100ms", "--bytes", "64",
            ][..],
            &short,
            &["--target", &password_target, "--target", &token_target],
        ]
        .concat()
        .iter()
        .map(|s| s.to_string())
        .chain(reports("machine"))
        .collect(),
        [
            &["compare", "-d", "200ms", "--repeats", "1"][..],
            &short,
            &[&password_target, &token_target],
        ]
        .concat()
        .iter()
        .map(|s| s.to_string())
        .chain(reports("compare"))
        .collect(),
        [
            &["ramp", "--from", "1", "--to", "2", "--step", "1"][..],
            &["--step-duration", "200ms", "-k", "-t", "1", &with_password],
        ]
        .concat()
        .iter()
        .map(|s| s.to_string())
        .chain(reports("ramp"))
        .collect(),
        ["matrix".to_string(), file("matrix.toml")]
            .into_iter()
            .chain(reports("matrix"))
            .collect(),
    ];
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        // Both profiles leave the setting as it is: nothing changes but a write.
        let fin = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_fin_timeout").unwrap();
        std::fs::write(
            file("tune.toml"),
            format!(
                "[profiles.unchanged]\n[profiles.same]\n\"net.ipv4.tcp_fin_timeout\" = {}\n",
                fin.trim()
            ),
        )
        .unwrap();
        runs.push(
            [
                &["tune", &file("tune.toml"), "-d", "200ms", "--repeats", "1"][..],
                &short,
                &["--target", &with_password],
            ]
            .concat()
            .iter()
            .map(|s| s.to_string())
            .chain(reports("tune"))
            .collect(),
        );
    }
    let mut printed = Vec::new();
    for args in &runs {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = crate::support::run_ceiling(&args, std::time::Duration::from_secs(120));
        assert_eq!(
            out.code,
            Some(0),
            "{args:?}\n{}\n{}",
            out.stdout,
            out.stderr
        );
        // What it shows instead: the user, the password masked (in its JSON
        // at least: the matrix shows no URL on screen).
        let json = args[args.iter().position(|a| *a == "--json").unwrap() + 1];
        let json = std::fs::read_to_string(json).unwrap();
        assert!(
            json.contains("https://u:***@"),
            "{args:?}\n{}\n{}",
            out.stdout,
            out.stderr
        );
        printed.push((format!("{args:?}"), out.stdout + &out.stderr));
    }
    // Refused before any load, each naming the URL.
    let bad = format!("ftp://u:{PASSWORD}@127.0.0.1/");
    let bad_token = format!("https://{TOKEN}@127.0.0.1:99999/");
    for args in [
        vec!["machine", "--target", "x=BAD"],
        vec!["machine", "--target", "x=TOKEN"],
        vec!["compare", "a=BAD", "b=TOKEN"],
        vec!["compare", "a=TOKEN", "b=BAD"],
        vec!["ramp", "--from", "1", "--to", "2", "BAD"],
        vec!["ramp", "--from", "1", "--to", "2", "TOKEN"],
        vec!["machine", "--target", "x=BAD", "extra-argument"],
    ] {
        let args: Vec<String> = args
            .iter()
            .map(|a| a.replace("BAD", &bad).replace("TOKEN", &bad_token))
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = crate::support::run_ceiling(&args, std::time::Duration::from_secs(20));
        assert_eq!(out.code, Some(2), "{args:?}\n{}", out.stderr);
        printed.push((format!("{args:?}"), out.stdout + &out.stderr));
    }
    for (args, text) in &printed {
        for secret in [PASSWORD, TOKEN] {
            assert!(!text.contains(secret), "{args} printed {secret}:\n{text}");
        }
    }
    let mut written = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.is_empty(), "{} is empty", path.display());
        for secret in [PASSWORD, TOKEN] {
            assert!(!text.contains(secret), "{} holds {secret}", path.display());
        }
        written += 1;
    }
    assert!(written >= 16, "{written} report files");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What an interrupted `ceiling machine` printed and wrote.
struct Interrupted {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    json: Value,
    markdown: String,
}

/// Runs `ceiling machine ARGS` with 2 connections, no warm-up and a JSON and
/// Markdown report, and sends it one SIGINT once the step whose line contains
/// `step` has started and its server answered a request of it (readiness: the
/// URL on the step line, that server's request count). Bounded by a watchdog.
fn interrupt_machine(args: &[&str], step: &str) -> Interrupted {
    use std::io::{BufRead, BufReader, Read};
    use std::time::{Duration, Instant};
    let dir = std::env::temp_dir();
    let id = format!("{}-{}", std::process::id(), step.len());
    let json = dir.join(format!("ceiling-machine-int-{id}.json"));
    let md = dir.join(format!("ceiling-machine-int-{id}.md"));
    let mut child = Command::new(ceiling_bin())
        .args(["machine", "--warmup", "0", "-t", "1", "-c", "2"])
        .args(args)
        .args(["--json", json.to_str().unwrap()])
        .args(["--markdown", md.to_str().unwrap()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let watchdog = Instant::now() + Duration::from_secs(60);
    let mut err = String::new();
    let addr: std::net::SocketAddr = loop {
        let left = watchdog.saturating_duration_since(Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no {step:?} line:\n{err}");
        };
        err.push_str(&line);
        err.push('\n');
        if line.contains(step) {
            // "... NAME (http://ADDR/PATH), 1s"
            let url = line.split(" (http://").nth(1).unwrap();
            break url.split('/').next().unwrap().parse().unwrap();
        }
    };
    let before = crate::support::served(addr);
    while crate::support::served(addr) == before {
        assert!(Instant::now() < watchdog, "{step} never got going");
        std::thread::sleep(Duration::from_millis(2));
    }
    // SAFETY: kill(2) on our own child's PID.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > watchdog {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ceiling machine did not stop on SIGINT");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    err.extend(rx.try_iter().map(|l| l + "\n"));
    let stdout = out.join().unwrap();
    let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();
    let (json_text, markdown) = (read(&json), read(&md));
    let _ = std::fs::remove_file(&json);
    let _ = std::fs::remove_file(&md);
    Interrupted {
        code: status.code(),
        json: serde_json::from_str(&json_text)
            .unwrap_or_else(|e| panic!("{e}: {json_text}\n{stdout}\n{err}")),
        stdout,
        stderr: err,
        markdown,
    }
}

/// Ctrl-C (SIGINT) during the last row: `ceiling machine` still prints and
/// writes its report, and that row says it was cut short: a mark and a
/// footnote with the time it covers in the text and Markdown, `interrupted` at
/// the row's top level and the report's in the JSON. Bounded: 1 s rows.
#[test]
fn machine_interrupted_in_its_last_row_marks_that_row() {
    let _serial = crate::support::exclusive();
    let target = start_server(&[]);
    let target_arg = format!("mine={}/plaintext", target.url());
    let r = interrupt_machine(
        &["-d", "1s", "--bytes", "64", "--target", &target_arg],
        "[4/4] mine",
    );
    let (stdout, v) = (&r.stdout, &r.json);
    assert_eq!(r.code, Some(0), "{stdout}\n{}", r.stderr);
    assert_eq!(v["interrupted"], true, "{stdout}");
    assert_eq!(v["not_run"], serde_json::json!([]));
    for row in v["ceiling"].as_array().unwrap() {
        assert_eq!(row["interrupted"], false, "{}", row["name"]);
    }
    let mine = &v["targets"][0];
    assert_eq!(mine["interrupted"], true);
    assert_eq!(mine["result"]["interrupted"], true);
    let covered_ms = mine["result"]["duration_s"].as_f64().unwrap() * 1e3;
    assert!(covered_ms < 1000.0, "{covered_ms} ms");
    let note = format!("*: mine: interrupted (Ctrl-C): covers {covered_ms:.0} ms of the 1s asked");
    assert!(stdout.lines().any(|l| l.starts_with("mine * ")), "{stdout}");
    assert!(stdout.lines().any(|l| l == note), "{note} not in\n{stdout}");
    assert_eq!(stdout.matches(" * ").count(), 1, "{stdout}");
    assert!(r.markdown.contains("| mine \\* |"), "{}", r.markdown);
    assert!(r.markdown.contains(&format!("\\{note}")), "{}", r.markdown);
}

/// Ctrl-C during the first row: that row is kept and marked, and no test after
/// it runs (before, each later run started, saw the stop and ended at once,
/// reading as a row of near-zero figures); the report names them as not run.
#[test]
fn machine_interrupted_early_runs_no_later_test() {
    let _serial = crate::support::exclusive();
    let target = start_server(&[]);
    let target_arg = format!("mine={}/plaintext", target.url());
    let r = interrupt_machine(
        &["-d", "30s", "--bytes", "64", "--target", &target_arg],
        "[1/4] plaintext",
    );
    let (stdout, v) = (&r.stdout, &r.json);
    assert_eq!(r.code, Some(0), "{stdout}\n{}", r.stderr);
    assert_eq!(v["interrupted"], true);
    let rows = v["ceiling"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{stdout}");
    assert_eq!(rows[0]["interrupted"], true);
    assert!(rows[0]["result"]["duration_s"].as_f64().unwrap() < 30.0);
    assert!(v["targets"].as_array().unwrap().is_empty());
    assert_eq!(
        v["not_run"],
        serde_json::json!(["json", "bytes/64", "mine"])
    );
    assert_eq!(crate::support::served(target.addr), 0, "the target ran");
    assert!(!r.stderr.contains("[2/4]"), "{}", r.stderr);
    assert!(
        stdout.lines().any(|l| l.starts_with("plaintext * ")),
        "{stdout}"
    );
    assert!(
        stdout.contains("\nInterrupted (Ctrl-C): not run: json, bytes/64, mine\n"),
        "{stdout}"
    );
}
