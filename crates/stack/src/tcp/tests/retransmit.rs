//! Loss recovery: RTO with exponential backoff and Karn's rule (RFC 6298), fast retransmit
//! and NewReno partial ACKs (RFC 5681, RFC 6582), giving up, keep-alive (RFC 9293 §3.8.4).

use super::*;
use crate::tcp::config::CongestionAlgorithm;
use crate::tcp::congestion::Controller;
use crate::tcp::tcb::TcpError;

#[test]
fn rto_retransmits_with_exponential_backoff() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    tcb.send(b"hello").unwrap();
    recv!(tcb, now, data_seg(LOCAL_SEQ + 1, b"hello", true));
    let t1 = now + ms(200);
    assert_eq!(tcb.next_deadline(), Some(t1));
    assert!(tcb.on_deadline(t1).retransmit_timeout);
    recv!(tcb, t1, data_seg(LOCAL_SEQ + 1, b"hello", true));
    assert_eq!(tcb.cwnd(), 1000, "RTO collapses cwnd to one segment");
    let t2 = t1 + ms(400);
    assert_eq!(tcb.next_deadline(), Some(t2));
    tcb.on_deadline(t2);
    recv!(tcb, t2, data_seg(LOCAL_SEQ + 1, b"hello", true));
    assert_eq!(tcb.next_deadline(), Some(t2 + ms(800)));
    // Karn: the ACK of a retransmitted segment gives no sample; the backed-off RTO stays.
    send!(tcb, t2 + ms(5), peer_ack(LOCAL_SEQ + 6));
    assert_eq!(tcb.rto(), ms(800));
    assert_eq!(tcb.next_deadline(), None);
    // The next segment is timed and its sample clears the back-off.
    tcb.send(b"again").unwrap();
    recv!(tcb, t2 + ms(5), data_seg(LOCAL_SEQ + 6, b"again", true));
    send!(tcb, t2 + ms(55), peer_ack(LOCAL_SEQ + 11));
    assert_eq!(tcb.rto(), ms(200));
}

#[test]
fn rto_gives_up_after_max_retries() {
    let now = Instant::now();
    let mut tcb = tcb_established_with(
        &TcpConfig {
            max_retries: 2,
            ..cfg()
        },
        now,
    );
    tcb.send(b"x").unwrap();
    tcb.poll_segment(now, MAX_PAYLOAD).unwrap();
    for _ in 0..2 {
        let t = tcb.next_deadline().unwrap();
        let out = tcb.on_deadline(t);
        assert!(!out.closed);
        assert!(tcb.poll_segment(t, MAX_PAYLOAD).is_some());
    }
    let t = tcb.next_deadline().unwrap();
    let out = tcb.on_deadline(t);
    assert!(out.closed && out.reset);
    assert_eq!(tcb.error(), Some(TcpError::TimedOut));
    assert_eq!(tcb.send(b"y"), Err(TcpError::TimedOut));
}

#[test]
fn rto_retransmits_from_snd_una_go_back_n() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    let p = payload(3000);
    tcb.send(&p).unwrap();
    for _ in 0..3 {
        tcb.poll_segment(now, MAX_PAYLOAD).unwrap();
    }
    send!(tcb, now, peer_ack(LOCAL_SEQ + 1001));
    let t = tcb.next_deadline().unwrap();
    tcb.on_deadline(t);
    // cwnd is one segment: only the first unacknowledged segment goes out.
    recv!(tcb, t, data_seg(LOCAL_SEQ + 1001, &p[1000..2000], false));
    recv!(tcb, t, nothing);
    send!(tcb, t, peer_ack(LOCAL_SEQ + 2001));
    recv!(tcb, t, data_seg(LOCAL_SEQ + 2001, &p[2000..], true));
}

