//! Fuzz: UDP view and repr never panic; parse -> emit -> parse is stable.
#![no_main]
use boomerang_wire::{Ipv4Addr, UdpPacket, UdpRepr};
use libfuzzer_sys::fuzz_target;

const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

fuzz_target!(|data: &[u8]| {
    let mut fixed = data.to_vec();
    let Ok(mut packet) = UdpPacket::new_checked(&mut fixed[..]) else {
        return;
    };
    if data.first().is_some_and(|b| b & 1 == 1) {
        packet.fill_checksum(SRC, DST);
    }
    let packet = UdpPacket::new_checked(&fixed[..]).unwrap();
    let payload = packet.payload();
    let Ok(repr) = UdpRepr::parse(&packet, SRC, DST) else {
        return;
    };
    let mut out = vec![0u8; repr.buffer_len(payload.len())];
    repr.emit(&mut UdpPacket::new_unchecked(&mut out[..]), SRC, DST, payload.len(), |d| {
        d.copy_from_slice(payload)
    });
    let view = UdpPacket::new_checked(&out[..]).unwrap();
    assert_eq!(UdpRepr::parse(&view, SRC, DST).unwrap(), repr);
    assert_eq!(view.payload(), payload);
});
