//! Packets per second through the AF_XDP driver on a veth pair in copy mode, side by side
//! with the kernel's own `xdp-bench drop` on the same veth (the ceiling for that path).
//!
//! `cargo run -p boomerang-nic --release --example xskbench -- [--seconds 5] [--queues 1]`
//! (root). It builds its own namespaces (client → server veth, `--queues` queues) and runs:
//!
//! 1. generator: AF_XDP TX on the client veth, one thread per queue, 64-byte UDP frames to
//!    the server as fast as it goes (this is the driver's **TX** rate, per queue);
//! 2. the kernel's ceiling: `xdp-bench drop` if it runs on this kernel (xdp-tools 1.3.1 does
//!    not load on Linux 6.18: a tracepoint it needs is gone), and always the same measurement
//!    done directly: a native XDP program that drops every frame untouched
//!    (`xdp/bench_drop.bpf.c`), rate from the veth's `rx_queue_N_xdp_drops` counters;
//! 3. boomerang's XDP program + one AF_XDP socket per queue on the server veth, receiving
//!    and releasing every frame (the driver's **RX** rate, per queue).
//!
//! Generator threads are pinned from CPU 0 up (veth delivers in the sender's softirq, so the
//! kernel's receive work runs there too), receivers from the last CPU down.
//!
//! Prints one line per phase and queue, and the RX ratio to the XDP_DROP baseline.

use boomerang_wire::TxChecksum;
use std::os::fd::AsRawFd;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use boomerang_nic::netns::Pair;
use boomerang_nic::xsk::{RxFrame, XdpConfig, XdpMode, XdpSetup, XskStatistics};
use boomerang_wire::{
    EtherType, EthernetAddress, EthernetFrame, EthernetRepr, IpProtocol, Ipv4Packet, Ipv4Repr,
    UdpPacket,
};
use clap::Parser;

/// Frames received by one queue in the window, and its kernel statistics at the end.
type QueueResult = (u64, Option<XskStatistics>);

/// Warm-up before counting starts.
const WARMUP: Duration = Duration::from_secs(1);
/// Frames per TX batch of the generator.
const TX_BATCH: usize = 64;

#[derive(Parser, Debug)]
#[command(about = "AF_XDP packets per second on veth (copy mode) vs xdp-bench drop")]
struct Args {
    /// Seconds counted per phase (after a 1 s warm-up).
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Queues (one generator thread and one receiving socket per queue).
    #[arg(long, default_value_t = 1)]
    queues: u32,
    /// UDP payload bytes (18 gives a 60-byte frame, the Ethernet minimum without FCS).
    #[arg(long, default_value_t = 18)]
    payload: usize,
    /// Receivers sleep in poll(2) when their RX ring is empty instead of busy-polling.
    #[arg(long)]
    sleep_idle: bool,
    /// Skip the kernel baseline phase.
    #[arg(long)]
    no_baseline: bool,
}

/// Pins the calling thread to `cpu` (modulo the CPU count); best effort.
fn pin(cpu: usize) {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    // SAFETY: `set` is a plain bitmask owned by this frame; sched_setaffinity only reads it
    // and changes the calling thread's affinity.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu % n, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// CPU time consumed by the calling thread, in seconds.
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec owned by this frame.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// The CPU of receiving queue `q`: counted from the last CPU down, so that with fewer queues
/// than CPUs the receivers and the generators (counted from CPU 0 up) do not share.
fn receiver_cpu(q: u32) -> usize {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    n - 1 - (q as usize % n)
}

fn frame_template(src_mac: [u8; 6], dst_mac: [u8; 6], payload: usize, port: u16) -> Vec<u8> {
    let mut buf = vec![0u8; 14 + 20 + 8 + payload];
    let mut eth = EthernetFrame::new_unchecked(&mut buf[..]);
    EthernetRepr {
        src_addr: EthernetAddress(src_mac),
        dst_addr: EthernetAddress(dst_mac),
        ethertype: EtherType::Ipv4,
    }
    .emit(&mut eth);
    let mut ip = Ipv4Packet::new_unchecked(eth.payload_mut());
    Ipv4Repr {
        src_addr: Pair::CLIENT_ADDR,
        dst_addr: Pair::SERVER_ADDR,
        protocol: IpProtocol::Udp,
        payload_len: 8 + payload,
        ttl: 64,
        dscp: 0,
        ecn: 0,
        ident: 0,
        dont_frag: true,
    }
    .emit(&mut ip, TxChecksum::Compute);
    let mut udp = UdpPacket::new_unchecked(ip.payload_mut());
    udp.set_src_port(port);
    udp.set_dst_port(9);
    udp.set_len((8 + payload) as u16);
    udp.fill_checksum(Pair::CLIENT_ADDR, Pair::SERVER_ADDR);
    buf
}

fn parse_mac(s: &str) -> anyhow::Result<[u8; 6]> {
    let mut m = [0u8; 6];
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        bail!("bad MAC {s}");
    }
    for (d, p) in m.iter_mut().zip(parts) {
        *d = u8::from_str_radix(p, 16)?;
    }
    Ok(m)
}

