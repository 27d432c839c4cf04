//! The NIC crate's devices as the stack's [`FrameLink`], so the server's loop
//! (`serve/shard_loop.rs`) and the AF_XDP load client (`load/stack_client.rs`) turn through
//! the stack's one driver (`boomerang_stack::driver`: receive, due timers, transmit, with
//! its budgets).

use std::time::Instant;

use boomerang_nic::Device;
use boomerang_stack::driver::{self, FrameLink};
use boomerang_stack::Shard;

/// A NIC device seen as the stack's [`FrameLink`].
struct NicLink<'a, D>(&'a mut D);

impl<D: Device> FrameLink for NicLink<'_, D> {
    fn receive_frames(&mut self, now: Instant, budget: usize, f: &mut dyn FnMut(&[u8])) -> usize {
        self.0.receive(now, budget, f)
    }

    fn transmit_frame(&mut self, now: Instant, f: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        self.0.transmit(now, f)
    }
}

/// [`driver::receive`] on a NIC device.
pub fn receive<D: Device>(dev: &mut D, shard: &mut Shard, now: Instant) -> usize {
    driver::receive(&mut NicLink(dev), shard, now)
}

/// [`driver::transmit`] on a NIC device.
pub fn transmit<D: Device>(dev: &mut D, shard: &mut Shard, now: Instant) -> (usize, bool) {
    driver::transmit(&mut NicLink(dev), shard, now)
}
