//! Client side: frame responses on a byte stream with httparse.
//!
//! Usage per connection: call [`ResponseFramer::expect`] once per request sent (in
//! order; it queues whether each was a HEAD). Then call [`ResponseFramer::feed`]
//! with the unconsumed bytes from the read buffer, drop `consumed` bytes from the
//! front, and repeat while it consumes bytes or completes responses. Body bytes are
//! consumed as they stream (never buffered); only an incomplete head stays in the
//! caller's buffer. At EOF call [`ResponseFramer::finish_on_eof`].

use std::collections::VecDeque;
use std::mem::MaybeUninit;

use thiserror::Error;

/// Limits on what a response head may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramingLimits {
    /// Largest head (status line + headers) accepted, in bytes.
    pub max_head_bytes: usize,
    /// Most header fields accepted in one head.
    pub max_headers: usize,
}

impl Default for FramingLimits {
    fn default() -> Self {
        Self {
            max_head_bytes: 1 << 20,
            max_headers: 4096,
        }
    }
}

/// One final response read completely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Completed {
    /// Status code of the final response.
    pub status: u16,
    /// False when the connection must be closed after it (`Connection: close`,
    /// HTTP/1.0 without keep-alive, close-delimited body).
    pub keep_alive: bool,
    /// Head bytes of the final response plus any 1xx interim heads before it.
    pub head_bytes: u64,
    /// Body bytes (for chunked: the wire bytes including chunk framing).
    pub body_bytes: u64,
    /// 1xx interim responses skipped before the final one.
    pub interim: u32,
}

/// What one `feed` call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes consumed from the front of the input.
    pub consumed: usize,
    /// A response that completed with those bytes (at most one per call).
    pub completed: Option<Completed>,
}

/// Why the bytes are not a valid response stream. Each maps to `ErrorClass::Invalid`
/// except `Truncated`, which is a read error (the peer closed mid-response).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FrameError {
    /// The status line or a header is malformed (httparse said so).
    #[error("malformed response head: {0}")]
    Head(&'static str),
    /// The head is larger than `max_head_bytes` or has more than `max_headers` fields.
    #[error("response head too large")]
    HeadTooLarge,
    /// Content-Length is not a number, or appears twice with different values.
    #[error("invalid Content-Length")]
    InvalidContentLength,
    /// A chunk-size line is malformed.
    #[error("invalid chunk size")]
    InvalidChunk,
    /// A response arrived with no request outstanding.
    #[error("response without a request")]
    Unsolicited,
    /// `101 Switching Protocols`, which a load test cannot follow.
    #[error("unexpected 101 Switching Protocols")]
    Upgrade,
    /// The peer closed in the middle of a response.
    #[error("connection closed mid-response")]
    Truncated,
}

/// Header fields parsed on the stack before falling back to a heap array of
/// `max_headers`: typical responses carry fewer than ten.
const STACK_HEADERS: usize = 32;

/// Where the framer is in the current response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for a status line and headers (final or 1xx).
    Head,
    /// A Content-Length body with this many bytes still to come.
    Length(u64),
    /// Chunked body: the next thing is a chunk-size line.
    ChunkSize,
    /// Chunked body: this many data bytes of the current chunk still to come.
    ChunkData(u64),
    /// Chunked body: the CRLF after a chunk's data.
    ChunkEnd,
    /// Chunked body: trailer fields up to the empty line.
    Trailers,
    /// Body runs until the peer closes.
    UntilClose,
}

/// What the head of a final response said about framing.
struct HeadFacts {
    status: u16,
    keep_alive: bool,
    body: Body,
}

