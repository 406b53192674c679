//! The seed's flow in-process: a loopback issuer, the STS/IAM server, a provider and a
//! role registered through aws-sdk-iam, tokens minted with irsa-jose, then aws-sdk-sts
//! `AssumeRoleWithWebIdentity` and `GetCallerIdentity` with the credentials; plus every
//! refusal with AWS's code and message.

#![allow(deprecated)] // PackedPolicySize is deprecated in the SDK model but still sent by STS.

mod sts_support;

use irsa_jose::{KeyAlgorithm, PrivateKey};
use serde_json::{Value, json};
use sts_support::iam_calls::{
    assert_aws_error, aws_error_message, create_oidc_provider, create_role, put_role_policy,
};
use sts_support::{
    ACCOUNT, StsServer, TestIssuer, jwks, key, mint, now, sa_claims, service_error,
    web_identity_and_root_trust,
};

const ROLE: &str = "k8s_default_aws-cli";
const SA_SUB: &str = "system:serviceaccount:default:aws-cli";
const AUD: &str = "sts.amazonaws.com";

struct Setup {
    server: StsServer,
    issuer: TestIssuer,
    key: PrivateKey,
    role_arn: String,
    provider_arn: String,
}

impl Setup {
    async fn new() -> Setup {
        Setup::with_fetcher(irsa_sts::oidc::FetcherConfig {
            allow_http: true,
            ..Default::default()
        })
        .await
    }

    async fn with_fetcher(fetcher: irsa_sts::oidc::FetcherConfig) -> Setup {
        let key = key(KeyAlgorithm::Rsa2048);
        let issuer = TestIssuer::http(&jwks(&[&key])).await;
        let server = StsServer::start_with(fetcher).await;
        let iam = server.iam();
        let provider_arn = create_oidc_provider(&iam, &issuer.url, AUD).await;
        let host = issuer.url.trim_start_matches("http://");
        assert_eq!(
            provider_arn,
            format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{host}")
        );
        let trust = web_identity_and_root_trust(&provider_arn, &issuer.url, SA_SUB);
        let role_arn = create_role(&iam, ROLE, &trust).await.arn;
        let s3 = json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*",
                "Resource": ["arn:aws:s3:::k8s-default-aws-cli-*", "arn:aws:s3:::k8s-default-aws-cli-*/*"]}]
        });
        put_role_policy(&iam, ROLE, "s3-prefix", &s3.to_string()).await;
        Setup {
            server,
            issuer,
            key,
            role_arn,
            provider_arn,
        }
    }

    fn token(&self, ns: &str, sa: &str, aud: &str) -> String {
        mint(&self.key, &sa_claims(&self.issuer.url, ns, sa, aud))
    }

    fn token_with(&self, edit: impl FnOnce(&mut Value)) -> String {
        let mut claims = sa_claims(&self.issuer.url, "default", "aws-cli", AUD);
        edit(&mut claims);
        mint(&self.key, &claims)
    }

    async fn assume(
        &self,
        token: &str,
    ) -> Result<
        aws_sdk_sts::operation::assume_role_with_web_identity::AssumeRoleWithWebIdentityOutput,
        (String, String),
    > {
        self.server
            .sts()
            .assume_role_with_web_identity()
            .role_arn(&self.role_arn)
            .role_session_name("test-session")
            .web_identity_token(token)
            .send()
            .await
            .map_err(service_error)
    }
}

