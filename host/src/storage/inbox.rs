//! The console's inbox: a tenant's conversations by latest activity, each
//! with its channel, its contact's name, its last message, and whether it
//! waits for a person.

use sqlx::Row;

use super::{Db, StorageError};
use crate::crypto::{Field, TenantCipher};
use crate::domain::Handler;

/// Which conversations the inbox shows.
#[derive(Debug, Clone, Default)]
pub struct InboxFilter {
    pub channel_id: Option<String>,
    /// `open` or `resolved`.
    pub status: Option<String>,
    /// Only those assigned to this member that wait for a person.
    pub waiting_for: Option<String>,
}

/// One line of the inbox.
#[derive(Debug, Clone)]
pub struct InboxRow {
    pub id: String,
    pub channel_id: String,
    pub channel_name: String,
    pub adapter: String,
    pub contact_name: Option<String>,
    pub status: String,
    pub handler: Handler,
    pub assignee_id: Option<String>,
    pub last_text: Option<String>,
    pub last_inbound: bool,
    pub last_message_at: i64,
    /// The customer wrote last and no persona will answer: a person must.
    pub waiting: bool,
}

impl Db {
    /// The newest `limit` conversations matching `filter`.
    pub async fn inbox(
        &self,
        cipher: &TenantCipher,
        filter: &InboxFilter,
        limit: u32,
    ) -> Result<Vec<InboxRow>, StorageError> {
        let rows = sqlx::query(
            "SELECT cv.id, cv.channel_id, cv.status, cv.handler, cv.assignee_id, cv.last_message_at, cv.contact_id, \
             ch.name AS channel_name, ch.adapter, ch.persona_id, c.name_sealed, \
             (SELECT m.id FROM messages m WHERE m.tenant_id = cv.tenant_id AND m.conversation_id = cv.id ORDER BY m.id DESC LIMIT 1) AS last_id, \
             (SELECT m.direction FROM messages m WHERE m.tenant_id = cv.tenant_id AND m.conversation_id = cv.id ORDER BY m.id DESC LIMIT 1) AS last_direction, \
             (SELECT m.text FROM messages m WHERE m.tenant_id = cv.tenant_id AND m.conversation_id = cv.id ORDER BY m.id DESC LIMIT 1) AS last_text \
             FROM conversations cv \
             JOIN channels ch ON ch.id = cv.channel_id AND ch.tenant_id = cv.tenant_id \
             JOIN contacts c ON c.id = cv.contact_id AND c.tenant_id = cv.tenant_id \
             WHERE cv.tenant_id = $1 AND ($2 IS NULL OR cv.channel_id = $2) AND ($3 IS NULL OR cv.status = $3) \
             AND ($4 IS NULL OR cv.assignee_id = $4) AND ch.status <> 'deleted' \
             ORDER BY cv.last_message_at DESC, cv.id DESC LIMIT $5",
        )
        .bind(cipher.tenant_id())
        .bind(filter.channel_id.clone())
        .bind(filter.status.clone())
        .bind(filter.waiting_for.clone())
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let contact: String = r.get("contact_id");
            let last_id: Option<String> = r.get("last_id");
            let last_text = match (&last_id, r.get::<Option<String>, _>("last_text")) {
                (Some(id), Some(sealed)) => cipher.open(Field::MessageText, id, &sealed).ok(),
                _ => None,
            };
            let handler = Handler::parse(&r.get::<String, _>("handler")).unwrap_or(Handler::Bot);
            let last_inbound =
                r.get::<Option<String>, _>("last_direction").as_deref() == Some("inbound");
            let has_persona = r.get::<Option<String>, _>("persona_id").is_some();
            let waiting = last_inbound && (handler == Handler::Human || !has_persona);
            if filter.waiting_for.is_some() && !waiting {
                continue;
            }
            out.push(InboxRow {
                id: r.get("id"),
                channel_id: r.get("channel_id"),
                channel_name: r.get("channel_name"),
                adapter: r.get("adapter"),
                contact_name: cipher
                    .open_opt(
                        Field::ContactName,
                        &contact,
                        r.get::<Option<String>, _>("name_sealed").as_deref(),
                    )
                    .ok()
                    .flatten(),
                status: r.get("status"),
                handler,
                assignee_id: r.get("assignee_id"),
                last_text,
                last_inbound,
                last_message_at: r.get("last_message_at"),
                waiting,
            });
        }
        Ok(out)
    }
}
