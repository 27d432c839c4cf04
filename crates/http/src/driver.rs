//! The one loop that moves bytes between a byte-stream socket and an [`HttpConnection`],
//! shared by every transport: the kernel (mio) transport uses it, and the userspace
//! stack's server loop implements [`ByteStream`] for its sockets and calls [`pump`] on
//! each readiness event and completion.

use std::io::{self, IoSlice};
use std::time::Instant;

use crate::conn::{ConnAction, HttpConnection};
use crate::worker::HttpWorker;

/// Most pieces handed to one gathering write.
pub const MAX_WRITE_SLICES: usize = 8;

/// A connected, non-blocking byte stream (a kernel socket, or a userspace-stack socket).
pub trait ByteStream {
    /// Reads into `buf`: `Ok(0)` is end of stream, `WouldBlock` means no data now.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes from `data`: `WouldBlock` (or `Ok(0)`) means the send buffer is full.
    fn write(&mut self, data: &[u8]) -> io::Result<usize>;
    /// Writes from several buffers in order (gathering write); returns the total taken.
    /// The default writes the slices one after another and stops at the first short write,
    /// so a response head and its body enter the send buffer in one call.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut total = 0;
        for b in bufs.iter().filter(|b| !b.is_empty()) {
            match self.write(b) {
                Ok(n) => {
                    total += n;
                    if n < b.len() {
                        break;
                    }
                }
                Err(e) if total > 0 && e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }
    /// Shuts down the write side (sends FIN once all written data is sent).
    fn shutdown_write(&mut self) -> io::Result<()>;
    /// Whether a read shorter than the buffer proves the stream is drained until the next
    /// readable event (true for edge-triggered epoll); `false` reads until `WouldBlock`.
    fn short_read_drains(&self) -> bool {
        false
    }
    /// Whether a gathering write that took fewer bytes than offered proves the send buffer
    /// full until the next writable event (true for kernel sockets); `false` makes [`pump`]
    /// write again until the stream returns `WouldBlock` or takes nothing.
    fn short_write_fills(&self) -> bool {
        false
    }
}

/// What the transport knows about a socket's readiness; set the flags from events,
/// [`pump`] clears them when a call would block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Readiness {
    /// The socket may have data (or EOF) to read.
    pub readable: bool,
    /// The socket may accept more bytes.
    pub writable: bool,
    /// The peer has shut its write side (EPOLLRDHUP): read on until EOF.
    pub read_closed: bool,
}

/// Moves bytes between `stream` and `conn` until neither side can progress, applying
/// shutdowns on the way. Returns `false` when the socket must be closed and the
/// connection dropped.
pub fn pump<S: ByteStream>(
    conn: &mut HttpConnection,
    stream: &mut S,
    ready: &mut Readiness,
    ctx: &mut HttpWorker,
    buf: &mut [u8],
    now: Instant,
) -> bool {
    loop {
        while ready.readable && conn.wants_read() {
            match stream.read(buf) {
                Ok(0) => {
                    ready.readable = false;
                    conn.on_eof(ctx, now);
                }
                Ok(n) => {
                    conn.on_recv(ctx, buf.get(..n).unwrap_or_default(), now);
                    if n < buf.len() && stream.short_read_drains() && !ready.read_closed {
                        ready.readable = false;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => ready.readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    conn.on_io_error(ctx);
                    return false;
                }
            }
        }
        while ready.writable && conn.pending_len() > 0 {
            let (result, len) = {
                let mut slices = [IoSlice::new(&[]); MAX_WRITE_SLICES];
                let k = conn.pending_slices(&mut slices);
                let pieces = slices.get(..k).unwrap_or_default();
                let len: usize = pieces.iter().map(|s| s.len()).sum();
                (stream.write_vectored(pieces), len)
            };
            match result {
                Ok(n) => {
                    conn.consume_output(ctx, n, now);
                    // A short count is not a full buffer unless the transport says so: only
                    // `WouldBlock` or nothing taken stops the writing (a head sent alone would
                    // otherwise wait for the peer's ACK before the body goes out).
                    if n == 0 || (n < len && stream.short_write_fills()) {
                        ready.writable = false;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => ready.writable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    conn.on_io_error(ctx);
                    return false;
                }
            }
        }
        match conn.action() {
            ConnAction::Close => return false,
            ConnAction::ShutdownWrite => {
                if ready.readable && conn.linger_optional() {
                    // One probe tells whether the peer left anything unread.
                    match stream.read(buf) {
                        Ok(0) => {
                            ready.readable = false;
                            conn.on_eof(ctx, now);
                            continue;
                        }
                        Ok(n) => conn.on_recv(ctx, buf.get(..n).unwrap_or_default(), now),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => ready.readable = false,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(_) => {
                            conn.on_io_error(ctx);
                            return false;
                        }
                    }
                }
                if !ready.readable && conn.linger_optional() {
                    // Clean end and nothing left to read: close outright (a FIN follows the
                    // response); saves a wakeup and a read per short connection.
                    conn.close(ctx);
                    return false;
                }
                if stream.shutdown_write().is_err() {
                    conn.on_io_error(ctx);
                    return false;
                }
                conn.on_write_shutdown(ctx, now);
                // Lingering close: drain what the peer already sent.
                ready.readable = true;
                continue;
            }
            ConnAction::Open => {}
        }
        let can_read = ready.readable && conn.wants_read();
        let can_write = ready.writable && conn.pending_len() > 0;
        if !can_read && !can_write {
            return true;
        }
    }
}
