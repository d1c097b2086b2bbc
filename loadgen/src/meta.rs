//! What a result says about where and how it ran, so it can be reproduced and
//! compared later: command line, version, kernel, CPU, pinning, engine, sysctls.

use serde::{Deserialize, Serialize};
use shared::runtime::EngineChoice;
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// Kernel settings that change HTTP load results.
const SYSCTLS: [&str; 12] = [
    "net.core.somaxconn",
    "net.core.netdev_max_backlog",
    "net.core.rmem_max",
    "net.core.wmem_max",
    "net.ipv4.tcp_max_syn_backlog",
    "net.ipv4.tcp_tw_reuse",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_congestion_control",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
    "net.ipv4.tcp_fin_timeout",
    "kernel.io_uring_disabled",
];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub command_line: String,
    pub version: String,
    pub kernel: String,
    pub cpu_model: String,
    pub hostname: String,
    /// CPUs online.
    pub nproc: usize,
    /// The CPU each worker thread was pinned to.
    pub cpus: Vec<usize>,
    pub engine: EngineChoice,
    /// Values as read from /proc/sys (absent ones are left out).
    pub sysctls: BTreeMap<String, String>,
    pub loopback_mtu: Option<u32>,
    /// RFC 3339, UTC.
    pub started_at: String,
}

impl Meta {
    /// Reads this machine's description for a run of `command_line` on worker
    /// threads pinned to `cpus`, on `engine`.
    pub fn collect(command_line: &str, cpus: &[usize], engine: &EngineChoice) -> Self {
        let proc = |name: &str| {
            std::fs::read_to_string(format!("/proc/sys/kernel/{name}"))
                .map(|t| t.trim().to_string())
                .unwrap_or_default()
        };
        let kernel = format!(
            "{} {} {}",
            proc("ostype"),
            proc("osrelease"),
            std::env::consts::ARCH
        );
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_default();
        let sysctls = SYSCTLS
            .iter()
            .filter_map(|name| {
                let path = format!("/proc/sys/{}", name.replace('.', "/"));
                let value = std::fs::read_to_string(path).ok()?;
                Some((
                    name.to_string(),
                    value.split_whitespace().collect::<Vec<_>>().join(" "),
                ))
            })
            .collect();
        Self {
            command_line: command_line.to_string(),
            version: env!("CARGO_PKG_VERSION").into(),
            kernel,
            cpu_model,
            hostname: proc("hostname"),
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpus: cpus.to_vec(),
            engine: engine.clone(),
            sysctls,
            loopback_mtu: std::fs::read_to_string("/sys/class/net/lo/mtu")
                .ok()
                .and_then(|t| t.trim().parse().ok()),
            started_at: rfc3339(SystemTime::now()),
        }
    }
}

/// `2026-11-23T08:30:00Z` (whole seconds, UTC).
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_422_600);
        assert_eq!(rfc3339(t), "2026-11-23T08:30:00Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00Z");
    }
}
