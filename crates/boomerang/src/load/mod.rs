//! `boomerang load`: an HTTP/1.1 load generator on kernel sockets (mio), keep-alive or one
//! request per connection, with HdrHistogram latencies; over HTTPS ([`tls`]) with full or
//! resumed handshakes, counted.
//!
//! Bounded by a duration and optionally a request count. Each worker thread owns its share
//! of the connections and its own histogram; they are merged at the end. Latency is measured
//! from the first byte of the request written (keep-alive) or from the connect call
//! (`--close`) to the last byte of the response.

mod exchange;
mod response;
mod stack_client;
pub mod tls;
mod worker;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hdrhistogram::Histogram;

pub use response::{Complete, ResponseError, ResponseReader};
pub use stack_client::StackClient;
pub use tls::{Handshake, Resumption, TlsClient, TlsConn};

use crate::cli::LoadArgs;

/// Most connections one run may open concurrently.
pub const MAX_CONNECTIONS: usize = 100_000;
/// Most worker threads.
pub const MAX_THREADS: usize = 256;
/// Highest latency the histogram records (larger values are clamped), in microseconds.
pub const MAX_LATENCY_US: u64 = 60_000_000;

/// A parsed `http://host[:port]/path` or `https://…` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Where to connect.
    pub addr: SocketAddr,
    /// The Host header value.
    pub host: String,
    /// The request-target (origin form).
    pub path: String,
    /// `https://`: TLS over the connection.
    pub https: bool,
    /// The host without the port: the name the server's certificate must carry.
    pub name: String,
}

impl Target {
    /// Parses an `http://` or `https://` URL; the host is resolved once here.
    pub fn parse(url: &str) -> anyhow::Result<Target> {
        let (rest, https) = if let Some(r) = url.strip_prefix("http://") {
            (r, false)
        } else if let Some(r) = url.strip_prefix("https://") {
            (r, true)
        } else {
            bail!("`{url}`: use an http:// or https:// URL, e.g. http://198.19.2.1:8080/plaintext");
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            bail!("`{url}` has no host");
        }
        let (with_port, name) = match authority.rsplit_once(':') {
            Some((name, p)) if p.parse::<u16>().is_ok() => (authority.to_string(), name),
            _ => (
                format!("{authority}:{}", if https { 443 } else { 80 }),
                authority,
            ),
        };
        let addr = with_port
            .to_socket_addrs()
            .with_context(|| format!("cannot resolve `{authority}`"))?
            .next()
            .with_context(|| format!("`{authority}` resolves to no address"))?;
        Ok(Target {
            addr,
            host: authority.to_string(),
            path: path.to_string(),
            https,
            name: name.to_string(),
        })
    }

    /// The bytes of one GET request for this target.
    pub fn request(&self, close: bool) -> Vec<u8> {
        let conn = if close { "Connection: close\r\n" } else { "" };
        format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: boomerang-load\r\n{conn}\r\n",
            self.path, self.host
        )
        .into_bytes()
    }
}

/// Everything one load run needs.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The target.
    pub target: Target,
    /// Concurrent connections.
    pub connections: usize,
    /// Run time.
    pub duration: Duration,
    /// One request per connection.
    pub close: bool,
    /// Worker threads.
    pub threads: usize,
    /// Optional cap on completed requests.
    pub requests: Option<u64>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// CPUs to pin worker threads to, round robin (empty: no pinning).
    pub pin: Vec<usize>,
    /// Run the client on our own stack over AF_XDP instead of kernel sockets.
    pub stack: Option<StackClient>,
    /// TLS for an `https://` target (required for one, refused for `http://`).
    pub tls: Option<TlsClient>,
}

