//! Segment generation: SYN / SYN-ACK, data and FIN within the send and congestion windows
//! with sender-side silly-window avoidance (RFC 9293 §3.8.6.2.1), retransmission of what
//! loss recovery deems lost (`recovery/`),
//! window and keep-alive probes, ACKs (delayed per RFC 9293 §3.8.6.3) and RSTs.

use super::congestion::Controller;
use super::state::TcpState;
use super::tcb::{OutSegment, Tcb};
use boomerang_wire::{SeqNumber, TcpControl, TcpRepr};
use std::time::{Duration, Instant};

/// Most sending-time credit pacing keeps: a userspace sender misses its departure times when
/// it is descheduled (a few scheduler slices on a busy machine) or woken late (the timer
/// wheel's 1 ms tick), and catches up by at most this much; the congestion window bounds the
/// burst. Measured: 1 ms lost a third of the rate beside one CPU-bound process on 2 cores,
/// 5 ms did not (docs/benchmarks.md).
pub const PACING_BURST: Duration = Duration::from_millis(5);
/// Per-segment bytes beside the payload counted against the pacing rate (IPv4 + TCP +
/// timestamp option).
const PACING_HEADER_BYTES: usize = 52;

/// Most SACK blocks we put in one segment (3 fit beside the timestamp option, RFC 2018 §3).
pub const MAX_SACK_BLOCKS_SENT: usize = 3;

impl Tcb {
    /// The next segment this connection wants to send, or `None`. `max_payload` is what the
    /// path allows after the IPv4 and base TCP headers (MTU − 40); option bytes come off it.
    pub fn poll_segment(&mut self, now: Instant, max_payload: usize) -> Option<OutSegment> {
        if self.rst_pending {
            self.rst_pending = false;
            let repr = TcpRepr {
                src_port: self.tuple.local.port(),
                dst_port: self.tuple.remote.port(),
                control: TcpControl::Rst,
                seq_number: self.snd_max,
                ack_number: Some(self.rcv_nxt),
                ..TcpRepr::default()
            };
            return Some(OutSegment::new(repr, 0));
        }
        let seg = match self.state {
            TcpState::Closed | TcpState::Listen => None,
            TcpState::SynSent => self.poll_syn(now, false),
            TcpState::SynReceived => self.poll_syn(now, true).or_else(|| self.poll_ack(now)),
            TcpState::Established
            | TcpState::CloseWait
            | TcpState::FinWait1
            | TcpState::Closing
            | TcpState::LastAck => self
                .poll_data(now, max_payload)
                .or_else(|| self.poll_probe(now))
                .or_else(|| self.poll_ack(now)),
            TcpState::FinWait2 | TcpState::TimeWait => {
                self.poll_probe(now).or_else(|| self.poll_ack(now))
            }
        };
        self.rearm(now);
        seg
    }

    /// Copies the payload of `seg` out of the send buffer into `dst`; returns the count.
    /// Call it before the next input to this connection.
    pub fn write_payload(&self, seg: &OutSegment, dst: &mut [u8]) -> usize {
        let n = seg.payload_len().min(dst.len());
        self.send.read(seg.repr().seq_number, &mut dst[..n])
    }

