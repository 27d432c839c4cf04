//! The device half of a loop turn over our own stack: frames from the NIC into the
//! [`Shard`] (and the stack's timers that fell due), frames from the shard out to the NIC.
//! Shared by the server's loop (`serve/shard_loop.rs`) and the AF_XDP load client
//! (`load/stack_client.rs`), so both take the same budgets.

use std::time::Instant;

use boomerang_nic::Device;
use boomerang_stack::Shard;

/// Frames taken from the device per turn.
pub const RX_BUDGET: usize = 64;
/// Frames written to the device per turn (then the loop receives again).
pub const TX_BUDGET: usize = 256;

/// Feeds up to [`RX_BUDGET`] received frames to the shard, then runs its timers that are
/// due; returns how many frames arrived.
pub fn receive<D: Device>(dev: &mut D, shard: &mut Shard, now: Instant) -> usize {
    let received = dev.receive(now, RX_BUDGET, &mut |frame: &[u8]| {
        shard.receive(frame, now)
    });
    if shard.poll_timeout().is_some_and(|t| t <= now) {
        shard.on_timeout(now);
    }
    received
}

/// Writes up to [`TX_BUDGET`] frames; returns how many, and whether the device ran out of
/// transmit buffers (or the budget ran out) while the stack still had frames.
pub fn transmit<D: Device>(dev: &mut D, shard: &mut Shard, now: Instant) -> (usize, bool) {
    let mut sent = 0;
    while sent < TX_BUDGET {
        let mut len = 0;
        let had_buffer = dev.transmit(now, &mut |buf: &mut [u8]| {
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
