//! The side-by-side comparison behind `bench/compare` (docs/benchmarks.md): in the same
//! client – router – server namespaces, with the server pinned to one CPU and the load to
//! another, it measures boomerang on AF_XDP and `--kernel` (the `json` example: the routes of
//! `boomerang serve` plus `GET /json`), nginx (1 worker,
//! configured here, started inside the server namespace, stopped by PID) and, with
//! `--servers …,axum`, the axum server of `bench/axum-server` (tokio, 1 worker thread; it
//! answers only `/plaintext` and `/json`, its file cells stay empty) with the same wrk
//! arguments, prints a table with ratios to nginx and writes a CSV for the chart.
//!
//! With `--rounds N` the whole sweep runs N times, the servers' order rotating every round,
//! and each cell reports the median over the rounds; the "× nginx" ratio is the median of
//! the per-round ratios (each measured minutes apart at most), so a machine whose background
//! load drifts during the sweep skews the ratio far less than a single pass does.
//!
//! `cargo run --release -p boomerang --example compare -- [--duration 5s] [--rounds 1] [--tool wrk|builtin|both] [--csv FILE] [--markdown FILE]`
//!
//! `--https` measures the HTTPS columns instead: every server (axum has no TLS) gets the same
//! ECDSA P-256 certificate made at start (rcgen), nginx with OpenSSL speaks TLS 1.3 with
//! session tickets, and the columns are keep-alive requests over TLS, new connections per
//! second with full handshakes and with resumed ones (wrk always resumes, so its full-handshake
//! cells stay empty; the built-in generator does either), and a 1 MiB file over TLS.
//!
//! For packet timelines (`bench/timeline`): `--only TEXT` keeps the tests whose label contains
//! TEXT, `--connections N` overrides their connection counts, `--pcap FILE` has the AF_XDP
//! server record every frame it receives and sends, and `--client-pcap FILE` runs tcpdump
//! beside the client during the loads.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use boomerang::harness::{
    self, LoadResult, LoadSpec, Pinning, ServerProcess, TempDir, TlsSpec, Tool, Topology,
};
use boomerang::load::{fmt_duration, Progress, Resumption, TlsClient};
use boomerang_nic::netns::{is_root, Routed};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "boomerang (AF_XDP), boomerang --kernel and nginx side by side")]
struct Args {
    /// Length of each load.
    #[arg(long, default_value = "5s", value_parser = boomerang::cli::parse_duration)]
    duration: Duration,
    /// Load generator(s): wrk, builtin (kernel sockets), afxdp (the built-in generator on our
    /// own stack over AF_XDP), both (wrk + builtin) or all.
    #[arg(long, default_value = "wrk")]
    tool: String,
    /// Where to write the results as CSV.
    #[arg(long, default_value = "/tmp/boomerang-compare.csv")]
    csv: PathBuf,
    /// Where to write the results as a Markdown table.
    #[arg(long, default_value = "/tmp/boomerang-compare.md")]
    markdown: PathBuf,
    /// Only these servers (comma separated: xdp,kernel,nginx,axum; xdp-alt is boomerang on
    /// AF_XDP with `--alt-args`, for an A/B in the same run).
    #[arg(long, default_value = "xdp,kernel,nginx,axum")]
    servers: String,
    /// MTU of every veth of the topology, for every server alike (9000: jumbo frames).
    #[arg(long, default_value_t = 1500)]
    mtu: u32,
    /// Extra arguments for `boomerang serve` on AF_XDP (whitespace separated).
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    xdp_args: String,
    /// Extra arguments for the `xdp-alt` server (whitespace separated).
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    alt_args: String,
    /// Another build of the `json` example for the `xdp-alt` server (a code A/B in one run,
    /// e.g. a copy of `target/release/examples/json` built from the base commit).
    #[arg(long)]
    alt_exe: Option<PathBuf>,
    /// Sweeps to run, the servers' order rotating each round; cells are medians.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Only the tests whose label contains this text (e.g. `close`, `64 KiB`).
    #[arg(long)]
    only: Option<String>,
    /// Use this many connections in every test instead of each test's own count.
    #[arg(long)]
    connections: Option<usize>,
    /// The AF_XDP server writes every frame it receives and sends to this pcap file
    /// (`serve --pcap`; each server run overwrites it).
    #[arg(long)]
    pcap: Option<PathBuf>,
    /// Capture the client side with tcpdump into this file (each server run overwrites it):
    /// on the router's client-facing interface `vc`, which also sees the AF_XDP load client's
    /// frames (AF_XDP sockets bypass the taps of the client's own interface).
    #[arg(long)]
    client_pcap: Option<PathBuf>,
    /// Namespace names start with `bmr` + this tag (lets parallel runs tell theirs apart).
    #[arg(long, default_value = "cmp")]
    ns_tag: String,
    /// Random loss in the router, both ways, for every server alike (nftables, e.g. `2%`;
    /// whole per mille only).
    #[arg(long, value_parser = parse_per_mille)]
    loss: Option<u32>,
    /// Measure the HTTPS columns (TLS 1.3, an ECDSA P-256 certificate made at start) instead
    /// of the plain ones.
    #[arg(long)]
    https: bool,
}

