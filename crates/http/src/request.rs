//! Request-head parsing (RFC 9112 §2–§6) on top of `httparse`, with our own byte limits,
//! strict line endings and message-framing rules.
//!
//! Invariant: [`parse_head`] never panics and never allocates; the parsed
//! [`RequestHead`] holds byte ranges into the caller's buffer, not borrows.

use std::mem::MaybeUninit;
use std::ops::Range;

use crate::config::{ServerConfig, MAX_HEADER_SLOTS};
use crate::error::RequestError;

/// Request methods (RFC 9110 §9); any other token is answered with 501.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET (RFC 9110 §9.3.1).
    Get,
    /// HEAD (RFC 9110 §9.3.2).
    Head,
    /// POST (RFC 9110 §9.3.3).
    Post,
    /// PUT (RFC 9110 §9.3.4).
    Put,
    /// DELETE (RFC 9110 §9.3.5).
    Delete,
    /// CONNECT (RFC 9110 §9.3.6).
    Connect,
    /// OPTIONS (RFC 9110 §9.3.7).
    Options,
    /// TRACE (RFC 9110 §9.3.8).
    Trace,
    /// PATCH (RFC 5789).
    Patch,
}

impl Method {
    fn from_token(token: &str) -> Option<Self> {
        Some(match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "CONNECT" => Method::Connect,
            "OPTIONS" => Method::Options,
            "TRACE" => Method::Trace,
            "PATCH" => Method::Patch,
            _ => return None,
        })
    }

    /// The method's token as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Connect => "CONNECT",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
            Method::Patch => "PATCH",
        }
    }
}

/// HTTP version of a request (RFC 9112 §2.3); only 1.0 and 1.1 are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0.
    Http10,
    /// HTTP/1.1.
    Http11,
}

/// How the request body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body.
    None,
    /// `Content-Length: n` with n > 0.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A parsed request head: scalars plus byte ranges into the buffer it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// Request method.
    pub method: Method,
    /// Protocol version.
    pub version: Version,
    /// The request-target (RFC 9112 §3.2).
    pub target: Range<usize>,
    /// Message body framing.
    pub body: BodyKind,
    /// Whether the connection persists after this exchange (RFC 9112 §9.3).
    pub keep_alive: bool,
    /// `Expect: 100-continue` was sent (RFC 9110 §10.1.1).
    pub expect_continue: bool,
    /// Value of `If-None-Match`, if any (RFC 9110 §13.1.2).
    pub if_none_match: Option<Range<usize>>,
    /// Value of `If-Modified-Since`, if any (RFC 9110 §13.1.3).
    pub if_modified_since: Option<Range<usize>>,
    /// Value of `Range`, if any (RFC 9110 §14.2).
    pub range: Option<Range<usize>>,
    /// Value of `If-Range`, if any (RFC 9110 §13.1.5).
    pub if_range: Option<Range<usize>>,
    /// Length of the head in bytes, final empty line included.
    pub head_len: usize,
}

/// Parses one request head at the start of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed, an error that maps to a status code
/// otherwise. Bare LF line endings are rejected (RFC 9112 §2.2 allows, but does not
/// require, accepting them; rejecting closes a request-smuggling door), obs-fold is
/// rejected with 400 (RFC 9112 §5.2), and Content-Length / Transfer-Encoding follow
/// RFC 9112 §6.3. A Content-Length above `max-body-bytes` is refused (413).
pub fn parse_head(buf: &[u8], config: &ServerConfig) -> Result<Option<RequestHead>, RequestError> {
    let head = parse_head_any_length(buf, config)?;
    if let Some(RequestHead {
        body: BodyKind::Length(n),
        ..
    }) = &head
    {
        if *n > config.max_body_bytes as u64 {
            return Err(RequestError::BodyTooLarge);
        }
    }
    Ok(head)
}

