//! cert-manager objects (cert-manager.io/v1): a self-signed Issuer bootstraps a CA
//! Certificate, a CA Issuer signs the serving Certificate, and cert-manager's CA injector copies
//! the CA into the webhook's `caBundle` (annotation `cert-manager.io/inject-ca-from`).
//!
//! The CA is namespaced (Issuers, not ClusterIssuers): nothing outside the webhook's namespace
//! can get a certificate the API server would trust for this webhook.

use serde_json::{Value, json};

use super::certs::service_dns_names;
use super::objects::labels;
use super::{ManifestOptions, tls_secret_name};

fn meta(o: &ManifestOptions, name: String) -> Value {
    json!({ "name": name, "namespace": o.namespace, "labels": labels(o) })
}

fn issuer_ref(name: String) -> Value {
    json!({ "name": name, "kind": "Issuer", "group": "cert-manager.io" })
}

/// The four objects, in apply order.
pub(crate) fn objects(o: &ManifestOptions) -> Vec<Value> {
    let bootstrap = format!("{}-selfsigned", o.name);
    let ca = format!("{}-ca", o.name);
    vec![
        json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "Issuer",
            "metadata": meta(o, bootstrap.clone()),
            "spec": { "selfSigned": {} },
        }),
        json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": meta(o, ca.clone()),
            "spec": {
                "isCA": true,
                "commonName": format!("irsa webhook CA for {}.{}", o.name, o.namespace)
                    .chars().take(64).collect::<String>(),
                "secretName": ca.clone(),
                "duration": "43800h",
                "renewBefore": "720h",
                "privateKey": { "algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always" },
                "issuerRef": issuer_ref(bootstrap),
            },
        }),
        json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "Issuer",
            "metadata": meta(o, ca.clone()),
            "spec": { "ca": { "secretName": ca.clone() } },
        }),
        json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": meta(o, o.name.clone()),
            "spec": {
                "secretName": tls_secret_name(o),
                "dnsNames": service_dns_names(&o.name, &o.namespace),
                "duration": "2160h",
                "renewBefore": "360h",
                "usages": ["server auth", "digital signature"],
                "privateKey": { "algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always" },
                "issuerRef": issuer_ref(ca),
            },
        }),
    ]
}
