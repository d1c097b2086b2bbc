//! A requests file as a `Load` carries it: parsed and checked, with what its
//! substitutions need (a leaf: plain data, no imports above it). See the
//! parent module for the format.

use std::path::Path;
use thiserror::Error;

/// A requests file that cannot be used (the caller exits 2).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("--requests-file {file}:{line}: {message}")]
pub struct RequestsFileError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// The largest script, requests file, body file or `{{line}}` file read
/// (16 MiB): a bound so `-s /dev/zero` fails at once instead of filling memory.
pub const MAX_INPUT_BYTES: u64 = 16 << 20;

/// An input file that cannot be read: the message names the path.
#[derive(Debug, Error)]
pub enum InputError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a regular file")]
    NotRegular { path: String },
    #[error("{path} is over {} MiB", MAX_INPUT_BYTES >> 20)]
    TooLarge { path: String },
    #[error("{path} is not UTF-8 text")]
    NotUtf8 { path: String },
}

/// Reads `path` whole as bytes: only a regular file of at most
/// [`MAX_INPUT_BYTES`] (a device or FIFO could never end).
pub fn read_input_bytes(path: &std::path::Path) -> Result<Vec<u8>, InputError> {
    use std::io::Read;
    let shown = path.display().to_string();
    let io = |source| InputError::Io {
        path: shown.clone(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(InputError::NotRegular { path: shown });
    }
    // The size may change after the check: the read is bounded too.
    let mut bytes = Vec::new();
    file.take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(InputError::TooLarge { path: shown });
    }
    Ok(bytes)
}

/// [`read_input_bytes`] as UTF-8 text.
pub fn read_input(path: &std::path::Path) -> Result<String, InputError> {
    String::from_utf8(read_input_bytes(path)?).map_err(|_| InputError::NotUtf8 {
        path: path.display().to_string(),
    })
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
        let text = read_input(path).map_err(|e| RequestsFileError {
            file: path.display().to_string(),
            line: 0,
            message: e.to_string(),
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
        // Checks the substitutions of `t` (from line `n`) and reads the files
        // `{{line}}` names.
        let check = |t: &str, n: usize, lines: &mut Vec<(String, Vec<String>)>| {
            for part in template(t).map_err(|m| err(n, m))? {
                if let Part::Line(f) = part {
                    if lines.iter().any(|(k, _)| *k == f) {
                        continue;
                    }
                    let p = dir.join(&f);
                    let text =
                        read_input(&p).map_err(|e| err(n, format!("{{{{line {f}}}}}: {e}")))?;
                    let ls: Vec<String> = text
                        .lines()
                        .filter(|l| !l.trim().is_empty())
                        .map(String::from)
                        .collect();
                    if ls.is_empty() {
                        return Err(err(
                            n,
                            format!("{{{{line {f}}}}}: {} has no lines", p.display()),
                        ));
                    }
                    lines.push((f, ls));
                }
            }
            Ok(())
        };
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
                        err(
                            n,
                            format!(
                                "{:?}: a target starts with METHOD URL",
                                crate::redact::url(line)
                            ),
                        )
                    })?;
                    let method = method.trim().to_ascii_uppercase();
                    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
                        return Err(err(n, format!("invalid method {method:?}")));
                    }
                    let url = url.trim().to_string();
                    let lower = url.to_ascii_lowercase();
                    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
                        return Err(err(
                            n,
                            format!(
                                "{:?}: give an http:// or https:// URL",
                                crate::redact::url(&url)
                            ),
                        ));
                    }
                    check(&url, n, &mut lines)?;
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
                        let bytes =
                            read_input_bytes(&p).map_err(|e| err(n, format!("body: {e}")))?;
                        r.body = String::from_utf8(bytes).map_err(|_| {
                            err(n, format!("body {} is not UTF-8 text", p.display()))
                        })?;
                        check(&r.body, n, &mut lines)?;
                    } else {
                        let (k, v) = line.split_once(':').ok_or_else(|| {
                            // A credential header's value stays unprinted.
                            let name = line.split_whitespace().next().unwrap_or("");
                            let shown = if crate::redact::is_secret(name) {
                                format!("{name} {}", crate::redact::MASK)
                            } else {
                                crate::redact::url(line)
                            };
                            err(n, format!("{shown:?}: a header is Name: value"))
                        })?;
                        let k = k.trim();
                        if k.is_empty() || k.bytes().any(|b| b.is_ascii_whitespace()) {
                            return Err(err(n, format!("invalid header name {k:?}")));
                        }
                        check(v.trim(), n, &mut lines)?;
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
pub(super) fn mask(t: &str) -> (String, Vec<String>) {
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

pub(super) fn unmask(t: &str, subs: &[String]) -> String {
    let mut out = t.to_string();
    for (i, s) in subs.iter().enumerate() {
        out = out.replace(&format!("zzceilingsub{i}zz"), s);
    }
    out
}

pub(super) fn has_parts(t: &str) -> bool {
    t.contains("{{")
}

/// One piece of a text with substitutions.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Part {
    Text(String),
    Seq,
    Rand(u64, u64),
    Line(String),
    Uuid,
}

/// Splits `t` into text and substitutions; an unknown one is an error.
pub(super) fn template(t: &str) -> Result<Vec<Part>, String> {
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
