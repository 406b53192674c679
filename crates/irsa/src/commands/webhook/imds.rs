//! The EC2 instance identity document from the instance metadata service (IMDS), for
//! `--compose-role-arn`: IMDSv2 (session token) with the IMDSv1 fallback the AWS SDKs use.

use std::time::Duration;

use anyhow::{Context as _, bail};
use reqwest::StatusCode;
use serde::Deserialize;

/// Default endpoint (IPv4 mode), as in the AWS SDKs.
const DEFAULT_ENDPOINT: &str = "http://169.254.169.254";
/// Default endpoint when `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6`.
const DEFAULT_ENDPOINT_IPV6: &str = "http://[fd00:ec2::254]";
const TOKEN_PATH: &str = "/latest/api/token";
const DOCUMENT_PATH: &str = "/latest/dynamic/instance-identity/document";
const TOKEN_TTL_HEADER: &str = "X-aws-ec2-metadata-token-ttl-seconds";
const TOKEN_HEADER: &str = "X-aws-ec2-metadata-token";
/// Session token lifetime requested, in seconds (the SDKs' value).
const TOKEN_TTL: &str = "21600";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Attempts of the whole token + document exchange on transient failures.
const ATTEMPTS: u32 = 3;
/// Documents are about 500 bytes; anything much larger is not IMDS.
const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// What `--compose-role-arn` needs from the instance identity document.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IdentityDocument {
    /// `accountId`: the 12-digit account that owns the instance.
    #[serde(rename = "accountId")]
    pub account_id: String,
    /// `region`, e.g. `cn-north-1`.
    pub region: String,
}

/// The IMDS endpoint: `AWS_EC2_METADATA_SERVICE_ENDPOINT`, else the default of
/// `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE` (`IPv4`, the default, or `IPv6`), as the SDKs do.
/// Trailing slashes are dropped.
pub fn endpoint() -> String {
    let from_env = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let endpoint = match from_env("AWS_EC2_METADATA_SERVICE_ENDPOINT") {
        Some(e) => e.trim().to_owned(),
        None => match from_env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE") {
            Some(mode) if mode.trim().eq_ignore_ascii_case("ipv6") => {
                DEFAULT_ENDPOINT_IPV6.to_owned()
            }
            _ => DEFAULT_ENDPOINT.to_owned(),
        },
    };
    endpoint.trim_end_matches('/').to_owned()
}

/// Fetches the instance identity document from `endpoint`: `PUT /latest/api/token` for an
/// IMDSv2 session token, then `GET /latest/dynamic/instance-identity/document` with it; an
/// unauthenticated GET (IMDSv1) when the PUT is answered 403, 404 or 405. Timeouts are short
/// (1 s connect, 2 s per request) and transient failures (connection errors, timeouts, 5xx,
/// 429) are retried, so an unreachable IMDS fails within a few seconds.
pub async fn identity_document(endpoint: &str) -> anyhow::Result<IdentityDocument> {
    if std::env::var("AWS_EC2_METADATA_DISABLED")
        .is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"))
    {
        bail!("the instance metadata service is disabled by AWS_EC2_METADATA_DISABLED=true");
    }
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        // IMDS is link-local: never through an HTTP(S)_PROXY, never redirected.
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("cannot build the HTTP client")?;
    let mut attempt = 1;
    loop {
        match exchange(&client, endpoint).await {
            Ok(document) => return Ok(document),
            Err(Failure::Transient(err)) if attempt < ATTEMPTS => {
                tracing::debug!(attempt, error = %format!("{err:#}"), "IMDS request failed; retrying");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                attempt += 1;
            }
            Err(Failure::Transient(err)) => {
                return Err(err.context(format!("gave up after {ATTEMPTS} attempts")));
            }
            Err(Failure::Fatal(err)) => return Err(err),
        }
    }
}

enum Failure {
    /// Worth another try: connection error, timeout, 5xx, 429.
    Transient(anyhow::Error),
    /// Retrying will not help: a 4xx, or a document without what we need.
    Fatal(anyhow::Error),
}

