//! Segment arrival (RFC 9293 §3.10.7 "SEGMENT ARRIVES"): SYN-SENT processing, the
//! acceptability test, RST/SYN/ACK checks, text and FIN processing, with RFC 5961 challenge
//! ACKs, RFC 7323 timestamps (PAWS, RTTM) and loss detection: RACK-TLP (RFC 8985, in
//! `recovery/`, with RFC 6937 proportional rate reduction) when SACK was negotiated, NewReno
//! (RFC 5681, RFC 6582) otherwise; delivery-rate samples for BBR.
//!
//! No input can panic: every length is derived from the segment with saturating or wrapping
//! arithmetic, and payload slices are cut with checked bounds.

use super::congestion::Controller;
use super::recovery::{AckVerdict, SackReport};
use super::state::TcpState;
use super::tcb::{reset_for, Outcome, SegmentDrop, Tcb, TcpError};
use super::time_wait::TimeWaitVerdict;
use boomerang_wire::{SeqNumber, TcpControl, TcpRepr};
use std::time::{Duration, Instant};

impl Tcb {
    /// Processes one arriving segment for this connection (RFC 9293 §3.10.7).
    pub fn on_segment(&mut self, seg: &TcpRepr, now: Instant) -> Outcome {
        let mut out = Outcome::default();
        match self.state {
            TcpState::Closed | TcpState::Listen => {
                out.dropped = Some(SegmentDrop::NoConnection);
                out.rst = reset_for(seg);
            }
            TcpState::SynSent => self.on_syn_sent(seg, now, &mut out),
            TcpState::TimeWait => self.on_time_wait(seg, now, &mut out),
            _ => {
                self.rcv_space_adjust(now);
                self.on_synchronized(seg, now, &mut out)
            }
        }
        out
    }

    /// TIME-WAIT: the rules of [`super::time_wait`], shared with the shard's compact record.
    fn on_time_wait(&mut self, seg: &TcpRepr, now: Instant, out: &mut Outcome) {
        match super::time_wait::verdict(seg, self.rcv_nxt, self.ts_recent_in_use()) {
            TimeWaitVerdict::Drop => {}
            TimeWaitVerdict::Close => self.enter_closed(None, out),
            TimeWaitVerdict::Ack { restart, .. } => {
                if restart {
                    self.time_wait_at = Some(now + self.cfg.time_wait());
                }
                self.ack_invalid(seg, now);
            }
        }
    }

    /// RFC 9293 §3.10.7.3.
    fn on_syn_sent(&mut self, seg: &TcpRepr, now: Instant, out: &mut Outcome) {
        let rst = seg.control == TcpControl::Rst;
        if let Some(ack) = seg.ack_number {
            if ack.le(self.iss) || ack.gt(self.snd_max) {
                out.dropped = Some(SegmentDrop::BadAck);
                if !rst {
                    out.rst = reset_for(seg);
                }
                return;
            }
        }
        if rst {
            if seg.ack_number.is_some() {
                self.enter_closed(Some(TcpError::Refused), out);
            }
            return;
        }
        if seg.control != TcpControl::Syn {
            return;
        }
        self.irs = seg.seq_number;
        self.rcv_nxt = seg.seq_number + 1;
        // The window our SYN offered (unscaled, RFC 7323 §2.2).
        self.rcv_adv = self.rcv_nxt + self.recv.window().min(0xffff);
        self.last_ack_sent = self.rcv_nxt;
        self.negotiate(seg);
        self.snd_wnd = u32::from(seg.window_len);
        self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
        self.snd_wl1 = seg.seq_number;
        match seg.ack_number {
            Some(ack) => {
                self.snd_wl2 = ack;
                self.on_new_ack(seg, ack, now, out);
                self.state = TcpState::Established;
                out.established = true;
                out.writable = true;
                self.ack_pending = true;
                if self.fin_queued {
                    self.state = TcpState::FinWait1;
                }
                self.arm_keepalive(now);
                // Data or FIN carried by the SYN-ACK (rare) continue at the sixth step.
                self.process_text(seg, seg.seq_number + 1, now, out);
            }
            None => {
                // Simultaneous open: SYN-RECEIVED, retransmit our SYN as SYN-ACK.
                self.snd_wl2 = self.iss;
                self.state = TcpState::SynReceived;
                self.snd_nxt = self.iss;
                self.rtt_probe = None;
            }
        }
    }

