//! An AF_PACKET raw socket bound to one interface, as a [`Device`]: the quick kernel-facing
//! device for tests against the Linux kernel, and the fallback when AF_XDP is unavailable.
//!
//! The socket is nonblocking, sees only frames arriving on its interface
//! (`PACKET_IGNORE_OUTGOING` hides what this host transmits, our own frames included), and
//! has large kernel buffers. Receiving uses `recvmmsg` and transmitting `sendmmsg`, so a
//! batch of frames costs one system call each way; transmitted frames wait in a bounded
//! batch ([`PacketSocketConfig::batch`]) until [`Device::flush`] or until the batch is full.
//!
//! Open it from a thread that has entered the target network namespace
//! (`Netns::spawn_thread`): the socket belongs to the namespace it was created in. The fd
//! is exposed ([`AsRawFd`]) so a `mio::Poll` can sleep on it.
//!
//! Invariants: frames handed up are at most [`Device::max_frame_len`] bytes (longer ones,
//! e.g. GSO super-frames, are counted as truncated and dropped); every `unsafe` block is a
//! system call on the owned fd with buffers that outlive the call.

use std::cell::Cell;
use std::ffi::CString;
use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Instant;

use crate::device::Device;

/// Default kernel receive and send buffer size requested per socket.
pub const DEFAULT_SOCKET_BUFFER: usize = 8 * 1024 * 1024;

/// Most frames moved per `recvmmsg`/`sendmmsg` call (and the largest allowed batch).
pub const MAX_BATCH: usize = 64;

/// Default number of frames per system call.
pub const DEFAULT_BATCH: usize = 32;

/// Receive buffers are this much longer than [`Device::max_frame_len`], so that a frame just
/// over the limit (e.g. carrying an 802.1Q tag) is seen whole and counted, not cut.
const RX_SLACK: usize = 4;

/// Length of an Ethernet header without VLAN tag.
const ETHERNET_HEADER_LEN: usize = 14;

/// `ETH_P_ALL` (linux/if_ether.h): every protocol.
const ETH_P_ALL: u16 = 0x0003;

/// Options of a [`PacketSocket`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketSocketConfig {
    /// Kernel receive buffer in bytes (`SO_RCVBUFFORCE` as root, else capped by
    /// `net.core.rmem_max`).
    pub rcvbuf: usize,
    /// Kernel send buffer in bytes.
    pub sndbuf: usize,
    /// Frames per system call, `1..=MAX_BATCH`.
    pub batch: usize,
    /// Bypass the interface's qdisc on transmit (`PACKET_QDISC_BYPASS`).
    pub qdisc_bypass: bool,
    /// Receive frames addressed to any MAC (`PACKET_MR_PROMISC` membership; the kernel
    /// undoes it when the socket closes). A forwarder needs it on a real NIC, which
    /// otherwise filters other hosts' unicast frames in hardware.
    pub promiscuous: bool,
}

impl Default for PacketSocketConfig {
    fn default() -> Self {
        PacketSocketConfig {
            rcvbuf: DEFAULT_SOCKET_BUFFER,
            sndbuf: DEFAULT_SOCKET_BUFFER,
            batch: DEFAULT_BATCH,
            qdisc_bypass: false,
            promiscuous: false,
        }
    }
}

/// Errors opening a [`PacketSocket`].
#[derive(Debug, thiserror::Error)]
pub enum PacketSocketError {
    /// No interface of that name in the calling thread's network namespace.
    #[error("no interface `{0}` in this network namespace")]
    NoSuchInterface(String),
    /// Creating a packet socket needs CAP_NET_RAW.
    #[error("opening a packet socket needs CAP_NET_RAW (run as root)")]
    PermissionDenied,
    /// A bad option value.
    #[error("invalid packet socket option: {0}")]
    InvalidConfig(String),
    /// A system call failed.
    #[error("{op} failed: {source}")]
    Io {
        /// The operation.
        op: &'static str,
        /// The OS error.
        source: io::Error,
    },
}

