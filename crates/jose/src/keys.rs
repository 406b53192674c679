//! Signing and verification keys: generation, PEM parsing, the Kubernetes `kid`.

use std::fmt;

use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair as _, ParsedPublicKey, RsaKeyPair, RsaSubjectPublicKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::alg::{Algorithm, Curve, KeyAlgorithm};
use crate::der;
use crate::error::KeyError;
use crate::pem::{PemBlock, pem_blocks};

const RSA_MIN_BITS: usize = 2048;
const RSA_MAX_BITS: usize = 8192;

/// The public numbers of a key.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Material {
    /// RSA modulus and exponent, big-endian without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// Uncompressed EC point `04 || x || y`.
    Ec { curve: Curve, point: Vec<u8> },
}

/// A verification key (RSA or ECDSA P-256/P-384/P-521).
///
/// It carries its canonical DER SubjectPublicKeyInfo (re-encoded, whatever the input format)
/// and the Kubernetes key id computed from it.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    material: Material,
    spki: Vec<u8>,
    kid: String,
    algorithm: Algorithm,
    pinned: bool,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("type", &self.describe())
            .field("kid", &self.kid)
            .field("alg", &self.algorithm)
            .finish()
    }
}

/// The Kubernetes key id: unpadded base64url of SHA-256 over the DER SubjectPublicKeyInfo
/// (kube-apiserver `keyIDFromPublicKey`). Always 43 characters.
pub fn kid_from_spki(spki_der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, spki_der))
}

impl PublicKey {
    /// The Kubernetes `kid` of this key (see [`kid_from_spki`]). This is computed from the key,
    /// never taken from a JWK's `kid` member.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The canonical DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// The key as a `PUBLIC KEY` PEM block (what `openssl pkey -pubout` writes).
    pub fn to_spki_pem(&self) -> String {
        pem_encode("PUBLIC KEY", &self.spki)
    }

    /// The algorithm this key signs/verifies with by default: RS256 for RSA keys (as
    /// kube-apiserver), the curve's algorithm for EC keys; or the one pinned by a JWK `alg`.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Whether a token signed with `alg` may be verified with this key. RSA keys allow
    /// RS256/RS384/RS512, EC keys only their curve's algorithm; a key read from a JWK with an
    /// `alg` member allows exactly that one.
    pub fn allows(&self, alg: Algorithm) -> bool {
        if self.pinned {
            return alg == self.algorithm;
        }
        match &self.material {
            Material::Rsa { .. } => alg.is_rsa(),
            Material::Ec { curve, .. } => alg == curve.algorithm(),
        }
    }

    /// True when a JWK `alg` restricted this key to one algorithm.
    pub fn is_pinned(&self) -> bool {
        self.pinned
    }

    /// True for RSA keys.
    pub fn is_rsa(&self) -> bool {
        matches!(self.material, Material::Rsa { .. })
    }

    /// A short human description: `RSA 2048-bit` or `EC P-256`.
    pub fn describe(&self) -> String {
        match &self.material {
            Material::Rsa { n, .. } => format!("RSA {}-bit", bit_len(n)),
            Material::Ec { curve, .. } => format!("EC {}", curve.jwk_name()),
        }
    }

    /// Parses a DER SubjectPublicKeyInfo (RSA or EC).
    pub fn from_spki_der(spki: &[u8]) -> Result<Self, KeyError> {
        public_from_spki(spki, 0, "PUBLIC KEY")
    }

    pub(crate) fn material(&self) -> &Material {
        &self.material
    }

    /// Returns this key restricted to `alg` (what a JWK `alg` member does).
    pub(crate) fn pinned_to(mut self, alg: Algorithm) -> Option<Self> {
        if !self.allows(alg) {
            return None;
        }
        self.algorithm = alg;
        self.pinned = true;
        Some(self)
    }

    /// Pre-parses the key for `alg` (the algorithm must be allowed).
    pub(crate) fn parsed(&self, alg: Algorithm) -> Option<ParsedPublicKey> {
        if !self.allows(alg) {
            return None;
        }
        ParsedPublicKey::new(alg.verification(), &self.spki).ok()
    }

