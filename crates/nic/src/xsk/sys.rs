//! Thin, checked wrappers over the system calls the driver needs: interface lookups
//! (index, MAC, MTU, RX queue count) and socket options.
//!
//! Interface lookups go through ioctls on a socket created by the calling thread, so they
//! see the thread's network namespace (sysfs shows the namespace it was mounted in instead).

use std::ffi::CString;
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::error::{Result, XskError};

/// `ETHTOOL_GCHANNELS` from `<linux/ethtool.h>`.
const ETHTOOL_GCHANNELS: u32 = 0x3c;

/// `struct ethtool_channels` from `<linux/ethtool.h>`.
#[repr(C)]
#[derive(Default)]
struct EthtoolChannels {
    cmd: u32,
    max_rx: u32,
    max_tx: u32,
    max_other: u32,
    max_combined: u32,
    rx_count: u32,
    tx_count: u32,
    other_count: u32,
    combined_count: u32,
}

/// An `ifreq` with room for any of the unions we use (`sockaddr`, `int`, pointer).
#[repr(C)]
struct IfReq {
    name: [libc::c_char; libc::IFNAMSIZ],
    data: [u8; 24],
}

impl IfReq {
    fn new(ifname: &str) -> Result<IfReq> {
        let bytes = ifname.as_bytes();
        if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
            return Err(XskError::NoSuchInterface(ifname.to_string()));
        }
        let mut name = [0 as libc::c_char; libc::IFNAMSIZ];
        for (d, s) in name.iter_mut().zip(bytes) {
            *d = *s as libc::c_char;
        }
        Ok(IfReq {
            name,
            data: [0; 24],
        })
    }
}

fn dgram_socket() -> Result<OwnedFd> {
    // SAFETY: plain socket(2) call with constant arguments; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(XskError::last("creating an ioctl socket"));
    }
    // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn ioctl(fd: RawFd, req: libc::c_ulong, ifr: &mut IfReq) -> io::Result<()> {
    // SAFETY: `ifr` is a valid, writable `ifreq`-compatible buffer that outlives the call;
    // the requests used here read the name and write at most 24 bytes of the union.
    let rc = unsafe { libc::ioctl(fd, req as _, ifr as *mut IfReq) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The interface's index in the calling thread's namespace.
pub fn ifindex(ifname: &str) -> Result<u32> {
    let c = CString::new(ifname).map_err(|_| XskError::NoSuchInterface(ifname.to_string()))?;
    // SAFETY: `c` is a valid NUL-terminated string alive for the call.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        return Err(XskError::NoSuchInterface(ifname.to_string()));
    }
    Ok(idx)
}

/// The interface's Ethernet address.
pub fn mac(ifname: &str) -> Result<[u8; 6]> {
    let sock = dgram_socket()?;
    let mut ifr = IfReq::new(ifname)?;
    ioctl(sock.as_raw_fd(), libc::SIOCGIFHWADDR, &mut ifr).map_err(|e| {
        if e.raw_os_error() == Some(libc::ENODEV) {
            XskError::NoSuchInterface(ifname.to_string())
        } else {
            XskError::os("reading the interface's MAC address", e)
        }
    })?;
    // struct sockaddr { sa_family_t (2 bytes); char sa_data[14] }: the MAC is sa_data[0..6].
    let mut out = [0u8; 6];
    out.copy_from_slice(&ifr.data[2..8]);
    Ok(out)
}

/// The interface's MTU.
pub fn mtu(ifname: &str) -> Result<u32> {
    let sock = dgram_socket()?;
    let mut ifr = IfReq::new(ifname)?;
    ioctl(sock.as_raw_fd(), libc::SIOCGIFMTU, &mut ifr)
        .map_err(|e| XskError::os("reading the interface's MTU", e))?;
    let mut b = [0u8; 4];
    b.copy_from_slice(&ifr.data[0..4]);
    Ok(i32::from_ne_bytes(b).max(0) as u32)
}

