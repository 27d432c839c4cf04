//! Whole-shard costs, frame in to frame out: one in-order data segment (parse, checksum,
//! demux, TCP, the ACK frame it causes), one pure ACK, and the timer/poll cost with 10 vs
//! 100,000 established connections (it must not grow with their number). Prints the memory of
//! an idle established connection. Figures: docs/benchmarks.md `## stack shard`.
#![allow(missing_docs)] // criterion_group! generates an undocumented `pub fn benches`.

use boomerang_wire::TxChecksum;
use std::cell::Cell;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use boomerang_stack::{ConnId, Shard, Shared, StackConfig};
use boomerang_wire::{
    EtherType, EthernetAddress, EthernetFrame, IpProtocol, Ipv4Cidr, Ipv4Packet, Ipv4Repr,
    SeqNumber, TcpControl, TcpPacket, TcpRepr,
};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

const OUR_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);
const PEER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
const OUR_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const MSS: usize = 1460;

fn frame_from(peer: Ipv4Addr, src_port: u16, repr: &TcpRepr<'_>) -> Vec<u8> {
    let repr = TcpRepr {
        src_port,
        dst_port: 80,
        ..*repr
    };
    let tcp_len = repr.buffer_len();
    let mut f = vec![0u8; 34 + tcp_len];
    let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
    eth.set_dst_addr(OUR_MAC);
    eth.set_src_addr(PEER_MAC);
    eth.set_ethertype(EtherType::Ipv4);
    Ipv4Repr {
        src_addr: peer,
        dst_addr: OUR_IP,
        protocol: IpProtocol::Tcp,
        payload_len: tcp_len,
        ttl: 64,
        dscp: 0,
        ecn: 0,
        ident: 0,
        dont_frag: true,
    }
    .emit(
        &mut Ipv4Packet::new_unchecked(&mut f[14..]),
        TxChecksum::Compute,
    );
    repr.emit(
        &mut TcpPacket::new_unchecked(&mut f[34..]),
        peer,
        OUR_IP,
        TxChecksum::Compute,
    );
    f
}

