//! Static files under a root directory, run on the blocking pool: path decoding and
//! normalisation, symlink-proof containment, Content-Type by extension, validators
//! (ETag, Last-Modified → 304, RFC 9110 §13), single byte ranges (206/416, RFC 9110 §14)
//! and streaming of large files in chunks.
//!
//! Invariant: no file outside the canonical root is ever opened for reading.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use percent_encoding::percent_decode;

use crate::file_cache::FileInfo;

/// A static-file request as handed to the blocking pool.
#[derive(Debug, Clone)]
pub(crate) struct StaticRequest {
    pub root: Arc<PathBuf>,
    /// The raw path prefix the root is mounted under (empty for the configured root);
    /// part of the cache key and of redirect locations.
    pub mount: Vec<u8>,
    /// The request-target below the mount (starts with `/`).
    pub target: Vec<u8>,
    pub head_only: bool,
    pub if_none_match: Option<Vec<u8>>,
    pub if_modified_since: Option<Vec<u8>>,
    pub range: Option<Vec<u8>>,
    pub if_range: Option<Vec<u8>>,
    pub chunk: usize,
    pub cache: Option<Arc<crate::file_cache::FileCache>>,
    /// The loop time of the request (what the file cache measures an entry's age from).
    pub now: Instant,
}

/// The rest of a file body still to be read.
#[derive(Debug)]
pub(crate) struct FileStream {
    pub file: File,
    pub remaining: u64,
}

/// The answer to a [`StaticRequest`].
#[derive(Debug)]
pub(crate) struct StaticResponse {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub headers: Vec<(&'static str, String)>,
    /// Content-Length; `None` for 304.
    pub length: Option<u64>,
    /// Body bytes available now (first chunk of the file, or an error text).
    pub body: Vec<u8>,
    pub stream: Option<FileStream>,
}

impl StaticResponse {
    fn error(status: u16, text: &str) -> Self {
        Self {
            status,
            content_type: Some("text/plain; charset=utf-8"),
            headers: Vec::new(),
            length: Some(text.len() as u64),
            body: text.as_bytes().to_vec(),
            stream: None,
        }
    }
}

/// Content-Type for a file name's extension.
pub fn content_type_for(path: &Path) -> &'static str {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match ext.to_ascii_lowercase().as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "txt" | "md" => "text/plain; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        "pdf" => "application/pdf",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "mp4" => "video/mp4",
        "gz" => "application/gzip",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}

/// Decodes and normalises the path of a request-target into relative segments
/// (RFC 3986 §5.2.4 dot-segment removal; `..` never climbs above the root).
///
/// Returns `None` for targets that cannot name a file (not origin-form, NUL, not UTF-8).
pub fn normalize_target(target: &[u8]) -> Option<(Vec<String>, bool)> {
    let end = target
        .iter()
        .position(|&b| b == b'?' || b == b'#')
        .unwrap_or(target.len());
    let path = target.get(..end)?;
    if path.first() != Some(&b'/') {
        return None;
    }
    let decoded: Vec<u8> = percent_decode(path).collect();
    if decoded.contains(&0) {
        return None;
    }
    let decoded = String::from_utf8(decoded).ok()?;
    let trailing_slash = decoded.ends_with('/');
    let mut segments: Vec<String> = Vec::new();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s.to_string()),
        }
    }
    Some((segments, trailing_slash))
}

/// RFC 9110 §13.1.2: weak comparison of `If-None-Match` against `etag`.
fn none_match_hits(value: &[u8], etag: &str) -> bool {
    let value = crate::request::trim(value);
    if value == b"*" {
        return true;
    }
    value.split(|&b| b == b',').any(|tag| {
        let tag = crate::request::trim(tag);
        let tag = tag.strip_prefix(b"W/").unwrap_or(tag);
        tag == etag.as_bytes()
    })
}

