//! Cost of one plaintext request through the sans-IO HTTP connection: parse the head,
//! route, write the response into the connection's buffer, drain it. No sockets.
#![allow(missing_docs)] // criterion_group! generates an undocumented `pub fn benches`.

use std::hint::black_box;
use std::time::{Instant, SystemTime};

use boomerang_http::request::parse_head;
use boomerang_http::{BlockingPool, HttpConnection, HttpService, HttpWorker, Router, ServerConfig};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// The request wrk sends for `wrk http://host:port/plaintext`.
const WRK_REQUEST: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
/// A browser-like request with more header fields.
const BROWSER_REQUEST: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\nAccept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\nConnection: keep-alive\r\nUpgrade-Insecure-Requests: 1\r\n\r\n";

fn bench(c: &mut Criterion) {
    let service =
        HttpService::new(ServerConfig::default(), Router::with_builtin_routes()).expect("service");
    let pool = BlockingPool::new(1, 16).expect("pool");
    let mut ctx = HttpWorker::new(&service, &pool, Box::new(|| {}), SystemTime::now());
    let now = Instant::now();
    let mut conn = HttpConnection::new(&mut ctx, 1, now);

    let mut g = c.benchmark_group("http");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_head/wrk", |b| {
        let cfg = ServerConfig::default();
        b.iter(|| black_box(parse_head(black_box(WRK_REQUEST), &cfg)))
    });
    g.bench_function("parse_head/browser", |b| {
        let cfg = ServerConfig::default();
        b.iter(|| black_box(parse_head(black_box(BROWSER_REQUEST), &cfg)))
    });
    for (name, req) in [
        ("request_response/wrk", WRK_REQUEST),
        ("request_response/browser", BROWSER_REQUEST),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                conn.on_recv(&mut ctx, black_box(req), now);
                let n = conn.pending_output().len();
                black_box(conn.pending_output());
                conn.consume_output(&mut ctx, n, now);
                n
            })
        });
    }
    // 16 pipelined requests arriving in one segment, answered in one buffer.
    let pipelined: Vec<u8> = WRK_REQUEST.repeat(16);
    g.throughput(Throughput::Elements(16));
    g.bench_function("request_response/wrk_pipelined16", |b| {
        b.iter(|| {
            conn.on_recv(&mut ctx, black_box(&pipelined), now);
            let n = conn.pending_output().len();
            black_box(conn.pending_output());
            conn.consume_output(&mut ctx, n, now);
            n
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
