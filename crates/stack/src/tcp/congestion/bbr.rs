//! BBR congestion control, version 1 (draft-cardwell-iccrg-bbr-congestion-control-00, as Linux
//! `net/ipv4/tcp_bbr.c`): instead of reading loss as congestion, the sender keeps a model of the
//! path — the bottleneck bandwidth (a windowed maximum of delivery-rate samples over ten
//! rounds) and the round-trip propagation time (a windowed minimum over ten seconds) — and
//! paces at `pacing_gain × BtlBw` with at most `cwnd_gain × BDP` in flight.
//!
//! States: STARTUP (gain 2/ln 2 until the bandwidth stops growing by 25 % for three rounds),
//! DRAIN (empties the queue STARTUP built), PROBE_BW (eight-phase gain cycle 1.25, 0.75, 1 × 6)
//! and PROBE_RTT (four segments in flight for 200 ms when the minimum RTT went ten seconds
//! without a new low). Loss only shapes the window during recovery: packet conservation for the
//! first round, the window from before recovery restored afterwards.

use super::Controller;
use crate::tcp::rate::RateSample;
use std::time::{Duration, Instant};

/// STARTUP's pacing and window gain `2/ln 2` (the smallest gain that doubles the sending rate
/// every round).
pub const BBR_HIGH_GAIN: f64 = 2.885;
/// DRAIN's pacing gain: the inverse of STARTUP's.
pub const BBR_DRAIN_GAIN: f64 = 1.0 / BBR_HIGH_GAIN;
/// PROBE_BW's window gain (room for delayed and aggregated ACKs).
pub const BBR_CWND_GAIN: f64 = 2.0;
/// PROBE_BW's pacing-gain cycle, one phase per minimum RTT.
pub const BBR_PACING_GAINS: [f64; 8] = [1.25, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
/// Rounds the bottleneck-bandwidth maximum filter spans.
pub const BBR_BW_ROUNDS: u64 = 10;
/// How long a minimum RTT stays valid without a new low.
pub const BBR_MIN_RTT_WINDOW: Duration = Duration::from_secs(10);
/// How long PROBE_RTT holds the window at its minimum.
pub const BBR_PROBE_RTT_TIME: Duration = Duration::from_millis(200);
/// Bandwidth growth that still counts as "growing" in STARTUP.
pub const BBR_FULL_BW_THRESH: f64 = 1.25;
/// Rounds without such growth after which the pipe is deemed full.
pub const BBR_FULL_BW_ROUNDS: u32 = 3;
/// Smallest window, in segments (PROBE_RTT's window).
pub const BBR_MIN_CWND_SEGMENTS: usize = 4;
/// Pacing runs this much below the estimated bandwidth, to drain queues slowly (Linux: 1 %).
pub const BBR_PACING_MARGIN: f64 = 0.01;

/// The state machine's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BbrMode {
    /// Exponential search for the bottleneck bandwidth.
    Startup,
    /// Drains the queue STARTUP created.
    Drain,
    /// Steady state: cycles the pacing gain around 1 to probe for more bandwidth.
    ProbeBw,
    /// Briefly minimal in flight, to measure the propagation RTT again.
    ProbeRtt,
}

/// BBR state; windows in bytes, bandwidth in bytes per second.
#[derive(Debug, Clone)]
pub struct Bbr {
    mode: BbrMode,
    cwnd: usize,
    initial_window: usize,
    pacing_rate: f64,
    pacing_gain: f64,
    cwnd_gain: f64,
    /// Per-round bandwidth maxima of the last [`BBR_BW_ROUNDS`] rounds: (round, bytes/s).
    bw_rounds: [(u64, f64); BBR_BW_ROUNDS as usize],
    min_rtt: Option<Duration>,
    min_rtt_stamp: Option<Instant>,
    srtt: Option<Duration>,
    round_count: u64,
    next_round_delivered: u64,
    round_start: bool,
    full_bw: f64,
    full_bw_count: u32,
    full_bw_reached: bool,
    cycle_index: usize,
    cycle_stamp: Option<Instant>,
    probe_rtt_done: Option<Instant>,
    probe_rtt_round_done: bool,
    prior_cwnd: usize,
    idle_restart: bool,
    /// Fast recovery started; the next delivery sets packet conservation up.
    recovery_entered: bool,
    packet_conservation: bool,
    in_recovery: bool,
}

