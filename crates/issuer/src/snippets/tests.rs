use serde_yaml::Value;

use super::*;
use crate::url::IssuerPolicy;

const SIGNING_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEA\n-----END PRIVATE KEY-----\n";
const PUBLIC_PEM: &str =
    "-----BEGIN PUBLIC KEY-----\nMFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAK\n-----END PUBLIC KEY-----\n";

fn render(distro: Distro, keep: Option<&str>) -> String {
    let issuer = IssuerUrl::parse("https://oidc.example.com", IssuerPolicy::Aws).unwrap();
    snippet(&FlagsInput {
        distro,
        issuer: &issuer,
        jwks_uri: "https://oidc.example.com/keys.json",
        keep_issuer: keep,
        signing_key_path: "/home/me/keys/private.pem",
        public_key_path: "/home/me/keys/public.pem",
        signing_key_pem: SIGNING_PEM,
        public_key_pem: PUBLIC_PEM,
        kid: Some("KID"),
    })
}

fn yaml(distro: Distro, keep: Option<&str>) -> Value {
    let text = render(distro, keep);
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{distro}: {e}\n{text}"))
}

fn strs(v: &Value) -> Vec<String> {
    v.as_sequence()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect()
}

/// Every string value in a YAML tree (comments are not values).
fn all_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            out.push(s.clone());
            if let Ok(inner) = serde_yaml::from_str::<Value>(s)
                && inner.is_mapping()
            {
                all_strings(&inner, out);
            }
        }
        Value::Sequence(seq) => seq.iter().for_each(|x| all_strings(x, out)),
        Value::Mapping(m) => m.iter().for_each(|(k, x)| {
            all_strings(k, out);
            all_strings(x, out);
        }),
        _ => {}
    }
}

#[test]
fn distro_names_round_trip() {
    for d in Distro::ALL {
        assert_eq!(d.name().parse::<Distro>(), Ok(d));
    }
    assert_eq!("K3S".parse::<Distro>(), Ok(Distro::K3s));
    assert!("minikube".parse::<Distro>().is_err());
}

#[test]
fn sts_audience_is_never_configured_only_explained() {
    for d in Distro::ALL {
        for keep in [None, Some("sts.amazonaws.com")] {
            let text = render(d, keep);
            assert!(
                text.contains("never put sts.amazonaws.com in --api-audiences"),
                "{d}"
            );
            let config_lines: Vec<&str> = text
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .filter(|l| {
                    l.contains("api-audiences")
                        || l.contains("apiAudiences")
                        || l.starts_with("  - ")
                })
                .collect();
            for line in config_lines {
                assert!(!line.contains("sts.amazonaws.com"), "{d}: {line}");
            }
        }
    }
}

#[test]
fn microk8s_args_file() {
    let text = render(Distro::Microk8s, None);
    let flags: Vec<&str> = text.lines().filter(|l| l.starts_with("--")).collect();
    assert_eq!(
        flags,
        vec![
            "--service-account-issuer=https://oidc.example.com",
            "--service-account-issuer=https://kubernetes.default.svc",
            "--service-account-key-file=${SNAP_DATA}/certs/irsa-sa.pub",
            "--service-account-signing-key-file=${SNAP_DATA}/certs/irsa-sa.key",
            "--service-account-jwks-uri=https://oidc.example.com/keys.json",
            "--api-audiences=https://kubernetes.default.svc",
        ]
    );
    // Every other line is a comment: the file stays valid if pasted whole.
    assert!(
        text.lines()
            .all(|l| l.starts_with("--") || l.starts_with('#'))
    );
    assert!(text.contains("#      --service-account-issuer='https://kubernetes.default.svc'"));
    assert!(text.contains("sudo snap restart microk8s"));
}

#[test]
fn kubeadm_v1beta4_repeats_issuer_and_key_file() {
    let v = yaml(Distro::Kubeadm, Some("https://old.example.com"));
    assert_eq!(v["apiVersion"], "kubeadm.k8s.io/v1beta4");
    assert_eq!(v["kind"], "ClusterConfiguration");
    let args: Vec<(String, String)> = v["apiServer"]["extraArgs"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().into(),
                a["value"].as_str().unwrap().into(),
            )
        })
        .collect();
    let values = |name: &str| -> Vec<&str> {
        args.iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(
        values("service-account-issuer"),
        vec!["https://oidc.example.com", "https://old.example.com"]
    );
    assert_eq!(
        values("service-account-key-file"),
        vec![
            "/etc/kubernetes/pki/sa.pub",
            "/etc/kubernetes/pki/irsa/sa.pub"
        ]
    );
    assert_eq!(
        values("service-account-signing-key-file"),
        vec!["/etc/kubernetes/pki/irsa/sa.key"]
    );
    assert_eq!(
        values("api-audiences"),
        vec!["https://kubernetes.default.svc.cluster.local,https://old.example.com"]
    );
}

