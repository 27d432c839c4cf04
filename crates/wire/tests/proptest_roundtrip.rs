//! Property tests: every `Repr -> emit -> parse` round trip is the identity, the fast checksum
//! equals a naive RFC 1071 reference, and RFC 1624 incremental updates equal recomputation.

use boomerang_wire::checksum;
use boomerang_wire::{
    ArpOperation, ArpPacket, ArpRepr, DstUnreachable, EtherType, EthernetAddress, EthernetFrame,
    EthernetRepr, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Packet, Ipv4Repr, SeqNumber,
    TcpControl, TcpOption, TcpPacket, TcpRepr, TimeExceeded, UdpPacket, UdpRepr,
};
use boomerang_wire::{RxChecksum, TxChecksum};
use proptest::prelude::*;
use std::net::Ipv4Addr;

/// Word-by-word reference implementation of RFC 1071 §4.1.
fn naive_checksum(data: &[u8]) -> u16 {
    let mut s: u64 = 0;
    for pair in data.chunks(2) {
        let hi = u64::from(pair[0]) << 8;
        let lo = pair.get(1).map_or(0, |&b| u64::from(b));
        s += hi | lo;
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn mac() -> impl Strategy<Value = EthernetAddress> {
    any::<[u8; 6]>().prop_map(EthernetAddress)
}

fn addr() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn ethertype() -> impl Strategy<Value = EtherType> {
    any::<u16>().prop_map(EtherType::from)
}

fn protocol() -> impl Strategy<Value = IpProtocol> {
    any::<u8>().prop_map(IpProtocol::from)
}

fn ipv4_repr(max_payload: usize) -> impl Strategy<Value = Ipv4Repr> {
    (
        addr(),
        addr(),
        protocol(),
        0..=max_payload,
        any::<u8>(),
        0u8..64,
        0u8..4,
        any::<u16>(),
        any::<bool>(),
    )
        .prop_map(
            |(src_addr, dst_addr, protocol, payload_len, ttl, dscp, ecn, ident, dont_frag)| {
                Ipv4Repr {
                    src_addr,
                    dst_addr,
                    protocol,
                    payload_len,
                    ttl,
                    dscp,
                    ecn,
                    ident,
                    dont_frag,
                }
            },
        )
}

fn sack_ranges() -> impl Strategy<Value = [Option<(u32, u32)>; 4]> {
    (0usize..=4, any::<[(u32, u32); 4]>()).prop_map(|(n, r)| {
        let mut out = [None; 4];
        for (slot, v) in out.iter_mut().zip(r.iter()).take(n) {
            *slot = Some(*v);
        }
        out
    })
}

fn control() -> impl Strategy<Value = TcpControl> {
    prop_oneof![
        Just(TcpControl::None),
        Just(TcpControl::Psh),
        Just(TcpControl::Syn),
        Just(TcpControl::Fin),
        Just(TcpControl::Rst),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn checksum_matches_naive(data in proptest::collection::vec(any::<u8>(), 0..3000)) {
        prop_assert_eq!(checksum::checksum(&data), naive_checksum(&data));
    }

    #[test]
    fn checksum_matches_naive_at_any_offset(
        data in proptest::collection::vec(any::<u8>(), 0..200),
        start in 0usize..8,
    ) {
        let start = start.min(data.len());
        prop_assert_eq!(checksum::checksum(&data[start..]), naive_checksum(&data[start..]));
    }

    #[test]
    fn partial_sums_combine(data in proptest::collection::vec(any::<u8>(), 0..2000), cut in 0usize..1000) {
        let cut = (cut * 2).min(data.len() & !1);
        let (a, b) = data.split_at(cut);
        prop_assert_eq!(!checksum::fold(checksum::sum(a) + checksum::sum(b)), naive_checksum(&data));
    }

    #[test]
    fn incremental_update_matches_recompute(
        mut data in proptest::collection::vec(any::<u8>(), 2..200),
        word in any::<usize>(),
        new in any::<u16>(),
    ) {
        let len = data.len() & !1;
        data.truncate(len);
        let at = (word % (len / 2)) * 2;
        let before = checksum::checksum(&data);
        let old = u16::from_be_bytes([data[at], data[at + 1]]);
        data[at..at + 2].copy_from_slice(&new.to_be_bytes());
        prop_assert_eq!(checksum::update(before, old, new), checksum::checksum(&data));
    }

    #[test]
    fn incremental_update_u32_matches_recompute(
        mut data in proptest::collection::vec(any::<u8>(), 4..200),
        word in any::<usize>(),
        new in any::<u32>(),
    ) {
        let len = data.len() & !3;
        data.truncate(len);
        let at = (word % (len / 4)) * 4;
        let before = checksum::checksum(&data);
        let old = u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
        data[at..at + 4].copy_from_slice(&new.to_be_bytes());
        prop_assert_eq!(checksum::update_u32(before, old, new), checksum::checksum(&data));
    }

    #[test]
    fn seq_number_ordering(a in any::<u32>(), d in 1u32..0x8000_0000) {
        let x = SeqNumber(a);
        let y = SeqNumber(a.wrapping_add(d));
        prop_assert!(x < y && x.lt(y) && y.gt(x) && x.le(y) && y.ge(x));
        prop_assert_eq!(y - x, d as i32);
        prop_assert_eq!(x + d as usize, y);
        prop_assert_eq!(y - d as usize, x);
        prop_assert_eq!(x.max(y), y);
        prop_assert_eq!(x.min(y), x);
    }

    #[test]
    fn ethernet_round_trip(src_addr in mac(), dst_addr in mac(), ethertype in ethertype(),
                           payload in proptest::collection::vec(any::<u8>(), 0..64)) {
        let repr = EthernetRepr { src_addr, dst_addr, ethertype };
        let mut buf = vec![0u8; repr.buffer_len() + payload.len()];
        let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
        repr.emit(&mut frame);
        frame.payload_mut().copy_from_slice(&payload);
        let frame = EthernetFrame::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(EthernetRepr::parse(&frame).unwrap(), repr);
        prop_assert_eq!(frame.payload(), &payload[..]);
    }

    #[test]
    fn arp_round_trip(op in any::<u16>(), sha in mac(), spa in addr(), tha in mac(), tpa in addr()) {
        let repr = ArpRepr {
            operation: ArpOperation::from(op),
            source_hardware_addr: sha,
            source_protocol_addr: spa,
            target_hardware_addr: tha,
            target_protocol_addr: tpa,
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
        let p = ArpPacket::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(ArpRepr::parse(&p).unwrap(), repr);
    }

    #[test]
    fn ipv4_round_trip(repr in ipv4_repr(2000)) {
        let mut buf = vec![0u8; repr.buffer_len() + repr.payload_len];
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]), TxChecksum::Compute);
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        prop_assert!(p.verify_checksum());
        prop_assert_eq!(Ipv4Repr::parse(&p).unwrap(), repr);
        prop_assert_eq!(p.payload().len(), repr.payload_len);
    }

    #[test]
    fn icmp_echo_round_trip(request in any::<bool>(), ident in any::<u16>(), seq_no in any::<u16>(),
                            data in proptest::collection::vec(any::<u8>(), 0..1500)) {
        let repr = if request {
            Icmpv4Repr::EchoRequest { ident, seq_no, data: &data }
        } else {
            Icmpv4Repr::EchoReply { ident, seq_no, data: &data }
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
        let p = Icmpv4Packet::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(Icmpv4Repr::parse(&p).unwrap(), repr);
    }

    #[test]
    fn icmp_error_round_trip(unreachable in any::<bool>(), code in any::<u8>(), mtu in any::<u16>(),
                             header in ipv4_repr(60000),
                             data in proptest::collection::vec(any::<u8>(), 0..64)) {
        let repr = if unreachable {
            let reason = DstUnreachable::from(code);
            let next_hop_mtu = if reason == DstUnreachable::FragRequired { mtu } else { 0 };
            Icmpv4Repr::DstUnreachable { reason, next_hop_mtu, header, data: &data }
        } else {
            Icmpv4Repr::TimeExceeded { reason: TimeExceeded::from(code), header, data: &data }
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
        let p = Icmpv4Packet::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(Icmpv4Repr::parse(&p).unwrap(), repr);
    }

    #[test]
    fn udp_round_trip(src_port in any::<u16>(), dst_port in 1u16.., src in addr(), dst in addr(),
                      payload in proptest::collection::vec(any::<u8>(), 0..1500)) {
        let repr = UdpRepr { src_port, dst_port };
        let mut buf = vec![0u8; repr.buffer_len(payload.len())];
        repr.emit(&mut UdpPacket::new_unchecked(&mut buf[..]), src, dst, payload.len(),
                  |d| d.copy_from_slice(&payload));
        let p = UdpPacket::new_checked(&buf[..]).unwrap();
        prop_assert_ne!(p.checksum(), 0);
        prop_assert_eq!(UdpRepr::parse(&p, src, dst).unwrap(), repr);
        prop_assert_eq!(p.payload(), &payload[..]);
    }

    #[test]
    fn tcp_round_trip(
        src_port in 1u16.., dst_port in 1u16.., control in control(),
        seq in any::<u32>(), ack in proptest::option::of(any::<u32>()),
        window_len in any::<u16>(), window_scale in proptest::option::of(0u8..=14),
        max_seg_size in proptest::option::of(any::<u16>()), sack_permitted in any::<bool>(),
        sack_ranges in sack_ranges(), timestamp in proptest::option::of(any::<(u32, u32)>()),
        payload in proptest::collection::vec(any::<u8>(), 0..1500),
        src in addr(), dst in addr(),
    ) {
        let repr = TcpRepr {
            src_port, dst_port, control,
            seq_number: SeqNumber(seq),
            ack_number: ack.map(SeqNumber),
            window_len, window_scale, max_seg_size, sack_permitted, sack_ranges, timestamp,
            payload: &payload,
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut TcpPacket::new_unchecked(&mut buf[..]), src, dst, TxChecksum::Compute);
        let p = TcpPacket::new_checked(&buf[..]).unwrap();
        prop_assert!(p.verify_checksum(src, dst));
        prop_assert_eq!(usize::from(p.header_len()), repr.header_len());
        prop_assert_eq!(p.segment_len(), repr.segment_len());
        let parsed = TcpRepr::parse(&p, src, dst, RxChecksum::Verify).unwrap();
        // Blocks that did not fit in 40 option bytes are left out by emit, from the back.
        let mut expected = repr;
        let kept = parsed.sack_ranges.iter().flatten().count();
        for slot in expected.sack_ranges.iter_mut().skip(kept) {
            *slot = None;
        }
        prop_assert!(repr.header_len() <= 60);
        prop_assert_eq!(parsed, expected);
        // Never more than what fits: 3 blocks with timestamps, 4 without.
        let offered = repr.sack_ranges.iter().flatten().count();
        let room = if timestamp.is_some() { 3 } else { 4 };
        let other = usize::from(max_seg_size.is_some()) * 4 + usize::from(window_scale.is_some()) * 4
            + if timestamp.is_some() { 12 } else if sack_permitted { 4 } else { 0 };
        let fits = if offered == 0 { 0 } else { ((40 - other).saturating_sub(4) / 8).min(room) };
        prop_assert_eq!(kept, offered.min(fits));
    }

    #[test]
    fn tcp_option_round_trip(kind in 9u8.., data in proptest::collection::vec(any::<u8>(), 0..38),
                             mss in any::<u16>(), ws in any::<u8>(), ts in any::<(u32, u32)>(),
                             ranges in sack_ranges()) {
        let mut options = vec![
            TcpOption::MaxSegmentSize(mss),
            TcpOption::WindowScale(ws),
            TcpOption::SackPermitted,
            TcpOption::TimeStamp { tsval: ts.0, tsecr: ts.1 },
            TcpOption::Unknown { kind, data: &data },
            TcpOption::NoOperation,
            TcpOption::EndOfList,
        ];
        if ranges[0].is_some() {
            options.push(TcpOption::SackRange(ranges));
        }
        for o in options {
            let mut buf = vec![0u8; o.buffer_len()];
            let rest = o.emit(&mut buf).len();
            prop_assert_eq!(rest, 0);
            let (tail, parsed) = TcpOption::parse(&buf).unwrap();
            prop_assert!(tail.is_empty());
            prop_assert_eq!(parsed, o);
        }
    }

    /// No parser panics on arbitrary bytes (the fuzz targets explore this further).
    #[test]
    fn parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..128), a in addr(), b in addr()) {
        if let Ok(f) = EthernetFrame::new_checked(&data[..]) {
            let _ = EthernetRepr::parse(&f);
            let _ = f.payload();
        }
        if let Ok(p) = ArpPacket::new_checked(&data[..]) {
            let _ = ArpRepr::parse(&p);
        }
        if let Ok(p) = Ipv4Packet::new_checked(&data[..]) {
            let _ = Ipv4Repr::parse(&p);
            let _ = (p.payload(), p.options(), p.frag_offset());
        }
        if let Ok(p) = Icmpv4Packet::new_checked(&data[..]) {
            let _ = Icmpv4Repr::parse(&p);
        }
        if let Ok(p) = UdpPacket::new_checked(&data[..]) {
            let _ = UdpRepr::parse(&p, a, b);
            let _ = p.payload();
        }
        if let Ok(p) = TcpPacket::new_checked(&data[..]) {
            let _ = TcpRepr::parse(&p, a, b, RxChecksum::Trust);
            let _ = (p.payload(), p.options(), p.segment_len());
        }
        let mut opts = &data[..];
        while let Ok((rest, _)) = TcpOption::parse(opts) {
            opts = rest;
        }
    }
}
