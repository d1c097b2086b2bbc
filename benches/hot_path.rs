//! Micro-benchmarks of the generator's per-request hot path, sans-IO: framing
//! responses (single and pipelined), recording a latency, and (once per run, for
//! reference) formatting a request.
//!
//! `cargo bench --bench hot_path`; figures go to BENCHMARKS.md.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use shared::stats::{layout::record_clamped, new_histogram};
use shared::wire::framing::{FramingLimits, ResponseFramer};
use shared::wire::request::{format_request, RequestSpec};

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

criterion_group!(benches, framing, recording, formatting);
criterion_main!(benches);
