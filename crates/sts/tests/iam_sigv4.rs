//! The SigV4 verifier against signatures computed by the `aws-sigv4` crate (the signer
//! every AWS SDK for Rust client uses), over requests chosen to exercise canonicalization:
//! encoded paths, unsorted and repeated query keys, spaces and non-ASCII, folded header
//! whitespace, session tokens, and presigned URLs.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4::SigningParams;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use irsa_sts::sigv4::{self, HttpParts, Location, uri_encode};
use time::OffsetDateTime;

const ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

struct Case {
    method: &'static str,
    path: &'static str,
    query: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
}

/// A GET without extra headers or body.
const fn get(path: &'static str, query: &'static str) -> Case {
    Case {
        method: "GET",
        path,
        query,
        headers: &[],
        body: "",
    }
}

const CASES: &[Case] = &[
    get("/", ""),
    Case {
        method: "POST",
        path: "/",
        query: "",
        headers: &[(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )],
        body: "Action=GetCallerIdentity&Version=2011-06-15",
    },
    get("/", "Param2=value2&Param1=value1&Param1=value0"),
    get("/", "a%20b=c%2Fd&%C3%A9=%E2%82%AC&empty="),
    get("/example%20space/", ""),
    get("/a-b_c.d~e/%2A", ""),
    Case {
        method: "POST",
        path: "/",
        query: "Action=ListRoles",
        headers: &[
            ("x-amz-meta-note", "  several   spaces  here "),
            ("content-type", "text/plain"),
        ],
        body: "{\"odd\": \"body\"}",
    },
];

fn sign_case(
    c: &Case,
    location: SignatureLocation,
    token: Option<&str>,
    time: SystemTime,
) -> (String, HeaderMap) {
    let identity = Credentials::new(ID, SECRET, token.map(str::to_owned), None, "test").into();
    let mut settings = SigningSettings::default();
    settings.signature_location = location;
    settings.expires_in = Some(Duration::from_secs(900));
    let params = SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("sts")
        .time(time)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let url = if c.query.is_empty() {
        format!("http://127.0.0.1:8090{}", c.path)
    } else {
        format!("http://127.0.0.1:8090{}?{}", c.path, c.query)
    };
    let mut headers: Vec<(&str, &str)> = c.headers.to_vec();
    headers.push(("host", "127.0.0.1:8090"));
    let signable = SignableRequest::new(
        c.method,
        &url,
        headers.iter().copied(),
        SignableBody::Bytes(c.body.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut query = c.query.to_owned();
    for (k, v) in instructions.params() {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&format!(
            "{}={}",
            uri_encode(k, false),
            uri_encode(v, false)
        ));
    }
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    for (k, v) in instructions.headers() {
        map.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    (query, map)
}

fn verify(
    c: &Case,
    query: &str,
    headers: &HeaderMap,
    secret: &str,
    now: SystemTime,
) -> Result<sigv4::SignedRequest, String> {
    let parts = HttpParts {
        method: c.method,
        path: c.path,
        query: (!query.is_empty()).then_some(query),
        headers,
        body: c.body.as_bytes(),
    };
    let signed = sigv4::parse(&parts)
        .map_err(|e| e.to_string())?
        .ok_or("unsigned")?;
    signed
        .check("sts", OffsetDateTime::from(now))
        .map_err(|e| e.to_string())?;
    signed.verify(&parts, secret).map_err(|e| e.to_string())?;
    Ok(signed)
}

#[test]
fn signatures_from_aws_sigv4_verify_in_both_locations() {
    let now = SystemTime::now();
    for (i, c) in CASES.iter().enumerate() {
        for location in [SignatureLocation::Headers, SignatureLocation::QueryParams] {
            for token in [None, Some("session-token/with+chars=")] {
                let (query, headers) = sign_case(c, location, token, now);
                let signed = verify(c, &query, &headers, SECRET, now)
                    .unwrap_or_else(|e| panic!("case {i} {location:?}: {e}"));
                assert_eq!(signed.access_key_id, ID);
                assert_eq!(signed.session_token.as_deref(), token);
                let expected = if location == SignatureLocation::Headers {
                    Location::Header
                } else {
                    Location::Query
                };
                assert_eq!(signed.location, expected);
                let err = verify(c, &query, &headers, "wrong-secret", now).unwrap_err();
                assert!(
                    err.starts_with("SignatureDoesNotMatch: The request signature we calculated"),
                    "{err}"
                );
            }
        }
    }
}

/// Asserts that the verifier rejected a request because its signature does not match.
fn assert_signature_mismatch(result: Result<sigv4::SignedRequest, String>) {
    let err = result.unwrap_err();
    assert!(err.starts_with("SignatureDoesNotMatch"), "{err}");
}

#[test]
fn any_change_after_signing_breaks_the_signature() {
    let now = SystemTime::now();
    let c = &CASES[1];
    let (query, headers) = sign_case(c, SignatureLocation::Headers, None, now);
    let altered = Case {
        body: "Action=GetCallerIdentity&Version=2011-06-16",
        ..*c
    };
    assert_signature_mismatch(verify(&altered, &query, &headers, SECRET, now));
    let moved = Case {
        path: "/other",
        ..*c
    };
    assert_signature_mismatch(verify(&moved, &query, &headers, SECRET, now));
    let mut other_host = headers.clone();
    other_host.insert("host", HeaderValue::from_static("127.0.0.1:8091"));
    assert_signature_mismatch(verify(c, &query, &other_host, SECRET, now));
    // Presigned: the query is signed too.
    let c = &CASES[2];
    let (query, headers) = sign_case(c, SignatureLocation::QueryParams, None, now);
    let tampered = query.replace("value1", "value9");
    assert_signature_mismatch(verify(c, &tampered, &headers, SECRET, now));
}

#[test]
fn clock_skew_and_presigned_expiry() {
    use SignatureLocation::{Headers, QueryParams};
    let now = SystemTime::now();
    let c = &CASES[0];
    // (where the signature goes, minutes from the check to the signing time, the error
    // expected); presigned requests carry X-Amz-Expires=900: 14 minutes old is fine, 16 is not.
    let cases = [
        (Headers, -14_i32, None),
        (Headers, -16, Some("Signature expired")),
        (Headers, 16, Some("Signature not yet current")),
        (QueryParams, -14, None),
        (QueryParams, -16, Some("Signature expired")),
    ];
    for (location, minutes, expected) in cases {
        let offset = Duration::from_secs(u64::from(minutes.unsigned_abs()) * 60);
        let signed_at = if minutes < 0 {
            now - offset
        } else {
            now + offset
        };
        let (query, headers) = sign_case(c, location, None, signed_at);
        match (verify(c, &query, &headers, SECRET, now), expected) {
            (Ok(_), None) => {}
            (Err(err), Some(expected)) => assert!(
                err.contains(expected),
                "{location:?} signed {minutes} min from now: {err}"
            ),
            (result, expected) => panic!(
                "{location:?} signed {minutes} min from now: expected {expected:?}, got {result:?}"
            ),
        }
    }
}