#[tokio::test]
async fn web_identity_credentials_identify_the_assumed_role() {
    let s = Setup::new().await;
    // Clients send the token file verbatim, trailing newline included.
    let token = format!("{}\n", s.token("default", "aws-cli", AUD));
    let out = s.assume(&token).await.unwrap();
    let assumed_arn = format!("arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}/test-session");
    let user = out.assumed_role_user().unwrap();
    assert_eq!(user.arn(), assumed_arn);
    assert!(
        user.assumed_role_id().starts_with("AROA")
            && user.assumed_role_id().ends_with(":test-session")
    );
    assert_eq!(out.provider(), Some(s.provider_arn.as_str()));
    assert_eq!(out.audience(), Some(AUD));
    assert_eq!(out.subject_from_web_identity_token(), Some(SA_SUB));
    assert_eq!(out.packed_policy_size(), None);
    let creds = out.credentials().unwrap();
    assert!(creds.access_key_id().starts_with("ASIA") && creds.access_key_id().len() == 20);
    assert_eq!(creds.secret_access_key().len(), 40);
    let lifetime = creds.expiration().secs() - now();
    assert!(
        (3590..=3600).contains(&lifetime),
        "default duration is one hour, got {lifetime}"
    );

    let sts = s.server.sts_with(
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token().to_owned()),
    );
    let me = sts.get_caller_identity().send().await.unwrap();
    assert_eq!(me.arn(), Some(assumed_arn.as_str()));
    assert_eq!(me.user_id(), Some(user.assumed_role_id()));
    assert_eq!(me.account(), Some(ACCOUNT));

    // A tampered session token is refused; so is a token paired with another key id.
    let mut bad = creds.session_token().to_owned();
    bad.insert(10, 'A');
    let forged = s
        .server
        .sts_with(creds.access_key_id(), creds.secret_access_key(), Some(bad));
    aws_error_message(
        forged.get_caller_identity().send().await,
        "InvalidClientTokenId",
    );
}

#[tokio::test]
async fn admin_and_sessions_call_get_caller_identity_and_assume_role() {
    let s = Setup::new().await;
    let me = s.server.sts().get_caller_identity().send().await.unwrap();
    assert_eq!(
        me.arn(),
        Some(format!("arn:aws:iam::{ACCOUNT}:root").as_str())
    );
    assert_eq!(me.account(), Some(ACCOUNT));

    // The trust policy allows the account root: the admin keys may assume the role.
    let out = s
        .server
        .sts()
        .assume_role()
        .role_arn(&s.role_arn)
        .role_session_name("admin-session")
        .duration_seconds(900)
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.assumed_role_user().unwrap().arn(),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}/admin-session")
    );
    let creds = out.credentials().unwrap();
    let session = s.server.sts_with(
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token().to_owned()),
    );
    // The role's own policies do not allow sts:AssumeRole, and the trust policy names the
    // account, not this session: role chaining is refused with AWS's message.
    let chained = session
        .assume_role()
        .role_arn(&s.role_arn)
        .role_session_name("chained")
        .send()
        .await;
    let message = aws_error_message(chained, "AccessDenied");
    assert!(
        message.starts_with(&format!(
            "User: arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}/admin-session is not authorized to perform: sts:AssumeRole on resource: {}",
            s.role_arn
        )),
        "{message}"
    );

    // A role that does not exist.
    let missing = s
        .server
        .sts()
        .assume_role()
        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/nope"))
        .role_session_name("x1")
        .send()
        .await;
    let message = aws_error_message(missing, "AccessDenied");
    assert!(
        message.contains("is not authorized to perform: sts:AssumeRole"),
        "{message}"
    );
}

#[tokio::test]
async fn another_service_account_is_not_authorized() {
    let s = Setup::new().await;
    let (code, message) = s
        .assume(&s.token("default", "other", AUD))
        .await
        .unwrap_err();
    assert_eq!(code, "AccessDenied");
    assert_eq!(
        message,
        "Not authorized to perform sts:AssumeRoleWithWebIdentity"
    );
    let (code, _) = s
        .assume(&s.token("kube-system", "aws-cli", AUD))
        .await
        .unwrap_err();
    assert_eq!(code, "AccessDenied");
}

#[tokio::test]
async fn wrong_audience_is_refused() {
    let s = Setup::new().await;
    let (code, message) = s
        .assume(&s.token("default", "aws-cli", "https://kubernetes.default.svc"))
        .await
        .unwrap_err();
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("InvalidIdentityToken", "Incorrect token audience")
    );
}

