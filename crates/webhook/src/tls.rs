//! Serving certificate loaded from files and hot-reloaded, plus Go-compatible
//! `--tls-min-version` / `--tls-cipher-suites`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::crypto::aws_lc_rs::{self, cipher_suite as cs};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, SupportedCipherSuite};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Errors building the TLS configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file could not be read or holds no PEM certificate.
    #[error(
        "cannot read TLS certificate {path}: check --tls-cert points at a PEM certificate chain"
    )]
    Cert {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// The key file could not be read or parsed.
    #[error(
        "cannot read TLS key {path}: check --tls-key points at a PEM private key (PKCS#1, PKCS#8 or SEC1)"
    )]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// The key is not usable or does not match the certificate.
    #[error("TLS key {key} does not fit certificate {cert}")]
    Mismatch {
        /// Certificate file.
        cert: PathBuf,
        /// Key file.
        key: PathBuf,
        /// Why.
        #[source]
        source: rustls::Error,
    },
    /// The certificate file holds no certificate.
    #[error("TLS certificate file {0} holds no CERTIFICATE block")]
    Empty(PathBuf),
    /// `--tls-min-version` is not one of the accepted values.
    #[error(
        "invalid --tls-min-version {0:?}: use 1.0, 1.1, 1.2, 1.3 or VersionTLS10..VersionTLS13"
    )]
    MinVersion(String),
    /// A name in `--tls-cipher-suites` is not a Go cipher-suite name.
    #[error(
        "unknown cipher suite {0:?} in --tls-cipher-suites (use Go names such as TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)"
    )]
    UnknownSuite(String),
    /// The TLS settings leave no protocol version usable.
    #[error("--tls-min-version 1.3 with TLS 1.3 unavailable, or no usable cipher suite left")]
    Unusable(#[source] rustls::Error),
}

/// Loads a certificate chain and key from PEM files into a rustls [`CertifiedKey`].
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::Cert {
            path: cert.to_owned(),
            source,
        })?;
    if chain.is_empty() {
        return Err(TlsError::Empty(cert.to_owned()));
    }
    let der = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::Key {
        path: key.to_owned(),
        source,
    })?;
    CertifiedKey::from_der(chain, der, &aws_lc_rs::default_provider()).map_err(|source| {
        TlsError::Mismatch {
            cert: cert.to_owned(),
            key: key.to_owned(),
            source,
        }
    })
}

/// A certificate resolver whose certificate can be swapped while serving.
pub struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

impl fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadingCert")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl ReloadingCert {
    /// Loads the pair once; a failure here is fatal for the caller (as upstream).
    pub fn load(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Result<Self, TlsError> {
        let (cert, key) = (cert.into(), key.into());
        let current = RwLock::new(Arc::new(load_certified_key(&cert, &key)?));
        Ok(Self { cert, key, current })
    }

    /// Re-reads the files. On error the previous certificate stays in use.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = Arc::new(load_certified_key(&self.cert, &self.key)?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    /// Starts a task that reloads the pair whenever either file changes (symlink swaps
    /// included), checking every `interval`.
    pub fn watch(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let me = Arc::clone(self);
        crate::files::watch(
            vec![self.cert.clone(), self.key.clone()],
            interval,
            move || match me.reload() {
                Ok(()) => tracing::info!(cert = %me.cert.display(), "reloaded TLS certificate"),
                // Mid-update (cert written, key not yet) is normal: the next change retries.
                Err(err) => {
                    tracing::warn!(error = %err, "TLS reload failed; keeping the previous certificate")
                }
            },
        )
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.current.read().unwrap_or_else(|e| e.into_inner()),
        ))
    }
}

/// Go's `tls.CipherSuiteName` for the suites rustls implements.
fn rustls_suite(name: &str) -> Option<SupportedCipherSuite> {
    Some(match name {
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
        | "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305" => {
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" | "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" => {
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
        _ => return None,
    })
}

/// Go names that Go accepts but rustls does not implement (CBC, static RSA, 3DES, RC4) and the
/// TLS 1.3 names, which Go ignores in this setting (TLS 1.3 suites are always on).
const GO_ONLY_SUITES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
];

