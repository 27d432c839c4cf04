//! Real Linux traffic (captured by `scripts/capture-fixtures` in namespaces, checksum offload off)
//! parsed by wire and compared field by field with what tshark reported for the same frames.

use boomerang_wire::{RxChecksum, TxChecksum};
use std::collections::HashMap;
use std::fs::File;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use boomerang_wire::{
    ArpOperation, ArpPacket, ArpRepr, DstUnreachable, Error, EtherType, EthernetFrame,
    EthernetRepr, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Packet, Ipv4Repr, TcpControl,
    TcpPacket, TcpRepr, UdpPacket, UdpRepr,
};
use pcap_file::pcap::PcapReader;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn frames(name: &str) -> Vec<Vec<u8>> {
    let file = File::open(fixture(&format!("{name}.pcap"))).expect("fixture pcap");
    let mut reader = PcapReader::new(file).expect("pcap header");
    let mut out = Vec::new();
    while let Some(packet) = reader.next_packet() {
        let packet = packet.expect("pcap record");
        assert_eq!(
            packet.orig_len as usize,
            packet.data.len(),
            "snaplen cut a frame"
        );
        out.push(packet.data.into_owned());
    }
    out
}

/// One CSV line of tshark output: field name -> occurrences (outer header first).
struct Row(HashMap<String, Vec<String>>);

impl Row {
    fn all(&self, field: &str) -> &[String] {
        self.0.get(field).map(Vec::as_slice).unwrap_or(&[])
    }
    fn nth(&self, field: &str, n: usize) -> Option<&str> {
        self.all(field).get(n).map(String::as_str)
    }
    fn str(&self, field: &str) -> &str {
        self.nth(field, 0)
            .unwrap_or_else(|| panic!("tshark reported no {field}"))
    }
    fn num_nth(&self, field: &str, n: usize) -> u64 {
        let v = self
            .nth(field, n)
            .unwrap_or_else(|| panic!("tshark reported no {field}[{n}]"));
        parse_num(v)
    }
    fn num(&self, field: &str) -> u64 {
        self.num_nth(field, 0)
    }
    fn has(&self, field: &str) -> bool {
        !self.all(field).is_empty()
    }
}

fn parse_num(v: &str) -> u64 {
    match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).unwrap(),
        None => v.parse().unwrap_or_else(|_| panic!("not a number: {v}")),
    }
}

fn rows(name: &str) -> Vec<Row> {
    let text = std::fs::read_to_string(fixture(&format!("{name}.csv"))).expect("fixture csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("csv header").split(',').collect();
    lines
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            assert_eq!(cells.len(), header.len(), "csv line {line}");
            Row(header
                .iter()
                .zip(cells)
                .filter(|(_, c)| !c.is_empty())
                .map(|(h, c)| (h.to_string(), c.split(';').map(str::to_string).collect()))
                .collect())
        })
        .collect()
}

/// What was checked, so each fixture test can assert it covered what it is about.
#[derive(Default, Debug)]
struct Seen {
    arp: Vec<ArpOperation>,
    fragments: usize,
    icmp: Vec<Icmpv4Repr<'static>>,
    udp: usize,
    tcp: Vec<(TcpControl, bool, usize)>,
    syn_with_all_options: bool,
    sack_blocks: usize,
}

fn check_ipv4_fields(row: &Row, n: usize, p: &Ipv4Packet<&[u8]>) {
    assert_eq!(u64::from(p.version()), row.num_nth("ip.version", n));
    assert_eq!(u64::from(p.header_len()), row.num_nth("ip.hdr_len", n));
    assert_eq!(u64::from(p.dscp()), row.num_nth("ip.dsfield.dscp", n));
    assert_eq!(u64::from(p.ecn()), row.num_nth("ip.dsfield.ecn", n));
    assert_eq!(u64::from(p.total_len()), row.num_nth("ip.len", n));
    assert_eq!(u64::from(p.ident()), row.num_nth("ip.id", n));
    assert_eq!(u64::from(p.dont_frag()), row.num_nth("ip.flags.df", n));
    assert_eq!(u64::from(p.more_frags()), row.num_nth("ip.flags.mf", n));
    // tshark 4.0 reports the offset field in 8-byte units; ours is in bytes.
    assert_eq!(
        u64::from(p.frag_offset()),
        row.num_nth("ip.frag_offset", n) * 8
    );
    assert_eq!(u64::from(p.ttl()), row.num_nth("ip.ttl", n));
    assert_eq!(
        u64::from(u8::from(p.protocol())),
        row.num_nth("ip.proto", n)
    );
    assert_eq!(u64::from(p.checksum()), row.num_nth("ip.checksum", n));
    assert_eq!(p.src_addr().to_string(), row.nth("ip.src", n).unwrap());
    assert_eq!(p.dst_addr().to_string(), row.nth("ip.dst", n).unwrap());
}

