//! ESTABLISHED, receiving: acceptability test, delayed ACK, out-of-order reassembly, RST and
//! SYN checks, receive window and receiver-side SWS avoidance (RFC 9293 §3.10.7.4, §3.8.6).

use super::*;
use crate::tcp::tcb::{SegmentDrop, TcpError};

fn data(seq: SeqNumber, payload: &'static [u8]) -> TcpRepr<'static> {
    TcpRepr {
        seq_number: seq,
        ack_number: Some(LOCAL_SEQ + 1),
        payload,
        ..SEND_TEMPL
    }
}

fn read_all(tcb: &mut Tcb) -> Vec<u8> {
    let mut buf = vec![0u8; 200_000];
    match tcb.recv(&mut buf) {
        Ok(n) => buf[..n].to_vec(),
        Err(TcpError::WouldBlock) => Vec::new(),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn in_order_data_is_delivered_and_ack_delayed() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    let out = send!(tcb, now, data(REMOTE_SEQ + 1, b"abcdef"));
    assert!(out.readable);
    recv!(tcb, now, nothing);
    assert_eq!(tcb.next_deadline(), Some(now + ms(40)), "delayed ACK bound");
    tcb.on_deadline(now + ms(40));
    recv!(
        tcb,
        now + ms(40),
        TcpRepr {
            window_len: WND - 6,
            ..our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 7)
        }
    );
    assert_eq!(read_all(&mut tcb), b"abcdef");
}

#[test]
fn every_second_segment_is_acked_at_once() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    send!(tcb, now, data(REMOTE_SEQ + 1, b"abc"));
    recv!(tcb, now, nothing);
    send!(tcb, now, data(REMOTE_SEQ + 4, b"def"));
    recv!(
        tcb,
        now,
        TcpRepr {
            window_len: WND - 6,
            ..our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 7)
        }
    );
    assert_eq!(tcb.next_deadline(), None, "delayed-ACK timer cancelled");
}

#[test]
fn zero_delayed_ack_acks_every_segment() {
    let now = Instant::now();
    let mut tcb = tcb_established_with(
        &TcpConfig {
            delayed_ack: Duration::ZERO,
            ..cfg()
        },
        now,
    );
    send!(tcb, now, data(REMOTE_SEQ + 1, b"abc"));
    recv!(
        tcb,
        now,
        TcpRepr {
            window_len: WND - 3,
            ..our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 4)
        }
    );
}

#[test]
fn out_of_order_is_held_and_acked_immediately() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    let out = send!(tcb, now, data(REMOTE_SEQ + 4, b"def"));
    assert!(!out.readable);
    recv!(tcb, now, our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 1));
    send!(tcb, now, data(REMOTE_SEQ + 10, b"jkl"));
    recv!(tcb, now, our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 1));
    // Filling the first hole: immediate ACK up to the next hole.
    let out = send!(tcb, now, data(REMOTE_SEQ + 1, b"abc"));
    assert!(out.readable);
    recv!(
        tcb,
        now,
        TcpRepr {
            window_len: WND - 6,
            ..our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 7)
        }
    );
    send!(tcb, now, data(REMOTE_SEQ + 7, b"ghi"));
    recv!(
        tcb,
        now,
        TcpRepr {
            window_len: WND - 12,
            ..our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 13)
        }
    );
    assert_eq!(read_all(&mut tcb), b"abcdefghijkl");
}

#[test]
fn duplicate_old_segment_is_acked_and_dropped() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    send!(tcb, now, data(REMOTE_SEQ + 1, b"abc"));
    assert_eq!(read_all(&mut tcb), b"abc");
    send!(tcb, now, data(REMOTE_SEQ + 1, b"abc"));
    // Reading 3 bytes does not move the right edge (receiver SWS avoidance).
    recv!(
        tcb,
        now,
        TcpRepr {
            window_len: WND - 3,
            ..our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 4)
        }
    );
    assert_eq!(read_all(&mut tcb), b"");
}

