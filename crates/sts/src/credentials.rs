//! Temporary credentials in AWS's formats, with a self-contained session token.
//!
//! What STS hands out:
//! - an access key id `ASIA` + 16 base32 characters that encodes the account id the way
//!   AWS does (so `sts:GetAccessKeyInfo`-style decoders find the account);
//! - a 40-character secret access key;
//! - a session token: a versioned, AES-256-GCM sealed blob (base64) that carries
//!   everything about the session (role, session name, keys, times, session policy,
//!   source identity, web identity facts). Any replica that holds the same
//!   [`SessionKey`] can open it; there is no shared session table.
//!
//! Token layout (before base64): `"IRS2"` (version) ‖ key id (4 bytes, a SHA-256
//! prefix of the key, so a wrong key is told apart from a tampered token) ‖ nonce
//! (12 random bytes) ‖ AES-256-GCM(claims) ‖ tag. The version and key id are
//! authenticated as associated data. Version 2 carries the claims in a compact binary
//! layout (see `encoding.rs`); tokens of version 1 (`"IRS1"`, JSON claims), issued by
//! earlier releases, are still opened until they expire.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use irsa_sts::credentials::{issue, open, NewSession, SessionKey};
//!
//! let key = SessionKey::generate();
//! let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
//! let session = NewSession::new(
//!     "arn:aws:iam::123456789012:role/app/reader",
//!     "AROAEXAMPLEEXAMPLE123",
//!     "my-session",
//!     3600,
//! );
//! let creds = issue(&key, session, now).unwrap();
//! assert!(creds.access_key_id.starts_with("ASIA"));
//! let claims = open(&key, &creds.session_token, now).unwrap();
//! assert_eq!(claims.assumed_role_arn(), "arn:aws:sts::123456789012:assumed-role/reader/my-session");
//! ```

mod encoding;
mod format;

use std::fmt;
use std::time::SystemTime;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

pub use format::{
    account_from_access_key_id, assumed_role_arn, iso8601, new_access_key_id,
    new_secret_access_key, new_unique_id, role_name_from_arn, unix_seconds,
};

/// Version marker of the tokens this server issues: claims in the binary layout.
const VERSION_BINARY: &[u8; 4] = b"IRS2";
/// Version marker of earlier releases' tokens: JSON claims (opened, no longer issued).
const VERSION_JSON: &[u8; 4] = b"IRS1";
/// Bytes of the key id that follows the version marker.
const KEY_ID_LEN: usize = 4;
/// Upper bound of an accepted token (base64 text), far above any token we issue.
const MAX_TOKEN_LEN: usize = 64 * 1024;

/// Why a session token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// Not a token this server issued with this key: bad base64, unknown version, another
    /// key, altered bytes, or claims that do not parse. Callers answer
    /// `InvalidClientTokenId` ("The security token included in the request is invalid.").
    #[error("the session token is invalid (not issued by this server's session key, or altered)")]
    Invalid,
    /// Authentic but past its expiry. Callers answer `ExpiredToken`.
    #[error("the session token expired at {expired_at} (unix seconds)")]
    Expired {
        /// When it expired, unix seconds.
        expired_at: u64,
    },
    /// The session could not be sealed (the claims are too large or the system RNG failed).
    #[error("could not seal the session token: {0}")]
    Seal(&'static str),
}

/// The 256-bit key that seals and opens session tokens. Keep it secret; every replica
/// of the server must hold the same one (the store keeps it).
pub struct SessionKey {
    key: LessSafeKey,
    id: [u8; KEY_ID_LEN],
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionKey")
            .field("id", &format::hex(&self.id))
            .finish_non_exhaustive()
    }
}

impl SessionKey {
    /// Length of the key in bytes.
    pub const LEN: usize = 32;

    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> SessionKey {
        // AES-256 accepts every 32-byte string, so this cannot fail.
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).expect("AES-256 key of 32 bytes");
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest.as_ref()[..KEY_ID_LEN]);
        SessionKey {
            key: LessSafeKey::new(unbound),
            id,
        }
    }

    /// A key from a slice, `None` unless it is exactly 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<SessionKey> {
        let array: &[u8; 32] = bytes.try_into().ok()?;
        Some(SessionKey::from_bytes(array))
    }

    /// Fresh random key bytes from the system RNG (store them, then use [`from_bytes`]).
    ///
    /// [`from_bytes`]: SessionKey::from_bytes
    pub fn generate_bytes() -> [u8; 32] {
        let mut bytes = [0u8; 32];
        format::fill_random(&mut bytes);
        bytes
    }

    /// A fresh random key.
    pub fn generate() -> SessionKey {
        SessionKey::from_bytes(&SessionKey::generate_bytes())
    }

    /// A short public fingerprint of the key (hex), for logs.
    pub fn fingerprint(&self) -> String {
        format::hex(&self.id)
    }
}

