//! The glue between [`Recovery`](super::Recovery) and the rest of the connection: entering
//! recovery and the congestion controller's part in it, what loss recovery may send
//! (RACK's lost segments first, within PRR or the window), the reordering timer, and the tail
//! loss probe's timer, firing and ACK processing (RFC 8985 §7).

use super::rack::Echo;
use super::tlp::{self, ProbeOutcome};
use super::{Flight, DUP_THRESH};
use crate::tcp::congestion::Controller;
use crate::tcp::tcb::{Outcome, Tcb};
use boomerang_wire::{SeqNumber, TcpRepr};
use std::time::Instant;

impl Tcb {
    /// The send sequence space for loss detection.
    pub(crate) fn flight(&self) -> Flight {
        Flight {
            una: self.snd_una,
            max: self.snd_max,
            mss: self.eff_snd_mss(),
        }
    }

    /// The timestamp `seg` echoes, as an instant of our clock (for RACK's ambiguity test).
    pub(crate) fn echo_of(&self, seg: &TcpRepr) -> Option<Echo> {
        let (_, tsecr) = seg.timestamp.filter(|_| self.ts_enabled)?;
        (tsecr != 0).then(|| Echo {
            epoch: self.epoch,
            ms: u64::from(tsecr.wrapping_sub(self.ts_offset)),
        })
    }

    /// RFC 5681 §3.2 duplicate ACK handling with RFC 6582 `recover`, for peers without SACK.
    pub(crate) fn on_dup_ack(&mut self, now: Instant, out: &mut Outcome) {
        self.rec.dupacks = self.rec.dupacks.saturating_add(1);
        let mss = self.eff_snd_mss();
        if self.rec.in_recovery {
            self.cc.on_dup_ack(mss);
        } else if self.rec.dupacks == DUP_THRESH && self.snd_una.ge(self.rec.recover) {
            self.enter_recovery(now, out);
        }
    }

    /// Enter loss recovery (RFC 6582 §3.2 step 2, RFC 6675 §5 step 4, RFC 8985 §6.2): the
    /// recovery point is `SND.MAX`; with SACK, the segments RACK deemed lost go first,
    /// without it the segment at `SND.UNA` goes at once. `recover` holds `SND.MAX`, one past
    /// RFC 6582's "highest sequence number transmitted", so the callers' "ACK covers more
    /// than `recover`" test is `SND.UNA ≥ recover`.
    pub(crate) fn enter_recovery(&mut self, now: Instant, out: &mut Outcome) {
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
        rec.tlp.at = None;
        // The fast retransmit goes at once, whatever PRR allows (RFC 6675 §5 step (4.3)):
        // without SACK the segment at SND.UNA, with it the first segment RACK deemed lost.
        rec.retransmit_at = if self.sack_ok {
            rec.rack.next_lost(self.snd_una).map(|(seq, _)| seq)
        } else {
            Some(self.snd_una)
        };
        self.cc.on_fast_retransmit(now, self.flight_size(), mss);
        out.fast_retransmit = true;
        self.rtt_probe = None;
    }

    /// The RACK reordering timer fired (RFC 8985 §6.2 step 5, `RACK_reo_timeout`): segments
    /// whose window passed are lost; recovery starts if none runs.
    pub(crate) fn on_reo_timeout(&mut self, now: Instant, out: &mut Outcome) {
        self.rec.reo_at = None;
        if !self.sack_ok || !self.state.is_synchronized() {
            return;
        }
        self.rec.detect_loss(self.rtt.srtt(), now);
        if self.rec.should_recover(self.flight()) {
            self.enter_recovery(now, out);
        }
    }

    /// RFC 6675 §4 `SetPipe` with RACK's lost marks.
    pub(crate) fn pipe(&self) -> usize {
        self.rec.pipe(self.flight())
    }

    /// Proportional rate reduction (RFC 6937) paces sending in SACK recovery for the
    /// loss-based controllers; a model-based one (BBR) sets its own window in recovery.
    pub(crate) fn prr_active(&self) -> bool {
        self.sack_recovery() && !self.cc.wants_rate_samples()
    }

    /// Bytes loss recovery may send now (RFC 6675 §5 step (C) with RFC 6937): PRR's allowance,
    /// or for a model-based controller `cwnd − pipe`.
    pub(crate) fn recovery_room(&self) -> usize {
        if self.prr_active() {
            self.rec.prr_allowance
        } else {
            self.cc.ssthresh().saturating_sub(self.pipe())
        }
    }

    /// RFC 6675 loss recovery is running (SACK negotiated and in recovery).
    pub(crate) fn sack_recovery(&self) -> bool {
        self.sack_ok && self.rec.in_recovery
    }

    /// Bytes still in the network: with SACK the pipe (what is SACKed or deemed lost is
    /// not), else the flight.
    pub(crate) fn bytes_in_network(&self) -> usize {
        if self.sack_ok {
            return self.pipe();
        }
        self.flight_size()
    }

    /// Bytes sent and not yet acknowledged.
    pub(crate) fn flight_size(&self) -> usize {
        (self.snd_max - self.snd_una).max(0) as usize
    }

