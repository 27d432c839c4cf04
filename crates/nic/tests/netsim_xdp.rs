//! netsim's default I/O is the AF_XDP driver in redirect-everything mode: ARP and IPv4 for
//! any address cross it, and ping sees the configured delay.

mod netsim_util;

use netsim_util::{ping, tcp_transfer, Topology};

#[test]
fn auto_io_is_xdp_and_forwards_arp_and_delays() {
    boomerang_nic::need_root!();
    let topo = Topology::new("nxd");
    // No static neighbours: the ARP exchange must cross the forwarder too.
    let sim = topo.netsim(&["--delay", "10ms", "--realtime"]);
    assert!(sim.ready.contains("io=xdp"), "{}", sim.ready);
    ping(&topo, 1, "0.2");
    let p = ping(&topo, 10, "0.05");
    let neigh = topo.client.ip(&["neigh", "show"]).expect("neigh");
    sim.stop();
    assert!(
        neigh.contains("198.18.0.2") && neigh.contains("lladdr"),
        "{neigh}"
    );
    assert_eq!(p.received, 10, "{p:?}");
    let mut sorted = p.rtts_ms.clone();
    sorted.sort_by(f64::total_cmp);
    eprintln!("xdp io, delay 10ms each way: rtts {:?}", p.rtts_ms);
    assert!(sorted[0] >= 20.0, "{p:?}");
    assert!(sorted[sorted.len() / 2] <= 25.0, "{p:?}");
}

#[test]
fn auto_io_falls_back_to_packet_sockets_when_xdp_is_taken() {
    boomerang_nic::need_root!();
    let topo = Topology::new("nxf");
    let first = topo.netsim(&["--io", "xdp"]);
    assert!(first.ready.contains("io=xdp"), "{}", first.ready);
    // The interfaces' XDP hook is taken by the first forwarder: the second one must fall back.
    let second = topo.netsim(&["--io", "auto"]);
    assert!(second.ready.contains("io=packet"), "{}", second.ready);
    second.stop();
    // The first one still forwards.
    let p = ping(&topo, 3, "0.1");
    first.stop();
    assert_eq!(p.received, 3, "{p:?}");
}

#[test]
fn every_queue_of_a_multiqueue_interface_is_forwarded() {
    boomerang_nic::need_root!();
    let topo = Topology::with_queues("nxq", 4);
    let sim = topo.netsim(&["--io", "xdp"]);
    assert!(sim.ready.contains("queues=4/4"), "{}", sim.ready);
    // Each connection has its own source port, so its own flow hash and queue.
    for _ in 0..6 {
        let t = tcp_transfer(&topo, 256 * 1024);
        assert_eq!(t.sent, t.received);
    }
    let (_, _, lines) = sim.stop_with_output();
    let per_queue: Vec<u64> = lines
        .iter()
        .find_map(|l| l.strip_prefix("netsim: xdp a rx_per_queue="))
        .unwrap_or_else(|| panic!("no per-queue report in {lines:?}"))
        .trim_matches(|c| c == '[' || c == ']')
        .split(", ")
        .filter_map(|n| n.parse().ok())
        .collect();
    eprintln!("client-side queues received {per_queue:?}");
    assert_eq!(per_queue.len(), 4);
    assert!(
        per_queue.iter().filter(|n| **n > 0).count() >= 2,
        "all flows on one queue: {per_queue:?}"
    );
}
