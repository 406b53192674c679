//! Why a token could not be decoded, signed or verified.

use crate::alg::Algorithm;

/// A JWT failure. Each variant is distinct so callers can map it (the local STS maps them to
/// different AWS errors; `irsa token verify` prints each with its own explanation).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not a compact JWS: wrong number of parts, bad base64url, JSON that is not an object.
    #[error("malformed token: {reason}")]
    Malformed {
        /// What is wrong.
        reason: String,
    },
    /// The token is larger than [`crate::MAX_TOKEN_BYTES`].
    #[error("token is {len} bytes; at most {max} are accepted")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The header's `alg` is not an asymmetric algorithm supported here (`none`, `HS256`,
    /// `PS256`, ...). Such tokens are never verified.
    #[error(
        "token algorithm {alg:?} is not accepted (only RS256, RS384, RS512, ES256, ES384, ES512)"
    )]
    UnsupportedAlgorithm {
        /// The `alg` of the header.
        alg: String,
    },
    /// The algorithm is supported but not in [`crate::Validation::allowed_algorithms`].
    #[error("token algorithm {alg} is not allowed by this verifier")]
    AlgorithmNotAllowed {
        /// The algorithm.
        alg: Algorithm,
    },
    /// The header lists `crit` extensions, none of which are understood (RFC 7515 4.1.11).
    #[error("token header has critical extensions {names:?} that are not understood")]
    UnsupportedCritical {
        /// The extension names.
        names: Vec<String>,
    },
    /// No verification key has the token's `kid` (or, without kid, none has a matching type).
    #[error("{}", match kid {
        Some(kid) => format!("no key with kid {kid:?} in the key set (was the JWKS published after the signing key changed?)"),
        None => "token has no kid and no key in the key set can verify its algorithm".to_owned(),
    })]
    KeyNotFound {
        /// The token's `kid`, if it had one.
        kid: Option<String>,
    },
    /// A key with the token's `kid` exists but cannot be used with the header's algorithm
    /// (for example an RSA key and `alg: ES256`): a substituted algorithm is never trusted.
    #[error("key {kid:?} is a {key} key and cannot verify {alg} tokens")]
    KeyAlgorithmMismatch {
        /// The kid.
        kid: String,
        /// The header algorithm.
        alg: Algorithm,
        /// The key type (e.g. `RSA 2048-bit`, `EC P-256`), or its pinned algorithm.
        key: String,
    },
    /// The signature does not verify with any candidate key.
    #[error(
        "signature verification failed: the token was not signed by a key in the key set, or it was altered"
    )]
    BadSignature,
    /// `now > exp + leeway`.
    #[error("token expired at {exp}, {} s before now ({now}; allowed clock skew {leeway} s)", now.saturating_sub(*exp))]
    Expired {
        /// The `exp` claim.
        exp: i64,
        /// The time of the check.
        now: i64,
        /// The allowed clock skew.
        leeway: u64,
    },
    /// `now + leeway < nbf`.
    #[error("token is not valid before {nbf}, {} s after now ({now})", nbf.saturating_sub(*now))]
    NotYetValid {
        /// The `nbf` claim.
        nbf: i64,
        /// The time of the check.
        now: i64,
    },
    /// `iat` lies further in the future than the leeway allows.
    #[error("token claims to be issued at {iat}, {} s after now ({now})", iat.saturating_sub(*now))]
    IssuedInFuture {
        /// The `iat` claim.
        iat: i64,
        /// The time of the check.
        now: i64,
    },
    /// `now - iat` exceeds [`crate::Validation::max_age_secs`].
    #[error("token was issued at {iat}, more than {max_age} s before now ({now})")]
    TooOld {
        /// The `iat` claim.
        iat: i64,
        /// The time of the check.
        now: i64,
        /// The maximum age.
        max_age: u64,
    },
    /// `iss` differs (byte for byte) from the expected issuer.
    #[error(
        "token issuer {found:?} is not the expected issuer {expected:?} (they must match byte for byte, including any trailing slash)"
    )]
    WrongIssuer {
        /// The expected issuer.
        expected: String,
        /// The token's `iss`.
        found: String,
    },
    /// None of the token's audiences is accepted.
    #[error("token audience {found:?} does not contain any of {expected:?}")]
    WrongAudience {
        /// The accepted audiences.
        expected: Vec<String>,
        /// The token's `aud` values.
        found: Vec<String>,
    },
    /// A required claim is absent.
    #[error("token has no \"{claim}\" claim")]
    MissingClaim {
        /// The claim name.
        claim: String,
    },
    /// A claim has the wrong JSON type (e.g. `exp` as a string or a fraction).
    #[error("token claim \"{claim}\" is invalid: {reason}")]
    InvalidClaim {
        /// The claim name.
        claim: String,
        /// What is wrong.
        reason: String,
    },
    /// Signing was asked for with an algorithm the key cannot produce.
    #[error("a {key} key cannot sign {alg} tokens")]
    KeyCannotSign {
        /// The requested algorithm.
        alg: Algorithm,
        /// The key description.
        key: String,
    },
}
