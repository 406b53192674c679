//! The ServiceAccount cache: stripped ServiceAccounts fed by a watch, ConfigMap mappings, and
//! the cache-miss path (bounded wait plus a rate-limited direct lookup).
//!
//! The store is a plain synchronous map (no I/O): [`crate::kube_sync`] applies watch events to
//! it, and tests can fill it directly.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use irsa_mutate::{ConfigMapMappings, ServiceAccountInfo};

use crate::metrics::Metrics;

/// What the cache keeps of one ServiceAccount: its `<prefix>/` annotations, parsed (as
/// upstream's informer transform keeps only those, to save memory on large clusters).
pub type Entry = Arc<ServiceAccountInfo>;

/// What a lookup found.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// The ServiceAccount (role or not).
    ServiceAccount(Entry),
    /// No ServiceAccount, but a ConfigMap mapping for it (counts as found, as upstream).
    Mapping,
    /// Neither, after the configured wait and lookup.
    Missing,
}

impl Found {
    /// The ServiceAccount entry, if one was found.
    pub fn service_account(&self) -> Option<&ServiceAccountInfo> {
        match self {
            Found::ServiceAccount(e) => Some(e),
            _ => None,
        }
    }
}

/// Outcome of a direct lookup.
#[derive(Debug)]
pub enum Fetched {
    /// The ServiceAccount exists: its full annotation map.
    Found(BTreeMap<String, String>),
    /// The API server says it does not exist.
    NotFound,
    /// The lookup failed (message for the log).
    Failed(String),
}

/// A direct ServiceAccount lookup (a GET on the API server).
pub type Fetcher =
    Arc<dyn Fn(String, String) -> Pin<Box<dyn Future<Output = Fetched> + Send>> + Send + Sync>;

/// How the cache behaves on a miss.
#[derive(Debug, Clone, PartialEq)]
pub struct MissPolicy {
    /// `--service-account-lookup-grace-period`: how long to wait for the watch to deliver a
    /// missing ServiceAccount (0: no wait, as upstream's default).
    pub grace_period: Duration,
    /// Our `--service-account-lookup-timeout`: the bound of the direct GET done on a miss
    /// (0 disables the GET, which is upstream's behaviour with a zero grace period).
    pub lookup_timeout: Duration,
    /// Direct GETs allowed per second (token bucket refill).
    pub lookups_per_second: f64,
    /// Token bucket size.
    pub lookup_burst: f64,
}

