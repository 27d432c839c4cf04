//! AF_XDP receive path against a real kernel peer: ARP and ICMP sent by the client's kernel
//! land in our socket (copy mode on veth), and the fd wakes `mio::Poll`.

use std::net::Ipv4Addr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use boomerang_nic::netns::Pair;
use boomerang_nic::xsk::{BindMode, XdpConfig, XdpCounters, XdpMode, XdpSetup};
use boomerang_nic::Device;

/// How long the receiving thread waits for the expected frames.
const RX_DEADLINE: Duration = Duration::from_secs(10);

struct Received {
    frames: Vec<Vec<u8>>,
    counters: XdpCounters,
    in_use_after: u32,
    frame_count: u32,
    ring_size: u32,
}

fn is_arp_request_for(f: &[u8], target: Ipv4Addr) -> bool {
    f.len() >= 42
        && f[12..14] == [0x08, 0x06]
        && f[20..22] == [0, 1]
        && f[38..42] == target.octets()
}

fn is_icmp_echo_to(f: &[u8], dst: Ipv4Addr) -> bool {
    f.len() >= 42
        && f[12..14] == [0x08, 0x00]
        && f[23] == 1
        && f[30..34] == dst.octets()
        && f[34] == 8
}

#[test]
fn receives_arp_and_icmp_from_kernel_peer() {
    boomerang_nic::need_root!();
    let pair = Pair::new("xr", 1, false).expect("namespaces");
    let (ready_tx, ready_rx) = mpsc::channel();
    let server = pair
        .server
        .spawn_thread(move || -> Result<Received, String> {
            let mut cfg = XdpConfig::new(Pair::IFNAME);
            cfg.addrs = vec![Pair::SERVER_ADDR];
            cfg.frame_count = 256;
            cfg.ring_size = 128;
            // User headroom: frames start later in their chunks and must still be whole.
            cfg.headroom = 64;
            let mut setup = XdpSetup::open(&cfg).map_err(|e| e.to_string())?;
            let mut q = setup.take_queues().pop().ok_or("no queue")?;
            assert_eq!(q.bind_mode(), BindMode::Copy, "veth has no zero-copy");
            assert_eq!(q.rx_capacity(), 4096 - 256 - 64);
            assert_eq!(
                setup.xdp_mode(),
                XdpMode::Native,
                "veth supports native XDP"
            );
            let _ = ready_tx.send(setup.mac());

            let mut poll = mio::Poll::new().map_err(|e| e.to_string())?;
            let mut events = mio::Events::with_capacity(4);
            poll.registry()
                .register(&mut q, mio::Token(0), mio::Interest::READABLE)
                .map_err(|e| e.to_string())?;
            let mut frames = Vec::new();
            let start = Instant::now();
            let mut arp = false;
            let mut icmp = 0;
            while start.elapsed() < RX_DEADLINE && !(arp && icmp >= 2) {
                poll.poll(&mut events, Some(Duration::from_millis(200)))
                    .map_err(|e| e.to_string())?;
                q.receive(Instant::now(), 64, &mut |f| {
                    arp |= is_arp_request_for(f, Pair::SERVER_ADDR);
                    icmp += usize::from(is_icmp_echo_to(f, Pair::SERVER_ADDR));
                    frames.push(f.to_vec());
                });
            }
            Ok(Received {
                frames,
                counters: setup.counters().map_err(|e| e.to_string())?,
                in_use_after: q.frames_in_use(),
                frame_count: q.frame_count(),
                ring_size: 128,
            })
        })
        .expect("server thread");
    let mac = ready_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("server ready");

    // ARP: the kernel asks for our address (no answer here: nobody replies in this test).
    let _ = pair.client.run(
        "arping",
        &[
            "-c",
            "2",
            "-w",
            "2",
            "-I",
            "veth0",
            &Pair::SERVER_ADDR.to_string(),
        ],
    );
    // ICMP: pin our MAC in the client's neighbour table so the kernel sends the echo.
    let lladdr = mac
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    pair.client
        .ip(&[
            "neigh",
            "replace",
            &Pair::SERVER_ADDR.to_string(),
            "lladdr",
            &lladdr,
            "dev",
            "veth0",
            "nud",
            "permanent",
        ])
        .expect("static neighbour");
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

    let got = server.join().expect("join").expect("server side");
    assert!(
        got.frames
            .iter()
            .any(|f| is_arp_request_for(f, Pair::SERVER_ADDR)),
        "no ARP request for our address among {} frames",
        got.frames.len()
    );
    let echoes = got
        .frames
        .iter()
        .filter(|f| is_icmp_echo_to(f, Pair::SERVER_ADDR))
        .count();
    assert!(echoes >= 2, "expected 2 echo requests, got {echoes}");
    assert!(
        got.counters.redirected >= got.frames.len() as u64,
        "program counted {:?} for {} frames",
        got.counters,
        got.frames.len()
    );
    // Every received chunk went back: only the fill ring holds chunks now.
    assert!(
        got.in_use_after <= got.ring_size,
        "{} of {} chunks still in use",
        got.in_use_after,
        got.frame_count
    );
}

