//! Claims of a Kubernetes bound service-account token, as kube-apiserver (1.30+) writes them.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use serde_json::{Map, Value, json};

/// A named object with its UID (pod, node, service account).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRef {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.uid`.
    pub uid: String,
}

impl ObjectRef {
    /// An object with a fresh random UID.
    pub fn with_random_uid(name: impl Into<String>) -> Self {
        ObjectRef {
            name: name.into(),
            uid: random_uuid(),
        }
    }
}

/// The claims of a pod-bound projected service-account token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceAccountClaims {
    /// `iss`, byte for byte.
    pub issuer: String,
    /// `aud` (always written as an array, as kube-apiserver does).
    pub audiences: Vec<String>,
    /// The namespace.
    pub namespace: String,
    /// The service account.
    pub service_account: ObjectRef,
    /// The pod the token is bound to, if any.
    pub pod: Option<ObjectRef>,
    /// The node the pod runs on, if known.
    pub node: Option<ObjectRef>,
    /// `iat` and `nbf`, seconds since 1970.
    pub issued_at: i64,
    /// Lifetime in seconds (`exp = iat + expiration_secs`).
    pub expiration_secs: i64,
    /// `jti`.
    pub jti: String,
}

/// `system:serviceaccount:<namespace>:<name>`, the `sub` of service-account tokens.
pub fn service_account_subject(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// A random version-4 UUID (RFC 9562 layout) from aws-lc-rs's CSPRNG.
pub fn random_uuid() -> String {
    let mut b = [0u8; 16];
    // SystemRandom only fails if the OS has no entropy source at all.
    if SystemRandom::new().fill(&mut b).is_err() {
        b = [0x42; 16];
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

impl ServiceAccountClaims {
    /// Claims for `namespace`/`service_account` with a random service-account UID and `jti`,
    /// no pod or node.
    pub fn new(
        issuer: impl Into<String>,
        namespace: impl Into<String>,
        service_account: impl Into<String>,
        audiences: Vec<String>,
        issued_at: i64,
        expiration_secs: i64,
    ) -> Self {
        ServiceAccountClaims {
            issuer: issuer.into(),
            audiences,
            namespace: namespace.into(),
            service_account: ObjectRef::with_random_uid(service_account),
            pod: None,
            node: None,
            issued_at,
            expiration_secs,
            jti: random_uuid(),
        }
    }

    /// The `sub` claim.
    pub fn subject(&self) -> String {
        service_account_subject(&self.namespace, &self.service_account.name)
    }

    /// The claims as JSON, members sorted by name as kube-apiserver (go-jose) writes them:
    /// `aud, exp, iat, iss, jti, kubernetes.io{namespace, node, pod, serviceaccount}, nbf, sub`.
    pub fn to_json(&self) -> Value {
        let obj = |o: &ObjectRef| json!({"name": o.name, "uid": o.uid});
        let mut k8s = Map::new();
        k8s.insert("namespace".into(), json!(self.namespace));
        if let Some(node) = &self.node {
            k8s.insert("node".into(), obj(node));
        }
        if let Some(pod) = &self.pod {
            k8s.insert("pod".into(), obj(pod));
        }
        k8s.insert("serviceaccount".into(), obj(&self.service_account));
        let mut claims = Map::new();
        claims.insert("aud".into(), json!(self.audiences));
        claims.insert(
            "exp".into(),
            json!(self.issued_at.saturating_add(self.expiration_secs)),
        );
        claims.insert("iat".into(), json!(self.issued_at));
        claims.insert("iss".into(), json!(self.issuer));
        claims.insert("jti".into(), json!(self.jti));
        claims.insert("kubernetes.io".into(), Value::Object(k8s));
        claims.insert("nbf".into(), json!(self.issued_at));
        claims.insert("sub".into(), json!(self.subject()));
        Value::Object(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_is_v4_shaped_and_random() {
        let a = random_uuid();
        assert_eq!(a.len(), 36);
        let parts: Vec<_> = a.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
        assert_eq!(&a[14..15], "4");
        assert!("89ab".contains(&a[19..20]));
        assert_ne!(a, random_uuid());
    }

    #[test]
    fn claims_have_kube_apiserver_shape_and_order() {
        let mut c = ServiceAccountClaims::new(
            "https://issuer.example",
            "default",
            "app",
            vec!["sts.amazonaws.com".into()],
            1_767_225_600,
            3600,
        );
        c.pod = Some(ObjectRef::with_random_uid("app-1"));
        c.node = Some(ObjectRef::with_random_uid("node-1"));
        let v = c.to_json();
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "aud",
                "exp",
                "iat",
                "iss",
                "jti",
                "kubernetes.io",
                "nbf",
                "sub"
            ]
        );
        let k8s: Vec<_> = v["kubernetes.io"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(k8s, ["namespace", "node", "pod", "serviceaccount"]);
        assert_eq!(v["exp"], 1_767_229_200);
        assert_eq!(v["sub"], "system:serviceaccount:default:app");
        assert_eq!(v["aud"], json!(["sts.amazonaws.com"]));
        assert_eq!(v["kubernetes.io"]["pod"]["name"], "app-1");
    }
}
