//! The soak's background load: phases of wrk and of the built-in generator (on kernel
//! sockets and on our own stack over AF_XDP) in a seeded order, impairment switched on and
//! off in the router (nftables: loss and duplication), bursts of spoofed SYNs left
//! half-open, and fragmented pings that fill the reassembly table.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use boomerang::harness::{self, LoadResult, LoadSpec};
use boomerang::load::{self, LoadOptions, Progress, StackClient, Target};
use boomerang_nic::netns::{Netns, Routed};
use boomerang_wire::Ipv4Cidr;

use crate::{Rng, Shared};

/// One kind of load phase.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// For messages.
    pub name: &'static str,
    /// Which generator.
    pub tool: harness::Tool,
    /// Path requested.
    pub path: &'static str,
    /// Connections.
    pub connections: usize,
    /// `Connection: close` on every request.
    pub close: bool,
}

/// Every scenario; each round of phases runs all of them in a seeded order, keep-alive
/// and `Connection: close` phases alternating (the server keeps every connection it closed
/// in TIME-WAIT for a minute: alternating keeps that table's size, and the memory behind
/// it, about the same from round to round).
pub const SCENARIOS: [Scenario; 9] = [
    Scenario {
        name: "wrk plaintext keep-alive c32",
        tool: harness::Tool::Wrk,
        path: "/plaintext",
        connections: 32,
        close: false,
    },
    Scenario {
        name: "wrk 64k keep-alive c16",
        tool: harness::Tool::Wrk,
        path: "/64k.bin",
        connections: 16,
        close: false,
    },
    Scenario {
        name: "wrk plaintext close c16",
        tool: harness::Tool::Wrk,
        path: "/plaintext",
        connections: 16,
        close: true,
    },
    Scenario {
        name: "wrk 4m keep-alive c4",
        tool: harness::Tool::Wrk,
        path: "/4m.bin",
        connections: 4,
        close: false,
    },
    Scenario {
        name: "builtin index keep-alive c16",
        tool: harness::Tool::Builtin,
        path: "/index.html",
        connections: 16,
        close: false,
    },
    Scenario {
        name: "wrk index close c8",
        tool: harness::Tool::Wrk,
        path: "/index.html",
        connections: 8,
        close: true,
    },
    Scenario {
        name: "builtin 1k close c8",
        tool: harness::Tool::Builtin,
        path: "/1k.bin",
        connections: 8,
        close: true,
    },
    Scenario {
        name: "afxdp plaintext keep-alive c16",
        tool: harness::Tool::StackClient,
        path: "/plaintext",
        connections: 16,
        close: false,
    },
    Scenario {
        name: "afxdp 64k close c8",
        tool: harness::Tool::StackClient,
        path: "/64k.bin",
        connections: 8,
        close: true,
    },
];

