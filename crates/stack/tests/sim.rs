//! Our client shard against our server shard over the simulated link with faults, on a virtual
//! clock: bulk transfers byte-exact under loss, reordering, duplication and corruption; many
//! short connections opened and closed with nothing left behind; reproducible runs.

mod common;

use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::time::Duration;

use boomerang_nic::fault::FaultConfig;
use boomerang_stack::{ConnId, SocketError, SocketEvent};
use common::*;

const PORT: u16 = 80;
/// Virtual time allowed for any scenario before it counts as stuck.
const VIRTUAL_LIMIT: Duration = Duration::from_secs(3600);

/// Transfers `total` bytes each way over one connection and waits until both shards are empty
/// (TIME-WAIT included). Returns the simulation for inspection.
fn bulk(total: u64, faults: FaultConfig, seed: u64) -> Sim<FaultyMemLink> {
    let link = FaultyMemLink::new(Duration::from_millis(1), faults, seed);
    let mut sim = Sim::new(
        config(CLIENT_MAC, CLIENT_IP),
        config(SERVER_MAC, SERVER_IP),
        link,
    );
    let l = sim.shards[1].listen(PORT, 16).expect("listen");
    let c = sim.shards[0]
        .connect(SocketAddrV4::new(SERVER_IP, PORT), sim.now)
        .expect("connect");
    let mut s: Option<ConnId> = None;
    let (mut c_st, mut s_st) = (Stream::default(), Stream::default());
    let mut scratch = vec![0u8; 64 * 1024];
    let mut closed = false;
    let end = sim.t0 + VIRTUAL_LIMIT;
    loop {
        sim.deliver();
        if s.is_none() {
            s = sim.shards[1].accept(l);
        }
        if !closed {
            pump_send(&mut sim.shards[0], c, &mut c_st, 0, total, &mut scratch);
            pump_recv(&mut sim.shards[0], c, &mut s_st, 1, &mut scratch);
            if let Some(s) = s {
                pump_send(&mut sim.shards[1], s, &mut s_st, 1, total, &mut scratch);
                pump_recv(&mut sim.shards[1], s, &mut c_st, 0, &mut scratch);
            }
        }
        if !closed && c_st.eof && s_st.eof {
            assert_eq!(c_st.received, total, "server received everything");
            assert_eq!(s_st.received, total, "client received everything");
            sim.shards[0].close(c);
            if let Some(s) = s {
                sim.shards[1].close(s);
            }
            closed = true;
        }
        sim.transmit();
        if closed && sim.shards[0].connection_count() == 0 && sim.shards[1].connection_count() == 0
        {
            break;
        }
        assert!(
            sim.advance(end),
            "network idle before completion at {:?}: client sent {} got {}, server sent {} got {}",
            sim.elapsed(),
            c_st.sent,
            s_st.received,
            s_st.sent,
            c_st.received
        );
        assert!(
            sim.now < end,
            "transfer did not finish in {VIRTUAL_LIMIT:?} of virtual time"
        );
    }
    sim
}

#[test]
fn fifty_megabytes_each_way_under_faults() {
    const TOTAL: u64 = 50 * 1000 * 1000;
    let wall = std::time::Instant::now();
    let sim = bulk(TOTAL, hostile(), 42);
    let (c, s) = (sim.shards[0].stats(), sim.shards[1].stats());
    eprintln!(
        "50 MB each way: {:?} virtual, {:?} wall, {} frames delivered, {} steps; \
         checksum drops client {} server {}; fast retransmits {}, RTOs {}, resent segments {}",
        sim.elapsed(),
        wall.elapsed(),
        sim.delivered,
        sim.steps,
        c.tcp_drop_checksum + c.ipv4_drop_checksum,
        s.tcp_drop_checksum + s.ipv4_drop_checksum,
        c.tcp_fast_retransmits + s.tcp_fast_retransmits,
        c.tcp_retransmit_timeouts + s.tcp_retransmit_timeouts,
        c.tcp_retransmitted_segments + s.tcp_retransmitted_segments,
    );
    // Corruption was seen and caught by checksums, not delivered as data.
    assert!(c.tcp_drop_checksum + c.ipv4_drop_checksum + s.tcp_drop_checksum > 0);
    assert_eq!(sim.shards[0].time_wait_count(), 0);
    assert_eq!(sim.shards[1].time_wait_count(), 0);
}

/// Opens `total` connections (at most `concurrent` at once), each: client sends a request and
/// half-closes, server reads it to EOF, answers and closes, client reads the answer to EOF
/// and closes. Returns the simulation once both shards hold nothing.
fn many_connections(
    total: usize,
    concurrent: usize,
    faults: FaultConfig,
    seed: u64,
) -> Sim<FaultyMemLink> {
    many_connections_with(
        config(SERVER_MAC, SERVER_IP),
        total,
        concurrent,
        faults,
        seed,
    )
}

