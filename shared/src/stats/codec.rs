//! Histogram <-> text: HdrHistogram V2 with DEFLATE, base64 (the form HdrHistogram
//! interval logs and Ceiling's JSON use). Filled in by the wire/stats work.
