//! One worker thread's Lua state: wrk's `init`, `request`, `response` and
//! `delay`, called by the worker core through [`Hooks`].

use super::lua::{self, global_fn, ThreadObj};
use super::{set_thread, LuaPlan};
use crate::worker::core::{Hooked, Hooks};
use mlua::{Function, Lua, Value};
use shared::wire::framing::Completed;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A worker's script state.
pub(crate) struct LuaHooks {
    plan: Arc<LuaPlan>,
    index: usize,
    first_conn: usize,
    /// None: the state could not be built (counted once as a script error).
    lua: Option<Lua>,
    calls: Rc<Cell<u64>>,
    request: Option<Function>,
    response: Option<Function>,
    delay: Option<Function>,
    stop: Rc<Cell<bool>>,
    /// Per connection of this worker: received bytes not yet handed to response().
    bytes: Vec<Vec<u8>>,
    /// Per connection: the instant delay() asked to wait until.
    hold: Vec<Option<Instant>>,
    errors: u64,
    /// Requests in request()'s string, counted on its first call (as wrk
    /// does once at start-up) and assumed from then on.
    per_call: Option<u32>,
}

impl LuaHooks {
    pub fn new(plan: Arc<LuaPlan>, index: usize, first_conn: usize, connections: usize) -> Self {
        let stop = Rc::new(Cell::new(false));
        let mut h = Self {
            index,
            first_conn,
            lua: None,
            calls: Rc::new(Cell::new(0)),
            request: None,
            response: None,
            delay: None,
            stop: Rc::clone(&stop),
            bytes: vec![
                Vec::new();
                if plan.defined.response {
                    connections
                } else {
                    0
                }
            ],
            hold: vec![None; connections],
            errors: 0,
            per_call: None,
            plan,
        };
        match h.build() {
            Ok(()) => {}
            Err(e) => {
                // The same script ran at load time: this is rare (an init that
                // depends on the thread). The thread sends nothing.
                h.error("init()", &e.to_string());
                h.stop.set(true);
            }
        }
        h
    }

    fn build(&mut self) -> Result<(), super::ScriptError> {
        let start = &self.plan.start;
        let (lua, calls) = lua::new_state(start)?;
        let t = ThreadObj {
            index: self.index,
            addr: Rc::new(RefCell::new(start.addr.clone())),
            carried: Some(Rc::new(RefCell::new(
                self.plan
                    .setup_values
                    .get(self.index)
                    .cloned()
                    .unwrap_or_default(),
            ))),
            stop: Rc::clone(&self.stop),
        };
        set_thread(&lua, &t, start)?;
        // init(args) as wrk runs it in each thread; then wrk.request() is the
        // request the wrk table describes.
        lua::init_and_format(&lua, &start.url(), &start.source.args)?;
        // After init, as wrk: a hook init removed (or added) counts as it is now.
        self.request = global_fn(&lua, "request").filter(|_| self.plan.defined.request);
        self.response = global_fn(&lua, "response");
        self.delay = global_fn(&lua, "delay");
        self.calls = calls;
        self.lua = Some(lua);
        Ok(())
    }

    /// One script error in `hook`: counted; the first of this thread printed.
    fn error(&mut self, hook: &str, message: &str) {
        self.errors += 1;
        if self.errors == 1 {
            shared::say!(
                "ceiling: script error in {hook} (thread {}): {message}",
                self.index + 1
            );
        }
    }

    fn local(&self, conn: usize) -> usize {
        conn - self.first_conn
    }
}

impl Hooks for LuaHooks {
    fn request(&mut self, _conn: usize, _target: usize, out: &mut Vec<u8>) -> Hooked {
        let Some(f) = &self.request else {
            return Hooked::Planned;
        };
        self.calls.set(self.calls.get().wrapping_add(1));
        match f.call::<Value>(()) {
            Ok(Value::String(s)) => {
                let bytes = s.as_bytes();
                let n = match self.per_call {
                    Some(n) => n,
                    None => match super::count_requests(&bytes) {
                        Ok(n) => *self.per_call.insert(n),
                        Err(m) => {
                            self.error("request()", &m);
                            self.stop.set(true);
                            return Hooked::Failed;
                        }
                    },
                };
                out.extend_from_slice(&bytes);
                if n == 1 {
                    Hooked::Written
                } else {
                    Hooked::WrittenMany(n)
                }
            }
            Ok(other) => {
                let m = format!(
                    "request() returned {} {}, not a string",
                    lua::article(other.type_name()),
                    other.type_name()
                );
                self.error("request()", &m);
                self.stop.set(true);
                Hooked::Failed
            }
            Err(e) => {
                let m = lua::message(&e);
                self.error("request()", &m);
                self.stop.set(true);
                Hooked::Failed
            }
        }
    }

