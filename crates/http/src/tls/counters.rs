//! TLS counters of one worker (handshakes by outcome, version, cipher suite, resumption,
//! errors on established connections), kept inside its [`crate::WorkerMetrics`] and
//! rendered, summed over workers, by `/metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use rustls::{CipherSuite, ProtocolVersion};

/// Why a TLS connection failed (the `reason` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFailure {
    /// Bytes that are not TLS records (e.g. plain HTTP sent to the HTTPS port), or a
    /// malformed message.
    BadMessage,
    /// A record longer than TLS allows (RFC 8446 §5.1, `record_overflow`).
    OversizedRecord,
    /// A valid message at the wrong moment.
    UnexpectedMessage,
    /// No version, cipher suite, group, signature scheme or ALPN protocol in common, or no
    /// certificate for the client.
    Incompatible,
    /// The peer broke the protocol in another way (including a record that fails to
    /// decrypt).
    Misbehaved,
    /// The peer sent a fatal alert.
    AlertReceived,
    /// The peer closed the TCP connection in the middle of the handshake.
    PeerClosed,
    /// The handshake did not finish within `[tls] handshake-timeout`.
    Timeout,
    /// The server ended the connection during the handshake (shutdown, TCP reset).
    Closed,
    /// Anything else rustls reported.
    Other,
}

impl TlsFailure {
    /// Every reason, in label order.
    pub const ALL: [TlsFailure; 10] = [
        TlsFailure::BadMessage,
        TlsFailure::OversizedRecord,
        TlsFailure::UnexpectedMessage,
        TlsFailure::Incompatible,
        TlsFailure::Misbehaved,
        TlsFailure::AlertReceived,
        TlsFailure::PeerClosed,
        TlsFailure::Timeout,
        TlsFailure::Closed,
        TlsFailure::Other,
    ];

    /// The `reason` label.
    pub fn label(self) -> &'static str {
        match self {
            TlsFailure::BadMessage => "bad_message",
            TlsFailure::OversizedRecord => "oversized_record",
            TlsFailure::UnexpectedMessage => "unexpected_message",
            TlsFailure::Incompatible => "incompatible",
            TlsFailure::Misbehaved => "misbehaved",
            TlsFailure::AlertReceived => "alert_received",
            TlsFailure::PeerClosed => "peer_closed",
            TlsFailure::Timeout => "timeout",
            TlsFailure::Closed => "closed",
            TlsFailure::Other => "other",
        }
    }

    /// The reason for a rustls error.
    pub fn of(e: &rustls::Error) -> TlsFailure {
        use rustls::{Error, InvalidMessage};
        match e {
            Error::InvalidMessage(InvalidMessage::MessageTooLarge) => TlsFailure::OversizedRecord,
            Error::InvalidMessage(_) | Error::InvalidEncryptedClientHello(_) => {
                TlsFailure::BadMessage
            }
            Error::InappropriateMessage { .. } | Error::InappropriateHandshakeMessage { .. } => {
                TlsFailure::UnexpectedMessage
            }
            Error::PeerIncompatible(_) | Error::NoApplicationProtocol | Error::General(_) => {
                TlsFailure::Incompatible
            }
            Error::PeerSentOversizedRecord => TlsFailure::OversizedRecord,
            Error::PeerMisbehaved(_) | Error::DecryptError => TlsFailure::Misbehaved,
            Error::AlertReceived(_) => TlsFailure::AlertReceived,
            _ => TlsFailure::Other,
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|&r| r == self).unwrap_or(0)
    }
}

/// Cipher suites counted individually (those of the *ring* provider); others count as the
/// last slot.
const SUITES: [CipherSuite; 9] = [
    CipherSuite::TLS13_AES_128_GCM_SHA256,
    CipherSuite::TLS13_AES_256_GCM_SHA384,
    CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
    CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
];

/// One worker's TLS counters (single writer: the worker thread).
#[derive(Debug, Default)]
pub struct TlsCounters {
    /// Finished handshakes: [TLS 1.2, TLS 1.3].
    ok: [AtomicU64; 2],
    resumed: AtomicU64,
    by_suite: [AtomicU64; SUITES.len() + 1],
    failed: [AtomicU64; TlsFailure::ALL.len()],
    /// Errors after the handshake (bad record, fatal alert).
    errors: [AtomicU64; TlsFailure::ALL.len()],
}

