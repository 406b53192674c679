//! A throwaway CA and the webhook's serving certificate, made with rcgen on aws-lc-rs.
//!
//! The CA key is used once, to sign the serving certificate, and then dropped: it is never
//! printed, so nobody can mint more certificates the API server would trust for this webhook.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

use super::ManifestError;

/// PEM material of a freshly made webhook certificate.
pub(crate) struct ServingCertificate {
    /// The CA certificate (what goes into `caBundle` and `ca.crt`).
    pub ca_pem: String,
    /// The serving certificate, signed by the CA.
    pub cert_pem: String,
    /// The serving certificate's PKCS#8 private key.
    pub key_pem: String,
    /// Expiry of the serving certificate (the CA lives a day longer).
    pub not_after: OffsetDateTime,
}

/// The DNS names the API server may use to reach `service` in `namespace`.
pub(crate) fn service_dns_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        service.to_owned(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ]
}

/// Makes an ECDSA P-256 CA and a serving certificate for `service.namespace.svc`, valid from
/// one hour before `now` (clock skew between nodes) for `validity_days` days.
pub(crate) fn make(
    service: &str,
    namespace: &str,
    validity_days: u32,
    now: OffsetDateTime,
) -> Result<ServingCertificate, ManifestError> {
    let not_before = now - Duration::hours(1);
    let not_after = now + Duration::days(i64::from(validity_days));
    let gen_err = |source| ManifestError::Certificate { source };

    let ca_key = KeyPair::generate().map_err(gen_err)?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name = DistinguishedName::new();
    ca.distinguished_name.push(
        DnType::CommonName,
        truncate_cn(&format!("irsa webhook CA for {service}.{namespace}")),
    );
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_before = not_before;
    ca.not_after = not_after + Duration::days(1);
    let ca_cert = ca.self_signed(&ca_key).map_err(gen_err)?;
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate().map_err(gen_err)?;
    let mut leaf =
        CertificateParams::new(service_dns_names(service, namespace)).map_err(gen_err)?;
    leaf.distinguished_name = DistinguishedName::new();
    leaf.distinguished_name.push(
        DnType::CommonName,
        truncate_cn(&format!("{service}.{namespace}.svc")),
    );
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    leaf.not_before = not_before;
    leaf.not_after = not_after;
    let cert = leaf.signed_by(&key, &issuer).map_err(gen_err)?;

    Ok(ServingCertificate {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        not_after,
    })
}

/// X.520 caps a common name at 64 characters; the SANs carry the real names anyway.
fn truncate_cn(cn: &str) -> String {
    cn.chars().take(64).collect()
}
