//! The mutation itself: mode selection (webhook.md §2.4, §3.2) and the surgical JSON Patch
//! (§3.4-§3.11, with irsa's deliberate improvements).

use std::borrow::Cow;

use json_patch::Patch;
use serde_json::Value;

use crate::associations::Associations;
use crate::config::{
    Config, DEFAULT_TOKEN_EXPIRATION, IRSA_TOKEN_PATH, IRSA_VOLUME_NAME, JITTER_MIN_EXPIRATION,
    MIN_TOKEN_EXPIRATION, POD_IDENTITY_LABEL,
};
use crate::error::MutateError;
use crate::patch::{Item, Op, Tok, Val, Volume, to_patch, write_json};
use crate::service_account::{
    ServiceAccountLookup, annotation_key_matches, parse_expiration, role_arn_looks_valid,
};
use crate::text::{clean_path, join_path, parse_csv_record};
use crate::view::{Annotations, Container, Field, Metadata, PodView, Spec, name_or_default};

/// Which credentials the pod was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Not mutated: no association and no role for the ServiceAccount.
    None,
    /// IRSA (web identity): `AWS_ROLE_ARN` and a projected token.
    Irsa,
    /// Container credentials (EKS Pod Identity): `AWS_CONTAINER_CREDENTIALS_FULL_URI`.
    ContainerCredentials,
}

impl Mode {
    /// The `method` label of upstream's `pod_identity_webhook_pod_count` metric, or `None` when
    /// the pod is not mutated.
    pub fn metric_method(self) -> Option<&'static str> {
        match self {
            Mode::None => None,
            Mode::Irsa => Some("sts_web_identity"),
            Mode::ContainerCredentials => Some("container_credentials"),
        }
    }
}

/// The result of [`mutate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Mutation {
    /// The JSON Patch to apply to the pod. Empty when nothing needs to change (mode `None`, or
    /// a pod that already has everything, e.g. on reinvocation).
    pub patch: Patch,
    /// Human-readable warnings (suitable for AdmissionReview `warnings`), e.g. a container left
    /// alone because another volume is mounted at the token path.
    pub warnings: Vec<String>,
    /// The mode that was selected.
    pub mode: Mode,
}

/// The result of [`mutate_json`]: [`Mutation`] without the patch, which was written as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct MutationSummary {
    /// As [`Mutation::warnings`].
    pub warnings: Vec<String>,
    /// As [`Mutation::mode`].
    pub mode: Mode,
}

/// The name of the pod's ServiceAccount (`spec.serviceAccountName`, `default` when empty).
/// [`PodView::service_account_name`] for a view.
pub fn service_account_name(pod: &Value) -> &str {
    name_or_default(
        pod.get("spec")
            .and_then(|spec| spec.get("serviceAccountName"))
            .and_then(Value::as_str),
    )
}

/// What gets injected, after mode selection.
struct Plan<'a> {
    mode: Mode,
    role_arn: &'a str,
    audience: &'a str,
    regional_sts: bool,
    expiration: i64,
    volume_name: &'a str,
    mount_path: &'a str,
    token_path: &'a str,
}

/// Computes the JSON Patch for `pod` (the admitted Pod object as JSON) in `namespace`.
///
/// * `sa`: what the cache and the ConfigMap know about the pod's ServiceAccount
///   ([`service_account_name`]).
/// * `associations`: the container-credentials association file.
/// * `random`: called as `random(n)` it must return a uniform integer in `0..n`; it is used only
///   for the jittered expiration of container-credentials mode (tests pass `|_| 0`).
///
/// Pure: no I/O, no clock. See the crate documentation for the rules.
pub fn mutate(
    pod: &Value,
    namespace: &str,
    sa: &ServiceAccountLookup<'_>,
    associations: &Associations,
    config: &Config,
    random: &mut dyn FnMut(i64) -> i64,
) -> Result<Mutation, MutateError> {
    let mut patch = Patch(Vec::new());
    let (warnings, mode) = run(
        &PodView::of(pod)?,
        namespace,
        sa,
        associations,
        config,
        random,
        &mut |ops| {
            patch = to_patch(ops);
        },
    )?;
    Ok(Mutation {
        patch,
        warnings,
        mode,
    })
}

