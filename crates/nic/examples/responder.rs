//! A minimal ARP + ICMP echo responder on the AF_XDP driver: answers `arping` and `ping`
//! for `--addr` on `--iface`, rewriting each request in place in its UMEM frame and sending
//! it back from the same chunk (no copy).
//!
//! `cargo run -p boomerang-nic --example responder -- --iface IF --addr A.B.C.D/N`
//!
//! One thread per queue (`--queues N` opens queues 0..N); each sleeps in `mio::Poll` on its
//! socket when idle. SIGINT/SIGTERM stop it and print the counters. Prints
//! `responder: ready …` on stdout once the program is attached (the tests wait for it).

use std::io::Write;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use boomerang_nic::xsk::{BindMode, RxFrame, XdpConfig, XdpMode, XdpSetup, XskQueue};
use boomerang_wire::{
    ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetAddress, EthernetFrame, Icmpv4Message,
    Icmpv4Packet, IpProtocol, Ipv4Cidr, Ipv4Packet, Ipv4Repr,
};
use clap::Parser;

/// Frames taken off the RX ring per loop iteration.
const RX_BATCH: usize = 64;
/// How long an idle queue thread sleeps in `poll` before checking the stop flag.
const IDLE_POLL: Duration = Duration::from_millis(100);

#[derive(Parser, Debug)]
#[command(about = "ARP + ICMP echo responder on AF_XDP")]
struct Args {
    /// Interface to serve.
    #[arg(long)]
    iface: String,
    /// Our address and prefix, e.g. 198.18.0.2/24.
    #[arg(long)]
    addr: Ipv4Cidr,
    /// Number of queues to serve (queues 0..N, one thread each).
    #[arg(long, default_value_t = 1)]
    queues: u32,
    /// XDP attach mode: auto, native, generic.
    #[arg(long, default_value = "auto")]
    xdp_mode: String,
    /// Socket bind mode: auto, copy, zerocopy.
    #[arg(long, default_value = "auto")]
    bind_mode: String,
    /// UMEM chunk size (2048 or 4096).
    #[arg(long, default_value_t = 4096)]
    frame_size: u32,
    /// Chunks per queue.
    #[arg(long, default_value_t = 1024)]
    frame_count: u32,
    /// Share one UMEM between all queues.
    #[arg(long)]
    shared_umem: bool,
    /// Stop after this many seconds (0: run until SIGINT/SIGTERM).
    #[arg(long, default_value_t = 0)]
    duration: u64,
}

#[derive(Default)]
struct Counts {
    arp_replies: AtomicU64,
    echo_replies: AtomicU64,
    ignored: AtomicU64,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut cfg = XdpConfig::new(&args.iface);
    cfg.queues = (0..args.queues.max(1)).collect();
    cfg.xdp_mode = args.xdp_mode.parse::<XdpMode>()?;
    cfg.bind_mode = args.bind_mode.parse::<BindMode>()?;
    cfg.frame_size = args.frame_size;
    cfg.frame_count = args.frame_count;
    cfg.ring_size = args.frame_count.next_power_of_two().min(4096) / 2;
    cfg.shared_umem = args.shared_umem;
    cfg.addrs = vec![args.addr.address];

    let mut setup = XdpSetup::open(&cfg).with_context(|| format!("opening {}", args.iface))?;
    let mac = EthernetAddress(setup.mac());
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let counts = Arc::new(Counts::default());
    let mut threads = Vec::new();
    for q in setup.take_queues() {
        let stop = stop.clone();
        let counts = counts.clone();
        let addr = args.addr.address;
        threads.push(
            std::thread::Builder::new()
                .name(format!("xsk-q{}", q.queue_id()))
                .spawn(move || serve(q, mac, addr, &stop, &counts))?,
        );
    }
    println!(
        "responder: ready iface={} mac={} addr={} xdp={:?} bind={:?} queues={}",
        args.iface,
        mac,
        args.addr.address,
        setup.xdp_mode(),
        setup.bind_mode(),
        cfg.queues.len()
    );
    std::io::stdout().flush()?;

