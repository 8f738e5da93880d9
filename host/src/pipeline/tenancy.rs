//! Stage 1: the channel id in the URL names the channel, and the channel
//! names the tenant. Nothing the request says about itself is trusted.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::catalog::{CatalogError, PluginCatalog};
use super::error::{Stage, WebhookError};
use crate::kv::KvStore;
use crate::runtime::{CallContext, LimitOverrides, LoadedPlugin, PluginError, PluginRuntime};
use crate::secrets::Keyring;
use crate::storage::{ChannelRecord, ChannelState, Db, OnFailure, PersonaRecord, Slot};

/// The first-party adapter whose channels use the visitor transport.
pub const VISITOR_ADAPTER: &str = "webchat";

/// A resolved channel with its adapter and guardrail components.
pub struct Binding {
    pub channel: ChannelRecord,
    pub adapter: Arc<LoadedPlugin>,
    /// The guardrail chain, in order.
    pub guardrails: Arc<[BoundGuardrail]>,
    /// The tenant's plugin limits (platform defaults where unset).
    pub limits: LimitOverrides,
    /// How the channel's messages travel.
    pub transport: Transport,
}

/// How a channel's messages travel between the platform and its contacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A provider: webhooks in, `render`ed API calls out.
    Provider,
    /// The host's own web chat socket (the first-party `webchat` adapter):
    /// visitor frames in, replies delivered over the socket. Its channels
    /// take no webhooks.
    Visitor,
}

/// One guardrail of a channel's chain, with what its binding says.
#[derive(Clone)]
pub struct BoundGuardrail {
    /// Its reference in the channel's bindings (names it in logs, reasons
    /// and its kv scope).
    pub name: String,
    pub plugin: Arc<LoadedPlugin>,
    /// Bound `fail-open`: a failure skips it instead of refusing.
    pub fail_open: bool,
    /// Its binding's own configuration, all it can read.
    pub config: Arc<BTreeMap<String, String>>,
}

impl Binding {
    /// A channel-less binding, for trying a persona (`pipeline::sandbox`):
    /// no channel guardrails (the persona's own rails still apply), and
    /// nothing to deliver to.
    pub fn sandbox(tenant_id: &str, adapter: Arc<LoadedPlugin>, limits: LimitOverrides) -> Binding {
        Binding {
            channel: ChannelRecord {
                id: "sandbox".into(),
                tenant_id: tenant_id.to_string(),
                name: "Sandbox".into(),
                adapter: "sandbox".into(),
                config: Arc::default(),
                guardrails: Vec::new(),
                bindings: Vec::new(),
                persona_id: None,
                status: crate::domain::ChannelStatus::Active,
                route_key: None,
                created_at: 0,
            },
            adapter,
            guardrails: Arc::from(Vec::new()),
            limits,
            transport: Transport::Visitor,
        }
    }

    /// What a call of the channel's adapter runs with: the tenant, the
    /// channel's configuration (the adapter's alone), the kv store, the
    /// tenant's limits.
    pub fn adapter_call(&self, kv: Arc<dyn KvStore>) -> CallContext {
        self.call(&self.channel.adapter, self.channel.config.clone(), kv)
    }

    /// What a call of another plugin of this channel (`plugin`: its name in
    /// the binding) runs with: only `config`, the configuration it is bound
    /// with.
    pub fn call(
        &self,
        plugin: &str,
        config: Arc<BTreeMap<String, String>>,
        kv: Arc<dyn KvStore>,
    ) -> CallContext {
        CallContext {
            tenant: self.channel.tenant_id.clone(),
            plugin: plugin.to_string(),
            config,
            kv,
            limits: self.limits,
        }
    }
}

/// How long a channel lookup is reused. Webhooks for one channel arrive in
/// bursts. A change through the API (re-key, disable, delete, a tenant's
/// suspension) drops the entry on the replica that made it, so it applies
/// to that replica's next webhook; other replicas see it within this time
/// (documented in the README: keep them in step).
const CHANNEL_TTL: Duration = Duration::from_secs(2);
const CHANNEL_CACHE_MAX: usize = 10_000;

