//! A whole connection, structure-aware: a client shard and a server shard (with the HTTP
//! server's `HttpConnection` driven by `pump` on top) joined by a link whose every frame's
//! fate — delivered, dropped, duplicated, delayed (hence reordered) — comes from the input,
//! on a virtual clock. The client sends a fuzzed program of pipelined HTTP requests
//! (`POST /echo` with fuzzed bodies, `GET /plaintext`, bytes split at fuzzed points).
//!
//! Invariants checked after every step: no panic, bounded memory (send/receive queues within
//! their configured sizes, the server's connection table bounded). At the end the link is
//! made perfect and the run continues until idle: every response must then have arrived,
//! in order, exactly once, each echo body byte-exact — every byte delivered in order exactly
//! once in both directions.
#![no_main]

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use boomerang_http::{
    pump, BlockingPool, ByteStream, HttpConnection, HttpService, HttpWorker, Readiness, Router,
    ServerConfig,
};
use boomerang_stack::tcp::config::CongestionAlgorithm;
use boomerang_stack::{ConnId, Shard, Shared, SocketError, SocketEvent, StackConfig};
use boomerang_wire::{EthernetAddress, Ipv4Cidr};
use libfuzzer_sys::fuzz_target;

const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const SERVER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const PORT: u16 = 80;
const ONE_WAY: Duration = Duration::from_millis(2);
/// Consecutive drops allowed per direction (more would let the fuzzer time the connection
/// out legitimately, which is not what this target checks).
const MAX_DROPS_IN_A_ROW: u32 = 3;
/// Virtual time the clean-up phase may take.
const SETTLE_LIMIT: Duration = Duration::from_secs(600);

fn pool() -> &'static BlockingPool {
    static POOL: OnceLock<BlockingPool> = OnceLock::new();
    POOL.get_or_init(|| BlockingPool::new(1, 64).expect("pool"))
}

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
}

/// One direction of the link: frames with their delivery time.
#[derive(Default)]
struct Direction {
    queue: Vec<(Instant, Vec<u8>)>,
    drops_in_a_row: u32,
}

impl Direction {
    /// Queues `frame` sent at `now` with the fate `fate` (None: delivered on time).
    fn send(&mut self, frame: &[u8], now: Instant, fate: Option<u8>) {
        let at = now + ONE_WAY;
        match fate.map(|f| (f % 16, f / 16)) {
            Some((0, _)) if self.drops_in_a_row < MAX_DROPS_IN_A_ROW => {
                self.drops_in_a_row += 1;
                return;
            }
            Some((1, extra)) => {
                // Duplicated, the copy a little later.
                self.queue.push((at, frame.to_vec()));
                self.queue
                    .push((at + Duration::from_millis(u64::from(extra)), frame.to_vec()));
            }
            Some((2 | 3, extra)) => {
                // Delayed by up to 15 ms: overtaken by later frames.
                self.queue
                    .push((at + Duration::from_millis(u64::from(extra)), frame.to_vec()));
            }
            _ => self.queue.push((at, frame.to_vec())),
        }
        self.drops_in_a_row = 0;
    }

    fn next_at(&self) -> Option<Instant> {
        self.queue.iter().map(|(t, _)| *t).min()
    }

    /// Hands every frame due at `now` to `shard`, in delivery-time order.
    fn deliver(&mut self, shard: &mut Shard, now: Instant) {
        self.queue.sort_by_key(|(t, _)| *t);
        let due = self.queue.iter().take_while(|(t, _)| *t <= now).count();
        for (_, f) in self.queue.drain(..due) {
            shard.receive(&f, now);
        }
    }
}

/// The server shard's connection as the HTTP driver's byte stream.
struct StackStream<'a> {
    shard: &'a mut Shard,
    conn: ConnId,
}

fn to_io(e: SocketError) -> io::Error {
    match e {
        SocketError::WouldBlock => io::ErrorKind::WouldBlock.into(),
        SocketError::ConnectionReset => io::ErrorKind::ConnectionReset.into(),
        SocketError::Closing => io::ErrorKind::BrokenPipe.into(),
        e => io::Error::other(e),
    }
}

