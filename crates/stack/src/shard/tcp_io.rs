//! TCP on the shard: demultiplexing by 4-tuple, passive opens through listeners, RSTs for
//! segments with no connection, wrapping the connections' segments into IPv4 + Ethernet, and
//! each connection's life cycle (timers, TIME-WAIT table, release).

use boomerang_wire::{RxChecksum, TxChecksum};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant;

use boomerang_wire::{EthernetAddress, IpProtocol, TcpControl, TcpPacket, TcpRepr};

use super::{Conn, Shard};
use crate::config::Checksum;
use crate::ipv4::{self, FRAME_HEADERS};
use crate::socket::{ConnId, FourTuple, SocketEvent};
use crate::tcp::{self, Tcb, TcpState, TimeWaitAction};
use crate::timer::TimerEntry;

/// Bytes of IPv4 + TCP base headers subtracted from the path MTU to get the payload room.
pub const IP_TCP_HEADERS: usize = 40;

impl Shard {
    pub(crate) fn receive_tcp(&mut self, src: Ipv4Addr, payload: &[u8], now: Instant) {
        self.stats.tcp_rx += 1;
        let dst = self.config.addr.address;
        let Ok(packet) = TcpPacket::new_checked(payload) else {
            self.stats.tcp_drop_malformed += 1;
            return;
        };
        let repr = match TcpRepr::parse(&packet, src, dst, RxChecksum::Verify) {
            Ok(r) => r,
            Err(boomerang_wire::Error::Checksum) => {
                self.stats.tcp_drop_checksum += 1;
                return;
            }
            Err(_) => {
                self.stats.tcp_drop_malformed += 1;
                return;
            }
        };
        if repr.control == TcpControl::Rst {
            self.stats.tcp_rst_received += 1;
        }
        let tuple = FourTuple {
            local: SocketAddrV4::new(dst, repr.dst_port),
            remote: SocketAddrV4::new(src, repr.src_port),
        };
        if let Some(&id) = self.table.get(&tuple) {
            // RFC 9293 §3.6.1: a new SYN may reopen a connection in TIME-WAIT.
            let reuse = self.listen_ports.contains_key(&repr.dst_port)
                && self
                    .conns
                    .get(id.index, id.generation)
                    .is_some_and(|c| c.tcb.accepts_new_syn(&repr));
            if !reuse {
                self.conn_segment(id, &repr, now);
                return;
            }
            self.finish(id);
        } else if self.time_wait.contains(&tuple) {
            // RFC 9293 §3.6.1 / RFC 6191: a new SYN may reopen the 4-tuple.
            let reuse = self.listen_ports.contains_key(&repr.dst_port)
                && self
                    .time_wait
                    .get_mut(&tuple)
                    .is_some_and(|tw| tw.accepts_new_syn(&repr));
            if !reuse {
                self.time_wait_segment(tuple, &repr, now);
                return;
            }
            self.time_wait.remove(&tuple);
        }
        if repr.control == TcpControl::Syn && repr.ack_number.is_none() {
            if let Some(&lid) = self.listen_ports.get(&repr.dst_port) {
                self.passive_open(lid, tuple, &repr, now);
                return;
            }
        }
        if self.cookie_open(tuple, &repr, now) {
            return;
        }
        self.reset_no_connection(tuple, &repr, now);
    }

