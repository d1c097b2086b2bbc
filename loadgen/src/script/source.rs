//! A script as a `Load` carries it (a leaf: plain data, no imports above it).

use thiserror::Error;

/// A script as a plan file carries it: its text, not a path, so every node runs
/// the same bytes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScriptSource {
    /// The script's file name without its directories (for messages:
    /// "name:line: ..."): no path travels in a plan file.
    pub name: String,
    pub text: String,
    /// What followed `--` on the command line: `init(args)`'s table.
    #[serde(default)]
    pub args: Vec<String>,
}

impl ScriptSource {
    /// Reads `path` (its text travels; the path does not).
    pub fn read(path: &std::path::Path, args: Vec<String>) -> Result<Self, ScriptError> {
        let text = crate::requests_file::source::read_input(path)
            .map_err(|e| ScriptError::Load(e.to_string()))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        Ok(Self { name, text, args })
    }
}

/// A script that cannot run: at load time (syntax, a runtime error in its top
/// level, `setup()` or `init()`, something not allowed). The caller exits 2.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ScriptError {
    #[error("script: {0}")]
    Load(String),
}