/// Fields of the header quoted in an ICMP error, against tshark's second IP occurrence.
fn check_quoted(row: &Row, header: &Ipv4Repr) {
    assert_eq!(header.src_addr.to_string(), row.nth("ip.src", 1).unwrap());
    assert_eq!(header.dst_addr.to_string(), row.nth("ip.dst", 1).unwrap());
    assert_eq!(u64::from(header.ttl), row.num_nth("ip.ttl", 1));
    assert_eq!(
        u64::from(u8::from(header.protocol)),
        row.num_nth("ip.proto", 1)
    );
    assert_eq!(header.payload_len as u64 + 20, row.num_nth("ip.len", 1));
    assert_eq!(u64::from(header.ident), row.num_nth("ip.id", 1));
    assert_eq!(u64::from(header.dont_frag), row.num_nth("ip.flags.df", 1));
    assert_eq!(u64::from(header.dscp), row.num_nth("ip.dsfield.dscp", 1));
}

fn check_tcp(row: &Row, ip: &Ipv4Repr, payload: &[u8], seen: &mut Seen) {
    let p = TcpPacket::new_checked(payload).expect("tcp view");
    assert_eq!(u64::from(p.src_port()), row.num("tcp.srcport"));
    assert_eq!(u64::from(p.dst_port()), row.num("tcp.dstport"));
    assert_eq!(u64::from(p.seq_number().0), row.num("tcp.seq_raw"));
    assert_eq!(u64::from(p.ack_number().0), row.num("tcp.ack_raw"));
    assert_eq!(u64::from(p.header_len()), row.num("tcp.hdr_len"));
    assert_eq!(u64::from(p.flags().bits()), row.num("tcp.flags"));
    assert_eq!(u64::from(p.window_len()), row.num("tcp.window_size_value"));
    assert_eq!(u64::from(p.checksum()), row.num("tcp.checksum"));
    assert_eq!(
        row.str("tcp.checksum.status"),
        "1",
        "tshark: tcp checksum good"
    );
    assert!(p.verify_checksum(ip.src_addr, ip.dst_addr));
    assert_eq!(u64::from(p.urgent_at()), row.num("tcp.urgent_pointer"));
    assert_eq!(p.payload().len() as u64, row.num("tcp.len"));

    let repr = TcpRepr::parse(&p, ip.src_addr, ip.dst_addr, RxChecksum::Verify).expect("tcp repr");
    assert_eq!(
        repr.max_seg_size.map(u64::from),
        row.has("tcp.options.mss_val")
            .then(|| row.num("tcp.options.mss_val"))
    );
    assert_eq!(
        repr.window_scale.map(u64::from),
        row.has("tcp.options.wscale.shift")
            .then(|| row.num("tcp.options.wscale.shift"))
    );
    assert_eq!(repr.sack_permitted, row.has("tcp.options.sack_perm"));
    assert_eq!(
        repr.timestamp.map(|(a, b)| (u64::from(a), u64::from(b))),
        row.has("tcp.options.timestamp.tsval").then(|| (
            row.num("tcp.options.timestamp.tsval"),
            row.num("tcp.options.timestamp.tsecr")
        ))
    );
    let sack: Vec<(u64, u64)> = repr
        .sack_ranges
        .iter()
        .flatten()
        .map(|&(l, r)| (u64::from(l), u64::from(r)))
        .collect();
    let tshark_sack: Vec<(u64, u64)> = (0..row.all("tcp.options.sack_le").len())
        .map(|i| {
            (
                row.num_nth("tcp.options.sack_le", i),
                row.num_nth("tcp.options.sack_re", i),
            )
        })
        .collect();
    assert_eq!(sack, tshark_sack, "SACK blocks");
    seen.sack_blocks = seen.sack_blocks.max(sack.len());
    assert_eq!(repr.ack_number.is_some(), p.ack());
    assert_eq!(repr.payload, p.payload());
    if repr.control == TcpControl::Syn
        && repr.max_seg_size.is_some()
        && repr.window_scale.is_some()
        && repr.sack_permitted
        && repr.timestamp.is_some()
    {
        seen.syn_with_all_options = true;
    }

    // Emitting the parsed representation reproduces Linux's segment byte for byte.
    let mut again = vec![0u8; repr.buffer_len()];
    repr.emit(
        &mut TcpPacket::new_unchecked(&mut again[..]),
        ip.src_addr,
        ip.dst_addr,
        TxChecksum::Compute,
    );
    assert_eq!(again, payload, "re-emitted TCP segment differs");
    seen.tcp
        .push((repr.control, repr.ack_number.is_some(), repr.payload.len()));
}

