//! Serve settings: the flags of `boomerang serve`, optionally read from a TOML file
//! (`--config FILE`, same names as the flags, flags win), checked and resolved into
//! [`ServeSettings`] with errors that say what to change.
//!
//! The TCP tuning (`[tcp]`, AF_XDP only) and HTTP timeouts (`[http]`) are tables of their
//! own in the file, merged and checked in `config/tuning.rs`.

mod tuning;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;

use crate::cli::{BindMode, ServeArgs, XdpMode};
pub use tuning::{
    HttpFileConfig, HttpTimeouts, TcpFileConfig, TcpTuning, MAX_HTTP_TIMEOUT, MAX_INITIAL_CWND,
    MAX_TCP_BUF, MIN_HTTP_TIMEOUT, MIN_TCP_BUF,
};

/// Port served when neither `--port` nor the file sets one.
pub const DEFAULT_PORT: u16 = 8080;
/// Queues (shard threads) used when neither `--queues` nor the file sets them.
pub const DEFAULT_QUEUES: usize = 1;
/// Upper bound for `--queues` (one pinned thread per queue).
pub const MAX_QUEUES: usize = 64;

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
/// tx-budget = 32          # frames per copy-mode sendto (Linux 6.17+ for more)
/// multi-buffer = false    # frames over one chunk when the MTU needs it
/// checksum-offload = false  # TCP checksums completed by the kernel/NIC (Linux 6.8+)
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
    /// See `--tx-budget`.
    pub tx_budget: Option<u32>,
    /// See `--multi-buffer`.
    pub multi_buffer: Option<bool>,
    /// See `--checksum-offload`.
    pub checksum_offload: Option<bool>,
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
    /// Frames per copy-mode `sendto` (`None`: the kernel's 32).
    pub tx_budget: Option<u32>,
    /// Multi-buffer AF_XDP when the MTU needs it (frames over one chunk).
    pub multi_buffer: bool,
    /// TCP checksum offload through AF_XDP TX metadata.
    pub checksum_offload: bool,
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
        let tx_budget = args.tx_budget.or(file.tx_budget);
        if let Some(b) = tx_budget {
            if !(32..=boomerang_nic::xsk::DEFAULT_RING_SIZE).contains(&b) {
                return Err(ConfigError::Invalid(format!(
                    "--tx-budget {b}: use 32..={} (32 is the kernel's default)",
                    boomerang_nic::xsk::DEFAULT_RING_SIZE
                )));
            }
        }
        Ok(ServeSettings::Xdp(XdpSettings {
            iface,
            addr,
            gateway,
            port,
            queues,
            root,
            xdp_mode: args.xdp_mode.or(file.xdp_mode).unwrap_or_default(),
            bind_mode: args.bind_mode.or(file.bind_mode).unwrap_or_default(),
            tx_budget,
            multi_buffer: args.multi_buffer || file.multi_buffer.unwrap_or(false),
            checksum_offload: args.checksum_offload || file.checksum_offload.unwrap_or(false),
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
            tx-budget = 64
            multi-buffer = true
            checksum-offload = true
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
            tx_budget: Some(64),
            multi_buffer: true,
            checksum_offload: true,
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
