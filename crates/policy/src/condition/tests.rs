use super::*;

fn cond(op: &str, key: &str, vals: &[&str]) -> Condition {
    let op = Operator::parse(op).unwrap_or_else(|| panic!("unknown operator {op}"));
    let raw: Vec<String> = vals.iter().map(|s| s.to_string()).collect();
    Condition {
        op,
        key: key.to_ascii_lowercase(),
        values: compile_values(&op, &raw, true).unwrap(),
    }
}

fn holds(op: &str, key: &str, vals: &[&str], ctx: &Context) -> bool {
    cond(op, key, vals).holds(ctx)
}

fn one(key: &str, v: &str) -> Context {
    Context::new().with(key, v)
}

fn many(key: &str, v: &[&str]) -> Context {
    Context::new().with_values(key, v.iter().copied())
}

#[test]
fn operator_names() {
    let o = Operator::parse("ForAnyValue:StringNotLikeIfExists").unwrap();
    assert_eq!(
        (o.kind, o.negated, o.if_exists, o.set),
        (
            OperatorKind::StringLike,
            true,
            true,
            Some(SetQualifier::ForAnyValue)
        )
    );
    assert!(Operator::parse("NullIfExists").is_none());
    assert!(
        Operator::parse("stringequals").is_none(),
        "operators are case-sensitive"
    );
    assert!(Operator::parse("ForSomeValues:StringEquals").is_none());
    assert_eq!(
        Operator::parse("ArnEquals").unwrap().kind,
        Operator::parse("ArnLike").unwrap().kind
    );
}

#[test]
fn string_operators() {
    let c = one("aws:PrincipalTag/job-category", "iamuser-admin");
    assert!(holds(
        "StringEquals",
        "aws:PrincipalTag/job-category",
        &["iamuser-admin"],
        &c
    ));
    assert!(
        holds(
            "StringEquals",
            "AWS:PRINCIPALTAG/JOB-CATEGORY",
            &["iamuser-admin"],
            &c
        ),
        "keys are case-insensitive"
    );
    assert!(!holds(
        "StringEquals",
        "aws:PrincipalTag/job-category",
        &["IAMUSER-ADMIN"],
        &c
    ));
    assert!(holds(
        "StringEqualsIgnoreCase",
        "aws:PrincipalTag/job-category",
        &["IAMUser-Admin"],
        &c
    ));
    assert!(holds(
        "StringLike",
        "aws:PrincipalTag/job-category",
        &["iamuser-*"],
        &c
    ));
    assert!(holds(
        "StringLike",
        "aws:PrincipalTag/job-category",
        &["iamuser-?dmin"],
        &c
    ));
    assert!(!holds(
        "StringLike",
        "aws:PrincipalTag/job-category",
        &["IAMUSER-*"],
        &c
    ));
    // Several values are OR-ed; negated operators need no value to match.
    assert!(holds(
        "StringEquals",
        "aws:PrincipalTag/job-category",
        &["x", "iamuser-admin"],
        &c
    ));
    assert!(!holds(
        "StringNotEquals",
        "aws:PrincipalTag/job-category",
        &["x", "iamuser-admin"],
        &c
    ));
    assert!(holds(
        "StringNotEquals",
        "aws:PrincipalTag/job-category",
        &["x", "y"],
        &c
    ));
    assert!(holds(
        "StringNotLike",
        "aws:PrincipalTag/job-category",
        &["x*"],
        &c
    ));
    assert!(holds(
        "StringNotEqualsIgnoreCase",
        "aws:PrincipalTag/job-category",
        &["X"],
        &c
    ));
}

#[test]
fn missing_keys() {
    let empty = Context::new();
    assert!(!holds("StringEquals", "aws:x", &["a"], &empty));
    assert!(
        holds("StringNotEquals", "aws:x", &["a"], &empty),
        "negated operators match a missing key"
    );
    assert!(holds("StringEqualsIfExists", "aws:x", &["a"], &empty));
    assert!(!holds(
        "StringEqualsIfExists",
        "aws:x",
        &["a"],
        &one("aws:x", "b")
    ));
    assert!(holds("NumericLessThanIfExists", "aws:x", &["1"], &empty));
    assert!(!holds("IpAddress", "aws:SourceIp", &["10.0.0.0/8"], &empty));
    assert!(holds(
        "NotIpAddress",
        "aws:SourceIp",
        &["10.0.0.0/8"],
        &empty
    ));
}

