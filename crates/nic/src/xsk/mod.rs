//! The AF_XDP driver: UMEM, the four rings, one socket per (interface, queue), and the XDP
//! program that steers our traffic into those sockets.
//!
//! Start with [`XdpConfig`] and [`XdpSetup::open`]: it loads and attaches the program,
//! opens one [`XskQueue`] per configured queue (each `Send`, for one shard thread), and
//! keeps the program attached while it lives. The chosen bind and XDP modes are logged
//! and readable ([`XdpSetup::bind_mode`], [`XdpSetup::xdp_mode`]).
//!
//! Invariant: `unsafe` in this module is confined to mmap'd memory (UMEM, rings) and
//! system calls; every frame handed out is bounds-checked against its queue's chunks.

mod error;
mod program;
mod queue;
mod ring;
mod socket;
mod sys;
mod umem;

use std::net::Ipv4Addr;
use std::sync::Arc;

pub use error::{Result, XskError};
pub use program::{XdpCounters, XdpProgram, DEFAULT_MAX_QUEUES, MAX_ADDRS};
pub use queue::{
    QueueCounters, RxFrame, TxFrame, XskQueue, XskStatistics, DEFAULT_BATCH, XDP_PACKET_HEADROOM,
};
pub use socket::{TxBatch, BIND_BUSY_RETRIES, BIND_BUSY_WAIT, KERNEL_TX_BUDGET};
use umem::UmemArea;

use queue::{Chunks, PoolConfig};
use socket::{RingSizes, TxTuning, UmemSource, XskSocket};

/// Length of an Ethernet header (no VLAN tag), for frame-size arithmetic.
pub const ETHERNET_HEADER_LEN: usize = 14;
/// Default chunk size.
pub const DEFAULT_FRAME_SIZE: u32 = 4096;
/// Default number of chunks per queue (16 MiB of UMEM per queue at 4096 bytes).
pub const DEFAULT_FRAME_COUNT: u32 = 4096;
/// Default entries per ring.
pub const DEFAULT_RING_SIZE: u32 = 2048;
/// Largest UMEM we agree to register (pinning costs ~3 s per GiB; docs/operations.md).
pub const MAX_UMEM_BYTES: u64 = 1 << 30;

/// How sockets bind: zero-copy (the NIC DMAs into the UMEM) or copy (the kernel copies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindMode {
    /// Zero-copy if the driver supports it, else copy.
    Auto,
    /// Copy mode only.
    Copy,
    /// Zero-copy only (an error where unsupported).
    ZeroCopy,
}

impl std::str::FromStr for BindMode {
    type Err = XskError;
    fn from_str(s: &str) -> Result<BindMode> {
        match s {
            "auto" => Ok(BindMode::Auto),
            "copy" => Ok(BindMode::Copy),
            "zerocopy" | "zero-copy" => Ok(BindMode::ZeroCopy),
            _ => Err(XskError::InvalidConfig(format!(
                "bind mode `{s}`: expected auto, copy or zerocopy"
            ))),
        }
    }
}

/// Where the XDP program runs: in the driver (native) or after the SKB is built (generic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpMode {
    /// Native if the driver supports it, else generic.
    Auto,
    /// Driver (native) mode only.
    Native,
    /// Generic (SKB) mode only.
    Generic,
}

impl std::str::FromStr for XdpMode {
    type Err = XskError;
    fn from_str(s: &str) -> Result<XdpMode> {
        match s {
            "auto" => Ok(XdpMode::Auto),
            "native" | "drv" => Ok(XdpMode::Native),
            "generic" | "skb" => Ok(XdpMode::Generic),
            _ => Err(XskError::InvalidConfig(format!(
                "XDP mode `{s}`: expected auto, native or generic"
            ))),
        }
    }
}

