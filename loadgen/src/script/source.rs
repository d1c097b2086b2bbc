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
        let text = read_input(path).map_err(|e| ScriptError::Load(e.to_string()))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        Ok(Self { name, text, args })
    }
}

/// The largest script, requests file, body file or `{{line}}` file read
/// (16 MiB): a bound so `-s /dev/zero` fails at once instead of filling memory.
pub const MAX_INPUT_BYTES: u64 = 16 << 20;

/// An input file that cannot be read: the message names the path.
#[derive(Debug, Error)]
pub enum InputError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a regular file")]
    NotRegular { path: String },
    #[error("{path} is over {} MiB", MAX_INPUT_BYTES >> 20)]
    TooLarge { path: String },
    #[error("{path} is not UTF-8 text")]
    NotUtf8 { path: String },
}

/// Reads `path` whole as bytes: only a regular file of at most
/// [`MAX_INPUT_BYTES`] (a device or FIFO could never end).
pub fn read_input_bytes(path: &std::path::Path) -> Result<Vec<u8>, InputError> {
    use std::io::Read;
    let shown = path.display().to_string();
    let io = |source| InputError::Io {
        path: shown.clone(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(InputError::NotRegular { path: shown });
    }
    // The size may change after the check: the read is bounded too.
    let mut bytes = Vec::new();
    file.take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(InputError::TooLarge { path: shown });
    }
    Ok(bytes)
}

/// [`read_input_bytes`] as UTF-8 text.
pub fn read_input(path: &std::path::Path) -> Result<String, InputError> {
    String::from_utf8(read_input_bytes(path)?).map_err(|_| InputError::NotUtf8 {
        path: path.display().to_string(),
    })
}

/// A script that cannot run: at load time (syntax, a runtime error in its top
/// level, `setup()` or `init()`, something not allowed). The caller exits 2.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ScriptError {
    #[error("script: {0}")]
    Load(String),
}
