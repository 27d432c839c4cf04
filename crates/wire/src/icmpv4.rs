//! ICMPv4 messages (RFC 792): echo request/reply, destination unreachable (incl. port unreachable
//! and fragmentation needed with the next-hop MTU, RFC 1191 §4) and time exceeded, with the quoted
//! original header of error messages accessible.
//!
//! Invariant: once [`Icmpv4Packet::new_checked`] succeeded, no accessor panics.

use crate::checksum;
use crate::checksum::TxChecksum;
use crate::ipv4::{Ipv4Packet, Ipv4Repr};
use crate::{Error, Result};

/// Length of the ICMP header (type, code, checksum, 4 type-specific bytes).
pub const HEADER_LEN: usize = 8;
/// Bytes of the original datagram's data that RFC 792 requires an error message to quote
/// after the original IP header ("the first 64 bits").
pub const ERROR_QUOTE_DATA_LEN: usize = 8;

mod field {
    use core::ops::{Range, RangeFrom};
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const ECHO_IDENT: Range<usize> = 4..6;
    pub const ECHO_SEQNO: Range<usize> = 6..8;
    pub const UNUSED: Range<usize> = 4..8;
    pub const MTU: Range<usize> = 6..8;
    pub const DATA: RangeFrom<usize> = 8..;
}

/// The ICMP type field (RFC 792).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv4Message {
    /// 0.
    EchoReply,
    /// 3.
    DstUnreachable,
    /// 5.
    Redirect,
    /// 8.
    EchoRequest,
    /// 11.
    TimeExceeded,
    /// 12.
    ParamProblem,
    /// Any other type.
    Unknown(u8),
}

impl From<u8> for Icmpv4Message {
    fn from(v: u8) -> Icmpv4Message {
        match v {
            0 => Icmpv4Message::EchoReply,
            3 => Icmpv4Message::DstUnreachable,
            5 => Icmpv4Message::Redirect,
            8 => Icmpv4Message::EchoRequest,
            11 => Icmpv4Message::TimeExceeded,
            12 => Icmpv4Message::ParamProblem,
            other => Icmpv4Message::Unknown(other),
        }
    }
}

impl From<Icmpv4Message> for u8 {
    fn from(v: Icmpv4Message) -> u8 {
        match v {
            Icmpv4Message::EchoReply => 0,
            Icmpv4Message::DstUnreachable => 3,
            Icmpv4Message::Redirect => 5,
            Icmpv4Message::EchoRequest => 8,
            Icmpv4Message::TimeExceeded => 11,
            Icmpv4Message::ParamProblem => 12,
            Icmpv4Message::Unknown(other) => other,
        }
    }
}

/// Codes of Destination Unreachable (RFC 792, RFC 1191).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DstUnreachable {
    /// 0.
    NetUnreachable,
    /// 1.
    HostUnreachable,
    /// 2.
    ProtoUnreachable,
    /// 3: no socket on the destination port (UDP).
    PortUnreachable,
    /// 4: fragmentation needed and DF set; carries the next-hop MTU (RFC 1191 §4).
    FragRequired,
    /// Any other code.
    Other(u8),
}

impl From<u8> for DstUnreachable {
    fn from(v: u8) -> DstUnreachable {
        match v {
            0 => DstUnreachable::NetUnreachable,
            1 => DstUnreachable::HostUnreachable,
            2 => DstUnreachable::ProtoUnreachable,
            3 => DstUnreachable::PortUnreachable,
            4 => DstUnreachable::FragRequired,
            other => DstUnreachable::Other(other),
        }
    }
}

impl From<DstUnreachable> for u8 {
    fn from(v: DstUnreachable) -> u8 {
        match v {
            DstUnreachable::NetUnreachable => 0,
            DstUnreachable::HostUnreachable => 1,
            DstUnreachable::ProtoUnreachable => 2,
            DstUnreachable::PortUnreachable => 3,
            DstUnreachable::FragRequired => 4,
            DstUnreachable::Other(other) => other,
        }
    }
}

/// Codes of Time Exceeded (RFC 792).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeExceeded {
    /// 0: TTL reached zero in transit.
    TtlExpired,
    /// 1: fragment reassembly time exceeded.
    FragExpired,
    /// Any other code.
    Other(u8),
}

