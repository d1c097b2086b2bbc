//! Views of a [`crate::result::RunResult`]: wrk's text layout and the JSON document.

pub mod json;
pub mod text;
