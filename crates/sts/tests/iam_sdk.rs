//! The IAM API through the unmodified AWS SDK for Rust (aws-sdk-iam, endpoint override,
//! static admin credentials) against an in-process server on loopback.

mod iam_support;

use aws_sdk_iam::types::{
    ContextEntry, ContextKeyTypeEnum, PolicyEvaluationDecisionType, PolicyScopeType, Tag,
};
use iam_support::*;

const PROVIDER: &str = "oidc.example.com/id/ABC123";

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build().unwrap()
}

#[tokio::test]
async fn oidc_provider_lifecycle() {
    let t = TestServer::start().await;
    let iam = t.iam();
    let created = iam
        .create_open_id_connect_provider()
        .url(format!("https://{PROVIDER}"))
        .client_id_list("sts.amazonaws.com")
        .thumbprint_list("9E99A48A9960B14926BB7F3B02E22DA2B0AB7280")
        .tags(tag("cluster", "dev"))
        .send()
        .await
        .unwrap();
    let arn = created.open_id_connect_provider_arn().unwrap().to_owned();
    assert_eq!(
        arn,
        format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{PROVIDER}")
    );

    let get = || {
        iam.get_open_id_connect_provider()
            .open_id_connect_provider_arn(&arn)
            .send()
    };
    let got = get().await.unwrap();
    assert_eq!(got.url(), Some(PROVIDER));
    assert_eq!(got.client_id_list(), ["sts.amazonaws.com"]);
    assert_eq!(
        got.thumbprint_list(),
        ["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"]
    );
    assert!(got.create_date().is_some());
    assert_eq!(got.tags()[0].key(), "cluster");

    let create = |url: &str| iam.create_open_id_connect_provider().url(url);
    let dup = create(&format!("https://{PROVIDER}"))
        .client_id_list("x")
        .send()
        .await;
    assert_aws_error(
        dup,
        "EntityAlreadyExists",
        &format!("Provider with url https://{PROVIDER} already exists."),
    );

    for bad in [
        "http://oidc.example.com",
        "https://oidc.example.com:8443/x",
        "https://oidc.example.com/?q=1",
    ] {
        let (code, message) = error_of(create(bad).client_id_list("x").send().await);
        assert_eq!(
            (code.as_str(), message.as_str()),
            ("ValidationError", "Invalid Open ID Connect Provider URL"),
            "{bad}"
        );
    }
    let short = create("https://other.example.com")
        .thumbprint_list("short")
        .send()
        .await;
    let message = aws_error_message(short, "ValidationError");
    assert!(
        message.starts_with("1 validation error detected: Value at 'thumbprintList'"),
        "{message}"
    );

    iam.add_client_id_to_open_id_connect_provider()
        .open_id_connect_provider_arn(&arn)
        .client_id("extra")
        .send()
        .await
        .unwrap();
    iam.remove_client_id_from_open_id_connect_provider()
        .open_id_connect_provider_arn(&arn)
        .client_id("sts.amazonaws.com")
        .send()
        .await
        .unwrap();
    iam.update_open_id_connect_provider_thumbprint()
        .open_id_connect_provider_arn(&arn)
        .thumbprint_list("a".repeat(40))
        .thumbprint_list("b".repeat(40))
        .send()
        .await
        .unwrap();
    iam.tag_open_id_connect_provider()
        .open_id_connect_provider_arn(&arn)
        .tags(tag("team", "a"))
        .send()
        .await
        .unwrap();
    iam.untag_open_id_connect_provider()
        .open_id_connect_provider_arn(&arn)
        .tag_keys("cluster")
        .send()
        .await
        .unwrap();
    let tags = iam
        .list_open_id_connect_provider_tags()
        .open_id_connect_provider_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags.tags()
            .iter()
            .map(|t| (t.key(), t.value()))
            .collect::<Vec<_>>(),
        [("team", "a")]
    );
    let got = get().await.unwrap();
    assert_eq!(got.client_id_list(), ["extra"]);
    assert_eq!(got.thumbprint_list().len(), 2);
    // The store lookup STS uses: by issuer host/path, exact.
    assert!(
        t.state
            .store
            .get_oidc_provider_by_url(PROVIDER)
            .unwrap()
            .is_some()
    );
    assert!(
        t.state
            .store
            .get_oidc_provider_by_url(&format!("{PROVIDER}/"))
            .unwrap()
            .is_none()
    );

    let list = iam.list_open_id_connect_providers().send().await.unwrap();
    assert_eq!(list.open_id_connect_provider_list().len(), 1);
    let delete = || {
        iam.delete_open_id_connect_provider()
            .open_id_connect_provider_arn(&arn)
            .send()
    };
    delete().await.unwrap();
    assert_aws_error(
        get().await,
        "NoSuchEntity",
        &format!("OpenIDConnect Provider not found for arn {arn}"),
    );
    assert_aws_error(
        delete().await,
        "NoSuchEntity",
        &format!("OpenId connect Provider {arn} cannot be found."),
    );
    t.stop().await;
}

