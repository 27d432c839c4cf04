//! The shared service (configuration, router, metrics registry) and the per-worker
//! context every [`crate::HttpConnection`] call receives: cached `Date`, metrics
//! recorder, and the worker's link to the blocking pool.
//!
//! A worker is one thread (a shard of the stack, or a mio worker); it owns its
//! connections and its `HttpWorker`, and never shares them.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use crossbeam_channel::Sender;

use crate::access_log::{AccessBuffer, AccessFields, AccessLog};
use crate::blocking::{BlockingPool, Completion, CompletionQueue, Job};
use crate::config::ServerConfig;
use crate::file_cache::FileCache;
use crate::metrics::{LogLimiter, MetricsRecorder, MetricsRegistry};
use crate::response::DateCache;
use crate::router::{Response, Router};
use crate::tls::TlsAcceptor;

/// Configuration, routes and metrics shared by all workers.
#[derive(Debug)]
pub struct HttpService {
    config: ServerConfig,
    router: Router,
    metrics: Arc<MetricsRegistry>,
    root: Option<Arc<PathBuf>>,
    cache: Option<Arc<FileCache>>,
    tls: Option<TlsAcceptor>,
    access_log: Option<Arc<AccessLog>>,
}

impl HttpService {
    /// Builds the service after [`ServerConfig::validate`]; the static root (if any) must
    /// exist and is canonicalised here, and the TLS certificates and keys (if any) are read.
    pub fn new(config: ServerConfig, router: Router) -> io::Result<Arc<Self>> {
        config
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let root = match &config.root {
            Some(r) => Some(Arc::new(r.canonicalize()?)),
            None => None,
        };
        let cache =
            (config.static_cache_bytes > 0 && !config.static_cache_ttl.is_zero()).then(|| {
                Arc::new(FileCache::new(
                    config.static_cache_bytes,
                    config.static_cache_max_file,
                    config.static_cache_ttl,
                ))
            });
        let tls = match &config.tls {
            Some(t) if t.enabled() => Some(
                TlsAcceptor::new(t).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
            ),
            _ => None,
        };
        let access_log = match &config.access_log {
            Some(path) => Some(Arc::new(
                AccessLog::open(path, config.access_log_format).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("cannot open the access log {}: {e}", path.display()),
                    )
                })?,
            )),
            None => None,
        };
        Ok(Arc::new(Self {
            config,
            router,
            metrics: Arc::new(MetricsRegistry::default()),
            root,
            cache,
            tls,
            access_log,
        }))
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The router.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// The metrics of all workers.
    pub fn metrics(&self) -> &Arc<MetricsRegistry> {
        &self.metrics
    }

    /// The TLS side, when the service speaks HTTPS: transports wrap each connection in a
    /// [`crate::tls_stream::TlsSession`] and drive it with [`crate::tls_stream::pump_tls`].
    pub fn tls(&self) -> Option<&TlsAcceptor> {
        self.tls.as_ref()
    }

    pub(crate) fn root(&self) -> Option<&Arc<PathBuf>> {
        self.root.as_ref()
    }

    pub(crate) fn file_cache(&self) -> Option<&Arc<FileCache>> {
        self.cache.as_ref()
    }

    /// The access log's writer, when one is configured.
    pub fn access_log(&self) -> Option<&Arc<AccessLog>> {
        self.access_log.as_ref()
    }
}

/// Per-worker context passed to every [`crate::HttpConnection`] call.
#[derive(Debug)]
pub struct HttpWorker {
    service: Arc<HttpService>,
    pub(crate) date: DateCache,
    pub(crate) metrics: MetricsRecorder,
    jobs: Option<Sender<Job>>,
    completions: Arc<CompletionQueue>,
    /// Reused buffer for `/metrics` text.
    pub(crate) scratch: String,
    /// Input/output buffers given back by idle connections, for the next request of any
    /// connection of this worker (at most [`SPARE_BUFFERS_PER_WORKER`]).
    spare_buffers: Vec<Vec<u8>>,
    /// Rate limit of the "blocking pool full" warning.
    pub(crate) pool_full_log: LogLimiter,
    /// Rate limit of the "request over a limit" notice.
    pub(crate) limit_log: LogLimiter,
    /// Rate limit of the "handler panicked" error.
    panic_log: LogLimiter,
    /// This worker's access-log lines on their way to the writer.
    pub(crate) access: Option<AccessBuffer>,
}

/// Most idle-connection buffers a worker keeps for reuse (1 MiB of 1 KiB buffers).
pub const SPARE_BUFFERS_PER_WORKER: usize = 1024;

