//! Exact-frame tests of the shard's link and network layers: literal frames in, literal frames
//! out (checksums computed independently when the fixtures were written), one behaviour each.

use boomerang_wire::{RxChecksum, TxChecksum};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use boomerang_wire::{
    EthernetAddress, EthernetFrame, Ipv4Cidr, Ipv4Packet, TcpControl, TcpPacket, TcpRepr,
};

use super::Shard;
use crate::config::StackConfig;
use crate::shared::Shared;
use crate::socket::{SocketError, SocketEvent};
use crate::tcp::TcpState;

const OUR_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);
const PEER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
const OUR_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const PEER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

// ARP packets (RFC 826) between us (02:..:02, 198.18.0.2) and the peer (02:..:01, 198.18.0.1).
const ARP_REQ_FROM_PEER: &str = "ffffffffffff0200000000010806000108000604000102000000000\
1c6120001000000000000c6120002";
const ARP_REPLY_TO_PEER: &str = "02000000000102000000000208060001080006040002020000000002\
c6120002020000000001c6120001";
const ARP_ANNOUNCE: &str = "ffffffffffff02000000000208060001080006040001020000000002\
c6120002000000000000c6120002";
const ARP_REQ_FOR_PEER: &str = "ffffffffffff02000000000208060001080006040001020000000002\
c6120002000000000000c6120001";
const ARP_REPLY_FROM_PEER: &str = "02000000000202000000000108060001080006040002020000000001\
c6120001020000000002c6120002";
const ARP_REQ_FOR_OTHER: &str = "ffffffffffff02000000000108060001080006040001020000000001\
c6120001000000000000c6120063";

const ECHO_REQ: &str = "02000000000202000000000108004500002c1234400040019c75c6120001c61200020800\
f7d900420007626f6f6d6572616e672d70696e672121";
const ECHO_REP: &str = "02000000000102000000000208004500002c000140004001aea8c6120002c61200010000\
ffd900420007626f6f6d6572616e672d70696e672121";
const UDP_REQ: &str = "0200000000020200000000010800450000212222400040118c82c6120001c61200029c40\
0009000d939068656c6c6f";
const PORT_UNREACHABLE: &str = "02000000000102000000000208004500003d000140004001ae97c6120002\
c612000103038943000000004500002122224000\
40118c82c6120001c61200029c400009000d939068656c6c6f";
const SYN_TO_CLOSED: &str = "02000000000202000000000108004500002c3333400040067b71c6120001c6120002\
9c41005100000\
3e8000000006002faf070930000020405b4";
const RST_FOR_SYN: &str = "020000000001020000000002080045000028000140004006aea7c6120002c6120001\
00519c4100000000000003e950140000832d0000";
const GRE: &str = "02000000000202000000000108004500002266664000402f481fc6120001c6120002\
000008006772657061796c6f6164";
const PROTO_UNREACHABLE: &str = "02000000000102000000000208004500003e000140004001ae96c6120002\
c61200010302f8cd000000004500002266664000402f481fc6120001c6120002000008006772657061796c6f6164";
pub(super) const FRAG1: &str =
    "02000000000202000000000108004500002c4444200040018a65c6120001c612000208007a2a\
00430001000102030405060708090a0b0c0d0e0f";
pub(super) const FRAG2: &str =
    "02000000000202000000000108004500002c444400034001aa62c6120001c6120002101112\
131415161718191a1b1c1d1e1f2021222324252627";
pub(super) const FRAG_REPLY: &str =
    "020000000001020000000002080045000044000140004001ae90c6120002c61200010000\
822a00430001000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f2021222324252627";
const OVERLAP1: &str =
    "02000000000202000000000108004500002c4445200040018a64c6120001c612000208007a2a\
00430001000102030405060708090a0b0c0d0e0f";
const OVERLAP2: &str = "020000000002020000000001080045000034444500024001aa5ac6120001c612000208090a\
0b0c0d0e0f101112131415161718191a1b1c1d1e1f2021222324252627";

pub(super) fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex fixture"))
        .collect()
}

fn config() -> StackConfig {
    let mut c = StackConfig::new(OUR_MAC, Ipv4Cidr::new(OUR_IP, 24).expect("cidr"));
    c.isn_secret = [7; 16];
    c.gateway = Some(Ipv4Addr::new(198, 18, 0, 254));
    c
}

fn shard_with(c: StackConfig) -> (Shard, Instant) {
    let now = Instant::now();
    (Shard::new(Shared::new(c), 0, now), now)
}

pub(super) fn shard() -> (Shard, Instant) {
    shard_with(config())
}

pub(super) fn drain(s: &mut Shard, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    while let Some(n) = s.poll_transmit(now, &mut buf) {
        out.push(buf[..n].to_vec());
        assert!(out.len() < 10_000, "transmit never ends");
    }
    out
}

/// Teaches the shard the peer's MAC the way the peer would: by asking for ours.
pub(super) fn learn_peer(s: &mut Shard, now: Instant) {
    s.receive(&hex(ARP_REQ_FROM_PEER), now);
    assert_eq!(drain(s, now), vec![hex(ARP_REPLY_TO_PEER)]);
}

#[test]
fn arp_request_for_us_is_answered_and_learned() {
    let (mut s, now) = shard();
    s.receive(&hex(ARP_REQ_FROM_PEER), now);
    assert_eq!(drain(&mut s, now), vec![hex(ARP_REPLY_TO_PEER)]);
    assert_eq!(s.stats().arp_replies_sent, 1);
    let e = s
        .shared()
        .arp_lookup(PEER_IP)
        .expect("learned from the request");
    assert_eq!(e.mac, PEER_MAC);
}

#[test]
fn arp_request_for_someone_else_is_ignored() {
    let (mut s, now) = shard();
    s.receive(&hex(ARP_REQ_FOR_OTHER), now);
    assert!(drain(&mut s, now).is_empty());
    // RFC 826: an unknown sender is only added when we are the target.
    assert!(s.shared().arp_lookup(PEER_IP).is_none());
}

