//! TCP options (RFC 9293 §3.2, RFC 7323, RFC 2018): parse one option from the header's option
//! bytes, or emit one; malformed lengths are rejected, unknown kinds are returned as `Unknown`.

use super::{be32, field, MAX_SACK_BLOCKS};
use crate::{Error, Result};

/// One TCP option (RFC 9293 §3.2, RFC 7323, RFC 2018).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// Kind 0: end of the option list.
    EndOfList,
    /// Kind 1: padding.
    NoOperation,
    /// Kind 2: maximum segment size (SYN only, RFC 9293 §3.7.1).
    MaxSegmentSize(u16),
    /// Kind 3: window scale shift count (SYN only, RFC 7323 §2).
    WindowScale(u8),
    /// Kind 4: SACK permitted (SYN only, RFC 2018 §2).
    SackPermitted,
    /// Kind 5: up to four SACK blocks (left edge, right edge), RFC 2018 §3.
    SackRange([Option<(u32, u32)>; 4]),
    /// Kind 8: timestamps (RFC 7323 §3).
    TimeStamp {
        /// The sender's timestamp clock.
        tsval: u32,
        /// The echoed timestamp.
        tsecr: u32,
    },
    /// Any other kind, skipped by the representation.
    Unknown {
        /// The option kind.
        kind: u8,
        /// Its data (after kind and length).
        data: &'a [u8],
    },
}

impl<'a> TcpOption<'a> {
    /// Parses the first option of `buffer`, returning the bytes after it and the option.
    /// Errors: `Truncated` on an empty buffer, `Malformed` if the length byte is missing,
    /// below 2, runs past the buffer, or does not fit the kind.
    pub fn parse(buffer: &'a [u8]) -> Result<(&'a [u8], TcpOption<'a>)> {
        let (&kind, after_kind) = buffer.split_first().ok_or(Error::Truncated)?;
        match kind {
            field::OPT_END => return Ok((after_kind, TcpOption::EndOfList)),
            field::OPT_NOP => return Ok((after_kind, TcpOption::NoOperation)),
            _ => {}
        }
        let len = usize::from(
            *after_kind
                .first()
                .ok_or(Error::Malformed("tcp option length missing"))?,
        );
        if len < 2 {
            return Err(Error::Malformed("tcp option length"));
        }
        let data = buffer
            .get(2..len)
            .ok_or(Error::Malformed("tcp option length past header"))?;
        let rest = buffer.get(len..).unwrap_or(&[]);
        let option = match (kind, data.len()) {
            (field::OPT_MSS, 2) => {
                TcpOption::MaxSegmentSize(u16::from_be_bytes([data[0], data[1]]))
            }
            (field::OPT_MSS, _) => return Err(Error::Malformed("tcp mss option length")),
            (field::OPT_WS, 1) => TcpOption::WindowScale(data[0]),
            (field::OPT_WS, _) => return Err(Error::Malformed("tcp window scale option length")),
            (field::OPT_SACKPERM, 0) => TcpOption::SackPermitted,
            (field::OPT_SACKPERM, _) => {
                return Err(Error::Malformed("tcp sack-permitted option length"))
            }
            (field::OPT_SACKRNG, n) if n > 0 && n % 8 == 0 && n / 8 <= MAX_SACK_BLOCKS => {
                let mut blocks = [None; 4];
                for (slot, b) in blocks.iter_mut().zip(data.chunks_exact(8)) {
                    *slot = Some((be32(b, 0), be32(b, 4)));
                }
                TcpOption::SackRange(blocks)
            }
            (field::OPT_SACKRNG, _) => return Err(Error::Malformed("tcp sack option length")),
            (field::OPT_TSTAMP, 8) => TcpOption::TimeStamp {
                tsval: be32(data, 0),
                tsecr: be32(data, 4),
            },
            (field::OPT_TSTAMP, _) => return Err(Error::Malformed("tcp timestamp option length")),
            (kind, _) => TcpOption::Unknown { kind, data },
        };
        Ok((rest, option))
    }

    /// Bytes this option occupies when emitted.
    pub fn buffer_len(&self) -> usize {
        match self {
            TcpOption::EndOfList | TcpOption::NoOperation => 1,
            TcpOption::MaxSegmentSize(_) => 4,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 2,
            TcpOption::SackRange(r) => 2 + 8 * r.iter().flatten().count(),
            TcpOption::TimeStamp { .. } => 10,
            TcpOption::Unknown { data, .. } => 2 + data.len(),
        }
    }

