//! `/metrics` for the AF_XDP server: per-queue device counters, the kernel's AF_XDP socket
//! statistics, the XDP program's counters and the stack's per-shard counters, rendered in
//! the Prometheus text format (the http crate appends its own HTTP counters).
//!
//! Shard threads publish a [`ShardSnapshot`] ten times per second (a short mutex hold,
//! never on the per-packet path); the main thread publishes the XDP counters.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use boomerang_nic::packet_socket::PacketSocket;
use boomerang_nic::pcap::PcapWriter;
use boomerang_nic::xsk::{XdpCounters, XskQueue};
use boomerang_nic::Device;
use boomerang_stack::tcp::TcpState;
use boomerang_stack::ShardStats;

/// Device-level counters of one queue, whatever the device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceSnapshot {
    /// Frames received.
    pub rx_frames: u64,
    /// Frames transmitted.
    pub tx_frames: u64,
    /// Frames dropped by the kernel for reasons other than full/empty rings.
    pub rx_dropped: u64,
    /// Frames dropped because the RX ring was full.
    pub rx_ring_full: u64,
    /// Times the kernel found the fill ring empty.
    pub fill_ring_empty: u64,
    /// Times the kernel found the TX ring empty when woken.
    pub tx_ring_empty: u64,
    /// Invalid RX/TX descriptors.
    pub invalid_descs: u64,
    /// Wakeup system calls issued (RX + TX).
    pub wakeups: u64,
    /// Frames written to the capture file.
    pub pcap_frames: u64,
}

/// A device that can report its counters.
pub trait DeviceStats: Device {
    /// Reads the counters (may make a cheap system call).
    fn snapshot(&self) -> DeviceSnapshot;
}

impl DeviceStats for XskQueue {
    fn snapshot(&self) -> DeviceSnapshot {
        let c = self.counters();
        let s = self.statistics().unwrap_or_default();
        DeviceSnapshot {
            rx_frames: c.rx_frames,
            tx_frames: c.tx_frames,
            rx_dropped: s.rx_dropped,
            rx_ring_full: s.rx_ring_full,
            fill_ring_empty: s.rx_fill_ring_empty_descs,
            tx_ring_empty: s.tx_ring_empty_descs,
            invalid_descs: s.rx_invalid_descs + s.tx_invalid_descs,
            wakeups: c.rx_wakeups + c.tx_wakeups,
            pcap_frames: 0,
        }
    }
}

impl DeviceStats for PacketSocket {
    fn snapshot(&self) -> DeviceSnapshot {
        let s = self.stats();
        DeviceSnapshot {
            rx_frames: s.rx_frames,
            tx_frames: s.tx_frames,
            rx_dropped: s.rx_truncated + self.kernel_drops().unwrap_or(0),
            ..DeviceSnapshot::default()
        }
    }
}

impl<D: DeviceStats> DeviceStats for PcapWriter<D> {
    fn snapshot(&self) -> DeviceSnapshot {
        DeviceSnapshot {
            pcap_frames: self.frames_written(),
            ..self.inner().snapshot()
        }
    }
}

/// What one shard thread publishes.
#[derive(Debug, Clone, Default)]
pub struct ShardSnapshot {
    /// The stack's counters.
    pub stats: ShardStats,
    /// Connections in the table (all states).
    pub connections: usize,
    /// Connections in TIME-WAIT.
    pub time_wait: usize,
    /// Connections by state, indexed by `TcpState::index`.
    pub by_state: [usize; 11],
    /// Open HTTP connections.
    pub http_connections: usize,
    /// The device's counters.
    pub device: DeviceSnapshot,
}

/// Reads one counter of a shard.
type StatGet = fn(&ShardStats) -> u64;

/// The stack's counters of limits hit, with the `[limits]` (or `[tcp]`) key that sets each.
pub const STACK_LIMITS: [(&str, StatGet); 7] = [
    ("max-connections", |s| s.tcp_drop_table_full),
    ("max-syn-backlog", |s| s.tcp_drop_listen_overflow),
    ("max-time-wait", |s| s.tcp_time_wait_evicted),
    ("arp-cache-max", |s| s.arp_drop_cache_full),
    ("arp-pending-per-hop / arp-pending-total", |s| {
        s.arp_drop_pending_full
    }),
    ("reassembly-max-*", |s| s.frag_drop_limit + s.frag_evicted),
    ("tx-queue-max", |s| s.tx_drop_queue_full),
];