#[test]
fn announce_is_gratuitous_arp() {
    let (mut s, now) = shard();
    s.announce(now);
    assert_eq!(drain(&mut s, now), vec![hex(ARP_ANNOUNCE)]);
}

#[test]
fn ethernet_filtering_counts_drops() {
    let (mut s, now) = shard();
    let mut other = hex(ECHO_REQ);
    other[5] = 0x99; // another unicast MAC
    s.receive(&other, now);
    let mut multicast = hex(ECHO_REQ);
    multicast[0] = 0x01;
    s.receive(&multicast, now);
    let mut ipv6 = hex(ECHO_REQ);
    ipv6[12..14].copy_from_slice(&[0x86, 0xdd]);
    s.receive(&ipv6, now);
    s.receive(&[0u8; 10], now);
    assert!(drain(&mut s, now).is_empty());
    assert_eq!(s.stats().eth_drop_not_ours, 2);
    assert_eq!(s.stats().eth_drop_ethertype, 1);
    assert_eq!(s.stats().eth_drop_truncated, 1);
}

#[test]
fn echo_request_gets_exact_reply() {
    let (mut s, now) = shard();
    learn_peer(&mut s, now);
    s.receive(&hex(ECHO_REQ), now);
    assert_eq!(drain(&mut s, now), vec![hex(ECHO_REP)]);
    assert_eq!(s.stats().icmp_echo_replies, 1);
}

#[test]
fn reply_waits_for_arp_resolution() {
    let (mut s, now) = shard();
    s.receive(&hex(ECHO_REQ), now);
    // Unknown peer: we ask first and hold the reply.
    assert_eq!(drain(&mut s, now), vec![hex(ARP_REQ_FOR_PEER)]);
    assert_eq!(s.queued_frames(), 1);
    // The shard looks into the shared cache every 10 ms (another shard may learn the
    // mapping) but asks again only once per interval.
    let recheck = now + crate::arp::SHARED_RECHECK;
    assert_eq!(s.poll_timeout(), Some(recheck));
    s.on_timeout(recheck);
    assert!(drain(&mut s, recheck).is_empty());
    let later = now + Duration::from_secs(1);
    s.on_timeout(later);
    assert_eq!(drain(&mut s, later), vec![hex(ARP_REQ_FOR_PEER)]);
    s.receive(&hex(ARP_REPLY_FROM_PEER), later);
    assert_eq!(drain(&mut s, later), vec![hex(ECHO_REP)]);
    assert_eq!(s.queued_frames(), 0);
}

#[test]
fn unresolved_next_hop_gives_up_and_drops() {
    let (mut s, now) = shard();
    s.receive(&hex(ECHO_REQ), now);
    let mut t = now;
    let mut requests = drain(&mut s, t).len();
    for _ in 0..5 {
        t += Duration::from_secs(1);
        s.on_timeout(t);
        requests += drain(&mut s, t).len();
    }
    assert_eq!(requests, 3, "arp_max_requests requests, then give up");
    assert_eq!(s.stats().arp_drop_unresolved, 1);
    assert_eq!(s.queued_frames(), 0);
}

#[test]
fn arp_pending_queue_is_bounded() {
    let mut c = config();
    c.limits.arp_pending_per_hop = 2;
    let (mut s, now) = shard_with(c);
    for _ in 0..5 {
        s.receive(&hex(ECHO_REQ), now);
    }
    assert_eq!(s.queued_frames(), 2 + 1); // two held replies + one ARP request
    assert_eq!(s.stats().arp_drop_pending_full, 3);
}

#[test]
fn ipv4_validation_counts_each_reason() {
    let (mut s, now) = shard();
    learn_peer(&mut s, now);
    let good = hex(ECHO_REQ);
    let mut bad_csum = good.clone();
    bad_csum[24] ^= 0xff;
    s.receive(&bad_csum, now);
    let mut bad_version = good.clone();
    bad_version[14] = 0x65;
    s.receive(&bad_version, now);
    let mut bad_ihl = good.clone();
    bad_ihl[14] = 0x44;
    s.receive(&bad_ihl, now);
    s.receive(&good[..30], now); // truncated header
    s.receive(&good[..good.len() - 4], now); // shorter than total length
    let mut not_ours = good.clone();
    not_ours[33] = 9; // destination 198.18.0.9 (checksum fixed below)
    fix_ip_checksum(&mut not_ours);
    s.receive(&not_ours, now);
    let mut bcast_src = good.clone();
    bcast_src[26..30].copy_from_slice(&[198, 18, 0, 255]);
    fix_ip_checksum(&mut bcast_src);
    s.receive(&bcast_src, now);
    assert!(drain(&mut s, now).is_empty());
    let st = s.stats();
    assert_eq!(st.ipv4_drop_checksum, 1);
    assert_eq!(st.ipv4_drop_malformed, 2);
    assert_eq!(st.ipv4_drop_truncated, 2);
    assert_eq!(st.ipv4_drop_not_ours, 1);
    assert_eq!(st.ipv4_drop_bad_source, 1);
    // Ethernet padding after the IPv4 total length is ignored.
    let mut padded = good;
    padded.extend_from_slice(&[0; 8]);
    s.receive(&padded, now);
    assert_eq!(drain(&mut s, now), vec![hex(ECHO_REP)]);
}

pub(super) fn fix_ip_checksum(frame: &mut [u8]) {
    let mut ip = Ipv4Packet::new_unchecked(&mut frame[14..]);
    ip.fill_checksum();
}

#[test]
fn udp_to_closed_port_gets_port_unreachable() {
    let (mut s, now) = shard();
    learn_peer(&mut s, now);
    s.receive(&hex(UDP_REQ), now);
    assert_eq!(drain(&mut s, now), vec![hex(PORT_UNREACHABLE)]);
    // A bad UDP checksum is dropped silently.
    let mut bad = hex(UDP_REQ);
    let last = bad.len() - 1;
    bad[last] ^= 1;
    s.receive(&bad, now);
    assert!(drain(&mut s, now).is_empty());
    assert_eq!(s.stats().udp_drop_malformed, 1);
}

