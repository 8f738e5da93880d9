//! Channels: an adapter binding with its sealed configuration and guardrail
//! chain. Channel ids are unguessable because they appear in webhook URLs.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use sqlx::Row;

use super::audit::audit;
use super::bindings::{PluginBinding, bindings_of};
use super::{Db, StorageError, now_ms};
use crate::domain::{ChannelStatus, TenantStatus};
use crate::secrets::{Keyring, Purpose};

/// What a tenant asks for.
#[derive(Debug, Clone)]
pub struct NewChannel {
    /// An id from [`super::new_secret_id`]`("ch")`, chosen by the caller so
    /// configuration can refer to the channel's own webhook URL.
    pub id: String,
    pub name: String,
    /// First-party plugin name or the tenant's plugin id.
    pub adapter: String,
    pub config: BTreeMap<String, String>,
    pub guardrails: Vec<String>,
    /// The value of the adapter's routing config key, for shared endpoints.
    pub route_key: Option<String>,
    /// Versions and failure policies; empty means "as the references say".
    pub bindings: Vec<PluginBinding>,
}

/// A channel as stored, with its configuration opened. `Debug` lists the
/// configuration's keys, never its values.
#[derive(Clone, Serialize)]
pub struct ChannelRecord {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub adapter: String,
    /// Shared, because every plugin call of the channel reads it.
    #[serde(skip)]
    pub config: Arc<BTreeMap<String, String>>,
    pub guardrails: Vec<String>,
    /// The adapter's and guardrails' bindings, in chain order.
    pub bindings: Vec<PluginBinding>,
    pub persona_id: Option<String>,
    pub status: ChannelStatus,
    /// The key its adapter's shared endpoint routes to it, as the platform
    /// admin assigned it (`None`: the shared endpoint does not route to it).
    pub route_key: Option<String>,
    pub created_at: i64,
}

/// What a channel id names when a webhook or a job arrives for it.
#[derive(Debug, Clone)]
pub enum ChannelState {
    /// Active, of an active tenant: its configuration opened.
    Active(ChannelRecord),
    /// Disabled by its tenant, or its tenant is suspended. Its
    /// configuration is not opened: nothing will use it.
    Disabled { tenant_id: String },
    /// Deleted, or its tenant deleted.
    Deleted { tenant_id: String },
}

impl ChannelState {
    /// The tenant owning the channel.
    pub fn tenant_id(&self) -> &str {
        match self {
            ChannelState::Active(c) => &c.tenant_id,
            ChannelState::Disabled { tenant_id } | ChannelState::Deleted { tenant_id } => tenant_id,
        }
    }
}

impl std::fmt::Debug for ChannelRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelRecord")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("name", &self.name)
            .field("adapter", &self.adapter)
            .field("config_keys", &self.config.keys().collect::<Vec<_>>())
            .field("guardrails", &self.guardrails)
            .field("persona_id", &self.persona_id)
            .field("status", &self.status)
            .field("route_key", &self.route_key)
            .finish_non_exhaustive()
    }
}

/// The channel columns, then a literal tail (sqlx only takes literal SQL).
macro_rules! select {
    ($tail:literal) => {
        concat!("SELECT id, tenant_id, name, adapter, config_enc, guardrails, bindings, persona_id, status, route_key, created_at FROM channels ", $tail)
    };
}

/// The channel columns with its tenant's status, for webhooks and jobs
/// (which name a channel by id alone), then a literal tail.
macro_rules! select_with_tenant {
    ($tail:literal) => {
        concat!("SELECT c.id, c.tenant_id, c.name, c.adapter, c.config_enc, c.guardrails, c.bindings, c.persona_id, c.status, c.route_key, c.created_at, t.status AS tenant_status \
                 FROM channels c JOIN tenants t ON t.id = c.tenant_id ", $tail)
    };
}