    /// The third segment of a SYN-cookie handshake (RFC 4987 §3.6): an ACK for no connection
    /// to a listener that recently sent cookies. A valid cookie rebuilds the connection
    /// (ESTABLISHED, queued for accept); returns false when the segment was not consumed
    /// (no cookie check, or a forged/stale cookie: the caller answers with a RST).
    fn cookie_open(&mut self, tuple: FourTuple, repr: &TcpRepr<'_>, now: Instant) -> bool {
        if matches!(repr.control, TcpControl::Syn | TcpControl::Rst) || repr.ack_number.is_none() {
            return false;
        }
        let Some(&lid) = self.listen_ports.get(&repr.dst_port) else {
            return false;
        };
        let Some(listener) = self.listeners.get_mut(lid.index, lid.generation) else {
            return false;
        };
        let recent = listener.last_cookie_sent.is_some_and(|t| {
            now.saturating_duration_since(t)
                < tcp::syn_cookie::COOKIE_PERIOD * tcp::syn_cookie::COOKIE_MAX_AGE
        });
        if !recent {
            return false;
        }
        let Some(opts) = self.cookies.validate(&tuple, repr, now) else {
            self.stats.syncookies_failed += 1;
            return false;
        };
        if listener.accept_queue.len() >= listener.backlog {
            // Like Linux: the client retransmits its ACK (or data) and may find room later.
            self.stats.tcp_drop_listen_overflow += 1;
            return true;
        }
        if self.conns.len() >= self.config.limits.max_connections {
            self.stats.tcp_drop_table_full += 1;
            return true;
        }
        let (mut tcb, outcome) = Tcb::from_syn_cookie(&self.config.tcp, tuple, repr, opts, now);
        let path_mtu = self.path_mtu_for(*tuple.remote.ip(), now);
        if path_mtu < self.config.mtu {
            tcb.set_path_mtu(path_mtu);
        }
        // Counted as half-open until `note_state` moves it to the accept queue.
        if let Some(l) = self.listeners.get_mut(lid.index, lid.generation) {
            l.half_open += 1;
        }
        let Some(id) = self.insert_conn(Conn::new(tcb, tuple, Some(lid), path_mtu)) else {
            self.stats.tcp_drop_table_full += 1;
            if let Some(l) = self.listeners.get_mut(lid.index, lid.generation) {
                l.half_open = l.half_open.saturating_sub(1);
            }
            return true;
        };
        self.stats.syncookies_ok += 1;
        self.stats.tcp_passive_opens += 1;
        if outcome.readable {
            self.push_readable(id);
        }
        self.touch(id, now);
        true
    }

    /// RFC 9293 §3.10.7.1: a segment for no connection gets a RST (unless it is one).
    fn reset_no_connection(&mut self, tuple: FourTuple, repr: &TcpRepr<'_>, now: Instant) {
        if let Some(rst) = tcp::reset_for(repr) {
            if self.send_tcp_control(tuple, &rst, now) {
                self.stats.tcp_rst_no_connection += 1;
            }
        }
    }

    /// Builds one control segment (RST) as a frame and sends it toward the tuple's remote.
    pub(crate) fn send_tcp_control(
        &mut self,
        tuple: FourTuple,
        repr: &TcpRepr<'_>,
        now: Instant,
    ) -> bool {
        let len = repr.buffer_len();
        let mut frame = vec![0u8; FRAME_HEADERS + len];
        let src = *tuple.local.ip();
        let dst = *tuple.remote.ip();
        let mut packet = TcpPacket::new_unchecked(&mut frame[FRAME_HEADERS..]);
        repr.emit(&mut packet, src, dst, TxChecksum::Leave);
        finish_checksum(&mut packet, src, dst, self.config.checksum.tcp_tx);
        let sent = self.send_ip(frame, dst, IpProtocol::Tcp, now);
        if sent {
            self.stats.tcp_tx += 1;
        }
        sent
    }

