//! Options: window scale and timestamps (RFC 7323, incl. PAWS), SACK-permitted and SACK
//! blocks as a receiver (RFC 2018), MSS less option bytes (RFC 6691).

use super::*;

pub(super) const PEER_TS: u32 = 1_000;
/// After the SYN-ACK (capped at 65 535, unscaled) the first ACK opens the whole buffer, >> 3.
pub(super) const FULL_WND: u16 = (262_144 >> 3) as u16;

pub(super) fn full_cfg() -> TcpConfig {
    TcpConfig {
        rcv_buf: 262_144,
        rcv_buf_initial: 262_144,
        snd_buf: 262_144,
        ..TcpConfig::default()
    }
}

pub(super) fn linux_syn() -> TcpRepr<'static> {
    TcpRepr {
        control: TcpControl::Syn,
        seq_number: REMOTE_SEQ,
        window_len: 64_240,
        max_seg_size: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        timestamp: Some((PEER_TS, 0)),
        ..SEND_TEMPL
    }
}

/// ESTABLISHED with WS 7 (peer) / 3 (ours), timestamps and SACK; returns our TS clock base.
pub(super) fn established(now: Instant) -> (Tcb, u32) {
    let mut tcb = Tcb::listen_syn(&full_cfg(), tuple(), &linux_syn(), LOCAL_SEQ, now);
    let ts0 = tcb.ts_offset;
    recv!(
        tcb,
        now,
        TcpRepr {
            control: TcpControl::Syn,
            seq_number: LOCAL_SEQ,
            ack_number: Some(REMOTE_SEQ + 1),
            window_len: 65_535,
            max_seg_size: Some(1460),
            window_scale: Some(3),
            sack_permitted: true,
            timestamp: Some((ts0, PEER_TS)),
            ..RECV_TEMPL
        }
    );
    let out = send!(
        tcb,
        now + ms(1),
        TcpRepr {
            seq_number: REMOTE_SEQ + 1,
            ack_number: Some(LOCAL_SEQ + 1),
            window_len: 502, // × 128 = 64 256
            timestamp: Some((PEER_TS + 1, ts0)),
            ..SEND_TEMPL
        }
    );
    assert!(out.established);
    (tcb, ts0)
}

#[test]
fn syn_ack_echoes_offered_options() {
    let now = Instant::now();
    let (tcb, _) = established(now);
    assert_eq!(tcb.snd_wnd, 502 << 7, "peer window scaled by its shift");
    assert_eq!(tcb.eff_snd_mss(), 1448, "MSS less the timestamp option");
}

#[test]
fn options_not_offered_are_not_used() {
    let now = Instant::now();
    let mut tcb = Tcb::listen_syn(&full_cfg(), tuple(), &remote_syn(), LOCAL_SEQ, now);
    recv!(
        tcb,
        now,
        TcpRepr {
            control: TcpControl::Syn,
            seq_number: LOCAL_SEQ,
            ack_number: Some(REMOTE_SEQ + 1),
            window_len: 65_535,
            max_seg_size: Some(1460),
            ..RECV_TEMPL
        }
    );
}

#[test]
fn active_open_offers_options_and_adopts_answer() {
    let now = Instant::now();
    let mut tcb = Tcb::connect(&full_cfg(), tuple(), LOCAL_SEQ, 1460, now);
    let ts0 = tcb.ts_offset;
    recv!(
        tcb,
        now,
        TcpRepr {
            control: TcpControl::Syn,
            seq_number: LOCAL_SEQ,
            window_len: 65_535,
            max_seg_size: Some(1460),
            window_scale: Some(3),
            sack_permitted: true,
            timestamp: Some((ts0, 0)),
            ..RECV_TEMPL
        }
    );
    send!(
        tcb,
        now + ms(20),
        TcpRepr {
            control: TcpControl::Syn,
            seq_number: REMOTE_SEQ,
            ack_number: Some(LOCAL_SEQ + 1),
            window_len: 1000,
            window_scale: Some(2),
            max_seg_size: Some(1400),
            timestamp: Some((PEER_TS, ts0)),
            ..SEND_TEMPL
        }
    );
    assert_eq!(tcb.state(), TcpState::Established);
    assert_eq!(tcb.snd_wnd, 1000, "the SYN-ACK's window is never scaled");
    assert!(!tcb.sack_ok);
    recv!(
        tcb,
        now + ms(20),
        TcpRepr {
            window_len: FULL_WND,
            timestamp: Some((ts0 + 20, PEER_TS)),
            ..our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 1)
        }
    );
    // RTT from the timestamp echo: 20 ms → RTO at its 200 ms floor.
    assert_eq!(tcb.rtt.srtt(), Some(ms(20)));
}

#[test]
fn acks_carry_scaled_window_and_echo_timestamp() {
    let now = Instant::now();
    let (mut tcb, ts0) = established(now);
    let t = now + ms(5);
    send!(
        tcb,
        t,
        TcpRepr {
            seq_number: REMOTE_SEQ + 1,
            ack_number: Some(LOCAL_SEQ + 1),
            window_len: 502,
            timestamp: Some((PEER_TS + 7, ts0)),
            payload: b"GET / HTTP/1.1\r\n\r\n",
            ..SEND_TEMPL
        }
    );
    tcb.on_deadline(t + ms(40));
    recv!(
        tcb,
        t + ms(40),
        TcpRepr {
            window_len: ((262_144 - 18) >> 3) as u16,
            timestamp: Some((ts0 + 45, PEER_TS + 7)),
            ..our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 19)
        }
    );
}

