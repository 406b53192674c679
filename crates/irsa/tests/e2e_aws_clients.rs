//! Issue 4's "Done means", with unmodified AWS clients: the seed's IRSA flow driven through the
//! real `irsa` processes over loopback (`irsa issuer serve`, `irsa sts serve`, `irsa token
//! mint`) by the AWS CLI and boto3 from PyPI, configured only through the environment variables
//! a pod gets (`AWS_ENDPOINT_URL[_STS|_IAM]`, `AWS_ROLE_ARN`, `AWS_WEB_IDENTITY_TOKEN_FILE`).
//!
//! Every child process is owned by a guard that kills it on drop, so a failed assertion never
//! leaves a server behind. Readiness is the address line each server prints, never a sleep.
//!
//! The AWS CLI and boto3 come from the test venv (`scripts/test.sh` exports `IRSA_TEST_PYTHON`);
//! without it the tests are skipped, except under `CI` where they fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

mod support;
use support::{
    Stack, describe, irsa, seed_s3_prefix_policy, seed_trust_policy, tamper_signature, unix_now,
};

const ACCOUNT: &str = "123456789012";
const ADMIN_KEY_ID: &str = "AKIAE2ETESTADMIN0001";
const ADMIN_SECRET: &str = "e2eTestAdminSecretKey0123456789abcdefghi";
const ROLE_NAME: &str = "k8s_default_aws-cli";
const AUDIENCE: &str = "sts.amazonaws.com";
const NOT_AUTHORIZED: &str = "Not authorized to perform sts:AssumeRoleWithWebIdentity";
const INVALID_TOKEN: &str = "The web identity token that was passed could not be validated by Amazon Web Services. \
                             Get a new identity token from the identity provider and then retry the request.";
const NO_VERIFICATION_KEY: &str = "Couldn't retrieve verification key from your identity provider,  please reference \
                                   AssumeRoleWithWebIdentity documentation for requirements";

/// The venv's python and its `aws` script, or `None` (skip) outside CI.
struct Tools {
    python: PathBuf,
    aws: PathBuf,
}

fn tools(what: &str) -> Option<Tools> {
    let Some(python) = std::env::var_os("IRSA_TEST_PYTHON").map(PathBuf::from) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "IRSA_TEST_PYTHON must be set in CI (run scripts/test.sh)"
        );
        eprintln!("skipped: {what} needs the AWS CLI and boto3 (run scripts/test.sh)");
        return None;
    };
    // The venv's `aws` sits next to its python; fall back to PATH (scripts/test.sh puts the
    // venv's bin/ first).
    let beside = python.parent().map(|d| d.join("aws"));
    let aws = match beside {
        Some(p) if p.is_file() => p,
        _ => PathBuf::from("aws"),
    };
    Some(Tools { python, aws })
}

/// How the clients find the endpoint.
#[derive(Clone, Copy, Debug)]
enum Endpoint {
    /// `AWS_ENDPOINT_URL` for every service.
    Global,
    /// `AWS_ENDPOINT_URL_STS` and `AWS_ENDPOINT_URL_IAM` only.
    PerService,
}

/// Who the client is.
enum Caller<'a> {
    /// The account administrator: the server's admin key pair in the environment.
    Admin,
    /// The pod: `AWS_ROLE_ARN` + `AWS_WEB_IDENTITY_TOKEN_FILE` (+ optional session name), no keys.
    WebIdentity {
        role_arn: &'a str,
        token_file: &'a Path,
        session_name: Option<&'a str>,
    },
    /// No credentials at all (STS's unsigned AssumeRoleWithWebIdentity needs none).
    Anonymous,
}

/// The issuer, the STS/IAM endpoint, the registered provider and the seed's role.
struct World {
    tools: Tools,
    stack: Stack,
    endpoint: Endpoint,
    role_arn: String,
}

/// The stack's folder, URLs and token minting, read through the world.
impl std::ops::Deref for World {
    type Target = Stack;
    fn deref(&self) -> &Stack {
        &self.stack
    }
}

impl World {
    /// Steps 1-3 of the seed: keys, issuer, endpoint, then IAM set up with the AWS CLI.
    fn start(tools: Tools, endpoint: Endpoint) -> Self {
        let stack = Stack::start(ADMIN_KEY_ID, ADMIN_SECRET);
        let mut world = World {
            tools,
            stack,
            endpoint,
            role_arn: String::new(),
        };
        world.set_up_iam();
        world
    }

