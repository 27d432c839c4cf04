//! Loss detection and loss recovery of one connection, apart from the rest of the [`Tcb`]:
//! the SACK scoreboard (RFC 2018, RFC 6675), the tracked retransmissions and their send times
//! (lost retransmissions, RFC 8985's time order), proportional rate reduction (RFC 6937), the
//! reordering window (RFC 8985 §6.2), D-SACK undo state (RFC 2883, RFC 3708), the tail loss
//! probe's state (RFC 8985 §7) and the dupthresh bookkeeping of RFC 5681 / RFC 6582.
//!
//! [`Recovery`] holds the state and the decisions that need only it and a [`Flight`] (the
//! send sequence space and segment size at that moment); the ACK step of `input.rs` calls
//! [`Recovery::on_ack_sacks`] before moving `SND.UNA` and [`Recovery::after_ack`] after, and
//! the `impl Tcb` part below is the glue that also touches the congestion controller.

use super::congestion::{Congestion, Controller};
use super::sack::Scoreboard;
use super::tcb::{Outcome, Tcb};
use boomerang_wire::SeqNumber;
use std::time::{Duration, Instant};

/// Duplicate ACKs (or SACKed segments above a hole) that signal a loss (RFC 5681 §3.2,
/// RFC 6675 §2 `DupThresh`).
pub const DUP_THRESH: u32 = 3;

/// Loss recoveries without a D-SACK after which the reordering window shrinks back to a
/// quarter of the minimum RTT (RFC 8985 §6.2 step 4, `RACK.reo_wnd_persist`).
pub const REO_WND_PERSIST: u8 = 16;

/// Most retransmissions tracked for loss detection per connection (a hole each).
pub const MAX_TRACKED_RESENDS: usize = 64;

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

/// One retransmission in flight: its range, `SND.MAX` when it left (`mark`), its place in
/// the order of retransmissions and when it left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resend {
    pub(super) start: SeqNumber,
    pub(super) end: SeqNumber,
    pub(super) mark: SeqNumber,
    pub(super) order: u64,
    pub(super) sent: Instant,
}

/// What the SACK blocks of one ACK told recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SackReport {
    /// Bytes not SACKed before were SACKed (an RFC 6675 §2 "DupAck").
    pub newly_sacked: bool,
    /// The cumulative ACK ended inside SACKed data: the peer reneged, the scoreboard was
    /// cleared (RFC 2018 §8).
    pub reneged: bool,
    /// SACKed bytes above `SND.UNA` before this ACK (for PRR's DeliveredData).
    pub sacked_before: usize,
}

