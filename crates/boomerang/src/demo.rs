//! `boomerang demo`: builds client – router – server namespaces, starts `boomerang serve`
//! (this very binary) inside the server namespace, waits until it answers, runs bounded
//! loads from the client namespace (wrk when installed, else the built-in generator) with
//! visible progress, prints a results table, and tears everything down — also on Ctrl-C
//! (every resource is an RAII guard; the signal only sets a flag). With `--tls` the server
//! speaks HTTPS with a self-signed certificate made at start (rcgen), loaded over https by
//! wrk, or by the built-in generator verifying that certificate.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use boomerang_nic::netns::{self, Routed};

use crate::cli::DemoArgs;
use crate::harness::{self, LoadSpec, Pinning, ServerProcess, TempDir, TlsSpec, Topology};
use crate::load::{Progress, Resumption};

/// The loads the demo runs, in order: (label, path, `Connection: close`).
pub const DEMO_LOADS: [(&str, &str, bool); 3] = [
    ("GET /plaintext keep-alive", "/plaintext", false),
    ("GET /plaintext Connection: close", "/plaintext", true),
    ("GET /64k.bin keep-alive", "/64k.bin", false),
];

/// Which server the demo runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// `serve --iface … ` (AF_XDP + the userspace stack).
    Xdp,
    /// `serve --kernel` (kernel sockets).
    Kernel,
}

/// Runs the demo; returns an error (after cleanup) if any step failed.
pub fn run(args: &DemoArgs) -> anyhow::Result<()> {
    if !netns::is_root() {
        bail!("the demo creates network namespaces and attaches an XDP program: run it as root, e.g. `sudo scripts/demo`");
    }
    for tool in ["ip", "taskset"] {
        if netns::run_cmd("which", &[tool]).is_err() {
            bail!("`{tool}` is not installed; run `sudo scripts/setup` (iproute2, util-linux)");
        }
    }
    let stop = crate::signals::cleanup_flag()?;
    let kind = if args.kernel || !crate::serve::XDP_AVAILABLE {
        ServerKind::Kernel
    } else {
        ServerKind::Xdp
    };
    let result = run_inner(args, kind, &stop);
    if stop.load(Ordering::Relaxed) {
        println!("\ninterrupted: namespaces and processes removed");
        bail!("interrupted by a signal");
    }
    result
}

fn run_inner(args: &DemoArgs, kind: ServerKind, stop: &Arc<AtomicBool>) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("cannot find the boomerang binary")?;
    let pin = Pinning::from_allowed();
    let site = TempDir::new("demo")?;
    harness::write_site(site.path())?;
    if args.tls {
        self_signed(site.path())?;
    }

    let (topo, mut server, kind) = match start(kind, args, &exe, &site, pin, stop) {
        Ok((topo, server)) => (topo, server, kind),
        Err(e) if kind == ServerKind::Xdp && !stop.load(Ordering::Relaxed) => {
            println!("!!! the AF_XDP server did not start: {e:#}");
            println!("!!! falling back to `serve --kernel` so the demo can still run");
            let (topo, server) = start(ServerKind::Kernel, args, &exe, &site, pin, stop)?;
            (topo, server, ServerKind::Kernel)
        }
        Err(e) => return Err(e),
    };

    let use_wrk = !args.builtin_load && harness::wrk_installed();
    let tool = if use_wrk {
        "wrk"
    } else {
        "the built-in generator"
    };
    if pin.server == pin.client {
        step("only one CPU is allowed: server and load share it");
    }
    let mut rows = Vec::new();
    for (label, path, close) in DEMO_LOADS {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        step(&format!(
            "load: {label}, {} connections, {} s, {tool} on CPU {}",
            args.connections,
            args.duration.as_secs(),
            pin.client
        ));
        let url = topo.url(path);
        let spec = LoadSpec {
            url: if args.tls {
                url.replacen("http://", "https://", 1)
            } else {
                url
            },
            connections: args.connections,
            duration: args.duration,
            close,
            cpu: Some(pin.client),
            timeout: harness::DEFAULT_LOAD_TIMEOUT,
            tls: args.tls.then(|| TlsSpec {
                ca: site.path().join("demo.crt"),
                resumption: Resumption::Full,
            }),
        };
        let result = if use_wrk {
            with_ticker(args.duration, stop, || {
                harness::run_wrk(&topo.ns.client, &spec, site.path())
            })?
        } else {
            harness::run_builtin(&topo.ns.client, &spec, Progress::Stderr, Some(stop.clone()))?
        };
        rows.push((label.to_string(), result));
    }
    let alive = server.try_wait()?.is_none();
    step("stopping the server (SIGTERM)");
    let (status, clean) = server.stop(harness::STOP_TIMEOUT)?;
    drop(topo);
    if stop.load(Ordering::Relaxed) {
        return Ok(());
    }
    println!();
    println!(
        "boomerang demo — {}{} server, {tool}, {} connections, {} s per row",
        if args.tls { "HTTPS, " } else { "" },
        match kind {
            ServerKind::Xdp => "AF_XDP (userspace TCP/IP)",
            ServerKind::Kernel => "kernel-socket",
        },
        args.connections,
        args.duration.as_secs()
    );
    print!("{}", harness::render_table(&rows));
    println!(
        "server: {} ({}), namespaces removed",
        if alive && clean && status.success() {
            "stopped cleanly"
        } else {
            "did not stop cleanly"
        },
        status
    );
    if !(alive && status.success()) {
        bail!(
            "the server did not run and stop cleanly; its log:\n{}",
            server.log_tail(30)
        );
    }
    Ok(())
}

