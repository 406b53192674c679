//! kube-apiserver configuration per Kubernetes distribution.
//!
//! Pure text generation. Every snippet follows the same plan, written the way each
//! distribution wants it:
//! - the new issuer first (it signs new tokens), the old issuer after it (still accepted), so
//!   tokens already in pods keep verifying (`--service-account-issuer` may repeat since 1.22);
//! - the new public key as an extra `--service-account-key-file`, the old key kept;
//! - the new private key as `--service-account-signing-key-file`;
//! - `--service-account-jwks-uri` pointing at the published JWKS;
//! - `--api-audiences` set explicitly to what the cluster accepted before, and never to
//!   `sts.amazonaws.com`.

use std::fmt::{self, Write as _};
use std::str::FromStr;

use crate::url::IssuerUrl;

/// The audience AWS STS expects; it must never be an API audience.
pub const STS_AUDIENCE: &str = "sts.amazonaws.com";

/// A Kubernetes distribution we write configuration for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distro {
    /// Canonical MicroK8s (args files).
    Microk8s,
    /// kops (cluster spec).
    Kops,
    /// kind (cluster config).
    Kind,
    /// K3s (config.yaml).
    K3s,
    /// kubeadm (ClusterConfiguration v1beta4).
    Kubeadm,
    /// RKE2 (config.yaml).
    Rke2,
    /// Talos (machine config patch).
    Talos,
}

impl Distro {
    /// Every distribution, in the order of `--help`.
    pub const ALL: [Distro; 7] = [
        Distro::Microk8s,
        Distro::Kops,
        Distro::Kind,
        Distro::K3s,
        Distro::Kubeadm,
        Distro::Rke2,
        Distro::Talos,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Distro::Microk8s => "microk8s",
            Distro::Kops => "kops",
            Distro::Kind => "kind",
            Distro::K3s => "k3s",
            Distro::Kubeadm => "kubeadm",
            Distro::Rke2 => "rke2",
            Distro::Talos => "talos",
        }
    }

    /// Whether the snippet is YAML (else it is an args file).
    pub fn is_yaml(self) -> bool {
        self != Distro::Microk8s
    }

    /// The issuer the distribution uses out of the box, if it is a fixed value.
    pub fn default_issuer(self) -> Option<&'static str> {
        match self {
            Distro::Microk8s => Some("https://kubernetes.default.svc"),
            Distro::Kind | Distro::Kubeadm | Distro::K3s | Distro::Rke2 => {
                Some("https://kubernetes.default.svc.cluster.local")
            }
            // kops: https://api.internal.<cluster name>; Talos: the control-plane endpoint.
            Distro::Kops | Distro::Talos => None,
        }
    }

    /// The API audiences the distribution accepts out of the box, if fixed.
    fn default_audiences(self) -> &'static [&'static str] {
        match self {
            Distro::Microk8s => &["https://kubernetes.default.svc"],
            Distro::K3s => &["https://kubernetes.default.svc.cluster.local", "k3s"],
            Distro::Kind | Distro::Kubeadm | Distro::Rke2 => {
                &["https://kubernetes.default.svc.cluster.local"]
            }
            Distro::Kops | Distro::Talos => &[],
        }
    }
}

impl fmt::Display for Distro {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown distribution name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown distribution {0:?}; use one of microk8s, kops, kind, k3s, kubeadm, rke2, talos")]
pub struct UnknownDistro(pub String);

impl FromStr for Distro {
    type Err = UnknownDistro;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Distro::ALL
            .into_iter()
            .find(|d| d.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownDistro(s.to_owned()))
    }
}

/// Everything a snippet needs. File contents are only used where the distribution takes
/// them inline (kops `fileAssets`, Talos `serviceAccount.key`).
#[derive(Debug, Clone)]
pub struct FlagsInput<'a> {
    /// The distribution.
    pub distro: Distro,
    /// The new issuer.
    pub issuer: &'a IssuerUrl,
    /// The published JWKS URL.
    pub jwks_uri: &'a str,
    /// The issuer to keep accepting; `None` means the distribution's default, if it has one.
    pub keep_issuer: Option<&'a str>,
    /// Absolute local path of the private signing key (kind mounts it from here).
    pub signing_key_path: &'a str,
    /// Absolute local path of the public key (kind mounts it from here).
    pub public_key_path: &'a str,
    /// PEM text of the private signing key.
    pub signing_key_pem: &'a str,
    /// PEM text of the public key.
    pub public_key_pem: &'a str,
    /// The kid of the new key, for the comments.
    pub kid: Option<&'a str>,
}

