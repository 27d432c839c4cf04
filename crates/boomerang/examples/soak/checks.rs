//! The soak's checking clients, run on threads inside the client namespace: sessions of
//! verified requests (whole files, byte ranges, conditional requests, uploads echoed back,
//! pipelined batches, keep-alive and short connections), requests the server must refuse
//! (malformed, oversized) after which it must keep serving, and slowloris clients the
//! server must time out. Every unexpected answer is a failure with a message saying what
//! was sent and what came back.

use std::fmt::Write as _;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::http::{Conn, Response};
use crate::{Rng, Shared};

/// Read/write timeout of a checking connection (long enough for recovery under loss).
const IO_TIMEOUT: Duration = Duration::from_secs(20);
/// Slowloris connections per batch.
const SLOWLORIS_CONNS: usize = 4;
/// Extra time past the header timeout a slowloris connection may stay open.
const SLOWLORIS_SLACK: Duration = Duration::from_secs(6);

/// The static files: name and contents.
pub type Site = Vec<(String, Vec<u8>)>;

/// One verified request of a session.
enum Op {
    /// GET a whole file.
    Get(usize),
    /// GET a byte range `first..=last` of a file.
    Range(usize, usize, usize),
    /// GET a file, then again with `If-None-Match` (304 expected).
    Conditional(usize),
    /// POST /echo with this body.
    Echo(Vec<u8>),
    /// GET /plaintext.
    Plaintext,
    /// GET a missing file (404 expected).
    Missing,
}

fn pick_op(rng: &mut Rng, site: &Site, small_only: bool) -> Op {
    let file = rng.below(site.len() as u64) as usize;
    let len = site[file].1.len();
    match rng.below(if small_only { 3 } else { 7 }) {
        0 => Op::Plaintext,
        1 => {
            let first = rng.below(len as u64) as usize;
            let last = first + rng.below((len - first).min(300_000) as u64) as usize;
            Op::Range(file, first, last)
        }
        2 => Op::Echo(body(rng, if small_only { 4096 } else { 300_000 })),
        3 => Op::Get(file),
        4 => Op::Conditional(file),
        5 => Op::Missing,
        _ => Op::Get(file),
    }
}

