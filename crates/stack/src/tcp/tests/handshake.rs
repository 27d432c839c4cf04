//! Opening: LISTEN → SYN-RECEIVED → ESTABLISHED, SYN-SENT, simultaneous open, RSTs for
//! segments without a connection (RFC 9293 §3.5, §3.10.7.1–3).

use super::*;
use crate::tcp::tcb::{reset_for, TcpError};

#[test]
fn passive_open_answers_syn_ack_with_our_mss() {
    let now = Instant::now();
    let mut tcb = Tcb::listen_syn(&cfg(), tuple(), &remote_syn(), LOCAL_SEQ, now);
    recv!(
        tcb,
        now,
        TcpRepr {
            control: TcpControl::Syn,
            seq_number: LOCAL_SEQ,
            ack_number: Some(REMOTE_SEQ + 1),
            max_seg_size: Some(1460),
            ..RECV_TEMPL
        }
    );
    recv!(tcb, now, nothing);
    assert!(
        tcb.next_deadline().is_some(),
        "SYN-ACK retransmission timer armed"
    );
}

#[test]
fn syn_received_ack_establishes() {
    let now = Instant::now();
    let mut tcb = tcb_syn_received(&cfg(), now);
    let out = send!(tcb, now, peer_ack(LOCAL_SEQ + 1));
    assert!(out.established && out.writable);
    assert_eq!(tcb.state(), TcpState::Established);
    assert_eq!(
        tcb.next_deadline(),
        None,
        "nothing outstanding, no keep-alive"
    );
    recv!(tcb, now, nothing);
}

#[test]
fn syn_received_unacceptable_ack_gets_rst() {
    let now = Instant::now();
    let mut tcb = tcb_syn_received(&cfg(), now);
    let out = send!(tcb, now, peer_ack(LOCAL_SEQ + 5));
    assert_eq!(
        out.rst,
        Some(TcpRepr {
            control: TcpControl::Rst,
            seq_number: LOCAL_SEQ + 5,
            window_len: 0,
            ..RECV_TEMPL
        })
    );
    assert_eq!(tcb.state(), TcpState::SynReceived);
}

#[test]
fn syn_received_duplicate_syn_resends_syn_ack() {
    let now = Instant::now();
    let mut tcb = tcb_syn_received(&cfg(), now);
    send!(tcb, now + ms(10), remote_syn());
    recv!(
        tcb,
        now + ms(10),
        TcpRepr {
            control: TcpControl::Syn,
            seq_number: LOCAL_SEQ,
            ack_number: Some(REMOTE_SEQ + 1),
            max_seg_size: Some(1460),
            ..RECV_TEMPL
        }
    );
}

#[test]
fn syn_received_rst_closes_without_error() {
    let now = Instant::now();
    let mut tcb = tcb_syn_received(&cfg(), now);
    let out = send!(
        tcb,
        now,
        TcpRepr {
            control: TcpControl::Rst,
            seq_number: REMOTE_SEQ + 1,
            ..SEND_TEMPL
        }
    );
    assert!(out.closed);
    assert_eq!(tcb.state(), TcpState::Closed);
    recv!(tcb, now, nothing);
}

#[test]
fn syn_ack_retransmitted_with_backoff_then_gives_up() {
    let now = Instant::now();
    let config = TcpConfig {
        max_syn_retries: 2,
        ..cfg()
    };
    let mut tcb = tcb_syn_received(&config, now);
    let syn_ack = TcpRepr {
        control: TcpControl::Syn,
        seq_number: LOCAL_SEQ,
        ack_number: Some(REMOTE_SEQ + 1),
        max_seg_size: Some(1460),
        ..RECV_TEMPL
    };
    assert_eq!(tcb.next_deadline(), Some(now + ms(1000)));
    tcb.on_deadline(now + ms(1000));
    recv!(tcb, now + ms(1000), syn_ack);
    assert_eq!(tcb.next_deadline(), Some(now + ms(3000)), "RTO doubled");
    tcb.on_deadline(now + ms(3000));
    recv!(tcb, now + ms(3000), syn_ack);
    assert_eq!(tcb.next_deadline(), Some(now + ms(7000)));
    let out = tcb.on_deadline(now + ms(7000));
    assert!(out.closed);
    assert_eq!(tcb.error(), Some(TcpError::TimedOut));
    recv!(tcb, now + ms(7000), nothing);
}

