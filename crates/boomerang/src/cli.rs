//! The command line (`serve`, `demo`, `load`), parsed with clap's derive API.
//!
//! Every `serve` flag has a key of the same name in the TOML file given by `--config`
//! (see [`crate::config`]; the TCP and HTTP flags live in its `[tcp]` and `[http]` tables:
//! each field's `serde` name is its place in the file, e.g. `tcp.snd-buf`); a flag on the
//! command line wins over the file. The flags' docs give the common settings; the range and
//! the full doc of each are on the owning crate's config type (`ServerConfig`, `TcpConfig`).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

pub use boomerang_settings::{parse_bytes, parse_duration};
use boomerang_stack::tcp::config::CongestionAlgorithm;
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};

/// boomerang: a web server that brings its own network stack (AF_XDP + userspace IPv4/TCP).
#[derive(Parser, Debug)]
#[command(name = "boomerang", version, about, propagate_version = true)]
pub struct Cli {
    /// Log filter (tracing-subscriber EnvFilter syntax, e.g. `debug` or `boomerang=trace`);
    /// default: `RUST_LOG`, else `info`.
    #[arg(long, global = true, value_name = "FILTER")]
    pub log: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
// Parsed once at startup and never moved around: the size of `Serve` costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve HTTP on an interface through AF_XDP and the userspace stack, or with `--kernel`
    /// on kernel sockets.
    Serve(ServeArgs),
    /// Build private network namespaces, serve, load, print results, tear everything down.
    Demo(DemoArgs),
    /// HTTP/1.1 load generator on kernel sockets (keep-alive, or one request per connection).
    Load(LoadArgs),
}

/// How the XDP program is attached (`auto` tries native, then generic).
#[derive(ValueEnum, Deserialize, Serialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum XdpMode {
    /// Native (driver) mode, falling back to generic (SKB) mode.
    #[default]
    Auto,
    /// Native (driver) mode only.
    Native,
    /// Generic (SKB) mode only.
    Generic,
}

/// How the AF_XDP socket binds (`auto` tries zero-copy, then copy).
#[derive(ValueEnum, Deserialize, Serialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum BindMode {
    /// Zero-copy, falling back to copy mode.
    #[default]
    Auto,
    /// Copy mode only.
    Copy,
    /// Zero-copy only (fails on drivers without it, e.g. veth).
    Zerocopy,
}

