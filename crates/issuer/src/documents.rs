//! The two published documents: the OIDC discovery document and the JWKS.
//!
//! Pure values and functions. JWKs are kept as JSON objects (not re-modelled) so that a JWKS
//! written by another tool (pem-to-jwks, the webhook's `hack/self-hosted`, `azwi jwks`)
//! round-trips through `irsa issuer rotate` without losing or re-ordering members.

use serde_json::{Map, Value};

use crate::url::{IssuerUrl, JwksPathError, check_jwks_path};

/// Default JWKS file name below the issuer.
pub const DEFAULT_JWKS_PATH: &str = "keys.json";

/// Content type of the discovery document (as kube-apiserver serves it).
pub const DISCOVERY_CONTENT_TYPE: &str = "application/json";

/// Content type of the JWKS (as kube-apiserver serves it, RFC 7517 section 8.5).
pub const JWKS_CONTENT_TYPE: &str = "application/jwk-set+json";

/// One JWK, as a JSON object whose member order is kept.
pub type Jwk = Map<String, Value>;

/// Members that only private JWKs carry; a published JWKS must never contain them.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// What is wrong with a JWK or a JWKS.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// The document is not `{"keys":[...]}`.
    #[error("not a JWK set: expected a JSON object with a \"keys\" array")]
    NotASet,
    /// A key is not a JSON object.
    #[error("key #{index} is not a JSON object")]
    NotAnObject {
        /// Position in `keys`.
        index: usize,
    },
    /// A key lacks a member or has a wrong type.
    #[error("key #{index}: member {member:?} is missing or not a string")]
    Member {
        /// Position in `keys`.
        index: usize,
        /// The member.
        member: &'static str,
    },
    /// A key has a private member: publishing it would leak the signing key.
    #[error(
        "key #{index} (kid {kid:?}) contains the private member {member:?}: refusing to publish a \
         private key; publish only public keys"
    )]
    PrivateMember {
        /// Position in `keys`.
        index: usize,
        /// Its kid.
        kid: String,
        /// The member found.
        member: String,
    },
    /// A key type that AWS STS cannot use.
    #[error(
        "key #{index}: key type {kty:?} is not usable for service-account tokens (RSA or EC only)"
    )]
    KeyType {
        /// Position in `keys`.
        index: usize,
        /// The `kty` found.
        kty: String,
    },
    /// An `alg` that does not fit the key or is not a signature algorithm we know.
    #[error(
        "key #{index}: cannot tell the signature algorithm (alg {alg:?}, kty {kty:?}, crv {crv:?})"
    )]
    Algorithm {
        /// Position in `keys`.
        index: usize,
        /// `alg` if present.
        alg: Option<String>,
        /// `kty`.
        kty: String,
        /// `crv` if present.
        crv: Option<String>,
    },
}

/// A JWK set: `{"keys":[...]}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JwkSet {
    keys: Vec<Jwk>,
}

