//! Frames emitted by wire are accepted by the real Linux kernel: an ARP request, an ICMP echo
//! request, a TCP SYN to a closed port and a UDP datagram to a closed port are sent through an
//! AF_PACKET socket (from python3: raw sockets stay out of this crate's Rust code) into
//! a namespace whose kernel answers with an ARP reply, an echo reply, a RST and a port
//! unreachable, which wire parses.
//! The kernel drops segments with bad checksums silently, so each answer proves our checksums.

use boomerang_wire::{RxChecksum, TxChecksum};
use std::process::Stdio;

use boomerang_nic::netns::{self, Pair};
use boomerang_wire::{
    ArpOperation, ArpPacket, ArpRepr, DstUnreachable, EtherType, EthernetAddress, EthernetFrame,
    EthernetRepr, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Packet, Ipv4Repr, SeqNumber,
    TcpControl, TcpPacket, TcpRepr, UdpPacket, UdpRepr,
};

/// How long the python helper waits for the kernel's answers.
const ANSWER_TIMEOUT_SECS: u32 = 5;

/// Sends the frames given in hex on `ifname` and prints each incoming frame (any EtherType) in hex
/// until `count` arrived or the deadline passed.
const PY_SEND_RECV: &str = r#"
import select, socket, sys, time
ifname, count, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind((ifname, 0))
for frame in sys.argv[4:]:
    s.send(bytes.fromhex(frame))
deadline = time.monotonic() + timeout
got = 0
while got < count:
    left = deadline - time.monotonic()
    if left <= 0 or not select.select([s], [], [], left)[0]:
        break
    data, addr = s.recvfrom(65535)
    if addr[2] == socket.PACKET_OUTGOING:
        continue
    print(data.hex(), flush=True)
    got += 1
"#;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex from python"))
        .collect()
}

fn mac_of(ns: &netns::Netns, ifname: &str) -> EthernetAddress {
    let text = ns
        .run("cat", &[format!("/sys/class/net/{ifname}/address")])
        .expect("read mac");
    text.trim().parse().expect("mac address")
}

/// Builds Ethernet + IPv4 around a transport payload written by `fill`.
fn frame(
    src_mac: EthernetAddress,
    dst_mac: EthernetAddress,
    ip: Ipv4Repr,
    fill: impl FnOnce(&mut [u8]),
) -> Vec<u8> {
    let eth = EthernetRepr {
        src_addr: src_mac,
        dst_addr: dst_mac,
        ethertype: EtherType::Ipv4,
    };
    let mut buf = vec![0u8; eth.buffer_len() + ip.buffer_len() + ip.payload_len];
    let mut f = EthernetFrame::new_unchecked(&mut buf[..]);
    eth.emit(&mut f);
    let mut p = Ipv4Packet::new_unchecked(f.payload_mut());
    ip.emit(&mut p, TxChecksum::Compute);
    fill(p.payload_mut());
    buf
}