/// `boomerang serve …`; serialized (only the flags given), it is the table of the TOML file
/// the flags stand for, laid over the file (`config/layers.rs`).
#[derive(Args, Serialize, Debug, Default, Clone)]
#[serde(rename_all = "kebab-case")]
pub struct ServeArgs {
    /// Network interface the userspace stack takes over (through AF_XDP).
    #[arg(long, value_name = "IF")]
    pub iface: Option<String>,
    /// The stack's own IPv4 address and prefix, e.g. 198.19.2.1/24.
    #[arg(long, value_name = "A.B.C.D/N")]
    pub addr: Option<String>,
    /// Next hop for destinations outside the prefix.
    #[arg(long, value_name = "A.B.C.D")]
    pub gateway: Option<Ipv4Addr>,
    /// TCP port to listen on [default: 8080].
    #[arg(long)]
    pub port: Option<u16>,
    /// Number of RX/TX queues (one shard thread each) [default: 1].
    #[arg(long, value_name = "N")]
    pub queues: Option<usize>,
    /// Directory served for GET/HEAD of paths other than the built-in routes.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// XDP attach mode [default: auto].
    #[arg(long, value_enum)]
    pub xdp_mode: Option<XdpMode>,
    /// AF_XDP bind mode [default: auto].
    #[arg(long, value_enum)]
    pub bind_mode: Option<BindMode>,
    /// Frames one copy-mode AF_XDP `sendto` may transmit (Linux 6.17+; 32 is the kernel's
    /// default) [default: 32].
    #[arg(long, value_name = "FRAMES")]
    pub tx_budget: Option<u32>,
    /// Use multi-buffer AF_XDP (Linux 6.6+) when the interface's MTU exceeds one UMEM chunk,
    /// so that the stack uses the whole MTU (jumbo frames); `--multi-buffer=false` caps the
    /// stack's MTU at 3,826 bytes instead [default: true].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multi_buffer: Option<bool>,
    /// Let the kernel (copy mode) or the NIC (zero-copy) complete TCP checksums, through
    /// AF_XDP TX metadata (Linux 6.8+; refused → software, logged).
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub checksum_offload: bool,
    /// Write every frame the stack receives and sends to this pcap file (tshark reads it).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Read settings from a TOML file (same names as the flags; flags win).
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Serve on kernel sockets (mio) instead of AF_XDP; needs `--listen`.
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub kernel: bool,
    /// Address to listen on with `--kernel`, e.g. 0.0.0.0:8080.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
    /// Congestion control of the userspace TCP: cubic, newreno or bbr [default: cubic].
    #[arg(long, value_name = "ALGORITHM", help_heading = "TCP (AF_XDP only)")]
    #[serde(rename = "tcp.congestion")]
    pub congestion: Option<CongestionAlgorithm>,
    /// Maximum send buffer per connection, in bytes or with K/M/G (KiB/MiB/GiB)
    /// [default: 4M].
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes, help_heading = "TCP (AF_XDP only)")]
    #[serde(rename = "tcp.snd-buf")]
    pub snd_buf: Option<usize>,
    /// Maximum receive buffer (largest advertised window) per connection, in bytes or with
    /// K/M/G [default: 256K].
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes, help_heading = "TCP (AF_XDP only)")]
    #[serde(rename = "tcp.rcv-buf")]
    pub rcv_buf: Option<usize>,
    /// Initial congestion window in segments (RFC 6928) [default: 10].
    #[arg(long, value_name = "SEGMENTS", help_heading = "TCP (AF_XDP only)")]
    #[serde(rename = "tcp.initial-cwnd")]
    pub initial_cwnd: Option<u32>,
    /// Time a client may take to send a complete request head (`10s`, `500ms`)
    /// [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "HTTP")]
    #[serde(
        rename = "http.header-timeout",
        serialize_with = "boomerang_settings::opt_duration::serialize"
    )]
    pub header_timeout: Option<Duration>,
    /// Time an idle keep-alive connection waits for its next request [default: 15s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "HTTP")]
    #[serde(
        rename = "http.keepalive-timeout",
        serialize_with = "boomerang_settings::opt_duration::serialize"
    )]
    pub keepalive_timeout: Option<Duration>,
    /// Most connections one shard (AF_XDP) or worker (--kernel) keeps open; more are reset
    /// and counted in boomerang_http_connections_refused_total [default: 16384].
    #[arg(long, value_name = "N", help_heading = "HTTP")]
    #[serde(rename = "http.max-connections-per-worker")]
    pub max_connections_per_worker: Option<usize>,
    /// Threads reading static files (and running blocking handlers) [default: 2].
    #[arg(long, value_name = "N", help_heading = "HTTP")]
    #[serde(rename = "http.blocking-threads")]
    pub blocking_threads: Option<usize>,
    /// Memory for small static files kept in memory, in bytes or with K/M/G; 0 turns the
    /// file cache off [default: 64M].
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes, help_heading = "HTTP")]
    #[serde(rename = "http.file-cache-bytes")]
    pub file_cache_bytes: Option<usize>,
    /// Time a cached file is served before the disk is looked at again; 0 turns the file
    /// cache off [default: 1s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "HTTP")]
    #[serde(
        rename = "http.file-cache-ttl",
        serialize_with = "boomerang_settings::opt_duration::serialize"
    )]
    pub file_cache_ttl: Option<Duration>,
    /// Write an access log in the combined log format to FILE (`-`: standard output);
    /// buffered per worker and written by a background thread [default: off].
    #[arg(long, value_name = "FILE|-", help_heading = "HTTP")]
    #[serde(rename = "http.access-log")]
    pub access_log: Option<PathBuf>,
    /// Format of the access log [default: combined].
    #[arg(long, value_enum, value_name = "FORMAT", help_heading = "HTTP")]
    #[serde(rename = "http.access-log-format")]
    pub access_log_format: Option<AccessLogFormat>,
    /// Serve HTTPS with this certificate chain (PEM, the server's certificate first); give
    /// it again with another --tls-key for one more certificate, picked by SNI.
    #[arg(long, value_name = "FILE", help_heading = "TLS")]
    #[serde(rename = "tls.cert", skip_serializing_if = "Vec::is_empty")]
    pub tls_cert: Vec<PathBuf>,
    /// The private key (PEM: ECDSA, Ed25519 or RSA) of the --tls-cert in the same position.
    #[arg(long, value_name = "FILE", help_heading = "TLS")]
    #[serde(rename = "tls.key", skip_serializing_if = "Vec::is_empty")]
    pub tls_key: Vec<PathBuf>,
    /// Also listen for plain HTTP on this port (same address) and answer every request there
    /// with a redirect to HTTPS (301; 308 for methods other than GET and HEAD).
    #[arg(long, value_name = "PORT", help_heading = "TLS")]
    #[serde(rename = "tls.redirect-port")]
    pub tls_redirect_port: Option<u16>,
}

