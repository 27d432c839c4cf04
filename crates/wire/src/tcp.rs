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

/// One TCP option (RFC 9293 §3.2, RFC 7323, RFC 2018).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// Kind 0: end of the option list.
    EndOfList,
    /// Kind 1: padding.
    NoOperation,
    /// Kind 2: maximum segment size (SYN only, RFC 9293 §3.7.1).
    MaxSegmentSize(u16),
    /// Kind 3: window scale shift count (SYN only, RFC 7323 §2).
    WindowScale(u8),
    /// Kind 4: SACK permitted (SYN only, RFC 2018 §2).
    SackPermitted,
    /// Kind 5: up to four SACK blocks (left edge, right edge), RFC 2018 §3.
    SackRange([Option<(u32, u32)>; 4]),
    /// Kind 8: timestamps (RFC 7323 §3).
    TimeStamp {
        /// The sender's timestamp clock.
        tsval: u32,
        /// The echoed timestamp.
        tsecr: u32,
    },
    /// Any other kind, skipped by the representation.
    Unknown {
        /// The option kind.
        kind: u8,
        /// Its data (after kind and length).
        data: &'a [u8],
    },
}

impl<'a> TcpOption<'a> {
    /// Parses the first option of `buffer`, returning the bytes after it and the option.
    /// Errors: `Truncated` on an empty buffer, `Malformed` if the length byte is missing,
    /// below 2, runs past the buffer, or does not fit the kind.
    pub fn parse(buffer: &'a [u8]) -> Result<(&'a [u8], TcpOption<'a>)> {
        let (&kind, after_kind) = buffer.split_first().ok_or(Error::Truncated)?;
        match kind {
            field::OPT_END => return Ok((after_kind, TcpOption::EndOfList)),
            field::OPT_NOP => return Ok((after_kind, TcpOption::NoOperation)),
            _ => {}
        }
        let len = usize::from(
            *after_kind
                .first()
                .ok_or(Error::Malformed("tcp option length missing"))?,
        );
        if len < 2 {
            return Err(Error::Malformed("tcp option length"));
        }
        let data = buffer
            .get(2..len)
            .ok_or(Error::Malformed("tcp option length past header"))?;
        let rest = buffer.get(len..).unwrap_or(&[]);
        let option = match (kind, data.len()) {
            (field::OPT_MSS, 2) => {
                TcpOption::MaxSegmentSize(u16::from_be_bytes([data[0], data[1]]))
            }
            (field::OPT_MSS, _) => return Err(Error::Malformed("tcp mss option length")),
            (field::OPT_WS, 1) => TcpOption::WindowScale(data[0]),
            (field::OPT_WS, _) => return Err(Error::Malformed("tcp window scale option length")),
            (field::OPT_SACKPERM, 0) => TcpOption::SackPermitted,
            (field::OPT_SACKPERM, _) => {
                return Err(Error::Malformed("tcp sack-permitted option length"))
            }
            (field::OPT_SACKRNG, n) if n > 0 && n % 8 == 0 && n / 8 <= MAX_SACK_BLOCKS => {
                let mut blocks = [None; 4];
                for (slot, b) in blocks.iter_mut().zip(data.chunks_exact(8)) {
                    *slot = Some((be32(b, 0), be32(b, 4)));
                }
                TcpOption::SackRange(blocks)
            }
            (field::OPT_SACKRNG, _) => return Err(Error::Malformed("tcp sack option length")),
            (field::OPT_TSTAMP, 8) => TcpOption::TimeStamp {
                tsval: be32(data, 0),
                tsecr: be32(data, 4),
            },
            (field::OPT_TSTAMP, _) => return Err(Error::Malformed("tcp timestamp option length")),
            (kind, _) => TcpOption::Unknown { kind, data },
        };
        Ok((rest, option))
    }

    /// Bytes this option occupies when emitted.
    pub fn buffer_len(&self) -> usize {
        match self {
            TcpOption::EndOfList | TcpOption::NoOperation => 1,
            TcpOption::MaxSegmentSize(_) => 4,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 2,
            TcpOption::SackRange(r) => 2 + 8 * r.iter().flatten().count(),
            TcpOption::TimeStamp { .. } => 10,
            TcpOption::Unknown { data, .. } => 2 + data.len(),
        }
    }

