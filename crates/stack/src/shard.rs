//! The [`Shard`]: one RX queue's share of the stack, sans-IO. It owns its connection table,
//! timers, reassembly and transmit queue; it reads the shared ARP cache, listener set and
//! configuration without locks.
//!
//! Driving loop (quinn-proto style): feed every received frame to [`Shard::receive`], call
//! [`Shard::poll_transmit`] until it returns `None`, sleep until [`Shard::poll_timeout`] and then
//! call [`Shard::on_timeout`]; use the socket API between and read [`Shard::poll_event`].
//! Nothing here reads a clock or performs I/O: `now` is always a parameter.
//!
//! Invariants: every queue is bounded by a `Limits` value; a frame that is dropped increments
//! exactly one counter in [`ShardStats`]; demultiplexing is one hash lookup by [`FourTuple`];
//! timers cost O(1) to arm and the next deadline is found in O(levels).

mod api;
mod tcp_io;
mod time_wait;

use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use boomerang_wire::{
    ArpOperation, ArpPacket, ArpRepr, DstUnreachable, Error as WireError, EtherType,
    EthernetAddress, EthernetFrame, Icmpv4Message, Icmpv4Packet, Icmpv4Repr, IpProtocol, UdpPacket,
};

use crate::arp::{self, Pending};
use crate::config::{StackConfig, MIN_PATH_MTU};
use crate::icmp::{PmtuCache, RateLimiter};
use crate::ipv4::{self, DropReason, Received, FRAME_HEADERS, IPV4_HEADER};
use crate::reassembly::{FragKey, FragOutcome, Reassembler};
use crate::shared::{Learned, Shared};
use crate::slab::Slab;
use crate::socket::{ConnId, FourTuple, ListenerId, SocketEvent};
use crate::stats::ShardStats;
use crate::tcp::isn::IsnGenerator;
use crate::tcp::Tcb;
use crate::timer::{TimerEntry, TimerWheel};
use time_wait::TimeWaitTable;

/// Interval between sweeps of expired entries out of the shared ARP cache.
pub const ARP_SWEEP_INTERVAL: Duration = Duration::from_secs(10);
/// Bytes of an ICMP error message quoted from the offending datagram, at most (RFC 1812
/// §4.3.2.3: as much as fits in 576 bytes).
pub const ICMP_ERROR_MAX_LEN: usize = 576;

/// One connection and the shard's bookkeeping around its [`Tcb`].
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) tcb: Tcb,
    pub(crate) tuple: FourTuple,
    /// The listener that created it, while it waits for the handshake or for `accept`.
    pub(crate) listener: Option<ListenerId>,
    /// Counted in its listener's half-open (SYN-RECEIVED) count.
    pub(crate) half_open: bool,
    /// The application holds the handle (accepted or connected).
    pub(crate) owned: bool,
    /// The application released the handle (`close`/`abort`); free the slot when done.
    pub(crate) released: bool,
    /// In the demux table.
    pub(crate) in_table: bool,
    /// In the shard's list of connections with something to send.
    pub(crate) in_dirty: bool,
    /// Tick of the armed timer entry, if any.
    pub(crate) timer_at: Option<u64>,
    /// Events already queued and not yet taken.
    pub(crate) readable_queued: bool,
    pub(crate) writable_queued: bool,
    pub(crate) closed_reported: bool,
    pub(crate) established_seen: bool,
    /// The state this connection is counted under in `Shard::state_counts`.
    pub(crate) counted_state: crate::tcp::TcpState,
    /// Largest IPv4 packet toward the peer (link MTU lowered by ICMP, RFC 1191).
    pub(crate) path_mtu: usize,
    /// Cached next-hop MAC and until when it may be used without a lookup.
    pub(crate) neighbour: Option<(EthernetAddress, Instant)>,
}