impl Db {
    /// Store a new channel; the configuration is sealed before it is written.
    pub async fn create_channel(
        &self,
        tenant_id: &str,
        ch: &NewChannel,
        secrets: &Keyring,
    ) -> Result<ChannelRecord, StorageError> {
        let id = ch.id.clone();
        let now = now_ms();
        let config_json =
            serde_json::to_vec(&ch.config).map_err(|e| StorageError::Internal(e.into()))?;
        let keys: Vec<&String> = ch.config.keys().collect();
        let stored_bindings = (!ch.bindings.is_empty())
            .then(|| serde_json::to_string(&ch.bindings))
            .transpose()
            .map_err(|e| StorageError::Internal(e.into()))?;
        // Sealed before the transaction: a tenant's first seal writes its
        // data key, and SQLite has one writer connection.
        let sealed = secrets
            .seal(
                tenant_id,
                Purpose::ChannelConfig { channel_id: &id },
                &config_json,
            )
            .await?;
        let mut tx = self.write.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO channels (id, tenant_id, name, adapter, config_enc, config_keys, guardrails, persona_id, status, created_at, route_key, bindings) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $11, $8, $9, $10)",
        )
        .bind(&id)
        .bind(tenant_id)
        .bind(&ch.name)
        .bind(&ch.adapter)
        .bind(sealed)
        .bind(serde_json::to_string(&keys).unwrap_or_default())
        .bind(serde_json::to_string(&ch.guardrails).unwrap_or_default())
        .bind(now)
        .bind(ch.route_key.clone())
        .bind(stored_bindings.clone())
        .bind(ChannelStatus::Active.as_str())
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if super::is_unique_violation(&e) => {
                return Err(StorageError::Conflict(
                    "an active channel for this provider number",
                ));
            }
            other => other?,
        };
        audit(
            &mut tx,
            Some(tenant_id),
            "tenant",
            "channel.create",
            &id,
            &serde_json::json!({ "adapter": ch.adapter, "config_keys": keys, "bindings": ch.bindings }),
        )
        .await?;
        tx.commit().await?;
        Ok(ChannelRecord {
            id,
            tenant_id: tenant_id.to_string(),
            name: ch.name.clone(),
            adapter: ch.adapter.clone(),
            config: Arc::new(ch.config.clone()),
            guardrails: ch.guardrails.clone(),
            bindings: bindings_of(stored_bindings.as_deref(), &ch.adapter, &ch.guardrails),
            persona_id: None,
            status: ChannelStatus::Active,
            route_key: ch.route_key.clone(),
            created_at: now,
        })
    }

    /// The tenant's channels (not the deleted ones), oldest first.
    pub async fn list_channels(
        &self,
        tenant_id: &str,
        secrets: &Keyring,
    ) -> Result<Vec<ChannelRecord>, StorageError> {
        let rows = sqlx::query(select!(
            "WHERE tenant_id = $1 AND status <> 'deleted' ORDER BY created_at, id"
        ))
        .bind(tenant_id)
        .fetch_all(&self.read)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(channel_from_row(r, secrets).await?);
        }
        Ok(out)
    }

    /// One of the tenant's channels; a deleted one is not found.
    pub async fn get_channel(
        &self,
        tenant_id: &str,
        id: &str,
        secrets: &Keyring,
    ) -> Result<ChannelRecord, StorageError> {
        let row = sqlx::query(select!(
            "WHERE tenant_id = $1 AND id = $2 AND status <> 'deleted'"
        ))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StorageError::NotFound("channel"))?;
        channel_from_row(&row, secrets).await
    }

    /// The channel of `adapter` the platform admin assigned routing key
    /// `key` (shared provider endpoints), in whatever state it is; the
    /// tenant comes from that channel.
    pub async fn channel_by_route(
        &self,
        adapter: &str,
        key: &str,
        secrets: &Keyring,
    ) -> Result<Option<ChannelState>, StorageError> {
        let row = sqlx::query(select_with_tenant!(
            "WHERE c.adapter = $1 AND c.route_key = $2 AND c.status <> 'deleted'"
        ))
        .bind(adapter)
        .bind(key)
        .fetch_optional(&self.read)
        .await?;
        match row {
            Some(r) => Ok(Some(state_from_row(&r, secrets).await?)),
            None => Ok(None),
        }
    }

    /// The channel a webhook (or a job) addresses, whoever owns it, in
    /// whatever state it is: the tenant comes from the channel, never from
    /// the request. `None` when no channel ever had this id.
    pub async fn channel_for_webhook(
        &self,
        id: &str,
        secrets: &Keyring,
    ) -> Result<Option<ChannelState>, StorageError> {
        let row = sqlx::query(select_with_tenant!("WHERE c.id = $1"))
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        match row {
            Some(r) => Ok(Some(state_from_row(&r, secrets).await?)),
            None => Ok(None),
        }
    }
}

/// A channel row joined with its tenant's status: only an active channel
/// of an active tenant is opened (a deleted tenant's data key is gone).
async fn state_from_row(
    r: &sqlx::any::AnyRow,
    secrets: &Keyring,
) -> Result<ChannelState, StorageError> {
    let tenant_id: String = r.get("tenant_id");
    let status = ChannelStatus::parse(&r.get::<String, _>("status"));
    let tenant_status = TenantStatus::parse(&r.get::<String, _>("tenant_status"));
    Ok(match (status, tenant_status) {
        (ChannelStatus::Deleted, _) | (_, TenantStatus::Deleted) => {
            ChannelState::Deleted { tenant_id }
        }
        (ChannelStatus::Disabled, _) | (_, TenantStatus::Suspended) => {
            ChannelState::Disabled { tenant_id }
        }
        (ChannelStatus::Active, TenantStatus::Active) => {
            ChannelState::Active(channel_from_row(r, secrets).await?)
        }
    })
}

/// The tenant and channel come from the row itself, so a configuration
/// sealed for another channel or tenant does not open here.
pub(super) async fn channel_from_row(
    r: &sqlx::any::AnyRow,
    secrets: &Keyring,
) -> Result<ChannelRecord, StorageError> {
    let id: String = r.get("id");
    let tenant_id: String = r.get("tenant_id");
    let sealed: Vec<u8> = r.get("config_enc");
    let opened = secrets
        .open(
            &tenant_id,
            Purpose::ChannelConfig { channel_id: &id },
            &sealed,
        )
        .await?;
    // serde_json's error would quote the offending input: keep only its kind.
    let config = serde_json::from_slice(&opened).map_err(|e| {
        StorageError::Internal(anyhow::anyhow!(
            "channel configuration is not a JSON map ({:?})",
            e.classify()
        ))
    })?;
    let guardrails: String = r.get("guardrails");
    let guardrails: Vec<String> = serde_json::from_str(&guardrails).unwrap_or_default();
    let adapter: String = r.get("adapter");
    let stored: Option<String> = r.get("bindings");
    Ok(ChannelRecord {
        bindings: bindings_of(stored.as_deref(), &adapter, &guardrails),
        config: Arc::new(config),
        id,
        tenant_id,
        name: r.get("name"),
        adapter,
        guardrails,
        persona_id: r.get("persona_id"),
        status: ChannelStatus::parse(&r.get::<String, _>("status")),
        route_key: r.get("route_key"),
        created_at: r.get("created_at"),
    })
}
