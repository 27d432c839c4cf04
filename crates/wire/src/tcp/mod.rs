//! TCP segments (RFC 9293 §3.1): a zero-copy view with every header field and flag, the options
//! the stack uses (MSS, window scale and timestamps from RFC 7323, SACK-permitted and SACK blocks
//! from RFC 2018, NOP/EOL; unknown options are skipped), and a representation with parse/emit.
//!
//! Invariant: once [`TcpPacket::new_checked`] succeeded, no accessor panics (the data offset was
//! checked against the buffer). Option parsing rejects lengths that are too short, run past the
//! header, or do not match the option kind.

use core::fmt;
use std::net::Ipv4Addr;

use crate::checksum;
use crate::ipv4::IpProtocol;
use crate::seq::SeqNumber;
use crate::{Error, Result};

mod option;
mod repr;

pub use option::TcpOption;
pub use repr::{TcpControl, TcpRepr};

/// Length of the TCP header without options.
pub const HEADER_LEN: usize = 20;
/// Largest TCP header (data offset 15), options included.
pub const MAX_HEADER_LEN: usize = 60;
/// Most option bytes a header can carry.
pub const MAX_OPTIONS_LEN: usize = MAX_HEADER_LEN - HEADER_LEN;
/// Most SACK blocks one option can carry (RFC 2018 §3: 40 bytes of option space).
pub const MAX_SACK_BLOCKS: usize = 4;
/// Largest window scale shift; larger received values are treated as this (RFC 7323 §2.3).
pub const MAX_WINDOW_SCALE: u8 = 14;

mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ_NUM: Range<usize> = 4..8;
    pub const ACK_NUM: Range<usize> = 8..12;
    pub const FLAGS: Range<usize> = 12..14;
    pub const WIN_SIZE: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;

    pub const OPT_END: u8 = 0x00;
    pub const OPT_NOP: u8 = 0x01;
    pub const OPT_MSS: u8 = 0x02;
    pub const OPT_WS: u8 = 0x03;
    pub const OPT_SACKPERM: u8 = 0x04;
    pub const OPT_SACKRNG: u8 = 0x05;
    pub const OPT_TSTAMP: u8 = 0x08;
}

/// The nine TCP flag bits of the header's flags word (RFC 9293 §3.1, RFC 3168 for ECE/CWR).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: TcpFlags = TcpFlags(0x001);
    /// Synchronize sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x002);
    /// Reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x004);
    /// Push function.
    pub const PSH: TcpFlags = TcpFlags(0x008);
    /// Acknowledgment field is significant.
    pub const ACK: TcpFlags = TcpFlags(0x010);
    /// Urgent pointer field is significant.
    pub const URG: TcpFlags = TcpFlags(0x020);
    /// ECN-Echo (RFC 3168).
    pub const ECE: TcpFlags = TcpFlags(0x040);
    /// Congestion Window Reduced (RFC 3168).
    pub const CWR: TcpFlags = TcpFlags(0x080);
    /// ECN nonce / AE bit (RFC 3540, historic).
    pub const NS: TcpFlags = TcpFlags(0x100);
    const MASK: u16 = 0x1ff;

    /// True if every bit of `other` is set in `self`.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
    /// The raw bits.
    pub const fn bits(self) -> u16 {
        self.0
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(TcpFlags, &str); 9] = [
            (TcpFlags::SYN, "S"),
            (TcpFlags::FIN, "F"),
            (TcpFlags::RST, "R"),
            (TcpFlags::PSH, "P"),
            (TcpFlags::ACK, "."),
            (TcpFlags::URG, "U"),
            (TcpFlags::ECE, "E"),
            (TcpFlags::CWR, "W"),
            (TcpFlags::NS, "N"),
        ];
        for (flag, name) in NAMES {
            if self.contains(flag) {
                f.write_str(name)?;
            }
        }
        Ok(())
    }
}