/// How long a generator's request may take before it counts as an error.
///
/// Longer than the benchmarks' 5 s because of the impaired phases: wrk measures a request
/// from the moment it writes it, and after a `Connection: close` response it reconnects
/// without resetting that clock, so a reconnect whose SYN or SYN-ACK is lost three times in a
/// row (1 + 2 + 4 s of SYN retransmissions) counted as a timeout. That happens to about
/// (2p)³ of the connections at loss p each way (4.7·10⁻⁵ at 1.8%), and an hour-long soak makes
/// about 180k wrk connections in impaired close phases: the network alone explains a few
/// such timeouts per hour. A server that hangs is still caught: by this timeout in the
/// hour-long run's 30 s phases, by the checks' own I/O timeouts, and by the drain at the end.
const LOAD_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs load phases of `phase` each until the load ends; returns the phases run.
pub fn load_phases(
    shared: &Shared,
    client: &Netns,
    seed: u64,
    phase: Duration,
    cpu: Option<usize>,
    scratch: &Path,
) -> Vec<(String, LoadResult)> {
    let mut rng = Rng::new(seed);
    let mut done = Vec::new();
    let use_wrk = harness::wrk_installed();
    'rounds: loop {
        let usable = |close: bool| -> Vec<Scenario> {
            SCENARIOS
                .iter()
                .copied()
                .filter(|s| s.close == close && (use_wrk || s.tool != harness::Tool::Wrk))
                .collect()
        };
        let (mut keep, mut close) = (usable(false), usable(true));
        rng.shuffle(&mut keep);
        rng.shuffle(&mut close);
        let mut order = Vec::new();
        for i in 0..keep.len().max(close.len()) {
            order.extend(keep.get(i).copied());
            order.extend(close.get(i).copied());
        }
        for s in order {
            let left = shared.load_end.saturating_duration_since(Instant::now());
            if !shared.running() || left < Duration::from_secs(2) {
                break 'rounds;
            }
            let spec = LoadSpec {
                url: format!("http://{}{}", shared.addr, s.path),
                connections: s.connections,
                duration: phase.min(left),
                close: s.close,
                cpu,
                timeout: LOAD_TIMEOUT,
                tls: None,
            };
            let impaired = shared.impaired.load(Ordering::Relaxed);
            let r = match s.tool {
                harness::Tool::Wrk => harness::run_wrk_with_error_kinds(client, &spec, scratch),
                harness::Tool::Builtin => generator(shared, client, &spec, false),
                harness::Tool::StackClient => generator(shared, client, &spec, true),
            };
            match r {
                Ok((r, kinds)) => {
                    shared
                        .load_requests
                        .fetch_add(r.requests, Ordering::Relaxed);
                    let label = format!(
                        "{}{}",
                        s.name,
                        if impaired || shared.impaired.load(Ordering::Relaxed) {
                            " (impaired)"
                        } else {
                            ""
                        }
                    );
                    if r.errors > 0 {
                        let kinds = if kinds.is_empty() {
                            "socket errors, timeouts or non-2xx".to_string()
                        } else {
                            kinds
                        };
                        shared.fail(format!(
                            "{label}: {} errors in {} requests ({kinds})",
                            r.errors, r.requests
                        ));
                    }
                    eprintln!(
                        "soak: {label}: {} requests, {:.0}/s, {} errors",
                        r.requests, r.rps, r.errors
                    );
                    done.push((label, r));
                }
                Err(e) => shared.fail(format!("{}: {e:#}", s.name)),
            }
        }
    }
    done
}

/// Runs `boomerang load` inside `client` (on kernel sockets, or on our own stack over
/// AF_XDP when `afxdp`); returns the result and, when there were errors, their kinds.
fn generator(
    shared: &Shared,
    client: &Netns,
    spec: &LoadSpec,
    afxdp: bool,
) -> anyhow::Result<(LoadResult, String)> {
    let opts = LoadOptions {
        target: Target::parse(&spec.url)?,
        connections: spec.connections,
        duration: spec.duration,
        close: spec.close,
        threads: 1,
        requests: None,
        timeout: spec.timeout,
        pin: spec.cpu.into_iter().collect(),
        stack: afxdp.then(|| StackClient {
            iface: "veth0".into(),
            addr: Ipv4Cidr {
                address: harness::STACK_CLIENT_ADDR,
                prefix_len: Routed::PREFIX,
            },
            gateway: Some(Routed::ROUTER_CLIENT_ADDR),
        }),
        tls: None,
    };
    let stop = shared.stop.clone();
    let report = client
        .enter(move || load::run_with_stop(&opts, Progress::Silent, Some(stop)))
        .context("cannot enter the client namespace")??;
    let e = report.errors;
    let kinds = if e.total() > 0 {
        format!(
            "connect {}, read {}, write {}, timeout {}, protocol {}, status {}, tls {}",
            e.connect, e.read, e.write, e.timeout, e.protocol, e.status, e.tls
        )
    } else {
        String::new()
    };
    let r = LoadResult {
        requests: report.requests,
        rps: report.requests_per_sec(),
        bytes_per_sec: report.body_bytes as f64 / report.elapsed.as_secs_f64().max(1e-6),
        p50: report.percentile(50.0),
        p90: report.percentile(90.0),
        p99: report.percentile(99.0),
        p999: report.percentile(99.9),
        errors: e.total(),
        handshakes_full: report.handshakes_full,
        handshakes_resumed: report.handshakes_resumed,
        tool: if afxdp {
            harness::Tool::StackClient
        } else {
            harness::Tool::Builtin
        },
    };
    Ok((r, kinds))
}