fn check_icmp(row: &Row, payload: &[u8], fragment: bool, seen: &mut Seen) {
    let p = Icmpv4Packet::new_checked(payload).expect("icmp view");
    assert_eq!(u64::from(u8::from(p.msg_type())), row.num("icmp.type"));
    assert_eq!(u64::from(p.msg_code()), row.num("icmp.code"));
    assert_eq!(u64::from(p.checksum()), row.num("icmp.checksum"));
    if fragment {
        // tshark cannot verify a checksum spanning fragments; neither can we.
        assert_eq!(row.str("icmp.checksum.status"), "2");
        assert_eq!(u64::from(p.echo_ident()), row.num("icmp.ident"));
        assert_eq!(u64::from(p.echo_seq_no()), row.num("icmp.seq"));
        return;
    }
    assert_eq!(
        row.str("icmp.checksum.status"),
        "1",
        "tshark: icmp checksum good"
    );
    let repr = Icmpv4Repr::parse(&p).expect("icmp repr");
    match repr {
        Icmpv4Repr::EchoRequest { ident, seq_no, .. }
        | Icmpv4Repr::EchoReply { ident, seq_no, .. } => {
            assert_eq!(u64::from(ident), row.num("icmp.ident"));
            assert_eq!(u64::from(seq_no), row.num("icmp.seq"));
        }
        Icmpv4Repr::DstUnreachable {
            reason,
            next_hop_mtu,
            header,
            data,
        } => {
            check_quoted(row, &header);
            if reason == DstUnreachable::FragRequired {
                assert_eq!(u64::from(next_hop_mtu), row.num("icmp.mtu"));
                assert!(data.len() >= 8);
            }
            if header.protocol == IpProtocol::Udp {
                // The quoted UDP header, as tshark decoded it inside the error.
                assert!(data.len() >= 8);
                let udp = UdpPacket::new_unchecked(&data[..8]);
                assert_eq!(u64::from(udp.src_port()), row.num("udp.srcport"));
                assert_eq!(u64::from(udp.dst_port()), row.num("udp.dstport"));
                assert_eq!(u64::from(udp.len()), row.num("udp.length"));
                assert_eq!(u64::from(udp.checksum()), row.num("udp.checksum"));
            }
        }
        Icmpv4Repr::TimeExceeded { header, data, .. } => {
            check_quoted(row, &header);
            // The quoted echo request: tshark's second ICMP type.
            assert_eq!(
                data.first().map(|&t| u64::from(t)),
                Some(row.num_nth("icmp.type", 1))
            );
        }
    }
    // Re-emitting gives back the kernel's bytes (quoted headers without options included).
    let mut again = vec![0u8; repr.buffer_len()];
    repr.emit(&mut Icmpv4Packet::new_unchecked(&mut again[..]));
    assert_eq!(again, payload, "re-emitted ICMP message differs");
    seen.icmp.push(leak(repr));
}

