use super::*;

fn err(json: &str, kind: Option<PolicyKind>) -> PolicyError {
    let r = match kind {
        Some(k) => Policy::parse_as(json, k),
        None => Policy::parse(json),
    };
    match r {
        Ok(_) => panic!("expected an error for {json}"),
        Err(e) => e,
    }
}

fn msg(json: &str) -> String {
    err(json, Some(PolicyKind::Identity)).message().to_string()
}

const OK_STATEMENT: &str = r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}"#;

fn doc(stmt: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":{stmt}}}"#)
}

#[test]
fn valid_documents() {
    for d in [
        doc(OK_STATEMENT),
        doc(&format!("[{OK_STATEMENT}]")),
        doc(
            r#"{"Sid":"A1","Effect":"Deny","NotAction":["iam:*","sts:*"],"NotResource":"arn:aws:iam::123456789012:role/x"}"#,
        ),
        doc(
            r#"{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":true},"NumericLessThan":{"aws:MultiFactorAuthAge":3600}}}"#,
        ),
        doc(
            r#"{"Effect":"Allow","Action":"ec2:*","Resource":"arn:aws:ec2:*:*:instance/*","Condition":{"ForAnyValue:StringEqualsIgnoreCaseIfExists":{"aws:TagKeys":["a","b"]}}}"#,
        ),
        doc(
            r#"{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2019-07-16T12:00:00Z"},"DateLessThan":{"aws:CurrentTime":"2019-07-16T15:00:00Z"}}}"#,
        ),
        doc(
            r#"{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":["192.0.2.0/24","203.0.113.0/24","2001:DB8:1234:5678::/64"]}}}"#,
        ),
    ] {
        let p = Policy::parse_as(&d, PolicyKind::Identity)
            .unwrap_or_else(|e| panic!("{d}: {e} {}", e.detail()));
        assert!(p.statement_count() >= 1);
    }
}

#[test]
fn syntax_errors_have_positions() {
    let e = err(
        "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\"Effect\": \"Allow\", \"Action\": \"s3:*\", \"Resource\": \"*\",}\n  ]\n}",
        None,
    );
    assert_eq!(e.message(), "Syntax errors in policy.");
    assert_eq!(e.line(), 4);
    let e = err(
        "{\"Version\":\"2012-10-17\",\n\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"s3:*\",\n  \"Action\":\"s3:Get*\",\"Resource\":\"*\"}}",
        None,
    );
    assert_eq!(e.message(), "Syntax errors in policy.");
    assert!(
        e.detail().contains("duplicate key \"Action\""),
        "{}",
        e.detail()
    );
    assert_eq!((e.line(), e.column()), (3, 3));
}

