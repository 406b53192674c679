//! `mutate_json` writes the patch as JSON text without building serde values. It must write
//! exactly the bytes serde_json writes for `mutate`'s `Patch`, with the same warnings, mode and
//! errors: checked here for every pod fixture (irsa's own, and upstream's when
//! `shared/conformance/pod-identity-webhook/` exists next to the repository) under a matrix of settings, including
//! values that need JSON and JSON Pointer escaping.

mod common;

use common::all_fixture_files;
use irsa_mutate::{
    Associations, ComposeRoleArn, Config, ConfigMapMappings, PodView, ServiceAccountInfo,
    ServiceAccountLookup, mutate, mutate_json,
};
use serde_json::{Value, json};

fn configs() -> Vec<Config> {
    let mut all_on = Config {
        region: Some("eu-west-1".into()),
        regional_sts: true,
        token_expiration: 3600,
        default_fs_group: Some(2000),
        compose_role_arn: Some(ComposeRoleArn::from_region("eu-west-1", "111122223333")),
        ..Config::default()
    };
    all_on.container_credentials.full_uri = "http://169.254.170.23/v1/credentials".into();
    // Every string the patch carries, with characters JSON or JSON Pointer must escape.
    let mut odd = Config {
        annotation_prefix: "eks.amazonaws.com".into(),
        audience: "aud\"ience\\".into(),
        mount_path: "/var/run/~odd/\u{1}é✓/".into(),
        region: Some("re\"gion\n".into()),
        regional_sts: true,
        token_expiration: -5,
        default_fs_group: Some(0),
        ..Config::default()
    };
    let cc = &mut odd.container_credentials;
    cc.audience = String::new();
    cc.mount_path = "C:\\tokens".into();
    cc.volume_name = "vol~1/x".into();
    cc.token_path = "tok\ten".into();
    cc.full_uri = "http://h/\"q\"".into();
    vec![Config::default(), all_on, odd]
}

fn service_accounts() -> Vec<Option<ServiceAccountInfo>> {
    vec![
        None,
        Some(ServiceAccountInfo {
            role_arn: Some("arn:aws:iam::111122223333:role/app".into()),
            ..Default::default()
        }),
        Some(ServiceAccountInfo {
            role_arn: Some("app\"\\\u{7}".into()),
            audience: Some(String::new()),
            use_regional_sts: Some(false),
            token_expiration: Some(7200),
        }),
    ]
}

/// Compares both outputs for `pod` under every setting; returns how many were compared.
fn assert_same(what: &str, pod: &Value) -> usize {
    let namespace = "ns";
    let sa_name = irsa_mutate::service_account_name(pod).to_owned();
    let mappings = ConfigMapMappings::parse(&format!(
        r#"{{"{namespace}/{sa_name}":{{"RoleARN":"arn:aws:iam::111122223333:role/mapped","Audience":"a\"b"}}}}"#
    ))
    .unwrap();
    let cc: Associations = [(namespace, sa_name.as_str())].into_iter().collect();
    let mut compared = 0;
    for config in configs() {
        for sa in service_accounts() {
            for mappings in [&ConfigMapMappings::default(), &mappings] {
                for associations in [&Associations::default(), &cc] {
                    let lookup = ServiceAccountLookup::cached(sa.as_ref())
                        .with_config_map(mappings.get(namespace, &sa_name));
                    let values = mutate(pod, namespace, &lookup, associations, &config, &mut |n| {
                        n / 3
                    });
                    let mut out = b"prefix ".to_vec();
                    let json = PodView::of(pod).and_then(|view| {
                        mutate_json(
                            &view,
                            namespace,
                            &lookup,
                            associations,
                            &config,
                            &mut |n| n / 3,
                            &mut out,
                        )
                    });
                    match (values, json) {
                        (Ok(values), Ok(summary)) => {
                            let mut want = b"prefix ".to_vec();
                            serde_json::to_writer(&mut want, &values.patch).unwrap();
                            assert_eq!(
                                String::from_utf8(out).unwrap(),
                                String::from_utf8(want).unwrap(),
                                "{what}: patch text differs ({config:?}, {sa:?})"
                            );
                            assert_eq!(values.warnings, summary.warnings, "{what}: warnings");
                            assert_eq!(values.mode, summary.mode, "{what}: mode");
                        }
                        (Err(a), Err(b)) => assert_eq!(a, b, "{what}: errors differ"),
                        (a, b) => panic!("{what}: {a:?} but {b:?}"),
                    }
                    compared += 1;
                }
            }
        }
    }
    compared
}

#[test]
fn mutate_json_writes_exactly_the_serialised_patch_for_every_fixture() {
    let files = all_fixture_files();
    let mut compared = 0;
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let pod: Value = serde_yaml::from_str(&text).unwrap();
        compared += assert_same(&path.display().to_string(), &pod);
    }
    println!("{} fixtures, {compared} comparisons", files.len());
}

#[test]
fn mutate_json_matches_on_labels_lists_and_errors() {
    let pods = [
        json!({"spec": {"containers": [{"name": "a"}]}}),
        json!({"metadata": {"labels": {"eks.amazonaws.com/pod-identity": "no"}},
               "spec": {"securityContext": {}, "volumes": [],
                        "containers": [{"name": "a", "env": [], "volumeMounts": []}],
                        "initContainers": [{"name": "b", "env": [{"name": "AWS_REGION"}]}]}}),
        json!({"metadata": {"labels": null}, "spec": {"containers": [{"name": "a"}]}}),
        json!({"spec": {"containers": [{"name": "a", "env": "x"}]}}),
        json!({"spec": []}),
        json!("not a pod"),
    ];
    // Many containers, lists present or not: equal values far apart and close together.
    let containers: Vec<Value> = (0..12)
        .map(|i| match i % 3 {
            0 => json!({"name": format!("c{i}")}),
            1 => json!({"name": format!("c{i}"), "env": [{"name": "X"}], "volumeMounts": []}),
            _ => json!({"name": format!("c{i}"), "env": [{"name": "AWS_REGION", "value": "x"}]}),
        })
        .collect();
    let many = json!({"spec": {"containers": containers, "initContainers": containers}});
    for (i, pod) in pods.iter().chain([&many]).enumerate() {
        assert!(assert_same(&format!("pod {i}"), pod) > 0);
    }
}
