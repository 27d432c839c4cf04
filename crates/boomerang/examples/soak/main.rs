//! The soak behind `bench/soak` (docs/benchmarks.md, "Soak"): `boomerang serve` on AF_XDP
//! in client – router – server namespaces, under a mixed, seeded workload for `--duration`:
//! load phases of wrk and of the built-in generator (kernel sockets and AF_XDP), verified
//! sessions (whole files, ranges, conditional requests, uploads echoed back, pipelining,
//! keep-alive and short connections), malformed and oversized requests, slowloris clients,
//! bursts of half-open connections, fragmented pings, and loss and duplication switched on
//! and off in the router.
//!
//! Every `--interval` it reads the server's `/metrics` (the stack's tables, the HTTP
//! connections, the blocking pool's queue, the counters) and its RSS, and appends a row to
//! the CSV. After the load it waits (at most `--drain-timeout`) for every table to drain to
//! its floor. It fails on any unexpected answer or error, on a 5xx, on RSS whose floor in the
//! last round of load phases is more than 5% above its highest value in the warm-up (a sixth
//! of the run, at most 10 minutes, and at least two rounds of every load phase and one
//! TIME-WAIT period), and on tables that do not drain.
//!
//! `cargo run --release -p boomerang --example soak -- [--duration 1h] [--interval 60s] [--seed 1] [--csv FILE]`

mod checks;
mod http;
mod workload;

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use boomerang::harness::{self, Pinning, ServerProcess, TempDir, Topology};
use boomerang::load::fmt_duration;
use boomerang_nic::netns::is_root;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "boomerang on AF_XDP under a mixed, seeded workload for a long time")]
struct Args {
    /// How long the load runs (the drain check follows).
    #[arg(long, default_value = "1h", value_parser = boomerang::cli::parse_duration)]
    duration: Duration,
    /// Time between two samples of /metrics and RSS during the load.
    #[arg(long, default_value = "60s", value_parser = boomerang::cli::parse_duration)]
    interval: Duration,
    /// Length of one load phase (one generator, one request kind).
    #[arg(long, default_value = "30s", value_parser = boomerang::cli::parse_duration)]
    phase: Duration,
    /// Seed of every random choice (workload order, request mix, impairment).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Longest wait for the tables to drain after the load.
    #[arg(long, default_value = "180s", value_parser = boomerang::cli::parse_duration)]
    drain_timeout: Duration,
    /// The server's header timeout (slowloris clients must be closed after it).
    #[arg(long, default_value = "5s", value_parser = boomerang::cli::parse_duration)]
    header_timeout: Duration,
    /// Spoofed SYNs per burst.
    #[arg(long, default_value_t = 300)]
    syn_burst: u32,
    /// Where to write the samples.
    #[arg(long, default_value = "/tmp/boomerang-soak.csv")]
    csv: PathBuf,
}

/// splitmix64: small, seeded, good enough to pick workloads.
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// Shuffles `v` (Fisher–Yates).
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

/// What the soak's threads share.
pub struct Shared {
    /// The server.
    pub addr: SocketAddr,
    /// Set on Ctrl-C.
    pub stop: Arc<AtomicBool>,
    /// When the load ends.
    pub load_end: Instant,
    failures: Mutex<Vec<String>>,
    failure_count: AtomicU64,
    /// Verified request/response exchanges.
    pub checks: AtomicU64,
    /// Malformed or oversized requests refused as they should be.
    pub refused: AtomicU64,
    /// Slowloris connections the server closed in time.
    pub slowloris_closed: AtomicU64,
    /// Spoofed SYNs sent.
    pub syn_sent: AtomicU64,
    /// Requests completed by the load generators.
    pub load_requests: AtomicU64,
    /// Whether the router impairs traffic now.
    pub impaired: AtomicBool,
}

/// The stack's TIME-WAIT duration (`serve` has no setting for it).
const TIME_WAIT: Duration = boomerang_stack::tcp::config::DEFAULT_TIME_WAIT;

/// Failure messages kept (all are counted).
const MAX_FAILURES_KEPT: usize = 50;

