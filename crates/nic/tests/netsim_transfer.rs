//! Kernel-to-kernel TCP through netsim stays byte-exact under every impairment, on both I/O
//! paths (AF_XDP and AF_PACKET).

mod netsim_util;

use netsim_util::{tcp_transfer, DirStats, Topology};

/// Bytes sent per transfer.
const TRANSFER_BYTES: usize = 4 * 1024 * 1024;

/// Runs one transfer through netsim (`--io io` plus `args`) and checks it end to end;
/// returns netsim's counters.
fn transfer_under(tag: &str, io: &str, args: &[&str], bytes: usize) -> (DirStats, DirStats) {
    let topo = Topology::new(tag);
    let mut all = vec!["--io", io];
    all.extend_from_slice(args);
    let sim = topo.netsim(&all);
    assert!(sim.ready.contains(&format!("io={io}")), "{}", sim.ready);
    let start = std::time::Instant::now();
    let t = tcp_transfer(&topo, bytes);
    let took = start.elapsed();
    let (a2b, b2a) = sim.stop();
    eprintln!(
        "{io} {args:?}: {bytes} bytes in {took:?} ({:.1} Mbit/s at the server); a2b {a2b:?}; b2a {b2a:?}",
        bytes as f64 * 8.0 / t.server_secs / 1e6
    );
    assert_eq!(t.sent, t.received, "data changed on the way under {args:?}");
    assert!(a2b.delivered > 0 && b2a.delivered > 0);
    (a2b, b2a)
}

/// One test per I/O path for an impairment: `$check` gets (a2b, b2a).
macro_rules! both_paths {
    ($name:ident, $tag:literal, $args:expr, $bytes:expr, $check:expr) => {
        mod $name {
            use super::*;

            #[test]
            fn xdp() {
                boomerang_nic::need_root!();
                let (a2b, b2a) = transfer_under(concat!($tag, "x"), "xdp", $args, $bytes);
                ($check)(a2b, b2a);
            }

            #[test]
            fn packet() {
                boomerang_nic::need_root!();
                let (a2b, b2a) = transfer_under(concat!($tag, "p"), "packet", $args, $bytes);
                ($check)(a2b, b2a);
            }
        }
    };
}

both_paths!(
    clean_link,
    "nsc",
    &[],
    TRANSFER_BYTES,
    |a2b: DirStats, b2a: DirStats| {
        // 4 MiB at ≤1514-byte frames: at least ~2900 data frames went A→B.
        assert!(a2b.frames > 2800, "{a2b:?}");
        assert_eq!(a2b.dropped + b2a.dropped, 0);
    }
);

both_paths!(
    loss,
    "nsl",
    &["--loss", "2%", "--seed", "3"],
    TRANSFER_BYTES,
    |a2b: DirStats, b2a: DirStats| assert!(a2b.dropped > 0 && b2a.dropped > 0, "{a2b:?} {b2a:?}")
);

both_paths!(
    duplication,
    "nsd",
    &["--dup", "5%", "--seed", "4"],
    TRANSFER_BYTES,
    |a2b: DirStats, b2a: DirStats| assert!(
        a2b.duplicated > 0 && b2a.duplicated > 0,
        "{a2b:?} {b2a:?}"
    )
);

both_paths!(
    reordering,
    "nsr",
    &["--reorder", "5%", "--reorder-delay", "1ms", "--seed", "5"],
    TRANSFER_BYTES,
    |a2b: DirStats, _b2a: DirStats| assert!(a2b.reordered > 0, "{a2b:?}")
);

both_paths!(
    corruption,
    "nsx",
    &["--corrupt", "1%", "--seed", "6"],
    TRANSFER_BYTES,
    |a2b: DirStats, _b2a: DirStats| assert!(a2b.corrupted > 0, "{a2b:?}")
);

both_paths!(
    delay_and_jitter,
    "nsj",
    &["--delay", "5ms", "--jitter", "2ms", "--seed", "7"],
    TRANSFER_BYTES,
    |_a2b: DirStats, _b2a: DirStats| ()
);

// 2 MiB at 100 Mbit/s: ~0.2 s of line time; the bottleneck queue tail-drops bursts.
both_paths!(
    rate_limit,
    "nsb",
    &["--rate", "100mbit", "--seed", "8"],
    2 * 1024 * 1024,
    |_a2b: DirStats, _b2a: DirStats| ()
);

both_paths!(
    everything_at_once,
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
        "9"
    ],
    TRANSFER_BYTES,
    |a2b: DirStats, _b2a: DirStats| assert!(
        a2b.dropped > 0 && a2b.duplicated > 0 && a2b.reordered > 0,
        "{a2b:?}"
    )
);