    fn passive_open(
        &mut self,
        lid: crate::socket::ListenerId,
        tuple: FourTuple,
        syn: &TcpRepr<'_>,
        now: Instant,
    ) {
        let limits = &self.config.limits;
        let Some(listener) = self.listeners.get_mut(lid.index, lid.generation) else {
            return;
        };
        if listener.accept_queue.len() >= listener.backlog {
            self.stats.tcp_drop_listen_overflow += 1;
            return;
        }
        if listener.half_open >= limits.max_syn_backlog {
            if !limits.syn_cookies {
                self.stats.tcp_drop_listen_overflow += 1;
                return;
            }
            // SYN flood defence (RFC 4987 §3.6): answer statelessly with a cookie.
            listener.last_cookie_sent = Some(now);
            let syn_ack = self.cookies.syn_ack(&self.config.tcp, &tuple, syn, now);
            if self.send_tcp_control(tuple, &syn_ack, now) {
                self.stats.syncookies_sent += 1;
            }
            return;
        }
        if self.conns.len() >= limits.max_connections {
            self.stats.tcp_drop_table_full += 1;
            return;
        }
        listener.half_open += 1;
        let iss = self.isn.isn(&tuple, now);
        let mut tcb = Tcb::listen_syn(&self.config.tcp, tuple, syn, iss, now);
        tcb.start_ts_clock(self.isn.ts_clock(&tuple, now), now);
        let path_mtu = self.path_mtu_for(*tuple.remote.ip(), now);
        if path_mtu < self.config.mtu {
            tcb.set_path_mtu(path_mtu);
        }
        let conn = Conn::new(tcb, tuple, Some(lid), path_mtu);
        let Some(id) = self.insert_conn(conn) else {
            self.stats.tcp_drop_table_full += 1;
            if let Some(l) = self.listeners.get_mut(lid.index, lid.generation) {
                l.half_open -= 1;
            }
            return;
        };
        self.stats.tcp_passive_opens += 1;
        self.touch(id, now);
    }

    /// The path MTU toward `dst`: the link MTU unless ICMP lowered it.
    pub(crate) fn path_mtu_for(&self, dst: Ipv4Addr, now: Instant) -> usize {
        self.pmtu
            .get(dst, now)
            .map_or(self.config.mtu, |m| m.min(self.config.mtu))
    }

    /// Stores a new connection in the slab and the demux table.
    pub(crate) fn insert_conn(&mut self, conn: Conn) -> Option<ConnId> {
        let tuple = conn.tuple;
        let (index, generation) = self.conns.insert(conn)?;
        let id = ConnId { index, generation };
        self.table.insert(tuple, id);
        if let Some(c) = self.conns.get_mut(index, generation) {
            c.in_table = true;
            c.counted_state = c.tcb.state();
            self.state_counts[c.counted_state.index()] += 1;
            self.stats.tcp_half_open += u64::from(c.half_open);
        }
        Some(id)
    }

    fn conn_segment(&mut self, id: ConnId, repr: &TcpRepr<'_>, now: Instant) {
        let Some(conn) = self.conns.get_mut(id.index, id.generation) else {
            return;
        };
        let outcome = conn.tcb.on_segment(repr, now);
        self.stats.tcp_fast_retransmits += u64::from(outcome.fast_retransmit);
        self.stats.tcp_recovery_undos += u64::from(outcome.undo);
        self.stats.tcp_rto_undos += u64::from(outcome.rto_undo);
        self.stats.tcp_tlp_repaired += u64::from(outcome.tlp_repaired);
        match outcome.dropped {
            Some(tcp::SegmentDrop::RstNotExact | tcp::SegmentDrop::SynInWindow) => {
                self.stats.tcp_challenge_acks += 1;
            }
            None if repr.control == TcpControl::Rst && outcome.closed => {
                self.stats.tcp_rst_accepted += 1;
            }
            _ => {}
        }
        if let Some(rst) = outcome.rst {
            let tuple = conn.tuple;
            self.send_tcp_control(tuple, &rst, now);
        }
        if outcome.readable {
            self.push_readable(id);
        }
        if outcome.writable {
            self.push_writable(id);
        }
        self.touch(id, now);
    }

    pub(crate) fn lower_conn_mtu(&mut self, tuple: FourTuple, mtu: usize, now: Instant) {
        let Some(&id) = self.table.get(&tuple) else {
            return;
        };
        if let Some(conn) = self.conns.get_mut(id.index, id.generation) {
            if mtu < conn.path_mtu {
                conn.path_mtu = mtu;
                conn.tcb.set_path_mtu(mtu);
            }
        }
        self.touch(id, now);
    }

