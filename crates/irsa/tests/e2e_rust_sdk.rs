//! Issue 4's "Done means" with the AWS SDK for Rust: the seed's IRSA flow against the real
//! `irsa` processes over loopback (`irsa issuer serve`, `irsa sts serve`, `irsa token mint`),
//! with every SDK client built only from `aws_config::load_defaults` — no endpoint or
//! credentials in code. What a pod's Rust application sees comes from the environment alone:
//! `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_STS` / `_IAM`), `AWS_REGION`, and either the admin
//! key pair or `AWS_ROLE_ARN` + `AWS_WEB_IDENTITY_TOKEN_FILE` (+ `AWS_ROLE_SESSION_NAME`).
//!
//! A process's environment cannot be changed safely from a test (`set_var` is `unsafe`), so each
//! SDK phase runs in a child process: this test binary re-executed with libtest's
//! `--exact <child test> --nocapture`, a cleared environment plus exactly the variables of that
//! phase, and the `IRSA_SDK_CHILD` marker that makes the child test act (without it the child
//! tests return at once). The child prints one JSON object per result on lines starting with
//! [`RESULT_PREFIX`]; the parent test asserts on them.
//!
//! Needs nothing but the `irsa` binary and this test binary, so it never skips.

use std::error::Error as _;
use std::path::Path;
use std::process::{Command, Stdio};

use aws_config::BehaviorVersion;
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_iam::types::PolicyEvaluationDecisionType;
use aws_sdk_sts::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sts::operation::assume_role_with_web_identity::AssumeRoleWithWebIdentityError;
use serde_json::{Value, json};

mod support;
use support::{
    Stack, describe, seed_s3_prefix_policy, seed_trust_policy, tamper_signature, unix_now,
};

const ACCOUNT: &str = "123456789012";
const ADMIN_KEY_ID: &str = "AKIASDKE2ETESTADMIN1";
const ADMIN_SECRET: &str = "sdkE2eTestAdminSecretKey0123456789abcdef";
const ROLE_NAME: &str = "k8s_default_aws-cli";
const AUDIENCE: &str = "sts.amazonaws.com";
const ALLOWED_BUCKET: &str = "arn:aws:s3:::k8s-default-aws-cli-demo";
const DENIED_BUCKET: &str = "arn:aws:s3:::k9s-default-aws-cli-demo";
const READ_ONLY_ARN: &str = "arn:aws:iam::aws:policy/ReadOnlyAccess";
const NOT_AUTHORIZED: &str = "Not authorized to perform sts:AssumeRoleWithWebIdentity";
const INVALID_TOKEN: &str = "The web identity token that was passed could not be validated by Amazon Web Services. \
                             Get a new identity token from the identity provider and then retry the request.";

/// The variable that tells a child test which phase to run.
const CHILD_ENV: &str = "IRSA_SDK_CHILD";
/// The issuer URL handed to the admin phase.
const ISSUER_ENV: &str = "IRSA_SDK_ISSUER_URL";
/// Marks the child's result lines among libtest's own output.
const RESULT_PREFIX: &str = "irsa-sdk-result ";

// ---------------------------------------------------------------------------------------------
// The parent side: real servers, tokens, child processes.
// ---------------------------------------------------------------------------------------------

fn assumed_role_prefix() -> String {
    format!("arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE_NAME}/")
}

/// How the SDK finds the endpoint.
#[derive(Clone, Copy, Debug)]
enum Endpoint {
    /// `AWS_ENDPOINT_URL` for every service.
    Global,
    /// `AWS_ENDPOINT_URL_STS` and `AWS_ENDPOINT_URL_IAM` only.
    PerService,
}

/// The results a child phase printed, in order.
struct Report(Vec<Value>);

impl Report {
    /// The one result of `step`.
    fn step(&self, step: &str) -> &Value {
        let mut found = self.0.iter().filter(|v| v["step"] == step);
        let first = found
            .next()
            .unwrap_or_else(|| panic!("no {step:?} result in {:?}", self.0));
        assert!(found.next().is_none(), "two {step:?} results: {:?}", self.0);
        first
    }
}

/// The issuer, the STS/IAM endpoint and the seed's role, set up through the SDK.
struct World {
    stack: Stack,
    role_arn: String,
    /// What the admin phase reported.
    admin: Report,
}