#[tokio::test]
async fn http_issuers_only_when_allowed() {
    let t = TestServer::with_store(irsa_sts::store::Store::in_memory().unwrap(), true).await;
    let out = t
        .iam()
        .create_open_id_connect_provider()
        .url("http://127.0.0.1:8080")
        .client_id_list("sts.amazonaws.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.open_id_connect_provider_arn(),
        Some("arn:aws:iam::123456789012:oidc-provider/127.0.0.1:8080")
    );
    t.stop().await;
}

#[tokio::test]
async fn roles_and_inline_policies() {
    const ROLE: &str = "k8s_default_aws-cli";
    let t = TestServer::start().await;
    let iam = t.iam();
    let trust = trust_policy(PROVIDER, "default:aws-cli");
    let role = iam
        .create_role()
        .role_name(ROLE)
        .path("/irsa/")
        .assume_role_policy_document(&trust)
        .description("for the aws-cli service account")
        .tags(tag("owner", "me"))
        .send()
        .await
        .unwrap();
    let role = role.role().unwrap();
    assert_eq!(
        role.arn(),
        "arn:aws:iam::123456789012:role/irsa/k8s_default_aws-cli"
    );
    assert!(
        role.role_id().starts_with("AROA") && role.role_id().len() == 21,
        "{}",
        role.role_id()
    );
    assert_eq!(role.max_session_duration(), Some(3600));
    // Documents come back URL-encoded, exactly as IAM sends them.
    let encoded = role.assume_role_policy_document().unwrap();
    assert!(encoded.starts_with("%7B%22Version%22"), "{encoded}");
    let doc = decode_document(encoded);
    assert_eq!(
        doc,
        serde_json::from_str::<serde_json::Value>(&trust).unwrap()
    );

    let create = |name: &str, trust: &str| {
        iam.create_role()
            .role_name(name)
            .assume_role_policy_document(trust)
            .send()
    };
    assert_aws_error(
        create("K8S_DEFAULT_AWS-CLI", &trust).await,
        "EntityAlreadyExists",
        "Role with name K8S_DEFAULT_AWS-CLI already exists.",
    );
    let message = aws_error_message(
        create(
            "bad",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole","Resource":"*"}]}"#,
        )
        .await,
        "MalformedPolicyDocument",
    );
    assert!(
        message.contains("Has prohibited field Resource"),
        "{message}"
    );
    assert_aws_error(
        create("bad:name", &trust).await,
        "ValidationError",
        "1 validation error detected: Value 'bad:name' at 'roleName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+",
    );

    let max_session = |seconds| {
        iam.update_role()
            .role_name(ROLE)
            .max_session_duration(seconds)
            .send()
    };
    assert_aws_error(
        max_session(100).await,
        "ValidationError",
        "1 validation error detected: Value '100' at 'maxSessionDuration' failed to satisfy constraint: Member must have value greater than or equal to 3600",
    );
    max_session(7200).await.unwrap();
    let new_trust = trust_policy(PROVIDER, "default:other");
    iam.update_assume_role_policy()
        .role_name(ROLE)
        .policy_document(&new_trust)
        .send()
        .await
        .unwrap();
    iam.tag_role()
        .role_name(ROLE)
        .tags(tag("env", "test"))
        .send()
        .await
        .unwrap();
    iam.untag_role()
        .role_name(ROLE)
        .tag_keys("owner")
        .send()
        .await
        .unwrap();
    let tags = iam.list_role_tags().role_name(ROLE).send().await.unwrap();
    assert_eq!(
        tags.tags().iter().map(|t| t.key()).collect::<Vec<_>>(),
        ["env"]
    );
    let get = || iam.get_role().role_name(ROLE).send();
    let got = get().await.unwrap();
    let got = got.role().unwrap();
    assert_eq!(got.max_session_duration(), Some(7200));
    assert_eq!(
        decode_document(got.assume_role_policy_document().unwrap())["Statement"][0]["Condition"]["StringEquals"]
            [format!("{PROVIDER}:sub")],
        "system:serviceaccount:default:other"
    );

    put_role_policy(&iam, ROLE, "s3", S3_PREFIX_POLICY).await;
    let get_policy = || {
        iam.get_role_policy()
            .role_name(ROLE)
            .policy_name("s3")
            .send()
    };
    let p = get_policy().await.unwrap();
    assert_eq!(
        decode_document(p.policy_document()),
        serde_json::from_str::<serde_json::Value>(S3_PREFIX_POLICY).unwrap()
    );
    let names = iam
        .list_role_policies()
        .role_name(ROLE)
        .send()
        .await
        .unwrap();
    assert_eq!(names.policy_names(), ["s3"]);
    let bad = iam
        .put_role_policy()
        .role_name(ROLE)
        .policy_name("bad")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject"}]}"#,
        )
        .send()
        .await;
    aws_error_message(bad, "MalformedPolicyDocument");

    let delete = || iam.delete_role().role_name(ROLE).send();
    assert_aws_error(
        delete().await,
        "DeleteConflict",
        "Cannot delete entity, must delete policies first.",
    );
    let roles = iam.list_roles().path_prefix("/irsa/").send().await.unwrap();
    assert_eq!(roles.roles().len(), 1);
    delete_role_policy(&iam, ROLE, "s3").await;
    assert_aws_error(
        get_policy().await,
        "NoSuchEntity",
        "The role policy with name s3 cannot be found.",
    );
    delete().await.unwrap();
    assert_aws_error(
        get().await,
        "NoSuchEntity",
        "The role with name k8s_default_aws-cli cannot be found.",
    );
    t.stop().await;
}