/// A listening socket (RFC 9293 §3.9.1 passive OPEN).
#[derive(Debug)]
pub(crate) struct Listener {
    pub(crate) port: u16,
    pub(crate) backlog: usize,
    pub(crate) accept_queue: VecDeque<ConnId>,
    pub(crate) half_open: usize,
    pub(crate) acceptable_queued: bool,
    /// When this listener last answered a SYN with a cookie: ACKs for no connection are
    /// checked as cookies only while cookies it sent may still be valid (as Linux does).
    pub(crate) last_cookie_sent: Option<Instant>,
}

/// A map keyed by connection 4-tuples, looked up for every segment: hashed with foldhash
/// (seeded at random per process, so peers cannot precompute colliding tuples) instead of the
/// standard library's SipHash-1-3, which cost about 160 instructions per lookup.
pub(crate) type TupleMap<V> = HashMap<FourTuple, V, foldhash::fast::RandomState>;

/// One RX queue's share of the stack. See the module documentation for the driving loop.
#[derive(Debug)]
pub struct Shard {
    pub(crate) shared: Arc<Shared>,
    pub(crate) config: Arc<StackConfig>,
    pub(crate) shard_id: usize,
    pub(crate) stats: ShardStats,
    pub(crate) isn: IsnGenerator,
    pub(crate) cookies: crate::tcp::SynCookies,
    pub(crate) tx_queue: VecDeque<Vec<u8>>,
    pub(crate) pending: Pending,
    pub(crate) reassembly: Reassembler,
    pub(crate) icmp_limiter: RateLimiter,
    pub(crate) pmtu: PmtuCache,
    pub(crate) ip_ident: u16,
    pub(crate) conns: Slab<Conn>,
    pub(crate) table: TupleMap<ConnId>,
    pub(crate) listeners: Slab<Listener>,
    pub(crate) listen_ports: HashMap<u16, ListenerId>,
    pub(crate) timers: TimerWheel,
    pub(crate) fired: Vec<TimerEntry>,
    pub(crate) dirty: VecDeque<ConnId>,
    pub(crate) events: VecDeque<SocketEvent>,
    pub(crate) time_wait: TimeWaitTable,
    /// Connections in the slab by counted state (`Conn::counted_state`).
    pub(crate) state_counts: [usize; 11],
    pub(crate) next_ephemeral: u16,
    pub(crate) next_arp_sweep: Instant,
}

impl Shard {
    /// A shard of the interface described by `shared`, numbered `shard_id`, starting at `now`.
    pub fn new(shared: Arc<Shared>, shard_id: usize, now: Instant) -> Shard {
        let mut config = StackConfig::clone(&shared.config());
        // Our MSS never exceeds what the link MTU carries (RFC 9293 §3.7.1).
        let link_mss = config
            .mtu
            .saturating_sub(40)
            .clamp(88, usize::from(u16::MAX));
        if usize::from(config.tcp.mss) > link_mss {
            config.tcp.mss = link_mss as u16;
        }
        let limits = &config.limits;
        let ephemeral_span = usize::from(
            limits
                .ephemeral_port_max
                .saturating_sub(limits.ephemeral_port_min),
        ) + 1;
        // Spread shards over the ephemeral range so their first choices differ.
        let start = limits.ephemeral_port_min
            + ((shard_id.wrapping_mul(4099)) % ephemeral_span.max(1)) as u16;
        Shard {
            isn: IsnGenerator::new(config.isn_secret, now),
            // A key of its own, derived from the ISN secret (the ISN hash must not reveal it).
            cookies: crate::tcp::SynCookies::new(config.isn_secret.map(|b| b ^ 0x5c), now),
            icmp_limiter: RateLimiter::new(
                limits.icmp_errors_per_sec,
                limits.icmp_error_burst,
                now,
            ),
            next_ephemeral: start,
            config: Arc::new(config),
            shared,
            shard_id,
            stats: ShardStats::default(),
            tx_queue: VecDeque::new(),
            pending: Pending::default(),
            reassembly: Reassembler::default(),
            pmtu: PmtuCache::default(),
            ip_ident: 0,
            conns: Slab::default(),
            table: TupleMap::default(),
            listeners: Slab::default(),
            listen_ports: HashMap::new(),
            timers: TimerWheel::new(now),
            fired: Vec::new(),
            dirty: VecDeque::new(),
            events: VecDeque::new(),
            time_wait: TimeWaitTable::default(),
            state_counts: [0; 11],
            next_arp_sweep: now + ARP_SWEEP_INTERVAL,
        }
    }