enum Body {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

/// Per-connection response framer.
#[derive(Debug)]
pub struct ResponseFramer {
    limits: FramingLimits,
    /// One entry per request sent and not yet answered: whether it was a HEAD.
    pending: VecDeque<bool>,
    phase: Phase,
    // The response under way.
    status: u16,
    keep_alive: bool,
    head_bytes: u64,
    body_bytes: u64,
    interim: u32,
    /// Trailer bytes consumed so far, bounded like a head.
    trailer_bytes: usize,
}

impl ResponseFramer {
    pub fn new(limits: FramingLimits) -> Self {
        Self {
            limits,
            pending: VecDeque::with_capacity(16),
            phase: Phase::Head,
            status: 0,
            keep_alive: true,
            head_bytes: 0,
            body_bytes: 0,
            interim: 0,
            trailer_bytes: 0,
        }
    }

    /// Queues one outstanding request; `is_head` says whether it was a HEAD.
    #[inline]
    pub fn expect(&mut self, is_head: bool) {
        self.pending.push_back(is_head);
    }

    /// Requests sent whose responses have not completed.
    #[inline]
    pub fn outstanding(&self) -> usize {
        self.pending.len()
    }

    /// True while part of a response (head or body) has been consumed but it has not
    /// completed: a close now would cut it short.
    pub fn mid_response(&self) -> bool {
        self.phase != Phase::Head || self.interim > 0
    }

    /// Consumes bytes from the front of `input`, stopping after one completed response
    /// or when more bytes are needed.
    pub fn feed(&mut self, input: &[u8]) -> Result<Progress, FrameError> {
        let mut at = 0;
        loop {
            let rest = &input[at..];
            match self.phase {
                Phase::Head => {
                    if rest.is_empty() {
                        return Ok(self.progress(at, None));
                    }
                    if self.pending.is_empty() {
                        return Err(FrameError::Unsolicited);
                    }
                    let Some((n, facts)) = self.parse_head(rest)? else {
                        return Ok(self.progress(at, None));
                    };
                    at += n;
                    self.head_bytes += n as u64;
                    let Some(facts) = facts else {
                        // A 1xx interim response: skip it, the final one follows.
                        self.interim += 1;
                        continue;
                    };
                    self.status = facts.status;
                    self.keep_alive = facts.keep_alive;
                    match facts.body {
                        Body::None | Body::Length(0) => {
                            let done = self.complete();
                            return Ok(self.progress(at, Some(done)));
                        }
                        Body::Length(n) => self.phase = Phase::Length(n),
                        Body::Chunked => self.phase = Phase::ChunkSize,
                        Body::UntilClose => {
                            self.keep_alive = false;
                            self.phase = Phase::UntilClose;
                        }
                    }
                }
                Phase::Length(left) => {
                    let take = left.min(rest.len() as u64);
                    at += take as usize;
                    self.body_bytes += take;
                    if take == left {
                        let done = self.complete();
                        return Ok(self.progress(at, Some(done)));
                    }
                    self.phase = Phase::Length(left - take);
                    return Ok(self.progress(at, None));
                }
                Phase::ChunkSize => match httparse::parse_chunk_size(rest) {
                    Ok(httparse::Status::Complete((n, size))) => {
                        at += n;
                        self.body_bytes += n as u64;
                        self.phase = if size == 0 {
                            self.trailer_bytes = 0;
                            Phase::Trailers
                        } else {
                            Phase::ChunkData(size)
                        };
                    }
                    Ok(httparse::Status::Partial) => {
                        // A size line (with extensions) longer than a head is not a
                        // stream worth waiting for.
                        if rest.len() > self.limits.max_head_bytes {
                            return Err(FrameError::InvalidChunk);
                        }
                        return Ok(self.progress(at, None));
                    }
                    Err(_) => return Err(FrameError::InvalidChunk),
                },
                Phase::ChunkData(left) => {
                    let take = left.min(rest.len() as u64);
                    at += take as usize;
                    self.body_bytes += take;
                    if take < left {
                        self.phase = Phase::ChunkData(left - take);
                        return Ok(self.progress(at, None));
                    }
                    self.phase = Phase::ChunkEnd;
                }
                Phase::ChunkEnd => match rest {
                    [] | [b'\r'] => return Ok(self.progress(at, None)),
                    [b'\r', b'\n', ..] => {
                        at += 2;
                        self.body_bytes += 2;
                        self.phase = Phase::ChunkSize;
                    }
                    _ => return Err(FrameError::InvalidChunk),
                },
                Phase::Trailers => {
                    let Some(eol) = rest.iter().position(|&b| b == b'\n') else {
                        if self.trailer_bytes + rest.len() > self.limits.max_head_bytes {
                            return Err(FrameError::HeadTooLarge);
                        }
                        return Ok(self.progress(at, None));
                    };
                    let line = &rest[..eol];
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    at += eol + 1;
                    self.body_bytes += eol as u64 + 1;
                    self.trailer_bytes += eol + 1;
                    if line.is_empty() {
                        let done = self.complete();
                        return Ok(self.progress(at, Some(done)));
                    }
                    if self.trailer_bytes > self.limits.max_head_bytes {
                        return Err(FrameError::HeadTooLarge);
                    }
                }
                Phase::UntilClose => {
                    self.body_bytes += rest.len() as u64;
                    return Ok(self.progress(input.len(), None));
                }
            }
        }
    }

