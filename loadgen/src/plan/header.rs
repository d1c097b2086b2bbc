//! Request headers checked alone and against the rest of the request: a header a
//! server must answer with 400, or that leaves it waiting for bytes Ceiling will
//! never send, is refused before any load (RFC 9110 §5, RFC 9112 §6).

use thiserror::Error;

/// `"Name: value"` -> (name, value trimmed). Refuses a missing colon, a name that
/// is not a token, and a value with control characters (CR/LF would split the
/// request; NUL and the others are invalid in a field value, RFC 9110 §5.5).
pub fn parse_header(h: &str) -> Result<(String, String), HeaderError> {
    // A malformed credential header is quoted by its first word only.
    let quoted = || {
        let first = h.split([' ', ':']).next().unwrap_or_default();
        if crate::redact::is_secret(first) {
            format!("{first} {}", crate::redact::MASK)
        } else {
            h.to_string()
        }
    };
    let (name, value) = h
        .split_once(':')
        .ok_or_else(|| HeaderError::Shape(quoted()))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(HeaderError::Shape(quoted()));
    }
    if !name.bytes().all(is_tchar) {
        return Err(HeaderError::Name(name.to_string()));
    }
    let value = value.trim_matches([' ', '\t']);
    if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(HeaderError::Value {
            name: name.to_string(),
        });
    }
    Ok((name.to_string(), value.to_string()))
}

/// RFC 9110 §5.6.2 tchar.
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A request header that cannot be sent, alone or with the rest of the request.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum HeaderError {
    #[error("invalid header {0:?}: expected \"Name: value\"")]
    Shape(String),
    #[error("invalid header name {0:?}: a name is a token (letters, digits, !#$%&'*+-.^_`|~)")]
    Name(String),
    #[error("header {name}: the value holds a control character (CR, LF, NUL...), which would split or corrupt the request")]
    Value { name: String },
    #[error("{name} is given {count} times: a request has one (RFC 9110 §7.2, §8.6)")]
    Twice { name: String, count: usize },
    #[error("Content-Length: {given} contradicts the body of {actual} bytes")]
    Length { given: String, actual: usize },
    #[error("Transfer-Encoding: {0}: Ceiling sends bodies with a Content-Length and never chunks them, so the server would wait for chunks that never come")]
    TransferEncoding(String),
    #[error(
        "{method} carries no body (RFC 9110 §9.3.8): drop --body/--body-file or use another method"
    )]
    BodyNotAllowed { method: String },
    #[error("Host is empty: a request to an http URL names its host (RFC 9112 §3.2)")]
    EmptyHost,
    #[error("Host: {0:?} is not a host[:port] (RFC 9112 §3.2, RFC 3986 §3.2.2): a server answers it with 400")]
    InvalidHost(String),
    #[error("Connection asks both to close and to keep the connection alive: give one")]
    ConnectionContradicts,
    #[error("CONNECT asks a proxy for a tunnel (RFC 9110 §9.3.6), which takes an authority, not a URL's path: Ceiling sends origin-form requests")]
    Connect,
}

/// Fields a request carries at most once (RFC 9110 §5.3: only list-based fields
/// may repeat; a server answers two Hosts with 400, RFC 9112 §3.2).
const SINGLETONS: [&str; 12] = [
    "Host",
    "Content-Length",
    "Content-Type",
    "Authorization",
    "Proxy-Authorization",
    "User-Agent",
    "Referer",
    "From",
    "Range",
    "If-Modified-Since",
    "If-Unmodified-Since",
    "Max-Forwards",
];

/// Refuses headers that contradict each other or the request: a singleton field
/// given twice (two Hosts, two Content-Lengths...), an empty Host (an http URL
/// has an authority, RFC 9112 §3.2), a Content-Length other than the body's, any
/// Transfer-Encoding (Ceiling sends a body with a Content-Length, never chunked,
/// RFC 9112 §6.1), and a body on TRACE (RFC 9110 §9.3.8). A body on GET or HEAD
/// is allowed (some APIs take one), as RFC 9110 allows it.
pub fn check_headers(
    method: &str,
    headers: &[(String, String)],
    body_len: usize,
) -> Result<(), HeaderError> {
    let named = |n: &str| {
        headers
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
    };
    for name in SINGLETONS {
        let n = named(name).len();
        if n > 1 {
            return Err(HeaderError::Twice {
                name: name.to_string(),
                count: n,
            });
        }
    }
    if let Some(host) = named("Host").first() {
        if host.is_empty() {
            return Err(HeaderError::EmptyHost);
        }
        if !is_authority(host) {
            return Err(HeaderError::InvalidHost(host.to_string()));
        }
    }
    // Options over every Connection field (it is a list, RFC 9110 §7.6.1).
    let options: Vec<&str> = named("Connection")
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let has = |o: &str| options.iter().any(|x| x.eq_ignore_ascii_case(o));
    if has("close") && has("keep-alive") {
        return Err(HeaderError::ConnectionContradicts);
    }
    if let Some(te) = named("Transfer-Encoding").first() {
        return Err(HeaderError::TransferEncoding(te.to_string()));
    }
    if let Some(cl) = named("Content-Length").first() {
        if cl.parse::<u64>().ok() != Some(body_len as u64)
            || !cl.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(HeaderError::Length {
                given: cl.to_string(),
                actual: body_len,
            });
        }
    }
    if method == "CONNECT" {
        return Err(HeaderError::Connect);
    }
    if method == "TRACE" && body_len > 0 {
        return Err(HeaderError::BodyNotAllowed {
            method: method.to_string(),
        });
    }
    Ok(())
}

