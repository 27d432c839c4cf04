//! The receive buffer with bounded out-of-order reassembly (RFC 9293 §3.10.7.4 "seventh").
//!
//! In-order bytes wait in a growable ring for the user; bytes that arrive past a hole are
//! written straight into the ring at their offset, and a short sorted list of ranges remembers
//! which parts past the hole are filled. The reach past `RCV.NXT` (`max_ooo_bytes`) and the
//! number of ranges are bounded; a segment that would exceed them is dropped (the peer
//! retransmits it). The range bound grows with the buffer, so a window of full-size segments
//! with every other one lost is kept whole: out-of-order data is held up to the window we
//! advertised. Offsets in `ranges` are relative to `RCV.NXT`.
//!
//! Each range carries the time (an insertion count) it last received a segment, so SACK blocks
//! go out as RFC 2018 §4 orders them: the block holding the most recently received segment
//! first, then the most recently reported ones. The buffer also reports the bytes of a segment
//! it already held, which the connection acknowledges as a D-SACK (RFC 2883).
//!
//! A small slack beyond the capacity takes the bytes a scaled window rounded up may let in
//! (RFC 7323 §2.3: the window field counts units of 2^shift bytes).

use super::byte_ring::ByteRing;

/// What inserting a segment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Inserted {
    /// Bytes that became in-order (`RCV.NXT` advances by this much).
    pub advanced: usize,
    /// The segment (or part of it) was kept out of order.
    pub out_of_order: bool,
    /// The segment filled (part of) a hole below held out-of-order data.
    pub filled_hole: bool,
    /// The segment was dropped for lack of room (limits).
    pub dropped: bool,
    /// The first part of the segment that was already held out of order, `[start, end)`
    /// relative to `RCV.NXT` before the insert (RFC 2883 D-SACK).
    pub duplicate: Option<(usize, usize)>,
}

/// The smallest segment the range bound plans for: the IPv4 default MSS (RFC 9293 §3.7.1).
const MIN_PLANNED_SEGMENT: usize = 536;

/// One out-of-order range `[start, end)` and when it last grew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ooo {
    start: usize,
    end: usize,
    seen: u64,
}

/// Received data of one connection: the in-order part and the bounded out-of-order part.
#[derive(Debug, Clone)]
pub struct RecvBuffer {
    ring: ByteRing,
    /// Sorted, disjoint, non-adjacent.
    ranges: Vec<Ooo>,
    /// Out-of-order insertions so far (the clock of `Ooo::seen`).
    clock: u64,
    max_ooo_segments: usize,
    max_ooo_bytes: usize,
    /// Bytes the ring may hold beyond the capacity (window rounding).
    slack: usize,
}

impl RecvBuffer {
    /// An empty buffer bounded by `max` bytes and the given out-of-order limits.
    pub fn new(max: usize, max_ooo_segments: usize, max_ooo_bytes: usize) -> RecvBuffer {
        RecvBuffer {
            ring: ByteRing::new(max),
            ranges: Vec::new(),
            clock: 0,
            max_ooo_segments,
            max_ooo_bytes,
            slack: 0,
        }
    }

    /// Lets the buffer hold up to `slack` bytes beyond its capacity: what rounding a scaled
    /// window up may admit. Never lowers it.
    pub fn allow_slack(&mut self, slack: usize) {
        if slack > self.slack {
            let capacity = self.capacity();
            self.slack = slack;
            self.ring.raise_max(capacity + slack);
        }
    }

    /// The slack beyond the capacity.
    pub fn slack(&self) -> usize {
        self.slack
    }

    /// In-order bytes waiting for the user.
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// No in-order bytes waiting.
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// Room beyond the in-order bytes (the most we may advertise, RFC 9293 §3.8.6).
    pub fn window(&self) -> usize {
        self.ring.free().saturating_sub(self.slack)
    }

    /// Room beyond the in-order bytes including the slack: what can still be stored.
    pub fn room(&self) -> usize {
        self.ring.free()
    }

    /// The configured maximum.
    pub fn capacity(&self) -> usize {
        self.ring.max() - self.slack
    }

    /// Raises the capacity to `max` (receive-window auto-tuning; never lowers it).
    pub fn raise_capacity(&mut self, max: usize) {
        self.ring.raise_max(max + self.slack);
    }

    /// Most out-of-order ranges held: the configured bound, or enough for a full buffer of
    /// minimum-size segments with every other one missing, whichever is larger.
    fn max_ranges(&self) -> usize {
        self.max_ooo_segments
            .max(self.capacity() / (2 * MIN_PLANNED_SEGMENT))
    }

