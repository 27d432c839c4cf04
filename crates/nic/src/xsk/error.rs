//! The driver's typed errors: every way opening or running an AF_XDP queue can fail, each
//! with a message that says what to do about it.

use std::io;

/// Errors of the AF_XDP driver and the XDP program loader.
#[derive(Debug, thiserror::Error)]
pub enum XskError {
    /// The interface does not exist in the calling thread's network namespace.
    #[error("interface `{0}` does not exist in this network namespace")]
    NoSuchInterface(String),
    /// The queue index is not below the interface's RX queue count.
    #[error("queue {queue} is out of range: interface `{ifname}` has {available} RX queue(s) (see `ethtool -l {ifname}`)")]
    QueueOutOfRange {
        /// The interface.
        ifname: String,
        /// The requested queue.
        queue: u32,
        /// How many RX queues the interface has.
        available: u32,
    },
    /// The kernel refused for lack of privilege.
    #[error("permission denied while {what}: AF_XDP sockets and XDP programs need root (CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF, CAP_IPC_LOCK)")]
    PermissionDenied {
        /// The step that failed.
        what: &'static str,
    },
    /// Zero-copy was required but the interface's driver does not support it.
    #[error("zero-copy AF_XDP is not supported on `{0}` (veth and many drivers only do copy mode); use bind mode `auto` or `copy`")]
    ZeroCopyUnsupported(String),
    /// Native (driver) XDP was required but could not be attached.
    #[error(
        "native XDP could not be attached to `{ifname}`: {error}; use XDP mode `auto` or `generic`"
    )]
    NativeXdpUnsupported {
        /// The interface.
        ifname: String,
        /// The kernel's answer (part of the message, so not repeated as a `source`).
        error: io::Error,
    },
    /// Another XDP program is already attached to the interface.
    #[error("interface `{0}` already has an XDP program attached (see `ip link show {0}`); detach it first")]
    XdpBusy(String),
    /// The configuration is inconsistent.
    #[error("invalid AF_XDP configuration: {0}")]
    InvalidConfig(String),
    /// The address map of the XDP program is full.
    #[error("the XDP program's address map is full ({0} addresses)")]
    TooManyAddresses(u32),
    /// libbpf could not open, load or update the XDP program.
    #[error("XDP program: {what}: {message}")]
    Bpf {
        /// The step that failed.
        what: &'static str,
        /// libbpf's message.
        message: String,
    },
    /// A system call failed.
    #[error("{what} failed: {error}")]
    Os {
        /// The step that failed.
        what: &'static str,
        /// The error (part of the message, so not repeated as a `source`).
        error: io::Error,
    },
}

impl XskError {
    /// Wraps an OS error from step `what`, turning EPERM/EACCES into [`XskError::PermissionDenied`].
    pub(crate) fn os(what: &'static str, source: io::Error) -> XskError {
        match source.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => XskError::PermissionDenied { what },
            _ => XskError::Os {
                what,
                error: source,
            },
        }
    }

    /// `errno` of the last failed call, wrapped as [`XskError::os`].
    pub(crate) fn last(what: &'static str) -> XskError {
        XskError::os(what, io::Error::last_os_error())
    }

    /// Whether this error says the caller lacks privileges.
    pub fn is_permission_denied(&self) -> bool {
        matches!(self, XskError::PermissionDenied { .. })
    }
}

/// The driver's result type.
pub type Result<T> = std::result::Result<T, XskError>;
