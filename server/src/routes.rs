//! Routes and their responses. The fixed parts of every response are byte
//! strings made at compile time; per request the server only copies them, the
//! worker's cached Date value and the body into the connection's write buffer.

use crate::stats::StatsTable;
use shared::wire::date::DATE_LEN;
use shared::wire::server_request::{body_bytes, parse_decimal, Method, Reject, Request};
use std::io::Write as _;

/// Largest `/bytes/{n}`.
pub const MAX_BYTES: u64 = 1 << 30;
/// Longest `/delay/{ms}`: one hour.
pub const MAX_DELAY_MS: u64 = 3_600_000;

pub const HELLO: &[u8] = b"Hello, World!";
const JSON_BODY: &[u8] = br#"{"message":"Hello, World!"}"#;
const NOT_FOUND_BODY: &[u8] = b"Not Found";

const PLAIN_HEAD: &[u8] =
    b"HTTP/1.1 200 OK\r\nServer: ceiling\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n";
const JSON_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nServer: ceiling\r\nContent-Type: application/json\r\nContent-Length: 27\r\n";
const NOT_FOUND_HEAD: &[u8] = b"HTTP/1.1 404 Not Found\r\nServer: ceiling\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n";

/// How the response speaks about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conn {
    /// HTTP/1.1 default: nothing to say.
    KeepAlive,
    /// HTTP/1.0 keep-alive must be confirmed with `Connection: keep-alive`.
    KeepAlive10,
    /// The server closes after this response.
    Close,
}

impl Conn {
    pub fn of(req: &Request<'_>, closing: bool) -> Conn {
        if closing || !req.keep_alive {
            Conn::Close
        } else if req.keep_alive_header {
            Conn::KeepAlive10
        } else {
            Conn::KeepAlive
        }
    }

    fn header(self) -> &'static [u8] {
        match self {
            Conn::KeepAlive => b"",
            Conn::KeepAlive10 => b"Connection: keep-alive\r\n",
            Conn::Close => b"Connection: close\r\n",
        }
    }
}

/// What the connection loop must still do after [`answer`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The whole response is in the write buffer.
    Done,
    /// Flush, wait `ms`, then append the Hello response (after the wait, so
    /// pipelined responses stay in order).
    Delay {
        ms: u64,
        head_only: bool,
        conn: Conn,
    },
    /// The head is in the write buffer; flush it and stream `n` body bytes.
    Stream { n: u64 },
}

/// The answer to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub action: Action,
    /// False for `/__ceiling/stats`, which is not counted as a request so that
    /// readings before and after a run differ by exactly the run's requests.
    pub counted: bool,
}

/// What a route handler may read besides the request.
pub struct Ctx<'a> {
    pub date: &'a [u8; DATE_LEN],
    pub stats: &'a StatsTable,
}

