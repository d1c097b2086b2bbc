//! The Date header value, owned by one worker and refreshed once a second.
//!
//! Formatting an HTTP date costs far more than copying 29 bytes, so a worker keeps
//! one [`DateCache`] and its timer task calls [`DateCache::update`] with the wall
//! clock; the hot path only copies [`DateCache::value`]. Sans-IO: the caller reads
//! the clock, this module never does.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate such as `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const DATE_LEN: usize = 29;

/// One worker's formatted Date header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateCache {
    value: [u8; DATE_LEN],
    /// Unix second the value was formatted for.
    second: u64,
}

impl DateCache {
    /// A cache already holding the date of `now`.
    pub fn new(now: SystemTime) -> Self {
        let second = unix_second(now);
        Self {
            value: format_date(second),
            second,
        }
    }

    /// Reformats the value if `now` falls in a different second than the cached
    /// one; returns true when it changed.
    pub fn update(&mut self, now: SystemTime) -> bool {
        let second = unix_second(now);
        if second == self.second {
            return false;
        }
        self.second = second;
        self.value = format_date(second);
        true
    }

    /// The header value, exactly [`DATE_LEN`] bytes.
    #[inline]
    pub fn value(&self) -> &[u8; DATE_LEN] {
        &self.value
    }
}

fn unix_second(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Formats a unix second as an IMF-fixdate without allocating.
fn format_date(second: u64) -> [u8; DATE_LEN] {
    let date = httpdate::HttpDate::from(UNIX_EPOCH + std::time::Duration::from_secs(second));
    let mut out = Fixed {
        buf: [b' '; DATE_LEN],
        len: 0,
    };
    // HttpDate always renders 29 bytes for years 1970..=9999; anything else is
    // truncated by `Fixed` rather than panicking.
    let _ = fmt::write(&mut out, format_args!("{date}"));
    out.buf
}

/// A fixed-size `fmt::Write` target that drops what does not fit.
struct Fixed {
    buf: [u8; DATE_LEN],
    len: usize,
}

impl fmt::Write for Fixed {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = DATE_LEN - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_imf_fixdate() {
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        let cache = DateCache::new(t);
        assert_eq!(cache.value(), b"Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn updates_only_on_a_new_second() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut cache = DateCache::new(t);
        assert!(!cache.update(t + Duration::from_millis(999)));
        assert!(cache.update(t + Duration::from_secs(1)));
        assert_eq!(
            httpdate::parse_http_date(std::str::from_utf8(cache.value()).unwrap()).unwrap(),
            t + Duration::from_secs(1)
        );
    }
}