/// Everything needed to open AF_XDP queues on one interface.
#[derive(Debug, Clone)]
pub struct XdpConfig {
    /// The interface (in the calling thread's network namespace).
    pub ifname: String,
    /// The queues to open, one socket each.
    pub queues: Vec<u32>,
    /// Bind mode (default `Auto`).
    pub bind_mode: BindMode,
    /// XDP attach mode (default `Auto`).
    pub xdp_mode: XdpMode,
    /// Chunk size: 2048 or 4096.
    pub frame_size: u32,
    /// Chunks per queue.
    pub frame_count: u32,
    /// Extra headroom before frame data (on top of the kernel's 256 bytes on RX).
    pub headroom: u32,
    /// Entries per ring (power of two).
    pub ring_size: u32,
    /// One UMEM shared by all queues (each queue still owns its chunks and fill/completion
    /// rings) instead of one UMEM per queue.
    pub shared_umem: bool,
    /// Back the UMEM with huge pages if available.
    pub huge_pages: bool,
    /// Chunks per queue kept out of the fill ring for transmission (default: a quarter).
    pub tx_reserve: Option<u32>,
    /// Our IPv4 addresses: ARP for them and IPv4 to them is redirected to the sockets.
    pub addrs: Vec<Ipv4Addr>,
    /// Redirect every frame to the sockets, not only ours (an L2 forwarder such as netsim).
    /// The host then gets nothing from this interface except frames on queues without a socket.
    pub redirect_all: bool,
    /// Frames one copy-mode `sendto` may transmit (`XDP_MAX_TX_SKB_BUDGET`, Linux 6.17+), at
    /// most the TX ring size: `None` keeps the kernel's default, [`KERNEL_TX_BUDGET`] (32; a
    /// larger batch did not pay on veth). Older kernels keep 32 whatever is asked (logged).
    pub tx_budget: Option<u32>,
    /// The socket's send buffer in bytes, which every copy-mode frame in flight is charged
    /// to: `None` asks for `tx_budget × frame_size` when the budget is raised (the kernel
    /// doubles it) and keeps `net.core.wmem_default` otherwise; `Some(0)` keeps the default.
    pub send_buffer: Option<u32>,
    /// Frames larger than a chunk (the interface's MTU, up to jumbo frames) through
    /// multi-buffer AF_XDP (`XDP_USE_SG`, Linux 6.6+) and a frags-aware XDP program: used only
    /// when the MTU does not fit in one chunk; refused by the kernel → one chunk per frame
    /// (logged). Default off: on veth it did not pay against frames of one chunk.
    pub multi_buffer: bool,
    /// TCP checksum offload through AF_XDP TX metadata (Linux 6.8+): every IPv4 TCP frame
    /// sent asks the kernel (copy mode) or the NIC (zero-copy) to complete its checksum, so
    /// the stack must store only the pseudo-header sum in it. Refused by the kernel → off
    /// (logged; see [`XdpSetup::tx_checksum_offload`]). Default off.
    pub tx_checksum_offload: bool,
}

impl XdpConfig {
    /// A configuration for queue 0 of `ifname` with the defaults.
    pub fn new(ifname: &str) -> XdpConfig {
        XdpConfig {
            ifname: ifname.to_string(),
            queues: vec![0],
            bind_mode: BindMode::Auto,
            xdp_mode: XdpMode::Auto,
            frame_size: DEFAULT_FRAME_SIZE,
            frame_count: DEFAULT_FRAME_COUNT,
            headroom: 0,
            ring_size: DEFAULT_RING_SIZE,
            shared_umem: false,
            huge_pages: false,
            tx_reserve: None,
            addrs: Vec::new(),
            redirect_all: false,
            tx_budget: None,
            send_buffer: None,
            multi_buffer: false,
            tx_checksum_offload: false,
        }
    }

    /// The transmit tuning this configuration asks for.
    fn tx_tuning(&self) -> TxTuning {
        let budget = self.tx_budget.unwrap_or(KERNEL_TX_BUDGET);
        let raised = budget > KERNEL_TX_BUDGET;
        TxTuning {
            budget,
            send_buffer: self.send_buffer.unwrap_or(if raised {
                budget.saturating_mul(self.frame_size)
            } else {
                0
            }),
        }
    }

    fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(XskError::InvalidConfig(m));
        if self.queues.is_empty() {
            return bad("no queues".into());
        }
        let mut q = self.queues.clone();
        q.sort_unstable();
        q.dedup();
        if q.len() != self.queues.len() {
            return bad(format!("duplicate queue in {:?}", self.queues));
        }
        if self.frame_size != 2048 && self.frame_size != 4096 {
            return bad(format!(
                "frame size {} (expected 2048 or 4096)",
                self.frame_size
            ));
        }
        if self.headroom + XDP_PACKET_HEADROOM + 256 > self.frame_size {
            return bad(format!(
                "headroom {} leaves no room in a {}-byte frame",
                self.headroom, self.frame_size
            ));
        }
        if !self.ring_size.is_power_of_two() || self.ring_size < 64 {
            return bad(format!(
                "ring size {} (a power of two ≥ 64)",
                self.ring_size
            ));
        }
        if self.frame_count < 64 {
            return bad(format!("frame count {} (at least 64)", self.frame_count));
        }
        let total = u64::from(self.frame_count)
            * u64::from(self.frame_size)
            * if self.shared_umem {
                self.queues.len() as u64
            } else {
                1
            };
        if total > MAX_UMEM_BYTES {
            return bad(format!(
                "UMEM of {total} bytes exceeds MAX_UMEM_BYTES ({MAX_UMEM_BYTES})"
            ));
        }
        if let Some(b) = self.tx_budget {
            if !(KERNEL_TX_BUDGET..=self.ring_size).contains(&b) {
                return bad(format!(
                    "TX budget {b} (from {KERNEL_TX_BUDGET} to the ring size, {})",
                    self.ring_size
                ));
            }
        }
        if self.tx_reserve.is_some_and(|r| r >= self.frame_count) {
            return bad("tx_reserve must be below frame_count".into());
        }
        Ok(())
    }
}

/// The opened interface: the attached XDP program and the queues not yet taken.
///
/// Keep it alive while the queues run: dropping it detaches the program (traffic then goes
/// to the kernel again). It is not `Send` (libbpf objects); the queues are.
#[derive(Debug)]
pub struct XdpSetup {
    // Drop order: queues not taken, then the program (detach), then the shared area.
    queues: Vec<XskQueue>,
    program: XdpProgram,
    bind_mode: BindMode,
    xdp_mode: XdpMode,
    ifindex: u32,
    mac: [u8; 6],
    mtu: u32,
    rx_queues: u32,
    tx_batch: TxBatch,
    tx_checksum_offload: bool,
}