/// Switches impairment on and off at seeded times (on about a third of the time) until the
/// load ends, and leaves it off.
pub fn impairment(shared: &Shared, router: &Netns, seed: u64, period: Duration) {
    let mut rng = Rng::new(seed);
    while shared.running() {
        let on = rng.below(3) == 0;
        let setting = on.then(|| (5 + rng.below(16) as u32, 5 + rng.below(6) as u32));
        match harness::set_impairment(router, setting) {
            Ok(()) => {
                shared.impaired.store(on, Ordering::Relaxed);
                match setting {
                    Some((loss, dup)) => eprintln!(
                        "soak: impairment on: {:.1}% loss, {:.1}% duplication",
                        loss as f64 / 10.0,
                        dup as f64 / 10.0
                    ),
                    None => eprintln!("soak: impairment off"),
                }
            }
            Err(e) => shared.fail(format!("cannot set impairment: {e:#}")),
        }
        let until = Instant::now() + period.mul_f64(0.5 + rng.below(100) as f64 / 100.0);
        while shared.running() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    if let Err(e) = harness::set_impairment(router, None) {
        shared.fail(format!("cannot switch impairment off: {e:#}"));
    }
    shared.impaired.store(false, Ordering::Relaxed);
}

/// Sends `count` SYNs from spoofed, absent addresses of the client subnet (198.18.1.100–199)
/// through a raw socket: the server's SYN-ACKs go nowhere, so every SYN leaves a half-open
/// connection (or, past the SYN backlog, a SYN cookie) behind.
const SYN_BURST_PY: &str = r#"
import random, socket, struct, sys
dst, port, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rnd = random.Random(seed)
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
def csum(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16:
        t = (t & 0xFFFF) + (t >> 16)
    return ~t & 0xFFFF
for _ in range(count):
    src = "198.18.1.%d" % rnd.randint(100, 199)
    sport = rnd.randint(1024, 65000)
    mss = struct.pack("!BBH", 2, 4, 1460)
    tcp = struct.pack("!HHIIBBHHH", sport, port, rnd.getrandbits(32), 0, 6 << 4, 0x02, 64240, 0, 0) + mss
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), rnd.getrandbits(16), 0x4000, 64, 6, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    s.sendto(ip + tcp, (dst, 0))
print(count)
"#;

/// SYN bursts of `count` every `every` until `last_burst` (so that the half-open
/// connections can time out before the drain check).
pub fn syn_bursts(
    shared: &Shared,
    client: &Netns,
    seed: u64,
    count: u32,
    every: Duration,
    last_burst: Instant,
) {
    let mut n = 0u64;
    while shared.running() && Instant::now() < last_burst {
        let out = client
            .command("python3")
            .args(["-c", SYN_BURST_PY])
            .arg(Routed::SERVER_ADDR.to_string())
            .arg(shared.addr.port().to_string())
            .arg(count.to_string())
            .arg((seed + n).to_string())
            .output();
        n += 1;
        match out {
            Ok(o) if o.status.success() => {
                shared
                    .syn_sent
                    .fetch_add(u64::from(count), Ordering::Relaxed);
            }
            Ok(o) => shared.fail(format!(
                "SYN burst failed: {}",
                String::from_utf8_lossy(&o.stderr)
            )),
            Err(e) => shared.fail(format!("cannot run python3 for the SYN burst: {e}")),
        }
        let until = Instant::now() + every;
        while shared.running() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Fragmented pings (3000-byte payloads, so every echo request arrives in three
/// fragments) until the load ends; returns the replies seen. Replies are not required:
/// under loss some datagrams never complete and must time out of the reassembly table.
pub fn fragment_pings(shared: &Shared, client: &Netns, every: Duration) -> u64 {
    let mut replies = 0;
    while shared.running() {
        let out = client
            .command("ping")
            .args(["-q", "-c", "3", "-i", "0.2", "-W", "1", "-s", "3000"])
            .arg(Routed::SERVER_ADDR.to_string())
            .output();
        if let Ok(o) = out {
            let text = String::from_utf8_lossy(&o.stdout);
            replies += text
                .split(',')
                .find_map(|p| p.trim().strip_suffix(" received"))
                .and_then(|n| n.trim().parse::<u64>().ok())
                .unwrap_or(0);
        }
        let until = Instant::now() + every;
        while shared.running() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    replies
}
