//! `irsa demo`: the whole IRSA chain on loopback, checked step by step.
//!
//! Nothing here is mocked: the issuer documents are served over HTTP, the STS/IAM endpoint is
//! the real `irsa sts serve` code (with its SQLite state in a temporary file), the AWS calls
//! go through the AWS SDK for Rust, and STS fetches the JWKS from the issuer to verify the
//! token the way AWS does.

mod narrate;
mod seed;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, anyhow};
use aws_sdk_iam::error::ProvideErrorMetadata;
use irsa_jose::{Header, KeyAlgorithm, ObjectRef, PrivateKey, ServiceAccountClaims};
use irsa_mutate::{Associations, Config, ServiceAccountInfo, ServiceAccountLookup};
use narrate::Narrator;
use serde_json::Value;

const ACCOUNT_ID: &str = "123456789012";
const REGION: &str = "us-east-1";

/// Arguments of `irsa demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Leave the issuer and the STS/IAM endpoint running (until Ctrl-C) and print the
    /// environment variables that point the AWS CLI at them.
    #[arg(long)]
    keep: bool,
    /// Keep the demo's files (keys, issuer documents, SQLite state, token) in this folder
    /// instead of a temporary one.
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
}

/// Runs `irsa demo`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(demo(args))
}

/// The servers the demo starts, stopped at the end.
struct Servers {
    issuer: irsa_issuer::serve::Server,
    sts: irsa_sts::server::RunningServer,
}

