//! Fetching an issuer's discovery document and JWKS over HTTP(S), the way AWS STS does.

use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use irsa_jose::JwkSet;
use serde_json::Value;

/// Largest discovery document or JWKS accepted.
const MAX_BODY: usize = 1024 * 1024;

/// Fetches `<issuer>/.well-known/openid-configuration`, checks its `issuer`, then fetches
/// `jwks_uri`. Returns the set and a description of where it came from.
pub(super) fn discover_jwks(issuer: &str, timeout: Duration) -> anyhow::Result<(JwkSet, String)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the HTTP runtime")?;
    runtime.block_on(discover(issuer, timeout))
}

/// [`discover_jwks`] for callers already on a Tokio runtime (`irsa demo`).
pub(crate) async fn discover(issuer: &str, timeout: Duration) -> anyhow::Result<(JwkSet, String)> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::limited(5))
        .user_agent(concat!("irsa/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("cannot build the HTTP client")?;
    let discovery_url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let doc = get_json(&client, &discovery_url, "discovery document").await?;
    let found = doc.get("issuer").and_then(Value::as_str).ok_or_else(|| {
        anyhow!("the discovery document at {discovery_url} has no \"issuer\" string")
    })?;
    if found != issuer {
        bail!(
            "issuer mismatch: the discovery document at {discovery_url} says issuer \
                 {found:?}, but {issuer:?} was given; they must be byte-identical (AWS \
                 rejects tokens otherwise) — fix --service-account-issuer or the document"
        );
    }
    let jwks_uri = doc.get("jwks_uri").and_then(Value::as_str).ok_or_else(|| {
        anyhow!("the discovery document at {discovery_url} has no \"jwks_uri\" string")
    })?;
    let jwks = get_json(&client, jwks_uri, "JWKS").await?;
    let set: JwkSet = serde_json::from_value(jwks)
        .with_context(|| format!("{jwks_uri} is not a JWK Set ({{\"keys\":[...]}})"))?;
    Ok((set, jwks_uri.to_owned()))
}

async fn get_json(client: &reqwest::Client, url: &str, what: &str) -> anyhow::Result<Value> {
    let mut response = client.get(url).send().await.map_err(|e| {
        let kind = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "connection failed"
        } else {
            "request failed"
        };
        anyhow!(
            "cannot fetch the {what} from {url}: {kind}: {}",
            error_chain(&e)
        )
    })?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        bail!("cannot fetch the {what}: {url} answered HTTP {status}, expected 200");
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .with_context(|| format!("reading the {what} from {url}"))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_BODY {
            bail!("the {what} at {url} is larger than {MAX_BODY} bytes; refusing it");
        }
    }
    serde_json::from_slice(&body).map_err(|e| anyhow!("the {what} at {url} is not JSON: {e}"))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    // reqwest's own message repeats the URL; its sources say what actually went wrong.
    let mut parts = Vec::new();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p: &String| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    if parts.is_empty() {
        e.to_string()
    } else {
        parts.join(": ")
    }
}