impl Bbr {
    /// STARTUP with `initial_window` bytes.
    pub fn new(initial_window: usize) -> Bbr {
        Bbr {
            mode: BbrMode::Startup,
            cwnd: initial_window,
            initial_window,
            pacing_rate: 0.0,
            pacing_gain: BBR_HIGH_GAIN,
            cwnd_gain: BBR_HIGH_GAIN,
            bw_rounds: [(0, 0.0); BBR_BW_ROUNDS as usize],
            min_rtt: None,
            min_rtt_stamp: None,
            srtt: None,
            round_count: 0,
            next_round_delivered: 0,
            round_start: false,
            full_bw: 0.0,
            full_bw_count: 0,
            full_bw_reached: false,
            cycle_index: 0,
            cycle_stamp: None,
            probe_rtt_done: None,
            probe_rtt_round_done: false,
            prior_cwnd: 0,
            idle_restart: false,
            recovery_entered: false,
            packet_conservation: false,
            in_recovery: false,
        }
    }

    /// The current mode.
    pub fn mode(&self) -> BbrMode {
        self.mode
    }

    /// The bottleneck-bandwidth estimate (bytes per second).
    /// The window ends at the newest sampled round, not the current one: rounds without a
    /// valid sample (all inflated by ACK compression, say) keep the estimate.
    pub fn btl_bw(&self) -> f64 {
        let newest = self
            .bw_rounds
            .iter()
            .map(|&(round, _)| round)
            .max()
            .unwrap_or(0);
        let oldest = newest.saturating_sub(BBR_BW_ROUNDS - 1);
        self.bw_rounds
            .iter()
            .filter(|&&(round, _)| round >= oldest)
            .map(|&(_, bw)| bw)
            .fold(0.0, f64::max)
    }

