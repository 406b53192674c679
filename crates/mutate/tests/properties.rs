//! Property tests over generated pods: the mutation never fails on well-formed pods, its patch
//! always applies, never changes or removes what the pod had, and a second mutation of the
//! result adds nothing (reinvocation).

use irsa_mutate::{Associations, Config, Mode, ServiceAccountInfo, ServiceAccountLookup, mutate};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const KEYS: &[&str] = &[
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_STS_REGIONAL_ENDPOINTS",
    "OTHER",
];

fn container() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec!["a", "b", "c", "a,b", " c"]),
        prop::option::of(prop::collection::vec(
            prop::sample::select(KEYS.to_vec()),
            0..4,
        )),
        prop::option::of(prop::collection::vec(
            prop::sample::select(vec![
                ("aws-iam-token", "/elsewhere"),
                ("data", "/data"),
                ("mine", "/var/run/secrets/eks.amazonaws.com/serviceaccount"),
                ("eks-pod-identity-token", "/x"),
            ]),
            0..3,
        )),
        any::<bool>(),
    )
        .prop_map(|(name, env, mounts, unknown)| {
            let mut c = Map::new();
            c.insert("name".into(), json!(name));
            c.insert("image".into(), json!("img"));
            if let Some(env) = env {
                let env: Vec<Value> = env
                    .iter()
                    .map(|k| json!({"name": k, "value": "v"}))
                    .collect();
                c.insert("env".into(), Value::Array(env));
            }
            if let Some(mounts) = mounts {
                let mounts: Vec<Value> = mounts
                    .iter()
                    .map(|(n, p)| json!({"name": n, "mountPath": p}))
                    .collect();
                c.insert("volumeMounts".into(), Value::Array(mounts));
            }
            if unknown {
                c.insert("futureField".into(), json!({"x": [1, null]}));
            }
            Value::Object(c)
        })
}

fn pod() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(container(), 0..4),
        prop::option::of(prop::collection::vec(container(), 0..3)),
        prop::option::of(prop::sample::select(vec![
            "aws-iam-token",
            "data",
            "eks-pod-identity-token",
        ])),
        prop::option::of(prop::sample::select(vec![
            "\"a,b\", c",
            "a",
            "x\"y",
            "0700",
            "bad",
        ])),
        any::<(bool, bool, bool, bool)>(),
    )
        .prop_map(
            |(containers, init, volume, annotation, (labels, windows, sc, fs))| {
                let mut spec = Map::new();
                spec.insert("serviceAccountName".into(), json!("sa"));
                spec.insert("containers".into(), Value::Array(containers));
                if let Some(init) = init {
                    spec.insert("initContainers".into(), Value::Array(init));
                }
                if let Some(v) = volume {
                    spec.insert("volumes".into(), json!([{"name": v, "emptyDir": {}}]));
                }
                if windows {
                    spec.insert(
                        "nodeSelector".into(),
                        json!({"kubernetes.io/os": "windows"}),
                    );
                }
                if sc {
                    spec.insert("securityContext".into(), json!({"runAsUser": 1000}));
                }
                let mut annotations = Map::new();
                if let Some(a) = annotation {
                    annotations.insert("eks.amazonaws.com/skip-containers".into(), json!(a));
                    annotations.insert("eks.amazonaws.com/token-expiration".into(), json!(a));
                }
                if fs {
                    annotations.insert("eks.amazonaws.com/fs-group".into(), json!("2000"));
                }
                let mut metadata = json!({"name": "p", "annotations": annotations});
                if labels {
                    metadata["labels"] = json!({"app": "x"});
                }
                json!({"metadata": metadata, "spec": spec})
            },
        )
}

/// Every value of `before` is still in `after`; arrays may only grow at the end, except
/// `spec.volumes`, which may gain one volume at the front.
fn preserved(before: &Value, after: &Value, path: &str) -> Result<(), String> {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            for (k, v) in b {
                let next = format!("{path}/{k}");
                preserved(v, a.get(k).ok_or(format!("{next} removed"))?, &next)?;
            }
            Ok(())
        }
        (Value::Array(b), Value::Array(a)) => {
            let offset = if path == "/spec/volumes" {
                a.len().saturating_sub(b.len()).min(1)
            } else {
                0
            };
            for (i, v) in b.iter().enumerate() {
                let next = format!("{path}/{i}");
                preserved(
                    v,
                    a.get(i + offset).ok_or(format!("{next} removed"))?,
                    &next,
                )?;
            }
            Ok(())
        }
        _ if before == after => Ok(()),
        _ => Err(format!("{path} changed from {before} to {after}")),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn patch_applies_preserves_and_is_idempotent(
        pod in pod(),
        cc in any::<bool>(),
        region in any::<bool>(),
        sts in any::<bool>(),
        default_fs in any::<bool>(),
    ) {
        let sa = ServiceAccountInfo {
            role_arn: Some("arn:aws:iam::111122223333:role/r".into()),
            ..Default::default()
        };
        let associations: Associations =
            if cc { [("ns", "sa")].into_iter().collect() } else { Associations::default() };
        let config = Config {
            region: region.then(|| "eu-west-1".into()),
            regional_sts: sts,
            default_fs_group: default_fs.then_some(65534),
            ..Config::default()
        };
        let lookup = ServiceAccountLookup::cached(Some(&sa));
        let first = mutate(&pod, "ns", &lookup, &associations, &config, &mut |n| n / 2).unwrap();
        prop_assert_eq!(first.mode, if cc { Mode::ContainerCredentials } else { Mode::Irsa });
        let mut mutated = pod.clone();
        json_patch::patch(&mut mutated, &first.patch).map_err(|e| TestCaseError::fail(e.to_string()))?;
        preserved(&pod, &mutated, "").map_err(TestCaseError::fail)?;
        let second = mutate(&mutated, "ns", &lookup, &associations, &config, &mut |n| n / 2).unwrap();
        prop_assert!(second.patch.0.is_empty(), "second patch: {}", serde_json::to_string(&second.patch).unwrap());
    }
}