impl LoadOptions {
    /// Checks the command line's values.
    pub fn from_args(a: &LoadArgs) -> anyhow::Result<LoadOptions> {
        let target = Target::parse(&a.url)?;
        if a.connections == 0 || a.connections > MAX_CONNECTIONS {
            bail!("--connections {}: use 1..={MAX_CONNECTIONS}", a.connections);
        }
        if a.threads == 0 || a.threads > MAX_THREADS {
            bail!("--threads {}: use 1..={MAX_THREADS}", a.threads);
        }
        if a.duration.is_zero() {
            bail!("--duration must be above zero, e.g. --duration 10s");
        }
        let stack = match (&a.iface, &a.addr) {
            (Some(iface), Some(addr)) => Some(StackClient {
                iface: iface.clone(),
                addr: crate::config::parse_host_cidr(addr)?,
                gateway: a.gateway,
            }),
            (None, None) => None,
            _ => bail!("the AF_XDP client needs both --iface IF and --addr A.B.C.D/N"),
        };
        if stack.is_some() && a.threads > 1 {
            bail!("the AF_XDP client runs one thread on queue 0: drop --threads");
        }
        let resumption = if a.resume {
            Resumption::Tickets
        } else {
            Resumption::Full
        };
        let tls = match (&a.cacert, target.https) {
            (Some(ca), true) => Some(TlsClient::from_ca_file(ca, &target.name, resumption)?),
            (None, true) => bail!(
                "an https:// URL needs --cacert FILE: the CA certificate(s) to verify the server against (PEM)"
            ),
            (Some(_), false) => bail!("--cacert is for https:// URLs"),
            (None, false) if a.resume => bail!("--resume is for https:// URLs"),
            (None, false) => None,
        };
        Ok(LoadOptions {
            tls,
            stack,
            target,
            connections: a.connections,
            duration: a.duration,
            close: a.close,
            threads: a.threads.min(a.connections),
            requests: a.requests,
            timeout: a.timeout,
            pin: Vec::new(),
        })
    }
}

/// Error counts by kind (like wrk's "Socket errors" line, plus non-2xx/3xx statuses).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCounts {
    /// Connect failures (refused, unreachable, reset during handshake).
    pub connect: u64,
    /// Read failures and connections closed before a complete response.
    pub read: u64,
    /// Write failures.
    pub write: u64,
    /// Requests without a complete response within the timeout.
    pub timeout: u64,
    /// Responses that could not be parsed.
    pub protocol: u64,
    /// Responses with status 4xx or 5xx.
    pub status: u64,
    /// TLS failures: a certificate not trusted, a handshake refused, a bad record, an alert.
    pub tls: u64,
}

impl ErrorCounts {
    /// All errors.
    pub fn total(&self) -> u64 {
        self.connect
            + self.read
            + self.write
            + self.timeout
            + self.protocol
            + self.status
            + self.tls
    }

    fn add(&mut self, o: &ErrorCounts) {
        self.connect += o.connect;
        self.read += o.read;
        self.write += o.write;
        self.timeout += o.timeout;
        self.protocol += o.protocol;
        self.status += o.status;
        self.tls += o.tls;
    }
}

/// The result of one run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Completed responses (any status).
    pub requests: u64,
    /// Body bytes received.
    pub body_bytes: u64,
    /// Connections opened.
    pub connections_opened: u64,
    /// Finished TLS handshakes that were full ones.
    pub handshakes_full: u64,
    /// Finished TLS handshakes that resumed a session.
    pub handshakes_resumed: u64,
    /// Errors by kind.
    pub errors: ErrorCounts,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Latencies in microseconds.
    pub latency_us: Histogram<u64>,
}

impl Report {
    pub(crate) fn empty() -> Report {
        Report {
            requests: 0,
            body_bytes: 0,
            connections_opened: 0,
            handshakes_full: 0,
            handshakes_resumed: 0,
            errors: ErrorCounts::default(),
            elapsed: Duration::ZERO,
            latency_us: new_histogram(),
        }
    }

    fn merge(&mut self, o: &Report) {
        self.requests += o.requests;
        self.body_bytes += o.body_bytes;
        self.connections_opened += o.connections_opened;
        self.handshakes_full += o.handshakes_full;
        self.handshakes_resumed += o.handshakes_resumed;
        self.errors.add(&o.errors);
        // Both histograms share bounds, so adding cannot fail; ignore the impossible case.
        let _ = self.latency_us.add(&o.latency_us);
    }

