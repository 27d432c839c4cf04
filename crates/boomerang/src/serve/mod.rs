//! `boomerang serve`: the same HTTP server on kernel sockets ([`kernel`]) or on the
//! userspace stack over AF_XDP ([`xdp`]).

pub mod kernel;
pub mod shard_loop;
pub mod sim;
pub mod xdp;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use boomerang_http::Router;

use crate::config::ServeSettings;

/// Whether this build serves on AF_XDP (the demo falls back to `--kernel` otherwise).
pub const XDP_AVAILABLE: bool = true;

/// Runs the server described by `settings` with the built-in routes (`/plaintext`,
/// `/echo`, `/metrics`) until `stop` becomes true.
pub fn run(settings: &ServeSettings, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    run_with(settings, Router::with_builtin_routes(), stop)
}

/// Runs the server described by `settings` with `router` until `stop` becomes true.
pub fn run_with(
    settings: &ServeSettings,
    router: Router,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    match settings {
        ServeSettings::Kernel(k) => kernel::run(k, router, &stop),
        ServeSettings::Xdp(x) => xdp::run(x, router, &stop),
    }
}
