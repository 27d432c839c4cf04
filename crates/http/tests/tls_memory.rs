//! The TLS stage over an in-memory socket, driven against a rustls client in the test: full
//! and resumed handshakes (TLS 1.3 and 1.2), SNI, ALPN, byte-exact responses through a
//! small send window, and bad input (garbage, truncated and oversized records, alerts, a
//! stalled handshake) — each ends that connection, is counted, and never panics.

mod common;

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use boomerang_http::tls::{TlsConfig, TlsFailure};
use boomerang_http::tls_stream::{pump_tls, TlsSession};
use boomerang_http::{
    BlockingPool, ByteStream, HttpConnection, HttpService, HttpWorker, Readiness, Router,
    ServerConfig,
};
use common::{parse_response, pattern, TempDir};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

/// A socket with `space` bytes of send window reopened by the "stack" each round.
struct MemSocket {
    inbound: VecDeque<u8>,
    peer_fin: bool,
    outbound: Vec<u8>,
    window: usize,
    space: usize,
    fin_sent: bool,
}

impl ByteStream for MemSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.inbound.is_empty() {
            return if self.peer_fin {
                Ok(0)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            };
        }
        let n = buf.len().min(self.inbound.len()).min(1500);
        for (dst, src) in buf.iter_mut().zip(self.inbound.drain(..n)) {
            *dst = src;
        }
        Ok(n)
    }

    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        assert!(!self.fin_sent, "write after FIN");
        if self.space == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = data.len().min(self.space);
        self.outbound.extend_from_slice(&data[..n]);
        self.space -= n;
        Ok(n)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.fin_sent = true;
        Ok(())
    }
}

/// A self-signed ECDSA certificate for `names`, written as PEM into `dir`.
fn cert(dir: &Path, tag: &str, names: &[&str]) -> (PathBuf, PathBuf, CertificateDer<'static>) {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let c = rcgen::generate_simple_self_signed(names).expect("rcgen");
    let cert_path = dir.join(format!("{tag}.crt"));
    let key_path = dir.join(format!("{tag}.key"));
    std::fs::write(&cert_path, c.cert.pem()).unwrap();
    std::fs::write(&key_path, c.signing_key.serialize_pem()).unwrap();
    (cert_path, key_path, c.cert.der().clone())
}

/// The server side: service, worker, and one connection at a time.
struct Server {
    service: Arc<HttpService>,
    // Dropped before the pool, whose threads end when the worker's queue closes.
    ctx: HttpWorker,
    _pool: BlockingPool,
}

impl Server {
    fn new(certs: &[(PathBuf, PathBuf)]) -> Server {
        let cfg = ServerConfig {
            tls: Some(TlsConfig {
                cert: certs.iter().map(|c| c.0.clone()).collect(),
                key: certs.iter().map(|c| c.1.clone()).collect(),
                ..TlsConfig::default()
            }),
            ..Default::default()
        };
        let service = HttpService::new(cfg, Router::with_builtin_routes()).expect("service");
        let pool = BlockingPool::new(1, 8).unwrap();
        let ctx = HttpWorker::new(&service, &pool, Box::new(|| {}), SystemTime::now());
        Server {
            service,
            _pool: pool,
            ctx,
        }
    }

    fn counters(&self) -> Vec<Arc<boomerang_http::WorkerMetrics>> {
        self.service.metrics().workers()
    }

    fn failed(&self, r: TlsFailure) -> u64 {
        self.counters().iter().map(|w| w.tls().failed(r)).sum()
    }

    fn metrics_text(&self) -> String {
        let mut s = String::new();
        self.service.metrics().render_prometheus(&mut s);
        s
    }
}

/// One accepted connection on the server.
struct Conn {
    http: HttpConnection,
    tls: TlsSession,
    sock: MemSocket,
    ready: Readiness,
    open: bool,
}

