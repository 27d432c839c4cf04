//! A fault-injecting [`Device`] wrapper: drop, duplicate, reorder, corrupt, delay with
//! jitter, rate limit and size limit, each direction with its own [`FaultConfig`].
//!
//! The same stack code then runs over a perfect and a hostile link (smoltcp's
//! `phy/fault_injector.rs` habit). Every random decision comes from a ChaCha8 generator
//! seeded by the caller, one stream per direction, and time is only ever the caller's
//! `now`: for a given seed, configuration and sequence of calls the wrapper behaves
//! identically, so a failing simulated run can be replayed.
//!
//! Invariants: each direction holds at most [`FaultConfig::queue_frames`] frames (a full
//! transmit queue refuses transmission, a full receive queue leaves frames in the inner
//! device); frames keep their order (jitter included) unless chosen for reordering; a rate-limited
//! direction never queues more than [`FaultConfig::rate_queue_bytes`] behind its line (the
//! excess is tail-dropped, as at a real bottleneck); buffers are recycled through a pool.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::device::Device;
use crate::memlink::serialization_time;

/// Default bound on the frames one direction of a [`FaultInjector`] holds.
pub const DEFAULT_QUEUE_FRAMES: usize = 4096;

/// Default bound on the bytes waiting behind a rate-limited line (about 170 full frames).
pub const DEFAULT_RATE_QUEUE_BYTES: usize = 256 * 1024;

/// Default extra delay given to a frame chosen for reordering.
pub const DEFAULT_REORDER_DELAY: Duration = Duration::from_millis(1);

/// The impairments applied to one direction of a [`FaultInjector`].
///
/// Probabilities are per frame, in `0.0..=1.0`. Stages run in this order: size limit, drop,
/// rate limit, corrupt, delay and jitter, reorder, duplicate.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultConfig {
    /// Probability that a frame is silently lost.
    pub drop: f64,
    /// Probability that a frame is delivered twice (the copy right after the original).
    pub duplicate: f64,
    /// Probability that a frame is held back by [`FaultConfig::reorder_delay`], so frames
    /// sent after it within that time overtake it.
    pub reorder: f64,
    /// How long a reordered frame is held back beyond its normal delivery time.
    pub reorder_delay: Duration,
    /// Probability that one uniformly chosen bit of a frame is flipped.
    pub corrupt: f64,
    /// Fixed one-way delay added to every frame.
    pub delay: Duration,
    /// Each frame's delay varies uniformly within `delay ± jitter` (never below zero);
    /// frames keep their order, so a frame never leaves before the one sent before it.
    pub jitter: Duration,
    /// Line rate in bits per second (`None`: unlimited). A frame of `n` bytes occupies the
    /// line for `8n / rate` seconds; frames wait behind the line.
    pub rate_bps: Option<u64>,
    /// Most bytes allowed to wait behind a rate-limited line; more are tail-dropped.
    pub rate_queue_bytes: usize,
    /// Frames longer than this (in bytes) are dropped (`None`: no limit).
    pub max_size: Option<usize>,
    /// Most frames this direction holds at once.
    pub queue_frames: usize,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            drop: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: DEFAULT_REORDER_DELAY,
            corrupt: 0.0,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            rate_bps: None,
            rate_queue_bytes: DEFAULT_RATE_QUEUE_BYTES,
            max_size: None,
            queue_frames: DEFAULT_QUEUE_FRAMES,
        }
    }
}

