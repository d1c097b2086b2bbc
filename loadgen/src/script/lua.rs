//! One Lua state with wrk's scripting interface (wrk's SCRIPTING file, and the
//! behaviour of its src/wrk.lua): the `wrk` table, `wrk.format`, `wrk.lookup`,
//! `wrk.connect`, thread objects and the statistics objects `done()` receives.
//! Written for Ceiling; no code is taken from wrk.

use super::{Carry, ScriptError, Start};
use mlua::{
    Function, HookTriggers, Lua, MetaMethod, Table, UserData, UserDataFields, UserDataMethods,
    Value, VmState,
};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::net::ToSocketAddrs;
use std::rc::Rc;
use std::time::Duration;

/// Instructions between two checks of the endless-loop guard.
const GUARD_EVERY: u32 = 1_000_000;
/// Checks within one call before it counts as endless: 2,000 x 1M instructions
/// is a few seconds of LuaJIT's interpreter, far beyond any sane hook.
const GUARD_LIMIT: u32 = 2_000;

/// wrk.format, wrk.init-like Host defaulting, in Lua so header tables behave
/// exactly as a script expects (the table passed in is filled with Host and
/// Content-Length, as wrk does).
const PRELUDE: &str = r#"
local wrk, default_host = ...
function wrk.format(method, path, headers, body)
  method = method or wrk.method
  path = path or wrk.path
  headers = headers or wrk.headers
  body = body or wrk.body
  if headers["Host"] == nil then
    headers["Host"] = wrk.headers["Host"] or default_host
  end
  if body then headers["Content-Length"] = #body else headers["Content-Length"] = nil end
  local lines = { method .. " " .. path .. " HTTP/1.1" }
  for name, value in pairs(headers) do
    lines[#lines + 1] = name .. ": " .. tostring(value)
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = body or ""
  return table.concat(lines, "\r\n")
end
-- Older scripts call wrk.init(args) from their init(): Host is already set.
function wrk.init(args) end
-- The request the wrk table describes (set again after init()).
function wrk.request() return wrk.format() end
"#;

/// The first line of a Lua error: "file.lua:LINE: message", without the traceback.
pub(crate) fn message(e: &mlua::Error) -> String {
    let text = match e {
        mlua::Error::CallbackError { cause, .. } => return message(cause),
        other => other.to_string(),
    };
    let line = text.lines().next().unwrap_or("").trim();
    line.strip_prefix("runtime error: ")
        .or_else(|| line.strip_prefix("syntax error: "))
        .unwrap_or(line)
        .to_string()
}

/// A thread object (`setup(thread)`'s argument, and `wrk.thread`).
#[derive(Clone)]
pub(crate) struct ThreadObj {
    pub index: usize,
    pub addr: Rc<RefCell<String>>,
    /// In the main state: the values `thread:set` gave, and after the run the
    /// worker's globals. None in a worker state, where get/set are its globals.
    pub carried: Option<Rc<RefCell<BTreeMap<String, Carry>>>>,
    pub stop: Rc<Cell<bool>>,
}

impl UserData for ThreadObj {
    fn add_fields<F: UserDataFields<Self>>(f: &mut F) {
        f.add_field_method_get("addr", |_, t| Ok(t.addr.borrow().clone()));
        f.add_field_method_set("addr", |_, t, v: Value| {
            let s = match v {
                Value::String(s) => s.to_str()?.to_string(),
                Value::UserData(_) | Value::Table(_) => {
                    return Err(mlua::Error::runtime(
                        "thread.addr: give an \"ip:port\" string",
                    ))
                }
                other => other.to_string()?,
            };
            *t.addr.borrow_mut() = s;
            Ok(())
        });
    }

    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_method("get", |lua, t, name: String| match &t.carried {
            Some(map) => match map.borrow().get(&name) {
                Some(c) => c.to_lua(lua),
                None => Ok(Value::Nil),
            },
            None => lua.globals().get::<Value>(name),
        });
        m.add_method("set", |lua, t, (name, value): (String, Value)| {
            match &t.carried {
                Some(map) => {
                    let c = Carry::of(&value, 0).map_err(mlua::Error::runtime)?;
                    map.borrow_mut().insert(name, c);
                }
                None => lua.globals().set(name, value)?,
            }
            Ok(())
        });
        m.add_method("stop", |_, t, ()| {
            t.stop.set(true);
            Ok(())
        });
        m.add_meta_method(MetaMethod::ToString, |_, t, ()| {
            Ok(format!("thread {}", t.index + 1))
        });
    }
}