/// Builds the namespaces and starts the server of `kind`; returns once it answers.
fn start(
    kind: ServerKind,
    args: &DemoArgs,
    exe: &std::path::Path,
    site: &TempDir,
    pin: Pinning,
    stop: &AtomicBool,
) -> anyhow::Result<(Topology, ServerProcess)> {
    step(&format!(
        "building namespaces client ({}) – router – server ({})",
        Routed::CLIENT_ADDR,
        Routed::SERVER_ADDR
    ));
    let topo = Topology::new("demo", kind == ServerKind::Kernel)?;
    let asked_for_kernel = args.kernel;
    let mut serve_args = match kind {
        ServerKind::Xdp => harness::xdp_serve_args(site.path()),
        ServerKind::Kernel => harness::kernel_serve_args(site.path()),
    };
    if args.tls {
        for (flag, file) in [("--tls-cert", "demo.crt"), ("--tls-key", "demo.key")] {
            serve_args.push(flag.into());
            serve_args.push(site.path().join(file).to_string_lossy().into_owned());
        }
    }
    match kind {
        ServerKind::Xdp => step(&format!(
            "starting `boomerang serve` on AF_XDP (veth0, {}:{}) in namespace {}, pinned to CPU {}",
            Routed::SERVER_ADDR,
            harness::PORT,
            topo.ns.server.name(),
            pin.server
        )),
        ServerKind::Kernel => step(&format!(
            "starting `boomerang serve --kernel` (kernel sockets{}) on {} in namespace {}, pinned to CPU {}",
            if asked_for_kernel {
                ""
            } else {
                ", not AF_XDP"
            },
            topo.server_addr(),
            topo.ns.server.name(),
            pin.server
        )),
    }
    let log = site.path().join(format!("server-{kind:?}.log"));
    let mut server = ServerProcess::spawn(
        &topo.ns.server,
        "boomerang serve",
        Some(pin.server),
        exe,
        &serve_args,
        &log,
    )?;
    let waited = if args.tls {
        wait_ready_tls(&mut server, &topo, site, stop)?
    } else {
        server.wait_ready(&topo.ns.client, topo.server_addr(), "/plaintext", stop)?
    };
    step(&format!(
        "server answered after {} ms (pid {})",
        waited.as_millis(),
        server.pid().unwrap_or(0)
    ));
    Ok((topo, server))
}

/// The certificate of `demo --tls`: self-signed for the server's address, made now.
fn self_signed(dir: &std::path::Path) -> anyhow::Result<()> {
    let names = vec![Routed::SERVER_ADDR.to_string(), "localhost".to_string()];
    let c = rcgen::generate_simple_self_signed(names).context("cannot make a certificate")?;
    std::fs::write(dir.join("demo.crt"), c.cert.pem())?;
    std::fs::write(dir.join("demo.key"), c.signing_key.serialize_pem())?;
    step("made a self-signed certificate for the demo (rcgen)");
    Ok(())
}

/// Waits until curl, trusting the demo's certificate, gets `/plaintext` over HTTPS.
fn wait_ready_tls(
    server: &mut ServerProcess,
    topo: &Topology,
    site: &TempDir,
    stop: &AtomicBool,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let url = format!("https://{}/plaintext", topo.server_addr());
    let ca = site.path().join("demo.crt").to_string_lossy().into_owned();
    loop {
        if stop.load(Ordering::Relaxed) {
            bail!("interrupted");
        }
        if let Some(status) = server.try_wait()? {
            bail!(
                "the server exited ({status}); its log:\n{}",
                server.log_tail(30)
            );
        }
        let args = [
            "-sS",
            "--max-time",
            "1",
            "--cacert",
            &ca,
            "-o",
            "/dev/null",
            &url,
        ];
        if topo.ns.client.run("curl", &args).is_ok() {
            return Ok(start.elapsed());
        }
        if start.elapsed() > harness::READY_TIMEOUT {
            bail!(
                "no HTTPS answer within {:?}; its log:\n{}",
                harness::READY_TIMEOUT,
                server.log_tail(30)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn step(msg: &str) {
    println!("==> {msg}");
}

/// Runs `f` while printing elapsed seconds on stderr (wrk prints nothing until it ends).
fn with_ticker<T>(
    duration: Duration,
    stop: &AtomicBool,
    f: impl FnOnce() -> anyhow::Result<T> + Send,
) -> anyhow::Result<T>
where
    T: Send,
{
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let ticker = s.spawn(|| {
            let start = Instant::now();
            let mut last = 0;
            while !done.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) {
                let secs = start.elapsed().as_secs();
                if secs != last {
                    last = secs;
                    eprint!("\r  {secs:>3} / {} s", duration.as_secs());
                    let _ = std::io::stderr().flush();
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            eprintln!();
        });
        let r = f();
        done.store(true, Ordering::Relaxed);
        let _ = ticker.join();
        r
    })
}
