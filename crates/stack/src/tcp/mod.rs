//! TCP (RFC 9293): the per-connection state machine and its parts, one concern per module.
//!
//! The shard demultiplexes segments to a [`Tcb`] by 4-tuple, creates one with
//! [`Tcb::listen_syn`] (passive open) or [`Tcb::connect`] (active open), answers segments
//! without a connection with [`reset_for`], and draws ISNs from an [`IsnGenerator`].

pub mod byte_ring;
pub mod config;
pub mod congestion;
mod input;
pub mod isn;
mod output;
pub mod rate;
pub mod recovery;
pub mod recv_buffer;
pub mod rtt;
pub mod sack;
pub mod send_buffer;
pub mod state;
pub mod syn_cookie;
pub mod tcb;
pub mod time_wait;
mod timers;

#[cfg(test)]
mod tests;

pub use config::TcpConfig;
pub use isn::IsnGenerator;
pub use state::TcpState;
pub use syn_cookie::{CookieOptions, SynCookies};
pub use tcb::{reset_for, OutSegment, Outcome, SegmentDrop, Tcb, TcpError};
pub use time_wait::{TimeWait, TimeWaitAction};
