//! What a TLS handshake costs the server's loop: N full and N resumed TLS 1.3 handshakes
//! (ECDSA P-256 certificate, X25519) against a rustls client in memory, timing only the
//! server's [`pump_tls`] calls, i.e. the time a shard's loop turn spends on them.
//!
//! `cargo run --profile ci -p boomerang-http --example tls_handshake_cost [N] [full|resumed]`
//!
//! For instruction counts independent of the machine's load, run it under callgrind with
//! collection limited to the server's calls, for two N, and divide the difference:
//! `valgrind --tool=callgrind --toggle-collect='*pump_tls*' target/ci/examples/tls_handshake_cost 20 full`.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use boomerang_http::tls::TlsConfig;
use boomerang_http::tls_stream::{pump_tls, TlsSession};
use boomerang_http::{
    BlockingPool, ByteStream, HttpConnection, HttpService, HttpWorker, Readiness, Router,
    ServerConfig,
};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, HandshakeKind, RootCertStore};

struct Mem {
    inbound: VecDeque<u8>,
    outbound: Vec<u8>,
}

impl ByteStream for Mem {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.inbound.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.inbound.len());
        for (d, s) in buf.iter_mut().zip(self.inbound.drain(..n)) {
            *d = s;
        }
        Ok(n)
    }

    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.outbound.extend_from_slice(data);
        Ok(data.len())
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One handshake plus `GET /plaintext`; returns the server's time and whether it resumed.
fn one(
    service: &Arc<HttpService>,
    ctx: &mut HttpWorker,
    client: Arc<ClientConfig>,
) -> (Duration, bool) {
    let now = Instant::now();
    let mut tls = TlsSession::new(service.tls().expect("tls"), now).expect("session");
    let mut conn = HttpConnection::new(ctx, 1, now);
    let mut sock = Mem {
        inbound: VecDeque::new(),
        outbound: Vec::new(),
    };
    let mut ready = Readiness::default();
    let mut buf = vec![0u8; 16384];
    let name = ServerName::try_from("a.test").expect("name");
    let mut c = ClientConnection::new(client, name).expect("client");
    let mut sent_request = false;
    let mut server_time = Duration::ZERO;
    let mut got = Vec::new();
    for _ in 0..20 {
        if !c.is_handshaking() && !sent_request {
            std::io::Write::write_all(
                &mut c.writer(),
                b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n",
            )
            .expect("request");
            sent_request = true;
        }
        let mut out = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut out).expect("write_tls");
        }
        sock.inbound.extend(out);
        ready.readable = true;
        ready.writable = true;
        let t = Instant::now();
        assert!(pump_tls(
            &mut conn, &mut tls, &mut sock, &mut ready, ctx, &mut buf, now
        ));
        server_time += t.elapsed();
        let mut from = &sock.outbound[..];
        while !from.is_empty() {
            c.read_tls(&mut from).expect("read_tls");
            c.process_new_packets().expect("process");
        }
        sock.outbound.clear();
        let mut plain = [0u8; 4096];
        while let Ok(n) = c.reader().read(&mut plain) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&plain[..n]);
        }
        if got.ends_with(b"Hello, World!") {
            return (
                server_time,
                c.handshake_kind() == Some(HandshakeKind::Resumed),
            );
        }
    }
    panic!("no response");
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300);
    let cert = rcgen::generate_simple_self_signed(vec!["a.test".to_string()]).expect("rcgen");
    let dir = std::env::temp_dir().join(format!("bmr-tls-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("a.crt"), cert.cert.pem()).expect("crt");
    std::fs::write(dir.join("a.key"), cert.signing_key.serialize_pem()).expect("key");
    let cfg = ServerConfig {
        tls: Some(TlsConfig {
            cert: vec![dir.join("a.crt")],
            key: vec![dir.join("a.key")],
            ..TlsConfig::default()
        }),
        ..Default::default()
    };
    let service = HttpService::new(cfg, Router::with_builtin_routes()).expect("service");
    let _ = std::fs::remove_dir_all(&dir);
    let pool = BlockingPool::new(1, 4).expect("pool");
    let mut ctx = HttpWorker::new(&service, &pool, Box::new(|| {}), SystemTime::now());
    let mut roots = RootCertStore::empty();
    roots.add(cert.cert.der().clone()).expect("root");
    let client = |resume: bool| {
        let mut c =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(&[&rustls::version::TLS13])
                .expect("versions")
                .with_root_certificates(roots.clone())
                .with_no_client_auth();
        if !resume {
            c.resumption = rustls::client::Resumption::disabled();
        }
        Arc::new(c)
    };
    let full = client(false);
    let resumed = client(true);
    // Warm up, and let the resuming client get its first ticket.
    for _ in 0..10 {
        one(&service, &mut ctx, Arc::clone(&full));
        one(&service, &mut ctx, Arc::clone(&resumed));
    }
    let only = std::env::args().nth(2);
    for (label, config, want_resumed) in [("full", &full, false), ("resumed", &resumed, true)] {
        if only.as_deref().is_some_and(|o| o != label) {
            continue;
        }
        let mut times: Vec<Duration> = (0..n)
            .map(|_| {
                let (t, r) = one(&service, &mut ctx, Arc::clone(config));
                assert_eq!(r, want_resumed, "{label}");
                t
            })
            .collect();
        times.sort();
        let total: Duration = times.iter().sum();
        println!(
            "{label:8} handshakes + 1 request: n={n} mean={:?} p50={:?} p99={:?} per second on one core ≈ {:.0}",
            total / n as u32,
            times[n / 2],
            times[n * 99 / 100],
            n as f64 / total.as_secs_f64()
        );
    }
    drop(ctx);
}
