//! What a web chat visitor's socket reads: their conversation on the
//! channel (found by the blind index of their address, like any contact's
//! identity), its latest messages, and the message a frame of theirs
//! became.

use sqlx::Row;

use super::conversations::{MESSAGE_COLUMNS, message_from};
use super::{Db, MessageRecord, StorageError};
use crate::crypto::TenantCipher;

impl Db {
    /// The conversation of the contact with `address` on `channel_id`, if
    /// they have written.
    pub async fn visitor_conversation(
        &self,
        cipher: &TenantCipher,
        channel_id: &str,
        address: &str,
    ) -> Result<Option<String>, StorageError> {
        let row = sqlx::query(
            "SELECT cv.id FROM contact_identities ci \
             JOIN conversations cv ON cv.channel_id = ci.channel_id AND cv.contact_id = ci.contact_id \
             WHERE ci.channel_id = $1 AND ci.address_index = $2 AND ci.tenant_id = $3 AND cv.tenant_id = $3",
        )
        .bind(channel_id)
        .bind(cipher.address_index(address))
        .bind(cipher.tenant_id())
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|r| r.get("id")))
    }

    /// The latest `limit` messages of a conversation, oldest first.
    pub async fn latest_messages(
        &self,
        cipher: &TenantCipher,
        conversation_id: &str,
        limit: u32,
    ) -> Result<Vec<MessageRecord>, StorageError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages \
             WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY id DESC LIMIT $3"
        )))
        .bind(cipher.tenant_id())
        .bind(conversation_id)
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        let mut messages = rows
            .iter()
            .map(|r| message_from(cipher, r))
            .collect::<Result<Vec<_>, _>>()?;
        messages.reverse();
        Ok(messages)
    }

    /// The stored inbound message with `external_id` on `channel_id`: its
    /// id and conversation.
    pub async fn inbound_message(
        &self,
        cipher: &TenantCipher,
        channel_id: &str,
        external_id: &str,
    ) -> Result<Option<(String, String)>, StorageError> {
        let row = sqlx::query(
            "SELECT id, conversation_id FROM messages \
             WHERE channel_id = $1 AND direction = 'inbound' AND external_id = $2 AND tenant_id = $3",
        )
        .bind(channel_id)
        .bind(external_id)
        .bind(cipher.tenant_id())
        .fetch_optional(&self.write)
        .await?;
        Ok(row.map(|r| (r.get("id"), r.get("conversation_id"))))
    }
}
