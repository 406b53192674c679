//! JWT sign/verify: round trips for every algorithm, every error variant, tampering,
//! algorithm confusion, leeway.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use irsa_jose::{
    Algorithm, Header, JwkSet, JwtError, PrivateKey, PublicKey, Validation, VerifyingKeys,
    decode_unverified, parse_private_pem, sign, verify,
};
use proptest::prelude::*;
use serde_json::{Value, json};

const NOW: i64 = 1_767_225_600;
const ISS: &str = "https://oidc.example.com/cluster";

fn key(name: &str) -> PrivateKey {
    let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    parse_private_pem(&std::fs::read(path).unwrap()).unwrap()
}

fn rsa() -> PrivateKey {
    key("rsa2048-pkcs1.pem")
}

fn claims() -> Value {
    json!({
        "aud": ["sts.amazonaws.com"],
        "exp": NOW + 3600, "iat": NOW, "nbf": NOW,
        "iss": ISS,
        "jti": "9b1c6c2e-5d0c-4b8e-9a43-4d4f0a3c1e11",
        "sub": "system:serviceaccount:default:app",
        "kubernetes.io": {"namespace": "default", "serviceaccount": {"name": "app", "uid": "u"}}
    })
}

fn validation() -> Validation {
    Validation::new(ISS, ["sts.amazonaws.com"])
}

fn keys_of(keys: &[&PrivateKey]) -> VerifyingKeys {
    let set = JwkSet::from_public_keys(keys.iter().map(|k| k.public_key()), false);
    VerifyingKeys::from_jwks(&set)
}

fn forge(header: Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

#[test]
fn every_algorithm_round_trips() {
    let rsa = rsa();
    let p256 = key("ec-p256-sec1-params.pem");
    let p384 = key("ec-p384-pkcs8.pem");
    let p521 = key("ec-p521-pkcs8.pem");
    // Keys from PEM allow every algorithm of their family (JWKS entries pin `alg`).
    let keys = VerifyingKeys::from_public_keys(
        [&rsa, &p256, &p384, &p521].map(|k| k.public_key().clone()),
    );
    let cases = [
        (&rsa, Algorithm::RS256),
        (&rsa, Algorithm::RS384),
        (&rsa, Algorithm::RS512),
        (&p256, Algorithm::ES256),
        (&p384, Algorithm::ES384),
        (&p521, Algorithm::ES512),
    ];
    for (key, alg) in cases {
        let header = Header::new(alg, Some(key.kid().to_owned()));
        let token = sign(&header, &claims(), key).unwrap();
        let verified = verify(&token, &keys, &validation(), NOW).unwrap();
        assert_eq!(verified.algorithm, alg);
        assert_eq!(verified.key_id.as_deref(), Some(key.kid()));
        assert_eq!(verified.claims, claims());
        assert_eq!(
            verified.subject(),
            Some("system:serviceaccount:default:app")
        );
        assert_eq!(verified.audiences(), ["sts.amazonaws.com"]);
        assert_eq!(verified.numeric("exp"), Some(NOW + 3600));
        // Without kid, every key of a matching type is tried.
        let token = sign(&Header::new(alg, None), &claims(), key).unwrap();
        assert!(
            verify(&token, &keys, &validation(), NOW).is_ok(),
            "{alg} without kid"
        );
    }
}

#[test]
fn header_is_what_kube_apiserver_writes() {
    let rsa = rsa();
    let token = sign(&Header::for_key(&rsa), &claims(), &rsa).unwrap();
    let header = token.split('.').next().unwrap();
    let header = String::from_utf8(URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    assert_eq!(
        header,
        format!("{{\"alg\":\"RS256\",\"kid\":\"{}\"}}", rsa.kid())
    );
    let (decoded, body) = decode_unverified(&token).unwrap();
    assert_eq!(decoded, Header::for_key(&rsa));
    assert_eq!(body, claims());
}

#[test]
fn key_cannot_sign_a_foreign_algorithm() {
    let p256 = key("ec-p256-sec1-params.pem");
    for alg in [Algorithm::RS256, Algorithm::ES384] {
        assert!(matches!(
            sign(&Header::new(alg, None), &claims(), &p256),
            Err(JwtError::KeyCannotSign { .. })
        ));
    }
    assert!(matches!(
        sign(&Header::new(Algorithm::ES256, None), &json!([1]), &p256),
        Err(JwtError::Malformed { .. })
    ));
}

#[test]
fn tampering_is_detected() {
    let rsa = rsa();
    let keys = keys_of(&[&rsa]);
    let token = sign(&Header::for_key(&rsa), &claims(), &rsa).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    // Payload swapped for another one.
    let mut other = claims();
    other["sub"] = json!("system:serviceaccount:kube-system:admin");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(other.to_string()),
        parts[2]
    );
    assert_eq!(
        verify(&forged, &keys, &validation(), NOW),
        Err(JwtError::BadSignature)
    );
    // One signature bit flipped.
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    sig[10] ^= 1;
    let flipped = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(sig));
    assert_eq!(
        verify(&flipped, &keys, &validation(), NOW),
        Err(JwtError::BadSignature)
    );
    // A token signed by another key with the same kid.
    let other_key = PrivateKey::generate(irsa_jose::KeyAlgorithm::Rsa2048).unwrap();
    let impostor = sign(&Header::for_key(&rsa), &claims(), &other_key);
    assert_eq!(
        verify(&impostor.unwrap(), &keys, &validation(), NOW),
        Err(JwtError::BadSignature)
    );
}

