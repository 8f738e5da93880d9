//! Stage 1: the channel id in the URL names the channel, and the channel
//! names the tenant. Nothing the request says about itself is trusted.

use std::sync::Arc;

use super::catalog::{CatalogError, PluginCatalog};
use super::error::{Stage, WebhookError};
use crate::runtime::{LoadedPlugin, PluginError, PluginRuntime};
use crate::secrets::SecretBox;
use crate::storage::{ChannelRecord, Db};

/// A resolved channel with its adapter and guardrail components.
pub struct Binding {
    pub channel: ChannelRecord,
    pub adapter: Arc<LoadedPlugin>,
    pub guardrails: Vec<(String, Arc<LoadedPlugin>)>,
}

pub async fn resolve(db: &Db, secrets: &SecretBox, catalog: &PluginCatalog, runtime: &PluginRuntime, channel_id: &str) -> Result<Binding, WebhookError> {
    let channel = db.channel_for_webhook(channel_id, secrets).await.map_err(WebhookError::from_storage)?.ok_or(WebhookError::UnknownChannel)?;
    let tenant = channel.tenant_id.as_str();
    let adapter = catalog.resolve(db, runtime, tenant, &channel.adapter).await.map_err(catalog_error)?;
    let mut guardrails = Vec::new();
    for g in &channel.guardrails {
        guardrails.push((g.clone(), catalog.resolve(db, runtime, tenant, g).await.map_err(catalog_error)?));
    }
    Ok(Binding { channel, adapter, guardrails })
}

fn catalog_error(e: CatalogError) -> WebhookError {
    match e {
        // A binding to a plugin that no longer resolves is a plugin failure
        // of this channel, not an unknown channel.
        CatalogError::NotFound => WebhookError::Plugin { stage: Stage::Resolve, error: PluginError::Incompatible("bound plugin not found".into()) },
        CatalogError::Storage(s) => WebhookError::from_storage(s),
        CatalogError::Plugin(p) => WebhookError::Plugin { stage: Stage::Resolve, error: p },
    }
}
