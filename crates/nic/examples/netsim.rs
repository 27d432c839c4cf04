//! netsim: an impairment forwarder (an L2 forwarder like DPDK's l2fwd) between two
//! interfaces, for testing against the Linux kernel where `netem` is missing.
//!
//! Every frame received on `--a` is transmitted on `--b` and vice versa, through a
//! [`FaultInjector`] per egress interface: delay, jitter, loss, duplication, reordering,
//! corruption and a rate limit, each settable for both directions at once (`--loss 1%`) or
//! per direction (`--a2b-loss 1%`, `--b2a-delay 5ms`). All queues are bounded; a frame that
//! finds its egress queue full is dropped and counted. Random decisions come from `--seed`.
//!
//! Run it in a namespace between two veth pairs (client – netsim – server), with
//! `net.ipv4.ip_forward=0`, no addresses on its interfaces and IPv6 disabled there, so the
//! namespace's kernel never forwards or answers anything itself.
//!
//! I/O: `--io xdp` (the AF_XDP driver, one socket per RX queue of each interface, its XDP
//! program in redirect-everything mode; transmits on queue 0), `--io packet` (AF_PACKET raw
//! sockets, promiscuous), or `--io auto` (the default: AF_XDP if it opens, else AF_PACKET).
//! Both forward every frame, from one thread.
//!
//! `--pcap PREFIX` records each interface (frames received from it, and frames sent to it
//! after the impairments) to `PREFIX-a.pcap` / `PREFIX-b.pcap`: what was lost, duplicated or
//! corrupted can be read off the two files.
//!
//! On real NICs also turn off receive offloads that merge frames (`ethtool -K IF gro off lro
//! off`): a merged super-frame is larger than the other side's MTU and cannot be forwarded.
//!
//! Prints `netsim: ready …` once forwarding, and per-direction counters when stopped
//! (SIGINT/SIGTERM or `--duration`).

use std::io::Write;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use boomerang_nic::fault::{FaultConfig, FaultInjector, FaultStats};
use boomerang_nic::packet_socket::{PacketSocket, PacketSocketConfig};
use boomerang_nic::pcap::PcapWriter;
use boomerang_nic::xsk::{XdpConfig, XdpSetup, XskError, XskQueue};
use boomerang_nic::Device;
use clap::Parser;

/// Frames moved per direction per loop turn.
const BURST: usize = 64;
/// Longest sleep between checks of the stop flag.
const IDLE_WAIT: Duration = Duration::from_millis(50);
/// UMEM chunks per AF_XDP queue (8 MiB at 4096 bytes).
const XDP_FRAME_COUNT: u32 = 2048;
/// Entries per AF_XDP ring.
const XDP_RING_SIZE: u32 = 1024;
/// Most AF_XDP queues served per interface.
const XDP_MAX_QUEUES: u32 = 16;
/// Sleep while a due frame waits for room in a full egress device.
const BACKOFF_WAIT: Duration = Duration::from_micros(50);

#[derive(Parser, Debug)]
#[command(about = "Impairment forwarder between two interfaces (L2, both directions)")]
struct Args {
    /// First interface.
    #[arg(long)]
    a: String,
    /// Second interface.
    #[arg(long)]
    b: String,
    /// I/O path: `xdp` (AF_XDP), `packet` (AF_PACKET), or `auto` (AF_XDP if it opens, else
    /// AF_PACKET).
    #[arg(long, default_value = "auto", value_parser = ["auto", "xdp", "packet"])]
    io: String,
    /// Seed of the random decisions.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Capture each interface's traffic (received, and transmitted after the impairments) to
    /// `PREFIX-a.pcap` and `PREFIX-b.pcap`.
    #[arg(long, value_name = "PREFIX")]
    pcap: Option<String>,
    /// Run with real-time priority (SCHED_FIFO 1) so delays stay precise on a busy machine;
    /// netsim sleeps whenever it has nothing to forward.
    #[arg(long)]
    realtime: bool,
    /// Stop after this many seconds (0: run until SIGINT/SIGTERM).
    #[arg(long, default_value_t = 0)]
    duration: u64,
    /// Frames each egress queue holds at most.
    #[arg(long, default_value_t = boomerang_nic::fault::DEFAULT_QUEUE_FRAMES)]
    queue: usize,
    /// Bytes allowed to wait behind a rate-limited line (the rest is tail-dropped).
    #[arg(long, default_value_t = boomerang_nic::fault::DEFAULT_RATE_QUEUE_BYTES)]
    rate_queue: usize,
    /// Extra delay of a reordered frame (e.g. `1ms`).
    #[arg(long, value_parser = parse_duration, default_value = "1ms")]
    reorder_delay: Duration,