impl Conn {
    fn accept(server: &mut Server, now: Instant, window: usize) -> Conn {
        let tls = TlsSession::new(server.service.tls().expect("tls on"), now).unwrap();
        Conn {
            http: HttpConnection::new(&mut server.ctx, 1, now),
            tls,
            sock: MemSocket {
                inbound: VecDeque::new(),
                peer_fin: false,
                outbound: Vec::new(),
                window,
                space: window,
                fin_sent: false,
            },
            ready: Readiness::default(),
            open: true,
        }
    }

    /// Delivers `bytes` (and FIN) and runs the server until it waits.
    fn drive(&mut self, server: &mut Server, bytes: &[u8], fin: bool, now: Instant) {
        if !self.open {
            return;
        }
        self.sock.inbound.extend(bytes);
        self.sock.peer_fin |= fin;
        self.sock.space = self.sock.window;
        self.ready.readable = true;
        self.ready.writable = true;
        let mut buf = vec![0; 16 * 1024];
        self.open = pump_tls(
            &mut self.http,
            &mut self.tls,
            &mut self.sock,
            &mut self.ready,
            &mut server.ctx,
            &mut buf,
            now,
        );
    }
}

fn client_config(roots: &[&CertificateDer<'static>], tls12: bool) -> Arc<ClientConfig> {
    let mut store = RootCertStore::empty();
    for r in roots {
        store.add((*r).clone()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = if tls12 {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13]
    };
    let mut c = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(store)
        .with_no_client_auth();
    c.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(c)
}

/// Runs a client request over `conn` until the client has `want` plaintext bytes or the
/// exchange stops; returns the plaintext.
fn exchange(
    server: &mut Server,
    conn: &mut Conn,
    client: &mut ClientConnection,
    request: &[u8],
    want: usize,
    now: Instant,
) -> Vec<u8> {
    let mut request = request;
    let mut got = Vec::new();
    for _ in 0..100_000 {
        // rustls takes 64 KiB of plaintext at a time (less before the handshake is done).
        let n = client.writer().write(request).unwrap();
        request = &request[n..];
        let mut out = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut out).unwrap();
        }
        conn.drive(server, &out, false, now);
        let produced = !conn.sock.outbound.is_empty();
        let mut from = std::mem::take(&mut conn.sock.outbound);
        let mut slice = from.as_slice();
        while !slice.is_empty() {
            client.read_tls(&mut slice).unwrap();
            client
                .process_new_packets()
                .expect("client accepts the records");
        }
        from.clear();
        let mut buf = [0u8; 65536];
        loop {
            match client.reader().read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
        let idle = !produced && out.is_empty() && !client.wants_write() && n == 0;
        if got.len() >= want || (idle && (request.is_empty() || !conn.open)) {
            break;
        }
    }
    got
}

fn client_for(config: &Arc<ClientConfig>, name: &str) -> ClientConnection {
    ClientConnection::new(
        Arc::clone(config),
        ServerName::try_from(name.to_string()).unwrap(),
    )
    .unwrap()
}

const PLAINTEXT: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: a.test\r\n\r\n";

#[test]
fn handshake_resumption_and_byte_exact_responses() {
    let dir = TempDir::new("tls-basic");
    let a = cert(dir.path(), "a", &["a.test"]);
    let mut server = Server::new(&[(a.0.clone(), a.1.clone())]);
    let now = Instant::now();
    let config = client_config(&[&a.2], false);
    for round in 0..2 {
        let mut conn = Conn::accept(&mut server, now, 4096);
        let mut client = client_for(&config, "a.test");
        let got = exchange(&mut server, &mut conn, &mut client, PLAINTEXT, 1, now);
        let resp = parse_response(&got, false).expect("a whole response");
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body, b"Hello, World!");
        assert_eq!(client.alpn_protocol(), Some(&b"http/1.1"[..]));
        assert_eq!(
            client.protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_3)
        );
        let resumed = client.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
        assert_eq!(resumed, round == 1, "round {round}");
        assert!(conn.open);
    }
    let text = server.metrics_text();
    assert!(
        text.contains("boomerang_tls_handshakes_total{version=\"1.3\"} 2\n"),
        "{text}"
    );
    assert!(text.contains("boomerang_tls_resumed_total 1\n"), "{text}");
    assert!(
        text.contains("boomerang_tls_cipher_suite_total{suite=\"TLS13_"),
        "{text}"
    );
}

