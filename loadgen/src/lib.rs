//! The load generator. (Being built.)

use std::ffi::OsString;

/// Runs a load-generator invocation (args[0] is the program or "run"); returns the exit code.
pub fn main(args: &[OsString]) -> u8 {
    let _ = args;
    eprintln!("ceiling: not built yet");
    1
}