impl FaultConfig {
    /// Checks that every probability lies in `0.0..=1.0` and the limits are usable.
    pub fn validate(&self) -> Result<(), FaultError> {
        for (knob, value) in [
            ("drop", self.drop),
            ("duplicate", self.duplicate),
            ("reorder", self.reorder),
            ("corrupt", self.corrupt),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(FaultError::Probability { knob, value });
            }
        }
        if self.queue_frames == 0 {
            return Err(FaultError::ZeroLimit("queue_frames"));
        }
        if self.rate_bps == Some(0) {
            return Err(FaultError::ZeroLimit("rate_bps"));
        }
        if self.rate_bps.is_some() && self.rate_queue_bytes == 0 {
            return Err(FaultError::ZeroLimit("rate_queue_bytes"));
        }
        Ok(())
    }

    /// Whether this configuration leaves frames untouched (frames then bypass the queue).
    pub fn is_transparent(&self) -> bool {
        self.drop == 0.0
            && self.duplicate == 0.0
            && self.reorder == 0.0
            && self.corrupt == 0.0
            && self.delay.is_zero()
            && self.jitter.is_zero()
            && self.rate_bps.is_none()
            && self.max_size.is_none()
    }
}

/// A [`FaultConfig`] that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultError {
    /// A probability outside `0.0..=1.0` (or NaN).
    #[error("fault probability `{knob}` = {value} is outside 0..=1")]
    Probability {
        /// The knob's name.
        knob: &'static str,
        /// The rejected value.
        value: f64,
    },
    /// A limit that would stop all traffic.
    #[error("fault limit `{0}` must not be zero")]
    ZeroLimit(&'static str),
}

/// What one direction of a [`FaultInjector`] did, counted since creation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Frames offered to this direction.
    pub frames: u64,
    /// Frames passed on (to the caller for RX, to the inner device for TX), copies included.
    pub delivered: u64,
    /// Frames lost on purpose ([`FaultConfig::drop`]).
    pub dropped: u64,
    /// Extra copies made ([`FaultConfig::duplicate`]).
    pub duplicated: u64,
    /// Frames held back to be overtaken ([`FaultConfig::reorder`]).
    pub reordered: u64,
    /// Frames with a bit flipped ([`FaultConfig::corrupt`]).
    pub corrupted: u64,
    /// Frames dropped for exceeding [`FaultConfig::max_size`].
    pub too_large: u64,
    /// Frames tail-dropped behind the rate-limited line.
    pub rate_dropped: u64,
    /// Times the direction's queue was full (TX: transmission refused; RX: reception paused).
    pub queue_full: u64,
}

/// A frame waiting in a direction's queue, ordered by release time then arrival.
#[derive(Debug)]
struct Pending {
    release_at: Instant,
    seq: u64,
    len: usize,
    buf: Vec<u8>,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.release_at, self.seq).cmp(&(other.release_at, other.seq))
    }
}

/// One direction's impairment pipeline and its queue of frames not yet released.
#[derive(Debug)]
struct Impairer {
    config: FaultConfig,
    rng: ChaCha8Rng,
    queue: BinaryHeap<Reverse<Pending>>,
    seq: u64,
    /// Release time of the last in-order frame (later in-order frames never leave earlier).
    last_release: Option<Instant>,
    /// When the rate-limited line finishes the last accepted frame.
    line_free_at: Option<Instant>,
    pool: Vec<Vec<u8>>,
    buf_len: usize,
    stats: FaultStats,
}

