//! `serve --kernel`: the HTTP server on kernel sockets (the http crate's mio transport),
//! one worker per CPU of the process's allowed set (so `taskset` decides).

use std::io;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use boomerang_http::{HttpService, KernelServer, Router};

use crate::config::KernelSettings;

/// Binds and serves `router` until `stop` is set; in-flight requests get the http crate's shutdown
/// grace period.
pub fn run(k: &KernelSettings, router: Router, stop: &AtomicBool) -> anyhow::Result<()> {
    let config = k.http.clone();
    let service = HttpService::new(config, router)
        .context("cannot set up the HTTP service (are --root and the TLS files readable?)")?;
    // The http crate binds with SO_REUSEPORT (one listener per worker), which would silently
    // share the port with another server of ours: probe with a plain bind first.
    drop(std::net::TcpListener::bind(k.listen).map_err(|e| explain_bind(e, k))?);
    let server = KernelServer::bind_service(k.listen, service).map_err(|e| explain_bind(e, k))?;
    crate::signals::reload_tls_on_sighup(server.service())?;
    tracing::info!(
        listen = %server.local_addr(),
        root = ?k.root,
        header_timeout = ?k.http.header_read_timeout,
        keepalive_timeout = ?k.http.keep_alive_timeout,
        workers = match k.http.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        },
        max_connections_per_worker = k.http.max_connections_per_worker,
        "serving HTTP on kernel sockets (--kernel)"
    );
    server
        .run(stop)
        .context("the kernel-socket server failed")?;
    tracing::info!("stopped");
    Ok(())
}

fn explain_bind(e: io::Error, k: &KernelSettings) -> anyhow::Error {
    let addr = k.listen;
    let hint = match e.kind() {
        io::ErrorKind::AddrInUse => format!(
            "{addr} is already in use by another socket; stop that process (`ss -ltnp`) or pick another port"
        ),
        io::ErrorKind::AddrNotAvailable => format!(
            "no interface in this network namespace has the address {}; use 0.0.0.0:{} or an address from `ip -4 addr`",
            addr.ip(),
            addr.port()
        ),
        io::ErrorKind::PermissionDenied => format!(
            "binding {addr} was refused: ports below 1024 need root (or CAP_NET_BIND_SERVICE); use a port ≥ 1024"
        ),
        io::ErrorKind::InvalidInput => {
            "cannot set up the HTTP service (are --root and the TLS files readable?)".into()
        }
        _ => format!("cannot listen on {addr}"),
    };
    anyhow::Error::new(e).context(hint)
}
