//! The JSON result (schema in docs/json-schema.md).

use crate::plan::JsonOut;
use crate::result::RunResult;
use std::io::Write as _;

/// Writes `result` to `out` (pretty-printed, one trailing newline).
pub fn write(out: &JsonOut, result: &RunResult) -> std::io::Result<()> {
    let mut text = serde_json::to_string_pretty(result).map_err(std::io::Error::other)?;
    text.push('\n');
    match out {
        JsonOut::Stdout => std::io::stdout().write_all(text.as_bytes()),
        JsonOut::File(path) => std::fs::write(path, text),
    }
}