/// [`parse_head`] without the `max-body-bytes` limit on a Content-Length: the caller
/// applies it once it knows the route (a streamed body has none).
pub fn parse_head_any_length(
    buf: &[u8],
    config: &ServerConfig,
) -> Result<Option<RequestHead>, RequestError> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADER_SLOTS];
    let max_headers = config.max_headers.clamp(1, MAX_HEADER_SLOTS);
    let mut req = httparse::Request::new(&mut []);
    let status = match req.parse_with_uninit_headers(buf, &mut slots[..max_headers]) {
        Ok(s) => s,
        Err(httparse::Error::TooManyHeaders) => return Err(RequestError::TooManyHeaders),
        Err(httparse::Error::Version) => {
            // A syntactically valid "HTTP/x.y" we do not speak → 505; garbage → 400.
            return Err(if looks_like_other_version(buf) {
                RequestError::VersionNotSupported
            } else {
                RequestError::Malformed
            });
        }
        Err(_) => {
            return Err(if has_bare_lf(buf) {
                RequestError::BareLf
            } else {
                RequestError::Malformed
            })
        }
    };
    let head_len = match status {
        httparse::Status::Partial => {
            if has_bare_lf(buf) {
                return Err(RequestError::BareLf);
            }
            let line_end = memchr::memchr(b'\n', buf);
            if line_end.is_none() && buf.len() > config.max_uri_bytes.saturating_add(64) {
                return Err(RequestError::UriTooLong);
            }
            if buf.len() > config.max_header_bytes {
                return Err(RequestError::HeadersTooLarge);
            }
            return Ok(None);
        }
        httparse::Status::Complete(n) => n,
    };
    let head = buf.get(..head_len).ok_or(RequestError::Malformed)?;
    if head_len > config.max_header_bytes {
        return Err(RequestError::HeadersTooLarge);
    }
    if has_bare_lf(head) {
        return Err(RequestError::BareLf);
    }
    let method = req
        .method
        .and_then(Method::from_token)
        .ok_or(RequestError::UnknownMethod)?;
    let version = match req.version {
        Some(0) => Version::Http10,
        Some(1) => Version::Http11,
        _ => return Err(RequestError::VersionNotSupported),
    };
    let path = req.path.ok_or(RequestError::Malformed)?;
    if path.len() > config.max_uri_bytes {
        return Err(RequestError::UriTooLong);
    }
    let target = range_of(buf, path.as_bytes());

    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut transfer_encoding = false;
    let mut conn_close = false;
    let mut conn_keep_alive = false;
    let mut expect_continue = false;
    let mut hosts = 0usize;
    let mut if_none_match = None;
    let mut if_modified_since = None;
    let mut range = None;
    let mut if_range = None;

    for h in req.headers.iter() {
        let name = h.name;
        // Dispatch on length first: most fields are none of ours and cost one compare.
        let is = |want: &str| name.len() == want.len() && name.eq_ignore_ascii_case(want);
        match name.len() {
            4 if is("host") => hosts += 1,
            5 if is("range") => range = Some(range_of(buf, h.value)),
            6 if is("expect") => {
                if trim(h.value).eq_ignore_ascii_case(b"100-continue") {
                    expect_continue = true;
                } else {
                    return Err(RequestError::ExpectationFailed);
                }
            }
            8 if is("if-range") => if_range = Some(range_of(buf, h.value)),
            10 if is("connection") => {
                for opt in list_items(h.value) {
                    if opt.eq_ignore_ascii_case(b"close") {
                        conn_close = true;
                    } else if opt.eq_ignore_ascii_case(b"keep-alive") {
                        conn_keep_alive = true;
                    }
                }
            }
            13 if is("if-none-match") => if_none_match = Some(range_of(buf, h.value)),
            14 if is("content-length") => {
                let n = parse_content_length(h.value)?;
                match content_length {
                    Some(prev) if prev != n => return Err(RequestError::ConflictingContentLength),
                    _ => content_length = Some(n),
                }
            }
            17 if is("transfer-encoding") => {
                transfer_encoding = true;
                for coding in list_items(h.value) {
                    if chunked {
                        // RFC 9112 §6.1: chunked must be the final coding and is applied once.
                        return Err(RequestError::InvalidTransferEncoding);
                    }
                    if coding.eq_ignore_ascii_case(b"chunked") {
                        chunked = true;
                    } else {
                        return Err(RequestError::UnsupportedTransferCoding);
                    }
                }
            }
            17 if is("if-modified-since") => if_modified_since = Some(range_of(buf, h.value)),
            _ => {}
        }
    }

    // RFC 9112 §3.2: exactly one Host in HTTP/1.1; more than one is always an error.
    if hosts > 1 || (version == Version::Http11 && hosts == 0) {
        return Err(RequestError::Host);
    }
    let body = if transfer_encoding {
        // RFC 9112 §6.1 / §6.3: TE with CL may be an attempt at request smuggling, and
        // TE in an HTTP/1.0 request is treated as faulty framing: 400 and close.
        if content_length.is_some() {
            return Err(RequestError::ContentLengthAndTransferEncoding);
        }
        if version == Version::Http10 || !chunked {
            return Err(RequestError::InvalidTransferEncoding);
        }
        BodyKind::Chunked
    } else {
        match content_length {
            Some(0) | None => BodyKind::None,
            Some(n) => BodyKind::Length(n),
        }
    };
    let keep_alive = !conn_close && (version == Version::Http11 || conn_keep_alive);
    Ok(Some(RequestHead {
        method,
        version,
        target,
        body,
        keep_alive,
        expect_continue: expect_continue && version == Version::Http11,
        if_none_match,
        if_modified_since,
        range,
        if_range,
        head_len,
    }))
}