    fn received(&mut self, conn: usize, data: &[u8]) {
        if self.response.is_some() {
            let i = self.local(conn);
            self.bytes[i].extend_from_slice(data);
        }
    }

    fn response(&mut self, conn: usize, done: &Completed) {
        let Some(f) = &self.response else { return };
        let i = self.local(conn);
        let len = ((done.head_bytes + done.body_bytes) as usize).min(self.bytes[i].len());
        let Some(lua) = &self.lua else { return };
        self.calls.set(self.calls.get().wrapping_add(1));
        let result = lua_response(lua, &self.bytes[i][..len])
            .and_then(|(headers, body)| f.call::<()>((done.status, headers, body)));
        // What follows this response (the next one's start) stays.
        self.bytes[i].drain(..len);
        if let Err(e) = result {
            let m = lua::message(&e);
            self.error("response()", &m);
        }
    }

    fn closed(&mut self, conn: usize) {
        if self.response.is_some() {
            let i = self.local(conn);
            self.bytes[i].clear();
        }
        let i = self.local(conn);
        self.hold[i] = None;
    }

    fn hold(&mut self, conn: usize, now: Instant) -> Option<Instant> {
        let f = self.delay.as_ref()?;
        let i = self.local(conn);
        let at = match self.hold[i] {
            Some(at) => at,
            None => {
                self.calls.set(self.calls.get().wrapping_add(1));
                let ms = match f.call::<Value>(()) {
                    Ok(Value::Integer(n)) => n as f64,
                    Ok(Value::Number(n)) => n,
                    Ok(Value::Nil) => 0.0,
                    Ok(other) => {
                        let m = format!(
                            "delay() returned {} {}, not a number",
                            lua::article(other.type_name()),
                            other.type_name()
                        );
                        self.error("delay()", &m);
                        0.0
                    }
                    Err(e) => {
                        let m = lua::message(&e);
                        self.error("delay()", &m);
                        0.0
                    }
                };
                let ms = if ms.is_finite() {
                    ms.clamp(0.0, 3.6e6)
                } else {
                    0.0
                };
                let at = now + Duration::from_micros((ms * 1000.0) as u64);
                self.hold[i] = Some(at);
                at
            }
        };
        if at > now {
            Some(at)
        } else {
            // Due: the request goes now; the next one asks delay() again.
            self.hold[i] = None;
            None
        }
    }

    fn stopped(&self) -> bool {
        self.stop.get()
    }

    fn script_errors(&self) -> u64 {
        self.errors
    }
}

impl Drop for LuaHooks {
    fn drop(&mut self) {
        // What this thread's globals hold, for thread:get in done().
        if let Some(lua) = &self.lua {
            let snap: BTreeMap<_, _> = lua::snapshot(lua);
            if let Ok(mut left) = self.plan.left.lock() {
                if let Some(slot) = left.get_mut(self.index) {
                    *slot = snap;
                }
            }
        }
    }
}

/// A whole response's bytes (1xx interim heads first, if any) -> the final
/// head's headers as a Lua table (names as received) and the body as a Lua
/// string (de-chunked when chunked), made straight from the bytes.
fn lua_response(lua: &Lua, bytes: &[u8]) -> mlua::Result<(mlua::Table, mlua::String)> {
    let mut at = 0;
    loop {
        let mut hs = [httparse::EMPTY_HEADER; 128];
        let mut r = httparse::Response::new(&mut hs);
        let n = match r.parse(&bytes[at..]) {
            Ok(httparse::Status::Complete(n)) => n,
            _ => return Ok((lua.create_table()?, lua.create_string("")?)),
        };
        let code = r.code.unwrap_or(0);
        if (100..200).contains(&code) && code != 101 {
            at += n;
            continue;
        }
        let headers = lua.create_table_with_capacity(0, r.headers.len())?;
        let mut chunked = false;
        for h in r.headers.iter() {
            if h.name.eq_ignore_ascii_case("transfer-encoding")
                && h.value
                    .windows(7)
                    .any(|w| w.eq_ignore_ascii_case(b"chunked"))
            {
                chunked = true;
            }
            headers.raw_set(lua.create_string(h.name)?, lua.create_string(h.value)?)?;
        }
        let raw = &bytes[at + n..];
        let body = if chunked {
            lua.create_string(dechunk(raw))?
        } else {
            lua.create_string(raw)?
        };
        return Ok((headers, body));
    }
}

/// The data of a chunked body (RFC 9112 §7.1); trailers are dropped.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Ok(httparse::Status::Complete((n, size))) = httparse::parse_chunk_size(raw) {
        if size == 0 {
            break;
        }
        let size = size as usize;
        let end = (n + size).min(raw.len());
        out.extend_from_slice(&raw[n..end]);
        raw = &raw[(end + 2).min(raw.len())..];
    }
    out
}
