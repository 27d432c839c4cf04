//! What a handler's response body can be ([`Body`]): bytes it owns, a shared buffer
//! ([`Bytes`], also built from an `Arc<[u8]>` without copying), a file named by its path, or
//! a [`BodyStream`] whose [`BodyProducer`] is asked for the next piece only when the
//! connection's send side has room.
//!
//! Where each kind runs: owned and shared bytes are written by the shard (a shared buffer
//! larger than 16 KiB is queued by reference, never copied into the output buffer). A
//! file is opened, measured and read on the blocking pool in chunks of
//! `[http] file-chunk-bytes`, the next chunk only once the output has drained below
//! `[http] output-low-water`, exactly like a static file; small files are kept in the
//! shared file cache and then answered on the shard. A producer's
//! [`BodyProducer::next_chunk`] runs on the blocking pool (it may block) under the same
//! rule: one call per round trip, the next only when the output has drained.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use bytes::Bytes;

use crate::static_files::FileStream;

/// A response body.
///
/// ```
/// use std::sync::Arc;
/// use boomerang_http::response_body::{Body, BodyStream, Bytes};
///
/// let owned = Body::from("text");
/// let shared = Body::from(Bytes::from_static(b"a static buffer"));
/// let arc: Arc<[u8]> = Arc::from(&b"one buffer, many responses"[..]);
/// let from_arc = Body::from(arc.clone()); // no copy: the body holds a reference
/// let file = Body::file("/srv/big.iso");
/// let stream = Body::from(BodyStream::from_pieces(["a", "b"]));
/// assert_eq!(owned.in_memory(), Some(&b"text"[..]));
/// assert_eq!(from_arc.in_memory(), Some(&arc[..]));
/// assert_eq!(shared.len(), Some(15));
/// assert_eq!((file.len(), stream.len()), (None, None));
/// ```
pub enum Body {
    /// Bytes the response owns.
    Bytes(Vec<u8>),
    /// A shared, reference-counted buffer (sent without copying when large).
    Shared(Bytes),
    /// The file at this path: opened and read on the blocking pool when the response is
    /// sent (a missing file answers 404, an unreadable one 403 or 500, before any byte of
    /// the response head is sent).
    File(PathBuf),
    /// A body produced piece by piece on the blocking pool, with back-pressure.
    Stream(BodyStream),
}

impl Body {
    /// A body read from the file at `path` when the response is sent (see [`Body::File`]).
    ///
    /// ```
    /// let b = boomerang_http::response_body::Body::file("index.html");
    /// assert!(matches!(b, boomerang_http::response_body::Body::File(_)));
    /// ```
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Body::File(path.into())
    }

    /// The bytes of an in-memory body (owned or shared); `None` for a file or a stream.
    ///
    /// ```
    /// use boomerang_http::response_body::Body;
    /// assert_eq!(Body::from("hi").in_memory(), Some(&b"hi"[..]));
    /// assert_eq!(Body::file("x").in_memory(), None);
    /// ```
    pub fn in_memory(&self) -> Option<&[u8]> {
        match self {
            Body::Bytes(v) => Some(v),
            Body::Shared(b) => Some(b),
            Body::File(_) | Body::Stream(_) => None,
        }
    }

    /// The length when known before sending: in-memory bodies, and streams given a length.
    ///
    /// ```
    /// use boomerang_http::response_body::{Body, BodyStream};
    /// assert_eq!(Body::from(vec![0u8; 3]).len(), Some(3));
    /// let s = BodyStream::with_length(5, BodyStream::from_pieces(["hello"]));
    /// assert_eq!(Body::from(s).len(), Some(5));
    /// ```
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> Option<u64> {
        match self {
            Body::Bytes(v) => Some(v.len() as u64),
            Body::Shared(b) => Some(b.len() as u64),
            Body::File(_) => None,
            Body::Stream(s) => s.length(),
        }
    }

    /// Reads the whole body into memory, blocking: reads a file to its end, calls a
    /// producer until it is done. For tests and for converting to types that need the
    /// bytes (e.g. `http::Response<Vec<u8>>`).
    ///
    /// ```
    /// use boomerang_http::response_body::{Body, BodyStream};
    /// let b = Body::from(BodyStream::from_pieces(["a", "bc"]));
    /// assert_eq!(b.collect().unwrap(), b"abc");
    /// ```
    pub fn collect(self) -> io::Result<Vec<u8>> {
        match self {
            Body::Bytes(v) => Ok(v),
            Body::Shared(b) => Ok(b.to_vec()),
            Body::File(p) => std::fs::read(p),
            Body::Stream(mut s) => {
                let mut out = Vec::new();
                while let Some(piece) = s.producer.next_chunk()? {
                    out.extend_from_slice(&piece);
                }
                if let Some(n) = s.length {
                    if out.len() as u64 != n {
                        return Err(length_mismatch(n, out.len() as u64));
                    }
                }
                Ok(out)
            }
        }
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::Bytes(Vec::new())
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Bytes(v) => f.debug_tuple("Bytes").field(&v.len()).finish(),
            Body::Shared(b) => f.debug_tuple("Shared").field(&b.len()).finish(),
            Body::File(p) => f.debug_tuple("File").field(p).finish(),
            Body::Stream(s) => f.debug_tuple("Stream").field(&s.length).finish(),
        }
    }
}

