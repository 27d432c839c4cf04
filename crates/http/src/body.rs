//! Request body decoding: Content-Length counting and the chunked transfer coding
//! (RFC 9112 §7.1) as an incremental state machine, one state per grammar position.
//!
//! Invariants: input may be split at any byte; the decoder never panics, bounds the
//! decoded body, the chunk extensions and the trailer section, and accepts only CRLF.

use crate::error::RequestError;

/// Limits applied while decoding one body.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// Most decoded body bytes.
    pub max_body: usize,
    /// Most chunk-extension bytes over the whole body.
    pub max_chunk_ext: usize,
    /// Most trailer-section bytes.
    pub max_trailer: usize,
}

/// Position in the chunked grammar (RFC 9112 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading `chunk-size` hex digits; `digits` seen so far.
    Size { digits: u8 },
    /// Inside `chunk-ext`, until CR.
    Ext,
    /// CR of the size line seen, LF expected.
    SizeLf,
    /// `remaining` bytes of chunk-data still to come.
    Data,
    /// After chunk-data: CR expected.
    DataCr,
    /// After chunk-data CR: LF expected.
    DataLf,
    /// At the start of a trailer field line or the final CRLF.
    TrailerStart,
    /// Inside a trailer field line.
    Trailer,
    /// CR of a trailer line seen, LF expected.
    TrailerLf,
    /// CR of the final empty line seen, LF expected.
    FinalLf,
    /// The whole chunked body has been read.
    Done,
}

/// Incremental decoder of a request body.
#[derive(Debug, Clone)]
pub enum BodyDecoder {
    /// `Content-Length` framing: this many bytes remain.
    Length(u64),
    /// Chunked framing.
    Chunked(ChunkedDecoder),
}

/// State of the chunked decoder.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: Chunk,
    size: u64,
    ext_bytes: usize,
    trailer_bytes: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self {
            state: Chunk::Size { digits: 0 },
            size: 0,
            ext_bytes: 0,
            trailer_bytes: 0,
        }
    }
}

impl BodyDecoder {
    /// Decodes from `input`, appending body bytes to `out`.
    ///
    /// Returns how many input bytes were consumed and whether the body is complete.
    pub fn decode(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limits: &BodyLimits,
    ) -> Result<(usize, bool), RequestError> {
        match self {
            BodyDecoder::Length(remaining) => {
                let take = usize::try_from(*remaining)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                let data = input.get(..take).unwrap_or_default();
                if out.len().saturating_add(take) > limits.max_body {
                    return Err(RequestError::BodyTooLarge);
                }
                out.extend_from_slice(data);
                *remaining -= take as u64;
                Ok((take, *remaining == 0))
            }
            BodyDecoder::Chunked(dec) => dec.decode(input, out, limits),
        }
    }
}

