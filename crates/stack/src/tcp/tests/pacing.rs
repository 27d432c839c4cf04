//! Pacing (for controllers that set a rate: BBR) and send-buffer auto-sizing (Linux
//! `tcp_sndbuf_expand`): departures are spaced by `len / pacing_rate` with at most
//! [`PACING_BURST`] of credit, the pacing release time is the connection's deadline, and the
//! send buffer grows to twice the congestion window, up to `snd_buf`, never shrinking.

use super::*;
use crate::tcp::config::CongestionAlgorithm;
use crate::tcp::congestion::Controller;
use crate::tcp::output::PACING_BURST;

/// The round-trip time the handshake measures in these tests: slow enough a path that the
/// initial window does not fit in the pacing credit.
const RTT: Duration = Duration::from_millis(40);
/// Bytes a data segment counts against the pacing rate: payload plus IPv4, TCP and timestamp
/// option headers (`PACING_HEADER_BYTES`).
const PACED_SEGMENT: f64 = PEER_MSS as f64 + 52.0;
/// BBR's STARTUP gain `2/ln 2` (`BBR_HIGH_GAIN`).
const BBR_HIGH_GAIN: f64 = 2.885;

fn with_congestion(congestion: CongestionAlgorithm) -> TcpConfig {
    TcpConfig {
        congestion,
        ..cfg()
    }
}

/// ESTABLISHED by a passive open whose SYN-ACK the peer acknowledged [`RTT`] after `t0`: the
/// handshake gave the first RTT sample (SRTT = [`RTT`]). Returns the connection and that
/// instant.
fn established_after_rtt(cfg: &TcpConfig, t0: Instant) -> (Tcb, Instant) {
    let mut tcb = tcb_syn_received(cfg, t0);
    let t = t0 + RTT;
    let out = send!(
        tcb,
        t,
        TcpRepr {
            seq_number: REMOTE_SEQ + 1,
            ack_number: Some(LOCAL_SEQ + 1),
            ..SEND_TEMPL
        }
    );
    assert!(out.established);
    recv!(tcb, t, nothing);
    (tcb, t)
}

/// Sends everything the windows allow, waking up at each pacing release time; returns the
/// instant the last segment left (or `now`).
fn transmit_paced(tcb: &mut Tcb, mut now: Instant) -> Instant {
    loop {
        while tcb.poll_segment(now, MAX_PAYLOAD).is_some() {}
        let Some(release) = tcb.pace_at else {
            return now;
        };
        assert_eq!(tcb.next_deadline(), Some(release));
        now = release;
        tcb.on_deadline(now);
    }
}

/// Segments that leave at once from an idle start: ⌊credit / gap⌋ + 1, the credit being
/// [`PACING_BURST`] or two gaps, whichever is longer.
fn burst_of(gap: Duration) -> usize {
    let credit = PACING_BURST.max(gap * 2);
    (credit.as_nanos() / gap.as_nanos()) as usize + 1
}

#[track_caller]
fn assert_near(got: Duration, want: Duration) {
    let diff = got.abs_diff(want);
    assert!(
        diff <= Duration::from_micros(1),
        "{got:?} ≠ {want:?} (±1 µs)"
    );
}

