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
use boomerang_http::{
    pump, BlockingPool, ByteStream, HttpConnection, HttpService, HttpWorker, Readiness,
};
use boomerang_stack::{ConnId, ListenerId, Shard, Shared, SocketError, SocketEvent};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::metrics::{DeviceStats, MetricsState, ShardSnapshot};

/// Frames taken from the device per turn.
pub const RX_BUDGET: usize = 64;
/// Frames written to the device per turn (then the loop receives again).
pub const TX_BUDGET: usize = 256;
/// Busy-poll this long after the last work before sleeping in `mio::Poll`.
pub const SPIN_AFTER_WORK: Duration = Duration::from_micros(50);
/// Longest sleep in `mio::Poll` (the stop flag is checked at least this often).
pub const MAX_SLEEP: Duration = Duration::from_millis(100);
/// How often the shard publishes its counters for `/metrics`.
pub const PUBLISH_INTERVAL: Duration = Duration::from_millis(100);
/// How long the stack gets after the last HTTP connection ended during shutdown to send
/// its last FINs and ACKs.
pub const SHUTDOWN_DRAIN: Duration = Duration::from_millis(500);
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

fn to_io(e: SocketError) -> io::Error {
    let kind = match e {
        SocketError::WouldBlock => io::ErrorKind::WouldBlock,
        SocketError::ConnectionReset => io::ErrorKind::ConnectionReset,
        SocketError::ConnectionRefused => io::ErrorKind::ConnectionRefused,
        SocketError::TimedOut => io::ErrorKind::TimedOut,
        SocketError::Closing => io::ErrorKind::BrokenPipe,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e)
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

    fn insert(&mut self, c: ConnId, make: impl FnOnce(u64) -> HttpConnection) {
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

struct Loop<'a> {
    shard: Shard,
    http: HttpWorker,
    slots: Slots,
    buf: Vec<u8>,
    listener: Option<ListenerId>,
    params: ShardParams<'a>,
}

impl Loop<'_> {
    /// Pumps bytes for `c`; releases the connection when the HTTP side is done.
    fn drive(&mut self, c: ConnId, now: Instant) {
        let Some(slot) = self.slots.get_mut(c) else {
            return;
        };
        let mut stream = StackStream {
            shard: &mut self.shard,
            conn: c,
        };
        let open = pump(
            &mut slot.http,
            &mut stream,
            &mut slot.ready,
            &mut self.http,
            &mut self.buf,
            now,
        );
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
        let max = self.params.service.config().max_connections_per_worker;
        while let Some(c) = self.shard.accept(l) {
            if self.slots.live >= max || self.listener.is_none() {
                tracing::debug!("connection limit reached or stopping; resetting a connection");
                self.shard.abort(c);
                continue;
            }
            let http = &mut self.http;
            self.slots
                .insert(c, |id| HttpConnection::new(http, id, now));
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
            .filter(|s| s.http.poll_timeout(&self.http).is_some_and(|t| t <= now))
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
        if let Some(l) = self.listener.take() {
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
            http_connections: self.slots.live,
            device: dev.snapshot(),
        }
    }
}

/// Writes up to [`TX_BUDGET`] frames; returns how many, and whether the device ran out of
/// transmit buffers while the stack still had frames.
fn transmit<D: DeviceStats>(dev: &mut D, shard: &mut Shard, now: Instant) -> (usize, bool) {
    let mut sent = 0;
    while sent < TX_BUDGET {
        let mut len = 0;
        let had_buffer = dev.transmit(now, &mut |buf: &mut [u8]| {
            len = shard.poll_transmit(now, buf).unwrap_or(0);
            len
        });
        if !had_buffer {
            return (sent, true);
        }
        if len == 0 {
            return (sent, false);
        }
        sent += 1;
    }
    (sent, true)
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
    let mut shard = Shard::new(params.shared.clone(), params.index, now);
    shard.announce(now);
    let listener = shard
        .listen(params.port, LISTEN_BACKLOG)
        .map_err(|e| anyhow::anyhow!("cannot listen on port {}: {e}", params.port))?;
    params.listening.store(true, Ordering::Release);
    let granularity = params.service.config().timer_granularity;
    let grace = params.service.config().shutdown_grace;
    let mut lp = Loop {
        shard,
        http,
        slots: Slots::default(),
        buf: vec![0; READ_BUFFER_BYTES],
        listener: Some(listener),
        params,
    };
    let mut events = Events::with_capacity(64);
    let mut last_work = now;
    let mut next_tick = now + granularity;
    let mut next_publish = now;
    let mut stopping: Option<Instant> = None;
    let mut drained_at: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let shard = &mut lp.shard;
        let received = dev.receive(now, RX_BUDGET, &mut |frame: &[u8]| {
            shard.receive(frame, now)
        });
        if lp.shard.poll_timeout().is_some_and(|t| t <= now) {
            lp.shard.on_timeout(now);
        }
        let mut events_seen = 0;
        while let Some(ev) = lp.shard.poll_event() {
            events_seen += 1;
            lp.on_event(ev, now);
        }
        let completed = lp.completions(now);
        if now >= next_tick {
            next_tick = now + granularity;
            // The Date header has a one-second resolution: refreshing it once per timer tick
            // (not per loop turn) saves a clock read on the hot path.
            lp.http.refresh_date(SystemTime::now());
            lp.http_tick(now);
        }
        if stopping.is_none() && lp.params.stop.load(Ordering::Relaxed) {
            tracing::info!(
                shard = lp.params.index,
                connections = lp.slots.live,
                "stopping: no new connections, finishing the open ones"
            );
            stopping = Some(now + grace);
            lp.begin_shutdown(now);
        }
        let (sent, tx_blocked) = transmit(&mut dev, &mut lp.shard, now);
        dev.flush(now);
        if now >= next_publish {
            next_publish = now + PUBLISH_INTERVAL;
            lp.params
                .metrics
                .publish_shard(lp.params.index, lp.snapshot(&dev));
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
                        shard = lp.params.index,
                        left = lp.slots.live,
                        "shutdown grace over; dropping connections"
                    );
                }
                lp.params
                    .metrics
                    .publish_shard(lp.params.index, lp.snapshot(&dev));
                return Ok(());
            }
        }
        let worked = received > 0 || sent > 0 || events_seen > 0 || completed || tx_blocked;
        if worked {
            last_work = now;
            continue;
        }
        if now.duration_since(last_work) < SPIN_AFTER_WORK {
            continue;
        }
        let mut wake_at = now + MAX_SLEEP;
        if let Some(t) = lp.shard.poll_timeout() {
            wake_at = wake_at.min(t);
        }
        wake_at = wake_at.min(next_tick);
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
