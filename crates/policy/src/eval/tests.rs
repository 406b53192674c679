use super::*;

fn pol(json: &str) -> Policy {
    Policy::parse(json).unwrap_or_else(|e| panic!("{e}: {}", e.detail()))
}

fn named(name: &str, json: &str) -> NamedPolicy {
    NamedPolicy::new(name, pol(json))
}

const SESSION: &str = "arn:aws:sts::111122223333:assumed-role/k8s_default_aws-cli/k8s-demo";
const ROLE: &str = "arn:aws:iam::111122223333:role/k8s_default_aws-cli";

const S3_PREFIX: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"Buckets","Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::k8s-default-aws-cli-*","arn:aws:s3:::k8s-default-aws-cli-*/*"]}]}"#;

#[test]
fn seed_example_allowed_and_denied_with_aws_message() {
    let set = PolicySet::identity(vec![named("s3-prefix", S3_PREFIX)]);
    let ok = evaluate(
        &set,
        &Request::new(
            Principal::from_arn(SESSION),
            "s3:CreateBucket",
            "arn:aws:s3:::k8s-default-aws-cli-demo",
        ),
    );
    assert_eq!(ok.decision, Decision::Allowed);
    assert_eq!(ok.matched_statements.len(), 1);
    assert_eq!(ok.matched_statements[0].sid.as_deref(), Some("Buckets"));
    assert_eq!(ok.matched_statements[0].policy, "s3-prefix");
    assert_eq!(ok.message, None);

    let denied = evaluate(
        &set,
        &Request::new(
            Principal::from_arn(SESSION),
            "s3:CreateBucket",
            "arn:aws:s3:::k9s-default-aws-cli-demo",
        ),
    );
    assert_eq!(denied.decision, Decision::ImplicitDeny);
    assert!(denied.matched_statements.is_empty());
    assert_eq!(
        denied.message.as_deref(),
        Some(
            "User: arn:aws:sts::111122223333:assumed-role/k8s_default_aws-cli/k8s-demo is not authorized to perform: s3:CreateBucket on resource: \"arn:aws:s3:::k9s-default-aws-cli-demo\" because no identity-based policy allows the s3:CreateBucket action"
        )
    );
}

#[test]
fn explicit_deny_beats_allow_and_names_all_deny_statements() {
    let set = PolicySet::identity(vec![
        named(
            "allow-all",
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
        ),
        named(
            "deny-deploy",
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"NoDeploy","Effect":"Deny","Action":"codedeploy:*","Resource":"*"}]}"#,
        ),
    ]);
    let req = Request::new(
        Principal::from_arn("arn:aws:iam::123456789012:user/JohnDoe"),
        "codedeploy:ListDeployments",
        "arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:*",
    );
    let e = evaluate(&set, &req);
    assert_eq!(e.decision, Decision::ExplicitDeny);
    assert_eq!(e.matched_statements.len(), 1);
    assert_eq!(e.matched_statements[0].policy, "deny-deploy");
    assert_eq!(e.matched_statements[0].effect, Effect::Deny);
    // AWS documentation example (troubleshoot_access-denied).
    assert_eq!(
        e.message.as_deref(),
        Some(
            "User: arn:aws:iam::123456789012:user/JohnDoe is not authorized to perform: codedeploy:ListDeployments on resource: arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:* with an explicit deny in an identity-based policy"
        )
    );
}

#[test]
fn implicit_deny_without_resource_omits_on_resource() {
    let set = PolicySet::identity(vec![]);
    let req = Request::new(
        Principal::from_arn("arn:aws:iam::123456789012:user/JohnDoe"),
        "codecommit:ListRepositories",
        "*",
    );
    let e = evaluate(&set, &req);
    assert_eq!(e.decision, Decision::ImplicitDeny);
    assert_eq!(
        e.message.as_deref(),
        Some(
            "User: arn:aws:iam::123456789012:user/JohnDoe is not authorized to perform: codecommit:ListRepositories because no identity-based policy allows the codecommit:ListRepositories action"
        )
    );
}

