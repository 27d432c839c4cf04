//! Closing: FIN-WAIT-1/2, CLOSING, TIME-WAIT, CLOSE-WAIT, LAST-ACK, simultaneous close,
//! ABORT (RFC 9293 §3.6, §3.10.4–5, §3.10.7.4 "eighth").

use super::*;
use crate::tcp::tcb::TcpError;

fn fin(seq: SeqNumber, ack: SeqNumber) -> TcpRepr<'static> {
    TcpRepr {
        control: TcpControl::Fin,
        seq_number: seq,
        ack_number: Some(ack),
        ..SEND_TEMPL
    }
}

#[test]
fn active_close_through_time_wait() {
    let now = Instant::now();
    let mut tcb = tcb_time_wait(now);
    let deadline = now + Duration::from_secs(60);
    assert_eq!(tcb.time_wait_deadline(), Some(deadline));
    assert_eq!(tcb.next_deadline(), Some(deadline));
    let mut buf = [0u8; 4];
    assert_eq!(tcb.recv(&mut buf), Ok(0), "end of stream");
    let out = tcb.on_deadline(deadline);
    assert!(out.closed && !out.reset);
    assert_eq!(tcb.state(), TcpState::Closed);
    assert_eq!(tcb.error(), None);
}

#[test]
fn time_wait_duration_is_configurable() {
    let now = Instant::now();
    let mut tcb = tcb_established_with(
        &TcpConfig {
            time_wait: ms(500),
            ..cfg()
        },
        now,
    );
    tcb.shutdown();
    tcb.poll_segment(now, MAX_PAYLOAD).unwrap();
    send!(tcb, now, fin(REMOTE_SEQ + 1, LOCAL_SEQ + 2));
    assert_eq!(tcb.state(), TcpState::TimeWait);
    assert_eq!(tcb.time_wait_deadline(), Some(now + ms(500)));
}

#[test]
fn fin_wait_1_fin_with_ack_of_our_fin_goes_to_time_wait() {
    let now = Instant::now();
    let mut tcb = tcb_fin_wait_1(now);
    let out = send!(tcb, now, fin(REMOTE_SEQ + 1, LOCAL_SEQ + 2));
    assert!(out.time_wait);
    assert_eq!(tcb.state(), TcpState::TimeWait);
    recv!(
        tcb,
        now,
        TcpRepr {
            window_len: WND - 1,
            ..our_ack(LOCAL_SEQ + 2, REMOTE_SEQ + 2)
        }
    );
}

#[test]
fn simultaneous_close_through_closing() {
    let now = Instant::now();
    let mut tcb = tcb_fin_wait_1(now);
    // The peer's FIN does not acknowledge ours.
    send!(tcb, now, fin(REMOTE_SEQ + 1, LOCAL_SEQ + 1));
    assert_eq!(tcb.state(), TcpState::Closing);
    recv!(
        tcb,
        now,
        TcpRepr {
            window_len: WND - 1,
            ..our_ack(LOCAL_SEQ + 2, REMOTE_SEQ + 2)
        }
    );
    // An ACK at the old sequence number (before the peer's FIN) is unacceptable: answered.
    let out = send!(tcb, now, peer_ack(LOCAL_SEQ + 2));
    assert!(!out.time_wait);
    recv!(
        tcb,
        now,
        TcpRepr {
            window_len: WND - 1,
            ..our_ack(LOCAL_SEQ + 2, REMOTE_SEQ + 2)
        }
    );
    let out = send!(
        tcb,
        now,
        TcpRepr {
            seq_number: REMOTE_SEQ + 2,
            ..peer_ack(LOCAL_SEQ + 2)
        }
    );
    assert!(out.time_wait);
    assert_eq!(tcb.state(), TcpState::TimeWait);
}

#[test]
fn fin_is_retransmitted_on_rto() {
    let now = Instant::now();
    let mut tcb = tcb_fin_wait_1(now);
    let t = tcb.next_deadline().unwrap();
    tcb.on_deadline(t);
    recv!(
        tcb,
        t,
        TcpRepr {
            control: TcpControl::Fin,
            ..our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 1)
        }
    );
}

#[test]
fn fin_follows_queued_data_on_last_segment() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    tcb.send(b"bye").unwrap();
    tcb.shutdown();
    assert_eq!(tcb.send(b"more"), Err(TcpError::Closing));
    recv!(
        tcb,
        now,
        TcpRepr {
            control: TcpControl::Fin,
            payload: b"bye",
            ..our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 1)
        }
    );
    send!(tcb, now, peer_ack(LOCAL_SEQ + 4));
    assert_eq!(
        tcb.state(),
        TcpState::FinWait1,
        "data acknowledged, FIN not yet"
    );
    send!(tcb, now, peer_ack(LOCAL_SEQ + 5));
    assert_eq!(tcb.state(), TcpState::FinWait2);
}

