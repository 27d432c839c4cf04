//! The server shard on the in-memory link: a client [`Shard`] of our own stack and a
//! [`ServerShard`] joined by `boomerang_nic::memlink`, on a virtual clock.
//!
//! It runs the production loop turn ([`ServerShard::turn`]) with nothing replaced but the
//! device and the clock, so that exact-frame tests, the allocation test and the
//! instruction counts of `bench/request-cost` measure the real path: frame in →
//! `Shard::receive` → socket events → `HttpConnection` → `Shard::poll_transmit` → frame out.
//! Blocking-pool jobs run on a real thread; while one is out, virtual time waits for it.
//! Nothing in the server depends on this module.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use boomerang_http::{BlockingPool, HttpService, HttpWorker, Router, ServerConfig};
use boomerang_nic::memlink::{LinkConfig, MemLink, MemPort};
use boomerang_nic::Device;
use boomerang_stack::{ConnId, Shard, Shared, StackConfig, TcpState};
use boomerang_wire::{EthernetAddress, EthernetFrame, Ipv4Cidr, Ipv4Packet, TcpPacket};

use super::shard_loop::{ServerShard, TurnWork};

/// Client MAC on the simulated link.
pub const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
/// Server MAC on the simulated link.
pub const SERVER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
/// Client address (benchmarking range).
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// Server address (benchmarking range).
pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// The server's HTTP port.
pub const PORT: u16 = 8080;

/// A stack configuration for one side of the simulated link.
pub fn stack_config(mac: [u8; 6], ip: Ipv4Addr) -> StackConfig {
    let cidr = Ipv4Cidr::new(ip, 24).unwrap_or_else(|_| unreachable!("a /24 is valid"));
    let mut c = StackConfig::new(EthernetAddress(mac), cidr);
    c.isn_secret = [mac[5]; 16];
    c
}

/// TCP payload bytes of a frame (0 for ARP, bare ACKs and anything unparsable).
pub fn tcp_payload_len(frame: &[u8]) -> usize {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return 0;
    };
    let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
        return 0;
    };
    TcpPacket::new_checked(ip.payload()).map_or(0, |t| t.payload().len())
}

/// One server turn as the simulation saw it.
#[derive(Debug, Clone, Copy)]
pub struct TurnRecord {
    /// Virtual time of the turn.
    pub at: Instant,
    /// What the turn did.
    pub work: TurnWork,
    /// TCP payload bytes the turn transmitted.
    pub payload: usize,
}

/// The server's port, recording what each turn transmits.
struct Recording<'a> {
    port: &'a mut MemPort,
    payload: usize,
}

impl Device for Recording<'_> {
    fn receive(&mut self, now: Instant, budget: usize, f: &mut dyn FnMut(&[u8])) -> usize {
        self.port.receive(now, budget, f)
    }

    fn transmit(&mut self, now: Instant, f: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        let payload = &mut self.payload;
        self.port.transmit(now, &mut |buf: &mut [u8]| {
            let n = f(buf);
            *payload += tcp_payload_len(buf.get(..n).unwrap_or_default());
            n
        })
    }

    fn max_frame_len(&self) -> usize {
        self.port.max_frame_len()
    }

    fn mac(&self) -> [u8; 6] {
        self.port.mac()
    }
}

/// How a [`SimPair`] is built.
pub struct SimOptions {
    /// One-way delay of the link.
    pub one_way: Duration,
    /// The HTTP server's configuration (document root, limits).
    pub http: ServerConfig,
    /// The client stack's configuration.
    pub client: StackConfig,
    /// The server stack's configuration.
    pub server: StackConfig,
    /// The routes (default: `boomerang serve`'s built-in ones).
    pub router: Router,
    /// Threads of the blocking pool (default 1).
    pub blocking_threads: usize,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            one_way: Duration::from_millis(1),
            http: ServerConfig::default(),
            client: stack_config(CLIENT_MAC, CLIENT_IP),
            server: stack_config(SERVER_MAC, SERVER_IP),
            router: Router::with_builtin_routes(),
            blocking_threads: 1,
        }
    }
}