async fn demo(args: Args) -> anyhow::Result<ExitCode> {
    let temp;
    let dir: PathBuf = match &args.work_dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
            d.clone()
        }
        None => {
            temp = tempdir()?;
            temp.clone()
        }
    };
    let mut n = Narrator::default();
    println!(
        "irsa demo: IAM Roles for Service Accounts, end to end, on loopback (files in {})",
        dir.display()
    );

    // 1. Keys.
    n.step(
        "Make the cluster's service-account signing key (what kube-apiserver signs tokens with)",
    );
    let key = PrivateKey::generate(KeyAlgorithm::Rsa2048).context("cannot generate an RSA key")?;
    let pem = key.to_pkcs8_pem().context("cannot encode the key")?;
    write_private(&dir.join("sa-signer.key"), pem.as_bytes())?;
    n.ok(format!("RSA-2048 key, kid {}", key.kid()));

    // 2. Issuer.
    n.step("Publish the OIDC discovery document and JWKS, and serve them over HTTP");
    let issuer_dir = dir.join("issuer");
    std::fs::create_dir_all(&issuer_dir)?;
    let issuer_server = irsa_issuer::serve::Server::start(irsa_issuer::serve::ServeOptions {
        dir: issuer_dir.clone(),
        listen: loopback(),
        tls: None,
    })
    .await
    .context("cannot start the issuer server")?;
    let issuer_url = format!("http://{}", issuer_server.local_addr());
    let issuer = irsa_issuer::url::IssuerUrl::parse(
        &issuer_url,
        irsa_issuer::url::IssuerPolicy::AllowInsecureHttp,
    )
    .map_err(|e| anyhow!("{e}"))?;
    let host_path = issuer.host_path().to_owned();
    let jwk = match serde_json::to_value(key.public_key().to_jwk())? {
        Value::Object(m) => m,
        _ => return Err(anyhow!("a JWK must serialise to an object")),
    };
    irsa_issuer::publish::init(
        &issuer_dir,
        &irsa_issuer::publish::InitOptions {
            issuer: issuer.clone(),
            jwks_path: "openid/v1/jwks".to_owned(),
            force: true,
        },
        vec![jwk],
    )
    .context("cannot write the issuer documents")?;
    n.say(format!("issuer:   {issuer_url}"));
    n.say(format!(
        "discovery {issuer_url}/.well-known/openid-configuration"
    ));
    n.check(check_discovery(&issuer_url, key.kid()).await);

    // 3. STS/IAM endpoint.
    n.step("Start the local STS + IAM endpoint (state in a SQLite file)");
    let admin = irsa_sts::server::AdminCredentials {
        access_key_id: format!("AKIA{}", irsa_sts::store::random_base32(16)),
        secret_access_key: irsa_sts::server::random_secret(),
    };
    let state_path = dir.join("sts-state.sqlite");
    let store = irsa_sts::store::Store::open(&state_path.to_string_lossy())
        .context("cannot open the STS state database")?;
    let state = irsa_sts::server::AppState::new(
        irsa_sts::server::ServerConfig {
            account_id: ACCOUNT_ID.to_owned(),
            region: REGION.to_owned(),
            allow_http_issuers: true,
            admin: Some(admin.clone()),
        },
        Arc::new(store),
    )
    .context("cannot prepare the STS state")?;
    let sts_server = irsa_sts::server::start(loopback(), Arc::new(state))
        .await
        .context("cannot start the STS/IAM endpoint")?;
    let endpoint = sts_server.endpoint_url();
    n.ok(format!("listening on {endpoint} (account {ACCOUNT_ID})"));
    let servers = Servers {
        issuer: issuer_server,
        sts: sts_server,
    };
    let aws = Aws::new(&endpoint, &admin);

    // 4. IAM: provider, role, policy.
    n.step("Register the issuer as an IAM OIDC provider, as `eksctl utils associate-iam-oidc-provider` does");
    let provider_arn = match aws
        .iam
        .create_open_id_connect_provider()
        .url(&issuer_url)
        .client_id_list(seed::AUDIENCE)
        .send()
        .await
    {
        Ok(out) => {
            let arn = out
                .open_id_connect_provider_arn()
                .unwrap_or_default()
                .to_owned();
            n.ok(format!("provider {arn}"));
            arn
        }
        Err(e) => {
            n.fail(format!("CreateOpenIDConnectProvider: {}", describe(&e)));
            return finish(n, servers, &args, None).await;
        }
    };

    n.step("Create the role k8s_default_aws-cli, trusted by system:serviceaccount:default:aws-cli only");
    let trust = seed::trust_policy(&provider_arn, &host_path);
    n.say(format!("trust policy: {trust}"));
    let role_arn = match aws
        .iam
        .create_role()
        .role_name(seed::ROLE_NAME)
        .assume_role_policy_document(&trust)
        .send()
        .await
    {
        Ok(out) => {
            let arn = out.role().map(|r| r.arn().to_owned()).unwrap_or_default();
            n.ok(format!("role {arn}"));
            arn
        }
        Err(e) => {
            n.fail(format!("CreateRole: {}", describe(&e)));
            return finish(n, servers, &args, None).await;
        }
    };
    let policy = seed::s3_prefix_policy();
    n.say(format!("permissions: {policy}"));
    match aws
        .iam
        .put_role_policy()
        .role_name(seed::ROLE_NAME)
        .policy_name(seed::POLICY_NAME)
        .policy_document(&policy)
        .send()
        .await
    {
        Ok(_) => n.ok("inline policy s3-prefix attached"),
        Err(e) => n.fail(format!("PutRolePolicy: {}", describe(&e))),
    }

    // 5. Webhook mutation.
    n.step("Admit the seed's pod through the webhook mutation (ServiceAccount annotated with the role)");
    let token_file = match mutate_seed_pod(&mut n, &role_arn, &dir) {
        Some(t) => t,
        None => return finish(n, servers, &args, None).await,
    };

    // 6. Token.
    n.step("Mint the token the kubelet would mount (bound to the pod, audience sts.amazonaws.com)");
    let token = mint(&key, &issuer_url, seed::SERVICE_ACCOUNT, Some("aws-cli"))?;
    write_private(&token_file, token.as_bytes())?;
    n.ok(format!(
        "token written to {} (sub system:serviceaccount:default:aws-cli)",
        token_file.display()
    ));

    // 7. AssumeRoleWithWebIdentity + GetCallerIdentity.
    n.step("Trade the token for credentials at STS (AssumeRoleWithWebIdentity), as the AWS SDK in the pod does");
    let creds = match aws.assume(&role_arn, &token).await {
        Ok(c) => {
            n.ok(format!(
                "temporary credentials {} expiring {}",
                c.access_key_id, c.expiration
            ));
            Some(c)
        }
        Err(e) => {
            n.fail(format!("AssumeRoleWithWebIdentity: {e}"));
            None
        }
    };
    if let Some(c) = &creds {
        n.step("Who am I? (GetCallerIdentity, SigV4-signed with the temporary credentials)");
        let expected = format!(
            "arn:aws:sts::{ACCOUNT_ID}:assumed-role/{}/{}",
            seed::ROLE_NAME,
            seed::SESSION_NAME
        );
        match aws.whoami(c).await {
            Ok(arn) if arn == expected => n.ok(format!("Arn: {arn}")),
            Ok(arn) => n.fail(format!("expected {expected}, got {arn}")),
            Err(e) => n.fail(format!("GetCallerIdentity: {e}")),
        }
    }

    // 8. Policy decisions.
    n.step("Ask IAM what the role may do: s3:CreateBucket inside and outside its prefix");
    let principal = format!(
        "arn:aws:sts::{ACCOUNT_ID}:assumed-role/{}/{}",
        seed::ROLE_NAME,
        seed::SESSION_NAME
    );
    for (bucket, want_allowed) in [(seed::ALLOWED_BUCKET, true), (seed::DENIED_BUCKET, false)] {
        let resource = format!("arn:aws:s3:::{bucket}");
        match aws.simulate(&role_arn, "s3:CreateBucket", &resource).await {
            Ok(decision) => {
                let allowed = decision == "allowed";
                let local = explain(&policy, &principal, &resource);
                if allowed == want_allowed {
                    n.ok(format!("{bucket}: {decision}"));
                    if let Some(message) = local {
                        n.say(format!("AccessDenied: {message}"));
                    }
                } else {
                    n.fail(format!("{bucket}: {decision}, expected the opposite"));
                }
            }
            Err(e) => n.fail(format!("SimulatePrincipalPolicy: {e}")),
        }
    }

    // 9. The wrong ServiceAccount.
    n.step("A token of another ServiceAccount (default/intruder) must be refused");
    let other = mint(&key, &issuer_url, "intruder", None)?;
    match aws.assume(&role_arn, &other).await {
        Ok(_) => n.fail("STS issued credentials to default/intruder"),
        Err(e) if e.contains("Not authorized to perform sts:AssumeRoleWithWebIdentity") => {
            n.ok(format!("refused: {e}"))
        }
        Err(e) => n.fail(format!("refused, but not with AWS's AccessDenied: {e}")),
    }

    let env = KeepEnv {
        endpoint,
        role_arn,
        token_file,
        dir: dir.clone(),
        admin,
    };
    finish(n, servers, &args, Some(env)).await
}