/// The number of RX queues of the interface (`ethtool -l`: combined + rx channels).
///
/// Falls back to `/sys/class/net/IF/queues/rx-*` when the driver has no channel ioctl, but
/// only if sysfs shows the same interface (same index) as the calling thread's namespace.
pub fn rx_queue_count(ifname: &str, ifindex: u32) -> Result<u32> {
    let sock = dgram_socket()?;
    let mut ch = EthtoolChannels {
        cmd: ETHTOOL_GCHANNELS,
        ..Default::default()
    };
    let mut ifr = IfReq::new(ifname)?;
    let ptr = (&mut ch as *mut EthtoolChannels) as usize;
    ifr.data[..mem::size_of::<usize>()].copy_from_slice(&ptr.to_ne_bytes());
    match ioctl(sock.as_raw_fd(), libc::SIOCETHTOOL, &mut ifr) {
        Ok(()) => {
            let n = ch.combined_count.saturating_add(ch.rx_count);
            if n > 0 {
                return Ok(n);
            }
        }
        Err(e) => tracing::debug!(ifname, error = %e, "ETHTOOL_GCHANNELS failed; trying sysfs"),
    }
    let base = format!("/sys/class/net/{ifname}");
    let same = std::fs::read_to_string(format!("{base}/ifindex"))
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        == Some(ifindex);
    if same {
        if let Ok(dir) = std::fs::read_dir(format!("{base}/queues")) {
            let n = dir
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
                .count();
            if n > 0 {
                return Ok(u32::try_from(n).unwrap_or(u32::MAX));
            }
        }
    }
    tracing::warn!(ifname, "could not read the RX queue count; assuming 1");
    Ok(1)
}

/// `XDP_MAX_TX_SKB_BUDGET` from `<linux/if_xdp.h>` (Linux 6.17+): frames a copy-mode
/// `sendto` transmits at most (default 32; accepted range 32 ..= TX ring size).
pub const XDP_MAX_TX_SKB_BUDGET: libc::c_int = 9;

/// `setsockopt(fd, SOL_XDP, opt, &val)`.
pub fn setsockopt<T>(fd: RawFd, opt: libc::c_int, val: &T, what: &'static str) -> Result<()> {
    setsockopt_raw(fd, libc::SOL_XDP, opt, val).map_err(|e| XskError::os(what, e))
}

/// `setsockopt(fd, level, opt, &val)` with the OS error as is (for feature detection).
pub fn setsockopt_raw<T>(
    fd: RawFd,
    level: libc::c_int,
    opt: libc::c_int,
    val: &T,
) -> io::Result<()> {
    // SAFETY: `val` points to a live `T` of the size passed; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            (val as *const T).cast(),
            mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The socket's send buffer in bytes (`getsockopt(SOL_SOCKET, SO_SNDBUF)`).
pub fn send_buffer(fd: RawFd) -> io::Result<u32> {
    let mut val: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `val` is a writable c_int and `len` its size, both alive for the call.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&mut val as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(val.max(0) as u32)
}

/// `getsockopt(fd, SOL_XDP, opt)` into a zeroed `T`; returns the value and the length the
/// kernel wrote.
pub fn getsockopt<T: Copy>(fd: RawFd, opt: libc::c_int, what: &'static str) -> Result<(T, usize)> {
    let mut val = mem::MaybeUninit::<T>::zeroed();
    let mut len = mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `val` is a writable buffer of `len` bytes and `len` is a valid in/out length.
    let rc = unsafe { libc::getsockopt(fd, libc::SOL_XDP, opt, val.as_mut_ptr().cast(), &mut len) };
    if rc < 0 {
        return Err(XskError::last(what));
    }
    // SAFETY: the buffer was zero-initialised and every `T` used here (plain C structs of
    // integers) is valid when all-zero; the kernel filled up to `len` bytes.
    Ok((unsafe { val.assume_init() }, len as usize))
}