/// A client shard and a server shard over the in-memory link on a virtual clock.
pub struct SimPair {
    /// The client (our own stack; delays its ACKs by 40 ms by default, like Linux).
    pub client: Shard,
    client_port: MemPort,
    /// The server, exactly as `boomerang serve` runs it.
    pub server: ServerShard,
    server_port: MemPort,
    /// Virtual now.
    pub now: Instant,
    /// Every server turn with its work, when [`SimPair::record`] is on.
    pub turns: Vec<TurnRecord>,
    /// Whether server turns are recorded in [`SimPair::turns`].
    pub record: bool,
    /// Runs each server turn (tests wrap it, e.g. to count allocations inside it only).
    pub around_server_turn: fn(&mut dyn FnMut()),
    last_work: TurnWork,
    read_buf: Vec<u8>,
    _pool: BlockingPool,
}

fn plain_call(f: &mut dyn FnMut()) {
    f();
}

impl SimPair {
    /// Builds both sides; the server listens on [`PORT`].
    pub fn new(opts: SimOptions) -> anyhow::Result<SimPair> {
        let link = LinkConfig {
            delay: opts.one_way,
            queue_frames: 8192,
            ..LinkConfig::default()
        };
        let frame = opts.server.mtu + 14;
        let (client_port, server_port) =
            MemLink::pair_with(CLIENT_MAC, SERVER_MAC, frame, link, link);
        let now = Instant::now();
        let client = Shard::new(Shared::new(opts.client), 0, now);
        let service = HttpService::new(opts.http, opts.router).context("http service")?;
        let pool = BlockingPool::new(opts.blocking_threads, 64).context("blocking pool")?;
        let http = HttpWorker::new(&service, &pool, Box::new(|| {}), SystemTime::now());
        let shard = Shard::new(Shared::new(opts.server), 0, now);
        let server = ServerShard::new(shard, http, &service, PORT, now)?;
        Ok(SimPair {
            client,
            client_port,
            server,
            server_port,
            now,
            turns: Vec::new(),
            record: true,
            around_server_turn: plain_call,
            last_work: TurnWork::default(),
            read_buf: vec![0; 256 * 1024],
            _pool: pool,
        })
    }

    /// One step at the current virtual time: the client's receive, timers and transmit, then
    /// one server turn.
    pub fn step(&mut self) {
        let now = self.now;
        let client = &mut self.client;
        self.client_port
            .receive(now, usize::MAX, &mut |f: &[u8]| client.receive(f, now));
        if client.poll_timeout().is_some_and(|t| t <= now) {
            client.on_timeout(now);
        }
        loop {
            let mut produced = false;
            let accepted = self.client_port.transmit(now, &mut |buf: &mut [u8]| {
                let n = client.poll_transmit(now, buf).unwrap_or(0);
                produced = n > 0;
                n
            });
            if !accepted || !produced {
                break;
            }
        }
        let mut dev = Recording {
            port: &mut self.server_port,
            payload: 0,
        };
        let server = &mut self.server;
        let mut work = TurnWork::default();
        (self.around_server_turn)(&mut || work = server.turn(&mut dev, now));
        if self.record {
            self.turns.push(TurnRecord {
                at: now,
                work,
                payload: dev.payload,
            });
        }
        self.last_work = work;
    }

