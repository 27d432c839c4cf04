//! "Flags win over the file", generically: the flags given on the command line become a
//! TOML table of the same shape as the file (each `ServeArgs` field's serde name is its
//! place, `tcp.snd-buf`), which is laid over the file's table key by key; the result is read
//! once into the owning crates' config types. No setting is copied by hand, and a new
//! setting needs only its field (and, if it gets a flag, that flag).
//!
//! Errors of the owning crates name the setting by its key; here it gets the name the user
//! knows: the flag (`--snd-buf`) when there is one, else the table and key (`[tcp] mss`).

use boomerang_settings::OutOfRange;
use clap::Args;

use super::{ConfigError, Layered};
use crate::cli::ServeArgs;

/// The sub-tables whose keys may be spelled with underscores.
const TABLES: [&str; 4] = ["tcp", "http", "limits", "tls"];

/// Rewrites the keys of the `[tcp]`, `[http]`, `[limits]` and `[tls]` tables to kebab-case
/// (`snd_buf` → `snd-buf`), so a flag given as `snd-buf` replaces the file's `snd_buf`.
pub(super) fn kebab_case_tables(mut table: toml::Table) -> toml::Table {
    for name in TABLES {
        if let Some(toml::Value::Table(t)) = table.get_mut(name) {
            *t = std::mem::take(t)
                .into_iter()
                .map(|(k, v)| (k.replace('_', "-"), v))
                .collect();
        }
    }
    table
}

/// The flags given, as a table shaped like the file: dotted serde names become sub-tables.
fn flags_table(args: &ServeArgs) -> Result<toml::Table, ConfigError> {
    let flat = toml::Table::try_from(args)
        .map_err(|e| ConfigError::Invalid(format!("cannot represent the flags: {e}")))?;
    let mut nested = toml::Table::new();
    for (key, value) in flat {
        match key.split_once('.') {
            Some((table, key)) => {
                let sub = nested
                    .entry(table)
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                if let toml::Value::Table(sub) = sub {
                    sub.insert(key.to_string(), value);
                }
            }
            None => {
                nested.insert(key, value);
            }
        }
    }
    Ok(nested)
}