#[test]
fn fast_retransmit_after_three_dup_acks_and_new_reno_recovery() {
    let now = Instant::now();
    let mut tcb = tcb_established_with(
        &TcpConfig {
            congestion: CongestionAlgorithm::NewReno,
            ..cfg()
        },
        now,
    );
    let p = payload(5000);
    tcb.send(&p).unwrap();
    for _ in 0..5 {
        tcb.poll_segment(now, MAX_PAYLOAD).unwrap();
    }
    // Segment 2 (1001..2001) is lost.
    send!(tcb, now, peer_ack(LOCAL_SEQ + 1001));
    send!(tcb, now, peer_ack(LOCAL_SEQ + 1001));
    send!(tcb, now, peer_ack(LOCAL_SEQ + 1001));
    recv!(tcb, now, nothing);
    let out = send!(tcb, now, peer_ack(LOCAL_SEQ + 1001));
    assert!(out.fast_retransmit);
    let seg = tcb.poll_segment(now, MAX_PAYLOAD).unwrap();
    assert!(seg.is_retransmission());
    assert_eq!(seg.repr().seq_number, LOCAL_SEQ + 1001);
    assert_eq!(seg.payload_len(), 1000);
    recv!(tcb, now, nothing);
    // ssthresh = max(FlightSize/2, 2·SMSS) = 2000; cwnd = ssthresh + 3·SMSS.
    assert_eq!(tcb.cwnd(), 5000);
    send!(tcb, now, peer_ack(LOCAL_SEQ + 1001));
    assert_eq!(tcb.cwnd(), 6000, "inflated by each further dup ACK");
    // Partial ACK (segment 4 also lost): retransmit it at once.
    send!(tcb, now, peer_ack(LOCAL_SEQ + 3001));
    recv!(tcb, now, data_seg(LOCAL_SEQ + 3001, &p[3000..4000], false));
    // Full ACK ends recovery with cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS).
    send!(tcb, now, peer_ack(LOCAL_SEQ + 5001));
    assert_eq!(tcb.cwnd(), 2000);
    assert_eq!(tcb.next_deadline(), None);
}

#[test]
fn default_cubic_reduces_by_beta_on_fast_retransmit() {
    // CUBIC is the default controller (RFC 9438): ssthresh = 0.7 · cwnd, not FlightSize / 2.
    assert_eq!(TcpConfig::default().congestion, CongestionAlgorithm::Cubic);
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    assert_eq!(tcb.cwnd(), 10_000, "initial window 10 segments (RFC 6928)");
    let p = payload(5000);
    tcb.send(&p).unwrap();
    for _ in 0..5 {
        tcb.poll_segment(now, MAX_PAYLOAD).unwrap();
    }
    for _ in 0..3 {
        send!(tcb, now, peer_ack(LOCAL_SEQ + 1001));
    }
    let out = send!(tcb, now, peer_ack(LOCAL_SEQ + 1001));
    assert!(out.fast_retransmit);
    recv!(tcb, now, data_seg(LOCAL_SEQ + 1001, &p[1000..2000], false));
    recv!(tcb, now, nothing);
    // cwnd was 11 000 (one ACK of 1000 in slow start): ssthresh = ⌊0.7 · 11 000⌋ (7699 in
    // floating point), cwnd = ssthresh + 3·SMSS; NewReno would give 2000 + 3000.
    assert_eq!(tcb.cwnd(), 10_699);
    // Full ACK: cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS) with nothing in flight.
    send!(tcb, now, peer_ack(LOCAL_SEQ + 5001));
    assert_eq!(tcb.cwnd(), 2000);
}

#[test]
fn dup_acks_with_window_change_or_data_are_not_counted() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    let p = payload(5000);
    tcb.send(&p).unwrap();
    for _ in 0..5 {
        tcb.poll_segment(now, MAX_PAYLOAD).unwrap();
    }
    for w in [PEER_WND - 1, PEER_WND - 2, PEER_WND - 3, PEER_WND - 4] {
        send!(
            tcb,
            now,
            TcpRepr {
                window_len: w,
                ..peer_ack(LOCAL_SEQ + 1)
            }
        );
    }
    recv!(tcb, now, nothing);
}

#[test]
fn keepalive_probes_then_times_out() {
    let now = Instant::now();
    let mut tcb = tcb_established_with(
        &TcpConfig {
            keepalive: Some(Duration::from_secs(10)),
            keepalive_interval: Duration::from_secs(1),
            keepalive_probes: 2,
            ..cfg()
        },
        now,
    );
    let t = now + Duration::from_secs(10);
    assert_eq!(tcb.next_deadline(), Some(t));
    tcb.on_deadline(t);
    let probe = our_ack(LOCAL_SEQ, REMOTE_SEQ + 1);
    recv!(tcb, t, probe);
    // An answer resets the idle timer.
    send!(tcb, t + ms(5), peer_ack(LOCAL_SEQ + 1));
    assert_eq!(
        tcb.next_deadline(),
        Some(t + ms(5) + Duration::from_secs(10))
    );
    let t = tcb.next_deadline().unwrap();
    tcb.on_deadline(t);
    recv!(tcb, t, probe);
    let t = t + Duration::from_secs(1);
    tcb.on_deadline(t);
    recv!(tcb, t, probe);
    let out = tcb.on_deadline(t + Duration::from_secs(1));
    assert!(out.closed);
    assert_eq!(tcb.error(), Some(TcpError::TimedOut));
}

