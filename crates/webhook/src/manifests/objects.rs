//! The core Kubernetes objects, built with k8s-openapi's typed structs so that field names
//! and shapes cannot drift from the API.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhook, MutatingWebhookConfiguration, RuleWithOperations, ServiceReference,
    WebhookClientConfig,
};
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, HTTPGetAction, Namespace, PodSecurityContext, PodSpec,
    PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile, Secret, SecretVolumeSource,
    SecurityContext, Service, ServiceAccount, ServicePort, ServiceSpec, TopologySpreadConstraint,
    Volume, VolumeMount,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::certs::ServingCertificate;
use super::{CERT_DIR, ManifestOptions, SKIP_LABEL, tls_secret_name};

/// The ConfigMap `irsa webhook serve --watch-config-map` reads (upstream's fixed name).
const CONFIG_MAP_NAME: &str = "pod-identity-webhook";
/// The non-root user and group of the distroless image (`nonroot`).
const NONROOT_ID: i64 = 65532;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// The selector: upstream's `app: <name>`, so that our Deployment can replace upstream's in
/// place (a Deployment's selector is immutable).
pub(crate) fn selector_labels(o: &ManifestOptions) -> BTreeMap<String, String> {
    BTreeMap::from([("app".to_owned(), o.name.clone())])
}

/// Labels on every object.
pub(crate) fn labels(o: &ManifestOptions) -> BTreeMap<String, String> {
    let mut labels = selector_labels(o);
    for (k, v) in [
        ("app.kubernetes.io/name", "irsa-webhook"),
        ("app.kubernetes.io/instance", o.name.as_str()),
        ("app.kubernetes.io/component", "pod-identity-webhook"),
        ("app.kubernetes.io/part-of", "irsa"),
        ("app.kubernetes.io/version", env!("CARGO_PKG_VERSION")),
        ("app.kubernetes.io/managed-by", "irsa"),
    ] {
        labels.insert(k.to_owned(), v.to_owned());
    }
    labels
}

fn meta(o: &ManifestOptions, name: String, namespaced: bool) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: namespaced.then(|| o.namespace.clone()),
        labels: Some(labels(o)),
        ..ObjectMeta::default()
    }
}

pub(crate) fn namespace(o: &ManifestOptions) -> Namespace {
    Namespace {
        metadata: meta(o, o.namespace.clone(), false),
        ..Namespace::default()
    }
}

pub(crate) fn service_account(o: &ManifestOptions) -> ServiceAccount {
    ServiceAccount {
        metadata: meta(o, o.name.clone(), true),
        ..ServiceAccount::default()
    }
}

/// Read access to ServiceAccounts in all namespaces: the cache lists and watches them, and a
/// cache miss is answered by a direct GET. Nothing else (upstream also grants Secrets and CSRs
/// for its broken in-cluster certificate mode, which we do not implement).
pub(crate) fn cluster_role(o: &ManifestOptions) -> ClusterRole {
    ClusterRole {
        metadata: meta(o, o.name.clone(), false),
        rules: Some(vec![PolicyRule {
            api_groups: Some(strings(&[""])),
            resources: Some(strings(&["serviceaccounts"])),
            verbs: strings(&["get", "list", "watch"]),
            ..PolicyRule::default()
        }]),
        ..ClusterRole::default()
    }
}

fn subject(o: &ManifestOptions) -> Subject {
    Subject {
        kind: "ServiceAccount".into(),
        name: o.name.clone(),
        namespace: Some(o.namespace.clone()),
        ..Subject::default()
    }
}

pub(crate) fn cluster_role_binding(o: &ManifestOptions) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: meta(o, o.name.clone(), false),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: o.name.clone(),
        },
        subjects: Some(vec![subject(o)]),
    }
}

/// `--watch-config-map`: read only the one ConfigMap, only in the webhook's namespace. The
/// server lists and watches it with `fieldSelector=metadata.name=…`, which RBAC authorizes
/// against `resourceNames`.
pub(crate) fn config_map_role(o: &ManifestOptions) -> Role {
    Role {
        metadata: meta(o, format!("{}-configmap", o.name), true),
        rules: Some(vec![PolicyRule {
            api_groups: Some(strings(&[""])),
            resources: Some(strings(&["configmaps"])),
            resource_names: Some(strings(&[CONFIG_MAP_NAME])),
            verbs: strings(&["get", "list", "watch"]),
            ..PolicyRule::default()
        }]),
    }
}

pub(crate) fn config_map_role_binding(o: &ManifestOptions) -> RoleBinding {
    RoleBinding {
        metadata: meta(o, format!("{}-configmap", o.name), true),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: format!("{}-configmap", o.name),
        },
        subjects: Some(vec![subject(o)]),
    }
}