#[test]
fn moto_message_catalogue() {
    // Syntax errors (unknown elements, wrong types, both X and NotX, ...).
    for d in [
        "[]".to_string(),
        r#"{"Version":"2012-10-17"}"#.to_string(),
        r#"{"Version":"2012-10-17","Statement":[]}"#.to_string(),
        r#"{"Version":"2012-10-17","Statement":"x"}"#.to_string(),
        r#"{"Version":"2012-10-17","Statement":[1]}"#.to_string(),
        r#"{"Version":"2012-10-17","Extra":1,"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#.to_string(),
        r#"{"Version":"2012-10-18","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#.to_string(),
        doc(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*","Extra":1}"#),
        doc(r#"{"Action":"s3:*","Resource":"*"}"#),
        doc(r#"{"Effect":"Maybe","Action":"s3:*","Resource":"*"}"#),
        doc(r#"{"Effect":"Allow","Action":"s3:*","NotAction":"s3:x","Resource":"*"}"#),
        doc(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*","NotResource":"*"}"#),
        doc(r#"{"Effect":"Allow","Action":[1],"Resource":"*"}"#),
        doc(r#"{"Effect":"Allow","Action":"s3:*","Resource":{"a":1}}"#),
        doc(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEqualz":{"a:b":"c"}}}"#),
        doc(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":"x"}}"#),
        doc(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"a:b":{"c":1}}}}"#),
        doc(r#"{"Sid":1,"Effect":"Allow","Action":"s3:*","Resource":"*"}"#),
    ] {
        assert_eq!(msg(&d), "Syntax errors in policy.", "{d}");
    }
    assert_eq!(
        msg(r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#),
        "Policy document must be version 2012-10-17 or greater."
    );
    assert_eq!(
        msg(
            r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#
        ),
        "Policy document must be version 2012-10-17 or greater."
    );
    assert_eq!(
        msg(&doc(r#"{"Effect":"allow","Action":"s3:*","Resource":"*"}"#)),
        "The policy failed legacy parsing"
    );
    assert_eq!(
        msg(&doc(
            r#"{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2019-13-01"}}}"#
        )),
        "The policy failed legacy parsing"
    );
    assert_eq!(
        msg(&doc(
            r#"[{"Sid":"A","Effect":"Allow","Action":"s3:*","Resource":"*"},{"Sid":"A","Effect":"Deny","Action":"s3:*","Resource":"*"}]"#
        )),
        "Statement IDs (SID) in a single policy must be unique."
    );
    assert_eq!(
        msg(&doc(r#"{"Effect":"Allow","Resource":"*"}"#)),
        "Policy statement must contain actions."
    );
    assert_eq!(
        msg(&doc(r#"{"Effect":"Allow","Action":[],"Resource":"*"}"#)),
        "Policy statement must contain actions."
    );
    assert_eq!(
        msg(&doc(r#"{"Effect":"Allow","Action":"s3:*"}"#)),
        "Policy statement must contain resources."
    );
    assert_eq!(
        msg(&doc(
            r#"{"Effect":"Allow","Action":"invalid","Resource":"*"}"#
        )),
        "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
    );
    assert_eq!(
        msg(&doc(
            r#"{"Effect":"Allow","Action":"s3:List:Bucket","Resource":"*"}"#
        )),
        "Actions/Condition can contain only one colon."
    );
    assert_eq!(
        msg(&doc(
            r#"{"Effect":"Allow","Action":"a a:GetObject","Resource":"*"}"#
        )),
        "Vendor a a is not valid"
    );
    assert_eq!(
        msg(&doc(
            r#"{"Effect":"Allow","Action":"s3:*","Resource":"invalid resource"}"#
        )),
        "Resource invalid resource must be in ARN format or \"*\"."
    );
    assert_eq!(
        msg(&doc(
            r#"{"Effect":"Allow","Action":"s3:*","Resource":"arn:invalid:s3:::example_bucket"}"#
        )),
        "Partition \"invalid\" is not valid for resource \"arn:invalid:s3:::example_bucket\"."
    );
    assert_eq!(
        msg(&doc(
            r#"{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:*:::example_bucket"}"#
        )),
        "Resource vendor must be fully qualified and cannot contain regexes."
    );
    assert_eq!(
        msg(&doc(
            r#"{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:iam:us-east-1::example_bucket"}"#
        )),
        "IAM resource arn:aws:iam:us-east-1::example_bucket cannot contain region information."
    );
    assert_eq!(
        msg(&doc(
            r#"{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:us-east-1::example_bucket"}"#
        )),
        "Resource arn:aws:s3:us-east-1::example_bucket can not contain region information."
    );
    assert_eq!(
        msg(&doc(
            r#"{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:iam::123456789012:bucket"}"#
        )),
        m::IAM_PATH
    );
    assert_eq!(
        msg(&doc(
            r#"{"Sid":"has space","Effect":"Allow","Action":"s3:*","Resource":"*"}"#
        )),
        m::SID_ALNUM
    );
}

#[test]
fn kind_specific_rules() {
    let trust_with_resource = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole","Resource":"*"}}"#;
    assert_eq!(
        err(trust_with_resource, Some(PolicyKind::Trust)).message(),
        "Has prohibited field Resource"
    );
    assert!(Policy::parse(trust_with_resource).is_ok());
    let identity_with_principal = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}}"#;
    assert_eq!(
        err(identity_with_principal, Some(PolicyKind::Identity)).message(),
        "Policy document should not specify a principal."
    );
    assert!(Policy::parse_as(identity_with_principal, PolicyKind::Resource).is_ok());
    let no_principal =
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:AssumeRole"}}"#;
    assert_eq!(
        err(no_principal, Some(PolicyKind::Trust)).message(),
        "Missing required field Principal"
    );
    let bad_fed = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Federated":"not a provider"},"Action":"sts:AssumeRoleWithWebIdentity"}}"#;
    assert_eq!(
        err(bad_fed, Some(PolicyKind::Trust)).message(),
        m::FEDERATED
    );
    // Trust policies may use the legacy version and Sids with spaces.
    let old = r#"{"Version":"2008-10-17","Statement":{"Sid":"a b","Effect":"Allow","Principal":{"Service":["ec2.amazonaws.com"]},"Action":"sts:AssumeRole"}}"#;
    assert!(Policy::parse_as(old, PolicyKind::Trust).is_ok());
}

#[test]
fn validate_lists_every_error_and_irsa_warnings() {
    let d = "{\n \"Version\": \"2012-10-17\",\n \"Statement\": [\n  {\"Effect\": \"allow\", \"Action\": \"s3\", \"Resource\": \"*\"},\n  {\"Effect\": \"Allow\", \"Action\": \"s3:*\", \"Resource\": \"bucket\"}\n ]\n}";
    let f = validate_as(d, PolicyKind::Identity);
    let errors: Vec<(&str, usize)> = f
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| (f.message.as_str(), f.line))
        .collect();
    assert_eq!(errors.len(), 3, "{f:#?}");
    assert!(errors.contains(&("The policy failed legacy parsing", 4)));
    assert!(errors.contains(&(m::ACTION_VENDOR, 4)));
    assert!(errors.contains(&("Resource bucket must be in ARN format or \"*\".", 5)));
    // IAM reports legacy parsing before the action prefix.
    assert_eq!(
        err(d, Some(PolicyKind::Identity)).message(),
        "The policy failed legacy parsing"
    );

    let open_trust = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::111122223333:oidc-provider/oidc.example.com"},"Action":"sts:AssumeRoleWithWebIdentity"}}"#;
    let f = validate_as(open_trust, PolicyKind::Trust);
    assert!(f.iter().all(|f| f.severity == Severity::Warning));
    let msgs: Vec<&str> = f.iter().map(|f| f.message.as_str()).collect();
    assert!(
        msgs.contains(&"Trust policy does not restrict the subject"),
        "{msgs:?}"
    );
    assert!(
        msgs.contains(&"Trust policy does not restrict the audience"),
        "{msgs:?}"
    );

    let wildcard = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::111122223333:oidc-provider/oidc.example.com"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringLike":{"oidc.example.com:sub":"system:serviceaccount:*","oidc.example.com:aud":"sts.amazonaws.com"}}}}"#;
    let f = validate_as(wildcard, PolicyKind::Trust);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].message, "Trust policy subject is a wildcard");

    let vars_old = r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:username}"}}"#;
    let f = validate(vars_old);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Warning);
}

#[test]
fn eksctl_trust_policy_is_valid_and_clean() {
    let d = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"},
      "Action": ["sts:AssumeRoleWithWebIdentity"],
      "Condition": {
        "StringEquals": {
          "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:sub": "system:serviceaccount:default:my-service-account",
          "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:aud": "sts.amazonaws.com"
        }
      }
    }
  ]
}"#;
    assert_eq!(validate_as(d, PolicyKind::Trust), vec![]);
}
