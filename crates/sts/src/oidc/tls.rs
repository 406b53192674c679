//! TLS trust for issuer fetches: the system's roots first, then the provider's
//! thumbprints (SHA-1 of a certificate in the served chain, as IAM registers them).

use std::fmt;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, Error as TlsError, RootCertStore, SignatureScheme};

/// Lowercase hex SHA-1 of a DER certificate: IAM's thumbprint.
pub fn thumbprint(der: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
    use std::fmt::Write as _;
    digest
        .as_ref()
        .iter()
        .fold(String::with_capacity(40), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Accepts a server when the system roots accept it; otherwise when a certificate of
/// the presented chain has a registered thumbprint:
/// - the server certificate itself (an exact certificate pin), or
/// - an intermediate/CA certificate, which then acts as the only trust anchor for a
///   full WebPKI verification of the rest of the chain (signatures, validity, host
///   name). Merely presenting a pinned CA certificate is not enough.
pub struct ThumbprintVerifier {
    system: Option<Arc<dyn ServerCertVerifier>>,
    thumbprints: Vec<String>,
    provider: Arc<CryptoProvider>,
}

impl fmt::Debug for ThumbprintVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThumbprintVerifier")
            .field("system_roots", &self.system.is_some())
            .field("thumbprints", &self.thumbprints)
            .finish()
    }
}

impl ThumbprintVerifier {
    /// A verifier trusting the platform's roots (when `use_system_roots`) and `thumbprints`.
    pub fn new(thumbprints: &[String], use_system_roots: bool) -> ThumbprintVerifier {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let system = if use_system_roots {
            match rustls_platform_verifier::Verifier::new(provider.clone()) {
                Ok(v) => Some(Arc::new(v) as Arc<dyn ServerCertVerifier>),
                Err(e) => {
                    tracing::warn!(error = %e, "system trust store unavailable; only thumbprints are trusted");
                    None
                }
            }
        } else {
            None
        };
        ThumbprintVerifier {
            system,
            thumbprints: thumbprints.iter().map(|t| t.to_ascii_lowercase()).collect(),
            provider,
        }
    }

    /// A rustls client configuration using this verifier.
    pub fn client_config(self) -> rustls::ClientConfig {
        let provider = self.provider.clone();
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("aws-lc-rs supports the default TLS versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(self))
            .with_no_client_auth()
    }

    fn pinned(&self, der: &[u8]) -> bool {
        !self.thumbprints.is_empty() && self.thumbprints.contains(&thumbprint(der))
    }

    fn verify_with_anchor(
        &self,
        anchor: &CertificateDer<'_>,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        let mut roots = RootCertStore::empty();
        roots.add(anchor.clone().into_owned()).map_err(|_| {
            TlsError::General("pinned certificate is not a usable trust anchor".into())
        })?;
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| TlsError::General(e.to_string()))?;
        verifier.verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
    }
}

impl ServerCertVerifier for ThumbprintVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        let system_error = match &self.system {
            Some(system) => {
                match system.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
                    Ok(v) => return Ok(v),
                    Err(e) => e,
                }
            }
            None => TlsError::General("no trusted root".into()),
        };
        if self.pinned(end_entity) {
            return Ok(ServerCertVerified::assertion());
        }
        for (i, cert) in intermediates.iter().enumerate() {
            if self.pinned(cert)
                && self
                    .verify_with_anchor(
                        cert,
                        end_entity,
                        &intermediates[..i],
                        server_name,
                        ocsp,
                        now,
                    )
                    .is_ok()
            {
                return Ok(ServerCertVerified::assertion());
            }
        }
        Err(system_error)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
