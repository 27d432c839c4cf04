//! Large bodies both ways, never held whole in memory:
//!
//! - `POST /upload` (or `PUT`): a streaming handler reads the body chunk by chunk while the
//!   client sends it (Content-Length or chunked) and answers `<bytes> <FNV-1a 64 in hex>\n`.
//!   While it has not consumed what arrived, the server stops reading from the network.
//! - `GET /download/{n}`: `n` bytes (byte `i` is `i % 251`), produced 64 KiB at a time on
//!   the blocking pool, only as fast as the client reads; with `Content-Length`, or chunked
//!   with `?chunked`.
//! - `GET /source`: this file, read from disk on the pool (`Response::file`).
//! - `GET /banner`: one shared buffer, sent to every client without copying.
//!
//! `cargo run --release --example streaming -- --kernel --listen 127.0.0.1:8080`, then e.g.
//! `curl -T big.iso http://127.0.0.1:8080/upload` or
//! `curl -o /dev/null http://127.0.0.1:8080/download/1000000000`.

use std::sync::Arc;

use boomerang::{App, BodyReader, BodyStream, Bytes, HttpError, Request, Response};

/// FNV-1a, 64 bits, continued from `h` (start with [`FNV_OFFSET`]).
fn fnv1a(mut h: u64, data: &[u8]) -> u64 {
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// Reads the whole body as it arrives, counting and hashing it.
fn upload(_: &Request, body: &mut BodyReader) -> std::io::Result<String> {
    let mut hash = FNV_OFFSET;
    let mut len = 0u64;
    while let Some(chunk) = body.chunk()? {
        hash = fnv1a(hash, &chunk);
        len += chunk.len() as u64;
    }
    Ok(format!("{len} {hash:016x}\n"))
}

/// `n` bytes of the pattern, 64 KiB per call of the producer.
fn download(req: &Request) -> Result<Response, HttpError> {
    let n: u64 = req
        .param("n")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| HttpError::bad_request("n must be a byte count"))?;
    let mut at = 0u64;
    let producer = move || -> std::io::Result<Option<Bytes>> {
        if at == n {
            return Ok(None);
        }
        let end = n.min(at + 64 * 1024);
        let piece: Vec<u8> = (at..end).map(|i| (i % 251) as u8).collect();
        at = end;
        Ok(Some(Bytes::from(piece)))
    };
    let stream = BodyStream::new(producer);
    let stream = if req.query() == Some("chunked") {
        stream
    } else {
        BodyStream::with_length(n, stream)
    };
    Ok(Response::stream("application/octet-stream", stream))
}

fn main() -> anyhow::Result<()> {
    let banner: Arc<[u8]> = Arc::from(&b"boomerang streams bodies both ways\n"[..]);
    App::new()
        .post_streaming("/upload", upload)
        .put_streaming("/upload", upload)
        .get("/download/{n}", download)
        .get("/source", |_: &Request| {
            Response::file(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/examples/streaming.rs"
            ))
        })
        .get("/banner", move |_: &Request| {
            Response::shared(
                "text/plain; charset=utf-8",
                Bytes::from_owner(banner.clone()),
            )
        })
        .run_from_args()
}