/// `2%` or `0.5%` → per mille.
fn parse_per_mille(s: &str) -> Result<u32, String> {
    let pct: f64 = s
        .trim_end_matches('%')
        .parse()
        .map_err(|e| format!("{s}: {e}"))?;
    let per_mille = (pct * 10.0).round();
    if !(0.0..=1000.0).contains(&per_mille) || (per_mille - pct * 10.0).abs() > 1e-9 {
        return Err(format!(
            "{s}: a percentage with at most one decimal, 0 to 100"
        ));
    }
    Ok(per_mille as u32)
}

/// One column of the table.
#[derive(Debug, Clone)]
struct Test {
    label: String,
    path: &'static str,
    connections: usize,
    /// `Connection: close` on every request.
    close: bool,
    /// Over HTTPS, with this handshake mode for the built-in generator.
    tls: Option<Resumption>,
}

/// One cell's measurements, one per round.
type Rounds = Vec<LoadResult>;

/// (label, path, connections, Connection: close)
const TESTS: [(&str, &str, usize, bool); 6] = [
    ("plaintext keep-alive c64", "/plaintext", 64, false),
    ("JSON keep-alive c64", "/json", 64, false),
    ("plaintext keep-alive c256", "/plaintext", 256, false),
    ("plaintext Connection: close c64", "/plaintext", 64, true),
    ("64 KiB file c64", "/64k.bin", 64, false),
    ("1 MiB file c16", "/1m.bin", 16, false),
];

/// The `--https` columns: (label, path, connections, Connection: close, handshakes).
const HTTPS_TESTS: [(&str, &str, usize, bool, Resumption); 4] = [
    (
        "HTTPS keep-alive c64",
        "/plaintext",
        64,
        false,
        Resumption::Full,
    ),
    (
        "HTTPS new connections, full handshakes c64",
        "/plaintext",
        64,
        true,
        Resumption::Full,
    ),
    (
        "HTTPS new connections, resumed handshakes c64",
        "/plaintext",
        64,
        true,
        Resumption::Tickets,
    ),
    (
        "HTTPS 1 MiB file c16",
        "/1m.bin",
        16,
        false,
        Resumption::Full,
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    Xdp,
    XdpAlt,
    Kernel,
    Nginx,
    Axum,
}

impl Server {
    fn label(self) -> &'static str {
        match self {
            Server::Xdp => "boomerang AF_XDP",
            Server::XdpAlt => "boomerang AF_XDP (alt)",
            Server::Kernel => "boomerang --kernel",
            Server::Nginx => "nginx",
            Server::Axum => "axum",
        }
    }

    /// Whether this server answers `test` (the axum server has no static files and no TLS).
    fn serves(self, test: &Test) -> bool {
        self != Server::Axum || (test.tls.is_none() && matches!(test.path, "/plaintext" | "/json"))
    }
}

