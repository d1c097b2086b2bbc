//! The load generator: `ceiling [OPTIONS] URL` with wrk's flags and wrk's output layout.
//!
//! Data flows one way: `options` (argv -> validated `Plan`, or a usage error before any
//! load) -> `run` (one pinned worker per CPU, Ctrl-C, merge) -> `worker` (connections,
//! framing, recording) -> `result` (the one `RunResult` model) -> `report` (text, JSON).

pub mod campaign;
mod direct;
pub mod distributed;
pub mod meta;
pub mod options;
pub mod pacing;
pub mod plan;
mod progress;
pub mod report;
pub mod requests_file;
pub mod result;
pub mod run;
pub mod script;
mod source;
pub mod sysctl;
mod worker;

use std::ffi::OsString;
use std::io::Write as _;

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
    let (result, _, out_error) = match run::run_recorded(&plan) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ceiling: {e}");
            return EXIT_FAILED;
        }
    };
    let mut code = emit(&plan, &result);
    // wrk calls done() after printing its report.
    if let Err(e) = script::done(&plan, &result) {
        eprintln!("ceiling: {e}");
        code = EXIT_FAILED;
    }
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

/// Prints the text report and writes every output the plan asks for; the exit
/// code says whether all of it could be written.
pub(crate) fn emit(plan: &plan::Plan, result: &result::RunResult) -> u8 {
    let mut code = EXIT_OK;
    if !plan.quiet {
        let text = report::text::render(plan, result);
        // With `--json -` or `--out -` stdout carries data, so the text goes to stderr.
        let written = if plan.json_stdout() || plan.out == Some(plan::JsonOut::Stdout) {
            std::io::stderr().write_all(text.as_bytes())
        } else {
            std::io::stdout().write_all(text.as_bytes())
        };
        if written.is_err() {
            code = EXIT_FAILED;
        }
    }
    if let Some(path) = &plan.hgrm {
        let text = shared::stats::codec::decode_base64(&result.latency.histogram)
            .map(|h| report::hgrm::spectrum(&h))
            .map_err(std::io::Error::other);
        if let Err(e) = text.and_then(|t| std::fs::write(path, t)) {
            eprintln!("ceiling: could not write --hgrm {}: {e}", path.display());
            code = EXIT_FAILED;
        }
    }
    if let Some(path) = &plan.html {
        if let Err(e) = std::fs::write(path, report::html::render(result)) {
            eprintln!("ceiling: could not write --html {}: {e}", path.display());
            code = EXIT_FAILED;
        }
    }
    if let Some(path) = &plan.hlog {
        if let Err(e) = report::hlog::write(path, result) {
            eprintln!("ceiling: could not write --hlog {}: {e}", path.display());
            code = EXIT_FAILED;
        }
    }
    if let Some(out) = &plan.json {
        if let Err(e) = report::json::write(out, result) {
            eprintln!("ceiling: could not write the JSON result: {e}");
            code = EXIT_FAILED;
        }
    }
    code
}
