//! The sender's SACK scoreboard (RFC 2018 §4, RFC 6675 §3): which byte ranges above `SND.UNA`
//! the peer reported holding, with the queries sending needs (the SACKed bytes a resend stops
//! at or skips, reneging). Loss marking itself is RACK's, per segment (`recovery/rack.rs`).
//!
//! Invariants: ranges are sorted, disjoint, non-adjacent, inside (`SND.UNA`, `SND.MAX`], and at
//! most [`MAX_SCOREBOARD_RANGES`] (the highest are dropped first). Storage is freed when empty.

use boomerang_wire::SeqNumber;

/// Most SACKed ranges remembered per connection.
pub const MAX_SCOREBOARD_RANGES: usize = 64;

/// SACKed ranges above `SND.UNA`.
#[derive(Debug, Clone, Default)]
pub struct Scoreboard {
    ranges: Vec<(SeqNumber, SeqNumber)>,
}

impl Scoreboard {
    /// Nothing SACKed.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Forgets everything (after an RTO the peer may have reneged, RFC 2018 §8).
    pub fn clear(&mut self) {
        self.ranges = Vec::new();
    }

    /// Records one SACK block `[left, right)`; blocks outside (`snd_una`, `snd_max`] (e.g.
    /// D-SACK, RFC 2883) or malformed ones are ignored. Returns whether the block SACKed bytes
    /// not SACKed before (what makes an ACK a "DupAck" with SACK, RFC 6675 §2).
    pub fn add(
        &mut self,
        left: SeqNumber,
        right: SeqNumber,
        snd_una: SeqNumber,
        snd_max: SeqNumber,
    ) -> bool {
        if !left.lt(right) || right.le(snd_una) || right.gt(snd_max) {
            return false;
        }
        let before = self.sacked_between(snd_una, snd_max);
        let mut start = left.max(snd_una);
        let mut end = right;
        self.ranges.retain(|&(l, r)| {
            if l.le(end) && start.le(r) {
                start = start.min(l);
                end = end.max(r);
                false
            } else {
                true
            }
        });
        let pos = self.ranges.partition_point(|&(l, _)| l.lt(start));
        self.ranges.insert(pos, (start, end));
        self.ranges.truncate(MAX_SCOREBOARD_RANGES);
        self.sacked_between(snd_una, snd_max) > before
    }

    /// SACKed bytes inside `[from, to)`.
    pub fn sacked_between(&self, from: SeqNumber, to: SeqNumber) -> usize {
        self.ranges
            .iter()
            .map(|&(l, r)| (r.min(to) - l.max(from)).max(0) as usize)
            .sum()
    }

    /// If `seq` lies in a SACKed range, the end of that range.
    pub fn sacked_end(&self, seq: SeqNumber) -> Option<SeqNumber> {
        self.ranges
            .iter()
            .find(|&&(l, r)| seq.ge(l) && seq.lt(r))
            .map(|&(_, r)| r)
    }

    /// Drops what `SND.UNA` has passed.
    pub fn prune(&mut self, snd_una: SeqNumber) {
        self.ranges.retain(|&(_, r)| r.gt(snd_una));
        if let Some(first) = self.ranges.first_mut() {
            first.0 = first.0.max(snd_una);
        }
        if self.ranges.is_empty() {
            self.ranges = Vec::new();
        }
    }

    /// The first hole at or after `from` that lies below some SACKed data (only such holes
    /// are known to be lost): its start and length.
    pub fn next_hole(&self, from: SeqNumber) -> Option<(SeqNumber, usize)> {
        let mut pos = from;
        for &(l, r) in &self.ranges {
            if r.le(pos) {
                continue;
            }
            if l.gt(pos) {
                return Some((pos, (l - pos) as usize));
            }
            pos = r;
        }
        None
    }

    /// Whether `seq` lies in a SACKed range.
    pub fn is_sacked(&self, seq: SeqNumber) -> bool {
        self.ranges.iter().any(|&(l, r)| seq.ge(l) && seq.lt(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u32) -> SeqNumber {
        SeqNumber(n)
    }

    #[test]
    fn merges_and_finds_holes() {
        let mut b = Scoreboard::default();
        b.add(s(300), s(400), s(100), s(1000));
        b.add(s(600), s(700), s(100), s(1000));
        b.add(s(400), s(450), s(100), s(1000));
        assert_eq!(b.next_hole(s(100)), Some((s(100), 200)));
        assert_eq!(b.next_hole(s(300)), Some((s(450), 150)));
        assert_eq!(b.next_hole(s(650)), None, "nothing SACKed above");
        assert!(b.is_sacked(s(449)) && !b.is_sacked(s(450)));
        b.prune(s(420));
        assert_eq!(b.next_hole(s(420)), Some((s(450), 150)));
        b.prune(s(700));
        assert!(b.is_empty());
    }

    #[test]
    fn ignores_blocks_outside_the_window() {
        let mut b = Scoreboard::default();
        b.add(s(50), s(90), s(100), s(1000)); // D-SACK below SND.UNA
        b.add(s(900), s(1100), s(100), s(1000)); // beyond SND.MAX
        b.add(s(500), s(500), s(100), s(1000)); // empty
        assert!(b.is_empty());
    }

    #[test]
    fn bounded_and_wraps() {
        let mut b = Scoreboard::default();
        let una = SeqNumber(u32::MAX - 100);
        for i in 0..100usize {
            b.add(una + (10 + i * 20), una + (20 + i * 20), una, una + 3000);
        }
        assert_eq!(b.ranges.len(), MAX_SCOREBOARD_RANGES);
        assert_eq!(b.next_hole(una), Some((una, 10)));
    }
}
