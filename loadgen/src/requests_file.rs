//! `--requests-file FILE`: several whole requests without Lua, in vegeta's
//! `http` targets format (vegeta's README, "HTTP format"):
//!
//! ```text
//! GET http://127.0.0.1:8080/items/{{seq}}
//! X-Request-Id: {{uuid}}
//!
//! # weight: 3
//! POST http://127.0.0.1:8080/orders
//! Content-Type: application/json
//! @body.json
//! ```
//!
//! A target is `METHOD URL`, then header lines, then an optional `@FILE` body
//! (read relative to the requests file); blank lines separate targets; lines
//! starting with `#` are comments. Ceiling reads one comment of its own,
//! `# weight: N` before a target (vegeta ignores it, so the file stays valid).
//!
//! Substitutions in the URL's path and query, header values and bodies:
//! `{{seq}}` (0, 1, 2... over this process's requests), `{{rand A B}}` (an
//! integer in [A, B]), `{{line FILE}}` (a random line of FILE, read once at
//! load) and `{{uuid}}` (a random version 4 UUID, RFC 9562). A request without
//! them is formatted once; with `--requests-order rotate` (the default) and no
//! substitution anywhere, the requests are the plan's targets and cost nothing
//! per request.

use crate::worker::core::{Hooked, Hooks};
use shared::wire::framing::Completed;
use shared::wire::request::{format_request, RequestSpec};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use thiserror::Error;

/// A requests file that cannot be used (the caller exits 2).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("--requests-file {file}:{line}: {message}")]
pub struct RequestsFileError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// How requests are picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// In the file's order, each `weight` times per round (smooth weighted
    /// round-robin), per connection.
    #[default]
    Rotate,
    /// At random, with probability weight / total weights.
    Random,
}

/// One request of the file, its bodies read.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FileRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// Base64 is not needed: bodies with substitutions are text; others too
    /// after a lossless check at load (non-UTF-8 bodies are refused).
    pub body: String,
    pub weight: u32,
}

/// What a plan file carries: the requests and the files `{{line}}` reads.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RequestsSource {
    pub name: String,
    pub requests: Vec<FileRequest>,
    pub order: Order,
    /// `{{line FILE}}`: FILE as written -> its non-empty lines.
    pub lines: Vec<(String, Vec<String>)>,
    pub seed: u64,
}

