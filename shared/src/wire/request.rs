//! Client side: format a request once into bytes before the run.
//! (Interface fixed; body filled in by the wire work.)

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

/// Formats `spec` into the exact bytes sent on the wire.
pub fn format_request(spec: &RequestSpec) -> Vec<u8> {
    let _ = spec;
    todo!("wire work fills this in")
}
