//! Server configuration: every resource limit and timeout as a named default
//! constant, gathered in [`ServerConfig`] so both transports and tests can tune them.

use std::path::PathBuf;
use std::time::Duration;

/// Largest request head (request line + header fields + CRLFs) accepted; more → 431
/// (RFC 6585 §5).
pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;
/// Largest request-target accepted; longer → 414 (RFC 9110 §15.5.15).
pub const DEFAULT_MAX_URI_BYTES: usize = 8 * 1024;
/// Most header fields in one request head; more → 431.
pub const DEFAULT_MAX_HEADERS: usize = 64;
/// Upper bound on header slots on the stack (the parser's array); [`ServerConfig::max_headers`]
/// may not exceed it.
pub const MAX_HEADER_SLOTS: usize = 128;
/// Largest request body accepted (Content-Length or decoded chunked); more → 413
/// (RFC 9110 §15.5.14).
pub const DEFAULT_MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// Most bytes of chunk extensions accepted over one chunked body; more → 400.
pub const DEFAULT_MAX_CHUNK_EXT_BYTES: usize = 4 * 1024;
/// Most bytes of trailer section accepted after the last chunk; more → 431.
pub const DEFAULT_MAX_TRAILER_BYTES: usize = 8 * 1024;
/// Time allowed from the first byte of a request head to its end (slowloris guard).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed without progress while a request body is being received.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Time an idle keep-alive connection is kept open waiting for the next request.
pub const DEFAULT_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(15);
/// Time allowed without any write progress while response bytes are pending.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Time unread input is drained after the write side was shut down (lingering close,
/// RFC 9112 §9.6), so a late RST cannot destroy a response in flight.
pub const DEFAULT_LINGER_TIMEOUT: Duration = Duration::from_secs(2);
/// Most bytes read and discarded during a lingering close.
pub const DEFAULT_MAX_LINGER_BYTES: usize = 1024 * 1024;
/// Pending output above which a connection stops reading and parsing pipelined requests.
pub const DEFAULT_OUTPUT_HIGH_WATER: usize = 1024 * 1024;
/// Pending output below which a streamed static file asks for its next chunk.
pub const DEFAULT_OUTPUT_LOW_WATER: usize = 256 * 1024;
/// Size of one chunk read from a static file by the blocking pool.
pub const DEFAULT_FILE_CHUNK_BYTES: usize = 256 * 1024;
/// Bytes of small static files kept in memory across all workers (0 disables the cache).
pub const DEFAULT_STATIC_CACHE_BYTES: usize = 64 * 1024 * 1024;
/// Largest static file kept in the cache.
pub const DEFAULT_STATIC_CACHE_MAX_FILE: usize = 1024 * 1024;
/// Time a cached file is served without looking at the disk again.
pub const DEFAULT_STATIC_CACHE_TTL: Duration = Duration::from_secs(1);
/// Threads in the blocking pool (file reads, blocking handlers).
pub const DEFAULT_BLOCKING_THREADS: usize = 2;
/// Jobs queued for the blocking pool before new ones are refused with 503.
pub const DEFAULT_BLOCKING_QUEUE: usize = 4096;
/// Most connections one worker keeps open; further accepts are closed at once.
pub const DEFAULT_MAX_CONNECTIONS_PER_WORKER: usize = 16 * 1024;
/// Granularity of the transport's timeout scan.
pub const DEFAULT_TIMER_GRANULARITY: Duration = Duration::from_millis(100);
/// Time in-flight connections get to finish after a stop request.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Value of the `Server` response header (RFC 9110 §10.2.4).
pub const SERVER_NAME: &str = "boomerang";

