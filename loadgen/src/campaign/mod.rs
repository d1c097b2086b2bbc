//! Campaigns: several runs built as Plans and read back as RunResults. A campaign
//! never touches a socket itself; the worker code does.

pub mod compare;
pub mod machine;
pub mod matrix;
pub mod ramp;

use crate::options::{self, Parsed};
use crate::plan::Plan;
use crate::result::RunResult;
use crate::run;
use std::ffi::OsString;

/// Builds a Plan from generator arguments (as a user would type them), so every
/// campaign run goes through the same validation.
pub fn plan_from(args: &[String]) -> Result<Plan, String> {
    let argv: Vec<OsString> = std::iter::once("ceiling".to_string())
        .chain(args.iter().cloned())
        .map(OsString::from)
        .collect();
    let command_line = format!("ceiling {}", args.join(" "));
    match options::parse(&argv, command_line) {
        Ok(Parsed::Plan(p)) => Ok(*p),
        Ok(Parsed::Info(_)) => Err("unexpected --help".into()),
        Err(e) => Err(e.0),
    }
}

/// Runs one generator invocation of a campaign.
pub fn run_args(args: &[String]) -> Result<(Plan, RunResult), String> {
    let plan = plan_from(args)?;
    let result = run::run(&plan).map_err(|e| e.to_string())?;
    Ok((plan, result))
}