impl ByteStream for StackStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.shard.recv(self.conn, buf) {
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

struct Server {
    shard: Shard,
    http: HttpWorker,
    conn: Option<(ConnId, HttpConnection, Readiness)>,
    buf: Vec<u8>,
}

impl Server {
    fn on_events(&mut self, l: boomerang_stack::ListenerId, now: Instant) {
        while let Some(ev) = self.shard.poll_event() {
            match ev {
                SocketEvent::Acceptable(_) => {
                    while let Some(c) = self.shard.accept(l) {
                        assert!(self.conn.is_none(), "one client connection only");
                        let http = HttpConnection::new(&mut self.http, 1, now);
                        self.conn = Some((c, http, Readiness::default()));
                    }
                }
                SocketEvent::Readable(c) => self.drive(c, |r| r.readable = true, now),
                SocketEvent::Writable(c) => self.drive(c, |r| r.writable = true, now),
                SocketEvent::Closed(c) => {
                    if self.conn.as_ref().is_some_and(|(x, ..)| *x == c) {
                        panic!("the server's connection closed: {c:?}");
                    }
                    self.shard.close(c);
                }
            }
        }
    }

    fn drive(&mut self, c: ConnId, ready: impl FnOnce(&mut Readiness), now: Instant) {
        let Some((conn, http, readiness)) = self.conn.as_mut().filter(|(x, ..)| *x == c) else {
            return;
        };
        ready(readiness);
        let mut stream = StackStream {
            shard: &mut self.shard,
            conn: *conn,
        };
        let open = pump(
            http,
            &mut stream,
            readiness,
            &mut self.http,
            &mut self.buf,
            now,
        );
        assert!(open, "the HTTP connection ended on a keep-alive stream");
    }
}

fn stack_config(mac: [u8; 6], ip: Ipv4Addr, cc: CongestionAlgorithm) -> StackConfig {
    let mut c = StackConfig::new(EthernetAddress(mac), Ipv4Cidr::new(ip, 24).expect("cidr"));
    c.isn_secret = [mac[5]; 16];
    c.tcp.congestion = cc;
    c.tcp.rcv_buf = 32 * 1024;
    c.tcp.snd_buf = 32 * 1024;
    c.tcp.snd_buf_initial = 4 * 1024;
    c.limits.max_connections = 16;
    c
}

/// What the client expects back, in order.
enum Expect {
    Plaintext,
    Echo(Vec<u8>),
}

/// Splits one whole response off the front of `inbox` and checks it against `e`.
fn take_response(inbox: &mut Vec<u8>, e: &Expect) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(inbox) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return false,
        Err(err) => panic!(
            "malformed response: {err:?} in {:?}",
            String::from_utf8_lossy(inbox)
        ),
    };
    assert_eq!(resp.code, Some(200), "status");
    let len: usize = resp
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok()?.parse().ok())
        .expect("Content-Length");
    if inbox.len() < head_len + len {
        return false;
    }
    let body = &inbox[head_len..head_len + len];
    match e {
        Expect::Plaintext => assert_eq!(body, b"Hello, World!"),
        Expect::Echo(b) => assert_eq!(body, &b[..], "echo body"),
    }
    inbox.drain(..head_len + len);
    true
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let cc = match input.u8().unwrap_or(0) % 3 {
        0 => CongestionAlgorithm::Cubic,
        1 => CongestionAlgorithm::NewReno,
        _ => CongestionAlgorithm::Bbr,
    };
    let t0 = Instant::now();
    let mut now = t0;
    let mut client = Shard::new(Shared::new(stack_config(CLIENT_MAC, CLIENT_IP, cc)), 0, now);
    // Timeouts far beyond any virtual time a run takes: this target checks delivery, not
    // the HTTP timers.
    let hour = Duration::from_secs(3600);
    let cfg = ServerConfig {
        header_read_timeout: hour,
        body_read_timeout: hour,
        keep_alive_timeout: hour,
        write_timeout: hour,
        ..ServerConfig::default()
    };
    let service = HttpService::new(cfg, Router::with_builtin_routes()).expect("service");
    let service: Arc<HttpService> = service;
    let mut server = Server {
        shard: Shard::new(Shared::new(stack_config(SERVER_MAC, SERVER_IP, cc)), 0, now),
        http: HttpWorker::new(&service, pool(), Box::new(|| {}), SystemTime::now()),
        conn: None,
        buf: vec![0; 16 * 1024],
    };
    let listener = server.shard.listen(PORT, 8).expect("listen");
    server.shard.announce(now);
    let c = client
        .connect(SocketAddrV4::new(SERVER_IP, PORT), now)
        .expect("connect");
    let mut to_server = Direction::default();
    let mut to_client = Direction::default();
    let mut outbox: Vec<u8> = Vec::new();
    let mut inbox: Vec<u8> = Vec::new();
    let mut expect: std::collections::VecDeque<Expect> = Default::default();
    let mut read_buf = vec![0u8; 16 * 1024];
    let mut frame = vec![0u8; 1514];
    let mut settling = false;
    let mut settle_start = t0;
    let mut body_seed: u8 = 0;
    let mut steps = 0u32;
    loop {
        steps += 1;
        assert!(steps < 200_000, "no progress");
        // The program: one op per step while input lasts.
        let mut advance_by = None;
        if !settling {
            match input.u8() {
                None => {
                    settling = true;
                    settle_start = now;
                }
                Some(op) => match op % 4 {
                    0 => {
                        let len = usize::from(input.u8().unwrap_or(0)) * 24;
                        let body: Vec<u8> = (0..len)
                            .map(|i| body_seed.wrapping_add(i as u8).wrapping_mul(31))
                            .collect();
                        body_seed = body_seed.wrapping_add(1);
                        outbox.extend_from_slice(
                            format!(
                                "POST /echo HTTP/1.1\r\nHost: f\r\nContent-Length: {len}\r\n\r\n"
                            )
                            .as_bytes(),
                        );
                        outbox.extend_from_slice(&body);
                        expect.push_back(Expect::Echo(body));
                    }
                    1 => {
                        outbox.extend_from_slice(b"GET /plaintext HTTP/1.1\r\nHost: f\r\n\r\n");
                        expect.push_back(Expect::Plaintext);
                    }
                    2 => {
                        advance_by = Some(Duration::from_millis(u64::from(input.u8().unwrap_or(0))))
                    }
                    _ => {}
                },
            }
        }
        // Links, then timers, then the applications.
        to_client.deliver(&mut client, now);
        to_server.deliver(&mut server.shard, now);
        if client.poll_timeout().is_some_and(|t| t <= now) {
            client.on_timeout(now);
        }
        if server.shard.poll_timeout().is_some_and(|t| t <= now) {
            server.shard.on_timeout(now);
        }
        while client.poll_event().is_some() {}
        if !outbox.is_empty() {
            if let Ok(n) = client.send(c, &outbox) {
                outbox.drain(..n);
            }
        }
        while let Ok(n) = client.recv(c, &mut read_buf) {
            if n == 0 {
                panic!("the server closed a keep-alive connection");
            }
            inbox.extend_from_slice(&read_buf[..n]);
        }
        while let Some(e) = expect.front() {
            if !take_response(&mut inbox, e) {
                break;
            }
            expect.pop_front();
        }
        server.on_events(listener, now);
        // Transmit: every frame's fate from the input (none while settling).
        while let Some(n) = client.poll_transmit(now, &mut frame) {
            let fate = if settling { None } else { input.u8() };
            to_server.send(&frame[..n], now, fate);
        }
        while let Some(n) = server.shard.poll_transmit(now, &mut frame) {
            let fate = if settling { None } else { input.u8() };
            to_client.send(&frame[..n], now, fate);
        }
        // Bounded memory.
        assert!(server.shard.connection_count() <= 2);
        assert!(to_server.queue.len() + to_client.queue.len() < 10_000);
        if settling && expect.is_empty() && outbox.is_empty() {
            assert!(inbox.is_empty(), "bytes after the last response");
            break;
        }
        // The clock: to the next frame or timer (or as the program says).
        let next = [
            to_server.next_at(),
            to_client.next_at(),
            client.poll_timeout(),
            server.shard.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        now = match (advance_by, next) {
            (Some(d), _) => now + d,
            (None, Some(t)) => t.max(now + Duration::from_micros(100)),
            (None, None) => now + Duration::from_millis(1),
        };
        if settling {
            assert!(
                now - settle_start < SETTLE_LIMIT,
                "not delivered: {} responses outstanding, {} bytes unsent",
                expect.len(),
                outbox.len()
            );
        }
    }
});
