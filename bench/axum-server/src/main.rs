//! The axum server of `bench/compare`: what a Rust web developer would write for the
//! TechEmpower plaintext and JSON tests, on tokio's multi-thread runtime with as many worker
//! threads as `--threads` (1 by default, like the single nginx worker and the single
//! boomerang shard it is compared with). `GET /plaintext` answers `Hello, World!` as
//! `text/plain`; `GET /json` serializes `{"message":"Hello, World!"}` per request with
//! serde_json, as `application/json`.
//!
//! `axum-server --listen 198.18.0.1:8080 [--threads 1]`

use std::net::SocketAddr;

use axum::routing::get;
use axum::{Json, Router};
use clap::Parser;
use serde::Serialize;

#[derive(Parser, Debug)]
#[command(about = "axum serving /plaintext and /json, for bench/compare")]
struct Args {
    /// Address and port to listen on.
    #[arg(long)]
    listen: SocketAddr,
    /// Tokio worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// The JSON test's body.
#[derive(Serialize)]
struct Message {
    message: &'static str,
}

async fn plaintext() -> &'static str {
    "Hello, World!"
}

async fn json() -> Json<Message> {
    Json(Message {
        message: "Hello, World!",
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let app = Router::new()
            .route("/plaintext", get(plaintext))
            .route("/json", get(json));
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        eprintln!("axum-server: listening on {}", args.listen);
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        Ok(())
    })
}
