//! Loss recovery: RTO with exponential backoff and Karn's rule (RFC 6298), fast retransmit
//! and NewReno partial ACKs (RFC 5681, RFC 6582), giving up, keep-alive (RFC 9293 §3.8.4).

use super::*;
use crate::tcp::tcb::TcpError;

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

fn data_seg(seq: SeqNumber, p: &[u8], last: bool) -> TcpRepr<'_> {
    TcpRepr {
        control: if last {
            TcpControl::Psh
        } else {
            TcpControl::None
        },
        payload: p,
        ..our_ack(seq, REMOTE_SEQ + 1)
    }
}

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
    let mut tcb = tcb_established(now);
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

#[test]
fn sack_recovery_fills_every_hole_without_waiting_a_round_trip() {
    let now = Instant::now();
    let config = TcpConfig {
        sack: true,
        ..cfg()
    };
    let syn = TcpRepr {
        sack_permitted: true,
        ..remote_syn()
    };
    let mut tcb = Tcb::listen_syn(&config, tuple(), &syn, LOCAL_SEQ, now);
    tcb.poll_segment(now, MAX_PAYLOAD).unwrap();
    send!(tcb, now, peer_ack(LOCAL_SEQ + 1));
    assert!(tcb.sack_ok);
    let p = payload(6000);
    tcb.send(&p).unwrap();
    for _ in 0..6 {
        tcb.poll_segment(now, MAX_PAYLOAD).unwrap();
    }
    let base = LOCAL_SEQ + 1;
    let sack = |blocks: &[(usize, usize)]| {
        let mut r = [None; 4];
        for (slot, (l, h)) in r.iter_mut().zip(blocks) {
            *slot = Some(((base + *l).0, (base + *h).0));
        }
        TcpRepr {
            sack_ranges: r,
            ..peer_ack(base + 1000)
        }
    };
    // Segments 2 (1000..2000) and 4 (3000..4000) are lost.
    send!(tcb, now, peer_ack(base + 1000));
    send!(tcb, now, sack(&[(2000, 3000)]));
    send!(tcb, now, sack(&[(4000, 5000), (2000, 3000)]));
    recv!(tcb, now, nothing);
    send!(tcb, now, sack(&[(4000, 6000), (2000, 3000)]));
    recv!(tcb, now, data_seg(base + 1000, &p[1000..2000], false));
    // The next duplicate ACK retransmits the second hole at once (RFC 6675), not after
    // the partial ACK a round trip later (RFC 6582).
    send!(tcb, now, sack(&[(4000, 6000), (2000, 3000)]));
    recv!(tcb, now, data_seg(base + 3000, &p[3000..4000], false));
    recv!(tcb, now, nothing);
    // The partial ACK for the first hole finds nothing left to resend.
    send!(
        tcb,
        now,
        TcpRepr {
            sack_ranges: [Some(((base + 4000).0, (base + 6000).0)), None, None, None],
            ..peer_ack(base + 3000)
        }
    );
    recv!(tcb, now, nothing);
    send!(tcb, now, peer_ack(base + 6000));
    assert_eq!(tcb.send_queue(), 0);
    assert!(!tcb.in_recovery);
}