impl RequestsSource {
    /// Reads and checks `path`.
    pub fn read(path: &Path, order: Order, seed: u64) -> Result<Self, RequestsFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| RequestsFileError {
            file: path.display().to_string(),
            line: 0,
            message: format!("cannot read: {e}"),
        })?;
        // The name, not the path, travels in plan files.
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        Self::parse(
            &name,
            &text,
            path.parent().unwrap_or(Path::new(".")),
            order,
            seed,
        )
    }

    /// Parses `text` (files named in it are relative to `dir`).
    pub fn parse(
        name: &str,
        text: &str,
        dir: &Path,
        order: Order,
        seed: u64,
    ) -> Result<Self, RequestsFileError> {
        let err = |line: usize, message: String| RequestsFileError {
            file: name.to_string(),
            line,
            message,
        };
        let mut requests: Vec<FileRequest> = Vec::new();
        let mut current: Option<FileRequest> = None;
        let mut weight = 1u32;
        let mut lines: Vec<(String, Vec<String>)> = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let n = n + 1;
            let line = raw.trim_end_matches('\r');
            if let Some(c) = line.strip_prefix('#') {
                if let Some(w) = c.trim().strip_prefix("weight:") {
                    weight = w
                        .trim()
                        .parse::<u32>()
                        .ok()
                        .filter(|w| *w > 0)
                        .ok_or_else(|| {
                            err(
                                n,
                                format!("weight {:?}: give a whole number of at least 1", w.trim()),
                            )
                        })?;
                }
                continue;
            }
            if line.trim().is_empty() {
                if let Some(r) = current.take() {
                    requests.push(r);
                }
                continue;
            }
            match &mut current {
                None => {
                    let (method, url) = line.split_once(' ').ok_or_else(|| {
                        err(n, format!("{line:?}: a target starts with METHOD URL"))
                    })?;
                    let method = method.trim().to_ascii_uppercase();
                    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
                        return Err(err(n, format!("invalid method {method:?}")));
                    }
                    let url = url.trim().to_string();
                    if !url.starts_with("http://") {
                        return Err(err(n, format!("{url:?}: give an http:// URL")));
                    }
                    current = Some(FileRequest {
                        method,
                        url,
                        headers: Vec::new(),
                        body: String::new(),
                        weight: std::mem::replace(&mut weight, 1),
                    });
                }
                Some(r) => {
                    if let Some(file) = line.strip_prefix('@') {
                        let p = dir.join(file.trim());
                        let bytes = std::fs::read(&p).map_err(|e| {
                            err(n, format!("cannot read body {}: {e}", p.display()))
                        })?;
                        r.body = String::from_utf8(bytes).map_err(|_| {
                            err(n, format!("body {} is not UTF-8 text", p.display()))
                        })?;
                    } else {
                        let (k, v) = line
                            .split_once(':')
                            .ok_or_else(|| err(n, format!("{line:?}: a header is Name: value")))?;
                        let k = k.trim();
                        if k.is_empty() || k.bytes().any(|b| b.is_ascii_whitespace()) {
                            return Err(err(n, format!("invalid header name {k:?}")));
                        }
                        r.headers.push((k.to_string(), v.trim().to_string()));
                    }
                }
            }
        }
        if let Some(r) = current.take() {
            requests.push(r);
        }
        if requests.is_empty() {
            return Err(err(0, "no requests in the file".into()));
        }
        // Check every substitution now; read the files {{line}} names.
        for r in &requests {
            let mut texts = vec![r.url.as_str(), r.body.as_str()];
            texts.extend(r.headers.iter().map(|(_, v)| v.as_str()));
            for t in texts {
                for part in template(t).map_err(|m| err(0, m))? {
                    if let Part::Line(f) = part {
                        if !lines.iter().any(|(k, _)| *k == f) {
                            let p = dir.join(&f);
                            let text = std::fs::read_to_string(&p).map_err(|e| {
                                err(
                                    0,
                                    format!("{{{{line {f}}}}}: cannot read {}: {e}", p.display()),
                                )
                            })?;
                            let ls: Vec<String> = text
                                .lines()
                                .filter(|l| !l.trim().is_empty())
                                .map(String::from)
                                .collect();
                            if ls.is_empty() {
                                return Err(err(
                                    0,
                                    format!("{{{{line {f}}}}}: {} has no lines", p.display()),
                                ));
                            }
                            lines.push((f, ls));
                        }
                    }
                }
            }
        }
        Ok(Self {
            name: name.to_string(),
            requests,
            order,
            lines,
            seed,
        })
    }

    /// The same requests with credentials masked (Authorization values, URL
    /// passwords), bodies and lines left out: what results may hold.
    pub fn redacted(&self) -> Self {
        Self {
            name: self.name.clone(),
            requests: self
                .requests
                .iter()
                .map(|r| FileRequest {
                    method: r.method.clone(),
                    url: crate::redact::url(&r.url),
                    headers: r
                        .headers
                        .iter()
                        .map(|(k, v)| {
                            let masked = crate::redact::header(&format!("{k}: {v}"));
                            let v = masked.split_once(':').map_or("", |(_, v)| v.trim());
                            (k.clone(), v.to_string())
                        })
                        .collect(),
                    body: String::new(),
                    weight: r.weight,
                })
                .collect(),
            order: self.order,
            lines: Vec::new(),
            seed: self.seed,
        }
    }

    /// True when any request has a substitution.
    pub fn substitutes(&self) -> bool {
        self.requests.iter().any(|r| {
            has_parts(&r.url) || has_parts(&r.body) || r.headers.iter().any(|(_, v)| has_parts(v))
        })
    }

    /// The rotation as a list of request indexes: each request `weight` times,
    /// spread by smooth weighted round-robin (nginx's upstream algorithm).
    pub fn rotation(&self) -> Vec<usize> {
        let total: i64 = self.requests.iter().map(|r| i64::from(r.weight)).sum();
        let mut current = vec![0i64; self.requests.len()];
        (0..total)
            .map(|_| {
                for (c, r) in current.iter_mut().zip(&self.requests) {
                    *c += i64::from(r.weight);
                }
                let best = (0..current.len())
                    .max_by_key(|&i| (current[i], std::cmp::Reverse(i)))
                    .unwrap_or(0);
                current[best] -= total;
                best
            })
            .collect()
    }
}

/// `t` with each `{{...}}` replaced by a token a URL parser leaves alone.
fn mask(t: &str) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut subs = Vec::new();
    let mut rest = t;
    while let Some(a) = rest.find("{{") {
        let Some(b) = rest[a..].find("}}") else { break };
        out.push_str(&rest[..a]);
        out.push_str(&format!("zzceilingsub{}zz", subs.len()));
        subs.push(rest[a..a + b + 2].to_string());
        rest = &rest[a + b + 2..];
    }
    out.push_str(rest);
    (out, subs)
}

