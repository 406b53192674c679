//! `irsa webhook mutate`: the offline dry run of the webhook's mutation.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const ROLE: &str = "arn:aws:iam::111122223333:role/s3-reader";

fn irsa(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_irsa"))
        .args(["webhook", "mutate"])
        .args(args)
        .output()
        .unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

const POD: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: app
  namespace: shop
spec:
  serviceAccountName: app
  containers:
  - name: app
    image: amazonlinux
    env:
    - name: LOG_LEVEL
      value: debug
";

fn sa(role: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: app\n  namespace: shop\n  \
         annotations:\n    eks.amazonaws.com/role-arn: {role}\n    eks.amazonaws.com/token-expiration: \"3600\"\n"
    )
}

fn stdout_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn prints_the_json_patch_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let pod = write(dir.path(), "pod.yaml", POD);
    let sa = write(dir.path(), "sa.yaml", &sa(ROLE));
    let out = irsa(&[
        "--pod",
        &pod,
        "--service-account",
        &sa,
        "--aws-default-region",
        "eu-west-1",
        "--sts-regional-endpoint",
    ]);
    let patch = stdout_json(&out);
    let ops = patch.as_array().unwrap();
    let paths: Vec<&str> = ops.iter().map(|op| op["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "/spec/volumes",
            "/spec/containers/0/env/-",
            "/spec/containers/0/env/-",
            "/spec/containers/0/env/-",
            "/spec/containers/0/env/-",
            "/spec/containers/0/env/-",
            "/spec/containers/0/volumeMounts",
        ]
    );
    let names: Vec<&str> = ops[1..6]
        .iter()
        .map(|op| op["value"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "AWS_STS_REGIONAL_ENDPOINTS",
            "AWS_DEFAULT_REGION",
            "AWS_REGION",
            "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE"
        ]
    );
    assert_eq!(
        ops[0]["value"][0]["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"],
        3600
    );
}

#[test]
fn prints_the_mutated_pod_as_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let pod = write(dir.path(), "pod.yaml", POD);
    let sa = write(
        dir.path(),
        "sa.json",
        &serde_json::to_string(&serde_yaml::from_str::<Value>(&sa(ROLE)).unwrap()).unwrap(),
    );
    let out = irsa(&[
        "--pod",
        &pod,
        "--service-account",
        &sa,
        "--output",
        "pod",
        "--default-fs-group=65534",
    ]);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mutated: Value = serde_yaml::from_slice(&out.stdout).unwrap();
    let env = &mutated["spec"]["containers"][0]["env"];
    assert_eq!(env[0]["name"], "LOG_LEVEL");
    assert_eq!(env[1]["value"], ROLE);
    assert_eq!(
        env[2]["value"],
        "/var/run/secrets/eks.amazonaws.com/serviceaccount/token"
    );
    assert_eq!(mutated["spec"]["securityContext"]["fsGroup"], 65534);
    assert_eq!(mutated["spec"]["volumes"][0]["name"], "aws-iam-token");
    assert_eq!(mutated["metadata"]["namespace"], "shop");
}

#[test]
fn without_a_service_account_nothing_is_mutated() {
    let dir = tempfile::tempdir().unwrap();
    let pod = write(dir.path(), "pod.yaml", POD);
    let out = irsa(&["--pod", &pod]);
    assert_eq!(stdout_json(&out), serde_json::json!([]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pod not mutated"));
}

#[test]
fn config_map_and_association_file_are_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let pod = write(dir.path(), "pod.yaml", POD);
    let cm = write(
        dir.path(),
        "cm.yaml",
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: pod-identity-webhook\ndata:\n  config: '{{\"shop/app\":{{\"RoleARN\":\"{ROLE}\",\"Audience\":\"sts.amazonaws.com\"}}}}'\n"
        ),
    );
    let patch = stdout_json(&irsa(&["--pod", &pod, "--config-map", &cm]));
    assert!(patch.to_string().contains(ROLE));

    let assoc = write(
        dir.path(),
        "assoc.json",
        r#"{"identities":[{"namespace":"shop","serviceAccount":"app"}]}"#,
    );
    let patch = stdout_json(&irsa(&[
        "--pod",
        &pod,
        "--config-map",
        &cm,
        "--watch-container-credentials-config",
        &assoc,
        "--sts-regional-endpoint=false",
    ]));
    let ops = patch.as_array().unwrap();
    assert_eq!(ops[0]["path"], "/metadata/labels");
    assert_eq!(ops[0]["value"]["eks.amazonaws.com/pod-identity"], "enabled");
    assert!(
        !patch.to_string().contains(ROLE),
        "container credentials win over the role"
    );
    let exp =
        ops[1]["value"][0]["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"]
            .as_i64()
            .unwrap();
    assert!(
        (79_200..=86_400).contains(&exp),
        "jittered expiration {exp}"
    );
}

#[test]
fn mount_path_collision_is_a_warning_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let pod = write(
        dir.path(),
        "pod.yaml",
        &format!(
            "{POD}    volumeMounts:\n    - name: mine\n      mountPath: /var/run/secrets/eks.amazonaws.com/serviceaccount\n"
        ),
    );
    let sa = write(dir.path(), "sa.yaml", &sa(ROLE));
    let out = irsa(&["--pod", &pod, "--service-account", &sa]);
    let patch = stdout_json(&out);
    assert_eq!(
        patch.as_array().unwrap().len(),
        1,
        "only the volume: {patch}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: container \"app\" already mounts volume \"mine\""),
        "{stderr}"
    );
}

#[test]
fn missing_and_invalid_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.yaml");
    let out = irsa(&["--pod", missing.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot read the pod manifest") && stderr.contains("nope.yaml"),
        "{stderr}"
    );

    let bad = write(dir.path(), "bad.yaml", "spec: [unclosed\n");
    let out = irsa(&["--pod", &bad]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.yaml is not a valid YAML or JSON pod manifest"),
        "{stderr}"
    );

    let pod = write(dir.path(), "pod.yaml", POD);
    let bad_assoc = write(dir.path(), "assoc.json", "{not json");
    let out = irsa(&[
        "--pod",
        &pod,
        "--watch-container-credentials-config",
        &bad_assoc,
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid association file"));
}