impl Shared {
    /// Whether the load is still on.
    pub fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed) && Instant::now() < self.load_end
    }

    /// Records an unexpected outcome.
    pub fn fail(&self, msg: String) {
        self.failure_count.fetch_add(1, Ordering::Relaxed);
        eprintln!("soak: FAIL: {msg}");
        let mut f = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        if f.len() < MAX_FAILURES_KEPT {
            f.push(msg);
        }
    }

    fn failure_count(&self) -> u64 {
        self.failure_count.load(Ordering::Relaxed)
    }
}

/// One row of the CSV.
#[derive(Debug, Clone, Default)]
struct Sample {
    t: f64,
    state: &'static str,
    impaired: bool,
    rss_kib: u64,
    /// Metric name → value summed over its label sets.
    m: HashMap<String, f64>,
    /// Responses by status code.
    codes: HashMap<String, f64>,
    checks: u64,
    failures: u64,
}

const CSV_HEADER: &str = "elapsed_s,state,impaired,rss_kib,heap_allocated_kib,heap_resident_kib,tcp_connections,tcp_time_wait,tcp_syn_received,http_connections,reassembly_datagrams,reassembly_bytes,blocking_queue,responses_2xx,responses_304,responses_4xx,responses_5xx,http_timeouts,tcp_retransmitted,tcp_resets_sent,syncookies_sent,checks,failures";

/// Gauges that must return to their floor after the load: (metric, floor, label). The
/// floor of 1 is the sampler's own connection.
const FLOORS: [(&str, f64, &str); 6] = [
    ("boomerang_stack_tcp_connections", 1.0, "connections"),
    ("boomerang_stack_tcp_time_wait", 0.0, "TIME-WAIT"),
    ("boomerang_stack_tcp_syn_received", 0.0, "SYN-RECEIVED"),
    ("boomerang_stack_http_connections", 1.0, "HTTP connections"),
    (
        "boomerang_stack_ipv4_reassembly_datagrams",
        0.0,
        "reassembly",
    ),
    ("boomerang_blocking_queue_jobs", 0.0, "blocking queue"),
];

impl Sample {
    fn get(&self, name: &str) -> f64 {
        self.m.get(name).copied().unwrap_or(0.0)
    }

    /// The allocator's figure `what` (`boomerang_heap_{what}_bytes`) in KiB.
    fn heap_kib(&self, what: &str) -> u64 {
        (self.get(&format!("boomerang_heap_{what}_bytes")) / 1024.0) as u64
    }

    fn class(&self, first: char) -> f64 {
        self.codes
            .iter()
            .filter(|(c, _)| c.starts_with(first))
            .map(|(_, v)| v)
            .sum::<f64>()
            + 0.0
    }

    fn row(&self) -> String {
        let g = |n: &str| self.get(n);
        format!(
            "{:.1},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            self.t,
            self.state,
            u8::from(self.impaired),
            self.rss_kib,
            self.heap_kib("allocated"),
            self.heap_kib("resident"),
            g("boomerang_stack_tcp_connections"),
            g("boomerang_stack_tcp_time_wait"),
            g("boomerang_stack_tcp_syn_received"),
            g("boomerang_stack_http_connections"),
            g("boomerang_stack_ipv4_reassembly_datagrams"),
            g("boomerang_stack_ipv4_reassembly_bytes"),
            g("boomerang_blocking_queue_jobs"),
            self.class('2'),
            self.codes.get("304").copied().unwrap_or(0.0),
            self.class('4'),
            self.class('5'),
            g("boomerang_http_timeouts_total"),
            g("boomerang_stack_tcp_retransmitted_segments_total"),
            g("boomerang_stack_tcp_resets_sent_total"),
            g("boomerang_stack_tcp_syncookies_sent_total"),
            self.checks,
            self.failures
        )
    }
}

/// Parses Prometheus text: values summed per metric name, and responses by code.
/// Connections by TCP state; `parse_metrics` also files each state as `BY_STATE:STATE`.
const BY_STATE: &str = "boomerang_stack_tcp_connections_by_state";

