//! Uploaded plugins: content-addressed bytes plus per-tenant metadata. A
//! tenant can only ever see or bind its own.

use serde::Serialize;
use sqlx::Row;

use super::audit::audit;
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

    /// The tenant's plugin `name` at `version`.
    pub async fn get_plugin_version(
        &self,
        tenant_id: &str,
        name: &str,
        version: &str,
    ) -> Result<PluginRecord, StorageError> {
        let r = sqlx::query("SELECT id, name, version, sha256, world, wit_version, size, created_at FROM plugins WHERE tenant_id = $1 AND name = $2 AND version = $3")
            .bind(tenant_id)
            .bind(name)
            .bind(version)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StorageError::NotFound("plugin version"))?;
        Ok(plugin_from_row(&r))
    }

    /// Every version of the tenant's plugin `name`, oldest upload first.
    pub async fn plugin_versions(
        &self,
        tenant_id: &str,
        name: &str,
    ) -> Result<Vec<PluginRecord>, StorageError> {
        let rows = sqlx::query("SELECT id, name, version, sha256, world, wit_version, size, created_at FROM plugins WHERE tenant_id = $1 AND name = $2 ORDER BY created_at, id")
            .bind(tenant_id)
            .bind(name)
            .fetch_all(&self.read)
            .await?;
        Ok(rows.iter().map(plugin_from_row).collect())
    }

    /// The tenant's newest version of `name` (what `name@latest` binds).
    pub async fn latest_plugin(
        &self,
        tenant_id: &str,
        name: &str,
    ) -> Result<PluginRecord, StorageError> {
        self.plugin_versions(tenant_id, name)
            .await?
            .into_iter()
            .max_by(|a, b| {
                version_order(&a.version, &b.version).then(a.created_at.cmp(&b.created_at))
            })
            .ok_or(StorageError::NotFound("plugin"))
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

/// Versions compare by their dot-separated parts, numerically where both
/// parts are numbers (so 1.10.0 is newer than 1.9.0); a version that is not
/// of that shape ties, and the newer upload wins.
fn version_order(a: &str, b: &str) -> std::cmp::Ordering {
    let core = |v: &str| {
        v.split(['-', '+'])
            .next()
            .unwrap_or_default()
            .split('.')
            .map(|p| p.parse::<u64>().ok())
            .collect::<Option<Vec<u64>>>()
    };
    match (core(a), core(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Greater,
        (None, Some(_)) => std::cmp::Ordering::Less,
        (None, None) => std::cmp::Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::version_order;
    use std::cmp::Ordering::*;

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(version_order("1.10.0", "1.9.0"), Greater);
        assert_eq!(version_order("2.0.0", "10.0.0"), Less);
        assert_eq!(version_order("1.0.0", "beta"), Greater);
        assert_eq!(version_order("x", "y"), Equal);
    }
}
