//! What a TLS handshake costs the shard's loop: CONNECTIONS short connections, one after the
//! other, each `GET /plaintext` with `Connection: close`, through the production loop turn
//! (`ServerShard::turn`) over the in-memory link on a virtual clock, against the same server
//! configuration as `boomerang serve --tls-cert … --tls-key …` (an ECDSA P-256 certificate
//! made at start). The client is the load generator's TLS client
//! ([`boomerang::load::TlsClient`]).
//!
//! `handshake_cost MODE [CONNECTIONS] [BURST]`, MODE `plain`, `full` (every connection a full
//! handshake) or `resumed` (tickets kept: a first, unmeasured connection fetches them).
//! Connections are opened in groups of BURST (default 1) whose requests — over TLS, their
//! ClientHellos — arrive at the server together, as in a burst of new clients; only the time
//! after the TCP handshakes is measured. Every server turn is timed (wall clock) and summed per
//! group; it prints the median, p90 and mean of that time per group, the median per connection
//! and the longest single turn, i.e. how long a burst holds the loop and so delays every
//! established connection of the shard. The handshake's own cost is the difference between
//! `full` (or `resumed`) and `plain`. Under callgrind
//! (`--toggle-collect='*ServerShard*turn*'`) the same runs give instruction counts that do
//! not depend on the machine's load.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use boomerang::load::{Handshake, Resumption, TlsClient, TlsConn};
use boomerang::serve::sim::{response_complete, SimOptions, SimPair, SiteDir};
use boomerang_http::tls::TlsConfig;
use boomerang_http::ServerConfig;
use boomerang_stack::ConnId;

/// Wall time spent in server turns since the last reset, in nanoseconds.
static SERVER_NS: AtomicU64 = AtomicU64::new(0);
/// The longest single server turn since the last reset, in nanoseconds.
static MAX_TURN_NS: AtomicU64 = AtomicU64::new(0);

fn timed_turn(turn: &mut dyn FnMut()) {
    let start = Instant::now();
    turn();
    let ns = start.elapsed().as_nanos() as u64;
    SERVER_NS.fetch_add(ns, Ordering::Relaxed);
    MAX_TURN_NS.fetch_max(ns, Ordering::Relaxed);
}

const REQUEST: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n";

/// One TLS connection of the client: its TLS state, records not yet taken by the client
/// stack, and the plaintext received.
struct Client {
    c: ConnId,
    tls: TlsConn,
    unsent: Vec<u8>,
    plain: Vec<u8>,
}

