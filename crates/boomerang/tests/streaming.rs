//! Streamed bodies through the production loop turn on the in-memory link (our own stack
//! as the client, virtual time): a 20 MiB upload read by a streaming handler and a 20 MiB
//! download from a producer (with `Content-Length` and chunked), byte-exact by hash; and
//! back-pressure both ways — while the client does not read, the producer is not asked
//! for more than the buffers between it and the client hold; while the handler does not
//! read, the client cannot send more than the buffers between them hold (the server's
//! receive window closes).

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use boomerang::serve::sim::{response_frame, SimOptions, SimPair};
use boomerang::{App, BodyReader, BodyStream, Bytes, HttpError, Request, Response};
use boomerang_stack::ConnId;

const TOTAL: usize = 20 * 1024 * 1024;
const PIECE: u64 = 64 * 1024;
/// Small TCP buffers on both sides, so the bounds below are far from the body's size.
const TCP_BUF: usize = 256 * 1024;
/// Virtual time allowed for one transfer (zero-window probes back off in virtual time).
const LIMIT: Duration = Duration::from_secs(600);

fn fnv1a(mut h: u64, data: &[u8]) -> u64 {
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn pattern(from: u64, to: u64) -> Vec<u8> {
    (from..to).map(|i| (i % 251) as u8).collect()
}

/// What the handlers share with the test.
#[derive(Clone, Default)]
struct Probe {
    /// Bytes the download producer has yielded.
    produced: Arc<AtomicU64>,
    /// Opened (a message sent) to let the gated upload handler start reading.
    gate: Arc<Mutex<Option<mpsc::Receiver<()>>>>,
}

fn app(probe: &Probe) -> App {
    let gate = Arc::clone(&probe.gate);
    let produced = Arc::clone(&probe.produced);
    App::new()
        .post_streaming("/upload", move |req: &Request, body: &mut BodyReader| {
            if req.query() == Some("gate") {
                if let Some(rx) = gate.lock().unwrap().take() {
                    let _ = rx.recv();
                }
            }
            let mut hash = FNV_OFFSET;
            let mut len = 0u64;
            while let Some(chunk) = body.chunk()? {
                hash = fnv1a(hash, &chunk);
                len += chunk.len() as u64;
            }
            Ok::<_, io::Error>(format!("{len} {hash:016x}\n"))
        })
        .get("/download/{n}", move |req: &Request| {
            let n: u64 = req
                .param("n")
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| HttpError::bad_request("n"))?;
            let produced = Arc::clone(&produced);
            let mut at = 0u64;
            let stream = BodyStream::new(move || -> io::Result<Option<Bytes>> {
                if at == n {
                    return Ok(None);
                }
                let end = n.min(at + PIECE);
                let piece = pattern(at, end);
                produced.fetch_add(end - at, Ordering::SeqCst);
                at = end;
                Ok(Some(Bytes::from(piece)))
            });
            let stream = if req.query() == Some("chunked") {
                stream
            } else {
                BodyStream::with_length(n, stream)
            };
            Ok::<_, HttpError>(Response::stream("application/octet-stream", stream))
        })
}

fn sim(probe: &Probe) -> SimPair {
    let mut opts = SimOptions {
        router: app(probe).into_router().unwrap(),
        blocking_threads: 2,
        ..Default::default()
    };
    for side in [&mut opts.client, &mut opts.server] {
        side.tcp.rcv_buf = TCP_BUF;
        side.tcp.rcv_buf_initial = TCP_BUF;
        side.tcp.snd_buf = TCP_BUF;
        side.tcp.snd_buf_initial = TCP_BUF;
    }
    let mut sim = SimPair::new(opts).unwrap();
    sim.record = false;
    sim
}

