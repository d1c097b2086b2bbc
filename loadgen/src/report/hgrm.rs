//! HdrHistogram's percentile distribution (the `.hgrm` layout that HdrHistogram's
//! plotter reads, and that wrk2 prints as its "Detailed Percentile spectrum").

use shared::stats::{Histogram, SIGNIFICANT_DIGITS};
use std::fmt::Write as _;

/// Values are recorded in µs and shown in ms, as wrk2 shows them.
const DIVISOR: f64 = 1000.0;
/// Reporting ticks per half distance to 100%, HdrHistogram's usual 5.
const TICKS: u32 = 5;

/// The percentile table with its header and summary lines.
pub fn spectrum(h: &Histogram) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0u64;
    if !h.is_empty() {
        for v in h.iter_quantiles(TICKS) {
            total += v.count_since_last_iteration();
            let value = v.value_iterated_to() as f64 / DIVISOR;
            let q = v.quantile_iterated_to();
            if q < 1.0 {
                let _ = writeln!(
                    s,
                    "{value:12.3} {q:2.12} {total:10} {:14.2}",
                    1.0 / (1.0 - q)
                );
            } else {
                let _ = writeln!(s, "{value:12.3} {q:2.12} {total:10}");
            }
        }
    }
    let (mean, stdev, max) = if h.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        (
            h.mean() / DIVISOR,
            h.stdev() / DIVISOR,
            h.max() as f64 / DIVISOR,
        )
    };
    // Sub-buckets per bucket: the power of two covering 2 x 10^digits.
    let sub_buckets = (2.0 * 10f64.powi(i32::from(SIGNIFICANT_DIGITS)))
        .log2()
        .ceil()
        .exp2() as u64;
    let _ = writeln!(s, "#[Mean    = {mean:12.3}, StdDeviation   = {stdev:12.3}]");
    let _ = writeln!(
        s,
        "#[Max     = {max:12.3}, Total count    = {:12}]",
        h.len()
    );
    let _ = writeln!(
        s,
        "#[Buckets = {:12}, SubBuckets     = {sub_buckets:12}]",
        h.buckets()
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::stats::new_histogram;

    #[test]
    fn spectrum_is_hgrm() {
        let mut h = new_histogram();
        for v in 1..=10_000u64 {
            h.record(v).unwrap();
        }
        let text = spectrum(&h);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("Value") && lines[0].contains("1/(1-Percentile)"));
        assert_eq!(lines[1], "");
        // Data rows: value, percentile, cumulative count, and 1/(1-p) except the last.
        let rows: Vec<Vec<&str>> = lines[2..]
            .iter()
            .take_while(|l| !l.starts_with('#'))
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert!(rows.len() > 20);
        assert_eq!(rows.last().unwrap().len(), 3);
        assert_eq!(rows.last().unwrap()[2], "10000");
        assert!(rows[..rows.len() - 1].iter().all(|r| r.len() == 4));
        let counts: Vec<u64> = rows.iter().map(|r| r[2].parse().unwrap()).collect();
        assert!(counts.windows(2).all(|w| w[0] <= w[1]));
        assert!(text.contains("#[Max     =       10.007"), "{text}");
        assert!(text.contains("Total count    =        10000]"));
        assert!(text.contains("SubBuckets     =         2048]"));
    }
}
