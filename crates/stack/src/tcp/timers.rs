//! Connection timers kept as deadlines inside the [`Tcb`]: retransmission (RFC 6298), tail loss
//! probe (RFC 8985 §7),
//! delayed ACK (RFC 9293 §3.8.6.3), persist / SWS override (RFC 9293 §3.8.6.1, §3.8.6.2.1),
//! keep-alive (RFC 9293 §3.8.4) and TIME-WAIT (RFC 9293 §3.4.2). The shard keeps one entry per
//! connection in its timer wheel at [`Tcb::next_deadline`].

use super::congestion::Controller;
use super::state::TcpState;
use super::tcb::{Outcome, Tcb, TcpError};
use std::time::Instant;

impl Tcb {
    /// The earliest instant at which [`Tcb::on_deadline`] has work to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        [
            self.rtx_at,
            self.pace_at,
            self.rec.reo_at,
            self.rec.tlp.at,
            self.delack_at,
            self.persist_at,
            self.keepalive_at,
            self.time_wait_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs every timer that expired at or before `now`; then drain [`Tcb::poll_segment`].
    pub fn on_deadline(&mut self, now: Instant) -> Outcome {
        let mut out = Outcome::default();
        if self.time_wait_at.is_some_and(|t| t <= now) {
            self.time_wait_at = None;
            match self.state {
                TcpState::TimeWait => {
                    self.enter_closed(None, &mut out);
                    return out;
                }
                TcpState::FinWait2 if self.orphaned => {
                    // FIN-WAIT-2 timeout of a closed connection (the peer never sent FIN).
                    self.enter_closed(Some(TcpError::TimedOut), &mut out);
                    return out;
                }
                _ => {}
            }
        }
        // The probe first: at the same instant as the RTO (the PTO is capped by it), the
        // probe goes and the RTO restarts (RFC 8985 §7.3).
        if self.rec.tlp.at.is_some_and(|t| t <= now) {
            self.fire_tail_loss_probe(now);
        }
        if self.rtx_at.is_some_and(|t| t <= now) {
            self.rtx_at = None;
            out.retransmit_timeout = true;
            self.on_rto(now, &mut out);
            if self.state == TcpState::Closed {
                return out;
            }
        }
        if self.rec.reo_at.is_some_and(|t| t <= now) {
            self.on_reo_timeout(now, &mut out);
        }
        if self.pace_at.is_some_and(|t| t <= now) {
            // Pacing released the next segment: the caller drains poll_segment.
            self.pace_at = None;
        }
        if self.delack_at.is_some_and(|t| t <= now) {
            self.delack_at = None;
            self.ack_pending = true;
        }
        if self.persist_at.is_some_and(|t| t <= now) {
            self.persist_at = None;
            if self.snd_wnd == 0 {
                self.probes_out += 1;
                if self.probes_out > self.retry_limit() {
                    self.enter_closed(Some(TcpError::TimedOut), &mut out);
                    return out;
                }
                self.probe_pending = true;
            } else {
                self.sws_override = true;
            }
            self.persist_backoff = self.persist_backoff.saturating_add(1);
        }
        if self.keepalive_at.is_some_and(|t| t <= now) {
            self.keepalive_at = None;
            if matches!(self.state, TcpState::Established | TcpState::CloseWait) {
                if self.keepalive_probes >= self.cfg.keepalive_probes {
                    self.enter_closed(Some(TcpError::TimedOut), &mut out);
                    return out;
                }
                self.keepalive_probes += 1;
                self.probe_pending = true;
                self.keepalive_at = Some(now + self.cfg.keepalive_interval());
            } else if let Some(idle) = self.cfg.keepalive() {
                self.keepalive_at = Some(now + idle);
            }
        }
        self.rearm(now);
        out
    }

    /// Retransmission timeout (RFC 6298 §5.4–5.7, RFC 5681 §3.1, RFC 6582 §3.2 step 1 reset).
    fn on_rto(&mut self, now: Instant, out: &mut Outcome) {
        match self.state {
            TcpState::SynSent | TcpState::SynReceived => {
                self.retries += 1;
                if self.retries > self.cfg.max_syn_retries {
                    self.enter_closed(Some(TcpError::TimedOut), out);
                    return;
                }
                self.rtt.on_timeout();
                self.snd_nxt = self.iss;
                self.rtt_probe = None;
                self.rtx_at = Some(now + self.rtt.rto());
            }
            TcpState::Closed | TcpState::Listen | TcpState::TimeWait => {}
            _ => {
                if self.snd_una == self.snd_max {
                    return;
                }
                if self.snd_wnd == 0 {
                    // The peer's window is closed: this is persist, not loss (RFC 9293
                    // §3.8.6.1) — probe, back off, and count only unanswered probes.
                    self.probes_out += 1;
                    if self.probes_out > self.retry_limit() {
                        self.enter_closed(Some(TcpError::TimedOut), out);
                        return;
                    }
                    self.rtt.on_timeout();
                    self.snd_nxt = self.snd_una;
                    self.rtt_probe = None;
                    self.probe_pending = true;
                    self.rtx_at = Some(now + self.rtt.rto());
                    return;
                }
                self.retries += 1;
                if self.retries > self.retry_limit() {
                    self.enter_closed(Some(TcpError::TimedOut), out);
                    return;
                }
                // Spurious-timeout detection needs the TSval our retransmission carries.
                let undo = (self.ts_enabled && self.rec.rto_undo.is_none())
                    .then(|| (Box::new(self.cc.clone()), self.ts_now(now)));
                let mss = self.eff_snd_mss();
                self.cc.on_rto(self.flight_size(), mss);
                self.rtt.on_timeout();
                if !self.sack_ok {
                    // Go-back-N; with SACK, RACK's log resends what the timeout deemed lost.
                    self.snd_nxt = self.snd_una;
                }
                self.rtt_probe = None;
                let flight = self.flight();
                self.rec.on_rto(flight, undo);
                if self.sack_ok && self.rec.rack.lost_bytes() == 0 {
                    // Nothing logged to resend: only the FIN is outstanding.
                    self.rec.retransmit_at = Some(self.snd_una);
                }
                self.rtx_at = Some(now + self.rtt.rto());
            }
        }
    }

    /// Arms or disarms the retransmission, tail loss probe and persist timers after any change.
    pub(super) fn rearm(&mut self, now: Instant) {
        if self.orphaned && self.state == TcpState::FinWait2 && self.time_wait_at.is_none() {
            self.time_wait_at = Some(now + self.cfg.fin_wait_2_timeout());
        }
        let sending = self.state.sends_data();
        let handshaking = matches!(self.state, TcpState::SynSent | TcpState::SynReceived);
        if (!sending && !handshaking) || self.snd_max == self.snd_una {
            self.rtx_at = None;
        } else if self.rtx_at.is_none() {
            self.rtx_at = Some(now + self.rtt.rto());
        }
        self.arm_tlp(now);
        let stalled = sending
            && self.snd_una == self.snd_max
            && self.send.available_from(self.snd_nxt) > 0
            && !self.probe_pending;
        if stalled {
            if self.persist_at.is_none() {
                let base = self.rtt.rto().max(self.cfg.min_persist());
                let interval = base
                    .saturating_mul(1u32 << self.persist_backoff.min(16))
                    .min(self.cfg.max_persist());
                let interval = if self.snd_wnd == 0 {
                    interval
                } else {
                    interval.min(self.cfg.sws_override())
                };
                self.persist_at = Some(now + interval);
            }
        } else {
            self.persist_at = None;
            if !sending || self.snd_wnd > 0 {
                self.persist_backoff = 0;
            }
        }
    }
}
