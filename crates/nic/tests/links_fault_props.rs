//! Properties of the fault injector over random traffic and random settings: nothing is
//! created or lost unaccounted, no frame arrives before its time, the queue bound holds, and a
//! seed replays exactly.

use std::time::{Duration, Instant};

use boomerang_nic::fault::{FaultConfig, FaultInjector, FaultStats};
use boomerang_nic::memlink::{LinkConfig, MemLink};
use boomerang_nic::Device;
use proptest::prelude::*;

const A: [u8; 6] = [2, 0, 0, 0, 0, 1];
const B: [u8; 6] = [2, 0, 0, 0, 0, 2];

/// One step of traffic: send a frame of `len` bytes after `gap_us` microseconds.
#[derive(Debug, Clone)]
struct Step {
    gap_us: u64,
    len: usize,
}

fn config() -> impl Strategy<Value = FaultConfig> {
    (
        (0.0..0.5f64, 0.0..0.3f64, 0.0..0.3f64, 0.0..0.3f64),
        (0u64..3000, 0u64..1000, 0u64..2000),
        (
            prop::option::of(1_000_000u64..1_000_000_000),
            3000usize..200_000,
        ),
        (prop::option::of(64usize..1514), 4usize..256),
    )
        .prop_map(
            |(
                (drop, duplicate, reorder, corrupt),
                (delay, jitter, reorder_delay),
                (rate, rq),
                (max, q),
            )| {
                FaultConfig {
                    drop,
                    duplicate,
                    reorder,
                    corrupt,
                    delay: Duration::from_micros(delay),
                    jitter: Duration::from_micros(jitter),
                    reorder_delay: Duration::from_micros(reorder_delay),
                    rate_bps: rate,
                    rate_queue_bytes: rq,
                    max_size: max,
                    queue_frames: q,
                }
            },
        )
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (0u64..500, 14usize..=1514).prop_map(|(gap_us, len)| Step { gap_us, len }),
        1..300,
    )
}

/// What B received: (arrival time, sequence number, send time, length), times since the start.
type Arrivals = Vec<(Duration, u32, Duration, usize)>;

/// Sends `steps` through a fault injector on A; returns what B saw, A's TX stats, and how many
/// transmissions were refused.
fn run(cfg: &FaultConfig, steps: &[Step], seed: u64) -> (Arrivals, FaultStats, u64) {
    let big = LinkConfig {
        queue_frames: 100_000,
        ..LinkConfig::default()
    };
    let (a, mut b) = MemLink::pair_with(A, B, 1514, big, big);
    let mut a = FaultInjector::new(a, FaultConfig::default(), cfg.clone(), seed).expect("valid");
    let t0 = Instant::now();
    let mut now = t0;
    let mut got = Vec::new();
    let mut refused = 0;
    let collect = |b: &mut boomerang_nic::memlink::MemPort, now: Instant, got: &mut Arrivals| {
        b.receive(now, usize::MAX, &mut |f: &[u8]| {
            let seq = u32::from_be_bytes([f[0], f[1], f[2], f[3]]);
            let sent = u64::from_be_bytes([f[4], f[5], f[6], f[7], f[8], f[9], f[10], f[11]]);
            got.push((now - t0, seq, Duration::from_nanos(sent), f.len()));
        });
    };
    for (i, s) in steps.iter().enumerate() {
        // Deliver everything that falls due before the next send, at its exact time.
        let next = now + Duration::from_micros(s.gap_us);
        while let Some(t) = a.poll_at().filter(|t| *t <= next) {
            now = now.max(t);
            a.poll(now);
            collect(&mut b, now, &mut got);
        }
        now = next;
        let sent_ns = u64::try_from((now - t0).as_nanos()).unwrap_or(u64::MAX);
        let ok = a.transmit(now, &mut |buf: &mut [u8]| {
            buf[..s.len].fill(0xa5);
            buf[..4].copy_from_slice(&(i as u32).to_be_bytes());
            buf[4..12].copy_from_slice(&sent_ns.to_be_bytes());
            s.len
        });
        if !ok {
            refused += 1;
        }
        assert!(a.held().1 <= cfg.queue_frames, "queue bound exceeded");
        collect(&mut b, now, &mut got);
    }
    while let Some(t) = a.poll_at() {
        now = now.max(t);
        a.poll(now);
        collect(&mut b, now, &mut got);
    }
    (got, a.tx_stats(), refused)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_frame_is_accounted_for(cfg in config(), steps in steps(), seed in any::<u64>()) {
        let (got, st, refused) = run(&cfg, &steps, seed);
        // Offered frames: every accepted transmission.
        prop_assert_eq!(st.frames + refused, steps.len() as u64);
        prop_assert_eq!(st.queue_full, refused);
        // Conservation: what arrives is what was offered, minus what was dropped on purpose,
        // plus the copies.
        let lost = st.dropped + st.too_large + st.rate_dropped;
        prop_assert_eq!(got.len() as u64, st.frames - lost + st.duplicated);
        prop_assert_eq!(st.delivered, got.len() as u64);
        for (arrived, seq, sent, len) in &got {
            prop_assert!(cfg.max_size.is_none_or(|m| *len <= m));
            // Corruption may flip a bit of the header we wrote: check timing on clean runs.
            if st.corrupted == 0 {
                let step = steps.get(*seq as usize);
                prop_assert_eq!(step.map(|s| s.len), Some(*len));
                // Never before the configured delay minus jitter.
                let min = cfg.delay.saturating_sub(cfg.jitter);
                prop_assert!(*arrived >= *sent + min, "early: sent {:?} arrived {:?}", sent, arrived);
            }
        }
        if st.corrupted == 0 && cfg.duplicate == 0.0 {
            // Without corruption or duplication every sequence number arrives at most once.
            let mut seqs: Vec<u32> = got.iter().map(|g| g.1).collect();
            seqs.sort_unstable();
            let n = seqs.len();
            seqs.dedup();
            prop_assert_eq!(seqs.len(), n);
        }
    }

    #[test]
    fn a_seed_replays_exactly(cfg in config(), steps in steps(), seed in any::<u64>()) {
        let one = run(&cfg, &steps, seed);
        let two = run(&cfg, &steps, seed);
        prop_assert_eq!(one.0, two.0);
        prop_assert_eq!(one.1, two.1);
    }
}