fn parse_metrics(text: &str) -> (HashMap<String, f64>, HashMap<String, f64>) {
    let mut m = HashMap::new();
    let mut codes = HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let Some((key, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(v) = value.parse::<f64>() else {
            continue;
        };
        let name = key.split('{').next().unwrap_or(key);
        *m.entry(name.to_string()).or_insert(0.0) += v;
        let label = |l: &str| {
            key.split(&format!("{l}=\""))
                .nth(1)
                .and_then(|r| r.split('"').next())
        };
        if name == "boomerang_http_responses_total" {
            if let Some(code) = label("code") {
                *codes.entry(code.to_string()).or_insert(0.0) += v;
            }
        }
        if name == BY_STATE {
            if let Some(state) = label("state") {
                *m.entry(format!("{BY_STATE}:{state}")).or_insert(0.0) += v;
            }
        }
    }
    (m, codes)
}

/// VmRSS of `pid` in KiB.
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS in /proc/PID/status")
}

struct Sampler<'a> {
    topo: &'a Topology,
    pid: u32,
    start: Instant,
    shared: Arc<Shared>,
    csv: std::fs::File,
    rows: Vec<Sample>,
}

impl Sampler<'_> {
    fn sample(&mut self, state: &'static str) -> anyhow::Result<Sample> {
        let addr = self.shared.addr;
        let resp = self
            .topo
            .ns
            .client
            .enter(move || http::get_client_closes(addr, "/metrics", Duration::from_secs(20)))
            .context("cannot enter the client namespace")?
            .context("GET /metrics")?;
        if resp.status != 200 {
            bail!("GET /metrics answered {}", resp.status);
        }
        let (m, codes) = parse_metrics(&String::from_utf8_lossy(&resp.body));
        let s = Sample {
            t: self.start.elapsed().as_secs_f64(),
            state,
            impaired: self.shared.impaired.load(Ordering::Relaxed),
            rss_kib: rss_kib(self.pid)?,
            m,
            codes,
            checks: self.shared.checks.load(Ordering::Relaxed),
            failures: self.shared.failure_count(),
        };
        writeln!(self.csv, "{}", s.row())?;
        self.csv.flush()?;
        eprintln!(
            "soak: {:>6.0}s {state} rss {} KiB (heap {} KiB), {} conns ({} TIME-WAIT, {} SYN-RECEIVED), {} HTTP, reassembly {}, blocking queue {}, checks {}, failures {}",
            s.t,
            s.rss_kib,
            s.heap_kib("allocated"),
            s.get("boomerang_stack_tcp_connections"),
            s.get("boomerang_stack_tcp_time_wait"),
            s.get("boomerang_stack_tcp_syn_received"),
            s.get("boomerang_stack_http_connections"),
            s.get("boomerang_stack_ipv4_reassembly_datagrams"),
            s.get("boomerang_blocking_queue_jobs"),
            s.checks,
            s.failures
        );
        self.rows.push(s.clone());
        Ok(s)
    }
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
            "{} not found: build the boomerang binary first",
            bin.display()
        );
    }
    Ok(bin)
}

