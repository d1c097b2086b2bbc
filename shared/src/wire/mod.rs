//! Sans-IO HTTP/1.1: byte slices in, decisions out. No runtime types, no clock,
//! no allocation per request.

pub mod date;
pub mod framing;
pub mod request;
pub mod server_request;
