//! Request bodies streamed to a handler in chunks, with back-pressure: a
//! [`StreamingHandler`] runs on the blocking pool as soon as the request head is in, and
//! reads the body through a [`BodyReader`] while the shard is still receiving it.
//!
//! Between the two sits a bounded pipe of [`STREAMED_BODY_BUFFER`] bytes. The shard
//! decodes the body (Content-Length or chunked framing removed) into the pipe only while
//! it has room; when it is full the shard stops reading that connection's socket, so the
//! kernel's or the userspace stack's receive buffer fills and the TCP receive window
//! closes: a client never sends faster than the handler consumes. When the handler has
//! taken half of the pipe, it wakes the shard (through the worker's completion queue) to
//! read on. A body is never held whole in memory.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use bytes::Bytes;

use crate::handler::{IntoResponse, Request, Response};

/// Decoded body bytes a streamed upload may have waiting for its handler (per request).
pub const STREAMED_BODY_BUFFER: usize = 256 * 1024;

/// A handler that reads the request body as a stream. Closures
/// `Fn(&Request, &mut BodyReader) -> R` with `R:` [`IntoResponse`] are streaming handlers.
/// They always run on the blocking pool: reading the body blocks until the client has sent
/// more.
///
/// ```
/// use std::io::Read;
/// use boomerang_http::request_body::{BodyReader, StreamingHandler};
/// use boomerang_http::{Request, Response};
///
/// let count = |_: &Request, body: &mut BodyReader| -> std::io::Result<String> {
///     let mut n = 0u64;
///     while let Some(chunk) = body.chunk()? {
///         n += chunk.len() as u64;
///     }
///     Ok(format!("{n} bytes\n"))
/// };
/// let req = Request::new(http::Method::POST, "/upload");
/// let resp = count.handle(&req, &mut BodyReader::from_bytes(vec![7u8; 1000]));
/// assert_eq!(resp.body(), b"1000 bytes\n");
/// ```
pub trait StreamingHandler: Send + Sync + 'static {
    /// Answers `req`, reading its body from `body` (on a blocking-pool thread).
    fn handle(&self, req: &Request, body: &mut BodyReader) -> Response;
}

impl<F, R> StreamingHandler for F
where
    F: Fn(&Request, &mut BodyReader) -> R + Send + Sync + 'static,
    R: IntoResponse,
{
    fn handle(&self, req: &Request, body: &mut BodyReader) -> Response {
        self(req, body).into_response()
    }
}

/// An I/O error as a response (so a handler may return `io::Result<T>`): `400` when the
/// client's body was malformed (`InvalidData`), `408` when it stalled (`TimedOut`), else
/// `500`; the body is the error's text.
impl IntoResponse for io::Error {
    fn into_response(self) -> Response {
        let status = match self.kind() {
            io::ErrorKind::InvalidData => http::StatusCode::BAD_REQUEST,
            io::ErrorKind::TimedOut => http::StatusCode::REQUEST_TIMEOUT,
            _ => http::StatusCode::INTERNAL_SERVER_ERROR,
        };
        Response::text(format!("{self}\n")).with_status(status)
    }
}

/// How the body ends, seen from the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// More may come.
    Open,
    /// The whole body is in the pipe.
    Finished,
    /// The body will not complete (reset, malformed framing, timeout).
    Failed(io::ErrorKind),
}

#[derive(Debug)]
struct State {
    chunks: VecDeque<Bytes>,
    buffered: usize,
    end: End,
    /// The shard found the pipe full and waits to be woken.
    shard_waiting: bool,
}

/// Tells the shard that a full pipe has room again.
pub(crate) type Wake = Box<dyn Fn() + Send + Sync>;

/// The pipe between the shard (writer) and the handler (reader).
struct Pipe {
    state: Mutex<State>,
    ready: Condvar,
    wake: Option<Wake>,
}

