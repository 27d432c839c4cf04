//! ESTABLISHED, sending: segmentation by MSS and path MTU, send and congestion windows,
//! sender SWS avoidance, persist timer and zero-window probes (RFC 9293 §3.8.6, RFC 5681).

use super::*;
use crate::tcp::tcb::TcpError;

#[test]
fn small_write_goes_out_at_once_with_psh() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    assert_eq!(tcb.send(b"hello"), Ok(5));
    recv!(tcb, now, data_seg(LOCAL_SEQ + 1, b"hello", true));
    recv!(tcb, now, nothing);
    // The handshake measured an RTT of 0: RTO = the 200 ms minimum.
    assert_eq!(tcb.next_deadline(), Some(now + ms(200)), "RTO armed");
    let out = send!(tcb, now + ms(10), peer_ack(LOCAL_SEQ + 6));
    assert!(out.writable);
    assert_eq!(tcb.send_queue(), 0);
    assert_eq!(
        tcb.next_deadline(),
        None,
        "RTO stopped when all is acknowledged"
    );
}

#[test]
fn segments_by_mss_within_initial_cwnd() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    let p = payload(25_000);
    assert_eq!(tcb.send(&p), Ok(25_000));
    // Initial window 10 segments of the peer's MSS (RFC 6928).
    for i in 0..10 {
        recv!(
            tcb,
            now,
            data_seg(
                LOCAL_SEQ + 1 + i * 1000,
                &p[i * 1000..(i + 1) * 1000],
                false
            )
        );
    }
    recv!(tcb, now, nothing);
    // ACK of two segments: slow start opens cwnd by 2 SMSS → four more segments.
    send!(tcb, now, peer_ack(LOCAL_SEQ + 2001));
    for i in 10..14 {
        recv!(
            tcb,
            now,
            data_seg(
                LOCAL_SEQ + 1 + i * 1000,
                &p[i * 1000..(i + 1) * 1000],
                false
            )
        );
    }
    recv!(tcb, now, nothing);
}

#[test]
fn path_mtu_bounds_segments() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    tcb.set_path_mtu(576);
    let p = payload(1200);
    tcb.send(&p).unwrap();
    recv!(tcb, now, data_seg(LOCAL_SEQ + 1, &p[..536], false));
    recv!(tcb, now, data_seg(LOCAL_SEQ + 537, &p[536..1072], false));
    recv!(tcb, now, data_seg(LOCAL_SEQ + 1073, &p[1072..], true));
}

#[test]
fn max_payload_from_shard_bounds_segments() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    let p = payload(1000);
    tcb.send(&p).unwrap();
    let s = tcb.poll_segment(now, 600).unwrap();
    assert_eq!(s.payload_len(), 600);
}

#[test]
fn peer_window_limits_and_sender_sws_waits() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    send!(
        tcb,
        now,
        TcpRepr {
            window_len: 2500,
            ..peer_ack(LOCAL_SEQ + 1)
        }
    );
    let p = payload(5000);
    tcb.send(&p).unwrap();
    recv!(tcb, now, data_seg(LOCAL_SEQ + 1, &p[..1000], false));
    recv!(tcb, now, data_seg(LOCAL_SEQ + 1001, &p[1000..2000], false));
    // 500 bytes of window: less than an MSS and less than half the largest window seen.
    recv!(tcb, now, nothing);
    send!(
        tcb,
        now,
        TcpRepr {
            window_len: 2500,
            ..peer_ack(LOCAL_SEQ + 2001)
        }
    );
    recv!(tcb, now, data_seg(LOCAL_SEQ + 2001, &p[2000..3000], false));
    recv!(tcb, now, data_seg(LOCAL_SEQ + 3001, &p[3000..4000], false));
}

