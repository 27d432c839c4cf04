//! A byte ring that grows on demand up to a fixed maximum and can be written at an offset
//! past its filled part (for out-of-order data) and read at any offset (for retransmission).
//!
//! Invariants: `len <= storage.len() <= max`; logical offset `i` lives at
//! `storage[(head + i) % storage.len()]`. An empty ring may hold no storage at all, so an idle
//! connection costs only the struct.

/// Smallest allocation made when a ring first receives data.
pub const MIN_RING_ALLOC: usize = 2048;

/// Most released [`MIN_RING_ALLOC`]-byte buffers a thread keeps for reuse (8 MiB).
///
/// An idle connection gives its ring storage back, so that it costs only its structs; a
/// keep-alive connection does that after every request. The spares make the next request's
/// rings (on any connection of the same shard thread) cost no allocation.
pub const SPARE_RINGS_PER_THREAD: usize = 4096;

/// Largest released buffer a thread keeps for reuse (256 KiB).
///
/// A response of 64 KiB grows its connection's send ring to 64 KiB and gives it back when
/// the peer has acknowledged everything; without spares of that size every such response
/// pays an allocation, a zeroing pass over the new storage and the free. Larger rings (a
/// connection sending megabytes) are allocated rarely compared with the bytes they carry, and
/// keeping them would hold megabytes per thread after such a transfer ends.
pub const SPARE_RING_MAX_LEN: usize = 256 << 10;

/// Most bytes a thread keeps in released buffers larger than [`MIN_RING_ALLOC`] (4 MiB).
pub const SPARE_LARGE_RING_BYTES_PER_THREAD: usize = 4 << 20;

/// Released ring buffers of one thread, by power-of-two size class.
struct SpareRings {
    /// `by_class[k]` holds buffers of `MIN_RING_ALLOC << k` bytes.
    by_class: Vec<Vec<Vec<u8>>>,
    /// Bytes held in classes above the smallest.
    large_bytes: usize,
}

thread_local! {
    static SPARE_RINGS: std::cell::RefCell<SpareRings> = const {
        std::cell::RefCell::new(SpareRings { by_class: Vec::new(), large_bytes: 0 })
    };
}

/// The size class of a buffer of `len` bytes, if it has one (a power of two from the minimum
/// up to [`SPARE_RING_MAX_LEN`]).
fn size_class(len: usize) -> Option<usize> {
    ((MIN_RING_ALLOC..=SPARE_RING_MAX_LEN).contains(&len) && len.is_power_of_two())
        .then(|| (len.trailing_zeros() - MIN_RING_ALLOC.trailing_zeros()) as usize)
}

/// A buffer of `len` bytes (zeroed when new), from the thread's spares when it has one.
fn take_storage(len: usize) -> Vec<u8> {
    if let Some(class) = size_class(len) {
        let spare = SPARE_RINGS.with(|s| {
            let mut s = s.borrow_mut();
            let b = s.by_class.get_mut(class)?.pop()?;
            if class > 0 {
                s.large_bytes -= len;
            }
            Some(b)
        });
        if let Some(b) = spare {
            return b;
        }
    }
    vec![0u8; len]
}

/// Gives `storage` back: buffers of a size class go to the thread's spares while there is
/// room ([`SPARE_RINGS_PER_THREAD`], [`SPARE_LARGE_RING_BYTES_PER_THREAD`]).
fn give_storage(storage: Vec<u8>) {
    let len = storage.len();
    let Some(class) = size_class(len) else {
        return;
    };
    SPARE_RINGS.with(|s| {
        let mut s = s.borrow_mut();
        let room = if class == 0 {
            s.by_class.first().map_or(0, Vec::len) < SPARE_RINGS_PER_THREAD
        } else {
            s.large_bytes + len <= SPARE_LARGE_RING_BYTES_PER_THREAD
        };
        if !room {
            return;
        }
        if s.by_class.len() <= class {
            s.by_class.resize_with(class + 1, Vec::new);
        }
        s.by_class[class].push(storage);
        if class > 0 {
            s.large_bytes += len;
        }
    });
}

