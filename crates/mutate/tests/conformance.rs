//! Upstream's 24 mutation fixtures (read from shared/conformance, never copied), compared
//! semantically: the expected patch and ours are applied to the input pod and the two results
//! must be equal, modulo Go re-serialization artefacts and fields upstream drops (#208).

mod common;

use common::{apply, fixture_files, load, normalize, run, upstream_fixtures_dir};

/// Fields upstream drops because its Go structs do not know them, and that irsa keeps on
/// purpose: (fixture, JSON pointer in the mutated pod).
const KEPT_UNKNOWN_FIELDS: &[(&str, &str)] = &[(
    "rawPodHasVolumeMount.pod.yaml",
    "/spec/containers/0/volumeMounts/0/path",
)];

fn fixtures() -> Option<Vec<std::path::PathBuf>> {
    let dir = upstream_fixtures_dir();
    if !dir.is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "conformance fixtures not found at {} (CI is set)",
            dir.display()
        );
        println!(
            "conformance fixtures not found at {}: NOT RUN",
            dir.display()
        );
        return None;
    }
    Some(fixture_files(&dir))
}

#[test]
fn upstream_fixtures_match_semantically() {
    let Some(files) = fixtures() else { return };
    assert_eq!(
        files.len(),
        24,
        "expected upstream's 24 fixtures in {}",
        upstream_fixtures_dir().display()
    );
    let mut checked = 0;
    for path in &files {
        let Some(fixture) = load(path) else { continue };
        let name = path
            .strip_prefix(upstream_fixtures_dir())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let mutation = run(&fixture);
        let ours_patch = serde_json::to_value(&mutation.patch).unwrap();
        let mut expected = apply(
            &fixture.pod,
            &fixture.expected_patch,
            &format!("{name} expected"),
        );
        let mut ours = apply(&fixture.pod, &ours_patch, &format!("{name} ours"));
        for (file, pointer) in KEPT_UNKNOWN_FIELDS {
            if name.ends_with(file) {
                let (parent, key) = pointer.rsplit_once('/').unwrap();
                let removed = ours
                    .pointer_mut(parent)
                    .and_then(|p| p.as_object_mut()?.remove(key));
                assert!(removed.is_some(), "{name}: irsa should have kept {pointer}");
            }
        }
        normalize(&mut expected);
        normalize(&mut ours);
        assert_eq!(
            ours,
            expected,
            "{name}: mutated pods differ\nours:     {}\nexpected: {}",
            serde_json::to_string(&ours_patch).unwrap(),
            serde_json::to_string(&fixture.expected_patch).unwrap()
        );
        checked += 1;
    }
    assert_eq!(
        checked, 24,
        "every upstream fixture is checked (none is marked skip)"
    );
}

/// Reinvocation over the whole corpus: mutating the mutated pod again adds nothing.
#[test]
fn upstream_fixtures_reinvocation_adds_nothing() {
    let Some(files) = fixtures() else { return };
    for path in &files {
        let Some(mut fixture) = load(path) else {
            continue;
        };
        let mutation = run(&fixture);
        let patch = serde_json::to_value(&mutation.patch).unwrap();
        fixture.pod = apply(&fixture.pod, &patch, &path.display().to_string());
        let again = run(&fixture);
        assert!(
            again.patch.0.is_empty(),
            "{}: second mutation is not empty: {}",
            path.display(),
            serde_json::to_string(&again.patch).unwrap()
        );
        assert_eq!(again.mode, mutation.mode);
    }
}
