//! One AF_XDP queue: a socket bound to (interface, queue), its slice of the UMEM, and the
//! frame handles that move through it.
//!
//! Frame ownership moves through types: [`RxFrame`] (a received frame, ours until
//! [`XskQueue::release`] gives its chunk back, which then returns to the fill ring) and
//! [`TxFrame`] (a chunk being written in place, until [`XskQueue::send`] puts it in the TX
//! ring; its completion recycles the chunk). Handles are move-only (no `Clone`/`Copy`), so a
//! chunk is never given to the kernel twice. A handle that is dropped instead of being given
//! back leaks its chunk until the queue is dropped ([`XskQueue::frames_in_use`] shows it).
//!
//! System calls: none per packet. The fill ring is topped up on every receive call; TX is
//! published once per [`XskQueue::flush`], with a `sendto` only when the kernel sets
//! `need_wakeup` on the TX ring (a `recvfrom` likewise for the fill ring).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;
use std::time::Instant;

use super::error::{Result, XskError};
use super::socket::XskSocket;
use super::sys;
use super::umem::UmemArea;
use super::{BindMode, XdpMode};
use crate::device::Device;

mod frames;

/// Bytes the kernel leaves before received data in every chunk (`XDP_PACKET_HEADROOM`).
pub const XDP_PACKET_HEADROOM: u32 = 256;

/// Descriptors moved per ring access at most (one batch).
pub const DEFAULT_BATCH: usize = 64;

/// Largest frame a multi-buffer queue carries (an IPv4 packet of 65,535 bytes with its
/// Ethernet header); the kernel also bounds a frame to 18 buffers (`MAX_SKB_FRAGS` + 1).
pub const MAX_MULTI_BUFFER_FRAME: usize = 65_535 + 14;

/// Bytes of a frame read to decide on a checksum request (Ethernet + the longest IPv4
/// header + the TCP header's fixed part).
const CHECKSUM_PROBE: usize = 14 + 60 + 20;

/// Buffers per frame the kernel accepts at most on TX (`MAX_SKB_FRAGS` + 1).
const MAX_BUFFERS_PER_FRAME: usize = 18;

/// A received frame: a chunk of the UMEM that the kernel filled and handed to us.
#[derive(Debug)]
#[must_use = "give a received frame back with XskQueue::release (or reuse it with XskQueue::reply_in_place)"]
pub struct RxFrame {
    addr: u64,
    len: u32,
    tag: u32,
    more: bool,
}

impl RxFrame {
    /// Whether the frame continues in the next received buffer (`XDP_PKT_CONTD`: a
    /// multi-buffer frame, whose last buffer has this `false`).
    pub fn continues(&self) -> bool {
        self.more
    }

    /// The frame's length in bytes.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the frame is empty (the kernel never delivers one).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A chunk of the UMEM being written for transmission.
#[derive(Debug)]
#[must_use = "send a TX frame with XskQueue::send or return it with XskQueue::cancel"]
pub struct TxFrame {
    addr: u64,
    tag: u32,
}

/// The kernel's per-socket statistics (`XDP_STATISTICS`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XskStatistics {
    /// Frames dropped for reasons other than an empty fill ring or a full RX ring.
    pub rx_dropped: u64,
    /// Invalid descriptors on the fill ring.
    pub rx_invalid_descs: u64,
    /// Invalid descriptors on the TX ring.
    pub tx_invalid_descs: u64,
    /// Frames dropped because the RX ring was full.
    pub rx_ring_full: u64,
    /// Times the kernel found the fill ring empty.
    pub rx_fill_ring_empty_descs: u64,
    /// Times the kernel found the TX ring empty when woken.
    pub tx_ring_empty_descs: u64,
}

