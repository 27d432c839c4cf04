//! The server's loop turn over the in-memory link on a virtual clock, against a client shard
//! of our own stack that delays its ACKs like Linux (40 ms): exact frames per turn.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use boomerang_http::{BlockingPool, HttpService, HttpWorker, Router, ServerConfig};
use boomerang_nic::memlink::{LinkConfig, MemLink, MemPort};
use boomerang_nic::Device;
use boomerang_stack::{ConnId, Shard, Shared, StackConfig};
use boomerang_wire::{EthernetAddress, EthernetFrame, Ipv4Cidr, Ipv4Packet, TcpPacket};

use super::{Loop, TurnWork};

const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const SERVER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const PORT: u16 = 8080;
const ONE_WAY: Duration = Duration::from_millis(1);
const FILE_LEN: usize = 64 * 1024;

/// A site directory with one 64 KiB file, removed on drop.
struct Site(PathBuf);

impl Site {
    fn new() -> Site {
        let dir = std::env::temp_dir().join(format!("bmr-shard-loop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("site dir");
        let body: Vec<u8> = (0..FILE_LEN).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.join("64k.bin"), body).expect("file");
        Site(dir)
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn stack_config(mac: [u8; 6], ip: Ipv4Addr) -> StackConfig {
    let mut c = StackConfig::new(EthernetAddress(mac), Ipv4Cidr::new(ip, 24).expect("cidr"));
    c.isn_secret = [mac[5]; 16];
    c
}

/// TCP payload bytes of a frame (0 for ARP and bare ACKs).
fn tcp_payload_len(frame: &[u8]) -> usize {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return 0;
    };
    let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
        return 0;
    };
    TcpPacket::new_checked(ip.payload()).map_or(0, |t| t.payload().len())
}

/// Records what the server transmits, per turn.
struct Recording<'a> {
    port: &'a mut MemPort,
    payload: usize,
    frames: usize,
}

