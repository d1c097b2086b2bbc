//! Exact counting against `ceiling serve` (filled in by the loadgen work).
