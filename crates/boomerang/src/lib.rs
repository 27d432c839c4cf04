//! boomerang: a web server that brings its own network stack (AF_XDP + a userspace
//! IPv4/TCP stack), usable as a library through [`App`], and the `boomerang` binary's
//! library: command line, configuration, the server runtimes (kernel sockets and the
//! userspace stack on AF_XDP), the demo, metrics and the load generator.
//!
//! # As a library
//! Build an [`App`] with your handlers and run it; it takes the same flags and TOML file
//! as `boomerang serve`, and serves over AF_XDP (`--iface … --addr …`) or kernel sockets
//! (`--kernel --listen …`) unchanged. See [`app`] for inline versus blocking handlers.
//!
//! ```
//! use boomerang::{App, Method, Request, Response};
//!
//! let app = App::new().get("/hello/{name}", |req: &Request| {
//!     Response::text(format!("Hello, {}!", req.param("name").unwrap_or("world")))
//! });
//! let r = app.respond(Request::new(Method::GET, "/hello/J%C3%BCrgen"));
//! assert_eq!(r.body(), "Hello, Jürgen!".as_bytes());
//! // In `main`: app.run_from_args()
//! ```
//!
//! `main.rs` only parses the command line and calls [`run`]; everything else lives here so
//! the integration tests and the comparison harness (`bench/compare`) reuse the same code.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod app;
pub mod cli;
pub mod config;
pub mod demo;
pub mod device_io;
pub mod harness;
pub mod load;
pub mod logging;
pub mod metrics;
pub mod os;
pub mod preflight;
pub mod serve;
pub mod signals;

pub use app::App;
pub use boomerang_http::{
    Body, BodyProducer, BodyReader, BodyStream, Bytes, Handler, HttpError, IntoResponse, Request,
    Response, StreamingHandler,
};
pub use http::{self, header, Method, StatusCode};

use cli::{Cli, Command};

/// Runs one parsed command line to completion; the process exit code follows the result.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => App::with_builtin_routes().run_args(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Load(args) => {
            let opts = load::LoadOptions::from_args(&args)?;
            let report = load::run(&opts, load::Progress::Stderr)?;
            print!("{}", report.render());
            Ok(())
        }
    }
}
