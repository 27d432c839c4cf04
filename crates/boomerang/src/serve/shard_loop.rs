//! One shard thread: the run-to-completion loop for one queue (docs/architecture.md).
//!
//! Each turn: device → `Shard::receive` → timers → socket events drive the
//! [`HttpConnection`]s (accept, read, parse, respond, write, close) → blocking-pool
//! completions → `Shard::poll_transmit` → device transmit and flush. While a turn finds
//! work the loop spins (busy-poll); after [`SPIN_AFTER_WORK`] without work it sleeps in
//! `mio::Poll` on the device's fd with the earliest stack or HTTP deadline as timeout.
//!
//! Invariants: the shard, its connections and its HTTP worker never leave this thread;
//! every accepted connection has exactly one slot until the HTTP side finishes, then its
//! handle is released with `Shard::close`.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use boomerang_http::tls_stream::{pump_tls, TlsSession};
use boomerang_http::{
    pump, BlockingPool, ByteStream, HttpConnection, HttpService, HttpWorker, Readiness,
};
use boomerang_nic::Device;
use boomerang_stack::{ConnId, ListenerId, Shard, Shared, SocketError, SocketEvent};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::device_io;
use crate::metrics::{DeviceStats, MetricsState, ShardSnapshot};

/// Busy-poll this long after the last work before sleeping in `mio::Poll`.
pub const SPIN_AFTER_WORK: Duration = Duration::from_micros(50);
/// Longest sleep in `mio::Poll` (the stop flag is checked at least this often).
pub const MAX_SLEEP: Duration = Duration::from_millis(100);
/// How often the shard publishes its counters for `/metrics`.
pub const PUBLISH_INTERVAL: Duration = Duration::from_millis(100);
/// How long the stack gets after the last HTTP connection ended during shutdown to send
/// its last FINs and ACKs.
pub const SHUTDOWN_DRAIN: Duration = Duration::from_millis(500);
/// Shortest interval between two log lines about the connection limit.
pub const LIMIT_LOG_INTERVAL: Duration = Duration::from_secs(1);
/// Accept queue length of the listener.
pub const LISTEN_BACKLOG: usize = 1024;
/// Size of the receive scratch buffer.
pub const READ_BUFFER_BYTES: usize = 64 * 1024;

const DEVICE: Token = Token(0);
const WAKER: Token = Token(1);

/// What a shard thread needs besides its device.
pub struct ShardParams<'a> {
    /// Shard (= queue) index.
    pub index: usize,
    /// CPU to pin to.
    pub cpu: Option<usize>,
    /// HTTP port.
    pub port: u16,
    /// The stack's shared state.
    pub shared: Arc<Shared>,
    /// The HTTP service (routes, config, metrics).
    pub service: &'a Arc<HttpService>,
    /// The blocking pool.
    pub pool: &'a BlockingPool,
    /// Set on SIGINT/SIGTERM.
    pub stop: &'a AtomicBool,
    /// Where counters are published.
    pub metrics: &'a MetricsState,
    /// Set once the listener is open (the main thread reports readiness).
    pub listening: &'a AtomicBool,
}

/// A userspace-stack connection as the http crate's [`ByteStream`].
struct StackStream<'a> {
    shard: &'a mut Shard,
    conn: ConnId,
}

/// The `io::Error` for a socket error: a bare kind (no allocation) for the ones the driver
/// tells apart, the stack's error boxed inside for the rest.
fn to_io(e: SocketError) -> io::Error {
    let kind = match e {
        SocketError::WouldBlock => io::ErrorKind::WouldBlock,
        SocketError::ConnectionReset => io::ErrorKind::ConnectionReset,
        SocketError::ConnectionRefused => io::ErrorKind::ConnectionRefused,
        SocketError::TimedOut => io::ErrorKind::TimedOut,
        SocketError::Closing => io::ErrorKind::BrokenPipe,
        _ => return io::Error::other(e),
    };
    io::Error::from(kind)
}

impl ByteStream for StackStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.shard.recv(self.conn, buf) {
            // Nothing more will arrive in this direction: end of stream.
            Err(SocketError::Closing) => Ok(0),
            r => r.map_err(to_io),
        }
    }

    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.shard.send(self.conn, data).map_err(to_io)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shard.shutdown(self.conn);
        Ok(())
    }
}

struct Slot {
    conn: ConnId,
    id: u64,
    http: HttpConnection,
    /// The TLS stage, when the service speaks HTTPS (boxed: a plain slot stays small).
    tls: Option<Box<TlsSession>>,
    ready: Readiness,
}

/// The connections of one shard, indexed by the stack's slot index.
#[derive(Default)]
struct Slots {
    slots: Vec<Option<Slot>>,
    live: usize,
    next_generation: u32,
}