/// ESTABLISHED with SACK negotiated (no other options), nothing sent yet.
/// SACK on, NewReno (the tests below spell out RFC 6675's `ssthresh = FlightSize / 2`).
fn tcb_sack(now: Instant) -> Tcb {
    tcb_sack_after(now, Duration::ZERO)
}

/// As [`tcb_sack`], the handshake's ACK arriving `rtt` after our SYN-ACK left at `t0`.
pub(super) fn tcb_sack_after(t0: Instant, rtt: Duration) -> Tcb {
    let config = TcpConfig {
        sack: true,
        congestion: CongestionAlgorithm::NewReno,
        ..cfg()
    };
    let syn = TcpRepr {
        sack_permitted: true,
        ..remote_syn()
    };
    let mut tcb = Tcb::listen_syn(&config, tuple(), &syn, LOCAL_SEQ, t0);
    tcb.poll_segment(t0, MAX_PAYLOAD).unwrap();
    send!(tcb, t0 + rtt, peer_ack(LOCAL_SEQ + 1));
    assert!(tcb.sack_ok);
    tcb
}

/// The segment at `base` is lost and the next three arrive: three ACKs of `base`, SACKing
/// `[base + 1000, base + 2000)`, then up to 3000 and 4000 (the DupThresh of RFC 6675).
fn three_sacks_above_a_lost_first_segment(tcb: &mut Tcb, now: Instant, base: SeqNumber) {
    for x in 2..=4usize {
        send!(tcb, now, sack_ack(base, 0, &[(1000, x * 1000)]));
    }
}

/// The peer's ACK of `base + ack` with SACK blocks `[base + l, base + h)`.
pub(super) fn sack_ack(base: SeqNumber, ack: usize, blocks: &[(usize, usize)]) -> TcpRepr<'static> {
    let mut r = [None; 4];
    for (slot, (l, h)) in r.iter_mut().zip(blocks) {
        *slot = Some(((base + *l).0, (base + *h).0));
    }
    TcpRepr {
        sack_ranges: r,
        ..peer_ack(base + ack)
    }
}

/// Sends `n` bytes in 1000-byte segments; returns the payload.
pub(super) fn send_segments(tcb: &mut Tcb, now: Instant, n: usize) -> Vec<u8> {
    let p = payload(n);
    tcb.send(&p).unwrap();
    while tcb.poll_segment(now, MAX_PAYLOAD).is_some() {}
    p
}

#[test]
fn sack_recovery_sends_as_the_pipe_allows() {
    let now = Instant::now();
    let mut tcb = tcb_sack(now);
    let p = send_segments(&mut tcb, now, 6000);
    let base = LOCAL_SEQ + 1;
    // Segments 2 (1000..2000) and 4 (3000..4000) are lost.
    send!(tcb, now, peer_ack(base + 1000));
    send!(tcb, now, sack_ack(base, 1000, &[(2000, 3000)]));
    send!(
        tcb,
        now,
        sack_ack(base, 1000, &[(4000, 5000), (2000, 3000)])
    );
    recv!(tcb, now, nothing);
    let out = send!(
        tcb,
        now,
        sack_ack(base, 1000, &[(4000, 6000), (2000, 3000)])
    );
    assert!(out.fast_retransmit, "third DupAck (RFC 6675 §5)");
    recv!(tcb, now, data_seg(base + 1000, &p[1000..2000], false));
    // cwnd = ssthresh = FlightSize / 2 = 2500. RACK deems 3000..4000 lost too (it left
    // before the SACKed 5000..6000, and DupThresh SACKs make the reordering window zero), so
    // the pipe was 0: PRR's slow-start bound min(ssthresh − pipe, delivered + MSS) = 2000
    // lets both holes go at once, where RFC 6675's IsLost waited for a partial ACK.
    recv!(tcb, now, data_seg(base + 3000, &p[3000..4000], false));
    assert_eq!(tcb.pipe(), 2000);
    recv!(tcb, now, nothing);
    // Nothing newly SACKed: not a duplicate, nothing delivered, nothing sent.
    send!(
        tcb,
        now,
        sack_ack(base, 1000, &[(4000, 6000), (2000, 3000)])
    );
    recv!(tcb, now, nothing);
    // Partial ACK: nothing is lost any more, and nothing new to send.
    send!(tcb, now, sack_ack(base, 3000, &[(4000, 6000)]));
    assert_eq!(tcb.pipe(), 1000);
    recv!(tcb, now, nothing);
    send!(tcb, now, peer_ack(base + 6000));
    assert_eq!(tcb.send_queue(), 0);
    assert!(!tcb.rec.in_recovery);
    // The ACK ended recovery exactly at the recovery point (SND.MAX when it began): a loss
    // in the next flight starts a new recovery (RFC 6582 §3.2 step 2, `recover` inclusive).
    let q = payload(4000);
    tcb.send(&q).unwrap();
    // cwnd = min(ssthresh, FlightSize + SMSS) = 2000: two segments.
    recv!(tcb, now, data_seg(base + 6000, &q[..1000], false));
    recv!(tcb, now, data_seg(base + 7000, &q[1000..2000], false));
    recv!(tcb, now, nothing);
    send!(tcb, now, sack_ack(base, 6000, &[(7000, 8000)]));
    recv!(tcb, now, data_seg(base + 8000, &q[2000..3000], false));
    send!(tcb, now, sack_ack(base, 6000, &[(7000, 9000)]));
    recv!(tcb, now, data_seg(base + 9000, &q[3000..], true));
    let out = send!(tcb, now, sack_ack(base, 6000, &[(7000, 10_000)]));
    assert!(out.fast_retransmit);
    recv!(tcb, now, data_seg(base + 6000, &q[..1000], false));
}