    /// One-way delay, both directions (e.g. `10ms`).
    #[arg(long, value_parser = parse_duration)]
    delay: Option<Duration>,
    /// Delay varies within `delay ± jitter`, both directions.
    #[arg(long, value_parser = parse_duration)]
    jitter: Option<Duration>,
    /// Loss probability, both directions (`1%` or `0.01`).
    #[arg(long, value_parser = parse_probability)]
    loss: Option<f64>,
    /// Duplication probability, both directions.
    #[arg(long, value_parser = parse_probability)]
    dup: Option<f64>,
    /// Reordering probability, both directions.
    #[arg(long, value_parser = parse_probability)]
    reorder: Option<f64>,
    /// Corruption (one flipped bit) probability, both directions.
    #[arg(long, value_parser = parse_probability)]
    corrupt: Option<f64>,
    /// Rate limit, both directions (`1gbit`, `100mbit`, `500kbit`, bits per second).
    #[arg(long, value_parser = parse_rate)]
    rate: Option<u64>,

    /// A→B delay (overrides `--delay`).
    #[arg(long, value_parser = parse_duration)]
    a2b_delay: Option<Duration>,
    /// A→B jitter.
    #[arg(long, value_parser = parse_duration)]
    a2b_jitter: Option<Duration>,
    /// A→B loss.
    #[arg(long, value_parser = parse_probability)]
    a2b_loss: Option<f64>,
    /// A→B duplication.
    #[arg(long, value_parser = parse_probability)]
    a2b_dup: Option<f64>,
    /// A→B reordering.
    #[arg(long, value_parser = parse_probability)]
    a2b_reorder: Option<f64>,
    /// A→B corruption.
    #[arg(long, value_parser = parse_probability)]
    a2b_corrupt: Option<f64>,
    /// A→B rate limit.
    #[arg(long, value_parser = parse_rate)]
    a2b_rate: Option<u64>,

    /// B→A delay (overrides `--delay`).
    #[arg(long, value_parser = parse_duration)]
    b2a_delay: Option<Duration>,
    /// B→A jitter.
    #[arg(long, value_parser = parse_duration)]
    b2a_jitter: Option<Duration>,
    /// B→A loss.
    #[arg(long, value_parser = parse_probability)]
    b2a_loss: Option<f64>,
    /// B→A duplication.
    #[arg(long, value_parser = parse_probability)]
    b2a_dup: Option<f64>,
    /// B→A reordering.
    #[arg(long, value_parser = parse_probability)]
    b2a_reorder: Option<f64>,
    /// B→A corruption.
    #[arg(long, value_parser = parse_probability)]
    b2a_corrupt: Option<f64>,
    /// B→A rate limit.
    #[arg(long, value_parser = parse_rate)]
    b2a_rate: Option<u64>,
}

/// One direction's command-line knobs (per-direction value, else the common one).
struct Knobs {
    delay: Option<Duration>,
    jitter: Option<Duration>,
    loss: Option<f64>,
    dup: Option<f64>,
    reorder: Option<f64>,
    corrupt: Option<f64>,
    rate: Option<u64>,
}

impl Args {
    fn direction(&self, d: Knobs) -> FaultConfig {
        FaultConfig {
            drop: d.loss.or(self.loss).unwrap_or(0.0),
            duplicate: d.dup.or(self.dup).unwrap_or(0.0),
            reorder: d.reorder.or(self.reorder).unwrap_or(0.0),
            reorder_delay: self.reorder_delay,
            corrupt: d.corrupt.or(self.corrupt).unwrap_or(0.0),
            delay: d.delay.or(self.delay).unwrap_or(Duration::ZERO),
            jitter: d.jitter.or(self.jitter).unwrap_or(Duration::ZERO),
            rate_bps: d.rate.or(self.rate),
            rate_queue_bytes: self.rate_queue,
            max_size: None,
            queue_frames: self.queue,
        }
    }

    fn a2b(&self) -> FaultConfig {
        self.direction(Knobs {
            delay: self.a2b_delay,
            jitter: self.a2b_jitter,
            loss: self.a2b_loss,
            dup: self.a2b_dup,
            reorder: self.a2b_reorder,
            corrupt: self.a2b_corrupt,
            rate: self.a2b_rate,
        })
    }

