//! Client side: format a request once into bytes before the run, so the hot path only
//! copies (or re-sends) a byte slice.

use std::fmt::Write as _;

/// What one request is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSpec {
    /// `GET`, `POST`, ... (sent as given, upper-cased by the caller).
    pub method: String,
    /// Origin-form target: path plus `?query`, never empty (`/` at least).
    pub target: String,
    /// Value of the Host header (`host` or `host:port` when the port is not the default).
    pub host: String,
    /// User headers in order. A user `Host`, `Content-Length`, `Connection` or
    /// `User-Agent` replaces the default of that name (case-insensitive).
    pub headers: Vec<(String, String)>,
    /// Request body; `Content-Length` is added when it is non-empty or the method
    /// is POST, PUT or PATCH.
    pub body: Vec<u8>,
}

/// Default headers a user header of the same name replaces.
const DEFAULTS: [&str; 3] = ["host", "user-agent", "content-length"];

/// Formats `spec` into the exact bytes sent on the wire.
pub fn format_request(spec: &RequestSpec) -> Vec<u8> {
    let has = |name: &str| {
        spec.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    let mut head = String::with_capacity(128);
    let target = if spec.target.is_empty() {
        "/"
    } else {
        &spec.target
    };
    // Writing to a String cannot fail.
    let _ = write!(head, "{} {} HTTP/1.1\r\n", spec.method, target);
    if !has(DEFAULTS[0]) {
        let _ = write!(head, "Host: {}\r\n", spec.host);
    }
    if !has(DEFAULTS[1]) {
        let _ = write!(
            head,
            "User-Agent: ceiling/{}\r\n",
            env!("CARGO_PKG_VERSION")
        );
    }
    let wants_length =
        !spec.body.is_empty() || matches!(spec.method.as_str(), "POST" | "PUT" | "PATCH");
    if wants_length && !has(DEFAULTS[2]) {
        let _ = write!(head, "Content-Length: {}\r\n", spec.body.len());
    }
    for (name, value) in &spec.headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&spec.body);
    bytes
}

