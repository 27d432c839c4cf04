//! Fuzzes the connection state machine: arbitrary bytes, cut into arbitrary pieces,
//! with partial output draining, EOF and timeouts interleaved. The connection must
//! never panic and its output must always be a sequence of well-formed responses.
#![no_main]

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use boomerang_http::{
    BlockingPool, ConnAction, HttpConnection, HttpService, HttpWorker, Router, ServerConfig,
};
use libfuzzer_sys::fuzz_target;

fn pool() -> &'static BlockingPool {
    static POOL: OnceLock<BlockingPool> = OnceLock::new();
    POOL.get_or_init(|| BlockingPool::new(1, 4).expect("pool"))
}

fn service() -> &'static Arc<HttpService> {
    static SERVICE: OnceLock<Arc<HttpService>> = OnceLock::new();
    SERVICE.get_or_init(|| {
        let cfg = ServerConfig {
            max_header_bytes: 2048,
            max_uri_bytes: 512,
            max_body_bytes: 4096,
            output_high_water: 4096,
            output_low_water: 1024,
            ..Default::default()
        };
        HttpService::new(cfg, Router::with_builtin_routes()).expect("service")
    })
}

thread_local! {
    static CTX: RefCell<HttpWorker> =
        RefCell::new(HttpWorker::new(service(), pool(), Box::new(|| {}), SystemTime::UNIX_EPOCH));
}

fuzz_target!(|data: &[u8]| CTX.with_borrow_mut(|ctx| run(ctx, data)));

fn run(ctx: &mut HttpWorker, data: &[u8]) {
    let mut now = Instant::now();
    let mut conn = HttpConnection::new(ctx, 1, now);
    let mut out = Vec::new();
    // Byte 0 of each step: low 5 bits = piece length, bit 5 = drain output, bit 6 = advance
    // time by a second, bit 7 = drain only half.
    let mut rest = data;
    while let Some((&ctl, tail)) = rest.split_first() {
        let len = usize::from(ctl & 0x1f).min(tail.len());
        let (piece, tail) = tail.split_at(len);
        rest = tail;
        if conn.wants_read() {
            conn.on_recv(ctx, piece, now);
        }
        if ctl & 0x40 != 0 {
            now += Duration::from_secs(1);
            if conn.poll_timeout(ctx).is_some_and(|t| t <= now) {
                conn.on_timeout(ctx, now);
            }
        }
        if ctl & 0x20 != 0 {
            let pending = conn.pending_output();
            let n = if ctl & 0x80 != 0 {
                pending.len() / 2
            } else {
                pending.len()
            };
            out.extend_from_slice(&pending[..n]);
            conn.consume_output(ctx, n, now);
        }
        match conn.action() {
            ConnAction::Close => break,
            ConnAction::ShutdownWrite => conn.on_write_shutdown(ctx, now),
            ConnAction::Open => {}
        }
    }
    conn.on_eof(ctx, now);
    out.extend_from_slice(conn.pending_output());
    // Everything written must be a sequence of complete HTTP/1.1 responses.
    let mut buf = &out[..];
    while !buf.is_empty() {
        assert!(
            buf.starts_with(b"HTTP/1.1 "),
            "garbage in output: {:?}",
            String::from_utf8_lossy(&buf[..buf.len().min(40)])
        );
        let end = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("complete head")
            + 4;
        let head = std::str::from_utf8(&buf[..end]).expect("ascii head");
        let no_body = head.starts_with("HTTP/1.1 100 ") || head.starts_with("HTTP/1.1 304 ");
        let with_body = if no_body {
            end
        } else if head.contains("Transfer-Encoding: chunked\r\n") {
            let term = buf[end..]
                .windows(5)
                .position(|w| w == b"0\r\n\r\n")
                .expect("last chunk");
            end + term + 5
        } else {
            let cl = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .expect("every response is delimited")
                .parse::<usize>()
                .expect("numeric length");
            end + cl
        };
        // A reply to HEAD carries Content-Length but no body: accept either reading,
        // as long as what follows is the next response or the end.
        let next_ok =
            |at: usize| at <= buf.len() && (at == buf.len() || buf[at..].starts_with(b"HTTP/1.1 "));
        let next = if next_ok(with_body) {
            with_body
        } else {
            assert!(next_ok(end), "response not followed by a response");
            end
        };
        buf = &buf[next..];
    }
}
