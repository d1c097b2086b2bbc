//! What a run records and reports: the interval that ran (not the planned one), a
//! run too short to sample, most responses not 2xx/3xx, the address connected to,
//! and the JSON against its schema (docs/run.schema.json, docs/json-schema.md).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::support::{exclusive, run_ceiling, start_server};

const WATCHDOG: Duration = Duration::from_secs(60);

/// The engines whose workers record a run: the direct io_uring loop (the
/// default) and monoio's worker.
const ENGINES: [&str; 2] = ["auto", "monoio"];

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ceiling-record-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `ceiling ARGS --json FILE` to its end; (the text report, the JSON).
fn run_json(args: &[&str], tag: &str) -> (String, Value) {
    let json = scratch(tag).join("run.json");
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--json", json.to_str().unwrap()]);
    let r = run_ceiling(&all, WATCHDOG);
    assert_eq!(r.code, Some(0), "ceiling {all:?}: {}", r.stderr);
    let v = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    (r.stdout, v)
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"))
}

/// `a` within `rel` of `b`.
fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-9)
}

#[test]
fn n_with_d_reports_the_interval_that_ran() {
    let _serial = exclusive();
    let server = start_server(&["--cpus", "0"]);
    let url = format!("{}/plaintext", server.url());
    for engine in ENGINES {
        let (text, r) = run_json(
            &[
                "-t1",
                "-c4",
                "--cpus",
                "1",
                "--io-engine",
                engine,
                "-n",
                "20000",
                "-d",
                "30s",
                &url,
            ],
            "n-with-d",
        );
        let d = f(&r["duration_s"]);
        assert_eq!(r["counters"]["completed"], 20000, "{engine}");
        assert!(
            d < 20.0,
            "{engine}: -n 20000 ended early, yet duration_s is {d}"
        );
        let rps = f(&r["requests_per_sec"]);
        assert!(
            close(rps, 20000.0 / d, 1e-9),
            "{engine}: {rps} req/s over {d} s"
        );
        assert!(close(
            f(&r["bytes_read_per_sec"]),
            f(&r["counters"]["bytes_read"]) / d,
            1e-9
        ));
        assert!(
            close(f(&r["successful_per_sec"]), rps, 1e-9),
            "{engine}: every response was 200"
        );
        // The text says the same interval and rate.
        let shown = format!("20000 requests in {d:.2}s");
        assert!(text.contains(&shown), "{engine}: no {shown:?} in\n{text}");
        assert!(
            text.contains(&format!("Requests/sec: {rps:>9.2}")),
            "{engine}:\n{text}"
        );
        // The time series covers the same interval, the last second over its own length.
        let points = r["timeseries"].as_array().unwrap();
        let covered: f64 = points.iter().map(|p| f(&p["length_s"])).sum();
        assert!(
            close(covered, d, 1e-6),
            "{engine}: seconds cover {covered} of {d}"
        );
        let last = points.last().unwrap();
        let completed = f(&last["completed"]);
        assert!(close(
            f(&last["requests_per_sec"]),
            completed / f(&last["length_s"]),
            1e-9
        ));
        let sum: u64 = points
            .iter()
            .map(|p| p["completed"].as_u64().unwrap())
            .sum();
        assert_eq!(sum, 20000, "{engine}");
    }
}

#[test]
fn a_run_shorter_than_one_sample_shows_no_measured_looking_zero() {
    let _serial = exclusive();
    let server = start_server(&["--cpus", "0"]);
    let url = format!("{}/plaintext", server.url());
    for engine in ENGINES {
        let (text, r) = run_json(
            &[
                "-t1",
                "-c2",
                "--cpus",
                "1",
                "--io-engine",
                engine,
                "-n",
                "100",
                &url,
            ],
            "short",
        );
        let d = f(&r["duration_s"]);
        assert_eq!(r["counters"]["completed"], 100);
        let row = text
            .lines()
            .find(|l| l.trim_start().starts_with("Req/Sec"))
            .unwrap_or_else(|| panic!("no Req/Sec row in\n{text}"));
        assert!(
            !row.contains(" 0.00 "),
            "{engine}: a zero that looks measured: {row:?}"
        );
        let q = &r["req_per_sec"];
        match q["mean"].as_f64() {
            // Computed from what ran: the one thread's rate over its interval,
            // about the run's.
            Some(mean) => {
                assert!(mean > 0.0, "{engine}: {q}");
                assert!(
                    close(mean, 100.0 / d, 0.5),
                    "{engine}: Req/Sec {mean} for 100 requests in {d} s"
                );
                assert!(
                    row.contains(&crate_metric(mean)),
                    "{engine}: {row:?} vs {mean}"
                );
            }
            // Or not measured at all.
            None => assert!(row.contains("n/a"), "{engine}: {row:?}"),
        }
        // One thread, so one sample at most: its deviation is not measured.
        if d < 0.025 {
            assert!(q["stdev"].is_null(), "{engine}: {q}");
            assert!(row.matches("n/a").count() >= 2, "{engine}: {row:?}");
        }
        assert!(f(&r["requests_per_sec"]) > 0.0);
    }
}