/// Parses a single `bytes=` range against `len` (RFC 9110 §14.1.2).
///
/// `Ok(Some((first, last)))` satisfiable, `Ok(None)` ignore (multi-range or other unit),
/// `Err(())` unsatisfiable.
#[allow(clippy::result_unit_err)]
pub fn parse_range(value: &[u8], len: u64) -> Result<Option<(u64, u64)>, ()> {
    let value = crate::request::trim(value);
    let Some(spec) = value.strip_prefix(b"bytes=") else {
        return Ok(None);
    };
    if spec.contains(&b',') {
        return Ok(None);
    }
    let Some(dash) = spec.iter().position(|&b| b == b'-') else {
        return Ok(None);
    };
    let (a, b) = (
        spec.get(..dash).unwrap_or_default(),
        spec.get(dash + 1..).unwrap_or_default(),
    );
    let num = |s: &[u8]| -> Option<u64> {
        if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(s).ok()?.parse().ok()
    };
    if a.is_empty() {
        let Some(n) = num(b) else { return Ok(None) };
        if n == 0 || len == 0 {
            return Err(());
        }
        return Ok(Some((len - n.min(len), len - 1)));
    }
    let Some(first) = num(a) else { return Ok(None) };
    let last = if b.is_empty() {
        u64::MAX
    } else {
        match num(b) {
            Some(l) if l >= first => l,
            _ => return Ok(None),
        }
    };
    if first >= len {
        return Err(());
    }
    Ok(Some((first, last.min(len - 1))))
}

fn io_status(e: &io::Error) -> u16 {
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => 404,
        io::ErrorKind::PermissionDenied => 403,
        _ => 500,
    }
}

fn io_response(e: &io::Error) -> StaticResponse {
    match io_status(e) {
        404 => StaticResponse::error(404, "Not Found\n"),
        403 => StaticResponse::error(403, "Forbidden\n"),
        _ => StaticResponse::error(500, "Internal Server Error\n"),
    }
}

/// Serves one static-file request (blocking: opens, stats and reads the file); a cached copy
/// of a file this request did not reload into the cache (gone, changed into a directory, now
/// too large) is dropped, so an expired entry never outlives its file.
pub(crate) fn serve(req: &StaticRequest) -> StaticResponse {
    let mut cached = false;
    let response = serve_file(req, &mut cached);
    if let (Some(cache), false) = (req.cache.as_ref(), cached) {
        cache.remove(&full_key(req));
    }
    response
}

/// [`serve`] without the cache clean-up; sets `cached` when the file went into the cache.
fn serve_file(req: &StaticRequest, cached: &mut bool) -> StaticResponse {
    let Some((segments, trailing_slash)) = normalize_target(&req.target) else {
        return StaticResponse::error(400, "Bad Request\n");
    };
    let mut path: PathBuf = req.root.as_ref().clone();
    for s in &segments {
        path.push(s);
    }
    // Resolve symlinks, then check containment on the resolved path.
    let mut real = match path.canonicalize() {
        Ok(p) => p,
        Err(e) => return io_response(&e),
    };
    if !real.starts_with(req.root.as_ref()) {
        return StaticResponse::error(403, "Forbidden\n");
    }
    let mut meta = match real.metadata() {
        Ok(m) => m,
        Err(e) => return io_response(&e),
    };
    if meta.is_dir() {
        if !trailing_slash && !segments.is_empty() {
            let mut location = String::from_utf8_lossy(&req.mount).into_owned();
            for s in &segments {
                location.push('/');
                location.extend(percent_encoding::utf8_percent_encode(s, PATH_SEGMENT));
            }
            location.push('/');
            let mut r = StaticResponse::error(301, "Moved Permanently\n");
            r.headers.push(("Location", location));
            return r;
        }
        real.push("index.html");
        real = match real.canonicalize() {
            Ok(p) if p.starts_with(req.root.as_ref()) => p,
            Ok(_) => return StaticResponse::error(403, "Forbidden\n"),
            Err(e) => return io_response(&e),
        };
        meta = match real.metadata() {
            Ok(m) => m,
            Err(e) => return io_response(&e),
        };
    }
    if !meta.is_file() {
        return StaticResponse::error(403, "Forbidden\n");
    }
    let modified = meta.modified().ok();
    let info = FileInfo::new(meta.len(), modified, content_type_for(&real));
    let conditions = Conditions {
        if_none_match: req.if_none_match.as_deref(),
        if_modified_since: req.if_modified_since.as_deref(),
        range: req.range.as_deref(),
        if_range: req.if_range.as_deref(),
    };
    // Small files are read whole, kept in the shared cache, and answered from memory.
    if let Some(cache) = req.cache.as_ref().filter(|c| c.admits(info.len)) {
        if let Ok(body) = std::fs::read(&real) {
            if body.len() as u64 == info.len {
                let key = full_key(req);
                let file = cache.insert(key, info, body, req.now);
                *cached = true;
                return from_memory(&file.info, &file.body, &conditions, req.head_only);
            }
        }
    }
    let plan = plan(&info, &conditions);
    let mut headers = info.headers();
    let (status, first, count) = match plan {
        Plan::NotModified => {
            return StaticResponse {
                status: 304,
                content_type: None,
                headers,
                length: None,
                body: Vec::new(),
                stream: None,
            };
        }
        Plan::Unsatisfiable => {
            let mut r = StaticResponse::error(416, "Range Not Satisfiable\n");
            r.headers
                .push(("Content-Range", format!("bytes */{}", info.len)));
            return r;
        }
        Plan::Send {
            status,
            first,
            count,
        } => (status, first, count),
    };
    if status == 206 {
        headers.push(("Content-Range", content_range(first, count, info.len)));
    }
    let content_type = Some(info.content_type);
    if req.head_only {
        return StaticResponse {
            status,
            content_type,
            headers,
            length: Some(count),
            body: Vec::new(),
            stream: None,
        };
    }
    let mut file = match File::open(&real) {
        Ok(f) => f,
        Err(e) => return io_response(&e),
    };
    if first > 0 {
        if let Err(e) = file.seek(SeekFrom::Start(first)) {
            return io_response(&e);
        }
    }
    let stream = FileStream {
        file,
        remaining: count,
    };
    match read_chunk(stream, req.chunk) {
        Ok((body, stream)) => StaticResponse {
            status,
            content_type,
            headers,
            length: Some(count),
            body,
            stream: (stream.remaining > 0).then_some(stream),
        },
        Err(e) => io_response(&e),
    }
}