#[test]
fn null_operator() {
    // AWS docs: {"Null": {"aws:TokenIssueTime": "true"}} matches requests made with long-term credentials.
    let empty = Context::new();
    let temp = one("aws:TokenIssueTime", "2024-01-01T00:00:00Z");
    assert!(holds("Null", "aws:TokenIssueTime", &["true"], &empty));
    assert!(!holds("Null", "aws:TokenIssueTime", &["true"], &temp));
    assert!(holds("Null", "aws:TokenIssueTime", &["false"], &temp));
    assert!(!holds("Null", "aws:TokenIssueTime", &["false"], &empty));
    assert!(
        holds("Null", "aws:TagKeys", &["true"], &many("aws:TagKeys", &[])),
        "an empty set counts as absent"
    );
}

#[test]
fn numeric_operators() {
    // AWS docs: {"NumericLessThanEquals": {"s3:max-keys": "10"}}.
    let c = one("s3:max-keys", "10");
    assert!(holds("NumericLessThanEquals", "s3:max-keys", &["10"], &c));
    assert!(!holds("NumericLessThan", "s3:max-keys", &["10"], &c));
    assert!(holds("NumericGreaterThan", "s3:max-keys", &["9.5"], &c));
    assert!(holds(
        "NumericGreaterThanEquals",
        "s3:max-keys",
        &["10.0"],
        &c
    ));
    assert!(holds("NumericEquals", "s3:max-keys", &["1e1"], &c));
    assert!(holds("NumericNotEquals", "s3:max-keys", &["11", "12"], &c));
    assert!(!holds("NumericNotEquals", "s3:max-keys", &["11", "10"], &c));
    assert!(!holds(
        "NumericEquals",
        "s3:max-keys",
        &["10"],
        &one("s3:max-keys", "ten")
    ));
    let bad = compile_values(
        &Operator::parse("NumericEquals").unwrap(),
        &["ten".to_string()],
        true,
    );
    assert!(bad.is_err());
}

#[test]
fn date_operators() {
    // AWS docs: access only between two times on 2019-07-16.
    let inside = one("aws:CurrentTime", "2019-07-16T13:00:00Z");
    let outside = one("aws:CurrentTime", "2019-07-16T16:00:00Z");
    for (c, want) in [(&inside, true), (&outside, false)] {
        let ok = holds(
            "DateGreaterThan",
            "aws:CurrentTime",
            &["2019-07-16T12:00:00Z"],
            c,
        ) && holds(
            "DateLessThan",
            "aws:CurrentTime",
            &["2019-07-16T15:00:00Z"],
            c,
        );
        assert_eq!(ok, want);
    }
    // Epoch seconds and offsets compare with ISO dates.
    assert!(holds(
        "DateEquals",
        "aws:EpochTime",
        &["2019-07-16T13:00:00Z"],
        &one("aws:EpochTime", "1563282000")
    ));
    assert!(holds(
        "DateEquals",
        "aws:CurrentTime",
        &["2019-07-16T15:00:00+02:00"],
        &inside
    ));
    assert!(holds(
        "DateLessThanEquals",
        "aws:CurrentTime",
        &["2019-07-16"],
        &one("aws:CurrentTime", "2019-07-16")
    ));
    assert!(holds(
        "DateGreaterThanEquals",
        "aws:CurrentTime",
        &["2019-07-16T13:00:00.000Z"],
        &inside
    ));
    assert!(holds(
        "DateNotEquals",
        "aws:CurrentTime",
        &["2019-07-16T13:00:01Z"],
        &inside
    ));
    assert_eq!(parse_date("1970-01-01T00:00:01Z"), Some(1_000_000_000));
    assert_eq!(parse_date("1970-01-01T01:00:00+01:00"), Some(0));
    assert_eq!(parse_date("1970-01-01T00:00:00.5Z"), Some(500_000_000));
    for bad in [
        "2019-13-01",
        "2019-02-30",
        "2019-07-16T25:00:00Z",
        "yesterday",
        "2019-07-16T12:00:00+24:00",
        "",
        "2019-07-16T12:00:00+a€",
        "2019-07-16T1€",
        "2019-07-16T12:00:00.€",
    ] {
        assert_eq!(parse_date(bad), None, "{bad}");
    }
}

