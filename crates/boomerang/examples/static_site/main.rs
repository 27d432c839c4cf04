//! A static site: the files of `examples/static_site/public` mounted at `/` (directories
//! serve their `index.html`; ETag, Last-Modified, ranges and the file cache as for
//! `--root`), next to one dynamic route, `GET /api/hello`.
//!
//! `cargo run --release --example static_site -- --kernel --listen 127.0.0.1:8080`
//! (`--root` still works too: it serves whatever no route or mount claims).

use boomerang::{App, Request, Response};

fn main() -> anyhow::Result<()> {
    let site = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/static_site/public");
    App::new()
        .static_dir("/", site)
        .get("/api/hello", |_: &Request| {
            Response::json_bytes(r#"{"hello":"from a handler"}"#)
        })
        .run_from_args()
}
