//! netsim's default I/O is the AF_XDP driver in redirect-everything mode: ARP and IPv4 for
//! any address cross it, and ping sees the configured delay.

mod netsim_util;

use netsim_util::{can_run, ping, Topology};

#[test]
fn auto_io_is_xdp_and_forwards_arp_and_delays() {
    if !can_run() {
        return;
    }
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
