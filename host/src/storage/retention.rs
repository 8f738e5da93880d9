//! Retention and erasure: the sweeper deletes messages older than each
//! tenant's `retention_days`; erasing a contact removes their identities
//! and the text of their messages (the rows stay, as counts and statuses).

use sqlx::Row;

use super::audit::audit;
use super::{Db, StorageError, now_ms};

const DAY_MS: i64 = 86_400_000;

impl Db {
    /// Delete every message older than its tenant's retention at `now`
    /// (with its delivery attempts). Returns the number of messages deleted.
    pub async fn sweep_retention(&self, now: i64) -> Result<u64, StorageError> {
        let tenants = sqlx::query("SELECT id, CAST(retention_days AS BIGINT) AS days FROM tenants WHERE retention_days IS NOT NULL")
            .fetch_all(&self.read)
            .await?;
        let mut deleted = 0;
        for t in tenants {
            let tenant_id: String = t.get("id");
            let days: i64 = t.get("days");
            let cutoff = now - days.max(1) * DAY_MS;
            let mut tx = self.write.begin().await?;
            sqlx::query("DELETE FROM delivery_attempts WHERE tenant_id = $1 AND message_id IN (SELECT id FROM messages WHERE tenant_id = $1 AND created_at < $2)")
                .bind(&tenant_id)
                .bind(cutoff)
                .execute(&mut *tx)
                .await?;
            let n = sqlx::query("DELETE FROM messages WHERE tenant_id = $1 AND created_at < $2")
                .bind(&tenant_id)
                .bind(cutoff)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            if n > 0 {
                tracing::info!(tenant = %tenant_id, deleted = n, days, "retention sweep");
            }
            deleted += n;
        }
        // Finished jobs and idempotency keys are bookkeeping, kept a week
        // and a day respectively; dead letters stay for the API.
        sqlx::query("DELETE FROM outbox WHERE status = 'done' AND created_at < $1")
            .bind(now - 7 * DAY_MS)
            .execute(&self.write)
            .await?;
        // Events are kept a week (`GET /v1/events` promises at least that).
        sqlx::query("DELETE FROM events WHERE created_at < $1")
            .bind(now - 7 * DAY_MS)
            .execute(&self.write)
            .await?;
        // Webhook attempts are kept as long as the events they sent.
        sqlx::query("DELETE FROM webhook_deliveries WHERE finished_at < $1")
            .bind(now - 7 * DAY_MS)
            .execute(&self.write)
            .await?;
        sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(now - DAY_MS)
            .execute(&self.write)
            .await?;
        Ok(deleted)
    }

    /// Erase one of the tenant's contacts: name, phone, channel addresses
    /// and the text and payload of every message with them. Audited.
    pub async fn erase_contact(
        &self,
        tenant_id: &str,
        actor: &str,
        contact_id: &str,
    ) -> Result<(), StorageError> {
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        sqlx::query("SELECT 1 FROM contacts WHERE id = $1 AND tenant_id = $2")
            .bind(contact_id)
            .bind(tenant_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StorageError::NotFound("contact"))?;
        sqlx::query("UPDATE contacts SET name_sealed = NULL, name_index = NULL, phone_sealed = NULL, phone_index = NULL, updated_at = $1 WHERE id = $2 AND tenant_id = $3")
            .bind(now)
            .bind(contact_id)
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?;
        // The address index is unique per channel: an erased identity
        // keeps a placeholder made from its own id.
        sqlx::query("UPDATE contact_identities SET address_index = 'erased:' || id, address_sealed = NULL, user_id_sealed = NULL WHERE contact_id = $1 AND tenant_id = $2")
            .bind(contact_id)
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?;
        let messages = sqlx::query("UPDATE messages SET text = NULL, payload = '', attachments = '', updated_at = $1 WHERE contact_id = $2 AND tenant_id = $3")
            .bind(now)
            .bind(contact_id)
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        audit(
            &mut tx,
            Some(tenant_id),
            actor,
            "contact.erase",
            contact_id,
            &serde_json::json!({ "messages_erased": messages }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