impl JwkSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses and checks a JWKS document (see [`JwkSet::from_value`]).
    pub fn from_json(bytes: &[u8]) -> Result<Self, JwksError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|_| JwksError::NotASet)?;
        Self::from_value(value)
    }

    /// Checks every key: an object with `kty` RSA/EC, a string `kid`, a known algorithm and
    /// no private members. Duplicates (same kid and same key) are kept only once.
    pub fn from_value(value: Value) -> Result<Self, JwksError> {
        let Value::Object(mut root) = value else {
            return Err(JwksError::NotASet);
        };
        let Some(Value::Array(keys)) = root.remove("keys") else {
            return Err(JwksError::NotASet);
        };
        let mut set = Self::new();
        for (index, key) in keys.into_iter().enumerate() {
            let Value::Object(jwk) = key else {
                return Err(JwksError::NotAnObject { index });
            };
            check_jwk(index, &jwk)?;
            set.insert(jwk);
        }
        Ok(set)
    }

    /// Adds a checked key unless the same key with the same kid is already there.
    /// Returns whether it was added.
    pub fn insert(&mut self, jwk: Jwk) -> bool {
        let duplicate = self
            .keys
            .iter()
            .any(|k| kid_of(k) == kid_of(&jwk) && same_key(k, &jwk));
        if !duplicate {
            self.keys.push(jwk);
        }
        !duplicate
    }

    /// Adds a key given as any JSON value, checking it first.
    pub fn insert_value(&mut self, value: Value) -> Result<bool, JwksError> {
        let index = self.keys.len();
        let Value::Object(jwk) = value else {
            return Err(JwksError::NotAnObject { index });
        };
        check_jwk(index, &jwk)?;
        Ok(self.insert(jwk))
    }

    /// The keys in publication order.
    pub fn keys(&self) -> &[Jwk] {
        &self.keys
    }

    /// Mutable access for the rotation plan.
    pub(crate) fn keys_mut(&mut self) -> &mut Vec<Jwk> {
        &mut self.keys
    }

    /// The distinct non-empty kids, in publication order.
    pub fn kids(&self) -> Vec<&str> {
        let mut kids: Vec<&str> = Vec::new();
        for kid in self.keys.iter().filter_map(kid_of) {
            if !kid.is_empty() && !kids.contains(&kid) {
                kids.push(kid);
            }
        }
        kids
    }

    /// Sorted, de-duplicated signature algorithms of the keys (what kube-apiserver lists in
    /// `id_token_signing_alg_values_supported`).
    pub fn algorithms(&self) -> Vec<String> {
        let mut algs: Vec<String> = self.keys.iter().filter_map(algorithm_of).collect();
        algs.sort();
        algs.dedup();
        algs
    }

    /// `{"keys":[...]}` as compact JSON, the way kube-apiserver serves `/openid/v1/jwks`.
    pub fn to_json(&self) -> Vec<u8> {
        let keys: Vec<Value> = self.keys.iter().cloned().map(Value::Object).collect();
        let mut root = Map::new();
        root.insert("keys".into(), Value::Array(keys));
        serde_json::to_vec(&Value::Object(root)).expect("a JSON map always serialises")
    }
}

/// The `kid` of a JWK, if it has a string one.
pub fn kid_of(jwk: &Jwk) -> Option<&str> {
    jwk.get("kid").and_then(Value::as_str)
}

/// The signature algorithm of a JWK: its `alg`, or what kube-apiserver would use for the
/// key type (RSA: RS256; EC: by curve) when `alg` is absent (pem-to-jwks writes none).
pub fn algorithm_of(jwk: &Jwk) -> Option<String> {
    let kty = jwk.get("kty").and_then(Value::as_str)?;
    let crv = jwk.get("crv").and_then(Value::as_str);
    match jwk.get("alg") {
        Some(Value::String(alg)) => {
            let fits = match kty {
                "RSA" => matches!(
                    alg.as_str(),
                    "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512"
                ),
                "EC" => Some(alg.as_str()) == ec_alg(crv?),
                _ => false,
            };
            fits.then(|| alg.clone())
        }
        Some(_) => None,
        None => match kty {
            "RSA" => Some("RS256".to_owned()),
            "EC" => ec_alg(crv?).map(str::to_owned),
            _ => None,
        },
    }
}

fn ec_alg(crv: &str) -> Option<&'static str> {
    match crv {
        "P-256" => Some("ES256"),
        "P-384" => Some("ES384"),
        "P-521" => Some("ES512"),
        _ => None,
    }
}

/// Whether two JWKs hold the same public key (ignoring kid, alg, use).
pub fn same_key(a: &Jwk, b: &Jwk) -> bool {
    let members: &[&str] = match a.get("kty").and_then(Value::as_str) {
        Some("RSA") => &["kty", "n", "e"],
        Some("EC") => &["kty", "crv", "x", "y"],
        _ => return false,
    };
    members
        .iter()
        .all(|m| a.get(*m).is_some() && a.get(*m) == b.get(*m))
}

