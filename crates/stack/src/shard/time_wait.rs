//! The shard's TIME-WAIT table: one compact [`TimeWait`] record per 4-tuple, kept instead of
//! the connection once it has sent its last ACK, expired in the order the records entered
//! and bounded by [`Limits::max_time_wait`](crate::config::Limits::max_time_wait) (the
//! oldest leave early, as with Linux's `tcp_max_tw_buckets`).
//!
//! The order queue holds one live element per record: a record whose 2×MSL timer restarted
//! (a retransmitted FIN) moves to the back when its old expiry comes up, and elements of
//! records that left early (a RST, a new SYN, eviction) are dropped when they reach the front.

use std::collections::VecDeque;
use std::time::Instant;

use crate::socket::FourTuple;
use crate::tcp::TimeWait;

/// A record and the serial number of its entry in the order queue.
#[derive(Debug)]
struct Entry {
    serial: u64,
    record: TimeWait,
}

/// The TIME-WAIT records of one shard (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct TimeWaitTable {
    records: super::TupleMap<Entry>,
    /// (tuple, serial, expiry when queued), oldest first.
    order: VecDeque<(FourTuple, u64, Instant)>,
    next_serial: u64,
}

/// Where the front of the order queue stands.
enum Front {
    Empty,
    /// An element whose record left early: drop it.
    Stale,
    /// The record's timer restarted since it was queued: queue it again at its new expiry.
    Restarted(Instant),
    /// The oldest live record and its expiry.
    Live(Instant),
}

impl TimeWaitTable {
    /// Records held.
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether `tuple` is in TIME-WAIT.
    pub(crate) fn contains(&self, tuple: &FourTuple) -> bool {
        self.records.contains_key(tuple)
    }

    /// The record of `tuple`.
    pub(crate) fn get_mut(&mut self, tuple: &FourTuple) -> Option<&mut TimeWait> {
        self.records.get_mut(tuple).map(|e| &mut e.record)
    }

    /// Forgets `tuple`'s record (TIME-WAIT ended early).
    pub(crate) fn remove(&mut self, tuple: &FourTuple) -> bool {
        self.records.remove(tuple).is_some()
    }

    /// Adds a record, replacing any for the same tuple; returns how many of the oldest records
    /// were evicted to stay within `limit`.
    pub(crate) fn insert(&mut self, tuple: FourTuple, record: TimeWait, limit: usize) -> u64 {
        let serial = self.next_serial;
        self.next_serial += 1;
        self.order.push_back((tuple, serial, record.expires()));
        self.records.insert(tuple, Entry { serial, record });
        let mut evicted = 0;
        while self.records.len() > limit {
            let Some((t, s, _)) = self.order.pop_front() else {
                break;
            };
            if self.records.get(&t).is_some_and(|e| e.serial == s) {
                self.records.remove(&t);
                evicted += 1;
            }
        }
        evicted
    }

    /// Removes the records whose 2×MSL ended by `now`; returns how many.
    pub(crate) fn expire(&mut self, now: Instant) -> usize {
        let mut expired = 0;
        loop {
            match self.front() {
                Front::Empty => break,
                Front::Stale => {
                    self.order.pop_front();
                }
                Front::Restarted(at) => {
                    if let Some((t, s, _)) = self.order.pop_front() {
                        self.order.push_back((t, s, at));
                    }
                }
                Front::Live(at) if at <= now => {
                    if let Some((t, _, _)) = self.order.pop_front() {
                        self.records.remove(&t);
                        expired += 1;
                    }
                }
                Front::Live(_) => break,
            }
        }
        // Elements of records that left early wait at most one 2×MSL for the front; keep the
        // queue proportional to the table even when they pile up behind a long-lived head.
        if self.order.len() > 2 * self.records.len() + 64 {
            let records = &self.records;
            self.order
                .retain(|(t, s, _)| records.get(t).is_some_and(|e| e.serial == *s));
        }
        expired
    }

