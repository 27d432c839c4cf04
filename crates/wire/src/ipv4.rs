//! IPv4 packets (RFC 791): a zero-copy view exposing every header field (fragments included, so
//! the stack can reassemble), a representation for unfragmented packets, and CIDR prefixes.
//!
//! Invariant: once [`Ipv4Packet::new_checked`] succeeded, no accessor panics: the header length
//! (IHL, options included) and the total length were both checked against the buffer.

use crate::checksum::TxChecksum;
use core::fmt;
use core::str::FromStr;
use std::net::Ipv4Addr;

use crate::checksum;
use crate::{Error, Result};

/// Length of an IPv4 header without options.
pub const HEADER_LEN: usize = 20;
/// Largest IPv4 header (IHL 15), options included.
pub const MAX_HEADER_LEN: usize = 60;
/// The TTL a representation gets by default (RFC 1700 recommendation, Linux default).
pub const DEFAULT_TTL: u8 = 64;

mod field {
    use core::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC_ADDR: Range<usize> = 12..16;
    pub const DST_ADDR: Range<usize> = 16..20;
}

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// The IPv4 protocol field (IANA "Assigned Internet Protocol Numbers").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpProtocol {
    /// 1, ICMP (RFC 792).
    Icmp,
    /// 6, TCP (RFC 9293).
    Tcp,
    /// 17, UDP (RFC 768).
    Udp,
    /// Any other protocol number.
    Unknown(u8),
}

impl From<u8> for IpProtocol {
    fn from(v: u8) -> IpProtocol {
        match v {
            1 => IpProtocol::Icmp,
            6 => IpProtocol::Tcp,
            17 => IpProtocol::Udp,
            other => IpProtocol::Unknown(other),
        }
    }
}

impl From<IpProtocol> for u8 {
    fn from(v: IpProtocol) -> u8 {
        match v {
            IpProtocol::Icmp => 1,
            IpProtocol::Tcp => 6,
            IpProtocol::Udp => 17,
            IpProtocol::Unknown(other) => other,
        }
    }
}

impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpProtocol::Icmp => write!(f, "ICMP"),
            IpProtocol::Tcp => write!(f, "TCP"),
            IpProtocol::Udp => write!(f, "UDP"),
            IpProtocol::Unknown(v) => write!(f, "proto {v}"),
        }
    }
}

