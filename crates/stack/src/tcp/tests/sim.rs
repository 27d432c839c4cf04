//! Deterministic Tcb-vs-Tcb simulation: two connections exchange real encoded segments
//! (emitted and parsed by `boomerang-wire`, checksums verified) over a lossy, reordering,
//! duplicating and corrupting link driven by a seeded RNG; transfers must arrive byte-exact
//! and both ends must close cleanly. (The frame-level simulation of whole shards lives in
//! `crates/stack/tests/`.)

use super::*;
use boomerang_wire::TcpPacket;
use boomerang_wire::{RxChecksum, TxChecksum};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// Hard bound on simulation events, so a livelock fails instead of hanging.
const MAX_EVENTS: usize = 5_000_000;

#[derive(Clone, Copy)]
pub(super) struct Faults {
    pub(super) loss: f64,
    pub(super) dup: f64,
    pub(super) corrupt: f64,
    pub(super) delay: Duration,
    pub(super) jitter: Duration,
    /// A bottleneck in each direction: bytes per second (IPv4 header included), with a FIFO
    /// queue in front of it that holds at most `queue` of sending time (tail drop beyond).
    pub(super) rate: Option<u64>,
    pub(super) queue: Duration,
    /// This share of segments (as netsim's `--reorder`) is held `reorder_delay` longer.
    pub(super) reorder: f64,
    pub(super) reorder_delay: Duration,
}

pub(super) const CLEAN: Faults = Faults {
    loss: 0.0,
    dup: 0.0,
    corrupt: 0.0,
    delay: Duration::from_millis(5),
    jitter: Duration::ZERO,
    rate: None,
    queue: Duration::ZERO,
    reorder: 0.0,
    reorder_delay: Duration::ZERO,
};

/// A 20 ms round trip with random loss `loss` in each direction and nothing else.
pub(super) fn lossy_20ms(loss: f64) -> Faults {
    Faults {
        loss,
        delay: Duration::from_millis(10),
        ..CLEAN
    }
}

const HOSTILE: Faults = Faults {
    loss: 0.05,
    dup: 0.02,
    corrupt: 0.01,
    delay: Duration::from_millis(5),
    // Jitter up to 4× the base delay reorders a large share of segments.
    jitter: Duration::from_millis(20),
    rate: None,
    queue: Duration::ZERO,
    reorder: 0.0,
    reorder_delay: Duration::ZERO,
};

/// (deliver at, tie-breaker, to server?, encoded TCP segment)
type InFlight = (Instant, u64, bool, Vec<u8>);

struct Link {
    rng: ChaCha8Rng,
    faults: Faults,
    /// (deliver at, tie-breaker, to server?, encoded TCP segment)
    queue: BinaryHeap<Reverse<InFlight>>,
    counter: u64,
    sent: u64,
    /// A narrower hop: TCP segments longer than this are dropped (its ICMP "fragmentation
    /// needed" is modelled by calling `set_path_mtu` on both ends).
    max_tcp_len: Option<usize>,
    /// When the bottleneck of each direction (to the client, to the server) is free again.
    busy: [Option<Instant>; 2],
}

impl Link {
    /// Queues a segment; `Some(mtu)` when it was too big (the ICMP the sender would get).
    fn push(&mut self, now: Instant, to_server: bool, mut bytes: Vec<u8>) -> Option<usize> {
        self.sent += 1;
        if let Some(max) = self.max_tcp_len.filter(|&max| bytes.len() > max) {
            return Some(max + 20);
        }
        if self.rng.gen_bool(self.faults.loss) {
            return None;
        }
        let mut depart = now;
        if let Some(rate) = self.faults.rate {
            let busy = &mut self.busy[usize::from(to_server)];
            let start = busy.map_or(now, |b| b.max(now));
            if start - now > self.faults.queue {
                return None;
            }
            let wire = Duration::from_secs_f64((bytes.len() + 20) as f64 / rate as f64);
            depart = start + wire;
            *busy = Some(depart);
        }
        if self.faults.reorder > 0.0 && self.rng.gen_bool(self.faults.reorder) {
            depart += self.faults.reorder_delay;
        }
        if self.rng.gen_bool(self.faults.corrupt) && !bytes.is_empty() {
            let i = self.rng.gen_range(0..bytes.len());
            bytes[i] ^= 1 << self.rng.gen_range(0..8);
        }
        let copies = if self.rng.gen_bool(self.faults.dup) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let jitter = self.faults.jitter.mul_f64(self.rng.gen::<f64>());
            self.counter += 1;
            self.queue.push(Reverse((
                depart + self.faults.delay + jitter,
                self.counter,
                to_server,
                bytes.clone(),
            )));
        }
        None
    }
}

