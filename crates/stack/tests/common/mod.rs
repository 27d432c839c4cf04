//! The deterministic simulated network: two shards (client 0, server 1) joined by the in-memory
//! link of `boomerang_nic::memlink`, impaired by `boomerang_nic::fault`, on a virtual clock.
//!
//! The link sits behind the small [`SimLink`] trait so another link can be swapped in; each
//! side turns through the stack's own driver (`boomerang_stack::driver`: receive within its
//! budget, due timers, transmit within its budget), as the server and the load client do.
//! Every frame delivered is folded into a SipHash trace digest with its virtual time: two
//! runs with the same seed must give the same digest.
#![allow(dead_code)]

use std::hash::Hasher;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use boomerang_nic::fault::{FaultConfig, FaultInjector};
use boomerang_nic::memlink::{LinkConfig, MemLink, MemPort};
use boomerang_nic::Device;
use boomerang_stack::driver::{self, FrameLink};
use boomerang_stack::{Shard, Shared, StackConfig};
use boomerang_wire::{EthernetAddress, Ipv4Cidr};
use siphasher::sip::SipHasher13;

/// Client MAC.
pub const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
/// Server MAC.
pub const SERVER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
/// Client address.
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// Server address.
pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// Largest frame on the simulated link.
pub const MAX_FRAME: usize = 1514;

/// What the simulation needs from a link between two frame ports.
pub trait SimLink {
    /// Hands up to `budget` frames receivable by `side` at `now` to `f`; returns how many.
    fn receive(
        &mut self,
        side: usize,
        now: Instant,
        budget: usize,
        f: &mut dyn FnMut(&[u8]),
    ) -> usize;
    /// Lets `side` write one frame; `false` when the link refuses (queue full).
    fn transmit(
        &mut self,
        side: usize,
        now: Instant,
        f: &mut dyn FnMut(&mut [u8]) -> usize,
    ) -> bool;
    /// The next instant at which a frame becomes receivable or due.
    fn next_event(&self) -> Option<Instant>;
}

/// The memlink pair with the fault injector on the client's port (both directions impaired).
pub struct FaultyMemLink {
    client: FaultInjector<MemPort>,
    server: MemPort,
}

impl FaultyMemLink {
    /// A link with one-way `delay` and `faults` applied to both directions, seeded by `seed`.
    pub fn new(delay: Duration, faults: FaultConfig, seed: u64) -> FaultyMemLink {
        let cfg = LinkConfig {
            delay,
            queue_frames: 8192,
            ..LinkConfig::default()
        };
        let (a, b) = MemLink::pair_with(CLIENT_MAC, SERVER_MAC, MAX_FRAME, cfg, cfg);
        let faults = FaultConfig {
            queue_frames: 8192,
            ..faults
        };
        let client = FaultInjector::new(a, faults.clone(), faults, seed).expect("fault config");
        FaultyMemLink { client, server: b }
    }
}

impl SimLink for FaultyMemLink {
    fn receive(
        &mut self,
        side: usize,
        now: Instant,
        budget: usize,
        f: &mut dyn FnMut(&[u8]),
    ) -> usize {
        let dev: &mut dyn Device = if side == 0 {
            &mut self.client
        } else {
            &mut self.server
        };
        dev.receive(now, budget, f)
    }

    fn transmit(
        &mut self,
        side: usize,
        now: Instant,
        f: &mut dyn FnMut(&mut [u8]) -> usize,
    ) -> bool {
        if side == 0 {
            self.client.transmit(now, f)
        } else {
            self.server.transmit(now, f)
        }
    }

    fn next_event(&self) -> Option<Instant> {
        [
            self.client.poll_at(),
            self.client.inner().next_rx_at(),
            self.server.next_rx_at(),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// The faults of the acceptance scenario: 5% loss, 20% reordering, 2% duplication, 1%
/// corruption, in each direction.
pub fn hostile() -> FaultConfig {
    FaultConfig {
        drop: 0.05,
        reorder: 0.20,
        reorder_delay: Duration::from_millis(2),
        duplicate: 0.02,
        corrupt: 0.01,
        ..FaultConfig::default()
    }
}

/// A stack configuration for one side.
pub fn config(mac: [u8; 6], ip: Ipv4Addr) -> StackConfig {
    let mut c = StackConfig::new(EthernetAddress(mac), Ipv4Cidr::new(ip, 24).expect("cidr"));
    c.isn_secret = [mac[5]; 16];
    c
}

/// One side of a [`SimLink`] as the stack's [`FrameLink`], folding delivered frames into the
/// trace digest (with the frame count and virtual time) when `trace` is given.
struct SidePort<'a, L> {
    link: &'a mut L,
    side: usize,
    trace: Option<(&'a mut SipHasher13, &'a mut u64, u64)>,
}

impl<L: SimLink> FrameLink for SidePort<'_, L> {
    fn receive_frames(&mut self, now: Instant, budget: usize, f: &mut dyn FnMut(&[u8])) -> usize {
        let side = self.side;
        let trace = &mut self.trace;
        self.link.receive(side, now, budget, &mut |frame: &[u8]| {
            if let Some((digest, delivered, t)) = trace {
                digest.write_u64(*t);
                digest.write_usize(side);
                digest.write(frame);
                **delivered += 1;
            }
            f(frame);
        })
    }

    fn transmit_frame(&mut self, now: Instant, f: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        self.link.transmit(self.side, now, f)
    }
}

/// Two shards over a link on a virtual clock.
pub struct Sim<L: SimLink> {
    /// Client (0) and server (1).
    pub shards: [Shard; 2],
    /// The link.
    pub link: L,
    /// Virtual start time.
    pub t0: Instant,
    /// Virtual now.
    pub now: Instant,
    /// Digest of every delivered frame and its time.
    pub digest: SipHasher13,
    /// Frames delivered.
    pub delivered: u64,
    /// Loop iterations (for the report).
    pub steps: u64,
}

impl<L: SimLink> Sim<L> {
    /// Client and server shards configured by `client`/`server`, over `link`.
    pub fn new(client: StackConfig, server: StackConfig, link: L) -> Sim<L> {
        let t0 = Instant::now();
        let shards = [
            Shard::new(Shared::new(client), 0, t0),
            Shard::new(Shared::new(server), 0, t0),
        ];
        Sim {
            shards,
            link,
            t0,
            now: t0,
            digest: SipHasher13::new_with_keys(1, 2),
            delivered: 0,
            steps: 0,
        }
    }