    /// Writes the option at the start of `buffer` and returns the bytes after it.
    /// Panics if `buffer` is shorter than [`buffer_len`](Self::buffer_len).
    pub fn emit<'b>(&self, buffer: &'b mut [u8]) -> &'b mut [u8] {
        let len = self.buffer_len();
        let (out, rest) = buffer.split_at_mut(len);
        match *self {
            TcpOption::EndOfList => out[0] = field::OPT_END,
            TcpOption::NoOperation => out[0] = field::OPT_NOP,
            _ => {
                out[1] = len as u8;
                match *self {
                    TcpOption::MaxSegmentSize(v) => {
                        out[0] = field::OPT_MSS;
                        out[2..4].copy_from_slice(&v.to_be_bytes());
                    }
                    TcpOption::WindowScale(v) => {
                        out[0] = field::OPT_WS;
                        out[2] = v;
                    }
                    TcpOption::SackPermitted => out[0] = field::OPT_SACKPERM,
                    TcpOption::SackRange(r) => {
                        out[0] = field::OPT_SACKRNG;
                        for ((l, r), chunk) in r.iter().flatten().zip(out[2..].chunks_exact_mut(8))
                        {
                            chunk[..4].copy_from_slice(&l.to_be_bytes());
                            chunk[4..].copy_from_slice(&r.to_be_bytes());
                        }
                    }
                    TcpOption::TimeStamp { tsval, tsecr } => {
                        out[0] = field::OPT_TSTAMP;
                        out[2..6].copy_from_slice(&tsval.to_be_bytes());
                        out[6..10].copy_from_slice(&tsecr.to_be_bytes());
                    }
                    TcpOption::Unknown { kind, data } => {
                        out[0] = kind;
                        out[2..].copy_from_slice(data);
                    }
                    TcpOption::EndOfList | TcpOption::NoOperation => {}
                }
            }
        }
        rest
    }
}

/// The control function of a segment: which of SYN, FIN, RST, PSH it carries (at most one of
/// SYN/FIN/RST; PSH only shown alone).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpControl {
    /// No control flag.
    #[default]
    None,
    /// PSH alone.
    Psh,
    /// SYN.
    Syn,
    /// FIN.
    Fin,
    /// RST.
    Rst,
}

impl TcpControl {
    /// Sequence space the flag occupies: 1 for SYN and FIN, else 0 (RFC 9293 §3.4).
    pub const fn seq_len(self) -> usize {
        match self {
            TcpControl::Syn | TcpControl::Fin => 1,
            _ => 0,
        }
    }
}

/// A TCP segment as the stack sees it: header fields, the options it understands, and the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRepr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// SYN / FIN / RST / PSH.
    pub control: TcpControl,
    /// Sequence number.
    pub seq_number: SeqNumber,
    /// Acknowledgment number; `Some` iff ACK is set.
    pub ack_number: Option<SeqNumber>,
    /// Window field (unscaled).
    pub window_len: u16,
    /// Window scale option (clamped to [`MAX_WINDOW_SCALE`] on parse).
    pub window_scale: Option<u8>,
    /// MSS option.
    pub max_seg_size: Option<u16>,
    /// SACK-permitted option.
    pub sack_permitted: bool,
    /// SACK blocks (left, right), filled from the front. On emit, blocks that do not fit in the
    /// 40 option bytes (3 with timestamps, 4 without) are left out.
    pub sack_ranges: [Option<(u32, u32)>; 4],
    /// Timestamps option (tsval, tsecr).
    pub timestamp: Option<(u32, u32)>,
    /// Segment data.
    pub payload: &'a [u8],
}

impl Default for TcpRepr<'_> {
    fn default() -> Self {
        TcpRepr {
            src_port: 0,
            dst_port: 0,
            control: TcpControl::None,
            seq_number: SeqNumber(0),
            ack_number: None,
            window_len: 0,
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges: [None; 4],
            timestamp: None,
            payload: &[],
        }
    }
}