/// Values read recently, each reused for [`CHANNEL_TTL`]; bounded (a full
/// map starts again empty).
struct Recent<K, V> {
    map: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K, V> Default for Recent<K, V> {
    fn default() -> Self {
        Recent {
            map: Mutex::default(),
        }
    }
}

impl<K: std::hash::Hash + Eq, V: Clone> Recent<K, V> {
    fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.map
            .lock()
            .get(key)
            .filter(|(at, _)| at.elapsed() < CHANNEL_TTL)
            .map(|(_, v)| v.clone())
    }

    fn put(&self, key: K, value: V) {
        let mut map = self.map.lock();
        if map.len() >= CHANNEL_CACHE_MAX {
            map.clear();
        }
        map.insert(key, (Instant::now(), value));
    }

    fn remove<Q>(&self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.map.lock().remove(key);
    }

    fn retain(&self, mut keep: impl FnMut(&K, &V) -> bool) {
        self.map.lock().retain(|k, (_, v)| keep(k, v));
    }
}

/// Recently resolved channels (and unknown ids, so a flood of bad ids does
/// not become a flood of queries), tenants' limits and personas: read for
/// every webhook or job, changed rarely. A change through the API drops
/// its entry on the replica that made it; other replicas see it within
/// [`CHANNEL_TTL`].
#[derive(Default)]
pub struct ChannelCache {
    entries: Recent<String, Option<ChannelState>>,
    limits: Recent<String, crate::storage::TenantLimits>,
    /// By (tenant, persona id).
    personas: Recent<(String, String), Arc<PersonaRecord>>,
}

impl ChannelCache {
    /// Drop a channel so its next webhook reads it again (after its
    /// bindings changed on this replica; others see it within the TTL).
    pub fn invalidate(&self, channel_id: &str) {
        self.entries.remove(channel_id);
    }

    async fn get(
        &self,
        db: &Db,
        secrets: &Keyring,
        channel_id: &str,
    ) -> Result<Option<ChannelState>, WebhookError> {
        if let Some(rec) = self.entries.get(channel_id) {
            return Ok(rec);
        }
        let rec = db
            .channel_for_webhook(channel_id, secrets)
            .await
            .map_err(WebhookError::from_storage)?;
        self.entries.put(channel_id.to_string(), rec.clone());
        Ok(rec)
    }

    /// Drop a tenant's cached limits (after the admin changed them).
    pub fn forget_tenant_limits(&self, tenant_id: &str) {
        self.limits.remove(tenant_id);
    }

    /// A tenant's limits, at most [`CHANNEL_TTL`] old.
    pub async fn tenant_limits(
        &self,
        db: &Db,
        tenant_id: &str,
    ) -> Result<crate::storage::TenantLimits, crate::storage::StorageError> {
        if let Some(l) = self.limits.get(tenant_id) {
            return Ok(l);
        }
        let l = db.tenant_limits(tenant_id).await?;
        self.limits.put(tenant_id.to_string(), l);
        Ok(l)
    }

    /// A tenant's persona, at most [`CHANNEL_TTL`] old: a reply reads its
    /// channel's persona for every message.
    pub async fn persona(
        &self,
        db: &Db,
        secrets: &Keyring,
        tenant_id: &str,
        id: &str,
    ) -> Result<Arc<PersonaRecord>, crate::storage::StorageError> {
        let key = (tenant_id.to_string(), id.to_string());
        if let Some(p) = self.personas.get(&key) {
            return Ok(p);
        }
        let p = Arc::new(db.get_persona(tenant_id, id, secrets).await?);
        self.personas.put(key, p.clone());
        Ok(p)
    }

    /// Drop a persona (after it changed or was deleted on this replica).
    pub fn forget_persona(&self, tenant_id: &str, id: &str) {
        self.personas
            .remove(&(tenant_id.to_string(), id.to_string()));
    }

    /// Drop a tenant's channels and personas (after its deletion,
    /// suspension or reactivation), so none of them is served from here
    /// in its old state, or with its configuration still opened.
    pub fn forget_tenant(&self, tenant_id: &str) {
        self.entries
            .retain(|_, rec| rec.as_ref().is_none_or(|c| c.tenant_id() != tenant_id));
        self.personas.retain(|(t, _), _| t != tenant_id);
    }
}

