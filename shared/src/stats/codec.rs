//! Histogram <-> text: HdrHistogram V2 with DEFLATE, base64 (the form HdrHistogram
//! interval logs use), so results can be written to JSON, read back and merged exactly.

use super::Histogram;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use thiserror::Error;

/// A serialised histogram could not be read back.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CodecError {
    #[error("histogram is not valid base64")]
    Base64,
    #[error("histogram is not a valid V2 (DEFLATE) HdrHistogram: {0}")]
    Decode(String),
}

/// Serialises `h` as V2+DEFLATE, base64 (standard alphabet, padded).
pub fn encode_base64(h: &Histogram) -> String {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        // Writing to a Vec cannot fail; the serializer only fails on I/O or on
        // histograms whose layout the format cannot express, which ours never is.
        .expect("V2+DEFLATE serialisation into memory");
    STANDARD.encode(bytes)
}

/// Reads back what [`encode_base64`] wrote (or any V2/V2+DEFLATE histogram).
pub fn decode_base64(text: &str) -> Result<Histogram, CodecError> {
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|_| CodecError::Base64)?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| CodecError::Decode(format!("{e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::layout::{new_histogram, record_clamped};

    #[test]
    fn round_trip_is_exact() {
        let mut h = new_histogram();
        for v in [1, 2, 3, 100, 1_000, 65_432, 1_000_000, 3_600_000_000] {
            record_clamped(&mut h, v);
        }
        h.record_n(250, 10_000).unwrap();
        let back = decode_base64(&encode_base64(&h)).unwrap();
        assert_eq!(back.len(), h.len());
        assert_eq!(back.max(), h.max());
        assert_eq!(back.min(), h.min());
        for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(back.value_at_quantile(q), h.value_at_quantile(q));
        }
    }

    #[test]
    fn decoded_histograms_merge() {
        let mut a = new_histogram();
        let mut b = new_histogram();
        a.record_n(10, 5).unwrap();
        b.record_n(20, 7).unwrap();
        let mut m = decode_base64(&encode_base64(&a)).unwrap();
        m.add(decode_base64(&encode_base64(&b)).unwrap()).unwrap();
        assert_eq!(m.len(), 12);
        assert_eq!(m.max(), 20);
    }

    #[test]
    fn empty_round_trips() {
        let h = new_histogram();
        assert_eq!(decode_base64(&encode_base64(&h)).unwrap().len(), 0);
    }

    #[test]
    fn garbage_is_an_error() {
        assert_eq!(decode_base64("***"), Err(CodecError::Base64));
        assert!(matches!(
            decode_base64("aGVsbG8gd29ybGQ="),
            Err(CodecError::Decode(_))
        ));
    }
}
