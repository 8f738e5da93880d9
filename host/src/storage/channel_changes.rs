//! A channel after its creation: a tenant's changes (`PATCH`), its
//! deletion, and the platform admin's assignment of its shared-endpoint
//! route key. Every change is audited in its own transaction, with the
//! names of what changed and never a configuration value.

use std::collections::BTreeMap;

use sqlx::Row;

use super::audit::audit;
use super::bindings::PluginBinding;
use super::events::Pending;
use super::{Db, StorageError, is_unique_violation, now_ms};
use crate::crypto::TenantCipher;
use crate::domain::{ChannelStatus, EventType};
use crate::secrets::{Keyring, Purpose};

/// What a tenant changes on a channel; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct ChannelChange {
    pub name: Option<String>,
    /// The whole configuration after the change (its values are secrets),
    /// and the keys the request set or removed (only these are audited).
    pub config: Option<(BTreeMap<String, String>, Vec<String>)>,
    /// The guardrail references and the bindings (adapter first) after
    /// the change.
    pub guardrails: Option<(Vec<String>, Vec<PluginBinding>)>,
    /// `Some(None)` unbinds the persona.
    pub persona_id: Option<Option<String>>,
    /// `Active` or `Disabled` (deletion is [`Db::delete_channel`]).
    pub status: Option<ChannelStatus>,
}

impl ChannelChange {
    /// The API field names this change touches, for the audit log.
    fn fields(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.name.is_some() {
            out.push("name");
        }
        if self.config.is_some() {
            out.push("config");
        }
        if self.guardrails.is_some() {
            out.push("guardrails");
        }
        if self.persona_id.is_some() {
            out.push("persona_id");
        }
        if self.status.is_some() {
            out.push("enabled");
        }
        out
    }
}

/// A channel as the platform admin sees it for routing.
#[derive(Debug, Clone)]
pub struct RoutedChannel {
    pub tenant_id: String,
    pub adapter: String,
    pub route_key: Option<String>,
}

impl Db {
    /// Apply a tenant's change to one of its channels (not a deleted one:
    /// `NotFound`). A persona must be the tenant's own.
    pub async fn update_channel(
        &self,
        tenant_id: &str,
        actor: &str,
        id: &str,
        change: &ChannelChange,
        secrets: &Keyring,
    ) -> Result<(), StorageError> {
        let now = now_ms();
        // Sealed before the transaction: SQLite has one writer connection.
        let sealed = match &change.config {
            Some((config, _)) => Some(seal_config(secrets, tenant_id, id, config).await?),
            None => None,
        };
        let cipher = secrets.cipher(tenant_id).await?;
        let mut tx = self.write.begin().await?;
        let row = sqlx::query(
            "SELECT status, persona_id FROM channels WHERE id = $1 AND tenant_id = $2 AND status <> 'deleted'",
        )
        .bind(id)
        .bind(tenant_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StorageError::NotFound("channel"))?;
        let status_before = ChannelStatus::parse(&row.get::<String, _>("status"));
        let persona_before: Option<String> = row.get("persona_id");
        let mut detail = serde_json::json!({ "fields": change.fields() });

        if let Some(name) = &change.name {
            sqlx::query("UPDATE channels SET name = $1 WHERE id = $2 AND tenant_id = $3")
                .bind(name)
                .bind(id)
                .bind(tenant_id)
                .execute(&mut *tx)
                .await?;
            detail["name"] = serde_json::json!(name);
        }
        if let (Some(sealed), Some((config, changed))) = (sealed, &change.config) {
            let keys: Vec<&String> = config.keys().collect();
            sqlx::query(
                "UPDATE channels SET config_enc = $1, config_keys = $2 WHERE id = $3 AND tenant_id = $4",
            )
            .bind(sealed)
            .bind(serde_json::to_string(&keys).unwrap_or_default())
            .bind(id)
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?;
            // The keys only: a value may be a secret.
            detail["config_keys"] = serde_json::json!(changed);
        }
        if let Some((guardrails, bindings)) = &change.guardrails {
            let bindings =
                serde_json::to_string(bindings).map_err(|e| StorageError::Internal(e.into()))?;
            sqlx::query(
                "UPDATE channels SET guardrails = $1, bindings = $2 WHERE id = $3 AND tenant_id = $4",
            )
            .bind(serde_json::to_string(guardrails).unwrap_or_default())
            .bind(bindings)
            .bind(id)
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?;
            detail["guardrails"] = serde_json::json!(guardrails);
        }
        if let Some(persona) = &change.persona_id {
            if let Some(p) = persona {
                sqlx::query("SELECT 1 FROM personas WHERE id = $1 AND tenant_id = $2")
                    .bind(p)
                    .bind(tenant_id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or(StorageError::NotFound("persona"))?;
            }
            sqlx::query("UPDATE channels SET persona_id = $1 WHERE id = $2 AND tenant_id = $3")
                .bind(persona.clone())
                .bind(id)
                .bind(tenant_id)
                .execute(&mut *tx)
                .await?;
            detail["persona_id"] =
                serde_json::json!({ "before": persona_before, "after": persona });
        }
        if let Some(status) = change.status {
            debug_assert!(status != ChannelStatus::Deleted);
            sqlx::query("UPDATE channels SET status = $1 WHERE id = $2 AND tenant_id = $3")
                .bind(status.as_str())
                .bind(id)
                .bind(tenant_id)
                .execute(&mut *tx)
                .await?;
            detail["status"] = serde_json::json!({ "before": status_before, "after": status });
        }
        sqlx::query("UPDATE channels SET updated_at = $1 WHERE id = $2 AND tenant_id = $3")
            .bind(now)
            .bind(id)
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?;
        audit(
            &mut tx,
            Some(tenant_id),
            actor,
            "channel.update",
            id,
            &detail,
        )
        .await?;
        let appended = channel_updated(&mut tx, &cipher, secrets, id, now).await?;
        tx.commit().await?;
        self.published(appended);
        Ok(())
    }

    /// Delete one of the tenant's channels: it stops receiving and sending
    /// at once, gives up its route key and persona, and its configuration
    /// is replaced by an empty one (its secrets do not outlive it). The row
    /// stays, so its conversations and messages stay readable until
    /// retention removes them. `NotFound` when it is not the tenant's or
    /// already deleted.
    pub async fn delete_channel(
        &self,
        tenant_id: &str,
        actor: &str,
        id: &str,
        secrets: &Keyring,
    ) -> Result<(), StorageError> {
        let now = now_ms();
        let empty = seal_config(secrets, tenant_id, id, &BTreeMap::new()).await?;
        let cipher = secrets.cipher(tenant_id).await?;
        let mut tx = self.write.begin().await?;
        let row = sqlx::query(
            "SELECT adapter, route_key FROM channels WHERE id = $1 AND tenant_id = $2 AND status <> 'deleted'",
        )
        .bind(id)
        .bind(tenant_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StorageError::NotFound("channel"))?;
        let adapter: String = row.get("adapter");
        let route_key: Option<String> = row.get("route_key");
        sqlx::query(
            "UPDATE channels SET status = $1, deleted_at = $2, updated_at = $2, route_key = NULL, persona_id = NULL, config_enc = $3, config_keys = '[]' \
             WHERE id = $4 AND tenant_id = $5",
        )
        .bind(ChannelStatus::Deleted.as_str())
        .bind(now)
        .bind(empty)
        .bind(id)
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            Some(tenant_id),
            actor,
            "channel.delete",
            id,
            &serde_json::json!({ "adapter": adapter, "route_key_released": route_key }),
        )
        .await?;
        let appended = channel_updated(&mut tx, &cipher, secrets, id, now).await?;
        tx.commit().await?;
        self.published(appended);
        Ok(())
    }

