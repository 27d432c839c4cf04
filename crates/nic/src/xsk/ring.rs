//! The four AF_XDP rings (fill, completion, RX, TX): single-producer/single-consumer queues
//! shared with the kernel through an mmap of the socket, laid out at the offsets the kernel
//! reports (`XDP_MMAP_OFFSETS`).
//!
//! Like libxdp's `xsk.h`, each side caches the other side's index and touches the shared
//! words once per batch: *reserve → write → submit* on the rings we produce (fill, TX),
//! *peek → read → release* on the rings we consume (RX, completion). Ordering: the other
//! side's index is loaded with `Acquire` (its entries are visible after), ours is published
//! with `Release` (our entry writes, or our reads of entries, happen before).

use std::marker::PhantomData;
use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU32, Ordering};

use super::error::{Result, XskError};

/// One mmap'd ring region; unmapped on drop.
#[derive(Debug)]
struct RingMap {
    ptr: NonNull<u8>,
    len: usize,
}

impl Drop for RingMap {
    fn drop(&mut self) {
        // SAFETY: the region was mapped by `Ring::map` with this length and is unmapped once.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// A ring of `T` entries (`u64` addresses for fill/completion, `xdp_desc` for RX/TX).
#[derive(Debug)]
pub struct Ring<T: Copy> {
    _map: RingMap,
    producer: NonNull<AtomicU32>,
    consumer: NonNull<AtomicU32>,
    flags: NonNull<AtomicU32>,
    entries: NonNull<T>,
    mask: u32,
    size: u32,
    /// Producer side: our next producer index. Consumer side: the last producer index seen.
    cached_prod: u32,
    /// Producer side: the last consumer index seen plus `size`. Consumer side: our next
    /// consumer index.
    cached_cons: u32,
    _t: PhantomData<T>,
}

// SAFETY: a ring is used by one thread at a time (it is owned by one queue, which is
// `Send` but not `Sync`); the shared words are atomics, the mapping lives as long as `self`.
unsafe impl<T: Copy> Send for Ring<T> {}

impl<T: Copy> Ring<T> {
    /// Maps the ring of `size` entries at page offset `pgoff` of socket `fd`, using the
    /// kernel-reported offsets `off`.
    pub fn map(
        fd: RawFd,
        pgoff: u64,
        off: &libc::xdp_ring_offset,
        size: u32,
        producer_side: bool,
        what: &'static str,
    ) -> Result<Ring<T>> {
        if !size.is_power_of_two() {
            return Err(XskError::InvalidConfig(format!(
                "ring size {size} is not a power of two"
            )));
        }
        let len = usize::try_from(off.desc)
            .ok()
            .and_then(|d| d.checked_add(size as usize * std::mem::size_of::<T>()))
            .ok_or_else(|| XskError::InvalidConfig("ring too large".into()))?;
        // SAFETY: maps the kernel's ring memory of socket `fd` (a live XDP socket whose ring
        // size was set); the result is checked against MAP_FAILED before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                pgoff as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(XskError::last(what));
        }
        let base = NonNull::new(p.cast::<u8>()).ok_or_else(|| XskError::last(what))?;
        let map = RingMap { ptr: base, len };
        let at = |o: u64| -> NonNull<u8> {
            // SAFETY: the kernel's offsets lie inside the region it sized for this ring
            // (producer, consumer and flags words precede `desc`, which starts the entries).
            unsafe { NonNull::new_unchecked(base.as_ptr().add(o as usize)) }
        };
        let producer = at(off.producer).cast();
        let consumer = at(off.consumer).cast();
        let mut ring = Ring {
            _map: map,
            producer,
            consumer,
            flags: at(off.flags).cast(),
            entries: at(off.desc).cast(),
            mask: size - 1,
            size,
            cached_prod: 0,
            cached_cons: 0,
            _t: PhantomData,
        };
        // SAFETY: `producer`/`consumer` point to aligned u32 words inside the live mapping.
        let (p, c) = unsafe {
            (
                ring.producer.as_ref().load(Ordering::Acquire),
                ring.consumer.as_ref().load(Ordering::Acquire),
            )
        };
        if producer_side {
            ring.cached_prod = p;
            ring.cached_cons = c.wrapping_add(size);
        } else {
            ring.cached_prod = p;
            ring.cached_cons = c;
        }
        Ok(ring)
    }

    /// Number of entries.
    pub fn size(&self) -> u32 {
        self.size
    }

    fn shared_producer(&self) -> &AtomicU32 {
        // SAFETY: points into the live mapping; the kernel accesses the word atomically too.
        unsafe { self.producer.as_ref() }
    }

    fn shared_consumer(&self) -> &AtomicU32 {
        // SAFETY: as `shared_producer`.
        unsafe { self.consumer.as_ref() }
    }

    /// Whether the kernel asked to be woken up (`XDP_RING_NEED_WAKEUP`) for this ring.
    ///
    /// Call after publishing: a full fence orders our index store before the flag load, so a
    /// wakeup the kernel needs for what we just published is never missed.
    pub fn needs_wakeup(&self) -> bool {
        fence(Ordering::SeqCst);
        // SAFETY: the flags word lies inside the live mapping and is read atomically.
        let flags = unsafe { self.flags.as_ref() }.load(Ordering::Relaxed);
        flags & libc::XDP_RING_NEED_WAKEUP != 0
    }

    // ---- producer side (fill, TX) ----

    /// Free slots we could reserve now (refreshes the cached consumer index if needed).
    pub fn free(&mut self, wanted: u32) -> u32 {
        let free = self.cached_cons.wrapping_sub(self.cached_prod);
        if free >= wanted {
            return free;
        }
        self.cached_cons = self
            .shared_consumer()
            .load(Ordering::Acquire)
            .wrapping_add(self.size);
        self.cached_cons.wrapping_sub(self.cached_prod)
    }

    /// Writes `value` into the next free slot; the caller checked [`Ring::free`] first.
    /// Returns `false` (and writes nothing) when the ring is full.
    pub fn push(&mut self, value: T) -> bool {
        if self.free(1) == 0 {
            return false;
        }
        let idx = (self.cached_prod & self.mask) as usize;
        // SAFETY: `idx < size`, so the entry lies inside the mapping; the slot is free (the
        // kernel consumed it), so nobody else reads or writes it until we publish.
        unsafe { self.entries.as_ptr().add(idx).write_volatile(value) };
        self.cached_prod = self.cached_prod.wrapping_add(1);
        true
    }

    /// Entries written by [`Ring::push`] but not yet published.
    pub fn unsubmitted(&self) -> u32 {
        self.cached_prod
            .wrapping_sub(self.shared_producer().load(Ordering::Relaxed))
    }

    /// Publishes every entry pushed so far (one `Release` store).
    pub fn submit(&mut self) {
        self.shared_producer()
            .store(self.cached_prod, Ordering::Release);
    }

    /// Entries published by us and not yet consumed by the kernel.
    pub fn outstanding(&self) -> u32 {
        self.shared_producer()
            .load(Ordering::Relaxed)
            .wrapping_sub(self.shared_consumer().load(Ordering::Acquire))
    }

    // ---- consumer side (RX, completion) ----

    /// Entries available to read now, at most `max` (refreshes the cached producer index
    /// when the cache is exhausted).
    pub fn available(&mut self, max: u32) -> u32 {
        let mut n = self.cached_prod.wrapping_sub(self.cached_cons);
        if n == 0 {
            self.cached_prod = self.shared_producer().load(Ordering::Acquire);
            n = self.cached_prod.wrapping_sub(self.cached_cons);
        }
        n.min(max)
    }

    /// Reads the next entry; the caller checked [`Ring::available`] first. Returns `None`
    /// when nothing is available.
    pub fn pop(&mut self) -> Option<T> {
        if self.available(1) == 0 {
            return None;
        }
        let idx = (self.cached_cons & self.mask) as usize;
        // SAFETY: `idx < size`; the entry was published by the kernel (Acquire load of the
        // producer in `available`) and is not reused until we release it.
        let v = unsafe { self.entries.as_ptr().add(idx).read_volatile() };
        self.cached_cons = self.cached_cons.wrapping_add(1);
        Some(v)
    }

    /// Gives every entry read by [`Ring::pop`] back to the kernel (one `Release` store).
    pub fn release(&mut self) {
        self.shared_consumer()
            .store(self.cached_cons, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's side of a ring, simulated over anonymous memory.
    struct Fake<T: Copy> {
        ring: Ring<T>,
    }

    impl<T: Copy> Fake<T> {
        /// A ring whose shared producer and consumer start at `start` (to test wrap-around).
        fn new(size: u32, producer_side: bool, start: u32) -> Fake<T> {
            let len = 256 + size as usize * std::mem::size_of::<T>();
            // SAFETY: an anonymous private mapping; checked below.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            assert_ne!(p, libc::MAP_FAILED);
            let base = NonNull::new(p.cast::<u8>()).expect("mapping");
            let at = |o: usize| {
                // SAFETY: offsets below `len`.
                unsafe { NonNull::new_unchecked(base.as_ptr().add(o)) }
            };
            let mut ring = Ring {
                _map: RingMap { ptr: base, len },
                producer: at(0).cast(),
                consumer: at(64).cast(),
                flags: at(128).cast(),
                entries: at(256).cast(),
                mask: size - 1,
                size,
                cached_prod: start,
                cached_cons: start,
                _t: PhantomData,
            };
            ring.shared_producer().store(start, Ordering::Relaxed);
            ring.shared_consumer().store(start, Ordering::Relaxed);
            if producer_side {
                ring.cached_cons = start.wrapping_add(size);
            }
            Fake { ring }
        }

        fn kernel_consume(&self, n: u32) -> Vec<T> {
            let c = self.ring.shared_consumer().load(Ordering::Acquire);
            let out = (0..n)
                .map(|i| {
                    let idx = (c.wrapping_add(i) & self.ring.mask) as usize;
                    // SAFETY: idx < size, inside the mapping.
                    unsafe { self.ring.entries.as_ptr().add(idx).read() }
                })
                .collect();
            self.ring
                .shared_consumer()
                .store(c.wrapping_add(n), Ordering::Release);
            out
        }

        fn kernel_produce(&self, values: &[T]) {
            let p = self.ring.shared_producer().load(Ordering::Acquire);
            for (i, v) in values.iter().enumerate() {
                let idx = (p.wrapping_add(i as u32) & self.ring.mask) as usize;
                // SAFETY: idx < size, inside the mapping.
                unsafe { self.ring.entries.as_ptr().add(idx).write(*v) };
            }
            self.ring
                .shared_producer()
                .store(p.wrapping_add(values.len() as u32), Ordering::Release);
        }

        fn set_need_wakeup(&self, on: bool) {
            // SAFETY: the flags word lies inside the mapping.
            let flags = unsafe { self.ring.flags.as_ref() };
            flags.store(
                if on { libc::XDP_RING_NEED_WAKEUP } else { 0 },
                Ordering::Relaxed,
            );
        }
    }

    #[test]
    fn producer_reserves_submits_and_sees_consumption() {
        for start in [0u32, u32::MAX - 5] {
            let mut f = Fake::<u64>::new(8, true, start);
            assert_eq!(f.ring.free(1), 8);
            for v in 0..8u64 {
                assert!(f.ring.push(v));
            }
            assert!(!f.ring.push(99), "full ring refuses");
            assert_eq!(f.ring.unsubmitted(), 8);
            assert_eq!(f.ring.outstanding(), 0, "nothing published before submit");
            f.ring.submit();
            assert_eq!(f.ring.unsubmitted(), 0);
            assert_eq!(f.ring.outstanding(), 8);
            assert_eq!(f.kernel_consume(3), vec![0, 1, 2]);
            assert_eq!(f.ring.free(1), 3, "cached consumer refreshed");
            for v in 8..11u64 {
                assert!(f.ring.push(v));
            }
            f.ring.submit();
            assert_eq!(f.kernel_consume(8), vec![3, 4, 5, 6, 7, 8, 9, 10]);
        }
    }

    #[test]
    fn consumer_peeks_in_order_and_releases() {
        for start in [0u32, u32::MAX - 2] {
            let d = |a: u64| libc::xdp_desc {
                addr: a,
                len: a as u32,
                options: 0,
            };
            let mut f = Fake::<libc::xdp_desc>::new(4, false, start);
            assert_eq!(f.ring.available(16), 0);
            assert!(f.ring.pop().is_none());
            f.kernel_produce(&[d(1), d(2), d(3)]);
            assert_eq!(f.ring.available(2), 2, "bounded by max");
            assert_eq!(f.ring.available(16), 3);
            let got: Vec<u64> = std::iter::from_fn(|| f.ring.pop())
                .map(|x| x.addr)
                .collect();
            assert_eq!(got, vec![1, 2, 3]);
            assert_eq!(
                f.ring.shared_consumer().load(Ordering::Relaxed),
                start,
                "not released yet"
            );
            f.ring.release();
            assert_eq!(
                f.ring.shared_consumer().load(Ordering::Relaxed),
                start.wrapping_add(3)
            );
            f.kernel_produce(&[d(4), d(5), d(6), d(7)]);
            let got: Vec<u64> = std::iter::from_fn(|| f.ring.pop())
                .map(|x| x.addr)
                .collect();
            assert_eq!(got, vec![4, 5, 6, 7], "wraps around the mask");
        }
    }

    #[test]
    fn need_wakeup_follows_the_kernel_flag() {
        let f = Fake::<u64>::new(4, true, 0);
        assert!(!f.ring.needs_wakeup());
        f.set_need_wakeup(true);
        assert!(f.ring.needs_wakeup());
    }
}
