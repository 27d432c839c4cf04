//! Arbitrary frames and events into a shard that holds a listener and established
//! connections: no panic, and every table and queue stays within its configured bound.
//!
//! The input is a little program: each op either feeds a raw frame, a well-formed TCP segment
//! with fuzzed fields to one of the established connections (so the fuzzer reaches the state
//! machine without guessing checksums), an IPv4 fragment, a clock advance, or an application
//! call. The first byte picks the congestion controller (CUBIC, NewReno or BBR), so each
//! one's input path — BBR's delivery-rate sampling and pacing included — is fuzzed.
#![no_main]

use boomerang_wire::{RxChecksum, TxChecksum};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use boomerang_stack::tcp::config::CongestionAlgorithm;
use boomerang_stack::{ConnId, Shard, Shared, StackConfig};
use boomerang_wire::{
    EthernetAddress, EthernetFrame, IpProtocol, Ipv4Cidr, Ipv4Packet, SeqNumber, TcpControl,
    TcpPacket, TcpRepr,
};
use libfuzzer_sys::fuzz_target;

const OUR_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);
const PEER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
const OUR_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const PEER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const CONNS: usize = 3;

struct Peer {
    port: u16,
    /// Our next sequence number as the peer.
    seq: SeqNumber,
    /// The shard's next sequence number as seen in its segments.
    ack: SeqNumber,
}

fn frame(proto: IpProtocol, ip_payload: &[u8], ident: u16, frag: Option<(u16, bool)>) -> Vec<u8> {
    let mut f = vec![0u8; 34 + ip_payload.len()];
    {
        let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
        eth.set_dst_addr(OUR_MAC);
        eth.set_src_addr(PEER_MAC);
        eth.set_ethertype(boomerang_wire::EtherType::Ipv4);
    }
    let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
    boomerang_wire::Ipv4Repr {
        src_addr: PEER_IP,
        dst_addr: OUR_IP,
        protocol: proto,
        payload_len: ip_payload.len(),
        ttl: 64,
        dscp: 0,
        ecn: 0,
        ident,
        dont_frag: frag.is_none(),
    }
    .emit(&mut ip, TxChecksum::Leave);
    if let Some((offset, more)) = frag {
        ip.set_frag_offset(offset & !7);
        ip.set_more_frags(more);
    }
    ip.fill_checksum();
    f[34..].copy_from_slice(ip_payload);
    f
}

fn segment(port: u16, repr: &TcpRepr<'_>) -> Vec<u8> {
    let repr = TcpRepr {
        src_port: port,
        dst_port: 80,
        ..*repr
    };
    let mut tcp = vec![0u8; repr.buffer_len()];
    repr.emit(
        &mut TcpPacket::new_unchecked(&mut tcp[..]),
        PEER_IP,
        OUR_IP,
        TxChecksum::Compute,
    );
    frame(IpProtocol::Tcp, &tcp, 1, None)
}

