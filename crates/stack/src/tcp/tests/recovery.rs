//! The recovery module: a hole with fewer than DupThresh segments SACKed above it is lost
//! `RACK.rtt + reo_wnd` after it left (RFC 8985 §6.2), on a path known to reorder even with
//! more; against a Linux-like peer (timestamps, SACK, window scale), spurious retransmission
//! timeouts detected by the echoed timestamp (RFC 3522) and undone (RFC 4015). More RACK-TLP
//! rules, segment by segment: `rack_tlp.rs`.

use super::options::{established, FULL_WND, PEER_TS};
use super::retransmit::{sack_ack, send_segments, tcb_sack_after};
use super::*;

/// One segment SACKed above a lost first one (min RTT 40 ms, no reordering seen): RACK
/// deems the hole lost a quarter of the minimum RTT later, long before DupThresh SACKs or the
/// probe timeout (2 × SRTT = 80 ms) would.
#[test]
fn a_hole_below_one_sacked_segment_is_lost_after_a_quarter_rtt() {
    let t0 = Instant::now();
    let mut tcb = tcb_sack_after(t0, ms(40));
    let now = t0 + ms(40);
    let base = LOCAL_SEQ + 1;
    let p = send_segments(&mut tcb, now, 3000);
    let t = now + ms(40);
    let out = send!(tcb, t, sack_ack(base, 0, &[(1000, 2000)]));
    assert!(!out.fast_retransmit);
    recv!(tcb, t, nothing);
    assert_eq!(tcb.next_deadline(), Some(t + ms(10)));
    let out = tcb.on_deadline(t + ms(10));
    assert!(out.fast_retransmit);
    recv!(tcb, t + ms(10), data_seg(base, &p[..1000], false));
}

/// On a path known to reorder (a hole was filled by its original, RFC 8985 §6.2 step 3),
/// DupThresh SACKed segments above a hole no longer shrink the reordering window to zero:
/// the hole still gets `RACK.rtt + reo_wnd` from when it left.
#[test]
fn on_a_reordering_path_dupthresh_sacks_wait_the_window() {
    let t0 = Instant::now();
    let mut tcb = tcb_sack_after(t0, ms(40));
    let now = t0 + ms(40);
    let base = LOCAL_SEQ + 1;
    send_segments(&mut tcb, now, 3000);
    // The hole below 1000..2000 is filled by its original: the path reorders.
    send!(tcb, now + ms(40), sack_ack(base, 0, &[(1000, 2000)]));
    send!(tcb, now + ms(41), sack_ack(base, 2000, &[]));
    assert!(tcb.rec.reordering_seen);
    let sent = now + ms(41);
    let p = send_segments(&mut tcb, sent, 5000);
    let t = sent + ms(40);
    for x in 2..=4usize {
        let out = send!(tcb, t, sack_ack(base, 3000, &[(4000, 3000 + x * 1000)]));
        assert!(!out.fast_retransmit);
    }
    recv!(tcb, t, nothing);
    // RACK.rtt 40 ms + reo_wnd (a quarter of the 40 ms minimum RTT) after it left.
    assert_eq!(tcb.rec.reo_at, Some(sent + ms(50)));
    assert_eq!(tcb.next_deadline(), Some(t + ms(10)));
    let out = tcb.on_deadline(t + ms(10));
    assert!(out.fast_retransmit);
    recv!(tcb, t + ms(10), data_seg(base + 3000, &p[..1000], false));
}

/// The same hole, only late: it arrives within the window and nothing is resent.
#[test]
fn a_late_segment_within_the_quarter_rtt_is_not_resent() {
    let t0 = Instant::now();
    let mut tcb = tcb_sack_after(t0, ms(40));
    let now = t0 + ms(40);
    let base = LOCAL_SEQ + 1;
    send_segments(&mut tcb, now, 3000);
    let t = now + ms(40);
    send!(tcb, t, sack_ack(base, 0, &[(1000, 2000)]));
    send!(tcb, t + ms(5), sack_ack(base, 2000, &[]));
    assert_eq!(tcb.rec.reo_at, None);
    recv!(tcb, t + ms(5), nothing);
    send!(tcb, t + ms(6), peer_ack(base + 3000));
    assert!(!tcb.rec.in_recovery);
    assert_eq!(tcb.next_deadline(), None);
}

/// Our data segment at `off` bytes into our stream, sent when our TS clock read `tsval`.
fn ours(off: usize, p: &[u8], tsval: u32, last: bool) -> TcpRepr<'_> {
    TcpRepr {
        control: if last {
            TcpControl::Psh
        } else {
            TcpControl::None
        },
        seq_number: LOCAL_SEQ + 1 + off,
        ack_number: Some(REMOTE_SEQ + 1),
        window_len: FULL_WND,
        timestamp: Some((tsval, PEER_TS + 1)),
        payload: p,
        ..RECV_TEMPL
    }
}

