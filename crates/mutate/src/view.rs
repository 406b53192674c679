//! [`PodView`]: the few pod fields the mutation reads, typed, borrowing their strings.
//!
//! The mutation reads about a dozen fields of a pod. Reading them from a `serde_json::Value`
//! means building the whole pod first (a map and an allocation per key and string) and then
//! hashing each key again to look it up. A view holds only those fields, so a server can fill
//! one straight from the request body (the webhook's scanner does) and the mutation reads plain
//! struct fields. [`PodView::of`] makes the same view from a `Value`; both give the same view
//! for the same JSON (the webhook's tests check this on every fixture).
//!
//! The view keeps what the mutation needs to behave exactly as on the whole pod, including
//! fields of the wrong JSON type ([`Field::Wrong`]), which the mutation reports as errors only
//! where it would have read them.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::config::POD_IDENTITY_LABEL;
use crate::error::MutateError;

/// The pod annotations (`<prefix>/<name>`) the mutation reads, whatever the prefix.
pub const POD_ANNOTATIONS: [&str; 3] = ["token-expiration", "fs-group", "skip-containers"];

/// Pod annotations as the view keeps them: `(key, value when a string)`.
pub type Annotations<'a> = Vec<(Cow<'a, str>, Option<Cow<'a, str>>)>;

/// A field the mutation needs with one JSON type.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Field<T> {
    /// Missing or `null`.
    #[default]
    Absent,
    /// Present with the expected type.
    Present(T),
    /// Present with another type (an error where the mutation reads it).
    Wrong,
}

impl<T> Field<T> {
    /// The value when present with the expected type.
    pub fn present(&self) -> Option<&T> {
        match self {
            Field::Present(v) => Some(v),
            _ => None,
        }
    }
}

/// What the mutation reads of a pod. See the [module documentation](self).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodView<'a> {
    /// `metadata` (an object).
    pub metadata: Field<Metadata<'a>>,
    /// `spec`, `None` when missing or not an object.
    pub spec: Option<Spec<'a>>,
}

/// What the mutation reads of `metadata`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metadata<'a> {
    /// `metadata.namespace`, when a string.
    pub namespace: Option<Cow<'a, str>>,
    /// `metadata.annotations` (an object): only the keys that end in `/<name>` for a name in
    /// [`POD_ANNOTATIONS`], in their original order (a repeated key keeps its first place and
    /// takes the last value, as `serde_json::Map` does), with the value when it is a string.
    pub annotations: Field<Annotations<'a>>,
    /// `metadata.labels` (an object): whether it holds [`POD_IDENTITY_LABEL`] `= "enabled"`.
    pub labels: Field<bool>,
}

/// What the mutation reads of `spec`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Spec<'a> {
    /// `spec.serviceAccountName`, when a string.
    pub service_account_name: Option<Cow<'a, str>>,
    /// `spec.volumes` (an array): the names that are strings, in order.
    pub volumes: Field<Vec<Cow<'a, str>>>,
    /// `spec.securityContext` (an object): whether its `fsGroup` is set (present, not `null`).
    pub security_context: Field<bool>,
    /// Whether `spec.nodeSelector` is an object asking for Windows nodes
    /// (`kubernetes.io/os` or `beta.kubernetes.io/os` = `"windows"`).
    pub windows: bool,
    /// `spec.containers` (an array); an item is `None` when it is not an object.
    pub containers: Field<Vec<Option<Container<'a>>>>,
    /// `spec.initContainers`, as [`Spec::containers`].
    pub init_containers: Field<Vec<Option<Container<'a>>>>,
}

/// What the mutation reads of a container.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Container<'a> {
    /// `name`, when a string.
    pub name: Option<Cow<'a, str>>,
    /// `env` (an array): the names that are strings, in order.
    pub env: Field<Vec<Cow<'a, str>>>,
    /// `volumeMounts` (an array), in order.
    pub volume_mounts: Field<Vec<Mount<'a>>>,
}

/// What the mutation reads of a volumeMount.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mount<'a> {
    /// `name`, when a string.
    pub name: Option<Cow<'a, str>>,
    /// `mountPath`, when a string.
    pub mount_path: Option<Cow<'a, str>>,
}

/// A pod's ServiceAccount name: `spec.serviceAccountName`, `default` when unset or empty.
pub(crate) fn name_or_default(name: Option<&str>) -> &str {
    match name {
        Some(name) if !name.is_empty() => name,
        _ => "default",
    }
}

/// Whether a pod annotation key can be `<prefix>/<name>` for a name the mutation reads.
pub fn keeps_annotation(key: &str) -> bool {
    POD_ANNOTATIONS.iter().any(|name| {
        key.strip_suffix(name)
            .is_some_and(|prefix| prefix.ends_with('/'))
    })
}

/// Puts an annotation in `list` as `serde_json::Map` would: a repeated key keeps its place.
pub fn insert_annotation<'a>(
    list: &mut Annotations<'a>,
    key: Cow<'a, str>,
    value: Option<Cow<'a, str>>,
) {
    match list.iter_mut().find(|(k, _)| *k == key) {
        Some((_, v)) => *v = value,
        None => list.push((key, value)),
    }
}

