//! TCP core II against the Linux kernel: the `boomerang` binary serving on AF_XDP in
//! a server namespace, Linux clients (curl, python3 sockets and raw sockets) in a client
//! namespace behind a router namespace. Needs root; skipped (with a message) otherwise. Every
//! test builds its own namespaces (`bmr…`, addresses in 198.18.0.0/15), bounded in time and
//! count, torn down by guards even when it fails.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use boomerang::harness::{self, NetsimPath, ServerProcess, TempDir, Topology};
use boomerang_nic::netns::{run_cmd, Netns, Routed};

const BIN: &str = env!("CARGO_BIN_EXE_boomerang");

/// Spoofed SYNs the flood test sends, in total.
const FLOOD_SYNS: u32 = 20_000;
/// Seconds the flood is spread over.
const FLOOD_SECS: f64 = 3.0;
/// The stack's default SYN backlog per listener (`boomerang_stack::config::MAX_SYN_BACKLOG`).
const SYN_BACKLOG: u64 = 1024;

/// Bytes of the download through the impairment forwarder (100 MB);
/// `BOOMERANG_IMPAIRED_MIB` overrides it, `BOOMERANG_IMPAIRED_CC` (e.g. `cubic`) sets both
/// senders' congestion control and `BOOMERANG_IMPAIRED_LOSS` / `_RATE` / `_REORDER` /
/// `_REORDER_DELAY` the path,
/// for measurements (the assertion then compares those).
const IMPAIRED_DOWNLOAD: usize = 100 << 20;
/// Smallest accepted ratio of boomerang's to the kernel's throughput (docs/benchmarks.md).
const IMPAIRED_MIN_RATIO: f64 = 0.8;
/// One-way delay netsim adds in each direction (20 ms RTT).
const IMPAIRED_DELAY: &str = "10ms";
/// netsim's loss rate in each direction.
const IMPAIRED_LOSS: &str = "1%";
/// Safety net: netsim exits by itself after this many seconds even if the test leaks it.
const NETSIM_MAX_SECONDS: &str = "600";

/// A server on AF_XDP in its own client – router – server topology.
struct Running {
    server: ServerProcess,
    topo: Topology,
    _site: TempDir,
}

impl Running {
    fn start(tag: &str, extra: &[&str]) -> Running {
        let site = TempDir::new(tag).expect("site dir");
        harness::write_site(site.path()).expect("site");
        let topo = Topology::new(tag, false).expect("topology");
        let mut args = harness::xdp_serve_args(site.path());
        args.extend(extra.iter().map(|s| s.to_string()));
        let server = harness::start_serve(&topo, Path::new(BIN), &args, site.path())
            .expect("boomerang serve ready");
        Running {
            server,
            topo,
            _site: site,
        }
    }

    fn client(&self) -> &Netns {
        &self.topo.ns.client
    }

    fn curl(&self, args: &[&str]) -> String {
        let mut all = vec!["-sS", "--max-time", "20"];
        all.extend_from_slice(args);
        self.client().run("curl", &all).expect("curl")
    }

    fn metrics(&self) -> String {
        self.curl(&[&self.topo.url("/metrics")])
    }

