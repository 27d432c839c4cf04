//! A bounded in-memory cache of small static files shared by all workers, so hot files
//! are answered inline on the worker instead of through the blocking pool.
//!
//! Entries are filled by the pool (which did the blocking read) and trusted for
//! `ttl` after loading (like nginx's `open_file_cache_valid`). When an entry expires, the
//! first request for it reloads it through the pool while every other request is still
//! answered inline from the expired copy (for at most another `ttl`): a hot file never
//! sends a burst of requests to the pool at once. A file changed on disk is seen at most
//! `2 × ttl` later; one that disappeared is dropped by the reload that finds it gone.
//! Total bytes are bounded; when full, new files are simply not cached (counted in
//! `boomerang_http_file_cache_full_total`, logged at most once a second). [`FileInfo`]
//! (length, validators, type) lives here because the cache keeps it; the static-file code
//! computes it.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A file's length, validators and type: what a static answer needs besides the body,
/// computed once when the file is opened and kept with a cached body.
#[derive(Debug, Clone)]
pub(crate) struct FileInfo {
    pub len: u64,
    pub etag: String,
    pub last_modified: Option<String>,
    pub modified: Option<SystemTime>,
    pub content_type: &'static str,
}

impl FileInfo {
    /// The description of a file of `len` bytes last modified at `modified`.
    pub(crate) fn new(len: u64, modified: Option<SystemTime>, content_type: &'static str) -> Self {
        Self {
            len,
            etag: etag_for(len, modified),
            last_modified: modified.map(httpdate::fmt_http_date),
            modified,
            content_type,
        }
    }

    /// The validator and range header fields every answer for this file carries.
    pub(crate) fn headers(&self) -> Vec<(&'static str, String)> {
        let mut h = vec![("ETag", self.etag.clone())];
        if let Some(lm) = &self.last_modified {
            h.push(("Last-Modified", lm.clone()));
        }
        h.push(("Accept-Ranges", "bytes".into()));
        h
    }
}

/// The entity tag of a file: length and modification time (RFC 9110 §8.8.3).
fn etag_for(len: u64, modified: Option<SystemTime>) -> String {
    let nanos = modified
        .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("\"{len:x}-{nanos:x}\"")
}

/// One cached file.
#[derive(Debug)]
pub(crate) struct CachedFile {
    pub info: FileInfo,
    pub body: Vec<u8>,
    loaded: Instant,
    /// Set by the first lookup after expiry: that request reloads the file.
    reload_claimed: AtomicBool,
}

/// The cache (keyed by request path).
#[derive(Debug, Default)]
struct Inner {
    map: HashMap<Vec<u8>, Arc<CachedFile>>,
    /// Sum of the bodies in `map`.
    bytes: usize,
    /// Rate limit of the "cache full" warning.
    full_log: crate::metrics::LogLimiter,
}

#[derive(Debug)]
pub(crate) struct FileCache {
    inner: RwLock<Inner>,
    max_bytes: usize,
    max_file: u64,
    ttl: Duration,
    /// Files not cached because the byte budget was used up.
    full: AtomicU64,
}

impl FileCache {
    pub(crate) fn new(max_bytes: usize, max_file: usize, ttl: Duration) -> Self {
        Self {
            inner: RwLock::new(Inner::default()),
            max_bytes,
            max_file: max_file as u64,
            ttl,
            full: AtomicU64::new(0),
        }
    }

    /// Whether a file of `len` bytes may be cached.
    pub(crate) fn admits(&self, len: u64) -> bool {
        len <= self.max_file && len <= self.max_bytes as u64
    }

