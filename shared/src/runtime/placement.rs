//! Which CPUs the workers run on: `--cpus LIST` parsing and the default set.

use thiserror::Error;

/// A `--cpus` list that cannot be used.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CpuListError {
    /// The text is not a list like `0-3,6`.
    #[error("invalid CPU list {0:?}: expected numbers and ranges such as 0-3,6")]
    Syntax(String),
    /// The list names a CPU this process may not run on.
    #[error("CPU {cpu} is not available to this process (allowed: {allowed})")]
    NotAllowed { cpu: usize, allowed: String },
    /// The list is empty.
    #[error("the CPU list is empty")]
    Empty,
}

/// Parses `0-3,6,8-9` into sorted, de-duplicated CPU ids.
pub fn parse_cpu_list(text: &str) -> Result<Vec<usize>, CpuListError> {
    let bad = || CpuListError::Syntax(text.to_string());
    let mut cpus = Vec::new();
    for part in text.split(',').map(str::trim) {
        if part.is_empty() {
            return Err(bad());
        }
        match part.split_once('-') {
            Some((lo, hi)) => {
                let lo: usize = lo.trim().parse().map_err(|_| bad())?;
                let hi: usize = hi.trim().parse().map_err(|_| bad())?;
                if hi < lo || hi - lo > 65_536 {
                    return Err(bad());
                }
                cpus.extend(lo..=hi);
            }
            None => cpus.push(part.parse().map_err(|_| bad())?),
        }
    }
    cpus.sort_unstable();
    cpus.dedup();
    if cpus.is_empty() {
        return Err(CpuListError::Empty);
    }
    Ok(cpus)
}

/// Formats CPU ids back into the compact list form (`0-3,6`).
pub fn format_cpu_list(cpus: &[usize]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        let mut end = start;
        while i + 1 < cpus.len() && cpus[i + 1] == end + 1 {
            i += 1;
            end = cpus[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}-{end}"));
        }
        i += 1;
    }
    out
}

/// The CPUs this process may run on (its affinity mask), in order.
pub fn allowed_cpus() -> Vec<usize> {
    let mut ids: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    ids.sort_unstable();
    if ids.is_empty() {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        ids = (0..n).collect();
    }
    ids
}

/// Resolves an optional `--cpus` list against the allowed set.
pub fn resolve_cpus(list: Option<&str>) -> Result<Vec<usize>, CpuListError> {
    let allowed = allowed_cpus();
    let Some(text) = list else {
        return Ok(allowed);
    };
    let cpus = parse_cpu_list(text)?;
    if let Some(&cpu) = cpus.iter().find(|c| !allowed.contains(c)) {
        return Err(CpuListError::NotAllowed {
            cpu,
            allowed: format_cpu_list(&allowed),
        });
    }
    Ok(cpus)
}

/// Splits CPUs into two disjoint halves (server first, generator second), for
/// runs where both sides share one machine. With one CPU both get it.
pub fn split_halves(cpus: &[usize]) -> (Vec<usize>, Vec<usize>) {
    if cpus.len() < 2 {
        return (cpus.to_vec(), cpus.to_vec());
    }
    let mid = cpus.len() / 2;
    (cpus[..mid].to_vec(), cpus[mid..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges_and_lists() {
        assert_eq!(parse_cpu_list("0-3,6").unwrap(), vec![0, 1, 2, 3, 6]);
        assert_eq!(parse_cpu_list("5, 1,1").unwrap(), vec![1, 5]);
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("a").is_err());
        assert!(parse_cpu_list("").is_err());
        assert!(parse_cpu_list("1,,2").is_err());
    }

    #[test]
    fn formats_compactly() {
        assert_eq!(format_cpu_list(&[0, 1, 2, 3, 6, 8, 9]), "0-3,6,8-9");
        assert_eq!(format_cpu_list(&[4]), "4");
    }

    #[test]
    fn halves_are_disjoint() {
        assert_eq!(split_halves(&[0, 1]), (vec![0], vec![1]));
        assert_eq!(split_halves(&[0, 1, 2, 3, 4]), (vec![0, 1], vec![2, 3, 4]));
        assert_eq!(split_halves(&[7]), (vec![7], vec![7]));
    }

    #[test]
    fn rejects_cpus_outside_the_mask() {
        assert!(matches!(
            resolve_cpus(Some("100000")),
            Err(CpuListError::NotAllowed { .. })
        ));
    }
}
