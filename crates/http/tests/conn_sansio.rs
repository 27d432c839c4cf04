//! The connection state machine driven without sockets: exact bytes in, exact responses
//! out, simulated time. This is how any transport (kernel or userspace stack) drives it.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use boomerang_http::{
    BlockingPool, ConnAction, HttpConnection, HttpService, HttpWorker, Request, Response, Router,
    ServerConfig,
};
use common::{parse_all, parse_response, pattern, TempDir};

struct Harness {
    ctx: HttpWorker,
    conn: HttpConnection,
    now: Instant,
    sent: Vec<u8>,
    _pool: BlockingPool,
}

impl Harness {
    fn new(config: ServerConfig) -> Self {
        Self::with_router(config, Router::with_builtin_routes())
    }

    fn with_router(config: ServerConfig, router: Router) -> Self {
        let service = HttpService::new(config, router).unwrap();
        let pool = BlockingPool::new(1, 16).unwrap();
        let mut ctx = HttpWorker::new(&service, &pool, Box::new(|| {}), SystemTime::now());
        let now = Instant::now();
        let conn = HttpConnection::new(&mut ctx, 7, now);
        Self {
            ctx,
            conn,
            now,
            sent: Vec::new(),
            _pool: pool,
        }
    }

    fn recv(&mut self, data: &[u8]) {
        self.conn.on_recv(&mut self.ctx, data, self.now);
    }

    /// Sends everything pending (as a transport with an infinitely fast peer would).
    fn flush(&mut self) {
        loop {
            let n = self.conn.pending_output().len();
            if n == 0 {
                break;
            }
            self.sent.extend_from_slice(self.conn.pending_output());
            self.conn.consume_output(&mut self.ctx, n, self.now);
        }
    }

    /// Delivers blocking-pool completions until the connection waits for none (bounded).
    fn pump_pool(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.flush();
            if !self.conn.awaiting_completion() {
                break;
            }
            match self.ctx.pop_completion() {
                Some(c) => {
                    assert_eq!(c.conn_id(), 7);
                    self.conn.on_completion(&mut self.ctx, c, self.now);
                }
                None => std::thread::sleep(Duration::from_millis(1)),
            }
            assert!(Instant::now() < deadline, "pool did not answer");
        }
    }

    fn take(&mut self) -> Vec<u8> {
        self.flush();
        std::mem::take(&mut self.sent)
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        if self
            .conn
            .poll_timeout(&self.ctx)
            .is_some_and(|t| t <= self.now)
        {
            self.conn.on_timeout(&mut self.ctx, self.now);
        }
    }
}

const GET_PLAIN: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n";

#[test]
fn pipelined_requests_answered_in_order() {
    let mut h = Harness::new(ServerConfig::default());
    let mut req = Vec::new();
    req.extend_from_slice(GET_PLAIN);
    req.extend_from_slice(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    req.extend_from_slice(b"HEAD /plaintext HTTP/1.1\r\nHost: x\r\n\r\n");
    h.recv(&req);
    let out = h.take();
    let first = parse_response(&out, false).unwrap();
    assert_eq!(first.status, 200);
    assert_eq!(first.body, b"Hello, World!");
    assert_eq!(first.header("content-type"), Some("text/plain"));
    assert_eq!(first.header("server"), Some("boomerang"));
    assert_eq!(first.header("date").map(str::len), Some(29));
    let second = parse_response(&out[first.len..], false).unwrap();
    assert_eq!(second.body, b"abc");
    let third = parse_response(&out[first.len + second.len..], true).unwrap();
    assert_eq!(third.header("content-length"), Some("13"));
    assert_eq!(
        first.len + second.len + third.len,
        out.len(),
        "HEAD has no body"
    );
    assert_eq!(h.conn.action(), ConnAction::Open);
}

#[test]
fn byte_at_a_time() {
    let mut h = Harness::new(ServerConfig::default());
    let req = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n5;x=y\r\npedia\r\n0\r\nT: 1\r\n\r\n";
    for b in req.iter() {
        h.recv(std::slice::from_ref(b));
    }
    let out = h.take();
    let r = parse_response(&out, false).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.body, b"wikipedia");
    assert_eq!(r.len, out.len());
}

