//! JSON Web Keys (RFC 7517) as kube-apiserver and go-jose write them.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{RsaPublicKeyComponents, RsaSubjectPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::alg::{Algorithm, Curve};
use crate::error::{JwkError, KeyError};
use crate::keys::{Material, PublicKey};

/// One JSON Web Key. Serialises members in go-jose's order (`use, kty, kid, alg, n, e` for
/// RSA; `use, kty, kid, crv, alg, x, y` for EC), omitting absent ones; members it does not
/// model are kept in `other` and written after them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Jwk {
    /// `use`: `sig` for signature keys.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// `kty`: `RSA` or `EC`.
    pub kty: String,
    /// `kid`: the key id (kept when empty, for the legacy duplicate entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// `crv` (EC): `P-256`, `P-384`, `P-521`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// `alg`: the JWS algorithm this key is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// `n` (RSA): modulus, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// `e` (RSA): public exponent, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// `x` (EC): x coordinate, base64url, full length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// `y` (EC): y coordinate, base64url, full length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// Every other member (`x5c`, `key_ops`, private members...), in input order.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Jwk {
    /// Parses one JWK from JSON text.
    pub fn from_json(json: &[u8]) -> Result<Self, JwkError> {
        serde_json::from_slice(json).map_err(|e| JwkError::Json {
            reason: e.to_string(),
        })
    }

    /// Whether the JWK carries private-key members (`d`, `p`, `q`, ...), which must never be
    /// published.
    pub fn has_private_members(&self) -> bool {
        ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]
            .iter()
            .any(|m| self.other.contains_key(*m))
    }
}

/// A JWK Set: `{"keys":[...]}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct JwkSet {
    /// The keys, in order.
    pub keys: Vec<Jwk>,
}

impl JwkSet {
    /// Parses a JWKS document. Keys with unknown `kty` still parse (they are skipped when
    /// building verification keys), so a set mixing key types stays usable.
    pub fn from_json(json: &[u8]) -> Result<Self, JwkError> {
        serde_json::from_slice(json).map_err(|e| JwkError::Json {
            reason: e.to_string(),
        })
    }

    /// The set as compact JSON (what kube-apiserver serves).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The first key whose `kid` equals `kid`.
    pub fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid.as_deref() == Some(kid))
    }

    /// Builds the set for `keys` as kube-apiserver publishes them: one entry per distinct key
    /// (duplicates by kid dropped, first wins), `use: sig`, `alg`, computed `kid`. With
    /// `legacy_empty_kid`, each key is also added a second time with `kid: ""` for tokens from
    /// clusters older than 1.16, which carry no kid.
    pub fn from_public_keys<'a>(
        keys: impl IntoIterator<Item = &'a PublicKey>,
        legacy_empty_kid: bool,
    ) -> Self {
        let mut out: Vec<Jwk> = Vec::new();
        let mut legacy = Vec::new();
        for key in keys {
            if out.iter().any(|j| j.kid.as_deref() == Some(key.kid())) {
                continue;
            }
            let jwk = key.to_jwk();
            if legacy_empty_kid {
                let mut copy = jwk.clone();
                copy.kid = Some(String::new());
                legacy.push(copy);
            }
            out.push(jwk);
        }
        out.extend(legacy);
        JwkSet { keys: out }
    }
}

impl PublicKey {
    /// The key as a JWK with `use: sig`, its Kubernetes `kid` and its algorithm.
    pub fn to_jwk(&self) -> Jwk {
        let mut jwk = Jwk {
            use_: Some("sig".into()),
            kty: String::new(),
            kid: Some(self.kid().to_owned()),
            crv: None,
            alg: Some(self.algorithm().name().to_owned()),
            n: None,
            e: None,
            x: None,
            y: None,
            other: Map::new(),
        };
        match self.material() {
            Material::Rsa { n, e } => {
                jwk.kty = "RSA".into();
                jwk.n = Some(URL_SAFE_NO_PAD.encode(n));
                jwk.e = Some(URL_SAFE_NO_PAD.encode(e));
            }
            Material::Ec { curve, point } => {
                let c = curve.coordinate_len();
                jwk.kty = "EC".into();
                jwk.crv = Some(curve.jwk_name().into());
                jwk.x = Some(URL_SAFE_NO_PAD.encode(&point[1..1 + c]));
                jwk.y = Some(URL_SAFE_NO_PAD.encode(&point[1 + c..]));
            }
        }
        jwk
    }