fn add(c: Option<&AtomicU64>) {
    if let Some(c) = c {
        c.store(c.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
    }
}

fn get(c: Option<&AtomicU64>) -> u64 {
    c.map_or(0, |c| c.load(Ordering::Relaxed))
}

impl TlsCounters {
    /// Counts a finished handshake.
    pub fn handshake_ok(
        &self,
        version: Option<ProtocolVersion>,
        suite: Option<CipherSuite>,
        resumed: bool,
    ) {
        let v = usize::from(version == Some(ProtocolVersion::TLSv1_3));
        add(self.ok.get(v));
        if resumed {
            add(Some(&self.resumed));
        }
        let s = suite
            .and_then(|s| SUITES.iter().position(|&x| x == s))
            .unwrap_or(SUITES.len());
        add(self.by_suite.get(s));
    }

    /// Counts a handshake that did not finish.
    pub fn handshake_failed(&self, reason: TlsFailure) {
        add(self.failed.get(reason.index()));
    }

    /// Counts an error on an established connection.
    pub fn error(&self, reason: TlsFailure) {
        add(self.errors.get(reason.index()));
    }

    /// Finished handshakes with TLS 1.3 (`true`) or 1.2.
    pub fn handshakes(&self, tls13: bool) -> u64 {
        get(self.ok.get(usize::from(tls13)))
    }

    /// Finished handshakes that resumed a session.
    pub fn resumed(&self) -> u64 {
        get(Some(&self.resumed))
    }

    /// Handshakes that failed for `reason`.
    pub fn failed(&self, reason: TlsFailure) -> u64 {
        get(self.failed.get(reason.index()))
    }

    /// Errors for `reason` on established connections.
    pub fn errors(&self, reason: TlsFailure) -> u64 {
        get(self.errors.get(reason.index()))
    }

    /// Appends the counters of `workers`, summed, as Prometheus text (nothing when no
    /// worker ever saw a TLS connection).
    pub fn render<'a>(workers: impl Iterator<Item = &'a TlsCounters> + Clone, out: &mut String) {
        let sum = |f: &dyn Fn(&TlsCounters) -> u64| workers.clone().map(f).sum::<u64>();
        let any = sum(&|c| {
            c.ok.iter()
                .chain(&c.failed)
                .map(|a| a.load(Ordering::Relaxed))
                .sum()
        });
        if any == 0 {
            return;
        }
        let name = "boomerang_tls_handshakes_total";
        let _ = writeln!(
            out,
            "# HELP {name} TLS handshakes finished, by protocol version.\n# TYPE {name} counter"
        );
        for (v, label) in [(0, "1.2"), (1, "1.3")] {
            let n = sum(&|c| get(c.ok.get(v)));
            let _ = writeln!(out, "{name}{{version=\"{label}\"}} {n}");
        }
        let name = "boomerang_tls_resumed_total";
        let _ = writeln!(
            out,
            "# HELP {name} TLS handshakes that resumed a session (ticket or session ID).\n\
             # TYPE {name} counter\n{name} {}",
            sum(&|c| c.resumed())
        );
        let name = "boomerang_tls_cipher_suite_total";
        let _ = writeln!(
            out,
            "# HELP {name} TLS handshakes finished, by cipher suite.\n# TYPE {name} counter"
        );
        for i in 0..=SUITES.len() {
            let n = sum(&|c| get(c.by_suite.get(i)));
            if n == 0 {
                continue;
            }
            let label = SUITES.get(i).and_then(|s| s.as_str()).unwrap_or("other");
            let _ = writeln!(out, "{name}{{suite=\"{label}\"}} {n}");
        }
        for (name, help, failed) in [
            (
                "boomerang_tls_handshakes_failed_total",
                "TLS handshakes that did not finish, by reason.",
                true,
            ),
            (
                "boomerang_tls_errors_total",
                "TLS connections ended by an error after the handshake, by reason.",
                false,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for r in TlsFailure::ALL {
                let n = sum(&|c| if failed { c.failed(r) } else { c.errors(r) });
                let _ = writeln!(out, "{name}{{reason=\"{}\"}} {n}", r.label());
            }
        }
    }
}
