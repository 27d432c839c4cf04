//! The XDP steering program (`xdp/boomerang.bpf.c`): loaded from the object embedded at
//! build time, attached to the interface as a `bpf_link` (the kernel detaches it when the
//! link's last fd closes, e.g. when the process dies), with its maps: the XSKMAP of sockets
//! per queue, the set of our IPv4 addresses, a flags word (redirect everything), and the
//! per-CPU counters.

use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use libbpf_rs::libbpf_sys;
use libbpf_rs::{MapCore, MapFlags, Object, ObjectBuilder};

use super::error::{Result, XskError};
use super::XdpMode;

/// The object file compiled by build.rs, aligned for libelf.
#[repr(C, align(8))]
struct Aligned<T: ?Sized>(T);
static OBJECT: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(
    env!("OUT_DIR"),
    "/boomerang.bpf.o"
)));

/// Capacity of the address map (`MAX_ADDRS` in the C program).
pub const MAX_ADDRS: u32 = 64;
/// Default capacity of the socket map (`MAX_QUEUES` in the C program); the loader resizes
/// it to the interface's queue count when that is larger.
pub const DEFAULT_MAX_QUEUES: u32 = 64;

const PROG: &str = "boomerang_steer";
const XSKS: &str = "boomerang_xsks";
const ADDRS: &str = "boomerang_addrs";
const COUNTERS: &str = "boomerang_counters";
const CONFIG: &str = "boomerang_config";
/// `REDIRECT_ALL` in the C program's flags word.
const FLAG_REDIRECT_ALL: u32 = 1;

/// `BPF_F_XDP_HAS_FRAGS` from `<linux/bpf.h>`.
const BPF_F_XDP_HAS_FRAGS: u32 = 1 << 5;

/// Packet counters of the XDP program, summed over CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XdpCounters {
    /// Frames redirected to an AF_XDP socket.
    pub redirected: u64,
    /// Frames passed to the kernel (not ours).
    pub passed: u64,
    /// Frames for our addresses that arrived on a queue without a socket.
    pub dropped: u64,
}

/// The loaded program, its maps and (once attached) its link.
pub struct XdpProgram {
    // Drop order: the link first (detaches), then the object (program and maps).
    link: Option<OwnedFd>,
    mode: XdpMode,
    ifindex: u32,
    obj: Object,
}

impl std::fmt::Debug for XdpProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdpProgram")
            .field("ifindex", &self.ifindex)
            .field("mode", &self.mode)
            .field("attached", &self.link.is_some())
            .finish()
    }
}

fn bpf_err(what: &'static str) -> impl FnOnce(libbpf_rs::Error) -> XskError {
    move |e| {
        if e.kind() == libbpf_rs::ErrorKind::PermissionDenied {
            XskError::PermissionDenied { what }
        } else {
            XskError::Bpf {
                what,
                message: format!("{e:#}"),
            }
        }
    }
}

/// Sends libbpf's own messages to `tracing` (target `libbpf`) instead of stderr.
fn route_libbpf_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        fn print(level: libbpf_rs::PrintLevel, msg: String) {
            let msg = msg.trim_end();
            match level {
                libbpf_rs::PrintLevel::Warn => tracing::warn!(target: "libbpf", "{msg}"),
                libbpf_rs::PrintLevel::Info => tracing::info!(target: "libbpf", "{msg}"),
                libbpf_rs::PrintLevel::Debug => tracing::debug!(target: "libbpf", "{msg}"),
            }
        }
        libbpf_rs::set_print(Some((libbpf_rs::PrintLevel::Info, print)));
    });
}

impl XdpProgram {
    /// Opens and loads the program (not attached yet), with room for `queues` sockets.
    /// `frags` marks it as handling multi-buffer frames (`BPF_F_XDP_HAS_FRAGS`, what
    /// `SEC("xdp.frags")` declares; Linux 5.18+): it then attaches at MTUs larger than a page
    /// and sees frames that span several buffers (it reads only the first 34 bytes).
    pub fn load(ifindex: u32, queues: u32, frags: bool) -> Result<XdpProgram> {
        route_libbpf_logs();
        let mut builder = ObjectBuilder::default();
        let mut open = builder
            .open_memory(&OBJECT.0)
            .map_err(bpf_err("opening the embedded object"))?;
        if frags {
            for mut p in open.progs_mut() {
                if p.name() == PROG {
                    // The section `xdp` sets no program flags, so this is all of them.
                    p.set_flags(BPF_F_XDP_HAS_FRAGS);
                }
            }
        }
        let want = queues.max(DEFAULT_MAX_QUEUES);
        for mut m in open.maps_mut() {
            if m.name() == XSKS {
                m.set_max_entries(want)
                    .map_err(bpf_err("sizing the socket map"))?;
            }
        }
        let obj = open.load().map_err(bpf_err("loading into the kernel"))?;
        Ok(XdpProgram {
            link: None,
            mode: XdpMode::Auto,
            ifindex,
            obj,
        })
    }

