//! What the demo, the comparison harness and the end-to-end tests share: the client –
//! router – server namespaces, a server process started inside the server namespace
//! (killed by PID when its guard drops), readiness probes (over HTTP or HTTPS), and load
//! runs with wrk or the built-in generator (either over HTTPS too), reduced to one
//! [`LoadResult`] row each.
//!
//! Invariants: every namespace comes from `boomerang_nic::netns` (named `bmr…`, addresses
//! in 198.18.0.0/15, no default route, deleted on drop); every process started here is
//! stopped by its own PID when its guard drops, even on error or Ctrl-C.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use boomerang_nic::netns::{Netns, Routed};

use crate::load::{self, LoadOptions, Progress, Resumption, Target, TlsClient};

/// Port every server of the harness listens on.
pub const PORT: u16 = 8080;
/// How long a server gets to answer its first request after starting.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a server gets to exit after SIGTERM before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(8);
/// Bytes of the medium static file (`/64k.bin`).
pub const FILE_64K: usize = 64 * 1024;
/// Bytes of the large static file (`/1m.bin`).
pub const FILE_1M: usize = 1024 * 1024;

/// Where the server and the load generator run: different CPUs when there are two or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pinning {
    /// The server's CPU.
    pub server: usize,
    /// The load generator's CPU.
    pub client: usize,
}

impl Pinning {
    /// First allowed CPU for the server, last for the client.
    pub fn from_allowed() -> Pinning {
        let cpus = crate::os::allowed_cpus();
        Pinning {
            server: cpus.first().copied().unwrap_or(0),
            client: cpus.last().copied().unwrap_or(0),
        }
    }
}

