//! The node result file: what one generator process measured, in JSON Lines, and
//! the one function that turns node records into a [`RunResult`]. A single
//! machine's run goes through it with one record, `ceiling merge` with N, so a
//! merged report is the report one machine would have printed.
//!
//! Lines: a header (plan and its hash, node index, histogram layout, clock
//! status, where it ran), one record per second (completions, errors, that
//! second's latency histogram in HdrHistogram V2+DEFLATE base64), and a footer
//! (totals and end-of-run accounting). A file without its footer is truncated.

use super::{ClockStatus, Layout, PlanFile};
use crate::meta::Meta;
use crate::plan::{JsonOut, Plan};
use crate::progress::ClosedSecond;
use crate::result::{GeneratorCpu, RateReport, RunResult, ThreadResult, TimePoint};
use serde::{Deserialize, Serialize};
use shared::stats::codec::decode_base64;
use shared::stats::{new_histogram, Counters, Histogram};
use std::io::{BufRead, Write};
use std::path::Path;
use std::time::Duration;

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

/// A node file in memory.
#[derive(Debug, Clone)]
pub struct NodeRecord {
    pub header: Header,
    pub seconds: Vec<Second>,
    /// None: the file ends before its footer (the node died or was cut off).
    pub footer: Option<Footer>,
}

impl NodeRecord {
    /// Reads a node file; the error is one line naming the file and the line.
    pub fn read(path: &Path) -> Result<Self, String> {
        let name = path.display();
        let file = std::fs::File::open(path).map_err(|e| format!("cannot read {name}: {e}"))?;
        let mut header = None;
        let mut seconds: Vec<Second> = Vec::new();
        let mut footer = None;
        for (n, text) in std::io::BufReader::new(file).lines().enumerate() {
            let text = text.map_err(|e| format!("cannot read {name}: {e}"))?;
            if text.trim().is_empty() {
                continue;
            }
            let line: Line = match serde_json::from_str(&text) {
                Ok(l) => l,
                // A last line cut off mid-write is a truncated file, not a bad one.
                Err(e) if e.is_eof() => break,
                Err(e) => {
                    return Err(format!(
                        "{name} line {}: not a ceiling node record: {e}",
                        n + 1
                    ))
                }
            };
            if footer.is_some() {
                return Err(format!("{name} line {}: records after the footer", n + 1));
            }
            match line {
                Line::Header(h) if header.is_none() && n == 0 => header = Some(*h),
                Line::Header(_) => {
                    return Err(format!("{name} line {}: a second header", n + 1));
                }
                _ if header.is_none() => {
                    return Err(format!("{name}: does not start with a node header"));
                }
                Line::Second(s) => {
                    if s.second != seconds.len() {
                        return Err(format!(
                            "{name} line {}: second {} follows second {}",
                            n + 1,
                            s.second,
                            seconds.len() as i64 - 1
                        ));
                    }
                    seconds.push(s);
                }
                Line::Footer(f) => {
                    if f.seconds != seconds.len() {
                        return Err(format!(
                            "{name}: the footer counts {} seconds, the file has {}",
                            f.seconds,
                            seconds.len()
                        ));
                    }
                    footer = Some(*f);
                }
            }
        }
        let header = header.ok_or_else(|| format!("{name} is empty"))?;
        if header.schema != super::node::NODE_SCHEMA {
            return Err(format!(
                "{name}: node schema {:?}, this ceiling reads {NODE_SCHEMA:?}",
                header.schema
            ));
        }
        Ok(Self {
            header,
            seconds,
            footer,
        })
    }

    /// This node's stop, from T0.
    fn duration_s(&self) -> f64 {
        match &self.footer {
            Some(f) => f.duration_s,
            None => self.seconds.iter().map(|s| s.length_s).sum(),
        }
    }
}

/// One second added up over workers or nodes; exact, since every histogram has
/// the one layout.
#[derive(Debug)]
pub(crate) struct SecondSum {
    pub length_s: f64,
    pub completed: u64,
    pub errors: u64,
    pub histogram: Histogram,
}