impl Carry {
    /// A Lua value that may travel between states (wrk's rule: nil, booleans,
    /// numbers, strings and tables of them).
    pub(crate) fn of(v: &Value, depth: usize) -> Result<Carry, String> {
        Ok(match v {
            Value::Nil => Carry::Nil,
            Value::Boolean(b) => Carry::Bool(*b),
            Value::Integer(i) => Carry::Num(*i as f64),
            Value::Number(n) => Carry::Num(*n),
            Value::String(s) => Carry::Str(s.as_bytes().to_vec()),
            Value::Table(t) if depth < 16 => {
                let mut pairs = Vec::new();
                for pair in t.clone().pairs::<Value, Value>() {
                    let (k, v) = pair.map_err(|e| e.to_string())?;
                    pairs.push((Carry::of(&k, depth + 1)?, Carry::of(&v, depth + 1)?));
                }
                Carry::Table(pairs)
            }
            other => {
                return Err(format!(
                    "only nil, booleans, numbers, strings and tables of them pass between threads, not a {}",
                    other.type_name()
                ))
            }
        })
    }

    pub(crate) fn to_lua(&self, lua: &Lua) -> mlua::Result<Value> {
        Ok(match self {
            Carry::Nil => Value::Nil,
            Carry::Bool(b) => Value::Boolean(*b),
            Carry::Num(n) => Value::Number(*n),
            Carry::Str(s) => Value::String(lua.create_string(s)?),
            Carry::Table(pairs) => {
                let t = lua.create_table()?;
                for (k, v) in pairs {
                    t.raw_set(k.to_lua(lua)?, v.to_lua(lua)?)?;
                }
                Value::Table(t)
            }
        })
    }
}

/// A fresh state with the `wrk` table set from `start`, the guard installed and
/// the script run (its top level): wrk's order (the table is filled from the
/// URL and flags first, so the script sees and may change it).
pub(crate) fn new_state(start: &Start) -> Result<(Lua, Rc<Cell<u64>>), ScriptError> {
    let lua = Lua::new();
    let calls = Rc::new(Cell::new(0u64));
    let load = |e: mlua::Error| ScriptError::Load(message(&e));
    install(&lua, start).map_err(load)?;
    // LuaJIT checks count hooks only in its interpreter: with the trace compiler
    // on, an endless loop in a hook could never be stopped. Off, every hook is
    // bounded by the guard below (see docs/scripts.md for the cost).
    lua.load("if jit then jit.off() end").exec().map_err(load)?;
    let seen = Rc::clone(&calls);
    let state = Cell::new((u64::MAX, 0u32));
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(GUARD_EVERY),
        move |_, debug| {
            let call = seen.get();
            let (last, n) = state.get();
            let n = if last == call { n + 1 } else { 1 };
            state.set((call, n));
            if n > GUARD_LIMIT {
                // Where the loop is, as Lua's own errors say it ("file:line: ").
                let src = debug.source();
                let at = match (src.short_src, debug.curr_line()) {
                    (Some(f), line) if line > 0 => format!("{f}:{line}: "),
                    _ => String::new(),
                };
                return Err(mlua::Error::runtime(format!(
                    "{at}the script ran 2 billion instructions without returning (an endless loop?)"
                )));
            }
            Ok(VmState::Continue)
        },
    );
    lua.load(&start.source.text[..])
        .set_name(format!("@{}", start.source.name))
        .exec()
        .map_err(load)?;
    Ok((lua, calls))
}

