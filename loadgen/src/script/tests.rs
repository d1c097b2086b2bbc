//! The Lua binding with no sockets.
use super::*;

pub(crate) fn start(text: &str, args: &[&str]) -> Start {
    let url = url::Url::parse("http://127.0.0.1:8080/base?q=1").unwrap();
    start_of(
        ScriptSource {
            name: "t.lua".into(),
            text: text.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
        },
        &url,
        "GET",
        &[],
        b"",
        "127.0.0.1:8080".parse().unwrap(),
    )
}