    /// Bytes of storage allocated.
    pub fn allocated(&self) -> usize {
        self.ring.allocated()
    }

    /// Out-of-order data is held.
    pub fn has_out_of_order(&self) -> bool {
        !self.ranges.is_empty()
    }

    /// Out-of-order ranges held.
    pub fn ooo_count(&self) -> usize {
        self.ranges.len()
    }

    /// Out-of-order ranges (relative to `RCV.NXT`) as RFC 2018 §4 orders SACK blocks: the one
    /// that received the most recent segment first, then the others from the most recently
    /// received (so most recently reported as first block) down. Each step scans the ranges;
    /// callers take the few blocks that fit in an option.
    pub fn sack_ranges(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let mut below = u64::MAX;
        std::iter::from_fn(move || {
            let next = self
                .ranges
                .iter()
                .filter(|r| r.seen < below)
                .max_by_key(|r| r.seen)?;
            below = next.seen;
            Some((next.start, next.end))
        })
    }

    /// The out-of-order range holding `[start, end)`, if one does.
    pub fn range_holding(&self, start: usize, end: usize) -> Option<(usize, usize)> {
        self.ranges
            .iter()
            .find(|r| r.start <= start && end <= r.end)
            .map(|r| (r.start, r.end))
    }

    /// Stores `data` whose first byte lies `offset` bytes past `RCV.NXT` (the caller trimmed it
    /// to the advertised window).
    pub fn insert(&mut self, offset: usize, data: &[u8]) -> Inserted {
        let mut out = Inserted::default();
        if data.is_empty() {
            return out;
        }
        let base = self.ring.len();
        let mut end = offset.saturating_add(data.len());
        // Bytes already held: the first overlap with a range (ranges are sorted).
        out.duplicate = self
            .ranges
            .iter()
            .find(|r| r.start < end && offset < r.end)
            .map(|r| (offset.max(r.start), end.min(r.end)));
        if offset > 0 {
            // Out of order: bounded reach and bounded number of ranges.
            end = end.min(self.max_ooo_bytes);
            if end <= offset {
                out.dropped = true;
                return out;
            }
            let touching = self
                .ranges
                .iter()
                .any(|r| r.start <= end && offset <= r.end);
            if !touching && self.ranges.len() >= self.max_ranges() {
                out.dropped = true;
                return out;
            }
        }
        let written = self.ring.write_at(base + offset, &data[..end - offset]);
        if written == 0 {
            out.dropped = true;
            return out;
        }
        let end = offset + written;
        // Merge [offset, end) into the sorted, disjoint, non-adjacent ranges.
        let mut start = offset;
        let mut stop = end;
        let had_ooo = !self.ranges.is_empty();
        self.ranges.retain(|r| {
            if r.start <= stop && start <= r.end {
                start = start.min(r.start);
                stop = stop.max(r.end);
                false
            } else {
                true
            }
        });
        if start == 0 {
            self.ring.commit(stop);
            out.advanced = stop;
            out.filled_hole = had_ooo;
            for r in self.ranges.iter_mut() {
                r.start -= stop;
                r.end -= stop;
            }
        } else {
            self.clock += 1;
            let pos = self.ranges.partition_point(|r| r.start < start);
            self.ranges.insert(
                pos,
                Ooo {
                    start,
                    end: stop,
                    seen: self.clock,
                },
            );
            out.out_of_order = true;
        }
        out
    }

