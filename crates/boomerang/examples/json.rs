//! `GET /json` → `{"message":"Hello, World!"}` as `application/json`, serialised per
//! request with serde_json (the TechEmpower JSON test), beside everything `boomerang serve`
//! answers (`/plaintext`, `/echo`, `/metrics`, the files under `--root`): `bench/compare`
//! runs this program as boomerang, so every column of its table measures the same server.
//!
//! `cargo run --release --example json -- --kernel --listen 127.0.0.1:8080`

use boomerang::{App, HttpError, Request, Response};
use serde::Serialize;

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

fn json(_: &Request) -> Result<Response, HttpError> {
    let body = serde_json::to_vec(&Message {
        message: "Hello, World!",
    })
    .map_err(|e| HttpError::new(500, e.to_string()))?;
    Ok(Response::json_bytes(body))
}

fn main() -> anyhow::Result<()> {
    App::with_builtin_routes()
        .get("/json", json)
        .run_from_args()
}