    /// The propagation-RTT estimate.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt
    }

    /// Whether STARTUP found the bottleneck bandwidth.
    pub fn full_bw_reached(&self) -> bool {
        self.full_bw_reached
    }

    /// `gain × BtlBw × RTprop` in bytes plus a quantization budget; the initial window while
    /// there is no estimate yet.
    fn inflight(&self, gain: f64, mss: usize) -> usize {
        let (Some(rtt), bw) = (self.min_rtt, self.btl_bw()) else {
            return self.initial_window;
        };
        if bw <= 0.0 {
            return self.initial_window;
        }
        let bdp = (gain * bw * rtt.as_secs_f64()) as usize;
        let mut target = bdp + 3 * mss;
        if self.mode == BbrMode::ProbeBw && self.cycle_index == 0 {
            // Room for the extra segments the 1.25 phase puts in flight.
            target += 2 * mss;
        }
        target
    }

    fn save_cwnd(&mut self) {
        self.prior_cwnd = if !self.in_recovery && self.mode != BbrMode::ProbeRtt {
            self.cwnd
        } else {
            self.prior_cwnd.max(self.cwnd)
        };
    }

    fn update_bw(&mut self, rs: &RateSample) {
        self.round_start = false;
        if rs.prior_delivered >= self.next_round_delivered {
            self.next_round_delivered = rs.total_delivered;
            self.round_count += 1;
            self.round_start = true;
            self.packet_conservation = false;
        }
        // A sample over less than the propagation RTT is inflated by ACK compression.
        if self.min_rtt.is_some_and(|m| rs.interval < m) {
            return;
        }
        let Some(bw) = rs.rate() else {
            return;
        };
        if !rs.app_limited || bw >= self.btl_bw() {
            let slot = (self.round_count % BBR_BW_ROUNDS) as usize;
            let entry = &mut self.bw_rounds[slot];
            if entry.0 != self.round_count {
                *entry = (self.round_count, bw);
            } else if bw > entry.1 {
                entry.1 = bw;
            }
        }
    }

    fn advance_cycle(&mut self, now: Instant) {
        self.cycle_index = (self.cycle_index + 1) % BBR_PACING_GAINS.len();
        self.cycle_stamp = Some(now);
    }

    fn update_cycle_phase(&mut self, now: Instant, inflight: usize, lost: bool, mss: usize) {
        if self.mode != BbrMode::ProbeBw {
            return;
        }
        let full_length = match (self.cycle_stamp, self.min_rtt) {
            (Some(stamp), Some(rtt)) => now.saturating_duration_since(stamp) > rtt,
            _ => true,
        };
        let gain = self.pacing_gain;
        let next = if gain > 1.0 {
            full_length && (lost || inflight >= self.inflight(gain, mss))
        } else if gain < 1.0 {
            full_length || inflight <= self.inflight(1.0, mss)
        } else {
            full_length
        };
        if next {
            self.advance_cycle(now);
        }
    }

    fn check_full_bw(&mut self, rs: &RateSample) {
        if self.full_bw_reached || !self.round_start || rs.app_limited {
            return;
        }
        let bw = self.btl_bw();
        if bw >= self.full_bw * BBR_FULL_BW_THRESH {
            self.full_bw = bw;
            self.full_bw_count = 0;
            return;
        }
        self.full_bw_count += 1;
        self.full_bw_reached = self.full_bw_count >= BBR_FULL_BW_ROUNDS;
    }

    fn enter_probe_bw(&mut self, now: Instant, rs: &RateSample, mss: usize) {
        self.mode = BbrMode::ProbeBw;
        // Start in a random phase other than the draining 0.75 one (Linux does too), so that
        // flows sharing a bottleneck do not probe in lockstep; the delivery count stands in
        // for a random number.
        let r = (rs.total_delivered / mss.max(1) as u64) % (BBR_PACING_GAINS.len() as u64 - 1);
        self.cycle_index = (BBR_PACING_GAINS.len() - 1 - r as usize) % BBR_PACING_GAINS.len();
        self.advance_cycle(now);
    }

    fn check_drain(&mut self, now: Instant, rs: &RateSample, inflight: usize, mss: usize) {
        if self.mode == BbrMode::Startup && self.full_bw_reached {
            self.mode = BbrMode::Drain;
        }
        if self.mode == BbrMode::Drain && inflight <= self.inflight(1.0, mss) {
            self.enter_probe_bw(now, rs, mss);
        }
    }

    fn update_min_rtt(&mut self, now: Instant, rs: &RateSample, inflight: usize, mss: usize) {
        let expired = self
            .min_rtt_stamp
            .is_some_and(|t| now.saturating_duration_since(t) > BBR_MIN_RTT_WINDOW);
        if let Some(rtt) = rs.rtt {
            if self.min_rtt.is_none_or(|m| rtt < m) || expired {
                self.min_rtt = Some(rtt.max(Duration::from_micros(1)));
                self.min_rtt_stamp = Some(now);
            }
        }
        if expired && !self.idle_restart && self.mode != BbrMode::ProbeRtt {
            self.mode = BbrMode::ProbeRtt;
            self.save_cwnd();
            self.probe_rtt_done = None;
        }
        if self.mode == BbrMode::ProbeRtt {
            let min_cwnd = BBR_MIN_CWND_SEGMENTS * mss;
            match self.probe_rtt_done {
                None if inflight <= min_cwnd => {
                    self.probe_rtt_done = Some(now + BBR_PROBE_RTT_TIME);
                    self.probe_rtt_round_done = false;
                    self.next_round_delivered = rs.total_delivered;
                }
                None => {}
                Some(done) => {
                    if self.round_start {
                        self.probe_rtt_round_done = true;
                    }
                    if self.probe_rtt_round_done && now >= done {
                        self.min_rtt_stamp = Some(now);
                        self.cwnd = self.cwnd.max(self.prior_cwnd);
                        if self.full_bw_reached {
                            self.enter_probe_bw(now, rs, mss);
                        } else {
                            self.mode = BbrMode::Startup;
                        }
                    }
                }
            }
        }
        if rs.delivered > 0 {
            self.idle_restart = false;
        }
    }

    fn update_gains(&mut self) {
        (self.pacing_gain, self.cwnd_gain) = match self.mode {
            BbrMode::Startup => (BBR_HIGH_GAIN, BBR_HIGH_GAIN),
            BbrMode::Drain => (BBR_DRAIN_GAIN, BBR_HIGH_GAIN),
            BbrMode::ProbeBw => (BBR_PACING_GAINS[self.cycle_index], BBR_CWND_GAIN),
            BbrMode::ProbeRtt => (1.0, 1.0),
        };
    }

    fn set_pacing_rate(&mut self) {
        let bw = self.btl_bw();
        if bw <= 0.0 {
            return;
        }
        let rate = self.pacing_gain * bw * (1.0 - BBR_PACING_MARGIN);
        if self.full_bw_reached || rate > self.pacing_rate {
            self.pacing_rate = rate;
        }
    }

    fn set_cwnd(&mut self, rs: &RateSample, inflight: usize, mss: usize) {
        let acked = rs.newly_delivered as usize;
        if acked == 0 {
            return;
        }
        let mut cwnd = self.cwnd;
        if self.recovery_entered {
            // First round of recovery: packet conservation, unused window dropped.
            self.recovery_entered = false;
            self.packet_conservation = true;
            self.next_round_delivered = rs.total_delivered;
            cwnd = inflight + acked;
        }
        if self.packet_conservation {
            cwnd = cwnd.max(inflight + acked);
        } else {
            let target = self.inflight(self.cwnd_gain, mss);
            if self.full_bw_reached {
                cwnd = (cwnd + acked).min(target);
            } else if cwnd < target || rs.total_delivered < self.initial_window as u64 {
                cwnd += acked;
            }
        }
        let min_cwnd = BBR_MIN_CWND_SEGMENTS * mss;
        cwnd = cwnd.max(min_cwnd);
        if self.mode == BbrMode::ProbeRtt {
            cwnd = cwnd.min(min_cwnd);
        }
        self.cwnd = cwnd;
    }
}