    /// Completed requests per second.
    pub fn requests_per_sec(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.requests as f64 / s
        } else {
            0.0
        }
    }

    /// The latency at percentile `p` (0..=100).
    pub fn percentile(&self, p: f64) -> Duration {
        Duration::from_micros(self.latency_us.value_at_percentile(p))
    }

    /// Counts one finished handshake.
    pub(crate) fn handshake(&mut self, kind: Handshake) {
        match kind {
            Handshake::Full => self.handshakes_full += 1,
            Handshake::Resumed => self.handshakes_resumed += 1,
        }
    }

    /// A human-readable summary.
    pub fn render(&self) -> String {
        let e = &self.errors;
        let mut s = String::new();
        s.push_str(&format!(
            "{} requests in {:.2}s, {} body bytes, {} connections opened\n",
            self.requests,
            self.elapsed.as_secs_f64(),
            self.body_bytes,
            self.connections_opened
        ));
        s.push_str(&format!("Requests/sec: {:.0}\n", self.requests_per_sec()));
        if self.handshakes_full + self.handshakes_resumed > 0 {
            s.push_str(&format!(
                "TLS handshakes: {} full, {} resumed\n",
                self.handshakes_full, self.handshakes_resumed
            ));
        }
        s.push_str(&format!(
            "Latency: p50 {} p90 {} p99 {} p99.9 {} max {}\n",
            fmt_duration(self.percentile(50.0)),
            fmt_duration(self.percentile(90.0)),
            fmt_duration(self.percentile(99.0)),
            fmt_duration(self.percentile(99.9)),
            fmt_duration(Duration::from_micros(self.latency_us.max())),
        ));
        s.push_str(&format!(
            "Errors: {} (connect {}, read {}, write {}, timeout {}, protocol {}, status>=400 {}, tls {})\n",
            e.total(),
            e.connect,
            e.read,
            e.write,
            e.timeout,
            e.protocol,
            e.status,
            e.tls
        ));
        s
    }
}

/// Formats a latency compactly (`812µs`, `1.52ms`, `2.10s`).
pub fn fmt_duration(d: Duration) -> String {
    let us = d.as_micros();
    if us < 1000 {
        format!("{us}µs")
    } else if us < 1_000_000 {
        format!("{:.2}ms", us as f64 / 1000.0)
    } else {
        format!("{:.2}s", d.as_secs_f64())
    }
}

pub(crate) fn new_histogram() -> Histogram<u64> {
    // 1 µs .. 60 s at 3 significant figures; these bounds are valid, so this cannot fail.
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("constant histogram bounds are valid")
}

/// Where progress lines go while the load runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Nothing.
    Silent,
    /// One line per second on stderr.
    Stderr,
}

/// Counters the workers share with the progress printer and the stop logic.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) completed: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) stop: AtomicBool,
}

impl Shared {
    /// Counts one completed response: records it in `report` unless the run's request `limit`
    /// was already reached by other workers. Returns `true` once the limit is reached, so the
    /// caller stops opening and sending.
    pub(crate) fn complete(
        &self,
        report: &mut Report,
        limit: Option<u64>,
        started: Instant,
        status: u16,
        body_len: u64,
    ) -> bool {
        let before = self.completed.fetch_add(1, Ordering::Relaxed);
        if limit.is_some_and(|l| before >= l) {
            return true;
        }
        let us = (started.elapsed().as_micros() as u64).clamp(1, MAX_LATENCY_US);
        let _ = report.latency_us.record(us);
        report.requests += 1;
        report.body_bytes += body_len;
        if status >= 400 {
            self.error(report, |e| e.status += 1);
        }
        limit.is_some_and(|l| before + 1 >= l)
    }