/// What a new session grants: the input of [`issue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// The role ARN with its path: `arn:aws:iam::ACCOUNT:role/PATH/NAME`.
    pub role_arn: String,
    /// The role's unique id (`AROA...`).
    pub role_id: String,
    /// The `RoleSessionName`.
    pub session_name: String,
    /// Lifetime in seconds (already validated against the role).
    pub duration_seconds: u64,
    /// The inline session policy (`Policy` parameter), verbatim.
    pub session_policy: Option<String>,
    /// Managed session policies (`PolicyArns`).
    pub policy_arns: Vec<String>,
    /// `sts:SourceIdentity`, when the caller set one.
    pub source_identity: Option<String>,
    /// For web identity sessions: where the identity came from.
    pub web_identity: Option<WebIdentity>,
}

impl NewSession {
    /// A session with no session policies and no web identity.
    pub fn new(
        role_arn: impl Into<String>,
        role_id: impl Into<String>,
        session_name: impl Into<String>,
        duration_seconds: u64,
    ) -> NewSession {
        NewSession {
            role_arn: role_arn.into(),
            role_id: role_id.into(),
            session_name: session_name.into(),
            duration_seconds,
            session_policy: None,
            policy_arns: Vec::new(),
            source_identity: None,
            web_identity: None,
        }
    }
}

/// Facts about the web identity a session was obtained with (they become the condition
/// keys `aws:FederatedProvider` and friends in later requests).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebIdentity {
    /// The IAM OIDC provider ARN.
    #[serde(rename = "p")]
    pub provider_arn: String,
    /// The token's `sub`.
    #[serde(rename = "s")]
    pub subject: String,
    /// The matched audience.
    #[serde(rename = "a")]
    pub audience: String,
}

/// What an opened session token says. `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionClaims {
    /// The role ARN with its path.
    #[serde(rename = "r")]
    pub role_arn: String,
    /// The role's unique id (`AROA...`).
    #[serde(rename = "i")]
    pub role_id: String,
    /// The `RoleSessionName`.
    #[serde(rename = "n")]
    pub session_name: String,
    /// The access key id this token belongs to (`ASIA...`).
    #[serde(rename = "k")]
    pub access_key_id: String,
    /// The secret access key that signs requests of this session.
    #[serde(rename = "x")]
    pub secret_access_key: String,
    /// Issue time, unix seconds.
    #[serde(rename = "t")]
    pub issued_at: u64,
    /// Expiry, unix seconds.
    #[serde(rename = "e")]
    pub expires_at: u64,
    /// Inline session policy.
    #[serde(rename = "sp", default, skip_serializing_if = "Option::is_none")]
    pub session_policy: Option<String>,
    /// Managed session policy ARNs.
    #[serde(rename = "pa", default, skip_serializing_if = "Vec::is_empty")]
    pub policy_arns: Vec<String>,
    /// `sts:SourceIdentity`.
    #[serde(rename = "si", default, skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<String>,
    /// Web identity facts, for sessions from AssumeRoleWithWebIdentity.
    #[serde(rename = "w", default, skip_serializing_if = "Option::is_none")]
    pub web_identity: Option<WebIdentity>,
}

impl fmt::Debug for SessionClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionClaims")
            .field("role_arn", &self.role_arn)
            .field("role_id", &self.role_id)
            .field("session_name", &self.session_name)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .field("session_policy", &self.session_policy)
            .field("policy_arns", &self.policy_arns)
            .field("source_identity", &self.source_identity)
            .field("web_identity", &self.web_identity)
            .finish()
    }
}

impl SessionClaims {
    /// The account that owns the role.
    pub fn account_id(&self) -> &str {
        format::arn_account(&self.role_arn)
    }