/// The same mutation as [`mutate`], on a [`PodView`] of the pod, with the patch appended to
/// `out` as JSON text instead of returned as a [`Patch`]: exactly the bytes
/// `serde_json::to_writer(out, &mutation.patch)` would write (`[]` when nothing changes),
/// produced without building any JSON value. This is what the admission server uses;
/// [`mutate`] is the same code path with the operations turned into serde values.
pub fn mutate_json(
    pod: &PodView<'_>,
    namespace: &str,
    sa: &ServiceAccountLookup<'_>,
    associations: &Associations,
    config: &Config,
    random: &mut dyn FnMut(i64) -> i64,
    out: &mut Vec<u8>,
) -> Result<MutationSummary, MutateError> {
    let (warnings, mode) = run(
        pod,
        namespace,
        sa,
        associations,
        config,
        random,
        &mut |ops| {
            write_json(ops, out);
        },
    )?;
    Ok(MutationSummary { warnings, mode })
}

/// The mutation: selects the mode, collects the operations and hands them to `finish` (also
/// when there are none), then returns the warnings and the mode.
fn run(
    pod: &PodView<'_>,
    namespace: &str,
    sa: &ServiceAccountLookup<'_>,
    associations: &Associations,
    config: &Config,
    random: &mut dyn FnMut(i64) -> i64,
    finish: &mut dyn FnMut(&[Op<'_>]),
) -> Result<(Vec<String>, Mode), MutateError> {
    let spec = pod.spec.as_ref().ok_or(MutateError::MissingSpec)?;
    let metadata = required(&pod.metadata, || "/metadata", "an object")?;
    let annotations = match metadata {
        Some(m) => required(&m.annotations, || "/metadata/annotations", "an object")?,
        None => None,
    };
    let prefix = config.annotation_prefix.as_str();
    let pod_annotation = |name: &str| annotation(annotations, prefix, name);
    let mut warnings = Vec::new();

    let flag_expiration = config.token_expiration.max(MIN_TOKEN_EXPIRATION);
    let pod_expiration = match pod_annotation("token-expiration") {
        Some(v) => {
            let parsed = parse_expiration(v);
            if parsed.is_none() {
                warnings.push(format!(
                    "pod annotation {prefix}/token-expiration={v:?} is not an integer; ignored"
                ));
            }
            parsed
        }
        None => None,
    };

    let sa_name = pod.service_account_name();
    let cc = &config.container_credentials;
    let composed: Option<String>; // --compose-role-arn; allocated only when it applies
    let plan = if associations.contains(namespace, sa_name) {
        // Container credentials win over IRSA (§2.4 rule 1). Base values come from the cached
        // ServiceAccount (role or not), else the exact ConfigMap entry, else constants.
        let (regional_sts, base) = match (sa.cached, sa.config_map) {
            (Some(info), _) => (
                info.use_regional_sts.unwrap_or(config.regional_sts),
                info.token_expiration.unwrap_or(flag_expiration),
            ),
            (None, Some(m)) if !sa.config_map_wildcard => (
                m.use_regional_sts,
                if m.token_expiration == 0 {
                    flag_expiration
                } else {
                    m.token_expiration
                },
            ),
            _ => (false, DEFAULT_TOKEN_EXPIRATION),
        };
        let mut expiration = pod_expiration.unwrap_or(base);
        if expiration == DEFAULT_TOKEN_EXPIRATION {
            let span = DEFAULT_TOKEN_EXPIRATION - JITTER_MIN_EXPIRATION + 1;
            expiration = JITTER_MIN_EXPIRATION + random(span).clamp(0, span - 1);
        }
        Plan {
            mode: Mode::ContainerCredentials,
            role_arn: "",
            audience: &cc.audience,
            regional_sts,
            expiration,
            volume_name: &cc.volume_name,
            mount_path: &cc.mount_path,
            token_path: &cc.token_path,
        }
    } else {
        let irsa = |role_arn, audience, regional_sts, expiration: i64| Plan {
            mode: Mode::Irsa,
            role_arn,
            audience,
            regional_sts,
            expiration: pod_expiration.unwrap_or(expiration),
            volume_name: IRSA_VOLUME_NAME,
            mount_path: &config.mount_path,
            token_path: IRSA_TOKEN_PATH,
        };
        match (sa.cached, sa.config_map) {
            (Some(info), _) if info.role_arn.is_some() => {
                let role = info.role_arn.as_deref().unwrap_or_default();
                // Only the ServiceAccount annotation is composed, as upstream's cache does.
                composed = config
                    .compose_role_arn
                    .as_ref()
                    .and_then(|c| c.compose(role));
                irsa(
                    composed.as_deref().unwrap_or(role),
                    info.audience.as_deref().unwrap_or(&config.audience),
                    info.use_regional_sts.unwrap_or(config.regional_sts),
                    info.token_expiration.unwrap_or(flag_expiration),
                )
            }
            (_, Some(m)) if !m.role_arn.is_empty() => irsa(
                &m.role_arn,
                &m.audience,
                m.use_regional_sts,
                if m.token_expiration == 0 {
                    flag_expiration
                } else {
                    m.token_expiration
                },
            ),
            _ => {
                finish(&[]);
                return Ok((Vec::new(), Mode::None));
            }
        }
    };
    if plan.mode == Mode::Irsa && !role_arn_looks_valid(plan.role_arn) {
        warnings.push(format!(
            "role ARN {:?} does not look like arn:aws:iam::<12-digit account>:role/<name>; used as-is",
            plan.role_arn
        ));
    }

    // At most: label, volume, fsGroup, and env + volumeMounts per container (the env vars of
    // a container whose list exists are one op each, the only case that may still grow it).
    let containers = [&spec.containers, &spec.init_containers]
        .iter()
        .filter_map(|c| c.present())
        .map(Vec::len)
        .sum::<usize>();
    let mut ops = Vec::with_capacity(3 + 2 * containers);

    if plan.mode == Mode::ContainerCredentials {
        label_op(metadata, &mut ops)?;
    }
    volume_op(spec, &plan, &mut ops)?;
    fs_group_op(
        spec,
        pod_annotation("fs-group"),
        prefix,
        config,
        &mut warnings,
        &mut ops,
    )?;

    let skip: Vec<String> = pod_annotation("skip-containers")
        .and_then(parse_csv_record)
        .unwrap_or_default();
    let windows = spec.windows;
    let token_file = {
        let unix = join_path(plan.mount_path, plan.token_path);
        if windows {
            format!("C:{}", unix.replace('/', "\\"))
        } else {
            unix
        }
    };
    let ctx = ContainerContext {
        plan: &plan,
        config,
        skip: &skip,
        token_file: &token_file,
        token_dir: clean_path(plan.mount_path),
    };
    for (field, containers) in [
        ("containers", &spec.containers),
        ("initContainers", &spec.init_containers),
    ] {
        let containers = required(containers, || format!("/spec/{field}"), "an array")?;
        for (index, container) in containers.into_iter().flatten().enumerate() {
            let Some(container) = container else {
                return Err(invalid(&format!("/spec/{field}/{index}"), "an object"));
            };
            ctx.container_ops(field, index, container, &mut warnings, &mut ops)?;
        }
    }

    finish(&ops);
    Ok((warnings, plan.mode))
}

/// The pod annotation `<prefix>/<name>`, when it is a string.
fn annotation<'v>(
    annotations: Option<&'v Annotations<'_>>,
    prefix: &str,
    name: &str,
) -> Option<&'v str> {
    annotations?
        .iter()
        .find(|(k, _)| annotation_key_matches(k, prefix, name))
        .and_then(|(_, v)| v.as_deref())
}

