//! Drives N keep-alive `GET /plaintext` requests through the server's production loop turn
//! (`ServerShard::turn`) over the in-memory link, for instruction counting from RX
//! descriptor to TX descriptor (wire + stack + HTTP): `bench/request-cost` runs it under
//! callgrind with collection switched on only inside server turns, for two values of N, and
//! divides the difference by the difference in N (the warm-up and the connection's setup
//! cancel out).

use boomerang::serve::sim::{SimOptions, SimPair};

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let request = b"GET /plaintext HTTP/1.1\r\nHost: 198.18.0.2:8080\r\n\r\n";
    let mut sim = SimPair::new(SimOptions::default())?;
    sim.record = false;
    let c = sim.connect()?;
    let mut response = Vec::with_capacity(4096);
    let mut bytes = 0;
    for _ in 0..n {
        sim.exchange_into(c, request, &mut response)?;
        anyhow::ensure!(response.ends_with(b"Hello, World!"), "bad response");
        bytes += response.len();
    }
    println!("{n} requests, {bytes} response bytes");
    Ok(())
}