/// Keeps a parsed representation for the coverage assertions (test only).
fn leak(repr: Icmpv4Repr<'_>) -> Icmpv4Repr<'static> {
    let own = |d: &[u8]| -> &'static [u8] { Box::leak(d.to_vec().into_boxed_slice()) };
    match repr {
        Icmpv4Repr::EchoRequest {
            ident,
            seq_no,
            data,
        } => Icmpv4Repr::EchoRequest {
            ident,
            seq_no,
            data: own(data),
        },
        Icmpv4Repr::EchoReply {
            ident,
            seq_no,
            data,
        } => Icmpv4Repr::EchoReply {
            ident,
            seq_no,
            data: own(data),
        },
        Icmpv4Repr::DstUnreachable {
            reason,
            next_hop_mtu,
            header,
            data,
        } => Icmpv4Repr::DstUnreachable {
            reason,
            next_hop_mtu,
            header,
            data: own(data),
        },
        Icmpv4Repr::TimeExceeded {
            reason,
            header,
            data,
        } => Icmpv4Repr::TimeExceeded {
            reason,
            header,
            data: own(data),
        },
    }
}

/// Parses every frame of fixture `name` and compares it with tshark's fields.
fn check_fixture(name: &str) -> Seen {
    let frames = frames(name);
    let rows = rows(name);
    assert_eq!(frames.len(), rows.len(), "{name}: frame count");
    assert!(!frames.is_empty(), "{name}: empty capture");
    let mut seen = Seen::default();
    for (i, (frame, row)) in frames.iter().zip(&rows).enumerate() {
        assert_eq!(row.num("frame.number"), i as u64 + 1);
        assert_eq!(row.num("frame.len"), frame.len() as u64);
        let eth = EthernetFrame::new_checked(&frame[..]).expect("ethernet view");
        let eth_repr = EthernetRepr::parse(&eth).unwrap();
        assert_eq!(eth_repr.dst_addr.to_string(), row.str("eth.dst"));
        assert_eq!(eth_repr.src_addr.to_string(), row.str("eth.src"));
        assert_eq!(
            u64::from(u16::from(eth_repr.ethertype)),
            row.num("eth.type")
        );
        match eth_repr.ethertype {
            EtherType::Arp => {
                let p = ArpPacket::new_checked(eth.payload()).expect("arp view");
                let arp = ArpRepr::parse(&p).expect("arp repr");
                assert_eq!(u64::from(u16::from(arp.operation)), row.num("arp.opcode"));
                assert_eq!(
                    arp.source_hardware_addr.to_string(),
                    row.str("arp.src.hw_mac")
                );
                assert_eq!(
                    arp.source_protocol_addr.to_string(),
                    row.str("arp.src.proto_ipv4")
                );
                assert_eq!(
                    arp.target_hardware_addr.to_string(),
                    row.str("arp.dst.hw_mac")
                );
                assert_eq!(
                    arp.target_protocol_addr.to_string(),
                    row.str("arp.dst.proto_ipv4")
                );
                let mut again = vec![0u8; arp.buffer_len()];
                arp.emit(&mut ArpPacket::new_unchecked(&mut again[..]));
                assert_eq!(&again[..], &eth.payload()[..arp.buffer_len()]);
                seen.arp.push(arp.operation);
            }
            EtherType::Ipv4 => {
                let p = Ipv4Packet::new_checked(eth.payload()).expect("ipv4 view");
                check_ipv4_fields(row, 0, &p);
                assert_eq!(
                    row.str("ip.checksum.status"),
                    "1",
                    "tshark: ip checksum good"
                );
                assert!(p.verify_checksum());
                let fragment = p.more_frags() || p.frag_offset() != 0;
                if fragment {
                    assert_eq!(Ipv4Repr::parse(&p), Err(Error::Fragmented));
                    seen.fragments += 1;
                    if p.frag_offset() == 0 && p.protocol() == IpProtocol::Icmp {
                        check_icmp(row, p.payload(), true, &mut seen);
                    }
                    continue;
                }
                let ip = Ipv4Repr::parse(&p).expect("ipv4 repr");
                let mut again = vec![0u8; ip.buffer_len()];
                ip.emit(
                    &mut Ipv4Packet::new_unchecked(&mut again[..]),
                    TxChecksum::Compute,
                );
                assert_eq!(
                    &again[..],
                    &eth.payload()[..20],
                    "re-emitted IPv4 header differs"
                );
                match ip.protocol {
                    IpProtocol::Icmp => check_icmp(row, p.payload(), false, &mut seen),
                    IpProtocol::Tcp => check_tcp(row, &ip, p.payload(), &mut seen),
                    IpProtocol::Udp => {
                        let u = UdpPacket::new_checked(p.payload()).expect("udp view");
                        assert_eq!(u64::from(u.src_port()), row.num("udp.srcport"));
                        assert_eq!(u64::from(u.dst_port()), row.num("udp.dstport"));
                        assert_eq!(u64::from(u.len()), row.num("udp.length"));
                        assert_eq!(u64::from(u.checksum()), row.num("udp.checksum"));
                        UdpRepr::parse(&u, ip.src_addr, ip.dst_addr).expect("udp repr");
                        seen.udp += 1;
                    }
                    IpProtocol::Unknown(p) => panic!("unexpected protocol {p}"),
                }
            }
            EtherType::Unknown(t) => panic!("unexpected ethertype {t:#06x}"),
        }
    }
    seen
}

#[test]
fn arp_request_and_reply() {
    let seen = check_fixture("arp");
    assert_eq!(seen.arp, [ArpOperation::Request, ArpOperation::Reply]);
}

#[test]
fn ping_echo_request_and_reply() {
    let seen = check_fixture("ping");
    let requests = seen
        .icmp
        .iter()
        .filter(|r| matches!(r, Icmpv4Repr::EchoRequest { .. }))
        .count();
    let replies = seen
        .icmp
        .iter()
        .filter(|r| matches!(r, Icmpv4Repr::EchoReply { .. }))
        .count();
    assert_eq!((requests, replies), (3, 3));
}

#[test]
fn fragmented_ping() {
    let seen = check_fixture("frag");
    assert_eq!(seen.fragments, 6, "3000-byte ping: 3 fragments each way");
}

#[test]
fn icmp_errors_quote_the_original_header() {
    let seen = check_fixture("icmp-errors");
    let kinds: Vec<&str> = seen
        .icmp
        .iter()
        .filter_map(|r| match r {
            Icmpv4Repr::TimeExceeded { .. } => Some("time exceeded"),
            Icmpv4Repr::DstUnreachable {
                reason: DstUnreachable::FragRequired,
                next_hop_mtu: 1400,
                ..
            } => Some("frag needed 1400"),
            Icmpv4Repr::DstUnreachable {
                reason: DstUnreachable::PortUnreachable,
                ..
            } => Some("port unreachable"),
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds,
        ["time exceeded", "frag needed 1400", "port unreachable"]
    );
    assert_eq!(seen.udp, 1);
}

#[test]
fn http_exchange_with_syn_options_data_and_fin() {
    let seen = check_fixture("http");
    assert!(
        seen.syn_with_all_options,
        "SYN with MSS, SACK-permitted, timestamps, window scale"
    );
    assert!(
        seen.tcp
            .iter()
            .any(|&(c, ack, _)| c == TcpControl::Syn && ack),
        "SYN-ACK"
    );
    assert!(seen.tcp.iter().any(|&(_, _, len)| len > 0), "data segments");
    assert_eq!(
        seen.tcp
            .iter()
            .filter(|&&(c, _, _)| c == TcpControl::Fin)
            .count(),
        2,
        "FIN both ways"
    );
}

#[test]
fn rst_from_closed_port() {
    let seen = check_fixture("rst");
    assert_eq!(seen.tcp.len(), 2);
    assert_eq!(seen.tcp[0].0, TcpControl::Syn);
    assert_eq!(seen.tcp[1], (TcpControl::Rst, true, 0));
}

#[test]
fn corrupted_fixture_frames_are_rejected() {
    // Every frame of the HTTP capture with one bit flipped in the TCP header no longer verifies.
    for frame in frames("http") {
        let mut bad = frame.clone();
        let at = 14 + 20 + 4; // sequence number
        bad[at] ^= 0x01;
        let ip = Ipv4Packet::new_checked(&bad[14..]).unwrap();
        let repr = Ipv4Repr::parse(&ip).unwrap();
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        let src: Ipv4Addr = repr.src_addr;
        assert_eq!(
            TcpRepr::parse(&tcp, src, repr.dst_addr, RxChecksum::Verify),
            Err(Error::Checksum)
        );
    }
}

#[test]
fn sack_blocks_from_a_lossy_download() {
    let seen = check_fixture("sack");
    assert!(seen.tcp.len() > 20, "client ACKs of a 200 KB download");
    assert!(
        seen.sack_blocks >= 2,
        "ACKs carrying several SACK blocks (most seen: {})",
        seen.sack_blocks
    );
}
