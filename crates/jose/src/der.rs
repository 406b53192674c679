//! Just enough DER reading to tell key types apart and find the SubjectPublicKeyInfo of a
//! certificate. aws-lc-rs does the real (validating) parsing; this only looks at structure.

use std::fmt::Write as _;

pub(crate) const TAG_INTEGER: u8 = 0x02;
pub(crate) const TAG_BIT_STRING: u8 = 0x03;
pub(crate) const TAG_OCTET_STRING: u8 = 0x04;
pub(crate) const TAG_OID: u8 = 0x06;
pub(crate) const TAG_SEQUENCE: u8 = 0x30;
pub(crate) const TAG_CONTEXT_0: u8 = 0xa0;

/// rsaEncryption, 1.2.840.113549.1.1.1
pub(crate) const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// id-ecPublicKey, 1.2.840.10045.2.1
pub(crate) const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// prime256v1, 1.2.840.10045.3.1.7
pub(crate) const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// secp384r1, 1.3.132.0.34
pub(crate) const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// secp521r1, 1.3.132.0.35
pub(crate) const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];

/// Human names of algorithm and curve OIDs we recognise but do not support, for errors.
const KNOWN_NAMES: &[(&[u8], &str)] = &[
    (&[0x2b, 0x81, 0x04, 0x00, 0x0a], "secp256k1"),
    (&[0x2b, 0x65, 0x70], "Ed25519"),
    (&[0x2b, 0x65, 0x71], "Ed448"),
    (&[0x2b, 0x65, 0x6e], "X25519"),
    (&[0x2b, 0x65, 0x6f], "X448"),
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a],
        "RSASSA-PSS",
    ),
    (&[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01], "DSA"),
    (
        &[0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x07],
        "brainpoolP256r1",
    ),
    (
        &[0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0b],
        "brainpoolP384r1",
    ),
    (
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x01],
        "prime192v1",
    ),
    (&[0x2b, 0x81, 0x04, 0x00, 0x21], "secp224r1"),
    (&[0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d], "SM2"),
    (OID_RSA, "rsaEncryption"),
    (OID_EC, "id-ecPublicKey"),
    (OID_P256, "P-256"),
    (OID_P384, "P-384"),
    (OID_P521, "P-521"),
];

/// A cursor over a sequence of DER TLVs.
#[derive(Clone, Copy)]
pub(crate) struct Der<'a> {
    rest: &'a [u8],
}

impl<'a> Der<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Der { rest: data }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Reads the next TLV: (tag, value, whole encoding).
    pub(crate) fn next_tlv(&mut self) -> Option<(u8, &'a [u8], &'a [u8])> {
        let data = self.rest;
        let (&tag, after_tag) = data.split_first()?;
        let (&first, mut after_len) = after_tag.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || after_len.len() < n {
                return None;
            }
            let mut len = 0usize;
            for &b in &after_len[..n] {
                len = (len << 8) | usize::from(b);
            }
            after_len = &after_len[n..];
            len
        };
        if after_len.len() < len {
            return None;
        }
        let header = data.len() - after_len.len();
        let whole = &data[..header + len];
        self.rest = &after_len[len..];
        Some((tag, &after_len[..len], whole))
    }

    /// Reads the next TLV and requires `tag`.
    pub(crate) fn expect(&mut self, tag: u8) -> Option<&'a [u8]> {
        match self.next_tlv()? {
            (t, value, _) if t == tag => Some(value),
            _ => None,
        }
    }

    /// Reads the next TLV and requires `tag`, returning the whole encoding.
    pub(crate) fn expect_whole(&mut self, tag: u8) -> Option<&'a [u8]> {
        match self.next_tlv()? {
            (t, _, whole) if t == tag => Some(whole),
            _ => None,
        }
    }

    /// Peeks at the next tag.
    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }
}

/// An AlgorithmIdentifier: the algorithm OID and, when it is an OID, the parameter.
pub(crate) struct AlgorithmId<'a> {
    pub(crate) oid: &'a [u8],
    pub(crate) param_oid: Option<&'a [u8]>,
}

pub(crate) fn algorithm_id(value: &[u8]) -> Option<AlgorithmId<'_>> {
    let mut d = Der::new(value);
    let oid = d.expect(TAG_OID)?;
    let param_oid = match d.next_tlv() {
        Some((TAG_OID, v, _)) => Some(v),
        _ => None,
    };
    Some(AlgorithmId { oid, param_oid })
}