#[test]
fn connection_close_then_lingering_close() {
    let mut h = Harness::new(ServerConfig::default());
    h.recv(b"GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /plaintext HTTP/1.1\r\n");
    assert_eq!(h.conn.action(), ConnAction::Open, "output not sent yet");
    let out = h.take();
    let rs = parse_all(&out);
    assert_eq!(rs.len(), 1, "nothing after Connection: close");
    assert_eq!(rs[0].header("connection"), Some("close"));
    assert_eq!(h.conn.action(), ConnAction::ShutdownWrite);
    h.conn.on_write_shutdown(&mut h.ctx, h.now);
    assert!(h.conn.wants_read(), "lingering close drains input");
    h.recv(b"more junk the client sent");
    assert_eq!(h.conn.action(), ConnAction::Open);
    h.conn.on_eof(&mut h.ctx, h.now);
    assert_eq!(h.conn.action(), ConnAction::Close);
}

#[test]
fn lingering_close_ends_at_deadline() {
    let cfg = ServerConfig {
        linger_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let mut h = Harness::new(cfg);
    h.recv(b"GET /plaintext HTTP/1.0\r\n\r\n");
    h.take();
    assert_eq!(h.conn.action(), ConnAction::ShutdownWrite);
    h.conn.on_write_shutdown(&mut h.ctx, h.now);
    h.advance(Duration::from_millis(299));
    assert_eq!(h.conn.action(), ConnAction::Open);
    h.advance(Duration::from_millis(2));
    assert_eq!(h.conn.action(), ConnAction::Close);
}

#[test]
fn http10_keep_alive() {
    let mut h = Harness::new(ServerConfig::default());
    h.recv(b"GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = parse_response(&h.take(), false).unwrap();
    assert_eq!(r.header("connection"), Some("keep-alive"));
    assert_eq!(h.conn.action(), ConnAction::Open);
}

#[test]
fn smuggling_attempt_is_400_and_close() {
    let mut h = Harness::new(ServerConfig::default());
    h.recv(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    let out = h.take();
    let rs = parse_all(&out);
    assert_eq!(rs.len(), 1, "the smuggled request must not be answered");
    assert_eq!(rs[0].status, 400);
    assert_eq!(rs[0].header("connection"), Some("close"));
    assert_eq!(h.conn.action(), ConnAction::ShutdownWrite);
}

#[test]
fn hostile_heads_get_their_status() {
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000));
    let big_head = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
        "b".repeat(17_000)
    );
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (b"GET / HTTP/1.1\nHost: x\n\n".to_vec(), 400),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n c\r\n\r\n".to_vec(),
            400,
        ),
        (b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 501),
        (b"GET / HTTP/3.0\r\nHost: x\r\n\r\n".to_vec(), 505),
        (long_uri.into_bytes(), 414),
        (big_head.into_bytes(), 431),
        (
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
                .to_vec(),
            400,
        ),
        (
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n".to_vec(),
            413,
        ),
        (
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
            400,
        ),
        (
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n".to_vec(),
            501,
        ),
        (
            b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: coffee\r\n\r\n".to_vec(),
            417,
        ),
        (b"GET / HTTP/1.1\r\n\r\n".to_vec(), 400),
        (b"\x00\x01\x02 garbage\r\n\r\n".to_vec(), 400),
    ];
    for (req, status) in cases {
        let mut h = Harness::new(ServerConfig::default());
        h.recv(&req);
        let out = h.take();
        let r = parse_response(&out, false)
            .unwrap_or_else(|| panic!("no response to {:?}", String::from_utf8_lossy(&req)));
        assert_eq!(
            r.status,
            status,
            "{:?}",
            String::from_utf8_lossy(&req[..req.len().min(60)])
        );
        assert_eq!(r.header("connection"), Some("close"));
        assert_eq!(h.conn.action(), ConnAction::ShutdownWrite);
    }
}