#[tokio::test]
async fn expiry_has_five_minutes_of_leeway() {
    let s = Setup::new().await;
    let exp = now() - 400;
    let token = s.token_with(|c| {
        c["exp"] = json!(exp);
        c["iat"] = json!(exp - 3600);
        c["nbf"] = json!(exp - 3600);
    });
    let (code, message) = s.assume(&token).await.unwrap_err();
    assert_eq!(code, "ExpiredTokenException");
    let prefix = "Token expired: current date/time ";
    let suffix = format!(" must be before the expiration date/time {exp}");
    assert!(
        message.starts_with(prefix) && message.ends_with(&suffix),
        "{message}"
    );
    let current: i64 = message[prefix.len()..message.len() - suffix.len()]
        .parse()
        .unwrap();
    assert!(current >= exp + 400);

    // Expired 100 s ago: within AWS's five minutes.
    let token = s.token_with(|c| c["exp"] = json!(now() - 100));
    s.assume(&token).await.unwrap();
}

#[tokio::test]
async fn unknown_issuer_is_named_in_the_error() {
    let s = Setup::new().await;
    let other = TestIssuer::http(&jwks(&[&s.key])).await;
    let token = mint(&s.key, &sa_claims(&other.url, "default", "aws-cli", AUD));
    let (code, message) = s.assume(&token).await.unwrap_err();
    assert_eq!(code, "InvalidIdentityToken");
    assert_eq!(
        message,
        format!(
            "No OpenIDConnect provider found in your account for {}",
            other.url
        )
    );
    assert_eq!(
        other.jwks_hits(),
        0,
        "keys of an unregistered issuer are never fetched"
    );
}

#[tokio::test]
async fn tampered_and_foreign_signatures_are_refused() {
    let s = Setup::new().await;
    let token = s.token("default", "aws-cli", AUD);
    // Change the subject but keep the signature.
    let parts: Vec<&str> = token.split('.').collect();
    let forged_claims = sa_claims(&s.issuer.url, "default", "aws-cli-admin", AUD);
    let payload = base64_url(&serde_json::to_vec(&forged_claims).unwrap());
    let forged = format!("{}.{}.{}", parts[0], payload, parts[2]);
    let (code, message) = s.assume(&forged).await.unwrap_err();
    assert_eq!(code, "InvalidIdentityToken");
    assert!(
        message.starts_with("The web identity token that was passed could not be validated"),
        "{message}"
    );

    // Signed by another key that claims the published kid.
    let attacker = key(KeyAlgorithm::Rsa2048);
    let header = irsa_jose::Header::new(irsa_jose::Algorithm::RS256, Some(s.key.kid().to_owned()));
    let token = irsa_jose::sign(
        &header,
        &sa_claims(&s.issuer.url, "default", "aws-cli", AUD),
        &attacker,
    )
    .unwrap();
    let (code, _) = s.assume(&token).await.unwrap_err();
    assert_eq!(code, "InvalidIdentityToken");

    // Signed by an unpublished key (its own kid): no verification key.
    let token = mint(
        &attacker,
        &sa_claims(&s.issuer.url, "default", "aws-cli", AUD),
    );
    let (code, message) = s.assume(&token).await.unwrap_err();
    assert_eq!(code, "InvalidIdentityToken");
    assert!(
        message
            .starts_with("Couldn't retrieve verification key from your identity provider,  please"),
        "{message}"
    );

    // alg none and HMAC are never accepted.
    for alg in ["none", "HS256"] {
        let header = base64_url(
            json!({"alg": alg, "kid": s.key.kid()})
                .to_string()
                .as_bytes(),
        );
        let token = format!("{header}.{}.{}", parts[1], parts[2]);
        let (code, _) = s.assume(&token).await.unwrap_err();
        assert_eq!(code, "InvalidIdentityToken", "{alg}");
    }
    // Not a JWT at all.
    let (code, _) = s.assume("not-a-jwt").await.unwrap_err();
    assert_eq!(code, "InvalidIdentityToken");
}

#[tokio::test]
async fn missing_claims_are_named() {
    let s = Setup::new().await;
    for claim in ["sub", "aud"] {
        let token = s.token_with(|c| {
            c.as_object_mut().unwrap().remove(claim);
        });
        let (code, message) = s.assume(&token).await.unwrap_err();
        assert_eq!(code, "InvalidIdentityToken");
        assert_eq!(message, format!("Missing a required claim: {claim}"));
    }
}

