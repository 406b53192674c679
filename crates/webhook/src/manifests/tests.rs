use serde_json::{Value, json};

use super::*;

fn opts() -> ManifestOptions {
    ManifestOptions::new("irsa-system", "ghcr.io/example/irsa:v1")
}

fn docs(o: &ManifestOptions) -> Vec<Value> {
    build(o).unwrap().documents
}

fn find<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let mut it = docs.iter().filter(|d| d["kind"] == kind);
    let doc = it
        .next()
        .unwrap_or_else(|| panic!("no {kind} in the output"));
    assert!(it.next().is_none(), "more than one {kind}");
    doc
}

fn kinds(docs: &[Value]) -> Vec<String> {
    docs.iter()
        .map(|d| d["kind"].as_str().unwrap().to_owned())
        .collect()
}

fn container(docs: &[Value]) -> &Value {
    &find(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
}

#[test]
fn self_signed_emits_every_object_in_apply_order() {
    assert_eq!(
        kinds(&docs(&opts())),
        [
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Secret",
            "Service",
            "Deployment",
            "PodDisruptionBudget",
            "MutatingWebhookConfiguration"
        ]
    );
}

#[test]
fn cert_manager_emits_the_issuer_chain_instead_of_a_secret() {
    let o = ManifestOptions {
        cert_mode: CertMode::CertManager,
        ..opts()
    };
    let d = docs(&o);
    assert_eq!(
        kinds(&d),
        [
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Issuer",
            "Certificate",
            "Issuer",
            "Certificate",
            "Service",
            "Deployment",
            "PodDisruptionBudget",
            "MutatingWebhookConfiguration"
        ]
    );
    let mwc = find(&d, "MutatingWebhookConfiguration");
    assert_eq!(
        mwc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
        "irsa-system/pod-identity-webhook"
    );
    assert!(mwc["webhooks"][0]["clientConfig"].get("caBundle").is_none());
    // The injector reads the serving Certificate named in the annotation, whose Secret is the
    // one the Deployment mounts.
    let serving = d
        .iter()
        .find(|x| x["kind"] == "Certificate" && x["metadata"]["name"] == "pod-identity-webhook")
        .unwrap();
    assert_eq!(serving["spec"]["secretName"], "pod-identity-webhook-cert");
    assert_eq!(
        serving["spec"]["issuerRef"]["name"],
        "pod-identity-webhook-ca"
    );
    assert_eq!(
        serving["spec"]["dnsNames"],
        json!([
            "pod-identity-webhook",
            "pod-identity-webhook.irsa-system",
            "pod-identity-webhook.irsa-system.svc",
            "pod-identity-webhook.irsa-system.svc.cluster.local"
        ])
    );
    let ca = d
        .iter()
        .find(|x| x["kind"] == "Certificate" && x["spec"]["isCA"] == true)
        .unwrap();
    assert_eq!(
        ca["spec"]["issuerRef"]["name"],
        "pod-identity-webhook-selfsigned"
    );
    let ca_issuer = d
        .iter()
        .find(|x| x["kind"] == "Issuer" && x["spec"].get("ca").is_some())
        .unwrap();
    assert_eq!(
        ca_issuer["spec"]["ca"]["secretName"],
        ca["spec"]["secretName"]
    );
    let volume = &find(&d, "Deployment")["spec"]["template"]["spec"]["volumes"][0];
    assert_eq!(volume["secret"]["secretName"], "pod-identity-webhook-cert");
}

#[test]
fn rbac_is_read_only_serviceaccounts_unless_config_map_is_watched() {
    let d = docs(&opts());
    assert_eq!(
        find(&d, "ClusterRole")["rules"],
        json!([{ "apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["get", "list", "watch"] }])
    );
    assert!(
        !d.iter()
            .any(|x| x["kind"] == "Role" || x["kind"] == "RoleBinding")
    );
    let binding = find(&d, "ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["name"], "pod-identity-webhook");
    assert_eq!(
        binding["subjects"],
        json!([{ "kind": "ServiceAccount", "name": "pod-identity-webhook", "namespace": "irsa-system" }])
    );

    let mut o = opts();
    o.serve.watch_config_map = true;
    let d = docs(&o);
    let role = find(&d, "Role");
    assert_eq!(role["metadata"]["namespace"], "irsa-system");
    assert_eq!(
        role["rules"],
        json!([{ "apiGroups": [""], "resourceNames": ["pod-identity-webhook"], "resources": ["configmaps"], "verbs": ["get", "list", "watch"] }])
    );
    assert_eq!(
        find(&d, "RoleBinding")["roleRef"]["name"],
        role["metadata"]["name"]
    );
    assert!(
        container(&d)["args"]
            .as_array()
            .unwrap()
            .contains(&json!("--watch-config-map=true"))
    );
}

#[test]
fn deployment_runs_serve_with_upstream_flags() {
    let mut o = opts();
    o.serve.aws_default_region = Some("eu-west-1".into());
    o.serve.sts_regional_endpoint = true;
    o.serve.token_expiration = Some(3600);
    let d = docs(&o);
    let c = container(&d);
    assert_eq!(c["image"], "ghcr.io/example/irsa:v1");
    assert_eq!(
        c["args"],
        json!([
            "webhook",
            "serve",
            "--in-cluster=false",
            "--namespace=irsa-system",
            "--service-name=pod-identity-webhook",
            "--port=8443",
            "--metrics-port=9999",
            "--tls-cert=/etc/webhook/certs/tls.crt",
            "--tls-key=/etc/webhook/certs/tls.key",
            "--annotation-prefix=eks.amazonaws.com",
            "--token-audience=sts.amazonaws.com",
            "--aws-default-region=eu-west-1",
            "--sts-regional-endpoint=true",
            "--token-expiration=3600",
            "--logtostderr"
        ])
    );
    let default_args = container(&docs(&opts()))["args"].clone();
    assert!(!default_args.as_array().unwrap().iter().any(|a| {
        let a = a.as_str().unwrap();
        a.starts_with("--aws-default-region")
            || a.starts_with("--sts-regional")
            || a.starts_with("--watch-config-map")
    }));
}

#[test]
fn probes_hit_readyz_and_healthz_over_https() {
    let d = docs(&opts());
    let c = container(&d);
    assert_eq!(
        c["readinessProbe"]["httpGet"],
        json!({ "path": "/readyz", "port": "https", "scheme": "HTTPS" })
    );
    assert_eq!(
        c["livenessProbe"]["httpGet"],
        json!({ "path": "/healthz", "port": "https", "scheme": "HTTPS" })
    );
    assert_eq!(
        c["ports"][0],
        json!({ "containerPort": 8443, "name": "https", "protocol": "TCP" })
    );
    assert_eq!(c["resources"]["requests"]["memory"], "64Mi");
    assert_eq!(c["resources"]["limits"]["memory"], "256Mi");
}

#[test]
fn pods_are_locked_down_non_root() {
    let d = docs(&opts());
    let pod = &find(&d, "Deployment")["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let sc = &container(&d)["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["runAsUser"], 65532);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(pod["priorityClassName"], "system-cluster-critical");
    assert_eq!(pod["serviceAccountName"], "pod-identity-webhook");
    assert_eq!(pod["volumes"][0]["secret"]["defaultMode"], 0o440);
    let keys: Vec<_> = pod["topologySpreadConstraints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["topologyKey"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]
    );

    let o = ManifestOptions {
        priority_class_name: None,
        ..opts()
    };
    assert!(
        find(&docs(&o), "Deployment")["spec"]["template"]["spec"]
            .get("priorityClassName")
            .is_none()
    );
}

#[test]
fn webhook_registration_matches_the_contract() {
    let d = docs(&opts());
    let wh = &find(&d, "MutatingWebhookConfiguration")["webhooks"][0];
    assert_eq!(wh["admissionReviewVersions"], json!(["v1", "v1beta1"]));
    assert_eq!(wh["sideEffects"], "None");
    assert_eq!(wh["failurePolicy"], "Ignore");
    assert_eq!(wh["reinvocationPolicy"], "IfNeeded");
    assert_eq!(wh["timeoutSeconds"], 10);
    assert_eq!(
        wh["objectSelector"],
        json!({ "matchExpressions": [{ "key": SKIP_LABEL, "operator": "DoesNotExist" }] })
    );
    assert_eq!(
        wh["rules"],
        json!([{ "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"], "scope": "Namespaced" }])
    );
    assert_eq!(
        wh["clientConfig"]["service"],
        json!({ "name": "pod-identity-webhook", "namespace": "irsa-system", "path": "/mutate", "port": 443 })
    );
    // The webhook's own pods carry the skip label, so they never wait on themselves.
    let labels = &find(&d, "Deployment")["spec"]["template"]["metadata"]["labels"];
    assert_eq!(labels[SKIP_LABEL], "true");
    let svc = find(&d, "Service");
    assert_eq!(svc["spec"]["ports"][0]["port"], 443);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "https");
    assert_eq!(
        svc["spec"]["selector"],
        find(&d, "Deployment")["spec"]["selector"]["matchLabels"]
    );
}

#[test]
fn self_signed_secret_and_ca_bundle_agree() {
    use base64::Engine as _;
    let d = docs(&opts());
    let secret = find(&d, "Secret");
    assert_eq!(secret["type"], "kubernetes.io/tls");
    let b64 = |v: &Value| {
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    let ca = b64(&secret["data"]["ca.crt"]);
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(b64(&secret["data"]["tls.key"]).starts_with("-----BEGIN PRIVATE KEY-----"));
    let bundle =
        b64(&find(&d, "MutatingWebhookConfiguration")["webhooks"][0]["clientConfig"]["caBundle"]);
    assert_eq!(bundle, ca);
    assert!(
        find(&d, "MutatingWebhookConfiguration")["metadata"]
            .get("annotations")
            .is_none()
    );
}

#[test]
fn certificates_are_fresh_each_run() {
    let a = docs(&opts());
    let b = docs(&opts());
    assert_ne!(
        find(&a, "Secret")["data"]["tls.key"],
        find(&b, "Secret")["data"]["tls.key"]
    );
}

#[test]
fn single_replica_gets_no_pdb_and_namespace_is_opt_in() {
    let o = ManifestOptions {
        replicas: 1,
        create_namespace: true,
        ..opts()
    };
    let d = docs(&o);
    assert!(!kinds(&d).contains(&"PodDisruptionBudget".to_owned()));
    assert_eq!(d[0]["kind"], "Namespace");
    assert_eq!(d[0]["metadata"]["name"], "irsa-system");
    let pdb = find(&docs(&opts()), "PodDisruptionBudget").clone();
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(pdb["spec"]["unhealthyPodEvictionPolicy"], "AlwaysAllow");
}

#[test]
fn invalid_options_name_the_flag() {
    let cases: Vec<(ManifestOptions, &str)> = vec![
        (
            ManifestOptions {
                namespace: "Bad_NS".into(),
                ..opts()
            },
            "--namespace",
        ),
        (
            ManifestOptions {
                name: "1abc".into(),
                ..opts()
            },
            "--name",
        ),
        (
            ManifestOptions {
                image: "".into(),
                ..opts()
            },
            "--image",
        ),
        (
            ManifestOptions {
                image: "a b".into(),
                ..opts()
            },
            "--image",
        ),
        (
            ManifestOptions {
                replicas: 0,
                ..opts()
            },
            "--replicas",
        ),
        (
            ManifestOptions {
                timeout_seconds: 31,
                ..opts()
            },
            "--timeout-seconds",
        ),
        (
            ManifestOptions {
                port: 9999,
                ..opts()
            },
            "--port",
        ),
        (
            ManifestOptions {
                cert_mode: CertMode::SelfSigned { validity_days: 0 },
                ..opts()
            },
            "--cert-validity-days",
        ),
        (
            ManifestOptions {
                image_pull_policy: "Sometimes".into(),
                ..opts()
            },
            "--image-pull-policy",
        ),
    ];
    for (o, flag) in cases {
        let err = build(&o).unwrap_err().to_string();
        assert!(err.starts_with(&format!("invalid {flag}:")), "{err}");
    }
    let mut o = opts();
    o.serve.token_expiration = Some(599);
    assert!(
        build(&o)
            .unwrap_err()
            .to_string()
            .contains("--token-expiration")
    );
    o = opts();
    o.serve.annotation_prefix = "a/b".into();
    assert!(
        build(&o)
            .unwrap_err()
            .to_string()
            .contains("--annotation-prefix")
    );
}

#[test]
fn yaml_round_trips_to_the_same_documents() {
    let m = build(&opts()).unwrap();
    let yaml = m.to_yaml().unwrap();
    assert!(yaml.starts_with("---\n"));
    let parsed: Vec<Value> = serde_yaml::Deserializer::from_str(&yaml)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    assert_eq!(parsed, m.documents);
}

#[test]
fn extra_ca_bundle_is_appended_for_gapless_renewal_and_keys_are_refused() {
    use base64::Engine as _;
    let decode = |v: &Value| {
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    let first = docs(&opts());
    let old_ca = decode(&find(&first, "Secret")["data"]["ca.crt"]);
    let o = ManifestOptions {
        extra_ca_bundle: Some(format!("# current CA\n{old_ca}")),
        ..opts()
    };
    let second = docs(&o);
    let new_ca = decode(&find(&second, "Secret")["data"]["ca.crt"]);
    let bundle = decode(
        &find(&second, "MutatingWebhookConfiguration")["webhooks"][0]["clientConfig"]["caBundle"],
    );
    assert_eq!(bundle, format!("{new_ca}{old_ca}"));
    assert_ne!(new_ca, old_ca);

    let key = decode(&find(&first, "Secret")["data"]["tls.key"]);
    for (bad, why) in [
        (format!("{old_ca}{key}"), "PRIVATE KEY block"),
        ("nothing here".to_owned(), "holds no certificate"),
        (
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n".to_owned(),
            "not valid PEM",
        ),
    ] {
        let o = ManifestOptions {
            extra_ca_bundle: Some(bad),
            ..opts()
        };
        let Err(err) = build(&o) else {
            panic!("accepted an extra CA bundle that should fail with {why:?}")
        };
        let err = err.to_string();
        assert!(
            err.starts_with("invalid --extra-ca-bundle") && err.contains(why),
            "{err}"
        );
        assert!(
            !err.contains("BEGIN PRIVATE KEY") && !err.contains(&key[40..80]),
            "{err}"
        );
    }
    let o = ManifestOptions {
        extra_ca_bundle: Some(old_ca),
        cert_mode: CertMode::CertManager,
        ..opts()
    };
    assert!(
        build(&o)
            .unwrap_err()
            .to_string()
            .contains("--self-signed only")
    );
}

#[test]
fn debug_output_never_shows_the_private_key() {
    let m = build(&opts()).unwrap();
    let key = find(&m.documents, "Secret")["data"]["tls.key"]
        .as_str()
        .unwrap()
        .to_owned();
    let debug = format!("{m:?}");
    assert!(!debug.contains(&key[..40]), "{debug}");
    assert!(
        debug.contains("Secret/pod-identity-webhook-cert"),
        "{debug}"
    );
}

#[test]
fn name_limits_follow_kubernetes() {
    let ok = |o: ManifestOptions| build(&o).map(|_| ()).map_err(|e| e.to_string());
    assert!(
        ok(ManifestOptions {
            namespace: "n".repeat(63),
            ..opts()
        })
        .is_ok()
    );
    assert!(
        ok(ManifestOptions {
            namespace: "n".repeat(64),
            ..opts()
        })
        .unwrap_err()
        .contains("--namespace")
    );
    assert!(
        ok(ManifestOptions {
            namespace: "0ns".into(),
            ..opts()
        })
        .is_ok()
    );
    assert!(
        ok(ManifestOptions {
            name: "w".repeat(52),
            ..opts()
        })
        .is_ok()
    );
    assert!(
        ok(ManifestOptions {
            name: "w".repeat(53),
            ..opts()
        })
        .unwrap_err()
        .contains("--name")
    );
    assert!(
        ok(ManifestOptions {
            name: "a.b".into(),
            ..opts()
        })
        .is_err()
    );
    assert!(
        ok(ManifestOptions {
            priority_class_name: Some("tier.example-high".into()),
            ..opts()
        })
        .is_ok()
    );
    assert!(
        ok(ManifestOptions {
            priority_class_name: Some("tier..x".into()),
            ..opts()
        })
        .is_err()
    );
    assert!(
        ok(ManifestOptions {
            namespace: "ns-".into(),
            ..opts()
        })
        .is_err()
    );
}
