//! Routing: the built-in routes (`/plaintext`, `/echo`, `/metrics`, static files under
//! the root) plus handlers the binary registers, run inline or on the blocking pool.
//!
//! Routes match the path of the request-target exactly (query ignored); anything
//! unmatched falls through to static files for GET/HEAD.

use std::sync::Arc;

use crate::request::Method;

/// An owned request handed to user handlers (inline or on the blocking pool).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Request method.
    pub method: Method,
    /// The request-target as received (path and query).
    pub target: String,
    /// Header fields in arrival order (name as sent, raw value).
    pub headers: Vec<(String, Vec<u8>)>,
    /// The decoded body.
    pub body: Vec<u8>,
}

impl Request {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}

/// A response produced by a user handler; framing and `Date`/`Server` are added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// Further header fields (must not include framing or `Connection` fields).
    pub headers: Vec<(String, String)>,
    /// The body (sent with `Content-Length`).
    pub body: Vec<u8>,
}

impl Response {
    /// A `text/plain` response.
    pub fn text(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            content_type: Some("text/plain; charset=utf-8".into()),
            headers: Vec::new(),
            body: body.into(),
        }
    }
}

/// A request handler supplied by the binary.
pub trait Handler: Send + Sync + 'static {
    /// Produces the response to `req`. Runs on a worker (inline routes: must not block)
    /// or on the blocking pool (blocking routes).
    fn handle(&self, req: &Request) -> Response;
}

impl<F> Handler for F
where
    F: Fn(&Request) -> Response + Send + Sync + 'static,
{
    fn handle(&self, req: &Request) -> Response {
        self(req)
    }
}

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

/// What a matched path does.
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
}

impl Route {
    /// Methods the route accepts, as an `Allow` value (RFC 9110 §10.2.1).
    pub(crate) fn allow(&self) -> Option<&'static str> {
        match self {
            Route::Plaintext | Route::Metrics => Some("GET, HEAD"),
            Route::Echo => Some("POST"),
            Route::Handler { .. } => None,
        }
    }

    pub(crate) fn accepts(&self, m: Method) -> bool {
        match self {
            Route::Plaintext | Route::Metrics => matches!(m, Method::Get | Method::Head),
            Route::Echo => m == Method::Post,
            Route::Handler { .. } => true,
        }
    }
}

/// The body of `GET /plaintext`.
pub const PLAINTEXT_BODY: &[u8] = b"Hello, World!";

/// Maps request paths to routes.
#[derive(Clone, Default)]
pub struct Router {
    routes: Vec<(String, Route)>,
    metrics_source: Option<Arc<dyn MetricsSource>>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let paths: Vec<&str> = self.routes.iter().map(|(p, _)| p.as_str()).collect();
        f.debug_struct("Router").field("routes", &paths).finish()
    }
}

impl Router {
    /// A router with no routes (everything goes to static files).
    pub fn new() -> Self {
        Self::default()
    }

    /// A router with `/plaintext`, `/echo` and `/metrics`.
    pub fn with_builtin_routes() -> Self {
        let mut r = Self::new();
        r.routes.push(("/plaintext".into(), Route::Plaintext));
        r.routes.push(("/echo".into(), Route::Echo));
        r.routes.push(("/metrics".into(), Route::Metrics));
        r
    }

    /// Adds a handler run inline on the worker (must not block).
    pub fn route(&mut self, path: &str, handler: Arc<dyn Handler>) -> &mut Self {
        self.routes.push((
            path.into(),
            Route::Handler {
                handler,
                blocking: false,
            },
        ));
        self
    }

    /// Adds a handler run on the blocking pool.
    pub fn route_blocking(&mut self, path: &str, handler: Arc<dyn Handler>) -> &mut Self {
        self.routes.push((
            path.into(),
            Route::Handler {
                handler,
                blocking: true,
            },
        ));
        self
    }

    /// Sets the source of extra `/metrics` text.
    pub fn set_metrics_source(&mut self, source: Arc<dyn MetricsSource>) -> &mut Self {
        self.metrics_source = Some(source);
        self
    }

    pub(crate) fn metrics_source(&self) -> Option<&Arc<dyn MetricsSource>> {
        self.metrics_source.as_ref()
    }

    /// The route for `target` (query and fragment ignored), if any.
    pub(crate) fn lookup(&self, target: &[u8]) -> Option<&Route> {
        let path_end = target
            .iter()
            .position(|&b| b == b'?' || b == b'#')
            .unwrap_or(target.len());
        let path = target.get(..path_end).unwrap_or_default();
        self.routes
            .iter()
            .find(|(p, _)| p.as_bytes() == path)
            .map(|(_, r)| r)
    }
}
