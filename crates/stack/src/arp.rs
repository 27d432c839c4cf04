//! ARP (RFC 826) for one shard: building requests, replies and announcements, and the bounded
//! queue of packets and connections waiting for a next hop to be resolved.
//!
//! The mappings themselves live in the shared cache ([`crate::Shared`]), so a reply received by
//! any shard serves all of them; each shard keeps only its own waiting packets and polls the
//! shared cache for their resolution. Iteration order is insertion order (a `Vec`, bounded by
//! `Limits::arp_pending_hops`), so a run with a fixed input is reproducible.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::Instant;

use boomerang_wire::{
    ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetAddress, EthernetFrame, EthernetRepr,
};

use crate::socket::ConnId;

/// While a next hop is unresolved, how often the shard looks into the shared cache for a
/// mapping learned by another shard (the reply may arrive on another RX queue).
pub const SHARED_RECHECK: std::time::Duration = std::time::Duration::from_millis(10);

/// Length of an ARP frame for IPv4 over Ethernet (14 + 28 bytes; the NIC pads it).
pub const ARP_FRAME_LEN: usize = 42;

/// Builds an Ethernet frame carrying `repr`, from `src` to `dst`.
pub fn arp_frame(src: EthernetAddress, dst: EthernetAddress, repr: &ArpRepr) -> Vec<u8> {
    let mut buf = vec![0u8; ARP_FRAME_LEN];
    let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
    EthernetRepr {
        src_addr: src,
        dst_addr: dst,
        ethertype: EtherType::Arp,
    }
    .emit(&mut frame);
    repr.emit(&mut ArpPacket::new_unchecked(frame.payload_mut()));
    buf
}

/// A request for `target` from `our_mac`/`our_ip`, broadcast or (refresh) unicast to `dst`.
pub fn request(
    our_mac: EthernetAddress,
    our_ip: Ipv4Addr,
    target: Ipv4Addr,
    dst: EthernetAddress,
) -> Vec<u8> {
    arp_frame(
        our_mac,
        dst,
        &ArpRepr {
            operation: ArpOperation::Request,
            source_hardware_addr: our_mac,
            source_protocol_addr: our_ip,
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: target,
        },
    )
}

/// A gratuitous ARP announcement (RFC 5227 §3: a request with sender = target = our address).
pub fn announcement(our_mac: EthernetAddress, our_ip: Ipv4Addr) -> Vec<u8> {
    arp_frame(
        our_mac,
        EthernetAddress::BROADCAST,
        &ArpRepr {
            operation: ArpOperation::Request,
            source_hardware_addr: our_mac,
            source_protocol_addr: our_ip,
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: our_ip,
        },
    )
}

/// The reply to `req`, which asked for our address (RFC 826 "Packet Reception").
pub fn reply(our_mac: EthernetAddress, our_ip: Ipv4Addr, req: &ArpRepr) -> Vec<u8> {
    arp_frame(
        our_mac,
        req.source_hardware_addr,
        &ArpRepr {
            operation: ArpOperation::Reply,
            source_hardware_addr: our_mac,
            source_protocol_addr: our_ip,
            target_hardware_addr: req.source_hardware_addr,
            target_protocol_addr: req.source_protocol_addr,
        },
    )
}

/// Packets and connections waiting for one next hop.
#[derive(Debug)]
pub struct PendingHop {
    /// The next hop being resolved.
    pub hop: Ipv4Addr,
    /// Complete frames whose Ethernet destination is still to be filled in.
    pub frames: VecDeque<Vec<u8>>,
    /// Connections that have segments to send to this hop.
    pub conns: Vec<ConnId>,
    /// Requests sent so far.
    pub requests: u32,
    /// When the next request is due.
    pub next_request: Instant,
    /// When to look into the shared cache again (another shard may have learned the mapping).
    pub recheck: Instant,
}

/// Why a packet could not be queued for resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueError {
    /// Too many packets waiting (per hop or in total) or too many hops being resolved.
    Full,
}

/// The per-shard resolution queue (bounded by the `arp_pending_*` limits).
#[derive(Debug, Default)]
pub struct Pending {
    hops: Vec<PendingHop>,
    frames: usize,
    /// Last unicast refresh per neighbour, to send at most one per request interval.
    refreshed: Vec<(Ipv4Addr, Instant)>,
}

