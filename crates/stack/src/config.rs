//! Configuration of a shard: our addresses, the link MTU, TCP parameters and every resource
//! limit of the link and network layers as a named, configurable value ([`Limits`], also the
//! `[limits]` table of the configuration file).

use std::net::Ipv4Addr;
use std::time::Duration;

use boomerang_settings::OutOfRange;
use boomerang_wire::{EthernetAddress, Ipv4Cidr};

use crate::tcp::TcpConfig;

/// Default IP MTU of an Ethernet link (RFC 894).
pub const DEFAULT_MTU: usize = 1500;
/// The smallest path MTU we accept from an ICMP fragmentation-needed message; smaller claims are
/// raised to this (RFC 1191 §3 says never below 68; Linux's `min_pmtu` is 552; we use 576, the
/// datagram size every host must accept, RFC 791 §3.1).
pub const MIN_PATH_MTU: usize = 576;

/// Resource limits and intervals of the link and network layers (each a named default below).
///
/// This is also the `[limits]` table of `boomerang serve --config FILE`: each field is read
/// under its name in kebab-case (`max-connections`; the same with underscores works too;
/// durations as a string such as `"30s"`), and [`Limits::validate`] checks the range given
/// in its doc. What happens when a limit is hit is counted in [`crate::ShardStats`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Limits {
    /// How long a learned ARP entry is used before it must be confirmed again.
    /// Key `arp-entry-ttl`, default [`ARP_ENTRY_TTL`], 1s..=3600s.
    #[serde(alias = "arp_entry_ttl", with = "boomerang_settings::duration")]
    pub arp_entry_ttl: Duration,
    /// When an entry in use is older than `arp_entry_ttl - arp_refresh_before`, a unicast
    /// request refreshes it while the old mapping keeps being used.
    /// Key `arp-refresh-before`, default [`ARP_REFRESH_BEFORE`], 0s..=`arp-entry-ttl`.
    #[serde(alias = "arp_refresh_before", with = "boomerang_settings::duration")]
    pub arp_refresh_before: Duration,
    /// Interval between ARP requests for an unresolved address.
    /// Key `arp-request-interval`, default [`ARP_REQUEST_INTERVAL`], 100ms..=60s.
    #[serde(alias = "arp_request_interval", with = "boomerang_settings::duration")]
    pub arp_request_interval: Duration,
    /// Requests sent for one address before its queued packets are dropped.
    /// Key `arp-max-requests`, default [`ARP_MAX_REQUESTS`], 1..=100.
    #[serde(alias = "arp_max_requests")]
    pub arp_max_requests: u32,
    /// Entries in the shared ARP cache; when full, new on-link entries are not learned.
    /// Key `arp-cache-max`, default [`ARP_CACHE_MAX`], 1..=1048576; hit: `arp_drop_cache_full`.
    #[serde(alias = "arp_cache_max")]
    pub arp_cache_max: usize,
    /// Packets queued per unresolved next hop (RFC 1122 §2.3.2.2 asks for at least one).
    /// Key `arp-pending-per-hop`, default [`ARP_PENDING_PER_HOP`], 1..=4096; hit: `arp_drop_pending_full`.
    #[serde(alias = "arp_pending_per_hop")]
    pub arp_pending_per_hop: usize,
    /// Packets queued for all unresolved next hops of a shard together.
    /// Key `arp-pending-total`, default [`ARP_PENDING_TOTAL`], 1..=1048576; hit: `arp_drop_pending_full`.
    #[serde(alias = "arp_pending_total")]
    pub arp_pending_total: usize,
    /// Unresolved next hops tracked at once.
    /// Key `arp-pending-hops`, default [`ARP_PENDING_HOPS`], 1..=65536; hit: `arp_drop_pending_full`.
    #[serde(alias = "arp_pending_hops")]
    pub arp_pending_hops: usize,
    /// Datagrams being reassembled at once (RFC 791 §3.2).
    /// Key `reassembly-max-datagrams`, default [`REASSEMBLY_MAX_DATAGRAMS`], 0..=65536; hit: `frag_evicted`.
    #[serde(alias = "reassembly_max_datagrams")]
    pub reassembly_max_datagrams: usize,
    /// Bytes of fragment data held for reassembly by one shard, all datagrams together.
    /// Key `reassembly-max-bytes`, default [`REASSEMBLY_MAX_BYTES`], 0..=1 GiB; hit: `frag_evicted`, or `frag_drop_limit` for a datagram larger than this.
    #[serde(alias = "reassembly_max_bytes", with = "boomerang_settings::bytes")]
    pub reassembly_max_bytes: usize,
    /// Fragments accepted per datagram.
    /// Key `reassembly-max-fragments`, default [`REASSEMBLY_MAX_FRAGMENTS`], 1..=8192; hit: `frag_drop_limit`.
    #[serde(alias = "reassembly_max_fragments")]
    pub reassembly_max_fragments: usize,
    /// Time a partly reassembled datagram is kept (RFC 1122 §3.3.2 recommends 60 to 120 s;
    /// Linux uses 30 s).
    /// Key `reassembly-timeout`, default [`REASSEMBLY_TIMEOUT`], 1s..=120s; hit: `frag_drop_timeout`.
    #[serde(alias = "reassembly_timeout", with = "boomerang_settings::duration")]
    pub reassembly_timeout: Duration,
    /// ICMP error messages (port unreachable) sent per second, token-bucket refill rate
    /// (RFC 1812 §4.3.2.8, RFC 1122 §3.2.2).
    /// Key `icmp-errors-per-sec`, default [`ICMP_ERRORS_PER_SEC`], 0..=1000000; hit: `icmp_rate_limited`.
    #[serde(alias = "icmp_errors_per_sec")]
    pub icmp_errors_per_sec: u32,
    /// Burst size of the ICMP error token bucket.
    /// Key `icmp-error-burst`, default [`ICMP_ERROR_BURST`], 0..=1000000.
    #[serde(alias = "icmp_error_burst")]
    pub icmp_error_burst: u32,
    /// Destinations with a learned path MTU (RFC 1191).
    /// Key `pmtu-cache-max`, default [`PMTU_CACHE_MAX`], 0..=1048576.
    #[serde(alias = "pmtu_cache_max")]
    pub pmtu_cache_max: usize,
    /// How long a lowered path MTU is kept before the link MTU is tried again (RFC 1191 §6.3).
    /// Key `pmtu-expiry`, default [`PMTU_EXPIRY`], 1s..=86400s.
    #[serde(alias = "pmtu_expiry", with = "boomerang_settings::duration")]
    pub pmtu_expiry: Duration,
    /// Connections (any state) held by one shard.
    /// Key `max-connections`, default [`MAX_CONNECTIONS`], 1..=67108864; hit: `tcp_drop_table_full`.
    #[serde(alias = "max_connections")]
    pub max_connections: usize,
    /// Connections in TIME-WAIT held by one shard; beyond it the oldest is dropped early.
    /// Key `max-time-wait`, default [`MAX_TIME_WAIT`], 0..=16777216; hit: `tcp_time_wait_evicted`.
    #[serde(alias = "max_time_wait")]
    pub max_time_wait: usize,
    /// Listening sockets per shard.
    /// Key `max-listeners`, default [`MAX_LISTENERS`], 1..=65536.
    #[serde(alias = "max_listeners")]
    pub max_listeners: usize,
    /// Half-open (SYN-RECEIVED) connections per listener.
    /// Key `max-syn-backlog`, default [`MAX_SYN_BACKLOG`], 1..=1048576; hit: `tcp_drop_listen_overflow`, or SYN cookies.
    #[serde(alias = "max_syn_backlog")]
    pub max_syn_backlog: usize,
    /// Answer SYNs with SYN cookies (RFC 4987 §3.6) when a listener's SYN backlog is full,
    /// instead of dropping them.
    /// Key `syn-cookies`, default `true`, `true` or `false`.
    #[serde(alias = "syn_cookies")]
    pub syn_cookies: bool,
    /// Control frames (ARP, ICMP, RST) waiting for `poll_transmit`.
    /// Key `tx-queue-max`, default [`TX_QUEUE_MAX`], 1..=1048576; hit: `tx_drop_queue_full`.
    #[serde(alias = "tx_queue_max")]
    pub tx_queue_max: usize,
    /// First local port for active opens (inclusive).
    /// Key `ephemeral-port-min`, default [`EPHEMERAL_PORT_MIN`], 1024..=`ephemeral-port-max`.
    #[serde(alias = "ephemeral_port_min")]
    pub ephemeral_port_min: u16,
    /// Last local port for active opens (inclusive).
    /// Key `ephemeral-port-max`, default [`EPHEMERAL_PORT_MAX`], `ephemeral-port-min`..=65535.
    #[serde(alias = "ephemeral_port_max")]
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

