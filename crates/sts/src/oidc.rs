//! Fetching an OIDC issuer's signing keys the way STS does: discovery document, then
//! JWKS, with timeouts, size and key-count limits, a per-issuer cache, rate-limited
//! refetch on an unknown `kid`, and TLS trust from the system roots or the provider's
//! thumbprints.
//!
//! - `GET <issuer>/.well-known/openid-configuration` → `jwks_uri` → `GET <jwks_uri>`.
//! - Each request: 5 s timeout (connect and total), body at most 1 MiB, at most 3
//!   redirects and never from https to http. A JWKS with more than 100 keys is refused
//!   (AWS reads at most 100).
//! - Cache per issuer URL for the smaller `Cache-Control: max-age` of both answers,
//!   clamped to 1 min..24 h (1 h when absent). A token whose `kid` is not in the cached
//!   set triggers one refetch, at most once per 10 s per issuer. Concurrent requests for
//!   the same issuer share one fetch, and share its failure too (no retry storm while an
//!   issuer is down).
//! - `http://` issuers and `jwks_uri`s are refused unless the fetcher allows them
//!   (`--allow-http-issuers`).

mod http;
pub mod tls;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use irsa_jose::{JwkSet, VerifyingKeys};
use serde::Deserialize;

/// Limits and timings of the fetcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetcherConfig {
    /// Connect and total timeout of each HTTP request.
    pub timeout: Duration,
    /// Largest accepted body of the discovery document and the JWKS.
    pub max_body_bytes: usize,
    /// Largest accepted number of keys in a JWKS.
    pub max_keys: usize,
    /// Cache lifetime when the issuer sends no `Cache-Control: max-age`.
    pub default_ttl: Duration,
    /// Lower bound of the cache lifetime (also for `no-cache` / `max-age=0`).
    pub min_ttl: Duration,
    /// Upper bound of the cache lifetime.
    pub max_ttl: Duration,
    /// Minimum time between two fetches of one issuer triggered by unknown `kid`s.
    pub refetch_interval: Duration,
    /// Accept `http://` issuer and JWKS URLs.
    pub allow_http: bool,
    /// Trust the system's root certificates (else only thumbprints are trusted).
    pub use_system_roots: bool,
}

impl Default for FetcherConfig {
    fn default() -> FetcherConfig {
        FetcherConfig {
            timeout: Duration::from_secs(5),
            max_body_bytes: 1024 * 1024,
            max_keys: 100,
            default_ttl: Duration::from_secs(3600),
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(24 * 3600),
            refetch_interval: Duration::from_secs(10),
            allow_http: false,
            use_system_roots: true,
        }
    }
}

/// Why an issuer's keys could not be fetched. The detail is for logs; clients get
/// AWS's generic `InvalidIdentityToken` message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    /// The URL is not an absolute http(s) URL.
    #[error("{url} is not a valid https URL")]
    BadUrl {
        /// The URL.
        url: String,
    },
    /// An `http://` URL while plain HTTP is not allowed.
    #[error(
        "{url} uses http://; AWS fetches keys over https only (start the server with --allow-http-issuers for loopback tests)"
    )]
    InsecureUrl {
        /// The URL.
        url: String,
    },
    /// Connecting, TLS or the transfer failed or timed out.
    #[error("fetching {url} failed: {reason}")]
    Request {
        /// The URL.
        url: String,
        /// What failed (connection refused, certificate not trusted, timeout...).
        reason: String,
    },
    /// The issuer answered with a non-200 status.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The body is larger than the limit.
    #[error("{url} sent more than {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// The body is not the expected JSON document.
    #[error("{url} is not a valid {what}: {reason}")]
    BadDocument {
        /// The URL.
        url: String,
        /// `discovery document` or `JWKS`.
        what: &'static str,
        /// The parse error.
        reason: String,
    },
    /// The JWKS has more keys than supported.
    #[error("the JWKS at {url} has {count} keys; at most {max} are read (as AWS does)")]
    TooManyKeys {
        /// The URL.
        url: String,
        /// Keys found.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The JWKS has no RSA or EC signature key that could be used.
    #[error("the JWKS at {url} has no usable RSA or EC signing key")]
    NoUsableKeys {
        /// The URL.
        url: String,
    },
}

