//! Requests that vary: wrk's Lua scripts (`-s FILE [-- ARGS]`) on LuaJIT, one
//! state per worker thread as in wrk, plugged into the worker core through its
//! [`Hooks`] seam (so every engine runs them the same way).
//!
//! Load time ([`prepare`], on the main thread, before any load): the script's
//! text runs in a main state with the `wrk` table filled from the URL and the
//! flags; `setup(thread)` runs once per worker thread; which hooks exist is
//! noted. A script with no `request()` (one that only sets
//! `wrk.method/path/headers/body`, or does so in `init`) is formatted once here
//! and sent as plain pre-formatted bytes: no Lua call per request. `response()`
//! is called only when defined, and only then are response bytes kept.
//!
//! Any error at load time is a [`ScriptError`] (the caller exits 2). An error in
//! a hook during the run counts as a `script` error (the first message, with its
//! line, is printed once per thread); an error in `request()` also stops that
//! thread, as `thread:stop()` would, since it would fail again for every request.

mod lua;
mod plan;
pub mod source;
mod worker;

pub use source::{ScriptError, ScriptSource};

pub use plan::{dynamic_of, sources, DELAY_UNDER_RATE};

use crate::hooks::{Hooks, MakeHooks};
use crate::plan::Plan;
use lua::{global_fn, StatsObj, ThreadObj};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

/// A value passed between Lua states (`thread:set/get`, globals left for `done()`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Carry {
    Nil,
    Bool(bool),
    Num(f64),
    Str(Vec<u8>),
    Table(Vec<(Carry, Carry)>),
}

/// What the `wrk` table starts with: the URL's parts and the -m/-H/--body flags.
#[derive(Debug, Clone)]
pub(crate) struct Start {
    pub source: ScriptSource,
    pub scheme: String,
    pub host: String,
    /// As given in the URL (None: none given, as in wrk).
    pub port: Option<u16>,
    /// The Host header value ("host" or "host:port").
    pub host_header: String,
    pub method: String,
    /// Path and query.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// The address the run connects to ("ip:port"), `thread.addr`.
    pub addr: String,
}

impl Start {
    /// The run's URL (without userinfo): `init(args)`'s `args[0]`, as in wrk.
    pub(crate) fn url(&self) -> String {
        format!("{}://{}{}", self.scheme, self.host_header, self.path)
    }
}

/// Which of wrk's hooks the script defines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Defined {
    pub setup: bool,
    pub init: bool,
    pub request: bool,
    pub response: bool,
    pub delay: bool,
    pub done: bool,
}

/// A script ready for a run: what each worker's state is built from.
pub struct LuaPlan {
    pub(crate) start: Start,
    pub defined: Defined,
    /// Per worker thread: what `setup()` gave through `thread:set`.
    pub(crate) setup_values: Vec<BTreeMap<String, Carry>>,
    /// Per worker thread: its globals when it ended (for `thread:get` in `done()`).
    pub(crate) left: Mutex<Vec<BTreeMap<String, Carry>>>,
    /// Without `request()`: the one request every connection sends (the fast path).
    pub static_request: Option<Vec<u8>>,
}

impl std::fmt::Debug for LuaPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LuaPlan")
            .field("script", &self.start.source.name)
            .field("defined", &self.defined)
            .field("static", &self.static_request.is_some())
            .finish()
    }
}

/// A prepared script as the plan carries it to the workers.
#[derive(Debug)]
pub struct LuaShared(pub Arc<LuaPlan>);

impl MakeHooks for LuaShared {
    /// Worker `index`'s Lua state, built on its thread; None for a script with
    /// no per-request hook (the fast path: the plan's targets are the request).
    fn hooks(&self, index: usize, first_conn: usize, connections: usize) -> Option<Box<dyn Hooks>> {
        let p = &self.0;
        if !(p.defined.request || p.defined.response || p.defined.delay) {
            return None;
        }
        Some(Box::new(worker::LuaHooks::new(
            Arc::clone(p),
            index,
            first_conn,
            connections,
        )))
    }