/// Byte range of `part` inside `buf` (`part` must be a sub-slice of `buf`).
fn range_of(buf: &[u8], part: &[u8]) -> Range<usize> {
    let start = (part.as_ptr() as usize).saturating_sub(buf.as_ptr() as usize);
    start..start + part.len()
}

/// True if some LF in `buf` is not preceded by CR.
fn has_bare_lf(buf: &[u8]) -> bool {
    memchr::memchr_iter(b'\n', buf).any(|i| i == 0 || buf.get(i - 1) != Some(&b'\r'))
}

/// True if the request line ends in `HTTP/<digit>.<digit>` (a version we could name).
fn looks_like_other_version(buf: &[u8]) -> bool {
    let line_end = buf
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(buf.len());
    let line = buf.get(..line_end).unwrap_or_default();
    match line.rsplit(|&b| b == b' ').next() {
        Some([b'H', b'T', b'T', b'P', b'/', major, b'.', minor]) => {
            major.is_ascii_digit() && minor.is_ascii_digit()
        }
        _ => false,
    }
}

/// Parses a Content-Length value: 1*DIGIT (RFC 9110 §8.6); a list of identical values
/// ("5, 5") is accepted as the RFC allows, differing ones are an error.
fn parse_content_length(value: &[u8]) -> Result<u64, RequestError> {
    let mut result: Option<u64> = None;
    for item in value.split(|&b| b == b',') {
        let item = trim(item);
        if item.is_empty() || item.len() > 19 || !item.iter().all(u8::is_ascii_digit) {
            return Err(RequestError::InvalidContentLength);
        }
        let n = item
            .iter()
            .try_fold(0u64, |acc, &d| {
                acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
            })
            .ok_or(RequestError::InvalidContentLength)?;
        match result {
            Some(prev) if prev != n => return Err(RequestError::ConflictingContentLength),
            _ => result = Some(n),
        }
    }
    result.ok_or(RequestError::InvalidContentLength)
}

/// Non-empty, whitespace-trimmed elements of a comma-separated list (RFC 9110 §5.6.1).
fn list_items(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim)
        .filter(|s| !s.is_empty())
}

