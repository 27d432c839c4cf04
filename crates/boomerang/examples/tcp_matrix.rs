//! The TCP impairment matrix behind `bench/tcp-matrix` (docs/benchmarks.md, "TCP under
//! impairment"): boomerang's TCP against Linux's on the same bad paths, in the same run.
//!
//! Topology: client – mid – server namespaces joined by two veth pairs, with the impairment
//! forwarder `crates/nic/examples/netsim.rs` in `mid` (an L2 forwarder: the kernel here has
//! no `netem`). On the server's veth boomerang serves on AF_XDP at 198.18.0.2 and Linux
//! (python's `http.server`, with an echo for POST) at 198.18.0.3; its XDP program passes the
//! kernel's traffic through. curl in the client namespace downloads a file (the server
//! sends) and a python client uploads one that is echoed back (the client sends, the server
//! receives and sends it back), from each server in turn, byte-exact, and reports seconds.
//!
//! Each path profile (netsim arguments, per direction for the ACK-path-only loss) runs with
//! each congestion control, set alike on both ends: `serve --congestion`, and `TCP_CONGESTION`
//! on the kernel server's socket and on the upload client's (python; curl downloads). Each cell is the best of `--runs` transfers, alternating the
//! servers; the ratio is boomerang's time over Linux's (lower is better, 1.25 is the goal).
//!
//! `cargo run --release -p boomerang --example tcp_matrix -- [--mib 20] [--runs 3] [--profiles loss2,loss10,reorder,jitter,ackloss] [--cc cubic,bbr] [--directions download,upload]`

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use boomerang::harness::{self, NetsimPath, ServerProcess, TempDir};
use boomerang_nic::netns::Netns;
use clap::Parser;

const OURS_ADDR: Ipv4Addr = NetsimPath::OURS_ADDR;
const KERNEL_ADDR: Ipv4Addr = NetsimPath::KERNEL_ADDR;

#[derive(Parser, Debug)]
#[command(about = "boomerang's TCP against Linux's on impaired paths (bench/tcp-matrix)")]
struct Args {
    /// Size of each transfer in MiB (the upload is echoed back: twice that crosses the path).
    #[arg(long, default_value_t = 20)]
    mib: usize,
    /// Transfers per server and cell; the best counts.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Path profiles (comma separated): loss2, loss10, reorder, jitter, ackloss.
    #[arg(long, default_value = "loss2,loss10,reorder,jitter,ackloss")]
    profiles: String,
    /// Congestion controls (comma separated): cubic, bbr.
    #[arg(long, default_value = "cubic,bbr")]
    cc: String,
    /// Directions (comma separated): download (the server sends), upload (the client sends).
    #[arg(long, default_value = "download,upload")]
    directions: String,
    /// Longest a transfer may take before it counts as failed.
    #[arg(long, default_value = "180s", value_parser = boomerang::cli::parse_duration)]
    max_time: Duration,
    /// Where to write the table.
    #[arg(long, default_value = "/tmp/boomerang-tcp-matrix.md")]
    markdown: PathBuf,
    /// boomerang writes every frame it receives and sends to this pcap file (`serve --pcap`),
    /// for `bench/timeline`.
    #[arg(long)]
    pcap: Option<PathBuf>,
    /// Namespace names start with `bmr` + this tag.
    #[arg(long, default_value = "tm")]
    ns_tag: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Download,
    Upload,
}

/// A path profile: its name, what it is, and netsim's arguments for a direction (the data
/// flows server → client, netsim's b → a, in a download).
struct Profile {
    name: &'static str,
    what: &'static str,
    netsim: fn(Direction) -> Vec<&'static str>,
}

const PROFILES: [Profile; 5] = [
    Profile {
        name: "loss2",
        what: "2% random loss both ways",
        netsim: |_| vec!["--loss", "2%"],
    },
    Profile {
        name: "loss10",
        what: "10% random loss both ways",
        netsim: |_| vec!["--loss", "10%"],
    },
    Profile {
        name: "reorder",
        what: "5 ms delay, 25% of frames 5 ms late (reordered) both ways",
        netsim: |_| {
            vec![
                "--delay",
                "5ms",
                "--reorder",
                "25%",
                "--reorder-delay",
                "5ms",
            ]
        },
    },
    Profile {
        name: "jitter",
        what: "10 ms ± 2 ms delay, 1% loss, 1% duplication both ways",
        netsim: |_| {
            vec![
                "--delay", "10ms", "--jitter", "2ms", "--loss", "1%", "--dup", "1%",
            ]
        },
    },
    Profile {
        name: "ackloss",
        what: "10% loss on the ACK path only",
        netsim: |d| match d {
            Direction::Download => vec!["--a2b-loss", "10%"],
            Direction::Upload => vec!["--b2a-loss", "10%"],
        },
    },
];