/// Spare [`MIN_RING_ALLOC`]-byte ring buffers held by this thread (for tests and metrics).
pub fn spare_rings() -> usize {
    SPARE_RINGS.with(|s| s.borrow().by_class.first().map_or(0, Vec::len))
}

/// Bytes held by this thread in spare ring buffers larger than [`MIN_RING_ALLOC`].
pub fn spare_large_ring_bytes() -> usize {
    SPARE_RINGS.with(|s| s.borrow().large_bytes)
}

/// A growable ring of bytes (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct ByteRing {
    storage: Vec<u8>,
    head: usize,
    len: usize,
    max: usize,
}

impl ByteRing {
    /// An empty ring that will never hold more than `max` bytes.
    pub fn new(max: usize) -> ByteRing {
        ByteRing {
            storage: Vec::new(),
            head: 0,
            len: 0,
            max,
        }
    }

    /// Bytes in the filled (contiguous, readable) part.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No filled bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The configured maximum.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Raises the maximum to `max` (never lowers it: held bytes must stay within it).
    pub fn raise_max(&mut self, max: usize) {
        self.max = self.max.max(max);
    }

    /// Room left before the maximum is reached (counting from the filled part).
    pub fn free(&self) -> usize {
        self.max - self.len
    }

    /// Bytes of storage currently allocated.
    pub fn allocated(&self) -> usize {
        self.storage.len()
    }

    fn grow_to(&mut self, needed: usize) {
        if needed <= self.storage.len() {
            return;
        }
        let target = needed
            .max(MIN_RING_ALLOC)
            .checked_next_power_of_two()
            .unwrap_or(self.max)
            .max(self.storage.len() * 2)
            .min(self.max);
        let mut storage = take_storage(target);
        let old = self.storage.len();
        if old > 0 {
            let first = old - self.head;
            storage[..first].copy_from_slice(&self.storage[self.head..]);
            storage[first..old].copy_from_slice(&self.storage[..self.head]);
        }
        give_storage(std::mem::replace(&mut self.storage, storage));
        self.head = 0;
    }

    /// Writes `data` at logical `offset` (which may lie past the filled part) without changing
    /// the filled length; returns how many bytes fit under the maximum.
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> usize {
        if offset >= self.max {
            return 0;
        }
        let n = data.len().min(self.max - offset);
        if n == 0 {
            return 0;
        }
        self.grow_to(offset + n);
        let cap = self.storage.len();
        let mut start = self.head + offset;
        if start >= cap {
            start -= cap;
        }
        let first = n.min(cap - start);
        self.storage[start..start + first].copy_from_slice(&data[..first]);
        self.storage[..n - first].copy_from_slice(&data[first..n]);
        n
    }

    /// Extends the filled part by `n` bytes already written with [`ByteRing::write_at`].
    pub fn commit(&mut self, n: usize) {
        self.len = (self.len + n).min(self.storage.len());
    }

    /// Appends to the filled part; returns how many bytes fit.
    pub fn append(&mut self, data: &[u8]) -> usize {
        let n = self.write_at(self.len, data);
        self.commit(n);
        n
    }

    /// Copies filled bytes starting at logical `offset` into `dst`; returns the count.
    pub fn read_at(&self, offset: usize, dst: &mut [u8]) -> usize {
        if offset >= self.len {
            return 0;
        }
        let n = dst.len().min(self.len - offset);
        let cap = self.storage.len();
        let mut start = self.head + offset;
        if start >= cap {
            start -= cap;
        }
        let first = n.min(cap - start);
        dst[..first].copy_from_slice(&self.storage[start..start + first]);
        dst[first..n].copy_from_slice(&self.storage[..n - first]);
        n
    }

