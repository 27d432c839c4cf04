//! Bigger and cheaper frames end to end, with the Linux kernel as the client behind a router:
//! at MTU 9000 on every link (copy mode on veth, multi-buffer AF_XDP) a download and an
//! upload byte-exact, carried in frames larger than one UMEM chunk; with TCP checksum
//! offload (AF_XDP TX metadata) a download byte-exact and no checksum error at the client.
//! Needs root; skipped (with a message) otherwise.

use std::path::Path;

use boomerang::harness::{self, ServerProcess, TempDir, Topology};
use boomerang_nic::netns::{is_root, Netns};

const BIN: &str = env!("CARGO_BIN_EXE_boomerang");
const MTU: u32 = 9000;

/// Starts `boomerang serve` on AF_XDP with `extra` arguments on a topology with `mtu`.
fn start(tag: &str, mtu: u32, extra: &[&str]) -> (ServerProcess, Topology, TempDir) {
    let site = TempDir::new(tag).expect("site dir");
    harness::write_site(site.path()).expect("site");
    let topo = Topology::new(tag, false).expect("topology");
    if mtu != 1500 {
        topo.set_mtu(mtu).expect("MTU");
    }
    let mut args = harness::xdp_serve_args(site.path());
    args.extend(extra.iter().map(|s| s.to_string()));
    let server = harness::start_serve(&topo, Path::new(BIN), &args, site.path())
        .expect("boomerang serve ready");
    (server, topo, site)
}

/// The client namespace's `TcpInCsumErrors` (nstat, absolute).
fn tcp_csum_errors(ns: &Netns) -> u64 {
    let out = ns.run("nstat", &["-az", "TcpInCsumErrors"]).expect("nstat");
    out.lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("TcpInCsumErrors")).then(|| w.next()?.parse().ok())?
        })
        .unwrap_or(0)
}

#[test]
fn checksum_offload_download_is_byte_exact_without_checksum_errors() {
    if !is_root() {
        eprintln!("skipped: needs root (network namespaces, XDP)");
        return;
    }
    let (server, topo, site) = start("ncco", 1500, &["--checksum-offload"]);
    let big = harness::pattern(5 << 20);
    std::fs::write(site.path().join("5m.bin"), &big).expect("write");
    let out = site.path().join("5m.out");
    let before = tcp_csum_errors(&topo.ns.client);
    topo.ns
        .client
        .run(
            "curl",
            &[
                "-sS",
                "--max-time",
                "60",
                "-o",
                &out.to_string_lossy(),
                &topo.url("/5m.bin"),
            ],
        )
        .unwrap_or_else(|e| panic!("curl: {e}\n{}", server.log_tail(30)));
    assert!(
        std::fs::read(&out).expect("downloaded") == big,
        "download differs"
    );
    assert_eq!(tcp_csum_errors(&topo.ns.client), before);
    let tail = plain(&server.log_tail(200));
    assert!(tail.contains("tx_checksum_offload=true"), "{tail}");
}

/// (bytes, packets) received by `ifname` in `ns`.
fn rx_counts(ns: &Netns, ifname: &str) -> (u64, u64) {
    let read = |what: &str| -> u64 {
        ns.run(
            "cat",
            &[&format!("/sys/class/net/{ifname}/statistics/{what}")],
        )
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
    };
    (read("rx_bytes"), read("rx_packets"))
}

/// `text` without ANSI colour sequences (`ESC [ … m`).
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn download_and_upload_at_mtu_9000_are_byte_exact() {
    if !is_root() {
        eprintln!("skipped: needs root (network namespaces, XDP)");
        return;
    }
    // Multi-buffer AF_XDP is the default when the MTU needs it: no flag.
    let (server, topo, site) = start("ncj", MTU, &[]);
    let big = harness::pattern(5 << 20);
    std::fs::write(site.path().join("5m.bin"), &big).expect("write");
    let curl = |args: &[&str]| -> String {
        let mut all = vec!["-sS", "--max-time", "60"];
        all.extend_from_slice(args);
        match topo.ns.client.run("curl", &all) {
            Ok(out) => out,
            Err(e) => panic!("curl {args:?}: {e}\n{}", server.log_tail(30)),
        }
    };

    // sysfs shows the namespace it was mounted in, so read the counters from inside.
    let (b0, p0) = rx_counts(&topo.ns.client, "veth0");
    let out = site.path().join("5m.out");
    curl(&["-o", &out.to_string_lossy(), &topo.url("/5m.bin")]);
    let (b1, p1) = rx_counts(&topo.ns.client, "veth0");
    assert!(
        std::fs::read(&out).expect("downloaded") == big,
        "download differs"
    );
    // Segments of a 1500-byte MTU average under 1,514 bytes a frame; jumbo ones far more.
    let avg = (b1 - b0) / (p1 - p0).max(1);
    assert!(
        avg > 4000,
        "average frame {avg} bytes: no jumbo frames\n{}",
        server.log_tail(20)
    );

    let up = site.path().join("2m.up");
    std::fs::write(&up, &big[..2 << 20]).expect("write");
    let back = site.path().join("2m.back");
    curl(&[
        "--data-binary",
        &format!("@{}", up.to_string_lossy()),
        "-H",
        "Content-Type: application/octet-stream",
        "-o",
        &back.to_string_lossy(),
        &topo.url("/echo"),
    ]);
    assert!(
        std::fs::read(&back).expect("echoed") == big[..2 << 20],
        "upload differs"
    );
    let tail = plain(&server.log_tail(200));
    assert!(tail.contains("multi_buffer=true"), "{tail}");
    assert!(tail.contains("mtu=9000"), "{tail}");
    assert!(tail.contains("mss=8960"), "{tail}");
}