impl Controller for Bbr {
    fn window(&self) -> usize {
        self.cwnd
    }

    /// BBR keeps no slow-start threshold; loss recovery sends within the window itself.
    fn ssthresh(&self) -> usize {
        self.cwnd
    }

    fn on_rtt(&mut self, srtt: Duration) {
        self.srtt = Some(srtt);
        if self.pacing_rate == 0.0 || self.btl_bw() <= 0.0 {
            // Before the first bandwidth sample: the initial window per smoothed RTT, at
            // STARTUP's gain.
            let rtt = srtt.as_secs_f64().max(1e-3);
            self.pacing_rate = BBR_HIGH_GAIN * self.cwnd as f64 / rtt;
        }
    }

    fn on_ack(&mut self, _now: Instant, _acked: usize, _flight: usize, _mss: usize) {}

    fn on_fast_retransmit(&mut self, _now: Instant, _flight: usize, _mss: usize) {
        self.save_cwnd();
        self.in_recovery = true;
        self.recovery_entered = true;
    }

    fn on_dup_ack(&mut self, _mss: usize) {}

    fn on_partial_ack(&mut self, _acked: usize, _mss: usize) {}

    fn on_recovery_end(&mut self, _flight: usize, _mss: usize) {
        self.in_recovery = false;
        self.recovery_entered = false;
        self.packet_conservation = false;
        self.cwnd = self.cwnd.max(self.prior_cwnd);
    }

    fn on_rto(&mut self, _flight: usize, mss: usize) {
        self.save_cwnd();
        self.in_recovery = true;
        self.recovery_entered = false;
        self.packet_conservation = false;
        self.cwnd = mss;
        // Treat the timeout as the end of a round; STARTUP's growth check starts over.
        self.full_bw = 0.0;
        self.round_start = true;
    }

    fn on_loss_recovered(&mut self) {
        self.on_recovery_end(0, 0);
    }

    fn on_idle_restart(&mut self, _restart_window: usize) {
        // The model still holds: no window cut, pace at the estimated bandwidth (gain 1).
        self.idle_restart = true;
        if self.mode == BbrMode::ProbeBw {
            let bw = self.btl_bw();
            if bw > 0.0 {
                self.pacing_rate = bw * (1.0 - BBR_PACING_MARGIN);
            }
        }
    }

    fn wants_rate_samples(&self) -> bool {
        true
    }

    fn on_delivery(
        &mut self,
        now: Instant,
        rs: &RateSample,
        inflight: usize,
        lost: bool,
        mss: usize,
    ) {
        self.update_bw(rs);
        self.update_cycle_phase(now, inflight, lost, mss);
        self.check_full_bw(rs);
        self.check_drain(now, rs, inflight, mss);
        self.update_min_rtt(now, rs, inflight, mss);
        self.update_gains();
        self.set_pacing_rate();
        self.set_cwnd(rs, inflight, mss);
    }

