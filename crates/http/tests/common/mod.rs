//! Helpers shared by the integration tests: a minimal HTTP/1.1 response parser and a
//! temporary directory that removes itself.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// One parsed response.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Bytes of the input this response occupied.
    pub len: usize,
}

impl Parsed {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Parses one response from the start of `buf` (`head_only`: a reply to HEAD, no body).
/// `None` if incomplete.
pub fn parse_response(buf: &[u8], head_only: bool) -> Option<Parsed> {
    let mut slots = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Response::new(&mut slots);
    let head_len = match r.parse(buf).expect("response head parses") {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return None,
    };
    let status = r.code.expect("status code");
    let headers: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let find = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    let rest = &buf[head_len..];
    if head_only || status == 304 || status == 204 || (100..200).contains(&status) {
        return Some(Parsed {
            status,
            headers,
            body: Vec::new(),
            len: head_len,
        });
    }
    if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut body = Vec::new();
        let mut pos = 0;
        loop {
            let line_end = rest[pos..].windows(2).position(|w| w == b"\r\n")? + pos;
            let size =
                usize::from_str_radix(std::str::from_utf8(&rest[pos..line_end]).ok()?, 16).ok()?;
            pos = line_end + 2;
            if size == 0 {
                if rest.len() < pos + 2 {
                    return None;
                }
                assert_eq!(&rest[pos..pos + 2], b"\r\n", "no trailers expected");
                pos += 2;
                break;
            }
            if rest.len() < pos + size + 2 {
                return None;
            }
            body.extend_from_slice(&rest[pos..pos + size]);
            pos += size + 2;
        }
        return Some(Parsed {
            status,
            headers,
            body,
            len: head_len + pos,
        });
    }
    let cl: usize = find("content-length")
        .expect("content-length")
        .parse()
        .expect("numeric length");
    if rest.len() < cl {
        return None;
    }
    Some(Parsed {
        status,
        headers,
        body: rest[..cl].to_vec(),
        len: head_len + cl,
    })
}

/// Parses all complete responses in `buf`.
pub fn parse_all(mut buf: &[u8]) -> Vec<Parsed> {
    let mut v = Vec::new();
    while let Some(p) = parse_response(buf, false) {
        buf = &buf[p.len..];
        v.push(p);
    }
    v
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "bmr-http-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).expect("create temp dir");
        Self(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Deterministic pseudo-random bytes (xorshift), so byte-exact checks catch reordering.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}