impl Pipe {
    fn new(end: End, chunks: VecDeque<Bytes>, wake: Option<Wake>) -> Self {
        Self {
            state: Mutex::new(State {
                buffered: chunks.iter().map(Bytes::len).sum(),
                chunks,
                end,
                shard_waiting: false,
            }),
            ready: Condvar::new(),
            wake,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A streamed request body, read by a [`StreamingHandler`]: chunk by chunk with
/// [`BodyReader::chunk`] (no copy), or through [`std::io::Read`]. Reading blocks until the
/// client has sent more; the end of the body is `Ok(None)` (or a read of 0). A body that
/// will not complete gives an error: `UnexpectedEof` or `ConnectionAborted` when the
/// client went away, `InvalidData` for malformed chunked framing, `TimedOut` when the
/// client stalled longer than `[http] body-read-timeout`.
///
/// ```
/// use std::io::Read;
/// use boomerang_http::request_body::BodyReader;
///
/// let mut body = BodyReader::from_bytes(b"hello, world".to_vec());
/// let mut text = String::new();
/// body.read_to_string(&mut text).unwrap();
/// assert_eq!(text, "hello, world");
/// assert_eq!(body.read(&mut [0u8; 8]).unwrap(), 0);
/// ```
pub struct BodyReader {
    pipe: Arc<Pipe>,
    current: Bytes,
    received: u64,
}

impl std::fmt::Debug for BodyReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyReader")
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

impl BodyReader {
    /// A reader of a body already whole in memory (for tests of streaming handlers, and
    /// for `Router::respond`).
    ///
    /// ```
    /// let mut b = boomerang_http::request_body::BodyReader::from_bytes(vec![1, 2, 3]);
    /// assert_eq!(b.chunk().unwrap().as_deref(), Some(&[1u8, 2, 3][..]));
    /// assert_eq!(b.chunk().unwrap(), None);
    /// ```
    pub fn from_bytes(body: impl Into<Bytes>) -> Self {
        let body: Bytes = body.into();
        let chunks = if body.is_empty() {
            VecDeque::new()
        } else {
            VecDeque::from([body])
        };
        Self::over(Arc::new(Pipe::new(End::Finished, chunks, None)))
    }

    fn over(pipe: Arc<Pipe>) -> Self {
        Self {
            pipe,
            current: Bytes::new(),
            received: 0,
        }
    }

    /// The next chunk of the body as it arrived (framing removed), `Ok(None)` at its end;
    /// blocks until the client has sent more.
    ///
    /// ```
    /// use boomerang_http::request_body::BodyReader;
    /// let mut b = BodyReader::from_bytes(&b"abc"[..]);
    /// let mut all = Vec::new();
    /// while let Some(c) = b.chunk().unwrap() {
    ///     all.extend_from_slice(&c);
    /// }
    /// assert_eq!(all, b"abc");
    /// ```
    pub fn chunk(&mut self) -> io::Result<Option<Bytes>> {
        if !self.current.is_empty() {
            return Ok(Some(std::mem::take(&mut self.current)));
        }
        let pipe = &self.pipe;
        let mut st = pipe.lock();
        loop {
            if let Some(c) = st.chunks.pop_front() {
                st.buffered -= c.len();
                let wake = st.shard_waiting && st.buffered <= STREAMED_BODY_BUFFER / 2;
                if wake {
                    st.shard_waiting = false;
                }
                drop(st);
                if let (true, Some(wake)) = (wake, pipe.wake.as_ref()) {
                    wake();
                }
                self.received += c.len() as u64;
                return Ok(Some(c));
            }
            match st.end {
                End::Finished => return Ok(None),
                End::Failed(kind) => {
                    return Err(io::Error::new(
                        kind,
                        "the request body did not complete (see the error kind)",
                    ))
                }
                End::Open => {
                    st = pipe.ready.wait(st).unwrap_or_else(PoisonError::into_inner);
                }
            }
        }
    }

    /// Body bytes handed out so far.
    ///
    /// ```
    /// let mut b = boomerang_http::request_body::BodyReader::from_bytes(vec![0u8; 10]);
    /// b.chunk().unwrap();
    /// assert_eq!(b.received(), 10);
    /// ```
    pub fn received(&self) -> u64 {
        self.received
    }
}

impl io::Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.current.is_empty() {
            match self.chunk()? {
                Some(c) => self.current = c,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        bytes::Buf::advance(&mut self.current, n);
        Ok(n)
    }
}

/// The shard's end of the pipe. Dropping it before [`BodySender::finish`] fails the
/// reader with `ConnectionAborted` (the connection is gone), so a handler never waits for
/// a body that cannot come.
pub(crate) struct BodySender {
    pipe: Arc<Pipe>,
}

impl std::fmt::Debug for BodySender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodySender").finish_non_exhaustive()
    }
}

impl BodySender {
    /// A pipe: the sender and the handler's reader; the reader calls `wake` (from its
    /// thread) when the shard waits for room and half the pipe is free.
    pub(crate) fn pipe(wake: Wake) -> (BodySender, BodyReader) {
        let pipe = Arc::new(Pipe::new(End::Open, VecDeque::new(), Some(wake)));
        (
            BodySender {
                pipe: Arc::clone(&pipe),
            },
            BodyReader::over(pipe),
        )
    }