impl Slots {
    fn get_mut(&mut self, c: ConnId) -> Option<&mut Slot> {
        self.slots
            .get_mut(c.index())
            .and_then(Option::as_mut)
            .filter(|s| s.conn == c)
    }

    fn by_id(&mut self, id: u64) -> Option<&mut Slot> {
        let index = (id & 0xffff_ffff) as usize;
        self.slots
            .get_mut(index)
            .and_then(Option::as_mut)
            .filter(|s| s.id == id)
    }

    fn insert(
        &mut self,
        c: ConnId,
        tls: Option<Box<TlsSession>>,
        make: impl FnOnce(u64) -> HttpConnection,
    ) {
        let index = c.index();
        if self.slots.len() <= index {
            self.slots.resize_with(index + 1, || None);
        }
        self.next_generation = self.next_generation.wrapping_add(1);
        let id = (u64::from(self.next_generation) << 32) | index as u64;
        if let Some(s) = self.slots.get_mut(index) {
            if s.is_none() {
                self.live += 1;
            }
            *s = Some(Slot {
                conn: c,
                id,
                http: make(id),
                tls,
                ready: Readiness::default(),
            });
        }
    }

    fn remove(&mut self, c: ConnId) -> Option<Slot> {
        let s = self.slots.get_mut(c.index())?;
        if s.as_ref().is_some_and(|s| s.conn == c) {
            self.live -= 1;
            s.take()
        } else {
            None
        }
    }
}

/// The server side of one shard without its device, clock or epoll: the state a loop turn
/// works on. [`run`] drives it on a real device; [`super::sim::SimPair`] drives it on the
/// in-memory link with a virtual clock (tests, allocation and instruction counts).
pub struct ServerShard {
    shard: Shard,
    http: HttpWorker,
    slots: Slots,
    buf: Vec<u8>,
    listener: Option<ListenerId>,
    /// The plain-HTTP listener whose requests are redirected to HTTPS on `https_port`.
    redirect_listener: Option<ListenerId>,
    https_port: u16,
    max_connections: usize,
    /// When the connection limit was last logged (at most once per [`LIMIT_LOG_INTERVAL`]).
    limit_logged: Option<Instant>,
    granularity: Duration,
    next_tick: Instant,
}

/// What one loop turn did; any non-zero part means the loop keeps spinning.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TurnWork {
    /// Frames taken from the device.
    pub received: usize,
    /// Socket events handled (accepts, readable, writable, closed).
    pub events: usize,
    /// Whether blocking-pool completions were delivered.
    pub completed: bool,
    /// Frames written to the device.
    pub sent: usize,
    /// Whether the device ran out of transmit buffers with frames left.
    pub tx_blocked: bool,
}

impl TurnWork {
    /// Whether the turn did anything (the loop keeps spinning while it does).
    pub fn any(&self) -> bool {
        self.received > 0 || self.sent > 0 || self.events > 0 || self.completed || self.tx_blocked
    }
}

impl ServerShard {
    /// A shard listening on `port`, its HTTP worker, and no connections yet.
    pub fn new(
        shard: Shard,
        http: HttpWorker,
        service: &HttpService,
        port: u16,
        now: Instant,
    ) -> anyhow::Result<ServerShard> {
        let mut shard = shard;
        shard.announce(now);
        let listener = shard
            .listen(port, LISTEN_BACKLOG)
            .map_err(|e| anyhow::anyhow!("cannot listen on port {port}: {e}"))?;
        let redirect_port = service.config().tls.as_ref().and_then(|t| t.redirect_port);
        let redirect_listener = match redirect_port {
            Some(p) => Some(shard.listen(p, LISTEN_BACKLOG).map_err(|e| {
                anyhow::anyhow!("cannot listen on the HTTPS redirect port {p}: {e}")
            })?),
            None => None,
        };
        let granularity = service.config().timer_granularity;
        Ok(ServerShard {
            shard,
            http,
            slots: Slots::default(),
            buf: vec![0; READ_BUFFER_BYTES],
            listener: Some(listener),
            redirect_listener,
            https_port: port,
            max_connections: service.config().max_connections_per_worker,
            limit_logged: None,
            granularity,
            next_tick: now + granularity,
        })
    }

    /// One turn: device → `Shard::receive` → stack timers → socket events (the HTTP side
    /// reads, answers and writes in place) → blocking-pool completions → HTTP timers →
    /// `Shard::poll_transmit` → device transmit and flush. A response written while handling
    /// a request leaves in the same turn as far as the windows allow.
    pub fn turn<D: Device>(&mut self, dev: &mut D, now: Instant) -> TurnWork {
        let received = device_io::receive(dev, &mut self.shard, now);
        let mut events = 0;
        while let Some(ev) = self.shard.poll_event() {
            events += 1;
            self.on_event(ev, now);
        }
        let completed = self.completions(now);
        if now >= self.next_tick {
            self.next_tick = now + self.granularity;
            // The Date header has a one-second resolution: refreshing it once per timer tick
            // (not per loop turn) saves a clock read on the hot path.
            self.http.refresh_date(SystemTime::now());
            self.http_tick(now);
        }
        let (sent, tx_blocked) = device_io::transmit(dev, &mut self.shard, now);
        dev.flush(now);
        TurnWork {
            received,
            events,
            completed,
            sent,
            tx_blocked,
        }
    }