/// Drains the shard's output, tracking the highest sequence number it sent per peer port.
fn drain(s: &mut Shard, now: Instant, peers: &mut [Peer]) {
    let mut buf = [0u8; 1514];
    let mut n_frames = 0;
    while let Some(n) = s.poll_transmit(now, &mut buf) {
        n_frames += 1;
        assert!(n <= buf.len());
        assert!(n_frames < 100_000, "poll_transmit never ends");
        let Ok(eth) = EthernetFrame::new_checked(&buf[..n]) else {
            continue;
        };
        let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
            continue;
        };
        assert!(ip.verify_checksum(), "we sent a bad IPv4 checksum");
        assert!(usize::from(ip.total_len()) <= 1500);
        if ip.protocol() != IpProtocol::Tcp {
            continue;
        }
        let Ok(tcp) = TcpPacket::new_checked(ip.payload()) else {
            continue;
        };
        let repr = TcpRepr::parse(&tcp, OUR_IP, PEER_IP, RxChecksum::Verify).expect("we sent a valid segment");
        if let Some(p) = peers.iter_mut().find(|p| p.port == repr.dst_port) {
            let end = repr.seq_number + repr.segment_len();
            if end.gt(p.ack) {
                p.ack = end;
            }
        }
    }
}

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }
    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let congestion = match input.u8().unwrap_or(0) % 3 {
        0 => CongestionAlgorithm::Cubic,
        1 => CongestionAlgorithm::NewReno,
        _ => CongestionAlgorithm::Bbr,
    };
    let mut cfg = StackConfig::new(OUR_MAC, Ipv4Cidr::new(OUR_IP, 24).expect("cidr"));
    cfg.gateway = Some(Ipv4Addr::new(198, 18, 0, 254));
    cfg.isn_secret = [3; 16];
    cfg.limits.max_connections = 64;
    cfg.limits.reassembly_max_bytes = 64 * 1024;
    cfg.limits.max_time_wait = 8;
    cfg.tcp.rcv_buf = 16 * 1024;
    cfg.tcp.snd_buf = 16 * 1024;
    // Below snd_buf: the send buffer auto-sizing (growth with cwnd) runs too.
    cfg.tcp.snd_buf_initial = 4 * 1024;
    cfg.tcp.congestion = congestion;
    let limits = cfg.limits.clone();
    let t0 = Instant::now();
    let mut now = t0;
    let mut s = Shard::new(Shared::new(cfg), 0, now);
    let l = s.listen(80, 16).expect("listen");
    // The peer's ARP request teaches the shard its MAC.
    let mut arp = vec![0u8; 42];
    arp[..6].copy_from_slice(&[0xff; 6]);
    arp[6..12].copy_from_slice(&PEER_MAC.0);
    arp[12..14].copy_from_slice(&[8, 6]);
    arp[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    arp[22..28].copy_from_slice(&PEER_MAC.0);
    arp[28..32].copy_from_slice(&PEER_IP.octets());
    arp[38..42].copy_from_slice(&OUR_IP.octets());
    s.receive(&arp, now);
    let mut peers: Vec<Peer> = (0..CONNS)
        .map(|i| Peer {
            port: 40000 + i as u16,
            seq: SeqNumber(1000),
            ack: SeqNumber(0),
        })
        .collect();
    drain(&mut s, now, &mut peers);
    // Establish the connections: SYN, SYN-ACK, ACK.
    for p in peers.iter_mut() {
        let syn = TcpRepr {
            control: TcpControl::Syn,
            seq_number: p.seq,
            window_len: 65535,
            max_seg_size: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamp: Some((1, 0)),
            ..TcpRepr::default()
        };
        s.receive(&segment(p.port, &syn), now);
        p.seq = p.seq + 1;
    }
    drain(&mut s, now, &mut peers);
    for p in &peers {
        let ack = TcpRepr {
            seq_number: p.seq,
            ack_number: Some(p.ack),
            window_len: 512,
            timestamp: Some((2, 1)),
            ..TcpRepr::default()
        };
        s.receive(&segment(p.port, &ack), now);
    }
    let mut conns: Vec<ConnId> = Vec::new();
    while let Some(c) = s.accept(l) {
        conns.push(c);
    }
    let remote = SocketAddrV4::new(PEER_IP, 8080);
    if let Ok(c) = s.connect(remote, now) {
        conns.push(c);
    }
    drain(&mut s, now, &mut peers);

    let mut scratch = [0u8; 4096];
    while let Some(op) = input.u8() {
        match op % 6 {
            0 => {
                let len = usize::from(input.u16().unwrap_or(0)) % 1600;
                let f = input.bytes(len).to_vec();
                s.receive(&f, now);
            }
            1 => {
                let Some(k) = input.u8() else { break };
                let p = &mut peers[usize::from(k) % CONNS];
                let flags = input.u8().unwrap_or(0);
                let seq_off = i32::from(input.u16().unwrap_or(0) as i16);
                let ack_off = i32::from(input.u16().unwrap_or(0) as i16);
                let window = input.u16().unwrap_or(0);
                let len = usize::from(input.u8().unwrap_or(0)) * 8;
                let payload = input.bytes(len).to_vec();
                let control = match flags % 5 {
                    0 => TcpControl::None,
                    1 => TcpControl::Psh,
                    2 => TcpControl::Syn,
                    3 => TcpControl::Fin,
                    _ => TcpControl::Rst,
                };
                let repr = TcpRepr {
                    control,
                    seq_number: SeqNumber(p.seq.0.wrapping_add(seq_off as u32)),
                    ack_number: (flags & 0x10 == 0)
                        .then(|| SeqNumber(p.ack.0.wrapping_add(ack_off as u32))),
                    window_len: window,
                    timestamp: (flags & 0x20 != 0).then_some((3, 2)),
                    sack_ranges: if flags & 0x40 != 0 {
                        [Some((p.ack.0, p.ack.0.wrapping_add(100))), None, None, None]
                    } else {
                        [None; 4]
                    },
                    payload: &payload,
                    ..TcpRepr::default()
                };
                if seq_off == 0 {
                    p.seq = p.seq + repr.segment_len();
                }
                s.receive(&segment(p.port, &repr), now);
            }
            2 => {
                let ms = u64::from(input.u16().unwrap_or(0));
                now += Duration::from_millis(ms * 16);
                s.on_timeout(now);
            }
            3 => {
                let Some(k) = input.u8() else { break };
                if conns.is_empty() {
                    continue;
                }
                let c = conns[usize::from(k) % conns.len()];
                match input.u8().unwrap_or(0) % 6 {
                    0 => {
                        let _ = s.send(c, &scratch[..1000]);
                    }
                    1 => {
                        let _ = s.recv(c, &mut scratch);
                    }
                    2 => s.shutdown(c),
                    3 => s.close(c),
                    4 => s.abort(c),
                    _ => {
                        let _ = s.tcp_state(c);
                    }
                }
            }
            4 => {
                let ident = input.u16().unwrap_or(0);
                let offset = input.u16().unwrap_or(0);
                let more = input.u8().unwrap_or(0) & 1 == 1;
                let len = usize::from(input.u8().unwrap_or(0));
                let body = input.bytes(len).to_vec();
                let proto = if ident & 1 == 0 {
                    IpProtocol::Icmp
                } else {
                    IpProtocol::Udp
                };
                s.receive(&frame(proto, &body, ident, Some((offset, more))), now);
            }
            _ => {
                while s.poll_event().is_some() {}
                while let Some(c) = s.accept(l) {
                    conns.push(c);
                }
            }
        }
        drain(&mut s, now, &mut peers);
        assert!(s.connection_count() - s.time_wait_count() <= limits.max_connections);
        assert!(s.time_wait_count() <= limits.max_time_wait);
        let by_state: usize = s.connections_by_state().iter().sum();
        assert_eq!(by_state, s.connection_count(), "the per-state gauges add up");
        assert!(s.reassembly_bytes() <= limits.reassembly_max_bytes);
        assert!(s.queued_frames() <= limits.tx_queue_max + limits.arp_pending_total);
        assert!(s.timer_entries() <= 4 * s.connection_count() + 64);
    }
    // Everything ends: after long enough, only connections the application still holds remain.
    now += Duration::from_secs(3600);
    s.on_timeout(now);
    drain(&mut s, now, &mut peers);
});
