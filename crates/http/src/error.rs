//! Typed errors of request parsing and body decoding, each mapped to the status code it
//! is answered with. Every one of them ends the connection after the answer.

use thiserror::Error;

/// Why a request was refused; [`RequestError::status`] gives the answer's status code.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    /// Syntax error in the request line or a header field (RFC 9112 §2–§5) → 400.
    #[error("malformed request head")]
    Malformed,
    /// A line ended in LF without CR (RFC 9112 §2.2) → 400.
    #[error("bare LF line ending")]
    BareLf,
    /// Request head larger than the limit → 431 (RFC 6585 §5).
    #[error("request header section too large")]
    HeadersTooLarge,
    /// More header fields than the limit → 431.
    #[error("too many header fields")]
    TooManyHeaders,
    /// Request-target longer than the limit → 414 (RFC 9110 §15.5.15).
    #[error("request-target too long")]
    UriTooLong,
    /// HTTP version other than 1.0/1.1 → 505 (RFC 9110 §15.6.6).
    #[error("HTTP version not supported")]
    VersionNotSupported,
    /// Method token we do not implement → 501 (RFC 9110 §15.6.2).
    #[error("method not implemented")]
    UnknownMethod,
    /// Both Content-Length and Transfer-Encoding (RFC 9112 §6.3) → 400.
    #[error("both Content-Length and Transfer-Encoding")]
    ContentLengthAndTransferEncoding,
    /// Content-Length not 1*DIGIT or overflowing (RFC 9110 §8.6) → 400.
    #[error("invalid Content-Length")]
    InvalidContentLength,
    /// Several differing Content-Length values (RFC 9112 §6.3) → 400.
    #[error("conflicting Content-Length values")]
    ConflictingContentLength,
    /// Transfer coding other than chunked (RFC 9112 §6.1) → 501.
    #[error("unsupported transfer coding")]
    UnsupportedTransferCoding,
    /// `chunked` not the final coding, applied twice, or in HTTP/1.0 (RFC 9112 §6.1) → 400.
    #[error("invalid Transfer-Encoding")]
    InvalidTransferEncoding,
    /// Missing Host in HTTP/1.1 or several Host fields (RFC 9112 §3.2) → 400.
    #[error("missing or duplicate Host")]
    Host,
    /// Body larger than the limit → 413 (RFC 9110 §15.5.14).
    #[error("request body too large")]
    BodyTooLarge,
    /// An `Expect` other than `100-continue` → 417 (RFC 9110 §10.1.1).
    #[error("expectation failed")]
    ExpectationFailed,
    /// Chunk size not 1*HEXDIG or overflowing (RFC 9112 §7.1) → 400.
    #[error("invalid chunk size")]
    InvalidChunkSize,
    /// Chunk extensions over the limit → 400.
    #[error("chunk extensions too large")]
    ChunkExtensionsTooLarge,
    /// Missing CRLF after chunk data, bare LF, or a control byte in chunk framing → 400.
    #[error("malformed chunked framing")]
    InvalidChunkFraming,
    /// Trailer section over the limit → 431.
    #[error("trailer section too large")]
    TrailersTooLarge,
    /// The request head did not arrive within the header-read timeout → 408.
    #[error("request timeout")]
    Timeout,
}

impl RequestError {
    /// The status code this error is answered with.
    pub fn status(self) -> u16 {
        match self {
            RequestError::HeadersTooLarge
            | RequestError::TooManyHeaders
            | RequestError::TrailersTooLarge => 431,
            RequestError::UriTooLong => 414,
            RequestError::VersionNotSupported => 505,
            RequestError::UnknownMethod | RequestError::UnsupportedTransferCoding => 501,
            RequestError::BodyTooLarge => 413,
            RequestError::ExpectationFailed => 417,
            RequestError::Timeout => 408,
            RequestError::Malformed
            | RequestError::BareLf
            | RequestError::ContentLengthAndTransferEncoding
            | RequestError::InvalidContentLength
            | RequestError::ConflictingContentLength
            | RequestError::InvalidTransferEncoding
            | RequestError::Host
            | RequestError::InvalidChunkSize
            | RequestError::ChunkExtensionsTooLarge
            | RequestError::InvalidChunkFraming => 400,
        }
    }

    /// The `[http]` setting whose limit this request exceeded, if it is one
    /// (`max-header-bytes`, …): such refusals are counted in
    /// `boomerang_http_limit_refusals_total` and logged at most once a second per worker.
    pub fn limit(self) -> Option<&'static str> {
        match self {
            RequestError::HeadersTooLarge => Some("max-header-bytes"),
            RequestError::TooManyHeaders => Some("max-headers"),
            RequestError::UriTooLong => Some("max-uri-bytes"),
            RequestError::BodyTooLarge => Some("max-body-bytes"),
            RequestError::ChunkExtensionsTooLarge => Some("max-chunk-ext-bytes"),
            RequestError::TrailersTooLarge => Some("max-trailer-bytes"),
            _ => None,
        }
    }
}
