//! Containment of panicking handlers: a handler runs under `catch_unwind`, so its panic
//! becomes a `500` for its request (counted in `boomerang_http_handler_panics_total`,
//! logged at most once a second per worker) and the worker or pool thread carries on.
//!
//! [`quiet_handler_panics`] installs a process-wide panic hook that keeps the standard
//! hook's stderr report for every other panic, but records a handler's panic message and
//! location for the rate-limited log line instead of printing it at once.

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

use crate::handler::{Handler, Request, Response};

thread_local! {
    static IN_HANDLER: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `handler` on `req`; `Err` carries the panic's message (and location, when the
/// hook of [`quiet_handler_panics`] is installed).
pub(crate) fn call(handler: &dyn Handler, req: &Request) -> Result<Response, String> {
    catch(|| handler.handle(req))
}

/// Runs `f` (a handler, a body producer) under `catch_unwind`; `Err` carries the panic's
/// message (and location, when the hook of [`quiet_handler_panics`] is installed).
pub(crate) fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    IN_HANDLER.with(|f| f.set(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    IN_HANDLER.with(|f| f.set(false));
    result.map_err(|payload| {
        let text = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-string panic payload".to_string());
        match LAST_PANIC.with(|l| l.borrow_mut().take()) {
            Some(location) => format!("{text} (at {location})"),
            None => text,
        }
    })
}

/// Installs (once per process) a panic hook that does not print panics raised inside
/// handlers (they are logged, rate-limited, by the worker that answers 500) and hands
/// every other panic to the hook that was installed before.
pub fn quiet_handler_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_HANDLER.with(Cell::get) {
                let location = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()));
                LAST_PANIC.with(|l| *l.borrow_mut() = location);
            } else {
                previous(info);
            }
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    #[test]
    fn a_panic_becomes_an_error_and_the_thread_goes_on() {
        quiet_handler_panics();
        let req = Request::new(Method::GET, "/");
        let bad = |_: &Request| -> Response { panic!("boom {}", 7) };
        let err = call(&bad, &req).unwrap_err();
        assert!(err.starts_with("boom 7 (at "), "{err}");
        assert!(err.contains("contain.rs"), "{err}");
        let good = |_: &Request| Response::text("ok");
        assert_eq!(call(&good, &req).unwrap().body(), b"ok");
        assert!(!IN_HANDLER.with(Cell::get));
    }
}
