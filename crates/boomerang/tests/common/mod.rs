//! Helpers of the library tests: a one-shot HTTP/1.1 client over kernel sockets and a
//! free port on 127.0.0.1.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// A parsed response.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Header fields (lower-case names).
    pub headers: Vec<(String, String)>,
    /// The body (as framed by Content-Length, or up to EOF).
    pub body: Vec<u8>,
}

impl Reply {
    /// The first value of header field `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

/// Parses every complete response in `raw` (HEAD responses: pass `head_only`).
pub fn parse_all(raw: &[u8], head_only: bool) -> Vec<Reply> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < raw.len() {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        let Ok(httparse::Status::Complete(n)) = resp.parse(&raw[at..]) else {
            panic!(
                "unparsable response at {at}: {:?}",
                String::from_utf8_lossy(&raw[at..])
            );
        };
        let headers: Vec<(String, String)> = resp
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_ascii_lowercase(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        let status = resp.code.expect("status");
        let chunked = headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
        if chunked && !head_only {
            let (body, used) = dechunk(&raw[at + n..]);
            at += n + used;
            out.push(Reply {
                status,
                headers,
                body,
            });
            continue;
        }
        let len = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map_or(raw.len() - at - n, |(_, v)| v.parse().expect("length"));
        let len = if head_only { 0 } else { len };
        let body = raw[at + n..at + n + len].to_vec();
        at += n + len;
        out.push(Reply {
            status,
            headers,
            body,
        });
    }
    out
}

/// A whole chunked body at the start of `raw` (no trailers): its data and the bytes used.
pub fn dechunk(raw: &[u8]) -> (Vec<u8>, usize) {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let line = raw[at..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk-size line");
        let size = std::str::from_utf8(&raw[at..at + line]).expect("hex");
        let size = usize::from_str_radix(size, 16).expect("a chunk size");
        at += line + 2;
        if size == 0 {
            assert_eq!(&raw[at..at + 2], b"\r\n", "no trailers, then CRLF");
            return (body, at + 2);
        }
        body.extend_from_slice(&raw[at..at + size]);
        assert_eq!(
            &raw[at + size..at + size + 2],
            b"\r\n",
            "CRLF after chunk data"
        );
        at += size + 2;
    }
}

/// Sends `raw` (one or more requests, the last with `Connection: close`) and returns
/// the responses.
pub fn exchange(addr: SocketAddr, raw: &[u8], head_only: bool) -> Vec<Reply> {
    parse_all(&exchange_raw(addr, raw), head_only)
}

/// Sends `raw` and returns every byte that comes back until the server closes.
pub fn exchange_raw(addr: SocketAddr, raw: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    s.write_all(raw).expect("send");
    let mut back = Vec::new();
    s.read_to_end(&mut back).expect("read the response");
    back
}

/// One request: `method target` with `body` (Content-Length when non-empty).
pub fn request(addr: SocketAddr, method: &str, target: &str, body: &[u8]) -> Reply {
    let mut raw = format!("{method} {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n");
    if !body.is_empty() || method == "POST" || method == "PUT" {
        raw.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    raw.push_str("\r\n");
    let mut raw = raw.into_bytes();
    raw.extend_from_slice(body);
    let mut all = exchange(addr, &raw, method == "HEAD");
    assert_eq!(all.len(), 1, "one response to {method} {target}");
    all.remove(0)
}

/// Waits (bounded) until something accepts connections on `addr`; `alive` says whether
/// the server is still running (a dead server fails at once).
pub fn wait_listening(addr: SocketAddr, mut alive: impl FnMut() -> bool) {
    for _ in 0..600 {
        if TcpStream::connect(addr).is_ok() {
            return;
        }
        assert!(alive(), "the server ended before listening on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on {addr} after 30 s");
}