#[test]
fn bbr_burst_after_handshake_leaves_paced() {
    let (mut tcb, t) =
        established_after_rtt(&with_congestion(CongestionAlgorithm::Bbr), Instant::now());
    // Before any bandwidth sample BBR paces the initial window per SRTT at STARTUP's gain:
    // 2.885 × 10 000 bytes / 40 ms ≈ 721 kB/s, one 1 052-byte segment per ≈ 1.46 ms.
    let rate = tcb.cc.pacing_rate().expect("BBR paces");
    assert!(
        (rate - BBR_HIGH_GAIN * 10_000.0 / RTT.as_secs_f64()).abs() < 1e-3,
        "{rate}"
    );
    let gap = Duration::from_secs_f64(PACED_SEGMENT / rate);
    let burst = burst_of(gap);
    assert!(
        (2..10).contains(&burst),
        "the test needs a held-back tail: {burst}"
    );
    let credit = PACING_BURST.max(gap * 2);

    let p = payload(10_000);
    assert_eq!(tcb.send(&p), Ok(10_000));
    // The credit covers `burst` segments at once (5 ms / 1.46 ms → 4)...
    for i in 0..burst {
        recv!(
            tcb,
            t,
            data_seg(
                LOCAL_SEQ + 1 + i * 1000,
                &p[i * 1000..(i + 1) * 1000],
                false
            )
        );
    }
    // ...then pacing holds the rest (the congestion window has room for all ten), and the
    // connection's deadline is the release time of the next segment.
    recv!(tcb, t, nothing);
    let mut release = tcb.next_deadline().expect("a pacing deadline");
    assert_eq!(tcb.pace_at, Some(release));
    assert_near(release - t, gap * burst as u32 - credit);
    assert!(tcb.rtx_at.is_some_and(|rto| rto > release));
    recv!(tcb, release - Duration::from_nanos(1), nothing);

    let mut departures = vec![t; burst];
    for i in burst..10 {
        tcb.on_deadline(release);
        recv!(
            tcb,
            release,
            data_seg(
                LOCAL_SEQ + 1 + i * 1000,
                &p[i * 1000..(i + 1) * 1000],
                i == 9
            )
        );
        departures.push(release);
        if i < 9 {
            // One segment per release: the next waits a gap.
            recv!(tcb, release, nothing);
            let next = tcb.next_deadline().expect("the next release");
            assert_near(next - release, gap);
            release = next;
        }
    }
    // Ten segments took nine gaps less the credit, i.e. the pacing rate.
    assert_near(departures[9] - departures[0], 9 * gap - credit);
    let span = (departures[9] - departures[0]).as_secs_f64();
    assert!(span >= (9.0 * PACED_SEGMENT / rate) - credit.as_secs_f64() - 1e-6);
    assert!(span <= 9.0 * PACED_SEGMENT / rate);
    // All sent: nothing is held, the only deadline is the retransmission timer.
    recv!(tcb, release, nothing);
    assert_eq!(tcb.pace_at, None);
    assert_eq!(tcb.next_deadline(), tcb.rtx_at);
}

#[test]
fn bbr_late_wakeup_sends_at_most_the_credit() {
    let (mut tcb, t) =
        established_after_rtt(&with_congestion(CongestionAlgorithm::Bbr), Instant::now());
    let rate = tcb.cc.pacing_rate().expect("BBR paces");
    let gap = Duration::from_secs_f64(PACED_SEGMENT / rate);
    let burst = burst_of(gap);
    let credit = PACING_BURST.max(gap * 2);
    tcb.send(&payload(10_000)).unwrap();
    let mut sent = 0;
    while tcb.poll_segment(t, MAX_PAYLOAD).is_some() {
        sent += 1;
    }
    assert_eq!(sent, burst);
    // The wake-up comes three credits late (a shard descheduled on a busy machine): the time
    // lost is made up only to the credit, so a burst of the credit's size leaves, not the
    // rest of the window.
    let late = tcb.next_deadline().unwrap() + credit * 3;
    tcb.on_deadline(late);
    let mut burst = 0;
    while tcb.poll_segment(late, MAX_PAYLOAD).is_some() {
        burst += 1;
    }
    assert_eq!(burst, burst_of(gap));
    assert!(sent + burst < 10, "the window had more");
    assert_near(
        tcb.next_deadline().unwrap() - late,
        gap * burst as u32 - credit,
    );
}

#[test]
fn cubic_is_never_paced() {
    let (mut tcb, t) = established_after_rtt(&cfg(), Instant::now());
    assert_eq!(tcb.cc.pacing_rate(), None);
    let p = payload(10_000);
    tcb.send(&p).unwrap();
    // The whole initial window at once.
    for i in 0..10 {
        recv!(
            tcb,
            t,
            data_seg(
                LOCAL_SEQ + 1 + i * 1000,
                &p[i * 1000..(i + 1) * 1000],
                i == 9
            )
        );
    }
    recv!(tcb, t, nothing);
    assert_eq!((tcb.pace_next, tcb.pace_at), (None, None));
    assert_eq!(tcb.next_deadline(), Some(t + tcb.rto()), "only the RTO");
    // ACKs open the window: the new segments leave at once, again without a pacing deadline.
    let t2 = t + RTT;
    send!(tcb, t2, peer_ack(LOCAL_SEQ + 1 + 2000));
    tcb.send(&payload(4_000)).unwrap();
    let mut sent = 0;
    while tcb.poll_segment(t2, MAX_PAYLOAD).is_some() {
        sent += 1;
    }
    assert_eq!(sent, 4, "slow start: 2 acknowledged, 2 more of window");
    assert_eq!((tcb.pace_next, tcb.pace_at), (None, None));
}

