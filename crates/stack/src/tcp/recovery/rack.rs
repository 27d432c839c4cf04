//! RACK (RFC 8985 §6): time-based loss detection over a log of the segments in flight.
//!
//! [`Rack`] keeps, for every segment sent and not yet cumulatively acknowledged, its sequence
//! range, its transmit time (`Segment.xmit_ts`, refreshed by each retransmission) and whether
//! it was retransmitted, SACKed or deemed lost; and the RACK state of RFC 8985 §6.1:
//! `RACK.xmit_ts` (with a transmission order for ties, where RFC 8985 uses `RACK.end_seq`)
//! and `RACK.rtt` of the most recently sent segment that was
//! delivered (newly ACKed or SACKed, not ambiguously retransmitted), `RACK.fack` and
//! `RACK.segs_sacked`. [`Rack::detect_loss`] marks a segment lost when it was sent before
//! `RACK.xmit_ts` (or at the same time with a lower end) and `RACK.rtt + RACK.reo_wnd` has
//! passed since it left; otherwise it returns the earliest such deadline for the reordering
//! timer. Retransmissions get a new `xmit_ts`, so a lost retransmission is found the same way.
//!
//! Segments are kept in sequence order; entries are split when a retransmission covers part
//! of one. Never-retransmitted segments are also in transmit-time order, which lets the loss
//! scan stop early when no retransmission is outstanding.

use boomerang_wire::SeqNumber;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Most segments logged per connection; beyond it new data extends the last entry (its
/// transmit time moves to the later send, so it is never deemed lost too early).
pub const MAX_LOGGED_SEGMENTS: usize = 16_384;

/// One segment in flight (RFC 8985 §6.1 per-segment variables).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// First sequence number.
    pub start: SeqNumber,
    /// One past the last (`Segment.end_seq`).
    pub end: SeqNumber,
    /// When it was last (re)transmitted (`Segment.xmit_ts`).
    pub xmit_ts: Instant,
    /// Its place in the order of transmissions, to break ties between segments sent at the
    /// same instant (RFC 8985 breaks them by `end_seq`, which misorders a retransmission
    /// sent in the same clock tick as later new data).
    pub order: u64,
    /// It was retransmitted at least once (`Segment.retransmitted`).
    pub retransmitted: bool,
    /// The peer SACKed it.
    pub sacked: bool,
    /// Deemed lost and not resent since (`Segment.lost`).
    pub lost: bool,
}

impl Segment {
    fn len(&self) -> usize {
        (self.end - self.start).max(0) as usize
    }
}

/// RFC 8985 `RACK_sent_after(t1, seq1, t2, seq2)`: the first was sent after the second, by
/// transmit time and, at the same instant, by transmission order.
pub fn sent_after(t1: Instant, order1: u64, t2: Instant, order2: u64) -> bool {
    t1 > t2 || (t1 == t2 && order1 > order2)
}

/// The timestamp an ACK echoes, as an instant of our clock: the TSval we sent is the
/// milliseconds since `epoch` (our timestamp offset removed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Echo {
    /// Our clock's origin.
    pub epoch: Instant,
    /// Milliseconds since `epoch` that the echoed TSval stands for.
    pub ms: u64,
}

impl Echo {
    /// The echoed TSval was sent before `t` (in whole milliseconds, as TSvals are).
    pub fn before(&self, t: Instant) -> bool {
        self.ms < t.saturating_duration_since(self.epoch).as_millis() as u64
    }
}

/// What one ACK delivered, as the RACK log saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Delivered {
    /// Segments newly SACKed by this ACK.
    pub newly_sacked: u32,
    /// A never-retransmitted segment below `RACK.fack` was delivered: the path reorders
    /// (RFC 8985 §6.2 step 3).
    pub reordered: bool,
}

/// The segment log and RACK state of one connection (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct Rack {
    segs: VecDeque<Segment>,
    /// Bytes of logged segments SACKed.
    sacked_bytes: usize,
    /// Bytes of logged segments deemed lost and not resent since.
    lost_bytes: usize,
    /// Logged segments retransmitted and not SACKed (the loss scan cannot stop early then).
    rtx_out: usize,
    /// `RACK.segs_sacked`.
    segs_sacked: u32,
    /// `RACK.xmit_ts`: when the most recently sent segment delivered left, and its
    /// transmission order (which stands for `RACK.end_seq` in ties).
    xmit_ts: Option<Instant>,
    order: u64,
    /// The next transmission's order.
    next_order: u64,
    /// `RACK.rtt`: the RTT of that segment's delivery.
    rtt: Duration,
    /// `RACK.fack`: the highest end of a delivered segment.
    fack: Option<SeqNumber>,
}