    /// Polls `/metrics` (published every 100 ms) until `ok` holds, for at most 5 s.
    fn metrics_until(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let m = self.metrics();
            if ok(&m) {
                return m;
            }
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{what} never showed in /metrics:\n{m}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Sum of every sample of `name` (all label sets) in Prometheus text.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Kills a child process by PID when dropped (a failing test must not leave it running).
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The tests of this file run one at a time: the impaired download compares two throughputs,
/// which the SYN flood (or any other load) running beside it would skew.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Skips the test without root; otherwise holds [`SERIAL`] until the test ends.
macro_rules! need_root {
    () => {
        boomerang_nic::need_root!();
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    };
}

/// RFC 7323 and RFC 2018 negotiation with a Linux client, checked in the server's capture:
/// both the SYN and our SYN-ACK carry window scale, timestamps and SACK-permitted.
#[test]
fn linux_client_negotiates_window_scale_timestamps_and_sack() {
    need_root!();
    let dir = TempDir::new("kn").expect("dir");
    let file = dir.path().join("cap.pcap");
    let file_s = file.to_string_lossy().into_owned();
    let mut r = Running::start("kn", &["--pcap", &file_s]);
    assert_eq!(r.curl(&[&r.topo.url("/plaintext")]), "Hello, World!");
    let (status, _) = r.server.stop(Duration::from_secs(10)).expect("stop");
    assert!(status.success());
    let out = run_cmd(
        "tshark",
        &[
            "-r",
            &file_s,
            "-Y",
            &format!("tcp.flags.syn == 1 && tcp.port == {}", harness::PORT),
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-e",
            "tcp.flags.ack",
            "-e",
            "tcp.options.wscale.shift",
            "-e",
            "tcp.options.timestamp.tsval",
            "-e",
            "tcp.option_kind",
        ],
    )
    .expect("tshark reads the capture");
    let mut seen = (false, false);
    for line in out.lines() {
        let f: Vec<&str> = line.split('|').collect();
        assert_eq!(f.len(), 4, "{out}");
        let syn_ack = matches!(f[0].trim(), "1" | "True");
        assert!(!f[1].trim().is_empty(), "no window scale in {line}: {out}");
        let tsval: u64 = f[2].trim().parse().unwrap_or(0);
        assert!(tsval > 0, "no timestamp in {line}: {out}");
        // Option kind 4 is SACK-permitted (RFC 2018 §2).
        assert!(
            f[3].split(',').any(|k| k.trim() == "4"),
            "no SACK-permitted in {line}: {out}"
        );
        if syn_ack {
            seen.1 = true;
        } else {
            seen.0 = true;
        }
    }
    assert_eq!(seen, (true, true), "need both SYN and SYN-ACK: {out}");
}

/// Runs in the client namespace: one keep-alive connection, a sniffer on the client veth to
/// learn the client's SND.NXT (= the server's RCV.NXT), a forged RST at RCV.NXT + 100 sent
/// through a raw socket, then counts the ACKs the server sends back and makes a second
/// request on the same connection. Prints `challenge_acks=N` and `second=STATUS`.
const RST_SCRIPT: &str = r#"
import random, socket, struct, sys, time
srv, port = sys.argv[1], int(sys.argv[2])

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff

def parse(frame):
    if len(frame) < 54 or frame[12:14] != b"\x08\x00":
        return None
    ip = frame[14:]
    ihl = (ip[0] & 15) * 4
    if ip[9] != 6:
        return None
    tot = struct.unpack("!H", ip[2:4])[0]
    t = ip[ihl:tot]
    sp, dp, seq, ack = struct.unpack("!HHII", t[:12])
    off = (t[12] >> 4) * 4
    return (socket.inet_ntoa(ip[12:16]), sp, dp, seq, ack, t[13], len(t) - off)

sniff = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
sniff.bind(("veth0", 0))
sniff.settimeout(0.3)
c = socket.create_connection((srv, port), timeout=10)
lip, lport = c.getsockname()

def get():
    c.sendall(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while b"Hello, World!" not in data:
        d = c.recv(4096)
        if not d:
            sys.exit("connection closed: %r" % data)
        data += d
    return data.split(b" ")[1].decode()

first = get()
assert first == "200", first
time.sleep(0.3)
snd_nxt = None
srv_nxt = None
while True:
    try:
        p = parse(sniff.recv(65536))
    except socket.timeout:
        break
    if p is None:
        continue
    src, sp, dp, seq, ack, flags, plen = p
    if src == lip and sp == lport:
        snd_nxt = (seq + plen + (1 if flags & 2 else 0)) & 0xffffffff
    elif sp == port and dp == lport:
        srv_nxt = (seq + plen + (1 if flags & 2 else 0)) & 0xffffffff
assert snd_nxt is not None and srv_nxt is not None, "sniffer saw nothing"

def segment(src, dst, sp, dp, seq, flags):
    hdr = struct.pack("!HHIIBBHHH", sp, dp, seq, 0, 5 << 4, flags, 0, 0, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(hdr))
    hdr = hdr[:16] + struct.pack("!H", csum(pseudo + hdr)) + hdr[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(hdr), random.randrange(65536), 0x4000,
                     64, 6, 0, socket.inet_aton(src), socket.inet_aton(dst))
    return ip + hdr

raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
raw.sendto(segment(lip, srv, lport, port, (snd_nxt + 100) & 0xffffffff, 0x04), (srv, 0))
challenges = 0
deadline = time.time() + 1.0
while time.time() < deadline:
    try:
        p = parse(sniff.recv(65536))
    except socket.timeout:
        continue
    if p is None:
        continue
    src, sp, dp, seq, ack, flags, plen = p
    if sp == port and dp == lport and flags & 0x14 == 0x10 and plen == 0 \
            and seq == srv_nxt and ack == snd_nxt:
        challenges += 1
print("challenge_acks=%d" % challenges)
print("second=%s" % get())
"#;

/// RFC 5961 §3.2: an in-window RST whose sequence number is not exactly RCV.NXT gets a
/// challenge ACK and the connection survives.
#[test]
fn in_window_rst_with_wrong_sequence_gets_a_challenge_ack() {
    need_root!();
    let r = Running::start("kr", &[]);
    let out = r
        .client()
        .run(
            "python3",
            &[
                "-c",
                RST_SCRIPT,
                &Routed::SERVER_ADDR.to_string(),
                &harness::PORT.to_string(),
            ],
        )
        .expect("rst script");
    let challenges: u32 = out
        .lines()
        .find_map(|l| l.strip_prefix("challenge_acks="))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(challenges >= 1, "no challenge ACK came back: {out}");
    assert!(out.contains("second=200"), "{out}");
    let m = r.metrics_until("the challenge", |m| {
        metric(m, "boomerang_stack_tcp_challenge_acks_total") >= 1
    });
    assert_eq!(
        metric(&m, "boomerang_stack_tcp_resets_accepted_total"),
        0,
        "{m}"
    );
    assert!(
        metric(&m, "boomerang_stack_tcp_resets_received_total") >= 1,
        "{m}"
    );
}

/// Runs in the client namespace: a fragment flood against the server (300 first fragments that
/// never complete, 20 overlapping pairs, 40 pieces at the end of a 65 000-byte datagram, 100 lone
/// middle pieces — all ICMP, raw IPv4 with our own headers), then a legitimate echo request in two
/// fragments; prints `reply=1` if its echo reply came back. Arguments: client and server address.
const FRAGMENT_FLOOD_SCRIPT: &str = r#"
import socket, struct, sys, time
src, dst = sys.argv[1], sys.argv[2]
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
def frag(ident, offset, more, payload):
    flags = (0x2000 if more else 0) | (offset // 8)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, flags, 64, 1, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + payload
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
raw.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
icmp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
def send(pkt):
    raw.sendto(pkt, (dst, 0))
    time.sleep(0.0002)
for i in range(300):
    send(frag(0x1000 + i, 0, True, b"\x08" + b"\0" * 23))
for i in range(20):
    send(frag(0x2000 + i, 0, True, b"\xaa" * 24))
    send(frag(0x2000 + i, 8, True, b"\xbb" * 16))
for i in range(40):
    send(frag(0x3000 + i, 65000, True, b"\xcc" * 8))
for i in range(100):
    send(frag(0x5000 + i, 8, True, b"\xee" * 8))
# The legitimate echo request: id 0x4242, seq 7, 40 bytes of data, in two fragments.
data = bytes(range(40))
body = struct.pack("!BBHHH", 8, 0, 0, 0x4242, 7) + data
body = body[:2] + struct.pack("!H", csum(body)) + body[4:]
send(frag(0x4444, 24, False, body[24:]))
send(frag(0x4444, 0, True, body[:24]))
icmp.settimeout(0.5)
deadline = time.time() + 5
reply = 0
while time.time() < deadline and not reply:
    try:
        pkt, addr = icmp.recvfrom(2048)
    except socket.timeout:
        continue
    ihl = (pkt[0] & 15) * 4
    t, _, _, ident, seq = struct.unpack("!BBHHH", pkt[ihl:ihl + 8])
    if addr[0] == dst and t == 0 and ident == 0x4242 and seq == 7 and pkt[ihl + 8:] == data:
        reply = 1
print("reply=%d" % reply)
"#;

/// Issue 12: a fragment flood (hundreds of datagrams that never complete) must not stop a
/// legitimate fragmented datagram that arrives after it: the reassembly budget (64 datagrams)
/// evicts the least recently fed incomplete datagram instead of refusing newcomers. The echo
/// request arrives through the router in two fragments after the flood and is answered; the
/// evictions show in /metrics.
#[test]
fn fragment_flood_does_not_stop_a_legitimate_fragmented_datagram() {
    need_root!();
    let r = Running::start("rcf", &[]);
    let out = r
        .client()
        .run(
            "python3",
            &[
                "-c",
                FRAGMENT_FLOOD_SCRIPT,
                &Routed::CLIENT_ADDR.to_string(),
                &Routed::SERVER_ADDR.to_string(),
            ],
        )
        .expect("fragment flood script");
    assert!(
        out.contains("reply=1"),
        "no echo reply after the flood: {out}"
    );
    // 461 datagrams started by the flood, at most 64 held: the rest were evicted (or, for the
    // overlapping pairs, discarded).
    let m = r.metrics_until("the evictions", |m| {
        metric(m, "boomerang_stack_reassembly_evictions_total") >= 300
    });
    assert!(
        metric(&m, "boomerang_stack_reassembly_drops_total") >= 20,
        "{m}"
    );
}

/// Runs in the client namespace: `count` SYNs to the server from random spoofed sources in
/// 198.18.128.0/17 (routed nowhere, so nobody answers our SYN-ACKs), spread over `secs`.
const FLOOD_SCRIPT: &str = r#"
import random, socket, struct, sys, time
srv, port, count, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])

def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff

raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
dst = socket.inet_aton(srv)
batch = 200
start = time.time()
sent = 0
while sent < count:
    for _ in range(min(batch, count - sent)):
        src = struct.pack("!I", (198 << 24) | (18 << 16) | (1 << 15) | random.randrange(1 << 15))
        # SYN with MSS 1460 (a SYN without options is valid too, but a real one has them).
        hdr = struct.pack("!HHIIBBHHHBBH", random.randrange(1024, 65536), port,
                          random.randrange(1 << 32), 0, 6 << 4, 0x02, 64240, 0, 0, 2, 4, 1460)
        pseudo = src + dst + struct.pack("!BBH", 0, 6, len(hdr))
        hdr = hdr[:16] + struct.pack("!H", csum(pseudo + hdr)) + hdr[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(hdr), 0, 0x4000, 64, 6, 0, src, dst)
        raw.sendto(ip + hdr, (srv, 0))
        sent += 1
    ahead = start + secs * sent / count - time.time()
    if ahead > 0:
        time.sleep(ahead)
print("sent=%d in %.2fs" % (sent, time.time() - start))
"#;

/// SYN flood defence: spoofed SYNs (bounded in count and time) from the client namespace do
/// not stop legitimate requests; the SYN backlog stays bounded and SYN cookies answer.
#[test]
fn spoofed_syn_flood_does_not_stop_legitimate_requests() {
    need_root!();
    let r = Running::start("kf", &[]);
    // The router forwards the spoofed sources (no reverse-path filter in the way).
    for key in [
        "net.ipv4.conf.all.rp_filter",
        "net.ipv4.conf.default.rp_filter",
        "net.ipv4.conf.vc.rp_filter",
    ] {
        r.topo.ns.router.sysctl(key, "0").ok();
    }
    let flood = r
        .client()
        .spawn(
            "python3",
            &[
                "-c",
                FLOOD_SCRIPT,
                &Routed::SERVER_ADDR.to_string(),
                &harness::PORT.to_string(),
                &FLOOD_SYNS.to_string(),
                &FLOOD_SECS.to_string(),
            ],
        )
        .expect("flood");
    let mut flood = ChildGuard(flood);
    let started = Instant::now();
    let mut requests = 0;
    let mut during = 0;
    // Legitimate requests, each on a new connection, while the flood runs (and a few after).
    loop {
        let running = flood.0.try_wait().expect("flood status").is_none();
        let code = r.curl(&[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &r.topo.url("/plaintext"),
        ]);
        assert_eq!(code, "200", "request {requests} failed during the flood");
        requests += 1;
        during += usize::from(running);
        if !running && requests >= 20 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the flood did not end"
        );
    }
    let status = flood.0.wait().expect("flood exit");
    assert!(status.success(), "flood script failed");
    assert!(during >= 1, "no request overlapped the flood");
    let m = r.metrics_until("SYN cookies", |m| {
        metric(m, "boomerang_stack_tcp_syncookies_sent_total") > 0
    });
    assert!(
        metric(&m, "boomerang_stack_tcp_syn_received") <= SYN_BACKLOG,
        "SYN backlog above its bound:\n{m}"
    );
    assert!(
        metric(&m, "boomerang_stack_tcp_passive_opens_total") >= SYN_BACKLOG,
        "the flood did not reach the server:\n{m}"
    );
    eprintln!(
        "flood: {requests} legitimate requests ({during} during the flood), cookies sent {}, ok {}, half-open {}",
        metric(&m, "boomerang_stack_tcp_syncookies_sent_total"),
        metric(&m, "boomerang_stack_tcp_syncookies_ok_total"),
        metric(&m, "boomerang_stack_tcp_syn_received"),
    );
}

/// Whether this test binary comes from cargo's unoptimised dev profile
/// (`<target>/debug/deps/…`), where throughput comparisons with the kernel mean nothing.
fn unoptimised_build() -> bool {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.file_name()? == "debug"))
        .unwrap_or(false)
}

