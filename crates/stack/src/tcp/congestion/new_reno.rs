//! NewReno congestion control (RFC 5681 §3, RFC 6582), with appropriate byte counting
//! (RFC 3465, L = 2·SMSS) in slow start.

use super::Controller;
use std::time::Instant;

/// NewReno state: the window, the threshold and the byte counter of congestion avoidance.
#[derive(Debug, Clone)]
pub struct NewReno {
    cwnd: usize,
    ssthresh: usize,
    acked_in_avoidance: usize,
}

impl NewReno {
    /// Starts in slow start with `initial_window` bytes and an unbounded threshold.
    pub fn new(initial_window: usize) -> NewReno {
        NewReno {
            cwnd: initial_window,
            ssthresh: usize::MAX,
            acked_in_avoidance: 0,
        }
    }

    fn reduce(&mut self, flight: usize, mss: usize) {
        // RFC 5681 equation (4): ssthresh = max(FlightSize / 2, 2*SMSS)
        self.ssthresh = (flight / 2).max(2 * mss);
        self.acked_in_avoidance = 0;
    }
}

impl Controller for NewReno {
    fn window(&self) -> usize {
        self.cwnd
    }

    fn ssthresh(&self) -> usize {
        self.ssthresh
    }

    fn on_ack(&mut self, _now: Instant, acked: usize, _flight: usize, mss: usize) {
        if self.cwnd < self.ssthresh {
            // Slow start (RFC 5681 (2), RFC 3465 L = 2).
            self.cwnd = self.cwnd.saturating_add(acked.min(2 * mss));
        } else {
            // Congestion avoidance: one SMSS per window of acknowledged bytes (RFC 5681 (3)).
            self.acked_in_avoidance += acked;
            if self.acked_in_avoidance >= self.cwnd {
                self.acked_in_avoidance -= self.cwnd;
                self.cwnd = self.cwnd.saturating_add(mss);
            }
        }
    }

    fn on_fast_retransmit(&mut self, _now: Instant, flight: usize, mss: usize) {
        self.reduce(flight, mss);
        self.cwnd = self.ssthresh + 3 * mss;
    }

    fn on_dup_ack(&mut self, mss: usize) {
        self.cwnd = self.cwnd.saturating_add(mss);
    }

    fn on_partial_ack(&mut self, acked: usize, mss: usize) {
        // Deflate by the amount acknowledged, add back one SMSS if that much was acknowledged.
        self.cwnd = self.cwnd.saturating_sub(acked);
        if acked >= mss {
            self.cwnd += mss;
        }
        self.cwnd = self.cwnd.max(mss);
    }

    fn on_recovery_end(&mut self, flight: Option<usize>, mss: usize) {
        self.cwnd = super::end_of_recovery_window(self.ssthresh, flight, mss);
    }

    fn on_rto(&mut self, flight: usize, mss: usize) {
        self.reduce(flight, mss);
        self.cwnd = mss;
    }

    fn on_idle_restart(&mut self, restart_window: usize) {
        self.cwnd = self.cwnd.min(restart_window);
        self.acked_in_avoidance = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_start_avoidance_recovery_rto() {
        let now = Instant::now();
        let mss = 1000;
        let mut c = NewReno::new(10 * mss);
        c.on_ack(now, 2 * mss, 10 * mss, mss);
        assert_eq!(c.window(), 12 * mss);
        c.on_fast_retransmit(now, 12 * mss, mss);
        assert_eq!(c.ssthresh(), 6 * mss);
        assert_eq!(c.window(), 9 * mss);
        c.on_dup_ack(mss);
        assert_eq!(c.window(), 10 * mss);
        c.on_partial_ack(3 * mss, mss);
        assert_eq!(c.window(), 8 * mss);
        c.on_recovery_end(Some(4 * mss), mss);
        assert_eq!(c.window(), 5 * mss);
        // below ssthresh again: slow start, at most 2 SMSS per ACK (RFC 3465)
        c.on_ack(now, 3 * mss, 5 * mss, mss);
        assert_eq!(c.window(), 7 * mss);
        // congestion avoidance: +1 SMSS per window of acknowledged bytes
        c.cwnd = 6 * mss;
        c.ssthresh = 6 * mss;
        c.acked_in_avoidance = 0;
        c.on_ack(now, 5 * mss, 6 * mss, mss);
        assert_eq!(c.window(), 6 * mss);
        c.on_ack(now, mss, 6 * mss, mss);
        assert_eq!(c.window(), 7 * mss);
        c.on_rto(7 * mss, mss);
        assert_eq!(c.window(), mss);
        assert_eq!(c.ssthresh(), 3 * mss + mss / 2);
    }
}
