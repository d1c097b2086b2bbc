//! What both halves of Ceiling share: the thread-per-core bootstrap (`runtime`),
//! the sans-IO HTTP/1.1 wire code (`wire`) and the statistics model (`stats`).
//!
//! `wire` and `stats` are sans-IO: byte slices in, decisions out, no runtime, no clock,
//! so they can be unit-, property-, fuzz- and bench-tested alone.

pub mod runtime;
pub mod stats;
pub mod wire;
