//! The pcap wrapper's files are readable by tshark: frames, order and timestamps survive.

use std::process::Command;
use std::time::{Duration, Instant, UNIX_EPOCH};

use boomerang_nic::memlink::MemLink;
use boomerang_nic::pcap::{PcapMode, PcapWriter};
use boomerang_nic::Device;

const A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
const B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];

/// An ARP request (RFC 826) from `sha`/`spa` asking for `tpa`, broadcast.
fn arp_request(sha: [u8; 6], spa: [u8; 4], tpa: [u8; 4]) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&sha);
    f.extend_from_slice(&[0x08, 0x06]); // EtherType ARP
    f.extend_from_slice(&[0, 1, 0x08, 0, 6, 4, 0, 1]); // Ethernet/IPv4, request
    f.extend_from_slice(&sha);
    f.extend_from_slice(&spa);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&tpa);
    f
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
fn tshark_reads_what_the_wrapper_wrote() {
    if Command::new("tshark").arg("--version").output().is_err() {
        eprintln!("skipped: tshark not installed");
        return;
    }
    let tmp = TempDir::new("bmr-links-pcap");
    let dir = &tmp.0;
    let path = dir.join("capture.pcap");

    let (a, mut b) = MemLink::pair(A, B, 1514);
    let t0 = Instant::now();
    let wall = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let file = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
    let mut a = PcapWriter::new(a, file, PcapMode::Both, wall, t0).expect("pcap header");
    for i in 0..3u8 {
        let frame = arp_request(A, [198, 18, 0, 1], [198, 18, 0, 10 + i]);
        let now = t0 + Duration::from_millis(u64::from(i) * 10);
        assert!(a.transmit(now, &mut |buf: &mut [u8]| {
            buf[..frame.len()].copy_from_slice(&frame);
            frame.len()
        }));
    }
    let reply = arp_request(B, [198, 18, 0, 2], [198, 18, 0, 1]);
    assert!(b.transmit(t0, &mut |buf: &mut [u8]| {
        buf[..reply.len()].copy_from_slice(&reply);
        reply.len()
    }));
    assert_eq!(
        a.receive(t0 + Duration::from_millis(30), 8, &mut |_f: &[u8]| {}),
        1
    );
    assert_eq!(a.frames_written(), 4);
    drop(a); // flushes the BufWriter

    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&path)
        .args([
            "-T",
            "fields",
            "-e",
            "frame.time_epoch",
            "-e",
            "arp.src.proto_ipv4",
            "-e",
            "arp.dst.proto_ipv4",
        ])
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 4, "{text}");
    let want = [
        ("1800000000.000000000", "198.18.0.1", "198.18.0.10"),
        ("1800000000.010000000", "198.18.0.1", "198.18.0.11"),
        ("1800000000.020000000", "198.18.0.1", "198.18.0.12"),
        ("1800000000.030000000", "198.18.0.2", "198.18.0.1"),
    ];
    for (row, (ts, src, dst)) in rows.iter().zip(want) {
        assert_eq!(row.len(), 3, "{text}");
        assert_eq!(row[0], ts, "{text}");
        assert_eq!(row[1], src, "{text}");
        assert_eq!(row[2], dst, "{text}");
    }
}
