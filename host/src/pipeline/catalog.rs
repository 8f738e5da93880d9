//! Which component a binding names: a first-party plugin by name (loaded at
//! start) or a version of a tenant's uploaded plugin (loaded on first use).
//! Loaded plugins are cached by plugin id, which names immutable bytes, so
//! that cache never goes stale; what `name@latest` points at can move with
//! an upload, so that lookup is only reused for a short time.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use crate::domain::AdapterInfo;
use crate::runtime::{LoadedPlugin, PluginError, PluginRuntime};
use crate::storage::{
    Db, NewChannel, PinnedVersion, PluginBinding, PluginRecord, Slot, StorageError, new_secret_id,
};

/// How long `name@latest` keeps resolving to the version it found; an
/// upload on another replica takes effect within this time (the same as a
/// channel change, see `tenancy`).
const LATEST_TTL: Duration = Duration::from_secs(2);

/// First-party plugins plus a cache of tenants' plugins.
pub struct PluginCatalog {
    first_party: HashMap<&'static str, Arc<LoadedPlugin>>,
    /// A tenant's plugin id → its component's sha256, keyed by (tenant,
    /// plugin id). The compiled component itself lives in the runtime's
    /// bounded cache, so this map pins no compiled code.
    uploaded: RwLock<HashMap<(String, String), String>>,
    /// Keyed by (tenant, plugin name).
    latest: Mutex<HashMap<(String, String), (Instant, PluginRecord)>>,
}

/// Why a plugin reference could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("no such plugin")]
    NotFound,
    #[error(transparent)]
    Storage(StorageError),
    #[error(transparent)]
    Plugin(#[from] PluginError),
}

impl From<StorageError> for CatalogError {
    /// A missing row is a missing plugin, whichever lookup found it missing.
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound(_) => CatalogError::NotFound,
            e => CatalogError::Storage(e),
        }
    }
}

impl PluginCatalog {
    /// Load (compile or fetch from cache) every first-party plugin, on a
    /// blocking thread (compiles and smoke calls never run on async
    /// threads).
    pub async fn load_first_party(runtime: &Arc<PluginRuntime>) -> anyhow::Result<Self> {
        let runtime = runtime.clone();
        let first_party = tokio::task::spawn_blocking(move || {
            let mut first_party = HashMap::new();
            for (name, bytes) in switchboard_artifacts::first_party::ALL {
                let plugin = runtime
                    .load(bytes)
                    .map_err(|e| anyhow::anyhow!("first-party plugin {name}: {e}"))?;
                // A first-party plugin that fails its smoke call must stop the
                // server at start, not the first webhook. (The call also caches
                // an adapter's `info` on the plugin.)
                runtime.smoke_test(&plugin)?;
                first_party.insert(*name, plugin);
            }
            anyhow::Ok(first_party)
        })
        .await??;
        Ok(PluginCatalog {
            first_party,
            uploaded: RwLock::new(HashMap::new()),
            latest: Mutex::new(HashMap::new()),
        })
    }

    /// Whether every first-party plugin is loaded.
    pub fn ready(&self) -> bool {
        self.first_party.len() == switchboard_artifacts::first_party::ALL.len()
    }

    /// What a first-party adapter declares (config keys, limits, hosts).
    pub fn adapter_info(&self, name: &str) -> Option<AdapterInfo> {
        self.first_party(name)
            .and_then(|p| p.cached_info().cloned())
    }

    /// A new channel of `adapter` (API and CLI alike): a fresh unguessable
    /// id; `webhook_url` filled in with `webhook_url_of(id)` when the adapter
    /// declares that key (it signs over, or calls back to, its own URL) and
    /// the tenant did not set it (e.g. behind a proxy); and the routing key
    /// its shared endpoint answers to, if it has one.
    pub fn new_channel(
        &self,
        name: String,
        adapter: String,
        mut config: BTreeMap<String, String>,
        guardrails: Vec<String>,
        webhook_url_of: impl FnOnce(&str) -> String,
    ) -> NewChannel {
        let id = new_secret_id("ch");
        let info = self.adapter_info(&adapter);
        if info
            .as_ref()
            .is_some_and(|i| i.config_keys.iter().any(|k| k == "webhook_url"))
        {
            config
                .entry("webhook_url".to_string())
                .or_insert_with(|| webhook_url_of(&id));
        }
        let route_key = info
            .and_then(|i| i.route_config_key)
            .and_then(|k| config.get(&k).filter(|v| !v.is_empty()).cloned());
        NewChannel {
            id,
            name,
            adapter,
            config,
            guardrails,
            route_key,
            bindings: Vec::new(),
        }
    }

    /// A first-party plugin by name.
    pub fn first_party(&self, name: &str) -> Option<Arc<LoadedPlugin>> {
        self.first_party.get(name).cloned()
    }

    /// Whether `name` is a first-party plugin (visible to every tenant).
    pub fn is_first_party(&self, name: &str) -> bool {
        self.first_party.contains_key(name)
    }

