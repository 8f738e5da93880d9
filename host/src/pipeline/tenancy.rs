//! Stage 1: the channel id in the URL names the channel, and the channel
//! names the tenant. Nothing the request says about itself is trusted.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::catalog::{CatalogError, PluginCatalog};
use super::error::{Stage, WebhookError};
use crate::runtime::{LoadedPlugin, PluginError, PluginRuntime};
use crate::secrets::Keyring;
use crate::storage::{ChannelRecord, Db};

/// A resolved channel with its adapter and guardrail components.
pub struct Binding {
    pub channel: ChannelRecord,
    pub adapter: Arc<LoadedPlugin>,
    pub guardrails: Vec<(String, Arc<LoadedPlugin>)>,
}

/// How long a channel lookup is reused. Webhooks for one channel arrive in
/// bursts; a disabled or reconfigured channel takes effect within this time.
const CHANNEL_TTL: Duration = Duration::from_secs(2);
const CHANNEL_CACHE_MAX: usize = 10_000;

/// Recently resolved channels (and unknown ids, so a flood of bad ids does
/// not become a flood of queries).
#[derive(Default)]
pub struct ChannelCache {
    entries: Mutex<HashMap<String, (Instant, Option<ChannelRecord>)>>,
}

impl ChannelCache {
    async fn get(
        &self,
        db: &Db,
        secrets: &Keyring,
        channel_id: &str,
    ) -> Result<Option<ChannelRecord>, WebhookError> {
        if let Some((at, rec)) = self.entries.lock().get(channel_id)
            && at.elapsed() < CHANNEL_TTL
        {
            return Ok(rec.clone());
        }
        let rec = db
            .channel_for_webhook(channel_id, secrets)
            .await
            .map_err(WebhookError::from_storage)?;
        let mut entries = self.entries.lock();
        if entries.len() >= CHANNEL_CACHE_MAX {
            entries.clear();
        }
        entries.insert(channel_id.to_string(), (Instant::now(), rec.clone()));
        Ok(rec)
    }

    /// Drop a tenant's channels (after its deletion), so none of them is
    /// served from here with its configuration still opened.
    pub fn forget_tenant(&self, tenant_id: &str) {
        self.entries
            .lock()
            .retain(|_, (_, rec)| rec.as_ref().is_none_or(|c| c.tenant_id != tenant_id));
    }
}

pub async fn resolve(
    db: &Db,
    secrets: &Keyring,
    catalog: &PluginCatalog,
    runtime: &PluginRuntime,
    cache: &ChannelCache,
    channel_id: &str,
) -> Result<Binding, WebhookError> {
    let channel = cache
        .get(db, secrets, channel_id)
        .await?
        .ok_or(WebhookError::UnknownChannel)?;
    bind(db, catalog, runtime, channel).await
}

/// The components of an already found channel.
pub async fn bind(
    db: &Db,
    catalog: &PluginCatalog,
    runtime: &PluginRuntime,
    channel: ChannelRecord,
) -> Result<Binding, WebhookError> {
    let tenant = channel.tenant_id.as_str();
    let adapter = catalog
        .resolve(db, runtime, tenant, &channel.adapter)
        .await
        .map_err(catalog_error)?;
    let mut guardrails = Vec::new();
    for g in &channel.guardrails {
        guardrails.push((
            g.clone(),
            catalog
                .resolve(db, runtime, tenant, g)
                .await
                .map_err(catalog_error)?,
        ));
    }
    Ok(Binding {
        channel,
        adapter,
        guardrails,
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
