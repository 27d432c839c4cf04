//! Unit tests of [`Recovery`]'s own rules: the reordering window of RFC 8985 §6.2 and how
//! reordering is learnt.

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn flight(una: u32, max: u32) -> Flight {
    Flight {
        una: SeqNumber(una),
        max: SeqNumber(max),
        mss: 1000,
    }
}

/// A D-SACK block below the cumulative ACK `ack`.
fn dsack(ack: u32) -> [Option<(u32, u32)>; 4] {
    [Some((ack - 1000, ack)), None, None, None]
}

/// RFC 8985 §6.2 step 4: a quarter of the minimum RTT; zero once DupThresh segments are
/// SACKed or in recovery while no reordering was seen; one step wider per round trip that
/// brings D-SACKs, bounded by SRTT, back to one step after 16 recoveries without a D-SACK.
#[test]
fn reordering_window_grows_per_dsack_round_and_decays() {
    let mut r = Recovery::new(SeqNumber(0));
    r.min_rtt = Some(ms(40));
    let srtt = Some(ms(100));
    assert_eq!(r.reo_wnd(srtt), ms(10));
    r.in_recovery = true;
    assert_eq!(
        r.reo_wnd(srtt),
        Duration::ZERO,
        "in recovery, no reordering"
    );
    r.in_recovery = false;
    assert!(r
        .on_dsack(&dsack(1000), SeqNumber(1000), flight(1000, 5000))
        .is_none());
    assert_eq!(r.reo_wnd(srtt), ms(20));
    r.in_recovery = true;
    assert_eq!(
        r.reo_wnd(srtt),
        ms(20),
        "the path reorders: a window in recovery too"
    );
    // More D-SACKs in the same round trip (SND.UNA below 5000): no further step.
    r.on_dsack(&dsack(2000), SeqNumber(2000), flight(2000, 6000));
    r.on_dsack(&dsack(4000), SeqNumber(4000), flight(4000, 8000));
    assert_eq!(r.reo_wnd(srtt), ms(20));
    // The next round trip's D-SACK: one more step.
    r.on_dsack(&dsack(5000), SeqNumber(5000), flight(5000, 9000));
    assert_eq!(r.reo_wnd(srtt), ms(30));
    assert_eq!(r.reo_wnd(Some(ms(25))), ms(25), "at most SRTT");
    // A block that is not a D-SACK (above the ACK, alone) changes nothing.
    let plain = [Some((9000, 10_000)), None, None, None];
    r.on_dsack(&plain, SeqNumber(9000), flight(9000, 12_000));
    assert_eq!(r.reo_wnd(srtt), ms(30));
    for _ in 0..REO_WND_PERSIST - 1 {
        r.on_recovery_exit();
    }
    assert_eq!(r.reo_wnd(srtt), ms(30));
    r.on_recovery_exit();
    assert_eq!(r.reo_wnd(srtt), ms(10), "back to a quarter");
}

fn sack(l: u32, r: u32) -> [Option<(u32, u32)>; 4] {
    [Some((l, r)), None, None, None]
}

/// Five 1000-byte segments sent at `t`, logged.
fn five_sent(r: &mut Recovery, t: Instant) {
    for i in 0..5u32 {
        r.on_data_sent(SeqNumber(i * 1000), 1000, false, true, false, t);
    }
}

/// The ACK step as `input.rs` runs it: SACK blocks, then (with `SND.UNA` at `una`) RACK.
fn ack(r: &mut Recovery, una: u32, blocks: &[Option<(u32, u32)>], t: Instant) -> AckVerdict {
    r.on_ack_sacks(SeqNumber(una), blocks, flight(0, 5000));
    r.after_ack(blocks, None, true, flight(una, 5000), Some(ms(40)), t)
}

/// RFC 8985 §6.2 step 3: a hole below SACKed data filled without a retransmission is
/// reordering; filled by a retransmission it proves nothing.
#[test]
fn a_hole_filled_by_its_original_shows_reordering() {
    let t = Instant::now();
    let mut r = Recovery::new(SeqNumber(0));
    five_sent(&mut r, t);
    ack(&mut r, 0, &sack(1000, 2000), t);
    assert!(
        !r.reordering_seen,
        "a SACK above a hole alone is not reordering"
    );
    ack(&mut r, 2000, &[None; 4], t);
    assert!(r.reordering_seen);

    let mut r = Recovery::new(SeqNumber(0));
    five_sent(&mut r, t);
    ack(&mut r, 0, &sack(1000, 2000), t);
    r.on_data_sent(SeqNumber(0), 1000, true, true, false, t);
    ack(&mut r, 2000, &[None; 4], t);
    assert!(!r.reordering_seen, "the resend may have filled it");

    // A new SACK block below the highest SACKed byte, never resent: reordering too.
    let mut r = Recovery::new(SeqNumber(0));
    five_sent(&mut r, t);
    ack(&mut r, 0, &sack(3000, 4000), t);
    ack(&mut r, 0, &sack(1000, 2000), t);
    assert!(r.reordering_seen);
    // In order, nothing is.
    let mut r = Recovery::new(SeqNumber(0));
    five_sent(&mut r, t);
    ack(&mut r, 0, &sack(1000, 2000), t);
    ack(&mut r, 0, &sack(1000, 3000), t);
    ack(&mut r, 0, &sack(1000, 4000), t);
    assert!(!r.reordering_seen);
}

/// RFC 8985 §6.2 step 5 through [`Recovery`]: the segment below one SACKed segment waits
/// `RACK.rtt + reo_wnd` (the reordering timer); from DupThresh SACKed segments on, the window
/// is zero and it is lost at once — RFC 6675's rule as a special case.
#[test]
fn rack_waits_a_reordering_window_below_dupthresh_sacks() {
    let t = Instant::now();
    let mut r = Recovery::new(SeqNumber(0));
    r.min_rtt = Some(ms(40));
    five_sent(&mut r, t);
    let now = t + ms(40);
    assert_eq!(ack(&mut r, 0, &sack(1000, 2000), now), AckVerdict::Nothing);
    assert_eq!(
        r.reo_at,
        Some(t + ms(50)),
        "xmit_ts + RACK.rtt (40) + reo_wnd (10)"
    );
    assert_eq!(ack(&mut r, 0, &sack(1000, 3000), now), AckVerdict::Nothing);
    assert_eq!(
        ack(&mut r, 0, &sack(1000, 4000), now),
        AckVerdict::EnterRecovery
    );
    assert_eq!(r.rack.next_lost(SeqNumber(0)), Some((SeqNumber(0), 1000)));
    assert_eq!(r.pipe(flight(0, 5000)), 1000, "4000..5000 only");
}
