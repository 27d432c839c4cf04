//! Fuzz: TCP view, option parser and repr never panic; parse -> emit -> parse keeps every field
//! (SACK blocks may only be cut from the back when they no longer fit the option space).
#![no_main]
use boomerang_wire::{RxChecksum, TxChecksum};
use boomerang_wire::{Ipv4Addr, TcpOption, TcpPacket, TcpRepr};
use libfuzzer_sys::fuzz_target;

const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

fuzz_target!(|data: &[u8]| {
    let mut options = data;
    while let Ok((rest, option)) = TcpOption::parse(options) {
        let mut buf = vec![0u8; option.buffer_len()];
        option.emit(&mut buf);
        options = rest;
    }
    let Ok(packet) = TcpPacket::new_checked(data) else {
        return;
    };
    let _ = (
        packet.options(),
        packet.payload(),
        packet.segment_len(),
        packet.flags(),
        packet.verify_checksum(SRC, DST),
    );
    let Ok(repr) = TcpRepr::parse(&packet, SRC, DST, RxChecksum::Trust) else {
        return;
    };
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut TcpPacket::new_unchecked(&mut out[..]), SRC, DST, TxChecksum::Compute);
    let view = TcpPacket::new_checked(&out[..]).unwrap();
    let mut again = TcpRepr::parse(&view, SRC, DST, RxChecksum::Verify).unwrap();
    let kept = again.sack_ranges.iter().flatten().count();
    assert_eq!(&again.sack_ranges[..kept], &repr.sack_ranges[..kept]);
    again.sack_ranges = repr.sack_ranges;
    assert_eq!(again, repr);
});
