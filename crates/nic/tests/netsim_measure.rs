//! What netsim is told is what the kernel measures: delay and jitter (ping RTT), loss and
//! duplication (ping counts, cross-checked with netsim's own counters), the rate limit
//! (TCP goodput never above the line rate), and each direction configured on its own.
//!
//! Lower bounds on delay are hard guarantees (a frame never leaves early); upper bounds
//! carry a generous allowance for scheduling on a loaded machine.

mod netsim_util;

use netsim_util::{ping, tcp_transfer, Topology};

/// Allowance for the forwarder's and the kernels' scheduling on top of a configured delay.
const SLACK_MS: f64 = 5.0;

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(f64::NAN)
}

#[test]
fn delay_shows_up_in_ping_rtt() {
    boomerang_nic::need_root!();
    let topo = Topology::new("nmd");
    let sim = topo.netsim(&["--delay", "20ms", "--realtime"]);
    ping(&topo, 1, "0.2"); // ARP resolution, not measured
    let p = ping(&topo, 20, "0.05");
    sim.stop();
    assert_eq!(p.received, 20, "{p:?}");
    let min = p.rtts_ms.iter().copied().fold(f64::INFINITY, f64::min);
    let med = median(&p.rtts_ms);
    eprintln!("delay 20ms each way: rtt min {min:.3} median {med:.3} ms ({p:?})");
    assert!(min >= 40.0, "a frame left early: {p:?}");
    assert!(med <= 40.0 + SLACK_MS, "{p:?}");
}

#[test]
fn jitter_spreads_rtt_within_its_bounds_one_direction_only() {
    boomerang_nic::need_root!();
    let topo = Topology::new("nmj");
    // Only A→B (client → server) is delayed: RTT in 10 ms ± 4 ms.
    let sim = topo.netsim(&[
        "--a2b-delay",
        "10ms",
        "--a2b-jitter",
        "4ms",
        "--seed",
        "21",
        "--realtime",
    ]);
    ping(&topo, 1, "0.2");
    let p = ping(&topo, 40, "0.05");
    sim.stop();
    assert_eq!(p.received, 40, "{p:?}");
    let min = p.rtts_ms.iter().copied().fold(f64::INFINITY, f64::min);
    let max = p.rtts_ms.iter().copied().fold(0.0, f64::max);
    let mean = p.rtts_ms.iter().sum::<f64>() / p.rtts_ms.len() as f64;
    let sd =
        (p.rtts_ms.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / p.rtts_ms.len() as f64).sqrt();
    eprintln!(
        "delay 10ms ± 4ms one way: rtt min {min:.3} mean {mean:.3} max {max:.3} sd {sd:.3} ms"
    );
    assert!(min >= 6.0, "{p:?}");
    let mut sorted = p.rtts_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let p90 = sorted[sorted.len() * 9 / 10];
    assert!(p90 <= 14.0 + SLACK_MS, "{p:?}");
    // Uniform on ±4 ms has sd 2.3 ms; a constant delay would show almost none.
    assert!(sd >= 1.0 && max - min >= 4.0, "no jitter visible: {p:?}");
}

#[test]
fn loss_matches_the_setting_and_the_counters() {
    boomerang_nic::need_root!();
    let topo = Topology::new("nml");
    topo.static_neighbours();
    let sim = topo.netsim(&["--a2b-loss", "20%", "--seed", "22"]);
    let p = ping(&topo, 200, "0.01");
    let (a2b, b2a) = sim.stop();
    let lost = p.transmitted - p.received;
    eprintln!(
        "loss 20% one way: {lost}/{} echo requests lost; netsim a2b dropped {}",
        p.transmitted, a2b.dropped
    );
    assert_eq!(p.transmitted, 200);
    // Binomial(200, 0.2): mean 40, sd 5.7; allow ±3.5 sd.
    assert!((20..=60).contains(&lost), "{p:?}");
    // Every lost request is one netsim dropped (plus possibly an ARP frame or two).
    assert!(
        u64::from(lost) <= a2b.dropped && a2b.dropped <= u64::from(lost) + 3,
        "{a2b:?}"
    );
    assert_eq!(
        b2a.dropped, 0,
        "the other direction was not configured: {b2a:?}"
    );
}

#[test]
fn duplication_shows_up_as_duplicate_replies() {
    boomerang_nic::need_root!();
    let topo = Topology::new("nmu");
    topo.static_neighbours();
    let sim = topo.netsim(&["--a2b-dup", "10%", "--seed", "23"]);
    let p = ping(&topo, 200, "0.01");
    let (a2b, b2a) = sim.stop();
    eprintln!(
        "dup 10% one way: {} duplicate replies to 200 requests; netsim a2b duplicated {}",
        p.duplicates, a2b.duplicated
    );
    assert_eq!(p.received, 200, "{p:?}");
    // Binomial(200, 0.1): mean 20, sd 4.2.
    assert!((6..=35).contains(&p.duplicates), "{p:?}");
    // No ARP crosses: every duplicated request brought one duplicate reply.
    assert_eq!(u64::from(p.duplicates), a2b.duplicated, "{a2b:?}");
    assert_eq!(b2a.duplicated, 0);
}

#[test]
fn rate_limit_caps_tcp_goodput() {
    boomerang_nic::need_root!();
    let topo = Topology::new("nmr");
    let sim = topo.netsim(&["--rate", "20mbit"]);
    let bytes = 2 * 1024 * 1024;
    let t = tcp_transfer(&topo, bytes);
    sim.stop();
    assert_eq!(t.sent, t.received);
    let mbit = bytes as f64 * 8.0 / t.server_secs / 1e6;
    eprintln!(
        "rate 20mbit: TCP goodput {mbit:.2} Mbit/s over {:.3} s",
        t.server_secs
    );
    // Goodput carries headers on top, so it can never reach the line rate (a hard bound).
    assert!(
        mbit <= 20.0,
        "goodput {mbit:.2} Mbit/s above a 20 Mbit/s line"
    );
}