impl SecondSum {
    pub fn new() -> Self {
        Self {
            length_s: 0.0,
            completed: 0,
            errors: 0,
            histogram: new_histogram(),
        }
    }

    pub fn add(&mut self, length_s: f64, completed: u64, errors: u64, h: &Histogram) {
        self.length_s = self.length_s.max(length_s);
        self.completed += completed;
        self.errors += errors;
        self.histogram.add(h).expect("one histogram layout");
    }

    /// Adds a worker's closed second.
    pub fn add_sample(&mut self, s: &crate::worker::SecondSample) -> Result<(), String> {
        let h = histogram(&s.histogram, "a worker's second")?;
        self.add(s.length.as_secs_f64(), s.completed, s.errors, &h);
        Ok(())
    }

    /// The record of second `index`.
    pub fn to_second(&self, index: usize) -> Second {
        Second {
            second: index,
            length_s: self.length_s,
            completed: self.completed,
            errors: self.errors,
            histogram: shared::stats::codec::encode_base64(&self.histogram),
        }
    }
}

/// Writes a node file while the run goes: the header at once, each second as
/// soon as every worker has closed it, the rest and the footer at the end. A node
/// that dies (SIGKILL, out of memory) keeps what it wrote, for `merge --allow-partial`.
pub struct Streamer {
    tx: Option<std::sync::mpsc::Sender<ClosedSecond>>,
    thread: Option<std::thread::JoinHandle<Written>>,
}

/// What the writer thread hands back: the output, and how many seconds it wrote.
type Written = std::io::Result<(Box<dyn Write + Send>, usize)>;

