//! Configuration of a shard: our addresses, the link MTU, TCP parameters and every resource
//! limit of the link and network layers as a named, configurable value.

use std::net::Ipv4Addr;
use std::time::Duration;

use boomerang_wire::{EthernetAddress, Ipv4Cidr};

use crate::tcp::TcpConfig;

/// Default IP MTU of an Ethernet link (RFC 894).
pub const DEFAULT_MTU: usize = 1500;
/// The smallest path MTU we accept from an ICMP fragmentation-needed message; smaller claims are
/// raised to this (RFC 1191 §3 says never below 68; Linux's `min_pmtu` is 552; we use 576, the
/// datagram size every host must accept, RFC 791 §3.1).
pub const MIN_PATH_MTU: usize = 576;

/// Resource limits and intervals of the link and network layers (each a named default below).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// How long a learned ARP entry is used before it must be confirmed again.
    pub arp_entry_ttl: Duration,
    /// When an entry in use is older than `arp_entry_ttl - arp_refresh_before`, a unicast
    /// request refreshes it while the old mapping keeps being used.
    pub arp_refresh_before: Duration,
    /// Interval between ARP requests for an unresolved address.
    pub arp_request_interval: Duration,
    /// Requests sent for one address before its queued packets are dropped.
    pub arp_max_requests: u32,
    /// Entries in the shared ARP cache; when full, new on-link entries are not learned.
    pub arp_cache_max: usize,
    /// Packets queued per unresolved next hop (RFC 1122 §2.3.2.2 asks for at least one).
    pub arp_pending_per_hop: usize,
    /// Packets queued for all unresolved next hops of a shard together.
    pub arp_pending_total: usize,
    /// Unresolved next hops tracked at once.
    pub arp_pending_hops: usize,
    /// Datagrams being reassembled at once (RFC 791 §3.2).
    pub reassembly_max_datagrams: usize,
    /// Bytes of fragment data held for reassembly by one shard, all datagrams together.
    pub reassembly_max_bytes: usize,
    /// Fragments accepted per datagram.
    pub reassembly_max_fragments: usize,
    /// Time a partly reassembled datagram is kept (RFC 1122 §3.3.2 recommends 60 to 120 s;
    /// Linux uses 30 s).
    pub reassembly_timeout: Duration,
    /// ICMP error messages (port unreachable) sent per second, token-bucket refill rate
    /// (RFC 1812 §4.3.2.8, RFC 1122 §3.2.2).
    pub icmp_errors_per_sec: u32,
    /// Burst size of the ICMP error token bucket.
    pub icmp_error_burst: u32,
    /// Destinations with a learned path MTU (RFC 1191).
    pub pmtu_cache_max: usize,
    /// How long a lowered path MTU is kept before the link MTU is tried again (RFC 1191 §6.3).
    pub pmtu_expiry: Duration,
    /// Connections (any state) held by one shard.
    pub max_connections: usize,
    /// Connections in TIME-WAIT held by one shard; beyond it the oldest is dropped early.
    pub max_time_wait: usize,
    /// Listening sockets per shard.
    pub max_listeners: usize,
    /// Half-open (SYN-RECEIVED) connections per listener.
    pub max_syn_backlog: usize,
    /// Answer SYNs with SYN cookies (RFC 4987 §3.6) when a listener's SYN backlog is full,
    /// instead of dropping them.
    pub syn_cookies: bool,
    /// Control frames (ARP, ICMP, RST) waiting for `poll_transmit`.
    pub tx_queue_max: usize,
    /// First local port for active opens (inclusive).
    pub ephemeral_port_min: u16,
    /// Last local port for active opens (inclusive).
    pub ephemeral_port_max: u16,
}

