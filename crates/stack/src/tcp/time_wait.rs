//! TIME-WAIT (RFC 9293 §3.10.7.4): what a connection that closed first does with the
//! segments that still arrive for it, and the compact record a shard keeps for it once it
//! has nothing left to send.
//!
//! A connection in TIME-WAIT only has to recognise old duplicates, acknowledge a
//! retransmitted FIN, decide whether a new SYN may reopen the 4-tuple (RFC 6191) and expire
//! after 2×MSL. [`TimeWait`] holds exactly what that needs (under 100 bytes); the whole
//! [`Tcb`](super::Tcb) with its buffers costs more than a kilobyte, which a server closing
//! tens of thousands of connections a minute would otherwise keep for a minute each.
//!
//! The rules, shared by the record and by a [`Tcb`](super::Tcb) still in TIME-WAIT, are those
//! of Linux's `tcp_timewait_state_process`:
//! - a retransmitted FIN is acknowledged again and restarts the 2×MSL timer;
//! - a RST at exactly RCV.NXT ends TIME-WAIT (Linux's default, `tcp_rfc1337 = 0`). This is the
//!   RST a peer sends when it reuses the 4-tuple with an ISN that RFC 6191 cannot accept: its
//!   SYN gets our ACK, its RST clears the record, and its retransmitted SYN opens the new
//!   connection a second later instead of being refused for the rest of the 2×MSL. Other
//!   RSTs are ignored;
//! - a bare ACK at RCV.NXT is dropped; anything else (old data, a SYN not accepted, a
//!   segment failing PAWS) is answered with an ACK, rate-limited when it carries nothing.

use std::time::{Duration, Instant};

use boomerang_wire::{SeqNumber, TcpControl, TcpRepr};

/// What a segment that arrived in TIME-WAIT calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeWaitVerdict {
    /// Nothing to do: a bare ACK at RCV.NXT or a RST that does not match.
    Drop,
    /// Acknowledge RCV.NXT; `restart` restarts the 2×MSL timer (a retransmitted FIN);
    /// `loop_prone` when the segment carried neither data nor FIN (rate-limit the answer).
    Ack {
        /// A retransmitted FIN: the 2×MSL timer starts again.
        restart: bool,
        /// The segment carried neither data nor FIN.
        loop_prone: bool,
    },
    /// Leave TIME-WAIT now (a RST at exactly RCV.NXT).
    Close,
}

/// What a [`TimeWait`] record does with a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeWaitAction {
    /// Nothing to send.
    Nothing,
    /// Send this ACK.
    Send(TcpRepr<'static>),
    /// TIME-WAIT ends: forget the record.
    Close,
}

impl TimeWaitAction {
    /// Whether an ACK is to be sent.
    pub fn is_send(&self) -> bool {
        matches!(self, TimeWaitAction::Send(_))
    }
}

/// Whether `seg`'s timestamp is older than TS.Recent (RFC 7323 §5.3 PAWS).
fn paws_rejects(seg: &TcpRepr, ts_recent: Option<u32>) -> bool {
    match (ts_recent, seg.timestamp) {
        (Some(recent), Some((tsval, _))) => (tsval.wrapping_sub(recent) as i32) < 0,
        _ => false,
    }
}

/// The rule for a segment arriving in TIME-WAIT (see the module documentation).
/// `ts_recent` is TS.Recent when timestamps are in use.
pub fn verdict(seg: &TcpRepr, rcv_nxt: SeqNumber, ts_recent: Option<u32>) -> TimeWaitVerdict {
    let stale = paws_rejects(seg, ts_recent);
    let fin = seg.control == TcpControl::Fin;
    match seg.control {
        TcpControl::Rst if !stale && seg.seq_number == rcv_nxt => TimeWaitVerdict::Close,
        TcpControl::Rst => TimeWaitVerdict::Drop,
        TcpControl::Syn => TimeWaitVerdict::Ack {
            restart: false,
            loop_prone: true,
        },
        _ if fin && seg.seq_number + seg.payload.len() + 1 == rcv_nxt => TimeWaitVerdict::Ack {
            restart: !stale,
            loop_prone: false,
        },
        _ if !stale && !fin && seg.payload.is_empty() && seg.seq_number == rcv_nxt => {
            TimeWaitVerdict::Drop
        }
        _ => TimeWaitVerdict::Ack {
            restart: false,
            loop_prone: seg.payload.is_empty() && !fin,
        },
    }
}

/// Whether a SYN may reopen a 4-tuple in TIME-WAIT (RFC 9293 §3.6.1, RFC 6191): with
/// timestamps, its TSval must be newer than TS.Recent; without, its ISN must lie beyond
/// RCV.NXT.
pub fn accepts_new_syn(syn: &TcpRepr, rcv_nxt: SeqNumber, ts_recent: Option<u32>) -> bool {
    if syn.control != TcpControl::Syn || syn.ack_number.is_some() {
        return false;
    }
    match (syn.timestamp, ts_recent) {
        (Some((tsval, _)), Some(recent)) => (tsval.wrapping_sub(recent) as i32) > 0,
        _ => syn.seq_number.gt(rcv_nxt),
    }
}