    pub(crate) fn from_rsa(
        public: &RsaSubjectPublicKey,
        index: usize,
        label: &str,
    ) -> Result<Self, KeyError> {
        let n = public.modulus().big_endian_without_leading_zero().to_vec();
        let e = public.exponent().big_endian_without_leading_zero().to_vec();
        let bits = bit_len(&n);
        if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
            return Err(KeyError::RsaKeySize {
                index,
                label: label.to_owned(),
                bits,
            });
        }
        let spki = public
            .as_der()
            .map_err(|_| invalid(index, label, "RSA public key", "cannot encode it as SPKI"))?
            .as_ref()
            .to_vec();
        Ok(Self::new(Material::Rsa { n, e }, spki))
    }

    pub(crate) fn from_ec_point(
        curve: Curve,
        point: &[u8],
        index: usize,
        label: &str,
    ) -> Result<Self, KeyError> {
        let coord = curve.coordinate_len();
        if point.first() != Some(&0x04) || point.len() != 1 + 2 * coord {
            return Err(invalid(
                index,
                label,
                "EC public key",
                "the point is not uncompressed (re-export it with `openssl ec -conv_form \
                 uncompressed`)",
            ));
        }
        let parsed = ParsedPublicKey::new(curve.algorithm().verification(), point)
            .map_err(|e| invalid(index, label, "EC public key", &e.to_string()))?;
        let spki = parsed
            .as_der()
            .map_err(|_| invalid(index, label, "EC public key", "cannot encode it as SPKI"))?
            .as_ref()
            .to_vec();
        Ok(Self::new(
            Material::Ec {
                curve,
                point: point.to_vec(),
            },
            spki,
        ))
    }

    fn new(material: Material, spki: Vec<u8>) -> Self {
        let algorithm = match &material {
            Material::Rsa { .. } => Algorithm::RS256,
            Material::Ec { curve, .. } => curve.algorithm(),
        };
        PublicKey {
            kid: kid_from_spki(&spki),
            material,
            spki,
            algorithm,
            pinned: false,
        }
    }
}

enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

/// A signing key (RSA 2048-8192 bits, or ECDSA P-256/P-384/P-521). Its `Debug` output shows
/// only the public half.
pub struct PrivateKey {
    signer: Signer,
    public: PublicKey,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// Generates a new key pair with aws-lc-rs.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<Self, KeyError> {
        let label = "generated";
        match algorithm {
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
                let size = match algorithm {
                    KeyAlgorithm::Rsa2048 => KeySize::Rsa2048,
                    KeyAlgorithm::Rsa3072 => KeySize::Rsa3072,
                    _ => KeySize::Rsa4096,
                };
                let pair = RsaKeyPair::generate(size).map_err(|_| KeyError::Generation)?;
                Self::from_rsa(pair, 0, label)
            }
            KeyAlgorithm::EcP256 | KeyAlgorithm::EcP384 => {
                let curve = if algorithm == KeyAlgorithm::EcP256 {
                    Curve::P256
                } else {
                    Curve::P384
                };
                let pair =
                    EcdsaKeyPair::generate(curve.signing()).map_err(|_| KeyError::Generation)?;
                Self::from_ec(pair, curve, 0, label)
            }
        }
    }

    /// The public half.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The Kubernetes `kid` of the public half.
    pub fn kid(&self) -> &str {
        self.public.kid()
    }

    /// The algorithm kube-apiserver signs with for this key: RS256 for RSA, ES256/384/512 for EC.
    pub fn algorithm(&self) -> Algorithm {
        self.public.algorithm()
    }

    /// The key as an unencrypted PKCS#8 `PRIVATE KEY` PEM block.
    pub fn to_pkcs8_pem(&self) -> Result<String, KeyError> {
        let der = match &self.signer {
            Signer::Rsa(pair) => pair.as_der().map(|d| d.as_ref().to_vec()),
            Signer::Ec(pair) => pair.to_pkcs8v1().map(|d| d.as_ref().to_vec()),
        }
        .map_err(|_| KeyError::Generation)?;
        Ok(pem_encode("PRIVATE KEY", &der))
    }

    /// Signs `message` with `alg`, which the key must allow.
    pub(crate) fn sign_bytes(&self, alg: Algorithm, message: &[u8]) -> Option<Vec<u8>> {
        if !self.public.allows(alg) {
            return None;
        }
        match &self.signer {
            Signer::Rsa(pair) => {
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(alg.rsa_signing()?, &SystemRandom::new(), message, &mut sig)
                    .ok()?;
                Some(sig)
            }
            Signer::Ec(pair) => pair
                .sign(&SystemRandom::new(), message)
                .ok()
                .map(|s| s.as_ref().to_vec()),
        }
    }

    fn from_rsa(pair: RsaKeyPair, index: usize, label: &str) -> Result<Self, KeyError> {
        let public = PublicKey::from_rsa(pair.public_key(), index, label)?;
        Ok(PrivateKey {
            signer: Signer::Rsa(pair),
            public,
        })
    }

    fn from_ec(
        pair: EcdsaKeyPair,
        curve: Curve,
        index: usize,
        label: &str,
    ) -> Result<Self, KeyError> {
        let public = PublicKey::from_ec_point(curve, pair.public_key().as_ref(), index, label)?;
        Ok(PrivateKey {
            signer: Signer::Ec(pair),
            public,
        })
    }
}