    /// Feeds all of `input`, calling `done` for every response that completes,
    /// and stops after one that closes the connection. Returns the bytes consumed
    /// and Ok(false) when the connection closes after the last response, Ok(true)
    /// when it stays open (the unconsumed rest is an incomplete head), or the error.
    #[inline]
    pub fn feed_all(
        &mut self,
        input: &[u8],
        mut done: impl FnMut(Completed),
    ) -> (usize, Result<bool, FrameError>) {
        let mut pos = 0;
        loop {
            match self.feed(&input[pos..]) {
                Ok(p) => {
                    pos += p.consumed;
                    if let Some(c) = p.completed {
                        done(c);
                        if !c.keep_alive {
                            return (pos, Ok(false));
                        }
                    } else if p.consumed == 0 {
                        return (pos, Ok(true));
                    }
                }
                Err(e) => return (pos, Err(e)),
            }
        }
    }

    /// The peer closed: completes a close-delimited body, else `Truncated` when a
    /// response was under way (or bytes were left unconsumed), else `Ok(None)`.
    pub fn finish_on_eof(&mut self, unconsumed: &[u8]) -> Result<Option<Completed>, FrameError> {
        match self.phase {
            Phase::UntilClose => {
                self.body_bytes += unconsumed.len() as u64;
                Ok(Some(self.complete()))
            }
            Phase::Head if unconsumed.is_empty() && self.interim == 0 => Ok(None),
            _ => Err(FrameError::Truncated),
        }
    }

    /// Forgets all state (after the connection is reopened).
    pub fn reset(&mut self) {
        self.pending.clear();
        self.phase = Phase::Head;
        self.clear_response();
    }

    #[inline]
    fn progress(&self, consumed: usize, completed: Option<Completed>) -> Progress {
        Progress {
            consumed,
            completed,
        }
    }

    fn clear_response(&mut self) {
        self.status = 0;
        self.keep_alive = true;
        self.head_bytes = 0;
        self.body_bytes = 0;
        self.interim = 0;
        self.trailer_bytes = 0;
    }

    fn complete(&mut self) -> Completed {
        let done = Completed {
            status: self.status,
            keep_alive: self.keep_alive,
            head_bytes: self.head_bytes,
            body_bytes: self.body_bytes,
            interim: self.interim,
        };
        self.pending.pop_front();
        self.phase = Phase::Head;
        self.clear_response();
        done
    }