/// The stack's folder, URLs and token minting, read through the world.
impl std::ops::Deref for World {
    type Target = Stack;
    fn deref(&self) -> &Stack {
        &self.stack
    }
}

impl World {
    /// Keys, issuer, endpoint, then the admin phase of the SDK (provider, role, policy).
    fn start(endpoint: Endpoint) -> Self {
        let stack = Stack::start(ADMIN_KEY_ID, ADMIN_SECRET);
        // Empty AWS config and credentials files: nothing but the environment configures the SDK.
        std::fs::write(stack.path("aws-config"), "").unwrap();
        std::fs::write(stack.path("aws-credentials"), "").unwrap();

        let mut world = World {
            stack,
            role_arn: String::new(),
            admin: Report(Vec::new()),
        };
        let issuer_url = world.issuer_url.clone();
        world.admin = world.child(
            "sdk_child_admin",
            endpoint,
            &[
                ("AWS_ACCESS_KEY_ID", ADMIN_KEY_ID),
                ("AWS_SECRET_ACCESS_KEY", ADMIN_SECRET),
                (ISSUER_ENV, &issuer_url),
            ],
        );
        world.role_arn = world.admin.step("create-role")["arn"]
            .as_str()
            .expect("role arn")
            .to_owned();
        world
    }

    /// The workload phase as a pod runs it: web identity variables only, no keys.
    fn workload(&self, endpoint: Endpoint, token: &Path, session_name: Option<&str>) -> Report {
        let token = token.to_string_lossy().into_owned();
        let mut vars = vec![
            ("AWS_ROLE_ARN", self.role_arn.as_str()),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", token.as_str()),
        ];
        if let Some(name) = session_name {
            vars.push(("AWS_ROLE_SESSION_NAME", name));
        }
        self.child("sdk_child_workload", endpoint, &vars)
    }