/// A field the mutation reads: `None` when absent, an error when of the wrong type.
/// `path` is only called (formatted) for the error.
fn required<'f, T, P: AsRef<str>>(
    field: &'f Field<T>,
    path: impl FnOnce() -> P,
    expected: &'static str,
) -> Result<Option<&'f T>, MutateError> {
    match field {
        Field::Absent => Ok(None),
        Field::Present(v) => Ok(Some(v)),
        Field::Wrong => Err(invalid(path().as_ref(), expected)),
    }
}

fn invalid(path: &str, expected: &'static str) -> MutateError {
    MutateError::InvalidField {
        path: path.to_owned(),
        expected,
    }
}

/// `metadata.labels["eks.amazonaws.com/pod-identity"] = "enabled"` (§3.7), creating parents.
fn label_op(metadata: Option<&Metadata<'_>>, ops: &mut Vec<Op<'_>>) -> Result<(), MutateError> {
    let Some(metadata) = metadata else {
        ops.push(Op::add(&[Tok::Key("metadata")], Val::MetadataWithLabel));
        return Ok(());
    };
    match metadata.labels {
        Field::Absent => {
            ops.push(Op::add(
                &[Tok::Key("metadata"), Tok::Key("labels")],
                Val::Labels,
            ));
        }
        Field::Present(enabled) => {
            if !enabled {
                ops.push(Op::add(
                    &[
                        Tok::Key("metadata"),
                        Tok::Key("labels"),
                        Tok::Key(POD_IDENTITY_LABEL),
                    ],
                    Val::Enabled,
                ));
            }
        }
        Field::Wrong => return Err(invalid("/metadata/labels", "an object")),
    }
    Ok(())
}

