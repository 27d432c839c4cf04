//! IPv4 fragment reassembly (RFC 791 §3.2, RFC 815) with hard memory bounds.
//!
//! Invariants: at most `reassembly_max_datagrams` datagrams and `reassembly_max_bytes` bytes of
//! buffers are held; a datagram with more than `reassembly_max_fragments` fragments, with
//! overlapping fragments (other than an exact duplicate), with inconsistent lengths, or that
//! does not complete within `reassembly_timeout` is discarded whole (overlaps are how fragment
//! attacks hide data from middleboxes; RFC 5722 discards them for IPv6, Linux does for IPv4).
//!
//! When a fragment needs room that the budget no longer has (a new datagram beyond the count
//! limit, or bytes beyond the memory limit), the least recently fed incomplete datagram is
//! evicted, then the next, until it fits: a flood of fragments that never complete cannot lock
//! out a legitimate datagram that arrives after it, it only ages the flood out faster. The
//! datagrams are kept in that order (least recently fed first), so eviction is deterministic.

use std::net::Ipv4Addr;
use std::time::Instant;

use boomerang_wire::IpProtocol;

use crate::config::Limits;

/// The largest IPv4 payload: a 65535-byte datagram minus the minimal header.
pub const MAX_DATAGRAM_PAYLOAD: usize = 65535 - 20;

/// Fragments belong to the same datagram when these match (RFC 791 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragKey {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Identification field.
    pub ident: u16,
    /// Protocol.
    pub protocol: IpProtocol,
}

/// What happened to one fragment.
#[derive(Debug, PartialEq, Eq)]
pub enum FragOutcome {
    /// Stored; the datagram is not complete yet.
    Incomplete,
    /// An exact duplicate of a fragment already held; ignored.
    Duplicate,
    /// The datagram is complete: here is its payload.
    Complete(Vec<u8>),
    /// The fragment overlapped another: the datagram was discarded.
    Overlap,
    /// A limit was reached even with nothing left to evict (the datagram alone needs more than
    /// the whole budget, or has too many fragments): the fragment and its datagram were
    /// discarded.
    Limit,
    /// Offsets or lengths are inconsistent: the fragment (and its datagram) was discarded.
    Malformed,
}

#[derive(Debug)]
struct Datagram {
    key: FragKey,
    buf: Vec<u8>,
    /// Received byte ranges `[start, end)`, sorted by start, non-overlapping.
    ranges: Vec<(usize, usize)>,
    total: Option<usize>,
    deadline: Instant,
}

impl Datagram {
    fn complete(&self) -> bool {
        let Some(total) = self.total else {
            return false;
        };
        let mut next = 0;
        for &(s, e) in &self.ranges {
            if s != next {
                return false;
            }
            next = e;
        }
        next == total
    }
}

/// The datagrams being reassembled by one shard.
#[derive(Debug, Default)]
pub struct Reassembler {
    /// Least recently fed first.
    datagrams: Vec<Datagram>,
    bytes: usize,
    evicted: u64,
}

impl Reassembler {
    /// Bytes of buffer held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Datagrams in progress.
    pub fn len(&self) -> usize {
        self.datagrams.len()
    }

    /// Whether no datagram is in progress.
    pub fn is_empty(&self) -> bool {
        self.datagrams.is_empty()
    }