#[test]
fn sack_recovery_fills_a_second_hole_without_waiting_for_the_partial_ack() {
    let now = Instant::now();
    let mut tcb = tcb_sack(now);
    let p = send_segments(&mut tcb, now, 10_000);
    let base = LOCAL_SEQ + 1;
    // Segments 1000..2000 and 3000..4000 are lost.
    send!(tcb, now, peer_ack(base + 1000));
    send!(tcb, now, sack_ack(base, 1000, &[(2000, 3000)]));
    send!(
        tcb,
        now,
        sack_ack(base, 1000, &[(4000, 5000), (2000, 3000)])
    );
    send!(
        tcb,
        now,
        sack_ack(base, 1000, &[(4000, 6000), (2000, 3000)])
    );
    recv!(tcb, now, data_seg(base + 1000, &p[1000..2000], false));
    // ssthresh 4500. RACK deemed 3000..4000 lost too (it left before the SACKed 5000..6000):
    // pipe 5000, PRR's proportional share (⌈1000 · 4500 / 9000⌉) went to the fast retransmit.
    recv!(tcb, now, nothing);
    // Pipe 4000: PRR's share (⌈2000 · 4500 / 9000⌉ − 1000) is still spent.
    send!(
        tcb,
        now,
        sack_ack(base, 1000, &[(4000, 7000), (2000, 3000)])
    );
    assert_eq!(
        tcb.rec.rack.next_lost(base + 2000),
        Some((base + 3000, 1000))
    );
    recv!(tcb, now, nothing);
    // Pipe 3000, below ssthresh: the slow-start bound lets the lost segment go.
    send!(
        tcb,
        now,
        sack_ack(base, 1000, &[(4000, 8000), (2000, 3000)])
    );
    recv!(tcb, now, data_seg(base + 3000, &p[3000..4000], false));
    recv!(tcb, now, nothing);
    send!(tcb, now, sack_ack(base, 3000, &[(4000, 10_000)]));
    recv!(tcb, now, nothing);
    send!(tcb, now, peer_ack(base + 10_000));
    assert!(!tcb.rec.in_recovery);
    // PRR ran this recovery: the window ends at ssthresh (RFC 6937 §3.1), not at
    // FlightSize + SMSS, which this ACK emptied (2000: a 2-segment restart).
    assert_eq!(tcb.cwnd(), 4500, "ssthresh at the end");
}

