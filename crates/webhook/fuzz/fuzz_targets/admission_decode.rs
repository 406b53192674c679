//! Any bytes posted to /mutate, through the server's own path: the decode into the pod view,
//! the mutation written as JSON text, the reply written in one pass. None of it may panic, the
//! reply must always be a JSON AdmissionReview, and the decode must accept and reject exactly
//! what the whole-pod decode does (same rejection message; same request, view included).
#![no_main]

use irsa_webhook::admission;
use irsa_webhook::cache::Found;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let pruned = admission::decode(data);
    match (&pruned, admission::decode_whole(data)) {
        (Ok(p), Ok(full)) => assert_eq!(p, &full.view()),
        (Err(p), Err(full)) => assert_eq!(p, &full),
        (p, full) => panic!("pruned {p:?} but whole-pod {full:?}"),
    }
    let reply = match pruned {
        Ok(request) => {
            let outcome = irsa_webhook::mutation::admit_json(
                &irsa_mutate::Config::default(),
                &request,
                &Found::Missing,
                &Default::default(),
                &Default::default(),
            );
            match outcome {
                Ok(o) => {
                    if let Some(patch) = &o.patch {
                        let patch: serde_json::Value =
                            serde_json::from_slice(patch).expect("the patch is JSON");
                        assert!(patch.is_array(), "a JSON Patch is an array");
                    }
                    admission::allow_json(
                        &request.envelope,
                        &request.uid,
                        o.patch.as_deref(),
                        &o.warnings,
                    )
                }
                Err(message) => admission::reject(&admission::Rejection {
                    envelope: request.envelope,
                    uid: request.uid.into_owned(),
                    message,
                }),
            }
        }
        Err(rejection) => admission::reject(&rejection),
    };
    let value: serde_json::Value = serde_json::from_slice(&reply).expect("reply is JSON");
    assert_eq!(value["kind"], "AdmissionReview");
});
