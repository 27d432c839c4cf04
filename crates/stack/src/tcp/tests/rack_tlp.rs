//! RACK-TLP (RFC 8985) through the connection, segment by segment: loss marking by time,
//! lost retransmissions, the reordering window on a path that reorders, the tail loss probe
//! and what its ACKs say, and a timeout that keeps the SACK information.

use super::retransmit::{sack_ack, send_segments, tcb_reordering_path, tcb_sack_after};
use super::*;
use crate::tcp::congestion::Controller;

/// A SACK connection (NewReno) whose handshake measured 40 ms; returns it and the instant.
fn tcb_40ms(t0: Instant) -> (Tcb, Instant) {
    (tcb_sack_after(t0, ms(40)), t0 + ms(40))
}

/// RFC 8985 §6.2: a segment is lost once `RACK.rtt + reo_wnd` passed since it left, where
/// `RACK.rtt` is the RTT of the most recently sent segment delivered. Four segments leave
/// 2 ms apart; the third is SACKed 40 ms after it left. With one SACK, reo_wnd is a quarter
/// of the 40 ms minimum RTT: the first segment is lost at its send time + 50 ms, the second
/// at its own + 50 ms — each by the reordering timer, not by counting SACKs.
#[test]
fn each_segment_is_lost_rack_rtt_plus_reo_wnd_after_it_left() {
    let (mut tcb, now) = tcb_40ms(Instant::now());
    let base = LOCAL_SEQ + 1;
    let p = payload(4000);
    tcb.send(&p).unwrap();
    for i in 0..4usize {
        // Pacing-like spacing: one segment every 2 ms.
        let t = now + ms(2 * i as u64);
        let seg = tcb.poll_segment(t, MAX_PAYLOAD).expect("a segment");
        assert_eq!(seg.repr().seq_number, base + i * 1000);
    }
    // The third (sent at +4) is SACKed at +44: RACK.rtt = 40 ms.
    let t = now + ms(44);
    let out = send!(tcb, t, sack_ack(base, 0, &[(2000, 3000)]));
    assert!(!out.fast_retransmit);
    assert_eq!(tcb.rack_rtt(), Some(ms(40)));
    recv!(tcb, t, nothing);
    // First segment: sent at +0, lost at +0 + 40 + 10.
    assert_eq!(tcb.rec.reo_at, Some(now + ms(50)));
    let out = tcb.on_deadline(now + ms(50));
    assert!(out.fast_retransmit, "the reordering timer found the loss");
    recv!(tcb, now + ms(50), data_seg(base, &p[..1000], false));
    // Second segment: sent at +2, lost at +52 (the timer re-armed for it).
    assert_eq!(tcb.rec.reo_at, Some(now + ms(52)));
    tcb.on_deadline(now + ms(52));
    assert_eq!(tcb.rec.rack.next_lost(base), Some((base + 1000, 1000)));
    // In recovery PRR sends in proportion to what is delivered: nothing yet.
    recv!(tcb, now + ms(52), nothing);
    // The fourth (which left after the SACKed one, never deemed lost) is SACKed: room.
    let t = now + ms(54);
    send!(tcb, t, sack_ack(base, 0, &[(2000, 4000)]));
    recv!(tcb, t, data_seg(base + 1000, &p[1000..2000], false));
    recv!(tcb, t, nothing);
    assert_eq!(tcb.rec.rack.lost_bytes(), 0);
    assert_eq!(tcb.rec.reo_at, None);
}

