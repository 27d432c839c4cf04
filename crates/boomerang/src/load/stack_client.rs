//! `boomerang load --iface IF --addr A.B.C.D/N`: the load generator's client runs on our own
//! userspace stack over AF_XDP instead of kernel sockets, so that on a small machine the
//! client is not the bottleneck (the kernel client saturates first with short connections).
//!
//! One thread, one queue (queue 0 of the interface): device → `Shard` → connections
//! (connect → send request → read response → reuse or reconnect) → `Shard` → device. The
//! same [`ResponseReader`], histogram and counters as the kernel-socket workers, and the
//! same [`TlsConn`] over HTTPS (its records go into the connection's send buffer).

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use boomerang_nic::xsk::{XdpConfig, XdpSetup};
use boomerang_nic::Device;
use boomerang_stack::{ConnId, Shard, Shared, SocketError, SocketEvent, StackConfig};
use boomerang_wire::{EthernetAddress, Ipv4Cidr};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use super::exchange::{Exchange, Phase, Received};
use super::response::ResponseReader;
use super::tls::{TlsClient, TlsConn};
use super::worker::WorkerConfig;
use super::{ErrorCounts, Report, Shared as Progress};
use crate::device_io;

/// Longest sleep when idle.
const IDLE_SLEEP: Duration = Duration::from_millis(1);
/// How often connection deadlines are checked.
const SWEEP_INTERVAL: Duration = Duration::from_millis(10);
/// Bytes read per `recv`.
const READ_CHUNK: usize = 64 * 1024;

/// Where the stack client lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackClient {
    /// Interface to take over (queue 0) with an XDP program and an AF_XDP socket.
    pub iface: String,
    /// The client stack's own address (not the kernel's).
    pub addr: Ipv4Cidr,
    /// Next hop towards the server when it is outside the prefix.
    pub gateway: Option<Ipv4Addr>,
}

struct Conn {
    ex: Exchange,
    reader: ResponseReader,
    tls: Option<Box<TlsConn>>,
}

/// `io::Write` into a connection's send buffer (what rustls's `write_tls` takes); a full
/// buffer is `WouldBlock`.
struct SendTo<'a> {
    shard: &'a mut Shard,
    c: ConnId,
}

impl io::Write for SendTo<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self.shard.send(self.c, data) {
            Ok(0) if !data.is_empty() => Err(io::ErrorKind::WouldBlock.into()),
            Ok(n) => Ok(n),
            Err(SocketError::WouldBlock) => Err(io::ErrorKind::WouldBlock.into()),
            Err(e) => Err(io::Error::other(e)),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct Client<'a> {
    cfg: &'a WorkerConfig,
    progress: &'a Progress,
    shard: Shard,
    target: SocketAddrV4,
    conns: HashMap<ConnId, Conn>,
    to_open: usize,
    report: Report,
    buf: Vec<u8>,
    /// Plaintext of the last read over TLS.
    plain: Vec<u8>,
    stopping: bool,
}