/// `value` without leading and trailing SP / HTAB.
pub(crate) fn trim(value: &[u8]) -> &[u8] {
    let start = value
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |e| e + 1);
    value.get(start..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Option<RequestHead>, RequestError> {
        parse_head(s.as_bytes(), &ServerConfig::default())
    }

    #[test]
    fn simple_get() {
        let raw = "GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n";
        let h = parse(raw).unwrap().unwrap();
        assert_eq!(h.method, Method::Get);
        assert_eq!(&raw[h.target.clone()], "/plaintext");
        assert_eq!(h.body, BodyKind::None);
        assert!(h.keep_alive);
        assert_eq!(h.head_len, raw.len());
    }

    #[test]
    fn truncated_is_partial() {
        let raw = "GET /plaintext HTTP/1.1\r\nHost: a\r\n";
        for i in 0..raw.len() {
            assert_eq!(parse(&raw[..i]), Ok(None), "prefix {i}");
        }
    }

    #[test]
    fn http10_defaults_to_close() {
        let h = parse("GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!h.keep_alive);
        let h = parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.keep_alive);
        let h = parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!h.keep_alive);
    }

    #[test]
    fn bare_lf_rejected() {
        assert_eq!(
            parse("GET / HTTP/1.1\nHost: a\n\n"),
            Err(RequestError::BareLf)
        );
        assert_eq!(
            parse("GET / HTTP/1.1\r\nHost: a\n\r\n"),
            Err(RequestError::BareLf)
        );
        assert_eq!(
            parse("GET / HTTP/1.1\r\nHost: a\n"),
            Err(RequestError::BareLf)
        );
    }

    #[test]
    fn obs_fold_rejected() {
        assert_eq!(
            parse("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n"),
            Err(RequestError::Malformed)
        );
    }

    #[test]
    fn space_before_colon_rejected() {
        assert_eq!(
            parse("GET / HTTP/1.1\r\nHost : a\r\n\r\n"),
            Err(RequestError::Malformed)
        );
    }

    #[test]
    fn oversize_head_is_431() {
        let big = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n", "a".repeat(20_000));
        assert_eq!(parse(&big), Err(RequestError::HeadersTooLarge));
        let full = format!("{big}\r\n");
        assert_eq!(parse(&full), Err(RequestError::HeadersTooLarge));
    }

    #[test]
    fn long_uri_is_414() {
        let uri = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(9000));
        assert_eq!(parse(&uri), Err(RequestError::UriTooLong));
        let partial = format!("GET /{}", "a".repeat(9000));
        assert_eq!(parse(&partial), Err(RequestError::UriTooLong));
    }

    #[test]
    fn too_many_headers_is_431() {
        let mut s = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
        for i in 0..100 {
            s.push_str(&format!("X-{i}: v\r\n"));
        }
        s.push_str("\r\n");
        assert_eq!(parse(&s), Err(RequestError::TooManyHeaders));
    }

    #[test]
    fn content_length_rules() {
        let h = parse("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.body, BodyKind::Length(5));
        let h = parse(
            "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.body, BodyKind::Length(5));
        assert_eq!(
            parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
            Err(RequestError::ConflictingContentLength)
        );
        assert_eq!(
            parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n"),
            Err(RequestError::ConflictingContentLength)
        );
        for bad in ["-1", "+5", "0x10", "", "5 5", "99999999999999999999999"] {
            assert_eq!(
                parse(&format!(
                    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {bad}\r\n\r\n"
                )),
                Err(RequestError::InvalidContentLength),
                "{bad}"
            );
        }
        assert_eq!(
            parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 999999999999\r\n\r\n"),
            Err(RequestError::BodyTooLarge)
        );
    }

    #[test]
    fn cl_and_te_rejected() {
        assert_eq!(
            parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(RequestError::ContentLengthAndTransferEncoding)
        );
        assert_eq!(
            parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
            Err(RequestError::ContentLengthAndTransferEncoding)
        );
    }

    #[test]
    fn transfer_encoding_rules() {
        let h = parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.body, BodyKind::Chunked);
        assert_eq!(
            parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"),
            Err(RequestError::InvalidTransferEncoding)
        );
        assert_eq!(
            parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            Err(RequestError::UnsupportedTransferCoding)
        );
        assert_eq!(
            parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"),
            Err(RequestError::InvalidTransferEncoding)
        );
        assert_eq!(
            parse("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(RequestError::InvalidTransferEncoding)
        );
    }

    #[test]
    fn host_rules() {
        assert_eq!(parse("GET / HTTP/1.1\r\n\r\n"), Err(RequestError::Host));
        assert_eq!(
            parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            Err(RequestError::Host)
        );
        assert!(parse("GET / HTTP/1.0\r\n\r\n").unwrap().is_some());
    }

    #[test]
    fn version_and_method() {
        assert_eq!(
            parse("GET / HTTP/2.0\r\nHost: a\r\n\r\n"),
            Err(RequestError::VersionNotSupported)
        );
        assert_eq!(
            parse("GET / FOO/1.1\r\nHost: a\r\n\r\n"),
            Err(RequestError::Malformed)
        );
        assert_eq!(
            parse("BREW / HTTP/1.1\r\nHost: a\r\n\r\n"),
            Err(RequestError::UnknownMethod)
        );
        assert_eq!(
            parse("G(T / HTTP/1.1\r\nHost: a\r\n\r\n"),
            Err(RequestError::Malformed)
        );
    }

    #[test]
    fn expect_rules() {
        let h = parse(
            "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert!(h.expect_continue);
        assert_eq!(
            parse("POST / HTTP/1.1\r\nHost: a\r\nExpect: tea\r\n\r\n"),
            Err(RequestError::ExpectationFailed)
        );
    }

    #[test]
    fn conditional_headers_recorded() {
        let raw = "GET /a HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"x\"\r\nRange: bytes=0-1\r\n\r\n";
        let h = parse(raw).unwrap().unwrap();
        assert_eq!(&raw[h.if_none_match.unwrap()], "\"x\"");
        assert_eq!(&raw[h.range.unwrap()], "bytes=0-1");
    }
}
