//! Views of a [`crate::result::RunResult`]: wrk's (and wrk2's) text layout, the JSON
//! document, the `.hgrm` percentile table, the HdrHistogram interval log and an HTML page.

pub mod hgrm;
pub mod hlog;
pub mod html;
pub mod json;
pub mod text;