#[test]
fn sack_blocks_on_data_carrying_acks_count_as_duplicates() {
    let now = Instant::now();
    let mut tcb = tcb_sack(now);
    let p = send_segments(&mut tcb, now, 5000);
    let base = LOCAL_SEQ + 1;
    let data = payload(3000);
    // The peer sends data too: each ACK carries 1000 bytes and a new window; segment
    // 0..1000 is lost. RFC 5681 would not count these; RFC 6675 §2 does.
    let mut fast = false;
    for k in 0..3usize {
        let seg = TcpRepr {
            seq_number: REMOTE_SEQ + 1 + k * 1000,
            window_len: PEER_WND - k as u16,
            payload: &data[k * 1000..(k + 1) * 1000],
            ..sack_ack(base, 0, &[(1000, 2000 + k * 1000)])
        };
        fast = send!(tcb, now, seg).fast_retransmit;
    }
    assert!(fast);
    let seg = tcb.poll_segment(now, MAX_PAYLOAD).unwrap();
    assert!(seg.is_retransmission());
    assert_eq!(seg.repr().seq_number, base);
    assert_eq!(seg.payload_len(), 1000);
    assert_eq!(seg.repr().ack_number, Some(REMOTE_SEQ + 3001));
    let mut buf = [0u8; 1000];
    assert_eq!(tcb.write_payload(&seg, &mut buf), 1000);
    assert_eq!(&buf[..], &p[..1000]);
}

#[test]
fn one_ack_sacking_three_segments_starts_recovery_at_once() {
    let now = Instant::now();
    let mut tcb = tcb_sack(now);
    let p = send_segments(&mut tcb, now, 5000);
    let base = LOCAL_SEQ + 1;
    // One ACK (the others were lost) reports 3 segments above the hole: IsLost(HighACK + 1).
    let out = send!(tcb, now, sack_ack(base, 0, &[(1000, 4000)]));
    assert!(out.fast_retransmit);
    recv!(tcb, now, data_seg(base, &p[..1000], false));
    recv!(tcb, now, nothing);
}

#[test]
fn limited_transmit_sends_new_data_on_the_first_two_dup_acks() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    let p = payload(13_000);
    tcb.send(&p).unwrap();
    // Initial window: 10 segments.
    for _ in 0..10 {
        tcb.poll_segment(now, MAX_PAYLOAD).unwrap();
    }
    recv!(tcb, now, nothing);
    let base = LOCAL_SEQ + 1;
    // RFC 3042: one new segment per duplicate ACK, cwnd unchanged.
    send!(tcb, now, peer_ack(base));
    recv!(tcb, now, data_seg(base + 10_000, &p[10_000..11_000], false));
    recv!(tcb, now, nothing);
    send!(tcb, now, peer_ack(base));
    recv!(tcb, now, data_seg(base + 11_000, &p[11_000..12_000], false));
    recv!(tcb, now, nothing);
    assert_eq!(tcb.cwnd(), 10_000);
    // The third starts fast retransmit (RFC 5681 §3.2).
    assert!(send!(tcb, now, peer_ack(base)).fast_retransmit);
    recv!(tcb, now, data_seg(base, &p[..1000], false));
}

#[test]
fn limited_transmit_with_sack() {
    let now = Instant::now();
    let mut tcb = tcb_sack(now);
    let p = payload(13_000);
    tcb.send(&p).unwrap();
    for _ in 0..10 {
        tcb.poll_segment(now, MAX_PAYLOAD).unwrap();
    }
    let base = LOCAL_SEQ + 1;
    send!(tcb, now, sack_ack(base, 0, &[(1000, 2000)]));
    recv!(tcb, now, data_seg(base + 10_000, &p[10_000..11_000], false));
    recv!(tcb, now, nothing);
    send!(tcb, now, sack_ack(base, 0, &[(1000, 2000)]));
    recv!(tcb, now, nothing);
}