/// TLS protocol settings with upstream's flag semantics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsSettings {
    /// Only TLS 1.3 (`--tls-min-version 1.3`). 1.0 and 1.1 are accepted for compatibility and
    /// mean 1.2: rustls never speaks anything older.
    pub tls13_only: bool,
    /// TLS 1.2 suites chosen by `--tls-cipher-suites`; `None` means rustls defaults.
    pub tls12_suites: Option<Vec<SupportedCipherSuite>>,
}

impl TlsSettings {
    /// Parses `--tls-min-version` and `--tls-cipher-suites` the way upstream does (names are
    /// trimmed, unknown names are fatal, empty means defaults).
    pub fn parse(min_version: &str, cipher_suites: &str) -> Result<Self, TlsError> {
        let tls13_only = match min_version.trim() {
            "" | "1.2" | "VersionTLS12" => false,
            "1.0" | "1.1" | "VersionTLS10" | "VersionTLS11" => {
                tracing::warn!(
                    "--tls-min-version {min_version} requested; rustls never offers TLS < 1.2, using 1.2"
                );
                false
            }
            "1.3" | "VersionTLS13" => true,
            other => return Err(TlsError::MinVersion(other.to_owned())),
        };
        let names: Vec<&str> = cipher_suites
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        let tls12_suites = if names.is_empty() {
            None
        } else {
            let mut chosen = Vec::new();
            for name in names {
                if let Some(suite) = rustls_suite(name) {
                    if !chosen.contains(&suite) {
                        chosen.push(suite);
                    }
                } else if GO_ONLY_SUITES.contains(&name) {
                    tracing::warn!(
                        suite = name,
                        "cipher suite not offered: rustls does not implement it (or it is a TLS 1.3 suite, always on)"
                    );
                } else {
                    return Err(TlsError::UnknownSuite(name.to_owned()));
                }
            }
            Some(chosen)
        };
        Ok(Self {
            tls13_only,
            tls12_suites,
        })
    }

    /// Builds a server config (HTTP/1.1 and HTTP/2 by ALPN) around `resolver`.
    pub fn server_config(
        &self,
        resolver: Arc<dyn ResolvesServerCert>,
    ) -> Result<ServerConfig, TlsError> {
        let base = aws_lc_rs::default_provider();
        let mut suites: Vec<SupportedCipherSuite> = base
            .cipher_suites
            .iter()
            .copied()
            .filter(|s| s.tls13().is_some())
            .collect();
        let tls12_allowed = !self.tls13_only;
        let tls12: Vec<SupportedCipherSuite> = match &self.tls12_suites {
            Some(list) => list.clone(),
            None => base
                .cipher_suites
                .iter()
                .copied()
                .filter(|s| s.tls13().is_none())
                .collect(),
        };
        let with_tls12 = tls12_allowed && !tls12.is_empty();
        if with_tls12 {
            suites.extend(tls12);
        }
        let provider = CryptoProvider {
            cipher_suites: suites,
            ..base
        };
        let versions: &[&rustls::SupportedProtocolVersion] = if with_tls12 {
            &[&rustls::version::TLS13, &rustls::version::TLS12]
        } else {
            &[&rustls::version::TLS13]
        };
        let mut config = ServerConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(versions)
            .map_err(TlsError::Unusable)?
            .with_no_client_auth()
            .with_cert_resolver(resolver);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn should_parse_go_versions_and_suites() {
        assert!(TlsSettings::parse("VersionTLS13", "").unwrap().tls13_only);
        assert!(!TlsSettings::parse("1.0", "").unwrap().tls13_only);
        assert!(matches!(
            TlsSettings::parse("1.4", ""),
            Err(TlsError::MinVersion(_))
        ));
        let s = TlsSettings::parse(
            "",
            " TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 ,TLS_RSA_WITH_AES_128_CBC_SHA",
        )
        .unwrap();
        assert_eq!(
            s.tls12_suites.unwrap(),
            vec![cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
        );
        assert!(matches!(
            TlsSettings::parse("", "TLS_FAKE"),
            Err(TlsError::UnknownSuite(n)) if n == "TLS_FAKE"
        ));
    }
}
