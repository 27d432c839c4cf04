//! The sans-IO IPv4/TCP core: a [`Shard`] per RX queue owns its connections, timers and
//! reassembly; what shards share is read-mostly and published lock-free.
//!
//! Nothing in this crate performs I/O or reads a clock: it is driven by `receive(frame, now)`,
//! `poll_transmit(now, buf)`, `poll_timeout()` and `on_timeout(now)`.
#![forbid(unsafe_code)]

pub mod tcp;