/// Default [`Limits::arp_entry_ttl`] (Linux's reachable time is 15–45 s; we refresh before).
pub const ARP_ENTRY_TTL: Duration = Duration::from_secs(60);
/// Default [`Limits::arp_refresh_before`].
pub const ARP_REFRESH_BEFORE: Duration = Duration::from_secs(15);
/// Default [`Limits::arp_request_interval`] (RFC 1122 §2.3.2.1: at most one per second).
pub const ARP_REQUEST_INTERVAL: Duration = Duration::from_secs(1);
/// Default [`Limits::arp_max_requests`].
pub const ARP_MAX_REQUESTS: u32 = 3;
/// Default [`Limits::arp_cache_max`].
pub const ARP_CACHE_MAX: usize = 1024;
/// Default [`Limits::arp_pending_per_hop`].
pub const ARP_PENDING_PER_HOP: usize = 16;
/// Default [`Limits::arp_pending_total`].
pub const ARP_PENDING_TOTAL: usize = 256;
/// Default [`Limits::arp_pending_hops`].
pub const ARP_PENDING_HOPS: usize = 64;
/// Default [`Limits::reassembly_max_datagrams`].
pub const REASSEMBLY_MAX_DATAGRAMS: usize = 64;
/// Default [`Limits::reassembly_max_bytes`].
pub const REASSEMBLY_MAX_BYTES: usize = 1 << 20;
/// Default [`Limits::reassembly_max_fragments`].
pub const REASSEMBLY_MAX_FRAGMENTS: usize = 64;
/// Default [`Limits::reassembly_timeout`].
pub const REASSEMBLY_TIMEOUT: Duration = Duration::from_secs(30);
/// Default [`Limits::icmp_errors_per_sec`].
pub const ICMP_ERRORS_PER_SEC: u32 = 100;
/// Default [`Limits::icmp_error_burst`].
pub const ICMP_ERROR_BURST: u32 = 20;
/// Default [`Limits::pmtu_cache_max`].
pub const PMTU_CACHE_MAX: usize = 1024;
/// Default [`Limits::pmtu_expiry`] (RFC 1191 §6.3 suggests 10 minutes).
pub const PMTU_EXPIRY: Duration = Duration::from_secs(600);
/// Default [`Limits::max_connections`].
pub const MAX_CONNECTIONS: usize = 1 << 18;
/// Default [`Limits::max_time_wait`].
pub const MAX_TIME_WAIT: usize = 1 << 16;
/// Default [`Limits::max_listeners`].
pub const MAX_LISTENERS: usize = 64;
/// Default [`Limits::max_syn_backlog`].
pub const MAX_SYN_BACKLOG: usize = 1024;
/// Default [`Limits::tx_queue_max`].
pub const TX_QUEUE_MAX: usize = 1024;
/// Default [`Limits::ephemeral_port_min`] (Linux's `ip_local_port_range`).
pub const EPHEMERAL_PORT_MIN: u16 = 32768;
/// Default [`Limits::ephemeral_port_max`].
pub const EPHEMERAL_PORT_MAX: u16 = 60999;

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            arp_entry_ttl: ARP_ENTRY_TTL,
            arp_refresh_before: ARP_REFRESH_BEFORE,
            arp_request_interval: ARP_REQUEST_INTERVAL,
            arp_max_requests: ARP_MAX_REQUESTS,
            arp_cache_max: ARP_CACHE_MAX,
            arp_pending_per_hop: ARP_PENDING_PER_HOP,
            arp_pending_total: ARP_PENDING_TOTAL,
            arp_pending_hops: ARP_PENDING_HOPS,
            reassembly_max_datagrams: REASSEMBLY_MAX_DATAGRAMS,
            reassembly_max_bytes: REASSEMBLY_MAX_BYTES,
            reassembly_max_fragments: REASSEMBLY_MAX_FRAGMENTS,
            reassembly_timeout: REASSEMBLY_TIMEOUT,
            icmp_errors_per_sec: ICMP_ERRORS_PER_SEC,
            icmp_error_burst: ICMP_ERROR_BURST,
            pmtu_cache_max: PMTU_CACHE_MAX,
            pmtu_expiry: PMTU_EXPIRY,
            max_connections: MAX_CONNECTIONS,
            max_time_wait: MAX_TIME_WAIT,
            max_listeners: MAX_LISTENERS,
            max_syn_backlog: MAX_SYN_BACKLOG,
            syn_cookies: true,
            tx_queue_max: TX_QUEUE_MAX,
            ephemeral_port_min: EPHEMERAL_PORT_MIN,
            ephemeral_port_max: EPHEMERAL_PORT_MAX,
        }
    }
}

/// Everything a shard needs to know about its interface and its protocols.
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// Our Ethernet address.
    pub mac: EthernetAddress,
    /// Our IPv4 address and the on-link prefix.
    pub addr: Ipv4Cidr,
    /// The router for destinations outside `addr`'s prefix; none means off-link is unreachable.
    pub gateway: Option<Ipv4Addr>,
    /// The IP MTU of the link (bytes of IPv4 packet, Ethernet header excluded).
    pub mtu: usize,
    /// Secret key of the RFC 6528 initial sequence number hash. The embedding program must set
    /// it from a random source; the default (all zero) is only for tests.
    pub isn_secret: [u8; 16],
    /// TCP parameters.
    pub tcp: TcpConfig,
    /// Link- and network-layer limits.
    pub limits: Limits,
    /// The NIC's RSS hash, when known: `connect` then picks local ports whose return traffic
    /// lands on the opening shard's RX queue (queue number = shard id). `None`: any port.
    pub rss: Option<crate::rss::RssSteering>,
    /// Which checksums the device completes on transmit.
    pub checksum: ChecksumCapabilities,
}

/// Who computes a checksum of transmitted packets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Checksum {
    /// The stack computes it in full.
    #[default]
    Software,
    /// The device completes it: the stack stores only the pseudo-header sum in the field
    /// (the device sums from the TCP header to the end of the packet and stores the
    /// complement there, as for Linux's `CHECKSUM_PARTIAL`).
    Offload,
}

/// The device's transmit checksum capabilities, per protocol.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChecksumCapabilities {
    /// TCP segments (every one the stack sends: data, ACKs, SYNs, RSTs).
    pub tcp_tx: Checksum,
}

impl StackConfig {
    /// A configuration for `mac` and `addr` with defaults for everything else.
    pub fn new(mac: EthernetAddress, addr: Ipv4Cidr) -> StackConfig {
        StackConfig {
            mac,
            addr,
            gateway: None,
            mtu: DEFAULT_MTU,
            isn_secret: [0; 16],
            tcp: TcpConfig::default(),
            limits: Limits::default(),
            rss: None,
            checksum: ChecksumCapabilities::default(),
        }
    }
}