/// The static files: `index.html`, `64k.bin`, `1m.bin` from the harness plus `1k.bin`,
/// `300k.bin` and `4m.bin` (over the file cache's per-file limit: read by the blocking pool).
fn write_site(dir: &Path) -> anyhow::Result<checks::Site> {
    harness::write_site(dir)?;
    let mut site = vec![
        (
            "index.html".to_string(),
            std::fs::read(dir.join("index.html"))?,
        ),
        ("64k.bin".to_string(), harness::pattern(harness::FILE_64K)),
        ("1m.bin".to_string(), harness::pattern(harness::FILE_1M)),
    ];
    for (name, len) in [("1k.bin", 1000), ("300k.bin", 300_001), ("4m.bin", 4 << 20)] {
        let data: Vec<u8> = harness::pattern(len + 7)[7..].to_vec();
        std::fs::write(dir.join(name), &data)?;
        site.push((name.to_string(), data));
    }
    Ok(site)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    boomerang::logging::init(Some("warn"));
    if !is_root() {
        bail!("bench/soak creates network namespaces and attaches XDP: run it as root");
    }
    let stop = boomerang::signals::cleanup_flag()?;
    let exe = boomerang_bin()?;
    let pin = Pinning::from_allowed();
    let dir = TempDir::new("sk")?;
    let site_dir = dir.path().join("site");
    std::fs::create_dir_all(&site_dir)?;
    let site = Arc::new(write_site(&site_dir)?);
    let topo = Topology::new("sk", false)?;
    let mut serve = harness::xdp_serve_args(&site_dir);
    serve.extend([
        "--header-timeout".into(),
        format!("{}ms", args.header_timeout.as_millis()),
    ]);
    let log = dir.path().join("server.log");
    let mut server = ServerProcess::spawn(
        &topo.ns.server,
        "boomerang AF_XDP",
        Some(pin.server),
        &exe,
        &serve,
        &log,
    )?;
    server.wait_ready(&topo.ns.client, topo.server_addr(), "/plaintext", &stop)?;
    let pid = server.pid().context("no server PID")?;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if comm.trim() != "boomerang" {
        bail!("PID {pid} is {comm:?}, not the boomerang server: cannot read its RSS");
    }
    println!(
        "soak: {} of load (seed {}), samples every {}, server PID {pid} on CPU {}, load on CPU {}",
        fmt_duration(args.duration),
        args.seed,
        fmt_duration(args.interval),
        pin.server,
        pin.client
    );
    let start = Instant::now();
    let shared = Arc::new(Shared {
        addr: topo.server_addr(),
        stop: stop.clone(),
        load_end: start + args.duration,
        failures: Mutex::new(Vec::new()),
        failure_count: AtomicU64::new(0),
        checks: AtomicU64::new(0),
        refused: AtomicU64::new(0),
        slowloris_closed: AtomicU64::new(0),
        syn_sent: AtomicU64::new(0),
        load_requests: AtomicU64::new(0),
        impaired: AtomicBool::new(false),
    });
    let mut csv = std::fs::File::create(&args.csv)
        .with_context(|| format!("cannot create {}", args.csv.display()))?;
    writeln!(csv, "{CSV_HEADER}")?;
    let mut sampler = Sampler {
        topo: &topo,
        pid,
        start,
        shared: shared.clone(),
        csv,
        rows: Vec::new(),
    };
    sampler.sample("load")?;

    // The workload, every part on its own thread inside the client (or router) namespace.
    let scratch = TempDir::new("skw")?;
    let mut threads = Vec::new();
    let client = &topo.ns.client;
    let seed = args.seed;
    for k in 0..2 {
        let (sh, site) = (shared.clone(), site.clone());
        threads.push(client.spawn_thread(move || checks::checker(&sh, seed * 100 + k, &site))?);
    }
    let quarter = |d: Duration| d.min(args.duration / 4).max(Duration::from_secs(2));
    {
        let sh = shared.clone();
        let (ht, every) = (args.header_timeout, quarter(Duration::from_secs(60)));
        threads.push(client.spawn_thread(move || checks::slowloris(&sh, ht, every))?);
    }
    // Half-open connections live about two minutes (SYN-ACK retransmissions): the last
    // burst leaves them that long before the drain check, or half the run on short runs.
    let last_burst = shared.load_end - Duration::from_secs(130).min(args.duration / 2);
    let syn_every = quarter(Duration::from_secs(120));
    let frag_every = quarter(Duration::from_secs(20));
    let impair_period = quarter(Duration::from_secs(90));
    let load_shared = shared.clone();
    let phase = args.phase;
    let load = std::thread::scope(|scope| -> anyhow::Result<_> {
        let sh = &shared;
        let syn = scope.spawn(move || {
            workload::syn_bursts(sh, client, seed + 7, args.syn_burst, syn_every, last_burst)
        });
        let frag = scope.spawn(move || workload::fragment_pings(sh, client, frag_every));
        let router = &topo.ns.router;
        let imp = scope.spawn(move || workload::impairment(sh, router, seed + 11, impair_period));
        let scratch_path = scratch.path().to_path_buf();
        let load = scope.spawn(move || {
            workload::load_phases(
                &load_shared,
                client,
                seed + 13,
                phase,
                Some(pin.client),
                &scratch_path,
            )
        });
        let mut next = Instant::now() + args.interval;
        while shared.running() {
            std::thread::sleep(Duration::from_millis(200));
            if let Some(st) = server.try_wait()? {
                shared.fail(format!(
                    "the server exited ({st}); its log:\n{}",
                    server.log_tail(30)
                ));
                stop.store(true, Ordering::Relaxed);
                break;
            }
            if Instant::now() >= next && shared.running() {
                next += args.interval;
                if let Err(e) = sampler.sample("load") {
                    shared.fail(format!("sampling: {e:#}"));
                }
            }
        }
        let replies = frag.join().unwrap_or(0);
        let _ = syn.join();
        let _ = imp.join();
        let phases = load.join().unwrap_or_default();
        Ok((phases, replies))
    })?;
    for t in threads {
        if t.join().is_err() {
            shared.fail("a checking thread panicked".into());
        }
    }
    let (phases, frag_replies) = load;
    let load_secs = start.elapsed().as_secs_f64();

    // The drain: every table back to its floor within the timeout.
    let drain_start = Instant::now();
    let mut drained = None;
    let mut last = None;
    while !stop.load(Ordering::Relaxed) {
        match sampler.sample("drain") {
            Ok(s) => {
                let above: Vec<String> = FLOORS
                    .iter()
                    .filter(|(n, floor, _)| s.get(n) > *floor)
                    .map(|(n, _, label)| format!("{label} {}", s.get(n)))
                    .collect();
                if above.is_empty() {
                    drained = Some(drain_start.elapsed());
                    break;
                }
                let states: Vec<String> = s
                    .m
                    .iter()
                    .filter_map(|(k, v)| Some((k.strip_prefix(BY_STATE)?.strip_prefix(':')?, v)))
                    .filter(|(_, v)| **v > 0.0)
                    .map(|(state, v)| format!("{state} {v}"))
                    .collect();
                last = Some(format!(
                    "{} (by state: {})",
                    above.join(", "),
                    states.join(", ")
                ));
            }
            Err(e) => shared.fail(format!("sampling in the drain: {e:#}")),
        }
        if drain_start.elapsed() > args.drain_timeout {
            break;
        }
        std::thread::sleep(Duration::from_secs(5).min(args.interval));
    }
    if drained.is_none() && !stop.load(Ordering::Relaxed) {
        shared.fail(format!(
            "tables did not drain within {}: {}",
            fmt_duration(args.drain_timeout),
            last.unwrap_or_default()
        ));
    }
    let addr = shared.addr;
    match client.enter(move || checks::still_serves(addr)) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => shared.fail(format!("after the soak: {e:#}")),
        Err(e) => shared.fail(format!("cannot enter the client namespace: {e}")),
    }

    // RSS: a leak raises the floor that RSS returns to between transfers; a connection's send
    // buffer (up to 4 MiB while a large file goes out) only makes a peak. So the lowest sample
    // of the last round of load phases (every phase once) must not be more than 5% above the
    // highest sample of the warm-up. The warm-up is a sixth of the run (at most 10 minutes),
    // and at least two rounds of every load phase and one TIME-WAIT period, which is how long
    // the TIME-WAIT table takes to reach its high-water mark.
    let round = args.phase.as_secs_f64() * workload::SCENARIOS.len() as f64;
    let warm = (args.duration / 6)
        .min(Duration::from_secs(600))
        .as_secs_f64()
        .max(round * 2.0)
        .max(TIME_WAIT.as_secs_f64() + args.phase.as_secs_f64());
    let rows = &sampler.rows;
    let load: Vec<&Sample> = rows.iter().filter(|s| s.state == "load").collect();
    let load_end = load.last().map_or(0.0, |s| s.t);
    let baseline = load.iter().filter(|s| s.t < warm).max_by_key(|s| s.rss_kib);
    let floor = load
        .iter()
        .filter(|s| s.t >= warm && s.t >= load_end - round)
        .min_by_key(|s| s.rss_kib);
    let first = rows.first().map_or(0, |s| s.rss_kib);
    let peak = rows.iter().map(|s| s.rss_kib).max().unwrap_or(0);
    match (baseline, floor) {
        (Some(b), Some(f)) if f.rss_kib as f64 > b.rss_kib as f64 * 1.05 => shared.fail(format!(
            "RSS grew by more than 5% after the warm-up ({warm:.0} s): at most {} KiB (at {:.0} s) until then, never below {} KiB in the last round of phases (lowest at {:.0} s)",
            b.rss_kib, b.t, f.rss_kib, f.t
        )),
        (None, _) | (_, None) => shared.fail(format!(
            "no sample in the last round of phases after the warm-up ({warm:.0} s): run longer"
        )),
        _ => {}
    }
    let end = rows.last().cloned().unwrap_or_default();
    if end.class('5') > 0.0 {
        shared.fail(format!("the server sent {} 5xx responses", end.class('5')));
    }
    let refused = end.get("boomerang_http_connections_refused_total");
    if refused > 0.0 {
        shared.fail(format!(
            "the server refused {refused} connections at its limit"
        ));
    }
    let (status, clean) = server.stop(harness::STOP_TIMEOUT)?;
    if !status.success() || !clean {
        shared.fail(format!(
            "the server did not stop cleanly on SIGTERM ({status}, within the timeout: {clean}); its log:\n{}",
            server.log_tail(20)
        ));
    }

    println!("\nsoak: {} phases of load:", phases.len());
    for (label, r) in &phases {
        println!(
            "  {label:<44} {:>9} requests {:>8.0}/s  {} errors",
            r.requests, r.rps, r.errors
        );
    }
    println!(
        "soak: load {:.0} s; {} requests by the load generators, {} verified exchanges, {} refused bad requests, {} slowloris connections timed out, {} spoofed SYNs, {} replies to fragmented pings",
        load_secs,
        shared.load_requests.load(Ordering::Relaxed),
        shared.checks.load(Ordering::Relaxed),
        shared.refused.load(Ordering::Relaxed),
        shared.slowloris_closed.load(Ordering::Relaxed),
        shared.syn_sent.load(Ordering::Relaxed),
        frag_replies
    );
    println!(
        "soak: server responses: {:.0} 2xx, {:.0} 304, {:.0} 4xx, {:.0} 5xx; {:.0} HTTP timeouts; {:.0} retransmitted segments; {:.0} SYN cookies; {:.0} fragments, {:.0} datagrams reassembled, {:.0} ICMP echo replies",
        end.class('2'),
        end.codes.get("304").copied().unwrap_or(0.0),
        end.class('4'),
        end.class('5'),
        end.get("boomerang_http_timeouts_total"),
        end.get("boomerang_stack_tcp_retransmitted_segments_total"),
        end.get("boomerang_stack_tcp_syncookies_sent_total"),
        end.get("boomerang_stack_ipv4_fragments_received_total"),
        end.get("boomerang_stack_ipv4_reassembled_total"),
        end.get("boomerang_stack_icmp_echo_replies_total"),
    );
    println!(
        "soak: RSS {first} KiB at start, at most {} KiB in the warm-up ({warm:.0} s), at least {} KiB in the last round of phases, peak {peak} KiB",
        baseline.map_or(0, |b| b.rss_kib),
        floor.map_or(0, |f| f.rss_kib)
    );
    // The live heap beside the RSS: whether memory is the server's or the allocator's.
    let heap_floor = load
        .iter()
        .filter(|s| s.t >= warm && s.t >= load_end - round)
        .map(|s| s.heap_kib("allocated"))
        .min()
        .unwrap_or(0);
    let heap_warm = load
        .iter()
        .filter(|s| s.t < warm)
        .map(|s| s.heap_kib("allocated"))
        .max()
        .unwrap_or(0);
    println!(
        "soak: live heap (allocator's count) at most {heap_warm} KiB in the warm-up, at least {heap_floor} KiB in the last round of phases, {} KiB after the drain (allocator resident {} KiB, RSS {} KiB)",
        end.heap_kib("allocated"),
        end.heap_kib("resident"),
        end.rss_kib
    );
    match drained {
        Some(d) => println!(
            "soak: tables drained to their floor {} after the load",
            fmt_duration(d)
        ),
        None => println!("soak: tables did NOT drain"),
    }
    println!("soak: samples in {}", args.csv.display());
    let failures = shared
        .failures
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if stop.load(Ordering::Relaxed) && shared.failure_count() == 0 {
        bail!("interrupted");
    }
    if shared.failure_count() > 0 {
        eprintln!(
            "\nsoak: FAILED with {} unexpected outcome(s):",
            shared.failure_count()
        );
        for f in failures.iter() {
            eprintln!("  - {f}");
        }
        // Returning (not exiting) drops the server, the namespaces and the directories.
        bail!("soak failed");
    }
    println!("soak: PASSED");
    Ok(())
}
