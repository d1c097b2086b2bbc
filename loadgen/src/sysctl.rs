//! Reading, writing and always restoring kernel settings (/proc/sys) for tuning
//! comparisons. Every value changed is remembered until it is put back, so that
//! even a second Ctrl-C (which exits at once) restores them first.

use std::path::PathBuf;
use std::sync::Mutex;
use thiserror::Error;

/// A kernel setting that cannot be changed.
#[derive(Debug, Error)]
pub enum SysctlError {
    #[error("changing kernel settings needs root: run as root (sudo)")]
    NotRoot,
    #[error("sysctl {name} does not exist on this kernel ({path})")]
    Missing { name: String, path: String },
    #[error("sysctl {0} is read-only")]
    ReadOnly(String),
    #[error("cannot read {name}: {source}")]
    Read {
        name: String,
        source: std::io::Error,
    },
    #[error("cannot set {name} = {value}: {source}")]
    Write {
        name: String,
        value: String,
        source: std::io::Error,
    },
}

/// Values to put back: (path, original value), in the order they were changed.
static PENDING: Mutex<Vec<(PathBuf, String)>> = Mutex::new(Vec::new());

/// `net.core.somaxconn` -> `/proc/sys/net/core/somaxconn`.
pub fn path_of(name: &str) -> PathBuf {
    PathBuf::from("/proc/sys").join(name.replace('.', "/"))
}

/// The current value, whitespace normalised (multi-field values keep one space).
pub fn read(name: &str) -> std::io::Result<String> {
    let text = std::fs::read_to_string(path_of(name))?;
    Ok(text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Refuses, before anything changes, what cannot be applied: not root, a setting
/// that does not exist, or one that cannot be written.
pub fn preflight(names: &[&str]) -> Result<(), SysctlError> {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    if !names.is_empty() && unsafe { libc::geteuid() } != 0 {
        return Err(SysctlError::NotRoot);
    }
    for name in names {
        let path = path_of(name);
        let meta = std::fs::metadata(&path).map_err(|_| SysctlError::Missing {
            name: name.to_string(),
            path: path.display().to_string(),
        })?;
        if meta.permissions().readonly() {
            return Err(SysctlError::ReadOnly(name.to_string()));
        }
    }
    Ok(())
}

/// Applies `values` (name, value), remembering each original first. On an error
/// the ones already applied are restored before returning it.
pub fn apply(values: &[(String, String)]) -> Result<(), SysctlError> {
    for (name, value) in values {
        let original = read(name).map_err(|source| SysctlError::Read {
            name: name.clone(),
            source,
        })?;
        PENDING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((path_of(name), original));
        if let Err(source) = std::fs::write(path_of(name), value) {
            restore_all();
            return Err(SysctlError::Write {
                name: name.clone(),
                value: value.clone(),
                source,
            });
        }
    }
    Ok(())
}

/// Puts back every remembered value, newest first; returns the ones that failed.
pub fn restore_all() -> Vec<String> {
    let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    let mut failed = Vec::new();
    while let Some((path, value)) = pending.pop() {
        if let Err(e) = std::fs::write(&path, &value) {
            failed.push(format!("{} = {value}: {e}", path.display()));
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_proc_sys() {
        assert_eq!(
            path_of("net.ipv4.tcp_fin_timeout"),
            PathBuf::from("/proc/sys/net/ipv4/tcp_fin_timeout")
        );
    }

    #[test]
    fn unknown_settings_are_refused() {
        let e = preflight(&["net.ipv4.no_such_setting"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not exist") || e.contains("root"), "{e}");
    }
}
