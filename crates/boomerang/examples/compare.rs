//! The side-by-side comparison behind `bench/compare` (DESIGN.md §6): in the same
//! client – router – server namespaces, with the server pinned to one CPU and the load to
//! another, it measures boomerang on AF_XDP, boomerang `--kernel` and nginx (1 worker,
//! configured here, started inside the server namespace, stopped by PID) with the same wrk
//! arguments, prints a table with ratios to nginx and writes a CSV for the chart.
//!
//! `cargo run --release -p boomerang --example compare -- [--duration 5s] [--tool wrk|builtin|both] [--csv FILE] [--markdown FILE]`

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use boomerang::harness::{
    self, LoadResult, LoadSpec, Pinning, ServerProcess, TempDir, Tool, Topology,
};
use boomerang::load::{fmt_duration, Progress};
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
    /// Only these servers (comma separated: xdp,kernel,nginx; xdp-alt is boomerang on
    /// AF_XDP with `--alt-args`, for an A/B in the same run).
    #[arg(long, default_value = "xdp,kernel,nginx")]
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
}

/// (label, path, connections, Connection: close)
const TESTS: [(&str, &str, usize, bool); 5] = [
    ("plaintext keep-alive c64", "/plaintext", 64, false),
    ("plaintext keep-alive c256", "/plaintext", 256, false),
    ("plaintext Connection: close c64", "/plaintext", 64, true),
    ("64 KiB file c64", "/64k.bin", 64, false),
    ("1 MiB file c16", "/1m.bin", 16, false),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    Xdp,
    XdpAlt,
    Kernel,
    Nginx,
}

impl Server {
    fn label(self) -> &'static str {
        match self {
            Server::Xdp => "boomerang AF_XDP",
            Server::XdpAlt => "boomerang AF_XDP (alt)",
            Server::Kernel => "boomerang --kernel",
            Server::Nginx => "nginx",
        }
    }
}

