//! The one error every `ceiling` generator command returns: bad usage found
//! before any load, or a command that could not complete. `src/main.rs` alone
//! turns it into an exit code (2 and 1).

use crate::options::UsageError;
use thiserror::Error;

/// Why a command did not end well.
#[derive(Debug, Error)]
pub enum CliError {
    /// Bad usage: nothing was sent.
    #[error(transparent)]
    Usage(UsageError),
    /// The command could not complete (a run could not start, an output could
    /// not be written, nothing could connect).
    #[error(transparent)]
    Failed(#[from] Failed),
}

/// Bad usage, except the one step of getting ready that is not: the
/// preflight handshake of an `https://` run, which found the server unusable
/// (a certificate, a name, plain HTTP, a silent port), however it travelled.
impl From<UsageError> for CliError {
    fn from(e: UsageError) -> Self {
        match e {
            UsageError::Build(crate::plan::BuildError::Preflight(p)) => {
                CliError::Failed(Failed::Preflight(p))
            }
            e => CliError::Usage(e),
        }
    }
}

impl From<crate::plan::BuildError> for CliError {
    fn from(e: crate::plan::BuildError) -> Self {
        UsageError::from(e).into()
    }
}

impl From<crate::options::HeaderError> for CliError {
    fn from(e: crate::options::HeaderError) -> Self {
        CliError::Usage(e.into())
    }
}

impl From<crate::run::RunError> for CliError {
    fn from(e: crate::run::RunError) -> Self {
        CliError::Failed(e.into())
    }
}

/// A command that could not complete.
#[derive(Debug, Error)]
pub enum Failed {
    #[error(transparent)]
    Run(#[from] crate::run::RunError),
    /// The preflight handshake of an `https://` run failed: nothing was sent.
    /// One line naming the cause and what to do (`-k`, `--cacert`, `http://`).
    #[error("TLS preflight handshake failed, no load sent: {0}")]
    Preflight(crate::tls::PreflightError),
    /// Every connect failed: the run sent nothing.
    #[error("could not connect to {addr} ({errors} connect errors): is the server running?")]
    NoConnection {
        addr: std::net::SocketAddr,
        errors: u64,
    },
    /// Outputs that could not be written (each already said which and why).
    #[error("{}", .0.join("; "))]
    Outputs(Vec<String>),
    /// A campaign's embedded server could not start.
    #[error(transparent)]
    Server(#[from] ServerStartError),
    /// A kernel setting could not be changed or put back.
    #[error(transparent)]
    Sysctl(#[from] crate::sysctl::SysctlError),
    /// A node file could not be merged.
    #[error("{0}")]
    Merge(String),
    /// A campaign ended without a single run to report (Ctrl-C before the first).
    #[error("no run completed")]
    NothingRan,
}

/// Why the embedded `ceiling serve` did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerStartError {
    #[error("cannot find this binary: {0}")]
    Exe(std::io::Error),
    #[error("cannot start ceiling serve: {0}")]
    Spawn(std::io::Error),
    #[error("ceiling serve did not start within 20 s")]
    NotReady,
}
