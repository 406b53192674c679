//! HTTP GET with the fetcher's limits, and `Cache-Control: max-age` parsing.

use std::time::Duration;

use super::tls::ThumbprintVerifier;
use super::{FetcherConfig, OidcError};

const MAX_REDIRECTS: usize = 3;

/// A client trusting the system roots (when configured) and `thumbprints`.
pub(super) fn client(
    config: &FetcherConfig,
    thumbprints: &[String],
) -> reqwest::Result<reqwest::Client> {
    let tls = ThumbprintVerifier::new(thumbprints, config.use_system_roots).client_config();
    let allow_http = config.allow_http;
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(config.timeout)
        .timeout(config.timeout)
        .user_agent(concat!("irsa-sts/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if attempt.url().scheme() != "https"
                && !(allow_http && attempt.url().scheme() == "http")
            {
                attempt.error("redirect to a non-https URL")
            } else {
                attempt.follow()
            }
        }))
        .build()
}

/// GETs `url`: status 200 required, body at most `max_body_bytes`. Returns the body and
/// the `Cache-Control` lifetime when the server gave one.
pub(super) async fn get(
    client: &reqwest::Client,
    config: &FetcherConfig,
    url: &str,
) -> Result<(Vec<u8>, Option<Duration>), OidcError> {
    check_url(config, url)?;
    let request_error = |e: reqwest::Error| OidcError::Request {
        url: url.to_owned(),
        reason: describe(&e),
    };
    let mut response = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(request_error)?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(OidcError::Status {
            url: url.to_owned(),
            status,
        });
    }
    let too_large = || OidcError::TooLarge {
        url: url.to_owned(),
        limit: config.max_body_bytes,
    };
    if response
        .content_length()
        .is_some_and(|n| n > config.max_body_bytes as u64)
    {
        return Err(too_large());
    }
    let ttl = response
        .headers()
        .get_all(reqwest::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(max_age);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(request_error)? {
        if body.len() + chunk.len() > config.max_body_bytes {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, ttl))
}

fn check_url(config: &FetcherConfig, url: &str) -> Result<(), OidcError> {
    let parsed = reqwest::Url::parse(url).map_err(|_| OidcError::BadUrl {
        url: url.to_owned(),
    })?;
    match parsed.scheme() {
        "https" if parsed.host().is_some() => Ok(()),
        "http" if parsed.host().is_some() => {
            if config.allow_http {
                Ok(())
            } else {
                Err(OidcError::InsecureUrl {
                    url: url.to_owned(),
                })
            }
        }
        _ => Err(OidcError::BadUrl {
            url: url.to_owned(),
        }),
    }
}

/// The lifetime a `Cache-Control` value grants: `max-age=N`, or zero for `no-cache` /
/// `no-store`; `None` when it says neither.
pub(super) fn max_age(value: &str) -> Option<Duration> {
    let mut result = None;
    for directive in value.split(',') {
        let directive = directive.trim();
        let lower = directive.to_ascii_lowercase();
        if lower == "no-cache" || lower == "no-store" {
            return Some(Duration::ZERO);
        }
        if let Some(n) = lower.strip_prefix("max-age=")
            && let Ok(n) = n.trim_matches('"').parse::<u64>()
        {
            result = Some(Duration::from_secs(n));
        }
    }
    result
}

/// The error with its causes (reqwest's top-level message alone hides TLS details).
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control() {
        assert_eq!(
            max_age("public, max-age=3600"),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(max_age("max-age=\"60\""), Some(Duration::from_secs(60)));
        assert_eq!(max_age("no-cache, max-age=3600"), Some(Duration::ZERO));
        assert_eq!(max_age("private"), None);
        assert_eq!(max_age("max-age=abc"), None);
    }
}