/// SubjectPublicKeyInfo -> (algorithm, subjectPublicKey bit string contents without the
/// unused-bits byte).
pub(crate) fn spki_parts(spki: &[u8]) -> Option<(AlgorithmId<'_>, &[u8])> {
    let mut outer = Der::new(spki);
    let body = outer.expect(TAG_SEQUENCE)?;
    if !outer.is_empty() {
        return None;
    }
    let mut d = Der::new(body);
    let alg = algorithm_id(d.expect(TAG_SEQUENCE)?)?;
    let bits = d.expect(TAG_BIT_STRING)?;
    let (&unused, key) = bits.split_first()?;
    if unused != 0 {
        return None;
    }
    Some((alg, key))
}

/// PKCS#8 PrivateKeyInfo -> its AlgorithmIdentifier.
pub(crate) fn pkcs8_algorithm(pkcs8: &[u8]) -> Option<AlgorithmId<'_>> {
    let mut d = Der::new(Der::new(pkcs8).expect(TAG_SEQUENCE)?);
    d.expect(TAG_INTEGER)?;
    algorithm_id(d.expect(TAG_SEQUENCE)?)
}

/// PKCS#8 PrivateKeyInfo -> the inner private key (PKCS#1 for RSA).
pub(crate) fn pkcs8_inner(pkcs8: &[u8]) -> Option<&[u8]> {
    let mut d = Der::new(Der::new(pkcs8).expect(TAG_SEQUENCE)?);
    d.expect(TAG_INTEGER)?;
    d.expect(TAG_SEQUENCE)?;
    d.expect(TAG_OCTET_STRING)
}

/// SEC1 ECPrivateKey -> the named-curve OID of its `[0] parameters`, when present.
pub(crate) fn sec1_curve(der: &[u8]) -> Option<&[u8]> {
    let mut d = Der::new(Der::new(der).expect(TAG_SEQUENCE)?);
    d.expect(TAG_INTEGER)?;
    d.expect(TAG_OCTET_STRING)?;
    while let Some((tag, value, _)) = d.next_tlv() {
        if tag == TAG_CONTEXT_0 {
            return Der::new(value).expect(TAG_OID);
        }
    }
    None
}

/// X.509 Certificate -> the whole SubjectPublicKeyInfo TLV.
pub(crate) fn certificate_spki(cert: &[u8]) -> Option<&[u8]> {
    let mut c = Der::new(Der::new(cert).expect(TAG_SEQUENCE)?);
    let mut tbs = Der::new(c.expect(TAG_SEQUENCE)?);
    if tbs.peek_tag() == Some(TAG_CONTEXT_0) {
        tbs.next_tlv()?; // version
    }
    tbs.expect(TAG_INTEGER)?; // serialNumber
    tbs.expect(TAG_SEQUENCE)?; // signature
    tbs.expect(TAG_SEQUENCE)?; // issuer
    tbs.expect(TAG_SEQUENCE)?; // validity
    tbs.expect(TAG_SEQUENCE)?; // subject
    tbs.expect_whole(TAG_SEQUENCE)
}

/// Bit length of the first INTEGER found in a PKCS#1 RSA key (public: modulus; private:
/// skips the version), for error messages about unsupported sizes.
pub(crate) fn rsa_modulus_bits(der: &[u8], private: bool) -> Option<usize> {
    let mut d = Der::new(Der::new(der).expect(TAG_SEQUENCE)?);
    if private {
        d.expect(TAG_INTEGER)?;
    }
    let n = d.expect(TAG_INTEGER)?;
    let n = match n.iter().position(|&b| b != 0) {
        Some(i) => &n[i..],
        None => return Some(0),
    };
    Some(n.len() * 8 - n[0].leading_zeros() as usize)
}

/// A readable name for an OID: a known name, else the dotted form.
pub(crate) fn oid_name(oid: &[u8]) -> String {
    if let Some((_, name)) = KNOWN_NAMES.iter().find(|(o, _)| *o == oid) {
        return (*name).to_owned();
    }
    let Some((&first, rest)) = oid.split_first() else {
        return "(empty OID)".to_owned();
    };
    let mut out = format!("{}.{}", first / 40, first % 40);
    let mut acc: u64 = 0;
    for &b in rest {
        acc = (acc << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            let _ = write!(out, ".{acc}");
            acc = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_names() {
        assert_eq!(oid_name(OID_P256), "P-256");
        assert_eq!(oid_name(&[0x2b, 0x81, 0x04, 0x00, 0x0a]), "secp256k1");
        assert_eq!(oid_name(&[0x2a, 0x03, 0x81, 0x01]), "1.2.3.129");
        assert_eq!(oid_name(&[]), "(empty OID)");
    }

    #[test]
    fn truncated_input_is_none() {
        assert!(Der::new(&[0x30, 0x05, 0x01]).next_tlv().is_none());
        assert!(Der::new(&[0x30, 0x85, 1, 1, 1, 1, 1]).next_tlv().is_none());
        assert!(spki_parts(&[]).is_none());
        assert!(certificate_spki(&[0x30, 0x00]).is_none());
    }
}