#[test]
fn fin_wait_2_still_receives_data() {
    let now = Instant::now();
    let mut tcb = tcb_fin_wait_2(now);
    let out = send!(
        tcb,
        now,
        TcpRepr {
            payload: b"late",
            ..peer_ack(LOCAL_SEQ + 2)
        }
    );
    assert!(out.readable);
    let mut buf = [0u8; 8];
    assert_eq!(tcb.recv(&mut buf), Ok(4));
}

#[test]
fn passive_close_through_last_ack() {
    let now = Instant::now();
    let mut tcb = tcb_close_wait(now);
    let mut buf = [0u8; 4];
    assert_eq!(tcb.recv(&mut buf), Ok(0), "EOF after the peer's FIN");
    // We may still send in CLOSE-WAIT.
    tcb.send(b"resp").unwrap();
    tcb.shutdown();
    assert_eq!(tcb.state(), TcpState::LastAck);
    recv!(
        tcb,
        now,
        TcpRepr {
            control: TcpControl::Fin,
            payload: b"resp",
            window_len: WND - 1,
            ..our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 2)
        }
    );
    let out = send!(
        tcb,
        now,
        TcpRepr {
            seq_number: REMOTE_SEQ + 2,
            ..peer_ack(LOCAL_SEQ + 6)
        }
    );
    assert!(out.closed && !out.reset);
    assert_eq!(tcb.state(), TcpState::Closed);
    assert_eq!(tcb.next_deadline(), None);
    assert_eq!(tcb.recv(&mut buf), Ok(0));
}

#[test]
fn out_of_order_fin_waits_for_the_gap() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    send!(
        tcb,
        now,
        TcpRepr {
            payload: b"def",
            ..fin(REMOTE_SEQ + 4, LOCAL_SEQ + 1)
        }
    );
    assert_eq!(tcb.state(), TcpState::Established);
    recv!(tcb, now, our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 1));
    send!(
        tcb,
        now,
        TcpRepr {
            payload: b"abc",
            ..peer_ack(LOCAL_SEQ + 1)
        }
    );
    assert_eq!(tcb.state(), TcpState::CloseWait);
    recv!(
        tcb,
        now,
        TcpRepr {
            window_len: WND - 7,
            ..our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 8)
        }
    );
    let mut buf = [0u8; 16];
    assert_eq!(tcb.recv(&mut buf), Ok(6));
    assert_eq!(&buf[..6], b"abcdef");
    assert_eq!(tcb.recv(&mut buf), Ok(0));
}

#[test]
fn time_wait_reacks_retransmitted_fin_and_restarts_timer() {
    let now = Instant::now();
    let mut tcb = tcb_time_wait(now);
    let later = now + Duration::from_secs(30);
    send!(tcb, later, fin(REMOTE_SEQ + 1, LOCAL_SEQ + 2));
    recv!(
        tcb,
        later,
        TcpRepr {
            window_len: WND - 1,
            ..our_ack(LOCAL_SEQ + 2, REMOTE_SEQ + 2)
        }
    );
    assert_eq!(
        tcb.time_wait_deadline(),
        Some(later + Duration::from_secs(60))
    );
}

#[test]
fn time_wait_ends_on_a_rst_at_rcv_nxt_and_ignores_others() {
    let now = Instant::now();
    let mut tcb = tcb_time_wait(now);
    let rst = |seq| TcpRepr {
        control: TcpControl::Rst,
        seq_number: seq,
        ..SEND_TEMPL
    };
    for off_by_one in [REMOTE_SEQ + 1, REMOTE_SEQ + 3] {
        let out = send!(tcb, now, rst(off_by_one));
        assert!(!out.closed);
        assert_eq!(tcb.state(), TcpState::TimeWait);
        recv!(tcb, now, nothing);
    }
    // The RST of a peer reusing the 4-tuple after our ACK to its SYN (as Linux with
    // `tcp_rfc1337 = 0`): TIME-WAIT ends and the peer's next SYN opens a new connection.
    let out = send!(tcb, now, rst(REMOTE_SEQ + 2));
    assert!(out.closed);
    assert_eq!(tcb.state(), TcpState::Closed);
}

#[test]
fn time_wait_accepts_new_syn_above_rcv_nxt() {
    let now = Instant::now();
    let tcb = tcb_time_wait(now);
    assert!(tcb.accepts_new_syn(&TcpRepr {
        seq_number: REMOTE_SEQ + 100_000,
        ..remote_syn()
    }));
    assert!(!tcb.accepts_new_syn(&remote_syn()));
}

