//! Serve settings: the flags of `boomerang serve`, optionally read from a TOML file
//! (`--config FILE`, same names as the flags, flags win), checked and resolved into
//! [`ServeSettings`] with errors that say what to change.
//!
//! The TCP tuning (`[tcp]`, AF_XDP only) and HTTP timeouts (`[http]`) are tables of their
//! own in the file; every value is range-checked here, so the stack and the HTTP server only
//! ever see values they can work with.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use boomerang_http::ServerConfig;
use boomerang_stack::tcp::config::{
    CongestionAlgorithm, DEFAULT_INITIAL_CWND_SEGMENTS, DEFAULT_RCV_BUF, DEFAULT_SND_BUF,
};
use boomerang_stack::TcpConfig;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::cli::{parse_bytes, parse_duration, BindMode, ServeArgs, XdpMode};

/// Port served when neither `--port` nor the file sets one.
pub const DEFAULT_PORT: u16 = 8080;
/// Queues (shard threads) used when neither `--queues` nor the file sets them.
pub const DEFAULT_QUEUES: usize = 1;
/// Upper bound for `--queues` (one pinned thread per queue).
pub const MAX_QUEUES: usize = 64;
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

/// Why the serve settings are unusable; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML file is not valid (syntax, unknown key, wrong type).
    #[error("config file {path} is invalid: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What toml said.
        message: String,
    },
    /// A required setting is missing or the combination makes no sense.
    #[error("{0}")]
    Invalid(String),
}

/// The TOML configuration file: every field is optional and named like its flag.
///
/// ```toml
/// iface = "eth1"
/// addr = "198.19.2.1/24"
/// gateway = "198.19.2.254"
/// port = 8080
/// queues = 2
/// root = "/srv/www"
/// xdp-mode = "auto"
/// bind-mode = "auto"
/// pcap = "/tmp/boomerang.pcap"
/// # or: kernel = true, listen = "0.0.0.0:8080"
///
/// [tcp]                   # AF_XDP only
/// congestion = "cubic"    # cubic, newreno or bbr
/// snd-buf = "4M"          # bytes, or a string with K/M/G
/// rcv-buf = 262144
/// initial-cwnd = 10
///
/// [http]
/// header-timeout = "10s"
/// keepalive-timeout = "15s"
/// ```
///
/// The keys of `[tcp]` and `[http]` may also be spelled with underscores (`snd_buf`).
#[derive(Deserialize, Debug, Default, Clone, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    /// See `--iface`.
    pub iface: Option<String>,
    /// See `--addr`.
    pub addr: Option<String>,
    /// See `--gateway`.
    pub gateway: Option<Ipv4Addr>,
    /// See `--port`.
    pub port: Option<u16>,
    /// See `--queues`.
    pub queues: Option<usize>,
    /// See `--root`.
    pub root: Option<PathBuf>,
    /// See `--xdp-mode`.
    pub xdp_mode: Option<XdpMode>,
    /// See `--bind-mode`.
    pub bind_mode: Option<BindMode>,
    /// See `--pcap`.
    pub pcap: Option<PathBuf>,
    /// See `--kernel`.
    pub kernel: Option<bool>,
    /// See `--listen`.
    pub listen: Option<SocketAddr>,
    /// The `[tcp]` table.
    #[serde(default)]
    pub tcp: TcpFileConfig,
    /// The `[http]` table.
    #[serde(default)]
    pub http: HttpFileConfig,
}

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

impl FileConfig {
    /// Parses TOML text (`path` only labels errors).
    pub fn parse(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Reads and parses a TOML file.
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }
}

/// An IPv4 address with its prefix length, `A.B.C.D/N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrPrefix {
    /// The address.
    pub addr: Ipv4Addr,
    /// The prefix length, 0..=32.
    pub prefix: u8,
}

impl AddrPrefix {
    /// Whether `other` is inside this prefix.
    pub fn contains(&self, other: Ipv4Addr) -> bool {
        let mask = if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        };
        u32::from(self.addr) & mask == u32::from(other) & mask
    }
}

impl FromStr for AddrPrefix {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            ConfigError::Invalid(format!(
                "`{s}` is not an IPv4 address with prefix; write it like 198.19.2.1/24"
            ))
        };
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.trim().parse().map_err(|_| bad())?;
        let prefix: u8 = p.trim().parse().map_err(|_| bad())?;
        if prefix > 32 || prefix == 0 {
            return Err(bad());
        }
        if addr.is_unspecified() || addr.is_broadcast() || addr.is_multicast() {
            return Err(ConfigError::Invalid(format!(
                "{addr} cannot be a host address; pick a unicast address"
            )));
        }
        Ok(AddrPrefix { addr, prefix })
    }
}

