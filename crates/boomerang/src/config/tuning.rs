//! The tuning tables of `serve`: the userspace stack's TCP (`[tcp]`, AF_XDP only) and the
//! HTTP server's timeouts (`[http]`), merged flags-over-file and range-checked, so the stack
//! and the HTTP server only ever see values they can work with.

use std::fmt;
use std::time::Duration;

use boomerang_http::ServerConfig;
use boomerang_stack::tcp::config::{
    CongestionAlgorithm, DEFAULT_INITIAL_CWND_SEGMENTS, DEFAULT_RCV_BUF, DEFAULT_SND_BUF,
};
use boomerang_stack::TcpConfig;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::ConfigError;
use crate::cli::{parse_bytes, parse_duration, ServeArgs};

/// Smallest `--snd-buf` / `--rcv-buf`: below a few segments a connection cannot keep
/// anything in flight.
pub const MIN_TCP_BUF: usize = 4 * 1024;
/// Largest `--snd-buf` / `--rcv-buf`: the largest window TCP can advertise is
/// 65535 << 14, about 1 GiB (RFC 7323 §2.3).
pub const MAX_TCP_BUF: usize = 1024 * 1024 * 1024;
/// Largest `--initial-cwnd` in segments (RFC 6928 recommends 10; more floods a path
/// before any feedback).
pub const MAX_INITIAL_CWND: u32 = 1000;
/// Shortest `--header-timeout` / `--keepalive-timeout`: the HTTP server checks its timeouts
/// at this granularity, so anything shorter would be rounded up anyway.
pub const MIN_HTTP_TIMEOUT: Duration = boomerang_http::config::DEFAULT_TIMER_GRANULARITY;
/// Longest `--header-timeout` / `--keepalive-timeout`.
pub const MAX_HTTP_TIMEOUT: Duration = Duration::from_secs(3600);

/// The `[tcp]` table of the file: the userspace stack's TCP tuning.
#[derive(Deserialize, Debug, Default, Clone, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TcpFileConfig {
    /// See `--congestion`.
    #[serde(default, deserialize_with = "de_congestion")]
    pub congestion: Option<CongestionAlgorithm>,
    /// See `--snd-buf`.
    #[serde(default, alias = "snd_buf", deserialize_with = "de_bytes")]
    pub snd_buf: Option<usize>,
    /// See `--rcv-buf`.
    #[serde(default, alias = "rcv_buf", deserialize_with = "de_bytes")]
    pub rcv_buf: Option<usize>,
    /// See `--initial-cwnd`.
    #[serde(default, alias = "initial_cwnd")]
    pub initial_cwnd: Option<u32>,
}

/// The `[http]` table of the file: the HTTP server's timeouts.
#[derive(Deserialize, Debug, Default, Clone, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HttpFileConfig {
    /// See `--header-timeout`.
    #[serde(default, alias = "header_timeout", deserialize_with = "de_duration")]
    pub header_timeout: Option<Duration>,
    /// See `--keepalive-timeout`.
    #[serde(default, alias = "keepalive_timeout", deserialize_with = "de_duration")]
    pub keepalive_timeout: Option<Duration>,
}

/// A congestion-control name, parsed like `--congestion`.
fn de_congestion<'de, D: Deserializer<'de>>(d: D) -> Result<Option<CongestionAlgorithm>, D::Error> {
    let name = String::deserialize(d)?;
    name.parse().map(Some).map_err(de::Error::custom)
}

/// A byte count: an integer, or a string parsed like `--snd-buf` (`"256K"`, `"4M"`).
fn de_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    struct Bytes;
    impl Visitor<'_> for Bytes {
        type Value = usize;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a byte count: an integer, or a string like \"256K\" or \"4M\"")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<usize, E> {
            usize::try_from(v).map_err(|_| E::custom(format!("{v} is not a byte count")))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<usize, E> {
            usize::try_from(v).map_err(|_| E::custom(format!("{v} is out of range")))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<usize, E> {
            parse_bytes(v).map_err(E::custom)
        }
    }
    d.deserialize_any(Bytes).map(Some)
}

/// A duration: a string parsed like `--header-timeout` (`"10s"`, `"500ms"`), or an integer
/// number of seconds.
fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    struct Dur;
    impl Visitor<'_> for Dur {
        type Value = Duration;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration: a string like \"10s\" or \"500ms\", or whole seconds")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
            u64::try_from(v)
                .map(Duration::from_secs)
                .map_err(|_| E::custom(format!("{v} is not a duration")))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
            Ok(Duration::from_secs(v))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            parse_duration(v).map_err(E::custom)
        }
    }
    d.deserialize_any(Dur).map(Some)
}