impl Impairer {
    fn new(config: FaultConfig, seed: u64, stream: u64, buf_len: usize) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        Impairer {
            config,
            rng,
            queue: BinaryHeap::new(),
            seq: 0,
            last_release: None,
            line_free_at: None,
            pool: Vec::new(),
            buf_len,
            stats: FaultStats::default(),
        }
    }

    /// Whether frames can skip the queue entirely right now.
    fn bypass(&self) -> bool {
        self.queue.is_empty() && self.config.is_transparent()
    }

    fn is_full(&self) -> bool {
        self.queue.len() >= self.config.queue_frames
    }

    fn take_buf(&mut self) -> Vec<u8> {
        self.pool.pop().unwrap_or_else(|| vec![0; self.buf_len])
    }

    fn recycle(&mut self, buf: Vec<u8>) {
        if self.pool.len() < self.config.queue_frames {
            self.pool.push(buf);
        }
    }

    /// Draws a Bernoulli sample; a probability of zero consumes no randomness.
    fn roll(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.gen::<f64>() < p
    }

    fn push(&mut self, release_at: Instant, buf: Vec<u8>, len: usize) {
        self.seq += 1;
        self.queue.push(Reverse(Pending {
            release_at,
            seq: self.seq,
            len,
            buf,
        }));
    }

    /// Runs one frame (the first `len` bytes of `buf`) through the pipeline at time `now`.
    fn admit(&mut self, now: Instant, mut buf: Vec<u8>, len: usize) {
        self.stats.frames += 1;
        if self.config.max_size.is_some_and(|max| len > max) {
            self.stats.too_large += 1;
            return self.recycle(buf);
        }
        if self.roll(self.config.drop) {
            self.stats.dropped += 1;
            return self.recycle(buf);
        }
        let mut departed = now;
        if let Some(rate) = self.config.rate_bps {
            let start = self.line_free_at.map_or(now, |t| t.max(now));
            let backlog = start.saturating_duration_since(now);
            let backlog_bytes = backlog.as_nanos().saturating_mul(u128::from(rate)) / 8_000_000_000;
            if backlog_bytes.saturating_add(len as u128) > self.config.rate_queue_bytes as u128 {
                self.stats.rate_dropped += 1;
                return self.recycle(buf);
            }
            departed = start
                .checked_add(serialization_time(len, rate))
                .unwrap_or(start);
            self.line_free_at = Some(departed);
        }
        if len > 0 && self.roll(self.config.corrupt) {
            let bit = self.rng.gen_range(0..len * 8);
            if let Some(byte) = buf.get_mut(bit / 8) {
                *byte ^= 1 << (bit % 8);
            }
            self.stats.corrupted += 1;
        }
        let base = departed.checked_add(self.config.delay).unwrap_or(departed);
        let mut release = base;
        if !self.config.jitter.is_zero() {
            let j = u64::try_from(self.config.jitter.as_nanos()).unwrap_or(u64::MAX / 2);
            let offset = self.rng.gen_range(0..=j.saturating_mul(2));
            release = if offset >= j {
                base.checked_add(Duration::from_nanos(offset - j))
                    .unwrap_or(base)
            } else {
                base.checked_sub(Duration::from_nanos(j - offset))
                    .unwrap_or(departed)
                    .max(departed)
            };
        }
        if self.roll(self.config.reorder) {
            self.stats.reordered += 1;
            release = release
                .checked_add(self.config.reorder_delay)
                .unwrap_or(release);
        } else {
            if let Some(last) = self.last_release {
                release = release.max(last);
            }
            self.last_release = Some(release);
        }
        let duplicate = self.roll(self.config.duplicate);
        let copy = if duplicate && self.queue.len() + 1 < self.config.queue_frames {
            let mut copy = self.take_buf();
            copy.resize(copy.len().max(len), 0);
            copy[..len].copy_from_slice(&buf[..len]);
            Some(copy)
        } else {
            None
        };
        self.push(release, buf, len);
        if let Some(copy) = copy {
            self.stats.duplicated += 1;
            self.push(release, copy, len);
        }
    }

    /// The head frame if it is due at `now`.
    fn due(&self, now: Instant) -> Option<&Pending> {
        self.queue
            .peek()
            .map(|Reverse(p)| p)
            .filter(|p| p.release_at <= now)
    }

    fn next_release(&self) -> Option<Instant> {
        self.queue.peek().map(|Reverse(p)| p.release_at)
    }
}

/// A [`Device`] wrapper that impairs frames in both directions.
///
/// RX impairments apply to frames coming up from the inner device, TX impairments to frames
/// the caller transmits. Delayed TX frames reach the inner device when the wrapper is next
/// driven at or after their time: any of [`Device::receive`], [`Device::transmit`],
/// [`Device::flush`] or [`FaultInjector::poll`]; [`FaultInjector::poll_at`] says when.
#[derive(Debug)]
pub struct FaultInjector<D: Device> {
    inner: D,
    rx: Impairer,
    tx: Impairer,
}