    /// The entry to answer `key` from at `now`: a fresh one, or an expired one whose reload
    /// another request already claimed. `None` sends the request to the pool (a miss, the
    /// first request after expiry, or an entry left unreloaded for another `ttl`).
    pub(crate) fn get(&self, key: &[u8], now: Instant) -> Option<Arc<CachedFile>> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let f = inner.map.get(key)?;
        let age = now.saturating_duration_since(f.loaded);
        if age < self.ttl {
            return Some(Arc::clone(f));
        }
        let claimed_before = f.reload_claimed.swap(true, Ordering::AcqRel);
        (claimed_before && age < self.ttl.saturating_mul(2)).then(|| Arc::clone(f))
    }

    /// Forgets `key` (its file is gone or no longer cacheable).
    pub(crate) fn remove(&self, key: &[u8]) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = inner.map.remove(key) {
            inner.bytes -= old.body.len();
        }
    }

    /// Stores `body` under `key` (replacing an older entry) if the byte budget allows;
    /// returns the entry either way.
    /// `now` is the loop time of the request that read the file (the same clock as
    /// [`FileCache::get`]'s `now`).
    pub(crate) fn insert(
        &self,
        key: Vec<u8>,
        info: FileInfo,
        body: Vec<u8>,
        now: Instant,
    ) -> Arc<CachedFile> {
        let file = Arc::new(CachedFile {
            info,
            body,
            loaded: now,
            reload_claimed: AtomicBool::new(false),
        });
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = inner.map.remove(&key) {
            inner.bytes -= old.body.len();
        }
        if inner.bytes.saturating_add(file.body.len()) > self.max_bytes {
            // Over budget: drop expired entries, then give up on this one if still full.
            let ttl = self.ttl;
            inner
                .map
                .retain(|_, f| now.saturating_duration_since(f.loaded) < ttl);
            inner.bytes = inner.map.values().map(|f| f.body.len()).sum();
        }
        if inner.bytes.saturating_add(file.body.len()) <= self.max_bytes {
            inner.bytes += file.body.len();
            inner.map.insert(key, Arc::clone(&file));
        } else {
            self.full.fetch_add(1, Ordering::Relaxed);
            if inner.full_log.ready(file.loaded) {
                tracing::warn!(
                    cached_bytes = inner.bytes,
                    limit = self.max_bytes,
                    file_bytes = file.body.len(),
                    "file cache full: a file is served through the blocking pool instead \
                     (file-cache-bytes; counted in boomerang_http_file_cache_full_total)"
                );
            }
        }
        file
    }

    /// Files not cached because the cache was full.
    pub(crate) fn full_refusals(&self) -> u64 {
        self.full.load(Ordering::Relaxed)
    }

    /// Appends the cache's counters as Prometheus text to `out`.
    pub(crate) fn render_prometheus(&self, out: &mut String) {
        let bytes = self
            .inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .bytes;
        let _ = writeln!(
            out,
            "# HELP boomerang_http_file_cache_bytes Bytes of files held by the file cache.\n\
             # TYPE boomerang_http_file_cache_bytes gauge\n\
             boomerang_http_file_cache_bytes {bytes}\n\
             # HELP boomerang_http_file_cache_full_total Files not cached because \
             file-cache-bytes was used up.\n\
             # TYPE boomerang_http_file_cache_full_total counter\n\
             boomerang_http_file_cache_full_total {}",
            self.full_refusals()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache_with(key: &[u8], ttl: Duration) -> FileCache {
        let c = FileCache::new(1 << 20, 1 << 20, ttl);
        c.insert(
            key.to_vec(),
            FileInfo::new(3, None, "text/plain"),
            b"abc".to_vec(),
            Instant::now(),
        );
        c
    }

    #[test]
    fn fresh_entries_are_hits() {
        let c = cache_with(b"/a", Duration::from_secs(1));
        assert!(c.get(b"/a", Instant::now()).is_some());
        assert!(c.get(b"/b", Instant::now()).is_none());
    }

    #[test]
    fn one_request_reloads_an_expired_entry_while_the_others_are_answered_from_it() {
        let c = cache_with(b"/a", Duration::from_secs(1));
        let later = Instant::now() + Duration::from_millis(1500);
        assert!(
            c.get(b"/a", later).is_none(),
            "the first lookup after expiry reloads"
        );
        for _ in 0..100 {
            assert!(
                c.get(b"/a", later).is_some(),
                "the others are not sent to the pool"
            );
        }
        // Not reloaded within another ttl: misses again.
        assert!(c.get(b"/a", later + Duration::from_secs(1)).is_none());
        // The reload replaces the entry: fresh again, claim cleared.
        c.insert(
            b"/a".to_vec(),
            FileInfo::new(3, None, "text/plain"),
            b"xyz".to_vec(),
            later + Duration::from_secs(1),
        );
        let f = c.get(b"/a", later + Duration::from_secs(1)).expect("fresh");
        assert_eq!(f.body, b"xyz");
    }

    #[test]
    fn a_full_cache_counts_the_files_it_cannot_hold() {
        let c = FileCache::new(4, 4, Duration::from_secs(60));
        let info = || FileInfo::new(3, None, "text/plain");
        c.insert(b"/a".to_vec(), info(), b"abc".to_vec(), Instant::now());
        assert_eq!(c.full_refusals(), 0);
        c.insert(b"/b".to_vec(), info(), b"xyz".to_vec(), Instant::now());
        assert_eq!(c.full_refusals(), 1);
        assert!(c.get(b"/b", Instant::now()).is_none());
        let mut text = String::new();
        c.render_prometheus(&mut text);
        assert!(
            text.contains("boomerang_http_file_cache_full_total 1\n"),
            "{text}"
        );
        assert!(
            text.contains("boomerang_http_file_cache_bytes 3\n"),
            "{text}"
        );
    }

    #[test]
    fn removed_entries_are_misses_and_free_their_bytes() {
        let c = cache_with(b"/a", Duration::from_secs(1));
        c.remove(b"/a");
        assert!(c.get(b"/a", Instant::now()).is_none());
        assert_eq!(c.inner.read().unwrap().bytes, 0);
    }
}