#[test]
fn port_unreachable_is_rate_limited() {
    let mut c = config();
    c.limits.icmp_errors_per_sec = 10;
    c.limits.icmp_error_burst = 3;
    let (mut s, now) = shard_with(c);
    learn_peer(&mut s, now);
    for _ in 0..10 {
        s.receive(&hex(UDP_REQ), now);
    }
    assert_eq!(drain(&mut s, now).len(), 3);
    assert_eq!(s.stats().icmp_rate_limited, 7);
    let later = now + Duration::from_millis(100);
    s.receive(&hex(UDP_REQ), later);
    let out = drain(&mut s, later);
    assert_eq!(out.len(), 1, "one token refilled after 100 ms at 10/s");
    // Same message; only the IPv4 identification (and so the header checksum) moved on.
    assert_eq!(out[0][..18], hex(PORT_UNREACHABLE)[..18]);
    assert_eq!(out[0][26..], hex(PORT_UNREACHABLE)[26..]);
}

#[test]
fn fragments_reassemble_in_any_order() {
    let (mut s, now) = shard();
    learn_peer(&mut s, now);
    s.receive(&hex(FRAG2), now);
    assert!(drain(&mut s, now).is_empty());
    assert_eq!(s.stats().frag_pending, 1);
    assert_eq!(s.stats().frag_pending_bytes, s.reassembly_bytes() as u64);
    assert!(s.stats().frag_pending_bytes > 0);
    s.receive(&hex(FRAG1), now);
    assert_eq!(drain(&mut s, now), vec![hex(FRAG_REPLY)]);
    assert_eq!(s.stats().frag_reassembled, 1);
    assert_eq!(s.reassembly_bytes(), 0);
    assert_eq!(s.stats().frag_pending, 0);
    assert_eq!(s.stats().frag_pending_bytes, 0);
}

#[test]
fn overlapping_fragments_discard_the_datagram() {
    let (mut s, now) = shard();
    learn_peer(&mut s, now);
    s.receive(&hex(OVERLAP1), now);
    s.receive(&hex(OVERLAP2), now);
    assert!(drain(&mut s, now).is_empty());
    assert_eq!(s.stats().frag_drop_overlap, 1);
    assert_eq!(s.reassembly_bytes(), 0);
}

#[test]
fn incomplete_datagram_times_out() {
    let (mut s, now) = shard();
    learn_peer(&mut s, now);
    s.receive(&hex(FRAG1), now);
    let deadline = now + s.config().limits.reassembly_timeout;
    assert!(s.poll_timeout().is_some_and(|t| t <= deadline));
    assert_eq!(s.stats().frag_pending, 1);
    s.on_timeout(deadline);
    assert_eq!(s.stats().frag_drop_timeout, 1);
    assert_eq!(s.stats().frag_pending, 0);
    assert_eq!(s.stats().frag_pending_bytes, 0);
    s.receive(&hex(FRAG2), deadline);
    assert!(drain(&mut s, deadline).is_empty());
}

#[test]
fn syn_to_closed_port_gets_rst() {
    let (mut s, now) = shard();
    learn_peer(&mut s, now);
    s.receive(&hex(SYN_TO_CLOSED), now);
    assert_eq!(drain(&mut s, now), vec![hex(RST_FOR_SYN)]);
    assert_eq!(s.stats().tcp_rst_no_connection, 1);
    assert_eq!(s.connection_count(), 0);
}

// ---- TCP demux and listeners: segments built with the wire crate, checked field by field ----

fn tcp_frame(src_port: u16, dst_port: u16, repr: &TcpRepr<'_>) -> Vec<u8> {
    let repr = TcpRepr {
        src_port,
        dst_port,
        ..*repr
    };
    let tcp_len = repr.buffer_len();
    let mut f = vec![0u8; 34 + tcp_len];
    crate::ipv4::emit_headers(
        &mut f,
        PEER_MAC,
        OUR_MAC,
        PEER_IP,
        OUR_IP,
        boomerang_wire::IpProtocol::Tcp,
        tcp_len,
        0x5555,
    );
    repr.emit(
        &mut TcpPacket::new_unchecked(&mut f[34..]),
        PEER_IP,
        OUR_IP,
        TxChecksum::Compute,
    );
    f
}

fn parse_tcp(frame: &[u8]) -> TcpRepr<'_> {
    let eth = EthernetFrame::new_checked(frame).expect("eth");
    assert_eq!(eth.dst_addr(), PEER_MAC);
    let ip = Ipv4Packet::new_checked(eth.payload()).expect("ip");
    assert!(ip.verify_checksum());
    assert_eq!((ip.src_addr(), ip.dst_addr()), (OUR_IP, PEER_IP));
    let payload = ip.payload();
    let tcp = TcpPacket::new_checked(payload).expect("tcp");
    TcpRepr::parse(&tcp, OUR_IP, PEER_IP, RxChecksum::Verify).expect("valid segment with checksum")
}

fn syn(seq: u32) -> TcpRepr<'static> {
    TcpRepr {
        control: TcpControl::Syn,
        seq_number: boomerang_wire::SeqNumber(seq),
        window_len: 64240,
        max_seg_size: Some(1460),
        ..TcpRepr::default()
    }
}

/// Completes a handshake from `port` to our listener on 80; returns (our ISS, the SYN-ACK).
fn handshake(s: &mut Shard, now: Instant, port: u16) -> boomerang_wire::SeqNumber {
    s.receive(&tcp_frame(port, 80, &syn(1000)), now);
    let out = drain(s, now);
    assert_eq!(out.len(), 1);
    let synack = parse_tcp(&out[0]);
    assert_eq!(synack.control, TcpControl::Syn);
    assert_eq!(synack.ack_number, Some(boomerang_wire::SeqNumber(1001)));
    assert_eq!((synack.src_port, synack.dst_port), (80, port));
    assert_eq!(synack.max_seg_size, Some(1460));
    let iss = synack.seq_number;
    let ack = TcpRepr {
        seq_number: boomerang_wire::SeqNumber(1001),
        ack_number: Some(iss + 1),
        window_len: 64240,
        ..TcpRepr::default()
    };
    s.receive(&tcp_frame(port, 80, &ack), now);
    iss
}