    pub(crate) fn push_readable(&mut self, id: ConnId) {
        if let Some(c) = self.conns.get_mut(id.index, id.generation) {
            if c.owned && !c.released && !c.readable_queued {
                c.readable_queued = true;
                self.events.push_back(SocketEvent::Readable(id));
            }
        }
    }

    pub(crate) fn push_writable(&mut self, id: ConnId) {
        if let Some(c) = self.conns.get_mut(id.index, id.generation) {
            if c.owned && !c.released && !c.writable_queued {
                c.writable_queued = true;
                self.events.push_back(SocketEvent::Writable(id));
            }
        }
    }

    /// Puts a connection on the list of those that may have something to send.
    pub(crate) fn mark_dirty(&mut self, id: ConnId) {
        if let Some(c) = self.conns.get_mut(id.index, id.generation) {
            if !c.in_dirty {
                c.in_dirty = true;
                self.dirty.push_back(id);
            }
        }
    }

    /// After anything happened to a connection: note state changes (ESTABLISHED, TIME-WAIT),
    /// queue it for transmission and re-arm its timer.
    pub(crate) fn touch(&mut self, id: ConnId, now: Instant) {
        self.note_state(id, now);
        self.mark_dirty(id);
        self.arm_timer(id);
    }

    fn note_state(&mut self, id: ConnId, _now: Instant) {
        let Some(c) = self.conns.get_mut(id.index, id.generation) else {
            return;
        };
        let state = c.tcb.state();
        if c.in_table && state != c.counted_state {
            self.state_counts[c.counted_state.index()] -= 1;
            self.state_counts[state.index()] += 1;
            c.counted_state = state;
        }
        if !c.established_seen && state.is_synchronized() {
            c.established_seen = true;
            self.stats.tcp_established += 1;
            if let Some(lid) = c.listener {
                // Handshake done: from the SYN queue to the accept queue (RFC 9293 §3.9.1).
                if c.half_open {
                    c.half_open = false;
                    self.stats.tcp_half_open = self.stats.tcp_half_open.saturating_sub(1);
                    if let Some(l) = self.listeners.get_mut(lid.index, lid.generation) {
                        l.half_open = l.half_open.saturating_sub(1);
                        l.accept_queue.push_back(id);
                        if !l.acceptable_queued {
                            l.acceptable_queued = true;
                            self.events.push_back(SocketEvent::Acceptable(lid));
                        }
                    }
                }
            } else if c.owned {
                self.push_writable(id);
            }
        }
    }

    /// A connection in TIME-WAIT with nothing left to send leaves the slab for the compact
    /// TIME-WAIT table (`shard/time_wait.rs`); the application, if it still holds the handle,
    /// gets `Closed` as when TIME-WAIT ends.
    fn enter_time_wait_table(&mut self, id: ConnId, now: Instant) {
        let Some(c) = self.conns.get_mut(id.index, id.generation) else {
            return;
        };
        if !c.in_table {
            return;
        }
        let Some(record) = c.tcb.time_wait_record(now) else {
            return;
        };
        let tuple = c.tuple;
        self.finish(id);
        let limit = self.config.limits.max_time_wait;
        self.stats.tcp_time_wait_evicted += self.time_wait.insert(tuple, record, limit);
    }

    /// A segment for a 4-tuple in the TIME-WAIT table (not a SYN that reopens it).
    fn time_wait_segment(&mut self, tuple: FourTuple, repr: &TcpRepr<'_>, now: Instant) {
        let cfg = &self.config.tcp;
        let (time_wait, ack_interval) = (cfg.time_wait, cfg.invalid_ack_ratelimit);
        let Some(record) = self.time_wait.get_mut(&tuple) else {
            return;
        };
        match record.on_segment(repr, now, time_wait, ack_interval) {
            TimeWaitAction::Nothing => {}
            TimeWaitAction::Send(ack) => {
                self.send_tcp_control(tuple, &ack, now);
            }
            TimeWaitAction::Close => {
                self.time_wait.remove(&tuple);
                self.stats.tcp_rst_accepted += 1;
            }
        }
    }