impl From<u8> for TimeExceeded {
    fn from(v: u8) -> TimeExceeded {
        match v {
            0 => TimeExceeded::TtlExpired,
            1 => TimeExceeded::FragExpired,
            other => TimeExceeded::Other(other),
        }
    }
}

impl From<TimeExceeded> for u8 {
    fn from(v: TimeExceeded) -> u8 {
        match v {
            TimeExceeded::TtlExpired => 0,
            TimeExceeded::FragExpired => 1,
            TimeExceeded::Other(other) => other,
        }
    }
}

/// A zero-copy view of an ICMPv4 message held in `T` (the whole IP payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// Wraps `buffer` without checking: accessors may panic if it is too short.
    pub const fn new_unchecked(buffer: T) -> Icmpv4Packet<T> {
        Icmpv4Packet { buffer }
    }
    /// Wraps `buffer` after [`check_len`](Self::check_len); accessors then never panic.
    pub fn new_checked(buffer: T) -> Result<Icmpv4Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    /// `Error::Truncated` if the buffer cannot hold the 8-byte header.
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
    /// Message type.
    pub fn msg_type(&self) -> Icmpv4Message {
        Icmpv4Message::from(self.buffer.as_ref()[field::TYPE])
    }
    /// Message code.
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }
    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM.start)
    }
    /// Echo identifier (echo request/reply only).
    pub fn echo_ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::ECHO_IDENT.start)
    }
    /// Echo sequence number (echo request/reply only).
    pub fn echo_seq_no(&self) -> u16 {
        be16(self.buffer.as_ref(), field::ECHO_SEQNO.start)
    }
    /// Next-hop MTU (destination unreachable, fragmentation needed; RFC 1191 §4).
    pub fn next_hop_mtu(&self) -> u16 {
        be16(self.buffer.as_ref(), field::MTU.start)
    }
    /// Length of the header (always [`HEADER_LEN`]).
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }
    /// True if the checksum over the whole message verifies (RFC 792).
    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::sum(self.buffer.as_ref())) == 0xffff
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Icmpv4Packet<&'a T> {
    /// Everything after the 8-byte header (echo data, or the quoted datagram of an error).
    pub fn data(&self) -> &'a [u8] {
        let b: &'a [u8] = self.buffer.as_ref();
        &b[field::DATA]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    /// Sets the type.
    pub fn set_msg_type(&mut self, v: Icmpv4Message) {
        self.buffer.as_mut()[field::TYPE] = u8::from(v);
    }
    /// Sets the code.
    pub fn set_msg_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }
    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the echo identifier.
    pub fn set_echo_ident(&mut self, v: u16) {
        self.buffer.as_mut()[field::ECHO_IDENT].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the echo sequence number.
    pub fn set_echo_seq_no(&mut self, v: u16) {
        self.buffer.as_mut()[field::ECHO_SEQNO].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the next-hop MTU.
    pub fn set_next_hop_mtu(&mut self, v: u16) {
        self.buffer.as_mut()[field::MTU].copy_from_slice(&v.to_be_bytes());
    }
    /// Data after the header, mutable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA]
    }
    /// Computes and stores the checksum over the whole buffer.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// An ICMPv4 message the stack sends or understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv4Repr<'a> {
    /// Echo request (type 8).
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data to echo back.
        data: &'a [u8],
    },
    /// Echo reply (type 0).
    EchoReply {
        /// Identifier (copied from the request).
        ident: u16,
        /// Sequence number (copied from the request).
        seq_no: u16,
        /// Data (copied from the request).
        data: &'a [u8],
    },
    /// Destination unreachable (type 3).
    DstUnreachable {
        /// The code.
        reason: DstUnreachable,
        /// Next-hop MTU for `FragRequired` (RFC 1191 §4), 0 otherwise.
        next_hop_mtu: u16,
        /// The quoted header of the datagram that failed (options are skipped).
        header: Ipv4Repr,
        /// The quoted data after that header (at least 8 bytes by RFC 792, possibly more).
        data: &'a [u8],
    },
    /// Time exceeded (type 11).
    TimeExceeded {
        /// The code.
        reason: TimeExceeded,
        /// The quoted header of the datagram that expired.
        header: Ipv4Repr,
        /// The quoted data after that header.
        data: &'a [u8],
    },
}

