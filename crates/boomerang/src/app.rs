//! [`App`]: boomerang as a library. Register handlers under a method and a path pattern,
//! mount static directories, then run the same server as `boomerang serve` — on AF_XDP
//! through the userspace stack, or with `--kernel` on kernel sockets — with the same flags
//! and TOML file.
//!
//! Two kinds of handler:
//! - **inline** ([`App::get`], [`App::post`], …, [`App::route`]) run on the shard (AF_XDP)
//!   or worker (`--kernel`) thread in the loop turn that completed the request. They must
//!   not block: while one runs, no other connection of that thread moves.
//! - **blocking** ([`App::get_blocking`], …, [`App::route_blocking`]) run on the blocking
//!   pool (`--blocking-threads`, queue `http.blocking-queue`); the response comes back
//!   through the thread's completion queue. A full queue is answered `503` at once.
//! - **streaming** ([`App::post_streaming`], [`App::put_streaming`],
//!   [`App::route_streaming`]) run on the blocking pool as soon as the request head is in
//!   and read the body through a [`BodyReader`] while it arrives, with back-pressure: the
//!   connection stops reading from the network while the handler has not consumed what
//!   was received (for uploads of any size; no `max-body-bytes` limit applies).
//!
//! Any handler's response body may be bytes, a shared buffer ([`crate::Bytes`]), a file
//! ([`crate::Response::file`], opened and read on the pool) or a [`crate::BodyStream`]
//! whose producer runs on the pool and is asked for more only when the send side has room.
//!
//! A handler that panics gets its request a `500`; the panic is counted in `/metrics`
//! (`boomerang_http_handler_panics_total`) and logged at most once a second per thread.
//!
//! ```no_run
//! use boomerang::{App, HttpError, Request, Response};
//!
//! fn show_user(req: &Request) -> Result<Response, HttpError> {
//!     let id: u64 = req
//!         .param("id")
//!         .and_then(|v| v.parse().ok())
//!         .ok_or_else(|| HttpError::bad_request("id must be a number"))?;
//!     Ok(Response::text(format!("user {id}\n")))
//! }
//!
//! fn main() -> anyhow::Result<()> {
//!     App::new()
//!         .get("/hello", |_req: &Request| Response::text("Hello, World!"))
//!         .get("/users/{id}", show_user)
//!         .post_blocking("/upload", |req: &Request| format!("{} bytes\n", req.body().len()))
//!         .static_dir("/assets", "./public")
//!         .run_from_args()
//! }
//! ```

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;
use boomerang_http::{BodyReader, Handler, IntoResponse, Request, Router, StreamingHandler};
use clap::Parser;
use http::Method;

use crate::cli::ServeArgs;
use crate::config::ServeSettings;

/// The routes of an application, and how to run them.
///
/// Handlers are closures (or functions) `Fn(&Request) -> R` where `R:`
/// [`IntoResponse`]: a [`crate::Response`], a `String`, a status, `(StatusCode, body)`,
/// or a `Result` of those (the error picks its own status, e.g. [`crate::HttpError`]).
///
/// ```
/// use boomerang::{App, Method, Request, Response, StatusCode};
///
/// let app = App::new()
///     .get("/hello", |_: &Request| "Hello, World!")
///     .route(Method::PATCH, "/items/{id}", |req: &Request| {
///         (StatusCode::ACCEPTED, format!("patched {}\n", req.param("id").unwrap_or("?")))
///     });
/// // The same routes, answered without a server (e.g. in a unit test):
/// let r = app.respond(Request::new(Method::PATCH, "/items/7"));
/// assert_eq!(r.status(), StatusCode::ACCEPTED);
/// assert_eq!(r.body(), b"patched 7\n");
/// assert_eq!(app.respond(Request::new(Method::GET, "/nope")).status(), StatusCode::NOT_FOUND);
/// ```
#[derive(Debug)]
pub struct App {
    router: Router,
    errors: Vec<String>,
}

impl Default for App {
    fn default() -> Self {
        Self::new()
    }
}

/// The command line of a program built on [`App`]: `boomerang serve`'s flags, plus `--log`.
#[derive(Parser, Debug)]
#[command(about = "An HTTP server built on boomerang (AF_XDP + userspace TCP, or --kernel)")]
struct AppCli {
    /// Log filter (tracing-subscriber EnvFilter syntax); default: `RUST_LOG`, else `info`.
    #[arg(long, value_name = "FILTER")]
    log: Option<String>,
    #[command(flatten)]
    serve: ServeArgs,
}

impl App {
    /// An application with only the built-in `GET /metrics` (Prometheus text).
    pub fn new() -> Self {
        let mut router = Router::new();
        router.add_metrics("/metrics");
        Self {
            router,
            errors: Vec::new(),
        }
    }