impl FlagsInput<'_> {
    /// The issuer kept as a second, accepted-only issuer (never the new one itself).
    pub fn kept_issuer(&self) -> Option<&str> {
        self.keep_issuer
            .or(self.distro.default_issuer())
            .filter(|old| *old != self.issuer.as_str())
    }

    /// The API audiences: what the cluster accepted before (its default audiences and the
    /// kept issuer, which was the default audience), never `sts.amazonaws.com`.
    pub fn api_audiences(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let kept = self.kept_issuer().into_iter();
        for aud in self.distro.default_audiences().iter().copied().chain(kept) {
            if aud != STS_AUDIENCE && !out.iter().any(|a| a == aud) {
                out.push(aud.to_owned());
            }
        }
        out
    }
}

const WHY_NOT_STS: &str = "never put sts.amazonaws.com in --api-audiences: every token the \
API server issues by default (and accepts) would then also be accepted by AWS STS. IRSA tokens \
ask for sts.amazonaws.com explicitly through their projected volume.";

/// The snippet text for `input.distro`.
pub fn snippet(input: &FlagsInput<'_>) -> String {
    let mut s = String::new();
    header(&mut s, input);
    match input.distro {
        Distro::Microk8s => microk8s(&mut s, input),
        Distro::Kops => kops(&mut s, input),
        Distro::Kind => kind(&mut s, input),
        Distro::K3s => k3s_like(
            &mut s,
            input,
            "k3s",
            "/etc/irsa",
            "/var/lib/rancher/k3s/server/tls/service.key",
        ),
        Distro::Kubeadm => kubeadm(&mut s, input),
        Distro::Rke2 => k3s_like(
            &mut s,
            input,
            "rke2",
            "/var/lib/rancher/rke2/server/tls",
            "/var/lib/rancher/rke2/server/tls/service.key",
        ),
        Distro::Talos => talos(&mut s, input),
    }
    s
}

fn header(s: &mut String, i: &FlagsInput<'_>) {
    let _ = writeln!(s, "# irsa cluster flags --distro {}", i.distro);
    let _ = writeln!(s, "# New issuer: {} (JWKS: {})", i.issuer, i.jwks_uri);
    if let Some(kid) = i.kid {
        let _ = writeln!(s, "# New signing key kid: {kid}");
    }
    match i.kept_issuer() {
        Some(old) => {
            let _ = writeln!(
                s,
                "# Still accepted: {old} (tokens already issued keep working; drop it after the \
                 longest token lifetime, at least 24 h)"
            );
        }
        None => {
            let _ = writeln!(
                s,
                "# No old issuer kept: pass --keep-issuer OLD_URL on a live cluster so existing \
                 tokens stay valid"
            );
        }
    }
    let _ = writeln!(s, "# api-audiences: {WHY_NOT_STS}");
}

fn microk8s(s: &mut String, i: &FlagsInput<'_>) {
    let certs = "/var/snap/microk8s/current/certs";
    let _ = writeln!(
        s,
        "# File: /var/snap/microk8s/current/args/kube-apiserver, on every control-plane node.\n\
         # 1. Install the keys:\n\
         #      sudo install -m 0600 {} {certs}/irsa-sa.key\n\
         #      sudo install -m 0644 {} {certs}/irsa-sa.pub\n\
         # 2. Comment out these default lines (the new lines below replace them):\n\
         #      --service-account-issuer='https://kubernetes.default.svc'\n\
         #      --service-account-signing-key-file=${{SNAP_DATA}}/certs/serviceaccount.key\n\
         #    Keep --service-account-key-file=${{SNAP_DATA}}/certs/serviceaccount.key: it verifies\n\
         #    the tokens signed before the change.\n\
         # 3. Add these lines (the first --service-account-issuer signs new tokens):",
        i.signing_key_path, i.public_key_path
    );
    let _ = writeln!(s, "--service-account-issuer={}", i.issuer);
    if let Some(old) = i.kept_issuer() {
        let _ = writeln!(s, "--service-account-issuer={old}");
    }
    let _ = writeln!(
        s,
        "--service-account-key-file=${{SNAP_DATA}}/certs/irsa-sa.pub"
    );
    let _ = writeln!(
        s,
        "--service-account-signing-key-file=${{SNAP_DATA}}/certs/irsa-sa.key"
    );
    let _ = writeln!(s, "--service-account-jwks-uri={}", i.jwks_uri);
    let _ = writeln!(s, "--api-audiences={}", i.api_audiences().join(","));
    let _ = writeln!(s, "# 4. Restart: sudo snap restart microk8s");
}