impl OidcError {
    /// True for answers that say "try again later" (HTTP 5xx, 429): STS answers those
    /// with `IDPCommunicationError`, which SDKs retry.
    pub fn is_transient(&self) -> bool {
        matches!(self, OidcError::Status { status, .. } if *status >= 500 || *status == 429)
    }
}

/// The keys of one issuer as fetched.
#[derive(Debug)]
pub struct IssuerKeys {
    /// The issuer URL as asked for.
    pub issuer: String,
    /// The `jwks_uri` of the discovery document.
    pub jwks_uri: String,
    /// The JWKS as served.
    pub jwks: JwkSet,
    /// The usable keys, parsed once for fast verification.
    pub keys: VerifyingKeys,
    /// When the fetch finished.
    pub fetched_at: Instant,
    /// When the cache entry goes stale.
    pub expires_at: Instant,
}

impl IssuerKeys {
    /// Whether a key with this `kid` is present.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.kids().any(|k| k == Some(kid))
    }
}

#[derive(Default)]
struct Slot {
    current: RwLock<Option<Arc<IssuerKeys>>>,
    /// Serialises fetches of one issuer; holds the last failure and when it happened.
    fetch: tokio::sync::Mutex<Option<(Instant, OidcError)>>,
}

impl Slot {
    fn current(&self) -> Option<Arc<IssuerKeys>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Fetches and caches issuer keys. One per server; cheap to share behind an `Arc`.
pub struct OidcFetcher {
    config: FetcherConfig,
    issuers: RwLock<HashMap<String, Arc<Slot>>>,
    clients: Mutex<HashMap<Vec<String>, reqwest::Client>>,
    fetches: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for OidcFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcFetcher")
            .field("config", &self.config)
            .field("fetches", &self.fetch_count())
            .finish_non_exhaustive()
    }
}