/// Whether `tool` can measure `test`: wrk always resumes (it keeps each connection's
/// OpenSSL session for its next connection: with `Connection: close` against boomerang,
/// 1,306 of 1,312 handshakes were resumed, `tests/tls_load.rs`), so the full-handshake
/// column is the built-in generator's only.
fn measures(tool: Tool, test: &Test) -> bool {
    tool != Tool::Wrk || !(test.close && test.tls == Some(Resumption::Full))
}

/// The certificate every server gets with `--https`: ECDSA P-256 (rcgen's default key),
/// self-signed for the server's address, as `cert.pem` and `key.pem` in `dir`.
fn make_certificate(dir: &Path) -> anyhow::Result<Tls> {
    let c = rcgen::generate_simple_self_signed(vec![Routed::SERVER_ADDR.to_string()])
        .context("cannot make a certificate")?;
    let tls = Tls {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    std::fs::write(&tls.cert, c.cert.pem())?;
    std::fs::write(&tls.key, c.signing_key.serialize_pem())?;
    Ok(tls)
}

/// The `--https` certificate's files.
struct Tls {
    cert: PathBuf,
    key: PathBuf,
}

/// nginx's `server` lines for HTTPS: TLS 1.3 only, session tickets on (OpenSSL's stateless
/// TLS 1.3 tickets, key made at start), the default buffer of 16 KiB (full-size records).
fn nginx_tls(tls: &Tls) -> String {
    format!(
        "ssl_certificate {};\n        ssl_certificate_key {};\n        ssl_protocols TLSv1.3;\n        ssl_session_tickets on;\n        ",
        tls.cert.display(),
        tls.key.display()
    )
}

fn nginx_conf(dir: &Path, site: &Path, tls: Option<&Tls>) -> String {
    format!(
        r#"worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 8192; multi_accept on; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 65;
    default_type application/octet-stream;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen {addr}:{port} {ssl}reuseport backlog=4096;
        {tls}root {site};
        location = /plaintext {{ default_type text/plain; return 200 "Hello, World!"; }}
        location = /json {{ default_type application/json; return 200 '{{"message":"Hello, World!"}}'; }}
    }}
}}
"#,
        dir = dir.display(),
        site = site.display(),
        addr = Routed::SERVER_ADDR,
        port = harness::PORT,
        ssl = if tls.is_some() { "ssl " } else { "" },
        tls = tls.map(nginx_tls).unwrap_or_default(),
    )
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    boomerang::logging::init(Some("warn"));
    if !is_root() {
        bail!("bench/compare creates network namespaces and attaches XDP: run it as root");
    }
    let tools: Vec<Tool> = match args.tool.as_str() {
        "wrk" => vec![Tool::Wrk],
        "builtin" => vec![Tool::Builtin],
        "afxdp" => vec![Tool::StackClient],
        "both" => vec![Tool::Wrk, Tool::Builtin],
        "all" => vec![Tool::Wrk, Tool::Builtin, Tool::StackClient],
        t => bail!("--tool {t}: use wrk, builtin, afxdp, both or all"),
    };
    if tools.contains(&Tool::Wrk) && !harness::wrk_installed() {
        bail!("wrk is not installed: run scripts/setup, or use --tool builtin");
    }
    let servers: Vec<Server> = args
        .servers
        .split(',')
        .map(|s| match s.trim() {
            "xdp" => Ok(Server::Xdp),
            "xdp-alt" => Ok(Server::XdpAlt),
            "kernel" => Ok(Server::Kernel),
            "nginx" => Ok(Server::Nginx),
            "axum" => Ok(Server::Axum),
            o => Err(anyhow::anyhow!("unknown server {o}")),
        })
        // The axum server speaks no TLS.
        .filter(|s| !(args.https && matches!(s, Ok(Server::Axum))))
        .collect::<anyhow::Result<_>>()?;
    let all: Vec<(&str, &'static str, usize, bool, Option<Resumption>)> = if args.https {
        HTTPS_TESTS
            .iter()
            .map(|&(l, p, c, close, r)| (l, p, c, close, Some(r)))
            .collect()
    } else {
        TESTS
            .iter()
            .map(|&(l, p, c, close)| (l, p, c, close, None))
            .collect()
    };
    let tests: Vec<Test> = all
        .into_iter()
        .filter(|t| args.only.as_ref().is_none_or(|o| t.0.contains(o.as_str())))
        .map(|(label, path, c, close, tls)| {
            let (label, connections) = match args.connections {
                // every label ends in " c<connections>"
                Some(n) => {
                    let base = label.rsplit_once(' ').map_or(label, |(b, _)| b);
                    (format!("{base} c{n}"), n)
                }
                None => (label.to_string(), c),
            };
            Test {
                label,
                path,
                connections,
                close,
                tls,
            }
        })
        .collect();
    if tests.is_empty() {
        bail!("--only {:?} matches no test", args.only);
    }
    let captures = Captures {
        server: args.pcap.clone(),
        client: args.client_pcap.clone(),
    };
    let stop = boomerang::signals::cleanup_flag()?;
    // boomerang in every column: the json example, `boomerang serve`'s routes plus GET /json.
    let exe = sibling_bin("examples/json")?;
    let axum = servers
        .contains(&Server::Axum)
        .then(|| sibling_bin("axum-server"))
        .transpose()?;
    let pin = Pinning::from_allowed();
    let site = TempDir::new("cmp")?;
    harness::write_site(site.path())?;
    let tls = args
        .https
        .then(|| make_certificate(site.path()))
        .transpose()?;
    println!(
        "server on CPU {}, load on CPU {}, {} per test, wrk 1 thread, MTU {}, loss {:.1}% both ways",
        pin.server,
        pin.client,
        fmt_duration(args.duration),
        args.mtu,
        args.loss.unwrap_or(0) as f64 / 10.0
    );
    // results[(server, tool)][test][round]
    let mut results: Vec<(Server, Tool, Vec<Rounds>)> = Vec::new();
    for &server in &servers {
        for &tool in &tools {
            results.push((server, tool, vec![Vec::new(); tests.len()]));
        }
    }
    let rounds = args.rounds.max(1);
    for round in 0..rounds {
        if rounds > 1 {
            println!("round {} of {rounds}", round + 1);
        }
        let mut order = servers.clone();
        order.rotate_left(round % servers.len().max(1));
        for &server in &order {
            for &tool in &tools {
                if stop.load(Ordering::Relaxed) {
                    bail!("interrupted");
                }
                let run = Run {
                    exe: &exe,
                    axum: axum.as_deref(),
                    site: &site,
                    pin,
                    duration: args.duration,
                    tests: &tests,
                    captures: &captures,
                    ns_tag: &args.ns_tag,
                    loss: args.loss,
                    mtu: args.mtu,
                    xdp_args: &args.xdp_args,
                    alt_args: &args.alt_args,
                    alt_exe: args.alt_exe.as_deref().unwrap_or(&exe),
                    tls: tls.as_ref(),
                };
                let rows = measure(server, tool, &run, &stop)
                    .with_context(|| format!("measuring {}", server.label()))?;
                if let Some(cell) = results.iter_mut().find(|r| r.0 == server && r.1 == tool) {
                    for (per_test, r) in cell.2.iter_mut().zip(rows) {
                        per_test.extend(r);
                    }
                }
            }
        }
    }
    let table = render(&results, rounds, &tests);
    println!("\n{table}");
    std::fs::write(&args.markdown, &table)?;
    let mut csv = String::from(
        "server,tool,test,rps,p50_us,p90_us,p99_us,p999_us,errors,bytes_per_sec,handshakes_full,handshakes_resumed\n",
    );
    for (server, wrk, cells) in &results {
        for (test, r) in tests
            .iter()
            .zip(cells)
            .filter_map(|(t, c)| Some((t, median(c)?)))
        {
            let _ = writeln!(
                csv,
                "{},{},{},{:.0},{},{},{},{},{},{:.0},{},{}",
                server.label(),
                wrk.name(),
                test.label,
                r.rps,
                r.p50.as_micros(),
                r.p90.as_micros(),
                r.p99.as_micros(),
                r.p999.as_micros(),
                r.errors,
                r.bytes_per_sec,
                r.handshakes_full,
                r.handshakes_resumed
            );
        }
    }
    std::fs::write(&args.csv, csv)?;
    println!(
        "wrote {} and {}",
        args.csv.display(),
        args.markdown.display()
    );
    Ok(())
}