/// Appends the response to `req` (whose bytes start `raw`) to `out`.
/// `closing` forces `Connection: close` (server shutting down).
pub fn answer(
    ctx: &Ctx<'_>,
    req: &Request<'_>,
    raw: &[u8],
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    closing: bool,
) -> Answer {
    let conn = Conn::of(req, closing);
    let head_only = req.method == Method::Head;
    let done = Answer {
        action: Action::Done,
        counted: true,
    };
    match req.path {
        b"/" | b"/plaintext" => fixed(out, PLAIN_HEAD, HELLO, conn, ctx.date, head_only),
        b"/json" => fixed(out, JSON_HEAD, JSON_BODY, conn, ctx.date, head_only),
        b"/echo" => {
            let body = body_bytes(raw, &req.body, scratch);
            start(out, b"200 OK", b"application/octet-stream");
            length(out, body.len() as u64);
            finish_head(out, conn, ctx.date);
            if !head_only {
                out.extend_from_slice(body);
            }
        }
        b"/__ceiling/stats" => {
            // Off the hot path: allocating a JSON document here is fine.
            let body = serde_json::to_vec(&ctx.stats.snapshot()).unwrap_or_default();
            start(out, b"200 OK", b"application/json");
            length(out, body.len() as u64);
            finish_head(out, conn, ctx.date);
            if !head_only {
                out.extend_from_slice(&body);
            }
            return Answer {
                action: Action::Done,
                counted: false,
            };
        }
        path => {
            if let Some(n) = number_after(path, b"/bytes/").filter(|&n| n <= MAX_BYTES) {
                start(out, b"200 OK", b"application/octet-stream");
                length(out, n);
                finish_head(out, conn, ctx.date);
                if !head_only && n > 0 {
                    return Answer {
                        action: Action::Stream { n },
                        counted: true,
                    };
                }
            } else if let Some(ms) = number_after(path, b"/delay/").filter(|&m| m <= MAX_DELAY_MS) {
                return Answer {
                    action: Action::Delay {
                        ms,
                        head_only,
                        conn,
                    },
                    counted: true,
                };
            } else if let Some(code) =
                number_after(path, b"/status/").filter(|c| (200..=599).contains(c))
            {
                status_only(out, code as u16, conn, ctx.date);
            } else if is_param_route(path) {
                // A known route with a bad or out-of-range parameter.
                reject_body(out, 400, conn, ctx.date, b"Bad Request");
            } else {
                fixed(
                    out,
                    NOT_FOUND_HEAD,
                    NOT_FOUND_BODY,
                    conn,
                    ctx.date,
                    head_only,
                );
            }
        }
    }
    done
}

/// The delayed Hello response, appended after the wait.
pub fn delayed(out: &mut Vec<u8>, date: &[u8; DATE_LEN], head_only: bool, conn: Conn) {
    fixed(out, PLAIN_HEAD, HELLO, conn, date, head_only);
}

/// The response that ends a connection after a refused request.
pub fn reject(out: &mut Vec<u8>, why: Reject, date: &[u8; DATE_LEN]) {
    let body: &[u8] = match why {
        Reject::BadRequest => b"Bad Request",
        Reject::HeaderTooLarge => b"Request Header Fields Too Large",
        Reject::BodyTooLarge => b"Content Too Large",
        Reject::NotImplemented => b"Not Implemented",
    };
    reject_body(out, why.status(), Conn::Close, date, body);
}

/// `100 Continue`, sent when a client waits for it before its body.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

#[inline]
fn fixed(
    out: &mut Vec<u8>,
    head: &[u8],
    body: &[u8],
    conn: Conn,
    date: &[u8; DATE_LEN],
    head_only: bool,
) {
    out.extend_from_slice(head);
    finish_head(out, conn, date);
    if !head_only {
        out.extend_from_slice(body);
    }
}

#[inline]
fn finish_head(out: &mut Vec<u8>, conn: Conn, date: &[u8; DATE_LEN]) {
    out.extend_from_slice(conn.header());
    out.extend_from_slice(b"Date: ");
    out.extend_from_slice(date);
    out.extend_from_slice(b"\r\n\r\n");
}

fn start(out: &mut Vec<u8>, status: &[u8], content_type: &[u8]) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status);
    out.extend_from_slice(b"\r\nServer: ceiling\r\nContent-Type: ");
    out.extend_from_slice(content_type);
    out.extend_from_slice(b"\r\n");
}

fn length(out: &mut Vec<u8>, n: u64) {
    // Writing to a Vec cannot fail.
    let _ = write!(out, "Content-Length: {n}\r\n");
}

fn reject_body(out: &mut Vec<u8>, code: u16, conn: Conn, date: &[u8; DATE_LEN], body: &[u8]) {
    let _ = write!(
        out,
        "HTTP/1.1 {code} {}\r\nServer: ceiling\r\nContent-Type: text/plain\r\n",
        reason(code)
    );
    length(out, body.len() as u64);
    finish_head(out, conn, date);
    out.extend_from_slice(body);
}

/// `/status/{code}`: empty body; 204 and 304 carry no Content-Length at all
/// (RFC 9110 8.6), every other status says 0.
fn status_only(out: &mut Vec<u8>, code: u16, conn: Conn, date: &[u8; DATE_LEN]) {
    let _ = write!(
        out,
        "HTTP/1.1 {code} {}\r\nServer: ceiling\r\n",
        reason(code)
    );
    if code != 204 && code != 304 {
        out.extend_from_slice(b"Content-Length: 0\r\n");
    }
    finish_head(out, conn, date);
}