impl<D: Device> FaultInjector<D> {
    /// Wraps `inner` with the given impairments; `seed` fixes every random decision.
    pub fn new(inner: D, rx: FaultConfig, tx: FaultConfig, seed: u64) -> Result<Self, FaultError> {
        rx.validate()?;
        tx.validate()?;
        let len = inner.max_frame_len();
        Ok(FaultInjector {
            inner,
            rx: Impairer::new(rx, seed, 0, len),
            tx: Impairer::new(tx, seed, 1, len),
        })
    }

    /// The wrapped device.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// The wrapped device, mutably.
    pub fn inner_mut(&mut self) -> &mut D {
        &mut self.inner
    }

    /// Unwraps the device; frames still held by the wrapper are discarded.
    pub fn into_inner(self) -> D {
        self.inner
    }

    /// The receive direction's configuration.
    pub fn rx_config(&self) -> &FaultConfig {
        &self.rx.config
    }

    /// The transmit direction's configuration.
    pub fn tx_config(&self) -> &FaultConfig {
        &self.tx.config
    }

    /// Replaces the receive direction's configuration (frames already held keep their times).
    pub fn set_rx_config(&mut self, config: FaultConfig) -> Result<(), FaultError> {
        config.validate()?;
        self.rx.config = config;
        Ok(())
    }

    /// Replaces the transmit direction's configuration (frames already held keep their times).
    pub fn set_tx_config(&mut self, config: FaultConfig) -> Result<(), FaultError> {
        config.validate()?;
        self.tx.config = config;
        Ok(())
    }

    /// What the receive direction did.
    pub fn rx_stats(&self) -> FaultStats {
        self.rx.stats
    }

    /// What the transmit direction did.
    pub fn tx_stats(&self) -> FaultStats {
        self.tx.stats
    }

    /// Frames held by the wrapper (receive queue, transmit queue).
    pub fn held(&self) -> (usize, usize) {
        (self.rx.queue.len(), self.tx.queue.len())
    }