/// The netsim example (crates/nic/examples/netsim.rs), built on first use with this test
/// binary's profile and target directory.
fn netsim_path() -> PathBuf {
    boomerang_nic::netns::built_example("netsim").unwrap_or_else(|e| panic!("{e}"))
}

/// python's http.server on the kernel's TCP, serving a directory, with the congestion control
/// set on the listening socket (accepted sockets inherit it). Arguments: address, port,
/// directory, algorithm.
const KERNEL_FILE_SERVER: &str = r#"
import functools, http.server, socket, sys
addr, port, root, cc = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
class Server(http.server.ThreadingHTTPServer):
    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, cc.encode())
        super().server_bind()
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
Server((addr, port), handler).serve_forever()
"#;

/// Downloads `url` from the client namespace into `out`; returns curl's bytes per second.
fn timed_download(client: &Netns, url: &str, out: &Path) -> f64 {
    let speed = client
        .run(
            "curl",
            &[
                "-sS",
                "--max-time",
                "280",
                "-o",
                &out.to_string_lossy(),
                "-w",
                "%{speed_download}",
                url,
            ],
        )
        .expect("curl download");
    speed.trim().parse().expect("curl speed")
}

/// The same 100 MiB download through netsim (20 ms RTT, 1% loss each way) from boomerang on
/// AF_XDP and from the Linux kernel (python's http.server) in the same topology and run, with
/// the same congestion control on both senders: the kernel's default in the server namespace
/// (`net.ipv4.tcp_congestion_control`; BBR on these machines) and its counterpart in
/// boomerang (`serve --congestion`). Both byte-exact; boomerang must reach at least
/// [`IMPAIRED_MIN_RATIO`] of the kernel's throughput (a ratio of two transfers measured back to
/// back, not a timing bound). Figures: docs/benchmarks.md.
#[test]
fn impaired_download_from_boomerang_and_from_the_kernel() {
    need_root!();
    const XDP_ADDR: Ipv4Addr = NetsimPath::OURS_ADDR;
    const KERNEL_ADDR: Ipv4Addr = NetsimPath::KERNEL_ADDR;
    let NetsimPath {
        client,
        mid,
        server,
    } = NetsimPath::new("kd").expect("client – mid – server namespaces");
    // BOOMERANG_IMPAIRED_LOSS and BOOMERANG_IMPAIRED_RATE (netsim's syntax: `0%`,
    // `100mbit`) change the path for measurements.
    let loss = std::env::var("BOOMERANG_IMPAIRED_LOSS").unwrap_or(IMPAIRED_LOSS.to_string());
    let mut netsim_args = vec![
        "--a",
        "va",
        "--b",
        "vb",
        "--delay",
        IMPAIRED_DELAY,
        "--loss",
        &loss,
        "--seed",
        "11",
        "--duration",
        NETSIM_MAX_SECONDS,
    ];
    let rate = std::env::var("BOOMERANG_IMPAIRED_RATE").ok();
    if let Some(rate) = &rate {
        netsim_args.extend(["--rate", rate]);
    }
    // BOOMERANG_IMPAIRED_REORDER: netsim's reordering probability (e.g. `2%`).
    let reorder = std::env::var("BOOMERANG_IMPAIRED_REORDER").ok();
    if let Some(reorder) = &reorder {
        netsim_args.extend(["--reorder", reorder]);
    }
    // BOOMERANG_IMPAIRED_REORDER_DELAY: how much later a reordered frame arrives (netsim's
    // default is 1 ms).
    let reorder_delay = std::env::var("BOOMERANG_IMPAIRED_REORDER_DELAY").ok();
    if let Some(delay) = &reorder_delay {
        netsim_args.extend(["--reorder-delay", delay]);
    }
    let netsim = mid
        .spawn(netsim_path().to_str().expect("utf-8 path"), &netsim_args)
        .expect("netsim");
    let netsim = ChildGuard(netsim);

    let site = TempDir::new("kd").expect("site");
    harness::write_site(site.path()).expect("site files");
    let size = std::env::var("BOOMERANG_IMPAIRED_MIB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(IMPAIRED_DOWNLOAD, |mib| mib << 20);
    let big = harness::pattern(size);
    // BOOMERANG_IMPAIRED_CC: another algorithm on both senders, for measurements (set on the
    // kernel server's listening socket: a namespace's default may only be an allowed one).
    let kernel_cc = match std::env::var("BOOMERANG_IMPAIRED_CC") {
        Ok(cc) => cc,
        Err(_) => server
            .run("sysctl", &["-n", "net.ipv4.tcp_congestion_control"])
            .expect("sysctl tcp_congestion_control")
            .trim()
            .to_string(),
    };
    // The same algorithm on both senders; a kernel default we do not implement is compared
    // against our default (CUBIC).
    let ours_cc = match kernel_cc.as_str() {
        "bbr" => "bbr",
        "reno" => "newreno",
        _ => "cubic",
    };
    std::fs::write(site.path().join("big.bin"), &big).expect("write");
    let log = site.path().join("server.log");
    let args = NetsimPath::serve_args(site.path(), ours_cc);
    let mut ours = ServerProcess::spawn(
        &server,
        "boomerang serve",
        None,
        Path::new(BIN),
        &args,
        &log,
    )
    .expect("spawn boomerang");
    let never = std::sync::atomic::AtomicBool::new(false);
    ours.wait_ready(
        &client,
        SocketAddr::from((XDP_ADDR, harness::PORT)),
        "/plaintext",
        &never,
    )
    .expect("boomerang ready");
    let kernel = server
        .spawn(
            "python3",
            &[
                "-c",
                KERNEL_FILE_SERVER,
                &KERNEL_ADDR.to_string(),
                &harness::PORT.to_string(),
                &site.path().to_string_lossy(),
                &kernel_cc,
            ],
        )
        .expect("python http.server");
    let _kernel = ChildGuard(kernel);
    let kernel_url = format!("http://{KERNEL_ADDR}:{}/", harness::PORT);
    let start = Instant::now();
    while client
        .run(
            "curl",
            &["-sS", "--max-time", "2", "-o", "/dev/null", &kernel_url],
        )
        .is_err()
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the kernel server never answered"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let out = site.path().join("big.out");
    // Three downloads from each, in the order ours, kernel, kernel, ours, ours, kernel (a
    // trend in the machine's load hits both alike); each side's best run counts, so a passing
    // hiccup on this shared machine (single runs of either vary by ±20%) does not decide
    // the comparison.
    let ours_url = format!("http://{XDP_ADDR}:{}/big.bin", harness::PORT);
    let kernel_file_url = format!("{kernel_url}big.bin");
    let (mut ours_runs, mut kernel_runs) = (Vec::new(), Vec::new());
    for (who, url) in [
        ("boomerang", &ours_url),
        ("kernel", &kernel_file_url),
        ("kernel", &kernel_file_url),
        ("boomerang", &ours_url),
        ("boomerang", &ours_url),
        ("kernel", &kernel_file_url),
    ] {
        let bps = timed_download(&client, url, &out);
        assert!(
            std::fs::read(&out).expect("read") == big,
            "{who} download differs"
        );
        if who == "kernel" {
            kernel_runs.push(bps);
        } else {
            ours_runs.push(bps);
        }
    }
    // boomerang's own account of the downloads (retransmissions, timeouts, drops).
    let metrics = client
        .run(
            "curl",
            &[
                "-sS",
                "--max-time",
                "5",
                &format!("http://{XDP_ADDR}:{}/metrics", harness::PORT),
            ],
        )
        .unwrap_or_default();
    for line in metrics.lines().filter(|l| {
        !l.starts_with('#')
            && [
                "retransmi",
                "timeout",
                "fast_retransmit",
                "undo",
                "rx_ring_full",
                "tx_drop",
            ]
            .iter()
            .any(|k| l.contains(k))
    }) {
        eprintln!("boomerang metrics: {line}");
    }
    let best = |runs: &[f64]| runs.iter().copied().fold(0.0, f64::max);
    let (ours_bps, kernel_bps) = (best(&ours_runs), best(&kernel_runs));
    let mbs = |runs: &[f64]| {
        runs.iter()
            .map(|b| format!("{:.2}", b / 1e6))
            .collect::<Vec<_>>()
            .join(", ")
    };
    eprintln!(
        "runs (MB/s): boomerang {}, kernel {}",
        mbs(&ours_runs),
        mbs(&kernel_runs)
    );
    let offloads = server
        .run("ethtool", &["-k", "veth0"])
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("segmentation-offload:"))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(", ");
    eprintln!("server veth0 offloads: {offloads}");
    // SIGTERM: netsim prints its per-direction counters (frames, dropped) to the test output.
    let _ = run_cmd("kill", &["-TERM", &netsim.0.id().to_string()]);
    std::thread::sleep(Duration::from_millis(300));
    let ratio = ours_bps / kernel_bps;
    eprintln!(
        "impaired download ({} MiB, {IMPAIRED_DELAY} each way, {loss} loss, rate {}): boomerang ({ours_cc}) {:.2} MB/s, kernel ({kernel_cc}) {:.2} MB/s, ratio {ratio:.2}",
        size >> 20,
        rate.as_deref().unwrap_or("unlimited"),
        ours_bps / 1e6,
        kernel_bps / 1e6,
    );
    if unoptimised_build() {
        // Our stack unoptimised against the kernel's optimised one measures the compiler, not
        // the stack: the transfers above ran and were checked, the ratio is not asserted.
        eprintln!(
            "ratio not asserted: unoptimised build (target/debug); the ci profile asserts it"
        );
        return;
    }
    assert!(
        ratio >= IMPAIRED_MIN_RATIO,
        "boomerang ({ours_cc}) reached {ratio:.2} of the kernel's ({kernel_cc}) throughput, below {IMPAIRED_MIN_RATIO}"
    );
}
