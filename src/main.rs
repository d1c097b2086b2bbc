//! `ceiling`: subcommand dispatch only. `ceiling serve ...` runs the ceiling server;
//! `ceiling machine ...` measures this machine's ceiling (server and generator together);
//! `ramp`, `compare`, `matrix` and `tune` are campaigns of generator runs; `plan` and
//! `merge` split one run over several machines (`run --plan` runs a node's share);
//! anything else is a load-generator run with wrk-compatible flags (`ceiling [OPTIONS] URL`).
//!
//! Exit codes: 0 the run happened; 1 it could not complete; 2 bad usage (nothing sent).

use std::ffi::OsString;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let code = match args.get(1).and_then(|a| a.to_str()) {
        Some("serve") => server::main(&args[1..]),
        Some("run") => loadgen::main(&args[1..]),
        Some("machine") => loadgen::campaign::machine::main(&args[1..]),
        Some("ramp") => loadgen::campaign::ramp::main(&args[1..]),
        Some("compare") => loadgen::campaign::compare::main(&args[1..]),
        Some("matrix") => loadgen::campaign::matrix::main(&args[1..]),
        Some("tune") => loadgen::campaign::tune::main(&args[1..]),
        Some("plan") => loadgen::distributed::plan_cmd::main(&args[1..]),
        Some("merge") => loadgen::distributed::merge::main(&args[1..]),
        _ => loadgen::main(&args),
    };
    ExitCode::from(code)
}
