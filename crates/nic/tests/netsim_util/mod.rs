//! Shared helpers of the netsim tests: the client – netsim – server topology, the netsim
//! process (killed on drop), and a kernel-to-kernel TCP transfer with sha256 on both ends.

#![allow(dead_code)] // each test binary uses a different subset

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use boomerang_nic::netns::{add_addr, disable_ipv6, run_cmd, veth_pair, Netns};

/// The client's address (one /24 shared by both ends: netsim forwards at L2).
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The server's address.
pub const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// How long netsim may take to start forwarding.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Upper bound on any transfer; a stuck one fails the test instead of hanging it.
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(60);
/// Safety net: netsim exits by itself after this long even if a test leaks it.
const NETSIM_MAX_SECONDS: &str = "120";

/// client `veth0` ↔ netsim `va` | netsim `vb` ↔ server `veth0`; torn down on drop.
pub struct Topology {
    /// Kernel client, 198.18.0.1/24.
    pub client: Netns,
    /// The forwarder's namespace: no addresses, no forwarding, no IPv6.
    pub mid: Netns,
    /// Kernel server, 198.18.0.2/24.
    pub server: Netns,
}

impl Topology {
    pub fn new(tag: &str) -> Topology {
        Self::with_queues(tag, 1)
    }

    /// Like [`Topology::new`] with `queues` RX/TX queues on every veth (flows then spread
    /// over the forwarder's queues by the sender's flow hash).
    pub fn with_queues(tag: &str, queues: u32) -> Topology {
        let client = Netns::new(&format!("{tag}c")).expect("client ns");
        let mid = Netns::new(&format!("{tag}m")).expect("mid ns");
        let server = Netns::new(&format!("{tag}s")).expect("server ns");
        veth_pair(&client, "veth0", &mid, "va", queues).expect("veth a");
        veth_pair(&mid, "vb", &server, "veth0", queues).expect("veth b");
        for ns in [&client, &server] {
            // Keep each flow on one queue even after a retransmission timeout (docs/operations.md).
            ns.sysctl("net.core.txrehash", "0").ok();
        }
        add_addr(&client, "veth0", CLIENT, 24).expect("client addr");
        add_addr(&server, "veth0", SERVER, 24).expect("server addr");
        for (ns, ifname) in [
            (&client, "veth0"),
            (&mid, "va"),
            (&mid, "vb"),
            (&server, "veth0"),
        ] {
            disable_ipv6(ns, ifname).expect("ipv6 off");
        }
        mid.sysctl("net.ipv4.ip_forward", "0")
            .expect("no forwarding");
        Topology {
            client,
            mid,
            server,
        }
    }

    /// Installs permanent neighbour entries on both ends, so no ARP exchange crosses the
    /// (possibly lossy) forwarder and every measured frame is an IPv4 one.
    pub fn static_neighbours(&self) {
        let mac = |ns: &Netns| -> String {
            let out = ns.ip(&["-br", "link", "show", "veth0"]).expect("link");
            out.split_whitespace().nth(2).expect("mac").to_string()
        };
        let (client_mac, server_mac) = (mac(&self.client), mac(&self.server));
        for (ns, addr, lladdr) in [
            (&self.client, SERVER, &server_mac),
            (&self.server, CLIENT, &client_mac),
        ] {
            ns.ip(&[
                "neigh",
                "replace",
                &addr.to_string(),
                "lladdr",
                lladdr,
                "dev",
                "veth0",
                "nud",
                "permanent",
            ])
            .expect("neighbour");
        }
    }

