//! What a business needs to run on the platform: named API keys, plan
//! limits and retention, usage, and the audit log as pages.

use serde::{Deserialize, Serialize};
use sha2::Digest;
use sqlx::Row;

use super::audit::{AuditEntry, audit, audit_from_row};
use super::conversations::Page;
use super::usage::period_of;
use super::{Db, StorageError, new_id, now_ms};

/// An API key as listed (never the key itself).
#[derive(Debug, Clone, Serialize)]
pub struct ApiKeyRecord {
    pub id: String,
    pub name: String,
    /// The key's first characters, to recognise it.
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A tenant's plan limits and retention; `None` is "no limit" / "keep" /
/// "the platform default".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantLimits {
    pub monthly_message_limit: Option<i64>,
    pub api_rate_limit_rps: Option<i64>,
    pub retention_days: Option<i64>,
    /// Fuel per plugin call.
    pub plugin_fuel: Option<i64>,
    /// Wall-clock deadline per plugin call.
    pub plugin_deadline_ms: Option<i64>,
    /// Linear memory per plugin instance, in MiB.
    pub plugin_memory_mib: Option<i64>,
    /// Plugin calls the tenant may run at once.
    pub max_concurrent_plugin_calls: Option<i64>,
    /// Reply and delivery jobs the tenant may have running at once.
    pub max_concurrent_jobs: Option<i64>,
}

/// One usage row: a channel in a month.
#[derive(Debug, Clone, Serialize)]
pub struct UsageRow {
    pub period: String,
    pub channel_id: String,
    pub inbound: i64,
    pub outbound: i64,
    pub llm_prompt_tokens: i64,
    pub llm_completion_tokens: i64,
}

/// Hash of an API key as stored.
pub(crate) fn key_hash(key: &str) -> String {
    hex::encode(sha2::Sha256::digest(key.as_bytes()))
}

/// A new API key: the record and the secret, shown once.
pub fn generate_api_key() -> String {
    let mut secret = [0u8; 24];
    getrandom::fill(&mut secret).expect("OS random source");
    format!("sk_{}", hex::encode(secret))
}