impl Rack {
    /// Bytes SACKed (of the segments in flight).
    pub fn sacked_bytes(&self) -> usize {
        self.sacked_bytes
    }

    /// Bytes deemed lost and not retransmitted since.
    pub fn lost_bytes(&self) -> usize {
        self.lost_bytes
    }

    /// `RACK.segs_sacked`: segments SACKed above `SND.UNA`.
    pub fn segs_sacked(&self) -> u32 {
        self.segs_sacked
    }

    /// `RACK.rtt`, once a delivery was measured.
    pub fn rtt(&self) -> Option<Duration> {
        self.xmit_ts.map(|_| self.rtt)
    }

    /// Segments logged.
    pub fn len(&self) -> usize {
        self.segs.len()
    }

    /// Nothing logged.
    pub fn is_empty(&self) -> bool {
        self.segs.is_empty()
    }

    /// `[start, end)` left at `now`: new data is appended; data sent before gets a new
    /// transmit time and the retransmitted mark, and is no longer lost (RFC 8985 §6.1).
    pub fn on_send(&mut self, start: SeqNumber, end: SeqNumber, now: Instant) {
        if !start.lt(end) {
            return;
        }
        self.next_order += 1;
        let order = self.next_order;
        let top = self.segs.back().map(|s| s.end);
        let new_from = match top {
            Some(top) if start.lt(top) => {
                self.on_resend(start, end.min(top), now, order);
                top
            }
            _ => start,
        };
        if !new_from.lt(end) {
            return;
        }
        if self.segs.len() >= MAX_LOGGED_SEGMENTS {
            if let Some(last) = self.segs.back_mut() {
                if last.end == new_from && !last.sacked && !last.lost {
                    last.end = end;
                    last.xmit_ts = now;
                    last.order = order;
                    return;
                }
            }
        }
        self.segs.push_back(Segment {
            start: new_from,
            end,
            xmit_ts: now,
            order,
            retransmitted: false,
            sacked: false,
            lost: false,
        });
    }

    fn on_resend(&mut self, start: SeqNumber, end: SeqNumber, now: Instant, order: u64) {
        let (from, to) = (self.split_at(start), self.split_at(end));
        for i in from..to {
            let s = &mut self.segs[i];
            if s.sacked {
                continue;
            }
            if s.lost {
                s.lost = false;
                self.lost_bytes -= s.len();
            }
            if !s.retransmitted {
                s.retransmitted = true;
                self.rtx_out += 1;
            }
            s.xmit_ts = now;
            s.order = order;
        }
    }

    /// Splits the entry holding `seq` so that one starts there; returns that index (or where
    /// it would be).
    fn split_at(&mut self, seq: SeqNumber) -> usize {
        let i = self.segs.partition_point(|s| s.end.le(seq));
        let Some(&s) = self.segs.get(i) else {
            return i;
        };
        if !s.start.lt(seq) {
            return i;
        }
        let mut head = s;
        head.end = seq;
        self.segs[i].start = seq;
        self.segs.insert(i, head);
        if s.retransmitted && !s.sacked {
            self.rtx_out += 1;
        }
        i + 1
    }

