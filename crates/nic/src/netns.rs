//! Network namespaces and veth pairs for tests and the demo, torn down when dropped.
//!
//! Invariants (the project's network rules): every namespace this module creates is named
//! `bmr…` and is unique per process and call (tests run in parallel); addresses come from
//! 198.18.0.0/15 and no default route is ever installed; dropping a [`Netns`] kills the
//! processes left inside it (only ever ones we started there) and deletes it, even when the
//! test that made it panicked.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Returns a namespace name `bmr<tag><pid>x<n>`, unique within this machine for this process.
pub fn unique_name(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("bmr{tag}{}x{n}", std::process::id())
}

/// Whether the current process runs as root (network tests need it).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn check(output: Output, what: &str) -> io::Result<String> {
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(io::Error::other(format!(
            "`{what}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// Runs a host command (e.g. `ip`, `ethtool`) and returns its stdout, or an error with its stderr.
pub fn run_cmd<S: AsRef<OsStr>>(program: &str, args: &[S]) -> io::Result<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()?;
    let what = std::iter::once(program.to_string())
        .chain(
            args.iter()
                .map(|a| a.as_ref().to_string_lossy().into_owned()),
        )
        .collect::<Vec<_>>()
        .join(" ");
    check(out, &what)
}

/// The path of an example built by cargo next to the running test binary
/// (`<target>/<profile>/examples/<name>`), e.g. the `netsim` forwarder or the `responder`.
///
/// `scripts/test` builds every example before the tests; a missing one is a clear error.
pub fn built_example(name: &str) -> io::Result<std::path::PathBuf> {
    let exe = std::env::current_exe()?;
    // <target>/<profile>/deps/<test-binary>: the profile directory is the parent's parent.
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .ok_or_else(|| io::Error::other("test binary outside <target>/<profile>/deps"))?;
    let path = profile_dir.join("examples").join(name);
    if path.exists() {
        Ok(path)
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{} is not built: run `cargo build --profile ci -p boomerang-nic --examples` \
                 first (scripts/test does)",
                path.display()
            ),
        ))
    }
}