fn install(lua: &Lua, start: &Start) -> mlua::Result<()> {
    let wrk = lua.create_table()?;
    wrk.set("scheme", start.scheme.as_str())?;
    wrk.set("host", start.host.as_str())?;
    match start.port {
        Some(p) => wrk.set("port", p.to_string())?,
        None => wrk.set("port", Value::Nil)?,
    }
    wrk.set("method", start.method.as_str())?;
    wrk.set("path", start.path.as_str())?;
    let headers = lua.create_table()?;
    for (name, value) in &start.headers {
        headers.set(name.as_str(), value.as_str())?;
    }
    wrk.set("headers", headers)?;
    match &start.body {
        Some(b) => wrk.set("body", lua.create_string(b)?)?,
        None => wrk.set("body", Value::Nil)?,
    }
    wrk.set(
        "lookup",
        lua.create_function(|lua, (host, service): (String, Value)| {
            let service = match service {
                Value::Nil => "80".to_string(),
                v => v.to_string()?,
            };
            let port: u16 = match service.parse() {
                Ok(p) => p,
                Err(_) => match service.as_str() {
                    "http" => 80,
                    "https" => 443,
                    _ => return Ok(Value::Nil),
                },
            };
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            let t = lua.create_table()?;
            match (host.as_str(), port).to_socket_addrs() {
                Ok(addrs) => {
                    for (i, a) in addrs.enumerate() {
                        t.raw_set(i + 1, a.to_string())?;
                    }
                }
                // wrk prints the resolver's error and exits; a script can
                // check for an empty answer instead.
                Err(_) => return Ok(Value::Nil),
            }
            Ok(Value::Table(t))
        })?,
    )?;
    wrk.set(
        "connect",
        lua.create_function(|_, addr: String| {
            let Ok(a) = addr.parse::<std::net::SocketAddr>() else {
                return Ok(false);
            };
            Ok(std::net::TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok())
        })?,
    )?;
    lua.globals().set("wrk", wrk.clone())?;
    let prelude: Function = lua.load(PRELUDE).set_name("=wrk").into_function()?;
    prelude.call::<()>((wrk, start.host_header.as_str()))?;
    Ok(())
}

/// The global function `name`, if the script defines one.
pub(crate) fn global_fn(lua: &Lua, name: &str) -> Option<Function> {
    match lua.globals().get::<Value>(name) {
        Ok(Value::Function(f)) => Some(f),
        _ => None,
    }
}

/// "a" or "an" before a Lua type name ("an integer", "a string").
pub(crate) fn article(type_name: &str) -> &'static str {
    if type_name.starts_with(['a', 'e', 'i', 'o']) {
        "an"
    } else {
        "a"
    }
}

/// `init(args)` then the request the `wrk` table describes (what a script
/// without `request()` sends). As wrk (src/script.c `script_init`), `args[0]`
/// is the URL and `args[1..]` what followed `--`, so `#args` counts only those.
pub(crate) fn init_and_format(
    lua: &Lua,
    url: &str,
    args: &[String],
) -> Result<Vec<u8>, ScriptError> {
    if let Some(init) = global_fn(lua, "init") {
        let t = lua
            .create_sequence_from(args.iter().map(String::as_str))
            .map_err(|e| ScriptError::Load(message(&e)))?;
        t.raw_set(0, url)
            .map_err(|e| ScriptError::Load(message(&e)))?;
        init.call::<()>(t)
            .map_err(|e| ScriptError::Load(format!("init(): {}", message(&e))))?;
    }
    let wrk: Table = lua
        .globals()
        .get("wrk")
        .map_err(|_| ScriptError::Load("the script replaced the wrk table".into()))?;
    let format: Function = wrk
        .get("format")
        .map_err(|_| ScriptError::Load("the script removed wrk.format".into()))?;
    match format.call::<Value>(()) {
        Ok(Value::String(s)) => {
            // As wrk: wrk.request() returns the request formatted after init().
            let r = s.clone();
            let f = lua
                .create_function(move |_, ()| Ok(r.clone()))
                .map_err(|e| ScriptError::Load(message(&e)))?;
            wrk.set("request", f)
                .map_err(|e| ScriptError::Load(message(&e)))?;
            Ok(s.as_bytes().to_vec())
        }
        Ok(other) => Err(ScriptError::Load(format!(
            "wrk.format() returned {} {}, not a string",
            article(other.type_name()),
            other.type_name()
        ))),
        Err(e) => Err(ScriptError::Load(format!(
            "the request described by the wrk table: {}",
            message(&e)
        ))),
    }
}