/// Format of the access log (`--access-log-format`).
#[derive(ValueEnum, Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AccessLogFormat {
    /// nginx's and Apache's combined log format.
    Combined,
    /// One JSON object per line.
    Json,
}

/// `boomerang demo …`
#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// How long each load of the demo runs.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Concurrent connections of the load.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Serve on kernel sockets instead of AF_XDP.
    #[arg(long)]
    pub kernel: bool,
    /// Use the built-in load generator even when wrk is installed.
    #[arg(long)]
    pub builtin_load: bool,
    /// Serve HTTPS with a self-signed certificate made at start (the load is wrk over https,
    /// or the built-in generator verifying that certificate).
    #[arg(long)]
    pub tls: bool,
}

/// `boomerang load …`
#[derive(Args, Debug, Clone)]
pub struct LoadArgs {
    /// Target, `http://A.B.C.D[:PORT]/path` or `https://…` (IPv4 literal or a name the
    /// resolver knows; for https the server's certificate must carry that name or address).
    #[arg(long)]
    pub url: String,
    /// For an https:// URL: the CA certificate(s) (PEM) the server's certificate must chain
    /// to. There is no option to skip verification.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// For an https:// URL: keep the session tickets the server sends and offer them on new
    /// connections (resumed handshakes); without it every connection makes a full handshake.
    #[arg(long)]
    pub resume: bool,
    /// Concurrent connections.
    #[arg(long, short = 'c', default_value_t = 64)]
    pub connections: usize,
    /// How long to run (`10s`, `500ms`, `2m`).
    #[arg(long, short = 'd', default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// One request per connection (`Connection: close`) instead of keep-alive.
    #[arg(long)]
    pub close: bool,
    /// Worker threads (each owns connections / threads of the total) [default: 1].
    #[arg(long, short = 't', default_value_t = 1)]
    pub threads: usize,
    /// Stop after this many completed requests (in addition to the duration bound).
    #[arg(long, short = 'n')]
    pub requests: Option<u64>,
    /// A request without a complete response after this long counts as a timeout error.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Run the client on boomerang's own stack over AF_XDP on this interface (queue 0)
    /// instead of kernel sockets; needs --addr.
    #[arg(long, value_name = "IF")]
    pub iface: Option<String>,
    /// The AF_XDP client's own IPv4 address and prefix (not one the kernel uses).
    #[arg(long, value_name = "A.B.C.D/N")]
    pub addr: Option<String>,
    /// Next hop of the AF_XDP client towards the server.
    #[arg(long, value_name = "A.B.C.D")]
    pub gateway: Option<Ipv4Addr>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5y").is_err());
    }

    #[test]
    fn byte_counts_parse() {
        assert_eq!(parse_bytes("262144"), Ok(262_144));
        assert_eq!(parse_bytes("4096B"), Ok(4096));
        assert_eq!(parse_bytes("256K"), Ok(256 * 1024));
        assert_eq!(parse_bytes("256kib"), Ok(256 * 1024));
        assert_eq!(parse_bytes(" 4M "), Ok(4 << 20));
        assert_eq!(parse_bytes("4MiB"), Ok(4 << 20));
        assert_eq!(parse_bytes("1G"), Ok(1 << 30));
        for bad in ["", "M", "4 MB", "4T", "-1", "1.5M", "99999999999999999999"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
        assert!(parse_bytes("18446744073709551615G")
            .unwrap_err()
            .contains("out of range"));
    }

    #[test]
    fn tuning_flags_parse() {
        let cli = Cli::try_parse_from([
            "boomerang",
            "serve",
            "--congestion",
            "BBR",
            "--snd-buf",
            "8M",
            "--rcv-buf",
            "1048576",
            "--initial-cwnd",
            "32",
            "--header-timeout",
            "2500ms",
            "--keepalive-timeout",
            "1m",
        ])
        .expect("parses");
        let Command::Serve(a) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(a.congestion, Some(CongestionAlgorithm::Bbr));
        assert_eq!(a.snd_buf, Some(8 << 20));
        assert_eq!(a.rcv_buf, Some(1 << 20));
        assert_eq!(a.initial_cwnd, Some(32));
        assert_eq!(a.header_timeout, Some(Duration::from_millis(2500)));
        assert_eq!(a.keepalive_timeout, Some(Duration::from_secs(60)));
    }

    #[test]
    fn limit_flags_parse() {
        let cli = Cli::try_parse_from([
            "boomerang",
            "serve",
            "--max-connections-per-worker",
            "1000000",
            "--blocking-threads",
            "8",
            "--file-cache-bytes",
            "256M",
            "--file-cache-ttl",
            "250ms",
        ])
        .expect("parses");
        let Command::Serve(a) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(a.max_connections_per_worker, Some(1_000_000));
        assert_eq!(a.blocking_threads, Some(8));
        assert_eq!(a.file_cache_bytes, Some(256 << 20));
        assert_eq!(a.file_cache_ttl, Some(Duration::from_millis(250)));
        for (flag, value) in [
            ("--max-connections-per-worker", "-1"),
            ("--blocking-threads", "many"),
            ("--file-cache-bytes", "4T"),
            ("--file-cache-ttl", "soon"),
        ] {
            let r = Cli::try_parse_from(["boomerang", "serve", flag, value]);
            assert!(r.is_err(), "{flag} {value}");
        }
    }

    #[test]
    fn bad_tuning_flags_are_refused_by_the_parser() {
        for (flag, value) in [
            ("--congestion", "vegas"),
            ("--snd-buf", "lots"),
            ("--rcv-buf", "4T"),
            ("--initial-cwnd", "-1"),
            ("--header-timeout", "soon"),
            ("--keepalive-timeout", "5y"),
        ] {
            let r = Cli::try_parse_from(["boomerang", "serve", flag, value]);
            assert!(r.is_err(), "{flag} {value}");
        }
        let e = Cli::try_parse_from(["boomerang", "serve", "--congestion", "vegas"]).unwrap_err();
        assert!(e.to_string().contains("newreno"), "{e}");
    }

    #[test]
    fn serve_flags_parse() {
        let cli = Cli::try_parse_from([
            "boomerang",
            "serve",
            "--iface",
            "veth0",
            "--addr",
            "198.19.2.1/24",
            "--gateway",
            "198.19.2.254",
            "--queues",
            "2",
            "--xdp-mode",
            "native",
            "--bind-mode",
            "copy",
        ])
        .expect("parses");
        let Command::Serve(a) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(a.iface.as_deref(), Some("veth0"));
        assert_eq!(a.queues, Some(2));
        assert_eq!(a.xdp_mode, Some(XdpMode::Native));
        assert_eq!(a.bind_mode, Some(BindMode::Copy));
    }
}