fn nginx_conf(dir: &Path, site: &Path) -> String {
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
        listen {addr}:{port} reuseport backlog=4096;
        root {site};
        location = /plaintext {{ default_type text/plain; return 200 "Hello, World!"; }}
    }}
}}
"#,
        dir = dir.display(),
        site = site.display(),
        addr = Routed::SERVER_ADDR,
        port = harness::PORT,
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
            o => Err(anyhow::anyhow!("unknown server {o}")),
        })
        .collect::<anyhow::Result<_>>()?;
    let stop = boomerang::signals::cleanup_flag()?;
    let exe = boomerang_bin()?;
    let pin = Pinning::from_allowed();
    let site = TempDir::new("cmp")?;
    harness::write_site(site.path())?;
    println!(
        "server on CPU {}, load on CPU {}, {} per test, wrk 1 thread, MTU {}",
        pin.server,
        pin.client,
        fmt_duration(args.duration),
        args.mtu
    );
    // results[server][tool][test]
    let mut results: Vec<(Server, Tool, Vec<LoadResult>)> = Vec::new();
    for &server in &servers {
        for &tool in &tools {
            if stop.load(Ordering::Relaxed) {
                bail!("interrupted");
            }
            let rows = measure(server, tool, &exe, &site, pin, &args, &stop)
                .with_context(|| format!("measuring {}", server.label()))?;
            results.push((server, tool, rows));
        }
    }
    let table = render(&results);
    println!("\n{table}");
    std::fs::write(&args.markdown, &table)?;
    let mut csv =
        String::from("server,tool,test,rps,p50_us,p90_us,p99_us,p999_us,errors,bytes_per_sec\n");
    for (server, wrk, rows) in &results {
        for ((label, ..), r) in TESTS.iter().zip(rows) {
            let _ = writeln!(
                csv,
                "{},{},{},{:.0},{},{},{},{},{},{:.0}",
                server.label(),
                wrk.name(),
                label,
                r.rps,
                r.p50.as_micros(),
                r.p90.as_micros(),
                r.p99.as_micros(),
                r.p999.as_micros(),
                r.errors,
                r.bytes_per_sec
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

/// The boomerang binary next to this example (`target/<profile>/boomerang`).
fn boomerang_bin() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let profile_dir = me
        .parent()
        .and_then(Path::parent)
        .context("cannot locate the target directory")?;
    let bin = profile_dir.join("boomerang");
    if !bin.exists() {
        bail!(
            "{} not found: build it first (`cargo build --release -p boomerang`)",
            bin.display()
        );
    }
    Ok(bin)
}

fn measure(
    server: Server,
    tool: Tool,
    exe: &Path,
    site: &TempDir,
    pin: Pinning,
    args: &Args,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<Vec<LoadResult>> {
    let duration = args.duration;
    let xdp = matches!(server, Server::Xdp | Server::XdpAlt);
    let topo = Topology::new("cmp", !xdp)?;
    if args.mtu != 1500 {
        topo.set_mtu(args.mtu)?;
    }
    let log = site.path().join(format!("{server:?}.log"));
    let mut nginx_dir = None;
    let mut proc = match server {
        Server::Xdp | Server::XdpAlt => {
            let extra = if server == Server::Xdp {
                &args.xdp_args
            } else {
                &args.alt_args
            };
            let mut a = harness::xdp_serve_args(site.path());
            a.extend(extra.split_whitespace().map(String::from));
            ServerProcess::spawn(
                &topo.ns.server,
                server.label(),
                Some(pin.server),
                exe,
                &a,
                &log,
            )?
        }
        Server::Kernel => ServerProcess::spawn(
            &topo.ns.server,
            server.label(),
            Some(pin.server),
            exe,
            &harness::kernel_serve_args(site.path()),
            &log,
        )?,
        Server::Nginx => {
            let dir = TempDir::new("nginx")?;
            let conf = dir.path().join("nginx.conf");
            std::fs::write(&conf, nginx_conf(dir.path(), site.path()))?;
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
    };
    proc.wait_ready(&topo.ns.client, topo.server_addr(), "/plaintext", stop)?;
    let scratch = TempDir::new("cmpw")?;
    let mut rows = Vec::new();
    for (label, path, connections, close) in TESTS {
        if stop.load(Ordering::Relaxed) {
            bail!("interrupted");
        }
        eprint!("  {:<20} {:<13} {label:<34}", server.label(), tool.name());
        let spec = LoadSpec {
            url: topo.url(path),
            connections,
            duration,
            close,
            cpu: Some(pin.client),
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
        eprintln!(" {:>9.0} req/s  p99 {}", r.rps, fmt_duration(r.p99));
        rows.push(r);
    }
    let _ = proc.stop(harness::STOP_TIMEOUT);
    drop(nginx_dir);
    Ok(rows)
}

fn render(results: &[(Server, Tool, Vec<LoadResult>)]) -> String {
    let mut out = String::new();
    let mut tools: Vec<Tool> = Vec::new();
    for r in results {
        if !tools.contains(&r.1) {
            tools.push(r.1);
        }
    }
    for tool in tools {
        let group: Vec<&(Server, Tool, Vec<LoadResult>)> =
            results.iter().filter(|r| r.1 == tool).collect();
        let nginx = group.iter().find(|r| r.0 == Server::Nginx);
        let _ = writeln!(
            out,
            "Load generator: {}\n",
            match tool {
                Tool::Wrk => "wrk (1 thread)",
                Tool::Builtin => "boomerang load on kernel sockets (1 thread)",
                Tool::StackClient => "boomerang load on its own stack over AF_XDP (1 thread)",
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
        for (i, (label, ..)) in TESTS.iter().enumerate() {
            let _ = write!(out, "| {label} |");
            for (s, _, rows) in &group {
                let Some(r) = rows.get(i) else { continue };
                let _ = write!(out, " {:.0} | {} |", r.rps, fmt_duration(r.p99));
                if let Some((_, _, nrows)) = nginx {
                    if *s != Server::Nginx {
                        match nrows.get(i) {
                            Some(n) if n.rps > 0.0 => {
                                let _ = write!(out, " {:.2} |", r.rps / n.rps);
                            }
                            _ => out.push_str(" - |"),
                        }
                    }
                }
            }
            out.push('\n');
        }
        let errors: u64 = group
            .iter()
            .flat_map(|g| g.2.iter())
            .map(|r| r.errors)
            .sum();
        let _ = writeln!(out, "\nErrors over all runs: {errors}\n");
    }
    out
}
