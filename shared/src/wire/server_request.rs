//! Server side: parse pipelined requests, enforce limits, pick 4xx + close.
//!
//! Sans-IO: [`parse`] looks at the bytes of one connection's read buffer from the
//! start of the next request and says whether a whole request (head and body) is
//! there, more bytes are needed, or the connection must be answered with an error
//! and closed. It never allocates and never keeps state between calls, so the
//! caller can split the stream anywhere.

use std::mem::MaybeUninit;

/// Largest request head (request line plus headers) accepted; larger gets 431.
pub const MAX_HEAD: usize = 16 * 1024;
/// Most header fields accepted; more gets 431.
pub const MAX_HEADERS: usize = 100;

/// Per-server limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest head in bytes (431 above).
    pub max_head: usize,
    /// Largest body in bytes, decoded (413 above).
    pub max_body: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_head: MAX_HEAD,
            max_body: 1024 * 1024,
        }
    }
}

impl Limits {
    /// Most bytes a chunked body may take on the wire before it is refused: the
    /// decoded limit plus room for chunk framing. Without this bound, chunk
    /// extensions or trailers could make a connection buffer grow forever.
    pub fn max_chunked_wire(&self) -> usize {
        let body = usize::try_from(self.max_body).unwrap_or(usize::MAX / 4);
        body.saturating_mul(2).saturating_add(self.max_head)
    }

    /// Most bytes one request can occupy in a read buffer.
    pub fn max_request(&self) -> usize {
        self.max_head.saturating_add(self.max_chunked_wire())
    }
}

/// Request method, as far as the server cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    /// Any other valid token (answered like GET).
    Other,
}

/// HTTP version of the request line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// Where the body lies, relative to the start of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// No body.
    Empty,
    /// `Content-Length` body: `len` bytes from `start`.
    Fixed { start: usize, len: usize },
    /// Chunked body: the encoding spans `wire_len` bytes from `start` and decodes
    /// to `len` bytes (read them with [`chunked_data`]).
    Chunked {
        start: usize,
        wire_len: usize,
        len: usize,
    },
}

impl Body {
    /// Decoded body length.
    pub fn len(&self) -> usize {
        match *self {
            Body::Empty => 0,
            Body::Fixed { len, .. } | Body::Chunked { len, .. } => len,
        }
    }

    /// True when there is no body or it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One complete request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    pub method: Method,
    /// The path: the target without query string (absolute-form reduced to its path).
    pub path: &'a [u8],
    pub version: Version,
    /// Whether the connection stays open after the response (HTTP/1.1 unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`).
    pub keep_alive: bool,
    /// HTTP/1.0 asked for keep-alive explicitly, so the response must say so.
    pub keep_alive_header: bool,
    /// Bytes of the head, including the blank line.
    pub head_len: usize,
    pub body: Body,
    /// Bytes the whole request occupies: the next request starts here.
    pub len: usize,
}

/// Why a request is refused. The connection is answered with [`Reject::status`]
/// and closed, since the framing of what follows cannot be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// Malformed request line, header or framing: 400.
    BadRequest,
    /// Head over the limit or too many header fields: 431.
    HeaderTooLarge,
    /// Body over the limit: 413.
    BodyTooLarge,
    /// A transfer coding other than chunked: 501.
    NotImplemented,
}

impl Reject {
    /// The response status.
    pub fn status(self) -> u16 {
        match self {
            Reject::BadRequest => 400,
            Reject::HeaderTooLarge => 431,
            Reject::BodyTooLarge => 413,
            Reject::NotImplemented => 501,
        }
    }
}

/// What [`parse`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// A whole request is at the start of the buffer.
    Complete(Request<'a>),
    /// More bytes are needed. `head_done` says the head is complete and the body
    /// is still arriving; `expect_continue` that the client waits for
    /// `100 Continue` before sending it.
    Partial {
        head_done: bool,
        expect_continue: bool,
    },
    /// Answer with the status and close.
    Reject(Reject),
}