#[tokio::test]
async fn duration_is_checked_against_the_role() {
    let s = Setup::new().await;
    let token = s.token("default", "aws-cli", AUD);
    let request = |d: i32| {
        s.server
            .sts()
            .assume_role_with_web_identity()
            .role_arn(&s.role_arn)
            .role_session_name("dur")
            .web_identity_token(&token)
            .duration_seconds(d)
            .send()
    };
    assert_aws_error(
        request(600).await,
        "ValidationError",
        "1 validation error detected: Value '600' at 'durationSeconds' failed to satisfy constraint: \
         Member must have value greater than or equal to 900",
    );
    assert_aws_error(
        request(7200).await,
        "ValidationError",
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
    );

    s.server
        .iam()
        .update_role()
        .role_name(ROLE)
        .max_session_duration(7200)
        .send()
        .await
        .unwrap();
    let out = request(7200).await.unwrap();
    let lifetime = out.credentials().unwrap().expiration().secs() - now();
    assert!((7190..=7200).contains(&lifetime), "{lifetime}");
}

#[tokio::test]
async fn session_policies_are_validated_and_reported() {
    let s = Setup::new().await;
    let token = s.token("default", "aws-cli", AUD);
    let call = |policy: &str| {
        s.server
            .sts()
            .assume_role_with_web_identity()
            .role_arn(&s.role_arn)
            .role_session_name("pol")
            .web_identity_token(&token)
            .policy(policy)
            .send()
    };
    for malformed in [
        "{\"Version\":\"2012-10-17\",\"Statement\":[",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Resource":"*"}]}"#,
    ] {
        aws_error_message(call(malformed).await, "MalformedPolicyDocument");
    }

    let ok = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    let out = call(ok).await.unwrap();
    let size = out.packed_policy_size().unwrap();
    assert!((1..=100).contains(&size), "{size}");
}

#[tokio::test]
async fn invalid_parameters_use_aws_validation_messages() {
    let s = Setup::new().await;
    let token = s.token("default", "aws-cli", AUD);
    let call = |role_arn: &str, session_name: &str| {
        s.server
            .sts()
            .assume_role_with_web_identity()
            .role_arn(role_arn)
            .role_session_name(session_name)
            .web_identity_token(&token)
            .send()
    };
    assert_aws_error(
        call(&s.role_arn, "Session1:2").await,
        "ValidationError",
        "1 validation error detected: Value 'Session1:2' at 'roleSessionName' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: [\\w+=,.@-]*",
    );
    assert_aws_error(
        call("nothing-valid-in-here", "s1").await,
        "ValidationError",
        "nothing-valid-in-here is invalid",
    );
}

#[tokio::test]
async fn rotated_issuer_keys_are_picked_up() {
    // Default settings: an unknown kid refetches at most every 10 s per issuer.
    let s = Setup::new().await;
    s.assume(&s.token("default", "aws-cli", AUD)).await.unwrap();
    let new = key(KeyAlgorithm::EcP256);
    s.issuer.set_jwks(&jwks(&[&s.key, &new]));
    let token = mint(&new, &sa_claims(&s.issuer.url, "default", "aws-cli", AUD));
    let (code, _) = s.assume(&token).await.unwrap_err();
    assert_eq!(
        code, "InvalidIdentityToken",
        "refetch is rate limited right after a fetch"
    );
    assert_eq!(s.issuer.jwks_hits(), 1);

    // Without the rate limit, the new key is fetched on first sight.
    let s = Setup::with_fetcher(irsa_sts::oidc::FetcherConfig {
        allow_http: true,
        refetch_interval: std::time::Duration::ZERO,
        ..Default::default()
    })
    .await;
    s.assume(&s.token("default", "aws-cli", AUD)).await.unwrap();
    let new = key(KeyAlgorithm::EcP256);
    s.issuer.set_jwks(&jwks(&[&s.key, &new]));
    let token = mint(&new, &sa_claims(&s.issuer.url, "default", "aws-cli", AUD));
    let out = s.assume(&token).await.unwrap();
    assert_eq!(out.subject_from_web_identity_token(), Some(SA_SUB));
    assert_eq!(s.issuer.jwks_hits(), 2);
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
