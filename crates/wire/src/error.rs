//! Typed errors returned by every parser in this crate; no parser panics on any input.

/// Why a packet could not be viewed, parsed or emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The buffer is shorter than a length field (or the fixed header) requires.
    #[error("packet truncated")]
    Truncated,
    /// A field holds a value the protocol forbids (the text names the field).
    #[error("malformed packet: {0}")]
    Malformed(&'static str),
    /// A checksum did not verify (RFC 1071).
    #[error("checksum mismatch")]
    Checksum,
    /// Well-formed, but a variant this crate does not handle (the text names it).
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// An IPv4 fragment (MF set or offset non-zero): use the packet view to reassemble (RFC 791 §3.2).
    #[error("IPv4 fragment")]
    Fragmented,
}

/// Result alias used by every fallible function of this crate.
pub type Result<T> = core::result::Result<T, Error>;