/// True when the request `bytes` (one formatted request) asks the server to close
/// the connection after answering it: a `Connection` header with the `close`
/// option, or HTTP/1.0 without `keep-alive` (RFC 9112 §9.3, §9.6). Such a request
/// is the last one its connection may carry. Bytes that are not a request head
/// are not a close. Any number of header lines is read (a fixed array would
/// miss the close behind its last slot).
pub fn closes_connection(bytes: &[u8]) -> bool {
    // One slot per line of the head: never too few for httparse.
    let head = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(bytes, |end| &bytes[..end]);
    let lines = head.iter().filter(|&&b| b == b'\n').count() + 1;
    let mut headers = vec![httparse::EMPTY_HEADER; lines];
    let mut req = httparse::Request::new(&mut headers);
    if !matches!(req.parse(bytes), Ok(httparse::Status::Complete(_))) {
        return false;
    }
    let mut close = false;
    let mut keep_alive = false;
    for h in req.headers.iter() {
        if !h.name.eq_ignore_ascii_case("connection") {
            continue;
        }
        for option in h.value.split(|&b| b == b',') {
            let option = option.trim_ascii();
            close |= option.eq_ignore_ascii_case(b"close");
            keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
        }
    }
    close || (req.version == Some(0) && !keep_alive)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> RequestSpec {
        RequestSpec {
            method: "GET".into(),
            target: "/plaintext".into(),
            host: "127.0.0.1:8080".into(),
            headers: vec![],
            body: vec![],
        }
    }

    fn parse(bytes: &[u8]) -> (String, String, Vec<(String, String)>, usize) {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        let httparse::Status::Complete(n) = req.parse(bytes).unwrap() else {
            panic!("incomplete")
        };
        let hs = req
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8(h.value.to_vec()).unwrap(),
                )
            })
            .collect();
        (req.method.unwrap().into(), req.path.unwrap().into(), hs, n)
    }

    #[test]
    fn get_has_host_and_agent_and_no_length() {
        let bytes = format_request(&spec());
        let (m, p, hs, n) = parse(&bytes);
        assert_eq!((m.as_str(), p.as_str()), ("GET", "/plaintext"));
        assert_eq!(n, bytes.len());
        assert!(hs.iter().any(|(k, v)| k == "Host" && v == "127.0.0.1:8080"));
        assert!(hs.iter().any(|(k, _)| k == "User-Agent"));
        assert!(!hs.iter().any(|(k, _)| k == "Content-Length"));
    }

    #[test]
    fn body_gets_length_and_follows_head() {
        let mut s = spec();
        s.method = "POST".into();
        s.body = b"hello".to_vec();
        let bytes = format_request(&s);
        let (_, _, hs, n) = parse(&bytes);
        assert!(hs.iter().any(|(k, v)| k == "Content-Length" && v == "5"));
        assert_eq!(&bytes[n..], b"hello");
    }

    #[test]
    fn empty_post_says_length_zero() {
        let mut s = spec();
        s.method = "POST".into();
        let (_, _, hs, _) = parse(&format_request(&s));
        assert!(hs.iter().any(|(k, v)| k == "Content-Length" && v == "0"));
    }

    #[test]
    fn user_headers_replace_defaults_case_insensitively() {
        let mut s = spec();
        s.headers = vec![
            ("host".into(), "example.test".into()),
            ("user-agent".into(), "wrk".into()),
            ("X-Trace".into(), "1".into()),
        ];
        let (_, _, hs, _) = parse(&format_request(&s));
        let hosts: Vec<_> = hs
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("host"))
            .collect();
        assert_eq!(hosts.len(), 1);
        assert_eq!(hosts[0].1, "example.test");
        assert_eq!(
            hs.iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case("user-agent"))
                .count(),
            1
        );
        assert!(hs.iter().any(|(k, v)| k == "X-Trace" && v == "1"));
    }

    #[test]
    fn empty_target_becomes_root() {
        let mut s = spec();
        s.target.clear();
        let (_, p, _, _) = parse(&format_request(&s));
        assert_eq!(p, "/");
    }

    #[test]
    fn close_is_read_from_the_request_bytes() {
        let with = |version: &str, headers: &[(&str, &str)]| {
            let mut s = spec();
            s.headers = headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            let bytes = format_request(&s);
            let text = String::from_utf8(bytes).unwrap();
            text.replacen("HTTP/1.1", version, 1).into_bytes()
        };
        assert!(!closes_connection(&with("HTTP/1.1", &[])));
        assert!(closes_connection(&with(
            "HTTP/1.1",
            &[("Connection", "close")]
        )));
        assert!(closes_connection(&with(
            "HTTP/1.1",
            &[("connection", "Keep-Alive, CLOSE")]
        )));
        assert!(!closes_connection(&with(
            "HTTP/1.1",
            &[("Connection", "keep-alive")]
        )));
        assert!(!closes_connection(&with(
            "HTTP/1.1",
            &[("X-Connection", "close")]
        )));
        assert!(closes_connection(&with("HTTP/1.0", &[])));
        assert!(!closes_connection(&with(
            "HTTP/1.0",
            &[("Connection", "keep-alive")]
        )));
        assert!(!closes_connection(b"not a request"));
        // Beyond any fixed header array: 70 headers, the close last or first.
        let many: Vec<(String, String)> =
            (0..70).map(|i| (format!("X-H{i}"), "v".into())).collect();
        let mut last: Vec<(&str, &str)> = many.iter().map(|(n, v)| (&**n, &**v)).collect();
        last.push(("Connection", "close"));
        assert!(closes_connection(&with("HTTP/1.1", &last)));
        last.rotate_right(1);
        assert!(closes_connection(&with("HTTP/1.1", &last)));
        assert!(closes_connection(&with("HTTP/1.0", &last[1..])));
        assert!(!closes_connection(&with("HTTP/1.1", &last[1..])));
    }
}