/// What to do after an ACK, as [`Recovery::after_ack`] decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckVerdict {
    /// Nothing to start.
    Nothing,
    /// Enter loss recovery now.
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
    /// A single segment to retransmit now (fast retransmit / recovery), by sequence number.
    pub(super) retransmit_at: Option<SeqNumber>,
    /// Highest sequence number retransmitted in this recovery (RFC 6675 `HighRxt`).
    pub(super) high_rxt: SeqNumber,
    pub(super) scoreboard: Scoreboard,
    /// D-SACK undo (RFC 2883, RFC 3708; Linux `tcp_try_undo_dsack`): the controller as it was
    /// before the last fast recovery, kept until that recovery's retransmissions are all
    /// reported as duplicates (then the window reduction was needless and is undone) or a new
    /// congestion event; `undo_retrans` counts its retransmitted segments not yet D-SACKed.
    pub(super) undo_cc: Option<Box<Congestion>>,
    pub(super) undo_retrans: u32,
    /// `SND.UNA` when that recovery began: D-SACKs for data below it are about older sends.
    pub(super) undo_marker: SeqNumber,
    /// The peer reported a duplicate (D-SACK): the path reorders, so a hole is not declared
    /// lost at once but after a reordering window (RFC 8985 §6.2 `RACK.reo_wnd`).
    pub(super) reordering_seen: bool,
    /// The reordering window in quarters of the minimum RTT (RFC 8985 §6.2
    /// `RACK.reo_wnd_incr`): 1, one more per round trip in which a D-SACK arrived, back to 1
    /// after [`REO_WND_PERSIST`] recoveries without one.
    pub(super) reo_wnd_incr: u16,
    /// `RACK.dsack_round`: the window grew for a D-SACK; until `SND.UNA` passes this, further
    /// D-SACKs belong to the same round trip.
    pub(super) dsack_round: Option<SeqNumber>,
    /// `RACK.reo_wnd_persist`: recoveries left before the window shrinks back.
    pub(super) reo_wnd_persist: u8,
    /// The smallest RTT measured (for the reordering window).
    pub(super) min_rtt: Option<Duration>,
    /// Loss seen while the path reorders: recovery starts then if the hole is still there.
    pub(super) reo_at: Option<Instant>,
    /// Proportional rate reduction (RFC 6937) in SACK recovery: bytes delivered to the peer
    /// since recovery began (`prr_delivered`), bytes sent since (`prr_out`), the flight when it
    /// began (`RecoverFS`) and what the last ACK allows to send (`sndcnt`, less what was sent).
    pub(super) prr_delivered: usize,
    pub(super) prr_out: usize,
    pub(super) recover_fs: usize,
    pub(super) prr_allowance: usize,
    /// With SACK, the retransmissions not yet delivered (bounded by
    /// [`MAX_TRACKED_RESENDS`]): a resend is lost when data sent after it — new data above its
    /// mark, or a later resend — reaches the peer first (RFC 8985's time order, for resends).
    pub(super) resends: Vec<Resend>,
    /// Resends found lost, to go again: (start, the resend's order when found).
    pub(super) lost_resends: Vec<(SeqNumber, u64)>,
    pub(super) resend_order: u64,
    /// The highest order of a resend delivered so far (earlier resends still out are lost).
    pub(super) resend_delivered: u64,
    /// Tail loss probe deadline (RFC 8985 §7 PTO).
    pub(super) tlp_at: Option<Instant>,
    /// A probe went out since the last cumulative ACK (one per tail, RFC 8985 §7.3).
    pub(super) tlp_sent: bool,
    /// The probe may send one new segment beyond the congestion window.
    pub(super) tlp_new_data: bool,
    /// Spurious-timeout undo (Eifel, RFC 3522 detection with timestamps, RFC 4015 response;
    /// Linux `tcp_try_undo_loss`): the controller from before the first RTO of the episode and
    /// our TSval when it fired. The first ACK of new data decides: if it echoes an older TSval,
    /// the original transmission arrived and the timeout was spurious.
    pub(super) rto_undo: Option<(Box<Congestion>, u32)>,
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
            high_rxt: iss,
            scoreboard: Scoreboard::default(),
            undo_cc: None,
            undo_retrans: 0,
            undo_marker: iss,
            reordering_seen: false,
            reo_wnd_incr: 1,
            dsack_round: None,
            reo_wnd_persist: 0,
            min_rtt: None,
            reo_at: None,
            prr_delivered: 0,
            prr_out: 0,
            recover_fs: 0,
            prr_allowance: 0,
            resends: Vec::new(),
            lost_resends: Vec::new(),
            resend_order: 0,
            resend_delivered: 0,
            tlp_at: None,
            tlp_sent: false,
            tlp_new_data: false,
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
            ..SackReport::default()
        };
        self.detect_reordering(ack, blocks, f);
        if ack.gt(f.una) && self.scoreboard.is_sacked(ack) {
            self.scoreboard.clear();
            report.reneged = true;
        }
        for (l, r) in blocks.iter().flatten() {
            report.newly_sacked |=
                self.scoreboard
                    .add(SeqNumber(*l), SeqNumber(*r), ack.max(f.una), f.max);
        }
        report
    }

    /// RFC 8985 §6.2 step 3 (`RACK.reord`), Linux `tcp_check_sack_reordering`: data below the
    /// highest SACKed byte that was never retransmitted is delivered (cumulatively or by a new
    /// SACK block) — it was not lost, only overtaken: the path reorders. Seen this way, no
    /// spurious retransmission (and its D-SACK) is needed to learn it. Bytes that may have been
    /// retransmitted (after a timeout, or below `HighRxt` in recovery) prove nothing.
    fn detect_reordering(&mut self, ack: SeqNumber, blocks: &[Option<(u32, u32)>], f: Flight) {
        if self.reordering_seen || self.rto_recovery {
            return;
        }
        let Some(fack) = self.scoreboard.highest() else {
            return;
        };
        let resent = |from: SeqNumber, to: SeqNumber| {
            (self.in_recovery && from.lt(self.high_rxt))
                || self
                    .resends
                    .iter()
                    .any(|r| r.start.lt(to) && from.lt(r.end))
        };
        let below = |from: SeqNumber, to: SeqNumber| from.lt(to.min(fack));
        let mut reordered = ack.gt(f.una)
            && below(f.una, ack)
            && !self.scoreboard.is_sacked(f.una)
            && !resent(f.una, ack.min(fack));
        for &(l, r) in blocks.iter().flatten() {
            let (l, r) = (SeqNumber(l).max(f.una), SeqNumber(r));
            reordered |=
                l.lt(r) && below(l, r) && !self.scoreboard.is_sacked(l) && !resent(l, r.min(fack));
        }
        self.reordering_seen = reordered;
    }

    /// After the cumulative ACK and the SACK blocks: lost retransmissions (SACK), then
    /// whether loss recovery starts (RFC 6675 §5: DupThresh duplicates or `IsLost(HighACK+1)`),
    /// at once or — on a path known to reorder — after the reordering window (armed here).
    pub fn after_ack(
        &mut self,
        sack: &SackReport,
        sack_ok: bool,
        may_recover: bool,
        f: Flight,
        srtt: Option<Duration>,
        now: Instant,
    ) -> AckVerdict {
        // Lost retransmissions (RFC 6675 recovers them only by RTO; Linux by RACK's time
        // order): data sent after a resend reached the peer first.
        if sack_ok && !self.resends.is_empty() {
            self.detect_lost_resends(f, srtt, now);
        }
        if !sack.newly_sacked
            || self.in_recovery
            || !may_recover
            || f.una == f.max
            || f.una.lt(self.recover)
        {
            return AckVerdict::Nothing;
        }
        if self.dupacks >= DUP_THRESH || self.is_lost(f.una, f) {
            match self.reordering_window(srtt) {
                Some(wnd) if self.reo_at.is_none() => self.reo_at = Some(now + wnd),
                Some(_) => {}
                None => return AckVerdict::EnterRecovery,
            }
        } else if self.reo_at.is_none() && !self.reordering_seen {
            // Fewer than DupThresh segments SACKed above the hole at SND.UNA, which left
            // before them: RACK (RFC 8985 §6.2) deems it lost once the reordering window —
            // a quarter of the minimum RTT while the path has not shown reordering — has
            // passed since the later data was delivered (an upper bound of RACK's deadline
            // `xmit_ts + RACK.rtt + reo_wnd`, which needs no per-segment send time), rather
            // than waiting for the tail loss probe (two SRTTs) or more SACKs. Not once the
            // path has shown reordering: recovery then still marks every hole below DupThresh
            // SACKed segments lost (RFC 6675 IsLost, not yet RACK's per-segment time), so an
            // early start on weak evidence resent many merely late segments (against Linux at
            // 25% reordering: 335 resent segments against 127 without it).
            if let Some(min_rtt) = self.min_rtt {
                self.reo_at = Some(now + min_rtt / 4);
            }
        }
        AckVerdict::Nothing
    }

    /// Drops delivered resends from the tracking list and queues the lost ones: a resend is
    /// lost when new data sent after it (above its mark) was SACKed, or a later resend was
    /// delivered, while it was not — and, once the path has shown reordering, only after the
    /// minimum RTT plus the reordering window has passed since it left (RFC 8985 §6.2).
    fn detect_lost_resends(&mut self, f: Flight, srtt: Option<Duration>, now: Instant) {
        let settle = self
            .reordering_window(srtt)
            .map(|wnd| wnd + self.min_rtt.unwrap_or_default());
        let (una, max) = (f.una, f.max);
        let board = &self.scoreboard;
        let mut delivered_order = self.resend_delivered;
        self.resends.retain(|r| {
            let len = (r.end - r.start).max(0) as usize;
            let delivered = r.end.le(una) || board.sacked_between(r.start, r.end) >= len;
            if delivered {
                delivered_order = delivered_order.max(r.order);
            }
            !delivered
        });
        self.resend_delivered = delivered_order;
        for r in &self.resends {
            let overtaken = (delivered_order > r.order
                || board.sacked_between(r.mark.max(una), max) > 0)
                && settle.is_none_or(|d| now.saturating_duration_since(r.sent) >= d);
            if overtaken && !self.lost_resends.iter().any(|&(s, _)| s == r.start) {
                self.lost_resends.push((r.start, r.order));
            }
        }
    }

    /// The next resend found lost that still needs to go (not delivered or resent since).
    pub fn next_lost_resend(&mut self, una: SeqNumber) -> Option<SeqNumber> {
        while !self.lost_resends.is_empty() {
            let (start, order) = self.lost_resends.remove(0);
            let current = self
                .resends
                .iter()
                .any(|r| r.start == start && r.order == order);
            if current && start.ge(una) && !self.scoreboard.is_sacked(start) {
                return Some(start);
            }
        }
        None
    }

    /// Records a retransmission of `[start, end)` sent at `now` while `SND.MAX` was `snd_max`
    /// (SACK connections).
    pub fn track_resend(
        &mut self,
        start: SeqNumber,
        end: SeqNumber,
        snd_max: SeqNumber,
        now: Instant,
    ) {
        self.resends.retain(|r| r.start != start);
        if self.resends.len() >= MAX_TRACKED_RESENDS {
            self.resends.remove(0);
        }
        self.resend_order += 1;
        self.resends.push(Resend {
            start,
            end,
            mark: snd_max,
            order: self.resend_order,
            sent: now,
        });
    }

    /// The start of the bytes RFC 6675 `IsLost` deems lost: unSACKed bytes below it are lost.
    fn lost_edge(&self, f: Flight) -> SeqNumber {
        let lost_bytes = (DUP_THRESH as usize - 1) * f.mss;
        self.scoreboard
            .lost_edge(lost_bytes, DUP_THRESH as usize)
            .map_or(f.una, |e| e.max(f.una).min(f.max))
    }

    /// RFC 6675 §4 `IsLost(seq)`.
    pub fn is_lost(&self, seq: SeqNumber, f: Flight) -> bool {
        seq.lt(self.lost_edge(f)) && !self.scoreboard.is_sacked(seq)
    }

    /// RFC 6675 §4 `SetPipe`: bytes still in the network — unSACKed bytes not deemed lost,
    /// plus bytes retransmitted in this recovery (below `HighRxt`).
    pub fn pipe(&self, f: Flight) -> usize {
        let (una, max) = (f.una, f.max);
        let unsacked = |from: SeqNumber, to: SeqNumber| {
            ((to - from).max(0) as usize).saturating_sub(self.scoreboard.sacked_between(from, to))
        };
        let edge = self.lost_edge(f);
        let rxt_end = self.high_rxt.max(una).min(max);
        unsacked(edge, max) + unsacked(una, rxt_end)
    }

    /// D-SACK (RFC 2883 §4): the first SACK block lies below the cumulative ACK, or inside the
    /// second block. Each such report for data retransmitted in the last fast recovery means
    /// that retransmission was needless (the original arrived); once every one of them has
    /// been reported, the loss was reordering: the controller from before the recovery is
    /// returned for the caller to restore (RFC 3708 detection, Linux `tcp_try_undo_dsack`).
    /// Network duplication can fake a report, as for Linux; the undo only restores the window
    /// from before the recovery.
    pub fn on_dsack(
        &mut self,
        blocks: &[Option<(u32, u32)>],
        ack: SeqNumber,
        f: Flight,
    ) -> Option<Box<Congestion>> {
        let mut blocks = blocks.iter().flatten();
        let &(l, r) = blocks.next()?;
        let (l, r) = (SeqNumber(l), SeqNumber(r));
        let in_second = blocks
            .next()
            .is_some_and(|&(l2, r2)| SeqNumber(l2).le(l) && r.le(SeqNumber(r2)));
        if !l.lt(r) || !(l.lt(ack) || in_second) || r.gt(f.max) {
            return None;
        }
        // A duplicate arrived: the path reorders (or duplicates) — wait a reordering window
        // before declaring holes lost from now on (RFC 8985 §6.2 `RACK.reord`), one step
        // wider per round trip that brings D-SACKs.
        self.reordering_seen = true;
        if self.dsack_round.is_some_and(|round| f.una.ge(round)) {
            self.dsack_round = None;
        }
        if self.dsack_round.is_none() {
            self.dsack_round = Some(f.max);
            self.reo_wnd_incr = self.reo_wnd_incr.saturating_add(1);
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
    /// before it is returned for the caller to restore. Either way the decision is made.
    pub fn rto_spurious(&mut self, tsecr: Option<u32>) -> Option<Box<Congestion>> {
        let (before, tsval) = self.rto_undo.take()?;
        let tsecr = tsecr.filter(|&t| t != 0)?;
        if (tsecr.wrapping_sub(tsval) as i32) >= 0 {
            return None;
        }
        self.rto_recovery = false;
        Some(before)
    }

    /// RFC 8985 §6.2 `RACK.reo_wnd`: none (declare loss at once, RFC 6675's DupThresh) until
    /// the path has shown reordering; then `min_RTT / 4 · reo_wnd_incr`, never beyond the
    /// smoothed RTT.
    pub fn reordering_window(&self, srtt: Option<Duration>) -> Option<Duration> {
        if !self.reordering_seen {
            return None;
        }
        let min_rtt = self.min_rtt?;
        let wnd = min_rtt / 4 * u32::from(self.reo_wnd_incr);
        let wnd = srtt.map_or(wnd, |srtt| wnd.min(srtt));
        (!wnd.is_zero()).then_some(wnd)
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
            self.reo_wnd_incr = 1;
        }
    }

    /// A data segment of `len` bytes at `seq` left (`retransmission`: below `SND.MAX`, which
    /// was `snd_max`): resend tracking, the undo count and PRR's `prr_out`.
    pub fn on_data_sent(
        &mut self,
        seq: SeqNumber,
        len: usize,
        retransmission: bool,
        sack_recovery: bool,
        snd_max: SeqNumber,
        now: Instant,
    ) {
        if retransmission {
            self.track_resend(seq, seq + len, snd_max, now);
            if self.undo_cc.is_some() {
                self.undo_retrans = self.undo_retrans.saturating_add(1);
            }
        }
        if sack_recovery {
            self.prr_out = self.prr_out.saturating_add(len);
            self.prr_allowance = self.prr_allowance.saturating_sub(len);
        }
    }

    /// A retransmission timeout: go-back-N resends everything, so the tracked resends are
    /// moot; the recovery point moves to `SND.MAX`; no undo of the last recovery (a timeout is
    /// a congestion event of its own). The scoreboard stays: go-back-N skips what the peer
    /// SACKed (RFC 6675 §5.1); it is cleared only when the peer is seen reneging.
    ///
    /// `undo`: the controller before this timeout and our TSval now, when timestamps allow
    /// detecting a spurious timeout; kept from the first timeout of a series.
    pub fn on_rto(&mut self, f: Flight, undo: Option<(Box<Congestion>, u32)>) {
        if self.rto_undo.is_none() {
            self.rto_undo = undo;
        }
        self.in_recovery = false;
        self.resends.clear();
        self.lost_resends.clear();
        self.resend_delivered = self.resend_order;
        self.recover = f.max;
        self.rto_recovery = true;
        self.reo_at = None;
        self.undo_cc = None;
        self.dupacks = 0;
        self.retransmit_at = None;
        self.high_rxt = f.una;
    }
}

