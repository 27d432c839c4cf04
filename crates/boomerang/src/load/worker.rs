//! One load-generator thread: a mio event loop over its share of the connections.
//!
//! Each connection cycles connect → write request → read response (→ wait for the server's
//! FIN with `--close`, so TIME_WAIT stays on the server and the client's ports are reused).
//! Over HTTPS the request goes into the connection's [`TlsConn`] right after the TCP
//! connect (it leaves once the handshake is done), received bytes go through it before the
//! response reader, and records it could not send yet go first on the next event.

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use super::exchange::{Exchange, Phase, Received};
use super::response::ResponseReader;
use super::tls::{TlsClient, TlsConn};
use super::{Report, Shared};

/// Bytes read from a socket per `read` call.
const READ_CHUNK: usize = 64 * 1024;
/// Longest sleep in `Poll::poll`, so timeouts and the stop flag are noticed.
const POLL_TICK: Duration = Duration::from_millis(10);
/// Wait before reconnecting after a failed connect.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(10);
/// Events fetched per `Poll::poll`.
const EVENTS_CAPACITY: usize = 1024;

/// What one worker does.
pub(crate) struct WorkerConfig {
    pub(crate) target: SocketAddr,
    pub(crate) request: Vec<u8>,
    pub(crate) connections: usize,
    pub(crate) close: bool,
    pub(crate) tls: Option<TlsClient>,
    pub(crate) deadline: Instant,
    pub(crate) timeout: Duration,
    pub(crate) limit: Option<u64>,
    pub(crate) pin: Option<usize>,
}

struct Conn {
    stream: TcpStream,
    ex: Exchange,
    tls: Option<Box<TlsConn>>,
}

enum Slot {
    Waiting(Instant),
    Open(Conn, ResponseReader),
}

struct Worker<'a> {
    cfg: WorkerConfig,
    shared: &'a Shared,
    poll: Poll,
    report: Report,
    slots: Vec<Slot>,
    buf: Vec<u8>,
    /// Plaintext of the last read over TLS.
    plain: Vec<u8>,
    stopping: bool,
}

/// Runs until the deadline, the request limit, or the stop flag; returns the report and
/// when it finished.
pub(crate) fn run(cfg: WorkerConfig, shared: &Shared) -> anyhow::Result<(Report, Instant)> {
    if let Some(cpu) = cfg.pin {
        if !core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
            tracing::warn!(cpu, "could not pin a load thread");
        }
    }
    let now = Instant::now();
    let mut w = Worker {
        slots: (0..cfg.connections).map(|_| Slot::Waiting(now)).collect(),
        cfg,
        shared,
        poll: Poll::new()?,
        report: Report::empty(),
        buf: vec![0; READ_CHUNK],
        plain: Vec::with_capacity(READ_CHUNK),
        stopping: false,
    };
    let mut events = Events::with_capacity(EVENTS_CAPACITY);
    loop {
        let now = Instant::now();
        if now >= w.cfg.deadline || shared.stop.load(Ordering::Relaxed) {
            break;
        }
        w.sweep(now);
        if w.stopping {
            break;
        }
        let wait = POLL_TICK.min(w.cfg.deadline.saturating_duration_since(now));
        if let Err(e) = w.poll.poll(&mut events, Some(wait)) {
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e.into());
        }
        for ev in events.iter() {
            w.drive(ev.token().0);
            if w.stopping {
                break;
            }
        }
    }
    Ok((w.report, Instant::now()))
}

