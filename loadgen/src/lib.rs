//! The load generator: `ceiling [OPTIONS] URL` with wrk's flags and wrk's output layout.
//!
//! Data flows one way: `options` (argv -> typed arguments) -> `plan::build` (the
//! validated `Plan`, or a usage error before any load) -> `run` (one pinned worker per
//! CPU, Ctrl-C) -> `worker` (connections, framing, recording) -> `record` (the one
//! collector, to a `RunResult`) -> `result` (the one `RunResult` model) -> `report`
//! (text, JSON). tests/integration/architecture.rs checks the direction of the imports.

pub mod campaign;
mod direct;
pub mod distributed;
pub mod error;
mod hooks;
pub mod load;
pub mod meta;
pub mod options;
pub mod pacing;
pub mod plan;
mod progress;
pub mod record;
pub mod redact;
pub mod report;
pub mod requests_file;
pub mod result;
pub mod resume;
pub mod run;
pub mod script;
mod source;
pub mod sysctl;
pub mod tls;
mod worker;

#[cfg(test)]
mod cli_proptest;

pub use error::{CliError, Failed};

use options::RunArgs;
use std::ffi::OsString;

/// The command line as one string (lossy for non-UTF-8 arguments), for the record.
pub fn command_line(args: &[OsString]) -> String {
    args.iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs one generator invocation; `args[0]` is the program name (or `run`).
/// Ok: the run happened (even with server errors, which are reported).
pub fn main(args: &[OsString]) -> Result<(), CliError> {
    command(args, options::Reach::Whole)
}

/// `main` as far as `reach` goes (its checks build the plan and send nothing).
pub fn command(args: &[OsString], reach: options::Reach) -> Result<(), CliError> {
    let Some(a) = RunArgs::parse_from(args)?.or_print(reach) else {
        return Ok(());
    };
    let plan = a.plan(&command_line(args))?;
    if reach == options::Reach::Checks {
        return Ok(());
    }
    for line in &plan.warnings {
        shared::say!("ceiling: {line}");
    }
    if plan.engine.fell_back() {
        shared::say!("ceiling: {}", plan.engine.describe());
    }
    let outputs = outputs(&plan);
    // wrk's header as the run starts, so a person sees at once what runs.
    let mut failed = match outputs.start(&record::config::of_plan(&plan)) {
        Ok(()) => Vec::new(),
        Err(e) => vec![format!("could not print the report: {e}")],
    };
    let (result, out_error) = run::run_recorded(&plan)?;
    failed.extend(outputs.finish(&result));
    // wrk calls done() after printing its report.
    if let Err(e) = script::done(&plan, &result) {
        failed.push(e.to_string());
    }
    if let Some(e) = out_error {
        failed.push(format!("could not write --out: {e}"));
    }
    if result.counters.connects == 0 && result.counters.errors.connect > 0 {
        failed.push(
            Failed::NoConnection {
                addr: plan.addr,
                errors: result.counters.errors.connect,
            }
            .to_string(),
        );
    }
    let hs = result.counters.errors.tls_handshake;
    if result.counters.connects == 0 && hs > 0 {
        // Every TLS handshake failed: the run sent nothing (the preflight
        // passed, so the server changed its mind, or refuses under load).
        let causes = result.tls.as_ref().map_or_else(String::new, |t| {
            let list: Vec<String> = t
                .failures
                .iter()
                .map(|(c, n)| format!("{c} x{n}"))
                .collect();
            format!(": {}", list.join(", "))
        });
        failed.push(format!(
            "no TLS handshake with {} completed ({hs} failed{causes})",
            plan.addr
        ));
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failed::Outputs(failed).into())
    }
}

/// Prints the text report and writes every output asked for; Err names each
/// one that could not be written.
pub(crate) fn emit(outputs: &report::Outputs, result: &result::RunResult) -> Result<(), Failed> {
    let failed = outputs.write(result);
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failed::Outputs(failed))
    }
}

/// The views a run's plan asks for.
pub(crate) fn outputs(plan: &plan::Plan) -> report::Outputs {
    let sink = |o: &plan::JsonOut| match o {
        plan::JsonOut::Stdout => report::Sink::Stdout,
        plan::JsonOut::File(p) => report::Sink::File(p.clone()),
    };
    report::Outputs {
        quiet: plan.quiet,
        // With `--json -` or `--out -` stdout carries data, so the text goes to stderr.
        text_to_stderr: plan.json_stdout() || plan.out == Some(plan::JsonOut::Stdout),
        json: plan.json.as_ref().map(sink),
        hgrm: plan.hgrm.clone(),
        html: plan.html.clone(),
        hlog: plan.hlog.clone(),
    }
}
