//! The sans-IO HTTP/1.1 connection: fed received bytes and time, it parses requests
//! (pipelined, answered in order), runs routes, and leaves response bytes in an output
//! buffer the transport drains. It tells the transport when to stop reading
//! (back-pressure), when to shut down its write side (lingering close, RFC 9112 §9.6)
//! and when to close, and it owns the slowloris, body, keep-alive, write and linger
//! deadlines. It never performs I/O and never reads a clock.
//!
//! Transport contract, in any order driven by events:
//! `on_recv` (only while [`HttpConnection::wants_read`]), `on_eof`, `on_completion`,
//! `on_timeout` (at [`HttpConnection::poll_timeout`]); after each call send
//! [`HttpConnection::pending_output`] and report it with `consume_output`; then act on
//! [`HttpConnection::action`].

use std::collections::VecDeque;
use std::io::IoSlice;
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use crate::access_log::AccessFields;
use crate::blocking::{Completion, Job, Work, WorkResult};
use crate::body::{BodyDecoder, BodyLimits, ChunkedDecoder};
use crate::dispatch::{dispatch, ConnInfo, Next, Pending, Shared};
use crate::error::RequestError;
use crate::file_cache::CachedFile;
use crate::request::{parse_head_any_length, BodyKind, RequestHead};
use crate::request_body::BodySender;
use crate::response::{write_head, Framing, Head};
use crate::response_body::BodySource;
use crate::worker::HttpWorker;

mod streaming;

/// Initial capacity of a connection's input buffer (kept across requests).
pub const INPUT_BUFFER_INITIAL: usize = 1024;
/// Initial capacity of a connection's output buffer (kept across requests).
pub const OUTPUT_BUFFER_INITIAL: usize = 1024;
/// An empty buffer larger than this is shrunk back to its initial size, so one large
/// response or upload does not pin memory for the rest of a keep-alive connection.
pub const BUFFER_SHRINK_ABOVE: usize = 64 * 1024;
/// Largest idle-connection buffer kept by the worker for reuse (larger ones are freed).
pub const SPARE_BUFFER_MAX: usize = 4 * 1024;

/// Where the head of a refused request is, for its access-log line.
#[derive(Debug, Clone, Copy)]
enum RefusedHead {
    /// Unparsed at the start of the input (a bad or oversized head, or one that timed out).
    InInput,
    /// Parsed and kept in `head_buf` (the body was refused).
    Buffered,
}

/// What the transport must do with the socket now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnAction {
    /// Keep going: read while `wants_read`, write pending output.
    Open,
    /// All output is sent: shut down the write side (FIN), then call
    /// [`HttpConnection::on_write_shutdown`] and keep reading (lingering close).
    ShutdownWrite,
    /// Close the socket and drop the connection.
    Close,
}

/// A piece of output queued ahead of the connection's write buffer.
#[derive(Debug)]
enum Seg {
    /// Owned bytes from `start`.
    Bytes { buf: Vec<u8>, start: usize },
    /// A cached file's body, shared with the cache (never copied).
    Cached {
        file: Arc<CachedFile>,
        range: Range<usize>,
    },
    /// A handler's shared buffer or a piece of a streamed body (never copied).
    Shared(Bytes),
}

impl Seg {
    fn as_slice(&self) -> &[u8] {
        match self {
            Seg::Bytes { buf, start } => buf.get(*start..).unwrap_or_default(),
            Seg::Cached { file, range } => file.body.get(range.clone()).unwrap_or_default(),
            Seg::Shared(b) => b,
        }
    }

    fn len(&self) -> usize {
        self.as_slice().len()
    }

    fn advance(&mut self, n: usize) {
        match self {
            Seg::Bytes { start, .. } => *start += n,
            Seg::Cached { range, .. } => range.start = (range.start + n).min(range.end),
            Seg::Shared(b) => bytes::Buf::advance(b, n.min(b.len())),
        }
    }
}