    fn b2a(&self) -> FaultConfig {
        self.direction(Knobs {
            delay: self.b2a_delay,
            jitter: self.b2a_jitter,
            loss: self.b2a_loss,
            dup: self.b2a_dup,
            reorder: self.b2a_reorder,
            corrupt: self.b2a_corrupt,
            rate: self.b2a_rate,
        })
    }
}

/// Splits `text` into its number and unit suffix (`"10ms"` → `(10.0, "ms")`).
fn split_unit(text: &str) -> Result<(f64, String), String> {
    let t = text.trim();
    let at = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(at);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{text}`: expected a number"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("`{text}`: must be a non-negative number"));
    }
    Ok((value, unit.trim().to_ascii_lowercase()))
}

/// `10ms`, `1.5ms`, `250us`, `1s`, `500ns`, `0`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let (v, unit) = split_unit(text)?;
    let secs = match unit.as_str() {
        "s" => v,
        "ms" => v / 1e3,
        "us" | "µs" => v / 1e6,
        "ns" => v / 1e9,
        "" if v == 0.0 => 0.0,
        _ => return Err(format!("`{text}`: unit must be s, ms, us or ns")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("`{text}`: {e}"))
}

/// `1%` (percent) or `0.01` (a fraction), within 0..=1.
fn parse_probability(text: &str) -> Result<f64, String> {
    let (v, unit) = split_unit(text)?;
    let p = match unit.as_str() {
        "%" => v / 100.0,
        "" => v,
        _ => return Err(format!("`{text}`: expected e.g. 1% or 0.01")),
    };
    if p > 1.0 {
        return Err(format!("`{text}`: a probability is at most 100%"));
    }
    Ok(p)
}

/// `1gbit`, `100mbit`, `500kbit`, `64000bit` or a bare number of bits per second.
fn parse_rate(text: &str) -> Result<u64, String> {
    let (v, unit) = split_unit(text)?;
    let scale = match unit.as_str() {
        "" | "bit" => 1.0,
        "kbit" => 1e3,
        "mbit" => 1e6,
        "gbit" => 1e9,
        _ => return Err(format!("`{text}`: unit must be bit, kbit, mbit or gbit")),
    };
    let bps = (v * scale).round();
    if !(1.0..=1e15).contains(&bps) {
        return Err(format!("`{text}`: rate out of range"));
    }
    Ok(bps as u64)
}

/// Forwarding counters beyond what the fault injectors count.
#[derive(Default, Debug)]
struct ForwardStats {
    /// Frames dropped because the egress device (or its impairment queue) was full.
    egress_full: u64,
    /// Frames longer than the egress device carries.
    oversize: u64,
}

/// Moves up to [`BURST`] frames from `from` to `to`; returns how many were received.
fn forward(
    from: &mut impl Device,
    to: &mut impl Device,
    now: Instant,
    stats: &mut ForwardStats,
) -> usize {
    from.receive(now, BURST, &mut |frame: &[u8]| {
        let mut oversize = false;
        let sent = to.transmit(
            now,
            &mut |buf: &mut [u8]| match buf.get_mut(..frame.len()) {
                Some(dst) => {
                    dst.copy_from_slice(frame);
                    frame.len()
                }
                None => {
                    oversize = true;
                    0
                }
            },
        );
        if oversize {
            stats.oversize += 1;
        } else if !sent {
            stats.egress_full += 1;
        }
    })
}

/// Sleeps until one of `pfds` is readable or `timeout` passes (nanosecond resolution).
fn wait_readable(pfds: &mut [libc::pollfd], timeout: Duration) {
    let ts = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(timeout.subsec_nanos()),
    };
    // SAFETY: `pfds` is a slice of initialised pollfd entries and `ts` a valid timespec,
    // both alive across the call; a null signal mask keeps the current one. The result only
    // tells us to look again, so it is not inspected (EINTR is fine).
    let _ = unsafe {
        libc::ppoll(
            pfds.as_mut_ptr(),
            pfds.len() as libc::nfds_t,
            &ts,
            std::ptr::null(),
        )
    };
}

/// The descriptors a device's readiness shows on.
trait Fds {
    fn fds(&self) -> Vec<RawFd>;
}

impl Fds for PacketSocket {
    fn fds(&self) -> Vec<RawFd> {
        vec![self.as_raw_fd()]
    }
}

/// Every AF_XDP queue of one interface as one device: receives from each queue in turn
/// (RSS spreads flows over them), transmits on the first.
struct XskQueues {
    queues: Vec<XskQueue>,
    /// The queue the next receive starts with (fairness between queues).
    next: usize,
    /// Frames received per queue, printed when forwarding ends.
    rx_per_queue: Vec<u64>,
    /// `a` or `b`, for that report.
    side: &'static str,
}

impl Drop for XskQueues {
    fn drop(&mut self) {
        println!(
            "netsim: xdp {} rx_per_queue={:?}",
            self.side, self.rx_per_queue
        );
    }
}

impl Fds for XskQueues {
    fn fds(&self) -> Vec<RawFd> {
        self.queues.iter().map(AsRawFd::as_raw_fd).collect()
    }
}

impl Device for XskQueues {
    fn receive(&mut self, now: Instant, budget: usize, f: &mut dyn FnMut(&[u8])) -> usize {
        let count = self.queues.len();
        let mut n = 0;
        for i in 0..count {
            if n >= budget {
                break;
            }
            let at = (self.next + i) % count;
            if let Some(q) = self.queues.get_mut(at) {
                let got = q.receive(now, budget - n, f);
                if let Some(c) = self.rx_per_queue.get_mut(at) {
                    *c += got as u64;
                }
                n += got;
            }
        }
        self.next = (self.next + 1) % count.max(1);
        n
    }

    fn transmit(&mut self, now: Instant, f: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        self.queues.first_mut().is_some_and(|q| q.transmit(now, f))
    }

    fn flush(&mut self, now: Instant) {
        for q in &mut self.queues {
            q.flush(now);
        }
    }

    fn max_frame_len(&self) -> usize {
        self.queues
            .iter()
            .map(Device::max_frame_len)
            .min()
            .unwrap_or(0)
    }

    fn mac(&self) -> [u8; 6] {
        self.queues.first().map(Device::mac).unwrap_or_default()
    }
}

/// Moves this process to SCHED_FIFO priority 1 (a warning, not an error, if refused).
fn set_realtime() {
    let param = libc::sched_param { sched_priority: 1 };
    // SAFETY: `param` is a valid sched_param alive across the call; pid 0 is this process.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
    if rc != 0 {
        tracing::warn!(error = %std::io::Error::last_os_error(), "cannot use real-time priority");
    }
}

/// Opens every RX queue of each interface with AF_XDP, every frame redirected to them.
fn open_xdp(args: &Args) -> anyhow::Result<(XdpSetup, XskQueues, XdpSetup, XskQueues)> {
    let open = |ifname: &str, side: &'static str| -> anyhow::Result<(XdpSetup, XskQueues)> {
        let mut cfg = XdpConfig::new(ifname);
        cfg.redirect_all = true;
        cfg.frame_count = XDP_FRAME_COUNT;
        cfg.ring_size = XDP_RING_SIZE;
        let context = || format!("opening AF_XDP on {ifname}");
        // Ask for the most queues we serve; the driver checks the range before it binds
        // anything and says how many the interface has.
        cfg.queues = (0..XDP_MAX_QUEUES).collect();
        let mut setup = match XdpSetup::open(&cfg) {
            Err(XskError::QueueOutOfRange { available, .. }) => {
                cfg.queues = (0..available.clamp(1, XDP_MAX_QUEUES)).collect();
                XdpSetup::open(&cfg).with_context(context)?
            }
            other => other.with_context(context)?,
        };
        let queues = setup.take_queues();
        if queues.is_empty() {
            bail!("the driver opened no queue on {ifname}");
        }
        tracing::info!(ifname, queues = queues.len(), xdp = ?setup.xdp_mode(), bind = ?setup.bind_mode(), "AF_XDP open");
        if setup.rx_queue_count() > XDP_MAX_QUEUES {
            tracing::warn!(
                ifname,
                "only the first {XDP_MAX_QUEUES} queues are forwarded"
            );
        }
        let rx_per_queue = vec![0; queues.len()];
        Ok((
            setup,
            XskQueues {
                queues,
                next: 0,
                rx_per_queue,
                side,
            },
        ))
    };
    let (setup_a, qa) = open(&args.a, "a")?;
    let (setup_b, qb) = open(&args.b, "b")?;
    Ok((setup_a, qa, setup_b, qb))
}

/// Forwards between `a` and `b` (captured if `--pcap`) until `stop` is set; returns (A→B, B→A, forwarding) counters.
fn run<A, B>(
    a: A,
    b: B,
    io: &str,
    args: &Args,
    stop: &AtomicBool,
) -> anyhow::Result<(FaultStats, FaultStats, ForwardStats)>
where
    A: Device + Fds,
    B: Device + Fds,
{
    let fds: Vec<RawFd> = a.fds().into_iter().chain(b.fds()).collect();
    match &args.pcap {
        Some(prefix) => {
            let a = capture(a, prefix, "a")?;
            let b = capture(b, prefix, "b")?;
            forward_loop(a, b, fds, io, args, stop)
        }
        None => forward_loop(a, b, fds, io, args, stop),
    }
}

/// Wraps `dev` in a pcap writer recording to `PREFIX-SIDE.pcap`.
fn capture<D: Device>(dev: D, prefix: &str, side: &str) -> anyhow::Result<PcapWriter<D>> {
    let path = format!("{prefix}-{side}.pcap");
    PcapWriter::create(dev, &path).with_context(|| format!("creating {path}"))
}

/// The forwarding loop proper; `fds` are the interfaces' descriptors to sleep on.
fn forward_loop<A: Device, B: Device>(
    a: A,
    b: B,
    fds: Vec<RawFd>,
    io: &str,
    args: &Args,
    stop: &AtomicBool,
) -> anyhow::Result<(FaultStats, FaultStats, ForwardStats)> {
    let mut pfds: Vec<libc::pollfd> = fds
        .into_iter()
        .map(|fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // Impairments sit on each egress: frames to B carry the A→B settings.
    let none = FaultConfig::default();
    let mut a = FaultInjector::new(a, none.clone(), args.b2a(), args.seed)?;
    let mut b = FaultInjector::new(b, none, args.a2b(), args.seed.wrapping_add(1))?;
    let mut stats = ForwardStats::default();
    let start = Instant::now();
    let limit = (args.duration > 0).then(|| Duration::from_secs(args.duration));
    println!("netsim: ready io={io} a={} b={}", args.a, args.b);
    std::io::stdout().flush()?;
    while !stop.load(Ordering::Relaxed) && limit.is_none_or(|l| start.elapsed() < l) {
        let now = Instant::now();
        let moved =
            forward(&mut a, &mut b, now, &mut stats) + forward(&mut b, &mut a, now, &mut stats);
        a.flush(now);
        b.flush(now);
        if moved > 0 {
            continue;
        }
        let next = [a.poll_at(), b.poll_at()].into_iter().flatten().min();
        let wait = match next {
            Some(t) if t <= now => BACKOFF_WAIT,
            Some(t) => (t - now).min(IDLE_WAIT),
            None => IDLE_WAIT,
        };
        wait_readable(&mut pfds, wait);
    }
    Ok((b.tx_stats(), a.tx_stats(), stats))
}

fn print_direction(name: &str, s: &FaultStats) {
    println!(
        "netsim: {name} frames={} delivered={} dropped={} duplicated={} reordered={} corrupted={} rate_dropped={} queue_full={}",
        s.frames, s.delivered, s.dropped, s.duplicated, s.reordered, s.corrupted, s.rate_dropped, s.queue_full
    );
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    args.a2b().validate().context("A→B settings")?;
    args.b2a().validate().context("B→A settings")?;
    if args.realtime {
        set_realtime();
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let open_packet = || -> anyhow::Result<(PacketSocket, PacketSocket)> {
        // Promiscuous: a real NIC would otherwise filter frames for the far side's MAC.
        let cfg = PacketSocketConfig {
            promiscuous: true,
            ..PacketSocketConfig::default()
        };
        let a = PacketSocket::open_with(&args.a, &cfg)
            .with_context(|| format!("opening {}", args.a))?;
        let b = PacketSocket::open_with(&args.b, &cfg)
            .with_context(|| format!("opening {}", args.b))?;
        Ok((a, b))
    };
    let (a2b, b2a, fwd) = match args.io.as_str() {
        "packet" => {
            let (a, b) = open_packet()?;
            run(a, b, "packet", &args, &stop)?
        }
        "xdp" | "auto" => match open_xdp(&args) {
            // The setups keep the XDP programs attached until forwarding ends.
            Ok((_setup_a, qa, _setup_b, qb)) => {
                let io = format!("xdp queues={}/{}", qa.queues.len(), qb.queues.len());
                run(qa, qb, &io, &args, &stop)?
            }
            Err(e) if args.io == "auto" => {
                tracing::warn!(error = %format!("{e:#}"), "AF_XDP unavailable, forwarding with AF_PACKET");
                let (a, b) = open_packet()?;
                run(a, b, "packet", &args, &stop)?
            }
            Err(e) => return Err(e),
        },
        other => bail!("--io {other}: expected auto, xdp or packet"),
    };
    print_direction("a2b", &a2b);
    print_direction("b2a", &b2a);
    println!(
        "netsim: forward egress_full={} oversize={}",
        fwd.egress_full, fwd.oversize
    );
    Ok(())
}
