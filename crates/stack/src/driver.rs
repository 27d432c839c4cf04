//! The device half of every loop turn over a [`Shard`]: frames from a link into the shard
//! (then the stack's timers that fell due), and frames from the shard out to the link, each
//! within its budget. The server's loop (`crates/boomerang/src/serve/shard_loop.rs`), the
//! AF_XDP load client (`crates/boomerang/src/load/stack_client.rs`) and the simulated network
//! of the stack's own tests (`crates/stack/tests/common`) all turn through these two
//! functions; what each does with the shard's socket events in between is its own.
//!
//! A link is anything that can hand over received frames and take frames to send:
//! [`FrameLink`]. The NIC crate's devices are adapted to it in the binary (the stack does not
//! depend on the NIC crate).

use std::time::Instant;

use crate::shard::Shard;

/// Frames taken from the link per [`receive`].
pub const RX_BUDGET: usize = 64;
/// Frames written to the link per [`transmit`] (then the loop receives again).
pub const TX_BUDGET: usize = 256;

/// A link a shard receives frames from and transmits frames to.
pub trait FrameLink {
    /// Hands up to `budget` received frames, one by one, to `f`; returns how many.
    fn receive_frames(&mut self, now: Instant, budget: usize, f: &mut dyn FnMut(&[u8])) -> usize;
    /// Lends one transmit buffer to `f`, which returns the length it wrote (0: nothing to
    /// send, the buffer goes back unused); returns `false` when the link has no buffer.
    fn transmit_frame(&mut self, now: Instant, f: &mut dyn FnMut(&mut [u8]) -> usize) -> bool;
}

/// Feeds up to [`RX_BUDGET`] received frames to the shard, then runs its timers that are
/// due; returns how many frames arrived.
pub fn receive<L: FrameLink + ?Sized>(link: &mut L, shard: &mut Shard, now: Instant) -> usize {
    let received = link.receive_frames(now, RX_BUDGET, &mut |frame: &[u8]| {
        shard.receive(frame, now)
    });
    if shard.poll_timeout().is_some_and(|t| t <= now) {
        shard.on_timeout(now);
    }
    received
}

/// Writes up to [`TX_BUDGET`] frames; returns how many, and whether more may be waiting: the
/// link ran out of buffers, or the budget ran out, while the shard still had frames.
pub fn transmit<L: FrameLink + ?Sized>(
    link: &mut L,
    shard: &mut Shard,
    now: Instant,
) -> (usize, bool) {
    let mut sent = 0;
    while sent < TX_BUDGET {
        let mut len = 0;
        let had_buffer = link.transmit_frame(now, &mut |buf: &mut [u8]| {
            len = shard.poll_transmit(now, buf).unwrap_or(0);
            len
        });
        if !had_buffer {
            return (sent, true);
        }
        if len == 0 {
            return (sent, false);
        }
        sent += 1;
    }
    (sent, true)
}
