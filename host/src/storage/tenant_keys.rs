//! Tenant data keys as stored: wrapped by the master key, never in the
//! clear (see `crate::secrets`), and tenant deletion, which destroys them.

use sqlx::Row;

use super::audit::audit;
use super::{Db, Dialect, StorageError, now_ms};

/// A tenant's wrapped data key.
#[derive(Clone)]
pub(crate) struct StoredKey {
    pub wrapped: Vec<u8>,
    pub master_key_id: String,
    pub destroyed: bool,
}

impl Db {
    /// The tenant's data key row, if one was ever created.
    pub(crate) async fn tenant_key(
        &self,
        tenant_id: &str,
    ) -> Result<Option<StoredKey>, StorageError> {
        let row = sqlx::query(
            "SELECT wrapped_key, master_key_id, destroyed_at FROM tenant_keys WHERE tenant_id = $1",
        )
        .bind(tenant_id)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|r| StoredKey {
            wrapped: r.get("wrapped_key"),
            master_key_id: r.get("master_key_id"),
            destroyed: r.get::<Option<i64>, _>("destroyed_at").is_some(),
        }))
    }

    /// Store a tenant's first data key. When two replicas race, the first
    /// insert wins and both then read that one, so a tenant has one key.
    pub(crate) async fn insert_tenant_key(
        &self,
        tenant_id: &str,
        wrapped: &[u8],
        master_key_id: &str,
    ) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO tenant_keys (tenant_id, wrapped_key, master_key_id, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id) DO NOTHING",
        )
        .bind(tenant_id)
        .bind(wrapped.to_vec())
        .bind(master_key_id)
        .bind(now_ms())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// How many live data keys are wrapped by a master key other than
    /// `master_key_id` (a server started with the wrong key sees them).
    pub async fn tenant_keys_not_wrapped_by(
        &self,
        master_key_id: &str,
    ) -> Result<i64, StorageError> {
        let row = sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM tenant_keys WHERE destroyed_at IS NULL AND master_key_id <> $1")
            .bind(master_key_id)
            .fetch_one(&self.read)
            .await?;
        Ok(row.get("n"))
    }

    /// Re-wrap every live data key not yet wrapped by `new_master_key_id`,
    /// in one transaction: `rewrap(tenant_id, wrapped, master_key_id)`
    /// returns the new wrapping, and any failure rolls everything back.
    /// Returns how many keys were re-wrapped. Sealed values are untouched.
    pub(crate) async fn rewrap_tenant_keys(
        &self,
        new_master_key_id: &str,
        mut rewrap: impl FnMut(&str, &[u8], &str) -> anyhow::Result<Vec<u8>>,
    ) -> Result<usize, StorageError> {
        let mut tx = self.write.begin().await?;
        if self.dialect == Dialect::Postgres {
            // A replica creating a tenant's first key during the rotation
            // would wrap it under the old master key; make it wait instead.
            sqlx::query("LOCK TABLE tenant_keys IN EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await?;
        }
        let rows = sqlx::query("SELECT tenant_id, wrapped_key, master_key_id FROM tenant_keys WHERE destroyed_at IS NULL AND master_key_id <> $1 ORDER BY tenant_id")
            .bind(new_master_key_id)
            .fetch_all(&mut *tx)
            .await?;
        for r in &rows {
            let tenant_id: String = r.get("tenant_id");
            let wrapped: Vec<u8> = r.get("wrapped_key");
            let old_id: String = r.get("master_key_id");
            let rewrapped =
                rewrap(&tenant_id, &wrapped, &old_id).map_err(StorageError::Internal)?;
            sqlx::query("UPDATE tenant_keys SET wrapped_key = $1, master_key_id = $2 WHERE tenant_id = $3 AND master_key_id = $4")
                .bind(rewrapped)
                .bind(new_master_key_id)
                .bind(&tenant_id)
                .bind(&old_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(rows.len())
    }

    /// Delete a tenant: mark it deleted, disable its channels (webhooks then
    /// answer 404), revoke its API keys, and destroy its data key, all in
    /// one audited transaction. Every sealed value of the tenant is
    /// unreadable afterwards. `NotFound` if there is no such live tenant.
    ///
    /// The wrapped key is overwritten in the live database; copies in
    /// backups or in the database's own logs last as long as those do.
    pub async fn delete_tenant(&self, tenant_id: &str, actor: &str) -> Result<(), StorageError> {
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        let updated = sqlx::query(
            "UPDATE tenants SET status = 'deleted' WHERE id = $1 AND status <> 'deleted'",
        )
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StorageError::NotFound("tenant"));
        }
        let channels = sqlx::query(
            "UPDATE channels SET status = 'disabled' WHERE tenant_id = $1 AND status = 'active'",
        )
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let keys = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE tenant_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // An upsert: a tenant that never sealed anything gets a destroyed
        // row too, so no key can be created for it later.
        sqlx::query(
            "INSERT INTO tenant_keys (tenant_id, wrapped_key, master_key_id, created_at, destroyed_at) VALUES ($1, $2, '', $3, $3) \
             ON CONFLICT (tenant_id) DO UPDATE SET wrapped_key = $2, destroyed_at = $3",
        )
        .bind(tenant_id)
        .bind(Vec::<u8>::new())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            Some(tenant_id),
            actor,
            "tenant.delete",
            tenant_id,
            &serde_json::json!({ "channels_disabled": channels, "api_keys_revoked": keys, "data_key": "destroyed" }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every stored byte that holds or could leak a tenant's secrets:
    /// sealed channel configurations and responders, the wrapped data key,
    /// and the audit details. For tests that scan the raw database.
    #[doc(hidden)]
    pub async fn raw_secret_columns(
        &self,
        tenant_id: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        let mut out: Vec<(String, Vec<u8>)> = Vec::new();
        for (label, sql) in [
            (
                "channels.config_enc",
                "SELECT config_enc AS v FROM channels WHERE tenant_id = $1",
            ),
            (
                "personas.responder_enc",
                "SELECT responder_enc AS v FROM personas WHERE tenant_id = $1",
            ),
            (
                "tenant_keys.wrapped_key",
                "SELECT wrapped_key AS v FROM tenant_keys WHERE tenant_id = $1",
            ),
        ] {
            let rows = sqlx::query(sql)
                .bind(tenant_id)
                .fetch_all(&self.read)
                .await?;
            out.extend(rows.iter().map(|r| (label.to_string(), r.get("v"))));
        }
        for (label, sql) in [
            (
                "channels.config_keys",
                "SELECT config_keys AS v FROM channels WHERE tenant_id = $1",
            ),
            (
                "audit_log.detail",
                "SELECT detail AS v FROM audit_log WHERE tenant_id = $1",
            ),
        ] {
            let rows = sqlx::query(sql)
                .bind(tenant_id)
                .fetch_all(&self.read)
                .await?;
            out.extend(
                rows.iter()
                    .map(|r| (label.to_string(), r.get::<String, _>("v").into_bytes())),
            );
        }
        Ok(out)
    }

    /// The tables with a row whose text form contains `needle`
    /// (PostgreSQL only: `row::text` shows every column, `bytea` in hex).
    /// For tests proving what never reaches the database in the clear.
    #[doc(hidden)]
    pub async fn tables_containing(&self, needle: &str) -> Result<Vec<String>, StorageError> {
        if self.dialect != Dialect::Postgres {
            return Err(StorageError::Internal(anyhow::anyhow!(
                "scanning tables as text needs PostgreSQL; scan the SQLite file instead"
            )));
        }
        let tables = sqlx::query(
            "SELECT CAST(table_name AS TEXT) AS t FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1",
        )
        .fetch_all(&self.read)
        .await?;
        let mut found = Vec::new();
        for t in tables {
            let table: String = t.get("t");
            // The name comes from the catalogue, quoted as an identifier.
            let sql = format!(
                "SELECT 1 AS hit FROM \"{}\" x WHERE strpos(CAST(x AS TEXT), $1) > 0 LIMIT 1",
                table.replace('"', "\"\"")
            );
            let hit = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(needle)
                .fetch_optional(&self.read)
                .await?;
            if hit.is_some() {
                found.push(table);
            }
        }
        Ok(found)
    }
}
