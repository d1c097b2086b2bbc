//! `ceiling serve`: the ceiling server. (Being built.)

use std::ffi::OsString;

/// Runs `ceiling serve ARGS` (args[0] is "serve"); returns the process exit code.
pub fn main(args: &[OsString]) -> u8 {
    let _ = args;
    eprintln!("ceiling serve: not built yet");
    1
}