/// wrk's k/M figure, as the text shows it.
fn crate_metric(n: f64) -> String {
    let (mut n, mut i) = (n, 0);
    let units = ["", "k", "M", "G"];
    while n >= 1000.0 && i + 1 < units.len() {
        n /= 1000.0;
        i += 1;
    }
    format!("{n:.2}{}", units[i])
}

#[test]
fn most_responses_not_2xx_or_3xx_are_one_warning_and_a_successful_rate() {
    let _serial = exclusive();
    let server = start_server(&["--cpus", "0"]);
    let missing = format!("{}/no-such-page", server.url());
    let (text, r) = run_json(&["-t1", "-c2", "--cpus", "1", "-n", "500", &missing], "404");
    assert_eq!(
        r["counters"]["status"]["client_error"], 500,
        "{}",
        r["counters"]
    );
    assert!(f(&r["requests_per_sec"]) > 0.0);
    assert_eq!(f(&r["successful_per_sec"]), 0.0);
    let warnings = r["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let w = warnings[0].as_str().unwrap();
    assert!(
        w.starts_with("most responses were not 2xx or 3xx (500 of 500, 100.0%)"),
        "{w}"
    );
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("Warning:")).collect();
    assert_eq!(lines, [format!("  Warning: {w}")], "{text}");
    // All 200: no warning, and every response counts as successful.
    let ok = format!("{}/plaintext", server.url());
    let (text, r) = run_json(&["-t1", "-c2", "--cpus", "1", "-n", "500", &ok], "200");
    assert!(
        r["warnings"].as_array().unwrap().is_empty(),
        "{}",
        r["warnings"]
    );
    assert!(!text.contains("Warning:"), "{text}");
    assert_eq!(f(&r["successful_per_sec"]), f(&r["requests_per_sec"]));
}

#[test]
fn the_header_and_the_json_name_the_address_connected() {
    let _serial = exclusive();
    let server = start_server(&["--cpus", "0"]);
    let port = server.addr.port();
    // A name: the header adds the address it resolved to and connected.
    let url = format!("http://localhost:{port}/plaintext");
    let (text, r) = run_json(
        &["-t1", "-c1", "--cpus", "1", "-n", "10", &url],
        "addr-name",
    );
    let addr = r["config"]["addr"]
        .as_str()
        .expect("config.addr")
        .to_string();
    assert!(addr.ends_with(&format!(":{port}")), "{addr}");
    let header = format!("Running 10 requests @ {url} ({addr})");
    assert_eq!(text.lines().next(), Some(header.as_str()), "{text}");
    // An address already in the URL is not repeated.
    let url = format!("http://127.0.0.1:{port}/plaintext");
    let (text, r) = run_json(&["-t1", "-c1", "--cpus", "1", "-n", "10", &url], "addr-ip");
    assert_eq!(r["config"]["addr"], format!("127.0.0.1:{port}"));
    assert_eq!(
        text.lines().next(),
        Some(format!("Running 10 requests @ {url}").as_str())
    );
}

#[test]
fn results_match_the_documented_schema() {
    let _serial = exclusive();
    let server = start_server(&["--cpus", "0"]);
    let url = format!("{}/plaintext", server.url());
    let schema = schema();
    let dir = scratch("schema");
    let out = dir.join("node.jsonl");
    let (_, closed) = run_json(
        &[
            "-t1",
            "-c2",
            "--cpus",
            "1",
            "-d",
            "1500ms",
            "--out",
            out.to_str().unwrap(),
            &url,
        ],
        "schema-closed",
    );
    let (_, rate) = run_json(
        &[
            "-t1",
            "-c2",
            "--cpus",
            "1",
            "-R",
            "400",
            "-d",
            "1s",
            "--latency",
            &url,
        ],
        "schema-rate",
    );
    let merged_json = dir.join("merged.json");
    let m = run_ceiling(
        &[
            "merge",
            "--quiet",
            "--json",
            merged_json.to_str().unwrap(),
            out.to_str().unwrap(),
        ],
        WATCHDOG,
    );
    assert_eq!(m.code, Some(0), "{}", m.stderr);
    let merged: Value =
        serde_json::from_str(&std::fs::read_to_string(&merged_json).unwrap()).unwrap();
    for (what, r) in [
        ("a run", &closed),
        ("a rate run", &rate),
        ("a merge", &merged),
    ] {
        let mut errors = Vec::new();
        validate(&schema, &schema, r, "$", &mut errors);
        assert!(
            errors.is_empty(),
            "{what} does not match docs/run.schema.json:\n{}",
            errors.join("\n")
        );
    }
    assert!(rate["rate"].is_object() && closed["rate"].is_null());
    assert_eq!(merged["config"]["addr"], Value::Null);
}