#[test]
fn listener_accepts_and_demuxes_by_four_tuple() {
    let (mut s, now) = shard();
    learn_peer(&mut s, now);
    let l = s.listen(80, 8).expect("listen");
    assert_eq!(s.listen(80, 8), Err(SocketError::AddrInUse));
    let iss_a = handshake(&mut s, now, 40000);
    let iss_b = handshake(&mut s, now, 40001);
    assert!(drain(&mut s, now).is_empty(), "no reply to a pure ACK");
    assert_eq!(s.poll_event(), Some(SocketEvent::Acceptable(l)));
    let a = s.accept(l).expect("first connection");
    let b = s.accept(l).expect("second connection");
    assert_eq!(s.accept(l), None);
    assert_eq!(s.tcp_state(a), Some(TcpState::Established));
    assert_eq!(s.tuple(a).map(|t| t.remote.port()), Some(40000));
    assert_eq!(s.tuple(b).map(|t| t.remote.port()), Some(40001));
    // Data to each lands in its own connection.
    for (port, iss, text) in [(40001u16, iss_b, b"to-b"), (40000, iss_a, b"to-a")] {
        let data = TcpRepr {
            control: TcpControl::Psh,
            seq_number: boomerang_wire::SeqNumber(1001),
            ack_number: Some(iss + 1),
            window_len: 64240,
            payload: text,
            ..TcpRepr::default()
        };
        s.receive(&tcp_frame(port, 80, &data), now);
    }
    let mut buf = [0u8; 16];
    assert_eq!(s.recv(a, &mut buf), Ok(4));
    assert_eq!(&buf[..4], b"to-a");
    assert_eq!(s.recv(b, &mut buf), Ok(4));
    assert_eq!(&buf[..4], b"to-b");
    assert_eq!(s.recv(b, &mut buf), Err(SocketError::WouldBlock));
    assert_eq!(s.connection_count(), 2);
}

#[test]
fn listen_backlog_bounds_the_accept_queue() {
    let (mut s, now) = shard();
    learn_peer(&mut s, now);
    let l = s.listen(80, 1).expect("listen");
    handshake(&mut s, now, 40000);
    // The accept queue is full: the next SYN is dropped, not answered.
    s.receive(&tcp_frame(40001, 80, &syn(5000)), now);
    assert!(drain(&mut s, now).is_empty());
    assert_eq!(s.stats().tcp_drop_listen_overflow, 1);
    assert!(s.accept(l).is_some());
    s.receive(&tcp_frame(40001, 80, &syn(5000)), now);
    assert_eq!(drain(&mut s, now).len(), 1, "room again: SYN-ACK");
}

#[test]
fn frag_needed_lowers_path_mtu_for_later_segments() {
    let (mut s, now) = shard();
    learn_peer(&mut s, now);
    let l = s.listen(80, 8).expect("listen");
    let iss = handshake(&mut s, now, 40000);
    let c = s.accept(l).expect("accept");
    // ICMP fragmentation needed, next-hop MTU 1000, quoting one of our segments (RFC 1191).
    let mut quoted = vec![0u8; 28];
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut quoted[..]);
        boomerang_wire::Ipv4Repr {
            src_addr: OUR_IP,
            dst_addr: PEER_IP,
            protocol: boomerang_wire::IpProtocol::Tcp,
            payload_len: 1480,
            ttl: 64,
            dscp: 0,
            ecn: 0,
            ident: 9,
            dont_frag: true,
        }
        .emit(&mut ip, TxChecksum::Compute);
    }
    quoted[20..22].copy_from_slice(&80u16.to_be_bytes());
    quoted[22..24].copy_from_slice(&40000u16.to_be_bytes());
    quoted[24..28].copy_from_slice(&(iss.0.wrapping_add(1)).to_be_bytes());
    let mut icmp = vec![0u8; 8 + quoted.len()];
    icmp[0] = 3;
    icmp[1] = 4;
    icmp[6..8].copy_from_slice(&1000u16.to_be_bytes());
    icmp[8..].copy_from_slice(&quoted);
    boomerang_wire::Icmpv4Packet::new_unchecked(&mut icmp[..]).fill_checksum();
    let mut frame = vec![0u8; 34 + icmp.len()];
    crate::ipv4::emit_headers(
        &mut frame,
        PEER_MAC,
        OUR_MAC,
        Ipv4Addr::new(198, 18, 0, 254),
        OUR_IP,
        boomerang_wire::IpProtocol::Icmp,
        icmp.len(),
        1,
    );
    frame[34..].copy_from_slice(&icmp);
    // The router is on-link but its source is fine: any host may send ICMP.
    s.receive(&frame, now);
    assert_eq!(s.stats().icmp_pmtu_updates, 1);
    let data = vec![0xabu8; 5000];
    assert_eq!(s.send(c, &data), Ok(5000));
    let out = drain(&mut s, now);
    assert!(!out.is_empty());
    for f in &out {
        let ip = Ipv4Packet::new_checked(&f[14..]).expect("ip");
        assert!(
            usize::from(ip.total_len()) <= 1000,
            "segment exceeds the path MTU"
        );
    }
    // A new connection to the same destination starts with the lowered MTU.
    assert_eq!(s.path_mtu_for(PEER_IP, now), 1000);
}

