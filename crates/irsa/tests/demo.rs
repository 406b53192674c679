//! `irsa demo` end to end: it starts the issuer and the STS/IAM endpoint on loopback, drives
//! them with the AWS SDK for Rust, and must exit 0 only when every step behaved as on AWS.

use std::process::Command;

#[test]
fn demo_runs_the_seed_flow_and_every_step_behaves_as_on_aws() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_irsa"))
        .args(["demo", "--work-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "irsa demo failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for expected in [
        "Arn: arn:aws:sts::123456789012:assumed-role/k8s_default_aws-cli/k8s-demo",
        "k8s-default-aws-cli-demo: allowed",
        "k9s-default-aws-cli-demo: implicitDeny",
        "is not authorized to perform: s3:CreateBucket on resource: \"arn:aws:s3:::k9s-default-aws-cli-demo\" because no identity-based policy allows the s3:CreateBucket action",
        "Not authorized to perform sts:AssumeRoleWithWebIdentity",
        "Every step behaved as on AWS",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    // The token the kubelet would mount is on disk where the mutated pod expects it.
    let token = dir
        .path()
        .join("pod-root/var/run/secrets/eks.amazonaws.com/serviceaccount/token");
    assert!(std::fs::read_to_string(token).unwrap().split('.').count() == 3);
}