    /// When [`TimeWaitTable::expire`] next has work (possibly early, never late).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.order.front().map(|&(_, _, at)| at)
    }

    fn front(&self) -> Front {
        let Some(&(tuple, serial, queued_at)) = self.order.front() else {
            return Front::Empty;
        };
        match self.records.get(&tuple) {
            Some(e) if e.serial == serial => {
                let at = e.record.expires();
                if at > queued_at {
                    Front::Restarted(at)
                } else {
                    Front::Live(at)
                }
            }
            _ => Front::Stale,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boomerang_wire::{SeqNumber, TcpControl, TcpRepr};
    use std::net::{Ipv4Addr, SocketAddrV4};
    use std::time::Duration;

    const MSL2: Duration = Duration::from_secs(60);

    fn tuple(port: u16) -> FourTuple {
        FourTuple {
            local: SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 80),
            remote: SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 2), port),
        }
    }

    fn record(now: Instant) -> TimeWait {
        TimeWait::new(
            (80, 1),
            (SeqNumber(10), SeqNumber(20)),
            100,
            None,
            now,
            now + MSL2,
        )
    }

    #[test]
    fn records_expire_in_order_and_a_restarted_one_later() {
        let t0 = Instant::now();
        let mut table = TimeWaitTable::default();
        for (i, port) in (1..=3).enumerate() {
            let at = t0 + Duration::from_secs(i as u64);
            table.insert(tuple(port), record(at), 100);
        }
        // A retransmitted FIN for the first record 30 s in restarts its timer.
        let fin = TcpRepr {
            control: TcpControl::Fin,
            seq_number: SeqNumber(19),
            ..TcpRepr::default()
        };
        let restart_at = t0 + Duration::from_secs(30);
        let first = table.get_mut(&tuple(1)).unwrap();
        assert!(first
            .on_segment(&fin, restart_at, MSL2, Duration::ZERO)
            .is_send());
        assert_eq!(table.next_deadline(), Some(t0 + MSL2));
        assert_eq!(table.expire(t0 + MSL2), 0, "the first one restarted");
        assert_eq!(table.expire(t0 + MSL2 + Duration::from_secs(1)), 1);
        assert_eq!(table.expire(t0 + MSL2 + Duration::from_secs(2)), 1);
        assert!(table.contains(&tuple(1)));
        assert_eq!(table.next_deadline(), Some(restart_at + MSL2));
        assert_eq!(table.expire(restart_at + MSL2), 1);
        assert_eq!(table.len(), 0);
        assert_eq!(table.next_deadline(), None);
    }

    #[test]
    fn the_oldest_are_evicted_beyond_the_limit_and_early_leavers_do_not_count() {
        let now = Instant::now();
        let mut table = TimeWaitTable::default();
        assert_eq!(table.insert(tuple(1), record(now), 2), 0);
        assert_eq!(table.insert(tuple(2), record(now), 2), 0);
        assert!(table.remove(&tuple(1)));
        // Tuple 1's element is stale: inserting a third evicts nothing.
        assert_eq!(table.insert(tuple(3), record(now), 2), 0);
        assert_eq!(table.insert(tuple(4), record(now), 2), 1);
        assert!(!table.contains(&tuple(2)));
        assert!(table.contains(&tuple(3)) && table.contains(&tuple(4)));
    }

    #[test]
    fn a_tuple_back_in_time_wait_keeps_one_live_element() {
        let now = Instant::now();
        let mut table = TimeWaitTable::default();
        table.insert(tuple(1), record(now), 10);
        table.remove(&tuple(1));
        let later = now + Duration::from_secs(10);
        table.insert(tuple(1), record(later), 10);
        assert_eq!(table.expire(now + MSL2), 0, "the old element is stale");
        assert_eq!(table.expire(later + MSL2), 1);
        assert_eq!(table.next_deadline(), None);
    }
}