#[test]
fn partially_old_segment_is_trimmed() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    send!(tcb, now, data(REMOTE_SEQ + 1, b"abc"));
    send!(tcb, now, data(REMOTE_SEQ + 2, b"bcdef"));
    assert_eq!(read_all(&mut tcb), b"abcdef");
}

#[test]
fn segment_beyond_window_is_acked_and_dropped() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    let out = send!(tcb, now, data(REMOTE_SEQ + 1 + RCV_BUF, b"x"));
    assert_eq!(out.dropped, Some(SegmentDrop::Unacceptable));
    recv!(tcb, now, our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 1));
    assert_eq!(read_all(&mut tcb), b"");
}

#[test]
fn segment_straddling_right_edge_is_trimmed() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    let big = vec![7u8; RCV_BUF + 100].leak();
    send!(tcb, now, data(REMOTE_SEQ + 1, big));
    recv!(
        tcb,
        now,
        TcpRepr {
            window_len: 0,
            ..our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 1 + RCV_BUF)
        }
    );
    assert_eq!(tcb.recv_queue(), RCV_BUF);
}

#[test]
fn zero_window_then_window_update_after_read() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    let big = vec![1u8; RCV_BUF].leak();
    send!(tcb, now, data(REMOTE_SEQ + 1, big));
    tcb.on_deadline(now + ms(40));
    recv!(
        tcb,
        now + ms(40),
        TcpRepr {
            window_len: 0,
            ..our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 1 + RCV_BUF)
        }
    );
    // A zero-window probe (data at RCV.NXT) is acknowledged with the zero window.
    send!(tcb, now, data(REMOTE_SEQ + 1 + RCV_BUF, b"z"));
    recv!(
        tcb,
        now,
        TcpRepr {
            window_len: 0,
            ..our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 1 + RCV_BUF)
        }
    );
    // Reading a little does not reopen the window (receiver SWS avoidance) ...
    let mut buf = vec![0u8; 100];
    assert_eq!(tcb.recv(&mut buf), Ok(100));
    recv!(tcb, now, nothing);
    // ... reading an MSS or more does, at once.
    let mut buf = vec![0u8; 2000];
    assert_eq!(tcb.recv(&mut buf), Ok(2000));
    recv!(
        tcb,
        now,
        TcpRepr {
            window_len: 2100,
            ..our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 1 + RCV_BUF)
        }
    );
}

#[test]
fn rst_at_rcv_nxt_resets() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    let out = send!(
        tcb,
        now,
        TcpRepr {
            control: TcpControl::Rst,
            seq_number: REMOTE_SEQ + 1,
            ..SEND_TEMPL
        }
    );
    assert!(out.closed && out.reset && out.readable);
    assert_eq!(tcb.state(), TcpState::Closed);
    let mut buf = [0u8; 4];
    assert_eq!(tcb.recv(&mut buf), Err(TcpError::Reset));
    assert_eq!(tcb.send(b"x"), Err(TcpError::Reset));
    recv!(tcb, now, nothing);
}

#[test]
fn rst_in_window_not_at_rcv_nxt_gets_challenge_ack() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    let out = send!(
        tcb,
        now,
        TcpRepr {
            control: TcpControl::Rst,
            seq_number: REMOTE_SEQ + 100,
            ..SEND_TEMPL
        }
    );
    assert!(!out.closed);
    recv!(tcb, now, our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 1));
    assert_eq!(tcb.state(), TcpState::Established);
}

#[test]
fn rst_outside_window_is_ignored() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    send!(
        tcb,
        now,
        TcpRepr {
            control: TcpControl::Rst,
            seq_number: REMOTE_SEQ - 100,
            ..SEND_TEMPL
        }
    );
    recv!(tcb, now, nothing);
    assert_eq!(tcb.state(), TcpState::Established);
}

