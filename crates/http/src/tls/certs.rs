//! The certificates served: PEM chains and keys read from files, indexed by the DNS names
//! their certificates carry (subjectAltName), picked per handshake by the client's SNI
//! name and the signature schemes it offers, and swapped atomically on reload.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why the TLS certificates cannot be used; each message names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// Not as many keys as certificate files.
    #[error(
        "{certs} certificate file(s) but {keys} key file(s): give one --tls-key per --tls-cert, \
         in the same order"
    )]
    Pairing {
        /// Certificate files given.
        certs: usize,
        /// Key files given.
        keys: usize,
    },
    /// A file could not be read or holds no usable PEM section.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A setting outside its range.
    #[error(transparent)]
    Range(boomerang_settings::OutOfRange),
    /// The redirect port is set without HTTPS, or to 0.
    #[error("[tls] {0}")]
    Redirect(&'static str),
    /// rustls refused the configuration.
    #[error("TLS configuration refused: {0}")]
    Rustls(rustls::Error),
}

/// One chain with its key and the names its certificate carries (lower case; a wildcard
/// as `*.example.com`).
#[derive(Debug)]
struct Entry {
    key: Arc<CertifiedKey>,
    names: Vec<String>,
}

/// The loaded set: entries in the order given, and name → entry indices.
#[derive(Debug, Default)]
struct Table {
    entries: Vec<Entry>,
    by_name: HashMap<String, Vec<usize>>,
}

/// The certificate resolver of the [`super::TlsAcceptor`]: SNI name → chain and key.
#[derive(Debug)]
pub struct CertStore {
    files: Vec<(PathBuf, PathBuf)>,
    table: ArcSwap<Table>,
}

fn file_error(path: &Path, message: impl Into<String>) -> CertError {
    CertError::File {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Reads a chain and its key and checks that they belong together.
fn load_pair(cert: &Path, key: &Path) -> Result<Entry, CertError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_error(cert, format!("cannot read certificates: {e}")))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_error(cert, format!("bad PEM: {e}")))?;
    let Some(leaf) = chain.first() else {
        return Err(file_error(
            cert,
            "no CERTIFICATE section: give the PEM chain, the server's certificate first",
        ));
    };
    let names = {
        let ee = webpki::EndEntityCert::try_from(leaf)
            .map_err(|e| file_error(cert, format!("not a usable X.509 certificate: {e}")))?;
        ee.valid_dns_names()
            .map(str::to_ascii_lowercase)
            .collect::<Vec<_>>()
    };
    let der = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        file_error(
            key,
            format!("no usable private key (PKCS#8, SEC1 or PKCS#1 PEM): {e}"),
        )
    })?;
    let provider = rustls::crypto::ring::default_provider();
    let certified = CertifiedKey::from_der(chain, der, &provider).map_err(|e| {
        file_error(
            key,
            format!("key refused or not the key of {}: {e}", cert.display()),
        )
    })?;
    Ok(Entry {
        key: Arc::new(certified),
        names,
    })
}

fn load_table(files: &[(PathBuf, PathBuf)]) -> Result<Table, CertError> {
    let mut table = Table::default();
    for (i, (cert, key)) in files.iter().enumerate() {
        let entry = load_pair(cert, key)?;
        for n in &entry.names {
            table.by_name.entry(n.clone()).or_default().push(i);
        }
        table.entries.push(entry);
    }
    Ok(table)
}

impl CertStore {
    /// Reads `certs[i]` with `keys[i]` for every `i`.
    pub fn load(certs: &[PathBuf], keys: &[PathBuf]) -> Result<Self, CertError> {
        if certs.len() != keys.len() || certs.is_empty() {
            return Err(CertError::Pairing {
                certs: certs.len(),
                keys: keys.len(),
            });
        }
        let files: Vec<(PathBuf, PathBuf)> =
            certs.iter().cloned().zip(keys.iter().cloned()).collect();
        let table = load_table(&files)?;
        Ok(Self {
            files,
            table: ArcSwap::from_pointee(table),
        })
    }

    /// Reads the same files again; on success new handshakes get the new chains (returns
    /// how many), on error the current ones stay.
    pub fn reload(&self) -> Result<usize, CertError> {
        let table = load_table(&self.files)?;
        let n = table.entries.len();
        self.table.store(Arc::new(table));
        Ok(n)
    }

    /// The DNS names of each chain, in the order given (for the startup log).
    pub fn names(&self) -> Vec<Vec<String>> {
        self.table
            .load()
            .entries
            .iter()
            .map(|e| e.names.clone())
            .collect()
    }

    /// The chain for `sni` (exact name, then the wildcard one label up, then the first
    /// chain) whose key can sign with one of `schemes`.
    fn pick(
        &self,
        sni: Option<&str>,
        schemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        let table = self.table.load();
        let usable = |i: &usize| {
            table
                .entries
                .get(*i)
                .filter(|e| e.key.key.choose_scheme(schemes).is_some())
                .map(|e| Arc::clone(&e.key))
        };
        if let Some(name) = sni.map(str::to_ascii_lowercase) {
            let wildcard = name.split_once('.').map(|(_, up)| format!("*.{up}"));
            for candidate in std::iter::once(Some(name)).chain(std::iter::once(wildcard)) {
                let found = candidate
                    .and_then(|n| table.by_name.get(&n))
                    .and_then(|ix| ix.iter().find_map(usable));
                if found.is_some() {
                    return found;
                }
            }
        }
        (0..table.entries.len()).find_map(|i| usable(&i))
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.pick(hello.server_name(), hello.signature_schemes())
    }
}
