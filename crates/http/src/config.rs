//! Server configuration: every resource limit and timeout as a named default
//! constant, gathered in [`ServerConfig`] so both transports and tests can tune them.
//!
//! [`ServerConfig`] is the one source of each HTTP setting: its field's doc names the key
//! in the `[http]` table of the configuration file, the default and the range, and
//! [`ServerConfig::validate`] enforces that range.

use std::path::PathBuf;
use std::time::Duration;

use boomerang_settings::OutOfRange;

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

/// Shortest of the four connection timeouts (`header-timeout`, `body-read-timeout`,
/// `keepalive-timeout`, `write-timeout`): the transports check timeouts every
/// [`DEFAULT_TIMER_GRANULARITY`], so anything shorter would be rounded up anyway.
pub const MIN_TIMEOUT: Duration = DEFAULT_TIMER_GRANULARITY;
/// Longest of the connection timeouts, the linger time, the shutdown grace and the file
/// cache's TTL.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

/// Limits and timeouts of the HTTP/1.1 server; `Default` gives the documented constants.
///
/// This is also the `[http]` table of `boomerang serve --config FILE`: each field is read
/// under the key named in its doc (kebab-case; the same with underscores works too),
/// sizes as an integer or a string such as `"4M"`, durations as a string such as `"10s"`
/// or `"250ms"` or whole seconds. [`ServerConfig::validate`] checks every field against
/// the range its doc gives.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServerConfig {
    /// Largest request head (request line + header fields + CRLFs) accepted; more → 431.
    /// Key `max-header-bytes`, default [`DEFAULT_MAX_HEADER_BYTES`], 256 B..=1 MiB.
    #[serde(with = "boomerang_settings::bytes", alias = "max_header_bytes")]
    pub max_header_bytes: usize,
    /// Largest request-target accepted; longer → 414. Key `max-uri-bytes`, default
    /// [`DEFAULT_MAX_URI_BYTES`], 16 B..=1 MiB.
    #[serde(with = "boomerang_settings::bytes", alias = "max_uri_bytes")]
    pub max_uri_bytes: usize,
    /// Most header fields in one request head; more → 431. Key `max-headers`, default
    /// [`DEFAULT_MAX_HEADERS`], 1..=[`MAX_HEADER_SLOTS`].
    #[serde(alias = "max_headers")]
    pub max_headers: usize,
    /// Largest request body accepted (Content-Length or decoded chunked); more → 413.
    /// Key `max-body-bytes`, default [`DEFAULT_MAX_BODY_BYTES`], 0..=1 TiB.
    #[serde(with = "boomerang_settings::bytes", alias = "max_body_bytes")]
    pub max_body_bytes: usize,
    /// Most bytes of chunk extensions over one chunked body; more → 400. Key
    /// `max-chunk-ext-bytes`, default [`DEFAULT_MAX_CHUNK_EXT_BYTES`], 0..=1 MiB.
    #[serde(with = "boomerang_settings::bytes", alias = "max_chunk_ext_bytes")]
    pub max_chunk_ext_bytes: usize,
    /// Most bytes of trailer section after the last chunk; more → 431. Key
    /// `max-trailer-bytes`, default [`DEFAULT_MAX_TRAILER_BYTES`], 0..=1 MiB.
    #[serde(with = "boomerang_settings::bytes", alias = "max_trailer_bytes")]
    pub max_trailer_bytes: usize,
    /// Time from the first byte of a request head to its end (slowloris guard); then the
    /// connection is closed. Key `header-timeout`, default [`DEFAULT_HEADER_READ_TIMEOUT`],
    /// [`MIN_TIMEOUT`]..=[`MAX_TIMEOUT`].
    #[serde(
        rename = "header-timeout",
        alias = "header_timeout",
        with = "boomerang_settings::duration"
    )]
    pub header_read_timeout: Duration,
    /// Time without progress while a request body is received. Key `body-read-timeout`,
    /// default [`DEFAULT_BODY_READ_TIMEOUT`], [`MIN_TIMEOUT`]..=[`MAX_TIMEOUT`].
    #[serde(alias = "body_read_timeout", with = "boomerang_settings::duration")]
    pub body_read_timeout: Duration,
    /// Time an idle keep-alive connection waits for its next request. Key
    /// `keepalive-timeout`, default [`DEFAULT_KEEP_ALIVE_TIMEOUT`],
    /// [`MIN_TIMEOUT`]..=[`MAX_TIMEOUT`].
    #[serde(
        rename = "keepalive-timeout",
        alias = "keepalive_timeout",
        with = "boomerang_settings::duration"
    )]
    pub keep_alive_timeout: Duration,
    /// Time without any write progress while response bytes are pending. Key
    /// `write-timeout`, default [`DEFAULT_WRITE_TIMEOUT`], [`MIN_TIMEOUT`]..=[`MAX_TIMEOUT`].
    #[serde(alias = "write_timeout", with = "boomerang_settings::duration")]
    pub write_timeout: Duration,
    /// Time unread input is drained after the write side was shut down (lingering close,
    /// RFC 9112 §9.6). Key `linger-timeout`, default [`DEFAULT_LINGER_TIMEOUT`],
    /// 0..=[`MAX_TIMEOUT`].
    #[serde(alias = "linger_timeout", with = "boomerang_settings::duration")]
    pub linger_timeout: Duration,
    /// Most bytes read and discarded during a lingering close. Key `max-linger-bytes`,
    /// default [`DEFAULT_MAX_LINGER_BYTES`], 0..=1 GiB.
    #[serde(with = "boomerang_settings::bytes", alias = "max_linger_bytes")]
    pub max_linger_bytes: usize,
    /// Pending output above which a connection stops reading and parsing pipelined
    /// requests. Key `output-high-water`, default [`DEFAULT_OUTPUT_HIGH_WATER`], 1 B..=1 GiB.
    #[serde(with = "boomerang_settings::bytes", alias = "output_high_water")]
    pub output_high_water: usize,
    /// Pending output below which a streamed static file asks for its next chunk. Key
    /// `output-low-water`, default [`DEFAULT_OUTPUT_LOW_WATER`], 0..=`output-high-water`.
    #[serde(with = "boomerang_settings::bytes", alias = "output_low_water")]
    pub output_low_water: usize,
    /// Size of one chunk read from a static file by the blocking pool. Key
    /// `file-chunk-bytes`, default [`DEFAULT_FILE_CHUNK_BYTES`], 1 B..=64 MiB.
    #[serde(with = "boomerang_settings::bytes", alias = "file_chunk_bytes")]
    pub file_chunk_bytes: usize,
    /// Bytes of small static files kept in memory, all workers together; 0 turns the cache
    /// off (every static request then goes to the blocking pool). A file that does not fit
    /// is counted in `boomerang_http_file_cache_full_total` and served through the pool. Key `file-cache-bytes`,
    /// default [`DEFAULT_STATIC_CACHE_BYTES`], 0..=1 TiB.
    #[serde(
        rename = "file-cache-bytes",
        alias = "file_cache_bytes",
        with = "boomerang_settings::bytes"
    )]
    pub static_cache_bytes: usize,
    /// Largest static file kept in the cache. Key `file-cache-max-file`, default
    /// [`DEFAULT_STATIC_CACHE_MAX_FILE`], 0..=1 GiB.
    #[serde(
        rename = "file-cache-max-file",
        alias = "file_cache_max_file",
        with = "boomerang_settings::bytes"
    )]
    pub static_cache_max_file: usize,
    /// Time a cached file is served without looking at the disk again (a change on disk is
    /// seen at most twice this long later: after expiry one request reloads the file while
    /// the others are still answered from the old copy); 0 turns the cache off. Key `file-cache-ttl`, default
    /// [`DEFAULT_STATIC_CACHE_TTL`], 0..=[`MAX_TIMEOUT`].
    #[serde(
        rename = "file-cache-ttl",
        alias = "file_cache_ttl",
        with = "boomerang_settings::duration"
    )]
    pub static_cache_ttl: Duration,
    /// Threads of the blocking pool (file reads, blocking handlers), shared by all workers.
    /// Key `blocking-threads`, default [`DEFAULT_BLOCKING_THREADS`], 1..=1024.
    #[serde(alias = "blocking_threads")]
    pub blocking_threads: usize,
    /// Jobs queued for the blocking pool before new ones are refused with 503. Key
    /// `blocking-queue`, default [`DEFAULT_BLOCKING_QUEUE`], 1..=1,048,576.
    #[serde(alias = "blocking_queue")]
    pub blocking_queue: usize,
    /// Most connections one worker (one shard with AF_XDP) keeps open; further connections
    /// are reset at once. Key `max-connections-per-worker`, default
    /// [`DEFAULT_MAX_CONNECTIONS_PER_WORKER`], 1..=16,777,216.
    #[serde(alias = "max_connections_per_worker")]
    pub max_connections_per_worker: usize,
    /// Granularity of the transport's timeout scan. Key `timer-granularity`, default
    /// [`DEFAULT_TIMER_GRANULARITY`], 1ms..=1s.
    #[serde(alias = "timer_granularity", with = "boomerang_settings::duration")]
    pub timer_granularity: Duration,
    /// Time in-flight connections get to finish after a stop request. Key
    /// `shutdown-grace`, default [`DEFAULT_SHUTDOWN_GRACE`], 0..=[`MAX_TIMEOUT`].
    #[serde(alias = "shutdown_grace", with = "boomerang_settings::duration")]
    pub shutdown_grace: Duration,
    /// Root directory of static files; `None` answers 404 for every static path. Not read
    /// from the `[http]` table (the program sets it, `boomerang serve --root`).
    #[serde(skip)]
    pub root: Option<PathBuf>,
    /// Worker threads of the kernel transport (0 = one per CPU in the allowed set). Key
    /// `workers`, default 0, 0..=1024.
    pub workers: usize,
    /// Access log in the combined log format (`-`: standard output); `None` (the default)
    /// logs nothing. Key `access-log`, flag `--access-log`. See [`crate::access_log`].
    #[serde(alias = "access_log")]
    pub access_log: Option<PathBuf>,
    /// The access log's format: `combined` (default) or `json`. Key `access-log-format`.
    #[serde(alias = "access_log_format")]
    pub access_log_format: crate::access_log::AccessLogFormat,
    /// HTTPS: certificates, keys and the handshake timeout; `None` serves plain HTTP. Not
    /// read from the `[http]` table (it is the `[tls]` table, `--tls-cert`/`--tls-key`).
    #[serde(skip)]
    pub tls: Option<crate::tls::TlsConfig>,
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
            access_log: None,
            access_log_format: crate::access_log::AccessLogFormat::Combined,
            tls: None,
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
    /// A value outside the range its field's doc gives.
    #[error(transparent)]
    OutOfRange(#[from] OutOfRange),
}

