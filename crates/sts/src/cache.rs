//! In-memory views of the IAM state that the STS actions read on every call: OIDC
//! providers by URL, roles by ARN with their parsed trust policy, the parsed identity
//! policies and permissions boundary of a role, and parsed managed-policy documents.
//!
//! Correctness over speed: every entry belongs to one [`Store::generation`]. Each lookup
//! compares the store's generation with the cache's and drops everything when it moved,
//! so a write acknowledged by this process (the store bumps the generation before the
//! write returns) is seen by the very next call; a commit by another process sharing the
//! state file is seen within [`crate::store::EXTERNAL_CHECK_INTERVAL`]. IAM writes are
//! rare next to STS calls, so dropping everything on any write costs nothing measurable.
//!
//! Misses (and absent entries, which are cached too so unknown issuers or roles do not
//! reach SQLite on every call) are bounded: a map that grows past [`MAX_ENTRIES`] is
//! cleared. The async lookups read SQLite on a blocking thread, never on an async worker.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, RwLock};

use irsa_policy::{NamedPolicy, Policy, PolicyKind, PolicySet};

use crate::store::{OidcProvider, Role, Store, StoreError};

/// Largest number of entries of each map before it is cleared.
pub const MAX_ENTRIES: usize = 10_000;

/// A role with its trust policy parsed once.
#[derive(Debug)]
pub struct CachedRole {
    /// The stored role.
    pub role: Role,
    /// The trust policy alone, ready for [`irsa_policy::evaluate`]; `None` when the stored
    /// document no longer parses (it then allows nothing; logged once per load).
    pub trust: Option<Arc<PolicySet>>,
}

impl CachedRole {
    fn load(role: Role) -> CachedRole {
        let trust = match Policy::parse_as(&role.assume_role_policy_document, PolicyKind::Trust) {
            Ok(p) => Some(Arc::new(PolicySet::trust(NamedPolicy::new(
                format!("{} trust policy", role.name),
                p,
            )))),
            Err(e) => {
                tracing::warn!(role = %role.arn, error = %e.message(), "stored trust policy does not parse");
                None
            }
        };
        CachedRole { role, trust }
    }

    /// The parsed trust policy as a [`NamedPolicy`].
    pub fn trust_policy(&self) -> Option<&NamedPolicy> {
        self.trust.as_ref().and_then(|s| s.resource.as_ref())
    }
}

/// What a role's sessions are granted by the role itself.
#[derive(Debug, Default)]
pub struct RoleGrants {
    /// Inline policies (by name) then attached managed policies (by ARN), parsed.
    pub identity: Vec<NamedPolicy>,
    /// The permissions boundary, parsed, when the role has one that exists.
    pub boundary: Option<NamedPolicy>,
}

struct Map<K, V> {
    entries: HashMap<K, V>,
}

impl<K: Eq + Hash, V: Clone> Map<K, V> {
    fn new() -> Self {
        Map {
            entries: HashMap::new(),
        }
    }

    fn insert(&mut self, k: K, v: V) {
        if self.entries.len() >= MAX_ENTRIES {
            self.entries.clear();
        }
        self.entries.insert(k, v);
    }
}

struct Inner {
    generation: u64,
    providers: Map<String, Option<Arc<OidcProvider>>>,
    roles: Map<String, Option<Arc<CachedRole>>>,
    grants: Map<String, Arc<RoleGrants>>,
    managed: Map<(String, PolicyKind), Option<Arc<Policy>>>,
}

impl Inner {
    fn new(generation: u64) -> Inner {
        Inner {
            generation,
            providers: Map::new(),
            roles: Map::new(),
            grants: Map::new(),
            managed: Map::new(),
        }
    }
}

/// The cache. One per server, shared by every request.
pub struct StateCache {
    store: Arc<Store>,
    inner: RwLock<Inner>,
}

impl std::fmt::Debug for StateCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateCache").finish_non_exhaustive()
    }
}

impl StateCache {
    /// An empty cache over `store`.
    pub fn new(store: Arc<Store>) -> StateCache {
        let generation = store.generation();
        StateCache {
            store,
            inner: RwLock::new(Inner::new(generation)),
        }
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// A cached value when the cache is current, else `None` (after dropping a stale cache).
    fn get<K, V, Q>(&self, pick: impl Fn(&Inner) -> &Map<K, V>, key: &Q) -> (u64, Option<V>)
    where
        K: Eq + Hash + std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
        V: Clone,
    {
        let generation = self.store.generation();
        {
            let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
            if inner.generation == generation {
                return (generation, pick(&inner).entries.get(key).cloned());
            }
        }
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if inner.generation != generation {
            *inner = Inner::new(generation);
        }
        (generation, None)
    }

    /// Stores a value read from SQLite at `generation`, unless the state moved meanwhile.
    fn put<K: Eq + Hash, V: Clone>(
        &self,
        generation: u64,
        pick: impl FnOnce(&mut Inner) -> &mut Map<K, V>,
        key: K,
        value: V,
    ) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if inner.generation == generation {
            pick(&mut inner).insert(key, value);
        }
    }

