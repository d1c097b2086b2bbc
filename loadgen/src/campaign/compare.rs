//! `ceiling compare` (being built).

use std::ffi::OsString;

/// `ceiling compare ARGS` (args[0] is "compare"); returns the exit code.
pub fn main(args: &[OsString]) -> u8 {
    let _ = args;
    eprintln!("ceiling compare: not built yet");
    crate::EXIT_USAGE
}
