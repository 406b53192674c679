//! `irsa webhook mutate`: the webhook's mutation, offline, on manifest files.

use std::hash::{BuildHasher, RandomState};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use irsa_mutate::{
    Associations, ConfigMapMappings, ServiceAccountInfo, ServiceAccountLookup, json_patch,
};
use serde_json::Value;

use super::flags::MutationFlags;

/// What to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// The JSON Patch the webhook would return.
    Patch,
    /// The pod after the patch, as YAML.
    Pod,
}

/// Arguments of `irsa webhook mutate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Pod manifest (YAML or JSON).
    #[arg(long, value_name = "FILE")]
    pod: PathBuf,
    /// The pod's ServiceAccount manifest (YAML or JSON). Without it the ServiceAccount is taken
    /// as having no annotations.
    #[arg(long, value_name = "FILE")]
    service_account: Option<PathBuf>,
    /// The `pod-identity-webhook` ConfigMap manifest with `data.config` role mappings.
    #[arg(long, value_name = "FILE")]
    config_map: Option<PathBuf>,
    /// Namespace the pod is created in [default: the pod's metadata.namespace, else `default`].
    #[arg(long, value_name = "NS")]
    namespace: Option<String>,
    /// Print the JSON Patch or the mutated pod.
    #[arg(long, value_enum, default_value_t = Output::Patch)]
    output: Output,
    #[command(flatten)]
    flags: MutationFlags,
}

/// Runs `irsa webhook mutate`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = args.flags.to_config();
    let pod = read_manifest(&args.pod, "pod")?;
    let namespace = args
        .namespace
        .clone()
        .or_else(|| string_at(&pod, "/metadata/namespace"))
        .unwrap_or_else(|| "default".to_owned());
    let sa_name = irsa_mutate::service_account_name(&pod).to_owned();

    let cached = match &args.service_account {
        Some(path) => {
            let sa = read_manifest(path, "ServiceAccount")?;
            if let Some(name) = string_at(&sa, "/metadata/name")
                && name != sa_name
            {
                eprintln!(
                    "warning: {} is ServiceAccount {name:?} but the pod uses {sa_name:?}; using it anyway",
                    path.display()
                );
            }
            ServiceAccountInfo::from_service_account(&sa, &config.annotation_prefix)
        }
        // An SA without annotations: found, but no role.
        None => ServiceAccountInfo::default(),
    };
    let mappings = match &args.config_map {
        Some(path) => {
            let cm = read_manifest(path, "ConfigMap")?;
            ConfigMapMappings::from_config_map(&cm)
                .with_context(|| format!("invalid ConfigMap {}", path.display()))?
        }
        None => ConfigMapMappings::default(),
    };
    let associations = match args.flags.associations_file() {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the association file {}", path.display()))?;
            Associations::parse(&text)
                .with_context(|| format!("invalid association file {}", path.display()))?
        }
        None => Associations::default(),
    };

    let lookup = ServiceAccountLookup::cached(Some(&cached))
        .with_config_map(mappings.get(&namespace, &sa_name));
    let mut random = |n: i64| random_below(n);
    let mutation = irsa_mutate::mutate(
        &pod,
        &namespace,
        &lookup,
        &associations,
        &config,
        &mut random,
    )
    .with_context(|| format!("cannot mutate {}", args.pod.display()))?;
    for warning in &mutation.warnings {
        eprintln!("warning: {warning}");
    }
    if mutation.patch.0.is_empty() {
        eprintln!(
            "pod not mutated: {} ServiceAccount {namespace}/{sa_name}",
            match mutation.mode.metric_method() {
                None => "no role and no pod identity association for",
                Some(_) => "it already has everything it needs from",
            }
        );
    }
    match args.output {
        Output::Patch => println!("{}", serde_json::to_string_pretty(&mutation.patch)?),
        Output::Pod => {
            let mut mutated = pod;
            json_patch::patch(&mut mutated, &mutation.patch)
                .context("the patch does not apply to the pod (please report this bug)")?;
            print!("{}", serde_yaml::to_string(&mutated)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads a YAML or JSON manifest (JSON is YAML).
fn read_manifest(path: &Path, what: &str) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the {what} manifest {}", path.display()))?;
    let value: Value = serde_yaml::from_str(&text).with_context(|| {
        format!(
            "{} is not a valid YAML or JSON {what} manifest",
            path.display()
        )
    })?;
    if !value.is_object() {
        anyhow::bail!("{} must hold one {what} object", path.display());
    }
    Ok(value)
}

fn string_at(value: &Value, pointer: &str) -> Option<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A uniform-enough integer in `0..n` for the token-expiration jitter (not for cryptography).
fn random_below(n: i64) -> i64 {
    let bits = RandomState::new().hash_one(std::time::SystemTime::now());
    (bits % n.max(1) as u64) as i64
}