/// Limits and timeouts of the HTTP/1.1 server; `Default` gives the documented constants.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// See [`DEFAULT_MAX_HEADER_BYTES`].
    pub max_header_bytes: usize,
    /// See [`DEFAULT_MAX_URI_BYTES`].
    pub max_uri_bytes: usize,
    /// See [`DEFAULT_MAX_HEADERS`].
    pub max_headers: usize,
    /// See [`DEFAULT_MAX_BODY_BYTES`].
    pub max_body_bytes: usize,
    /// See [`DEFAULT_MAX_CHUNK_EXT_BYTES`].
    pub max_chunk_ext_bytes: usize,
    /// See [`DEFAULT_MAX_TRAILER_BYTES`].
    pub max_trailer_bytes: usize,
    /// See [`DEFAULT_HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// See [`DEFAULT_BODY_READ_TIMEOUT`].
    pub body_read_timeout: Duration,
    /// See [`DEFAULT_KEEP_ALIVE_TIMEOUT`].
    pub keep_alive_timeout: Duration,
    /// See [`DEFAULT_WRITE_TIMEOUT`].
    pub write_timeout: Duration,
    /// See [`DEFAULT_LINGER_TIMEOUT`].
    pub linger_timeout: Duration,
    /// See [`DEFAULT_MAX_LINGER_BYTES`].
    pub max_linger_bytes: usize,
    /// See [`DEFAULT_OUTPUT_HIGH_WATER`].
    pub output_high_water: usize,
    /// See [`DEFAULT_OUTPUT_LOW_WATER`].
    pub output_low_water: usize,
    /// See [`DEFAULT_FILE_CHUNK_BYTES`].
    pub file_chunk_bytes: usize,
    /// See [`DEFAULT_STATIC_CACHE_BYTES`].
    pub static_cache_bytes: usize,
    /// See [`DEFAULT_STATIC_CACHE_MAX_FILE`].
    pub static_cache_max_file: usize,
    /// See [`DEFAULT_STATIC_CACHE_TTL`].
    pub static_cache_ttl: Duration,
    /// See [`DEFAULT_BLOCKING_THREADS`].
    pub blocking_threads: usize,
    /// See [`DEFAULT_BLOCKING_QUEUE`].
    pub blocking_queue: usize,
    /// See [`DEFAULT_MAX_CONNECTIONS_PER_WORKER`].
    pub max_connections_per_worker: usize,
    /// See [`DEFAULT_TIMER_GRANULARITY`].
    pub timer_granularity: Duration,
    /// See [`DEFAULT_SHUTDOWN_GRACE`].
    pub shutdown_grace: Duration,
    /// Root directory of static files; `None` answers 404 for every static path.
    pub root: Option<PathBuf>,
    /// Worker threads of the kernel transport (0 = one per CPU in the allowed set).
    pub workers: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_uri_bytes: DEFAULT_MAX_URI_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_chunk_ext_bytes: DEFAULT_MAX_CHUNK_EXT_BYTES,
            max_trailer_bytes: DEFAULT_MAX_TRAILER_BYTES,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            keep_alive_timeout: DEFAULT_KEEP_ALIVE_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            linger_timeout: DEFAULT_LINGER_TIMEOUT,
            max_linger_bytes: DEFAULT_MAX_LINGER_BYTES,
            output_high_water: DEFAULT_OUTPUT_HIGH_WATER,
            output_low_water: DEFAULT_OUTPUT_LOW_WATER,
            file_chunk_bytes: DEFAULT_FILE_CHUNK_BYTES,
            static_cache_bytes: DEFAULT_STATIC_CACHE_BYTES,
            static_cache_max_file: DEFAULT_STATIC_CACHE_MAX_FILE,
            static_cache_ttl: DEFAULT_STATIC_CACHE_TTL,
            blocking_threads: DEFAULT_BLOCKING_THREADS,
            blocking_queue: DEFAULT_BLOCKING_QUEUE,
            max_connections_per_worker: DEFAULT_MAX_CONNECTIONS_PER_WORKER,
            timer_granularity: DEFAULT_TIMER_GRANULARITY,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            root: None,
            workers: 0,
        }
    }
}

/// A [`ServerConfig`] value that cannot work, named so an operator can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A limit that must be positive is zero.
    #[error("{0} must be greater than zero")]
    Zero(&'static str),
    /// `max_headers` is above the parser's slot count.
    #[error("max_headers must be at most {max}")]
    TooManyHeaderSlots {
        /// The largest accepted value.
        max: usize,
    },
    /// The low-water mark is above the high-water mark.
    #[error("output_low_water must not exceed output_high_water")]
    WaterMarks,
}

impl ServerConfig {
    /// Checks that the limits are usable (positive sizes and counts, ordered water marks).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive: [(&'static str, usize); 9] = [
            ("max_header_bytes", self.max_header_bytes),
            ("max_uri_bytes", self.max_uri_bytes),
            ("max_headers", self.max_headers),
            ("file_chunk_bytes", self.file_chunk_bytes),
            ("blocking_threads", self.blocking_threads),
            ("blocking_queue", self.blocking_queue),
            (
                "max_connections_per_worker",
                self.max_connections_per_worker,
            ),
            ("output_high_water", self.output_high_water),
            (
                "timer_granularity (ms)",
                self.timer_granularity.as_millis().min(1) as usize,
            ),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(ConfigError::Zero(name));
        }
        if self.max_headers > MAX_HEADER_SLOTS {
            return Err(ConfigError::TooManyHeaderSlots {
                max: MAX_HEADER_SLOTS,
            });
        }
        if self.output_low_water > self.output_high_water {
            return Err(ConfigError::WaterMarks);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_nonsense_is_named() {
        assert_eq!(ServerConfig::default().validate(), Ok(()));
        let c = ServerConfig {
            blocking_threads: 0,
            ..Default::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::Zero("blocking_threads")));
        let c = ServerConfig {
            max_headers: 1000,
            ..Default::default()
        };
        assert_eq!(
            c.validate(),
            Err(ConfigError::TooManyHeaderSlots { max: 128 })
        );
        let c = ServerConfig {
            output_low_water: 10,
            output_high_water: 5,
            ..Default::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::WaterMarks));
        let c = ServerConfig {
            timer_granularity: Duration::ZERO,
            ..Default::default()
        };
        assert_eq!(
            c.validate(),
            Err(ConfigError::Zero("timer_granularity (ms)"))
        );
    }
}
