//! The kernel-socket transport: mio event loops, one worker thread per core, each with
//! its own `SO_REUSEPORT` listener (the kernel spreads connections), run-to-completion:
//! read → [`HttpConnection`] → write in the same loop turn.
//!
//! Epoll is edge-triggered; a worker remembers per socket whether it may still be
//! readable/writable and reads only while the connection wants input (back-pressure).

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use socket2::{Domain, Protocol, Socket, Type};

use crate::blocking::BlockingPool;
use crate::config::ServerConfig;
use crate::conn::HttpConnection;
use crate::driver::{pump, ByteStream, Readiness};
use crate::metrics::LogLimiter;
use crate::router::Router;
use crate::tls_stream::{pump_tls, TlsSession};
use crate::worker::{HttpService, HttpWorker};

/// Listen backlog of each worker's socket.
pub const LISTEN_BACKLOG: i32 = 1024;
/// Size of a worker's receive scratch buffer.
pub const READ_BUFFER_BYTES: usize = 64 * 1024;
/// Events taken from epoll per wait.
pub const EVENTS_PER_POLL: usize = 1024;

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX - 2);
const REDIRECT_LISTENER: Token = Token(usize::MAX - 3);

/// Called at the start of each worker thread with its index (e.g. to pin it to a CPU).
pub type WorkerStartHook = Arc<dyn Fn(usize) + Send + Sync>;

/// The HTTP server on kernel sockets.
pub struct KernelServer {
    service: Arc<HttpService>,
    /// Per worker: its HTTPS (or plain) listener and, with `[tls] redirect-port`, its
    /// listener of the HTTP → HTTPS redirect port.
    listeners: Vec<(std::net::TcpListener, Option<std::net::TcpListener>)>,
    local_addr: SocketAddr,
    on_worker_start: Option<WorkerStartHook>,
}

impl std::fmt::Debug for KernelServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KernelServer")
            .field("local_addr", &self.local_addr)
            .field("workers", &self.listeners.len())
            .finish_non_exhaustive()
    }
}

impl KernelServer {
    /// Binds `addr` with the built-in routes (`/plaintext`, `/echo`, `/metrics`, static).
    pub fn bind(addr: SocketAddr, config: ServerConfig) -> io::Result<Self> {
        let service = HttpService::new(config, Router::with_builtin_routes())?;
        Self::bind_service(addr, service)
    }

    /// Binds `addr` serving `service`: one `SO_REUSEPORT` listener per worker
    /// (`config.workers`, 0 = one per available CPU). Port 0 picks a free port once.
    pub fn bind_service(addr: SocketAddr, service: Arc<HttpService>) -> io::Result<Self> {
        let workers = match service.config().workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let redirect_port = service.config().tls.as_ref().and_then(|t| t.redirect_port);
        let mut listeners = Vec::with_capacity(workers);
        let mut bind_addr = addr;
        for _ in 0..workers {
            let l = reuse_port_listener(bind_addr)?;
            bind_addr = l.local_addr()?;
            let redirect = match redirect_port {
                Some(p) => Some(reuse_port_listener(SocketAddr::new(addr.ip(), p))?),
                None => None,
            };
            listeners.push((l, redirect));
        }
        Ok(Self {
            service,
            listeners,
            local_addr: bind_addr,
            on_worker_start: None,
        })
    }

    /// Sets a hook run first on each worker thread with the worker's index (0..workers);
    /// the binary pins workers to CPUs with it.
    pub fn on_worker_start(mut self, hook: WorkerStartHook) -> Self {
        self.on_worker_start = Some(hook);
        self
    }

    /// Number of worker threads (one listener each).
    pub fn workers(&self) -> usize {
        self.listeners.len()
    }

    /// The bound address (with the chosen port).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The shared service (configuration, router, metrics).
    pub fn service(&self) -> &Arc<HttpService> {
        &self.service
    }

    /// Serves until `stop` becomes true, then stops accepting, lets in-flight requests
    /// finish within `shutdown_grace`, and returns. Blocks the calling thread.
    pub fn run(self, stop: &AtomicBool) -> io::Result<()> {
        let cfg = self.service.config();
        let pool = BlockingPool::new(cfg.blocking_threads, cfg.blocking_queue)?;
        let service = &self.service;
        let pool_ref = &pool;
        let hook = self.on_worker_start.clone();
        std::thread::scope(|s| {
            let handles: Vec<_> = self
                .listeners
                .into_iter()
                .enumerate()
                .map(|(i, l)| {
                    let hook = hook.clone();
                    std::thread::Builder::new()
                        .name(format!("http-worker-{i}"))
                        .spawn_scoped(s, move || {
                            if let Some(h) = hook {
                                h(i);
                            }
                            worker_loop(l, service, pool_ref, stop)
                        })
                })
                .collect();
            let mut result = Ok(());
            for h in handles {
                match h {
                    Ok(h) => match h.join() {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => result = Err(e),
                        Err(_) => result = Err(io::Error::other("worker thread panicked")),
                    },
                    Err(e) => result = Err(e),
                }
            }
            result
        })
    }
}

