//! Tenants and their API keys (stored as SHA-256; shown once).

use serde::Serialize;
use sqlx::Row;

use super::audit::audit;
use super::platform::key_hash;
use super::{Db, StorageError, is_unique_violation, new_id, now_ms};

/// A tenant.
#[derive(Debug, Clone, Serialize)]
pub struct TenantRecord {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub status: String,
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
        let inserted = sqlx::query("INSERT INTO tenants (id, slug, name, status, created_at) VALUES ($1, $2, $3, 'active', $4)")
            .bind(&id)
            .bind(slug)
            .bind(name)
            .bind(now)
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

    /// The active tenant owning this (unrevoked) API key, with the key's id.
    /// The lookup is by hash, so the key itself is never compared byte by
    /// byte.
    pub async fn tenant_by_api_key(
        &self,
        key: &str,
    ) -> Result<Option<(TenantRecord, String)>, StorageError> {
        let row = sqlx::query(
            "SELECT t.id, t.slug, t.name, t.status, k.id AS key_id FROM api_keys k JOIN tenants t ON t.id = k.tenant_id \
             WHERE k.key_hash = $1 AND k.revoked_at IS NULL AND t.status = 'active'",
        )
        .bind(key_hash(key))
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|r| (tenant_from_row(&r), r.get("key_id"))))
    }

    /// A tenant by slug (operators' CLI).
    pub async fn tenant_by_slug(&self, slug: &str) -> Result<Option<TenantRecord>, StorageError> {
        let row = sqlx::query("SELECT id, slug, name, status FROM tenants WHERE slug = $1")
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
        let row =
            sqlx::query("SELECT id, slug, name, status FROM tenants WHERE slug = $1 OR id = $1")
                .bind(reference)
                .fetch_optional(&self.read)
                .await?;
        Ok(row.map(|r| tenant_from_row(&r)))
    }
}

fn tenant_from_row(r: &sqlx::any::AnyRow) -> TenantRecord {
    TenantRecord {
        id: r.get("id"),
        slug: r.get("slug"),
        name: r.get("name"),
        status: r.get("status"),
    }
}