    /// The earliest time a held frame becomes due (`None`: nothing held).
    ///
    /// A time in the past means a due TX frame waits for room in the inner device.
    pub fn poll_at(&self) -> Option<Instant> {
        match (self.rx.next_release(), self.tx.next_release()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Moves TX frames that are due at `now` into the inner device; returns how many.
    ///
    /// Call [`Device::flush`] afterwards to publish them.
    pub fn poll(&mut self, now: Instant) -> usize {
        let mut n = 0;
        while let Some(head) = self.tx.due(now) {
            let frame = head.buf.get(..head.len).unwrap_or(&[]);
            let sent = self.inner.transmit(now, &mut |out: &mut [u8]| {
                let len = frame.len().min(out.len());
                out[..len].copy_from_slice(&frame[..len]);
                len
            });
            if !sent {
                break;
            }
            if let Some(Reverse(done)) = self.tx.queue.pop() {
                self.tx.recycle(done.buf);
            }
            self.tx.stats.delivered += 1;
            n += 1;
        }
        n
    }

    /// Pulls frames from the inner device into the receive pipeline while there is room.
    fn pull(&mut self, now: Instant, budget: usize) {
        let room = self
            .rx
            .config
            .queue_frames
            .saturating_sub(self.rx.queue.len());
        if room == 0 {
            self.rx.stats.queue_full += 1;
            return;
        }
        let rx = &mut self.rx;
        self.inner
            .receive(now, budget.min(room), &mut |frame: &[u8]| {
                let mut buf = rx.take_buf();
                if buf.len() < frame.len() {
                    buf.resize(frame.len(), 0);
                }
                buf[..frame.len()].copy_from_slice(frame);
                rx.admit(now, buf, frame.len());
            });
    }
}

impl<D: Device> Device for FaultInjector<D> {
    fn receive(&mut self, now: Instant, budget: usize, f: &mut dyn FnMut(&[u8])) -> usize {
        self.poll(now);
        if self.rx.bypass() {
            let n = self.inner.receive(now, budget, f);
            self.rx.stats.frames += n as u64;
            self.rx.stats.delivered += n as u64;
            return n;
        }
        self.pull(now, budget);
        let mut n = 0;
        while n < budget {
            let Some(head) = self.rx.due(now) else { break };
            f(head.buf.get(..head.len).unwrap_or(&[]));
            if let Some(Reverse(done)) = self.rx.queue.pop() {
                self.rx.recycle(done.buf);
            }
            self.rx.stats.delivered += 1;
            n += 1;
        }
        n
    }

    fn transmit(&mut self, now: Instant, f: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        self.poll(now);
        if self.tx.bypass() {
            let sent = self.inner.transmit(now, f);
            if sent {
                self.tx.stats.frames += 1;
                self.tx.stats.delivered += 1;
            }
            return sent;
        }
        if self.tx.is_full() {
            self.tx.stats.queue_full += 1;
            return false;
        }
        let mut buf = self.tx.take_buf();
        let len = f(&mut buf).min(buf.len());
        if len == 0 {
            self.tx.recycle(buf);
            return true;
        }
        self.tx.admit(now, buf, len);
        self.poll(now);
        true
    }

    fn flush(&mut self, now: Instant) {
        self.poll(now);
        self.inner.flush(now);
    }

    fn max_frame_len(&self) -> usize {
        self.inner.max_frame_len()
    }

    fn mac(&self) -> [u8; 6] {
        self.inner.mac()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memlink::{LinkConfig, MemLink, MemPort};

    const A: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const B: [u8; 6] = [2, 0, 0, 0, 0, 2];
    const MS: Duration = Duration::from_millis(1);

    /// Port A wrapped with `tx` impairments, and the plain port B.
    fn link(tx: FaultConfig, seed: u64) -> (FaultInjector<MemPort>, MemPort) {
        let big = LinkConfig {
            queue_frames: 100_000,
            ..LinkConfig::default()
        };
        let (a, b) = MemLink::pair_with(A, B, 1514, big, big);
        let a = FaultInjector::new(a, FaultConfig::default(), tx, seed).expect("config");
        (a, b)
    }

    fn send_seq(dev: &mut impl Device, now: Instant, i: u32, len: usize) -> bool {
        dev.transmit(now, &mut |buf: &mut [u8]| {
            buf[..len].fill(0);
            buf[..4].copy_from_slice(&i.to_be_bytes());
            len
        })
    }

    fn recv_all(dev: &mut impl Device, now: Instant) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        dev.receive(now, usize::MAX, &mut |f: &[u8]| out.push(f.to_vec()));
        out
    }

    fn ids(frames: &[Vec<u8>]) -> Vec<u32> {
        frames
            .iter()
            .map(|f| u32::from_be_bytes([f[0], f[1], f[2], f[3]]))
            .collect()
    }

    /// Sends `n` frames, one every 10 µs, and collects everything B receives.
    fn run(tx: FaultConfig, seed: u64, n: u32) -> (Vec<Vec<u8>>, FaultStats) {
        let (mut a, mut b) = link(tx, seed);
        let t0 = Instant::now();
        let mut out = Vec::new();
        for i in 0..n {
            let now = t0 + Duration::from_micros(10 * u64::from(i));
            assert!(send_seq(&mut a, now, i, 100));
            out.extend(recv_all(&mut b, now));
        }
        let end = t0 + Duration::from_secs(10);
        a.poll(end);
        out.extend(recv_all(&mut b, end));
        (out, a.tx_stats())
    }

    #[test]
    fn transparent_config_passes_everything_in_order() {
        let (out, stats) = run(FaultConfig::default(), 1, 100);
        assert_eq!(ids(&out), (0..100).collect::<Vec<_>>());
        assert_eq!(stats.frames, 100);
        assert_eq!(stats.delivered, 100);
    }

    #[test]
    fn same_seed_same_result_other_seed_differs() {
        let cfg = FaultConfig {
            drop: 0.1,
            duplicate: 0.1,
            reorder: 0.1,
            corrupt: 0.1,
            jitter: Duration::from_micros(50),
            ..FaultConfig::default()
        };
        let (one, s1) = run(cfg.clone(), 7, 2000);
        let (two, s2) = run(cfg.clone(), 7, 2000);
        let (three, _) = run(cfg, 8, 2000);
        assert_eq!(one, two);
        assert_eq!(s1, s2);
        assert_ne!(one, three);
    }

    #[test]
    fn drop_rate_matches_probability() {
        let cfg = FaultConfig {
            drop: 0.2,
            ..FaultConfig::default()
        };
        let (out, stats) = run(cfg, 3, 10_000);
        // Binomial(10000, 0.2): sd = 40; allow 5 sd.
        assert!((1800..=2200).contains(&stats.dropped), "{stats:?}");
        assert_eq!(out.len() as u64, 10_000 - stats.dropped);
        // What survives keeps its order.
        let got = ids(&out);
        assert!(got.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn duplicates_follow_their_original() {
        let cfg = FaultConfig {
            duplicate: 0.1,
            ..FaultConfig::default()
        };
        let (out, stats) = run(cfg, 4, 5000);
        assert!((400..=600).contains(&stats.duplicated), "{stats:?}");
        let got = ids(&out);
        assert_eq!(got.len() as u64, 5000 + stats.duplicated);
        assert!(got.windows(2).all(|w| w[0] <= w[1]));
        let mut dedup = got.clone();
        dedup.dedup();
        assert_eq!(dedup, (0..5000).collect::<Vec<_>>());
    }

    #[test]
    fn corruption_flips_exactly_one_bit() {
        let cfg = FaultConfig {
            corrupt: 0.05,
            ..FaultConfig::default()
        };
        let (out, stats) = run(cfg, 5, 4000);
        assert_eq!(out.len(), 4000);
        assert!((100..=300).contains(&stats.corrupted), "{stats:?}");
        let mut flipped = 0;
        for (i, f) in out.iter().enumerate() {
            let mut want = vec![0u8; 100];
            want[..4].copy_from_slice(&(i as u32).to_be_bytes());
            let bits: u32 = f.iter().zip(&want).map(|(x, y)| (x ^ y).count_ones()).sum();
            assert!(bits <= 1);
            flipped += bits;
        }
        assert_eq!(u64::from(flipped), stats.corrupted);
    }

    #[test]
    fn reordered_frames_are_overtaken_but_all_arrive() {
        let cfg = FaultConfig {
            reorder: 0.05,
            reorder_delay: Duration::from_micros(35),
            ..FaultConfig::default()
        };
        let (out, stats) = run(cfg, 6, 2000);
        assert!(stats.reordered > 50, "{stats:?}");
        let got = ids(&out);
        let mut sorted = got.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..2000).collect::<Vec<_>>());
        let inversions = got.windows(2).filter(|w| w[0] > w[1]).count() as u64;
        assert!(
            inversions > 0 && inversions <= stats.reordered,
            "{inversions}"
        );
    }

    #[test]
    fn delay_and_jitter_stay_within_bounds_and_order() {
        let cfg = FaultConfig {
            delay: 10 * MS,
            jitter: 2 * MS,
            ..FaultConfig::default()
        };
        let (mut a, mut b) = link(cfg, 9);
        let t0 = Instant::now();
        // Sparse frames (20 ms apart): each one's delay is visible on its own.
        let mut seen = Vec::new();
        for i in 0..50u32 {
            let sent = t0 + 20 * MS * i;
            send_seq(&mut a, sent, i, 60);
            let mut now = sent;
            loop {
                let next = a.poll_at().expect("held");
                now = now.max(next);
                a.poll(now);
                if !recv_all(&mut b, now).is_empty() {
                    break;
                }
            }
            seen.push(now - sent);
        }
        assert!(
            seen.iter().all(|d| (8 * MS..=12 * MS).contains(d)),
            "{seen:?}"
        );
        assert!(seen.iter().any(|d| *d < 9 * MS) && seen.iter().any(|d| *d > 11 * MS));
        // A dense burst keeps its order despite jitter.
        let (out, _) = run(
            FaultConfig {
                delay: 10 * MS,
                jitter: 2 * MS,
                ..FaultConfig::default()
            },
            10,
            500,
        );
        assert_eq!(ids(&out), (0..500).collect::<Vec<_>>());
    }

    #[test]
    fn rate_limit_spaces_frames_and_tail_drops_the_excess() {
        // 1000-byte frames at 8 Mbit/s: 1 ms each; room for 5 waiting.
        let cfg = FaultConfig {
            rate_bps: Some(8_000_000),
            rate_queue_bytes: 5000,
            ..FaultConfig::default()
        };
        let (mut a, mut b) = link(cfg, 11);
        let t0 = Instant::now();
        for i in 0..10 {
            assert!(send_seq(&mut a, t0, i, 1000));
        }
        let stats = a.tx_stats();
        assert_eq!(stats.rate_dropped, 5);
        a.poll(t0 + 3 * MS);
        assert_eq!(ids(&recv_all(&mut b, t0 + 3 * MS)), vec![0, 1, 2]);
        a.poll(t0 + 10 * MS);
        assert_eq!(ids(&recv_all(&mut b, t0 + 10 * MS)), vec![3, 4]);
    }

    #[test]
    fn size_limit_drops_long_frames() {
        let cfg = FaultConfig {
            max_size: Some(200),
            ..FaultConfig::default()
        };
        let (mut a, mut b) = link(cfg, 12);
        let t = Instant::now();
        send_seq(&mut a, t, 0, 200);
        send_seq(&mut a, t, 1, 201);
        assert_eq!(ids(&recv_all(&mut b, t)), vec![0]);
        assert_eq!(a.tx_stats().too_large, 1);
    }

    #[test]
    fn full_queue_refuses_transmission() {
        let cfg = FaultConfig {
            delay: MS,
            queue_frames: 3,
            ..FaultConfig::default()
        };
        let (mut a, _b) = link(cfg, 13);
        let t = Instant::now();
        for i in 0..3 {
            assert!(send_seq(&mut a, t, i, 60));
        }
        assert!(!send_seq(&mut a, t, 3, 60));
        assert_eq!(a.tx_stats().queue_full, 1);
        // Once the delayed frames leave there is room again.
        assert!(send_seq(&mut a, t + MS, 4, 60));
    }

    #[test]
    fn receive_direction_is_impaired_too() {
        let (mut a, b) = MemLink::pair(A, B, 1514);
        let rx = FaultConfig {
            delay: 5 * MS,
            ..FaultConfig::default()
        };
        let mut b = FaultInjector::new(b, rx, FaultConfig::default(), 1).expect("config");
        let t = Instant::now();
        send_seq(&mut a, t, 42, 60);
        assert!(recv_all(&mut b, t).is_empty());
        assert_eq!(b.poll_at(), Some(t + 5 * MS));
        assert_eq!(ids(&recv_all(&mut b, t + 5 * MS)), vec![42]);
        assert_eq!(b.rx_stats().delivered, 1);
    }

    #[test]
    fn bad_probabilities_are_rejected() {
        let (a, _b) = MemLink::pair(A, B, 64);
        let bad = FaultConfig {
            drop: 1.5,
            ..FaultConfig::default()
        };
        let err = FaultInjector::new(a, bad, FaultConfig::default(), 0).unwrap_err();
        assert_eq!(
            err,
            FaultError::Probability {
                knob: "drop",
                value: 1.5
            }
        );
        let nan = FaultConfig {
            corrupt: f64::NAN,
            ..FaultConfig::default()
        };
        assert!(nan.validate().is_err());
        let no_room = FaultConfig {
            rate_bps: Some(1_000_000),
            rate_queue_bytes: 0,
            ..FaultConfig::default()
        };
        assert_eq!(
            no_room.validate(),
            Err(FaultError::ZeroLimit("rate_queue_bytes"))
        );
        let no_queue = FaultConfig {
            queue_frames: 0,
            ..FaultConfig::default()
        };
        assert_eq!(
            no_queue.validate(),
            Err(FaultError::ZeroLimit("queue_frames"))
        );
    }
}