impl ConfigError {
    /// The setting at fault, as its key in the `[http]` table (`blocking-threads`).
    pub fn setting(&self) -> &'static str {
        match self {
            ConfigError::Zero(name) => match *name {
                "max_header_bytes" => "max-header-bytes",
                "max_uri_bytes" => "max-uri-bytes",
                "max_headers" => "max-headers",
                "file_chunk_bytes" => "file-chunk-bytes",
                "blocking_threads" => "blocking-threads",
                "blocking_queue" => "blocking-queue",
                "max_connections_per_worker" => "max-connections-per-worker",
                "output_high_water" => "output-high-water",
                _ => "timer-granularity",
            },
            ConfigError::TooManyHeaderSlots { .. } => "max-headers",
            ConfigError::WaterMarks => "output-low-water",
            ConfigError::OutOfRange(r) => r.setting,
        }
    }
}

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
const GIB: usize = 1024 * MIB;
const TIB: usize = 1024 * GIB;

impl ServerConfig {
    /// Checks every field against the range its doc gives (positive sizes and counts,
    /// ordered water marks, bounded timeouts).
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
        self.check_ranges()?;
        Ok(())
    }

    fn check_ranges(&self) -> Result<(), OutOfRange> {
        use boomerang_settings::{check_bytes, check_count, check_duration};
        let bytes: [(&'static str, usize, usize, usize); 11] = [
            ("max-header-bytes", self.max_header_bytes, 256, MIB),
            ("max-uri-bytes", self.max_uri_bytes, 16, MIB),
            ("max-body-bytes", self.max_body_bytes, 0, TIB),
            ("max-chunk-ext-bytes", self.max_chunk_ext_bytes, 0, MIB),
            ("max-trailer-bytes", self.max_trailer_bytes, 0, MIB),
            ("max-linger-bytes", self.max_linger_bytes, 0, GIB),
            ("output-high-water", self.output_high_water, 1, GIB),
            ("file-chunk-bytes", self.file_chunk_bytes, 1, 64 * MIB),
            ("file-cache-bytes", self.static_cache_bytes, 0, TIB),
            ("file-cache-max-file", self.static_cache_max_file, 0, GIB),
            ("output-low-water", self.output_low_water, 0, GIB),
        ];
        for (name, value, min, max) in bytes {
            check_bytes(name, value, min, max, "")?;
        }
        let counts: [(&'static str, usize, usize, usize, &str); 4] = [
            (
                "blocking-threads",
                self.blocking_threads,
                1,
                1024,
                "threads",
            ),
            ("blocking-queue", self.blocking_queue, 1, 1 << 20, "jobs"),
            (
                "max-connections-per-worker",
                self.max_connections_per_worker,
                1,
                1 << 24,
                "connections",
            ),
            ("workers", self.workers, 0, 1024, "threads (0: one per CPU)"),
        ];
        for (name, value, min, max, unit) in counts {
            check_count(name, value, min, max, unit, "")?;
        }
        let every = format!(
            " (the server checks timeouts every {}ms)",
            self.timer_granularity.as_millis()
        );
        let timeouts: [(&'static str, Duration, Duration, &str); 8] = [
            (
                "header-timeout",
                self.header_read_timeout,
                MIN_TIMEOUT,
                &every,
            ),
            (
                "body-read-timeout",
                self.body_read_timeout,
                MIN_TIMEOUT,
                &every,
            ),
            (
                "keepalive-timeout",
                self.keep_alive_timeout,
                MIN_TIMEOUT,
                &every,
            ),
            ("write-timeout", self.write_timeout, MIN_TIMEOUT, &every),
            ("linger-timeout", self.linger_timeout, Duration::ZERO, ""),
            ("shutdown-grace", self.shutdown_grace, Duration::ZERO, ""),
            ("file-cache-ttl", self.static_cache_ttl, Duration::ZERO, ""),
            (
                "timer-granularity",
                self.timer_granularity,
                Duration::from_millis(1),
                "",
            ),
        ];
        for (name, value, min, advice) in timeouts {
            let max = if name == "timer-granularity" {
                Duration::from_secs(1)
            } else {
                MAX_TIMEOUT
            };
            check_duration(name, value, min, max, advice)?;
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

    #[test]
    fn out_of_range_values_name_the_key_and_the_range() {
        let cases: [(ServerConfig, &str); 6] = [
            (
                ServerConfig {
                    max_connections_per_worker: (1 << 24) + 1,
                    ..Default::default()
                },
                "max-connections-per-worker 16777217: use 1..=16777216 connections",
            ),
            (
                ServerConfig {
                    blocking_threads: 2000,
                    ..Default::default()
                },
                "blocking-threads 2000: use 1..=1024 threads",
            ),
            (
                ServerConfig {
                    static_cache_ttl: Duration::from_secs(3601),
                    ..Default::default()
                },
                "file-cache-ttl 3601s: use 0s..=3600s",
            ),
            (
                ServerConfig {
                    write_timeout: Duration::from_millis(50),
                    ..Default::default()
                },
                "write-timeout 50ms: use 100ms..=3600s (the server checks timeouts every 100ms)",
            ),
            (
                ServerConfig {
                    max_header_bytes: 100,
                    ..Default::default()
                },
                "max-header-bytes 100: use 256..=1048576 bytes (256 to 1M)",
            ),
            (
                ServerConfig {
                    timer_granularity: Duration::from_secs(2),
                    ..Default::default()
                },
                "timer-granularity 2s: use 1ms..=1s",
            ),
        ];
        for (c, want) in cases {
            let e = c.validate().unwrap_err();
            assert_eq!(e.to_string(), want);
            assert_eq!(e.setting(), want.split(' ').next().expect("key"));
        }
        assert_eq!(
            ConfigError::Zero("blocking_threads").setting(),
            "blocking-threads"
        );
        let edges = ServerConfig {
            max_connections_per_worker: 1 << 24,
            static_cache_bytes: 0,
            static_cache_ttl: Duration::ZERO,
            header_read_timeout: MIN_TIMEOUT,
            keep_alive_timeout: MAX_TIMEOUT,
            ..Default::default()
        };
        assert_eq!(edges.validate(), Ok(()));
    }

    #[test]
    fn the_http_table_reads_every_key() {
        let c: ServerConfig = toml::from_str(
            r#"
            max-connections-per-worker = 100000
            blocking_threads = 8
            blocking-queue = 100
            file-cache-bytes = "256M"
            file_cache_ttl = "250ms"
            file-cache-max-file = "4M"
            header-timeout = "2s"
            keepalive_timeout = 60
            body-read-timeout = "5s"
            max-body-bytes = "1G"
            "#,
        )
        .expect("parses");
        assert_eq!(c.max_connections_per_worker, 100_000);
        assert_eq!((c.blocking_threads, c.blocking_queue), (8, 100));
        assert_eq!(c.static_cache_bytes, 256 << 20);
        assert_eq!(c.static_cache_ttl, Duration::from_millis(250));
        assert_eq!(c.static_cache_max_file, 4 << 20);
        assert_eq!(c.header_read_timeout, Duration::from_secs(2));
        assert_eq!(c.keep_alive_timeout, Duration::from_secs(60));
        assert_eq!(c.body_read_timeout, Duration::from_secs(5));
        assert_eq!(c.max_body_bytes, 1 << 30);
        // Keys not given keep their defaults; unknown keys and the program's own fields
        // are refused.
        assert_eq!(c.write_timeout, DEFAULT_WRITE_TIMEOUT);
        for bad in [
            "root = \"/srv\"",
            "body-timeout = \"1s\"",
            "static-cache-bytes = 1",
        ] {
            assert!(toml::from_str::<ServerConfig>(bad).is_err(), "{bad}");
        }
    }
}