    /// Incomplete datagrams evicted to make room for newer fragments, since the start. The
    /// caller reads the difference around [`Reassembler::add`] to count evictions.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// The earliest reassembly deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.datagrams.iter().map(|d| d.deadline).min()
    }

    /// Discards datagrams whose deadline passed; returns how many.
    pub fn expire(&mut self, now: Instant) -> u64 {
        let before = self.datagrams.len();
        let mut freed = 0;
        self.datagrams.retain(|d| {
            let keep = d.deadline > now;
            if !keep {
                freed += d.buf.len();
            }
            keep
        });
        self.bytes -= freed;
        (before - self.datagrams.len()) as u64
    }

    fn discard(&mut self, i: usize) -> Datagram {
        let d = self.datagrams.remove(i);
        self.bytes -= d.buf.len();
        d
    }

    /// Evicts the least recently fed datagram (the first).
    fn evict_oldest(&mut self) {
        self.discard(0);
        self.evicted += 1;
    }

    /// Adds one fragment: `offset` in bytes, `more` = the MF flag, `data` = its payload.
    pub fn add(
        &mut self,
        key: FragKey,
        offset: usize,
        more: bool,
        data: &[u8],
        now: Instant,
        limits: &Limits,
    ) -> FragOutcome {
        let len = data.len();
        let end = offset + len;
        let found = self.datagrams.iter().position(|d| d.key == key);
        // RFC 791: every fragment but the last carries a multiple of 8 bytes, and at least 8.
        if (more && (len == 0 || !len.is_multiple_of(8))) || end > MAX_DATAGRAM_PAYLOAD {
            if let Some(i) = found {
                self.discard(i);
            }
            return FragOutcome::Malformed;
        }
        // A datagram that alone needs more than the whole budget: evicting others cannot help.
        if end > limits.reassembly_max_bytes {
            if let Some(i) = found {
                self.discard(i);
            }
            return FragOutcome::Limit;
        }
        let i = match found {
            Some(i) => i,
            None => {
                if limits.reassembly_max_datagrams == 0 {
                    return FragOutcome::Limit;
                }
                while self.datagrams.len() >= limits.reassembly_max_datagrams {
                    self.evict_oldest();
                }
                self.datagrams.push(Datagram {
                    key,
                    buf: Vec::new(),
                    ranges: Vec::new(),
                    total: None,
                    deadline: now + limits.reassembly_timeout,
                });
                self.datagrams.len() - 1
            }
        };
        let d = &self.datagrams[i];
        // Length consistency with the last fragment.
        let inconsistent = match d.total {
            Some(total) => end > total || (!more && end != total),
            None => !more && d.ranges.iter().any(|&(_, e)| e > end),
        };
        if inconsistent {
            self.discard(i);
            return FragOutcome::Malformed;
        }
        for &(s, e) in &d.ranges {
            if s == offset && e == end {
                return FragOutcome::Duplicate;
            }
            if offset < e && s < end {
                self.discard(i);
                return FragOutcome::Overlap;
            }
        }
        if d.ranges.len() >= limits.reassembly_max_fragments {
            self.discard(i);
            return FragOutcome::Limit;
        }
        let grow = end.saturating_sub(d.buf.len());
        // Fed now: it moves to the most recent end, so evictions below take others first.
        let d = self.datagrams.remove(i);
        self.datagrams.push(d);
        while self.bytes + grow > limits.reassembly_max_bytes {
            if self.datagrams.len() == 1 {
                self.discard(0);
                return FragOutcome::Limit;
            }
            self.evict_oldest();
        }
        let i = self.datagrams.len() - 1;
        let d = &mut self.datagrams[i];
        if grow > 0 {
            d.buf.resize(end, 0);
            self.bytes += grow;
        }
        d.buf[offset..end].copy_from_slice(data);
        let at = d.ranges.partition_point(|&(s, _)| s < offset);
        d.ranges.insert(at, (offset, end));
        if !more {
            d.total = Some(end);
        }
        if d.complete() {
            let d = self.discard(i);
            let mut buf = d.buf;
            buf.truncate(end.max(d.total.unwrap_or(0)));
            return FragOutcome::Complete(buf);
        }
        FragOutcome::Incomplete
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn key(ident: u16) -> FragKey {
        FragKey {
            src: Ipv4Addr::new(198, 18, 0, 1),
            dst: Ipv4Addr::new(198, 18, 0, 2),
            ident,
            protocol: IpProtocol::Udp,
        }
    }

    #[test]
    fn out_of_order_completes() {
        let mut r = Reassembler::default();
        let l = Limits::default();
        let t = Instant::now();
        let data: Vec<u8> = (0..40u8).collect();
        assert_eq!(
            r.add(key(1), 16, true, &data[16..32], t, &l),
            FragOutcome::Incomplete
        );
        assert_eq!(
            r.add(key(1), 32, false, &data[32..], t, &l),
            FragOutcome::Incomplete
        );
        assert_eq!(
            r.add(key(1), 16, true, &data[16..32], t, &l),
            FragOutcome::Duplicate
        );
        assert_eq!(
            r.add(key(1), 0, true, &data[..16], t, &l),
            FragOutcome::Complete(data)
        );
        assert!(r.is_empty());
        assert_eq!(r.bytes(), 0);
    }

    #[test]
    fn overlap_discards_datagram() {
        let mut r = Reassembler::default();
        let l = Limits::default();
        let t = Instant::now();
        assert_eq!(
            r.add(key(2), 0, true, &[1; 16], t, &l),
            FragOutcome::Incomplete
        );
        assert_eq!(
            r.add(key(2), 8, true, &[2; 16], t, &l),
            FragOutcome::Overlap
        );
        assert!(r.is_empty());
        assert_eq!(r.bytes(), 0);
        // A later fragment starts a fresh datagram, which cannot complete with old pieces.
        assert_eq!(
            r.add(key(2), 16, false, &[3; 4], t, &l),
            FragOutcome::Incomplete
        );
    }

    #[test]
    fn limits_and_timeout() {
        let mut r = Reassembler::default();
        let l = Limits {
            reassembly_max_datagrams: 2,
            reassembly_max_bytes: 100,
            ..Limits::default()
        };
        let t = Instant::now();
        assert_eq!(
            r.add(key(1), 0, true, &[0; 8], t, &l),
            FragOutcome::Incomplete
        );
        assert_eq!(
            r.add(key(2), 0, true, &[0; 8], t, &l),
            FragOutcome::Incomplete
        );
        // A third datagram evicts the oldest (1) instead of being refused.
        assert_eq!(
            r.add(key(3), 0, true, &[0; 8], t, &l),
            FragOutcome::Incomplete
        );
        assert_eq!((r.len(), r.evicted(), r.bytes()), (2, 1, 16));
        // A far offset would need more than the whole 100-byte budget: refused, nothing evicted.
        assert_eq!(r.add(key(2), 200, true, &[0; 8], t, &l), FragOutcome::Limit);
        assert_eq!((r.len(), r.evicted()), (1, 1));
        assert_eq!(r.next_deadline(), Some(t + l.reassembly_timeout));
        assert_eq!(r.expire(t + Duration::from_secs(1)), 0);
        assert_eq!(r.expire(t + l.reassembly_timeout), 1);
        assert_eq!(r.bytes(), 0);
    }

    #[test]
    fn memory_pressure_evicts_the_least_recently_fed() {
        let mut r = Reassembler::default();
        let l = Limits {
            reassembly_max_bytes: 64,
            ..Limits::default()
        };
        let t = Instant::now();
        for ident in 1..=3 {
            assert_eq!(
                r.add(key(ident), 0, true, &[0; 16], t, &l),
                FragOutcome::Incomplete
            );
        }
        // Feeding 1 makes 2 the least recently fed.
        assert_eq!(
            r.add(key(1), 16, true, &[0; 8], t, &l),
            FragOutcome::Incomplete
        );
        assert_eq!(r.bytes(), 56);
        // 4 needs 16 bytes: 2 goes, 1 and 3 stay.
        assert_eq!(
            r.add(key(4), 0, true, &[0; 16], t, &l),
            FragOutcome::Incomplete
        );
        assert_eq!((r.len(), r.evicted(), r.bytes()), (3, 1, 56));
        assert_eq!(
            r.add(key(1), 24, false, &[9; 4], t, &l),
            FragOutcome::Complete([[0; 24].as_slice(), &[9; 4]].concat())
        );
        assert_eq!(
            r.add(key(2), 16, false, &[0; 4], t, &l),
            FragOutcome::Incomplete,
            "2 starts over: its first fragment was evicted"
        );
        assert_eq!(
            r.add(key(3), 16, false, &[0; 4], t, &l),
            FragOutcome::Complete(vec![0; 20])
        );
    }

    #[test]
    fn malformed_lengths() {
        let mut r = Reassembler::default();
        let l = Limits::default();
        let t = Instant::now();
        assert_eq!(
            r.add(key(1), 0, true, &[0; 7], t, &l),
            FragOutcome::Malformed
        );
        assert_eq!(
            r.add(key(1), 65528, false, &[0; 8], t, &l),
            FragOutcome::Malformed
        );
        assert_eq!(
            r.add(key(1), 16, false, &[0; 8], t, &l),
            FragOutcome::Incomplete
        );
        // Data beyond the announced end.
        assert_eq!(
            r.add(key(1), 24, true, &[0; 8], t, &l),
            FragOutcome::Malformed
        );
        assert!(r.is_empty());
    }
}