/// Lays `top` over `base`: a key of `top` replaces the same key of `base`; tables merge.
fn overlay(base: &mut toml::Table, top: toml::Table) {
    for (key, value) in top {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(t)) => overlay(b, t),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// The flags laid over the file: the merged table and what it says, typed.
pub(super) fn flags_over_file(
    args: &ServeArgs,
    file: &toml::Table,
) -> Result<(toml::Table, Layered), ConfigError> {
    let mut table = file.clone();
    overlay(&mut table, flags_table(args)?);
    let layered = table
        .clone()
        .try_into::<Layered>()
        .map_err(|e| ConfigError::Invalid(e.to_string()))?;
    Ok((table, layered))
}

/// What the user calls `key` of `[table]`: its flag if `serve` has one, else `[table] key`.
pub(super) fn name_of(table: &str, key: &str) -> String {
    let cmd = ServeArgs::augment_args(clap::Command::new("serve"));
    let prefixed = format!("{table}-{key}");
    if cmd.get_arguments().any(|a| a.get_long() == Some(key)) {
        format!("--{key}")
    } else if cmd.get_arguments().any(|a| a.get_long() == Some(&prefixed)) {
        format!("--{prefixed}")
    } else {
        format!("[{table}] {key}")
    }
}

/// The name (see [`name_of`]) of the first key set in `[table]`, if any.
pub(super) fn first_key(merged: &toml::Table, table: &str) -> Option<String> {
    match merged.get(table) {
        Some(toml::Value::Table(t)) => t.keys().next().map(|k| name_of(table, k)),
        _ => None,
    }
}

/// An owning crate's range error, with the setting named as the user knows it.
pub(super) fn out_of_range(table: &str, e: &OutOfRange) -> ConfigError {
    ConfigError::Invalid(e.message(&name_of(table, e.setting)))
}

/// The HTTP server's verdict on its settings, with the setting named as the user knows it.
pub(super) fn http_error(e: &boomerang_http::config::ConfigError) -> ConfigError {
    match e {
        boomerang_http::config::ConfigError::OutOfRange(r) => out_of_range("http", r),
        other => ConfigError::Invalid(format!("{}: {other}", name_of("http", other.setting()))),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use boomerang_http::config::{
        MAX_TIMEOUT as MAX_HTTP_TIMEOUT, MIN_TIMEOUT as MIN_HTTP_TIMEOUT,
    };
    use boomerang_http::ServerConfig;
    use boomerang_stack::tcp::config::{
        CongestionAlgorithm, MAX_BUF as MAX_TCP_BUF, MAX_INITIAL_CWND, MIN_BUF as MIN_TCP_BUF,
    };
    use boomerang_stack::{Limits, TcpConfig};

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
        assert_eq!(x.tcp, TcpConfig::default());
        assert_eq!(x.http, ServerConfig::default());
        assert_eq!(x.limits, Limits::default());
        assert_eq!(x.tcp.congestion, CongestionAlgorithm::Cubic);
        assert_eq!(x.http.header_read_timeout, Duration::from_secs(10));
        assert_eq!(x.http.keep_alive_timeout, Duration::from_secs(15));
    }

    #[test]
    fn a_larger_receive_buffer_holds_as_much_out_of_order() {
        let large = ServeArgs {
            rcv_buf: Some(4 << 20),
            ..xdp_args()
        };
        let tcp = xdp(&large, &FileConfig::default()).expect("ok").tcp;
        assert_eq!((tcp.rcv_buf, tcp.max_ooo_bytes), (4 << 20, 4 << 20));
        let small = ServeArgs {
            rcv_buf: Some(64 << 10),
            ..xdp_args()
        };
        let tcp = xdp(&small, &FileConfig::default()).expect("ok").tcp;
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
        let tcp = &expected.tcp;
        assert_eq!(tcp.congestion, CongestionAlgorithm::NewReno);
        assert_eq!((tcp.snd_buf, tcp.rcv_buf), (8 << 20, 1 << 20));
        assert_eq!(tcp.initial_cwnd_segments, 4);
        let http = &expected.http;
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
            (
                x.tcp.congestion,
                x.tcp.snd_buf,
                x.tcp.rcv_buf,
                x.tcp.initial_cwnd_segments
            ),
            (CongestionAlgorithm::Bbr, 1 << 20, 2 << 20, 20)
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
    fn new_settings_parse_from_the_file_and_flags_win() {
        let file = parse(
            r#"
            [http]
            max-connections-per-worker = 100000
            blocking_threads = 8
            file-cache-bytes = "256M"
            file-cache-ttl = "250ms"
            max-uri-bytes = "2K"
            [tcp]
            time-wait = "30s"
            max_ooo_segments = 128
            [limits]
            max-connections = 1048576
            max_syn_backlog = 4096
            syn-cookies = false
            "#,
        );
        let x = xdp(&xdp_args(), &file).expect("ok");
        assert_eq!(x.http.max_connections_per_worker, 100_000);
        assert_eq!(x.http.blocking_threads, 8);
        assert_eq!(x.http.static_cache_bytes, 256 << 20);
        assert_eq!(x.http.static_cache_ttl, Duration::from_millis(250));
        assert_eq!(x.http.max_uri_bytes, 2048);
        assert_eq!(x.tcp.time_wait, Duration::from_secs(30));
        assert_eq!(x.tcp.max_ooo_segments, 128);
        assert_eq!(x.limits.max_connections, 1 << 20);
        assert_eq!(x.limits.max_syn_backlog, 4096);
        assert!(!x.limits.syn_cookies);
        let args = ServeArgs {
            max_connections_per_worker: Some(1_000_000),
            blocking_threads: Some(4),
            file_cache_bytes: Some(0),
            file_cache_ttl: Some(Duration::from_secs(5)),
            ..xdp_args()
        };
        let x = xdp(&args, &file).expect("ok");
        assert_eq!(x.http.max_connections_per_worker, 1_000_000);
        assert_eq!(x.http.blocking_threads, 4);
        assert_eq!(x.http.static_cache_bytes, 0);
        assert_eq!(x.http.static_cache_ttl, Duration::from_secs(5));
        // The file's other keys stay.
        assert_eq!(x.http.max_uri_bytes, 2048);
        assert_eq!(x.limits.max_connections, 1 << 20);
        // The flags alone give the same as the file alone.
        let flags_only = ServeArgs {
            max_connections_per_worker: Some(100_000),
            blocking_threads: Some(8),
            file_cache_bytes: Some(256 << 20),
            file_cache_ttl: Some(Duration::from_millis(250)),
            ..xdp_args()
        };
        let from_flags = xdp(&flags_only, &FileConfig::default()).expect("ok");
        let from_file = xdp(
            &xdp_args(),
            &parse(
                "[http]\nmax-connections-per-worker = 100000\nblocking-threads = 8\n\
                 file-cache-bytes = \"256M\"\nfile-cache-ttl = \"250ms\"\n",
            ),
        )
        .expect("ok");
        assert_eq!(from_flags, from_file);
    }

    #[test]
    fn new_settings_out_of_range_explain_themselves() {
        let cases: [(ServeArgs, &str, &str); 9] = [
            (
                ServeArgs {
                    max_connections_per_worker: Some((1 << 24) + 1),
                    ..xdp_args()
                },
                "",
                "--max-connections-per-worker 16777217: use 1..=16777216 connections",
            ),
            (
                ServeArgs {
                    max_connections_per_worker: Some(0),
                    ..xdp_args()
                },
                "",
                "--max-connections-per-worker: max_connections_per_worker must be greater than zero",
            ),
            (
                ServeArgs {
                    blocking_threads: Some(0),
                    ..xdp_args()
                },
                "",
                "--blocking-threads: blocking_threads must be greater than zero",
            ),
            (
                ServeArgs {
                    blocking_threads: Some(1025),
                    ..xdp_args()
                },
                "",
                "--blocking-threads 1025: use 1..=1024 threads",
            ),
            (
                ServeArgs {
                    file_cache_ttl: Some(Duration::from_secs(7200)),
                    ..xdp_args()
                },
                "",
                "--file-cache-ttl 7200s: use 0s..=3600s",
            ),
            (
                ServeArgs {
                    file_cache_bytes: Some(2 << 40),
                    ..xdp_args()
                },
                "",
                "--file-cache-bytes 2199023255552: use 0..=1099511627776 bytes (0 to 1024G)",
            ),
            (
                xdp_args(),
                "[http]\nmax-uri-bytes = 8\n",
                "[http] max-uri-bytes 8: use 16..=1048576 bytes (16 to 1M)",
            ),
            (
                xdp_args(),
                "[tcp]\ntime-wait = 0\n",
                "[tcp] time-wait 0ns: use 1s..=600s",
            ),
            (
                xdp_args(),
                "[limits]\nephemeral-port-min = 61000\n",
                "[limits] ephemeral-port-min 61000: use 1024..=60999 (at most ephemeral-port-max)",
            ),
        ];
        for (args, text, want) in cases {
            let e = ServeSettings::merge(&args, &parse(text)).unwrap_err();
            assert_eq!(e.to_string(), want);
        }
        let e = FileConfig::parse("[limits]\nmax-conections = 1\n", Path::new("t")).unwrap_err();
        assert!(e.to_string().contains("max-conections"), "{e}");
    }

    #[test]
    fn stack_limits_and_kernel_threads_belong_to_their_server() {
        let kernel = ServeArgs {
            kernel: true,
            listen: Some("127.0.0.1:8080".parse().expect("addr")),
            ..ServeArgs::default()
        };
        let e =
            ServeSettings::merge(&kernel, &parse("[limits]\nmax_connections = 10\n")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("[limits] max-connections limits the userspace stack"),
            "{e}"
        );
        let ServeSettings::Kernel(k) =
            ServeSettings::merge(&kernel, &parse("[http]\nworkers = 3\n")).expect("ok")
        else {
            panic!("kernel expected")
        };
        assert_eq!(k.http.workers, 3);
        let e = ServeSettings::merge(&xdp_args(), &parse("[http]\nworkers = 3\n")).unwrap_err();
        assert!(e.to_string().contains("--queues"), "{e}");
        // The HTTP settings reach the kernel-socket server too.
        let ServeSettings::Kernel(k) = ServeSettings::merge(
            &ServeArgs {
                max_connections_per_worker: Some(7),
                ..kernel
            },
            &FileConfig::default(),
        )
        .expect("ok") else {
            panic!("kernel expected")
        };
        assert_eq!(k.http.max_connections_per_worker, 7);
    }

    #[test]
    fn every_flag_lands_on_a_key_of_the_file() {
        let all = ServeArgs {
            congestion: Some(CongestionAlgorithm::Bbr),
            snd_buf: Some(1 << 20),
            rcv_buf: Some(1 << 20),
            initial_cwnd: Some(4),
            header_timeout: Some(Duration::from_millis(1500)),
            keepalive_timeout: Some(Duration::from_nanos(100_000_001)),
            max_connections_per_worker: Some(5),
            blocking_threads: Some(3),
            file_cache_bytes: Some(12345),
            file_cache_ttl: Some(Duration::from_micros(1500)),
            gateway: Some(std::net::Ipv4Addr::new(198, 19, 2, 254)),
            port: Some(81),
            queues: Some(2),
            xdp_mode: Some(crate::cli::XdpMode::Native),
            bind_mode: Some(crate::cli::BindMode::Copy),
            tx_budget: Some(64),
            multi_buffer: Some(true),
            checksum_offload: true,
            pcap: Some("/tmp/x.pcap".into()),
            access_log: Some("/tmp/access.log".into()),
            access_log_format: Some(crate::cli::AccessLogFormat::Json),
            tls_cert: vec!["/tmp/x.crt".into()],
            tls_key: vec!["/tmp/x.key".into()],
            tls_redirect_port: Some(8081),
            ..xdp_args()
        };
        let x = xdp(&all, &FileConfig::default()).expect("ok");
        let tls = x.http.tls.clone().expect("tls on");
        assert_eq!((tls.cert.len(), tls.key.len()), (1, 1));
        assert_eq!(tls.redirect_port, Some(8081));
        assert_eq!(x.tcp.congestion, CongestionAlgorithm::Bbr);
        assert_eq!(x.tcp.initial_cwnd_segments, 4);
        assert_eq!(x.http.header_read_timeout, Duration::from_millis(1500));
        assert_eq!(x.http.keep_alive_timeout, Duration::from_nanos(100_000_001));
        assert_eq!(x.http.max_connections_per_worker, 5);
        assert_eq!(x.http.blocking_threads, 3);
        assert_eq!(x.http.static_cache_bytes, 12345);
        assert_eq!(x.http.static_cache_ttl, Duration::from_micros(1500));
        assert_eq!((x.port, x.queues), (81, 2));
        assert_eq!(x.tx_budget, Some(64));
        assert!(x.multi_buffer && x.checksum_offload);
        assert_eq!(x.http.access_log, Some("/tmp/access.log".into()));
        assert_eq!(
            x.http.access_log_format,
            boomerang_http::access_log::AccessLogFormat::Json
        );
        // Every flag of the command but --config and --kernel has a place in the file.
        let cmd = <ServeArgs as Args>::augment_args(clap::Command::new("serve"));
        let table = flags_table(&all).expect("table");
        for arg in cmd.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            // A `--no-…` switch sets its key to false.
            let long = long.strip_prefix("no-").unwrap_or(long);
            if ["config", "kernel", "listen", "root"].contains(&long) {
                continue;
            }
            // `--tls-cert` is `cert` of `[tls]`.
            let found = table.contains_key(long)
                || TABLES.iter().any(|t| {
                    let key = long.strip_prefix(&format!("{t}-")).unwrap_or(long);
                    matches!(table.get(*t), Some(toml::Value::Table(s)) if s.contains_key(key))
                });
            assert!(found, "--{long} has no key in the file");
        }
    }
}