/// Teaches the shard `peer`'s MAC (an ARP request for our address).
fn learn(s: &mut Shard, peer: Ipv4Addr, now: Instant) {
    let mut arp = vec![0u8; 42];
    arp[..6].copy_from_slice(&[0xff; 6]);
    arp[6..12].copy_from_slice(&PEER_MAC.0);
    arp[12..14].copy_from_slice(&[8, 6]);
    arp[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    arp[22..28].copy_from_slice(&PEER_MAC.0);
    arp[28..32].copy_from_slice(&peer.octets());
    arp[38..42].copy_from_slice(&OUR_IP.octets());
    s.receive(&arp, now);
    drain(s, now);
}

fn drain(s: &mut Shard, now: Instant) -> Option<SeqNumber> {
    let mut buf = [0u8; 1514];
    let mut last_seq = None;
    while let Some(n) = s.poll_transmit(now, &mut buf) {
        let eth = EthernetFrame::new_unchecked(&buf[..n]);
        if eth.ethertype() == EtherType::Ipv4 {
            let ip = Ipv4Packet::new_unchecked(eth.payload());
            let tcp = TcpPacket::new_unchecked(ip.payload());
            last_seq = Some(tcp.seq_number());
        }
    }
    last_seq
}

/// A shard with a listener and `n` established connections from ports 1024.. (no options, so
/// segments stay plain). Returns the shard, the first connection and its ISS + 1.
fn established(n: usize, now: Instant) -> (Shard, Vec<ConnId>, SeqNumber) {
    let mut cfg = StackConfig::new(OUR_MAC, Ipv4Cidr::new(OUR_IP, 16).expect("cidr"));
    cfg.isn_secret = [9; 16];
    cfg.limits.max_connections = n + 16;
    let mut s = Shard::new(Shared::new(cfg), 0, now);
    let l = s.listen(80, n + 16).expect("listen");
    let mut first = None;
    let mut all = Vec::with_capacity(n);
    for i in 0..n {
        // 50,000 connections per peer address (ports 1024..51024).
        let peer = Ipv4Addr::new(198, 18, 1, (i / 50_000) as u8 + 1);
        let port = 1024 + (i % 50_000) as u16;
        if i % 50_000 == 0 {
            learn(&mut s, peer, now);
        }
        let syn = TcpRepr {
            control: TcpControl::Syn,
            seq_number: SeqNumber(1000),
            window_len: 65535,
            max_seg_size: Some(MSS as u16),
            ..TcpRepr::default()
        };
        s.receive(&frame_from(peer, port, &syn), now);
        let iss = drain(&mut s, now).expect("SYN-ACK");
        let ack = TcpRepr {
            seq_number: SeqNumber(1001),
            ack_number: Some(iss + 1),
            window_len: 65535,
            ..TcpRepr::default()
        };
        s.receive(&frame_from(peer, port, &ack), now);
        let c = s.accept(l).expect("accept");
        all.push(c);
        if first.is_none() {
            first = Some((c, iss + 1));
        }
    }
    let (_, iss1) = first.expect("n > 0");
    (s, all, iss1)
}

fn data_segment(c: &mut Criterion) {
    let mut g = c.benchmark_group("stack_shard");
    g.throughput(Throughput::Bytes(MSS as u64));
    let now = Instant::now();
    let (mut s, conns, iss1) = established(1, now);
    let conn = conns[0];
    let peer_port = 1024;
    let seq = Cell::new(SeqNumber(1001));
    let payload = vec![0x5au8; MSS];
    let mut buf = vec![0u8; 64 * 1024];
    g.bench_function("rx_data_segment_and_ack", |b| {
        b.iter_batched_ref(
            || {
                let repr = TcpRepr {
                    seq_number: seq.get(),
                    ack_number: Some(iss1),
                    window_len: 65535,
                    payload: &payload,
                    ..TcpRepr::default()
                };
                seq.set(seq.get() + MSS);
                frame_from(Ipv4Addr::new(198, 18, 1, 1), peer_port, &repr)
            },
            |f| {
                s.receive(f, now);
                let n = s.recv(conn, &mut buf).expect("data");
                black_box(n);
                drain(&mut s, now);
            },
            BatchSize::SmallInput,
        )
    });
    let ack = frame_from(
        Ipv4Addr::new(198, 18, 1, 1),
        peer_port,
        &TcpRepr {
            seq_number: seq.get(),
            ack_number: Some(iss1),
            window_len: 65535,
            ..TcpRepr::default()
        },
    );
    g.throughput(Throughput::Elements(1));
    g.bench_function("rx_pure_ack", |b| {
        b.iter(|| {
            s.receive(black_box(&ack), now);
            drain(&mut s, now)
        })
    });
    eprintln!(
        "idle established connection: {} bytes (shard record incl. Tcb + buffers)",
        s.connection_bytes(conn).unwrap_or(0)
    );
    g.finish();
}

fn timers_at_scale(c: &mut Criterion) {
    let mut g = c.benchmark_group("stack_shard_timers");
    for n in [10usize, 100_000] {
        let now = Instant::now();
        let (mut s, conns, _) = established(n, now);
        // One unacknowledged byte on every connection: each has a retransmission timer armed.
        for &c in &conns {
            s.send(c, b"x").expect("send");
        }
        drain(&mut s, now);
        eprintln!("{n} connections: {} timer entries", s.timer_entries());
        // Time moves, but stays before every deadline: the cost measured is the idle poll.
        let mut t = now;
        g.bench_function(format!("poll_timeout_and_on_timeout_{n}_conns"), |b| {
            b.iter(|| {
                t += Duration::from_nanos(1);
                let next = s.poll_timeout();
                s.on_timeout(t);
                black_box(next)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, data_segment, timers_at_scale);
criterion_main!(benches);