/// The projected token volume (§3.6): added (prepended) only when no volume has its name.
fn volume_op<'p>(
    spec: &Spec<'_>,
    plan: &Plan<'p>,
    ops: &mut Vec<Op<'p>>,
) -> Result<(), MutateError> {
    let volume = Volume {
        name: plan.volume_name,
        audience: plan.audience,
        expiration: plan.expiration,
        token_path: plan.token_path,
    };
    match required(&spec.volumes, || "/spec/volumes", "an array")? {
        None => ops.push(Op::add(
            &[Tok::Key("spec"), Tok::Key("volumes")],
            Val::Volumes(volume),
        )),
        Some(names) => {
            if !names.iter().any(|name| name == plan.volume_name) {
                ops.push(Op::add(
                    &[Tok::Key("spec"), Tok::Key("volumes"), Tok::Key("0")],
                    Val::Volume(volume),
                ));
            }
        }
    }
    Ok(())
}

/// Opt-in `spec.securityContext.fsGroup` (irsa improvement for upstream #8): from the pod
/// annotation `<prefix>/fs-group`, else `--default-fs-group`; set only when absent.
fn fs_group_op(
    spec: &Spec<'_>,
    annotation: Option<&str>,
    prefix: &str,
    config: &Config,
    warnings: &mut Vec<String>,
    ops: &mut Vec<Op<'_>>,
) -> Result<(), MutateError> {
    let from_annotation = match annotation {
        Some(v) => match v.parse::<i64>() {
            Ok(g) if g >= 0 => Some(g),
            _ => {
                warnings.push(format!(
                    "pod annotation {prefix}/fs-group={v:?} is not a non-negative integer; ignored"
                ));
                None
            }
        },
        None => None,
    };
    let Some(group) = from_annotation.or(config.default_fs_group) else {
        return Ok(());
    };
    match spec.security_context {
        Field::Absent => {
            ops.push(Op::add(
                &[Tok::Key("spec"), Tok::Key("securityContext")],
                Val::SecurityContext(group),
            ));
        }
        Field::Present(fs_group_set) => {
            if !fs_group_set {
                ops.push(Op::add(
                    &[
                        Tok::Key("spec"),
                        Tok::Key("securityContext"),
                        Tok::Key("fsGroup"),
                    ],
                    Val::FsGroup(group),
                ));
            }
        }
        Field::Wrong => return Err(invalid("/spec/securityContext", "an object")),
    }
    Ok(())
}

struct ContainerContext<'a> {
    plan: &'a Plan<'a>,
    config: &'a Config,
    skip: &'a [String],
    token_file: &'a str,
    /// The cleaned mount path, compared with each container's mounts.
    token_dir: Cow<'a, str>,
}