/// A zero-copy view of a TCP segment held in `T` (exactly the IP payload: the checksum covers
/// the whole buffer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn segment_sum(data: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> u64 {
    // A TCP segment is bounded by the IPv4 total length, so it always fits in u32.
    checksum::pseudo_header(src, dst, IpProtocol::Tcp.into(), data.len() as u32)
        + checksum::sum(data)
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps `buffer` without checking: accessors may panic if it is inconsistent.
    pub const fn new_unchecked(buffer: T) -> TcpPacket<T> {
        TcpPacket { buffer }
    }
    /// Wraps `buffer` after [`check_len`](Self::check_len); accessors then never panic.
    pub fn new_checked(buffer: T) -> Result<TcpPacket<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    /// `Truncated` if the buffer is shorter than 20 bytes or than the data offset;
    /// `Malformed` if the data offset is below 5 words.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let header_len = usize::from(self.header_len());
        if header_len < HEADER_LEN {
            return Err(Error::Malformed("tcp data offset"));
        }
        if len < header_len {
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
    /// Sequence number.
    pub fn seq_number(&self) -> SeqNumber {
        SeqNumber(be32(self.buffer.as_ref(), field::SEQ_NUM.start))
    }
    /// Acknowledgment number (meaningful only with ACK set).
    pub fn ack_number(&self) -> SeqNumber {
        SeqNumber(be32(self.buffer.as_ref(), field::ACK_NUM.start))
    }
    /// Header length in bytes (data offset · 4), options included.
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::FLAGS.start] >> 4) * 4
    }
    /// All nine flag bits.
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(be16(self.buffer.as_ref(), field::FLAGS.start) & TcpFlags::MASK)
    }
    /// FIN flag.
    pub fn fin(&self) -> bool {
        self.flags().contains(TcpFlags::FIN)
    }
    /// SYN flag.
    pub fn syn(&self) -> bool {
        self.flags().contains(TcpFlags::SYN)
    }
    /// RST flag.
    pub fn rst(&self) -> bool {
        self.flags().contains(TcpFlags::RST)
    }
    /// PSH flag.
    pub fn psh(&self) -> bool {
        self.flags().contains(TcpFlags::PSH)
    }
    /// ACK flag.
    pub fn ack(&self) -> bool {
        self.flags().contains(TcpFlags::ACK)
    }
    /// URG flag.
    pub fn urg(&self) -> bool {
        self.flags().contains(TcpFlags::URG)
    }
    /// ECE flag (RFC 3168).
    pub fn ece(&self) -> bool {
        self.flags().contains(TcpFlags::ECE)
    }
    /// CWR flag (RFC 3168).
    pub fn cwr(&self) -> bool {
        self.flags().contains(TcpFlags::CWR)
    }
    /// NS / AE flag (RFC 3540).
    pub fn ns(&self) -> bool {
        self.flags().contains(TcpFlags::NS)
    }
    /// Window field (unscaled).
    pub fn window_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::WIN_SIZE.start)
    }
    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM.start)
    }
    /// Urgent pointer.
    pub fn urgent_at(&self) -> u16 {
        be16(self.buffer.as_ref(), field::URGENT.start)
    }
    /// The raw option bytes (header end of the fixed part .. data offset).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.header_len())]
    }
    /// Sequence space the segment occupies: data length plus one for SYN and one for FIN.
    pub fn segment_len(&self) -> usize {
        let data = self.buffer.as_ref().len() - usize::from(self.header_len());
        data + usize::from(self.syn()) + usize::from(self.fin())
    }
    /// True if the checksum over pseudo-header + whole buffer verifies (RFC 9293 §3.1).
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        checksum::fold(segment_sum(self.buffer.as_ref(), src, dst)) == 0xffff
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> TcpPacket<&'a T> {
    /// The segment data (everything after the options).
    pub fn payload(&self) -> &'a [u8] {
        let b: &'a [u8] = self.buffer.as_ref();
        &b[usize::from(self.header_len())..]
    }
    fn options_long(&self) -> &'a [u8] {
        let b: &'a [u8] = self.buffer.as_ref();
        &b[HEADER_LEN..usize::from(self.header_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    /// Sets the source port.
    pub fn set_src_port(&mut self, v: u16) {
        self.buffer.as_mut()[field::SRC_PORT].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the destination port.
    pub fn set_dst_port(&mut self, v: u16) {
        self.buffer.as_mut()[field::DST_PORT].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the sequence number.
    pub fn set_seq_number(&mut self, v: SeqNumber) {
        self.buffer.as_mut()[field::SEQ_NUM].copy_from_slice(&v.0.to_be_bytes());
    }
    /// Sets the acknowledgment number.
    pub fn set_ack_number(&mut self, v: SeqNumber) {
        self.buffer.as_mut()[field::ACK_NUM].copy_from_slice(&v.0.to_be_bytes());
    }
    /// Sets the header length in bytes (a multiple of 4, 20..=60), keeping the flags.
    pub fn set_header_len(&mut self, len: u8) {
        let b = &mut self.buffer.as_mut()[field::FLAGS.start];
        *b = (*b & 0x0f) | (((len / 4) & 0x0f) << 4);
    }
    /// Replaces all nine flag bits, keeping the data offset.
    pub fn set_flags(&mut self, flags: TcpFlags) {
        let raw = be16(self.buffer.as_ref(), field::FLAGS.start);
        let raw = (raw & !TcpFlags::MASK) | (flags.0 & TcpFlags::MASK);
        self.buffer.as_mut()[field::FLAGS].copy_from_slice(&raw.to_be_bytes());
    }
    /// Clears all flags.
    pub fn clear_flags(&mut self) {
        self.set_flags(TcpFlags(0));
    }
    fn set_flag(&mut self, flag: TcpFlags, on: bool) {
        let f = self.flags().0;
        self.set_flags(TcpFlags(if on { f | flag.0 } else { f & !flag.0 }));
    }
    /// Sets or clears FIN.
    pub fn set_fin(&mut self, on: bool) {
        self.set_flag(TcpFlags::FIN, on);
    }
    /// Sets or clears SYN.
    pub fn set_syn(&mut self, on: bool) {
        self.set_flag(TcpFlags::SYN, on);
    }
    /// Sets or clears RST.
    pub fn set_rst(&mut self, on: bool) {
        self.set_flag(TcpFlags::RST, on);
    }
    /// Sets or clears PSH.
    pub fn set_psh(&mut self, on: bool) {
        self.set_flag(TcpFlags::PSH, on);
    }
    /// Sets or clears ACK.
    pub fn set_ack(&mut self, on: bool) {
        self.set_flag(TcpFlags::ACK, on);
    }
    /// Sets or clears URG.
    pub fn set_urg(&mut self, on: bool) {
        self.set_flag(TcpFlags::URG, on);
    }
    /// Sets or clears ECE.
    pub fn set_ece(&mut self, on: bool) {
        self.set_flag(TcpFlags::ECE, on);
    }
    /// Sets or clears CWR.
    pub fn set_cwr(&mut self, on: bool) {
        self.set_flag(TcpFlags::CWR, on);
    }
    /// Sets the window field.
    pub fn set_window_len(&mut self, v: u16) {
        self.buffer.as_mut()[field::WIN_SIZE].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets the urgent pointer.
    pub fn set_urgent_at(&mut self, v: u16) {
        self.buffer.as_mut()[field::URGENT].copy_from_slice(&v.to_be_bytes());
    }
    /// Option bytes, mutable.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.header_len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
    /// Segment data, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = usize::from(self.header_len());
        &mut self.buffer.as_mut()[start..]
    }
    /// Computes and stores the checksum over pseudo-header + whole buffer.
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let c = !checksum::fold(segment_sum(self.buffer.as_ref(), src, dst));
        self.set_checksum(c);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for TcpPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::{RxChecksum, TxChecksum};

    const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

    /// A Linux-style SYN: MSS 1460, SACK-permitted, TS, NOP, WS 7.
    static SYN: [u8; 40] = [
        0xc3, 0x50, 0x00, 0x50, // 50000 -> 80
        0x01, 0x02, 0x03, 0x04, // seq
        0x00, 0x00, 0x00, 0x00, // ack
        0xa0, 0x02, 0xfa, 0xf0, // doff 10, SYN, window 64240
        0x00, 0x00, 0x00, 0x00, // checksum (filled in the test), urgent
        0x02, 0x04, 0x05, 0xb4, // MSS 1460
        0x04, 0x02, 0x08, 0x0a, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x00, // SACKOK, TS
        0x01, 0x03, 0x03, 0x07, // NOP, WS 7
    ];

    fn syn_repr() -> TcpRepr<'static> {
        TcpRepr {
            src_port: 50000,
            dst_port: 80,
            control: TcpControl::Syn,
            seq_number: SeqNumber(0x0102_0304),
            ack_number: None,
            window_len: 64240,
            window_scale: Some(7),
            max_seg_size: Some(1460),
            sack_permitted: true,
            sack_ranges: [None; 4],
            timestamp: Some((42, 0)),
            payload: &[],
        }
    }

    fn syn_bytes() -> [u8; 40] {
        let mut b = SYN;
        TcpPacket::new_unchecked(&mut b[..]).fill_checksum(SRC, DST);
        b
    }

    #[test]
    fn deconstruct_syn() {
        let b = syn_bytes();
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.src_port(), 50000);
        assert_eq!(p.dst_port(), 80);
        assert_eq!(p.seq_number(), SeqNumber(0x0102_0304));
        assert_eq!(p.header_len(), 40);
        assert!(p.syn() && !p.ack() && !p.fin() && !p.rst() && !p.psh());
        assert_eq!(p.flags().to_string(), "S");
        assert_eq!(p.window_len(), 64240);
        assert_eq!(p.segment_len(), 1);
        assert!(p.verify_checksum(SRC, DST));
        assert!(!p.verify_checksum(SRC, Ipv4Addr::new(198, 18, 0, 3)));
        assert_eq!(
            TcpRepr::parse(&p, SRC, DST, RxChecksum::Verify).unwrap(),
            syn_repr()
        );
    }

    #[test]
    fn construct_syn_like_linux() {
        let repr = syn_repr();
        assert_eq!(repr.header_len(), 40);
        let mut b = [0u8; 40];
        repr.emit(
            &mut TcpPacket::new_unchecked(&mut b[..]),
            SRC,
            DST,
            TxChecksum::Compute,
        );
        assert_eq!(b, syn_bytes());
    }

    #[test]
    fn data_with_sack_blocks() {
        let payload = b"hello";
        let mut repr = TcpRepr {
            src_port: 80,
            dst_port: 50000,
            control: TcpControl::Psh,
            seq_number: SeqNumber(u32::MAX),
            ack_number: Some(SeqNumber(7)),
            window_len: 512,
            timestamp: Some((1, 2)),
            sack_ranges: [
                Some((10, 20)),
                Some((30, 40)),
                Some((50, 60)),
                Some((70, 80)),
            ],
            payload,
            ..TcpRepr::default()
        };
        // With timestamps only three blocks fit: 12 + 4 + 24 = 40.
        assert_eq!(repr.header_len(), 60);
        let mut b = vec![0u8; repr.buffer_len()];
        repr.emit(
            &mut TcpPacket::new_unchecked(&mut b[..]),
            SRC,
            DST,
            TxChecksum::Compute,
        );
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert!(p.ack() && p.psh());
        assert_eq!(p.payload(), payload);
        assert_eq!(p.segment_len(), 5);
        let parsed = TcpRepr::parse(&p, SRC, DST, RxChecksum::Verify).unwrap();
        repr.sack_ranges[3] = None;
        assert_eq!(parsed, repr);
    }

    #[test]
    fn rst_and_fin() {
        for control in [TcpControl::Rst, TcpControl::Fin, TcpControl::None] {
            let repr = TcpRepr {
                src_port: 1,
                dst_port: 2,
                control,
                ack_number: Some(SeqNumber(5)),
                ..TcpRepr::default()
            };
            let mut b = vec![0u8; repr.buffer_len()];
            repr.emit(
                &mut TcpPacket::new_unchecked(&mut b[..]),
                SRC,
                DST,
                TxChecksum::Compute,
            );
            let p = TcpPacket::new_checked(&b[..]).unwrap();
            assert_eq!(
                TcpRepr::parse(&p, SRC, DST, RxChecksum::Verify).unwrap(),
                repr
            );
            assert_eq!(p.segment_len(), control.seq_len());
        }
    }

    #[test]
    fn checksum_and_ports_checked() {
        let mut b = syn_bytes();
        b[5] ^= 1;
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(
            TcpRepr::parse(&p, SRC, DST, RxChecksum::Verify),
            Err(Error::Checksum)
        );
        assert!(TcpRepr::parse(&p, SRC, DST, RxChecksum::Trust).is_ok());
        let mut b = syn_bytes();
        b[2] = 0;
        b[3] = 0;
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert!(matches!(
            TcpRepr::parse(&p, SRC, DST, RxChecksum::Trust),
            Err(Error::Malformed(_))
        ));
    }

    #[test]
    fn bad_flag_combinations() {
        let mut b = syn_bytes();
        b[13] = 0x03; // SYN+FIN
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert!(matches!(
            TcpRepr::parse(&p, SRC, DST, RxChecksum::Trust),
            Err(Error::Malformed(_))
        ));
    }

    #[test]
    fn header_lengths_checked() {
        let b = syn_bytes();
        assert_eq!(
            TcpPacket::new_checked(&b[..19]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            TcpPacket::new_checked(&b[..39]).unwrap_err(),
            Error::Truncated
        );
        let mut b = syn_bytes();
        b[12] = 0x40;
        assert!(matches!(
            TcpPacket::new_checked(&b[..]),
            Err(Error::Malformed(_))
        ));
    }

    #[test]
    fn malformed_option_rejects_segment_and_unknown_is_skipped() {
        let mut b = syn_bytes();
        b[21] = 9; // MSS length 9: runs into the next options
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert!(matches!(
            TcpRepr::parse(&p, SRC, DST, RxChecksum::Trust),
            Err(Error::Malformed(_))
        ));
        let mut b = syn_bytes();
        b[20] = 0xfd; // MSS becomes an unknown (experimental) 4-byte option
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        let r = TcpRepr::parse(&p, SRC, DST, RxChecksum::Trust).unwrap();
        assert_eq!(r.max_seg_size, None);
        assert_eq!(r.window_scale, Some(7));
    }

    #[test]
    fn window_scale_clamped() {
        let mut b = syn_bytes();
        b[39] = 15;
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        let r = TcpRepr::parse(&p, SRC, DST, RxChecksum::Trust).unwrap();
        assert_eq!(r.window_scale, Some(MAX_WINDOW_SCALE));
    }
}
