//! An in-memory Ethernet link between two [`Device`] ports, for deterministic tests.
//!
//! `MemLink::pair` returns two ports; a frame transmitted on one is received on the other.
//! Each direction is a bounded FIFO ([`LinkConfig::queue_frames`], default
//! [`DEFAULT_QUEUE_FRAMES`]) of frames stamped with the time they become receivable, so an
//! optional one-way delay and a line rate are applied against the caller's `now` (never a
//! clock read here): with a simulated clock the link is fully deterministic.
//!
//! Invariants: frames come out in the order they went in (delay and rate are the same for
//! every frame of a direction, so arrival times never decrease); a direction never holds
//! more than `queue_frames` frames (a full queue refuses transmission, like a full TX ring);
//! frame buffers are recycled through a pool, so steady traffic does not allocate.
//!
//! [`MemPort`] is single-threaded (`Rc<RefCell<…>>`); [`SyncMemPort`] is the `Send` variant
//! (`Arc<Mutex<…>>`) for tests that put each end on its own thread.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::device::Device;

/// Default bound on the frames one direction holds (queued plus in flight).
pub const DEFAULT_QUEUE_FRAMES: usize = 1024;

/// The behaviour of one direction of a [`MemLink`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkConfig {
    /// Most frames held in this direction, waiting to be received (0 refuses everything).
    pub queue_frames: usize,
    /// One-way propagation delay added to every frame.
    pub delay: Duration,
    /// Line rate in bits per second; `None` is infinitely fast.
    ///
    /// A frame of `n` bytes occupies the line for `8n / rate` seconds after the previous one
    /// left, so a burst queues up behind the line (bounded by `queue_frames`).
    pub rate_bps: Option<u64>,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            queue_frames: DEFAULT_QUEUE_FRAMES,
            delay: Duration::ZERO,
            rate_bps: None,
        }
    }
}

/// Counters of one direction of a [`MemLink`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Frames accepted for transmission.
    pub sent: u64,
    /// Frames handed to the receiver.
    pub received: u64,
    /// Transmissions refused because the direction's queue was full.
    pub refused: u64,
}

