//! 100,000 established connections in one shard: demultiplexing keeps working, each holds a
//! bounded number of timer entries, an idle poll touches none of them, and an idle connection
//! stays small. (Costs in time are measured by `bench/benches/stack_shard.rs`, not asserted.)

use boomerang_wire::TxChecksum;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use boomerang_stack::{ConnId, Shard, Shared, StackConfig};
use boomerang_wire::{
    EtherType, EthernetAddress, EthernetFrame, IpProtocol, Ipv4Cidr, Ipv4Packet, Ipv4Repr,
    SeqNumber, TcpControl, TcpPacket, TcpRepr,
};

const OUR_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);
const PEER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
const OUR_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const CONNECTIONS: usize = 100_000;
const PER_PEER: usize = 50_000;
/// An idle established connection (record + Tcb, buffers released) must stay below this.
const IDLE_CONNECTION_MAX_BYTES: usize = 4096;

fn frame(peer: Ipv4Addr, port: u16, repr: &TcpRepr<'_>) -> Vec<u8> {
    let repr = TcpRepr {
        src_port: port,
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

fn arp_request(peer: Ipv4Addr) -> Vec<u8> {
    let mut arp = vec![0u8; 42];
    arp[..6].copy_from_slice(&[0xff; 6]);
    arp[6..12].copy_from_slice(&PEER_MAC.0);
    arp[12..14].copy_from_slice(&[8, 6]);
    arp[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    arp[22..28].copy_from_slice(&PEER_MAC.0);
    arp[28..32].copy_from_slice(&peer.octets());
    arp[38..42].copy_from_slice(&OUR_IP.octets());
    arp
}

/// Drains output; returns the sequence number of the last TCP segment.
fn drain(s: &mut Shard, now: Instant) -> Option<SeqNumber> {
    let mut buf = [0u8; 1514];
    let mut last = None;
    while let Some(n) = s.poll_transmit(now, &mut buf) {
        let eth = EthernetFrame::new_unchecked(&buf[..n]);
        if eth.ethertype() == EtherType::Ipv4 {
            let ip = Ipv4Packet::new_unchecked(eth.payload());
            last = Some(TcpPacket::new_unchecked(ip.payload()).seq_number());
        }
    }
    last
}

#[test]
fn hundred_thousand_connections() {
    let now = Instant::now();
    let mut cfg = StackConfig::new(OUR_MAC, Ipv4Cidr::new(OUR_IP, 16).expect("cidr"));
    cfg.isn_secret = [5; 16];
    let mut s = Shard::new(Shared::new(cfg), 0, now);
    let l = s.listen(80, CONNECTIONS).expect("listen");
    let peer_of = |i: usize| Ipv4Addr::new(198, 18, 1, (i / PER_PEER) as u8 + 1);
    let port_of = |i: usize| 1024 + (i % PER_PEER) as u16;
    let mut conns: Vec<(ConnId, SeqNumber)> = Vec::with_capacity(CONNECTIONS);
    for i in 0..CONNECTIONS {
        let (peer, port) = (peer_of(i), port_of(i));
        if i % PER_PEER == 0 {
            s.receive(&arp_request(peer), now);
            drain(&mut s, now);
        }
        let syn = TcpRepr {
            control: TcpControl::Syn,
            seq_number: SeqNumber(1000),
            window_len: 65535,
            max_seg_size: Some(1460),
            ..TcpRepr::default()
        };
        s.receive(&frame(peer, port, &syn), now);
        let iss = drain(&mut s, now).expect("SYN-ACK");
        let ack = TcpRepr {
            seq_number: SeqNumber(1001),
            ack_number: Some(iss + 1),
            window_len: 65535,
            ..TcpRepr::default()
        };
        s.receive(&frame(peer, port, &ack), now);
        let c = s.accept(l).expect("accept");
        conns.push((c, iss + 1));
    }
    assert_eq!(s.connection_count(), CONNECTIONS);
    let idle = s.connection_bytes(conns[0].0).expect("live");
    eprintln!("idle established connection: {idle} bytes");
    assert!(idle <= IDLE_CONNECTION_MAX_BYTES, "{idle} bytes");

    // One byte in flight on each: every connection has a retransmission timer.
    for &(c, _) in &conns {
        assert_eq!(s.send(c, b"x"), Ok(1));
    }
    drain(&mut s, now);
    let entries = s.timer_entries();
    assert!(entries <= 2 * CONNECTIONS, "{entries} timer entries");
    let next = s.poll_timeout().expect("timers armed");
    // Idle polls before the first deadline fire nothing and leave the wheel as it was.
    let before_deadline = now + Duration::from_millis(50);
    assert!(next > before_deadline);
    for k in 0..1000u64 {
        s.on_timeout(before_deadline + Duration::from_nanos(k));
    }
    assert_eq!(s.timer_entries(), entries);

    // Demux: data for the last connection lands there (one hash lookup among 100k).
    let (last, iss1) = conns[CONNECTIONS - 1];
    let i = CONNECTIONS - 1;
    let data = TcpRepr {
        control: TcpControl::Psh,
        seq_number: SeqNumber(1001),
        ack_number: Some(iss1 + 1),
        window_len: 65535,
        payload: b"last",
        ..TcpRepr::default()
    };
    s.receive(&frame(peer_of(i), port_of(i), &data), now);
    let mut buf = [0u8; 8];
    assert_eq!(s.recv(last, &mut buf), Ok(4));
    assert_eq!(&buf[..4], b"last");
}
