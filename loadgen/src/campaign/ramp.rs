//! `ceiling ramp` (being built).

use std::ffi::OsString;

/// `ceiling ramp ARGS` (args[0] is "ramp"); returns the exit code.
pub fn main(args: &[OsString]) -> u8 {
    let _ = args;
    eprintln!("ceiling ramp: not built yet");
    crate::EXIT_USAGE
}
