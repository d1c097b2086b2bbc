//! `ceiling tune`: a two-profile comparison on a harmless setting
//! (net.ipv4.tcp_fin_timeout), and the original value back afterwards, also after
//! an interrupted run (one Ctrl-C: graceful; two: immediate exit).

use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{ceiling_bin, exclusive, run_ceiling};

const SETTING: &str = "/proc/sys/net/ipv4/tcp_fin_timeout";

fn current() -> String {
    std::fs::read_to_string(SETTING).unwrap().trim().to_string()
}

fn is_root() -> bool {
    // SAFETY: geteuid(2) has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A profiles file whose second profile sets the setting to a value it does not have.
fn profiles(tag: &str) -> (std::path::PathBuf, String) {
    let original = current();
    let other = if original == "37" { "38" } else { "37" };
    let path = std::env::temp_dir().join(format!("ceiling-tune-{tag}-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        // Profiles run in name order within a round: "fin" before "unchanged".
        format!("[profiles.unchanged]\n[profiles.fin]\n\"net.ipv4.tcp_fin_timeout\" = {other}\n"),
    )
    .unwrap();
    (path, other.to_string())
}

#[test]
fn tune_compares_two_profiles_and_restores_the_setting() {
    let _serial = exclusive();
    if !is_root() {
        eprintln!("skipped: ceiling tune needs root to change kernel settings");
        return;
    }
    let original = current();
    let (file, other) = profiles("ok");
    let json = file.with_extension("json");
    let out = run_ceiling(
        &[
            "tune",
            file.to_str().unwrap(),
            "-d",
            "1s",
            "--repeats",
            "2",
            "--json",
            json.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert_eq!(current(), original, "the setting is back");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(&json);
    assert_eq!(v["schema"], "ceiling.tune/1");
    assert_eq!(v["baseline"], "unchanged");
    let p = v["profiles"].as_array().unwrap();
    assert_eq!(p.len(), 2);
    assert_eq!(p[0]["name"], "fin");
    assert_eq!(p[0]["settings"][0][0], "net.ipv4.tcp_fin_timeout");
    assert_eq!(p[0]["settings"][0][1], other.as_str());
    for prof in p {
        assert_eq!(prof["runs"].as_array().unwrap().len(), 2);
        assert!(prof["median_rps"].as_f64().unwrap() > 0.0);
        let shown = format!("{:.0}", prof["median_rps"].as_f64().unwrap());
        let name = prof["name"].as_str().unwrap();
        assert!(
            out.stdout
                .lines()
                .any(|l| l.starts_with(name) && l.contains(&shown)),
            "{}",
            out.stdout
        );
    }
    assert!(p[0]["vs_baseline"]["ratio"].as_f64().unwrap() > 0.0);
    assert!(v["restore_failures"].as_array().unwrap().is_empty());
}

/// Starts a long tune run, waits until the profile is applied (the setting
/// changed), sends `signals` SIGINTs, and checks the setting is restored.
fn interrupted(signals: usize) {
    let _serial = exclusive();
    if !is_root() {
        eprintln!("skipped: ceiling tune needs root to change kernel settings");
        return;
    }
    let original = current();
    let (file, other) = profiles(&format!("int{signals}"));
    let mut child = Command::new(ceiling_bin())
        .args([
            "tune",
            file.to_str().unwrap(),
            "-d",
            "30s",
            "--repeats",
            "2",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while current() != other {
        assert!(
            start.elapsed() < Duration::from_secs(80),
            "the profile was never applied"
        );
        if let Ok(Some(_)) = child.try_wait() {
            panic!("ceiling tune ended before applying the profile");
        }
        thread::sleep(Duration::from_millis(20));
    }
    for _ in 0..signals {
        // SAFETY: kill(2) on our own child's PID.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGINT);
        }
        thread::sleep(Duration::from_millis(50));
    }
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ceiling tune did not stop on SIGINT");
        }
        thread::sleep(Duration::from_millis(10));
    }
    let _ = std::fs::remove_file(&file);
    assert_eq!(
        current(),
        original,
        "the setting is restored after {signals} Ctrl-C"
    );
}

#[test]
fn tune_restores_after_one_ctrl_c() {
    interrupted(1);
}

#[test]
fn tune_restores_after_two_ctrl_c() {
    interrupted(2);
}

#[test]
fn tune_refuses_unknown_settings_before_changing_anything() {
    let path = std::env::temp_dir().join(format!("ceiling-tune-bad-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        "[profiles.a]\n[profiles.b]\n\"net.ipv4.no_such_setting\" = 1\n",
    )
    .unwrap();
    let out = run_ceiling(&["tune", path.to_str().unwrap()], Duration::from_secs(20));
    let _ = std::fs::remove_file(&path);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
}