/// Counters kept by the queue itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounters {
    /// Buffers received (one per frame, more for multi-buffer frames).
    pub rx_frames: u64,
    /// Frames submitted for transmission.
    pub tx_frames: u64,
    /// TX completions reaped (one per buffer: a multi-buffer frame completes several).
    pub tx_completed: u64,
    /// Multi-buffer frames received (spanning two or more chunks).
    pub rx_multi_buffer: u64,
    /// Multi-buffer frames transmitted.
    pub tx_multi_buffer: u64,
    /// Received multi-buffer frames dropped (larger than [`MAX_MULTI_BUFFER_FRAME`]).
    pub rx_oversize: u64,
    /// `sendto` wakeups issued (TX `need_wakeup`).
    pub tx_wakeups: u64,
    /// `recvfrom` wakeups issued (fill `need_wakeup`).
    pub rx_wakeups: u64,
    /// Descriptors from the kernel that did not point into this queue's chunks (skipped).
    pub bad_descs: u64,
}

/// Where a queue's chunks are in the UMEM and how big they are.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Chunks {
    /// Offset of the first chunk of this queue in the area.
    pub first: u64,
    /// Number of chunks this queue owns.
    pub count: u32,
    /// Chunk size (a power of two).
    pub size: u32,
    /// User headroom before received data and before transmitted data.
    pub headroom: u32,
}

/// Tuning of a queue's frame pool.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolConfig {
    /// Chunks always kept out of the fill ring so transmission never starves.
    pub tx_reserve: u32,
    /// Descriptors per ring access.
    pub batch: usize,
}

static NEXT_TAG: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

/// One AF_XDP socket on one (interface, queue), with its frames. `Send`: move it to the
/// thread that serves the queue.
#[derive(Debug)]
pub struct XskQueue {
    // Drop order: the socket (rings, then fd) before the UMEM area.
    sock: XskSocket,
    area: Arc<UmemArea>,
    chunks: Chunks,
    pool: PoolConfig,
    free: Vec<u64>,
    tx_allocated: u32,
    scratch: Vec<RxFrame>,
    counters: QueueCounters,
    tag: u32,
    ifname: String,
    ifindex: u32,
    queue_id: u32,
    mac: [u8; 6],
    mtu: u32,
    xdp_mode: XdpMode,
    /// A multi-buffer frame being gathered across receive calls (its buffers so far).
    rx_gather: Vec<u8>,
    /// Whether `rx_gather` holds the start of a frame whose last buffer has not come yet.
    rx_gathering: bool,
    /// Where a frame larger than one chunk is written before being split into chunks.
    tx_scratch: Vec<u8>,
}

