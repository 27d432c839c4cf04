//! Fuzz: a whole received frame walked the way the stack does (Ethernet -> ARP | IPv4 ->
//! ICMP | UDP | TCP); nothing panics at any layer.
#![no_main]
use boomerang_wire::RxChecksum;
use boomerang_wire::{
    ArpPacket, ArpRepr, EtherType, EthernetFrame, EthernetRepr, Icmpv4Packet, Icmpv4Repr,
    IpProtocol, Ipv4Packet, Ipv4Repr, TcpPacket, TcpRepr, UdpPacket, UdpRepr,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = EthernetFrame::new_checked(data) else {
        return;
    };
    let Ok(eth) = EthernetRepr::parse(&frame) else {
        return;
    };
    match eth.ethertype {
        EtherType::Arp => {
            if let Ok(p) = ArpPacket::new_checked(frame.payload()) {
                let _ = ArpRepr::parse(&p);
            }
        }
        EtherType::Ipv4 => {
            let Ok(p) = Ipv4Packet::new_checked(frame.payload()) else {
                return;
            };
            let Ok(ip) = Ipv4Repr::parse_unverified(&p) else {
                return;
            };
            let payload = p.payload();
            match ip.protocol {
                IpProtocol::Icmp => {
                    if let Ok(icmp) = Icmpv4Packet::new_checked(payload) {
                        let _ = Icmpv4Repr::parse(&icmp);
                    }
                }
                IpProtocol::Udp => {
                    if let Ok(udp) = UdpPacket::new_checked(payload) {
                        let _ = UdpRepr::parse(&udp, ip.src_addr, ip.dst_addr);
                    }
                }
                IpProtocol::Tcp => {
                    if let Ok(tcp) = TcpPacket::new_checked(payload) {
                        let _ = TcpRepr::parse(&tcp, ip.src_addr, ip.dst_addr, RxChecksum::Trust);
                    }
                }
                IpProtocol::Unknown(_) => {}
            }
        }
        EtherType::Unknown(_) => {}
    }
});