/// The time a frame of `len` bytes takes on a line of `rate_bps` bits per second.
pub(crate) fn serialization_time(len: usize, rate_bps: u64) -> Duration {
    if rate_bps == 0 {
        return Duration::MAX;
    }
    let bits = (len as u128).saturating_mul(8);
    let nanos = bits.saturating_mul(1_000_000_000) / u128::from(rate_bps);
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

#[derive(Debug)]
struct InFlight {
    arrive_at: Instant,
    len: usize,
    buf: Vec<u8>,
}

#[derive(Debug)]
struct Direction {
    config: LinkConfig,
    queue: VecDeque<InFlight>,
    /// When the line finishes sending the last accepted frame (rate limiting).
    line_free_at: Option<Instant>,
    stats: LinkStats,
}

impl Direction {
    fn new(config: LinkConfig) -> Self {
        Direction {
            config,
            queue: VecDeque::new(),
            line_free_at: None,
            stats: LinkStats::default(),
        }
    }

    fn arrival_time(&mut self, now: Instant, len: usize) -> Instant {
        let departed = match self.config.rate_bps {
            Some(rate) => {
                let start = self.line_free_at.map_or(now, |t| t.max(now));
                let done = start
                    .checked_add(serialization_time(len, rate))
                    .unwrap_or(start);
                self.line_free_at = Some(done);
                done
            }
            None => now,
        };
        let at = departed.checked_add(self.config.delay).unwrap_or(departed);
        // Keep the FIFO order even if the configuration changed while frames were in flight.
        self.queue.back().map_or(at, |last| at.max(last.arrive_at))
    }
}

/// Everything both ports of a link share: the two directions and a pool of frame buffers.
#[derive(Debug)]
struct LinkState {
    max_frame_len: usize,
    /// `dirs[0]` carries frames from port A to port B, `dirs[1]` from B to A.
    dirs: [Direction; 2],
    pool: Vec<Vec<u8>>,
}

impl LinkState {
    fn take_buf(&mut self) -> Vec<u8> {
        self.pool
            .pop()
            .unwrap_or_else(|| vec![0; self.max_frame_len])
    }

    fn give_buf(&mut self, buf: Vec<u8>) {
        // Keep at most as many spare buffers as the link can hold frames.
        let cap = self.dirs[0].config.queue_frames + self.dirs[1].config.queue_frames;
        if self.pool.len() < cap {
            self.pool.push(buf);
        }
    }
}

/// Access to the shared link state, for either the `Rc` or the `Arc` flavour.
trait Shared {
    fn with<R>(&self, f: impl FnOnce(&mut LinkState) -> R) -> R;
}

impl Shared for Rc<RefCell<LinkState>> {
    fn with<R>(&self, f: impl FnOnce(&mut LinkState) -> R) -> R {
        f(&mut self.borrow_mut())
    }
}

impl Shared for Arc<Mutex<LinkState>> {
    fn with<R>(&self, f: impl FnOnce(&mut LinkState) -> R) -> R {
        // A panic elsewhere while holding the lock leaves the queues consistent (every
        // mutation is a single push or pop), so a poisoned lock is still usable.
        f(&mut self.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// One end of a link: the shared state plus which direction this end transmits into.
#[derive(Debug)]
struct Port<S> {
    shared: S,
    mac: [u8; 6],
    max_frame_len: usize,
    /// The direction this port transmits into; it receives from the other one.
    tx: usize,
}

impl<S: Shared> Port<S> {
    fn rx(&self) -> usize {
        1 - self.tx
    }

    fn receive(&mut self, now: Instant, budget: usize, f: &mut dyn FnMut(&[u8])) -> usize {
        let rx = self.rx();
        let mut n = 0;
        while n < budget {
            // Take the frame out before calling `f`, so `f` may use the peer port freely.
            let frame = self.shared.with(|s| {
                let dir = &mut s.dirs[rx];
                match dir.queue.front() {
                    Some(head) if head.arrive_at <= now => {
                        dir.stats.received += 1;
                        dir.queue.pop_front()
                    }
                    _ => None,
                }
            });
            let Some(frame) = frame else { break };
            f(frame.buf.get(..frame.len).unwrap_or(&[]));
            self.shared.with(|s| s.give_buf(frame.buf));
            n += 1;
        }
        n
    }

    fn transmit(&mut self, now: Instant, f: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        let tx = self.tx;
        let buf = self.shared.with(|s| {
            let dir = &mut s.dirs[tx];
            if dir.queue.len() >= dir.config.queue_frames {
                dir.stats.refused += 1;
                None
            } else {
                Some(s.take_buf())
            }
        });
        let Some(mut buf) = buf else { return false };
        let len = f(&mut buf).min(self.max_frame_len);
        self.shared.with(|s| {
            if len == 0 {
                s.give_buf(buf);
                return;
            }
            let dir = &mut s.dirs[tx];
            let arrive_at = dir.arrival_time(now, len);
            dir.stats.sent += 1;
            dir.queue.push_back(InFlight {
                arrive_at,
                len,
                buf,
            });
        });
        true
    }

    fn next_rx_at(&self) -> Option<Instant> {
        let rx = self.rx();
        self.shared
            .with(|s| s.dirs[rx].queue.front().map(|f| f.arrive_at))
    }

    fn rx_pending(&self) -> usize {
        let rx = self.rx();
        self.shared.with(|s| s.dirs[rx].queue.len())
    }

    fn stats(&self, dir: usize) -> LinkStats {
        self.shared.with(|s| s.dirs[dir].stats)
    }

    fn set_tx_config(&self, config: LinkConfig) {
        let tx = self.tx;
        self.shared.with(|s| s.dirs[tx].config = config);
    }
}

fn new_state(max_frame_len: usize, a_to_b: LinkConfig, b_to_a: LinkConfig) -> LinkState {
    LinkState {
        max_frame_len,
        dirs: [Direction::new(a_to_b), Direction::new(b_to_a)],
        pool: Vec::new(),
    }
}

/// Constructors of in-memory link pairs.
#[derive(Debug)]
pub struct MemLink;

impl MemLink {
    /// A perfect link (no delay, infinite rate, [`DEFAULT_QUEUE_FRAMES`] per direction).
    pub fn pair(mac_a: [u8; 6], mac_b: [u8; 6], max_frame_len: usize) -> (MemPort, MemPort) {
        Self::pair_with(
            mac_a,
            mac_b,
            max_frame_len,
            LinkConfig::default(),
            LinkConfig::default(),
        )
    }

    /// A link with its own configuration for each direction (A→B and B→A).
    pub fn pair_with(
        mac_a: [u8; 6],
        mac_b: [u8; 6],
        max_frame_len: usize,
        a_to_b: LinkConfig,
        b_to_a: LinkConfig,
    ) -> (MemPort, MemPort) {
        let shared = Rc::new(RefCell::new(new_state(max_frame_len, a_to_b, b_to_a)));
        let port = |mac, tx, shared| MemPort {
            port: Port {
                shared,
                mac,
                max_frame_len,
                tx,
            },
        };
        (port(mac_a, 0, shared.clone()), port(mac_b, 1, shared))
    }

    /// Like [`MemLink::pair_with`], but the ports are `Send` (each may live on its own thread).
    pub fn pair_sync(
        mac_a: [u8; 6],
        mac_b: [u8; 6],
        max_frame_len: usize,
        a_to_b: LinkConfig,
        b_to_a: LinkConfig,
    ) -> (SyncMemPort, SyncMemPort) {
        let shared = Arc::new(Mutex::new(new_state(max_frame_len, a_to_b, b_to_a)));
        let port = |mac, tx, shared| SyncMemPort {
            port: Port {
                shared,
                mac,
                max_frame_len,
                tx,
            },
        };
        (port(mac_a, 0, shared.clone()), port(mac_b, 1, shared))
    }
}

macro_rules! port_api {
    ($name:ident, $doc:literal, $shared:ty) => {
        #[doc = $doc]
        #[derive(Debug)]
        pub struct $name {
            port: Port<$shared>,
        }

        impl $name {
            /// When the next frame for this port becomes receivable (`None`: nothing in flight).
            pub fn next_rx_at(&self) -> Option<Instant> {
                self.port.next_rx_at()
            }

            /// How many frames are on their way to this port (receivable now or later).
            pub fn rx_pending(&self) -> usize {
                self.port.rx_pending()
            }

            /// Counters of the direction this port transmits into.
            pub fn tx_stats(&self) -> LinkStats {
                self.port.stats(self.port.tx)
            }

            /// Counters of the direction this port receives from.
            pub fn rx_stats(&self) -> LinkStats {
                self.port.stats(self.port.rx())
            }

            /// Replaces the configuration of the direction this port transmits into.
            ///
            /// Frames already in flight keep their arrival times (and their order).
            pub fn set_tx_config(&self, config: LinkConfig) {
                self.port.set_tx_config(config)
            }
        }

        impl Device for $name {
            fn receive(&mut self, now: Instant, budget: usize, f: &mut dyn FnMut(&[u8])) -> usize {
                self.port.receive(now, budget, f)
            }

            fn transmit(&mut self, now: Instant, f: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
                self.port.transmit(now, f)
            }

            fn max_frame_len(&self) -> usize {
                self.port.max_frame_len
            }

            fn mac(&self) -> [u8; 6] {
                self.port.mac
            }
        }
    };
}

port_api!(
    MemPort,
    "One end of an in-memory link (single-threaded); see [`MemLink::pair`].",
    Rc<RefCell<LinkState>>
);
port_api!(
    SyncMemPort,
    "One end of an in-memory link that may move to another thread; see [`MemLink::pair_sync`].",
    Arc<Mutex<LinkState>>
);

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const B: [u8; 6] = [2, 0, 0, 0, 0, 2];

    fn send(port: &mut impl Device, now: Instant, payload: &[u8]) -> bool {
        port.transmit(now, &mut |buf: &mut [u8]| {
            buf[..payload.len()].copy_from_slice(payload);
            payload.len()
        })
    }

    fn recv_all(port: &mut impl Device, now: Instant) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        port.receive(now, usize::MAX, &mut |f: &[u8]| out.push(f.to_vec()));
        out
    }

    #[test]
    fn frames_cross_in_order_both_ways() {
        let (mut a, mut b) = MemLink::pair(A, B, 1514);
        let t = Instant::now();
        assert_eq!(a.mac(), A);
        assert_eq!(b.max_frame_len(), 1514);
        assert!(send(&mut a, t, b"one"));
        assert!(send(&mut a, t, b"two"));
        assert!(send(&mut b, t, b"back"));
        assert_eq!(recv_all(&mut b, t), vec![b"one".to_vec(), b"two".to_vec()]);
        assert_eq!(recv_all(&mut a, t), vec![b"back".to_vec()]);
        assert!(recv_all(&mut a, t).is_empty());
        assert_eq!(a.tx_stats().sent, 2);
        assert_eq!(b.rx_stats().received, 2);
    }

    #[test]
    fn cancelled_transmit_sends_nothing_and_budget_is_honoured() {
        let (mut a, mut b) = MemLink::pair(A, B, 64);
        let t = Instant::now();
        assert!(a.transmit(t, &mut |_buf: &mut [u8]| 0));
        assert_eq!(b.rx_pending(), 0);
        for i in 0..5u8 {
            send(&mut a, t, &[i]);
        }
        let mut got = Vec::new();
        assert_eq!(b.receive(t, 2, &mut |f: &[u8]| got.push(f[0])), 2);
        assert_eq!(got, vec![0, 1]);
        assert_eq!(b.rx_pending(), 3);
    }

    #[test]
    fn full_queue_refuses_without_calling_the_writer() {
        let cfg = LinkConfig {
            queue_frames: 2,
            ..LinkConfig::default()
        };
        let (mut a, mut b) = MemLink::pair_with(A, B, 64, cfg, cfg);
        let t = Instant::now();
        assert!(send(&mut a, t, b"1"));
        assert!(send(&mut a, t, b"2"));
        let mut called = false;
        assert!(!a.transmit(t, &mut |_buf: &mut [u8]| {
            called = true;
            1
        }));
        assert!(!called);
        assert_eq!(a.tx_stats().refused, 1);
        assert_eq!(recv_all(&mut b, t).len(), 2);
        assert!(send(&mut a, t, b"3"));
    }

    #[test]
    fn delay_holds_frames_until_due() {
        let cfg = LinkConfig {
            delay: Duration::from_millis(10),
            ..LinkConfig::default()
        };
        let (mut a, mut b) = MemLink::pair_with(A, B, 64, cfg, LinkConfig::default());
        let t = Instant::now();
        send(&mut a, t, b"x");
        assert_eq!(b.next_rx_at(), Some(t + Duration::from_millis(10)));
        assert!(recv_all(&mut b, t + Duration::from_millis(9)).is_empty());
        assert_eq!(recv_all(&mut b, t + Duration::from_millis(10)).len(), 1);
        // The reverse direction has no delay.
        send(&mut b, t, b"y");
        assert_eq!(recv_all(&mut a, t).len(), 1);
    }

    #[test]
    fn rate_spaces_frames_by_serialization_time() {
        // 1000 bytes at 8 Mbit/s take 1 ms each.
        let cfg = LinkConfig {
            rate_bps: Some(8_000_000),
            ..LinkConfig::default()
        };
        let (mut a, mut b) = MemLink::pair_with(A, B, 1000, cfg, cfg);
        let t = Instant::now();
        for _ in 0..3 {
            assert!(a.transmit(t, &mut |_buf: &mut [u8]| 1000));
        }
        let ms = Duration::from_millis;
        assert_eq!(b.next_rx_at(), Some(t + ms(1)));
        assert_eq!(recv_all(&mut b, t + ms(2)).len(), 2);
        assert_eq!(b.next_rx_at(), Some(t + ms(3)));
        assert_eq!(recv_all(&mut b, t + ms(3)).len(), 1);
        // An idle line starts again from `now`.
        assert!(a.transmit(t + ms(10), &mut |_buf: &mut [u8]| 1000));
        assert_eq!(b.next_rx_at(), Some(t + ms(11)));
    }

    #[test]
    fn receiver_may_transmit_on_the_peer_during_receive() {
        let (mut a, mut b) = MemLink::pair(A, B, 64);
        let t = Instant::now();
        send(&mut a, t, b"ping");
        // While `b` hands us a frame, `a` (same link) transmits: no RefCell conflict.
        b.receive(t, 1, &mut |f: &[u8]| {
            assert!(send(&mut a, t, f));
        });
        assert_eq!(recv_all(&mut b, t), vec![b"ping".to_vec()]);
    }

    #[test]
    fn sync_ports_work_across_threads() {
        let (mut a, mut b) =
            MemLink::pair_sync(A, B, 64, LinkConfig::default(), LinkConfig::default());
        let t = Instant::now();
        let h = std::thread::spawn(move || {
            for i in 0..100u8 {
                while !send(&mut a, t, &[i]) {
                    std::thread::yield_now();
                }
            }
        });
        let mut got = Vec::new();
        while got.len() < 100 {
            b.receive(t, 16, &mut |f: &[u8]| got.push(f[0]));
            std::thread::yield_now();
        }
        h.join().expect("sender");
        assert_eq!(got, (0..100u8).collect::<Vec<_>>());
    }

    #[test]
    fn serialization_time_is_exact() {
        assert_eq!(
            serialization_time(1500, 1_000_000_000),
            Duration::from_nanos(12_000)
        );
        assert_eq!(serialization_time(1, 0), Duration::MAX);
    }
}
