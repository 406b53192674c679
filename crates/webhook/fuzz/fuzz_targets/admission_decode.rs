//! Any bytes posted to /mutate: decoding, and mutation of whatever decodes, must never panic,
//! and the reply must always be a JSON AdmissionReview.
#![no_main]

use irsa_webhook::admission;
use irsa_webhook::cache::Found;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let reply = match admission::decode(data) {
        Ok(request) => {
            let outcome = irsa_webhook::mutation::admit(
                &irsa_mutate::Config::default(),
                &request,
                &Found::Missing,
                &Default::default(),
                &Default::default(),
            );
            match outcome {
                Ok(o) => admission::allow(
                    &request.envelope,
                    &request.uid,
                    o.patch.as_ref(),
                    &o.warnings,
                ),
                Err(message) => admission::reject(&admission::Rejection {
                    envelope: request.envelope,
                    uid: request.uid,
                    message,
                }),
            }
        }
        Err(rejection) => admission::reject(&rejection),
    };
    let value: serde_json::Value = serde_json::from_slice(&reply).expect("reply is JSON");
    assert_eq!(value["kind"], "AdmissionReview");
});
