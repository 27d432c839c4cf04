//! Exact-segment tests of the TCP state machine, grouped by state and behaviour (smoltcp's
//! `socket/tcp.rs` style): builders give a [`Tcb`] already in a given state, `send!` feeds a
//! segment from the peer, `recv!` expects the exact next segment we send.

mod close;
mod handshake;
mod options;
mod pacing;
mod rack_tlp;
mod receive;
mod receive_sack;
mod recovery;
mod retransmit;
mod sim;
mod sim_loss;
mod transmit;

use super::config::TcpConfig;
use super::state::TcpState;
use super::tcb::{Outcome, Tcb};
use crate::FourTuple;
use boomerang_wire::{SeqNumber, TcpControl, TcpRepr};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

pub const LOCAL_PORT: u16 = 80;
pub const REMOTE_PORT: u16 = 49500;
/// Our ISS.
pub const LOCAL_SEQ: SeqNumber = SeqNumber(10_000);
/// The peer's ISS.
pub const REMOTE_SEQ: SeqNumber = SeqNumber(50_000);
/// Our receive buffer (and so our window) in these tests.
pub const RCV_BUF: usize = 64_000;
pub const WND: u16 = RCV_BUF as u16;
/// The peer's MSS and window in these tests.
pub const PEER_MSS: u16 = 1000;
pub const PEER_WND: u16 = 20_000;
/// What the shard passes as `max_payload` (MTU 1500 − 40).
pub const MAX_PAYLOAD: usize = 1460;

/// A segment from the peer (fill in the rest with struct update syntax).
pub const SEND_TEMPL: TcpRepr<'static> = TcpRepr {
    src_port: REMOTE_PORT,
    dst_port: LOCAL_PORT,
    control: TcpControl::None,
    seq_number: SeqNumber(0),
    ack_number: None,
    window_len: PEER_WND,
    window_scale: None,
    max_seg_size: None,
    sack_permitted: false,
    sack_ranges: [None; 4],
    timestamp: None,
    payload: &[],
};

/// A segment we send.
pub const RECV_TEMPL: TcpRepr<'static> = TcpRepr {
    src_port: LOCAL_PORT,
    dst_port: REMOTE_PORT,
    control: TcpControl::None,
    seq_number: SeqNumber(0),
    ack_number: None,
    window_len: WND,
    window_scale: None,
    max_seg_size: None,
    sack_permitted: false,
    sack_ranges: [None; 4],
    timestamp: None,
    payload: &[],
};

pub fn tuple() -> FourTuple {
    FourTuple {
        local: SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), LOCAL_PORT),
        remote: SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 2), REMOTE_PORT),
    }
}

/// Options off so segments are easy to write down; 64 000-byte buffers.
pub fn cfg() -> TcpConfig {
    TcpConfig {
        rcv_buf: RCV_BUF,
        snd_buf: RCV_BUF,
        window_scaling: false,
        timestamps: false,
        sack: false,
        ..TcpConfig::default()
    }
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[track_caller]
pub fn expect_segment(tcb: &mut Tcb, now: Instant, expected: TcpRepr) {
    let got = tcb.poll_segment(now, MAX_PAYLOAD);
    let Some(got) = got else {
        panic!("expected {expected:?}, got nothing (state {})", tcb.state());
    };
    let mut payload = vec![0u8; got.payload_len()];
    assert_eq!(tcb.write_payload(&got, &mut payload), got.payload_len());
    assert_eq!(got.repr_with_payload(&payload), expected);
}

#[track_caller]
pub fn expect_nothing(tcb: &mut Tcb, now: Instant) {
    let got = tcb.poll_segment(now, MAX_PAYLOAD);
    assert!(
        got.is_none(),
        "expected nothing, got {:?}",
        got.map(|s| s.repr())
    );
}

/// Feed a segment from the peer: `send!(tcb, now, TcpRepr { .. })` → [`Outcome`].
macro_rules! send {
    ($tcb:expr, $now:expr, $seg:expr) => {
        $tcb.on_segment(&$seg, $now)
    };
}

/// Expect the exact next segment we send: `recv!(tcb, now, TcpRepr { .. })`, or
/// `recv!(tcb, now, nothing)`.
macro_rules! recv {
    ($tcb:expr, $now:expr, nothing) => {
        $crate::tcp::tests::expect_nothing(&mut $tcb, $now)
    };
    ($tcb:expr, $now:expr, $seg:expr) => {
        $crate::tcp::tests::expect_segment(&mut $tcb, $now, $seg)
    };
}

pub(crate) use {recv, send};

/// The peer's SYN.
pub fn remote_syn() -> TcpRepr<'static> {
    TcpRepr {
        control: TcpControl::Syn,
        seq_number: REMOTE_SEQ,
        max_seg_size: Some(PEER_MSS),
        ..SEND_TEMPL
    }
}