#[test]
fn sws_override_timer_sends_small_segment() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    send!(
        tcb,
        now,
        TcpRepr {
            window_len: 500,
            ..peer_ack(LOCAL_SEQ + 1)
        }
    );
    let p = payload(3000);
    tcb.send(&p).unwrap();
    recv!(tcb, now, nothing);
    let t = tcb.next_deadline().expect("override timer");
    assert_eq!(t, now + ms(200));
    tcb.on_deadline(t);
    recv!(tcb, t, data_seg(LOCAL_SEQ + 1, &p[..500], false));
}

#[test]
fn zero_window_probes_with_backoff_until_window_opens() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    send!(
        tcb,
        now,
        TcpRepr {
            window_len: 0,
            ..peer_ack(LOCAL_SEQ + 1)
        }
    );
    tcb.send(b"blocked").unwrap();
    recv!(tcb, now, nothing);
    let t1 = tcb.next_deadline().expect("persist timer");
    assert_eq!(t1, now + ms(200));
    tcb.on_deadline(t1);
    let probe = our_ack(LOCAL_SEQ, REMOTE_SEQ + 1);
    recv!(tcb, t1, probe);
    let t2 = tcb.next_deadline().expect("persist timer again");
    assert_eq!(t2, t1 + ms(400), "persist interval backs off");
    tcb.on_deadline(t2);
    recv!(tcb, t2, probe);
    // The peer answers the probe with an open window.
    send!(
        tcb,
        t2,
        TcpRepr {
            window_len: 1000,
            ..peer_ack(LOCAL_SEQ + 1)
        }
    );
    recv!(tcb, t2, data_seg(LOCAL_SEQ + 1, b"blocked", true));
}

#[test]
fn send_buffer_full_would_block() {
    let now = Instant::now();
    let mut tcb = tcb_established_with(
        &TcpConfig {
            snd_buf: 100,
            ..cfg()
        },
        now,
    );
    assert_eq!(tcb.send(&payload(150)), Ok(100));
    assert_eq!(tcb.send(b"x"), Err(TcpError::WouldBlock));
    assert!(!tcb.is_writable());
    tcb.poll_segment(now, MAX_PAYLOAD).unwrap();
    let out = send!(tcb, now, peer_ack(LOCAL_SEQ + 51));
    assert!(out.writable);
    assert_eq!(tcb.send_capacity(), 50);
}

#[test]
fn nagle_holds_small_segment_while_data_in_flight() {
    let now = Instant::now();
    let mut tcb = tcb_established_with(
        &TcpConfig {
            nagle: true,
            ..cfg()
        },
        now,
    );
    tcb.send(b"one").unwrap();
    recv!(tcb, now, data_seg(LOCAL_SEQ + 1, b"one", true));
    tcb.send(b"two").unwrap();
    recv!(tcb, now, nothing);
    send!(tcb, now, peer_ack(LOCAL_SEQ + 4));
    recv!(tcb, now, data_seg(LOCAL_SEQ + 4, b"two", true));
}

#[test]
fn data_piggybacks_pending_ack() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    send!(
        tcb,
        now,
        TcpRepr {
            payload: b"GET /",
            ..peer_ack(LOCAL_SEQ + 1)
        }
    );
    let mut buf = [0u8; 16];
    assert_eq!(tcb.recv(&mut buf), Ok(5));
    tcb.send(b"200 OK").unwrap();
    recv!(
        tcb,
        now,
        TcpRepr {
            control: TcpControl::Psh,
            payload: b"200 OK",
            window_len: WND - 5,
            ..our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 6)
        }
    );
    recv!(tcb, now, nothing);
    assert_eq!(
        tcb.next_deadline(),
        Some(now + ms(200)),
        "only the RTO is left"
    );
}