impl XskQueue {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        sock: XskSocket,
        area: Arc<UmemArea>,
        chunks: Chunks,
        pool: PoolConfig,
        ifname: &str,
        ifindex: u32,
        queue_id: u32,
        mac: [u8; 6],
        mtu: u32,
        xdp_mode: XdpMode,
    ) -> Result<XskQueue> {
        let end = chunks.first + u64::from(chunks.count) * u64::from(chunks.size);
        if end > area.len() as u64 {
            return Err(XskError::InvalidConfig(
                "queue chunks outside the UMEM".into(),
            ));
        }
        let free = (0..u64::from(chunks.count))
            .rev()
            .map(|i| chunks.first + i * u64::from(chunks.size))
            .collect();
        let mut q = XskQueue {
            sock,
            area,
            chunks,
            pool,
            free,
            tx_allocated: 0,
            scratch: Vec::with_capacity(pool.batch),
            counters: QueueCounters::default(),
            tag: NEXT_TAG.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            ifname: ifname.to_string(),
            ifindex,
            queue_id,
            mac,
            mtu,
            xdp_mode,
            rx_gather: Vec::new(),
            rx_gathering: false,
            tx_scratch: Vec::new(),
        };
        q.refill();
        Ok(q)
    }

    /// The interface name.
    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    /// The interface index.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The queue this socket is bound to.
    pub fn queue_id(&self) -> u32 {
        self.queue_id
    }

    /// The bind mode the kernel accepted (copy or zero-copy).
    pub fn bind_mode(&self) -> BindMode {
        self.sock.bind_mode
    }

    /// The mode the XDP program runs in (native or generic).
    pub fn xdp_mode(&self) -> XdpMode {
        self.xdp_mode
    }

    pub(crate) fn set_xdp_mode(&mut self, mode: XdpMode) {
        self.xdp_mode = mode;
    }

    /// The copy-mode transmit batch the kernel accepted for this socket.
    pub fn tx_batch(&self) -> super::TxBatch {
        self.sock.tx_batch
    }

    /// Bytes from a chunk's start to where a transmitted frame starts: the user headroom and
    /// the TX metadata.
    fn tx_offset(&self) -> u64 {
        u64::from(self.chunks.headroom) + u64::from(self.sock.tx_metadata_len)
    }

    /// Bytes of TX metadata before every transmitted frame (0: none).
    pub fn tx_metadata_len(&self) -> u32 {
        self.sock.tx_metadata_len
    }

    /// Whether every IPv4 TCP frame sent asks for checksum offload (TX metadata): its
    /// checksum field must then hold only the pseudo-header sum.
    pub fn tx_checksum_offload(&self) -> bool {
        self.sock.tx_metadata_len > 0
    }

    /// Whether the socket is bound for multi-buffer frames (`XDP_USE_SG`).
    pub fn multi_buffer(&self) -> bool {
        self.sock.multi_buffer
    }

    /// The interface's MTU when the queue was opened.
    pub fn mtu(&self) -> u32 {
        self.mtu
    }

    /// The chunk (frame) size.
    pub fn frame_size(&self) -> u32 {
        self.chunks.size
    }

    /// Chunks this queue owns.
    pub fn frame_count(&self) -> u32 {
        self.chunks.count
    }

    /// Chunks currently held by the kernel or by live handles (not in the free pool).
    pub fn frames_in_use(&self) -> u32 {
        self.chunks.count - self.free.len() as u32
    }

    /// The queue's own counters.
    pub fn counters(&self) -> QueueCounters {
        self.counters
    }

    /// The kernel's statistics for this socket (`getsockopt(XDP_STATISTICS)`).
    pub fn statistics(&self) -> Result<XskStatistics> {
        let (s, _) = sys::getsockopt::<libc::xdp_statistics>(
            self.sock.raw_fd(),
            libc::XDP_STATISTICS,
            "reading XDP_STATISTICS",
        )?;
        Ok(XskStatistics {
            rx_dropped: s.rx_dropped,
            rx_invalid_descs: s.rx_invalid_descs,
            tx_invalid_descs: s.tx_invalid_descs,
            rx_ring_full: s.rx_ring_full,
            rx_fill_ring_empty_descs: s.rx_fill_ring_empty_descs,
            tx_ring_empty_descs: s.tx_ring_empty_descs,
        })
    }

    fn chunk_of(&self, addr: u64) -> Option<u64> {
        let rel = addr.checked_sub(self.chunks.first)?;
        let size = u64::from(self.chunks.size);
        if rel / size >= u64::from(self.chunks.count) {
            return None;
        }
        Some(self.chunks.first + rel - rel % size)
    }

    /// Largest frame a received chunk can hold: chunk minus the kernel's and our headroom.
    pub fn rx_capacity(&self) -> usize {
        self.chunks
            .size
            .saturating_sub(XDP_PACKET_HEADROOM + self.chunks.headroom) as usize
    }

    /// Largest frame a transmit chunk can hold.
    pub fn tx_capacity(&self) -> usize {
        self.chunks.size.saturating_sub(self.tx_offset() as u32) as usize
    }

    /// Puts free chunks into the fill ring (keeping the TX reserve), one publish per batch.
    fn refill(&mut self) {
        let reserve = self.pool.tx_reserve as usize;
        let can = self.free.len().saturating_sub(reserve);
        if can == 0 {
            return;
        }
        let n = (self.sock.fill.free(can as u32) as usize).min(can);
        for _ in 0..n {
            let Some(addr) = self.free.pop() else { break };
            if !self.sock.fill.push(addr) {
                self.free.push(addr);
                break;
            }
        }
        if n > 0 {
            self.sock.fill.submit();
            if self.sock.fill.needs_wakeup() {
                self.counters.rx_wakeups += 1;
                self.sock.kick_rx();
            }
        }
    }

    /// Moves up to `max` received frames from the RX ring into `out` and tops up the fill
    /// ring. Returns how many were added.
    pub fn recv(&mut self, max: usize, out: &mut Vec<RxFrame>) -> usize {
        self.refill();
        let n = self.sock.rx.available(max.min(u32::MAX as usize) as u32);
        let mut added = 0;
        for _ in 0..n {
            let Some(d) = self.sock.rx.pop() else { break };
            // Copy mode delivers aligned addresses; zero-copy may add an offset in the high
            // bits in unaligned mode (not used here), so the plain address is the data.
            let ok = self
                .chunk_of(d.addr)
                .is_some_and(|c| d.addr + u64::from(d.len) <= c + u64::from(self.chunks.size));
            if !ok {
                self.counters.bad_descs += 1;
                continue;
            }
            out.push(RxFrame {
                addr: d.addr,
                len: d.len,
                tag: self.tag,
                more: d.options & libc::XDP_PKT_CONTD != 0,
            });
            added += 1;
        }
        if n > 0 {
            self.sock.rx.release();
        } else if self.sock.fill.needs_wakeup() {
            // Nothing arrived and the driver waits for a kick to use the fill ring (xsk.h's
            // receive path does the same).
            self.counters.rx_wakeups += 1;
            self.sock.kick_rx();
        }
        self.counters.rx_frames += added as u64;
        added
    }

    /// The bytes of a received frame.
    pub fn frame(&self, f: &RxFrame) -> &[u8] {
        if f.tag != self.tag {
            return &[];
        }
        // SAFETY: the frame's chunk is ours (the kernel handed it over on the RX ring and
        // it goes back only through `release`); its range was bounds-checked in `recv`.
        unsafe { self.area.slice(f.addr, f.len as usize) }.unwrap_or(&[])
    }

    /// The bytes of a received frame, writable (e.g. to rewrite it in place).
    pub fn frame_mut(&mut self, f: &mut RxFrame) -> &mut [u8] {
        if f.tag != self.tag {
            return &mut [];
        }
        // SAFETY: as `frame`; `&mut self` and `&mut f` make this the only reference.
        unsafe { self.area.slice_mut(f.addr, f.len as usize) }.unwrap_or(&mut [])
    }

    /// Gives a received frame's chunk back (it returns to the fill ring on the next receive).
    pub fn release(&mut self, f: RxFrame) {
        if f.tag != self.tag {
            tracing::error!(
                queue = self.queue_id,
                "frame of another queue released here; ignored"
            );
            return;
        }
        if let Some(c) = self.chunk_of(f.addr) {
            self.free.push(c);
        }
    }

    /// Turns a received frame into a TX frame over the same chunk and bytes, to answer in
    /// place (no copy); the data starts where the received frame's did.
    pub fn reply_in_place(&mut self, f: RxFrame) -> std::result::Result<TxFrame, RxFrame> {
        if f.tag != self.tag || self.tx_slots() == 0 {
            return Err(f);
        }
        self.tx_allocated += 1;
        Ok(TxFrame {
            addr: f.addr,
            tag: f.tag,
        })
    }

    fn tx_slots(&mut self) -> u32 {
        self.tx_slots_for(1)
    }

    /// Free TX ring slots beyond those reserved by allocated frames, refreshing the cached
    /// consumer index unless `wanted` are known to be free.
    fn tx_slots_for(&mut self, wanted: u32) -> u32 {
        self.sock
            .tx
            .free(self.tx_allocated + wanted)
            .saturating_sub(self.tx_allocated)
    }

    /// Reaps TX completions: their chunks go back to the free pool.
    pub fn complete(&mut self) -> usize {
        let n = self.sock.comp.available(self.sock.comp.size());
        let mut done = 0;
        for _ in 0..n {
            let Some(addr) = self.sock.comp.pop() else {
                break;
            };
            match self.chunk_of(addr) {
                Some(c) => {
                    self.free.push(c);
                    done += 1;
                }
                None => self.counters.bad_descs += 1,
            }
        }
        if n > 0 {
            self.sock.comp.release();
        }
        self.counters.tx_completed += done as u64;
        // Copy mode transmits inside sendto: if frames are still waiting and the kernel
        // wants a wakeup, give it one.
        if self.sock.tx.outstanding() > 0 && self.sock.tx.needs_wakeup() {
            self.wake_tx();
        }
        done
    }

    /// A free chunk to write a frame into, if one (and a TX ring slot for it) is available.
    pub fn alloc_tx(&mut self) -> Option<TxFrame> {
        if self.free.is_empty() || self.tx_slots() == 0 {
            self.complete();
            if self.free.is_empty() && self.sock.tx.unsubmitted() > 0 {
                self.flush_tx();
                self.complete();
            }
        }
        if self.tx_slots() == 0 {
            return None;
        }
        let chunk = self.free.pop()?;
        self.tx_allocated += 1;
        Some(TxFrame {
            addr: chunk + self.tx_offset(),
            tag: self.tag,
        })
    }

    /// The writable bytes of a TX frame: from its start to the end of its chunk.
    pub fn tx_buffer(&mut self, f: &mut TxFrame) -> &mut [u8] {
        let Some(c) = (f.tag == self.tag).then(|| self.chunk_of(f.addr)).flatten() else {
            return &mut [];
        };
        let len = (c + u64::from(self.chunks.size) - f.addr) as usize;
        // SAFETY: the chunk is ours (taken from the free pool or a received frame) and
        // not in any ring; `&mut self` and `&mut f` make this the only reference.
        unsafe { self.area.slice_mut(f.addr, len) }.unwrap_or(&mut [])
    }

    /// Queues `len` bytes of the frame for transmission (published by [`XskQueue::flush_tx`]).
    /// A length of 0 or beyond the chunk cancels the frame instead and returns `false`.
    pub fn send(&mut self, mut f: TxFrame, len: usize) -> bool {
        let cap = self.tx_buffer(&mut f).len();
        if len == 0 || len > cap {
            self.cancel(f);
            return false;
        }
        let options = if self.sock.tx_metadata_len > 0 {
            let mut probe = [0u8; CHECKSUM_PROBE];
            let buf = self.tx_buffer(&mut f);
            let n = CHECKSUM_PROBE.min(len).min(buf.len());
            probe[..n].copy_from_slice(&buf[..n]);
            self.request_checksum(f.addr, &probe[..n])
        } else {
            0
        };
        let desc = libc::xdp_desc {
            addr: f.addr,
            len: len as u32,
            options,
        };
        self.tx_allocated = self.tx_allocated.saturating_sub(1);
        if !self.sock.tx.push(desc) {
            // Cannot happen (allocation reserved a slot); keep the chunk rather than lose it.
            self.free_chunk(f.addr);
            return false;
        }
        self.counters.tx_frames += 1;
        true
    }

    /// Returns an unsent TX frame's chunk to the pool.
    pub fn cancel(&mut self, f: TxFrame) {
        if f.tag != self.tag {
            return;
        }
        self.tx_allocated = self.tx_allocated.saturating_sub(1);
        self.free_chunk(f.addr);
    }

    fn free_chunk(&mut self, addr: u64) {
        if let Some(c) = self.chunk_of(addr) {
            self.free.push(c);
        }
    }

    /// Publishes the frames queued by [`XskQueue::send`], waking the kernel only if it asks.
    pub fn flush_tx(&mut self) {
        if self.sock.tx.unsubmitted() == 0 {
            return;
        }
        self.sock.tx.submit();
        if self.sock.tx.needs_wakeup() {
            self.wake_tx();
        }
    }

    fn wake_tx(&mut self) {
        self.counters.tx_wakeups += 1;
        if let Err(e) = self.sock.kick_tx() {
            tracing::warn!(queue = self.queue_id, error = %e, "AF_XDP TX wakeup failed");
        }
    }

    /// Frames published to the TX ring that the kernel has not taken yet.
    pub fn tx_pending(&self) -> u32 {
        self.sock.tx.outstanding()
    }
}

