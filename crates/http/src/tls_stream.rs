//! One connection's TLS state and the stream adapter that lets [`pump`] run over it: the
//! TLS stage between a transport's byte stream and the [`HttpConnection`] (the settings,
//! certificates and counters it uses are in [`crate::tls`], below the HTTP connection).
//!
//! The adapter, [`TlsStream`], is a [`ByteStream`] over another one: a read feeds what the
//! transport has into rustls (`read_tls`, `process_new_packets`), sends what the handshake
//! wants to send, and returns decrypted bytes; `WouldBlock` only when rustls holds no
//! plaintext and the transport no ciphertext. A write encrypts at most what rustls's
//! outgoing buffer limit allows (64 KiB, in full-size records) and hands the records to the
//! transport; what the transport cannot take stays in rustls and goes first on the next
//! call, and a write is refused (`WouldBlock`) until it has gone. A write-side shutdown
//! queues `close_notify` and sends the FIN once every record has left.
//!
//! [`pump_tls`] wraps [`pump`]: records left from an earlier call go first, the outcome of
//! the handshake is counted once, and when the HTTP side is finished while records are
//! still queued the connection stays (draining, bounded by the write timeout) until they
//! have left.

use std::io::{self, IoSlice, Read, Write};
use std::sync::Arc;
use std::time::Instant;

use rustls::{HandshakeKind, ServerConnection};

use crate::conn::HttpConnection;
use crate::driver::{pump, ByteStream, Readiness, MAX_WRITE_SLICES};
use crate::tls::{TlsAcceptor, TlsFailure};
use crate::worker::HttpWorker;

/// One connection's TLS state.
#[derive(Debug)]
pub struct TlsSession {
    conn: ServerConnection,
    /// The handshake must be finished by then.
    handshake_deadline: Instant,
    /// Why the connection failed, once it has.
    failure: Option<TlsFailure>,
    /// The transport reported end of stream.
    peer_eof: bool,
    /// `close_notify` is queued; the transport's write side is shut once it has left.
    close_requested: bool,
    /// The transport's write side is shut.
    fin_sent: bool,
    /// The handshake's outcome has been counted.
    counted: bool,
    /// The failure has been counted.
    failure_counted: bool,
    /// The HTTP side is finished; the last records are leaving until this deadline.
    draining: Option<Instant>,
}

impl TlsSession {
    /// A session for a connection accepted at `now`.
    pub fn new(acceptor: &TlsAcceptor, now: Instant) -> io::Result<Self> {
        let conn = ServerConnection::new(Arc::clone(acceptor.config()))
            .map_err(|e| io::Error::other(e.to_string()))?;
        Ok(Self {
            conn,
            handshake_deadline: now + acceptor.handshake_timeout(),
            failure: None,
            peer_eof: false,
            close_requested: false,
            fin_sent: false,
            counted: false,
            failure_counted: false,
            draining: None,
        })
    }

    /// The rustls connection (negotiated version, SNI name, ALPN, ...).
    pub fn connection(&self) -> &ServerConnection {
        &self.conn
    }

    /// Whether the handshake is still going on.
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// The next instant this session needs a call of [`pump_tls`] without an event: the
    /// handshake deadline while handshaking, the end of draining while draining.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.draining.is_some() {
            return self.draining;
        }
        (self.conn.is_handshaking() && self.failure.is_none()).then_some(self.handshake_deadline)
    }

    fn fail(&mut self, reason: TlsFailure) {
        if self.failure.is_none() {
            self.failure = Some(reason);
        }
    }

    /// Counts the handshake's outcome (once), or an error after it.
    fn report(&mut self, ctx: &mut HttpWorker) {
        let tls = ctx.metrics.tls();
        if !self.counted {
            if !self.conn.is_handshaking() {
                tls.handshake_ok(
                    self.conn.protocol_version(),
                    self.conn.negotiated_cipher_suite().map(|s| s.suite()),
                    self.conn.handshake_kind() == Some(HandshakeKind::Resumed),
                );
                self.counted = true;
            } else if let Some(reason) = self.failure {
                tls.handshake_failed(reason);
                self.counted = true;
                self.failure_counted = true;
            }
        }
        if let (true, false, Some(reason)) = (self.counted, self.failure_counted, self.failure) {
            tls.error(reason);
            self.failure_counted = true;
        }
    }
}

/// `io::Read` over a [`ByteStream`] (what rustls's `read_tls` takes).
struct ReadFrom<'a, S>(&'a mut S);

impl<S: ByteStream> Read for ReadFrom<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

/// `io::Write` over a [`ByteStream`] (what rustls's `write_tls` takes). A write that takes
/// nothing is reported as `WouldBlock`.
struct WriteTo<'a, S>(&'a mut S);

impl<S: ByteStream> Write for WriteTo<'_, S> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self.0.write(data)? {
            0 if !data.is_empty() => Err(io::ErrorKind::WouldBlock.into()),
            n => Ok(n),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        match self.0.write_vectored(bufs)? {
            0 if len > 0 => Err(io::ErrorKind::WouldBlock.into()),
            n => Ok(n),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A [`TlsSession`] over a transport's stream, as a [`ByteStream`] of plaintext.
pub struct TlsStream<'a, S> {
    tls: &'a mut TlsSession,
    inner: &'a mut S,
}

