//! Packet views and representations (Ethernet, ARP, IPv4, ICMPv4, UDP, TCP) and the Internet checksum.
#![forbid(unsafe_code)]
