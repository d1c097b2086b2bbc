//! `ceiling ramp` with --server-pid of a server the test starts (being built).
