//! Congestion control behind one small trait (RFC 5681 family), quinn `congestion/` style.
//!
//! The connection detects loss (duplicate ACKs, partial ACKs, RTO) and keeps the recovery
//! point; a [`Controller`] only turns those events into a congestion window. Each algorithm
//! is one file implementing the trait plus a variant of [`Congestion`]: CUBIC (RFC 9438, the
//! default), NewReno (RFC 5681 + RFC 6582) and BBR v1 (model-based, paced).

mod bbr;
mod cubic;
mod new_reno;

pub use bbr::{Bbr, BbrMode};
pub use cubic::Cubic;
pub use new_reno::NewReno;

use super::config::CongestionAlgorithm;
use super::rate::RateSample;
use std::time::{Duration, Instant};

/// One congestion-control algorithm; all sizes are bytes, `mss` is the sender's segment size.
pub trait Controller {
    /// The congestion window.
    fn window(&self) -> usize;
    /// The slow-start threshold.
    fn ssthresh(&self) -> usize;
    /// A new smoothed RTT (CUBIC's `W_cubic(t + RTT)` needs it).
    fn on_rtt(&mut self, _srtt: Duration) {}
    /// One round-trip-time measurement, unsmoothed (HyStart++ watches per-round minima).
    fn on_rtt_sample(&mut self, _rtt: Duration) {}
    /// New data was cumulatively acknowledged outside fast recovery.
    fn on_ack(&mut self, now: Instant, acked: usize, flight: usize, mss: usize);
    /// Three duplicate ACKs: fast retransmit and enter fast recovery (RFC 6582 §3.2 step 2).
    fn on_fast_retransmit(&mut self, now: Instant, flight: usize, mss: usize);
    /// A further duplicate ACK during fast recovery (RFC 6582 §3.2 step 3).
    fn on_dup_ack(&mut self, mss: usize);
    /// A partial ACK during fast recovery (RFC 6582 §3.2 step 5).
    fn on_partial_ack(&mut self, acked: usize, mss: usize);
    /// A full ACK ends fast recovery. `flight`: the bytes in flight, when recovery ran
    /// without SACK (RFC 6582 §3.2 step 4); `None` after proportional rate reduction, whose
    /// window ends at ssthresh (RFC 6937 §3.1).
    fn on_recovery_end(&mut self, flight: Option<usize>, mss: usize);
    /// The retransmission timer expired (RFC 5681 §3.1 equation (4)).
    fn on_rto(&mut self, flight: usize, mss: usize);
    /// Sending resumes after an idle period longer than the RTO: the window may no longer
    /// reflect the path (RFC 5681 §4.1): `cwnd = min(cwnd, restart_window)`.
    fn on_idle_restart(&mut self, restart_window: usize);
    /// The recovery that followed a retransmission timeout is over (`SND.UNA` passed the
    /// highest sequence number sent before it).
    fn on_loss_recovered(&mut self) {}
    /// Whether the connection should measure delivery rates ([`Controller::on_delivery`]).
    fn wants_rate_samples(&self) -> bool {
        false
    }
    /// An ACK delivered data (cumulatively or by SACK): its delivery-rate sample, the bytes
    /// still in the network after it, and whether it revealed a loss.
    fn on_delivery(
        &mut self,
        _now: Instant,
        _rs: &RateSample,
        _inflight: usize,
        _lost: bool,
        _mss: usize,
    ) {
    }
    /// The rate (bytes per second) to pace transmissions at; `None`: send as the window allows.
    fn pacing_rate(&self) -> Option<f64> {
        None
    }
}

/// Initial window: `segments` full-sized segments, as Linux's `initcwnd` (RFC 6928's ten
/// segments by default). RFC 6928 also caps the window at 14,600 bytes for larger MSSs; like
/// Linux we do not, so a configured window is the window sent (`--initial-cwnd 64` sends 64
/// segments in the first round trip).
pub fn initial_window(segments: u32, mss: usize) -> usize {
    (segments.max(1) as usize).saturating_mul(mss)
}