impl<'a> Icmpv4Repr<'a> {
    /// Parses a checked message, verifying its checksum. Types other than the four above give
    /// `Error::Unsupported`; an echo with a non-zero code or an error without a quoted IPv4 header
    /// gives `Error::Malformed` / `Error::Truncated`.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Icmpv4Packet<&'a T>) -> Result<Icmpv4Repr<'a>> {
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(Error::Checksum);
        }
        match (packet.msg_type(), packet.msg_code()) {
            (Icmpv4Message::EchoRequest, 0) => Ok(Icmpv4Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data: packet.data(),
            }),
            (Icmpv4Message::EchoReply, 0) => Ok(Icmpv4Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data: packet.data(),
            }),
            (Icmpv4Message::EchoRequest | Icmpv4Message::EchoReply, _) => {
                Err(Error::Malformed("icmp echo code"))
            }
            (Icmpv4Message::DstUnreachable, code) => {
                let reason = DstUnreachable::from(code);
                let (header, data) = quoted(packet.data())?;
                let next_hop_mtu = if reason == DstUnreachable::FragRequired {
                    packet.next_hop_mtu()
                } else {
                    0
                };
                Ok(Icmpv4Repr::DstUnreachable {
                    reason,
                    next_hop_mtu,
                    header,
                    data,
                })
            }
            (Icmpv4Message::TimeExceeded, code) => {
                let (header, data) = quoted(packet.data())?;
                Ok(Icmpv4Repr::TimeExceeded {
                    reason: TimeExceeded::from(code),
                    header,
                    data,
                })
            }
            _ => Err(Error::Unsupported("icmp message type")),
        }
    }

    /// Length of the message this representation emits.
    pub fn buffer_len(&self) -> usize {
        match self {
            Icmpv4Repr::EchoRequest { data, .. } | Icmpv4Repr::EchoReply { data, .. } => {
                HEADER_LEN + data.len()
            }
            Icmpv4Repr::DstUnreachable { header, data, .. }
            | Icmpv4Repr::TimeExceeded { header, data, .. } => {
                HEADER_LEN + header.buffer_len() + data.len()
            }
        }
    }

    /// Writes the message and its checksum. Panics if the buffer is shorter than
    /// [`buffer_len`](Self::buffer_len); the buffer should be exactly that long, since the
    /// checksum covers all of it.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Icmpv4Packet<T>) {
        packet.buffer.as_mut()[field::UNUSED].fill(0);
        match *self {
            Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            }
            | Icmpv4Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => {
                let t = if matches!(self, Icmpv4Repr::EchoRequest { .. }) {
                    Icmpv4Message::EchoRequest
                } else {
                    Icmpv4Message::EchoReply
                };
                packet.set_msg_type(t);
                packet.set_msg_code(0);
                packet.set_echo_ident(ident);
                packet.set_echo_seq_no(seq_no);
                packet.data_mut()[..data.len()].copy_from_slice(data);
            }
            Icmpv4Repr::DstUnreachable {
                reason,
                next_hop_mtu,
                header,
                data,
            } => {
                packet.set_msg_type(Icmpv4Message::DstUnreachable);
                packet.set_msg_code(u8::from(reason));
                if reason == DstUnreachable::FragRequired {
                    packet.set_next_hop_mtu(next_hop_mtu);
                }
                emit_quoted(packet.data_mut(), &header, data);
            }
            Icmpv4Repr::TimeExceeded {
                reason,
                header,
                data,
            } => {
                packet.set_msg_type(Icmpv4Message::TimeExceeded);
                packet.set_msg_code(u8::from(reason));
                emit_quoted(packet.data_mut(), &header, data);
            }
        }
        packet.fill_checksum();
    }
}

fn quoted(data: &[u8]) -> Result<(Ipv4Repr, &[u8])> {
    let (header, header_len) = Ipv4Repr::parse_quoted(data)?;
    let rest = data.get(header_len..).ok_or(Error::Truncated)?;
    Ok((header, rest))
}