    /// Counts one error of the kind `f` picks, in `report` and in the shared error count.
    pub(crate) fn error(&self, report: &mut Report, f: impl FnOnce(&mut ErrorCounts)) {
        f(&mut report.errors);
        self.errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs the load to completion and returns the merged report.
pub fn run(opts: &LoadOptions, progress: Progress) -> anyhow::Result<Report> {
    run_with_stop(opts, progress, None)
}

/// Like [`run`], but also stops early when `cancel` becomes true (Ctrl-C in the demo).
pub fn run_with_stop(
    opts: &LoadOptions,
    progress: Progress,
    cancel: Option<Arc<AtomicBool>>,
) -> anyhow::Result<Report> {
    let shared = Arc::new(Shared::default());
    let start = Instant::now();
    let deadline = start + opts.duration;
    let threads = if opts.stack.is_some() {
        1
    } else {
        opts.threads.max(1)
    };
    let mut handles = Vec::with_capacity(threads);
    for t in 0..threads {
        let conns = opts.connections / threads + usize::from(t < opts.connections % threads);
        let cfg = worker::WorkerConfig {
            target: opts.target.addr,
            request: opts.target.request(opts.close),
            connections: conns,
            close: opts.close,
            tls: opts.tls.clone(),
            deadline,
            timeout: opts.timeout,
            limit: opts.requests,
            pin: if opts.pin.is_empty() {
                None
            } else {
                opts.pin.get(t % opts.pin.len()).copied()
            },
        };
        let sh = shared.clone();
        let stack = opts.stack.clone();
        handles.push(
            std::thread::Builder::new()
                .name(format!("load-{t}"))
                .spawn(move || match stack {
                    Some(sc) => stack_client::run(cfg, &sc, &sh),
                    None => worker::run(cfg, &sh),
                })
                .context("cannot start a load thread")?,
        );
    }
    let mut last = (start, 0u64);
    while handles.iter().any(|h| !h.is_finished()) {
        std::thread::sleep(Duration::from_millis(50));
        if cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed)) {
            shared.stop.store(true, Ordering::Relaxed);
        }
        let now = Instant::now();
        if progress == Progress::Stderr && now.duration_since(last.0) >= Duration::from_secs(1) {
            let done = shared.completed.load(Ordering::Relaxed);
            let rate = (done - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
            eprintln!(
                "  {:>5.1}s  {:>10.0} req/s  {:>10} done  {:>6} errors",
                now.duration_since(start).as_secs_f64(),
                rate,
                done,
                shared.errors.load(Ordering::Relaxed)
            );
            last = (now, done);
        }
    }
    let mut report = Report::empty();
    let mut end = start;
    for h in handles {
        let (r, finished) = h
            .join()
            .map_err(|_| anyhow::anyhow!("a load thread panicked"))??;
        report.merge(&r);
        end = end.max(finished);
    }
    report.elapsed = end.duration_since(start);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        let t = Target::parse("http://198.19.2.1:8080/plaintext").expect("ok");
        assert_eq!(t.addr, "198.19.2.1:8080".parse().expect("addr"));
        assert_eq!(t.path, "/plaintext");
        assert_eq!(t.host, "198.19.2.1:8080");
        let t = Target::parse("http://127.0.0.1").expect("ok");
        assert_eq!(t.addr.port(), 80);
        assert_eq!(t.path, "/");
        assert!(!t.https);
        let req = String::from_utf8(t.request(true)).expect("utf8");
        assert!(req.starts_with("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
        assert!(req.ends_with("Connection: close\r\n\r\n"));
        let t = Target::parse("https://127.0.0.1/x").expect("ok");
        assert!(t.https);
        assert_eq!((t.addr.port(), t.name.as_str()), (443, "127.0.0.1"));
        let t = Target::parse("https://localhost:8443").expect("ok");
        assert_eq!((t.addr.port(), t.name.as_str()), (8443, "localhost"));
        assert_eq!(t.host, "localhost:8443");
        assert!(Target::parse("ftp://x/").is_err());
        assert!(Target::parse("http:///x").is_err());
    }

    #[test]
    fn durations_format() {
        assert_eq!(fmt_duration(Duration::from_micros(812)), "812µs");
        assert_eq!(fmt_duration(Duration::from_micros(1520)), "1.52ms");
        assert_eq!(fmt_duration(Duration::from_millis(2100)), "2.10s");
    }
}
