//! AWS Signature Version 4 verification (`AWS4-HMAC-SHA256`), header and presigned-query forms.
//!
//! Verification is split in two so the caller can look up the secret in between:
//! [`parse`] reads the signature parameters (access key id, scope, signed headers, date,
//! session token) without any secret; [`SignedRequest::check`] validates scope and clock
//! skew; [`SignedRequest::verify`] recomputes the signature with the secret and compares
//! it in constant time.

use aws_lc_rs::{constant_time, digest, hmac};
use http::HeaderMap;
use time::{
    Duration, OffsetDateTime, PrimitiveDateTime, format_description::BorrowedFormatItem,
    macros::format_description,
};

use crate::protocol::AwsError;

/// The only algorithm supported.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far a request's date may be from the server clock (AWS: 15 minutes).
pub const MAX_SKEW: Duration = Duration::minutes(15);
/// Hex SHA-256 of the empty string.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const AMZ_DATE: &[BorrowedFormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");

/// The parts of an HTTP request that SigV4 covers.
#[derive(Debug, Clone, Copy)]
pub struct HttpParts<'a> {
    /// HTTP method, e.g. `POST`.
    pub method: &'a str,
    /// The path as sent (still percent-encoded), e.g. `/`.
    pub path: &'a str,
    /// The raw query string without `?`, if any.
    pub query: Option<&'a str>,
    /// All request headers.
    pub headers: &'a HeaderMap,
    /// The request body.
    pub body: &'a [u8],
}

/// Where the signature was carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// `Authorization` header.
    Header,
    /// Presigned URL (`X-Amz-Signature` query parameter).
    Query,
}