#[tokio::test]
async fn managed_policies_and_attachments() {
    let t = TestServer::start().await;
    let iam = t.iam();
    create_role(&iam, "app", &trust_policy(PROVIDER, "default:app")).await;
    let create = || {
        iam.create_policy()
            .policy_name("s3-prefix")
            .policy_document(S3_PREFIX_POLICY)
            .send()
    };
    let created = create().await.unwrap();
    let policy = created.policy().unwrap();
    let arn = policy.arn().unwrap().to_owned();
    assert_eq!(arn, "arn:aws:iam::123456789012:policy/s3-prefix");
    assert_eq!(policy.default_version_id(), Some("v1"));
    assert_aws_error(
        create().await,
        "EntityAlreadyExists",
        "A policy called s3-prefix already exists. Duplicate names are not allowed.",
    );

    let v2 = S3_PREFIX_POLICY.replace("s3:PutObject", "s3:DeleteObject");
    let out = iam
        .create_policy_version()
        .policy_arn(&arn)
        .policy_document(&v2)
        .set_as_default(true)
        .send()
        .await
        .unwrap();
    assert_eq!(out.policy_version().unwrap().version_id(), Some("v2"));
    let get_version = |arn: &str, version: &str| {
        iam.get_policy_version()
            .policy_arn(arn)
            .version_id(version)
            .send()
    };
    let got = get_version(&arn, "v2").await.unwrap();
    let version = got.policy_version().unwrap();
    assert!(version.is_default_version());
    assert_eq!(
        decode_document(version.document().unwrap()),
        serde_json::from_str::<serde_json::Value>(&v2).unwrap()
    );
    let got = iam.get_policy().policy_arn(&arn).send().await.unwrap();
    assert_eq!(got.policy().unwrap().default_version_id(), Some("v2"));

    let aws_arn = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess";
    attach_role_policy(&iam, "app", &arn).await;
    attach_role_policy(&iam, "app", aws_arn).await;
    let missing = iam
        .attach_role_policy()
        .role_name("app")
        .policy_arn("arn:aws:iam::aws:policy/NoSuchThing")
        .send()
        .await;
    assert_aws_error(
        missing,
        "NoSuchEntity",
        "Policy arn:aws:iam::aws:policy/NoSuchThing does not exist or is not attachable.",
    );
    let attached = iam
        .list_attached_role_policies()
        .role_name("app")
        .send()
        .await
        .unwrap();
    let names: Vec<_> = attached
        .attached_policies()
        .iter()
        .map(|p| p.policy_name().unwrap())
        .collect();
    assert_eq!(names, ["s3-prefix", "AmazonS3ReadOnlyAccess"]);

    let list = |scope| iam.list_policies().scope(scope).send();
    let aws_only = list(PolicyScopeType::Aws).await.unwrap();
    let aws_names: Vec<_> = aws_only
        .policies()
        .iter()
        .map(|p| p.policy_name().unwrap())
        .collect();
    for n in [
        "AmazonS3ReadOnlyAccess",
        "AmazonS3FullAccess",
        "AmazonDynamoDBFullAccess",
        "ReadOnlyAccess",
    ] {
        assert!(aws_names.contains(&n), "{n} missing from {aws_names:?}");
    }
    let local = list(PolicyScopeType::Local).await.unwrap();
    assert_eq!(local.policies().len(), 1);
    assert_eq!(local.policies()[0].attachment_count(), Some(1));
    let aws_doc = get_version(aws_arn, "v1").await.unwrap();
    let doc = decode_document(aws_doc.policy_version().unwrap().document().unwrap());
    assert_eq!(doc["Statement"][0]["Action"][0], "s3:Get*");

    // The identity policies STS and auth evaluate: inline + attached default versions.
    let role = t.state.store.get_role_by_name("app").unwrap().unwrap();
    let policies = t.state.store.role_policies(&role).unwrap();
    assert_eq!(policies.len(), 2);
    assert_eq!(policies[0].1, v2);

    let delete_policy = || iam.delete_policy().policy_arn(&arn).send();
    let delete_role = || iam.delete_role().role_name("app").send();
    assert_aws_error(
        delete_policy().await,
        "DeleteConflict",
        "Cannot delete a policy attached to entities.",
    );
    assert_aws_error(
        delete_role().await,
        "DeleteConflict",
        "Cannot delete entity, must detach all policies first.",
    );
    detach_role_policy(&iam, "app", &arn).await;
    detach_role_policy(&iam, "app", aws_arn).await;
    let message = aws_error_message(delete_policy().await, "DeleteConflict");
    assert!(
        message.starts_with("This policy has more than one version."),
        "{message}"
    );
    iam.delete_policy_version()
        .policy_arn(&arn)
        .version_id("v1")
        .send()
        .await
        .unwrap();
    delete_policy().await.unwrap();
    delete_role().await.unwrap();
    t.stop().await;
}