#[test]
fn connect_to_off_link_resolves_the_gateway() {
    let (mut s, now) = shard();
    let remote = SocketAddrV4::new(Ipv4Addr::new(198, 19, 5, 5), 80);
    let c = s.connect(remote, now).expect("connect");
    assert_eq!(s.tcp_state(c), Some(TcpState::SynSent));
    let out = drain(&mut s, now);
    // An ARP request for the gateway, not for the destination.
    assert_eq!(out.len(), 1);
    assert_eq!(&out[0][12..14], &[0x08, 0x06]);
    assert_eq!(&out[0][38..42], &[198, 18, 0, 254]);
    // The gateway answers; the SYN goes to its MAC.
    let gw_mac = EthernetAddress([2, 0, 0, 0, 0, 0xfe]);
    let mut reply = hex(ARP_REPLY_FROM_PEER);
    reply[6..12].copy_from_slice(&gw_mac.0);
    reply[22..28].copy_from_slice(&gw_mac.0);
    reply[28..32].copy_from_slice(&[198, 18, 0, 254]);
    s.receive(&reply, now);
    let out = drain(&mut s, now);
    assert_eq!(out.len(), 1);
    let eth = EthernetFrame::new_checked(&out[0][..]).expect("eth");
    assert_eq!(eth.dst_addr(), gw_mac);
    let ip = Ipv4Packet::new_checked(eth.payload()).expect("ip");
    assert_eq!(ip.dst_addr(), Ipv4Addr::new(198, 19, 5, 5));
    let tcp = TcpPacket::new_checked(ip.payload()).expect("tcp");
    assert!(tcp.syn() && !tcp.ack());
}

#[test]
fn no_gateway_means_no_route() {
    let mut c = config();
    c.gateway = None;
    let (mut s, now) = shard_with(c);
    let remote = SocketAddrV4::new(Ipv4Addr::new(198, 19, 5, 5), 80);
    s.connect(remote, now).expect("connect");
    assert!(drain(&mut s, now).is_empty());
    assert_eq!(s.stats().ipv4_drop_no_route, 1);
}

#[test]
fn arp_entry_is_refreshed_by_unicast_then_expires() {
    let (mut s, now) = shard();
    learn_peer(&mut s, now);
    let limits = s.config().limits.clone();
    // Young entry: the echo reply goes straight out.
    s.receive(&hex(ECHO_REQ), now);
    assert_eq!(drain(&mut s, now), vec![hex(ECHO_REP)]);
    // Near expiry: still used, and a unicast request (to the known MAC) confirms it.
    let old = now + limits.arp_entry_ttl - limits.arp_refresh_before + Duration::from_secs(1);
    s.receive(&hex(ECHO_REQ), old);
    let out = drain(&mut s, old);
    assert_eq!(out.len(), 2);
    let mut unicast_req = hex(ARP_REQ_FOR_PEER);
    unicast_req[..6].copy_from_slice(&PEER_MAC.0);
    assert_eq!(out[0], unicast_req);
    assert_eq!(out[1][..6], PEER_MAC.0);
    // Expired: back to a broadcast request, the reply waits.
    let expired = now + limits.arp_entry_ttl;
    s.receive(&hex(ECHO_REQ), expired);
    assert_eq!(drain(&mut s, expired), vec![hex(ARP_REQ_FOR_PEER)]);
    // The sweep removes expired entries from the shared cache.
    s.on_timeout(expired + super::ARP_SWEEP_INTERVAL);
    assert!(s.shared().arp_lookup(PEER_IP).is_none());
}

#[test]
fn a_mapping_learned_by_one_shard_serves_the_others() {
    let now = Instant::now();
    let shared = Shared::new(config());
    let mut a = Shard::new(shared.clone(), 0, now);
    let mut b = Shard::new(shared, 1, now);
    // Shard b needs the peer and asks.
    b.receive(&hex(ECHO_REQ), now);
    assert_eq!(drain(&mut b, now), vec![hex(ARP_REQ_FOR_PEER)]);
    // The reply lands on shard a (another RX queue); shard b's waiting reply leaves.
    a.receive(&hex(ARP_REPLY_FROM_PEER), now);
    assert!(drain(&mut a, now).is_empty());
    assert_eq!(drain(&mut b, now), vec![hex(ECHO_REP)]);
}

#[test]
fn time_wait_table_is_bounded() {
    let mut c = config();
    c.limits.max_time_wait = 1;
    let (mut s, now) = shard_with(c);
    learn_peer(&mut s, now);
    let l = s.listen(80, 8).expect("listen");
    for port in [40000u16, 40001] {
        let iss = handshake(&mut s, now, port);
        let conn = s.accept(l).expect("accept");
        // We close first: FIN out, the peer ACKs it and sends its own FIN -> TIME-WAIT.
        s.close(conn);
        let out = drain(&mut s, now);
        let fin = parse_tcp(out.last().expect("FIN"));
        assert_eq!(fin.control, TcpControl::Fin);
        let peer_fin = TcpRepr {
            control: TcpControl::Fin,
            seq_number: boomerang_wire::SeqNumber(1001),
            ack_number: Some(iss + 2),
            window_len: 64240,
            ..TcpRepr::default()
        };
        s.receive(&tcp_frame(port, 80, &peer_fin), now);
        drain(&mut s, now);
    }
    assert_eq!(s.time_wait_count(), 1);
    assert_eq!(s.stats().tcp_time_wait_evicted, 1);
    assert_eq!(s.connection_count(), 1);
    // TIME-WAIT ends after its duration and the table drains.
    let later = now + s.config().tcp.time_wait + Duration::from_millis(1);
    s.on_timeout(later);
    drain(&mut s, later);
    assert_eq!(s.time_wait_count(), 0);
    assert_eq!(s.connection_count(), 0);
}

