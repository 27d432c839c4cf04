//! ARP packets (RFC 826): a zero-copy view of any ARP packet, and a representation for the only
//! kind the stack speaks, IPv4 over Ethernet.
//!
//! Invariant: once [`ArpPacket::new_checked`] succeeded, no accessor panics (the address fields
//! are located using the packet's own hardware and protocol lengths, which `check_len` validated).

use std::net::Ipv4Addr;

use crate::ethernet::{EtherType, EthernetAddress};
use crate::{Error, Result};

/// Fixed part of an ARP packet: htype, ptype, hlen, plen, oper.
pub const FIXED_LEN: usize = 8;
/// Length of an IPv4-over-Ethernet ARP packet (RFC 826 with hlen 6, plen 4).
pub const IPV4_ETHERNET_LEN: usize = 28;
/// The hardware type of Ethernet (RFC 826, "ares_hrd$Ethernet").
pub const HARDWARE_ETHERNET: u16 = 1;

mod field {
    use core::ops::Range;
    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;

    pub fn sha(hlen: u8, _plen: u8) -> Range<usize> {
        let start = super::FIXED_LEN;
        start..start + hlen as usize
    }
    pub fn spa(hlen: u8, plen: u8) -> Range<usize> {
        let start = sha(hlen, plen).end;
        start..start + plen as usize
    }
    pub fn tha(hlen: u8, plen: u8) -> Range<usize> {
        let start = spa(hlen, plen).end;
        start..start + hlen as usize
    }
    pub fn tpa(hlen: u8, plen: u8) -> Range<usize> {
        let start = tha(hlen, plen).end;
        start..start + plen as usize
    }
}

/// The ARP opcode (RFC 826 "ar$op").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpOperation {
    /// 1: who has the target protocol address?
    Request,
    /// 2: the sender has it.
    Reply,
    /// Any other opcode (e.g. RARP).
    Unknown(u16),
}

impl From<u16> for ArpOperation {
    fn from(v: u16) -> ArpOperation {
        match v {
            1 => ArpOperation::Request,
            2 => ArpOperation::Reply,
            other => ArpOperation::Unknown(other),
        }
    }
}

impl From<ArpOperation> for u16 {
    fn from(v: ArpOperation) -> u16 {
        match v {
            ArpOperation::Request => 1,
            ArpOperation::Reply => 2,
            ArpOperation::Unknown(other) => other,
        }
    }
}

/// A zero-copy view of an ARP packet held in `T`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wraps `buffer` without checking: accessors may panic if it is too short.
    pub const fn new_unchecked(buffer: T) -> ArpPacket<T> {
        ArpPacket { buffer }
    }
    /// Wraps `buffer` after [`check_len`](Self::check_len); accessors then never panic.
    pub fn new_checked(buffer: T) -> Result<ArpPacket<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    /// `Error::Truncated` unless the buffer holds the fixed part and all four addresses.
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < FIXED_LEN {
            return Err(Error::Truncated);
        }
        let needed = FIXED_LEN + 2 * (b[field::HLEN] as usize + b[field::PLEN] as usize);
        if b.len() < needed {
            return Err(Error::Truncated);
        }
        Ok(())
    }
    /// Gives back the wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
    /// Hardware type (1 = Ethernet).
    pub fn hardware_type(&self) -> u16 {
        be16(self.buffer.as_ref(), field::HTYPE.start)
    }
    /// Protocol type, an EtherType (0x0800 = IPv4).
    pub fn protocol_type(&self) -> EtherType {
        EtherType::from(be16(self.buffer.as_ref(), field::PTYPE.start))
    }
    /// Hardware address length in bytes.
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }
    /// Protocol address length in bytes.
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }
    /// The opcode.
    pub fn operation(&self) -> ArpOperation {
        ArpOperation::from(be16(self.buffer.as_ref(), field::OPER.start))
    }
    /// Sender hardware address bytes.
    pub fn source_hardware_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[field::sha(self.hardware_len(), self.protocol_len())]
    }
    /// Sender protocol address bytes.
    pub fn source_protocol_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[field::spa(self.hardware_len(), self.protocol_len())]
    }
    /// Target hardware address bytes.
    pub fn target_hardware_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[field::tha(self.hardware_len(), self.protocol_len())]
    }
    /// Target protocol address bytes.
    pub fn target_protocol_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[field::tpa(self.hardware_len(), self.protocol_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Sets the hardware type.
    pub fn set_hardware_type(&mut self, v: u16) {
        self.buffer.as_mut()[field::HTYPE].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the protocol type.
    pub fn set_protocol_type(&mut self, v: EtherType) {
        self.buffer.as_mut()[field::PTYPE].copy_from_slice(&u16::from(v).to_be_bytes());
    }
    /// Sets the hardware address length (set it before the address fields).
    pub fn set_hardware_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::HLEN] = v;
    }
    /// Sets the protocol address length (set it before the address fields).
    pub fn set_protocol_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::PLEN] = v;
    }
    /// Sets the opcode.
    pub fn set_operation(&mut self, v: ArpOperation) {
        self.buffer.as_mut()[field::OPER].copy_from_slice(&u16::from(v).to_be_bytes());
    }
    /// Sets the sender hardware address (`v` must be `hardware_len` bytes).
    pub fn set_source_hardware_addr(&mut self, v: &[u8]) {
        let r = field::sha(self.hardware_len(), self.protocol_len());
        self.buffer.as_mut()[r].copy_from_slice(v);
    }
    /// Sets the sender protocol address (`v` must be `protocol_len` bytes).
    pub fn set_source_protocol_addr(&mut self, v: &[u8]) {
        let r = field::spa(self.hardware_len(), self.protocol_len());
        self.buffer.as_mut()[r].copy_from_slice(v);
    }
    /// Sets the target hardware address (`v` must be `hardware_len` bytes).
    pub fn set_target_hardware_addr(&mut self, v: &[u8]) {
        let r = field::tha(self.hardware_len(), self.protocol_len());
        self.buffer.as_mut()[r].copy_from_slice(v);
    }
    /// Sets the target protocol address (`v` must be `protocol_len` bytes).
    pub fn set_target_protocol_addr(&mut self, v: &[u8]) {
        let r = field::tpa(self.hardware_len(), self.protocol_len());
        self.buffer.as_mut()[r].copy_from_slice(v);
    }
}

