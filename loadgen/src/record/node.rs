//! The node result file (`ceiling.node/1`, JSON Lines): what one generator
//! process measured, as `--out` writes it and `ceiling merge` reads it.
//!
//! Lines: a header (plan and its hash, node index, histogram layout, clock
//! status, where it ran), one record per second (completions, errors, that
//! second's latency histogram in HdrHistogram V2+DEFLATE base64), and a footer
//! (totals and end-of-run accounting). A file without its footer is truncated.
//! The format is documented in docs/distributed.md.

use crate::distributed::{ClockStatus, Layout, PlanFile};
use crate::meta::Meta;
use crate::result::GeneratorCpu;
use serde::{Deserialize, Serialize};
use shared::stats::Counters;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a node file cannot be read; each names the file and, where it has one, the line.
#[derive(Debug, Error)]
pub enum RecordError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} line {line}: not a ceiling node record: {source}")]
    Syntax {
        path: PathBuf,
        line: usize,
        source: serde_json::Error,
    },
    #[error("{path} line {line}: {what}")]
    Order {
        path: PathBuf,
        line: usize,
        what: String,
    },
    #[error("{path}: {what}")]
    Shape { path: PathBuf, what: String },
    #[error("{what}: unreadable histogram: {detail}")]
    Histogram { what: String, detail: String },
}

/// Schema tag of node files.
pub const NODE_SCHEMA: &str = "ceiling.node/1";

/// One line of a node file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Line {
    Header(Box<Header>),
    Second(Second),
    Footer(Box<Footer>),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub schema: String,
    pub run_id: String,
    pub plan_hash: String,
    pub node_index: usize,
    pub node_count: usize,
    pub plan: PlanFile,
    pub histogram: Layout,
    pub clock: NodeClock,
    pub meta: Meta,
}

/// How this node's start lined up with T0.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeClock {
    pub status: ClockStatus,
    /// The plan's start instant (a single run: when it started).
    pub t0_unix_ms: u64,
    /// When this node was launched and began connecting.
    pub launched_unix_ms: u64,
    /// How far past T0 the node was launched (0: in time); its first requests
    /// were late by this much and count from their intended times.
    pub late_ms: f64,
}

/// One second of the run, numbered from T0.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Second {
    pub second: usize,
    pub length_s: f64,
    pub completed: u64,
    pub errors: u64,
    /// Latency of this second's completions: V2+DEFLATE, base64.
    pub histogram: String,
}

/// Totals and end-of-run accounting.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Footer {
    /// Seconds from T0 to this node's stop.
    pub duration_s: f64,
    pub counters: Counters,
    /// Every completion's latency (the sum of the seconds' histograms).
    pub histogram: String,
    pub first_invalid: Option<String>,
    pub threads: Vec<ThreadRecord>,
    pub generator_cpu: GeneratorCpu,
    /// Under -R: the schedule audit.
    pub pace: Option<PaceRecord>,
    /// `https://`: handshakes and TLS failures (absent for plain HTTP, and
    /// in files written before TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsRecord>,
    pub interrupted: bool,
    /// Second records written before the footer.
    pub seconds: usize,
}

/// One worker thread: its requests and its 100 ms Req/Sec samples.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThreadRecord {
    pub cpu: Option<usize>,
    pub requests: u64,
    pub samples: Vec<f64>,
}

/// The schedule audit of a paced node; histograms V2+DEFLATE, base64.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PaceRecord {
    pub lag: String,
    pub uncorrected: String,
    pub late_busy: u64,
    pub late_generator: u64,
    pub behind: u64,
}

/// The TLS side of a node: the handshake time histogram (µs, V2+DEFLATE,
/// base64), handshake counts and failures by cause.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TlsRecord {
    pub handshake: String,
    pub full: u64,
    pub resumed: u64,
    pub failures: std::collections::BTreeMap<String, u64>,
    pub negotiated: Option<crate::tls::Negotiated>,
}

/// A node file in memory.
#[derive(Debug, Clone)]
pub struct NodeRecord {
    pub header: Header,
    pub seconds: Vec<Second>,
    /// None: the file ends before its footer (the node died or was cut off).
    pub footer: Option<Footer>,
}

/// What a file with no node header is, said with what `merge` expected: an
/// empty file, one cut inside its header line, or another of Ceiling's
/// documents (told by its `schema`: a plan file, a run's `--json` result, a
/// campaign's report).
fn what_it_is(path: &Path) -> String {
    const EXPECTED: &str =
        "expected a node file (JSON Lines from `ceiling run ... --out FILE`) starting with its header line";
    // Only read back in full when it is small enough to be one JSON document.
    let text = match std::fs::metadata(path) {
        Ok(m) if m.len() <= 64 << 20 => std::fs::read_to_string(path).unwrap_or_default(),
        _ => String::new(),
    };
    if text.trim().is_empty() {
        return format!("is empty: {EXPECTED}");
    }
    let schema = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("schema")?.as_str().map(str::to_string));
    match schema.as_deref() {
        Some(s) if s.starts_with("ceiling.plan/") => format!(
            "is a plan file (from `ceiling plan`), not a node file: run each node with `ceiling run --plan {} --node-index I --out node-I.jsonl` and merge those files",
            path.display()
        ),
        Some(s) if s.starts_with("ceiling.run/") => format!(
            "is a run's JSON result (--json), not a node file: {EXPECTED}; a run writes one with --out"
        ),
        Some(s) => format!("is a {s} document, not a node file: {EXPECTED}"),
        None if text.lines().count() <= 1 && !text.ends_with('\n') => {
            format!("ends inside its first line: the node's header was cut off while being written ({EXPECTED})")
        }
        None => format!("has no node header: {EXPECTED}"),
    }
}

