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
    Usage(#[from] UsageError),
    /// The command could not complete (a run could not start, an output could
    /// not be written, nothing could connect).
    #[error(transparent)]
    Failed(#[from] Failed),
}

impl From<crate::plan::BuildError> for CliError {
    fn from(e: crate::plan::BuildError) -> Self {
        CliError::Usage(e.into())
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