#[test]
fn boundary_and_session_intersect() {
    let identity = named(
        "id",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["s3:*","dynamodb:*"],"Resource":"*"}}"#,
    );
    let boundary = named(
        "boundary",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
    );
    let session = named(
        "session",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#,
    );
    let mut set = PolicySet::identity(vec![identity]);
    set.permissions_boundaries.push(boundary);
    let p = Principal::from_arn(SESSION);
    let ddb = Request::new(
        p.clone(),
        "dynamodb:GetItem",
        "arn:aws:dynamodb:us-east-1:111122223333:table/t",
    );
    let e = evaluate(&set, &ddb);
    assert_eq!(e.decision, Decision::ImplicitDeny);
    assert!(
        e.message
            .unwrap()
            .ends_with("because no permissions boundary allows the dynamodb:GetItem action")
    );
    let put = Request::new(p.clone(), "s3:PutObject", "arn:aws:s3:::b/k");
    assert_eq!(evaluate(&set, &put).decision, Decision::Allowed);
    set.session.push(session);
    let e = evaluate(&set, &put);
    assert_eq!(e.decision, Decision::ImplicitDeny);
    assert!(
        e.message
            .unwrap()
            .ends_with("because no session policy allows the s3:PutObject action")
    );
    let get = Request::new(p, "s3:GetObject", "arn:aws:s3:::b/k");
    let e = evaluate(&set, &get);
    assert_eq!(e.decision, Decision::Allowed);
    let kinds: Vec<PolicyKind> = e.matched_statements.iter().map(|m| m.policy_type).collect();
    assert_eq!(
        kinds,
        [
            PolicyKind::Identity,
            PolicyKind::PermissionsBoundary,
            PolicyKind::Session
        ]
    );
}

#[test]
fn explicit_deny_in_boundary_and_session_messages() {
    let mut set = PolicySet::identity(vec![named(
        "id",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
    )]);
    set.session.push(named("s", r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"iam:*","Resource":"*"}]}"#));
    let req = Request::new(
        Principal::from_arn(SESSION),
        "iam:CreateUser",
        "arn:aws:iam::111122223333:user/x",
    );
    let e = evaluate(&set, &req);
    assert_eq!(e.decision, Decision::ExplicitDeny);
    assert!(
        e.message
            .as_deref()
            .unwrap()
            .ends_with("with an explicit deny in a session policy")
    );
    assert_eq!(e.matched_statements[0].statement_index, 1);
    set.session.clear();
    set.permissions_boundaries.push(named(
        "b",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"iam:*","Resource":"*"}}"#,
    ));
    let e = evaluate(&set, &req);
    assert!(
        e.message
            .as_deref()
            .unwrap()
            .ends_with("with an explicit deny in a permissions boundary")
    );
}

#[test]
fn get_caller_identity_is_always_allowed_unless_explicitly_denied() {
    let mut set = PolicySet::identity(vec![]);
    set.session.push(named(
        "s",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
    ));
    let req = Request::new(Principal::from_arn(SESSION), "sts:GetCallerIdentity", "*");
    assert_eq!(evaluate(&set, &req).decision, Decision::Allowed);
}

const TRUST: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/oidc.example.com/cluster"},
      "Action": "sts:AssumeRoleWithWebIdentity",
      "Condition": {
        "StringEquals": {
          "oidc.example.com/cluster:sub": "system:serviceaccount:default:aws-cli",
          "oidc.example.com/cluster:aud": "sts.amazonaws.com"
        }
      }
    }
  ]
}"#;

fn web_identity(sub: &str, aud: &str, provider: &str) -> Request {
    Request::new(
        Principal::from_arn(provider),
        "sts:AssumeRoleWithWebIdentity",
        ROLE,
    )
    .with_context(
        Context::new()
            .with("oidc.example.com/cluster:sub", sub)
            .with("oidc.example.com/cluster:aud", aud)
            .with("aws:FederatedProvider", provider),
    )
}

