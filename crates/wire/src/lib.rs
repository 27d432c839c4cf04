//! Packet views and representations (Ethernet, ARP, IPv4, ICMPv4, UDP, TCP) and the Internet checksum.
//!
//! Every protocol has a zero-copy view `XxxPacket<T: AsRef<[u8]>>` whose `new_checked` validates
//! the lengths once, after which no accessor panics, and a plain `XxxRepr` with `parse` and `emit`
//! (the model is smoltcp's `wire` module). Malformed input gives a typed [`Error`], never a panic.
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
pub use error::{Error, Result};
pub use ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr};
pub use icmpv4::{DstUnreachable, Icmpv4Message, Icmpv4Packet, Icmpv4Repr, TimeExceeded};
pub use ipv4::{IpProtocol, Ipv4Cidr, Ipv4Packet, Ipv4Repr};
pub use seq::SeqNumber;
/// Re-exported so users name addresses the same way this crate does.
pub use std::net::Ipv4Addr;
pub use tcp::{TcpControl, TcpFlags, TcpOption, TcpPacket, TcpRepr};
pub use udp::{UdpPacket, UdpRepr};
