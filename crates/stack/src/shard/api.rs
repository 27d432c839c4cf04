//! The socket API of a shard (RFC 9293 §3.9 user interface): listen, accept, connect, recv,
//! send, shutdown, close, abort, and readiness events.

use std::net::SocketAddrV4;
use std::time::Instant;

use super::{Conn, Listener, Shard};
use crate::socket::{ConnId, FourTuple, ListenerId, SocketError, SocketEvent};
use crate::tcp::{Tcb, TcpState};

impl Shard {
    /// Opens a listening socket on `port` (passive OPEN). `backlog` bounds the connections that
    /// completed the handshake and wait for [`Shard::accept`].
    pub fn listen(&mut self, port: u16, backlog: usize) -> Result<ListenerId, SocketError> {
        if port == 0 {
            return Err(SocketError::InvalidArgument("port 0"));
        }
        if self.listen_ports.contains_key(&port) {
            return Err(SocketError::AddrInUse);
        }
        if self.listeners.len() >= self.config.limits.max_listeners {
            return Err(SocketError::Limit("listeners"));
        }
        let (index, generation) = self
            .listeners
            .insert(Listener {
                port,
                backlog: backlog.max(1),
                accept_queue: std::collections::VecDeque::new(),
                half_open: 0,
                acceptable_queued: false,
                last_cookie_sent: None,
            })
            .ok_or(SocketError::Limit("listeners"))?;
        let id = ListenerId { index, generation };
        self.listen_ports.insert(port, id);
        self.shared.add_listener(port);
        Ok(id)
    }

    /// Closes a listening socket. Connections waiting in its accept queue are reset.
    pub fn unlisten(&mut self, l: ListenerId, now: Instant) {
        let Some(listener) = self.listeners.remove(l.index, l.generation) else {
            return;
        };
        self.listen_ports.remove(&listener.port);
        self.shared.remove_listener(listener.port);
        for c in listener.accept_queue {
            if let Some(conn) = self.conns.get_mut(c.index, c.generation) {
                conn.listener = None;
                conn.released = true;
                conn.tcb.abort();
            }
            self.touch(c, now);
        }
    }

    /// Takes the next established connection from the listener's accept queue.
    pub fn accept(&mut self, l: ListenerId) -> Option<ConnId> {
        loop {
            let listener = self.listeners.get_mut(l.index, l.generation)?;
            let id = listener.accept_queue.pop_front()?;
            let Some(c) = self.conns.get_mut(id.index, id.generation) else {
                continue;
            };
            c.owned = true;
            c.listener = None;
            // Whatever arrived before accept is reported now.
            let state = c.tcb.state();
            let closed = !c.in_table;
            self.push_readable(id);
            self.push_writable(id);
            if closed || state == TcpState::Closed {
                if let Some(c) = self.conns.get_mut(id.index, id.generation) {
                    if !c.closed_reported {
                        c.closed_reported = true;
                        self.events.push_back(SocketEvent::Closed(id));
                    }
                }
            }
            return Some(id);
        }
    }

    /// Opens a connection to `remote` (active OPEN) from an ephemeral port of our address.
    pub fn connect(&mut self, remote: SocketAddrV4, now: Instant) -> Result<ConnId, SocketError> {
        if remote.port() == 0 || remote.ip().is_unspecified() || remote.ip().is_broadcast() {
            return Err(SocketError::InvalidArgument("remote address"));
        }
        if self.conns.len() >= self.config.limits.max_connections {
            return Err(SocketError::Limit("connections"));
        }
        let local_ip = self.config.addr.address;
        let (min, max) = (
            self.config.limits.ephemeral_port_min,
            self.config.limits.ephemeral_port_max,
        );
        if min == 0 || max < min {
            return Err(SocketError::Limit("ephemeral ports"));
        }
        let span = u32::from(max - min) + 1;
        let mut tuple = None;
        for _ in 0..span {
            let port = self.next_ephemeral;
            self.next_ephemeral = if port >= max { min } else { port + 1 };
            if port < min || self.listen_ports.contains_key(&port) {
                continue;
            }
            let t = FourTuple {
                local: SocketAddrV4::new(local_ip, port),
                remote,
            };
            // With RSS known, the peer's replies must hash to this shard's queue.
            let steered = self.config.rss.as_ref().is_none_or(|rss| {
                rss.queue_for(t.local, t.remote)
                    .is_none_or(|q| usize::from(q) == self.shard_id)
            });
            if steered && !self.table.contains_key(&t) && !self.time_wait.contains(&t) {
                tuple = Some(t);
                break;
            }
        }
        let tuple = tuple.ok_or(SocketError::Limit("ephemeral ports"))?;
        let path_mtu = self.path_mtu_for(*remote.ip(), now);
        let mss = path_mtu
            .saturating_sub(40)
            .min(usize::from(self.config.tcp.mss)) as u16;
        let iss = self.isn.isn(&tuple, now);
        let mut tcb = Tcb::connect(&self.config.tcp, tuple, iss, mss, now);
        tcb.start_ts_clock(self.isn.ts_clock(&tuple, now), now);
        let mut conn = Conn::new(tcb, tuple, None, path_mtu);
        conn.owned = true;
        let id = self
            .insert_conn(conn)
            .ok_or(SocketError::Limit("connections"))?;
        self.stats.tcp_active_opens += 1;
        self.touch(id, now);
        Ok(id)
    }

