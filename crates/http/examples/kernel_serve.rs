//! Runs the HTTP server on kernel sockets for manual testing and side-by-side benchmarks:
//! `kernel_serve ADDR:PORT [WORKERS] [ROOT]`; it stops cleanly when its stdin reaches EOF,
//! so a harness can stop it by closing the pipe (or kill it by PID).

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use boomerang_http::{KernelServer, ServerConfig};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".into());
    let workers = args.next().and_then(|w| w.parse().ok()).unwrap_or(0);
    let root = args.next().map(Into::into);
    let addr = addr
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let server = KernelServer::bind(
        addr,
        ServerConfig {
            workers,
            root,
            ..Default::default()
        },
    )?;
    println!("listening on http://{}", server.local_addr());
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        s.store(true, Ordering::Relaxed);
    });
    server.run(&stop)
}