impl NodeRecord {
    /// Reads a node file. A last line cut off mid-write ends the file there (a
    /// truncated file, not a bad one); anything else out of shape is an error.
    pub fn read(path: &Path) -> Result<Self, RecordError> {
        let io = |source| RecordError::Io {
            path: path.to_path_buf(),
            source,
        };
        let order = |line: usize, what: String| RecordError::Order {
            path: path.to_path_buf(),
            line,
            what,
        };
        let shape = |what: String| RecordError::Shape {
            path: path.to_path_buf(),
            what,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let mut header = None;
        let mut seconds: Vec<Second> = Vec::new();
        let mut footer = None;
        for (n, text) in std::io::BufReader::new(file).lines().enumerate() {
            let text = text.map_err(io)?;
            if text.trim().is_empty() {
                continue;
            }
            let line: Line = match serde_json::from_str(&text) {
                Ok(l) => l,
                Err(e) if e.is_eof() => break,
                // Another document on one line (a compact plan or result).
                Err(_)
                    if header.is_none()
                        && serde_json::from_str::<serde_json::Value>(&text)
                            .is_ok_and(|v| v.get("schema").is_some()) =>
                {
                    return Err(shape(what_it_is(path)));
                }
                Err(source) => {
                    return Err(RecordError::Syntax {
                        path: path.to_path_buf(),
                        line: n + 1,
                        source,
                    })
                }
            };
            if footer.is_some() {
                return Err(order(n + 1, "records after the footer".into()));
            }
            match line {
                Line::Header(h) if header.is_none() && n == 0 => header = Some(*h),
                Line::Header(_) => return Err(order(n + 1, "a second header".into())),
                _ if header.is_none() => {
                    return Err(shape("does not start with a node header".into()));
                }
                Line::Second(s) => {
                    if s.second != seconds.len() {
                        return Err(order(
                            n + 1,
                            format!(
                                "second {} follows second {}",
                                s.second,
                                seconds.len() as i64 - 1
                            ),
                        ));
                    }
                    seconds.push(s);
                }
                Line::Footer(f) => {
                    if f.seconds != seconds.len() {
                        return Err(shape(format!(
                            "the footer counts {} seconds, the file has {}",
                            f.seconds,
                            seconds.len()
                        )));
                    }
                    footer = Some(*f);
                }
            }
        }
        let header = header.ok_or_else(|| shape(what_it_is(path)))?;
        if header.schema != NODE_SCHEMA {
            return Err(shape(format!(
                "node schema {:?}, this ceiling reads {NODE_SCHEMA:?}",
                header.schema
            )));
        }
        Ok(Self {
            header,
            seconds,
            footer,
        })
    }

    /// This node's stop, in seconds from T0 (a truncated file: the seconds it kept).
    pub fn duration_s(&self) -> f64 {
        match &self.footer {
            Some(f) => f.duration_s,
            None => self.seconds.iter().map(|s| s.length_s).sum(),
        }
    }
}

/// Writes one line and flushes it, so what is written survives the process.
pub fn write_line(w: &mut dyn Write, line: &Line) -> std::io::Result<()> {
    let mut text = serde_json::to_string(line).expect("node lines serialize");
    text.push('\n');
    w.write_all(text.as_bytes())?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `read` says of a file holding `text`.
    fn said(name: &str, text: &str) -> String {
        let path =
            std::env::temp_dir().join(format!("ceiling-node-{name}-{}.jsonl", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let e = NodeRecord::read(&path).unwrap_err().to_string();
        let _ = std::fs::remove_file(&path);
        e
    }

    #[test]
    fn a_file_that_is_no_node_file_is_named_for_what_it_is() {
        let plan = said(
            "plan",
            "{\n  \"schema\": \"ceiling.plan/1\",\n  \"nodes\": 2\n}\n",
        );
        assert!(
            plan.contains("is a plan file (from `ceiling plan`)"),
            "{plan}"
        );
        assert!(plan.contains("ceiling run --plan"), "{plan}");
        let run = said("run", "{\n  \"schema\": \"ceiling.run/1\"\n}\n");
        assert!(run.contains("is a run's JSON result (--json)"), "{run}");
        assert!(run.contains("--out"), "{run}");
        let ramp = said("ramp", "{\"schema\": \"ceiling.ramp/1\"}\n");
        assert!(ramp.contains("is a ceiling.ramp/1 document"), "{ramp}");
        let empty = said("empty", "");
        assert!(empty.contains("is empty: expected a node file"), "{empty}");
        let cut = said("cut", "{\"type\":\"header\",\"schema\":\"ceiling.no");
        assert!(cut.contains("ends inside its first line"), "{cut}");
        for e in [&plan, &run, &ramp, &empty, &cut] {
            assert!(!e.contains("is empty") || e == &empty, "{e}");
        }
    }
}