/// A network namespace created by us; deleted (with everything left running in it) on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates namespace `bmr<tag><pid>x<n>` with its loopback up.
    pub fn new(tag: &str) -> io::Result<Netns> {
        let name = unique_name(tag);
        run_cmd("ip", &["netns", "add", &name])?;
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name, as `ip netns` knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command that runs `program` inside this namespace (`ip netns exec`).
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs `program args…` inside the namespace, returning stdout or an error with stderr.
    pub fn run<S: AsRef<OsStr>>(&self, program: &str, args: &[S]) -> io::Result<String> {
        let out = self
            .command(program)
            .args(args)
            .stdin(Stdio::null())
            .output()?;
        let what = format!(
            "ip netns exec {} {program} {}",
            self.name,
            args.iter()
                .map(|a| a.as_ref().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        );
        check(out, &what)
    }

    /// Runs `ip -n <ns> args…`.
    pub fn ip(&self, args: &[&str]) -> io::Result<String> {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        run_cmd("ip", &all)
    }

    /// Starts `program args…` inside the namespace; the caller owns (and must reap) the child.
    pub fn spawn<S: AsRef<OsStr>>(&self, program: &str, args: &[S]) -> io::Result<Child> {
        self.command(program)
            .args(args)
            .stdin(Stdio::null())
            .spawn()
    }

    /// Sets a sysctl inside the namespace (`key` like `net.ipv4.ip_forward`).
    pub fn sysctl(&self, key: &str, value: &str) -> io::Result<()> {
        self.run("sysctl", &["-qw", &format!("{key}={value}")])
            .map(|_| ())
    }

    /// Runs `f` on a new thread that has entered this namespace, and returns its result.
    ///
    /// Sockets (and AF_XDP sockets) created by `f` belong to the namespace; threads `f`
    /// spawns inherit it.
    pub fn enter<R, F>(&self, f: F) -> io::Result<R>
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        self.spawn_thread(f)?
            .join()
            .map_err(|_| io::Error::other("thread inside the namespace panicked"))
    }

    /// Spawns a thread that enters this namespace and then runs `f`.
    pub fn spawn_thread<R, F>(&self, f: F) -> io::Result<std::thread::JoinHandle<R>>
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        let file = File::open(format!("/run/netns/{}", self.name))?;
        let (tx, rx) = std::sync::mpsc::channel::<io::Result<()>>();
        let handle = std::thread::Builder::new()
            .name(format!("in-{}", self.name))
            .spawn(move || {
                let r = enter_netns(&file);
                let ok = r.is_ok();
                let _ = tx.send(r);
                if !ok {
                    // Never run `f` in the wrong namespace.
                    std::process::abort();
                }
                f()
            })?;
        rx.recv()
            .map_err(|_| io::Error::other("namespace thread vanished"))??;
        Ok(handle)
    }

    /// The PIDs of processes running inside the namespace.
    pub fn pids(&self) -> Vec<i32> {
        run_cmd("ip", &["netns", "pids", &self.name])
            .map(|s| {
                s.split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Moves the calling thread into the network namespace behind `file`.
fn enter_netns(file: &File) -> io::Result<()> {
    // SAFETY: setns takes a valid open file descriptor (owned by `file`, alive for the call)
    // and a namespace type; it only changes the calling thread's network namespace.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for pid in self.pids() {
            // Only processes inside our own namespace, which only we start things in.
            let _ = run_cmd("kill", &["-9", &pid.to_string()]);
        }
        if let Err(e) = run_cmd("ip", &["netns", "delete", &self.name]) {
            tracing::warn!(ns = %self.name, error = %e, "could not delete namespace");
        }
    }
}

/// Creates a veth pair `a_if` (in `a`) ↔ `b_if` (in `b`), both up.
///
/// `queues` sets `numrxqueues`/`numtxqueues` on both ends (multi-queue tests). Transmit
/// checksum offload is turned off on both ends so that frames crossing into an AF_XDP socket
/// carry complete checksums (docs/operations.md, "Checksums on veth").
pub fn veth_pair(a: &Netns, a_if: &str, b: &Netns, b_if: &str, queues: u32) -> io::Result<()> {
    let q = queues.max(1).to_string();
    run_cmd(
        "ip",
        &[
            "-n",
            a.name(),
            "link",
            "add",
            a_if,
            "numrxqueues",
            &q,
            "numtxqueues",
            &q,
            "type",
            "veth",
            "peer",
            "name",
            b_if,
            "netns",
            b.name(),
            "numrxqueues",
            &q,
            "numtxqueues",
            &q,
        ],
    )?;
    for (ns, ifname) in [(a, a_if), (b, b_if)] {
        ns.run("ethtool", &["-K", ifname, "tx", "off"])?;
        ns.ip(&["link", "set", ifname, "up"])?;
    }
    Ok(())
}

/// Adds `addr/prefix` to `ifname` inside `ns`.
pub fn add_addr(ns: &Netns, ifname: &str, addr: Ipv4Addr, prefix: u8) -> io::Result<()> {
    ns.ip(&["addr", "add", &format!("{addr}/{prefix}"), "dev", ifname])
        .map(|_| ())
}

/// Turns off IPv6 on `ifname` inside `ns` (the interface our stack owns must stay quiet).
pub fn disable_ipv6(ns: &Netns, ifname: &str) -> io::Result<()> {
    ns.sysctl(&format!("net.ipv6.conf.{ifname}.disable_ipv6"), "1")
}

/// Two namespaces joined by one veth pair: `client` (kernel peer) and `server` (our stack).
///
/// The client interface `veth0` has [`Pair::CLIENT_ADDR`]/24; the server interface `veth0`
/// in the server namespace has no kernel address (the stack owns [`Pair::SERVER_ADDR`]) and
/// IPv6 off, unless `kernel_server_addr` is set, which gives the server's kernel the address
/// (for kernel-to-kernel references).
#[derive(Debug)]
pub struct Pair {
    /// The kernel peer's namespace.
    pub client: Netns,
    /// The namespace where our stack (or a reference server) runs.
    pub server: Netns,
}

impl Pair {
    /// The client's address.
    pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    /// The server's address.
    pub const SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    /// The prefix length of the shared link.
    pub const PREFIX: u8 = 24;
    /// The interface name on both ends.
    pub const IFNAME: &'static str = "veth0";

    /// Builds the pair with `queues` RX/TX queues on both ends.
    pub fn new(tag: &str, queues: u32, kernel_server_addr: bool) -> io::Result<Pair> {
        let client = Netns::new(&format!("{tag}c"))?;
        let server = Netns::new(&format!("{tag}s"))?;
        veth_pair(&client, Self::IFNAME, &server, Self::IFNAME, queues)?;
        add_addr(&client, Self::IFNAME, Self::CLIENT_ADDR, Self::PREFIX)?;
        disable_ipv6(&client, Self::IFNAME)?;
        disable_ipv6(&server, Self::IFNAME)?;
        client.sysctl("net.core.txrehash", "0").ok();
        if kernel_server_addr {
            add_addr(&server, Self::IFNAME, Self::SERVER_ADDR, Self::PREFIX)?;
        }
        Ok(Pair { client, server })
    }
}

/// Three namespaces, client – router – server, with kernel forwarding in the router.
///
/// Links: client `veth0` 198.18.1.1/24 ↔ router `vc` 198.18.1.254/24; router `vs`
/// 198.19.2.254/24 ↔ server `veth0` (our stack at 198.19.2.1/24, gateway 198.19.2.254).
/// The client reaches 198.19.2.0/24 through the router; there is no default route anywhere.
/// Impairments go in the router (nftables on the forward hook).
#[derive(Debug)]
pub struct Routed {
    /// The kernel peer's namespace.
    pub client: Netns,
    /// The forwarding namespace in the middle.
    pub router: Netns,
    /// The namespace where our stack runs.
    pub server: Netns,
}

impl Routed {
    /// The client's address.
    pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);
    /// The router's address on the client side.
    pub const ROUTER_CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 254);
    /// The router's address on the server side (the server's gateway).
    pub const ROUTER_SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(198, 19, 2, 254);
    /// The server's address.
    pub const SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(198, 19, 2, 1);
    /// The prefix length of both links.
    pub const PREFIX: u8 = 24;

    /// Builds the three namespaces with `queues` queues on the server link.
    pub fn new(tag: &str, queues: u32, kernel_server_addr: bool) -> io::Result<Routed> {
        let client = Netns::new(&format!("{tag}c"))?;
        let router = Netns::new(&format!("{tag}r"))?;
        let server = Netns::new(&format!("{tag}s"))?;
        veth_pair(&client, "veth0", &router, "vc", queues)?;
        veth_pair(&router, "vs", &server, "veth0", queues)?;
        add_addr(&client, "veth0", Self::CLIENT_ADDR, Self::PREFIX)?;
        add_addr(&router, "vc", Self::ROUTER_CLIENT_ADDR, Self::PREFIX)?;
        add_addr(&router, "vs", Self::ROUTER_SERVER_ADDR, Self::PREFIX)?;
        for (ns, ifname) in [(&client, "veth0"), (&router, "vc"), (&router, "vs")] {
            disable_ipv6(ns, ifname)?;
        }
        disable_ipv6(&server, "veth0")?;
        router.sysctl("net.ipv4.ip_forward", "1")?;
        client.sysctl("net.core.txrehash", "0").ok();
        client.ip(&[
            "route",
            "add",
            "198.19.2.0/24",
            "via",
            &Self::ROUTER_CLIENT_ADDR.to_string(),
        ])?;
        if kernel_server_addr {
            add_addr(&server, "veth0", Self::SERVER_ADDR, Self::PREFIX)?;
            server.ip(&[
                "route",
                "add",
                "198.18.1.0/24",
                "via",
                &Self::ROUTER_SERVER_ADDR.to_string(),
            ])?;
        }
        Ok(Routed {
            client,
            router,
            server,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_prefixed() {
        let a = unique_name("t");
        let b = unique_name("t");
        assert!(a.starts_with("bmrt"));
        assert_ne!(a, b);
    }

    #[test]
    fn pair_pings_and_is_torn_down() {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let pair = Pair::new("nt", 1, true).expect("pair");
        let name = pair.client.name().to_string();
        pair.client
            .run(
                "ping",
                &["-c", "1", "-W", "2", &Pair::SERVER_ADDR.to_string()],
            )
            .expect("ping across the pair");
        // Entering the namespace from a thread sees its interfaces.
        let seen = pair
            .server
            .enter(|| std::fs::read_to_string("/proc/thread-self/net/dev").unwrap_or_default())
            .expect("enter");
        assert!(seen.contains("veth0"), "{seen}");
        drop(pair);
        let list = run_cmd("ip", &["netns", "list"]).expect("list");
        assert!(!list.contains(&name), "{name} left behind: {list}");
    }
}
