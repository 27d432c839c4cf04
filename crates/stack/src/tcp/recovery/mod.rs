//! Loss detection and loss recovery of one connection, apart from the rest of the
//! [`Tcb`](super::tcb::Tcb).
//!
//! With SACK, RACK-TLP (RFC 8985) is the one loss detector, whatever the congestion
//! controller: [`rack`] logs every segment in flight with its transmit time and deems it lost
//! by time (including lost retransmissions), with a reordering window (`RACK.reo_wnd`) that
//! grows on D-SACK and decays; [`tlp`] sends a tail loss probe instead of waiting for the
//! RTO. This module holds the rest: the SACK scoreboard (RFC 2018), RFC 6675's pipe with
//! RACK's lost marks, proportional rate reduction (RFC 6937), D-SACK undo (RFC 2883,
//! RFC 3708), spurious-timeout undo (RFC 3522, RFC 4015) and, for peers without SACK, the
//! duplicate-ACK counting of RFC 5681 / RFC 6582.
//!
//! [`Recovery`] holds the state and the decisions that need only it and a [`Flight`] (the
//! send sequence space and segment size at that moment); the ACK step of `input.rs` calls
//! [`Recovery::on_ack_sacks`] before moving `SND.UNA` and [`Recovery::after_ack`] after;
//! `conn.rs` is the glue that also touches the congestion controller.

mod conn;
pub mod rack;
pub mod tlp;

use super::congestion::Congestion;
use super::sack::Scoreboard;
use boomerang_wire::SeqNumber;
use rack::{Echo, Rack};
use std::time::{Duration, Instant};
use tlp::Tlp;

/// Duplicate ACKs that signal a loss without SACK (RFC 5681 §3.2); with SACK, the number of
/// SACKed segments from which RACK's reordering window is zero until the path has shown
/// reordering (RFC 8985 §6.2 step 4, `DupThresh`).
pub const DUP_THRESH: u32 = 3;

/// Loss recoveries without a D-SACK after which the reordering window shrinks back to a
/// quarter of the minimum RTT (RFC 8985 §6.2 step 4, `RACK.reo_wnd_persist`).
pub const REO_WND_PERSIST: u8 = 16;

/// The granularity of our RTT samples (timestamps count whole milliseconds): a minimum RTT
/// measured below it counts as this much for the reordering window, so segments sent and
/// reported in the same millisecond are not deemed lost without DupThresh evidence.
pub const RTT_GRANULARITY: Duration = Duration::from_millis(1);

/// The send sequence space as loss detection sees it: `SND.UNA`, `SND.MAX` and the segment
/// size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flight {
    /// `SND.UNA`.
    pub una: SeqNumber,
    /// `SND.MAX`, the highest sequence number sent.
    pub max: SeqNumber,
    /// The effective sender MSS.
    pub mss: usize,
}

/// What the SACK blocks of one ACK told recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SackReport {
    /// Bytes not SACKed before were SACKed (an RFC 6675 §2 "DupAck").
    pub newly_sacked: bool,
    /// The cumulative ACK ended inside SACKed data: the peer reneged, the scoreboard was
    /// cleared (RFC 2018 §8).
    pub reneged: bool,
    /// The first block is a D-SACK (RFC 2883 §4).
    pub dsack: bool,
    /// SACKed bytes above `SND.UNA` before this ACK (for PRR's DeliveredData).
    pub sacked_before: usize,
}

/// What to do after an ACK, as [`Recovery::after_ack`] decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckVerdict {
    /// Nothing to start.
    Nothing,
    /// RACK deemed a segment lost: enter loss recovery now.
    EnterRecovery,
}