struct Side {
    tcb: Option<Tcb>,
    out: Vec<u8>,
    sent: usize,
    got: Vec<u8>,
    eof: bool,
    /// Bytes the application reads per step (a slow reader exercises zero windows).
    read_chunk: usize,
}

fn encode(
    tcb: &mut Tcb,
    seg: &super::super::tcb::OutSegment,
    src: Ipv4Addr,
    dst: Ipv4Addr,
) -> Vec<u8> {
    let mut payload = vec![0u8; seg.payload_len()];
    tcb.write_payload(seg, &mut payload);
    let repr = seg.repr_with_payload(&payload);
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(
        &mut TcpPacket::new_unchecked(&mut buf[..]),
        src,
        dst,
        TxChecksum::Compute,
    );
    buf
}

pub(super) struct Report {
    pub(super) end: Duration,
    pub(super) segments: u64,
    /// The server's side of the transfer (it sends `bytes_each_way` to the client).
    pub(super) server: SenderStats,
}

/// What the server's connection did as a sender.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct SenderStats {
    /// Retransmission timeouts.
    pub(super) rtos: u32,
    /// Loss recoveries entered (fast retransmits).
    pub(super) recoveries: u32,
    /// Segments sent again.
    pub(super) retransmitted: u32,
    /// When the client had received all of the server's data.
    pub(super) done: Option<Duration>,
}

/// `SIM_TRACE=cc`: one line per 10 ms of virtual time with the server's congestion state.
fn trace_cc(at: Duration, t: &Tcb) {
    use crate::tcp::congestion::{Congestion, Controller};
    let model = match &t.cc {
        Congestion::Bbr(b) => format!(
            "{:?} bw={:.2}MB/s min_rtt={:?} full={}",
            b.mode(),
            b.btl_bw() / 1e6,
            b.min_rtt(),
            b.full_bw_reached()
        ),
        _ => format!("ssthresh={}", t.cc.ssthresh()),
    };
    eprintln!(
        "{:>9.3?} una={} flight={} wnd={} tlp={:?}/{:?} cwnd={} pipe={} pacing={:.2}MB/s rec={} rto_rec={} lost={} srtt={:?} {model}",
        at,
        t.snd_una(),
        t.flight_size(),
        t.snd_wnd,
        t.rec.tlp.at.map(|a| a.saturating_duration_since(t.epoch)),
        t.rec.tlp.end_seq,
        t.cc.window(),
        t.pipe(),
        t.cc.pacing_rate().unwrap_or(0.0) / 1e6,
        t.rec.in_recovery,
        t.rec.rto_recovery,
        t.rec.rack.lost_bytes(),
        t.rtt.srtt(),
    );
}

pub(super) fn run(
    seed: u64,
    faults: Faults,
    bytes_each_way: usize,
    cfg: &TcpConfig,
    slow_reader: bool,
) -> Report {
    run_with(seed, faults, bytes_each_way, cfg, slow_reader, false)
}

fn run_with(
    seed: u64,
    faults: Faults,
    bytes_each_way: usize,
    cfg: &TcpConfig,
    slow_reader: bool,
    server_closes_first: bool,
) -> Report {
    run_full(
        seed,
        faults,
        bytes_each_way,
        cfg,
        slow_reader,
        server_closes_first,
        None,
    )
}

