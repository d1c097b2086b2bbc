//! The one latency histogram layout: microseconds, 1 µs to 1 h, 3 significant digits.
//! Every histogram that is ever merged uses it, so merging is exact.

/// The histogram type used everywhere.
pub type Histogram = hdrhistogram::Histogram<u64>;

/// Lowest discernible value, in microseconds.
pub const LATENCY_LOWEST_US: u64 = 1;
/// Highest trackable value, in microseconds (1 hour); larger values are clamped.
pub const LATENCY_HIGHEST_US: u64 = 3_600_000_000;
/// Significant decimal digits kept.
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// A new empty histogram in the common layout.
pub fn new_histogram() -> Histogram {
    Histogram::new_with_bounds(LATENCY_LOWEST_US, LATENCY_HIGHEST_US, SIGNIFICANT_DIGITS)
        .expect("the fixed layout is valid")
}

/// Records `value_us`, clamped into the layout's range, so recording never fails.
#[inline]
pub fn record_clamped(h: &mut Histogram, value_us: u64) {
    h.saturating_record(value_us.clamp(LATENCY_LOWEST_US, LATENCY_HIGHEST_US));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamps_out_of_range_values() {
        let mut h = new_histogram();
        record_clamped(&mut h, 0);
        record_clamped(&mut h, u64::MAX);
        assert_eq!(h.len(), 2);
        assert_eq!(h.min(), LATENCY_LOWEST_US);
        assert!(h.max() >= LATENCY_HIGHEST_US);
    }
}
