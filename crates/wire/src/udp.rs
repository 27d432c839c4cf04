//! UDP datagrams (RFC 768): a zero-copy view and a representation with checksum handling.
//!
//! Invariant: once [`UdpPacket::new_checked`] succeeded, no accessor panics (the length field was
//! checked against the buffer).

use std::net::Ipv4Addr;

use crate::checksum;
use crate::ipv4::IpProtocol;
use crate::{Error, Result};

/// Length of the UDP header.
pub const HEADER_LEN: usize = 8;

mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// A zero-copy view of a UDP datagram held in `T` (the IP payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps `buffer` without checking: accessors may panic if it is inconsistent.
    pub const fn new_unchecked(buffer: T) -> UdpPacket<T> {
        UdpPacket { buffer }
    }
    /// Wraps `buffer` after [`check_len`](Self::check_len); accessors then never panic.
    pub fn new_checked(buffer: T) -> Result<UdpPacket<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    /// `Truncated` if the buffer is shorter than 8 bytes or than the length field;
    /// `Malformed` if the length field is below 8.
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let len = usize::from(self.len());
        if len < HEADER_LEN {
            return Err(Error::Malformed("udp length"));
        }
        if b.len() < len {
            return Err(Error::Truncated);
        }
        Ok(())
    }
    /// Gives back the wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
    /// Source port.
    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SRC_PORT.start)
    }
    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DST_PORT.start)
    }
    /// Length field (header + data).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH.start)
    }
    /// Checksum field (0 = none was computed, RFC 768).
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM.start)
    }
    /// True if the checksum is absent (0) or verifies over pseudo-header + datagram (RFC 768).
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let len = self.len();
        let data = &self.buffer.as_ref()[..usize::from(len)];
        let s = checksum::pseudo_header(src, dst, IpProtocol::Udp.into(), u32::from(len))
            + checksum::sum(data);
        checksum::fold(s) == 0xffff
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> UdpPacket<&'a T> {
    /// The data: from the header end to the length field (trailing bytes excluded).
    pub fn payload(&self) -> &'a [u8] {
        let b: &'a [u8] = self.buffer.as_ref();
        &b[HEADER_LEN..usize::from(self.len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Sets the source port.
    pub fn set_src_port(&mut self, v: u16) {
        self.buffer.as_mut()[field::SRC_PORT].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the destination port.
    pub fn set_dst_port(&mut self, v: u16) {
        self.buffer.as_mut()[field::DST_PORT].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the length field.
    pub fn set_len(&mut self, v: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }
    /// Computes and stores the checksum over pseudo-header + `len` bytes; a computed 0 is sent
    /// as 0xffff (RFC 768).
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let len = self.len();
        let data = &self.buffer.as_ref()[..usize::from(len)];
        let s = checksum::pseudo_header(src, dst, IpProtocol::Udp.into(), u32::from(len))
            + checksum::sum(data);
        let c = !checksum::fold(s);
        self.set_checksum(if c == 0 { 0xffff } else { c });
    }
    /// The data (up to the length field), mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

/// The header of a UDP datagram; the data stays in the packet view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
}

impl UdpRepr {
    /// Parses a checked datagram, verifying its checksum unless it is 0 (RFC 768).
    /// Destination port 0 is reserved and gives `Error::Malformed`.
    pub fn parse<T: AsRef<[u8]>>(
        packet: &UdpPacket<T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
    ) -> Result<UdpRepr> {
        packet.check_len()?;
        if packet.dst_port() == 0 {
            return Err(Error::Malformed("udp destination port 0"));
        }
        if !packet.verify_checksum(src, dst) {
            return Err(Error::Checksum);
        }
        Ok(UdpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
        })
    }
    /// Header length (8).
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }
    /// Datagram length for `payload_len` bytes of data.
    pub const fn buffer_len(&self, payload_len: usize) -> usize {
        HEADER_LEN + payload_len
    }
    /// Writes the header, lets `emit_payload` fill the `payload_len` data bytes, then computes
    /// the checksum. Panics if the buffer is shorter than `8 + payload_len` or that exceeds 65535.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut UdpPacket<T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        payload_len: usize,
        emit_payload: impl FnOnce(&mut [u8]),
    ) {
        let len = u16::try_from(HEADER_LEN + payload_len).expect("UDP datagram over 65535 bytes");
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len(len);
        emit_payload(packet.payload_mut());
        packet.fill_checksum(src, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

    // 12345 -> 53, 4 data bytes, checksum computed by hand with the pseudo-header.
    static DATAGRAM: [u8; 12] = [
        0x30, 0x39, 0x00, 0x35, 0x00, 0x0c, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef,
    ];

    fn filled() -> [u8; 12] {
        let mut b = DATAGRAM;
        UdpPacket::new_unchecked(&mut b[..]).fill_checksum(SRC, DST);
        b
    }

    #[test]
    fn checksum_known_value() {
        // Reference computed independently: pseudo 198.18.0.1, 198.18.0.2, 17, 12.
        let b = filled();
        assert_eq!(u16::from_be_bytes([b[6], b[7]]), EXPECTED_CSUM);
    }
    const EXPECTED_CSUM: u16 = 0xa5a2;

    #[test]
    fn parse_and_emit() {
        let b = filled();
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        let repr = UdpRepr::parse(&p, SRC, DST).unwrap();
        assert_eq!(
            repr,
            UdpRepr {
                src_port: 12345,
                dst_port: 53
            }
        );
        assert_eq!(p.payload(), &[0xde, 0xad, 0xbe, 0xef]);
        let mut out = [0u8; 12];
        repr.emit(
            &mut UdpPacket::new_unchecked(&mut out[..]),
            SRC,
            DST,
            4,
            |d| d.copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]),
        );
        assert_eq!(out, b);
    }

    #[test]
    fn zero_checksum_accepted_wrong_rejected() {
        let p = UdpPacket::new_checked(&DATAGRAM[..]).unwrap();
        assert!(UdpRepr::parse(&p, SRC, DST).is_ok());
        let mut b = filled();
        b[9] ^= 1;
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(UdpRepr::parse(&p, SRC, DST), Err(Error::Checksum));
    }

    #[test]
    fn lengths_checked() {
        assert_eq!(
            UdpPacket::new_checked(&DATAGRAM[..7]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            UdpPacket::new_checked(&DATAGRAM[..11]).unwrap_err(),
            Error::Truncated
        );
        let mut b = DATAGRAM;
        b[5] = 7;
        assert!(matches!(
            UdpPacket::new_checked(&b[..]),
            Err(Error::Malformed(_))
        ));
    }
}
