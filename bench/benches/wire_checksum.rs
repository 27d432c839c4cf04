//! The Internet checksum (boomerang-wire) on 64, 1500 and 9000 bytes, against a naive
//! 16-bit-at-a-time loop (RFC 1071 §4.1) as the baseline the wide accumulation must beat.
#![allow(missing_docs)] // criterion_group! generates an undocumented `pub fn benches`.

use boomerang_wire::checksum;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;

/// RFC 1071 §4.1 as written: one 16-bit word per iteration.
fn naive(data: &[u8]) -> u16 {
    let mut s: u32 = 0;
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        s = s.wrapping_add(u32::from(u16::from_be_bytes([w[0], w[1]])));
        if s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
    }
    if let [last] = words.remainder() {
        s += u32::from(*last) << 8;
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("checksum");
    for size in [64usize, 1500, 9000] {
        let data: Vec<u8> = (0..size).map(|i| (i * 131 + 7) as u8).collect();
        assert_eq!(checksum::checksum(&data), naive(&data));
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("wire", size), &data, |b, d| {
            b.iter(|| checksum::checksum(black_box(d)))
        });
        group.bench_with_input(BenchmarkId::new("naive16", size), &data, |b, d| {
            b.iter(|| naive(black_box(d)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