impl Worker<'_> {
    /// Opens due connections and expires timed-out ones.
    fn sweep(&mut self, now: Instant) {
        for i in 0..self.slots.len() {
            match &self.slots[i] {
                Slot::Waiting(at) if *at <= now => self.open(i, now),
                Slot::Open(c, _) if c.ex.deadline <= now => {
                    if c.ex.phase != Phase::Draining {
                        self.error(|e| e.timeout += 1);
                    }
                    self.open(i, now);
                }
                _ => {}
            }
        }
    }

    fn error(&mut self, f: impl FnOnce(&mut super::ErrorCounts)) {
        self.shared.error(&mut self.report, f);
    }

    /// (Re)opens the connection in slot `i`, dropping (closing) whatever was there.
    fn open(&mut self, i: usize, now: Instant) {
        self.slots[i] = Slot::Waiting(now + RECONNECT_BACKOFF);
        if self.stopping {
            return;
        }
        let mut stream = match TcpStream::connect(self.cfg.target) {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, "connect failed");
                self.error(|e| e.connect += 1);
                return;
            }
        };
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            tracing::debug!(error = %e, "register failed");
            self.error(|e| e.connect += 1);
            return;
        }
        let _ = stream.set_nodelay(true);
        let tls = match self.cfg.tls.as_ref().map(TlsClient::connect).transpose() {
            Ok(t) => t.map(Box::new),
            Err(e) => {
                tracing::debug!(error = %e, "TLS client setup failed");
                self.error(|e| e.tls += 1);
                return;
            }
        };
        self.report.connections_opened += 1;
        self.slots[i] = Slot::Open(
            Conn {
                stream,
                ex: Exchange::connecting(now, self.cfg.timeout),
                tls,
            },
            ResponseReader::new(),
        );
    }

    /// Advances slot `i` as far as its socket allows.
    fn drive(&mut self, i: usize) {
        let Some(Slot::Open(conn, _)) = self.slots.get_mut(i) else {
            return;
        };
        let now = Instant::now();
        if conn.ex.phase == Phase::Connecting {
            match conn.stream.take_error() {
                Ok(Some(_)) | Err(_) => {
                    self.error(|e| e.connect += 1);
                    self.open(i, now);
                    return;
                }
                Ok(None) => {}
            }
            match conn.stream.peer_addr() {
                Ok(_) => {
                    conn.ex.phase = Phase::Writing(0);
                    if !self.cfg.close {
                        conn.ex.started = now;
                    }
                }
                Err(e) if e.kind() == ErrorKind::NotConnected => return,
                Err(_) => {
                    self.error(|e| e.connect += 1);
                    self.open(i, now);
                    return;
                }
            }
        }
        // TLS records that did not fit into the socket's buffer before go first.
        if let Some(Slot::Open(conn, _)) = self.slots.get_mut(i) {
            if let Some(tls) = conn.tls.as_mut() {
                if tls.flush(&mut conn.stream).is_err() {
                    self.error(|e| e.write += 1);
                    self.open(i, now);
                    return;
                }
            }
        }
        loop {
            let Some(Slot::Open(conn, reader)) = self.slots.get_mut(i) else {
                return;
            };
            match conn.ex.phase {
                Phase::Connecting => return,
                Phase::Writing(done) => {
                    let req = &self.cfg.request;
                    if let Some(tls) = conn.tls.as_mut() {
                        // rustls takes the whole request and holds it until the handshake
                        // is done; the records leave as the socket takes them.
                        if tls
                            .send(req)
                            .and_then(|()| tls.flush(&mut conn.stream))
                            .is_err()
                        {
                            self.error(|e| e.write += 1);
                            self.open(i, now);
                            return;
                        }
                        conn.ex.phase = Phase::Reading;
                        reader.reset(false);
                        continue;
                    }
                    match conn.stream.write(req.get(done..).unwrap_or(&[])) {
                        Ok(0) => {
                            self.error(|e| e.write += 1);
                            self.open(i, now);
                            return;
                        }
                        Ok(n) if done + n >= req.len() => {
                            conn.ex.phase = Phase::Reading;
                            reader.reset(false);
                        }
                        Ok(n) => conn.ex.phase = Phase::Writing(done + n),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(_) => {
                            self.error(|e| e.write += 1);
                            self.open(i, now);
                            return;
                        }
                    }
                }
                Phase::Reading | Phase::Draining => {
                    let n = match conn.stream.read(&mut self.buf) {
                        Ok(n) => n,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                        Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                        Err(_) => {
                            if conn.ex.phase == Phase::Reading {
                                self.error(|e| e.read += 1);
                            }
                            self.open(i, now);
                            return;
                        }
                    };
                    // The server closed: end of stream, or close_notify over TLS.
                    let mut eof = n == 0;
                    let data: &[u8] = match conn.tls.as_mut() {
                        Some(tls) if n > 0 => {
                            self.plain.clear();
                            let cipher = self.buf.get(..n).unwrap_or_default();
                            match tls.receive(cipher, &mut self.plain) {
                                Ok(closed) => eof = closed,
                                Err(err) => {
                                    tracing::debug!(%err, "TLS failure");
                                    self.error(|e| e.tls += 1);
                                    self.open(i, now);
                                    return;
                                }
                            }
                            // The handshake's last flight and the request held back.
                            if tls.flush(&mut conn.stream).is_err() {
                                self.error(|e| e.write += 1);
                                self.open(i, now);
                                return;
                            }
                            if let Some(kind) = tls.take_handshake() {
                                self.report.handshake(kind);
                            }
                            &self.plain
                        }
                        Some(_) => &[],
                        None => self.buf.get(..n).unwrap_or_default(),
                    };
                    if !data.is_empty() {
                        match conn
                            .ex
                            .receive(reader, data, !self.cfg.close, eof, self.cfg.timeout)
                        {
                            Received::More => {}
                            Received::Done {
                                started,
                                status,
                                body_len,
                            } => {
                                self.complete(started, status, body_len);
                                if self.stopping {
                                    return;
                                }
                            }
                            Received::Protocol => {
                                self.error(|e| e.protocol += 1);
                                self.open(i, now);
                                return;
                            }
                        }
                    }
                    if eof {
                        self.end_of_stream(i, now);
                        return;
                    }
                }
            }
        }
    }

    /// The server closed connection `i`: completes a close-delimited response (or counts
    /// the one cut short) and opens the next connection.
    fn end_of_stream(&mut self, i: usize, now: Instant) {
        if let Some(Slot::Open(conn, reader)) = self.slots.get_mut(i) {
            if conn.ex.phase == Phase::Reading {
                match reader.eof() {
                    Some(c) => {
                        let started = conn.ex.started;
                        self.complete(started, c.status, c.body_len);
                    }
                    None => self.error(|e| e.read += 1),
                }
            }
        }
        self.open(i, now);
    }

    fn complete(&mut self, started: Instant, status: u16, body_len: u64) {
        if self
            .shared
            .complete(&mut self.report, self.cfg.limit, started, status, body_len)
        {
            self.stopping = true;
        }
    }
}