#[test]
fn tls12_resumes_too_and_a_large_echo_crosses_a_small_window() {
    let dir = TempDir::new("tls-12");
    let a = cert(dir.path(), "a", &["a.test"]);
    let mut server = Server::new(&[(a.0.clone(), a.1.clone())]);
    let now = Instant::now();
    let config = client_config(&[&a.2], true);
    let body = pattern(1 << 20, 7);
    let mut request = format!(
        "POST /echo HTTP/1.1\r\nHost: a.test\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    for round in 0..2 {
        // A window smaller than one record: every record leaves in pieces.
        let mut conn = Conn::accept(&mut server, now, 7000);
        let mut client = client_for(&config, "a.test");
        let got = exchange(
            &mut server,
            &mut conn,
            &mut client,
            &request,
            usize::MAX,
            now,
        );
        let resp = parse_response(&got, false).expect("a whole response");
        assert_eq!(resp.status, 200);
        assert!(resp.body == body, "echo differs");
        assert_eq!(got.len(), resp.len, "nothing after the response");
        assert_eq!(
            client.protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_2)
        );
        assert_eq!(
            client.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
            round == 1
        );
        // Connection: close → close_notify, then FIN, then the server lets go.
        assert!(conn.sock.fin_sent, "FIN after the last record");
        assert!(!conn.open);
    }
    let w = server.counters();
    assert_eq!(w.iter().map(|w| w.tls().handshakes(false)).sum::<u64>(), 2);
    assert_eq!(w.iter().map(|w| w.tls().resumed()).sum::<u64>(), 1);
}

#[test]
fn sni_picks_the_certificate_naming_the_host() {
    let dir = TempDir::new("tls-sni");
    let a = cert(dir.path(), "a", &["a.test"]);
    let b = cert(dir.path(), "b", &["b.test", "*.wild.test"]);
    let mut server = Server::new(&[(a.0.clone(), a.1.clone()), (b.0.clone(), b.1.clone())]);
    let now = Instant::now();
    // Each client trusts only the certificate it must get.
    for (name, root) in [("a.test", &a.2), ("b.test", &b.2), ("x.wild.test", &b.2)] {
        let config = client_config(&[root], false);
        let mut conn = Conn::accept(&mut server, now, 65536);
        let mut client = client_for(&config, name);
        let got = exchange(&mut server, &mut conn, &mut client, PLAINTEXT, 1, now);
        assert_eq!(parse_response(&got, false).expect(name).status, 200);
        assert_eq!(conn.tls.connection().server_name(), Some(name));
    }
    // An unknown name gets the first certificate (which then fails the client's check).
    let config = client_config(&[&a.2], false);
    let mut conn = Conn::accept(&mut server, now, 65536);
    let mut client = client_for(&config, "a.test");
    let got = exchange(&mut server, &mut conn, &mut client, PLAINTEXT, 1, now);
    assert_eq!(parse_response(&got, false).unwrap().status, 200);
}

/// Feeds `input` (then FIN if `fin`) to a fresh connection; returns whether it is still
/// open and what the server sent.
fn feed(server: &mut Server, input: &[u8], fin: bool, now: Instant) -> (bool, Vec<u8>) {
    let mut conn = Conn::accept(server, now, 65536);
    conn.drive(server, input, fin, now);
    (conn.open, conn.sock.outbound)
}

/// A ClientHello from a real client, for cutting up.
fn client_hello(config: &Arc<ClientConfig>) -> Vec<u8> {
    let mut client = client_for(config, "a.test");
    let mut out = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut out).unwrap();
    }
    out
}

