//! The parts of [`XskQueue`] that make frames bigger and cheaper: a transmitted frame split
//! over several chunks (multi-buffer, `XDP_PKT_CONTD`) and the TCP checksum request written
//! into the TX metadata before a frame.

use std::time::Instant;

use super::XskQueue;

impl XskQueue {
    /// For an IPv4 TCP `frame` (not a fragment) about to be sent from `addr`, writes the
    /// checksum request into the metadata before it and returns `XDP_TX_METADATA` for the
    /// descriptor; 0 (no request) for anything else or without TX metadata.
    pub(super) fn request_checksum(&mut self, addr: u64, frame: &[u8]) -> u32 {
        let meta_len = self.sock.tx_metadata_len;
        if meta_len == 0 || frame.len() < 34 || frame[12..14] != [0x08, 0x00] {
            return 0;
        }
        let ihl = usize::from(frame[14] & 0x0f) * 4;
        let fragment = u16::from_be_bytes([frame[20], frame[21]]) & 0x3fff != 0;
        if frame[23] != 6 || ihl < 20 || fragment || frame.len() < 14 + ihl + 20 {
            return 0;
        }
        let meta = libc::xsk_tx_metadata {
            flags: u64::from(libc::XDP_TXMD_FLAGS_CHECKSUM),
            xsk_tx_metadata_union: libc::__c_anonymous_xsk_tx_metadata_union {
                request: libc::xsk_tx_metadata_request {
                    csum_start: (14 + ihl) as u16,
                    csum_offset: 16,
                },
            },
        };
        let at = addr - u64::from(meta_len);
        // SAFETY: the metadata lies in the same chunk as the frame (frames start
        // `tx_offset` bytes into their chunk), which this queue owns and has not handed
        // to the kernel yet; `meta_len` is the size of `xsk_tx_metadata`.
        match unsafe { self.area.slice_mut(at, meta_len as usize) } {
            Some(dst) => {
                // SAFETY: `xsk_tx_metadata` is a plain C struct of integers, read as bytes.
                let bytes = unsafe {
                    std::slice::from_raw_parts(
                        (&meta as *const libc::xsk_tx_metadata).cast::<u8>(),
                        std::mem::size_of::<libc::xsk_tx_metadata>(),
                    )
                };
                let n = dst.len().min(bytes.len());
                dst[..n].copy_from_slice(&bytes[..n]);
                libc::XDP_TX_METADATA
            }
            None => 0,
        }
    }

    /// [`crate::Device::transmit`] for frames that may exceed one chunk: `f` writes into a scratch
    /// buffer of `max` bytes, and the frame is copied into as many chunks as it needs, sent
    /// as one descriptor per chunk, all but the last with `XDP_PKT_CONTD`. Returns `false`
    /// (without calling `f`) unless chunks and ring slots for a frame of `max` bytes are free.
    pub(super) fn transmit_multi_buffer(
        &mut self,
        _now: Instant,
        max: usize,
        cap: usize,
        f: &mut dyn FnMut(&mut [u8]) -> usize,
    ) -> bool {
        let need = max.div_ceil(cap) as u32;
        if (self.free.len() as u32) < need || self.tx_slots_for(need) < need {
            self.complete();
            if (self.free.len() as u32) < need && self.sock.tx.unsubmitted() > 0 {
                self.flush_tx();
                self.complete();
            }
            if (self.free.len() as u32) < need || self.tx_slots_for(need) < need {
                return false;
            }
        }
        let mut scratch = std::mem::take(&mut self.tx_scratch);
        scratch.resize(max, 0);
        let len = f(&mut scratch[..max]);
        if len > 0 && len <= max {
            let pieces = len.div_ceil(cap);
            for (i, piece) in scratch[..len].chunks(cap).enumerate() {
                let Some(chunk) = self.free.pop() else { break };
                let addr = chunk + self.tx_offset();
                // SAFETY: the chunk was just taken from the free pool (no ring and no handle
                // holds it); `piece.len() <= cap` keeps the write inside it.
                if let Some(dst) = unsafe { self.area.slice_mut(addr, piece.len()) } {
                    dst.copy_from_slice(piece);
                }
                let desc = libc::xdp_desc {
                    addr,
                    len: piece.len() as u32,
                    options: if i + 1 < pieces {
                        libc::XDP_PKT_CONTD
                    } else {
                        0
                    },
                };
                if !self.sock.tx.push(desc) {
                    // Cannot happen (slots were checked); keep the chunk rather than lose it.
                    self.free.push(chunk);
                    break;
                }
            }
            self.counters.tx_frames += 1;
            self.counters.tx_multi_buffer += u64::from(pieces > 1);
            if self.sock.tx.unsubmitted() as usize >= self.pool.batch {
                self.flush_tx();
            }
        }
        self.tx_scratch = scratch;
        true
    }
}
