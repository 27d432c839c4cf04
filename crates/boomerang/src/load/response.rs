//! An incremental HTTP/1.1 response reader for the load generator: fed bytes as they arrive,
//! it finds the end of one response (RFC 9112 §6.3 message body length) without storing the
//! body, and says whether the connection may be reused (RFC 9112 §9.3).

use thiserror::Error;

/// Most header fields accepted in one response head.
pub const MAX_RESPONSE_HEADERS: usize = 64;
/// Largest response head accepted.
pub const MAX_RESPONSE_HEAD_BYTES: usize = 64 * 1024;
/// Longest chunk-size line accepted (size, extensions, CRLF).
pub const MAX_CHUNK_LINE_BYTES: usize = 1024;

/// Why a response could not be read.
#[derive(Debug, Error, PartialEq, Eq, Clone, Copy)]
pub enum ResponseError {
    /// The head is not valid HTTP/1.x.
    #[error("malformed response head")]
    MalformedHead,
    /// The head exceeded [`MAX_RESPONSE_HEAD_BYTES`] or [`MAX_RESPONSE_HEADERS`].
    #[error("response head too large")]
    HeadTooLarge,
    /// Content-Length or a chunk size is not a number.
    #[error("bad body length")]
    BadLength,
    /// Bytes arrived after a complete response on a connection with no request outstanding.
    #[error("unexpected bytes after the response")]
    Trailing,
}

/// A complete response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Complete {
    /// The status code.
    pub status: u16,
    /// Whether the server lets us send another request on this connection.
    pub keep_alive: bool,
    /// Body bytes (decoded length for chunked bodies).
    pub body_len: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading the chunk-size line.
    Size,
    /// Inside chunk data, this many bytes left.
    Data(u64),
    /// Expecting the CRLF after chunk data.
    DataEnd,
    /// Reading trailer lines after the last chunk.
    Trailer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    Length(u64),
    Chunked(Chunk),
    UntilClose,
}

#[derive(Debug, Clone, Copy)]
struct Head {
    status: u16,
    keep_alive: bool,
    body: Body,
}

/// Reads one response at a time; [`ResponseReader::reset`] before the next request.
#[derive(Debug, Default)]
pub struct ResponseReader {
    buf: Vec<u8>,
    head: Option<Head>,
    body_len: u64,
    head_request: bool,
}

impl ResponseReader {
    /// A reader with no state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Prepares for the response to the next request (`head_request`: it was a HEAD, so no body).
    pub fn reset(&mut self, head_request: bool) {
        self.buf.clear();
        self.head = None;
        self.body_len = 0;
        self.head_request = head_request;
    }

