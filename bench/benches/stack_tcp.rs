//! TCP connection costs: one received in-order data segment (processing + the ACK it
//! causes), one pure ACK that acknowledges new data (with CUBIC, and with BBR, which adds
//! delivery-rate sampling and its model update to every ACK), and the memory of an idle
//! established connection (printed; recorded in docs/benchmarks.md `## stack tcp`).
#![allow(missing_docs)] // criterion_group! generates an undocumented `pub fn benches`.

use boomerang_stack::tcp::config::CongestionAlgorithm;
use boomerang_stack::tcp::{Tcb, TcpConfig};
use boomerang_stack::FourTuple;
use boomerang_wire::{SeqNumber, TcpControl, TcpRepr};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

const MSS: usize = 1448;
/// Segments per timed batch (the buffers drain between batches, untimed).
const BATCH: usize = 32;
/// Virtual time between two ACKs in the pure-ACK bench (one MSS per 10 µs ≈ 1.2 Gbit/s), so
/// that delivery-rate samples have a rate and BBR a model to pace by.
const ACK_SPACING: Duration = Duration::from_micros(10);
/// Deadlines closer than this are pacing releases (RTO and probe timers are ≥ 10 ms away).
const PACING_HORIZON: Duration = Duration::from_millis(1);

fn tuple() -> FourTuple {
    FourTuple {
        local: SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 80),
        remote: SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 2), 40000),
    }
}

fn peer(seq: SeqNumber, ack: SeqNumber) -> TcpRepr<'static> {
    TcpRepr {
        src_port: 40000,
        dst_port: 80,
        control: TcpControl::None,
        seq_number: seq,
        ack_number: Some(ack),
        window_len: 65535,
        window_scale: None,
        max_seg_size: None,
        sack_permitted: false,
        sack_ranges: [None; 4],
        timestamp: None,
        payload: &[],
    }
}

/// An established passive-open connection (Linux-like options: WS, timestamps, SACK).
fn established(now: Instant) -> (Tcb, SeqNumber, SeqNumber) {
    established_with(now, CongestionAlgorithm::default())
}

/// [`established`] with the given congestion controller.
fn established_with(now: Instant, congestion: CongestionAlgorithm) -> (Tcb, SeqNumber, SeqNumber) {
    let cfg = TcpConfig {
        congestion,
        ..TcpConfig::default()
    };
    let iss = SeqNumber(1000);
    let irs = SeqNumber(500_000);
    let syn = TcpRepr {
        control: TcpControl::Syn,
        max_seg_size: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        timestamp: Some((1, 0)),
        ..peer(irs, SeqNumber(0))
    };
    let syn = TcpRepr {
        ack_number: None,
        ..syn
    };
    let mut tcb = Tcb::listen_syn(&cfg, tuple(), &syn, iss, now);
    while tcb.poll_segment(now, 1460).is_some() {}
    let ack = TcpRepr {
        timestamp: Some((2, 0)),
        ..peer(irs + 1, iss + 1)
    };
    tcb.on_segment(&ack, now);
    (tcb, iss + 1, irs + 1)
}

fn data_segment(c: &mut Criterion) {
    let mut g = c.benchmark_group("stack_tcp");
    g.throughput(Throughput::Bytes(MSS as u64));
    let payload = vec![0x5au8; MSS];
    g.bench_function("rx_in_order_data_segment", |b| {
        b.iter_custom(|iters| {
            let now = Instant::now();
            let (mut tcb, snd, mut rcv) = established(now);
            let mut sink = vec![0u8; BATCH * MSS];
            let mut total = Duration::ZERO;
            let mut done = 0u64;
            let mut ts = 3u32;
            while done < iters {
                let n = (iters - done).min(BATCH as u64) as usize;
                let start = Instant::now();
                for _ in 0..n {
                    ts += 1;
                    let seg = TcpRepr {
                        timestamp: Some((ts, 0)),
                        payload: &payload,
                        ..peer(rcv, snd)
                    };
                    black_box(tcb.on_segment(&seg, now));
                    while let Some(s) = tcb.poll_segment(now, 1460) {
                        black_box(s);
                    }
                    rcv += MSS;
                }
                total += start.elapsed();
                while tcb.recv(&mut sink).unwrap_or(0) > 0 {}
                done += n as u64;
            }
            total
        })
    });
    g.finish();
}