    /// Bytes the pipe takes now; at 0 the pipe remembers that the shard waits, and the
    /// reader wakes it once it has room again.
    pub(crate) fn room(&self) -> usize {
        let mut st = self.pipe.lock();
        let room = STREAMED_BODY_BUFFER.saturating_sub(st.buffered);
        if room == 0 {
            st.shard_waiting = true;
        }
        room
    }

    /// Queues decoded body bytes for the reader.
    pub(crate) fn push(&self, data: Vec<u8>) {
        if data.is_empty() {
            return;
        }
        let mut st = self.pipe.lock();
        st.buffered += data.len();
        st.chunks.push_back(Bytes::from(data));
        drop(st);
        self.pipe.ready.notify_one();
    }

    /// The whole body is queued.
    pub(crate) fn finish(self) {
        self.end(End::Finished);
    }

    /// The body will not complete.
    pub(crate) fn fail(self, kind: io::ErrorKind) {
        self.end(End::Failed(kind));
    }

    fn end(&self, end: End) {
        let mut st = self.pipe.lock();
        if st.end == End::Open {
            st.end = end;
        }
        drop(st);
        self.pipe.ready.notify_all();
    }
}

impl Drop for BodySender {
    fn drop(&mut self) {
        self.end(End::Failed(io::ErrorKind::ConnectionAborted));
    }
}

/// A reader of an empty body, already complete.
pub(crate) fn empty_body() -> BodyReader {
    BodyReader::from_bytes(Bytes::new())
}

/// Runs `handler` over `req` and `body` under `catch_unwind` (on the pool).
pub(crate) fn call(
    handler: &dyn StreamingHandler,
    req: &Request,
    body: &mut BodyReader,
) -> Result<Response, String> {
    crate::contain::catch(|| handler.handle(req, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn counter() -> (Wake, Arc<AtomicUsize>) {
        let wakes = Arc::new(AtomicUsize::new(0));
        let w = Arc::clone(&wakes);
        let wake: Wake = Box::new(move || {
            w.fetch_add(1, Ordering::SeqCst);
        });
        (wake, wakes)
    }

    #[test]
    fn a_full_pipe_wakes_the_shard_once_half_is_read() {
        let (wake, wakes) = counter();
        let (tx, mut rx) = BodySender::pipe(wake);
        let piece = STREAMED_BODY_BUFFER / 4;
        for _ in 0..4 {
            assert!(tx.room() >= piece);
            tx.push(vec![1u8; piece]);
        }
        assert_eq!(tx.room(), 0, "full");
        rx.chunk().unwrap();
        assert_eq!(wakes.load(Ordering::SeqCst), 0, "a quarter read: not yet");
        rx.chunk().unwrap();
        assert_eq!(
            wakes.load(Ordering::SeqCst),
            1,
            "half read: the shard is woken"
        );
        assert_eq!(tx.room(), STREAMED_BODY_BUFFER / 2);
        rx.chunk().unwrap();
        assert_eq!(wakes.load(Ordering::SeqCst), 1, "woken once per wait");
        tx.push(b"end".to_vec());
        tx.finish();
        let mut rest = Vec::new();
        rx.read_to_end(&mut rest).unwrap();
        assert_eq!(rest.len(), piece + 3);
        assert_eq!(rx.received(), (3 * piece + piece + 3) as u64);
    }

    #[test]
    fn a_reader_blocked_on_a_dropped_sender_gets_an_error() {
        let (wake, _) = counter();
        let (tx, mut rx) = BodySender::pipe(wake);
        let t = std::thread::spawn(move || rx.chunk().map_err(|e| e.kind()));
        drop(tx);
        assert_eq!(t.join().unwrap(), Err(io::ErrorKind::ConnectionAborted));
    }

    #[test]
    fn io_errors_become_statuses() {
        let r: io::Result<&'static str> = Err(io::ErrorKind::InvalidData.into());
        assert_eq!(r.into_response().status(), http::StatusCode::BAD_REQUEST);
        let r: io::Result<&'static str> = Ok("fine");
        assert_eq!(r.into_response().body(), b"fine");
    }
}