impl Streamer {
    /// Writes the header and starts the writer; give each worker `sender()`.
    pub fn start(out: &JsonOut, header: &Header, workers: usize) -> std::io::Result<Self> {
        let mut w: Box<dyn Write + Send> = match out {
            JsonOut::Stdout => Box::new(std::io::stdout()),
            JsonOut::File(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
        };
        write_line(&mut w, &Line::Header(Box::new(header.clone())))?;
        let (tx, rx) = std::sync::mpsc::channel::<ClosedSecond>();
        let thread = std::thread::Builder::new()
            .name("ceiling-out".into())
            .spawn(move || {
                // Second index -> (workers reported, the sum so far).
                let mut pending: std::collections::BTreeMap<usize, (usize, SecondSum)> =
                    std::collections::BTreeMap::new();
                let mut written = 0;
                for (_, index, sample) in rx {
                    let e = pending
                        .entry(index)
                        .or_insert_with(|| (0, SecondSum::new()));
                    e.0 += 1;
                    e.1.add_sample(&sample).map_err(std::io::Error::other)?;
                    // In order, and only once every worker has closed it.
                    while pending.get(&written).is_some_and(|(n, _)| *n == workers) {
                        let (_, sum) = pending.remove(&written).expect("checked");
                        write_line(&mut w, &Line::Second(sum.to_second(written)))?;
                        written += 1;
                    }
                }
                Ok((w, written))
            })?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// A sender for one worker's closed seconds.
    pub fn sender(&self) -> std::sync::mpsc::Sender<ClosedSecond> {
        self.tx.clone().expect("not finished")
    }

    /// Writes the seconds not yet written and the footer, from the final record
    /// (its seconds are the same sums as the streamed ones).
    pub fn finish(mut self, record: &NodeRecord) -> std::io::Result<()> {
        drop(self.tx.take());
        let (mut w, written) = self
            .thread
            .take()
            .expect("finished once")
            .join()
            .map_err(|_| std::io::Error::other("the node file writer panicked"))??;
        for s in record.seconds.iter().skip(written) {
            write_line(&mut w, &Line::Second(s.clone()))?;
        }
        if let Some(f) = &record.footer {
            write_line(&mut w, &Line::Footer(Box::new(f.clone())))?;
        }
        w.flush()
    }
}

/// One line, flushed: what is written survives the process.
fn write_line(w: &mut dyn Write, line: &Line) -> std::io::Result<()> {
    let mut text = serde_json::to_string(line).expect("node lines serialize");
    text.push('\n');
    w.write_all(text.as_bytes())?;
    w.flush()
}

/// What one node contributed, in the merged result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeSummary {
    pub index: usize,
    pub hostname: String,
    pub sent: u64,
    pub completed: u64,
    pub errors: u64,
    pub requests_per_sec: f64,
    /// Under -R: sent / scheduled, percent.
    pub achieved_pct: Option<f64>,
    pub late_ms: f64,
    pub clock: String,
    pub generator_us_per_request: f64,
    /// False: the file ended before its footer.
    pub complete: bool,
}

/// Decodes a histogram a node wrote; a corrupt one is an error, never skipped.
fn histogram(text: &str, what: &str) -> Result<Histogram, String> {
    decode_base64(text).map_err(|e| format!("{what}: unreadable histogram: {e}"))
}

/// The report of `nodes` (one for a single machine). `plan` describes the whole
/// run (rates over its window, its -R); `warnings` are said in the report.
pub fn result(
    plan: &Plan,
    nodes: &[NodeRecord],
    partial: bool,
    mut warnings: Vec<String>,
) -> Result<RunResult, String> {
    let mut counters = Counters::default();
    let mut total = new_histogram();
    let mut lag = new_histogram();
    let mut uncorrected = new_histogram();
    let (mut late_busy, mut late_generator, mut behind) = (0, 0, 0);
    let mut first_invalid = None;
    let mut threads = Vec::new();
    let mut samples = Vec::new();
    let (mut user_s, mut sys_s) = (0.0, 0.0);
    let mut interrupted = false;
    let mut summaries = Vec::with_capacity(nodes.len());
    let seconds = nodes.iter().map(|n| n.seconds.len()).max().unwrap_or(0);
    let mut series: Vec<SecondSum> = (0..seconds).map(|_| SecondSum::new()).collect();
    let mut window: f64 = 0.0;
    for node in nodes {
        let who = format!("node {}", node.header.node_index);
        for (sum, s) in series.iter_mut().zip(&node.seconds) {
            let h = histogram(&s.histogram, &format!("{who} second {}", s.second))?;
            sum.add(s.length_s, s.completed, s.errors, &h);
        }
        window = window.max(node.duration_s());
        let node_counters;
        let mut achieved_pct = None;
        match &node.footer {
            Some(f) => {
                node_counters = f.counters;
                counters += f.counters;
                total
                    .add(&histogram(&f.histogram, &who)?)
                    .map_err(|e| format!("{who}: {e:?}"))?;
                if let Some(p) = &f.pace {
                    lag.add(&histogram(&p.lag, &who)?)
                        .map_err(|e| format!("{who}: {e:?}"))?;
                    uncorrected
                        .add(&histogram(&p.uncorrected, &who)?)
                        .map_err(|e| format!("{who}: {e:?}"))?;
                    late_busy += p.late_busy;
                    late_generator += p.late_generator;
                    behind += p.behind;
                    let scheduled = f.counters.sent + p.behind;
                    if scheduled > 0 {
                        achieved_pct = Some(100.0 * f.counters.sent as f64 / scheduled as f64);
                    }
                    if f.counters.sent > 0
                        && p.late_generator as f64 > 0.01 * f.counters.sent as f64
                    {
                        warnings.push(format!(
                            "{who} ({}) was overloaded: {} sends were late with a free connection; its latencies include its own queueing",
                            node.header.meta.hostname, p.late_generator
                        ));
                    }
                }
                if first_invalid.is_none() {
                    first_invalid.clone_from(&f.first_invalid);
                }
                for t in &f.threads {
                    threads.push(ThreadResult::new(t.cpu, t.requests, &t.samples));
                    samples.extend_from_slice(&t.samples);
                }
                user_s += f.generator_cpu.user_s;
                sys_s += f.generator_cpu.sys_s;
                interrupted |= f.interrupted;
            }
            None => {
                // Only its seconds survive: completions and latencies, no classes.
                let mut c = Counters::default();
                for s in &node.seconds {
                    c.completed += s.completed;
                    total
                        .add(&histogram(&s.histogram, &who)?)
                        .map_err(|e| format!("{who}: {e:?}"))?;
                }
                c.sent = c.completed;
                node_counters = c;
                counters += c;
                warnings.push(format!(
                    "{who}'s file is truncated after {} s: it counts only the completions of its per-second records",
                    node.seconds.len()
                ));
            }
        }
        if let Some(a) = achieved_pct.filter(|&a| a < 99.0) {
            warnings.push(format!(
                "{who} ({}) sent only {a:.1}% of its scheduled requests",
                node.header.meta.hostname
            ));
        }
        let errors = node_counters.request_errors() + node_counters.errors.connect;
        let d = node.duration_s();
        summaries.push(NodeSummary {
            index: node.header.node_index,
            hostname: node.header.meta.hostname.clone(),
            sent: node_counters.sent,
            completed: node_counters.completed,
            errors,
            requests_per_sec: if d > 0.0 {
                node_counters.completed as f64 / d
            } else {
                0.0
            },
            achieved_pct,
            late_ms: node.header.clock.late_ms,
            clock: node.header.clock.status.sync.clone(),
            generator_us_per_request: node
                .footer
                .as_ref()
                .map_or(0.0, |f| f.generator_cpu.us_per_request),
            complete: node.footer.is_some(),
        });
    }
    if nodes.len() > 1 {
        skew_warnings(nodes, &mut warnings);
    }
    // Rates over the planned window when every node ran it to the end.
    let complete = nodes.iter().all(|n| n.footer.is_some());
    if let (Some(d), false, true) = (plan.duration, interrupted, complete) {
        window = d.as_secs_f64();
    }
    let timeseries = series
        .iter()
        .enumerate()
        .map(|(i, s)| TimePoint::new(i, s.length_s, s.completed, s.errors, &s.histogram))
        .collect();
    let generator_cpu = GeneratorCpu {
        user_s,
        sys_s,
        us_per_request: if counters.sent > 0 {
            (user_s + sys_s) * 1e6 / counters.sent as f64
        } else {
            0.0
        },
    };
    let rate = plan.pacing.as_ref().map(|p| {
        RateReport::new(
            p,
            window,
            &counters,
            &lag,
            &uncorrected,
            late_busy,
            late_generator,
            behind,
        )
    });
    let mut meta = nodes
        .first()
        .map(|n| n.header.meta.clone())
        .ok_or("no node records")?;
    meta.command_line.clone_from(&plan.command_line);
    let mut r = RunResult::new(
        plan,
        meta,
        Duration::from_secs_f64(window),
        counters,
        first_invalid,
        total,
        threads,
        &samples,
        generator_cpu,
        rate,
        timeseries,
        interrupted,
    );
    if nodes.len() > 1 || partial {
        r.nodes = summaries;
        r.config.connections = plan.load.connections;
        r.config.requests = plan.load.requests;
        r.config.threads = r.threads.len();
    }
    r.partial = partial;
    r.warnings = warnings;
    Ok(r)
}

/// Nodes that launched after T0, or whose clocks the kernel does not trust.
fn skew_warnings(nodes: &[NodeRecord], warnings: &mut Vec<String>) {
    let mut unsynced = Vec::new();
    for n in nodes {
        let c = &n.header.clock;
        if c.late_ms > 1.0 {
            warnings.push(format!(
                "node {} ({}) launched {:.0} ms after T0: its first requests were late and count from their intended times",
                n.header.node_index, n.header.meta.hostname, c.late_ms
            ));
        }
        if c.status.sync == "unsynchronized" {
            unsynced.push(format!(
                "{} ({})",
                n.header.node_index, n.header.meta.hostname
            ));
        } else if let Some(e) = c.status.max_error_us.filter(|&e| e > 10_000) {
            warnings.push(format!(
                "node {} ({}): clock error up to {:.0} ms",
                n.header.node_index,
                n.header.meta.hostname,
                e as f64 / 1000.0
            ));
        }
    }
    if !unsynced.is_empty() {
        warnings.push(format!(
            "the kernel reports the clock of node{} {} unsynchronized (no NTP/PTP discipline): T0 may be off there",
            if unsynced.len() > 1 { "s" } else { "" },
            unsynced.join(", ")
        ));
    }
}
