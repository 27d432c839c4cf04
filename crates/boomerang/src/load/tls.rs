//! HTTPS for the load generator: a rustls client (*ring* provider, TLS 1.3 and 1.2, ALPN
//! `http/1.1`) that verifies the server against the CA certificates of a given PEM file.
//!
//! [`TlsClient`] is the run's client configuration: the trusted roots, the name the
//! certificate must carry (also sent as SNI unless it is an IP address) and the resumption
//! mode — with [`Resumption::Full`] every connection makes a full handshake (nothing is
//! kept), with [`Resumption::Tickets`] the session tickets the server sends are kept (shared
//! by every connection of the run) and each new connection offers one, so it makes a resumed
//! handshake once a ticket is there.
//!
//! [`TlsConn`] is one connection's TLS state, sans-IO like the rest of the generator's
//! connection logic: the worker reads ciphertext from its transport into its own buffer and
//! hands it to [`TlsConn::receive`], which appends the plaintext to a vector; the request goes
//! in with [`TlsConn::send`] (rustls keeps it until the handshake is done) and the records to
//! send come out through [`TlsConn::flush`] into any `io::Write` (a kernel socket, or our own
//! stack's send buffer). Reading in the worker's large chunks instead of rustls's 4 KiB reads
//! saves system calls on large responses.

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use rustls::client::Resumption as RustlsResumption;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, HandshakeKind, RootCertStore};

/// The only application protocol offered in ALPN.
pub const ALPN_HTTP_1_1: &[u8] = b"http/1.1";
/// Server names whose session tickets the client keeps with [`Resumption::Tickets`] (rustls
/// keeps up to 8 TLS 1.3 tickets per name).
pub const SESSION_CACHE_NAMES: usize = 256;

/// Whether new connections resume earlier sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resumption {
    /// Every connection makes a full handshake (certificate, signature, key exchange).
    Full,
    /// Session tickets are kept and offered: new connections make resumed handshakes.
    Tickets,
}

/// How a finished handshake went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// A full handshake (with or without a HelloRetryRequest).
    Full,
    /// A resumed one (TLS 1.3 PSK from a ticket, or a TLS 1.2 session).
    Resumed,
}

/// The run's TLS client configuration.
#[derive(Debug, Clone)]
pub struct TlsClient {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    resumption: Resumption,
}

impl TlsClient {
    /// Trusts the certificates of the PEM file `ca` and expects `name` (a DNS name or an IP
    /// address) in the server's certificate.
    pub fn from_ca_file(ca: &Path, name: &str, resumption: Resumption) -> anyhow::Result<Self> {
        let roots = CertificateDer::pem_file_iter(ca)
            .with_context(|| format!("cannot read the CA file {}", ca.display()))?
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("{}: not a PEM certificate file", ca.display()))?;
        if roots.is_empty() {
            bail!("{}: no certificate in it", ca.display());
        }
        Self::from_roots(roots, name, resumption)
    }

    /// Trusts `roots` and expects `name` in the server's certificate.
    pub fn from_roots(
        roots: Vec<CertificateDer<'static>>,
        name: &str,
        resumption: Resumption,
    ) -> anyhow::Result<Self> {
        let mut store = RootCertStore::empty();
        for root in roots {
            store
                .add(root)
                .context("a CA certificate that rustls cannot use as a trust anchor")?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .context("rustls protocol versions")?
            .with_root_certificates(store)
            .with_no_client_auth();
        config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
        config.resumption = match resumption {
            Resumption::Full => RustlsResumption::disabled(),
            Resumption::Tickets => RustlsResumption::in_memory_sessions(SESSION_CACHE_NAMES),
        };
        let name = ServerName::try_from(name.to_string())
            .with_context(|| format!("`{name}` is neither a DNS name nor an IP address"))?;
        Ok(Self {
            config: Arc::new(config),
            name,
            resumption,
        })
    }

    /// The resumption mode.
    pub fn resumption(&self) -> Resumption {
        self.resumption
    }

    /// A new connection's TLS state (its ClientHello is ready to be flushed).
    pub fn connect(&self) -> io::Result<TlsConn> {
        let conn = ClientConnection::new(Arc::clone(&self.config), self.name.clone())
            .map_err(io::Error::other)?;
        Ok(TlsConn {
            conn,
            counted: false,
        })
    }
}

