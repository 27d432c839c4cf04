//! Checks before taking over an interface, each failing with a message that says what to do:
//! root, the interface exists, the queue count fits the NIC, the kernel does not own our
//! address on that interface.

use std::net::Ipv4Addr;
use std::path::Path;

use anyhow::bail;

use crate::config::XdpSettings;

/// Whether the process runs as root.
pub fn is_root() -> bool {
    boomerang_nic::netns::is_root()
}

/// The IPv4 addresses the kernel has on `iface` (`ip -4 -o addr show dev IF`).
pub fn kernel_ipv4_addrs(iface: &str) -> Vec<Ipv4Addr> {
    boomerang_nic::netns::run_cmd("ip", &["-4", "-o", "addr", "show", "dev", iface])
        .map(|out| {
            out.lines()
                .filter_map(|l| {
                    let mut it = l.split_whitespace();
                    it.find(|w| *w == "inet")?;
                    it.next()?.split('/').next()?.parse().ok()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// How many RX queues `iface` has (`/sys/class/net/IF/queues/rx-*`).
pub fn rx_queue_count(iface: &str) -> usize {
    std::fs::read_dir(Path::new("/sys/class/net").join(iface).join("queues"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
                .count()
        })
        .unwrap_or(0)
}

/// Runs every check for `serve --iface`.
pub fn check_xdp(s: &XdpSettings) -> anyhow::Result<()> {
    if !is_root() {
        bail!(
            "serve --iface needs root (it attaches an XDP program and opens AF_XDP sockets): \
             run it with sudo, or use `serve --kernel --listen ADDR:PORT` without root"
        );
    }
    if !Path::new("/sys/class/net").join(&s.iface).exists() {
        let known: Vec<String> = std::fs::read_dir("/sys/class/net")
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        bail!(
            "no interface named `{}` in this network namespace; interfaces here: {}",
            s.iface,
            known.join(", ")
        );
    }
    let queues = rx_queue_count(&s.iface);
    if queues > 0 && s.queues > queues {
        bail!(
            "--queues {} is more than the {queues} RX queue(s) of {}: use --queues {queues} or fewer, \
             or raise the channel count with `ethtool -L {} combined {}`",
            s.queues,
            s.iface,
            s.iface,
            s.queues
        );
    }
    let kernel = kernel_ipv4_addrs(&s.iface);
    if kernel.contains(&s.addr.address) {
        bail!(
            "the kernel already uses {} on {}: both would answer (the kernel with RSTs). \
             Give the stack its own address, or remove the kernel's: `ip addr del {} dev {}`",
            s.addr.address,
            s.iface,
            s.addr,
            s.iface
        );
    }
    if !kernel.is_empty() {
        tracing::warn!(
            iface = %s.iface,
            addrs = ?kernel,
            "the kernel has other IPv4 addresses on this interface; traffic to them stays with the kernel"
        );
    }
    let v6 = Path::new("/proc/sys/net/ipv6/conf")
        .join(&s.iface)
        .join("disable_ipv6");
    if std::fs::read_to_string(&v6).is_ok_and(|v| v.trim() == "0") {
        tracing::warn!(
            iface = %s.iface,
            "IPv6 is on for this interface; the kernel keeps talking IPv6 on it \
             (turn it off with `sysctl net.ipv6.conf.{}.disable_ipv6=1`)",
            s.iface
        );
    }
    Ok(())
}
