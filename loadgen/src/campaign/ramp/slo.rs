//! `--slo p99<50ms`: a latency percentile and its limit.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// An SLO that cannot be read: the text and why.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("--slo {text:?}: {why} (e.g. p99<50ms)")]
pub struct SloError {
    pub text: String,
    pub why: &'static str,
}

/// Percentiles an SLO may name (p95 is read from the histogram, not the report's list).
const ALLOWED: [f64; 5] = [50.0, 90.0, 95.0, 99.0, 99.9];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    /// 50, 90, 95, 99 or 99.9.
    pub percentile: f64,
    /// The limit in microseconds: the SLO is met when the percentile is at most this.
    pub limit_us: u64,
    /// As the user wrote it, for the reports.
    pub text: String,
}

impl Slo {
    /// Parses `pNN<VALUE[us|ms|s]` (`<=` is accepted as the same thing).
    pub fn parse(text: &str) -> Result<Self, SloError> {
        let bad = |why: &'static str| SloError {
            text: text.to_string(),
            why,
        };
        let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let rest = t
            .strip_prefix(['p', 'P'])
            .ok_or_else(|| bad("expected a percentile such as p99"))?;
        let (pct, limit) = rest
            .split_once('<')
            .ok_or_else(|| bad("expected '<' between the percentile and the limit"))?;
        let limit = limit.strip_prefix('=').unwrap_or(limit);
        let percentile: f64 = pct
            .parse()
            .map_err(|_| bad("the percentile is not a number"))?;
        if !ALLOWED.contains(&percentile) {
            return Err(bad("the percentile must be p50, p90, p95, p99 or p99.9"));
        }
        let split = limit
            .find(|c: char| c.is_ascii_alphabetic() || c == 'µ')
            .ok_or_else(|| bad("the limit needs a unit: us, ms or s"))?;
        let (number, unit) = limit.split_at(split);
        let value: f64 = number
            .parse()
            .map_err(|_| bad("the limit is not a number"))?;
        let factor = match unit {
            "us" | "µs" => 1.0,
            "ms" => 1e3,
            "s" => 1e6,
            _ => return Err(bad("the unit must be us, ms or s")),
        };
        let limit_us = (value * factor).round();
        if !(limit_us.is_finite() && limit_us >= 1.0) {
            return Err(bad("the limit must be at least 1us"));
        }
        if limit_us > shared::stats::layout::LATENCY_HIGHEST_US as f64 {
            return Err(bad(
                "the limit must be at most 1h (the latency histogram's top)",
            ));
        }
        Ok(Self {
            percentile,
            limit_us: limit_us as u64,
            text: t,
        })
    }

    /// "p99", "p99.9".
    pub fn label(&self) -> String {
        format!("p{}", self.percentile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_percentiles_and_units() {
        let s = Slo::parse("p99<50ms").unwrap();
        assert_eq!((s.percentile, s.limit_us), (99.0, 50_000));
        assert_eq!(s.label(), "p99");
        let s = Slo::parse(" p99.9 <= 1.5s ").unwrap();
        assert_eq!((s.percentile, s.limit_us), (99.9, 1_500_000));
        assert_eq!(s.label(), "p99.9");
        assert_eq!(Slo::parse("p50<800us").unwrap().limit_us, 800);
        assert_eq!(Slo::parse("P95<2µs").unwrap().limit_us, 2);
        assert_eq!(Slo::parse("p90<0.5ms").unwrap().limit_us, 500);
    }

    #[test]
    fn rejects_what_it_cannot_check() {
        for bad in [
            "",
            "99<50ms",
            "p99>50ms",
            "p98<50ms",
            "p99<50",
            "p99<50min",
            "p99<ms",
            "p99<0ms",
            "p99<-5ms",
            "pxx<5ms",
        ] {
            assert!(Slo::parse(bad).is_err(), "{bad:?} parsed");
        }
        assert!(Slo::parse("p99<50")
            .unwrap_err()
            .to_string()
            .contains("unit"));
    }
}