fn number_after(path: &[u8], prefix: &[u8]) -> Option<u64> {
    path.strip_prefix(prefix).and_then(parse_decimal)
}

fn is_param_route(path: &[u8]) -> bool {
    [&b"/bytes/"[..], b"/delay/", b"/status/"]
        .iter()
        .any(|p| path.starts_with(p))
}

/// Reason phrases for the registered status codes; others get none, which
/// HTTP/1.1 allows (the phrase is informational).
pub fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        511 => "Network Authentication Required",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::wire::server_request::{parse, Limits, Parsed};

    const DATE: &[u8; DATE_LEN] = b"Sun, 06 Nov 1994 08:49:37 GMT";

    fn run(raw: &[u8]) -> (String, Answer) {
        let Parsed::Complete(req) = parse(raw, &Limits::default()) else {
            panic!("not complete");
        };
        let stats = StatsTable::new(&[0]);
        let ctx = Ctx {
            date: DATE,
            stats: &stats,
        };
        let mut out = Vec::new();
        let a = answer(&ctx, &req, raw, &mut out, &mut Vec::new(), false);
        (String::from_utf8(out).unwrap(), a)
    }

    #[test]
    fn plaintext_is_exact() {
        let (out, a) = run(b"GET /plaintext HTTP/1.1\r\n\r\n");
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\nServer: ceiling\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\nHello, World!"
        );
        assert!(a.counted);
    }

    #[test]
    fn head_has_length_and_no_body() {
        let (out, _) = run(b"HEAD /json HTTP/1.1\r\n\r\n");
        assert!(out.contains("Content-Length: 27\r\n"));
        assert!(out.ends_with("GMT\r\n\r\n"));
    }

    #[test]
    fn close_and_http10_keep_alive() {
        let (out, _) = run(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(out.contains("Connection: close\r\n"));
        let (out, _) = run(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        assert!(out.contains("Connection: keep-alive\r\n"));
        let (out, _) = run(b"GET / HTTP/1.0\r\n\r\n");
        assert!(out.contains("Connection: close\r\n"));
    }

    #[test]
    fn parameter_routes() {
        let (out, a) = run(b"GET /bytes/70000 HTTP/1.1\r\n\r\n");
        assert!(out.contains("Content-Length: 70000\r\n"));
        assert_eq!(a.action, Action::Stream { n: 70000 });
        let (_, a) = run(b"GET /delay/20 HTTP/1.1\r\n\r\n");
        assert!(matches!(a.action, Action::Delay { ms: 20, .. }));
        let (out, _) = run(b"GET /status/204 HTTP/1.1\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 204 No Content\r\n"));
        assert!(!out.contains("Content-Length"));
        let (out, _) = run(b"GET /status/503 HTTP/1.1\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(out.contains("Content-Length: 0\r\n"));
        for bad in [
            &b"GET /status/99 HTTP/1.1\r\n\r\n"[..],
            b"GET /status/600 HTTP/1.1\r\n\r\n",
            b"GET /bytes/1073741825 HTTP/1.1\r\n\r\n",
            b"GET /bytes/-1 HTTP/1.1\r\n\r\n",
            b"GET /delay/x HTTP/1.1\r\n\r\n",
        ] {
            let (out, _) = run(bad);
            assert!(out.starts_with("HTTP/1.1 400 "), "{out}");
        }
        let (out, _) = run(b"GET /nope HTTP/1.1\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 404 Not Found\r\n"));
    }

    #[test]
    fn echo_and_stats() {
        let (out, _) =
            run(b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
        assert!(out.contains("Content-Length: 3\r\n"));
        assert!(out.ends_with("\r\n\r\nabc"));
        let (out, a) = run(b"GET /__ceiling/stats HTTP/1.1\r\n\r\n");
        assert!(!a.counted);
        let body = out.split("\r\n\r\n").nth(1).unwrap();
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["requests"], 0);
    }
}
