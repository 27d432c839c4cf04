//! HTTPS: TLS 1.3 and 1.2 (rustls, *ring* provider) as one more sans-IO stage between a
//! transport's byte stream and the [`crate::HttpConnection`], which stays unchanged.
//!
//! # Pieces
//! - [`TlsConfig`]: the `[tls]` settings (certificate and key files, handshake timeout).
//! - [`TlsAcceptor`] (one per service, inside [`crate::HttpService`]): the rustls server
//!   configuration built once — ALPN `http/1.1`, session tickets from a rotating ticketer
//!   (TLS 1.3 PSK resumption and TLS 1.2 tickets), an in-memory session cache for TLS 1.2
//!   session IDs, and the [`certs::CertStore`] that picks a certificate by SNI and is
//!   reloaded in place ([`TlsAcceptor::reload`], SIGHUP in the binary).
//! - [`TlsSession`](crate::tls_stream::TlsSession) (one per connection, next to its `HttpConnection`): the rustls
//!   `ServerConnection` plus the handshake deadline and what was counted.
//! - [`pump_tls`](crate::tls_stream::pump_tls) (in [`crate::tls_stream`], above this module
//!   and the HTTP connection): [`crate::pump`] through a
//!   [`TlsStream`](crate::tls_stream::TlsStream), which is itself a
//!   [`crate::ByteStream`]: reads decrypt (`read_tls` → `process_new_packets` → `reader`),
//!   writes encrypt (`writer` → `write_tls`), and records that did not fit into the
//!   transport's send buffer go out on the next call.
//!
//! # Driving it from a transport
//! Where a transport calls [`crate::pump`], it calls [`crate::tls_stream::pump_tls`] when
//! [`crate::HttpService::tls`] is set, with the connection's
//! [`crate::tls_stream::TlsSession`] (made at accept with its `new`). Its timer scan also
//! looks at the session's `poll_timeout` (handshake deadline, last records of a closed connection)
//! and drives the connection when it has passed.

pub mod certs;
pub mod counters;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::server::{ProducesTickets, ServerSessionMemoryCache};

pub use certs::{CertError, CertStore};
pub use counters::{TlsCounters, TlsFailure};

/// Time a client gets from the TCP connection to a finished TLS handshake.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Shortest handshake timeout: the HTTP timers' granularity (a shorter one could not be kept).
pub const MIN_HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(100);
/// Longest handshake timeout.
pub const MAX_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3600);
/// TLS 1.2 sessions kept for session-ID resumption (per process; tickets need no state).
pub const SESSION_CACHE_ENTRIES: usize = 4096;
/// The only application protocol offered in ALPN.
pub const ALPN_HTTP_1_1: &[u8] = b"http/1.1";

/// The `[tls]` table of `boomerang serve --config FILE` (and `--tls-cert`/`--tls-key`).
///
/// `cert` and `key` are lists of PEM files taken in pairs: the n-th key belongs to the n-th
/// certificate chain. A client's SNI name picks the chain whose certificate names it
/// (wildcards `*.example.com` match one label); a client without SNI, or with a name no
/// certificate has, gets the first chain. Keys may be ECDSA (P-256, P-384), Ed25519 or RSA,
/// in PKCS#8, SEC1 or PKCS#1 PEM. No `cert` means plain HTTP.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct TlsConfig {
    /// Certificate chain files (PEM, the server's certificate first). Key `cert`, one file
    /// or a list; flag `--tls-cert`, repeatable.
    #[serde(deserialize_with = "one_or_many")]
    pub cert: Vec<PathBuf>,
    /// Private key files (PEM), one per `cert`, in the same order. Key `key`; flag
    /// `--tls-key`, repeatable.
    #[serde(deserialize_with = "one_or_many")]
    pub key: Vec<PathBuf>,
    /// Time from the TCP connection to a finished handshake; then the connection is closed
    /// and counted as a failed handshake (`reason="timeout"`). Key `handshake-timeout`,
    /// default [`DEFAULT_HANDSHAKE_TIMEOUT`], [`MIN_HANDSHAKE_TIMEOUT`]..=[`MAX_HANDSHAKE_TIMEOUT`].
    #[serde(alias = "handshake_timeout", with = "boomerang_settings::duration")]
    pub handshake_timeout: Duration,
    /// A plain-HTTP port on the same address whose every request is answered with a redirect
    /// to the same host and target over HTTPS (301 for GET and HEAD, 308 for the other
    /// methods, which must be repeated as they were). Key `redirect-port`, flag
    /// `--tls-redirect-port`; off by default; needs a certificate.
    #[serde(alias = "redirect_port")]
    pub redirect_port: Option<u16>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            cert: Vec::new(),
            key: Vec::new(),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            redirect_port: None,
        }
    }
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<PathBuf>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(PathBuf),
        Many(Vec<PathBuf>),
    }
    Ok(match serde::Deserialize::deserialize(d)? {
        OneOrMany::One(p) => vec![p],
        OneOrMany::Many(v) => v,
    })
}

