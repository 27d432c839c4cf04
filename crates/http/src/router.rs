//! Routing: the built-in routes (`/plaintext`, `/echo`, `/metrics`), user handlers under
//! method + [`Pattern`] (run inline or on the blocking pool), static directories mounted
//! under a prefix, and static files under the configured root for anything else.
//!
//! # Lookup
//! Among the routes whose pattern matches the path (query ignored) and whose methods
//! include the request's (a `GET` route also answers `HEAD`), the most specific pattern
//! wins (see [`crate::pattern`]); on a tie, the route registered first. If patterns match
//! but none under this method, the answer is `405 Method Not Allowed` with an `Allow`
//! field listing the methods that would match. If no pattern matches, a GET/HEAD goes to
//! the static root (404 without one, or when the file is missing); other methods get 405
//! with `Allow: GET, HEAD` when a root is configured, else 404.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::Method;

pub use crate::handler::{Handler, HttpError, IntoResponse, Request, Response};
pub use crate::pattern::{Pattern, PatternError};
pub use crate::request_body::{BodyReader, StreamingHandler};

/// Extra Prometheus text for `/metrics` (the binary's NIC/stack counters).
pub trait MetricsSource: Send + Sync + 'static {
    /// Appends Prometheus exposition text to `out`.
    fn render_prometheus(&self, out: &mut String);
}

impl<F> MetricsSource for F
where
    F: Fn(&mut String) + Send + Sync + 'static,
{
    fn render_prometheus(&self, out: &mut String) {
        self(out)
    }
}

/// What a matched route does.
#[derive(Clone)]
pub(crate) enum Route {
    /// `GET /plaintext` → `Hello, World!`.
    Plaintext,
    /// `POST /echo` → the request body back.
    Echo,
    /// `GET /metrics` → Prometheus text.
    Metrics,
    /// A user handler.
    Handler {
        handler: Arc<dyn Handler>,
        blocking: bool,
    },
    /// A user handler that reads the body as a stream (on the blocking pool).
    Streaming { handler: Arc<dyn StreamingHandler> },
    /// Files under `root`; the pattern ends in a catch-all naming the file.
    Static { root: Arc<PathBuf> },
}

/// One registered route.
#[derive(Clone)]
struct Entry {
    /// Methods accepted; empty: any method.
    methods: Vec<Method>,
    pattern: Pattern,
    route: Route,
}

impl Entry {
    fn accepts(&self, m: &Method) -> bool {
        self.methods.is_empty()
            || self.methods.contains(m)
            || (*m == Method::HEAD && self.methods.contains(&Method::GET))
    }
}

/// The body of `GET /plaintext`.
pub const PLAINTEXT_BODY: &[u8] = b"Hello, World!";

/// Maps requests to routes.
#[derive(Clone, Default)]
pub struct Router {
    entries: Vec<Entry>,
    metrics_source: Option<Arc<dyn MetricsSource>>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let routes: Vec<String> = self
            .entries
            .iter()
            .map(|e| {
                let m: Vec<&str> = e.methods.iter().map(Method::as_str).collect();
                format!("{} {}", m.join(","), e.pattern.as_str())
            })
            .collect();
        f.debug_struct("Router").field("routes", &routes).finish()
    }
}

/// The outcome of [`Router::lookup`].
pub(crate) enum Lookup<'r> {
    /// A route accepts this method and path.
    Found(&'r Route, &'r Pattern),
    /// Routes match the path, under other methods (the `Allow` value).
    MethodNotAllowed(String),
    /// No pattern matches the path.
    NotFound,
}

/// A literal pattern for a built-in route.
fn literal(p: &str) -> Pattern {
    match Pattern::parse(p) {
        Ok(pattern) if pattern.is_literal() => pattern,
        Ok(_) => panic!("built-in route {p:?}: parameters are not allowed"),
        Err(e) => panic!("built-in route: {e}"),
    }
}

impl Router {
    /// A router with no routes (everything goes to static files).
    pub fn new() -> Self {
        Self::default()
    }

    /// A router with `GET /plaintext`, `POST /echo` and `GET /metrics`.
    pub fn with_builtin_routes() -> Self {
        let mut r = Self::new();
        r.add_plaintext("/plaintext")
            .add_echo("/echo")
            .add_metrics("/metrics");
        r
    }

    /// Adds the built-in `GET path` → `Hello, World!` (written in place, no allocation).
    /// Panics if `path` is not a literal pattern.
    pub fn add_plaintext(&mut self, path: &str) -> &mut Self {
        self.push(vec![Method::GET], literal(path), Route::Plaintext);
        self
    }