    /// Virtual time elapsed.
    pub fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    /// Delivers due frames and runs due timers at the current time.
    pub fn deliver(&mut self) {
        let now = self.now;
        let t = (now - self.t0).as_nanos() as u64;
        for side in 0..2 {
            let mut port = SidePort {
                link: &mut self.link,
                side,
                trace: Some((&mut self.digest, &mut self.delivered, t)),
            };
            while driver::receive(&mut port, &mut self.shards[side], now) > 0 {}
        }
    }

    /// Sends everything both shards have to send now (until the link refuses a frame).
    pub fn transmit(&mut self) {
        let now = self.now;
        for side in 0..2 {
            let mut port = SidePort {
                link: &mut self.link,
                side,
                trace: None,
            };
            loop {
                let (sent, more) = driver::transmit(&mut port, &mut self.shards[side], now);
                // `more` with less than the budget sent: the link refused a frame.
                if !more || sent < driver::TX_BUDGET {
                    break;
                }
            }
        }
    }

    /// Moves the clock to the next event, at most to `limit`. Returns false if nothing is
    /// scheduled at all (the network is idle).
    pub fn advance(&mut self, limit: Instant) -> bool {
        self.steps += 1;
        let next = [
            self.link.next_event(),
            self.shards[0].poll_timeout(),
            self.shards[1].poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else {
            return false;
        };
        // Never stand still: a deadline in the past moves time by the wheel's resolution.
        let next = next.max(self.now + Duration::from_micros(100)).min(limit);
        self.now = self.now.max(next);
        true
    }

    /// The trace digest so far.
    pub fn trace_digest(&self) -> u64 {
        self.digest.finish()
    }
}

/// The byte at `offset` of the test stream in direction `dir` (position-dependent so that
/// any reordering, loss or duplication of bytes is detected).
pub fn pattern(dir: u8, offset: u64) -> u8 {
    let x = offset.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(dir).wrapping_mul(0xABCD);
    (x >> 56) as u8 ^ (offset as u8)
}

/// One direction of a bulk transfer: writes the pattern through `send`, checks what `recv` reads.
#[derive(Debug, Default)]
pub struct Stream {
    /// Bytes accepted by `send`.
    pub sent: u64,
    /// Bytes read and verified.
    pub received: u64,
    /// End of stream seen.
    pub eof: bool,
    /// Shutdown issued after the last byte.
    pub shut: bool,
    /// Pattern bytes generated ahead of `send`, starting at stream offset `chunk_start`.
    chunk: Vec<u8>,
    chunk_start: u64,
}

/// Bytes of pattern generated at a time.
const CHUNK: u64 = 64 * 1024;

/// Pushes as much of `total` bytes of direction `dir` into connection `c` as it takes.
pub fn pump_send(
    shard: &mut Shard,
    c: boomerang_stack::ConnId,
    st: &mut Stream,
    dir: u8,
    total: u64,
    _scratch: &mut [u8],
) {
    while st.sent < total {
        if st.sent >= st.chunk_start + st.chunk.len() as u64 {
            let n = (total - st.sent).min(CHUNK);
            st.chunk_start = st.sent;
            st.chunk.clear();
            st.chunk.extend((0..n).map(|i| pattern(dir, st.sent + i)));
        }
        let off = (st.sent - st.chunk_start) as usize;
        match shard.send(c, &st.chunk[off..]) {
            Ok(0) | Err(boomerang_stack::SocketError::WouldBlock) => break,
            Ok(k) => st.sent += k as u64,
            Err(e) => panic!("send failed after {} bytes: {e}", st.sent),
        }
    }
    if st.sent == total && !st.shut {
        st.shut = true;
        shard.shutdown(c);
    }
}

/// Reads everything available from `c`, verifying it against the pattern of `dir`.
pub fn pump_recv(
    shard: &mut Shard,
    c: boomerang_stack::ConnId,
    st: &mut Stream,
    dir: u8,
    scratch: &mut [u8],
) {
    loop {
        match shard.recv(c, scratch) {
            Ok(0) => {
                st.eof = true;
                return;
            }
            Ok(n) => {
                for (i, &b) in scratch[..n].iter().enumerate() {
                    let at = st.received + i as u64;
                    assert_eq!(b, pattern(dir, at), "byte {at} of direction {dir} differs");
                }
                st.received += n as u64;
            }
            Err(boomerang_stack::SocketError::WouldBlock) => return,
            Err(e) => panic!("recv failed after {} bytes: {e}", st.received),
        }
    }
}
