//! Fuzzes the TLS + HTTP stage ([`pump_tls`] over an in-memory socket) with arbitrary
//! bytes. Byte 0 picks the mode: even → the bytes go raw to the server (ClientHello
//! parser, record layer, alerts); odd → a rustls client handshakes first and the bytes are
//! its plaintext (the HTTP layer through TLS), with raw bytes injected between records on
//! request. Pieces, send-window sizes, EOF and time steps come from control bytes. The
//! server must never panic, and it must end the connection on what it cannot accept.
#![no_main]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use boomerang_http::tls::TlsConfig;
use boomerang_http::tls_stream::{pump_tls, TlsSession};
use boomerang_http::{
    BlockingPool, ByteStream, HttpConnection, HttpService, HttpWorker, Readiness, Router,
    ServerConfig,
};
use libfuzzer_sys::fuzz_target;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

/// The certificate made once per process, its files, and the client's configuration.
fn cert() -> &'static (PathBuf, PathBuf, CertificateDer<'static>) {
    static CERT: OnceLock<(PathBuf, PathBuf, CertificateDer<'static>)> = OnceLock::new();
    CERT.get_or_init(|| {
        let c = rcgen::generate_simple_self_signed(vec!["a.test".to_string()]).expect("rcgen");
        let dir = std::env::temp_dir().join(format!("bmr-fuzz-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let (crt, key) = (dir.join("a.crt"), dir.join("a.key"));
        std::fs::write(&crt, c.cert.pem()).expect("crt");
        std::fs::write(&key, c.signing_key.serialize_pem()).expect("key");
        (crt, key, c.cert.der().clone())
    })
}

fn pool() -> &'static BlockingPool {
    static POOL: OnceLock<BlockingPool> = OnceLock::new();
    POOL.get_or_init(|| BlockingPool::new(1, 4).expect("pool"))
}

fn service() -> &'static Arc<HttpService> {
    static SERVICE: OnceLock<Arc<HttpService>> = OnceLock::new();
    SERVICE.get_or_init(|| {
        let (crt, key, _) = cert();
        let cfg = ServerConfig {
            max_header_bytes: 2048,
            max_body_bytes: 4096,
            tls: Some(TlsConfig {
                cert: vec![crt.clone()],
                key: vec![key.clone()],
                ..TlsConfig::default()
            }),
            ..Default::default()
        };
        HttpService::new(cfg, Router::with_builtin_routes()).expect("service")
    })
}

fn client_config() -> &'static Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        roots.add(cert().2.clone()).expect("root");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let c = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(c)
    })
}

thread_local! {
    static CTX: RefCell<HttpWorker> =
        RefCell::new(HttpWorker::new(service(), pool(), Box::new(|| {}), SystemTime::UNIX_EPOCH));
}

/// The server's socket: what the client sent, what the server wrote, a send window.
struct Mem {
    inbound: VecDeque<u8>,
    fin: bool,
    outbound: Vec<u8>,
    space: usize,
    shut: bool,
}

impl ByteStream for Mem {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.inbound.is_empty() {
            return if self.fin {
                Ok(0)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            };
        }
        let n = buf.len().min(self.inbound.len());
        for (d, s) in buf.iter_mut().zip(self.inbound.drain(..n)) {
            *d = s;
        }
        Ok(n)
    }

    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        assert!(!self.shut, "write after the write side was shut");
        if self.space == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = data.len().min(self.space);
        self.outbound.extend_from_slice(&data[..n]);
        self.space -= n;
        Ok(n)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shut = true;
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| CTX.with_borrow_mut(|ctx| run(ctx, data)));

fn run(ctx: &mut HttpWorker, data: &[u8]) {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let mut now = Instant::now();
    let acceptor = service().tls().expect("tls");
    let mut tls = TlsSession::new(acceptor, now).expect("session");
    let mut conn = HttpConnection::new(ctx, 1, now);
    let mut sock = Mem {
        inbound: VecDeque::new(),
        fin: false,
        outbound: Vec::new(),
        space: 0,
        shut: false,
    };
    let mut ready = Readiness::default();
    let mut buf = vec![0u8; 8192];
    let mut client = (mode & 1 == 1).then(|| {
        let name = ServerName::try_from("a.test").expect("name");
        ClientConnection::new(Arc::clone(client_config()), name).expect("client")
    });
    let mut plain = [0u8; 4096];
    // Each step: control byte (low 5 bits: piece length; bit 5: raw injection; bit 6: one
    // second passes; bit 7: EOF after this piece), then the piece.
    for _ in 0..10_000 {
        let (ctl, piece) = match rest.split_first() {
            Some((&ctl, tail)) => {
                let len = usize::from(ctl & 0x1f).min(tail.len());
                let (piece, tail) = tail.split_at(len);
                rest = tail;
                (ctl, piece)
            }
            None => (0, &[][..]),
        };
        match client.as_mut() {
            Some(c) if ctl & 0x20 == 0 => {
                if !c.is_handshaking() {
                    let _ = c.writer().write(piece);
                }
                let mut out = Vec::new();
                while c.wants_write() && c.write_tls(&mut out).is_ok() {}
                sock.inbound.extend(out);
            }
            _ => sock.inbound.extend(piece),
        }
        if ctl & 0x40 != 0 {
            now += Duration::from_secs(1);
        }
        sock.fin |= ctl & 0x80 != 0;
        sock.space = 1 + usize::from(ctl) * 97;
        ready.readable = true;
        ready.writable = true;
        if !pump_tls(
            &mut conn, &mut tls, &mut sock, &mut ready, ctx, &mut buf, now,
        ) {
            return;
        }
        let mut gave_up = false;
        if let Some(c) = client.as_mut() {
            let mut from = &sock.outbound[..];
            while !from.is_empty() {
                if c.read_tls(&mut from).is_err() || c.process_new_packets().is_err() {
                    gave_up = true;
                    break;
                }
                while matches!(c.reader().read(&mut plain), Ok(n) if n > 0) {}
            }
        }
        if gave_up {
            // The client gave up (e.g. after injected garbage): the server goes on with raw
            // bytes only.
            client = None;
        }
        sock.outbound.clear();
        if rest.is_empty() && ctl == 0 && sock.inbound.is_empty() {
            // Input used up: let the deadlines end the connection.
            now += Duration::from_secs(60);
            if !pump_tls(
                &mut conn, &mut tls, &mut sock, &mut ready, ctx, &mut buf, now,
            ) {
                return;
            }
            conn.on_timeout(ctx, now);
            let open = pump_tls(
                &mut conn, &mut tls, &mut sock, &mut ready, ctx, &mut buf, now,
            );
            assert!(!open || tls.poll_timeout().is_some() || conn.poll_timeout(ctx).is_some());
            return;
        }
    }
}