    /// Starts netsim between `va` and `vb` with extra `args` and waits until it forwards.
    pub fn netsim(&self, args: &[&str]) -> Netsim {
        let mut cmd = self
            .mid
            .command(netsim_path().to_str().expect("utf-8 path"));
        cmd.args(["--a", "va", "--b", "vb", "--duration", NETSIM_MAX_SECONDS])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .env("RUST_LOG", "warn");
        let mut child = cmd.spawn().expect("spawn netsim");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut sim = Netsim {
            child,
            lines,
            ready: String::new(),
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match sim.lines.recv_timeout(left) {
                Ok(l) if l.starts_with("netsim: ready") => {
                    sim.ready = l;
                    break;
                }
                Ok(_) => {}
                Err(_) => panic!(
                    "netsim did not become ready (exit: {:?})",
                    sim.child.try_wait()
                ),
            }
        }
        sim
    }
}

/// The netsim binary (…/<profile>/examples/netsim), built on first use with this test
/// binary's profile.
pub fn netsim_path() -> PathBuf {
    boomerang_nic::netns::built_example("netsim").unwrap_or_else(|e| panic!("{e}"))
}

/// A running netsim; killed (by its PID) if still running when dropped.
pub struct Netsim {
    child: Child,
    lines: Receiver<String>,
    /// The `netsim: ready io=…` line.
    pub ready: String,
}

/// One direction's counters as netsim prints them when it stops.
#[derive(Debug, Default, Clone, Copy)]
pub struct DirStats {
    pub frames: u64,
    pub delivered: u64,
    pub dropped: u64,
    pub duplicated: u64,
    pub reordered: u64,
    pub corrupted: u64,
    pub rate_dropped: u64,
}

fn parse_dir(line: &str) -> DirStats {
    let mut s = DirStats::default();
    for kv in line.split_whitespace() {
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        let v: u64 = v.parse().unwrap_or(0);
        match k {
            "frames" => s.frames = v,
            "delivered" => s.delivered = v,
            "dropped" => s.dropped = v,
            "duplicated" => s.duplicated = v,
            "reordered" => s.reordered = v,
            "corrupted" => s.corrupted = v,
            "rate_dropped" => s.rate_dropped = v,
            _ => {}
        }
    }
    s
}

impl Netsim {
    /// Stops netsim (SIGTERM) and returns its A→B and B→A counters.
    pub fn stop(self) -> (DirStats, DirStats) {
        let (a2b, b2a, _) = self.stop_with_output();
        (a2b, b2a)
    }

    /// Like [`Netsim::stop`], plus every other line netsim printed until it exited.
    pub fn stop_with_output(mut self) -> (DirStats, DirStats, Vec<String>) {
        let pid = self.child.id().to_string();
        let _ = run_cmd("kill", &["-TERM", &pid]);
        let deadline = Instant::now() + Duration::from_secs(5);
        let (mut a2b, mut b2a) = (None, None);
        let mut other = Vec::new();
        while a2b.is_none() || b2a.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with("netsim: a2b") => a2b = Some(parse_dir(&l)),
                Ok(l) if l.starts_with("netsim: b2a") => b2a = Some(parse_dir(&l)),
                Ok(l) => other.push(l),
                Err(_) => panic!("netsim printed no counters"),
            }
        }
        let _ = self.child.wait();
        // The output thread ends at EOF; take whatever else it read.
        while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(200)) {
            other.push(l);
        }
        (a2b.unwrap_or_default(), b2a.unwrap_or_default(), other)
    }
}

impl Drop for Netsim {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

const SERVER_PY: &str = r#"
import hashlib, socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 5001))
s.listen(1)
s.settimeout(60)
print("listening", flush=True)
c, _ = s.accept()
c.settimeout(60)
h = hashlib.sha256()
n = 0
first = None
while True:
    d = c.recv(1 << 16)
    if not d:
        break
    if first is None:
        first = time.monotonic()
    h.update(d)
    n += len(d)
secs = time.monotonic() - first if first is not None else 0.0
c.sendall(f"{n} {h.hexdigest()} {secs:.6f}\n".encode())
c.close()
print(n, h.hexdigest(), flush=True)
"#;