/// One request over TLS on every connection of `conns` at once; returns once every response
/// is in and the server has closed them all.
fn tls_get_all(sim: &mut SimPair, conns: &mut [Client]) -> anyhow::Result<()> {
    for cl in conns.iter_mut() {
        cl.tls.send(REQUEST)?;
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut failed = None;
    sim.run_until(Duration::from_secs(10), |p| {
        for cl in conns.iter_mut() {
            if let Err(e) = cl.tls.flush(&mut cl.unsent) {
                failed = Some(e);
                return true;
            }
            if let Ok(n) = p.client.send(cl.c, &cl.unsent) {
                cl.unsent.drain(..n);
            }
            while let Ok(n) = p.client.recv(cl.c, &mut buf) {
                if n == 0 {
                    break;
                }
                let cipher = buf.get(..n).unwrap_or_default();
                if let Err(e) = cl.tls.receive(cipher, &mut cl.plain) {
                    failed = Some(e);
                    return true;
                }
            }
        }
        conns.iter().all(|cl| response_complete(&cl.plain)) && p.server.http_connections() == 0
    })?;
    if let Some(e) = failed {
        bail!("TLS: {e}");
    }
    for cl in conns.iter() {
        anyhow::ensure!(cl.plain.ends_with(b"Hello, World!"), "bad response");
    }
    Ok(())
}

/// One request in the clear on every connection of `conns` at once, until the server has
/// closed them all.
fn plain_get_all(sim: &mut SimPair, conns: &[ConnId]) -> anyhow::Result<()> {
    for &c in conns {
        sim.client
            .send(c, REQUEST)
            .map_err(|e| anyhow::anyhow!("send: {e:?}"))?;
    }
    let mut got = vec![Vec::new(); conns.len()];
    let mut buf = vec![0u8; 64 * 1024];
    sim.run_until(Duration::from_secs(10), |p| {
        for (&c, g) in conns.iter().zip(got.iter_mut()) {
            while let Ok(n) = p.client.recv(c, &mut buf) {
                if n == 0 {
                    break;
                }
                g.extend_from_slice(buf.get(..n).unwrap_or_default());
            }
        }
        got.iter().all(|g| response_complete(g)) && p.server.http_connections() == 0
    })?;
    for g in &got {
        anyhow::ensure!(g.ends_with(b"Hello, World!"), "bad response");
    }
    Ok(())
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    let i = ((sorted.len() as f64 - 1.0) * p / 100.0).round() as usize;
    sorted.get(i).copied().unwrap_or(0)
}

fn main() -> anyhow::Result<()> {
    let arg = |i: usize, default: usize| -> anyhow::Result<usize> {
        std::env::args()
            .nth(i)
            .map(|a| a.parse().context("a number"))
            .transpose()
            .map(|v| v.unwrap_or(default))
    };
    let mode = std::env::args().nth(1).unwrap_or_else(|| "full".into());
    let n = arg(2, 200)?.max(1);
    let burst = arg(3, 1)?.clamp(1, n);
    let resumption = match mode.as_str() {
        "plain" => None,
        "full" => Some(Resumption::Full),
        "resumed" => Some(Resumption::Tickets),
        m => bail!("MODE {m}: use plain, full or resumed"),
    };
    let cert = rcgen::generate_simple_self_signed(vec!["a.test".to_string()])?;
    let dir = SiteDir::new("hscost", &[])?;
    std::fs::write(dir.0.join("a.crt"), cert.cert.pem())?;
    std::fs::write(dir.0.join("a.key"), cert.signing_key.serialize_pem())?;
    let http = ServerConfig {
        tls: resumption.map(|_| TlsConfig {
            cert: vec![dir.0.join("a.crt")],
            key: vec![dir.0.join("a.key")],
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut sim = SimPair::new(SimOptions {
        http,
        ..Default::default()
    })?;
    sim.record = false;
    sim.around_server_turn = timed_turn;
    let client = resumption
        .map(|r| TlsClient::from_roots(vec![cert.cert.der().clone()], "a.test", r))
        .transpose()?;
    if matches!(resumption, Some(Resumption::Tickets)) {
        // A first connection brings the tickets the measured ones resume with.
        let c = sim.connect()?;
        let tls = client.as_ref().context("client")?.connect()?;
        let mut first = [Client {
            c,
            tls,
            unsent: Vec::new(),
            plain: Vec::new(),
        }];
        tls_get_all(&mut sim, &mut first)?;
        sim.client.close(c);
    }
    // Server time per group of `burst` connections, and the longest turn.
    let (mut per_group, mut max_turn) = (Vec::new(), 0u64);
    let (mut full, mut resumed) = (0u64, 0u64);
    for _ in 0..n / burst {
        let conns = (0..burst)
            .map(|_| sim.connect())
            .collect::<anyhow::Result<Vec<ConnId>>>()?;
        // The TCP handshakes are done; only the requests (and TLS) are timed.
        SERVER_NS.store(0, Ordering::Relaxed);
        MAX_TURN_NS.store(0, Ordering::Relaxed);
        match &client {
            Some(cl) => {
                let mut group = conns
                    .iter()
                    .map(|&c| {
                        Ok(Client {
                            c,
                            tls: cl.connect()?,
                            unsent: Vec::new(),
                            plain: Vec::new(),
                        })
                    })
                    .collect::<anyhow::Result<Vec<Client>>>()?;
                tls_get_all(&mut sim, &mut group)?;
                for g in &mut group {
                    match g.tls.take_handshake() {
                        Some(Handshake::Full) => full += 1,
                        Some(Handshake::Resumed) => resumed += 1,
                        None => bail!("a handshake did not finish"),
                    }
                }
            }
            None => plain_get_all(&mut sim, &conns)?,
        }
        for c in conns {
            sim.client.close(c);
        }
        per_group.push(SERVER_NS.load(Ordering::Relaxed));
        max_turn = max_turn.max(MAX_TURN_NS.load(Ordering::Relaxed));
    }
    let groups = per_group.len().max(1) as u64;
    let mean = per_group.iter().sum::<u64>() / groups;
    per_group.sort_unstable();
    let us = |ns: u64| ns as f64 / 1000.0;
    println!(
        "{mode}: {} connections in groups of {burst} ({full} full, {resumed} resumed handshakes); server turns per group: median {:.1} µs, p90 {:.1} µs, mean {:.1} µs; per connection (median) {:.1} µs; longest single turn {:.1} µs",
        per_group.len() * burst,
        us(percentile(&per_group, 50.0)),
        us(percentile(&per_group, 90.0)),
        us(mean),
        us(percentile(&per_group, 50.0)) / burst as f64,
        us(max_turn),
    );
    Ok(())
}
