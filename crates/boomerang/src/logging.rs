//! Structured logs through `tracing-subscriber`: human-readable lines on stderr, filtered by
//! `--log` or the `RUST_LOG` environment variable (default `info`).

use tracing_subscriber::EnvFilter;

/// The filter used when neither `--log` nor `RUST_LOG` is given.
pub const DEFAULT_FILTER: &str = "info";

/// Installs the global subscriber; a second call (tests) is ignored.
pub fn init(filter: Option<&str>) {
    let filter = filter
        .map(EnvFilter::new)
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new(DEFAULT_FILTER));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