#[test]
fn web_identity_trust_policy() {
    let trust = Policy::parse_as(TRUST, PolicyKind::Trust).unwrap();
    let set = PolicySet::trust(NamedPolicy::new("trust", trust));
    let provider = "arn:aws:iam::111122223333:oidc-provider/oidc.example.com/cluster";
    let ok = evaluate(
        &set,
        &web_identity(
            "system:serviceaccount:default:aws-cli",
            "sts.amazonaws.com",
            provider,
        ),
    );
    assert_eq!(ok.decision, Decision::Allowed);
    assert_eq!(ok.matched_statements[0].policy_type, PolicyKind::Trust);
    assert_eq!(
        (
            ok.matched_statements[0].line,
            ok.matched_statements[0].column
        ),
        (4, 5)
    );

    for (sub, aud, prov) in [
        (
            "system:serviceaccount:default:other",
            "sts.amazonaws.com",
            provider,
        ),
        ("system:serviceaccount:default:aws-cli", "other", provider),
        (
            "system:serviceaccount:default:aws-cli",
            "sts.amazonaws.com",
            "arn:aws:iam::111122223333:oidc-provider/other.example.com",
        ),
    ] {
        let e = evaluate(&set, &web_identity(sub, aud, prov));
        assert_eq!(e.decision, Decision::ImplicitDeny, "{sub} {aud} {prov}");
        assert_eq!(
            e.message.as_deref(),
            Some("Not authorized to perform sts:AssumeRoleWithWebIdentity")
        );
    }
}

#[test]
fn assume_role_trust_with_aws_principals() {
    let trust = pol(r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"},
        {"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:user/alice"]},"Action":"sts:AssumeRole"}]}"#);
    let mut set = PolicySet::trust(NamedPolicy::new("trust", trust));
    let id_allow = named(
        "id",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}}"#,
    );
    // Named exactly: no identity policy needed.
    set.identity = vec![named(
        "none",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}}"#,
    )];
    let alice = Request::new(
        Principal::from_arn("arn:aws:iam::111122223333:user/alice"),
        "sts:AssumeRole",
        ROLE,
    );
    assert_eq!(evaluate(&set, &alice).decision, Decision::Allowed);
    // Through the account root: the identity policy must allow.
    let bob = Request::new(
        Principal::from_arn("arn:aws:iam::111122223333:user/bob"),
        "sts:AssumeRole",
        ROLE,
    );
    let e = evaluate(&set, &bob);
    assert_eq!(e.decision, Decision::ImplicitDeny);
    assert!(
        e.message
            .unwrap()
            .ends_with("because no identity-based policy allows the sts:AssumeRole action")
    );
    set.identity.push(id_allow);
    assert_eq!(evaluate(&set, &bob).decision, Decision::Allowed);
    // Another account is not trusted.
    let eve = Request::new(
        Principal::from_arn("arn:aws:iam::444455556666:user/eve"),
        "sts:AssumeRole",
        ROLE,
    );
    let e = evaluate(&set, &eve);
    assert_eq!(
        e.message.as_deref(),
        Some(
            "User: arn:aws:iam::444455556666:user/eve is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111122223333:role/k8s_default_aws-cli because no role trust policy allows the sts:AssumeRole action"
        )
    );
}

#[test]
fn trust_policy_explicit_deny_message() {
    let trust = pol(r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"},
        {"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:user/mallory"},"Action":"sts:*"}]}"#);
    let set = PolicySet::trust(NamedPolicy::new("trust", trust));
    let req = Request::new(
        Principal::from_arn("arn:aws:iam::111122223333:user/mallory"),
        "sts:AssumeRole",
        ROLE,
    );
    let e = evaluate(&set, &req);
    assert_eq!(e.decision, Decision::ExplicitDeny);
    assert!(
        e.message
            .unwrap()
            .ends_with("with an explicit deny in the role trust policy")
    );
}

