//! Ethernet II frames (IEEE 802.3 with an EtherType): a zero-copy view and a representation.
//!
//! Invariant: once [`EthernetFrame::new_checked`] succeeded, no accessor panics.
//! The frame check sequence is not part of the view (NICs strip and verify it).

use core::fmt;

use crate::{Error, Result};

/// Length of the Ethernet II header: destination, source, EtherType.
pub const HEADER_LEN: usize = 14;

mod field {
    use core::ops::{Range, RangeFrom};
    pub const DESTINATION: Range<usize> = 0..6;
    pub const SOURCE: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    pub const PAYLOAD: RangeFrom<usize> = 14..;
}

/// A 48-bit IEEE 802 MAC address.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EthernetAddress(pub [u8; 6]);

impl EthernetAddress {
    /// The broadcast address ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: EthernetAddress = EthernetAddress([0xff; 6]);

    /// Builds an address from the first six bytes of `data`; `Error::Truncated` if shorter.
    pub fn from_bytes(data: &[u8]) -> Result<EthernetAddress> {
        let bytes: [u8; 6] = data
            .get(..6)
            .and_then(|b| b.try_into().ok())
            .ok_or(Error::Truncated)?;
        Ok(EthernetAddress(bytes))
    }
    /// The six bytes of the address.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    /// All ones: the broadcast address.
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }
    /// Group bit (least significant bit of the first octet) set; broadcast is multicast too.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }
    /// Group bit clear: the address of one station.
    pub fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }
    /// Locally administered bit (second least significant bit of the first octet) set.
    pub fn is_local(&self) -> bool {
        self.0[0] & 0x02 != 0
    }
}

impl fmt::Display for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl core::str::FromStr for EthernetAddress {
    type Err = Error;
    /// Parses `aa:bb:cc:dd:ee:ff` (hex, colon separated).
    fn from_str(s: &str) -> Result<EthernetAddress> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in out.iter_mut() {
            let part = parts.next().ok_or(Error::Malformed("mac address"))?;
            if part.is_empty() || part.len() > 2 {
                return Err(Error::Malformed("mac address"));
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| Error::Malformed("mac address"))?;
        }
        if parts.next().is_some() {
            return Err(Error::Malformed("mac address"));
        }
        Ok(EthernetAddress(out))
    }
}

/// The EtherType field: which protocol the payload carries (IEEE 802.3 clause 3.2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EtherType {
    /// 0x0800, IPv4 (RFC 894).
    Ipv4,
    /// 0x0806, ARP (RFC 826).
    Arp,
    /// Any other value (IPv6, VLAN tags, ...), kept so it can be counted or passed on.
    Unknown(u16),
}

impl From<u16> for EtherType {
    fn from(v: u16) -> EtherType {
        match v {
            0x0800 => EtherType::Ipv4,
            0x0806 => EtherType::Arp,
            other => EtherType::Unknown(other),
        }
    }
}

impl From<EtherType> for u16 {
    fn from(v: EtherType) -> u16 {
        match v {
            EtherType::Ipv4 => 0x0800,
            EtherType::Arp => 0x0806,
            EtherType::Unknown(other) => other,
        }
    }
}

impl fmt::Display for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EtherType::Ipv4 => write!(f, "IPv4"),
            EtherType::Arp => write!(f, "ARP"),
            EtherType::Unknown(v) => write!(f, "0x{v:04x}"),
        }
    }
}

