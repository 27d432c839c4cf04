//! The UMEM: one anonymous memory mapping split into equal, aligned chunks ("frames") that
//! the kernel and user space pass back and forth through the rings.
//!
//! Invariants: the area stays mapped until the last queue using it is dropped (it is held
//! through an `Arc`, and every socket holding a ring into it is closed before); chunk `i`
//! spans `[i * chunk_size, (i + 1) * chunk_size)`; each queue owns a disjoint range of chunks,
//! so frame bookkeeping needs no locks.

use std::ptr::NonNull;

use super::error::{Result, XskError};

/// An mmap'd UMEM area.
#[derive(Debug)]
pub(crate) struct UmemArea {
    ptr: NonNull<u8>,
    len: usize,
    huge_pages: bool,
}

// SAFETY: the area is plain memory; concurrent access to distinct chunks is coordinated by
// the ring protocol (each chunk is owned by exactly one party at a time, and each queue
// owns a disjoint range), and the mapping itself is only unmapped on drop.
unsafe impl Send for UmemArea {}
// SAFETY: see `Send`: shared references only hand out chunk slices to their owning queue.
unsafe impl Sync for UmemArea {}

impl UmemArea {
    /// Maps `len` bytes of zeroed anonymous memory, backed by huge pages if asked and
    /// available (falls back to normal pages with a log line otherwise).
    pub fn new(len: usize, huge_pages: bool) -> Result<UmemArea> {
        if len == 0 {
            return Err(XskError::InvalidConfig("empty UMEM".into()));
        }
        let base = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE;
        if huge_pages {
            if let Some(ptr) = map(len, base | libc::MAP_HUGETLB) {
                return Ok(UmemArea {
                    ptr,
                    len,
                    huge_pages: true,
                });
            }
            tracing::warn!(
                len,
                error = %std::io::Error::last_os_error(),
                "no huge pages for the UMEM (see /proc/sys/vm/nr_hugepages); using normal pages"
            );
        }
        match map(len, base) {
            Some(ptr) => Ok(UmemArea {
                ptr,
                len,
                huge_pages: false,
            }),
            None => Err(XskError::last("mapping the UMEM")),
        }
    }

    /// The start of the area.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The length of the area in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the area is backed by huge pages.
    pub fn huge_pages(&self) -> bool {
        self.huge_pages
    }

    /// The bytes `[offset, offset + len)` of the area, if in range.
    ///
    /// # Safety
    /// The caller must own that range per the ring protocol (the kernel is not writing it).
    pub unsafe fn slice(&self, offset: u64, len: usize) -> Option<&[u8]> {
        let start = usize::try_from(offset).ok()?;
        if start.checked_add(len)? > self.len {
            return None;
        }
        // SAFETY: the range lies inside the live mapping (checked above) and the caller
        // guarantees no one writes it while the slice lives.
        Some(unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(start), len) })
    }

    /// Mutable access to `[offset, offset + len)`, if in range.
    ///
    /// # Safety
    /// As [`UmemArea::slice`], and no other reference to that range may exist.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice_mut(&self, offset: u64, len: usize) -> Option<&mut [u8]> {
        let start = usize::try_from(offset).ok()?;
        if start.checked_add(len)? > self.len {
            return None;
        }
        // SAFETY: in range of the live mapping; exclusivity is the caller's contract.
        Some(unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(start), len) })
    }
}

fn map(len: usize, flags: libc::c_int) -> Option<NonNull<u8>> {
    // SAFETY: an anonymous mapping at an address of the kernel's choice; no existing memory
    // is affected. The result is checked against MAP_FAILED.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            flags,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        None
    } else {
        NonNull::new(p.cast())
    }
}

impl Drop for UmemArea {
    fn drop(&mut self) {
        // SAFETY: the mapping was created by `map` with this length and is unmapped once;
        // every socket that could still touch it has been closed (it holds no Arc anymore).
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_and_bounds_checks() {
        let a = UmemArea::new(8192, false).expect("mmap");
        assert_eq!(a.len(), 8192);
        // SAFETY: nobody else uses this area.
        unsafe {
            a.slice_mut(4096, 4)
                .expect("in range")
                .copy_from_slice(&[1, 2, 3, 4]);
            assert_eq!(a.slice(4096, 4), Some(&[1u8, 2, 3, 4][..]));
            assert!(a.slice(8190, 4).is_none());
            assert!(a.slice(u64::MAX, 1).is_none());
        }
    }
}
