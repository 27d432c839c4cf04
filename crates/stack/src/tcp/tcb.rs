//! The transmission control block: one TCP connection's state (RFC 9293 §3.3.1) and the user
//! calls on it (RFC 9293 §3.9). Segment arrival is in `input.rs`, segment generation in
//! `output.rs`, timers in `timers.rs`.
//!
//! Sans-IO: every call takes `now`; the shard feeds segments with [`Tcb::on_segment`], drains
//! [`Tcb::poll_segment`] until it returns `None` after any call, and calls
//! [`Tcb::on_deadline`] when [`Tcb::next_deadline`] passes.

use super::config::{ConnConfig, TcpConfig};
use super::congestion::{Congestion, Controller};
use super::recv_buffer::RecvBuffer;
use super::rtt::RttEstimator;
use super::send_buffer::SendBuffer;
use super::state::TcpState;
use crate::FourTuple;
use boomerang_wire::{SeqNumber, TcpControl, TcpRepr};
use std::time::{Duration, Instant};

/// Bytes of the timestamp option in every segment once negotiated (NOP, NOP, TS; RFC 7323 App. A).
pub const TIMESTAMP_OPTION_LEN: usize = 12;

/// Why a user call on a connection failed (RFC 9293 §3.9 error reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TcpError {
    /// Nothing to read / no room to write now.
    #[error("operation would block")]
    WouldBlock,
    /// The peer reset the connection, or it was aborted ("connection reset").
    #[error("connection reset")]
    Reset,
    /// The active open was refused by a RST in SYN-SENT ("connection refused").
    #[error("connection refused")]
    Refused,
    /// Retransmissions, SYN retries or keep-alive probes ran out ("connection timed out").
    #[error("connection timed out")]
    TimedOut,
    /// This direction is closed or closing ("connection closing").
    #[error("connection closing")]
    Closing,
}

/// Why [`Tcb::on_segment`] discarded a segment (or part of it), for the shard's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SegmentDrop {
    /// The connection is closed; answered with `Outcome::rst` (RFC 9293 §3.10.7.1).
    NoConnection,
    /// Failed the sequence-number acceptability test (RFC 9293 §3.10.7.4 first check).
    Unacceptable,
    /// Old timestamp (PAWS, RFC 7323 §5).
    Paws,
    /// In-window RST not at `RCV.NXT`: challenge ACK (RFC 5961 §3).
    RstNotExact,
    /// SYN in a synchronized state: challenge ACK (RFC 5961 §4).
    SynInWindow,
    /// No ACK flag (RFC 9293 §3.10.7.4 fifth check).
    NoAck,
    /// Unacceptable ACK in SYN-SENT or SYN-RECEIVED (answered with a RST).
    BadAck,
    /// ACK of data never sent.
    AckUnsent,
    /// ACK older than the largest window allows (RFC 5961 §5).
    AckTooOld,
    /// Out-of-order data beyond the reassembly limits.
    ReassemblyFull,
    /// Data for a connection the user closed (answered with a RST).
    DataAfterClose,
}

/// What one input (segment or deadline) did to a connection, for the shard's bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outcome {
    /// The segment (or part of it) was discarded, and why.
    pub dropped: Option<SegmentDrop>,
    /// Three duplicate ACKs started a fast retransmit (RFC 5681 §3.2).
    pub fast_retransmit: bool,
    /// The retransmission timer expired (from [`Tcb::on_deadline`]).
    pub retransmit_timeout: bool,
    /// D-SACKs showed the last fast recovery's retransmissions needless: its window
    /// reduction was undone.
    pub undo: bool,
    /// A tail loss probe that resent old data repaired a real loss (RFC 8985 §7.4): the
    /// congestion controller responded as to a fast recovery.
    pub tlp_repaired: bool,
    /// The first ACK after a retransmission timeout showed the timeout spurious (RFC 3522):
    /// its window reduction was undone and go-back-N stopped (RFC 4015).
    pub rto_undo: bool,
    /// The handshake completed now (passive open: queue for accept; active: connected).
    pub established: bool,
    /// Data, end-of-stream or an error became readable.
    pub readable: bool,
    /// Send-buffer room was freed (or sending became impossible).
    pub writable: bool,
    /// The connection entered TIME-WAIT now.
    pub time_wait: bool,
    /// The connection reached CLOSED now; the shard may release it once the user closed it.
    pub closed: bool,
    /// The connection was reset by the peer or failed (see [`Tcb::error`]).
    pub reset: bool,
    /// A RST to send in reply that belongs to no connection state (RFC 9293 §3.10.7).
    pub rst: Option<TcpRepr<'static>>,
}