/// Loss detection and recovery state (see the module docs).
#[derive(Debug, Clone)]
pub struct Recovery {
    /// A retransmission timeout's recovery runs until `SND.UNA` reaches `recover`.
    pub(super) rto_recovery: bool,
    pub(super) dupacks: u32,
    pub(super) in_recovery: bool,
    /// `recover` of RFC 6582.
    pub(super) recover: SeqNumber,
    /// A single segment to retransmit now (without SACK: fast retransmit and partial ACKs;
    /// with SACK: a tail loss probe of old data), by sequence number.
    pub(super) retransmit_at: Option<SeqNumber>,
    pub(super) scoreboard: Scoreboard,
    /// The segments in flight and the RACK state (RFC 8985 §6).
    pub(super) rack: Rack,
    /// The tail loss probe (RFC 8985 §7).
    pub(super) tlp: Tlp,
    /// D-SACK undo (RFC 2883, RFC 3708; Linux `tcp_try_undo_dsack`): the controller as it was
    /// before the last fast recovery, kept until that recovery's retransmissions are all
    /// reported as duplicates (then the window reduction was needless and is undone) or a new
    /// congestion event; `undo_retrans` counts its retransmitted segments not yet D-SACKed.
    pub(super) undo_cc: Option<Box<Congestion>>,
    pub(super) undo_retrans: u32,
    /// `SND.UNA` when that recovery began: D-SACKs for data below it are about older sends.
    pub(super) undo_marker: SeqNumber,
    /// `RACK.reord`: the path has reordered (a D-SACK, or an original delivered below
    /// `RACK.fack`), so the reordering window applies even after DupThresh SACKs.
    pub(super) reordering_seen: bool,
    /// `RACK.reo_wnd_mult`: the reordering window in quarters of the minimum RTT — 1, one
    /// more per round trip in which a D-SACK arrived, back to 1 after [`REO_WND_PERSIST`]
    /// recoveries without one.
    pub(super) reo_wnd_mult: u16,
    /// `RACK.dsack_round`: the window grew for a D-SACK; until `SND.UNA` passes this, further
    /// D-SACKs belong to the same round trip.
    pub(super) dsack_round: Option<SeqNumber>,
    /// `RACK.reo_wnd_persist`: recoveries left before the window shrinks back.
    pub(super) reo_wnd_persist: u8,
    /// `RACK.min_RTT`: the smallest RTT measured.
    pub(super) min_rtt: Option<Duration>,
    /// The RACK reordering timer (RFC 8985 §6.2 step 5): the earliest instant a segment
    /// waiting out the reordering window would be deemed lost.
    pub(super) reo_at: Option<Instant>,
    /// Proportional rate reduction (RFC 6937) in SACK recovery: bytes delivered to the peer
    /// since recovery began (`prr_delivered`), bytes sent since (`prr_out`), the flight when it
    /// began (`RecoverFS`) and what the last ACK allows to send (`sndcnt`, less what was sent).
    pub(super) prr_delivered: usize,
    pub(super) prr_out: usize,
    pub(super) recover_fs: usize,
    pub(super) prr_allowance: usize,
    /// Spurious-timeout undo (Eifel, RFC 3522 detection with timestamps, RFC 4015 response;
    /// Linux `tcp_try_undo_loss`): the controller from before the first RTO of the episode and
    /// our TSval when it fired. The first ACK of new data decides: if it echoes an older TSval,
    /// the original transmission arrived and the timeout was spurious.
    pub(super) rto_undo: Option<(Box<Congestion>, u32)>,
}

/// The D-SACK block of an ACK (RFC 2883 §4): the first block, when it lies below the
/// cumulative ACK or inside the second block.
pub fn dsack_block(
    blocks: &[Option<(u32, u32)>],
    ack: SeqNumber,
) -> Option<(SeqNumber, SeqNumber)> {
    let mut blocks = blocks.iter().flatten();
    let &(l, r) = blocks.next()?;
    let (l, r) = (SeqNumber(l), SeqNumber(r));
    let in_second = blocks
        .next()
        .is_some_and(|&(l2, r2)| SeqNumber(l2).le(l) && r.le(SeqNumber(r2)));
    (l.lt(r) && (l.lt(ack) || in_second)).then_some((l, r))
}

impl Recovery {
    /// Nothing lost, nothing sent beyond `iss`.
    pub fn new(iss: SeqNumber) -> Recovery {
        Recovery {
            rto_recovery: false,
            dupacks: 0,
            in_recovery: false,
            recover: iss,
            retransmit_at: None,
            scoreboard: Scoreboard::default(),
            rack: Rack::default(),
            tlp: Tlp::default(),
            undo_cc: None,
            undo_retrans: 0,
            undo_marker: iss,
            reordering_seen: false,
            reo_wnd_mult: 1,
            dsack_round: None,
            reo_wnd_persist: 0,
            min_rtt: None,
            reo_at: None,
            prr_delivered: 0,
            prr_out: 0,
            recover_fs: 0,
            prr_allowance: 0,
            rto_undo: None,
        }
    }

    /// The SACK part of an acceptable ACK (`ack` not yet applied to `SND.UNA`): reneging
    /// (RFC 2018 §8, RFC 6675 §5.1: a cumulative ACK that ends inside data the peer reported
    /// holding means it discarded SACKed data; forget it all), then the blocks.
    pub fn on_ack_sacks(
        &mut self,
        ack: SeqNumber,
        blocks: &[Option<(u32, u32)>],
        f: Flight,
    ) -> SackReport {
        let mut report = SackReport {
            sacked_before: self.scoreboard.sacked_between(f.una, f.max),
            dsack: dsack_block(blocks, ack).is_some(),
            ..SackReport::default()
        };
        if ack.gt(f.una) && self.scoreboard.is_sacked(ack) {
            self.scoreboard.clear();
            self.rack.clear_sacked();
            report.reneged = true;
        }
        for (l, r) in blocks.iter().flatten() {
            report.newly_sacked |=
                self.scoreboard
                    .add(SeqNumber(*l), SeqNumber(*r), ack.max(f.una), f.max);
        }
        report
    }

