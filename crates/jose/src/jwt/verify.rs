//! Verification: pre-parsed keys, key selection, signature, claims.

use std::collections::HashMap;

use aws_lc_rs::signature::ParsedPublicKey;
use serde_json::Value;

use super::{DecodedToken, Header, JwtError, split};
use crate::alg::Algorithm;
use crate::error::JwkError;
use crate::jwk::JwkSet;
use crate::keys::PublicKey;

/// What a token must satisfy besides its signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validation {
    /// The exact `iss` required (byte for byte); `None` skips the check.
    pub issuer: Option<String>,
    /// Accepted audiences: the token's `aud` (string or array) must contain at least one.
    /// Empty skips the check.
    pub audiences: Vec<String>,
    /// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds.
    pub leeway_secs: u64,
    /// Algorithms accepted at all (each key further restricts to what it allows).
    pub allowed_algorithms: Vec<Algorithm>,
    /// Whether a token without `exp` is rejected.
    pub require_exp: bool,
    /// Further claims that must be present (e.g. `sub`).
    pub required_claims: Vec<String>,
    /// When set, tokens whose `iat` is older than this are rejected (and `iat` is required).
    pub max_age_secs: Option<u64>,
}

impl Default for Validation {
    /// No issuer or audience check, 60 s leeway, every supported algorithm, `exp` required.
    fn default() -> Self {
        Validation {
            issuer: None,
            audiences: Vec::new(),
            leeway_secs: 60,
            allowed_algorithms: Algorithm::ALL.to_vec(),
            require_exp: true,
            required_claims: Vec::new(),
            max_age_secs: None,
        }
    }
}

impl Validation {
    /// Requires `issuer` and one of `audiences`, with the defaults otherwise.
    pub fn new<S: Into<String>>(
        issuer: impl Into<String>,
        audiences: impl IntoIterator<Item = S>,
    ) -> Self {
        Validation {
            issuer: Some(issuer.into()),
            audiences: audiences.into_iter().map(Into::into).collect(),
            ..Validation::default()
        }
    }
}

/// A token whose signature and claims passed.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedToken {
    /// The header.
    pub header: Header,
    /// The algorithm that verified.
    pub algorithm: Algorithm,
    /// The `kid` of the key-set entry that verified (`None` for an entry without kid).
    pub key_id: Option<String>,
    /// The claims (a JSON object).
    pub claims: Value,
}

impl VerifiedToken {
    /// A string claim.
    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name)?.as_str()
    }

    /// `iss`.
    pub fn issuer(&self) -> Option<&str> {
        self.claim_str("iss")
    }

    /// `sub`.
    pub fn subject(&self) -> Option<&str> {
        self.claim_str("sub")
    }

    /// `aud` as a list (a single string becomes one element).
    pub fn audiences(&self) -> Vec<String> {
        audiences_of(self.claims.get("aud")).unwrap_or_default()
    }

    /// An integer claim such as `exp`, `iat`, `nbf`.
    pub fn numeric(&self, name: &str) -> Option<i64> {
        self.claims.get(name)?.as_i64()
    }
}

/// A key-set entry that could not be used, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedKey {
    /// Its `kid`.
    pub kid: Option<String>,
    /// Why it was skipped.
    pub error: JwkError,
}

struct Entry {
    kid: Option<String>,
    key: PublicKey,
    parsed: Vec<(Algorithm, ParsedPublicKey)>,
}

/// Verification keys parsed once (aws-lc-rs `ParsedPublicKey` per allowed algorithm) and
/// indexed by `kid`, so that verifying many tokens costs only the signature check.
///
/// Key selection: a token with a `kid` is checked only against entries with that exact kid
/// (an entry with `kid: ""` matches only a token with `kid: ""`), falling back to entries that
/// have no `kid` member at all; a token without `kid` is checked against every entry. Among
/// those, only keys that allow the header's algorithm are tried (RSA keys: RS*, EC keys: their
/// curve's ES*, JWKs with `alg`: exactly that) — the header alone never chooses how a key is
/// used.
pub struct VerifyingKeys {
    entries: Vec<Entry>,
    by_kid: HashMap<String, Vec<usize>>,
    skipped: Vec<SkippedKey>,
}

impl std::fmt::Debug for VerifyingKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKeys")
            .field(
                "kids",
                &self.entries.iter().map(|e| &e.kid).collect::<Vec<_>>(),
            )
            .field("skipped", &self.skipped)
            .finish()
    }
}