#[tokio::test]
async fn simulate_principal_and_custom_policy() {
    let t = TestServer::start().await;
    let iam = t.iam();
    let role = "k8s_default_aws-cli";
    let role_arn = create_role(&iam, role, &trust_policy(PROVIDER, "default:aws-cli"))
        .await
        .arn;
    put_role_policy(&iam, role, "s3", S3_PREFIX_POLICY).await;
    let out = iam
        .simulate_principal_policy()
        .policy_source_arn(&role_arn)
        .action_names("s3:CreateBucket")
        .resource_arns("arn:aws:s3:::k8s-default-aws-cli-demo")
        .resource_arns("arn:aws:s3:::k9s-default-aws-cli-demo")
        .send()
        .await
        .unwrap();
    let results = out.evaluation_results();
    assert_eq!(results.len(), 2);
    assert_eq!(
        results[0].eval_resource_name(),
        Some("arn:aws:s3:::k8s-default-aws-cli-demo")
    );
    assert_eq!(
        results[0].eval_decision(),
        &PolicyEvaluationDecisionType::Allowed
    );
    let matched = &results[0].matched_statements()[0];
    assert_eq!(matched.source_policy_id(), Some("s3"));
    assert_eq!(
        matched.source_policy_type().map(|t| t.as_str()),
        Some("role")
    );
    assert_eq!(
        results[1].eval_decision(),
        &PolicyEvaluationDecisionType::ImplicitDeny
    );
    assert!(results[1].matched_statements().is_empty());

    let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"aws:RequestedRegion":"eu-west-1"}}}]}"#;
    let out = iam
        .simulate_custom_policy()
        .policy_input_list(S3_PREFIX_POLICY)
        .policy_input_list(deny)
        .action_names("s3:CreateBucket")
        .resource_arns("arn:aws:s3:::k8s-default-aws-cli-demo")
        .context_entries(
            ContextEntry::builder()
                .context_key_name("aws:RequestedRegion")
                .context_key_values("eu-west-1")
                .context_key_type(ContextKeyTypeEnum::String)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let r = &out.evaluation_results()[0];
    assert_eq!(
        r.eval_decision(),
        &PolicyEvaluationDecisionType::ExplicitDeny
    );
    assert_eq!(
        r.matched_statements()[0].source_policy_id(),
        Some("PolicyInputList.2")
    );

    let unknown = iam
        .simulate_principal_policy()
        .policy_source_arn("arn:aws:iam::123456789012:role/nope")
        .action_names("s3:GetObject")
        .send()
        .await;
    assert_aws_error(
        unknown,
        "NoSuchEntity",
        "The role with name nope cannot be found.",
    );
    t.stop().await;
}

