//! A channel's plugin bindings: which plugin fills each slot (the adapter,
//! each guardrail), at which version, and what happens when it fails.
//! Stored as JSON on the channel row, so a webhook reads a channel and its
//! bindings in one query; changed only through [`Db::update_bindings`],
//! which audits every change.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::audit::audit;
use super::{Db, StorageError};

/// Where in the channel a plugin is bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Slot {
    Adapter,
    Guardrail,
}

/// What a failing guardrail (trap, limit, guest error) does to the message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnFailure {
    /// The message or reply is refused (the safe default).
    #[default]
    FailClosed,
    /// The guardrail is skipped, with a warning logged.
    FailOpen,
}

/// A pinned version of a tenant's plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinnedVersion {
    pub version: String,
    pub plugin_id: String,
}

/// One slot's binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginBinding {
    pub slot: Slot,
    /// A first-party plugin name, or the tenant's plugin name (or, for
    /// channels bound by id before versions existed, that id).
    pub plugin: String,
    /// The pinned version; `None` follows the newest upload (`latest`) or
    /// is a first-party plugin (which has one version).
    #[serde(default)]
    pub pinned: Option<PinnedVersion>,
    /// What the binding was pinned to before the last activation, for
    /// one-call rollback.
    #[serde(default)]
    pub previous: Option<PinnedVersion>,
    #[serde(default)]
    pub on_failure: OnFailure,
    /// The configuration this binding's plugin reads through the `config`
    /// import (a guardrail's phrases, reply texts, modes). A guardrail sees
    /// this and nothing else: never the adapter's configuration, whose
    /// secrets are the adapter's alone. (The adapter binding's own
    /// configuration is the channel's sealed `config`.)
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
}

impl PluginBinding {
    /// A binding as channels created without bindings (or by the DB-direct
    /// CLI) state it: a first-party name or a plugin id, failing closed.
    pub fn from_reference(slot: Slot, reference: &str) -> Self {
        // Tenant plugin names are slugs (no `_`), so an id cannot be a name.
        let pinned = reference.starts_with("plg_").then(|| PinnedVersion {
            version: String::new(),
            plugin_id: reference.to_string(),
        });
        PluginBinding {
            slot,
            plugin: reference.to_string(),
            pinned,
            previous: None,
            on_failure: OnFailure::FailClosed,
            config: BTreeMap::new(),
        }
    }
}

/// The bindings of a channel row: the stored list, or the `adapter` and
/// `guardrails` references of a channel that has none stored.
pub(crate) fn bindings_of(
    stored: Option<&str>,
    adapter: &str,
    guardrails: &[String],
) -> Vec<PluginBinding> {
    if let Some(list) = stored.and_then(|s| serde_json::from_str::<Vec<PluginBinding>>(s).ok())
        && !list.is_empty()
    {
        return list;
    }
    std::iter::once(PluginBinding::from_reference(Slot::Adapter, adapter))
        .chain(
            guardrails
                .iter()
                .map(|g| PluginBinding::from_reference(Slot::Guardrail, g)),
        )
        .collect()
}

impl Db {
    /// Replace a channel's bindings if they are still `expected` (so two
    /// concurrent activations cannot lose one another's change), with an
    /// audit row `action` carrying `detail`. Returns `false` when the
    /// bindings changed in between (the caller reads again and retries).
    #[allow(clippy::too_many_arguments)]
    pub async fn update_bindings(
        &self,
        tenant_id: &str,
        channel_id: &str,
        expected: &[PluginBinding],
        bindings: &[PluginBinding],
        action: &str,
        detail: &serde_json::Value,
    ) -> Result<bool, StorageError> {
        let json = |b: &[PluginBinding]| {
            serde_json::to_string(b).map_err(|e| StorageError::Internal(e.into()))
        };
        let mut tx = self.write.begin().await?;
        let row = sqlx::query("SELECT bindings FROM channels WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(channel_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StorageError::NotFound("channel"))?;
        let current: Option<String> = sqlx::Row::get(&row, "bindings");
        let current_list = current
            .as_deref()
            .and_then(|s| serde_json::from_str::<Vec<PluginBinding>>(s).ok());
        // A channel without stored bindings matches what was derived from
        // its references.
        if current_list.as_deref().is_some_and(|c| c != expected) {
            return Ok(false);
        }
        let changed = sqlx::query(
            "UPDATE channels SET bindings = $1 WHERE tenant_id = $2 AND id = $3 AND (bindings IS NULL OR bindings = $4)",
        )
        .bind(json(bindings)?)
        .bind(tenant_id)
        .bind(channel_id)
        .bind(current.unwrap_or_default())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        audit(
            &mut tx,
            Some(tenant_id),
            "tenant",
            action,
            channel_id,
            detail,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