fn kops(s: &mut String, i: &FlagsInput<'_>) {
    let dir = "/srv/kubernetes/kube-apiserver";
    let _ = writeln!(
        s,
        "# Merge into the cluster spec: kops edit cluster (or kops replace -f), then\n\
         #   kops update cluster --yes && kops rolling-update cluster --yes\n\
         # kops can also publish the issuer itself (spec.serviceAccountIssuerDiscovery); this is the\n\
         # manual setup for documents published by irsa. roles: use Master on kops < 1.26.\n\
         # The signing key is embedded below: keep this file as secret as the key itself."
    );
    let _ = writeln!(s, "spec:\n  fileAssets:");
    file_asset(
        s,
        "irsa-sa-key",
        &format!("{dir}/irsa-sa.key"),
        i.signing_key_pem,
    );
    file_asset(
        s,
        "irsa-sa-pub",
        &format!("{dir}/irsa-sa.pub"),
        i.public_key_pem,
    );
    let _ = writeln!(s, "  kubeAPIServer:");
    let _ = writeln!(
        s,
        "    serviceAccountIssuer: {}",
        yaml_str(i.issuer.as_str())
    );
    if let Some(old) = i.kept_issuer() {
        let _ = writeln!(
            s,
            "    # kops >= 1.28.5\n    additionalServiceAccountIssuers:\n    - {}",
            yaml_str(old)
        );
    }
    let _ = writeln!(s, "    serviceAccountJWKSURI: {}", yaml_str(i.jwks_uri));
    let _ = writeln!(
        s,
        "    serviceAccountKeyFile:\n    - {dir}/service-account.pub   # kops' own key: verifies existing tokens\n    - {dir}/irsa-sa.pub"
    );
    let _ = writeln!(s, "    serviceAccountSigningKeyFile: {dir}/irsa-sa.key");
    audiences_yaml_list(s, i, "    ", "apiAudiences");
}

fn file_asset(s: &mut String, name: &str, path: &str, pem: &str) {
    let _ = writeln!(
        s,
        "  - name: {name}\n    path: {path}\n    roles: [ControlPlane]\n    content: |"
    );
    for line in pem.trim_end().lines() {
        let _ = writeln!(s, "      {line}");
    }
}

fn audiences_yaml_list(s: &mut String, i: &FlagsInput<'_>, indent: &str, key: &str) {
    let auds = i.api_audiences();
    if auds.is_empty() {
        let _ = writeln!(
            s,
            "{indent}# {key}: left unset (defaults to the new issuer). Pass --keep-issuer with the\n\
             {indent}# current issuer to keep accepting in-cluster tokens issued before the change."
        );
        return;
    }
    let _ = writeln!(s, "{indent}{key}:");
    for aud in auds {
        let _ = writeln!(s, "{indent}- {}", yaml_str(&aud));
    }
}

fn kind(s: &mut String, i: &FlagsInput<'_>) {
    let _ = writeln!(
        s,
        "# kind create cluster --config kind-irsa.yaml\n\
         # kubeadm's v1beta3 extraArgs is a map, so each flag appears once (kubeadm#2735): a new\n\
         # kind cluster needs no second issuer or key. The keys are mounted under\n\
         # /etc/kubernetes/pki, which the API server pod already mounts."
    );
    if let Some(old) = i.kept_issuer() {
        let _ = writeln!(
            s,
            "# (Not kept, a map cannot repeat service-account-issuer: {old})"
        );
    }
    let _ = writeln!(
        s,
        "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n  extraMounts:\n  \
         - hostPath: {}\n    containerPath: /etc/kubernetes/pki/irsa/sa.key\n    readOnly: true\n  \
         - hostPath: {}\n    containerPath: /etc/kubernetes/pki/irsa/sa.pub\n    readOnly: true\n  \
         kubeadmConfigPatches:\n  - |\n    kind: ClusterConfiguration\n    apiServer:\n      extraArgs:",
        yaml_str(i.signing_key_path),
        yaml_str(i.public_key_path)
    );
    let args = [
        ("service-account-issuer", i.issuer.as_str().to_owned()),
        ("service-account-jwks-uri", i.jwks_uri.to_owned()),
        (
            "service-account-key-file",
            "/etc/kubernetes/pki/irsa/sa.pub".to_owned(),
        ),
        (
            "service-account-signing-key-file",
            "/etc/kubernetes/pki/irsa/sa.key".to_owned(),
        ),
        ("api-audiences", i.api_audiences().join(",")),
    ];
    for (k, v) in args {
        let _ = writeln!(s, "        {k}: {}", yaml_str(&v));
    }
}