impl Pending {
    /// Whether anything waits for resolution.
    pub fn is_empty(&self) -> bool {
        self.hops.is_empty()
    }

    /// Frames waiting, all hops together.
    pub fn frame_count(&self) -> usize {
        self.frames
    }

    /// The earliest time a request or a look into the shared cache is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.hops
            .iter()
            .map(|h| h.next_request.min(h.recheck))
            .min()
    }

    /// Notes that the shared cache was checked for `hop` at `now` without result.
    pub fn checked(&mut self, hop: Ipv4Addr, now: Instant) {
        if let Some(h) = self.hops.iter_mut().find(|h| h.hop == hop) {
            h.recheck = now + SHARED_RECHECK;
        }
    }

    /// Finds or creates the entry for `hop`. Returns `(entry, created)`; `None` when the number
    /// of hops being resolved is at its limit.
    fn entry(&mut self, hop: Ipv4Addr, now: Instant, max_hops: usize) -> Option<(usize, bool)> {
        if let Some(i) = self.hops.iter().position(|h| h.hop == hop) {
            return Some((i, false));
        }
        if self.hops.len() >= max_hops {
            return None;
        }
        self.hops.push(PendingHop {
            hop,
            frames: VecDeque::new(),
            conns: Vec::new(),
            requests: 0,
            next_request: now,
            recheck: now + SHARED_RECHECK,
        });
        Some((self.hops.len() - 1, true))
    }

    /// Queues a frame for `hop`. Returns whether a request should be sent right now (new hop).
    pub fn push_frame(
        &mut self,
        hop: Ipv4Addr,
        frame: Vec<u8>,
        now: Instant,
        limits: &crate::config::Limits,
    ) -> Result<bool, QueueError> {
        if self.frames >= limits.arp_pending_total {
            return Err(QueueError::Full);
        }
        let (i, created) = self
            .entry(hop, now, limits.arp_pending_hops)
            .ok_or(QueueError::Full)?;
        let h = &mut self.hops[i];
        if h.frames.len() >= limits.arp_pending_per_hop {
            return Err(QueueError::Full);
        }
        h.frames.push_back(frame);
        self.frames += 1;
        Ok(created)
    }

    /// Parks connection `c` until `hop` resolves. Returns whether a request should be sent now.
    pub fn push_conn(
        &mut self,
        hop: Ipv4Addr,
        c: ConnId,
        now: Instant,
        limits: &crate::config::Limits,
    ) -> Result<bool, QueueError> {
        let (i, created) = self
            .entry(hop, now, limits.arp_pending_hops)
            .ok_or(QueueError::Full)?;
        let h = &mut self.hops[i];
        if !h.conns.contains(&c) {
            h.conns.push(c);
        }
        Ok(created)
    }

    /// Marks that a request for `hop` was sent at `now`; the next one is due `interval` later.
    pub fn requested(&mut self, hop: Ipv4Addr, now: Instant, interval: std::time::Duration) {
        if let Some(h) = self.hops.iter_mut().find(|h| h.hop == hop) {
            h.requests += 1;
            h.next_request = now + interval;
        }
    }

    /// Removes and returns the entry for `hop`.
    pub fn take(&mut self, hop: Ipv4Addr) -> Option<PendingHop> {
        let i = self.hops.iter().position(|h| h.hop == hop)?;
        let h = self.hops.remove(i);
        self.frames -= h.frames.len();
        Some(h)
    }

    /// The hops currently waiting, in the order they started.
    pub fn hops(&self) -> impl Iterator<Item = &PendingHop> {
        self.hops.iter()
    }

    /// Whether a unicast refresh of `ip` may be sent at `now` (at most one per `interval`);
    /// records it if so. The record list is bounded by `max`.
    pub fn may_refresh(
        &mut self,
        ip: Ipv4Addr,
        now: Instant,
        interval: std::time::Duration,
        max: usize,
    ) -> bool {
        if let Some(r) = self.refreshed.iter_mut().find(|r| r.0 == ip) {
            if now.saturating_duration_since(r.1) < interval {
                return false;
            }
            r.1 = now;
            return true;
        }
        self.refreshed
            .retain(|r| now.saturating_duration_since(r.1) < interval);
        if self.refreshed.len() >= max {
            return false;
        }
        self.refreshed.push((ip, now));
        true
    }
}