/// The userspace stack's TCP tuning (`--congestion`, `--snd-buf`, `--rcv-buf`,
/// `--initial-cwnd`), checked; the rest of [`TcpConfig`] keeps its defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpTuning {
    /// Congestion controller.
    pub congestion: CongestionAlgorithm,
    /// Maximum send buffer per connection (bytes).
    pub snd_buf: usize,
    /// Maximum receive buffer per connection (bytes).
    pub rcv_buf: usize,
    /// Initial congestion window (segments).
    pub initial_cwnd: u32,
}

impl Default for TcpTuning {
    fn default() -> Self {
        TcpTuning {
            congestion: CongestionAlgorithm::default(),
            snd_buf: DEFAULT_SND_BUF,
            rcv_buf: DEFAULT_RCV_BUF,
            initial_cwnd: DEFAULT_INITIAL_CWND_SEGMENTS,
        }
    }
}

impl TcpTuning {
    /// Merges flags over the file's `[tcp]` table and checks the ranges.
    pub(super) fn merge(args: &ServeArgs, file: &TcpFileConfig) -> Result<TcpTuning, ConfigError> {
        let d = TcpTuning::default();
        let snd_buf = args.snd_buf.or(file.snd_buf).unwrap_or(d.snd_buf);
        check_buf(
            "--snd-buf",
            snd_buf,
            "for full speed give at least 2 × bandwidth × RTT",
        )?;
        let rcv_buf = args.rcv_buf.or(file.rcv_buf).unwrap_or(d.rcv_buf);
        check_buf(
            "--rcv-buf",
            rcv_buf,
            "TCP cannot advertise a window above 1 GiB (RFC 7323 §2.3)",
        )?;
        let initial_cwnd = args
            .initial_cwnd
            .or(file.initial_cwnd)
            .unwrap_or(d.initial_cwnd);
        if !(1..=MAX_INITIAL_CWND).contains(&initial_cwnd) {
            return Err(ConfigError::Invalid(format!(
                "--initial-cwnd {initial_cwnd}: use 1..={MAX_INITIAL_CWND} segments (RFC 6928 recommends {DEFAULT_INITIAL_CWND_SEGMENTS})"
            )));
        }
        Ok(TcpTuning {
            congestion: args.congestion.or(file.congestion).unwrap_or(d.congestion),
            snd_buf,
            rcv_buf,
            initial_cwnd,
        })
    }

    /// Writes these values into the stack's TCP configuration.
    pub fn apply(&self, tcp: &mut TcpConfig) {
        tcp.congestion = self.congestion;
        tcp.snd_buf = self.snd_buf;
        tcp.rcv_buf = self.rcv_buf;
        // Out-of-order data lies inside the window we advertise, so it is already bounded by
        // the receive buffer: a larger buffer may hold as much out of order (a peer filling a
        // long lossy path must not see its segments past a hole dropped).
        tcp.max_ooo_bytes = tcp.max_ooo_bytes.max(self.rcv_buf);
        tcp.initial_cwnd_segments = self.initial_cwnd;
    }
}

fn check_buf(name: &str, bytes: usize, hint: &str) -> Result<(), ConfigError> {
    if (MIN_TCP_BUF..=MAX_TCP_BUF).contains(&bytes) {
        return Ok(());
    }
    Err(ConfigError::Invalid(format!(
        "{name} {bytes}: use {MIN_TCP_BUF}..={MAX_TCP_BUF} bytes (4K to 1G); {hint}"
    )))
}

/// The HTTP server's timeouts (`--header-timeout`, `--keepalive-timeout`), checked; the
/// rest of [`ServerConfig`] keeps its defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpTimeouts {
    /// Time allowed for a whole request head ([`ServerConfig::header_read_timeout`]).
    pub header_read_timeout: Duration,
    /// Idle time of a keep-alive connection ([`ServerConfig::keep_alive_timeout`]).
    pub keep_alive_timeout: Duration,
}

impl Default for HttpTimeouts {
    fn default() -> Self {
        HttpTimeouts {
            header_read_timeout: boomerang_http::config::DEFAULT_HEADER_READ_TIMEOUT,
            keep_alive_timeout: boomerang_http::config::DEFAULT_KEEP_ALIVE_TIMEOUT,
        }
    }
}