impl OidcFetcher {
    /// A fetcher with an empty cache.
    pub fn new(config: FetcherConfig) -> OidcFetcher {
        OidcFetcher {
            config,
            issuers: RwLock::new(HashMap::new()),
            clients: Mutex::new(HashMap::new()),
            fetches: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The settings.
    pub fn config(&self) -> &FetcherConfig {
        &self.config
    }

    /// How many discovery+JWKS fetches were started so far (for metrics and tests).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Drops every cached entry.
    pub fn clear(&self) {
        self.issuers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The keys of `issuer` (a full URL, e.g. `https://oidc.example.com/id/abc`), from the
    /// cache when fresh and, when `kid` is given, when it contains that `kid`; otherwise
    /// fetched (an unknown `kid` refetches at most once per refetch interval; when rate
    /// limited the cached keys are returned and the caller finds no matching key).
    /// `thumbprints` are the provider's SHA-1 certificate thumbprints (hex).
    pub async fn keys(
        &self,
        issuer: &str,
        thumbprints: &[String],
        kid: Option<&str>,
    ) -> Result<Arc<IssuerKeys>, OidcError> {
        let arrived = Instant::now();
        let slot = self.slot(issuer);
        if let Some(keys) = slot.current()
            && self.usable(&keys, kid, arrived)
        {
            return Ok(keys);
        }
        let mut last_failure = slot.fetch.lock().await;
        // Whoever held the lock while we waited may have done the work already.
        if let Some(keys) = slot.current()
            && (keys.fetched_at >= arrived || self.usable(&keys, kid, arrived))
        {
            return Ok(keys);
        }
        if let Some((at, err)) = last_failure.as_ref()
            && *at >= arrived
        {
            return Err(err.clone());
        }
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match self.fetch(issuer, thumbprints).await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                *slot.current.write().unwrap_or_else(|e| e.into_inner()) = Some(keys.clone());
                *last_failure = None;
                Ok(keys)
            }
            Err(err) => {
                tracing::warn!(%issuer, error = %err, "could not fetch the issuer's signing keys");
                *last_failure = Some((Instant::now(), err.clone()));
                Err(err)
            }
        }
    }

    /// Fresh, and either has the `kid` or was fetched too recently to refetch.
    fn usable(&self, keys: &IssuerKeys, kid: Option<&str>, now: Instant) -> bool {
        if now >= keys.expires_at {
            return false;
        }
        match kid {
            None => true,
            Some(kid) => {
                keys.has_kid(kid)
                    || now.saturating_duration_since(keys.fetched_at) < self.config.refetch_interval
            }
        }
    }

    fn slot(&self, issuer: &str) -> Arc<Slot> {
        if let Some(slot) = self
            .issuers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(issuer)
        {
            return slot.clone();
        }
        let mut map = self.issuers.write().unwrap_or_else(|e| e.into_inner());
        map.entry(issuer.to_owned()).or_default().clone()
    }

    fn client(&self, thumbprints: &[String]) -> Result<reqwest::Client, OidcError> {
        let mut pins: Vec<String> = thumbprints.iter().map(|t| t.to_ascii_lowercase()).collect();
        pins.sort();
        pins.dedup();
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clients.get(&pins) {
            return Ok(c.clone());
        }
        let client = http::client(&self.config, &pins).map_err(|e| OidcError::Request {
            url: String::new(),
            reason: format!("cannot build the HTTP client: {e}"),
        })?;
        clients.insert(pins, client.clone());
        Ok(client)
    }

    async fn fetch(&self, issuer: &str, thumbprints: &[String]) -> Result<IssuerKeys, OidcError> {
        let client = self.client(thumbprints)?;
        let discovery_url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let (body, ttl_discovery) = http::get(&client, &self.config, &discovery_url).await?;
        let discovery: Discovery =
            serde_json::from_slice(&body).map_err(|e| OidcError::BadDocument {
                url: discovery_url.clone(),
                what: "discovery document",
                reason: e.to_string(),
            })?;
        let (body, ttl_jwks) = http::get(&client, &self.config, &discovery.jwks_uri).await?;
        let jwks = JwkSet::from_json(&body).map_err(|e| OidcError::BadDocument {
            url: discovery.jwks_uri.clone(),
            what: "JWKS",
            reason: e.to_string(),
        })?;
        if jwks.keys.len() > self.config.max_keys {
            return Err(OidcError::TooManyKeys {
                url: discovery.jwks_uri,
                count: jwks.keys.len(),
                max: self.config.max_keys,
            });
        }
        let keys = VerifyingKeys::from_jwks(&jwks);
        for skipped in keys.skipped() {
            tracing::debug!(%issuer, kid = ?skipped.kid, error = %skipped.error, "JWKS entry skipped");
        }
        if keys.is_empty() {
            return Err(OidcError::NoUsableKeys {
                url: discovery.jwks_uri,
            });
        }
        let ttl = match (ttl_discovery, ttl_jwks) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap_or(self.config.default_ttl),
        }
        .clamp(self.config.min_ttl, self.config.max_ttl);
        let fetched_at = Instant::now();
        tracing::info!(%issuer, keys = keys.len(), ttl_s = ttl.as_secs(), "fetched the issuer's signing keys");
        Ok(IssuerKeys {
            issuer: issuer.to_owned(),
            jwks_uri: discovery.jwks_uri,
            jwks,
            keys,
            fetched_at,
            expires_at: fetched_at + ttl,
        })
    }
}

#[derive(Deserialize)]
struct Discovery {
    jwks_uri: String,
}