/// `lower_mtu`: once a third of the client's data arrived, the path MTU drops to this; a
/// sender learns it from its first oversized segment (as from ICMP "fragmentation needed").
pub(super) fn run_full(
    seed: u64,
    faults: Faults,
    bytes_each_way: usize,
    cfg: &TcpConfig,
    slow_reader: bool,
    server_closes_first: bool,
    lower_mtu: Option<usize>,
) -> Report {
    let t0 = Instant::now();
    let mut now = t0;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let client_data: Vec<u8> = (0..bytes_each_way).map(|_| rng.gen()).collect();
    let server_data: Vec<u8> = (0..bytes_each_way).map(|_| rng.gen()).collect();
    let mut link = Link {
        rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5eed),
        faults,
        queue: BinaryHeap::new(),
        counter: 0,
        sent: 0,
        max_tcp_len: None,
        busy: [None; 2],
    };
    let mut stats = SenderStats::default();
    let mut next_trace = t0;
    let client_tuple = FourTuple {
        local: SocketAddrV4::new(CLIENT_IP, REMOTE_PORT),
        remote: SocketAddrV4::new(SERVER_IP, LOCAL_PORT),
    };
    let mut client = Side {
        tcb: Some(Tcb::connect(
            cfg,
            client_tuple,
            SeqNumber(rng.gen()),
            1460,
            now,
        )),
        out: client_data.clone(),
        sent: 0,
        got: Vec::new(),
        eof: false,
        read_chunk: usize::MAX,
    };
    let mut server = Side {
        tcb: None,
        out: server_data.clone(),
        sent: 0,
        got: Vec::new(),
        eof: false,
        read_chunk: if slow_reader { 3_000 } else { usize::MAX },
    };
    let server_iss = SeqNumber(rng.gen());
    let mut buf = vec![0u8; 65_536];
    for _ in 0..MAX_EVENTS {
        // Applications: write what fits, read what is there, close when done.
        for side in [&mut client, &mut server] {
            let Some(tcb) = side.tcb.as_mut() else {
                continue;
            };
            while side.sent < side.out.len() {
                match tcb.send(&side.out[side.sent..]) {
                    Ok(n) => side.sent += n,
                    Err(_) => break,
                }
            }
            let mut budget = side.read_chunk;
            while budget > 0 {
                let want = budget.min(buf.len());
                match tcb.recv(&mut buf[..want]) {
                    Ok(0) => {
                        side.eof = true;
                        break;
                    }
                    Ok(n) => {
                        side.got.extend_from_slice(&buf[..n]);
                        budget -= n;
                    }
                    Err(_) => break,
                }
            }
            if side.sent == side.out.len() && side.eof && !tcb.state().fin_queued() {
                tcb.shutdown();
            }
        }
        // The first closer (the client, or the server like an HTTP server with
        // `Connection: close`) shuts down once its data is acknowledged and it has everything
        // from the peer; the other closes on end of stream. The first ends in TIME-WAIT.
        let first = if server_closes_first {
            &mut server
        } else {
            &mut client
        };
        let peer_len = bytes_each_way;
        if let Some(t) = first.tcb.as_mut() {
            if first.sent == first.out.len()
                && t.send_queue() == 0
                && first.got.len() == peer_len
                && t.state() == TcpState::Established
            {
                if server_closes_first {
                    t.close();
                } else {
                    t.shutdown();
                }
            }
        }
        if let Some(mtu) = lower_mtu {
            if link.max_tcp_len.is_none() && server.got.len() >= bytes_each_way / 3 {
                link.max_tcp_len = Some(mtu - 20);
            }
        }
        // Transmit.
        if let Some(c) = client.tcb.as_mut() {
            while let Some(seg) = c.poll_segment(now, 1460) {
                let bytes = encode(c, &seg, CLIENT_IP, SERVER_IP);
                if let Some(mtu) = link.push(now, true, bytes) {
                    c.set_path_mtu(mtu);
                }
            }
        }
        if let Some(s) = server.tcb.as_mut() {
            while let Some(seg) = s.poll_segment(now, 1460) {
                stats.retransmitted += u32::from(seg.retransmission);
                let bytes = encode(s, &seg, SERVER_IP, CLIENT_IP);
                if let Some(mtu) = link.push(now, false, bytes) {
                    s.set_path_mtu(mtu);
                }
            }
        }
        let finished = |side: &Side, first: bool| {
            side.tcb.as_ref().is_some_and(|t| {
                t.state() == TcpState::Closed || (first && t.state() == TcpState::TimeWait)
            })
        };
        let client_done = finished(&client, !server_closes_first);
        let server_done = finished(&server, server_closes_first);
        if client_done && server_done && link.queue.is_empty() {
            let (c, s) = (client.tcb.as_ref().unwrap(), server.tcb.as_ref().unwrap());
            assert_eq!(
                (c.error(), s.error(), c.state(), s.state()),
                (None, None, c.state(), s.state()),
                "seed {seed}"
            );
            assert_eq!(server.got.len(), client_data.len());
            let diff = server
                .got
                .iter()
                .zip(&client_data)
                .position(|(a, b)| a != b);
            assert_eq!(diff, None, "client → server bytes differ");
            assert!(client.got == server_data, "server → client bytes differ");
            assert!(client.eof && server.eof);
            let c = client.tcb.as_ref().unwrap();
            let s = server.tcb.as_ref().unwrap();
            assert_eq!(c.error(), None);
            assert_eq!(s.error(), None);
            assert_eq!(s.heap_bytes(), 0, "server buffers released");
            assert_eq!(c.heap_bytes(), 0, "client buffers released");
            // No ACK storms: at most a few segments per MSS of payload each way.
            let budget = 6 * (2 * bytes_each_way / 1000 + 20) as u64;
            assert!(
                link.sent < budget,
                "{} segments for {} bytes",
                link.sent,
                bytes_each_way
            );
            if std::env::var("SIM_TRACE").is_ok() {
                eprintln!(
                    "seed {seed}: {:?} simulated, {} segments",
                    now - t0,
                    link.sent
                );
            }
            return Report {
                end: now - t0,
                segments: link.sent,
                server: stats,
            };
        }
        // Advance to the next event.
        let next = [
            link.queue.peek().map(|Reverse((t, ..))| *t),
            client.tcb.as_ref().and_then(|c| c.next_deadline()),
            server.tcb.as_ref().and_then(|s| s.next_deadline()),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or_else(|| {
            let describe = |side: &Side| {
                side.tcb.as_ref().map(|t| {
                    format!(
                        "{} una={} nxt={} max={} sendq={} recvq={} snd_wnd={} sent={} got={} eof={}",
                        t.state(),
                        t.snd_una(),
                        t.snd_nxt(),
                        t.snd_max,
                        t.send_queue(),
                        t.recv_queue(),
                        t.snd_wnd,
                        side.sent,
                        side.got.len(),
                        side.eof
                    )
                })
            };
            panic!(
                "simulation stalled (seed {seed}): nothing in flight, no timer armed\n client {:?}\n server {:?}",
                describe(&client),
                describe(&server)
            )
        });
        now = now.max(next);
        assert!(
            now - t0 < Duration::from_secs(3600),
            "simulated hour passed"
        );
        while let Some(Reverse((t, ..))) = link.queue.peek() {
            if *t > now {
                break;
            }
            let Some(Reverse((_, _, to_server, bytes))) = link.queue.pop() else {
                break;
            };
            let (src, dst) = if to_server {
                (CLIENT_IP, SERVER_IP)
            } else {
                (SERVER_IP, CLIENT_IP)
            };
            let Ok(pkt) = TcpPacket::new_checked(&bytes[..]) else {
                continue;
            };
            let Ok(repr) = TcpRepr::parse(&pkt, src, dst, RxChecksum::Verify) else {
                continue;
            };
            if std::env::var("SIM_TRACE").as_deref() == Ok("all") {
                eprintln!(
                    "{:>8?} {} {:?} seq={} ack={:?} win={} len={} ts={:?} sack={:?}",
                    now - t0,
                    if to_server { "c->s" } else { "s->c" },
                    repr.control,
                    repr.seq_number,
                    repr.ack_number,
                    repr.window_len,
                    repr.payload.len(),
                    repr.timestamp,
                    repr.sack_ranges
                );
            }
            if to_server {
                match server.tcb.as_mut() {
                    Some(s) => {
                        let out = s.on_segment(&repr, now);
                        stats.recoveries += u32::from(out.fast_retransmit);
                    }
                    None if repr.control == TcpControl::Syn && repr.ack_number.is_none() => {
                        let tuple = FourTuple {
                            local: SocketAddrV4::new(SERVER_IP, LOCAL_PORT),
                            remote: SocketAddrV4::new(CLIENT_IP, REMOTE_PORT),
                        };
                        server.tcb = Some(Tcb::listen_syn(cfg, tuple, &repr, server_iss, now));
                    }
                    None => {}
                }
            } else if let Some(c) = client.tcb.as_mut() {
                c.on_segment(&repr, now);
            }
        }
        for (is_server, tcb) in [(false, client.tcb.as_mut()), (true, server.tcb.as_mut())] {
            let Some(tcb) = tcb else { continue };
            if tcb.next_deadline().is_some_and(|d| d <= now) {
                let out = tcb.on_deadline(now);
                if is_server {
                    stats.rtos += u32::from(out.retransmit_timeout);
                    stats.recoveries += u32::from(out.fast_retransmit);
                }
            }
            tcb.check_invariants();
        }
        if stats.done.is_none() && client.got.len() == bytes_each_way {
            stats.done = Some(now - t0);
        }
        if now >= next_trace && std::env::var("SIM_TRACE").as_deref() == Ok("cc") {
            if let Some(s) = server.tcb.as_ref() {
                trace_cc(now - t0, s);
            }
            next_trace = now + Duration::from_millis(10);
        }
    }
    panic!("simulation did not finish within {MAX_EVENTS} events");
}