impl XdpSetup {
    /// Loads and attaches the program, opens one socket per queue, and claims `cfg.addrs`.
    pub fn open(cfg: &XdpConfig) -> Result<XdpSetup> {
        cfg.validate()?;
        let ifindex = sys::ifindex(&cfg.ifname)?;
        let rx_queues = sys::rx_queue_count(&cfg.ifname, ifindex)?;
        if let Some(&bad) = cfg.queues.iter().find(|&&q| q >= rx_queues) {
            return Err(XskError::QueueOutOfRange {
                ifname: cfg.ifname.clone(),
                queue: bad,
                available: rx_queues,
            });
        }
        let mac = sys::mac(&cfg.ifname)?;
        let mtu = sys::mtu(&cfg.ifname)?;
        raise_memlock();

        let max_q = cfg.queues.iter().copied().max().unwrap_or(0) + 1;
        let one_chunk = (cfg.frame_size - XDP_PACKET_HEADROOM - cfg.headroom) as usize;
        let want_sg = cfg.multi_buffer && mtu as usize + ETHERNET_HEADER_LEN > one_chunk;
        let mut program = XdpProgram::load(ifindex, max_q.max(rx_queues), want_sg)?;

        let sizes = RingSizes {
            fill: cfg.ring_size,
            comp: cfg.ring_size,
            rx: cfg.ring_size,
            tx: cfg.ring_size,
        };
        let pool = PoolConfig {
            tx_reserve: cfg.tx_reserve.unwrap_or(cfg.frame_count / 4),
            batch: DEFAULT_BATCH,
        };
        let per_queue = u64::from(cfg.frame_count) * u64::from(cfg.frame_size);
        let shared = if cfg.shared_umem {
            let len = per_queue * cfg.queues.len() as u64;
            Some(Arc::new(UmemArea::new(len as usize, cfg.huge_pages)?))
        } else {
            None
        };

        let mut queues: Vec<XskQueue> = Vec::with_capacity(cfg.queues.len());
        let mut bind_mode = cfg.bind_mode;
        for (i, &q) in cfg.queues.iter().enumerate() {
            let (area, first) = match &shared {
                Some(a) => (a.clone(), i as u64 * per_queue),
                None => (
                    Arc::new(UmemArea::new(per_queue as usize, cfg.huge_pages)?),
                    0,
                ),
            };
            let source = match (&shared, queues.first()) {
                (Some(_), Some(q0)) => UmemSource::Shared {
                    fd: std::os::fd::AsRawFd::as_raw_fd(q0),
                    mode: q0.bind_mode(),
                    multi_buffer: q0.multi_buffer(),
                    tx_metadata_len: q0.tx_metadata_len(),
                },
                _ => UmemSource::Register {
                    area: &area,
                    frame_size: cfg.frame_size,
                    headroom: cfg.headroom,
                    tx_metadata: cfg.tx_checksum_offload,
                },
            };
            let sock = XskSocket::open(
                &cfg.ifname,
                ifindex,
                q,
                source,
                sizes,
                cfg.bind_mode,
                cfg.tx_tuning(),
                want_sg,
            )?;
            bind_mode = sock.bind_mode;
            let chunks = Chunks {
                first,
                count: cfg.frame_count,
                size: cfg.frame_size,
                headroom: cfg.headroom,
            };
            let queue = XskQueue::new(
                sock,
                area,
                chunks,
                pool,
                &cfg.ifname,
                ifindex,
                q,
                mac,
                mtu,
                cfg.xdp_mode,
            )?;
            program.set_socket(q, std::os::fd::AsRawFd::as_raw_fd(&queue))?;
            queues.push(queue);
        }
        for a in &cfg.addrs {
            program.add_address(*a)?;
        }
        program.set_redirect_all(cfg.redirect_all)?;
        let xdp_mode = program.attach(&cfg.ifname, cfg.xdp_mode)?;
        for q in &mut queues {
            q.set_xdp_mode(xdp_mode);
        }
        let huge = shared.as_ref().map(|a| a.huge_pages());
        let tx_batch = queues[0].tx_batch();
        let multi_buffer = queues[0].multi_buffer();
        let tx_checksum_offload = queues[0].tx_checksum_offload();
        if cfg.tx_checksum_offload && !tx_checksum_offload {
            tracing::warn!(
                ifname = %cfg.ifname,
                "the kernel refused AF_XDP TX metadata (Linux 6.8+): TCP checksums stay in software"
            );
        }
        let tuning = cfg.tx_tuning();
        if tuning.budget != KERNEL_TX_BUDGET && !tx_batch.budget_set {
            tracing::info!(
                ifname = %cfg.ifname,
                asked = tuning.budget,
                "the kernel has no XDP_MAX_TX_SKB_BUDGET (Linux 6.17+): copy mode sends at most 32 frames per sendto"
            );
        }
        tracing::info!(
            ifname = %cfg.ifname,
            queues = ?cfg.queues,
            ?bind_mode,
            ?xdp_mode,
            shared_umem = cfg.shared_umem,
            redirect_all = cfg.redirect_all,
            huge_pages = ?huge,
            frame_size = cfg.frame_size,
            frame_count = cfg.frame_count,
            multi_buffer,
            tx_checksum_offload,
            tx_budget = tx_batch.budget,
            send_buffer = tx_batch.send_buffer,
            "AF_XDP sockets open, XDP program attached"
        );
        if !multi_buffer && mtu as usize + ETHERNET_HEADER_LEN > one_chunk {
            tracing::warn!(
                ifname = %cfg.ifname, mtu, frame_size = cfg.frame_size,
                "the MTU does not fit in a frame: larger frames will be dropped by the kernel"
            );
        }
        Ok(XdpSetup {
            queues,
            program,
            bind_mode,
            xdp_mode,
            ifindex,
            mac,
            mtu,
            rx_queues,
            tx_batch,
            tx_checksum_offload,
        })
    }

    /// Whether the queues ask for TCP checksum offload on every IPv4 TCP frame they send
    /// (the stack must then store only the pseudo-header sum).
    pub fn tx_checksum_offload(&self) -> bool {
        self.tx_checksum_offload
    }