/// The peer's ACK of `acked` bytes of our stream, echoing `tsecr`.
fn peer(acked: usize, tsecr: u32) -> TcpRepr<'static> {
    TcpRepr {
        seq_number: REMOTE_SEQ + 1,
        ack_number: Some(LOCAL_SEQ + 1 + acked),
        window_len: 502,
        timestamp: Some((PEER_TS + 1, tsecr)),
        ..SEND_TEMPL
    }
}

/// Three full segments sent at `now`, then the tail loss probe (the last one again at +10 ms,
/// which restarts the retransmission timer, RFC 8985 §7.3) and the retransmission timeout
/// (the first one again at +210 ms) with no ACK. Returns the
/// payload, our TSval at `now` and at the timeout, and the window before the timeout.
fn timeout_after_three_segments(tcb: &mut Tcb, now: Instant, ts0: u32) -> (Vec<u8>, u32, usize) {
    let p = payload(3 * 1448);
    tcb.send(&p).unwrap();
    recv!(*tcb, now, ours(0, &p[..1448], ts0, false));
    recv!(*tcb, now, ours(1448, &p[1448..2896], ts0, false));
    recv!(*tcb, now, ours(2896, &p[2896..], ts0, true));
    let tlp = now + ms(10);
    assert_eq!(tcb.next_deadline(), Some(tlp));
    assert!(!tcb.on_deadline(tlp).retransmit_timeout);
    recv!(*tcb, tlp, ours(2896, &p[2896..], ts0 + 10, true));
    let cwnd = tcb.cwnd();
    let rto = tlp + ms(200);
    assert_eq!(tcb.next_deadline(), Some(rto));
    assert!(tcb.on_deadline(rto).retransmit_timeout);
    recv!(*tcb, rto, ours(0, &p[..1448], ts0 + 210, false));
    recv!(*tcb, rto, nothing);
    assert_eq!(
        tcb.cwnd(),
        1448,
        "the timeout collapses the window to one segment"
    );
    (p, ts0 + 210, cwnd)
}

#[test]
fn an_ack_echoing_the_original_undoes_a_spurious_timeout() {
    let now = Instant::now();
    let (mut tcb, ts0) = established(now);
    let (_, _, cwnd) = timeout_after_three_segments(&mut tcb, now, ts0);
    // The first ACK after the timeout echoes the TSval of the original first segment: it was
    // only delayed (RFC 3522). Window back, and the other two segments are not sent again.
    let t = now + ms(220);
    let out = send!(tcb, t, peer(1448, ts0));
    assert!(out.rto_undo);
    assert!(tcb.cwnd() >= cwnd, "{} < {cwnd}", tcb.cwnd());
    recv!(tcb, t, nothing);
    // They arrive in turn; nothing was resent.
    let out = send!(tcb, t, peer(3 * 1448, ts0));
    assert!(!out.rto_undo);
    recv!(tcb, t, nothing);
    assert_eq!(tcb.next_deadline(), None);
}

#[test]
fn an_ack_echoing_the_retransmission_keeps_the_timeout() {
    let now = Instant::now();
    let (mut tcb, ts0) = established(now);
    let (p, ts_rto, cwnd) = timeout_after_three_segments(&mut tcb, now, ts0);
    // The same ACK, but echoing the retransmission's TSval: the original was lost.
    let t = now + ms(220);
    let out = send!(tcb, t, peer(1448, ts_rto));
    assert!(!out.rto_undo);
    assert!(tcb.cwnd() < cwnd);
    // Go-back-N goes on: slow start from one segment lets two out.
    recv!(tcb, t, ours(1448, &p[1448..2896], ts0 + 220, false));
    recv!(tcb, t, ours(2896, &p[2896..], ts0 + 220, true));
    recv!(tcb, t, nothing);
}

#[test]
fn a_timeout_series_is_judged_against_its_first_retransmission() {
    let now = Instant::now();
    let (mut tcb, ts0) = established(now);
    let (p, _, cwnd) = timeout_after_three_segments(&mut tcb, now, ts0);
    // A second timeout (backed off to 400 ms) sends the first segment once more.
    let rto2 = now + ms(610);
    assert_eq!(tcb.next_deadline(), Some(rto2));
    assert!(tcb.on_deadline(rto2).retransmit_timeout);
    recv!(tcb, rto2, ours(0, &p[..1448], ts0 + 610, false));
    // An echo of the first retransmission (sent at +210 ms) is not older than the series:
    // the original was lost, no undo.
    let out = send!(tcb, rto2 + ms(5), peer(1448, ts0 + 210));
    assert!(!out.rto_undo);
    assert!(tcb.cwnd() < cwnd);
}
