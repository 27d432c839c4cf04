//! BBR on synthetic delivery-rate samples: each test drives the model through one behaviour
//! of draft-cardwell-iccrg-bbr-congestion-control-00 (and Linux `tcp_bbr.c`).

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
        retransmitted: false,
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

    b.on_recovery_end(Some(15_000), MSS);
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

/// A timeout cuts the window, not the model: the bandwidth and RTT estimates, the mode and
/// the pacing rate stay (Linux BBR likewise keeps its filters in `TCP_CA_Loss`), so the
/// connection paces at the path's rate again as soon as the window allows.
#[test]
fn rto_keeps_the_model() {
    let mut path = Path::new();
    let mut b = bbr_in_probe_bw(&mut path);
    let (bw, rtt, rate) = (b.btl_bw(), b.min_rtt(), b.pacing_rate());
    assert!(bw > 0.0);
    b.on_rto(b.window(), MSS);
    assert_eq!(b.window(), MSS);
    assert_eq!((b.btl_bw(), b.min_rtt(), b.pacing_rate()), (bw, rtt, rate));
    assert_eq!(b.mode(), BbrMode::ProbeBw);
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

/// Samples whose newest delivered segment was retransmitted do not end rounds: a spurious
/// retransmission's ACK (the first transmission arrived) would otherwise look like data sent
/// a moment ago, end a round per ACK and let STARTUP count "three rounds without growth"
/// within a millisecond.
#[test]
fn samples_from_retransmissions_do_not_end_rounds() {
    let mut path = Path::new();
    let mut b = Bbr::new(10 * MSS);
    b.on_rtt(RTT);
    // Two rounds of 100% growth.
    path.round(&mut b, 10_000, 10_000);
    path.round(&mut b, 20_000, 20_000);
    assert_close(b.btl_bw(), 2e6);
    // Fifty ACKs of retransmitted segments, each "sent" after the previous ACK, with no
    // growth: no round ends, so the pipe is not deemed full.
    for _ in 0..50 {
        path.now += Duration::from_micros(100);
        path.delivered += 1_000;
        let rs = RateSample {
            retransmitted: true,
            rtt: None,
            ..sample(path.delivered, 1_000, 1_000, RTT)
        };
        b.on_delivery(path.now, &rs, 20_000, false, MSS);
    }
    assert!(!b.full_bw_reached());
    assert_eq!(b.mode(), BbrMode::Startup);
    // The same samples from first transmissions end a round each: three without growth fill
    // the pipe.
    for _ in 0..3 {
        path.now += Duration::from_micros(100);
        path.delivered += 1_000;
        let rs = sample(path.delivered, 1_000, 1_000, RTT);
        b.on_delivery(path.now, &rs, 20_000, false, MSS);
    }
    assert!(b.full_bw_reached());
}