/// The signature parameters of a request, parsed but not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// The access key id of the credential scope.
    pub access_key_id: String,
    /// Scope date, `YYYYMMDD`.
    pub scope_date: String,
    /// Scope region (any region is accepted).
    pub region: String,
    /// Scope service (`sts`, `iam`).
    pub service: String,
    /// The request time as sent (`X-Amz-Date`, `YYYYMMDDTHHMMSSZ`).
    pub amz_date: String,
    /// The request time.
    pub timestamp: OffsetDateTime,
    /// Signed header names, lowercase, as listed by the client.
    pub signed_headers: Vec<String>,
    /// The session token (`X-Amz-Security-Token`), for temporary credentials.
    pub session_token: Option<String>,
    /// Header or presigned query.
    pub location: Location,
    /// `X-Amz-Expires` of a presigned URL, in seconds.
    pub expires: Option<i64>,
    signature: String,
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Raw query pairs, percent-decoded (`+` is kept literally, as SigV4 signers encode spaces as `%20`).
fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    let Some(q) = query else { return Vec::new() };
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex_val(b[i + 1]), hex_val(b[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// URI-encodes per SigV4: RFC 3986 unreserved characters are kept, everything else is `%XX`
/// (uppercase). `keep_slash` keeps `/` (for paths).
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric()
            || matches!(c, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && c == b'/')
        {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// Parses the SigV4 parameters of a request. `Ok(None)` means the request is not signed
/// at all (no `Authorization` header and no `X-Amz-Signature`/`X-Amz-Credential`).
pub fn parse(parts: &HttpParts<'_>) -> Result<Option<SignedRequest>, AwsError> {
    let query = query_pairs(parts.query);
    let q = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if let Some(auth) = header(parts.headers, "authorization") {
        return parse_header(auth, parts).map(Some);
    }
    if q("X-Amz-Signature").is_none()
        && q("X-Amz-Credential").is_none()
        && q("X-Amz-Algorithm").is_none()
    {
        return Ok(None);
    }
    let need = |name: &str| {
        q(name).ok_or_else(|| {
            AwsError::incomplete_signature(format!("AWS query-string parameters must include '{name}'. Re-examine the query-string parameters."))
        })
    };
    let algorithm = need("X-Amz-Algorithm")?;
    if algorithm != ALGORITHM {
        return Err(AwsError::incomplete_signature(format!(
            "Unsupported AWS 'algorithm': '{algorithm}'"
        )));
    }
    let credential = need("X-Amz-Credential")?;
    let signed_headers = need("X-Amz-SignedHeaders")?;
    let signature = need("X-Amz-Signature")?;
    let amz_date = need("X-Amz-Date")?;
    let expires_text = need("X-Amz-Expires")?;
    let expires = expires_text
        .parse::<i64>()
        .ok()
        .filter(|e| (1..=604_800).contains(e))
        .ok_or_else(|| {
            AwsError::incomplete_signature(
                "X-Amz-Expires must be an integer between 1 and 604800 (seconds)",
            )
        })?;
    let mut signed = build(
        credential,
        signed_headers,
        signature,
        amz_date,
        Location::Query,
    )?;
    signed.expires = Some(expires);
    signed.session_token = q("X-Amz-Security-Token").map(str::to_owned);
    Ok(Some(signed))
}

fn parse_header(auth: &str, parts: &HttpParts<'_>) -> Result<SignedRequest, AwsError> {
    let auth = auth.trim();
    let (algorithm, rest) = auth.split_once(' ').unwrap_or((auth, ""));
    if algorithm != ALGORITHM {
        return Err(AwsError::incomplete_signature(format!(
            "Unsupported AWS 'algorithm': '{algorithm}'"
        )));
    }
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for field in rest.split(',') {
        let field = field.trim();
        let (k, v) = field.split_once('=').unwrap_or((field, ""));
        match k.trim() {
            "Credential" => credential = Some(v.trim()),
            "SignedHeaders" => signed_headers = Some(v.trim()),
            "Signature" => signature = Some(v.trim()),
            _ => {}
        }
    }
    let mut missing = Vec::new();
    if credential.is_none() {
        missing.push("Authorization header requires 'Credential' parameter.");
    }
    if signature.is_none() {
        missing.push("Authorization header requires 'Signature' parameter.");
    }
    if signed_headers.is_none() {
        missing.push("Authorization header requires 'SignedHeaders' parameter.");
    }
    let http_date = header(parts.headers, "date").and_then(http_date_to_amz);
    let amz_date = header(parts.headers, "x-amz-date").or(http_date.as_deref());
    if amz_date.is_none() {
        missing.push(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        );
    }
    let (Some(credential), Some(signed_headers), Some(signature), Some(amz_date)) =
        (credential, signed_headers, signature, amz_date)
    else {
        return Err(AwsError::incomplete_signature(missing.join(" ")));
    };
    let mut signed = build(
        credential,
        signed_headers,
        signature,
        amz_date,
        Location::Header,
    )?;
    signed.session_token = header(parts.headers, "x-amz-security-token").map(str::to_owned);
    Ok(signed)
}

fn build(
    credential: &str,
    signed_headers: &str,
    signature: &str,
    amz_date: &str,
    location: Location,
) -> Result<SignedRequest, AwsError> {
    let scope: Vec<&str> = credential.split('/').collect();
    if scope.len() != 5 || scope[0].is_empty() {
        return Err(AwsError::incomplete_signature(format!(
            "Credential should be scoped to a valid region, not '{}'. ",
            scope.get(2).copied().unwrap_or("")
        )));
    }
    if scope[4] != "aws4_request" {
        return Err(AwsError::signature_error(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'. ",
            scope[4]
        )));
    }
    let timestamp = PrimitiveDateTime::parse(amz_date, AMZ_DATE)
        .map(PrimitiveDateTime::assume_utc)
        .map_err(|_| {
            AwsError::incomplete_signature(format!(
                "Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See http://en.wikipedia.org/wiki/ISO_8601"
            ))
        })?;
    let signed_headers: Vec<String> = signed_headers
        .split(';')
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    if !signed_headers.iter().any(|h| h == "host") {
        return Err(AwsError::signature_error(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        ));
    }
    Ok(SignedRequest {
        access_key_id: scope[0].to_owned(),
        scope_date: scope[1].to_owned(),
        region: scope[2].to_owned(),
        service: scope[3].to_owned(),
        amz_date: amz_date.to_owned(),
        timestamp,
        signed_headers,
        session_token: None,
        location,
        expires: None,
        signature: signature.to_ascii_lowercase(),
    })
}

/// An RFC 7231 `Date` header (`Sun, 30 Aug 2015 12:36:00 GMT`) in SigV4's basic ISO-8601 form.
fn http_date_to_amz(value: &str) -> Option<String> {
    const HTTP_DATE: &[BorrowedFormatItem<'static>] = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    PrimitiveDateTime::parse(value.trim(), HTTP_DATE)
        .ok()
        .map(|t| amz(t.assume_utc()))
}

fn amz(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(AMZ_DATE)
        .unwrap_or_default()
}

impl SignedRequest {
    /// Checks the credential scope (service, date) and the request time against `now`
    /// (±15 minutes; a presigned URL also must not be past `X-Amz-Date + X-Amz-Expires`).
    pub fn check(&self, service: &str, now: OffsetDateTime) -> Result<(), AwsError> {
        if self.service != service {
            return Err(AwsError::signature_error(format!(
                "Credential should be scoped to correct service: '{service}'. "
            )));
        }
        let date = &self.amz_date[..8.min(self.amz_date.len())];
        if self.scope_date != date {
            return Err(AwsError::signature_error(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.",
                self.scope_date, date, self.amz_date
            )));
        }
        if let Some(expires) = self.expires {
            let end = self.timestamp + Duration::seconds(expires);
            if now > end {
                return Err(AwsError::signature_error(format!(
                    "Signature expired: {} is now earlier than {} ({} + {} sec.)",
                    amz(end),
                    amz(now),
                    self.amz_date,
                    expires
                )));
            }
        }
        if self.timestamp < now - MAX_SKEW {
            return Err(AwsError::signature_error(format!(
                "Signature expired: {} is now earlier than {} ({} - 15 min.)",
                self.amz_date,
                amz(now - MAX_SKEW),
                amz(now)
            )));
        }
        if self.timestamp > now + MAX_SKEW {
            return Err(AwsError::signature_error(format!(
                "Signature not yet current: {} is still later than {} ({} + 15 min.)",
                self.amz_date,
                amz(now + MAX_SKEW),
                amz(now)
            )));
        }
        Ok(())
    }

    /// Recomputes the signature with `secret` and compares it in constant time.
    pub fn verify(&self, parts: &HttpParts<'_>, secret: &str) -> Result<(), AwsError> {
        let body_hash = hex(digest::digest(&digest::SHA256, parts.body).as_ref());
        let mut candidates = vec![body_hash.clone()];
        match header(parts.headers, "x-amz-content-sha256") {
            Some("UNSIGNED-PAYLOAD") => candidates = vec!["UNSIGNED-PAYLOAD".to_owned()],
            Some(h) if !h.eq_ignore_ascii_case(&body_hash) => {
                return Err(AwsError::signature_does_not_match());
            }
            _ => {}
        }
        if self.location == Location::Query && !candidates.iter().any(|c| c == "UNSIGNED-PAYLOAD") {
            candidates.push("UNSIGNED-PAYLOAD".to_owned());
        }
        let key = signing_key(secret, &self.scope_date, &self.region, &self.service);
        let provided = decode_hex(&self.signature).unwrap_or_default();
        let mut ok = false;
        for payload_hash in &candidates {
            let creq = canonical_request(
                parts,
                &self.signed_headers,
                payload_hash,
                self.location == Location::Query,
            );
            let sts = string_to_sign(&self.amz_date, &self.scope(), &creq);
            let computed = hmac::sign(&key, sts.as_bytes());
            ok |= constant_time::verify_slices_are_equal(computed.as_ref(), &provided).is_ok();
        }
        if ok {
            Ok(())
        } else {
            Err(AwsError::signature_does_not_match())
        }
    }

    /// `date/region/service/aws4_request`.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.scope_date, self.region, self.service
        )
    }
}