/// RFC 3986 §3.2.2-3 `host [":" port]`: an IP literal in brackets, or a
/// reg-name/IPv4 (unreserved, %-escapes, sub-delims), then an optional port
/// of at most 65535.
fn is_authority(v: &str) -> bool {
    let (host_ok, port) = if let Some(rest) = v.strip_prefix('[') {
        let Some((literal, after)) = rest.split_once(']') else {
            return false;
        };
        let port = match after {
            "" => None,
            p => match p.strip_prefix(':') {
                Some(p) => Some(p),
                None => return false,
            },
        };
        (literal.parse::<std::net::Ipv6Addr>().is_ok(), port)
    } else {
        let (host, port) = match v.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (v, None),
        };
        let reg_name = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&b));
        (reg_name, port)
    };
    let port_ok = match port {
        None | Some("") => true,
        Some(p) => p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok(),
    };
    host_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(list: &[&str]) -> Vec<(String, String)> {
        list.iter().map(|x| parse_header(x).unwrap()).collect()
    }

    #[test]
    fn contradictions_are_refused() {
        assert!(check_headers("GET", &h(&["Host: a", "X: 1"]), 0).is_ok());
        for host in [
            "example.com:8080",
            "127.0.0.1",
            "[::1]:80",
            "[::1]",
            "xn--bcher-kva.example",
            "a:",
        ] {
            let list = [format!("Host: {host}")];
            let list: Vec<&str> = list.iter().map(String::as_str).collect();
            assert!(check_headers("GET", &h(&list), 0).is_ok(), "{host}");
        }
        assert!(check_headers("GET", &h(&["Connection: close, Upgrade"]), 0).is_ok());
        assert!(check_headers("POST", &h(&["Content-Length: 2"]), 2).is_ok());
        // List-based fields may repeat; GET may carry a body.
        assert!(check_headers("GET", &h(&["Accept: a", "Accept: b", "Cookie: x"]), 3).is_ok());
        for (method, list, body, what) in [
            ("GET", &["Host: a", "host: b"][..], 0, "Host"),
            ("POST", &["Content-Length: 3"], 2, "contradicts"),
            (
                "POST",
                &["Content-Length: 2", "Content-Length: 2"],
                2,
                "2 times",
            ),
            ("POST", &["Content-Length: +2"], 2, "contradicts"),
            ("POST", &["Transfer-Encoding: chunked"], 2, "never chunks"),
            ("GET", &["Transfer-Encoding: chunked"], 0, "never chunks"),
            (
                "POST",
                &["Transfer-Encoding: chunked", "Content-Length: 2"],
                2,
                "never chunks",
            ),
            ("TRACE", &[], 1, "no body"),
            ("CONNECT", &[], 0, "tunnel"),
            ("GET", &["Host:"], 0, "empty"),
            ("GET", &["Host: a b"], 0, "not a host[:port]"),
            ("GET", &["Host: a:99999"], 0, "not a host[:port]"),
            ("GET", &["Host: a:8x"], 0, "not a host[:port]"),
            ("GET", &["Host: a/b"], 0, "not a host[:port]"),
            ("GET", &["Host: [::1"], 0, "not a host[:port]"),
            ("GET", &["Host: [zz]:80"], 0, "not a host[:port]"),
            ("GET", &["Host: :80"], 0, "not a host[:port]"),
            (
                "GET",
                &["Connection: close", "Connection: keep-alive"],
                0,
                "both to close",
            ),
            (
                "GET",
                &["Connection: Keep-Alive, CLOSE"],
                0,
                "both to close",
            ),
            (
                "GET",
                &["Authorization: a", "authorization: b"],
                0,
                "2 times",
            ),
            (
                "POST",
                &["Content-Type: a", "Content-Type: b"],
                1,
                "2 times",
            ),
        ] {
            let e = check_headers(method, &h(list), body).unwrap_err();
            assert!(e.to_string().contains(what), "{list:?}: {e}");
        }
    }

    #[test]
    fn malformed_headers_are_refused() {
        assert_eq!(
            parse_header("X-A:  1 ").unwrap(),
            ("X-A".into(), "1".into())
        );
        for bad in [
            "novalue",
            ": v",
            "X A: 1",
            "X\u{e9}: 1",
            "X: a\rb",
            "X: a\nb",
            "X: a\0b",
        ] {
            assert!(parse_header(bad).is_err(), "{bad:?}");
        }
        // The credential in a malformed Authorization header is not repeated.
        let e = parse_header("Authorization Bearer s3cret").unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
        let e = parse_header("Authorization: s3cret\r\nX: y").unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }
}