    /// Processes an ACK: segments below `una` (the new `SND.UNA`) leave the log, segments
    /// wholly inside a SACK block are SACKed; each newly delivered one updates the RACK state
    /// (RFC 8985 §6.2 step 2, `RACK_update`) unless its delivery is ambiguous — retransmitted,
    /// and it came back sooner than `min_rtt`, or it was cumulatively acknowledged by an ACK
    /// that echoes a timestamp from before that retransmission (`echo`). The echo is not
    /// consulted for SACKed segments: a receiver echoes the timestamp of the last segment that
    /// advanced its window (RFC 7323 §4.3), so every SACK of a retransmission would look
    /// ambiguous (Linux's `tcp_rack_advance` uses only the min-RTT test).
    pub fn on_ack(
        &mut self,
        una: SeqNumber,
        blocks: &[Option<(u32, u32)>],
        echo: Option<Echo>,
        min_rtt: Option<Duration>,
        now: Instant,
    ) -> Delivered {
        let mut out = Delivered::default();
        let fack = self.fack;
        let mut latest: Option<Segment> = None;
        let mut max_end: Option<SeqNumber> = None;
        let mut deliver = |s: &Segment, sacked: bool, out: &mut Delivered| {
            if !s.retransmitted && fack.is_some_and(|f| s.end.lt(f)) {
                out.reordered = true;
            }
            if max_end.is_none_or(|m| s.end.gt(m)) {
                max_end = Some(s.end);
            }
            if s.retransmitted {
                let rtt = now.saturating_duration_since(s.xmit_ts);
                let old_echo = !sacked && echo.is_some_and(|e| e.before(s.xmit_ts));
                if old_echo || min_rtt.is_some_and(|m| rtt < m) {
                    return;
                }
            }
            if latest.is_none_or(|l| sent_after(s.xmit_ts, s.order, l.xmit_ts, l.order)) {
                latest = Some(*s);
            }
        };
        while let Some(&s) = self.segs.front() {
            if s.end.gt(una) {
                if s.start.lt(una) {
                    // Partly acknowledged: the rest stays.
                    let front = &mut self.segs[0];
                    let cut = (una - front.start) as usize;
                    if front.sacked {
                        self.sacked_bytes -= cut;
                    } else if front.lost {
                        self.lost_bytes -= cut;
                    }
                    front.start = una;
                }
                break;
            }
            self.segs.pop_front();
            if s.sacked {
                self.sacked_bytes -= s.len();
                self.segs_sacked = self.segs_sacked.saturating_sub(1);
                continue;
            }
            if s.lost {
                self.lost_bytes -= s.len();
            }
            if s.retransmitted {
                self.rtx_out -= 1;
            }
            deliver(&s, false, &mut out);
        }
        for &(l, r) in blocks.iter().flatten() {
            let (l, r) = (SeqNumber(l).max(una), SeqNumber(r));
            if !l.lt(r) {
                continue;
            }
            let from = self.segs.partition_point(|s| s.start.lt(l));
            for s in self.segs.iter_mut().skip(from) {
                if s.end.gt(r) {
                    break;
                }
                if s.sacked {
                    continue;
                }
                s.sacked = true;
                self.sacked_bytes += s.len();
                self.segs_sacked += 1;
                out.newly_sacked += 1;
                if s.lost {
                    s.lost = false;
                    self.lost_bytes -= s.len();
                }
                if s.retransmitted {
                    self.rtx_out -= 1;
                }
                deliver(&*s, true, &mut out);
            }
        }
        if let Some(s) = latest {
            self.rtt = now.saturating_duration_since(s.xmit_ts);
            if self
                .xmit_ts
                .is_none_or(|t| sent_after(s.xmit_ts, s.order, t, self.order))
            {
                self.xmit_ts = Some(s.xmit_ts);
                self.order = s.order;
            }
        }
        if let Some(end) = max_end {
            if self.fack.is_none_or(|f| end.gt(f)) {
                self.fack = Some(end);
            }
        }
        out
    }

    /// RFC 8985 §6.2 step 5 (`RACK_detect_loss`): marks lost every segment not SACKed that
    /// was sent before `RACK.xmit_ts` and has waited `RACK.rtt + reo_wnd` since; returns
    /// whether any was newly marked and the earliest deadline of those still waiting (for
    /// the reordering timer).
    pub fn detect_loss(&mut self, now: Instant, reo_wnd: Duration) -> (bool, Option<Instant>) {
        let Some(rack_ts) = self.xmit_ts else {
            return (false, None);
        };
        let (rack_order, wait) = (self.order, self.rtt + reo_wnd);
        let (mut marked, mut timer) = (false, None::<Instant>);
        let mut rtx_left = self.rtx_out;
        for s in self.segs.iter_mut() {
            if s.sacked || s.lost {
                continue;
            }
            if !sent_after(rack_ts, rack_order, s.xmit_ts, s.order) {
                if !s.retransmitted && rtx_left == 0 {
                    // Later originals left later still, and no resend is left to check.
                    break;
                }
                rtx_left -= usize::from(s.retransmitted);
                continue;
            }
            rtx_left -= usize::from(s.retransmitted);
            let deadline = s.xmit_ts + wait;
            if deadline <= now {
                s.lost = true;
                self.lost_bytes += s.len();
                marked = true;
            } else {
                timer = Some(timer.map_or(deadline, |t| t.min(deadline)));
            }
        }
        (marked, timer)
    }

