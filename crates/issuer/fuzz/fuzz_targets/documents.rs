//! Untrusted input the issuer reads back: discovery documents, JWKS files and issuer URLs
//! (from a published folder or the command line). None of them may panic, and whatever is
//! accepted must serialise and parse again to the same thing.
#![no_main]

use irsa_issuer::documents::{Discovery, JwkSet};
use irsa_issuer::url::{IssuerPolicy, IssuerUrl, check_jwks_path};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(set) = JwkSet::from_json(data) {
        let again = JwkSet::from_json(&set.to_json()).expect("own JWKS output parses");
        assert_eq!(again, set);
    }
    for policy in [IssuerPolicy::Aws, IssuerPolicy::AllowInsecureHttp] {
        if let Ok(doc) = Discovery::from_json(data, policy) {
            let again = Discovery::from_json(&doc.to_json(), policy).expect("own document parses");
            assert_eq!(again.jwks_path(), doc.jwks_path());
            assert!(check_jwks_path(doc.jwks_path()).is_ok());
        }
        if let Ok(text) = std::str::from_utf8(data)
            && let Ok(url) = IssuerUrl::parse(text, policy)
        {
            assert_eq!(url.as_str(), text, "issuers are kept byte-for-byte");
            let _ = url.discovery_url();
        }
    }
});