impl PartialEq for Body {
    /// In-memory bodies compare by content; a file by path; a stream never equals anything.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Body::File(a), Body::File(b)) => a == b,
            (a, b) => match (a.in_memory(), b.in_memory()) {
                (Some(x), Some(y)) => x == y,
                _ => false,
            },
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Self {
        Body::Bytes(v)
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Body::Bytes(s.into_bytes())
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Body::Shared(Bytes::from_static(s.as_bytes()))
    }
}

impl From<&'static [u8]> for Body {
    fn from(s: &'static [u8]) -> Self {
        Body::Shared(Bytes::from_static(s))
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body::Shared(b)
    }
}

impl From<Arc<[u8]>> for Body {
    fn from(a: Arc<[u8]>) -> Self {
        Body::Shared(Bytes::from_owner(a))
    }
}

impl From<BodyStream> for Body {
    fn from(s: BodyStream) -> Self {
        Body::Stream(s)
    }
}

/// The source of a streamed response body. [`BodyProducer::next_chunk`] runs on the
/// blocking pool, so it may block (read a socket, a database cursor, a pipe). It is called
/// again only after the previous piece has (nearly) left: at most one piece of this body
/// waits in memory beyond `[http] output-low-water`, however slowly the client reads.
///
/// Closures `FnMut() -> io::Result<Option<Bytes>>` are producers:
///
/// ```
/// use boomerang_http::response_body::{BodyProducer, Bytes};
///
/// let mut left = 3;
/// let mut p = move || -> std::io::Result<Option<Bytes>> {
///     if left == 0 { return Ok(None) }
///     left -= 1;
///     Ok(Some(Bytes::from_static(b"tick\n")))
/// };
/// assert_eq!(p.next_chunk().unwrap().as_deref(), Some(&b"tick\n"[..]));
/// ```
pub trait BodyProducer: Send + 'static {
    /// The next piece of the body; `Ok(None)` at the end. An error (or a panic) after the
    /// response head has been sent cuts the connection short, the only signal left to the
    /// client that the body is incomplete. Empty pieces are skipped.
    fn next_chunk(&mut self) -> io::Result<Option<Bytes>>;
}

impl<F> BodyProducer for F
where
    F: FnMut() -> io::Result<Option<Bytes>> + Send + 'static,
{
    fn next_chunk(&mut self) -> io::Result<Option<Bytes>> {
        self()
    }
}

/// A streamed response body: a [`BodyProducer`] and, if known, the total length.
///
/// With a length the response carries `Content-Length` (a producer that yields more or
/// fewer bytes gets its connection cut); without one, `Transfer-Encoding: chunked` (for an
/// HTTP/1.0 client: no length field, and the connection closes after the body).
///
/// ```
/// use boomerang_http::response_body::{BodyStream, Bytes};
///
/// // Ten pieces of 1 KiB, produced one at a time as the client reads.
/// let s = BodyStream::from_pieces((0..10u8).map(|i| Bytes::from(vec![i; 1024])));
/// assert_eq!(s.length(), None);
/// let s = BodyStream::with_length(10 * 1024, s);
/// assert_eq!(s.length(), Some(10 * 1024));
/// ```
pub struct BodyStream {
    producer: Box<dyn BodyProducer>,
    length: Option<u64>,
}