#[test]
fn algorithm_confusion_is_rejected() {
    let rsa = rsa();
    let keys = keys_of(&[&rsa]);
    let kid = rsa.kid().to_owned();
    // alg none, empty signature.
    let none = forge(json!({"alg": "none", "kid": kid}), &claims(), b"");
    assert_eq!(
        verify(&none, &keys, &validation(), NOW),
        Err(JwtError::UnsupportedAlgorithm { alg: "none".into() })
    );
    // HS256 "signed" with the public key bytes as the HMAC secret.
    let mac_key =
        aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, rsa.public_key().spki_der());
    let unsigned = forge(json!({"alg": "HS256", "kid": kid}), &claims(), b"");
    let input = &unsigned[..unsigned.len() - 1];
    let tag = aws_lc_rs::hmac::sign(&mac_key, input.as_bytes());
    let hs = format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
    assert_eq!(
        verify(&hs, &keys, &validation(), NOW),
        Err(JwtError::UnsupportedAlgorithm {
            alg: "HS256".into()
        })
    );
    // ES256 header naming an RSA key.
    let es = forge(json!({"alg": "ES256", "kid": kid}), &claims(), &[0; 64]);
    assert!(matches!(
        verify(&es, &keys, &validation(), NOW),
        Err(JwtError::KeyAlgorithmMismatch {
            alg: Algorithm::ES256,
            ..
        })
    ));
    // Without kid: no key of that type.
    let es = forge(json!({"alg": "ES256"}), &claims(), &[0; 64]);
    assert_eq!(
        verify(&es, &keys, &validation(), NOW),
        Err(JwtError::KeyNotFound { kid: None })
    );
    // A JWK pinned to RS256 does not verify RS512, even with a valid signature.
    let rs512 = sign(
        &Header::new(Algorithm::RS512, Some(kid.clone())),
        &claims(),
        &rsa,
    )
    .unwrap();
    assert!(matches!(
        verify(&rs512, &keys, &validation(), NOW),
        Err(JwtError::KeyAlgorithmMismatch { .. })
    ));
    // Unpinned (from PEM) it does; but not when the validation disallows RS512.
    let unpinned = VerifyingKeys::from_public_keys([rsa.public_key().clone()]);
    assert!(verify(&rs512, &unpinned, &validation(), NOW).is_ok());
    let only_256 = Validation {
        allowed_algorithms: vec![Algorithm::RS256],
        ..validation()
    };
    assert_eq!(
        verify(&rs512, &unpinned, &only_256, NOW),
        Err(JwtError::AlgorithmNotAllowed {
            alg: Algorithm::RS512
        })
    );
    // PS256 is not a supported algorithm.
    let ps = forge(json!({"alg": "PS256", "kid": kid}), &claims(), &[0; 256]);
    assert!(matches!(
        verify(&ps, &keys, &validation(), NOW),
        Err(JwtError::UnsupportedAlgorithm { .. })
    ));
    // Critical header extensions are refused.
    let crit = forge(
        json!({"alg": "RS256", "kid": kid, "crit": ["exp"], "exp": 1}),
        &claims(),
        &[0; 256],
    );
    assert!(matches!(
        verify(&crit, &keys, &validation(), NOW),
        Err(JwtError::UnsupportedCritical { .. })
    ));
}