impl<'a> ContainerContext<'a> {
    /// Env vars and the volumeMount for one container (§3.4, §3.5), as surgical `add` ops.
    fn container_ops(
        &self,
        field: &'static str,
        index: usize,
        container: &Container<'_>,
        warnings: &mut Vec<String>,
        ops: &mut Vec<Op<'a>>,
    ) -> Result<(), MutateError> {
        let plan: &'a Plan<'a> = self.plan;
        let config: &'a Config = self.config;
        let name = container.name.as_deref().unwrap_or_default();
        if self.skip.iter().any(|s| s == name) {
            return Ok(());
        }
        let base = [Tok::Key("spec"), Tok::Key(field), Tok::Index(index)];
        let path = |key| format!("/spec/{field}/{index}/{key}");
        let env = required(&container.env, || path("env"), "an array")?;
        let mounts = required(
            &container.volume_mounts,
            || path("volumeMounts"),
            "an array",
        )?;

        // irsa improvement (upstream #159): another volume already mounted at the token path
        // would make the pod invalid ("must be unique"); leave this container alone.
        let token_dir = &self.token_dir;
        if let Some(other) = mounts.into_iter().flatten().find_map(|m| {
            let mount_name = m.name.as_deref().unwrap_or_default();
            let path = m.mount_path.as_deref()?;
            (mount_name != plan.volume_name && clean_path(path) == *token_dir).then_some(mount_name)
        }) {
            warnings.push(format!(
                "container {name:?} already mounts volume {other:?} at {}; it was left unchanged \
                 (no AWS credentials injected)",
                plan.mount_path
            ));
            return Ok(());
        }

        // Containers define a handful of env vars: a scan beats hashing them into a set.
        let env_names = || env.into_iter().flatten().map(|name| name.as_ref());
        let any = |keys: &[&str]| env_names().any(|name| keys.contains(&name));
        let credentials_defined = match plan.mode {
            Mode::ContainerCredentials => any(&[
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            ]),
            _ => any(&["AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"]),
        };
        let region_defined = any(&["AWS_REGION", "AWS_DEFAULT_REGION"]);
        let sts_defined = any(&["AWS_STS_REGIONAL_ENDPOINTS"]);
        if credentials_defined && region_defined && sts_defined {
            return Ok(()); // upstream's early exit: untouched, no volumeMount either
        }

        let mut new_env = Vec::new();
        let var = Item::Var;
        if plan.regional_sts && !sts_defined {
            new_env.push(var("AWS_STS_REGIONAL_ENDPOINTS", "regional"));
        }
        if let Some(region) = config.region.as_deref().filter(|r| !r.is_empty())
            && !region_defined
        {
            new_env.push(var("AWS_DEFAULT_REGION", region));
            new_env.push(var("AWS_REGION", region));
        }
        if !credentials_defined {
            match plan.mode {
                Mode::ContainerCredentials => {
                    let uri = &config.container_credentials.full_uri;
                    new_env.push(var("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri));
                    new_env.push(var(
                        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                        self.token_file,
                    ));
                }
                _ => {
                    new_env.push(var("AWS_ROLE_ARN", plan.role_arn));
                    new_env.push(var("AWS_WEB_IDENTITY_TOKEN_FILE", self.token_file));
                }
            }
        }
        append(ops, &base, "env", env.is_some(), new_env);

        let has_mount = mounts
            .into_iter()
            .flatten()
            .any(|m| m.name.as_deref() == Some(plan.volume_name));
        if !has_mount {
            let mount = Item::Mount(plan.volume_name, plan.mount_path);
            append(ops, &base, "volumeMounts", mounts.is_some(), vec![mount]);
        }
        Ok(())
    }
}

/// Appends `items` to the list `key` of the container at `base`: one `add .../-` per item when
/// the list exists, else one `add` creating it.
fn append<'a>(
    ops: &mut Vec<Op<'a>>,
    base: &[Tok<'a>; 3],
    key: &'static str,
    exists: bool,
    items: Vec<Item<'a>>,
) {
    if items.is_empty() {
        return;
    }
    let [spec, field, index] = *base;
    if exists {
        for item in items {
            ops.push(Op::add(
                &[spec, field, index, Tok::Key(key), Tok::Key("-")],
                Val::Item(item),
            ));
        }
    } else {
        ops.push(Op::add(
            &[spec, field, index, Tok::Key(key)],
            Val::Items(items),
        ));
    }
}