    /// The next retransmission with SACK (RFC 6675 `NextSeg` rule 1 with RACK's lost marks,
    /// RFC 8985 §6.3): the first segment deemed lost and the length of the lost run there,
    /// when the room allows — PRR's (or BBR's) in fast recovery, else `cwnd − pipe` (after a
    /// timeout, segments go again one window at a time).
    pub(crate) fn rack_retransmission(&self, mss: usize) -> Option<(SeqNumber, usize)> {
        if !self.sack_ok || self.rec.rack.lost_bytes() == 0 {
            return None;
        }
        let room = if self.sack_recovery() {
            self.recovery_room() >= mss
        } else {
            self.cc.window() > self.pipe()
        };
        room.then(|| self.rec.rack.next_lost(self.snd_una))?
    }

    /// A tail loss probe may be scheduled (RFC 8985 §7.2): SACK negotiated, data in flight,
    /// no timeout recovery running, no probe outstanding, an RTT known. RFC 8985 also leaves
    /// fast recovery out, trusting RACK to find lost retransmissions; but RACK needs a later
    /// transmission to be delivered, and at the end of a transfer the last retransmission has
    /// none: its loss cost a retransmission timeout (200 ms at least) in the simulation at
    /// 10 % loss. So a probe also runs in fast recovery once everything deemed lost has gone
    /// again (until then the sender waits for room, not for a probe); its timer restarts with
    /// every ACK that delivers data.
    pub(crate) fn tlp_eligible(&self) -> bool {
        self.sack_ok
            && self.state.sends_data()
            && self.rec.tlp.idle()
            && (!self.rec.in_recovery || self.rec.rack.lost_bytes() == 0)
            && !self.rec.rto_recovery
            && self.snd_una != self.snd_max
            && self.rtt.srtt().is_some()
    }

    /// Arms the probe timer when eligible and not armed (RFC 8985 §7.2): the PTO from now,
    /// capped by the retransmission timer.
    pub(crate) fn arm_tlp(&mut self, now: Instant) {
        if !self.tlp_eligible() {
            self.rec.tlp.at = None;
        } else if self.rec.tlp.at.is_none() {
            let srtt = self.rtt.srtt().unwrap_or_default();
            let one = self.flight_size() <= self.eff_snd_mss();
            let at = now + tlp::pto(srtt, one, self.cfg.delayed_ack());
            self.rec.tlp.at = Some(self.rtx_at.map_or(at, |r| at.min(r)));
        }
    }

    /// The probe timer fired (RFC 8985 §7.3): one new segment if the peer's window allows,
    /// else the highest segment not SACKed again; then the retransmission timer restarts from now, so the
    /// RTO stays the last resort should the probe fail.
    pub(crate) fn fire_tail_loss_probe(&mut self, now: Instant) {
        self.rec.tlp.at = None;
        if !self.tlp_eligible() {
            return;
        }
        let in_flight = (self.snd_nxt - self.snd_una).max(0) as usize;
        if self.send.available_from(self.snd_nxt) > 0 && (self.snd_wnd as usize) > in_flight {
            self.rec.tlp.new_data = true;
        } else {
            // RFC 8985 §7.3 resends the highest segment sent; when the peer has SACKed it,
            // its copy would only draw a D-SACK, which tells RACK nothing (a SACKed segment
            // is not delivered again): the highest segment not SACKed goes instead — at the
            // end of a transfer, typically a lone retransmission that was lost, which the
            // probe then repairs instead of the retransmission timeout.
            let mss = self.eff_snd_mss();
            let (start, end) = self
                .rec
                .rack
                .last_unsacked()
                .filter(|&(_, end)| end.gt(self.snd_una))
                .unwrap_or((self.snd_una, self.snd_max));
            self.rec.retransmit_at = Some(start.max(self.snd_una).max(end - mss));
        }
        self.rec.tlp.pending = true;
        self.rtx_at = Some(now + self.rtt.rto());
    }

    /// RFC 8985 §7.4 on each acceptable ACK: when the probe repaired a real loss (the ACK
    /// covers data beyond it and no D-SACK said the original arrived), the congestion
    /// controller responds as to a fast recovery that ended at once (Linux's CWR).
    pub(crate) fn on_tlp_ack(
        &mut self,
        ack: SeqNumber,
        una_before: SeqNumber,
        dsack: bool,
        newly_sacked: bool,
        now: Instant,
        out: &mut Outcome,
    ) {
        let advanced = ack.gt(una_before);
        if self.rec.tlp.on_ack(ack, advanced, dsack, newly_sacked) != ProbeOutcome::Repaired {
            return;
        }
        out.tlp_repaired = true;
        if self.rec.in_recovery || self.rec.rto_recovery {
            return;
        }
        // Linux's CWR: ssthresh from the window (not the flight, which this ACK emptied), and
        // the window down to it at once.
        let (cwnd, mss) = (self.cc.window(), self.eff_snd_mss());
        self.cc.on_fast_retransmit(now, cwnd, mss);
        self.cc.on_recovery_end(None, mss);
    }

    /// When the probe timer would fire (tests).
    #[cfg(test)]
    pub(crate) fn tlp_deadline(&self) -> Option<Instant> {
        self.rec.tlp.at
    }

    /// `RACK.rtt` (tests).
    #[cfg(test)]
    pub(crate) fn rack_rtt(&self) -> Option<std::time::Duration> {
        self.rec.rack.rtt()
    }
}
