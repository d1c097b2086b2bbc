//! The load generator: `ceiling [OPTIONS] URL` with wrk's flags and wrk's output layout.
//!
//! Data flows one way: `options` (argv -> validated `Plan`, or a usage error before any
//! load) -> `run` (one pinned worker per CPU, Ctrl-C) -> `worker` (connections,
//! framing, recording) -> `record` (the one collector, to a `RunResult`) -> `result`
//! (the one `RunResult` model) -> `report` (text, JSON). tests/integration/architecture.rs
//! checks the direction of the imports.

pub mod campaign;
mod direct;
pub mod distributed;
pub mod load;
pub mod meta;
pub mod options;
pub mod pacing;
pub mod plan;
mod progress;
pub mod record;
pub mod report;
pub mod result;
pub mod run;
mod source;
pub mod sysctl;
mod worker;

use std::ffi::OsString;

/// Exit code: the run happened (even with server errors, which are reported).
pub const EXIT_OK: u8 = 0;
/// Exit code: the run could not complete (nothing could connect, output not written).
pub const EXIT_FAILED: u8 = 1;
/// Exit code: bad usage, detected before any load was sent.
pub const EXIT_USAGE: u8 = 2;

/// Runs one generator invocation; `args[0]` is the program name (or `run`).
pub fn main(args: &[OsString]) -> u8 {
    let command_line = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let plan = match options::parse(args, command_line) {
        Ok(options::Parsed::Plan(plan)) => plan,
        Ok(options::Parsed::Info(text)) => {
            print!("{text}");
            return EXIT_OK;
        }
        Err(e) => {
            eprintln!("ceiling: {e}");
            return EXIT_USAGE;
        }
    };
    for line in &plan.warnings {
        eprintln!("ceiling: {line}");
    }
    if plan.engine.fell_back() {
        eprintln!("ceiling: {}", plan.engine.describe());
    }
    let (result, out_error) = match run::run_recorded(&plan) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ceiling: {e}");
            return EXIT_FAILED;
        }
    };
    let mut code = emit(&outputs(&plan), &result);
    if let Some(e) = out_error {
        eprintln!("ceiling: could not write --out: {e}");
        code = EXIT_FAILED;
    }
    if result.counters.connects == 0 && result.counters.errors.connect > 0 {
        eprintln!(
            "ceiling: could not connect to {} ({} connect errors): is the server running?",
            plan.addr, result.counters.errors.connect
        );
        code = EXIT_FAILED;
    }
    code
}

/// Prints the text report and writes every output asked for; the exit code
/// says whether all of it could be written.
pub(crate) fn emit(outputs: &report::Outputs, result: &result::RunResult) -> u8 {
    let failed = outputs.write(result);
    for line in &failed {
        eprintln!("ceiling: {line}");
    }
    if failed.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAILED
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