#[test]
fn active_open_sends_syn_and_establishes_on_syn_ack() {
    let now = Instant::now();
    let mut tcb = Tcb::connect(&cfg(), tuple(), LOCAL_SEQ, 1460, now);
    assert_eq!(tcb.state(), TcpState::SynSent);
    recv!(
        tcb,
        now,
        TcpRepr {
            control: TcpControl::Syn,
            seq_number: LOCAL_SEQ,
            max_seg_size: Some(1460),
            ..RECV_TEMPL
        }
    );
    let out = send!(
        tcb,
        now + ms(30),
        TcpRepr {
            control: TcpControl::Syn,
            seq_number: REMOTE_SEQ,
            ack_number: Some(LOCAL_SEQ + 1),
            max_seg_size: Some(PEER_MSS),
            ..SEND_TEMPL
        }
    );
    assert!(out.established);
    assert_eq!(tcb.state(), TcpState::Established);
    recv!(tcb, now + ms(30), our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 1));
    // The handshake gave an RTT sample of 30 ms: RTO = max(200 ms, 30 + 4·15).
    assert_eq!(tcb.rto(), ms(200));
}

#[test]
fn syn_sent_bad_ack_gets_rst_and_stays() {
    let now = Instant::now();
    let mut tcb = Tcb::connect(&cfg(), tuple(), LOCAL_SEQ, 1460, now);
    tcb.poll_segment(now, MAX_PAYLOAD);
    let out = send!(
        tcb,
        now,
        TcpRepr {
            control: TcpControl::Syn,
            seq_number: REMOTE_SEQ,
            ack_number: Some(LOCAL_SEQ + 100),
            ..SEND_TEMPL
        }
    );
    assert_eq!(
        out.rst,
        Some(TcpRepr {
            control: TcpControl::Rst,
            seq_number: LOCAL_SEQ + 100,
            window_len: 0,
            ..RECV_TEMPL
        })
    );
    assert_eq!(tcb.state(), TcpState::SynSent);
}

#[test]
fn syn_sent_rst_with_acceptable_ack_is_refused() {
    let now = Instant::now();
    let mut tcb = Tcb::connect(&cfg(), tuple(), LOCAL_SEQ, 1460, now);
    tcb.poll_segment(now, MAX_PAYLOAD);
    let rst_no_ack = TcpRepr {
        control: TcpControl::Rst,
        seq_number: REMOTE_SEQ,
        ..SEND_TEMPL
    };
    let out = send!(tcb, now, rst_no_ack);
    assert!(!out.closed, "RST without ACK is ignored in SYN-SENT");
    let out = send!(
        tcb,
        now,
        TcpRepr {
            ack_number: Some(LOCAL_SEQ + 1),
            ..rst_no_ack
        }
    );
    assert!(out.closed && out.reset);
    assert_eq!(tcb.error(), Some(TcpError::Refused));
    let mut buf = [0u8; 4];
    assert_eq!(tcb.recv(&mut buf), Err(TcpError::Refused));
}

#[test]
fn simultaneous_open() {
    let now = Instant::now();
    let mut tcb = Tcb::connect(&cfg(), tuple(), LOCAL_SEQ, 1460, now);
    tcb.poll_segment(now, MAX_PAYLOAD);
    send!(tcb, now, remote_syn());
    assert_eq!(tcb.state(), TcpState::SynReceived);
    recv!(
        tcb,
        now,
        TcpRepr {
            control: TcpControl::Syn,
            seq_number: LOCAL_SEQ,
            ack_number: Some(REMOTE_SEQ + 1),
            max_seg_size: Some(1460),
            ..RECV_TEMPL
        }
    );
    // The peer's SYN-ACK for our SYN establishes (RFC 9293 figure 8); nothing more to send.
    let out = send!(
        tcb,
        now,
        TcpRepr {
            control: TcpControl::Syn,
            seq_number: REMOTE_SEQ,
            ack_number: Some(LOCAL_SEQ + 1),
            ..SEND_TEMPL
        }
    );
    assert!(out.established);
    assert_eq!(tcb.state(), TcpState::Established);
    recv!(tcb, now, nothing);
    // Data flows.
    tcb.send(b"hi").unwrap();
    recv!(
        tcb,
        now,
        TcpRepr {
            control: TcpControl::Psh,
            payload: b"hi",
            ..our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 1)
        }
    );
}

#[test]
fn shutdown_in_syn_sent_closes() {
    let now = Instant::now();
    let mut tcb = Tcb::connect(&cfg(), tuple(), LOCAL_SEQ, 1460, now);
    tcb.poll_segment(now, MAX_PAYLOAD);
    tcb.shutdown();
    assert_eq!(tcb.state(), TcpState::Closed);
    assert_eq!(tcb.next_deadline(), None);
    recv!(tcb, now, nothing);
}