/// A zero-copy view of an IPv4 packet held in `T`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn addr(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps `buffer` without checking: accessors may panic if it is inconsistent.
    pub const fn new_unchecked(buffer: T) -> Ipv4Packet<T> {
        Ipv4Packet { buffer }
    }
    /// Wraps `buffer` after [`check_len`](Self::check_len); accessors then never panic.
    pub fn new_checked(buffer: T) -> Result<Ipv4Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    /// Checks the buffer against the header's own lengths (RFC 791 §3.1):
    /// `Truncated` if it is shorter than 20 bytes, than IHL·4 or than the total length;
    /// `Malformed` if IHL < 5 or the total length is smaller than the header.
    ///
    /// Bytes beyond the total length (Ethernet padding) are allowed and ignored.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let header_len = usize::from(self.header_len());
        if header_len < HEADER_LEN {
            return Err(Error::Malformed("ipv4 header length"));
        }
        if len < header_len {
            return Err(Error::Truncated);
        }
        let total_len = usize::from(self.total_len());
        if total_len < header_len {
            return Err(Error::Malformed("ipv4 total length"));
        }
        if len < total_len {
            return Err(Error::Truncated);
        }
        Ok(())
    }
    /// Gives back the wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
    /// The version field (4 for IPv4; not checked by the view).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }
    /// Header length in bytes (IHL·4), options included.
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }
    /// Differentiated Services code point (RFC 2474).
    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }
    /// Explicit Congestion Notification bits (RFC 3168).
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 0x03
    }
    /// Total length of the packet (header + data) in bytes.
    pub fn total_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH.start)
    }
    /// Identification, shared by the fragments of one datagram.
    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::IDENT.start)
    }
    fn flags_offset(&self) -> u16 {
        be16(self.buffer.as_ref(), field::FLG_OFF.start)
    }
    /// Don't Fragment flag.
    pub fn dont_frag(&self) -> bool {
        self.flags_offset() & FLAG_DF != 0
    }
    /// More Fragments flag.
    pub fn more_frags(&self) -> bool {
        self.flags_offset() & FLAG_MF != 0
    }
    /// The reserved (evil) bit, which must be zero (RFC 791 §3.1).
    pub fn reserved_flag(&self) -> bool {
        self.flags_offset() & 0x8000 != 0
    }
    /// Fragment offset in BYTES (the field counts 8-byte units).
    pub fn frag_offset(&self) -> u16 {
        (self.flags_offset() & OFFSET_MASK) << 3
    }
    /// True if this packet is a fragment (MF set or non-zero offset).
    pub fn is_fragment(&self) -> bool {
        self.more_frags() || self.frag_offset() != 0
    }
    /// Time to live.
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }
    /// Time to live (alias of [`hop_limit`](Self::hop_limit)).
    pub fn ttl(&self) -> u8 {
        self.hop_limit()
    }
    /// Protocol of the payload.
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::PROTOCOL])
    }
    /// Protocol of the payload (alias of [`next_header`](Self::next_header)).
    pub fn protocol(&self) -> IpProtocol {
        self.next_header()
    }
    /// Header checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM.start)
    }
    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        addr(self.buffer.as_ref(), field::SRC_ADDR.start)
    }
    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        addr(self.buffer.as_ref(), field::DST_ADDR.start)
    }
    /// Header options (between the fixed header and IHL·4; empty for IHL 5). Not interpreted.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.header_len())]
    }
    /// True if the header checksum verifies (RFC 791 §3.1, RFC 1071).
    pub fn verify_checksum(&self) -> bool {
        let h = &self.buffer.as_ref()[..usize::from(self.header_len())];
        checksum::fold(checksum::sum(h)) == 0xffff
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Ipv4Packet<&'a T> {
    /// The payload: from the end of the header to the total length (padding excluded).
    pub fn payload(&self) -> &'a [u8] {
        let b: &'a [u8] = self.buffer.as_ref();
        &b[usize::from(self.header_len())..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets the version field.
    pub fn set_version(&mut self, v: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0x0f) | (v << 4);
    }
    /// Sets the header length in bytes (a multiple of 4, 20..=60).
    pub fn set_header_len(&mut self, len: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0xf0) | ((len / 4) & 0x0f);
    }
    /// Sets the DSCP (6 bits).
    pub fn set_dscp(&mut self, v: u8) {
        let b = &mut self.buffer.as_mut()[field::DSCP_ECN];
        *b = (*b & 0x03) | (v << 2);
    }
    /// Sets the ECN bits (2 bits).
    pub fn set_ecn(&mut self, v: u8) {
        let b = &mut self.buffer.as_mut()[field::DSCP_ECN];
        *b = (*b & 0xfc) | (v & 0x03);
    }
    /// Sets the total length.
    pub fn set_total_len(&mut self, v: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the identification.
    pub fn set_ident(&mut self, v: u16) {
        self.buffer.as_mut()[field::IDENT].copy_from_slice(&v.to_be_bytes());
    }
    fn set_flags_offset(&mut self, v: u16) {
        self.buffer.as_mut()[field::FLG_OFF].copy_from_slice(&v.to_be_bytes());
    }
    /// Clears all three flags (keeps the offset).
    pub fn clear_flags(&mut self) {
        let v = self.flags_offset() & OFFSET_MASK;
        self.set_flags_offset(v);
    }
    /// Sets or clears Don't Fragment.
    pub fn set_dont_frag(&mut self, on: bool) {
        let v = self.flags_offset() & !FLAG_DF;
        self.set_flags_offset(v | if on { FLAG_DF } else { 0 });
    }
    /// Sets or clears More Fragments.
    pub fn set_more_frags(&mut self, on: bool) {
        let v = self.flags_offset() & !FLAG_MF;
        self.set_flags_offset(v | if on { FLAG_MF } else { 0 });
    }
    /// Sets the fragment offset in BYTES (must be a multiple of 8; lower bits are dropped).
    pub fn set_frag_offset(&mut self, bytes: u16) {
        let v = self.flags_offset() & !OFFSET_MASK;
        self.set_flags_offset(v | (bytes >> 3));
    }
    /// Sets the TTL.
    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }
    /// Sets the TTL (alias of [`set_hop_limit`](Self::set_hop_limit)).
    pub fn set_ttl(&mut self, v: u8) {
        self.set_hop_limit(v);
    }
    /// Sets the protocol.
    pub fn set_next_header(&mut self, v: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = u8::from(v);
    }
    /// Sets the protocol (alias of [`set_next_header`](Self::set_next_header)).
    pub fn set_protocol(&mut self, v: IpProtocol) {
        self.set_next_header(v);
    }
    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the source address.
    pub fn set_src_addr(&mut self, v: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&v.octets());
    }
    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, v: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&v.octets());
    }
    /// Computes and stores the header checksum (over IHL·4 bytes).
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(&self.buffer.as_ref()[..usize::from(self.header_len())]);
        self.set_checksum(c);
    }
    /// Options, mutable.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.header_len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
    /// Payload (header end .. total length), mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = usize::from(self.header_len());
        let end = usize::from(self.total_len());
        &mut self.buffer.as_mut()[start..end]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Ipv4Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The header of an unfragmented IPv4 packet, without options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Protocol of the payload.
    pub protocol: IpProtocol,
    /// Payload length in bytes (total length minus header length).
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
    /// DSCP (6 bits).
    pub dscp: u8,
    /// ECN (2 bits).
    pub ecn: u8,
    /// Identification.
    pub ident: u16,
    /// Don't Fragment.
    pub dont_frag: bool,
}