    fn on_synchronized(&mut self, seg: &TcpRepr, now: Instant, out: &mut Outcome) {
        let rst = seg.control == TcpControl::Rst;
        let syn = seg.control == TcpControl::Syn;
        // Simultaneous open (RFC 9293 figure 8, line 5): the peer's SYN-ACK acknowledges our
        // SYN while we are in SYN-RECEIVED (RFC 5961 §4.2 exempts it from the challenge ACK).
        if self.state == TcpState::SynReceived && syn && seg.seq_number == self.irs {
            if let Some(ack) = seg.ack_number {
                if ack.gt(self.snd_una) && ack.le(self.snd_max) {
                    self.establish(seg, ack, out);
                    self.on_new_ack(seg, ack, now, out);
                } else {
                    out.rst = reset_for(seg);
                }
                return;
            }
        }
        // A retransmitted SYN in SYN-RECEIVED: our SYN-ACK was lost; send it again.
        if self.state == TcpState::SynReceived
            && syn
            && seg.ack_number.is_none()
            && seg.seq_number == self.irs
        {
            self.snd_nxt = self.iss;
            self.rtt_probe = None;
            return;
        }
        // PAWS (RFC 7323 §5.3): an old timestamp marks an old duplicate.
        if self.ts_enabled && !rst {
            if let Some((tsval, _)) = seg.timestamp {
                if (tsval.wrapping_sub(self.ts_recent) as i32) < 0 {
                    out.dropped = Some(SegmentDrop::Paws);
                    self.ack_invalid(seg, now);
                    return;
                }
            }
        }
        // First: sequence number acceptability (RFC 9293 §3.10.7.4).
        let seg_len = seg.segment_len();
        let wnd = self.rcv_wnd();
        let seq = seg.seq_number;
        let in_window = |s: SeqNumber| s.ge(self.rcv_nxt) && s.lt(self.rcv_nxt + wnd);
        let acceptable = match (seg_len, wnd) {
            (0, 0) => seq == self.rcv_nxt,
            (0, _) => in_window(seq),
            // Zero window: ACK, RST and FIN at RCV.NXT are still processed (RFC 9293 §3.10.7.4).
            (_, 0) => seq == self.rcv_nxt,
            (len, _) => in_window(seq) || in_window(seq + (len - 1)),
        };
        if !acceptable {
            out.dropped = Some(SegmentDrop::Unacceptable);
            if !rst {
                // Data we already acknowledged: report it as a D-SACK (RFC 2883 §4.1).
                let end = seq + seg.payload.len();
                if self.sack_ok && !seg.payload.is_empty() && end.le(self.rcv_nxt) {
                    self.dsack = Some((seq, end));
                }
                self.ack_invalid(seg, now);
            }
            return;
        }
        self.arm_keepalive(now);
        // RFC 7323 §4.3: remember the timestamp to echo.
        if self.ts_enabled {
            if let Some((tsval, _)) = seg.timestamp {
                if seq.le(self.last_ack_sent) && (tsval.wrapping_sub(self.ts_recent) as i32) >= 0 {
                    self.ts_recent = tsval;
                }
            }
        }
        // Second: RST (RFC 9293 §3.10.7.4, RFC 5961 §3.2).
        if rst {
            if seq != self.rcv_nxt {
                out.dropped = Some(SegmentDrop::RstNotExact);
                self.ack_invalid(seg, now); // challenge ACK
                return;
            }
            let error = match self.state {
                TcpState::SynReceived if !self.active_open => None,
                TcpState::SynReceived => Some(TcpError::Refused),
                TcpState::Closing | TcpState::LastAck | TcpState::TimeWait => None,
                _ => Some(TcpError::Reset),
            };
            let was_syn_received = self.state == TcpState::SynReceived;
            self.enter_closed(error, out);
            if was_syn_received && !self.active_open {
                out.reset = true;
            }
            return;
        }
        // Fourth: SYN in a synchronized state — challenge ACK (RFC 5961 §4.2, RFC 9293).
        if syn {
            out.dropped = Some(SegmentDrop::SynInWindow);
            self.ack_invalid(seg, now);
            return;
        }
        // Fifth: ACK.
        let Some(ack) = seg.ack_number else {
            out.dropped = Some(SegmentDrop::NoAck);
            return;
        };
        if self.state == TcpState::SynReceived {
            if ack.gt(self.snd_una) && ack.le(self.snd_max) {
                self.establish(seg, ack, out);
            } else {
                out.dropped = Some(SegmentDrop::BadAck);
                out.rst = reset_for(seg);
                return;
            }
        }
        if ack.gt(self.snd_max) {
            // Acknowledges something not yet sent: ACK and drop.
            out.dropped = Some(SegmentDrop::AckUnsent);
            self.ack_invalid(seg, now);
            return;
        }
        // RFC 5961 §5.2: an ACK too far in the past is dropped with a challenge ACK.
        if ack.lt(self.snd_una - (self.max_snd_wnd as usize).max(1)) {
            out.dropped = Some(SegmentDrop::AckTooOld);
            self.ack_invalid(seg, now);
            return;
        }
        // The peer is alive: unanswered-probe count restarts (RFC 9293 §3.8.6.1).
        self.probes_out = 0;
        // Loss detection, first part: D-SACK undo, reneging and the scoreboard (recovery.rs).
        let una_before = self.snd_una;
        let mut sack = SackReport::default();
        if self.sack_ok {
            let flight = self.flight();
            if let Some(before) = self.rec.on_dsack(&seg.sack_ranges, ack, flight) {
                self.cc = *before;
                out.undo = true;
            }
            sack = self.rec.on_ack_sacks(ack, &seg.sack_ranges, flight);
            if sack.reneged {
                if let Some(rate) = self.rate.as_mut() {
                    rate.clear_sacked();
                }
            }
        }
        let newly_sacked = sack.newly_sacked;
        if newly_sacked {
            // The probe timer restarts with each ACK that delivers data (in fast recovery the
            // cumulative ACK may stand still for rounds while SACKs flow).
            self.rec.tlp.at = None;
        }
        let new_wnd = u32::from(seg.window_len) << self.snd_wscale;
        if ack.gt(self.snd_una) {
            self.on_new_ack(seg, ack, now, out);
        } else if ack == self.snd_una && self.snd_max != self.snd_una {
            if self.sack_ok {
                // RFC 6675 §2: with SACK, an ACK is a duplicate when it SACKs bytes not SACKed
                // before, whether or not it carries data or changes the window.
                if newly_sacked {
                    self.rec.dupacks = self.rec.dupacks.saturating_add(1);
                }
            } else if seg.payload.is_empty()
                && seg.control != TcpControl::Fin
                && new_wnd == self.snd_wnd
                && new_wnd > 0
            {
                // RFC 5681 §2 definition (a zero window answers our probes; it says nothing
                // about loss).
                self.on_dup_ack(now, out);
            }
        }
        // Loss detection, second part (SACK): RACK's update and loss marking by time, which
        // may start recovery; the tail loss probe's episode.
        if self.sack_ok {
            let echo = self.echo_of(seg);
            let verdict = self.rec.after_ack(
                &seg.sack_ranges,
                echo,
                self.state.is_synchronized(),
                self.flight(),
                self.rtt.srtt(),
                now,
            );
            if verdict == AckVerdict::EnterRecovery {
                self.enter_recovery(now, out);
            }
            self.on_tlp_ack(ack, una_before, sack.dsack, newly_sacked, now, out);
        }
        // Delivery-rate sample for model-based congestion control (BBR).
        if let Some(rate) = self.rate.as_mut() {
            let sacks = seg
                .sack_ranges
                .iter()
                .flatten()
                .map(|&(l, r)| (SeqNumber(l), SeqNumber(r)));
            if let Some(rs) = rate.on_ack(self.snd_una, sacks, now) {
                let inflight = self.bytes_in_network();
                let mss = self.eff_snd_mss();
                self.cc
                    .on_delivery(now, &rs, inflight, out.fast_retransmit, mss);
            }
        }
        if self.prr_active() {
            let sacked_after = self
                .rec
                .scoreboard
                .sacked_between(self.snd_una, self.snd_max);
            let delivered = ((self.snd_una - una_before).max(0) as usize + sacked_after)
                .saturating_sub(sack.sacked_before);
            // An ACK that delivered nothing releases nothing (as Linux's PRR).
            if delivered > 0 {
                let (ssthresh, flight) = (self.cc.ssthresh(), self.flight());
                self.rec.prr_on_ack(delivered, ssthresh, flight);
            }
        }
        // The controllers have seen the ACK: room for twice the window they allow now.
        if self.expand_send_buffer() {
            out.writable = true;
        }
        // Window update (RFC 9293 §3.10.7.4, SND.WL1/SND.WL2 rule).
        if self.snd_wl1.lt(seq) || (self.snd_wl1 == seq && self.snd_wl2.le(ack)) {
            let was_zero = self.snd_wnd == 0;
            self.snd_wnd = new_wnd;
            self.max_snd_wnd = self.max_snd_wnd.max(new_wnd);
            self.snd_wl1 = seq;
            self.snd_wl2 = ack;
            if new_wnd > 0 && (was_zero || self.persist_at.is_some()) {
                self.persist_at = None;
                self.persist_backoff = 0;
            }
        }
        let fin_acked = self.fin_queued && self.snd_una == self.send.end_seq() + 1;
        match self.state {
            TcpState::FinWait1 if fin_acked => self.state = TcpState::FinWait2,
            TcpState::Closing if fin_acked => {
                self.enter_time_wait(now, out);
                return;
            }
            TcpState::LastAck if fin_acked => {
                self.enter_closed(None, out);
                return;
            }
            _ => {}
        }
        // Sixth (URG) is not supported; seventh and eighth: text and FIN.
        self.process_text(seg, seq, now, out);
    }

