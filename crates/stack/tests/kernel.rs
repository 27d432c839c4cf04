//! Our shard against the Linux kernel's TCP/IP in network namespaces: a shard runs on an
//! AF_PACKET socket inside the server namespace (whose kernel has no address), the kernel in
//! the client namespace is the peer (ping, ARP, python3 sockets).

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use boomerang_nic::netns::{Netns, Pair, Routed};
use boomerang_nic::packet_socket::PacketSocket;
use boomerang_nic::xsk::{XdpConfig, XdpSetup};
use boomerang_nic::Device;
use boomerang_stack::{ConnId, Shard, ShardStats, Shared, SocketError, StackConfig};
use boomerang_wire::{EthernetAddress, Ipv4Cidr};

const ECHO_PORT: u16 = 7000;
const CLOSED_PORT: u16 = 7001;
/// Bound on every client command.
const CLIENT_TIMEOUT_SECS: &str = "120";

/// The python client: sends N random bytes while reading the echo, checks them byte for byte.
const ECHO_CLIENT: &str = r#"
import os, socket, sys, threading
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = os.urandom(n)
s = socket.create_connection((host, port), timeout=60)
def tx():
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=tx)
t.start()
got = bytearray()
while True:
    chunk = s.recv(1 << 20)
    if not chunk:
        break
    got += chunk
t.join()
s.close()
if bytes(got) == data:
    print("OK", len(got))
else:
    first = next((i for i in range(min(len(got), n)) if got[i] != data[i]), min(len(got), n))
    print("MISMATCH", len(got), "first difference at", first)
    sys.exit(1)
"#;

const REFUSED_CLIENT: &str = r#"
import errno, socket, sys
s = socket.socket()
s.settimeout(10)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print("CONNECTED")
    sys.exit(1)
except ConnectionRefusedError:
    print("REFUSED")
"#;

/// A shard serving an echo service on an AF_PACKET socket, on its own thread in a namespace.
struct Server {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<ShardStats>>,
}

/// Which device the server shard runs on.
#[derive(Clone, Copy, Debug)]
enum Io {
    /// AF_PACKET raw socket.
    Packet,
    /// AF_XDP socket on queue 0 (copy mode on veth).
    Xdp,
}

impl Server {
    fn start(
        ns: &Netns,
        ifname: &'static str,
        addr: Ipv4Cidr,
        gateway: Option<Ipv4Addr>,
        io: Io,
    ) -> Server {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let handle = ns
            .spawn_thread(move || {
                let config = |mac: [u8; 6]| {
                    let mut cfg = StackConfig::new(EthernetAddress(mac), addr);
                    cfg.gateway = gateway;
                    cfg.isn_secret = *b"kernel-test-key!";
                    cfg
                };
                match io {
                    Io::Packet => {
                        let dev = PacketSocket::open(ifname).expect("packet socket");
                        let cfg = config(dev.mac());
                        let _ = tx.send(());
                        serve(dev, cfg, &flag)
                    }
                    Io::Xdp => {
                        let mut xcfg = XdpConfig::new(ifname);
                        xcfg.addrs = vec![addr.address];
                        // The setup keeps the XDP program attached; it lives on this thread.
                        let mut setup = XdpSetup::open(&xcfg).expect("AF_XDP setup");
                        let queue = setup.take_queues().into_iter().next().expect("queue 0");
                        let cfg = config(setup.mac());
                        let _ = tx.send(());
                        let stats = serve(queue, cfg, &flag);
                        drop(setup);
                        stats
                    }
                }
            })
            .expect("server thread");
        rx.recv_timeout(Duration::from_secs(30))
            .expect("server started");
        Server {
            stop,
            handle: Some(handle),
        }
    }