/// One segment to transmit: header fields plus the range of the send buffer it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutSegment {
    repr: TcpRepr<'static>,
    payload_len: usize,
    pub(super) retransmission: bool,
}

impl OutSegment {
    pub(super) fn new(repr: TcpRepr<'static>, payload_len: usize) -> OutSegment {
        OutSegment {
            repr,
            payload_len,
            retransmission: false,
        }
    }

    /// The segment resends sequence space sent before (for retransmission counters).
    pub fn is_retransmission(&self) -> bool {
        self.retransmission
    }

    /// The header (payload empty); emit it, then fill the payload with [`Tcb::write_payload`].
    pub fn repr(&self) -> TcpRepr<'static> {
        self.repr
    }

    /// The header with the payload the caller copied out of the send buffer.
    pub fn repr_with_payload<'a>(&self, payload: &'a [u8]) -> TcpRepr<'a> {
        TcpRepr {
            payload,
            ..self.repr
        }
    }

    /// Payload bytes this segment carries.
    pub fn payload_len(&self) -> usize {
        self.payload_len
    }

    /// TCP header plus payload length in bytes.
    pub fn tcp_len(&self) -> usize {
        self.repr.header_len() + self.payload_len
    }
}

/// One TCP connection (RFC 9293 §3.3.1 transmission control block).
#[derive(Debug, Clone)]
pub struct Tcb {
    pub(super) cfg: ConnConfig,
    pub(super) tuple: FourTuple,
    pub(super) state: TcpState,
    pub(super) active_open: bool,
    pub(super) error: Option<TcpError>,

    // Send sequence space (RFC 9293 §3.3.1).
    pub(super) iss: SeqNumber,
    pub(super) snd_una: SeqNumber,
    pub(super) snd_nxt: SeqNumber,
    /// Highest sequence number sent (`SND.NXT` may move back to `SND.UNA` after an RTO).
    pub(super) snd_max: SeqNumber,
    pub(super) snd_wnd: u32,
    pub(super) max_snd_wnd: u32,
    pub(super) snd_wl1: SeqNumber,
    pub(super) snd_wl2: SeqNumber,
    /// Shift applied to the peer's window field (RFC 7323 §2.3).
    pub(super) snd_wscale: u8,
    /// Window scaling was negotiated (both SYNs carried the option).
    pub(super) ws_enabled: bool,
    /// Largest segment the peer accepts (its MSS option), bounded by our path MTU.
    pub(super) snd_mss: u16,
    pub(super) peer_mss: u16,
    pub(super) path_mss: u16,
    pub(super) fin_queued: bool,

    // Receive sequence space.
    pub(super) irs: SeqNumber,
    pub(super) rcv_nxt: SeqNumber,
    /// Right edge of the window last advertised (never moved left, RFC 9293 §3.8.6).
    pub(super) rcv_adv: SeqNumber,
    /// A duplicate the peer sent that the next ACK reports first (D-SACK, RFC 2883 §4).
    pub(super) dsack: Option<(SeqNumber, SeqNumber)>,
    pub(super) rcv_wscale: u8,
    pub(super) rcv_mss: u16,
    /// Sequence number of the peer's FIN once seen (it may arrive before the data before it).
    pub(super) rcv_fin: Option<SeqNumber>,
    pub(super) fin_received: bool,

    // Options (RFC 7323, RFC 2018).
    pub(super) ts_enabled: bool,
    pub(super) ts_recent: u32,
    pub(super) ts_offset: u32,
    pub(super) last_ack_sent: SeqNumber,
    pub(super) sack_ok: bool,
    pub(super) epoch: Instant,

    pub(super) send: SendBuffer,
    pub(super) recv: RecvBuffer,

    // Loss recovery and congestion control.
    pub(super) rtt: RttEstimator,
    /// The timed segment (RFC 6298 §3, one at a time) when timestamps are off: (ack that ends it, send time).
    pub(super) rtt_probe: Option<(SeqNumber, Instant)>,
    pub(super) cc: Congestion,
    /// Delivery-rate estimation, for controllers that use it (BBR).
    pub(super) rate: Option<Box<super::rate::RateSampler>>,
    /// Pacing: the earliest instant the next data segment may leave.
    pub(super) pace_next: Option<Instant>,
    /// Pacing held data back: wake up then.
    pub(super) pace_at: Option<Instant>,
    /// Loss detection and recovery (RFC 8985 RACK-TLP, RFC 6675, RFC 6937, RFC 2883 undo).
    pub(super) rec: super::recovery::Recovery,
    pub(super) retries: u32,
    /// When data was last sent (restart after idle, RFC 5681 §4.1).
    pub(super) last_data_sent: Option<Instant>,
    /// Unanswered window probes / zero-window RTOs (reset by any ACK from the peer).
    pub(super) probes_out: u32,
    /// The user closed its handle: nothing will read, so FIN-WAIT-2 is bounded and data is refused.
    pub(super) orphaned: bool,