impl HttpWorker {
    /// A worker context. `waker` is called (from a pool thread) when completions are
    /// waiting; it must make the worker call [`HttpWorker::pop_completion`] soon
    /// (e.g. `mio::Waker::wake`, or an eventfd the shard polls).
    pub fn new(
        service: &Arc<HttpService>,
        pool: &BlockingPool,
        waker: Box<dyn Fn() + Send + Sync>,
        now: SystemTime,
    ) -> Self {
        Self {
            service: Arc::clone(service),
            date: DateCache::new(now),
            metrics: service.metrics.register_worker(),
            jobs: pool.sender(),
            completions: Arc::new(CompletionQueue::new(waker)),
            scratch: String::new(),
            spare_buffers: Vec::new(),
            pool_full_log: LogLimiter::default(),
            limit_log: LogLimiter::default(),
            panic_log: LogLimiter::default(),
            access: service.access_log.clone().map(AccessBuffer::new),
        }
    }

    /// An empty connection buffer: a spare one, or a new one of `capacity` bytes.
    pub(crate) fn take_buffer(&mut self, capacity: usize) -> Vec<u8> {
        self.spare_buffers
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(capacity))
    }

    /// Keeps an idle connection's buffer for reuse (small ones only, while there is room).
    pub(crate) fn give_buffer(&mut self, mut buf: Vec<u8>, max_capacity: usize) {
        if buf.capacity() > 0
            && buf.capacity() <= max_capacity
            && self.spare_buffers.len() < SPARE_BUFFERS_PER_WORKER
        {
            buf.clear();
            self.spare_buffers.push(buf);
        }
    }

    /// The shared service.
    pub fn service(&self) -> &Arc<HttpService> {
        &self.service
    }

    /// Refreshes the cached `Date` (cheap when the second has not changed); call with the
    /// wall clock at least once per timer tick (about every 100 ms).
    pub fn refresh_date(&mut self, now: SystemTime) {
        self.date.refresh(now);
    }

    /// The next finished blocking job, to be given to the connection it names.
    pub fn pop_completion(&self) -> Option<Completion> {
        self.completions.pop()
    }

    /// Periodic housekeeping (merges latency histograms); call about once per timer tick.
    pub fn tick(&mut self) {
        self.metrics.flush();
        if let Some(a) = self.access.as_mut() {
            a.hand_over();
        }
    }

    /// The metrics recorder (the transport counts its own events, e.g. refused accepts).
    pub fn metrics(&mut self) -> &mut MetricsRecorder {
        &mut self.metrics
    }

    /// Counts a job the full blocking pool refused and says so in the log, at most once a
    /// second.
    pub(crate) fn pool_full(&mut self, now: std::time::Instant) {
        self.metrics.blocking_rejected();
        if self.pool_full_log.ready(now) {
            let c = self.service.config();
            tracing::warn!(
                threads = c.blocking_threads,
                queue = c.blocking_queue,
                "blocking pool full: a request was answered 503 (blocking-threads, \
                 blocking-queue; counted in boomerang_http_blocking_rejected_total)"
            );
        }
    }

    /// Counts a handler's panic, logs it (at most once a second per worker, with how many
    /// the counter holds) and returns the `500` its request gets.
    pub(crate) fn handler_panicked(&mut self, message: &str, now: std::time::Instant) -> Response {
        self.metrics.handler_panic();
        if self.panic_log.ready(now) {
            tracing::error!(
                panic = message,
                "a handler panicked: its request was answered 500 (counted in \
                 boomerang_http_handler_panics_total; further panics within a second are \
                 only counted)"
            );
        }
        Response::text("Internal Server Error\n")
            .with_status(http::StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// Writes the access-log line of `entry` (when the log is on).
    pub(crate) fn access_line(&mut self, entry: &AccessFields<'_>, status: u16, body: Option<u64>) {
        if let Some(a) = self.access.as_mut() {
            a.line(entry, status, body, self.date.as_bytes());
        }
    }

    /// This worker's completion queue (for pipes that wake it).
    pub(crate) fn completion_queue(&self) -> Arc<CompletionQueue> {
        Arc::clone(&self.completions)
    }

    pub(crate) fn submit(
        &self,
        job_for: impl FnOnce(Arc<CompletionQueue>) -> Job,
    ) -> Result<(), crate::blocking::PoolFull> {
        let job = job_for(Arc::clone(&self.completions));
        crate::blocking::try_submit(self.jobs.as_ref(), job)
    }
}
