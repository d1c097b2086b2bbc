//! The Lua binding with no sockets.
use super::*;
use crate::hooks::MakeHooks;
use crate::worker::core::Hooked;
use shared::wire::framing::Completed;

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

fn prepared(text: &str) -> LuaPlan {
    prepare(start(text, &[]), 2).unwrap()
}

fn hooks(p: LuaPlan) -> Box<dyn Hooks> {
    LuaShared(Arc::new(p)).hooks(0, 0, 2).expect("hooks")
}

fn text(out: &[u8]) -> String {
    String::from_utf8(out.to_vec()).unwrap()
}

#[test]
fn the_wrk_table_starts_from_the_url_and_flags() {
    let p = prepared(
        r#"assert(wrk.scheme == "http" and wrk.host == "127.0.0.1" and wrk.port == "8080")
           assert(wrk.path == "/base?q=1" and wrk.method == "GET" and wrk.body == nil)
           assert(wrk.headers["Host"] == "127.0.0.1:8080")"#,
    );
    let r = text(p.static_request.as_ref().unwrap());
    assert_eq!(r, "GET /base?q=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n");
}

#[test]
fn a_static_script_needs_no_hooks() {
    let p = prepared("wrk.method = 'PUT'\nwrk.body = 'abc'\nwrk.headers['X-A'] = '1'\n");
    assert!(!p.defined.request);
    let r = text(p.static_request.as_ref().unwrap());
    assert!(r.starts_with("PUT /base?q=1 HTTP/1.1\r\n"), "{r}");
    assert!(
        r.contains("\r\nX-A: 1\r\n") && r.contains("\r\nContent-Length: 3\r\n"),
        "{r}"
    );
    assert!(r.ends_with("\r\n\r\nabc"), "{r}");
    assert!(LuaShared(Arc::new(p)).hooks(0, 0, 1).is_none());
}

#[test]
fn format_fills_host_and_content_length_like_wrk() {
    let p = prepared(
        r#"function request()
             local h = {}
             local r = wrk.format("POST", "/x", h, "hello")
             assert(h["Host"] == "127.0.0.1:8080" and h["Content-Length"] == 5)
             return r
           end"#,
    );
    let mut h = hooks(p);
    let mut out = Vec::new();
    assert_eq!(h.request(0, 0, &mut out), Hooked::Written);
    let r = text(&out);
    assert!(
        r.starts_with("POST /x HTTP/1.1\r\n") && r.ends_with("\r\n\r\nhello"),
        "{r}"
    );
}

#[test]
fn request_errors_and_non_strings_are_script_errors_that_stop_the_thread() {
    for src in [
        "function request() return 42 end",
        "function request() error('boom') end",
    ] {
        let mut h = hooks(prepared(src));
        let mut out = Vec::new();
        assert_eq!(h.request(0, 0, &mut out), Hooked::Failed);
        assert!(out.is_empty());
        assert_eq!(h.script_errors(), 1);
        assert!(h.stopped());
    }
}

#[test]
fn response_gets_status_headers_and_a_dechunked_body() {
    let p = prepared(
        r#"seen = ""
           function response(status, headers, body)
             seen = status .. "|" .. headers["X-A"] .. "|" .. body
             if status == 201 and body ~= "abcde" then error("not de-chunked: " .. body) end
             if body == "bad" then error("bad body") end
           end"#,
    );
    let mut h = hooks(p);
    let wire = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nX-A: v\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    h.received(1, wire);
    let head = wire.len() - b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n".len();
    let done = Completed {
        status: 201,
        keep_alive: true,
        head_bytes: head as u64,
        body_bytes: (wire.len() - head) as u64,
        interim: 1,
    };
    h.response(1, &done);
    assert_eq!(h.script_errors(), 0);
    let bad = b"HTTP/1.1 200 OK\r\nX-A: w\r\nContent-Length: 3\r\n\r\nbad";
    h.received(1, bad);
    h.response(
        1,
        &Completed {
            status: 200,
            keep_alive: true,
            head_bytes: (bad.len() - 3) as u64,
            body_bytes: 3,
            interim: 0,
        },
    );
    assert_eq!(h.script_errors(), 1);
}