fn check_jwk(index: usize, jwk: &Jwk) -> Result<(), JwksError> {
    let string = |member: &'static str| {
        jwk.get(member)
            .and_then(Value::as_str)
            .ok_or(JwksError::Member { index, member })
    };
    let kty = string("kty")?;
    let kid = string("kid")?;
    if let Some(member) = PRIVATE_MEMBERS.iter().find(|m| jwk.contains_key(**m)) {
        return Err(JwksError::PrivateMember {
            index,
            kid: kid.to_owned(),
            member: (*member).to_owned(),
        });
    }
    match kty {
        "RSA" => {
            string("n")?;
            string("e")?;
        }
        "EC" => {
            string("crv")?;
            string("x")?;
            string("y")?;
        }
        other => {
            return Err(JwksError::KeyType {
                index,
                kty: other.to_owned(),
            });
        }
    }
    if algorithm_of(jwk).is_none() {
        return Err(JwksError::Algorithm {
            index,
            alg: jwk.get("alg").map(|a| a.to_string()),
            kty: kty.to_owned(),
            crv: jwk.get("crv").and_then(Value::as_str).map(str::to_owned),
        });
    }
    Ok(())
}

/// What is wrong with a discovery document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    /// Not a JSON object.
    #[error("not an OpenID discovery document: expected a JSON object")]
    NotAnObject,
    /// A required member is missing.
    #[error("the discovery document has no string {0:?}")]
    Member(&'static str),
    /// `issuer` is not a usable issuer URL.
    #[error("the discovery document's issuer {issuer:?} is not usable")]
    Issuer {
        /// The value found.
        issuer: String,
        /// Why.
        #[source]
        source: crate::url::IssuerUrlError,
    },
    /// `jwks_uri` does not point below the issuer, so the JWKS file cannot be located.
    #[error(
        "the discovery document's jwks_uri {jwks_uri:?} is not below its issuer {issuer:?}; irsa \
         publishes the JWKS next to the discovery document (e.g. {issuer}/keys.json)"
    )]
    JwksOutside {
        /// The issuer.
        issuer: String,
        /// The jwks_uri.
        jwks_uri: String,
    },
    /// The JWKS path is not a safe relative path.
    #[error("the discovery document's jwks_uri names an unusable path")]
    JwksPath(#[source] JwksPathError),
}

/// An OpenID discovery document, with any extra members kept in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovery {
    members: Map<String, Value>,
    issuer: IssuerUrl,
    jwks_path: String,
}

impl Discovery {
    /// A new document with exactly the members kube-apiserver serves, in its order:
    /// `issuer`, `jwks_uri`, `response_types_supported`, `subject_types_supported`,
    /// `id_token_signing_alg_values_supported`.
    pub fn new(issuer: &IssuerUrl, jwks_path: &str, jwks: &JwkSet) -> Result<Self, JwksPathError> {
        check_jwks_path(jwks_path)?;
        let mut members = Map::new();
        members.insert("issuer".into(), issuer.as_str().into());
        members.insert("jwks_uri".into(), issuer.child_url(jwks_path).into());
        members.insert("response_types_supported".into(), vec!["id_token"].into());
        members.insert("subject_types_supported".into(), vec!["public"].into());
        members.insert(
            "id_token_signing_alg_values_supported".into(),
            jwks.algorithms().into(),
        );
        Ok(Self {
            members,
            issuer: issuer.clone(),
            jwks_path: jwks_path.to_owned(),
        })
    }

