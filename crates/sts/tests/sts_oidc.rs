//! The OIDC key fetcher against real loopback issuers (HTTP, and HTTPS with a private CA).

mod sts_support;

use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use irsa_jose::KeyAlgorithm;
use irsa_sts::oidc::{FetcherConfig, OidcError, OidcFetcher};
use sts_support::{TestIssuer, jwks, key};

fn config() -> FetcherConfig {
    FetcherConfig {
        allow_http: true,
        ..FetcherConfig::default()
    }
}

/// The error of a fetch of `issuer_url`'s keys by a new fetcher (nothing cached); panics if
/// the fetch succeeds.
async fn failed_fetch(issuer_url: &str) -> OidcError {
    OidcFetcher::new(config())
        .keys(issuer_url, &[], None)
        .await
        .unwrap_err()
}

#[tokio::test]
async fn fetches_discovery_then_jwks_and_caches_them() {
    let k = key(KeyAlgorithm::EcP256);
    let issuer = TestIssuer::http(&jwks(&[&k])).await;
    let fetcher = OidcFetcher::new(config());
    let keys = fetcher.keys(&issuer.url, &[], Some(k.kid())).await.unwrap();
    assert!(keys.has_kid(k.kid()));
    assert_eq!(keys.jwks_uri, format!("{}/openid/v1/jwks", issuer.url));
    for _ in 0..5 {
        fetcher.keys(&issuer.url, &[], Some(k.kid())).await.unwrap();
        fetcher.keys(&issuer.url, &[], None).await.unwrap();
    }
    assert_eq!(issuer.state.discovery_hits.load(SeqCst), 1);
    assert_eq!(issuer.jwks_hits(), 1);
    assert_eq!(fetcher.fetch_count(), 1);
}

#[tokio::test]
async fn http_issuers_are_refused_unless_allowed() {
    let k = key(KeyAlgorithm::EcP256);
    let issuer = TestIssuer::http(&jwks(&[&k])).await;
    let fetcher = OidcFetcher::new(FetcherConfig::default());
    let err = fetcher.keys(&issuer.url, &[], None).await.unwrap_err();
    assert!(matches!(err, OidcError::InsecureUrl { .. }), "{err}");
    assert_eq!(issuer.state.discovery_hits.load(SeqCst), 0);
}

#[tokio::test]
async fn unknown_kid_refetches_once_then_is_rate_limited() {
    let old = key(KeyAlgorithm::EcP256);
    let new = key(KeyAlgorithm::EcP256);
    let issuer = TestIssuer::http(&jwks(&[&old])).await;
    let fetcher = OidcFetcher::new(FetcherConfig {
        refetch_interval: Duration::ZERO,
        ..config()
    });
    fetcher
        .keys(&issuer.url, &[], Some(old.kid()))
        .await
        .unwrap();
    assert_eq!(issuer.jwks_hits(), 1);

    // Key rotation: the issuer publishes a new key; a token signed with it refetches.
    issuer.set_jwks(&jwks(&[&old, &new]));
    let keys = fetcher
        .keys(&issuer.url, &[], Some(new.kid()))
        .await
        .unwrap();
    assert!(keys.has_kid(new.kid()));
    assert_eq!(issuer.jwks_hits(), 2);

    // With a long interval, unknown kids do not hammer the issuer.
    let limited = OidcFetcher::new(FetcherConfig {
        refetch_interval: Duration::from_secs(3600),
        ..config()
    });
    limited.keys(&issuer.url, &[], None).await.unwrap();
    let before = issuer.jwks_hits();
    for i in 0..10 {
        let keys = limited
            .keys(&issuer.url, &[], Some(&format!("unknown-{i}")))
            .await
            .unwrap();
        assert!(!keys.has_kid(&format!("unknown-{i}")));
    }
    assert_eq!(issuer.jwks_hits(), before);
}

#[tokio::test]
async fn cache_lifetime_follows_cache_control() {
    let k = key(KeyAlgorithm::EcP256);
    let issuer = TestIssuer::http(&jwks(&[&k])).await;
    *issuer.state.cache_control.lock().unwrap() = Some("max-age=0".into());
    let fetcher = OidcFetcher::new(FetcherConfig {
        min_ttl: Duration::ZERO,
        ..config()
    });
    fetcher.keys(&issuer.url, &[], None).await.unwrap();
    fetcher.keys(&issuer.url, &[], None).await.unwrap();
    assert_eq!(issuer.jwks_hits(), 2, "max-age=0 must not be cached");

    *issuer.state.cache_control.lock().unwrap() = Some("public, max-age=3600".into());
    let fetcher = OidcFetcher::new(FetcherConfig {
        min_ttl: Duration::ZERO,
        ..config()
    });
    fetcher.keys(&issuer.url, &[], None).await.unwrap();
    fetcher.keys(&issuer.url, &[], None).await.unwrap();
    assert_eq!(issuer.jwks_hits(), 3, "max-age=3600 is cached");
}