#[test]
fn rto_does_not_resend_sacked_data() {
    let now = Instant::now();
    let mut tcb = tcb_sack(now);
    let p = send_segments(&mut tcb, now, 5000);
    let base = LOCAL_SEQ + 1;
    // 1000..3000 SACKed; two DupAcks only, too few for DupThresh; the RTO fires.
    send!(tcb, now, sack_ack(base, 0, &[(1000, 2000)]));
    send!(tcb, now, sack_ack(base, 0, &[(1000, 3000)]));
    recv!(tcb, now, nothing);
    // Data sent after 0..1000 arrived and it did not: RACK (RFC 8985 §6.2) deems it lost
    // RACK.rtt (0 here) + reo_wnd (a quarter of the minimum RTT, measured 0 and counted as
    // the 1 ms clock granularity) after it left — before the probe timeout — and recovery
    // starts.
    let t = tcb.next_deadline().unwrap();
    assert_eq!(t, now + Duration::from_micros(250));
    let out = tcb.on_deadline(t);
    assert!(out.fast_retransmit && !out.retransmit_timeout);
    recv!(tcb, t, data_seg(base, &p[..1000], false));
    recv!(tcb, t, nothing);
    // No answer. Everything deemed lost went again, so a probe runs in recovery too: at the
    // probe timeout (its 10 ms floor here) the highest segment not SACKed goes again, and the
    // retransmission timer restarts from there.
    let sent = t;
    let t = tcb.next_deadline().unwrap();
    assert_eq!(t, sent + ms(10));
    let out = tcb.on_deadline(t);
    assert!(!out.retransmit_timeout);
    recv!(tcb, t, data_seg(base + 4000, &p[4000..5000], true));
    recv!(tcb, t, nothing);
    // Still no answer: the RTO.
    let probe = t;
    let t = tcb.next_deadline().unwrap();
    assert_eq!(t, probe + ms(200));
    assert!(tcb.on_deadline(t).retransmit_timeout);
    recv!(tcb, t, data_seg(base, &p[..1000], false));
    recv!(tcb, t, nothing);
    // The timeout deemed every segment not SACKed lost, and kept the SACKed ones: cwnd 2
    // segments after the ACK, the next lost data is 3000.., 1000..3000 is skipped.
    send!(tcb, t, sack_ack(base, 1000, &[(1000, 3000)]));
    recv!(tcb, t, data_seg(base + 3000, &p[3000..4000], false));
    recv!(tcb, t, data_seg(base + 4000, &p[4000..5000], true));
    recv!(tcb, t, nothing);
}

#[test]
fn reneging_peer_gets_sacked_data_again_after_rto() {
    let now = Instant::now();
    let mut tcb = tcb_sack(now);
    let p = send_segments(&mut tcb, now, 4000);
    let base = LOCAL_SEQ + 1;
    send!(tcb, now, sack_ack(base, 0, &[(2000, 3000)]));
    // The cumulative ACK stops inside SACKed data: the peer threw it away (RFC 2018 §8).
    send!(tcb, now, peer_ack(base + 2500));
    assert!(tcb.rec.scoreboard.is_empty());
    let t = tcb.next_deadline().unwrap();
    tcb.on_deadline(t);
    recv!(tcb, t, data_seg(base + 2500, &p[2500..3500], false));
}

#[test]
fn tail_loss_probe_sends_new_data_beyond_cwnd() {
    let now = Instant::now();
    let mut tcb = tcb_sack(now);
    let p = payload(12_000);
    tcb.send(&p).unwrap();
    // Initial window: 10 segments; 2000 bytes wait for cwnd.
    for _ in 0..10 {
        tcb.poll_segment(now, MAX_PAYLOAD).unwrap();
    }
    recv!(tcb, now, nothing);
    let base = LOCAL_SEQ + 1;
    let t = tcb.next_deadline().unwrap();
    assert_eq!(t, now + ms(10));
    tcb.on_deadline(t);
    recv!(tcb, t, data_seg(base + 10_000, &p[10_000..11_000], false));
    recv!(tcb, t, nothing);
    // Its SACK (the tail 9000..10000 was lost too) gives recovery something to work with.
    let out = send!(tcb, t, sack_ack(base, 0, &[(1000, 9000), (10_000, 11_000)]));
    assert!(out.fast_retransmit);
    recv!(tcb, t, data_seg(base, &p[..1000], false));
}

#[test]
fn tail_loss_probe_resends_the_last_segment_when_nothing_is_sacked() {
    let now = Instant::now();
    let mut tcb = tcb_sack(now);
    let p = send_segments(&mut tcb, now, 3000);
    let base = LOCAL_SEQ + 1;
    recv!(tcb, now, nothing);
    let t = tcb.next_deadline().unwrap();
    assert_eq!(t, now + ms(10));
    assert!(!tcb.on_deadline(t).retransmit_timeout);
    recv!(tcb, t, data_seg(base + 2000, &p[2000..], true));
    recv!(tcb, t, nothing);
    // The probe restarted the retransmission timer (RFC 8985 §7.3).
    assert_eq!(tcb.next_deadline(), Some(t + ms(200)), "then the RTO");
}

