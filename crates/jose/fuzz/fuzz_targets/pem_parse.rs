//! Any bytes given to the PEM key parser: an error or keys, never a panic; every key found
//! round-trips through its SPKI PEM to the same kid.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(keys) = irsa_jose::parse_pem(data) {
        for key in keys {
            let public = key.public_key();
            let again = irsa_jose::parse_pem(public.to_spki_pem().as_bytes()).unwrap();
            assert_eq!(again[0].public_key().kid(), public.kid());
        }
    }
});
