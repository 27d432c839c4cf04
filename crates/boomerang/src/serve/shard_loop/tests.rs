//! The server's loop turn over the in-memory link on a virtual clock, against a client shard
//! of our own stack that delays its ACKs like Linux (40 ms): exact frames per turn.

use std::time::Duration;

use boomerang_http::ServerConfig;

use crate::serve::sim::{SimOptions, SimPair, SiteDir};

const FILE_LEN: usize = 64 * 1024;
const GET_64K: &[u8] = b"GET /64k.bin HTTP/1.1\r\nHost: t\r\n\r\n";

fn file_body() -> Vec<u8> {
    (0..FILE_LEN).map(|i| (i % 251) as u8).collect()
}

/// A 64 KiB response from the file cache leaves in the loop turn that received its request,
/// head and body together, although the client delays its ACKs by 40 ms: with a head
/// written alone the body would wait for that ACK (it did: head at 1 ms, body at 43 ms).
#[test]
fn cached_file_leaves_with_its_head_in_one_turn() {
    let body = file_body();
    let site = SiteDir::new("shard-loop", &[("64k.bin", &body)]).unwrap();
    let mut opts = SimOptions {
        http: ServerConfig {
            root: Some(site.0.clone()),
            ..Default::default()
        },
        ..Default::default()
    };
    // Windows that hold the whole response, so that only the write path can hold it back.
    opts.server.tcp.initial_cwnd_segments = 64;
    opts.client.tcp.rcv_buf_initial = opts.client.tcp.rcv_buf;
    let mut sim = SimPair::new(opts).unwrap();
    // The first request loads the file into the cache (on the blocking pool).
    let warm = sim.connect().unwrap();
    let (_, first) = sim.exchange(warm, GET_64K).unwrap();
    assert!(first.ends_with(&body));
    // A new connection, so that its window is the initial one whatever the first did.
    let c = sim.connect().unwrap();
    let before = sim.turns.len();
    let (took, response) = sim.exchange(c, GET_64K).unwrap();
    assert!(response.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert!(response.ends_with(&body));
    let turns = &sim.turns[before..];
    for t in turns.iter().filter(|t| t.work.any()) {
        eprintln!("{:?} {:?} {}", t.at - turns[0].at, t.work, t.payload);
    }
    let answer = turns
        .iter()
        .find(|t| t.work.received > 0 && t.work.sent > 0)
        .expect("a turn that received the request and answered");
    assert_eq!(
        answer.payload,
        response.len(),
        "the turn at {:?} did not send the whole response (head alone: 238 bytes)",
        answer.at - turns[0].at
    );
    let later: usize = turns
        .iter()
        .filter(|t| t.at > answer.at)
        .map(|t| t.payload)
        .sum();
    assert_eq!(later, 0, "response bytes left after the answering turn");
    // Two one-way delays plus the server's turn, far from the client's 40 ms delayed ACK.
    assert!(took < Duration::from_millis(5), "took {took:?}");
}

/// A connection over the per-worker limit is reset, counted, and the ones inside the limit
/// keep being served.
#[test]
fn connections_over_the_limit_are_reset_and_counted() {
    let opts = SimOptions {
        http: ServerConfig {
            max_connections_per_worker: 2,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut sim = SimPair::new(opts).unwrap();
    let a = sim.connect().unwrap();
    let b = sim.connect().unwrap();
    // The third handshake completes in the stack; the server then resets it.
    let c = sim.connect().unwrap();
    let get = b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n";
    let mut buf = [0u8; 64];
    sim.run_until(Duration::from_millis(50), |p| {
        p.client.recv(c, &mut buf) == Err(boomerang_stack::SocketError::ConnectionReset)
    })
    .unwrap();
    for conn in [a, b] {
        let (_, r) = sim.exchange(conn, get).unwrap();
        assert!(r.ends_with(b"Hello, World!"));
    }
    let refused: u64 = sim
        .server
        .http
        .service()
        .metrics()
        .workers()
        .iter()
        .map(|w| w.connections_refused())
        .sum();
    assert_eq!(refused, 1);
}
