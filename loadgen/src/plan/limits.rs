//! What a run can honour, as ranges: the flags' value parsers and the loads read
//! from files (plan files, node files) are checked against the same numbers.

use std::time::Duration;
use thiserror::Error;

/// The shortest run length and request timeout the engines honour: the workers
/// check their deadlines once per tick (`worker::TICK`, 10 ms; a test keeps the
/// two equal).
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// The longest run (`-d`, `--step-duration`): 30 days. Longer is a typo, and up
/// to this length a plan file's millisecond figures read back to the nanosecond.
pub const MAX_RUN: Duration = Duration::from_secs(30 * 86_400);
/// The longest request timeout: the latency histogram's highest value (1 h).
pub const MAX_TIMEOUT: Duration =
    Duration::from_secs(shared::stats::layout::LATENCY_HIGHEST_US / 1_000_000);
/// The most connections one process may open (the open-files limit usually
/// stops a run long before).
pub const MAX_CONNECTIONS: u64 = 10_000_000;
/// The most worker threads.
pub const MAX_THREADS: u64 = 4096;
/// The deepest pipeline: each connection buffers this many requests.
pub const MAX_PIPELINE: u64 = 1024;
/// The most requests under `-n` (far beyond any run; keeps the counters' sums exact).
pub const MAX_REQUESTS: u64 = 1_000_000_000_000_000;
/// The lowest `-R`, requests/s (one request every 1000 s).
pub const MIN_RATE: f64 = 0.001;
/// The highest `-R`, requests/s (one per nanosecond: the schedule's resolution).
pub const MAX_RATE: f64 = 1e9;

/// A value outside what a run can honour.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RangeError {
    #[error("must be at least {min}")]
    TooSmall { min: String },
    #[error("must be at most {max}")]
    TooLarge { max: String },
    #[error("must be a finite number")]
    NotFinite,
}

/// `n` within `min..=max`.
pub fn count(n: u64, min: u64, max: u64) -> Result<u64, RangeError> {
    if n < min {
        return Err(RangeError::TooSmall {
            min: min.to_string(),
        });
    }
    if n > max {
        return Err(RangeError::TooLarge {
            max: max.to_string(),
        });
    }
    Ok(n)
}

/// `v` finite and within `min..=max`.
pub fn number(v: f64, min: f64, max: f64) -> Result<f64, RangeError> {
    if !v.is_finite() {
        return Err(RangeError::NotFinite);
    }
    if v < min {
        return Err(RangeError::TooSmall {
            min: min.to_string(),
        });
    }
    if v > max {
        return Err(RangeError::TooLarge {
            max: max.to_string(),
        });
    }
    Ok(v)
}

/// `d` within `min..=max`.
pub fn duration(d: Duration, min: Duration, max: Duration) -> Result<Duration, RangeError> {
    if d < min {
        return Err(RangeError::TooSmall { min: show(min) });
    }
    if d > max {
        return Err(RangeError::TooLarge { max: show(max) });
    }
    Ok(d)
}

/// A duration in one word that the flags read back: the largest unit that
/// divides it exactly (`30d`, `1h`, `10s`, `10ms`, `10500us`, `7ns`), so a
/// recorded command line can be pasted as it is.
pub fn show(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    const UNITS: [(u128, &str); 7] = [
        (86_400_000_000_000, "d"),
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
        (1, "ns"),
    ];
    let (size, unit) = UNITS
        .iter()
        .find(|(size, _)| ns.is_multiple_of(*size))
        .expect("1 ns divides everything");
    format!("{}{unit}", ns / size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_show_in_one_word_that_reads_back() {
        for (d, text) in [
            (Duration::from_secs(30 * 86_400), "30d"),
            (Duration::from_secs(3600), "1h"),
            (Duration::from_secs(90), "90s"),
            (Duration::from_millis(10), "10ms"),
            (Duration::from_micros(10_500), "10500us"),
            (Duration::from_nanos(7), "7ns"),
            (Duration::ZERO, "0s"),
        ] {
            assert_eq!(show(d), text);
            assert_eq!(humantime::parse_duration(text).unwrap(), d);
        }
    }

    #[test]
    fn the_shortest_interval_is_the_workers_tick() {
        assert_eq!(super::MIN_INTERVAL, crate::worker::TICK);
    }
}