impl Tcb {
    /// The send sequence space for loss detection.
    pub(super) fn flight(&self) -> Flight {
        Flight {
            una: self.snd_una,
            max: self.snd_max,
            mss: self.eff_snd_mss(),
        }
    }

    /// RFC 5681 §3.2 duplicate ACK handling with RFC 6582 `recover`, for peers without SACK.
    pub(super) fn on_dup_ack(&mut self, now: Instant, out: &mut Outcome) {
        self.rec.dupacks = self.rec.dupacks.saturating_add(1);
        let mss = self.eff_snd_mss();
        if self.rec.in_recovery {
            self.cc.on_dup_ack(mss);
        } else if self.rec.dupacks == DUP_THRESH && self.snd_una.ge(self.rec.recover) {
            self.enter_recovery(now, out);
        }
    }

    /// Fast retransmit and enter loss recovery (RFC 6582 §3.2 step 2, RFC 6675 §5 step 4):
    /// the recovery point is `SND.MAX`, the first segment at `SND.UNA` goes out at once.
    /// `recover` holds `SND.MAX`, one past RFC 6582's "highest sequence number transmitted",
    /// so the callers' "ACK covers more than `recover`" test is `SND.UNA ≥ recover`.
    pub(super) fn enter_recovery(&mut self, now: Instant, out: &mut Outcome) {
        let mss = self.eff_snd_mss();
        let rec = &mut self.rec;
        // A model-based controller (BBR) does not cut its window for a loss: nothing to undo.
        rec.undo_cc =
            (self.sack_ok && !self.cc.wants_rate_samples()).then(|| Box::new(self.cc.clone()));
        rec.undo_retrans = 0;
        rec.undo_marker = self.snd_una;
        rec.recover_fs = (self.snd_max - self.snd_una).max(0) as usize;
        rec.prr_delivered = 0;
        rec.prr_out = 0;
        rec.prr_allowance = 0;
        rec.recover = self.snd_max;
        rec.in_recovery = true;
        // With SACK, resends of the previous recovery may still be in flight (it ended when
        // SND.UNA passed its recovery point, not when they were acknowledged): every hole below
        // HighRxt went then, so HighRxt stays, and SND.UNA goes again only if it was not
        // among them; lost ones are found by `detect_lost_resends`. (Resetting HighRxt resent
        // them all: against Linux, every D-SACKed retransmission was such a second copy.)
        let una = self.snd_una;
        let in_flight =
            self.sack_ok && rec.resends.iter().any(|r| r.start.le(una) && r.end.gt(una));
        rec.high_rxt = if self.sack_ok {
            rec.high_rxt.max(una)
        } else {
            una
        };
        if !in_flight {
            rec.retransmit_at = Some(una);
        }
        self.cc.on_fast_retransmit(now, self.flight_size(), mss);
        out.fast_retransmit = true;
        self.rtt_probe = None;
    }