#[tokio::test]
async fn concurrent_requests_share_one_fetch() {
    let k = key(KeyAlgorithm::EcP256);
    let issuer = TestIssuer::http(&jwks(&[&k])).await;
    let fetcher = Arc::new(OidcFetcher::new(config()));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let fetcher = fetcher.clone();
            let url = issuer.url.clone();
            let kid = k.kid().to_owned();
            tokio::spawn(async move { fetcher.keys(&url, &[], Some(&kid)).await.map(|_| ()) })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(issuer.jwks_hits(), 1);
}

#[tokio::test]
async fn limits_on_size_key_count_and_status() {
    let k = key(KeyAlgorithm::EcP256);
    let set = jwks(&[&k]);
    let issuer = TestIssuer::http(&set).await;

    // More than 100 keys.
    let mut many = set.clone();
    many.keys = (0..101)
        .map(|i| {
            let mut j = set.keys[0].clone();
            j.kid = Some(format!("k{i}"));
            j
        })
        .collect();
    issuer.set_jwks(&many);
    let err = failed_fetch(&issuer.url).await;
    assert!(
        matches!(
            err,
            OidcError::TooManyKeys {
                count: 101,
                max: 100,
                ..
            }
        ),
        "{err}"
    );

    // Bigger than the body limit.
    let small = FetcherConfig {
        max_body_bytes: 4096,
        ..config()
    };
    let err = OidcFetcher::new(small)
        .keys(&issuer.url, &[], None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, OidcError::TooLarge { limit: 4096, .. }),
        "{err}"
    );

    // Not JSON.
    *issuer.state.jwks.lock().unwrap() = "<html>".into();
    let err = failed_fetch(&issuer.url).await;
    assert!(
        matches!(err, OidcError::BadDocument { what: "JWKS", .. }),
        "{err}"
    );

    // No usable key.
    *issuer.state.jwks.lock().unwrap() = r#"{"keys":[{"kty":"oct","k":"AAAA"}]}"#.into();
    let err = failed_fetch(&issuer.url).await;
    assert!(matches!(err, OidcError::NoUsableKeys { .. }), "{err}");

    // The issuer is overloaded: a transient failure.
    issuer.set_jwks(&set);
    issuer.state.jwks_status.store(503, SeqCst);
    let err = failed_fetch(&issuer.url).await;
    assert!(
        matches!(err, OidcError::Status { status: 503, .. }) && err.is_transient(),
        "{err}"
    );
    issuer.state.jwks_status.store(404, SeqCst);
    let err = failed_fetch(&issuer.url).await;
    assert!(!err.is_transient(), "{err}");
}

#[tokio::test]
async fn unreachable_issuer_fails_cleanly() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = failed_fetch(&url).await;
    assert!(matches!(err, OidcError::Request { .. }), "{err}");
}

#[tokio::test]
async fn https_private_ca_is_trusted_only_through_a_thumbprint() {
    let k = key(KeyAlgorithm::Rsa2048);
    let issuer = TestIssuer::https(&jwks(&[&k])).await;
    let fetcher = OidcFetcher::new(FetcherConfig::default());

    // Not in the system roots and no thumbprint: refused.
    let err = fetcher.keys(&issuer.url, &[], None).await.unwrap_err();
    assert!(matches!(err, OidcError::Request { .. }), "{err}");
    // A thumbprint of some other certificate: refused.
    let other = "0123456789abcdef0123456789abcdef01234567".to_owned();
    let err = fetcher.keys(&issuer.url, &[other], None).await.unwrap_err();
    assert!(matches!(err, OidcError::Request { .. }), "{err}");
    assert_eq!(issuer.jwks_hits(), 0);

    // The CA's thumbprint (upper case, as some tools print it): trusted.
    let ca = issuer.ca_thumbprint.clone().unwrap().to_ascii_uppercase();
    let keys = OidcFetcher::new(FetcherConfig::default())
        .keys(&issuer.url, &[ca], Some(k.kid()))
        .await
        .unwrap();
    assert!(keys.has_kid(k.kid()));

    // The server certificate's own thumbprint: trusted too.
    let leaf = issuer.leaf_thumbprint.clone().unwrap();
    OidcFetcher::new(FetcherConfig::default())
        .keys(&issuer.url, &[leaf], None)
        .await
        .unwrap();
    assert_eq!(issuer.jwks_hits(), 2);
}