/// The `kubernetes.io/tls` Secret with the serving certificate, its key and the CA (`ca.crt`,
/// as cert-manager lays it out).
pub(crate) fn tls_secret(o: &ManifestOptions, cert: &ServingCertificate) -> Secret {
    let data = BTreeMap::from([
        (
            "ca.crt".to_owned(),
            ByteString(cert.ca_pem.clone().into_bytes()),
        ),
        (
            "tls.crt".to_owned(),
            ByteString(cert.cert_pem.clone().into_bytes()),
        ),
        (
            "tls.key".to_owned(),
            ByteString(cert.key_pem.clone().into_bytes()),
        ),
    ]);
    Secret {
        metadata: meta(o, tls_secret_name(o), true),
        type_: Some("kubernetes.io/tls".into()),
        data: Some(data),
        ..Secret::default()
    }
}

pub(crate) fn service(o: &ManifestOptions) -> Service {
    Service {
        metadata: meta(o, o.name.clone(), true),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(selector_labels(o)),
            ports: Some(vec![
                ServicePort {
                    name: Some("https".into()),
                    port: 443,
                    target_port: Some(IntOrString::String("https".into())),
                    protocol: Some("TCP".into()),
                    ..ServicePort::default()
                },
                ServicePort {
                    name: Some("metrics".into()),
                    port: i32::from(o.metrics_port),
                    target_port: Some(IntOrString::String("metrics".into())),
                    protocol: Some("TCP".into()),
                    ..ServicePort::default()
                },
            ]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// The `irsa webhook serve` arguments, with upstream's flag names.
pub(crate) fn serve_args(o: &ManifestOptions) -> Vec<String> {
    let s = &o.serve;
    let mut args = vec![
        "webhook".to_owned(),
        "serve".to_owned(),
        "--in-cluster=false".to_owned(),
        format!("--namespace={}", o.namespace),
        format!("--service-name={}", o.name),
        format!("--port={}", o.port),
        format!("--metrics-port={}", o.metrics_port),
        format!("--tls-cert={CERT_DIR}/tls.crt"),
        format!("--tls-key={CERT_DIR}/tls.key"),
        format!("--annotation-prefix={}", s.annotation_prefix),
        format!("--token-audience={}", s.token_audience),
    ];
    if let Some(region) = &s.aws_default_region {
        args.push(format!("--aws-default-region={region}"));
    }
    if s.sts_regional_endpoint {
        args.push("--sts-regional-endpoint=true".to_owned());
    }
    if s.watch_config_map {
        args.push("--watch-config-map=true".to_owned());
    }
    if let Some(seconds) = s.token_expiration {
        args.push(format!("--token-expiration={seconds}"));
    }
    args.push("--logtostderr".to_owned());
    args
}

fn https_probe(path: &str, period: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("https".into()),
            scheme: Some("HTTPS".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(2),
        failure_threshold: Some(3),
        ..Probe::default()
    }
}

fn spread(o: &ManifestOptions, topology_key: &str) -> TopologySpreadConstraint {
    TopologySpreadConstraint {
        max_skew: 1,
        topology_key: topology_key.into(),
        // Soft: a single-node cluster (kind, k3s, MicroK8s) still runs every replica.
        when_unsatisfiable: "ScheduleAnyway".into(),
        label_selector: Some(LabelSelector {
            match_labels: Some(selector_labels(o)),
            ..LabelSelector::default()
        }),
        match_label_keys: Some(strings(&["pod-template-hash"])),
        ..TopologySpreadConstraint::default()
    }
}

fn container(o: &ManifestOptions) -> Container {
    Container {
        name: "webhook".into(),
        image: Some(o.image.clone()),
        image_pull_policy: Some(o.image_pull_policy.clone()),
        args: Some(serve_args(o)),
        ports: Some(vec![
            ContainerPort {
                name: Some("https".into()),
                container_port: i32::from(o.port),
                protocol: Some("TCP".into()),
                ..ContainerPort::default()
            },
            ContainerPort {
                name: Some("metrics".into()),
                container_port: i32::from(o.metrics_port),
                protocol: Some("TCP".into()),
                ..ContainerPort::default()
            },
        ]),
        // Ready only once the ServiceAccount cache has synced, so that no pod is admitted
        // unmutated by a replica that does not know its ServiceAccount yet.
        readiness_probe: Some(https_probe("/readyz", 5)),
        liveness_probe: Some(https_probe("/healthz", 10)),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_owned(), Quantity("50m".into())),
                ("memory".to_owned(), Quantity("64Mi".into())),
            ])),
            // No CPU limit: CFS throttling would add latency to every pod admission.
            limits: Some(BTreeMap::from([(
                "memory".to_owned(),
                Quantity("256Mi".into()),
            )])),
            ..ResourceRequirements::default()
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            privileged: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            run_as_user: Some(NONROOT_ID),
            run_as_group: Some(NONROOT_ID),
            capabilities: Some(Capabilities {
                drop: Some(strings(&["ALL"])),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: "certs".into(),
            mount_path: CERT_DIR.into(),
            read_only: Some(true),
            ..VolumeMount::default()
        }]),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Container::default()
    }
}