    /// The first segment deemed lost (and not SACKed), from `from` on: its start and the
    /// length of the run of lost segments there.
    pub fn next_lost(&self, from: SeqNumber) -> Option<(SeqNumber, usize)> {
        let i = self.segs.partition_point(|s| s.end.le(from));
        let mut run = self.segs.iter().skip(i).skip_while(|s| !s.lost);
        let first = run.next()?;
        let mut end = first.end;
        for s in run {
            if !s.lost || s.start != end {
                break;
            }
            end = s.end;
        }
        let start = first.start.max(from);
        Some((start, (end - start).max(0) as usize))
    }

    /// The highest-sequence logged segment the peer has not SACKed (a tail loss probe's
    /// choice when there is no new data to send).
    pub fn last_unsacked(&self) -> Option<(SeqNumber, SeqNumber)> {
        self.segs
            .iter()
            .rev()
            .find(|s| !s.sacked)
            .map(|s| (s.start, s.end))
    }

    /// A retransmission timeout (RFC 8985 §6.3, Linux `tcp_enter_loss`): every segment not
    /// SACKed is deemed lost; what the peer SACKed is kept and not sent again.
    pub fn mark_all_lost(&mut self) {
        for s in self.segs.iter_mut() {
            if !s.sacked && !s.lost {
                s.lost = true;
                self.lost_bytes += s.len();
            }
        }
    }

    /// A spurious timeout was undone: segments marked lost and not resent are in flight again.
    pub fn clear_lost(&mut self) {
        for s in self.segs.iter_mut() {
            s.lost = false;
        }
        self.lost_bytes = 0;
    }

    /// The peer reneged (RFC 2018 §8): nothing counts as SACKed any more.
    pub fn clear_sacked(&mut self) {
        for s in self.segs.iter_mut() {
            if s.sacked && s.retransmitted {
                self.rtx_out += 1;
            }
            s.sacked = false;
        }
        self.sacked_bytes = 0;
        self.segs_sacked = 0;
    }

    /// The logged segments, in sequence order.
    pub fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.segs.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn s(n: u32) -> SeqNumber {
        SeqNumber(n)
    }

    fn sack(l: u32, r: u32) -> [Option<(u32, u32)>; 4] {
        [Some((l, r)), None, None, None]
    }

    /// Four segments 10 ms apart; the third is SACKed 40 ms after it left: the first two left
    /// before it and are lost once RACK.rtt (40 ms) + reo_wnd (15 ms) passed since each left.
    #[test]
    fn segments_sent_before_the_delivered_one_are_lost_after_rtt_plus_window() {
        let t = Instant::now();
        let mut r = Rack::default();
        for i in 0..4u32 {
            r.on_send(s(i * 1000), s((i + 1) * 1000), t + ms(u64::from(i) * 10));
        }
        let now = t + ms(60);
        let d = r.on_ack(s(0), &sack(2000, 3000), None, Some(ms(40)), now);
        assert_eq!(d.newly_sacked, 1);
        assert_eq!(r.rtt(), Some(ms(40)));
        // First: 0 + 55 ≤ 60, lost; second: 10 + 55 > 60, waits until 65.
        assert_eq!(r.detect_loss(now, ms(15)), (true, Some(t + ms(65))));
        assert_eq!(r.next_lost(s(0)), Some((s(0), 1000)));
        assert_eq!(r.lost_bytes(), 1000);
        assert_eq!(r.detect_loss(t + ms(65), ms(15)), (true, None));
        assert_eq!(r.next_lost(s(0)), Some((s(0), 2000)));
        // The fourth left after the SACKed one: never lost by it.
        assert!(!r.segments().nth(3).unwrap().lost);
    }