    fn map(&self, name: &str) -> Result<libbpf_rs::Map<'_>> {
        self.obj
            .maps()
            .find(|m| m.name() == name)
            .ok_or(XskError::Bpf {
                what: "finding a map",
                message: format!("no map `{name}` in the object"),
            })
    }

    /// Attaches the program as a bpf_link in `mode` (`Auto`: native, else generic).
    /// Returns the mode used.
    pub fn attach(&mut self, ifname: &str, mode: XdpMode) -> Result<XdpMode> {
        let prog = self
            .obj
            .progs()
            .find(|p| p.name() == PROG)
            .ok_or(XskError::Bpf {
                what: "finding the program",
                message: format!("no program `{PROG}` in the object"),
            })?;
        let prog_fd = prog.as_fd().as_raw_fd();
        let try_mode = |flags: u32| -> std::io::Result<OwnedFd> {
            let opts = libbpf_sys::bpf_link_create_opts {
                sz: std::mem::size_of::<libbpf_sys::bpf_link_create_opts>() as _,
                flags,
                ..Default::default()
            };
            // SAFETY: `prog_fd` is a loaded program owned by `self.obj`; `opts` is a
            // properly sized options struct alive for the call.
            let fd = unsafe {
                libbpf_sys::bpf_link_create(
                    prog_fd,
                    self.ifindex as i32,
                    libbpf_sys::BPF_XDP,
                    &opts,
                )
            };
            if fd < 0 {
                Err(std::io::Error::from_raw_os_error(-fd))
            } else {
                // SAFETY: a fresh link fd returned by the kernel, owned by nobody else.
                Ok(unsafe { OwnedFd::from_raw_fd(fd) })
            }
        };
        let classify = |e: std::io::Error, what: &'static str| -> XskError {
            match e.raw_os_error() {
                Some(libc::EBUSY) | Some(libc::EEXIST) => XskError::XdpBusy(ifname.to_string()),
                _ => XskError::os(what, e),
            }
        };
        let (link, used) = match mode {
            XdpMode::Generic => (
                try_mode(libbpf_sys::XDP_FLAGS_SKB_MODE)
                    .map_err(|e| classify(e, "attaching the XDP program (generic)"))?,
                XdpMode::Generic,
            ),
            XdpMode::Native => match try_mode(libbpf_sys::XDP_FLAGS_DRV_MODE) {
                Ok(l) => (l, XdpMode::Native),
                Err(e) => {
                    return Err(match classify(e, "attaching the XDP program (native)") {
                        XskError::Os { error, .. } => XskError::NativeXdpUnsupported {
                            ifname: ifname.to_string(),
                            error,
                        },
                        other => other,
                    })
                }
            },
            XdpMode::Auto => match try_mode(libbpf_sys::XDP_FLAGS_DRV_MODE) {
                Ok(l) => (l, XdpMode::Native),
                Err(e) => {
                    let err = classify(e, "attaching the XDP program (native)");
                    if !matches!(err, XskError::Os { .. }) {
                        return Err(err);
                    }
                    tracing::info!(ifname, error = %err, "native XDP not available; falling back to generic (SKB) mode");
                    (
                        try_mode(libbpf_sys::XDP_FLAGS_SKB_MODE)
                            .map_err(|e| classify(e, "attaching the XDP program (generic)"))?,
                        XdpMode::Generic,
                    )
                }
            },
        };
        self.link = Some(link);
        self.mode = used;
        Ok(used)
    }

    /// The mode the program is attached in (`Auto` before [`XdpProgram::attach`]).
    pub fn mode(&self) -> XdpMode {
        self.mode
    }

    /// Puts socket `fd` in the socket map's slot for `queue`.
    pub fn set_socket(&self, queue: u32, fd: i32) -> Result<()> {
        self.map(XSKS)?
            .update(&queue.to_ne_bytes(), &fd.to_ne_bytes(), MapFlags::ANY)
            .map_err(bpf_err("inserting a socket into the XSKMAP"))
    }

    /// Redirects every frame to the queue's socket (`true`, an L2 forwarder's mode) or only
    /// ours (`false`, the default).
    pub fn set_redirect_all(&self, on: bool) -> Result<()> {
        let flags = if on { FLAG_REDIRECT_ALL } else { 0 };
        self.map(CONFIG)?
            .update(&0u32.to_ne_bytes(), &flags.to_ne_bytes(), MapFlags::ANY)
            .map_err(bpf_err("setting the program's flags"))
    }

    /// Claims `addr`: ARP for it and IPv4 to it will be redirected to our sockets.
    pub fn add_address(&self, addr: Ipv4Addr) -> Result<()> {
        let map = self.map(ADDRS)?;
        map.update(&addr.octets(), &1u32.to_ne_bytes(), MapFlags::ANY)
            .map_err(|e| {
                if e.kind() == libbpf_rs::ErrorKind::TooBig
                    || e.kind() == libbpf_rs::ErrorKind::OutOfMemory
                {
                    XskError::TooManyAddresses(MAX_ADDRS)
                } else {
                    bpf_err("adding an address")(e)
                }
            })
    }

    /// Stops claiming `addr` (its traffic goes to the kernel again).
    pub fn remove_address(&self, addr: Ipv4Addr) -> Result<()> {
        self.map(ADDRS)?
            .delete(&addr.octets())
            .map_err(bpf_err("removing an address"))
    }

    /// Reads the program's counters, summed over CPUs.
    pub fn counters(&self) -> Result<XdpCounters> {
        let map = self.map(COUNTERS)?;
        let mut out = [0u64; 3];
        for (i, slot) in out.iter_mut().enumerate() {
            let key = (i as u32).to_ne_bytes();
            let per_cpu = map
                .lookup_percpu(&key, MapFlags::ANY)
                .map_err(bpf_err("reading the counters"))?
                .unwrap_or_default();
            *slot = per_cpu
                .iter()
                .filter_map(|v| v.get(..8))
                .map(|b| {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    u64::from_ne_bytes(a)
                })
                .fold(0u64, u64::wrapping_add);
        }
        Ok(XdpCounters {
            redirected: out[0],
            passed: out[1],
            dropped: out[2],
        })
    }
}
