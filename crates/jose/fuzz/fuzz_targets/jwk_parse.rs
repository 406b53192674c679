//! Any bytes as a JWK Set: parse, build verification keys; usable keys re-export to a JWK
//! that reads back as the same key.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(set) = irsa_jose::JwkSet::from_json(data) {
        let _ = irsa_jose::VerifyingKeys::from_jwks(&set);
        for jwk in &set.keys {
            if let Ok(key) = irsa_jose::PublicKey::from_jwk(jwk) {
                let back = irsa_jose::PublicKey::from_jwk(&key.to_jwk()).unwrap();
                assert_eq!(back.spki_der(), key.spki_der());
            }
        }
    }
});
