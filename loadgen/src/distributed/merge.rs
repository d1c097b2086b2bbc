//! `ceiling merge FILES...`: the nodes of one run into the report one machine
//! would have printed. Counters and histograms are summed exactly, second by
//! second; percentiles come from the summed histogram, never from averaging the
//! nodes' percentiles.

use super::{Layout, NotOneRun};
use crate::error::{CliError, Failed};
use crate::options::{self, DisplayArgs, OutputArgs, Reach, UsageError};
use crate::record::{fold, NodeRecord};
use crate::report::{Outputs, Sink};
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
pub(crate) struct MergeArgs {
    /// Node files (JSON Lines)
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Merge what is there when nodes are missing or truncated, labelled PARTIAL
    #[arg(long)]
    allow_partial: bool,
    #[command(flatten)]
    display: DisplayArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// `ceiling merge ARGS` (args[0] is "merge").
pub fn main(args: &[OsString]) -> Result<(), CliError> {
    command(args, Reach::Whole)
}

/// `main` as far as `reach` goes (its checks read the node files, write nothing).
pub fn command(args: &[OsString], reach: Reach) -> Result<(), CliError> {
    let Some(a) = options::parse_args::<MergeArgs>(args)?.or_print(reach) else {
        return Ok(());
    };
    let records = a
        .files
        .iter()
        .map(|f| NodeRecord::read(f))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| UsageError::NodeFile(e.to_string()))?;
    let (records, partial, warnings) =
        check(&a.files, records, a.allow_partial).map_err(|e| UsageError::from(Box::new(e)))?;
    if reach == Reach::Checks {
        return Ok(());
    }
    let json = a.output.json.as_deref().map(|j| match j {
        "-" => Sink::Stdout,
        path => Sink::File(path.into()),
    });
    let outputs = Outputs {
        quiet: a.display.quiet,
        text_to_stderr: json == Some(Sink::Stdout),
        json,
        hgrm: a.output.hgrm.clone(),
        html: a.output.html.clone(),
        hlog: a.output.hlog.clone(),
    };
    outputs.check().map_err(UsageError::NodeFile)?;
    // The records carry everything the report says: no Plan is rebuilt.
    let result = fold::merged(
        &records,
        (a.display.latency, a.display.u_latency),
        &crate::command_line(args),
        partial,
        warnings,
    )
    .map_err(|e| Failed::Merge(e.to_string()))?;
    crate::emit(&outputs, &result)?;
    Ok(())
}

/// The records sorted by node index, whether the merge is partial, and what it
/// lacks; or the reason the files are not one run.
pub fn check(
    files: &[PathBuf],
    records: Vec<NodeRecord>,
    allow_partial: bool,
) -> Result<(Vec<NodeRecord>, bool, Vec<String>), NotOneRun> {
    let first = &records[0].header;
    let name = |i: usize| files[i].display().to_string();
    let mut by_index: BTreeMap<usize, usize> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        let h = &r.header;
        if h.plan_hash != first.plan_hash || h.run_id != first.run_id {
            return Err(NotOneRun::OtherRun {
                file: name(i),
                run: format!("plan {} (run {})", h.plan_hash, h.run_id),
                first: name(0),
                first_run: format!("plan {} (run {})", first.plan_hash, first.run_id),
            });
        }
        if h.histogram != first.histogram || h.histogram != Layout::current() {
            return Err(NotOneRun::Layout {
                file: name(i),
                layout: format!("{:?}", h.histogram),
            });
        }
        if h.node_count != first.node_count || h.node_index >= h.node_count {
            return Err(NotOneRun::Misfit {
                file: name(i),
                index: h.node_index,
                count: h.node_count,
                nodes: first.node_count,
            });
        }
        if let Some(&j) = by_index.get(&h.node_index) {
            return Err(NotOneRun::Twice {
                index: h.node_index,
                first: name(j),
                second: name(i),
            });
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
            return Err(NotOneRun::Missing(what));
        }
        warnings.push(format!("{what}: the figures cover {} nodes", records.len()));
    }
    if !truncated.is_empty() && !allow_partial {
        return Err(NotOneRun::Truncated(truncated.join(", ")));
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
