//! Fuzz: ICMPv4 view and repr (echo, unreachable, time exceeded with quoted headers) never panic;
//! parse -> emit -> parse is stable. The checksum is fixed up first so parsing goes deep.
#![no_main]
use boomerang_wire::{Icmpv4Packet, Icmpv4Repr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = Icmpv4Packet::new_checked(data) {
        let _ = (packet.data(), packet.next_hop_mtu(), Icmpv4Repr::parse(&packet));
    }
    let mut fixed = data.to_vec();
    let Ok(mut packet) = Icmpv4Packet::new_checked(&mut fixed[..]) else {
        return;
    };
    packet.fill_checksum();
    let packet = Icmpv4Packet::new_checked(&fixed[..]).unwrap();
    let Ok(repr) = Icmpv4Repr::parse(&packet) else {
        return;
    };
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut Icmpv4Packet::new_unchecked(&mut out[..]));
    let again = Icmpv4Repr::parse(&Icmpv4Packet::new_checked(&out[..]).unwrap()).unwrap();
    assert_eq!(again, repr);
});
