//! `serve --iface`: the HTTP server on the userspace stack over AF_XDP.
//!
//! The main thread checks the environment, attaches the XDP program and opens one AF_XDP
//! queue per shard (falling back to an AF_PACKET socket when AF_XDP is unavailable and the
//! modes were left on `auto`), builds the stack's shared state and the HTTP service, then
//! starts one pinned shard thread per queue ([`super::shard_loop`]). It keeps the XDP
//! setup (not `Send`) and publishes the XDP program's counters while the shards run; on
//! SIGINT/SIGTERM the shards finish their connections and the setup is dropped, which
//! detaches the program (a bpf_link, so a crash detaches it too).

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use boomerang_http::{BlockingPool, HttpService, Router};
use boomerang_nic::packet_socket::PacketSocket;
use boomerang_nic::pcap::PcapWriter;
use boomerang_nic::xsk::{self, XdpConfig, XdpSetup, XskError};
use boomerang_stack::{Shared, StackConfig};
use boomerang_wire::EthernetAddress;

use super::shard_loop::{self, ShardParams};
use crate::cli::{BindMode, XdpMode};
use crate::config::XdpSettings;
use crate::metrics::{DeviceStats, MetricsState};

/// How often the main thread refreshes the XDP program's counters.
pub const XDP_COUNTER_INTERVAL: Duration = Duration::from_millis(100);

/// The opened devices: AF_XDP queues (with the setup that keeps the program attached) or
/// one AF_PACKET socket.
enum Devices {
    Xdp {
        setup: XdpSetup,
        queues: Vec<xsk::XskQueue>,
    },
    Packet(PacketSocket),
}

fn open_devices(s: &XdpSettings) -> anyhow::Result<Devices> {
    let mut cfg = XdpConfig::new(&s.iface);
    cfg.queues = (0..s.queues as u32).collect();
    cfg.bind_mode = match s.bind_mode {
        BindMode::Auto => xsk::BindMode::Auto,
        BindMode::Copy => xsk::BindMode::Copy,
        BindMode::Zerocopy => xsk::BindMode::ZeroCopy,
    };
    cfg.xdp_mode = match s.xdp_mode {
        XdpMode::Auto => xsk::XdpMode::Auto,
        XdpMode::Native => xsk::XdpMode::Native,
        XdpMode::Generic => xsk::XdpMode::Generic,
    };
    cfg.addrs = vec![s.addr.address];
    cfg.tx_budget = s.tx_budget;
    cfg.multi_buffer = s.multi_buffer;
    cfg.tx_checksum_offload = s.checksum_offload;
    match XdpSetup::open(&cfg) {
        Ok(mut setup) => {
            if s.bind_mode == BindMode::Auto && setup.bind_mode() != xsk::BindMode::ZeroCopy {
                tracing::info!(iface = %s.iface, "zero-copy AF_XDP is not supported by this driver; using copy mode");
            }
            let queues = setup.take_queues();
            Ok(Devices::Xdp { setup, queues })
        }
        Err(e) => {
            let auto = s.bind_mode == BindMode::Auto && s.xdp_mode == XdpMode::Auto;
            let fatal = matches!(
                e,
                XskError::NoSuchInterface(_)
                    | XskError::QueueOutOfRange { .. }
                    | XskError::PermissionDenied { .. }
                    | XskError::InvalidConfig(_)
                    | XskError::XdpBusy(_)
            );
            if !auto || fatal || s.queues > 1 {
                return Err(anyhow::Error::new(e).context(format!(
                    "cannot open AF_XDP on {}{}",
                    s.iface,
                    if s.queues > 1 && !fatal {
                        " (the AF_PACKET fallback serves one queue only: use --queues 1)"
                    } else {
                        ""
                    }
                )));
            }
            tracing::warn!(
                iface = %s.iface,
                error = %e,
                "AF_XDP is unavailable; falling back to an AF_PACKET socket (slower, one queue)"
            );
            let p = PacketSocket::open(&s.iface)
                .with_context(|| format!("cannot open an AF_PACKET socket on {}", s.iface))?;
            Ok(Devices::Packet(p))
        }
    }
}