    /// HTTP connections open on this shard.
    pub fn http_connections(&self) -> usize {
        self.slots.live
    }

    /// The HTTP service (configuration, metrics, TLS).
    pub fn http_service(&self) -> &Arc<HttpService> {
        self.http.service()
    }

    /// The stack shard (counters, tables).
    pub fn stack(&self) -> &Shard {
        &self.shard
    }

    /// The earliest instant a turn has timer work to do (stack timers, HTTP tick).
    pub fn next_deadline(&self) -> Instant {
        match self.shard.poll_timeout() {
            Some(t) => t.min(self.next_tick),
            None => self.next_tick,
        }
    }

    /// Pumps bytes for `c`; releases the connection when the HTTP side is done.
    fn drive(&mut self, c: ConnId, now: Instant) {
        let Some(slot) = self.slots.get_mut(c) else {
            return;
        };
        let mut stream = StackStream {
            shard: &mut self.shard,
            conn: c,
        };
        let (http, ready, ctx, buf) = (
            &mut slot.http,
            &mut slot.ready,
            &mut self.http,
            &mut self.buf,
        );
        let open = match slot.tls.as_mut() {
            Some(tls) => pump_tls(http, tls, &mut stream, ready, ctx, buf, now),
            None => pump(http, &mut stream, ready, ctx, buf, now),
        };
        if !open {
            self.slots.remove(c);
            self.shard.close(c);
        }
    }

    fn on_event(&mut self, ev: SocketEvent, now: Instant) {
        match ev {
            SocketEvent::Acceptable(l) => self.accept_all(l, now),
            SocketEvent::Readable(c) => {
                if let Some(s) = self.slots.get_mut(c) {
                    s.ready.readable = true;
                    self.drive(c, now);
                }
            }
            SocketEvent::Writable(c) => {
                if let Some(s) = self.slots.get_mut(c) {
                    s.ready.writable = true;
                    self.drive(c, now);
                }
            }
            SocketEvent::Closed(c) => {
                if let Some(mut s) = self.slots.remove(c) {
                    s.http.on_io_error(&mut self.http);
                }
                // Releases the zombie the stack keeps until its handle is given back.
                self.shard.close(c);
            }
        }
    }

    fn accept_all(&mut self, l: ListenerId, now: Instant) {
        let max = self.max_connections;
        while let Some(c) = self.shard.accept(l) {
            if self.listener.is_none() {
                self.shard.abort(c);
                continue;
            }
            if self.slots.live >= max {
                self.http.metrics().connection_refused();
                if self
                    .limit_logged
                    .is_none_or(|t| now.saturating_duration_since(t) >= LIMIT_LOG_INTERVAL)
                {
                    self.limit_logged = Some(now);
                    tracing::warn!(
                        limit = max,
                        "HTTP connection limit of this shard reached: new connections are reset \
                         (max_connections_per_worker; counted in \
                         boomerang_http_connections_refused_total)"
                    );
                }
                self.shard.abort(c);
                continue;
            }
            let redirect = (Some(l) == self.redirect_listener).then_some(self.https_port);
            let service = self.http.service();
            let tls = match service.tls().filter(|_| redirect.is_none()) {
                Some(a) => match TlsSession::new(a, now) {
                    Ok(t) => Some(Box::new(t)),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot start a TLS session");
                        self.shard.abort(c);
                        continue;
                    }
                },
                None => None,
            };
            let peer = self
                .shard
                .tuple(c)
                .map(|t| std::net::SocketAddr::V4(t.remote));
            let http = &mut self.http;
            self.slots.insert(c, tls, |id| {
                let mut conn = HttpConnection::new(http, id, now);
                if let Some(peer) = peer {
                    conn.set_peer(peer);
                }
                if let Some(port) = redirect {
                    conn.redirect_to_https(port);
                }
                conn
            });
        }
    }

    fn completions(&mut self, now: Instant) -> bool {
        let mut any = false;
        while let Some(done) = self.http.pop_completion() {
            any = true;
            let id = done.conn_id();
            let Some(s) = self.slots.by_id(id) else {
                continue;
            };
            let c = s.conn;
            s.http.on_completion(&mut self.http, done, now);
            self.drive(c, now);
        }
        any
    }

    /// HTTP deadlines (keep-alive, slowloris, write, linger) and metrics housekeeping.
    fn http_tick(&mut self, now: Instant) {
        self.http.tick();
        let due: Vec<ConnId> = self
            .slots
            .slots
            .iter()
            .flatten()
            .filter(|s| {
                s.http.poll_timeout(&self.http).is_some_and(|t| t <= now)
                    || s.tls
                        .as_deref()
                        .and_then(TlsSession::poll_timeout)
                        .is_some_and(|t| t <= now)
            })
            .map(|s| s.conn)
            .collect();
        for c in due {
            if let Some(s) = self.slots.get_mut(c) {
                s.http.on_timeout(&mut self.http, now);
                self.drive(c, now);
            }
        }
    }

    fn begin_shutdown(&mut self, now: Instant) {
        for l in [self.listener.take(), self.redirect_listener.take()]
            .into_iter()
            .flatten()
        {
            self.shard.unlisten(l, now);
        }
        let conns: Vec<ConnId> = self.slots.slots.iter().flatten().map(|s| s.conn).collect();
        for c in conns {
            if let Some(s) = self.slots.get_mut(c) {
                s.http.begin_shutdown(&mut self.http);
                self.drive(c, now);
            }
        }
    }

    fn snapshot<D: DeviceStats>(&self, dev: &D) -> ShardSnapshot {
        ShardSnapshot {
            stats: self.shard.stats().clone(),
            connections: self.shard.connection_count(),
            time_wait: self.shard.time_wait_count(),
            by_state: self.shard.connections_by_state(),
            http_connections: self.slots.live,
            device: dev.snapshot(),
        }
    }
}