    // ACK generation.
    pub(super) ack_pending: bool,
    pub(super) delack_segments: u32,
    pub(super) rst_pending: bool,
    /// When we last answered an invalid segment (rate limit, RFC 5961 §7).
    pub(super) last_invalid_ack: Option<Instant>,
    pub(super) probe_pending: bool,
    pub(super) sws_override: bool,

    // Receive-window auto-tuning (Linux `tcp_rcv_space_adjust`).
    /// Bytes the user read since `rcvq_start_ms`.
    pub(super) rcvq_copied: u32,
    /// Start of the current measurement (milliseconds since `epoch`).
    pub(super) rcvq_start_ms: u32,

    // Timers, as deadlines.
    pub(super) rtx_at: Option<Instant>,
    pub(super) delack_at: Option<Instant>,
    pub(super) persist_at: Option<Instant>,
    pub(super) persist_backoff: u32,
    pub(super) keepalive_at: Option<Instant>,
    pub(super) keepalive_probes: u32,
    pub(super) time_wait_at: Option<Instant>,
}

impl Tcb {
    fn new(
        cfg: &TcpConfig,
        tuple: FourTuple,
        iss: SeqNumber,
        state: TcpState,
        now: Instant,
    ) -> Tcb {
        let rcv_mss = cfg.mss.max(64);
        Tcb {
            cfg: ConnConfig::from(cfg),
            tuple,
            state,
            active_open: false,
            error: None,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            max_snd_wnd: 0,
            snd_wl1: SeqNumber(0),
            snd_wl2: iss,
            snd_wscale: 0,
            ws_enabled: false,
            snd_mss: super::config::DEFAULT_PEER_MSS.min(rcv_mss),
            peer_mss: super::config::DEFAULT_PEER_MSS,
            path_mss: rcv_mss,
            fin_queued: false,
            irs: SeqNumber(0),
            rcv_nxt: SeqNumber(0),
            rcv_adv: SeqNumber(0),
            dsack: None,
            rcv_wscale: 0,
            rcv_mss,
            rcv_fin: None,
            fin_received: false,
            ts_enabled: false,
            ts_recent: 0,
            ts_offset: iss.0.rotate_left(13),
            last_ack_sent: SeqNumber(0),
            sack_ok: false,
            epoch: now,
            send: SendBuffer::new(cfg.snd_buf_start(), iss + 1),
            recv: RecvBuffer::new(cfg.rcv_buf_start(), cfg.max_ooo_segments, cfg.max_ooo_bytes),
            rtt: RttEstimator::new(cfg.initial_rto, cfg.min_rto, cfg.max_rto),
            rtt_probe: None,
            cc: Congestion::new(
                cfg.congestion,
                cfg.initial_cwnd_segments,
                usize::from(rcv_mss),
            ),
            rate: None,
            pace_next: None,
            pace_at: None,
            rec: super::recovery::Recovery::new(iss),
            retries: 0,
            last_data_sent: None,
            probes_out: 0,
            orphaned: false,
            ack_pending: false,
            delack_segments: 0,
            rst_pending: false,
            last_invalid_ack: None,
            probe_pending: false,
            sws_override: false,
            rcvq_copied: 0,
            rcvq_start_ms: 0,
            rtx_at: None,
            delack_at: None,
            persist_at: None,
            persist_backoff: 0,
            keepalive_at: None,
            keepalive_probes: 0,
            time_wait_at: None,
        }
    }

    /// A connection created by a listener for an arriving SYN (RFC 9293 §3.10.7.2): it enters
    /// SYN-RECEIVED and its first [`Tcb::poll_segment`] is the SYN-ACK. The caller has checked
    /// that `syn` carries SYN without ACK or RST.
    pub fn listen_syn(
        cfg: &TcpConfig,
        tuple: FourTuple,
        syn: &TcpRepr,
        iss: SeqNumber,
        now: Instant,
    ) -> Tcb {
        let mut tcb = Tcb::new(cfg, tuple, iss, TcpState::SynReceived, now);
        tcb.irs = syn.seq_number;
        tcb.rcv_nxt = syn.seq_number + 1;
        tcb.rcv_adv = tcb.rcv_nxt;
        tcb.negotiate(syn);
        tcb.snd_wnd = u32::from(syn.window_len);
        tcb.max_snd_wnd = tcb.snd_wnd;
        tcb.snd_wl1 = syn.seq_number;
        tcb.snd_wl2 = iss;
        tcb.arm_keepalive(now);
        tcb
    }

