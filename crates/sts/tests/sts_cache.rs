//! The in-memory views of the IAM state (crate::cache) never serve what an acknowledged
//! IAM write replaced: every write below is followed at once by the STS call that must see
//! it (AssumeRoleWithWebIdentity, AssumeRole, or an IAM call authorized by a role session's
//! policies), through the real SDK clients over loopback. A commit by another process on the
//! same state file is seen within the documented check interval.

mod sts_support;

use std::sync::Arc;

use irsa_jose::{KeyAlgorithm, PrivateKey};
use irsa_sts::cache::StateCache;
use irsa_sts::store::{EXTERNAL_CHECK_INTERVAL, Role, Store};
use serde_json::json;
use sts_support::iam_calls::{
    attach_role_policy, aws_error_message, create_oidc_provider, create_policy, create_role,
    delete_role_policy, detach_role_policy, iam_client, put_role_policy,
};
use sts_support::{
    ACCOUNT, StsServer, TestIssuer, jwks, key, mint, sa_claims, service_error,
    web_identity_and_root_trust,
};

const ROLE: &str = "cache-role";
const SUB: &str = "system:serviceaccount:default:aws-cli";
const AUD: &str = "sts.amazonaws.com";
const NOT_AUTHORIZED: &str = "Not authorized to perform sts:AssumeRoleWithWebIdentity";

struct Setup {
    server: StsServer,
    issuer: TestIssuer,
    key: PrivateKey,
    provider_arn: String,
    role_arn: String,
}

type Assumed =
    aws_sdk_sts::operation::assume_role_with_web_identity::AssumeRoleWithWebIdentityOutput;

impl Setup {
    async fn new() -> Setup {
        let key = key(KeyAlgorithm::Rsa2048);
        let issuer = TestIssuer::http(&jwks(&[&key])).await;
        let server = StsServer::start().await;
        let provider_arn = create_provider(&server, &issuer.url).await;
        let mut s = Setup {
            server,
            issuer,
            key,
            provider_arn,
            role_arn: String::new(),
        };
        s.role_arn = create_role(&s.server.iam(), ROLE, &s.trust(SUB)).await.arn;
        s
    }

    fn host(&self) -> &str {
        self.issuer.url.trim_start_matches("http://")
    }

    /// Trusts tokens of `sub` from the provider, and the account root for AssumeRole.
    fn trust(&self, sub: &str) -> String {
        web_identity_and_root_trust(&self.provider_arn, &self.issuer.url, sub)
    }

    async fn assume_for(&self, duration: Option<i32>) -> Result<Assumed, (String, String)> {
        let token = mint(
            &self.key,
            &sa_claims(&self.issuer.url, "default", "aws-cli", AUD),
        );
        self.server
            .sts()
            .assume_role_with_web_identity()
            .role_arn(&self.role_arn)
            .role_session_name("cache-test")
            .web_identity_token(token)
            .set_duration_seconds(duration)
            .send()
            .await
            .map_err(service_error)
    }

    async fn assume(&self) -> Result<Assumed, (String, String)> {
        self.assume_for(None).await
    }

    /// Asserts that AssumeRoleWithWebIdentity is refused with this AWS error.
    async fn assert_refused(&self, code: &str, message: &str) {
        let (got_code, got_message) = self.assume().await.unwrap_err();
        assert_eq!((got_code.as_str(), got_message.as_str()), (code, message));
    }

    /// An IAM client signing with the credentials of a fresh web-identity session.
    async fn session_iam(&self) -> aws_sdk_iam::Client {
        let out = self.assume().await.unwrap();
        let c = out.credentials().unwrap();
        iam_client(
            &self.server.url(),
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
        )
    }
}

async fn create_provider(server: &StsServer, url: &str) -> String {
    create_oidc_provider(&server.iam(), url, AUD).await
}

/// Whether a role session may call `iam:ListRoles` (AccessDenied otherwise).
async fn may_list_roles(iam: &aws_sdk_iam::Client) -> bool {
    match iam.list_roles().send().await {
        Ok(_) => true,
        denied => {
            aws_error_message(denied, "AccessDenied");
            false
        }
    }
}

fn allow(action: &str) -> String {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]})
        .to_string()
}