/// One connection's TLS state.
#[derive(Debug)]
pub struct TlsConn {
    conn: ClientConnection,
    counted: bool,
}

impl TlsConn {
    /// Queues plaintext (a request); it leaves encrypted with the next [`TlsConn::flush`]
    /// once the handshake is done.
    pub fn send(&mut self, plain: &[u8]) -> io::Result<()> {
        self.conn.writer().write_all(plain)
    }

    /// Feeds ciphertext that arrived, appending the plaintext it carries to `plain`; returns
    /// whether the server has sent `close_notify`. An error (bad record, untrusted
    /// certificate, an alert from the server) ends the connection.
    pub fn receive(&mut self, mut cipher: &[u8], plain: &mut Vec<u8>) -> io::Result<bool> {
        while !cipher.is_empty() {
            if self.conn.read_tls(&mut cipher)? == 0 {
                // Nothing is read after close_notify; what follows it is ignored.
                break;
            }
            let state = self
                .conn
                .process_new_packets()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let k = state.plaintext_bytes_to_read();
            if k > 0 {
                let at = plain.len();
                plain.resize(at + k, 0);
                let into = plain.get_mut(at..).unwrap_or_default();
                self.conn.reader().read_exact(into)?;
            }
            if state.peer_has_closed() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Writes the records waiting to be sent to `out` until it would block; `Ok(true)` when
    /// none is left.
    pub fn flush(&mut self, out: &mut dyn Write) -> io::Result<bool> {
        while self.conn.wants_write() {
            match self.conn.write_tls(out) {
                Ok(0) => return Ok(false),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Whether records are waiting to be sent.
    pub fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// How the handshake went, once, as soon as it is finished (`None` before, and after
    /// it was reported).
    pub fn take_handshake(&mut self) -> Option<Handshake> {
        if self.counted || self.conn.is_handshaking() {
            return None;
        }
        self.counted = true;
        Some(match self.conn.handshake_kind() {
            Some(HandshakeKind::Resumed) => Handshake::Resumed,
            _ => Handshake::Full,
        })
    }

    /// The rustls connection (negotiated version, cipher suite, ALPN).
    pub fn connection(&self) -> &ClientConnection {
        &self.conn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ca_files() {
        let c = rcgen::generate_simple_self_signed(vec!["a.test".to_string()]).expect("rcgen");
        let roots = vec![c.cert.der().clone()];
        assert!(TlsClient::from_roots(roots.clone(), "a.test", Resumption::Full).is_ok());
        assert!(TlsClient::from_roots(roots.clone(), "198.18.0.2", Resumption::Full).is_ok());
        assert!(TlsClient::from_roots(roots, "not a name", Resumption::Full).is_err());
        let dir = std::env::temp_dir().join(boomerang_nic::netns::unique_name("tlsca"));
        std::fs::create_dir_all(&dir).expect("dir");
        let good = dir.join("ca.pem");
        std::fs::write(&good, c.cert.pem()).expect("write");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no PEM here\n").expect("write");
        let t = TlsClient::from_ca_file(&good, "a.test", Resumption::Tickets).expect("ca");
        assert_eq!(t.resumption(), Resumption::Tickets);
        assert!(TlsClient::from_ca_file(&empty, "a.test", Resumption::Full).is_err());
        assert!(TlsClient::from_ca_file(&dir.join("missing"), "a", Resumption::Full).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Moves bytes both ways between `client` and the server until neither has anything to
    /// send; the server answers a request with a fixed response. Returns whether the client
    /// saw close_notify.
    fn exchange(
        client: &mut TlsConn,
        server: &mut rustls::ServerConnection,
        plain: &mut Vec<u8>,
    ) -> bool {
        let mut closed = false;
        for _ in 0..10 {
            let mut c2s = Vec::new();
            assert!(client.flush(&mut c2s).expect("flush"));
            let mut rd = &c2s[..];
            while !rd.is_empty() {
                server.read_tls(&mut rd).expect("server read_tls");
            }
            let st = server.process_new_packets().expect("server accepts");
            if st.plaintext_bytes_to_read() > 0 {
                let mut req = vec![0; st.plaintext_bytes_to_read()];
                server.reader().read_exact(&mut req).expect("request");
                assert!(req.ends_with(b"\r\n\r\n"));
                server
                    .writer()
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .expect("response");
                server.send_close_notify();
            }
            let mut s2c = Vec::new();
            while server.wants_write() {
                server.write_tls(&mut s2c).expect("server write_tls");
            }
            if c2s.is_empty() && s2c.is_empty() {
                break;
            }
            closed |= client.receive(&s2c, plain).expect("client accepts");
        }
        closed
    }

    #[test]
    fn full_then_resumed_handshakes_against_the_server_configuration() {
        let dir = std::env::temp_dir().join(boomerang_nic::netns::unique_name("tlshs"));
        std::fs::create_dir_all(&dir).expect("dir");
        let c = rcgen::generate_simple_self_signed(vec!["a.test".to_string()]).expect("rcgen");
        std::fs::write(dir.join("a.crt"), c.cert.pem()).expect("write");
        std::fs::write(dir.join("a.key"), c.signing_key.serialize_pem()).expect("write");
        let acceptor = boomerang_http::tls::TlsAcceptor::new(&boomerang_http::tls::TlsConfig {
            cert: vec![dir.join("a.crt")],
            key: vec![dir.join("a.key")],
            ..Default::default()
        })
        .expect("acceptor");
        let _ = std::fs::remove_dir_all(&dir);
        let roots = vec![c.cert.der().clone()];
        for (mode, second) in [
            (Resumption::Full, Handshake::Full),
            (Resumption::Tickets, Handshake::Resumed),
        ] {
            let client = TlsClient::from_roots(roots.clone(), "a.test", mode).expect("client");
            for expect in [Handshake::Full, second] {
                let mut server =
                    rustls::ServerConnection::new(Arc::clone(acceptor.config())).expect("server");
                let mut conn = client.connect().expect("connect");
                assert_eq!(conn.take_handshake(), None);
                conn.send(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
                    .expect("send");
                let mut plain = Vec::new();
                assert!(exchange(&mut conn, &mut server, &mut plain), "{mode:?}");
                assert_eq!(plain, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                assert_eq!(conn.take_handshake(), Some(expect), "{mode:?}");
                assert_eq!(conn.take_handshake(), None);
                assert_eq!(
                    conn.connection().alpn_protocol(),
                    Some(ALPN_HTTP_1_1),
                    "{mode:?}"
                );
            }
        }
        // A client trusting another certificate refuses the server's.
        let other = rcgen::generate_simple_self_signed(vec!["a.test".to_string()]).expect("rcgen");
        let client =
            TlsClient::from_roots(vec![other.cert.der().clone()], "a.test", Resumption::Full)
                .expect("client");
        let mut server =
            rustls::ServerConnection::new(Arc::clone(acceptor.config())).expect("server");
        let mut conn = client.connect().expect("connect");
        let mut hello = Vec::new();
        conn.flush(&mut hello).expect("hello");
        server.read_tls(&mut &hello[..]).expect("read");
        server.process_new_packets().expect("hello accepted");
        let mut flight = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut flight).expect("write");
        }
        let err = conn
            .receive(&flight, &mut Vec::new())
            .expect_err("untrusted");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        assert!(err.to_string().contains("certificate"), "{err}");
    }
}