impl ChunkedDecoder {
    /// Decodes chunked framing from `input` into `out`; see [`BodyDecoder::decode`].
    pub fn decode(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limits: &BodyLimits,
    ) -> Result<(usize, bool), RequestError> {
        let mut i = 0usize;
        while i < input.len() {
            if self.state == Chunk::Done {
                break;
            }
            if self.state == Chunk::Data {
                let avail = input.len() - i;
                let take = usize::try_from(self.size).unwrap_or(usize::MAX).min(avail);
                if out.len().saturating_add(take) > limits.max_body {
                    return Err(RequestError::BodyTooLarge);
                }
                out.extend_from_slice(input.get(i..i + take).unwrap_or_default());
                i += take;
                self.size -= take as u64;
                if self.size == 0 {
                    self.state = Chunk::DataCr;
                }
                continue;
            }
            let b = input.get(i).copied().unwrap_or(0);
            i += 1;
            self.state = match self.state {
                Chunk::Size { digits } => match hex_value(b) {
                    Some(v) => {
                        // 16 hex digits fill a u64; leading zeros beyond that are still fine
                        // as long as the value does not overflow.
                        if self.size > (u64::MAX >> 4) {
                            return Err(RequestError::InvalidChunkSize);
                        }
                        self.size = (self.size << 4) | u64::from(v);
                        Chunk::Size {
                            digits: digits.saturating_add(1),
                        }
                    }
                    None if digits == 0 => return Err(RequestError::InvalidChunkSize),
                    None => match b {
                        b';' | b' ' | b'\t' => {
                            self.count_ext()?;
                            Chunk::Ext
                        }
                        b'\r' => Chunk::SizeLf,
                        _ => return Err(RequestError::InvalidChunkSize),
                    },
                },
                Chunk::Ext => match b {
                    b'\r' => Chunk::SizeLf,
                    b'\t' => {
                        self.count_ext_limited(limits)?;
                        Chunk::Ext
                    }
                    0..=0x1f | 0x7f => return Err(RequestError::InvalidChunkFraming),
                    _ => {
                        self.count_ext_limited(limits)?;
                        Chunk::Ext
                    }
                },
                Chunk::SizeLf => {
                    if b != b'\n' {
                        return Err(RequestError::InvalidChunkFraming);
                    }
                    if self.size == 0 {
                        Chunk::TrailerStart
                    } else {
                        Chunk::Data
                    }
                }
                Chunk::DataCr => match b {
                    b'\r' => Chunk::DataLf,
                    _ => return Err(RequestError::InvalidChunkFraming),
                },
                Chunk::DataLf => match b {
                    b'\n' => {
                        self.size = 0;
                        Chunk::Size { digits: 0 }
                    }
                    _ => return Err(RequestError::InvalidChunkFraming),
                },
                Chunk::TrailerStart => match b {
                    b'\r' => Chunk::FinalLf,
                    b'\n' => return Err(RequestError::InvalidChunkFraming),
                    _ => {
                        self.count_trailer(limits)?;
                        Chunk::Trailer
                    }
                },
                Chunk::Trailer => match b {
                    b'\r' => Chunk::TrailerLf,
                    b'\n' => return Err(RequestError::InvalidChunkFraming),
                    _ => {
                        self.count_trailer(limits)?;
                        Chunk::Trailer
                    }
                },
                Chunk::TrailerLf => match b {
                    b'\n' => Chunk::TrailerStart,
                    _ => return Err(RequestError::InvalidChunkFraming),
                },
                Chunk::FinalLf => match b {
                    b'\n' => Chunk::Done,
                    _ => return Err(RequestError::InvalidChunkFraming),
                },
                Chunk::Data | Chunk::Done => self.state,
            };
        }
        Ok((i, self.state == Chunk::Done))
    }

    fn count_ext(&mut self) -> Result<(), RequestError> {
        self.ext_bytes = self.ext_bytes.saturating_add(1);
        Ok(())
    }

    fn count_ext_limited(&mut self, limits: &BodyLimits) -> Result<(), RequestError> {
        self.ext_bytes = self.ext_bytes.saturating_add(1);
        if self.ext_bytes > limits.max_chunk_ext {
            return Err(RequestError::ChunkExtensionsTooLarge);
        }
        Ok(())
    }