    /// The role name without its path.
    pub fn role_name(&self) -> &str {
        role_name_from_arn(&self.role_arn)
    }

    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION` (no role path, as AWS).
    pub fn assumed_role_arn(&self) -> String {
        assumed_role_arn(&self.role_arn, &self.session_name)
    }

    /// `ROLEID:SESSION`, the `AssumedRoleId` / `aws:userid`.
    pub fn assumed_role_id(&self) -> String {
        [self.role_id.as_str(), ":", &self.session_name].concat()
    }
}

/// Credentials to hand to the caller. `Debug` hides the secret and the token.
#[derive(Clone, PartialEq, Eq)]
pub struct TemporaryCredentials {
    /// `ASIA...`, 20 characters.
    pub access_key_id: String,
    /// 40 characters.
    pub secret_access_key: String,
    /// The sealed session token (base64).
    pub session_token: String,
    /// Expiry, unix seconds.
    pub expiration: u64,
    /// The claims sealed in the token.
    pub claims: SessionClaims,
}

impl fmt::Debug for TemporaryCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TemporaryCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &"<redacted>")
            .field("expiration", &self.expiration)
            .finish()
    }
}

impl TemporaryCredentials {
    /// The expiry as AWS writes it: `2021-08-16T20:52:53Z`.
    pub fn expiration_iso8601(&self) -> String {
        iso8601(self.expiration)
    }
}

/// Mints credentials for a session: fresh keys (the access key id encodes the role's
/// account), sealed into a session token that [`open`] accepts until the expiry.
pub fn issue(
    key: &SessionKey,
    session: NewSession,
    now: SystemTime,
) -> Result<TemporaryCredentials, CredentialError> {
    let issued_at = unix_seconds(now);
    let expires_at = issued_at.saturating_add(session.duration_seconds);
    let account = format::arn_account(&session.role_arn);
    let claims = SessionClaims {
        access_key_id: new_access_key_id("ASIA", account),
        secret_access_key: new_secret_access_key(),
        role_arn: session.role_arn,
        role_id: session.role_id,
        session_name: session.session_name,
        issued_at,
        expires_at,
        session_policy: session.session_policy,
        policy_arns: session.policy_arns,
        source_identity: session.source_identity,
        web_identity: session.web_identity,
    };
    let session_token = seal(key, &claims)?;
    Ok(TemporaryCredentials {
        access_key_id: claims.access_key_id.clone(),
        secret_access_key: claims.secret_access_key.clone(),
        session_token,
        expiration: expires_at,
        claims,
    })
}

/// Seals claims into a token as [`issue`] does (exposed for tests and tooling that need
/// a token with chosen keys or times).
pub fn seal(key: &SessionKey, claims: &SessionClaims) -> Result<String, CredentialError> {
    // Sized for the usual claims (about 300 bytes) and the tag, so it does not regrow.
    let mut buf = Vec::with_capacity(512);
    encoding::encode(claims, &mut buf)
        .map_err(|_| CredentialError::Seal("a claim is longer than 65,535 bytes"))?;
    let mut nonce = [0u8; NONCE_LEN];
    format::fill_random(&mut nonce);
    let aad = header(key, VERSION_BINARY);
    key.key
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&aad),
            &mut buf,
        )
        .map_err(|_| CredentialError::Seal("AES-256-GCM seal failed"))?;
    let mut out = Vec::with_capacity(aad.len() + NONCE_LEN + buf.len());
    out.extend_from_slice(&aad);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&buf);
    Ok(STANDARD.encode(out))
}

/// Opens a session token: checks the version, the key, the authentication tag and the
/// expiry (`now < expires_at`). Whitespace around the token is ignored.
pub fn open(
    key: &SessionKey,
    token: &str,
    now: SystemTime,
) -> Result<SessionClaims, CredentialError> {
    let claims = open_ignoring_expiry(key, token)?;
    if unix_seconds(now) >= claims.expires_at {
        return Err(CredentialError::Expired {
            expired_at: claims.expires_at,
        });
    }
    Ok(claims)
}

/// [`open`] for a signed request: the token must also belong to `access_key_id`.
pub fn open_for(
    key: &SessionKey,
    access_key_id: &str,
    token: &str,
    now: SystemTime,
) -> Result<SessionClaims, CredentialError> {
    let claims = open(key, token, now)?;
    if aws_lc_rs::constant_time::verify_slices_are_equal(
        claims.access_key_id.as_bytes(),
        access_key_id.as_bytes(),
    )
    .is_err()
    {
        return Err(CredentialError::Invalid);
    }
    Ok(claims)
}

/// Opens a token without looking at its expiry (authenticity only).
pub fn open_ignoring_expiry(
    key: &SessionKey,
    token: &str,
) -> Result<SessionClaims, CredentialError> {
    let token = token.trim();
    if token.len() > MAX_TOKEN_LEN {
        return Err(CredentialError::Invalid);
    }
    let mut raw = STANDARD
        .decode(token)
        .map_err(|_| CredentialError::Invalid)?;
    let head = VERSION_BINARY.len() + KEY_ID_LEN;
    if raw.len() < head + NONCE_LEN + AES_256_GCM.tag_len() {
        return Err(CredentialError::Invalid);
    }
    let version = match &raw[..4] {
        v if v == VERSION_BINARY => VERSION_BINARY,
        v if v == VERSION_JSON => VERSION_JSON,
        _ => return Err(CredentialError::Invalid),
    };
    let aad = header(key, version);
    if raw[..head] != aad[..] {
        return Err(CredentialError::Invalid);
    }
    let nonce = Nonce::try_assume_unique_for_key(&raw[head..head + NONCE_LEN])
        .map_err(|_| CredentialError::Invalid)?;
    let sealed = &mut raw[head + NONCE_LEN..];
    let plain = key
        .key
        .open_in_place(nonce, Aad::from(&aad), sealed)
        .map_err(|_| CredentialError::Invalid)?;
    if version == VERSION_BINARY {
        encoding::decode(plain).ok_or(CredentialError::Invalid)
    } else {
        serde_json::from_slice(plain).map_err(|_| CredentialError::Invalid)
    }
}

/// The associated data: the version marker and the key id.
fn header(key: &SessionKey, version: &[u8; 4]) -> [u8; 8] {
    let mut aad = [0u8; 8];
    aad[..4].copy_from_slice(version);
    aad[4..].copy_from_slice(&key.id);
    aad
}

#[cfg(test)]
mod tests;