#[derive(Debug)]
enum Phase {
    /// Between requests, waiting for a first byte (keep-alive idle timer).
    Idle { since: Instant },
    /// Part of a request head received (header-read timer from its first byte).
    Head { started: Instant },
    /// Reading a request body (idle-progress timer).
    Body {
        head: RequestHead,
        decoder: BodyDecoder,
        last_progress: Instant,
    },
    /// Streaming a request body to its handler, which runs on the pool already;
    /// `paused` while the pipe to the handler is full (the handler, not the client, is
    /// slow: no read deadline then).
    BodyStream {
        decoder: BodyDecoder,
        sender: BodySender,
        pending: Pending,
        last_progress: Instant,
        paused: bool,
    },
    /// A blocking job for the current request is outstanding.
    Waiting(Pending),
    /// A body (a file, a handler's producer) is being streamed; `stream` is `None` while
    /// the pool reads the next piece; `chunked`: pieces go out in chunked coding.
    Streaming {
        stream: Option<BodySource>,
        chunked: bool,
        pending: Pending,
    },
    /// No more requests: flush output, then shut down the write side.
    Closing,
    /// Write side shut: discard input until EOF, a byte limit or the deadline.
    Lingering { until: Instant, discarded: usize },
    /// Done; the transport closes the socket.
    Closed,
}

/// One HTTP/1.1 connection's state machine. See the module docs for the contract.
#[derive(Debug)]
pub struct HttpConnection {
    id: u64,
    input: Vec<u8>,
    in_start: usize,
    output: Vec<u8>,
    out_start: usize,
    /// Output queued ahead of `output` (shared file bodies and the bytes before them).
    segs: VecDeque<Seg>,
    /// Bytes pending in `segs`.
    segs_len: usize,
    head_buf: Vec<u8>,
    body: Vec<u8>,
    phase: Phase,
    peer_eof: bool,
    shutting_down: bool,
    /// Input was (or may be) left unread: closing must linger (RFC 9112 §9.6).
    must_linger: bool,
    /// Last write progress, or when output became pending.
    write_since: Instant,
    /// First byte of the current request.
    req_started: Instant,
    /// Unparsed input above which reading stops (a head this large is refused anyway).
    input_limit: usize,
    /// Pending output above which reading and parsing stop.
    high_water: usize,
    /// The peer's address, for the access log (see [`HttpConnection::set_peer`]).
    peer: Option<std::net::SocketAddr>,
    /// Every request is redirected to HTTPS on this port (see
    /// [`HttpConnection::redirect_to_https`]).
    redirect_https: Option<u16>,
}

impl HttpConnection {
    /// A new connection accepted at `now`; `id` is echoed in [`Completion::conn_id`] so the
    /// transport can route blocking-pool results back (make it unique per live connection
    /// of this worker, e.g. slot index plus a generation).
    pub fn new(ctx: &mut HttpWorker, id: u64, now: Instant) -> Self {
        ctx.metrics.connection_opened();
        let cfg = ctx.service().config();
        let input_limit = cfg.max_header_bytes.max(16 * 1024);
        let high_water = cfg.output_high_water;
        Self {
            input_limit,
            high_water,
            id,
            // Buffers are taken when the first bytes arrive and given back to the worker
            // whenever the connection goes idle: an idle keep-alive connection holds none.
            input: Vec::new(),
            in_start: 0,
            output: Vec::new(),
            out_start: 0,
            segs: VecDeque::new(),
            segs_len: 0,
            head_buf: Vec::new(),
            body: Vec::new(),
            phase: Phase::Idle { since: now },
            peer_eof: false,
            shutting_down: false,
            must_linger: false,
            write_since: now,
            req_started: now,
            peer: None,
            redirect_https: None,
        }
    }

    /// Makes this a connection of the HTTP → HTTPS redirect listener: every request is
    /// answered with a redirect to its host and target over HTTPS on `https_port` (301 for
    /// GET and HEAD, 308 for the rest), without routing it; a request body is not read (the
    /// connection closes after the answer, lingering).
    pub fn redirect_to_https(&mut self, https_port: u16) {
        self.redirect_https = Some(https_port);
    }

    /// Tells the connection its peer's address (the access log names it; `-` without).
    pub fn set_peer(&mut self, peer: std::net::SocketAddr) {
        self.peer = Some(peer);
    }

    /// The id given at creation.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Feeds bytes received from the peer.
    pub fn on_recv(&mut self, ctx: &mut HttpWorker, data: &[u8], now: Instant) {
        ctx.metrics.bytes_in(data.len());
        match &mut self.phase {
            Phase::Closed => return,
            Phase::Lingering { discarded, .. } => {
                *discarded = discarded.saturating_add(data.len());
                if *discarded > ctx.service().config().max_linger_bytes {
                    self.close_now(ctx);
                }
                return;
            }
            Phase::Closing => {
                self.must_linger |= !data.is_empty();
                return;
            }
            _ => {}
        }
        self.take_buffers(ctx);
        self.input.extend_from_slice(data);
        self.process(ctx, now);
        self.release_buffers_if_idle(ctx);
    }