/// Reads what the client's socket holds into `out`.
fn drain(p: &mut SimPair, c: ConnId, out: &mut Vec<u8>) {
    let mut buf = [0u8; 64 * 1024];
    while let Ok(n) = p.client.recv(c, &mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// Sends from `data[*off..]` as far as the client's send buffer takes it.
fn push(p: &mut SimPair, c: ConnId, data: &[u8], off: &mut usize) {
    while *off < data.len() {
        match p.client.send(c, &data[*off..]) {
            Ok(n) if n > 0 => *off += n,
            _ => break,
        }
    }
}

/// The body of a whole response at the start of `bytes` (chunked coding removed).
fn body_of(bytes: &[u8]) -> Option<(u16, Vec<u8>)> {
    let (head_len, status, len) = response_frame(bytes)?;
    let head = std::str::from_utf8(&bytes[..head_len])
        .ok()?
        .to_ascii_lowercase();
    let rest = &bytes[head_len..];
    if !head.contains("transfer-encoding: chunked") {
        return (rest.len() >= len).then(|| (status, rest[..len].to_vec()));
    }
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let line_end = at + rest.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
        let size =
            usize::from_str_radix(std::str::from_utf8(&rest[at..line_end]).ok()?, 16).ok()?;
        let data = line_end + 2;
        if size == 0 {
            return (rest.get(data..data + 2)? == b"\r\n").then_some((status, out));
        }
        out.extend_from_slice(rest.get(data..data + size)?);
        at = data + size + 2;
    }
}

fn upload(sim: &mut SimPair, c: ConnId, target: &str, chunked: bool) -> (String, usize) {
    let body = pattern(0, TOTAL as u64);
    let mut req = if chunked {
        format!("POST {target} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
    } else {
        format!("POST {target} HTTP/1.1\r\nHost: t\r\nContent-Length: {TOTAL}\r\n\r\n")
    }
    .into_bytes();
    if chunked {
        // Uneven chunk sizes, so chunk boundaries fall anywhere in the segments.
        for piece in body.chunks(77_777) {
            req.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            req.extend_from_slice(piece);
            req.extend_from_slice(b"\r\n");
        }
        req.extend_from_slice(b"0\r\n\r\n");
    } else {
        req.extend_from_slice(&body);
    }
    let mut off = 0;
    let mut resp = Vec::new();
    sim.run_until(LIMIT, |p| {
        push(p, c, &req, &mut off);
        drain(p, c, &mut resp);
        body_of(&resp).is_some()
    })
    .unwrap();
    let (status, answer) = body_of(&resp).unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    (String::from_utf8(answer).unwrap(), off)
}

fn expected_answer() -> String {
    format!(
        "{TOTAL} {:016x}\n",
        fnv1a(FNV_OFFSET, &pattern(0, TOTAL as u64))
    )
}

#[test]
fn a_20_mib_upload_streams_through_a_handler_byte_exact() {
    let probe = Probe::default();
    let mut sim = sim(&probe);
    let c = sim.connect().unwrap();
    let want = expected_answer();
    assert_eq!(upload(&mut sim, c, "/upload", false).0, want);
    // Chunked, on the same kept-alive connection.
    assert_eq!(upload(&mut sim, c, "/upload", true).0, want);
}

fn download(sim: &mut SimPair, c: ConnId, target: &str) -> Vec<u8> {
    let req = format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(sim.client.send(c, req.as_bytes()).unwrap(), req.len());
    let mut resp = Vec::new();
    sim.run_until(LIMIT, |p| {
        drain(p, c, &mut resp);
        body_of(&resp).is_some()
    })
    .unwrap();
    let (status, body) = body_of(&resp).unwrap();
    assert_eq!(status, 200);
    body
}

#[test]
fn a_20_mib_download_streams_from_a_producer_byte_exact() {
    let probe = Probe::default();
    let mut sim = sim(&probe);
    let c = sim.connect().unwrap();
    let want = fnv1a(FNV_OFFSET, &pattern(0, TOTAL as u64));
    let body = download(&mut sim, c, &format!("/download/{TOTAL}"));
    assert_eq!((body.len(), fnv1a(FNV_OFFSET, &body)), (TOTAL, want));
    let body = download(&mut sim, c, &format!("/download/{TOTAL}?chunked"));
    assert_eq!((body.len(), fnv1a(FNV_OFFSET, &body)), (TOTAL, want));
    assert_eq!(probe.produced.load(Ordering::SeqCst), 2 * TOTAL as u64);
}

#[test]
fn a_client_that_does_not_read_stops_the_producer() {
    let probe = Probe::default();
    let mut sim = sim(&probe);
    let low_water = boomerang_http::ServerConfig::default().output_low_water as u64;
    let c = sim.connect().unwrap();
    let req = format!("GET /download/{TOTAL} HTTP/1.1\r\nHost: t\r\n\r\n");
    sim.client.send(c, req.as_bytes()).unwrap();
    // Ten seconds of virtual time without reading a byte.
    let until = sim.now + Duration::from_secs(10);
    sim.run_until(Duration::from_secs(11), |p| p.now >= until)
        .unwrap();
    let stalled = probe.produced.load(Ordering::SeqCst);
    // What the buffers on the way hold: the client's receive buffer, the server's send
    // buffer, the connection's output up to the low-water mark plus one piece, and the
    // piece in flight.
    let bound = (2 * TCP_BUF) as u64 + low_water + 2 * PIECE;
    assert!(
        stalled > 0 && stalled <= bound,
        "produced {stalled} bytes while the client read nothing (bound {bound})"
    );
    // Reading resumes the producer; everything arrives, exactly.
    let mut resp = Vec::new();
    sim.run_until(LIMIT, |p| {
        drain(p, c, &mut resp);
        body_of(&resp).is_some()
    })
    .unwrap();
    let (_, body) = body_of(&resp).unwrap();
    assert_eq!(
        fnv1a(FNV_OFFSET, &body),
        fnv1a(FNV_OFFSET, &pattern(0, TOTAL as u64))
    );
    assert_eq!(probe.produced.load(Ordering::SeqCst), TOTAL as u64);
}

#[test]
fn a_handler_that_does_not_read_closes_the_receive_window() {
    let probe = Probe::default();
    let (open, gate) = mpsc::channel();
    *probe.gate.lock().unwrap() = Some(gate);
    let mut sim = sim(&probe);
    let c = sim.connect().unwrap();
    let mut req =
        format!("POST /upload?gate HTTP/1.1\r\nHost: t\r\nContent-Length: {TOTAL}\r\n\r\n")
            .into_bytes();
    req.extend_from_slice(&pattern(0, TOTAL as u64));
    let mut off = 0;
    let until = sim.now + Duration::from_secs(10);
    sim.run_until(Duration::from_secs(11), |p| {
        push(p, c, &req, &mut off);
        p.now >= until
    })
    .unwrap();
    // The client's stack took at most its send buffer beyond what the server's side
    // holds: its receive buffer, the connection's input (a read buffer over the input
    // limit) and the pipe to the handler.
    let cfg = boomerang_http::ServerConfig::default();
    let input =
        cfg.max_header_bytes.max(16 * 1024) + boomerang::serve::shard_loop::READ_BUFFER_BYTES;
    let bound = 2 * TCP_BUF + input + boomerang_http::request_body::STREAMED_BODY_BUFFER;
    assert!(
        off > 0 && off <= bound,
        "the client sent {off} bytes while the handler read nothing (bound {bound})"
    );
    open.send(()).unwrap();
    let mut resp = Vec::new();
    sim.run_until(LIMIT, |p| {
        push(p, c, &req, &mut off);
        drain(p, c, &mut resp);
        body_of(&resp).is_some()
    })
    .unwrap();
    assert_eq!(off, req.len());
    assert_eq!(
        String::from_utf8(body_of(&resp).unwrap().1).unwrap(),
        expected_answer()
    );
}
