//! Response serialisation into a caller's reusable buffer (RFC 9112 §4, §6, §7.1) and the
//! once-a-second `Date` cache (RFC 9110 §6.6.1). Nothing here allocates once the buffer
//! has grown to its working size.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::SERVER_NAME;

/// Length of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub const HTTP_DATE_LEN: usize = 29;

/// The `Date` header value, formatted at most once per second.
#[derive(Debug, Clone)]
pub struct DateCache {
    secs: u64,
    text: [u8; HTTP_DATE_LEN],
}

impl DateCache {
    /// A cache holding `now`.
    pub fn new(now: SystemTime) -> Self {
        let mut d = Self {
            secs: u64::MAX,
            text: [b' '; HTTP_DATE_LEN],
        };
        d.refresh(now);
        d
    }

    /// Reformats the date if `now` is in a different second than the cached one.
    pub fn refresh(&mut self, now: SystemTime) {
        let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if secs == self.secs {
            return;
        }
        self.secs = secs;
        let s = httpdate::fmt_http_date(now);
        let bytes = s.as_bytes();
        if bytes.len() == HTTP_DATE_LEN {
            self.text.copy_from_slice(bytes);
        }
    }

    /// The formatted date.
    pub fn as_bytes(&self) -> &[u8] {
        &self.text
    }
}

