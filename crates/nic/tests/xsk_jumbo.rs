//! Multi-buffer AF_XDP at MTU 9000 (copy mode on veth): jumbo UDP datagrams sent by the
//! kernel peer arrive through `Device::receive` whole (gathered from several chunks), and
//! the echoes written through `Device::transmit` (split over several chunks) reach the kernel
//! peer byte-exact, checksums verified by its UDP.

mod xsk_util;

use std::net::{SocketAddrV4, UdpSocket};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use boomerang_nic::netns::{is_root, Pair};
use boomerang_nic::xsk::{XdpConfig, XdpSetup};
use boomerang_nic::Device;
use xsk_util::frames::{udp_frame, UDP_OVERHEAD};

const MTU: u32 = 9000;
const PORT: u16 = 7777;
const CLIENT_PORT: u16 = 40001;
/// Payload sizes: one chunk, two chunks, the largest datagram at MTU 9000.
const SIZES: [usize; 4] = [1000, 5000, 8000, MTU as usize - 28];
const DEADLINE: Duration = Duration::from_secs(10);
/// Small frames sent after the echoes: three times the TX ring.
const SMALL: usize = 3 * 128;

fn payload(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| (j * 31 + i * 7) as u8).collect()
}

#[test]
fn jumbo_frames_cross_several_chunks_both_ways() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let pair = Pair::new("ncj", 1, false).expect("namespaces");
    for ns in [&pair.client, &pair.server] {
        ns.ip(&["link", "set", "dev", Pair::IFNAME, "mtu", &MTU.to_string()])
            .expect("MTU 9000");
    }
    let client_mac = xsk_util::parse_mac(&xsk_util::mac_of(&pair.client, Pair::IFNAME));
    let server_mac = xsk_util::mac_of(&pair.server, Pair::IFNAME);
    pair.client
        .ip(&[
            "neigh",
            "replace",
            &Pair::SERVER_ADDR.to_string(),
            "lladdr",
            &server_mac,
            "dev",
            Pair::IFNAME,
        ])
        .expect("static neighbour");

    let (ready_tx, ready_rx) = mpsc::channel();
    let server = pair
        .server
        .spawn_thread(move || {
            let mut cfg = XdpConfig::new(Pair::IFNAME);
            cfg.frame_count = 512;
            cfg.ring_size = 128;
            cfg.addrs = vec![Pair::SERVER_ADDR];
            cfg.multi_buffer = true;
            let mut setup = XdpSetup::open(&cfg).expect("open");
            let mut q = setup.take_queues().pop().expect("queue");
            let mac = setup.mac();
            assert!(q.multi_buffer(), "XDP_USE_SG refused");
            assert_eq!(q.max_frame_len(), MTU as usize + 14);
            ready_tx.send(()).expect("ready");
            let mut got: Vec<Vec<u8>> = Vec::new();
            let start = Instant::now();
            while got.len() < SIZES.len() && start.elapsed() < DEADLINE {
                q.receive(Instant::now(), 64, &mut |f| {
                    let udp_to_us = f.len() > UDP_OVERHEAD
                        && f[12..14] == [0x08, 0x00]
                        && f[23] == 17
                        && f[36..38] == PORT.to_be_bytes();
                    if udp_to_us {
                        got.push(f[UDP_OVERHEAD..].to_vec());
                    }
                });
                std::thread::sleep(Duration::from_millis(1));
            }
            // Echo each datagram back through frames that span several chunks.
            for p in &got {
                let sent = q.transmit(Instant::now(), &mut |buf| {
                    udp_frame(
                        buf,
                        mac,
                        client_mac,
                        Pair::SERVER_ADDR,
                        Pair::CLIENT_ADDR,
                        PORT,
                        CLIENT_PORT,
                        p,
                    )
                });
                assert!(sent, "no room to transmit");
            }
            q.flush(Instant::now());
            // Then small frames, three times the ring: each needs room for a jumbo frame
            // (three chunks and three ring slots) and must find it as the kernel catches up.
            let mut small = 0;
            let start = Instant::now();
            while small < SMALL && start.elapsed() < DEADLINE {
                let sent = q.transmit(Instant::now(), &mut |buf| {
                    let p = (small as u64).to_be_bytes();
                    udp_frame(
                        buf,
                        mac,
                        client_mac,
                        Pair::SERVER_ADDR,
                        Pair::CLIENT_ADDR,
                        PORT,
                        CLIENT_PORT,
                        &p,
                    )
                });
                if sent {
                    small += 1;
                } else {
                    q.flush(Instant::now());
                }
            }
            assert_eq!(small, SMALL, "transmit stalled");
            q.flush(Instant::now());
            let start = Instant::now();
            while q.tx_pending() > 0 && start.elapsed() < DEADLINE {
                q.flush(Instant::now());
                std::thread::sleep(Duration::from_millis(1));
            }
            let c = q.counters();
            (got, c)
        })
        .expect("server thread");
    ready_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("server ready");

    let echoes = pair
        .client
        .spawn_thread(|| -> std::io::Result<Vec<Vec<u8>>> {
            let sock = UdpSocket::bind(SocketAddrV4::new(Pair::CLIENT_ADDR, CLIENT_PORT))?;
            // Room for every small datagram even if this thread is descheduled for a while.
            let size: libc::c_int = 8 << 20;
            // SAFETY: setsockopt reads one c_int from a live local for the socket's own fd.
            let rc = unsafe {
                libc::setsockopt(
                    std::os::fd::AsRawFd::as_raw_fd(&sock),
                    libc::SOL_SOCKET,
                    libc::SO_RCVBUFFORCE,
                    (&size as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            assert_eq!(rc, 0);
            sock.set_read_timeout(Some(Duration::from_millis(500)))?;
            for (i, &len) in SIZES.iter().enumerate() {
                sock.send_to(&payload(i, len), SocketAddrV4::new(Pair::SERVER_ADDR, PORT))?;
            }
            let mut out = Vec::new();
            let mut buf = vec![0u8; 65536];
            let start = Instant::now();
            while out.len() < SIZES.len() + SMALL && start.elapsed() < DEADLINE {
                if let Ok((n, _)) = sock.recv_from(&mut buf) {
                    out.push(buf[..n].to_vec());
                }
            }
            Ok(out)
        })
        .expect("client thread")
        .join()
        .expect("join client")
        .expect("client socket");
    let (got, counters) = server.join().expect("join server");

    let want: Vec<Vec<u8>> = SIZES
        .iter()
        .enumerate()
        .map(|(i, &len)| payload(i, len))
        .collect();
    assert_eq!(got.len(), SIZES.len(), "{counters:?}");
    for (g, w) in got.iter().zip(&want) {
        assert!(g == w, "received datagram of {} bytes differs", w.len());
    }
    // Three of the four frames need more than one 3,840-byte receive buffer.
    assert_eq!(counters.rx_multi_buffer, 3, "{counters:?}");
    assert_eq!(counters.tx_multi_buffer, 3, "{counters:?}");
    assert_eq!(echoes.len(), SIZES.len() + SMALL, "{counters:?}");
    for (e, w) in echoes.iter().zip(&want) {
        assert!(e == w, "echo of {} bytes differs", w.len());
    }
    for (i, e) in echoes[SIZES.len()..].iter().enumerate() {
        assert_eq!(e[..], (i as u64).to_be_bytes(), "small frame {i}");
    }
}
