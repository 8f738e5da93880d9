//! Uploaded plugins: content-addressed bytes plus per-tenant metadata. A
//! tenant can only ever see or bind its own.

use serde::Serialize;
use sqlx::Row;

use super::tenants::audit;
use super::{Db, StorageError, is_unique_violation, new_id, now_ms};

/// A tenant's plugin version.
#[derive(Debug, Clone, Serialize)]
pub struct PluginRecord {
    pub id: String,
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub world: String,
    pub wit_version: String,
    pub size: i64,
    pub created_at: i64,
}

impl Db {
    /// Store a validated component for a tenant (bytes stored once per sha256).
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_plugin(
        &self,
        tenant_id: &str,
        name: &str,
        version: &str,
        sha256: &str,
        world: &str,
        wit_version: &str,
        bytes: &[u8],
    ) -> Result<PluginRecord, StorageError> {
        let now = now_ms();
        let id = new_id("plg");
        let mut tx = self.write.begin().await?;
        sqlx::query("INSERT INTO plugin_blobs (sha256, bytes, created_at) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING")
            .bind(sha256)
            .bind(bytes.to_vec())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let r = sqlx::query("INSERT INTO plugins (id, tenant_id, name, version, sha256, world, wit_version, size, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(&id)
            .bind(tenant_id)
            .bind(name)
            .bind(version)
            .bind(sha256)
            .bind(world)
            .bind(wit_version)
            .bind(bytes.len() as i64)
            .bind(now)
            .execute(&mut *tx)
            .await;
        match r {
            Err(e) if is_unique_violation(&e) => {
                return Err(StorageError::Conflict(
                    "a plugin with this name and version",
                ));
            }
            other => other?,
        };
        audit(
            &mut tx,
            Some(tenant_id),
            "tenant",
            "plugin.upload",
            &id,
            &serde_json::json!({ "name": name, "version": version, "sha256": sha256 }),
        )
        .await?;
        tx.commit().await?;
        Ok(PluginRecord {
            id,
            name: name.into(),
            version: version.into(),
            sha256: sha256.into(),
            world: world.into(),
            wit_version: wit_version.into(),
            size: bytes.len() as i64,
            created_at: now,
        })
    }

    /// One of the tenant's plugins (never another tenant's).
    pub async fn get_plugin(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> Result<PluginRecord, StorageError> {
        let r = sqlx::query("SELECT id, name, version, sha256, world, wit_version, size, created_at FROM plugins WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StorageError::NotFound("plugin"))?;
        Ok(plugin_from_row(&r))
    }

    /// The tenant's plugins.
    pub async fn list_plugins(&self, tenant_id: &str) -> Result<Vec<PluginRecord>, StorageError> {
        let rows = sqlx::query("SELECT id, name, version, sha256, world, wit_version, size, created_at FROM plugins WHERE tenant_id = $1 ORDER BY id")
            .bind(tenant_id)
            .fetch_all(&self.read)
            .await?;
        Ok(rows.iter().map(plugin_from_row).collect())
    }

    /// Component bytes by sha256.
    pub async fn plugin_bytes(&self, sha256: &str) -> Result<Vec<u8>, StorageError> {
        let r = sqlx::query("SELECT bytes FROM plugin_blobs WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StorageError::NotFound("plugin"))?;
        Ok(r.get("bytes"))
    }
}

fn plugin_from_row(r: &sqlx::any::AnyRow) -> PluginRecord {
    PluginRecord {
        id: r.get("id"),
        name: r.get("name"),
        version: r.get("version"),
        sha256: r.get("sha256"),
        world: r.get("world"),
        wit_version: r.get("wit_version"),
        size: r.get("size"),
        created_at: r.get("created_at"),
    }
}