#[test]
fn clean_link_transfers_both_ways() {
    let r = run(1, CLEAN, 1_000_000, &TcpConfig::default(), false);
    assert!(r.end < Duration::from_secs(5), "took {:?}", r.end);
}

#[test]
fn hostile_link_transfers_byte_exact() {
    for seed in 0..4 {
        run(seed, HOSTILE, 2_000_000, &TcpConfig::default(), false);
    }
}

#[test]
fn hostile_link_without_options() {
    let cfg = TcpConfig {
        window_scaling: false,
        timestamps: false,
        sack: false,
        ..TcpConfig::default()
    };
    for seed in 10..13 {
        run(seed, HOSTILE, 1_000_000, &cfg, false);
    }
}

#[test]
fn slow_reader_with_small_buffers_exercises_zero_windows() {
    let cfg = TcpConfig {
        rcv_buf: 8_192,
        snd_buf: 8_192,
        ..TcpConfig::default()
    };
    run(21, HOSTILE, 200_000, &cfg, true);
    run(22, CLEAN, 200_000, &cfg, true);
}

#[test]
fn same_seed_same_run() {
    let a = run(5, HOSTILE, 100_000, &TcpConfig::default(), false);
    let b = run(5, HOSTILE, 100_000, &TcpConfig::default(), false);
    assert_eq!(a.end, b.end);
    assert_eq!(a.segments, b.segments);
}