struct Slot {
    stream: TcpStream,
    conn: HttpConnection,
    /// The TLS stage, when the service speaks HTTPS (boxed: a plain slot stays small).
    tls: Option<Box<TlsSession>>,
    generation: u32,
    ready: Readiness,
}

/// Connections of one worker, indexed by token; ids carry a generation so late
/// completions for a reused slot are dropped.
struct Slab {
    slots: Vec<Option<Slot>>,
    generations: Vec<u32>,
    free: Vec<usize>,
    live: usize,
    /// Rate limit of the "connection limit reached" warning.
    limit_log: LogLimiter,
}

impl Slab {
    fn insert_with(&mut self, f: impl FnOnce(u64, u32) -> Slot) -> usize {
        let idx = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.generations.push(0);
            self.slots.len() - 1
        });
        let generation = self.generations.get(idx).copied().unwrap_or(0);
        let id = (u64::from(generation) << 32) | idx as u64;
        if let Some(s) = self.slots.get_mut(idx) {
            *s = Some(f(id, generation));
        }
        self.live += 1;
        idx
    }

    fn remove(&mut self, idx: usize) -> Option<Slot> {
        let slot = self.slots.get_mut(idx)?.take()?;
        if let Some(g) = self.generations.get_mut(idx) {
            *g = g.wrapping_add(1);
        }
        self.free.push(idx);
        self.live -= 1;
        Some(slot)
    }
}

/// A non-blocking `SO_REUSEPORT` listener on `addr`.
fn reuse_port_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

fn worker_loop(
    (listener, redirect): (std::net::TcpListener, Option<std::net::TcpListener>),
    service: &Arc<HttpService>,
    pool: &BlockingPool,
    stop: &AtomicBool,
) -> io::Result<()> {
    let cfg = service.config();
    let mut poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    // Where HTTPS is: the port redirected connections are sent to.
    let https_port = listener.local_addr()?.port();
    let mut listener = Some(TcpListener::from_std(listener));
    if let Some(l) = listener.as_mut() {
        poll.registry().register(l, LISTENER, Interest::READABLE)?;
    }
    let mut redirect = redirect.map(TcpListener::from_std);
    if let Some(l) = redirect.as_mut() {
        poll.registry()
            .register(l, REDIRECT_LISTENER, Interest::READABLE)?;
    }
    let wake = Arc::clone(&waker);
    let mut ctx = HttpWorker::new(
        service,
        pool,
        Box::new(move || {
            if let Err(e) = wake.wake() {
                tracing::warn!(error = %e, "waking worker failed");
            }
        }),
        SystemTime::now(),
    );
    let mut slab = Slab {
        slots: Vec::new(),
        generations: Vec::new(),
        free: Vec::new(),
        live: 0,
        limit_log: LogLimiter::default(),
    };
    let mut buf = vec![0u8; READ_BUFFER_BYTES];
    let mut events = Events::with_capacity(EVENTS_PER_POLL);
    let mut next_tick = Instant::now() + cfg.timer_granularity;
    let mut stopping: Option<Instant> = None;

    loop {
        let timeout = next_tick.saturating_duration_since(Instant::now());
        if let Err(e) = poll.poll(&mut events, Some(timeout)) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        let now = Instant::now();
        ctx.refresh_date(SystemTime::now());
        for ev in events.iter() {
            match ev.token() {
                LISTENER => {
                    if let Some(l) = listener.as_ref() {
                        accept_all(l, None, &poll, &mut slab, &mut ctx, now);
                    }
                }
                REDIRECT_LISTENER => {
                    if let Some(l) = redirect.as_ref() {
                        accept_all(l, Some(https_port), &poll, &mut slab, &mut ctx, now);
                    }
                }
                WAKER => {}
                Token(idx) => {
                    if let Some(Some(slot)) = slab.slots.get_mut(idx) {
                        let r = &mut slot.ready;
                        r.readable |= ev.is_readable() || ev.is_read_closed() || ev.is_error();
                        r.read_closed |= ev.is_read_closed() || ev.is_error();
                        r.writable |= ev.is_writable() || ev.is_write_closed() || ev.is_error();
                    }
                    drive_slot(&mut slab, idx, &poll, &mut ctx, &mut buf, now);
                }
            }
        }
        while let Some(c) = ctx.pop_completion() {
            let id = c.conn_id();
            let idx = (id & 0xffff_ffff) as usize;
            let generation = (id >> 32) as u32;
            if let Some(Some(slot)) = slab.slots.get_mut(idx) {
                if slot.generation == generation {
                    slot.conn.on_completion(&mut ctx, c, now);
                    drive_slot(&mut slab, idx, &poll, &mut ctx, &mut buf, now);
                }
            }
        }
        if now >= next_tick {
            for idx in 0..slab.slots.len() {
                let due = match slab.slots.get(idx) {
                    Some(Some(s)) => {
                        s.conn.poll_timeout(&ctx).is_some_and(|t| t <= now)
                            || tls_timeout(s.tls.as_deref()).is_some_and(|t| t <= now)
                    }
                    _ => false,
                };
                if due {
                    if let Some(Some(slot)) = slab.slots.get_mut(idx) {
                        slot.conn.on_timeout(&mut ctx, now);
                    }
                    drive_slot(&mut slab, idx, &poll, &mut ctx, &mut buf, now);
                }
            }
            ctx.tick();
            next_tick = now + cfg.timer_granularity;
        }
        if stopping.is_none() && stop.load(Ordering::Relaxed) {
            for mut l in [listener.take(), redirect.take()].into_iter().flatten() {
                let _ = poll.registry().deregister(&mut l);
            }
            for idx in 0..slab.slots.len() {
                if let Some(Some(slot)) = slab.slots.get_mut(idx) {
                    slot.conn.begin_shutdown(&mut ctx);
                }
                drive_slot(&mut slab, idx, &poll, &mut ctx, &mut buf, now);
            }
            stopping = Some(now + cfg.shutdown_grace);
        }
        if let Some(deadline) = stopping {
            if slab.live == 0 || now >= deadline {
                ctx.tick();
                return Ok(());
            }
        }
    }
}