#[test]
fn redirect_all_mode_takes_frames_for_any_address() {
    boomerang_nic::need_root!();
    // An address nobody claims: only the redirect-everything mode brings it to the socket.
    let other = Ipv4Addr::new(198, 18, 0, 77);
    let pair = Pair::new("xa", 1, false).expect("namespaces");
    let (ready_tx, ready_rx) = mpsc::channel();
    let server = pair
        .server
        .spawn_thread(move || -> Result<(usize, XdpCounters), String> {
            let mut cfg = XdpConfig::new(Pair::IFNAME);
            cfg.frame_count = 256;
            cfg.ring_size = 128;
            cfg.redirect_all = true;
            let mut setup = XdpSetup::open(&cfg).map_err(|e| e.to_string())?;
            let mut q = setup.take_queues().pop().ok_or("no queue")?;
            let _ = ready_tx.send(setup.mac());
            let start = Instant::now();
            let mut echoes = 0;
            while start.elapsed() < RX_DEADLINE && echoes < 2 {
                q.receive(Instant::now(), 64, &mut |f| {
                    echoes += usize::from(is_icmp_echo_to(f, other));
                });
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok((echoes, setup.counters().map_err(|e| e.to_string())?))
        })
        .expect("server thread");
    let mac = ready_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("server ready");
    let lladdr = mac
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    pair.client
        .ip(&[
            "neigh",
            "replace",
            &other.to_string(),
            "lladdr",
            &lladdr,
            "dev",
            "veth0",
            "nud",
            "permanent",
        ])
        .expect("static neighbour");
    let _ = pair.client.run(
        "ping",
        &["-c", "2", "-i", "0.2", "-W", "1", &other.to_string()],
    );
    let (echoes, counters) = server.join().expect("join").expect("server side");
    assert_eq!(
        echoes, 2,
        "echo requests to an unclaimed address reached the socket"
    );
    assert!(counters.redirected >= 2, "{counters:?}");
}

#[test]
fn queues_can_be_reopened_right_after_close() {
    boomerang_nic::need_root!();
    let pair = Pair::new("xo", 2, false).expect("namespaces");
    let r = pair
        .server
        .enter(|| -> Result<u32, String> {
            let n = boomerang_nic::xsk::rx_queue_count(Pair::IFNAME).map_err(|e| e.to_string())?;
            let mut cfg = XdpConfig::new(Pair::IFNAME);
            cfg.queues = (0..n).collect();
            cfg.frame_count = 128;
            cfg.ring_size = 64;
            // The kernel releases a closed socket's queue asynchronously: reopening at once
            // must still work (the driver retries EBUSY for a bounded time).
            for _ in 0..5 {
                let mut setup = XdpSetup::open(&cfg).map_err(|e| e.to_string())?;
                drop(setup.take_queues());
                drop(setup);
            }
            Ok(n)
        })
        .expect("enter");
    assert_eq!(r, Ok(2));
}