#[test]
fn hostile_link_with_each_congestion_control() {
    use crate::tcp::config::CongestionAlgorithm::{Bbr, Cubic};
    for (algorithm, seeds) in [(Cubic, 30..34), (Bbr, 34..38)] {
        let cfg = TcpConfig {
            congestion: algorithm,
            ..TcpConfig::default()
        };
        for seed in seeds.clone() {
            // The last seed of each runs over a clean link.
            let faults = if seed + 1 == seeds.end {
                CLEAN
            } else {
                HOSTILE
            };
            run(seed, faults, 1_000_000, &cfg, false);
        }
    }
}

#[test]
fn many_short_connections_server_closes_first() {
    // HTTP-style: small request, small response, the server closes; hostile link.
    let cfg = TcpConfig::default();
    for seed in 100..300 {
        let size = 1 + (seed as usize * 7919) % 6000;
        run_with(seed, HOSTILE, size, &cfg, false, true);
    }
}

#[test]
fn short_connections_client_closes_first_without_options() {
    let cfg = TcpConfig {
        window_scaling: false,
        timestamps: false,
        sack: false,
        delayed_ack: Duration::ZERO,
        ..TcpConfig::default()
    };
    for seed in 300..400 {
        run(
            seed,
            HOSTILE,
            1 + (seed as usize * 104_729) % 20_000,
            &cfg,
            false,
        );
    }
}

#[test]
fn path_mtu_drop_mid_transfer() {
    // A hop with a smaller MTU appears: oversized segments in flight are lost, later ones
    // are cut to the new MSS, and the transfer completes byte-exact.
    for (seed, cfg) in [
        (40, TcpConfig::default()),
        (
            41,
            TcpConfig {
                timestamps: false,
                sack: false,
                ..TcpConfig::default()
            },
        ),
    ] {
        run_full(seed, HOSTILE, 400_000, &cfg, false, false, Some(700));
        run_full(seed, CLEAN, 400_000, &cfg, false, false, Some(576));
    }
}

