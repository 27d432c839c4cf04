//! Repeatable CPU cost of the receive path, for `valgrind --tool=callgrind` (hardware counters
//! are not available in our VMs): `ITERATIONS` times, either parses one Ethernet + IPv4 + TCP
//! frame (timestamps, two SACK blocks, 100 data bytes; argument `parse`) or checksums 1500 bytes
//! (`checksum`); `none` measures the fixed cost.
//!
//! ```text
//! cargo build --release -p boomerang-wire --example callgrind_parse
//! valgrind --tool=callgrind target/release/examples/callgrind_parse parse   # Ir / ITERATIONS
//! valgrind --tool=callgrind target/release/examples/callgrind_parse none    # fixed cost to subtract
//! ```

use boomerang_wire::{RxChecksum, TxChecksum};
use std::hint::black_box;

use boomerang_wire::{
    checksum, EtherType, EthernetAddress, EthernetFrame, EthernetRepr, IpProtocol, Ipv4Addr,
    Ipv4Packet, Ipv4Repr, SeqNumber, TcpControl, TcpPacket, TcpRepr,
};

/// Repetitions of the measured operation.
const ITERATIONS: usize = 100_000;

fn frame() -> Vec<u8> {
    let (src, dst) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
    let tcp = TcpRepr {
        src_port: 50000,
        dst_port: 80,
        control: TcpControl::Psh,
        seq_number: SeqNumber(0x1234_5678),
        ack_number: Some(SeqNumber(0x9abc_def0)),
        window_len: 502,
        timestamp: Some((123_456, 654_321)),
        sack_ranges: [Some((1000, 2000)), Some((3000, 4000)), None, None],
        payload: &[0x5a; 100],
        ..TcpRepr::default()
    };
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: IpProtocol::Tcp,
        payload_len: tcp.buffer_len(),
        ttl: 64,
        dscp: 0,
        ecn: 0,
        ident: 1,
        dont_frag: true,
    };
    let eth = EthernetRepr {
        src_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
        dst_addr: EthernetAddress([2, 0, 0, 0, 0, 2]),
        ethertype: EtherType::Ipv4,
    };
    let mut buf = vec![0u8; eth.buffer_len() + ip.buffer_len() + ip.payload_len];
    let mut f = EthernetFrame::new_unchecked(&mut buf[..]);
    eth.emit(&mut f);
    let mut p = Ipv4Packet::new_unchecked(f.payload_mut());
    ip.emit(&mut p, TxChecksum::Compute);
    tcp.emit(
        &mut TcpPacket::new_unchecked(p.payload_mut()),
        src,
        dst,
        TxChecksum::Compute,
    );
    buf
}

fn parse(frame: &[u8]) -> Option<usize> {
    let f = EthernetFrame::new_checked(frame).ok()?;
    let _eth = EthernetRepr::parse(&f).ok()?;
    let p = Ipv4Packet::new_checked(f.payload()).ok()?;
    let ip = Ipv4Repr::parse(&p).ok()?;
    let t = TcpPacket::new_checked(p.payload()).ok()?;
    let tcp = TcpRepr::parse(&t, ip.src_addr, ip.dst_addr, RxChecksum::Verify).ok()?;
    Some(tcp.payload.len())
}

fn main() {
    let what = std::env::args().nth(1).unwrap_or_else(|| "parse".into());
    let frame = frame();
    let data = vec![0xa5u8; 1500];
    let mut acc = 0usize;
    match what.as_str() {
        "parse" => {
            for _ in 0..ITERATIONS {
                acc += parse(black_box(&frame)).unwrap_or(0);
            }
        }
        "checksum" => {
            for _ in 0..ITERATIONS {
                acc += usize::from(checksum::checksum(black_box(&data)));
            }
        }
        "none" => {}
        other => {
            eprintln!("usage: callgrind_parse parse|checksum|none (got {other})");
            std::process::exit(2);
        }
    }
    println!("{what}: {ITERATIONS} iterations, result {acc}");
}
