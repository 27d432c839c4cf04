//! The Internet checksum (RFC 1071): fast wide summation, pseudo-header helpers and
//! incremental update (RFC 1624).
//!
//! Partial sums returned by [`sum`] and [`pseudo_header`] are already folded below 2^17, so any
//! number of them (up to 2^47) can be added with plain `+` and then folded with [`fold`].
//! A partial sum is only combinable with another if the data it covers starts at an even byte
//! offset of the checksummed region (an odd-length slice may only be the last one).

use std::net::Ipv4Addr;

/// What parsing does with a received checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxChecksum {
    /// Verify it: a wrong checksum rejects the packet.
    Verify,
    /// Trust it: the NIC already verified it, or the data never left memory.
    Trust,
}

/// What emitting does with the checksum field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxChecksum {
    /// Compute it over the bytes written.
    Compute,
    /// Leave it (zero, or a partial sum the caller or the NIC completes).
    Leave,
}

/// Bytes summed between two reductions of the 64-bit accumulator; at most 2^32 four-byte words
/// fit in a `u64` before it could overflow, so this keeps a wide margin.
const BLOCK_LEN: usize = 1 << 20;

/// Sums `data` as big-endian 16-bit words (an odd trailing byte is padded with zero, RFC 1071 §4.1)
/// and returns the ones'-complement sum folded to 16 bits, widened to `u64` so sums combine by `+`.
///
/// Speed: the data is added as native-endian 32-bit words into a 64-bit accumulator, a loop the
/// compiler vectorises; the result is byte-swapped at the end, which RFC 1071 §2(B) allows.
pub fn sum(data: &[u8]) -> u64 {
    let mut total: u64 = 0;
    let even_len = data.len() & !1;
    let (even, tail) = data.split_at(even_len);
    for block in even.chunks(BLOCK_LEN) {
        let mut acc: u64 = 0;
        let mut words = block.chunks_exact(4);
        for w in &mut words {
            acc += u64::from(u32::from_ne_bytes([w[0], w[1], w[2], w[3]]));
        }
        let rest = words.remainder();
        if rest.len() == 2 {
            acc += u64::from(u16::from_ne_bytes([rest[0], rest[1]]));
        }
        // Fold the native-endian sum to 16 bits, then swap into network order (RFC 1071 §2(B)).
        let native = fold(acc);
        let be = if cfg!(target_endian = "little") {
            native.swap_bytes()
        } else {
            native
        };
        total = u64::from(fold(total + u64::from(be)));
    }
    if let Some(&last) = tail.first() {
        total += u64::from(last) << 8;
    }
    u64::from(fold(total))
}

/// Folds a partial sum to 16 bits with end-around carry; NOT complemented.
///
/// The value to store in a checksum field is `!fold(s)`; a received header whose checksum is
/// correct gives `fold(s) == 0xffff`.
pub fn fold(sum: u64) -> u16 {
    // Branch-free end-around carry: 64 -> 33 -> 17 -> 16 bits (+ a last possible carry).
    let s = (sum & 0xffff_ffff) + (sum >> 32);
    let s = (s & 0xffff) + (s >> 16);
    let s = (s & 0xffff) + (s >> 16);
    let s = (s & 0xffff) + (s >> 16);
    s as u16
}

/// The checksum of `data` as stored in a header field: the complement of the folded sum.
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(data))
}

/// Partial sum of the IPv4 pseudo-header used by TCP and UDP (RFC 9293 §3.1, RFC 768):
/// source, destination, zero + protocol, and the TCP/UDP length `len` (header + data).
pub fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: u32) -> u64 {
    let s = src.octets();
    let d = dst.octets();
    let words = [
        u16::from_be_bytes([s[0], s[1]]),
        u16::from_be_bytes([s[2], s[3]]),
        u16::from_be_bytes([d[0], d[1]]),
        u16::from_be_bytes([d[2], d[3]]),
        u16::from(protocol),
        (len >> 16) as u16,
        len as u16,
    ];
    let total: u64 = words.iter().map(|&w| u64::from(w)).sum();
    u64::from(fold(total))
}

