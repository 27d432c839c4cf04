//! Exact-frame tests of reassembly under a fragment flood: hundreds of datagrams that never
//! complete (first fragments, overlapping pairs, fragments far out at the end of the largest
//! datagram, lone middle pieces, fragments beyond the largest datagram) must not stop a
//! legitimate fragmented echo request that arrives after them from being reassembled and
//! answered byte for byte.

use boomerang_wire::Ipv4Packet;

use super::tests::{drain, fix_ip_checksum, hex, learn_peer, shard, FRAG1, FRAG2, FRAG_REPLY};
use super::Shard;

/// A fragment from the peer to us in the legitimate echo request's IPv4 header (protocol ICMP),
/// with another identification, offset, MF flag and payload; header checksum recomputed.
fn fragment(ident: u16, offset: u16, more: bool, payload: &[u8]) -> Vec<u8> {
    let mut frame = hex(FRAG1)[..34].to_vec();
    frame.extend_from_slice(payload);
    let total = u16::try_from(frame.len() - 14).expect("small fragment");
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut frame[14..]);
        ip.set_total_len(total);
        ip.set_ident(ident);
        ip.set_more_frags(more);
        ip.set_frag_offset(offset);
    }
    fix_ip_checksum(&mut frame);
    frame
}

/// Every datagram the reassembler ever started is accounted for exactly once: evicted,
/// discarded (overlap, malformed, limit, timeout), delivered, or still held.
fn assert_accounted(s: &Shard, started: u64) {
    let st = s.stats();
    let held = s.reassembly.len() as u64;
    assert_eq!(
        st.frag_evicted
            + st.frag_drop_overlap
            + st.frag_drop_limit
            + st.frag_drop_timeout
            + st.frag_reassembled
            + held,
        started,
        "{st:?}"
    );
}

#[test]
fn legitimate_datagram_is_reassembled_after_a_flood() {
    let (mut s, now) = shard();
    learn_peer(&mut s, now);
    let limits = s.config().limits.clone();
    let max_datagrams = limits.reassembly_max_datagrams as u64;
    let first = &hex(FRAG1)[34..];
    let mut started = 0u64;

    // 300 first fragments that never see their second half.
    for i in 0..300u16 {
        s.receive(&fragment(0x1000 + i, 0, true, first), now);
    }
    started += 300;
    assert_eq!(s.reassembly.len() as u64, max_datagrams);
    assert_eq!(s.stats().frag_evicted, 300 - max_datagrams);
    assert_eq!(
        s.reassembly_bytes(),
        limits.reassembly_max_datagrams * first.len()
    );
    assert_eq!(s.stats().frag_drop_limit, 0, "nothing refused");
    assert_accounted(&s, started);

    // 20 overlapping pairs: each pair's datagram is discarded whole on its second fragment.
    for i in 0..20u16 {
        s.receive(&fragment(0x2000 + i, 0, true, &[0xaa; 24]), now);
        s.receive(&fragment(0x2000 + i, 8, true, &[0xbb; 16]), now);
    }
    started += 20;
    assert_eq!(s.stats().frag_drop_overlap, 20);
    assert_accounted(&s, started);

    // 40 fragments at the very end of a 65 000-byte datagram: each holds ~64 KiB of buffer, so
    // the byte budget, not the count, is what fills now.
    for i in 0..40u16 {
        s.receive(&fragment(0x3000 + i, 65000, true, &[0xcc; 8]), now);
    }
    started += 40;
    assert!(s.reassembly_bytes() <= limits.reassembly_max_bytes);
    assert_eq!(s.stats().frag_drop_limit, 0);
    assert_accounted(&s, started);

    // 10 fragments that would end beyond the largest datagram: malformed, nothing started.
    for i in 0..10u16 {
        s.receive(&fragment(0x4000 + i, 65512, false, &[0xdd; 8]), now);
    }
    assert_eq!(s.stats().frag_drop_malformed, 10);

    // 100 lone middle fragments.
    for i in 0..100u16 {
        s.receive(&fragment(0x5000 + i, 8, true, &[0xee; 8]), now);
    }
    started += 100;
    assert!(
        drain(&mut s, now).is_empty(),
        "nothing of the flood is answered"
    );
    assert_eq!(s.reassembly.len() as u64, max_datagrams);
    assert_accounted(&s, started);

    // The legitimate echo request, second fragment first.
    let evicted = s.stats().frag_evicted;
    s.receive(&hex(FRAG2), now);
    assert!(drain(&mut s, now).is_empty());
    s.receive(&hex(FRAG1), now);
    started += 1;
    assert_eq!(drain(&mut s, now), vec![hex(FRAG_REPLY)]);
    assert_eq!(s.stats().frag_reassembled, 1);
    assert_eq!(
        s.stats().frag_evicted,
        evicted + 1,
        "it made room for itself"
    );
    assert_eq!(s.stats().frag_drop_limit, 0);
    assert_eq!(s.stats().frag_rx, 300 + 40 + 40 + 10 + 100 + 2);
    assert_accounted(&s, started);
    // 461 started, 20 discarded as overlapping, 1 delivered, 63 still held.
    assert_eq!(s.stats().frag_evicted, 377);

    // The rest of the flood still times out and frees everything.
    s.on_timeout(now + limits.reassembly_timeout);
    assert_eq!(s.reassembly_bytes(), 0);
    assert!(s.reassembly.is_empty());
    assert_accounted(&s, started);
}

#[test]
fn a_datagram_being_fed_outlives_all_but_the_budget_of_newer_ones() {
    let (mut s, now) = shard();
    learn_peer(&mut s, now);
    let max = s.config().limits.reassembly_max_datagrams;
    let first = &hex(FRAG1)[34..];
    let flood = |s: &mut Shard, base: u16, n: usize| {
        for i in 0..n {
            let ident = base + u16::try_from(i).expect("small flood");
            s.receive(&fragment(ident, 0, true, first), now);
        }
    };
    flood(&mut s, 0x1000, max);

    // Its second fragment arrives, then as many new datagrams as leave it room: it is the least
    // recently fed datagram only once all the others are newer, and it completes.
    s.receive(&hex(FRAG2), now);
    flood(&mut s, 0x2000, max - 1);
    s.receive(&hex(FRAG1), now);
    assert_eq!(drain(&mut s, now), vec![hex(FRAG_REPLY)]);

    // One more new datagram in between and it is the one evicted: its first fragment then
    // starts over and waits alone, unanswered.
    s.receive(&hex(FRAG2), now);
    flood(&mut s, 0x3000, max);
    s.receive(&hex(FRAG1), now);
    assert!(drain(&mut s, now).is_empty());
    assert_eq!(s.stats().frag_reassembled, 1);
    assert_eq!(
        s.stats().frag_evicted,
        // The first flood evicted nothing; after it, each new datagram evicted one, except the
        // second FRAG2, which found the room the completed datagram left.
        (1 + (max as u64 - 1)) + max as u64 + 1
    );
}
