//! The TCP segment representation: control flags, the options the stack uses and the data, parsed
//! from and emitted into a [`TcpPacket`] (RFC 9293 §3.1).

use crate::checksum::{RxChecksum, TxChecksum};
use std::net::Ipv4Addr;

use super::{
    be32, field, segment_sum, TcpFlags, TcpOption, TcpPacket, HEADER_LEN, MAX_OPTIONS_LEN,
    MAX_WINDOW_SCALE,
};
use crate::checksum;
use crate::seq::SeqNumber;
use crate::{Error, Result};

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
    /// Parses a checked segment. Ports must be non-zero; with [`RxChecksum::Verify`] the checksum
    /// must verify (`Error::Checksum`). SYN+FIN, SYN+RST and FIN+RST give `Malformed`.
    /// Unknown options are skipped; malformed ones reject the segment.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &TcpPacket<&'a T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        checksum: RxChecksum,
    ) -> Result<TcpRepr<'a>> {
        packet.check_len()?;
        if packet.src_port() == 0 || packet.dst_port() == 0 {
            return Err(Error::Malformed("tcp port 0"));
        }
        if checksum == RxChecksum::Verify && !packet.verify_checksum(src, dst) {
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

    /// Writes the segment (header, options, data) and, with [`TxChecksum::Compute`], the checksum over
    /// pseudo-header + [`buffer_len`](Self::buffer_len) bytes. Panics if the buffer is shorter
    /// than `buffer_len()`; it should be exactly that long (the view's checksum covers it all).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut TcpPacket<T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        checksum: TxChecksum,
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
        if checksum == TxChecksum::Compute {
            let end = header_len + self.payload.len();
            let c = !checksum::fold(segment_sum(&packet.buffer.as_ref()[..end], src, dst));
            packet.set_checksum(c);
        }
    }
}
