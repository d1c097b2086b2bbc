//! One stop signal (Ctrl-C, SIGTERM, a deadline) that every worker observes.
//! Workers read it from their periodic tick, never per request.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Cloneable stop flag shared by the controller and the workers.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every worker to stop.
    pub fn trigger(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// True once `trigger` was called.
    pub fn is_triggered(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}
