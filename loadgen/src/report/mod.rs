//! Views of a [`crate::result::RunResult`]: wrk's (and wrk2's) text layout, the JSON
//! document, the `.hgrm` percentile table and the HdrHistogram interval log.

pub mod hgrm;
pub mod hlog;
pub mod json;
pub mod text;
