//! SIGINT/SIGTERM handling with signal-hook: the first signal sets a stop flag that the
//! server loops and the demo poll (graceful stop); a second one exits at once, so a stuck
//! shutdown can always be interrupted (except in the demo, see [`cleanup_flag`]).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;
use signal_hook::consts::{SIGINT, SIGTERM};

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
