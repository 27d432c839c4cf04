//! End to end: the `boomerang` binary serving on AF_XDP inside a server namespace, the Linux
//! kernel as the client in another namespace behind a router namespace (the test topology of
//! docs/operations.md, "Platform facts the code relies on").
//! Needs root; skipped (with a message) otherwise. Every test builds its own namespaces,
//! bounded in time and count, torn down by guards even when it fails.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use boomerang::harness::{self, LoadSpec, ServerProcess, TempDir, Topology};
use boomerang::load::Progress;
use boomerang_nic::need_root;
use boomerang_nic::netns::{is_root, Netns, Pair, Routed};

const BIN: &str = env!("CARGO_BIN_EXE_boomerang");

/// A server on AF_XDP (or kernel sockets) in its own topology, with the harness's site.
struct Running {
    server: ServerProcess,
    topo: Topology,
    site: TempDir,
}

impl Running {
    fn start(tag: &str, kernel: bool, extra: &[&str]) -> Running {
        let site = TempDir::new(tag).expect("site dir");
        harness::write_site(site.path()).expect("site");
        let topo = Topology::new(tag, kernel).expect("topology");
        let mut args = if kernel {
            harness::kernel_serve_args(site.path())
        } else {
            harness::xdp_serve_args(site.path())
        };
        args.extend(extra.iter().map(|s| s.to_string()));
        let server = harness::start_serve(&topo, Path::new(BIN), &args, site.path())
            .expect("boomerang serve ready");
        Running { server, topo, site }
    }

    fn client(&self) -> &Netns {
        &self.topo.ns.client
    }

    fn addr(&self) -> SocketAddr {
        self.topo.server_addr()
    }

    /// curl inside the client namespace; returns stdout (`-w` adds the status at the end).
    fn curl(&self, args: &[&str]) -> String {
        let mut all = vec!["-sS", "--max-time", "60"];
        all.extend_from_slice(args);
        self.client().run("curl", &all).expect("curl")
    }