/// The response to `c` for an in-memory file (pool path after caching).
fn from_memory(
    info: &FileInfo,
    body: &[u8],
    c: &Conditions<'_>,
    head_only: bool,
) -> StaticResponse {
    let mut headers = info.headers();
    match plan(info, c) {
        Plan::NotModified => StaticResponse {
            status: 304,
            content_type: None,
            headers,
            length: None,
            body: Vec::new(),
            stream: None,
        },
        Plan::Unsatisfiable => {
            let mut r = StaticResponse::error(416, "Range Not Satisfiable\n");
            r.headers
                .push(("Content-Range", format!("bytes */{}", info.len)));
            r
        }
        Plan::Send {
            status,
            first,
            count,
        } => {
            if status == 206 {
                headers.push(("Content-Range", content_range(first, count, info.len)));
            }
            let part = usize::try_from(first)
                .ok()
                .and_then(|f| {
                    body.get(f..f.saturating_add(usize::try_from(count).unwrap_or(usize::MAX)))
                })
                .unwrap_or_default();
            StaticResponse {
                status,
                content_type: Some(info.content_type),
                headers,
                length: Some(count),
                body: if head_only { Vec::new() } else { part.to_vec() },
                stream: None,
            }
        }
    }
}

/// `Content-Range` value of a satisfiable range (RFC 9110 §14.4).
pub(crate) fn content_range(first: u64, count: u64, len: u64) -> String {
    format!("bytes {first}-{}/{len}", first + count - 1)
}

/// The cache key of a request: the mount and the path below it (the request's whole
/// path), without query or fragment.
fn full_key(req: &StaticRequest) -> Vec<u8> {
    [req.mount.as_slice(), cache_key(&req.target)].concat()
}

/// The cache key of a request-target: its path, without query or fragment.
pub(crate) fn cache_key(target: &[u8]) -> &[u8] {
    let end = target
        .iter()
        .position(|&b| b == b'?' || b == b'#')
        .unwrap_or(target.len());
    target.get(..end).unwrap_or_default()
}

/// The conditional and range fields of a request (raw values).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Conditions<'a> {
    pub if_none_match: Option<&'a [u8]>,
    pub if_modified_since: Option<&'a [u8]>,
    pub range: Option<&'a [u8]>,
    pub if_range: Option<&'a [u8]>,
}

/// What to answer for a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// 304.
    NotModified,
    /// 416.
    Unsatisfiable,
    /// 200 or 206 with `count` bytes from `first`.
    Send { status: u16, first: u64, count: u64 },
}