    /// Arms the connection's timer for its Tcb's next deadline if that is earlier than the
    /// entry already armed (a later deadline is found when the earlier entry fires).
    pub(crate) fn arm_timer(&mut self, id: ConnId) {
        let Some(c) = self.conns.get_mut(id.index, id.generation) else {
            return;
        };
        let Some(deadline) = c.tcb.next_deadline() else {
            return;
        };
        let tick = self.timers.ticks_ceil(deadline);
        if c.timer_at.is_none_or(|armed| tick < armed) {
            c.timer_at = Some(self.timers.insert(id.index, id.generation, tick));
        }
    }

    pub(crate) fn timer_fired(&mut self, entry: TimerEntry, now: Instant) {
        let id = ConnId {
            index: entry.key,
            generation: entry.generation,
        };
        let Some(c) = self.conns.get_mut(id.index, id.generation) else {
            return;
        };
        if c.timer_at != Some(entry.when) {
            return; // superseded by an earlier entry, which already ran
        }
        c.timer_at = None;
        let due = c.tcb.next_deadline().is_some_and(|d| d <= now);
        if due {
            let outcome = c.tcb.on_deadline(now);
            self.stats.tcp_retransmit_timeouts += u64::from(outcome.retransmit_timeout);
            // Recoveries that timers start (the reordering window, a tail loss probe).
            self.stats.tcp_fast_retransmits += u64::from(outcome.fast_retransmit);
            if let Some(rst) = outcome.rst {
                let tuple = c.tuple;
                self.send_tcp_control(tuple, &rst, now);
            }
            if outcome.readable {
                self.push_readable(id);
            }
            if outcome.writable {
                self.push_writable(id);
            }
            self.touch(id, now);
        } else {
            self.arm_timer(id);
        }
    }

    /// Writes the next TCP segment of the first connection with something to send.
    pub(crate) fn transmit_tcp(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        while let Some(id) = self.dirty.pop_front() {
            let Some(c) = self.conns.get_mut(id.index, id.generation) else {
                continue;
            };
            c.in_dirty = false;
            let remote = *c.tuple.remote.ip();
            let cached = c.neighbour.filter(|&(_, until)| now < until).map(|n| n.0);
            let mac = match cached {
                Some(m) => m,
                None => match self.resolve_for_conn(id, remote, now) {
                    Some(m) => m,
                    None => {
                        // A closed connection must not linger for ARP: queue its last
                        // segments (a RST) behind the resolution and release it.
                        let closed = self
                            .conns
                            .get(id.index, id.generation)
                            .is_some_and(|c| c.tcb.state() == TcpState::Closed);
                        if closed {
                            self.flush_closed(id, now);
                        }
                        continue;
                    }
                },
            };
            let Some(c) = self.conns.get_mut(id.index, id.generation) else {
                continue;
            };
            let ip_room = buf.len().saturating_sub(FRAME_HEADERS - ipv4::IPV4_HEADER);
            let max_payload = c.path_mtu.min(ip_room).saturating_sub(IP_TCP_HEADERS);
            match c.tcb.poll_segment(now, max_payload) {
                Some(seg) => {
                    self.stats.tcp_retransmitted_segments += u64::from(seg.is_retransmission());
                    let len = emit_segment(
                        &c.tcb,
                        &seg,
                        &c.tuple,
                        (self.config.mac, mac),
                        self.ip_ident.wrapping_add(1),
                        self.config.checksum.tcp_tx,
                        buf,
                    );
                    self.ip_ident = self.ip_ident.wrapping_add(1);
                    // More may follow: back of the line (round robin between connections).
                    c.in_dirty = true;
                    self.dirty.push_back(id);
                    self.arm_timer(id);
                    match len {
                        Some(len) => {
                            self.stats.tcp_tx += 1;
                            self.stats.ipv4_tx += 1;
                            self.stats.tx_frames += 1;
                            self.stats.tx_bytes += len as u64;
                            return Some(len);
                        }
                        None => {
                            self.stats.tx_drop_buffer_too_small += 1;
                            continue;
                        }
                    }
                }
                None => {
                    self.note_state(id, now);
                    self.arm_timer(id);
                    match self
                        .conns
                        .get(id.index, id.generation)
                        .map(|c| c.tcb.state())
                    {
                        Some(TcpState::Closed) => self.finish(id),
                        Some(TcpState::TimeWait) => self.enter_time_wait_table(id, now),
                        _ => {}
                    }
                }
            }
        }
        None
    }

