//! Copy-mode transmit batch: one `sendto` transmits the whole TX ring when the kernel has
//! `XDP_MAX_TX_SKB_BUDGET` (Linux 6.17+) and the socket asked for it, and exactly 32 frames
//! when it keeps the kernel's default; the send buffer is raised as asked.

mod xsk_util;

use boomerang_nic::netns::{is_root, Pair};
use boomerang_nic::xsk::{TxBatch, XdpConfig, XdpSetup, KERNEL_TX_BUDGET};
use xsk_util::frames::udp_frame;

const RING: u32 = 512;
const FRAMES: usize = 400;

/// Opens a copy-mode queue with `budget`, queues FRAMES frames, publishes them with one
/// flush (one `sendto`), and returns the batch, the frames the kernel left in the ring and
/// the wakeups issued.
fn one_flush(pair: &Pair, budget: Option<u32>) -> (TxBatch, u32, u64) {
    let client_mac = xsk_util::parse_mac(&xsk_util::mac_of(&pair.client, Pair::IFNAME));
    pair.server
        .spawn_thread(move || {
            let mut cfg = XdpConfig::new(Pair::IFNAME);
            cfg.bind_mode = boomerang_nic::xsk::BindMode::Copy;
            cfg.frame_count = 1024;
            cfg.ring_size = RING;
            cfg.frame_size = 2048;
            cfg.tx_budget = budget;
            cfg.addrs = vec![Pair::SERVER_ADDR];
            let mut setup = XdpSetup::open(&cfg).expect("open");
            let mut q = setup.take_queues().pop().expect("queue");
            let mac = setup.mac();
            for i in 0..FRAMES {
                let mut tx = q.alloc_tx().expect("a free chunk and ring slot");
                let payload = (i as u64).to_be_bytes();
                let len = udp_frame(
                    q.tx_buffer(&mut tx),
                    mac,
                    client_mac,
                    Pair::SERVER_ADDR,
                    Pair::CLIENT_ADDR,
                    40000,
                    9,
                    &payload,
                );
                assert!(q.send(tx, len));
            }
            assert_eq!(q.counters().tx_wakeups, 0, "nothing published yet");
            q.flush_tx();
            (q.tx_batch(), q.tx_pending(), q.counters().tx_wakeups)
        })
        .expect("thread")
        .join()
        .expect("join")
}

#[test]
fn one_sendto_transmits_the_budget() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let pair = Pair::new("ncb", 1, false).expect("namespaces");

    // The kernel's default: 32 frames per sendto, the rest stays in the ring.
    let (batch, pending, wakeups) = one_flush(&pair, None);
    assert_eq!(wakeups, 1);
    assert!(!batch.budget_set);
    assert_eq!(batch.budget, KERNEL_TX_BUDGET);
    assert_eq!(pending, (FRAMES - 32) as u32, "{batch:?}");
    let default_send_buffer = batch.send_buffer;

    // Asking for the ring size: every frame leaves in the one sendto where the kernel
    // knows the option; 32 where it does not.
    let (batch, pending, wakeups) = one_flush(&pair, Some(RING));
    assert_eq!(wakeups, 1);
    if batch.budget_set {
        assert_eq!(batch.budget, RING);
        assert_eq!(pending, 0, "{batch:?}");
        // The send buffer is raised to budget × frame size, which the kernel doubles.
        assert_eq!(batch.send_buffer, 2 * RING * 2048, "{batch:?}");
        assert_ne!(batch.send_buffer, default_send_buffer);
    } else {
        eprintln!("this kernel has no XDP_MAX_TX_SKB_BUDGET (Linux 6.17+)");
        assert_eq!(batch.budget, KERNEL_TX_BUDGET);
        assert_eq!(pending, (FRAMES - 32) as u32, "{batch:?}");
    }
}