impl Ipv4Repr {
    /// Parses a checked packet: version must be 4, the header checksum must verify, and the packet
    /// must not be a fragment (`Error::Fragmented`; reassemble from the view, RFC 791 §3.2).
    /// Options are skipped (their length was checked by the view).
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>) -> Result<Ipv4Repr> {
        Self::parse_inner(packet, true)
    }

    /// Like [`parse`](Self::parse) but without verifying the header checksum (for tests and for
    /// hardware that already verified it).
    pub fn parse_unverified<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>) -> Result<Ipv4Repr> {
        Self::parse_inner(packet, false)
    }

    fn parse_inner<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>, verify: bool) -> Result<Ipv4Repr> {
        packet.check_len()?;
        if packet.version() != 4 {
            return Err(Error::Malformed("ipv4 version"));
        }
        if verify && !packet.verify_checksum() {
            return Err(Error::Checksum);
        }
        if packet.is_fragment() {
            return Err(Error::Fragmented);
        }
        Ok(Self::from_header(packet))
    }

    fn from_header<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>) -> Ipv4Repr {
        Ipv4Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: usize::from(packet.total_len())
                .saturating_sub(usize::from(packet.header_len())),
            ttl: packet.ttl(),
            dscp: packet.dscp(),
            ecn: packet.ecn(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
        }
    }

    /// Parses the IPv4 header quoted inside an ICMP error (RFC 792): the quoted datagram is cut
    /// short, so only the header itself must be present; its checksum and fragment fields are
    /// not checked. Returns the representation and the header length in bytes.
    pub fn parse_quoted(data: &[u8]) -> Result<(Ipv4Repr, usize)> {
        let packet = Ipv4Packet::new_unchecked(data);
        if data.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if packet.version() != 4 {
            return Err(Error::Malformed("ipv4 version"));
        }
        let header_len = usize::from(packet.header_len());
        if header_len < HEADER_LEN {
            return Err(Error::Malformed("ipv4 header length"));
        }
        if data.len() < header_len {
            return Err(Error::Truncated);
        }
        if usize::from(packet.total_len()) < header_len {
            return Err(Error::Malformed("ipv4 total length"));
        }
        Ok((Self::from_header(&packet), header_len))
    }

    /// Length of the header this representation emits (no options).
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the 20-byte header (IHL 5, no options, not a fragment) and, with
    /// [`TxChecksum::Compute`], the header checksum (else the field is zero). Panics if the buffer is shorter than 20 bytes.
    /// `payload_len` above 65515 is written truncated to 16 bits: callers bound it by the MTU.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Ipv4Packet<T>,
        checksum: TxChecksum,
    ) {
        packet.set_version(4);
        packet.set_header_len(HEADER_LEN as u8);
        packet.set_dscp(self.dscp);
        packet.set_ecn(self.ecn);
        packet.set_total_len((HEADER_LEN + self.payload_len) as u16);
        packet.set_ident(self.ident);
        packet.set_flags_offset(if self.dont_frag { FLAG_DF } else { 0 });
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        if checksum == TxChecksum::Compute {
            packet.fill_checksum();
        } else {
            packet.set_checksum(0);
        }
    }
}