#[test]
fn bad_input_ends_the_connection_and_is_counted_by_reason() {
    let dir = TempDir::new("tls-bad");
    let a = cert(dir.path(), "a", &["a.test"]);
    let mut server = Server::new(&[(a.0.clone(), a.1.clone())]);
    let now = Instant::now();
    let hello = client_hello(&client_config(&[&a.2], false));

    // Plain HTTP on the HTTPS port: not a TLS record; the server answers with an alert.
    let (open, out) = feed(&mut server, PLAINTEXT, false, now);
    assert!(!open);
    assert_eq!(out.first(), Some(&21), "an alert record: {out:?}");
    assert_eq!(server.failed(TlsFailure::BadMessage), 1);

    // A record header announcing more than 2^14 + 256 bytes.
    let (open, _) = feed(&mut server, &[22, 3, 1, 0x48, 0x01, 1, 2, 3], false, now);
    assert!(!open);
    assert_eq!(server.failed(TlsFailure::OversizedRecord), 1);

    // A truncated ClientHello, then the peer closes.
    let (open, out) = feed(&mut server, &hello[..hello.len() / 2], true, now);
    assert!(!open);
    assert!(out.is_empty(), "nothing answered to half a hello: {out:?}");
    assert_eq!(server.failed(TlsFailure::PeerClosed), 1);

    // A fatal alert (handshake_failure) instead of a hello.
    let (open, _) = feed(&mut server, &[21, 3, 3, 0, 2, 2, 40], false, now);
    assert!(!open);
    assert_eq!(server.failed(TlsFailure::AlertReceived), 1);

    // A stalled handshake: half a hello, then nothing until the deadline.
    let mut conn = Conn::accept(&mut server, now, 65536);
    conn.drive(&mut server, &hello[..10], false, now);
    assert!(conn.open);
    let deadline = conn.tls.poll_timeout().expect("a handshake deadline");
    assert_eq!(deadline, now + Duration::from_secs(10));
    conn.drive(&mut server, &[], false, deadline - Duration::from_millis(1));
    assert!(conn.open, "still inside the deadline");
    conn.drive(&mut server, &[], false, deadline);
    assert!(!conn.open);
    assert_eq!(server.failed(TlsFailure::Timeout), 1);

    let text = server.metrics_text();
    for reason in [
        "bad_message",
        "oversized_record",
        "peer_closed",
        "alert_received",
        "timeout",
    ] {
        let line = format!("boomerang_tls_handshakes_failed_total{{reason=\"{reason}\"}} 1\n");
        assert!(text.contains(&line), "{line} in {text}");
    }
}

#[test]
fn garbage_after_the_handshake_is_an_error_on_that_connection() {
    let dir = TempDir::new("tls-after");
    let a = cert(dir.path(), "a", &["a.test"]);
    let mut server = Server::new(&[(a.0.clone(), a.1.clone())]);
    let now = Instant::now();
    let config = client_config(&[&a.2], false);
    let mut conn = Conn::accept(&mut server, now, 65536);
    let mut client = client_for(&config, "a.test");
    let got = exchange(&mut server, &mut conn, &mut client, PLAINTEXT, 1, now);
    assert_eq!(parse_response(&got, false).unwrap().status, 200);
    // An application-data record that does not decrypt.
    conn.drive(
        &mut server,
        &[
            23, 3, 3, 0, 20, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
        ],
        false,
        now,
    );
    assert!(!conn.open);
    let w = server.counters();
    let errors: u64 = TlsFailure::ALL
        .iter()
        .map(|&r| w.iter().map(|w| w.tls().errors(r)).sum::<u64>())
        .sum();
    assert_eq!(errors, 1);
    assert_eq!(
        w.iter()
            .map(|w| w.tls().errors(TlsFailure::Misbehaved))
            .sum::<u64>(),
        1
    );
}