/// Logs, at most once a second, each stack limit that was hit since the last look (the
/// counters themselves are in `/metrics`).
#[derive(Debug, Default)]
pub struct LimitWatch {
    seen: [u64; STACK_LIMITS.len()],
    log: boomerang_http::metrics::LogLimiter,
}

impl LimitWatch {
    /// Compares the shards' counters with the last look and logs the limits that grew.
    pub fn check(&mut self, metrics: &MetricsState, now: std::time::Instant) {
        if !self.log.ready(now) {
            return;
        }
        let shards = metrics.shard_snapshots();
        for ((setting, get), seen) in STACK_LIMITS.iter().zip(self.seen.iter_mut()) {
            let total: u64 = shards.iter().map(|s| get(&s.stats)).sum();
            if total > *seen {
                tracing::warn!(
                    limit = setting,
                    hits = total - *seen,
                    total,
                    "a limit of the userspace stack was hit ([limits] {setting}; see /metrics)"
                );
            }
            *seen = total;
        }
    }
}

/// Everything `/metrics` renders besides the HTTP counters.
#[derive(Debug)]
pub struct MetricsState {
    shards: Vec<Mutex<ShardSnapshot>>,
    xdp: Mutex<Option<XdpCounters>>,
    blocking_queue: AtomicUsize,
    /// `"af_xdp"` or `"af_packet"`.
    pub device_kind: &'static str,
    /// `"copy"`, `"zerocopy"` or `"-"`.
    pub bind_mode: String,
    /// `"native"`, `"generic"` or `"-"`.
    pub xdp_mode: String,
    /// The TCP congestion control (`"cubic"`, `"newreno"`, `"bbr"`; `"-"` when unknown).
    pub congestion: &'static str,
    /// The AF_XDP copy-mode transmit batch (frames per `sendto`, send buffer), if on AF_XDP.
    pub tx_budget: Option<boomerang_nic::xsk::TxBatch>,
}

impl MetricsState {
    /// State for `queues` shards.
    pub fn new(queues: usize, device_kind: &'static str, bind_mode: &str, xdp_mode: &str) -> Self {
        MetricsState {
            shards: (0..queues)
                .map(|_| Mutex::new(ShardSnapshot::default()))
                .collect(),
            xdp: Mutex::new(None),
            blocking_queue: AtomicUsize::new(0),
            device_kind,
            bind_mode: bind_mode.to_string(),
            xdp_mode: xdp_mode.to_string(),
            congestion: "-",
            tx_budget: None,
        }
    }

    /// Stores shard `i`'s latest snapshot.
    pub fn publish_shard(&self, i: usize, s: ShardSnapshot) {
        if let Some(m) = self.shards.get(i) {
            *m.lock().unwrap_or_else(PoisonError::into_inner) = s;
        }
    }

    /// Stores the XDP program's latest counters.
    pub fn publish_xdp(&self, c: XdpCounters) {
        *self.xdp.lock().unwrap_or_else(PoisonError::into_inner) = Some(c);
    }

    /// Stores the number of jobs waiting in the blocking pool's queue.
    pub fn publish_blocking_queue(&self, jobs: usize) {
        self.blocking_queue.store(jobs, Ordering::Relaxed);
    }

    /// A copy of every shard's snapshot.
    pub fn shard_snapshots(&self) -> Vec<ShardSnapshot> {
        self.shards
            .iter()
            .map(|m| m.lock().unwrap_or_else(PoisonError::into_inner).clone())
            .collect()
    }