    /// This shard's number.
    pub fn shard_id(&self) -> usize {
        self.shard_id
    }

    /// The configuration this shard runs with (MSS already clamped to the link MTU).
    pub fn config(&self) -> &StackConfig {
        &self.config
    }

    /// The shared state this shard reads.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The shard's counters.
    pub fn stats(&self) -> &ShardStats {
        &self.stats
    }

    /// Connections held (any state, TIME-WAIT included, and closed ones whose handle the
    /// application has not released yet).
    pub fn connection_count(&self) -> usize {
        self.conns.len() + self.time_wait.len()
    }

    /// Connections with queued data not yet acknowledged by the peer (sent or not): what a
    /// graceful shutdown waits for after the application has written its last byte, as the
    /// kernel keeps sending a closed socket's data. O(connections).
    pub fn sending_count(&self) -> usize {
        self.conns
            .values()
            .filter(|c| c.tcb.send_queue() > 0 && c.tcb.error().is_none())
            .count()
    }

    /// Connections in SYN-RECEIVED (half-open): passive opens still waiting for the third
    /// segment of the handshake (RFC 9293 §3.5), bounded per listener by
    /// `Limits::max_syn_backlog`.
    pub fn half_open_count(&self) -> usize {
        usize::try_from(self.stats.tcp_half_open).unwrap_or(usize::MAX)
    }

    /// Connections by state, indexed by [`TcpState::index`](crate::tcp::TcpState::index):
    /// TIME-WAIT records included, connections that left the table but whose handle the
    /// application still holds counted as CLOSED.
    pub fn connections_by_state(&self) -> [usize; 11] {
        let mut counts = self.state_counts;
        counts[crate::tcp::TcpState::TimeWait.index()] += self.time_wait.len();
        counts
    }

    /// Connections in TIME-WAIT.
    pub fn time_wait_count(&self) -> usize {
        self.time_wait.len()
    }

    /// Memory held for one connection: the shard's record (Tcb included) plus the Tcb's
    /// buffers. The demux table adds about one `(FourTuple, ConnId)` entry on top.
    pub fn connection_bytes(&self, c: ConnId) -> Option<usize> {
        self.conns
            .get(c.index, c.generation)
            .map(|conn| std::mem::size_of::<Conn>() + conn.tcb.heap_bytes())
    }

    /// Timer entries held by the wheel (a bound check for tests: at most a few per connection).
    pub fn timer_entries(&self) -> usize {
        self.timers.len()
    }

    /// Bytes held for fragment reassembly.
    pub fn reassembly_bytes(&self) -> usize {
        self.reassembly.bytes()
    }

    /// Frames waiting in the control transmit queue and for ARP resolution.
    pub fn queued_frames(&self) -> usize {
        self.tx_queue.len() + self.pending.frame_count()
    }

    /// Queues a gratuitous ARP announcing our address (RFC 5227 §3), e.g. at start.
    pub fn announce(&mut self, _now: Instant) {
        let frame = arp::announcement(self.config.mac, self.config.addr.address);
        if self.queue_frame(frame) {
            self.stats.arp_announcements_sent += 1;
        }
    }

