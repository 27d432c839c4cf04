//! Fuzz: Ethernet view and repr never panic; parse -> emit reproduces the header bytes.
#![no_main]
use boomerang_wire::{EthernetFrame, EthernetRepr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = EthernetFrame::new_checked(data) else {
        return;
    };
    let _ = (frame.payload(), frame.dst_addr().is_broadcast());
    let repr = EthernetRepr::parse(&frame).expect("checked frame parses");
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut EthernetFrame::new_unchecked(&mut out[..]));
    assert_eq!(&out[..], &data[..repr.buffer_len()]);
});
