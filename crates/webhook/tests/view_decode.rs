//! The server decodes only the pod fields the mutation reads (`admission::decode`, into a
//! `PodView`). This proves that this changes nothing: for every pod fixture we have (irsa's
//! own, upstream's when `shared/conformance/pod-identity-webhook/` exists next to the
//! repository, and hand-written awkward pods), the request equals the whole-pod decode's
//! (`admission::decode_whole`, view included), and under a matrix of webhook settings the
//! server's mutation gives exactly the patch text, warnings, mode (or error) that
//! `irsa_mutate::mutate` gives for the whole pod; malformed bodies are rejected identically.

use irsa_mutate::{
    Associations, ComposeRoleArn, Config, ConfigMapMappings, Mode, ServiceAccountInfo,
    ServiceAccountLookup,
};
use irsa_webhook::admission::{self, PodRequest, WholeRequest};
use serde_json::{Value, json};

// The mutation crate's fixture helpers (file listing, annotations, fixture folders).
#[path = "../../mutate/tests/common/mod.rs"]
mod fixtures;
use fixtures::{all_fixture_files, fixture_config, upstream_fixtures_dir};

/// Webhook settings to try: defaults, everything switched on, a custom prefix, and the
/// settings the fixture itself asks for (its `testing.*` annotations).
fn configs(pod: &Value) -> Vec<Config> {
    let mut all_on = Config {
        region: Some("eu-west-1".into()),
        regional_sts: true,
        token_expiration: 3600,
        default_fs_group: Some(2000),
        compose_role_arn: Some(ComposeRoleArn::from_region("eu-west-1", "111122223333")),
        ..Config::default()
    };
    all_on.container_credentials.full_uri = "http://169.254.170.23/v1/credentials".into();
    let custom_prefix = Config {
        annotation_prefix: "irsa.example.com".into(),
        mount_path: "/var/run/secrets/irsa/".into(),
        ..Config::default()
    };
    let own = fixture_config(pod);
    vec![Config::default(), all_on, custom_prefix, own]
}

/// ServiceAccounts to try: none, a role, a bare role name with every annotation set.
fn service_accounts(prefix: &str) -> Vec<Option<ServiceAccountInfo>> {
    let annotated = |pairs: &[(&str, &str)]| {
        let map = pairs
            .iter()
            .map(|(k, v)| (format!("{prefix}/{k}"), (*v).to_owned()))
            .collect();
        Some(ServiceAccountInfo::from_annotations(&map, prefix))
    };
    vec![
        None,
        annotated(&[("role-arn", "arn:aws:iam::111122223333:role/app")]),
        annotated(&[
            ("role-arn", "app"),
            ("audience", "example"),
            ("sts-regional-endpoints", "false"),
            ("token-expiration", "7200"),
        ]),
    ]
}

fn review(pod: &Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "u-1",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "namespace": "ns",
            "operation": "CREATE",
            "object": pod,
        }
    }))
    .unwrap()
}

/// What a mutation gave: patch as JSON text, warnings, mode; or the error message.
type Outcome = Result<(String, Vec<String>, Mode), String>;

/// The cached ServiceAccount and the ConfigMap entry of `namespace/name`.
fn lookup<'a>(
    namespace: &str,
    name: &str,
    sa: Option<&'a ServiceAccountInfo>,
    mappings: &'a ConfigMapMappings,
) -> ServiceAccountLookup<'a> {
    ServiceAccountLookup::cached(sa).with_config_map(mappings.get(namespace, name))
}

/// The mutation of the whole pod, through `irsa_mutate::mutate` (serde values).
fn mutate_whole(
    request: &WholeRequest,
    config: &Config,
    sa: Option<&ServiceAccountInfo>,
    mappings: &ConfigMapMappings,
    associations: &Associations,
) -> Outcome {
    let name = request.service_account_name();
    let lookup = lookup(&request.namespace, name, sa, mappings);
    let m = irsa_mutate::mutate(
        &request.pod,
        &request.namespace,
        &lookup,
        associations,
        config,
        &mut |n| n / 3,
    )
    .map_err(|e| e.to_string())?;
    let patch = serde_json::to_string(&m.patch).map_err(|e| e.to_string())?;
    Ok((patch, m.warnings, m.mode))
}

/// The mutation as the server runs it: on the decoded view, the patch written as text.
fn mutate_view(
    request: &PodRequest<'_>,
    config: &Config,
    sa: Option<&ServiceAccountInfo>,
    mappings: &ConfigMapMappings,
    associations: &Associations,
) -> Outcome {
    let name = request.service_account_name();
    let lookup = lookup(&request.namespace, name, sa, mappings);
    let mut patch = Vec::new();
    let m = irsa_mutate::mutate_json(
        &request.pod,
        &request.namespace,
        &lookup,
        associations,
        config,
        &mut |n| n / 3,
        &mut patch,
    )
    .map_err(|e| e.to_string())?;
    let patch = String::from_utf8(patch).map_err(|e| e.to_string())?;
    Ok((patch, m.warnings, m.mode))
}

