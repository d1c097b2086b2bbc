//! `ceiling matrix FILE.toml`: two `ceiling serve` targets x two endpoints x two
//! setups; the tables agree with every cell's own result.

use std::process::Command;

use serde_json::Value;

use crate::support::{ceiling_bin, start_server};

#[test]
fn matrix_runs_every_cell_and_reports_it() {
    let _serial = crate::support::exclusive();
    let a = start_server(&[]);
    let b = start_server(&[]);
    let dir = std::env::temp_dir();
    let id = std::process::id();
    let file = dir.join(format!("ceiling-matrix-{id}.toml"));
    let json = dir.join(format!("ceiling-matrix-{id}.json"));
    let md = dir.join(format!("ceiling-matrix-{id}.md"));
    let csv = dir.join(format!("ceiling-matrix-{id}.csv"));
    let html = dir.join(format!("ceiling-matrix-{id}.html"));
    std::fs::write(
        &file,
        format!(
            r#"title = "two servers"
args = ["-t", "1", "-d", "1s"]
[[targets]]
name = "a"
url = "{}"
[[targets]]
name = "b"
url = "{}/"
[[endpoints]]
name = "json"
path = "/json"
[[endpoints]]
name = "missing"
path = "/nope"
[[setups]]
name = "c2"
args = ["-c", "2"]
[[setups]]
name = "c8"
args = ["-c", "8"]
"#,
            a.url(),
            b.url()
        ),
    )
    .unwrap();
    let out = Command::new(ceiling_bin())
        .args([
            "matrix",
            file.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ])
        .args(["--markdown", md.to_str().unwrap()])
        .args([
            "--csv",
            csv.to_str().unwrap(),
            "--html",
            html.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let markdown = std::fs::read_to_string(&md).unwrap();
    let csv_text = std::fs::read_to_string(&csv).unwrap();
    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(
        csv_text.lines().count(),
        1 + 8,
        "a header and a row per cell"
    );
    assert_eq!(
        page.matches("<svg").count(),
        4,
        "a bar chart and latency curves per endpoint"
    );
    for p in [&file, &json, &md, &csv, &html] {
        let _ = std::fs::remove_file(p);
    }
    assert_eq!(v["schema"], "ceiling.matrix/1");
    let cells = v["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 8, "2 endpoints x 2 targets x 2 setups");
    for c in cells {
        let r = &c["result"];
        assert_eq!(c["requests_per_sec"], r["requests_per_sec"]);
        let conns = r["config"]["connections"].as_u64().unwrap();
        assert_eq!(format!("c{conns}"), c["setup"].as_str().unwrap());
        let completed = r["counters"]["completed"].as_u64().unwrap();
        assert!(completed > 0);
        let status = &r["counters"]["status"];
        match c["endpoint"].as_str().unwrap() {
            "json" => assert_eq!(status["success"].as_u64(), Some(completed)),
            _ => assert_eq!(status["client_error"].as_u64(), Some(completed)),
        }
        let shown = format!("{:.2}", c["requests_per_sec"].as_f64().unwrap());
        assert!(stdout.contains(&shown), "{shown} not in\n{stdout}");
        assert!(markdown.contains(&format!(
            "| {} | {} | {shown} |",
            c["target"].as_str().unwrap(),
            c["setup"].as_str().unwrap()
        )));
    }
    assert!(markdown.contains("## json") && markdown.contains("## missing"));
    assert!(
        markdown.contains("Non-2xx or 3xx responses:"),
        "wrk text of the 404 cells"
    );
}

#[test]
fn matrix_bad_files_exit_2() {
    let _serial = crate::support::exclusive();
    let dir = std::env::temp_dir();
    let bad = dir.join(format!("ceiling-matrix-bad-{}.toml", std::process::id()));
    for text in [
        "targets = []\nendpoints = []\n",
        "args = [\"--cacert\", \"/nonexistent/ca.pem\"]\n[[targets]]\nname = \"a\"\nurl = \"https://127.0.0.1:1\"\n[[endpoints]]\nname = \"e\"\npath = \"/\"\n",
        "this is not toml",
        "unknown = 1\n[[targets]]\nname = \"a\"\nurl = \"http://127.0.0.1:1\"\n",
    ] {
        std::fs::write(&bad, text).unwrap();
        let out = Command::new(ceiling_bin())
            .args(["matrix", bad.to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{text}: {stderr}");
    }
    // Refused before any load, naming the cause: a path that would be glued onto the
    // target's URL, and a single run's outputs or display flags that a cell would ignore.
    let cell = |path: &str, args: &str| {
        format!(
            "args = [\"-d\", \"100ms\"]\n[[targets]]\nname = \"a\"\nurl = \"http://127.0.0.1:1/base/\"\n\
             [[endpoints]]\nname = \"e\"\npath = \"{path}\"\nargs = [{args}]\n"
        )
    };
    for (text, why) in [
        (cell("json", ""), "must start with '/'"),
        (cell("x y", ""), "must start with '/'"),
        (
            cell("/json", "\"--json\", \"/tmp/x.json\""),
            "--json belongs to a single run",
        ),
        (
            cell("/json", "\"-q\""),
            "-q/--quiet belongs to a single run",
        ),
        (
            cell("/json", "\"--latency\""),
            "--latency belongs to a single run",
        ),
        (
            cell("/json", "\"--hgrm\", \"/tmp/x.hgrm\""),
            "--hgrm belongs to a single run",
        ),
    ] {
        std::fs::write(&bad, &text).unwrap();
        let out = Command::new(ceiling_bin())
            .args(["matrix", bad.to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {stderr}");
        assert!(stderr.contains(why), "{text}: {stderr}");
        assert!(
            !stderr.contains("ceiling matrix: 1/"),
            "load was sent\n{text}: {stderr}"
        );
    }
    let _ = std::fs::remove_file(&bad);
}

/// A server-setup matrix: two pre-fork servers (one worker, two workers), each
/// its own target with its master's PID; every cell reports its server tree's
/// CPU and memory, and a target without a PID says n/a.
#[test]
fn matrix_samples_each_targets_server() {
    let _serial = crate::support::exclusive();
    let one = crate::support::forking::Forking::start(&["--workers", "1", "--work", "3000"]);
    let two = crate::support::forking::Forking::start(&["--workers", "2", "--work", "3000"]);
    let plain = start_server(&[]);
    let dir = std::env::temp_dir();
    let id = std::process::id();
    let file = dir.join(format!("ceiling-matrix-pid-{id}.toml"));
    let json = dir.join(format!("ceiling-matrix-pid-{id}.json"));
    std::fs::write(
        &file,
        format!(
            r#"args = ["-t", "1", "-c", "4", "-d", "1s"]
[[targets]]
name = "1x1"
url = "{}"
server_pid = {}
[[targets]]
name = "1x2"
url = "{}"
server_pid = {}
[[targets]]
name = "unsampled"
url = "{}"
[[endpoints]]
name = "root"
path = "/"
"#,
            one.url(),
            one.pid(),
            two.url(),
            two.pid(),
            plain.url()
        ),
    )
    .unwrap();
    let out = Command::new(ceiling_bin())
        .args([
            "matrix",
            file.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&json).unwrap_or_default();
    let _ = std::fs::remove_file(&json);
    let _ = std::fs::remove_file(&file);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    let cells = v["cells"].as_array().unwrap();
    for (cell, processes) in cells.iter().take(2).zip([2, 3]) {
        let u = &cell["server"];
        assert!(u["avg_cpu_pct"].as_f64().unwrap() > 20.0, "{u}");
        assert_eq!(u["processes"].as_u64(), Some(processes), "{u}");
        let cpu = format!("{:.1}%", u["avg_cpu_pct"].as_f64().unwrap());
        let name = cell["target"].as_str().unwrap();
        assert!(
            stdout
                .lines()
                .any(|l| l.trim_start().starts_with(name) && l.contains(&cpu)),
            "{cpu}\n{stdout}"
        );
    }
    assert!(cells[2]["server"].is_null());
    assert!(stdout.contains("CPU avg"), "{stdout}");
}

#[test]
fn matrix_refuses_a_dead_server_pid() {
    let dir = std::env::temp_dir();
    let file = dir.join(format!("ceiling-matrix-dead-{}.toml", std::process::id()));
    std::fs::write(
        &file,
        "[[targets]]\nname = \"a\"\nurl = \"http://127.0.0.1:1\"\nserver_pid = 2147483647\n[[endpoints]]\nname = \"r\"\npath = \"/\"\n",
    )
    .unwrap();
    let out = Command::new(ceiling_bin())
        .args(["matrix", file.to_str().unwrap()])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no such process"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}