/// Incrementally updates checksum field `old_csum` after one 16-bit word of the covered data
/// changed from `old` to `new`: `HC' = ~(~HC + ~m + m')` (RFC 1624 §3, eqn. 3).
pub fn update(old_csum: u16, old: u16, new: u16) -> u16 {
    let s = u64::from(!old_csum) + u64::from(!old) + u64::from(new);
    !fold(s)
}

/// Incrementally updates `old_csum` after a 32-bit value (e.g. an IPv4 address or a sequence
/// number) changed from `old` to `new`; two applications of [`update`].
pub fn update_u32(old_csum: u16, old: u32, new: u32) -> u16 {
    let c = update(old_csum, (old >> 16) as u16, (new >> 16) as u16);
    update(c, old as u16, new as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Word-by-word reference, straight from RFC 1071 §4.1.
    fn naive(data: &[u8]) -> u16 {
        let mut s: u64 = 0;
        let mut i = 0;
        while i + 1 < data.len() {
            s += u64::from(u16::from_be_bytes([data[i], data[i + 1]]));
            i += 2;
        }
        if i < data.len() {
            s += u64::from(data[i]) << 8;
        }
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3 example bytes: 00 01 f2 03 f4 f5 f6 f7 -> sum ddf2, checksum 220d.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&data)), 0xddf2);
        assert_eq!(checksum(&data), 0x220d);
    }

    #[test]
    fn ipv4_header_example() {
        // A real IPv4 header (checksum b861) from a common textbook example.
        let hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&hdr), 0xb861);
        let mut with = hdr;
        with[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert_eq!(fold(sum(&with)), 0xffff);
    }

    #[test]
    fn fold_extremes() {
        assert_eq!(fold(0), 0);
        assert_eq!(fold(0xffff), 0xffff);
        assert_eq!(fold(0x1_0000), 1);
        assert_eq!(fold(u64::MAX), 0xffff);
        assert_eq!(fold(0xffff_ffff), 0xffff);
        assert_eq!(fold(0x1_fffe), 0xffff);
    }

    #[test]
    fn odd_lengths_and_empty() {
        assert_eq!(checksum(&[]), 0xffff);
        assert_eq!(checksum(&[0xab]), naive(&[0xab]));
        let data: Vec<u8> = (0..=255u8).collect();
        for len in 0..data.len() {
            assert_eq!(checksum(&data[..len]), naive(&data[..len]), "len {len}");
        }
    }

    #[test]
    fn partial_sums_combine() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        let (a, b) = data.split_at(300);
        assert_eq!(!fold(sum(a) + sum(b)), checksum(&data));
    }

    #[test]
    fn large_input_crosses_blocks() {
        let data: Vec<u8> = (0..(BLOCK_LEN * 2 + 7)).map(|i| (i * 31) as u8).collect();
        assert_eq!(checksum(&data), naive(&data));
    }

    #[test]
    fn pseudo_header_matches_bytes() {
        let src = Ipv4Addr::new(198, 18, 0, 1);
        let dst = Ipv4Addr::new(198, 18, 0, 2);
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&src.octets());
        bytes.extend_from_slice(&dst.octets());
        bytes.extend_from_slice(&[0, 6, 0x12, 0x34]);
        assert_eq!(fold(pseudo_header(src, dst, 6, 0x1234)), fold(sum(&bytes)));
    }

    #[test]
    fn incremental_update_matches_recompute() {
        let mut data = [0x45u8, 0x00, 0x00, 0x54, 0x12, 0x34, 0x40, 0x00, 0x40, 0x01];
        let before = checksum(&data);
        data[8] = 0x3f; // TTL decrement: word 4 changes 0x4001 -> 0x3f01
        assert_eq!(update(before, 0x4001, 0x3f01), checksum(&data));
    }
}
