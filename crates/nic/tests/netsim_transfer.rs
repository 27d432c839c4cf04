//! Kernel-to-kernel TCP through netsim stays byte-exact under every impairment.

mod netsim_util;

use netsim_util::{can_run, tcp_transfer, Topology};

/// Bytes sent per transfer.
const TRANSFER_BYTES: usize = 4 * 1024 * 1024;

/// Runs one transfer under `args` and checks it end to end; returns netsim's counters.
fn transfer_under(
    tag: &str,
    args: &[&str],
    bytes: usize,
) -> (netsim_util::DirStats, netsim_util::DirStats) {
    let topo = Topology::new(tag);
    let sim = topo.netsim(args);
    let start = std::time::Instant::now();
    let t = tcp_transfer(&topo, bytes);
    let took = start.elapsed();
    let (a2b, b2a) = sim.stop();
    eprintln!(
        "{args:?}: {bytes} bytes in {took:?} ({:.1} Mbit/s at the server); a2b {a2b:?}; b2a {b2a:?}",
        bytes as f64 * 8.0 / t.server_secs / 1e6
    );
    assert_eq!(t.sent, t.received, "data changed on the way under {args:?}");
    assert!(a2b.delivered > 0 && b2a.delivered > 0);
    (a2b, b2a)
}

#[test]
fn clean_link() {
    if !can_run() {
        return;
    }
    let (a2b, b2a) = transfer_under("nsc", &[], TRANSFER_BYTES);
    // 4 MiB at ≤1514-byte frames: at least ~2900 data frames went A→B.
    assert!(a2b.frames > 2800, "{a2b:?}");
    assert_eq!(a2b.dropped + b2a.dropped, 0);
}

#[test]
fn loss() {
    if !can_run() {
        return;
    }
    let (a2b, b2a) = transfer_under("nsl", &["--loss", "2%", "--seed", "3"], TRANSFER_BYTES);
    assert!(a2b.dropped > 0 && b2a.dropped > 0, "{a2b:?} {b2a:?}");
}

#[test]
fn duplication() {
    if !can_run() {
        return;
    }
    let (a2b, b2a) = transfer_under("nsd", &["--dup", "5%", "--seed", "4"], TRANSFER_BYTES);
    assert!(a2b.duplicated > 0 && b2a.duplicated > 0, "{a2b:?} {b2a:?}");
}

#[test]
fn reordering() {
    if !can_run() {
        return;
    }
    let (a2b, _) = transfer_under(
        "nsr",
        &["--reorder", "5%", "--reorder-delay", "1ms", "--seed", "5"],
        TRANSFER_BYTES,
    );
    assert!(a2b.reordered > 0, "{a2b:?}");
}

#[test]
fn corruption() {
    if !can_run() {
        return;
    }
    let (a2b, b2a) = transfer_under("nsx", &["--corrupt", "1%", "--seed", "6"], TRANSFER_BYTES);
    assert!(a2b.corrupted > 0, "{a2b:?} {b2a:?}");
}

#[test]
fn delay_and_jitter() {
    if !can_run() {
        return;
    }
    transfer_under(
        "nsj",
        &["--delay", "5ms", "--jitter", "2ms", "--seed", "7"],
        TRANSFER_BYTES,
    );
}

#[test]
fn rate_limit() {
    if !can_run() {
        return;
    }
    // 2 MiB at 100 Mbit/s: ~0.2 s of line time; the bottleneck queue tail-drops bursts.
    transfer_under(
        "nsb",
        &["--rate", "100mbit", "--seed", "8"],
        2 * 1024 * 1024,
    );
}

#[test]
fn everything_at_once() {
    if !can_run() {
        return;
    }
    let (a2b, _) = transfer_under(
        "nsa",
        &[
            "--delay",
            "2ms",
            "--jitter",
            "1ms",
            "--loss",
            "1%",
            "--dup",
            "1%",
            "--reorder",
            "2%",
            "--corrupt",
            "0.5%",
            "--rate",
            "200mbit",
            "--seed",
            "9",
        ],
        TRANSFER_BYTES,
    );
    assert!(
        a2b.dropped > 0 && a2b.duplicated > 0 && a2b.reordered > 0,
        "{a2b:?}"
    );
}