    /// Answers an unacceptable or invalid segment with an ACK (RFC 9293 §3.10.7.4, RFC 5961
    /// challenge ACK). Answers to segments without data are rate-limited (RFC 5961 §7): two
    /// stacks that disagree must not ping-pong ACKs forever.
    fn ack_invalid(&mut self, seg: &TcpRepr, now: Instant) {
        let loop_prone = seg.payload.is_empty() && seg.control != TcpControl::Fin;
        if loop_prone {
            if let Some(last) = self.last_invalid_ack {
                if now < last + self.cfg.invalid_ack_ratelimit() {
                    return;
                }
            }
            self.last_invalid_ack = Some(now);
        }
        self.ack_pending = true;
    }

    /// SYN-RECEIVED → ESTABLISHED (or FIN-WAIT-1 if the user already closed).
    fn establish(&mut self, seg: &TcpRepr, ack: SeqNumber, out: &mut Outcome) {
        self.state = TcpState::Established;
        out.established = true;
        out.writable = true;
        self.snd_wnd = u32::from(seg.window_len) << self.snd_wscale;
        self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
        self.snd_wl1 = seg.seq_number;
        self.snd_wl2 = ack;
        if self.fin_queued {
            self.state = TcpState::FinWait1;
        }
    }

    /// A cumulative ACK above `SND.UNA` (RFC 9293 §3.10.7.4, RFC 6298 §5, RFC 6582 §3.2).
    fn on_new_ack(&mut self, seg: &TcpRepr, ack: SeqNumber, now: Instant, out: &mut Outcome) {
        // Sequence space acknowledged, less our SYN (it carries no data for cwnd growth).
        let acked = (ack - self.snd_una).max(0) as usize - usize::from(self.snd_una == self.iss);
        let flight_before = self.flight_size();
        if self.send.ack_to(ack) > 0 {
            out.writable = true;
        }
        self.rec.scoreboard.prune(ack);
        self.snd_una = ack;
        // RFC 8985 §7.2: the probe timer restarts from each ACK of new data.
        self.rec.tlp.at = None;
        if self.snd_nxt.lt(ack) {
            self.snd_nxt = ack;
        }
        // RTT measurement: timestamps (RFC 7323 §4.1) or the one timed segment (Karn).
        let mut sample = None;
        if self.ts_enabled {
            if let Some((_, tsecr)) = seg.timestamp {
                let ms = self.ts_now(now).wrapping_sub(tsecr);
                if tsecr != 0 && (ms as i32) >= 0 {
                    sample = Some(Duration::from_millis(u64::from(ms)));
                }
            }
        }
        if let Some((end, sent)) = self.rtt_probe {
            if ack.ge(end) {
                self.rtt_probe = None;
                if sample.is_none() {
                    sample = Some(now.saturating_duration_since(sent));
                }
            }
        }
        if let Some(r) = sample {
            self.rec.min_rtt = Some(self.rec.min_rtt.map_or(r, |m| m.min(r)));
            self.rtt.sample(r);
            self.cc.on_rtt_sample(r);
            if let Some(srtt) = self.rtt.srtt() {
                self.cc.on_rtt(srtt);
            }
        }
        // Spurious timeout (RFC 3522 detection, RFC 4015 response): the original segments
        // arrived, so the window comes back and go-back-N stops — what was sent before the
        // timeout is still in flight; only new data follows.
        if self.rec.rto_undo.is_some() {
            if let Some(before) = self.rec.rto_spurious(seg.timestamp.map(|(_, e)| e)) {
                self.cc = *before;
                self.snd_nxt = self.snd_max;
                out.rto_undo = true;
            }
        }
        // Karn (RFC 6298 §5 note, (5.7)): a backed-off RTO is kept until a valid sample.
        self.retries = 0;
        if self.rec.rto_recovery && ack.ge(self.rec.recover) {
            self.rec.rto_recovery = false;
            self.cc.on_loss_recovered();
            self.rec.on_recovery_exit();
        }
        let mss = self.eff_snd_mss();
        if self.rec.in_recovery {
            if ack.ge(self.rec.recover) {
                let flight = (!self.prr_active()).then(|| self.flight_size());
                self.rec.in_recovery = false;
                self.cc.on_recovery_end(flight, mss);
                self.rec.on_recovery_exit();
            } else if self.sack_ok {
                // RACK picks what to resend from the segments' send times. A partial ACK
                // with nothing SACKed above it is not a loss signal by itself: resending at
                // SND.UNA then (as RFC 6582 does without SACK) was spurious in 13 of 13 cases
                // against Linux (D-SACK) and cost 14% more segments in the BBR simulation.
                self.rtx_at = Some(now + self.rtt.rto());
            } else {
                // Partial ACK without SACK (RFC 6582 §3.2 step 5): retransmit the segment at
                // SND.UNA, deflate, restart the timer.
                self.rec.retransmit_at = Some(ack);
                self.cc.on_partial_ack(acked, mss);
                self.rtx_at = Some(now + self.rtt.rto());
            }
        } else if self.state.is_synchronized() {
            self.cc.on_ack(now, acked, flight_before, mss);
        }
        self.rec.dupacks = 0;
        // RFC 6298 (5.2)/(5.3).
        self.rtx_at = if self.snd_una == self.snd_max {
            None
        } else {
            Some(now + self.rtt.rto())
        };
    }

