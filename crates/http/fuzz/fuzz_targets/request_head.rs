//! Fuzzes the request-head parser and the chunked body decoder on arbitrary bytes.
#![no_main]

use boomerang_http::body::{BodyDecoder, BodyLimits, ChunkedDecoder};
use boomerang_http::request::parse_head;
use boomerang_http::static_files::{normalize_target, parse_range};
use boomerang_http::ServerConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cfg = ServerConfig {
        max_header_bytes: 4096,
        max_uri_bytes: 1024,
        ..Default::default()
    };
    if let Ok(Some(head)) = parse_head(data, &cfg) {
        assert!(head.head_len <= data.len());
        assert!(head.target.end <= head.head_len);
        for r in [
            &head.if_none_match,
            &head.range,
            &head.if_range,
            &head.if_modified_since,
        ]
        .into_iter()
        .flatten()
        {
            assert!(r.end <= head.head_len);
        }
    }
    // As a request-target: normalised segments can never climb out of the root.
    if let Some((segments, _)) = normalize_target(data) {
        for s in &segments {
            assert!(
                !s.is_empty() && s != "." && s != ".." && !s.contains('/') && !s.contains('\0'),
                "{s:?}"
            );
        }
    }
    // As a Range value against a few lengths: a satisfiable range lies inside the file.
    for len in [0u64, 1, 1000, u64::MAX] {
        if let Ok(Some((first, last))) = parse_range(data, len) {
            assert!(first <= last && last < len);
        }
    }
    // The same bytes as a chunked body, fed whole and split in two at every 7th byte.
    let limits = BodyLimits {
        max_body: 1 << 16,
        max_chunk_ext: 256,
        max_trailer: 256,
    };
    let mut whole = Vec::new();
    let r1 = BodyDecoder::Chunked(ChunkedDecoder::default()).decode(data, &mut whole, &limits);
    let mut dec = BodyDecoder::Chunked(ChunkedDecoder::default());
    let mut split = Vec::new();
    let mut pos = 0;
    let mut r2 = Ok((0, false));
    while pos < data.len() {
        let end = (pos + 7).min(data.len());
        match dec.decode(&data[pos..end], &mut split, &limits) {
            Ok((n, done)) => {
                assert!(n <= end - pos);
                pos += n;
                r2 = Ok((pos, done));
                if done || n == 0 {
                    break;
                }
            }
            Err(e) => {
                r2 = Err(e);
                break;
            }
        }
    }
    // Splitting the input never changes the verdict or the decoded bytes.
    match (r1, r2) {
        (Ok((n, true)), Ok((m, true))) => {
            assert_eq!(n, m);
            assert_eq!(whole, split);
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        (Ok((_, false)), Ok((_, false))) => assert_eq!(whole, split),
        (a, b) => panic!("whole {a:?} vs split {b:?}"),
    }
});
