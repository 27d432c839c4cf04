//! Parsing (and emitting) one Ethernet + IPv4 + TCP frame with timestamp and SACK options and
//! 100 bytes of data, the way the stack handles every received segment.
#![allow(missing_docs)] // criterion_group! generates an undocumented `pub fn benches`.

use boomerang_wire::{
    EtherType, EthernetAddress, EthernetFrame, EthernetRepr, IpProtocol, Ipv4Addr, Ipv4Packet,
    Ipv4Repr, SeqNumber, TcpControl, TcpPacket, TcpRepr,
};
use boomerang_wire::{RxChecksum, TxChecksum};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const PAYLOAD: [u8; 100] = [0x5a; 100];

fn reprs() -> (EthernetRepr, Ipv4Repr, TcpRepr<'static>) {
    let tcp = TcpRepr {
        src_port: 50000,
        dst_port: 80,
        control: TcpControl::Psh,
        seq_number: SeqNumber(0x1234_5678),
        ack_number: Some(SeqNumber(0x9abc_def0)),
        window_len: 502,
        timestamp: Some((123_456, 654_321)),
        sack_ranges: [Some((1000, 2000)), Some((3000, 4000)), None, None],
        payload: &PAYLOAD,
        ..TcpRepr::default()
    };
    let ip = Ipv4Repr {
        src_addr: SRC,
        dst_addr: DST,
        protocol: IpProtocol::Tcp,
        payload_len: tcp.buffer_len(),
        ttl: 64,
        dscp: 0,
        ecn: 0,
        ident: 0x4242,
        dont_frag: true,
    };
    let eth = EthernetRepr {
        src_addr: EthernetAddress([0x02, 0, 0, 0, 0, 1]),
        dst_addr: EthernetAddress([0x02, 0, 0, 0, 0, 2]),
        ethertype: EtherType::Ipv4,
    };
    (eth, ip, tcp)
}

fn emit(buf: &mut [u8], eth: &EthernetRepr, ip: &Ipv4Repr, tcp: &TcpRepr<'_>) {
    let mut f = EthernetFrame::new_unchecked(buf);
    eth.emit(&mut f);
    let mut p = Ipv4Packet::new_unchecked(f.payload_mut());
    ip.emit(&mut p, TxChecksum::Compute);
    tcp.emit(
        &mut TcpPacket::new_unchecked(p.payload_mut()),
        SRC,
        DST,
        TxChecksum::Compute,
    );
}

/// The receive path: views checked, IPv4 header checksum verified, TCP parsed with options.
fn parse(frame: &[u8], tcp_checksum: RxChecksum) -> usize {
    let f = EthernetFrame::new_checked(frame).unwrap();
    let eth = EthernetRepr::parse(&f).unwrap();
    assert_eq!(eth.ethertype, EtherType::Ipv4);
    let p = Ipv4Packet::new_checked(f.payload()).unwrap();
    let ip = Ipv4Repr::parse(&p).unwrap();
    let t = TcpPacket::new_checked(p.payload()).unwrap();
    let tcp = TcpRepr::parse(&t, ip.src_addr, ip.dst_addr, tcp_checksum).unwrap();
    tcp.payload.len() + tcp.sack_ranges.iter().flatten().count()
}

fn bench(c: &mut Criterion) {
    let (eth, ip, tcp) = reprs();
    let mut frame = vec![0u8; eth.buffer_len() + ip.buffer_len() + ip.payload_len];
    emit(&mut frame, &eth, &ip, &tcp);
    assert_eq!(parse(&frame, RxChecksum::Verify), 102);

    let mut group = c.benchmark_group("eth_ipv4_tcp_opts");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse_verify_checksums", |b| {
        b.iter(|| parse(black_box(&frame), RxChecksum::Verify))
    });
    group.bench_function("parse_no_tcp_checksum", |b| {
        b.iter(|| parse(black_box(&frame), RxChecksum::Trust))
    });
    let mut out = vec![0u8; frame.len()];
    group.bench_function("emit_with_checksums", |b| {
        b.iter(|| emit(black_box(&mut out), &eth, &ip, &tcp))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