/// Fills the send buffer and ACKs one segment at a time, `dt` apart; checks after each ACK
/// that the buffer is `max(2 × cwnd, before)` capped at `snd_buf`, and returns its size.
fn autosize_run(
    tcb: &mut Tcb,
    mut now: Instant,
    dt: Duration,
    acks: usize,
    snd_buf: usize,
) -> usize {
    let p = payload(snd_buf);
    let mut una = LOCAL_SEQ + 1;
    let mut size = tcb.send_capacity() + tcb.send_queue();
    for _ in 0..acks {
        let room = tcb.send_capacity();
        assert_eq!(tcb.send(&p[..room]), Ok(room));
        now = transmit_paced(tcb, now);
        now += dt;
        una += 1000;
        assert!(una.le(tcb.snd_nxt()));
        let out = send!(
            tcb,
            now,
            TcpRepr {
                window_len: 60_000,
                ..peer_ack(una)
            }
        );
        let grown = tcb.send_capacity() + tcb.send_queue();
        assert_eq!(
            grown,
            size.max(2 * tcb.cwnd()).min(snd_buf),
            "cwnd {}",
            tcb.cwnd()
        );
        assert!(out.writable, "room freed (and maybe grown)");
        size = grown;
    }
    size
}

#[test]
fn send_buffer_grows_with_cwnd_up_to_snd_buf() {
    let cfg = TcpConfig {
        snd_buf_initial: 16_000,
        snd_buf: 40_000,
        ..cfg()
    };
    let t0 = Instant::now();
    let mut tcb = tcb_established_with(&cfg, t0);
    // The handshake's ACK already sized it for the initial window: 2 × 10 000.
    assert_eq!(tcb.send_capacity(), 20_000);
    let size = autosize_run(&mut tcb, t0, ms(1), 30, 40_000);
    assert_eq!(size, 40_000);
    assert!(
        tcb.cwnd() >= 30_000,
        "cwnd {} went past snd_buf / 2",
        tcb.cwnd()
    );
    // A retransmission timeout cuts cwnd to one segment; the buffer keeps its size.
    let rto = tcb.next_deadline().unwrap();
    let out = tcb.on_deadline(rto);
    assert!(out.retransmit_timeout);
    assert_eq!(tcb.cwnd(), 1000);
    assert_eq!(
        tcb.send_capacity() + tcb.send_queue(),
        40_000,
        "never shrinks"
    );
}

#[test]
fn send_buffer_grows_with_bbr_deliveries() {
    let cfg = TcpConfig {
        snd_buf_initial: 16_000,
        snd_buf: 30_000,
        ..with_congestion(CongestionAlgorithm::Bbr)
    };
    let (mut tcb, t) = established_after_rtt(&cfg, Instant::now());
    // Sized for the initial window by the handshake's ACK, as with any controller.
    assert_eq!(tcb.send_capacity(), 20_000);
    // One segment acknowledged per ms is a 1 MB/s bottleneck: BBR leaves STARTUP with cwnd
    // near 2 × BDP (19 segments here), enough to reach the 30 000-byte cap.
    let size = autosize_run(&mut tcb, t, ms(1), 40, 30_000);
    assert_eq!(size, 30_000);
    assert!(tcb.cwnd() > 15_000, "cwnd {}", tcb.cwnd());
}

#[test]
fn send_buffer_is_fixed_when_initial_is_snd_buf() {
    let cfg = TcpConfig {
        snd_buf_initial: 20_000,
        snd_buf: 20_000,
        ..cfg()
    };
    let t0 = Instant::now();
    let mut tcb = tcb_established_with(&cfg, t0);
    assert_eq!(tcb.send_capacity(), 20_000);
    let size = autosize_run(&mut tcb, t0, ms(1), 20, 20_000);
    assert_eq!(size, 20_000);
    assert!(tcb.cwnd() > 20_000);
}
