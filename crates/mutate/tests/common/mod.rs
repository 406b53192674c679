//! Fixture runner shared by the conformance test (upstream's 24 fixtures) and our own fixtures.
//!
//! A fixture is a Pod manifest whose `testing.eks.amazonaws.com/...` annotations configure the
//! case (vocabulary: shared/conformance/pod-identity-webhook/README.md), plus irsa's own
//! `testing.irsa.dev/...` controls:
//! - `serviceAccount/absent: "true"`: the ServiceAccount is not in the cache;
//! - `configMap`: `data.config` of the `pod-identity-webhook` ConfigMap;
//! - `handler/defaultFsGroup`: `--default-fs-group`;
//! - `handler/annotationPrefix`: `--annotation-prefix`;
//! - `namespace`: the namespace (default `default`);
//! - `expectedMode`: `none`, `irsa` or `container-credentials`;
//! - `expectedWarnings`: a JSON array of substrings, one per expected warning, in order.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use irsa_mutate::{
    Associations, Config, ConfigMapMappings, Mode, Mutation, ServiceAccountInfo,
    ServiceAccountLookup,
};
use serde_json::Value;

const UPSTREAM: &str = "testing.eks.amazonaws.com/";
const OURS: &str = "testing.irsa.dev/";

/// One parsed fixture.
pub struct Fixture {
    pub path: PathBuf,
    pub pod: Value,
    pub expected_patch: Value,
}

/// Every `*.pod.yaml` under `dir`, recursively, sorted.
pub fn fixture_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(".pod.yaml") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Parses a fixture; `None` when it is marked skip.
pub fn load(path: &Path) -> Option<Fixture> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut pod: Value = serde_yaml::from_str(&text)
        .unwrap_or_else(|e| panic!("{}: invalid YAML: {e}", path.display()));
    let skip = annotation(&pod, &format!("{UPSTREAM}skip")).as_deref() == Some("true");
    if skip {
        return None;
    }
    let expected = annotation(&pod, &format!("{UPSTREAM}expectedPatch"))
        .unwrap_or_else(|| panic!("{}: no expectedPatch annotation", path.display()));
    let expected_patch = serde_json::from_str(&expected)
        .unwrap_or_else(|e| panic!("{}: expectedPatch is not JSON: {e}", path.display()));
    // As upstream's runner: the SA is always default/default.
    pod["spec"]["serviceAccountName"] = Value::from("default");
    Some(Fixture {
        path: path.to_path_buf(),
        pod,
        expected_patch,
    })
}

pub fn annotation(pod: &Value, key: &str) -> Option<String> {
    pod.pointer("/metadata/annotations")?
        .get(key)?
        .as_str()
        .map(str::to_owned)
}

/// The webhook settings a fixture asks for through its `testing.*` annotations (flags of the
/// handler, and the container-credentials settings when it sets `containercredentials/uri`).
/// Panics on a value that does not parse: a fixture must say what it means.
pub fn fixture_config(pod: &Value) -> Config {
    let up = |k: &str| annotation(pod, &format!("{UPSTREAM}{k}"));
    let ours = |k: &str| annotation(pod, &format!("{OURS}{k}"));
    let mut config = Config::default();
    if let Some(prefix) = ours("handler/annotationPrefix") {
        config.annotation_prefix = prefix;
    }
    config.region = up("handler/region");
    if let Some(p) = up("handler/mountPath") {
        config.mount_path = p;
    }
    config.regional_sts = up("handler/injectSTS").as_deref() == Some("true");
    if let Some(e) = up("handler/expiration") {
        config.token_expiration = e.parse().unwrap();
    }
    config.default_fs_group = ours("handler/defaultFsGroup").map(|g| g.parse().unwrap());
    if let Some(uri) = up("containercredentials/uri") {
        let cc = &mut config.container_credentials;
        cc.full_uri = uri;
        let fields: [(&str, &mut String); 4] = [
            ("audience", &mut cc.audience),
            ("mountPath", &mut cc.mount_path),
            ("volumeName", &mut cc.volume_name),
            ("tokenPath", &mut cc.token_path),
        ];
        for (key, slot) in fields {
            if let Some(v) = up(&format!("containercredentials/{key}")) {
                *slot = v;
            }
        }
    }
    config
}