    fn has_delay(&self) -> bool {
        self.0.defined.delay
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

thread_local! {
    /// The main state (the one `setup()` ran in), kept on the thread that built
    /// the plan for `done()`, as wrk keeps its main state.
    static MAIN: RefCell<Option<(usize, mlua::Lua, Vec<ThreadObj>)>> = const { RefCell::new(None) };
}

/// Runs `start`'s script at load time for `threads` worker threads: top level,
/// `setup(thread)` for each, and (without `request()`) `init(args)` and the
/// request the `wrk` table then describes. `addr` is the run's address; a
/// `setup()` that points a thread elsewhere is refused (one run, one address).
pub(crate) fn prepare(start: Start, threads: usize) -> Result<LuaPlan, ScriptError> {
    let (lua, _calls) = lua::new_state(&start)?;
    let defined = Defined {
        setup: global_fn(&lua, "setup").is_some(),
        init: global_fn(&lua, "init").is_some(),
        request: global_fn(&lua, "request").is_some(),
        response: global_fn(&lua, "response").is_some(),
        delay: global_fn(&lua, "delay").is_some(),
        done: global_fn(&lua, "done").is_some(),
    };
    let objs: Vec<ThreadObj> = (0..threads)
        .map(|index| ThreadObj {
            index,
            addr: Rc::new(RefCell::new(start.addr.clone())),
            carried: Some(Rc::new(RefCell::new(BTreeMap::new()))),
            stop: Rc::new(Cell::new(false)),
        })
        .collect();
    if let Some(setup) = global_fn(&lua, "setup") {
        for t in &objs {
            let ud = lua
                .create_userdata(t.clone())
                .map_err(|e| ScriptError::Load(lua::message(&e)))?;
            setup
                .call::<()>(ud)
                .map_err(|e| ScriptError::Load(format!("setup(): {}", lua::message(&e))))?;
            let addr = t.addr.borrow().clone();
            // Describing a run for elsewhere (`ceiling plan`), the address is
            // not resolved here: nothing to compare with.
            let described = start.addr.starts_with("0.0.0.0:");
            if addr != start.addr && !described {
                return Err(ScriptError::Load(format!(
                    "setup() set thread.addr to {addr}: every thread of a run connects to {} (give that URL instead)",
                    start.addr
                )));
            }
        }
    }
    let static_request = if defined.request {
        None
    } else {
        // wrk's init runs in each thread's state; here it runs once more, in the
        // main state, to format the request every thread then sends.
        let (w, _) = lua::new_state(&start)?;
        if let Some(first) = objs.first() {
            set_thread(&w, first, &start)?;
        }
        Some(lua::init_and_format(&w, &start.url(), &start.source.args)?)
    };
    if let Some(bytes) = &static_request {
        check_request(bytes)?;
    }
    let setup_values = objs
        .iter()
        .map(|t| {
            t.carried
                .as_ref()
                .map(|m| m.borrow().clone())
                .unwrap_or_default()
        })
        .collect();
    MAIN.with(|m| *m.borrow_mut() = Some((threads, lua, objs)));
    Ok(LuaPlan {
        start,
        defined,
        setup_values,
        left: Mutex::new(vec![BTreeMap::new(); threads]),
        static_request,
    })
}

/// Gives a worker state its thread object (`wrk.thread`) and setup()'s values.
pub(crate) fn set_thread(lua: &mlua::Lua, t: &ThreadObj, start: &Start) -> Result<(), ScriptError> {
    let err = |e: mlua::Error| ScriptError::Load(lua::message(&e));
    let local = ThreadObj {
        index: t.index,
        addr: Rc::new(RefCell::new(start.addr.clone())),
        carried: None,
        stop: Rc::clone(&t.stop),
    };
    if let Some(map) = &t.carried {
        for (k, v) in map.borrow().iter() {
            lua.globals()
                .set(k.as_str(), v.to_lua(lua).map_err(err)?)
                .map_err(err)?;
        }
    }
    let wrk: mlua::Table = lua.globals().get("wrk").map_err(err)?;
    wrk.set("thread", lua.create_userdata(local).map_err(err)?)
        .map_err(err)?;
    Ok(())
}

/// A request a script produced must be one whole HTTP/1.x request (wrk's
/// pipeline.lua's several-in-one string is not: use `-p N --pipeline-mode batch`).
pub(crate) fn check_request(bytes: &[u8]) -> Result<(), ScriptError> {
    match count_requests(bytes) {
        Ok(1) => Ok(()),
        Ok(_) => Err(ScriptError::Load(
            "the script's request holds more than one HTTP request (as wrk's pipeline.lua does): give one, and use -p N --pipeline-mode batch".into(),
        )),
        Err(e) => Err(ScriptError::Load(format!(
            "the script's {}",
            e.strip_prefix("the ").unwrap_or(&e)
        ))),
    }
}

/// How many whole HTTP/1.x requests `bytes` holds (wrk's pipeline.lua returns
/// several in one string); an error names what is wrong.
pub(crate) fn count_requests(mut bytes: &[u8]) -> Result<u32, String> {
    let mut n = 0u32;
    while !bytes.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 128];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(bytes) {
            Ok(httparse::Status::Complete(head)) => {
                let len = req
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| {
                        std::str::from_utf8(h.value)
                            .ok()?
                            .trim()
                            .parse::<usize>()
                            .ok()
                    })
                    .unwrap_or(0);
                bytes = &bytes[(head + len).min(bytes.len())..];
                n += 1;
            }
            Ok(httparse::Status::Partial) => {
                return Err(
                    "the request is not a whole HTTP request (no blank line after the headers)"
                        .into(),
                )
            }
            Err(e) => return Err(format!("the request is not valid HTTP: {e}")),
        }
    }
    if n == 0 {
        return Err("request() returned an empty string".into());
    }
    Ok(n)
}