    /// Reads a public key from a JWK. `use`, when present, must be `sig`; `alg`, when present,
    /// must fit the key and then becomes the only algorithm the key verifies. Private members
    /// are ignored (only the public numbers are read). The JWK's `kid` is not checked against
    /// the computed one: [`PublicKey::kid`] is always computed from the key.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, JwkError> {
        if let Some(u) = &jwk.use_
            && u != "sig"
        {
            return Err(JwkError::NotForSigning { use_: u.clone() });
        }
        let alg = match &jwk.alg {
            None => None,
            Some(a) => Some(
                a.parse::<Algorithm>()
                    .map_err(|_| JwkError::UnsupportedAlgorithm { alg: a.clone() })?,
            ),
        };
        let key = match jwk.kty.as_str() {
            "RSA" => {
                let n = strip_zeros(b64(jwk.n.as_deref(), "n")?);
                let e = strip_zeros(b64(jwk.e.as_deref(), "e")?);
                let components = RsaPublicKeyComponents { n, e };
                let spki = components.as_der().map_err(|_| JwkError::InvalidKey {
                    reason: "n and e do not form an RSA public key".into(),
                })?;
                let public = RsaSubjectPublicKey::from_der(spki.as_ref()).map_err(|e| {
                    JwkError::InvalidKey {
                        reason: e.to_string(),
                    }
                })?;
                PublicKey::from_rsa(&public, 0, "JWK").map_err(key_to_jwk_error)?
            }
            "EC" => {
                let crv = jwk
                    .crv
                    .as_deref()
                    .ok_or(JwkError::MissingMember { member: "crv" })?;
                let curve =
                    Curve::from_jwk_name(crv).ok_or_else(|| JwkError::UnsupportedCurve {
                        crv: crv.to_owned(),
                    })?;
                let mut point = vec![0x04];
                for (member, value) in [("x", &jwk.x), ("y", &jwk.y)] {
                    let bytes = b64(value.as_deref(), member)?;
                    if bytes.len() != curve.coordinate_len() {
                        return Err(JwkError::BadCoordinateLength {
                            member,
                            crv: curve.jwk_name(),
                            expected: curve.coordinate_len(),
                            found: bytes.len(),
                        });
                    }
                    point.extend_from_slice(bytes.as_slice());
                }
                PublicKey::from_ec_point(curve, &point, 0, "JWK").map_err(key_to_jwk_error)?
            }
            other => {
                return Err(JwkError::UnsupportedKeyType {
                    kty: other.to_owned(),
                });
            }
        };
        match alg {
            None => Ok(key),
            Some(alg) => {
                let describe = key.describe();
                key.pinned_to(alg).ok_or(JwkError::AlgorithmMismatch {
                    alg: alg.name().to_owned(),
                    key: describe,
                })
            }
        }
    }
}

fn b64(value: Option<&str>, member: &'static str) -> Result<Vec<u8>, JwkError> {
    let value = value.ok_or(JwkError::MissingMember { member })?;
    URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| JwkError::BadBase64 { member })
}

fn strip_zeros(mut v: Vec<u8>) -> Vec<u8> {
    let zeros = v.iter().take_while(|&&b| b == 0).count();
    v.drain(..zeros);
    v
}

fn key_to_jwk_error(e: KeyError) -> JwkError {
    JwkError::InvalidKey {
        reason: match e {
            KeyError::RsaKeySize { bits, .. } => {
                format!("{bits}-bit RSA modulus; 2048 to 8192 bits are supported")
            }
            KeyError::InvalidKey { reason, .. } => reason,
            other => other.to_string(),
        },
    }
}