/// RFC 8985 §6.2: a retransmission has its own transmit time, so when data sent after it is
/// delivered and it is not, it is lost by the same rule — no RTO needed. 0..1000 is lost, the
/// fast retransmit of it too; new data sent 1 ms after the retransmission is SACKed 40 ms
/// later: the retransmission goes again at once (in recovery, with no reordering seen, the
/// reordering window is zero).
#[test]
fn a_lost_retransmission_is_found_by_time() {
    let (mut tcb, now) = tcb_40ms(Instant::now());
    let base = LOCAL_SEQ + 1;
    let p = send_segments(&mut tcb, now, 4000);
    let t = now + ms(40);
    // One ACK SACKs three segments (DupThresh): reo_wnd 0, 0..1000 lost, recovery.
    let out = send!(tcb, t, sack_ack(base, 0, &[(1000, 4000)]));
    assert!(out.fast_retransmit);
    recv!(tcb, t, data_seg(base, &p[..1000], false));
    recv!(tcb, t, nothing);
    // The user writes more; PRR lets one new segment out 1 ms later.
    let q = payload(1000);
    tcb.send(&q).unwrap();
    let t1 = t + ms(1);
    recv!(tcb, t1, data_seg(base + 4000, &q, true));
    // It is SACKed 40 ms later; the retransmission, sent before it, is not: lost again.
    let t2 = t1 + ms(40);
    let out = send!(tcb, t2, sack_ack(base, 0, &[(1000, 5000)]));
    assert!(
        !out.retransmit_timeout && !out.fast_retransmit,
        "same recovery"
    );
    recv!(tcb, t2, data_seg(base, &p[..1000], false));
    recv!(tcb, t2, nothing);
    assert_eq!(tcb.rec.rack.lost_bytes(), 0);
    // Its ACK ends the recovery; nothing else was resent.
    send!(tcb, t2 + ms(40), peer_ack(base + 5000));
    assert!(!tcb.rec.in_recovery);
    assert_eq!(tcb.next_deadline(), None);
}

/// On a path known to reorder (D-SACK seen: reo_wnd 20 ms), a retransmission overtaken by
/// later data is given the window too: lost only `RACK.rtt + reo_wnd` after it left, by the
/// reordering timer.
#[test]
fn on_a_reordering_path_a_lost_retransmission_waits_the_window() {
    let (mut tcb, now) = tcb_reordering_path(Instant::now());
    let base = LOCAL_SEQ + 1001;
    let p = send_segments(&mut tcb, now, 5000);
    let t = now + ms(40);
    send!(tcb, t, sack_ack(base, 0, &[(1000, 4000)]));
    // DupThresh SACKs no longer make the window zero: 0..1000 waits until +40 + 20.
    recv!(tcb, t, nothing);
    assert_eq!(tcb.rec.reo_at, Some(now + ms(60)));
    let t1 = now + ms(60);
    assert!(tcb.on_deadline(t1).fast_retransmit);
    recv!(tcb, t1, data_seg(base, &p[..1000], false));
    // A late SACK for 4000..5000 lets PRR send new data, 1 ms after the retransmission.
    let q = payload(1000);
    tcb.send(&q).unwrap();
    let t2 = t1 + ms(1);
    send!(tcb, t2, sack_ack(base, 0, &[(1000, 5000)]));
    recv!(tcb, t2, data_seg(base + 5000, &q, true));
    // The new segment is SACKed 40 ms after it left: RACK.rtt 40 ms; the retransmission
    // (1 ms older) is lost at t1 + 40 + 20, not before.
    let t3 = t2 + ms(40);
    send!(tcb, t3, sack_ack(base, 0, &[(1000, 6000)]));
    recv!(tcb, t3, nothing);
    assert_eq!(tcb.rec.reo_at, Some(t1 + ms(60)));
    tcb.on_deadline(t1 + ms(60));
    recv!(tcb, t1 + ms(60), data_seg(base, &p[..1000], false));
}