#[test]
fn a_key_that_is_not_the_certificates_is_refused_with_the_file_named() {
    let dir = TempDir::new("tls-mismatch");
    let a = cert(dir.path(), "a", &["a.test"]);
    let b = cert(dir.path(), "b", &["b.test"]);
    let cfg = ServerConfig {
        tls: Some(TlsConfig {
            cert: vec![a.0.clone()],
            key: vec![b.1.clone()],
            ..TlsConfig::default()
        }),
        ..Default::default()
    };
    let e = HttpService::new(cfg, Router::with_builtin_routes()).unwrap_err();
    assert!(e.to_string().contains("b.key"), "{e}");
    let cfg = ServerConfig {
        tls: Some(TlsConfig {
            cert: vec![a.0.clone(), b.0.clone()],
            key: vec![a.1.clone()],
            ..TlsConfig::default()
        }),
        ..Default::default()
    };
    let e = HttpService::new(cfg, Router::with_builtin_routes()).unwrap_err();
    assert!(
        e.to_string().contains("one --tls-key per --tls-cert"),
        "{e}"
    );
}

#[test]
fn reload_serves_new_certificates_to_new_handshakes_and_keeps_open_connections() {
    let dir = TempDir::new("tls-reload");
    let old = cert(dir.path(), "a", &["a.test"]);
    let mut server = Server::new(&[(old.0.clone(), old.1.clone())]);
    let now = Instant::now();
    let old_config = client_config(&[&old.2], false);
    let mut open = Conn::accept(&mut server, now, 65536);
    let mut open_client = client_for(&old_config, "a.test");
    let got = exchange(&mut server, &mut open, &mut open_client, PLAINTEXT, 1, now);
    assert_eq!(parse_response(&got, false).unwrap().status, 200);

    // New files in place of the old ones, then the reload (SIGHUP in the binary).
    let new = cert(dir.path(), "a", &["a.test"]);
    assert_ne!(new.2, old.2);
    let service = Arc::clone(&server.service);
    let tls = service.tls().expect("tls");
    assert_eq!(tls.reload().expect("reload"), 1);

    // The open connection goes on with the keys it negotiated.
    let got = exchange(&mut server, &mut open, &mut open_client, PLAINTEXT, 1, now);
    assert_eq!(parse_response(&got, false).unwrap().body, b"Hello, World!");
    // A new client that trusts only the new certificate gets it.
    let new_config = client_config(&[&new.2], false);
    let mut conn = Conn::accept(&mut server, now, 65536);
    let mut client = client_for(&new_config, "a.test");
    let got = exchange(&mut server, &mut conn, &mut client, PLAINTEXT, 1, now);
    assert_eq!(parse_response(&got, false).unwrap().status, 200);

    // A broken file: the reload fails, naming it, and the current certificate stays.
    std::fs::write(&new.1, "not a key").unwrap();
    let e = tls.reload().unwrap_err();
    assert!(e.to_string().contains("a.key"), "{e}");
    let mut conn = Conn::accept(&mut server, now, 65536);
    let mut client = client_for(&new_config, "a.test");
    let got = exchange(&mut server, &mut conn, &mut client, PLAINTEXT, 1, now);
    assert_eq!(parse_response(&got, false).unwrap().status, 200);
}

#[test]
fn nothing_is_written_after_the_fin_even_an_alert() {
    // Found by the tls_connection fuzz target: garbage arriving while the connection lingers
    // after its FIN made rustls queue an alert, which was written after the FIN.
    let dir = TempDir::new("tls-fin");
    let a = cert(dir.path(), "a", &["a.test"]);
    let mut server = Server::new(&[(a.0.clone(), a.1.clone())]);
    let now = Instant::now();
    let config = client_config(&[&a.2], false);
    let mut conn = Conn::accept(&mut server, now, 65536);
    let mut client = client_for(&config, "a.test");
    let request = b"GET /nope HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\nGET /x";
    let got = exchange(&mut server, &mut conn, &mut client, request, 1, now);
    assert_eq!(parse_response(&got, false).unwrap().status, 404);
    assert!(
        conn.sock.fin_sent,
        "close_notify and FIN after the response"
    );
    // The MemSocket panics on a write after FIN. The garbage is drained (lingering close)
    // until the peer's FIN.
    conn.drive(&mut server, &[23, 3, 3, 0, 3, 1, 2, 3], false, now);
    assert!(conn.open, "lingering");
    conn.drive(&mut server, &[21, 3, 3], true, now);
    assert!(!conn.open);
}