    /// The first-party plugins' names, sorted.
    pub fn first_party_names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.first_party.keys().copied().collect();
        names.sort_unstable();
        names
    }

    /// Resolve a reference for `tenant_id` (never another tenant's plugin).
    pub async fn resolve(
        &self,
        db: &Db,
        runtime: &Arc<PluginRuntime>,
        tenant_id: &str,
        reference: &str,
    ) -> Result<Arc<LoadedPlugin>, CatalogError> {
        let binding = self
            .binding_for(db, tenant_id, Slot::Adapter, reference)
            .await?;
        self.resolve_binding(db, runtime, tenant_id, &binding).await
    }

    /// The binding a reference asks for: a first-party name (optionally
    /// `@latest`), one of the tenant's plugin ids (that version, pinned),
    /// `name@version` (pinned), or `name@latest` / `name` (the newest
    /// version, following later uploads). Fails closed, no policy chosen.
    pub async fn binding_for(
        &self,
        db: &Db,
        tenant_id: &str,
        slot: Slot,
        reference: &str,
    ) -> Result<PluginBinding, CatalogError> {
        let binding = |plugin: &str, pinned: Option<PinnedVersion>| PluginBinding {
            slot,
            plugin: plugin.to_string(),
            pinned,
            previous: None,
            on_failure: Default::default(),
            config: Default::default(),
        };
        let (name, version) = match reference.split_once('@') {
            Some((n, v)) => (n, Some(v)),
            None => (reference, None),
        };
        if self.is_first_party(name) {
            return match version {
                None | Some("latest") => Ok(binding(name, None)),
                Some(_) => Err(CatalogError::NotFound),
            };
        }
        if version.is_none() && reference.starts_with("plg_") {
            let r = db.get_plugin(tenant_id, reference).await?;
            return Ok(binding(&r.name, Some(pin(&r))));
        }
        match version {
            None | Some("latest") => {
                db.latest_plugin(tenant_id, name).await?;
                Ok(binding(name, None))
            }
            Some(v) => {
                let r = db.get_plugin_version(tenant_id, name, v).await?;
                Ok(binding(name, Some(pin(&r))))
            }
        }
    }

    /// The component a binding runs now.
    pub async fn resolve_binding(
        &self,
        db: &Db,
        runtime: &Arc<PluginRuntime>,
        tenant_id: &str,
        binding: &PluginBinding,
    ) -> Result<Arc<LoadedPlugin>, CatalogError> {
        let plugin_id = match &binding.pinned {
            Some(p) => p.plugin_id.clone(),
            None => {
                if let Some(p) = self.first_party(&binding.plugin) {
                    return Ok(p);
                }
                self.latest(db, tenant_id, &binding.plugin).await?.id
            }
        };
        let key = (tenant_id.to_string(), plugin_id);
        let known = self.uploaded.read().get(&key).cloned();
        let sha256 = match known {
            Some(sha256) => sha256,
            None => {
                let record = db.get_plugin(tenant_id, &key.1).await?;
                let mut uploaded = self.uploaded.write();
                if uploaded.len() >= 100_000 {
                    uploaded.clear();
                }
                uploaded.insert(key, record.sha256.clone());
                record.sha256
            }
        };
        if let Some(p) = runtime.cached(&sha256) {
            return Ok(p);
        }
        let bytes = db.plugin_bytes(&sha256).await?;
        // From the disk cache, or compiled: a blocking thread either way.
        Ok(runtime.load_blocking(bytes).await?)
    }

    /// The version a binding runs now (`None` for a first-party plugin).
    pub async fn current_version(
        &self,
        db: &Db,
        tenant_id: &str,
        binding: &PluginBinding,
    ) -> Result<Option<PinnedVersion>, CatalogError> {
        match &binding.pinned {
            Some(p) if p.version.is_empty() => {
                // Bound by id before versions were recorded.
                let r = db.get_plugin(tenant_id, &p.plugin_id).await?;
                Ok(Some(pin(&r)))
            }
            Some(p) => Ok(Some(p.clone())),
            None if self.is_first_party(&binding.plugin) => Ok(None),
            None => Ok(Some(pin(&self
                .latest(db, tenant_id, &binding.plugin)
                .await?))),
        }
    }

    /// Forget what `name@latest` pointed at (after an upload of `name`).
    pub fn forget_latest(&self, tenant_id: &str, name: &str) {
        self.latest
            .lock()
            .remove(&(tenant_id.to_string(), name.to_string()));
    }

    async fn latest(
        &self,
        db: &Db,
        tenant_id: &str,
        name: &str,
    ) -> Result<PluginRecord, CatalogError> {
        let key = (tenant_id.to_string(), name.to_string());
        if let Some((at, r)) = self.latest.lock().get(&key)
            && at.elapsed() < LATEST_TTL
        {
            return Ok(r.clone());
        }
        let record = db.latest_plugin(tenant_id, name).await?;
        let mut latest = self.latest.lock();
        if latest.len() >= 10_000 {
            latest.clear();
        }
        latest.insert(key, (Instant::now(), record.clone()));
        Ok(record)
    }
}

fn pin(r: &PluginRecord) -> PinnedVersion {
    PinnedVersion {
        version: r.version.clone(),
        plugin_id: r.id.clone(),
    }
}
