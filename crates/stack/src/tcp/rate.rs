//! Delivery-rate estimation (draft-cheng-iccrg-delivery-rate-estimation-02, Linux
//! `tcp_rate.c`): each sent segment remembers how much had been delivered, and when, at the
//! moment it left; when it is acknowledged (cumulatively or by SACK) the data delivered since
//! over the longer of its send and ACK intervals is one sample of the delivery rate.
//!
//! Invariants: records are sorted by sequence number, disjoint, and cover only sequence space
//! above `SND.UNA` that has been sent; there are at most [`MAX_RATE_RECORDS`] of them (beyond
//! that new segments go untracked: samples then come from the tracked ones). Storage is freed
//! when nothing is in flight.

use boomerang_wire::SeqNumber;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Most sent segments tracked per connection (a 4 MiB send buffer at MSS 536).
pub const MAX_RATE_RECORDS: usize = 8192;

/// The delivery state a segment carried when it was (last) sent.
#[derive(Debug, Clone, Copy)]
struct Record {
    start: SeqNumber,
    end: SeqNumber,
    sent: Instant,
    /// Total bytes delivered when it was sent.
    delivered: u64,
    /// When `delivered` last grew, as of its sending.
    delivered_time: Instant,
    /// Send time of the segment most recently delivered, as of its sending.
    first_sent: Instant,
    app_limited: bool,
    /// Sent more than once: its round-trip time is ambiguous (Karn).
    retransmitted: bool,
    /// Delivered by SACK already (counted; a later cumulative ACK must not count it again).
    sacked: bool,
}

/// One delivery-rate sample, produced by an ACK that delivered data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateSample {
    /// Bytes delivered over `interval`.
    pub delivered: u64,
    /// The sampling interval: the longer of the send and the ACK phase.
    pub interval: Duration,
    /// Total bytes delivered when the newest delivered segment was sent (round counting).
    pub prior_delivered: u64,
    /// Total bytes delivered so far, including this ACK.
    pub total_delivered: u64,
    /// Bytes this ACK delivered (cumulatively acknowledged or newly SACKed).
    pub newly_delivered: u64,
    /// The sender had nothing to send while the sampled data was in flight: the rate may be
    /// below what the path can carry.
    pub app_limited: bool,
    /// Round-trip time of the newest delivered segment; `None` when it was retransmitted
    /// (which transmission was acknowledged is unknown, RFC 6298 §3 Karn).
    pub rtt: Option<Duration>,
    /// The newest delivered segment was retransmitted: if the first transmission is what
    /// arrived, `prior_delivered` is later than the data really sent then (a spurious
    /// retransmission makes it look sent a moment ago).
    pub retransmitted: bool,
}

impl RateSample {
    /// Bytes per second, or `None` when the interval is empty.
    pub fn rate(&self) -> Option<f64> {
        let secs = self.interval.as_secs_f64();
        (secs > 0.0).then(|| self.delivered as f64 / secs)
    }
}

/// Per-connection delivery-rate estimator.
#[derive(Debug, Clone, Default)]
pub struct RateSampler {
    delivered: u64,
    delivered_time: Option<Instant>,
    first_sent: Option<Instant>,
    /// Non-zero: samples are app-limited until `delivered` passes this mark.
    app_limited_until: u64,
    records: VecDeque<Record>,
}

impl RateSampler {
    /// Total bytes delivered (acknowledged or SACKed) so far.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Whether samples are currently marked app-limited.
    pub fn is_app_limited(&self) -> bool {
        self.app_limited_until != 0
    }

    /// Segments currently tracked.
    pub fn tracked(&self) -> usize {
        self.records.len()
    }

    /// Records the (re)transmission of `[start, end)` at `now`; `in_flight` is what was
    /// outstanding before it (zero starts a new sending burst).
    pub fn on_send(&mut self, start: SeqNumber, end: SeqNumber, now: Instant, in_flight: usize) {
        if !start.lt(end) {
            return;
        }
        if in_flight == 0 || self.delivered_time.is_none() {
            self.first_sent = Some(now);
            self.delivered_time = Some(now);
        }
        let record = Record {
            start,
            end,
            sent: now,
            delivered: self.delivered,
            delivered_time: self.delivered_time.unwrap_or(now),
            first_sent: self.first_sent.unwrap_or(now),
            app_limited: self.app_limited_until != 0,
            retransmitted: false,
            sacked: false,
        };
        match self.records.back() {
            Some(last) if start.lt(last.end) => {
                // A retransmission: refresh the records it overlaps.
                let from = self.records.partition_point(|r| r.end.le(start));
                for r in self.records.iter_mut().skip(from) {
                    if !r.start.lt(end) {
                        break;
                    }
                    *r = Record {
                        start: r.start,
                        end: r.end,
                        sacked: r.sacked,
                        retransmitted: true,
                        ..record
                    };
                }
            }
            _ if self.records.len() < MAX_RATE_RECORDS => self.records.push_back(record),
            _ => {}
        }
    }

    /// The sender found nothing to send with `in_flight` bytes outstanding and room in its
    /// window: samples until that data is delivered do not show the path's capacity.
    pub fn mark_app_limited(&mut self, in_flight: usize) {
        self.app_limited_until = (self.delivered + in_flight as u64).max(1);
    }