#[test]
fn the_schema_file_and_the_document_name_the_same_fields() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/json-schema.md")).unwrap();
    // The document's example: the first ```jsonc block.
    let block = doc
        .split("```jsonc")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("docs/json-schema.md has a ```jsonc example");
    // Every `"name":` in it, commented-out lines included (they document the
    // shapes of fields that are null in the example).
    let documented: BTreeSet<String> = block
        .match_indices('"')
        .filter(|(c, _)| block[c + 1..].trim_start().starts_with(':'))
        .filter_map(|(c, _)| {
            let open = block[..c].rfind('"')?;
            Some(block[open + 1..c].to_string())
        })
        .collect();
    let mut in_schema = BTreeSet::new();
    property_names(&schema(), &mut in_schema);
    let undocumented: Vec<&String> = in_schema.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "fields in docs/run.schema.json that docs/json-schema.md does not show: {undocumented:?}"
    );
    // sysctl names and placeholders are examples of map keys, not fields.
    let unknown: Vec<&String> = documented
        .difference(&in_schema)
        .filter(|k| !k.contains('.') && !k.contains("..."))
        .collect();
    assert!(
        unknown.is_empty(),
        "fields docs/json-schema.md shows that docs/run.schema.json lacks: {unknown:?}"
    );
}

#[test]
fn the_schema_checker_rejects_what_it_should() {
    let schema = schema();
    let run: Value = serde_json::json!({"schema": "ceiling.run/1"});
    let mut errors = Vec::new();
    validate(&schema, &schema, &run, "$", &mut errors);
    assert!(
        errors.iter().any(|e| e.contains("$.meta: missing")),
        "{errors:?}"
    );
    let spread = &schema["$defs"]["spread"];
    let mut errors = Vec::new();
    validate(
        &schema,
        spread,
        &serde_json::json!({"mean": "x", "stdev": null, "max": 1.0, "within_stdev_pct": null, "extra": 1}),
        "$",
        &mut errors,
    );
    assert_eq!(errors.len(), 2, "{errors:?}");
}

fn schema() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/run.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every property name anywhere in `schema`.
fn property_names(schema: &Value, out: &mut BTreeSet<String>) {
    match schema {
        Value::Object(m) => {
            if let Some(Value::Object(props)) = m.get("properties") {
                out.extend(props.keys().cloned());
            }
            m.values().for_each(|v| property_names(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| property_names(v, out)),
        _ => {}
    }
}

/// Checks `v` against `s`, the subset of JSON Schema docs/run.schema.json uses
/// (type, enum, minimum, properties, required, additionalProperties, items,
/// oneOf, $ref into $defs); each mismatch is one line naming its place.
fn validate(root: &Value, s: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(r) = s["$ref"].as_str() {
        let name = r.trim_start_matches("#/$defs/");
        return validate(root, &root["$defs"][name], v, at, errors);
    }
    if let Some(options) = s["oneOf"].as_array() {
        let fits = options
            .iter()
            .filter(|o| {
                let mut e = Vec::new();
                validate(root, o, v, at, &mut e);
                e.is_empty()
            })
            .count();
        if fits != 1 {
            errors.push(format!("{at}: {fits} of the oneOf alternatives fit {v}"));
        }
        return;
    }
    if let Some(t) = s.get("type") {
        let types: Vec<&str> = match t {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(|x| x.as_str()).collect(),
            _ => vec![],
        };
        let fits = types.iter().any(|t| match *t {
            "null" => v.is_null(),
            "boolean" => v.is_boolean(),
            "integer" => v.is_u64() || v.is_i64(),
            "number" => v.is_number(),
            "string" => v.is_string(),
            "array" => v.is_array(),
            "object" => v.is_object(),
            _ => false,
        });
        if !fits {
            errors.push(format!("{at}: {v} is not {types:?}"));
            return;
        }
    }
    if let Some(options) = s["enum"].as_array() {
        if !options.contains(v) {
            errors.push(format!("{at}: {v} is not one of {options:?}"));
        }
    }
    if let (Some(min), Some(x)) = (s["minimum"].as_f64(), v.as_f64()) {
        if x < min {
            errors.push(format!("{at}: {x} is below {min}"));
        }
    }
    if let Value::Object(obj) = v {
        let props = s["properties"].as_object();
        for name in s["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap();
            if !obj.contains_key(name) {
                errors.push(format!("{at}.{name}: missing"));
            }
        }
        for (k, x) in obj {
            let place = format!("{at}.{k}");
            match props.and_then(|p| p.get(k)) {
                Some(ps) => validate(root, ps, x, &place, errors),
                None => match &s["additionalProperties"] {
                    Value::Bool(false) => errors.push(format!("{place}: not in the schema")),
                    extra @ Value::Object(_) => validate(root, extra, x, &place, errors),
                    _ => {}
                },
            }
        }
    }
    if let (Value::Array(items), Some(each)) = (v, s.get("items")) {
        for (i, x) in items.iter().enumerate() {
            validate(root, each, x, &format!("{at}[{i}]"), errors);
        }
    }
}
