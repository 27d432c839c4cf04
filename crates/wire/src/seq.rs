//! TCP sequence numbers: a 32-bit newtype whose comparisons wrap (RFC 9293 §3.4).
//!
//! `a < b` means "b is after a" when the two are less than 2^31 apart; the order is not
//! transitive over the whole space, so [`SeqNumber`] implements `PartialOrd` but not `Ord`.

use core::cmp::Ordering;
use core::fmt;
use core::ops::{Add, AddAssign, Sub};

/// A TCP sequence or acknowledgment number with modular arithmetic (RFC 9293 §3.4).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// `self` is before `other` (modulo 2^32).
    pub fn lt(self, other: SeqNumber) -> bool {
        (self - other) < 0
    }
    /// `self` is before or equal to `other`.
    pub fn le(self, other: SeqNumber) -> bool {
        (self - other) <= 0
    }
    /// `self` is after `other`.
    pub fn gt(self, other: SeqNumber) -> bool {
        (self - other) > 0
    }
    /// `self` is after or equal to `other`.
    pub fn ge(self, other: SeqNumber) -> bool {
        (self - other) >= 0
    }
    /// The later of the two numbers.
    pub fn max(self, other: SeqNumber) -> SeqNumber {
        if self.ge(other) {
            self
        } else {
            other
        }
    }
    /// The earlier of the two numbers.
    pub fn min(self, other: SeqNumber) -> SeqNumber {
        if self.le(other) {
            self
        } else {
            other
        }
    }
}

impl Add<usize> for SeqNumber {
    type Output = SeqNumber;
    /// Advances by `rhs` bytes, wrapping modulo 2^32.
    fn add(self, rhs: usize) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(rhs as u32))
    }
}

impl AddAssign<usize> for SeqNumber {
    fn add_assign(&mut self, rhs: usize) {
        *self = *self + rhs;
    }
}

impl Sub<usize> for SeqNumber {
    type Output = SeqNumber;
    /// Goes back by `rhs` bytes, wrapping modulo 2^32.
    fn sub(self, rhs: usize) -> SeqNumber {
        SeqNumber(self.0.wrapping_sub(rhs as u32))
    }
}

impl Sub<SeqNumber> for SeqNumber {
    type Output = i32;
    /// Signed distance `self - rhs` modulo 2^32 (negative when `self` is before `rhs`).
    fn sub(self, rhs: SeqNumber) -> i32 {
        self.0.wrapping_sub(rhs.0) as i32
    }
}

impl PartialOrd for SeqNumber {
    fn partial_cmp(&self, other: &SeqNumber) -> Option<Ordering> {
        Some((*self - *other).cmp(&0))
    }
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_around() {
        let a = SeqNumber(u32::MAX - 1);
        let b = a + 4;
        assert_eq!(b, SeqNumber(2));
        assert!(a < b);
        assert!(a.lt(b) && b.gt(a) && a.le(a) && a.ge(a));
        assert_eq!(b - a, 4);
        assert_eq!(a - b, -4);
        assert_eq!(b - 4usize, a);
        assert_eq!(a.max(b), b);
        assert_eq!(a.min(b), a);
    }

    #[test]
    fn half_space_boundary() {
        let a = SeqNumber(0);
        assert!(a < SeqNumber(0x7fff_ffff));
        assert!(a > SeqNumber(0x8000_0001));
    }
}
