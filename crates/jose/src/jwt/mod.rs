//! Compact JWS tokens: decode, sign, verify (RFC 7515/7519).

mod error;
mod verify;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::alg::Algorithm;
use crate::keys::PrivateKey;

pub use error::JwtError;
pub use verify::{
    SkippedKey, Validation, VerifiedToken, VerifyingKeys, validate_claims, verify, verify_decoded,
};

/// Tokens longer than this are rejected before any parsing (AWS STS accepts up to 20 000
/// characters; Kubernetes tokens are about 1 KB).
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// A JWS protected header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// `alg`, exactly as written (may name an unsupported algorithm in a decoded token).
    pub alg: String,
    /// `kid`, when present.
    pub kid: Option<String>,
    /// `typ`, when present (kube-apiserver writes none).
    pub typ: Option<String>,
    /// Every other member, in order (`crit`, `jku`, ...). Never used to find keys.
    pub other: Map<String, Value>,
}

impl Header {
    /// A header with `alg` and optional `kid` only, as kube-apiserver writes it.
    pub fn new(alg: Algorithm, kid: Option<String>) -> Self {
        Header {
            alg: alg.name().to_owned(),
            kid,
            typ: None,
            other: Map::new(),
        }
    }

    /// The header kube-apiserver would write for `key`: its algorithm and Kubernetes kid.
    pub fn for_key(key: &PrivateKey) -> Self {
        Header::new(key.algorithm(), Some(key.kid().to_owned()))
    }

    /// The supported algorithm named by `alg`, or [`JwtError::UnsupportedAlgorithm`].
    pub fn algorithm(&self) -> Result<Algorithm, JwtError> {
        self.alg
            .parse()
            .map_err(|_| JwtError::UnsupportedAlgorithm {
                alg: self.alg.clone(),
            })
    }

    /// The header as a JSON object (`alg`, `kid`, `typ`, then the other members).
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("alg".into(), Value::String(self.alg.clone()));
        if let Some(kid) = &self.kid {
            map.insert("kid".into(), Value::String(kid.clone()));
        }
        if let Some(typ) = &self.typ {
            map.insert("typ".into(), Value::String(typ.clone()));
        }
        for (k, v) in &self.other {
            map.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Value::Object(map)
    }

    fn from_json(value: Value) -> Result<Self, JwtError> {
        let Value::Object(mut map) = value else {
            return Err(malformed("the header is not a JSON object"));
        };
        let alg = match map.remove("alg") {
            Some(Value::String(s)) => s,
            Some(_) => return Err(malformed("the header's \"alg\" is not a string")),
            None => return Err(malformed("the header has no \"alg\"")),
        };
        let mut text = |name: &str| match map.remove(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(malformed(&format!(
                "the header's \"{name}\" is not a string"
            ))),
        };
        let kid = text("kid")?;
        let typ = text("typ")?;
        Ok(Header {
            alg,
            kid,
            typ,
            other: map,
        })
    }
}

/// A compact JWS split and decoded, NOT verified: read it to route (e.g. `iss` picks the
/// keys), then hand it to [`VerifyingKeys::verify_decoded`] so the token is not decoded twice.
#[derive(Debug, Clone)]
pub struct DecodedToken<'a> {
    pub(crate) header: Header,
    pub(crate) claims: Value,
    pub(crate) signing_input: &'a [u8],
    pub(crate) signature: Vec<u8>,
}

impl DecodedToken<'_> {
    /// The header (unverified).
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The claims (unverified); always a JSON object.
    pub fn claims(&self) -> &Value {
        &self.claims
    }
}

/// Splits and decodes a compact JWS without verifying anything (see [`DecodedToken`]).
pub fn decode(token: &str) -> Result<DecodedToken<'_>, JwtError> {
    split(token)
}

pub(crate) fn split(token: &str) -> Result<DecodedToken<'_>, JwtError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JwtError::TooLarge {
            len: token.len(),
            max: MAX_TOKEN_BYTES,
        });
    }
    let token = token.trim_ascii();
    let mut pieces = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (pieces.next(), pieces.next(), pieces.next(), pieces.next())
    else {
        let n = token.split('.').count();
        return Err(malformed(&format!(
            "a JWT has 3 dot-separated parts, this has {n}"
        )));
    };
    let header = Header::from_json(json_part(h, "header")?)?;
    let claims = json_part(p, "payload")?;
    if !claims.is_object() {
        return Err(malformed("the payload is not a JSON object"));
    }
    let signature = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| malformed("the signature is not unpadded base64url"))?;
    Ok(DecodedToken {
        header,
        claims,
        signing_input: &token.as_bytes()[..h.len() + 1 + p.len()],
        signature,
    })
}

fn json_part(b64: &str, what: &str) -> Result<Value, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| malformed(&format!("the {what} is not unpadded base64url")))?;
    serde_json::from_slice(&bytes).map_err(|e| malformed(&format!("the {what} is not JSON: {e}")))
}

pub(crate) fn malformed(reason: &str) -> JwtError {
    JwtError::Malformed {
        reason: reason.to_owned(),
    }
}

/// Decodes a token WITHOUT verifying anything: for display and for routing (reading `iss`
/// to pick a provider before fetching its keys). Never trust the result.
pub fn decode_unverified(token: &str) -> Result<(Header, Value), JwtError> {
    let parts = split(token)?;
    Ok((parts.header, parts.claims))
}

/// Signs `claims` (a JSON object) with `key` under `header`. The header's algorithm must be
/// one the key can produce (RS256/384/512 for RSA, the curve's ES* for EC).
pub fn sign(header: &Header, claims: &Value, key: &PrivateKey) -> Result<String, JwtError> {
    let alg = header.algorithm()?;
    if !claims.is_object() {
        return Err(malformed("the claims to sign are not a JSON object"));
    }
    let header_json = serde_json::to_vec(&header.to_json()).unwrap_or_default();
    let claims_json = serde_json::to_vec(claims).unwrap_or_default();
    let mut token = URL_SAFE_NO_PAD.encode(header_json);
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(claims_json));
    let signature =
        key.sign_bytes(alg, token.as_bytes())
            .ok_or_else(|| JwtError::KeyCannotSign {
                alg,
                key: key.public_key().describe(),
            })?;
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Ok(token)
}
