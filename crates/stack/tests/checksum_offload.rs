//! TCP checksum offload: a server shard told that the device completes TCP checksums
//! (`Checksum::Offload`) stores only the pseudo-header sum; a link that completes them as a
//! NIC (or the kernel, for AF_XDP TX metadata) would carries a transfer byte-exact to a
//! client that verifies every checksum. Without the completion the client drops the
//! server's segments as corrupt, so the test sees the offload path, not a full checksum.

mod common;

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use boomerang_nic::fault::FaultConfig;
use boomerang_stack::{Checksum, ConnId};
use common::*;

const PORT: u16 = 80;
const TOTAL: u64 = 1 << 20;

/// The simulated link; frames the server (side 1) sends get their TCP checksum completed
/// from the TCP header to the end, as `csum_start`/`csum_offset` ask, when `complete`.
struct CompletingLink {
    inner: FaultyMemLink,
    complete: bool,
}

fn complete_tcp_checksum(frame: &mut [u8]) {
    if frame.len() < 34 || frame[12..14] != [0x08, 0x00] || frame[23] != 6 {
        return;
    }
    let start = 14 + usize::from(frame[14] & 0x0f) * 4;
    let c = boomerang_wire::checksum::checksum(&frame[start..]);
    frame[start + 16..start + 18].copy_from_slice(&c.to_be_bytes());
}

impl SimLink for CompletingLink {
    fn receive(
        &mut self,
        side: usize,
        now: Instant,
        budget: usize,
        f: &mut dyn FnMut(&[u8]),
    ) -> usize {
        self.inner.receive(side, now, budget, f)
    }

    fn transmit(
        &mut self,
        side: usize,
        now: Instant,
        f: &mut dyn FnMut(&mut [u8]) -> usize,
    ) -> bool {
        let complete = self.complete && side == 1;
        self.inner.transmit(side, now, &mut |buf: &mut [u8]| {
            let n = f(buf);
            if complete && n > 0 {
                complete_tcp_checksum(&mut buf[..n]);
            }
            n
        })
    }

    fn next_event(&self) -> Option<Instant> {
        self.inner.next_event()
    }
}

/// Sends TOTAL bytes from the server to the client; returns (bytes received by the client,
/// segments the client dropped for a bad checksum).
fn download(complete: bool) -> (u64, u64) {
    let link = CompletingLink {
        inner: FaultyMemLink::new(Duration::from_millis(1), FaultConfig::default(), 1),
        complete,
    };
    let mut server = config(SERVER_MAC, SERVER_IP);
    server.checksum.tcp_tx = Checksum::Offload;
    let mut sim = Sim::new(config(CLIENT_MAC, CLIENT_IP), server, link);
    let l = sim.shards[1].listen(PORT, 16).expect("listen");
    let c = sim.shards[0]
        .connect(SocketAddrV4::new(SERVER_IP, PORT), sim.now)
        .expect("connect");
    let mut s: Option<ConnId> = None;
    let (mut down, mut up) = (Stream::default(), Stream::default());
    let mut scratch = vec![0u8; 64 * 1024];
    let end = sim.t0 + Duration::from_secs(60);
    while sim.now < end && !down.eof {
        sim.deliver();
        if s.is_none() {
            s = sim.shards[1].accept(l);
        }
        if let Some(s) = s {
            pump_send(&mut sim.shards[1], s, &mut down, 1, TOTAL, &mut scratch);
            pump_recv(&mut sim.shards[1], s, &mut up, 0, &mut scratch);
        }
        pump_recv(&mut sim.shards[0], c, &mut down, 1, &mut scratch);
        sim.transmit();
        if !sim.advance(end) {
            break;
        }
    }
    (down.received, sim.shards[0].stats().tcp_drop_checksum)
}

#[test]
fn offloaded_checksums_completed_by_the_device_are_valid() {
    let (received, bad) = download(true);
    assert_eq!(received, TOTAL);
    assert_eq!(bad, 0);
}

#[test]
fn offloaded_checksums_left_incomplete_are_dropped_by_the_peer() {
    let (received, bad) = download(false);
    assert_eq!(received, 0);
    assert!(bad > 0, "the client accepted pseudo-header-only checksums");
}
