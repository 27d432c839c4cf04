//! Helpers shared by the AF_XDP integration tests: locating and running the built examples.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use boomerang_nic::netns::Netns;

pub mod frames;

/// How long a started example may take to attach its program and print its ready line.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The path of an example of this package (`<target>/<profile>/examples/<name>`), built on
/// first use with this test binary's profile.
pub fn example(name: &str) -> PathBuf {
    boomerang_nic::netns::built_example(name).unwrap_or_else(|e| panic!("{e}"))
}

/// A process started inside a namespace, killed (by PID) and reaped on drop.
pub struct Proc {
    /// The child.
    pub child: Child,
    /// Lines the child prints on stdout after the ready line.
    pub lines: mpsc::Receiver<String>,
    /// The ready line.
    pub ready: String,
}

impl Proc {
    /// Starts `program args…` in `ns` and waits for a stdout line starting with `ready_prefix`.
    pub fn start(ns: &Netns, program: &Path, args: &[&str], ready_prefix: &str) -> Proc {
        let mut child = ns
            .command(program.to_str().expect("utf-8 path"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn example");
        let stdout: ChildStdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut proc = Proc {
            child,
            lines: rx,
            ready: String::new(),
        };
        loop {
            match proc.lines.recv_timeout(READY_TIMEOUT) {
                Ok(l) if l.starts_with(ready_prefix) => {
                    proc.ready = l;
                    return proc;
                }
                Ok(_) => continue,
                Err(_) => {
                    let status = proc.child.try_wait().ok().flatten();
                    panic!(
                        "{} never became ready (exit: {status:?})",
                        program.display()
                    );
                }
            }
        }
    }

    /// Sends SIGKILL to the child (by its PID) and reaps it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits (bounded) for the exit; returns the remaining stdout lines.
    pub fn terminate(&mut self) -> Vec<String> {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let mut out = Vec::new();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(10)) {
            out.push(l);
        }
        let _ = self.child.wait();
        out
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill9();
        }
    }
}

/// The MAC of `ifname` in `ns`, as `ip link` prints it.
pub fn mac_of(ns: &Netns, ifname: &str) -> String {
    let out = ns.ip(&["-o", "link", "show", ifname]).expect("ip link");
    out.split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .expect("link/ether in ip link output")
        .to_string()
}

/// Whether `ifname` in `ns` has an XDP program attached.
pub fn has_xdp(ns: &Netns, ifname: &str) -> bool {
    let out = ns.ip(&["link", "show", ifname]).expect("ip link");
    out.contains("xdp")
}

/// Whether the XDP program on `ifname` is gone within `timeout`.
///
/// The kernel releases a closed bpf_link's attachment shortly after the last descriptor is
/// closed, not always before `close` returns; poll, bounded, instead of racing it.
pub fn xdp_gone_within(ns: &Netns, ifname: &str, timeout: Duration) -> bool {
    let start = std::time::Instant::now();
    loop {
        if !has_xdp(ns, ifname) {
            return true;
        }
        if start.elapsed() >= timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `aa:bb:cc:dd:ee:ff` as bytes.
pub fn parse_mac(s: &str) -> [u8; 6] {
    let mut m = [0u8; 6];
    for (d, p) in m.iter_mut().zip(s.split(':')) {
        *d = u8::from_str_radix(p, 16).expect("hex");
    }
    m
}
