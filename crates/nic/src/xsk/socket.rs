//! One AF_XDP socket: created, given its UMEM (registered or shared), its four rings mapped,
//! and bound to one (interface, queue).
//!
//! Drop order (fields drop in declaration order): the ring mappings go first, then the
//! socket is closed; the UMEM area outlives both (the queue holds it after the socket).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::error::{Result, XskError};
use super::ring::Ring;
use super::sys;
use super::umem::UmemArea;
use super::BindMode;

/// How many times a bind that got EBUSY is retried (the queue is still being released).
pub const BIND_BUSY_RETRIES: u32 = 50;
/// Pause between those retries (so at most ~0.5 s in all).
pub const BIND_BUSY_WAIT: std::time::Duration = std::time::Duration::from_millis(10);

/// Ring sizes of one socket (each a power of two).
#[derive(Debug, Clone, Copy)]
pub struct RingSizes {
    /// Fill ring entries.
    pub fill: u32,
    /// Completion ring entries.
    pub comp: u32,
    /// RX ring entries.
    pub rx: u32,
    /// TX ring entries.
    pub tx: u32,
}

/// The kernel's copy-mode transmit budget per `sendto` when nobody raises it.
pub const KERNEL_TX_BUDGET: u32 = 32;

/// Copy-mode transmit tuning asked for when a socket opens.
#[derive(Debug, Clone, Copy)]
pub struct TxTuning {
    /// Frames per `sendto` (`XDP_MAX_TX_SKB_BUDGET`); [`KERNEL_TX_BUDGET`] leaves it alone.
    pub budget: u32,
    /// Send buffer in bytes (`SO_SNDBUFFORCE`, else `SO_SNDBUF`; the kernel doubles it);
    /// 0 leaves the default (`net.core.wmem_default`).
    pub send_buffer: u32,
}

/// The copy-mode transmit batch a socket got: what the kernel accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxBatch {
    /// Frames one `sendto` transmits at most (32 where the kernel has no
    /// `XDP_MAX_TX_SKB_BUDGET`).
    pub budget: u32,
    /// Whether the kernel accepted `XDP_MAX_TX_SKB_BUDGET` (`false`: not asked, or a
    /// kernel before 6.17).
    pub budget_set: bool,
    /// The socket's send buffer in bytes as the kernel reports it (`SO_SNDBUF`): every
    /// frame in flight is charged to it as one skb.
    pub send_buffer: u32,
}

/// An AF_XDP socket with its rings.
#[derive(Debug)]
pub struct XskSocket {
    pub fill: Ring<u64>,
    pub comp: Ring<u64>,
    pub rx: Ring<libc::xdp_desc>,
    pub tx: Ring<libc::xdp_desc>,
    fd: OwnedFd,
    /// The bind mode the kernel accepted.
    pub bind_mode: BindMode,
    /// The copy-mode transmit batch the kernel accepted.
    pub tx_batch: TxBatch,
    /// Whether the socket is bound with `XDP_USE_SG` (frames may span several chunks).
    pub multi_buffer: bool,
    /// Bytes of TX metadata (`struct xsk_tx_metadata`) before every transmitted frame; 0
    /// when the UMEM has none.
    pub tx_metadata_len: u32,
}

/// Size of `struct xsk_tx_metadata` (Linux 6.8+).
pub const TX_METADATA_LEN: u32 = std::mem::size_of::<libc::xsk_tx_metadata>() as u32;

/// How this socket gets its UMEM.
pub enum UmemSource<'a> {
    /// Register the area (the first socket of a UMEM).
    Register {
        /// The area.
        area: &'a UmemArea,
        /// Chunk size.
        frame_size: u32,
        /// Headroom the kernel leaves before received data (in addition to its own).
        headroom: u32,
        /// Ask for TX metadata (checksum offload requests) before every transmitted frame.
        tx_metadata: bool,
    },
    /// Share the UMEM registered by the socket `fd` (same bind mode, own fill/completion).
    Shared {
        /// The first socket's fd.
        fd: RawFd,
        /// The bind mode of that socket.
        mode: BindMode,
        /// Whether that socket is bound with `XDP_USE_SG` (sharing sockets inherit it).
        multi_buffer: bool,
        /// That UMEM's TX metadata length.
        tx_metadata_len: u32,
    },
}

