//! Glue between an admission request and the pure mutation of `irsa-mutate`.

use std::hash::BuildHasher as _;
use std::sync::atomic::{AtomicU64, Ordering};

use irsa_mutate::{Associations, Config, ConfigMapMappings, Mode, ServiceAccountLookup};

use crate::admission::PodRequest;
use crate::cache::Found;
use crate::metrics::PodMethod;

/// What the mutation decided for one pod, with the patch as JSON text ([`admit_json`]).
#[derive(Debug, Default)]
pub struct JsonOutcome {
    /// The JSON Patch as JSON text, `None` when the pod is not mutated. Like upstream, a patch
    /// (possibly empty, e.g. on reinvocation) is returned whenever a mode applies.
    pub patch: Option<Vec<u8>>,
    /// Warnings returned to the client (`response.warnings`).
    pub warnings: Vec<String>,
    /// The mode, for `pod_identity_webhook_pod_count`.
    pub method: Option<PodMethod>,
}

fn lookup<'a>(
    request: &PodRequest<'_>,
    found: &'a Found,
    mappings: &'a ConfigMapMappings,
) -> ServiceAccountLookup<'a> {
    // `get` formats two keys: skip it when there is nothing to find (no ConfigMap).
    let mapping = if mappings.is_empty() {
        None
    } else {
        let name = request.service_account_name();
        mappings.get(&request.namespace, name)
    };
    ServiceAccountLookup::cached(found.service_account()).with_config_map(mapping)
}

fn method(mode: Mode) -> Option<PodMethod> {
    match mode {
        Mode::None => None,
        Mode::Irsa => Some(PodMethod::StsWebIdentity),
        Mode::ContainerCredentials => Some(PodMethod::ContainerCredentials),
    }
}

/// Runs the mutation for `request`, with the patch written as JSON text by
/// [`irsa_mutate::mutate_json`] (no JSON values built). `Err` is a message for an
/// `allowed: false` reply (the object is not a usable Pod).
pub fn admit_json(
    config: &Config,
    request: &PodRequest<'_>,
    found: &Found,
    mappings: &ConfigMapMappings,
    associations: &Associations,
) -> Result<JsonOutcome, String> {
    // Room for the patch of a pod with a few containers, so it never grows.
    let mut patch = Vec::with_capacity(4096);
    let summary = irsa_mutate::mutate_json(
        &request.pod,
        &request.namespace,
        &lookup(request, found, mappings),
        associations,
        config,
        &mut random_below,
        &mut patch,
    )
    .map_err(|e| e.to_string())?;
    let method = method(summary.mode);
    Ok(JsonOutcome {
        patch: method.map(|_| patch),
        warnings: summary.warnings,
        method,
    })
}

/// A uniform-enough integer in `0..n` for the token-expiration jitter (not security relevant):
/// std's randomly keyed SipHash over a counter, so no extra dependency is needed.
fn random_below(n: i64) -> i64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    if n <= 0 {
        return 0;
    }
    let x = std::hash::RandomState::new().hash_one(COUNTER.fetch_add(1, Ordering::Relaxed));
    (x % n as u64) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn should_stay_in_range() {
        for n in [1, 2, 7201] {
            for _ in 0..100 {
                assert!((0..n).contains(&random_below(n)));
            }
        }
    }
}