    /// A retransmission gets a new transmit time: it is lost when a segment sent after it is
    /// delivered and RACK.rtt + reo_wnd passes, however old its sequence number.
    #[test]
    fn a_lost_retransmission_is_found_by_time() {
        let t = Instant::now();
        let mut r = Rack::default();
        for i in 0..3u32 {
            r.on_send(s(i * 1000), s((i + 1) * 1000), t);
        }
        r.on_ack(s(0), &sack(1000, 2000), None, None, t + ms(40));
        assert!(r.detect_loss(t + ms(40), Duration::ZERO).0);
        // Resent at +40: no longer lost; 2000..3000 resent partly (split) at +45.
        r.on_send(s(0), s(1000), t + ms(40));
        assert_eq!(r.lost_bytes(), 0);
        r.on_send(s(2000), s(2500), t + ms(45));
        assert_eq!(r.len(), 4, "2000..3000 split at 2500");
        // The partial resend (and the rest of its segment) is delivered 40 ms later; the
        // first resend, sent 5 ms before it, is not.
        let d = r.on_ack(s(0), &sack(2000, 3000), None, Some(ms(40)), t + ms(85));
        assert_eq!(d.newly_sacked, 2);
        assert_eq!(r.rtt(), Some(ms(40)));
        let (lost, timer) = r.detect_loss(t + ms(85), ms(10));
        assert!(!lost, "40 + 40 + 10 > 85");
        assert_eq!(timer, Some(t + ms(90)));
        assert!(r.detect_loss(t + ms(90), ms(10)).0);
        assert_eq!(r.next_lost(s(0)), Some((s(0), 1000)));
    }

    /// A retransmitted segment whose ACK echoes a timestamp from before the retransmission
    /// (the original arrived) does not move RACK.xmit_ts.
    #[test]
    fn an_ambiguous_delivery_does_not_update_rack() {
        let t = Instant::now();
        let mut r = Rack::default();
        r.on_send(s(0), s(1000), t);
        r.on_send(s(1000), s(2000), t);
        r.on_send(s(0), s(1000), t + ms(30));
        let echo = Some(Echo { epoch: t, ms: 0 });
        r.on_ack(s(1000), &[None; 4], echo, None, t + ms(35));
        assert_eq!(r.rtt(), None);
        r.on_ack(s(2000), &[None; 4], echo, None, t + ms(40));
        assert_eq!(r.rtt(), Some(ms(40)));
    }

    /// A SACKed retransmission counts even though the ACK echoes an older timestamp (the
    /// receiver echoes the last in-order segment's), unless it came back within the minimum
    /// RTT of being resent (then the original may have been SACKed).
    #[test]
    fn a_sacked_retransmission_counts_unless_faster_than_min_rtt() {
        let t = Instant::now();
        let echo = Some(Echo { epoch: t, ms: 0 });
        let mut r = Rack::default();
        for i in 0..3u32 {
            r.on_send(s(i * 1000), s((i + 1) * 1000), t);
        }
        r.on_send(s(1000), s(2000), t + ms(50));
        r.on_ack(s(0), &sack(1000, 2000), echo, Some(ms(40)), t + ms(60));
        assert_eq!(r.rtt(), None, "10 ms after the resend: ambiguous");
        let mut r = Rack::default();
        for i in 0..3u32 {
            r.on_send(s(i * 1000), s((i + 1) * 1000), t);
        }
        r.on_send(s(1000), s(2000), t + ms(50));
        r.on_ack(s(0), &sack(1000, 2000), echo, Some(ms(40)), t + ms(95));
        assert_eq!(r.rtt(), Some(ms(45)));
        // The original 0..1000 left before the resend: lost (reo_wnd 0 here).
        assert!(r.detect_loss(t + ms(95), Duration::ZERO).0);
        assert_eq!(r.next_lost(s(0)), Some((s(0), 1000)));
    }

    /// A timeout marks everything not SACKed lost and keeps the SACKed segments.
    #[test]
    fn a_timeout_keeps_what_was_sacked() {
        let t = Instant::now();
        let mut r = Rack::default();
        for i in 0..4u32 {
            r.on_send(s(i * 1000), s((i + 1) * 1000), t);
        }
        r.on_ack(s(0), &sack(1000, 2000), None, None, t + ms(5));
        r.mark_all_lost();
        assert_eq!((r.lost_bytes(), r.sacked_bytes()), (3000, 1000));
        assert_eq!(r.next_lost(s(0)), Some((s(0), 1000)));
        assert_eq!(r.next_lost(s(1000)), Some((s(2000), 2000)));
        r.clear_lost();
        assert_eq!(r.next_lost(s(0)), None);
    }

    /// Delivery of a never-retransmitted segment below RACK.fack shows reordering.
    #[test]
    fn a_late_original_below_fack_is_reordering() {
        let t = Instant::now();
        let mut r = Rack::default();
        for i in 0..3u32 {
            r.on_send(s(i * 1000), s((i + 1) * 1000), t);
        }
        assert!(!r.on_ack(s(0), &sack(2000, 3000), None, None, t).reordered);
        assert!(
            r.on_ack(s(1000), &sack(2000, 3000), None, None, t)
                .reordered
        );
    }
}