    /// Seventh and eighth steps: segment text and FIN (RFC 9293 §3.10.7.4). `seq` is the
    /// sequence number of the first payload byte.
    fn process_text(&mut self, seg: &TcpRepr, seq: SeqNumber, now: Instant, out: &mut Outcome) {
        let accepts_text = matches!(
            self.state,
            TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2
        );
        let payload = seg.payload;
        let fin = seg.control == TcpControl::Fin;
        if !accepts_text {
            if !payload.is_empty() || fin {
                self.ack_pending = true;
            }
            return;
        }
        if self.orphaned && !payload.is_empty() && (seq + payload.len()).gt(self.rcv_nxt) {
            out.dropped = Some(SegmentDrop::DataAfterClose);
            // New data for a connection nobody will read: reset it (RFC 9293 §3.10.7.4 /
            // RFC 2525 §2.17, as Linux does).
            self.rst_pending = true;
            self.enter_closed(Some(TcpError::Reset), out);
            return;
        }
        let fin_seq = seq + payload.len();
        // Trim to RCV.NXT on the left and to the window on the right.
        let mut data = payload;
        let mut offset = 0usize;
        let lead = self.rcv_nxt - seq;
        if lead > 0 {
            data = data.get(lead as usize..).unwrap_or(&[]);
            if self.sack_ok && !payload.is_empty() {
                // Its head was a duplicate (RFC 2883 §4.1).
                let end = (seq + payload.len()).min(self.rcv_nxt);
                self.dsack = Some((seq, end));
            }
        } else {
            offset = (-lead) as usize;
        }
        let room = self.rcv_wnd().saturating_sub(offset);
        let trimmed = data.len() > room;
        if trimmed {
            data = data.get(..room).unwrap_or(&[]);
        }
        if fin && !trimmed && fin_seq.le(self.rcv_adv) && fin_seq.ge(self.rcv_nxt) {
            self.rcv_fin = Some(fin_seq);
        }
        let mut immediate = trimmed || (!payload.is_empty() && data.is_empty());
        if !data.is_empty() {
            let nxt = self.rcv_nxt;
            let r = self.recv.insert(offset, data);
            if let Some((s, e)) = r.duplicate.filter(|_| self.sack_ok) {
                // Part of it was held out of order already (RFC 2883 §4.1).
                self.dsack.get_or_insert((nxt + s, nxt + e));
            }
            if r.advanced > 0 {
                self.rcv_nxt += r.advanced;
                out.readable = true;
            }
            if r.dropped {
                out.dropped = Some(SegmentDrop::ReassemblyFull);
            }
            if r.out_of_order || r.filled_hole || r.dropped || self.dsack.is_some() {
                immediate = true;
            } else if r.advanced > 0 {
                self.delack_segments += 1;
                if self.delack_segments >= 2 || self.cfg.delayed_ack().is_zero() {
                    immediate = true;
                } else if self.delack_at.is_none() {
                    self.delack_at = Some(now + self.cfg.delayed_ack());
                }
            }
        }
        if self.rcv_fin == Some(self.rcv_nxt) && !self.fin_received {
            self.rcv_nxt += 1;
            self.fin_received = true;
            out.readable = true;
            immediate = true;
            match self.state {
                TcpState::Established => self.state = TcpState::CloseWait,
                TcpState::FinWait1 => {
                    // Our FIN not yet acknowledged (else we would be in FIN-WAIT-2): CLOSING.
                    self.state = TcpState::Closing;
                }
                TcpState::FinWait2 => self.enter_time_wait(now, out),
                _ => {}
            }
        }
        if immediate {
            self.ack_pending = true;
        }
    }
}