#[test]
fn time_wait_keeps_a_record_not_the_connection_and_a_reusing_peer_gets_in_after_its_rst() {
    let (mut s, now) = shard();
    learn_peer(&mut s, now);
    let l = s.listen(80, 8).expect("listen");
    let port = 40000u16;
    let iss = handshake(&mut s, now, port);
    let conn = s.accept(l).expect("accept");
    let established = crate::tcp::TcpState::Established.index();
    assert_eq!(s.connections_by_state()[established], 1);
    s.close(conn);
    drain(&mut s, now);
    let peer_fin = TcpRepr {
        control: TcpControl::Fin,
        seq_number: boomerang_wire::SeqNumber(1001),
        ack_number: Some(iss + 2),
        window_len: 64240,
        ..TcpRepr::default()
    };
    s.receive(&tcp_frame(port, 80, &peer_fin), now);
    let out = drain(&mut s, now);
    let ack = parse_tcp(out.last().expect("the ACK of the peer's FIN"));
    assert_eq!(ack.ack_number, Some(boomerang_wire::SeqNumber(1002)));
    // The connection left the slab; TIME-WAIT is a record of its own.
    assert_eq!((s.conns.len(), s.time_wait_count()), (0, 1));
    assert_eq!(s.connection_count(), 1);
    let mut by_state = [0; 11];
    by_state[crate::tcp::TcpState::TimeWait.index()] = 1;
    assert_eq!(s.connections_by_state(), by_state);
    // A retransmitted FIN is acknowledged again, by the record.
    let t1 = now + Duration::from_secs(1);
    s.receive(&tcp_frame(port, 80, &peer_fin), t1);
    let out = drain(&mut s, t1);
    assert_eq!(out.len(), 1);
    let again = parse_tcp(&out[0]);
    assert_eq!(
        (again.seq_number, again.ack_number),
        (iss + 2, Some(boomerang_wire::SeqNumber(1002)))
    );
    // The peer reuses the 4-tuple with an ISN below RCV.NXT: not accepted (RFC 6191), the
    // SYN gets an ACK; the peer's RST at that ACK ends TIME-WAIT; its next SYN gets in.
    let t2 = now + Duration::from_secs(2);
    s.receive(&tcp_frame(port, 80, &syn(500)), t2);
    let out = drain(&mut s, t2);
    assert_eq!(out.len(), 1);
    let challenge = parse_tcp(&out[0]);
    assert_eq!(challenge.control, TcpControl::None);
    assert_eq!(challenge.ack_number, Some(boomerang_wire::SeqNumber(1002)));
    let rst = TcpRepr {
        control: TcpControl::Rst,
        seq_number: boomerang_wire::SeqNumber(1002),
        ..TcpRepr::default()
    };
    s.receive(&tcp_frame(port, 80, &rst), t2);
    assert_eq!(s.time_wait_count(), 0);
    let t3 = now + Duration::from_secs(3);
    s.receive(&tcp_frame(port, 80, &syn(500)), t3);
    let out = drain(&mut s, t3);
    let synack = parse_tcp(out.last().expect("SYN-ACK"));
    assert_eq!(synack.control, TcpControl::Syn);
    assert_eq!(synack.ack_number, Some(boomerang_wire::SeqNumber(501)));
}

#[test]
fn rst_for_segment_of_unknown_connection_with_ack() {
    let (mut s, now) = shard();
    learn_peer(&mut s, now);
    // An ACK for no connection: RST with SEQ = SEG.ACK and no ACK (RFC 9293 §3.10.7.1).
    let ack = TcpRepr {
        seq_number: boomerang_wire::SeqNumber(5),
        ack_number: Some(boomerang_wire::SeqNumber(777)),
        window_len: 100,
        ..TcpRepr::default()
    };
    s.receive(&tcp_frame(40002, 80, &ack), now);
    let out = drain(&mut s, now);
    assert_eq!(out.len(), 1);
    let rst = parse_tcp(&out[0]);
    assert_eq!(rst.control, TcpControl::Rst);
    assert_eq!(rst.seq_number, boomerang_wire::SeqNumber(777));
    assert_eq!(rst.ack_number, None);
    // A RST for no connection gets nothing.
    let rst_in = TcpRepr {
        control: TcpControl::Rst,
        seq_number: boomerang_wire::SeqNumber(5),
        ..TcpRepr::default()
    };
    s.receive(&tcp_frame(40002, 80, &rst_in), now);
    assert!(drain(&mut s, now).is_empty());
}

#[test]
fn connect_picks_ports_whose_replies_reach_this_shard() {
    let mut c = config();
    let rss = crate::rss::RssSteering {
        key: [
            0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
            0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
            0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
        ],
        indirection: (0..128).map(|i| i % 4).collect(),
    };
    c.rss = Some(rss.clone());
    let now = Instant::now();
    let mut s = Shard::new(Shared::new(c), 2, now);
    let remote = SocketAddrV4::new(PEER_IP, 80);
    let mut ports = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let conn = s.connect(remote, now).expect("connect");
        let t = s.tuple(conn).expect("tuple");
        assert_eq!(rss.queue_for(t.local, t.remote), Some(2));
        ports.insert(t.local.port());
    }
    assert_eq!(ports.len(), 20);
}

#[test]
fn listener_ports_are_published_and_unlisten_resets_waiting_connections() {
    let now = Instant::now();
    let shared = Shared::new(config());
    let mut a = Shard::new(shared.clone(), 0, now);
    let mut b = Shard::new(shared.clone(), 1, now);
    learn_peer(&mut a, now);
    let la = a.listen(80, 8).expect("listen a");
    let lb = b.listen(80, 8).expect("listen b");
    assert_eq!(shared.listening_ports(), vec![80]);
    handshake(&mut a, now, 40000);
    assert_eq!(a.connection_count(), 1);
    // Closing the listener resets the connection nobody accepted.
    a.unlisten(la, now);
    let out = drain(&mut a, now);
    assert_eq!(out.len(), 1);
    assert_eq!(parse_tcp(&out[0]).control, TcpControl::Rst);
    assert_eq!(a.connection_count(), 0);
    assert!(shared.is_listening(80), "shard b still listens");
    b.unlisten(lb, now);
    assert!(!shared.is_listening(80));
    // Now a SYN gets a RST.
    a.receive(&tcp_frame(40001, 80, &syn(1)), now);
    assert_eq!(parse_tcp(&drain(&mut a, now)[0]).control, TcpControl::Rst);
}

