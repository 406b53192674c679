//! The pod mutation of the pod identity webhook, as a pure function.
//!
//! [`mutate`] takes the admitted Pod (JSON), what is known about its ServiceAccount
//! ([`ServiceAccountLookup`]: the cached [`ServiceAccountInfo`] and/or a [`ConfigMapMapping`]),
//! the container-credentials [`Associations`] and the webhook [`Config`], and returns a
//! [`Mutation`]: a JSON Patch, warnings and the selected [`Mode`]. No I/O, no clock: the only
//! randomness (jittered token expiration in container-credentials mode) is an input.
//! [`mutate_json`] is the same mutation with the patch written straight as JSON text (the
//! bytes serde_json writes for [`Mutation::patch`]), for servers that only send it on.
//!
//! The behaviour is that of `aws/amazon-eks-pod-identity-webhook` (mode precedence, env var
//! names and order, volume, mounts, `skip-containers`, token expiration with its 600 s floor,
//! Windows paths, init containers and native sidecars), with deliberate improvements:
//!
//! * **Surgical patches.** Upstream replaces the whole `containers`/`initContainers` arrays and
//!   drops fields its Go structs do not know (upstream #208). irsa only emits `add` ops on
//!   specific paths (`.../env`, `.../env/-`, `.../volumeMounts/-`, ...), so unknown fields are
//!   never touched.
//! * **mountPath collision** (#159): a container that mounts a volume with *another* name at the
//!   token mount path is left unchanged, with a warning, instead of producing an invalid pod.
//! * **fsGroup opt-in** (#8): pod annotation `<prefix>/fs-group` or [`Config::default_fs_group`]
//!   sets `spec.securityContext.fsGroup`, only when absent.
//! * **Reinvocation**: mutating an already mutated pod yields an empty patch.
//!
//! ```
//! use irsa_mutate::*;
//! let pod = serde_json::json!({"spec": {"containers": [{"name": "app", "image": "x"}]}});
//! let sa = ServiceAccountInfo {
//!     role_arn: Some("arn:aws:iam::111122223333:role/app".into()),
//!     ..Default::default()
//! };
//! let m = mutate(&pod, "default", &ServiceAccountLookup::cached(Some(&sa)),
//!                &Associations::default(), &Config::default(), &mut |_| 0).unwrap();
//! assert_eq!(m.mode, Mode::Irsa);
//! let mut out = pod.clone();
//! json_patch::patch(&mut out, &m.patch).unwrap();
//! assert_eq!(out["spec"]["containers"][0]["env"][0]["name"], "AWS_ROLE_ARN");
//! ```

mod associations;
mod config;
mod error;
mod mutate;
mod patch;
mod service_account;
mod text;
pub mod view;

pub use associations::Associations;
pub use config::*;
pub use error::{AssociationsError, ConfigMapError, MutateError};
pub use mutate::{Mode, Mutation, MutationSummary, mutate, mutate_json, service_account_name};
pub use service_account::{
    ConfigMapMapping, ConfigMapMappings, ServiceAccountInfo, ServiceAccountLookup, parse_go_bool,
    role_arn_looks_valid,
};
pub use view::PodView;

/// Re-export of the `json-patch` crate used in [`Mutation::patch`].
pub use json_patch;