    fn owned_conn(&mut self, c: ConnId) -> Result<&mut Conn, SocketError> {
        match self.conns.get_mut(c.index, c.generation) {
            Some(conn) if conn.owned && !conn.released => Ok(conn),
            _ => Err(SocketError::InvalidHandle),
        }
    }

    /// Reads received bytes. `Ok(0)` is end of stream (the peer sent FIN);
    /// `Err(WouldBlock)` means nothing yet; `Err(ConnectionReset)` after a RST.
    pub fn recv(&mut self, c: ConnId, buf: &mut [u8]) -> Result<usize, SocketError> {
        let conn = self.owned_conn(c)?;
        conn.readable_queued = false;
        let r = conn.tcb.recv(buf).map_err(SocketError::from);
        if matches!(r, Ok(n) if n > 0) {
            // Opening the window may call for a window update (RFC 9293 §3.8.6.2.2).
            self.mark_dirty(c);
        }
        r
    }

    /// Queues bytes to send; returns how many were taken (`Err(WouldBlock)` if none fit).
    pub fn send(&mut self, c: ConnId, data: &[u8]) -> Result<usize, SocketError> {
        let conn = self.owned_conn(c)?;
        conn.writable_queued = false;
        let n = conn.tcb.send(data)?;
        if n > 0 {
            self.mark_dirty(c);
        }
        Ok(n)
    }

    /// Half-closes: a FIN follows the queued data (RFC 9293 §3.10.4 CLOSE, sending side).
    pub fn shutdown(&mut self, c: ConnId) {
        if let Ok(conn) = self.owned_conn(c) {
            conn.tcb.shutdown();
            self.mark_dirty(c);
            self.arm_timer(c);
        }
    }

    /// Releases the handle: the connection closes gracefully (FIN after queued data) and the
    /// stack keeps it until the close completes; with unread received data it is reset instead
    /// (RFC 2525 §2.17). The handle is invalid afterwards.
    pub fn close(&mut self, c: ConnId) {
        let Ok(conn) = self.owned_conn(c) else {
            return;
        };
        conn.released = true;
        if conn.in_table {
            conn.tcb.close();
            self.mark_dirty(c);
            self.arm_timer(c);
        } else {
            // Already closed (a zombie waiting for its handle to be released).
            self.remove_conn(c);
        }
    }

    /// Resets the connection (RFC 9293 §3.10.5 ABORT) and releases the handle.
    pub fn abort(&mut self, c: ConnId) {
        let Ok(conn) = self.owned_conn(c) else {
            return;
        };
        conn.released = true;
        if conn.in_table {
            conn.tcb.abort();
            self.mark_dirty(c);
        } else {
            self.remove_conn(c);
        }
    }

    /// The next readiness event, if any. Events are edge-triggered and deduplicated: after a
    /// `Readable`, read until `WouldBlock` (likewise for `Writable` and `accept`).
    pub fn poll_event(&mut self) -> Option<SocketEvent> {
        while let Some(ev) = self.events.pop_front() {
            let live = match ev {
                SocketEvent::Acceptable(l) => match self.listeners.get_mut(l.index, l.generation) {
                    Some(listener) => {
                        listener.acceptable_queued = false;
                        true
                    }
                    None => false,
                },
                SocketEvent::Readable(c) => self
                    .conns
                    .get_mut(c.index, c.generation)
                    .map(|conn| conn.readable_queued = false)
                    .is_some(),
                SocketEvent::Writable(c) => self
                    .conns
                    .get_mut(c.index, c.generation)
                    .map(|conn| conn.writable_queued = false)
                    .is_some(),
                SocketEvent::Closed(c) => self.conns.get(c.index, c.generation).is_some(),
            };
            if live {
                return Some(ev);
            }
        }
        None
    }

    /// The 4-tuple of a connection.
    pub fn tuple(&self, c: ConnId) -> Option<FourTuple> {
        self.conns.get(c.index, c.generation).map(|conn| conn.tuple)
    }

    /// The TCP state of a connection.
    pub fn tcp_state(&self, c: ConnId) -> Option<TcpState> {
        self.conns
            .get(c.index, c.generation)
            .map(|conn| conn.tcb.state())
    }
}
