//! Where scripts and requests files meet the plan: reading them from the
//! command line (into the `Load` a plan file carries) and preparing them for a
//! run (into the plan's targets and its `MakeHooks`). Kept here so option parsing
//! only calls two functions.

use super::{prepare, start_of, LuaShared, ScriptSource};
use crate::hooks::MakeHooks;
use crate::plan::{Load, Target};
use crate::requests_file::{Compiled, Order, RequestsPlan, RequestsSource};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

/// The warning a run under -R with a script's `delay()` prints.
pub const DELAY_UNDER_RATE: &str =
    "the script's delay() is not called under -R: the schedule decides each send (as in wrk2)";

/// Reads `-s FILE [-- ARGS]` and `--requests-file FILE --requests-order O`
/// (`seed`: `--seed`, for random picks). Err: one line for the user (exit 2).
pub fn sources(
    script: Option<&Path>,
    script_args: &[String],
    requests_file: Option<&Path>,
    order: &str,
    seed: u64,
) -> Result<(Option<ScriptSource>, Option<RequestsSource>), String> {
    if !script_args.is_empty() && script.is_none() {
        return Err("arguments after -- are for a script: give -s FILE".into());
    }
    let script = script
        .map(|p| ScriptSource::read(p, script_args.to_vec()))
        .transpose()
        .map_err(|e| e.to_string())?;
    let requests = match requests_file {
        None => None,
        Some(path) => {
            let order = match order {
                "rotate" => Order::Rotate,
                "random" => Order::Random,
                other => return Err(format!("--requests-order {other:?}: use rotate or random")),
            };
            Some(RequestsSource::read(path, order, seed).map_err(|e| e.to_string())?)
        }
    };
    Ok((script, requests))
}

/// `url`'s request target (path and query) and Host header value.
fn target_and_host(url: &url::Url) -> (String, String) {
    let mut target = url.path().to_string();
    if let Some(q) = url.query() {
        target.push('?');
        target.push_str(q);
    }
    let host = url.host_str().unwrap_or("");
    let host = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    (target, host)
}

/// `src` with `Authorization: Basic base64(user:password)` (RFC 7617) added to
/// each request whose URL has userinfo, as a URL on the command line sends it
/// (plan::build), unless the request has its own Authorization. Err: userinfo
/// that is not valid percent-encoded UTF-8 (the URL shown redacted).
fn with_basic_auth(src: &RequestsSource) -> Result<RequestsSource, String> {
    use base64::Engine as _;
    let mut out = src.clone();
    for r in &mut out.requests {
        let Ok(u) = url::Url::parse(&r.url) else {
            continue;
        };
        let own = r
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
        if own || (u.username().is_empty() && u.password().is_none()) {
            continue;
        }
        let decode = |s: &str| {
            crate::plan::build::percent_decode(s).ok_or_else(|| {
                format!(
                    "--requests-file {}: {}: the userinfo is not valid percent-encoded UTF-8",
                    src.name,
                    crate::redact::url(&r.url)
                )
            })
        };
        let user = decode(u.username())?;
        let password = decode(u.password().unwrap_or(""))?;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        r.headers
            .push(("Authorization".to_string(), format!("Basic {token}")));
    }
    Ok(out)
}

/// A script or requests file of `load`, checked and prepared for `threads`
/// workers (any error here is bad usage: exit 2 before any load). `headers` and
/// `body` are -H and --body, `addr` the run's resolved address. `targets`
/// become what is sent when no per-request work remains (the fast path).
pub fn dynamic_of(
    load: &Load,
    headers: &[(String, String)],
    body: &[u8],
    addr: SocketAddr,
    threads: usize,
    targets: &mut Vec<Target>,
) -> Result<Option<Arc<dyn MakeHooks>>, String> {
    if let Some(src) = &load.script {
        let url = url::Url::parse(&load.urls[0])
            .map_err(|e| format!("{}: {e}", crate::redact::url(&load.urls[0])))?;
        let start = start_of(src.clone(), &url, &load.method, headers, body, addr);
        let p = prepare(start, threads).map_err(|e| e.to_string())?;
        if let Some(bytes) = &p.static_request {
            targets.truncate(1);
            targets[0].is_head = bytes.starts_with(b"HEAD ");
            targets[0].request = bytes.clone();
        }
        return Ok(Some(Arc::new(LuaShared(Arc::new(p)))));
    }
    let Some(src) = &load.requests_file else {
        return Ok(None);
    };
    let run = url::Url::parse(&load.urls[0])
        .map_err(|e| format!("{}: {e}", crate::redact::url(&load.urls[0])))?;
    // The scheme too: the run's connections all speak TLS, or none does.
    let origin = |u: &url::Url| {
        (
            u.scheme().to_string(),
            u.host_str().map(str::to_string),
            u.port_or_known_default(),
        )
    };
    // scheme://host:port, as the mismatch may be the port or the scheme alone.
    let shown = |u: &url::Url| {
        format!(
            "{}://{}:{}",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.port_or_known_default().unwrap_or(80)
        )
    };
    for r in &src.requests {
        let u = url::Url::parse(&r.url).map_err(|e| {
            format!(
                "--requests-file {}: {}: {e}",
                src.name,
                crate::redact::url(&r.url)
            )
        })?;
        if origin(&u) != origin(&run) {
            return Err(format!(
                "--requests-file {}: every request must go to {} (the run's URL), not {} ({})",
                src.name,
                shown(&run),
                shown(&u),
                crate::redact::url(&r.url)
            ));
        }
    }
    let src = &with_basic_auth(src)?;
    let c = Compiled::new(src, |u| {
        url::Url::parse(u).ok().map(|u| target_and_host(&u))
    })
    .map_err(|e| format!("--requests-file {}: {e}", src.name))?;
    let first_url = targets.first().map(|t| t.url.clone()).unwrap_or_default();
    if let Some(rotation) = c.static_rotation() {
        *targets = rotation
            .into_iter()
            .map(|bytes| Target {
                url: first_url.clone(),
                is_head: bytes.starts_with(b"HEAD "),
                request: bytes,
            })
            .collect();
        return Ok(None);
    }
    // The core frames HEAD responses by the plan's targets: requests drawn at
    // random or rendered per request may not be HEAD.
    if src.requests.iter().any(|r| r.method == "HEAD") {
        return Err(format!(
            "--requests-file {}: HEAD requests only with --requests-order rotate and no substitutions",
            src.name
        ));
    }
    Ok(Some(Arc::new(RequestsPlan(Arc::new(c)))))
}
