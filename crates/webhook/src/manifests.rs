//! Install manifests for the webhook (Deployment, RBAC, Service, MutatingWebhookConfiguration, certificates).