    fn metrics(&self) -> String {
        self.curl(&[&self.topo.url("/metrics")])
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

/// Sends raw bytes from the client namespace and returns whatever comes back until close.
fn raw_exchange(ns: &Netns, addr: SocketAddr, bytes: &'static [u8]) -> String {
    ns.enter(move || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        s.write_all(bytes).expect("write");
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    })
    .expect("enter")
}

#[test]
fn every_route_answers_over_af_xdp() {
    need_root!();
    let r = Running::start("er", false, &[]);
    let url = |p: &str| r.topo.url(p);
    assert_eq!(r.curl(&[&url("/plaintext")]), "Hello, World!");
    let head = r.curl(&["-I", &url("/plaintext")]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("Content-Length: 13"), "{head}");
    let echoed = r.curl(&["--data-binary", "ping-pong body", &url("/echo")]);
    assert_eq!(echoed, "ping-pong body");
    let chunked = r.curl(&[
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        "chunked body",
        &url("/echo"),
    ]);
    assert_eq!(chunked, "chunked body");
    let index = r.curl(&[&url("/index.html")]);
    assert!(index.contains("Hello from boomerang"), "{index}");
    let file = r.site.path().join("64k.bin");
    let out = r.site.path().join("64k.out");
    r.curl(&["-o", &out.to_string_lossy(), &url("/64k.bin")]);
    assert_eq!(
        std::fs::read(&out).expect("downloaded"),
        std::fs::read(&file).expect("original")
    );
    let missing = r.curl(&["-o", "/dev/null", "-w", "%{http_code}", &url("/missing")]);
    assert_eq!(missing, "404");
    let escape = r.curl(&[
        "--path-as-is",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &url("/../../etc/passwd"),
    ]);
    assert!(escape == "404" || escape == "400", "escape got {escape}");
    let wrong_method = r.curl(&[
        "-X",
        "DELETE",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &url("/plaintext"),
    ]);
    assert_eq!(wrong_method, "405");
    // Shards and the main thread publish their counters every 100 ms: poll until they show.
    let start = Instant::now();
    let m = loop {
        let m = r.metrics();
        let seen = [
            "boomerang_stack_tcp_segments_received_total",
            "boomerang_queue_rx_packets_total",
            "boomerang_xdp_redirected_total",
        ]
        .iter()
        .all(|name| metric(&m, name) > 0);
        if seen {
            break m;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "counters stay at zero:\n{m}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(m.contains("boomerang_http_responses_total"), "{m}");
    assert!(m.contains("device=\"af_xdp\""), "{m}");
}

#[test]
fn malformed_requests_get_400_and_the_server_lives_on() {
    need_root!();
    let r = Running::start("mf", false, &[]);
    let cases: [&'static [u8]; 4] = [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET /plaintext HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"GET /plaintext HTTP/1.1\r\nBad Header Line\r\n\r\n",
    ];
    for bytes in cases {
        let answer = raw_exchange(r.client(), r.addr(), bytes);
        assert!(
            answer.starts_with("HTTP/1.1 400"),
            "{:?} → {answer:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    let big = format!(
        "GET /plaintext HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let big: &'static [u8] = Box::leak(big.into_bytes().into_boxed_slice());
    let answer = raw_exchange(r.client(), r.addr(), big);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:?}");
    assert_eq!(r.curl(&[&r.topo.url("/plaintext")]), "Hello, World!");
}

#[test]
fn bounded_wrk_run_has_no_errors() {
    need_root!();
    assert!(
        harness::wrk_installed(),
        "wrk is required (scripts/setup installs it)"
    );
    let r = Running::start("wk", false, &[]);
    let scratch = TempDir::new("wks").expect("dir");
    let res = harness::run_wrk(
        r.client(),
        &LoadSpec {
            url: r.topo.url("/plaintext"),
            connections: 32,
            duration: Duration::from_secs(2),
            close: false,
            cpu: None,
            timeout: harness::DEFAULT_LOAD_TIMEOUT,
            tls: None,
        },
        scratch.path(),
    )
    .expect("wrk");
    assert!(res.requests > 0);
    assert_eq!(res.errors, 0, "{res:?}");
}

#[test]
fn sigterm_stops_cleanly_and_detaches() {
    need_root!();
    let mut r = Running::start("st", false, &[]);
    assert_eq!(r.curl(&[&r.topo.url("/plaintext")]), "Hello, World!");
    let (status, in_time) = r.server.stop(Duration::from_secs(10)).expect("stop");
    assert!(in_time, "did not exit after SIGTERM");
    assert!(status.success(), "exit status {status}");
    assert!(
        r.server.log_tail(50).contains("XDP program detached"),
        "{}",
        r.server.log_tail(50)
    );
    // The kernel releases the exited process's bpf_link shortly after exit: poll, bounded.
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let link = loop {
        let link = r
            .topo
            .ns
            .server
            .ip(&["link", "show", "veth0"])
            .expect("ip link");
        if !link.contains("xdp") || std::time::Instant::now() >= deadline {
            break link;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!link.contains("xdp"), "XDP still attached: {link}");
}

#[test]
fn sigkill_gives_the_interface_back_to_the_kernel() {
    need_root!();
    let mut r = Running::start("sk", false, &[]);
    // A second address of the server namespace's own kernel: its traffic must pass the XDP
    // program untouched while we serve, and still flow after the server is killed.
    let host = "198.19.2.9";
    let server_ns = &r.topo.ns.server;
    server_ns
        .ip(&["addr", "add", &format!("{host}/24"), "dev", "veth0"])
        .expect("addr");
    server_ns
        .ip(&[
            "route",
            "add",
            "198.18.1.0/24",
            "via",
            &Routed::ROUTER_SERVER_ADDR.to_string(),
        ])
        .expect("route");
    let ping = |ns: &Netns, n: &str| ns.run("ping", &["-c", n, "-W", "2", host]);
    ping(r.client(), "1").expect("host traffic passes while serving");
    r.server.signal("KILL").expect("kill");
    let start = Instant::now();
    while r.server.try_wait().expect("wait").is_none() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    // The bpf_link dies with the process: the program is gone.
    let mut detached = false;
    for _ in 0..50 {
        let link = r
            .topo
            .ns
            .server
            .ip(&["link", "show", "veth0"])
            .expect("ip link");
        if !link.contains("xdp") {
            detached = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(detached, "XDP program still attached after SIGKILL");
    ping(r.client(), "2").expect("host traffic flows after SIGKILL");
}

#[test]
fn pcap_capture_is_readable_by_tshark() {
    need_root!();
    let dir = TempDir::new("pc").expect("dir");
    let file = dir.path().join("cap.pcap");
    let file_s = file.to_string_lossy().into_owned();
    let mut r = Running::start("pc", false, &["--pcap", &file_s]);
    assert_eq!(r.curl(&[&r.topo.url("/plaintext")]), "Hello, World!");
    let (status, _) = r.server.stop(Duration::from_secs(10)).expect("stop");
    assert!(status.success());
    let out = boomerang_nic::netns::run_cmd(
        "tshark",
        &[
            "-r",
            &file_s,
            "-Y",
            "http.response.code == 200",
            "-T",
            "fields",
            "-e",
            "http.response.code",
        ],
    )
    .expect("tshark reads the capture");
    assert!(
        out.lines().any(|l| l.trim() == "200"),
        "no HTTP 200 in the capture: {out}"
    );
}

#[test]
fn many_keep_alive_connections_and_short_connections_drain() {
    need_root!();
    let r = Running::start("mc", false, &[]);
    // 500 concurrent keep-alive connections × 20 requests.
    let opts = boomerang::load::LoadOptions {
        target: boomerang::load::Target::parse(&r.topo.url("/plaintext")).expect("url"),
        connections: 500,
        duration: Duration::from_secs(60),
        close: false,
        threads: 1,
        requests: Some(500 * 20),
        timeout: Duration::from_secs(10),
        pin: Vec::new(),
        stack: None,
        tls: None,
    };
    let report = r
        .client()
        .enter(move || boomerang::load::run(&opts, Progress::Silent))
        .expect("enter")
        .expect("load");
    assert_eq!(report.errors.total(), 0, "{}", report.render());
    assert!(report.requests >= 500 * 20 - 500, "{}", report.render());
    // 10,000 short connections.
    let opts = boomerang::load::LoadOptions {
        target: boomerang::load::Target::parse(&r.topo.url("/plaintext")).expect("url"),
        connections: 50,
        duration: Duration::from_secs(90),
        close: true,
        threads: 1,
        requests: Some(10_000),
        timeout: Duration::from_secs(10),
        pin: Vec::new(),
        stack: None,
        tls: None,
    };
    let report = r
        .client()
        .enter(move || boomerang::load::run(&opts, Progress::Silent))
        .expect("enter")
        .expect("load");
    assert_eq!(report.errors.total(), 0, "{}", report.render());
    assert!(report.requests >= 10_000 - 50, "{}", report.render());
    // Every connection ends: only TIME-WAIT entries (bounded) stay, no HTTP connection.
    let start = Instant::now();
    loop {
        let m = r.metrics();
        let conns = metric(&m, "boomerang_stack_tcp_connections");
        let tw = metric(&m, "boomerang_stack_tcp_time_wait");
        let http = metric(&m, "boomerang_stack_http_connections");
        // The metrics request itself holds one connection.
        if conns.saturating_sub(tw) <= 1 && http <= 1 {
            assert!(tw <= 1 << 16, "TIME-WAIT above its bound: {tw}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "tables did not drain: {conns} connections, {tw} TIME-WAIT, {http} HTTP"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// 2% loss both ways and 1% duplication towards the server, in the router (nftables,
/// forward hook).
fn impair(router: &Netns) {
    let rules = format!(
        "table ip bmrimpair {{\n chain impair {{\n  type filter hook forward priority 0; policy accept;\n  numgen random mod 1000 < 20 drop\n  ip daddr {server} numgen random mod 1000 < 10 dup to {server} device \"vs\"\n }}\n}}\n",
        server = Routed::SERVER_ADDR
    );
    let path = std::env::temp_dir().join(boomerang_nic::netns::unique_name("nft"));
    std::fs::write(&path, rules).expect("rules");
    let applied = router.run("nft", &["-f", &path.to_string_lossy()]);
    let _ = std::fs::remove_file(&path);
    applied.expect("nft");
}

#[test]
fn large_download_and_upload_are_byte_exact_under_loss() {
    need_root!();
    let r = Running::start("ls", false, &[]);
    let big = harness::pattern(20 << 20);
    std::fs::write(r.site.path().join("20m.bin"), &big).expect("write");
    impair(&r.topo.ns.router);
    let out = r.site.path().join("20m.out");
    r.curl(&["-o", &out.to_string_lossy(), &r.topo.url("/20m.bin")]);
    assert!(
        std::fs::read(&out).expect("downloaded") == big,
        "download differs"
    );
    let up = r.site.path().join("5m.up");
    std::fs::write(&up, &big[..5 << 20]).expect("write");
    let back = r.site.path().join("5m.back");
    r.curl(&[
        "--data-binary",
        &format!("@{}", up.to_string_lossy()),
        "-H",
        "Content-Type: application/octet-stream",
        "-o",
        &back.to_string_lossy(),
        &r.topo.url("/echo"),
    ]);
    assert!(
        std::fs::read(&back).expect("echoed") == big[..5 << 20],
        "upload differs"
    );
    // The impairment was real: the stack had to retransmit (counters publish every 100 ms).
    let start = Instant::now();
    loop {
        let m = r.metrics();
        if metric(&m, "boomerang_stack_tcp_retransmitted_segments_total") > 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no retransmission under 2% loss:\n{m}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn kernel_mode_serves_the_same_routes() {
    need_root!();
    let r = Running::start("km", true, &[]);
    assert_eq!(r.curl(&[&r.topo.url("/plaintext")]), "Hello, World!");
    assert_eq!(r.curl(&["--data-binary", "x", &r.topo.url("/echo")]), "x");
    let m = r.metrics();
    assert!(m.contains("boomerang_http_responses_total"), "{m}");
    // The binary's allocator (jemalloc) reports the live heap within what it holds.
    let (live, resident) = (
        metric(&m, "boomerang_heap_allocated_bytes"),
        metric(&m, "boomerang_heap_resident_bytes"),
    );
    assert!(live > 0 && live <= resident, "{m}");
}

#[test]
fn clear_errors_for_bad_invocations() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(BIN)
            .args(args)
            .output()
            .expect("run");
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(run(&["serve"]).contains("--iface"));
    assert!(run(&["serve", "--kernel"]).contains("--listen"));
    assert!(run(&["load", "--url", "ftp://x/"]).contains("http://"));
    if is_root() {
        let e = run(&[
            "serve",
            "--iface",
            "bmr-no-such-if",
            "--addr",
            "198.19.9.1/24",
        ]);
        assert!(e.contains("no interface named"), "{e}");
    }
}

/// Multi-queue: a direct veth pair with 2 queues (the sending socket's flow hash picks the
/// queue; forwarding through the router namespace would put every flow on one queue, and this
/// kernel has neither cls_flower nor act_skbedit to spread them there).
#[test]
fn two_queues_two_shards_share_the_load() {
    need_root!();
    let pair = Pair::new("q2", 2, false).expect("pair");
    let site = TempDir::new("q2").expect("dir");
    harness::write_site(site.path()).expect("site");
    let args: Vec<String> = [
        "serve",
        "--iface",
        Pair::IFNAME,
        "--addr",
        &format!("{}/{}", Pair::SERVER_ADDR, Pair::PREFIX),
        "--queues",
        "2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut server = ServerProcess::spawn(
        &pair.server,
        "boomerang serve",
        None,
        Path::new(BIN),
        &args,
        &site.path().join("server.log"),
    )
    .expect("spawn");
    let addr = SocketAddr::from((Pair::SERVER_ADDR, harness::PORT));
    let never = std::sync::atomic::AtomicBool::new(false);
    server
        .wait_ready(&pair.client, addr, "/plaintext", &never)
        .expect("ready");
    let opts = boomerang::load::LoadOptions {
        target: boomerang::load::Target::parse(&format!("http://{addr}/plaintext")).expect("url"),
        connections: 40,
        duration: Duration::from_secs(30),
        close: false,
        threads: 1,
        requests: Some(4000),
        timeout: Duration::from_secs(10),
        pin: Vec::new(),
        stack: None,
        tls: None,
    };
    let report = pair
        .client
        .enter(move || boomerang::load::run(&opts, Progress::Silent))
        .expect("enter")
        .expect("load");
    assert_eq!(report.errors.total(), 0, "{}", report.render());
    // Shards publish their counters every 100 ms: poll until both show connections.
    let start = Instant::now();
    loop {
        let m = pair
            .client
            .enter(move || harness::http_get(addr, "/metrics", Duration::from_secs(5)))
            .expect("enter")
            .expect("metrics");
        let m = String::from_utf8_lossy(&m.1).into_owned();
        let per_queue: Vec<u64> = (0..2)
            .map(|q| {
                metric(
                    &m,
                    &format!("boomerang_stack_tcp_passive_opens_total{{queue=\"{q}\"}}"),
                )
            })
            .collect();
        if per_queue.iter().all(|&n| n > 0) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "connections per queue: {per_queue:?}\n{m}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, _) = server.stop(Duration::from_secs(10)).expect("stop");
    assert!(status.success(), "{status}");
}

#[test]
fn af_xdp_load_client_against_af_xdp_server() {
    need_root!();
    let r = Running::start("xc", false, &[]);
    for close in [false, true] {
        let opts = boomerang::load::LoadOptions {
            target: boomerang::load::Target::parse(&r.topo.url("/plaintext")).expect("url"),
            connections: 16,
            duration: Duration::from_secs(60),
            close,
            threads: 1,
            requests: Some(1000),
            timeout: Duration::from_secs(10),
            pin: Vec::new(),
            stack: Some(boomerang::load::StackClient {
                iface: "veth0".into(),
                addr: boomerang_wire::Ipv4Cidr {
                    address: harness::STACK_CLIENT_ADDR,
                    prefix_len: Routed::PREFIX,
                },
                gateway: Some(Routed::ROUTER_CLIENT_ADDR),
            }),
            tls: None,
        };
        let report = r
            .client()
            .enter(move || boomerang::load::run(&opts, Progress::Silent))
            .expect("enter")
            .expect("load");
        assert_eq!(
            report.errors.total(),
            0,
            "close={close}: {}",
            report.render()
        );
        assert!(
            report.requests >= 1000 - 16,
            "close={close}: {}",
            report.render()
        );
    }
    // The client's XDP program is gone with its socket: the kernel's own traffic still flows.
    r.client()
        .run(
            "ping",
            &["-c", "1", "-W", "2", &Routed::SERVER_ADDR.to_string()],
        )
        .expect("kernel traffic after the AF_XDP client");
}

#[test]
fn sigterm_lets_a_download_in_flight_finish() {
    need_root!();
    let mut r = Running::start("tf", false, &[]);
    let big = harness::pattern(3 << 20);
    std::fs::write(r.site.path().join("3m.bin"), &big).expect("write");
    let out = r.site.path().join("3m.out");
    // A slow reader with a small receive buffer (~1 MB/s, ~3 s for 3 MiB), so the server is
    // still sending when SIGTERM arrives; it reads until the server closes.
    let reader = r#"
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
s.settimeout(20)
s.connect((sys.argv[1], int(sys.argv[2])))
s.sendall(b"GET /3m.bin HTTP/1.1\r\nHost: x\r\n\r\n")
data = bytearray()
while True:
    chunk = s.recv(16384)
    if not chunk:
        break
    if not data:
        print("receiving", flush=True)
    data += chunk
    time.sleep(len(chunk) / 1e6)
open(sys.argv[3], "wb").write(data[data.index(b"\r\n\r\n") + 4:])
"#;
    let mut client = r
        .client()
        .command("python3")
        .args(["-c", reader])
        .arg(Routed::SERVER_ADDR.to_string())
        .arg(harness::PORT.to_string())
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    // SIGTERM once the response is flowing (however long the client took to start).
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(client.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("the reader's first line");
    assert_eq!(line.trim(), "receiving");
    assert!(
        r.server.try_wait().expect("wait").is_none(),
        "server exited early"
    );
    r.server.signal("TERM").expect("term");
    let status = client.wait().expect("client wait");
    assert!(status.success(), "client failed: {status}");
    assert!(std::fs::read(&out).expect("out") == big, "download differs");
    let status = r
        .server
        .wait_exit(Duration::from_secs(10))
        .expect("wait")
        .expect("the server exits by itself after SIGTERM");
    assert!(status.success(), "{status}");
}
