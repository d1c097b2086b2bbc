//! What both halves of Ceiling share: the thread-per-core bootstrap (`runtime`),
//! the sans-IO HTTP/1.1 wire code (`wire`), the statistics model (`stats`) and the
//! TLS provider, certificates and PEM loading (`tls`).
//!
//! `wire` and `stats` are sans-IO: byte slices in, decisions out, no runtime, no clock,
//! so they can be unit-, property-, fuzz- and bench-tested alone.

pub mod runtime;
pub mod stats;
pub mod tls;
pub mod wire;

/// `eprintln!` that never panics. std's `eprintln!` panics when stderr is
/// gone (`ceiling ... 2>&1 | head -1`); with `panic = "abort"` that aborts the
/// process and loses what a run measured (its `--json`, its `--out`). Here a
/// line that cannot be written is dropped.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stderr(), $($arg)*);
    }};
}

/// `print!` that never panics, for the same reason as [`say!`]: text for
/// stdout that a closed pipe cannot take is dropped.
#[macro_export]
macro_rules! show {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let mut out = ::std::io::stdout();
        let _ = ::std::write!(out, $($arg)*);
        let _ = out.flush();
    }};
}
