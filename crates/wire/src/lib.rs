//! Packet views and representations (Ethernet, ARP, IPv4, ICMPv4, UDP, TCP) and the Internet checksum.
//!
//! Every protocol has a zero-copy view `XxxPacket<T: AsRef<[u8]>>` whose `new_checked` validates
//! the lengths once, after which no accessor panics, and a plain `XxxRepr` with `parse` and `emit`
//! (the model is smoltcp's `wire` module). Malformed input gives a typed [`Error`], never a panic.
//!
//! Receiving walks the layers, each view borrowing from the frame; sending emits each `Repr` into
//! the payload area of the layer below:
//!
//! ```
//! use boomerang_wire::*;
//!
//! let (ours, peer) = (Ipv4Addr::new(198, 18, 0, 2), Ipv4Addr::new(198, 18, 0, 1));
//! let tcp = TcpRepr { src_port: 80, dst_port: 40000, control: TcpControl::Syn,
//!                     seq_number: SeqNumber(1), ack_number: Some(SeqNumber(100)),
//!                     window_len: 65535, max_seg_size: Some(1460), ..TcpRepr::default() };
//! let ip = Ipv4Repr { src_addr: ours, dst_addr: peer, protocol: IpProtocol::Tcp,
//!                     payload_len: tcp.buffer_len(), ttl: 64, dscp: 0, ecn: 0, ident: 0,
//!                     dont_frag: true };
//! let eth = EthernetRepr { src_addr: EthernetAddress([2, 0, 0, 0, 0, 2]),
//!                          dst_addr: EthernetAddress([2, 0, 0, 0, 0, 1]),
//!                          ethertype: EtherType::Ipv4 };
//! let mut frame = vec![0u8; eth.buffer_len() + ip.buffer_len() + ip.payload_len];
//! let mut f = EthernetFrame::new_unchecked(&mut frame[..]);
//! eth.emit(&mut f);
//! let mut p = Ipv4Packet::new_unchecked(f.payload_mut());
//! ip.emit(&mut p, TxChecksum::Compute);
//! tcp.emit(&mut TcpPacket::new_unchecked(p.payload_mut()), ours, peer, TxChecksum::Compute);
//!
//! let f = EthernetFrame::new_checked(&frame[..])?;
//! let p = Ipv4Packet::new_checked(f.payload())?;
//! let parsed_ip = Ipv4Repr::parse(&p)?; // header checksum verified
//! let t = TcpPacket::new_checked(p.payload())?;
//! let parsed = TcpRepr::parse(&t, parsed_ip.src_addr, parsed_ip.dst_addr, RxChecksum::Verify)?;
//! assert_eq!(parsed, tcp);
//! # Ok::<(), Error>(())
//! ```
#![forbid(unsafe_code)]

pub mod arp;
pub mod checksum;
pub mod error;
pub mod ethernet;
pub mod icmpv4;
pub mod ipv4;
pub mod seq;
pub mod tcp;
pub mod udp;

pub use arp::{ArpOperation, ArpPacket, ArpRepr};
pub use checksum::{RxChecksum, TxChecksum};
pub use error::{Error, Result};
pub use ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr};
pub use icmpv4::{DstUnreachable, Icmpv4Message, Icmpv4Packet, Icmpv4Repr, TimeExceeded};
pub use ipv4::{IpProtocol, Ipv4Cidr, Ipv4Packet, Ipv4Repr};
pub use seq::SeqNumber;
/// Re-exported so users name addresses the same way this crate does.
pub use std::net::Ipv4Addr;
pub use tcp::{TcpControl, TcpFlags, TcpOption, TcpPacket, TcpRepr};
pub use udp::{UdpPacket, UdpRepr};