#[tokio::test]
async fn trust_policy_updates_are_seen_by_the_next_call() {
    let s = Setup::new().await;
    let iam = s.server.iam();
    let trust = |sub| {
        iam.update_assume_role_policy()
            .role_name(ROLE)
            .policy_document(s.trust(sub))
            .send()
    };
    s.assume().await.unwrap();
    trust("system:serviceaccount:other:sa").await.unwrap();
    s.assert_refused("AccessDenied", NOT_AUTHORIZED).await;
    trust(SUB).await.unwrap();
    s.assume().await.unwrap();
}

#[tokio::test]
async fn max_session_duration_updates_are_seen_by_the_next_call() {
    let s = Setup::new().await;
    let iam = s.server.iam();
    let max_session = |seconds| {
        iam.update_role()
            .role_name(ROLE)
            .max_session_duration(seconds)
            .send()
    };
    let too_long = s.assume_for(Some(7200)).await.unwrap_err();
    assert_eq!(too_long.0, "ValidationError");
    max_session(7200).await.unwrap();
    s.assume_for(Some(7200)).await.unwrap();
    max_session(3600).await.unwrap();
    assert_eq!(
        s.assume_for(Some(7200)).await.unwrap_err().0,
        "ValidationError"
    );
}

#[tokio::test]
async fn deleted_and_recreated_roles_are_seen_by_the_next_call() {
    let s = Setup::new().await;
    let iam = s.server.iam();
    let first = s.assume().await.unwrap();
    let first_id = first
        .assumed_role_user()
        .unwrap()
        .assumed_role_id()
        .to_owned();
    iam.delete_role().role_name(ROLE).send().await.unwrap();
    s.assert_refused("AccessDenied", NOT_AUTHORIZED).await;
    create_role(&iam, ROLE, &s.trust(SUB)).await;
    let again = s.assume().await.unwrap();
    let again_id = again.assumed_role_user().unwrap().assumed_role_id();
    assert_ne!(again_id, first_id, "the new role has a new unique id");
}

#[tokio::test]
async fn provider_client_id_changes_are_seen_by_the_next_call() {
    let s = Setup::new().await;
    let iam = s.server.iam();
    let add = |audience| {
        iam.add_client_id_to_open_id_connect_provider()
            .open_id_connect_provider_arn(&s.provider_arn)
            .client_id(audience)
            .send()
    };
    s.assume().await.unwrap();
    add("other-audience").await.unwrap();
    iam.remove_client_id_from_open_id_connect_provider()
        .open_id_connect_provider_arn(&s.provider_arn)
        .client_id(AUD)
        .send()
        .await
        .unwrap();
    s.assert_refused("InvalidIdentityToken", "Incorrect token audience")
        .await;
    add(AUD).await.unwrap();
    s.assume().await.unwrap();
}

#[tokio::test]
async fn deleted_and_recreated_providers_are_seen_by_the_next_call() {
    let s = Setup::new().await;
    let iam = s.server.iam();
    s.assume().await.unwrap();
    iam.delete_open_id_connect_provider()
        .open_id_connect_provider_arn(&s.provider_arn)
        .send()
        .await
        .unwrap();
    let no_provider = format!(
        "No OpenIDConnect provider found in your account for {}",
        s.issuer.url
    );
    s.assert_refused("InvalidIdentityToken", &no_provider).await;
    assert_eq!(
        create_provider(&s.server, &s.issuer.url).await,
        s.provider_arn
    );
    s.assume().await.unwrap();
}

#[tokio::test]
async fn thumbprint_updates_reach_the_provider_view() {
    let s = Setup::new().await;
    s.assume().await.unwrap();
    let cached = s
        .server
        .state
        .cache
        .provider_by_url(s.host())
        .unwrap()
        .unwrap();
    assert!(cached.thumbprints.is_empty());
    let thumbprint = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280";
    s.server
        .iam()
        .update_open_id_connect_provider_thumbprint()
        .open_id_connect_provider_arn(&s.provider_arn)
        .thumbprint_list(thumbprint)
        .send()
        .await
        .unwrap();
    let cached = s
        .server
        .state
        .cache
        .provider_by_url(s.host())
        .unwrap()
        .unwrap();
    assert_eq!(cached.thumbprints, vec![thumbprint.to_owned()]);
    s.assume().await.unwrap();
}