/// Proportional rate reduction (RFC 6937): NewReno halves the window at a loss, and PRR spreads
/// that reduction over the recovery round — while the pipe is above ssthresh one new segment
/// leaves for every two delivered (`⌈prr_delivered · ssthresh / RecoverFS⌉ − prr_out`), then
/// one per segment delivered (the slow-start reduction bound holds the pipe at ssthresh) —
/// instead of RFC 6675's silence until the pipe falls below ssthresh and a burst after.
#[test]
fn prr_spreads_the_window_reduction_over_the_recovery_round() {
    let now = Instant::now();
    let mut tcb = tcb_sack(now);
    let first = LOCAL_SEQ + 1;
    // Grow cwnd to 20 segments (slow start: +1 segment per ACK of one), widen the peer's window.
    send_segments(&mut tcb, now, 10_000);
    for i in 1..=10usize {
        send!(tcb, now, peer_ack(first + i * 1000));
    }
    assert_eq!(tcb.cwnd(), 20_000);
    let base = first + 10_000;
    let wide = |ack: usize, blocks: &[(usize, usize)]| TcpRepr {
        window_len: 60_000,
        ..sack_ack(base, ack, blocks)
    };
    send!(tcb, now, wide(0, &[]));
    let p = send_segments(&mut tcb, now, 40_000);
    assert_eq!(tcb.snd_nxt(), base + 20_000);
    // The first segment is lost; the next ones are SACKed one ACK at a time. The first two
    // DupAcks each release one new segment (limited transmit), the third starts recovery with
    // the fast retransmit: RecoverFS = 22 000, ssthresh = 11 000.
    send!(tcb, now, wide(0, &[(1000, 2000)]));
    recv!(tcb, now, data_seg(base + 20_000, &p[20_000..21_000], false));
    send!(tcb, now, wide(0, &[(1000, 3000)]));
    recv!(tcb, now, data_seg(base + 21_000, &p[21_000..22_000], false));
    let out = send!(tcb, now, wide(0, &[(1000, 4000)]));
    assert!(out.fast_retransmit);
    recv!(tcb, now, data_seg(base, &p[..1000], false));
    recv!(tcb, now, nothing);
    assert_eq!((tcb.rec.recover_fs, tcb.cc.ssthresh()), (22_000, 11_000));
    let mut next = 22_000;
    for sacked_to in 5..=22usize {
        send!(tcb, now, wide(0, &[(1000, sacked_to * 1000)]));
        let pipe_above = sacked_to <= 16;
        // Proportional phase: after the 7th, 9th, …, 15th segment delivered; then every ACK.
        let sends = if pipe_above {
            sacked_to % 2 == 1 && sacked_to >= 7
        } else {
            sacked_to >= 18
        };
        if sends {
            recv!(
                tcb,
                now,
                data_seg(base + next, &p[next..next + 1000], false)
            );
            next += 1000;
        }
        recv!(tcb, now, nothing);
        if sacked_to <= 15 {
            // prr_out follows ⌈prr_delivered · ssthresh / RecoverFS⌉ to the segment.
            let due = (tcb.rec.prr_delivered * 11_000).div_ceil(22_000);
            assert_eq!(
                tcb.rec.prr_out,
                due / 1000 * 1000,
                "SACKed to {sacked_to}000"
            );
        }
    }
    assert_eq!(next, 32_000, "ten segments in recovery's first round");
    assert_eq!(tcb.pipe(), 11_000, "the pipe ends at ssthresh");
}

/// D-SACK undo (RFC 2883, RFC 3708): three SACKs start a fast recovery, but the first segment
/// was only delayed — it arrives, the ACK covers everything, and the peer reports our
/// retransmission as a duplicate: the window comes back as it was before the recovery.
#[test]
fn dsack_for_every_retransmission_undoes_the_reduction() {
    let now = Instant::now();
    let mut tcb = tcb_sack(now);
    let base = LOCAL_SEQ + 1;
    send_segments(&mut tcb, now, 10_000);
    let cwnd = tcb.cwnd();
    three_sacks_above_a_lost_first_segment(&mut tcb, now, base);
    assert!(tcb.rec.in_recovery);
    let rtx = tcb.poll_segment(now, MAX_PAYLOAD).expect("fast retransmit");
    assert_eq!(rtx.repr().seq_number, base);
    while tcb.poll_segment(now, MAX_PAYLOAD).is_some() {}
    assert_eq!(tcb.cc.ssthresh(), 5_000);
    // The original arrives: everything is acknowledged (recovery over, window reduced)...
    send!(tcb, now, peer_ack(base + 10_000));
    assert!(!tcb.rec.in_recovery);
    assert!(tcb.cwnd() < cwnd);
    // ...then the duplicate: a D-SACK below the cumulative ACK.
    let out = send!(tcb, now, sack_ack(base, 10_000, &[(0, 1000)]));
    assert!(out.undo);
    assert_eq!((tcb.cwnd(), tcb.cc.ssthresh()), (cwnd, usize::MAX));
    // Once only.
    let out = send!(tcb, now, sack_ack(base, 10_000, &[(0, 1000)]));
    assert!(!out.undo);
}

