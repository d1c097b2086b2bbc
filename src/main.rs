//! `ceiling`: subcommand dispatch, and the one place that decides exit codes.
//! `ceiling serve ...` runs the ceiling server; `ceiling machine ...` measures this
//! machine's ceiling (server and generator together); `ramp`, `compare`, `matrix`
//! and `tune` are campaigns of generator runs; `plan` and `merge` split one run
//! over several machines (`run --plan` runs a node's share); anything else is a
//! load-generator run with wrk-compatible flags (`ceiling [OPTIONS] URL`).
//!
//! Exit codes: 0 the run happened; 1 it could not complete; 2 bad usage (nothing sent).

use std::ffi::OsString;
use std::process::ExitCode;

/// Every command's failure, as it reaches the binary's edge.
enum Error {
    Generator(loadgen::CliError),
    Server(server::ServeError),
}

impl Error {
    /// 2: bad usage found before any load (or before the server listened);
    /// 1: the command could not complete.
    fn exit_code(&self) -> u8 {
        let usage = match self {
            Error::Generator(e) => matches!(e, loadgen::CliError::Usage(_)),
            Error::Server(e) => e.is_usage(),
        };
        if usage {
            2
        } else {
            1
        }
    }

    fn message(&self) -> String {
        match self {
            Error::Generator(e) => e.to_string(),
            Error::Server(e) => e.to_string(),
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let sub = args.get(1).and_then(|a| a.to_str()).unwrap_or_default();
    let (name, outcome) = match sub {
        "serve" => (
            "ceiling serve",
            server::main(&args[1..]).map_err(Error::Server),
        ),
        "run" => (
            "ceiling",
            loadgen::main(&args[1..]).map_err(Error::Generator),
        ),
        "machine" => (
            "ceiling machine",
            loadgen::campaign::machine::main(&args[1..]).map_err(Error::Generator),
        ),
        "ramp" => (
            "ceiling ramp",
            loadgen::campaign::ramp::main(&args[1..]).map_err(Error::Generator),
        ),
        "compare" => (
            "ceiling compare",
            loadgen::campaign::compare::main(&args[1..]).map_err(Error::Generator),
        ),
        "matrix" => (
            "ceiling matrix",
            loadgen::campaign::matrix::main(&args[1..]).map_err(Error::Generator),
        ),
        "tune" => (
            "ceiling tune",
            loadgen::campaign::tune::main(&args[1..]).map_err(Error::Generator),
        ),
        "plan" => (
            "ceiling plan",
            loadgen::distributed::plan_cmd::main(&args[1..]).map_err(Error::Generator),
        ),
        "merge" => (
            "ceiling merge",
            loadgen::distributed::merge::main(&args[1..]).map_err(Error::Generator),
        ),
        _ => ("ceiling", loadgen::main(&args).map_err(Error::Generator)),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the command and what went wrong (no secret: the messages
            // quote URLs and headers masked).
            shared::say!("{name}: {}", e.message().replace('\n', " "));
            ExitCode::from(e.exit_code())
        }
    }
}
