//! irsa's own fixtures (crates/mutate/testdata), written from the behaviour reference. The
//! expected patch is compared exactly (irsa's surgical layout), then applied, then the mutated
//! pod is mutated again and must yield an empty patch (reinvocation).

mod common;

use common::{apply, fixture_files, load, own_fixtures_dir, run};

#[test]
fn own_fixtures_produce_the_exact_expected_patch() {
    let files = fixture_files(&own_fixtures_dir());
    assert!(
        files.len() >= 19,
        "fixtures missing in {}",
        own_fixtures_dir().display()
    );
    for path in &files {
        let fixture = load(path).expect("own fixtures are never skipped");
        let name = path.file_name().unwrap().to_string_lossy();
        let mutation = run(&fixture);
        let ours = serde_json::to_value(&mutation.patch).unwrap();
        assert_eq!(
            ours,
            fixture.expected_patch,
            "{name}: patch differs\nours:     {}\nexpected: {}",
            serde_json::to_string(&ours).unwrap(),
            serde_json::to_string(&fixture.expected_patch).unwrap()
        );
        let mutated = apply(&fixture.pod, &ours, &name);

        let mut again = load(path).unwrap();
        again.pod = mutated;
        let second = run(&again);
        assert!(
            second.patch.0.is_empty(),
            "{name}: reinvocation is not empty: {}",
            serde_json::to_string(&second.patch).unwrap()
        );
    }
}

#[test]
fn unknown_container_fields_survive() {
    let fixture = load(&own_fixtures_dir().join("irsaUnknownFieldsKept.pod.yaml")).unwrap();
    let patch = serde_json::to_value(run(&fixture).patch).unwrap();
    let pod = apply(&fixture.pod, &patch, "irsaUnknownFieldsKept");
    assert_eq!(pod["spec"]["containers"][0]["futureField"]["answer"], 42);
    assert_eq!(pod["spec"]["initContainers"][0]["restartPolicy"], "Always");
    assert_eq!(
        pod["spec"]["initContainers"][0]["resizePolicy"][0]["resourceName"],
        "cpu"
    );
    // No gRPC "service": null or "resources": {} is invented.
    assert!(
        pod["spec"]["containers"][0]["readinessProbe"]["grpc"]
            .get("service")
            .is_none()
    );
    assert!(pod["spec"]["containers"][0].get("resources").is_none());
}