#[test]
fn unknown_kid_and_legacy_empty_kid() {
    let rsa = rsa();
    let keys = keys_of(&[&rsa]);
    let token = sign(
        &Header::new(Algorithm::RS256, Some("other".into())),
        &claims(),
        &rsa,
    )
    .unwrap();
    assert_eq!(
        verify(&token, &keys, &validation(), NOW),
        Err(JwtError::KeyNotFound {
            kid: Some("other".into())
        })
    );
    // A legacy token without kid verifies against a set published with --legacy-empty-kid,
    // and a token with kid "" finds the duplicate entry.
    let legacy = VerifyingKeys::from_jwks(&JwkSet::from_public_keys([rsa.public_key()], true));
    let no_kid = sign(&Header::new(Algorithm::RS256, None), &claims(), &rsa).unwrap();
    assert!(verify(&no_kid, &legacy, &validation(), NOW).is_ok());
    let empty = sign(
        &Header::new(Algorithm::RS256, Some(String::new())),
        &claims(),
        &rsa,
    )
    .unwrap();
    let verified = verify(&empty, &legacy, &validation(), NOW).unwrap();
    assert_eq!(verified.key_id.as_deref(), Some(""));
    // JWKS entries without a kid member are tried for any kid.
    let mut set = JwkSet::from_public_keys([rsa.public_key()], false);
    set.keys[0].kid = None;
    let anon = VerifyingKeys::from_jwks(&set);
    assert!(verify(&token, &anon, &validation(), NOW).is_ok());
}

#[test]
fn unusable_jwks_entries_are_skipped_not_fatal() {
    let rsa = rsa();
    let mut set = JwkSet::from_public_keys([rsa.public_key()], false);
    let mut okp = set.keys[0].clone();
    okp.kty = "OKP".into();
    okp.kid = Some("ed".into());
    set.keys.insert(0, okp);
    let keys = VerifyingKeys::from_jwks(&set);
    assert_eq!(keys.len(), 1);
    assert_eq!(keys.skipped().len(), 1);
    assert_eq!(keys.skipped()[0].kid.as_deref(), Some("ed"));
    let token = sign(&Header::for_key(&rsa), &claims(), &rsa).unwrap();
    assert!(keys.verify(&token, &validation(), NOW).is_ok());
}