    /// Drops `n` bytes from the front of the filled part.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        if n == 0 {
            return;
        }
        self.len -= n;
        self.head += n;
        if self.head >= self.storage.len() {
            self.head -= self.storage.len();
        }
    }

    /// Frees the storage if nothing is held (the caller guarantees no out-of-order bytes).
    pub fn release_if_empty(&mut self) {
        if self.len == 0 && !self.storage.is_empty() {
            give_storage(std::mem::take(&mut self.storage));
            self.head = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_read_consume_wraps() {
        let mut r = ByteRing::new(4096);
        assert_eq!(r.allocated(), 0);
        let data: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        assert_eq!(r.append(&data), 3000);
        assert_eq!(r.allocated(), 4096);
        r.consume(2500);
        assert_eq!(r.append(&data[..3000]), 3000);
        assert_eq!(r.len(), 3500);
        let mut out = vec![0u8; 3500];
        assert_eq!(r.read_at(0, &mut out), 3500);
        assert_eq!(&out[..500], &data[2500..]);
        assert_eq!(&out[500..], &data[..]);
        assert_eq!(r.append(&data), 596);
        assert_eq!(r.free(), 0);
    }

    #[test]
    fn grows_preserving_wrapped_contents() {
        let mut r = ByteRing::new(1 << 20);
        let data: Vec<u8> = (0..2048u32).map(|i| (i * 7) as u8).collect();
        r.append(&data);
        r.consume(1000);
        r.append(&data[..1000]);
        // now wrapped; growing must keep order
        r.append(&data);
        let mut out = vec![0u8; r.len()];
        r.read_at(0, &mut out);
        assert_eq!(&out[..1048], &data[1000..]);
        assert_eq!(&out[1048..2048], &data[..1000]);
        assert_eq!(&out[2048..], &data[..]);
    }

    #[test]
    fn write_past_filled_part_then_commit() {
        let mut r = ByteRing::new(10_000);
        assert_eq!(r.write_at(100, b"world"), 5);
        assert_eq!(r.len(), 0);
        r.write_at(0, &[b'h'; 100]);
        r.commit(105);
        let mut out = [0u8; 5];
        r.read_at(100, &mut out);
        assert_eq!(&out, b"world");
        assert_eq!(r.write_at(9_998, b"abc"), 2);
        assert_eq!(r.write_at(10_000, b"abc"), 0);
        r.consume(105);
        r.release_if_empty();
        assert_eq!(r.allocated(), 0);
    }

    #[test]
    fn a_drained_large_ring_is_reused_by_the_next_one_on_the_thread() {
        // Each test runs on its own thread, so the spares start empty.
        std::thread::spawn(|| {
            let body = vec![7u8; 64 << 10];
            let mut first = ByteRing::new(1 << 20);
            assert_eq!(first.append(&body), body.len());
            assert_eq!(first.allocated(), 64 << 10);
            let spare = first.storage.as_ptr();
            first.consume(body.len());
            first.release_if_empty();
            assert_eq!(spare_large_ring_bytes(), 64 << 10);
            let mut second = ByteRing::new(1 << 20);
            second.append(&body);
            assert_eq!(spare_large_ring_bytes(), 0, "the spare was taken");
            assert_eq!(
                second.storage.as_ptr(),
                spare,
                "the same buffer, no new allocation"
            );
        })
        .join()
        .unwrap();
    }

    #[test]
    fn large_spares_stay_within_their_byte_budget() {
        std::thread::spawn(|| {
            let size = SPARE_RING_MAX_LEN;
            let count = SPARE_LARGE_RING_BYTES_PER_THREAD / size + 2;
            let mut rings: Vec<ByteRing> = (0..count).map(|_| ByteRing::new(size)).collect();
            for r in &mut rings {
                r.append(&vec![1u8; size]);
            }
            for r in &mut rings {
                r.consume(size);
                r.release_if_empty();
            }
            assert_eq!(spare_large_ring_bytes(), SPARE_LARGE_RING_BYTES_PER_THREAD);
            assert_eq!(spare_rings(), 0);
            // A ring above the largest class is freed, not kept.
            let mut big = ByteRing::new(1 << 20);
            big.append(&vec![1u8; 1 << 20]);
            big.consume(1 << 20);
            big.release_if_empty();
            assert_eq!(spare_large_ring_bytes(), SPARE_LARGE_RING_BYTES_PER_THREAD);
        })
        .join()
        .unwrap();
    }
}
