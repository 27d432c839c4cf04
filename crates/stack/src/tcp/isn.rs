//! Initial sequence numbers per RFC 6528: `ISN = M + F(localip, localport, remoteip,
//! remoteport, secretkey)` where `M` is a 4-microsecond clock and `F` a keyed hash (SipHash-2-4).
//!
//! The shard owns one generator, seeded with a secret from the caller (the crate reads no
//! randomness or clock itself); `epoch` anchors the clock.

use crate::FourTuple;
use boomerang_wire::SeqNumber;
use core::hash::Hasher;
use siphasher::sip::SipHasher24;
use std::time::Instant;

/// Ticks of the RFC 6528 clock `M` per second (one tick every 4 µs, RFC 9293 §3.4.1).
pub const ISN_TICKS_PER_SEC: u64 = 250_000;

/// Generates ISNs that are unpredictable to off-path attackers and monotonic per 4-tuple.
#[derive(Debug, Clone)]
pub struct IsnGenerator {
    k0: u64,
    k1: u64,
    epoch: Instant,
}

impl IsnGenerator {
    /// A generator keyed by `secret` (keep it secret; draw it from a CSPRNG at start).
    pub fn new(secret: [u8; 16], epoch: Instant) -> IsnGenerator {
        let mut a = [0u8; 8];
        let mut b = [0u8; 8];
        a.copy_from_slice(&secret[..8]);
        b.copy_from_slice(&secret[8..]);
        IsnGenerator {
            k0: u64::from_le_bytes(a),
            k1: u64::from_le_bytes(b),
            epoch,
        }
    }

    /// The keyed hash `F` of RFC 6528 §3 for a 4-tuple.
    pub fn offset(&self, tuple: &FourTuple) -> u32 {
        let mut h = SipHasher24::new_with_keys(self.k0, self.k1);
        h.write(&tuple.local.ip().octets());
        h.write(&tuple.local.port().to_be_bytes());
        h.write(&tuple.remote.ip().octets());
        h.write(&tuple.remote.port().to_be_bytes());
        h.finish() as u32
    }

    /// Our RFC 7323 timestamp clock for `tuple` at `now`: milliseconds since the generator's
    /// epoch plus a keyed per-4-tuple offset (RFC 7323 §5.4, like Linux's `tsoffset`). One clock
    /// per 4-tuple, so a new connection on the ports of an old one continues its timestamps
    /// and passes the peer's PAWS check in TIME-WAIT (RFC 6191), while different tuples'
    /// clocks reveal nothing about each other.
    pub fn ts_clock(&self, tuple: &FourTuple, now: Instant) -> u32 {
        let mut h = SipHasher24::new_with_keys(self.k1, self.k0);
        h.write(b"tsval");
        h.write(&tuple.local.ip().octets());
        h.write(&tuple.local.port().to_be_bytes());
        h.write(&tuple.remote.ip().octets());
        h.write(&tuple.remote.port().to_be_bytes());
        let ms = now.saturating_duration_since(self.epoch).as_millis() as u32;
        ms.wrapping_add(h.finish() as u32)
    }

    /// The ISN for a connection on `tuple` opened at `now` (RFC 6528 §3).
    pub fn isn(&self, tuple: &FourTuple, now: Instant) -> SeqNumber {
        let elapsed = now.saturating_duration_since(self.epoch);
        let ticks = elapsed.as_secs().wrapping_mul(ISN_TICKS_PER_SEC)
            + u64::from(elapsed.subsec_micros()) / 4;
        SeqNumber((ticks as u32).wrapping_add(self.offset(tuple)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddrV4};
    use std::time::Duration;

    fn tuple(port: u16) -> FourTuple {
        FourTuple {
            local: SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 80),
            remote: SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 2), port),
        }
    }

    #[test]
    fn advances_with_clock_and_differs_per_tuple_and_key() {
        let t0 = Instant::now();
        let g = IsnGenerator::new([7; 16], t0);
        let a = g.isn(&tuple(1000), t0);
        let b = g.isn(&tuple(1000), t0 + Duration::from_millis(1));
        assert_eq!(b - a, 250, "1 ms = 250 ticks of 4 µs");
        assert_ne!(g.isn(&tuple(1001), t0), a);
        let g2 = IsnGenerator::new([8; 16], t0);
        assert_ne!(g2.isn(&tuple(1000), t0), a);
    }

    #[test]
    fn timestamp_clock_moves_forward_per_tuple_whatever_the_gap() {
        let t0 = Instant::now();
        let g = IsnGenerator::new([7; 16], t0);
        let first = g.ts_clock(&tuple(1000), t0);
        // The gaps that made the ISN-derived clock run backwards (between 1.049 s and
        // 2.097 s modulo 2.097 s), and ordinary ones.
        for ms in [1, 770, 1500, 2100, 3326, 60_000, 3_600_000] {
            let later = g.ts_clock(&tuple(1000), t0 + Duration::from_millis(ms));
            assert_eq!(later.wrapping_sub(first), ms as u32, "after {ms} ms");
        }
        assert_ne!(g.ts_clock(&tuple(1001), t0), first, "per-tuple offset");
    }
}
