//! `admission::decode` decodes the usual bodies with a hand-written scanner straight into the
//! view of the pod fields the mutation reads, and leaves everything else to serde
//! (`admission::decode_whole`). The scanner may decline any body, but when it answers, the
//! answer must be serde's: the same request, and the same view as the whole pod's. This checks it on every pod fixture
//! (compact and pretty-printed), where the scanner must answer, and on thousands of corrupted
//! copies of them (bytes replaced, removed or added), where it mostly must not.

use irsa_webhook::admission;
use serde_json::{Value, json};

#[path = "../../mutate/tests/common/mod.rs"]
mod fixtures;
use fixtures::{all_fixture_files, upstream_fixtures_dir};

/// Compares the scanner's answer on `body` with serde's. Returns whether the scanner answered.
fn check(what: &str, body: &[u8]) -> bool {
    let Some(fast) = admission::decode_fast(body) else {
        return false;
    };
    let slow = match admission::decode_whole(body) {
        Ok(r) => r,
        Err(rejection) => panic!(
            "{what}: the scanner accepted a body serde rejects ({}): {}",
            rejection.message,
            String::from_utf8_lossy(body)
        ),
    };
    assert_eq!(
        fast,
        slow.view(),
        "{what}: {}",
        String::from_utf8_lossy(body)
    );
    true
}

fn bodies() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for path in all_fixture_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        let pod: Value = serde_yaml::from_str(&text).unwrap();
        let review = json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "namespace": "default",
                "operation": "CREATE",
                "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
                "object": pod,
                "dryRun": false,
            }
        });
        let name = path.display().to_string();
        out.push((
            format!("{name} (pretty)"),
            serde_json::to_vec_pretty(&review).unwrap(),
        ));
        out.push((name, serde_json::to_vec(&review).unwrap()));
    }
    let request = upstream_fixtures_dir().join("hack/request.json");
    match std::fs::read(&request) {
        Ok(body) => out.push(("hack/request.json".into(), body)),
        Err(_) => println!("{} not found: not checked", request.display()),
    }
    out
}

#[test]
fn the_scanner_answers_every_fixture_as_serde_does() {
    let bodies = bodies();
    for (what, body) in &bodies {
        assert!(
            check(what, body),
            "{what}: the scanner declined a plain review"
        );
    }
    println!(
        "{} bodies decoded by the scanner, all equal to serde's",
        bodies.len()
    );
}

#[test]
fn the_scanner_never_disagrees_with_serde_on_corrupted_bodies() {
    // Bytes that matter to a JSON scanner, and some that must be refused inside strings.
    const BYTES: &[u8] = b"\"\\{}[]:,0-1e.E+ un/\t\n\x00\x1f\x7f\xc3\xa9\xff\xed";
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (mut tried, mut answered) = (0, 0);
    for (what, body) in bodies() {
        for _ in 0..300 {
            let mut b = body.clone();
            let at = (next() % b.len() as u64) as usize;
            let byte = BYTES[(next() % BYTES.len() as u64) as usize];
            match next() % 3 {
                0 => b[at] = byte,
                1 => {
                    b.remove(at);
                }
                _ => b.insert(at, byte),
            }
            tried += 1;
            if check(&format!("{what}, corrupted at {at}"), &b) {
                answered += 1;
            }
        }
    }
    // Many corruptions stay valid JSON (a changed letter in a string): the scanner answers
    // those; many others do not, and it must decline them.
    assert!(answered > 0 && answered < tried, "{answered} of {tried}");
    println!("{tried} corrupted bodies: the scanner answered {answered}, all equal to serde's");
}
