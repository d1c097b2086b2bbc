//! `ceiling compare` against two `ceiling serve` instances (being built).
