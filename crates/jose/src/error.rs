//! Typed errors for keys and JWKs. Messages say what was found and what to do; they never
//! contain key material. Block numbers are 1-based positions of PEM blocks in the input.

/// Why key input (PEM) could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The input holds no PEM block at all.
    #[error("no PEM key found: {found}")]
    NoPemBlock {
        /// What the input looks like instead (empty, an OpenSSH key, JSON, DER...).
        found: String,
    },
    /// A PEM block is structurally broken.
    #[error("malformed PEM (block {index}): {reason}")]
    MalformedPem {
        /// Block number (0 when the whole input is unreadable).
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// A private key is password-protected.
    #[error(
        "block {index} ({label}) is an encrypted private key; decrypt it first, e.g. \
         `openssl pkey -in KEY -out plain.pem` (keep the result mode 0600)"
    )]
    Encrypted {
        /// Block number.
        index: usize,
        /// The PEM label.
        label: String,
    },
    /// A PEM block of a kind that holds no usable key.
    #[error("block {index} is a \"{label}\" block, which is not a supported key{hint}")]
    UnsupportedBlock {
        /// Block number.
        index: usize,
        /// The PEM label.
        label: String,
        /// Extra advice, starting with "; " when present.
        hint: String,
    },
    /// The key is of an algorithm JWT signing here does not support (Ed25519, DSA, ...).
    #[error(
        "block {index} ({label}) holds a key of type {found}; only RSA and ECDSA P-256/P-384/P-521 keys \
         can sign service-account tokens"
    )]
    UnsupportedKeyType {
        /// Block number.
        index: usize,
        /// The PEM label.
        label: String,
        /// The key algorithm that was found.
        found: String,
    },
    /// An EC key on a curve that is not supported (secp256k1, brainpool, ...).
    #[error(
        "block {index} ({label}) is an EC key on curve {curve}; only P-256, P-384 and P-521 \
         are supported (generate one with `irsa keys generate --algorithm ec-p256`)"
    )]
    UnsupportedCurve {
        /// Block number.
        index: usize,
        /// The PEM label.
        label: String,
        /// The curve that was found.
        curve: String,
    },
    /// An RSA key whose size is outside 2048..=8192 bits.
    #[error(
        "block {index} ({label}) is a {bits}-bit RSA key; 2048 to 8192 bits are supported \
         (generate one with `irsa keys generate --algorithm rsa2048`)"
    )]
    RsaKeySize {
        /// Block number.
        index: usize,
        /// The PEM label.
        label: String,
        /// The modulus size found.
        bits: usize,
    },
    /// The block has the right label but its contents are not a valid key.
    #[error("block {index} ({label}) is not a valid {expected}: {reason}")]
    InvalidKey {
        /// Block number.
        index: usize,
        /// The PEM label.
        label: String,
        /// What the label promised.
        expected: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// Key generation failed inside the crypto library.
    #[error("key generation failed in aws-lc-rs")]
    Generation,
}

/// Why a JWK could not be turned into a verification key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwkError {
    /// A required member is absent or not a string.
    #[error("JWK is missing the member \"{member}\"")]
    MissingMember {
        /// The member name.
        member: &'static str,
    },
    /// A member is not valid unpadded base64url.
    #[error("JWK member \"{member}\" is not unpadded base64url")]
    BadBase64 {
        /// The member name.
        member: &'static str,
    },
    /// `kty` is not RSA or EC.
    #[error("JWK key type {kty:?} is not supported (only \"RSA\" and \"EC\")")]
    UnsupportedKeyType {
        /// The `kty` found.
        kty: String,
    },
    /// `crv` is not P-256, P-384 or P-521.
    #[error("JWK curve {crv:?} is not supported (only P-256, P-384, P-521)")]
    UnsupportedCurve {
        /// The `crv` found.
        crv: String,
    },
    /// `alg` names an algorithm not supported here.
    #[error("JWK alg {alg:?} is not supported (RS256, RS384, RS512, ES256, ES384, ES512)")]
    UnsupportedAlgorithm {
        /// The `alg` found.
        alg: String,
    },
    /// `alg` does not fit the key type or curve (e.g. ES256 on an RSA key).
    #[error("JWK alg {alg} cannot be used with a {key} key")]
    AlgorithmMismatch {
        /// The `alg` found.
        alg: String,
        /// The key type/curve.
        key: String,
    },
    /// `use` is present and not `sig`.
    #[error("JWK use {use_:?} is not \"sig\"; it cannot verify signatures")]
    NotForSigning {
        /// The `use` found.
        use_: String,
    },
    /// A coordinate has the wrong length for its curve.
    #[error("JWK member \"{member}\" is {found} bytes; {crv} needs exactly {expected}")]
    BadCoordinateLength {
        /// `x` or `y`.
        member: &'static str,
        /// The curve.
        crv: &'static str,
        /// The length required.
        expected: usize,
        /// The length found.
        found: usize,
    },
    /// The numbers do not form a valid public key (point not on curve, bad modulus...).
    #[error("JWK does not describe a valid public key: {reason}")]
    InvalidKey {
        /// What aws-lc-rs said.
        reason: String,
    },
    /// The JSON is not a JWK / JWKS.
    #[error("not a JWK or JWK Set: {reason}")]
    Json {
        /// The JSON error, with line and column.
        reason: String,
    },
}