fn kubeadm(s: &mut String, i: &FlagsInput<'_>) {
    let _ = writeln!(
        s,
        "# kubeadm >= 1.31 (v1beta4 extraArgs is a list, so flags may repeat). Install the keys on\n\
         # every control-plane node first:\n\
         #   sudo install -D -m 0600 {} /etc/kubernetes/pki/irsa/sa.key\n\
         #   sudo install -D -m 0644 {} /etc/kubernetes/pki/irsa/sa.pub\n\
         # New cluster: kubeadm init --config this.yaml. Existing cluster: merge into the\n\
         # kubeadm-config ConfigMap, then on each control-plane node:\n\
         #   sudo kubeadm init phase control-plane apiserver --config this.yaml",
        i.signing_key_path, i.public_key_path
    );
    let _ = writeln!(
        s,
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\napiServer:\n  extraArgs:"
    );
    let mut args = vec![("service-account-issuer", i.issuer.as_str().to_owned())];
    if let Some(old) = i.kept_issuer() {
        args.push(("service-account-issuer", old.to_owned()));
    }
    args.extend([
        ("service-account-jwks-uri", i.jwks_uri.to_owned()),
        (
            "service-account-key-file",
            "/etc/kubernetes/pki/sa.pub".to_owned(),
        ),
        (
            "service-account-key-file",
            "/etc/kubernetes/pki/irsa/sa.pub".to_owned(),
        ),
        (
            "service-account-signing-key-file",
            "/etc/kubernetes/pki/irsa/sa.key".to_owned(),
        ),
        ("api-audiences", i.api_audiences().join(",")),
    ]);
    for (name, value) in args {
        let _ = writeln!(s, "  - name: {name}\n    value: {}", yaml_str(&value));
    }
}

fn k3s_like(s: &mut String, i: &FlagsInput<'_>, name: &str, key_dir: &str, old_key: &str) {
    let (key, public) = if name == "rke2" {
        (
            format!("{key_dir}/irsa-sa.key"),
            format!("{key_dir}/irsa-sa.pub"),
        )
    } else {
        (format!("{key_dir}/sa.key"), format!("{key_dir}/sa.pub"))
    };
    let restart = if name == "rke2" { "rke2-server" } else { "k3s" };
    let _ = writeln!(
        s,
        "# File: /etc/rancher/{name}/config.yaml on every server node. Install the keys first:\n\
         #   sudo install -D -m 0600 {} {key}\n\
         #   sudo install -D -m 0644 {} {public}\n\
         # Repeated kube-apiserver-arg keys are kept in order (a user key replaces the default),\n\
         # which needs a {name} release newer than k3s#5374. Then: sudo systemctl restart {restart}",
        i.signing_key_path, i.public_key_path
    );
    if name == "rke2" {
        let _ = writeln!(
            s,
            "# The keys live in {key_dir}, which the API server static pod already mounts."
        );
    }
    let _ = writeln!(s, "kube-apiserver-arg:");
    let mut args = vec![format!("service-account-issuer={}", i.issuer)];
    if let Some(old) = i.kept_issuer() {
        args.push(format!("service-account-issuer={old}"));
    }
    args.extend([
        format!("service-account-jwks-uri={}", i.jwks_uri),
        format!("service-account-key-file={old_key}"),
        format!("service-account-key-file={public}"),
        format!("service-account-signing-key-file={key}"),
        format!("api-audiences={}", i.api_audiences().join(",")),
    ]);
    for arg in args {
        let _ = writeln!(s, "- {}", yaml_str(&arg));
    }
}

fn talos(s: &mut String, i: &FlagsInput<'_>) {
    let _ = writeln!(
        s,
        "# talosctl patch machineconfig --nodes <each control-plane node> --patch @talos-irsa.yaml\n\
         # Talos signs with cluster.serviceAccount.key (base64 of the PEM below) and verifies with it\n\
         # alone: tokens signed by the previous key stop verifying at the API server, and\n\
         # extraArgs is a map, so only one issuer can be set (siderolabs/talos#11694). Restart\n\
         # workloads after applying. Use an RSA key: it is what OIDC consumers expect.\n\
         # The signing key is embedded below: keep this file as secret as the key itself."
    );
    if let Some(old) = i.kept_issuer() {
        let _ = writeln!(
            s,
            "# (Not kept, a map cannot repeat service-account-issuer: {old})"
        );
    }
    let _ = writeln!(
        s,
        "cluster:\n  serviceAccount:\n    key: {}\n  apiServer:\n    extraArgs:",
        base64_std(i.signing_key_pem.as_bytes())
    );
    let _ = writeln!(
        s,
        "      service-account-issuer: {}",
        yaml_str(i.issuer.as_str())
    );
    let _ = writeln!(
        s,
        "      service-account-jwks-uri: {}",
        yaml_str(i.jwks_uri)
    );
    let auds = i.api_audiences();
    if auds.is_empty() {
        let _ = writeln!(
            s,
            "      # api-audiences: left unset (defaults to the new issuer). Pass --keep-issuer with\n\
             #   the current control-plane endpoint to keep accepting in-cluster tokens."
        );
    } else {
        let _ = writeln!(s, "      api-audiences: {}", yaml_str(&auds.join(",")));
    }
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn yaml_str(v: &str) -> String {
    serde_json::to_string(v).expect("a string always serialises")
}

/// Standard base64 with padding (Talos machine config fields).
fn base64_std(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> shift & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