const CLIENT_PY: &str = r#"
import hashlib, random, socket, sys
n = int(sys.argv[2])
data = random.Random(20261127).randbytes(n)
c = socket.create_connection((sys.argv[1], 5001), timeout=60)
c.sendall(data)
c.shutdown(socket.SHUT_WR)
answer = b""
while not answer.endswith(b"\n"):
    d = c.recv(256)
    if not d:
        break
    answer += d
print(n, hashlib.sha256(data).hexdigest(), answer.decode().strip(), flush=True)
"#;

/// Waits for `child` up to `timeout`; kills it and panics on timeout.
fn wait_output(mut child: Child, timeout: Duration, what: &str) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait().expect("wait") {
            Some(_) => break,
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what} did not finish within {timeout:?}");
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let out = child.wait_with_output().expect("output");
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The outcome of one [`tcp_transfer`].
#[derive(Debug, Clone)]
pub struct Transfer {
    /// "len sha256" of what the client sent.
    pub sent: String,
    /// "len sha256" of what the server received.
    pub received: String,
    /// Seconds from the server's first received byte to the end of the stream.
    pub server_secs: f64,
}

/// Sends `bytes` pseudo-random bytes client → server over kernel TCP through netsim and
/// reports what each end saw; panics if the transfer fails or times out.
pub fn tcp_transfer(topo: &Topology, bytes: usize) -> Transfer {
    let mut server = topo
        .server
        .command("python3")
        .args(["-c", SERVER_PY, &SERVER.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("server");
    // Wait for "listening" before the client connects.
    let mut out = BufReader::new(server.stdout.take().expect("stdout"));
    let mut first = String::new();
    out.read_line(&mut first).expect("server output");
    assert_eq!(first.trim(), "listening");
    let client = topo
        .client
        .command("python3")
        .args(["-c", CLIENT_PY, &SERVER.to_string(), &bytes.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("client");
    let client_out = wait_output(client, TRANSFER_TIMEOUT, "TCP client");
    let _ = server.wait();
    let fields: Vec<&str> = client_out.split_whitespace().collect();
    assert_eq!(fields.len(), 5, "client said: {client_out}");
    assert_eq!(fields[0], bytes.to_string());
    Transfer {
        sent: format!("{} {}", fields[0], fields[1]),
        received: format!("{} {}", fields[2], fields[3]),
        server_secs: fields[4].parse().expect("seconds"),
    }
}

/// Ping statistics: packets received and RTTs in milliseconds.
#[derive(Debug, Clone)]
pub struct PingStats {
    pub transmitted: u32,
    pub received: u32,
    /// Replies beyond the first for the same request ("+N duplicates").
    pub duplicates: u32,
    /// RTTs of the first reply to each request, in order.
    pub rtts_ms: Vec<f64>,
}

/// Pings the server from the client `count` times every `interval` seconds.
pub fn ping(topo: &Topology, count: u32, interval: &str) -> PingStats {
    let out = topo
        .client
        .command("ping")
        .args([
            "-n",
            "-c",
            &count.to_string(),
            "-i",
            interval,
            "-W",
            "1",
            &SERVER.to_string(),
        ])
        .stdin(Stdio::null())
        .output()
        .expect("ping");
    let text = String::from_utf8_lossy(&out.stdout);
    let rtts_ms: Vec<f64> = text
        .lines()
        .filter(|l| !l.contains("DUP!"))
        .filter_map(|l| l.split("time=").nth(1))
        .filter_map(|t| t.split_whitespace().next())
        .filter_map(|t| t.parse().ok())
        .collect();
    let summary = text
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or_else(|| panic!("no ping summary: {text}"));
    let nums: Vec<u32> = summary
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|t| t.parse().ok())
        .collect();
    PingStats {
        transmitted: nums.first().copied().unwrap_or(0),
        received: nums.get(1).copied().unwrap_or(0),
        duplicates: summary
            .split(',')
            .find(|p| p.contains("duplicates"))
            .and_then(|p| p.trim().trim_start_matches('+').split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
        rtts_ms,
    }
}
