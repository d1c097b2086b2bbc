//! Distributed runs: `ceiling plan`, nodes taking their share (`run --plan
//! --node-index`), and `ceiling merge` adding their files exactly. On loopback
//! always; across network namespaces joined by veth when root.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use shared::stats::codec::decode_base64;

use crate::support::{
    ceiling_bin, exclusive, run_ceiling, served, server_stats, start_server, start_server_on,
};

const WATCHDOG: Duration = Duration::from_secs(60);

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ceiling-dist-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `ceiling plan ... -o DIR/plan.json`; returns the plan path.
fn plan(dir: &Path, args: &[&str]) -> PathBuf {
    let path = dir.join("plan.json");
    let mut all = vec!["plan", "-o", s(&path)];
    all.extend_from_slice(args);
    let out = run_ceiling(&all, WATCHDOG);
    assert_eq!(out.code, Some(0), "ceiling plan: {}", out.stderr);
    path
}

/// Runs every node of a plan at once, each through `prefix` (e.g. `ip netns
/// exec NS`), and returns their node files.
fn run_nodes(plan: &Path, dir: &Path, prefixes: &[Vec<String>]) -> Vec<PathBuf> {
    let children: Vec<_> = prefixes
        .iter()
        .enumerate()
        .map(|(i, prefix)| {
            let out = dir.join(format!("node-{i}.jsonl"));
            let mut argv: Vec<String> = prefix.clone();
            argv.push(ceiling_bin().into());
            for a in [
                "run",
                "--plan",
                s(plan),
                "--node-index",
                &i.to_string(),
                "--cpus",
                "1",
                "--quiet",
                "--out",
                s(&out),
            ] {
                argv.push(a.into());
            }
            let child = Command::new(&argv[0])
                .args(&argv[1..])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn a node");
            (child, out)
        })
        .collect();
    children
        .into_iter()
        .map(|(child, out)| {
            let o = wait_bounded(child);
            assert!(
                o.status.success(),
                "node failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            out
        })
        .collect()
}

/// Waits for a child, killing it (by its PID, through `Child`) past the watchdog.
fn wait_bounded(mut child: std::process::Child) -> std::process::Output {
    let start = std::time::Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > WATCHDOG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("a node ran past {WATCHDOG:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `ceiling merge FILES --json -`: the merged result.
fn merge(files: &[PathBuf], extra: &[&str]) -> (Value, String) {
    let mut args = vec!["merge", "--json", "-"];
    args.extend(files.iter().map(|f| s(f)));
    args.extend_from_slice(extra);
    let out = run_ceiling(&args, WATCHDOG);
    assert_eq!(out.code, Some(0), "merge: {}", out.stderr);
    (
        serde_json::from_str(&out.stdout).expect("merged JSON"),
        out.stderr,
    )
}

fn lines(file: &Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The merged histogram equals the nodes' footers added, bucket for bucket.
fn assert_histogram_is_the_sum(merged: &Value, files: &[PathBuf]) {
    let m = decode_base64(merged["latency"]["histogram"].as_str().unwrap()).unwrap();
    let mut sum = shared::stats::new_histogram();
    for f in files {
        let footer = lines(f).pop().unwrap();
        assert_eq!(footer["type"], "footer");
        sum.add(decode_base64(footer["histogram"].as_str().unwrap()).unwrap())
            .unwrap();
    }
    assert_eq!(m.len(), sum.len());
    let a: Vec<(u64, u64)> = m
        .iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect();
    let b: Vec<(u64, u64)> = sum
        .iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect();
    assert_eq!(a, b, "merged histogram differs from the nodes' sum");
    assert!(!a.is_empty());
}

#[test]
fn three_nodes_on_loopback_add_up_to_the_servers_count() {
    let _serial = exclusive();
    let server = start_server(&["--cpus", "0"]);
    let dir = scratch("loopback");
    let url = format!("{}/plaintext", server.url());
    let plan = plan(
        &dir,
        &[
            "--nodes",
            "3",
            "--start-in",
            "1s",
            "-c",
            "7",
            "-n",
            "6000",
            &url,
        ],
    );
    let files = run_nodes(&plan, &dir, &[vec![], vec![], vec![]]);
    // Each node took its exact share and waited for T0.
    let shares: Vec<u64> = files
        .iter()
        .map(|f| {
            lines(f).pop().unwrap()["counters"]["completed"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(shares, vec![2000, 2000, 2000]);
    for f in &files {
        let header = &lines(f)[0];
        assert_eq!(header["type"], "header");
        assert_eq!(header["clock"]["late_ms"].as_f64(), Some(0.0), "{header}");
    }
    let (merged, text) = merge(&files, &["--latency"]);
    assert_eq!(merged["counters"]["completed"], 6000);
    assert_eq!(merged["counters"]["sent"], 6000);
    assert_eq!(served(server.addr), 6000);
    assert_eq!(merged["config"]["connections"], 7);
    assert_eq!(merged["nodes"].as_array().unwrap().len(), 3);
    assert!(text.contains("Nodes: 3"), "{text}");
    assert!(text.contains("Latency Distribution"), "{text}");
    assert_histogram_is_the_sum(&merged, &files);
}

#[test]
fn a_paced_plan_sends_the_whole_rate_across_nodes() {
    let _serial = exclusive();
    let server = start_server(&["--cpus", "0"]);
    let dir = scratch("paced");
    let url = format!("{}/plaintext", server.url());
    let plan = plan(
        &dir,
        &[
            "--nodes",
            "2",
            "--start-in",
            "1s",
            "-c",
            "4",
            "-R",
            "2000",
            "-d",
            "2s",
            &url,
        ],
    );
    let files = run_nodes(&plan, &dir, &[vec![], vec![]]);
    let (merged, _) = merge(&files, &[]);
    let rate = &merged["rate"];
    assert_eq!(rate["asked"], 2000.0);
    let sent = rate["sent_per_sec"].as_f64().unwrap();
    assert!((sent - 2000.0).abs() < 2000.0 * 0.02, "sent {sent}/s");
    // Each node ran at half the rate.
    for f in &files {
        let footer = lines(f).pop().unwrap();
        let n = footer["counters"]["sent"].as_u64().unwrap();
        assert!((1960..=2040).contains(&n), "{n} sent by one node in 2 s");
    }
    assert_eq!(
        merged["counters"]["completed"].as_u64().unwrap()
            + merged["counters"]["in_flight_at_stop"].as_u64().unwrap(),
        merged["counters"]["sent"].as_u64().unwrap()
    );
}

#[test]
fn a_single_runs_file_merges_to_its_own_report() {
    let _serial = exclusive();
    let server = start_server(&["--cpus", "0"]);
    let dir = scratch("single");
    let (out, json) = (dir.join("run.jsonl"), dir.join("run.json"));
    let url = format!("{}/plaintext", server.url());
    let r = run_ceiling(
        &[
            "-c",
            "4",
            "-t",
            "1",
            "--cpus",
            "1",
            "-n",
            "3000",
            "--quiet",
            "--out",
            s(&out),
            "--json",
            s(&json),
            &url,
        ],
        WATCHDOG,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let run: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let (merged, _) = merge(&[out], &[]);
    for key in [
        "counters",
        "latency",
        "requests_per_sec",
        "duration_s",
        "timeseries",
        "req_per_sec",
    ] {
        assert_eq!(merged[key], run[key], "{key} differs");
    }
}

#[test]
fn merge_refuses_what_is_not_one_run() {
    let _serial = exclusive();
    let server = start_server(&["--cpus", "0"]);
    let dir = scratch("refuse");
    let url = format!("{}/plaintext", server.url());
    let plan = plan(
        &dir,
        &[
            "--nodes",
            "2",
            "--start-in",
            "500ms",
            "-c",
            "2",
            "-n",
            "200",
            &url,
        ],
    );
    let files = run_nodes(&plan, &dir, &[vec![], vec![]]);
    let other = dir.join("other.jsonl");
    let r = run_ceiling(
        &["-c", "1", "-n", "10", "--quiet", "--out", s(&other), &url],
        WATCHDOG,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let truncated = dir.join("truncated.jsonl");
    let text = std::fs::read_to_string(&files[1]).unwrap();
    let cut: Vec<&str> = text.lines().collect();
    std::fs::write(&truncated, cut[..cut.len() - 1].join("\n") + "\n").unwrap();

    let refuse = |args: Vec<&str>, why: &str| {
        let mut all = vec!["merge"];
        all.extend(args);
        let out = run_ceiling(&all, WATCHDOG);
        assert_eq!(
            out.code,
            Some(2),
            "{all:?} should be refused: {}",
            out.stderr
        );
        assert!(out.stderr.contains(why), "{all:?}: {}", out.stderr);
        assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    };
    refuse(vec![s(&files[0]), s(&files[0])], "node 0 appears twice");
    refuse(vec![s(&files[0]), s(&other)], "not one run");
    refuse(vec![s(&files[0])], "missing node 1 of 2");
    refuse(vec![s(&files[0]), s(&truncated)], "ended before its footer");
    refuse(vec![s(&dir.join("absent.jsonl"))], "cannot read");
    // --allow-partial merges what is there, and says so.
    let (m, text) = merge(&[files[0].clone()], &["--allow-partial"]);
    assert_eq!(m["partial"], true);
    assert_eq!(m["counters"]["completed"], 100);
    assert!(text.contains("PARTIAL"), "{text}");
    let (m, _) = merge(&[files[0].clone(), truncated], &["--allow-partial"]);
    assert_eq!(m["partial"], true);
    assert!(m["warnings"].to_string().contains("truncated"), "{m}");
}

#[test]
fn nodes_refuse_bad_plans_and_late_starts() {
    let _serial = exclusive();
    let server = start_server(&["--cpus", "0"]);
    let dir = scratch("late");
    let url = format!("{}/plaintext", server.url());
    let path = plan(
        &dir,
        &[
            "--nodes",
            "2",
            "--start-in",
            "60s",
            "-c",
            "2",
            "-n",
            "100",
            &url,
        ],
    );
    let usage = |args: &[&str], why: &str| {
        let out = run_ceiling(args, WATCHDOG);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(why), "{args:?}: {}", out.stderr);
    };
    usage(
        &["run", "--plan", s(&path), "--node-index", "0", "-c", "5"],
        "comes from the plan",
    );
    usage(
        &["run", "--plan", s(&path), "--node-index", "2"],
        "out of range",
    );
    usage(
        &[
            "run",
            "--plan",
            s(&path),
            "--node-index",
            "0",
            "--node-count",
            "3",
        ],
        "does not match",
    );
    usage(&["--node-index", "0", &url], "--plan");
    usage(
        &[
            "plan",
            "-o",
            s(&dir.join("p2.json")),
            "--nodes",
            "3",
            "-c",
            "2",
            &url,
        ],
        "at least 3 connections",
    );
    usage(
        &[
            "plan",
            "-o",
            s(&dir.join("p3.json")),
            "--nodes",
            "2",
            "--json",
            "x.json",
            &url,
        ],
        "not part of a plan",
    );
    // T0 an hour ago: the node refuses to start late, and sends nothing.
    let mut p: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let t0 = p["start_unix_ms"].as_u64().unwrap();
    p["start_unix_ms"] = Value::from(t0 - 3_660_000);
    let late = dir.join("late.json");
    std::fs::write(&late, p.to_string()).unwrap();
    let out = run_ceiling(&["run", "--plan", s(&late), "--node-index", "0"], WATCHDOG);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("refusing to start late"),
        "{}",
        out.stderr
    );
    assert_eq!(served(server.addr), 0);
}

/// T0 from a plan file, as a wall-clock instant.
fn t0_of(plan: &Path) -> std::time::SystemTime {
    let p: Value = serde_json::from_str(&std::fs::read_to_string(plan).unwrap()).unwrap();
    std::time::UNIX_EPOCH + Duration::from_millis(p["start_unix_ms"].as_u64().unwrap())
}

/// Starts node 0 of `plan` on `engine` and waits until the server sees its
/// connections open (readiness, not a sleep).
fn start_node_connected(
    plan: &Path,
    out: &Path,
    engine: &str,
    server: &crate::support::Server,
) -> std::process::Child {
    let child = Command::new(ceiling_bin())
        .args(["run", "--plan", s(plan), "--node-index", "0", "--cpus", "1"])
        .args(["--io-engine", engine, "--quiet", "--out", s(out)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn a node");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while server_stats(server.addr)["connections_open"]
        .as_u64()
        .unwrap_or(0)
        < 2
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the node never connected"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[test]
fn a_node_connects_before_t0_and_sends_nothing_until_then() {
    let _serial = exclusive();
    for engine in ["auto", "monoio", "epoll"] {
        let server = start_server(&["--cpus", "0"]);
        let dir = scratch(&format!("t0-{engine}"));
        let url = format!("{}/plaintext", server.url());
        let plan = plan(
            &dir,
            &[
                "--nodes",
                "1",
                "--start-in",
                "3s",
                "-c",
                "2",
                "-d",
                "1s",
                &url,
            ],
        );
        let out = dir.join("node.jsonl");
        let child = start_node_connected(&plan, &out, engine, &server);
        let before = std::time::SystemTime::now();
        let early = served(server.addr);
        let o = wait_bounded(child);
        assert!(
            o.status.success(),
            "{engine}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        if before + Duration::from_millis(200) < t0_of(&plan) {
            assert_eq!(early, 0, "{engine}: requests were sent before T0");
        }
        let footer = lines(&out).pop().unwrap();
        let sent = footer["counters"]["sent"].as_u64().unwrap();
        assert!(sent > 0, "{engine}: nothing sent after T0");
        // The measured interval is the planned second from T0, not from launch.
        let d = footer["duration_s"].as_f64().unwrap();
        assert!((0.99..1.5).contains(&d), "{engine}: ran {d} s from T0");
    }
}

#[test]
fn ctrl_c_before_t0_ends_at_once_and_writes_the_node_file() {
    let _serial = exclusive();
    for engine in ["auto", "monoio"] {
        let server = start_server(&["--cpus", "0"]);
        let dir = scratch(&format!("int-{engine}"));
        let url = format!("{}/plaintext", server.url());
        let plan = plan(
            &dir,
            &[
                "--nodes",
                "1",
                "--start-in",
                "60s",
                "-c",
                "2",
                "-d",
                "1s",
                &url,
            ],
        );
        let out = dir.join("node.jsonl");
        let child = start_node_connected(&plan, &out, engine, &server);
        let asked = std::time::Instant::now();
        // SAFETY: kill(2) on the child this test started and has not waited for.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGINT);
        }
        let o = wait_bounded(child);
        assert!(
            asked.elapsed() < Duration::from_secs(5),
            "{engine}: a node waiting for T0 took {:?} to stop",
            asked.elapsed()
        );
        assert!(
            o.status.success(),
            "{engine}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let footer = lines(&out).pop().unwrap();
        assert_eq!(footer["type"], "footer");
        assert_eq!(footer["interrupted"], true, "{engine}");
        assert_eq!(footer["counters"]["sent"], 0, "{engine}");
        assert_eq!(served(server.addr), 0, "{engine}");
    }
}

#[test]
fn a_killed_node_keeps_the_seconds_it_wrote() {
    let _serial = exclusive();
    for engine in ["auto", "monoio"] {
        let server = start_server(&["--cpus", "0"]);
        let dir = scratch(&format!("killed-{engine}"));
        let out = dir.join("node.jsonl");
        let url = format!("{}/plaintext", server.url());
        let mut child = Command::new(ceiling_bin())
            .args(["-c", "4", "-t", "1", "--cpus", "1", "-d", "60s", "--quiet"])
            .args(["--io-engine", engine, "--out", s(&out), &url])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn ceiling");
        // The header comes at once, then one line per second as the run goes.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::fs::read_to_string(&out).map_or(0, |t| t.lines().count()) < 3 {
            assert!(
                std::time::Instant::now() < deadline,
                "{engine}: no seconds streamed"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let written = lines(&out);
        assert_eq!(written[0]["type"], "header");
        assert!(
            written[1..].iter().all(|l| l["type"] == "second"),
            "{engine}"
        );
        let (m, text) = merge(&[out], &["--allow-partial"]);
        assert_eq!(m["partial"], true);
        let streamed: u64 = written[1..]
            .iter()
            .map(|l| l["completed"].as_u64().unwrap())
            .sum();
        assert!(streamed > 0, "{engine}");
        assert_eq!(
            m["counters"]["completed"].as_u64(),
            Some(streamed),
            "{engine}"
        );
        assert!(text.contains("TRUNCATED"), "{text}");
    }
}

#[test]
fn the_kubernetes_manifest_is_an_indexed_job() {
    use yaml_rust2::YamlLoader;
    let dir = scratch("k8s");
    let path = plan(
        &dir,
        &[
            "--nodes",
            "4",
            "--image",
            "registry.example/ceiling:1",
            "--namespace",
            "load",
            "-c",
            "400",
            "-d",
            "30s",
            "http://svc.load:8080/",
        ],
    );
    let text = std::fs::read_to_string(dir.join("plan.k8s.yaml")).unwrap();
    let docs = YamlLoader::load_from_str(&text).expect("the manifest is YAML");
    assert_eq!(docs.len(), 2);
    let (cm, job) = (&docs[0], &docs[1]);
    assert_eq!(cm["apiVersion"].as_str(), Some("v1"));
    assert_eq!(cm["kind"].as_str(), Some("ConfigMap"));
    // The ConfigMap carries the plan file itself.
    let plan_text = cm["data"]["plan.json"].as_str().unwrap();
    let in_map: Value = serde_json::from_str(plan_text).unwrap();
    let on_disk: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(in_map, on_disk);
    assert_eq!(job["apiVersion"].as_str(), Some("batch/v1"));
    assert_eq!(job["kind"].as_str(), Some("Job"));
    assert_eq!(job["metadata"]["namespace"].as_str(), Some("load"));
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    assert_eq!(spec["completions"].as_i64(), Some(4));
    assert_eq!(spec["parallelism"].as_i64(), Some(4));
    assert_eq!(spec["backoffLimit"].as_i64(), Some(0));
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"].as_str(), Some("Never"));
    let labels = &spec["template"]["metadata"]["labels"];
    let anti =
        &pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0];
    assert_eq!(anti["topologyKey"].as_str(), Some("kubernetes.io/hostname"));
    for (k, v) in anti["labelSelector"]["matchLabels"].as_hash().unwrap() {
        assert_eq!(
            &labels[k.as_str().unwrap()],
            v,
            "the anti-affinity selects this job's pods"
        );
    }
    let seccomp = &pod["securityContext"]["seccompProfile"];
    assert_eq!(seccomp["type"].as_str(), Some("Localhost"));
    let profile = seccomp["localhostProfile"].as_str().unwrap();
    assert!(profile.ends_with("ceiling-io-uring.json"));
    let c = &pod["containers"][0];
    assert_eq!(c["image"].as_str(), Some("registry.example/ceiling:1"));
    let cmd: Vec<&str> = c["command"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(&cmd[..3], ["ceiling", "run", "--plan"]);
    let mount = c["volumeMounts"][0]["mountPath"].as_str().unwrap();
    assert_eq!(cmd[3], format!("{mount}/plan.json"));
    assert_eq!(
        pod["volumes"][0]["configMap"]["name"].as_str(),
        cm["metadata"]["name"].as_str()
    );
    // The profile the manifest names ships with the repository and allows io_uring.
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes/ceiling-io-uring.json"),
    )
    .unwrap();
    let shipped: Value = serde_json::from_str(&shipped).unwrap();
    assert!(
        !shipped.to_string().contains("\"io_uring_setup\""),
        "io_uring is not denied"
    );
    // Without a claim the node file is the pod's stdout.
    assert_eq!(cmd[4..], ["--out", "-", "--quiet"]);

    // With --results-pvc: the node files go to the claim's volume, one per index.
    let manifest = dir.join("pvc.yaml");
    let out = run_ceiling(
        &[
            "plan",
            "-o",
            s(&dir.join("p2.json")),
            "--manifest",
            s(&manifest),
            "--nodes",
            "2",
            "--results-pvc",
            "ceiling-results",
            "-c",
            "4",
            "http://svc:8080/",
        ],
        WATCHDOG,
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let docs = YamlLoader::load_from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    let pod = &docs[1]["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    let cmd: Vec<&str> = c["command"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let at = cmd.iter().position(|a| *a == "--out").unwrap();
    assert!(
        cmd[at + 1].starts_with("/results/") && cmd[at + 1].contains("$(JOB_COMPLETION_INDEX)"),
        "{cmd:?}"
    );
    let env = &c["env"][0];
    assert_eq!(env["name"].as_str(), Some("JOB_COMPLETION_INDEX"));
    assert_eq!(
        env["valueFrom"]["fieldRef"]["fieldPath"].as_str(),
        Some("metadata.annotations['batch.kubernetes.io/job-completion-index']")
    );
    assert_eq!(c["volumeMounts"][1]["mountPath"].as_str(), Some("/results"));
    assert_eq!(c["volumeMounts"][1]["name"], pod["volumes"][1]["name"]);
    assert_eq!(
        pod["volumes"][1]["persistentVolumeClaim"]["claimName"].as_str(),
        Some("ceiling-results")
    );
}

fn is_root() -> bool {
    // SAFETY: geteuid(2) has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Network namespaces joined to a bridge by veth pairs; removed on drop.
struct Namespaces {
    names: Vec<String>,
    bridge: String,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Namespaces {
    /// `n` namespaces at 10.213.K.(10+i)/24, the bridge (root namespace) at .1;
    /// None when this kernel or container cannot make a bridge at all.
    fn create(n: usize, k: u32) -> Option<Self> {
        let pid = std::process::id() % 100_000;
        let bridge = format!("cb{pid}");
        let mut me = Self {
            names: Vec::new(),
            bridge: bridge.clone(),
        };
        let made = Command::new("ip")
            .args(["link", "add", &bridge, "type", "bridge"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !made {
            return None;
        }
        ip(&["addr", "add", &format!("10.213.{k}.1/24"), "dev", &bridge]);
        ip(&["link", "set", &bridge, "up"]);
        for i in 0..n {
            let (ns, host, peer) = (
                format!("ceiling-{pid}-{i}"),
                format!("cv{pid}h{i}"),
                format!("cv{pid}n{i}"),
            );
            ip(&["netns", "add", &ns]);
            me.names.push(ns.clone());
            ip(&["link", "add", &host, "type", "veth", "peer", "name", &peer]);
            ip(&["link", "set", &peer, "netns", &ns]);
            ip(&["link", "set", &host, "master", &bridge, "up"]);
            let addr = format!("10.213.{k}.{}/24", 10 + i);
            ip(&["-n", &ns, "addr", "add", &addr, "dev", &peer]);
            ip(&["-n", &ns, "link", "set", &peer, "up"]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
        }
        Some(me)
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        // Deleting a namespace deletes its veth end, and with it the pair.
        for ns in &self.names {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
    }
}

#[test]
fn three_generator_namespaces_merge_to_the_servers_count() {
    if !is_root() || Command::new("ip").arg("-V").output().is_err() {
        eprintln!("skipped: needs root and iproute2 to create network namespaces");
        return;
    }
    let _serial = exclusive();
    let k = 100 + std::process::id() % 100;
    let Some(spaces) = Namespaces::create(3, k) else {
        eprintln!("skipped: this kernel or container cannot create a bridge for the namespaces");
        return;
    };
    let server = start_server_on(&format!("10.213.{k}.1:0"), &["--cpus", "0"]);
    let dir = scratch("netns");
    let url = format!("{}/plaintext", server.url());
    let plan = plan(
        &dir,
        &[
            "--nodes",
            "3",
            "--start-in",
            "1s",
            "-c",
            "9",
            "-n",
            "9000",
            &url,
        ],
    );
    let prefixes: Vec<Vec<String>> = spaces
        .names
        .iter()
        .map(|ns| vec!["ip".into(), "netns".into(), "exec".into(), ns.clone()])
        .collect();
    let files = run_nodes(&plan, &dir, &prefixes);
    let (merged, _) = merge(&files, &[]);
    assert_eq!(merged["counters"]["completed"], 9000);
    assert_eq!(merged["counters"]["sent"], 9000);
    assert_eq!(served(server.addr), 9000);
    assert_histogram_is_the_sum(&merged, &files);
    // Each node, in its own namespace, completed its exact share.
    let shares: Vec<String> = merged["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["completed"].to_string())
        .collect();
    assert_eq!(shares, vec!["3000", "3000", "3000"]);
}

/// `plan -o` or `--manifest` at a path that cannot be written: bad usage (exit 2), one line,
/// nothing written.
#[test]
fn plan_refuses_outputs_it_cannot_write() {
    let dir = scratch("unwritable");
    let ok = dir.join("plan.json");
    for args in [
        vec![
            "plan",
            "--nodes",
            "2",
            "-n",
            "100",
            "-o",
            "/nonexistent/plan.json",
            "http://127.0.0.1:1/",
        ],
        vec![
            "plan",
            "--nodes",
            "2",
            "-n",
            "100",
            "-o",
            s(&ok),
            "--manifest",
            "/nonexistent/m.yaml",
            "http://127.0.0.1:1/",
        ],
    ] {
        let out = run_ceiling(&args, WATCHDOG);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("cannot write"),
            "{args:?}: {}",
            out.stderr
        );
        assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
