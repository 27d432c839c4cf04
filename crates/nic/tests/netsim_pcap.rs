//! `netsim --pcap`: each interface's capture shows what went in and what came out after the
//! impairments, readable by tshark.

mod netsim_util;

use std::process::Command;

use netsim_util::{ping, Topology};

fn count(path: &std::path::Path, filter: &str) -> usize {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(path)
        .args(["-Y", filter])
        .output()
        .expect("tshark");
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// A temporary directory removed when dropped (also when the test panics).
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn captures_show_ingress_and_impaired_egress() {
    boomerang_nic::need_root!();
    if Command::new("tshark").arg("--version").output().is_err() {
        eprintln!("skipped: tshark not installed");
        return;
    }
    let tmp = TempDir::new("bmr-netsim-pcap");
    let dir = &tmp.0;
    let prefix = dir.join("cap");
    let topo = Topology::new("npc");
    topo.static_neighbours();
    let sim = topo.netsim(&[
        "--a2b-loss",
        "25%",
        "--seed",
        "41",
        "--pcap",
        prefix.to_str().expect("path"),
    ]);
    let p = ping(&topo, 40, "0.02");
    let (a2b, _) = sim.stop();
    let a = dir.join("cap-a.pcap");
    let b = dir.join("cap-b.pcap");
    let requests_in = count(&a, "icmp.type == 8");
    let requests_out = count(&b, "icmp.type == 8");
    let replies_in = count(&b, "icmp.type == 0");
    let replies_out = count(&a, "icmp.type == 0");
    assert_eq!(requests_in, 40);
    assert!(a2b.dropped > 0, "{a2b:?}");
    assert_eq!(requests_out as u64, 40 - a2b.dropped);
    assert_eq!(replies_in, requests_out);
    assert_eq!(replies_out, replies_in);
    assert_eq!(p.received as usize, replies_out);
}