/// Parses the request at the start of `buf`.
pub fn parse<'a>(buf: &'a [u8], limits: &Limits) -> Parsed<'a> {
    let mut headers = [const { MaybeUninit::<httparse::Header<'a>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let head_len = match req.parse_with_uninit_headers(buf, &mut headers) {
        Ok(httparse::Status::Complete(n)) if n > limits.max_head => {
            return Parsed::Reject(Reject::HeaderTooLarge)
        }
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > limits.max_head => {
            return Parsed::Reject(Reject::HeaderTooLarge)
        }
        Ok(httparse::Status::Partial) => {
            return Parsed::Partial {
                head_done: false,
                expect_continue: false,
            }
        }
        Err(httparse::Error::TooManyHeaders) => return Parsed::Reject(Reject::HeaderTooLarge),
        Err(_) => return Parsed::Reject(Reject::BadRequest),
    };
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Parsed::Reject(Reject::BadRequest);
    };
    let version = match version {
        0 => Version::Http10,
        1 => Version::Http11,
        _ => return Parsed::Reject(Reject::BadRequest),
    };
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        _ => Method::Other,
    };

    let mut close = false;
    let mut keep_alive_token = false;
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut expect_continue = false;
    for h in req.headers.iter() {
        let name = h.name.as_bytes();
        // Compare lengths first: most headers are none of these.
        match name.len() {
            10 if name.eq_ignore_ascii_case(b"connection") => {
                for token in h.value.split(|&b| b == b',') {
                    let token = trim(token);
                    if token.eq_ignore_ascii_case(b"close") {
                        close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        keep_alive_token = true;
                    }
                }
            }
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                let Some(n) = parse_decimal(trim(h.value)) else {
                    return Parsed::Reject(Reject::BadRequest);
                };
                // Differing repeated lengths are a smuggling vector: refuse.
                if content_length.is_some_and(|c| c != n) {
                    return Parsed::Reject(Reject::BadRequest);
                }
                content_length = Some(n);
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                if chunked {
                    // Chunked must be the final coding, applied once.
                    return Parsed::Reject(Reject::BadRequest);
                }
                for coding in h.value.split(|&b| b == b',') {
                    let coding = trim(coding);
                    if chunked {
                        return Parsed::Reject(Reject::BadRequest);
                    }
                    if coding.eq_ignore_ascii_case(b"chunked") {
                        chunked = true;
                    } else {
                        return Parsed::Reject(Reject::NotImplemented);
                    }
                }
            }
            6 if name.eq_ignore_ascii_case(b"expect") => {
                expect_continue = trim(h.value).eq_ignore_ascii_case(b"100-continue");
            }
            _ => {}
        }
    }
    // Both framings at once, or chunked from an HTTP/1.0 client: the framing
    // is ambiguous (RFC 9112 6.1, 6.3), so refuse rather than guess.
    if chunked && (content_length.is_some() || version == Version::Http10) {
        return Parsed::Reject(Reject::BadRequest);
    }
    let keep_alive = !close
        && match version {
            Version::Http11 => true,
            Version::Http10 => keep_alive_token,
        };
    let keep_alive_header = keep_alive && version == Version::Http10;

    let rest = &buf[head_len..];
    let body = if chunked {
        match scan_chunked(rest, limits) {
            Chunked::Complete { wire_len, len } => Body::Chunked {
                start: head_len,
                wire_len,
                len,
            },
            Chunked::Partial => {
                return Parsed::Partial {
                    head_done: true,
                    expect_continue,
                }
            }
            Chunked::TooLarge => return Parsed::Reject(Reject::BodyTooLarge),
            Chunked::Bad => return Parsed::Reject(Reject::BadRequest),
        }
    } else {
        match content_length {
            None | Some(0) => Body::Empty,
            Some(n) if n > limits.max_body => return Parsed::Reject(Reject::BodyTooLarge),
            Some(n) => {
                // n <= max_body, which the caller keeps far below usize::MAX.
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                if rest.len() < n {
                    return Parsed::Partial {
                        head_done: true,
                        expect_continue,
                    };
                }
                Body::Fixed {
                    start: head_len,
                    len: n,
                }
            }
        }
    };
    let len = match body {
        Body::Empty => head_len,
        Body::Fixed { start, len } => start + len,
        Body::Chunked {
            start, wire_len, ..
        } => start + wire_len,
    };
    Parsed::Complete(Request {
        method,
        path: path_of(target.as_bytes()),
        version,
        keep_alive,
        keep_alive_header,
        head_len,
        body,
        len,
    })
}

