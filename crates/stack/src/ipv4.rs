//! IPv4 (RFC 791) for the shard: receive-side validation with a drop reason for every failure,
//! and building the headers of what we send (DF set, software checksum).

use boomerang_wire::TxChecksum;
use std::net::Ipv4Addr;

use boomerang_wire::{
    Error as WireError, EtherType, EthernetAddress, EthernetFrame, EthernetRepr, IpProtocol,
    Ipv4Cidr, Ipv4Packet, Ipv4Repr,
};

/// Bytes of Ethernet + IPv4 headers in every frame we build.
pub const FRAME_HEADERS: usize = boomerang_wire::ethernet::HEADER_LEN + IPV4_HEADER;
/// Length of the IPv4 header we emit (no options).
pub const IPV4_HEADER: usize = boomerang_wire::ipv4::HEADER_LEN;
/// Time to live of packets we send (RFC 1700 / Linux default).
pub const TTL: u8 = boomerang_wire::ipv4::DEFAULT_TTL;

/// Why a received IPv4 packet was dropped (each maps to one `ShardStats` counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Shorter than its header or total length.
    Truncated,
    /// Bad version, IHL or total length.
    Malformed,
    /// Header checksum failed.
    Checksum,
    /// Not addressed to our unicast address.
    NotOurs,
    /// Source is broadcast, multicast, loopback, unspecified or the subnet broadcast.
    BadSource,
}

/// The parts of a valid received packet the upper layers need.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    /// The header fields.
    pub src: Ipv4Addr,
    /// Destination (always our address).
    pub dst: Ipv4Addr,
    /// Upper-layer protocol.
    pub protocol: IpProtocol,
    /// Identification (for reassembly).
    pub ident: u16,
    /// More-fragments flag.
    pub more_frags: bool,
    /// Fragment offset in bytes.
    pub frag_offset: usize,
    /// The payload (trimmed to the total length; link padding removed).
    pub payload: &'a [u8],
    /// The whole packet, header included (quoted by ICMP errors).
    pub packet: &'a [u8],
}

impl Received<'_> {
    /// Whether this packet is a fragment (RFC 791 §3.2).
    pub fn is_fragment(&self) -> bool {
        self.more_frags || self.frag_offset != 0
    }
}

/// Validates a received packet (RFC 1122 §3.2.1): version, IHL, lengths against the frame,
/// header checksum, destination = `ours`, and a plausible source.
pub fn validate<'a>(data: &'a [u8], ours: &Ipv4Cidr) -> Result<Received<'a>, DropReason> {
    let packet = Ipv4Packet::new_checked(data).map_err(|e| match e {
        WireError::Truncated => DropReason::Truncated,
        _ => DropReason::Malformed,
    })?;
    if packet.version() != 4 {
        return Err(DropReason::Malformed);
    }
    if !packet.verify_checksum() {
        return Err(DropReason::Checksum);
    }
    let dst = packet.dst_addr();
    if dst != ours.address {
        return Err(DropReason::NotOurs);
    }
    let src = packet.src_addr();
    if src.is_broadcast()
        || src.is_multicast()
        || src.is_loopback()
        || src.is_unspecified()
        || (ours.prefix_len < 31 && src == ours.broadcast())
    {
        return Err(DropReason::BadSource);
    }
    let total = usize::from(packet.total_len());
    let packet_bytes = data.get(..total).ok_or(DropReason::Truncated)?;
    Ok(Received {
        src,
        dst,
        protocol: packet.protocol(),
        ident: packet.ident(),
        more_frags: packet.more_frags(),
        frag_offset: usize::from(packet.frag_offset()),
        payload: Ipv4Packet::new_unchecked(packet_bytes).payload(),
        packet: packet_bytes,
    })
}

/// Writes Ethernet + IPv4 headers for a `payload_len`-byte payload into the front of `buf`
/// (which must hold at least [`FRAME_HEADERS`] bytes) and returns the frame length.
#[allow(clippy::too_many_arguments)]
pub fn emit_headers(
    buf: &mut [u8],
    src_mac: EthernetAddress,
    dst_mac: EthernetAddress,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: IpProtocol,
    payload_len: usize,
    ident: u16,
) -> usize {
    let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
    EthernetRepr {
        src_addr: src_mac,
        dst_addr: dst_mac,
        ethertype: EtherType::Ipv4,
    }
    .emit(&mut frame);
    let mut ip = Ipv4Packet::new_unchecked(frame.payload_mut());
    Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        protocol,
        payload_len,
        ttl: TTL,
        dscp: 0,
        ecn: 0,
        ident,
        dont_frag: true,
    }
    .emit(&mut ip, TxChecksum::Compute);
    FRAME_HEADERS + payload_len
}