#[test]
fn abort_sends_rst_and_reports_reset() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    tcb.send(b"pending").unwrap();
    tcb.abort();
    assert_eq!(tcb.state(), TcpState::Closed);
    recv!(
        tcb,
        now,
        TcpRepr {
            control: TcpControl::Rst,
            window_len: 0,
            ..our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 1)
        }
    );
    recv!(tcb, now, nothing);
    assert_eq!(tcb.next_deadline(), None);
    let mut buf = [0u8; 4];
    assert_eq!(tcb.recv(&mut buf), Err(TcpError::Reset));
}

#[test]
fn rst_in_close_wait_and_last_ack() {
    let now = Instant::now();
    let mut tcb = tcb_close_wait(now);
    let rst = TcpRepr {
        control: TcpControl::Rst,
        seq_number: REMOTE_SEQ + 2,
        ..SEND_TEMPL
    };
    let out = send!(tcb, now, rst);
    assert!(out.closed && out.reset);
    let mut tcb = tcb_close_wait(now);
    tcb.shutdown();
    tcb.poll_segment(now, MAX_PAYLOAD).unwrap();
    let out = send!(tcb, now, rst);
    assert!(out.closed && !out.reset, "LAST-ACK: RST just closes");
}

#[test]
fn close_with_unread_data_resets() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    send!(
        tcb,
        now,
        TcpRepr {
            payload: b"unread",
            ..peer_ack(LOCAL_SEQ + 1)
        }
    );
    tcb.close();
    assert_eq!(tcb.state(), TcpState::Closed);
    recv!(
        tcb,
        now,
        TcpRepr {
            control: TcpControl::Rst,
            window_len: 0,
            ..our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 7)
        }
    );
}

#[test]
fn closed_connection_in_fin_wait_2_times_out() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    tcb.close();
    tcb.poll_segment(now, MAX_PAYLOAD).unwrap();
    send!(tcb, now, peer_ack(LOCAL_SEQ + 2));
    assert_eq!(tcb.state(), TcpState::FinWait2);
    recv!(tcb, now, nothing);
    assert_eq!(tcb.time_wait_deadline(), None);
    let t = now + Duration::from_secs(60);
    assert_eq!(tcb.next_deadline(), Some(t));
    let out = tcb.on_deadline(t);
    assert!(out.closed);
    recv!(tcb, t, nothing);
}

#[test]
fn half_closed_fin_wait_2_waits_for_the_peer() {
    let now = Instant::now();
    let tcb = tcb_fin_wait_2(now);
    assert_eq!(
        tcb.next_deadline(),
        None,
        "shutdown, not close: the user still reads"
    );
}

#[test]
fn data_after_close_gets_rst() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    tcb.close();
    tcb.poll_segment(now, MAX_PAYLOAD).unwrap();
    let out = send!(
        tcb,
        now,
        TcpRepr {
            payload: b"late",
            ..peer_ack(LOCAL_SEQ + 2)
        }
    );
    assert!(out.closed);
    recv!(
        tcb,
        now,
        TcpRepr {
            control: TcpControl::Rst,
            window_len: 0,
            ..our_ack(LOCAL_SEQ + 2, REMOTE_SEQ + 1)
        }
    );
}

/// Counts retransmission timeouts until the connection aborts (at most 40).
fn timeouts_until_abort(tcb: &mut Tcb, now: Instant) -> u32 {
    tcb.poll_segment(now, MAX_PAYLOAD).unwrap();
    for n in 0..40 {
        let t = tcb.next_deadline().unwrap();
        let out = tcb.on_deadline(t);
        if out.closed {
            assert_eq!(tcb.error(), Some(TcpError::TimedOut));
            return n;
        }
        while tcb.poll_segment(t, MAX_PAYLOAD).is_some() {}
    }
    panic!("still retransmitting after 40 timeouts");
}

#[test]
fn a_closed_connection_to_a_vanished_peer_gives_up_after_orphan_retries() {
    let now = Instant::now();
    let config = TcpConfig {
        max_retries: 6,
        orphan_retries: 3,
        ..cfg()
    };
    // The application still holds it: max-retries.
    let mut held = tcb_established_with(&config, now);
    held.send(b"response").unwrap();
    assert_eq!(timeouts_until_abort(&mut held, now), 6);
    // The application closed it (the response and FIN are unacknowledged): orphan-retries.
    let mut orphan = tcb_established_with(&config, now);
    orphan.send(b"response").unwrap();
    orphan.close();
    assert_eq!(orphan.state(), TcpState::FinWait1);
    assert_eq!(timeouts_until_abort(&mut orphan, now), 3);
}
