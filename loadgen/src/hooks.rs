//! The per-request hooks seam between the worker core and what varies requests
//! (a Lua script, a requests file): the traits only, so the core, the plan and
//! the scripts all depend on this leaf and not on each other.

use shared::wire::framing::Completed;
use std::time::Instant;

/// Per-request work a plan carries to its workers; each worker builds its own
/// [`Hooks`] from it, on its own thread (a Lua state stays on its thread).
pub trait MakeHooks: Send + Sync + std::fmt::Debug {
    /// The hooks worker `index` runs with (its first connection over the whole
    /// run is `first_conn`; it has `connections`); None: none needed.
    fn hooks(&self, index: usize, first_conn: usize, connections: usize) -> Option<Box<dyn Hooks>>;
    /// The hooks hold requests back (wrk's `delay()`): the driver needs timers
    /// even in the closed loop.
    fn has_delay(&self) -> bool {
        false
    }
    /// For the owner to find its own type again (a script's `done()`).
    fn as_any(&self) -> &dyn std::any::Any;
}

/// What a [`Hooks::request`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hooked {
    /// Nothing: send the plan's target.
    Planned,
    /// One whole request was appended to the buffer.
    Written,
    /// Several whole requests were appended (wrk's pipeline.lua returns three
    /// in one string): each is one request of the budget and one response.
    WrittenMany(u32),
    /// The hook failed (a script error, counted by the hooks): nothing is sent
    /// and this worker stops.
    Failed,
}

/// Per-request hooks (wrk's Lua `request()`, `response()` and `delay()`, or a
/// requests file), called by the core only when set: a run without them pays
/// one branch per request. Connection numbers are over the whole run.
pub trait Hooks {
    /// Writes the bytes of the next request on connection `conn` (plan target
    /// `target`) into `out`.
    fn request(&mut self, conn: usize, target: usize, out: &mut Vec<u8>) -> Hooked;
    /// A response completed on connection `conn`.
    fn response(&mut self, conn: usize, done: &Completed);
    /// Bytes connection `conn` received, before framing (so the hooks can hand
    /// a response's head and body to a script).
    fn received(&mut self, _conn: usize, _data: &[u8]) {}
    /// Connection `conn`'s socket closed: bytes of a cut-off response are void.
    fn closed(&mut self, _conn: usize) {}
    /// Closed loop: the next request on `conn` waits until this instant
    /// (wrk's `delay()`); None: it may go now. Not asked under -R.
    fn hold(&mut self, _conn: usize, _now: Instant) -> Option<Instant> {
        None
    }
    /// The hooks asked this worker to stop (`thread:stop()`, a failed request()).
    fn stopped(&self) -> bool {
        false
    }
    /// Script errors so far (the `script` error class).
    fn script_errors(&self) -> u64 {
        0
    }
}