#[test]
fn kernel_answers_frames_emitted_by_wire() {
    boomerang_nic::need_root!();
    let pair = Pair::new("wk", 1, false).expect("namespace pair");
    let ours = Pair::SERVER_ADDR;
    let kernel = Pair::CLIENT_ADDR;
    let our_mac = mac_of(&pair.server, Pair::IFNAME);
    let kernel_mac = mac_of(&pair.client, Pair::IFNAME);
    // Our namespace's kernel has no address, so the peer cannot ARP for us: tell it our MAC.
    pair.client
        .ip(&[
            "neigh",
            "replace",
            &ours.to_string(),
            "lladdr",
            &our_mac.to_string(),
            "dev",
            Pair::IFNAME,
        ])
        .expect("static neighbour");

    let ip = |protocol, payload_len, ident| Ipv4Repr {
        src_addr: ours,
        dst_addr: kernel,
        protocol,
        payload_len,
        ttl: 64,
        dscp: 0,
        ecn: 0,
        ident,
        dont_frag: true,
    };

    let arp = ArpRepr {
        operation: ArpOperation::Request,
        source_hardware_addr: our_mac,
        source_protocol_addr: ours,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: kernel,
    };
    let arp_frame = {
        let eth = EthernetRepr {
            src_addr: our_mac,
            dst_addr: EthernetAddress::BROADCAST,
            ethertype: EtherType::Arp,
        };
        let mut buf = vec![0u8; eth.buffer_len() + arp.buffer_len()];
        let mut f = EthernetFrame::new_unchecked(&mut buf[..]);
        eth.emit(&mut f);
        arp.emit(&mut ArpPacket::new_unchecked(f.payload_mut()));
        buf
    };

    let echo_data = b"boomerang wire echo payload";
    let echo = Icmpv4Repr::EchoRequest {
        ident: 0xb00b,
        seq_no: 7,
        data: echo_data,
    };
    let echo_frame = frame(
        our_mac,
        kernel_mac,
        ip(IpProtocol::Icmp, echo.buffer_len(), 1),
        |b| echo.emit(&mut Icmpv4Packet::new_unchecked(b)),
    );

    let syn = TcpRepr {
        src_port: 40000,
        dst_port: 9,
        control: TcpControl::Syn,
        seq_number: SeqNumber(0xfffffff0),
        window_len: 64240,
        max_seg_size: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        timestamp: Some((1, 0)),
        ..TcpRepr::default()
    };
    let syn_frame = frame(
        our_mac,
        kernel_mac,
        ip(IpProtocol::Tcp, syn.buffer_len(), 2),
        |b| {
            syn.emit(
                &mut TcpPacket::new_unchecked(b),
                ours,
                kernel,
                TxChecksum::Compute,
            )
        },
    );

    let udp = UdpRepr {
        src_port: 40001,
        dst_port: 9999,
    };
    let udp_data = b"odd-length datagram";
    let udp_frame = frame(
        our_mac,
        kernel_mac,
        ip(IpProtocol::Udp, udp.buffer_len(udp_data.len()), 3),
        |b| {
            udp.emit(
                &mut UdpPacket::new_unchecked(b),
                ours,
                kernel,
                udp_data.len(),
                |d| d.copy_from_slice(udp_data),
            )
        },
    );

    let out = pair
        .server
        .command("python3")
        .args([
            "-c",
            PY_SEND_RECV,
            Pair::IFNAME,
            "4",
            &ANSWER_TIMEOUT_SECS.to_string(),
            &hex(&arp_frame),
            &hex(&echo_frame),
            &hex(&syn_frame),
            &hex(&udp_frame),
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "python helper failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<Vec<u8>> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(unhex)
        .collect();

    let (mut arp_reply, mut echo_reply, mut rst, mut unreachable) = (false, false, false, false);
    for answer in &answers {
        let f = EthernetFrame::new_checked(&answer[..]).expect("ethernet");
        let eth = EthernetRepr::parse(&f).unwrap();
        assert_eq!((eth.src_addr, eth.dst_addr), (kernel_mac, our_mac));
        if eth.ethertype == EtherType::Arp {
            let reply = ArpRepr::parse(&ArpPacket::new_checked(f.payload()).unwrap()).unwrap();
            assert_eq!(
                reply,
                ArpRepr {
                    operation: ArpOperation::Reply,
                    source_hardware_addr: kernel_mac,
                    source_protocol_addr: kernel,
                    target_hardware_addr: our_mac,
                    target_protocol_addr: ours,
                }
            );
            arp_reply = true;
            continue;
        }
        assert_eq!(eth.ethertype, EtherType::Ipv4);
        let p = Ipv4Packet::new_checked(f.payload()).expect("ipv4");
        let ip = Ipv4Repr::parse(&p).expect("ipv4 repr (checksum verified)");
        assert_eq!((ip.src_addr, ip.dst_addr), (kernel, ours));
        match ip.protocol {
            IpProtocol::Icmp => {
                let icmp = Icmpv4Packet::new_checked(p.payload()).unwrap();
                match Icmpv4Repr::parse(&icmp).expect("icmp repr") {
                    Icmpv4Repr::EchoReply {
                        ident,
                        seq_no,
                        data,
                    } => {
                        assert_eq!((ident, seq_no, data), (0xb00b, 7, &echo_data[..]));
                        echo_reply = true;
                    }
                    Icmpv4Repr::DstUnreachable {
                        reason: DstUnreachable::PortUnreachable,
                        header,
                        data,
                        ..
                    } => {
                        assert_eq!(header.protocol, IpProtocol::Udp);
                        assert_eq!((header.src_addr, header.dst_addr), (ours, kernel));
                        let quoted = UdpPacket::new_unchecked(&data[..8]);
                        assert_eq!((quoted.src_port(), quoted.dst_port()), (40001, 9999));
                        unreachable = true;
                    }
                    other => panic!("unexpected ICMP answer {other:?}"),
                }
            }
            IpProtocol::Tcp => {
                let t = TcpPacket::new_checked(p.payload()).unwrap();
                let r = TcpRepr::parse(&t, ip.src_addr, ip.dst_addr, RxChecksum::Verify)
                    .expect("tcp repr");
                assert_eq!(r.control, TcpControl::Rst);
                assert_eq!((r.src_port, r.dst_port), (9, 40000));
                // RFC 9293 §3.10.7.1: the RST acknowledges SEG.SEQ + SEG.LEN (wrapping here).
                assert_eq!(r.ack_number, Some(SeqNumber(0xfffffff1)));
                rst = true;
            }
            other => panic!("unexpected protocol {other}"),
        }
    }
    assert!(arp_reply, "no ARP reply among {} answers", answers.len());
    assert!(echo_reply, "no echo reply among {} answers", answers.len());
    assert!(rst, "no RST among {} answers", answers.len());
    assert!(
        unreachable,
        "no port unreachable among {} answers",
        answers.len()
    );
}