impl VerifyingKeys {
    /// Parses every usable key of a JWKS. Unusable entries (other key types, `use: enc`,
    /// bad numbers) are skipped and listed in [`VerifyingKeys::skipped`], so one odd key does
    /// not make a whole issuer unusable.
    pub fn from_jwks(set: &JwkSet) -> Self {
        let mut keys = VerifyingKeys::empty();
        for jwk in &set.keys {
            match PublicKey::from_jwk(jwk) {
                Ok(key) => keys.push(jwk.kid.clone(), key),
                Err(error) => keys.skipped.push(SkippedKey {
                    kid: jwk.kid.clone(),
                    error,
                }),
            }
        }
        keys
    }

    /// Uses `keys` under their Kubernetes kids.
    pub fn from_public_keys(keys: impl IntoIterator<Item = PublicKey>) -> Self {
        let mut out = VerifyingKeys::empty();
        for key in keys {
            out.push(Some(key.kid().to_owned()), key);
        }
        out
    }

    fn empty() -> Self {
        VerifyingKeys {
            entries: Vec::new(),
            by_kid: HashMap::new(),
            skipped: Vec::new(),
        }
    }

    fn push(&mut self, kid: Option<String>, key: PublicKey) {
        let parsed = Algorithm::ALL
            .into_iter()
            .filter_map(|alg| Some((alg, key.parsed(alg)?)))
            .collect();
        if let Some(k) = &kid {
            self.by_kid
                .entry(k.clone())
                .or_default()
                .push(self.entries.len());
        }
        self.entries.push(Entry { kid, key, parsed });
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no key is usable.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The kids of the usable keys, in order.
    pub fn kids(&self) -> impl Iterator<Item = Option<&str>> {
        self.entries.iter().map(|e| e.kid.as_deref())
    }

    /// The entries that could not be used.
    pub fn skipped(&self) -> &[SkippedKey] {
        &self.skipped
    }

    /// Verifies `token` (see [`verify`]).
    pub fn verify(
        &self,
        token: &str,
        validation: &Validation,
        now_unix: i64,
    ) -> Result<VerifiedToken, JwtError> {
        verify(token, self, validation, now_unix)
    }

    /// [`VerifyingKeys::verify`] for a token already split by [`super::decode`].
    pub fn verify_decoded(
        &self,
        token: DecodedToken<'_>,
        validation: &Validation,
        now_unix: i64,
    ) -> Result<VerifiedToken, JwtError> {
        verify_decoded(token, self, validation, now_unix)
    }

    fn candidates(&self, kid: Option<&str>) -> Vec<&Entry> {
        match kid {
            None => self.entries.iter().collect(),
            Some(kid) => match self.by_kid.get(kid) {
                Some(idx) => idx.iter().map(|&i| &self.entries[i]).collect(),
                None => self.entries.iter().filter(|e| e.kid.is_none()).collect(),
            },
        }
    }
}

/// Verifies a compact JWS: structure, algorithm (allowed by the validation AND by the key),
/// key selection by `kid`, signature, then the claims ([`validate_claims`]). `now_unix` is
/// the current time in seconds; the core never reads a clock.
pub fn verify(
    token: &str,
    keys: &VerifyingKeys,
    validation: &Validation,
    now_unix: i64,
) -> Result<VerifiedToken, JwtError> {
    verify_decoded(split(token)?, keys, validation, now_unix)
}

/// [`verify`] for a token already split by [`super::decode`].
pub fn verify_decoded(
    parts: DecodedToken<'_>,
    keys: &VerifyingKeys,
    validation: &Validation,
    now_unix: i64,
) -> Result<VerifiedToken, JwtError> {
    let alg = parts.header.algorithm()?;
    if !validation.allowed_algorithms.contains(&alg) {
        return Err(JwtError::AlgorithmNotAllowed { alg });
    }
    if let Some(crit) = parts.header.other.get("crit") {
        let names = match crit {
            Value::Array(items) => items
                .iter()
                .map(|v| v.as_str().unwrap_or("?").to_owned())
                .collect(),
            _ => vec![crit.to_string()],
        };
        return Err(JwtError::UnsupportedCritical { names });
    }
    let kid = parts.header.kid.as_deref();
    let by_kid = keys.candidates(kid);
    let usable: Vec<_> = by_kid.iter().filter(|e| e.key.allows(alg)).collect();
    if usable.is_empty() {
        return Err(match (kid, by_kid.first()) {
            (Some(kid), Some(entry)) => JwtError::KeyAlgorithmMismatch {
                kid: kid.to_owned(),
                alg,
                key: if !entry.key.is_pinned() {
                    entry.key.describe()
                } else {
                    format!("{} ({} only)", entry.key.describe(), entry.key.algorithm())
                },
            },
            _ => JwtError::KeyNotFound {
                kid: kid.map(str::to_owned),
            },
        });
    }
    let verified = usable.iter().find(|entry| {
        entry
            .parsed
            .iter()
            .find(|(a, _)| *a == alg)
            .is_some_and(|(_, key)| {
                key.verify_sig(parts.signing_input, &parts.signature)
                    .is_ok()
            })
    });
    let Some(entry) = verified else {
        return Err(JwtError::BadSignature);
    };
    validate_claims(&parts.claims, validation, now_unix)?;
    Ok(VerifiedToken {
        header: parts.header,
        algorithm: alg,
        key_id: entry.kid.clone(),
        claims: parts.claims,
    })
}

/// Checks the claims of an already verified (or, for diagnostics, decoded) token: required
/// claims, `iss`, `aud`, `exp`, `nbf`, `iat` (not in the future, and not older than
/// `max_age_secs` when set), in that order. NumericDates must be integers.
pub fn validate_claims(
    claims: &Value,
    validation: &Validation,
    now_unix: i64,
) -> Result<(), JwtError> {
    let mut required: Vec<&str> = validation
        .required_claims
        .iter()
        .map(String::as_str)
        .collect();
    if validation.issuer.is_some() {
        required.push("iss");
    }
    if !validation.audiences.is_empty() {
        required.push("aud");
    }
    if validation.require_exp {
        required.push("exp");
    }
    if validation.max_age_secs.is_some() {
        required.push("iat");
    }
    if let Some(missing) = required
        .iter()
        .find(|c| claims.get(**c).is_none_or(Value::is_null))
    {
        return Err(JwtError::MissingClaim {
            claim: (*missing).to_owned(),
        });
    }
    if let Some(expected) = &validation.issuer {
        let found = claims
            .get("iss")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("iss", "not a string"))?;
        if found != expected {
            return Err(JwtError::WrongIssuer {
                expected: expected.clone(),
                found: found.to_owned(),
            });
        }
    }
    if !validation.audiences.is_empty() {
        let found = audiences_of(claims.get("aud"))
            .ok_or_else(|| invalid("aud", "not a string or an array of strings"))?;
        if !found.iter().any(|a| validation.audiences.contains(a)) {
            return Err(JwtError::WrongAudience {
                expected: validation.audiences.clone(),
                found,
            });
        }
    }
    let leeway = i64::try_from(validation.leeway_secs).unwrap_or(i64::MAX);
    if let Some(exp) = numeric_date(claims, "exp")?
        && now_unix > exp.saturating_add(leeway)
    {
        return Err(JwtError::Expired {
            exp,
            now: now_unix,
            leeway: validation.leeway_secs,
        });
    }
    if let Some(nbf) = numeric_date(claims, "nbf")?
        && now_unix.saturating_add(leeway) < nbf
    {
        return Err(JwtError::NotYetValid { nbf, now: now_unix });
    }
    if let Some(iat) = numeric_date(claims, "iat")? {
        if now_unix.saturating_add(leeway) < iat {
            return Err(JwtError::IssuedInFuture { iat, now: now_unix });
        }
        if let Some(max_age) = validation.max_age_secs
            && now_unix.saturating_sub(iat) > i64::try_from(max_age).unwrap_or(i64::MAX)
        {
            return Err(JwtError::TooOld {
                iat,
                now: now_unix,
                max_age,
            });
        }
    }
    Ok(())
}

fn numeric_date(claims: &Value, name: &str) -> Result<Option<i64>, JwtError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| invalid(name, "not an integer NumericDate (seconds since 1970)")),
        Some(_) => Err(invalid(name, "not a number")),
    }
}

fn audiences_of(aud: Option<&Value>) -> Option<Vec<String>> {
    match aud? {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => None,
    }
}

fn invalid(claim: &str, reason: &str) -> JwtError {
    JwtError::InvalidClaim {
        claim: claim.to_owned(),
        reason: reason.to_owned(),
    }
}