/// Calls the script's `done(summary, latency, requests)` after the run, in the
/// main state when this thread built the plan (else a fresh one with the
/// script's top level run again), with wrk's summary table and statistics.
pub fn done(plan: &Plan, result: &crate::result::RunResult) -> Result<(), ScriptError> {
    let Some(p) = plan
        .dynamic
        .as_ref()
        .and_then(|d| d.as_any().downcast_ref::<LuaShared>())
        .map(|s| &s.0)
    else {
        return Ok(());
    };
    if !p.defined.done {
        return Ok(());
    }
    let err = |e: mlua::Error| ScriptError::Load(format!("done(): {}", lua::message(&e)));
    let threads = p.setup_values.len();
    let kept = MAIN.with(|m| m.borrow_mut().take());
    let (lua, objs) = match kept {
        Some((n, lua, objs)) if n == threads => (lua, objs),
        _ => {
            let (lua, _) = lua::new_state(&p.start)?;
            let objs = (0..threads)
                .map(|index| ThreadObj {
                    index,
                    addr: Rc::new(RefCell::new(p.start.addr.clone())),
                    carried: Some(Rc::new(RefCell::new(BTreeMap::new()))),
                    stop: Rc::new(Cell::new(false)),
                })
                .collect();
            (lua, objs)
        }
    };
    // thread:get now reads what each worker left.
    let left = p.left.lock().map(|l| l.clone()).unwrap_or_default();
    for (t, values) in objs.iter().zip(left) {
        if let Some(map) = &t.carried {
            let mut m = map.borrow_mut();
            for (k, v) in values {
                m.insert(k, v);
            }
        }
    }
    let Some(done) = global_fn(&lua, "done") else {
        return Ok(());
    };
    let c = &result.counters;
    let summary = lua.create_table().map_err(err)?;
    let set = |t: &mlua::Table, k: &str, v: f64| t.set(k, v).map_err(err);
    set(&summary, "duration", (result.duration_s * 1e6).round())?;
    set(&summary, "requests", c.completed as f64)?;
    set(&summary, "bytes", c.bytes_read as f64)?;
    let errors = lua.create_table().map_err(err)?;
    set(&errors, "connect", c.errors.connect as f64)?;
    set(&errors, "read", c.errors.read as f64)?;
    set(&errors, "write", c.errors.write as f64)?;
    set(&errors, "status", c.status.non_2xx_3xx() as f64)?;
    set(&errors, "timeout", c.errors.timeout as f64)?;
    set(&errors, "script", c.errors.script as f64)?;
    // https runs: handshakes that failed, and requests lost after one.
    set(&errors, "tls_handshake", c.errors.tls_handshake as f64)?;
    set(&errors, "tls", c.errors.tls as f64)?;
    summary.set("errors", errors).map_err(err)?;
    let latency = latency_stats(&result.latency.histogram);
    let requests = requests_stats(result);
    let latency = lua.create_userdata(latency).map_err(err)?;
    let requests = lua.create_userdata(requests).map_err(err)?;
    done.call::<()>((summary, latency, requests)).map_err(err)
}