    /// An active open (RFC 9293 §3.10.1): SYN-SENT; the first [`Tcb::poll_segment`] is the SYN.
    /// `mss` is what the path allows (IP MTU − 40).
    pub fn connect(
        cfg: &TcpConfig,
        tuple: FourTuple,
        iss: SeqNumber,
        mss: u16,
        now: Instant,
    ) -> Tcb {
        let mut tcb = Tcb::new(cfg, tuple, iss, TcpState::SynSent, now);
        tcb.active_open = true;
        tcb.rcv_mss = tcb.rcv_mss.min(mss.max(64));
        tcb.path_mss = tcb.rcv_mss;
        tcb.snd_mss = tcb.snd_mss.min(tcb.path_mss);
        tcb
    }

    /// A connection rebuilt from the ACK that completes a SYN-cookie handshake (validated by
    /// [`super::SynCookies::validate`], which gave `opts`): ESTABLISHED at once; the ACK itself
    /// (and any data it carries) is processed, its [`Outcome`] returned.
    pub fn from_syn_cookie(
        cfg: &TcpConfig,
        tuple: FourTuple,
        ack: &TcpRepr,
        opts: super::CookieOptions,
        now: Instant,
    ) -> (Tcb, Outcome) {
        let iss = ack.ack_number.unwrap_or(SeqNumber(1)) - 1;
        let mut tcb = Tcb::new(cfg, tuple, iss, TcpState::Established, now);
        tcb.irs = ack.seq_number - 1;
        tcb.rcv_nxt = ack.seq_number;
        let syn = TcpRepr {
            max_seg_size: Some(opts.mss),
            window_scale: opts.window_scale,
            sack_permitted: opts.sack_permitted,
            timestamp: opts.timestamp.map(|(tsval, _)| (tsval, 0)),
            ..TcpRepr::default()
        };
        tcb.negotiate(&syn);
        if let Some((_, echoed)) = opts.timestamp {
            // Continue our clock from the TSval the SYN-ACK carried (PAWS at the peer).
            tcb.ts_offset = echoed;
        }
        // The SYN-ACK offered min(buffer, 65 535), unscaled.
        tcb.rcv_adv = tcb.rcv_nxt + tcb.recv.window().min(0xffff);
        tcb.last_ack_sent = tcb.rcv_nxt;
        tcb.snd_una = iss + 1;
        tcb.snd_nxt = iss + 1;
        tcb.snd_max = iss + 1;
        tcb.rec.recover = iss + 1;
        tcb.snd_wnd = u32::from(ack.window_len) << tcb.snd_wscale;
        tcb.max_snd_wnd = tcb.snd_wnd;
        tcb.snd_wl1 = ack.seq_number;
        tcb.snd_wl2 = iss + 1;
        tcb.arm_keepalive(now);
        let mut out = tcb.on_segment(ack, now);
        out.established = true;
        out.writable = true;
        (tcb, out)
    }

    /// Applies the options of the peer's SYN (RFC 9293 §3.7.1 MSS, RFC 7323 §2.2/§3.2, RFC 2018 §2).
    pub(super) fn negotiate(&mut self, syn: &TcpRepr) {
        self.peer_mss = syn
            .max_seg_size
            .unwrap_or(super::config::DEFAULT_PEER_MSS)
            .max(64);
        self.snd_mss = self.peer_mss.min(self.path_mss);
        match syn.window_scale {
            Some(shift) if self.cfg.window_scaling => {
                self.snd_wscale = shift.min(super::config::MAX_WINDOW_SCALE);
                self.rcv_wscale = self.cfg.rcv_wscale;
                self.ws_enabled = true;
                // The window is announced in units of 2^shift bytes and rounded up rather than
                // let its right edge move left: room for that beyond the buffer.
                let unit = 1usize << self.rcv_wscale;
                self.recv
                    .allow_slack(usize::from(self.rcv_mss).max(unit).next_multiple_of(unit));
            }
            _ => {
                self.snd_wscale = 0;
                self.rcv_wscale = 0;
                self.ws_enabled = false;
            }
        }
        match syn.timestamp {
            Some((tsval, _)) if self.cfg.timestamps => {
                self.ts_enabled = true;
                self.ts_recent = tsval;
            }
            _ => self.ts_enabled = false,
        }
        self.sack_ok = self.cfg.sack && syn.sack_permitted;
        self.cc = Congestion::new(
            self.cfg.congestion,
            self.cfg.initial_cwnd_segments,
            self.eff_snd_mss(),
        );
        self.rate = self.cc.wants_rate_samples().then(Box::default);
    }