/// Writes the status line (with CRLF) of `status`: the code as given, and its reason phrase
/// (RFC 9110 §15; none for a code without one).
pub fn write_status_line(out: &mut Vec<u8>, status: u16) {
    match common_status_line(status) {
        Some(line) => out.extend_from_slice(line),
        None => {
            out.extend_from_slice(b"HTTP/1.1 ");
            out.extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
            out.push(b' ');
            out.extend_from_slice(reason_phrase(status).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// The reason phrase of `status` (RFC 9110 §15), `""` for a code without one.
pub fn reason_phrase(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

/// The short text body of an error answer: `"404 Not Found\r\n"`.
pub fn status_text(status: u16) -> String {
    let mut line = Vec::new();
    write_status_line(&mut line, status);
    String::from_utf8_lossy(line.get(b"HTTP/1.1 ".len()..).unwrap_or_default()).into_owned()
}

/// The status lines written most, ready-made.
fn common_status_line(status: u16) -> Option<&'static [u8]> {
    Some(match status {
        100 => b"HTTP/1.1 100 Continue\r\n",
        200 => b"HTTP/1.1 200 OK\r\n",
        201 => b"HTTP/1.1 201 Created\r\n",
        204 => b"HTTP/1.1 204 No Content\r\n",
        206 => b"HTTP/1.1 206 Partial Content\r\n",
        301 => b"HTTP/1.1 301 Moved Permanently\r\n",
        304 => b"HTTP/1.1 304 Not Modified\r\n",
        400 => b"HTTP/1.1 400 Bad Request\r\n",
        403 => b"HTTP/1.1 403 Forbidden\r\n",
        404 => b"HTTP/1.1 404 Not Found\r\n",
        405 => b"HTTP/1.1 405 Method Not Allowed\r\n",
        408 => b"HTTP/1.1 408 Request Timeout\r\n",
        413 => b"HTTP/1.1 413 Content Too Large\r\n",
        414 => b"HTTP/1.1 414 URI Too Long\r\n",
        416 => b"HTTP/1.1 416 Range Not Satisfiable\r\n",
        417 => b"HTTP/1.1 417 Expectation Failed\r\n",
        431 => b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
        500 => b"HTTP/1.1 500 Internal Server Error\r\n",
        501 => b"HTTP/1.1 501 Not Implemented\r\n",
        503 => b"HTTP/1.1 503 Service Unavailable\r\n",
        505 => b"HTTP/1.1 505 HTTP Version Not Supported\r\n",
        _ => return None,
    })
}

/// How the response body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked` (HTTP/1.1 peers only).
    Chunked,
    /// No body and no length field (1xx, 204, 304).
    None,
}

/// The fixed part of a response head.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a> {
    /// Status code.
    pub status: u16,
    /// `Content-Type` value, if any.
    pub content_type: Option<&'a str>,
    /// Body framing.
    pub framing: Framing,
    /// Whether the connection stays open; `false` adds `Connection: close`.
    pub keep_alive: bool,
    /// The peer spoke HTTP/1.0: a kept-alive connection then says `Connection: keep-alive`.
    pub http10: bool,
}

/// Appends a response head to `out`: status line, `Server`, `Date`, the fields of `head`,
/// then `extra` (name, value) pairs, then the empty line.
pub fn write_head(out: &mut Vec<u8>, head: &Head<'_>, date: &DateCache, extra: &[(&str, &[u8])]) {
    write_status_line(out, head.status);
    out.extend_from_slice(b"Server: ");
    out.extend_from_slice(SERVER_NAME.as_bytes());
    out.extend_from_slice(b"\r\nDate: ");
    out.extend_from_slice(date.as_bytes());
    out.extend_from_slice(b"\r\n");
    if let Some(ct) = head.content_type {
        out.extend_from_slice(b"Content-Type: ");
        out.extend_from_slice(ct.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match head.framing {
        Framing::Length(n) => {
            out.extend_from_slice(b"Content-Length: ");
            out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        Framing::None => {}
    }
    if !head.keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if head.http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    for (name, value) in extra {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends one chunk (RFC 9112 §7.1) holding `data`; empty `data` writes nothing.
pub fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let mut hex = [0u8; 16];
    let mut n = data.len();
    let mut i = hex.len();
    while n > 0 && i > 0 {
        i -= 1;
        hex[i] = b"0123456789abcdef"[n & 0xf];
        n >>= 4;
    }
    out.extend_from_slice(hex.get(i..).unwrap_or_default());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Appends the last chunk and an empty trailer section.
pub fn write_last_chunk(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0\r\n\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn date_refreshes_per_second() {
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        let mut d = DateCache::new(t);
        assert_eq!(d.as_bytes(), b"Sun, 06 Nov 1994 08:49:37 GMT");
        d.refresh(t + Duration::from_millis(500));
        assert_eq!(d.as_bytes(), b"Sun, 06 Nov 1994 08:49:37 GMT");
        d.refresh(t + Duration::from_secs(1));
        assert_eq!(d.as_bytes(), b"Sun, 06 Nov 1994 08:49:38 GMT");
    }

    #[test]
    fn head_and_chunks() {
        let d = DateCache::new(UNIX_EPOCH + Duration::from_secs(784_111_777));
        let mut out = Vec::new();
        let head = Head {
            status: 200,
            content_type: Some("text/plain"),
            framing: Framing::Chunked,
            keep_alive: false,
            http10: false,
        };
        write_head(&mut out, &head, &d, &[("X-A", b"1")]);
        write_chunk(&mut out, &[b'a'; 26]);
        write_last_chunk(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\nServer: boomerang\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\
             X-A: 1\r\n\r\n1a\r\naaaaaaaaaaaaaaaaaaaaaaaaaa\r\n0\r\n\r\n"
        );
    }

    #[test]
    fn every_status_goes_out_as_given() {
        for (status, line) in [
            (200, "HTTP/1.1 200 OK\r\n"),
            (202, "HTTP/1.1 202 Accepted\r\n"),
            (302, "HTTP/1.1 302 Found\r\n"),
            (308, "HTTP/1.1 308 Permanent Redirect\r\n"),
            (409, "HTTP/1.1 409 Conflict\r\n"),
            (429, "HTTP/1.1 429 Too Many Requests\r\n"),
            (503, "HTTP/1.1 503 Service Unavailable\r\n"),
            (599, "HTTP/1.1 599 \r\n"),
        ] {
            let mut out = Vec::new();
            write_status_line(&mut out, status);
            assert_eq!(String::from_utf8(out).unwrap(), line);
        }
        for status in 100..600 {
            let mut out = Vec::new();
            write_status_line(&mut out, status);
            let text = String::from_utf8(out).unwrap();
            assert_eq!(
                text.get(..12),
                Some(format!("HTTP/1.1 {status}").as_str()),
                "{text}"
            );
            assert_eq!(status_text(status), text["HTTP/1.1 ".len()..]);
        }
    }
}
