//! `ceiling merge FILES...`: the nodes of one run into the report one machine
//! would have printed. Counters and histograms are summed exactly, second by
//! second; percentiles come from the summed histogram, never from averaging the
//! nodes' percentiles.

use super::Layout;
use crate::options;
use crate::record::{fold, NodeRecord};
use crate::report::{Outputs, Sink};
use crate::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use clap::Parser;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

/// Merges node result files (from `ceiling run ... --out FILE`) into one report.
#[derive(Debug, Parser)]
#[command(
    name = "ceiling merge",
    bin_name = "ceiling merge",
    after_help = "Refuses files of different plans or histogram layouts, duplicate or missing node indices and truncated files, unless --allow-partial (the report then says PARTIAL). Exit codes: 0 merged; 1 an output could not be written; 2 the files do not make one run."
)]
struct MergeArgs {
    /// Node files (JSON Lines)
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Merge what is there when nodes are missing or truncated, labelled PARTIAL
    #[arg(long)]
    allow_partial: bool,
    /// Print the latency distribution
    #[arg(long)]
    latency: bool,
    /// Also print the uncorrected latency distribution (-R runs)
    #[arg(long = "u_latency", alias = "u-latency")]
    u_latency: bool,
    /// Write the merged result as JSON to FILE, or - for stdout
    #[arg(long, value_name = "FILE")]
    json: Option<String>,
    /// Write a self-contained HTML page with charts to FILE
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Write the latency percentile spectrum (HdrHistogram .hgrm) to FILE
    #[arg(long, value_name = "FILE")]
    hgrm: Option<PathBuf>,
    /// Write per-second latency histograms as an HdrHistogram interval log to FILE
    #[arg(long, value_name = "FILE")]
    hlog: Option<PathBuf>,
    /// Print nothing but errors
    #[arg(short, long)]
    quiet: bool,
}

pub fn main(args: &[OsString]) -> u8 {
    let command_line = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let a = match MergeArgs::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            return match options::info_or_usage(e) {
                Ok(options::Parsed::Info(text)) => {
                    print!("{text}");
                    EXIT_OK
                }
                Ok(options::Parsed::Plan(_)) => EXIT_OK,
                Err(e) => {
                    eprintln!("ceiling merge: {e}");
                    EXIT_USAGE
                }
            }
        }
    };
    let json = a.json.as_ref().map(|j| match j.as_str() {
        "-" => Sink::Stdout,
        path => Sink::File(path.into()),
    });
    let outputs = Outputs {
        quiet: a.quiet,
        text_to_stderr: json == Some(Sink::Stdout),
        json,
        hgrm: a.hgrm.clone(),
        html: a.html.clone(),
        hlog: a.hlog.clone(),
    };
    if let Err(e) = outputs.check() {
        eprintln!("ceiling merge: {e}");
        return EXIT_USAGE;
    }
    let records = match a
        .files
        .iter()
        .map(|f| NodeRecord::read(f))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ceiling merge: {e}");
            return EXIT_USAGE;
        }
    };
    let (records, partial, warnings) = match check(&a.files, records, a.allow_partial) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ceiling merge: {e}");
            return EXIT_USAGE;
        }
    };
    // The records carry everything the report says: no Plan is rebuilt.
    let result = match fold::merged(
        &records,
        (a.latency, a.u_latency),
        &command_line,
        partial,
        warnings,
    ) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ceiling merge: {e}");
            return EXIT_FAILED;
        }
    };
    crate::emit(&outputs, &result)
}

/// The records sorted by node index, whether the merge is partial, and what it
/// lacks; or the reason the files are not one run.
pub fn check(
    files: &[PathBuf],
    records: Vec<NodeRecord>,
    allow_partial: bool,
) -> Result<(Vec<NodeRecord>, bool, Vec<String>), String> {
    let first = &records[0].header;
    let name = |i: usize| files[i].display().to_string();
    let mut by_index: BTreeMap<usize, usize> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        let h = &r.header;
        if h.plan_hash != first.plan_hash || h.run_id != first.run_id {
            return Err(format!(
                "{} is from plan {} (run {}), {} from plan {} (run {}): not one run",
                name(i),
                h.plan_hash,
                h.run_id,
                name(0),
                first.plan_hash,
                first.run_id
            ));
        }
        if h.histogram != first.histogram || h.histogram != Layout::current() {
            return Err(format!(
                "{} has another histogram layout ({:?}): written by a different ceiling version",
                name(i),
                h.histogram
            ));
        }
        if h.node_count != first.node_count || h.node_index >= h.node_count {
            return Err(format!(
                "{}: node {} of {} does not fit a run of {} nodes",
                name(i),
                h.node_index,
                h.node_count,
                first.node_count
            ));
        }
        if let Some(&j) = by_index.get(&h.node_index) {
            return Err(format!(
                "node {} appears twice: {} and {}",
                h.node_index,
                name(j),
                name(i)
            ));
        }
        by_index.insert(h.node_index, i);
    }
    let count = first.node_count;
    let missing: Vec<String> = (0..count)
        .filter(|i| !by_index.contains_key(i))
        .map(|i| i.to_string())
        .collect();
    let truncated: Vec<String> = records
        .iter()
        .enumerate()
        .filter(|(_, r)| r.footer.is_none())
        .map(|(i, _)| name(i))
        .collect();
    let mut warnings = Vec::new();
    if !missing.is_empty() {
        let what = format!(
            "missing node{} {} of {count}",
            if missing.len() > 1 { "s" } else { "" },
            missing.join(", ")
        );
        if !allow_partial {
            return Err(format!("{what} (--allow-partial merges the rest)"));
        }
        warnings.push(format!("{what}: the figures cover {} nodes", records.len()));
    }
    if !truncated.is_empty() && !allow_partial {
        return Err(format!(
            "{} ended before its footer: the node died or the file was cut (--allow-partial merges what is there)",
            truncated.join(", ")
        ));
    }
    let partial = !missing.is_empty() || !truncated.is_empty();
    let mut sorted: Vec<(usize, NodeRecord)> = records
        .into_iter()
        .map(|r| (r.header.node_index, r))
        .collect();
    sorted.sort_by_key(|(i, _)| *i);
    Ok((
        sorted.into_iter().map(|(_, r)| r).collect(),
        partial,
        warnings,
    ))
}
