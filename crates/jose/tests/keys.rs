//! Key parsing against files written by OpenSSL 3 (testdata/), with kids computed by openssl.

use irsa_jose::{
    Algorithm, JwkSet, KeyAlgorithm, KeyError, PemKey, PrivateKey, PublicKey, parse_pem,
    parse_private_pem,
};

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn openssl_kid(name: &str) -> String {
    let kids = String::from_utf8(data("kids.txt")).unwrap();
    kids.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ').map(str::to_owned))
        .unwrap()
}

fn single(name: &str) -> PemKey {
    let mut keys = parse_pem(&data(name)).unwrap();
    assert_eq!(keys.len(), 1, "{name}");
    keys.remove(0)
}

#[test]
fn every_rsa_encoding_gives_the_openssl_kid() {
    let kid = openssl_kid("rsa2048-spki.pem");
    for name in [
        "rsa2048-pkcs1.pem",
        "rsa2048-pkcs8.pem",
        "rsa2048-spki.pem",
        "rsa2048-pkcs1-pub.pem",
        "rsa2048-cert.pem",
    ] {
        let key = single(name);
        assert_eq!(key.public_key().kid(), kid, "{name}");
        assert_eq!(key.public_key().algorithm(), Algorithm::RS256);
        assert_eq!(key.public_key().describe(), "RSA 2048-bit");
        let private = matches!(key, PemKey::Private(_));
        assert_eq!(
            private,
            name.contains("pkcs1.pem") || name.contains("pkcs8"),
            "{name}"
        );
    }
}

#[test]
fn ec_keys_give_the_openssl_kid_and_their_curve_algorithm() {
    let p256 = single("ec-p256-sec1-params.pem");
    assert!(matches!(p256, PemKey::Private(_)));
    assert_eq!(p256.public_key().kid(), openssl_kid("ec-p256-spki.pem"));
    assert_eq!(p256.public_key().algorithm(), Algorithm::ES256);
    assert_eq!(single("ec-p256-spki.pem").public_key(), p256.public_key());
    let p384 = single("ec-p384-pkcs8.pem");
    assert_eq!(p384.public_key().kid(), openssl_kid("ec-p384-pkcs8.pem"));
    assert_eq!(p384.public_key().algorithm(), Algorithm::ES384);
    let p521 = single("ec-p521-pkcs8.pem");
    assert_eq!(p521.public_key().kid(), openssl_kid("ec-p521-pkcs8.pem"));
    assert_eq!(p521.public_key().algorithm(), Algorithm::ES512);
}

#[test]
fn spki_pem_output_round_trips_byte_for_byte() {
    let text = String::from_utf8(data("rsa2048-spki.pem")).unwrap();
    assert_eq!(single("rsa2048-pkcs1.pem").public_key().to_spki_pem(), text);
    let text = String::from_utf8(data("ec-p256-spki.pem")).unwrap();
    assert_eq!(
        single("ec-p256-sec1-params.pem").public_key().to_spki_pem(),
        text
    );
}

#[test]
fn several_blocks_are_read_in_order() {
    let mut input = data("ec-p384-pkcs8.pem");
    input.extend(b"\n# comment between blocks\n");
    input.extend(data("rsa2048-spki.pem"));
    input.extend(data("ec-p256-sec1-params.pem"));
    let keys = parse_pem(&input).unwrap();
    let kids: Vec<_> = keys
        .iter()
        .map(|k| k.public_key().kid().to_owned())
        .collect();
    assert_eq!(
        kids,
        [
            openssl_kid("ec-p384-pkcs8.pem"),
            openssl_kid("rsa2048-spki.pem"),
            openssl_kid("ec-p256-spki.pem")
        ]
    );
}

#[test]
fn crlf_line_endings_are_accepted() {
    let text = String::from_utf8(data("rsa2048-spki.pem"))
        .unwrap()
        .replace('\n', "\r\n");
    let keys = parse_pem(text.as_bytes()).unwrap();
    assert_eq!(keys[0].public_key().kid(), openssl_kid("rsa2048-spki.pem"));
}

