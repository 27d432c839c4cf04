//! A hierarchical hashed timer wheel: O(1) insert, O(1) (lazy) cancel, and a next-deadline
//! query whose cost depends on the number of levels, never on the number of timers.
//!
//! Six levels of 64 slots; level `L` slots are `64^L` ticks wide (tick = [`TICK`]), so the
//! wheel spans 64^6 ms ≈ 2.2 years. A timer sits in the level chosen by the highest bit in
//! which its deadline differs from the wheel's current time; when time reaches a slot of a
//! higher level, its timers cascade down. Cancellation is lazy: the owner keeps the deadline
//! it armed and ignores entries whose deadline or key generation no longer match, so an entry
//! is never searched for. Timers never fire early: deadlines are rounded up to whole ticks.

use std::time::{Duration, Instant};

/// The wheel's resolution.
pub const TICK: Duration = Duration::from_millis(1);
const LEVEL_BITS: u32 = 6;
const SLOTS: usize = 1 << LEVEL_BITS;
const LEVELS: usize = 6;
/// Entries every slot has room for from the start.
const SLOT_CAPACITY: usize = 4;
const MAX_TICKS: u64 = (1u64 << (LEVEL_BITS as usize * LEVELS)) - 1;

/// One armed timer: who owns it (slab key + generation) and its deadline in ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerEntry {
    /// The owner's slab index.
    pub key: u32,
    /// The owner's generation when the timer was armed.
    pub generation: u32,
    /// The deadline, in ticks since the wheel's epoch.
    pub when: u64,
}

/// The timer wheel. Times are `Instant`s converted to ticks since `epoch`.
#[derive(Debug)]
pub struct TimerWheel {
    epoch: Instant,
    elapsed: u64,
    levels: Vec<Level>,
    len: usize,
    /// An empty vector swapped with the slot being expired, so that slots keep their
    /// capacity and a warm wheel never allocates.
    spare: Vec<TimerEntry>,
}

#[derive(Debug)]
struct Level {
    occupied: u64,
    slots: Vec<Vec<TimerEntry>>,
}

impl Level {
    fn new() -> Level {
        Level {
            occupied: 0,
            // Room for a few entries in every slot up front (6 × 64 × 4 entries = 24 KiB per
            // wheel), so that arming a timer in a slot never used before does not allocate.
            slots: (0..SLOTS)
                .map(|_| Vec::with_capacity(SLOT_CAPACITY))
                .collect(),
        }
    }
}

fn level_for(elapsed: u64, when: u64) -> usize {
    let masked = (elapsed ^ when) | (SLOTS as u64 - 1);
    let significant = 63 - masked.leading_zeros();
    ((significant / LEVEL_BITS) as usize).min(LEVELS - 1)
}

fn slot_for(when: u64, level: usize) -> usize {
    ((when >> (level as u32 * LEVEL_BITS)) as usize) & (SLOTS - 1)
}

fn level_range(level: usize) -> u64 {
    1u64 << (level as u32 * LEVEL_BITS + LEVEL_BITS)
}

fn slot_range(level: usize) -> u64 {
    1u64 << (level as u32 * LEVEL_BITS)
}

impl TimerWheel {
    /// An empty wheel whose tick 0 is `epoch`.
    pub fn new(epoch: Instant) -> TimerWheel {
        TimerWheel {
            epoch,
            elapsed: 0,
            levels: (0..LEVELS).map(|_| Level::new()).collect(),
            len: 0,
            spare: Vec::with_capacity(SLOT_CAPACITY),
        }
    }

    /// Converts `t` to ticks, rounding up so that a timer never fires before its deadline.
    pub fn ticks_ceil(&self, t: Instant) -> u64 {
        let d = t.saturating_duration_since(self.epoch);
        let ns = d.as_nanos();
        let tick = TICK.as_nanos();
        let ticks = ns.div_ceil(tick);
        u64::try_from(ticks).unwrap_or(MAX_TICKS).min(MAX_TICKS)
    }

    /// Converts `t` to ticks, rounding down (the ticks that have fully passed at `t`).
    pub fn ticks_floor(&self, t: Instant) -> u64 {
        let d = t.saturating_duration_since(self.epoch);
        let ticks = d.as_nanos() / TICK.as_nanos();
        u64::try_from(ticks).unwrap_or(MAX_TICKS).min(MAX_TICKS)
    }

    /// The instant of tick `ticks`.
    pub fn instant_of(&self, ticks: u64) -> Instant {
        self.epoch + TICK * u32::try_from(ticks.min(u64::from(u32::MAX))).unwrap_or(u32::MAX)
    }

    /// Number of entries held (including lazily cancelled ones not yet reached).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no entries are held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Arms a timer for `key`/`generation` at tick `when` (clamped to the current time) and
    /// returns the tick stored, which the fired entry will carry. O(1).
    pub fn insert(&mut self, key: u32, generation: u32, when: u64) -> u64 {
        let when = when.clamp(self.elapsed, MAX_TICKS);
        let entry = TimerEntry {
            key,
            generation,
            when,
        };
        self.place(entry);
        self.len += 1;
        when
    }

    fn place(&mut self, entry: TimerEntry) {
        let when = entry.when.max(self.elapsed);
        let level = level_for(self.elapsed, when);
        let slot = slot_for(when, level);
        let lv = &mut self.levels[level];
        lv.slots[slot].push(entry);
        lv.occupied |= 1 << slot;
    }