/// python's http.server on the kernel's TCP: GET serves the directory, POST echoes the body;
/// the congestion control is set on the listening socket (accepted sockets inherit it).
/// Arguments: address, port, directory, algorithm.
const KERNEL_SERVER: &str = r#"
import functools, http.server, socket, sys
addr, port, root, cc = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
class Handler(http.server.SimpleHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
class Server(http.server.ThreadingHTTPServer):
    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, cc.encode())
        super().server_bind()
Server((addr, port), functools.partial(Handler, directory=root)).serve_forever()
"#;

/// The upload client: python on the kernel's TCP with the congestion control set on its
/// socket (a namespace may only default to an algorithm the host allows), POSTs the file to
/// `/echo`, reads the echo, checks it byte for byte and prints the seconds. Arguments:
/// address, port, file, algorithm, timeout in seconds.
const UPLOAD_CLIENT: &str = r#"
import socket, sys, time
addr, port, path, cc, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5])
body = open(path, "rb").read()
start = time.monotonic()
s = socket.socket()
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, cc.encode())
s.settimeout(timeout)
s.connect((addr, port))
s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
data = b""
while True:
    chunk = s.recv(1 << 20)
    if not chunk:
        break
    data += chunk
    if time.monotonic() - start > timeout:
        sys.exit("timed out")
head, _, echoed = data.partition(b"\r\n\r\n")
if not head.startswith(b"HTTP/1.") or b" 200 " not in head.split(b"\r\n")[0] + b" ":
    sys.exit("bad status: %r" % head[:80])
if echoed != body:
    sys.exit("echo differs: %d bytes back of %d" % (len(echoed), len(body)))
print("%.3f" % (time.monotonic() - start))
"#;

/// A child process killed when dropped.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The three namespaces and the files.
struct Path3 {
    client: Netns,
    mid: Netns,
    server: Netns,
    site: TempDir,
    payload: PathBuf,
    payload_bytes: Vec<u8>,
}

impl Path3 {
    fn new(tag: &str, mib: usize) -> anyhow::Result<Path3> {
        let NetsimPath {
            client,
            mid,
            server,
        } = NetsimPath::new(tag)?;
        let site = TempDir::new("tm")?;
        harness::write_site(site.path())?;
        let payload_bytes = harness::pattern(mib << 20);
        std::fs::write(site.path().join("big.bin"), &payload_bytes)?;
        let payload = site.path().join("big.bin");
        Ok(Path3 {
            client,
            mid,
            server,
            site,
            payload,
            payload_bytes,
        })
    }

