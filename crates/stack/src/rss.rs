//! Receive-side scaling awareness for active opens: the Toeplitz hash a NIC computes over an
//! incoming segment's addresses and ports, so `connect` can pick a local port whose *return*
//! traffic lands on the opening shard's RX queue; otherwise the NIC delivers the replies to
//! another shard, which does not know the connection (docs/operations.md, "RSS").
//!
//! Input order is the Microsoft RSS specification's: source address, destination address,
//! source port, destination port, all in network byte order — for a segment we receive,
//! source = the remote end, destination = us.

use std::net::SocketAddrV4;

/// Length of the usual RSS key (enough for IPv6 4-tuples; IPv4 uses the first 16 bytes + 4).
pub const RSS_KEY_LEN: usize = 40;

/// The NIC's RSS configuration as far as steering our own connections needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RssSteering {
    /// The NIC's hash key (`ethtool -x IF`).
    pub key: [u8; RSS_KEY_LEN],
    /// The indirection table: entry `hash % len` names the RX queue (`ethtool -x IF`).
    pub indirection: Vec<u16>,
}

impl RssSteering {
    /// The RX queue a segment from `remote` to `local` lands on, or `None` with an empty table.
    pub fn queue_for(&self, local: SocketAddrV4, remote: SocketAddrV4) -> Option<u16> {
        if self.indirection.is_empty() {
            return None;
        }
        let h = toeplitz_ipv4_tcp(&self.key, remote, local);
        self.indirection
            .get(h as usize % self.indirection.len())
            .copied()
    }
}

/// The Toeplitz hash of `input` under `key`: for every set bit of the input (most significant
/// first), XOR in the 32 key bits starting at that bit position. Key bits past the end count
/// as zero.
pub fn toeplitz(key: &[u8], input: &[u8]) -> u32 {
    let key_bit = |i: usize| -> u32 {
        key.get(i / 8)
            .map_or(0, |b| u32::from((b >> (7 - (i % 8))) & 1))
    };
    // The 32-bit window of the key starting at bit 0, slid one bit per input bit.
    let mut window: u32 = (0..32).fold(0, |w, i| (w << 1) | key_bit(i));
    let mut hash = 0u32;
    for (byte_index, &byte) in input.iter().enumerate() {
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                hash ^= window;
            }
            let next = byte_index * 8 + bit + 32;
            window = (window << 1) | key_bit(next);
        }
    }
    hash
}

/// The RSS hash of a TCP/IPv4 segment from `src` to `dst`.
pub fn toeplitz_ipv4_tcp(key: &[u8], src: SocketAddrV4, dst: SocketAddrV4) -> u32 {
    let mut input = [0u8; 12];
    input[..4].copy_from_slice(&src.ip().octets());
    input[4..8].copy_from_slice(&dst.ip().octets());
    input[8..10].copy_from_slice(&src.port().to_be_bytes());
    input[10..12].copy_from_slice(&dst.port().to_be_bytes());
    toeplitz(key, &input)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// The key of the Microsoft RSS verification suite.
    const MS_KEY: [u8; 40] = [
        0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f,
        0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
        0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
    ];

    fn sa(a: [u8; 4], p: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::from(a), p)
    }

    #[test]
    fn microsoft_verification_vectors() {
        // "Verifying the RSS Hash Calculation" (Microsoft), IPv4 with TCP ports.
        let cases = [
            (
                [66, 9, 149, 187],
                2794,
                [161, 142, 100, 80],
                1766,
                0x51cc_c178u32,
            ),
            (
                [199, 92, 111, 2],
                14230,
                [65, 69, 140, 83],
                4739,
                0xc626_b0ea,
            ),
            (
                [24, 19, 198, 95],
                12898,
                [12, 22, 207, 184],
                38024,
                0x5c2b_394a,
            ),
        ];
        for (src, sp, dst, dp, want) in cases {
            assert_eq!(
                toeplitz_ipv4_tcp(&MS_KEY, sa(src, sp), sa(dst, dp)),
                want,
                "{src:?}:{sp} -> {dst:?}:{dp}"
            );
        }
        // Addresses only.
        assert_eq!(
            toeplitz(&MS_KEY, &[66, 9, 149, 187, 161, 142, 100, 80]),
            0x323e_8fc2
        );
    }

    #[test]
    fn queue_comes_from_the_indirection_table() {
        let rss = RssSteering {
            key: MS_KEY,
            indirection: vec![0, 1, 2, 3],
        };
        let local = sa([161, 142, 100, 80], 1766);
        let remote = sa([66, 9, 149, 187], 2794);
        assert_eq!(
            rss.queue_for(local, remote),
            Some((0x51cc_c178u32 % 4) as u16)
        );
        let empty = RssSteering {
            key: MS_KEY,
            indirection: Vec::new(),
        };
        assert_eq!(empty.queue_for(local, remote), None);
    }
}