/// `boomerang serve`'s arguments for an `App` program (the json example): the same flags,
/// without the subcommand.
fn app_args(mut serve_args: Vec<String>) -> Vec<String> {
    if serve_args.first().is_some_and(|a| a == "serve") {
        serve_args.remove(0);
    }
    serve_args
}

/// A binary under this example's profile directory (`target/<profile>/<name>`: `axum-server`,
/// `examples/json`).
fn sibling_bin(name: &str) -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let profile_dir = me
        .parent()
        .and_then(Path::parent)
        .context("cannot locate the target directory")?;
    let bin = profile_dir.join(name);
    if !bin.exists() {
        bail!(
            "{} not found: build it first (`bench/compare` does)",
            bin.display()
        );
    }
    Ok(bin)
}

/// Where the packet captures go (none by default).
struct Captures {
    server: Option<PathBuf>,
    client: Option<PathBuf>,
}

/// What every server run shares.
struct Run<'a> {
    exe: &'a Path,
    /// The axum server's binary, when axum is compared.
    axum: Option<&'a Path>,
    site: &'a TempDir,
    pin: Pinning,
    duration: Duration,
    tests: &'a [Test],
    captures: &'a Captures,
    ns_tag: &'a str,
    loss: Option<u32>,
    mtu: u32,
    xdp_args: &'a str,
    alt_args: &'a str,
    alt_exe: &'a Path,
    /// The certificate, with `--https`.
    tls: Option<&'a Tls>,
}