/// A real loss: the retransmission fills the hole and no D-SACK comes; a D-SACK for data sent
/// before the recovery (a network duplicate of an old segment) does not count.
#[test]
fn no_undo_without_dsacks_for_the_recovery_retransmissions() {
    let now = Instant::now();
    let mut tcb = tcb_sack(now);
    let base = LOCAL_SEQ + 1;
    send_segments(&mut tcb, now, 4_000);
    send!(tcb, now, peer_ack(base + 1000));
    send_segments(&mut tcb, now, 10_000);
    three_sacks_above_a_lost_first_segment(&mut tcb, now, base + 1000);
    assert!(tcb.rec.in_recovery);
    while tcb.poll_segment(now, MAX_PAYLOAD).is_some() {}
    let reduced = tcb.cc.ssthresh();
    // A duplicate of the first segment (below the recovery's start) is reported.
    let out = send!(tcb, now, sack_ack(base, 1000, &[(0, 1000), (2000, 5000)]));
    assert!(!out.undo);
    let top = tcb.snd_max;
    send!(tcb, now, peer_ack(top));
    assert!(!tcb.rec.in_recovery);
    assert_eq!(tcb.cc.ssthresh(), reduced, "the reduction stands");
    assert!(tcb.rec.undo_cc.is_some() && tcb.rec.undo_retrans > 0);
}

/// A SACK connection whose handshake measured a 40 ms RTT, past one D-SACK (a duplicate of
/// its first segment): the path is known to reorder, and that round trip's D-SACK widened the
/// reordering window one step, to two quarters of the minimum RTT (RFC 8985 §6.2
/// `reo_wnd_mult` = 2): 20 ms. Returns it and the current instant.
pub(super) fn tcb_reordering_path(t0: Instant) -> (Tcb, Instant) {
    let mut tcb = tcb_sack_after(t0, ms(40));
    let now = t0 + ms(40);
    let base = LOCAL_SEQ + 1;
    send_segments(&mut tcb, now, 1000);
    let now = now + ms(40);
    send!(tcb, now, peer_ack(base + 1000));
    assert!(!tcb.rec.reordering_seen);
    send!(tcb, now, sack_ack(base, 1000, &[(0, 1000)]));
    assert!(tcb.rec.reordering_seen, "a D-SACK shows the path reorders");
    assert_eq!(tcb.rec.min_rtt, Some(ms(40)));
    (tcb, now)
}

/// RFC 8985 §6.2: once the path has reordered, three SACKed segments above a hole do not
/// start recovery at once; the hole gets a reordering window (20 ms). The late segment
/// arrives within it: no retransmission at all.
#[test]
fn reordering_window_spares_a_late_segment() {
    let (mut tcb, now) = tcb_reordering_path(Instant::now());
    let base = LOCAL_SEQ + 1001;
    send_segments(&mut tcb, now, 5_000);
    three_sacks_above_a_lost_first_segment(&mut tcb, now, base);
    assert!(!tcb.rec.in_recovery);
    recv!(tcb, now, nothing);
    assert_eq!(tcb.rec.reo_at, Some(now + ms(20)));
    assert_eq!(tcb.next_deadline(), Some(now + ms(20)));
    // The first segment was only late: everything is acknowledged 15 ms later.
    send!(tcb, now + ms(15), peer_ack(base + 5000));
    assert_eq!(tcb.rec.reo_at, None);
    assert!(!tcb.rec.in_recovery);
    recv!(tcb, now + ms(15), nothing);
}

/// The same, but the segment is really lost: when the window passes, recovery starts with the
/// fast retransmit of the hole.
#[test]
fn reordering_window_then_fast_retransmit() {
    let (mut tcb, now) = tcb_reordering_path(Instant::now());
    let base = LOCAL_SEQ + 1001;
    let p = send_segments(&mut tcb, now, 5_000);
    three_sacks_above_a_lost_first_segment(&mut tcb, now, base);
    recv!(tcb, now, nothing);
    let t = tcb.next_deadline().expect("the reordering window");
    assert_eq!(t, now + ms(20));
    let out = tcb.on_deadline(t);
    assert!(out.fast_retransmit);
    assert!(tcb.rec.in_recovery);
    recv!(tcb, t, data_seg(base, &p[..1000], false));
}