/// Option bytes of the fixed layouts emitted by [`TcpRepr::emit`] (all 4-byte aligned, the layout
/// Linux uses): MSS; SACK-permitted + timestamps, or NOP NOP + one of them; NOP + window scale;
/// NOP NOP + SACK blocks.
struct OptionPlan {
    len: usize,
    sack_blocks: usize,
}

impl<'a> TcpRepr<'a> {
    /// Parses a checked segment. Ports must be non-zero; with `verify_checksum` the checksum
    /// must verify (`Error::Checksum`). SYN+FIN, SYN+RST and FIN+RST give `Malformed`.
    /// Unknown options are skipped; malformed ones reject the segment.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &TcpPacket<&'a T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        verify_checksum: bool,
    ) -> Result<TcpRepr<'a>> {
        packet.check_len()?;
        if packet.src_port() == 0 || packet.dst_port() == 0 {
            return Err(Error::Malformed("tcp port 0"));
        }
        if verify_checksum && !packet.verify_checksum(src, dst) {
            return Err(Error::Checksum);
        }
        let control = match (packet.syn(), packet.fin(), packet.rst(), packet.psh()) {
            (false, false, false, false) => TcpControl::None,
            (false, false, false, true) => TcpControl::Psh,
            (true, false, false, _) => TcpControl::Syn,
            (false, true, false, _) => TcpControl::Fin,
            (false, false, true, _) => TcpControl::Rst,
            _ => return Err(Error::Malformed("tcp control flags")),
        };
        let mut repr = TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            control,
            seq_number: packet.seq_number(),
            ack_number: packet.ack().then(|| packet.ack_number()),
            window_len: packet.window_len(),
            payload: packet.payload(),
            ..TcpRepr::default()
        };
        let mut options = packet.options_long();
        // Fast path for the layout nearly every established-connection segment carries:
        // NOP, NOP, timestamps (RFC 7323 Appendix A; Linux's tcp_parse_aligned_timestamp).
        if let Some(ts) = options.get(..12) {
            if ts[..4] == [field::OPT_NOP, field::OPT_NOP, field::OPT_TSTAMP, 10] {
                repr.timestamp = Some((be32(ts, 4), be32(ts, 8)));
                options = &options[12..];
            }
        }
        while !options.is_empty() {
            let (rest, option) = TcpOption::parse(options)?;
            match option {
                TcpOption::EndOfList => break,
                TcpOption::NoOperation | TcpOption::Unknown { .. } => {}
                TcpOption::MaxSegmentSize(v) => repr.max_seg_size = Some(v),
                TcpOption::WindowScale(v) => repr.window_scale = Some(v.min(MAX_WINDOW_SCALE)),
                TcpOption::SackPermitted => repr.sack_permitted = true,
                TcpOption::SackRange(r) => repr.sack_ranges = r,
                TcpOption::TimeStamp { tsval, tsecr } => repr.timestamp = Some((tsval, tsecr)),
            }
            options = rest;
        }
        Ok(repr)
    }

    fn option_plan(&self) -> OptionPlan {
        let mut len = 0;
        if self.max_seg_size.is_some() {
            len += 4;
        }
        len += match (self.sack_permitted, self.timestamp.is_some()) {
            (_, true) => 12,
            (true, false) => 4,
            (false, false) => 0,
        };
        if self.window_scale.is_some() {
            len += 4;
        }
        let wanted = self.sack_ranges.iter().flatten().count();
        let room = MAX_OPTIONS_LEN.saturating_sub(len + 4) / 8;
        let sack_blocks = wanted.min(room);
        if sack_blocks > 0 {
            len += 4 + 8 * sack_blocks;
        }
        OptionPlan { len, sack_blocks }
    }

    /// Header length this representation emits, options included.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.option_plan().len
    }
    /// Segment length this representation emits (header + data).
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }
    /// Sequence space: data length plus SYN/FIN (RFC 9293 §3.4).
    pub fn segment_len(&self) -> usize {
        self.payload.len() + self.control.seq_len()
    }

    /// Writes the segment (header, options, data) and, if `fill_checksum`, the checksum over
    /// pseudo-header + [`buffer_len`](Self::buffer_len) bytes. Panics if the buffer is shorter
    /// than `buffer_len()`; it should be exactly that long (the view's checksum covers it all).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut TcpPacket<T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        fill_checksum: bool,
    ) {
        let plan = self.option_plan();
        let header_len = HEADER_LEN + plan.len;
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_seq_number(self.seq_number);
        packet.set_ack_number(self.ack_number.unwrap_or(SeqNumber(0)));
        packet.set_window_len(self.window_len);
        packet.set_header_len(header_len as u8);
        let mut flags = match self.control {
            TcpControl::None => TcpFlags(0),
            TcpControl::Psh => TcpFlags::PSH,
            TcpControl::Syn => TcpFlags::SYN,
            TcpControl::Fin => TcpFlags::FIN,
            TcpControl::Rst => TcpFlags::RST,
        };
        if self.ack_number.is_some() {
            flags = flags | TcpFlags::ACK;
        }
        packet.set_flags(flags);
        packet.set_urgent_at(0);
        packet.set_checksum(0);

        let mut opts = packet.options_mut();
        if let Some(mss) = self.max_seg_size {
            opts = TcpOption::MaxSegmentSize(mss).emit(opts);
        }
        match (self.sack_permitted, self.timestamp) {
            (true, Some((tsval, tsecr))) => {
                opts = TcpOption::SackPermitted.emit(opts);
                opts = TcpOption::TimeStamp { tsval, tsecr }.emit(opts);
            }
            (false, Some((tsval, tsecr))) => {
                opts = TcpOption::NoOperation.emit(opts);
                opts = TcpOption::NoOperation.emit(opts);
                opts = TcpOption::TimeStamp { tsval, tsecr }.emit(opts);
            }
            (true, None) => {
                opts = TcpOption::NoOperation.emit(opts);
                opts = TcpOption::NoOperation.emit(opts);
                opts = TcpOption::SackPermitted.emit(opts);
            }
            (false, None) => {}
        }
        if let Some(ws) = self.window_scale {
            opts = TcpOption::NoOperation.emit(opts);
            opts = TcpOption::WindowScale(ws).emit(opts);
        }
        if plan.sack_blocks > 0 {
            let mut blocks = [None; 4];
            for (slot, r) in blocks
                .iter_mut()
                .zip(self.sack_ranges.iter().flatten())
                .take(plan.sack_blocks)
            {
                *slot = Some(*r);
            }
            opts = TcpOption::NoOperation.emit(opts);
            opts = TcpOption::NoOperation.emit(opts);
            opts = TcpOption::SackRange(blocks).emit(opts);
        }
        debug_assert!(opts.is_empty());

        packet.payload_mut()[..self.payload.len()].copy_from_slice(self.payload);
        if fill_checksum {
            let end = header_len + self.payload.len();
            let c = !checksum::fold(segment_sum(&packet.buffer.as_ref()[..end], src, dst));
            packet.set_checksum(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(TcpRepr::parse(&p, SRC, DST, true).unwrap(), syn_repr());
    }

    #[test]
    fn construct_syn_like_linux() {
        let repr = syn_repr();
        assert_eq!(repr.header_len(), 40);
        let mut b = [0u8; 40];
        repr.emit(&mut TcpPacket::new_unchecked(&mut b[..]), SRC, DST, true);
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
        repr.emit(&mut TcpPacket::new_unchecked(&mut b[..]), SRC, DST, true);
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert!(p.ack() && p.psh());
        assert_eq!(p.payload(), payload);
        assert_eq!(p.segment_len(), 5);
        let parsed = TcpRepr::parse(&p, SRC, DST, true).unwrap();
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
            repr.emit(&mut TcpPacket::new_unchecked(&mut b[..]), SRC, DST, true);
            let p = TcpPacket::new_checked(&b[..]).unwrap();
            assert_eq!(TcpRepr::parse(&p, SRC, DST, true).unwrap(), repr);
            assert_eq!(p.segment_len(), control.seq_len());
        }
    }

    #[test]
    fn checksum_and_ports_checked() {
        let mut b = syn_bytes();
        b[5] ^= 1;
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(TcpRepr::parse(&p, SRC, DST, true), Err(Error::Checksum));
        assert!(TcpRepr::parse(&p, SRC, DST, false).is_ok());
        let mut b = syn_bytes();
        b[2] = 0;
        b[3] = 0;
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert!(matches!(
            TcpRepr::parse(&p, SRC, DST, false),
            Err(Error::Malformed(_))
        ));
    }

    #[test]
    fn bad_flag_combinations() {
        let mut b = syn_bytes();
        b[13] = 0x03; // SYN+FIN
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert!(matches!(
            TcpRepr::parse(&p, SRC, DST, false),
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
    fn options_parse_and_reject() {
        assert_eq!(
            TcpOption::parse(&[2, 4, 0x05, 0xb4, 9]).unwrap(),
            (&[9u8][..], TcpOption::MaxSegmentSize(1460))
        );
        assert_eq!(
            TcpOption::parse(&[0, 1]).unwrap(),
            (&[1u8][..], TcpOption::EndOfList)
        );
        assert_eq!(
            TcpOption::parse(&[30, 3, 7]).unwrap(),
            (
                &[][..],
                TcpOption::Unknown {
                    kind: 30,
                    data: &[7]
                }
            )
        );
        for bad in [
            &[2u8][..],              // length missing
            &[2, 1][..],             // length < 2
            &[2, 3, 0][..],          // MSS with wrong length
            &[2, 4, 0][..],          // runs past the buffer
            &[3, 4, 0, 0][..],       // WS with wrong length
            &[4, 3, 0][..],          // SACK-permitted with data
            &[5, 2][..],             // SACK with no block
            &[5, 6, 0, 0, 0, 0][..], // SACK not a multiple of 8
            &[8, 6, 0, 0, 0, 0][..], // TS too short
            &[30, 0][..],            // unknown with length 0
        ] {
            assert!(
                matches!(TcpOption::parse(bad), Err(Error::Malformed(_))),
                "{bad:?}"
            );
        }
        assert_eq!(TcpOption::parse(&[]), Err(Error::Truncated));
        let mut five = vec![5u8, 42];
        five.extend_from_slice(&[0; 40]);
        assert!(TcpOption::parse(&five).is_err());
    }

    #[test]
    fn malformed_option_rejects_segment_and_unknown_is_skipped() {
        let mut b = syn_bytes();
        b[21] = 9; // MSS length 9: runs into the next options
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert!(matches!(
            TcpRepr::parse(&p, SRC, DST, false),
            Err(Error::Malformed(_))
        ));
        let mut b = syn_bytes();
        b[20] = 0xfd; // MSS becomes an unknown (experimental) 4-byte option
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        let r = TcpRepr::parse(&p, SRC, DST, false).unwrap();
        assert_eq!(r.max_seg_size, None);
        assert_eq!(r.window_scale, Some(7));
    }

    #[test]
    fn window_scale_clamped() {
        let mut b = syn_bytes();
        b[39] = 15;
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        let r = TcpRepr::parse(&p, SRC, DST, false).unwrap();
        assert_eq!(r.window_scale, Some(MAX_WINDOW_SCALE));
    }

    #[test]
    fn option_emit_parse() {
        for o in [
            TcpOption::MaxSegmentSize(536),
            TcpOption::WindowScale(3),
            TcpOption::SackPermitted,
            TcpOption::SackRange([Some((1, 2)), Some((3, 4)), None, None]),
            TcpOption::TimeStamp { tsval: 9, tsecr: 8 },
            TcpOption::Unknown {
                kind: 99,
                data: &[1, 2, 3],
            },
        ] {
            let mut buf = [0u8; 40];
            let rest = o.emit(&mut buf).len();
            assert_eq!(40 - rest, o.buffer_len());
            let (_, parsed) = TcpOption::parse(&buf[..o.buffer_len()]).unwrap();
            assert_eq!(parsed, o);
        }
    }
}
