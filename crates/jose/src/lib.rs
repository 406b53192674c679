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
//! Supported: RSA 2048..=8192 bits (RS256/RS384/RS512; kube-apiserver signs RS256) and ECDSA
//! P-256/P-384/P-521 (ES256/ES384/ES512).

mod alg;
mod der;
mod error;
mod jwk;
mod keys;
mod pem;

pub use alg::{Algorithm, Curve, KeyAlgorithm, UnknownAlgorithm};
pub use error::{JwkError, KeyError};
pub use jwk::{Jwk, JwkSet};
pub use keys::{PemKey, PrivateKey, PublicKey, kid_from_spki, parse_pem, parse_private_pem};
pub use pem::{PemBlock, pem_blocks};