    /// Feeds received bytes; returns `Some` once the response is complete.
    ///
    /// All of `data` must belong to this response: bytes beyond its end are an error
    /// (the generator never pipelines).
    pub fn feed(&mut self, data: &[u8]) -> Result<Option<Complete>, ResponseError> {
        let mut data = data;
        if self.head.is_none() {
            let old = self.buf.len();
            self.buf.extend_from_slice(data);
            let mut headers = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&self.buf) {
                Ok(httparse::Status::Partial) => {
                    if self.buf.len() > MAX_RESPONSE_HEAD_BYTES {
                        return Err(ResponseError::HeadTooLarge);
                    }
                    return Ok(None);
                }
                Ok(httparse::Status::Complete(n)) => {
                    let head = self.interpret(&resp)?;
                    self.head = Some(head);
                    // `n` counts bytes of `self.buf`; the rest of `data` is body.
                    let used_from_data = n.saturating_sub(old);
                    data = data.get(used_from_data..).unwrap_or(&[]);
                    self.buf.clear();
                }
                Err(httparse::Error::TooManyHeaders) => return Err(ResponseError::HeadTooLarge),
                Err(_) => return Err(ResponseError::MalformedHead),
            }
        }
        self.feed_body(data)
    }

    /// Tells the reader the peer closed; completes a close-delimited body.
    pub fn eof(&mut self) -> Option<Complete> {
        match self.head {
            Some(Head {
                status,
                body: Body::UntilClose,
                ..
            }) => Some(Complete {
                status,
                keep_alive: false,
                body_len: self.body_len,
            }),
            _ => None,
        }
    }

    fn interpret(&self, resp: &httparse::Response<'_, '_>) -> Result<Head, ResponseError> {
        let status = resp.code.ok_or(ResponseError::MalformedHead)?;
        let http10 = resp.version == Some(0);
        let mut keep_alive = !http10;
        let mut length: Option<u64> = None;
        let mut chunked = false;
        for h in resp.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                let v = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .ok_or(ResponseError::BadLength)?;
                if length.is_some_and(|l| l != v) {
                    return Err(ResponseError::BadLength);
                }
                length = Some(v);
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = h
                    .value
                    .rsplit(|&b| b == b',')
                    .next()
                    .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            } else if h.name.eq_ignore_ascii_case("connection") {
                for token in h.value.split(|&b| b == b',') {
                    let t = token.trim_ascii();
                    if t.eq_ignore_ascii_case(b"close") {
                        keep_alive = false;
                    } else if t.eq_ignore_ascii_case(b"keep-alive") && http10 {
                        keep_alive = true;
                    }
                }
            }
        }
        // RFC 9112 §6.3: HEAD, 1xx, 204 and 304 have no body; then chunked; then length.
        let body = if self.head_request || status / 100 == 1 || status == 204 || status == 304 {
            Body::Length(0)
        } else if chunked {
            Body::Chunked(Chunk::Size)
        } else if let Some(l) = length {
            Body::Length(l)
        } else {
            keep_alive = false;
            Body::UntilClose
        };
        Ok(Head {
            status,
            keep_alive,
            body,
        })
    }

    fn complete(&self, head: Head) -> Complete {
        Complete {
            status: head.status,
            keep_alive: head.keep_alive,
            body_len: self.body_len,
        }
    }

    fn feed_body(&mut self, mut data: &[u8]) -> Result<Option<Complete>, ResponseError> {
        let Some(mut head) = self.head else {
            return Ok(None);
        };
        loop {
            match head.body {
                Body::UntilClose => {
                    self.body_len += data.len() as u64;
                    return Ok(None);
                }
                Body::Length(left) => {
                    let take = (data.len() as u64).min(left);
                    self.body_len += take;
                    let left = left - take;
                    head.body = Body::Length(left);
                    self.head = Some(head);
                    if left > 0 {
                        return Ok(None);
                    }
                    if data.len() as u64 > take {
                        return Err(ResponseError::Trailing);
                    }
                    return Ok(Some(self.complete(head)));
                }
                Body::Chunked(Chunk::Data(left)) => {
                    let take = (data.len() as u64).min(left);
                    self.body_len += take;
                    // `take <= data.len()` so the cast and the slice are in range.
                    data = data.get(take as usize..).unwrap_or(&[]);
                    head.body = Body::Chunked(if left == take {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data(left - take)
                    });
                    self.head = Some(head);
                    if data.is_empty() {
                        return Ok(None);
                    }
                }
                Body::Chunked(state) => {
                    // Line-oriented states: collect one line in `buf`.
                    let Some(nl) = data.iter().position(|&b| b == b'\n') else {
                        self.buf.extend_from_slice(data);
                        if self.buf.len() > MAX_CHUNK_LINE_BYTES {
                            return Err(ResponseError::BadLength);
                        }
                        return Ok(None);
                    };
                    self.buf.extend_from_slice(&data[..nl]);
                    data = &data[nl + 1..];
                    let line = std::mem::take(&mut self.buf);
                    let line = line.strip_suffix(b"\r").unwrap_or(&line);
                    head.body = Body::Chunked(match state {
                        Chunk::Size => {
                            let size_part = line.split(|&b| b == b';').next().unwrap_or(&[]);
                            let size = std::str::from_utf8(size_part)
                                .ok()
                                .and_then(|s| u64::from_str_radix(s.trim(), 16).ok())
                                .ok_or(ResponseError::BadLength)?;
                            if size == 0 {
                                Chunk::Trailer
                            } else {
                                Chunk::Data(size)
                            }
                        }
                        Chunk::DataEnd => {
                            if !line.is_empty() {
                                return Err(ResponseError::BadLength);
                            }
                            Chunk::Size
                        }
                        Chunk::Trailer => {
                            if line.is_empty() {
                                self.head = Some(head);
                                if !data.is_empty() {
                                    return Err(ResponseError::Trailing);
                                }
                                return Ok(Some(self.complete(head)));
                            }
                            Chunk::Trailer
                        }
                        // Handled by the arm above; kept as is for exhaustiveness.
                        Chunk::Data(left) => Chunk::Data(left),
                    });
                    self.head = Some(head);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(
        r: &mut ResponseReader,
        parts: &[&[u8]],
    ) -> Result<Option<Complete>, ResponseError> {
        let mut last = Ok(None);
        for p in parts {
            last = r.feed(p);
            if !matches!(last, Ok(None)) {
                return last;
            }
        }
        last
    }

    #[test]
    fn content_length_in_pieces() {
        let mut r = ResponseReader::new();
        let got = feed_all(
            &mut r,
            &[
                b"HTTP/1.1 200 OK\r\nContent-",
                b"Length: 5\r\n\r\nhe",
                b"llo",
            ],
        );
        assert_eq!(
            got,
            Ok(Some(Complete {
                status: 200,
                keep_alive: true,
                body_len: 5
            }))
        );
    }

    #[test]
    fn byte_at_a_time_chunked() {
        let msg = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n3\r\nabc\r\n0\r\nT: v\r\n\r\n";
        let mut r = ResponseReader::new();
        let mut done = None;
        for (i, b) in msg.iter().enumerate() {
            if let Some(c) = r.feed(std::slice::from_ref(b)).expect("valid") {
                assert_eq!(i, msg.len() - 1);
                done = Some(c);
            }
        }
        assert_eq!(done.map(|c| c.body_len), Some(8));
    }

    #[test]
    fn close_and_http10() {
        let mut r = ResponseReader::new();
        let c = r
            .feed(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
            .expect("valid")
            .expect("complete");
        assert!(!c.keep_alive);
        r.reset(false);
        assert_eq!(r.feed(b"HTTP/1.0 200 OK\r\n\r\nabc"), Ok(None));
        assert_eq!(
            r.eof().map(|c| (c.body_len, c.keep_alive)),
            Some((3, false))
        );
    }

    #[test]
    fn no_body_statuses_and_head() {
        let mut r = ResponseReader::new();
        r.reset(true);
        let c = r
            .feed(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n")
            .expect("valid");
        assert_eq!(c.map(|c| c.body_len), Some(0));
        r.reset(false);
        let c = r.feed(b"HTTP/1.1 304 Not Modified\r\n\r\n").expect("valid");
        assert_eq!(c.map(|c| c.status), Some(304));
    }

    #[test]
    fn errors() {
        let mut r = ResponseReader::new();
        assert_eq!(r.feed(b"NOPE\r\n\r\n"), Err(ResponseError::MalformedHead));
        r.reset(false);
        assert_eq!(
            r.feed(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"),
            Err(ResponseError::BadLength)
        );
        r.reset(false);
        assert_eq!(
            r.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab"),
            Err(ResponseError::Trailing)
        );
        r.reset(false);
        let big = vec![b'a'; MAX_RESPONSE_HEAD_BYTES + 10];
        assert_eq!(r.feed(b"HTTP/1.1 200 OK\r\nX: "), Ok(None));
        assert_eq!(r.feed(&big), Err(ResponseError::HeadTooLarge));
    }
}
