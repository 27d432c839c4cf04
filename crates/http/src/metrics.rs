//! Per-worker HTTP counters and latency histograms, summed when read, rendered as
//! Prometheus text (exposition format 0.0.4).
//!
//! Each worker writes only its own [`WorkerMetrics`] (relaxed atomics, no sharing of
//! cache lines between writers); latencies go into a worker-local HdrHistogram that is
//! merged into the shared one at most once per timer tick.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;

/// What the process's allocator says about its memory, for `/metrics` beside the RSS: the
/// heap the program holds against the pages the allocator keeps for it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeapStats {
    /// Bytes the program has allocated and not freed (the live heap).
    pub allocated: u64,
    /// Bytes of physical memory the allocator holds (live heap, its metadata, and freed
    /// pages it has not returned yet).
    pub resident: u64,
    /// Bytes of address space the allocator keeps mapped but has returned to the system.
    pub retained: u64,
}

/// Reads the allocator's [`HeapStats`] (set once per process by the program that chose the
/// allocator; the `boomerang` binary sets jemalloc's).
pub type HeapStatsSource = fn() -> Option<HeapStats>;

static HEAP_STATS: std::sync::OnceLock<HeapStatsSource> = std::sync::OnceLock::new();

/// Makes `/metrics` show the allocator's figures (`boomerang_heap_*_bytes`) from `source`.
/// The first call wins; a library cannot know which allocator its program links, so nothing
/// is shown without one.
pub fn set_heap_stats_source(source: HeapStatsSource) {
    let _ = HEAP_STATS.set(source);
}

fn render_heap_stats(out: &mut String) {
    let Some(stats) = HEAP_STATS.get().and_then(|read| read()) else {
        return;
    };
    for (name, help, v) in [
        (
            "allocated",
            "Bytes the server has allocated and not freed (the live heap).",
            stats.allocated,
        ),
        (
            "resident",
            "Bytes of physical memory the allocator holds, freed pages not yet returned included.",
            stats.resident,
        ),
        (
            "retained",
            "Bytes of address space the allocator keeps mapped after returning them to the system.",
            stats.retained,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP boomerang_heap_{name}_bytes {help}\n# TYPE boomerang_heap_{name}_bytes gauge\nboomerang_heap_{name}_bytes {v}"
        );
    }
}

/// Status codes counted individually; any other code is counted under its class.
pub const TRACKED_STATUSES: [u16; 22] = [
    100, 200, 201, 204, 206, 301, 304, 400, 403, 404, 405, 408, 413, 414, 416, 417, 431, 500, 501,
    503, 505, 0,
];

/// Highest latency the histograms record (longer ones are clamped), in microseconds.
pub const MAX_LATENCY_US: u64 = 60_000_000;

/// Counters of one worker.
#[derive(Debug)]
pub struct WorkerMetrics {
    /// Worker index (the `worker` label).
    pub index: usize,
    by_status: [AtomicU64; TRACKED_STATUSES.len()],
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    connections_opened: AtomicU64,
    connections_closed: AtomicU64,
    timeouts: AtomicU64,
    blocking_rejected: AtomicU64,
    connections_refused: AtomicU64,
    limit_refusals: AtomicU64,
    tls: crate::tls::TlsCounters,
    handler_panics: AtomicU64,
    latency: Mutex<Histogram<u64>>,
}

fn new_histogram() -> Histogram<u64> {
    // 3 significant digits up to a minute: bounded memory (~40 KiB per histogram).
    // Constant arguments that satisfy the crate's documented rules (low >= 1,
    // high >= 2 * low, sigfig <= 5): this cannot fail.
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid constant histogram bounds")
}

impl WorkerMetrics {
    fn new(index: usize) -> Self {
        Self {
            index,
            by_status: Default::default(),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            connections_opened: AtomicU64::new(0),
            connections_closed: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            blocking_rejected: AtomicU64::new(0),
            connections_refused: AtomicU64::new(0),
            limit_refusals: AtomicU64::new(0),
            tls: crate::tls::TlsCounters::default(),
            handler_panics: AtomicU64::new(0),
            latency: Mutex::new(new_histogram()),
        }
    }