/// Decodes `body` both ways and compares everything the server uses, under every setting.
/// Returns how many mutations were compared.
fn assert_same(what: &str, body: &[u8]) -> usize {
    let full = admission::decode_whole(body);
    let view = admission::decode(body);
    let (full, view) = match (full, view) {
        (Ok(f), Ok(v)) => (f, v),
        (f, v) => {
            assert_eq!(f.err(), v.err(), "{what}: decode outcome differs");
            return 0;
        }
    };
    assert_eq!(view, full.view(), "{what}: request differs");
    let sa_name = full.service_account_name().to_owned();
    let mut compared = 0;
    for config in configs(&full.pod) {
        let prefix = config.annotation_prefix.clone();
        let mapping = format!(
            r#"{{"{}/{sa_name}":{{"RoleARN":"arn:aws:iam::111122223333:role/mapped"}}}}"#,
            full.namespace
        );
        let with_mapping = ConfigMapMappings::parse(&mapping).unwrap();
        for sa in service_accounts(&prefix) {
            for mappings in [&ConfigMapMappings::default(), &with_mapping] {
                let cc: Associations = [(full.namespace.clone(), sa_name.clone())]
                    .into_iter()
                    .collect();
                for associations in [&Associations::default(), &cc] {
                    let a = mutate_whole(&full, &config, sa.as_ref(), mappings, associations);
                    let b = mutate_view(&view, &config, sa.as_ref(), mappings, associations);
                    assert_eq!(
                        a, b,
                        "{what}: mutation differs (config {config:?}, sa {sa:?})"
                    );
                    compared += 1;
                }
            }
        }
    }
    compared
}

#[test]
fn the_view_mutates_every_fixture_exactly_like_the_whole_pod() {
    let files = all_fixture_files();
    let mut compared = 0;
    let mut mutated = 0;
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let pod: Value = serde_yaml::from_str(&text).unwrap();
        let body = review(&pod);
        compared += assert_same(&path.display().to_string(), &body);
        // Some pods must actually be mutated, or the comparison proves little.
        let request = admission::decode(&body).unwrap();
        let role = ServiceAccountInfo {
            role_arn: Some("arn:aws:iam::111122223333:role/app".into()),
            ..Default::default()
        };
        let m = mutate_view(
            &request,
            &Config::default(),
            Some(&role),
            &ConfigMapMappings::default(),
            &Associations::default(),
        );
        if m.is_ok_and(|(patch, _, _)| patch != "[]") {
            mutated += 1;
        }
    }
    assert!(mutated * 2 > files.len(), "too few fixtures mutate");
    println!(
        "{} fixtures, {compared} mutations compared, {mutated} mutated",
        files.len()
    );
}

#[test]
fn upstream_sample_request_decodes_the_same() {
    let path = upstream_fixtures_dir().join("hack/request.json");
    let Ok(body) = std::fs::read(&path) else {
        println!("{} not found: skipped", path.display());
        return;
    };
    assert!(assert_same("hack/request.json", &body) > 0);
}

