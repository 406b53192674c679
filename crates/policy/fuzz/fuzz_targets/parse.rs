//! Fuzzes the policy parser and validator: they must never panic, and must agree on
//! whether a document is valid.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = irsa_policy::Policy::parse(text);
    let findings = irsa_policy::validate(text);
    let has_error = findings
        .iter()
        .any(|f| f.severity == irsa_policy::Severity::Error);
    assert_eq!(
        parsed.is_err(),
        has_error,
        "parse and validate disagree on {text:?}"
    );
    for kind in [
        irsa_policy::PolicyKind::Identity,
        irsa_policy::PolicyKind::Trust,
    ] {
        let _ = irsa_policy::Policy::parse_as(text, kind);
    }
});