#[test]
fn unknown_protocol_gets_protocol_unreachable() {
    let (mut s, now) = shard();
    learn_peer(&mut s, now);
    s.receive(&hex(GRE), now);
    assert_eq!(drain(&mut s, now), vec![hex(PROTO_UNREACHABLE)]);
    assert_eq!(s.stats().ipv4_drop_protocol, 1);
    assert_eq!(s.stats().icmp_proto_unreachable_sent, 1);
}

#[test]
fn full_syn_backlog_answers_with_a_cookie_that_completes_the_handshake() {
    let mut c = config();
    c.limits.max_syn_backlog = 1;
    let (mut s, now) = shard_with(c);
    learn_peer(&mut s, now);
    let l = s.listen(80, 8).expect("listen");
    // The one SYN-queue slot is taken by a handshake that never completes.
    s.receive(&tcp_frame(40000, 80, &syn(1000)), now);
    assert_eq!(drain(&mut s, now).len(), 1);
    assert_eq!(s.stats().syncookies_sent, 0);
    // A Linux-like SYN: MSS 1460, window scale 7, SACK-permitted, timestamps.
    let linux_syn = TcpRepr {
        window_scale: Some(7),
        sack_permitted: true,
        timestamp: Some((555, 0)),
        ..syn(7000)
    };
    s.receive(&tcp_frame(40001, 80, &linux_syn), now);
    let out = drain(&mut s, now);
    assert_eq!(out.len(), 1);
    let synack = parse_tcp(&out[0]);
    assert_eq!(s.stats().syncookies_sent, 1);
    assert_eq!(s.connection_count(), 1, "the cookie keeps no state");
    assert_eq!((synack.src_port, synack.dst_port), (80, 40001));
    assert_eq!(synack.control, TcpControl::Syn);
    assert_eq!(synack.ack_number, Some(boomerang_wire::SeqNumber(7001)));
    assert_eq!(synack.max_seg_size, Some(1460));
    assert_eq!(
        synack.window_scale,
        Some(crate::tcp::TcpConfig::default().rcv_wscale())
    );
    assert!(synack.sack_permitted);
    let (our_tsval, echoed) = synack.timestamp.expect("timestamps kept");
    assert_eq!(echoed, 555);
    let iss = synack.seq_number;
    // The third segment carries data, as a client's request may.
    let ack = TcpRepr {
        control: TcpControl::Psh,
        seq_number: boomerang_wire::SeqNumber(7001),
        ack_number: Some(iss + 1),
        window_len: 502,
        timestamp: Some((556, our_tsval)),
        payload: b"GET / HTTP/1.1\r\n\r\n",
        ..TcpRepr::default()
    };
    s.receive(&tcp_frame(40001, 80, &ack), now);
    assert_eq!(s.stats().syncookies_ok, 1);
    assert_eq!(s.poll_event(), Some(SocketEvent::Acceptable(l)));
    let conn = s.accept(l).expect("cookie connection accepted");
    assert_eq!(s.tcp_state(conn), Some(TcpState::Established));
    assert_eq!(s.tuple(conn).map(|t| t.remote.port()), Some(40001));
    let mut buf = [0u8; 64];
    assert_eq!(s.recv(conn, &mut buf), Ok(18));
    assert_eq!(&buf[..18], b"GET / HTTP/1.1\r\n\r\n");
    // The options survived: the reply echoes the peer's timestamp and its window is scaled
    // by the peer's shift 7 (502 << 7 bytes allow a 1000-byte write at once).
    assert_eq!(s.send(conn, &[b'x'; 1000]), Ok(1000));
    let out = drain(&mut s, now);
    let data = out
        .iter()
        .map(|f| parse_tcp(f))
        .find(|r| !r.payload.is_empty())
        .expect("data segment");
    assert_eq!(data.seq_number, iss + 1);
    assert_eq!(data.payload.len(), 1000);
    assert_eq!(data.timestamp.map(|t| t.1), Some(556));
    // A forged third segment (wrong cookie) is refused with a RST and counted.
    let forged = TcpRepr {
        seq_number: boomerang_wire::SeqNumber(9001),
        ack_number: Some(iss + 1),
        window_len: 502,
        ..TcpRepr::default()
    };
    s.receive(&tcp_frame(40002, 80, &forged), now);
    assert_eq!(s.stats().syncookies_failed, 1);
    let out = drain(&mut s, now);
    assert_eq!(out.len(), 1);
    assert_eq!(parse_tcp(&out[0]).control, TcpControl::Rst);
    assert_eq!(s.connection_count(), 2);
}

#[test]
fn without_syn_cookies_a_full_syn_backlog_drops() {
    let mut c = config();
    c.limits.max_syn_backlog = 1;
    c.limits.syn_cookies = false;
    let (mut s, now) = shard_with(c);
    learn_peer(&mut s, now);
    s.listen(80, 8).expect("listen");
    s.receive(&tcp_frame(40000, 80, &syn(1000)), now);
    assert_eq!(drain(&mut s, now).len(), 1);
    s.receive(&tcp_frame(40001, 80, &syn(7000)), now);
    assert!(drain(&mut s, now).is_empty());
    assert_eq!(s.stats().tcp_drop_listen_overflow, 1);
    assert_eq!(s.stats().syncookies_sent, 0);
}