#[test]
fn claims_are_validated_with_leeway() {
    let rsa = rsa();
    let keys = keys_of(&[&rsa]);
    let check = |c: Value, v: &Validation, now: i64| {
        let token = sign(&Header::for_key(&rsa), &c, &rsa).unwrap();
        verify(&token, &keys, v, now)
    };
    let v = validation();
    let exp = NOW + 3600;
    // exp: valid up to exp + leeway, expired after.
    assert!(check(claims(), &v, exp + 60).is_ok());
    assert_eq!(
        check(claims(), &v, exp + 61),
        Err(JwtError::Expired {
            exp,
            now: exp + 61,
            leeway: 60
        })
    );
    let strict = Validation {
        leeway_secs: 0,
        ..validation()
    };
    assert!(check(claims(), &strict, exp + 1).is_err());
    // nbf / iat in the future.
    let mut c = claims();
    c["nbf"] = json!(NOW + 120);
    c["iat"] = json!(NOW);
    assert_eq!(
        check(c.clone(), &v, NOW),
        Err(JwtError::NotYetValid {
            nbf: NOW + 120,
            now: NOW
        })
    );
    assert!(check(c, &v, NOW + 60).is_ok());
    let mut c = claims();
    c["iat"] = json!(NOW + 600);
    c["nbf"] = json!(NOW);
    assert_eq!(
        check(c, &v, NOW),
        Err(JwtError::IssuedInFuture {
            iat: NOW + 600,
            now: NOW
        })
    );
    // Max age.
    let aged = Validation {
        max_age_secs: Some(100),
        ..validation()
    };
    assert!(matches!(
        check(claims(), &aged, NOW + 101),
        Err(JwtError::TooOld { .. })
    ));
    // Issuer is compared byte for byte: a trailing slash is a different issuer.
    let mut c = claims();
    c["iss"] = json!(format!("{ISS}/"));
    assert!(matches!(
        check(c, &v, NOW),
        Err(JwtError::WrongIssuer { .. })
    ));
    // Audience: string or array, any of.
    let mut c = claims();
    c["aud"] = json!("sts.amazonaws.com");
    assert!(check(c.clone(), &v, NOW).is_ok());
    let other_aud = Validation::new(ISS, ["a", "b"]);
    assert_eq!(
        check(c, &other_aud, NOW),
        Err(JwtError::WrongAudience {
            expected: vec!["a".into(), "b".into()],
            found: vec!["sts.amazonaws.com".into()]
        })
    );
    let mut c = claims();
    c["aud"] = json!(["x", "b"]);
    assert!(check(c, &other_aud, NOW).is_ok());
    // Missing and malformed claims.
    for claim in ["exp", "iss", "aud"] {
        let mut c = claims();
        c.as_object_mut().unwrap().remove(claim);
        assert_eq!(
            check(c, &v, NOW),
            Err(JwtError::MissingClaim {
                claim: claim.into()
            })
        );
    }
    let needs_sub = Validation {
        required_claims: vec!["sub".into()],
        ..validation()
    };
    let mut c = claims();
    c.as_object_mut().unwrap().remove("sub");
    assert_eq!(
        check(c, &needs_sub, NOW),
        Err(JwtError::MissingClaim {
            claim: "sub".into()
        })
    );
    for bad in [json!("1767229200"), json!(1.5), json!(true)] {
        let mut c = claims();
        c["exp"] = bad;
        assert!(matches!(
            check(c, &v, NOW),
            Err(JwtError::InvalidClaim { .. })
        ));
    }
    let mut c = claims();
    c["aud"] = json!([1]);
    assert!(matches!(
        check(c, &v, NOW),
        Err(JwtError::InvalidClaim { .. })
    ));
    // exp not required when disabled.
    let lax = Validation {
        require_exp: false,
        ..validation()
    };
    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    assert!(check(c, &lax, NOW).is_ok());
}

#[test]
fn malformed_tokens_are_rejected() {
    let keys = keys_of(&[&rsa()]);
    let v = validation();
    for token in [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "e30.e30.!!",
        "bm90IGpzb24.e30.AA",
        "W10.e30.AA",
        "eyJhbGciOjF9.e30.AA",
        "e30.e30.AA",
        "eyJhbGciOiJSUzI1NiJ9.W10.AA",
        "eyJhbGciOiJSUzI1NiJ9=.e30.AA",
    ] {
        assert!(
            matches!(
                verify(token, &keys, &v, NOW),
                Err(JwtError::Malformed { .. })
            ),
            "{token:?}"
        );
    }
    let huge = "a".repeat(irsa_jose::MAX_TOKEN_BYTES + 1);
    assert!(matches!(
        verify(&huge, &keys, &v, NOW),
        Err(JwtError::TooLarge { .. })
    ));
}

#[test]
fn error_messages_say_what_happened() {
    let e = JwtError::Expired {
        exp: 100,
        now: 400,
        leeway: 60,
    };
    assert!(e.to_string().contains("300 s before now"), "{e}");
    let e = JwtError::KeyNotFound {
        kid: Some("k".into()),
    };
    assert!(e.to_string().contains("\"k\""), "{e}");
}