    let start = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if args.duration > 0 && start.elapsed() >= Duration::from_secs(args.duration) {
            stop.store(true, Ordering::Relaxed);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for t in threads {
        if let Ok(Err(e)) = t.join() {
            eprintln!("responder: queue thread failed: {e:#}");
        }
    }
    let c = setup.counters()?;
    println!(
        "responder: done arp_replies={} echo_replies={} ignored={} xdp_redirected={} xdp_passed={} xdp_dropped={}",
        counts.arp_replies.load(Ordering::Relaxed),
        counts.echo_replies.load(Ordering::Relaxed),
        counts.ignored.load(Ordering::Relaxed),
        c.redirected,
        c.passed,
        c.dropped
    );
    Ok(())
}

/// Serves one queue until `stop` is set.
fn serve(
    mut q: XskQueue,
    mac: EthernetAddress,
    addr: Ipv4Addr,
    stop: &AtomicBool,
    counts: &Counts,
) -> anyhow::Result<()> {
    let mut poll = mio::Poll::new()?;
    let mut events = mio::Events::with_capacity(4);
    poll.registry()
        .register(&mut q, mio::Token(0), mio::Interest::READABLE)?;
    let mut batch: Vec<RxFrame> = Vec::with_capacity(RX_BATCH);
    while !stop.load(Ordering::Relaxed) {
        if q.recv(RX_BATCH, &mut batch) == 0 {
            q.complete();
            // Idle: sleep until the kernel puts frames on the RX ring.
            poll.poll(&mut events, Some(IDLE_POLL))?;
            continue;
        }
        for mut frame in batch.drain(..) {
            match answer_in_place(q.frame_mut(&mut frame), mac, addr) {
                Some((len, kind)) => match q.reply_in_place(frame) {
                    Ok(tx) => {
                        if q.send(tx, len) {
                            match kind {
                                Kind::Arp => counts.arp_replies.fetch_add(1, Ordering::Relaxed),
                                Kind::Echo => counts.echo_replies.fetch_add(1, Ordering::Relaxed),
                            };
                        }
                    }
                    Err(frame) => q.release(frame),
                },
                None => {
                    counts.ignored.fetch_add(1, Ordering::Relaxed);
                    q.release(frame);
                }
            }
        }
        q.flush_tx();
        q.complete();
    }
    Ok(())
}

enum Kind {
    Arp,
    Echo,
}

/// Turns an ARP request for `addr` into its reply (RFC 826) or an ICMP echo request to
/// `addr` into its echo reply (RFC 792), in place. Returns the reply's length.
fn answer_in_place(buf: &mut [u8], mac: EthernetAddress, addr: Ipv4Addr) -> Option<(usize, Kind)> {
    let frame = EthernetFrame::new_checked(&buf[..]).ok()?;
    let dst = frame.dst_addr();
    if dst != mac && !dst.is_broadcast() {
        return None;
    }
    let peer_mac = frame.src_addr();
    match frame.ethertype() {
        EtherType::Arp => {
            let req = ArpRepr::parse(&ArpPacket::new_checked(frame.payload()).ok()?).ok()?;
            if req.operation != ArpOperation::Request || req.target_protocol_addr != addr {
                return None;
            }
            let reply = ArpRepr {
                operation: ArpOperation::Reply,
                source_hardware_addr: mac,
                source_protocol_addr: addr,
                target_hardware_addr: req.source_hardware_addr,
                target_protocol_addr: req.source_protocol_addr,
            };
            let mut eth = EthernetFrame::new_unchecked(&mut buf[..]);
            eth.set_dst_addr(req.source_hardware_addr);
            eth.set_src_addr(mac);
            reply.emit(&mut ArpPacket::new_unchecked(eth.payload_mut()));
            // The request's length, padding included (at least the Ethernet minimum).
            Some((buf.len(), Kind::Arp))
        }
        EtherType::Ipv4 => {
            let ip = Ipv4Packet::new_checked(frame.payload()).ok()?;
            let repr = Ipv4Repr::parse(&ip).ok()?; // checksum verified, fragments refused
            if repr.dst_addr != addr || repr.protocol != IpProtocol::Icmp {
                return None;
            }
            let icmp = Icmpv4Packet::new_checked(ip.payload()).ok()?;
            if icmp.msg_type() != Icmpv4Message::EchoRequest
                || icmp.msg_code() != 0
                || !icmp.verify_checksum()
            {
                return None;
            }
            let total = usize::from(ip.total_len());
            let mut eth = EthernetFrame::new_unchecked(&mut buf[..]);
            eth.set_dst_addr(peer_mac);
            eth.set_src_addr(mac);
            let mut ip = Ipv4Packet::new_unchecked(eth.payload_mut());
            ip.set_src_addr(addr);
            ip.set_dst_addr(repr.src_addr);
            ip.set_ttl(64);
            ip.fill_checksum();
            let mut icmp = Icmpv4Packet::new_unchecked(ip.payload_mut());
            icmp.set_msg_type(Icmpv4Message::EchoReply);
            icmp.fill_checksum();
            Some((boomerang_wire::ethernet::HEADER_LEN + total, Kind::Echo))
        }
        EtherType::Unknown(_) => None,
    }
}