    /// Adds the built-in `POST path` → the request body back.
    /// Panics if `path` is not a literal pattern.
    pub fn add_echo(&mut self, path: &str) -> &mut Self {
        self.push(vec![Method::POST], literal(path), Route::Echo);
        self
    }

    /// Adds the built-in `GET path` → the Prometheus text of the HTTP counters (and the
    /// [`MetricsSource`], if set). Panics if `path` is not a literal pattern.
    pub fn add_metrics(&mut self, path: &str) -> &mut Self {
        self.push(vec![Method::GET], literal(path), Route::Metrics);
        self
    }

    fn push(&mut self, methods: Vec<Method>, pattern: Pattern, route: Route) {
        self.entries.push(Entry {
            methods,
            pattern,
            route,
        });
    }

    /// Adds a handler for `methods` (empty: every method) under `pattern`, run inline on
    /// the worker (`blocking == false`: must not block) or on the blocking pool.
    pub fn add(
        &mut self,
        methods: &[Method],
        pattern: &str,
        handler: Arc<dyn Handler>,
        blocking: bool,
    ) -> Result<&mut Self, PatternError> {
        let pattern = Pattern::parse(pattern)?;
        self.push(
            methods.to_vec(),
            pattern,
            Route::Handler { handler, blocking },
        );
        Ok(self)
    }

    /// Adds a handler for `methods` (empty: every method) under `pattern` that reads the
    /// request body as a stream while it arrives (see [`crate::request_body`]); it runs on
    /// the blocking pool, started as soon as the request head is in.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use boomerang_http::{BodyReader, Request, Response, Router, StreamingHandler};
    ///
    /// let mut r = Router::new();
    /// let h: Arc<dyn StreamingHandler> = Arc::new(|_: &Request, body: &mut BodyReader| {
    ///     let n = std::io::copy(body, &mut std::io::sink())?;
    ///     Ok::<_, std::io::Error>(format!("{n}\n"))
    /// });
    /// r.add_streaming(&[http::Method::PUT], "/blobs/{name}", h).unwrap();
    /// let resp = r.respond(Request::new(http::Method::PUT, "/blobs/a").with_body(vec![0; 9]));
    /// assert_eq!(resp.body(), b"9\n");
    /// ```
    pub fn add_streaming(
        &mut self,
        methods: &[Method],
        pattern: &str,
        handler: Arc<dyn StreamingHandler>,
    ) -> Result<&mut Self, PatternError> {
        let pattern = Pattern::parse(pattern)?;
        self.push(methods.to_vec(), pattern, Route::Streaming { handler });
        Ok(self)
    }