    /// One transfer from the client; its seconds, or an error (timeout, wrong bytes).
    fn transfer(
        &self,
        addr: Ipv4Addr,
        dir: Direction,
        cc: &str,
        max: Duration,
    ) -> anyhow::Result<f64> {
        let max_s = format!("{}", max.as_secs().max(1));
        let secs = match dir {
            Direction::Download => {
                let out = self.site.path().join("out.bin");
                let _ = std::fs::remove_file(&out);
                let url = format!("http://{addr}:{}/big.bin", harness::PORT);
                let out_s = out.to_string_lossy().into_owned();
                let secs = self
                    .client
                    .run(
                        "curl",
                        &[
                            "-sS",
                            "--max-time",
                            &max_s,
                            "-o",
                            &out_s,
                            "-w",
                            "%{time_total}",
                            &url,
                        ],
                    )
                    .with_context(|| format!("curl {url}"))?;
                if std::fs::read(&out)? != self.payload_bytes {
                    bail!("{url}: the bytes differ");
                }
                secs
            }
            Direction::Upload => self
                .client
                .run(
                    "python3",
                    &[
                        "-c",
                        UPLOAD_CLIENT,
                        &addr.to_string(),
                        &harness::PORT.to_string(),
                        &self.payload.to_string_lossy(),
                        cc,
                        &max_s,
                    ],
                )
                .with_context(|| format!("upload to {addr}"))?,
        };
        secs.trim().parse().context("the transfer's time")
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    boomerang::logging::init(Some("warn"));
    if !boomerang_nic::netns::is_root() {
        bail!("bench/tcp-matrix creates network namespaces and attaches XDP: run it as root");
    }
    let pick =
        |list: &str| -> Vec<String> { list.split(',').map(|s| s.trim().to_string()).collect() };
    let profiles: Vec<&Profile> = pick(&args.profiles)
        .iter()
        .map(|n| {
            PROFILES
                .iter()
                .find(|p| p.name == n)
                .with_context(|| format!("no profile {n}"))
        })
        .collect::<anyhow::Result<_>>()?;
    let ccs = pick(&args.cc);
    let dirs: Vec<Direction> = pick(&args.directions)
        .iter()
        .map(|d| match d.as_str() {
            "download" => Ok(Direction::Download),
            "upload" => Ok(Direction::Upload),
            o => Err(anyhow::anyhow!("no direction {o}")),
        })
        .collect::<anyhow::Result<_>>()?;
    let me = std::env::current_exe()?;
    let profile_dir = me
        .parent()
        .and_then(Path::parent)
        .context("target directory")?;
    let boomerang = profile_dir.join("boomerang");
    let netsim = profile_dir.join("examples").join("netsim");
    for bin in [&boomerang, &netsim] {
        if !bin.exists() {
            bail!("{} not found: bench/tcp-matrix builds it", bin.display());
        }
    }
    let path = Path3::new(&args.ns_tag, args.mib)?;
    let stop = boomerang::signals::cleanup_flag()?;
    let mut table = format!(
        "{} MiB per transfer (uploads echoed back), best of {} per server; seconds, lower is better\n\n| path | cc | direction | Linux | boomerang | ratio |\n|---|---|---|---:|---:|---:|\n",
        args.mib, args.runs
    );
    // The forwarder: a clean one while the servers start, one per profile and direction after.
    let forwarder = |impairment: &[&str]| -> anyhow::Result<ChildGuard> {
        let mut netsim_args = vec![
            "--a",
            "va",
            "--b",
            "vb",
            "--seed",
            "7",
            "--duration",
            "3600",
        ];
        netsim_args.extend(impairment);
        let fwd = ChildGuard(path.mid.spawn(&netsim.to_string_lossy(), &netsim_args)?);
        std::thread::sleep(Duration::from_millis(500));
        Ok(fwd)
    };
    for cc in &ccs {
        let mut fwd = forwarder(&[])?;
        let ours_cc = if cc == "reno" { "newreno" } else { cc.as_str() };
        let log = path.site.path().join("server.log");
        let serve_args = NetsimPath::serve_args(path.site.path(), ours_cc);
        let mut serve_args = serve_args;
        if let Some(p) = &args.pcap {
            serve_args.extend(["--pcap".to_string(), p.to_string_lossy().into_owned()]);
        }
        let mut ours = ServerProcess::spawn(
            &path.server,
            "boomerang",
            None,
            &boomerang,
            &serve_args,
            &log,
        )?;
        let never = AtomicBool::new(false);
        ours.wait_ready(
            &path.client,
            SocketAddr::from((OURS_ADDR, harness::PORT)),
            "/plaintext",
            &never,
        )?;
        let kernel = ChildGuard(path.server.spawn(
            "python3",
            &[
                "-c",
                KERNEL_SERVER,
                &KERNEL_ADDR.to_string(),
                &harness::PORT.to_string(),
                &path.site.path().to_string_lossy(),
                cc,
            ],
        )?);
        let kernel_url = format!("http://{KERNEL_ADDR}:{}/", harness::PORT);
        let start = Instant::now();
        while path
            .client
            .run(
                "curl",
                &["-sS", "--max-time", "2", "-o", "/dev/null", &kernel_url],
            )
            .is_err()
        {
            if start.elapsed() > Duration::from_secs(10) {
                bail!("the kernel server never answered");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        for profile in &profiles {
            for &dir in &dirs {
                drop(fwd);
                fwd = forwarder(&(profile.netsim)(dir))?;
                let (mut linux, mut ours_t) = (Vec::new(), Vec::new());
                for run in 0..args.runs {
                    // Alternate who goes first, so a trend in the machine's load hits both.
                    let order = if run % 2 == 0 {
                        [KERNEL_ADDR, OURS_ADDR]
                    } else {
                        [OURS_ADDR, KERNEL_ADDR]
                    };
                    for addr in order {
                        if stop.load(std::sync::atomic::Ordering::Relaxed) {
                            bail!("interrupted");
                        }
                        let r = path.transfer(addr, dir, cc, args.max_time);
                        let who = if addr == OURS_ADDR {
                            "boomerang"
                        } else {
                            "Linux"
                        };
                        match &r {
                            Ok(s) => eprintln!("{} {cc} {dir:?} {who}: {s:.2} s", profile.name),
                            Err(e) => eprintln!("{} {cc} {dir:?} {who}: {e:#}", profile.name),
                        }
                        if let Ok(s) = r {
                            if addr == OURS_ADDR {
                                ours_t.push(s)
                            } else {
                                linux.push(s)
                            }
                        }
                    }
                }
                let best = |v: &[f64]| v.iter().copied().reduce(f64::min);
                let cell = |v: Option<f64>| v.map_or("failed".to_string(), |s| format!("{s:.2}"));
                let ratio = match (best(&ours_t), best(&linux)) {
                    (Some(o), Some(l)) if l > 0.0 => format!("{:.2}", o / l),
                    _ => "-".into(),
                };
                let _ = writeln!(
                    table,
                    "| {} | {cc} | {} | {} | {} | {ratio} |",
                    profile.what,
                    if dir == Direction::Download {
                        "download"
                    } else {
                        "upload + echo"
                    },
                    cell(best(&linux)),
                    cell(best(&ours_t)),
                );
                println!("{}", table.lines().last().unwrap_or_default());
            }
        }
        drop(kernel);
        let _ = ours.stop(harness::STOP_TIMEOUT);
        drop(fwd);
    }
    println!("\n{table}");
    std::fs::write(&args.markdown, &table)?;
    println!("wrote {}", args.markdown.display());
    Ok(())
}
