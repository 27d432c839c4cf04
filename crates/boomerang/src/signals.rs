//! SIGINT/SIGTERM handling with signal-hook: the first signal sets a stop flag that the
//! server loops and the demo poll (graceful stop); a second one exits at once, so a stuck
//! shutdown can always be interrupted (except in the demo, see [`cleanup_flag`]). SIGHUP
//! reloads the TLS certificates and keys ([`reload_tls_on_sighup`]).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;
use boomerang_http::HttpService;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// Exit status used when a second signal forces the process out (128 + SIGINT).
pub const FORCED_EXIT_CODE: i32 = 130;

/// Returns a flag that becomes true on the first SIGINT or SIGTERM; a second signal exits
/// the process at once.
pub fn stop_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        // Order matters: the conditional shutdown is registered first, so it sees the flag as
        // it was before this signal set it (second signal → exit).
        signal_hook::flag::register_conditional_shutdown(sig, FORCED_EXIT_CODE, flag.clone())
            .context("cannot install a signal handler")?;
        signal_hook::flag::register(sig, flag.clone())
            .context("cannot install a signal handler")?;
    }
    Ok(flag)
}

/// Returns a flag set by every SIGINT/SIGTERM, never exiting by itself: for the demo, whose
/// cleanup (namespaces, child processes) must run however often Ctrl-C is pressed.
pub fn cleanup_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        signal_hook::flag::register(sig, flag.clone())
            .context("cannot install a signal handler")?;
    }
    Ok(flag)
}

/// When `service` speaks HTTPS: logs the certificates served and reloads them from their
/// files on every SIGHUP (a thread that lives as long as the process). New handshakes get
/// the new certificates; open connections keep theirs. A reload that fails is logged and
/// the current certificates stay.
pub fn reload_tls_on_sighup(service: &Arc<HttpService>) -> anyhow::Result<()> {
    let Some(tls) = service.tls() else {
        return Ok(());
    };
    tracing::info!(
        certificates = ?tls.store().names(),
        handshake_timeout = ?tls.handshake_timeout(),
        "HTTPS: TLS 1.3 and 1.2, ALPN http/1.1, session tickets; SIGHUP reloads the certificates"
    );
    let mut signals = signal_hook::iterator::Signals::new([SIGHUP])
        .context("cannot install the SIGHUP handler")?;
    let service = Arc::clone(service);
    std::thread::Builder::new()
        .name("sighup".into())
        .spawn(move || {
            for _ in signals.forever() {
                match service.tls().map(|t| t.reload()) {
                    Some(Ok(n)) => tracing::info!(certificates = n, "TLS certificates reloaded"),
                    Some(Err(e)) => tracing::warn!(
                        error = %e,
                        "TLS reload failed; the current certificates stay"
                    ),
                    None => {}
                }
            }
        })
        .context("cannot start the SIGHUP thread")?;
    Ok(())
}