impl fmt::Debug for BodyStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyStream")
            .field("length", &self.length)
            .finish_non_exhaustive()
    }
}

impl BodyStream {
    /// A body of unknown length from `producer` (sent chunked).
    ///
    /// ```
    /// use boomerang_http::response_body::{BodyStream, Bytes};
    /// let mut n = 0u32;
    /// let s = BodyStream::new(move || {
    ///     n += 1;
    ///     Ok((n <= 2).then(|| Bytes::from(format!("line {n}\n"))))
    /// });
    /// assert_eq!(s.length(), None);
    /// ```
    pub fn new(producer: impl BodyProducer) -> Self {
        Self {
            producer: Box::new(producer),
            length: None,
        }
    }

    /// `stream` announced with exactly `length` bytes (sent with `Content-Length`).
    ///
    /// ```
    /// use boomerang_http::response_body::BodyStream;
    /// let s = BodyStream::with_length(2, BodyStream::from_pieces(["ab"]));
    /// assert_eq!(s.length(), Some(2));
    /// ```
    pub fn with_length(length: u64, stream: BodyStream) -> Self {
        Self {
            length: Some(length),
            ..stream
        }
    }

    /// A body of the pieces `iter` yields (the iterator runs on the blocking pool).
    ///
    /// ```
    /// use boomerang_http::response_body::{Body, BodyStream};
    /// let b = Body::from(BodyStream::from_pieces(vec!["x".to_string(), "y".to_string()]));
    /// assert_eq!(b.collect().unwrap(), b"xy");
    /// ```
    pub fn from_pieces<I>(iter: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<Bytes>,
        I::IntoIter: Send + 'static,
    {
        let mut it = iter.into_iter();
        Self::new(move || Ok(it.next().map(Into::into)))
    }

    /// The announced length, if any.
    ///
    /// ```
    /// assert_eq!(boomerang_http::response_body::BodyStream::from_pieces(["a"]).length(), None);
    /// ```
    pub fn length(&self) -> Option<u64> {
        self.length
    }
}

fn length_mismatch(announced: u64, got: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the body producer announced {announced} bytes and yielded {got}"),
    )
}

/// How a streamed body is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framed {
    /// `Content-Length` (the count is checked) or close-delimited: raw bytes.
    Raw,
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A body that is still being read, on its way between the connection and the pool.
pub(crate) enum BodySource {
    /// The rest of a file.
    File(FileStream),
    /// A handler's producer, with how it is framed and how many bytes it yielded.
    Producer {
        stream: BodyStream,
        framed: Framed,
        sent: u64,
    },
}

impl fmt::Debug for BodySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodySource::File(s) => f.debug_tuple("File").field(&s.remaining).finish(),
            BodySource::Producer { framed, sent, .. } => f
                .debug_struct("Producer")
                .field("framed", framed)
                .field("sent", sent)
                .finish_non_exhaustive(),
        }
    }
}

/// One piece read from a [`BodySource`] on the pool.
pub(crate) struct Piece {
    pub data: Bytes,
    /// The body ends with this piece.
    pub last: bool,
    /// The source, to ask again (`None` once `last`).
    pub source: Option<BodySource>,
}

impl BodySource {
    /// Whether the pieces go out in chunked framing.
    pub(crate) fn chunked(&self) -> bool {
        matches!(
            self,
            BodySource::Producer {
                framed: Framed::Chunked,
                ..
            }
        )
    }

    /// Reads the next piece (blocking: runs on the pool, which contains a producer's panic).
    pub(crate) fn next_piece(self, chunk: usize) -> io::Result<Piece> {
        match self {
            BodySource::File(stream) => {
                let (data, stream) = crate::static_files::read_chunk(stream, chunk)?;
                let last = stream.remaining == 0;
                Ok(Piece {
                    data: Bytes::from(data),
                    last,
                    source: (!last).then_some(BodySource::File(stream)),
                })
            }
            BodySource::Producer {
                mut stream,
                framed,
                sent,
            } => {
                let next = loop {
                    match stream.producer.next_chunk()? {
                        Some(b) if b.is_empty() => continue,
                        other => break other,
                    }
                };
                let sent_now = sent + next.as_ref().map_or(0, |b| b.len() as u64);
                if let Some(n) = stream.length {
                    if sent_now > n || (next.is_none() && sent_now != n) {
                        return Err(length_mismatch(n, sent_now));
                    }
                }
                let last = next.is_none() || stream.length == Some(sent_now);
                Ok(Piece {
                    data: next.unwrap_or_default(),
                    last,
                    source: (!last).then_some(BodySource::Producer {
                        stream,
                        framed,
                        sent: sent_now,
                    }),
                })
            }
        }
    }
}