    /// The copy-mode transmit batch of the first queue (all queues are set up alike).
    pub fn tx_batch(&self) -> TxBatch {
        self.tx_batch
    }

    /// Takes the opened queues (in configuration order), to move each to its own thread.
    pub fn take_queues(&mut self) -> Vec<XskQueue> {
        std::mem::take(&mut self.queues)
    }

    /// The bind mode in use (copy or zero-copy).
    pub fn bind_mode(&self) -> BindMode {
        self.bind_mode
    }

    /// The XDP mode in use (native or generic).
    pub fn xdp_mode(&self) -> XdpMode {
        self.xdp_mode
    }

    /// The interface index.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The interface's Ethernet address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// The interface's MTU.
    pub fn mtu(&self) -> u32 {
        self.mtu
    }

    /// How many RX queues the interface has.
    pub fn rx_queue_count(&self) -> u32 {
        self.rx_queues
    }

    /// The XDP program (address map, counters).
    pub fn program(&self) -> &XdpProgram {
        &self.program
    }

    /// Claims another address.
    pub fn add_address(&self, addr: Ipv4Addr) -> Result<()> {
        self.program.add_address(addr)
    }

    /// The XDP program's counters (redirected, passed, dropped), summed over CPUs.
    pub fn counters(&self) -> Result<XdpCounters> {
        self.program.counters()
    }
}

/// The number of RX queues of `ifname` in the calling thread's network namespace (what
/// `XdpConfig::queues` may range over), without opening anything.
pub fn rx_queue_count(ifname: &str) -> Result<u32> {
    sys::rx_queue_count(ifname, sys::ifindex(ifname)?)
}

/// Tries to lift RLIMIT_MEMLOCK (UMEM pages are pinned); failure is fine for root, whose
/// CAP_IPC_LOCK makes the limit irrelevant (docs/operations.md).
fn raise_memlock() {
    let r = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit reads a valid rlimit struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &r) } != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "RLIMIT_MEMLOCK not raised");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_from_cli_words() {
        assert_eq!("auto".parse::<BindMode>().ok(), Some(BindMode::Auto));
        assert_eq!(
            "zerocopy".parse::<BindMode>().ok(),
            Some(BindMode::ZeroCopy)
        );
        assert_eq!("copy".parse::<BindMode>().ok(), Some(BindMode::Copy));
        assert!("fast".parse::<BindMode>().is_err());
        assert_eq!("native".parse::<XdpMode>().ok(), Some(XdpMode::Native));
        assert_eq!("skb".parse::<XdpMode>().ok(), Some(XdpMode::Generic));
        assert!("hw".parse::<XdpMode>().is_err());
    }

    #[test]
    fn validation_rejects_inconsistent_configurations() {
        let ok = XdpConfig::new("eth0");
        assert!(ok.validate().is_ok());
        let bad = |f: &dyn Fn(&mut XdpConfig)| {
            let mut c = XdpConfig::new("eth0");
            f(&mut c);
            matches!(c.validate(), Err(XskError::InvalidConfig(_)))
        };
        assert!(bad(&|c| c.queues.clear()));
        assert!(bad(&|c| c.queues = vec![1, 1]));
        assert!(bad(&|c| c.frame_size = 3000));
        assert!(bad(&|c| c.headroom = 4096));
        assert!(bad(&|c| c.ring_size = 100));
        assert!(bad(&|c| c.frame_count = 10));
        assert!(bad(&|c| c.tx_reserve = Some(c.frame_count)));
        assert!(bad(&|c| c.tx_budget = Some(16)));
        assert!(bad(&|c| c.tx_budget = Some(c.ring_size * 2)));
        let mut c = XdpConfig::new("eth0");
        c.tx_budget = Some(c.ring_size);
        assert!(c.validate().is_ok());
        assert_eq!(c.tx_tuning().send_buffer, c.ring_size * c.frame_size);
        assert_eq!(XdpConfig::new("eth0").tx_tuning().budget, KERNEL_TX_BUDGET);
        assert_eq!(XdpConfig::new("eth0").tx_tuning().send_buffer, 0);
        assert!(bad(&|c| {
            c.frame_count = 1 << 20;
            c.queues = vec![0, 1];
            c.shared_umem = true;
        }));
    }
}
