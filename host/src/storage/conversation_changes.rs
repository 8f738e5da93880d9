//! Changes to a conversation by the business's team: its status, who
//! handles it (the persona, or a person who took over), and who it is
//! assigned to. Each is audited and becomes a `conversation.updated`
//! event in the same transaction.

use sqlx::Row;

use super::audit::audit;
use super::conversations::{CONVERSATION_COLUMNS, conversation_from};
use super::events::Pending;
use super::{ConversationRecord, Db, StorageError, now_ms};
use crate::crypto::{Field, TenantCipher};
use crate::domain::{ConversationStatus, EventType, Handler};

/// What to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ConversationChange {
    pub status: Option<ConversationStatus>,
    pub handler: Option<Handler>,
    /// `Some(None)` unassigns.
    pub assignee: Option<Option<String>>,
}

impl Db {
    /// One of the tenant's conversations.
    pub async fn get_conversation(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> Result<ConversationRecord, StorageError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE tenant_id = $1 AND id = $2"
        )))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StorageError::NotFound("conversation"))?;
        Ok(conversation_from(&row))
    }

    /// Apply `change` to conversation `id` of the cipher's tenant, by
    /// `actor` (for the audit log).
    pub async fn change_conversation(
        &self,
        cipher: &TenantCipher,
        actor: &str,
        id: &str,
        change: &ConversationChange,
    ) -> Result<ConversationRecord, StorageError> {
        let tenant_id = cipher.tenant_id();
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        if let Some(Some(member)) = &change.assignee {
            let found =
                sqlx::query("SELECT 1 AS one FROM members WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant_id)
                    .bind(member)
                    .fetch_optional(&mut *tx)
                    .await?;
            if found.is_none() {
                return Err(StorageError::NotFound("member"));
            }
        }
        let updated = sqlx::query(
            "UPDATE conversations SET \
             status = COALESCE($1, status), handler = COALESCE($2, handler), \
             assignee_id = CASE WHEN $3 = 1 THEN $4 ELSE assignee_id END \
             WHERE tenant_id = $5 AND id = $6",
        )
        .bind(change.status.map(|s| s.as_str()))
        .bind(change.handler.map(|h| h.as_str()))
        .bind(i64::from(change.assignee.is_some()))
        .bind(change.assignee.clone().flatten())
        .bind(tenant_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StorageError::NotFound("conversation"));
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE tenant_id = $1 AND id = $2"
        )))
        .bind(tenant_id)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let conversation = conversation_from(&row);
        let detail = serde_json::json!({
            "status": change.status.map(|s| s.as_str()),
            "handler": change.handler.map(|h| h.as_str()),
            "assignee_id": change.assignee,
        });
        audit(
            &mut tx,
            Some(tenant_id),
            actor,
            "conversation.update",
            id,
            &detail,
        )
        .await?;
        let mut events = Pending::default();
        events.push(cipher, EventType::ConversationUpdated, &conversation);
        let appended = events.append(&mut tx, now).await?;
        tx.commit().await?;
        self.published(appended);
        Ok(conversation)
    }

    /// The contact's address on the conversation's channel: where a reply
    /// in it goes.
    pub async fn conversation_address(
        &self,
        cipher: &TenantCipher,
        conversation: &ConversationRecord,
    ) -> Result<String, StorageError> {
        let row = sqlx::query(
            "SELECT id, address_sealed FROM contact_identities \
             WHERE tenant_id = $1 AND channel_id = $2 AND contact_id = $3 ORDER BY created_at LIMIT 1",
        )
        .bind(cipher.tenant_id())
        .bind(&conversation.channel_id)
        .bind(&conversation.contact_id)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StorageError::NotFound("contact address"))?;
        let id: String = row.get("id");
        let sealed: Option<String> = row.get("address_sealed");
        let sealed = sealed.ok_or(StorageError::NotFound("contact address"))?;
        Ok(cipher.open(Field::IdentityAddress, &id, &sealed)?)
    }
}