fn emit_quoted(buf: &mut [u8], header: &Ipv4Repr, data: &[u8]) {
    let hl = header.buffer_len();
    header.emit(
        &mut Ipv4Packet::new_unchecked(&mut buf[..hl]),
        TxChecksum::Compute,
    );
    buf[hl..hl + data.len()].copy_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipv4::IpProtocol;
    use std::net::Ipv4Addr;

    static ECHO: [u8; 12] = [
        0x08, 0x00, 0x3a, 0xcb, 0x12, 0x34, 0x00, 0x01, 0xaa, 0x00, 0x00, 0xff,
    ];

    #[test]
    fn echo_request_round_trip() {
        let p = Icmpv4Packet::new_checked(&ECHO[..]).unwrap();
        assert_eq!(p.msg_type(), Icmpv4Message::EchoRequest);
        assert!(p.verify_checksum());
        let repr = Icmpv4Repr::parse(&p).unwrap();
        assert_eq!(
            repr,
            Icmpv4Repr::EchoRequest {
                ident: 0x1234,
                seq_no: 1,
                data: &[0xaa, 0, 0, 0xff]
            }
        );
        let mut buf = [0u8; 12];
        repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, ECHO);
    }

    #[test]
    fn bad_checksum_and_code() {
        let mut b = ECHO;
        b[8] ^= 0x10;
        let p = Icmpv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Icmpv4Repr::parse(&p), Err(Error::Checksum));
        let mut b = ECHO;
        b[1] = 1;
        Icmpv4Packet::new_unchecked(&mut b[..]).fill_checksum();
        let p = Icmpv4Packet::new_checked(&b[..]).unwrap();
        assert!(matches!(Icmpv4Repr::parse(&p), Err(Error::Malformed(_))));
        assert_eq!(
            Icmpv4Packet::new_checked(&ECHO[..7]).unwrap_err(),
            Error::Truncated
        );
    }

    fn quoted_header() -> Ipv4Repr {
        Ipv4Repr {
            src_addr: Ipv4Addr::new(198, 18, 0, 1),
            dst_addr: Ipv4Addr::new(198, 18, 0, 2),
            protocol: IpProtocol::Udp,
            payload_len: 100,
            ttl: 64,
            dscp: 0,
            ecn: 0,
            ident: 7,
            dont_frag: true,
        }
    }

    #[test]
    fn frag_required_carries_mtu_and_quote() {
        let udp = [0x30, 0x39, 0x00, 0x35, 0x00, 0x6c, 0x00, 0x00];
        let repr = Icmpv4Repr::DstUnreachable {
            reason: DstUnreachable::FragRequired,
            next_hop_mtu: 1400,
            header: quoted_header(),
            data: &udp,
        };
        assert_eq!(repr.buffer_len(), 36);
        let mut buf = [0u8; 36];
        repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..2], &[3, 4]);
        assert_eq!(&buf[4..8], &[0, 0, 0x05, 0x78]);
        let p = Icmpv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.next_hop_mtu(), 1400);
        assert_eq!(Icmpv4Repr::parse(&p).unwrap(), repr);
    }

    #[test]
    fn port_unreachable_and_time_exceeded() {
        for repr in [
            Icmpv4Repr::DstUnreachable {
                reason: DstUnreachable::PortUnreachable,
                next_hop_mtu: 0,
                header: quoted_header(),
                data: &[1, 2, 3, 4, 5, 6, 7, 8],
            },
            Icmpv4Repr::TimeExceeded {
                reason: TimeExceeded::TtlExpired,
                header: quoted_header(),
                data: &[1, 2, 3, 4, 5, 6, 7, 8],
            },
        ] {
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
            let p = Icmpv4Packet::new_checked(&buf[..]).unwrap();
            assert_eq!(Icmpv4Repr::parse(&p).unwrap(), repr);
        }
    }

    #[test]
    fn error_without_quote_is_rejected() {
        let mut b = [3u8, 3, 0, 0, 0, 0, 0, 0, 0x45, 0, 0, 20];
        Icmpv4Packet::new_unchecked(&mut b[..]).fill_checksum();
        let p = Icmpv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Icmpv4Repr::parse(&p), Err(Error::Truncated));
        let mut b = [13u8, 0, 0, 0, 0, 0, 0, 0];
        Icmpv4Packet::new_unchecked(&mut b[..]).fill_checksum();
        let p = Icmpv4Packet::new_checked(&b[..]).unwrap();
        assert!(matches!(Icmpv4Repr::parse(&p), Err(Error::Unsupported(_))));
    }
}
