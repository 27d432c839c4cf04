//! The send buffer: bytes the user wrote that are not yet acknowledged, addressed by sequence
//! number (RFC 9293 §3.3.1: `SND.UNA` ..= `SND.NXT` ..= end of queued data).
//!
//! Invariant: byte `i` of the buffer has sequence number `head_seq + i`; acknowledged bytes are
//! dropped at once and storage is released when nothing is queued.

use super::byte_ring::ByteRing;
use boomerang_wire::SeqNumber;

/// Unacknowledged and unsent user data of one connection.
#[derive(Debug, Clone)]
pub struct SendBuffer {
    ring: ByteRing,
    head_seq: SeqNumber,
}

impl SendBuffer {
    /// An empty buffer whose first byte will carry sequence number `head_seq`, bounded by `max`.
    pub fn new(max: usize, head_seq: SeqNumber) -> SendBuffer {
        SendBuffer {
            ring: ByteRing::new(max),
            head_seq,
        }
    }

    /// Restarts numbering (used once the ISN is known, before any data was queued).
    pub fn set_head_seq(&mut self, seq: SeqNumber) {
        if self.ring.is_empty() {
            self.head_seq = seq;
        }
    }

    /// Sequence number of the first byte held.
    pub fn head_seq(&self) -> SeqNumber {
        self.head_seq
    }

    /// Sequence number just past the last byte held.
    pub fn end_seq(&self) -> SeqNumber {
        self.head_seq + self.ring.len()
    }

    /// Bytes held (sent-but-unacknowledged plus unsent).
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// Nothing held.
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// The configured maximum.
    pub fn max(&self) -> usize {
        self.ring.max()
    }

    /// Raises the maximum (never lowers it).
    pub fn raise_max(&mut self, max: usize) {
        self.ring.raise_max(max);
    }

    /// Room for more user data.
    pub fn free(&self) -> usize {
        self.ring.free()
    }

    /// Bytes of storage allocated.
    pub fn allocated(&self) -> usize {
        self.ring.allocated()
    }

    /// Queues user data; returns how much fitted.
    pub fn write(&mut self, data: &[u8]) -> usize {
        self.ring.append(data)
    }

    /// Bytes held from `seq` to the end (0 when `seq` is outside the buffer).
    pub fn available_from(&self, seq: SeqNumber) -> usize {
        let off = seq - self.head_seq;
        if off < 0 {
            return 0;
        }
        self.ring.len().saturating_sub(off as usize)
    }

    /// Copies bytes starting at sequence number `seq` into `dst`; returns the count.
    pub fn read(&self, seq: SeqNumber, dst: &mut [u8]) -> usize {
        let off = seq - self.head_seq;
        if off < 0 {
            return 0;
        }
        self.ring.read_at(off as usize, dst)
    }

    /// Drops every byte before `seq` (they are acknowledged); returns how many were dropped.
    pub fn ack_to(&mut self, seq: SeqNumber) -> usize {
        let off = seq - self.head_seq;
        if off <= 0 {
            return 0;
        }
        let n = (off as usize).min(self.ring.len());
        self.ring.consume(n);
        self.head_seq += n;
        self.ring.release_if_empty();
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_by_sequence_number_across_wrap() {
        let mut b = SendBuffer::new(10, SeqNumber(u32::MAX - 2));
        assert_eq!(b.write(b"hello world"), 10);
        assert_eq!(b.end_seq(), SeqNumber(7));
        let mut out = [0u8; 4];
        assert_eq!(b.read(SeqNumber(0), &mut out), 4);
        assert_eq!(&out, b"lo w");
        assert_eq!(b.available_from(SeqNumber(5)), 2);
        assert_eq!(b.available_from(SeqNumber(u32::MAX - 10)), 0);
        assert_eq!(b.ack_to(SeqNumber(1)), 4);
        assert_eq!(b.head_seq(), SeqNumber(1));
        assert_eq!(b.ack_to(SeqNumber(0)), 0);
        assert_eq!(b.ack_to(SeqNumber(100)), 6);
        assert!(b.is_empty());
        assert_eq!(b.allocated(), 0);
    }
}