/// RFC 8985 §6.2 step 4: each round trip that brings a D-SACK widens the window by a quarter
/// of the minimum RTT. After a second D-SACK one round later (reo_wnd_mult 3: 30 ms), a hole
/// below three SACKed segments waits 30 ms.
#[test]
fn a_dsack_in_a_later_round_widens_the_window() {
    let (mut tcb, now) = tcb_reordering_path(Instant::now());
    let base = LOCAL_SEQ + 1001;
    send_segments(&mut tcb, now, 1000);
    let now = now + ms(40);
    send!(tcb, now, peer_ack(base + 1000));
    // SND.UNA passed the first D-SACK's round: a new D-SACK counts.
    send!(tcb, now, sack_ack(base, 1000, &[(0, 1000)]));
    assert_eq!(tcb.rec.reo_wnd(tcb.rtt.srtt()), ms(30));
    let base = base + 1000;
    let p = send_segments(&mut tcb, now, 4000);
    let t = now + ms(40);
    send!(tcb, t, sack_ack(base, 0, &[(1000, 4000)]));
    recv!(tcb, t, nothing);
    assert_eq!(tcb.rec.reo_at, Some(t + ms(30)));
    assert!(tcb.on_deadline(t + ms(30)).fast_retransmit);
    recv!(tcb, t + ms(30), data_seg(base, &p[..1000], false));
}

/// RFC 8985 §7: with nothing acknowledged for a PTO (2 · SRTT = 80 ms here), the last segment
/// goes again as a probe, the RTO restarts from it; the ACK of data beyond the probe, without
/// a D-SACK for it, shows the probe repaired a loss: the window is reduced (as a fast
/// recovery that ends at once).
#[test]
fn a_tail_loss_probe_that_repairs_a_loss_reduces_the_window() {
    let (mut tcb, now) = tcb_40ms(Instant::now());
    let base = LOCAL_SEQ + 1;
    let p = send_segments(&mut tcb, now, 3000);
    assert_eq!(tcb.tlp_deadline(), Some(now + ms(80)));
    let pto = now + ms(80);
    let out = tcb.on_deadline(pto);
    assert!(!out.retransmit_timeout);
    recv!(tcb, pto, data_seg(base + 2000, &p[2000..], true));
    recv!(tcb, pto, nothing);
    assert_eq!(tcb.rec.tlp.end_seq, Some(base + 3000));
    assert_eq!(
        tcb.next_deadline(),
        Some(pto + tcb.rto()),
        "the RTO from the probe"
    );
    // Its ACK: everything up to the probe's end. The episode waits for more.
    let out = send!(tcb, pto + ms(40), peer_ack(base + 3000));
    assert!(!out.tlp_repaired);
    let cwnd = tcb.cwnd();
    // New data, acknowledged beyond the probe: the tail had been lost.
    let q = send_segments(&mut tcb, pto + ms(40), 1000);
    assert_eq!(q.len(), 1000);
    let out = send!(tcb, pto + ms(80), peer_ack(base + 4000));
    assert!(out.tlp_repaired);
    // The window (grown by this ACK in slow start) halved, at once.
    assert_eq!(tcb.cc.ssthresh(), (cwnd + 1000) / 2);
    assert_eq!(tcb.cwnd(), (cwnd + 1000) / 2);
    assert_eq!(tcb.rec.tlp.end_seq, None);
}

/// The same probe, but the original arrived too: the peer reports the probe as a duplicate
/// (D-SACK), nothing was lost and the window stays.
#[test]
fn a_tail_loss_probe_reported_as_a_duplicate_changes_nothing() {
    let (mut tcb, now) = tcb_40ms(Instant::now());
    let base = LOCAL_SEQ + 1;
    let p = send_segments(&mut tcb, now, 3000);
    let pto = now + ms(80);
    tcb.on_deadline(pto);
    recv!(tcb, pto, data_seg(base + 2000, &p[2000..], true));
    send!(tcb, pto + ms(1), peer_ack(base + 3000));
    let cwnd = tcb.cwnd();
    let out = send!(tcb, pto + ms(40), sack_ack(base, 3000, &[(2000, 3000)]));
    assert!(!out.tlp_repaired);
    assert_eq!(tcb.rec.tlp.end_seq, None, "the episode ended");
    let _ = send_segments(&mut tcb, pto + ms(40), 1000);
    let out = send!(tcb, pto + ms(80), peer_ack(base + 4000));
    assert!(!out.tlp_repaired);
    assert!(tcb.cwnd() >= cwnd);
}

