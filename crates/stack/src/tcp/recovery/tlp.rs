//! Tail loss probe (RFC 8985 §7): when a flight's tail is lost no ACK comes back to let RACK
//! see it, so after a probe timeout (PTO, about two round trips) one segment is sent — new
//! data if there is some, else the last segment again — to draw an ACK whose SACK
//! information lets RACK recover instead of waiting for the retransmission timeout.
//!
//! One probe is outstanding at a time (`TLP.end_seq`); the ACKs that follow tell whether the
//! probe repaired a real loss (then the congestion controller responds as for a fast
//! recovery) or the original arrived too (a D-SACK for the probe: nothing was lost).

use boomerang_wire::SeqNumber;
use std::time::{Duration, Instant};

/// Smallest probe timeout (Linux's floor; RFC 8985 §7.2 leaves it open).
pub const TLP_MIN: Duration = Duration::from_millis(10);

/// RFC 8985 §7.2 `TLP_calc_PTO`: two smoothed RTTs, plus the peer's maximum ACK delay when
/// one segment is in flight (its ACK may be delayed), at least [`TLP_MIN`]. The caller caps
/// it by the retransmission timer.
pub fn pto(srtt: Duration, one_segment: bool, max_ack_delay: Duration) -> Duration {
    let pto = srtt * 2
        + if one_segment {
            max_ack_delay
        } else {
            Duration::ZERO
        };
    pto.max(TLP_MIN)
}

/// How an ACK ended a probe episode (RFC 8985 §7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// No episode, or it goes on.
    Pending,
    /// Over without a loss to answer: the probe carried new data (RACK handles any loss),
    /// or the peer reported the probe as a duplicate, or acknowledged nothing new.
    NoLoss,
    /// The ACK covers data beyond the probe and no D-SACK came: the probe repaired a loss.
    Repaired,
}

/// Tail loss probe state (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct Tlp {
    /// The PTO timer.
    pub(crate) at: Option<Instant>,
    /// The PTO fired: the next data segment that leaves is the probe.
    pub(crate) pending: bool,
    /// The probe may send one new segment beyond the congestion window.
    pub(crate) new_data: bool,
    /// `TLP.end_seq`: `SND.MAX` after the outstanding probe left.
    pub(crate) end_seq: Option<SeqNumber>,
    /// `TLP.is_retrans`: the outstanding probe resent old data.
    pub(crate) is_retrans: bool,
}

impl Tlp {
    /// No probe is outstanding or waiting to go (one per episode, RFC 8985 §7.2).
    pub fn idle(&self) -> bool {
        self.end_seq.is_none() && !self.pending
    }

    /// The probe left: `SND.MAX` is now `snd_max`; `retransmission`: it resent old data.
    pub fn on_probe_sent(&mut self, snd_max: SeqNumber, retransmission: bool) {
        self.pending = false;
        self.new_data = false;
        self.end_seq = Some(snd_max);
        self.is_retrans = retransmission;
    }

    /// RFC 8985 §7.4 (Linux `tcp_process_tlp_ack`), on each acceptable ACK: `ack` is its
    /// cumulative ACK, `una_advanced` whether it moved `SND.UNA`, `dsack` whether it carries a
    /// D-SACK, `newly_sacked` whether it SACKed new data.
    pub fn on_ack(
        &mut self,
        ack: SeqNumber,
        una_advanced: bool,
        dsack: bool,
        newly_sacked: bool,
    ) -> ProbeOutcome {
        let Some(end) = self.end_seq else {
            return ProbeOutcome::Pending;
        };
        if ack.lt(end) {
            return ProbeOutcome::Pending;
        }
        let outcome = if !self.is_retrans || dsack {
            ProbeOutcome::NoLoss
        } else if ack.gt(end) {
            ProbeOutcome::Repaired
        } else if !una_advanced && !newly_sacked {
            // A duplicate ACK of the probe's end: both copies arrived, nothing was lost.
            ProbeOutcome::NoLoss
        } else {
            return ProbeOutcome::Pending;
        };
        self.end_seq = None;
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn pto_is_two_srtt_plus_ack_delay_for_one_segment() {
        assert_eq!(pto(ms(30), false, ms(40)), ms(60));
        assert_eq!(pto(ms(30), true, ms(40)), ms(100));
        assert_eq!(pto(ms(1), false, ms(40)), TLP_MIN);
    }

    #[test]
    fn a_retransmitted_probe_is_judged_by_the_acks_after_it() {
        let end = SeqNumber(5000);
        let mut t = Tlp::default();
        t.on_probe_sent(end, true);
        assert!(!t.idle());
        assert_eq!(
            t.on_ack(SeqNumber(4000), true, false, false),
            ProbeOutcome::Pending
        );
        // Acknowledged exactly to its end with progress: wait for a D-SACK or more.
        assert_eq!(t.on_ack(end, true, false, false), ProbeOutcome::Pending);
        assert_eq!(t.on_ack(end, false, true, false), ProbeOutcome::NoLoss);
        assert!(t.idle());
        t.on_probe_sent(end, true);
        assert_eq!(
            t.on_ack(end + 1000, true, false, false),
            ProbeOutcome::Repaired
        );
        t.on_probe_sent(end, false);
        assert_eq!(
            t.on_ack(end + 1000, true, false, false),
            ProbeOutcome::NoLoss
        );
    }
}