    fn base(&self, control: TcpControl, seq: SeqNumber) -> TcpRepr<'static> {
        TcpRepr {
            src_port: self.tuple.local.port(),
            dst_port: self.tuple.remote.port(),
            control,
            seq_number: seq,
            ..TcpRepr::default()
        }
    }

    /// Fills in ACK, window, timestamp and SACK fields; the segment acknowledges everything.
    fn with_ack(&mut self, mut repr: TcpRepr<'static>, now: Instant) -> TcpRepr<'static> {
        repr.ack_number = Some(self.rcv_nxt);
        repr.window_len = self.advertise_window(false);
        if self.ts_enabled {
            repr.timestamp = Some((self.ts_now(now), self.ts_recent));
        }
        if self.sack_ok {
            let mut blocks = [None; MAX_SACK_BLOCKS_SENT];
            self.sack_blocks(&mut blocks);
            for (slot, block) in repr.sack_ranges.iter_mut().zip(blocks) {
                *slot = block.map(|(l, r): (SeqNumber, SeqNumber)| (l.0, r.0));
            }
            self.dsack = None;
        }
        self.last_ack_sent = self.rcv_nxt;
        self.ack_pending = false;
        self.delack_at = None;
        self.delack_segments = 0;
        repr
    }

    /// The SACK blocks of the next ACK (RFC 2018 §4, RFC 2883 §4): a pending D-SACK first —
    /// followed, when it lies inside data held out of order, by the block that holds it —
    /// then the out-of-order blocks, the one that received the most recent segment first and
    /// the rest from the most recently reported down.
    fn sack_blocks(&self, blocks: &mut [Option<(SeqNumber, SeqNumber)>]) {
        let base = self.rcv_nxt;
        let mut n = 0;
        let mut holder = None;
        if let Some((l, r)) = self.dsack {
            blocks[n] = Some((l, r));
            n += 1;
            let (from, to) = ((l - base).max(0) as usize, (r - base).max(0) as usize);
            if l.ge(base) {
                holder = self.recv.range_holding(from, to);
            }
            if let Some((s, e)) = holder {
                blocks[n] = Some((base + s, base + e));
                n += 1;
            }
        }
        let rest = self.recv.sack_ranges().filter(|&b| Some(b) != holder);
        for (slot, (s, e)) in blocks[n..].iter_mut().zip(rest) {
            *slot = Some((base + s, base + e));
        }
    }

    /// SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED) when `SND.NXT` is at the ISS (first or again).
    fn poll_syn(&mut self, now: Instant, ack: bool) -> Option<OutSegment> {
        if self.snd_nxt != self.iss {
            return None;
        }
        let mut repr = self.base(TcpControl::Syn, self.iss);
        repr.max_seg_size = Some(self.rcv_mss);
        repr.window_len = if ack {
            self.advertise_window(true)
        } else {
            self.recv.window().min(0xffff) as u16
        };
        let offer = !ack;
        if offer {
            if self.cfg.window_scaling {
                repr.window_scale = Some(self.cfg.rcv_wscale);
            }
            repr.sack_permitted = self.cfg.sack;
            if self.cfg.timestamps {
                repr.timestamp = Some((self.ts_now(now), 0));
            }
        } else {
            repr.ack_number = Some(self.rcv_nxt);
            self.last_ack_sent = self.rcv_nxt;
            self.ack_pending = false;
            if self.ws_enabled {
                repr.window_scale = Some(self.rcv_wscale);
            }
            repr.sack_permitted = self.sack_ok;
            if self.ts_enabled {
                repr.timestamp = Some((self.ts_now(now), self.ts_recent));
            }
        }
        if self.retries == 0 && self.snd_max == self.iss {
            self.rtt_probe = Some((self.iss + 1, now));
        } else {
            self.rtt_probe = None;
        }
        self.snd_nxt = self.iss + 1;
        self.snd_max = self.snd_max.max(self.snd_nxt);
        if self.rtx_at.is_none() {
            self.rtx_at = Some(now + self.rtt.rto());
        }
        Some(OutSegment::new(repr, 0))
    }

    /// Data and/or FIN, including a fast or partial-ACK retransmission of one segment.
    fn poll_data(&mut self, now: Instant, max_payload: usize) -> Option<OutSegment> {
        if self.pacing_holds(now) {
            return None;
        }
        let fin_seq = self.fin_queued.then(|| self.send.end_seq());
        let blocks = usize::from(self.dsack.is_some()) + self.recv.ooo_count();
        let sack_len = if self.sack_ok && blocks > 0 {
            4 + 8 * blocks.min(MAX_SACK_BLOCKS_SENT)
        } else {
            0
        };
        let mss = self
            .eff_snd_mss()
            .min(max_payload.saturating_sub(if self.ts_enabled { 12 } else { 0 }))
            .saturating_sub(sack_len)
            .max(1);
        // A single resend asked for (fast retransmit or partial ACK without SACK, a tail loss
        // probe of old data), else with SACK the first segment RACK deemed lost.
        let rtx = self
            .rec
            .retransmit_at
            .take()
            .filter(|&s| s.ge(self.snd_una))
            .map(|s| (s, usize::MAX, true))
            .or_else(|| {
                self.rack_retransmission(mss)
                    .map(|(s, run)| (s, run, false))
            });
        let (seq, len, fin) = if let Some((seq, run, asked)) = rtx {
            let mut len = self.send.available_from(seq).min(mss).min(run);
            // Stop at SACKed data: the peer has it.
            if let Some((hole, hole_len)) = self.rec.scoreboard.next_hole(seq) {
                if hole == seq {
                    len = len.min(hole_len);
                }
            }
            let fin = fin_seq == Some(seq + len) && self.snd_max.gt(seq + len);
            if len == 0 && !fin {
                return if asked {
                    self.poll_data(now, max_payload)
                } else {
                    None
                };
            }
            (seq, len, fin)
        } else {
            // After an RTO (go-back-N from SND.UNA) skip what the peer SACKed (RFC 6675 §5.1).
            if self.snd_nxt.lt(self.snd_max) {
                if let Some(end) = self.rec.scoreboard.sacked_end(self.snd_nxt) {
                    self.snd_nxt = end.min(self.snd_max);
                }
            }
            let seq = self.snd_nxt;
            let mut unsent = self.send.available_from(seq);
            let resend = seq.lt(self.snd_max);
            if resend {
                if let Some((hole, hole_len)) = self.rec.scoreboard.next_hole(seq) {
                    if hole == seq {
                        unsent = unsent.min(hole_len);
                    }
                }
            }
            let in_flight = (self.snd_nxt - self.snd_una).max(0) as usize;
            let rwnd_room = (self.snd_wnd as usize).saturating_sub(in_flight);
            let usable = if self.sack_recovery() {
                // RFC 6675 §5 step (C): send while the room (PRR's allowance, RFC 6937) is at
                // least 1 SMSS (NextSeg rule 2); a tail loss probe of new data may add one.
                let probe = if self.rec.tlp.new_data { mss } else { 0 };
                let room = self.recovery_room() + probe;
                if room < mss {
                    0
                } else {
                    room.min(rwnd_room)
                }
            } else if self.sack_ok && !resend {
                // RFC 6675 with RACK's lost marks: the pipe (not SACKed, not deemed lost)
                // below the window, plus one segment for a tail loss probe of new data.
                let probe = if self.rec.tlp.new_data { mss } else { 0 };
                let wnd = (self.snd_wnd as usize).min(self.cc.window() + probe);
                wnd.saturating_sub(self.pipe()).min(rwnd_room)
            } else {
                // SACKed bytes below SND.NXT (after a path MTU drop) have left the network.
                let sacked = if resend {
                    self.rec.scoreboard.sacked_between(self.snd_una, seq)
                } else {
                    0
                };
                let wnd = (self.snd_wnd as usize).min(self.cc.window() + self.limited_transmit());
                wnd.saturating_sub(in_flight.saturating_sub(sacked))
                    .min(rwnd_room)
            };
            let len = unsent.min(usable).min(mss);
            let fin = len == unsent && fin_seq == Some(seq + len);
            if len == 0 && !fin {
                if unsent == 0 && !resend && self.app_limited(mss) {
                    // Nothing queued: the user, not the network, limits the rate now.
                    if let Some(rate) = self.rate.as_mut() {
                        rate.mark_app_limited(in_flight);
                    }
                }
                return None;
            }
            if len > 0 && !fin && !resend && !self.sws_allows(len, unsent, mss, in_flight) {
                return None;
            }
            (seq, len, fin)
        };
        self.sws_override = false;
        if len > 0 {
            // Restart after idle (RFC 5681 §4.1): nothing in flight for longer than an RTO.
            if self.snd_una == self.snd_max
                && self
                    .last_data_sent
                    .is_some_and(|t| now.saturating_duration_since(t) > self.rtt.rto())
            {
                let iw = super::congestion::initial_window(
                    self.cfg.initial_cwnd_segments,
                    self.eff_snd_mss(),
                );
                self.cc.on_idle_restart(iw);
            }
            self.last_data_sent = Some(now);
            if !retransmission_of(seq, self.snd_max) {
                // RFC 8985 §7.2: the probe timer restarts when new data is sent.
                self.rec.tlp.at = None;
                self.rec.tlp.new_data = false;
            }
        }
        let end = seq + len + usize::from(fin);
        let retransmission = seq.lt(self.snd_max);
        if len > 0 {
            let sack_recovery = self.sack_recovery();
            self.rec
                .on_data_sent(seq, len, retransmission, self.sack_ok, sack_recovery, now);
            let in_flight = self.flight_size();
            if let Some(rate) = self.rate.as_mut() {
                rate.on_send(seq, seq + len, now, in_flight);
            }
            self.pace(now, len);
        }
        if retransmission {
            // Karn's rule (RFC 6298 §3): never time a retransmitted segment.
            self.rtt_probe = None;
        } else if self.rtt_probe.is_none() && !self.ts_enabled && end.gt(seq) {
            self.rtt_probe = Some((end, now));
        }
        self.snd_nxt = self.snd_nxt.max(end);
        self.snd_max = self.snd_max.max(end);
        if self.rec.tlp.pending {
            self.rec.tlp.on_probe_sent(self.snd_max, retransmission);
        }
        let control = if fin {
            TcpControl::Fin
        } else if len > 0 && seq + len == self.send.end_seq() {
            TcpControl::Psh
        } else {
            TcpControl::None
        };
        let repr = self.base(control, seq);
        let repr = self.with_ack(repr, now);
        if self.rtx_at.is_none() {
            self.rtx_at = Some(now + self.rtt.rto());
        }
        let mut seg = OutSegment::new(repr, len);
        seg.retransmission = retransmission;
        Some(seg)
    }

    /// With nothing queued to send, whether the user is what limits the rate (Linux
    /// `tcp_rate_check_app_limited`): the window has room for another segment, every segment
    /// deemed lost has gone again, and the send buffer had room the user did not fill. When
    /// a hole at `SND.UNA` holds the whole buffer (heavy loss), the sender is buffer-limited,
    /// and marking its delivery-rate samples app-limited would hide them from BBR (it then
    /// never sees the bandwidth stop growing and stays in STARTUP).
    fn app_limited(&self, mss: usize) -> bool {
        self.bytes_in_network().saturating_add(mss) <= self.cc.window()
            && self.rec.rack.lost_bytes() == 0
            && self.send.free() >= mss
    }

    /// Pacing (for controllers that set a rate): whether data waits for its departure time
    /// now. Arms the pacing wake-up only when there is something to send.
    fn pacing_holds(&mut self, now: Instant) -> bool {
        let Some(next) = self.pace_next else {
            return false;
        };
        if now >= next || self.cc.pacing_rate().is_none() {
            return false;
        }
        let pending = self.rec.retransmit_at.is_some()
            || self.sack_recovery()
            || self.rec.rack.lost_bytes() > 0
            || self.send.available_from(self.snd_nxt) > 0
            || (self.fin_queued && self.snd_nxt.le(self.send.end_seq()));
        if pending {
            self.pace_at = Some(next);
        }
        pending
    }

    /// Schedules the departure time of the segment after one of `len` payload bytes sent at
    /// `now`: `len` (plus headers) at the pacing rate later. Credit for time spent idle is
    /// capped at [`PACING_BURST`] (or two segments), so a late wake-up sends a short burst
    /// instead of losing rate, and an idle connection does not burst a whole window.
    fn pace(&mut self, now: Instant, len: usize) {
        let Some(rate) = self.cc.pacing_rate() else {
            self.pace_next = None;
            return;
        };
        let wire = (len + PACING_HEADER_BYTES) as f64;
        let gap = Duration::from_secs_f64((wire / rate).min(1.0));
        let credit = PACING_BURST.max(gap * 2);
        let floor = now.checked_sub(credit).unwrap_or(now);
        let base = self.pace_next.map_or(floor, |t| t.max(floor));
        self.pace_next = Some(base + gap);
        self.pace_at = None;
    }

    /// Limited transmit (RFC 3042), without SACK (with it the pipe leaves SACKed segments
    /// out): the first and second duplicate ACK each let one new segment beyond the
    /// congestion window out, keeping the ACK clock alive.
    fn limited_transmit(&self) -> usize {
        if self.rec.in_recovery || self.snd_nxt != self.snd_max {
            return 0;
        }
        (self.rec.dupacks.min(2) as usize) * self.eff_snd_mss()
    }

    /// Sender SWS avoidance (RFC 9293 §3.8.6.2.1): a full segment, or all queued data when
    /// nothing is in flight (or Nagle is off), or half the largest window seen, or the override
    /// timer fired.
    fn sws_allows(&self, len: usize, unsent: usize, mss: usize, in_flight: usize) -> bool {
        len >= mss
            || (len == unsent && (!self.cfg.nagle || in_flight == 0))
            || len >= (self.max_snd_wnd as usize) / 2
            || self.sws_override
    }

    /// A window probe or keep-alive probe: `SEG.SEQ = SND.UNA − 1`, no data, so the peer
    /// answers with an ACK carrying its window (RFC 9293 §3.8.6.1, RFC 1122 §4.2.3.6).
    fn poll_probe(&mut self, now: Instant) -> Option<OutSegment> {
        if !self.probe_pending {
            return None;
        }
        self.probe_pending = false;
        let repr = self.base(TcpControl::None, self.snd_una - 1);
        let repr = self.with_ack(repr, now);
        Some(OutSegment::new(repr, 0))
    }

    /// A pure ACK when one is due.
    fn poll_ack(&mut self, now: Instant) -> Option<OutSegment> {
        if !self.ack_pending {
            return None;
        }
        // SND.MAX, not a rewound SND.NXT (after an RTO): the peer may already have received
        // past SND.NXT and would find an older sequence number unacceptable (BSD does the same).
        let repr = self.base(TcpControl::None, self.snd_max);
        let repr = self.with_ack(repr, now);
        Some(OutSegment::new(repr, 0))
    }
}

/// Whether a segment starting at `seq` resends sequence space (below `SND.MAX`).
fn retransmission_of(seq: SeqNumber, snd_max: SeqNumber) -> bool {
    seq.lt(snd_max)
}
