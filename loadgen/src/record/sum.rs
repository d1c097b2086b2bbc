//! One second of a run, added up over workers or nodes.

use super::node::{RecordError, Second};
use crate::progress::Closed;
use crate::result::TimePoint;
use shared::stats::codec::{decode_base64, encode_base64};
use shared::stats::{new_histogram, Histogram};

/// One second added up over workers or nodes; exact, since every histogram has
/// the one layout. Its length is the longest part's (the parts of one second
/// cover the same interval; only the last second of a run is shorter).
#[derive(Debug, Clone)]
pub struct SecondSum {
    pub length_s: f64,
    pub completed: u64,
    pub errors: u64,
    /// Latency of this second's completions, µs.
    pub histogram: Histogram,
}

impl Default for SecondSum {
    fn default() -> Self {
        Self::new()
    }
}

impl SecondSum {
    pub fn new() -> Self {
        Self {
            length_s: 0.0,
            completed: 0,
            errors: 0,
            histogram: new_histogram(),
        }
    }

    /// Adds one part: its length (s), completions, errors and latencies.
    pub fn add(&mut self, length_s: f64, completed: u64, errors: u64, h: &Histogram) {
        self.length_s = self.length_s.max(length_s);
        self.completed += completed;
        self.errors += errors;
        self.histogram.add(h).expect("one histogram layout");
    }

    /// Adds another sum of the same second.
    pub fn add_sum(&mut self, o: &SecondSum) {
        self.add(o.length_s, o.completed, o.errors, &o.histogram);
    }

    /// Adds a worker's closed second (its histogram decoded here, once).
    pub(crate) fn add_closed(&mut self, s: &Closed) -> Result<(), RecordError> {
        let h = decode(&s.histogram, "a worker's second")?;
        self.add(s.length.as_secs_f64(), s.completed, s.errors, &h);
        Ok(())
    }

    /// Adds a node file's second.
    pub fn add_second(&mut self, s: &Second, what: &str) -> Result<(), RecordError> {
        let h = decode(&s.histogram, what)?;
        self.add(s.length_s, s.completed, s.errors, &h);
        Ok(())
    }

    /// The node file record of second `index` (the histogram encoded here, once).
    pub fn to_second(&self, index: usize) -> Second {
        Second {
            second: index,
            length_s: self.length_s,
            completed: self.completed,
            errors: self.errors,
            histogram: encode_base64(&self.histogram),
        }
    }

    /// The result's point for second `index`.
    pub fn to_point(&self, index: usize) -> TimePoint {
        TimePoint::new(
            index,
            self.length_s,
            self.completed,
            self.errors,
            &self.histogram,
        )
    }
}

/// Decodes a histogram a worker or node wrote; a corrupt one is an error, never skipped.
pub fn decode(text: &str, what: &str) -> Result<Histogram, RecordError> {
    decode_base64(text).map_err(|e| RecordError::Histogram {
        what: what.to_string(),
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn closed(completed: u64, errors: u64, length_ms: u64, latencies: &[u64]) -> Closed {
        let mut h = new_histogram();
        for &v in latencies {
            h.record(v).unwrap();
        }
        Closed {
            completed,
            errors,
            length: Duration::from_millis(length_ms),
            histogram: encode_base64(&h),
        }
    }

    #[test]
    fn parts_of_a_second_add_exactly() {
        let mut s = SecondSum::new();
        s.add_closed(&closed(2, 1, 1000, &[100, 200])).unwrap();
        s.add_closed(&closed(3, 0, 400, &[300, 400, 500])).unwrap();
        assert_eq!((s.completed, s.errors, s.length_s), (5, 1, 1.0));
        assert_eq!(s.histogram.len(), 5);
        let p = s.to_point(7);
        assert_eq!((p.second, p.requests_per_sec), (7, 5.0));
        assert_eq!(p.max_us, Some(s.histogram.max()));
        // What the node file writes reads back to the same sum.
        let mut back = SecondSum::new();
        back.add_second(&s.to_second(7), "second 7").unwrap();
        assert_eq!(back.histogram, s.histogram);
    }

    #[test]
    fn an_empty_second_has_no_latency_and_a_short_one_its_own_rate() {
        let mut s = SecondSum::new();
        s.add_closed(&closed(0, 0, 1000, &[])).unwrap();
        let p = s.to_point(0);
        assert_eq!((p.p50_us, p.p99_us, p.max_us), (None, None, None));
        let mut last = SecondSum::new();
        last.add_closed(&closed(50, 0, 250, &[10; 50])).unwrap();
        assert_eq!(last.to_point(3).requests_per_sec, 200.0);
    }

    #[test]
    fn a_corrupt_histogram_is_an_error() {
        let mut c = closed(1, 0, 1000, &[1]);
        c.histogram = "not base64!".into();
        let e = SecondSum::new().add_closed(&c).unwrap_err();
        assert!(e.to_string().contains("unreadable histogram"), "{e}");
    }
}
