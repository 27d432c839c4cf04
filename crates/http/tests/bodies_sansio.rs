//! Response bodies of every kind (shared buffers, files, producers) and streamed request
//! bodies, through the connection state machine without sockets: exact bytes in and out,
//! the blocking pool's completions delivered by hand.

mod common;

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use boomerang_http::{
    BlockingPool, BodyReader, BodyStream, Bytes, ConnAction, HttpConnection, HttpService,
    HttpWorker, Request, Response, Router, ServerConfig, StreamingHandler,
};
use common::{parse_response, pattern, TempDir};
use http::Method;

struct Harness {
    ctx: HttpWorker,
    conn: HttpConnection,
    now: Instant,
    sent: Vec<u8>,
    _pool: BlockingPool,
}

impl Harness {
    fn new(config: ServerConfig, router: Router) -> Self {
        let service = HttpService::new(config, router).unwrap();
        let pool = BlockingPool::new(2, 16).unwrap();
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

    /// Sends everything pending, as a transport with an infinitely fast peer would.
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

    /// Delivers one completion (waiting for the pool, bounded); `false` if none came.
    fn one_completion(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(c) = self.ctx.pop_completion() {
                self.conn.on_completion(&mut self.ctx, c, self.now);
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Flushes and delivers completions until the connection waits for none.
    fn pump_pool(&mut self) {
        loop {
            self.flush();
            if !self.conn.awaiting_completion() {
                break;
            }
            assert!(self.one_completion(), "the pool did not answer");
        }
    }

    fn take(&mut self) -> Vec<u8> {
        self.pump_pool();
        std::mem::take(&mut self.sent)
    }
}

fn router(f: impl FnOnce(&mut Router)) -> Router {
    let mut r = Router::new();
    f(&mut r);
    r
}

fn inline(r: &mut Router, path: &str, h: impl boomerang_http::Handler) {
    r.add(&[Method::GET], path, Arc::new(h), false).unwrap();
}

#[test]
fn a_large_shared_buffer_is_sent_without_a_copy() {
    let page = Bytes::from(pattern(100_000, 1));
    let served = page.clone();
    let mut h = Harness::new(
        ServerConfig::default(),
        router(|r| {
            inline(r, "/page", move |_: &Request| {
                Response::shared("text/plain", served.clone())
            })
        }),
    );
    h.recv(b"GET /page HTTP/1.1\r\nHost: x\r\n\r\n");
    // The body waits in the output queue as the very buffer the handler returned.
    let mut slices = [io::IoSlice::new(&[]); 8];
    let n = h.conn.pending_slices(&mut slices);
    assert!(
        slices[..n]
            .iter()
            .any(|s| s.as_ptr() == page.as_ptr() && s.len() == page.len()),
        "the shared buffer is queued by reference"
    );
    let out = h.take();
    let r = parse_response(&out, false).unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &page[..]));
    assert_eq!(r.len, out.len());
}

/// A producer of `n` bytes of the pattern in pieces of `piece`, counting what it yielded.
fn counted(n: usize, piece: usize, produced: Arc<AtomicU64>) -> BodyStream {
    let data = pattern(n, 3);
    let mut at = 0;
    BodyStream::new(move || -> io::Result<Option<Bytes>> {
        if at == data.len() {
            return Ok(None);
        }
        let end = data.len().min(at + piece);
        produced.fetch_add((end - at) as u64, Ordering::SeqCst);
        let b = Bytes::copy_from_slice(&data[at..end]);
        at = end;
        Ok(Some(b))
    })
}

#[test]
fn producers_with_and_without_a_length() {
    let n = 3 * 1024 * 1024 + 17;
    let mut h = Harness::new(
        ServerConfig::default(),
        router(|r| {
            inline(r, "/sized", move |_: &Request| {
                let s = counted(n, 40_000, Arc::default());
                Response::stream(
                    "application/octet-stream",
                    BodyStream::with_length(n as u64, s),
                )
            });
            inline(r, "/unsized", move |_: &Request| {
                Response::stream(
                    "application/octet-stream",
                    counted(n, 40_000, Arc::default()),
                )
            });
        }),
    );
    h.recv(b"GET /sized HTTP/1.1\r\nHost: x\r\n\r\nGET /unsized HTTP/1.1\r\nHost: x\r\n\r\n");
    let out = h.take();
    let a = parse_response(&out, false).unwrap();
    assert_eq!(a.header("content-length"), Some(n.to_string().as_str()));
    assert_eq!(a.body, pattern(n, 3));
    let b = parse_response(&out[a.len..], false).unwrap();
    assert_eq!(b.header("transfer-encoding"), Some("chunked"));
    assert_eq!(b.body, pattern(n, 3));
    assert_eq!(a.len + b.len, out.len());
    assert_eq!(h.conn.action(), ConnAction::Open, "kept alive");
    // HTTP/1.0: no chunked coding; the close ends the body.
    h.recv(b"GET /unsized HTTP/1.0\r\n\r\n");
    let out = h.take();
    let head_end = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&out[..head_end]).to_ascii_lowercase();
    assert!(
        !head.contains("transfer-encoding") && !head.contains("content-length"),
        "{head}"
    );
    assert!(head.contains("connection: close"), "{head}");
    assert_eq!(&out[head_end..], pattern(n, 3).as_slice());
    assert_ne!(h.conn.action(), ConnAction::Open);
}

