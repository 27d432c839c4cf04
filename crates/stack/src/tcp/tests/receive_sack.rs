//! Receiving from a Linux-like sender (window scale 3 ours, timestamps, SACK): immediate ACKs
//! for out-of-order data, SACK blocks in RFC 2018 §4 order, D-SACK (RFC 2883), a right edge
//! that never moves left under window scaling (RFC 9293 §3.8.6.2.2), and out-of-order data
//! kept up to the advertised window.

use super::options::{established, full_cfg, FULL_WND, PEER_TS};
use super::*;

/// A data segment from the peer, `off` bytes past its first data byte. Its TSval stays that of
/// the handshake's last ACK, so every ACK we send echoes the same value.
fn seg(ts0: u32, off: usize, p: &[u8]) -> TcpRepr<'_> {
    TcpRepr {
        seq_number: REMOTE_SEQ + 1 + off,
        ack_number: Some(LOCAL_SEQ + 1),
        window_len: 502,
        timestamp: Some((PEER_TS + 1, ts0)),
        payload: p,
        ..SEND_TEMPL
    }
}

/// Our ACK for `acked` bytes of the peer's data with window field `wnd` and SACK blocks given
/// as byte offsets into the peer's data.
fn ack(ts0: u32, acked: usize, wnd: u16, blocks: &[(usize, usize)]) -> TcpRepr<'static> {
    let mut sack_ranges = [None; 4];
    for (slot, &(l, r)) in sack_ranges.iter_mut().zip(blocks) {
        *slot = Some(((REMOTE_SEQ + 1 + l).0, (REMOTE_SEQ + 1 + r).0));
    }
    TcpRepr {
        window_len: wnd,
        timestamp: Some((ts0, PEER_TS + 1)),
        sack_ranges,
        ..our_ack(LOCAL_SEQ + 1, REMOTE_SEQ + 1 + acked)
    }
}

#[test]
fn sack_blocks_most_recent_first_then_most_recently_reported() {
    let now = Instant::now();
    let (mut tcb, ts0) = established(now);
    let w = FULL_WND;
    send!(tcb, now, seg(ts0, 100, b"bbbb"));
    recv!(tcb, now, ack(ts0, 0, w, &[(100, 104)]));
    send!(tcb, now, seg(ts0, 200, b"cc"));
    recv!(tcb, now, ack(ts0, 0, w, &[(200, 202), (100, 104)]));
    send!(tcb, now, seg(ts0, 300, b"ddd"));
    recv!(
        tcb,
        now,
        ack(ts0, 0, w, &[(300, 303), (200, 202), (100, 104)])
    );
    // The oldest block grows: it goes first, the others keep their recency order.
    send!(tcb, now, seg(ts0, 104, b"bb"));
    recv!(
        tcb,
        now,
        ack(ts0, 0, w, &[(100, 106), (300, 303), (200, 202)])
    );
    // A fourth block: the least recently reported one (200) no longer fits, whatever its
    // place in sequence space.
    send!(tcb, now, seg(ts0, 400, b"e"));
    recv!(
        tcb,
        now,
        ack(ts0, 0, w, &[(400, 401), (100, 106), (300, 303)])
    );
}

#[test]
fn duplicates_are_reported_as_dsack() {
    let now = Instant::now();
    let (mut tcb, ts0) = established(now);
    send!(tcb, now, seg(ts0, 0, b"abcd"));
    recv!(tcb, now, nothing);
    send!(tcb, now, seg(ts0, 4, b"efgh"));
    // 262 144 − 8 bytes = 32 767 units of 8.
    recv!(tcb, now, ack(ts0, 8, 32_767, &[]));

    // A whole segment below RCV.NXT: ACKed at once, its range as the first block.
    let out = send!(tcb, now, seg(ts0, 0, b"abcd"));
    assert!(out.dropped.is_some());
    recv!(tcb, now, ack(ts0, 8, 32_767, &[(0, 4)]));
    recv!(tcb, now, nothing);

    // Straddling RCV.NXT: the old head is the D-SACK, the new tail is taken, ACKed at once.
    send!(tcb, now, seg(ts0, 6, b"ghij"));
    // Edge 8 + 32 767·8 = 262 144 stays: 262 134 bytes round up to 32 767 units.
    recv!(tcb, now, ack(ts0, 10, 32_767, &[(6, 8)]));

    // Out-of-order data held twice: the D-SACK, then the block holding it, then the rest.
    send!(tcb, now, seg(ts0, 100, b"bbbb"));
    recv!(tcb, now, ack(ts0, 10, 32_767, &[(100, 104)]));
    send!(tcb, now, seg(ts0, 200, b"cc"));
    recv!(tcb, now, ack(ts0, 10, 32_767, &[(200, 202), (100, 104)]));
    send!(tcb, now, seg(ts0, 100, b"bbbb"));
    recv!(
        tcb,
        now,
        ack(ts0, 10, 32_767, &[(100, 104), (100, 104), (200, 202)])
    );
    // Partly new, partly held: the held part is the D-SACK, the grown block second.
    send!(tcb, now, seg(ts0, 96, b"aaaabb"));
    recv!(
        tcb,
        now,
        ack(ts0, 10, 32_767, &[(100, 102), (96, 104), (200, 202)])
    );
    // A D-SACK is reported once.
    send!(tcb, now, seg(ts0, 300, b"d"));
    recv!(
        tcb,
        now,
        ack(ts0, 10, 32_767, &[(300, 301), (96, 104), (200, 202)])
    );
    // Filling the hole below held data that overlaps it: its overlap is a duplicate too.
    let fill: Vec<u8> = std::iter::repeat_n(b'x', 86).chain(*b"aaaa").collect();
    send!(tcb, now, seg(ts0, 10, &fill));
    // RCV.NXT 104; the edge 262 146 less it is 32 755.25 units, rounded up.
    recv!(
        tcb,
        now,
        ack(ts0, 104, 32_756, &[(96, 100), (300, 301), (200, 202)])
    );
}

