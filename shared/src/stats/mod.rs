//! The statistics model both halves use: one histogram layout, plain counters,
//! error classes, and the histogram codec. Sans-IO: no clock, no runtime.

pub mod codec;
pub mod counters;
pub mod layout;

pub use counters::{Counters, ErrorClass, ErrorCounts, StatusCounts};
pub use layout::{
    new_histogram, Histogram, LATENCY_HIGHEST_US, LATENCY_LOWEST_US, SIGNIFICANT_DIGITS,
};