    /// Makes sure the input and output buffers exist (from the worker's spares).
    fn take_buffers(&mut self, ctx: &mut HttpWorker) {
        if self.input.capacity() == 0 {
            self.input = ctx.take_buffer(INPUT_BUFFER_INITIAL);
        }
        if self.output.capacity() == 0 {
            self.output = ctx.take_buffer(OUTPUT_BUFFER_INITIAL);
        }
    }

    /// Between requests with nothing unread or unsent, the buffers go back to the worker.
    fn release_buffers_if_idle(&mut self, ctx: &mut HttpWorker) {
        if matches!(self.phase, Phase::Idle { .. })
            && self.in_start == self.input.len()
            && self.pending_len() == 0
        {
            ctx.give_buffer(std::mem::take(&mut self.input), SPARE_BUFFER_MAX);
            ctx.give_buffer(std::mem::take(&mut self.output), SPARE_BUFFER_MAX);
            self.in_start = 0;
            self.out_start = 0;
        }
    }

    /// The peer closed its write side (read returned 0). Complete requests already
    /// received are still answered.
    pub fn on_eof(&mut self, ctx: &mut HttpWorker, now: Instant) {
        self.peer_eof = true;
        if matches!(self.phase, Phase::Lingering { .. }) {
            self.close_now(ctx);
            return;
        }
        self.process(ctx, now);
    }

    /// The transport failed to read or write (reset, etc.): the connection is over.
    pub fn on_io_error(&mut self, ctx: &mut HttpWorker) {
        self.close_now(ctx);
    }

    /// Starts a graceful stop: the current response ends with `Connection: close`, an
    /// idle connection closes at once.
    pub fn begin_shutdown(&mut self, ctx: &mut HttpWorker) {
        self.shutting_down = true;
        if matches!(self.phase, Phase::Idle { .. }) && self.pending_len() == 0 {
            self.close_now(ctx);
        }
    }

    /// Whether a blocking-pool job for this connection is outstanding (a completion for
    /// it will arrive through [`HttpWorker::pop_completion`]).
    pub fn awaiting_completion(&self) -> bool {
        matches!(
            self.phase,
            Phase::Waiting(_) | Phase::Streaming { stream: None, .. } | Phase::BodyStream { .. }
        )
    }

    /// Whether the transport should read from the socket now (back-pressure).
    pub fn wants_read(&self) -> bool {
        match self.phase {
            Phase::Closed | Phase::Closing => false,
            Phase::Lingering { .. } => true,
            _ => {
                !self.peer_eof
                    && self.input.len() - self.in_start <= self.input_limit()
                    && self.pending_len() <= self.high_water()
            }
        }
    }

    fn input_limit(&self) -> usize {
        self.input_limit
    }

    fn high_water(&self) -> usize {
        self.high_water
    }

    /// Response bytes waiting to be sent: the first contiguous piece (more may follow;
    /// see [`Self::pending_slices`] and [`Self::pending_len`]).
    pub fn pending_output(&self) -> &[u8] {
        match self.segs.front() {
            Some(seg) => seg.as_slice(),
            None => self.output.get(self.out_start..).unwrap_or_default(),
        }
    }

    /// Fills `out` with the pending pieces in order (for a vectored write); returns how
    /// many were filled.
    pub fn pending_slices<'a>(&'a self, out: &mut [IoSlice<'a>]) -> usize {
        let tail = self.output.get(self.out_start..).unwrap_or_default();
        let pieces = self
            .segs
            .iter()
            .map(Seg::as_slice)
            .chain(std::iter::once(tail));
        let mut n = 0;
        for (slot, piece) in out.iter_mut().zip(pieces.filter(|p| !p.is_empty())) {
            *slot = IoSlice::new(piece);
            n += 1;
        }
        n
    }

    /// Total bytes waiting to be sent.
    pub fn pending_len(&self) -> usize {
        self.segs_len + (self.output.len() - self.out_start)
    }