/// What `--keep` prints.
struct KeepEnv {
    endpoint: String,
    role_arn: String,
    token_file: PathBuf,
    dir: PathBuf,
    admin: irsa_sts::server::AdminCredentials,
}

async fn finish(
    n: Narrator,
    servers: Servers,
    args: &Args,
    env: Option<KeepEnv>,
) -> anyhow::Result<ExitCode> {
    let ok = n.failures().is_empty();
    println!();
    if ok {
        println!("Every step behaved as on AWS: the chain works.");
    } else {
        println!("{} step(s) did not behave as expected:", n.failures().len());
        for f in n.failures() {
            println!("  - {f}");
        }
    }
    if args.keep {
        if let Some(env) = env {
            println!(
                "\nThe servers keep running until Ctrl-C. To act as the pod with the AWS CLI:\n"
            );
            println!("  export AWS_ENDPOINT_URL_STS={}", env.endpoint);
            println!("  export AWS_ENDPOINT_URL_IAM={}", env.endpoint);
            println!("  export AWS_REGION={REGION} AWS_DEFAULT_REGION={REGION}");
            println!("  export AWS_ROLE_ARN={}", env.role_arn);
            println!(
                "  export AWS_WEB_IDENTITY_TOKEN_FILE={}",
                env.token_file.display()
            );
            println!("  aws sts get-caller-identity");
            println!(
                "\nAs the account administrator (IAM calls), use the admin key pair instead:\n\n  \
                 AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY=\"$(cat {})\" aws iam list-roles",
                env.admin.access_key_id,
                write_admin_secret(&env)?.display()
            );
        }
        tokio::signal::ctrl_c().await.ok();
    }
    servers.issuer.shutdown().await;
    servers.sts.shutdown().await.ok();
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Writes the admin secret into the demo folder (mode 0600) so it never appears on screen.
fn write_admin_secret(env: &KeepEnv) -> anyhow::Result<PathBuf> {
    let path = env.dir.join("admin-secret-access-key");
    write_private(&path, env.admin.secret_access_key.as_bytes())?;
    Ok(path)
}

/// Runs the pod mutation and returns where the token goes (under the demo folder).
fn mutate_seed_pod(n: &mut Narrator, role_arn: &str, dir: &Path) -> Option<PathBuf> {
    let config = Config::default();
    let mut annotations = std::collections::BTreeMap::new();
    annotations.insert(
        format!("{}/role-arn", config.annotation_prefix),
        role_arn.to_owned(),
    );
    let sa = ServiceAccountInfo::from_annotations(&annotations, &config.annotation_prefix);
    let pod = seed::pod();
    let mutation = match irsa_mutate::mutate(
        &pod,
        seed::NAMESPACE,
        &ServiceAccountLookup::cached(Some(&sa)),
        &Associations::default(),
        &config,
        &mut |_| 0,
    ) {
        Ok(m) => m,
        Err(e) => {
            n.fail(format!("the mutation failed: {e}"));
            return None;
        }
    };
    let mut mutated = pod.clone();
    if let Err(e) = json_patch::patch(&mut mutated, &mutation.patch) {
        n.fail(format!("the patch does not apply: {e}"));
        return None;
    }
    let env = mutated
        .pointer("/spec/containers/0/env")
        .cloned()
        .unwrap_or(Value::Null);
    let get = |name: &str| {
        env.as_array()
            .into_iter()
            .flatten()
            .find(|e| e["name"] == name)
            .and_then(|e| e["value"].as_str())
            .map(str::to_owned)
    };
    for e in env.as_array().into_iter().flatten() {
        n.say(format!(
            "env {}={}",
            e["name"].as_str().unwrap_or(""),
            e["value"].as_str().unwrap_or("")
        ));
    }
    let token_path = get("AWS_WEB_IDENTITY_TOKEN_FILE");
    match (get("AWS_ROLE_ARN"), &token_path) {
        (Some(r), Some(p)) if r == role_arn => n.ok(format!(
            "{} patch operations; the pod gets the role and its token at {p}",
            mutation.patch.0.len()
        )),
        _ => {
            n.fail("the mutated pod lacks AWS_ROLE_ARN or AWS_WEB_IDENTITY_TOKEN_FILE");
            return None;
        }
    }
    // The kubelet would mount the projected token at that path; here it lives under the demo folder.
    let relative = token_path?.trim_start_matches('/').to_owned();
    let file = dir.join("pod-root").join(relative);
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent).ok()?;
    }
    Some(file)
}