#[test]
fn syn_in_established_gets_challenge_ack() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    send!(
        tcb,
        now,
        TcpRepr {
            control: TcpControl::Syn,
            seq_number: REMOTE_SEQ + 10,
            ..SEND_TEMPL
        }
    );
    recv!(tcb, now, our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 1));
    assert_eq!(tcb.state(), TcpState::Established);
}

#[test]
fn ack_of_unsent_data_is_answered_and_dropped() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    send!(
        tcb,
        now,
        TcpRepr {
            payload: b"abc",
            ..peer_ack(LOCAL_SEQ + 1000)
        }
    );
    recv!(tcb, now, our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 1));
    assert_eq!(tcb.recv_queue(), 0, "segment dropped");
}

#[test]
fn segment_without_ack_is_dropped() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    let out = send!(
        tcb,
        now,
        TcpRepr {
            seq_number: REMOTE_SEQ + 1,
            payload: b"abc",
            ..SEND_TEMPL
        }
    );
    assert_eq!(out.dropped, Some(SegmentDrop::NoAck));
    assert_eq!(tcb.recv_queue(), 0);
    recv!(tcb, now, nothing);
}

#[test]
fn out_of_order_limits_drop_but_still_ack() {
    let now = Instant::now();
    let mut tcb = tcb_established_with(
        &TcpConfig {
            max_ooo_segments: 1,
            ..cfg()
        },
        now,
    );
    send!(tcb, now, data(REMOTE_SEQ + 10, b"x"));
    recv!(tcb, now, our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 1));
    send!(tcb, now, data(REMOTE_SEQ + 20, b"y"));
    recv!(tcb, now, our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 1));
    let filler = vec![b'.'; 9].leak();
    send!(tcb, now, data(REMOTE_SEQ + 1, filler));
    // 1..=9 filler + 10 'x' in order; 'y' at 20 was dropped.
    recv!(
        tcb,
        now,
        TcpRepr {
            window_len: WND - 10,
            ..our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 11)
        }
    );
}

#[test]
fn never_panics_on_arbitrary_segments() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let now = Instant::now();
    let payload = vec![0u8; 3000].leak();
    for i in 0..2000 {
        let mut tcb = match i % 4 {
            0 => tcb_established(now),
            1 => tcb_fin_wait_1(now),
            2 => tcb_syn_received(&cfg(), now),
            _ => tcb_time_wait(now),
        };
        for _ in 0..8 {
            let base = if rng.gen() {
                REMOTE_SEQ
            } else {
                SeqNumber(rng.gen())
            };
            let seg = TcpRepr {
                control: [
                    TcpControl::None,
                    TcpControl::Psh,
                    TcpControl::Syn,
                    TcpControl::Fin,
                    TcpControl::Rst,
                ][rng.gen_range(0..5)],
                seq_number: base + rng.gen_range(0..70_000usize),
                ack_number: rng
                    .gen::<bool>()
                    .then(|| LOCAL_SEQ + rng.gen_range(0..5usize)),
                window_len: rng.gen(),
                window_scale: rng.gen::<bool>().then(|| rng.gen()),
                max_seg_size: rng.gen::<bool>().then(|| rng.gen()),
                timestamp: rng.gen::<bool>().then(|| (rng.gen(), rng.gen())),
                payload: &payload[..rng.gen_range(0..3000)],
                ..SEND_TEMPL
            };
            tcb.on_segment(&seg, now);
            while let Some(s) = tcb.poll_segment(now, MAX_PAYLOAD) {
                let mut buf = vec![0u8; s.payload_len()];
                tcb.write_payload(&s, &mut buf);
            }
            tcb.check_invariants();
            let mut buf = [0u8; 512];
            let _ = tcb.recv(&mut buf);
            let _ = tcb.send(&buf[..rng.gen_range(0..512)]);
            if let Some(d) = tcb.next_deadline() {
                tcb.on_deadline(d);
                while tcb.poll_segment(d, MAX_PAYLOAD).is_some() {}
            }
            tcb.check_invariants();
        }
    }
}