    /// The provider whose URL (issuer without scheme) is `host_path`.
    pub fn provider_by_url(
        &self,
        host_path: &str,
    ) -> Result<Option<Arc<OidcProvider>>, StoreError> {
        let (generation, hit) = self.get(|i| &i.providers, host_path);
        if let Some(v) = hit {
            return Ok(v);
        }
        let v = self
            .store
            .get_oidc_provider_by_url(host_path)?
            .map(Arc::new);
        self.put(
            generation,
            |i| &mut i.providers,
            host_path.to_owned(),
            v.clone(),
        );
        Ok(v)
    }

    /// The role with this ARN, trust policy parsed.
    pub fn role_by_arn(&self, arn: &str) -> Result<Option<Arc<CachedRole>>, StoreError> {
        let (generation, hit) = self.get(|i| &i.roles, arn);
        if let Some(v) = hit {
            return Ok(v);
        }
        let v = self
            .store
            .get_role_by_arn(arn)?
            .map(|r| Arc::new(CachedRole::load(r)));
        self.put(generation, |i| &mut i.roles, arn.to_owned(), v.clone());
        Ok(v)
    }

    /// The parsed identity policies and permissions boundary of `role`.
    pub fn role_grants(&self, role: &Role) -> Result<Arc<RoleGrants>, StoreError> {
        let (generation, hit) = self.get(|i| &i.grants, role.arn.as_str());
        if let Some(v) = hit {
            return Ok(v);
        }
        let mut grants = RoleGrants::default();
        for (name, doc) in self.store.role_policies(role)? {
            if let Some(p) = parse_stored(&name, &doc, PolicyKind::Identity) {
                grants.identity.push(NamedPolicy::new(name, p));
            }
        }
        if let Some(arn) = &role.permissions_boundary
            && let Some(doc) = self.store.get_managed_policy_document(arn)?
        {
            grants.boundary = parse_stored(arn, &doc, PolicyKind::PermissionsBoundary)
                .map(|p| NamedPolicy::new(arn.clone(), p));
        }
        let v = Arc::new(grants);
        self.put(generation, |i| &mut i.grants, role.arn.clone(), v.clone());
        Ok(v)
    }

    /// The default version of a managed policy, parsed as `kind`; `None` when absent (or
    /// when it no longer parses, logged).
    pub fn managed_policy(
        &self,
        arn: &str,
        kind: PolicyKind,
    ) -> Result<Option<Arc<Policy>>, StoreError> {
        let key = (arn.to_owned(), kind);
        let (generation, hit) = self.get(|i| &i.managed, &key);
        if let Some(v) = hit {
            return Ok(v);
        }
        let v = match self.store.get_managed_policy_document(arn)? {
            Some(doc) => parse_stored(arn, &doc, kind),
            None => None,
        };
        self.put(generation, |i| &mut i.managed, key, v.clone());
        Ok(v)
    }

    /// [`StateCache::provider_by_url`] from async code: a hit answers at once, a miss
    /// reads SQLite on a blocking thread.
    pub async fn provider_by_url_async(
        self: &Arc<Self>,
        host_path: &str,
    ) -> Result<Option<Arc<OidcProvider>>, StoreError> {
        let (_, hit) = self.get(|i| &i.providers, host_path);
        if let Some(v) = hit {
            return Ok(v);
        }
        let (cache, key) = (self.clone(), host_path.to_owned());
        blocking(move || cache.provider_by_url(&key)).await
    }

    /// [`StateCache::role_by_arn`] from async code (see [`StateCache::provider_by_url_async`]).
    pub async fn role_by_arn_async(
        self: &Arc<Self>,
        arn: &str,
    ) -> Result<Option<Arc<CachedRole>>, StoreError> {
        let (_, hit) = self.get(|i| &i.roles, arn);
        if let Some(v) = hit {
            return Ok(v);
        }
        let (cache, key) = (self.clone(), arn.to_owned());
        blocking(move || cache.role_by_arn(&key)).await
    }
}

/// Runs a store read on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(StoreError::Cancelled),
    }
}

/// Parses a stored document; one that no longer parses grants nothing (logged).
fn parse_stored(name: &str, doc: &str, kind: PolicyKind) -> Option<Arc<Policy>> {
    match Policy::parse_as(doc, kind) {
        Ok(p) => Some(Arc::new(p)),
        Err(e) => {
            tracing::warn!(policy = %name, error = %e.message(), "ignoring a stored policy that does not parse");
            None
        }
    }
}