impl Db {
    /// Add a named API key for the tenant; returns the record and the key.
    pub async fn create_api_key(
        &self,
        tenant_id: &str,
        actor: &str,
        name: &str,
    ) -> Result<(ApiKeyRecord, String), StorageError> {
        let key = generate_api_key();
        let id = new_id("key");
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        sqlx::query("INSERT INTO api_keys (id, tenant_id, key_hash, prefix, created_at, name) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&id)
            .bind(tenant_id)
            .bind(key_hash(&key))
            .bind(key[..11].to_string())
            .bind(now)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        audit(
            &mut tx,
            Some(tenant_id),
            actor,
            "api_key.create",
            &id,
            &serde_json::json!({ "name": name, "prefix": &key[..11] }),
        )
        .await?;
        tx.commit().await?;
        Ok((
            ApiKeyRecord {
                id,
                name: name.to_string(),
                prefix: key[..11].to_string(),
                created_at: now,
                last_used_at: None,
                revoked_at: None,
            },
            key,
        ))
    }

    /// The tenant's API keys, oldest first.
    pub async fn list_api_keys(&self, tenant_id: &str) -> Result<Vec<ApiKeyRecord>, StorageError> {
        let rows = sqlx::query("SELECT id, name, prefix, created_at, last_used_at, revoked_at FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, id LIMIT 1000")
            .bind(tenant_id)
            .fetch_all(&self.read)
            .await?;
        Ok(rows
            .iter()
            .map(|r| ApiKeyRecord {
                id: r.get("id"),
                name: r.get("name"),
                prefix: r.get("prefix"),
                created_at: r.get("created_at"),
                last_used_at: r.get("last_used_at"),
                revoked_at: r.get("revoked_at"),
            })
            .collect())
    }

    /// Revoke one of the tenant's keys (idempotent). `NotFound` when it is
    /// not the tenant's.
    pub async fn revoke_api_key(
        &self,
        tenant_id: &str,
        actor: &str,
        id: &str,
    ) -> Result<(), StorageError> {
        let mut tx = self.write.begin().await?;
        sqlx::query("SELECT 1 FROM api_keys WHERE id = $1 AND tenant_id = $2")
            .bind(id)
            .bind(tenant_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StorageError::NotFound("api key"))?;
        let changed = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND tenant_id = $3 AND revoked_at IS NULL")
            .bind(now_ms())
            .bind(id)
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if changed > 0 {
            audit(
                &mut tx,
                Some(tenant_id),
                actor,
                "api_key.revoke",
                id,
                &serde_json::json!({}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Record a key's use (callers throttle this; it is not per request).
    pub async fn touch_api_key(&self, id: &str, at: i64) -> Result<(), StorageError> {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// The tenant's plan limits and retention.
    pub async fn tenant_limits(&self, tenant_id: &str) -> Result<TenantLimits, StorageError> {
        let r = sqlx::query("SELECT monthly_message_limit, CAST(api_rate_limit_rps AS BIGINT) AS rps, CAST(retention_days AS BIGINT) AS days, plugin_fuel, plugin_deadline_ms, plugin_memory_mib, max_concurrent_plugin_calls, max_concurrent_jobs FROM tenants WHERE id = $1")
            .bind(tenant_id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StorageError::NotFound("tenant"))?;
        Ok(TenantLimits {
            monthly_message_limit: r.get("monthly_message_limit"),
            api_rate_limit_rps: r.get("rps"),
            retention_days: r.get("days"),
            plugin_fuel: r.get("plugin_fuel"),
            plugin_deadline_ms: r.get("plugin_deadline_ms"),
            plugin_memory_mib: r.get("plugin_memory_mib"),
            max_concurrent_plugin_calls: r.get("max_concurrent_plugin_calls"),
            max_concurrent_jobs: r.get("max_concurrent_jobs"),
        })
    }

    /// Set the tenant's plan limits and retention (platform admin).
    pub async fn set_tenant_limits(
        &self,
        tenant_id: &str,
        actor: &str,
        limits: &TenantLimits,
    ) -> Result<(), StorageError> {
        let before = self.tenant_limits(tenant_id).await?;
        let mut tx = self.write.begin().await?;
        sqlx::query("UPDATE tenants SET monthly_message_limit = $1, api_rate_limit_rps = $2, retention_days = $3, plugin_fuel = $4, plugin_deadline_ms = $5, plugin_memory_mib = $6, max_concurrent_plugin_calls = $7, max_concurrent_jobs = $8 WHERE id = $9")
            .bind(limits.monthly_message_limit)
            .bind(limits.api_rate_limit_rps.map(|v| v as i32))
            .bind(limits.retention_days.map(|v| v as i32))
            .bind(limits.plugin_fuel)
            .bind(limits.plugin_deadline_ms)
            .bind(limits.plugin_memory_mib)
            .bind(limits.max_concurrent_plugin_calls)
            .bind(limits.max_concurrent_jobs)
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?;
        audit(
            &mut tx,
            Some(tenant_id),
            actor,
            "tenant.limits",
            tenant_id,
            &serde_json::json!({ "before": before, "after": limits }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Messages (both directions) the tenant used this calendar month.
    pub async fn messages_this_month(&self, tenant_id: &str) -> Result<i64, StorageError> {
        let r = sqlx::query("SELECT CAST(COALESCE(SUM(inbound + outbound), 0) AS BIGINT) AS n FROM usage WHERE tenant_id = $1 AND period = $2")
            .bind(tenant_id)
            .bind(period_of(now_ms()))
            .fetch_one(&self.read)
            .await?;
        Ok(r.get("n"))
    }

    /// Record, once per month, that automated replies are paused because
    /// the monthly limit was reached. True when this call recorded it.
    pub async fn pause_replies_for_month(
        &self,
        tenant_id: &str,
        used: i64,
        limit: i64,
    ) -> Result<bool, StorageError> {
        let period = period_of(now_ms());
        let mut tx = self.write.begin().await?;
        let changed = sqlx::query("UPDATE tenants SET replies_paused_period = $1 WHERE id = $2 AND (replies_paused_period IS NULL OR replies_paused_period <> $1)")
            .bind(&period)
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        if changed {
            audit(&mut tx, Some(tenant_id), "system", "replies.paused", tenant_id, &serde_json::json!({ "period": period, "used": used, "limit": limit, "reason": "monthly_limit_reached" })).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// Usage rows, newest month first; one month when `period` is given.
    pub async fn usage_rows(
        &self,
        tenant_id: &str,
        period: Option<&str>,
    ) -> Result<Vec<UsageRow>, StorageError> {
        let rows = sqlx::query(
            "SELECT period, channel_id, CAST(inbound AS BIGINT) AS inbound, CAST(outbound AS BIGINT) AS outbound, \
             CAST(llm_prompt_tokens AS BIGINT) AS p, CAST(llm_completion_tokens AS BIGINT) AS c FROM usage \
             WHERE tenant_id = $1 AND ($2 IS NULL OR period = $2) ORDER BY period DESC, channel_id LIMIT 2000",
        )
        .bind(tenant_id)
        .bind(period.map(str::to_string))
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .iter()
            .map(|r| UsageRow {
                period: r.get("period"),
                channel_id: r.get("channel_id"),
                inbound: r.get("inbound"),
                outbound: r.get("outbound"),
                llm_prompt_tokens: r.get("p"),
                llm_completion_tokens: r.get("c"),
            })
            .collect())
    }

    /// The tenant's audit log, newest first, by cursor.
    pub async fn audit_page(
        &self,
        tenant_id: &str,
        limit: u32,
        cursor: Option<&str>,
        action: Option<&str>,
    ) -> Result<Page<AuditEntry>, StorageError> {
        let limit = limit.clamp(1, 500);
        let rows = sqlx::query(
            "SELECT id, actor, action, target, detail, created_at FROM audit_log \
             WHERE tenant_id = $1 AND ($2 IS NULL OR id < $2) AND ($3 IS NULL OR action = $3) ORDER BY id DESC LIMIT $4",
        )
        .bind(tenant_id)
        .bind(cursor.map(str::to_string))
        .bind(action.map(str::to_string))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.read)
        .await?;
        let mut data: Vec<AuditEntry> = rows.iter().map(audit_from_row).collect();
        let next_cursor = if data.len() > limit as usize {
            data.truncate(limit as usize);
            data.last().map(|e| e.id.clone())
        } else {
            None
        };
        Ok(Page { data, next_cursor })
    }
}