#[tokio::test]
async fn role_policy_writes_are_seen_by_the_next_session_call() {
    let s = Setup::new().await;
    let admin = s.server.iam();
    let session = s.session_iam().await;
    assert!(!may_list_roles(&session).await);

    // Inline policies.
    put_role_policy(&admin, ROLE, "list", &allow("iam:ListRoles")).await;
    assert!(may_list_roles(&session).await);
    delete_role_policy(&admin, ROLE, "list").await;
    assert!(!may_list_roles(&session).await);

    // Attached managed policies and their default version.
    let policy_arn = create_policy(&admin, "list-roles", &allow("iam:ListRoles")).await;
    attach_role_policy(&admin, ROLE, &policy_arn).await;
    assert!(may_list_roles(&session).await);
    admin
        .create_policy_version()
        .policy_arn(&policy_arn)
        .policy_document(allow("iam:GetRole"))
        .set_as_default(true)
        .send()
        .await
        .unwrap();
    assert!(!may_list_roles(&session).await);
    admin
        .set_default_policy_version()
        .policy_arn(&policy_arn)
        .version_id("v1")
        .send()
        .await
        .unwrap();
    assert!(may_list_roles(&session).await);

    // A permissions boundary that does not allow the action, then none.
    let boundary_arn = create_policy(&admin, "boundary", &allow("s3:*")).await;
    admin
        .put_role_permissions_boundary()
        .role_name(ROLE)
        .permissions_boundary(&boundary_arn)
        .send()
        .await
        .unwrap();
    assert!(!may_list_roles(&session).await);
    admin
        .delete_role_permissions_boundary()
        .role_name(ROLE)
        .send()
        .await
        .unwrap();
    assert!(may_list_roles(&session).await);

    detach_role_policy(&admin, ROLE, &policy_arn).await;
    assert!(!may_list_roles(&session).await);
}

#[tokio::test]
async fn assume_role_sees_trust_updates_at_once() {
    let s = Setup::new().await;
    let assume = || async {
        s.server
            .sts()
            .assume_role()
            .role_arn(&s.role_arn)
            .role_session_name("admin")
            .send()
            .await
            .map_err(service_error)
    };
    assume().await.unwrap();
    let host = s.host();
    let only_web_identity = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": s.provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {format!("{host}:sub"): SUB}}
        }]
    });
    s.server
        .iam()
        .update_assume_role_policy()
        .role_name(ROLE)
        .policy_document(only_web_identity.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(assume().await.unwrap_err().0, "AccessDenied");
    s.assume().await.unwrap();
}

fn role(name: &str, trust: &str) -> Role {
    Role {
        name: name.to_owned(),
        id: "AROAEXAMPLEEXAMPLE12".to_owned(),
        arn: format!("arn:aws:iam::{ACCOUNT}:role/{name}"),
        path: "/".to_owned(),
        assume_role_policy_document: trust.to_owned(),
        description: None,
        max_session_duration: 3600,
        permissions_boundary: None,
        tags: Vec::new(),
        create_date: time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
    }
}

#[test]
fn a_commit_by_another_process_is_seen_within_the_check_interval() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let path = path.to_str().unwrap();
    // Two connections to one file stand for two replicas.
    let writer = Store::open(path).unwrap();
    let reader = Arc::new(Store::open(path).unwrap());
    let cache = StateCache::new(reader.clone());
    let arn = format!("arn:aws:iam::{ACCOUNT}:role/replica");
    assert!(
        cache.role_by_arn(&arn).unwrap().is_none(),
        "absent at first"
    );

    let trust = |service: &str| {
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})
        .to_string()
    };
    assert!(
        writer
            .create_role(&role("replica", &trust("ec2.amazonaws.com")))
            .unwrap()
    );
    std::thread::sleep(EXTERNAL_CHECK_INTERVAL * 2);
    let seen = cache
        .role_by_arn(&arn)
        .unwrap()
        .expect("the other replica's role");
    assert!(seen.trust.is_some());
    assert!(
        seen.role
            .assume_role_policy_document
            .contains("ec2.amazonaws.com")
    );

    let mut changed = seen.role.clone();
    changed.assume_role_policy_document = trust("lambda.amazonaws.com");
    assert!(writer.update_role(&changed).unwrap());
    std::thread::sleep(EXTERNAL_CHECK_INTERVAL * 2);
    let seen = cache.role_by_arn(&arn).unwrap().unwrap();
    assert!(
        seen.role
            .assume_role_policy_document
            .contains("lambda.amazonaws.com")
    );

    // Writes through the cache's own store are seen at once, without waiting.
    assert_eq!(reader.delete_role("replica").unwrap(), Some(true));
    assert!(cache.role_by_arn(&arn).unwrap().is_none());
}