/// Sends what the windows allow, stepping the virtual clock through pacing release times;
/// returns the segments sent.
fn transmit(tcb: &mut Tcb, now: &mut Instant, scratch: &mut [u8]) -> usize {
    let mut sent = 0;
    loop {
        let mut round = 0;
        while let Some(s) = tcb.poll_segment(*now, 1460) {
            tcb.write_payload(&s, scratch);
            round += 1;
        }
        sent += round;
        match tcb.next_deadline() {
            Some(d)
                if d.saturating_duration_since(*now) < PACING_HORIZON
                    && (round > 0 || d > *now) =>
            {
                *now = (*now).max(d);
                tcb.on_deadline(*now);
            }
            _ => return sent,
        }
    }
}

fn pure_ack(c: &mut Criterion) {
    pure_ack_with(c, "rx_pure_ack_of_new_data", CongestionAlgorithm::Cubic);
    pure_ack_with(c, "rx_pure_ack_of_new_data_bbr", CongestionAlgorithm::Bbr);
}

fn pure_ack_with(c: &mut Criterion, name: &str, congestion: CongestionAlgorithm) {
    let mut g = c.benchmark_group("stack_tcp");
    g.bench_function(name, |b| {
        let chunk = vec![0xa5u8; BATCH * MSS];
        b.iter_custom(|iters| {
            let mut now = Instant::now();
            let (mut tcb, mut snd, rcv) = established_with(now, congestion);
            let mut total = Duration::ZERO;
            let mut done = 0u64;
            let mut ts = 3u32;
            let mut scratch = vec![0u8; MSS];
            while done < iters {
                let n = (iters - done).min(BATCH as u64) as usize;
                // Untimed: queue and transmit a batch of segments (cwnd grows as ACKs arrive;
                // BBR's pacing releases them over virtual time).
                let _ = tcb.send(&chunk[..n * MSS]);
                let sent = transmit(&mut tcb, &mut now, &mut scratch);
                let n = n.min(sent.max(1));
                let start = Instant::now();
                for _ in 0..n {
                    snd += MSS;
                    ts += 1;
                    now += ACK_SPACING;
                    let ack = TcpRepr {
                        timestamp: Some((ts, 0)),
                        ..peer(rcv, snd)
                    };
                    black_box(tcb.on_segment(&ack, now));
                }
                total += start.elapsed();
                // Acknowledge (and first send) anything left so the next batch starts clean.
                while tcb.send_queue() > 0 {
                    transmit(&mut tcb, &mut now, &mut scratch);
                    ts += 1;
                    now += ACK_SPACING;
                    let ack = TcpRepr {
                        timestamp: Some((ts, 0)),
                        ..peer(rcv, tcb.snd_nxt())
                    };
                    tcb.on_segment(&ack, now);
                }
                snd = tcb.snd_nxt();
                while tcb.poll_segment(now, 1460).is_some() {}
                done += n as u64;
            }
            total
        })
    });
    g.finish();
}

fn idle_memory(_c: &mut Criterion) {
    let (tcb, _, _) = established(Instant::now());
    println!(
        "stack_tcp/idle_established_tcb: {} bytes (struct {} + heap {})",
        std::mem::size_of::<Tcb>() + tcb.heap_bytes(),
        std::mem::size_of::<Tcb>(),
        tcb.heap_bytes()
    );
}

criterion_group!(benches, data_segment, pure_ack, idle_memory);
criterion_main!(benches);
