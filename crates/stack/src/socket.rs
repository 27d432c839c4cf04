//! The socket-level vocabulary shared by the shard and its users: connection and listener
//! handles, the 4-tuple, socket errors and readiness events (RFC 9293 §3.9 user interface).
//!
//! Handles are small `Copy` values (slab index + generation): a handle kept after its
//! connection is gone never reaches a newer connection that reuses the slot.

use std::fmt;
use std::net::SocketAddrV4;

/// The identity of a TCP connection: local and remote socket addresses (RFC 9293 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FourTuple {
    /// Our address and port.
    pub local: SocketAddrV4,
    /// The peer's address and port.
    pub remote: SocketAddrV4,
}

impl fmt::Display for FourTuple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} <-> {}", self.local, self.remote)
    }
}

/// A handle to one connection of one shard: slot index plus generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl ConnId {
    /// The slot index (stable while the connection lives; reused afterwards).
    pub fn index(self) -> usize {
        self.index as usize
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}.{}", self.index, self.generation)
    }
}

/// A handle to one listening socket of one shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerId {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl ListenerId {
    /// The slot index.
    pub fn index(self) -> usize {
        self.index as usize
    }
}

/// Why a socket call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SocketError {
    /// Nothing to read / no room to write right now; retry after a readiness event.
    #[error("operation would block")]
    WouldBlock,
    /// The handle names no live connection or listener (closed, or never existed).
    #[error("invalid socket handle")]
    InvalidHandle,
    /// The port already has a listener on this shard.
    #[error("address in use")]
    AddrInUse,
    /// The connection was reset by the peer or aborted (RFC 9293 §3.10.7).
    #[error("connection reset")]
    ConnectionReset,
    /// The connection is closing or closed for this direction (e.g. send after shutdown).
    #[error("connection closing")]
    Closing,
    /// The active open was refused (RST in SYN-SENT).
    #[error("connection refused")]
    ConnectionRefused,
    /// Retransmissions, SYN retries or keep-alive probes ran out.
    #[error("connection timed out")]
    TimedOut,
    /// A configured limit was reached (connection table, ephemeral ports, listeners).
    #[error("resource limit reached: {0}")]
    Limit(&'static str),
    /// An argument is not acceptable (port 0, unspecified address, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
}

/// A readiness change, reported once per change by `Shard::poll_event`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SocketEvent {
    /// The listener has an established connection waiting in its accept queue.
    Acceptable(ListenerId),
    /// The connection has data to read, or end-of-stream, or an error to report.
    Readable(ConnId),
    /// The connection has room in its send buffer (or its active open completed).
    Writable(ConnId),
    /// The connection is gone (fully closed, reset or timed out); the handle is now invalid.
    Closed(ConnId),
}

impl From<crate::tcp::TcpError> for SocketError {
    fn from(e: crate::tcp::TcpError) -> SocketError {
        use crate::tcp::TcpError;
        match e {
            TcpError::WouldBlock => SocketError::WouldBlock,
            TcpError::Reset => SocketError::ConnectionReset,
            TcpError::Refused => SocketError::ConnectionRefused,
            TcpError::TimedOut => SocketError::TimedOut,
            TcpError::Closing => SocketError::Closing,
        }
    }
}