fn unmask(t: &str, subs: &[String]) -> String {
    let mut out = t.to_string();
    for (i, s) in subs.iter().enumerate() {
        out = out.replace(&format!("zzceilingsub{i}zz"), s);
    }
    out
}

fn has_parts(t: &str) -> bool {
    t.contains("{{")
}

/// One piece of a text with substitutions.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Seq,
    Rand(u64, u64),
    Line(String),
    Uuid,
}

/// Splits `t` into text and substitutions; an unknown one is an error.
fn template(t: &str) -> Result<Vec<Part>, String> {
    let mut out = Vec::new();
    let mut rest = t;
    while let Some(a) = rest.find("{{") {
        if a > 0 {
            out.push(Part::Text(rest[..a].to_string()));
        }
        let b = rest[a..]
            .find("}}")
            .ok_or_else(|| format!("{t:?}: {{{{ without }}}}"))?;
        let inner = rest[a + 2..a + b].trim();
        let words: Vec<&str> = inner.split_whitespace().collect();
        out.push(match words.as_slice() {
            ["seq"] => Part::Seq,
            ["uuid"] => Part::Uuid,
            ["rand", lo, hi] => {
                let lo: u64 = lo.parse().map_err(|_| format!("{{{{{inner}}}}}: bounds are whole numbers"))?;
                let hi: u64 = hi.parse().map_err(|_| format!("{{{{{inner}}}}}: bounds are whole numbers"))?;
                if lo > hi {
                    return Err(format!("{{{{{inner}}}}}: the low bound is above the high one"));
                }
                Part::Rand(lo, hi)
            }
            ["line", file] => Part::Line(file.to_string()),
            _ => {
                return Err(format!(
                    "{{{{{inner}}}}}: use {{{{seq}}}}, {{{{rand A B}}}}, {{{{line FILE}}}} or {{{{uuid}}}}"
                ))
            }
        });
        rest = &rest[a + b + 2..];
    }
    if !rest.is_empty() {
        out.push(Part::Text(rest.to_string()));
    }
    Ok(out)
}

/// A request ready to send: its bytes once, or its templates.
#[derive(Debug)]
enum Ready {
    Bytes(Vec<u8>),
    Template {
        method: String,
        target: Vec<Part>,
        host: String,
        headers: Vec<(String, Vec<Part>)>,
        body: Vec<Part>,
    },
}

/// A requests file compiled for the workers (shared by them).
#[derive(Debug)]
pub struct Compiled {
    ready: Vec<Ready>,
    rotation: Vec<usize>,
    /// Cumulative weights, for random picks.
    cumulative: Vec<u64>,
    order: Order,
    lines: Vec<(String, Vec<String>)>,
    seq: AtomicU64,
    seed: u64,
}

impl Compiled {
    /// Compiles `src`; `target_of` turns a URL into (path and query, Host value).
    pub fn new(
        src: &RequestsSource,
        target_of: impl Fn(&str) -> Option<(String, String)>,
    ) -> Result<Self, String> {
        let mut ready = Vec::new();
        for r in &src.requests {
            // A URL parser would percent-encode the substitutions' braces and
            // spaces: they stand aside as plain tokens while it runs.
            let (masked, subs) = mask(&r.url);
            let (target, host) =
                target_of(&masked).ok_or_else(|| format!("invalid URL {}", r.url))?;
            let target = unmask(&target, &subs);
            let plain = !has_parts(&r.url)
                && !has_parts(&r.body)
                && !r.headers.iter().any(|(_, v)| has_parts(v));
            if plain {
                ready.push(Ready::Bytes(format_request(&RequestSpec {
                    method: r.method.clone(),
                    target,
                    host,
                    headers: r.headers.clone(),
                    body: r.body.clone().into_bytes(),
                })));
            } else {
                ready.push(Ready::Template {
                    method: r.method.clone(),
                    target: template(&target)?,
                    host,
                    headers: r
                        .headers
                        .iter()
                        .map(|(k, v)| Ok((k.clone(), template(v)?)))
                        .collect::<Result<_, String>>()?,
                    body: template(&r.body)?,
                });
            }
        }
        let mut acc = 0;
        let cumulative = src
            .requests
            .iter()
            .map(|r| {
                acc += u64::from(r.weight);
                acc
            })
            .collect();
        Ok(Self {
            ready,
            rotation: src.rotation(),
            cumulative,
            order: src.order,
            lines: src.lines.clone(),
            seq: AtomicU64::new(0),
            seed: src.seed,
        })
    }

