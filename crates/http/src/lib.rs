//! boomerang's HTTP/1.1 server: a transport-agnostic, sans-IO connection state machine
//! ([`HttpConnection`]), the router with the built-in routes and static files, the
//! blocking pool, per-worker metrics, and the kernel-socket transport ([`KernelServer`]).
//!
//! # Pieces
//! - [`HttpService`] (one per process, `Arc`): [`ServerConfig`] + [`Router`] + the
//!   [`MetricsRegistry`]. `Router::with_builtin_routes()` gives `/plaintext`, `/echo`,
//!   `/metrics`; user handlers ([`Handler`]) are added under a method and a [`Pattern`];
//!   anything unmatched GET/HEAD is a static file under `config.root`.
//! - [`BlockingPool`] (one per process): threads for file reads and blocking handlers.
//! - [`HttpWorker`] (one per worker thread / shard): cached `Date`, metrics recorder, the
//!   worker's completion queue. Its waker callback must wake that thread's loop.
//! - [`HttpConnection`] (one per accepted connection), driven by [`pump`] over any
//!   [`ByteStream`], or by hand (see the [`conn`] module docs for the contract).
//!
//! # Driving it from another transport (e.g. the userspace stack)
//! On accept create `HttpConnection::new(&mut worker, id, now)` with an `id` the worker
//! never reuses while a completion for an earlier connection may still arrive (both
//! transports use a slot index plus a generation). On every readiness event set the
//! [`Readiness`] flags and call [`pump`]; when it returns `false` close the socket and drop
//! the connection. After the waker fired, take each [`Completion`] from
//! [`HttpWorker::pop_completion`], hand it to the connection named by
//! [`Completion::conn_id`] (`on_completion`, then `pump`), or drop it if that connection is
//! gone. When [`HttpConnection::poll_timeout`] has passed, call `on_timeout` and `pump`.
//! Call [`HttpWorker::tick`] once per timer tick (about every 100 ms) and
//! [`HttpWorker::refresh_date`] at least as often (the `Date` header has a one-second
//! resolution: the stack's shard loop refreshes it once per tick, not per loop turn).
//!
//! ```
//! use std::io;
//! use std::time::{Instant, SystemTime};
//! use boomerang_http::*;
//!
//! /// A socket of some other transport (here: in memory).
//! struct Mem { rx: Vec<u8>, tx: Vec<u8> }
//! impl ByteStream for Mem {
//!     fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
//!         if self.rx.is_empty() { return Err(io::ErrorKind::WouldBlock.into()) }
//!         let n = buf.len().min(self.rx.len());
//!         buf[..n].copy_from_slice(&self.rx[..n]);
//!         self.rx.drain(..n);
//!         Ok(n)
//!     }
//!     fn write(&mut self, data: &[u8]) -> io::Result<usize> { self.tx.extend_from_slice(data); Ok(data.len()) }
//!     fn shutdown_write(&mut self) -> io::Result<()> { Ok(()) }
//! }
//!
//! let service = HttpService::new(ServerConfig::default(), Router::with_builtin_routes())?;
//! let pool = BlockingPool::new(1, 64)?;
//! let mut worker = HttpWorker::new(&service, &pool, Box::new(|| { /* wake the loop */ }), SystemTime::now());
//! let now = Instant::now();
//! let mut conn = HttpConnection::new(&mut worker, 1, now);
//! let mut sock = Mem { rx: b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), tx: Vec::new() };
//! let mut ready = Readiness { readable: true, writable: true, read_closed: false };
//! let mut buf = [0u8; 4096];
//! assert!(pump(&mut conn, &mut sock, &mut ready, &mut worker, &mut buf, now));
//! assert!(sock.tx.ends_with(b"\r\n\r\nHello, World!"));
//! # Ok::<(), io::Error>(())
//! ```
#![forbid(unsafe_code)]

pub mod access_log;
pub mod blocking;
pub mod body;
pub mod config;
pub mod conn;
pub mod contain;
mod dispatch;
pub mod driver;
pub mod error;
mod file_cache;
pub mod handler;
pub mod kernel;
pub mod metrics;
pub mod pattern;
pub mod request;
pub mod request_body;
pub mod response;
pub mod response_body;
pub mod router;
pub mod static_files;
pub mod tls;
pub mod tls_stream;
pub mod worker;

pub use blocking::{BlockingPool, Completion};
pub use config::{ConfigError, ServerConfig};
pub use conn::{ConnAction, HttpConnection};
pub use contain::quiet_handler_panics;
pub use driver::{pump, ByteStream, Readiness};
pub use error::RequestError;
pub use handler::{Handler, HttpError, IntoResponse, Request, Response};
pub use kernel::KernelServer;
pub use metrics::{MetricsRegistry, WorkerMetrics};
pub use pattern::{Pattern, PatternError};
pub use request::Method;
pub use request_body::{BodyReader, StreamingHandler};
pub use response_body::{Body, BodyProducer, BodyStream, Bytes};
pub use router::{MetricsSource, Router};
pub use worker::{HttpService, HttpWorker};