/// Mints a pod-bound token for `default/<service_account>`, as the kubelet's TokenRequest would.
fn mint(
    key: &PrivateKey,
    issuer: &str,
    service_account: &str,
    pod: Option<&str>,
) -> anyhow::Result<String> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
    let mut claims = ServiceAccountClaims::new(
        issuer,
        seed::NAMESPACE,
        service_account,
        vec![seed::AUDIENCE.to_owned()],
        now,
        86_400,
    );
    claims.pod = pod.map(ObjectRef::with_random_uid);
    irsa_jose::sign(&Header::for_key(key), &claims.to_json(), key).context("cannot sign the token")
}

/// The exact AccessDenied text AWS would return for `principal`, from the policy engine.
fn explain(policy: &str, principal: &str, resource: &str) -> Option<String> {
    let policy = irsa_policy::Policy::parse(policy).ok()?;
    let set = irsa_policy::PolicySet::identity(vec![irsa_policy::NamedPolicy::new(
        seed::POLICY_NAME,
        policy,
    )]);
    let request = irsa_policy::Request::new(
        irsa_policy::Principal::from_arn(principal),
        "s3:CreateBucket",
        resource,
    );
    irsa_policy::evaluate(&set, &request).message
}

async fn check_discovery(issuer: &str, kid: &str) -> Result<String, String> {
    let (jwks, jwks_uri) = super::token::fetch::discover(issuer, Duration::from_secs(5))
        .await
        .map_err(|e| format!("{e:#}"))?;
    if jwks.find(kid).is_some() {
        Ok(format!(
            "discovery and JWKS served; the JWKS at {jwks_uri} holds kid {kid}"
        ))
    } else {
        Err(format!("the JWKS at {jwks_uri} lacks kid {kid}"))
    }
}