/// Applies `tuning` to socket `fd` (whose TX ring is sized): a budget the kernel does not
/// know (ENOPROTOOPT before Linux 6.17; EINVAL) or refuses (EACCES: out of range) leaves
/// the default, and so does a send buffer that cannot be set. Never fails.
fn tune_tx(fd: RawFd, tuning: TxTuning) -> TxBatch {
    let mut batch = TxBatch {
        budget: KERNEL_TX_BUDGET,
        budget_set: false,
        send_buffer: 0,
    };
    if tuning.budget != KERNEL_TX_BUDGET {
        match sys::setsockopt_raw(
            fd,
            libc::SOL_XDP,
            sys::XDP_MAX_TX_SKB_BUDGET,
            &tuning.budget,
        ) {
            Ok(()) => {
                batch.budget = tuning.budget;
                batch.budget_set = true;
            }
            Err(e) => {
                tracing::debug!(budget = tuning.budget, error = %e, "XDP_MAX_TX_SKB_BUDGET not accepted")
            }
        }
    }
    if tuning.send_buffer > 0 {
        let v = libc::c_int::try_from(tuning.send_buffer).unwrap_or(libc::c_int::MAX);
        let forced = sys::setsockopt_raw(fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, &v);
        if let Err(e) = forced {
            tracing::debug!(error = %e, "SO_SNDBUFFORCE refused (not CAP_NET_ADMIN?); trying SO_SNDBUF");
            if let Err(e) = sys::setsockopt_raw(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, &v) {
                tracing::debug!(error = %e, "SO_SNDBUF refused; keeping the default");
            }
        }
    }
    batch.send_buffer = sys::send_buffer(fd).unwrap_or(0);
    batch
}

