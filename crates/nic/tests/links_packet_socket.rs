//! PacketSocket against the Linux kernel in a namespace pair: an ARP request built by hand
//! gets the kernel's reply, the kernel learns our MAC, and our own frames are not echoed.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use boomerang_nic::netns::Pair;
use boomerang_nic::packet_socket::{PacketSocket, PacketSocketConfig};
use boomerang_nic::Device;

/// Bound on how long we wait for the kernel's answer.
const REPLY_TIMEOUT: Duration = Duration::from_secs(3);

/// An ARP frame (RFC 826, Ethernet/IPv4) with operation `op` (1 request, 2 reply).
fn arp(
    op: u16,
    eth_dst: [u8; 6],
    sha: [u8; 6],
    spa: Ipv4Addr,
    tha: [u8; 6],
    tpa: Ipv4Addr,
) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&eth_dst);
    f.extend_from_slice(&sha);
    f.extend_from_slice(&[0x08, 0x06]);
    f.extend_from_slice(&[0, 1, 0x08, 0, 6, 4]);
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&sha);
    f.extend_from_slice(&spa.octets());
    f.extend_from_slice(&tha);
    f.extend_from_slice(&tpa.octets());
    f
}

#[test]
fn arp_request_gets_the_kernels_reply() {
    boomerang_nic::need_root!();
    // The server's kernel has no address: only our frames speak for 198.18.0.2.
    let pair = Pair::new("lps", 1, false).expect("namespaces");
    let client_mac = pair
        .client
        .enter(|| PacketSocket::open(Pair::IFNAME).map(|s| s.mac()))
        .expect("enter")
        .expect("open on client");

    let (our_mac, frames, echoed) = pair
        .server
        .enter(move || {
            let mut sock = PacketSocket::open(Pair::IFNAME).expect("open");
            let mac = sock.mac();
            assert_eq!(sock.max_frame_len(), 1514);
            let request = arp(
                1,
                [0xff; 6],
                mac,
                Pair::SERVER_ADDR,
                [0; 6],
                Pair::CLIENT_ADDR,
            );
            let t = Instant::now();
            assert!(sock.transmit(t, &mut |buf: &mut [u8]| {
                buf[..request.len()].copy_from_slice(&request);
                request.len()
            }));
            assert_eq!(sock.tx_pending(), 1);
            sock.flush(t);
            assert_eq!(sock.tx_pending(), 0);
            assert_eq!(sock.stats().tx_frames, 1);

            let deadline = Instant::now() + REPLY_TIMEOUT;
            let mut frames: Vec<Vec<u8>> = Vec::new();
            let mut echoed = 0;
            while Instant::now() < deadline {
                sock.receive(Instant::now(), 64, &mut |f: &[u8]| {
                    if f.get(6..12) == Some(&mac[..]) {
                        echoed += 1;
                    }
                    frames.push(f.to_vec());
                });
                if frames.iter().any(|f| f.get(20..22) == Some(&[0, 2])) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            (mac, frames, echoed)
        })
        .expect("enter");

    assert_eq!(echoed, 0, "our own transmission came back");
    let reply = frames
        .iter()
        .find(|f| f.get(20..22) == Some(&[0, 2]))
        .unwrap_or_else(|| panic!("no ARP reply among {} frames", frames.len()));
    // The kernel's reply, minus padding to the 60-byte minimum: exactly RFC 826's answer.
    let want = arp(
        2,
        our_mac,
        client_mac,
        Pair::CLIENT_ADDR,
        our_mac,
        Pair::SERVER_ADDR,
    );
    assert_eq!(&reply[..42], &want[..], "reply {reply:02x?}");

    // The client's kernel learned our address from the request.
    let neigh = pair
        .client
        .ip(&["neigh", "show", &Pair::SERVER_ADDR.to_string()])
        .expect("neigh");
    let mac_text = our_mac
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    assert!(neigh.contains(&mac_text), "{neigh}");
}

#[test]
fn kernel_traffic_is_received() {
    boomerang_nic::need_root!();
    let pair = Pair::new("lpr", 1, false).expect("namespaces");
    let handle = pair
        .server
        .spawn_thread(|| {
            let mut sock = PacketSocket::open(Pair::IFNAME).expect("open");
            let deadline = Instant::now() + REPLY_TIMEOUT;
            let mut asked = false;
            while Instant::now() < deadline && !asked {
                sock.receive(Instant::now(), 64, &mut |f: &[u8]| {
                    // A broadcast ARP request for the server's address.
                    asked |= f.len() >= 42
                        && f[..6] == [0xff; 6]
                        && f[12..14] == [0x08, 0x06]
                        && f[20..22] == [0, 1]
                        && f[38..42] == Pair::SERVER_ADDR.octets();
                });
                std::thread::sleep(Duration::from_millis(5));
            }
            asked
        })
        .expect("thread");
    // Nobody answers ARP for .2, so ping fails; its ARP requests are what we look for.
    let _ = pair.client.run(
        "ping",
        &[
            "-c",
            "2",
            "-i",
            "0.2",
            "-W",
            "1",
            &Pair::SERVER_ADDR.to_string(),
        ],
    );
    assert!(handle.join().expect("join"), "no ARP request seen");
}

#[test]
fn promiscuous_mode_lasts_as_long_as_the_socket() {
    boomerang_nic::need_root!();
    let pair = Pair::new("lpp", 1, false).expect("namespaces");
    let promiscuity = |pair: &Pair| -> String {
        let out = pair
            .server
            .ip(&["-d", "link", "show", Pair::IFNAME])
            .expect("link");
        out.split_whitespace()
            .skip_while(|w| *w != "promiscuity")
            .nth(1)
            .unwrap_or("?")
            .to_string()
    };
    assert_eq!(promiscuity(&pair), "0");
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (opened_tx, opened) = std::sync::mpsc::channel::<()>();
    let handle = pair
        .server
        .spawn_thread(move || {
            let cfg = PacketSocketConfig {
                promiscuous: true,
                ..PacketSocketConfig::default()
            };
            let sock = PacketSocket::open_with(Pair::IFNAME, &cfg).expect("open");
            let _ = opened_tx.send(());
            let _ = rx.recv_timeout(REPLY_TIMEOUT);
            drop(sock);
        })
        .expect("thread");
    opened.recv_timeout(REPLY_TIMEOUT).expect("opened");
    assert_eq!(promiscuity(&pair), "1");
    tx.send(()).expect("signal");
    handle.join().expect("join");
    assert_eq!(promiscuity(&pair), "0");
}

#[test]
fn frames_longer_than_max_frame_len_are_counted_not_delivered() {
    boomerang_nic::need_root!();
    let pair = Pair::new("lpo", 1, false).expect("namespaces");
    pair.client
        .ip(&["link", "set", Pair::IFNAME, "mtu", "9000"])
        .expect("mtu");
    // The server side keeps MTU 1500: veth still passes frames up to 1500 + 14 + 4.
    let (ready_tx, ready) = std::sync::mpsc::channel::<()>();
    let server = pair
        .server
        .spawn_thread(move || {
            let mut sock = PacketSocket::open(Pair::IFNAME).expect("open");
            let _ = ready_tx.send(());
            let mut lens = Vec::new();
            let deadline = Instant::now() + REPLY_TIMEOUT;
            while Instant::now() < deadline && sock.stats().rx_truncated == 0 {
                sock.receive(Instant::now(), 64, &mut |f: &[u8]| lens.push(f.len()));
                std::thread::sleep(Duration::from_millis(5));
            }
            (lens, sock.stats(), sock.max_frame_len())
        })
        .expect("thread");
    ready.recv_timeout(REPLY_TIMEOUT).expect("server ready");
    pair.client
        .enter(|| {
            let mut sock = PacketSocket::open(Pair::IFNAME).expect("open");
            let t = Instant::now();
            for len in [1514usize, 1518] {
                assert!(sock.transmit(t, &mut |buf: &mut [u8]| {
                    buf[..len].fill(0);
                    buf[..6].copy_from_slice(&[0xff; 6]);
                    buf[12..14].copy_from_slice(&[0x88, 0xb5]); // local experimental EtherType
                    len
                }));
            }
            sock.flush(t);
            assert_eq!(sock.stats().tx_frames, 2);
        })
        .expect("enter");
    let (lens, stats, max) = server.join().expect("join");
    assert_eq!(max, 1514);
    assert!(lens.contains(&1514), "{lens:?}");
    assert!(lens.iter().all(|l| *l <= max), "{lens:?}");
    assert_eq!(stats.rx_truncated, 1, "{stats:?}");
}

#[test]
fn kernel_drops_accumulate_across_reads() {
    boomerang_nic::need_root!();
    let pair = Pair::new("lpk", 1, false).expect("namespaces");
    let (step_tx, step) = std::sync::mpsc::channel::<()>();
    let (seen_tx, seen) = std::sync::mpsc::channel::<u64>();
    let server = pair
        .server
        .spawn_thread(move || {
            // The smallest receive buffer the kernel allows: a burst overflows it at once.
            let cfg = PacketSocketConfig {
                rcvbuf: 1,
                ..PacketSocketConfig::default()
            };
            let sock = PacketSocket::open_with(Pair::IFNAME, &cfg).expect("open");
            for _ in 0..3 {
                let _ = seen_tx.send(sock.kernel_drops().expect("stats"));
                if step.recv_timeout(REPLY_TIMEOUT).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            sock.kernel_drops().expect("stats")
        })
        .expect("thread");
    let burst = |pair: &Pair| {
        pair.client
            .enter(|| {
                let mut sock = PacketSocket::open(Pair::IFNAME).expect("open");
                let t = Instant::now();
                for _ in 0..200 {
                    while !sock.transmit(t, &mut |buf: &mut [u8]| {
                        buf[..1000].fill(0);
                        buf[..6].copy_from_slice(&[0xff; 6]);
                        buf[12..14].copy_from_slice(&[0x88, 0xb5]);
                        1000
                    }) {
                        sock.flush(t);
                    }
                }
                sock.flush(t);
            })
            .expect("enter")
    };
    assert_eq!(seen.recv_timeout(REPLY_TIMEOUT).expect("first"), 0);
    burst(&pair);
    step_tx.send(()).expect("step");
    let d1 = seen.recv_timeout(REPLY_TIMEOUT).expect("second");
    burst(&pair);
    step_tx.send(()).expect("step");
    let d2 = seen.recv_timeout(REPLY_TIMEOUT).expect("third");
    step_tx.send(()).expect("step");
    let d3 = server.join().expect("join");
    assert!(d1 > 0, "no drops with a tiny buffer");
    assert!(d2 > d1, "{d1} then {d2}");
    // No new traffic: the total stays (a reset-on-read counter would show 0 here).
    assert_eq!(d3, d2);
}