    /// Parses one head at the front of `input`. `Ok(None)`: more bytes needed.
    /// `Ok(Some((n, None)))`: an interim 1xx head of `n` bytes.
    #[allow(clippy::type_complexity)]
    fn parse_head(&self, input: &[u8]) -> Result<Option<(usize, Option<HeadFacts>)>, FrameError> {
        let is_head = *self.pending.front().expect("checked by the caller");
        // Uninitialised: httparse writes only the fields it finds, so a response
        // with five headers does not pay for zeroing thirty-two.
        let mut stack = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; STACK_HEADERS];
        match self.parse_with(input, &mut stack, is_head) {
            Err(FrameError::Head("too many headers"))
                if self.limits.max_headers > STACK_HEADERS =>
            {
                // Rare: a head with many fields. Parse again with the full allowance.
                let mut heap = vec![MaybeUninit::uninit(); self.limits.max_headers];
                match self.parse_with(input, &mut heap, is_head) {
                    Err(FrameError::Head("too many headers")) => Err(FrameError::HeadTooLarge),
                    other => other,
                }
            }
            Err(FrameError::Head("too many headers")) => Err(FrameError::HeadTooLarge),
            other => other,
        }
    }

    #[allow(clippy::type_complexity)]
    fn parse_with<'b>(
        &self,
        input: &'b [u8],
        headers: &mut [MaybeUninit<httparse::Header<'b>>],
        is_head: bool,
    ) -> Result<Option<(usize, Option<HeadFacts>)>, FrameError> {
        let mut resp = httparse::Response::new(&mut []);
        let n = match httparse::ParserConfig::default()
            .parse_response_with_uninit_headers(&mut resp, input, headers)
        {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => {
                if input.len() > self.limits.max_head_bytes {
                    return Err(FrameError::HeadTooLarge);
                }
                return Ok(None);
            }
            Err(e) => return Err(FrameError::Head(describe(e))),
        };
        if n > self.limits.max_head_bytes {
            return Err(FrameError::HeadTooLarge);
        }
        let status = resp.code.unwrap_or(0);
        if status == 101 {
            return Err(FrameError::Upgrade);
        }
        if (100..200).contains(&status) {
            return Ok(Some((n, None)));
        }
        let http11 = resp.version == Some(1);
        let mut keep_alive = http11;
        let mut length: Option<u64> = None;
        let mut chunked = false;
        let mut transfer_encoding = false;
        for h in resp.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                let v = parse_length(h.value).ok_or(FrameError::InvalidContentLength)?;
                if length.is_some_and(|l| l != v) {
                    return Err(FrameError::InvalidContentLength);
                }
                length = Some(v);
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                transfer_encoding = true;
                // Chunked only counts as the final coding.
                chunked = tokens(h.value)
                    .last()
                    .is_some_and(|t| t.eq_ignore_ascii_case(b"chunked"));
            } else if h.name.eq_ignore_ascii_case("connection") {
                for t in tokens(h.value) {
                    if t.eq_ignore_ascii_case(b"close") {
                        keep_alive = false;
                    } else if t.eq_ignore_ascii_case(b"keep-alive") && !http11 {
                        keep_alive = true;
                    }
                }
            }
        }
        // RFC 9112 section 6.3, in order.
        let body = if is_head || status == 204 || status == 304 {
            Body::None
        } else if transfer_encoding {
            if chunked {
                Body::Chunked
            } else {
                Body::UntilClose
            }
        } else if let Some(l) = length {
            Body::Length(l)
        } else {
            Body::UntilClose
        };
        Ok(Some((
            n,
            Some(HeadFacts {
                status,
                keep_alive,
                body,
            }),
        )))
    }
}

/// Comma-separated list tokens, trimmed, empty ones skipped.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(|t| t.trim_ascii())
        .filter(|t| !t.is_empty())
}

/// Content-Length: digits only (surrounding whitespace allowed), no overflow.
fn parse_length(value: &[u8]) -> Option<u64> {
    let v = value.trim_ascii();
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        v.iter()
            .fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0')),
    )
}

fn describe(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status code",
        httparse::Error::Token => "invalid token",
        httparse::Error::TooManyHeaders => "too many headers",
        httparse::Error::Version => "invalid HTTP version",
    }
}

#[cfg(test)]
mod tests;
