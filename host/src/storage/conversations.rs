//! Tenant-scoped reads: conversations and their messages.

use serde::Serialize;
use sqlx::Row;

use super::{Db, StorageError};

/// A page of results with the cursor for the next one.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A conversation.
#[derive(Debug, Clone, Serialize)]
pub struct ConversationRecord {
    pub id: String,
    pub channel_id: String,
    pub contact_id: String,
    pub status: String,
    pub created_at: i64,
    pub last_message_at: i64,
}

/// A message, as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct MessageRecord {
    pub id: String,
    pub channel_id: String,
    pub conversation_id: String,
    pub contact_id: String,
    pub direction: String,
    pub external_id: String,
    pub kind: String,
    pub text: Option<String>,
    pub attachments: serde_json::Value,
    pub status: String,
    pub error: Option<serde_json::Value>,
    pub created_at: i64,
}

/// Whose messages a page lists.
#[derive(Debug, Clone, Copy)]
pub(crate) enum MessagesOf<'a> {
    Conversation(&'a str),
    Contact(&'a str),
}

impl Db {
    /// The tenant's conversations, newest first, optionally on one channel.
    pub async fn list_conversations(
        &self,
        tenant_id: &str,
        channel_id: Option<&str>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<ConversationRecord>, StorageError> {
        let limit = limit.clamp(1, 200);
        let rows = sqlx::query(
            "SELECT id, channel_id, contact_id, status, created_at, last_message_at FROM conversations \
             WHERE tenant_id = $1 AND ($2 IS NULL OR channel_id = $2) AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4",
        )
        .bind(tenant_id)
        .bind(channel_id.map(str::to_string))
        .bind(cursor.map(str::to_string))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.read)
        .await?;
        let mut data: Vec<ConversationRecord> = rows
            .iter()
            .map(|r| ConversationRecord {
                id: r.get("id"),
                channel_id: r.get("channel_id"),
                contact_id: r.get("contact_id"),
                status: r.get("status"),
                created_at: r.get("created_at"),
                last_message_at: r.get("last_message_at"),
            })
            .collect();
        let next_cursor = page_cursor(&mut data, limit, |c| c.id.clone());
        Ok(Page { data, next_cursor })
    }

    /// Messages of one of the tenant's conversations, oldest first.
    /// `NotFound` when the conversation is not the tenant's.
    pub async fn list_messages(
        &self,
        tenant_id: &str,
        conversation_id: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<MessageRecord>, StorageError> {
        self.messages_page(
            tenant_id,
            MessagesOf::Conversation(conversation_id),
            limit,
            cursor,
        )
        .await
    }

    /// A page of the tenant's messages of one conversation or one contact,
    /// oldest first (ids are time-ordered: `ORDER BY id` is creation order
    /// and the id is the cursor). `NotFound` when the owner is not the
    /// tenant's.
    pub(crate) async fn messages_page(
        &self,
        tenant_id: &str,
        of: MessagesOf<'_>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<MessageRecord>, StorageError> {
        // Fixed SQL per variant: the column names come from this match.
        let (owner, column, what, id) = match of {
            MessagesOf::Conversation(id) => {
                ("conversations", "conversation_id", "conversation", id)
            }
            MessagesOf::Contact(id) => ("contacts", "contact_id", "contact", id),
        };
        let owned = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT 1 FROM {owner} WHERE id = $1 AND tenant_id = $2"
        )))
        .bind(id)
        .bind(tenant_id)
        .fetch_optional(&self.read)
        .await?;
        if owned.is_none() {
            return Err(StorageError::NotFound(what));
        }
        let limit = limit.clamp(1, 500);
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, channel_id, conversation_id, contact_id, direction, external_id, kind, text, attachments, status, error, created_at FROM messages \
             WHERE tenant_id = $1 AND {column} = $2 AND ($3 IS NULL OR id > $3) ORDER BY id LIMIT $4"
        )))
        .bind(tenant_id)
        .bind(id)
        .bind(cursor.map(str::to_string))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.read)
        .await?;
        let mut data: Vec<MessageRecord> = rows.iter().map(message_from).collect();
        let next_cursor = page_cursor(&mut data, limit, |m| m.id.clone());
        Ok(Page { data, next_cursor })
    }

    /// One of the tenant's messages.
    pub async fn get_message(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> Result<MessageRecord, StorageError> {
        let r = sqlx::query(
            "SELECT id, channel_id, conversation_id, contact_id, direction, external_id, kind, text, attachments, status, error, created_at FROM messages WHERE id = $1 AND tenant_id = $2",
        )
        .bind(id)
        .bind(tenant_id)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StorageError::NotFound("message"))?;
        Ok(message_from(&r))
    }
}

pub(super) fn message_from(r: &sqlx::any::AnyRow) -> MessageRecord {
    let attachments: String = r.get("attachments");
    let error: Option<String> = r.get("error");
    MessageRecord {
        id: r.get("id"),
        channel_id: r.get("channel_id"),
        conversation_id: r.get("conversation_id"),
        contact_id: r.get("contact_id"),
        direction: r.get("direction"),
        external_id: r.get("external_id"),
        kind: r.get("kind"),
        text: r.get("text"),
        attachments: serde_json::from_str(&attachments).unwrap_or_default(),
        status: r.get("status"),
        error: error.map(|e| serde_json::from_str(&e).unwrap_or(serde_json::Value::String(e))),
        created_at: r.get("created_at"),
    }
}

/// Trim the look-ahead row and return the cursor when there is another page.
pub(super) fn page_cursor<T>(
    data: &mut Vec<T>,
    limit: u32,
    key: impl Fn(&T) -> String,
) -> Option<String> {
    if data.len() > limit as usize {
        data.truncate(limit as usize);
        data.last().map(key)
    } else {
        None
    }
}

impl Db {
    /// Every stored text column of the tenant's messages (text, payload,
    /// error), for tests proving what never reaches storage.
    #[doc(hidden)]
    pub async fn raw_message_payloads(&self, tenant_id: &str) -> Result<Vec<String>, StorageError> {
        let rows = sqlx::query("SELECT text, payload, error FROM messages WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_all(&self.read)
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let text: Option<String> = r.get("text");
                let payload: String = r.get("payload");
                let error: Option<String> = r.get("error");
                format!(
                    "{} {payload} {}",
                    text.unwrap_or_default(),
                    error.unwrap_or_default()
                )
            })
            .collect())
    }
}