/// One key read from PEM input.
#[derive(Debug)]
pub enum PemKey {
    /// A private key (its public half is available too).
    Private(PrivateKey),
    /// A public key (from `PUBLIC KEY`, `RSA PUBLIC KEY` or `CERTIFICATE`).
    Public(PublicKey),
}

impl PemKey {
    /// The public key, whichever kind was read.
    pub fn public_key(&self) -> &PublicKey {
        match self {
            PemKey::Private(k) => k.public_key(),
            PemKey::Public(k) => k,
        }
    }
}

/// Parses every key in PEM input, in order: `RSA PRIVATE KEY` (PKCS#1), `PRIVATE KEY`
/// (PKCS#8), `EC PRIVATE KEY` (SEC1; a preceding `EC PARAMETERS` block is skipped),
/// `PUBLIC KEY` (SPKI), `RSA PUBLIC KEY` (PKCS#1) and `CERTIFICATE` (its subject key).
///
/// Any block that is not a usable key (encrypted, unsupported algorithm or curve, other
/// block types, garbage) is an error naming the block; an input with no key is an error too.
pub fn parse_pem(pem: &[u8]) -> Result<Vec<PemKey>, KeyError> {
    let mut keys = Vec::new();
    for (i, block) in pem_blocks(pem)?.iter().enumerate() {
        if let Some(key) = parse_block(block, i + 1)? {
            keys.push(key);
        }
    }
    if keys.is_empty() {
        return Err(KeyError::NoPemBlock {
            found: "only EC PARAMETERS, no key".into(),
        });
    }
    Ok(keys)
}

/// Parses PEM input that must hold exactly one private key (other blocks such as
/// `EC PARAMETERS` are allowed; public keys and certificates are ignored).
pub fn parse_private_pem(pem: &[u8]) -> Result<PrivateKey, KeyError> {
    let mut found = None;
    let mut publics = 0;
    for key in parse_pem(pem)? {
        match key {
            PemKey::Private(k) if found.is_none() => found = Some(k),
            PemKey::Private(_) => {
                return Err(KeyError::UnsupportedBlock {
                    index: 0,
                    label: "PRIVATE KEY".into(),
                    hint: "; the input holds more than one private key, give exactly one".into(),
                });
            }
            PemKey::Public(_) => publics += 1,
        }
    }
    found.ok_or(KeyError::NoPemBlock {
        found: format!("{publics} public key(s) but no private key; signing needs the private key"),
    })
}

fn parse_block(block: &PemBlock, index: usize) -> Result<Option<PemKey>, KeyError> {
    let label = block.label.as_str();
    let der = block.der.as_slice();
    let encrypted = || KeyError::Encrypted {
        index,
        label: label.to_owned(),
    };
    let key = match label {
        "EC PARAMETERS" => return Ok(None),
        "ENCRYPTED PRIVATE KEY" => return Err(encrypted()),
        _ if block.is_legacy_encrypted() => return Err(encrypted()),
        "RSA PRIVATE KEY" => {
            let pair = RsaKeyPair::from_der(der)
                .map_err(|e| rsa_rejected(der, true, index, label, &e.to_string()))?;
            PemKey::Private(PrivateKey::from_rsa(pair, index, label)?)
        }
        "PRIVATE KEY" => PemKey::Private(private_from_pkcs8(der, index, label)?),
        "EC PRIVATE KEY" => {
            let curve = match der::sec1_curve(der) {
                Some(oid) => curve_from_oid(oid, index, label)?,
                None => {
                    return Err(invalid(
                        index,
                        label,
                        "SEC1 EC private key",
                        "it names no curve (write it with `openssl ec -param_enc named_curve`)",
                    ));
                }
            };
            let pair = EcdsaKeyPair::from_private_key_der(curve.signing(), der)
                .map_err(|e| invalid(index, label, "SEC1 EC private key", &e.to_string()))?;
            PemKey::Private(PrivateKey::from_ec(pair, curve, index, label)?)
        }
        "PUBLIC KEY" => PemKey::Public(public_from_spki(der, index, label)?),
        "RSA PUBLIC KEY" => {
            let public = RsaSubjectPublicKey::from_der(der)
                .map_err(|e| rsa_rejected(der, false, index, label, &e.to_string()))?;
            PemKey::Public(PublicKey::from_rsa(&public, index, label)?)
        }
        "CERTIFICATE" => {
            let spki = der::certificate_spki(der).ok_or_else(|| {
                invalid(
                    index,
                    label,
                    "X.509 certificate",
                    "its structure is not DER X.509",
                )
            })?;
            PemKey::Public(public_from_spki(spki, index, label)?)
        }
        "OPENSSH PRIVATE KEY" => {
            return Err(KeyError::UnsupportedBlock {
                index,
                label: label.to_owned(),
                hint: "; convert a copy to PEM with `ssh-keygen -p -m pem -f COPY` \
                       (PKCS#1 for RSA) or use `ssh-keygen -e -m PKCS8 -f KEY.pub` for the \
                       public key"
                    .into(),
            });
        }
        "DSA PRIVATE KEY" => {
            return Err(KeyError::UnsupportedKeyType {
                index,
                label: label.to_owned(),
                found: "DSA".into(),
            });
        }
        _ => {
            return Err(KeyError::UnsupportedBlock {
                index,
                label: label.to_owned(),
                hint: String::new(),
            });
        }
    };
    Ok(Some(key))
}

