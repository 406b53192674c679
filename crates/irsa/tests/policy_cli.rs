//! `irsa policy validate` / `irsa policy simulate` end to end through the binary.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_irsa"))
}

fn testdata(name: &str) -> String {
    let p: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "policy", "testdata", name]
        .iter()
        .collect();
    p.to_string_lossy().into_owned()
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run irsa")
}

fn run_stdin(args: &[&str], input: &str) -> Output {
    let mut child = bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

const SESSION: &str = "arn:aws:sts::111122223333:assumed-role/k8s_default_aws-cli/k8s-demo";

#[test]
fn validate_accepts_good_and_reports_bad_with_positions() {
    let o = run(&[
        "policy",
        "validate",
        &testdata("s3-prefix.json"),
        &testdata("trust-irsa.json"),
    ]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(stdout(&o), "2 documents valid\n");

    let o = run(&[
        "policy",
        "validate",
        "--kind",
        "identity",
        &testdata("broken-semantic.json"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains(
            "broken-semantic.json:6:17: error: Statement[0]: Effect must be written exactly"
        ),
        "{out}"
    );
    assert!(
        out.contains("(IAM: Statement IDs (SID) in a single policy must be unique.)"),
        "{out}"
    );
    assert!(out.contains(":15:60: error:"), "{out}");

    let o = run(&["policy", "validate", &testdata("broken.json"), "-o", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["valid"], false);
    assert_eq!(v[0]["findings"][0]["message"], "Syntax errors in policy.");
    assert_eq!(v[0]["findings"][0]["line"], 8);
    assert_eq!(v[0]["findings"][0]["column"], 7);
}

#[test]
fn validate_trust_warns_about_open_irsa_trust_but_succeeds() {
    let o = run(&[
        "policy",
        "validate",
        "--kind",
        "trust",
        &testdata("trust-open.json"),
    ]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(
        out.contains("warning: Trust policy does not restrict the subject"),
        "{out}"
    );
    assert!(
        out.contains("warning: Trust policy does not restrict the audience"),
        "{out}"
    );
}

#[test]
fn validate_reads_stdin() {
    let o = run_stdin(&["policy", "validate", "-"], "{\"Statement\": 3}");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).starts_with("-:1:15: error: Statement must be an object or an array"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn simulate_seed_example() {
    let base = ["policy", "simulate", "--policy"];
    let mut args = base.to_vec();
    let p = testdata("s3-prefix.json");
    args.extend([
        p.as_str(),
        "--principal",
        SESSION,
        "--action",
        "s3:CreateBucket",
        "--resource",
    ]);

    let mut allowed = args.clone();
    allowed.extend(["arn:aws:s3:::k8s-default-aws-cli-demo", "-o", "json"]);
    let o = run(&allowed);
    assert!(o.status.success(), "{o:?}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["decision"], "allowed");
    assert_eq!(v["matchedStatements"][0]["sid"], "AwsCliBuckets");
    assert_eq!(v["matchedStatements"][0]["policy"], "s3-prefix.json");
    assert!(v.get("message").is_none());

    let mut denied = args.clone();
    denied.push("arn:aws:s3:::k9s-default-aws-cli-demo");
    let o = run(&denied);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stdout(&o),
        "decision: implicitDeny\nmessage: User: arn:aws:sts::111122223333:assumed-role/k8s_default_aws-cli/k8s-demo is not authorized to perform: s3:CreateBucket on resource: \"arn:aws:s3:::k9s-default-aws-cli-demo\" because no identity-based policy allows the s3:CreateBucket action\n"
    );
}

#[test]
fn simulate_explicit_deny_boundary_and_context() {
    let (p, d, b) = (
        testdata("s3-prefix.json"),
        testdata("deny-delete.json"),
        testdata("boundary-s3-only.json"),
    );
    let common = [
        "policy",
        "simulate",
        "--policy",
        &p,
        "--policy",
        &d,
        "--permissions-boundary",
        &b,
        "--principal",
        SESSION,
    ];
    let mut args = common.to_vec();
    args.extend([
        "--action",
        "s3:DeleteObject",
        "--resource",
        "arn:aws:s3:::k8s-default-aws-cli-x/key",
        "-o",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&run(&args).stdout).unwrap();
    assert_eq!(v["decision"], "explicitDeny");
    assert_eq!(v["matchedStatements"][0]["sid"], "NoDeletes");
    // The deny does not apply to storage admins (StringNotEquals on a principal tag).
    args.extend(["--context", "aws:PrincipalTag/team=storage-admins"]);
    let o = run(&args);
    assert!(o.status.success(), "{}", stdout(&o));
}

#[test]
fn simulate_web_identity_trust() {
    let t = testdata("trust-irsa.json");
    let provider = "arn:aws:iam::111122223333:oidc-provider/oidc.example.com/cluster";
    let args = |sub: &str| {
        run(&[
            "policy",
            "simulate",
            "--trust-policy",
            &t,
            "--principal",
            provider,
            "--action",
            "sts:AssumeRoleWithWebIdentity",
            "--resource",
            "arn:aws:iam::111122223333:role/r",
            "--context",
            &format!("oidc.example.com/cluster:sub={sub}"),
            "--context",
            "oidc.example.com/cluster:aud=sts.amazonaws.com",
        ])
    };
    assert!(
        args("system:serviceaccount:default:aws-cli")
            .status
            .success()
    );
    let o = args("system:serviceaccount:default:other");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stdout(&o),
        "decision: implicitDeny\nmessage: Not authorized to perform sts:AssumeRoleWithWebIdentity\n"
    );
}

#[test]
fn simulate_rejects_bad_policy_and_bad_context() {
    let o = run(&[
        "policy",
        "simulate",
        "--policy",
        &testdata("broken.json"),
        "--action",
        "s3:GetObject",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("broken.json:8:7: invalid JSON: duplicate key \"Action\" (IAM: Syntax errors in policy.)"), "{err}");
    let o = run(&[
        "policy",
        "simulate",
        "--policy",
        &testdata("s3-prefix.json"),
        "--action",
        "s3:GetObject",
        "--context",
        "novalue",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("expected KEY=VALUE"));
}

#[test]
fn simulate_cases_one_result_per_line_in_order() {
    let s3 = std::fs::read_to_string(testdata("s3-prefix.json")).unwrap();
    let s3: serde_json::Value = serde_json::from_str(&s3).unwrap();
    let trust: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(testdata("trust-irsa.json")).unwrap())
            .unwrap();
    let lines = [
        serde_json::json!({"identityPolicies": [s3], "request": {"principal": SESSION, "action": "s3:GetObject", "resource": "arn:aws:s3:::k8s-default-aws-cli-a/k"}}).to_string(),
        "{not json".to_string(),
        serde_json::json!({"identityPolicies": [s3], "request": {"principal": SESSION, "action": "s3:GetObject", "resource": "arn:aws:s3:::other/k"}}).to_string(),
        serde_json::json!({"identityPolicies": [{"Statement": []}], "request": {"action": "s3:GetObject"}}).to_string(),
        serde_json::json!({"resourcePolicy": trust, "mode": "roleTrust", "request": {
            "principal": "arn:aws:iam::111122223333:oidc-provider/oidc.example.com/cluster",
            "action": "sts:AssumeRoleWithWebIdentity", "resource": "arn:aws:iam::111122223333:role/r",
            "context": {"oidc.example.com/cluster:sub": "system:serviceaccount:default:aws-cli", "oidc.example.com/cluster:aud": ["sts.amazonaws.com"]}}}).to_string(),
        serde_json::json!({"identityPolicies": [s3.to_string()], "permissionBoundaries": [{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Action": "*", "Resource": "*"}}],
            "request": {"principal": SESSION, "action": "s3:GetObject", "resource": "arn:aws:s3:::k8s-default-aws-cli-a/k"}}).to_string(),
    ];
    let input = lines.join("\n") + "\n";
    let path = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(path.path(), &input).unwrap();
    for o in [
        run(&[
            "policy",
            "simulate",
            "--cases",
            path.path().to_str().unwrap(),
        ]),
        run_stdin(&["policy", "simulate", "--cases", "-"], &input),
    ] {
        assert!(o.status.success(), "{o:?}");
        let out: Vec<serde_json::Value> = stdout(&o)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(out.len(), lines.len());
        assert_eq!(out[0]["decision"], "allowed");
        assert!(
            out[1]["error"]
                .as_str()
                .unwrap()
                .starts_with("invalid case"),
            "{}",
            out[1]
        );
        assert_eq!(out[1]["line"], 2);
        assert_eq!(out[2]["decision"], "implicitDeny");
        assert!(
            out[2]["message"]
                .as_str()
                .unwrap()
                .contains("because no identity-based policy allows the s3:GetObject action")
        );
        assert!(
            out[3]["error"]
                .as_str()
                .unwrap()
                .starts_with("identityPolicies[0]: "),
            "{}",
            out[3]
        );
        assert_eq!(out[4]["decision"], "allowed");
        assert_eq!(out[4]["matchedStatements"][0]["policyType"], "trust");
        assert_eq!(out[5]["decision"], "explicitDeny");
        assert!(
            out[5]["message"]
                .as_str()
                .unwrap()
                .ends_with("with an explicit deny in a permissions boundary")
        );
    }
}
