//! HTTPS through the production loop turn on the simulated link (virtual clock): a rustls
//! client over a connection of our own client stack talks to the [`ServerShard`] exactly as
//! `boomerang serve --tls-cert … --tls-key …` runs it. Byte-exact download, resumption,
//! and a stalled and a garbage handshake ending that connection, counted in the metrics.
//!
//! [`ServerShard`]: boomerang::serve::shard_loop::ServerShard

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use boomerang::serve::sim::{response_frame, SimOptions, SimPair, SiteDir};
use boomerang_http::tls::{TlsConfig, TlsFailure};
use boomerang_http::ServerConfig;
use boomerang_stack::ConnId;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, HandshakeKind, RootCertStore};

/// A self-signed certificate for `a.test` in `dir`; returns its DER.
fn cert(dir: &SiteDir) -> CertificateDer<'static> {
    let c = rcgen::generate_simple_self_signed(vec!["a.test".to_string()]).expect("rcgen");
    std::fs::write(dir.0.join("a.crt"), c.cert.pem()).expect("write");
    std::fs::write(dir.0.join("a.key"), c.signing_key.serialize_pem()).expect("write");
    c.cert.der().clone()
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn sim(dir: &SiteDir, handshake_timeout: Duration) -> SimPair {
    let http = ServerConfig {
        root: Some(dir.0.clone()),
        // The file is answered from the cache after one read by the blocking pool: a pool
        // thread's real-time pace does not spend the virtual time limit chunk by chunk.
        static_cache_max_file: 8 << 20,
        tls: Some(TlsConfig {
            cert: vec![dir.0.join("a.crt")],
            key: vec![dir.0.join("a.key")],
            handshake_timeout,
            ..Default::default()
        }),
        ..Default::default()
    };
    SimPair::new(SimOptions {
        http,
        ..Default::default()
    })
    .expect("sim")
}

fn client_config(root: &CertificateDer<'static>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(root.clone()).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut c = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(c)
}

/// Sends `request` over TLS on `c` and reads until a whole response (Content-Length) is in.
fn tls_exchange(
    sim: &mut SimPair,
    c: ConnId,
    tls: &mut ClientConnection,
    request: &[u8],
) -> Vec<u8> {
    tls.writer().write_all(request).expect("plaintext in");
    let mut unsent: Vec<u8> = Vec::new();
    let mut response = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    sim.run_until(Duration::from_secs(120), |p| {
        while tls.wants_write() {
            tls.write_tls(&mut unsent).expect("records");
        }
        if let Ok(n) = p.client.send(c, &unsent) {
            unsent.drain(..n);
        }
        while let Ok(n) = p.client.recv(c, &mut buf) {
            if n == 0 {
                break;
            }
            let mut rd = &buf[..n];
            while !rd.is_empty() {
                tls.read_tls(&mut rd).expect("read_tls");
                tls.process_new_packets()
                    .expect("the server's records are valid");
                let mut plain = [0u8; 16 * 1024];
                while let Ok(k) = tls.reader().read(&mut plain) {
                    if k == 0 {
                        break;
                    }
                    response.extend_from_slice(&plain[..k]);
                }
            }
        }
        response_frame(&response).is_some_and(|(h, _, len)| response.len() >= h + len)
    })
    .expect("a whole response over TLS");
    response
}

fn failed(sim: &SimPair, reason: TlsFailure) -> u64 {
    let m = sim.server.http_service().metrics().workers();
    m.iter().map(|w| w.tls().failed(reason)).sum()
}

#[test]
fn a_four_mib_download_is_byte_exact_and_the_second_connection_resumes() {
    let body = pattern(4 << 20);
    let dir = SiteDir::new("tls-sim", &[("big.bin", &body)]).expect("site");
    let root = cert(&dir);
    let mut sim = sim(&dir, Duration::from_secs(10));
    let config = client_config(&root);
    for round in 0..2 {
        let c = sim.connect().expect("connect");
        let name = ServerName::try_from("a.test").expect("name");
        let mut tls = ClientConnection::new(Arc::clone(&config), name).expect("client");
        let request = b"GET /big.bin HTTP/1.1\r\nHost: a.test\r\n\r\n";
        let response = tls_exchange(&mut sim, c, &mut tls, request);
        let (head, status, len) = response_frame(&response).expect("head");
        assert_eq!((status, len), (200, body.len()));
        assert!(response[head..] == body[..], "body differs");
        assert_eq!(response.len(), head + body.len(), "nothing after the body");
        assert_eq!(
            tls.handshake_kind() == Some(HandshakeKind::Resumed),
            round == 1
        );
        assert_eq!(
            tls.protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_3)
        );
        // Keep-alive: a second request on the same TLS connection.
        let small = tls_exchange(
            &mut sim,
            c,
            &mut tls,
            b"GET /plaintext HTTP/1.1\r\nHost: a.test\r\n\r\n",
        );
        assert!(small.ends_with(b"\r\n\r\nHello, World!"), "{small:?}");
    }
    let w = sim.server.http_service().metrics().workers();
    assert_eq!(w.iter().map(|w| w.tls().handshakes(true)).sum::<u64>(), 2);
    assert_eq!(w.iter().map(|w| w.tls().resumed()).sum::<u64>(), 1);
}

#[test]
fn a_stalled_handshake_ends_at_its_deadline_in_virtual_time() {
    let dir = SiteDir::new("tls-sim-stall", &[]).expect("site");
    let _ = cert(&dir);
    let mut sim = sim(&dir, Duration::from_secs(1));
    let c = sim.connect().expect("connect");
    let start = sim.now;
    // Five bytes of a handshake record header, then silence.
    sim.client.send(c, &[22, 3, 1, 0, 200]).expect("send");
    sim.run_until(Duration::from_secs(5), |p| {
        failed(p, TlsFailure::Timeout) == 1
    })
    .expect("the handshake times out");
    let waited = sim.now - start;
    // The deadline counts from the accept (before `start`), checked every timer tick.
    assert!(waited <= Duration::from_millis(1100), "{waited:?}");
    assert!(waited >= Duration::from_millis(800), "{waited:?}");
    assert_eq!(sim.server.http_connections(), 0);
}

#[test]
fn plain_http_on_the_tls_port_gets_an_alert_and_is_closed() {
    let dir = SiteDir::new("tls-sim-garbage", &[]).expect("site");
    let _ = cert(&dir);
    let mut sim = sim(&dir, Duration::from_secs(10));
    let c = sim.connect().expect("connect");
    sim.client
        .send(c, b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n")
        .expect("send");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    sim.run_until(Duration::from_secs(1), |p| {
        while let Ok(n) = p.client.recv(c, &mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        p.server.http_connections() == 0 && !got.is_empty()
    })
    .expect("closed");
    // One TLS alert record: content type 21, fatal (2), decode_error (50).
    assert_eq!(got.first(), Some(&21), "{got:?}");
    assert_eq!(failed(&sim, TlsFailure::BadMessage), 1);
}