    /// Sends what a CLOSED connection still has (its RST) through the ARP-aware path, then
    /// releases it.
    fn flush_closed(&mut self, id: ConnId, now: Instant) {
        let mut frames = Vec::new();
        if let Some(c) = self.conns.get_mut(id.index, id.generation) {
            while let Some(seg) = c.tcb.poll_segment(now, 0) {
                let repr = seg.repr();
                let payload_len = seg.payload_len();
                let mut frame = vec![0u8; FRAME_HEADERS + repr.header_len() + payload_len];
                let (src, dst) = (*c.tuple.local.ip(), *c.tuple.remote.ip());
                let mut packet = TcpPacket::new_unchecked(&mut frame[FRAME_HEADERS..]);
                repr.emit(&mut packet, src, dst, TxChecksum::Leave);
                c.tcb
                    .write_payload(&seg, &mut packet.payload_mut()[..payload_len]);
                finish_checksum(&mut packet, src, dst, self.config.checksum.tcp_tx);
                frames.push((frame, dst));
                if frames.len() > 4 {
                    break;
                }
            }
        }
        for (frame, dst) in frames {
            if self.send_ip(frame, dst, IpProtocol::Tcp, now) {
                self.stats.tcp_tx += 1;
            }
        }
        self.finish(id);
    }

    /// Looks up the next hop's MAC for a connection, parking the connection (and asking ARP)
    /// when it is unknown.
    fn resolve_for_conn(
        &mut self,
        id: ConnId,
        remote: Ipv4Addr,
        now: Instant,
    ) -> Option<EthernetAddress> {
        let Some(hop) = self.next_hop(remote) else {
            self.stats.ipv4_drop_no_route += 1;
            // Nothing can leave; let the connection's own timers give up on it.
            return None;
        };
        match self.neighbour(hop, now) {
            Some(mac) => {
                let until = self.neighbour_valid_until(hop);
                if let (Some(c), Some(until)) = (self.conns.get_mut(id.index, id.generation), until)
                {
                    c.neighbour = Some((mac, until));
                }
                Some(mac)
            }
            None => {
                match self.pending.push_conn(hop, id, now, &self.config.limits) {
                    Ok(true) => self.request_hop(hop, now),
                    Ok(false) => {}
                    Err(_) => self.stats.arp_drop_pending_full += 1,
                }
                None
            }
        }
    }