    /// `aws iam create-open-id-connect-provider`, `create-role`, `put-role-policy`.
    fn set_up_iam(&mut self) {
        let provider = self.aws_ok(
            &Caller::Admin,
            &[
                "iam",
                "create-open-id-connect-provider",
                "--url",
                &self.issuer_url,
                "--client-id-list",
                AUDIENCE,
            ],
        );
        let provider_arn = provider["OpenIDConnectProviderArn"]
            .as_str()
            .expect("OpenIDConnectProviderArn")
            .to_owned();
        assert_eq!(
            provider_arn,
            format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{}", self.host_path())
        );

        let trust = seed_trust_policy(&provider_arn, self.host_path(), AUDIENCE);
        let trust_file = self.path("trust.json");
        std::fs::write(&trust_file, trust.to_string()).unwrap();
        let role = self.aws_ok(
            &Caller::Admin,
            &[
                "iam",
                "create-role",
                "--role-name",
                ROLE_NAME,
                "--assume-role-policy-document",
                &format!("file://{}", trust_file.display()),
            ],
        );
        self.role_arn = role["Role"]["Arn"].as_str().expect("Role.Arn").to_owned();
        assert_eq!(
            self.role_arn,
            format!("arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}")
        );

        let policy = seed_s3_prefix_policy();
        let policy_file = self.path("s3-prefix.json");
        std::fs::write(&policy_file, policy.to_string()).unwrap();
        let out = self.aws(
            &Caller::Admin,
            &[
                "iam",
                "put-role-policy",
                "--role-name",
                ROLE_NAME,
                "--policy-name",
                "s3-prefix",
                "--policy-document",
                &format!("file://{}", policy_file.display()),
            ],
        );
        assert!(out.status.success(), "put-role-policy: {}", describe(&out));
    }

    /// The environment of a client: nothing inherited but PATH, an isolated HOME and AWS
    /// config, the endpoint, the region and the caller's credentials.
    fn client_env(&self, cmd: &mut Command, caller: &Caller<'_>) {
        cmd.env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
        cmd.env("HOME", self.dir.path())
            .env("AWS_CONFIG_FILE", self.path("no-such-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.path("no-such-credentials"),
            )
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_MAX_ATTEMPTS", "1");
        match self.endpoint {
            Endpoint::Global => {
                cmd.env("AWS_ENDPOINT_URL", &self.sts_url);
            }
            Endpoint::PerService => {
                cmd.env("AWS_ENDPOINT_URL_STS", &self.sts_url)
                    .env("AWS_ENDPOINT_URL_IAM", &self.sts_url);
            }
        }
        match caller {
            Caller::Admin => {
                cmd.env("AWS_ACCESS_KEY_ID", ADMIN_KEY_ID)
                    .env("AWS_SECRET_ACCESS_KEY", ADMIN_SECRET);
            }
            Caller::WebIdentity {
                role_arn,
                token_file,
                session_name,
            } => {
                cmd.env("AWS_ROLE_ARN", role_arn)
                    .env("AWS_WEB_IDENTITY_TOKEN_FILE", token_file);
                if let Some(name) = session_name {
                    cmd.env("AWS_ROLE_SESSION_NAME", name);
                }
            }
            Caller::Anonymous => {}
        }
    }

    /// Runs the AWS CLI with JSON output.
    fn aws(&self, caller: &Caller<'_>, args: &[&str]) -> Output {
        let mut cmd = Command::new(&self.tools.aws);
        self.client_env(&mut cmd, caller);
        cmd.args(args)
            .args(["--output", "json"])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.tools.aws.display()))
    }

    /// Runs the AWS CLI, requires success and returns its JSON output.
    fn aws_ok(&self, caller: &Caller<'_>, args: &[&str]) -> Value {
        let out = self.aws(caller, args);
        assert!(out.status.success(), "aws {args:?}: {}", describe(&out));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("aws {args:?} printed no JSON ({e}): {}", describe(&out)))
    }

    /// `aws sts assume-role-with-web-identity` with the token in `file`; `Ok(credentials JSON)`
    /// or `Err((code, message))` as the CLI reports AWS's error.
    fn assume(&self, file: &Path) -> Result<Value, (String, String)> {
        let token_arg = format!("file://{}", file.display());
        let args = [
            "sts",
            "assume-role-with-web-identity",
            "--role-arn",
            &self.role_arn,
            "--role-session-name",
            "e2e-session",
            "--web-identity-token",
            &token_arg,
        ];
        let out = self.aws(&Caller::Anonymous, &args);
        if out.status.success() {
            return Ok(serde_json::from_slice(&out.stdout).expect("JSON output"));
        }
        Err(aws_error(&out))
    }

    /// `aws iam simulate-principal-policy` for the role; returns `EvalDecision`.
    fn simulate(&self, action: &str, resource: &str) -> String {
        let out = self.aws_ok(
            &Caller::Admin,
            &[
                "iam",
                "simulate-principal-policy",
                "--policy-source-arn",
                &self.role_arn,
                "--action-names",
                action,
                "--resource-arns",
                resource,
            ],
        );
        let results = out["EvaluationResults"]
            .as_array()
            .expect("EvaluationResults");
        assert_eq!(results.len(), 1, "{out}");
        assert_eq!(results[0]["EvalActionName"], action, "{out}");
        assert_eq!(results[0]["EvalResourceName"], resource, "{out}");
        results[0]["EvalDecision"]
            .as_str()
            .expect("EvalDecision")
            .to_owned()
    }
}

