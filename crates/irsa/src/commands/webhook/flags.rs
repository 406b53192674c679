//! Flags shared by `irsa webhook mutate` and `irsa webhook serve` (upstream names and defaults).

/// Mutation flags, with the names and defaults of amazon-eks-pod-identity-webhook.
#[derive(Debug, Clone, clap::Args)]
pub struct MutationFlags {}