    /// Reports that the first `n` pending bytes (in the order of [`Self::pending_slices`])
    /// were sent.
    pub fn consume_output(&mut self, ctx: &mut HttpWorker, n: usize, now: Instant) {
        let n = n.min(self.pending_len());
        if n == 0 {
            return;
        }
        ctx.metrics.bytes_out(n);
        self.write_since = now;
        let mut left = n;
        while left > 0 {
            let Some(front) = self.segs.front_mut() else {
                break;
            };
            let take = left.min(front.len());
            front.advance(take);
            self.segs_len -= take;
            left -= take;
            if front.len() == 0 {
                if let Some(Seg::Bytes { mut buf, .. }) = self.segs.pop_front() {
                    // A response head that went out before a shared body: its buffer
                    // becomes the output buffer again (or a spare), not garbage.
                    buf.clear();
                    if self.output.capacity() == 0 {
                        self.output = buf;
                    } else {
                        ctx.give_buffer(buf, SPARE_BUFFER_MAX);
                    }
                }
            }
        }
        self.out_start += left;
        if self.out_start == self.output.len() {
            self.output.clear();
            self.out_start = 0;
            if self.output.capacity() > BUFFER_SHRINK_ABOVE {
                self.output.shrink_to(OUTPUT_BUFFER_INITIAL);
            }
        } else if self.out_start > 64 * 1024 && self.out_start * 2 > self.output.len() {
            self.output.drain(..self.out_start);
            self.out_start = 0;
        }
        self.maybe_request_chunk(ctx, now);
        self.process(ctx, now);
        self.release_buffers_if_idle(ctx);
    }

    /// Queues a shared body after everything written so far, without copying it.
    fn push_shared(&mut self, shared: Shared) {
        let seg = match shared {
            Shared::Cached(file, range) => {
                if range.is_empty() || file.body.get(range.clone()).is_none() {
                    return;
                }
                Seg::Cached { file, range }
            }
            Shared::Bytes(b) if b.is_empty() => return,
            Shared::Bytes(b) => Seg::Shared(b),
        };
        if self.out_start < self.output.len() {
            let buf = std::mem::take(&mut self.output);
            self.segs_len += buf.len() - self.out_start;
            self.segs.push_back(Seg::Bytes {
                buf,
                start: self.out_start,
            });
        } else {
            self.output.clear();
        }
        self.out_start = 0;
        self.segs_len += seg.len();
        self.segs.push_back(seg);
    }

    /// Whether a [`ConnAction::ShutdownWrite`] may be replaced by closing at once because
    /// the exchange ended cleanly and nothing unread is buffered. Only valid if the
    /// transport also knows the socket's receive side is drained (as nginx does, the
    /// lingering close is kept for errors and unread input, RFC 9112 §9.6).
    pub fn linger_optional(&self) -> bool {
        matches!(self.phase, Phase::Closing)
            && !self.must_linger
            && self.in_start == self.input.len()
            && self.pending_len() == 0
    }

    /// The transport closes the connection now (after [`Self::linger_optional`]).
    pub fn close(&mut self, ctx: &mut HttpWorker) {
        self.close_now(ctx);
    }

    /// The write side was shut down: start the lingering close.
    pub fn on_write_shutdown(&mut self, ctx: &mut HttpWorker, now: Instant) {
        if self.peer_eof {
            self.close_now(ctx);
        } else {
            let linger = ctx.service().config().linger_timeout;
            self.phase = Phase::Lingering {
                until: now + linger,
                discarded: 0,
            };
        }
    }

    /// What the transport must do now.
    pub fn action(&self) -> ConnAction {
        match self.phase {
            Phase::Closed => ConnAction::Close,
            Phase::Closing if self.pending_len() == 0 => {
                if self.peer_eof {
                    ConnAction::Close
                } else {
                    ConnAction::ShutdownWrite
                }
            }
            _ => ConnAction::Open,
        }
    }