/// Evaluates preconditions (RFC 9110 §13.2.2: If-None-Match before If-Modified-Since) and a
/// single range (RFC 9110 §14.2, honouring If-Range §13.1.5).
pub(crate) fn plan(info: &FileInfo, c: &Conditions<'_>) -> Plan {
    let not_modified = match (c.if_none_match, c.if_modified_since) {
        (Some(inm), _) => none_match_hits(inm, &info.etag),
        (None, Some(ims)) => {
            let since = std::str::from_utf8(ims)
                .ok()
                .and_then(|s| httpdate::parse_http_date(s.trim()).ok());
            match (since, info.modified) {
                (Some(since), Some(m)) => m
                    .duration_since(since)
                    .map_or(true, |d| d < Duration::from_secs(1)),
                _ => false,
            }
        }
        (None, None) => false,
    };
    if not_modified {
        return Plan::NotModified;
    }
    let range_applies = match c.if_range {
        Some(v) => {
            let v = crate::request::trim(v);
            v == info.etag.as_bytes() || info.last_modified.as_deref().map(str::as_bytes) == Some(v)
        }
        None => true,
    };
    if let (Some(range), true) = (c.range, range_applies) {
        match parse_range(range, info.len) {
            Ok(Some((a, b))) => {
                return Plan::Send {
                    status: 206,
                    first: a,
                    count: b - a + 1,
                }
            }
            Ok(None) => {}
            Err(()) => return Plan::Unsatisfiable,
        }
    }
    Plan::Send {
        status: 200,
        first: 0,
        count: info.len,
    }
}

/// Characters percent-encoded in a path segment of a `Location` we build.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// Reads up to `chunk` bytes of the stream's remaining body (blocking).
///
/// A file that shrank underneath us ends in `UnexpectedEof`.
pub(crate) fn read_chunk(
    mut stream: FileStream,
    chunk: usize,
) -> io::Result<(Vec<u8>, FileStream)> {
    let want = usize::try_from(stream.remaining)
        .unwrap_or(usize::MAX)
        .min(chunk.max(1));
    let mut buf = vec![0u8; want];
    stream.file.read_exact(&mut buf)?;
    stream.remaining -= want as u64;
    Ok((buf, stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization() {
        let n = |s: &str| normalize_target(s.as_bytes()).map(|(v, t)| (v.join("/"), t));
        assert_eq!(n("/a/b/../c"), Some(("a/c".into(), false)));
        assert_eq!(n("/../../etc/passwd"), Some(("etc/passwd".into(), false)));
        assert_eq!(
            n("/%2e%2e/%2e%2e/etc/passwd"),
            Some(("etc/passwd".into(), false))
        );
        assert_eq!(n("/a%20b/?q=1"), Some(("a b".into(), true)));
        assert_eq!(n("/a%00b"), None);
        assert_eq!(n("a"), None);
        assert_eq!(n("/%ff"), None);
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range(b"bytes=0-9", 100), Ok(Some((0, 9))));
        assert_eq!(parse_range(b"bytes=90-", 100), Ok(Some((90, 99))));
        assert_eq!(parse_range(b"bytes=90-200", 100), Ok(Some((90, 99))));
        assert_eq!(parse_range(b"bytes=-10", 100), Ok(Some((90, 99))));
        assert_eq!(parse_range(b"bytes=-200", 100), Ok(Some((0, 99))));
        assert_eq!(parse_range(b"bytes=100-", 100), Err(()));
        assert_eq!(parse_range(b"bytes=-0", 100), Err(()));
        assert_eq!(parse_range(b"bytes=5-1", 100), Ok(None));
        assert_eq!(parse_range(b"bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(parse_range(b"items=0-1", 100), Ok(None));
        assert_eq!(parse_range(b"bytes=x-1", 100), Ok(None));
    }

    #[test]
    fn etag_matching() {
        assert!(none_match_hits(b"\"a\", W/\"b\"", "\"b\""));
        assert!(none_match_hits(b"*", "\"b\""));
        assert!(!none_match_hits(b"\"a\"", "\"b\""));
    }

    #[test]
    fn types() {
        assert_eq!(
            content_type_for(Path::new("x/INDEX.HTML")),
            "text/html; charset=utf-8"
        );
        assert_eq!(
            content_type_for(Path::new("x/blob")),
            "application/octet-stream"
        );
    }
}