/// The globals a worker leaves behind, for `thread:get` in `done()`: the
/// values that may travel (functions, userdata and the libraries are left out).
pub(crate) fn snapshot(lua: &Lua) -> BTreeMap<String, Carry> {
    const SKIP: [&str; 13] = [
        "_G",
        "wrk",
        "string",
        "table",
        "math",
        "io",
        "os",
        "debug",
        "coroutine",
        "package",
        "bit",
        "jit",
        "_VERSION",
    ];
    let mut out = BTreeMap::new();
    for (k, v) in lua.globals().pairs::<Value, Value>().flatten() {
        let Value::String(k) = k else { continue };
        let Ok(k) = k.to_str().map(|s| s.to_string()) else {
            continue;
        };
        if SKIP.contains(&k.as_str()) {
            continue;
        }
        if let Ok(c) = Carry::of(&v, 0) {
            out.insert(k, c);
        }
    }
    out
}

/// A statistics object for `done()`: wrk's `min`, `max`, `mean`, `stdev`,
/// `percentile(p)`, `stats(i)` (the i-th distinct value and its count),
/// `stats[i]` (the i-th value) and `#stats`.
pub(crate) struct StatsObj {
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub stdev: f64,
    /// Distinct values and their counts, ascending.
    pub values: Vec<(f64, u64)>,
    /// Value at percentile p (0-100).
    pub percentile: Box<dyn Fn(f64) -> f64>,
}

impl UserData for StatsObj {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::Index, |lua, s, key: Value| match key {
            Value::Integer(i) => Ok(value_at(s, i as f64)),
            Value::Number(i) => Ok(value_at(s, i)),
            Value::String(k) => Ok(match &*k.to_str()? {
                "min" => Value::Number(s.min),
                "max" => Value::Number(s.max),
                "mean" => Value::Number(s.mean),
                "stdev" => Value::Number(s.stdev),
                "percentile" => Value::Function(lua.create_function(
                    |_, (obj, p): (mlua::AnyUserData, f64)| {
                        if !(0.0..=100.0).contains(&p) {
                            return Err(mlua::Error::runtime(format!(
                                "percentile({p}): give a percentile from 0 to 100"
                            )));
                        }
                        let s = obj.borrow::<StatsObj>()?;
                        Ok((s.percentile)(p))
                    },
                )?),
                _ => Value::Nil,
            }),
            _ => Ok(Value::Nil),
        });
        m.add_meta_method(MetaMethod::Call, |_, s, i: f64| {
            let i = i as usize;
            Ok(match s.values.get(i.wrapping_sub(1)) {
                Some((v, c)) => (Value::Number(*v), Value::Number(*c as f64)),
                None => (Value::Nil, Value::Nil),
            })
        });
        m.add_meta_method(MetaMethod::Len, |_, s, ()| Ok(s.values.len()));
    }
}

fn value_at(s: &StatsObj, i: f64) -> Value {
    match s.values.get((i as usize).wrapping_sub(1)) {
        Some((v, _)) => Value::Number(*v),
        None => Value::Nil,
    }
}
