//! CUBIC congestion control (RFC 9438): a cubic window-growth function of the time since the
//! last congestion event, with a Reno-friendly region and fast convergence, and HyStart++
//! (RFC 9406, which RFC 9438 §4.10 recommends) in the initial slow start. Loss recovery itself
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

/// HyStart++'s lower bound on the RTT increase that ends slow start (RFC 9406 §4.3).
pub const HYSTART_MIN_RTT_THRESH: Duration = Duration::from_millis(4);
/// HyStart++'s upper bound on that increase.
pub const HYSTART_MAX_RTT_THRESH: Duration = Duration::from_millis(16);
/// The increase threshold is the last round's minimum RTT divided by this (clamped).
pub const HYSTART_MIN_RTT_DIVISOR: u32 = 8;
/// RTT samples per round before the round's minimum counts.
pub const HYSTART_N_RTT_SAMPLE: u32 = 8;
/// Conservative slow start grows this many times slower than slow start.
pub const HYSTART_CSS_GROWTH_DIVISOR: usize = 4;
/// Rounds of conservative slow start before congestion avoidance.
pub const HYSTART_CSS_ROUNDS: u32 = 5;

/// HyStart++ (RFC 9406 §4): in the initial slow start, a round whose minimum RTT exceeds the
/// previous round's by a threshold (a queue is building) switches to conservative slow start
/// (CSS, a quarter of the growth); an RTT back below the baseline resumes slow start; five
/// CSS rounds end slow start. Rounds are counted in acknowledged bytes: a round ends when what
/// was in flight at its start has been acknowledged.
#[derive(Debug, Clone, Default)]
struct HyStart {
    /// Off after the first congestion event: only the initial slow start uses it.
    disabled: bool,
    acked_total: u64,
    window_end: u64,
    last_round_min_rtt: Option<Duration>,
    current_round_min_rtt: Option<Duration>,
    rtt_samples: u32,
    /// In CSS: the minimum RTT of the round that entered it.
    css_baseline: Option<Duration>,
    css_rounds: u32,
}

impl HyStart {
    /// One RTT sample during slow start.
    fn on_rtt_sample(&mut self, rtt: Duration) {
        if self.disabled {
            return;
        }
        self.current_round_min_rtt = Some(self.current_round_min_rtt.map_or(rtt, |m| m.min(rtt)));
        self.rtt_samples = self.rtt_samples.saturating_add(1);
        if self.rtt_samples < HYSTART_N_RTT_SAMPLE {
            return;
        }
        let (Some(current), Some(last)) = (self.current_round_min_rtt, self.last_round_min_rtt)
        else {
            return;
        };
        match self.css_baseline {
            None => {
                let thresh = (last / HYSTART_MIN_RTT_DIVISOR)
                    .clamp(HYSTART_MIN_RTT_THRESH, HYSTART_MAX_RTT_THRESH);
                if current >= last + thresh {
                    self.css_baseline = Some(current);
                    self.css_rounds = 0;
                }
            }
            // The delay increase was spurious: back to slow start.
            Some(baseline) if current < baseline => self.css_baseline = None,
            Some(_) => {}
        }
    }

    /// An ACK of `acked` bytes in slow start with `flight` bytes outstanding before it:
    /// returns the window growth (of the slow-start growth `growth`) and whether slow start
    /// ends now (after the CSS rounds).
    fn on_ack(&mut self, acked: usize, flight: usize, growth: usize) -> (usize, bool) {
        if self.disabled {
            return (growth, false);
        }
        self.acked_total = self.acked_total.saturating_add(acked as u64);
        let mut done = false;
        if self.acked_total >= self.window_end {
            // A new round.
            self.window_end = self.acked_total + flight.saturating_sub(acked) as u64;
            self.last_round_min_rtt = self.current_round_min_rtt.take();
            self.rtt_samples = 0;
            if self.css_baseline.is_some() {
                self.css_rounds += 1;
                done = self.css_rounds >= HYSTART_CSS_ROUNDS;
            }
        }
        if self.css_baseline.is_some() {
            (growth / HYSTART_CSS_GROWTH_DIVISOR, done)
        } else {
            (growth, false)
        }
    }