#[test]
fn bad_inputs_get_typed_errors() {
    let err = |name: &str| parse_pem(&data(name)).unwrap_err();
    assert!(matches!(
        err("encrypted-pkcs8.pem"),
        KeyError::Encrypted { index: 1, .. }
    ));
    assert!(matches!(
        err("encrypted-pkcs1.pem"),
        KeyError::Encrypted { index: 1, .. }
    ));
    assert!(matches!(
        err("rsa1024.pem"),
        KeyError::RsaKeySize { bits: 1024, .. }
    ));
    match err("ec-secp256k1.pem") {
        KeyError::UnsupportedCurve { curve, .. } => assert_eq!(curve, "secp256k1"),
        other => panic!("{other:?}"),
    }
    match err("ed25519.pem") {
        KeyError::UnsupportedKeyType { found, .. } => assert_eq!(found, "Ed25519"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(parse_pem(b""), Err(KeyError::NoPemBlock { .. })));
    assert!(matches!(
        parse_pem(
            b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
        ),
        Err(KeyError::NoPemBlock { .. })
    ));
    assert!(matches!(
        parse_pem(
            b"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
        ),
        Err(KeyError::UnsupportedBlock { .. })
    ));
    // A valid PEM frame around garbage DER.
    assert!(matches!(
        parse_pem(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
        Err(KeyError::InvalidKey { index: 1, .. })
    ));
    assert!(matches!(
        parse_pem(b"-----BEGIN RSA PRIVATE KEY-----\nMAA=\n-----END RSA PRIVATE KEY-----\n"),
        Err(KeyError::InvalidKey { .. })
    ));
    // The second block is the bad one, and the error says so.
    let mut two = data("rsa2048-spki.pem");
    two.extend(data("ed25519.pem"));
    assert!(matches!(
        parse_pem(&two),
        Err(KeyError::UnsupportedKeyType { index: 2, .. })
    ));
    // Messages name what was found and never contain key material.
    let message = err("encrypted-pkcs1.pem").to_string();
    assert!(
        message.contains("encrypted") && message.contains("openssl pkey"),
        "{message}"
    );
}

#[test]
fn parse_private_pem_wants_one_private_key() {
    assert!(parse_private_pem(&data("rsa2048-pkcs8.pem")).is_ok());
    assert!(matches!(
        parse_private_pem(&data("rsa2048-spki.pem")),
        Err(KeyError::NoPemBlock { .. })
    ));
    let mut two = data("rsa2048-pkcs8.pem");
    two.extend(data("ec-p384-pkcs8.pem"));
    assert!(parse_private_pem(&two).is_err());
}

#[test]
fn generated_keys_round_trip_through_pkcs8_and_jwk() {
    for alg in [
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::EcP256,
        KeyAlgorithm::EcP384,
    ] {
        let key = PrivateKey::generate(alg).unwrap();
        let pem = key.to_pkcs8_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let again = parse_private_pem(pem.as_bytes()).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        let jwk = key.public_key().to_jwk();
        let back = PublicKey::from_jwk(&jwk).unwrap();
        assert_eq!(back.kid(), key.kid());
        assert_eq!(back.spki_der(), key.public_key().spki_der());
        assert_eq!(key.kid().len(), 43);
        assert!(!format!("{key:?}").contains(&pem[30..60]));
    }
}

#[test]
fn jwks_json_has_go_jose_member_order() {
    let rsa = single("rsa2048-spki.pem");
    let ec = single("ec-p256-spki.pem");
    let set = JwkSet::from_public_keys([rsa.public_key(), ec.public_key()], false);
    let json = set.to_json();
    let rsa_kid = openssl_kid("rsa2048-spki.pem");
    assert!(
        json.starts_with(&format!(
            "{{\"keys\":[{{\"use\":\"sig\",\"kty\":\"RSA\",\"kid\":\"{rsa_kid}\",\"alg\":\"RS256\",\"n\":\""
        )),
        "{json}"
    );
    assert!(json.contains("\"e\":\"AQAB\"}"));
    let ec_kid = openssl_kid("ec-p256-spki.pem");
    assert!(json.contains(&format!(
        "{{\"use\":\"sig\",\"kty\":\"EC\",\"kid\":\"{ec_kid}\",\"crv\":\"P-256\",\"alg\":\"ES256\",\"x\":\""
    )));
    let parsed = JwkSet::from_json(json.as_bytes()).unwrap();
    assert_eq!(parsed, set);
    assert!(parsed.find(&rsa_kid).is_some());
    assert!(parsed.find("nope").is_none());
}

#[test]
fn jwks_dedups_and_adds_legacy_empty_kids() {
    let a = single("rsa2048-pkcs1.pem");
    let b = single("rsa2048-spki.pem");
    let set = JwkSet::from_public_keys([a.public_key(), b.public_key()], true);
    assert_eq!(set.keys.len(), 2);
    assert_eq!(set.keys[1].kid.as_deref(), Some(""));
    assert_eq!(set.keys[1].n, set.keys[0].n);
}

mod fuzzish {
    use irsa_jose::{Jwk, PublicKey, parse_pem};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_pem(&bytes);
        }

        #[test]
        fn arbitrary_der_in_every_block_type_never_panics(
            label in prop::sample::select(vec![
                "RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "PUBLIC KEY",
                "RSA PUBLIC KEY", "CERTIFICATE",
            ]),
            der in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            use base64::Engine as _;
            let body = base64::engine::general_purpose::STANDARD.encode(&der);
            let pem = format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n");
            // Random DER is (overwhelmingly) not a key: an error, never a panic.
            let _ = parse_pem(pem.as_bytes());
        }

        #[test]
        fn arbitrary_jwk_numbers_never_panic(
            kty in prop::sample::select(vec!["RSA", "EC"]),
            a in proptest::collection::vec(any::<u8>(), 0..300),
            b in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            use base64::Engine as _;
            let enc = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
            let json = serde_json::json!({
                "kty": kty, "crv": "P-256", "n": enc(&a), "e": enc(&b), "x": enc(&b), "y": enc(&b)
            });
            let jwk: Jwk = serde_json::from_value(json).unwrap();
            let _ = PublicKey::from_jwk(&jwk);
        }
    }
}
