//! Operating-system helpers shared by the server, the load generator and the demo: the CPU
//! set the process may run on and random secrets. A leaf module: it uses no other module of
//! this crate, so anything may depend on it without forming a cycle.

use anyhow::Context;

/// The CPUs this process may run on (`sched_getaffinity`, so `taskset` and cgroups decide),
/// in ascending order.
pub fn allowed_cpus() -> Vec<usize> {
    let mut ids: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    ids.sort_unstable();
    ids
}

/// 16 random bytes from the kernel, e.g. the key of the RFC 6528 ISN hash.
pub fn isn_secret() -> anyhow::Result<[u8; 16]> {
    use std::io::Read;
    let mut key = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut key))
        .context("cannot read /dev/urandom for the TCP ISN secret")?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_cpus_are_sorted_and_distinct() {
        let cpus = allowed_cpus();
        assert!(!cpus.is_empty(), "a running process may run on some CPU");
        assert!(cpus.windows(2).all(|w| w[0] < w[1]), "{cpus:?}");
    }

    #[test]
    fn secrets_differ() {
        let (a, b) = (isn_secret().unwrap(), isn_secret().unwrap());
        assert_ne!(a, b);
    }
}