/// Parses the CLI's `An error occurred (CODE) when calling the OP operation: MESSAGE`.
fn aws_error(out: &Output) -> (String, String) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("An error occurred ("))
        .unwrap_or_else(|| panic!("not an AWS error report: {}", describe(out)));
    let (code, rest) = line.split_once(')').expect("closing parenthesis");
    let message = rest
        .split_once("operation: ")
        .map(|(_, m)| m)
        .unwrap_or_else(|| panic!("no message in {line:?}"));
    (code.to_owned(), message.to_owned())
}

fn assumed_role_prefix() -> String {
    format!("arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE_NAME}/")
}

#[test]
fn aws_cli_assumes_the_role_and_simulates_the_s3_prefix_policy() {
    let Some(tools) = tools("the AWS CLI end-to-end check") else {
        return;
    };
    let world = World::start(tools, Endpoint::Global);
    let token = world.mint("token", &[]);

    // The pod's view: only AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE, no keys.
    let who = world.aws_ok(
        &Caller::WebIdentity {
            role_arn: &world.role_arn,
            token_file: &token,
            session_name: Some("aws-cli-pod"),
        },
        &["sts", "get-caller-identity"],
    );
    assert_eq!(
        who["Arn"],
        format!("{}aws-cli-pod", assumed_role_prefix()),
        "{who}"
    );
    assert_eq!(who["Account"], ACCOUNT, "{who}");
    let user_id = who["UserId"].as_str().expect("UserId");
    assert!(
        user_id.starts_with("AROA") && user_id.ends_with(":aws-cli-pod"),
        "{user_id}"
    );

    // Without AWS_ROLE_SESSION_NAME botocore names the session `botocore-session-<epoch>`.
    let who = world.aws_ok(
        &Caller::WebIdentity {
            role_arn: &world.role_arn,
            token_file: &token,
            session_name: None,
        },
        &["sts", "get-caller-identity"],
    );
    let arn = who["Arn"].as_str().expect("Arn");
    assert!(
        arn.starts_with(&format!("{}botocore-session-", assumed_role_prefix())),
        "{arn}"
    );

    // What the role may do, answered by the policy engine through IAM.
    assert_eq!(
        world.simulate("s3:CreateBucket", "arn:aws:s3:::k8s-default-aws-cli-demo"),
        "allowed"
    );
    assert_eq!(
        world.simulate("s3:CreateBucket", "arn:aws:s3:::k9s-default-aws-cli-demo"),
        "implicitDeny"
    );
    assert_eq!(
        world.simulate(
            "s3:PutObject",
            "arn:aws:s3:::k8s-default-aws-cli-demo/a/key"
        ),
        "allowed"
    );

    // The temporary credentials are not admin: IAM refuses them (no IAM permission).
    let out = world.aws(
        &Caller::WebIdentity {
            role_arn: &world.role_arn,
            token_file: &token,
            session_name: Some("aws-cli-pod"),
        },
        &["iam", "list-roles"],
    );
    assert!(!out.status.success(), "{}", describe(&out));
    let (code, message) = aws_error(&out);
    assert_eq!(code, "AccessDenied", "{message}");
    assert!(
        message.contains(&format!("{}aws-cli-pod", assumed_role_prefix()))
            && message.contains("iam:ListRoles"),
        "{message}"
    );
}