#[test]
fn reset_for_segments_without_connection() {
    // SYN without ACK: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
    assert_eq!(
        reset_for(&remote_syn()),
        Some(TcpRepr {
            control: TcpControl::Rst,
            seq_number: SeqNumber(0),
            ack_number: Some(REMOTE_SEQ + 1),
            window_len: 0,
            ..RECV_TEMPL
        })
    );
    // With ACK: <SEQ=SEG.ACK><CTL=RST>
    assert_eq!(
        reset_for(&TcpRepr {
            payload: b"abc",
            ..peer_ack(SeqNumber(777))
        }),
        Some(TcpRepr {
            control: TcpControl::Rst,
            seq_number: SeqNumber(777),
            window_len: 0,
            ..RECV_TEMPL
        })
    );
    // Data without ACK counts its length.
    assert_eq!(
        reset_for(&TcpRepr {
            seq_number: SeqNumber(5),
            payload: b"abc",
            control: TcpControl::Fin,
            ..SEND_TEMPL
        })
        .and_then(|r| r.ack_number),
        Some(SeqNumber(9))
    );
    assert_eq!(
        reset_for(&TcpRepr {
            control: TcpControl::Rst,
            ..SEND_TEMPL
        }),
        None
    );
}

#[test]
fn closed_tcb_answers_with_rst() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    tcb.abort();
    recv!(
        tcb,
        now,
        TcpRepr {
            control: TcpControl::Rst,
            seq_number: LOCAL_SEQ + 1,
            ack_number: Some(REMOTE_SEQ + 1),
            window_len: 0,
            ..RECV_TEMPL
        }
    );
    recv!(tcb, now, nothing);
    let out = send!(tcb, now, peer_ack(LOCAL_SEQ + 1));
    assert!(out.rst.is_some());
}

#[test]
fn retransmitted_syn_ack_in_established_is_reacked() {
    // Our final ACK of the handshake was lost; the peer retransmits its SYN-ACK.
    let now = Instant::now();
    let mut tcb = Tcb::connect(&cfg(), tuple(), LOCAL_SEQ, 1460, now);
    tcb.poll_segment(now, MAX_PAYLOAD).unwrap();
    let syn_ack = TcpRepr {
        control: TcpControl::Syn,
        seq_number: REMOTE_SEQ,
        ack_number: Some(LOCAL_SEQ + 1),
        max_seg_size: Some(PEER_MSS),
        ..SEND_TEMPL
    };
    send!(tcb, now, syn_ack);
    recv!(tcb, now, our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 1));
    let out = send!(tcb, now + ms(1000), syn_ack);
    assert!(!out.established && out.rst.is_none());
    assert_eq!(tcb.state(), TcpState::Established);
    recv!(tcb, now + ms(1000), our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 1));
}

#[test]
fn syn_ack_carrying_data_is_delivered() {
    let now = Instant::now();
    let mut tcb = Tcb::connect(&cfg(), tuple(), LOCAL_SEQ, 1460, now);
    tcb.poll_segment(now, MAX_PAYLOAD).unwrap();
    let out = send!(
        tcb,
        now,
        TcpRepr {
            control: TcpControl::Syn,
            seq_number: REMOTE_SEQ,
            ack_number: Some(LOCAL_SEQ + 1),
            payload: b"early",
            ..SEND_TEMPL
        }
    );
    assert!(out.established && out.readable);
    recv!(
        tcb,
        now,
        TcpRepr {
            window_len: WND - 5,
            ..our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 6)
        }
    );
    let mut buf = [0u8; 8];
    assert_eq!(tcb.recv(&mut buf), Ok(5));
}

#[test]
fn syn_retransmitted_then_times_out() {
    let now = Instant::now();
    let config = TcpConfig {
        max_syn_retries: 1,
        ..cfg()
    };
    let mut tcb = Tcb::connect(&config, tuple(), LOCAL_SEQ, 1460, now);
    let syn = TcpRepr {
        control: TcpControl::Syn,
        seq_number: LOCAL_SEQ,
        max_seg_size: Some(1460),
        ..RECV_TEMPL
    };
    recv!(tcb, now, syn);
    let t = now + ms(1000);
    assert_eq!(tcb.next_deadline(), Some(t));
    tcb.on_deadline(t);
    recv!(tcb, t, syn);
    let out = tcb.on_deadline(t + ms(2000));
    assert!(out.closed && out.reset);
    assert_eq!(tcb.error(), Some(TcpError::TimedOut));
}

#[test]
fn shutdown_in_syn_received_sends_fin_once_established() {
    let now = Instant::now();
    let mut tcb = tcb_syn_received(&cfg(), now);
    tcb.send(b"hi").unwrap();
    tcb.shutdown();
    assert_eq!(tcb.state(), TcpState::SynReceived);
    send!(tcb, now, peer_ack(LOCAL_SEQ + 1));
    assert_eq!(tcb.state(), TcpState::FinWait1);
    recv!(
        tcb,
        now,
        TcpRepr {
            control: TcpControl::Fin,
            payload: b"hi",
            ..our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 1)
        }
    );
}
