//! The shortest boomerang program: `GET /` answers `Hello, World!`.
//!
//! It takes the flags of `boomerang serve`:
//! `cargo run --release --example hello -- --kernel --listen 127.0.0.1:8080` on kernel
//! sockets, or `--iface IF --addr A.B.C.D/N` on AF_XDP through the userspace stack.

use boomerang::{App, Request, Response};

fn main() -> anyhow::Result<()> {
    App::new()
        .get("/", |_: &Request| Response::text("Hello, World!"))
        .run_from_args()
}