    /// Processes one received Ethernet frame (FCS already removed).
    pub fn receive(&mut self, frame: &[u8], now: Instant) {
        self.stats.rx_frames += 1;
        self.stats.rx_bytes += frame.len() as u64;
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            self.stats.eth_drop_truncated += 1;
            return;
        };
        let dst = eth.dst_addr();
        if dst != self.config.mac && !dst.is_broadcast() {
            self.stats.eth_drop_not_ours += 1;
            return;
        }
        match eth.ethertype() {
            EtherType::Arp => self.receive_arp(eth.payload(), now),
            EtherType::Ipv4 => self.receive_ipv4(eth.payload(), now),
            EtherType::Unknown(_) => self.stats.eth_drop_ethertype += 1,
        }
    }

    /// RFC 826 "Packet Reception", plus RFC 5227 announcements updating existing entries.
    fn receive_arp(&mut self, payload: &[u8], now: Instant) {
        self.stats.arp_rx += 1;
        let repr = match ArpPacket::new_checked(payload).and_then(|p| ArpRepr::parse(&p)) {
            Ok(r) => r,
            Err(WireError::Unsupported(_)) => {
                self.stats.arp_drop_unsupported += 1;
                return;
            }
            Err(_) => {
                self.stats.arp_drop_malformed += 1;
                return;
            }
        };
        let ours = self.config.addr.address;
        let sender = repr.source_protocol_addr;
        let for_us = repr.target_protocol_addr == ours;
        if !sender.is_unspecified()
            && sender != ours
            && self.config.addr.contains(sender)
            && repr.source_hardware_addr.is_unicast()
        {
            let limits = &self.config.limits;
            match self.shared.arp_learn(
                sender,
                repr.source_hardware_addr,
                now,
                limits.arp_request_interval,
                limits.arp_cache_max,
                !for_us,
            ) {
                Learned::Updated => {
                    self.stats.arp_learned += 1;
                    self.release_pending(sender, repr.source_hardware_addr);
                }
                Learned::Unchanged => {}
                Learned::Full => self.stats.arp_drop_cache_full += 1,
            }
        }
        if for_us && repr.operation == ArpOperation::Request {
            let frame = arp::reply(self.config.mac, ours, &repr);
            if self.queue_frame(frame) {
                self.stats.arp_replies_sent += 1;
            }
        }
    }

    fn receive_ipv4(&mut self, payload: &[u8], now: Instant) {
        self.stats.ipv4_rx += 1;
        let packet = match ipv4::validate(payload, &self.config.addr) {
            Ok(p) => p,
            Err(reason) => {
                let s = &mut self.stats;
                match reason {
                    DropReason::Truncated => s.ipv4_drop_truncated += 1,
                    DropReason::Malformed => s.ipv4_drop_malformed += 1,
                    DropReason::Checksum => s.ipv4_drop_checksum += 1,
                    DropReason::NotOurs => s.ipv4_drop_not_ours += 1,
                    DropReason::BadSource => s.ipv4_drop_bad_source += 1,
                }
                return;
            }
        };
        if packet.is_fragment() {
            self.receive_fragment(&packet, now);
            return;
        }
        self.dispatch(
            packet.src,
            packet.protocol,
            packet.payload,
            Some(packet.packet),
            now,
        );
    }

    fn receive_fragment(&mut self, packet: &Received<'_>, now: Instant) {
        self.stats.frag_rx += 1;
        let key = FragKey {
            src: packet.src,
            dst: packet.dst,
            ident: packet.ident,
            protocol: packet.protocol,
        };
        let limits = &self.config.limits;
        let evicted = self.reassembly.evicted();
        let outcome = self.reassembly.add(
            key,
            packet.frag_offset,
            packet.more_frags,
            packet.payload,
            now,
            limits,
        );
        self.stats.frag_evicted += self.reassembly.evicted() - evicted;
        match outcome {
            FragOutcome::Incomplete | FragOutcome::Duplicate => {}
            FragOutcome::Complete(datagram) => {
                self.stats.frag_reassembled += 1;
                self.dispatch(packet.src, packet.protocol, &datagram, None, now);
            }
            FragOutcome::Overlap => self.stats.frag_drop_overlap += 1,
            FragOutcome::Limit => self.stats.frag_drop_limit += 1,
            FragOutcome::Malformed => self.stats.frag_drop_malformed += 1,
        }
        self.publish_reassembly_gauges();
    }

    fn publish_reassembly_gauges(&mut self) {
        self.stats.frag_pending = self.reassembly.len() as u64;
        self.stats.frag_pending_bytes = self.reassembly.bytes() as u64;
    }

    /// Hands a complete datagram to its protocol. `packet` is the original packet (header
    /// included) when it was not reassembled; ICMP errors quote it.
    fn dispatch(
        &mut self,
        src: Ipv4Addr,
        protocol: IpProtocol,
        payload: &[u8],
        packet: Option<&[u8]>,
        now: Instant,
    ) {
        match protocol {
            IpProtocol::Icmp => self.receive_icmp(src, payload, now),
            IpProtocol::Tcp => self.receive_tcp(src, payload, now),
            IpProtocol::Udp => self.receive_udp(src, payload, packet, now),
            IpProtocol::Unknown(_) => {
                // RFC 1122 §3.2.2.1: a protocol we do not speak gets protocol unreachable.
                self.stats.ipv4_drop_protocol += 1;
                if let Some(original) = packet {
                    if self.send_unreachable(src, DstUnreachable::ProtoUnreachable, original, now) {
                        self.stats.icmp_proto_unreachable_sent += 1;
                    }
                }
            }
        }
    }

    fn receive_icmp(&mut self, src: Ipv4Addr, payload: &[u8], now: Instant) {
        self.stats.icmp_rx += 1;
        let repr = match Icmpv4Packet::new_checked(payload).and_then(|p| Icmpv4Repr::parse(&p)) {
            Ok(r) => r,
            Err(WireError::Unsupported(_)) => {
                self.stats.icmp_drop_unhandled += 1;
                return;
            }
            Err(_) => {
                self.stats.icmp_drop_malformed += 1;
                return;
            }
        };
        match repr {
            Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => {
                // RFC 1122 §3.2.2.6: the reply carries the request's data unchanged.
                let reply = Icmpv4Repr::EchoReply {
                    ident,
                    seq_no,
                    data,
                };
                let len = reply.buffer_len();
                if IPV4_HEADER + len > self.config.mtu {
                    // Only reachable with a reassembled request larger than our MTU; we do
                    // not fragment.
                    self.stats.icmp_drop_unhandled += 1;
                    return;
                }
                let mut frame = vec![0u8; FRAME_HEADERS + len];
                reply.emit(&mut Icmpv4Packet::new_unchecked(
                    &mut frame[FRAME_HEADERS..],
                ));
                if self.send_ip(frame, src, IpProtocol::Icmp, now) {
                    self.stats.icmp_echo_replies += 1;
                }
            }
            Icmpv4Repr::DstUnreachable {
                reason: DstUnreachable::FragRequired,
                next_hop_mtu,
                header,
                data,
            } => self.frag_needed(next_hop_mtu, &header, data, now),
            _ => self.stats.icmp_drop_unhandled += 1,
        }
    }

    /// RFC 1191 §6: a router could not forward one of our DF packets; lower the path MTU
    /// toward the quoted destination, and tell the connection the quoted TCP header names.
    fn frag_needed(
        &mut self,
        next_hop_mtu: u16,
        header: &boomerang_wire::Ipv4Repr,
        data: &[u8],
        now: Instant,
    ) {
        if header.src_addr != self.config.addr.address {
            self.stats.icmp_drop_unhandled += 1;
            return;
        }
        let quoted_len = IPV4_HEADER + header.payload_len;
        let mtu = if next_hop_mtu == 0 {
            // RFC 1191 §5: an old router; guess the next plateau below the quoted length.
            plateau_below(quoted_len)
        } else {
            usize::from(next_hop_mtu)
        };
        let mtu = mtu.clamp(MIN_PATH_MTU, self.config.mtu);
        let dst = header.dst_addr;
        let limits = &self.config.limits;
        if self
            .pmtu
            .lower(dst, mtu, now, limits.pmtu_expiry, limits.pmtu_cache_max)
        {
            self.stats.icmp_pmtu_updates += 1;
        }
        // The quoted TCP header's first 4 bytes are its ports.
        if header.protocol == IpProtocol::Tcp {
            if let (Some(sp), Some(dp)) = (data.get(0..2), data.get(2..4)) {
                let tuple = FourTuple {
                    local: std::net::SocketAddrV4::new(
                        header.src_addr,
                        u16::from_be_bytes([sp[0], sp[1]]),
                    ),
                    remote: std::net::SocketAddrV4::new(dst, u16::from_be_bytes([dp[0], dp[1]])),
                };
                self.lower_conn_mtu(tuple, mtu, now);
            }
        }
    }

    /// RFC 768 / RFC 1122 §4.1.3.1: no UDP socket is open, so every valid datagram gets a
    /// (rate-limited) port unreachable.
    fn receive_udp(&mut self, src: Ipv4Addr, payload: &[u8], packet: Option<&[u8]>, now: Instant) {
        self.stats.udp_rx += 1;
        let ok = UdpPacket::new_checked(payload)
            .map(|p| p.verify_checksum(src, self.config.addr.address))
            .unwrap_or(false);
        if !ok {
            self.stats.udp_drop_malformed += 1;
            return;
        }
        let Some(original) = packet else {
            // A reassembled datagram: we no longer hold its first header to quote. Drop quietly.
            self.stats.icmp_drop_unhandled += 1;
            return;
        };
        if self.send_unreachable(src, DstUnreachable::PortUnreachable, original, now) {
            self.stats.icmp_port_unreachable_sent += 1;
        }
    }

    /// Sends a rate-limited destination-unreachable error quoting `original` (header + data, up
    /// to 576 bytes in all, RFC 1812 §4.3.2.3). Returns whether it was sent.
    fn send_unreachable(
        &mut self,
        dst: Ipv4Addr,
        reason: DstUnreachable,
        original: &[u8],
        now: Instant,
    ) -> bool {
        if !self.icmp_limiter.allow(now) {
            self.stats.icmp_rate_limited += 1;
            return false;
        }
        let quote_len = original
            .len()
            .min(ICMP_ERROR_MAX_LEN - IPV4_HEADER - boomerang_wire::icmpv4::HEADER_LEN);
        let quote = original.get(..quote_len).unwrap_or(original);
        let icmp_len = boomerang_wire::icmpv4::HEADER_LEN + quote.len();
        let mut frame = vec![0u8; FRAME_HEADERS + icmp_len];
        {
            let mut icmp = Icmpv4Packet::new_unchecked(&mut frame[FRAME_HEADERS..]);
            icmp.set_msg_type(Icmpv4Message::DstUnreachable);
            icmp.set_msg_code(reason.into());
            icmp.data_mut().copy_from_slice(quote);
            icmp.fill_checksum();
        }
        self.send_ip(frame, dst, IpProtocol::Icmp, now)
    }

    /// The next hop toward `dst`: itself when on-link, else the gateway (RFC 1122 §3.3.1).
    pub(crate) fn next_hop(&self, dst: Ipv4Addr) -> Option<Ipv4Addr> {
        if self.config.addr.contains(dst) {
            Some(dst)
        } else {
            self.config.gateway
        }
    }

    /// The MAC of `hop` if the shared cache holds a live mapping. Queues a unicast refresh when
    /// the mapping is about to expire (RFC 1122 §2.3.2.1).
    pub(crate) fn neighbour(&mut self, hop: Ipv4Addr, now: Instant) -> Option<EthernetAddress> {
        let entry = self.shared.arp_lookup(hop)?;
        let limits = &self.config.limits;
        let age = now.saturating_duration_since(entry.confirmed);
        if age >= limits.arp_entry_ttl {
            return None;
        }
        if age
            >= limits
                .arp_entry_ttl
                .saturating_sub(limits.arp_refresh_before)
            && self.pending.may_refresh(
                hop,
                now,
                limits.arp_request_interval,
                limits.arp_pending_hops,
            )
        {
            let req = arp::request(self.config.mac, self.config.addr.address, hop, entry.mac);
            if self.queue_frame(req) {
                self.stats.arp_requests_sent += 1;
            }
        }
        Some(entry.mac)
    }

    /// Until when a mapping looked up now may be reused without asking the cache again.
    pub(crate) fn neighbour_valid_until(&self, hop: Ipv4Addr) -> Option<Instant> {
        let entry = self.shared.arp_lookup(hop)?;
        let limits = &self.config.limits;
        Some(
            entry.confirmed
                + limits
                    .arp_entry_ttl
                    .saturating_sub(limits.arp_refresh_before),
        )
    }

    /// Fills in the IPv4 header of `frame` (whose payload is already written after
    /// [`FRAME_HEADERS`]) and sends it toward `dst`, queueing it while ARP resolves the next
    /// hop. Returns false if it was dropped (no route, queue full).
    pub(crate) fn send_ip(
        &mut self,
        mut frame: Vec<u8>,
        dst: Ipv4Addr,
        protocol: IpProtocol,
        now: Instant,
    ) -> bool {
        let Some(hop) = self.next_hop(dst) else {
            self.stats.ipv4_drop_no_route += 1;
            return false;
        };
        let payload_len = frame.len() - FRAME_HEADERS;
        let ident = self.next_ident();
        let mac = self.neighbour(hop, now);
        ipv4::emit_headers(
            &mut frame,
            self.config.mac,
            mac.unwrap_or(EthernetAddress([0; 6])),
            self.config.addr.address,
            dst,
            protocol,
            payload_len,
            ident,
        );
        self.stats.ipv4_tx += 1;
        if mac.is_some() {
            return self.queue_frame(frame);
        }
        match self
            .pending
            .push_frame(hop, frame, now, &self.config.limits)
        {
            Ok(created) => {
                if created {
                    self.request_hop(hop, now);
                }
                true
            }
            Err(arp::QueueError::Full) => {
                self.stats.arp_drop_pending_full += 1;
                false
            }
        }
    }

    /// Broadcasts an ARP request for `hop` and notes it in the pending queue.
    pub(crate) fn request_hop(&mut self, hop: Ipv4Addr, now: Instant) {
        let req = arp::request(
            self.config.mac,
            self.config.addr.address,
            hop,
            EthernetAddress::BROADCAST,
        );
        if self.queue_frame(req) {
            self.stats.arp_requests_sent += 1;
        }
        self.pending
            .requested(hop, now, self.config.limits.arp_request_interval);
    }

    /// Moves what waited for `hop` to the transmit queues now that it is at `mac`.
    fn release_pending(&mut self, hop: Ipv4Addr, mac: EthernetAddress) {
        let Some(waiting) = self.pending.take(hop) else {
            return;
        };
        for mut frame in waiting.frames {
            if let Some(dst) = frame.get_mut(0..6) {
                dst.copy_from_slice(&mac.0);
            }
            self.queue_frame(frame);
        }
        for c in waiting.conns {
            self.mark_dirty(c);
        }
    }

    /// Resolutions learned by other shards, retries and give-ups of the pending queue.
    fn service_pending(&mut self, now: Instant) {
        if self.pending.is_empty() {
            return;
        }
        let hops: Vec<(Ipv4Addr, u32, Instant)> = self
            .pending
            .hops()
            .map(|h| (h.hop, h.requests, h.next_request))
            .collect();
        for (hop, requests, next_request) in hops {
            let ttl = self.config.limits.arp_entry_ttl;
            match self.shared.arp_lookup(hop) {
                Some(e) if now.saturating_duration_since(e.confirmed) < ttl => {
                    self.release_pending(hop, e.mac);
                    continue;
                }
                _ => {}
            }
            self.pending.checked(hop, now);
            if now < next_request {
                continue;
            }
            if requests >= self.config.limits.arp_max_requests {
                if let Some(gone) = self.pending.take(hop) {
                    self.stats.arp_drop_unresolved += gone.frames.len() as u64;
                    // Connections will park again (and ask again) on their next retransmission.
                    for c in gone.conns {
                        if let Some(conn) = self.conns.get_mut(c.index, c.generation) {
                            conn.in_dirty = false;
                        }
                    }
                }
            } else {
                self.request_hop(hop, now);
            }
        }
    }

    /// Appends a complete frame to the control transmit queue (bounded).
    pub(crate) fn queue_frame(&mut self, frame: Vec<u8>) -> bool {
        if self.tx_queue.len() >= self.config.limits.tx_queue_max {
            self.stats.tx_drop_queue_full += 1;
            return false;
        }
        self.tx_queue.push_back(frame);
        true
    }

    pub(crate) fn next_ident(&mut self) -> u16 {
        self.ip_ident = self.ip_ident.wrapping_add(1);
        self.ip_ident
    }

    /// Writes the next frame to send into `buf` and returns its length; `None` when there is
    /// nothing to send now. Control frames (ARP, ICMP, RST) go first, then TCP segments of the
    /// connections with something to send, round robin.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.service_pending(now);
        if let Some(n) = self.pop_control_frame(buf) {
            return Some(n);
        }
        if let Some(n) = self.transmit_tcp(now, buf) {
            return Some(n);
        }
        // Connections waiting for ARP may have queued a request just now.
        self.pop_control_frame(buf)
    }

    fn pop_control_frame(&mut self, buf: &mut [u8]) -> Option<usize> {
        while let Some(frame) = self.tx_queue.pop_front() {
            let Some(dst) = buf.get_mut(..frame.len()) else {
                self.stats.tx_drop_buffer_too_small += 1;
                continue;
            };
            dst.copy_from_slice(&frame);
            self.stats.tx_frames += 1;
            self.stats.tx_bytes += frame.len() as u64;
            return Some(frame.len());
        }
        None
    }

    /// The earliest instant at which [`Shard::on_timeout`] has work (it may be early, never
    /// late). Frames ready to send are not deadlines: call `poll_transmit` until `None` first.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self
            .timers
            .next_expiration()
            .map(|k| self.timers.instant_of(k));
        for other in [
            self.reassembly.next_deadline(),
            self.pending.next_deadline(),
            self.time_wait.next_deadline(),
            (!self.shared_arp_is_empty()).then_some(self.next_arp_sweep),
        ]
        .into_iter()
        .flatten()
        {
            t = Some(t.map_or(other, |x| x.min(other)));
        }
        t
    }

    fn shared_arp_is_empty(&self) -> bool {
        self.shared.arp_snapshot().is_empty()
    }

    /// Runs the timers due at `now`: TCP retransmission, delayed ACK, persist, keep-alive and
    /// TIME-WAIT; reassembly timeouts; ARP retries and cache expiry.
    pub fn on_timeout(&mut self, now: Instant) {
        let tick = self.timers.ticks_floor(now);
        let mut fired = std::mem::take(&mut self.fired);
        self.timers.advance(tick, &mut fired);
        for entry in fired.drain(..) {
            self.timer_fired(entry, now);
        }
        self.fired = fired;
        self.time_wait.expire(now);
        let expired = self.reassembly.expire(now);
        self.stats.frag_drop_timeout += expired;
        if expired > 0 {
            self.publish_reassembly_gauges();
        }
        self.service_pending(now);
        if now >= self.next_arp_sweep {
            self.next_arp_sweep = now + ARP_SWEEP_INTERVAL;
            if let Some(before) = now.checked_sub(self.config.limits.arp_entry_ttl) {
                self.shared.arp_expire(before);
            }
        }
    }
}

/// RFC 1191 §7 plateau table: the largest common MTU below `len`.
fn plateau_below(len: usize) -> usize {
    const PLATEAUS: [usize; 8] = [32000, 17914, 8166, 4352, 2002, 1492, 1006, 508];
    PLATEAUS
        .iter()
        .copied()
        .find(|&p| p < len)
        .unwrap_or(MIN_PATH_MTU)
}

#[cfg(test)]
mod fragment_tests;
#[cfg(test)]
mod tests;