/// An IPv4 address with a prefix length, e.g. `198.18.0.1/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    /// The address (host bits may be set: it is an interface address).
    pub address: Ipv4Addr,
    /// Prefix length, 0..=32.
    pub prefix_len: u8,
}

impl Ipv4Cidr {
    /// Builds a prefix; `Error::Malformed` if `prefix_len > 32`.
    pub fn new(address: Ipv4Addr, prefix_len: u8) -> Result<Ipv4Cidr> {
        if prefix_len > 32 {
            return Err(Error::Malformed("prefix length"));
        }
        Ok(Ipv4Cidr {
            address,
            prefix_len,
        })
    }
    fn mask_bits(&self) -> u32 {
        match self.prefix_len {
            0 => 0,
            n if n >= 32 => u32::MAX,
            n => u32::MAX << (32 - u32::from(n)),
        }
    }
    /// The netmask, e.g. 255.255.255.0 for /24.
    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.mask_bits())
    }
    /// The network address (host bits cleared).
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.address) & self.mask_bits())
    }
    /// The directed broadcast address (host bits set).
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.address) | !self.mask_bits())
    }
    /// True if `addr` lies within the prefix.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        let m = self.mask_bits();
        u32::from(addr) & m == u32::from(self.address) & m
    }
}

impl FromStr for Ipv4Cidr {
    type Err = Error;
    /// Parses `a.b.c.d/n`.
    fn from_str(s: &str) -> Result<Ipv4Cidr> {
        let (a, p) = s.split_once('/').ok_or(Error::Malformed("cidr"))?;
        let address: Ipv4Addr = a.parse().map_err(|_| Error::Malformed("cidr address"))?;
        if p.is_empty() || p.len() > 2 || !p.bytes().all(|c| c.is_ascii_digit()) {
            return Err(Error::Malformed("prefix length"));
        }
        let prefix_len: u8 = p.parse().map_err(|_| Error::Malformed("prefix length"))?;
        Ipv4Cidr::new(address, prefix_len)
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 198.18.0.1 -> 198.18.0.2, ICMP, id 0x1234, DF, TTL 64, 4 payload bytes.
    static PACKET: [u8; 24] = [
        0x45, 0x00, 0x00, 0x18, 0x12, 0x34, 0x40, 0x00, 0x40, 0x01, 0x9c, 0x89, 198, 18, 0, 1, 198,
        18, 0, 2, 0xaa, 0xbb, 0xcc, 0xdd,
    ];

    fn repr() -> Ipv4Repr {
        Ipv4Repr {
            src_addr: Ipv4Addr::new(198, 18, 0, 1),
            dst_addr: Ipv4Addr::new(198, 18, 0, 2),
            protocol: IpProtocol::Icmp,
            payload_len: 4,
            ttl: 64,
            dscp: 0,
            ecn: 0,
            ident: 0x1234,
            dont_frag: true,
        }
    }

    #[test]
    fn deconstruct() {
        let p = Ipv4Packet::new_checked(&PACKET[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 24);
        assert_eq!(p.ident(), 0x1234);
        assert!(p.dont_frag() && !p.more_frags() && p.frag_offset() == 0);
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), IpProtocol::Icmp);
        assert!(p.verify_checksum());
        assert_eq!(p.payload(), &[0xaa, 0xbb, 0xcc, 0xdd]);
        assert!(p.options().is_empty());
        assert_eq!(Ipv4Repr::parse(&p).unwrap(), repr());
    }