/// A directory deleted (with its contents) on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `/tmp/bmr-<tag>-<pid>-<n>`.
    pub fn new(tag: &str) -> anyhow::Result<TempDir> {
        let path = std::env::temp_dir().join(boomerang_nic::netns::unique_name(tag));
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(TempDir { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Writes the static files every server of the harness serves: `index.html`, `64k.bin`,
/// `1m.bin` (deterministic contents, so downloads can be compared byte for byte).
pub fn write_site(dir: &Path) -> anyhow::Result<()> {
    std::fs::write(
        dir.join("index.html"),
        b"<!doctype html><title>boomerang</title><p>Hello from boomerang.</p>\n",
    )?;
    std::fs::write(dir.join("64k.bin"), pattern(FILE_64K))?;
    std::fs::write(dir.join("1m.bin"), pattern(FILE_1M))?;
    Ok(())
}

/// `len` bytes of a fixed, non-repeating-looking pattern.
pub fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// The three namespaces and everything the harness needs to know about them.
#[derive(Debug)]
pub struct Topology {
    /// client – router – server.
    pub ns: Routed,
    /// Whether the server namespace's kernel owns the server address (kernel servers) or not
    /// (our stack owns it on AF_XDP).
    pub kernel_addr: bool,
}

impl Topology {
    /// Builds the namespaces; `kernel_addr` gives the server namespace's kernel the server
    /// address (for `serve --kernel` and nginx).
    pub fn new(tag: &str, kernel_addr: bool) -> anyhow::Result<Topology> {
        Self::with_queues(tag, kernel_addr, 1)
    }

    /// Like [`Topology::new`] with `queues` RX/TX queues on every veth.
    pub fn with_queues(tag: &str, kernel_addr: bool, queues: u32) -> anyhow::Result<Topology> {
        let ns = Routed::new(tag, queues, kernel_addr).context(
            "cannot create the client/router/server network namespaces (needs root and iproute2)",
        )?;
        // Short connections from one client address: let the client reuse TIME-WAIT ports.
        ns.client.sysctl("net.ipv4.tcp_tw_reuse", "1").ok();
        ns.client
            .sysctl("net.ipv4.ip_local_port_range", "1024 65000")
            .ok();
        Ok(Topology { ns, kernel_addr })
    }

    /// Sets the MTU of every veth of the topology (both ends of both links), so that every
    /// server measured on it sees the same links (e.g. 9000 for jumbo frames).
    pub fn set_mtu(&self, mtu: u32) -> anyhow::Result<()> {
        let m = mtu.to_string();
        for (ns, ifname) in [
            (&self.ns.client, "veth0"),
            (&self.ns.router, "vc"),
            (&self.ns.router, "vs"),
            (&self.ns.server, "veth0"),
        ] {
            ns.ip(&["link", "set", "dev", ifname, "mtu", &m])
                .with_context(|| format!("cannot set MTU {mtu} on {ifname}"))?;
        }
        Ok(())
    }

    /// The server's address and the harness port.
    pub fn server_addr(&self) -> SocketAddr {
        SocketAddr::from((Routed::SERVER_ADDR, PORT))
    }

    /// `http://<server>:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server_addr())
    }
}

/// Arguments of `boomerang serve` on AF_XDP on the server side of [`Routed`].
pub fn xdp_serve_args(root: &Path) -> Vec<String> {
    vec![
        "serve".into(),
        "--iface".into(),
        "veth0".into(),
        "--addr".into(),
        format!("{}/{}", Routed::SERVER_ADDR, Routed::PREFIX),
        "--gateway".into(),
        Routed::ROUTER_SERVER_ADDR.to_string(),
        "--port".into(),
        PORT.to_string(),
        "--root".into(),
        root.to_string_lossy().into_owned(),
    ]
}

/// Arguments of `boomerang serve --kernel` on the server side of [`Routed`].
pub fn kernel_serve_args(root: &Path) -> Vec<String> {
    vec![
        "serve".into(),
        "--kernel".into(),
        "--listen".into(),
        SocketAddr::from((Routed::SERVER_ADDR, PORT)).to_string(),
        "--root".into(),
        root.to_string_lossy().into_owned(),
    ]
}

/// A process started inside a namespace; stopped by PID (SIGTERM, then SIGKILL) on drop.
#[derive(Debug)]
pub struct ServerProcess {
    child: Option<Child>,
    /// What it is, for messages.
    pub name: String,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

impl ServerProcess {
    /// Starts `program args…` in `ns`, pinned to `cpu` with taskset when given, output to `log`.
    pub fn spawn(
        ns: &Netns,
        name: &str,
        cpu: Option<usize>,
        program: &Path,
        args: &[String],
        log: &Path,
    ) -> anyhow::Result<ServerProcess> {
        let out = std::fs::File::create(log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let err = out.try_clone()?;
        let mut cmd = match cpu {
            Some(c) => {
                let mut cmd = ns.command("taskset");
                cmd.arg("-c").arg(c.to_string()).arg(program);
                cmd
            }
            None => ns.command(&program.to_string_lossy()),
        };
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {name} ({})", program.display()))?;
        tracing::debug!(name, pid = child.id(), "started");
        Ok(ServerProcess {
            child: Some(child),
            name: name.to_string(),
            log: log.to_path_buf(),
        })
    }

    /// The PID.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The last lines of its log (for error messages).
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Waits until `GET /plaintext` (or `probe_path`) on `addr`, sent from inside `client`,
    /// gets any HTTP response; fails early if the process exits.
    pub fn wait_ready(
        &mut self,
        client: &Netns,
        addr: SocketAddr,
        probe_path: &str,
        stop: &AtomicBool,
    ) -> anyhow::Result<Duration> {
        self.wait_ready_tls(client, addr, probe_path, None, stop)
    }

    /// Like [`ServerProcess::wait_ready`], over HTTPS when `tls` is given (the server's
    /// certificate verified by it).
    pub fn wait_ready_tls(
        &mut self,
        client: &Netns,
        addr: SocketAddr,
        probe_path: &str,
        tls: Option<&TlsClient>,
        stop: &AtomicBool,
    ) -> anyhow::Result<Duration> {
        let start = Instant::now();
        loop {
            if stop.load(Ordering::Relaxed) {
                bail!("interrupted");
            }
            if let Some(status) = self.try_wait()? {
                bail!(
                    "{} exited ({status}) before answering; its log:\n{}",
                    self.name,
                    self.log_tail(30)
                );
            }
            let path = probe_path.to_string();
            let tls = tls.cloned();
            let ok = client
                .enter(move || {
                    let timeout = Duration::from_millis(500);
                    match &tls {
                        Some(t) => https_get(addr, &path, t, timeout).is_ok(),
                        None => http_get(addr, &path, timeout).is_ok(),
                    }
                })
                .unwrap_or(false);
            if ok {
                return Ok(start.elapsed());
            }
            if start.elapsed() > READY_TIMEOUT {
                bail!(
                    "{} did not answer on {addr} within {READY_TIMEOUT:?}; its log:\n{}",
                    self.name,
                    self.log_tail(30)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether it has exited (and how).
    pub fn try_wait(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        match self.child.as_mut() {
            Some(c) => Ok(c.try_wait()?),
            None => Ok(None),
        }
    }

    /// Sends `signal` (e.g. `TERM`, `KILL`) to the process by PID.
    pub fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let pid = self.pid().context("process already reaped")?;
        boomerang_nic::netns::run_cmd("kill", &[format!("-{signal}"), pid.to_string()])?;
        Ok(())
    }

    /// Waits up to `timeout` for the process to exit by itself (no signal sent).
    pub fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<Option<ExitStatus>> {
        let start = Instant::now();
        loop {
            if let Some(st) = self.try_wait()? {
                return Ok(Some(st));
            }
            if start.elapsed() >= timeout {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, wait up to `timeout`, then SIGKILL; returns the exit status and whether it
    /// exited by itself within the timeout.
    pub fn stop(&mut self, timeout: Duration) -> anyhow::Result<(ExitStatus, bool)> {
        let Some(mut child) = self.child.take() else {
            bail!("{} was already stopped", self.name);
        };
        if child.try_wait()?.is_none() {
            let _ = boomerang_nic::netns::run_cmd("kill", &["-TERM", &child.id().to_string()]);
        }
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some(st) = child.try_wait()? {
                return Ok((st, true));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        Ok((child.wait()?, false))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.stop(STOP_TIMEOUT);
        }
    }
}

/// Largest response [`http_get`] accepts.
pub const MAX_GET_BYTES: usize = 64 << 20;

/// One blocking `GET path` to `addr` with `Connection: close`; returns the status and body.
pub fn http_get(addr: SocketAddr, path: &str, timeout: Duration) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.take(MAX_GET_BYTES as u64).read_to_end(&mut raw)?;
    parse_get_response(&raw)
}

/// Like [`http_get`] over HTTPS, verifying the server with `tls`; the response ends with
/// the server's `close_notify` or its FIN.
pub fn https_get(
    addr: SocketAddr,
    path: &str,
    tls: &TlsClient,
    timeout: Duration,
) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let mut conn = tls.connect()?;
    conn.send(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let (mut raw, mut buf) = (Vec::new(), vec![0u8; 64 * 1024]);
    loop {
        conn.flush(&mut s)?;
        let n = s.read(&mut buf)?;
        if n == 0 || conn.receive(buf.get(..n).unwrap_or_default(), &mut raw)? {
            break;
        }
        if raw.len() > MAX_GET_BYTES {
            bail!("response larger than {MAX_GET_BYTES} bytes");
        }
    }
    parse_get_response(&raw)
}

/// The status and body of one whole response.
fn parse_get_response(raw: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(raw)? {
        httparse::Status::Complete(n) => Ok((
            resp.code.context("no status")?,
            raw.get(n..).unwrap_or_default().to_vec(),
        )),
        httparse::Status::Partial => bail!("incomplete response ({} bytes)", raw.len()),
    }
}

/// Which load generator produced a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// wrk (`--latency`, percentiles from its Lua `done` hook).
    Wrk,
    /// `boomerang load` on kernel sockets.
    Builtin,
    /// `boomerang load --iface` (the client on our own stack over AF_XDP).
    StackClient,
}

impl Tool {
    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Wrk => "wrk",
            Tool::Builtin => "builtin",
            Tool::StackClient => "builtin-afxdp",
        }
    }
}

/// One load run, reduced to what the tables show.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadResult {
    /// Completed requests.
    pub requests: u64,
    /// Requests per second.
    pub rps: f64,
    /// Body/transfer bytes per second (wrk: everything read; builtin: body bytes).
    pub bytes_per_sec: f64,
    /// Latency percentiles p50, p90, p99, p99.9.
    pub p50: Duration,
    /// See `p50`.
    pub p90: Duration,
    /// See `p50`.
    pub p99: Duration,
    /// See `p50`.
    pub p999: Duration,
    /// Socket errors + timeouts + status ≥ 400 (+ TLS failures of the built-in generator).
    pub errors: u64,
    /// Full TLS handshakes (built-in generator over HTTPS; wrk does not tell).
    pub handshakes_full: u64,
    /// Resumed TLS handshakes (likewise).
    pub handshakes_resumed: u64,
    /// Which tool.
    pub tool: Tool,
}

/// What to load.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// Full URL.
    pub url: String,
    /// Concurrent connections.
    pub connections: usize,
    /// Duration.
    pub duration: Duration,
    /// `Connection: close` on every request.
    pub close: bool,
    /// CPU for the load generator.
    pub cpu: Option<usize>,
    /// A request not answered within this long counts as an error ([`DEFAULT_LOAD_TIMEOUT`]).
    pub timeout: Duration,
    /// For an `https://` URL: what the built-in generator verifies and resumes (wrk
    /// verifies nothing and ignores it).
    pub tls: Option<TlsSpec>,
}

/// HTTPS settings of the built-in generator in a [`LoadSpec`].
#[derive(Debug, Clone)]
pub struct TlsSpec {
    /// The CA certificate file (PEM) the server's certificate must chain to.
    pub ca: PathBuf,
    /// Full handshakes on every connection, or resumed ones from session tickets.
    pub resumption: Resumption,
}

/// The per-request timeout of benchmark loads (wrk's `--timeout`, the built-in generator's).
pub const DEFAULT_LOAD_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether wrk is on the PATH.
pub fn wrk_installed() -> bool {
    Command::new("wrk")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// wrk's Lua `done` hook: one machine-readable line with the percentiles we need.
const WRK_REPORT_LUA: &str = r#"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BMR requests=%d duration_us=%d bytes=%d errors=%d p50=%d p90=%d p99=%d p999=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration, summary.bytes,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"#;

/// Runs wrk inside `client` (1 thread, pinned) and parses its report line.
pub fn run_wrk(client: &Netns, spec: &LoadSpec, scratch: &Path) -> anyhow::Result<LoadResult> {
    run_wrk_with_error_kinds(client, spec, scratch).map(|(r, _)| r)
}

/// [`run_wrk`], also returning wrk's errors by kind (`connect 0, read 1, …`; empty when
/// there were none).
pub fn run_wrk_with_error_kinds(
    client: &Netns,
    spec: &LoadSpec,
    scratch: &Path,
) -> anyhow::Result<(LoadResult, String)> {
    let script = scratch.join("bmr-report.lua");
    std::fs::write(&script, WRK_REPORT_LUA)?;
    let secs = spec.duration.as_secs().max(1).to_string();
    let mut args: Vec<String> = Vec::new();
    let program = match spec.cpu {
        Some(c) => {
            args.extend(["-c".into(), c.to_string(), "wrk".into()]);
            "taskset"
        }
        None => "wrk",
    };
    args.extend([
        "-t1".into(),
        format!("-c{}", spec.connections),
        format!("-d{secs}s"),
        "--timeout".into(),
        // wrk takes whole seconds (`2s`, `2m`), not milliseconds.
        format!("{}s", spec.timeout.as_secs_f64().ceil().max(1.0)),
        "-s".into(),
        script.to_string_lossy().into_owned(),
    ]);
    if spec.close {
        args.extend(["-H".into(), "Connection: close".into()]);
    }
    args.push(spec.url.clone());
    let out = client
        .command(program)
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .context("cannot run wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "wrk failed ({}): {}{}",
            out.status,
            text,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let result =
        parse_wrk_report(&text).with_context(|| format!("unexpected wrk output:\n{text}"))?;
    Ok((result, wrk_error_kinds(&text)))
}

/// wrk's errors by kind from the `BMR …` line, e.g. `connect 0, read 1, write 0, status 0,
/// timeout 0`; empty when there were none.
pub fn wrk_error_kinds(text: &str) -> String {
    let Some(line) = text.lines().find(|l| l.starts_with("BMR ")) else {
        return String::new();
    };
    let kinds: Vec<(&str, u64)> = ["connect", "read", "write", "status", "timeout"]
        .iter()
        .filter_map(|k| {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
                .and_then(|v| v.parse().ok())
                .map(|v| (*k, v))
        })
        .collect();
    if kinds.iter().all(|(_, v)| *v == 0) {
        return String::new();
    }
    kinds
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses the `BMR …` line written by [`WRK_REPORT_LUA`].
pub fn parse_wrk_report(text: &str) -> anyhow::Result<LoadResult> {
    let line = text
        .lines()
        .find(|l| l.starts_with("BMR "))
        .context("no report line")?;
    let field = |name: &str| -> anyhow::Result<f64> {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
            .context(format!("no {name}"))?
            .parse::<f64>()
            .context(format!("bad {name}"))
    };
    let dur_s = (field("duration_us")? / 1e6).max(1e-6);
    let us = |v: f64| Duration::from_micros(v.max(0.0) as u64);
    Ok(LoadResult {
        requests: field("requests")? as u64,
        rps: field("requests")? / dur_s,
        bytes_per_sec: field("bytes")? / dur_s,
        p50: us(field("p50")?),
        p90: us(field("p90")?),
        p99: us(field("p99")?),
        p999: us(field("p999")?),
        errors: field("errors")? as u64,
        handshakes_full: 0,
        handshakes_resumed: 0,
        tool: Tool::Wrk,
    })
}

/// The AF_XDP load client's address in the client namespace of [`Routed`] (next to the
/// kernel's own address there).
pub const STACK_CLIENT_ADDR: std::net::Ipv4Addr = std::net::Ipv4Addr::new(198, 18, 1, 2);

/// Runs the built-in generator on a thread inside `client` on kernel sockets; `progress`
/// prints per second.
pub fn run_builtin(
    client: &Netns,
    spec: &LoadSpec,
    progress: Progress,
    cancel: Option<Arc<AtomicBool>>,
) -> anyhow::Result<LoadResult> {
    run_generator(client, spec, progress, cancel, None)
}

/// Runs the built-in generator inside `client` on our own stack over AF_XDP (on the client
/// namespace's `veth0`, address [`STACK_CLIENT_ADDR`], gateway the router).
pub fn run_stack_client(
    client: &Netns,
    spec: &LoadSpec,
    progress: Progress,
    cancel: Option<Arc<AtomicBool>>,
) -> anyhow::Result<LoadResult> {
    let sc = load::StackClient {
        iface: "veth0".into(),
        addr: boomerang_wire::Ipv4Cidr {
            address: STACK_CLIENT_ADDR,
            prefix_len: Routed::PREFIX,
        },
        gateway: Some(Routed::ROUTER_CLIENT_ADDR),
    };
    run_generator(client, spec, progress, cancel, Some(sc))
}

fn run_generator(
    client: &Netns,
    spec: &LoadSpec,
    progress: Progress,
    cancel: Option<Arc<AtomicBool>>,
    stack: Option<load::StackClient>,
) -> anyhow::Result<LoadResult> {
    let tool = if stack.is_some() {
        Tool::StackClient
    } else {
        Tool::Builtin
    };
    let target = Target::parse(&spec.url)?;
    let tls = match (&spec.tls, target.https) {
        (Some(t), true) => Some(TlsClient::from_ca_file(&t.ca, &target.name, t.resumption)?),
        (None, true) => bail!(
            "{}: the built-in generator needs a CA file for https",
            spec.url
        ),
        (_, false) => None,
    };
    let opts = LoadOptions {
        target,
        tls,
        connections: spec.connections,
        duration: spec.duration,
        close: spec.close,
        threads: 1,
        requests: None,
        timeout: spec.timeout,
        pin: spec.cpu.into_iter().collect(),
        stack,
    };
    let report = client
        .enter(move || load::run_with_stop(&opts, progress, cancel))
        .context("cannot enter the client namespace")??;
    let secs = report.elapsed.as_secs_f64().max(1e-6);
    Ok(LoadResult {
        requests: report.requests,
        rps: report.requests_per_sec(),
        bytes_per_sec: report.body_bytes as f64 / secs,
        p50: report.percentile(50.0),
        p90: report.percentile(90.0),
        p99: report.percentile(99.0),
        p999: report.percentile(99.9),
        errors: report.errors.total(),
        handshakes_full: report.handshakes_full,
        handshakes_resumed: report.handshakes_resumed,
        tool,
    })
}

/// Renders rows `(label, result)` as an aligned text table.
pub fn render_table(rows: &[(String, LoadResult)]) -> String {
    let fmt = load::fmt_duration;
    let header = ["test", "requests/s", "p50", "p90", "p99", "p99.9", "errors"];
    let mut cells: Vec<[String; 7]> = vec![header.map(String::from)];
    for (label, r) in rows {
        cells.push([
            label.clone(),
            format!("{:.0}", r.rps),
            fmt(r.p50),
            fmt(r.p90),
            fmt(r.p99),
            fmt(r.p999),
            r.errors.to_string(),
        ]);
    }
    let mut widths = [0usize; 7];
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for (i, row) in cells.iter().enumerate() {
        for (j, (c, w)) in row.iter().zip(widths.iter()).enumerate() {
            let pad = w - c.chars().count();
            if j == 0 {
                let _ = write!(out, "  {c}{}", " ".repeat(pad));
            } else {
                let _ = write!(out, "  {}{c}", " ".repeat(pad));
            }
        }
        out.push('\n');
        if i == 0 {
            let total: usize = widths.iter().sum::<usize>() + 2 * widths.len();
            let _ = writeln!(out, "  {}", "-".repeat(total));
        }
    }
    out
}

/// client – mid – server namespaces for the impairment forwarder (`crates/nic/examples/netsim.rs`,
/// run in `mid` between `va` and `vb`): the client at [`NetsimPath::CLIENT_ADDR`] on its
/// `veth0`; on the server's `veth0` the kernel owns [`NetsimPath::KERNEL_ADDR`] and boomerang
/// serves [`NetsimPath::OURS_ADDR`] on AF_XDP (its XDP program passes the kernel's traffic
/// through), so both servers see the same path. IPv6 is off and `mid` does not forward: only
/// netsim moves frames.
#[derive(Debug)]
pub struct NetsimPath {
    /// Where the client runs.
    pub client: Netns,
    /// Where netsim runs.
    pub mid: Netns,
    /// Where both servers run.
    pub server: Netns,
}

impl NetsimPath {
    /// The client's address.
    pub const CLIENT_ADDR: std::net::Ipv4Addr = std::net::Ipv4Addr::new(198, 18, 0, 1);
    /// boomerang's address on the server's veth.
    pub const OURS_ADDR: std::net::Ipv4Addr = std::net::Ipv4Addr::new(198, 18, 0, 2);
    /// The server kernel's address on the same veth.
    pub const KERNEL_ADDR: std::net::Ipv4Addr = std::net::Ipv4Addr::new(198, 18, 0, 3);

    /// `boomerang serve` on AF_XDP at [`NetsimPath::OURS_ADDR`] on the server's veth, files
    /// from `root`, with the congestion control `congestion`.
    pub fn serve_args(root: &Path, congestion: &str) -> Vec<String> {
        let addr = format!("{}/24", Self::OURS_ADDR);
        let (port, root) = (PORT.to_string(), root.to_string_lossy().into_owned());
        [
            "serve", "--iface", "veth0", "--addr", &addr, "--port", &port, "--root", &root,
        ]
        .iter()
        .map(|s| s.to_string())
        .chain(["--congestion".to_string(), congestion.to_string()])
        .collect()
    }

    /// Creates the namespaces (names `bmr` + `tag` + c/m/s) and links.
    pub fn new(tag: &str) -> anyhow::Result<NetsimPath> {
        use boomerang_nic::netns::{add_addr, disable_ipv6, veth_pair};
        let client = Netns::new(&format!("{tag}c"))?;
        let mid = Netns::new(&format!("{tag}m"))?;
        let server = Netns::new(&format!("{tag}s"))?;
        veth_pair(&client, "veth0", &mid, "va", 1)?;
        veth_pair(&mid, "vb", &server, "veth0", 1)?;
        add_addr(&client, "veth0", Self::CLIENT_ADDR, 24)?;
        add_addr(&server, "veth0", Self::KERNEL_ADDR, 24)?;
        for (ns, ifname) in [
            (&client, "veth0"),
            (&mid, "va"),
            (&mid, "vb"),
            (&server, "veth0"),
        ] {
            disable_ipv6(ns, ifname)?;
        }
        mid.sysctl("net.ipv4.ip_forward", "0")?;
        for ns in [&client, &server] {
            ns.sysctl("net.core.txrehash", "0").ok();
        }
        Ok(NetsimPath {
            client,
            mid,
            server,
        })
    }
}

/// Starts `boomerang serve ARGS` (the binary `bin`) in the topology's server namespace, with
/// its output in `log_dir/server.log`, and waits until it answers `/plaintext` from the client
/// namespace.
pub fn start_serve(
    topo: &Topology,
    bin: &Path,
    args: &[String],
    log_dir: &Path,
) -> anyhow::Result<ServerProcess> {
    let log = log_dir.join("server.log");
    let mut server =
        ServerProcess::spawn(&topo.ns.server, "boomerang serve", None, bin, args, &log)?;
    let never = AtomicBool::new(false);
    server.wait_ready(&topo.ns.client, topo.server_addr(), "/plaintext", &never)?;
    Ok(server)
}

/// The router's impairment table (nftables, forward hook): `loss` per mille dropped and
/// `dup` per mille duplicated, both ways.
fn impairment_rules(loss: u32, dup: u32) -> String {
    format!(
        "table ip bmrimpair {{\n chain impair {{\n  type filter hook forward priority 0; policy accept;\n  numgen random mod 1000 < {loss} drop\n  ip daddr {server} numgen random mod 1000 < {dup} dup to {server} device \"vs\"\n  ip daddr {client} numgen random mod 1000 < {dup} dup to {client} device \"vc\"\n }}\n}}\n",
        server = Routed::SERVER_ADDR,
        client = Routed::CLIENT_ADDR,
    )
}

/// Switches impairment on (`Some((loss, dup))`, per mille, both ways) or off in the routed
/// topology's router (nftables; the kernel here has no `netem`).
pub fn set_impairment(router: &Netns, on: Option<(u32, u32)>) -> anyhow::Result<()> {
    // Replace whatever is there (ignoring "no such table").
    let _ = router.run("nft", &["delete", "table", "ip", "bmrimpair"]);
    if let Some((loss, dup)) = on {
        let path = std::env::temp_dir().join(boomerang_nic::netns::unique_name("nft"));
        std::fs::write(&path, impairment_rules(loss, dup))?;
        let applied = router.run("nft", &["-f", &path.to_string_lossy()]);
        let _ = std::fs::remove_file(&path);
        applied.context("nft")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_report_parses() {
        let text = "Running 1s test\nBMR requests=1000 duration_us=2000000 bytes=5000 errors=3 p50=100 p90=200 p99=300 p999=400 connect=0 read=1 write=0 status=0 timeout=2\n";
        assert_eq!(
            wrk_error_kinds(text),
            "connect 0, read 1, write 0, status 0, timeout 2"
        );
        let r = parse_wrk_report(text).expect("parses");
        assert_eq!(r.requests, 1000);
        assert!((r.rps - 500.0).abs() < 1e-9);
        assert_eq!(r.p999, Duration::from_micros(400));
        assert_eq!(r.errors, 3);
        assert!(parse_wrk_report("nothing").is_err());
    }

    #[test]
    fn pattern_is_deterministic() {
        assert_eq!(pattern(1000), pattern(1000));
        assert_eq!(pattern(10).len(), 10);
    }

    #[test]
    fn table_aligns() {
        let r = LoadResult {
            requests: 1,
            rps: 12345.6,
            bytes_per_sec: 0.0,
            p50: Duration::from_micros(500),
            p90: Duration::from_micros(900),
            p99: Duration::from_millis(2),
            p999: Duration::from_millis(3),
            errors: 0,
            handshakes_full: 0,
            handshakes_resumed: 0,
            tool: Tool::Wrk,
        };
        let t = render_table(&[("plaintext".into(), r)]);
        assert!(t.contains("12346"), "{t}");
        assert_eq!(t.lines().count(), 3);
    }
}