    /// Processes an ACK that moved `SND.UNA` to `snd_una` and carried `sacks`; returns a
    /// sample when it delivered anything.
    pub fn on_ack(
        &mut self,
        snd_una: SeqNumber,
        sacks: impl Iterator<Item = (SeqNumber, SeqNumber)>,
        now: Instant,
    ) -> Option<RateSample> {
        let before = self.delivered;
        let mut newest: Option<Record> = None;
        let consider = |r: &Record, newest: &mut Option<Record>| {
            if newest.is_none_or(|n| r.delivered > n.delivered || r.sent > n.sent) {
                *newest = Some(*r);
            }
        };
        while let Some(front) = self.records.front_mut() {
            if front.end.le(snd_una) {
                let r = self.records.pop_front().expect("front exists");
                if !r.sacked {
                    self.delivered += (r.end - r.start).max(0) as u64;
                    consider(&r, &mut newest);
                }
            } else {
                if front.start.lt(snd_una) {
                    // Partly acknowledged: count that part once.
                    if !front.sacked {
                        self.delivered += (snd_una - front.start).max(0) as u64;
                        consider(front, &mut newest);
                    }
                    front.start = snd_una;
                }
                break;
            }
        }
        for (left, right) in sacks {
            if !left.lt(right) {
                continue;
            }
            let from = self.records.partition_point(|r| r.end.le(left));
            for r in self.records.iter_mut().skip(from) {
                if !r.start.lt(right) {
                    break;
                }
                if !r.sacked && r.start.ge(left) && r.end.le(right) {
                    r.sacked = true;
                    self.delivered += (r.end - r.start).max(0) as u64;
                    consider(r, &mut newest);
                }
            }
        }
        if self.records.is_empty() {
            self.records = VecDeque::new();
        }
        let newest = newest?;
        if self.app_limited_until != 0 && self.delivered > self.app_limited_until {
            self.app_limited_until = 0;
        }
        self.delivered_time = Some(now);
        self.first_sent = Some(newest.sent);
        let send_elapsed = newest.sent.saturating_duration_since(newest.first_sent);
        let ack_elapsed = now.saturating_duration_since(newest.delivered_time);
        Some(RateSample {
            delivered: self.delivered - newest.delivered,
            interval: send_elapsed.max(ack_elapsed),
            prior_delivered: newest.delivered,
            total_delivered: self.delivered,
            newly_delivered: self.delivered - before,
            app_limited: newest.app_limited,
            rtt: (!newest.retransmitted).then(|| now.saturating_duration_since(newest.sent)),
            retransmitted: newest.retransmitted,
        })
    }

    /// Forgets SACK marks (the peer reneged, RFC 2018 §8): those bytes count again when
    /// cumulatively acknowledged, which slightly overstates one sample; nothing else changes.
    pub fn clear_sacked(&mut self) {
        for r in &mut self.records {
            r.sacked = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u32) -> SeqNumber {
        SeqNumber(n)
    }

    #[test]
    fn steady_flow_measures_the_ack_rate() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut r = RateSampler::default();
        // Ten 1000-byte segments, one per ms; each ACKed 20 ms after it was sent.
        for i in 0..10u32 {
            r.on_send(
                s(i * 1000),
                s((i + 1) * 1000),
                t0 + ms(i.into()),
                (i * 1000) as usize,
            );
        }
        let mut last = None;
        for i in 0..10u32 {
            last = r.on_ack(
                s((i + 1) * 1000),
                std::iter::empty(),
                t0 + ms(20 + u64::from(i)),
            );
        }
        let rs = last.expect("a sample");
        assert_eq!(rs.total_delivered, 10_000);
        assert_eq!(rs.newly_delivered, 1000);
        assert_eq!(rs.rtt, Some(ms(20)));
        // Everything was sent before the first ACK: segment 9 saw nothing delivered; the
        // interval is the longer ACK phase, from the burst's start to its last ACK.
        assert_eq!(rs.prior_delivered, 0);
        assert_eq!(rs.delivered, 10_000);
        assert_eq!(rs.interval, ms(29));
        let rate = rs.rate().expect("rate");
        assert!((rate - 10_000.0 / 0.029).abs() < 1e-6, "{rate}");
        assert_eq!(r.tracked(), 0);
    }

    #[test]
    fn sack_counts_once_and_partial_acks_count_their_part() {
        let t0 = Instant::now();
        let mut r = RateSampler::default();
        for i in 0..4u32 {
            r.on_send(s(i * 100), s((i + 1) * 100), t0, (i * 100) as usize);
        }
        let later = t0 + Duration::from_millis(10);
        let rs = r
            .on_ack(s(50), [(s(200), s(300))].into_iter(), later)
            .expect("sample");
        assert_eq!(
            rs.newly_delivered, 150,
            "half of the first, the SACKed third"
        );
        // The SACKed record is not counted again by the cumulative ACK, nor by a repeat SACK.
        let rs = r
            .on_ack(s(300), [(s(200), s(300))].into_iter(), later)
            .expect("sample");
        assert_eq!(rs.newly_delivered, 150);
        assert_eq!(r.delivered(), 300);
        assert!(r.on_ack(s(300), std::iter::empty(), later).is_none());
    }

    #[test]
    fn retransmission_refreshes_and_app_limited_clears() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut r = RateSampler::default();
        r.on_send(s(0), s(100), t0, 0);
        r.on_send(s(100), s(200), t0, 100);
        r.mark_app_limited(200);
        r.on_send(s(0), s(100), t0 + ms(50), 200);
        let rs = r
            .on_ack(s(100), std::iter::empty(), t0 + ms(60))
            .expect("sample");
        assert_eq!(rs.rtt, None, "ambiguous after a retransmission");
        assert!(rs.app_limited, "sent while app-limited");
        assert!(r.is_app_limited());
        r.on_ack(s(200), std::iter::empty(), t0 + ms(70));
        r.on_send(s(200), s(300), t0 + ms(70), 0);
        assert!(r.is_app_limited(), "200 delivered is not past the mark yet");
        r.on_ack(s(300), std::iter::empty(), t0 + ms(80));
        assert!(!r.is_app_limited());
    }
}