    fn stop(mut self) -> ShardStats {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .expect("running")
            .join()
            .expect("server thread panicked")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// One echo connection: bytes read but not yet sent back, and whether the peer finished.
#[derive(Default)]
struct Echo {
    pending: Vec<u8>,
    eof: bool,
}

/// The server loop: receive, timers, application, transmit; sleeps briefly when idle.
fn serve<D: Device>(mut dev: D, cfg: StackConfig, stop: &AtomicBool) -> ShardStats {
    let now = Instant::now();
    let mut shard = Shard::new(Shared::new(cfg), 0, now);
    shard.announce(now);
    let l = shard.listen(ECHO_PORT, 64).expect("listen");
    let mut conns: HashMap<ConnId, Echo> = HashMap::new();
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let mut busy = dev.receive(now, 64, &mut |f: &[u8]| shard.receive(f, now)) > 0;
        if shard.poll_timeout().is_some_and(|t| t <= now) {
            shard.on_timeout(now);
        }
        while shard.poll_event().is_some() {}
        while let Some(c) = shard.accept(l) {
            conns.insert(c, Echo::default());
        }
        conns.retain(|&c, e| echo(&mut shard, c, e, &mut buf));
        loop {
            let mut produced = false;
            let ok = dev.transmit(
                now,
                &mut |out: &mut [u8]| match shard.poll_transmit(now, out) {
                    Some(n) => {
                        produced = true;
                        n
                    }
                    None => 0,
                },
            );
            if !ok || !produced {
                break;
            }
            busy = true;
        }
        dev.flush(now);
        if !busy {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
    shard.stats().clone()
}

/// Moves bytes from `c`'s receive side to its send side; returns false once it is closed.
fn echo(shard: &mut Shard, c: ConnId, e: &mut Echo, buf: &mut [u8]) -> bool {
    loop {
        if !e.pending.is_empty() {
            match shard.send(c, &e.pending) {
                Ok(n) => {
                    e.pending.drain(..n);
                    if !e.pending.is_empty() {
                        return true;
                    }
                }
                Err(SocketError::WouldBlock) => return true,
                Err(_) => {
                    shard.close(c);
                    return false;
                }
            }
        }
        if e.eof {
            shard.close(c);
            return false;
        }
        match shard.recv(c, buf) {
            Ok(0) => e.eof = true,
            Ok(n) => e.pending.extend_from_slice(&buf[..n]),
            Err(SocketError::WouldBlock) => return true,
            Err(_) => {
                shard.close(c);
                return false;
            }
        }
    }
}

fn python(ns: &Netns, script: &str, args: &[String]) -> Output {
    let mut cmd = ns.command("timeout");
    cmd.args([CLIENT_TIMEOUT_SECS, "python3", "-c", script])
        .args(args);
    cmd.output().expect("run python3")
}

fn echo_client(ns: &Netns, server: Ipv4Addr, bytes: usize) {
    let wall = Instant::now();
    let out = python(
        ns,
        ECHO_CLIENT,
        &[server.to_string(), ECHO_PORT.to_string(), bytes.to_string()],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.starts_with("OK"),
        "echo of {bytes} bytes failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("echo {bytes} bytes each way: {:?}", wall.elapsed());
}

#[test]
fn kernel_client_ping_arp_rst_and_20mb_echo() {
    boomerang_nic::need_root!();
    let pair = Pair::new("stk", 1, false).expect("namespaces");
    let addr = Ipv4Cidr::new(Pair::SERVER_ADDR, Pair::PREFIX).expect("cidr");
    let server = Server::start(&pair.server, Pair::IFNAME, addr, None, Io::Packet);
    let server_ip = Pair::SERVER_ADDR.to_string();

    // ICMP echo (and with it ARP: the kernel must resolve us first).
    pair.client
        .run("ping", &["-c", "3", "-i", "0.2", "-W", "2", &server_ip])
        .expect("ping our stack");
    // The client's kernel learned our MAC.
    let our_mac = pair
        .server
        .enter(|| std::fs::read_to_string("/sys/class/net/veth0/address").unwrap_or_default())
        .expect("enter");
    let neigh = pair
        .client
        .ip(&["neigh", "show", &server_ip])
        .expect("neigh");
    assert!(neigh.contains(our_mac.trim()), "{neigh} lacks {our_mac}");

    // A SYN to a closed port gets a RST: connect() fails with ECONNREFUSED.
    let out = python(
        &pair.client,
        REFUSED_CLIENT,
        &[server_ip.clone(), CLOSED_PORT.to_string()],
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("REFUSED"),
        "{} {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // A small exchange, then 20 MB each way, byte-exact.
    echo_client(&pair.client, Pair::SERVER_ADDR, 1000);
    echo_client(&pair.client, Pair::SERVER_ADDR, 20 * 1000 * 1000);

    let stats = server.stop();
    eprintln!("server stats: {stats:?}");
    assert!(stats.icmp_echo_replies >= 3);
    assert!(stats.arp_replies_sent >= 1);
    assert!(stats.tcp_rst_no_connection >= 1);
    assert_eq!(
        stats.tcp_drop_checksum, 0,
        "the kernel sent complete checksums"
    );
}

#[test]
fn kernel_client_20mb_through_lossy_router() {
    boomerang_nic::need_root!();
    let net = Routed::new("stl", 1, false).expect("namespaces");
    // 2% loss on everything the router forwards, both directions.
    for args in [
        vec!["add", "table", "ip", "bmrloss"],
        vec![
            "add",
            "chain",
            "ip",
            "bmrloss",
            "impair",
            "{ type filter hook forward priority 0; }",
        ],
        vec![
            "add", "rule", "ip", "bmrloss", "impair", "numgen", "random", "mod", "1000", "<", "20",
            "counter", "drop",
        ],
    ] {
        net.router.run("nft", &args).expect("nft");
    }
    let addr = Ipv4Cidr::new(Routed::SERVER_ADDR, Routed::PREFIX).expect("cidr");
    let server = Server::start(
        &net.server,
        "veth0",
        addr,
        Some(Routed::ROUTER_SERVER_ADDR),
        Io::Packet,
    );
    echo_client(&net.client, Routed::SERVER_ADDR, 20 * 1000 * 1000);
    let dropped = net
        .router
        .run("nft", &["list", "table", "ip", "bmrloss"])
        .unwrap_or_default();
    let stats = server.stop();
    eprintln!("server stats: {stats:?}\nrouter: {dropped}");
    assert!(dropped.contains("counter packets"), "{dropped}");
    assert!(
        !dropped.contains("counter packets 0 "),
        "the router dropped nothing: {dropped}"
    );
}

#[test]
fn kernel_client_20mb_over_af_xdp() {
    boomerang_nic::need_root!();
    let pair = Pair::new("stx", 1, false).expect("namespaces");
    let addr = Ipv4Cidr::new(Pair::SERVER_ADDR, Pair::PREFIX).expect("cidr");
    let server = Server::start(&pair.server, Pair::IFNAME, addr, None, Io::Xdp);
    pair.client
        .run(
            "ping",
            &[
                "-c",
                "2",
                "-i",
                "0.2",
                "-W",
                "2",
                &Pair::SERVER_ADDR.to_string(),
            ],
        )
        .expect("ping our stack over AF_XDP");
    echo_client(&pair.client, Pair::SERVER_ADDR, 20 * 1000 * 1000);
    let stats = server.stop();
    eprintln!("server stats (AF_XDP): {stats:?}");
    assert!(stats.icmp_echo_replies >= 2);
    assert_eq!(stats.tcp_drop_checksum, 0);
}

/// The impairment forwarder (crates/nic/examples/netsim.rs), built on first use with this
/// test binary's profile and target directory.
fn netsim_path() -> std::path::PathBuf {
    boomerang_nic::netns::built_example("netsim").unwrap_or_else(|e| panic!("{e}"))
}

/// A netsim process inside the middle namespace; killed by its PID when dropped.
struct Netsim(std::process::Child);

impl Drop for Netsim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn kernel_client_20mb_through_netsim_with_reordering_delay_and_loss() {
    use std::io::{BufRead, BufReader};

    boomerang_nic::need_root!();
    // client (kernel, 198.18.0.1) – mid (netsim, L2) – server (our shard, 198.18.0.2).
    let client = Netns::new("stnc").expect("client ns");
    let mid = Netns::new("stnm").expect("mid ns");
    let server_ns = Netns::new("stns").expect("server ns");
    boomerang_nic::netns::veth_pair(&client, "veth0", &mid, "va", 1).expect("veth a");
    boomerang_nic::netns::veth_pair(&mid, "vb", &server_ns, "veth0", 1).expect("veth b");
    boomerang_nic::netns::add_addr(&client, "veth0", Pair::CLIENT_ADDR, Pair::PREFIX)
        .expect("client addr");
    for (ns, ifname) in [
        (&client, "veth0"),
        (&mid, "va"),
        (&mid, "vb"),
        (&server_ns, "veth0"),
    ] {
        boomerang_nic::netns::disable_ipv6(ns, ifname).expect("ipv6 off");
    }
    mid.sysctl("net.ipv4.ip_forward", "0")
        .expect("no forwarding");
    client.sysctl("net.core.txrehash", "0").ok();

    let mut child = mid
        .command(netsim_path().to_str().expect("utf-8 path"))
        .args([
            "--a",
            "va",
            "--b",
            "vb",
            "--duration",
            "120",
            "--delay",
            "2ms",
            "--jitter",
            "1ms",
            "--reorder",
            "5%",
            "--loss",
            "1%",
            "--dup",
            "1%",
            "--seed",
            "11",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("spawn netsim");
    let stdout = child.stdout.take().expect("stdout");
    let _netsim = Netsim(child);
    let (tx, ready) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            eprintln!("netsim: {line}");
            if line.starts_with("netsim: ready") {
                let _ = tx.send(());
            }
        }
    });
    ready
        .recv_timeout(Duration::from_secs(30))
        .expect("netsim became ready");

    let addr = Ipv4Cidr::new(Pair::SERVER_ADDR, Pair::PREFIX).expect("cidr");
    let server = Server::start(&server_ns, "veth0", addr, None, Io::Packet);
    echo_client(&client, Pair::SERVER_ADDR, 20 * 1000 * 1000);
    let stats = server.stop();
    eprintln!("server stats (through netsim): {stats:?}");
    assert!(
        stats.tcp_retransmitted_segments > 0,
        "1% loss must have cost retransmissions: {stats:?}"
    );
}
