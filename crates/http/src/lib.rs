//! boomerang's HTTP/1.1 server: a transport-agnostic, sans-IO connection state machine
//! ([`HttpConnection`]), the router with the built-in routes and static files, the
//! blocking pool, per-worker metrics, and the kernel-socket transport ([`kernel`]).
//!
//! The userspace TCP stack drives the very same [`HttpConnection`] from its socket API;
//! see the [`conn`] module docs for the transport contract.
#![forbid(unsafe_code)]

pub mod blocking;
pub mod body;
pub mod config;
pub mod conn;
mod dispatch;
pub mod driver;
pub mod error;
mod file_cache;
pub mod kernel;
pub mod metrics;
pub mod request;
pub mod response;
pub mod router;
pub mod static_files;
pub mod worker;

pub use blocking::{BlockingPool, Completion};
pub use config::ServerConfig;
pub use conn::{ConnAction, HttpConnection};
pub use driver::{pump, ByteStream, Readiness};
pub use error::RequestError;
pub use kernel::KernelServer;
pub use metrics::{MetricsRegistry, WorkerMetrics};
pub use request::Method;
pub use router::{Handler, MetricsSource, Request, Response, Router};
pub use worker::{HttpService, HttpWorker};