/// Accepts every pending connection of `listener`; `redirect`: its connections are
/// redirected to HTTPS on that port.
fn accept_all(
    listener: &TcpListener,
    redirect: Option<u16>,
    poll: &Poll,
    slab: &mut Slab,
    ctx: &mut HttpWorker,
    now: Instant,
) {
    let max = ctx.service().config().max_connections_per_worker;
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                if slab.live >= max {
                    ctx.metrics.connection_refused();
                    if slab.limit_log.ready(now) {
                        tracing::warn!(
                            limit = max,
                            "HTTP connection limit of this worker reached: new connections are \
                             closed (max-connections-per-worker; counted in \
                             boomerang_http_connections_refused_total)"
                        );
                    }
                    continue;
                }
                let _ = stream.set_nodelay(true);
                let tls = match ctx.service().tls().filter(|_| redirect.is_none()) {
                    Some(a) => match TlsSession::new(a, now) {
                        Ok(t) => Some(Box::new(t)),
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot start a TLS session");
                            continue;
                        }
                    },
                    None => None,
                };
                let idx = slab.insert_with(|id, generation| Slot {
                    conn: {
                        let mut conn = HttpConnection::new(ctx, id, now);
                        conn.set_peer(peer);
                        if let Some(port) = redirect {
                            conn.redirect_to_https(port);
                        }
                        conn
                    },
                    tls,
                    stream,
                    generation,
                    ready: Readiness::default(),
                });
                let registered = match slab.slots.get_mut(idx) {
                    Some(Some(s)) => poll
                        .registry()
                        .register(
                            &mut s.stream,
                            Token(idx),
                            Interest::READABLE | Interest::WRITABLE,
                        )
                        .is_ok(),
                    _ => false,
                };
                if !registered {
                    if let Some(mut s) = slab.remove(idx) {
                        s.conn.on_io_error(ctx);
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // ECONNABORTED, EMFILE, ...: log and try again on the next event.
                tracing::warn!(error = %e, "accept failed");
                return;
            }
        }
    }
}

/// A mio socket as a [`ByteStream`] (edge-triggered: short reads drain).
struct MioStream<'a>(&'a mut TcpStream);

impl ByteStream for MioStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }

    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.write(data)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.write_vectored(bufs)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        match self.0.shutdown(Shutdown::Write) {
            // The peer may already be gone; the lingering close then ends at EOF/timeout.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            r => r,
        }
    }

    fn short_read_drains(&self) -> bool {
        true
    }

    fn short_write_fills(&self) -> bool {
        true
    }
}

/// The TLS stage's own deadline (handshake, last records), if any.
fn tls_timeout(tls: Option<&TlsSession>) -> Option<Instant> {
    tls.and_then(TlsSession::poll_timeout)
}

/// Runs [`pump`] (or [`pump_tls`]) for slot `idx` and removes the slot when the connection is over.
fn drive_slot(
    slab: &mut Slab,
    idx: usize,
    poll: &Poll,
    ctx: &mut HttpWorker,
    buf: &mut [u8],
    now: Instant,
) {
    let Some(Some(slot)) = slab.slots.get_mut(idx) else {
        return;
    };
    let stream = &mut MioStream(&mut slot.stream);
    let keep = match slot.tls.as_mut() {
        Some(tls) => pump_tls(&mut slot.conn, tls, stream, &mut slot.ready, ctx, buf, now),
        None => pump(&mut slot.conn, stream, &mut slot.ready, ctx, buf, now),
    };
    if !keep {
        if let Some(mut s) = slab.remove(idx) {
            let _ = poll.registry().deregister(&mut s.stream);
        }
    }
}