    /// Responses sent with `status` (untracked codes are summed in the last slot).
    pub fn responses(&self, status: u16) -> u64 {
        let i = status_slot(status);
        self.by_status
            .get(i)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Bytes received from peers.
    pub fn bytes_in(&self) -> u64 {
        self.bytes_in.load(Ordering::Relaxed)
    }

    /// Bytes handed to the transport for sending.
    pub fn bytes_out(&self) -> u64 {
        self.bytes_out.load(Ordering::Relaxed)
    }

    /// Connections accepted.
    pub fn connections_opened(&self) -> u64 {
        self.connections_opened.load(Ordering::Relaxed)
    }

    /// Connections closed.
    pub fn connections_closed(&self) -> u64 {
        self.connections_closed.load(Ordering::Relaxed)
    }

    /// Connections ended by one of the timeouts.
    pub fn timeouts(&self) -> u64 {
        self.timeouts.load(Ordering::Relaxed)
    }

    /// Jobs refused because the blocking pool's queue was full.
    pub fn blocking_rejected(&self) -> u64 {
        self.blocking_rejected.load(Ordering::Relaxed)
    }

    /// Connections refused at the per-worker limit.
    pub fn connections_refused(&self) -> u64 {
        self.connections_refused.load(Ordering::Relaxed)
    }

    /// Requests refused because they exceeded an `[http]` limit (see
    /// `RequestError::limit`).
    pub fn limit_refusals(&self) -> u64 {
        self.limit_refusals.load(Ordering::Relaxed)
    }

    /// The worker's TLS counters.
    pub fn tls(&self) -> &crate::tls::TlsCounters {
        &self.tls
    }

    /// Handlers that panicked (their requests were answered 500).
    pub fn handler_panics(&self) -> u64 {
        self.handler_panics.load(Ordering::Relaxed)
    }

    /// A copy of the merged latency histogram (microseconds).
    pub fn latency_snapshot(&self) -> Histogram<u64> {
        self.latency
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn status_slot(status: u16) -> usize {
    TRACKED_STATUSES
        .iter()
        .position(|&s| s == status)
        .unwrap_or(TRACKED_STATUSES.len() - 1)
}

fn add(c: &AtomicU64, n: u64) {
    // Single writer per counter: a load + store is enough and avoids a locked RMW.
    c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

/// The recording side of one worker's metrics (owned by the worker thread).
#[derive(Debug)]
pub struct MetricsRecorder {
    shared: Arc<WorkerMetrics>,
    local: Histogram<u64>,
}

impl MetricsRecorder {
    /// Records one response and the time since the request's first byte.
    pub fn response(&mut self, status: u16, latency: Duration) {
        if let Some(c) = self.shared.by_status.get(status_slot(status)) {
            add(c, 1);
        }
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(1, MAX_LATENCY_US);
        // Cannot fail: value is clamped into the histogram's range.
        let _ = self.local.record(us);
    }

    /// Counts received bytes.
    pub fn bytes_in(&mut self, n: usize) {
        add(&self.shared.bytes_in, n as u64);
    }

    /// Counts bytes handed to the transport.
    pub fn bytes_out(&mut self, n: usize) {
        add(&self.shared.bytes_out, n as u64);
    }

    /// Counts an accepted connection.
    pub fn connection_opened(&mut self) {
        add(&self.shared.connections_opened, 1);
    }

    /// Counts a closed connection.
    pub fn connection_closed(&mut self) {
        add(&self.shared.connections_closed, 1);
    }

    /// Counts a timeout.
    pub fn timeout(&mut self) {
        add(&self.shared.timeouts, 1);
    }

    /// Counts a job refused by the full blocking pool.
    pub fn blocking_rejected(&mut self) {
        add(&self.shared.blocking_rejected, 1);
    }

    /// Counts a connection refused (reset) because the worker held its maximum.
    pub fn connection_refused(&mut self) {
        add(&self.shared.connections_refused, 1);
    }

    /// Counts a request refused because it exceeded an `[http]` limit.
    pub fn limit_refusal(&mut self) {
        add(&self.shared.limit_refusals, 1);
    }

    /// The worker's TLS counters.
    pub fn tls(&mut self) -> &crate::tls::TlsCounters {
        &self.shared.tls
    }

    /// Counts a handler that panicked.
    pub fn handler_panic(&mut self) {
        add(&self.shared.handler_panics, 1);
    }

    /// Merges the local histogram into the shared one (call about once per tick).
    pub fn flush(&mut self) {
        if self.local.is_empty() {
            return;
        }
        let mut shared = self
            .shared
            .latency
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Same bounds on both sides: add cannot fail.
        let _ = shared.add(&self.local);
        drop(shared);
        self.local.reset();
    }
}

/// How often a limit being hit is logged, at most, by one worker (each hit is counted).
pub const LIMIT_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// Lets a repeated log line through at most once per interval (the caller counts every
/// occurrence in its metrics; the log only says that it happens).
#[derive(Debug, Clone, Copy)]
pub struct LogLimiter {
    interval: Duration,
    last: Option<std::time::Instant>,
}

impl LogLimiter {
    /// A limiter letting one line through per `interval`.
    pub const fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: None,
        }
    }

    /// Whether a line may be logged at `now` (and if so, starts a new interval).
    pub fn ready(&mut self, now: std::time::Instant) -> bool {
        if self
            .last
            .is_some_and(|t| now.saturating_duration_since(t) < self.interval)
        {
            return false;
        }
        self.last = Some(now);
        true
    }
}

impl Default for LogLimiter {
    fn default() -> Self {
        Self::new(LIMIT_LOG_INTERVAL)
    }
}

/// Reads one counter of a worker.
type Getter = fn(&WorkerMetrics) -> u64;

/// All workers' metrics; cheap to clone, read by `/metrics` and by the binary.
#[derive(Debug, Default)]
pub struct MetricsRegistry {
    workers: Mutex<Vec<Arc<WorkerMetrics>>>,
}

impl MetricsRegistry {
    /// Registers a new worker and returns its recorder.
    pub fn register_worker(&self) -> MetricsRecorder {
        let mut workers = self.workers.lock().unwrap_or_else(PoisonError::into_inner);
        let m = Arc::new(WorkerMetrics::new(workers.len()));
        workers.push(Arc::clone(&m));
        MetricsRecorder {
            shared: m,
            local: new_histogram(),
        }
    }

    /// The registered workers' metrics.
    pub fn workers(&self) -> Vec<Arc<WorkerMetrics>> {
        self.workers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Total responses with `status` over all workers.
    pub fn total_responses(&self, status: u16) -> u64 {
        self.workers().iter().map(|w| w.responses(status)).sum()
    }

    /// Appends the HTTP counters as Prometheus text to `out`.
    pub fn render_prometheus(&self, out: &mut String) {
        render_heap_stats(out);
        let workers = self.workers();
        out.push_str(
            "# HELP boomerang_http_responses_total HTTP responses sent, by status code.\n",
        );
        out.push_str("# TYPE boomerang_http_responses_total counter\n");
        for (i, &code) in TRACKED_STATUSES.iter().enumerate() {
            let total: u64 = workers
                .iter()
                .map(|w| w.by_status.get(i).map_or(0, |c| c.load(Ordering::Relaxed)))
                .sum();
            if total == 0 {
                continue;
            }
            let label = if code == 0 {
                "other".to_string()
            } else {
                code.to_string()
            };
            let _ = writeln!(
                out,
                "boomerang_http_responses_total{{code=\"{label}\"}} {total}"
            );
        }
        let counters: [(&str, &str, Getter); 9] = [
            (
                "boomerang_http_received_bytes_total",
                "Bytes received from HTTP peers.",
                WorkerMetrics::bytes_in,
            ),
            (
                "boomerang_http_sent_bytes_total",
                "Bytes of HTTP responses handed to the transport.",
                WorkerMetrics::bytes_out,
            ),
            (
                "boomerang_http_connections_opened_total",
                "HTTP connections accepted.",
                WorkerMetrics::connections_opened,
            ),
            (
                "boomerang_http_connections_closed_total",
                "HTTP connections closed.",
                WorkerMetrics::connections_closed,
            ),
            (
                "boomerang_http_timeouts_total",
                "HTTP connections ended by a timeout.",
                WorkerMetrics::timeouts,
            ),
            (
                "boomerang_http_blocking_rejected_total",
                "Jobs refused by the full blocking pool (503).",
                WorkerMetrics::blocking_rejected,
            ),
            (
                "boomerang_http_connections_refused_total",
                "Connections reset because the worker held max-connections-per-worker.",
                WorkerMetrics::connections_refused,
            ),
            (
                "boomerang_http_limit_refusals_total",
                "Requests refused for exceeding max-header-bytes, max-headers, max-uri-bytes, \
                 max-body-bytes, max-chunk-ext-bytes or max-trailer-bytes.",
                WorkerMetrics::limit_refusals,
            ),
            (
                "boomerang_http_handler_panics_total",
                "Handlers that panicked; their requests were answered 500.",
                WorkerMetrics::handler_panics,
            ),
        ];
        for (name, help, get) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for w in &workers {
                let _ = writeln!(out, "{name}{{worker=\"{}\"}} {}", w.index, get(w));
            }
        }
        crate::tls::TlsCounters::render(workers.iter().map(|w| w.tls()), out);
        let mut merged = new_histogram();
        for w in &workers {
            let _ = merged.add(w.latency_snapshot());
        }
        let name = "boomerang_http_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from a request's first byte to its response being queued.\n# TYPE {name} summary"
        );
        for q in [0.5, 0.9, 0.99, 0.999] {
            let v = merged.value_at_quantile(q) as f64 / 1e6;
            let _ = writeln!(out, "{name}{{quantile=\"{q}\"}} {v}");
        }
        let sum: f64 = merged
            .iter_recorded()
            .map(|v| v.value_iterated_to() as f64 * v.count_at_value() as f64)
            .sum::<f64>()
            / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {}", merged.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_limiter_lets_one_line_through_per_interval() {
        let t0 = std::time::Instant::now();
        let mut l = LogLimiter::new(Duration::from_secs(1));
        assert!(l.ready(t0));
        assert!(!l.ready(t0 + Duration::from_millis(999)));
        assert!(l.ready(t0 + Duration::from_secs(1)));
        assert!(!l.ready(t0 + Duration::from_millis(1500)));
    }

    #[test]
    fn counts_and_renders() {
        let reg = MetricsRegistry::default();
        let mut a = reg.register_worker();
        let mut b = reg.register_worker();
        a.response(200, Duration::from_micros(50));
        b.response(200, Duration::from_micros(150));
        b.response(404, Duration::from_micros(10));
        b.response(418, Duration::from_micros(10));
        a.bytes_in(10);
        a.flush();
        b.flush();
        assert_eq!(reg.total_responses(200), 2);
        assert_eq!(reg.total_responses(404), 1);
        assert_eq!(reg.total_responses(0), 1);
        let mut s = String::new();
        reg.render_prometheus(&mut s);
        assert!(
            s.contains("boomerang_http_responses_total{code=\"200\"} 2\n"),
            "{s}"
        );
        assert!(
            s.contains("boomerang_http_responses_total{code=\"other\"} 1\n"),
            "{s}"
        );
        assert!(
            s.contains("boomerang_http_received_bytes_total{worker=\"0\"} 10\n"),
            "{s}"
        );
        assert!(
            s.contains("boomerang_http_request_duration_seconds_count 4\n"),
            "{s}"
        );
    }
}
