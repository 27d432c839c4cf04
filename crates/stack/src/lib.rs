//! The sans-IO IPv4/TCP core: a [`Shard`] per RX queue owns its connections, timers and
//! reassembly; what shards share is read-mostly and published lock-free.
//!
//! Nothing in this crate performs I/O or reads a clock: it is driven by `receive(frame, now)`,
//! `poll_transmit(now, buf)`, `poll_timeout()` and `on_timeout(now)`.
#![forbid(unsafe_code)]

pub mod arp;
pub mod config;
pub mod driver;
pub mod icmp;
pub mod ipv4;
pub mod reassembly;
pub mod rss;
pub mod shard;
pub mod shared;
pub mod slab;
pub mod socket;
pub mod stats;
pub mod tcp;
pub mod timer;

pub use config::{Checksum, ChecksumCapabilities, Limits, StackConfig};
pub use rss::RssSteering;
pub use shard::Shard;
pub use shared::Shared;
pub use socket::{ConnId, FourTuple, ListenerId, SocketError, SocketEvent};
pub use stats::ShardStats;
pub use tcp::{TcpConfig, TcpState};