    /// Moves in-order bytes to `dst`; returns the count.
    pub fn read(&mut self, dst: &mut [u8]) -> usize {
        let n = self.ring.read_at(0, dst);
        self.ring.consume(n);
        if self.ranges.is_empty() {
            self.ring.release_if_empty();
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_then_read() {
        let mut b = RecvBuffer::new(100, 4, 100);
        let r = b.insert(0, b"abc");
        assert_eq!(r.advanced, 3);
        assert!(!r.out_of_order);
        let mut out = [0u8; 10];
        assert_eq!(b.read(&mut out), 3);
        assert_eq!(&out[..3], b"abc");
        assert_eq!(b.allocated(), 0);
    }

    #[test]
    fn reassembles_holes_in_any_order() {
        let mut b = RecvBuffer::new(100, 4, 100);
        assert!(b.insert(6, b"ghi").out_of_order);
        assert!(b.insert(3, b"def").out_of_order);
        assert_eq!(b.sack_ranges().collect::<Vec<_>>(), vec![(3, 9)]);
        assert!(b.insert(10, b"k").out_of_order);
        assert_eq!(b.sack_ranges().collect::<Vec<_>>(), vec![(10, 11), (3, 9)]);
        let r = b.insert(0, b"abc");
        assert_eq!(r.advanced, 9);
        assert!(r.filled_hole);
        assert_eq!(b.sack_ranges().collect::<Vec<_>>(), vec![(1, 2)]);
        let r = b.insert(0, b"j");
        assert_eq!(r.advanced, 2);
        let mut out = [0u8; 20];
        assert_eq!(b.read(&mut out), 11);
        assert_eq!(&out[..11], b"abcdefghijk");
    }

    #[test]
    fn overlapping_and_duplicate_segments() {
        let mut b = RecvBuffer::new(100, 4, 100);
        b.insert(2, b"cdef");
        b.insert(4, b"efgh");
        b.insert(2, b"cd");
        assert_eq!(b.sack_ranges().collect::<Vec<_>>(), vec![(2, 8)]);
        assert_eq!(b.insert(0, b"abc").advanced, 8);
        let mut out = [0u8; 20];
        assert_eq!(b.read(&mut out), 8);
        assert_eq!(&out[..8], b"abcdefgh");
    }

    #[test]
    fn limits_bound_out_of_order_state() {
        let mut b = RecvBuffer::new(1000, 2, 50);
        assert!(!b.insert(10, b"x").dropped);
        assert!(!b.insert(20, b"y").dropped);
        assert!(
            b.insert(30, b"z").dropped,
            "third range exceeds max_ooo_segments"
        );
        assert!(
            !b.insert(21, b"y").dropped,
            "adjacent merges into an existing range"
        );
        assert!(b.insert(60, b"far").dropped, "past max_ooo_bytes");
        let r = b.insert(45, b"0123456789");
        assert!(r.dropped, "would be a third range");
        assert_eq!(b.sack_ranges().count(), 2);
    }

    #[test]
    fn window_shrinks_with_unread_data() {
        let mut b = RecvBuffer::new(10, 4, 10);
        assert_eq!(b.window(), 10);
        assert_eq!(b.insert(0, b"0123456789abc").advanced, 10);
        assert_eq!(b.window(), 0);
    }
}

#[cfg(test)]
mod model_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Against a model stream: segments of a random byte stream arrive in any order, any
        /// overlap and duplication, trimmed to the window as the connection does; whatever is
        /// delivered is exactly the stream's prefix, and everything arrives once all is sent.
        #[test]
        fn delivers_the_stream_prefix(
            seed_segments in proptest::collection::vec((0usize..3000, 1usize..700), 1..60),
            reads in proptest::collection::vec(0usize..900, 1..60),
        ) {
            let stream: Vec<u8> = (0..4000u32).map(|i| (i * 31 % 251) as u8).collect();
            let mut b = RecvBuffer::new(2048, 8, 2048);
            let mut rcv_nxt = 0usize; // stream offset of RCV.NXT
            let mut out = Vec::new();
            let mut reads = reads.into_iter().cycle();
            let feed = |b: &mut RecvBuffer, rcv_nxt: &mut usize, start: usize, len: usize| {
                let end = (start + len).min(stream.len());
                if end <= *rcv_nxt {
                    return;
                }
                let start = start.max(*rcv_nxt);
                let offset = start - *rcv_nxt;
                let room = b.window().saturating_sub(offset);
                let end = end.min(start + room);
                if end <= start {
                    return;
                }
                let r = b.insert(offset, &stream[start..end]);
                *rcv_nxt += r.advanced;
            };
            for (start, len) in seed_segments {
                feed(&mut b, &mut rcv_nxt, start, len);
                let mut buf = vec![0u8; reads.next().unwrap_or(0)];
                let n = b.read(&mut buf);
                out.extend_from_slice(&buf[..n]);
                prop_assert_eq!(&out[..], &stream[..out.len()]);
                prop_assert!(b.ranges.len() <= 8);
                prop_assert!(b.ranges.windows(2).all(|w| w[0].end < w[1].start));
            }
            // Then everything in order (a retransmission pass) until the stream is delivered.
            let mut guard = 0;
            while out.len() < stream.len() {
                let at = rcv_nxt;
                feed(&mut b, &mut rcv_nxt, at, 700);
                let mut buf = vec![0u8; 1000];
                let n = b.read(&mut buf);
                out.extend_from_slice(&buf[..n]);
                guard += 1;
                prop_assert!(guard < 1000);
            }
            prop_assert_eq!(&out[..], &stream[..]);
            prop_assert_eq!(b.allocated(), 0);
        }
    }
}