    #[test]
    fn construct() {
        let mut buf = [0u8; 24];
        let mut p = Ipv4Packet::new_unchecked(&mut buf[..]);
        repr().emit(&mut p, TxChecksum::Compute);
        p.payload_mut().copy_from_slice(&[0xaa, 0xbb, 0xcc, 0xdd]);
        assert_eq!(buf, PACKET);
    }

    #[test]
    fn bad_checksum_and_version() {
        let mut b = PACKET;
        b[10] ^= 1;
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&p), Err(Error::Checksum));
        assert!(Ipv4Repr::parse_unverified(&p).is_ok());
        let mut b = PACKET;
        b[0] = 0x65;
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&p), Err(Error::Malformed("ipv4 version")));
    }

    #[test]
    fn lengths_checked() {
        assert_eq!(
            Ipv4Packet::new_checked(&PACKET[..19]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            Ipv4Packet::new_checked(&PACKET[..23]).unwrap_err(),
            Error::Truncated
        );
        let mut b = PACKET;
        b[0] = 0x44; // IHL 4
        assert!(matches!(
            Ipv4Packet::new_checked(&b[..]),
            Err(Error::Malformed(_))
        ));
        let mut b = PACKET;
        b[0] = 0x46; // IHL 6 (24 bytes) fits, total 24 -> empty payload
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.options(), &[0xaa, 0xbb, 0xcc, 0xdd]);
        assert!(p.payload().is_empty());
        b[0] = 0x47; // IHL 7 (28 bytes) > buffer
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            Error::Truncated
        );
        let mut b = PACKET;
        b[3] = 19; // total < header
        assert!(matches!(
            Ipv4Packet::new_checked(&b[..]),
            Err(Error::Malformed(_))
        ));
        // Ethernet padding after the total length is ignored.
        let mut padded = PACKET.to_vec();
        padded.extend_from_slice(&[0; 22]);
        let p = Ipv4Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(p.payload().len(), 4);
    }

    #[test]
    fn fragments_are_visible_but_not_parsed() {
        let mut buf = PACKET;
        let mut p = Ipv4Packet::new_unchecked(&mut buf[..]);
        p.set_dont_frag(false);
        p.set_more_frags(true);
        p.set_frag_offset(1480);
        p.fill_checksum();
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert!(p.more_frags() && !p.dont_frag());
        assert_eq!(p.frag_offset(), 1480);
        assert_eq!(Ipv4Repr::parse(&p), Err(Error::Fragmented));
    }

    #[test]
    fn cidr() {
        let c: Ipv4Cidr = "198.18.3.7/16".parse().unwrap();
        assert_eq!(c.netmask(), Ipv4Addr::new(255, 255, 0, 0));
        assert_eq!(c.network(), Ipv4Addr::new(198, 18, 0, 0));
        assert_eq!(c.broadcast(), Ipv4Addr::new(198, 18, 255, 255));
        assert!(c.contains(Ipv4Addr::new(198, 18, 200, 1)));
        assert!(!c.contains(Ipv4Addr::new(198, 19, 0, 1)));
        assert_eq!(c.to_string(), "198.18.3.7/16");
        let all: Ipv4Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(Ipv4Addr::new(1, 2, 3, 4)));
        let host: Ipv4Cidr = "198.18.0.1/32".parse().unwrap();
        assert!(!host.contains(Ipv4Addr::new(198, 18, 0, 2)));
        assert!("198.18.0.1/33".parse::<Ipv4Cidr>().is_err());
        assert!("198.18.0.1".parse::<Ipv4Cidr>().is_err());
        assert!("198.18.0.1/+1".parse::<Ipv4Cidr>().is_err());
    }
}
