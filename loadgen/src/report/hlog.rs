//! The per-second histograms as an HdrHistogram interval log (HistogramLogWriter
//! format, V2+DEFLATE histograms), readable by HdrHistogram's standard tools.

use crate::result::RunResult;
use hdrhistogram::serialization::interval_log::IntervalLogWriterBuilder;
use hdrhistogram::serialization::V2DeflateSerializer;
use shared::stats::codec::decode_base64;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Writes `result.timeseries` to `path`. Values are µs; the log's max column is
/// shown in ms.
pub fn write(path: &Path, result: &RunResult) -> std::io::Result<()> {
    let mut out = Vec::new();
    {
        let mut serializer = V2DeflateSerializer::new();
        let started = parse_started(&result.meta.started_at);
        let mut log = IntervalLogWriterBuilder::new()
            .add_comment(&format!(
                "ceiling {}: {}",
                result.meta.version, result.meta.command_line
            ))
            .add_comment("values in microseconds")
            .with_start_time(started)
            .with_base_time(started)
            .with_max_value_divisor(1000.0)
            .begin_log_with(&mut out, &mut serializer)?;
        for p in &result.timeseries {
            let h = decode_base64(&p.histogram).map_err(std::io::Error::other)?;
            log.write_histogram(
                &h,
                Duration::from_secs(p.second as u64),
                Duration::from_secs_f64(p.length_s),
                None,
            )
            .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
        }
    }
    std::fs::write(path, out)
}

/// `2026-11-23T08:30:00Z` back to a time (the epoch if it does not parse).
fn parse_started(text: &str) -> SystemTime {
    from_rfc3339(text).unwrap_or(SystemTime::UNIX_EPOCH)
}

fn from_rfc3339(t: &str) -> Option<SystemTime> {
    let n = |a: usize, b: usize| t.get(a..b)?.parse::<i64>().ok();
    let (y, m, d) = (n(0, 4)?, n(5, 7)?, n(8, 10)?);
    let (hh, mm, ss) = (n(11, 13)?, n(14, 16)?, n(17, 19)?);
    // Days from civil (Hinnant), the inverse of meta::rfc3339.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::rfc3339;

    #[test]
    fn start_time_round_trips() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_422_600);
        assert_eq!(parse_started(&rfc3339(t)), t);
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(parse_started(&rfc3339(leap)), leap);
    }
}
