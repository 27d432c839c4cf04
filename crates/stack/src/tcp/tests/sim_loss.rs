//! BBR and CUBIC in the deterministic simulation on the matrix's bad paths (bench/tcp-matrix,
//! docs/benchmarks.md): a 20 ms round trip behind a 100 Mbit/s bottleneck with heavy random
//! loss in both directions, or with a quarter of the segments reordered. Times are virtual,
//! so the figures are exact and repeatable.

use super::sim::{run, Faults, Report, CLEAN};
use super::*;
use crate::tcp::config::CongestionAlgorithm;

/// 100 Mbit/s each way, 20 ms round trip, a queue of 20 ms (one BDP).
fn bottleneck(loss: f64) -> Faults {
    Faults {
        loss,
        delay: Duration::from_millis(10),
        rate: Some(12_500_000),
        queue: Duration::from_millis(20),
        ..CLEAN
    }
}

/// The matrix's own paths (no delay added): a fraction of a millisecond each way behind a
/// 400 Mbit/s forwarder, with random loss both ways.
fn short(loss: f64) -> Faults {
    Faults {
        loss,
        delay: Duration::from_micros(150),
        rate: Some(50_000_000),
        queue: Duration::from_millis(2),
        ..CLEAN
    }
}

/// 5 ms each way, a quarter of the segments 5 ms late (netsim `--reorder 25%
/// --reorder-delay 5ms`), behind the same bottleneck.
fn reordering() -> Faults {
    Faults {
        delay: Duration::from_millis(5),
        rate: Some(12_500_000),
        queue: Duration::from_millis(20),
        reorder: 0.25,
        reorder_delay: Duration::from_millis(5),
        ..CLEAN
    }
}

/// A receiver like Linux's: out-of-order data kept up to its (large) window.
fn cfg(congestion: CongestionAlgorithm) -> TcpConfig {
    TcpConfig {
        congestion,
        rcv_buf: 4 << 20,
        rcv_buf_initial: 4 << 20,
        max_ooo_bytes: 4 << 20,
        max_ooo_segments: 1024,
        ..TcpConfig::default()
    }
}

fn show(what: &str, seed: u64, r: &Report) {
    let done = r.server.done.unwrap_or(r.end);
    eprintln!(
        "{what} seed {seed}: server's data in {done:.3?} ({:.2} MB/s), {} RTOs, {} recoveries, {} resent; all done {:.3?}",
        BYTES as f64 / done.as_secs_f64() / 1e6,
        r.server.rtos,
        r.server.recoveries,
        r.server.retransmitted,
        r.end
    );
}

const BYTES: usize = 4_000_000;

#[test]
fn trace_one() {
    if let Ok(which) = std::env::var("SIM_ONE") {
        let seed = 1;
        let r = match which.as_str() {
            "bbr10" => run(
                seed,
                bottleneck(0.10),
                BYTES,
                &cfg(CongestionAlgorithm::Bbr),
                false,
            ),
            "bbr0" => run(
                seed,
                bottleneck(0.0),
                BYTES,
                &cfg(CongestionAlgorithm::Bbr),
                false,
            ),
            "cubic2" => run(
                seed,
                bottleneck(0.02),
                BYTES,
                &cfg(CongestionAlgorithm::Cubic),
                false,
            ),
            _ => run(
                seed,
                reordering(),
                BYTES,
                &cfg(CongestionAlgorithm::Bbr),
                false,
            ),
        };
        show(&which, seed, &r);
    }
}

#[test]
fn explore_bbr_under_heavy_loss() {
    for seed in [1, 2, 3] {
        let r = run(
            seed,
            bottleneck(0.10),
            BYTES,
            &cfg(CongestionAlgorithm::Bbr),
            false,
        );
        show("BBR 10%", seed, &r);
        let r = run(
            seed,
            bottleneck(0.02),
            BYTES,
            &cfg(CongestionAlgorithm::Cubic),
            false,
        );
        show("CUBIC 2%", seed, &r);
        let r = run(
            seed,
            reordering(),
            BYTES,
            &cfg(CongestionAlgorithm::Bbr),
            false,
        );
        show("BBR reorder", seed, &r);
        let r = run(
            seed,
            short(0.10),
            BYTES,
            &cfg(CongestionAlgorithm::Bbr),
            false,
        );
        show("BBR 10% short", seed, &r);
        let r = run(
            seed,
            short(0.02),
            BYTES,
            &cfg(CongestionAlgorithm::Cubic),
            false,
        );
        show("CUBIC 2% short", seed, &r);
    }
}