fn transport(err: reqwest::Error, what: &str) -> Failure {
    Failure::Transient(anyhow::Error::new(err).context(format!("{what} failed")))
}

fn status_failure(status: StatusCode, what: &str) -> Failure {
    let err = anyhow::anyhow!("{what} was answered HTTP {status}");
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        Failure::Transient(err)
    } else {
        Failure::Fatal(err)
    }
}

/// One token + document exchange.
async fn exchange(client: &reqwest::Client, endpoint: &str) -> Result<IdentityDocument, Failure> {
    let put = format!("PUT {TOKEN_PATH}");
    let response = client
        .put(format!("{endpoint}{TOKEN_PATH}"))
        .header(TOKEN_TTL_HEADER, TOKEN_TTL)
        .send()
        .await
        .map_err(|e| transport(e, &put))?;
    let token = match response.status() {
        StatusCode::OK => Some(response.text().await.map_err(|e| transport(e, &put))?),
        // No IMDSv2 here (or it is refused): fall back to IMDSv1, as the SDKs do.
        StatusCode::FORBIDDEN | StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => None,
        status => return Err(status_failure(status, &put)),
    };
    let get = format!("GET {DOCUMENT_PATH}");
    let mut request = client.get(format!("{endpoint}{DOCUMENT_PATH}"));
    if let Some(token) = token.as_deref() {
        request = request.header(TOKEN_HEADER, token.trim());
    }
    let response = request.send().await.map_err(|e| transport(e, &get))?;
    if response.status() != StatusCode::OK {
        return Err(status_failure(response.status(), &get));
    }
    let body = response.bytes().await.map_err(|e| transport(e, &get))?;
    parse_document(&body).map_err(Failure::Fatal)
}

/// Reads `accountId` and `region` from the document and checks their shape.
fn parse_document(body: &[u8]) -> anyhow::Result<IdentityDocument> {
    if body.len() > MAX_DOCUMENT_BYTES {
        bail!(
            "the instance identity document is {} bytes, more than IMDS ever sends",
            body.len()
        );
    }
    let document: IdentityDocument = serde_json::from_slice(body)
        .context("the instance identity document is not JSON with accountId and region")?;
    if document.account_id.len() != 12 || !document.account_id.bytes().all(|b| b.is_ascii_digit()) {
        bail!(
            "the instance identity document's accountId {:?} is not a 12-digit AWS account ID",
            document.account_id
        );
    }
    let region_ok = !document.region.is_empty()
        && document
            .region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !region_ok {
        bail!(
            "the instance identity document's region {:?} is not an AWS region name",
            document.region
        );
    }
    Ok(document)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_real_shaped_document() {
        // Fields of an instance identity document as IMDS returns it.
        let body = br#"{
          "accountId" : "123456789012", "architecture" : "x86_64",
          "availabilityZone" : "cn-north-1a", "billingProducts" : null,
          "devpayProductCodes" : null, "marketplaceProductCodes" : null,
          "imageId" : "ami-0123456789abcdef0", "instanceId" : "i-0123456789abcdef0",
          "instanceType" : "m5.large", "kernelId" : null, "pendingTime" : "2026-11-23T10:00:00Z",
          "privateIp" : "10.0.0.10", "ramdiskId" : null, "region" : "cn-north-1", "version" : "2017-09-30"
        }"#;
        assert_eq!(
            parse_document(body).unwrap(),
            IdentityDocument {
                account_id: "123456789012".into(),
                region: "cn-north-1".into()
            }
        );
    }

    #[test]
    fn rejects_documents_without_usable_account_or_region() {
        for body in [
            &br#"{"region":"us-east-1"}"#[..],
            br#"{"accountId":"1234","region":"us-east-1"}"#,
            br#"{"accountId":"123456789012","region":""}"#,
            br#"{"accountId":"123456789012","region":"US East"}"#,
            b"<html>captive portal</html>",
        ] {
            assert!(
                parse_document(body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
