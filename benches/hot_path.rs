//! Micro-benchmarks of the per-request hot paths, sans-IO: the generator's
//! response framing (single and pipelined) and latency recording, the server's
//! request parsing (single and pipelined), and (once per run, for reference)
//! formatting a request.
//!
//! `cargo bench --bench hot_path`; figures go to BENCHMARKS.md.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use shared::stats::{layout::record_clamped, new_histogram};
use shared::wire::framing::{FramingLimits, ResponseFramer};
use shared::wire::request::{format_request, RequestSpec};
use shared::wire::server_request::{self, Limits};

/// The ceiling server's /plaintext response, as it arrives on the wire.
const PLAINTEXT: &[u8] = b"HTTP/1.1 200 OK\r\nServer: ceiling\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nDate: Mon, 23 Nov 2026 07:00:00 GMT\r\n\r\nHello, World!";

fn frame(f: &mut ResponseFramer, wire: &[u8], n: usize) -> usize {
    for _ in 0..n {
        f.expect(false);
    }
    let mut at = 0;
    let mut done = 0;
    while at < wire.len() {
        let p = f.feed(&wire[at..]).expect("valid stream");
        at += p.consumed;
        done += usize::from(p.completed.is_some());
    }
    done
}

fn framing(c: &mut Criterion) {
    let mut g = c.benchmark_group("framing");
    let mut f = ResponseFramer::new(FramingLimits::default());
    g.throughput(Throughput::Elements(1));
    g.bench_function("plaintext x1", |b| {
        b.iter(|| frame(&mut f, black_box(PLAINTEXT), 1))
    });
    let sixteen = PLAINTEXT.repeat(16);
    g.throughput(Throughput::Elements(16));
    g.bench_function("plaintext x16 pipelined", |b| {
        b.iter(|| frame(&mut f, black_box(&sixteen), 16))
    });
    let chunked =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nd\r\nHello, World!\r\n0\r\n\r\n";
    g.throughput(Throughput::Elements(1));
    g.bench_function("chunked x1", |b| {
        b.iter(|| frame(&mut f, black_box(chunked), 1))
    });
    g.finish();
}

fn recording(c: &mut Criterion) {
    let mut h = new_histogram();
    let mut v = 1u64;
    c.bench_function("histogram record", |b| {
        b.iter(|| {
            // A cheap varying value so the same bucket isn't hit every time.
            v = (v * 7 + 13) % 100_000;
            record_clamped(&mut h, black_box(v));
        })
    });
}

/// What wrk sends for /plaintext, as the server's parser sees it.
const WRK_GET: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
/// A browser-like request with the usual dozen headers.
const BROWSER_GET: &[u8] = b"GET /json?x=1 HTTP/1.1\r\nHost: example.test:8080\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/120.0\r\nAccept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\nCookie: a=1; b=2\r\nCache-Control: max-age=0\r\n\r\n";

fn parse_all(buf: &[u8], limits: &Limits) -> usize {
    let mut at = 0;
    let mut n = 0;
    while at < buf.len() {
        match server_request::parse(&buf[at..], limits) {
            server_request::Parsed::Complete(r) => {
                at += r.len;
                n += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    n
}

fn server_parsing(c: &mut Criterion) {
    let mut g = c.benchmark_group("server request parsing");
    let limits = Limits::default();
    g.throughput(Throughput::Elements(1));
    g.bench_function("wrk GET x1", |b| {
        b.iter(|| parse_all(black_box(WRK_GET), &limits))
    });
    g.bench_function("browser GET x1", |b| {
        b.iter(|| parse_all(black_box(BROWSER_GET), &limits))
    });
    let sixteen = WRK_GET.repeat(16);
    g.throughput(Throughput::Elements(16));
    g.bench_function("wrk GET x16 pipelined", |b| {
        b.iter(|| parse_all(black_box(&sixteen), &limits))
    });
    g.finish();
}

fn formatting(c: &mut Criterion) {
    let spec = RequestSpec {
        method: "GET".into(),
        target: "/plaintext".into(),
        host: "127.0.0.1:8080".into(),
        headers: vec![("Accept".into(), "*/*".into())],
        body: vec![],
    };
    c.bench_function("format request (once per run)", |b| {
        b.iter(|| format_request(black_box(&spec)))
    });
}

criterion_group!(benches, framing, recording, server_parsing, formatting);
criterion_main!(benches);