/// The run's latency (µs) as wrk's statistics object.
fn latency_stats(encoded: &str) -> StatsObj {
    let h = shared::stats::codec::decode_base64(encoded)
        .unwrap_or_else(|_| shared::stats::new_histogram());
    let values: Vec<(f64, u64)> = h
        .iter_recorded()
        .map(|v| {
            (
                h.highest_equivalent(v.value_iterated_to()) as f64,
                v.count_at_value(),
            )
        })
        .collect();
    let h2 = h.clone();
    StatsObj {
        min: if h.is_empty() { 0.0 } else { h.min() as f64 },
        max: h.max() as f64,
        mean: h.mean(),
        stdev: h.stdev(),
        values,
        percentile: Box::new(move |p| h2.value_at_quantile((p / 100.0).clamp(0.0, 1.0)) as f64),
    }
}

/// The per-thread request rate (req/s, the 100 ms samples wrk's Req/Sec row
/// shows): mean, stdev and max as measured; the samples themselves are not kept,
/// so `min`, `percentile(p)` and indexing use each thread's mean rate instead.
fn requests_stats(result: &crate::result::RunResult) -> StatsObj {
    let s = &result.req_per_sec;
    let mut rates: Vec<f64> = result
        .threads
        .iter()
        .filter_map(|t| t.req_per_sec.mean)
        .collect();
    rates.sort_by(f64::total_cmp);
    let min = rates.first().copied().unwrap_or(0.0);
    let values = rates.iter().map(|r| (*r, 1)).collect();
    StatsObj {
        min,
        max: s.max.unwrap_or(0.0),
        mean: s.mean.unwrap_or(0.0),
        stdev: s.stdev.unwrap_or(0.0),
        values,
        percentile: Box::new(move |p| percentile_of_sorted(&rates, p)),
    }
}

/// Percentile `p` (0-100) of `sorted` as wrk's `stats_percentile` (src/stats.c)
/// picks it: the value of 1-based rank round(p/100 · n + 0.5), so the 50th of
/// two values is the larger, as in wrk. 0 for no values.
pub(crate) fn percentile_of_sorted(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let n = sorted.len();
    let rank = ((p / 100.0) * n as f64 + 0.5).round() as usize;
    sorted[rank.clamp(1, n) - 1]
}

/// Splits `host:port`-style parts of `url` into what the `wrk` table starts with.
pub(crate) fn start_of(
    source: ScriptSource,
    plan_url: &url::Url,
    method: &str,
    headers: &[(String, String)],
    body: &[u8],
    addr: std::net::SocketAddr,
) -> Start {
    let host = plan_url.host_str().unwrap_or("").to_string();
    let port = plan_url.port();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let shown = if bare.contains(':') {
        format!("[{bare}]")
    } else {
        bare.to_string()
    };
    let host_header = match port {
        Some(p) => format!("{shown}:{p}"),
        None => shown,
    };
    let mut path = plan_url.path().to_string();
    if let Some(q) = plan_url.query() {
        path.push('?');
        path.push_str(q);
    }
    let mut hs: Vec<(String, String)> = headers.to_vec();
    if !hs.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        hs.insert(0, ("Host".into(), host_header.clone()));
    }
    Start {
        source,
        scheme: plan_url.scheme().to_string(),
        host: bare.to_string(),
        port,
        host_header,
        method: method.to_string(),
        path,
        headers: hs,
        body: (!body.is_empty()).then(|| body.to_vec()),
        addr: addr.to_string(),
    }
}

#[cfg(test)]
mod tests;
