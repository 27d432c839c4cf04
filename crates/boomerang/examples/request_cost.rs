//! Drives keep-alive `GET /plaintext` requests through the server's production loop turn
//! (`ServerShard::turn`) over the in-memory link, for instruction counting from RX
//! descriptor to TX descriptor (wire + stack + HTTP): `bench/request-cost` runs it under
//! callgrind with collection switched on only inside server turns, for two request counts,
//! and divides the difference by the difference in requests (the warm-up and the
//! connections' setup cancel out).
//!
//! `request_cost ROUNDS [CONNECTIONS] [ACCESS_LOG]`: every round sends one request on each of
//! CONNECTIONS connections at once (a closed-loop load like `wrk -c`), so a server turn
//! handles several requests as it does under load; with one connection every request also
//! pays the turns in which nothing arrived. With ACCESS_LOG (a file, e.g. `/dev/null`) the
//! server writes its access log there, to count what a log line costs the shard.

use boomerang::serve::sim::{SimOptions, SimPair};

fn main() -> anyhow::Result<()> {
    let arg = |i: usize, default: usize| {
        std::env::args()
            .nth(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or(default)
    };
    let rounds = arg(1, 1000);
    let connections = arg(2, 1).max(1);
    let request = b"GET /plaintext HTTP/1.1\r\nHost: 198.18.0.2:8080\r\n\r\n";
    let mut opts = SimOptions::default();
    opts.http.access_log = std::env::args().nth(3).map(Into::into);
    let mut sim = SimPair::new(opts)?;
    sim.record = false;
    let conns = (0..connections)
        .map(|_| sim.connect())
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut responses = vec![Vec::with_capacity(4096); connections];
    let mut bytes = 0;
    for _ in 0..rounds {
        sim.exchange_all(&conns, request, &mut responses)?;
        for r in &responses {
            anyhow::ensure!(r.ends_with(b"Hello, World!"), "bad response");
            bytes += r.len();
        }
    }
    println!(
        "{} requests on {connections} connections, {bytes} response bytes",
        rounds * connections
    );
    Ok(())
}