/// Issue 7's comparison: the same transfer (2 MB each way, same seeds, so the same link RNG
/// streams) over a link with random loss and a 20 ms RTT, once with the defaults (CUBIC, SACK
/// with RFC 6675 recovery) and once with NewReno without SACK. Times are virtual (the
/// simulated clock), so the comparison is deterministic. Figures: docs/benchmarks.md.
#[test]
fn cubic_with_sack_beats_new_reno_without_sack_under_loss() {
    const BYTES: usize = 2_000_000;
    let sack = TcpConfig::default();
    let reno = TcpConfig {
        congestion: crate::tcp::config::CongestionAlgorithm::NewReno,
        sack: false,
        ..TcpConfig::default()
    };
    assert_eq!(
        sack.congestion,
        crate::tcp::config::CongestionAlgorithm::Cubic
    );
    assert!(sack.sack);
    for (seed, loss) in [
        (71, 0.01),
        (72, 0.01),
        (73, 0.01),
        (74, 0.05),
        (75, 0.05),
        (76, 0.05),
    ] {
        let faults = lossy_20ms(loss);
        let a = run(seed, faults, BYTES, &sack, false);
        let b = run(seed, faults, BYTES, &reno, false);
        let rate = |r: &Report| (2 * BYTES) as f64 / r.end.as_secs_f64() / 1e6;
        eprintln!(
            "seed {seed}, loss {:.0}%: CUBIC+SACK {:.2?} ({:.2} MB/s, {} segments); NewReno no SACK {:.2?} ({:.2} MB/s, {} segments)",
            loss * 100.0,
            a.end,
            rate(&a),
            a.segments,
            b.end,
            rate(&b),
            b.segments
        );
        assert!(
            a.end < b.end,
            "loss {loss}: CUBIC+SACK {:?} not faster than NewReno without SACK {:?}",
            a.end,
            b.end
        );
    }
}

/// BBR reads random loss as noise, not congestion: over the same lossy 20 ms path (same seeds,
/// so the same link RNG streams) it finishes well before CUBIC, whose window halves at every
/// loss. Virtual time, deterministic.
#[test]
fn bbr_outruns_cubic_under_random_loss() {
    const BYTES: usize = 4_000_000;
    let bbr = TcpConfig {
        congestion: crate::tcp::config::CongestionAlgorithm::Bbr,
        // A receiver like Linux's, which keeps out-of-order data up to its window.
        rcv_buf: 4 << 20,
        max_ooo_bytes: 4 << 20,
        max_ooo_segments: 256,
        ..TcpConfig::default()
    };
    let cubic = TcpConfig {
        congestion: crate::tcp::config::CongestionAlgorithm::Cubic,
        ..bbr.clone()
    };
    for (seed, loss) in [(91, 0.01), (92, 0.01), (93, 0.02)] {
        let faults = lossy_20ms(loss);
        let a = run(seed, faults, BYTES, &bbr, false);
        let b = run(seed, faults, BYTES, &cubic, false);
        eprintln!(
            "seed {seed}, loss {:.0}%: BBR {:.2?} ({} segments), CUBIC {:.2?} ({} segments)",
            loss * 100.0,
            a.end,
            a.segments,
            b.end,
            b.segments
        );
        assert!(
            a.end * 2 < b.end,
            "loss {loss}: BBR {:?} not twice as fast as CUBIC {:?}",
            a.end,
            b.end
        );
    }
}

/// Receive-window auto-tuning on a long path (RTT 100 ms, no loss): starting from a 64 KiB
/// buffer, a fast reader lets the window grow with the sender's congestion window towards
/// `rcv_buf` (1 MiB), so the transfer finishes well before one whose buffer stays at 64 KiB
/// (at most 64 KiB per RTT). Virtual time. (In this simulation each burst arrives at one
/// instant and is acknowledged by one piggybacked ACK, as from a Linux receiver behind GRO, so
/// slow start opens cwnd by CUBIC's per-ACK limit L = 8 SMSS (RFC 9406 §4.2) per RTT.)
#[test]
fn receive_window_auto_tuning_speeds_up_a_long_path() {
    const BYTES: usize = 4_000_000;
    let long = Faults {
        delay: Duration::from_millis(50),
        ..CLEAN
    };
    let tuned = TcpConfig {
        rcv_buf: 1 << 20,
        snd_buf: 1 << 20,
        rcv_buf_initial: 64 * 1024,
        ..TcpConfig::default()
    };
    let fixed = TcpConfig {
        rcv_buf: 64 * 1024,
        ..tuned.clone()
    };
    let a = run(81, long, BYTES, &tuned, false);
    let b = run(81, long, BYTES, &fixed, false);
    eprintln!(
        "RTT 100 ms, 4 MB each way: auto-tuned (64 KiB → 1 MiB) {:.2?}, fixed 64 KiB {:.2?}",
        a.end, b.end
    );
    // Without tuning both runs would be limited to 64 KiB per RTT and take about as long.
    assert!(a.end * 4 < b.end * 3, "{:?} vs {:?}", a.end, b.end);
}