    /// RFC 6675 §4 `IsLost(seq)`.
    pub(super) fn is_lost(&self, seq: SeqNumber) -> bool {
        self.rec.is_lost(seq, self.flight())
    }

    /// RFC 6675 §4 `SetPipe`.
    pub(super) fn pipe(&self) -> usize {
        self.rec.pipe(self.flight())
    }

    /// Proportional rate reduction (RFC 6937) paces sending in SACK recovery for the
    /// loss-based controllers; a model-based one (BBR) sets its own window in recovery.
    pub(super) fn prr_active(&self) -> bool {
        self.sack_recovery() && !self.cc.wants_rate_samples()
    }

    /// Bytes loss recovery may send now (RFC 6675 §5 step (C) with RFC 6937): PRR's allowance,
    /// or for a model-based controller `cwnd − pipe`.
    pub(super) fn recovery_room(&self) -> usize {
        if self.prr_active() {
            self.rec.prr_allowance
        } else {
            self.cc.ssthresh().saturating_sub(self.pipe())
        }
    }

    /// RFC 6675 loss recovery is running (SACK negotiated and in recovery).
    pub(super) fn sack_recovery(&self) -> bool {
        self.sack_ok && self.rec.in_recovery
    }

    /// Bytes still in the network: with SACK the RFC 6675 pipe (what the scoreboard deems
    /// lost is not), else the flight.
    pub(super) fn bytes_in_network(&self) -> usize {
        if self.sack_ok {
            return self.pipe();
        }
        self.flight_size()
    }