    fn count_trailer(&mut self, limits: &BodyLimits) -> Result<(), RequestError> {
        self.trailer_bytes = self.trailer_bytes.saturating_add(1);
        if self.trailer_bytes > limits.max_trailer {
            return Err(RequestError::TrailersTooLarge);
        }
        Ok(())
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: BodyLimits = BodyLimits {
        max_body: 1 << 20,
        max_chunk_ext: 64,
        max_trailer: 64,
    };

    fn decode_all(input: &[u8]) -> Result<(Vec<u8>, usize, bool), RequestError> {
        let mut d = BodyDecoder::Chunked(ChunkedDecoder::default());
        let mut out = Vec::new();
        let (n, done) = d.decode(input, &mut out, &LIMITS)?;
        Ok((out, n, done))
    }

    /// Feeds `input` one byte at a time.
    fn decode_bytewise(input: &[u8]) -> Result<(Vec<u8>, bool), RequestError> {
        let mut d = BodyDecoder::Chunked(ChunkedDecoder::default());
        let mut out = Vec::new();
        let mut done = false;
        for b in input {
            let (n, fin) = d.decode(std::slice::from_ref(b), &mut out, &LIMITS)?;
            if fin {
                done = true;
                if n == 0 {
                    break;
                }
            }
        }
        Ok((out, done))
    }

    #[test]
    fn simple_chunks() {
        let raw = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\nGET";
        let (out, n, done) = decode_all(raw).unwrap();
        assert_eq!(out, b"hello world");
        assert!(done);
        assert_eq!(n, raw.len() - 3);
        let (out, done) = decode_bytewise(&raw[..raw.len() - 3]).unwrap();
        assert_eq!(out, b"hello world");
        assert!(done);
    }

    #[test]
    fn trailers_are_skipped() {
        let (out, _, done) = decode_all(b"3\r\nabc\r\n0\r\nX-T: 1\r\nY: 2\r\n\r\n").unwrap();
        assert_eq!(out, b"abc");
        assert!(done);
    }

    #[test]
    fn truncated_is_incomplete() {
        let raw = b"5\r\nhello\r\n0\r\n\r\n";
        for i in 0..raw.len() {
            let (_, n, done) = decode_all(&raw[..i]).unwrap();
            assert!(!done, "prefix {i}");
            assert_eq!(n, i);
        }
    }

    #[test]
    fn invalid_sizes() {
        assert_eq!(decode_all(b"x\r\n"), Err(RequestError::InvalidChunkSize));
        assert_eq!(decode_all(b"\r\n"), Err(RequestError::InvalidChunkSize));
        assert_eq!(decode_all(b"-1\r\n"), Err(RequestError::InvalidChunkSize));
        assert_eq!(decode_all(b"5z\r\n"), Err(RequestError::InvalidChunkSize));
        assert_eq!(decode_all(b"0x5\r\n"), Err(RequestError::InvalidChunkSize));
        assert_eq!(
            decode_all(b"11111111111111111\r\n"),
            Err(RequestError::InvalidChunkSize)
        );
        // Leading zeros that do not overflow are fine.
        assert_eq!(
            decode_all(b"000000000000000000003\r\nabc\r\n0\r\n\r\n")
                .unwrap()
                .0,
            b"abc"
        );
    }

    #[test]
    fn huge_extension_rejected() {
        let mut raw = b"1;".to_vec();
        raw.extend(std::iter::repeat_n(b'a', 100));
        raw.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
        assert_eq!(decode_all(&raw), Err(RequestError::ChunkExtensionsTooLarge));
    }

    #[test]
    fn bare_lf_rejected() {
        assert_eq!(
            decode_all(b"3\nabc\r\n"),
            Err(RequestError::InvalidChunkSize)
        );
        assert_eq!(
            decode_all(b"3\r\nabc\n0\r\n\r\n"),
            Err(RequestError::InvalidChunkFraming)
        );
        assert_eq!(
            decode_all(b"3\r\nabc\r\n0\r\n\n"),
            Err(RequestError::InvalidChunkFraming)
        );
        assert_eq!(
            decode_all(b"3;a\nb\r\n"),
            Err(RequestError::InvalidChunkFraming)
        );
    }

    #[test]
    fn data_longer_than_size_rejected() {
        assert_eq!(
            decode_all(b"3\r\nabcd\r\n"),
            Err(RequestError::InvalidChunkFraming)
        );
    }

    #[test]
    fn body_limit() {
        let limits = BodyLimits {
            max_body: 4,
            ..LIMITS
        };
        let mut d = BodyDecoder::Chunked(ChunkedDecoder::default());
        let mut out = Vec::new();
        assert_eq!(
            d.decode(b"3\r\nabc\r\n3\r\ndef\r\n", &mut out, &limits),
            Err(RequestError::BodyTooLarge)
        );
    }

    #[test]
    fn trailer_limit() {
        let mut raw = b"0\r\nX: ".to_vec();
        raw.extend(std::iter::repeat_n(b'a', 100));
        raw.extend_from_slice(b"\r\n\r\n");
        assert_eq!(decode_all(&raw), Err(RequestError::TrailersTooLarge));
    }

    #[test]
    fn content_length_decoder() {
        let mut d = BodyDecoder::Length(5);
        let mut out = Vec::new();
        assert_eq!(d.decode(b"he", &mut out, &LIMITS), Ok((2, false)));
        assert_eq!(d.decode(b"lloGET", &mut out, &LIMITS), Ok((3, true)));
        assert_eq!(out, b"hello");
    }
}
