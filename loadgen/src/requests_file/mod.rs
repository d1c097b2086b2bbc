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

pub mod source;

use crate::hooks::{Hooked, Hooks, MakeHooks};
use shared::wire::framing::Completed;
use shared::wire::request::{format_request, RequestSpec};
use source::{has_parts, mask, template, unmask, Part};
pub use source::{FileRequest, Order, RequestsFileError, RequestsSource};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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
            let (target, host) = target_of(&masked)
                .ok_or_else(|| format!("invalid URL {}", crate::redact::url(&r.url)))?;
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
    pub(crate) fn hooks_for(self: &Arc<Self>, first_conn: usize) -> Option<Box<dyn Hooks>> {
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

/// A compiled requests file as the plan carries it to the workers.
#[derive(Debug)]
pub struct RequestsPlan(pub Arc<Compiled>);

impl MakeHooks for RequestsPlan {
    fn hooks(&self, _index: usize, first_conn: usize, _conns: usize) -> Option<Box<dyn Hooks>> {
        self.0.hooks_for(first_conn)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
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
    use std::path::Path;

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
        let mut h = c.hooks_for(0).unwrap();
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