#[tokio::test]
async fn lists_paginate_with_markers() {
    let t = TestServer::start().await;
    let iam = t.iam();
    for i in 0..5 {
        create_role(
            &iam,
            &format!("role-{i}"),
            &trust_policy(PROVIDER, "default:x"),
        )
        .await;
    }
    let first = iam.list_roles().max_items(2).send().await.unwrap();
    assert_eq!(first.roles().len(), 2);
    assert!(first.is_truncated());
    let marker = first.marker().unwrap().to_owned();
    let second = iam
        .list_roles()
        .max_items(2)
        .marker(&marker)
        .send()
        .await
        .unwrap();
    assert_eq!(second.roles()[0].role_name(), "role-2");
    // The SDK's own paginator follows the markers to the end.
    let all: Vec<_> = iam
        .list_roles()
        .max_items(2)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    let names: Vec<_> = all.iter().map(|r| r.role_name().to_owned()).collect();
    assert_eq!(names, ["role-0", "role-1", "role-2", "role-3", "role-4"]);
    aws_error_message(
        iam.list_roles().marker("garbage").send().await,
        "ValidationError",
    );
    t.stop().await;
}

#[tokio::test]
async fn permissions_boundaries_limit_what_the_role_is_allowed() {
    let t = TestServer::start().await;
    let iam = t.iam();
    let arn = create_role(&iam, "bounded", &trust_policy(PROVIDER, "default:b"))
        .await
        .arn;
    let full = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
    put_role_policy(&iam, "bounded", "all-s3", full).await;
    let put_boundary = |boundary| {
        iam.put_role_permissions_boundary()
            .role_name("bounded")
            .permissions_boundary(boundary)
            .send()
    };
    aws_error_message(
        put_boundary("arn:aws:iam::aws:policy/Nope").await,
        "NoSuchEntity",
    );
    let boundary = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess";
    put_boundary(boundary).await.unwrap();
    let got = iam.get_role().role_name("bounded").send().await.unwrap();
    let pb = got.role().unwrap().permissions_boundary().unwrap();
    assert_eq!(pb.permissions_boundary_arn(), Some(boundary));

    let simulate = |action: &'static str| {
        iam.simulate_principal_policy()
            .policy_source_arn(&arn)
            .action_names(action)
            .resource_arns("arn:aws:s3:::bucket")
            .send()
    };
    let read = simulate("s3:GetObject").await.unwrap();
    assert_eq!(
        read.evaluation_results()[0].eval_decision(),
        &PolicyEvaluationDecisionType::Allowed
    );
    let write = simulate("s3:PutObject").await.unwrap();
    let r = &write.evaluation_results()[0];
    assert_eq!(
        r.eval_decision(),
        &PolicyEvaluationDecisionType::ImplicitDeny
    );
    let detail = r.permissions_boundary_decision_detail().unwrap();
    assert!(!detail.allowed_by_permissions_boundary());

    iam.delete_role_permissions_boundary()
        .role_name("bounded")
        .send()
        .await
        .unwrap();
    let write = simulate("s3:PutObject").await.unwrap();
    assert_eq!(
        write.evaluation_results()[0].eval_decision(),
        &PolicyEvaluationDecisionType::Allowed
    );
    t.stop().await;
}