    /// The requests' bytes when none has a substitution (the plan's targets).
    pub fn static_rotation(&self) -> Option<Vec<Vec<u8>>> {
        if self.order != Order::Rotate {
            return None;
        }
        self.rotation
            .iter()
            .map(|&i| match &self.ready[i] {
                Ready::Bytes(b) => Some(b.clone()),
                Ready::Template { .. } => None,
            })
            .collect()
    }

    /// A worker's hooks.
    pub(crate) fn hooks(self: &Arc<Self>, first_conn: usize) -> Option<Box<dyn Hooks>> {
        Some(Box::new(RequestsHooks {
            c: Arc::clone(self),
            rng: Rng::new(self.seed ^ (first_conn as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            turn: Vec::new(),
        }))
    }

    fn render(&self, parts: &[Part], rng: &mut Rng, out: &mut String) {
        use std::fmt::Write as _;
        for p in parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Seq => {
                    let _ = write!(out, "{}", self.seq.fetch_add(1, Ordering::Relaxed));
                }
                Part::Rand(lo, hi) => {
                    let span = hi - lo;
                    let v = if span == u64::MAX {
                        rng.next()
                    } else {
                        lo + rng.below(span + 1)
                    };
                    let _ = write!(out, "{v}");
                }
                Part::Line(f) => {
                    if let Some((_, ls)) = self.lines.iter().find(|(k, _)| k == f) {
                        out.push_str(&ls[rng.below(ls.len() as u64) as usize]);
                    }
                }
                Part::Uuid => {
                    let (a, b) = (rng.next(), rng.next());
                    // RFC 9562 §5.4: version 4, variant 10.
                    let a = (a & !0xF000) | 0x4000;
                    let b = (b & !(0xC << 60)) | (0x8 << 60);
                    let _ = write!(
                        out,
                        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
                        a >> 32,
                        (a >> 16) & 0xFFFF,
                        a & 0xFFFF,
                        b >> 48,
                        b & 0xFFFF_FFFF_FFFF
                    );
                }
            }
        }
    }
}

/// xorshift64* (Vigna, "An experimental exploration of Marsaglia's xorshift
/// generators", 2016): fast, seeded, not for secrets.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, n) (n > 0), by Lemire's multiply-shift.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
}

struct RequestsHooks {
    c: Arc<Compiled>,
    rng: Rng,
    /// Per connection (by global index, grown as met): its place in the rotation.
    turn: Vec<usize>,
}

impl Hooks for RequestsHooks {
    fn request(&mut self, conn: usize, _target: usize, out: &mut Vec<u8>) -> Hooked {
        let c = &*self.c;
        let i = match c.order {
            Order::Rotate => {
                if self.turn.len() <= conn {
                    self.turn.resize(conn + 1, 0);
                }
                let t = self.turn[conn];
                self.turn[conn] = (t + 1) % c.rotation.len();
                // Connections start at different places, as the plan's targets do.
                c.rotation[(t + conn) % c.rotation.len()]
            }
            Order::Random => {
                let total = *c.cumulative.last().unwrap_or(&1);
                let x = self.rng.below(total);
                c.cumulative.partition_point(|&w| w <= x)
            }
        };
        match &c.ready[i] {
            Ready::Bytes(b) => out.extend_from_slice(b),
            Ready::Template {
                method,
                target,
                host,
                headers,
                body,
            } => {
                let mut t = String::new();
                c.render(target, &mut self.rng, &mut t);
                let headers = headers
                    .iter()
                    .map(|(k, v)| {
                        let mut s = String::new();
                        c.render(v, &mut self.rng, &mut s);
                        (k.clone(), s)
                    })
                    .collect();
                let mut b = String::new();
                c.render(body, &mut self.rng, &mut b);
                out.extend_from_slice(&format_request(&RequestSpec {
                    method: method.clone(),
                    target: t,
                    host: host.clone(),
                    headers,
                    body: b.into_bytes(),
                }));
            }
        }
        Hooked::Written
    }

    fn response(&mut self, _conn: usize, _done: &Completed) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RequestsSource, RequestsFileError> {
        RequestsSource::parse("t", text, Path::new("."), Order::Rotate, 1)
    }

