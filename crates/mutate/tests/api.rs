//! API-level behaviour not expressed as fixtures: errors on malformed pods, jitter bounds.

use irsa_mutate::{
    Associations, Config, Mode, MutateError, ServiceAccountInfo, ServiceAccountLookup, mutate,
};
use serde_json::{Value, json};

fn role() -> ServiceAccountInfo {
    ServiceAccountInfo {
        role_arn: Some("arn:aws:iam::111122223333:role/r".into()),
        ..Default::default()
    }
}

fn run(pod: &Value) -> Result<irsa_mutate::Mutation, MutateError> {
    let sa = role();
    mutate(
        pod,
        "default",
        &ServiceAccountLookup::cached(Some(&sa)),
        &Associations::default(),
        &Config::default(),
        &mut |_| 0,
    )
}

#[test]
fn malformed_pods_are_typed_errors_not_panics() {
    assert_eq!(run(&json!("pod")), Err(MutateError::NotAnObject));
    assert_eq!(run(&json!({"metadata": {}})), Err(MutateError::MissingSpec));
    let err = run(&json!({"spec": {"containers": {"name": "x"}}})).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the Pod field /spec/containers must be an array"
    );
    let err = run(&json!({"spec": {"containers": [{"name": "x", "env": "A=1"}]}})).unwrap_err();
    assert_eq!(
        err,
        MutateError::InvalidField {
            path: "/spec/containers/0/env".into(),
            expected: "an array"
        }
    );
}

#[test]
fn every_field_of_the_wrong_type_is_reported_where_it_is_read() {
    let cases = [
        (json!({"metadata": 1, "spec": {}}), "/metadata", "an object"),
        (
            json!({"metadata": {"annotations": []}, "spec": {}}),
            "/metadata/annotations",
            "an object",
        ),
        (
            json!({"spec": {"volumes": {}}}),
            "/spec/volumes",
            "an array",
        ),
        (
            json!({"spec": {"initContainers": [{"name": "i"}, "x"]}}),
            "/spec/initContainers/1",
            "an object",
        ),
        (
            json!({"spec": {"containers": [{"volumeMounts": {}}]}}),
            "/spec/containers/0/volumeMounts",
            "an array",
        ),
    ];
    for (pod, path, expected) in cases {
        let err = run(&pod).unwrap_err();
        assert_eq!(
            err,
            MutateError::InvalidField {
                path: path.into(),
                expected
            },
            "{pod}"
        );
    }
    // securityContext is only read when an fsGroup is to be set; labels only in
    // container-credentials mode; nothing past the annotations when the pod is not mutated.
    let pod = json!({"metadata": {"labels": "x"}, "spec": {"securityContext": 1}});
    assert!(run(&pod).is_ok());
    let with_group = Config {
        default_fs_group: Some(1000),
        ..Config::default()
    };
    let sa = role();
    let lookup = ServiceAccountLookup::cached(Some(&sa));
    let err = mutate(
        &pod,
        "default",
        &lookup,
        &Associations::default(),
        &with_group,
        &mut |_| 0,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the Pod field /spec/securityContext must be an object"
    );
    let associations: Associations = [("default", "default")].into_iter().collect();
    let err = mutate(
        &pod,
        "default",
        &lookup,
        &associations,
        &Config::default(),
        &mut |_| 0,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the Pod field /metadata/labels must be an object"
    );
    let unmutated = mutate(
        &json!({"spec": {"volumes": 1, "containers": 2}}),
        "default",
        &ServiceAccountLookup::cached(None),
        &Associations::default(),
        &Config::default(),
        &mut |_| 0,
    )
    .unwrap();
    assert_eq!(unmutated.mode, Mode::None);
}

#[test]
fn jitter_is_only_in_container_credentials_mode_and_within_bounds() {
    let pod = json!({"spec": {"containers": [{"name": "app"}]}});
    let associations: Associations = [("default", "default")].into_iter().collect();
    let expiration = |assoc: &Associations, pick: i64| {
        let mut asked = None;
        let m = mutate(
            &pod,
            "default",
            &ServiceAccountLookup::cached(None),
            assoc,
            &Config::default(),
            &mut |n| {
                asked = Some(n);
                pick
            },
        )
        .unwrap();
        let patch = serde_json::to_value(&m.patch).unwrap();
        let vol = patch
            .as_array()
            .unwrap()
            .iter()
            .find(|op| op["path"] == "/spec/volumes")
            .unwrap()
            .clone();
        (
            m.mode,
            vol["value"][0]["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"]
                .as_i64()
                .unwrap(),
            asked,
        )
    };
    assert_eq!(
        expiration(&associations, 0),
        (Mode::ContainerCredentials, 79_200, Some(7201))
    );
    assert_eq!(
        expiration(&associations, 7200),
        (Mode::ContainerCredentials, 86_400, Some(7201))
    );
    // A misbehaving random source cannot push the value out of [79200, 86400].
    assert_eq!(expiration(&associations, 1_000_000).1, 86_400);
    assert_eq!(expiration(&associations, -5).1, 79_200);
    // IRSA: no jitter, the random source is never called.
    let sa = role();
    let mut called = false;
    let m = mutate(
        &pod,
        "default",
        &ServiceAccountLookup::cached(Some(&sa)),
        &Associations::default(),
        &Config::default(),
        &mut |_| {
            called = true;
            0
        },
    )
    .unwrap();
    assert_eq!(m.mode, Mode::Irsa);
    assert!(!called);
    assert!(
        serde_json::to_string(&m.patch)
            .unwrap()
            .contains("\"expirationSeconds\":86400")
    );
}

#[test]
fn suspicious_role_arn_is_used_with_a_warning() {
    let sa = ServiceAccountInfo {
        role_arn: Some("s3-reader".into()),
        ..Default::default()
    };
    let m = mutate(
        &json!({"spec": {"containers": [{"name": "app"}]}}),
        "default",
        &ServiceAccountLookup::cached(Some(&sa)),
        &Associations::default(),
        &Config::default(),
        &mut |_| 0,
    )
    .unwrap();
    assert_eq!(m.warnings.len(), 1);
    assert!(m.warnings[0].contains("\"s3-reader\""));
    assert!(
        serde_json::to_string(&m.patch)
            .unwrap()
            .contains("\"value\":\"s3-reader\"")
    );
}
