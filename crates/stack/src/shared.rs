//! State shared by all shards of one interface, read-mostly and published lock-free with
//! `arc-swap`: readers `load` a snapshot without locks; the rare writers (an ARP mapping learned,
//! a port starting to listen) copy, modify and swap the whole table (read-copy-update).

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use boomerang_wire::EthernetAddress;

use crate::config::StackConfig;

/// One ARP mapping and when it was last confirmed by the neighbour itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpEntry {
    /// The neighbour's Ethernet address.
    pub mac: EthernetAddress,
    /// When an ARP packet from the neighbour last confirmed it.
    pub confirmed: Instant,
}

/// An immutable snapshot of the ARP cache.
pub type ArpTable = HashMap<Ipv4Addr, ArpEntry>;

/// What [`Shared::arp_learn`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learned {
    /// A new mapping was added or an existing one changed or was refreshed.
    Updated,
    /// The mapping was already known and recently confirmed; nothing was published.
    Unchanged,
    /// The cache is full; the mapping was not added.
    Full,
}

/// Read-mostly state of one interface, shared by its shards (`Arc<Shared>`).
#[derive(Debug)]
pub struct Shared {
    config: ArcSwap<StackConfig>,
    arp: ArcSwap<ArpTable>,
    listeners: ArcSwap<HashMap<u16, usize>>,
}

impl Shared {
    /// Shared state for an interface configured by `config`.
    pub fn new(config: StackConfig) -> Arc<Shared> {
        Arc::new(Shared {
            config: ArcSwap::from_pointee(config),
            arp: ArcSwap::from_pointee(HashMap::new()),
            listeners: ArcSwap::from_pointee(HashMap::new()),
        })
    }

    /// The current configuration (shards read it when they are created).
    pub fn config(&self) -> Arc<StackConfig> {
        self.config.load_full()
    }

    /// Publishes a new configuration for shards created from now on.
    pub fn set_config(&self, config: StackConfig) {
        self.config.store(Arc::new(config));
    }

    /// Looks up the mapping of `ip` (expired or not: the caller judges its age).
    pub fn arp_lookup(&self, ip: Ipv4Addr) -> Option<ArpEntry> {
        self.arp.load().get(&ip).copied()
    }

    /// A snapshot of the whole ARP cache.
    pub fn arp_snapshot(&self) -> Arc<ArpTable> {
        self.arp.load_full()
    }

    /// Records that `ip` is at `mac`, confirmed at `now`. An unchanged mapping confirmed less
    /// than `republish_after` ago is not republished (writers copy the table). When `update_only`
    /// is set, an unknown `ip` is not added (RFC 826: only the target of a packet adds entries).
    pub fn arp_learn(
        &self,
        ip: Ipv4Addr,
        mac: EthernetAddress,
        now: Instant,
        republish_after: std::time::Duration,
        max_entries: usize,
        update_only: bool,
    ) -> Learned {
        let current = self.arp.load();
        match current.get(&ip) {
            Some(e)
                if e.mac == mac && now.saturating_duration_since(e.confirmed) < republish_after =>
            {
                return Learned::Unchanged
            }
            None if update_only => return Learned::Unchanged,
            None if current.len() >= max_entries => return Learned::Full,
            _ => {}
        }
        drop(current);
        let mut result = Learned::Updated;
        self.arp.rcu(|table| {
            let mut t = HashMap::clone(table);
            if !t.contains_key(&ip) && t.len() >= max_entries {
                // Make room by dropping the stalest entry; keeps the table bounded.
                let stalest = t.iter().min_by_key(|(_, e)| e.confirmed).map(|(k, _)| *k);
                match stalest {
                    Some(k) if t.get(&k).is_some_and(|e| e.confirmed < now) => {
                        t.remove(&k);
                    }
                    _ => {
                        result = Learned::Full;
                        return t;
                    }
                }
            }
            result = Learned::Updated;
            t.insert(
                ip,
                ArpEntry {
                    mac,
                    confirmed: now,
                },
            );
            t
        });
        result
    }

    /// Removes mappings confirmed before `before` (expired ones), if there are any.
    pub fn arp_expire(&self, before: Instant) {
        if !self.arp.load().values().any(|e| e.confirmed < before) {
            return;
        }
        self.arp.rcu(|table| {
            let mut t = HashMap::clone(table);
            t.retain(|_, e| e.confirmed >= before);
            t
        });
    }

    /// Records that one more shard listens on `port`.
    pub fn add_listener(&self, port: u16) {
        self.listeners.rcu(|m| {
            let mut m = HashMap::clone(m);
            *m.entry(port).or_insert(0) += 1;
            m
        });
    }

    /// Records that one shard stopped listening on `port`.
    pub fn remove_listener(&self, port: u16) {
        self.listeners.rcu(|m| {
            let mut m = HashMap::clone(m);
            if let Some(n) = m.get_mut(&port) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    m.remove(&port);
                }
            }
            m
        });
    }

    /// Whether any shard listens on `port`.
    pub fn is_listening(&self, port: u16) -> bool {
        self.listeners.load().contains_key(&port)
    }

    /// The ports some shard listens on, sorted.
    pub fn listening_ports(&self) -> Vec<u16> {
        let mut v: Vec<u16> = self.listeners.load().keys().copied().collect();
        v.sort_unstable();
        v
    }
}