/// [`many_connections`] with the server's configuration given.
fn many_connections_with(
    server_config: boomerang_stack::StackConfig,
    total: usize,
    concurrent: usize,
    faults: FaultConfig,
    seed: u64,
) -> Sim<FaultyMemLink> {
    const REQ: &[u8] = b"GET / HTTP/1.1\r\nHost: sim\r\n\r\n";
    const RESP: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let link = FaultyMemLink::new(Duration::from_millis(1), faults, seed);
    let mut sim = Sim::new(config(CLIENT_MAC, CLIENT_IP), server_config, link);
    let l = sim.shards[1].listen(PORT, 1024).expect("listen");
    let mut opened = 0usize;
    let mut done = 0usize;
    let mut client: HashMap<ConnId, Vec<u8>> = HashMap::new();
    let mut server: HashMap<ConnId, Vec<u8>> = HashMap::new();
    let mut buf = [0u8; 4096];
    let end = sim.t0 + VIRTUAL_LIMIT;
    loop {
        sim.deliver();
        while opened < total && client.len() < concurrent {
            let c = sim.shards[0]
                .connect(SocketAddrV4::new(SERVER_IP, PORT), sim.now)
                .expect("connect");
            client.insert(c, Vec::new());
            opened += 1;
        }
        // Server application.
        while let Some(ev) = sim.shards[1].poll_event() {
            match ev {
                SocketEvent::Acceptable(_) => {
                    while let Some(s) = sim.shards[1].accept(l) {
                        server.insert(s, Vec::new());
                    }
                }
                SocketEvent::Readable(s) => {
                    let Some(got) = server.get_mut(&s) else {
                        continue;
                    };
                    loop {
                        match sim.shards[1].recv(s, &mut buf) {
                            Ok(0) => {
                                assert_eq!(got.as_slice(), REQ);
                                assert_eq!(sim.shards[1].send(s, RESP), Ok(RESP.len()));
                                sim.shards[1].close(s);
                                server.remove(&s);
                                break;
                            }
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                            Err(SocketError::WouldBlock) => break,
                            Err(e) => panic!("server recv: {e}"),
                        }
                    }
                }
                SocketEvent::Writable(_) => {}
                SocketEvent::Closed(s) => panic!("server connection {s} closed early"),
            }
        }
        // Client application.
        while let Some(ev) = sim.shards[0].poll_event() {
            match ev {
                SocketEvent::Writable(c) => {
                    if client.get(&c).is_some_and(|v| v.is_empty())
                        && sim.shards[0].tcp_state(c)
                            == Some(boomerang_stack::TcpState::Established)
                    {
                        assert_eq!(sim.shards[0].send(c, REQ), Ok(REQ.len()));
                        sim.shards[0].shutdown(c);
                        client.insert(c, vec![0]); // marker: request sent
                    }
                }
                SocketEvent::Readable(c) => {
                    let Some(got) = client.get_mut(&c) else {
                        continue;
                    };
                    loop {
                        match sim.shards[0].recv(c, &mut buf) {
                            Ok(0) => {
                                assert_eq!(&got[1..], RESP);
                                sim.shards[0].close(c);
                                client.remove(&c);
                                done += 1;
                                break;
                            }
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                            Err(SocketError::WouldBlock) => break,
                            Err(e) => panic!("client recv: {e}"),
                        }
                    }
                }
                SocketEvent::Acceptable(_) => {}
                SocketEvent::Closed(c) => panic!("client connection {c} closed early"),
            }
        }
        sim.transmit();
        if done == total
            && sim.shards[0].connection_count() == 0
            && sim.shards[1].connection_count() == 0
        {
            break;
        }
        assert!(
            sim.advance(end),
            "idle with {done}/{total} done, {} client / {} server connections",
            sim.shards[0].connection_count(),
            sim.shards[1].connection_count()
        );
        assert!(sim.now < end, "connections did not finish in virtual time");
    }
    sim
}

#[test]
fn ten_thousand_connections_leave_nothing_behind() {
    let wall = std::time::Instant::now();
    let sim = many_connections(10_000, 256, hostile(), 7);
    eprintln!(
        "10k connections: {:?} virtual, {:?} wall, {} frames",
        sim.elapsed(),
        wall.elapsed(),
        sim.delivered
    );
    for shard in &sim.shards {
        assert_eq!(shard.connection_count(), 0);
        assert_eq!(shard.time_wait_count(), 0);
        assert_eq!(shard.queued_frames(), 0);
        assert_eq!(shard.reassembly_bytes(), 0);
    }
    let (c, s) = (sim.shards[0].stats(), sim.shards[1].stats());
    assert_eq!(c.tcp_active_opens, 10_000);
    assert_eq!(s.tcp_passive_opens, 10_000);
    assert_eq!(c.tcp_closed, 10_000);
    assert_eq!(s.tcp_closed, 10_000);
}

#[test]
fn syn_cookies_complete_handshakes_with_the_syn_backlog_full() {
    // No SYN-queue room at all: every SYN is answered with a cookie (RFC 4987 §3.6) and every
    // connection is rebuilt from its third segment, under loss and reordering.
    let mut server = config(SERVER_MAC, SERVER_IP);
    server.limits.max_syn_backlog = 0;
    let faults = FaultConfig {
        drop: 0.05,
        reorder: 0.20,
        reorder_delay: Duration::from_millis(2),
        ..FaultConfig::default()
    };
    let sim = many_connections_with(server, 300, 50, faults, 11);
    let s = sim.shards[1].stats();
    eprintln!(
        "cookies: {} sent, {} ok, {} failed; {:?} virtual",
        s.syncookies_sent,
        s.syncookies_ok,
        s.syncookies_failed,
        sim.elapsed()
    );
    assert_eq!(s.syncookies_ok, 300);
    assert!(s.syncookies_sent >= 300);
    assert_eq!(s.tcp_passive_opens, 300);
    assert_eq!(s.tcp_closed, 300);
    assert_eq!(sim.shards[1].connection_count(), 0);
}

#[test]
fn same_seed_same_trace() {
    let run = |seed| {
        let a = bulk(2_000_000, hostile(), seed);
        let b = many_connections(200, 50, hostile(), seed);
        (a.trace_digest(), a.elapsed(), b.trace_digest(), b.elapsed())
    };
    let first = run(1234);
    let second = run(1234);
    assert_eq!(first, second, "a fixed seed must reproduce the run");
    let other = run(4321);
    assert_ne!(first.0, other.0, "a different seed must change the trace");
}