    /// Writes the option at the start of `buffer` and returns the bytes after it.
    /// Panics if `buffer` is shorter than [`buffer_len`](Self::buffer_len).
    pub fn emit<'b>(&self, buffer: &'b mut [u8]) -> &'b mut [u8] {
        let len = self.buffer_len();
        let (out, rest) = buffer.split_at_mut(len);
        match *self {
            TcpOption::EndOfList => out[0] = field::OPT_END,
            TcpOption::NoOperation => out[0] = field::OPT_NOP,
            _ => {
                out[1] = len as u8;
                match *self {
                    TcpOption::MaxSegmentSize(v) => {
                        out[0] = field::OPT_MSS;
                        out[2..4].copy_from_slice(&v.to_be_bytes());
                    }
                    TcpOption::WindowScale(v) => {
                        out[0] = field::OPT_WS;
                        out[2] = v;
                    }
                    TcpOption::SackPermitted => out[0] = field::OPT_SACKPERM,
                    TcpOption::SackRange(r) => {
                        out[0] = field::OPT_SACKRNG;
                        for ((l, r), chunk) in r.iter().flatten().zip(out[2..].chunks_exact_mut(8))
                        {
                            chunk[..4].copy_from_slice(&l.to_be_bytes());
                            chunk[4..].copy_from_slice(&r.to_be_bytes());
                        }
                    }
                    TcpOption::TimeStamp { tsval, tsecr } => {
                        out[0] = field::OPT_TSTAMP;
                        out[2..6].copy_from_slice(&tsval.to_be_bytes());
                        out[6..10].copy_from_slice(&tsecr.to_be_bytes());
                    }
                    TcpOption::Unknown { kind, data } => {
                        out[0] = kind;
                        out[2..].copy_from_slice(data);
                    }
                    TcpOption::EndOfList | TcpOption::NoOperation => {}
                }
            }
        }
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_and_reject() {
        assert_eq!(
            TcpOption::parse(&[2, 4, 0x05, 0xb4, 9]).unwrap(),
            (&[9u8][..], TcpOption::MaxSegmentSize(1460))
        );
        assert_eq!(
            TcpOption::parse(&[0, 1]).unwrap(),
            (&[1u8][..], TcpOption::EndOfList)
        );
        assert_eq!(
            TcpOption::parse(&[30, 3, 7]).unwrap(),
            (
                &[][..],
                TcpOption::Unknown {
                    kind: 30,
                    data: &[7]
                }
            )
        );
        for bad in [
            &[2u8][..],              // length missing
            &[2, 1][..],             // length < 2
            &[2, 3, 0][..],          // MSS with wrong length
            &[2, 4, 0][..],          // runs past the buffer
            &[3, 4, 0, 0][..],       // WS with wrong length
            &[4, 3, 0][..],          // SACK-permitted with data
            &[5, 2][..],             // SACK with no block
            &[5, 6, 0, 0, 0, 0][..], // SACK not a multiple of 8
            &[8, 6, 0, 0, 0, 0][..], // TS too short
            &[30, 0][..],            // unknown with length 0
        ] {
            assert!(
                matches!(TcpOption::parse(bad), Err(Error::Malformed(_))),
                "{bad:?}"
            );
        }
        assert_eq!(TcpOption::parse(&[]), Err(Error::Truncated));
        let mut five = vec![5u8, 42];
        five.extend_from_slice(&[0; 40]);
        assert!(TcpOption::parse(&five).is_err());
    }

    #[test]
    fn option_emit_parse() {
        for o in [
            TcpOption::MaxSegmentSize(536),
            TcpOption::WindowScale(3),
            TcpOption::SackPermitted,
            TcpOption::SackRange([Some((1, 2)), Some((3, 4)), None, None]),
            TcpOption::TimeStamp { tsval: 9, tsecr: 8 },
            TcpOption::Unknown {
                kind: 99,
                data: &[1, 2, 3],
            },
        ] {
            let mut buf = [0u8; 40];
            let rest = o.emit(&mut buf).len();
            assert_eq!(40 - rest, o.buffer_len());
            let (_, parsed) = TcpOption::parse(&buf[..o.buffer_len()]).unwrap();
            assert_eq!(parsed, o);
        }
    }
}