    /// After the cumulative ACK moved `SND.UNA` (SACK connections): the RACK update with this
    /// ACK's deliveries (RFC 8985 §6.2 steps 1–3), then loss detection by time (step 5),
    /// which arms the reordering timer for segments still inside their window. Loss recovery
    /// starts when a segment is deemed lost outside recovery.
    #[allow(clippy::too_many_arguments)]
    pub fn after_ack(
        &mut self,
        blocks: &[Option<(u32, u32)>],
        echo: Option<Echo>,
        may_recover: bool,
        f: Flight,
        srtt: Option<Duration>,
        now: Instant,
    ) -> AckVerdict {
        let delivered = self.rack.on_ack(f.una, blocks, echo, self.min_rtt, now);
        if delivered.reordered && !self.rto_recovery {
            self.reordering_seen = true;
        }
        self.detect_loss(srtt, now);
        if may_recover && self.should_recover(f) {
            AckVerdict::EnterRecovery
        } else {
            AckVerdict::Nothing
        }
    }

    /// RFC 8985 §6.2 step 5 with the current reordering window; re-arms the reordering timer.
    pub fn detect_loss(&mut self, srtt: Option<Duration>, now: Instant) -> bool {
        let reo_wnd = self.reo_wnd(srtt);
        let (marked, timer) = self.rack.detect_loss(now, reo_wnd);
        self.reo_at = timer;
        marked
    }

    /// A segment is deemed lost and not resent, outside any recovery: start one.
    pub fn should_recover(&self, f: Flight) -> bool {
        self.rack.lost_bytes() > 0 && !self.in_recovery && !self.rto_recovery && f.una != f.max
    }

    /// RFC 8985 §6.2 step 4 `RACK.reo_wnd`: zero while the path has not shown reordering and
    /// either a recovery runs or DupThresh segments are SACKed (RFC 6675's rule kept);
    /// otherwise `min_RTT / 4 · reo_wnd_mult` (`min_RTT` at least [`RTT_GRANULARITY`]), never
    /// beyond the smoothed RTT.
    pub fn reo_wnd(&self, srtt: Option<Duration>) -> Duration {
        if !self.reordering_seen
            && (self.in_recovery || self.rto_recovery || self.rack.segs_sacked() >= DUP_THRESH)
        {
            return Duration::ZERO;
        }
        let Some(min_rtt) = self.min_rtt.map(|m| m.max(RTT_GRANULARITY)) else {
            return Duration::ZERO;
        };
        let wnd = min_rtt / 4 * u32::from(self.reo_wnd_mult);
        srtt.map_or(wnd, |srtt| wnd.min(srtt.max(RTT_GRANULARITY)))
    }

    /// RFC 6675 §4 `SetPipe` with RACK's lost marks (RFC 8985 §6.4): bytes in flight not
    /// SACKed and not deemed lost (a lost segment counts again once resent).
    pub fn pipe(&self, f: Flight) -> usize {
        ((f.max - f.una).max(0) as usize)
            .saturating_sub(self.rack.sacked_bytes())
            .saturating_sub(self.rack.lost_bytes())
    }

    /// D-SACK (RFC 2883 §4): each report for data retransmitted in the last fast recovery
    /// means that retransmission was needless (the original arrived); once every one of them
    /// has been reported, the loss was reordering: the controller from before the recovery is
    /// returned for the caller to restore (RFC 3708 detection, Linux `tcp_try_undo_dsack`).
    /// Every D-SACK also shows the path reorders (or duplicates): RACK's reordering window
    /// grows one step per round trip that brings one (RFC 8985 §6.2 step 4). Network
    /// duplication can fake a report, as for Linux; the undo only restores the window from
    /// before the recovery.
    pub fn on_dsack(
        &mut self,
        blocks: &[Option<(u32, u32)>],
        ack: SeqNumber,
        f: Flight,
    ) -> Option<Box<Congestion>> {
        let (l, r) = dsack_block(blocks, ack)?;
        if r.gt(f.max) {
            return None;
        }
        self.reordering_seen = true;
        if self.dsack_round.is_some_and(|round| f.una.ge(round)) {
            self.dsack_round = None;
        }
        if self.dsack_round.is_none() {
            self.dsack_round = Some(f.max);
            self.reo_wnd_mult = self.reo_wnd_mult.saturating_add(1);
            self.reo_wnd_persist = REO_WND_PERSIST;
        }
        if self.undo_cc.is_none() || self.undo_retrans == 0 || !r.gt(self.undo_marker) {
            return None;
        }
        let segments = ((r - l) as usize).div_ceil(f.mss.max(1)).max(1);
        self.undo_retrans = self
            .undo_retrans
            .saturating_sub(u32::try_from(segments).unwrap_or(u32::MAX));
        if self.undo_retrans > 0 {
            return None;
        }
        let before = self.undo_cc.take()?;
        self.in_recovery = false;
        Some(before)
    }