impl TlsConfig {
    /// Whether HTTPS is configured (at least one certificate).
    pub fn enabled(&self) -> bool {
        !self.cert.is_empty()
    }

    /// Checks the pairing of certificates and keys and the timeout's range (the files are
    /// read by [`TlsAcceptor::new`]).
    pub fn validate(&self) -> Result<(), CertError> {
        if self.cert.len() != self.key.len() {
            return Err(CertError::Pairing {
                certs: self.cert.len(),
                keys: self.key.len(),
            });
        }
        if self.redirect_port == Some(0) {
            return Err(CertError::Redirect(
                "redirect-port 0: give the port to listen on",
            ));
        }
        if self.redirect_port.is_some() && !self.enabled() {
            return Err(CertError::Redirect(
                "redirect-port redirects to HTTPS, which needs a certificate: add --tls-cert \
                 and --tls-key, or drop the redirect port",
            ));
        }
        boomerang_settings::check_duration(
            "handshake-timeout",
            self.handshake_timeout,
            MIN_HANDSHAKE_TIMEOUT,
            MAX_HANDSHAKE_TIMEOUT,
            "",
        )
        .map_err(CertError::Range)
    }
}

/// The process's TLS server side: the rustls configuration and its certificate store.
#[derive(Debug)]
pub struct TlsAcceptor {
    config: Arc<rustls::ServerConfig>,
    store: Arc<CertStore>,
    handshake_timeout: Duration,
}

impl TlsAcceptor {
    /// Reads the certificates and keys of `tls` and builds the rustls configuration.
    pub fn new(tls: &TlsConfig) -> Result<Self, CertError> {
        tls.validate()?;
        let store = Arc::new(CertStore::load(&tls.cert, &tls.key)?);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(CertError::Rustls)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&store) as _);
        config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
        // Rotates its key every 6 hours and accepts tickets of the previous key.
        let ticketer: Arc<dyn ProducesTickets> =
            rustls::crypto::ring::Ticketer::new().map_err(CertError::Rustls)?;
        config.ticketer = ticketer;
        config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE_ENTRIES);
        // Renegotiation is never offered by rustls; a client asking gets a warning alert.
        Ok(Self {
            config: Arc::new(config),
            store,
            handshake_timeout: tls.handshake_timeout,
        })
    }

    /// The rustls server configuration (shared by all connections).
    pub fn config(&self) -> &Arc<rustls::ServerConfig> {
        &self.config
    }

    /// The certificates served (by SNI).
    pub fn store(&self) -> &CertStore {
        &self.store
    }

    /// Time a handshake may take.
    pub fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// Reads the certificate and key files again and serves them to new handshakes; open
    /// connections keep the keys they negotiated. On error the old certificates stay.
    pub fn reload(&self) -> Result<usize, CertError> {
        self.store.reload()
    }
}
