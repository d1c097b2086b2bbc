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