fn measure(
    server: Server,
    tool: Tool,
    run: &Run,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<Vec<Option<LoadResult>>> {
    let Run {
        exe,
        site,
        pin,
        duration,
        ..
    } = *run;
    let xdp = matches!(server, Server::Xdp | Server::XdpAlt);
    let topo = Topology::new(run.ns_tag, !xdp)?;
    if run.mtu != 1500 {
        topo.set_mtu(run.mtu)?;
    }
    if let Some(loss) = run.loss {
        harness::set_impairment(&topo.ns.router, Some((loss, 0)))?;
    }
    let log = site.path().join(format!("{server:?}.log"));
    let mut nginx_dir = None;
    let tls_args: Vec<String> = run
        .tls
        .map(|t| {
            vec![
                "--tls-cert".into(),
                t.cert.to_string_lossy().into_owned(),
                "--tls-key".into(),
                t.key.to_string_lossy().into_owned(),
            ]
        })
        .unwrap_or_default();
    let mut proc = match server {
        Server::Xdp | Server::XdpAlt => {
            let mut serve_args = app_args(harness::xdp_serve_args(site.path()));
            let (extra, exe) = if server == Server::Xdp {
                (run.xdp_args, exe)
            } else {
                (run.alt_args, run.alt_exe)
            };
            serve_args.extend(extra.split_whitespace().map(String::from));
            serve_args.extend(tls_args.iter().cloned());
            if let Some(p) = &run.captures.server {
                serve_args.extend(["--pcap".into(), p.to_string_lossy().into_owned()]);
            }
            ServerProcess::spawn(
                &topo.ns.server,
                server.label(),
                Some(pin.server),
                exe,
                &serve_args,
                &log,
            )?
        }
        Server::Kernel => {
            let mut serve_args = app_args(harness::kernel_serve_args(site.path()));
            serve_args.extend(tls_args.iter().cloned());
            ServerProcess::spawn(
                &topo.ns.server,
                server.label(),
                Some(pin.server),
                exe,
                &serve_args,
                &log,
            )?
        }
        Server::Nginx => {
            let dir = TempDir::new("nginx")?;
            let conf = dir.path().join("nginx.conf");
            std::fs::write(&conf, nginx_conf(dir.path(), site.path(), run.tls))?;
            let p = ServerProcess::spawn(
                &topo.ns.server,
                "nginx",
                Some(pin.server),
                Path::new("/usr/sbin/nginx"),
                &["-c".to_string(), conf.to_string_lossy().into_owned()],
                &log,
            )?;
            // The config directory lives until this function returns (nginx is stopped first).
            nginx_dir = Some(dir);
            p
        }
        Server::Axum => ServerProcess::spawn(
            &topo.ns.server,
            "axum",
            Some(pin.server),
            run.axum.context("the axum server's binary")?,
            &[
                "--listen".to_string(),
                topo.server_addr().to_string(),
                "--threads".to_string(),
                "1".to_string(),
            ],
            &log,
        )?,
    };
    let probe = run
        .tls
        .map(|t| {
            let name = Routed::SERVER_ADDR.to_string();
            TlsClient::from_ca_file(&t.cert, &name, Resumption::Full)
        })
        .transpose()?;
    proc.wait_ready_tls(
        &topo.ns.client,
        topo.server_addr(),
        "/plaintext",
        probe.as_ref(),
        stop,
    )?;
    // tcpdump next to the client, stopped by PID when its guard drops (after the loads)
    let tcpdump = match &run.captures.client {
        Some(p) => Some(ServerProcess::spawn(
            &topo.ns.router,
            "tcpdump",
            None,
            Path::new("tcpdump"),
            &[
                "-i".into(),
                "vc".into(),
                "-n".into(),
                "-s".into(),
                "512".into(),
                "-B".into(),
                "65536".into(),
                "-w".into(),
                p.to_string_lossy().into_owned(),
                "tcp".into(),
                "port".into(),
                harness::PORT.to_string(),
            ],
            &site.path().join("tcpdump.log"),
        )?),
        None => None,
    };
    if tcpdump.is_some() {
        std::thread::sleep(Duration::from_millis(500)); // let tcpdump open the interface
    }
    let scratch = TempDir::new("cmpw")?;
    let mut rows = Vec::new();
    for test in run.tests {
        if stop.load(Ordering::Relaxed) {
            bail!("interrupted");
        }
        if !server.serves(test) || !measures(tool, test) {
            rows.push(None);
            continue;
        }
        eprint!(
            "  {:<20} {:<13} {:<46}",
            server.label(),
            tool.name(),
            test.label
        );
        let url = topo.url(test.path);
        let spec = LoadSpec {
            url: match test.tls {
                Some(_) => url.replacen("http://", "https://", 1),
                None => url,
            },
            connections: test.connections,
            duration,
            close: test.close,
            cpu: Some(pin.client),
            timeout: harness::DEFAULT_LOAD_TIMEOUT,
            tls: test.tls.zip(run.tls).map(|(resumption, t)| TlsSpec {
                ca: t.cert.clone(),
                resumption,
            }),
        };
        let r = match tool {
            Tool::Wrk => harness::run_wrk(&topo.ns.client, &spec, scratch.path())?,
            Tool::Builtin => {
                harness::run_builtin(&topo.ns.client, &spec, Progress::Silent, Some(stop.clone()))?
            }
            Tool::StackClient => harness::run_stack_client(
                &topo.ns.client,
                &spec,
                Progress::Silent,
                Some(stop.clone()),
            )?,
        };
        if r.handshakes_full + r.handshakes_resumed > 0 {
            eprintln!(
                " {:>9.0} req/s  p99 {}  handshakes {} full, {} resumed",
                r.rps,
                fmt_duration(r.p99),
                r.handshakes_full,
                r.handshakes_resumed
            );
        } else {
            eprintln!(" {:>9.0} req/s  p99 {}", r.rps, fmt_duration(r.p99));
        }
        rows.push(Some(r));
    }
    drop(tcpdump);
    let _ = proc.stop(harness::STOP_TIMEOUT);
    drop(nginx_dir);
    Ok(rows)
}

/// The median of `xs` (the upper one of an even count); `None` when empty.
fn median_f64(mut xs: Vec<f64>) -> Option<f64> {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied()
}

/// The round whose request rate is the median of a cell (its latencies go with it).
fn median(cell: &Rounds) -> Option<&LoadResult> {
    let rate = median_f64(cell.iter().map(|r| r.rps).collect())?;
    cell.iter().find(|r| r.rps == rate)
}

/// The median over rounds of `ours / nginx`, paired round by round, with the range.
fn paired_ratio(ours: &Rounds, nginx: &Rounds) -> Option<(f64, f64, f64)> {
    let ratios: Vec<f64> = ours
        .iter()
        .zip(nginx)
        .filter(|(_, n)| n.rps > 0.0)
        .map(|(o, n)| o.rps / n.rps)
        .collect();
    let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ratios.iter().copied().fold(0.0, f64::max);
    median_f64(ratios).map(|m| (m, lo, hi))
}

fn render(results: &[(Server, Tool, Vec<Rounds>)], rounds: usize, tests: &[Test]) -> String {
    let mut out = String::new();
    let mut tools: Vec<Tool> = Vec::new();
    for r in results {
        if !tools.contains(&r.1) {
            tools.push(r.1);
        }
    }
    for tool in tools {
        let group: Vec<&(Server, Tool, Vec<Rounds>)> =
            results.iter().filter(|r| r.1 == tool).collect();
        let nginx = group.iter().find(|r| r.0 == Server::Nginx);
        let _ = writeln!(
            out,
            "Load generator: {}{}\n",
            match tool {
                Tool::Wrk => "wrk (1 thread)",
                Tool::Builtin => "boomerang load on kernel sockets (1 thread)",
                Tool::StackClient => "boomerang load on its own stack over AF_XDP (1 thread)",
            },
            if rounds > 1 {
                format!(
                    "; medians of {rounds} rounds, × nginx = median of per-round ratios (range)"
                )
            } else {
                String::new()
            }
        );
        let mut header = String::from("| test |");
        let mut sep = String::from("|---|");
        for (s, ..) in &group {
            let _ = write!(header, " {} req/s | p99 |", s.label());
            sep.push_str("---:|---:|");
            if nginx.is_some() && *s != Server::Nginx {
                header.push_str(" × nginx |");
                sep.push_str("---:|");
            }
        }
        let _ = writeln!(out, "{header}\n{sep}");
        for (i, test) in tests.iter().enumerate() {
            let _ = write!(out, "| {} |", test.label);
            for (s, _, cells) in &group {
                let ratio_column = nginx.is_some() && *s != Server::Nginx;
                let Some(r) = cells.get(i).and_then(median) else {
                    out.push_str(if ratio_column {
                        " - | - | - |"
                    } else {
                        " - | - |"
                    });
                    continue;
                };
                let _ = write!(out, " {:.0} | {} |", r.rps, fmt_duration(r.p99));
                if let Some((_, _, ncells)) = nginx {
                    if *s != Server::Nginx {
                        let ratio = cells
                            .get(i)
                            .zip(ncells.get(i))
                            .and_then(|(o, n)| paired_ratio(o, n));
                        match ratio {
                            Some((m, lo, hi)) if rounds > 1 => {
                                let _ = write!(out, " {m:.2} ({lo:.2}–{hi:.2}) |");
                            }
                            Some((m, ..)) => {
                                let _ = write!(out, " {m:.2} |");
                            }
                            None => out.push_str(" - |"),
                        }
                    }
                }
            }
            out.push('\n');
        }
        let errors: u64 = group
            .iter()
            .flat_map(|g| g.2.iter().flatten())
            .map(|r| r.errors)
            .sum();
        let _ = writeln!(out, "\nErrors over all runs: {errors}\n");
    }
    out
}