impl<'a> PodView<'a> {
    /// The view of a pod given as JSON; [`MutateError::NotAnObject`] when it is not an object.
    pub fn of(pod: &'a Value) -> Result<Self, MutateError> {
        let pod = pod.as_object().ok_or(MutateError::NotAnObject)?;
        Ok(Self {
            metadata: field(pod.get("metadata"), Value::as_object, |m| Metadata {
                namespace: text(m.get("namespace")),
                annotations: field(m.get("annotations"), Value::as_object, |a| {
                    a.iter()
                        .filter(|(k, _)| keeps_annotation(k))
                        .map(|(k, v)| (Cow::Borrowed(k.as_str()), text(Some(v))))
                        .collect()
                }),
                labels: field(m.get("labels"), Value::as_object, |labels| {
                    labels.get(POD_IDENTITY_LABEL).and_then(Value::as_str) == Some("enabled")
                }),
            }),
            spec: pod.get("spec").and_then(Value::as_object).map(spec),
        })
    }

    /// The name of the pod's ServiceAccount (`spec.serviceAccountName`, `default` when unset
    /// or empty, as the API server defaults it).
    pub fn service_account_name(&self) -> &str {
        name_or_default(
            self.spec
                .as_ref()
                .and_then(|s| s.service_account_name.as_deref()),
        )
    }

    /// The same view owning its strings.
    pub fn into_owned(self) -> PodView<'static> {
        PodView {
            metadata: map(self.metadata, |m| Metadata {
                namespace: m.namespace.map(own),
                annotations: map(m.annotations, |a| {
                    a.into_iter().map(|(k, v)| (own(k), v.map(own))).collect()
                }),
                labels: m.labels,
            }),
            spec: self.spec.map(|s| Spec {
                service_account_name: s.service_account_name.map(own),
                volumes: map(s.volumes, own_all),
                security_context: s.security_context,
                windows: s.windows,
                containers: map(s.containers, own_containers),
                init_containers: map(s.init_containers, own_containers),
            }),
        }
    }
}

fn spec(spec: &Map<String, Value>) -> Spec<'_> {
    let containers = |key| {
        field(spec.get(key), Value::as_array, |items| {
            items.iter().map(|c| c.as_object().map(container)).collect()
        })
    };
    let selector = spec.get("nodeSelector").and_then(Value::as_object);
    Spec {
        service_account_name: text(spec.get("serviceAccountName")),
        volumes: names(spec.get("volumes")),
        security_context: field(spec.get("securityContext"), Value::as_object, |sc| {
            !sc.get("fsGroup").is_none_or(Value::is_null)
        }),
        windows: selector.is_some_and(|s| {
            ["kubernetes.io/os", "beta.kubernetes.io/os"]
                .iter()
                .any(|k| s.get(*k).and_then(Value::as_str) == Some("windows"))
        }),
        containers: containers("containers"),
        init_containers: containers("initContainers"),
    }
}

fn container(c: &Map<String, Value>) -> Container<'_> {
    Container {
        name: text(c.get("name")),
        env: names(c.get("env")),
        volume_mounts: field(c.get("volumeMounts"), Value::as_array, |mounts| {
            mounts
                .iter()
                .map(|m| Mount {
                    name: text(m.get("name")),
                    mount_path: text(m.get("mountPath")),
                })
                .collect()
        }),
    }
}

/// A field of type `T` read by `as_type`, made into the view by `make`.
fn field<'v, T: ?Sized + 'v, U>(
    value: Option<&'v Value>,
    as_type: impl Fn(&'v Value) -> Option<&'v T>,
    make: impl FnOnce(&'v T) -> U,
) -> Field<U> {
    match value {
        None | Some(Value::Null) => Field::Absent,
        Some(v) => as_type(v).map_or(Field::Wrong, |t| Field::Present(make(t))),
    }
}

/// The string names of an array of objects.
fn names(value: Option<&Value>) -> Field<Vec<Cow<'_, str>>> {
    field(value, Value::as_array, |items| {
        items.iter().filter_map(|i| text(i.get("name"))).collect()
    })
}

fn text(value: Option<&Value>) -> Option<Cow<'_, str>> {
    value.and_then(Value::as_str).map(Cow::Borrowed)
}

fn map<T, U>(field: Field<T>, f: impl FnOnce(T) -> U) -> Field<U> {
    match field {
        Field::Absent => Field::Absent,
        Field::Present(v) => Field::Present(f(v)),
        Field::Wrong => Field::Wrong,
    }
}

fn own(s: Cow<'_, str>) -> Cow<'static, str> {
    Cow::Owned(s.into_owned())
}

fn own_all(list: Vec<Cow<'_, str>>) -> Vec<Cow<'static, str>> {
    list.into_iter().map(own).collect()
}

fn own_containers(list: Vec<Option<Container<'_>>>) -> Vec<Option<Container<'static>>> {
    list.into_iter()
        .map(|c| {
            c.map(|c| Container {
                name: c.name.map(own),
                env: map(c.env, own_all),
                volume_mounts: map(c.volume_mounts, |mounts| {
                    mounts
                        .into_iter()
                        .map(|m| Mount {
                            name: m.name.map(own),
                            mount_path: m.mount_path.map(own),
                        })
                        .collect()
                }),
            })
        })
        .collect()
}
