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
        let mut target = bdp.saturating_add(3 * mss);
        if self.mode == BbrMode::ProbeBw && self.cycle_index == 0 {
            // Room for the extra segments the 1.25 phase puts in flight.
            target = target.saturating_add(2 * mss);
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
        // A round ends when data sent after it began is delivered. A retransmitted segment's
        // send state is its last transmission, which a spurious retransmission makes seem
        // only just sent: such samples do not end rounds (they would end one per ACK,
        // and STARTUP would see "three rounds without growth" within a millisecond).
        if rs.prior_delivered >= self.next_round_delivered && !rs.retransmitted {
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
            cwnd = inflight.saturating_add(acked);
        }
        if self.packet_conservation {
            cwnd = cwnd.max(inflight.saturating_add(acked));
        } else {
            let target = self.inflight(self.cwnd_gain, mss);
            if self.full_bw_reached {
                cwnd = cwnd.saturating_add(acked).min(target);
            } else if cwnd < target || rs.total_delivered < self.initial_window as u64 {
                cwnd = cwnd.saturating_add(acked);
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

    fn on_recovery_end(&mut self, _flight: Option<usize>, _mss: usize) {
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
        self.on_recovery_end(None, 0);
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
mod tests;
