//! The JSON result (schema in docs/json-schema.md, checked by
//! tests/integration/record.rs against docs/run.schema.json).

use super::Sink;
use crate::result::RunResult;
use std::io::Write as _;

/// `result` as the JSON document: pretty-printed, one trailing newline.
pub fn render(result: &RunResult) -> String {
    let mut text = serde_json::to_string_pretty(result).expect("a result serializes");
    text.push('\n');
    text
}

/// Writes `result` to `out`.
pub fn write(out: &Sink, result: &RunResult) -> std::io::Result<()> {
    let text = render(result);
    match out {
        Sink::Stdout => std::io::stdout().write_all(text.as_bytes()),
        Sink::File(path) => std::fs::write(path, text),
    }
}