    /// Any tenant's channel, for the platform admin (a deleted one is not
    /// found).
    pub async fn channel_for_admin(&self, id: &str) -> Result<RoutedChannel, StorageError> {
        let row = sqlx::query(
            "SELECT tenant_id, adapter, route_key FROM channels WHERE id = $1 AND status <> 'deleted'",
        )
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StorageError::NotFound("channel"))?;
        Ok(RoutedChannel {
            tenant_id: row.get("tenant_id"),
            adapter: row.get("adapter"),
            route_key: row.get("route_key"),
        })
    }

    /// Assign (or, with `None`, withdraw) the key a shared provider
    /// endpoint routes to a channel (platform admin). `Conflict` when
    /// another channel of the same adapter holds the key.
    pub async fn assign_route(
        &self,
        actor: &str,
        id: &str,
        route_key: Option<&str>,
    ) -> Result<RoutedChannel, StorageError> {
        let mut tx = self.write.begin().await?;
        let row = sqlx::query(
            "SELECT tenant_id, adapter, route_key FROM channels WHERE id = $1 AND status <> 'deleted'",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StorageError::NotFound("channel"))?;
        let tenant_id: String = row.get("tenant_id");
        let adapter: String = row.get("adapter");
        let before: Option<String> = row.get("route_key");
        let updated = sqlx::query(
            "UPDATE channels SET route_key = $1, updated_at = $2 WHERE id = $3 AND status <> 'deleted'",
        )
        .bind(route_key.map(str::to_string))
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await;
        match updated {
            Err(e) if is_unique_violation(&e) => {
                return Err(StorageError::Conflict("a channel with this route key"));
            }
            other => other?,
        };
        // A route key names a provider number, not a secret.
        audit(
            &mut tx,
            Some(&tenant_id),
            actor,
            "channel.route",
            id,
            &serde_json::json!({ "adapter": adapter, "before": before, "after": route_key }),
        )
        .await?;
        tx.commit().await?;
        Ok(RoutedChannel {
            tenant_id,
            adapter,
            route_key: route_key.map(str::to_string),
        })
    }
}

async fn seal_config(
    secrets: &Keyring,
    tenant_id: &str,
    channel_id: &str,
    config: &BTreeMap<String, String>,
) -> Result<Vec<u8>, StorageError> {
    let json = serde_json::to_vec(config).map_err(|e| StorageError::Internal(e.into()))?;
    Ok(secrets
        .seal(tenant_id, Purpose::ChannelConfig { channel_id }, &json)
        .await?)
}

/// Append `channel.updated` with the channel as it now is in `tx`: the
/// API's shape without the webhook URL and bindings, and every config
/// value shown only as `set`/`unset` (an event cannot know which keys the
/// adapter declares secret, so it shows none). Last before commit.
async fn channel_updated(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    cipher: &TenantCipher,
    secrets: &Keyring,
    id: &str,
    now: i64,
) -> Result<Vec<super::events::Appended>, StorageError> {
    let row = sqlx::query(
        "SELECT id, tenant_id, name, adapter, config_enc, guardrails, bindings, persona_id, status, route_key, created_at \
         FROM channels WHERE id = $1 AND tenant_id = $2",
    )
    .bind(id)
    .bind(cipher.tenant_id())
    .fetch_one(&mut **tx)
    .await?;
    let ch = super::channels::channel_from_row(&row, secrets).await?;
    let mut data = serde_json::to_value(&ch).unwrap_or_default();
    data["config"] = ch
        .config
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                serde_json::json!(if v.is_empty() { "unset" } else { "set" }),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into();
    let mut events = Pending::default();
    events.push(cipher, EventType::ChannelUpdated, data);
    events.append(tx, now).await
}