    /// The earliest deadline at which [`Self::on_timeout`] must be called.
    pub fn poll_timeout(&self, ctx: &HttpWorker) -> Option<Instant> {
        let cfg = ctx.service().config();
        let write = (self.pending_len() != 0).then(|| self.write_since + cfg.write_timeout);
        let phase = match &self.phase {
            Phase::Idle { since } => Some(*since + cfg.keep_alive_timeout),
            Phase::Head { started } => Some(*started + cfg.header_read_timeout),
            Phase::Body { last_progress, .. }
            | Phase::BodyStream {
                last_progress,
                paused: false,
                ..
            } => Some(*last_progress + cfg.body_read_timeout),
            Phase::BodyStream { paused: true, .. } => None,
            Phase::Lingering { until, .. } => Some(*until),
            Phase::Waiting(_) | Phase::Streaming { .. } | Phase::Closing | Phase::Closed => None,
        };
        match (write, phase) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Handles expired deadlines (call at or after [`Self::poll_timeout`]).
    pub fn on_timeout(&mut self, ctx: &mut HttpWorker, now: Instant) {
        let cfg = ctx.service().config();
        if self.pending_len() != 0 && now >= self.write_since + cfg.write_timeout {
            ctx.metrics.timeout();
            self.close_now(ctx);
            return;
        }
        match &self.phase {
            Phase::Idle { since } if now >= *since + cfg.keep_alive_timeout => {
                ctx.metrics.timeout();
                if self.pending_len() == 0 {
                    self.close_now(ctx);
                } else {
                    self.phase = Phase::Closing;
                }
            }
            Phase::Head { started } if now >= *started + cfg.header_read_timeout => {
                ctx.metrics.timeout();
                self.fail(ctx, RequestError::Timeout, RefusedHead::InInput, now);
            }
            Phase::Body { last_progress, .. } if now >= *last_progress + cfg.body_read_timeout => {
                ctx.metrics.timeout();
                self.fail(ctx, RequestError::Timeout, RefusedHead::Buffered, now);
            }
            Phase::BodyStream {
                last_progress,
                paused: false,
                ..
            } if now >= *last_progress + cfg.body_read_timeout => {
                ctx.metrics.timeout();
                self.fail_streamed_body(
                    ctx,
                    std::io::ErrorKind::TimedOut,
                    RequestError::Timeout,
                    now,
                );
            }
            Phase::Lingering { until, .. } if now >= *until => self.close_now(ctx),
            _ => {}
        }
    }

    /// Delivers a finished blocking job for this connection.
    pub fn on_completion(&mut self, ctx: &mut HttpWorker, completion: Completion, now: Instant) {
        self.take_buffers(ctx);
        let phase = std::mem::replace(&mut self.phase, Phase::Closed);
        match (phase, completion.result) {
            (Phase::Waiting(p), WorkResult::Static(r)) => {
                let framing = match r.length {
                    Some(n) => Framing::Length(n),
                    None => Framing::None,
                };
                let keep_alive = p.keep_alive && !self.shutting_down;
                let extra: Vec<(&str, &[u8])> =
                    r.headers.iter().map(|(n, v)| (*n, v.as_bytes())).collect();
                self.start_output(now);
                let head = Head {
                    status: r.status,
                    content_type: r.content_type,
                    framing,
                    keep_alive,
                    http10: p.http10,
                };
                write_head(&mut self.output, &head, &ctx.date, &extra);
                self.record(ctx, r.status, now);
                let mut p = Pending { keep_alive, ..p };
                if let Some(entry) = p.access.take() {
                    ctx.access_line(&entry.fields(), r.status, Some(r.length.unwrap_or(0)));
                }
                if !p.head_only {
                    self.output.extend_from_slice(&r.body);
                    if let Some(stream) = r.stream {
                        self.phase = Phase::Streaming {
                            stream: Some(BodySource::File(stream)),
                            chunked: false,
                            pending: p,
                        };
                        self.maybe_request_chunk(ctx, now);
                        return;
                    }
                }
                self.finish_response(p.keep_alive, now);
            }
            (Phase::Waiting(mut p), WorkResult::Handler(result)) => {
                let resp = match result {
                    Ok(resp) => resp,
                    Err(panic) => ctx.handler_panicked(&panic, now),
                };
                let info = self.reply_info(&p, now);
                self.answer(ctx, p.access.take(), now, |out, ctx| {
                    crate::dispatch::answer_user(out, ctx, resp, info)
                });
            }
            (Phase::Waiting(mut p), WorkResult::File(opened)) => {
                let Some(head) = p.head.take() else {
                    self.close_now(ctx);
                    return;
                };
                let info = self.reply_info(&p, now);
                self.answer(ctx, p.access.take(), now, |out, ctx| {
                    crate::dispatch::answer_file(out, ctx, &head, opened, info)
                });
            }
            (phase @ Phase::BodyStream { .. }, result) => {
                self.streamed_body_completion(ctx, phase, result, now);
            }
            (
                Phase::Streaming {
                    stream: None,
                    chunked,
                    pending,
                },
                WorkResult::Chunk(Ok(piece)),
            ) => {
                self.start_output(now);
                self.write_piece(piece.data, chunked, piece.last);
                match piece.source {
                    Some(source) if !piece.last => {
                        self.phase = Phase::Streaming {
                            stream: Some(source),
                            chunked,
                            pending,
                        };
                        self.maybe_request_chunk(ctx, now);
                        return;
                    }
                    _ => self.finish_response(pending.keep_alive, now),
                }
            }
            (Phase::Streaming { .. }, WorkResult::Chunk(Err(e))) => {
                // Headers (with the length) are gone already: the only honest signal left
                // is to cut the connection short.
                tracing::warn!(conn = self.id, error = %e, "a response body failed mid-way");
                self.close_now(ctx);
                return;
            }
            (phase, _) => {
                // A result that does not match the state (a wake-up for a pipe that is
                // gone, or a transport bug); keep the state and drop the result.
                self.phase = phase;
                return;
            }
        }
        self.process(ctx, now);
    }

    /// The facts of the current request an answer needs.
    fn reply_info(&self, p: &Pending, now: Instant) -> crate::dispatch::ReplyInfo {
        crate::dispatch::ReplyInfo {
            conn_id: self.id,
            now,
            keep_alive: p.keep_alive && !self.shutting_down,
            http10: p.http10,
            head_only: p.head_only,
        }
    }

    /// Writes an answer produced by `write` into the output, logs it (with `access`), and
    /// moves to the phase it leads to.
    fn answer(
        &mut self,
        ctx: &mut HttpWorker,
        access: Option<Box<crate::access_log::AccessEntry>>,
        now: Instant,
        write: impl FnOnce(&mut Vec<u8>, &mut HttpWorker) -> Next,
    ) {
        let was_empty = self.pending_len() == 0;
        let before = self.output.len();
        let mut next = write(&mut self.output, ctx);
        if let Some(entry) = access {
            let written = self.output.get(before..).unwrap_or_default();
            crate::dispatch::log_next(ctx, &entry.fields(), &mut next, written);
        }
        self.after_dispatch(ctx, next, was_empty, now);
    }

    /// Appends one piece of a streamed body (in chunked coding when `chunked`; `last`
    /// ends the body).
    fn write_piece(&mut self, data: Bytes, chunked: bool, last: bool) {
        use std::io::Write as _;
        let len = data.len();
        if chunked && len > 0 {
            let _ = write!(self.output, "{len:x}\r\n");
        }
        if len > crate::dispatch::SHARE_BODY_ABOVE {
            self.push_shared(Shared::Bytes(data));
        } else {
            self.output.extend_from_slice(&data);
        }
        if chunked && len > 0 {
            self.output.extend_from_slice(b"\r\n");
        }
        if chunked && last {
            crate::response::write_last_chunk(&mut self.output);
        }
    }

    fn start_output(&mut self, now: Instant) {
        if self.pending_len() == 0 {
            self.write_since = now;
        }
    }

    fn record(&mut self, ctx: &mut HttpWorker, status: u16, now: Instant) {
        ctx.metrics
            .response(status, now.saturating_duration_since(self.req_started));
    }

    fn finish_response(&mut self, keep_alive: bool, now: Instant) {
        self.phase = if keep_alive && !self.shutting_down {
            Phase::Idle { since: now }
        } else {
            Phase::Closing
        };
    }

    fn close_now(&mut self, ctx: &mut HttpWorker) {
        if !matches!(self.phase, Phase::Closed) {
            ctx.metrics.connection_closed();
        }
        self.phase = Phase::Closed;
    }

    /// Asks the pool for the next piece of a streamed body once output has drained below
    /// the low mark (the back-pressure of file and producer bodies alike).
    fn maybe_request_chunk(&mut self, ctx: &mut HttpWorker, _now: Instant) {
        let low = ctx.service().config().output_low_water;
        if self.pending_len() > low {
            return;
        }
        let Phase::Streaming { stream, .. } = &mut self.phase else {
            return;
        };
        let Some(s) = stream.take() else { return };
        let chunk = ctx.service().config().file_chunk_bytes;
        let id = self.id;
        if ctx
            .submit(|reply| Job {
                conn_id: id,
                reply,
                work: Work::Chunk(s, chunk),
            })
            .is_err()
        {
            // Pool full or gone mid-body: the response cannot be completed.
            ctx.metrics.blocking_rejected();
            self.close_now(ctx);
        }
    }

    /// Answers `err` with its status and `Connection: close`, then stops reading requests.
    /// The refused request's head (whole or in part) is at `head`, for the access log.
    fn fail(&mut self, ctx: &mut HttpWorker, err: RequestError, head: RefusedHead, now: Instant) {
        tracing::debug!(conn = self.id, error = %err, "request refused");
        if let Some(limit) = err.limit() {
            ctx.metrics.limit_refusal();
            if ctx.limit_log.ready(now) {
                tracing::info!(
                    limit,
                    error = %err,
                    status = err.status(),
                    "a request exceeded an [http] limit and was refused (counted in \
                     boomerang_http_limit_refusals_total)"
                );
            }
        }
        let status = err.status();
        self.start_output(now);
        let body = crate::response::status_text(status);
        let body = body.as_bytes();
        if ctx.access.is_some() {
            let bytes = match head {
                RefusedHead::InInput => self.input.get(self.in_start..),
                RefusedHead::Buffered => Some(self.head_buf.as_slice()),
            };
            let fields = AccessFields::refused(self.peer, bytes.unwrap_or_default());
            ctx.access_line(&fields, status, Some(body.len() as u64));
        }
        let head = Head {
            status,
            content_type: Some("text/plain; charset=utf-8"),
            framing: Framing::Length(body.len() as u64),
            keep_alive: false,
            http10: false,
        };
        write_head(&mut self.output, &head, &ctx.date, &[]);
        self.output.extend_from_slice(body);
        self.record(ctx, status, now);
        self.in_start = self.input.len();
        // The request was refused mid-stream: the peer may still be sending.
        self.must_linger = true;
        self.phase = Phase::Closing;
    }

    /// Runs the request loop over buffered input until it needs more bytes, waits for the
    /// pool, hits back-pressure, or closes.
    fn process(&mut self, ctx: &mut HttpWorker, now: Instant) {
        loop {
            let phase = std::mem::replace(&mut self.phase, Phase::Closed);
            match phase {
                Phase::Idle { .. } | Phase::Head { .. } => {
                    let started = match phase {
                        Phase::Head { started } => started,
                        _ => now,
                    };
                    if self.input.len() == self.in_start {
                        let idle = matches!(phase, Phase::Idle { .. });
                        self.phase = if self.peer_eof || (self.shutting_down && idle) {
                            Phase::Closing
                        } else {
                            phase
                        };
                        break;
                    }
                    if self.pending_len() > self.high_water() {
                        // Back-pressure: leave pipelined requests unparsed for now.
                        self.phase = phase;
                        break;
                    }
                    if matches!(phase, Phase::Idle { .. }) {
                        self.req_started = now;
                    }
                    let cfg = ctx.service().config();
                    let avail = self.input.get(self.in_start..).unwrap_or_default();
                    match parse_head_any_length(avail, cfg) {
                        Ok(None) => {
                            self.phase = if self.peer_eof {
                                Phase::Closing
                            } else {
                                Phase::Head { started }
                            };
                            break;
                        }
                        Err(e) => {
                            self.fail(ctx, e, RefusedHead::InInput, now);
                            break;
                        }
                        Ok(Some(mut head)) => {
                            let head_bytes_end = self.in_start + head.head_len;
                            if self.redirect_https.is_some() && head.body != BodyKind::None {
                                // Redirected without reading the body: close after it.
                                head.keep_alive = false;
                                head.body = BodyKind::None;
                            }
                            if head.body == BodyKind::None {
                                let was_empty = self.pending_len() == 0;
                                let next = {
                                    let head_bytes = self
                                        .input
                                        .get(self.in_start..head_bytes_end)
                                        .unwrap_or_default();
                                    dispatch(
                                        &mut self.output,
                                        ctx,
                                        ConnInfo {
                                            peer: self.peer,
                                            id: self.id,
                                            shutting_down: self.shutting_down,
                                            now,
                                            redirect_https: self.redirect_https,
                                        },
                                        &head,
                                        head_bytes,
                                        &[],
                                    )
                                };
                                self.in_start = head_bytes_end;
                                if !self.after_dispatch(ctx, next, was_empty, now) {
                                    break;
                                }
                            } else {
                                self.head_buf.clear();
                                self.head_buf.extend_from_slice(
                                    self.input
                                        .get(self.in_start..head_bytes_end)
                                        .unwrap_or_default(),
                                );
                                self.in_start = head_bytes_end;
                                self.body.clear();
                                let streamed = self.start_streamed_body(ctx, &head, now);
                                let max_body = ctx.service().config().max_body_bytes as u64;
                                if streamed.is_none()
                                    && matches!(head.body, BodyKind::Length(n) if n > max_body)
                                {
                                    self.fail(
                                        ctx,
                                        RequestError::BodyTooLarge,
                                        RefusedHead::Buffered,
                                        now,
                                    );
                                    break;
                                }
                                if head.expect_continue
                                    && self.input.len() == self.in_start
                                    && !matches!(streamed, Some(Err(())))
                                {
                                    // RFC 9110 §10.1.1: invite the body we are willing to read.
                                    self.start_output(now);
                                    self.output
                                        .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                                }
                                let decoder = match head.body {
                                    BodyKind::Length(n) => BodyDecoder::Length(n),
                                    _ => BodyDecoder::Chunked(ChunkedDecoder::default()),
                                };
                                self.phase = match streamed {
                                    Some(Ok((sender, pending))) => Phase::BodyStream {
                                        decoder,
                                        sender,
                                        pending,
                                        last_progress: now,
                                        paused: false,
                                    },
                                    // The pool refused it: answered 503, closing.
                                    Some(Err(())) => Phase::Closing,
                                    None => Phase::Body {
                                        head,
                                        decoder,
                                        last_progress: now,
                                    },
                                };
                            }
                        }
                    }
                }
                Phase::Body {
                    head,
                    mut decoder,
                    last_progress,
                } => {
                    let cfg = ctx.service().config();
                    let limits = BodyLimits {
                        max_body: cfg.max_body_bytes,
                        max_chunk_ext: cfg.max_chunk_ext_bytes,
                        max_trailer: cfg.max_trailer_bytes,
                    };
                    let avail = self.input.get(self.in_start..).unwrap_or_default();
                    match decoder.decode(avail, &mut self.body, &limits) {
                        Err(e) => {
                            self.fail(ctx, e, RefusedHead::Buffered, now);
                            break;
                        }
                        Ok((consumed, done)) => {
                            self.in_start += consumed;
                            let last_progress = if consumed > 0 { now } else { last_progress };
                            if done {
                                let was_empty = self.pending_len() == 0;
                                let next = dispatch(
                                    &mut self.output,
                                    ctx,
                                    ConnInfo {
                                        peer: self.peer,
                                        id: self.id,
                                        shutting_down: self.shutting_down,
                                        now,
                                        redirect_https: self.redirect_https,
                                    },
                                    &head,
                                    &self.head_buf,
                                    &self.body,
                                );
                                if self.body.capacity() > BUFFER_SHRINK_ABOVE {
                                    self.body = Vec::new();
                                }
                                if !self.after_dispatch(ctx, next, was_empty, now) {
                                    break;
                                }
                            } else {
                                self.phase = if self.peer_eof {
                                    Phase::Closing
                                } else {
                                    Phase::Body {
                                        head,
                                        decoder,
                                        last_progress,
                                    }
                                };
                                break;
                            }
                        }
                    }
                }
                p @ Phase::BodyStream { .. } => {
                    if !self.feed_streamed_body(ctx, p, now) {
                        break;
                    }
                }
                p @ (Phase::Waiting(_) | Phase::Streaming { .. } | Phase::Lingering { .. }) => {
                    self.phase = p;
                    break;
                }
                Phase::Closing => {
                    self.must_linger |= self.in_start < self.input.len();
                    self.in_start = self.input.len();
                    self.phase = Phase::Closing;
                    break;
                }
                Phase::Closed => break,
            }
        }
        self.compact_input();
    }

    /// Applies a dispatch result; returns whether the request loop may continue.
    fn after_dispatch(
        &mut self,
        ctx: &mut HttpWorker,
        next: Next,
        was_empty: bool,
        now: Instant,
    ) -> bool {
        match next {
            Next::Done {
                status,
                keep_alive,
                wrote,
                shared,
            } => {
                if wrote && was_empty {
                    self.write_since = now;
                }
                if let Some(shared) = shared {
                    self.push_shared(shared);
                }
                self.record(ctx, status, now);
                self.finish_response(keep_alive, now);
                matches!(self.phase, Phase::Idle { .. })
            }
            Next::Stream {
                status,
                keep_alive,
                source,
            } => {
                if was_empty {
                    self.write_since = now;
                }
                self.record(ctx, status, now);
                let chunked = source.chunked();
                self.phase = Phase::Streaming {
                    stream: Some(source),
                    chunked,
                    pending: Pending::new(keep_alive, false, false),
                };
                self.maybe_request_chunk(ctx, now);
                false
            }
            Next::Wait(p) => {
                self.phase = Phase::Waiting(p);
                false
            }
        }
    }

    fn compact_input(&mut self) {
        if self.in_start == self.input.len() {
            self.input.clear();
            self.in_start = 0;
            if self.input.capacity() > BUFFER_SHRINK_ABOVE {
                self.input.shrink_to(INPUT_BUFFER_INITIAL);
            }
        } else if self.in_start > 0 {
            self.input.drain(..self.in_start);
            self.in_start = 0;
        }
    }
}