impl Limits {
    /// Checks every limit against the range its doc gives.
    pub fn validate(&self) -> Result<(), OutOfRange> {
        use boomerang_settings::{check_bytes, check_count, check_duration};
        let secs = Duration::from_secs;
        let durations: [(&'static str, Duration, Duration, Duration); 5] = [
            ("arp-entry-ttl", self.arp_entry_ttl, secs(1), secs(3600)),
            (
                "arp-refresh-before",
                self.arp_refresh_before,
                Duration::ZERO,
                self.arp_entry_ttl,
            ),
            (
                "arp-request-interval",
                self.arp_request_interval,
                Duration::from_millis(100),
                secs(60),
            ),
            (
                "reassembly-timeout",
                self.reassembly_timeout,
                secs(1),
                secs(120),
            ),
            ("pmtu-expiry", self.pmtu_expiry, secs(1), secs(86_400)),
        ];
        for (name, value, min, max) in durations {
            check_duration(name, value, min, max, "")?;
        }
        let counts: [(&'static str, usize, usize, usize); 14] = [
            ("arp-max-requests", self.arp_max_requests as usize, 1, 100),
            ("arp-cache-max", self.arp_cache_max, 1, 1 << 20),
            ("arp-pending-per-hop", self.arp_pending_per_hop, 1, 4096),
            ("arp-pending-total", self.arp_pending_total, 1, 1 << 20),
            ("arp-pending-hops", self.arp_pending_hops, 1, 1 << 16),
            (
                "reassembly-max-datagrams",
                self.reassembly_max_datagrams,
                0,
                1 << 16,
            ),
            (
                "reassembly-max-fragments",
                self.reassembly_max_fragments,
                1,
                8192,
            ),
            (
                "icmp-errors-per-sec",
                self.icmp_errors_per_sec as usize,
                0,
                1_000_000,
            ),
            (
                "icmp-error-burst",
                self.icmp_error_burst as usize,
                0,
                1_000_000,
            ),
            ("pmtu-cache-max", self.pmtu_cache_max, 0, 1 << 20),
            ("max-connections", self.max_connections, 1, 1 << 26),
            ("max-time-wait", self.max_time_wait, 0, 1 << 24),
            ("max-listeners", self.max_listeners, 1, 1 << 16),
            ("max-syn-backlog", self.max_syn_backlog, 1, 1 << 20),
        ];
        for (name, value, min, max) in counts {
            check_count(name, value, min, max, "", "")?;
        }
        check_count("tx-queue-max", self.tx_queue_max, 1, 1 << 20, "frames", "")?;
        check_bytes(
            "reassembly-max-bytes",
            self.reassembly_max_bytes,
            0,
            1 << 30,
            "",
        )?;
        check_count(
            "ephemeral-port-min",
            self.ephemeral_port_min,
            1024,
            self.ephemeral_port_max,
            "",
            " (at most ephemeral-port-max)",
        )?;
        check_count(
            "ephemeral-port-max",
            self.ephemeral_port_max,
            self.ephemeral_port_min,
            u16::MAX,
            "",
            "",
        )
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