#[test]
fn paws_drops_old_timestamp() {
    let now = Instant::now();
    let (mut tcb, ts0) = established(now);
    let out = send!(
        tcb,
        now,
        TcpRepr {
            seq_number: REMOTE_SEQ + 1,
            ack_number: Some(LOCAL_SEQ + 1),
            window_len: 502,
            timestamp: Some((PEER_TS - 5, ts0)),
            payload: b"old duplicate",
            ..SEND_TEMPL
        }
    );
    assert!(!out.readable);
    assert_eq!(out.dropped, Some(crate::tcp::tcb::SegmentDrop::Paws));
    assert_eq!(tcb.recv_queue(), 0);
    recv!(
        tcb,
        now,
        TcpRepr {
            window_len: FULL_WND,
            timestamp: Some((ts0, PEER_TS + 1)),
            ..our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 1)
        }
    );
}

#[test]
fn out_of_order_data_is_sacked() {
    let now = Instant::now();
    let (mut tcb, ts0) = established(now);
    let seg = |off: usize, p: &'static [u8]| TcpRepr {
        seq_number: REMOTE_SEQ + 1 + off,
        ack_number: Some(LOCAL_SEQ + 1),
        window_len: 502,
        timestamp: Some((PEER_TS + 2, ts0)),
        payload: p,
        ..SEND_TEMPL
    };
    send!(tcb, now, seg(100, b"bbbb"));
    let b1 = ((REMOTE_SEQ + 101).0, (REMOTE_SEQ + 105).0);
    recv!(
        tcb,
        now,
        TcpRepr {
            window_len: FULL_WND,
            timestamp: Some((ts0, PEER_TS + 1)),
            sack_ranges: [Some(b1), None, None, None],
            ..our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 1)
        }
    );
    send!(tcb, now, seg(200, b"cc"));
    let b2 = ((REMOTE_SEQ + 201).0, (REMOTE_SEQ + 203).0);
    recv!(
        tcb,
        now,
        TcpRepr {
            window_len: FULL_WND,
            timestamp: Some((ts0, PEER_TS + 1)),
            sack_ranges: [Some(b2), Some(b1), None, None],
            ..our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 1)
        }
    );
}

#[test]
fn data_segments_leave_room_for_timestamp_option() {
    let now = Instant::now();
    let (mut tcb, _) = established(now);
    tcb.send(&[7u8; 3000]).unwrap();
    let s = tcb.poll_segment(now, MAX_PAYLOAD).unwrap();
    assert_eq!(s.payload_len(), 1448);
    assert_eq!(
        s.tcp_len(),
        1480,
        "20 + 12 option bytes + 1448 = MSS + 40 − 20"
    );
}

/// TIME-WAIT after a connection that used timestamps: we close first, the peer's FIN (TSval
/// `PEER_TS + 2`) acknowledges ours.
fn time_wait_with_timestamps(now: Instant) -> Tcb {
    let (mut tcb, ts0) = established(now);
    tcb.shutdown();
    while tcb.poll_segment(now, MAX_PAYLOAD).is_some() {}
    let out = send!(
        tcb,
        now + ms(2),
        TcpRepr {
            control: TcpControl::Fin,
            seq_number: REMOTE_SEQ + 1,
            ack_number: Some(LOCAL_SEQ + 2),
            window_len: 502,
            timestamp: Some((PEER_TS + 2, ts0)),
            ..SEND_TEMPL
        }
    );
    assert!(out.time_wait);
    while tcb.poll_segment(now, MAX_PAYLOAD).is_some() {}
    assert_eq!(tcb.state(), TcpState::TimeWait);
    tcb
}

#[test]
fn rfc6191_time_wait_reuse_by_timestamp() {
    let now = Instant::now();
    let tcb = time_wait_with_timestamps(now);
    let syn = |seq: SeqNumber, ts: Option<u32>| TcpRepr {
        seq_number: seq,
        timestamp: ts.map(|v| (v, 0)),
        ..linux_syn()
    };
    // A larger timestamp reuses the tuple even with a sequence number below RCV.NXT (a
    // client whose ISNs are not monotonic, RFC 6191 §2).
    assert!(tcb.accepts_new_syn(&syn(REMOTE_SEQ - 1000, Some(PEER_TS + 3))));
    // An equal or older timestamp marks an old duplicate, whatever its sequence number.
    assert!(!tcb.accepts_new_syn(&syn(REMOTE_SEQ + 100_000, Some(PEER_TS + 2))));
    assert!(!tcb.accepts_new_syn(&syn(REMOTE_SEQ + 100_000, Some(PEER_TS - 1))));
    // A SYN without timestamps falls back to the sequence-number rule.
    assert!(tcb.accepts_new_syn(&syn(REMOTE_SEQ + 100_000, None)));
    assert!(!tcb.accepts_new_syn(&syn(REMOTE_SEQ + 1, None)));
}
