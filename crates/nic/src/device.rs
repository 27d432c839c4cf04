//! The small device interface the stack is driven through.
//!
//! A device moves whole Ethernet frames (no FCS). It is implemented by the AF_XDP queue,
//! by the in-memory link used in deterministic tests, and by wrappers (fault injection,
//! pcap capture) that take another device. Time is always a parameter, never read here,
//! so wrappers that delay frames stay deterministic under a simulated clock.

use std::time::Instant;

/// A source and sink of Ethernet frames, driven by a poll loop.
pub trait Device {
    /// Hands up to `budget` received frames to `f`, one call per frame, and returns how many.
    ///
    /// The slice is only valid during the call (it may point into UMEM that goes back to
    /// the fill ring right after).
    fn receive(&mut self, now: Instant, budget: usize, f: &mut dyn FnMut(&[u8])) -> usize;

    /// Lets `f` write one frame in place into a transmit buffer of [`Device::max_frame_len`]
    /// bytes; `f` returns the frame's length, or 0 to cancel. Returns `false` (and does not
    /// call `f`) when no transmit buffer is free right now.
    fn transmit(&mut self, now: Instant, f: &mut dyn FnMut(&mut [u8]) -> usize) -> bool;

    /// Publishes frames written by [`Device::transmit`] (one kernel wakeup per batch at most).
    fn flush(&mut self, _now: Instant) {}

    /// The largest frame (Ethernet header included, FCS excluded) this device carries.
    fn max_frame_len(&self) -> usize;

    /// The device's Ethernet address.
    fn mac(&self) -> [u8; 6];
}
