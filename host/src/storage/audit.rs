//! The audit log: who changed what, written in the same transaction as
//! the change.

use serde::Serialize;
use sqlx::Row;

use super::{Db, StorageError, new_id, now_ms};

/// An audit-log entry.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: serde_json::Value,
    pub created_at: i64,
}

impl Db {
    /// The tenant's most recent audit entries, newest first.
    pub async fn audit_entries(
        &self,
        tenant_id: &str,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StorageError> {
        let rows = sqlx::query("SELECT id, actor, action, target, detail, created_at FROM audit_log WHERE tenant_id = $1 ORDER BY id DESC LIMIT $2")
            .bind(tenant_id)
            .bind(i64::from(limit.clamp(1, 1000)))
            .fetch_all(&self.read)
            .await?;
        Ok(rows.iter().map(audit_from_row).collect())
    }
}

pub(crate) fn audit_from_row(r: &sqlx::any::AnyRow) -> AuditEntry {
    let detail: String = r.get("detail");
    AuditEntry {
        id: r.get("id"),
        actor: r.get("actor"),
        action: r.get("action"),
        target: r.get("target"),
        detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
        created_at: r.get("created_at"),
    }
}

/// Append to the audit log inside the caller's transaction.
pub(crate) async fn audit(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant_id: Option<&str>,
    actor: &str,
    action: &str,
    target: &str,
    detail: &serde_json::Value,
) -> Result<(), StorageError> {
    sqlx::query("INSERT INTO audit_log (id, tenant_id, actor, action, target, detail, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(new_id("aud"))
        .bind(tenant_id.map(str::to_string))
        .bind(actor)
        .bind(action)
        .bind(target)
        .bind(detail.to_string())
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