impl AsRawFd for XskQueue {
    /// The socket's fd: register it with `mio::Poll` (readable = frames on the RX ring).
    fn as_raw_fd(&self) -> RawFd {
        self.sock.raw_fd()
    }
}

impl AsFd for XskQueue {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the fd is owned by `self.sock` and stays open as long as `self` is borrowed.
        unsafe { BorrowedFd::borrow_raw(self.sock.raw_fd()) }
    }
}

impl mio::event::Source for XskQueue {
    fn register(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> std::io::Result<()> {
        mio::unix::SourceFd(&self.sock.raw_fd()).register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> std::io::Result<()> {
        mio::unix::SourceFd(&self.sock.raw_fd()).reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &mio::Registry) -> std::io::Result<()> {
        mio::unix::SourceFd(&self.sock.raw_fd()).deregister(registry)
    }
}

impl Device for XskQueue {
    fn receive(&mut self, _now: Instant, budget: usize, f: &mut dyn FnMut(&[u8])) -> usize {
        let mut batch = std::mem::take(&mut self.scratch);
        let mut total = 0;
        while total < budget {
            let want = (budget - total).min(self.pool.batch);
            let n = self.recv(want, &mut batch);
            for fr in batch.drain(..) {
                if !fr.more && !self.rx_gathering {
                    f(self.frame(&fr));
                    self.release(fr);
                    continue;
                }
                // A multi-buffer frame: its buffers are gathered in order (the kernel
                // publishes them together, but a batch may end between two of them).
                if self.rx_gather.len() + fr.len() <= MAX_MULTI_BUFFER_FRAME {
                    let mut gather = std::mem::take(&mut self.rx_gather);
                    gather.extend_from_slice(self.frame(&fr));
                    self.rx_gather = gather;
                } else {
                    self.rx_gather.clear();
                    self.rx_gather.push(0);
                    self.rx_gather.resize(MAX_MULTI_BUFFER_FRAME + 1, 0);
                }
                self.rx_gathering = fr.more;
                self.release(fr);
                if !self.rx_gathering {
                    if self.rx_gather.len() <= MAX_MULTI_BUFFER_FRAME {
                        self.counters.rx_multi_buffer += 1;
                        f(&self.rx_gather);
                    } else {
                        self.counters.rx_oversize += 1;
                    }
                    self.rx_gather.clear();
                }
            }
            total += n;
            if n < want {
                break;
            }
        }
        self.scratch = batch;
        total
    }

    fn transmit(&mut self, now: Instant, f: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        let max = self.max_frame_len();
        let cap = self.tx_capacity();
        if max > cap {
            return self.transmit_multi_buffer(now, max, cap, f);
        }
        let Some(mut tx) = self.alloc_tx() else {
            return false;
        };
        let buf = self.tx_buffer(&mut tx);
        let cap = buf.len().min(max);
        let len = f(&mut buf[..cap]);
        if len == 0 || len > cap {
            self.cancel(tx);
        } else {
            self.send(tx, len);
            if self.sock.tx.unsubmitted() as usize >= self.pool.batch {
                self.flush_tx();
            }
        }
        true
    }

    fn flush(&mut self, _now: Instant) {
        self.flush_tx();
        self.complete();
    }

    fn max_frame_len(&self) -> usize {
        let l2 = self.mtu as usize + crate::xsk::ETHERNET_HEADER_LEN;
        if self.sock.multi_buffer {
            return l2
                .min(MAX_MULTI_BUFFER_FRAME)
                .min(MAX_BUFFERS_PER_FRAME * self.rx_capacity().min(self.tx_capacity()));
        }
        l2.min(self.rx_capacity()).min(self.tx_capacity())
    }

    fn mac(&self) -> [u8; 6] {
        self.mac
    }
}