/// The active channel `channel_id` with its plugins. With `tenant`, a
/// channel of another tenant is unknown, whatever its state; a disabled
/// (or suspended tenant's) channel is `ChannelDisabled`, a deleted one
/// `ChannelDeleted`.
pub async fn resolve(
    db: &Db,
    secrets: &Keyring,
    catalog: &PluginCatalog,
    runtime: &Arc<PluginRuntime>,
    cache: &ChannelCache,
    channel_id: &str,
    tenant: Option<&str>,
) -> Result<Binding, WebhookError> {
    let state = cache
        .get(db, secrets, channel_id)
        .await?
        .filter(|s| tenant.is_none_or(|t| s.tenant_id() == t))
        .ok_or(WebhookError::UnknownChannel)?;
    let channel = match state {
        ChannelState::Active(channel) => channel,
        ChannelState::Disabled { .. } => return Err(WebhookError::ChannelDisabled),
        ChannelState::Deleted { .. } => return Err(WebhookError::ChannelDeleted),
    };
    let limits = plugin_limits(
        &cache
            .tenant_limits(db, &channel.tenant_id)
            .await
            .map_err(WebhookError::from_storage)?,
    );
    let mut binding = bind(db, catalog, runtime, channel).await?;
    binding.limits = limits;
    Ok(binding)
}

/// The plugin-call part of a tenant's limits, as runtime overrides.
pub fn plugin_limits(l: &crate::storage::TenantLimits) -> LimitOverrides {
    let positive = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok()).filter(|&v| v > 0);
    LimitOverrides {
        fuel: positive(l.plugin_fuel),
        deadline_ms: positive(l.plugin_deadline_ms),
        memory_bytes: positive(l.plugin_memory_mib).map(|m| m.saturating_mul(1 << 20)),
        concurrent_calls: positive(l.max_concurrent_plugin_calls)
            .map(|v| v.min(u64::from(u32::MAX)) as u32),
        ..LimitOverrides::default()
    }
}

/// The components of an already found channel.
pub async fn bind(
    db: &Db,
    catalog: &PluginCatalog,
    runtime: &Arc<PluginRuntime>,
    channel: ChannelRecord,
) -> Result<Binding, WebhookError> {
    let tenant = channel.tenant_id.as_str();
    let mut adapter = None;
    let mut guardrails = Vec::new();
    for b in &channel.bindings {
        let plugin = catalog
            .resolve_binding(db, runtime, tenant, b)
            .await
            .map_err(catalog_error)?;
        match b.slot {
            Slot::Adapter => adapter = Some(plugin),
            Slot::Guardrail => guardrails.push(BoundGuardrail {
                name: b.plugin.clone(),
                plugin,
                fail_open: b.on_failure == OnFailure::FailOpen,
                config: Arc::new(b.config.clone()),
            }),
        }
    }
    let adapter = adapter
        .ok_or(CatalogError::NotFound)
        .map_err(catalog_error)?;
    // First-party names win over tenants' plugins, so only the platform's
    // own component gets the visitor transport.
    let transport = match catalog.first_party(VISITOR_ADAPTER) {
        Some(webchat) if Arc::ptr_eq(&webchat, &adapter) => Transport::Visitor,
        _ => Transport::Provider,
    };
    Ok(Binding {
        adapter,
        guardrails: guardrails.into(),
        limits: LimitOverrides::default(),
        transport,
        channel,
    })
}

fn catalog_error(e: CatalogError) -> WebhookError {
    match e {
        // A binding to a plugin that no longer resolves is a plugin failure
        // of this channel, not an unknown channel.
        CatalogError::NotFound => WebhookError::Plugin {
            stage: Stage::Resolve,
            error: PluginError::Incompatible("bound plugin not found".into()),
        },
        CatalogError::Storage(s) => WebhookError::from_storage(s),
        CatalogError::Plugin(p) => WebhookError::Plugin {
            stage: Stage::Resolve,
            error: p,
        },
    }
}
