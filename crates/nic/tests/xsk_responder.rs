//! The responder example against the Linux kernel in a peer namespace: `ping` and `arping`
//! get answers, the peer learns our MAC, the kernel keeps its own traffic on the same
//! interface, and a SIGKILL leaves no XDP program behind.

mod xsk_util;

use std::time::{Duration, Instant};

use boomerang_nic::netns::{add_addr, Pair};
use xsk_util::{example, has_xdp, mac_of, Proc};

fn responder(pair: &Pair, extra: &[&str]) -> Proc {
    let addr = format!("{}/{}", Pair::SERVER_ADDR, Pair::PREFIX);
    let mut args = vec!["--iface", Pair::IFNAME, "--addr", &addr];
    args.extend_from_slice(extra);
    Proc::start(
        &pair.server,
        &example("responder"),
        &args,
        "responder: ready",
    )
}

fn ping(pair: &Pair, addr: &str) -> std::io::Result<String> {
    pair.client
        .run("ping", &["-c", "3", "-i", "0.2", "-W", "2", addr])
}

#[test]
fn ping_and_arping_get_answers_and_peer_learns_our_mac() {
    boomerang_nic::need_root!();
    let pair = Pair::new("xp", 1, false).expect("namespaces");
    let mut proc = responder(&pair, &[]);
    assert!(proc.ready.contains("bind=Copy"), "{}", proc.ready);
    let server = Pair::SERVER_ADDR.to_string();

    let out = ping(&pair, &server).expect("ping through the responder");
    assert!(out.contains("3 received"), "{out}");
    let out = pair
        .client
        .run("arping", &["-c", "2", "-w", "3", "-I", "veth0", &server])
        .expect("arping");
    assert!(out.contains("2 packets received"), "{out}");

    let neigh = pair
        .client
        .ip(&["neigh", "show", &server, "dev", "veth0"])
        .expect("neigh");
    let mac = mac_of(&pair.server, Pair::IFNAME);
    assert!(
        neigh.contains(&mac),
        "neighbour table {neigh:?} lacks our MAC {mac}"
    );

    let tail = proc.terminate().join("\n");
    assert!(tail.contains("echo_replies=3"), "{tail}");
}

#[test]
fn traffic_for_other_addresses_still_reaches_the_kernel() {
    boomerang_nic::need_root!();
    let pair = Pair::new("xk", 1, false).expect("namespaces");
    // The server's kernel owns a second address on the same interface.
    let kernel_addr = "198.18.0.3";
    add_addr(
        &pair.server,
        Pair::IFNAME,
        kernel_addr.parse().expect("addr"),
        Pair::PREFIX,
    )
    .expect("kernel address");
    let mut proc = responder(&pair, &[]);

    let out = ping(&pair, kernel_addr).expect("ping the kernel's address");
    assert!(out.contains("3 received"), "{out}");
    let out = ping(&pair, &Pair::SERVER_ADDR.to_string()).expect("ping ours");
    assert!(out.contains("3 received"), "{out}");

    let tail = proc.terminate().join("\n");
    // Exactly our 3 echoes went to the socket: the kernel's did not.
    assert!(tail.contains("echo_replies=3"), "{tail}");
    let passed: u64 = tail
        .split_whitespace()
        .find_map(|w| w.strip_prefix("xdp_passed="))
        .and_then(|v| v.parse().ok())
        .expect("xdp_passed in the summary");
    assert!(
        passed >= 4,
        "expected ARP + 3 echoes passed to the kernel, got {passed}"
    );
}

#[test]
fn sigkill_detaches_the_program_and_the_kernel_gets_traffic_again() {
    boomerang_nic::need_root!();
    let pair = Pair::new("xz", 1, false).expect("namespaces");
    let mut proc = responder(&pair, &[]);
    let server = Pair::SERVER_ADDR.to_string();
    assert!(
        has_xdp(&pair.server, Pair::IFNAME),
        "no XDP program while running"
    );
    ping(&pair, &server).expect("ping through the responder");

    proc.kill9();
    let start = Instant::now();
    while has_xdp(&pair.server, Pair::IFNAME) && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !has_xdp(&pair.server, Pair::IFNAME),
        "XDP program still attached after SIGKILL"
    );

    // The kernel takes the address over: with the program gone its answers come back.
    add_addr(&pair.server, Pair::IFNAME, Pair::SERVER_ADDR, Pair::PREFIX).expect("addr");
    let out = ping(&pair, &server).expect("ping the kernel after the responder died");
    assert!(out.contains("3 received"), "{out}");
}

#[test]
fn generic_xdp_mode_also_answers() {
    boomerang_nic::need_root!();
    let pair = Pair::new("xg", 1, false).expect("namespaces");
    let mut proc = responder(&pair, &["--xdp-mode", "generic", "--frame-size", "2048"]);
    assert!(proc.ready.contains("xdp=Generic"), "{}", proc.ready);
    let out = ping(&pair, &Pair::SERVER_ADDR.to_string()).expect("ping in generic mode");
    assert!(out.contains("3 received"), "{out}");
    let tail = proc.terminate().join("\n");
    assert!(tail.contains("echo_replies=3"), "{tail}");
}

#[test]
fn four_queue_responder_with_shared_umem_answers_every_ping() {
    boomerang_nic::need_root!();
    let pair = Pair::new("xq", 4, false).expect("namespaces");
    let mut proc = responder(&pair, &["--queues", "4", "--shared-umem"]);
    assert!(proc.ready.contains("queues=4"), "{}", proc.ready);
    // Each ping process is a new socket with its own flow hash, so the echoes land on
    // different queues (threads) of the responder.
    for _ in 0..8 {
        let out = pair
            .client
            .run(
                "ping",
                &["-c", "1", "-W", "2", &Pair::SERVER_ADDR.to_string()],
            )
            .expect("ping the 4-queue responder");
        assert!(out.contains("1 received"), "{out}");
    }
    let tail = proc.terminate().join("\n");
    assert!(tail.contains("echo_replies=8"), "{tail}");
}