    #[test]
    fn vegeta_targets_with_headers_weights_and_comments() {
        let s = parse(
            "# a comment\nGET http://h:1/a\nX-A: 1\n\n# weight: 3\npost http://h:1/b\nContent-Type: text/plain\n",
        )
        .unwrap();
        assert_eq!(s.requests.len(), 2);
        assert_eq!(s.requests[1].method, "POST");
        assert_eq!(s.requests[1].weight, 3);
        assert_eq!(s.requests[0].headers, vec![("X-A".into(), "1".into())]);
        let r = s.rotation();
        assert_eq!(r.len(), 4);
        assert_eq!(r.iter().filter(|&&i| i == 1).count(), 3);
        // Smooth: the light one is not at an end of a run of heavy ones twice.
        assert_eq!(r, vec![1, 0, 1, 1]);
    }

    #[test]
    fn bad_files_name_the_line() {
        let e = parse("GET http://h/a\nno colon here\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(parse("").is_err());
        assert!(parse("# weight: 0\nGET http://h/\n").is_err());
        assert!(parse("GET http://h/{{nope}}\n").is_err());
        assert!(parse("GET http://h/{{rand 5 1}}\n").is_err());
        assert!(parse("GET ftp://h/\n").is_err());
    }

    fn compiled(text: &str, order: Order) -> Compiled {
        let mut s = parse(text).unwrap();
        s.order = order;
        Compiled::new(&s, |u| {
            let rest = u.strip_prefix("http://h:1").unwrap_or("/");
            Some((rest.to_string(), "h:1".into()))
        })
        .unwrap()
    }

    fn send(c: &Arc<Compiled>, n: usize) -> Vec<String> {
        let mut h = c.hooks(0).unwrap();
        (0..n)
            .map(|_| {
                let mut out = Vec::new();
                assert_eq!(h.request(0, 0, &mut out), Hooked::Written);
                String::from_utf8(out).unwrap()
            })
            .collect()
    }

    #[test]
    fn substitutions_render_per_request() {
        let c = Arc::new(compiled(
            "POST http://h:1/i/{{seq}}?r={{rand 5 7}}\nX-Id: {{uuid}}\n",
            Order::Rotate,
        ));
        assert!(c.static_rotation().is_none());
        let reqs = send(&c, 200);
        for (k, r) in reqs.iter().enumerate() {
            assert!(r.starts_with(&format!("POST /i/{k}?r=")), "{r}");
            let r_at = r.find("?r=").unwrap() + 3;
            let v: u64 = r[r_at..r_at + 1].parse().unwrap();
            assert!((5..=7).contains(&v));
            let id = r.split("X-Id: ").nth(1).unwrap().lines().next().unwrap();
            assert_eq!(id.len(), 36);
            assert_eq!(&id[14..15], "4", "{id}");
            assert!("89ab".contains(&id[19..20]), "{id}");
        }
        let all: std::collections::HashSet<_> = reqs
            .iter()
            .map(|r| r.split("?r=").nth(1).unwrap()[..1].to_string())
            .collect();
        assert_eq!(all.len(), 3, "every value of the range shows up");
    }

    #[test]
    fn random_order_follows_weights() {
        let c = Arc::new(compiled(
            "GET http://h:1/a\n\n# weight: 9\nGET http://h:1/b\n",
            Order::Random,
        ));
        let reqs = send(&c, 10_000);
        let b = reqs.iter().filter(|r| r.starts_with("GET /b ")).count();
        assert!((8_700..9_300).contains(&b), "{b}");
    }

    #[test]
    fn plain_rotation_is_static() {
        let c = compiled(
            "GET http://h:1/a\n\n# weight: 2\nGET http://h:1/b\n",
            Order::Rotate,
        );
        let r = c.static_rotation().unwrap();
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn line_reads_a_file() {
        let dir = std::env::temp_dir().join(format!("ceiling-rf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("names"), "alice\nbob\n\n").unwrap();
        let s = RequestsSource::parse(
            "t",
            "GET http://h:1/u/{{line names}}\n",
            &dir,
            Order::Rotate,
            1,
        )
        .unwrap();
        assert_eq!(s.lines[0].1, vec!["alice", "bob"]);
        let c = Arc::new(
            Compiled::new(&s, |u| {
                Some((u.trim_start_matches("http://h:1").into(), "h:1".into()))
            })
            .unwrap(),
        );
        let reqs = send(&c, 100);
        assert!(reqs.iter().any(|r| r.starts_with("GET /u/alice ")));
        assert!(reqs.iter().any(|r| r.starts_with("GET /u/bob ")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
