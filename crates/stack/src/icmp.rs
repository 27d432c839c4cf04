//! ICMP (RFC 792) helpers: the error-rate token bucket (RFC 1812 §4.3.2.8) and the path-MTU
//! cache fed by fragmentation-needed messages (RFC 1191).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// A token bucket: `rate` tokens per second up to `burst`; one token per ICMP error sent.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    tokens: u64,
    /// Nanoseconds of refill accumulated but not yet worth a whole token.
    carry_ns: u128,
    last: Instant,
    rate: u32,
    burst: u32,
}

impl RateLimiter {
    /// A full bucket.
    pub fn new(rate: u32, burst: u32, now: Instant) -> RateLimiter {
        RateLimiter {
            tokens: u64::from(burst),
            carry_ns: 0,
            last: now,
            rate,
            burst,
        }
    }

    /// Takes a token if one is available at `now`.
    pub fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last);
        self.last = self.last.max(now);
        if self.rate > 0 {
            let ns = self.carry_ns + elapsed.as_nanos() * u128::from(self.rate);
            let whole = ns / 1_000_000_000;
            self.carry_ns = ns % 1_000_000_000;
            let add = u64::try_from(whole).unwrap_or(u64::MAX);
            self.tokens = self.tokens.saturating_add(add).min(u64::from(self.burst));
            if self.tokens == u64::from(self.burst) {
                self.carry_ns = 0;
            }
        }
        if self.tokens > 0 {
            self.tokens -= 1;
            true
        } else {
            false
        }
    }
}

/// Learned path MTUs per destination, bounded, each expiring after a while (RFC 1191 §6.3).
#[derive(Debug, Default)]
pub struct PmtuCache {
    entries: BTreeMap<Ipv4Addr, (usize, Instant)>,
}

impl PmtuCache {
    /// The learned path MTU toward `dst`, if any and not expired.
    pub fn get(&self, dst: Ipv4Addr, now: Instant) -> Option<usize> {
        match self.entries.get(&dst) {
            Some(&(mtu, expires)) if expires > now => Some(mtu),
            _ => None,
        }
    }

    /// Records `mtu` toward `dst` until `now + expiry` if it lowers what is known (RFC 1191 §6.3:
    /// a PMTU is only ever lowered by these messages). Returns whether it changed anything.
    pub fn lower(
        &mut self,
        dst: Ipv4Addr,
        mtu: usize,
        now: Instant,
        expiry: Duration,
        max: usize,
    ) -> bool {
        if let Some(&(old, expires)) = self.entries.get(&dst) {
            if expires > now && old <= mtu {
                return false;
            }
        }
        if !self.entries.contains_key(&dst) && self.entries.len() >= max {
            self.entries.retain(|_, e| e.1 > now);
            if self.entries.len() >= max {
                // Evict the entry closest to expiry.
                let victim = self
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.1)
                    .map(|(k, _)| *k);
                if let Some(v) = victim {
                    self.entries.remove(&v);
                }
            }
        }
        self.entries.insert(dst, (mtu, now + expiry));
        true
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills_at_rate() {
        let t = Instant::now();
        let mut r = RateLimiter::new(10, 2, t);
        assert!(r.allow(t));
        assert!(r.allow(t));
        assert!(!r.allow(t));
        assert!(!r.allow(t + Duration::from_millis(50)));
        assert!(r.allow(t + Duration::from_millis(100)));
        assert!(!r.allow(t + Duration::from_millis(150)));
        // Long idle: refill caps at the burst.
        let later = t + Duration::from_secs(100);
        assert!(r.allow(later) && r.allow(later) && !r.allow(later));
    }

    #[test]
    fn pmtu_only_lowers_and_expires() {
        let t = Instant::now();
        let mut c = PmtuCache::default();
        let d = Ipv4Addr::new(198, 19, 0, 9);
        let e = Duration::from_secs(600);
        assert!(c.lower(d, 1400, t, e, 4));
        assert!(!c.lower(d, 1450, t, e, 4));
        assert!(c.lower(d, 1300, t, e, 4));
        assert_eq!(c.get(d, t), Some(1300));
        assert_eq!(c.get(d, t + e), None);
        for i in 0..10 {
            c.lower(Ipv4Addr::new(198, 19, 1, i), 1280, t, e, 4);
        }
        assert!(c.len() <= 4);
    }
}