#[test]
fn the_producer_is_not_asked_ahead_of_the_output() {
    let produced = Arc::new(AtomicU64::new(0));
    let p = Arc::clone(&produced);
    let n = 8 * 1024 * 1024;
    let piece = 50_000;
    let mut h = Harness::new(
        ServerConfig::default(),
        router(|r| {
            inline(r, "/big", move |_: &Request| {
                Response::stream(
                    "application/octet-stream",
                    counted(n, piece, Arc::clone(&p)),
                )
            })
        }),
    );
    let low = ServerConfig::default().output_low_water as u64;
    h.recv(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    // Nobody takes the output: pieces arrive until it is above the low-water mark, then
    // the producer is not asked again (no completion is outstanding any more).
    while h.conn.awaiting_completion() {
        assert!(h.one_completion(), "the pool did not answer");
    }
    let stalled = produced.load(Ordering::SeqCst);
    assert!(
        stalled + 1024 >= low && stalled <= low + piece as u64,
        "{stalled} bytes produced with nothing sent (low water {low}, pieces of {piece})"
    );
    // Sending a little (the output stays above the mark) asks for nothing more.
    let some = h.conn.pending_output().to_vec();
    assert!(
        some.len() < 1000,
        "the head, then the body pieces by reference"
    );
    h.sent.extend_from_slice(&some);
    h.conn.consume_output(&mut h.ctx, some.len(), h.now);
    assert!(!h.conn.awaiting_completion());
    assert_eq!(produced.load(Ordering::SeqCst), stalled);
    // Draining it does, until the end.
    let out = h.take();
    let r = parse_response(&out, false).unwrap();
    assert_eq!(r.body, pattern(n, 3));
    assert_eq!(produced.load(Ordering::SeqCst), n as u64);
}

#[test]
fn a_producer_that_breaks_its_length_cuts_the_connection() {
    let mut h = Harness::new(
        ServerConfig::default(),
        router(|r| {
            inline(r, "/short", |_: &Request| {
                let s = BodyStream::with_length(10, BodyStream::from_pieces(["abc"]));
                Response::stream("text/plain", s)
            })
        }),
    );
    h.recv(b"GET /short HTTP/1.1\r\nHost: x\r\n\r\n");
    let out = h.take();
    assert!(out.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert!(
        out.ends_with(b"\r\n\r\nabc"),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
    assert_eq!(h.conn.action(), ConnAction::Close);
}

#[test]
fn file_bodies_are_read_on_the_pool_and_cached_when_small() {
    let dir = TempDir::new("file-bodies");
    let big = pattern(1_500_000, 5);
    let small = b"<p>small</p>".to_vec();
    std::fs::write(dir.path().join("big.bin"), &big).unwrap();
    std::fs::write(dir.path().join("small.html"), &small).unwrap();
    let base = dir.path().to_path_buf();
    let mut h = Harness::new(
        ServerConfig::default(),
        router(|r| {
            inline(r, "/f/{name}", move |req: &Request| {
                Response::file(base.join(req.param("name").unwrap_or("")))
            })
        }),
    );
    h.recv(b"GET /f/big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(h.conn.awaiting_completion(), "opened on the pool");
    let out = h.take();
    let r = parse_response(&out, false).unwrap();
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(r.body, big);
    for round in 0..2 {
        h.recv(b"GET /f/small.html HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(
            h.conn.awaiting_completion(),
            round == 0,
            "round {round}: cached after the first"
        );
        let r = parse_response(&h.take(), false).unwrap();
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(r.body, small);
    }
    h.recv(b"HEAD /f/big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = parse_response(&h.take(), true).unwrap();
    assert_eq!(r.header("content-length"), Some("1500000"));
    h.recv(b"GET /f/missing HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(parse_response(&h.take(), false).unwrap().status, 404);
}

fn streaming(r: &mut Router, path: &str, h: impl StreamingHandler) {
    r.add_streaming(&[Method::POST], path, Arc::new(h)).unwrap();
}

fn hash_body(_: &Request, body: &mut BodyReader) -> io::Result<String> {
    let mut all = Vec::new();
    while let Some(c) = body.chunk()? {
        all.extend_from_slice(&c);
    }
    Ok(format!("{} {}", all.len(), all == pattern(all.len(), 9)))
}

#[test]
fn streamed_uploads_in_content_length_and_chunked_framing() {
    let mut h = Harness::new(
        ServerConfig {
            max_body_bytes: 1024,
            ..Default::default()
        },
        router(|r| streaming(r, "/up", hash_body)),
    );
    let body = pattern(2_000_000, 9);
    let mut req = format!(
        "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    // Delivered in 60 KiB reads, as a transport would, only while it wants to read.
    let mut at = 0;
    while at < req.len() {
        if h.conn.wants_read() {
            let end = req.len().min(at + 60 * 1024);
            h.recv(&req[at..end]);
            at = end;
        } else {
            assert!(h.one_completion(), "the handler made room");
        }
    }
    let r = parse_response(&h.take(), false).unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"2000000 true"[..]));
    // Chunked, on the same connection, far above max-body-bytes too.
    let mut req = b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for piece in body.chunks(33_333) {
        req.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        req.extend_from_slice(piece);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let mut at = 0;
    while at < req.len() {
        if h.conn.wants_read() {
            let end = req.len().min(at + 7_777);
            h.recv(&req[at..end]);
            at = end;
        } else {
            assert!(h.one_completion(), "the handler made room");
        }
    }
    let r = parse_response(&h.take(), false).unwrap();
    assert_eq!(r.body, b"2000000 true");
    assert_eq!(h.conn.action(), ConnAction::Open);
}

#[test]
fn a_slow_handler_stops_the_reading() {
    let (open, gate) = mpsc::channel::<()>();
    let gate = Mutex::new(gate);
    let mut h = Harness::new(
        ServerConfig::default(),
        router(|r| {
            streaming(r, "/up", move |req: &Request, body: &mut BodyReader| {
                let _ = gate.lock().unwrap().recv();
                hash_body(req, body)
            })
        }),
    );
    let body = pattern(4_000_000, 9);
    let mut req = format!(
        "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let mut at = 0;
    while at < req.len() && h.conn.wants_read() {
        let end = req.len().min(at + 64 * 1024);
        h.recv(&req[at..end]);
        at = end;
    }
    // The pipe (256 KiB) and the input limit (16 KiB) plus one read: then no more reading.
    let bound = boomerang_http::request_body::STREAMED_BODY_BUFFER + 16 * 1024 + 64 * 1024 + 200;
    assert!(
        at < req.len() && at <= bound,
        "{at} bytes taken (bound {bound})"
    );
    // No read deadline while the handler is the slow side.
    assert_eq!(h.conn.poll_timeout(&h.ctx), None);
    open.send(()).unwrap();
    while at < req.len() {
        if h.conn.wants_read() {
            let end = req.len().min(at + 64 * 1024);
            h.recv(&req[at..end]);
            at = end;
        } else {
            assert!(h.one_completion(), "the handler made room");
        }
    }
    let r = parse_response(&h.take(), false).unwrap();
    assert_eq!(r.body, b"4000000 true");
}

#[test]
fn an_early_answer_closes_and_malformed_framing_is_refused() {
    let mut h = Harness::new(
        ServerConfig::default(),
        router(|r| {
            streaming(r, "/early", |_: &Request, _: &mut BodyReader| "no thanks");
            streaming(r, "/read", |_: &Request, body: &mut BodyReader| {
                std::io::copy(body, &mut std::io::sink()).map(|n| n.to_string())
            });
        }),
    );
    h.recv(b"POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc");
    let r = parse_response(&h.take(), false).unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"no thanks"[..]));
    assert_eq!(r.header("connection"), Some("close"));
    assert_ne!(h.conn.action(), ConnAction::Open);

    let mut h = Harness::new(
        ServerConfig::default(),
        router(|r| {
            streaming(r, "/read", |_: &Request, body: &mut BodyReader| {
                std::io::copy(body, &mut std::io::sink()).map(|n| n.to_string())
            });
        }),
    );
    h.recv(b"POST /read HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX");
    let r = parse_response(&h.take(), false).unwrap();
    assert_eq!(r.status, 400, "malformed chunked framing");
    assert_ne!(h.conn.action(), ConnAction::Open);
}

#[test]
fn a_panicking_producer_cuts_the_connection() {
    boomerang_http::quiet_handler_panics();
    let mut h = Harness::new(
        ServerConfig::default(),
        router(|r| {
            inline(r, "/p", |_: &Request| {
                let mut first = true;
                Response::stream(
                    "text/plain",
                    BodyStream::new(move || -> io::Result<Option<Bytes>> {
                        if std::mem::take(&mut first) {
                            return Ok(Some(Bytes::from_static(b"part")));
                        }
                        panic!("producer fails")
                    }),
                )
            })
        }),
    );
    h.recv(b"GET /p HTTP/1.1\r\nHost: x\r\n\r\n");
    let out = h.take();
    assert!(
        out.ends_with(b"4\r\npart\r\n"),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
    assert_eq!(h.conn.action(), ConnAction::Close);
}