/// An ARP packet for IPv4 over Ethernet (RFC 826), the only kind the stack handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpRepr {
    /// Request or reply.
    pub operation: ArpOperation,
    /// Sender MAC address.
    pub source_hardware_addr: EthernetAddress,
    /// Sender IPv4 address.
    pub source_protocol_addr: Ipv4Addr,
    /// Target MAC address (zero in requests).
    pub target_hardware_addr: EthernetAddress,
    /// Target IPv4 address.
    pub target_protocol_addr: Ipv4Addr,
}

fn ipv4(b: &[u8]) -> Result<Ipv4Addr> {
    let o: [u8; 4] = b.try_into().map_err(|_| Error::Truncated)?;
    Ok(Ipv4Addr::from(o))
}

impl ArpRepr {
    /// Parses an IPv4-over-Ethernet ARP packet; any other hardware/protocol combination gives
    /// `Error::Unsupported`.
    pub fn parse<T: AsRef<[u8]>>(packet: &ArpPacket<T>) -> Result<ArpRepr> {
        packet.check_len()?;
        if packet.hardware_type() != HARDWARE_ETHERNET || packet.hardware_len() != 6 {
            return Err(Error::Unsupported("arp hardware type"));
        }
        if packet.protocol_type() != EtherType::Ipv4 || packet.protocol_len() != 4 {
            return Err(Error::Unsupported("arp protocol type"));
        }
        Ok(ArpRepr {
            operation: packet.operation(),
            source_hardware_addr: EthernetAddress::from_bytes(packet.source_hardware_addr())?,
            source_protocol_addr: ipv4(packet.source_protocol_addr())?,
            target_hardware_addr: EthernetAddress::from_bytes(packet.target_hardware_addr())?,
            target_protocol_addr: ipv4(packet.target_protocol_addr())?,
        })
    }
    /// Length of the packet this representation emits (28 bytes).
    pub const fn buffer_len(&self) -> usize {
        IPV4_ETHERNET_LEN
    }
    /// Writes the packet. Panics if the buffer is shorter than [`IPV4_ETHERNET_LEN`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut ArpPacket<T>) {
        packet.set_hardware_type(HARDWARE_ETHERNET);
        packet.set_protocol_type(EtherType::Ipv4);
        packet.set_hardware_len(6);
        packet.set_protocol_len(4);
        packet.set_operation(self.operation);
        packet.set_source_hardware_addr(&self.source_hardware_addr.0);
        packet.set_source_protocol_addr(&self.source_protocol_addr.octets());
        packet.set_target_hardware_addr(&self.target_hardware_addr.0);
        packet.set_target_protocol_addr(&self.target_protocol_addr.octets());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // eth/ipv4, request
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 198, 18, 0, 1, // sender
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 198, 18, 0, 2, // target
    ];

    fn repr() -> ArpRepr {
        ArpRepr {
            operation: ArpOperation::Request,
            source_hardware_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
            source_protocol_addr: Ipv4Addr::new(198, 18, 0, 1),
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: Ipv4Addr::new(198, 18, 0, 2),
        }
    }

    #[test]
    fn parse_request() {
        let p = ArpPacket::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(p.hardware_type(), 1);
        assert_eq!(p.protocol_type(), EtherType::Ipv4);
        assert_eq!(ArpRepr::parse(&p).unwrap(), repr());
    }

    #[test]
    fn emit_request() {
        let mut buf = [0u8; 28];
        repr().emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
        assert_eq!(buf, REQUEST);
    }

    #[test]
    fn rejects_short_and_foreign() {
        assert_eq!(
            ArpPacket::new_checked(&REQUEST[..27]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            ArpPacket::new_checked(&REQUEST[..7]).unwrap_err(),
            Error::Truncated
        );
        let mut other = REQUEST;
        other[1] = 6; // IEEE 802 hardware
        let p = ArpPacket::new_checked(&other[..]).unwrap();
        assert!(matches!(ArpRepr::parse(&p), Err(Error::Unsupported(_))));
        let mut v6 = [0u8; 8 + 2 * (6 + 16)];
        v6[..8].copy_from_slice(&[0, 1, 0x86, 0xdd, 6, 16, 0, 1]);
        let p = ArpPacket::new_checked(&v6[..]).unwrap();
        assert_eq!(p.target_protocol_addr().len(), 16);
        assert!(matches!(ArpRepr::parse(&p), Err(Error::Unsupported(_))));
    }
}
