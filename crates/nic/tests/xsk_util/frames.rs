//! Builds Ethernet/IPv4/UDP frames with full checksums (the kernel peer verifies them).

use boomerang_wire::TxChecksum;
use std::net::Ipv4Addr;

use boomerang_wire::{
    EtherType, EthernetAddress, EthernetFrame, EthernetRepr, IpProtocol, Ipv4Packet, Ipv4Repr,
    UdpPacket,
};

/// Ethernet + IPv4 + UDP header bytes.
pub const UDP_OVERHEAD: usize = 14 + 20 + 8;

/// Writes a UDP datagram frame into `buf` and returns its length (0 if it does not fit).
#[allow(clippy::too_many_arguments)]
pub fn udp_frame(
    buf: &mut [u8],
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    src_port: u16,
    dst_port: u16,
    payload: &[u8],
) -> usize {
    let len = UDP_OVERHEAD + payload.len();
    let Some(buf) = buf.get_mut(..len) else {
        return 0;
    };
    let mut eth = EthernetFrame::new_unchecked(&mut buf[..]);
    EthernetRepr {
        src_addr: EthernetAddress(src_mac),
        dst_addr: EthernetAddress(dst_mac),
        ethertype: EtherType::Ipv4,
    }
    .emit(&mut eth);
    let mut ip = Ipv4Packet::new_unchecked(eth.payload_mut());
    Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: IpProtocol::Udp,
        payload_len: 8 + payload.len(),
        ttl: 64,
        dscp: 0,
        ecn: 0,
        ident: 0,
        dont_frag: true,
    }
    .emit(&mut ip, TxChecksum::Compute);
    let mut udp = UdpPacket::new_unchecked(ip.payload_mut());
    udp.set_src_port(src_port);
    udp.set_dst_port(dst_port);
    udp.set_len((8 + payload.len()) as u16);
    udp.payload_mut().copy_from_slice(payload);
    udp.fill_checksum(src, dst);
    len
}
