//! Tenants and their API keys (stored as SHA-256; shown once).

use serde::Serialize;
use sqlx::Row;

use super::audit::audit;
use super::conversations::Page;
use super::platform::key_hash;
use super::{Db, StorageError, is_unique_violation, new_id, now_ms};
use crate::domain::TenantStatus;

/// A tenant.
#[derive(Debug, Clone, Serialize)]
pub struct TenantRecord {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub status: TenantStatus,
    pub created_at: i64,
}

/// The tenant columns (sqlx only takes literal SQL).
macro_rules! select {
    ($tail:literal) => {
        concat!(
            "SELECT id, slug, name, status, created_at FROM tenants ",
            $tail
        )
    };
}

/// A created tenant with its one-time API key.
#[derive(Debug, Clone, Serialize)]
pub struct NewTenant {
    pub id: String,
    pub slug: String,
    pub api_key: String,
}

impl Db {
    /// Create a tenant and its first API key. `Conflict` when the slug is taken.
    pub async fn create_tenant(&self, slug: &str, name: &str) -> Result<NewTenant, StorageError> {
        let id = new_id("tn");
        let api_key = super::platform::generate_api_key();
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO tenants (id, slug, name, status, created_at) VALUES ($1, $2, $3, $5, $4)",
        )
        .bind(&id)
        .bind(slug)
        .bind(name)
        .bind(now)
        .bind(TenantStatus::Active.as_str())
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(StorageError::Conflict("a tenant with this slug"));
            }
            other => other?,
        };
        sqlx::query("INSERT INTO api_keys (id, tenant_id, key_hash, prefix, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(new_id("key"))
            .bind(&id)
            .bind(key_hash(&api_key))
            .bind(api_key[..11].to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        audit(
            &mut tx,
            Some(&id),
            "admin",
            "tenant.create",
            &id,
            &serde_json::json!({ "slug": slug }),
        )
        .await?;
        tx.commit().await?;
        Ok(NewTenant {
            id,
            slug: slug.to_string(),
            api_key,
        })
    }

    /// The tenant owning this (unrevoked) API key, with the key's id,
    /// unless the tenant is deleted; the caller refuses a suspended one.
    /// The lookup is by hash, so the key itself is never compared byte by
    /// byte.
    pub async fn tenant_by_api_key(
        &self,
        key: &str,
    ) -> Result<Option<(TenantRecord, String)>, StorageError> {
        let row = sqlx::query(
            "SELECT t.id, t.slug, t.name, t.status, t.created_at, k.id AS key_id FROM api_keys k JOIN tenants t ON t.id = k.tenant_id \
             WHERE k.key_hash = $1 AND k.revoked_at IS NULL AND t.status <> 'deleted'",
        )
        .bind(key_hash(key))
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|r| (tenant_from_row(&r), r.get("key_id"))))
    }

    /// A tenant by slug (operators' CLI).
    pub async fn tenant_by_slug(&self, slug: &str) -> Result<Option<TenantRecord>, StorageError> {
        let row = sqlx::query(select!("WHERE slug = $1"))
            .bind(slug)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.map(|r| tenant_from_row(&r)))
    }

    /// A tenant by slug or id (operators' CLI; a slug never looks like an id).
    pub async fn tenant_by_slug_or_id(
        &self,
        reference: &str,
    ) -> Result<Option<TenantRecord>, StorageError> {
        let row = sqlx::query(select!("WHERE slug = $1 OR id = $1"))
            .bind(reference)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.map(|r| tenant_from_row(&r)))
    }

    /// One tenant by id, whatever its status (platform admin).
    pub async fn tenant(&self, id: &str) -> Result<TenantRecord, StorageError> {
        let row = sqlx::query(select!("WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StorageError::NotFound("tenant"))?;
        Ok(tenant_from_row(&row))
    }

    /// Every tenant, deleted ones included, by id (ids start with their
    /// creation time, so this is oldest first), `limit` at a time after
    /// `cursor` (platform admin).
    pub async fn list_tenants(
        &self,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<TenantRecord>, StorageError> {
        let limit = limit.clamp(1, 500);
        let rows = sqlx::query(select!(
            "WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2"
        ))
        .bind(cursor.map(str::to_string))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.read)
        .await?;
        let mut data: Vec<TenantRecord> = rows.iter().map(tenant_from_row).collect();
        let next_cursor = if data.len() > limit as usize {
            data.truncate(limit as usize);
            data.last().map(|t| t.id.clone())
        } else {
            None
        };
        Ok(Page { data, next_cursor })
    }

    /// Rename, suspend or reactivate a tenant that is not deleted
    /// (`NotFound` otherwise; deletion is [`Db::delete_tenant`]). Audited
    /// with the changed fields.
    pub async fn update_tenant(
        &self,
        id: &str,
        actor: &str,
        name: Option<&str>,
        status: Option<TenantStatus>,
    ) -> Result<TenantRecord, StorageError> {
        debug_assert!(status != Some(TenantStatus::Deleted));
        let mut tx = self.write.begin().await?;
        let before = sqlx::query(select!("WHERE id = $1 AND status <> 'deleted'"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| tenant_from_row(&r))
            .ok_or(StorageError::NotFound("tenant"))?;
        let mut fields = Vec::new();
        let mut detail = serde_json::json!({});
        if let Some(name) = name {
            sqlx::query("UPDATE tenants SET name = $1 WHERE id = $2")
                .bind(name)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            fields.push("name");
            detail["name"] = serde_json::json!({ "before": before.name, "after": name });
        }
        if let Some(status) = status {
            sqlx::query("UPDATE tenants SET status = $1 WHERE id = $2")
                .bind(status.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?;
            fields.push("status");
            detail["status"] = serde_json::json!({ "before": before.status, "after": status });
        }
        sqlx::query("UPDATE tenants SET updated_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        detail["fields"] = serde_json::json!(fields);
        let action = match status {
            Some(TenantStatus::Suspended) if before.status != TenantStatus::Suspended => {
                "tenant.suspend"
            }
            Some(TenantStatus::Active) if before.status != TenantStatus::Active => {
                "tenant.reactivate"
            }
            _ => "tenant.update",
        };
        audit(&mut tx, Some(id), actor, action, id, &detail).await?;
        tx.commit().await?;
        Ok(TenantRecord {
            name: name.map_or(before.name, str::to_string),
            status: status.unwrap_or(before.status),
            ..before
        })
    }
}

fn tenant_from_row(r: &sqlx::any::AnyRow) -> TenantRecord {
    TenantRecord {
        id: r.get("id"),
        slug: r.get("slug"),
        name: r.get("name"),
        status: TenantStatus::parse(&r.get::<String, _>("status")),
        created_at: r.get("created_at"),
    }
}