/// A zero-copy view of an Ethernet II frame held in `T`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps `buffer` without checking its length: accessors may panic if it is too short.
    pub const fn new_unchecked(buffer: T) -> EthernetFrame<T> {
        EthernetFrame { buffer }
    }
    /// Wraps `buffer` after [`check_len`](Self::check_len); accessors then never panic.
    pub fn new_checked(buffer: T) -> Result<EthernetFrame<T>> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }
    /// `Error::Truncated` if the buffer cannot hold the 14-byte header.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }
    /// Gives back the wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
    /// Length of the header (always [`HEADER_LEN`]; no VLAN tags are interpreted).
    pub const fn header_len() -> usize {
        HEADER_LEN
    }
    /// Total frame length for a payload of `payload_len` bytes.
    pub const fn buffer_len(payload_len: usize) -> usize {
        HEADER_LEN + payload_len
    }
    /// Destination MAC address.
    pub fn dst_addr(&self) -> EthernetAddress {
        let b = self.buffer.as_ref();
        let mut a = [0u8; 6];
        a.copy_from_slice(&b[field::DESTINATION]);
        EthernetAddress(a)
    }
    /// Source MAC address.
    pub fn src_addr(&self) -> EthernetAddress {
        let b = self.buffer.as_ref();
        let mut a = [0u8; 6];
        a.copy_from_slice(&b[field::SOURCE]);
        EthernetAddress(a)
    }
    /// The EtherType.
    pub fn ethertype(&self) -> EtherType {
        let b = self.buffer.as_ref();
        EtherType::from(u16::from_be_bytes([
            b[field::ETHERTYPE.start],
            b[field::ETHERTYPE.start + 1],
        ]))
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> EthernetFrame<&'a T> {
    /// The payload (everything after the header), borrowed for the buffer's lifetime.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Sets the destination MAC address.
    pub fn set_dst_addr(&mut self, value: EthernetAddress) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&value.0);
    }
    /// Sets the source MAC address.
    pub fn set_src_addr(&mut self, value: EthernetAddress) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&value.0);
    }
    /// Sets the EtherType.
    pub fn set_ethertype(&mut self, value: EtherType) {
        self.buffer.as_mut()[field::ETHERTYPE].copy_from_slice(&u16::from(value).to_be_bytes());
    }
    /// The payload, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for EthernetFrame<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The header fields of an Ethernet II frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EthernetRepr {
    /// Source MAC address.
    pub src_addr: EthernetAddress,
    /// Destination MAC address.
    pub dst_addr: EthernetAddress,
    /// Protocol of the payload.
    pub ethertype: EtherType,
}

impl EthernetRepr {
    /// Reads the header of a checked frame (cannot fail after `new_checked`; kept fallible for
    /// symmetry with the other protocols).
    pub fn parse<T: AsRef<[u8]>>(frame: &EthernetFrame<T>) -> Result<EthernetRepr> {
        frame.check_len()?;
        Ok(EthernetRepr {
            src_addr: frame.src_addr(),
            dst_addr: frame.dst_addr(),
            ethertype: frame.ethertype(),
        })
    }
    /// Header length in bytes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }
    /// Writes the header into `frame`. Panics if the buffer is shorter than [`HEADER_LEN`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut EthernetFrame<T>) {
        frame.set_src_addr(self.src_addr);
        frame.set_dst_addr(self.dst_addr);
        frame.set_ethertype(self.ethertype);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static FRAME: [u8; 18] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // dst
        0x02, 0x00, 0x5e, 0x10, 0x20, 0x30, // src
        0x08, 0x06, // ARP
        0xaa, 0xbb, 0xcc, 0xdd,
    ];

    #[test]
    fn deconstruct() {
        let f = EthernetFrame::new_checked(&FRAME[..]).unwrap();
        assert!(f.dst_addr().is_broadcast());
        assert_eq!(
            f.src_addr(),
            EthernetAddress([0x02, 0x00, 0x5e, 0x10, 0x20, 0x30])
        );
        assert!(f.src_addr().is_unicast() && f.src_addr().is_local());
        assert_eq!(f.ethertype(), EtherType::Arp);
        assert_eq!(f.payload(), &[0xaa, 0xbb, 0xcc, 0xdd]);
    }

    #[test]
    fn construct_matches_literal() {
        let repr = EthernetRepr::parse(&EthernetFrame::new_checked(&FRAME[..]).unwrap()).unwrap();
        let mut buf = [0u8; 18];
        let mut f = EthernetFrame::new_unchecked(&mut buf[..]);
        repr.emit(&mut f);
        f.payload_mut().copy_from_slice(&[0xaa, 0xbb, 0xcc, 0xdd]);
        assert_eq!(buf, FRAME);
    }

    #[test]
    fn truncated() {
        assert_eq!(
            EthernetFrame::new_checked(&FRAME[..13]).unwrap_err(),
            Error::Truncated
        );
        assert!(EthernetFrame::new_checked(&FRAME[..14])
            .unwrap()
            .payload()
            .is_empty());
    }

    #[test]
    fn address_text() {
        let a: EthernetAddress = "02:00:5e:10:20:30".parse().unwrap();
        assert_eq!(a.to_string(), "02:00:5e:10:20:30");
        assert!("02:00:5e:10:20".parse::<EthernetAddress>().is_err());
        assert!("02:00:5e:10:20:30:40".parse::<EthernetAddress>().is_err());
        assert!("02:00:5e:10:20:zz".parse::<EthernetAddress>().is_err());
        assert_eq!(u16::from(EtherType::from(0x86dd)), 0x86dd);
    }
}
