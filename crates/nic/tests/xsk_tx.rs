//! AF_XDP transmit path: frames written in place into UMEM chunks, submitted in batches,
//! reach the kernel peer intact (it verifies the checksums), and completions recycle every
//! chunk.

mod xsk_util;

use std::net::{SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use boomerang_nic::netns::Pair;
use boomerang_nic::xsk::{QueueCounters, XdpConfig, XdpSetup};
use xsk_util::frames::udp_frame;

const FRAMES: usize = 2000;
const PORT: u16 = 7777;
const DEADLINE: Duration = Duration::from_secs(15);
/// Receive buffer of the kernel peer's socket (holds all FRAMES datagrams).
const RCVBUF: libc::c_int = 8 << 20;

fn parse_mac(s: &str) -> [u8; 6] {
    let mut m = [0u8; 6];
    for (d, p) in m.iter_mut().zip(s.split(':')) {
        *d = u8::from_str_radix(p, 16).expect("hex");
    }
    m
}

#[test]
fn transmitted_frames_reach_the_kernel_and_chunks_are_recycled() {
    boomerang_nic::need_root!();
    let pair = Pair::new("xt", 1, false).expect("namespaces");
    let client_mac = parse_mac(&xsk_util::mac_of(&pair.client, Pair::IFNAME));

    // The kernel peer counts what arrives on its UDP socket.
    let (bound_tx, bound_rx) = mpsc::channel();
    let receiver = pair
        .client
        .spawn_thread(move || -> std::io::Result<usize> {
            let sock = UdpSocket::bind(SocketAddrV4::new(Pair::CLIENT_ADDR, PORT))?;
            // Room for every datagram even if this thread is descheduled for a while.
            let size: libc::c_int = RCVBUF;
            // SAFETY: setsockopt reads one c_int from a live local for the socket's own fd.
            let rc = unsafe {
                libc::setsockopt(
                    sock.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_RCVBUFFORCE,
                    (&size as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            assert_eq!(rc, 0, "SO_RCVBUFFORCE: {}", std::io::Error::last_os_error());
            sock.set_read_timeout(Some(Duration::from_millis(500)))?;
            let _ = bound_tx.send(());
            let mut buf = [0u8; 2048];
            let mut n = 0;
            let start = Instant::now();
            while n < FRAMES && start.elapsed() < DEADLINE {
                if let Ok((len, _)) = sock.recv_from(&mut buf) {
                    assert_eq!(&buf[..8], &(n as u64).to_be_bytes()[..], "in order, intact");
                    assert_eq!(len, 64);
                    n += 1;
                }
            }
            Ok(n)
        })
        .expect("receiver");
    bound_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("bound");

    let sender = pair
        .server
        .spawn_thread(move || -> Result<(usize, QueueCounters, u32), String> {
            let mut cfg = XdpConfig::new(Pair::IFNAME);
            cfg.frame_count = 256;
            cfg.ring_size = 128;
            cfg.frame_size = 2048;
            // Frames are written after 128 bytes of headroom in each chunk.
            cfg.headroom = 128;
            cfg.addrs = vec![Pair::SERVER_ADDR];
            let mut setup = XdpSetup::open(&cfg).map_err(|e| e.to_string())?;
            let mut q = setup.take_queues().pop().ok_or("no queue")?;
            let mac = setup.mac();
            let mut sent = 0;
            let start = Instant::now();
            while sent < FRAMES && start.elapsed() < DEADLINE {
                // A batch: write frames in place, then one flush.
                for _ in 0..32 {
                    if sent == FRAMES {
                        break;
                    }
                    let Some(mut tx) = q.alloc_tx() else { break };
                    let mut payload = [0u8; 64];
                    payload[..8].copy_from_slice(&(sent as u64).to_be_bytes());
                    let len = udp_frame(
                        q.tx_buffer(&mut tx),
                        mac,
                        client_mac,
                        Pair::SERVER_ADDR,
                        Pair::CLIENT_ADDR,
                        40000,
                        PORT,
                        &payload,
                    );
                    assert!(q.send(tx, len));
                    sent += 1;
                }
                q.flush_tx();
                q.complete();
                // Pace to what a single kernel UDP socket buffer absorbs.
                std::thread::sleep(Duration::from_micros(500));
            }
            let start = Instant::now();
            while q.counters().tx_completed < sent as u64 && start.elapsed() < DEADLINE {
                q.complete();
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok((sent, q.counters(), q.frames_in_use()))
        })
        .expect("sender")
        .join()
        .expect("join sender");
    let (sent, counters, in_use) = sender.expect("sender side");
    let received = receiver.join().expect("join receiver").expect("receive");
    assert_eq!(sent, FRAMES);
    assert_eq!(counters.tx_frames, FRAMES as u64);
    assert_eq!(counters.tx_completed, FRAMES as u64, "{counters:?}");
    assert_eq!(
        received, FRAMES,
        "kernel peer received {received} of {FRAMES}"
    );
    // Everything transmitted came back; only the fill ring holds chunks.
    assert!(in_use <= 128, "{in_use} chunks still in use");
}
