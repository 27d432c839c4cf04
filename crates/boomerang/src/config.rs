//! Serve settings: the flags of `boomerang serve`, optionally read from a TOML file
//! (`--config FILE`, same names as the flags, flags win), checked and resolved into
//! [`ServeSettings`] with errors that say what to change.
//!
//! Each setting has one source, the config type of the crate that owns it, which holds its
//! default, range, check and doc: the `[http]` table is `boomerang_http::ServerConfig`, the
//! `[tcp]` table `boomerang_stack::TcpConfig` and the `[limits]` table
//! `boomerang_stack::Limits`. This module only layers the flags over the file
//! (`config/layers.rs`: flags and file become one TOML table, read once into those types)
//! and checks what belongs to the command itself (interface, addresses, modes).

mod layers;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use boomerang_http::tls::{CertError, TlsConfig};
use boomerang_http::ServerConfig;
use boomerang_stack::{Limits, TcpConfig};
use boomerang_wire::Ipv4Cidr;
use serde::Deserialize;

use crate::cli::{BindMode, ServeArgs, XdpMode};

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
    /// A required setting is missing, out of range, or the combination makes no sense.
    #[error("{0}")]
    Invalid(String),
}

/// Everything `serve` can be told, flags and file layered: the command's own settings
/// (each named like its flag) and the tables of the crates that own the rest.
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
/// [tcp]                   # AF_XDP only: boomerang_stack::TcpConfig
/// congestion = "cubic"    # cubic, newreno or bbr
/// snd-buf = "4M"          # bytes, or a string with K/M/G
/// rcv-buf = 262144
/// initial-cwnd = 10
///
/// [http]                  # boomerang_http::ServerConfig
/// header-timeout = "10s"
/// keepalive-timeout = "15s"
/// max-connections-per-worker = 16384
///
/// [limits]                # AF_XDP only: boomerang_stack::Limits
/// max-connections = 262144
///
/// [tls]                   # HTTPS: boomerang_http::tls::TlsConfig
/// cert = ["/etc/boomerang/a.pem", "/etc/boomerang/b.pem"]   # or one string
/// key = ["/etc/boomerang/a.key", "/etc/boomerang/b.key"]
/// handshake-timeout = "10s"
/// redirect-port = 80      # plain HTTP there, every request redirected to HTTPS
/// ```
///
/// The keys of the tables may also be spelled with underscores (`snd_buf`).
#[derive(Deserialize, Debug, Default, Clone, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Layered {
    iface: Option<String>,
    addr: Option<String>,
    gateway: Option<Ipv4Addr>,
    port: Option<u16>,
    queues: Option<usize>,
    root: Option<PathBuf>,
    xdp_mode: Option<XdpMode>,
    bind_mode: Option<BindMode>,
    tx_budget: Option<u32>,
    multi_buffer: Option<bool>,
    checksum_offload: Option<bool>,
    pcap: Option<PathBuf>,
    kernel: Option<bool>,
    listen: Option<SocketAddr>,
    #[serde(default)]
    tcp: TcpConfig,
    #[serde(default)]
    http: ServerConfig,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    tls: TlsConfig,
}

/// The HTTP → HTTPS redirect port must not be the HTTPS port.
fn redirect_port_differs(redirect: Option<u16>, port: u16) -> Result<(), ConfigError> {
    if redirect == Some(port) {
        return Err(ConfigError::Invalid(format!(
            "--tls-redirect-port {port} is the HTTPS port itself: pick another (usually 80)"
        )));
    }
    Ok(())
}

/// The TOML configuration file, checked: every key is optional and named like its flag;
/// the tables `[tcp]`, `[http]` and `[limits]` are those of the owning crates (see the
/// module doc and docs/operations.md).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FileConfig {
    /// The file's table, keys of the sub-tables in kebab-case.
    table: toml::Table,
}