#[test]
fn answers_to_invalid_segments_without_data_are_rate_limited() {
    let now = Instant::now();
    let mut tcb = tcb_established(now);
    let old_ack = TcpRepr {
        seq_number: REMOTE_SEQ - 10,
        ..peer_ack(LOCAL_SEQ + 1)
    };
    send!(tcb, now, old_ack);
    recv!(tcb, now, our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 1));
    // A second one within 500 ms is not answered (no ACK ping-pong) ...
    send!(tcb, now + ms(100), old_ack);
    recv!(tcb, now + ms(100), nothing);
    // ... but old data still is (it may be a retransmission whose ACK was lost).
    send!(tcb, now + ms(100), data(REMOTE_SEQ - 10, b"0123456789"));
    recv!(tcb, now + ms(100), our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 1));
    send!(tcb, now + ms(600), old_ack);
    recv!(tcb, now + ms(600), our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 1));
}

/// Delivers `n` bytes at `seq` at time `t` and returns the window of the last ACK we send.
fn deliver(tcb: &mut Tcb, seq: SeqNumber, n: usize, t: Instant) -> Option<u16> {
    let payload = vec![7u8; n].leak();
    let out = tcb.on_segment(&data(seq, payload), t);
    assert_eq!(out.dropped, None);
    tcb.on_deadline(t + ms(40));
    let mut window = None;
    while let Some(s) = tcb.poll_segment(t + ms(40), MAX_PAYLOAD) {
        window = Some(s.repr().window_len);
    }
    window
}

#[test]
fn receive_window_auto_tuning_grows_with_a_fast_reader_up_to_the_maximum() {
    let now = Instant::now();
    let cfg = TcpConfig {
        rcv_buf: 60_000,
        rcv_buf_initial: 8_000,
        ..cfg()
    };
    let mut tcb = tcb_established_with(&cfg, now);
    assert_eq!(tcb.recv.capacity(), 8_000, "starts at rcv_buf_initial");
    let mut seq = REMOTE_SEQ + 1;
    let mut t = now;
    // The sender fills the window each RTT (100 ms apart here) and the reader drains it all:
    // the buffer doubles per RTT: 8 000 → 16 000 → 32 000 → 60 000 (the maximum).
    let mut adv = 8_000;
    for expect in [16_000, 32_000, 60_000, 60_000] {
        t += ms(100);
        assert_eq!(deliver(&mut tcb, seq, adv, t), Some(0), "window full");
        seq += adv;
        assert_eq!(read_all(&mut tcb).len(), adv);
        // Window update ACK after the read (the window opened by more than 2 MSS).
        let update = tcb.poll_segment(t + ms(40), MAX_PAYLOAD).expect("update");
        assert_eq!(usize::from(update.repr().window_len), adv);
        // The next segment, an RTT later (a pure ACK here), finds `adv` bytes read in the
        // last RTT: the buffer grows to twice that, and the larger window is announced at once.
        t += ms(100);
        let w = deliver(&mut tcb, seq, 0, t);
        assert_eq!(tcb.recv.capacity(), expect);
        if expect > adv {
            assert_eq!(w.map(usize::from), Some(expect), "window update");
        } else {
            assert_eq!(w, None, "at the maximum: nothing to announce");
        }
        adv = expect;
    }
}

#[test]
fn receive_window_auto_tuning_keeps_the_buffer_for_a_slow_reader() {
    let now = Instant::now();
    let cfg = TcpConfig {
        rcv_buf: 60_000,
        rcv_buf_initial: 8_000,
        ..cfg()
    };
    let mut tcb = tcb_established_with(&cfg, now);
    let mut seq = REMOTE_SEQ + 1;
    let mut t = now;
    for _ in 0..5 {
        // Under half the buffer read per RTT: a window-limited sender would not fill it.
        t += ms(100);
        deliver(&mut tcb, seq, 3_000, t);
        seq += 3_000;
        assert_eq!(read_all(&mut tcb).len(), 3_000);
        assert_eq!(tcb.recv.capacity(), 8_000);
    }
}