impl Default for MissPolicy {
    fn default() -> Self {
        Self {
            grace_period: Duration::ZERO,
            lookup_timeout: Duration::from_secs(1),
            lookups_per_second: 10.0,
            lookup_burst: 20.0,
        }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The cache shared by the watch tasks and the admission handler.
pub struct Cache {
    prefix: String,
    sas: RwLock<HashMap<String, Entry>>,
    init_buffer: Mutex<Option<HashMap<String, Entry>>>,
    mappings: RwLock<Arc<ConfigMapMappings>>,
    no_annotations: Entry,
    changed: Notify,
    sa_synced: watch::Sender<bool>,
    cm_synced: watch::Sender<bool>,
    policy: MissPolicy,
    fetcher: Option<Fetcher>,
    bucket: Mutex<Bucket>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("prefix", &self.prefix)
            .field("service_accounts", &self.len())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

fn key(namespace: &str, name: &str) -> String {
    let mut k = String::with_capacity(namespace.len() + name.len() + 1);
    k.push_str(namespace);
    k.push('/');
    k.push_str(name);
    k
}

impl Cache {
    /// A cache keeping the annotations under `prefix/`. `watch_config_map` says whether
    /// readiness also waits for the ConfigMap. `fetcher` does direct lookups on a miss.
    pub fn new(
        prefix: impl Into<String>,
        policy: MissPolicy,
        fetcher: Option<Fetcher>,
        watch_config_map: bool,
        metrics: Arc<Metrics>,
    ) -> Self {
        let (sa_synced, _) = watch::channel(false);
        let (cm_synced, _) = watch::channel(!watch_config_map);
        let burst = policy.lookup_burst;
        Self {
            prefix: prefix.into(),
            sas: RwLock::default(),
            init_buffer: Mutex::default(),
            mappings: RwLock::default(),
            no_annotations: Arc::default(),
            changed: Notify::new(),
            sa_synced,
            cm_synced,
            policy,
            fetcher,
            bucket: Mutex::new(Bucket {
                tokens: burst,
                at: Instant::now(),
            }),
            metrics,
        }
    }

    /// Reduces a full annotation map to what the webhook needs: the parsed `prefix/`
    /// annotations. ServiceAccounts without any share one entry, so a cluster of mostly
    /// unannotated ServiceAccounts costs little more than their keys.
    pub fn strip(&self, annotations: &BTreeMap<String, String>) -> Entry {
        let info = ServiceAccountInfo::from_annotations(annotations, &self.prefix);
        if info == *self.no_annotations {
            Arc::clone(&self.no_annotations)
        } else {
            Arc::new(info)
        }
    }

    /// Adds or replaces a ServiceAccount (watch ADDED/MODIFIED, or a direct lookup).
    pub fn apply(&self, namespace: &str, name: &str, annotations: &BTreeMap<String, String>) {
        let stripped = self.strip(annotations);
        let k = key(namespace, name);
        let mut buf = self.init_buffer.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(buffer) = buf.as_mut() {
            buffer.insert(k.clone(), Arc::clone(&stripped));
        }
        drop(buf);
        write(&self.sas).insert(k, stripped);
        self.metrics.mark_used();
        self.changed.notify_waiters();
    }

    /// Removes a ServiceAccount (watch DELETED).
    pub fn delete(&self, namespace: &str, name: &str) {
        let k = key(namespace, name);
        if let Some(buffer) = self
            .init_buffer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            buffer.remove(&k);
        }
        write(&self.sas).remove(&k);
    }

    /// A (re)list starts: objects applied from now on until [`Cache::init_done`] form the new
    /// content. Until then the previous content keeps answering (as kube's reflector does).
    pub fn init_start(&self) {
        *self.init_buffer.lock().unwrap_or_else(|e| e.into_inner()) = Some(HashMap::new());
    }

    /// The (re)list finished: swap in its content and mark the cache synced.
    pub fn init_done(&self) {
        let buffer = self
            .init_buffer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(fresh) = buffer {
            *write(&self.sas) = fresh;
        }
        self.sa_synced.send_replace(true);
        self.changed.notify_waiters();
    }

    /// Replaces the ConfigMap mappings (an empty set when the ConfigMap is deleted) and marks
    /// them synced.
    pub fn set_mappings(&self, mappings: ConfigMapMappings) {
        *write(&self.mappings) = Arc::new(mappings);
        self.cm_synced.send_replace(true);
        self.changed.notify_waiters();
    }

    /// Number of cached ServiceAccounts.
    pub fn len(&self) -> usize {
        read(&self.sas).len()
    }

    /// Whether no ServiceAccount is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the ServiceAccount list (and the ConfigMap, when watched) has synced.
    pub fn is_ready(&self) -> bool {
        *self.sa_synced.borrow() && *self.cm_synced.borrow()
    }

    /// Waits until [`Cache::is_ready`].
    pub async fn wait_ready(&self) {
        let mut sa = self.sa_synced.subscribe();
        let mut cm = self.cm_synced.subscribe();
        let _ = sa.wait_for(|v| *v).await;
        let _ = cm.wait_for(|v| *v).await;
    }

    /// The cached entry of `namespace/name`, without waiting.
    pub fn cached(&self, namespace: &str, name: &str) -> Option<Entry> {
        read(&self.sas).get(&key(namespace, name)).cloned()
    }

    fn immediate(&self, namespace: &str, name: &str) -> Option<Found> {
        if let Some(a) = self.cached(namespace, name) {
            return Some(Found::ServiceAccount(a));
        }
        read(&self.mappings)
            .get(namespace, name)
            .map(|_| Found::Mapping)
    }

    /// The current ConfigMap mappings (consulted by the mutation when the ServiceAccount has
    /// no role, as upstream does).
    pub fn mappings(&self) -> Arc<ConfigMapMappings> {
        Arc::clone(&read(&self.mappings))
    }

    /// Whether the ConfigMap has a mapping for `namespace/name` (or `*/name`).
    pub fn has_mapping(&self, namespace: &str, name: &str) -> bool {
        read(&self.mappings).get(namespace, name).is_some()
    }

    /// Whether the ConfigMap was loaded at least once (or is not watched).
    pub fn mappings_synced(&self) -> bool {
        *self.cm_synced.borrow()
    }

    /// Finds `namespace/name`: from the cache, else the ConfigMap, else by waiting up to
    /// the grace period for the watch while doing a bounded, rate-limited direct GET. A miss
    /// after all that increments `pod_identity_webhook_missing_sa_count`.
    pub async fn lookup(&self, namespace: &str, name: &str) -> Found {
        if let Some(found) = self.immediate(namespace, name) {
            return found;
        }
        let wait = self.policy.grace_period.max(if self.fetcher.is_some() {
            self.policy.lookup_timeout
        } else {
            Duration::ZERO
        });
        if wait.is_zero() {
            self.metrics.missing_sa();
            return Found::Missing;
        }
        let deadline = Instant::now() + wait;
        let from_watch = self.wait_for_watch(namespace, name, deadline);
        let from_api = self.fetch(namespace, name, deadline);
        tokio::pin!(from_watch, from_api);
        let mut api_done = false;
        let found = loop {
            tokio::select! {
                found = &mut from_watch => break found,
                fetched = &mut from_api, if !api_done => {
                    api_done = true;
                    if let Some(found) = fetched {
                        break Some(found);
                    }
                    // Not found or failed: keep waiting for the watch only if a grace period
                    // was asked for (upstream semantics); otherwise give up now.
                    if self.policy.grace_period.is_zero() {
                        break None;
                    }
                }
            }
        };
        match found {
            Some(found) => found,
            None => {
                tracing::info!(
                    namespace,
                    service_account = name,
                    "ServiceAccount not found in the cache or by lookup; not mutating"
                );
                self.metrics.missing_sa();
                Found::Missing
            }
        }
    }

    async fn wait_for_watch(
        &self,
        namespace: &str,
        name: &str,
        deadline: Instant,
    ) -> Option<Found> {
        loop {
            let notified = self.changed.notified();
            if let Some(found) = self.immediate(namespace, name) {
                return Some(found);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.immediate(namespace, name);
            }
        }
    }

    /// The direct GET: rate limited (waiting for a token no later than `deadline`) and bounded by
    /// the lookup timeout. `None` when it did not find the ServiceAccount.
    async fn fetch(&self, namespace: &str, name: &str, deadline: Instant) -> Option<Found> {
        let fetcher = self.fetcher.as_ref()?;
        if self.policy.lookup_timeout.is_zero() {
            return std::future::pending().await;
        }
        let Some(start) = self.take_token(deadline) else {
            self.metrics.sa_lookup("rate_limited");
            return None;
        };
        tokio::time::sleep_until(start).await;
        let end = deadline.min(Instant::now() + self.policy.lookup_timeout);
        match tokio::time::timeout_at(end, fetcher(namespace.to_owned(), name.to_owned())).await {
            Ok(Fetched::Found(annotations)) => {
                self.metrics.sa_lookup("found");
                // The watch may have delivered a newer version meanwhile: it wins.
                if self.cached(namespace, name).is_none() {
                    self.apply(namespace, name, &annotations);
                }
                self.cached(namespace, name).map(Found::ServiceAccount)
            }
            Ok(Fetched::NotFound) => {
                self.metrics.sa_lookup("not_found");
                None
            }
            Ok(Fetched::Failed(err)) => {
                self.metrics.sa_lookup("error");
                tracing::warn!(namespace, service_account = name, error = %err, "direct ServiceAccount lookup failed");
                None
            }
            Err(_) => {
                self.metrics.sa_lookup("error");
                tracing::warn!(
                    namespace,
                    service_account = name,
                    "direct ServiceAccount lookup timed out"
                );
                None
            }
        }
    }

    /// Reserves a token; returns when it may be used, or `None` if that is after `deadline`.
    fn take_token(&self, deadline: Instant) -> Option<Instant> {
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let rate = self.policy.lookups_per_second.max(f64::MIN_POSITIVE);
        b.tokens = (b.tokens + (now - b.at).as_secs_f64() * rate).min(self.policy.lookup_burst);
        b.at = now;
        let ready = if b.tokens >= 1.0 {
            now
        } else {
            now + Duration::from_secs_f64((1.0 - b.tokens) / rate)
        };
        if ready > deadline {
            return None;
        }
        b.tokens -= 1.0;
        Some(ready)
    }
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn cache(policy: MissPolicy, fetcher: Option<Fetcher>) -> Cache {
        Cache::new(
            "eks.amazonaws.com",
            policy,
            fetcher,
            false,
            Arc::new(Metrics::default()),
        )
    }

    #[test]
    fn should_strip_to_prefix_annotations() {
        let c = cache(MissPolicy::default(), None);
        c.apply(
            "ns",
            "sa",
            &ann(&[
                ("eks.amazonaws.com/role-arn", "r"),
                ("eks.amazonaws.com.evil/x", "y"),
                ("kubectl.kubernetes.io/last-applied-configuration", "big"),
            ]),
        );
        let got = c.cached("ns", "sa").unwrap();
        assert_eq!(got.role_arn.as_deref(), Some("r"));
        c.apply("ns", "plain", &ann(&[("other/x", "y")]));
        c.apply("ns", "plain2", &ann(&[]));
        let (a, b) = (
            c.cached("ns", "plain").unwrap(),
            c.cached("ns", "plain2").unwrap(),
        );
        assert!(
            Arc::ptr_eq(&a, &b),
            "unannotated ServiceAccounts share one entry"
        );
    }

    #[test]
    fn should_swap_relist_atomically_and_become_ready() {
        let c = cache(MissPolicy::default(), None);
        c.apply("ns", "old", &ann(&[]));
        assert!(!c.is_ready());
        c.init_start();
        c.apply("ns", "new", &ann(&[]));
        c.init_done();
        assert!(c.is_ready());
        assert!(c.cached("ns", "old").is_none());
        assert!(c.cached("ns", "new").is_some());
    }

    #[tokio::test]
    async fn should_count_a_miss_without_lookup() {
        let c = cache(
            MissPolicy {
                lookup_timeout: Duration::ZERO,
                ..MissPolicy::default()
            },
            None,
        );
        assert_eq!(c.lookup("ns", "sa").await, Found::Missing);
        assert_eq!(c.metrics.missing_sa_count(), 1);
    }

    #[tokio::test]
    async fn should_fetch_on_miss_and_cache_the_result() {
        let fetcher: Fetcher = Arc::new(|ns, name| {
            Box::pin(async move {
                if ns == "ns" && name == "sa" {
                    Fetched::Found(ann(&[("eks.amazonaws.com/role-arn", "r")]))
                } else {
                    Fetched::NotFound
                }
            })
        });
        let c = cache(MissPolicy::default(), Some(fetcher));
        let Found::ServiceAccount(a) = c.lookup("ns", "sa").await else {
            panic!("expected a hit")
        };
        assert_eq!(a.role_arn.as_deref(), Some("r"));
        assert!(c.cached("ns", "sa").is_some());
        assert_eq!(c.lookup("ns", "nope").await, Found::Missing);
        assert_eq!(c.metrics.missing_sa_count(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn should_rate_limit_direct_lookups() {
        let fetcher: Fetcher = Arc::new(|_, _| Box::pin(async { Fetched::NotFound }));
        let c = cache(
            MissPolicy {
                lookup_burst: 2.0,
                lookups_per_second: 0.001,
                ..MissPolicy::default()
            },
            Some(fetcher),
        );
        for _ in 0..3 {
            assert_eq!(c.lookup("ns", "x").await, Found::Missing);
        }
        let text = c.metrics.render();
        assert!(
            text.contains("irsa_webhook_sa_lookup_count{outcome=\"not_found\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("irsa_webhook_sa_lookup_count{outcome=\"rate_limited\"} 1"),
            "{text}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn should_wait_for_the_watch_during_grace_period() {
        let c = Arc::new(cache(
            MissPolicy {
                grace_period: Duration::from_secs(5),
                lookup_timeout: Duration::ZERO,
                ..MissPolicy::default()
            },
            None,
        ));
        let c2 = Arc::clone(&c);
        let waiter = tokio::spawn(async move { c2.lookup("ns", "late").await });
        tokio::time::sleep(Duration::from_secs(1)).await;
        c.apply("ns", "late", &ann(&[]));
        assert!(matches!(waiter.await.unwrap(), Found::ServiceAccount(_)));
    }
}