/// Serves `router` until `stop` is set and every shard has finished.
pub fn run(s: &XdpSettings, mut router: Router, stop: &Arc<AtomicBool>) -> anyhow::Result<()> {
    crate::preflight::check_xdp(s)?;
    let devices = open_devices(s)?;
    let (kind, bind, mode, mac, mtu) = match &devices {
        Devices::Xdp { setup, .. } => (
            "af_xdp",
            format!("{:?}", setup.bind_mode()).to_lowercase(),
            format!("{:?}", setup.xdp_mode()).to_lowercase(),
            setup.mac(),
            setup.mtu() as usize,
        ),
        Devices::Packet(p) => (
            "af_packet",
            "-".into(),
            "-".into(),
            boomerang_nic::Device::mac(p),
            p.mtu(),
        ),
    };
    let max_frame = match &devices {
        Devices::Xdp { queues, .. } => queues
            .iter()
            .map(boomerang_nic::Device::max_frame_len)
            .min()
            .unwrap_or(0),
        Devices::Packet(p) => boomerang_nic::Device::max_frame_len(p),
    };
    let ip_mtu = mtu.min(max_frame.saturating_sub(xsk::ETHERNET_HEADER_LEN));
    let mut stack = StackConfig::new(EthernetAddress(mac), s.addr);
    stack.gateway = s.gateway;
    stack.mtu = ip_mtu;
    stack.isn_secret = crate::os::isn_secret()?;
    if let Devices::Xdp { setup, .. } = &devices {
        if setup.tx_checksum_offload() {
            stack.checksum.tcp_tx = boomerang_stack::Checksum::Offload;
        }
    }
    stack.tcp = s.tcp.clone();
    stack.limits = s.limits.clone();
    // The MSS we announce follows the MTU (jumbo frames: 8,960 at MTU 9000).
    stack.tcp.mss = u16::try_from(ip_mtu.saturating_sub(40)).unwrap_or(u16::MAX);
    tracing::info!(
        congestion = %stack.tcp.congestion,
        snd_buf = stack.tcp.snd_buf,
        rcv_buf = stack.tcp.rcv_buf,
        initial_cwnd = stack.tcp.initial_cwnd_segments,
        mss = stack.tcp.mss,
        "TCP tuning"
    );
    let mut metrics = MetricsState::new(s.queues, kind, &bind, &mode);
    metrics.congestion = stack.tcp.congestion.name();
    if let Devices::Xdp { setup, .. } = &devices {
        metrics.tx_budget = Some(setup.tx_batch());
    }
    let metrics = Arc::new(metrics);
    let shared = Shared::new(stack);
    let source = metrics.clone();
    router.set_metrics_source(Arc::new(move |out: &mut String| source.render(out)));
    let config = s.http.clone();
    let service = HttpService::new(config, router)
        .context("cannot set up the HTTP service (are --root and the TLS files readable?)")?;
    crate::signals::reload_tls_on_sighup(&service)?;
    let pool = BlockingPool::new(
        service.config().blocking_threads,
        service.config().blocking_queue,
    )
    .context("cannot start the blocking pool")?;

    let cpus = crate::os::allowed_cpus();
    tracing::info!(
        iface = %s.iface, addr = %s.addr, gateway = ?s.gateway, port = s.port,
        queues = s.queues, device = kind, bind_mode = %bind, xdp_mode = %mode,
        mtu = ip_mtu, cpus = ?cpus, pcap = ?s.pcap,
        header_timeout = ?s.http.header_read_timeout,
        keepalive_timeout = ?s.http.keep_alive_timeout,
        "serving HTTP on the userspace stack"
    );
    let listening: Vec<AtomicBool> = (0..s.queues).map(|_| AtomicBool::new(false)).collect();

    let (setup, queues, packet) = match devices {
        Devices::Xdp { setup, queues } => (Some(setup), queues, None),
        Devices::Packet(p) => (None, Vec::new(), Some(p)),
    };
    let result = std::thread::scope(|scope| -> anyhow::Result<()> {
        let mut handles = Vec::new();
        let params = |i: usize| ShardParams {
            index: i,
            cpu: (!cpus.is_empty()).then(|| cpus[i % cpus.len()]),
            port: s.port,
            shared: shared.clone(),
            service: &service,
            pool: &pool,
            stop,
            metrics: &metrics,
            listening: &listening[i],
        };
        for (i, q) in queues.into_iter().enumerate() {
            let fd = q.as_raw_fd();
            let p = params(i);
            let pcap = pcap_path(s, i);
            handles.push(spawn_shard(scope, i, q, fd, p, pcap)?);
        }
        if let Some(dev) = packet {
            let fd = dev.as_raw_fd();
            handles.push(spawn_shard(scope, 0, dev, fd, params(0), pcap_path(s, 0))?);
        }
        let mut announced = false;
        let mut next_counters = Instant::now();
        let mut limit_watch = crate::metrics::LimitWatch::default();
        loop {
            if handles.iter().all(|h| h.is_finished()) {
                break;
            }
            // A shard that ends on its own failed: stop the others instead of serving on
            // with missing queues.
            if !stop.load(Ordering::Relaxed) && handles.iter().any(|h| h.is_finished()) {
                tracing::error!("a shard thread ended; stopping the server");
                stop.store(true, Ordering::Relaxed);
            }
            if !announced && listening.iter().all(|l| l.load(Ordering::Acquire)) {
                announced = true;
                tracing::info!("ready: http://{}:{}/", s.addr.address, s.port);
            }
            if let Some(setup) = &setup {
                if Instant::now() >= next_counters {
                    next_counters = Instant::now() + XDP_COUNTER_INTERVAL;
                    if let Ok(c) = setup.counters() {
                        metrics.publish_xdp(c);
                    }
                }
            }
            limit_watch.check(&metrics, Instant::now());
            metrics.publish_blocking_queue(pool.queued());
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut first_err = None;
        for h in handles {
            match h.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    stop.store(true, Ordering::Relaxed);
                    first_err.get_or_insert(e);
                }
                Err(_) => {
                    first_err.get_or_insert(anyhow::anyhow!("a shard thread panicked"));
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    });
    // Dropping the setup detaches the XDP program: the kernel gets the interface back.
    drop(setup);
    let totals = metrics.shard_snapshots();
    tracing::info!(
        rx_frames = totals.iter().map(|t| t.stats.rx_frames).sum::<u64>(),
        tx_frames = totals.iter().map(|t| t.stats.tx_frames).sum::<u64>(),
        connections = totals
            .iter()
            .map(|t| t.stats.tcp_passive_opens)
            .sum::<u64>(),
        "stopped; XDP program detached"
    );
    result
}

fn pcap_path(s: &XdpSettings, i: usize) -> Option<std::path::PathBuf> {
    let p = s.pcap.as_ref()?;
    if s.queues == 1 {
        return Some(p.clone());
    }
    let stem = p
        .file_stem()
        .map(|x| x.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = p
        .extension()
        .map(|x| format!(".{}", x.to_string_lossy()))
        .unwrap_or_default();
    Some(p.with_file_name(format!("{stem}-q{i}{ext}")))
}

fn spawn_shard<'scope, 'env, D>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    i: usize,
    dev: D,
    fd: std::os::fd::RawFd,
    params: ShardParams<'env>,
    pcap: Option<std::path::PathBuf>,
) -> anyhow::Result<std::thread::ScopedJoinHandle<'scope, anyhow::Result<()>>>
where
    D: DeviceStats + Send + 'static,
{
    let h = std::thread::Builder::new()
        .name(format!("shard-{i}"))
        .spawn_scoped(scope, move || -> anyhow::Result<()> {
            let r = match pcap {
                Some(path) => {
                    let w = PcapWriter::create(dev, &path)
                        .with_context(|| format!("cannot create the capture file {}", path.display()))?;
                    tracing::info!(shard = i, file = %path.display(), "capturing every frame received and sent");
                    shard_loop::run(w, fd, params)
                }
                None => shard_loop::run(dev, fd, params),
            };
            if let Err(e) = &r {
                tracing::error!(shard = i, error = %format!("{e:#}"), "shard failed; stopping the server");
            }
            r
        })
        .context("cannot start a shard thread")?;
    Ok(h)
}