#[test]
fn kind_config_mounts_the_local_keys() {
    let v = yaml(Distro::Kind, None);
    assert_eq!(v["kind"], "Cluster");
    assert_eq!(v["apiVersion"], "kind.x-k8s.io/v1alpha4");
    let node = &v["nodes"][0];
    assert_eq!(node["role"], "control-plane");
    assert_eq!(
        node["extraMounts"][0]["hostPath"],
        "/home/me/keys/private.pem"
    );
    assert_eq!(
        node["extraMounts"][0]["containerPath"],
        "/etc/kubernetes/pki/irsa/sa.key"
    );
    assert_eq!(
        node["extraMounts"][1]["hostPath"],
        "/home/me/keys/public.pem"
    );
    let patch: Value =
        serde_yaml::from_str(node["kubeadmConfigPatches"][0].as_str().unwrap()).unwrap();
    assert_eq!(patch["kind"], "ClusterConfiguration");
    let extra = &patch["apiServer"]["extraArgs"];
    assert_eq!(extra["service-account-issuer"], "https://oidc.example.com");
    assert_eq!(
        extra["service-account-jwks-uri"],
        "https://oidc.example.com/keys.json"
    );
    assert_eq!(
        extra["service-account-key-file"],
        "/etc/kubernetes/pki/irsa/sa.pub"
    );
    assert_eq!(
        extra["service-account-signing-key-file"],
        "/etc/kubernetes/pki/irsa/sa.key"
    );
    assert_eq!(
        extra["api-audiences"],
        "https://kubernetes.default.svc.cluster.local"
    );
}

#[test]
fn k3s_and_rke2_keep_repeated_args_in_order() {
    let v = yaml(Distro::K3s, None);
    assert_eq!(
        strs(&v["kube-apiserver-arg"]),
        vec![
            "service-account-issuer=https://oidc.example.com",
            "service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "service-account-jwks-uri=https://oidc.example.com/keys.json",
            "service-account-key-file=/var/lib/rancher/k3s/server/tls/service.key",
            "service-account-key-file=/etc/irsa/sa.pub",
            "service-account-signing-key-file=/etc/irsa/sa.key",
            "api-audiences=https://kubernetes.default.svc.cluster.local,k3s",
        ]
    );
    let v = yaml(Distro::Rke2, None);
    let args = strs(&v["kube-apiserver-arg"]);
    assert!(args.contains(
        &"service-account-key-file=/var/lib/rancher/rke2/server/tls/service.key".to_owned()
    ));
    assert!(args.contains(
        &"service-account-signing-key-file=/var/lib/rancher/rke2/server/tls/irsa-sa.key".to_owned()
    ));
    assert!(render(Distro::Rke2, None).contains("systemctl restart rke2-server"));
}

#[test]
fn kops_spec_carries_file_assets_and_the_kept_issuer() {
    let v = yaml(Distro::Kops, Some("https://api.internal.example.k8s.local"));
    let spec = &v["spec"];
    let assets = spec["fileAssets"].as_sequence().unwrap();
    assert_eq!(
        assets[0]["path"],
        "/srv/kubernetes/kube-apiserver/irsa-sa.key"
    );
    assert_eq!(assets[0]["content"].as_str().unwrap(), SIGNING_PEM);
    assert_eq!(assets[1]["content"].as_str().unwrap(), PUBLIC_PEM);
    let api = &spec["kubeAPIServer"];
    assert_eq!(api["serviceAccountIssuer"], "https://oidc.example.com");
    assert_eq!(
        strs(&api["additionalServiceAccountIssuers"]),
        vec!["https://api.internal.example.k8s.local"]
    );
    assert_eq!(
        api["serviceAccountJWKSURI"],
        "https://oidc.example.com/keys.json"
    );
    assert_eq!(
        strs(&api["serviceAccountKeyFile"]),
        vec![
            "/srv/kubernetes/kube-apiserver/service-account.pub",
            "/srv/kubernetes/kube-apiserver/irsa-sa.pub"
        ]
    );
    assert_eq!(
        strs(&api["apiAudiences"]),
        vec!["https://api.internal.example.k8s.local"]
    );
    // Without a known old issuer, the audiences are left alone and the reason is given.
    let v = yaml(Distro::Kops, None);
    assert!(v["spec"]["kubeAPIServer"].get("apiAudiences").is_none());
    assert!(
        v["spec"]["kubeAPIServer"]
            .get("additionalServiceAccountIssuers")
            .is_none()
    );
}

#[test]
fn talos_patch_embeds_the_signing_key() {
    let v = yaml(Distro::Talos, None);
    let key = v["cluster"]["serviceAccount"]["key"].as_str().unwrap();
    assert_eq!(key, base64_std(SIGNING_PEM.as_bytes()));
    let extra = &v["cluster"]["apiServer"]["extraArgs"];
    assert_eq!(extra["service-account-issuer"], "https://oidc.example.com");
    assert!(extra.get("api-audiences").is_none());
    let v = yaml(Distro::Talos, Some("https://10.0.0.1:6443"));
    assert_eq!(
        v["cluster"]["apiServer"]["extraArgs"]["api-audiences"],
        "https://10.0.0.1:6443"
    );
}

#[test]
fn base64_matches_rfc4648_vectors() {
    for (input, out) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64_std(input.as_bytes()), out);
    }
}

#[test]
fn no_yaml_value_names_sts() {
    for d in Distro::ALL.into_iter().filter(|d| d.is_yaml()) {
        let mut values = Vec::new();
        all_strings(&yaml(d, Some("https://old.example.com")), &mut values);
        assert!(values.iter().all(|s| !s.contains(STS_AUDIENCE)), "{d}");
    }
}

#[test]
fn keeping_the_new_issuer_is_a_no_op() {
    let text = render(Distro::K3s, Some("https://oidc.example.com"));
    assert_eq!(text.matches("service-account-issuer=").count(), 1);
}