fn os_err(op: &'static str) -> PacketSocketError {
    let source = io::Error::last_os_error();
    if source.kind() == io::ErrorKind::PermissionDenied {
        PacketSocketError::PermissionDenied
    } else {
        PacketSocketError::Io { op, source }
    }
}

/// Counters of a [`PacketSocket`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketSocketStats {
    /// Frames received and handed up.
    pub rx_frames: u64,
    /// Frames received longer than [`Device::max_frame_len`] (dropped).
    pub rx_truncated: u64,
    /// Frames accepted by the kernel for transmission.
    pub tx_frames: u64,
    /// Frames the kernel rejected (other than "try again"), dropped.
    pub tx_errors: u64,
    /// `recvmmsg`/`sendmmsg` calls made.
    pub syscalls: u64,
}

/// An AF_PACKET raw socket bound to one interface.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
    ifname: String,
    ifindex: u32,
    mac: [u8; 6],
    mtu: usize,
    max_frame_len: usize,
    batch: usize,
    rx_bufs: Vec<Vec<u8>>,
    tx_bufs: Vec<Vec<u8>>,
    tx_lens: Vec<usize>,
    /// Frames written into `tx_bufs[..tx_queued]`, not yet accepted by the kernel.
    tx_queued: usize,
    stats: PacketSocketStats,
    /// Sum of the kernel's (reset-on-read) drop counts read so far.
    kernel_drops: Cell<u64>,
}

fn setsockopt_int(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: `value` is a live c_int and the length passed is its size; the kernel only
    // reads it during the call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const i32).cast(),
            size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// An `ifreq` naming `ifname` (callers have checked that it fits IFNAMSIZ).
fn ifreq(ifname: &CString) -> libc::ifreq {
    // SAFETY: ifreq is plain old data (a name array and a union of integers and
    // pointers); all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(ifname.as_bytes()) {
        *dst = *src as libc::c_char;
    }
    req
}

impl PacketSocket {
    /// Opens a socket on `ifname` (in the calling thread's namespace) with default options.
    pub fn open(ifname: &str) -> Result<PacketSocket, PacketSocketError> {
        Self::open_with(ifname, &PacketSocketConfig::default())
    }

    /// Opens a socket on `ifname` with `config`.
    pub fn open_with(
        ifname: &str,
        config: &PacketSocketConfig,
    ) -> Result<PacketSocket, PacketSocketError> {
        if config.batch == 0 || config.batch > MAX_BATCH {
            return Err(PacketSocketError::InvalidConfig(format!(
                "batch {} (expected 1..={MAX_BATCH})",
                config.batch
            )));
        }
        let cname = CString::new(ifname)
            .ok()
            .filter(|c| !c.as_bytes().is_empty() && c.as_bytes().len() < libc::IFNAMSIZ)
            .ok_or_else(|| PacketSocketError::NoSuchInterface(ifname.to_string()))?;
        // SAFETY: if_nametoindex reads the NUL-terminated string owned by `cname`.
        let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
        if ifindex == 0 {
            return Err(PacketSocketError::NoSuchInterface(ifname.to_string()));
        }
        // Protocol 0: nothing is queued until `bind` below names the interface and ETH_P_ALL,
        // so no frame of another interface can slip in.
        // SAFETY: plain socket creation; the returned fd is checked and then owned.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        if raw < 0 {
            return Err(os_err("socket(AF_PACKET)"));
        }
        // SAFETY: `raw` is a fresh fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };

        let io = |op| move |source| PacketSocketError::Io { op, source };
        setsockopt_int(raw, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, 1)
            .map_err(io("setsockopt(PACKET_IGNORE_OUTGOING)"))?;
        for (force, plain, size, op) in [
            (
                libc::SO_RCVBUFFORCE,
                libc::SO_RCVBUF,
                config.rcvbuf,
                "setsockopt(SO_RCVBUF)",
            ),
            (
                libc::SO_SNDBUFFORCE,
                libc::SO_SNDBUF,
                config.sndbuf,
                "setsockopt(SO_SNDBUF)",
            ),
        ] {
            let size = i32::try_from(size).unwrap_or(i32::MAX);
            if setsockopt_int(raw, libc::SOL_SOCKET, force, size).is_err() {
                // Without CAP_NET_ADMIN the kernel caps the plain option at *mem_max.
                setsockopt_int(raw, libc::SOL_SOCKET, plain, size).map_err(io(op))?;
            }
        }
        if config.qdisc_bypass {
            setsockopt_int(raw, libc::SOL_PACKET, libc::PACKET_QDISC_BYPASS, 1)
                .map_err(io("setsockopt(PACKET_QDISC_BYPASS)"))?;
        }

        // SAFETY: sockaddr_ll is plain old data; all-zero is valid.
        let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ETH_P_ALL.to_be();
        sll.sll_ifindex = i32::try_from(ifindex)
            .map_err(|_| PacketSocketError::NoSuchInterface(ifname.to_string()))?;
        // SAFETY: `sll` is a valid sockaddr_ll that lives across the call, and the length
        // passed is its size.
        let rc = unsafe {
            libc::bind(
                raw,
                (&sll as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(os_err("bind(AF_PACKET)"));
        }
        if config.promiscuous {
            // SAFETY: packet_mreq is plain old data; all-zero is valid.
            let mut mreq: libc::packet_mreq = unsafe { zeroed() };
            mreq.mr_ifindex = sll.sll_ifindex;
            mreq.mr_type = libc::PACKET_MR_PROMISC as u16;
            // SAFETY: `mreq` is a valid packet_mreq alive across the call and the length
            // passed is its size; the kernel only reads it.
            let rc = unsafe {
                libc::setsockopt(
                    raw,
                    libc::SOL_PACKET,
                    libc::PACKET_ADD_MEMBERSHIP,
                    (&mreq as *const libc::packet_mreq).cast(),
                    size_of::<libc::packet_mreq>() as libc::socklen_t,
                )
            };
            if rc != 0 {
                return Err(os_err("setsockopt(PACKET_ADD_MEMBERSHIP, PROMISC)"));
            }
        }

        let mut req = ifreq(&cname);
        // SAFETY: SIOCGIFHWADDR fills the ifreq we own; the fd is a valid socket.
        if unsafe { libc::ioctl(raw, libc::SIOCGIFHWADDR, &mut req) } != 0 {
            return Err(os_err("ioctl(SIOCGIFHWADDR)"));
        }
        // SAFETY: after SIOCGIFHWADDR succeeded the union holds `ifru_hwaddr`.
        let hw = unsafe { req.ifr_ifru.ifru_hwaddr };
        let mut mac = [0u8; 6];
        for (dst, src) in mac.iter_mut().zip(hw.sa_data.iter()) {
            *dst = *src as u8;
        }
        let mut req = ifreq(&cname);
        // SAFETY: SIOCGIFMTU fills the ifreq we own; the fd is a valid socket.
        if unsafe { libc::ioctl(raw, libc::SIOCGIFMTU, &mut req) } != 0 {
            return Err(os_err("ioctl(SIOCGIFMTU)"));
        }
        // SAFETY: after SIOCGIFMTU succeeded the union holds `ifru_mtu`.
        let mtu = usize::try_from(unsafe { req.ifr_ifru.ifru_mtu }).unwrap_or(0);

        let max_frame_len = mtu + ETHERNET_HEADER_LEN;
        tracing::debug!(ifname, ifindex, mtu, "packet socket opened");
        Ok(PacketSocket {
            fd,
            ifname: ifname.to_string(),
            ifindex,
            mac,
            mtu,
            max_frame_len,
            batch: config.batch,
            rx_bufs: vec![vec![0; max_frame_len + RX_SLACK]; config.batch],
            tx_bufs: vec![vec![0; max_frame_len]; config.batch],
            tx_lens: vec![0; config.batch],
            tx_queued: 0,
            stats: PacketSocketStats::default(),
            kernel_drops: Cell::new(0),
        })
    }

    /// The interface name.
    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    /// The interface index (in the socket's namespace).
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The interface MTU when the socket was opened.
    pub fn mtu(&self) -> usize {
        self.mtu
    }

    /// Frames written but not yet accepted by the kernel.
    pub fn tx_pending(&self) -> usize {
        self.tx_queued
    }

    /// This socket's counters.
    pub fn stats(&self) -> PacketSocketStats {
        self.stats
    }

    /// Frames the kernel dropped because this socket's receive buffer was full, since the
    /// socket was opened (the kernel's `PACKET_STATISTICS` resets on every read; the sum is
    /// kept here).
    pub fn kernel_drops(&self) -> io::Result<u64> {
        // SAFETY: tpacket_stats is two u32 counters; all-zero is valid.
        let mut st: libc::tpacket_stats = unsafe { zeroed() };
        let mut len = size_of::<libc::tpacket_stats>() as libc::socklen_t;
        // SAFETY: the kernel writes at most `len` bytes into `st`, which we own.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut st as *mut libc::tpacket_stats).cast(),
                &mut len,
            )
        };
        if rc == 0 {
            let total = self.kernel_drops.get() + u64::from(st.tp_drops);
            self.kernel_drops.set(total);
            Ok(total)
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Receives up to `max` frames (at most one batch) with one `recvmmsg`; returns how
    /// many buffers in `rx_bufs` hold frames, with their lengths in `lens` (0 = truncated).
    fn recv_batch(&mut self, max: usize, lens: &mut [usize; MAX_BATCH]) -> usize {
        let n = max.min(self.batch);
        // SAFETY: iovec and mmsghdr are plain old data (pointers and integers); all-zero
        // is valid, and every entry used below is filled in first.
        let mut iov: [libc::iovec; MAX_BATCH] = unsafe { zeroed() };
        // SAFETY: as above.
        let mut msgs: [libc::mmsghdr; MAX_BATCH] = unsafe { zeroed() };
        for ((v, m), buf) in iov.iter_mut().zip(msgs.iter_mut()).zip(&mut self.rx_bufs) {
            v.iov_base = buf.as_mut_ptr().cast();
            v.iov_len = buf.len();
            m.msg_hdr.msg_iov = v;
            m.msg_hdr.msg_iovlen = 1;
        }
        self.stats.syscalls += 1;
        // SAFETY: `msgs[..n]` point at `iov[..n]`, which point at `n` distinct buffers of
        // `rx_bufs` with their true lengths; all outlive the call and nothing else
        // references them meanwhile. `n <= batch <= MAX_BATCH`.
        let rc = unsafe {
            libc::recvmmsg(
                self.fd.as_raw_fd(),
                msgs.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        let Ok(got) = usize::try_from(rc) else {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::WouldBlock && e.kind() != io::ErrorKind::Interrupted {
                tracing::warn!(ifname = %self.ifname, error = %e, "recvmmsg failed");
            }
            return 0;
        };
        for (len, m) in lens.iter_mut().zip(&msgs).take(got) {
            *len = if m.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                0
            } else {
                m.msg_len as usize
            };
        }
        got
    }

    /// Hands queued frames to the kernel with `sendmmsg` until it accepts them all or asks
    /// us to wait; frames it rejects for good are dropped and counted.
    fn send_queued(&mut self) {
        let mut start = 0;
        while start < self.tx_queued {
            let n = self.tx_queued - start;
            // SAFETY: plain old data, all-zero is valid; used entries are filled below.
            let mut iov: [libc::iovec; MAX_BATCH] = unsafe { zeroed() };
            // SAFETY: as above.
            let mut msgs: [libc::mmsghdr; MAX_BATCH] = unsafe { zeroed() };
            for (((v, m), buf), len) in iov
                .iter_mut()
                .zip(msgs.iter_mut())
                .zip(&mut self.tx_bufs[start..self.tx_queued])
                .zip(&self.tx_lens[start..self.tx_queued])
            {
                v.iov_base = buf.as_mut_ptr().cast();
                v.iov_len = *len;
                m.msg_hdr.msg_iov = v;
                m.msg_hdr.msg_iovlen = 1;
            }
            self.stats.syscalls += 1;
            // SAFETY: `msgs[..n]` point at `iov[..n]`, which point into `tx_bufs` with
            // lengths no larger than the buffers; everything outlives the call and the
            // kernel only reads. `n <= batch <= MAX_BATCH`.
            let rc = unsafe {
                libc::sendmmsg(
                    self.fd.as_raw_fd(),
                    msgs.as_mut_ptr(),
                    n as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            match usize::try_from(rc) {
                Ok(sent) => {
                    self.stats.tx_frames += sent as u64;
                    start += sent;
                    if sent == 0 {
                        break;
                    }
                }
                Err(_) => {
                    let e = io::Error::last_os_error();
                    match e.raw_os_error() {
                        Some(libc::EAGAIN | libc::ENOBUFS | libc::EINTR) => break,
                        _ => {
                            // This frame will never go (too long, interface down…): drop it.
                            tracing::debug!(ifname = %self.ifname, error = %e, "frame dropped");
                            self.stats.tx_errors += 1;
                            start += 1;
                        }
                    }
                }
            }
        }
        if start > 0 {
            // Keep the frames the kernel did not take yet at the front, in order.
            self.tx_bufs[..self.tx_queued].rotate_left(start);
            self.tx_lens[..self.tx_queued].rotate_left(start);
            self.tx_queued -= start;
        }
    }
}

impl Device for PacketSocket {
    fn receive(&mut self, _now: Instant, budget: usize, f: &mut dyn FnMut(&[u8])) -> usize {
        let mut lens = [0usize; MAX_BATCH];
        let mut n = 0;
        while n < budget {
            let got = self.recv_batch(budget - n, &mut lens);
            for (buf, &len) in self.rx_bufs.iter().zip(&lens).take(got) {
                match buf.get(..len) {
                    Some(frame) if len > 0 && len <= self.max_frame_len => {
                        self.stats.rx_frames += 1;
                        n += 1;
                        f(frame);
                    }
                    _ => self.stats.rx_truncated += 1,
                }
            }
            if got < self.batch {
                break;
            }
        }
        n
    }

    fn transmit(&mut self, _now: Instant, f: &mut dyn FnMut(&mut [u8]) -> usize) -> bool {
        if self.tx_queued == self.batch {
            self.send_queued();
            if self.tx_queued == self.batch {
                return false;
            }
        }
        let slot = self.tx_queued;
        let Some(buf) = self.tx_bufs.get_mut(slot) else {
            return false;
        };
        let len = f(buf).min(buf.len());
        if len == 0 {
            return true;
        }
        self.tx_lens[slot] = len;
        self.tx_queued += 1;
        if self.tx_queued == self.batch {
            self.send_queued();
        }
        true
    }

    fn flush(&mut self, _now: Instant) {
        if self.tx_queued > 0 {
            self.send_queued();
        }
    }

    fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    fn mac(&self) -> [u8; 6] {
        self.mac
    }
}

impl AsRawFd for PacketSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for PacketSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_and_batches_are_rejected() {
        assert!(matches!(
            PacketSocket::open("no-such-if-x"),
            Err(PacketSocketError::NoSuchInterface(_))
        ));
        assert!(matches!(
            PacketSocket::open("a-name-much-too-long-for-linux"),
            Err(PacketSocketError::NoSuchInterface(_))
        ));
        let cfg = PacketSocketConfig {
            batch: MAX_BATCH + 1,
            ..PacketSocketConfig::default()
        };
        assert!(matches!(
            PacketSocket::open_with("lo", &cfg),
            Err(PacketSocketError::InvalidConfig(_))
        ));
    }
}