#[test]
fn half_open_gauge_and_rst_counters() {
    let (mut s, now) = shard();
    learn_peer(&mut s, now);
    let l = s.listen(80, 8).expect("listen");
    // A SYN alone: one half-open connection until the handshake's ACK.
    s.receive(&tcp_frame(40010, 80, &syn(1000)), now);
    let synack = parse_tcp(&drain(&mut s, now)[0]).seq_number;
    assert_eq!(s.half_open_count(), 1);
    assert_eq!(s.stats().tcp_half_open, 1);
    let ack = TcpRepr {
        seq_number: boomerang_wire::SeqNumber(1001),
        ack_number: Some(synack + 1),
        window_len: 64240,
        ..TcpRepr::default()
    };
    s.receive(&tcp_frame(40010, 80, &ack), now);
    assert_eq!(s.half_open_count(), 0);
    let conn = s.accept(l).expect("accept");
    // A half-open connection that is reset leaves the gauge too.
    s.receive(&tcp_frame(40011, 80, &syn(7000)), now);
    drain(&mut s, now);
    assert_eq!(s.half_open_count(), 1);
    let rst_half = TcpRepr {
        control: TcpControl::Rst,
        seq_number: boomerang_wire::SeqNumber(7001),
        ..TcpRepr::default()
    };
    s.receive(&tcp_frame(40011, 80, &rst_half), now);
    drain(&mut s, now);
    assert_eq!(s.half_open_count(), 0);
    assert_eq!(s.stats().tcp_rst_received, 1);
    assert_eq!(s.stats().tcp_rst_accepted, 1);
    // In-window RST with the wrong sequence number: challenge ACK (RFC 5961 §3.2), the
    // connection survives.
    let rst_wrong = TcpRepr {
        control: TcpControl::Rst,
        seq_number: boomerang_wire::SeqNumber(1101),
        ..TcpRepr::default()
    };
    s.receive(&tcp_frame(40010, 80, &rst_wrong), now);
    let out = drain(&mut s, now);
    assert_eq!(out.len(), 1, "one challenge ACK");
    let challenge = parse_tcp(&out[0]);
    assert_eq!(challenge.control, TcpControl::None);
    assert_eq!(challenge.ack_number, Some(boomerang_wire::SeqNumber(1001)));
    assert_eq!(s.tcp_state(conn), Some(TcpState::Established));
    assert_eq!(s.stats().tcp_rst_received, 2);
    assert_eq!(s.stats().tcp_challenge_acks, 1);
    assert_eq!(s.stats().tcp_rst_accepted, 1);
    // The exact RST closes it.
    let rst_exact = TcpRepr {
        seq_number: boomerang_wire::SeqNumber(1001),
        ..rst_wrong
    };
    s.receive(&tcp_frame(40010, 80, &rst_exact), now);
    drain(&mut s, now);
    assert_eq!(s.tcp_state(conn), Some(TcpState::Closed));
    assert_eq!(s.stats().tcp_rst_received, 3);
    assert_eq!(s.stats().tcp_rst_accepted, 2);
}

/// Write coalescing with Nagle off: what the application writes between two
/// transmit passes leaves in as few segments as possible — a response written as head, then
/// body in pieces, goes out as one segment when it fits one MSS, and as full-sized segments
/// plus one remainder when it does not. Nothing leaves before the transmit pass.
#[test]
fn writes_between_transmits_coalesce_into_full_segments() {
    let (mut s, now) = shard();
    learn_peer(&mut s, now);
    let l = s.listen(80, 8).expect("listen");
    let iss = handshake(&mut s, now, 40000);
    let c = s.accept(l).expect("accepted");
    assert!(drain(&mut s, now).is_empty());
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n";
    assert_eq!(s.send(c, head), Ok(head.len()));
    assert_eq!(s.send(c, b"Hello, "), Ok(7));
    assert_eq!(s.send(c, b"World!"), Ok(6));
    let out = drain(&mut s, now);
    assert_eq!(out.len(), 1, "one segment for head and body");
    let seg = parse_tcp(&out[0]);
    assert_eq!(seg.seq_number, iss + 1);
    assert_eq!(seg.payload.len(), head.len() + 13);
    assert!(seg.payload.ends_with(b"Hello, World!"));
    assert_eq!(
        seg.control,
        TcpControl::Psh,
        "PSH on the last segment of the write"
    );

    // 4000 bytes in 40 writes: two full 1460-byte segments and the 1080-byte rest.
    let ack = TcpRepr {
        seq_number: boomerang_wire::SeqNumber(1001),
        ack_number: Some(seg.seq_number + seg.payload.len()),
        window_len: 64240,
        ..TcpRepr::default()
    };
    s.receive(&tcp_frame(40000, 80, &ack), now);
    for _ in 0..40 {
        assert_eq!(s.send(c, &[b'x'; 100]), Ok(100));
    }
    let lens: Vec<usize> = drain(&mut s, now)
        .iter()
        .map(|f| parse_tcp(f).payload.len())
        .collect();
    assert_eq!(lens, [1460, 1460, 1080]);
}

/// A new connection on the ports of an earlier one continues that tuple's timestamp clock
/// (RFC 7323 §5.4), whatever the gap: with the clock derived from the ISS it ran backwards for
/// gaps between 1.05 s and 2.10 s (mod 2.10 s), and the peer's TIME-WAIT refused the new SYN.
#[test]
fn a_new_incarnation_continues_the_tuples_timestamp_clock() {
    let (mut s, t0) = shard();
    learn_peer(&mut s, t0);
    s.listen(80, 8).expect("listen");
    let syn_ts = |seq: u32, tsval: u32| TcpRepr {
        timestamp: Some((tsval, 0)),
        ..syn(seq)
    };
    s.receive(&tcp_frame(40000, 80, &syn_ts(1000, 7)), t0);
    let out = drain(&mut s, t0);
    let synack = parse_tcp(&out[0]);
    let first = synack.timestamp.expect("timestamps").0;
    let rst = TcpRepr {
        control: TcpControl::Rst,
        seq_number: boomerang_wire::SeqNumber(1001),
        ack_number: Some(synack.seq_number + 1),
        timestamp: Some((8, first)),
        ..TcpRepr::default()
    };
    s.receive(&tcp_frame(40000, 80, &rst), t0);
    drain(&mut s, t0);
    let later = t0 + Duration::from_millis(3326);
    s.receive(&tcp_frame(40000, 80, &syn_ts(9000, 9)), later);
    let out = drain(&mut s, later);
    let synack2 = parse_tcp(&out[0]);
    assert_eq!(
        synack2.control,
        TcpControl::Syn,
        "a new connection answers the SYN"
    );
    assert_eq!(synack2.ack_number, Some(boomerang_wire::SeqNumber(9001)));
    let second = synack2.timestamp.expect("timestamps").0;
    assert_eq!(second.wrapping_sub(first), 3326);
}