#[test]
fn resource_policy_same_account_and_cross_account() {
    let bucket = named(
        "bucket-policy",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"Read","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/k8s_default_aws-cli"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::data/*"}]}"#,
    );
    let mut set = PolicySet {
        resource: Some(bucket),
        ..PolicySet::default()
    };
    // Same account (S3 ARNs have no account): the resource policy alone allows the role's sessions.
    let req = Request::new(
        Principal::from_arn(SESSION),
        "s3:GetObject",
        "arn:aws:s3:::data/x",
    );
    let e = evaluate(&set, &req);
    assert_eq!(e.decision, Decision::Allowed);
    assert_eq!(e.matched_statements[0].policy_type, PolicyKind::Resource);
    // ...but a session policy still limits a grant to the role ARN.
    set.session.push(named("s", r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:PutObject","Resource":"*"}}"#));
    assert_eq!(evaluate(&set, &req).decision, Decision::ImplicitDeny);
    set.session.clear();
    // Cross-account: both sides must allow.
    set.mode = Mode::CrossAccount;
    let e = evaluate(&set, &req);
    assert_eq!(e.decision, Decision::ImplicitDeny);
    assert!(
        e.message
            .unwrap()
            .contains("because no identity-based policy allows")
    );
    set.identity.push(named(
        "id",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
    ));
    assert_eq!(evaluate(&set, &req).decision, Decision::Allowed);
    let other = Request::new(
        Principal::from_arn("arn:aws:sts::111122223333:assumed-role/other/s"),
        "s3:GetObject",
        "arn:aws:s3:::data/x",
    );
    let e = evaluate(&set, &other);
    assert!(
        e.message
            .unwrap()
            .ends_with("because no resource-based policy allows the s3:GetObject action")
    );
}

#[test]
fn auto_mode_detects_cross_account_from_resource_arn() {
    let queue = named(
        "queue",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"sqs:SendMessage","Resource":"*"}}"#,
    );
    let set = PolicySet {
        resource: Some(queue),
        ..PolicySet::default()
    };
    let req = Request::new(
        Principal::from_arn("arn:aws:iam::444455556666:user/u"),
        "sqs:SendMessage",
        "arn:aws:sqs:us-east-1:111122223333:q",
    );
    let e = evaluate(&set, &req);
    assert_eq!(
        e.decision,
        Decision::ImplicitDeny,
        "cross-account needs the identity side too"
    );
}

#[test]
fn not_action_not_resource_not_principal() {
    let p = named(
        "p",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"iam:*","NotResource":"arn:aws:s3:::secret/*"}]}"#,
    );
    let set = PolicySet::identity(vec![p]);
    let who = Principal::from_arn(SESSION);
    assert!(
        evaluate(
            &set,
            &Request::new(who.clone(), "s3:GetObject", "arn:aws:s3:::public/x")
        )
        .is_allowed()
    );
    assert!(
        !evaluate(
            &set,
            &Request::new(who.clone(), "s3:GetObject", "arn:aws:s3:::secret/x")
        )
        .is_allowed()
    );
    assert!(!evaluate(&set, &Request::new(who.clone(), "IAM:CreateUser", "*")).is_allowed());

    let r = named(
        "r",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"},{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:role/k8s_default_aws-cli"},"Action":"s3:*","Resource":"*"}]}"#,
    );
    let set = PolicySet {
        resource: Some(r),
        ..PolicySet::default()
    };
    assert!(evaluate(&set, &Request::new(who, "s3:GetObject", "arn:aws:s3:::b/x")).is_allowed());
    let e = evaluate(
        &set,
        &Request::new(
            Principal::from_arn("arn:aws:iam::111122223333:user/x"),
            "s3:GetObject",
            "arn:aws:s3:::b/x",
        ),
    );
    assert_eq!(e.decision, Decision::ExplicitDeny);
    assert!(
        e.message
            .unwrap()
            .ends_with("with an explicit deny in a resource-based policy")
    );
}

#[test]
fn actions_are_case_insensitive_resources_case_sensitive() {
    let set = PolicySet::identity(vec![named(
        "p",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"S3:get*","Resource":"arn:aws:s3:::Bucket/*"}}"#,
    )]);
    let who = Principal::from_arn(SESSION);
    assert!(
        evaluate(
            &set,
            &Request::new(who.clone(), "s3:GetObject", "arn:aws:s3:::Bucket/k")
        )
        .is_allowed()
    );
    assert!(
        !evaluate(
            &set,
            &Request::new(who, "s3:GetObject", "arn:aws:s3:::bucket/k")
        )
        .is_allowed()
    );
}

#[test]
fn policy_variables_in_resources() {
    // AWS documentation example: each user gets a home "folder".
    let set = PolicySet::identity(vec![named(
        "home",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::bucket/home/${aws:username}/*"}}"#,
    )]);
    let who = Principal::from_arn("arn:aws:iam::111122223333:user/bob");
    let ctx = Context::new().with("aws:username", "bob");
    let r = |res: &str| Request::new(who.clone(), "s3:GetObject", res).with_context(ctx.clone());
    assert!(evaluate(&set, &r("arn:aws:s3:::bucket/home/bob/file")).is_allowed());
    assert!(!evaluate(&set, &r("arn:aws:s3:::bucket/home/alice/file")).is_allowed());
    // Without the key the resource matches nothing.
    let bare = Request::new(
        who.clone(),
        "s3:GetObject",
        "arn:aws:s3:::bucket/home//file",
    );
    assert!(!evaluate(&set, &bare).is_allowed());
    // With Version 2008-10-17 the variable is literal text.
    let old = PolicySet::identity(vec![named(
        "old",
        r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::bucket/home/${aws:username}/*"}}"#,
    )]);
    assert!(!evaluate(&old, &r("arn:aws:s3:::bucket/home/bob/file")).is_allowed());
    assert!(evaluate(&old, &r("arn:aws:s3:::bucket/home/${aws:username}/file")).is_allowed());
}

#[test]
fn evaluation_serialises_in_cli_shape() {
    let set = PolicySet::identity(vec![named("s3-prefix", S3_PREFIX)]);
    let e = evaluate(
        &set,
        &Request::new(
            Principal::from_arn(SESSION),
            "s3:ListBucket",
            "arn:aws:s3:::k8s-default-aws-cli-x",
        ),
    );
    let v = serde_json::to_value(&e).unwrap();
    assert_eq!(v["decision"], "allowed");
    assert_eq!(v["matchedStatements"][0]["policy"], "s3-prefix");
    assert_eq!(v["matchedStatements"][0]["statementIndex"], 0);
    assert_eq!(v["matchedStatements"][0]["sid"], "Buckets");
    assert_eq!(v["matchedStatements"][0]["effect"], "Allow");
    assert_eq!(v["matchedStatements"][0]["policyType"], "identity");
    let e = evaluate(
        &set,
        &Request::new(
            Principal::from_arn(SESSION),
            "s3:ListBucket",
            "arn:aws:s3:::x",
        ),
    );
    let v = serde_json::to_value(&e).unwrap();
    assert_eq!(v["decision"], "implicitDeny");
    assert!(v["message"].as_str().unwrap().starts_with("User: "));
    let back: Evaluation = serde_json::from_value(v).unwrap();
    assert_eq!(back, e);
}

#[test]
fn federated_principal_list_and_multi_valued_amr() {
    let trust = pol(r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
        "Principal":{"Federated":["arn:aws:iam::111122223333:oidc-provider/a.example.com","arn:aws:iam::111122223333:oidc-provider/b.example.com"]},
        "Action":["sts:AssumeRoleWithWebIdentity","sts:TagSession"],
        "Condition":{"ForAnyValue:StringEquals":{"b.example.com:amr":"mfa"},"StringLike":{"b.example.com:sub":"system:serviceaccount:ci:*"}}}}"#);
    let set = PolicySet::trust(NamedPolicy::new("trust", trust));
    let req = |amr: &[&str]| {
        Request::new(
            Principal::from_arn("arn:aws:iam::111122223333:oidc-provider/b.example.com"),
            "sts:AssumeRoleWithWebIdentity",
            ROLE,
        )
        .with_context(
            Context::new()
                .with("b.example.com:sub", "system:serviceaccount:ci:runner")
                .with_values("b.example.com:amr", amr.iter().copied()),
        )
    };
    assert!(evaluate(&set, &req(&["pwd", "mfa"])).is_allowed());
    assert!(!evaluate(&set, &req(&["pwd"])).is_allowed());
    assert!(
        !evaluate(&set, &req(&[])).is_allowed(),
        "ForAnyValue on an empty set is false"
    );
    // Session tags need sts:TagSession in the same trust policy: evaluate it as its own request.
    let mut tag = req(&["mfa"]);
    tag.action = "sts:TagSession".into();
    assert!(evaluate(&set, &tag).is_allowed());
}