impl Client<'_> {
    fn error(&mut self, f: impl FnOnce(&mut ErrorCounts)) {
        self.progress.error(&mut self.report, f);
    }

    fn open_pending(&mut self, now: Instant) {
        while self.to_open > 0 && !self.stopping {
            let tls = match self.cfg.tls.as_ref().map(TlsClient::connect).transpose() {
                Ok(t) => t.map(Box::new),
                Err(e) => {
                    tracing::debug!(error = %e, "TLS client setup failed");
                    self.error(|e| e.tls += 1);
                    return;
                }
            };
            match self.shard.connect(self.target, now) {
                Ok(c) => {
                    self.to_open -= 1;
                    self.report.connections_opened += 1;
                    self.conns.insert(
                        c,
                        Conn {
                            ex: Exchange::connecting(now, self.cfg.timeout),
                            reader: ResponseReader::new(),
                            tls,
                        },
                    );
                }
                Err(e) => {
                    tracing::debug!(error = %e, "connect failed");
                    self.error(|e| e.connect += 1);
                    return;
                }
            }
        }
    }

    /// Ends connection `c` (graceful close, or reset when `abort`) and schedules a new one.
    fn replace(&mut self, c: ConnId, abort: bool) {
        if self.conns.remove(&c).is_some() {
            if abort {
                self.shard.abort(c);
            } else {
                self.shard.close(c);
            }
            self.to_open += 1;
        }
    }

    fn complete(&mut self, started: Instant, status: u16, body_len: u64) {
        if self
            .progress
            .complete(&mut self.report, self.cfg.limit, started, status, body_len)
        {
            self.stopping = true;
        }
    }

    fn on_event(&mut self, ev: SocketEvent, now: Instant) {
        match ev {
            SocketEvent::Acceptable(_) => {}
            SocketEvent::Writable(c) | SocketEvent::Readable(c) => {
                if let Some(conn) = self.conns.get_mut(&c) {
                    if conn.ex.phase == Phase::Connecting {
                        conn.ex.phase = Phase::Writing(0);
                        if !self.cfg.close {
                            conn.ex.started = now;
                        }
                    }
                }
                self.drive(c);
            }
            SocketEvent::Closed(c) => {
                if let Some(conn) = self.conns.get(&c) {
                    match conn.ex.phase {
                        Phase::Connecting => self.error(|e| e.connect += 1),
                        Phase::Draining => {}
                        _ => self.error(|e| e.read += 1),
                    }
                }
                self.replace(c, false);
                // Releases the handle of a connection the stack already removed.
                self.shard.close(c);
            }
        }
    }

    fn drive(&mut self, c: ConnId) {
        // TLS records that did not fit into the send buffer before go first.
        if let Some(tls) = self.conns.get_mut(&c).and_then(|conn| conn.tls.as_mut()) {
            let mut out = SendTo {
                shard: &mut self.shard,
                c,
            };
            if tls.flush(&mut out).is_err() {
                self.error(|e| e.write += 1);
                self.replace(c, true);
                return;
            }
        }
        loop {
            let Some(conn) = self.conns.get_mut(&c) else {
                return;
            };
            match conn.ex.phase {
                Phase::Connecting => return,
                Phase::Writing(done) => {
                    let req = &self.cfg.request;
                    if let Some(tls) = conn.tls.as_mut() {
                        // rustls holds the request until the handshake is done.
                        let mut out = SendTo {
                            shard: &mut self.shard,
                            c,
                        };
                        if tls.send(req).and_then(|()| tls.flush(&mut out)).is_err() {
                            self.error(|e| e.write += 1);
                            self.replace(c, true);
                            return;
                        }
                        conn.ex.phase = Phase::Reading;
                        conn.reader.reset(false);
                        continue;
                    }
                    match self.shard.send(c, req.get(done..).unwrap_or_default()) {
                        Ok(n) if done + n >= req.len() => {
                            conn.ex.phase = Phase::Reading;
                            conn.reader.reset(false);
                        }
                        Ok(n) => conn.ex.phase = Phase::Writing(done + n),
                        Err(SocketError::WouldBlock) => return,
                        Err(_) => {
                            self.error(|e| e.write += 1);
                            self.replace(c, true);
                            return;
                        }
                    }
                }
                Phase::Reading | Phase::Draining => {
                    let n = match self.shard.recv(c, &mut self.buf) {
                        Ok(n) => n,
                        Err(SocketError::WouldBlock) => return,
                        Err(SocketError::Closing) => 0,
                        Err(_) => {
                            if conn.ex.phase == Phase::Reading {
                                self.error(|e| e.read += 1);
                            }
                            self.replace(c, true);
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
                                    self.replace(c, true);
                                    return;
                                }
                            }
                            // The handshake's last flight and the request held back.
                            let mut out = SendTo {
                                shard: &mut self.shard,
                                c,
                            };
                            if tls.flush(&mut out).is_err() {
                                self.error(|e| e.write += 1);
                                self.replace(c, true);
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
                        match conn.ex.receive(
                            &mut conn.reader,
                            data,
                            !self.cfg.close,
                            eof,
                            self.cfg.timeout,
                        ) {
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
                                self.replace(c, true);
                                return;
                            }
                        }
                    }
                    if eof {
                        if let Some(conn) = self.conns.get_mut(&c) {
                            if conn.ex.phase == Phase::Reading {
                                let started = conn.ex.started;
                                match conn.reader.eof() {
                                    Some(done) => {
                                        self.complete(started, done.status, done.body_len)
                                    }
                                    None => self.error(|e| e.read += 1),
                                }
                            }
                        }
                        self.replace(c, false);
                        return;
                    }
                }
            }
        }
    }

    fn sweep(&mut self, now: Instant) {
        let expired: Vec<(ConnId, Phase)> = self
            .conns
            .iter()
            .filter(|(_, conn)| conn.ex.deadline <= now)
            .map(|(c, conn)| (*c, conn.ex.phase))
            .collect();
        for (c, phase) in expired {
            if phase != Phase::Draining {
                self.error(|e| e.timeout += 1);
            }
            self.replace(c, true);
        }
    }
}