    /// Bytes sent and not yet acknowledged.
    pub(super) fn flight_size(&self) -> usize {
        (self.snd_max - self.snd_una).max(0) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn flight(una: u32, max: u32) -> Flight {
        Flight {
            una: SeqNumber(una),
            max: SeqNumber(max),
            mss: 1000,
        }
    }

    /// A D-SACK block below the cumulative ACK `ack`.
    fn dsack(ack: u32) -> [Option<(u32, u32)>; 4] {
        [Some((ack - 1000, ack)), None, None, None]
    }

    /// RFC 8985 §6.2 step 4: one step per round trip that brings D-SACKs, bounded by SRTT,
    /// back to one step after 16 recoveries without a D-SACK.
    #[test]
    fn reordering_window_grows_per_dsack_round_and_decays() {
        let mut r = Recovery::new(SeqNumber(0));
        r.min_rtt = Some(ms(40));
        let srtt = Some(ms(100));
        assert_eq!(r.reordering_window(srtt), None, "no reordering seen yet");
        assert!(r
            .on_dsack(&dsack(1000), SeqNumber(1000), flight(1000, 5000))
            .is_none());
        assert_eq!(r.reordering_window(srtt), Some(ms(20)));
        // More D-SACKs in the same round trip (SND.UNA below 5000): no further step.
        r.on_dsack(&dsack(2000), SeqNumber(2000), flight(2000, 6000));
        r.on_dsack(&dsack(4000), SeqNumber(4000), flight(4000, 8000));
        assert_eq!(r.reordering_window(srtt), Some(ms(20)));
        // The next round trip's D-SACK: one more step.
        r.on_dsack(&dsack(5000), SeqNumber(5000), flight(5000, 9000));
        assert_eq!(r.reordering_window(srtt), Some(ms(30)));
        assert_eq!(
            r.reordering_window(Some(ms(25))),
            Some(ms(25)),
            "at most SRTT"
        );
        // A block that is not a D-SACK (above the ACK, alone) changes nothing.
        let plain = [Some((9000, 10_000)), None, None, None];
        r.on_dsack(&plain, SeqNumber(9000), flight(9000, 12_000));
        assert_eq!(r.reordering_window(srtt), Some(ms(30)));
        for _ in 0..REO_WND_PERSIST - 1 {
            r.on_recovery_exit();
        }
        assert_eq!(r.reordering_window(srtt), Some(ms(30)));
        r.on_recovery_exit();
        assert_eq!(r.reordering_window(srtt), Some(ms(10)), "back to a quarter");
    }

    fn sack(l: u32, r: u32) -> [Option<(u32, u32)>; 4] {
        [Some((l, r)), None, None, None]
    }

    /// RFC 8985 §6.2 step 3: a hole below SACKed data filled without a retransmission is
    /// reordering; filled by (or overlapping) a retransmission it proves nothing.
    #[test]
    fn a_hole_filled_by_its_original_shows_reordering() {
        let t = Instant::now();
        let mut r = Recovery::new(SeqNumber(0));
        r.on_ack_sacks(SeqNumber(0), &sack(1000, 2000), flight(0, 5000));
        assert!(
            !r.reordering_seen,
            "a SACK above a hole alone is not reordering"
        );
        r.on_ack_sacks(SeqNumber(2000), &[None; 4], flight(0, 5000));
        assert!(r.reordering_seen);

        let mut r = Recovery::new(SeqNumber(0));
        r.on_ack_sacks(SeqNumber(0), &sack(1000, 2000), flight(0, 5000));
        r.track_resend(SeqNumber(0), SeqNumber(1000), SeqNumber(5000), t);
        r.on_ack_sacks(SeqNumber(2000), &[None; 4], flight(0, 5000));
        assert!(!r.reordering_seen, "the resend may have filled it");

        // A new SACK block below the highest SACKed byte, never resent: reordering too.
        let mut r = Recovery::new(SeqNumber(0));
        r.on_ack_sacks(SeqNumber(0), &sack(3000, 4000), flight(0, 5000));
        r.on_ack_sacks(SeqNumber(0), &sack(1000, 2000), flight(0, 5000));
        assert!(r.reordering_seen);
        // In order, nothing is.
        let mut r = Recovery::new(SeqNumber(0));
        r.on_ack_sacks(SeqNumber(0), &sack(1000, 2000), flight(0, 5000));
        r.on_ack_sacks(SeqNumber(0), &sack(1000, 3000), flight(0, 5000));
        r.on_ack_sacks(SeqNumber(0), &sack(1000, 4000), flight(0, 5000));
        assert!(!r.reordering_seen);
    }
}