/// The body bytes of a complete request (`raw` starts at the request).
/// For a chunked body, `out` receives the decoded bytes and the result borrows it.
pub fn body_bytes<'b>(raw: &'b [u8], body: &Body, out: &'b mut Vec<u8>) -> &'b [u8] {
    match *body {
        Body::Empty => &[],
        Body::Fixed { start, len } => &raw[start..start + len],
        Body::Chunked {
            start, wire_len, ..
        } => {
            out.clear();
            for piece in chunked_data(&raw[start..start + wire_len]) {
                out.extend_from_slice(piece);
            }
            out
        }
    }
}

/// Iterates over the data pieces of a chunked body that [`parse`] accepted.
/// On bytes it did not accept, it stops early instead of panicking.
pub fn chunked_data(wire: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut pos = 0;
    std::iter::from_fn(move || loop {
        let rest = wire.get(pos..)?;
        let Ok(httparse::Status::Complete((hdr, size))) = httparse::parse_chunk_size(rest) else {
            return None;
        };
        if size == 0 {
            return None;
        }
        let size = usize::try_from(size).ok()?;
        let start = pos + hdr;
        let end = start.checked_add(size)?;
        let data = wire.get(start..end)?;
        pos = end + 2;
        if !data.is_empty() {
            return Some(data);
        }
    })
}

enum Chunked {
    Complete { wire_len: usize, len: usize },
    Partial,
    TooLarge,
    Bad,
}

/// Walks a chunked body: size lines, data, CRLFs, the last chunk and trailers.
/// Cost is per chunk, not per byte: data is skipped, not scanned.
fn scan_chunked(wire: &[u8], limits: &Limits) -> Chunked {
    let max_wire = limits.max_chunked_wire();
    let mut pos = 0usize;
    let mut total: u64 = 0;
    loop {
        if pos > max_wire {
            return Chunked::TooLarge;
        }
        let rest = &wire[pos..];
        let (hdr, size) = match httparse::parse_chunk_size(rest) {
            Ok(httparse::Status::Complete(found)) => found,
            Ok(httparse::Status::Partial) => {
                return if rest.len() > limits.max_head || wire.len() > max_wire {
                    Chunked::TooLarge
                } else {
                    Chunked::Partial
                };
            }
            Err(_) => return Chunked::Bad,
        };
        pos += hdr;
        if size == 0 {
            break;
        }
        total = match total.checked_add(size) {
            Some(t) if t <= limits.max_body => t,
            _ => return Chunked::TooLarge,
        };
        // size <= max_body here, so it fits in usize.
        let size = size as usize;
        if wire.len() < pos + size + 2 {
            return if wire.len() > max_wire {
                Chunked::TooLarge
            } else {
                Chunked::Partial
            };
        }
        if &wire[pos + size..pos + size + 2] != b"\r\n" {
            return Chunked::Bad;
        }
        pos += size + 2;
    }
    // Trailer section: header lines until an empty line. They are skipped.
    loop {
        let rest = &wire[pos..];
        match rest.iter().position(|&b| b == b'\n') {
            None => {
                return if rest.len() > limits.max_head || wire.len() > max_wire {
                    Chunked::TooLarge
                } else {
                    Chunked::Partial
                };
            }
            Some(i) => {
                let line = &rest[..i];
                pos += i + 1;
                if line.is_empty() || line == b"\r" {
                    break;
                }
                if pos > max_wire {
                    return Chunked::TooLarge;
                }
            }
        }
    }
    Chunked::Complete {
        wire_len: pos,
        len: total as usize,
    }
}