#[test]
fn scaled_window_right_edge_never_moves_left() {
    let now = Instant::now();
    let (mut tcb, ts0) = established(now);
    let p = payload(1001 * 40);
    // The SYN-ACK offered 65 535 bytes, unscaled.
    let mut edge = REMOTE_SEQ + 1 + 65_535usize;
    let mut windows = Vec::new();
    for i in 0..40 {
        send!(tcb, now, seg(ts0, 1001 * i, &p[1001 * i..1001 * (i + 1)]));
        let Some(s) = tcb.poll_segment(now, MAX_PAYLOAD) else {
            continue; // the delayed ACK of every other segment
        };
        let repr = s.repr();
        let right = repr.ack_number.expect("ACK") + (usize::from(repr.window_len) << 3);
        assert!(
            right.ge(edge),
            "segment {i}: right edge {right} moved left of {edge}"
        );
        edge = right;
        windows.push(repr.window_len);
    }
    // The first ACK opens the free buffer, 262 144 − 2002 bytes, rounded down to 32 517 units
    // (edge 262 138). Then 262 138 − 4004 = 258 134 bytes = 32 266.75 units: rounding down
    // would pull the edge 6 bytes left; rounded up, it moves 2 bytes right. And so on.
    assert_eq!(windows[..3], [32_517, 32_267, 32_017]);
    assert_eq!(windows.len(), 20);
    // The user reads everything: the edge jumps to the whole free buffer, unit-aligned.
    assert_eq!(tcb.recv(&mut vec![0u8; 50_000]), Ok(40_040));
    recv!(tcb, now, ack(ts0, 40_040, FULL_WND, &[]));
}

#[test]
fn out_of_order_data_is_kept_up_to_the_window() {
    let now = Instant::now();
    let (mut tcb, ts0) = established(now);
    let p = payload(200_000);
    // 100 segments, every other one of 1000 bytes missing: 100 separate blocks, more than
    // the 64 configured, all inside the 262 144-byte window.
    assert!(full_cfg().max_ooo_segments < 100);
    for i in 0..100 {
        let off = 2000 * i + 1000;
        let out = send!(tcb, now, seg(ts0, off, &p[off..off + 1000]));
        assert_eq!(out.dropped, None, "segment {i}");
        let blocks: Vec<_> = (i.saturating_sub(2)..=i)
            .rev()
            .map(|j| (2000 * j + 1000, 2000 * j + 2000))
            .collect();
        recv!(tcb, now, ack(ts0, 0, FULL_WND, &blocks));
    }
    // The holes are filled in order: each ACK goes out at once and covers the next block.
    for i in 0..100 {
        let off = 2000 * i;
        send!(tcb, now, seg(ts0, off, &p[off..off + 1000]));
        let acked = 2000 * (i + 1);
        let blocks: Vec<_> = (i + 1..100)
            .rev()
            .take(3)
            .map(|j| (2000 * j + 1000, 2000 * j + 2000))
            .collect();
        let wnd = u16::try_from((262_144 - acked) / 8).expect("fits");
        recv!(tcb, now, ack(ts0, acked, wnd, &blocks));
    }
    let mut got = vec![0u8; 250_000];
    assert_eq!(tcb.recv(&mut got), Ok(200_000));
    assert_eq!(got[..200_000], p[..]);
}