fn private_from_pkcs8(der: &[u8], index: usize, label: &str) -> Result<PrivateKey, KeyError> {
    let alg = der::pkcs8_algorithm(der).ok_or_else(|| {
        invalid(
            index,
            label,
            "PKCS#8 private key",
            "its structure is not DER PKCS#8",
        )
    })?;
    if alg.oid == der::OID_RSA {
        let pair = RsaKeyPair::from_pkcs8(der).map_err(|e| {
            let inner = der::pkcs8_inner(der).unwrap_or_default();
            rsa_rejected(inner, true, index, label, &e.to_string())
        })?;
        PrivateKey::from_rsa(pair, index, label)
    } else if alg.oid == der::OID_EC {
        let curve_oid = alg
            .param_oid
            .ok_or_else(|| invalid(index, label, "PKCS#8 EC private key", "it names no curve"))?;
        let curve = curve_from_oid(curve_oid, index, label)?;
        let pair = EcdsaKeyPair::from_pkcs8(curve.signing(), der)
            .map_err(|e| invalid(index, label, "PKCS#8 EC private key", &e.to_string()))?;
        PrivateKey::from_ec(pair, curve, index, label)
    } else {
        Err(KeyError::UnsupportedKeyType {
            index,
            label: label.to_owned(),
            found: der::oid_name(alg.oid),
        })
    }
}

fn public_from_spki(spki: &[u8], index: usize, label: &str) -> Result<PublicKey, KeyError> {
    let (alg, key_bits) = der::spki_parts(spki).ok_or_else(|| {
        invalid(
            index,
            label,
            "SubjectPublicKeyInfo",
            "its structure is not DER SPKI",
        )
    })?;
    if alg.oid == der::OID_RSA {
        let public = RsaSubjectPublicKey::from_der(spki)
            .map_err(|e| rsa_rejected(key_bits, false, index, label, &e.to_string()))?;
        PublicKey::from_rsa(&public, index, label)
    } else if alg.oid == der::OID_EC {
        let curve_oid = alg
            .param_oid
            .ok_or_else(|| invalid(index, label, "EC public key", "it names no curve"))?;
        let curve = curve_from_oid(curve_oid, index, label)?;
        PublicKey::from_ec_point(curve, key_bits, index, label)
    } else {
        Err(KeyError::UnsupportedKeyType {
            index,
            label: label.to_owned(),
            found: der::oid_name(alg.oid),
        })
    }
}

fn curve_from_oid(oid: &[u8], index: usize, label: &str) -> Result<Curve, KeyError> {
    match oid {
        o if o == der::OID_P256 => Ok(Curve::P256),
        o if o == der::OID_P384 => Ok(Curve::P384),
        o if o == der::OID_P521 => Ok(Curve::P521),
        other => Err(KeyError::UnsupportedCurve {
            index,
            label: label.to_owned(),
            curve: der::oid_name(other),
        }),
    }
}

/// Turns an aws-lc-rs rejection of an RSA key into a size error when that is the reason.
fn rsa_rejected(pkcs1: &[u8], private: bool, index: usize, label: &str, reason: &str) -> KeyError {
    match der::rsa_modulus_bits(pkcs1, private) {
        Some(bits) if bits > 0 && !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) => {
            KeyError::RsaKeySize {
                index,
                label: label.to_owned(),
                bits,
            }
        }
        _ => invalid(index, label, "RSA key", reason),
    }
}

fn invalid(index: usize, label: &str, expected: &'static str, reason: &str) -> KeyError {
    KeyError::InvalidKey {
        index,
        label: label.to_owned(),
        expected,
        reason: reason.to_owned(),
    }
}

fn bit_len(be: &[u8]) -> usize {
    match be.iter().position(|&b| b != 0) {
        Some(i) => (be.len() - i) * 8 - be[i].leading_zeros() as usize,
        None => 0,
    }
}

/// Encodes DER as a PEM block with 64-column lines.
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