#[test]
fn bool_binary_ip_arn() {
    // AWS docs: deny when aws:SecureTransport is false.
    assert!(holds(
        "Bool",
        "aws:SecureTransport",
        &["false"],
        &one("aws:SecureTransport", "false")
    ));
    assert!(holds(
        "Bool",
        "aws:SecureTransport",
        &["true"],
        &one("aws:SecureTransport", "TRUE")
    ));
    assert!(!holds(
        "Bool",
        "aws:SecureTransport",
        &["true"],
        &one("aws:SecureTransport", "false")
    ));
    // AWS docs: {"BinaryEquals": {"key": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}.
    assert!(holds(
        "BinaryEquals",
        "key",
        &["QmluYXJ5VmFsdWVJbkJhc2U2NA=="],
        &one("key", "QmluYXJ5VmFsdWVJbkJhc2U2NA==")
    ));
    assert!(!holds(
        "BinaryEquals",
        "key",
        &["QmluYXJ5VmFsdWVJbkJhc2U2NA=="],
        &one("key", "AAAA")
    ));
    // AWS docs: {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}} and IPv6.
    let ips = ["203.0.113.0/24", "2001:DB8:1234:5678::/64"];
    assert!(holds(
        "IpAddress",
        "aws:SourceIp",
        &ips,
        &one("aws:SourceIp", "203.0.113.7")
    ));
    assert!(holds(
        "IpAddress",
        "aws:SourceIp",
        &ips,
        &one("aws:SourceIp", "2001:db8:1234:5678::1")
    ));
    assert!(!holds(
        "IpAddress",
        "aws:SourceIp",
        &ips,
        &one("aws:SourceIp", "198.51.100.1")
    ));
    assert!(holds(
        "NotIpAddress",
        "aws:SourceIp",
        &ips,
        &one("aws:SourceIp", "198.51.100.1")
    ));
    assert!(
        holds(
            "IpAddress",
            "aws:SourceIp",
            &["198.51.100.1"],
            &one("aws:SourceIp", "198.51.100.1")
        ),
        "bare IP = /32"
    );
    assert!(!holds(
        "IpAddress",
        "aws:SourceIp",
        &["10.0.0.0/8"],
        &one("aws:SourceIp", "not-an-ip")
    ));
    // AWS docs: {"ArnLike": {"aws:SourceArn": "arn:aws:sns:REGION:123456789012:TOPIC-ID"}}.
    let c = one(
        "aws:SourceArn",
        "arn:aws:sns:us-east-1:123456789012:my-topic",
    );
    assert!(holds(
        "ArnLike",
        "aws:SourceArn",
        &["arn:aws:sns:*:123456789012:my-topic"],
        &c
    ));
    assert!(holds(
        "ArnEquals",
        "aws:SourceArn",
        &["arn:aws:sns:us-east-1:123456789012:my-topic"],
        &c
    ));
    assert!(!holds(
        "ArnLike",
        "aws:SourceArn",
        &["arn:aws:sns:*:111122223333:*"],
        &c
    ));
    assert!(holds(
        "ArnNotLike",
        "aws:SourceArn",
        &["arn:aws:sns:*:111122223333:*"],
        &c
    ));
    assert!(!holds(
        "ArnLike",
        "aws:SourceArn",
        &["arn:aws:sns:*:*:*"],
        &one("aws:SourceArn", "not:an:arn")
    ));
}