/// A handler's file body, to be opened on the pool.
#[derive(Debug)]
pub(crate) struct FileJob {
    pub path: PathBuf,
    pub head_only: bool,
    pub chunk: usize,
    pub cache: Option<Arc<crate::file_cache::FileCache>>,
    /// The loop time of the request (the file cache's clock).
    pub now: std::time::Instant,
}

/// A handler's file, opened on the pool.
#[derive(Debug)]
pub(crate) enum FileStart {
    /// The whole file is in the cache (and now shared from there).
    Cached(Arc<crate::file_cache::CachedFile>),
    /// `len` bytes: the first piece, and the rest still to read.
    Read {
        len: u64,
        first: Bytes,
        rest: Option<FileStream>,
    },
}

/// The file cache key of a handler's file body (request paths start with `/`, these never).
pub(crate) fn file_cache_key(path: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    [b"\0file:".as_slice(), path.as_os_str().as_bytes()].concat()
}

/// Opens a handler's file body (blocking: runs on the pool): small files go into the
/// file cache whole, larger ones are read in chunks.
pub(crate) fn open_file(job: &FileJob) -> io::Result<FileStart> {
    use std::io::Read as _;
    let meta = std::fs::metadata(&job.path)?;
    if !meta.is_file() {
        return Err(io::Error::from(io::ErrorKind::PermissionDenied));
    }
    let len = meta.len();
    if let Some(cache) = job.cache.as_ref().filter(|c| c.admits(len)) {
        let body = std::fs::read(&job.path)?;
        if body.len() as u64 == len {
            let info = crate::file_cache::FileInfo::new(
                len,
                meta.modified().ok(),
                crate::static_files::content_type_for(&job.path),
            );
            return Ok(FileStart::Cached(cache.insert(
                file_cache_key(&job.path),
                info,
                body,
                job.now,
            )));
        }
    }
    if let Some(cache) = job.cache.as_ref() {
        // Not (or no longer) cacheable: an older copy must not outlive this answer.
        cache.remove(&file_cache_key(&job.path));
    }
    if job.head_only || len == 0 {
        return Ok(FileStart::Read {
            len,
            first: Bytes::new(),
            rest: None,
        });
    }
    let mut file = std::fs::File::open(&job.path)?;
    let want = usize::try_from(len)
        .unwrap_or(usize::MAX)
        .min(job.chunk.max(1));
    let mut first = vec![0u8; want];
    file.read_exact(&mut first)?;
    let remaining = len - want as u64;
    Ok(FileStart::Read {
        len,
        first: Bytes::from(first),
        rest: (remaining > 0).then_some(FileStream { file, remaining }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(mut src: BodySource) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let p = src.next_piece(4)?;
            out.extend_from_slice(&p.data);
            match p.source {
                Some(s) if !p.last => src = s,
                _ => return Ok(out),
            }
        }
    }

    fn producer(stream: BodyStream) -> BodySource {
        BodySource::Producer {
            stream,
            framed: Framed::Raw,
            sent: 0,
        }
    }

    #[test]
    fn producer_pieces_and_length_checks() {
        let s = BodyStream::from_pieces(["ab", "", "cd"]);
        assert_eq!(drain(producer(s)).unwrap(), b"abcd");
        // Exactly the announced length ends the body without another call.
        let s = BodyStream::with_length(
            2,
            BodyStream::new(|| -> io::Result<Option<Bytes>> { Ok(Some(Bytes::from("ab"))) }),
        );
        assert_eq!(drain(producer(s)).unwrap(), b"ab");
        let short = BodyStream::with_length(5, BodyStream::from_pieces(["ab"]));
        assert_eq!(
            drain(producer(short)).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        let long = BodyStream::with_length(1, BodyStream::from_pieces(["ab"]));
        assert!(drain(producer(long)).is_err());
    }
}