    /// Our segment size for data: the peer's MSS less the options every segment carries.
    pub(super) fn eff_snd_mss(&self) -> usize {
        let opts = if self.ts_enabled {
            TIMESTAMP_OPTION_LEN
        } else {
            0
        };
        usize::from(self.snd_mss).saturating_sub(opts).max(1)
    }

    /// Sets our timestamp clock so that it reads `tsval` now (the shard's per-4-tuple clock,
    /// `IsnGenerator::ts_clock`); a later `ts_now` advances from there in milliseconds.
    pub(crate) fn start_ts_clock(&mut self, tsval: u32, now: Instant) {
        let ms = now.saturating_duration_since(self.epoch).as_millis() as u32;
        self.ts_offset = tsval.wrapping_sub(ms);
    }

    /// The current RFC 7323 timestamp clock (milliseconds, per-connection offset).
    pub(super) fn ts_now(&self, now: Instant) -> u32 {
        let ms = now.saturating_duration_since(self.epoch).as_millis() as u32;
        ms.wrapping_add(self.ts_offset)
    }

    // ---- user calls (RFC 9293 §3.9) -------------------------------------------------------

    /// Queues `data` for sending (RFC 9293 §3.10.2 SEND); returns how much was accepted.
    pub fn send(&mut self, data: &[u8]) -> Result<usize, TcpError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        match self.state {
            TcpState::SynSent
            | TcpState::SynReceived
            | TcpState::Established
            | TcpState::CloseWait
                if !self.fin_queued => {}
            _ => return Err(TcpError::Closing),
        }
        if data.is_empty() {
            return Ok(0);
        }
        let n = self.send.write(data);
        if n == 0 {
            return Err(TcpError::WouldBlock);
        }
        Ok(n)
    }

    /// Takes received in-order bytes (RFC 9293 §3.10.3 RECEIVE): `Ok(0)` is end of stream.
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<usize, TcpError> {
        if !self.recv.is_empty() {
            if buf.is_empty() {
                return Ok(0);
            }
            let before = self.advertisable_increase();
            let n = self.recv.read(buf);
            self.rcvq_copied = self
                .rcvq_copied
                .saturating_add(n.min(u32::MAX as usize) as u32);
            let after = self.advertisable_increase();
            if after > before && self.window_update_due(after) {
                self.ack_pending = true;
            }
            return Ok(n);
        }
        if self.fin_received {
            return Ok(0);
        }
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.state == TcpState::Closed {
            return Ok(0);
        }
        Err(TcpError::WouldBlock)
    }

    /// Closes our sending direction (RFC 9293 §3.10.4 CLOSE): FIN after the queued data.
    pub fn shutdown(&mut self) {
        match self.state {
            TcpState::SynSent => {
                self.state = TcpState::Closed;
                self.clear_timers();
            }
            TcpState::SynReceived => self.fin_queued = true,
            TcpState::Established => {
                self.fin_queued = true;
                self.state = TcpState::FinWait1;
            }
            TcpState::CloseWait => {
                self.fin_queued = true;
                self.state = TcpState::LastAck;
            }
            _ => {}
        }
    }

    /// The user releases the connection (RFC 9293 §3.10.4 CLOSE on a handle nobody reads):
    /// with unread data this is an abort (RST, RFC 2525 §2.17); otherwise FIN after the queued
    /// data, FIN-WAIT-2 bounded by `fin_wait_2_timeout`, and data arriving later gets a RST.
    /// (The FIN-WAIT-2 timer is armed by the next [`Tcb::poll_segment`].)
    pub fn close(&mut self) {
        if !self.recv.is_empty() || self.recv.has_out_of_order() {
            self.abort();
            return;
        }
        self.orphaned = true;
        self.shutdown();
    }

    /// Aborts the connection (RFC 9293 §3.10.5 ABORT): a RST goes out in synchronized states.
    pub fn abort(&mut self) {
        if (self.state.is_synchronized() && self.state != TcpState::TimeWait)
            || self.state == TcpState::SynReceived
        {
            self.rst_pending = true;
        }
        self.state = TcpState::Closed;
        if self.error.is_none() {
            self.error = Some(TcpError::Reset);
        }
        self.clear_timers();
    }

    /// Lowers (or raises) the segment size to fit an IP MTU (RFC 1191 path MTU discovery).
    /// When the segment size shrinks with data in flight, the in-flight segments were
    /// probably dropped for their size: resend them at once in the new size (no congestion
    /// response — RFC 1191 §6.5, Linux `tcp_simple_retransmit`).
    pub fn set_path_mtu(&mut self, mtu: usize) {
        let mss = mtu.saturating_sub(40).clamp(64, usize::from(u16::MAX)) as u16;
        let old = self.snd_mss;
        self.path_mss = mss;
        self.snd_mss = self.peer_mss.min(mss);
        if self.snd_mss < old && self.state.is_synchronized() && self.snd_una != self.snd_max {
            self.snd_nxt = self.snd_una;
            self.rtt_probe = None;
            self.rec.retransmit_at = None;
        }
    }

    // ---- observers ---------------------------------------------------------------------------

    /// The connection state.
    pub fn state(&self) -> TcpState {
        self.state
    }

    /// The connection's addresses.
    pub fn tuple(&self) -> FourTuple {
        self.tuple
    }

    /// Why the connection failed, if it did.
    pub fn error(&self) -> Option<TcpError> {
        self.error
    }

    /// A `recv` would return something now (data, end of stream or an error).
    pub fn is_readable(&self) -> bool {
        !self.recv.is_empty() || self.fin_received || self.error.is_some()
    }

    /// A `send` would accept data (or fail) now.
    pub fn is_writable(&self) -> bool {
        self.send.free() > 0 || self.error.is_some() || self.fin_queued
    }

    /// In-order bytes waiting for `recv`.
    pub fn recv_queue(&self) -> usize {
        self.recv.len()
    }

    /// Bytes queued for sending or awaiting acknowledgment.
    pub fn send_queue(&self) -> usize {
        self.send.len()
    }

    /// Room in the send buffer.
    pub fn send_capacity(&self) -> usize {
        self.send.free()
    }

    /// When TIME-WAIT ends (the shard's TIME-WAIT table may keep just this).
    pub fn time_wait_deadline(&self) -> Option<Instant> {
        self.time_wait_at
            .filter(|_| self.state == TcpState::TimeWait)
    }

    /// Next byte expected from the peer (`RCV.NXT`).
    pub fn rcv_nxt(&self) -> SeqNumber {
        self.rcv_nxt
    }

    /// Next byte we send (`SND.NXT`).
    pub fn snd_nxt(&self) -> SeqNumber {
        self.snd_nxt
    }

    /// Oldest unacknowledged byte (`SND.UNA`).
    pub fn snd_una(&self) -> SeqNumber {
        self.snd_una
    }

    /// The congestion window in bytes.
    pub fn cwnd(&self) -> usize {
        self.cc.window()
    }

    /// The current retransmission timeout.
    pub fn rto(&self) -> Duration {
        self.rtt.rto()
    }

    /// Heap bytes held by the buffers (the struct itself is `size_of::<Tcb>()`).
    pub fn heap_bytes(&self) -> usize {
        self.send.allocated() + self.recv.allocated()
    }

    /// Whether a new SYN for this 4-tuple may replace this connection in TIME-WAIT.
    /// RFC 6191 §2: when this incarnation used timestamps and the SYN carries one (so the new
    /// incarnation would use them), its TSval must be above `TS.Recent`; otherwise its
    /// sequence number must be above `RCV.NXT` (RFC 9293 §3.6.1).
    pub fn accepts_new_syn(&self, syn: &TcpRepr) -> bool {
        self.state == TcpState::TimeWait
            && super::time_wait::accepts_new_syn(syn, self.rcv_nxt, self.ts_recent_in_use())
    }

    /// Retransmission timeouts (or unanswered window probes) before the connection is
    /// aborted: `max-retries`, or `orphan-retries` once the application has closed it.
    pub(super) fn retry_limit(&self) -> u32 {
        if self.orphaned {
            self.cfg.max_retries.min(self.cfg.orphan_retries)
        } else {
            self.cfg.max_retries
        }
    }

    /// TS.Recent when timestamps are in use.
    pub(super) fn ts_recent_in_use(&self) -> Option<u32> {
        self.ts_enabled.then_some(self.ts_recent)
    }

    /// The compact record of this connection in TIME-WAIT (`None` in any other state), for a
    /// shard to keep instead of the whole connection once nothing is left to send.
    pub fn time_wait_record(&mut self, now: Instant) -> Option<super::TimeWait> {
        if self.state != TcpState::TimeWait {
            return None;
        }
        let window = self.advertise_window(false);
        let timestamps = self.ts_enabled.then(|| (self.ts_now(now), self.ts_recent));
        Some(super::TimeWait::new(
            (self.tuple.local.port(), self.tuple.remote.port()),
            (self.snd_max, self.rcv_nxt),
            window,
            timestamps,
            now,
            self.time_wait_at.unwrap_or(now + self.cfg.time_wait()),
        ))
    }

    // ---- receive-window helpers ------------------------------------------------------------

    /// How far the right edge could move right now: `RCV.NXT + free − RCV.ADV`.
    pub(super) fn advertisable_increase(&self) -> usize {
        let right = self.rcv_nxt + self.recv.window();
        (right - self.rcv_adv).max(0) as usize
    }

    /// Receiver SWS avoidance (RFC 9293 §3.8.6.2.2): move the edge only by
    /// min(buffer/2, MSS) or more.
    pub(super) fn sws_threshold(&self) -> usize {
        (self.recv.capacity() / 2)
            .min(usize::from(self.rcv_mss))
            .max(1)
    }

    /// Receive-window auto-tuning, once per smoothed RTT (as Linux `tcp_rcv_space_adjust`):
    /// when the user read at least half the receive buffer during the last RTT, a sender
    /// limited by our window would fill it within an RTT, so the buffer grows to twice the
    /// bytes read (room for the sender's window to double, as in slow start), at most
    /// [`TcpConfig::rcv_buf`](super::config::TcpConfig::rcv_buf).
    /// Called on each arriving segment; the next ACK advertises the larger window.
    pub(super) fn rcv_space_adjust(&mut self, now: Instant) {
        let max = self.cfg.rcv_buf_max();
        let cap = self.recv.capacity();
        if cap >= max {
            return;
        }
        let Some(srtt) = self.rtt.srtt() else {
            return;
        };
        let now_ms = now.saturating_duration_since(self.epoch).as_millis() as u32;
        let elapsed = now_ms.wrapping_sub(self.rcvq_start_ms);
        if u128::from(elapsed) < srtt.as_millis().max(1) {
            return;
        }
        let copied = self.rcvq_copied as usize;
        self.rcvq_copied = 0;
        self.rcvq_start_ms = now_ms;
        let target = copied.saturating_mul(2).min(max);
        if target > cap {
            self.recv.raise_capacity(target);
            // Announce a significantly larger window at once (RFC 9293 §3.8.6.2.2).
            let increase = self.advertisable_increase();
            if self.window_update_due(increase) {
                self.ack_pending = true;
            }
        }
    }

    /// Whether a window update is worth an immediate ACK after the user read data.
    fn window_update_due(&self, increase: usize) -> bool {
        let current = (self.rcv_adv - self.rcv_nxt).max(0) as usize;
        let mss = usize::from(self.rcv_mss);
        if current < mss {
            increase >= self.sws_threshold()
        } else {
            increase >= (self.recv.capacity() / 2).min(2 * mss)
        }
    }

    /// The window field to send, moving `RCV.ADV` per SWS avoidance; SYNs are never scaled
    /// (RFC 7323 §2.2). `RCV.ADV` never exceeds what the field can express, and never moves
    /// left (RFC 9293 §3.8.6.2.2): with a scaled window, `RCV.ADV − RCV.NXT` is rounded up to
    /// the next unit (as Linux `tcp_select_window` does), into the buffer's slack, rather than
    /// down — rounding down retracts the right edge by up to a unit on every ACK for data the
    /// user has not read yet. Only when the slack is spent (the user stopped reading while
    /// the peer kept sending) is the window rounded down instead; `RCV.ADV` stays put then.
    pub(super) fn advertise_window(&mut self, syn: bool) -> u16 {
        let shift = if syn { 0 } else { self.rcv_wscale };
        let unit = 1usize << shift;
        if self.advertisable_increase() >= self.sws_threshold() || self.rcv_adv.lt(self.rcv_nxt) {
            let cap = 0xffffusize << shift;
            let wnd = self.recv.window().min(cap) / unit * unit;
            let right = self.rcv_nxt + wnd;
            if right.gt(self.rcv_adv) || self.rcv_adv.lt(self.rcv_nxt) {
                self.rcv_adv = right;
            }
        }
        let wnd = (self.rcv_adv - self.rcv_nxt).max(0) as usize;
        let mut units = wnd.div_ceil(unit);
        if units * unit > self.recv.room() {
            units = wnd / unit;
        }
        let units = units.min(0xffff);
        let right = self.rcv_nxt + units * unit;
        if right.gt(self.rcv_adv) {
            self.rcv_adv = right;
        }
        units as u16
    }

    /// The receive window we currently promise (`RCV.WND` = `RCV.ADV − RCV.NXT`).
    pub(super) fn rcv_wnd(&self) -> usize {
        (self.rcv_adv - self.rcv_nxt).max(0) as usize
    }

    /// Send-buffer auto-sizing (Linux `tcp_sndbuf_expand`): room for twice the congestion
    /// window, so that the user can keep a full window in flight plus as much again queued,
    /// up to [`TcpConfig::snd_buf`](super::config::TcpConfig::snd_buf). Never shrinks.
    /// Returns whether the buffer grew.
    pub(super) fn expand_send_buffer(&mut self) -> bool {
        let target = self
            .cc
            .window()
            .saturating_mul(2)
            .min(self.cfg.snd_buf_max());
        if target > self.send.max() {
            self.send.raise_max(target);
            return true;
        }
        false
    }

    pub(super) fn clear_timers(&mut self) {
        self.pace_at = None;
        self.rec.reo_at = None;
        self.rec.tlp.at = None;
        self.rtx_at = None;
        self.delack_at = None;
        self.persist_at = None;
        self.keepalive_at = None;
        self.time_wait_at = None;
    }

    pub(super) fn arm_keepalive(&mut self, now: Instant) {
        self.keepalive_probes = 0;
        self.keepalive_at = self.cfg.keepalive().map(|idle| now + idle);
    }

    /// Moves to CLOSED, recording `error` if the close was not orderly.
    pub(super) fn enter_closed(&mut self, error: Option<TcpError>, out: &mut Outcome) {
        self.state = TcpState::Closed;
        if error.is_some() && self.error.is_none() {
            self.error = error;
            out.reset = true;
        }
        self.clear_timers();
        out.closed = true;
        out.readable = true;
        out.writable = true;
    }

    /// Moves to TIME-WAIT (RFC 9293 §3.10.7.4): only the 2×MSL timer runs.
    pub(super) fn enter_time_wait(&mut self, now: Instant, out: &mut Outcome) {
        self.state = TcpState::TimeWait;
        self.clear_timers();
        self.time_wait_at = Some(now + self.cfg.time_wait());
        out.time_wait = true;
    }
}