pub(crate) fn deployment(o: &ManifestOptions) -> Deployment {
    let mut pod_labels = labels(o);
    // The webhook's own pods never pass through the webhook.
    pod_labels.insert(SKIP_LABEL.to_owned(), "true".to_owned());
    Deployment {
        metadata: meta(o, o.name.clone(), true),
        spec: Some(DeploymentSpec {
            replicas: Some(o.replicas),
            selector: LabelSelector {
                match_labels: Some(selector_labels(o)),
                ..LabelSelector::default()
            },
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_unavailable: Some(IntOrString::Int(0)),
                    max_surge: Some(IntOrString::Int(1)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(o.name.clone()),
                    automount_service_account_token: Some(true),
                    priority_class_name: o.priority_class_name.clone(),
                    node_selector: Some(BTreeMap::from([(
                        "kubernetes.io/os".to_owned(),
                        "linux".to_owned(),
                    )])),
                    topology_spread_constraints: Some(vec![
                        spread(o, "kubernetes.io/hostname"),
                        spread(o, "topology.kubernetes.io/zone"),
                    ]),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(NONROOT_ID),
                        run_as_group: Some(NONROOT_ID),
                        fs_group: Some(NONROOT_ID),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".into(),
                            ..SeccompProfile::default()
                        }),
                        ..PodSecurityContext::default()
                    }),
                    termination_grace_period_seconds: Some(30),
                    containers: vec![container(o)],
                    volumes: Some(vec![Volume {
                        name: "certs".into(),
                        secret: Some(SecretVolumeSource {
                            secret_name: Some(tls_secret_name(o)),
                            // Owner and group (fsGroup) only: the key is not world-readable.
                            default_mode: Some(0o440),
                            ..SecretVolumeSource::default()
                        }),
                        ..Volume::default()
                    }]),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

pub(crate) fn pod_disruption_budget(o: &ManifestOptions) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: meta(o, o.name.clone(), true),
        spec: Some(PodDisruptionBudgetSpec {
            min_available: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(selector_labels(o)),
                ..LabelSelector::default()
            }),
            // A crash-looping replica must not block node drains.
            unhealthy_pod_eviction_policy: Some("AlwaysAllow".into()),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    }
}

/// The webhook registration. `ca_bundle` is the CA PEM for `--self-signed`; with cert-manager
/// it is `None` and the CA injector fills it in from the serving Certificate.
pub(crate) fn mutating_webhook_configuration(
    o: &ManifestOptions,
    ca_bundle: Option<&str>,
) -> MutatingWebhookConfiguration {
    let mut metadata = meta(o, o.name.clone(), false);
    if ca_bundle.is_none() {
        metadata.annotations = Some(BTreeMap::from([(
            "cert-manager.io/inject-ca-from".to_owned(),
            format!("{}/{}", o.namespace, o.name),
        )]));
    }
    MutatingWebhookConfiguration {
        metadata,
        webhooks: Some(vec![MutatingWebhook {
            name: format!("{}.{}.svc", o.name, o.namespace),
            admission_review_versions: strings(&["v1", "v1beta1"]),
            client_config: WebhookClientConfig {
                service: Some(ServiceReference {
                    name: o.name.clone(),
                    namespace: o.namespace.clone(),
                    path: Some("/mutate".into()),
                    port: Some(443),
                }),
                ca_bundle: ca_bundle.map(|pem| ByteString(pem.as_bytes().to_vec())),
                ..WebhookClientConfig::default()
            },
            rules: Some(vec![RuleWithOperations {
                api_groups: Some(strings(&[""])),
                api_versions: Some(strings(&["v1"])),
                operations: Some(strings(&["CREATE"])),
                resources: Some(strings(&["pods"])),
                scope: Some("Namespaced".into()),
            }]),
            // Ignore, as upstream: a webhook outage must not block every pod in the cluster
            // (static and mirror pods included).
            failure_policy: Some("Ignore".into()),
            match_policy: Some("Equivalent".into()),
            object_selector: Some(LabelSelector {
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: SKIP_LABEL.into(),
                    operator: "DoesNotExist".into(),
                    values: None,
                }]),
                ..LabelSelector::default()
            }),
            side_effects: "None".into(),
            // Another webhook may add containers after us; run again so they get credentials.
            reinvocation_policy: Some("IfNeeded".into()),
            timeout_seconds: Some(o.timeout_seconds),
            ..MutatingWebhook::default()
        }]),
    }
}