#[test]
fn jwk_errors_are_typed() {
    let rsa = rsa().public_key().to_jwk();
    let ec = key("ec-p256-sec1-params.pem").public_key().to_jwk();
    let err = |j: &irsa_jose::Jwk| PublicKey::from_jwk(j).unwrap_err();
    use irsa_jose::JwkError as E;
    let mut j = rsa.clone();
    j.n = None;
    assert_eq!(err(&j), E::MissingMember { member: "n" });
    let mut j = rsa.clone();
    j.e = Some("A+A".into());
    assert_eq!(err(&j), E::BadBase64 { member: "e" });
    let mut j = rsa.clone();
    j.alg = Some("ES256".into());
    assert!(matches!(err(&j), E::AlgorithmMismatch { .. }));
    let mut j = rsa.clone();
    j.alg = Some("HS256".into());
    assert!(matches!(err(&j), E::UnsupportedAlgorithm { .. }));
    let mut j = rsa.clone();
    j.use_ = Some("enc".into());
    assert!(matches!(err(&j), E::NotForSigning { .. }));
    let mut j = rsa.clone();
    j.n = Some(URL_SAFE_NO_PAD.encode([0xc5u8; 128]));
    assert!(matches!(err(&j), E::InvalidKey { .. }), "1024-bit modulus");
    let mut j = ec.clone();
    j.crv = Some("secp256k1".into());
    assert!(matches!(err(&j), E::UnsupportedCurve { .. }));
    let mut j = ec.clone();
    j.x = Some(URL_SAFE_NO_PAD.encode([1u8; 31]));
    assert!(matches!(err(&j), E::BadCoordinateLength { found: 31, .. }));
    let mut j = ec.clone();
    j.y = Some(URL_SAFE_NO_PAD.encode([1u8; 32]));
    assert!(
        matches!(err(&j), E::InvalidKey { .. }),
        "point not on the curve"
    );
    let mut j = ec.clone();
    j.kty = "oct".into();
    assert!(matches!(err(&j), E::UnsupportedKeyType { .. }));
    assert!(matches!(
        irsa_jose::Jwk::from_json(b"[]"),
        Err(E::Json { .. })
    ));
    assert!(matches!(
        JwkSet::from_json(b"{\"keys\":{}}"),
        Err(E::Json { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_claims_round_trip(sub in ".{0,40}", extra in proptest::collection::btree_map("[a-z]{1,8}", any::<i64>(), 0..6)) {
        let key = key("ec-p256-sec1-params.pem");
        let keys = keys_of(&[&key]);
        let mut c = claims();
        c["sub"] = json!(sub);
        for (k, v) in &extra {
            if !["exp", "nbf", "iat", "aud", "iss"].contains(&k.as_str()) {
                c[k] = json!(v);
            }
        }
        let token = sign(&Header::for_key(&key), &c, &key).unwrap();
        let verified = verify(&token, &keys, &validation(), NOW).unwrap();
        prop_assert_eq!(verified.claims, c);
    }

    #[test]
    fn any_single_byte_change_fails(pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let key = key("ec-p256-sec1-params.pem");
        let keys = keys_of(&[&key]);
        let token = sign(&Header::for_key(&key), &claims(), &key).unwrap();
        let mut bytes = token.clone().into_bytes();
        let i = pos.index(bytes.len());
        prop_assume!(bytes[i] != byte);
        bytes[i] = byte;
        if let Ok(changed) = String::from_utf8(bytes) {
            prop_assert!(verify(&changed, &keys, &validation(), NOW).is_err());
        }
    }

    #[test]
    fn garbage_never_panics(token in ".{0,300}") {
        let keys = keys_of(&[&key("ec-p256-sec1-params.pem")]);
        let _ = verify(&token, &keys, &validation(), NOW);
        let _ = decode_unverified(&token);
    }
}
