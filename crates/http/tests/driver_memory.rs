//! `pump` over an in-memory ByteStream that behaves like a userspace-stack socket: a small
//! send window (short writes, WouldBlock), reads in small pieces, readiness given by the
//! "stack". Proves a transport other than the kernel's can drive the server correctly.

mod common;

use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant, SystemTime};

use boomerang_http::{
    pump, BlockingPool, ByteStream, HttpConnection, HttpService, HttpWorker, Readiness, Router,
    ServerConfig,
};
use common::{parse_all, pattern, TempDir};

/// A socket with `window` bytes of send space per readiness round and `piece`-sized reads.
struct MemSocket {
    inbound: VecDeque<u8>,
    peer_fin: bool,
    outbound: Vec<u8>,
    window: usize,
    space: usize,
    piece: usize,
    fin_sent: bool,
}

impl ByteStream for MemSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.inbound.is_empty() {
            return if self.peer_fin {
                Ok(0)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            };
        }
        let n = buf.len().min(self.piece).min(self.inbound.len());
        for (dst, src) in buf.iter_mut().zip(self.inbound.drain(..n)) {
            *dst = src;
        }
        Ok(n)
    }

    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        assert!(!self.fin_sent, "write after FIN");
        if self.space == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = data.len().min(self.space);
        self.outbound.extend_from_slice(&data[..n]);
        self.space -= n;
        Ok(n)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.fin_sent = true;
        Ok(())
    }
}

/// Runs the connection to completion: the peer sends `request` then FIN; the "stack"
/// reopens the send window each round and delivers pool completions.
fn serve(request: &[u8], root: Option<&std::path::Path>, peer_fin: bool) -> (Vec<u8>, bool) {
    let cfg = ServerConfig {
        root: root.map(Into::into),
        file_chunk_bytes: 64 * 1024,
        ..Default::default()
    };
    let service = HttpService::new(cfg, Router::with_builtin_routes()).unwrap();
    let pool = BlockingPool::new(1, 8).unwrap();
    let mut ctx = HttpWorker::new(&service, &pool, Box::new(|| {}), SystemTime::now());
    let now = Instant::now();
    let mut conn = HttpConnection::new(&mut ctx, 1, now);
    let mut sock = MemSocket {
        inbound: request.iter().copied().collect(),
        peer_fin,
        outbound: Vec::new(),
        window: 3000,
        space: 3000,
        piece: 100,
        fin_sent: false,
    };
    let mut ready = Readiness {
        readable: true,
        writable: true,
        read_closed: false,
    };
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if !pump(&mut conn, &mut sock, &mut ready, &mut ctx, &mut buf, now) {
            return (sock.outbound, sock.fin_sent);
        }
        if sock.fin_sent && !sock.peer_fin {
            // The peer answers our FIN with its own (lingering close ends at EOF).
            sock.peer_fin = true;
            ready.readable = true;
        }
        // The stack acknowledged what was sent: the window opens again.
        sock.space = sock.window;
        ready.writable = true;
        while let Some(c) = ctx.pop_completion() {
            conn.on_completion(&mut ctx, c, now);
        }
        if conn.awaiting_completion() {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(Instant::now() < deadline, "connection never finished");
    }
}

#[test]
fn pipelined_requests_through_a_small_window() {
    let mut req = Vec::new();
    for i in 0..50 {
        req.extend_from_slice(
            format!("POST /echo HTTP/1.1\r\nHost: s\r\nContent-Length: 4\r\n\r\n{i:04}").as_bytes(),
        );
        req.extend_from_slice(b"GET /plaintext HTTP/1.1\r\nHost: s\r\n\r\n");
    }
    let (out, _fin) = serve(&req, None, true);
    let rs = parse_all(&out);
    assert_eq!(rs.len(), 100);
    for (i, pair) in rs.chunks(2).enumerate() {
        assert_eq!(pair[0].body, format!("{i:04}").as_bytes());
        assert_eq!(pair[1].body, b"Hello, World!");
    }
    assert_eq!(rs.iter().map(|r| r.len).sum::<usize>(), out.len());
}

#[test]
fn static_file_streams_through_a_small_window() {
    let dir = TempDir::new("mem");
    let data = pattern(1_000_000, 11);
    std::fs::write(dir.path().join("f.bin"), &data).unwrap();
    let (out, fin) = serve(
        b"GET /f.bin HTTP/1.1\r\nHost: s\r\n\r\n",
        Some(dir.path()),
        true,
    );
    let rs = parse_all(&out);
    assert_eq!(rs.len(), 1);
    assert!(rs[0].body == data, "byte-exact through 3000-byte windows");
    // The peer sent FIN after its request: once the response is out the connection
    // closes outright (no half-close needed), so no shutdown_write was issued.
    assert!(!fin);
}

#[test]
fn clean_connection_close_closes_without_lingering() {
    let (out, fin) = serve(
        b"GET /plaintext HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n",
        None,
        false,
    );
    let rs = parse_all(&out);
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].header("connection"), Some("close"));
    assert!(!fin, "nothing unread: closed outright, no half-close");
}

#[test]
fn unread_input_after_close_forces_lingering_close() {
    let mut req = b"GET /plaintext HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n".to_vec();
    req.extend_from_slice(b"GET /plaintext HTTP/1.1\r\nHost: s\r\n\r\n");
    let (out, fin) = serve(&req, None, false);
    assert_eq!(
        parse_all(&out).len(),
        1,
        "nothing answered after Connection: close"
    );
    assert!(fin, "write side shut first, then closed on the peer's FIN");
}

#[test]
fn refused_request_lingers() {
    let (out, fin) = serve(b"POST /echo HTTP/1.1\r\nHost: s\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", None, false);
    assert_eq!(parse_all(&out)[0].status, 400);
    assert!(fin, "errors always linger");
}