/// Runs the shard on `dev` until the stop flag is set and the connections are finished.
pub fn run<D: DeviceStats>(mut dev: D, fd: RawFd, params: ShardParams<'_>) -> anyhow::Result<()> {
    if let Some(cpu) = params.cpu {
        if core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
            tracing::info!(shard = params.index, cpu, "shard pinned");
        } else {
            tracing::warn!(shard = params.index, cpu, "could not pin the shard thread");
        }
    }
    let mut poll = Poll::new().context("cannot create an epoll instance")?;
    poll.registry()
        .register(&mut SourceFd(&fd), DEVICE, Interest::READABLE)
        .context("cannot register the device fd with epoll")?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let http = HttpWorker::new(
        params.service,
        params.pool,
        Box::new(move || {
            let _ = waker.wake();
        }),
        SystemTime::now(),
    );
    let now = Instant::now();
    let shard = Shard::new(params.shared.clone(), params.index, now);
    let mut lp = ServerShard::new(shard, http, params.service, params.port, now)?;
    params.listening.store(true, Ordering::Release);
    let grace = params.service.config().shutdown_grace;
    let mut events = Events::with_capacity(64);
    let mut last_work = now;
    let mut next_publish = now;
    let mut stopping: Option<Instant> = None;
    let mut drained_at: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if stopping.is_none() && params.stop.load(Ordering::Relaxed) {
            tracing::info!(
                shard = params.index,
                connections = lp.slots.live,
                "stopping: no new connections, finishing the open ones"
            );
            stopping = Some(now + grace);
            lp.begin_shutdown(now);
        }
        let work = lp.turn(&mut dev, now);
        if now >= next_publish {
            next_publish = now + PUBLISH_INTERVAL;
            params
                .metrics
                .publish_shard(params.index, lp.snapshot(&dev));
        }
        if let Some(deadline) = stopping {
            let active = lp.shard.connection_count() - lp.shard.time_wait_count();
            if lp.slots.live == 0 && drained_at.is_none() {
                drained_at = Some(now);
            }
            // After the last response was written, TCP still delivers what the send buffers
            // hold (up to the grace deadline); then SHUTDOWN_DRAIN for the closing handshakes.
            let drained = drained_at.is_some_and(|t| {
                active == 0 || (now >= t + SHUTDOWN_DRAIN && lp.shard.sending_count() == 0)
            });
            if drained || now >= deadline + SHUTDOWN_DRAIN {
                if lp.slots.live > 0 {
                    tracing::warn!(
                        shard = params.index,
                        left = lp.slots.live,
                        "shutdown grace over; dropping connections"
                    );
                }
                params
                    .metrics
                    .publish_shard(params.index, lp.snapshot(&dev));
                return Ok(());
            }
        }
        if work.any() {
            last_work = now;
            continue;
        }
        if now.duration_since(last_work) < SPIN_AFTER_WORK {
            continue;
        }
        let wake_at = (now + MAX_SLEEP).min(lp.next_deadline());
        let timeout = wake_at.saturating_duration_since(now);
        if timeout.is_zero() {
            continue;
        }
        if let Err(e) = poll.poll(&mut events, Some(timeout)) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e).context("epoll_wait failed");
            }
        }
    }
}

#[cfg(test)]
mod tests;