    /// Parses a discovery document written by `irsa issuer init` (or by hand) and locates
    /// its JWKS below the issuer. `policy` is how strictly the issuer is checked.
    pub fn from_json(
        bytes: &[u8],
        policy: crate::url::IssuerPolicy,
    ) -> Result<Self, DiscoveryError> {
        let Ok(Value::Object(members)) = serde_json::from_slice::<Value>(bytes) else {
            return Err(DiscoveryError::NotAnObject);
        };
        let get = |m: &'static str| {
            members
                .get(m)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or(DiscoveryError::Member(m))
        };
        let issuer_raw = get("issuer")?;
        let jwks_uri = get("jwks_uri")?;
        let issuer =
            IssuerUrl::parse(&issuer_raw, policy).map_err(|source| DiscoveryError::Issuer {
                issuer: issuer_raw.clone(),
                source,
            })?;
        let jwks_path = issuer
            .relative_path_of(&jwks_uri)
            .ok_or_else(|| DiscoveryError::JwksOutside {
                issuer: issuer_raw.clone(),
                jwks_uri: jwks_uri.clone(),
            })?
            .to_owned();
        check_jwks_path(&jwks_path).map_err(DiscoveryError::JwksPath)?;
        Ok(Self {
            members,
            issuer,
            jwks_path,
        })
    }

    /// The issuer.
    pub fn issuer(&self) -> &IssuerUrl {
        &self.issuer
    }

    /// The JWKS path relative to the issuer (and to the publication folder).
    pub fn jwks_path(&self) -> &str {
        &self.jwks_path
    }

    /// The `jwks_uri`.
    pub fn jwks_uri(&self) -> String {
        self.issuer.child_url(&self.jwks_path)
    }

    /// Updates `id_token_signing_alg_values_supported` to match `jwks`; returns whether it
    /// changed.
    pub fn sync_algorithms(&mut self, jwks: &JwkSet) -> bool {
        let new: Value = jwks.algorithms().into();
        let key = "id_token_signing_alg_values_supported";
        if self.members.get(key) == Some(&new) {
            return false;
        }
        self.members.insert(key.into(), new);
        true
    }

    /// Compact JSON, the way kube-apiserver serves `/.well-known/openid-configuration`.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.members).expect("a JSON map always serialises")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::url::IssuerPolicy;

    pub(crate) fn rsa(kid: &str, n: &str) -> Value {
        json!({"use":"sig","kty":"RSA","kid":kid,"alg":"RS256","n":n,"e":"AQAB"})
    }

    fn ec(kid: &str) -> Value {
        json!({"use":"sig","kty":"EC","kid":kid,"crv":"P-256","alg":"ES256","x":"eA","y":"eQ"})
    }

    #[test]
    fn discovery_document_is_byte_identical_to_kube_apiserver() {
        let issuer = IssuerUrl::parse(
            "https://kubernetes.default.svc.cluster.local",
            IssuerPolicy::Aws,
        )
        .unwrap();
        let mut jwks = JwkSet::new();
        jwks.insert_value(rsa("k1", "nn")).unwrap();
        // kube-apiserver's own document, with its jwks_uri replaced by the published one.
        let doc = Discovery::new(&issuer, "openid/v1/jwks", &jwks).unwrap();
        assert_eq!(
            String::from_utf8(doc.to_json()).unwrap(),
            r#"{"issuer":"https://kubernetes.default.svc.cluster.local","jwks_uri":"https://kubernetes.default.svc.cluster.local/openid/v1/jwks","response_types_supported":["id_token"],"subject_types_supported":["public"],"id_token_signing_alg_values_supported":["RS256"]}"#
        );
        let back = Discovery::from_json(&doc.to_json(), IssuerPolicy::Aws).unwrap();
        assert_eq!(back.jwks_path(), "openid/v1/jwks");
        assert_eq!(back.issuer().as_str(), issuer.as_str());
    }

    #[test]
    fn algorithms_are_a_sorted_set() {
        let mut jwks = JwkSet::new();
        jwks.insert_value(ec("e1")).unwrap();
        jwks.insert_value(rsa("r1", "a")).unwrap();
        jwks.insert_value(rsa("r2", "b")).unwrap();
        // pem-to-jwks output: no alg, inferred as RS256.
        jwks.insert_value(json!({"kty":"RSA","e":"AQAB","kid":"r3","n":"c"}))
            .unwrap();
        assert_eq!(jwks.algorithms(), vec!["ES256", "RS256"]);
        assert_eq!(jwks.kids(), vec!["e1", "r1", "r2", "r3"]);
    }

    #[test]
    fn duplicates_are_published_once_but_legacy_copies_stay() {
        let mut jwks = JwkSet::new();
        assert!(jwks.insert_value(rsa("k1", "a")).unwrap());
        assert!(!jwks.insert_value(rsa("k1", "a")).unwrap());
        assert!(jwks.insert_value(rsa("", "a")).unwrap());
        assert!(jwks.insert_value(rsa("", "b")).unwrap());
        assert_eq!(jwks.keys().len(), 3);
        assert_eq!(jwks.kids(), vec!["k1"]);
    }

    #[test]
    fn private_members_are_refused() {
        let mut key = rsa("k1", "a");
        key["d"] = json!("secret");
        let err = JwkSet::from_value(json!({"keys":[key]})).unwrap_err();
        assert!(matches!(err, JwksError::PrivateMember { ref member, .. } if member == "d"));
        assert!(!err.to_string().contains("secret"));
    }

    #[test]
    fn malformed_sets_and_keys_are_refused() {
        assert_eq!(JwkSet::from_json(b"[]"), Err(JwksError::NotASet));
        assert_eq!(JwkSet::from_json(b"{\"keys\":{}}"), Err(JwksError::NotASet));
        assert_eq!(JwkSet::from_json(b"not json"), Err(JwksError::NotASet));
        assert_eq!(
            JwkSet::from_json(b"{\"keys\":[1]}"),
            Err(JwksError::NotAnObject { index: 0 })
        );
        assert_eq!(
            JwkSet::from_value(json!({"keys":[{"kty":"RSA","n":"a","e":"AQAB"}]})),
            Err(JwksError::Member {
                index: 0,
                member: "kid"
            })
        );
        assert!(matches!(
            JwkSet::from_value(json!({"keys":[{"kty":"oct","kid":"x","k":"abc"}]})),
            Err(JwksError::PrivateMember { .. })
        ));
        assert!(matches!(
            JwkSet::from_value(json!({"keys":[{"kty":"OKP","kid":"x","crv":"Ed25519","x":"a"}]})),
            Err(JwksError::KeyType { .. })
        ));
        assert!(matches!(
            JwkSet::from_value(
                json!({"keys":[{"kty":"EC","kid":"x","crv":"P-256","alg":"ES384","x":"a","y":"b"}]})
            ),
            Err(JwksError::Algorithm { .. })
        ));
        assert!(matches!(
            JwkSet::from_value(
                json!({"keys":[{"kty":"RSA","kid":"x","alg":"HS256","n":"a","e":"b"}]})
            ),
            Err(JwksError::Algorithm { .. })
        ));
    }

    #[test]
    fn discovery_must_point_below_the_issuer() {
        let outside = br#"{"issuer":"https://a.example","jwks_uri":"https://b.example/keys.json"}"#;
        assert!(matches!(
            Discovery::from_json(outside, IssuerPolicy::Aws),
            Err(DiscoveryError::JwksOutside { .. })
        ));
        let traversal =
            br#"{"issuer":"https://a.example","jwks_uri":"https://a.example/../etc/passwd"}"#;
        assert!(matches!(
            Discovery::from_json(traversal, IssuerPolicy::Aws),
            Err(DiscoveryError::JwksPath(_))
        ));
        assert_eq!(
            Discovery::from_json(b"{}", IssuerPolicy::Aws),
            Err(DiscoveryError::Member("issuer"))
        );
        assert_eq!(
            Discovery::from_json(b"[", IssuerPolicy::Aws),
            Err(DiscoveryError::NotAnObject)
        );
    }

    #[test]
    fn extra_members_survive_an_algorithm_update() {
        let doc = br#"{"issuer":"https://a.example","jwks_uri":"https://a.example/keys.json","authorization_endpoint":"urn:kubernetes:programmatic_authorization","response_types_supported":["id_token"],"subject_types_supported":["public"],"id_token_signing_alg_values_supported":["RS256"]}"#;
        let mut d = Discovery::from_json(doc, IssuerPolicy::Aws).unwrap();
        let mut jwks = JwkSet::new();
        jwks.insert_value(rsa("k", "a")).unwrap();
        assert!(!d.sync_algorithms(&jwks));
        jwks.insert_value(ec("e")).unwrap();
        assert!(d.sync_algorithms(&jwks));
        let out = String::from_utf8(d.to_json()).unwrap();
        assert!(out.contains(r#""authorization_endpoint":"urn:kubernetes:programmatic_authorization","response_types_supported""#));
        assert!(out.ends_with(r#""id_token_signing_alg_values_supported":["ES256","RS256"]}"#));
    }
}