/// The RST that answers a segment for which no connection exists (RFC 9293 §3.10.7.1);
/// `None` for a segment that is itself a RST.
pub fn reset_for(seg: &TcpRepr) -> Option<TcpRepr<'static>> {
    if seg.control == TcpControl::Rst {
        return None;
    }
    let base = TcpRepr {
        src_port: seg.dst_port,
        dst_port: seg.src_port,
        control: TcpControl::Rst,
        ..TcpRepr::default()
    };
    Some(match seg.ack_number {
        Some(ack) => TcpRepr {
            seq_number: ack,
            ..base
        },
        None => TcpRepr {
            seq_number: SeqNumber(0),
            ack_number: Some(seg.seq_number + seg.segment_len()),
            ..base
        },
    })
}

#[cfg(test)]
impl Tcb {
    /// Panics if an internal invariant is broken (used by the randomized tests).
    pub(crate) fn check_invariants(&self) {
        assert!(self.snd_una.le(self.snd_nxt), "SND.UNA ≤ SND.NXT");
        assert!(self.snd_nxt.le(self.snd_max), "SND.NXT ≤ SND.MAX");
        let head = self.send.head_seq();
        assert!(
            (head - self.snd_una).abs() <= 1,
            "send buffer starts at SND.UNA (±SYN/FIN): head {head} una {}",
            self.snd_una
        );
        assert!(
            self.snd_max.le(self.send.end_seq() + 1),
            "nothing sent beyond the queued data and FIN"
        );
        if self.state.is_synchronized() || self.state == TcpState::SynReceived {
            assert!(
                self.rcv_adv.le(self.rcv_nxt + self.recv.room()),
                "the advertised window fits in free buffer space (with its rounding slack)"
            );
        }
        assert!(self.send.len() <= self.send.max());
        assert!(self.recv.len() <= self.recv.capacity() + self.recv.slack());
        assert!(self.heap_bytes() <= self.send.max() + self.recv.capacity() + self.recv.slack());
        match self.state {
            TcpState::Closed => assert_eq!(self.next_deadline(), None, "CLOSED has no timers"),
            TcpState::TimeWait => assert_eq!(self.next_deadline(), self.time_wait_at),
            _ => {}
        }
    }
}