fn mac_of(ns: &boomerang_nic::netns::Netns) -> anyhow::Result<[u8; 6]> {
    let out = ns.ip(&["-o", "link", "show", Pair::IFNAME])?;
    let mac = out
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .context("no link/ether")?;
    parse_mac(mac)
}

/// The generator: runs in the client namespace until `stop`; returns frames completed per
/// queue during the counting window (started when `counting` is set).
struct Generator {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<anyhow::Result<Vec<u64>>>,
}

fn start_generator(
    pair: &Pair,
    queues: u32,
    payload: usize,
    counting: Arc<AtomicBool>,
) -> anyhow::Result<Generator> {
    let src = mac_of(&pair.client)?;
    let dst = mac_of(&pair.server)?;
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let (ready_tx, ready_rx) = mpsc::channel();
    let handle = pair
        .client
        .spawn_thread(move || -> anyhow::Result<Vec<u64>> {
            let mut cfg = XdpConfig::new(Pair::IFNAME);
            cfg.queues = (0..queues).collect();
            cfg.frame_size = 2048;
            cfg.frame_count = 2048;
            cfg.ring_size = 1024;
            let mut setup = XdpSetup::open(&cfg)?;
            let _ = ready_tx.send(());
            let workers: Vec<_> = setup
                .take_queues()
                .into_iter()
                .map(|mut q| {
                    let stop = stop2.clone();
                    let counting = counting.clone();
                    let tmpl = frame_template(src, dst, payload, 10000 + q.queue_id() as u16);
                    std::thread::spawn(move || {
                        pin(q.queue_id() as usize);
                        let mut base = None;
                        while !stop.load(Ordering::Relaxed) {
                            for _ in 0..TX_BATCH {
                                let Some(mut tx) = q.alloc_tx() else { break };
                                let buf = q.tx_buffer(&mut tx);
                                let n = tmpl.len().min(buf.len());
                                buf[..n].copy_from_slice(&tmpl[..n]);
                                q.send(tx, n);
                            }
                            q.flush_tx();
                            q.complete();
                            if base.is_none() && counting.load(Ordering::Relaxed) {
                                base = Some(q.counters().tx_completed);
                            }
                        }
                        q.counters().tx_completed - base.unwrap_or(0)
                    })
                })
                .collect();
            let mut out = Vec::new();
            for w in workers {
                out.push(
                    w.join()
                        .map_err(|_| anyhow::anyhow!("generator panicked"))?,
                );
            }
            Ok(out)
        })?;
    ready_rx
        .recv_timeout(Duration::from_secs(30))
        .context("generator did not start")?;
    Ok(Generator { stop, handle })
}

fn finish(g: Generator) -> anyhow::Result<Vec<u64>> {
    g.stop.store(true, Ordering::Relaxed);
    g.handle
        .join()
        .map_err(|_| anyhow::anyhow!("generator thread panicked"))?
}

fn per_second(counts: &[u64], secs: f64) -> Vec<f64> {
    counts.iter().map(|&c| c as f64 / secs).collect()
}

fn fmt_rates(r: &[f64]) -> String {
    let total: f64 = r.iter().sum();
    let each = r
        .iter()
        .enumerate()
        .map(|(i, v)| format!("q{i}={:.0}", v))
        .collect::<Vec<_>>()
        .join(" ");
    format!("{each} total={total:.0} pps")
}

/// The baseline XDP program (`xdp/bench_drop.bpf.c`, compiled by build.rs).
static DROP_OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bench_drop.bpf.o"));

