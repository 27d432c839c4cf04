//! Drives one sans-IO connection through N plaintext request/response cycles, for
//! instruction counting: `valgrind --tool=callgrind target/release/examples/plaintext_loop N`.
//! The per-request cost is the difference between two runs divided by the difference in N.

use std::time::{Instant, SystemTime};

use boomerang_http::{BlockingPool, HttpConnection, HttpService, HttpWorker, Router, ServerConfig};

fn main() -> std::io::Result<()> {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let req = b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
    let service = HttpService::new(ServerConfig::default(), Router::with_builtin_routes())?;
    let pool = BlockingPool::new(1, 16)?;
    let mut ctx = HttpWorker::new(&service, &pool, Box::new(|| {}), SystemTime::now());
    let now = Instant::now();
    let mut conn = HttpConnection::new(&mut ctx, 1, now);
    let mut total = 0usize;
    for _ in 0..n {
        conn.on_recv(&mut ctx, req, now);
        let k = conn.pending_output().len();
        total += k;
        conn.consume_output(&mut ctx, k, now);
    }
    println!("{n} requests, {total} response bytes");
    Ok(())
}
