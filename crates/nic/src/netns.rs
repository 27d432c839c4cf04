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
use std::sync::Mutex;

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

/// Whether the network tests can run here: root with `CAP_NET_ADMIN` (namespaces, veth pairs,
/// XDP programs). When they cannot, prints one `<test>: skipped: needs root (CAP_NET_ADMIN)`
/// line straight to stderr (past the test harness's output capture, so every skipped test
/// shows) and returns `false`; the caller then returns early. See [`need_root!`](crate::need_root).
pub fn network_tests_can_run() -> bool {
    if is_root() && has_net_admin() {
        return true;
    }
    let thread = std::thread::current();
    let line = match thread.name() {
        Some(test) if test != "main" => format!("{test}: skipped: needs root (CAP_NET_ADMIN)\n"),
        _ => "skipped: needs root (CAP_NET_ADMIN)\n".to_string(),
    };
    // One write of the whole line, so that parallel tests' lines do not interleave.
    let _ = io::Write::write_all(&mut io::stderr().lock(), line.as_bytes());
    false
}

/// Whether `CAP_NET_ADMIN` (capability 12) is in this process's effective set.
fn has_net_admin() -> bool {
    const CAP_NET_ADMIN: u32 = 12;
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << CAP_NET_ADMIN) != 0)
}

/// Returns from the enclosing test, after one `skipped: needs root (CAP_NET_ADMIN)` line, when
/// the process is not root with `CAP_NET_ADMIN` (see [`netns::network_tests_can_run`]). Every
/// test that creates namespaces, veth pairs, packet sockets or XDP programs opens with it.
///
/// [`netns::network_tests_can_run`]: crate::netns::network_tests_can_run
#[macro_export]
macro_rules! need_root {
    () => {
        if !$crate::netns::network_tests_can_run() {
            return;
        }
    };
}

/// The path of an example of this package (`boomerang-nic`), e.g. the `netsim` forwarder or
/// the `responder`, built for the running test binary: same target directory and profile
/// (`<target>/<profile>/examples/<name>`).
///
/// The first call for a name in a process runs `cargo build --workspace --example <name>`
/// with that profile (cargo's own lock serialises it against other cargo processes; a mutex
/// here serialises the tests of this process), so a plain `cargo test` needs no earlier build
/// step and never runs a stale example. Later calls return the path at once.
pub fn built_example(name: &str) -> io::Result<std::path::PathBuf> {
    static BUILT: Mutex<Vec<(String, std::path::PathBuf)>> = Mutex::new(Vec::new());
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, path)) = built.iter().find(|(n, _)| n == name) {
        return Ok(path.clone());
    }
    let path = build_example(name)?;
    built.push((name.to_string(), path.clone()));
    Ok(path)
}

fn build_example(name: &str) -> io::Result<std::path::PathBuf> {
    use std::path::Path;

    let exe = std::env::current_exe()?;
    // <target>[/<triple>]/<profile>/deps/<test-binary>: the profile directory is the
    // parent's parent.
    let profile_dir = exe
        .parent()
        .filter(|deps| deps.file_name() == Some(OsStr::new("deps")))
        .and_then(Path::parent)
        .ok_or_else(|| {
            io::Error::other(format!(
                "{} is not in <target>/<profile>/deps: cannot tell where to build example {name}",
                exe.display()
            ))
        })?;
    let profile_name = profile_dir
        .file_name()
        .and_then(OsStr::to_str)
        .ok_or_else(|| io::Error::other("profile directory name is not UTF-8"))?;
    let profile = match profile_name {
        "debug" => "dev",
        other => other,
    };
    let parent = profile_dir
        .parent()
        .ok_or_else(|| io::Error::other("profile directory has no parent"))?;
    // Cargo marks the target directory's root with CACHEDIR.TAG; one level further up means
    // a `--target <triple>` build.
    let (target_dir, triple) = match parent.parent() {
        Some(root)
            if !parent.join("CACHEDIR.TAG").exists() && root.join("CACHEDIR.TAG").exists() =>
        {
            (root, parent.file_name().and_then(OsStr::to_str))
        }
        _ => (parent, None),
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let mut cmd = Command::new(&cargo);
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(&manifest)
        // With the whole workspace selected, features resolve as in `cargo test --workspace`
        // (scripts/test), so there the example built beside the tests is already fresh.
        .args([
            "--workspace",
            "--example",
            name,
            "--profile",
            profile,
            "--target-dir",
        ])
        .arg(target_dir)
        .stdin(Stdio::null());
    if let Some(triple) = triple {
        cmd.args(["--target", triple]);
    }
    let shown = format!("{cmd:?}");
    let _ = io::Write::write_all(
        &mut io::stderr().lock(),
        format!("building test helper: {shown}\n").as_bytes(),
    );
    let out = cmd
        .output()
        .map_err(|e| io::Error::other(format!("cannot run {shown}: {e}")))?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{shown} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let path = profile_dir.join("examples").join(name);
    if path.exists() {
        Ok(path)
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{shown} succeeded but {} does not exist", path.display()),
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
        crate::need_root!();
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