/// The canonical request: method, canonical URI, canonical query (without `X-Amz-Signature`
/// when `presigned`), canonical headers, signed headers and the payload hash.
pub fn canonical_request(
    parts: &HttpParts<'_>,
    signed_headers: &[String],
    payload_hash: &str,
    presigned: bool,
) -> String {
    let mut pairs: Vec<(String, String)> = query_pairs(parts.query)
        .into_iter()
        .filter(|(k, _)| !(presigned && k == "X-Amz-Signature"))
        .map(|(k, v)| (uri_encode(&k, false), uri_encode(&v, false)))
        .collect();
    pairs.sort();
    let query = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut headers = String::new();
    for name in signed_headers {
        let values: Vec<String> = parts
            .headers
            .get_all(name.as_str())
            .iter()
            .map(|v| collapse_spaces(&String::from_utf8_lossy(v.as_bytes())))
            .collect();
        headers.push_str(name);
        headers.push(':');
        headers.push_str(&values.join(","));
        headers.push('\n');
    }
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        parts.method,
        canonical_uri(parts.path),
        query,
        headers,
        signed_headers.join(";"),
        payload_hash
    )
}

fn collapse_spaces(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The canonical URI of a non-S3 request: dot segments removed, empty segments collapsed,
/// then each segment URI-encoded again (AWS's "double encoding").
pub fn canonical_uri(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let trailing = path.len() > 1 && path.ends_with('/') && !segments.is_empty();
    let mut out = String::from("/");
    out.push_str(
        &segments
            .iter()
            .map(|s| uri_encode(s, false))
            .collect::<Vec<_>>()
            .join("/"),
    );
    if trailing {
        out.push('/');
    }
    out
}

/// `AWS4-HMAC-SHA256\n<amz-date>\n<scope>\n<hex sha256(canonical request)>`.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex(digest::digest(&digest::SHA256, canonical_request.as_bytes()).as_ref())
    )
}

/// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> hmac::Key {
    let k = hmac::Key::new(hmac::HMAC_SHA256, format!("AWS4{secret}").as_bytes());
    let k = hmac::Key::new(hmac::HMAC_SHA256, hmac::sign(&k, date.as_bytes()).as_ref());
    let k = hmac::Key::new(
        hmac::HMAC_SHA256,
        hmac::sign(&k, region.as_bytes()).as_ref(),
    );
    let k = hmac::Key::new(
        hmac::HMAC_SHA256,
        hmac::sign(&k, service.as_bytes()).as_ref(),
    );
    hmac::Key::new(hmac::HMAC_SHA256, hmac::sign(&k, b"aws4_request").as_ref())
}

/// The hex SHA-256 of an empty payload.
pub fn empty_payload_hash() -> &'static str {
    EMPTY_SHA256
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|c| Some(hex_val(c[0])? << 4 | hex_val(c[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    // The AWS SigV4 test-suite case `get-vanilla` (AKIDEXAMPLE, service `service`, us-east-1).
    #[test]
    fn aws_test_suite_get_vanilla() {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("example.amazonaws.com"));
        headers.insert("x-amz-date", HeaderValue::from_static("20150830T123600Z"));
        headers.insert(
            "authorization",
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
        );
        let parts = HttpParts {
            method: "GET",
            path: "/",
            query: None,
            headers: &headers,
            body: b"",
        };
        let signed = parse(&parts).unwrap().unwrap();
        assert_eq!(signed.access_key_id, "AKIDEXAMPLE");
        let creq = canonical_request(&parts, &signed.signed_headers, EMPTY_SHA256, false);
        assert_eq!(
            creq,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        signed
            .verify(&parts, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
            .unwrap();
        assert_eq!(
            signed.verify(&parts, "wrong").unwrap_err().code,
            "SignatureDoesNotMatch"
        );
        let now = OffsetDateTime::from_unix_timestamp(1_440_938_160).unwrap(); // 2015-08-30T12:36:00Z
        signed.check("service", now).unwrap();
        let late = signed
            .check("service", now + Duration::minutes(16))
            .unwrap_err();
        assert_eq!(
            late.message,
            "Signature expired: 20150830T123600Z is now earlier than 20150830T123700Z (20150830T125200Z - 15 min.)"
        );
        assert!(
            signed
                .check("sts", now)
                .unwrap_err()
                .message
                .contains("correct service: 'sts'")
        );
    }

    #[test]
    fn date_header_is_accepted_in_place_of_x_amz_date() {
        assert_eq!(
            http_date_to_amz("Sun, 30 Aug 2015 12:36:00 GMT").as_deref(),
            Some("20150830T123600Z")
        );
        assert_eq!(http_date_to_amz("yesterday"), None);
    }

    #[test]
    fn uri_rules() {
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("//example//"), "/example/");
        assert_eq!(canonical_uri("/a/./b/../c"), "/a/c");
        assert_eq!(canonical_uri("/a%20b"), "/a%2520b");
        assert_eq!(uri_encode("a b+c~", false), "a%20b%2Bc~");
        assert_eq!(percent_decode("a%2Fb%zz%"), "a/b%zz%");
    }

    #[test]
    fn missing_parts_are_incomplete() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/sts/aws4_request",
            ),
        );
        let parts = HttpParts {
            method: "POST",
            path: "/",
            query: None,
            headers: &headers,
            body: b"",
        };
        let err = parse(&parts).unwrap_err();
        assert_eq!(err.code, "IncompleteSignature");
        assert!(
            err.message.contains("'Signature'")
                && err.message.contains("'SignedHeaders'")
                && err.message.contains("X-Amz-Date")
        );
        let empty = HeaderMap::new();
        let parts = HttpParts {
            method: "POST",
            path: "/",
            query: Some("Action=GetCallerIdentity"),
            headers: &empty,
            body: b"",
        };
        assert!(parse(&parts).unwrap().is_none());
    }
}
