//! Tenant-scoped reads: conversations and their messages.

use serde::Serialize;
use sqlx::Row;

use super::{Db, StorageError};
use crate::crypto::{Field, TenantCipher};

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
    /// Who answers: `bot` (the persona) or `human` (an agent took over).
    pub handler: String,
    /// The member the conversation is assigned to.
    pub assignee_id: Option<String>,
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
    /// The member who wrote it (an agent's reply).
    pub author_id: Option<String>,
}

/// The columns [`message_from`] reads.
pub(super) const MESSAGE_COLUMNS: &str = "id, channel_id, conversation_id, contact_id, direction, external_id, kind, text, attachments, status, error, created_at, author_id";

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
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations \
             WHERE tenant_id = $1 AND ($2 IS NULL OR channel_id = $2) AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4",
        )))
        .bind(tenant_id)
        .bind(channel_id.map(str::to_string))
        .bind(cursor.map(str::to_string))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.read)
        .await?;
        let mut data: Vec<ConversationRecord> = rows.iter().map(conversation_from).collect();
        let next_cursor = page_cursor(&mut data, limit, |c| c.id.clone());
        Ok(Page { data, next_cursor })
    }

    /// Messages of one of the cipher's tenant's conversations, oldest
    /// first. `NotFound` when the conversation is not the tenant's.
    pub async fn list_messages(
        &self,
        cipher: &TenantCipher,
        conversation_id: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<MessageRecord>, StorageError> {
        self.messages_page(
            cipher,
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
        cipher: &TenantCipher,
        of: MessagesOf<'_>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<MessageRecord>, StorageError> {
        let tenant_id = cipher.tenant_id();
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
            "SELECT {MESSAGE_COLUMNS} FROM messages \
             WHERE tenant_id = $1 AND {column} = $2 AND ($3 IS NULL OR id > $3) ORDER BY id LIMIT $4"
        )))
        .bind(tenant_id)
        .bind(id)
        .bind(cursor.map(str::to_string))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.read)
        .await?;
        let mut data: Vec<MessageRecord> = rows
            .iter()
            .map(|r| message_from(cipher, r))
            .collect::<Result<_, _>>()?;
        let next_cursor = page_cursor(&mut data, limit, |m| m.id.clone());
        Ok(Page { data, next_cursor })
    }

    /// One of the cipher's tenant's messages, opened.
    pub async fn get_message(
        &self,
        cipher: &TenantCipher,
        id: &str,
    ) -> Result<MessageRecord, StorageError> {
        let tenant_id = cipher.tenant_id();
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1 AND tenant_id = $2"
        )))
        .bind(id)
        .bind(tenant_id)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StorageError::NotFound("message"))?;
        message_from(cipher, &r)
    }
}

/// One of a message row's sealed columns (`text`, `attachments`,
/// `payload`, and `id` selected), opened; `None` when NULL or `''` (an
/// empty list or an erased payload).
pub(super) fn open_column(
    cipher: &TenantCipher,
    r: &sqlx::any::AnyRow,
    field: Field,
) -> Result<Option<String>, StorageError> {
    let column = match field {
        Field::MessageText => "text",
        Field::MessageAttachments => "attachments",
        Field::MessagePayload => "payload",
        other => {
            return Err(StorageError::Internal(anyhow::anyhow!(
                "{other:?} is not a message column"
            )));
        }
    };
    let sealed: Option<String> = r.get(column);
    let id: String = r.get("id");
    Ok(cipher.open_opt(field, &id, sealed.as_deref().filter(|s| !s.is_empty()))?)
}

pub(super) fn message_from(
    cipher: &TenantCipher,
    r: &sqlx::any::AnyRow,
) -> Result<MessageRecord, StorageError> {
    let attachments = open_column(cipher, r, Field::MessageAttachments)?;
    let error: Option<String> = r.get("error");
    Ok(MessageRecord {
        id: r.get("id"),
        channel_id: r.get("channel_id"),
        conversation_id: r.get("conversation_id"),
        contact_id: r.get("contact_id"),
        direction: r.get("direction"),
        external_id: r.get("external_id"),
        kind: r.get("kind"),
        text: open_column(cipher, r, Field::MessageText)?,
        attachments: attachments
            .and_then(|a| serde_json::from_str(&a).ok())
            .unwrap_or_else(|| serde_json::json!([])),
        status: r.get("status"),
        error: error.map(|e| serde_json::from_str(&e).unwrap_or(serde_json::Value::String(e))),
        created_at: r.get("created_at"),
        author_id: r.get("author_id"),
    })
}

/// The columns [`conversation_from`] reads.
pub(super) const CONVERSATION_COLUMNS: &str =
    "id, channel_id, contact_id, status, handler, assignee_id, created_at, last_message_at";

pub(super) fn conversation_from(r: &sqlx::any::AnyRow) -> ConversationRecord {
    ConversationRecord {
        id: r.get("id"),
        channel_id: r.get("channel_id"),
        contact_id: r.get("contact_id"),
        status: r.get("status"),
        handler: r.get("handler"),
        assignee_id: r.get("assignee_id"),
        created_at: r.get("created_at"),
        last_message_at: r.get("last_message_at"),
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
    /// What storage holds of the tenant's messages, opened (text,
    /// payload, error), for tests proving what never reaches storage even
    /// under encryption.
    #[doc(hidden)]
    pub async fn stored_message_contents(
        &self,
        cipher: &TenantCipher,
    ) -> Result<Vec<String>, StorageError> {
        let rows =
            sqlx::query("SELECT id, text, payload, error FROM messages WHERE tenant_id = $1")
                .bind(cipher.tenant_id())
                .fetch_all(&self.read)
                .await?;
        rows.iter()
            .map(|r| {
                let text = open_column(cipher, r, Field::MessageText)?;
                let payload = open_column(cipher, r, Field::MessagePayload)?;
                let error: Option<String> = r.get("error");
                Ok(format!(
                    "{} {} {}",
                    text.unwrap_or_default(),
                    payload.unwrap_or_default(),
                    error.unwrap_or_default()
                ))
            })
            .collect()
    }
}
