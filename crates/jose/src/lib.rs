//! `irsa-jose`: keys, JWK/JWKS and JWTs for Kubernetes service-account tokens.
//!
//! A pure core: no I/O, no clock. Callers read files and pass bytes; they pass the current
//! time to verification as `now_unix`.
//!
//! # Keys
//! - [`parse_pem`] reads every key in a PEM file (PKCS#1, PKCS#8, SEC1, SPKI, PKCS#1 public,
//!   X.509 certificates); [`parse_private_pem`] wants exactly one private key.
//! - [`PrivateKey::generate`] makes RSA 2048/3072/4096 or EC P-256/P-384 keys with aws-lc-rs.
//! - [`PublicKey::kid`] is the Kubernetes key id: unpadded base64url of SHA-256 over the
//!   canonical DER SubjectPublicKeyInfo, as kube-apiserver computes it.
//! - [`PublicKey::to_jwk`] / [`PublicKey::from_jwk`], [`JwkSet::from_public_keys`].
//!
//! # Tokens
//! - [`sign`] with a [`Header`] (e.g. [`Header::for_key`]: `alg` + Kubernetes `kid`).
//! - [`VerifyingKeys::from_jwks`] pre-parses a JWKS once; [`verify`] checks structure, the
//!   algorithm (allowed by [`Validation`] AND by the key: RSA keys verify only RS*, EC keys only
//!   their curve's ES*, so `none`, `HS*` and algorithm substitution are rejected), the `kid`,
//!   the signature, then the claims ([`validate_claims`]). Tokens without `kid` are tried
//!   against every key whose algorithm matches.
//! - [`decode_unverified`] for display and routing only.
//! - [`JwtError`] has one variant per failure (expired, wrong audience, unknown kid, ...).
//!
//! - [`ServiceAccountClaims`] builds the claims kube-apiserver puts in a pod-bound token.
//!
//! Supported: RSA 2048..=8192 bits (RS256/RS384/RS512; kube-apiserver signs RS256) and ECDSA
//! P-256/P-384/P-521 (ES256/ES384/ES512).

mod alg;
mod der;
mod error;
mod jwk;
mod jwt;
mod keys;
mod kube;
mod pem;

pub use alg::{Algorithm, Curve, KeyAlgorithm, UnknownAlgorithm};
pub use error::{JwkError, KeyError};
pub use jwk::{Jwk, JwkSet};
pub use jwt::{
    DecodedToken, Header, JwtError, MAX_TOKEN_BYTES, SkippedKey, Validation, VerifiedToken,
    VerifyingKeys, decode, decode_unverified, sign, validate_claims, verify, verify_decoded,
};
pub use keys::{PemKey, PrivateKey, PublicKey, kid_from_spki, parse_pem, parse_private_pem};
pub use kube::{ObjectRef, ServiceAccountClaims, random_uuid, service_account_subject};
pub use pem::{PemBlock, pem_blocks};