/// SYN-RECEIVED, our SYN-ACK already sent.
pub fn tcb_syn_received(cfg: &TcpConfig, now: Instant) -> Tcb {
    let mut tcb = Tcb::listen_syn(cfg, tuple(), &remote_syn(), LOCAL_SEQ, now);
    assert_eq!(tcb.state(), TcpState::SynReceived);
    let syn_ack = tcb.poll_segment(now, MAX_PAYLOAD).expect("SYN-ACK");
    assert_eq!(syn_ack.repr().control, TcpControl::Syn);
    tcb
}

/// ESTABLISHED by a passive open; nothing sent or received yet.
pub fn tcb_established(now: Instant) -> Tcb {
    tcb_established_with(&cfg(), now)
}

pub fn tcb_established_with(cfg: &TcpConfig, now: Instant) -> Tcb {
    let mut tcb = tcb_syn_received(cfg, now);
    let out = send!(
        tcb,
        now,
        TcpRepr {
            seq_number: REMOTE_SEQ + 1,
            ack_number: Some(LOCAL_SEQ + 1),
            ..SEND_TEMPL
        }
    );
    assert!(out.established);
    assert_eq!(tcb.state(), TcpState::Established);
    assert!(tcb.poll_segment(now, MAX_PAYLOAD).is_none());
    tcb
}

/// FIN-WAIT-1: we closed, our FIN (seq LOCAL_SEQ+1) sent and not acknowledged.
pub fn tcb_fin_wait_1(now: Instant) -> Tcb {
    let mut tcb = tcb_established(now);
    tcb.shutdown();
    recv!(
        tcb,
        now,
        TcpRepr {
            control: TcpControl::Fin,
            seq_number: LOCAL_SEQ + 1,
            ack_number: Some(REMOTE_SEQ + 1),
            ..RECV_TEMPL
        }
    );
    assert_eq!(tcb.state(), TcpState::FinWait1);
    tcb
}

/// FIN-WAIT-2: our FIN acknowledged.
pub fn tcb_fin_wait_2(now: Instant) -> Tcb {
    let mut tcb = tcb_fin_wait_1(now);
    send!(
        tcb,
        now,
        TcpRepr {
            seq_number: REMOTE_SEQ + 1,
            ack_number: Some(LOCAL_SEQ + 2),
            ..SEND_TEMPL
        }
    );
    assert_eq!(tcb.state(), TcpState::FinWait2);
    recv!(tcb, now, nothing);
    tcb
}

/// CLOSE-WAIT: the peer's FIN (seq REMOTE_SEQ+1) received and acknowledged.
pub fn tcb_close_wait(now: Instant) -> Tcb {
    let mut tcb = tcb_established(now);
    let out = send!(
        tcb,
        now,
        TcpRepr {
            control: TcpControl::Fin,
            seq_number: REMOTE_SEQ + 1,
            ack_number: Some(LOCAL_SEQ + 1),
            ..SEND_TEMPL
        }
    );
    assert!(out.readable);
    assert_eq!(tcb.state(), TcpState::CloseWait);
    // The FIN takes a sequence number but no buffer space: the right edge stays put.
    recv!(
        tcb,
        now,
        TcpRepr {
            seq_number: LOCAL_SEQ + 1,
            ack_number: Some(REMOTE_SEQ + 2),
            window_len: WND - 1,
            ..RECV_TEMPL
        }
    );
    tcb
}

/// TIME-WAIT after an active close.
pub fn tcb_time_wait(now: Instant) -> Tcb {
    let mut tcb = tcb_fin_wait_2(now);
    let out = send!(
        tcb,
        now,
        TcpRepr {
            control: TcpControl::Fin,
            seq_number: REMOTE_SEQ + 1,
            ack_number: Some(LOCAL_SEQ + 2),
            ..SEND_TEMPL
        }
    );
    assert!(out.time_wait);
    recv!(
        tcb,
        now,
        TcpRepr {
            seq_number: LOCAL_SEQ + 2,
            ack_number: Some(REMOTE_SEQ + 2),
            window_len: WND - 1,
            ..RECV_TEMPL
        }
    );
    assert_eq!(tcb.state(), TcpState::TimeWait);
    tcb
}

/// An ACK from the peer acknowledging up to `ack` (its seq at REMOTE_SEQ+1).
pub fn peer_ack(ack: SeqNumber) -> TcpRepr<'static> {
    TcpRepr {
        seq_number: REMOTE_SEQ + 1,
        ack_number: Some(ack),
        ..SEND_TEMPL
    }
}

/// The ACK we send for the peer's data up to `ack`.
pub fn our_ack(seq: SeqNumber, ack: SeqNumber) -> TcpRepr<'static> {
    TcpRepr {
        seq_number: seq,
        ack_number: Some(ack),
        ..RECV_TEMPL
    }
}

#[allow(dead_code)]
pub fn outcome_default() -> Outcome {
    Outcome::default()
}

/// `n` bytes of a recognisable pattern (a prime period, so offsets show in mismatches).
pub fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// Our data segment at `seq` carrying `p` (PSH when it is the last queued), acknowledging the
/// peer's SYN.
pub fn data_seg(seq: SeqNumber, p: &[u8], last: bool) -> TcpRepr<'_> {
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
