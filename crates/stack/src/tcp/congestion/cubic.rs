//! CUBIC congestion control (RFC 9438): a cubic window-growth function of the time since the
//! last congestion event, with a Reno-friendly region and fast convergence. Loss recovery itself
//! (fast recovery inflation, partial ACKs) follows RFC 6582 as for NewReno.

use super::Controller;
use std::time::{Duration, Instant};

/// CUBIC's `C` (RFC 9438 §4.2), in segments / s³.
pub const CUBIC_C: f64 = 0.4;
/// CUBIC's multiplicative decrease factor `β_cubic` (RFC 9438 §4.6).
pub const CUBIC_BETA: f64 = 0.7;
/// Reno-friendly additive increase `α_cubic = 3(1 − β)/(1 + β)` (RFC 9438 §4.3).
pub const CUBIC_ALPHA: f64 = 3.0 * (1.0 - CUBIC_BETA) / (1.0 + CUBIC_BETA);
/// Slow start's per-ACK growth limit `L`, in SMSS: RFC 9406 §4.2 (HyStart++, which RFC 9438
/// §4.10 recommends for CUBIC) sets `L = 8` for a sender without pacing, instead of RFC 3465's
/// `L = 2`. A Linux receiver behind GRO acknowledges 4–6 segments per ACK; with `L = 2` such
/// stretch ACKs make slow start grow ~1.4× instead of 2× per RTT.
pub const CUBIC_SLOW_START_L: usize = 8;

/// CUBIC state; windows in bytes, `w_max` and `w_est` in segments as in the RFC.
#[derive(Debug, Clone)]
pub struct Cubic {
    cwnd: f64,
    ssthresh: usize,
    w_max: f64,
    w_est: f64,
    k: f64,
    epoch_start: Option<Instant>,
    rtt: Duration,
}

impl Cubic {
    /// Starts in slow start with `initial_window` bytes.
    pub fn new(initial_window: usize) -> Cubic {
        Cubic {
            cwnd: initial_window as f64,
            ssthresh: usize::MAX,
            w_max: 0.0,
            w_est: 0.0,
            k: 0.0,
            epoch_start: None,
            rtt: Duration::from_millis(100),
        }
    }

    /// A congestion event (RFC 9438 §4.6, §4.7 fast convergence).
    fn reduce(&mut self, mss: usize) {
        let seg = mss as f64;
        let cwnd_seg = self.cwnd / seg;
        self.w_max = if cwnd_seg < self.w_max {
            cwnd_seg * (1.0 + CUBIC_BETA) / 2.0
        } else {
            cwnd_seg
        };
        self.ssthresh = ((self.cwnd * CUBIC_BETA) as usize).max(2 * mss);
        self.epoch_start = None;
    }

    /// `W_cubic(t)` of RFC 9438 §4.2, in segments.
    fn w_cubic(&self, t: f64) -> f64 {
        CUBIC_C * (t - self.k).powi(3) + self.w_max
    }
}

impl Controller for Cubic {
    fn window(&self) -> usize {
        self.cwnd as usize
    }

    fn ssthresh(&self) -> usize {
        self.ssthresh
    }

    fn on_rtt(&mut self, srtt: Duration) {
        self.rtt = srtt;
    }

    fn on_ack(&mut self, now: Instant, acked: usize, _flight: usize, mss: usize) {
        let seg = mss as f64;
        if (self.cwnd as usize) < self.ssthresh {
            // Byte counting (RFC 3465 §2.2) with RFC 9406's L, not past ssthresh (RFC 5681 §3.1).
            let grown = self.cwnd + acked.min(CUBIC_SLOW_START_L * mss) as f64;
            self.cwnd = grown.min(self.ssthresh as f64);
            return;
        }
        let cwnd_seg = self.cwnd / seg;
        let epoch = *self.epoch_start.get_or_insert_with(|| {
            // New congestion-avoidance epoch (RFC 9438 §4.2): K from the current window.
            self.k = if cwnd_seg < self.w_max {
                ((self.w_max - cwnd_seg) / CUBIC_C).cbrt()
            } else {
                self.w_max = cwnd_seg;
                0.0
            };
            self.w_est = cwnd_seg;
            now
        });
        let t = now.saturating_duration_since(epoch).as_secs_f64();
        let acked_seg = acked as f64 / seg;
        // Reno-friendly estimate (RFC 9438 §4.3).
        self.w_est += CUBIC_ALPHA * acked_seg / cwnd_seg;
        let target = self.w_cubic(t + self.rtt.as_secs_f64());
        if target < self.w_est {
            self.cwnd = self.cwnd.max(self.w_est * seg);
        } else {
            // Concave / convex regions (RFC 9438 §4.4, §4.5): grow toward the target,
            // at most 1.5× per RTT.
            let target = target.clamp(cwnd_seg, 1.5 * cwnd_seg);
            self.cwnd += (target - cwnd_seg) / cwnd_seg * acked_seg * seg;
        }
    }

