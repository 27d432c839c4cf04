//! Fuzz: IPv4 view (options, fragments) and repr never panic; parse -> emit -> parse is stable.
#![no_main]
use boomerang_wire::TxChecksum;
use boomerang_wire::{Ipv4Packet, Ipv4Repr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Ipv4Repr::parse_quoted(data);
    let Ok(packet) = Ipv4Packet::new_checked(data) else {
        return;
    };
    let _ = (
        packet.options(),
        packet.payload(),
        packet.frag_offset(),
        packet.more_frags(),
        packet.verify_checksum(),
    );
    let Ok(repr) = Ipv4Repr::parse_unverified(&packet) else {
        return;
    };
    let _ = Ipv4Repr::parse(&packet);
    let mut out = vec![0u8; repr.buffer_len() + repr.payload_len];
    repr.emit(&mut Ipv4Packet::new_unchecked(&mut out[..]), TxChecksum::Compute);
    let again = Ipv4Repr::parse(&Ipv4Packet::new_checked(&out[..]).unwrap()).unwrap();
    assert_eq!(again, repr);
});
