//! JWT verification throughput with pre-parsed keys, against the raw aws-lc-rs signature
//! verification it is built on (the ceiling). Run: `cargo bench -p irsa-jose --bench verify`.

use std::hint::black_box;

use aws_lc_rs::signature::{self, ParsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use irsa_jose::{
    Header, JwkSet, ServiceAccountClaims, Validation, VerifyingKeys, parse_private_pem, sign,
};

const NOW: i64 = 1_767_225_600;
const ISS: &str = "https://oidc.example.com/cluster";

fn key(name: &str) -> irsa_jose::PrivateKey {
    let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    parse_private_pem(&std::fs::read(path).unwrap()).unwrap()
}

fn bench(c: &mut Criterion) {
    for (label, file, raw_alg) in [
        (
            "RS256",
            "rsa2048-pkcs1.pem",
            &signature::RSA_PKCS1_2048_8192_SHA256 as &'static dyn signature::VerificationAlgorithm,
        ),
        (
            "ES256",
            "ec-p256-sec1-params.pem",
            &signature::ECDSA_P256_SHA256_FIXED,
        ),
    ] {
        let key = key(file);
        // A token shaped like a kube-apiserver pod-bound token (~1 KB).
        let mut claims = ServiceAccountClaims::new(
            ISS,
            "default",
            "app",
            vec!["sts.amazonaws.com".into()],
            NOW,
            3600,
        );
        claims.pod = Some(irsa_jose::ObjectRef::with_random_uid("app-7d9c8b6f5-x2x4z"));
        claims.node = Some(irsa_jose::ObjectRef::with_random_uid("node-1"));
        let token = sign(&Header::for_key(&key), &claims.to_json(), &key).unwrap();
        let set = JwkSet::from_public_keys([key.public_key()], false);
        let keys = VerifyingKeys::from_jwks(&set);
        let validation = Validation::new(ISS, ["sts.amazonaws.com"]);
        assert!(keys.verify(&token, &validation, NOW).is_ok());

        let mut group = c.benchmark_group(label);
        group.bench_function("jose verify (pre-parsed keys, claims checked)", |b| {
            b.iter(|| keys.verify(black_box(&token), &validation, NOW).unwrap())
        });
        let (input, sig) = token.rsplit_once('.').unwrap();
        let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
        let parsed = ParsedPublicKey::new(raw_alg, key.public_key().spki_der()).unwrap();
        group.bench_function("raw aws-lc-rs verify_sig (ceiling)", |b| {
            b.iter(|| {
                parsed
                    .verify_sig(black_box(input.as_bytes()), black_box(&sig))
                    .unwrap()
            })
        });
        group.bench_function("jose sign", |b| {
            b.iter(|| sign(&Header::for_key(&key), black_box(&claims.to_json()), &key).unwrap())
        });
        group.bench_function("VerifyingKeys::from_jwks (1 key)", |b| {
            b.iter(|| VerifyingKeys::from_jwks(black_box(&set)))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