    /// Adds a handler for every method at exactly `path`, run inline on the worker (must
    /// not block). Panics if `path` is not a valid pattern.
    pub fn route(&mut self, path: &str, handler: Arc<dyn Handler>) -> &mut Self {
        self.add(&[], path, handler, false)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Adds a handler for every method at exactly `path`, run on the blocking pool.
    /// Panics if `path` is not a valid pattern.
    pub fn route_blocking(&mut self, path: &str, handler: Arc<dyn Handler>) -> &mut Self {
        self.add(&[], path, handler, true)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Serves the files under `dir` for GET/HEAD of `prefix/…` (`prefix` without a
    /// trailing `/`; `/` mounts at the root). `dir` must exist; it is canonicalised here.
    pub fn static_dir(&mut self, prefix: &str, dir: &Path) -> std::io::Result<&mut Self> {
        let root = Arc::new(dir.canonicalize()?);
        let prefix = prefix.trim_end_matches('/');
        let pattern = Pattern::parse(&format!("{prefix}/{{*file}}"))
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        self.push(vec![Method::GET], pattern, Route::Static { root });
        Ok(self)
    }

    /// Sets the source of extra `/metrics` text.
    pub fn set_metrics_source(&mut self, source: Arc<dyn MetricsSource>) -> &mut Self {
        self.metrics_source = Some(source);
        self
    }

    pub(crate) fn metrics_source(&self) -> Option<&Arc<dyn MetricsSource>> {
        self.metrics_source.as_ref()
    }

    /// Answers `req` with the user handlers, on the calling thread and without a
    /// connection (for tests of an application): the handler's response (a panic: 500),
    /// 405 with `Allow`, or 404. A streaming handler reads `req`'s body. Built-in routes
    /// and static files answer 404 here.
    pub fn respond(&self, req: Request) -> Response {
        let path = req.path().as_bytes().to_vec();
        let internal_error = |_| {
            Response::text("Internal Server Error\n")
                .with_status(http::StatusCode::INTERNAL_SERVER_ERROR)
        };
        match self.lookup(req.method(), &path) {
            Lookup::Found(Route::Handler { handler, .. }, pattern) => {
                let params = pattern.captures(&path).unwrap_or_default();
                let req = req.with_params(params);
                crate::contain::call(handler.as_ref(), &req).unwrap_or_else(internal_error)
            }
            Lookup::Found(Route::Streaming { handler }, pattern) => {
                let params = pattern.captures(&path).unwrap_or_default();
                let mut req = req.with_params(params);
                let mut body = BodyReader::from_bytes(req.take_body());
                crate::request_body::call(handler.as_ref(), &req, &mut body)
                    .unwrap_or_else(internal_error)
            }
            Lookup::MethodNotAllowed(allow) => {
                let mut r = Response::text("Method Not Allowed\n")
                    .with_status(http::StatusCode::METHOD_NOT_ALLOWED);
                if let Ok(v) = http::HeaderValue::from_str(&allow) {
                    r.headers_mut().insert(http::header::ALLOW, v);
                }
                r
            }
            _ => Response::text("Not Found\n").with_status(http::StatusCode::NOT_FOUND),
        }
    }

    /// The route for `method` and `path` (no query). Allocates only for a 405's `Allow`.
    pub(crate) fn lookup(&self, method: &Method, path: &[u8]) -> Lookup<'_> {
        let mut best: Option<&Entry> = None;
        let mut other_methods = false;
        for e in &self.entries {
            if best.is_some_and(|b| b.pattern.rank() >= e.pattern.rank()) {
                continue;
            }
            if !e.pattern.matches(path) {
                continue;
            }
            if e.accepts(method) {
                best = Some(e);
            } else {
                other_methods = true;
            }
        }
        if let Some(e) = best {
            return Lookup::Found(&e.route, &e.pattern);
        }
        if !other_methods {
            return Lookup::NotFound;
        }
        let mut allow: Vec<&str> = Vec::new();
        for e in self.entries.iter().filter(|e| e.pattern.matches(path)) {
            for m in &e.methods {
                if !allow.contains(&m.as_str()) {
                    allow.push(m.as_str());
                }
                if *m == Method::GET && !allow.contains(&"HEAD") {
                    allow.push("HEAD");
                }
            }
        }
        Lookup::MethodNotAllowed(allow.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h() -> Arc<dyn Handler> {
        Arc::new(|_: &Request| Response::text("x"))
    }

    fn found(r: &Router, m: Method, p: &str) -> Option<String> {
        match r.lookup(&m, p.as_bytes()) {
            Lookup::Found(_, pat) => Some(pat.as_str().to_string()),
            _ => None,
        }
    }

    #[test]
    fn most_specific_wins_and_405_lists_methods() {
        let mut r = Router::with_builtin_routes();
        r.add(&[Method::GET], "/users/{id}", h(), false).unwrap();
        r.add(&[Method::GET], "/users/new", h(), false).unwrap();
        r.add(&[Method::DELETE], "/users/{id}", h(), true).unwrap();
        r.add(&[Method::GET], "/{*any}", h(), false).unwrap();
        assert_eq!(
            found(&r, Method::GET, "/users/new").as_deref(),
            Some("/users/new")
        );
        assert_eq!(
            found(&r, Method::GET, "/users/7").as_deref(),
            Some("/users/{id}")
        );
        assert_eq!(
            found(&r, Method::HEAD, "/users/7").as_deref(),
            Some("/users/{id}")
        );
        assert_eq!(
            found(&r, Method::DELETE, "/users/7").as_deref(),
            Some("/users/{id}")
        );
        assert_eq!(
            found(&r, Method::GET, "/plaintext").as_deref(),
            Some("/plaintext")
        );
        assert_eq!(
            found(&r, Method::GET, "/other/x").as_deref(),
            Some("/{*any}")
        );
        match r.lookup(&Method::PUT, b"/users/7") {
            Lookup::MethodNotAllowed(allow) => assert_eq!(allow, "GET, HEAD, DELETE"),
            _ => panic!("405 expected"),
        }
        match r.lookup(&Method::POST, b"/plaintext") {
            Lookup::MethodNotAllowed(allow) => assert_eq!(allow, "GET, HEAD"),
            _ => panic!("405 expected: /{{*any}} matches too, under GET"),
        }
        assert!(matches!(
            Router::with_builtin_routes().lookup(&Method::GET, b"/nope"),
            Lookup::NotFound
        ));
    }
}