/// Runs the whole load on the stack client; returns the report and when it finished.
pub(crate) fn run(
    cfg: WorkerConfig,
    sc: &StackClient,
    progress: &Progress,
) -> anyhow::Result<(Report, Instant)> {
    let SocketAddr::V4(target) = cfg.target else {
        bail!("the AF_XDP client speaks IPv4 only; give an IPv4 URL");
    };
    if let Some(cpu) = cfg.pin {
        if !core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
            tracing::warn!(cpu, "could not pin the load thread");
        }
    }
    let mut xcfg = XdpConfig::new(&sc.iface);
    xcfg.addrs = vec![sc.addr.address];
    let mut setup = XdpSetup::open(&xcfg)
        .with_context(|| format!("cannot open AF_XDP on {} for the load client", sc.iface))?;
    let mut dev = setup
        .take_queues()
        .pop()
        .context("the AF_XDP setup opened no queue")?;
    let mtu = (setup.mtu() as usize).min(dev.max_frame_len().saturating_sub(14));
    let mut stack = StackConfig::new(EthernetAddress(setup.mac()), sc.addr);
    stack.gateway = sc.gateway;
    stack.mtu = mtu;
    stack.isn_secret = crate::os::isn_secret()?;
    let now = Instant::now();
    let mut shard = Shard::new(Shared::new(stack), 0, now);
    shard.announce(now);
    let mut poll = Poll::new()?;
    let fd = dev.as_raw_fd();
    poll.registry()
        .register(&mut SourceFd(&fd), Token(0), Interest::READABLE)?;
    tracing::info!(iface = %sc.iface, addr = %sc.addr, %target, connections = cfg.connections, "load client on the userspace stack (AF_XDP)");
    let mut cl = Client {
        to_open: cfg.connections,
        cfg: &cfg,
        progress,
        shard,
        target,
        conns: HashMap::new(),
        report: Report::empty(),
        buf: vec![0; READ_CHUNK],
        plain: Vec::with_capacity(READ_CHUNK),
        stopping: false,
    };
    let mut events = Events::with_capacity(16);
    let mut next_sweep = now;
    loop {
        let now = Instant::now();
        if now >= cfg.deadline || progress.stop.load(Ordering::Relaxed) || cl.stopping {
            break;
        }
        let rx = device_io::receive(&mut dev, &mut cl.shard, now);
        let mut evs = 0;
        while let Some(ev) = cl.shard.poll_event() {
            evs += 1;
            cl.on_event(ev, now);
        }
        if now >= next_sweep {
            next_sweep = now + SWEEP_INTERVAL;
            cl.sweep(now);
        }
        cl.open_pending(now);
        let (tx, blocked) = device_io::transmit(&mut dev, &mut cl.shard, now);
        dev.flush(now);
        if rx == 0 && tx == 0 && evs == 0 && !blocked {
            let mut wait = IDLE_SLEEP.min(cfg.deadline.saturating_duration_since(now));
            if let Some(t) = cl.shard.poll_timeout() {
                wait = wait.min(t.saturating_duration_since(now));
            }
            if !wait.is_zero() {
                let _ = poll.poll(&mut events, Some(wait));
            }
        }
    }
    let finished = Instant::now();
    // Leave politely: reset what is still open so the server frees its state at once.
    let open: Vec<ConnId> = cl.conns.keys().copied().collect();
    for c in open {
        cl.shard.abort(c);
    }
    let now = Instant::now();
    device_io::transmit(&mut dev, &mut cl.shard, now);
    dev.flush(now);
    drop(dev);
    drop(setup);
    Ok((cl.report, finished))
}