    /// Re-runs this test binary for the child test `name` with a cleared environment: PATH,
    /// an isolated HOME, empty AWS config files, no IMDS, one attempt per call, the endpoint,
    /// the region and `vars`. Returns the results it printed; panics if it failed.
    fn child(&self, name: &str, endpoint: Endpoint, vars: &[(&str, &str)]) -> Report {
        let exe = std::env::current_exe().expect("the test binary's path");
        let mut cmd = Command::new(exe);
        cmd.env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
        cmd.env("HOME", self.dir.path())
            .env("AWS_CONFIG_FILE", self.path("aws-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.path("aws-credentials"))
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_MAX_ATTEMPTS", "1")
            .env(CHILD_ENV, name);
        match endpoint {
            Endpoint::Global => {
                cmd.env("AWS_ENDPOINT_URL", &self.sts_url);
            }
            Endpoint::PerService => {
                cmd.env("AWS_ENDPOINT_URL_STS", &self.sts_url)
                    .env("AWS_ENDPOINT_URL_IAM", &self.sts_url);
            }
        }
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = cmd
            .args(["--exact", name, "--nocapture", "--test-threads", "1"])
            .stdin(Stdio::null())
            .output()
            .expect("re-run the test binary");
        assert!(out.status.success(), "child {name}: {}", describe(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let results: Vec<Value> = stdout
            .lines()
            // libtest's `test NAME ... ` has no newline before the test's own output.
            .filter_map(|l| l.split_once(RESULT_PREFIX).map(|(_, result)| result))
            .map(|l| serde_json::from_str(l).expect("a JSON result line"))
            .collect();
        // An empty report means the child test was filtered out or did not act.
        assert!(
            !results.is_empty(),
            "child {name} printed no results: {}",
            describe(&out)
        );
        Report(results)
    }
}

/// The `(code, message)` the SDK surfaced for a failed call, from the child's report.
fn sdk_error(result: &Value) -> (String, String) {
    let error = &result["error"];
    assert!(error.is_object(), "expected an error: {result}");
    let code = error["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no AWS error code surfaced: {result}"));
    let message = error["message"].as_str().unwrap_or_default();
    (code.to_owned(), message.to_owned())
}

#[test]
fn rust_sdk_default_chain_assumes_the_role_and_simulates_the_s3_prefix_policy() {
    let world = World::start(Endpoint::Global);

    // The admin phase, through the SDK with the admin keys from the environment.
    let admin = &world.admin;
    assert_eq!(
        admin.step("caller")["arn"],
        format!("arn:aws:iam::{ACCOUNT}:root")
    );
    assert_eq!(
        admin.step("create-provider")["arn"],
        format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{}", world.host_path())
    );
    assert_eq!(
        world.role_arn,
        format!("arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}")
    );
    assert_eq!(admin.step("put-role-policy")["ok"], true);
    let simulated = admin.step("simulate")["results"].clone();
    assert_eq!(
        simulated,
        json!([
            {"action": "s3:CreateBucket", "resource": ALLOWED_BUCKET, "decision": "allowed"},
            {"action": "s3:CreateBucket", "resource": DENIED_BUCKET, "decision": "implicitDeny"},
        ])
    );

    // AWS's full ReadOnlyAccess (version v182) attached to a role: reads allowed by it,
    // writes implicitly denied.
    assert_eq!(admin.step("read-only-policy")["default_version"], "v182");
    let matched = json!(["ReadOnlyAccess", "aws-managed"]);
    assert_eq!(
        admin.step("simulate-read-only")["results"],
        json!([
            {"action": "s3:GetObject", "decision": "allowed", "sources": [matched]},
            {"action": "ec2:DescribeInstances", "decision": "allowed", "sources": [matched]},
            {"action": "s3:PutObject", "decision": "implicitDeny", "sources": []},
        ])
    );

    // The pod's phase: AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE, nothing else.
    let token = world.mint("token", &[]);
    let pod = world.workload(Endpoint::Global, &token, Some("rust-sdk-pod"));
    let caller = pod.step("caller");
    assert_eq!(
        caller["arn"],
        format!("{}rust-sdk-pod", assumed_role_prefix()),
        "{caller}"
    );
    assert_eq!(caller["account"], ACCOUNT, "{caller}");
    let user_id = caller["user_id"].as_str().expect("user id");
    assert!(
        user_id.starts_with("AROA") && user_id.ends_with(":rust-sdk-pod"),
        "{user_id}"
    );
    // The chain's credentials are temporary ones from AssumeRoleWithWebIdentity.
    let creds = pod.step("credentials");
    assert_eq!(creds["access_key_prefix"], "ASIA", "{creds}");
    assert_eq!(creds["session_token"], true, "{creds}");
    assert_eq!(creds["expiry"], true, "{creds}");
    // The role's only policy is the S3 prefix one, so IAM refuses these credentials, naming
    // the assumed role and the action (the simulation above therefore ran as the admin).
    let (code, message) = sdk_error(pod.step("simulate"));
    assert_eq!(code, "AccessDenied", "{message}");
    assert!(
        message.contains(&format!("{}rust-sdk-pod", assumed_role_prefix()))
            && message.contains("iam:SimulatePrincipalPolicy"),
        "{message}"
    );

    // Without AWS_ROLE_SESSION_NAME the Rust SDK names the session `web-identity-token-<ms>`;
    // and the per-service endpoint variables work as well as the global one.
    let pod = world.workload(Endpoint::PerService, &token, None);
    let arn = pod.step("caller")["arn"]
        .as_str()
        .expect("caller arn")
        .to_owned();
    assert!(
        arn.starts_with(&format!("{}web-identity-token-", assumed_role_prefix())),
        "{arn}"
    );
}

#[test]
fn rust_sdk_default_chain_surfaces_awss_errors_for_bad_tokens() {
    let world = World::start(Endpoint::PerService);

    // The seed's token works, so each failure below is due to the one thing changed.
    let good = world.mint("good", &[]);
    let report = world.workload(Endpoint::PerService, &good, Some("good"));
    assert_eq!(
        report.step("caller")["arn"],
        format!("{}good", assumed_role_prefix())
    );

    let fails = |file: &Path| -> (String, String) {
        let report = world.workload(Endpoint::PerService, file, Some("bad"));
        sdk_error(report.step("caller"))
    };

    // Another ServiceAccount of the same cluster: the trust policy's `:sub` condition fails.
    let intruder = world.mint("intruder", &["--service-account", "intruder"]);
    assert_eq!(
        fails(&intruder),
        ("AccessDenied".to_owned(), NOT_AUTHORIZED.to_owned())
    );

    // An audience not in the provider's client ids.
    let other_aud = world.mint("other-aud", &["--audience", "other"]);
    assert_eq!(
        fails(&other_aud),
        (
            "InvalidIdentityToken".to_owned(),
            "Incorrect token audience".to_owned()
        )
    );

    // Expired an hour ago (well beyond AWS's 5 minutes of leeway).
    let issued_at = unix_now() - 3600;
    let expired = world.mint(
        "expired",
        &["--issued-at", &issued_at.to_string(), "--expiration", "600"],
    );
    let (code, message) = fails(&expired);
    assert_eq!(code, "ExpiredTokenException", "{message}");
    let exp = issued_at + 600;
    assert!(
        message.starts_with("Token expired: current date/time ")
            && message.ends_with(&format!(" must be before the expiration date/time {exp}")),
        "{message}"
    );

    // An issuer IAM does not know (nothing listens there; it must not even be fetched).
    let stranger = "http://127.0.0.1:9";
    let unknown = world.mint_with("unknown-issuer", stranger, "keys/private.pem", &[]);
    assert_eq!(
        fails(&unknown),
        (
            "InvalidIdentityToken".to_owned(),
            format!("No OpenIDConnect provider found in your account for {stranger}")
        )
    );

    // The good token with one signature character changed.
    let tampered = world.path("tampered");
    let good_text = std::fs::read_to_string(&good).unwrap();
    std::fs::write(&tampered, tamper_signature(&good_text)).unwrap();
    assert_eq!(
        fails(&tampered),
        ("InvalidIdentityToken".to_owned(), INVALID_TOKEN.to_owned())
    );
}

// ---------------------------------------------------------------------------------------------
// The child side: SDK clients from the environment only. Inert unless `IRSA_SDK_CHILD` names
// the test.
// ---------------------------------------------------------------------------------------------

/// Whether this process is the child run for `name`.
fn is_child(name: &str) -> bool {
    std::env::var(CHILD_ENV).is_ok_and(|v| v == name)
}

/// Prints one result line for the parent.
fn emit(step: &str, mut fields: Value) {
    fields["step"] = json!(step);
    println!("{RESULT_PREFIX}{fields}");
}

/// An SDK error as `{code, message, chain}`. The default chain wraps a failed
/// AssumeRoleWithWebIdentity in a credentials error inside the operation's dispatch failure,
/// so the service error is dug out of the source chain; `chain` is the full text for failure
/// messages.
fn error_report<E>(err: &SdkError<E>) -> Value
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let mut code = err.code().map(str::to_owned);
    let mut message = err.message().map(str::to_owned);
    let mut source = err.source();
    while code.is_none() {
        let Some(e) = source else { break };
        if let Some(inner) = e.downcast_ref::<SdkError<AssumeRoleWithWebIdentityError>>() {
            code = inner.code().map(str::to_owned);
            message = inner.message().map(str::to_owned);
        } else if let Some(inner) = e.downcast_ref::<AssumeRoleWithWebIdentityError>() {
            code = inner.code().map(str::to_owned);
            message = inner.message().map(str::to_owned);
        }
        source = e.source();
    }
    json!({
        "error": {
            "code": code,
            "message": message,
            "chain": DisplayErrorContext(err).to_string(),
        }
    })
}

/// The admin phase: the admin keys in the environment create the OIDC provider, the seed's
/// role and its S3-prefix policy, and simulate the role's policy.
#[tokio::test]
async fn sdk_child_admin() {
    if !is_child("sdk_child_admin") {
        return;
    }
    let issuer_url = std::env::var(ISSUER_ENV).expect("the issuer URL");
    let host_path = issuer_url.strip_prefix("http://").expect("http issuer");
    let config = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let sts = aws_sdk_sts::Client::new(&config);
    let iam = aws_sdk_iam::Client::new(&config);

    let who = sts
        .get_caller_identity()
        .send()
        .await
        .expect("admin caller");
    emit("caller", json!({"arn": who.arn()}));

    let provider = iam
        .create_open_id_connect_provider()
        .url(&issuer_url)
        .client_id_list(AUDIENCE)
        .send()
        .await
        .expect("create the OIDC provider");
    let provider_arn = provider
        .open_id_connect_provider_arn()
        .expect("provider arn");
    emit("create-provider", json!({"arn": provider_arn}));

    let trust = seed_trust_policy(provider_arn, host_path, AUDIENCE);
    let role = iam
        .create_role()
        .role_name(ROLE_NAME)
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .expect("create the role");
    let role_arn = role.role().expect("role").arn().to_owned();
    emit("create-role", json!({"arn": role_arn}));

    let policy = seed_s3_prefix_policy();
    iam.put_role_policy()
        .role_name(ROLE_NAME)
        .policy_name("s3-prefix")
        .policy_document(policy.to_string())
        .send()
        .await
        .expect("put the role policy");
    emit("put-role-policy", json!({"ok": true}));

    let simulated = iam
        .simulate_principal_policy()
        .policy_source_arn(&role_arn)
        .action_names("s3:CreateBucket")
        .resource_arns(ALLOWED_BUCKET)
        .resource_arns(DENIED_BUCKET)
        .send()
        .await
        .expect("simulate the role's policy");
    let results: Vec<Value> = simulated
        .evaluation_results()
        .iter()
        .map(|r| {
            json!({
                "action": r.eval_action_name(),
                "resource": r.eval_resource_name(),
                "decision": r.eval_decision().as_str(),
            })
        })
        .collect();
    emit("simulate", json!({"results": results}));

    // AWS's ReadOnlyAccess, attached to a second role and simulated through IAM.
    let read_only = READ_ONLY_ARN;
    let policy = iam
        .get_policy()
        .policy_arn(read_only)
        .send()
        .await
        .expect("get ReadOnlyAccess");
    emit(
        "read-only-policy",
        json!({"default_version": policy.policy().and_then(|p| p.default_version_id())}),
    );
    let reader = iam
        .create_role()
        .role_name("reader")
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .expect("create the reader role");
    let reader_arn = reader.role().expect("role").arn().to_owned();
    iam.attach_role_policy()
        .role_name("reader")
        .policy_arn(read_only)
        .send()
        .await
        .expect("attach ReadOnlyAccess");
    let mut results = Vec::new();
    for (action, resource) in [
        ("s3:GetObject", "arn:aws:s3:::any-bucket/any/key"),
        ("ec2:DescribeInstances", "*"),
        ("s3:PutObject", "arn:aws:s3:::any-bucket/any/key"),
    ] {
        let simulated = iam
            .simulate_principal_policy()
            .policy_source_arn(&reader_arn)
            .action_names(action)
            .resource_arns(resource)
            .send()
            .await
            .expect("simulate ReadOnlyAccess");
        for r in simulated.evaluation_results() {
            results.push(json!({
                "action": r.eval_action_name(),
                "decision": r.eval_decision().as_str(),
                "sources": r
                    .matched_statements()
                    .iter()
                    .map(|m| {
                        json!([m.source_policy_id(), m.source_policy_type().map(|t| t.as_str())])
                    })
                    .collect::<Vec<_>>(),
            }));
        }
    }
    emit("simulate-read-only", json!({"results": results}));
}

/// The workload phase: only the web identity variables; reports the caller identity (or the
/// error the SDK surfaced), the chain's credentials and what IAM answers them.
#[tokio::test]
async fn sdk_child_workload() {
    if !is_child("sdk_child_workload") {
        return;
    }
    let role_arn = std::env::var("AWS_ROLE_ARN").expect("AWS_ROLE_ARN");
    let config = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let sts = aws_sdk_sts::Client::new(&config);

    match sts.get_caller_identity().send().await {
        Ok(who) => emit(
            "caller",
            json!({"arn": who.arn(), "account": who.account(), "user_id": who.user_id()}),
        ),
        Err(err) => {
            emit("caller", error_report(&err));
            return;
        }
    }

    let creds = config
        .credentials_provider()
        .expect("the default chain")
        .provide_credentials()
        .await
        .expect("credentials from the default chain");
    emit(
        "credentials",
        json!({
            "access_key_prefix": creds.access_key_id().get(..4),
            "session_token": creds.session_token().is_some(),
            "expiry": creds.expiry().is_some(),
        }),
    );

    let iam = aws_sdk_iam::Client::new(&config);
    let simulated = iam
        .simulate_principal_policy()
        .policy_source_arn(&role_arn)
        .action_names("s3:CreateBucket")
        .resource_arns(ALLOWED_BUCKET)
        .send()
        .await;
    match simulated {
        Ok(out) => {
            let allowed = out
                .evaluation_results()
                .iter()
                .all(|r| r.eval_decision() == &PolicyEvaluationDecisionType::Allowed);
            emit("simulate", json!({"allowed": allowed}));
        }
        Err(err) => {
            let report = match err.as_service_error() {
                Some(e) => json!({"error": {"code": e.code(), "message": e.message()}}),
                None => json!({"error": {"chain": DisplayErrorContext(&err).to_string()}}),
            };
            emit("simulate", report);
        }
    }
}