impl Device for Recording<'_> {
    fn receive(&mut self, now: Instant, budget: usize, f: &mut dyn FnMut(&[u8])) -> usize {
        self.port.receive(now, budget, f)
    }

    fn transmit(&mut self, now: Instant, f: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        let (payload, frames) = (&mut self.payload, &mut self.frames);
        self.port.transmit(now, &mut |buf: &mut [u8]| {
            let n = f(buf);
            if n > 0 {
                *frames += 1;
                *payload += tcp_payload_len(buf.get(..n).unwrap_or_default());
            }
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

/// Client shard + server loop over a 1 ms link on a virtual clock.
struct Bench {
    client: Shard,
    client_port: MemPort,
    server: Loop,
    server_port: MemPort,
    now: Instant,
    /// Server turns run, with what each sent: (virtual time, turn work, payload bytes).
    turns: Vec<(Instant, TurnWork, usize)>,
    _pool: BlockingPool,
}

impl Bench {
    fn new(site: &Site, server_tcp: impl FnOnce(&mut StackConfig)) -> Bench {
        let link = LinkConfig {
            delay: ONE_WAY,
            queue_frames: 8192,
            ..LinkConfig::default()
        };
        let (client_port, server_port) =
            MemLink::pair_with(CLIENT_MAC, SERVER_MAC, 1514, link, link);
        let now = Instant::now();
        let mut cc = stack_config(CLIENT_MAC, CLIENT_IP);
        // A receive window that holds the whole response: only the server can hold it back.
        cc.tcp.rcv_buf_initial = cc.tcp.rcv_buf;
        let client = Shard::new(Shared::new(cc), 0, now);
        let mut sc = stack_config(SERVER_MAC, SERVER_IP);
        server_tcp(&mut sc);
        let cfg = ServerConfig {
            root: Some(site.0.clone()),
            ..Default::default()
        };
        let service = HttpService::new(cfg, Router::with_builtin_routes()).expect("service");
        let pool = BlockingPool::new(1, 8).expect("pool");
        let http = HttpWorker::new(&service, &pool, Box::new(|| {}), SystemTime::now());
        let server = Loop::new(
            Shard::new(Shared::new(sc), 0, now),
            http,
            &service,
            PORT,
            now,
        )
        .expect("listen");
        Bench {
            client,
            client_port,
            server,
            server_port,
            now,
            turns: Vec::new(),
            _pool: pool,
        }
    }

    /// One step at the current virtual time: the client's I/O, then one server turn.
    fn step(&mut self) {
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
            frames: 0,
        };
        let work = self.server.turn(&mut dev, now);
        let payload = dev.payload;
        self.turns.push((now, work, payload));
    }

    /// Moves the virtual clock to the next frame arrival or timer (the blocking pool runs on
    /// a real thread: while it works, time stands still and the loop waits for it).
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
        .expect("something is scheduled");
        self.now = next.max(self.now + Duration::from_micros(10));
    }

    /// Runs until `done` holds, or panics after `limit` of virtual time.
    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Bench) -> bool) {
        let end = self.now + limit;
        loop {
            self.step();
            if done(self) {
                return;
            }
            let last = self.turns.last().map(|t| t.1).unwrap_or_default();
            if !last.any() && self.client_port.rx_pending() + self.server_port.rx_pending() == 0 {
                // Nothing in flight: give a blocking-pool job (real thread) time to finish
                // before virtual time moves on.
                std::thread::sleep(Duration::from_micros(200));
            }
            self.advance();
            assert!(self.now <= end, "not done within {limit:?} of virtual time");
        }
    }

    fn connect(&mut self) -> ConnId {
        let c = self
            .client
            .connect(SocketAddrV4::new(SERVER_IP, PORT), self.now)
            .expect("connect");
        self.run_until(Duration::from_millis(100), |b| {
            b.client.tcp_state(c) == Some(boomerang_stack::TcpState::Established)
        });
        c
    }

    /// Sends `request` on `c` and reads until `body_len` body bytes followed the head.
    /// Returns the virtual time the request took and the response's length.
    fn request(&mut self, c: ConnId, request: &[u8], body_len: usize) -> (Duration, usize) {
        let start = self.now;
        assert_eq!(self.client.send(c, request), Ok(request.len()));
        let mut got = Vec::new();
        let mut buf = vec![0; 64 * 1024];
        self.run_until(Duration::from_secs(2), |b| {
            while let Ok(n) = b.client.recv(c, &mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            let head_end = got.windows(4).position(|w| w == b"\r\n\r\n");
            head_end.is_some_and(|h| got.len() >= h + 4 + body_len)
        });
        let head_end = got.windows(4).position(|w| w == b"\r\n\r\n").expect("head");
        assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"), "{got:?}");
        let body = &got[head_end + 4..];
        assert_eq!(body.len(), body_len);
        assert!(body.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
        (self.now - start, got.len())
    }
}

const GET_64K: &[u8] = b"GET /64k.bin HTTP/1.1\r\nHost: t\r\n\r\n";

/// A 64 KiB response from the file cache leaves in the loop turn that received its request,
/// head and body together, although the client delays its ACKs by 40 ms: with a head
/// written alone the body would wait for that ACK.
#[test]
fn cached_file_leaves_with_its_head_in_one_turn() {
    let site = Site::new();
    // A window large enough for the whole response, so only the write path can hold it back.
    let mut b = Bench::new(&site, |c| c.tcp.initial_cwnd_segments = 64);
    // The first request loads the file into the cache (on the blocking pool).
    let warm = b.connect();
    b.request(warm, GET_64K, FILE_LEN);
    // A new connection, so that its window is the initial one whatever the first did.
    let c = b.connect();
    let before = b.turns.len();
    let (took, response_len) = b.request(c, GET_64K, FILE_LEN);
    let turns = &b.turns[before..];
    for (t, w, p) in turns {
        if w.any() {
            eprintln!("{:?} {w:?} {p}", *t - turns[0].0);
        }
    }
    let (at, _, payload) = turns
        .iter()
        .find(|(_, w, _)| w.received > 0 && w.sent > 0)
        .copied()
        .expect("a turn that received the request and answered");
    assert_eq!(
        payload,
        response_len,
        "the turn at {:?} did not send the whole response (head alone: 238 bytes)",
        at - turns[0].0
    );
    let later: usize = turns.iter().filter(|(t, _, _)| *t > at).map(|x| x.2).sum();
    assert_eq!(later, 0, "response bytes left after the answering turn");
    // Two one-way delays plus the server's turn, far from the client's 40 ms delayed ACK.
    assert!(took < Duration::from_millis(5), "took {took:?}");
}
