//! Property: how the bytes of a pipelined request stream are cut into reads, and how the
//! output is drained, never changes what the server answers.

use std::time::{Instant, SystemTime};

use boomerang_http::{BlockingPool, HttpConnection, HttpService, HttpWorker, Router, ServerConfig};
use proptest::prelude::*;

fn request(kind: u8, n: usize) -> Vec<u8> {
    let body: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
    match kind % 6 {
        0 => b"GET /plaintext HTTP/1.1\r\nHost: p\r\n\r\n".to_vec(),
        1 => {
            let mut r = format!("POST /echo HTTP/1.1\r\nHost: p\r\nContent-Length: {n}\r\n\r\n")
                .into_bytes();
            r.extend_from_slice(&body);
            r
        }
        2 => {
            let mut r =
                b"POST /echo HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            for part in body.chunks(7) {
                r.extend_from_slice(format!("{:x};e=1\r\n", part.len()).as_bytes());
                r.extend_from_slice(part);
                r.extend_from_slice(b"\r\n");
            }
            r.extend_from_slice(b"0\r\nT: x\r\n\r\n");
            r
        }
        3 => b"HEAD /plaintext HTTP/1.1\r\nHost: p\r\n\r\n".to_vec(),
        4 => b"GET /nothing-here HTTP/1.1\r\nHost: p\r\n\r\n".to_vec(),
        _ => b"DELETE /echo HTTP/1.1\r\nHost: p\r\n\r\n".to_vec(),
    }
}

/// Feeds `input` cut at `cuts`, draining `drain` bytes (0 = all) after each piece.
fn run(input: &[u8], cuts: &[usize], drain: &[usize]) -> Vec<u8> {
    let cfg = ServerConfig {
        output_high_water: 512,
        output_low_water: 256,
        ..Default::default()
    };
    let service = HttpService::new(cfg, Router::with_builtin_routes()).unwrap();
    let pool = BlockingPool::new(1, 4).unwrap();
    let epoch = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    let mut ctx = HttpWorker::new(&service, &pool, Box::new(|| {}), epoch);
    let now = Instant::now();
    let mut conn = HttpConnection::new(&mut ctx, 1, now);
    let mut out = Vec::new();
    let mut pos = 0;
    let mut step = 0;
    while pos < input.len() || !conn.pending_output().is_empty() {
        if pos < input.len() && conn.wants_read() {
            let len = cuts
                .get(step % cuts.len().max(1))
                .copied()
                .unwrap_or(usize::MAX)
                .max(1);
            let end = (pos + len).min(input.len());
            conn.on_recv(&mut ctx, &input[pos..end], now);
            pos = end;
        }
        let want = drain.get(step % drain.len().max(1)).copied().unwrap_or(0);
        let pending = conn.pending_output();
        let n = if want == 0 {
            pending.len()
        } else {
            want.min(pending.len())
        };
        out.extend_from_slice(&pending[..n]);
        conn.consume_output(&mut ctx, n, now);
        step += 1;
        assert!(step < 1_000_000, "no progress");
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn cutting_and_draining_do_not_change_the_answers(
        reqs in prop::collection::vec((any::<u8>(), 0usize..300), 1..12),
        cuts in prop::collection::vec(1usize..64, 1..16),
        drain in prop::collection::vec(0usize..200, 1..16),
    ) {
        let input: Vec<u8> = reqs.iter().flat_map(|&(k, n)| request(k, n)).collect();
        let whole = run(&input, &[usize::MAX], &[0]);
        let split = run(&input, &cuts, &drain);
        prop_assert!(!whole.is_empty());
        prop_assert_eq!(whole, split);
    }
}
