//! Round-trip estimation and the retransmission timeout (RFC 6298), with Karn's rule
//! (samples only from segments never retransmitted, RFC 6298 §3) and exponential backoff
//! (RFC 6298 (5.5)).

use std::time::Duration;

/// Clock granularity `G` of RFC 6298 §2 (our clock is nanoseconds; 1 ms keeps RTTVAR sane).
pub const CLOCK_GRANULARITY: Duration = Duration::from_millis(1);

/// The RTT estimator and RTO of one connection.
#[derive(Debug, Clone, Copy)]
pub struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
    backoff: u32,
    min_rto: Duration,
    max_rto: Duration,
}

impl RttEstimator {
    /// Before any sample: RTO = `initial` (RFC 6298 (2.1)).
    pub fn new(initial: Duration, min_rto: Duration, max_rto: Duration) -> RttEstimator {
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            rto: initial.clamp(min_rto, max_rto.max(min_rto)),
            backoff: 0,
            min_rto,
            max_rto: max_rto.max(min_rto),
        }
    }

    /// Smoothed RTT, once sampled.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// RTT variation.
    pub fn rttvar(&self) -> Duration {
        self.rttvar
    }

    /// Number of back-offs since the last sample or [`RttEstimator::reset_backoff`].
    pub fn backoff(&self) -> u32 {
        self.backoff
    }

    /// The current RTO including back-off (RFC 6298 (5.5)), capped at the maximum.
    pub fn rto(&self) -> Duration {
        let factor = 1u32 << self.backoff.min(16);
        self.rto.saturating_mul(factor).min(self.max_rto)
    }

    /// Feeds one RTT measurement (RFC 6298 (2.2)/(2.3)); clears the back-off.
    pub fn sample(&mut self, r: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(srtt) => {
                let delta = srtt.abs_diff(r);
                // RTTVAR <- 3/4 RTTVAR + 1/4 |SRTT - R'|; SRTT <- 7/8 SRTT + 1/8 R'
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                self.srtt = Some((srtt * 7 + r) / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(r);
        let var = (self.rttvar * 4).max(CLOCK_GRANULARITY);
        self.rto = (srtt + var).clamp(self.min_rto, self.max_rto);
        self.backoff = 0;
    }

    /// The retransmission timer expired: double the RTO (RFC 6298 (5.5)).
    pub fn on_timeout(&mut self) {
        if self.rto() < self.max_rto {
            self.backoff = self.backoff.saturating_add(1);
        }
    }

    /// Forgets the back-off (e.g. when new data is acknowledged, RFC 6298 §5 note).
    pub fn reset_backoff(&mut self) {
        self.backoff = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn first_and_later_samples_follow_rfc6298() {
        let mut r = RttEstimator::new(ms(1000), ms(200), ms(60_000));
        assert_eq!(r.rto(), ms(1000));
        r.sample(ms(100));
        // SRTT = 100, RTTVAR = 50, RTO = 100 + 200 = 300
        assert_eq!(r.srtt(), Some(ms(100)));
        assert_eq!(r.rto(), ms(300));
        r.sample(ms(200));
        // RTTVAR = (150 + 100)/4 = 62.5, SRTT = (700+200)/8 = 112.5, RTO = 362.5
        assert_eq!(r.rto(), Duration::from_micros(362_500));
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let mut r = RttEstimator::new(ms(1000), ms(200), ms(5000));
        r.on_timeout();
        assert_eq!(r.rto(), ms(2000));
        r.on_timeout();
        r.on_timeout();
        assert_eq!(r.rto(), ms(5000));
        r.on_timeout();
        assert_eq!(r.rto(), ms(5000));
        r.sample(ms(10));
        assert_eq!(r.rto(), ms(200), "min RTO clamps; sample clears back-off");
    }
}