/// No probe in recovery (RFC 8985 §7.2): when every ACK is lost the RTO follows. It deems
/// every segment not SACKed lost and keeps the SACKed ones: after it, with the window at one
/// segment, only the holes go, one window at a time.
#[test]
fn a_timeout_resends_only_what_sack_did_not_report() {
    let (mut tcb, now) = tcb_40ms(Instant::now());
    let base = LOCAL_SEQ + 1;
    let p = send_segments(&mut tcb, now, 5000);
    // 1000..2000 and 3000..4000 arrive; two SACKs (fewer than DupThresh) at +40.
    let t = now + ms(40);
    send!(tcb, t, sack_ack(base, 0, &[(1000, 2000)]));
    send!(tcb, t, sack_ack(base, 0, &[(3000, 4000), (1000, 2000)]));
    // RACK: 0..1000 and 2000..3000 left with (before) the SACKed ones: lost at +40 + 10.
    assert_eq!(tcb.rec.reo_at, Some(t + ms(10)));
    // The reordering timer, then recovery; suppose every ACK is lost from now on.
    assert!(tcb.on_deadline(t + ms(10)).fast_retransmit);
    recv!(tcb, t + ms(10), data_seg(base, &p[..1000], false));
    while tcb.poll_segment(t + ms(10), MAX_PAYLOAD).is_some() {}
    // No probe in recovery: the RTO (200 ms from the first send).
    let rto = tcb.next_deadline().unwrap();
    assert_eq!(rto, now + ms(200));
    assert!(tcb.on_deadline(rto).retransmit_timeout);
    assert_eq!(tcb.cwnd(), 1000);
    recv!(tcb, rto, data_seg(base, &p[..1000], false));
    recv!(tcb, rto, nothing);
    // Its ACK: the window is two segments; the holes at 2000 and 4000 go, not the SACKed
    // 3000..4000.
    send!(
        tcb,
        rto + ms(40),
        sack_ack(base, 1000, &[(1000, 2000), (3000, 4000)])
    );
    recv!(
        tcb,
        rto + ms(40),
        data_seg(base + 2000, &p[2000..3000], false)
    );
    recv!(tcb, rto + ms(40), data_seg(base + 4000, &p[4000..], true));
    recv!(tcb, rto + ms(40), nothing);
}

/// RFC 8985 §7.2: the PTO is capped by the retransmission timer. After a few 100 ms round
/// trips the RTO has shrunk to about 2 × SRTT; with one segment in flight the PTO
/// (2 · SRTT + the 40 ms delayed-ACK allowance) would come later, so the probe fires at the
/// RTO's instant instead of the RTO, and the RTO restarts from it (§7.3).
#[test]
fn the_probe_timeout_is_capped_by_the_rto() {
    let t0 = Instant::now();
    let mut tcb = tcb_sack_after(t0, ms(100));
    let mut now = t0 + ms(100);
    let base = LOCAL_SEQ + 1;
    for i in 0..4usize {
        send_segments(&mut tcb, now, 100);
        now += ms(100);
        send!(tcb, now, peer_ack(base + (i + 1) * 100));
    }
    let p = send_segments(&mut tcb, now, 100);
    let rto = tcb.rto();
    let srtt = tcb.rtt.srtt().unwrap();
    assert!(srtt * 2 + ms(40) > rto, "SRTT {srtt:?}, RTO {rto:?}");
    assert_eq!(tcb.tlp_deadline(), Some(now + rto));
    let out = tcb.on_deadline(now + rto);
    assert!(!out.retransmit_timeout, "the probe, not the timeout");
    recv!(tcb, now + rto, data_seg(base + 400, &p, true));
    assert_eq!(tcb.next_deadline(), Some(now + rto + rto));
}