/// The window a loss-based controller leaves fast recovery with. After proportional rate
/// reduction (`flight` is `None`) it is ssthresh (RFC 6937 §3.1, as Linux's
/// `tcp_end_cwnd_reduction`): PRR has already brought the flight down to it, and bounding it by
/// the flight at the full ACK — often nothing, the recovery point being the last byte sent —
/// would restart a 2-segment window that starves the receiver of segments to acknowledge (two
/// lost ACKs then cost a retransmission timeout). Without SACK: RFC 6582 §3.2 step 4,
/// ssthresh bounded by FlightSize + SMSS against a burst.
pub fn end_of_recovery_window(ssthresh: usize, flight: Option<usize>, mss: usize) -> usize {
    match flight {
        None => ssthresh.max(mss),
        Some(flight) => ssthresh.min(flight.max(mss) + mss),
    }
}

/// The controller of one connection: an enum, so a connection costs no allocation.
#[derive(Debug, Clone)]
pub enum Congestion {
    /// NewReno (RFC 5681, RFC 6582).
    NewReno(NewReno),
    /// CUBIC (RFC 9438).
    Cubic(Cubic),
    /// BBR v1 (model-based, paced); boxed: its model state is several times a loss-based
    /// controller's, and idle connections of the other kinds should not pay for it.
    Bbr(Box<Bbr>),
}

impl Congestion {
    /// The configured algorithm with its initial window (`segments` of `mss`, RFC 6928).
    pub fn new(algorithm: CongestionAlgorithm, segments: u32, mss: usize) -> Congestion {
        let iw = initial_window(segments, mss);
        match algorithm {
            CongestionAlgorithm::NewReno => Congestion::NewReno(NewReno::new(iw)),
            CongestionAlgorithm::Cubic => Congestion::Cubic(Cubic::new(iw)),
            CongestionAlgorithm::Bbr => Congestion::Bbr(Box::new(Bbr::new(iw))),
        }
    }

    fn inner(&mut self) -> &mut dyn Controller {
        match self {
            Congestion::NewReno(c) => c,
            Congestion::Cubic(c) => c,
            Congestion::Bbr(c) => c.as_mut(),
        }
    }

    fn inner_ref(&self) -> &dyn Controller {
        match self {
            Congestion::NewReno(c) => c,
            Congestion::Cubic(c) => c,
            Congestion::Bbr(c) => c.as_ref(),
        }
    }
}

impl Controller for Congestion {
    fn window(&self) -> usize {
        self.inner_ref().window()
    }
    fn ssthresh(&self) -> usize {
        self.inner_ref().ssthresh()
    }
    fn on_rtt(&mut self, srtt: Duration) {
        self.inner().on_rtt(srtt)
    }
    fn on_rtt_sample(&mut self, rtt: Duration) {
        self.inner().on_rtt_sample(rtt)
    }
    fn on_ack(&mut self, now: Instant, acked: usize, flight: usize, mss: usize) {
        self.inner().on_ack(now, acked, flight, mss)
    }
    fn on_fast_retransmit(&mut self, now: Instant, flight: usize, mss: usize) {
        self.inner().on_fast_retransmit(now, flight, mss)
    }
    fn on_dup_ack(&mut self, mss: usize) {
        self.inner().on_dup_ack(mss)
    }
    fn on_partial_ack(&mut self, acked: usize, mss: usize) {
        self.inner().on_partial_ack(acked, mss)
    }
    fn on_recovery_end(&mut self, flight: Option<usize>, mss: usize) {
        self.inner().on_recovery_end(flight, mss)
    }
    fn on_rto(&mut self, flight: usize, mss: usize) {
        self.inner().on_rto(flight, mss)
    }
    fn on_idle_restart(&mut self, restart_window: usize) {
        self.inner().on_idle_restart(restart_window)
    }
    fn on_loss_recovered(&mut self) {
        self.inner().on_loss_recovered()
    }
    fn wants_rate_samples(&self) -> bool {
        self.inner_ref().wants_rate_samples()
    }
    fn on_delivery(
        &mut self,
        now: Instant,
        rs: &RateSample,
        inflight: usize,
        lost: bool,
        mss: usize,
    ) {
        self.inner().on_delivery(now, rs, inflight, lost, mss)
    }
    fn pacing_rate(&self) -> Option<f64> {
        self.inner_ref().pacing_rate()
    }
}