/// Our timestamp clock as a TIME-WAIT record keeps it: TS.Recent, and the TSval we sent at
/// `since` (the clock advances in milliseconds from there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Timestamps {
    recent: u32,
    tsval_at_since: u32,
}

/// A connection in TIME-WAIT reduced to what the state needs (see the module
/// documentation). Built by [`Tcb::time_wait_record`](super::Tcb::time_wait_record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeWait {
    local_port: u16,
    remote_port: u16,
    /// SND.NXT: one past our FIN.
    snd_nxt: SeqNumber,
    /// RCV.NXT: one past the peer's FIN.
    rcv_nxt: SeqNumber,
    /// The window field of our ACKs (already scaled down).
    window: u16,
    timestamps: Option<Timestamps>,
    since: Instant,
    /// When TIME-WAIT ends (2×MSL after it began or after the last retransmitted FIN).
    expires: Instant,
    last_loop_prone_ack: Option<Instant>,
}

impl TimeWait {
    /// A record from a connection's final numbers; `tsval_now` is our timestamp clock at
    /// `now` and `ts_recent` TS.Recent, both `None` without timestamps.
    pub(crate) fn new(
        ports: (u16, u16),
        (snd_nxt, rcv_nxt): (SeqNumber, SeqNumber),
        window: u16,
        timestamps: Option<(u32, u32)>,
        now: Instant,
        expires: Instant,
    ) -> Self {
        TimeWait {
            local_port: ports.0,
            remote_port: ports.1,
            snd_nxt,
            rcv_nxt,
            window,
            timestamps: timestamps.map(|(tsval_at_since, recent)| Timestamps {
                recent,
                tsval_at_since,
            }),
            since: now,
            expires,
            last_loop_prone_ack: None,
        }
    }

    /// When TIME-WAIT ends.
    pub fn expires(&self) -> Instant {
        self.expires
    }

    /// Whether `syn` may reopen the 4-tuple (see [`accepts_new_syn`]).
    pub fn accepts_new_syn(&self, syn: &TcpRepr) -> bool {
        accepts_new_syn(syn, self.rcv_nxt, self.timestamps.map(|t| t.recent))
    }

    /// Handles one segment. `time_wait` is 2×MSL, `ack_interval` the least time between two
    /// answers to segments that carry nothing (RFC 5961 §7's rate limit).
    pub fn on_segment(
        &mut self,
        seg: &TcpRepr,
        now: Instant,
        time_wait: Duration,
        ack_interval: Duration,
    ) -> TimeWaitAction {
        let recent = self.timestamps.map(|t| t.recent);
        match verdict(seg, self.rcv_nxt, recent) {
            TimeWaitVerdict::Drop => TimeWaitAction::Nothing,
            TimeWaitVerdict::Close => TimeWaitAction::Close,
            TimeWaitVerdict::Ack {
                restart,
                loop_prone,
            } => {
                if restart {
                    self.expires = now + time_wait;
                }
                if loop_prone {
                    if self
                        .last_loop_prone_ack
                        .is_some_and(|last| now < last + ack_interval)
                    {
                        return TimeWaitAction::Nothing;
                    }
                    self.last_loop_prone_ack = Some(now);
                }
                TimeWaitAction::Send(self.ack(now))
            }
        }
    }

    /// The ACK this record sends: SND.NXT, RCV.NXT, the last window, and timestamps.
    pub fn ack(&self, now: Instant) -> TcpRepr<'static> {
        let elapsed = now.saturating_duration_since(self.since).as_millis() as u32;
        TcpRepr {
            src_port: self.local_port,
            dst_port: self.remote_port,
            control: TcpControl::None,
            seq_number: self.snd_nxt,
            ack_number: Some(self.rcv_nxt),
            window_len: self.window,
            timestamp: self
                .timestamps
                .map(|t| (t.tsval_at_since.wrapping_add(elapsed), t.recent)),
            ..TcpRepr::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RCV_NXT: u32 = 5_000;
    const SND_NXT: u32 = 9_000;

    fn record(now: Instant, ts: bool) -> TimeWait {
        TimeWait::new(
            (80, 40_000),
            (SeqNumber(SND_NXT), SeqNumber(RCV_NXT)),
            512,
            ts.then_some((1_000, 777)),
            now,
            now + Duration::from_secs(60),
        )
    }

    fn seg(control: TcpControl, seq: u32) -> TcpRepr<'static> {
        TcpRepr {
            src_port: 40_000,
            dst_port: 80,
            control,
            seq_number: SeqNumber(seq),
            ack_number: (control != TcpControl::Syn).then_some(SeqNumber(SND_NXT)),
            window_len: 1000,
            ..TcpRepr::default()
        }
    }

