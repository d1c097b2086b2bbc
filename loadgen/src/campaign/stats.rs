//! The statistics of `compare` and `tune`: medians, Student's t intervals of a
//! mean, and paired ratios against a baseline. Nothing here returns an infinity
//! or a NaN: with fewer than two rounds there is no estimate of the run-to-run
//! noise, and the figures say so (`None`) instead of claiming an interval.

use serde::{Deserialize, Serialize};

/// Rounds that give a noise estimate: two at least (one degree of freedom).
pub const MIN_ROUNDS: usize = 2;
/// Rounds we advise: with two the t quantile is 12.7 and the interval is wide.
pub const ADVISED_ROUNDS: usize = 3;

/// The median (None for no samples).
pub fn median(v: &[f64]) -> Option<f64> {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => None,
        n if n % 2 == 1 => Some(s[n / 2]),
        n => Some((s[n / 2 - 1] + s[n / 2]) / 2.0),
    }
}

/// The mean (None for no samples).
pub fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Two-sided 95% Student's t quantile for `df` >= 1 degrees of freedom.
fn t95(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        d @ 1..=30 => T[d - 1],
        _ => 1.96,
    }
}

/// Half-width of the 95% confidence interval of the mean (Student's t); None
/// with fewer than [`MIN_ROUNDS`] samples: one sample says nothing of the noise.
pub fn ci95(v: &[f64]) -> Option<f64> {
    if v.len() < MIN_ROUNDS {
        return None;
    }
    let n = v.len() as f64;
    let m = mean(v)?;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    Some(t95(v.len() - 1) * (var / n).sqrt())
}

/// One side relative to another over paired rounds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    /// Geometric mean of the per-round ratios; None when no round had
    /// throughput on both sides.
    pub ratio: Option<f64>,
    /// The 95% interval of the ratio; None with fewer than two paired rounds.
    pub low: Option<f64>,
    pub high: Option<f64>,
    /// Rounds with throughput on both sides (the pairs the ratio comes from).
    pub rounds: usize,
    /// The interval holds 1 (the difference is within the run-to-run noise);
    /// None: no interval, so no estimate of the noise.
    pub within_noise: Option<bool>,
}

/// Ratio of `a` to `b` over paired rounds: the geometric mean of the per-round
/// ratios, with a t interval on their logarithms (rounds are interleaved, so a
/// slow stretch of the machine hits both sides of a pair).
pub fn ratio(a: &[f64], b: &[f64]) -> Ratio {
    let logs: Vec<f64> = a
        .iter()
        .zip(b)
        .filter(|(x, y)| **x > 0.0 && **y > 0.0 && x.is_finite() && y.is_finite())
        .map(|(x, y)| (x / y).ln())
        .collect();
    let m = mean(&logs);
    let interval = m
        .zip(ci95(&logs))
        .map(|(m, h)| ((m - h).exp(), (m + h).exp()));
    Ratio {
        ratio: m.map(f64::exp),
        low: interval.map(|i| i.0),
        high: interval.map(|i| i.1),
        rounds: logs.len(),
        within_noise: interval.map(|(low, high)| low <= 1.0 && high >= 1.0),
    }
}

/// "11.30x faster" / "2.00x slower".
pub fn times(r: f64) -> String {
    if r >= 1.0 {
        format!("{r:.2}x faster")
    } else if r > 0.0 {
        format!("{:.2}x slower", 1.0 / r)
    } else {
        "n/a".into()
    }
}

/// What to say when `rounds` rounds gave no noise estimate.
pub fn no_estimate(rounds: usize) -> String {
    format!(
        "no noise estimate from {rounds} round{}: --repeats {MIN_ROUNDS} or more gives one ({ADVISED_ROUNDS}+ advised)",
        if rounds == 1 { "" } else { "s" }
    )
}

/// `mean ± half` when there is an interval, else the mean and why there is none.
pub fn mean_text(mean: Option<f64>, half: Option<f64>) -> String {
    match (mean, half) {
        (Some(m), Some(h)) => format!("{m:.0} ± {h:.0}"),
        (Some(m), None) => format!("{m:.0} ± n/a"),
        (None, _) => "n/a".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_intervals() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(mean(&[10.0, 12.0, 14.0]), Some(12.0));
        // sd 2, n 3: t(2) 4.303 x 2 / sqrt(3).
        let h = ci95(&[10.0, 12.0, 14.0]).unwrap();
        assert!((h - 4.303 * 2.0 / 3f64.sqrt()).abs() < 1e-9);
        assert_eq!(ci95(&[5.0]), None);
        assert_eq!(ci95(&[]), None);
        assert_eq!(mean(&[]), None);
        // Identical samples: a zero-width interval, not a NaN.
        assert_eq!(ci95(&[7.0, 7.0, 7.0]), Some(0.0));
    }

    #[test]
    fn ratios_say_when_they_are_noise_and_when_they_cannot_know() {
        let clear = ratio(&[200.0, 210.0, 205.0], &[100.0, 101.0, 99.0]);
        assert_eq!(clear.within_noise, Some(false));
        let r = clear.ratio.unwrap();
        assert!((r - 2.05).abs() < 0.05);
        assert!(clear.low.unwrap() < r && r < clear.high.unwrap());
        let noise = ratio(&[100.0, 96.0, 104.0], &[99.0, 101.0, 100.0]);
        assert_eq!(noise.within_noise, Some(true));
        // One round: a ratio, no interval, no claim about the noise.
        let one = ratio(&[280.0], &[100.0]);
        assert!((one.ratio.unwrap() - 2.8).abs() < 1e-9);
        assert_eq!((one.low, one.high, one.within_noise), (None, None, None));
        // Zero throughput on a side: no ratio at all, never inf or NaN.
        let zero = ratio(&[0.0, 0.0], &[100.0, 100.0]);
        assert_eq!(
            (zero.ratio, zero.rounds, zero.within_noise),
            (None, 0, None)
        );
        let empty = ratio(&[], &[]);
        assert_eq!(empty.ratio, None);
        // Identical rounds: an interval of zero width at 1, within the noise.
        let same = ratio(&[5.0, 5.0], &[5.0, 5.0]);
        assert_eq!((same.low, same.high), (Some(1.0), Some(1.0)));
        assert_eq!(same.within_noise, Some(true));
    }

    #[test]
    fn times_reads_both_ways() {
        assert_eq!(times(11.3), "11.30x faster");
        assert_eq!(times(0.5), "2.00x slower");
        assert_eq!(times(0.0), "n/a");
        assert_eq!(mean_text(Some(5.0), None), "5 ± n/a");
        assert!(no_estimate(1).contains("--repeats 2"));
    }
}
