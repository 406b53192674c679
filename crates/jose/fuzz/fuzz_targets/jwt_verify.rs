//! Any string as a token: decode and verify against a fixed RSA and EC key set must return
//! an error (a forged token never verifies) and never panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn keys() -> &'static irsa_jose::VerifyingKeys {
    static KEYS: OnceLock<irsa_jose::VerifyingKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut pem = include_bytes!("../../testdata/rsa2048-spki.pem").to_vec();
        pem.extend_from_slice(include_bytes!("../../testdata/ec-p256-spki.pem"));
        let keys = irsa_jose::parse_pem(&pem).unwrap();
        irsa_jose::VerifyingKeys::from_public_keys(keys.iter().map(|k| k.public_key().clone()))
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let _ = irsa_jose::decode_unverified(token);
    let validation = irsa_jose::Validation::default();
    // Without the private keys no input can carry a valid signature.
    assert!(irsa_jose::verify(token, keys(), &validation, 1_767_225_600).is_err());
});