#[test]
fn set_operators_with_aws_empty_set_semantics() {
    // AWS docs (multi-value conditions): tag keys limited to environment and cost-center.
    let allowed = ["environment", "cost-center"];
    let all = |keys: &[&str]| {
        holds(
            "ForAllValues:StringEquals",
            "aws:TagKeys",
            &allowed,
            &many("aws:TagKeys", keys),
        )
    };
    let any = |keys: &[&str]| {
        holds(
            "ForAnyValue:StringEquals",
            "aws:TagKeys",
            &allowed,
            &many("aws:TagKeys", keys),
        )
    };
    assert!(all(&["environment"]));
    assert!(all(&["environment", "cost-center"]));
    assert!(!all(&["environment", "dept"]));
    assert!(all(&[]), "ForAllValues is true for an empty set");
    assert!(
        holds(
            "ForAllValues:StringEquals",
            "aws:TagKeys",
            &allowed,
            &Context::new()
        ),
        "and for a missing key"
    );
    assert!(any(&["environment", "dept"]));
    assert!(!any(&["dept"]));
    assert!(!any(&[]), "ForAnyValue is false for an empty set");
    assert!(!holds(
        "ForAnyValue:StringEquals",
        "aws:TagKeys",
        &allowed,
        &Context::new()
    ));
    assert!(holds(
        "ForAnyValue:StringEqualsIfExists",
        "aws:TagKeys",
        &allowed,
        &Context::new()
    ));
    // Negated operators inside set qualifiers.
    let forbidden = ["secret"];
    assert!(holds(
        "ForAllValues:StringNotEquals",
        "aws:TagKeys",
        &forbidden,
        &many("aws:TagKeys", &["a", "b"])
    ));
    assert!(!holds(
        "ForAllValues:StringNotEquals",
        "aws:TagKeys",
        &forbidden,
        &many("aws:TagKeys", &["a", "secret"])
    ));
    assert!(holds(
        "ForAnyValue:StringNotEquals",
        "aws:TagKeys",
        &forbidden,
        &many("aws:TagKeys", &["a", "secret"])
    ));
    assert!(!holds(
        "ForAnyValue:StringNotEquals",
        "aws:TagKeys",
        &forbidden,
        &many("aws:TagKeys", &["secret"])
    ));
    // IRSA: amr is multi-valued.
    let amr = many("oidc.example.com:amr", &["authenticated", "mfa"]);
    assert!(holds(
        "ForAnyValue:StringLike",
        "oidc.example.com:amr",
        &["mf*"],
        &amr
    ));
    // Single-valued operator on a multi-valued key: any value may match; negated: none may.
    assert!(holds(
        "StringEquals",
        "oidc.example.com:amr",
        &["mfa"],
        &amr
    ));
    assert!(!holds(
        "StringNotEquals",
        "oidc.example.com:amr",
        &["mfa"],
        &amr
    ));
}

#[test]
fn policy_variables_in_conditions() {
    // AWS docs: {"StringLike": {"s3:prefix": ["", "home/", "home/${aws:username}/"]}}.
    let c = Context::new()
        .with("aws:username", "David")
        .with("s3:prefix", "home/David/");
    assert!(holds(
        "StringLike",
        "s3:prefix",
        &["", "home/", "home/${aws:username}/"],
        &c
    ));
    let c2 = Context::new()
        .with("aws:username", "David")
        .with("s3:prefix", "home/Ana/");
    assert!(!holds(
        "StringLike",
        "s3:prefix",
        &["", "home/", "home/${aws:username}/"],
        &c2
    ));
    // Default values.
    let ctx = one("aws:ResourceTag/team", "company-wide");
    assert!(holds(
        "StringEquals",
        "aws:ResourceTag/team",
        &["${aws:PrincipalTag/team, 'company-wide'}"],
        &ctx
    ));
    // Matching against another key (ABAC): resource tag equals principal tag.
    let abac = Context::new()
        .with("aws:ResourceTag/project", "blue")
        .with("aws:PrincipalTag/project", "blue");
    assert!(holds(
        "StringEquals",
        "aws:ResourceTag/project",
        &["${aws:PrincipalTag/project}"],
        &abac
    ));
    let abac_missing = one("aws:ResourceTag/project", "blue");
    assert!(!holds(
        "StringEquals",
        "aws:ResourceTag/project",
        &["${aws:PrincipalTag/project}"],
        &abac_missing
    ));
    assert!(holds(
        "StringNotEquals",
        "aws:ResourceTag/project",
        &["${aws:PrincipalTag/project}"],
        &abac_missing
    ));
    // Escapes are literal characters.
    assert!(holds("StringLike", "k:k", &["a${*}"], &one("k:k", "a*")));
    assert!(!holds("StringLike", "k:k", &["a${*}"], &one("k:k", "ab")));
    assert!(holds(
        "StringEquals",
        "k:k",
        &["${$}{x}"],
        &one("k:k", "${x}")
    ));
    // Substituted values are not wildcards.
    let bob = Context::new()
        .with("aws:username", "Bob*")
        .with("k:k", "Bobby");
    assert!(!holds("StringLike", "k:k", &["${aws:username}"], &bob));
    // Numeric values take no variables: the text is a (bad) number.
    let op = Operator::parse("NumericEquals").unwrap();
    assert!(compile_values(&op, &["${aws:x}".into()], true).is_err());
}