    /// Whether conservative slow start is running.
    fn in_css(&self) -> bool {
        !self.disabled && self.css_baseline.is_some()
    }
}

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
    hystart: HyStart,
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
            hystart: HyStart::default(),
        }
    }

    /// Whether HyStart++'s conservative slow start is running.
    pub fn in_conservative_slow_start(&self) -> bool {
        self.hystart.in_css() && (self.cwnd as usize) < self.ssthresh
    }

    /// A congestion event (RFC 9438 §4.6, §4.7 fast convergence).
    fn reduce(&mut self, mss: usize) {
        self.hystart.disabled = true;
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

    fn on_rtt_sample(&mut self, rtt: Duration) {
        if (self.cwnd as usize) < self.ssthresh {
            self.hystart.on_rtt_sample(rtt);
        }
    }

    fn on_ack(&mut self, now: Instant, acked: usize, flight: usize, mss: usize) {
        let seg = mss as f64;
        if (self.cwnd as usize) < self.ssthresh {
            // Byte counting (RFC 3465 §2.2) with RFC 9406's L, not past ssthresh (RFC 5681 §3.1),
            // a quarter of it in HyStart++'s conservative slow start.
            let (growth, done) =
                self.hystart
                    .on_ack(acked, flight, acked.min(CUBIC_SLOW_START_L * mss));
            let grown = self.cwnd + growth as f64;
            self.cwnd = grown.min(self.ssthresh as f64);
            if done {
                // RFC 9406 §4.3: after CSS_ROUNDS, congestion avoidance from this window.
                self.ssthresh = (self.cwnd as usize).max(2 * mss);
                self.hystart.disabled = true;
            }
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

    fn on_recovery_end(&mut self, flight: Option<usize>, mss: usize) {
        self.cwnd = super::end_of_recovery_window(self.ssthresh, flight, mss) as f64;
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
        c.on_recovery_end(Some(70 * mss), mss);
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

    /// A window-limited sender on a path of `rtt_ms`: one round acknowledges (two segments
    /// per ACK, each ACK with an RTT sample) what was in flight when it began, and the sender
    /// fills the window after each ACK. Returns the window's growth over the round.
    fn round(c: &mut Cubic, outstanding: &mut usize, rtt_ms: u64, mss: usize) -> usize {
        let start = c.window();
        let mut to_ack = *outstanding;
        while to_ack > 0 {
            let n = (2 * mss).min(to_ack);
            c.on_rtt_sample(Duration::from_millis(rtt_ms));
            c.on_ack(Instant::now(), n, *outstanding, mss);
            to_ack -= n;
            *outstanding = (*outstanding - n).max(c.window());
        }
        c.window() - start
    }

    #[test]
    fn hystart_rtt_increase_enters_conservative_slow_start_then_avoidance() {
        let mss = 1_000;
        let mut c = Cubic::new(10 * mss);
        let mut flight = c.window();
        // Rounds at 20 ms: slow start doubles the window each round.
        for _ in 0..3 {
            let w = c.window();
            assert_eq!(round(&mut c, &mut flight, 20, mss), w);
        }
        // 22 ms is below 20 + max(20/8, 4) ms: still slow start.
        let w = c.window();
        assert_eq!(round(&mut c, &mut flight, 22, mss), w);
        assert!(!c.in_conservative_slow_start());
        // The RTT climbs to 30 ms, ≥ 22 + 4 ms: the first HyStart++ round whose eight samples
        // are all 30 ms switches to CSS (its rounds end at SND.NXT as sent when the previous
        // one ended, so they straddle the rounds of this loop by an ACK or two).
        round(&mut c, &mut flight, 30, mss);
        round(&mut c, &mut flight, 30, mss);
        assert!(c.in_conservative_slow_start());
        // A whole CSS round grows the window by a quarter (± the ACK at the round's edge).
        let w = c.window();
        let grown = round(&mut c, &mut flight, 30, mss);
        assert!(grown.abs_diff(w / 4) <= 2 * mss, "grew {grown} of {w}");
        // After five CSS rounds: congestion avoidance from the window reached.
        for _ in 0..HYSTART_CSS_ROUNDS {
            round(&mut c, &mut flight, 30, mss);
        }
        assert!(!c.in_conservative_slow_start());
        assert!(c.ssthresh() < usize::MAX, "slow start is over");
        assert!(c.window() >= c.ssthresh());
        // Congestion avoidance: a round grows the window by far less than CSS's quarter.
        let w = c.window();
        assert!(round(&mut c, &mut flight, 30, mss) < w / 16);
    }

    #[test]
    fn hystart_spurious_increase_resumes_slow_start() {
        let mss = 1_000;
        let mut c = Cubic::new(10 * mss);
        let mut flight = c.window();
        round(&mut c, &mut flight, 20, mss);
        round(&mut c, &mut flight, 20, mss);
        round(&mut c, &mut flight, 40, mss);
        round(&mut c, &mut flight, 40, mss);
        assert!(c.in_conservative_slow_start());
        // Back at 20 ms, below the CSS baseline of 40 ms: slow start again.
        round(&mut c, &mut flight, 20, mss);
        round(&mut c, &mut flight, 20, mss);
        assert!(!c.in_conservative_slow_start());
        let w = c.window();
        assert_eq!(round(&mut c, &mut flight, 20, mss), w, "doubling again");
        assert_eq!(c.ssthresh(), usize::MAX);
    }

    #[test]
    fn hystart_only_in_the_initial_slow_start() {
        let mss = 1_000;
        let mut c = Cubic::new(10 * mss);
        let mut flight = c.window();
        round(&mut c, &mut flight, 20, mss);
        c.on_rto(c.window(), mss);
        // After a timeout, slow start up to ssthresh ignores the RTT.
        let mut flight = c.window();
        round(&mut c, &mut flight, 20, mss);
        round(&mut c, &mut flight, 60, mss);
        round(&mut c, &mut flight, 60, mss);
        assert!(!c.in_conservative_slow_start());
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