    const MINUTE: Duration = Duration::from_secs(60);
    const HALF_SECOND: Duration = Duration::from_millis(500);

    #[test]
    fn retransmitted_fin_is_acked_and_restarts_the_timer() {
        let now = Instant::now();
        let mut tw = record(now, true);
        let later = now + Duration::from_secs(30);
        let TimeWaitAction::Send(ack) = tw.on_segment(
            &seg(TcpControl::Fin, RCV_NXT - 1),
            later,
            MINUTE,
            HALF_SECOND,
        ) else {
            panic!("a retransmitted FIN is acknowledged");
        };
        assert_eq!(ack.seq_number, SeqNumber(SND_NXT));
        assert_eq!(ack.ack_number, Some(SeqNumber(RCV_NXT)));
        assert_eq!(ack.window_len, 512);
        // Our clock moved on by the 30 s since the record was made; TS.Recent echoed.
        assert_eq!(ack.timestamp, Some((1_000 + 30_000, 777)));
        assert_eq!(tw.expires(), later + MINUTE);
    }

    #[test]
    fn exact_rst_ends_time_wait_other_rsts_do_not() {
        let now = Instant::now();
        let mut tw = record(now, false);
        let rst = |seq| seg(TcpControl::Rst, seq);
        assert_eq!(
            tw.on_segment(&rst(RCV_NXT + 1), now, MINUTE, HALF_SECOND),
            TimeWaitAction::Nothing
        );
        assert_eq!(
            tw.on_segment(&rst(RCV_NXT - 1), now, MINUTE, HALF_SECOND),
            TimeWaitAction::Nothing
        );
        assert_eq!(
            tw.on_segment(&rst(RCV_NXT), now, MINUTE, HALF_SECOND),
            TimeWaitAction::Close
        );
    }

    #[test]
    fn rst_failing_paws_is_ignored() {
        let now = Instant::now();
        let mut tw = record(now, true);
        let mut rst = seg(TcpControl::Rst, RCV_NXT);
        rst.timestamp = Some((776, 1_000));
        assert_eq!(
            tw.on_segment(&rst, now, MINUTE, HALF_SECOND),
            TimeWaitAction::Nothing
        );
        rst.timestamp = Some((778, 1_000));
        assert_eq!(
            tw.on_segment(&rst, now, MINUTE, HALF_SECOND),
            TimeWaitAction::Close
        );
    }

    #[test]
    fn bare_ack_is_dropped_and_a_refused_syn_is_answered_at_a_limited_rate() {
        let now = Instant::now();
        let mut tw = record(now, false);
        let ack = seg(TcpControl::None, RCV_NXT);
        assert_eq!(
            tw.on_segment(&ack, now, MINUTE, HALF_SECOND),
            TimeWaitAction::Nothing
        );
        let old_syn = seg(TcpControl::Syn, RCV_NXT - 4_000);
        assert!(!tw.accepts_new_syn(&old_syn));
        assert!(tw.on_segment(&old_syn, now, MINUTE, HALF_SECOND).is_send());
        let soon = now + Duration::from_millis(100);
        assert_eq!(
            tw.on_segment(&old_syn, soon, MINUTE, HALF_SECOND),
            TimeWaitAction::Nothing
        );
        let later = now + HALF_SECOND;
        assert!(tw
            .on_segment(&old_syn, later, MINUTE, HALF_SECOND)
            .is_send());
        assert_eq!(tw.expires(), now + MINUTE, "only a FIN restarts the timer");
    }

    #[test]
    fn new_syn_is_accepted_by_isn_or_by_timestamp() {
        let now = Instant::now();
        let plain = record(now, false);
        assert!(plain.accepts_new_syn(&seg(TcpControl::Syn, RCV_NXT + 1)));
        assert!(!plain.accepts_new_syn(&seg(TcpControl::Syn, RCV_NXT)));
        let stamped = record(now, true);
        let mut syn = seg(TcpControl::Syn, RCV_NXT - 100);
        syn.timestamp = Some((778, 0));
        assert!(
            stamped.accepts_new_syn(&syn),
            "a newer TSval wins over a low ISN"
        );
        syn.timestamp = Some((777, 0));
        assert!(!stamped.accepts_new_syn(&syn));
    }

    #[test]
    fn a_record_is_a_tenth_of_a_connection() {
        // What the module documentation promises: under 100 bytes, where a connection with
        // its Tcb is over a kilobyte before its buffers.
        assert!(std::mem::size_of::<TimeWait>() <= 96);
        assert!(std::mem::size_of::<crate::tcp::Tcb>() >= 10 * std::mem::size_of::<TimeWait>());
    }

    #[test]
    fn old_data_gets_an_ack_every_time() {
        let now = Instant::now();
        let mut tw = record(now, false);
        let mut data = seg(TcpControl::None, RCV_NXT - 100);
        data.payload = b"old";
        for _ in 0..3 {
            assert!(tw.on_segment(&data, now, MINUTE, HALF_SECOND).is_send());
        }
    }
}