    fn on_fast_retransmit(&mut self, _now: Instant, _flight: usize, mss: usize) {
        self.reduce(mss);
        self.cwnd = (self.ssthresh + 3 * mss) as f64;
    }

    fn on_dup_ack(&mut self, mss: usize) {
        self.cwnd += mss as f64;
    }

    fn on_partial_ack(&mut self, acked: usize, mss: usize) {
        let mut cwnd = (self.cwnd as usize).saturating_sub(acked);
        if acked >= mss {
            cwnd += mss;
        }
        self.cwnd = cwnd.max(mss) as f64;
    }

    fn on_recovery_end(&mut self, flight: usize, mss: usize) {
        self.cwnd = self.ssthresh.min(flight.max(mss) + mss) as f64;
    }

    fn on_rto(&mut self, _flight: usize, mss: usize) {
        self.reduce(mss);
        self.cwnd = mss as f64;
    }

    fn on_idle_restart(&mut self, restart_window: usize) {
        self.cwnd = self.cwnd.min(restart_window as f64);
        self.epoch_start = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduction_and_cubic_growth_back_to_w_max() {
        let t0 = Instant::now();
        let mss = 1000;
        let mut c = Cubic::new(100 * mss);
        c.on_rtt(Duration::from_millis(10));
        c.on_fast_retransmit(t0, 100 * mss, mss);
        assert_eq!(c.ssthresh(), 70 * mss, "β = 0.7");
        assert_eq!(c.window(), 73 * mss);
        c.on_recovery_end(70 * mss, mss);
        assert_eq!(c.window(), 70 * mss);
        // K = cbrt((100 − 70) / 0.4) ≈ 4.22 s: the window plateaus near W_max = 100 then.
        let mut now = t0;
        for _ in 0..(5 * 100) {
            now += Duration::from_millis(10);
            let w = c.window();
            c.on_ack(now, w / 10, w, mss); // a tenth of the window per 10 ms ACK burst
        }
        let w = c.window() as f64 / mss as f64;
        assert!((100.0..115.0).contains(&w), "window {w} segments after 5 s");
        // Fast convergence: a loss below the previous W_max lowers W_max further.
        c.on_rto(c.window(), mss);
        assert_eq!(c.window(), mss);
    }

    #[test]
    fn slow_start_below_ssthresh() {
        let mut c = Cubic::new(10_000);
        // A stretch ACK for 5 segments (GRO receiver) counts in full...
        c.on_ack(Instant::now(), 5_000, 10_000, 1_000);
        assert_eq!(c.window(), 15_000);
        // ...one for 12 segments only up to L = 8 SMSS (RFC 9406 §4.2).
        c.on_ack(Instant::now(), 12_000, 15_000, 1_000);
        assert_eq!(c.window(), 23_000);
    }

    #[test]
    fn slow_start_stops_at_ssthresh() {
        let mss = 1_000;
        let mut c = Cubic::new(100 * mss);
        c.on_rto(100 * mss, mss);
        assert_eq!((c.window(), c.ssthresh()), (mss, 70 * mss));
        let now = Instant::now();
        let mut acks = 0;
        while c.window() < c.ssthresh() {
            let w = c.window();
            c.on_ack(now, w, w, mss);
            acks += 1;
        }
        assert_eq!(
            c.window(),
            70 * mss,
            "slow start does not overshoot ssthresh"
        );
        assert!(acks <= 12, "{acks} ACKs");
    }
}