    /// The earliest tick at which [`TimerWheel::advance`] may have something to do: the start
    /// of the first occupied slot. Cost: O(levels).
    pub fn next_expiration(&self) -> Option<u64> {
        self.next_slot().map(|(_, _, deadline)| deadline)
    }

    /// The first occupied slot: (level, slot, start tick). Lower levels always expire first:
    /// every entry of level `L` lies beyond the current window of level `L - 1`.
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        for (level, lv) in self.levels.iter().enumerate() {
            if lv.occupied == 0 {
                continue;
            }
            let now_slot = slot_for(self.elapsed, level) as u32;
            let rotated = lv.occupied.rotate_right(now_slot);
            let zeros = u64::from(rotated.trailing_zeros());
            let slot = (u64::from(now_slot) + zeros) % SLOTS as u64;
            let range = level_range(level);
            let level_start = self.elapsed & !(range - 1);
            let mut deadline = level_start + slot * slot_range(level);
            if deadline < self.elapsed && slot < u64::from(now_slot) {
                // The slot lies in the next rotation of this level.
                deadline += range;
            }
            return Some((level, slot as usize, deadline.max(self.elapsed)));
        }
        None
    }

    /// Moves time forward to tick `now`, pushing every entry whose deadline is at or before
    /// `now` into `fired` (cascading higher levels as their slots are reached).
    pub fn advance(&mut self, now: u64, fired: &mut Vec<TimerEntry>) {
        let now = now.min(MAX_TICKS);
        while let Some((level, slot, deadline)) = self.next_slot() {
            if deadline > now {
                break;
            }
            self.elapsed = deadline;
            let lv = &mut self.levels[level];
            let mut entries = std::mem::take(&mut self.spare);
            std::mem::swap(&mut entries, &mut lv.slots[slot]);
            lv.occupied &= !(1 << slot);
            if level == 0 {
                self.len -= entries.len();
                fired.append(&mut entries);
            } else {
                for e in entries.drain(..) {
                    self.place(e);
                }
            }
            self.spare = entries;
        }
        self.elapsed = self.elapsed.max(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(w: &mut TimerWheel, now: u64) -> Vec<u64> {
        let mut f = Vec::new();
        w.advance(now, &mut f);
        f.iter().map(|e| e.when).collect()
    }

    #[test]
    fn fires_in_order_never_early() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(t0);
        let whens = [
            0u64, 1, 5, 63, 64, 65, 100, 4095, 4096, 4097, 300_000, 70_000_000,
        ];
        for (i, &when) in whens.iter().enumerate() {
            w.insert(i as u32, 0, when);
        }
        let mut seen = Vec::new();
        let mut now = 0;
        while !w.is_empty() {
            let next = w
                .next_expiration()
                .expect("non-empty wheel has a next expiration");
            assert!(next >= now);
            now = next;
            for when in drain(&mut w, now) {
                assert!(when <= now, "fired early: {when} at {now}");
                seen.push(when);
            }
        }
        assert_eq!(seen, whens);
    }

    #[test]
    fn exact_tick_each_time() {
        let t0 = Instant::now();
        let mut w = TimerWheel::new(t0);
        w.insert(1, 0, 200);
        assert!(drain(&mut w, 199).is_empty());
        assert_eq!(drain(&mut w, 200), vec![200]);
        // Insert relative to the new time.
        w.insert(2, 0, 10_000);
        assert!(drain(&mut w, 9_999).is_empty());
        assert_eq!(drain(&mut w, 10_050), vec![10_000]);
        // Past deadlines fire on the next advance.
        w.insert(3, 0, 5);
        assert_eq!(drain(&mut w, 10_050), vec![10_050]);
    }

    #[test]
    fn random_against_sorted_reference() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let t0 = Instant::now();
        let mut w = TimerWheel::new(t0);
        let mut reference: Vec<u64> = Vec::new();
        let mut now = 0u64;
        for round in 0..2000 {
            for _ in 0..rng.gen_range(0..5) {
                let bits = rng.gen_range(1..24);
                let when = now + rng.gen_range(0..(1u64 << bits));
                w.insert(round, 0, when);
                reference.push(when);
            }
            now += rng.gen_range(0..3000);
            let mut fired = drain(&mut w, now);
            fired.sort_unstable();
            let mut due: Vec<u64> = reference.iter().copied().filter(|&x| x <= now).collect();
            due.sort_unstable();
            reference.retain(|&x| x > now);
            assert_eq!(fired, due, "round {round} now {now}");
            if let Some(next) = w.next_expiration() {
                let min = reference
                    .iter()
                    .min()
                    .copied()
                    .expect("reference non-empty");
                assert!(next <= min, "next {next} after earliest {min}");
            } else {
                assert!(reference.is_empty());
            }
        }
    }

    #[test]
    fn ticks_round_up() {
        let t0 = Instant::now();
        let w = TimerWheel::new(t0);
        assert_eq!(w.ticks_ceil(t0), 0);
        assert_eq!(w.ticks_ceil(t0 + Duration::from_micros(1)), 1);
        assert_eq!(w.ticks_floor(t0 + Duration::from_micros(1999)), 1);
        assert_eq!(w.instant_of(3), t0 + Duration::from_millis(3));
    }
}