    /// What `boomerang serve` serves: `GET /plaintext`, `POST /echo` and `GET /metrics`
    /// as built-in routes (written in place, without allocating).
    pub fn with_builtin_routes() -> Self {
        Self {
            router: Router::with_builtin_routes(),
            errors: Vec::new(),
        }
    }

    /// An application without any route (not even `/metrics`).
    pub fn empty() -> Self {
        Self {
            router: Router::new(),
            errors: Vec::new(),
        }
    }

    fn add(
        mut self,
        methods: &[Method],
        pattern: &str,
        h: Arc<dyn Handler>,
        blocking: bool,
    ) -> Self {
        if let Err(e) = self.router.add(methods, pattern, h, blocking) {
            self.errors.push(e.to_string());
        }
        self
    }

    /// Adds an inline handler for `method` at `pattern` (see [`boomerang_http::pattern`]
    /// for `{name}`, `{*rest}` and the matching rules). A `GET` handler also answers `HEAD`.
    pub fn route<F, R>(self, method: Method, pattern: &str, handler: F) -> Self
    where
        F: Fn(&Request) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.add(&[method], pattern, Arc::new(handler), false)
    }

    /// Adds a handler for `method` at `pattern` that runs on the blocking pool.
    pub fn route_blocking<F, R>(self, method: Method, pattern: &str, handler: F) -> Self
    where
        F: Fn(&Request) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.add(&[method], pattern, Arc::new(handler), true)
    }

    /// Adds an inline handler for `GET` at `pattern` (it also answers `HEAD`).
    pub fn get<F, R>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(&Request) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.route(Method::GET, pattern, handler)
    }

    /// Adds a handler for `GET` at `pattern` that runs on the blocking pool.
    pub fn get_blocking<F, R>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(&Request) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.route_blocking(Method::GET, pattern, handler)
    }

    /// Adds an inline handler for `POST` at `pattern`.
    pub fn post<F, R>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(&Request) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.route(Method::POST, pattern, handler)
    }

    /// Adds a handler for `POST` at `pattern` that runs on the blocking pool.
    pub fn post_blocking<F, R>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(&Request) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.route_blocking(Method::POST, pattern, handler)
    }

    /// Adds an inline handler for `PUT` at `pattern`.
    pub fn put<F, R>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(&Request) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.route(Method::PUT, pattern, handler)
    }

    /// Adds a handler for `PUT` at `pattern` that runs on the blocking pool.
    pub fn put_blocking<F, R>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(&Request) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.route_blocking(Method::PUT, pattern, handler)
    }

    /// Adds an inline handler for `DELETE` at `pattern`.
    pub fn delete<F, R>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(&Request) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.route(Method::DELETE, pattern, handler)
    }

    /// Adds a handler for `DELETE` at `pattern` that runs on the blocking pool.
    pub fn delete_blocking<F, R>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(&Request) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.route_blocking(Method::DELETE, pattern, handler)
    }

    /// Adds an inline handler for `PATCH` at `pattern`.
    pub fn patch<F, R>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(&Request) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.route(Method::PATCH, pattern, handler)
    }

    /// Adds a handler for `PATCH` at `pattern` that runs on the blocking pool.
    pub fn patch_blocking<F, R>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(&Request) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.route_blocking(Method::PATCH, pattern, handler)
    }

    /// Adds a streaming handler for `method` at `pattern`: it runs on the blocking pool as
    /// soon as the request head is in and reads the body from its [`BodyReader`] while the
    /// client sends it (Content-Length or chunked). Reading blocks until more has arrived;
    /// while the handler does not read, the connection stops reading from the network, so
    /// at most [`boomerang_http::request_body::STREAMED_BODY_BUFFER`] bytes wait in memory.
    /// A handler that answers before reading the whole body gets its connection closed
    /// after the response.
    ///
    /// ```
    /// use std::io::Read;
    /// use boomerang::{App, BodyReader, Method, Request, StatusCode};
    ///
    /// let app = App::new().route_streaming(Method::PUT, "/blobs/{name}", |req: &Request, body: &mut BodyReader| {
    ///     let mut n = 0u64;
    ///     let mut buf = [0u8; 64 * 1024];
    ///     loop {
    ///         match body.read(&mut buf)? {
    ///             0 => break,
    ///             k => n += k as u64, // e.g. write `buf[..k]` to a file
    ///         }
    ///     }
    ///     Ok::<_, std::io::Error>((StatusCode::CREATED, format!("{}: {n} bytes\n", req.param("name").unwrap_or("?"))))
    /// });
    /// let r = app.respond(Request::new(Method::PUT, "/blobs/x").with_body(vec![0u8; 100_000]));
    /// assert_eq!((r.status(), r.body()), (StatusCode::CREATED, &b"x: 100000 bytes\n"[..]));
    /// ```
    pub fn route_streaming<F, R>(mut self, method: Method, pattern: &str, handler: F) -> Self
    where
        F: Fn(&Request, &mut BodyReader) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        let h: Arc<dyn StreamingHandler> = Arc::new(handler);
        if let Err(e) = self.router.add_streaming(&[method], pattern, h) {
            self.errors.push(e.to_string());
        }
        self
    }

    /// Adds a streaming handler for `POST` at `pattern` (see [`App::route_streaming`]).
    ///
    /// ```
    /// use boomerang::{App, BodyReader, Method, Request};
    ///
    /// let app = App::new().post_streaming("/upload", |_: &Request, body: &mut BodyReader| {
    ///     let n = std::io::copy(body, &mut std::io::sink())?;
    ///     Ok::<_, std::io::Error>(format!("{n}\n"))
    /// });
    /// let r = app.respond(Request::new(Method::POST, "/upload").with_body(b"abc".to_vec()));
    /// assert_eq!(r.body(), b"3\n");
    /// ```
    pub fn post_streaming<F, R>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(&Request, &mut BodyReader) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.route_streaming(Method::POST, pattern, handler)
    }

    /// Adds a streaming handler for `PUT` at `pattern` (see [`App::route_streaming`]).
    ///
    /// ```
    /// use boomerang::{App, BodyReader, Method, Request};
    ///
    /// let app = App::new().put_streaming("/f", |_: &Request, body: &mut BodyReader| {
    ///     Ok::<_, std::io::Error>(format!("{}", std::io::copy(body, &mut std::io::sink())?))
    /// });
    /// let r = app.respond(Request::new(Method::PUT, "/f").with_body(vec![1u8; 10]));
    /// assert_eq!(r.body(), b"10");
    /// ```
    pub fn put_streaming<F, R>(self, pattern: &str, handler: F) -> Self
    where
        F: Fn(&Request, &mut BodyReader) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.route_streaming(Method::PUT, pattern, handler)
    }

    /// Adds a [`Handler`] object for `methods` (empty: every method) at `pattern`.
    pub fn handler(
        self,
        methods: &[Method],
        pattern: &str,
        handler: Arc<dyn Handler>,
        blocking: bool,
    ) -> Self {
        self.add(methods, pattern, handler, blocking)
    }

    /// Mounts the files under `dir` at `prefix` (GET/HEAD of `prefix/…`; directories serve
    /// their `index.html`). Files are read on the blocking pool, small ones kept in the
    /// file cache. An unreadable `dir` makes [`App::run`] fail.
    pub fn static_dir(mut self, prefix: &str, dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        if let Err(e) = self.router.static_dir(prefix, &dir) {
            self.errors.push(format!(
                "static directory {} for {prefix}: {e}",
                dir.display()
            ));
        }
        self
    }

    /// The router built so far, or what was wrong with a pattern or directory.
    pub fn into_router(self) -> anyhow::Result<Router> {
        if !self.errors.is_empty() {
            anyhow::bail!("{}", self.errors.join("; "));
        }
        Ok(self.router)
    }

    /// Answers one request with the registered handlers, without a server (for tests of an
    /// application). Blocking handlers run on the calling thread; static files, `/metrics`
    /// and the built-in routes are not served here (404).
    pub fn respond(&self, req: Request) -> crate::Response {
        self.router.respond(req)
    }

    /// Parses the process's command line (`boomerang serve`'s flags, `--config FILE`, and
    /// `--log`), sets up logging and SIGINT/SIGTERM, and serves until a signal arrives.
    pub fn run_from_args(self) -> anyhow::Result<()> {
        let cli = AppCli::parse();
        crate::logging::init(cli.log.as_deref());
        self.run_args(&cli.serve)
    }

    /// Serves with `args` merged over the TOML file it names, until SIGINT/SIGTERM.
    pub fn run_args(self, args: &ServeArgs) -> anyhow::Result<()> {
        let settings = ServeSettings::resolve(args)?;
        self.run(&settings)
    }

    /// Serves with `settings` until SIGINT/SIGTERM.
    pub fn run(self, settings: &ServeSettings) -> anyhow::Result<()> {
        let stop = crate::signals::stop_flag()?;
        self.serve(settings, stop)
    }

    /// Serves with `settings` until `stop` becomes true (an embedding program's own stop).
    pub fn serve(self, settings: &ServeSettings, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
        let router = self.into_router().context("the application's routes")?;
        boomerang_http::quiet_handler_panics();
        crate::serve::run_with(settings, router, stop)
    }
}