/// Reduces a request target to its path: drops `?query` and the scheme and
/// authority of an absolute-form target.
fn path_of(target: &[u8]) -> &[u8] {
    let mut t = target;
    if t.first() != Some(&b'/') {
        if let Some(i) = find(t, b"://") {
            let after = &t[i + 3..];
            t = match after.iter().position(|&b| b == b'/') {
                Some(j) => &after[j..],
                None => b"/",
            };
        }
    }
    match t.iter().position(|&b| b == b'?') {
        Some(i) => &t[..i],
        None => t,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Strict decimal: digits only, no sign, at most 19 of them (no overflow).
pub fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(b - b'0');
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn limits() -> Limits {
        Limits {
            max_head: MAX_HEAD,
            max_body: 4096,
        }
    }

    fn complete(buf: &[u8]) -> Request<'_> {
        match parse(buf, &limits()) {
            Parsed::Complete(r) => r,
            other => panic!("expected a complete request, got {other:?}"),
        }
    }

    #[test]
    fn simple_get() {
        let r = complete(b"GET /plaintext?x=1 HTTP/1.1\r\nHost: a\r\n\r\nGET");
        assert_eq!(r.method, Method::Get);
        assert_eq!(r.path, b"/plaintext");
        assert!(r.keep_alive);
        assert!(!r.keep_alive_header);
        assert_eq!(r.body, Body::Empty);
        assert_eq!(r.len, r.head_len);
        assert_eq!(r.len, 40);
    }

    #[test]
    fn connection_semantics() {
        assert!(!complete(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!complete(b"GET / HTTP/1.0\r\n\r\n").keep_alive);
        let r = complete(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        assert!(r.keep_alive && r.keep_alive_header);
        assert!(!complete(b"GET / HTTP/1.1\r\nconnection: keep-alive, close\r\n\r\n").keep_alive);
    }

    #[test]
    fn content_length_body() {
        let buf = b"POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET";
        let r = complete(buf);
        assert_eq!(r.method, Method::Post);
        let mut scratch = Vec::new();
        assert_eq!(body_bytes(buf, &r.body, &mut scratch), b"hello");
        assert_eq!(&buf[r.len..], b"GET");
        assert_eq!(
            parse(&buf[..45], &limits()),
            Parsed::Partial {
                head_done: true,
                expect_continue: false
            }
        );
    }

    #[test]
    fn chunked_body() {
        let buf = b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nT: v\r\n\r\nNEXT";
        let r = complete(buf);
        assert_eq!(r.body.len(), 11);
        let mut scratch = Vec::new();
        assert_eq!(body_bytes(buf, &r.body, &mut scratch), b"hello world");
        assert_eq!(&buf[r.len..], b"NEXT");
        for cut in r.head_len..r.len {
            assert!(
                matches!(parse(&buf[..cut], &limits()), Parsed::Partial { .. }),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn rejects() {
        let l = limits();
        assert_eq!(
            parse(b"GARBAGE\r\n\r\n", &l),
            Parsed::Reject(Reject::BadRequest)
        );
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", &l),
            Parsed::Reject(Reject::BadRequest)
        );
        assert_eq!(
            parse(
                b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                &l
            ),
            Parsed::Reject(Reject::BadRequest)
        );
        assert_eq!(
            parse(b"POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n", &l),
            Parsed::Reject(Reject::BodyTooLarge)
        );
        assert_eq!(
            parse(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", &l),
            Parsed::Reject(Reject::NotImplemented)
        );
        assert_eq!(
            parse(
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
                &l
            ),
            Parsed::Reject(Reject::BadRequest)
        );
        assert_eq!(
            parse(
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nFFFF\r\n",
                &l
            ),
            Parsed::Reject(Reject::BodyTooLarge)
        );
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.resize(MAX_HEAD + 10, b'a');
        assert_eq!(parse(&big, &l), Parsed::Reject(Reject::HeaderTooLarge));
        big.extend_from_slice(b"\r\n\r\n");
        assert_eq!(parse(&big, &l), Parsed::Reject(Reject::HeaderTooLarge));
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("H{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(parse(&many, &l), Parsed::Reject(Reject::HeaderTooLarge));
    }

    #[test]
    fn expect_continue_is_reported() {
        assert_eq!(
            parse(
                b"POST / HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
                &limits()
            ),
            Parsed::Partial {
                head_done: true,
                expect_continue: true
            }
        );
    }

    #[test]
    fn absolute_form_and_query() {
        assert_eq!(path_of(b"http://h:1/json?a"), b"/json");
        assert_eq!(path_of(b"http://h:1"), b"/");
        assert_eq!(path_of(b"/a?b?c"), b"/a");
        assert_eq!(path_of(b"*"), b"*");
    }

    /// What a connection sees of a request, owned, for comparing runs.
    #[derive(Debug, PartialEq, Eq)]
    struct Seen {
        method: Method,
        path: Vec<u8>,
        keep_alive: bool,
        body: Vec<u8>,
    }

    /// Feeds `stream` in the given pieces like a connection would: append, parse
    /// every complete request, drop consumed bytes. Returns what was seen and
    /// whether a reject ended it.
    fn feed(pieces: &[&[u8]], l: &Limits) -> (Vec<Seen>, Option<Reject>) {
        let mut buf = Vec::new();
        let mut seen = Vec::new();
        let mut scratch = Vec::new();
        for piece in pieces {
            buf.extend_from_slice(piece);
            loop {
                match parse(&buf, l) {
                    Parsed::Complete(r) => {
                        assert!(r.len > 0 && r.len <= buf.len());
                        seen.push(Seen {
                            method: r.method,
                            path: r.path.to_vec(),
                            keep_alive: r.keep_alive,
                            body: body_bytes(&buf, &r.body, &mut scratch).to_vec(),
                        });
                        let n = r.len;
                        buf.drain(..n);
                    }
                    Parsed::Partial { .. } => {
                        // Bounded: a partial request never exceeds the limits.
                        assert!(buf.len() <= l.max_request());
                        break;
                    }
                    Parsed::Reject(r) => return (seen, Some(r)),
                }
            }
        }
        (seen, None)
    }

    fn request_strategy() -> impl Strategy<Value = Vec<u8>> {
        let path = prop::sample::select(vec!["/", "/plaintext", "/json", "/echo", "/bytes/10"]);
        let body = prop::collection::vec(any::<u8>(), 0..64);
        (0..4u8, path, body, any::<bool>(), 1..5usize).prop_map(
            |(kind, path, body, close, chunk)| match kind {
                0 => format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes(),
                1 => format!(
                    "HEAD {path} HTTP/1.1\r\nHost: x\r\n{}\r\n",
                    if close { "Connection: close\r\n" } else { "" }
                )
                .into_bytes(),
                2 => {
                    let mut r = format!(
                        "POST {path} HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    r.extend_from_slice(&body);
                    r
                }
                _ => {
                    let mut r =
                        format!("POST {path} HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
                            .into_bytes();
                    for piece in body.chunks(chunk) {
                        r.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                        r.extend_from_slice(piece);
                        r.extend_from_slice(b"\r\n");
                    }
                    r.extend_from_slice(b"0\r\n\r\n");
                    r
                }
            },
        )
    }

    proptest! {
        #[test]
        fn random_splits_give_the_same_requests(
            reqs in prop::collection::vec(request_strategy(), 1..12),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            let stream: Vec<u8> = reqs.concat();
            let l = limits();
            let (whole, rej) = feed(&[&stream], &l);
            prop_assert!(rej.is_none());
            prop_assert_eq!(whole.len(), reqs.len());
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
            points.sort_unstable();
            let mut pieces = Vec::new();
            let mut last = 0;
            for p in points {
                pieces.push(&stream[last..p]);
                last = p;
            }
            pieces.push(&stream[last..]);
            let (split, rej) = feed(&pieces, &l);
            prop_assert!(rej.is_none());
            prop_assert_eq!(split, whole);
        }

        #[test]
        fn garbage_never_panics_and_stays_bounded(
            pieces in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..512), 1..8),
        ) {
            let l = Limits { max_head: 1024, max_body: 256 };
            let refs: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
            let _ = feed(&refs, &l);
        }

        #[test]
        fn mangled_requests_never_panic(
            req in request_strategy(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        ) {
            let mut bytes = req;
            for (i, b) in flips {
                let at = i.index(bytes.len());
                bytes[at] = b;
            }
            let l = limits();
            let _ = feed(&[&bytes], &l);
        }
    }
}