/// Pods written to trip a decoder that reads only some fields: wrong types on every path the mutation reads,
/// repeated keys, escaped keys, nulls, deep unknown fields, and values the mutation copies
/// nothing from.
#[test]
fn awkward_pods_mutate_the_same() {
    let prefix = "eks.amazonaws.com";
    let pods = [
        // Repeated keys: the last value wins, in the first position.
        format!(
            r#"{{"spec":{{"containers":[{{"name":"a"}}]}},"metadata":{{"annotations":{{"{prefix}/skip-containers":"a","{prefix}/skip-containers":"b"}}}},"spec":{{"containers":[{{"name":"a"}},{{"name":"b","env":[{{"name":"AWS_REGION"}}],"env":null}}]}}}}"#
        ),
        // Escaped keys and values (not borrowable from the input).
        format!(
            r#"{{"sp\u0065c":{{"containers":[{{"n\u0061me":"a\"b","volumeMounts":[{{"name":"x","mountP\u0061th":"/var/run/secrets/eks.amazonaws.com/serviceaccount/"}}]}}]}},"metadata":{{"annotations":{{"{prefix}\/fs-group":"12"}}}}}}"#
        ),
        // Wrong types where the mutation expects objects or arrays.
        r#"{"metadata":"x","spec":{"containers":[]}}"#.to_owned(),
        r#"{"metadata":{"annotations":["a"]},"spec":{}}"#.to_owned(),
        r#"{"metadata":{"labels":7},"spec":{}}"#.to_owned(),
        r#"{"spec":{"containers":{"name":"a"}}}"#.to_owned(),
        r#"{"spec":{"containers":["a",{"name":"b"}]}}"#.to_owned(),
        r#"{"spec":{"containers":[{"name":"a","env":{"name":"x"}}]}}"#.to_owned(),
        r#"{"spec":{"containers":[{"name":"a","volumeMounts":"m"}]}}"#.to_owned(),
        r#"{"spec":{"initContainers":[{"name":1,"env":[1,null,{"name":2}]}],"volumes":{"a":1}}}"#
            .to_owned(),
        r#"{"spec":{"volumes":[1,{"name":"aws-iam-token"}],"securityContext":[],"nodeSelector":[1]}}"#
            .to_owned(),
        r#"{"spec":{"securityContext":{"fsGroup":null},"nodeSelector":{"kubernetes.io/os":"windows"}}}"#
            .to_owned(),
        r#"{"spec":null}"#.to_owned(),
        r#"{"spec":[]}"#.to_owned(),
        r#"{}"#.to_owned(),
        r#"{"metadata":null,"spec":{"serviceAccountName":null,"containers":null}}"#.to_owned(),
        // Annotations: non-string values, look-alike keys, an empty prefix.
        format!(
            r#"{{"metadata":{{"annotations":{{"{prefix}/fs-group":5,"x{prefix}/fs-group":"7","/skip-containers":"a","{prefix}/token-expiration":"3600"}}}},"spec":{{"containers":[{{"name":"a"}}]}}}}"#
        ),
        // Deep unknown fields, numbers of every kind, unicode.
        r#"{"spec":{"containers":[{"name":"é\u00e9","x":[[[[{"y":[1,-2,3.5e10,18446744073709551615,{"z":null}]}]]]],"env":[{"name":"AWS_ROLE_ARN","valueFrom":{"a":[true,false]}}]}]},"status":{"phase":"Pending"}}"#
            .to_owned(),
        // serde_json's private raw-value marker as a first key: `Value` parses the string it
        // holds as JSON, in kept and in skipped parts alike.
        r#"{"$serde_json::private::RawValue":"{\"spec\":{\"containers\":[{\"name\":\"a\",\"x\":1}]}}"}"#
            .to_owned(),
        r#"{"spec":{"containers":[{"$serde_json::private::RawValue":"{\"name\":\"b\"}"}]},"status":{"$serde_json::private::RawValue":"[1]"}}"#
            .to_owned(),
        r#"{"spec":{"containers":[{"name":"a","$serde_json::private::RawValue":"not first"}]}}"#
            .to_owned(),
        // Labels: the pod-identity label present, and with another value.
        r#"{"metadata":{"labels":{"eks.amazonaws.com/pod-identity":"enabled","a":"b"}},"spec":{"containers":[{"name":"a"}]}}"#
            .to_owned(),
        r#"{"metadata":{"labels":{"eks.amazonaws.com/pod-identity":false}},"spec":{"containers":[{"name":"a"}]}}"#
            .to_owned(),
    ];
    for (i, pod) in pods.iter().enumerate() {
        let body = format!(
            r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"u","namespace":"ns","object":{pod}}}}}"#
        );
        assert!(assert_same(&format!("awkward pod {i}: {pod}"), body.as_bytes()) > 0);
    }
}

/// Bodies a full decode rejects are rejected the same way, with the same message, even when
/// the fault is in a part of the pod the view does not keep.
#[test]
fn malformed_bodies_are_rejected_identically() {
    let wrap = |object: &str| {
        format!(
            r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"u","object":{object}}}}}"#
        )
        .into_bytes()
    };
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let mut bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b" ".to_vec(),
        b"{".to_vec(),
        br#"{"apiVersion":"admission.k8s.io/v1"}"#.to_vec(),
        wrap(r#""a pod""#),
        wrap("[]"),
        wrap("null"),
        wrap(r#"{"spec":{"containers":[{"name":"a","image":"x"}]"#),
        wrap(r#"{"spec":{},"status":{"n":1e400}}"#),
        wrap(r#"{"spec":{},"status":{"s":"\ud800"}}"#),
        wrap(r#"{"spec":{},"status":{"s":"\x"}}"#),
        wrap(r#"{"spec":{},"status":{"s":01}}"#),
        wrap(&format!(r#"{{"spec":{{}},"status":{deep}}}"#)),
        wrap(r#"{"spec":{},"status":{"a" 1}}"#),
        wrap(r#"{"spec":{},"status":[1,]}"#),
        br#"{"request":{"uid":5,"object":{}}}"#.to_vec(),
        br#"{"request":{"object":{},"object":{}}}"#.to_vec(),
        wrap(r#"{"$serde_json::private::RawValue":5}"#),
        wrap(r#"{"$serde_json::private::RawValue":"{oops"}"#),
        wrap(r#"{"spec":{},"status":{"$serde_json::private::RawValue":"[1"}}"#),
        wrap(r#"{"spec":{},"status":{"$serde_json::private::RawValue":7}}"#),
        wrap(r#"{"spec":{},"status":{"$serde_json::private::RawValue":"[1]","x":2}}"#),
        wrap(r#"{"spec":{"containers":[{"$serde_json::private::RawValue":"{}","name":"a"}]}}"#),
    ];
    // Invalid UTF-8 inside a skipped string.
    let mut invalid = wrap(r#"{"spec":{},"status":{"s":"AB"}}"#);
    let at = invalid.iter().position(|b| *b == b'A').unwrap();
    invalid[at] = 0xff;
    bodies.push(invalid);
    for body in &bodies {
        let full = admission::decode_whole(body);
        assert!(full.is_err(), "{}", String::from_utf8_lossy(body));
        assert_eq!(
            full.err(),
            admission::decode(body).err(),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}
