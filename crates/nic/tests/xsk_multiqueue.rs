//! A 4-queue veth with one AF_XDP socket per queue, each on its own thread: 40 UDP flows
//! from the kernel peer spread over the queues, and every flow stays on one queue.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use boomerang_nic::netns::Pair;
use boomerang_nic::xsk::{XdpConfig, XdpSetup};
use boomerang_nic::Device;

const QUEUES: u32 = 4;
const FLOWS: u16 = 40;
const PER_FLOW: usize = 5;
const DST_PORT: u16 = 9999;
/// Longest wait for the sent datagrams to reach the sockets.
const DEADLINE: Duration = Duration::from_secs(15);

/// Source port of a UDP datagram to `Pair::SERVER_ADDR:DST_PORT`, if the frame is one.
fn udp_src_port(f: &[u8]) -> Option<u16> {
    let ip = f.get(14..)?;
    let ihl = usize::from(ip.first()? & 0x0f) * 4;
    let ours = f.get(12..14)? == [0x08, 0x00]
        && *ip.get(9)? == 17
        && ip.get(16..20)? == Pair::SERVER_ADDR.octets();
    let udp = ip.get(ihl..ihl + 8)?;
    let dst = u16::from_be_bytes([udp[2], udp[3]]);
    (ours && dst == DST_PORT).then(|| u16::from_be_bytes([udp[0], udp[1]]))
}

fn flows_spread_over_queues(shared_umem: bool) {
    let pair =
        Pair::new(if shared_umem { "xms" } else { "xmu" }, QUEUES, false).expect("namespaces");
    let (ready_tx, ready_rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let total = Arc::new(AtomicUsize::new(0));
    let total2 = total.clone();
    let stop2 = stop.clone();
    let server = pair
        .server
        .spawn_thread(move || -> Result<Vec<(u32, u16)>, String> {
            let mut cfg = XdpConfig::new(Pair::IFNAME);
            cfg.queues = (0..QUEUES).collect();
            cfg.shared_umem = shared_umem;
            // Huge pages if the host has some free, else the logged fallback to normal pages.
            cfg.huge_pages = shared_umem;
            cfg.frame_size = 2048;
            cfg.frame_count = 256;
            cfg.ring_size = 128;
            cfg.addrs = vec![Pair::SERVER_ADDR];
            let mut setup = XdpSetup::open(&cfg).map_err(|e| e.to_string())?;
            let _ = ready_tx.send(setup.mac());
            // One thread per queue, as the server runs its shards.
            let workers: Vec<_> = setup
                .take_queues()
                .into_iter()
                .map(|mut q| {
                    let stop = stop2.clone();
                    let total = total2.clone();
                    std::thread::spawn(move || {
                        let mut seen = Vec::new();
                        let id = q.queue_id();
                        while !stop.load(Ordering::Relaxed) {
                            let n = q.receive(Instant::now(), 64, &mut |f| {
                                if let Some(p) = udp_src_port(f) {
                                    seen.push((id, p));
                                    total.fetch_add(1, Ordering::Relaxed);
                                }
                            });
                            if n == 0 {
                                std::thread::sleep(Duration::from_millis(2));
                            }
                        }
                        seen
                    })
                })
                .collect();
            let mut all = Vec::new();
            for w in workers {
                all.extend(w.join().map_err(|_| "worker panicked")?);
            }
            Ok(all)
        })
        .expect("server thread");
    let mac = ready_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("server ready");
    let lladdr = mac
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    pair.client
        .ip(&[
            "neigh",
            "replace",
            &Pair::SERVER_ADDR.to_string(),
            "lladdr",
            &lladdr,
            "dev",
            Pair::IFNAME,
            "nud",
            "permanent",
        ])
        .expect("static neighbour");

    // 40 flows: one kernel UDP socket each (its own flow hash, so its own TX queue).
    let sent = pair
        .client
        .enter(|| -> std::io::Result<usize> {
            let dst = SocketAddrV4::new(Pair::SERVER_ADDR, DST_PORT);
            let socks: Vec<UdpSocket> = (0..FLOWS)
                .map(|_| UdpSocket::bind(SocketAddrV4::new(Pair::CLIENT_ADDR, 0)))
                .collect::<Result<_, _>>()?;
            let mut n = 0;
            for round in 0..PER_FLOW {
                for s in &socks {
                    s.send_to(&[round as u8; 32], dst)?;
                    n += 1;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(n)
        })
        .expect("enter client")
        .expect("send");

    // Wait (bounded) until every datagram reached a socket; a lost or duplicated one fails below.
    let start = Instant::now();
    while total.load(Ordering::Relaxed) < sent && start.elapsed() < DEADLINE {
        std::thread::sleep(Duration::from_millis(10));
    }
    // A little longer, so a duplicate would be seen too.
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    let seen = server.join().expect("join").expect("server side");

    assert_eq!(
        seen.len(),
        sent,
        "every datagram reaches a socket exactly once"
    );
    let mut queues_of_flow: BTreeMap<u16, BTreeSet<u32>> = BTreeMap::new();
    let mut per_queue: BTreeMap<u32, usize> = BTreeMap::new();
    for (q, port) in &seen {
        queues_of_flow.entry(*port).or_default().insert(*q);
        *per_queue.entry(*q).or_default() += 1;
    }
    assert_eq!(queues_of_flow.len(), usize::from(FLOWS), "flows seen");
    for (port, qs) in &queues_of_flow {
        assert_eq!(qs.len(), 1, "flow from port {port} landed on queues {qs:?}");
    }
    // 40 random flow hashes over 4 queues: all on fewer than 3 has odds below 1e-12.
    assert!(per_queue.len() >= 3, "flows not spread: {per_queue:?}");
    eprintln!("per-queue datagrams: {per_queue:?}");
}

#[test]
fn flows_spread_over_four_queues_with_separate_umems() {
    boomerang_nic::need_root!();
    flows_spread_over_queues(false);
}

#[test]
fn flows_spread_over_four_queues_with_shared_umem() {
    boomerang_nic::need_root!();
    flows_spread_over_queues(true);
}
