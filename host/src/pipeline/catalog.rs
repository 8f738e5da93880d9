//! Which component a binding names: a first-party plugin by name (loaded at
//! start) or a tenant's uploaded plugin by id (loaded on first use, cached;
//! plugin versions are immutable, so the cache never goes stale).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::domain::AdapterInfo;
use crate::runtime::{LoadedPlugin, PluginError, PluginRuntime};
use crate::storage::{Db, NewChannel, StorageError, new_secret_id};

/// First-party plugins plus a cache of tenants' plugins.
pub struct PluginCatalog {
    first_party: HashMap<&'static str, Arc<LoadedPlugin>>,
    first_party_info: HashMap<&'static str, AdapterInfo>,
    uploaded: RwLock<HashMap<(String, String), Arc<LoadedPlugin>>>,
}

/// Why a plugin reference could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("no such plugin")]
    NotFound,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Plugin(#[from] PluginError),
}

impl PluginCatalog {
    /// Load (compile or fetch from cache) every first-party plugin.
    pub fn load_first_party(runtime: &PluginRuntime) -> anyhow::Result<Self> {
        let mut first_party = HashMap::new();
        let mut first_party_info = HashMap::new();
        for (name, bytes) in switchboard_artifacts::first_party::ALL {
            let plugin = runtime
                .load(bytes)
                .map_err(|e| anyhow::anyhow!("first-party plugin {name}: {e}"))?;
            // A first-party plugin that fails its smoke call must stop the
            // server at start, not the first webhook.
            if let Some(info) = runtime.smoke_test(&plugin)? {
                first_party_info.insert(*name, info);
            }
            first_party.insert(*name, plugin);
        }
        Ok(PluginCatalog {
            first_party,
            first_party_info,
            uploaded: RwLock::new(HashMap::new()),
        })
    }

    /// Whether every first-party plugin is loaded.
    pub fn ready(&self) -> bool {
        self.first_party.len() == switchboard_artifacts::first_party::ALL.len()
    }

    /// What a first-party adapter declares (config keys, limits, hosts).
    pub fn adapter_info(&self, name: &str) -> Option<AdapterInfo> {
        self.first_party_info.get(name).cloned()
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
        }
    }

    /// A first-party plugin by name.
    pub fn first_party(&self, name: &str) -> Option<Arc<LoadedPlugin>> {
        self.first_party.get(name).cloned()
    }

    /// Resolve a binding's reference for `tenant_id`: a first-party name, or
    /// one of that tenant's plugin ids (never another tenant's).
    pub async fn resolve(
        &self,
        db: &Db,
        runtime: &PluginRuntime,
        tenant_id: &str,
        reference: &str,
    ) -> Result<Arc<LoadedPlugin>, CatalogError> {
        if let Some(p) = self.first_party(reference) {
            return Ok(p);
        }
        let key = (tenant_id.to_string(), reference.to_string());
        if let Some(p) = self.uploaded.read().get(&key) {
            return Ok(p.clone());
        }
        let record = match db.get_plugin(tenant_id, reference).await {
            Ok(r) => r,
            Err(StorageError::NotFound(_)) => return Err(CatalogError::NotFound),
            Err(e) => return Err(e.into()),
        };
        let bytes = db.plugin_bytes(&record.sha256).await?;
        let plugin = runtime.load(&bytes)?;
        self.uploaded.write().insert(key, plugin.clone());
        Ok(plugin)
    }
}