#[test]
fn chunked_body_over_limit_is_413() {
    let cfg = ServerConfig {
        max_body_bytes: 10,
        ..Default::default()
    };
    let mut h = Harness::new(cfg);
    h.recv(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n");
    let r = parse_response(&h.take(), false).unwrap();
    assert_eq!(r.status, 413);
}

#[test]
fn expect_100_continue() {
    let mut h = Harness::new(ServerConfig::default());
    h.recv(b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    let interim = h.take();
    assert_eq!(interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    h.recv(b"hello");
    let r = parse_response(&h.take(), false).unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
}

#[test]
fn wrong_method_is_405_with_allow() {
    let mut h = Harness::new(ServerConfig::default());
    h.recv(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\nDELETE /plaintext HTTP/1.1\r\nHost: x\r\n\r\n");
    let rs = parse_all(&h.take());
    assert_eq!(rs.len(), 2);
    assert_eq!((rs[0].status, rs[0].header("allow")), (405, Some("POST")));
    assert_eq!(
        (rs[1].status, rs[1].header("allow")),
        (405, Some("GET, HEAD"))
    );
    assert_eq!(
        h.conn.action(),
        ConnAction::Open,
        "405 keeps the connection"
    );
}

#[test]
fn slowloris_head_times_out_with_408() {
    let cfg = ServerConfig {
        header_read_timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let mut h = Harness::new(cfg);
    h.recv(b"GET /plaintext HTTP/1.1\r\n");
    for _ in 0..19 {
        h.advance(Duration::from_millis(100));
        h.recv(b"X-Drip: 1\r\n");
    }
    assert!(h.take().is_empty());
    h.advance(Duration::from_millis(101));
    let r = parse_response(&h.take(), false).unwrap();
    assert_eq!(r.status, 408);
    assert_eq!(h.conn.action(), ConnAction::ShutdownWrite);
}

#[test]
fn slow_body_times_out() {
    let cfg = ServerConfig {
        body_read_timeout: Duration::from_secs(1),
        ..Default::default()
    };
    let mut h = Harness::new(cfg);
    h.recv(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab");
    h.advance(Duration::from_millis(900));
    h.recv(b"cd");
    h.advance(Duration::from_millis(900));
    assert!(h.take().is_empty(), "progress resets the body timer");
    h.advance(Duration::from_millis(200));
    assert_eq!(parse_response(&h.take(), false).unwrap().status, 408);
}

#[test]
fn idle_keep_alive_closes() {
    let cfg = ServerConfig {
        keep_alive_timeout: Duration::from_secs(1),
        ..Default::default()
    };
    let mut h = Harness::new(cfg);
    h.recv(GET_PLAIN);
    h.take();
    h.advance(Duration::from_millis(999));
    assert_eq!(h.conn.action(), ConnAction::Open);
    h.advance(Duration::from_millis(2));
    assert_eq!(h.conn.action(), ConnAction::Close);
}

#[test]
fn peer_eof_after_requests_still_answers() {
    let mut h = Harness::new(ServerConfig::default());
    h.recv(GET_PLAIN);
    h.recv(GET_PLAIN);
    h.conn.on_eof(&mut h.ctx, h.now);
    let rs = parse_all(&h.take());
    assert_eq!(rs.len(), 2);
    assert_eq!(h.conn.action(), ConnAction::Close);
}

#[test]
fn backpressure_stops_reading_and_resumes() {
    let cfg = ServerConfig {
        output_high_water: 1000,
        output_low_water: 500,
        ..Default::default()
    };
    let mut h = Harness::new(cfg);
    let many: Vec<u8> = GET_PLAIN.repeat(100);
    h.recv(&many);
    assert!(!h.conn.wants_read(), "over the high-water mark");
    let pending = h.conn.pending_output().len();
    assert!(
        pending > 1000 && pending < 1500,
        "parsing paused near the mark: {pending}"
    );
    let out = h.take();
    assert_eq!(parse_all(&out).len(), 100, "all answered once drained");
    assert!(h.conn.wants_read());
}

#[test]
fn metrics_route_reports_counters() {
    let mut h = Harness::new(ServerConfig::default());
    h.recv(GET_PLAIN);
    h.recv(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    let rs = parse_all(&h.take());
    let text = String::from_utf8(rs[1].body.clone()).unwrap();
    assert!(
        text.contains("boomerang_http_responses_total{code=\"200\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE boomerang_http_request_duration_seconds summary"),
        "{text}"
    );
}

#[test]
fn extra_metrics_source_is_appended() {
    let mut router = Router::with_builtin_routes();
    router.set_metrics_source(Arc::new(|out: &mut String| {
        out.push_str("boomerang_nic_rx_packets_total 42\n")
    }));
    let mut h = Harness::with_router(ServerConfig::default(), router);
    h.recv(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = parse_response(&h.take(), false).unwrap();
    assert!(String::from_utf8_lossy(&r.body).contains("boomerang_nic_rx_packets_total 42\n"));
}

#[test]
fn user_handlers_inline_and_blocking() {
    let mut router = Router::with_builtin_routes();
    router.route(
        "/hello",
        Arc::new(|req: &Request| {
            Response::text(format!(
                "hi {}",
                String::from_utf8_lossy(req.header("x-name").unwrap_or(b"?"))
            ))
        }),
    );
    router.route_blocking(
        "/slow",
        Arc::new(|req: &Request| {
            std::thread::sleep(Duration::from_millis(50));
            Response::text(req.body().to_vec()).with_status(http::StatusCode::CREATED)
        }),
    );
    let mut h = Harness::with_router(ServerConfig::default(), router);
    h.recv(b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nokGET /hello HTTP/1.1\r\nHost: x\r\nX-Name: bob\r\n\r\n");
    assert!(
        h.conn.pending_output().is_empty(),
        "second request waits behind the blocking one"
    );
    h.pump_pool();
    let rs = parse_all(&h.take());
    assert_eq!(rs.len(), 2);
    assert_eq!((rs[0].status, rs[0].body.as_slice()), (201, &b"ok"[..]));
    assert_eq!(rs[1].body, b"hi bob");
}

#[test]
fn static_files_through_the_pool_with_cache() {
    static_files_through_the_pool(true);
}

#[test]
fn static_files_through_the_pool_without_cache() {
    static_files_through_the_pool(false);
}

fn static_files_through_the_pool(cache: bool) {
    let dir = TempDir::new("sansio");
    let data = pattern(700_000, 3);
    std::fs::write(dir.path().join("blob.bin"), &data).unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/index.html"), b"<p>hi</p>").unwrap();
    let cfg = ServerConfig {
        root: Some(dir.path().to_path_buf()),
        file_chunk_bytes: 100_000,
        static_cache_bytes: if cache { 1 << 20 } else { 0 },
        ..Default::default()
    };
    let mut h = Harness::new(cfg);

    h.recv(b"GET /blob.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    h.pump_pool();
    let out = h.take();
    let r = parse_response(&out, false).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert!(r.body == data, "byte-exact body over several chunks");
    let etag = r.header("etag").unwrap().to_string();

    h.recv(
        format!("GET /blob.bin HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\n\r\n").as_bytes(),
    );
    h.pump_pool();
    assert_eq!(parse_response(&h.take(), false).unwrap().status, 304);

    h.recv(b"GET /blob.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=10-19\r\n\r\n");
    h.pump_pool();
    let r = parse_response(&h.take(), false).unwrap();
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 10-19/700000"));
    assert_eq!(r.body, &data[10..20]);

    h.recv(b"GET /blob.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=800000-\r\n\r\n");
    h.pump_pool();
    assert_eq!(parse_response(&h.take(), false).unwrap().status, 416);

    h.recv(b"GET /sub HTTP/1.1\r\nHost: x\r\n\r\n");
    h.pump_pool();
    let r = parse_response(&h.take(), false).unwrap();
    assert_eq!((r.status, r.header("location")), (301, Some("/sub/")));

    h.recv(b"GET /sub/ HTTP/1.1\r\nHost: x\r\n\r\n");
    h.pump_pool();
    let r = parse_response(&h.take(), false).unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"<p>hi</p>"[..]));
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));

    for (target, status) in [
        ("/nope", 404),
        ("/../../../../etc/passwd", 404),
        ("/%2e%2e/%2e%2e/etc/hostname", 404),
    ] {
        h.recv(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        h.pump_pool();
        assert_eq!(
            parse_response(&h.take(), false).unwrap().status,
            status,
            "{target}"
        );
    }
    h.recv(b"PUT /blob.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx");
    assert_eq!(parse_response(&h.take(), false).unwrap().status, 405);
}

#[test]
fn symlink_out_of_root_is_403() {
    let outside = TempDir::new("outside");
    std::fs::write(outside.path().join("secret"), b"s").unwrap();
    let dir = TempDir::new("root");
    std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("link")).unwrap();
    let cfg = ServerConfig {
        root: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let mut h = Harness::new(cfg);
    h.recv(b"GET /link HTTP/1.1\r\nHost: x\r\n\r\n");
    h.pump_pool();
    assert_eq!(parse_response(&h.take(), false).unwrap().status, 403);
}

#[test]
fn static_cache_answers_inline_until_ttl() {
    let dir = TempDir::new("cache");
    let file = dir.path().join("a.txt");
    std::fs::write(&file, b"version one").unwrap();
    let cfg = ServerConfig {
        root: Some(dir.path().to_path_buf()),
        static_cache_ttl: Duration::from_millis(300),
        ..Default::default()
    };
    let mut h = Harness::new(cfg);
    let get = b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n";
    h.recv(get);
    assert!(
        h.conn.awaiting_completion(),
        "first request goes to the pool"
    );
    h.pump_pool();
    assert_eq!(
        parse_response(&h.take(), false).unwrap().body,
        b"version one"
    );

    h.now = Instant::now();
    h.recv(get);
    assert!(!h.conn.awaiting_completion(), "cached: answered inline");
    let r = parse_response(&h.take(), false).unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"version one"[..]));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    let etag = r.header("etag").unwrap().to_string();
    h.recv(format!("GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\n\r\n").as_bytes());
    assert_eq!(parse_response(&h.take(), false).unwrap().status, 304);
    h.recv(b"GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=-3\r\n\r\n");
    let r = parse_response(&h.take(), false).unwrap();
    assert_eq!((r.status, r.body.as_slice()), (206, &b"one"[..]));

    std::fs::write(&file, b"version two, longer").unwrap();
    std::thread::sleep(Duration::from_millis(350));
    h.now = Instant::now();
    h.recv(get);
    assert!(
        h.conn.awaiting_completion(),
        "expired entry: back to the pool"
    );
    h.pump_pool();
    assert_eq!(
        parse_response(&h.take(), false).unwrap().body,
        b"version two, longer"
    );
}

#[test]
fn peer_that_never_reads_is_cut_off_by_write_timeout() {
    let cfg = ServerConfig {
        write_timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let mut h = Harness::new(cfg);
    h.recv(GET_PLAIN);
    assert!(!h.conn.pending_output().is_empty());
    h.advance(Duration::from_millis(1500));
    // Partial progress resets the write timer.
    h.conn.consume_output(&mut h.ctx, 10, h.now);
    h.advance(Duration::from_millis(1500));
    assert_eq!(h.conn.action(), ConnAction::Open);
    h.advance(Duration::from_millis(600));
    assert_eq!(h.conn.action(), ConnAction::Close);
}

#[test]
fn graceful_stop_closes_after_the_pending_response() {
    let mut h = Harness::new(ServerConfig::default());
    h.recv(GET_PLAIN);
    assert!(!h.conn.pending_output().is_empty());
    h.conn.begin_shutdown(&mut h.ctx);
    assert_eq!(
        h.conn.action(),
        ConnAction::Open,
        "pending response still goes out"
    );
    h.take();
    assert_eq!(h.conn.action(), ConnAction::ShutdownWrite);

    let mut h = Harness::new(ServerConfig::default());
    h.conn.begin_shutdown(&mut h.ctx);
    assert_eq!(
        h.conn.action(),
        ConnAction::Close,
        "idle connection closes at once"
    );

    let mut h = Harness::new(ServerConfig::default());
    h.recv(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n");
    h.conn.begin_shutdown(&mut h.ctx);
    h.recv(b"\r\n");
    let r = parse_response(&h.take(), false).unwrap();
    assert_eq!(
        r.header("connection"),
        Some("close"),
        "request in progress is answered, then close"
    );
    assert_eq!(h.conn.action(), ConnAction::ShutdownWrite);
}

#[test]
fn cached_bodies_are_queued_in_order_with_other_responses() {
    let dir = TempDir::new("shared");
    let data = pattern(200_000, 21);
    std::fs::write(dir.path().join("b.bin"), &data).unwrap();
    let cfg = ServerConfig {
        root: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let mut h = Harness::new(cfg);
    h.recv(b"GET /b.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    h.pump_pool();
    assert!(parse_response(&h.take(), false).unwrap().body == data);

    // Warm cache: three pipelined requests answered inline, large bodies by reference.
    h.recv(
        b"GET /b.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: x\r\n\r\nGET /b.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=100-50099\r\n\r\n",
    );
    assert!(!h.conn.awaiting_completion());
    let total = h.conn.pending_len();
    assert!(total > 250_000);
    // Drain in odd-sized steps across piece boundaries.
    let mut out = Vec::new();
    while h.conn.pending_len() > 0 {
        let n = h.conn.pending_output().len().min(777);
        out.extend_from_slice(&h.conn.pending_output()[..n]);
        h.conn.consume_output(&mut h.ctx, n, h.now);
    }
    assert_eq!(out.len(), total);
    let rs = parse_all(&out);
    assert_eq!(rs.len(), 3);
    assert!(rs[0].body == data);
    assert_eq!(rs[1].body, b"Hello, World!");
    assert_eq!(rs[2].status, 206);
    assert!(rs[2].body == data[100..50_100]);
}