/// Sum of the veth's per-queue `rx_queue_N_xdp_drops` counters (`ethtool -S`).
fn xdp_drops(ns: &boomerang_nic::netns::Netns) -> anyhow::Result<u64> {
    let out = ns.run("ethtool", &["-S", Pair::IFNAME])?;
    Ok(out
        .lines()
        .filter_map(|l| l.trim().split_once(':'))
        .filter(|(k, _)| k.starts_with("rx_queue_") && k.ends_with("_xdp_drops"))
        .filter_map(|(_, v)| v.trim().parse::<u64>().ok())
        .sum())
}

/// Phase 2a: `xdp-bench drop` itself, if it runs on this kernel.
fn try_xdp_bench(pair: &Pair) {
    let out = pair
        .server
        .command("timeout")
        .args([
            "-s",
            "INT",
            "3",
            "xdp-bench",
            "drop",
            "-i",
            "1",
            Pair::IFNAME,
        ])
        .stdin(Stdio::null())
        .output();
    match out {
        Err(e) => println!("xdp-bench: could not run ({e}); install xdp-tools"),
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stdout);
            let err = String::from_utf8_lossy(&o.stderr);
            match text.lines().find(|l| l.contains("rx/s")) {
                Some(l) => println!("xdp-bench drop: {}", l.trim()),
                None => println!(
                    "xdp-bench drop: did not run here ({}): {}",
                    o.status,
                    err.lines()
                        .filter(|l| !l.trim().is_empty())
                        .map(str::trim)
                        .collect::<Vec<_>>()
                        .join(" | ")
                ),
            }
        }
    }
}

/// Phase 2b: the same measurement as `xdp-bench drop` (no-touch): a native XDP program
/// that drops everything, rate from the driver's XDP drop counters.
fn drop_phase(args: &Args) -> anyhow::Result<f64> {
    let pair = Pair::new("xbk", args.queues, false)?;
    try_xdp_bench(&pair);
    let obj = std::env::temp_dir().join(format!("bmr-bench-drop-{}.o", std::process::id()));
    std::fs::write(&obj, DROP_OBJECT)?;
    let obj_s = obj.to_string_lossy().into_owned();
    let attached = pair.server.ip(&[
        "link",
        "set",
        "dev",
        Pair::IFNAME,
        "xdpdrv",
        "obj",
        &obj_s,
        "sec",
        "xdp",
    ]);
    let _ = std::fs::remove_file(&obj);
    attached?;
    let counting = Arc::new(AtomicBool::new(false));
    let gen = start_generator(&pair, args.queues, args.payload, counting.clone())?;
    std::thread::sleep(WARMUP);
    counting.store(true, Ordering::Relaxed);
    let before = xdp_drops(&pair.server)?;
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(args.seconds));
    let after = xdp_drops(&pair.server)?;
    let secs = t0.elapsed().as_secs_f64();
    let tx = per_second(&finish(gen)?, secs);
    pair.server
        .ip(&["link", "set", "dev", Pair::IFNAME, "xdpdrv", "off"])?;
    let rate = after.saturating_sub(before) as f64 / secs;
    println!("XDP_DROP baseline (native XDP, kernel ceiling): rx {rate:.0} pps");
    println!(
        "  generator (boomerang AF_XDP TX, copy mode): tx {}",
        fmt_rates(&tx)
    );
    Ok(rate)
}