/// Runs the mutation the fixture describes, with a random source that always returns 0.
pub fn run(fixture: &Fixture) -> Mutation {
    let pod = &fixture.pod;
    let up = |k: &str| annotation(pod, &format!("{UPSTREAM}{k}"));
    let ours = |k: &str| annotation(pod, &format!("{OURS}{k}"));
    let config = fixture_config(pod);

    // The fake ServiceAccount default/default, annotated as the fixture says.
    let p = config.annotation_prefix.clone();
    let mut sa = BTreeMap::new();
    if let Some(v) = up("serviceAccount/roleArn") {
        sa.insert(format!("{p}/role-arn"), v);
    }
    sa.insert(
        format!("{p}/audience"),
        up("serviceAccount/audience").unwrap_or_else(|| "sts.amazonaws.com".into()),
    );
    if let Some(v) = up("serviceAccount/sts-regional-endpoints") {
        sa.insert(format!("{p}/sts-regional-endpoints"), v);
    }
    if let Some(v) = up("serviceAccount/token-expiration") {
        sa.insert(format!("{p}/token-expiration"), v);
    }
    let info = ServiceAccountInfo::from_annotations(&sa, &p);
    let cached = (ours("serviceAccount/absent").as_deref() != Some("true")).then_some(&info);

    let namespace = ours("namespace").unwrap_or_else(|| "default".into());
    let mut associations = Associations::default();
    if up("containercredentials/uri").is_some() {
        associations.insert(namespace.clone(), "default");
    }
    let mappings = ours("configMap")
        .map(|c| ConfigMapMappings::parse(&c).unwrap())
        .unwrap_or_default();
    let lookup =
        ServiceAccountLookup::cached(cached).with_config_map(mappings.get(&namespace, "default"));
    let mutation =
        irsa_mutate::mutate(pod, &namespace, &lookup, &associations, &config, &mut |_| 0)
            .unwrap_or_else(|e| panic!("{}: mutate failed: {e}", fixture.path.display()));

    if let Some(mode) = ours("expectedMode") {
        let want = match mode.as_str() {
            "none" => Mode::None,
            "irsa" => Mode::Irsa,
            "container-credentials" => Mode::ContainerCredentials,
            other => panic!("unknown expectedMode {other}"),
        };
        assert_eq!(mutation.mode, want, "{}: mode", fixture.path.display());
    }
    let expected_warnings: Vec<String> = ours("expectedWarnings")
        .map(|w| serde_json::from_str(&w).unwrap())
        .unwrap_or_default();
    assert_eq!(
        mutation.warnings.len(),
        expected_warnings.len(),
        "{}: warnings {:?}",
        fixture.path.display(),
        mutation.warnings
    );
    for (got, want) in mutation.warnings.iter().zip(&expected_warnings) {
        assert!(
            got.contains(want.as_str()),
            "{}: warning {got:?} lacks {want:?}",
            fixture.path.display()
        );
    }
    mutation
}

/// Applies a JSON Patch (as JSON) to a copy of `pod`.
pub fn apply(pod: &Value, patch: &Value, what: &str) -> Value {
    let patch: json_patch::Patch = serde_json::from_value(patch.clone())
        .unwrap_or_else(|e| panic!("{what}: not a JSON Patch: {e}"));
    let mut out = pod.clone();
    json_patch::patch(&mut out, &patch).unwrap_or_else(|e| panic!("{what}: does not apply: {e}"));
    out
}

/// Removes what Go's re-serialization of containers adds but means nothing: `null` values,
/// empty objects (`"resources":{}`) and empty strings (`"mountPath":""` for a missing field).
pub fn normalize(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for v in map.values_mut() {
                normalize(v);
            }
            map.retain(|_, v| {
                !(v.is_null()
                    || v.as_object().is_some_and(|o| o.is_empty())
                    || v.as_str() == Some(""))
            });
        }
        Value::Array(items) => items.iter_mut().for_each(normalize),
        _ => {}
    }
}

/// irsa's own fixtures (`crates/mutate/testdata`). Spelled from the sibling directory so the
/// path is also right when another crate's tests include this module (`#[path]`).
pub fn own_fixtures_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../mutate/testdata"))
}

/// irsa's own fixture files, then upstream's when `shared/conformance/` is there (saying so
/// when it is not).
pub fn all_fixture_files() -> Vec<PathBuf> {
    let mut files = fixture_files(&own_fixtures_dir());
    assert!(files.len() >= 19, "own fixtures missing");
    let upstream = upstream_fixtures_dir();
    if upstream.is_dir() {
        let theirs = fixture_files(&upstream);
        assert!(
            theirs.len() >= 24,
            "upstream fixtures missing in {}",
            upstream.display()
        );
        files.extend(theirs);
    } else {
        println!(
            "upstream fixtures not found at {}: only irsa's own fixtures ran",
            upstream.display()
        );
    }
    files
}

/// Upstream's fixtures in `shared/conformance/` next to the repository (present in CI; a
/// user's clone may not have it, and tests then say that they did not run them).
pub fn upstream_fixtures_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/conformance/pod-identity-webhook"
    ))
}