impl XskSocket {
    /// Creates the socket, sets up its UMEM and rings, and binds it to `queue` of `ifindex`.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        ifname: &str,
        ifindex: u32,
        queue: u32,
        umem: UmemSource<'_>,
        sizes: RingSizes,
        bind_mode: BindMode,
        tuning: TxTuning,
        multi_buffer: bool,
    ) -> Result<XskSocket> {
        // SAFETY: plain socket(2) call; the result is checked.
        let raw = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(XskError::last("creating the AF_XDP socket"));
        }
        // SAFETY: `raw` was just returned by socket(2) and has no other owner.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let f = fd.as_raw_fd();

        let mut tx_metadata_len = 0;
        if let UmemSource::Register {
            area,
            frame_size,
            headroom,
            tx_metadata,
        } = umem
        {
            let mut reg = libc::xdp_umem_reg {
                addr: area.as_ptr() as u64,
                len: area.len() as u64,
                chunk_size: frame_size,
                headroom,
                flags: 0,
                tx_metadata_len: 0,
            };
            if tx_metadata {
                // Linux 6.11+ wants the flag; 6.8–6.10 refuse it (EINVAL) but honour the
                // length alone; older kernels have neither (frames go without metadata).
                for flags in [libc::XDP_UMEM_TX_METADATA_LEN, 0] {
                    reg.flags = flags;
                    reg.tx_metadata_len = TX_METADATA_LEN;
                    match sys::setsockopt_raw(f, libc::SOL_XDP, libc::XDP_UMEM_REG, &reg) {
                        Ok(()) => {
                            tx_metadata_len = TX_METADATA_LEN;
                            break;
                        }
                        Err(e) => {
                            tracing::debug!(flags, error = %e, "UMEM with TX metadata refused")
                        }
                    }
                }
            }
            if tx_metadata_len == 0 {
                reg.flags = 0;
                reg.tx_metadata_len = 0;
                sys::setsockopt(f, libc::XDP_UMEM_REG, &reg, "registering the UMEM")?;
            }
        }
        if let UmemSource::Shared {
            tx_metadata_len: l, ..
        } = umem
        {
            tx_metadata_len = l;
        }
        sys::setsockopt(
            f,
            libc::XDP_UMEM_FILL_RING,
            &sizes.fill,
            "sizing the fill ring",
        )?;
        sys::setsockopt(
            f,
            libc::XDP_UMEM_COMPLETION_RING,
            &sizes.comp,
            "sizing the completion ring",
        )?;
        sys::setsockopt(f, libc::XDP_RX_RING, &sizes.rx, "sizing the RX ring")?;
        sys::setsockopt(f, libc::XDP_TX_RING, &sizes.tx, "sizing the TX ring")?;
        let tx_batch = tune_tx(f, tuning);

        let (off, len) = sys::getsockopt::<libc::xdp_mmap_offsets>(
            f,
            libc::XDP_MMAP_OFFSETS,
            "reading the ring offsets",
        )?;
        if len != std::mem::size_of::<libc::xdp_mmap_offsets>() {
            return Err(XskError::InvalidConfig(
                "kernel too old: no ring flags (need_wakeup needs Linux 5.4+)".into(),
            ));
        }
        let fill = Ring::map(
            f,
            libc::XDP_UMEM_PGOFF_FILL_RING,
            &off.fr,
            sizes.fill,
            true,
            "mapping the fill ring",
        )?;
        let comp = Ring::map(
            f,
            libc::XDP_UMEM_PGOFF_COMPLETION_RING,
            &off.cr,
            sizes.comp,
            false,
            "mapping the completion ring",
        )?;
        let rx = Ring::map(
            f,
            libc::XDP_PGOFF_RX_RING as u64,
            &off.rx,
            sizes.rx,
            false,
            "mapping the RX ring",
        )?;
        let tx = Ring::map(
            f,
            libc::XDP_PGOFF_TX_RING as u64,
            &off.tx,
            sizes.tx,
            true,
            "mapping the TX ring",
        )?;

        let mut sock = XskSocket {
            fill,
            comp,
            rx,
            tx,
            fd,
            bind_mode: BindMode::Copy,
            tx_batch,
            multi_buffer: false,
            tx_metadata_len,
        };
        (sock.bind_mode, sock.multi_buffer) = match umem {
            UmemSource::Shared {
                fd: shared,
                mode,
                multi_buffer,
                ..
            } => {
                // Later sockets of a shared UMEM bind with XDP_SHARED_UMEM only (adding
                // XDP_COPY, XDP_USE_NEED_WAKEUP or XDP_USE_SG gives EINVAL; docs/operations.md).
                sock.bind(ifindex, queue, libc::XDP_SHARED_UMEM, shared as u32)
                    .map_err(|e| XskError::os("binding the AF_XDP socket (shared UMEM)", e))?;
                (mode, multi_buffer)
            }
            UmemSource::Register { .. } if multi_buffer => {
                match sock.bind_auto(ifname, ifindex, queue, bind_mode, libc::XDP_USE_SG) {
                    Ok(m) => (m, true),
                    Err(XskError::ZeroCopyUnsupported(_)) if bind_mode == BindMode::ZeroCopy => {
                        tracing::warn!(
                            ifname,
                            queue,
                            "zero-copy multi-buffer AF_XDP refused; frames stay within one chunk"
                        );
                        (sock.bind_auto(ifname, ifindex, queue, bind_mode, 0)?, false)
                    }
                    Err(XskError::Os { error, .. })
                        if matches!(
                            error.raw_os_error(),
                            Some(libc::EINVAL) | Some(libc::EOPNOTSUPP)
                        ) =>
                    {
                        tracing::warn!(
                            ifname, queue, %error,
                            "multi-buffer AF_XDP (XDP_USE_SG, Linux 6.6+) refused; frames stay within one chunk"
                        );
                        (sock.bind_auto(ifname, ifindex, queue, bind_mode, 0)?, false)
                    }
                    Err(e) => return Err(e),
                }
            }
            UmemSource::Register { .. } => {
                (sock.bind_auto(ifname, ifindex, queue, bind_mode, 0)?, false)
            }
        };
        Ok(sock)
    }

    fn bind_auto(
        &self,
        ifname: &str,
        ifindex: u32,
        queue: u32,
        mode: BindMode,
        extra: u16,
    ) -> Result<BindMode> {
        let wake = libc::XDP_USE_NEED_WAKEUP | extra;
        if matches!(mode, BindMode::Auto | BindMode::ZeroCopy) {
            match self.bind(ifindex, queue, wake | libc::XDP_ZEROCOPY, 0) {
                Ok(()) => return Ok(BindMode::ZeroCopy),
                Err(e) if mode == BindMode::ZeroCopy => {
                    return Err(match e.raw_os_error() {
                        Some(libc::EOPNOTSUPP) | Some(libc::EPROTONOSUPPORT) => {
                            XskError::ZeroCopyUnsupported(ifname.to_string())
                        }
                        _ => XskError::os("binding the AF_XDP socket (zero-copy)", e),
                    })
                }
                Err(e) => {
                    if matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES)) {
                        return Err(XskError::os("binding the AF_XDP socket", e));
                    }
                    tracing::info!(
                        ifname, queue, error = %e,
                        "zero-copy AF_XDP not available; falling back to copy mode"
                    );
                }
            }
        }
        self.bind(ifindex, queue, wake | libc::XDP_COPY, 0)
            .map_err(|e| XskError::os("binding the AF_XDP socket (copy mode)", e))?;
        Ok(BindMode::Copy)
    }

    /// Binds, retrying while the kernel still holds the queue for a socket closed just before
    /// (it releases the queue's buffer pool asynchronously, so an immediate re-open gets EBUSY).
    fn bind(&self, ifindex: u32, queue: u32, flags: u16, shared_fd: u32) -> std::io::Result<()> {
        let mut tries = 0;
        loop {
            match self.bind_once(ifindex, queue, flags, shared_fd) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries < BIND_BUSY_RETRIES => {
                    tries += 1;
                    std::thread::sleep(BIND_BUSY_WAIT);
                }
                other => return other,
            }
        }
    }

    fn bind_once(
        &self,
        ifindex: u32,
        queue: u32,
        flags: u16,
        shared_fd: u32,
    ) -> std::io::Result<()> {
        let addr = libc::sockaddr_xdp {
            sxdp_family: libc::AF_XDP as u16,
            sxdp_flags: flags,
            sxdp_ifindex: ifindex,
            sxdp_queue_id: queue,
            sxdp_shared_umem_fd: shared_fd,
        };
        // SAFETY: `addr` is a valid sockaddr_xdp of the size passed, alive for the call.
        let rc = unsafe {
            libc::bind(
                self.fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_xdp).cast(),
                std::mem::size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// The socket's file descriptor.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Asks the kernel to transmit what is in the TX ring (`sendto`, non-blocking).
    /// Transient answers (the kernel is busy or out of buffers) are not errors.
    pub fn kick_tx(&self) -> std::io::Result<()> {
        // SAFETY: sendto with no buffer and no address on a live socket.
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                std::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null(),
                0,
            )
        };
        if rc >= 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ENOBUFS) | Some(libc::EAGAIN) | Some(libc::EBUSY) | Some(libc::ENETDOWN) => {
                Ok(())
            }
            _ => Err(e),
        }
    }

    /// Asks the kernel to process the fill ring (`recvfrom`, non-blocking).
    pub fn kick_rx(&self) {
        // SAFETY: recvfrom with no buffer and no address on a live socket.
        unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                std::ptr::null_mut(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
        }
    }
}