impl FileConfig {
    /// Parses TOML text (`path` only labels errors). Unknown keys, wrong types and bad units
    /// are errors here, with the line they are on.
    pub fn parse(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
        let parse_error = |e: toml::de::Error| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        toml::from_str::<Layered>(text).map_err(parse_error)?;
        let table = toml::from_str::<toml::Table>(text).map_err(parse_error)?;
        Ok(FileConfig {
            table: layers::kebab_case_tables(table),
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

/// Parses the stack's own address with its prefix length, `A.B.C.D/N` (`--addr`): a unicast
/// host address and a prefix of 1..=32, with a message that shows the expected form.
pub fn parse_host_cidr(s: &str) -> Result<Ipv4Cidr, ConfigError> {
    let bad = || {
        ConfigError::Invalid(format!(
            "`{s}` is not an IPv4 address with prefix; write it like 198.19.2.1/24"
        ))
    };
    let (a, p) = s.split_once('/').ok_or_else(bad)?;
    let addr: Ipv4Addr = a.trim().parse().map_err(|_| bad())?;
    let prefix: u8 = p.trim().parse().map_err(|_| bad())?;
    if prefix == 0 {
        return Err(bad());
    }
    let cidr = Ipv4Cidr::new(addr, prefix).map_err(|_| bad())?;
    if addr.is_unspecified() || addr.is_broadcast() || addr.is_multicast() {
        return Err(ConfigError::Invalid(format!(
            "{addr} cannot be a host address; pick a unicast address"
        )));
    }
    Ok(cidr)
}

/// `serve --kernel`: the HTTP server on kernel sockets.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelSettings {
    /// Listening address.
    pub listen: SocketAddr,
    /// Static file root.
    pub root: Option<PathBuf>,
    /// The HTTP server's settings (`[http]`), checked; `root` is set from `root` above.
    pub http: ServerConfig,
}

/// `serve --iface …`: the HTTP server on the userspace stack over AF_XDP.
#[derive(Debug, Clone, PartialEq)]
pub struct XdpSettings {
    /// The interface taken over.
    pub iface: String,
    /// The stack's address and prefix.
    pub addr: Ipv4Cidr,
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
    /// The userspace stack's TCP settings (`[tcp]`), checked.
    pub tcp: TcpConfig,
    /// The userspace stack's link- and network-layer limits (`[limits]`), checked.
    pub limits: Limits,
    /// The HTTP server's settings (`[http]`), checked; `root` is set from `root` above.
    pub http: ServerConfig,
}

/// What `serve` runs, after merging flags and file and checking them.
// Built once at startup and never moved around: the size of the AF_XDP variant (it carries
// the stack's and the HTTP server's whole configuration) costs nothing.
#[allow(clippy::large_enum_variant)]
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
        let (table, l) = layers::flags_over_file(args, &file.table)?;
        let root = l.root.clone();
        if let Some(r) = &root {
            if !r.is_dir() {
                return Err(ConfigError::Invalid(format!(
                    "--root {}: no such directory; create it or point --root at the directory to serve",
                    r.display()
                )));
            }
        }
        l.tls.validate().map_err(|e| match e {
            CertError::Range(r) => layers::out_of_range("tls", &r),
            other => ConfigError::Invalid(other.to_string()),
        })?;
        let tls = l.tls.enabled().then(|| l.tls.clone());
        let http = ServerConfig {
            root: root.clone(),
            tls,
            ..l.http
        };
        http.validate().map_err(|e| layers::http_error(&e))?;
        let kernel = l.kernel.unwrap_or(false);
        if kernel {
            let listen = l.listen.ok_or_else(|| {
                ConfigError::Invalid(
                    "serve --kernel needs --listen ADDR:PORT, e.g. --listen 0.0.0.0:8080".into(),
                )
            })?;
            for (set, name) in [
                (l.iface.is_some(), "--iface"),
                (l.addr.is_some(), "--addr"),
                (l.pcap.is_some(), "--pcap"),
                (l.queues.is_some(), "--queues"),
            ] {
                if set {
                    return Err(ConfigError::Invalid(format!(
                        "{name} belongs to the AF_XDP server; drop it, or drop --kernel"
                    )));
                }
            }
            if let Some(name) = layers::first_key(&table, "tcp") {
                return Err(ConfigError::Invalid(format!(
                    "{name} tunes the userspace TCP of the AF_XDP server; with --kernel the \
                     kernel's TCP serves (sysctl net.ipv4.tcp_*): drop it, or drop --kernel"
                )));
            }
            if let Some(name) = layers::first_key(&table, "limits") {
                return Err(ConfigError::Invalid(format!(
                    "{name} limits the userspace stack of the AF_XDP server; with --kernel the \
                     kernel's stack serves (sysctl net.*): drop it, or drop --kernel"
                )));
            }
            redirect_port_differs(l.tls.redirect_port, listen.port())?;
            return Ok(ServeSettings::Kernel(KernelSettings { listen, root, http }));
        }
        if l.listen.is_some() {
            return Err(ConfigError::Invalid(
                "--listen is for kernel sockets: add --kernel, or use --iface/--addr/--port for AF_XDP"
                    .into(),
            ));
        }
        if http.workers != 0 {
            return Err(ConfigError::Invalid(
                "[http] workers sets the threads of the kernel-socket server (--kernel); the \
                 AF_XDP server runs one shard per queue (--queues): drop it"
                    .into(),
            ));
        }
        let need = "serve needs --iface IF and --addr A.B.C.D/N (the userspace stack takes over \
                    that interface), or --kernel --listen ADDR:PORT to serve on kernel sockets";
        let iface = l.iface.ok_or_else(|| ConfigError::Invalid(need.into()))?;
        let addr = parse_host_cidr(
            l.addr
                .as_deref()
                .ok_or_else(|| ConfigError::Invalid(need.into()))?,
        )?;
        let gateway = l.gateway;
        if let Some(g) = gateway {
            if !addr.contains(g) || g == addr.address {
                return Err(ConfigError::Invalid(format!(
                    "gateway {g} is not a neighbour inside {addr}; pick an address on that link"
                )));
            }
        }
        let queues = l.queues.unwrap_or(DEFAULT_QUEUES);
        if queues == 0 || queues > MAX_QUEUES {
            return Err(ConfigError::Invalid(format!(
                "--queues {queues}: use 1..={MAX_QUEUES} (at most the NIC's combined channels, see `ethtool -l {iface}`)"
            )));
        }
        let port = l.port.unwrap_or(DEFAULT_PORT);
        if port == 0 {
            return Err(ConfigError::Invalid(
                "--port 0: pick a port 1..=65535".into(),
            ));
        }
        redirect_port_differs(l.tls.redirect_port, port)?;
        let mut tcp = l.tcp;
        tcp.validate()
            .map_err(|e| layers::out_of_range("tcp", &e))?;
        tcp.ooo_bytes_cover_rcv_buf();
        l.limits
            .validate()
            .map_err(|e| layers::out_of_range("limits", &e))?;
        let tx_budget = l.tx_budget;
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
            xdp_mode: l.xdp_mode.unwrap_or_default(),
            bind_mode: l.bind_mode.unwrap_or_default(),
            tx_budget,
            multi_buffer: l.multi_buffer.unwrap_or(true),
            checksum_offload: l.checksum_offload.unwrap_or(false),
            pcap: l.pcap,
            tcp,
            limits: l.limits,
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
            multi-buffer = false
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
            multi_buffer: Some(false),
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
        let a = parse_host_cidr("198.19.2.1/24").expect("ok");
        assert!(a.contains(Ipv4Addr::new(198, 19, 2, 254)));
        assert!(!a.contains(Ipv4Addr::new(198, 19, 3, 1)));
        for bad in [
            "198.19.2.1",
            "198.19.2.1/33",
            "x/24",
            "0.0.0.0/8",
            "198.19.2.1/0",
        ] {
            assert!(parse_host_cidr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tls_from_the_file_or_the_flags_which_win() {
        let file = parse(
            r#"
            kernel = true
            listen = "127.0.0.1:8443"
            [tls]
            cert = ["a.pem", "b.pem"]
            key = ["a.key", "b.key"]
            handshake_timeout = "3s"
            "#,
        );
        let tls_of = |s: ServeSettings| match s {
            ServeSettings::Kernel(k) => k.http.tls,
            ServeSettings::Xdp(x) => x.http.tls,
        };
        let tls = tls_of(ServeSettings::merge(&ServeArgs::default(), &file).expect("ok"))
            .expect("tls on");
        assert_eq!(tls.cert, [PathBuf::from("a.pem"), PathBuf::from("b.pem")]);
        assert_eq!(tls.key, [PathBuf::from("a.key"), PathBuf::from("b.key")]);
        assert_eq!(tls.handshake_timeout, std::time::Duration::from_secs(3));
        let flags = ServeArgs {
            tls_cert: vec!["c.pem".into()],
            tls_key: vec!["c.key".into()],
            ..Default::default()
        };
        let tls = tls_of(ServeSettings::merge(&flags, &file).expect("ok")).expect("tls on");
        assert_eq!(tls.cert, [PathBuf::from("c.pem")]);
        assert_eq!(tls.key, [PathBuf::from("c.key")]);
        let one = parse(
            "kernel = true\nlisten = \"127.0.0.1:1\"\n[tls]\ncert = \"a.pem\"\nkey = \"a.key\"",
        );
        let tls = tls_of(ServeSettings::merge(&ServeArgs::default(), &one).expect("ok"));
        assert_eq!(tls.expect("tls on").cert, [PathBuf::from("a.pem")]);
        let unpaired = ServeArgs {
            kernel: true,
            listen: Some("127.0.0.1:1".parse().expect("addr")),
            tls_cert: vec!["c.pem".into()],
            ..Default::default()
        };
        let e = ServeSettings::merge(&unpaired, &FileConfig::default()).unwrap_err();
        assert!(
            e.to_string().contains("one --tls-key per --tls-cert"),
            "{e}"
        );
        let slow =
            parse("kernel = true\nlisten = \"127.0.0.1:1\"\n[tls]\nhandshake-timeout = \"2h\"");
        let e = ServeSettings::merge(&ServeArgs::default(), &slow).unwrap_err();
        assert_eq!(
            e.to_string(),
            "[tls] handshake-timeout 7200s: use 100ms..=3600s"
        );
        let plain = parse("kernel = true\nlisten = \"127.0.0.1:1\"");
        assert!(tls_of(ServeSettings::merge(&ServeArgs::default(), &plain).expect("ok")).is_none());
    }

    #[test]
    fn the_redirect_port_needs_https_and_a_port_of_its_own() {
        let tls = "[tls]\ncert = \"a.pem\"\nkey = \"a.key\"\n";
        let file = parse(&format!(
            "kernel = true\nlisten = \"127.0.0.1:8443\"\n{tls}redirect-port = 8080\n"
        ));
        match ServeSettings::merge(&ServeArgs::default(), &file).expect("ok") {
            ServeSettings::Kernel(k) => {
                assert_eq!(k.http.tls.expect("tls on").redirect_port, Some(8080));
            }
            ServeSettings::Xdp(_) => panic!("kernel settings expected"),
        }
        let flag = ServeArgs {
            tls_redirect_port: Some(9090),
            ..Default::default()
        };
        match ServeSettings::merge(&flag, &file).expect("ok") {
            ServeSettings::Kernel(k) => {
                assert_eq!(k.http.tls.expect("tls on").redirect_port, Some(9090));
            }
            ServeSettings::Xdp(_) => panic!("kernel settings expected"),
        }
        for (toml, want) in [
            (
                "kernel = true\nlisten = \"127.0.0.1:8443\"\n[tls]\nredirect-port = 80\n".to_string(),
                "needs a certificate",
            ),
            (
                format!("kernel = true\nlisten = \"127.0.0.1:8443\"\n{tls}redirect-port = 8443\n"),
                "is the HTTPS port itself",
            ),
            (
                format!("iface = \"x\"\naddr = \"198.19.2.1/24\"\nport = 443\n{tls}redirect-port = 443\n"),
                "is the HTTPS port itself",
            ),
            (
                format!("kernel = true\nlisten = \"127.0.0.1:8443\"\n{tls}redirect-port = 0\n"),
                "redirect-port 0",
            ),
        ] {
            let e = ServeSettings::merge(&ServeArgs::default(), &parse(&toml)).unwrap_err();
            assert!(e.to_string().contains(want), "{toml}: {e}");
        }
    }
}