#[test]
fn zero_window_with_data_in_flight_probes_instead_of_giving_up() {
    let now = Instant::now();
    let mut tcb = tcb_established_with(
        &TcpConfig {
            max_retries: 2,
            ..cfg()
        },
        now,
    );
    tcb.send(b"abc").unwrap();
    recv!(tcb, now, data_seg(LOCAL_SEQ + 1, b"abc", true));
    // The peer took nothing and closed its window.
    send!(
        tcb,
        now,
        TcpRepr {
            window_len: 0,
            ..peer_ack(LOCAL_SEQ + 1)
        }
    );
    let mut t = now;
    for _ in 0..5 {
        t = tcb.next_deadline().unwrap();
        let out = tcb.on_deadline(t);
        assert!(!out.closed);
        recv!(tcb, t, our_ack(LOCAL_SEQ, REMOTE_SEQ + 1));
        // The peer answers every probe, still with a zero window.
        send!(
            tcb,
            t,
            TcpRepr {
                window_len: 0,
                ..peer_ack(LOCAL_SEQ + 1)
            }
        );
    }
    // Window opens: the data goes again.
    send!(tcb, t, peer_ack(LOCAL_SEQ + 1));
    recv!(tcb, t, data_seg(LOCAL_SEQ + 1, b"abc", true));
}

#[test]
fn unanswered_zero_window_probes_time_out() {
    let now = Instant::now();
    let mut tcb = tcb_established_with(
        &TcpConfig {
            max_retries: 2,
            ..cfg()
        },
        now,
    );
    send!(
        tcb,
        now,
        TcpRepr {
            window_len: 0,
            ..peer_ack(LOCAL_SEQ + 1)
        }
    );
    tcb.send(b"abc").unwrap();
    recv!(tcb, now, nothing);
    for _ in 0..2 {
        let t = tcb.next_deadline().unwrap();
        assert!(!tcb.on_deadline(t).closed);
        recv!(tcb, t, our_ack(LOCAL_SEQ, REMOTE_SEQ + 1));
    }
    let t = tcb.next_deadline().unwrap();
    assert!(tcb.on_deadline(t).closed);
    assert_eq!(tcb.error(), Some(TcpError::TimedOut));
}

#[test]
fn cwnd_restarts_after_idle_longer_than_rto() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    let p = payload(20_000);
    tcb.send(&p).unwrap();
    // Grow cwnd in slow start beyond the initial 10 segments.
    while let Some(s) = tcb.poll_segment(now, MAX_PAYLOAD) {
        send!(tcb, now, peer_ack(s.repr().seq_number + s.payload_len()));
    }
    assert!(tcb.cwnd() > 10_000, "cwnd {}", tcb.cwnd());
    assert_eq!(tcb.send_queue(), 0);
    // Idle for longer than the RTO, then a burst: at most the initial window goes out.
    let later = now + Duration::from_secs(5);
    tcb.send(&p).unwrap();
    let mut sent = 0;
    while let Some(s) = tcb.poll_segment(later, MAX_PAYLOAD) {
        sent += s.payload_len();
    }
    assert_eq!(sent, 10_000);
    assert_eq!(tcb.cwnd(), 10_000);
}

#[test]
fn smaller_path_mtu_resends_in_flight_data_in_the_new_size() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    let p = payload(2000);
    tcb.send(&p).unwrap();
    recv!(tcb, now, data_seg(LOCAL_SEQ + 1, &p[..1000], false));
    recv!(tcb, now, data_seg(LOCAL_SEQ + 1001, &p[1000..], true));
    // ICMP "fragmentation needed", next-hop MTU 576.
    tcb.set_path_mtu(576);
    recv!(tcb, now, data_seg(LOCAL_SEQ + 1, &p[..536], false));
    recv!(tcb, now, data_seg(LOCAL_SEQ + 537, &p[536..1072], false));
    recv!(tcb, now, data_seg(LOCAL_SEQ + 1073, &p[1072..1608], false));
    recv!(tcb, now, data_seg(LOCAL_SEQ + 1609, &p[1608..], true));
    recv!(tcb, now, nothing);
    assert_eq!(tcb.cwnd(), 10_000, "no congestion response");
}
