//! Which component a binding names: a first-party plugin by name (loaded at
//! start) or a tenant's uploaded plugin by id (loaded on first use, cached;
//! plugin versions are immutable, so the cache never goes stale).

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::domain::AdapterInfo;
use crate::runtime::{CallContext, LoadedPlugin, PluginError, PluginRuntime, World};
use crate::storage::{Db, StorageError};

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
            let plugin = runtime.load(bytes).map_err(|e| anyhow::anyhow!("first-party plugin {name}: {e}"))?;
            if plugin.detected.world == World::ChannelAdapter {
                // Smoke call at start: a first-party adapter that cannot
                // describe itself must stop the server, not the first webhook.
                let mut inst = runtime.instantiate(&plugin, &CallContext::for_tenant("platform", name))?;
                first_party_info.insert(*name, inst.info()?);
            }
            first_party.insert(*name, plugin);
        }
        Ok(PluginCatalog { first_party, first_party_info, uploaded: RwLock::new(HashMap::new()) })
    }

    /// Whether every first-party plugin is loaded.
    pub fn ready(&self) -> bool {
        self.first_party.len() == switchboard_artifacts::first_party::ALL.len()
    }

    /// What a first-party adapter declares (config keys, limits, hosts).
    pub fn adapter_info(&self, name: &str) -> Option<AdapterInfo> {
        self.first_party_info.get(name).cloned()
    }

    /// The routing key a channel of `adapter` with `config` answers to on
    /// the adapter's shared endpoint, if the adapter has one.
    pub fn route_key_of(&self, adapter: &str, config: &std::collections::BTreeMap<String, String>) -> Option<String> {
        let key = self.adapter_info(adapter)?.route_config_key?;
        config.get(&key).filter(|v| !v.is_empty()).cloned()
    }

    /// A first-party plugin by name.
    pub fn first_party(&self, name: &str) -> Option<Arc<LoadedPlugin>> {
        self.first_party.get(name).cloned()
    }

    /// Resolve a binding's reference for `tenant_id`: a first-party name, or
    /// one of that tenant's plugin ids (never another tenant's).
    pub async fn resolve(&self, db: &Db, runtime: &PluginRuntime, tenant_id: &str, reference: &str) -> Result<Arc<LoadedPlugin>, CatalogError> {
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