    /// Moves the virtual clock to the next frame arrival or timer.
    fn advance(&mut self) {
        let next = [
            self.client_port.next_rx_at(),
            self.server_port.next_rx_at(),
            self.client.poll_timeout(),
            Some(self.server.next_deadline()),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(self.now);
        self.now = next.max(self.now + Duration::from_micros(10));
    }

    /// Steps until `done` holds; fails after `limit` of virtual time.
    pub fn run_until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&mut SimPair) -> bool,
    ) -> anyhow::Result<()> {
        let end = self.now + limit;
        loop {
            self.step();
            if done(self) {
                return Ok(());
            }
            let idle = !self.last_work.any()
                && self.client_port.rx_pending() + self.server_port.rx_pending() == 0;
            if idle {
                // Nothing in flight: give a blocking-pool job (a real thread) time to finish
                // before virtual time moves on.
                std::thread::sleep(Duration::from_micros(200));
            }
            self.advance();
            anyhow::ensure!(self.now <= end, "not done within {limit:?} of virtual time");
        }
    }

    /// Opens a client connection to the server and waits for ESTABLISHED.
    pub fn connect(&mut self) -> anyhow::Result<ConnId> {
        let c = self
            .client
            .connect(SocketAddrV4::new(SERVER_IP, PORT), self.now)
            .map_err(|e| anyhow::anyhow!("connect: {e:?}"))?;
        self.run_until(Duration::from_millis(100), |p| {
            p.client.tcp_state(c) == Some(TcpState::Established)
        })?;
        Ok(c)
    }

    /// Sends `request` on `c` and reads one whole response (framed by Content-Length).
    /// Returns the virtual time it took and the response's bytes.
    pub fn exchange(&mut self, c: ConnId, request: &[u8]) -> anyhow::Result<(Duration, Vec<u8>)> {
        let start = self.now;
        let mut response = Vec::new();
        self.exchange_into(c, request, &mut response)?;
        Ok((self.now - start, response))
    }

    /// [`SimPair::exchange`] into a caller's buffer (cleared first).
    pub fn exchange_into(
        &mut self,
        c: ConnId,
        request: &[u8],
        response: &mut Vec<u8>,
    ) -> anyhow::Result<()> {
        response.clear();
        let sent = self
            .client
            .send(c, request)
            .map_err(|e| anyhow::anyhow!("send: {e:?}"))?;
        anyhow::ensure!(sent == request.len(), "the client took {sent} bytes");
        let mut buf = std::mem::take(&mut self.read_buf);
        let r = self.run_until(Duration::from_secs(2), |p| {
            while let Ok(n) = p.client.recv(c, &mut buf) {
                if n == 0 {
                    break;
                }
                response.extend_from_slice(buf.get(..n).unwrap_or_default());
            }
            response_complete(response)
        });
        self.read_buf = buf;
        r
    }
}

impl SimPair {
    /// Sends `request` on every connection of `conns` at once and reads one whole response
    /// on each into `responses` (one buffer per connection, cleared first), as a closed-loop
    /// load of `conns.len()` connections does.
    pub fn exchange_all(
        &mut self,
        conns: &[ConnId],
        request: &[u8],
        responses: &mut [Vec<u8>],
    ) -> anyhow::Result<()> {
        anyhow::ensure!(conns.len() == responses.len(), "one buffer per connection");
        for (c, r) in conns.iter().zip(responses.iter_mut()) {
            r.clear();
            let sent = self
                .client
                .send(*c, request)
                .map_err(|e| anyhow::anyhow!("send: {e:?}"))?;
            anyhow::ensure!(sent == request.len(), "the client took {sent} bytes");
        }
        let mut buf = std::mem::take(&mut self.read_buf);
        let r = self.run_until(Duration::from_secs(2), |p| {
            let mut all = true;
            for (c, response) in conns.iter().zip(responses.iter_mut()) {
                while let Ok(n) = p.client.recv(*c, &mut buf) {
                    if n == 0 {
                        break;
                    }
                    response.extend_from_slice(buf.get(..n).unwrap_or_default());
                }
                all &= response_complete(response);
            }
            all
        });
        self.read_buf = buf;
        r
    }
}

/// The head length, status and Content-Length of the HTTP response at the start of
/// `bytes`, once its head is complete (a missing Content-Length counts as 0).
pub fn response_frame(bytes: &[u8]) -> Option<(usize, u16, usize)> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(head_len)) = resp.parse(bytes) else {
        return None;
    };
    let len = resp
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| {
            std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<usize>()
                .ok()
        })
        .unwrap_or(0);
    Some((head_len, resp.code.unwrap_or(0), len))
}

/// Whether `bytes` hold one whole HTTP response framed by Content-Length.
pub fn response_complete(bytes: &[u8]) -> bool {
    response_frame(bytes).is_some_and(|(head_len, _, len)| bytes.len() >= head_len + len)
}

/// A temporary document root with the given files, removed on drop.
pub struct SiteDir(pub PathBuf);

impl SiteDir {
    /// Creates a unique directory under the system's temporary directory holding `files`.
    pub fn new(tag: &str, files: &[(&str, &[u8])]) -> anyhow::Result<SiteDir> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("bmr-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).context("site dir")?;
        for (name, body) in files {
            std::fs::write(dir.join(name), body).context("site file")?;
        }
        Ok(SiteDir(dir))
    }
}

impl Drop for SiteDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