    /// The connection reached CLOSED (or was evicted from TIME-WAIT): take it out of the demux
    /// table; free its slot unless the application still holds the handle, which then gets a
    /// `Closed` event and keeps the slot until `close`.
    pub(crate) fn finish(&mut self, id: ConnId) {
        let Some(c) = self.conns.get_mut(id.index, id.generation) else {
            return;
        };
        if c.in_table {
            c.in_table = false;
            self.state_counts[c.counted_state.index()] -= 1;
            c.counted_state = TcpState::Closed;
            self.state_counts[TcpState::Closed.index()] += 1;
            let tuple = c.tuple;
            if self.table.get(&tuple) == Some(&id) {
                self.table.remove(&tuple);
            }
            self.stats.tcp_closed += 1;
        }
        if c.half_open {
            c.half_open = false;
            self.stats.tcp_half_open = self.stats.tcp_half_open.saturating_sub(1);
            if let Some(lid) = c.listener {
                if let Some(l) = self.listeners.get_mut(lid.index, lid.generation) {
                    l.half_open = l.half_open.saturating_sub(1);
                }
            }
        }
        let c = match self.conns.get_mut(id.index, id.generation) {
            Some(c) => c,
            None => return,
        };
        if c.owned && !c.released {
            if !c.closed_reported {
                c.closed_reported = true;
                self.events.push_back(SocketEvent::Closed(id));
            }
            return;
        }
        if let Some(lid) = c.listener {
            if !c.owned {
                // Still in the accept queue: take it out.
                if let Some(l) = self.listeners.get_mut(lid.index, lid.generation) {
                    l.accept_queue.retain(|&x| x != id);
                }
            }
        }
        self.remove_conn(id);
    }

    /// Frees a connection's slot.
    pub(crate) fn remove_conn(&mut self, id: ConnId) {
        if let Some(c) = self.conns.remove(id.index, id.generation) {
            self.state_counts[c.counted_state.index()] -= 1;
        }
    }
}

/// Stores the TCP checksum: in full, or only the pseudo-header sum when the device
/// completes it ([`Checksum::Offload`]).
fn finish_checksum(packet: &mut TcpPacket<&mut [u8]>, src: Ipv4Addr, dst: Ipv4Addr, how: Checksum) {
    match how {
        Checksum::Software => packet.fill_checksum(src, dst),
        Checksum::Offload => {
            let len = packet.as_ref().len() as u32;
            let sum = boomerang_wire::checksum::pseudo_header(src, dst, 6, len);
            packet.set_checksum(sum as u16);
        }
    }
}

/// Wraps one outgoing segment into Ethernet + IPv4 + TCP in `buf` (IPv4 checksum in full,
/// TCP checksum as `checksum` says). Returns the frame length, or `None` if `buf` is too
/// small.
fn emit_segment(
    tcb: &Tcb,
    seg: &tcp::OutSegment,
    tuple: &FourTuple,
    (src_mac, dst_mac): (EthernetAddress, EthernetAddress),
    ident: u16,
    checksum: Checksum,
    buf: &mut [u8],
) -> Option<usize> {
    let repr = seg.repr();
    let payload_len = seg.payload_len();
    let tcp_len = repr.header_len() + payload_len;
    let total = FRAME_HEADERS + tcp_len;
    let frame = buf.get_mut(..total)?;
    let src = *tuple.local.ip();
    let dst = *tuple.remote.ip();
    ipv4::emit_headers(
        frame,
        src_mac,
        dst_mac,
        src,
        dst,
        IpProtocol::Tcp,
        tcp_len,
        ident,
    );
    let mut packet = TcpPacket::new_unchecked(&mut frame[FRAME_HEADERS..]);
    repr.emit(&mut packet, src, dst, TxChecksum::Leave);
    tcb.write_payload(seg, &mut packet.payload_mut()[..payload_len]);
    finish_checksum(&mut packet, src, dst, checksum);
    Some(total)
}

impl Conn {
    pub(crate) fn new(
        tcb: Tcb,
        tuple: FourTuple,
        listener: Option<crate::socket::ListenerId>,
        path_mtu: usize,
    ) -> Conn {
        Conn {
            tcb,
            tuple,
            half_open: listener.is_some(),
            listener,
            owned: false,
            released: false,
            in_table: false,
            in_dirty: false,
            timer_at: None,
            readable_queued: false,
            writable_queued: false,
            closed_reported: false,
            established_seen: false,
            counted_state: TcpState::Closed,
            path_mtu,
            neighbour: None,
        }
    }
}
