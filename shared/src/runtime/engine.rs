//! Which I/O engine runs: io_uring with explicit ring flags, or monoio's legacy
//! epoll driver. `auto` probes io_uring once and falls back to epoll, saying why.
//! The generator may further run its closed loop on its own ring (`direct`)
//! instead of monoio's io_uring driver; `monoio` asks for the latter explicitly.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// What the user asked for with `--io-engine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IoEngine {
    /// io_uring when it can be set up, else epoll.
    #[default]
    Auto,
    /// io_uring or fail.
    Uring,
    /// io_uring through monoio's driver, never the generator's direct loop (to
    /// compare the two); the server has only this one.
    Monoio,
    /// monoio's legacy (epoll) driver.
    Epoll,
}

impl FromStr for IoEngine {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "uring" | "io_uring" | "io-uring" => Ok(Self::Uring),
            "monoio" => Ok(Self::Monoio),
            "epoll" | "legacy" => Ok(Self::Epoll),
            other => Err(format!(
                "unknown io engine {other:?}: use auto, uring, monoio or epoll"
            )),
        }
    }
}

impl fmt::Display for IoEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Uring => "uring",
            Self::Monoio => "monoio",
            Self::Epoll => "epoll",
        })
    }
}

/// io_uring setup flags, chosen explicitly: monoio's defaults measured ~35% slower
/// on a keep-alive ping-pong than SINGLE_ISSUER+DEFER_TASKRUN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RingFlags {
    /// IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN (kernel 6.1+).
    SingleIssuerDeferTaskrun,
    /// IORING_SETUP_COOP_TASKRUN (kernel 5.19+).
    CoopTaskrun,
    /// No setup flags (older kernels).
    None,
}

impl RingFlags {
    /// Strongest first: the order `auto` tries them in.
    pub const PREFERENCE: [RingFlags; 3] = [
        RingFlags::SingleIssuerDeferTaskrun,
        RingFlags::CoopTaskrun,
        RingFlags::None,
    ];

    /// An io_uring builder with these flags set.
    pub fn builder(self) -> io_uring::Builder {
        let mut b = io_uring::IoUring::builder();
        match self {
            RingFlags::SingleIssuerDeferTaskrun => {
                b.setup_single_issuer().setup_defer_taskrun();
            }
            RingFlags::CoopTaskrun => {
                b.setup_coop_taskrun();
            }
            RingFlags::None => {}
        }
        b
    }

    pub fn name(self) -> &'static str {
        match self {
            RingFlags::SingleIssuerDeferTaskrun => "SINGLE_ISSUER|DEFER_TASKRUN",
            RingFlags::CoopTaskrun => "COOP_TASKRUN",
            RingFlags::None => "none",
        }
    }
}

/// The engine that actually runs, and why: recorded in every result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineChoice {
    /// What was asked for.
    pub requested: IoEngine,
    /// `uring` or `epoll`.
    pub engine: IoEngine,
    /// Ring flags when `engine` is `uring`.
    pub ring_flags: Option<RingFlags>,
    /// Submission queue entries per ring.
    pub ring_entries: u32,
    /// Why this engine runs (the probe's finding), one line.
    pub reason: String,
    /// The generator's closed loop runs on its own io_uring ring (multishot
    /// receive, provided buffers, registered files) rather than on monoio.
    #[serde(default)]
    pub direct: bool,
}

impl EngineChoice {
    /// The one-line description printed at start-up.
    pub fn describe(&self) -> String {
        match self.ring_flags {
            Some(flags) if self.direct => {
                format!("io_uring direct loop ({}): {}", flags.name(), self.reason)
            }
            Some(flags) => format!("io_uring ({}): {}", flags.name(), self.reason),
            None => format!("epoll: {}", self.reason),
        }
    }

    /// True when `auto` had to fall back to epoll.
    pub fn fell_back(&self) -> bool {
        self.requested == IoEngine::Auto && self.engine == IoEngine::Epoll
    }
}

/// io_uring was asked for explicitly and cannot be set up.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("io_uring is unavailable ({0}); run with --io-engine epoll or auto")]
pub struct EngineError(pub String);

/// Ring size: large enough that thousands of connections' operations batch into
/// one submission; monoio flushes early when it fills.
pub const DEFAULT_RING_ENTRIES: u32 = 4096;

/// Probes io_uring (ring setup with each flag set, and the opcodes monoio uses)
/// and decides the engine. Called once, before any worker starts.
pub fn choose(requested: IoEngine) -> Result<EngineChoice, EngineError> {
    let epoll = |reason: String| EngineChoice {
        requested,
        engine: IoEngine::Epoll,
        ring_flags: None,
        ring_entries: 0,
        reason,
        direct: false,
    };
    if requested == IoEngine::Epoll {
        return Ok(epoll("asked for with --io-engine epoll".into()));
    }
    match probe_uring() {
        Ok(flags) => Ok(EngineChoice {
            requested,
            engine: IoEngine::Uring,
            ring_flags: Some(flags),
            ring_entries: DEFAULT_RING_ENTRIES,
            reason: match requested {
                IoEngine::Uring | IoEngine::Monoio => {
                    format!("asked for with --io-engine {requested}")
                }
                _ => "io_uring available".into(),
            },
            direct: false,
        }),
        Err(why) if requested == IoEngine::Auto => Ok(epoll(format!(
            "io_uring unavailable ({why}), fell back to epoll"
        ))),
        Err(why) => Err(EngineError(why)),
    }
}

/// The strongest ring flags this kernel accepts, or why io_uring cannot run.
fn probe_uring() -> Result<RingFlags, String> {
    if let Ok(text) = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled") {
        if text.trim() == "2" {
            return Err("disabled by sysctl kernel.io_uring_disabled=2".into());
        }
    }
    if !monoio::utils::detect_uring() {
        let err = io_uring::IoUring::new(2).err();
        return Err(match err {
            Some(e) => explain(&e),
            None => "the kernel lacks io_uring operations monoio needs".into(),
        });
    }
    let mut last = String::new();
    for flags in RingFlags::PREFERENCE {
        match flags.builder().build(8) {
            Ok(_) => return Ok(flags),
            Err(e) => last = explain(&e),
        }
    }
    Err(last)
}

fn explain(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ENOSYS) => {
            "io_uring_setup not implemented: old kernel or blocked by seccomp".into()
        }
        Some(libc::EPERM) => {
            "io_uring_setup refused (EPERM): kernel.io_uring_disabled or a seccomp profile".into()
        }
        Some(libc::ENOMEM) => "io_uring_setup failed (ENOMEM): raise RLIMIT_MEMLOCK".into(),
        _ => format!("io_uring_setup failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoll_is_honoured() {
        let c = choose(IoEngine::Epoll).unwrap();
        assert_eq!(c.engine, IoEngine::Epoll);
        assert!(c.ring_flags.is_none());
        assert!(!c.fell_back());
    }

    #[test]
    fn auto_picks_an_engine_and_says_why() {
        let c = choose(IoEngine::Auto).unwrap();
        assert!(!c.reason.is_empty());
        assert_eq!(c.engine == IoEngine::Uring, c.ring_flags.is_some());
    }

    #[test]
    fn parses_names() {
        assert_eq!("uring".parse::<IoEngine>().unwrap(), IoEngine::Uring);
        assert_eq!("epoll".parse::<IoEngine>().unwrap(), IoEngine::Epoll);
        assert_eq!("monoio".parse::<IoEngine>().unwrap(), IoEngine::Monoio);
        assert!("kqueue".parse::<IoEngine>().is_err());
    }
}