    fn pacing_rate(&self) -> Option<f64> {
        (self.pacing_rate > 0.0).then_some(self.pacing_rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;
    const RTT: Duration = Duration::from_millis(10);

    /// A sample of `delivered` bytes over `interval`, ending `newly` bytes of delivery at
    /// `total` (so `prior_delivered = total − delivered`).
    fn sample(total: u64, delivered: u64, newly: u64, interval: Duration) -> RateSample {
        RateSample {
            delivered,
            interval,
            prior_delivered: total - delivered,
            total_delivered: total,
            newly_delivered: newly,
            app_limited: false,
            rtt: Some(RTT),
        }
    }

    /// A path the tests drive BBR over: the clock and the delivery count.
    struct Path {
        now: Instant,
        delivered: u64,
    }

    impl Path {
        fn new() -> Path {
            Path {
                now: Instant::now(),
                delivered: 0,
            }
        }

        /// One round trip: a single ACK, one RTT after the last round, delivers `bytes`, all
        /// sent after the previous round's ACK (a new round starts), over one RTT.
        fn round(&mut self, b: &mut Bbr, bytes: u64, inflight: usize) -> RateSample {
            self.now += RTT;
            self.delivered += bytes;
            let rs = sample(self.delivered, bytes, bytes, RTT);
            b.on_delivery(self.now, &rs, inflight, false, MSS);
            rs
        }

        /// A steady flow at `bw` bytes/s: an ACK `dt` after the last one delivers `acked`
        /// bytes; its sample spans one RTT (the newest delivered segment left one RTT ago).
        fn ack(&mut self, b: &mut Bbr, acked: u64, dt: Duration, bw: f64, inflight: usize) {
            self.now += dt;
            self.delivered += acked;
            let in_rtt = ((bw * RTT.as_secs_f64()) as u64).min(self.delivered);
            let rs = sample(self.delivered, in_rtt, acked, RTT);
            b.on_delivery(self.now, &rs, inflight, false, MSS);
        }
    }

    /// `gain × BtlBw × RTprop` in bytes, as the controller computes it.
    fn bdp(b: &Bbr, gain: f64) -> usize {
        (gain * b.btl_bw() * b.min_rtt().unwrap().as_secs_f64()) as usize
    }

    fn assert_close(got: f64, want: f64) {
        assert!((got - want).abs() <= want * 1e-9, "{got} ≠ {want}");
    }

    /// STARTUP until the pipe is full at 2 MB/s (BDP 20 000 bytes), left in DRAIN: five
    /// rounds, the last three without 25 % growth.
    fn bbr_in_drain(path: &mut Path) -> Bbr {
        let mut b = Bbr::new(10 * MSS);
        path.round(&mut b, 10_000, 10_000);
        for _ in 0..4 {
            path.round(&mut b, 20_000, 50_000);
        }
        assert_eq!(b.mode(), BbrMode::Drain);
        b
    }

    /// PROBE_BW at 2 MB/s over 10 ms (BDP 20 000 bytes).
    fn bbr_in_probe_bw(path: &mut Path) -> Bbr {
        let mut b = bbr_in_drain(path);
        path.ack(&mut b, 1_000, Duration::from_millis(1), 2e6, 20_000);
        assert_eq!(b.mode(), BbrMode::ProbeBw);
        b
    }

    #[test]
    fn startup_grows_cwnd_by_delivered_bytes_and_paces_at_high_gain() {
        let mut path = Path::new();
        let mut b = Bbr::new(10 * MSS);
        assert_eq!(b.mode(), BbrMode::Startup);
        assert_eq!(b.pacing_rate(), None, "no rate before an RTT or a sample");
        b.on_rtt(RTT);
        // Before a bandwidth sample: the initial window per smoothed RTT, at STARTUP's gain.
        assert_close(b.pacing_rate().unwrap(), BBR_HIGH_GAIN * 10_000.0 / 0.01);

        path.round(&mut b, 10_000, 10_000);
        assert_eq!(b.min_rtt(), Some(RTT));
        assert_close(b.btl_bw(), 1e6);
        assert_eq!(
            b.window(),
            20_000,
            "the initial window plus the 10 000 delivered"
        );
        // STARTUP never lowers the pacing rate (Linux neither): 1 MB/s × 2.885 × 0.99 is
        // below the initial rate, which stays.
        assert_close(b.pacing_rate().unwrap(), BBR_HIGH_GAIN * 10_000.0 / 0.01);

        path.round(&mut b, 20_000, 20_000);
        assert_close(b.btl_bw(), 2e6);
        assert_eq!(b.window(), 40_000);
        assert_close(
            b.pacing_rate().unwrap(),
            BBR_HIGH_GAIN * 2e6 * (1.0 - BBR_PACING_MARGIN),
        );
        assert_eq!(b.mode(), BbrMode::Startup);
        assert!(!b.full_bw_reached());
    }

    #[test]
    fn three_rounds_without_growth_drain_then_probe_bw() {
        let mut path = Path::new();
        let mut b = Bbr::new(10 * MSS);
        path.round(&mut b, 10_000, 10_000);
        path.round(&mut b, 20_000, 50_000); // 2 MB/s: +100 %
        path.round(&mut b, 24_000, 50_000); // 2.4 MB/s: +20 %, not growth
        path.round(&mut b, 20_000, 50_000);
        assert_eq!(b.mode(), BbrMode::Startup, "two rounds without growth");
        assert!(!b.full_bw_reached());
        path.round(&mut b, 20_000, 50_000);
        assert!(b.full_bw_reached(), "three rounds without 25 % growth");
        // 50 000 in flight is more than one BDP (2.4 MB/s × 10 ms + 3 MSS): DRAIN.
        assert_eq!(b.mode(), BbrMode::Drain);
        let bw = b.btl_bw();
        assert_close(bw, 2.4e6);
        assert_close(
            b.pacing_rate().unwrap(),
            BBR_DRAIN_GAIN * bw * (1.0 - BBR_PACING_MARGIN),
        );
        // DRAIN keeps STARTUP's window gain.
        assert_eq!(b.window(), bdp(&b, BBR_HIGH_GAIN) + 3 * MSS);
        let one_bdp = bdp(&b, 1.0);
        assert!((23_999..=24_000).contains(&one_bdp));

        path.ack(
            &mut b,
            1_000,
            Duration::from_millis(1),
            bw,
            one_bdp + 3 * MSS + 1,
        );
        assert_eq!(b.mode(), BbrMode::Drain, "in flight still above the BDP");
        path.ack(
            &mut b,
            1_000,
            Duration::from_millis(1),
            bw,
            one_bdp + 3 * MSS,
        );
        assert_eq!(
            b.mode(),
            BbrMode::ProbeBw,
            "in flight ≤ BDP (+ quantization)"
        );
        assert_ne!(
            BBR_PACING_GAINS[b.cycle_index], 0.75,
            "PROBE_BW does not start in the draining phase"
        );
        // The window shrinks to cwnd_gain × BDP plus the quantization budget (2 more
        // segments in the 1.25 phase).
        let extra = if b.cycle_index == 0 { 2 * MSS } else { 0 };
        let cap = bdp(&b, BBR_CWND_GAIN);
        assert_eq!(b.window(), cap + 3 * MSS + extra);
        for _ in 0..50 {
            path.ack(&mut b, 1_000, Duration::from_micros(100), bw, one_bdp);
            assert!(b.window() <= cap + 5 * MSS, "cwnd {}", b.window());
        }
    }

    #[test]
    fn probe_bw_advances_the_gain_cycle_once_per_min_rtt() {
        let mut path = Path::new();
        let mut b = bbr_in_probe_bw(&mut path);
        let bw = b.btl_bw();
        // In flight well above any target: every phase (1.25 included) lasts exactly until
        // more than one min RTT has passed.
        let inflight = 100_000;
        let mut phase = b.cycle_index;
        let mut since = path.now;
        let mut changes = 0;
        for _ in 0..64 {
            path.ack(&mut b, 1_000, Duration::from_millis(3), bw, inflight);
            if b.cycle_index != phase {
                assert_eq!(b.cycle_index, (phase + 1) % BBR_PACING_GAINS.len());
                assert_eq!(
                    path.now - since,
                    Duration::from_millis(12),
                    "the first ACK more than 10 ms into the phase"
                );
                phase = b.cycle_index;
                since = path.now;
                changes += 1;
            }
            assert_close(
                b.pacing_rate().unwrap(),
                BBR_PACING_GAINS[phase] * bw * (1.0 - BBR_PACING_MARGIN),
            );
        }
        assert_eq!(changes, 16, "64 ACKs 3 ms apart: one phase per 12 ms");
        assert_eq!(b.mode(), BbrMode::ProbeBw);
    }

    #[test]
    fn fast_recovery_conserves_packets_then_restores_cwnd() {
        let mut path = Path::new();
        let mut b = Bbr::new(10 * MSS);
        path.round(&mut b, 10_000, 10_000);
        path.round(&mut b, 20_000, 20_000);
        let prior = b.window();
        assert_eq!(prior, 40_000);

        b.on_fast_retransmit(path.now, 40_000, MSS);
        assert_eq!(
            b.window(),
            prior,
            "nothing changes before the next delivery"
        );
        // First recovery round: cwnd = what is in flight + what this ACK delivered.
        // (The samples' newest segments left before recovery began: 5 000 bytes ago.)
        path.now += Duration::from_millis(1);
        path.delivered += 1_000;
        let rs = sample(path.delivered, 5_000, 1_000, RTT);
        b.on_delivery(path.now, &rs, 15_000, true, MSS);
        assert_eq!(b.window(), 16_000);
        // Still the first round: the window only grows to keep inflight + acked.
        path.delivered += 1_000;
        let rs = sample(path.delivered, 5_000, 1_000, RTT);
        b.on_delivery(path.now, &rs, 12_000, false, MSS);
        assert_eq!(b.window(), 16_000, "never below the conserved window");
        path.delivered += 2_000;
        let rs = sample(path.delivered, 5_000, 2_000, RTT);
        b.on_delivery(path.now, &rs, 15_000, false, MSS);
        assert_eq!(b.window(), 17_000, "inflight + acked");
        // An ACK for data sent after recovery began ends the round: STARTUP growth again.
        path.delivered += 1_000;
        let rs = sample(path.delivered, 4_000, 1_000, RTT);
        b.on_delivery(path.now, &rs, 15_000, false, MSS);
        assert_eq!(b.window(), 18_000, "cwnd + acked");

        b.on_recovery_end(15_000, MSS);
        assert_eq!(b.window(), prior, "the window from before recovery");
    }

    #[test]
    fn rto_cuts_to_one_segment_and_loss_recovery_restores() {
        let mut path = Path::new();
        let mut b = Bbr::new(10 * MSS);
        path.round(&mut b, 10_000, 10_000);
        let prior = b.window();
        assert_eq!(prior, 20_000);
        b.on_rto(prior, MSS);
        assert_eq!(b.window(), MSS);
        b.on_loss_recovered();
        assert_eq!(b.window(), prior);
    }

    #[test]
    fn min_rtt_expiry_enters_probe_rtt_until_200_ms_and_a_round() {
        let mut path = Path::new();
        let mut b = bbr_in_probe_bw(&mut path);
        let bw = b.btl_bw();
        let prior = b.window();
        let set_at = path.now - Duration::from_millis(41); // the first round's ACK
        assert_eq!(b.min_rtt(), Some(RTT));
        // RTT samples no lower than the minimum do not refresh it: ten seconds later it has
        // expired. At exactly ten seconds it has not.
        path.now = set_at + BBR_MIN_RTT_WINDOW - Duration::from_millis(1);
        path.ack(&mut b, 1_000, Duration::from_millis(1), bw, 20_000);
        assert_eq!(b.mode(), BbrMode::ProbeBw);
        path.ack(&mut b, 1_000, Duration::from_millis(1), bw, 20_000);
        assert_eq!(b.mode(), BbrMode::ProbeRtt);
        assert_eq!(b.window(), BBR_MIN_CWND_SEGMENTS * MSS);
        assert_close(b.pacing_rate().unwrap(), bw * (1.0 - BBR_PACING_MARGIN));

        // The 200 ms start once in flight is down to four segments.
        path.ack(&mut b, 1_000, Duration::from_millis(5), bw, 4 * MSS);
        let low_at = path.now;
        assert_eq!(b.probe_rtt_done, Some(low_at + BBR_PROBE_RTT_TIME));
        // A round passes (the ACK after one BDP more is delivered), but not 200 ms.
        for _ in 0..39 {
            path.ack(&mut b, 1_000, Duration::from_millis(5), bw, 4 * MSS);
            assert_eq!(b.mode(), BbrMode::ProbeRtt, "at {:?}", path.now - low_at);
            assert_eq!(b.window(), BBR_MIN_CWND_SEGMENTS * MSS);
        }
        assert!(b.probe_rtt_round_done);
        path.ack(&mut b, 1_000, Duration::from_millis(5), bw, 4 * MSS);
        assert_eq!(path.now - low_at, BBR_PROBE_RTT_TIME);
        assert_eq!(b.mode(), BbrMode::ProbeBw, "back to probing bandwidth");
        assert!(b.window() >= prior.min(2 * 20_000 + 3 * MSS));
        assert_eq!(
            b.min_rtt_stamp,
            Some(path.now),
            "the minimum is fresh again"
        );
    }

    #[test]
    fn probe_rtt_waits_for_a_round_after_200_ms() {
        let mut path = Path::new();
        let mut b = bbr_in_probe_bw(&mut path);
        path.now += BBR_MIN_RTT_WINDOW;
        path.ack(&mut b, 1_000, Duration::from_millis(1), 2e6, 4 * MSS);
        assert_eq!(b.mode(), BbrMode::ProbeRtt);
        let next_round = path.delivered;
        // 300 ms of ACKs all for data sent before PROBE_RTT's low point: no round ends.
        for _ in 0..30 {
            path.now += Duration::from_millis(10);
            path.delivered += 100;
            let rs = sample(path.delivered, path.delivered - next_round + 1, 100, RTT);
            b.on_delivery(path.now, &rs, 4 * MSS, false, MSS);
            assert_eq!(b.mode(), BbrMode::ProbeRtt);
        }
        // The first ACK for data sent since: the round is over, and so is PROBE_RTT.
        path.now += Duration::from_millis(1);
        path.delivered += 1_000;
        let rs = sample(path.delivered, path.delivered - next_round, 1_000, RTT);
        b.on_delivery(path.now, &rs, 4 * MSS, false, MSS);
        assert_eq!(b.mode(), BbrMode::ProbeBw);
    }

    #[test]
    fn app_limited_samples_below_the_estimate_do_not_lower_it() {
        let mut path = Path::new();
        let mut b = Bbr::new(10 * MSS);
        path.round(&mut b, 20_000, 20_000);
        assert_close(b.btl_bw(), 2e6);
        // Twelve rounds (more than the filter's ten) of app-limited 0.5 MB/s samples.
        for _ in 0..12 {
            path.now += RTT;
            path.delivered += 5_000;
            let rs = RateSample {
                app_limited: true,
                ..sample(path.delivered, 5_000, 5_000, RTT)
            };
            b.on_delivery(path.now, &rs, 5_000, false, MSS);
            assert_close(b.btl_bw(), 2e6);
        }
        // An app-limited sample above the estimate still raises it.
        path.now += RTT;
        path.delivered += 30_000;
        let rs = RateSample {
            app_limited: true,
            ..sample(path.delivered, 30_000, 30_000, RTT)
        };
        b.on_delivery(path.now, &rs, 5_000, false, MSS);
        assert_close(b.btl_bw(), 3e6);
        // Samples that are not app-limited replace it once the old maximum ages out.
        for _ in 0..9 {
            path.round(&mut b, 5_000, 5_000);
            assert_close(b.btl_bw(), 3e6);
        }
        path.round(&mut b, 5_000, 5_000);
        assert_close(b.btl_bw(), 5e5);
    }

    #[test]
    fn samples_over_less_than_min_rtt_are_ignored() {
        let mut path = Path::new();
        let mut b = Bbr::new(10 * MSS);
        path.round(&mut b, 20_000, 20_000);
        assert_close(b.btl_bw(), 2e6);
        // ACK compression: 20 000 bytes acknowledged over 1 ms would read as 20 MB/s.
        path.now += RTT;
        path.delivered += 20_000;
        let rs = sample(path.delivered, 20_000, 20_000, Duration::from_millis(1));
        b.on_delivery(path.now, &rs, 20_000, false, MSS);
        assert_close(b.btl_bw(), 2e6);
        // An empty interval gives no rate at all.
        path.delivered += 1_000;
        let rs = sample(path.delivered, 1_000, 1_000, Duration::ZERO);
        b.on_delivery(path.now, &rs, 20_000, false, MSS);
        assert_close(b.btl_bw(), 2e6);
    }

    #[test]
    fn rounds_without_valid_samples_keep_the_estimate() {
        let mut path = Path::new();
        let mut b = Bbr::new(10 * MSS);
        path.round(&mut b, 20_000, 20_000);
        let rounds = b.round_count;
        for _ in 0..2 * BBR_BW_ROUNDS {
            path.now += RTT;
            path.delivered += 20_000;
            let rs = sample(path.delivered, 20_000, 20_000, Duration::from_millis(2));
            b.on_delivery(path.now, &rs, 20_000, false, MSS);
        }
        assert_eq!(b.round_count, rounds + 2 * BBR_BW_ROUNDS, "rounds went by");
        assert_close(b.btl_bw(), 2e6);
        // The next valid sample opens a new ten-round window, which the old maximum is
        // outside of (as Linux's windowed max filter).
        path.round(&mut b, 10_000, 10_000);
        assert_close(b.btl_bw(), 1e6);
    }
}