/// A random body, usually small, sometimes up to `max` bytes.
fn body(rng: &mut Rng, max: usize) -> Vec<u8> {
    let len = match rng.below(4) {
        0 => 0,
        1 | 2 => rng.below(2048) as usize,
        _ => rng.below(max as u64 + 1) as usize,
    };
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

fn request(op: &Op, site: &Site, close: bool, etag: Option<&str>) -> Vec<u8> {
    let conn = if close { "Connection: close\r\n" } else { "" };
    let mut r = String::new();
    match op {
        Op::Get(f) | Op::Conditional(f) => {
            let _ = write!(r, "GET /{} HTTP/1.1\r\nHost: soak\r\n{conn}", site[*f].0);
            if let Some(tag) = etag {
                let _ = write!(r, "If-None-Match: {tag}\r\n");
            }
        }
        Op::Range(f, a, b) => {
            let _ = write!(
                r,
                "GET /{} HTTP/1.1\r\nHost: soak\r\nRange: bytes={a}-{b}\r\n{conn}",
                site[*f].0
            );
        }
        Op::Echo(b) => {
            let _ = write!(
                r,
                "POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n{conn}",
                b.len()
            );
        }
        Op::Plaintext => {
            let _ = write!(r, "GET /plaintext HTTP/1.1\r\nHost: soak\r\n{conn}");
        }
        Op::Missing => {
            let _ = write!(r, "GET /no-such-file.bin HTTP/1.1\r\nHost: soak\r\n{conn}");
        }
    }
    r.push_str("\r\n");
    let mut bytes = r.into_bytes();
    if let Op::Echo(b) = op {
        bytes.extend_from_slice(b);
    }
    bytes
}

fn describe(op: &Op, site: &Site) -> String {
    match op {
        Op::Get(f) => format!("GET /{}", site[*f].0),
        Op::Conditional(f) => format!("conditional GET /{}", site[*f].0),
        Op::Range(f, a, b) => format!("GET /{} Range: bytes={a}-{b}", site[*f].0),
        Op::Echo(b) => format!("POST /echo ({} bytes)", b.len()),
        Op::Plaintext => "GET /plaintext".into(),
        Op::Missing => "GET /no-such-file.bin".into(),
    }
}

/// Checks a response to `op` (the plain one; conditional revalidation is checked apart).
fn verify(op: &Op, site: &Site, r: &Response) -> anyhow::Result<()> {
    let expect = |status: u16, body: &[u8]| -> anyhow::Result<()> {
        if r.status != status {
            bail!("status {} where {status} was due", r.status);
        }
        if r.body != body {
            let at = r.body.iter().zip(body).position(|(a, b)| a != b);
            bail!(
                "corrupted body: {} bytes where {} were due, first difference at {:?}",
                r.body.len(),
                body.len(),
                at
            );
        }
        Ok(())
    };
    match op {
        Op::Get(f) | Op::Conditional(f) => expect(200, &site[*f].1),
        Op::Range(f, a, b) => {
            let data = &site[*f].1;
            let last = (*b).min(data.len() - 1);
            expect(206, &data[*a..=last])?;
            let want = format!("bytes {a}-{last}/{}", data.len());
            if r.header("content-range") != Some(want.as_str()) {
                bail!(
                    "Content-Range {:?} where {want:?} was due",
                    r.header("content-range")
                );
            }
            Ok(())
        }
        Op::Echo(b) => expect(200, b),
        Op::Plaintext => expect(200, b"Hello, World!"),
        Op::Missing => {
            if r.status != 404 {
                bail!("status {} where 404 was due", r.status);
            }
            Ok(())
        }
    }
}

/// One session: a connection carrying 1–20 verified requests (some pipelined), or one
/// request with `Connection: close`.
fn session(shared: &Shared, rng: &mut Rng, site: &Site) -> anyhow::Result<u64> {
    let addr = shared.addr;
    let mut c = Conn::connect(addr, IO_TIMEOUT)?;
    let short = rng.below(3) == 0;
    let count = if short { 1 } else { 1 + rng.below(20) };
    let mut checked = 0;
    let mut i = 0;
    while i < count {
        if !short && rng.below(4) == 0 {
            // A pipelined batch: every request written at once, responses read in order.
            let n = 2 + rng.below(7);
            let ops: Vec<Op> = (0..n).map(|_| pick_op(rng, site, true)).collect();
            let mut bytes = Vec::new();
            for op in &ops {
                bytes.extend(request(op, site, false, None));
            }
            c.send(&bytes)?;
            for (k, op) in ops.iter().enumerate() {
                let r = c
                    .read_response(false)
                    .with_context(|| format!("pipelined {k}/{n}: {}", describe(op, site)))?;
                verify(op, site, &r)
                    .with_context(|| format!("pipelined {k}/{n}: {}", describe(op, site)))?;
                checked += 1;
            }
            i += n;
            continue;
        }
        let op = pick_op(rng, site, false);
        let what = describe(&op, site);
        c.send(&request(&op, site, short, None))
            .with_context(|| what.clone())?;
        let r = c.read_response(false).with_context(|| what.clone())?;
        verify(&op, site, &r).with_context(|| what.clone())?;
        checked += 1;
        if let (Op::Conditional(_), false) = (&op, short) {
            let tag = r
                .header("etag")
                .context("no ETag on a static file")?
                .to_string();
            c.send(&request(&op, site, false, Some(&tag)))?;
            let again = c
                .read_response(false)
                .with_context(|| format!("{what} If-None-Match: {tag}"))?;
            if again.status != 304 || !again.body.is_empty() {
                bail!(
                    "{what} If-None-Match: {tag}: status {} with {} body bytes where 304 was due",
                    again.status,
                    again.body.len()
                );
            }
            checked += 1;
        }
        i += 1;
    }
    if short {
        let n = c
            .read_to_close()
            .context("the server did not close after Connection: close")?;
        if n != 0 {
            bail!("{n} bytes after the response to a Connection: close request");
        }
    }
    Ok(checked)
}

/// A request the server must refuse with `statuses`, then close; the server must go on
/// serving (the next session checks that).
fn bad_request(shared: &Shared, rng: &mut Rng) -> anyhow::Result<()> {
    let (what, bytes, statuses): (&str, Vec<u8>, &[u16]) = match rng.below(5) {
        0 => (
            "malformed request line",
            b"GET / HTTP/1.1 trailing-garbage\r\nHost: soak\r\n\r\n".to_vec(),
            &[400],
        ),
        1 => (
            "binary garbage",
            {
                let mut b: Vec<u8> = (0..200).map(|_| rng.next_u64() as u8 | 0x80).collect();
                b.extend_from_slice(b"\r\n\r\n");
                b
            },
            &[400],
        ),
        2 => (
            "20 KiB header field",
            format!(
                "GET /plaintext HTTP/1.1\r\nHost: soak\r\nX-Big: {}\r\n\r\n",
                "a".repeat(20 << 10)
            )
            .into_bytes(),
            &[431],
        ),
        3 => (
            "Content-Length over the body limit",
            b"POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Length: 100000000\r\n\r\n".to_vec(),
            &[413],
        ),
        _ => (
            "10 KiB request-target",
            format!(
                "GET /{} HTTP/1.1\r\nHost: soak\r\n\r\n",
                "b".repeat(10 << 10)
            )
            .into_bytes(),
            &[414, 431],
        ),
    };
    let mut c = Conn::connect(shared.addr, IO_TIMEOUT)?;
    c.send(&bytes).with_context(|| what.to_string())?;
    let r = c
        .read_response(false)
        .with_context(|| format!("{what}: no error response"))?;
    if !statuses.contains(&r.status) {
        bail!("{what}: status {} where {statuses:?} was due", r.status);
    }
    // The server closes after refusing; a reset instead of a FIN here is acceptable.
    let _ = c.read_to_close();
    Ok(())
}

/// The checking client: sessions and refused requests until the load ends.
pub fn checker(shared: &Shared, seed: u64, site: &Site) {
    let mut rng = Rng::new(seed);
    while shared.running() {
        if rng.below(10) == 0 {
            match bad_request(shared, &mut rng) {
                Ok(()) => {
                    shared.refused.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => shared.fail(format!("refused request: {e:#}")),
            }
            continue;
        }
        match session(shared, &mut rng, site) {
            Ok(n) => {
                shared.checks.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => shared.fail(format!("session: {e:#}")),
        }
    }
}

/// Slowloris batches: connections that send a request head one byte a second; each must
/// be closed by the server within the header timeout plus a little.
pub fn slowloris(shared: &Shared, header_timeout: Duration, every: Duration) {
    while shared.running() {
        let start = Instant::now();
        if let Err(e) = slowloris_batch(shared, header_timeout) {
            shared.fail(format!("slowloris: {e:#}"));
        }
        while shared.running() && start.elapsed() < every {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn slowloris_batch(shared: &Shared, header_timeout: Duration) -> anyhow::Result<()> {
    let mut conns = Vec::new();
    for _ in 0..SLOWLORIS_CONNS {
        let c = Conn::connect(shared.addr, IO_TIMEOUT)?;
        c.stream()
            .set_read_timeout(Some(Duration::from_millis(50)))?;
        conns.push(Some((c, 0usize)));
    }
    let head = b"GET /plaintext HTTP/1.1\r\nHost: soak\r\nX-Slow: ";
    let start = Instant::now();
    let deadline = header_timeout + SLOWLORIS_SLACK;
    while conns.iter().any(Option::is_some) {
        if start.elapsed() > deadline {
            let open = conns.iter().filter(|c| c.is_some()).count();
            bail!(
                "{open} connection(s) sending a head a byte a second still open after {:?} (header timeout {header_timeout:?})",
                start.elapsed()
            );
        }
        for slot in &mut conns {
            let Some((c, sent)) = slot else { continue };
            let byte = if *sent < head.len() {
                head[*sent]
            } else {
                b'x'
            };
            let mut closed = c.send(&[byte]).is_err();
            *sent += 1;
            let mut buf = [0u8; 512];
            match c.stream().read(&mut buf) {
                Ok(0) => closed = true,
                // The 408 the server may send before closing; the close follows.
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => closed = true,
            }
            if closed {
                shared.slowloris_closed.fetch_add(1, Ordering::Relaxed);
                *slot = None;
            }
        }
        std::thread::sleep(Duration::from_millis(1000 / SLOWLORIS_CONNS as u64));
    }
    Ok(())
}

/// Whether `addr` answers `GET /plaintext` correctly now (used after the load).
pub fn still_serves(addr: SocketAddr) -> anyhow::Result<()> {
    let r = crate::http::get_client_closes(addr, "/plaintext", IO_TIMEOUT)?;
    if r.status != 200 || r.body != b"Hello, World!" {
        bail!("GET /plaintext answered {} {:?}", r.status, r.body);
    }
    Ok(())
}