#[test]
fn boto3_default_chain_uses_web_identity_with_per_service_endpoints() {
    let Some(tools) = tools("the boto3 end-to-end check") else {
        return;
    };
    let world = World::start(tools, Endpoint::PerService);
    let token = world.mint("token", &[]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/boto3_web_identity.py");
    let mut cmd = Command::new(&world.tools.python);
    world.client_env(
        &mut cmd,
        &Caller::WebIdentity {
            role_arn: &world.role_arn,
            token_file: &token,
            session_name: Some("boto3-pod"),
        },
    );
    let out = cmd
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .expect("run python");
    assert!(out.status.success(), "boto3: {}", describe(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON from the script");
    assert_eq!(
        report["method"], "assume-role-with-web-identity",
        "{report}"
    );
    assert_eq!(report["access_key_prefix"], "ASIA", "{report}");
    assert_eq!(report["has_session_token"], true, "{report}");
    assert_eq!(
        report["arn"],
        format!("{}boto3-pod", assumed_role_prefix()),
        "{report}"
    );
    assert_eq!(report["account"], ACCOUNT, "{report}");
}

#[test]
fn bad_tokens_fail_with_awss_errors_through_the_aws_cli() {
    let Some(tools) = tools("the AWS CLI failure check") else {
        return;
    };
    let world = World::start(tools, Endpoint::PerService);

    // The good token works, so each failure below is due to the one thing changed.
    let good = world.mint("good", &[]);
    let creds = world.assume(&good).expect("the seed's token is accepted");
    assert_eq!(
        creds["AssumedRoleUser"]["Arn"],
        format!("{}e2e-session", assumed_role_prefix()),
        "{creds}"
    );
    assert_eq!(
        creds["SubjectFromWebIdentityToken"],
        "system:serviceaccount:default:aws-cli"
    );
    assert_eq!(creds["Audience"], AUDIENCE, "{creds}");
    assert_eq!(
        creds["Provider"],
        format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{}", world.host_path()),
        "{creds}"
    );
    assert!(
        creds["Credentials"]["AccessKeyId"]
            .as_str()
            .is_some_and(|k| k.starts_with("ASIA") && k.len() == 20),
        "{creds}"
    );

    // Another ServiceAccount of the same cluster: the trust policy's `:sub` condition fails.
    let intruder = world.mint("intruder", &["--service-account", "intruder"]);
    assert_eq!(
        world.assume(&intruder),
        Err(("AccessDenied".to_owned(), NOT_AUTHORIZED.to_owned()))
    );

    // An audience not in the provider's client ids.
    let other_aud = world.mint("other-aud", &["--audience", "other"]);
    assert_eq!(
        world.assume(&other_aud),
        Err((
            "InvalidIdentityToken".to_owned(),
            "Incorrect token audience".to_owned()
        ))
    );

    // Expired an hour ago (well beyond AWS's 5 minutes of leeway).
    let issued_at = unix_now() - 3600;
    let expired = world.mint(
        "expired",
        &["--issued-at", &issued_at.to_string(), "--expiration", "600"],
    );
    let (code, message) = world.assume(&expired).expect_err("an expired token");
    assert_eq!(code, "ExpiredTokenException", "{message}");
    let exp = issued_at + 600;
    let now: u64 = message
        .strip_prefix("Token expired: current date/time ")
        .and_then(|m| m.strip_suffix(&format!(" must be before the expiration date/time {exp}")))
        .unwrap_or_else(|| panic!("not AWS's expiry message: {message}"))
        .parse()
        .expect("epoch seconds");
    assert!(now >= exp + 300, "{message}");

    // Expired two minutes ago: inside the leeway, so still accepted, as by AWS.
    let issued_at = unix_now() - 720;
    let in_leeway = world.mint(
        "in-leeway",
        &["--issued-at", &issued_at.to_string(), "--expiration", "600"],
    );
    world
        .assume(&in_leeway)
        .expect("a token expired less than 5 minutes ago is accepted");

    // An issuer IAM does not know (nothing listens there; it must not even be fetched).
    let stranger = "http://127.0.0.1:9";
    let unknown = world.mint_with("unknown-issuer", stranger, "keys/private.pem", &[]);
    assert_eq!(
        world.assume(&unknown),
        Err((
            "InvalidIdentityToken".to_owned(),
            format!("No OpenIDConnect provider found in your account for {stranger}")
        ))
    );

    // The good token with one signature character changed.
    let tampered = world.path("tampered");
    let good_text = std::fs::read_to_string(&good).unwrap();
    std::fs::write(&tampered, tamper_signature(&good_text)).unwrap();
    assert_eq!(
        world.assume(&tampered),
        Err(("InvalidIdentityToken".to_owned(), INVALID_TOKEN.to_owned()))
    );

    // Signed by a key the issuer does not publish (its kid is not in the JWKS).
    irsa(&[
        "keys",
        "generate",
        "--out-dir",
        &world.path("rogue").to_string_lossy(),
    ]);
    let rogue = world.mint_with("rogue-token", &world.issuer_url, "rogue/private.pem", &[]);
    assert_eq!(
        world.assume(&rogue),
        Err((
            "InvalidIdentityToken".to_owned(),
            NO_VERIFICATION_KEY.to_owned()
        ))
    );

    // And the good token still works afterwards (no state poisoned by the refusals).
    world
        .assume(&good)
        .expect("the seed's token is still accepted");
}