impl<'a, S: ByteStream> TlsStream<'a, S> {
    /// The session `tls` over `inner`.
    pub fn new(tls: &'a mut TlsSession, inner: &'a mut S) -> Self {
        Self { tls, inner }
    }

    /// Hands queued records to the transport; `Ok(true)` when none is left (and the FIN
    /// went out if a shutdown was asked for).
    pub fn flush(&mut self) -> io::Result<bool> {
        if self.tls.fin_sent {
            // Nothing may follow the FIN (e.g. an alert about what the peer sent while the
            // connection lingers): whatever rustls still wants to say is dropped.
            return Ok(true);
        }
        while self.tls.conn.wants_write() {
            match self.tls.conn.write_tls(&mut WriteTo(self.inner)) {
                Ok(0) => return Ok(false),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.tls.close_requested && !self.tls.fin_sent {
            self.tls.fin_sent = true;
            self.inner.shutdown_write()?;
        }
        Ok(true)
    }

    /// Feeds the transport's bytes to rustls once (or notes the end of stream), processes
    /// them and sends what rustls answers; `WouldBlock` if the transport had nothing.
    fn receive(&mut self) -> io::Result<()> {
        match self.tls.conn.read_tls(&mut ReadFrom(self.inner)) {
            Ok(0) => self.tls.peer_eof = true,
            Ok(_) => {}
            Err(e) => {
                if e.kind() != io::ErrorKind::WouldBlock && e.kind() != io::ErrorKind::Interrupted {
                    self.tls.fail(TlsFailure::Closed);
                }
                return Err(e);
            }
        }
        if let Err(e) = self.tls.conn.process_new_packets() {
            self.tls.fail(TlsFailure::of(&e));
            // rustls queued the alert that tells the peer why; best effort.
            let _ = self.flush();
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        if self.tls.peer_eof && self.tls.conn.is_handshaking() {
            self.tls.fail(TlsFailure::PeerClosed);
        }
        // Handshake messages, session tickets, alerts answering the peer's.
        self.flush()?;
        Ok(())
    }
}

impl<S: ByteStream> ByteStream for TlsStream<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.tls.close_requested {
            // After our close_notify the HTTP side only drains and discards (lingering
            // close): the peer's records are passed through undecrypted. rustls must not see
            // them: an error there would make it queue a fatal alert after the close_notify.
            return self.inner.read(buf);
        }
        loop {
            match self.tls.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                // The peer closed without close_notify: HTTP framing tells whether the
                // request was complete, so this is an ordinary end of stream.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if self.tls.peer_eof {
                return Ok(0);
            }
            self.receive()?;
        }
    }

    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(data)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if !self.flush()? || self.tls.close_requested {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let pieces = bufs
            .get(..bufs.len().min(MAX_WRITE_SLICES))
            .unwrap_or_default();
        let n = self.tls.conn.writer().write_vectored(pieces)?;
        self.flush()?;
        if n == 0 && pieces.iter().any(|p| !p.is_empty()) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        if !self.tls.close_requested {
            self.tls.close_requested = true;
            self.tls.conn.send_close_notify();
        }
        self.flush().map(|_| ())
    }
}

/// [`pump`] over TLS: like it, returns `false` when the socket must be closed and the
/// connection dropped. See the module docs for what it adds.
pub fn pump_tls<S: ByteStream>(
    conn: &mut HttpConnection,
    tls: &mut TlsSession,
    stream: &mut S,
    ready: &mut Readiness,
    ctx: &mut HttpWorker,
    buf: &mut [u8],
    now: Instant,
) -> bool {
    if let Some(until) = tls.draining {
        let drained = TlsStream::new(tls, stream).flush();
        return matches!(drained, Ok(false)) && now < until;
    }
    if tls.conn.is_handshaking() && now >= tls.handshake_deadline {
        tls.fail(TlsFailure::Timeout);
        tls.report(ctx);
        ctx.metrics.timeout();
        conn.on_io_error(ctx);
        return false;
    }
    let mut s = TlsStream::new(tls, stream);
    if s.flush().is_err() {
        s.tls.fail(TlsFailure::Closed);
        s.tls.report(ctx);
        conn.on_io_error(ctx);
        return false;
    }
    let open = pump(conn, &mut s, ready, ctx, buf, now);
    if !open && s.tls.failure.is_none() {
        if s.tls.conn.is_handshaking() {
            let reason = if s.tls.peer_eof {
                TlsFailure::PeerClosed
            } else {
                TlsFailure::Closed
            };
            s.tls.fail(reason);
        } else if !s.tls.close_requested {
            s.tls.close_requested = true;
            s.tls.conn.send_close_notify();
        }
    }
    let flushed = s.flush();
    tls.report(ctx);
    match (open, flushed) {
        (true, Ok(_)) => true,
        (true, Err(_)) => {
            conn.on_io_error(ctx);
            false
        }
        (false, Ok(false)) if tls.failure.is_none() => {
            tls.draining = Some(now + ctx.service().config().write_timeout);
            true
        }
        (false, _) => false,
    }
}
