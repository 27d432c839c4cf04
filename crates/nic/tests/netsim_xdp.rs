//! netsim on the AF_XDP driver (`--io xdp`): kernel TCP through it stays byte-exact under
//! loss and reordering, and ping sees the configured delay.

mod netsim_util;

use netsim_util::{can_run, ping, tcp_transfer, Topology, CLIENT, SERVER};

fn xdp_args(extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "--io",
        "xdp",
        "--xdp-addr",
        &CLIENT.to_string(),
        "--xdp-addr",
        &SERVER.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

#[test]
fn xdp_forwarder_carries_tcp_under_loss_and_reordering() {
    if !can_run() {
        return;
    }
    let topo = Topology::new("nxt");
    let args = xdp_args(&["--loss", "1%", "--reorder", "2%", "--seed", "31"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let sim = topo.netsim(&args);
    let t = tcp_transfer(&topo, 4 * 1024 * 1024);
    let (a2b, b2a) = sim.stop();
    eprintln!(
        "xdp io: 4 MiB in {:.3} s at the server; a2b {a2b:?}; b2a {b2a:?}",
        t.server_secs
    );
    assert_eq!(t.sent, t.received);
    assert!(a2b.frames > 2800, "{a2b:?}");
    assert!(a2b.dropped > 0 && a2b.reordered > 0, "{a2b:?}");
}

#[test]
fn xdp_forwarder_delays() {
    if !can_run() {
        return;
    }
    let topo = Topology::new("nxd");
    let args = xdp_args(&["--delay", "10ms", "--realtime"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let sim = topo.netsim(&args);
    ping(&topo, 1, "0.2");
    let p = ping(&topo, 10, "0.05");
    sim.stop();
    assert_eq!(p.received, 10, "{p:?}");
    let min = p.rtts_ms.iter().copied().fold(f64::INFINITY, f64::min);
    eprintln!("xdp io, delay 10ms each way: rtts {:?}", p.rtts_ms);
    assert!(min >= 20.0, "{p:?}");
    let mut sorted = p.rtts_ms.clone();
    sorted.sort_by(f64::total_cmp);
    assert!(sorted[sorted.len() / 2] <= 25.0, "{p:?}");
}
