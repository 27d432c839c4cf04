//! Per-shard counters: plain `u64`s, one per event and per drop reason, summed across shards
//! by whoever reads them (no atomics on the per-packet path).

/// Counters of one shard. Every dropped frame or packet increments exactly one `*_drop_*` or
/// `*_invalid` counter naming the reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardStats {
    /// Frames handed to `receive`.
    pub rx_frames: u64,
    /// Bytes handed to `receive`.
    pub rx_bytes: u64,
    /// Frames written by `poll_transmit`.
    pub tx_frames: u64,
    /// Bytes written by `poll_transmit`.
    pub tx_bytes: u64,
    /// Queued frames dropped because the buffer given to `poll_transmit` was too small.
    pub tx_drop_buffer_too_small: u64,
    /// Control frames dropped because the transmit queue was full.
    pub tx_drop_queue_full: u64,

    /// Frames shorter than an Ethernet header.
    pub eth_drop_truncated: u64,
    /// Frames addressed to another unicast MAC or to a multicast group.
    pub eth_drop_not_ours: u64,
    /// Frames with an EtherType other than IPv4 and ARP.
    pub eth_drop_ethertype: u64,

    /// ARP packets received.
    pub arp_rx: u64,
    /// ARP packets that could not be parsed.
    pub arp_drop_malformed: u64,
    /// ARP packets for other hardware/protocol types.
    pub arp_drop_unsupported: u64,
    /// ARP requests we answered.
    pub arp_replies_sent: u64,
    /// ARP requests we sent (broadcast resolutions and unicast refreshes).
    pub arp_requests_sent: u64,
    /// Gratuitous ARP announcements sent.
    pub arp_announcements_sent: u64,
    /// Mappings learned or refreshed.
    pub arp_learned: u64,
    /// Mappings not learned because the cache was full.
    pub arp_drop_cache_full: u64,
    /// Packets dropped because the pending queue for unresolved next hops was full.
    pub arp_drop_pending_full: u64,
    /// Packets dropped because their next hop never answered.
    pub arp_drop_unresolved: u64,

    /// IPv4 packets received.
    pub ipv4_rx: u64,
    /// Packets shorter than their header or total length claims.
    pub ipv4_drop_truncated: u64,
    /// Packets with a bad version, IHL or total length.
    pub ipv4_drop_malformed: u64,
    /// Packets whose header checksum did not verify.
    pub ipv4_drop_checksum: u64,
    /// Packets addressed to someone else (or to a broadcast address).
    pub ipv4_drop_not_ours: u64,
    /// Packets with a broadcast, multicast, loopback or unspecified source address.
    pub ipv4_drop_bad_source: u64,
    /// Packets of a protocol other than ICMP, TCP and UDP.
    pub ipv4_drop_protocol: u64,
    /// Packets dropped because no route leads to their destination (no gateway).
    pub ipv4_drop_no_route: u64,
    /// Packets sent.
    pub ipv4_tx: u64,

    /// Fragments received.
    pub frag_rx: u64,
    /// Datagrams reassembled and delivered.
    pub frag_reassembled: u64,
    /// Datagrams discarded because fragments overlapped.
    pub frag_drop_overlap: u64,
    /// Fragments dropped because a memory, count or size limit was reached.
    pub frag_drop_limit: u64,
    /// Malformed fragments (bad offsets or lengths).
    pub frag_drop_malformed: u64,
    /// Datagrams discarded because they did not complete in time.
    pub frag_drop_timeout: u64,
    /// Incomplete datagrams evicted (least recently fed first) to make room for newer fragments
    /// when the reassembly budget was full.
    pub frag_evicted: u64,
    /// Gauge, not a counter: datagrams waiting for more fragments now (the reassembly table).
    pub frag_pending: u64,
    /// Gauge, not a counter: bytes the reassembly table holds now.
    pub frag_pending_bytes: u64,

    /// ICMP messages received.
    pub icmp_rx: u64,
    /// ICMP messages that could not be parsed or failed their checksum.
    pub icmp_drop_malformed: u64,
    /// ICMP messages of types we do not act on.
    pub icmp_drop_unhandled: u64,
    /// Echo replies sent.
    pub icmp_echo_replies: u64,
    /// Port-unreachable messages sent.
    pub icmp_port_unreachable_sent: u64,
    /// Protocol-unreachable messages sent (datagrams of a protocol we do not speak).
    pub icmp_proto_unreachable_sent: u64,
    /// ICMP errors not sent because of the rate limit.
    pub icmp_rate_limited: u64,
    /// Fragmentation-needed messages that lowered a path MTU.
    pub icmp_pmtu_updates: u64,

    /// UDP datagrams received.
    pub udp_rx: u64,
    /// UDP datagrams that could not be parsed or failed their checksum.
    pub udp_drop_malformed: u64,

    /// TCP segments received.
    pub tcp_rx: u64,
    /// TCP segments that could not be parsed.
    pub tcp_drop_malformed: u64,
    /// TCP segments whose checksum did not verify.
    pub tcp_drop_checksum: u64,
    /// TCP segments sent.
    pub tcp_tx: u64,
    /// RSTs sent for segments that matched no connection (RFC 9293 §3.10.7.1).
    pub tcp_rst_no_connection: u64,
    /// SYNs dropped because the listener's accept queue or SYN backlog was full.
    pub tcp_drop_listen_overflow: u64,
    /// SYNs dropped because the connection table was full.
    pub tcp_drop_table_full: u64,
    /// Connections opened by a SYN to a listener.
    pub tcp_passive_opens: u64,
    /// Connections opened by `connect`.
    pub tcp_active_opens: u64,
    /// Connections that reached ESTABLISHED.
    pub tcp_established: u64,
    /// Connections removed from the table.
    pub tcp_closed: u64,
    /// TIME-WAIT connections removed early because the TIME-WAIT table was full.
    pub tcp_time_wait_evicted: u64,
    /// Loss recoveries entered by duplicate ACKs or SACK information (RFC 5681, RFC 6675).
    pub tcp_fast_retransmits: u64,
    /// Fast recoveries undone because D-SACKs showed every retransmission needless.
    pub tcp_recovery_undos: u64,
    /// Retransmission timeouts found spurious by the timestamp of the first ACK after them
    /// and undone (RFC 3522, RFC 4015).
    pub tcp_rto_undos: u64,
    /// Tail loss probes whose ACK showed they repaired a real loss (RFC 8985 §7.4.2): the
    /// window was reduced as for a fast recovery.
    pub tcp_tlp_repaired: u64,
    /// Retransmission timer expirations (RFC 6298).
    pub tcp_retransmit_timeouts: u64,
    /// Segments sent that resend sequence space sent before.
    pub tcp_retransmitted_segments: u64,
    /// RST segments received (any RST that parsed and passed its checksum, whether it matched
    /// a connection, reset it, or was answered with a challenge ACK).
    pub tcp_rst_received: u64,
    /// Received RSTs that passed the RFC 5961 §3.2 check (sequence number exactly `RCV.NXT`)
    /// and closed their connection.
    pub tcp_rst_accepted: u64,
    /// Segments that called for a challenge ACK: an in-window RST not at `RCV.NXT` (RFC 5961
    /// §3.2) or a SYN in a synchronized state (§4.2). The ACK itself may have been suppressed
    /// by the rate limit (§7).
    pub tcp_challenge_acks: u64,
    /// Gauge, not a counter: connections in SYN-RECEIVED now (half-open, counted in their
    /// listener's SYN backlog); the same value as `Shard::half_open_count`.
    pub tcp_half_open: u64,
    /// SYN-ACKs sent with a SYN cookie because the listener's SYN backlog was full.
    pub syncookies_sent: u64,
    /// ACKs that completed a handshake through a valid SYN cookie.
    pub syncookies_ok: u64,
    /// ACKs checked as SYN cookies (the listener sent cookies recently) that were not valid.
    pub syncookies_failed: u64,
}
