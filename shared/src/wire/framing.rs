//! Client side: frame responses on a byte stream with httparse.
//! (Interface fixed; body filled in by the wire work.)
//!
//! Usage per connection: call [`ResponseFramer::expect`] once per request sent (in
//! order; it queues whether each was a HEAD). Then call [`ResponseFramer::feed`]
//! with the unconsumed bytes from the read buffer, drop `consumed` bytes from the
//! front, and repeat while it consumes bytes or completes responses. Body bytes are
//! consumed as they stream (never buffered); only an incomplete head stays in the
//! caller's buffer. At EOF call [`ResponseFramer::finish_on_eof`].

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

/// Per-connection response framer.
#[derive(Debug)]
pub struct ResponseFramer {
    _limits: FramingLimits,
}

impl ResponseFramer {
    pub fn new(limits: FramingLimits) -> Self {
        Self { _limits: limits }
    }

    /// Queues one outstanding request; `is_head` says whether it was a HEAD.
    pub fn expect(&mut self, is_head: bool) {
        let _ = is_head;
        todo!()
    }

    /// Requests sent whose responses have not completed.
    pub fn outstanding(&self) -> usize {
        todo!()
    }

    /// Consumes bytes from the front of `input`.
    pub fn feed(&mut self, input: &[u8]) -> Result<Progress, FrameError> {
        let _ = input;
        todo!()
    }

    /// The peer closed: completes a close-delimited body, else `Truncated` when a
    /// response was under way (or bytes were left unconsumed), else `Ok(None)`.
    pub fn finish_on_eof(&mut self, unconsumed: &[u8]) -> Result<Option<Completed>, FrameError> {
        let _ = unconsumed;
        todo!()
    }

    /// Forgets all state (after the connection is reopened).
    pub fn reset(&mut self) {
        todo!()
    }
}