impl HttpTimeouts {
    /// Merges flags over the file's `[http]` table and checks the ranges.
    pub(super) fn merge(
        args: &ServeArgs,
        file: &HttpFileConfig,
    ) -> Result<HttpTimeouts, ConfigError> {
        let d = HttpTimeouts::default();
        let header_read_timeout = args
            .header_timeout
            .or(file.header_timeout)
            .unwrap_or(d.header_read_timeout);
        check_timeout("--header-timeout", header_read_timeout)?;
        let keep_alive_timeout = args
            .keepalive_timeout
            .or(file.keepalive_timeout)
            .unwrap_or(d.keep_alive_timeout);
        check_timeout("--keepalive-timeout", keep_alive_timeout)?;
        Ok(HttpTimeouts {
            header_read_timeout,
            keep_alive_timeout,
        })
    }

    /// Writes these values into the HTTP server's configuration.
    pub fn apply(&self, config: &mut ServerConfig) {
        config.header_read_timeout = self.header_read_timeout;
        config.keep_alive_timeout = self.keep_alive_timeout;
    }
}

fn check_timeout(name: &str, d: Duration) -> Result<(), ConfigError> {
    if (MIN_HTTP_TIMEOUT..=MAX_HTTP_TIMEOUT).contains(&d) {
        return Ok(());
    }
    Err(ConfigError::Invalid(format!(
        "{name} {d:?}: use {}ms..={}s (the server checks timeouts every {}ms)",
        MIN_HTTP_TIMEOUT.as_millis(),
        MAX_HTTP_TIMEOUT.as_secs(),
        MIN_HTTP_TIMEOUT.as_millis()
    )))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{FileConfig, ServeSettings, XdpSettings};

    fn parse(text: &str) -> FileConfig {
        FileConfig::parse(text, Path::new("t.toml")).expect("valid")
    }

    /// Flags for a valid AF_XDP server, to which a test adds the setting it checks.
    fn xdp_args() -> ServeArgs {
        ServeArgs {
            iface: Some("veth0".into()),
            addr: Some("198.19.2.1/24".into()),
            ..ServeArgs::default()
        }
    }

    fn xdp(args: &ServeArgs, file: &FileConfig) -> Result<XdpSettings, ConfigError> {
        match ServeSettings::merge(args, file)? {
            ServeSettings::Xdp(x) => Ok(x),
            ServeSettings::Kernel(_) => panic!("AF_XDP expected"),
        }
    }

    #[test]
    fn tuning_defaults_are_the_stack_and_server_defaults() {
        let x = xdp(&xdp_args(), &FileConfig::default()).expect("ok");
        assert_eq!(x.tcp, TcpTuning::default());
        assert_eq!(x.http, HttpTimeouts::default());
        let mut tcp = TcpConfig::default();
        x.tcp.apply(&mut tcp);
        assert_eq!(tcp, TcpConfig::default());
        assert_eq!(tcp.congestion, CongestionAlgorithm::Cubic);
        let mut http = ServerConfig::default();
        x.http.apply(&mut http);
        assert_eq!(http.header_read_timeout, Duration::from_secs(10));
        assert_eq!(http.keep_alive_timeout, Duration::from_secs(15));
    }

    #[test]
    fn a_larger_receive_buffer_holds_as_much_out_of_order() {
        let tuning = TcpTuning {
            rcv_buf: 4 << 20,
            ..TcpTuning::default()
        };
        let mut tcp = TcpConfig::default();
        tuning.apply(&mut tcp);
        assert_eq!((tcp.rcv_buf, tcp.max_ooo_bytes), (4 << 20, 4 << 20));
        let small = TcpTuning {
            rcv_buf: 64 << 10,
            ..TcpTuning::default()
        };
        let mut tcp = TcpConfig::default();
        small.apply(&mut tcp);
        assert_eq!(tcp.max_ooo_bytes, TcpConfig::default().max_ooo_bytes);
    }

    #[test]
    fn tuning_tables_equal_flags() {
        let expected = xdp(
            &ServeArgs {
                congestion: Some(CongestionAlgorithm::NewReno),
                snd_buf: Some(8 << 20),
                rcv_buf: Some(1 << 20),
                initial_cwnd: Some(4),
                header_timeout: Some(Duration::from_millis(2500)),
                keepalive_timeout: Some(Duration::from_secs(60)),
                ..xdp_args()
            },
            &FileConfig::default(),
        )
        .expect("ok");
        let kebab = parse(
            r#"
            [tcp]
            congestion = "newreno"
            snd-buf = "8M"
            rcv-buf = 1048576
            initial-cwnd = 4
            [http]
            header-timeout = "2500ms"
            keepalive-timeout = 60
            "#,
        );
        let snake = parse(
            r#"
            [tcp]
            congestion = "reno"
            snd_buf = 8388608
            rcv_buf = "1MiB"
            initial_cwnd = 4
            [http]
            header_timeout = "2.5s"
            keepalive_timeout = "1m"
            "#,
        );
        for file in [kebab, snake] {
            assert_eq!(xdp(&xdp_args(), &file).expect("ok"), expected);
        }
        let mut tcp = TcpConfig::default();
        expected.tcp.apply(&mut tcp);
        assert_eq!(tcp.congestion, CongestionAlgorithm::NewReno);
        assert_eq!((tcp.snd_buf, tcp.rcv_buf), (8 << 20, 1 << 20));
        assert_eq!(tcp.initial_cwnd_segments, 4);
        let mut http = ServerConfig::default();
        expected.http.apply(&mut http);
        assert_eq!(http.header_read_timeout, Duration::from_millis(2500));
        assert_eq!(http.keep_alive_timeout, Duration::from_secs(60));
    }

    #[test]
    fn tuning_flags_win_over_the_file() {
        let file = parse(
            "[tcp]\ncongestion = \"newreno\"\nsnd-buf = 65536\nrcv-buf = 65536\ninitial-cwnd = 2\n\
             [http]\nheader-timeout = \"1s\"\nkeepalive-timeout = \"1s\"\n",
        );
        let args = ServeArgs {
            congestion: Some(CongestionAlgorithm::Bbr),
            snd_buf: Some(1 << 20),
            rcv_buf: Some(2 << 20),
            initial_cwnd: Some(20),
            header_timeout: Some(Duration::from_secs(3)),
            keepalive_timeout: Some(Duration::from_secs(4)),
            ..xdp_args()
        };
        let x = xdp(&args, &file).expect("ok");
        assert_eq!(
            x.tcp,
            TcpTuning {
                congestion: CongestionAlgorithm::Bbr,
                snd_buf: 1 << 20,
                rcv_buf: 2 << 20,
                initial_cwnd: 20,
            }
        );
        assert_eq!(x.http.header_read_timeout, Duration::from_secs(3));
        assert_eq!(x.http.keep_alive_timeout, Duration::from_secs(4));
        // A flag overrides one key; the file's other keys stay.
        let one = ServeArgs {
            snd_buf: Some(1 << 20),
            ..xdp_args()
        };
        let x = xdp(&one, &file).expect("ok");
        assert_eq!(x.tcp.snd_buf, 1 << 20);
        assert_eq!(x.tcp.rcv_buf, 65536);
        assert_eq!(x.tcp.congestion, CongestionAlgorithm::NewReno);
        assert_eq!(x.http.keep_alive_timeout, Duration::from_secs(1));
    }

    #[test]
    fn tuning_bounds_are_inclusive() {
        let args = ServeArgs {
            snd_buf: Some(MIN_TCP_BUF),
            rcv_buf: Some(MAX_TCP_BUF),
            initial_cwnd: Some(1),
            header_timeout: Some(MIN_HTTP_TIMEOUT),
            keepalive_timeout: Some(MAX_HTTP_TIMEOUT),
            ..xdp_args()
        };
        assert!(xdp(&args, &FileConfig::default()).is_ok());
        let args = ServeArgs {
            snd_buf: Some(MAX_TCP_BUF),
            rcv_buf: Some(MIN_TCP_BUF),
            initial_cwnd: Some(MAX_INITIAL_CWND),
            ..xdp_args()
        };
        assert!(xdp(&args, &FileConfig::default()).is_ok());
    }

    #[test]
    fn out_of_range_tuning_explains_itself() {
        let cases: [(ServeArgs, &str); 10] = [
            (
                ServeArgs {
                    snd_buf: Some(MIN_TCP_BUF - 1),
                    ..xdp_args()
                },
                "--snd-buf 4095: use 4096..=1073741824 bytes",
            ),
            (
                ServeArgs {
                    snd_buf: Some(MAX_TCP_BUF + 1),
                    ..xdp_args()
                },
                "--snd-buf 1073741825: use",
            ),
            (
                ServeArgs {
                    rcv_buf: Some(0),
                    ..xdp_args()
                },
                "--rcv-buf 0: use 4096..=1073741824 bytes",
            ),
            (
                ServeArgs {
                    rcv_buf: Some(MAX_TCP_BUF + 1),
                    ..xdp_args()
                },
                "RFC 7323",
            ),
            (
                ServeArgs {
                    initial_cwnd: Some(0),
                    ..xdp_args()
                },
                "--initial-cwnd 0: use 1..=1000 segments",
            ),
            (
                ServeArgs {
                    initial_cwnd: Some(1001),
                    ..xdp_args()
                },
                "--initial-cwnd 1001: use 1..=1000 segments",
            ),
            (
                ServeArgs {
                    header_timeout: Some(Duration::ZERO),
                    ..xdp_args()
                },
                "--header-timeout 0ns: use 100ms..=3600s",
            ),
            (
                ServeArgs {
                    header_timeout: Some(Duration::from_secs(3601)),
                    ..xdp_args()
                },
                "--header-timeout 3601s: use 100ms..=3600s",
            ),
            (
                ServeArgs {
                    keepalive_timeout: Some(Duration::from_millis(99)),
                    ..xdp_args()
                },
                "--keepalive-timeout 99ms: use 100ms..=3600s",
            ),
            (
                ServeArgs {
                    keepalive_timeout: Some(Duration::from_secs(7200)),
                    kernel: true,
                    iface: None,
                    addr: None,
                    listen: Some("127.0.0.1:8080".parse().expect("addr")),
                    ..ServeArgs::default()
                },
                "--keepalive-timeout 7200s: use",
            ),
        ];
        for (args, want) in cases {
            let e = ServeSettings::merge(&args, &FileConfig::default()).unwrap_err();
            assert!(e.to_string().contains(want), "{e}");
        }
        // The same checks apply to values from the file.
        let e = ServeSettings::merge(&xdp_args(), &parse("[tcp]\nsnd-buf = \"1K\"\n")).unwrap_err();
        assert!(e.to_string().contains("--snd-buf 1024: use"), "{e}");
        let e = ServeSettings::merge(&xdp_args(), &parse("[http]\nkeepalive-timeout = 0\n"))
            .unwrap_err();
        assert!(e.to_string().contains("--keepalive-timeout 0ns"), "{e}");
    }

    #[test]
    fn bad_tuning_in_the_file_is_a_parse_error() {
        for (text, want) in [
            ("[tcp]\ncongestion = \"vegas\"\n", "vegas"),
            ("[tcp]\ncongestion = 1\n", "string"),
            ("[tcp]\nsnd-buf = \"4T\"\n", "unknown unit"),
            ("[tcp]\nsnd-buf = -1\n", "not a byte count"),
            ("[tcp]\nrcv-buf = true\n", "byte count"),
            ("[tcp]\ninitial-cwnd = -1\n", "initial-cwnd"),
            ("[tcp]\ncwnd = 10\n", "cwnd"),
            ("[http]\nheader-timeout = \"soon\"\n", "not a duration"),
            ("[http]\nkeepalive-timeout = -5\n", "not a duration"),
            ("[http]\nbody-timeout = \"1s\"\n", "body-timeout"),
        ] {
            let e = FileConfig::parse(text, Path::new("t.toml")).unwrap_err();
            assert!(matches!(e, ConfigError::Parse { .. }), "{text}: {e}");
            assert!(e.to_string().contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn tcp_tuning_is_refused_with_kernel_sockets() {
        let kernel = ServeArgs {
            kernel: true,
            listen: Some("127.0.0.1:8080".parse().expect("addr")),
            ..ServeArgs::default()
        };
        let ServeSettings::Kernel(k) = ServeSettings::merge(
            &ServeArgs {
                header_timeout: Some(Duration::from_secs(2)),
                ..kernel.clone()
            },
            &parse("[http]\nkeepalive-timeout = \"3s\"\n"),
        )
        .expect("ok") else {
            panic!("kernel expected")
        };
        assert_eq!(k.http.header_read_timeout, Duration::from_secs(2));
        assert_eq!(k.http.keep_alive_timeout, Duration::from_secs(3));
        let e = ServeSettings::merge(
            &ServeArgs {
                congestion: Some(CongestionAlgorithm::Bbr),
                ..kernel.clone()
            },
            &FileConfig::default(),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("--congestion tunes the userspace TCP"),
            "{e}"
        );
        for (text, flag) in [
            ("snd-buf = 65536", "--snd-buf"),
            ("rcv-buf = 65536", "--rcv-buf"),
            ("initial-cwnd = 4", "--initial-cwnd"),
        ] {
            let file = parse(&format!("[tcp]\n{text}\n"));
            let e = ServeSettings::merge(&kernel, &file).unwrap_err();
            assert!(e.to_string().contains(flag), "{e}");
            assert!(e.to_string().contains("drop --kernel"), "{e}");
        }
    }
}
