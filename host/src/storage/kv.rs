//! The plugins' `kv` host import on the `plugin_kv` table. The runtime calls
//! it synchronously, from inside a plugin call that is itself being driven
//! by a `block_on` or polled on an async worker, so each operation runs on
//! a short-lived thread of its own that blocks on the server's runtime (a
//! nested `block_on` on the calling thread would panic), and an inline
//! call first hands its worker's other tasks to another thread
//! (`runtime::blocking_here`).

use sqlx::Row;

use super::{Db, now_ms};
use crate::kv::{KvScope, KvStore, KvUnavailable};

/// Database-backed [`KvStore`].
pub struct SqlKv {
    db: Db,
    handle: tokio::runtime::Handle,
}

impl SqlKv {
    /// A store on `db`; must be created inside a tokio runtime.
    pub fn new(db: Db) -> Self {
        SqlKv {
            db,
            handle: tokio::runtime::Handle::current(),
        }
    }

    fn block<T: Send>(
        &self,
        f: impl std::future::Future<Output = Result<T, sqlx::Error>> + Send,
    ) -> Result<T, KvUnavailable> {
        crate::runtime::blocking_here(|| {
            std::thread::scope(|s| s.spawn(|| self.handle.block_on(f)).join())
        })
        .map_err(|_| KvUnavailable("the key-value query failed in the host".into()))?
        .map_err(|e| KvUnavailable(e.to_string()))
    }
}

impl KvStore for SqlKv {
    fn get(&self, scope: &KvScope, key: &str) -> Result<Option<Vec<u8>>, KvUnavailable> {
        let row = self.block(
            sqlx::query(
                "SELECT value FROM plugin_kv WHERE tenant_id = $1 AND plugin = $2 AND key = $3",
            )
            .bind(&scope.tenant)
            .bind(&scope.plugin)
            .bind(key)
            .fetch_optional(&self.db.read),
        )?;
        Ok(row.map(|r| r.get("value")))
    }

    fn set(
        &self,
        scope: &KvScope,
        key: &str,
        value: &[u8],
        max_keys: u32,
    ) -> Result<bool, KvUnavailable> {
        self.block(async {
            let mut tx = self.db.write.begin().await?;
            let exists = sqlx::query("SELECT 1 FROM plugin_kv WHERE tenant_id = $1 AND plugin = $2 AND key = $3")
                .bind(&scope.tenant)
                .bind(&scope.plugin)
                .bind(key)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            if !exists {
                let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM plugin_kv WHERE tenant_id = $1 AND plugin = $2")
                    .bind(&scope.tenant)
                    .bind(&scope.plugin)
                    .fetch_one(&mut *tx)
                    .await?
                    .get("n");
                if n >= i64::from(max_keys) {
                    return Ok(false);
                }
            }
            sqlx::query(
                "INSERT INTO plugin_kv (tenant_id, plugin, key, value, updated_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (tenant_id, plugin, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .bind(&scope.tenant)
            .bind(&scope.plugin)
            .bind(key)
            .bind(value.to_vec())
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    fn delete(&self, scope: &KvScope, key: &str) -> Result<(), KvUnavailable> {
        self.block(
            sqlx::query("DELETE FROM plugin_kv WHERE tenant_id = $1 AND plugin = $2 AND key = $3")
                .bind(&scope.tenant)
                .bind(&scope.plugin)
                .bind(key)
                .execute(&self.db.write),
        )?;
        Ok(())
    }

    fn count(&self, scope: &KvScope) -> Result<u64, KvUnavailable> {
        let n: i64 = self
            .block(
                sqlx::query(
                    "SELECT COUNT(*) AS n FROM plugin_kv WHERE tenant_id = $1 AND plugin = $2",
                )
                .bind(&scope.tenant)
                .bind(&scope.plugin)
                .fetch_one(&self.db.read),
            )?
            .get("n");
        Ok(n as u64)
    }
}