    /// The first ACK of new data after a retransmission timeout, echoing `tsecr`: if it
    /// echoes a TSval from before the timeout's first retransmission, the original segments
    /// reached the peer and the timeout was spurious (RFC 3522 §3.2): the controller from
    /// before it is returned for the caller to restore, and what the timeout deemed lost and
    /// did not resend yet is in flight again. Either way the decision is made.
    pub fn rto_spurious(&mut self, tsecr: Option<u32>) -> Option<Box<Congestion>> {
        let (before, tsval) = self.rto_undo.take()?;
        let tsecr = tsecr.filter(|&t| t != 0)?;
        if (tsecr.wrapping_sub(tsval) as i32) >= 0 {
            return None;
        }
        self.rto_recovery = false;
        self.rack.clear_lost();
        Some(before)
    }

    /// RFC 6937 §3, on each ACK in recovery: while the pipe is above ssthresh, send in
    /// proportion to what was delivered (`⌈prr_delivered · ssthresh / RecoverFS⌉ − prr_out`),
    /// spreading the window reduction over the round instead of pausing for half of it;
    /// below ssthresh, grow back no faster than slow start (the slow-start reduction bound:
    /// `min(ssthresh − pipe, max(prr_delivered − prr_out, DeliveredData) + MSS)`).
    pub fn prr_on_ack(&mut self, delivered: usize, ssthresh: usize, f: Flight) {
        self.prr_delivered = self.prr_delivered.saturating_add(delivered);
        let pipe = self.pipe(f);
        self.prr_allowance = if pipe > ssthresh {
            let fs = self.recover_fs.max(1) as u128;
            let due = (self.prr_delivered as u128 * ssthresh as u128).div_ceil(fs);
            usize::try_from(due)
                .unwrap_or(usize::MAX)
                .saturating_sub(self.prr_out)
        } else {
            let limit = self
                .prr_delivered
                .saturating_sub(self.prr_out)
                .max(delivered)
                .saturating_add(f.mss);
            (ssthresh - pipe).min(limit)
        };
    }

    /// A loss recovery (fast or after a timeout) ended: after [`REO_WND_PERSIST`] of them
    /// without a D-SACK the reordering window shrinks back (RFC 8985 §6.2 step 4).
    pub fn on_recovery_exit(&mut self) {
        self.reo_wnd_persist = self.reo_wnd_persist.saturating_sub(1);
        if self.reo_wnd_persist == 0 {
            self.reo_wnd_mult = 1;
        }
    }

    /// A data segment of `len` bytes at `seq` left at `now` (`retransmission`: below
    /// `SND.MAX`): the RACK log (SACK connections), the undo count and PRR's `prr_out`.
    pub fn on_data_sent(
        &mut self,
        seq: SeqNumber,
        len: usize,
        retransmission: bool,
        sack: bool,
        sack_recovery: bool,
        now: Instant,
    ) {
        if sack {
            self.rack.on_send(seq, seq + len, now);
        }
        if retransmission && self.undo_cc.is_some() {
            self.undo_retrans = self.undo_retrans.saturating_add(1);
        }
        if sack_recovery {
            self.prr_out = self.prr_out.saturating_add(len);
            self.prr_allowance = self.prr_allowance.saturating_sub(len);
        }
    }

    /// A retransmission timeout (RFC 8985 §6.3, RFC 6675 §5.1): every segment not SACKed is
    /// deemed lost and goes again as the window allows — what the peer SACKed is kept and
    /// not resent (the scoreboard is cleared only when the peer is seen reneging); the
    /// recovery point moves to `SND.MAX`; no undo of the last fast recovery (a timeout is a
    /// congestion event of its own); the tail loss probe episode ends.
    ///
    /// `undo`: the controller before this timeout and our TSval now, when timestamps allow
    /// detecting a spurious timeout; kept from the first timeout of a series.
    pub fn on_rto(&mut self, f: Flight, undo: Option<(Box<Congestion>, u32)>) {
        if self.rto_undo.is_none() {
            self.rto_undo = undo;
        }
        self.rack.mark_all_lost();
        self.tlp = Tlp::default();
        self.in_recovery = false;
        self.recover = f.max;
        self.rto_recovery = true;
        self.reo_at = None;
        self.undo_cc = None;
        self.dupacks = 0;
        self.retransmit_at = None;
    }
}

#[cfg(test)]
mod tests;