impl fmt::Display for AddrPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
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
    fn merge(args: &ServeArgs, file: &TcpFileConfig) -> Result<TcpTuning, ConfigError> {
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
    fn merge(args: &ServeArgs, file: &HttpFileConfig) -> Result<HttpTimeouts, ConfigError> {
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

/// `serve --kernel`: the HTTP server on kernel sockets.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelSettings {
    /// Listening address.
    pub listen: SocketAddr,
    /// Static file root.
    pub root: Option<PathBuf>,
    /// HTTP timeouts.
    pub http: HttpTimeouts,
}

/// `serve --iface …`: the HTTP server on the userspace stack over AF_XDP.
#[derive(Debug, Clone, PartialEq)]
pub struct XdpSettings {
    /// The interface taken over.
    pub iface: String,
    /// The stack's address and prefix.
    pub addr: AddrPrefix,
    /// Next hop outside the prefix.
    pub gateway: Option<Ipv4Addr>,
    /// Listening TCP port.
    pub port: u16,
    /// Queues (= shard threads).
    pub queues: usize,
    /// Static file root.
    pub root: Option<PathBuf>,
    /// XDP attach mode.
    pub xdp_mode: XdpMode,
    /// AF_XDP bind mode.
    pub bind_mode: BindMode,
    /// Capture file.
    pub pcap: Option<PathBuf>,
    /// The userspace stack's TCP tuning.
    pub tcp: TcpTuning,
    /// HTTP timeouts.
    pub http: HttpTimeouts,
}

/// What `serve` runs, after merging flags and file and checking them.
#[derive(Debug, Clone, PartialEq)]
pub enum ServeSettings {
    /// Kernel sockets.
    Kernel(KernelSettings),
    /// AF_XDP and the userspace stack.
    Xdp(XdpSettings),
}

impl ServeSettings {
    /// Merges `args` over the file named by `args.config` (if any) and checks the result.
    pub fn resolve(args: &ServeArgs) -> Result<ServeSettings, ConfigError> {
        let file = match &args.config {
            Some(p) => FileConfig::load(p)?,
            None => FileConfig::default(),
        };
        Self::merge(args, &file)
    }

    /// Merges flags over an already parsed file and checks the result.
    pub fn merge(args: &ServeArgs, file: &FileConfig) -> Result<ServeSettings, ConfigError> {
        let root = args.root.clone().or_else(|| file.root.clone());
        if let Some(r) = &root {
            if !r.is_dir() {
                return Err(ConfigError::Invalid(format!(
                    "--root {}: no such directory; create it or point --root at the directory to serve",
                    r.display()
                )));
            }
        }
        let http = HttpTimeouts::merge(args, &file.http)?;
        let kernel = args.kernel || file.kernel.unwrap_or(false);
        if kernel {
            let listen = args.listen.or(file.listen).ok_or_else(|| {
                ConfigError::Invalid(
                    "serve --kernel needs --listen ADDR:PORT, e.g. --listen 0.0.0.0:8080".into(),
                )
            })?;
            for (set, name) in [
                (args.iface.is_some() || file.iface.is_some(), "--iface"),
                (args.addr.is_some() || file.addr.is_some(), "--addr"),
                (args.pcap.is_some() || file.pcap.is_some(), "--pcap"),
                (args.queues.is_some() || file.queues.is_some(), "--queues"),
            ] {
                if set {
                    return Err(ConfigError::Invalid(format!(
                        "{name} belongs to the AF_XDP server; drop it, or drop --kernel"
                    )));
                }
            }
            let t = &file.tcp;
            for (set, name) in [
                (
                    args.congestion.is_some() || t.congestion.is_some(),
                    "--congestion",
                ),
                (args.snd_buf.is_some() || t.snd_buf.is_some(), "--snd-buf"),
                (args.rcv_buf.is_some() || t.rcv_buf.is_some(), "--rcv-buf"),
                (
                    args.initial_cwnd.is_some() || t.initial_cwnd.is_some(),
                    "--initial-cwnd",
                ),
            ] {
                if set {
                    return Err(ConfigError::Invalid(format!(
                        "{name} tunes the userspace TCP of the AF_XDP server; with --kernel the \
                         kernel's TCP serves (sysctl net.ipv4.tcp_*): drop it, or drop --kernel"
                    )));
                }
            }
            return Ok(ServeSettings::Kernel(KernelSettings { listen, root, http }));
        }
        if args.listen.is_some() || file.listen.is_some() {
            return Err(ConfigError::Invalid(
                "--listen is for kernel sockets: add --kernel, or use --iface/--addr/--port for AF_XDP"
                    .into(),
            ));
        }
        let need = "serve needs --iface IF and --addr A.B.C.D/N (the userspace stack takes over \
                    that interface), or --kernel --listen ADDR:PORT to serve on kernel sockets";
        let iface = args
            .iface
            .clone()
            .or_else(|| file.iface.clone())
            .ok_or_else(|| ConfigError::Invalid(need.into()))?;
        let addr: AddrPrefix = args
            .addr
            .as_deref()
            .or(file.addr.as_deref())
            .ok_or_else(|| ConfigError::Invalid(need.into()))?
            .parse()?;
        let gateway = args.gateway.or(file.gateway);
        if let Some(g) = gateway {
            if !addr.contains(g) || g == addr.addr {
                return Err(ConfigError::Invalid(format!(
                    "gateway {g} is not a neighbour inside {addr}; pick an address on that link"
                )));
            }
        }
        let queues = args.queues.or(file.queues).unwrap_or(DEFAULT_QUEUES);
        if queues == 0 || queues > MAX_QUEUES {
            return Err(ConfigError::Invalid(format!(
                "--queues {queues}: use 1..={MAX_QUEUES} (at most the NIC's combined channels, see `ethtool -l {iface}`)"
            )));
        }
        let port = args.port.or(file.port).unwrap_or(DEFAULT_PORT);
        if port == 0 {
            return Err(ConfigError::Invalid(
                "--port 0: pick a port 1..=65535".into(),
            ));
        }
        let tcp = TcpTuning::merge(args, &file.tcp)?;
        Ok(ServeSettings::Xdp(XdpSettings {
            iface,
            addr,
            gateway,
            port,
            queues,
            root,
            xdp_mode: args.xdp_mode.or(file.xdp_mode).unwrap_or_default(),
            bind_mode: args.bind_mode.or(file.bind_mode).unwrap_or_default(),
            pcap: args.pcap.clone().or_else(|| file.pcap.clone()),
            tcp,
            http,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> FileConfig {
        FileConfig::parse(text, Path::new("t.toml")).expect("valid")
    }

    #[test]
    fn file_equals_flags() {
        let file = parse(
            r#"
            iface = "veth0"
            addr = "198.19.2.1/24"
            gateway = "198.19.2.254"
            port = 80
            queues = 2
            xdp-mode = "generic"
            bind-mode = "copy"
            pcap = "/tmp/x.pcap"
            "#,
        );
        let from_file = ServeSettings::merge(&ServeArgs::default(), &file).expect("ok");
        let flags = ServeArgs {
            iface: Some("veth0".into()),
            addr: Some("198.19.2.1/24".into()),
            gateway: Some(Ipv4Addr::new(198, 19, 2, 254)),
            port: Some(80),
            queues: Some(2),
            xdp_mode: Some(XdpMode::Generic),
            bind_mode: Some(BindMode::Copy),
            pcap: Some("/tmp/x.pcap".into()),
            ..ServeArgs::default()
        };
        let from_flags = ServeSettings::merge(&flags, &FileConfig::default()).expect("ok");
        assert_eq!(from_file, from_flags);
    }

    #[test]
    fn flags_win_over_file() {
        let file = parse("kernel = true\nlisten = \"127.0.0.1:1\"\n");
        let args = ServeArgs {
            listen: Some("127.0.0.1:2".parse().expect("addr")),
            ..ServeArgs::default()
        };
        let ServeSettings::Kernel(k) = ServeSettings::merge(&args, &file).expect("ok") else {
            panic!("kernel expected")
        };
        assert_eq!(k.listen.port(), 2);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_rejected() {
        assert!(FileConfig::parse("ifacee = \"x\"", Path::new("t")).is_err());
        assert!(FileConfig::parse("port = 70000", Path::new("t")).is_err());
        assert!(FileConfig::parse("xdp-mode = \"fast\"", Path::new("t")).is_err());
    }

    #[test]
    fn missing_and_inconsistent_settings_explain_themselves() {
        let e = ServeSettings::merge(&ServeArgs::default(), &FileConfig::default()).unwrap_err();
        assert!(e.to_string().contains("--iface"), "{e}");
        let k = ServeArgs {
            kernel: true,
            ..ServeArgs::default()
        };
        let e = ServeSettings::merge(&k, &FileConfig::default()).unwrap_err();
        assert!(e.to_string().contains("--listen"), "{e}");
        let g = ServeArgs {
            iface: Some("x".into()),
            addr: Some("198.19.2.1/24".into()),
            gateway: Some(Ipv4Addr::new(10, 0, 0, 1)),
            ..ServeArgs::default()
        };
        let e = ServeSettings::merge(&g, &FileConfig::default()).unwrap_err();
        assert!(e.to_string().contains("gateway"), "{e}");
        let q = ServeArgs {
            iface: Some("x".into()),
            addr: Some("198.19.2.1/24".into()),
            queues: Some(0),
            ..ServeArgs::default()
        };
        assert!(ServeSettings::merge(&q, &FileConfig::default()).is_err());
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

    #[test]
    fn addr_prefix_parses_and_contains() {
        let a: AddrPrefix = "198.19.2.1/24".parse().expect("ok");
        assert!(a.contains(Ipv4Addr::new(198, 19, 2, 254)));
        assert!(!a.contains(Ipv4Addr::new(198, 19, 3, 1)));
        for bad in [
            "198.19.2.1",
            "198.19.2.1/33",
            "x/24",
            "0.0.0.0/8",
            "198.19.2.1/0",
        ] {
            assert!(bad.parse::<AddrPrefix>().is_err(), "{bad}");
        }
    }
}