/// AWS SDK for Rust clients pointed at the local endpoint.
struct Aws {
    iam: aws_sdk_iam::Client,
    endpoint: String,
}

/// Temporary credentials from STS.
struct TempCreds {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
    expiration: String,
}

impl Aws {
    fn new(endpoint: &str, admin: &irsa_sts::server::AdminCredentials) -> Aws {
        let creds = aws_credential_types::Credentials::new(
            &admin.access_key_id,
            &admin.secret_access_key,
            None,
            None,
            "irsa-demo-admin",
        );
        let conf = aws_sdk_iam::Config::builder()
            .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
            .region(aws_sdk_iam::config::Region::new(REGION))
            .endpoint_url(endpoint)
            .credentials_provider(creds)
            .build();
        Aws {
            iam: aws_sdk_iam::Client::from_conf(conf),
            endpoint: endpoint.to_owned(),
        }
    }

    fn sts(&self, creds: Option<&TempCreds>) -> aws_sdk_sts::Client {
        let mut conf = aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(aws_sdk_sts::config::Region::new(REGION))
            .endpoint_url(&self.endpoint);
        if let Some(c) = creds {
            conf = conf.credentials_provider(aws_credential_types::Credentials::new(
                &c.access_key_id,
                &c.secret_access_key,
                Some(c.session_token.clone()),
                None,
                "irsa-demo-web-identity",
            ));
        }
        aws_sdk_sts::Client::from_conf(conf.build())
    }

    async fn assume(&self, role_arn: &str, token: &str) -> Result<TempCreds, String> {
        let out = self
            .sts(None)
            .assume_role_with_web_identity()
            .role_arn(role_arn)
            .role_session_name(seed::SESSION_NAME)
            .web_identity_token(token)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let c = out
            .credentials()
            .ok_or("the response carries no credentials")?;
        Ok(TempCreds {
            access_key_id: c.access_key_id().to_owned(),
            secret_access_key: c.secret_access_key().to_owned(),
            session_token: c.session_token().to_owned(),
            expiration: c.expiration().to_string(),
        })
    }

    async fn whoami(&self, creds: &TempCreds) -> Result<String, String> {
        let out = self
            .sts(Some(creds))
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| describe(&e))?;
        Ok(out.arn().unwrap_or_default().to_owned())
    }

    async fn simulate(
        &self,
        role_arn: &str,
        action: &str,
        resource: &str,
    ) -> Result<String, String> {
        let out = self
            .iam
            .simulate_principal_policy()
            .policy_source_arn(role_arn)
            .action_names(action)
            .resource_arns(resource)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        out.evaluation_results()
            .first()
            .map(|r| r.eval_decision().as_str().to_owned())
            .ok_or_else(|| "no evaluation result".to_owned())
    }
}

/// `Code: message` of an AWS SDK error (or its transport error).
fn describe<E: ProvideErrorMetadata + std::error::Error>(e: &E) -> String {
    match (e.code(), e.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => {
            let mut text = e.to_string();
            let mut source = e.source();
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            text
        }
    }
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A fresh private folder under the system temp dir.
fn tempdir() -> anyhow::Result<PathBuf> {
    let base = std::env::temp_dir().join(format!("irsa-demo-{}", irsa_jose::random_uuid()));
    std::fs::create_dir_all(&base).with_context(|| format!("cannot create {}", base.display()))?;
    Ok(base)
}

/// Writes a secret file with mode 0600.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut f = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}