#[test]
fn delay_holds_each_request() {
    let mut h = hooks(prepared("function delay() return 50 end"));
    let t0 = std::time::Instant::now();
    let at = h.hold(0, t0).expect("held");
    assert_eq!(at - t0, std::time::Duration::from_millis(50));
    assert_eq!(
        h.hold(0, t0 + std::time::Duration::from_millis(10)),
        Some(at)
    );
    assert_eq!(h.hold(0, at), None, "due: it goes");
    assert!(
        h.hold(0, at).is_some(),
        "the next request asks delay() again"
    );
}

#[test]
fn init_args_hold_the_url_at_0_as_in_wrk() {
    let p = prepare(
        start(
            "function init(args)\n  assert(args[0] == 'http://127.0.0.1:8080/base?q=1', tostring(args[0]))\n  assert(#args == 2 and args[1] == 'a' and args[2] == 'b')\nend\n",
            &["a", "b"],
        ),
        1,
    );
    assert!(p.is_ok(), "{:?}", p.err());
}

#[test]
fn type_errors_read_an_integer() {
    let mut h = hooks(prepared("function request() return 42 end"));
    let mut out = Vec::new();
    assert_eq!(h.request(0, 0, &mut out), Hooked::Failed);
    assert_eq!(lua::article("integer"), "an");
    assert_eq!(lua::article("table"), "a");
}

#[test]
fn load_errors_name_the_line() {
    for (src, want) in [
        ("x = = 1", "t.lua:1:"),
        ("\nerror('top')", "t.lua:2: top"),
        (
            "function setup(t) t.addr = '10.1.1.1:80' end",
            "thread.addr",
        ),
        (
            "function init(a) error('no init') end",
            "init(): t.lua:1: no init",
        ),
        ("while true do end", "endless loop"),
        // The endless loop's own place, as other load errors name it.
        (
            "local a = 0\nwhile true do a = a + 1 end",
            "t.lua:2: the script ran",
        ),
    ] {
        let e = prepare(start(src, &[]), 1).unwrap_err().to_string();
        assert!(e.contains(want), "{src}: {e}");
    }
}

#[test]
fn setup_values_travel_and_thread_get_reads_them() {
    let p = prepared(
        r#"local n = 0
           function setup(t) n = n + 1; t:set("id", n); assert(t:get("id") == n); assert(t.addr == "127.0.0.1:8080") end
           function request() return wrk.format(nil, "/" .. id) end"#,
    );
    assert_eq!(p.setup_values[1].get("id"), Some(&Carry::Num(2.0)));
    let mut h = LuaShared(Arc::new(p)).hooks(1, 0, 1).unwrap();
    let mut out = Vec::new();
    h.request(0, 0, &mut out);
    assert!(text(&out).starts_with("GET /2 "));
}

#[test]
fn lookup_and_connect() {
    let p = prepared(
        r#"local a = wrk.lookup("127.0.0.1", "8080")
           assert(a[1] == "127.0.0.1:8080")
           assert(wrk.connect("127.0.0.1:1") == false)"#,
    );
    assert!(p.static_request.is_some());
}

#[test]
fn request_percentiles_pick_as_wrk_stats_percentile() {
    // rank = round(p/100 * n + 0.5), 1-based (wrk's src/stats.c).
    let v = [1061.0, 1270.0];
    assert_eq!(percentile_of_sorted(&v, 50.0), 1270.0);
    assert_eq!(percentile_of_sorted(&v, 0.0), 1061.0);
    let v = [1.0, 2.0, 3.0, 4.0];
    assert_eq!(percentile_of_sorted(&v, 25.0), 2.0);
    assert_eq!(percentile_of_sorted(&v, 40.0), 2.0);
    assert_eq!(percentile_of_sorted(&v, 50.0), 3.0);
    assert_eq!(percentile_of_sorted(&v, 100.0), 4.0);
    // 1..=10 at p 6: rank round(1.1) = 1, the first (an (n-1)-based pick,
    // round(0.06 * 9) + 1, would say the second).
    let v: Vec<f64> = (1..=10).map(f64::from).collect();
    assert_eq!(percentile_of_sorted(&v, 6.0), 1.0);
    assert_eq!(percentile_of_sorted(&v, 95.0), 10.0);
    assert_eq!(percentile_of_sorted(&[], 50.0), 0.0);
}