/// Phase 3: boomerang's program + AF_XDP sockets on the server veth.
fn xsk_phase(args: &Args) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let pair = Pair::new("xbx", args.queues, false)?;
    let queues = args.queues;
    let sleep_idle = args.sleep_idle;
    let stop = Arc::new(AtomicBool::new(false));
    let counting = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = mpsc::channel();
    let (stop2, counting2) = (stop.clone(), counting.clone());
    let server =
        pair.server
            .spawn_thread(move || -> anyhow::Result<(Vec<QueueResult>, String)> {
                let mut cfg = XdpConfig::new(Pair::IFNAME);
                cfg.queues = (0..queues).collect();
                cfg.frame_size = 2048;
                // Deep rings: the receivers share CPUs with other work; 8192 chunks buffer
                // ~20 ms at 400k pps. RX only: keep just a few chunks out of the fill ring.
                cfg.frame_count = 8192;
                cfg.ring_size = 4096;
                cfg.tx_reserve = Some(64);
                cfg.xdp_mode = XdpMode::Native;
                cfg.addrs = vec![Pair::SERVER_ADDR];
                let mut setup = XdpSetup::open(&cfg)?;
                let modes = format!("xdp={:?} bind={:?}", setup.xdp_mode(), setup.bind_mode());
                let _ = ready_tx.send(());
                let workers: Vec<_> = setup
                    .take_queues()
                    .into_iter()
                    .map(|mut q| {
                        let stop = stop2.clone();
                        let counting = counting2.clone();
                        std::thread::spawn(move || {
                            pin(receiver_cpu(q.queue_id()));
                            let mut batch: Vec<RxFrame> = Vec::with_capacity(64);
                            let mut base = None;
                            while !stop.load(Ordering::Relaxed) {
                                if q.recv(64, &mut batch) == 0 && sleep_idle {
                                    // Idle: sleep in poll(2) on the socket, as the server does.
                                    let mut pfd = libc::pollfd {
                                        fd: q.as_raw_fd(),
                                        events: libc::POLLIN,
                                        revents: 0,
                                    };
                                    // SAFETY: one pollfd owned by this frame, a live fd.
                                    unsafe { libc::poll(&mut pfd, 1, 10) };
                                }
                                for f in batch.drain(..) {
                                    q.release(f);
                                }
                                if base.is_none() && counting.load(Ordering::Relaxed) {
                                    base = Some((
                                        q.counters().rx_frames,
                                        thread_cpu(),
                                        Instant::now(),
                                    ));
                                }
                            }
                            let stats = q.statistics().ok();
                            let (b, cpu0, t0) = base.unwrap_or((0, thread_cpu(), Instant::now()));
                            let share =
                                (thread_cpu() - cpu0) / t0.elapsed().as_secs_f64().max(1e-9);
                            let frames = q.counters().rx_frames - b;
                            println!(
                                "  q{} receiver thread got {:.0}% of a CPU: {:.0} frames per CPU-second, {} fill-ring wakeups",
                                q.queue_id(),
                                share * 100.0,
                                frames as f64 / (thread_cpu() - cpu0).max(1e-9),
                                q.counters().rx_wakeups
                            );
                            (q.counters().rx_frames - b, stats)
                        })
                    })
                    .collect();
                let mut out = Vec::new();
                for w in workers {
                    out.push(w.join().map_err(|_| anyhow::anyhow!("receiver panicked"))?);
                }
                Ok((out, modes))
            })?;
    ready_rx
        .recv_timeout(Duration::from_secs(30))
        .context("receiver did not start")?;
    let gen_counting = Arc::new(AtomicBool::new(false));
    let gen = start_generator(&pair, args.queues, args.payload, gen_counting.clone())?;
    std::thread::sleep(WARMUP);
    counting.store(true, Ordering::Relaxed);
    gen_counting.store(true, Ordering::Relaxed);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(args.seconds));
    let secs = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let tx = per_second(&finish(gen)?, secs);
    let (rx, modes) = server
        .join()
        .map_err(|_| anyhow::anyhow!("server thread panicked"))??;
    for (i, (_, st)) in rx.iter().enumerate() {
        if let Some(st) = st {
            println!(
                "  q{i} kernel drops (whole run): rx_ring_full={} fill_ring_empty={} rx_dropped={}",
                st.rx_ring_full, st.rx_fill_ring_empty_descs, st.rx_dropped
            );
        }
    }
    let rx = per_second(&rx.iter().map(|(c, _)| *c).collect::<Vec<_>>(), secs);
    println!("boomerang AF_XDP ({modes}): rx {}", fmt_rates(&rx));
    println!(
        "  generator (boomerang AF_XDP TX, copy mode): tx {}",
        fmt_rates(&tx)
    );
    Ok((rx, tx))
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if !boomerang_nic::netns::is_root() {
        bail!("xskbench needs root (namespaces, XDP, AF_XDP)");
    }
    println!(
        "xskbench: veth pair, {} queue(s), {}-byte frames, {} s per phase",
        args.queues,
        14 + 20 + 8 + args.payload,
        args.seconds
    );
    let kernel = if args.no_baseline {
        None
    } else {
        Some(drop_phase(&args)?)
    };
    let (rx, _tx) = xsk_phase(&args)?;
    if let Some(k) = kernel {
        let ours: f64 = rx.iter().sum();
        println!(
            "ratio: boomerang AF_XDP rx / XDP_DROP baseline rx = {:.2}",
            ours / k
        );
    }
    Ok(())
}