    /// Appends the Prometheus text to `out`.
    pub fn render(&self, out: &mut String) {
        let shards = self.shard_snapshots();
        let _ = writeln!(
            out,
            "# HELP boomerang_info The device and modes this server runs with.\n# TYPE boomerang_info gauge\nboomerang_info{{device=\"{}\",bind_mode=\"{}\",xdp_mode=\"{}\",queues=\"{}\",congestion=\"{}\"}} 1",
            self.device_kind,
            self.bind_mode,
            self.xdp_mode,
            shards.len(),
            self.congestion
        );
        if let Some(b) = self.tx_budget {
            let _ = writeln!(
                out,
                "# HELP boomerang_xdp_tx_budget Frames one copy-mode AF_XDP sendto may transmit.\n# TYPE boomerang_xdp_tx_budget gauge\nboomerang_xdp_tx_budget {}\n# HELP boomerang_xdp_send_buffer_bytes The AF_XDP socket's send buffer (SO_SNDBUF).\n# TYPE boomerang_xdp_send_buffer_bytes gauge\nboomerang_xdp_send_buffer_bytes {}",
                b.budget, b.send_buffer
            );
        }
        type DevGet = fn(&DeviceSnapshot) -> u64;
        let device: [(&str, &str, DevGet); 9] = [
            ("rx_packets_total", "Frames received by the queue.", |d| {
                d.rx_frames
            }),
            (
                "tx_packets_total",
                "Frames transmitted by the queue.",
                |d| d.tx_frames,
            ),
            (
                "rx_dropped_total",
                "Frames the kernel dropped (AF_XDP rx_dropped; AF_PACKET drops).",
                |d| d.rx_dropped,
            ),
            (
                "rx_ring_full_total",
                "Frames dropped because the RX ring was full.",
                |d| d.rx_ring_full,
            ),
            (
                "fill_ring_empty_total",
                "Times the kernel found the fill ring empty.",
                |d| d.fill_ring_empty,
            ),
            (
                "tx_ring_empty_total",
                "Times the kernel found the TX ring empty when woken.",
                |d| d.tx_ring_empty,
            ),
            (
                "invalid_descriptors_total",
                "Invalid RX/TX ring descriptors.",
                |d| d.invalid_descs,
            ),
            ("wakeups_total", "Wakeup system calls (need_wakeup).", |d| {
                d.wakeups
            }),
            (
                "pcap_frames_total",
                "Frames written to the --pcap file.",
                |d| d.pcap_frames,
            ),
        ];
        for (name, help, get) in device {
            let _ = writeln!(
                out,
                "# HELP boomerang_queue_{name} {help}\n# TYPE boomerang_queue_{name} counter"
            );
            for (i, s) in shards.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "boomerang_queue_{name}{{queue=\"{i}\"}} {}",
                    get(&s.device)
                );
            }
        }
        let stack: [(&str, &str, StatGet); 41] = [
            ("rx_bytes_total", "Bytes of frames received by the stack.", |s| s.rx_bytes),
            ("tx_bytes_total", "Bytes of frames sent by the stack.", |s| s.tx_bytes),
            ("eth_dropped_total", "Ethernet frames dropped (truncated, not ours, other EtherType).", |s| s.eth_drop_truncated + s.eth_drop_not_ours + s.eth_drop_ethertype),
            ("arp_replies_total", "ARP requests answered.", |s| s.arp_replies_sent),
            ("ipv4_rx_total", "IPv4 packets received.", |s| s.ipv4_rx),
            ("ipv4_checksum_failures_total", "IPv4 header checksum failures.", |s| s.ipv4_drop_checksum),
            ("ipv4_dropped_total", "IPv4 packets dropped (malformed, not ours, bad source, protocol, no route).", |s| s.ipv4_drop_truncated + s.ipv4_drop_malformed + s.ipv4_drop_not_ours + s.ipv4_drop_bad_source + s.ipv4_drop_protocol + s.ipv4_drop_no_route),
            ("ipv4_fragments_received_total", "IPv4 fragments received.", |s| s.frag_rx),
            ("ipv4_reassembled_total", "IPv4 datagrams reassembled from fragments.", |s| s.frag_reassembled),
            ("reassembly_drops_total", "Fragments or datagrams dropped by reassembly (overlap, limits, malformed, timeout).", |s| s.frag_drop_overlap + s.frag_drop_limit + s.frag_drop_malformed + s.frag_drop_timeout),
            ("reassembly_evictions_total", "Incomplete datagrams evicted, least recently fed first, to make room for newer fragments when the reassembly budget was full.", |s| s.frag_evicted),
            ("icmp_echo_replies_total", "ICMP echo replies sent.", |s| s.icmp_echo_replies),
            ("tcp_segments_received_total", "TCP segments received.", |s| s.tcp_rx),
            ("tcp_segments_sent_total", "TCP segments sent.", |s| s.tcp_tx),
            ("tcp_checksum_failures_total", "TCP segments with a bad checksum.", |s| s.tcp_drop_checksum),
            ("tcp_malformed_total", "TCP segments that could not be parsed.", |s| s.tcp_drop_malformed),
            ("tcp_resets_sent_total", "RSTs sent for segments matching no connection.", |s| s.tcp_rst_no_connection),
            ("tcp_resets_received_total", "RST segments received (every RST with a valid checksum, matched or not).", |s| s.tcp_rst_received),
            ("tcp_resets_accepted_total", "Received RSTs at exactly RCV.NXT that closed their connection (RFC 5961 §3.2).", |s| s.tcp_rst_accepted),
            ("tcp_challenge_acks_total", "In-window RSTs not at RCV.NXT and SYNs on synchronized connections that called for a challenge ACK (RFC 5961 §3, §4; some suppressed by the §7 rate limit).", |s| s.tcp_challenge_acks),
            ("tcp_syncookies_sent_total", "SYN-ACKs sent with a SYN cookie because the SYN backlog was full.", |s| s.syncookies_sent),
            ("tcp_syncookies_ok_total", "Handshakes completed through a valid SYN cookie.", |s| s.syncookies_ok),
            ("tcp_syncookies_failed_total", "ACKs checked as SYN cookies that were not valid.", |s| s.syncookies_failed),
            ("icmp_proto_unreachable_total", "ICMP protocol-unreachable messages sent.", |s| s.icmp_proto_unreachable_sent),
            ("tcp_listen_overflows_total", "SYNs dropped: accept queue or SYN backlog full.", |s| s.tcp_drop_listen_overflow),
            ("tcp_table_full_total", "SYNs dropped: connection table full.", |s| s.tcp_drop_table_full),
            ("tcp_passive_opens_total", "Connections opened by a SYN to a listener.", |s| s.tcp_passive_opens),
            ("tcp_active_opens_total", "Connections opened by connect.", |s| s.tcp_active_opens),
            ("tcp_established_total", "Connections that reached ESTABLISHED.", |s| s.tcp_established),
            ("tcp_closed_total", "Connections removed from the table.", |s| s.tcp_closed),
            ("tcp_time_wait_evicted_total", "TIME-WAIT entries evicted because the table was full.", |s| s.tcp_time_wait_evicted),
            ("tcp_retransmitted_segments_total", "Segments that resent sequence space sent before.", |s| s.tcp_retransmitted_segments),
            ("tcp_retransmit_timeouts_total", "Retransmission timer expirations (RFC 6298).", |s| s.tcp_retransmit_timeouts),
            ("tcp_fast_retransmits_total", "Loss recoveries entered by duplicate ACKs or SACK (RFC 5681, RFC 6675).", |s| s.tcp_fast_retransmits),
            ("tcp_recovery_undos_total", "Fast recoveries undone: D-SACKs showed every retransmission needless (RFC 2883, RFC 3708).", |s| s.tcp_recovery_undos),
            ("tcp_tlp_repaired_total", "Tail loss probes that repaired a real loss (RFC 8985 §7.4.2; the window was reduced).", |s| s.tcp_tlp_repaired),
            ("tcp_rto_undos_total", "Retransmission timeouts undone: the first ACK after the timeout echoed a timestamp from before it (RFC 3522, RFC 4015).", |s| s.tcp_rto_undos),
            ("arp_cache_full_total", "Mappings not learned because the ARP cache was full (arp-cache-max).", |s| s.arp_drop_cache_full),
            ("arp_pending_dropped_total", "Packets dropped because the queue for unresolved next hops was full.", |s| s.arp_drop_pending_full),
            ("icmp_rate_limited_total", "ICMP errors not sent because of the rate limit (icmp-errors-per-sec).", |s| s.icmp_rate_limited),
            ("tx_dropped_total", "Frames the stack dropped before transmission (queue full, buffer too small).", |s| s.tx_drop_queue_full + s.tx_drop_buffer_too_small),
        ];
        for (name, help, get) in stack {
            let _ = writeln!(
                out,
                "# HELP boomerang_stack_{name} {help}\n# TYPE boomerang_stack_{name} counter"
            );
            for (i, s) in shards.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "boomerang_stack_{name}{{queue=\"{i}\"}} {}",
                    get(&s.stats)
                );
            }
        }
        type Gauge = fn(&ShardSnapshot) -> usize;
        let gauges: [(&str, &str, Gauge); 6] = [
            (
                "tcp_syn_received",
                "TCP connections in SYN-RECEIVED (half-open, in a listener's SYN backlog).",
                |s| usize::try_from(s.stats.tcp_half_open).unwrap_or(usize::MAX),
            ),
            (
                "tcp_connections",
                "TCP connections in the table (all states).",
                |s| s.connections,
            ),
            ("tcp_time_wait", "TCP connections in TIME-WAIT.", |s| {
                s.time_wait
            }),
            ("http_connections", "Open HTTP connections.", |s| {
                s.http_connections
            }),
            (
                "ipv4_reassembly_datagrams",
                "IPv4 datagrams waiting for more fragments (the reassembly table).",
                |s| usize::try_from(s.stats.frag_pending).unwrap_or(usize::MAX),
            ),
            (
                "ipv4_reassembly_bytes",
                "Bytes held by the reassembly table.",
                |s| usize::try_from(s.stats.frag_pending_bytes).unwrap_or(usize::MAX),
            ),
        ];
        for (name, help, get) in gauges {
            let _ = writeln!(
                out,
                "# HELP boomerang_stack_{name} {help}\n# TYPE boomerang_stack_{name} gauge"
            );
            for (i, s) in shards.iter().enumerate() {
                let _ = writeln!(out, "boomerang_stack_{name}{{queue=\"{i}\"}} {}", get(s));
            }
        }
        let _ = writeln!(
            out,
            "# HELP boomerang_stack_tcp_connections_by_state TCP connections by RFC 9293 state.\n# TYPE boomerang_stack_tcp_connections_by_state gauge"
        );
        for (i, s) in shards.iter().enumerate() {
            for state in TcpState::ALL {
                let _ = writeln!(
                    out,
                    "boomerang_stack_tcp_connections_by_state{{queue=\"{i}\",state=\"{state}\"}} {}",
                    s.by_state[state.index()]
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP boomerang_blocking_queue_jobs Jobs waiting in the blocking pool's queue (file reads, blocking handlers).\n# TYPE boomerang_blocking_queue_jobs gauge\nboomerang_blocking_queue_jobs {}",
            self.blocking_queue.load(Ordering::Relaxed)
        );
        if let Some(x) = *self.xdp.lock().unwrap_or_else(PoisonError::into_inner) {
            for (name, help, v) in [
                (
                    "redirected",
                    "Frames the XDP program redirected to our sockets.",
                    x.redirected,
                ),
                (
                    "passed",
                    "Frames the XDP program passed to the kernel (not ours).",
                    x.passed,
                ),
                (
                    "dropped",
                    "Frames for us that arrived on a queue without a socket.",
                    x.dropped,
                ),
            ] {
                let _ = writeln!(
                    out,
                    "# HELP boomerang_xdp_{name}_total {help}\n# TYPE boomerang_xdp_{name}_total counter\nboomerang_xdp_{name}_total {v}"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_limits_are_looked_at_once_a_second() {
        let m = MetricsState::new(2, "af_xdp", "copy", "native");
        let publish = |table_full: u64| {
            let mut s = ShardSnapshot::default();
            s.stats.tcp_drop_table_full = table_full;
            m.publish_shard(1, s);
        };
        let t0 = std::time::Instant::now();
        let mut w = LimitWatch::default();
        publish(5);
        w.check(&m, t0);
        assert_eq!(w.seen[0], 5);
        publish(7);
        w.check(&m, t0 + std::time::Duration::from_millis(500));
        assert_eq!(w.seen[0], 5, "not looked at within the second");
        w.check(&m, t0 + std::time::Duration::from_secs(1));
        assert_eq!(w.seen[0], 7);
        assert_eq!(STACK_LIMITS[0].0, "max-connections");
    }

    #[test]
    fn renders_prometheus_text() {
        let mut m = MetricsState::new(2, "af_xdp", "copy", "native");
        m.congestion = "bbr";
        m.tx_budget = Some(boomerang_nic::xsk::TxBatch {
            budget: 2048,
            budget_set: true,
            send_buffer: 1 << 24,
        });
        let mut s = ShardSnapshot::default();
        s.stats.tcp_rx = 7;
        s.stats.tcp_rst_received = 4;
        s.stats.tcp_challenge_acks = 2;
        s.stats.tcp_half_open = 9;
        s.stats.syncookies_sent = 12;
        s.stats.frag_evicted = 13;
        s.connections = 3;
        s.by_state[TcpState::FinWait1.index()] = 3;
        s.stats.frag_pending = 2;
        s.stats.frag_pending_bytes = 2960;
        s.device.rx_frames = 11;
        m.publish_shard(1, s);
        m.publish_blocking_queue(5);
        m.publish_xdp(XdpCounters {
            redirected: 5,
            passed: 6,
            dropped: 0,
        });
        let mut out = String::new();
        m.render(&mut out);
        assert!(
            out.contains("boomerang_stack_tcp_segments_received_total{queue=\"1\"} 7"),
            "{out}"
        );
        assert!(out.contains("boomerang_stack_tcp_connections{queue=\"1\"} 3"));
        assert!(out.contains(
            "boomerang_stack_tcp_connections_by_state{queue=\"1\",state=\"FIN-WAIT-1\"} 3\n"
        ));
        assert!(out.contains("queues=\"2\",congestion=\"bbr\"} 1"), "{out}");
        assert!(out.contains("\nboomerang_xdp_tx_budget 2048\n"), "{out}");
        assert!(out.contains("\nboomerang_xdp_send_buffer_bytes 16777216\n"));
        assert!(out.contains("boomerang_stack_tcp_resets_received_total{queue=\"1\"} 4"));
        assert!(out.contains("boomerang_stack_tcp_challenge_acks_total{queue=\"1\"} 2"));
        assert!(out.contains("boomerang_stack_tcp_syn_received{queue=\"1\"} 9"));
        assert!(out.contains("# TYPE boomerang_stack_tcp_syn_received gauge"));
        assert!(out.contains("boomerang_stack_tcp_syncookies_sent_total{queue=\"1\"} 12"));
        assert!(out.contains("boomerang_stack_tcp_syncookies_failed_total{queue=\"0\"} 0"));
        assert!(out.contains("boomerang_stack_icmp_proto_unreachable_total{queue=\"0\"} 0"));
        assert!(out.contains("boomerang_stack_reassembly_evictions_total{queue=\"1\"} 13"));
        assert!(out.contains("boomerang_queue_rx_packets_total{queue=\"1\"} 11"));
        assert!(out.contains("boomerang_xdp_passed_total 6"));
        assert!(out.contains("boomerang_stack_ipv4_reassembly_datagrams{queue=\"1\"} 2"));
        assert!(out.contains("boomerang_stack_ipv4_reassembly_bytes{queue=\"1\"} 2960"));
        assert!(out.contains(
            "# TYPE boomerang_blocking_queue_jobs gauge\nboomerang_blocking_queue_jobs 5\n"
        ));
        assert!(out.contains("bind_mode=\"copy\""));
        // Every sample line is `name{labels} value` or `name value`.
        for line in out.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap_or("");
            assert!(value.parse::<f64>().is_ok(), "bad line {line}");
        }
    }
}
