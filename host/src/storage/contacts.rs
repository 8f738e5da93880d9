//! Contacts: one customer with several channel identities. Reading one,
//! listing and finding them, their timeline across conversations, and
//! merging two contacts that turn out to be the same person.

use serde::Serialize;
use sqlx::Row;

use super::audit::audit;
use super::conversations::{MessageRecord, MessagesOf, Page, page_cursor};
use super::{Db, StorageError, json_rows, now_ms};

/// A contact with its channel addresses.
#[derive(Debug, Clone, Serialize)]
pub struct ContactRecord {
    pub id: String,
    pub display_name: Option<String>,
    pub phone: Option<String>,
    /// One per channel address, each with its own consent (`opted_out`):
    /// an SMS STOP does not silence WhatsApp.
    pub identities: Vec<serde_json::Value>,
    pub created_at: i64,
}

/// What a merge moved, for the audit log.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MergeCounts {
    pub identities: u64,
    pub conversations: u64,
    /// Conversations folded into this contact's conversation on the same
    /// channel (and deleted).
    pub conversations_folded: u64,
    pub messages: u64,
}

/// Why a merge was refused.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("a contact cannot be merged into itself")]
    SameContact,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

const IDENTITY_COLUMNS: &str = "contact_id, channel_id, address, user_id, CAST(opted_out AS BIGINT) AS opted_out, consent_source, consent_updated_at";

fn identity_json(i: &sqlx::any::AnyRow) -> serde_json::Value {
    let user_id: Option<String> = i.get("user_id");
    let source: Option<String> = i.get("consent_source");
    let at: Option<i64> = i.get("consent_updated_at");
    serde_json::json!({
        "channel_id": i.get::<String, _>("channel_id"),
        "address": i.get::<String, _>("address"),
        "user_id": user_id,
        "opted_out": i.get::<i64, _>("opted_out") != 0,
        "consent_source": source,
        "consent_updated_at": at,
    })
}

fn contact_from(r: &sqlx::any::AnyRow) -> ContactRecord {
    ContactRecord {
        id: r.get("id"),
        display_name: r.get("display_name"),
        phone: r.get("phone"),
        identities: Vec::new(),
        created_at: r.get("created_at"),
    }
}

/// `LIKE` pattern matching values that start with `q` (wildcards in `q`
/// are literal).
fn prefix_pattern(q: &str) -> String {
    let mut p = String::with_capacity(q.len() + 1);
    for ch in q.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

/// The search condition of `GET /v1/contacts?q=`, on the contact aliased
/// `c`, with the pattern bound as `$n`: the display name starts with `q`
/// (case-insensitive), or the phone or one of the channel addresses does.
/// The one place that knows how an address is found: when addresses are
/// encrypted this becomes a blind-index equality.
fn search_condition(n: usize) -> String {
    format!(
        "(LOWER(c.display_name) LIKE LOWER(${n}) ESCAPE '\\' OR c.phone LIKE ${n} ESCAPE '\\' \
          OR EXISTS (SELECT 1 FROM contact_identities s WHERE s.contact_id = c.id AND s.tenant_id = c.tenant_id AND s.address LIKE ${n} ESCAPE '\\'))"
    )
}

impl Db {
    /// One of the tenant's contacts.
    pub async fn get_contact(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> Result<ContactRecord, StorageError> {
        let r = sqlx::query("SELECT id, display_name, phone, created_at FROM contacts WHERE id = $1 AND tenant_id = $2")
            .bind(id)
            .bind(tenant_id)
            .fetch_optional(&self.read)
            .await?
            .ok_or(StorageError::NotFound("contact"))?;
        let mut contact = contact_from(&r);
        contact.identities = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {IDENTITY_COLUMNS} FROM contact_identities WHERE contact_id = $1 AND tenant_id = $2 ORDER BY id"
        )))
        .bind(id)
        .bind(tenant_id)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(identity_json)
        .collect();
        Ok(contact)
    }

    /// The tenant's contacts, newest first, optionally only those with an
    /// identity on `channel_id` and those matching `q` (see
    /// [`search_condition`]). Two statements per page: the contacts, then
    /// all their identities.
    pub async fn list_contacts(
        &self,
        tenant_id: &str,
        channel_id: Option<&str>,
        q: Option<&str>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<ContactRecord>, StorageError> {
        let limit = limit.clamp(1, 200);
        let q = q.map(str::trim).filter(|q| !q.is_empty());
        let search = if q.is_some() {
            search_condition(5)
        } else {
            "true".to_string()
        };
        let sql = format!(
            "SELECT c.id, c.display_name, c.phone, c.created_at FROM contacts c \
             WHERE c.tenant_id = $1 AND ($2 IS NULL OR c.id < $2) \
               AND ($3 IS NULL OR EXISTS (SELECT 1 FROM contact_identities f WHERE f.contact_id = c.id AND f.tenant_id = c.tenant_id AND f.channel_id = $3)) \
               AND {search} ORDER BY c.id DESC LIMIT $4"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id)
            .bind(cursor.map(str::to_string))
            .bind(channel_id.map(str::to_string))
            .bind(i64::from(limit) + 1);
        if let Some(q) = q {
            query = query.bind(prefix_pattern(q));
        }
        let rows = query.fetch_all(&self.read).await?;
        let mut data: Vec<ContactRecord> = rows.iter().map(contact_from).collect();
        let next_cursor = page_cursor(&mut data, limit, |c| c.id.clone());
        if data.is_empty() {
            return Ok(Page { data, next_cursor });
        }
        let ids: Vec<serde_json::Value> = data
            .iter()
            .map(|c| serde_json::json!({ "id": c.id }))
            .collect();
        let mut conn = self.read.acquire().await?;
        let sql = format!(
            "SELECT {IDENTITY_COLUMNS} FROM contact_identities \
             WHERE tenant_id = $2 AND contact_id IN (SELECT value ->> 'id' FROM {}) ORDER BY id",
            json_rows(&conn)
        );
        let identities = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(serde_json::Value::Array(ids).to_string())
            .bind(tenant_id)
            .fetch_all(&mut *conn)
            .await?;
        for i in &identities {
            let owner: String = i.get("contact_id");
            if let Some(c) = data.iter_mut().find(|c| c.id == owner) {
                c.identities.push(identity_json(i));
            }
        }
        Ok(Page { data, next_cursor })
    }

    /// A contact's timeline: their messages across all their conversations
    /// (every channel), oldest first. `NotFound` when the contact is not
    /// the tenant's.
    pub async fn contact_messages(
        &self,
        tenant_id: &str,
        contact_id: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<MessageRecord>, StorageError> {
        self.messages_page(tenant_id, MessagesOf::Contact(contact_id), limit, cursor)
            .await
    }

    /// Merge contact `from` into `into` (both the tenant's), in one
    /// transaction: identities (and so their consent), conversations and
    /// messages move; where both have a conversation on the same channel
    /// (`UNIQUE (channel_id, contact_id)`), `from`'s messages move into
    /// `into`'s conversation, which keeps the later `last_message_at`, and
    /// the emptied one is deleted. `from` is deleted; `into` keeps its own
    /// name and phone and takes `from`'s where it has none. Audited as
    /// `contact.merge`.
    pub async fn merge_contacts(
        &self,
        tenant_id: &str,
        actor: &str,
        into: &str,
        from: &str,
    ) -> Result<MergeCounts, MergeError> {
        if into == from {
            return Err(MergeError::SameContact);
        }
        let now = now_ms();
        let mut tx = self.write.begin().await.map_err(StorageError::from)?;
        let mut counts = MergeCounts::default();
        let found = sqlx::query(
            "SELECT id, display_name, phone FROM contacts WHERE id IN ($1, $2) AND tenant_id = $3",
        )
        .bind(into)
        .bind(from)
        .bind(tenant_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(StorageError::from)?;
        if !found.iter().any(|r| r.get::<String, _>("id") == into) {
            return Err(StorageError::NotFound("contact").into());
        }
        let Some(other) = found.iter().find(|r| r.get::<String, _>("id") == from) else {
            return Err(StorageError::NotFound("contact").into());
        };
        let (from_name, from_phone): (Option<String>, Option<String>) =
            (other.get("display_name"), other.get("phone"));

        // Same-channel pairs first: fold `from`'s conversation into ours.
        let pairs = sqlx::query(
            "SELECT o.id AS drop_id, k.id AS keep_id, o.last_message_at AS last_at FROM conversations o \
             JOIN conversations k ON k.channel_id = o.channel_id AND k.contact_id = $1 AND k.tenant_id = o.tenant_id \
             WHERE o.contact_id = $2 AND o.tenant_id = $3",
        )
        .bind(into)
        .bind(from)
        .bind(tenant_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(StorageError::from)?;
        for p in &pairs {
            let (drop_id, keep_id): (String, String) = (p.get("drop_id"), p.get("keep_id"));
            let last_at: i64 = p.get("last_at");
            counts.messages += sqlx::query("UPDATE messages SET conversation_id = $1, contact_id = $2, updated_at = $3 WHERE conversation_id = $4 AND tenant_id = $5")
                .bind(&keep_id)
                .bind(into)
                .bind(now)
                .bind(&drop_id)
                .bind(tenant_id)
                .execute(&mut *tx)
                .await
                .map_err(StorageError::from)?
                .rows_affected();
            sqlx::query("UPDATE conversations SET last_message_at = $1 WHERE id = $2 AND tenant_id = $3 AND last_message_at < $1")
                .bind(last_at)
                .bind(&keep_id)
                .bind(tenant_id)
                .execute(&mut *tx)
                .await
                .map_err(StorageError::from)?;
            sqlx::query("DELETE FROM conversations WHERE id = $1 AND tenant_id = $2")
                .bind(&drop_id)
                .bind(tenant_id)
                .execute(&mut *tx)
                .await
                .map_err(StorageError::from)?;
            counts.conversations_folded += 1;
        }
        counts.conversations = sqlx::query(
            "UPDATE conversations SET contact_id = $1 WHERE contact_id = $2 AND tenant_id = $3",
        )
        .bind(into)
        .bind(from)
        .bind(tenant_id)
        .execute(&mut *tx)
        .await
        .map_err(StorageError::from)?
        .rows_affected();
        counts.messages += sqlx::query(
            "UPDATE messages SET contact_id = $1, updated_at = $2 WHERE contact_id = $3 AND tenant_id = $4",
        )
        .bind(into)
        .bind(now)
        .bind(from)
        .bind(tenant_id)
        .execute(&mut *tx)
        .await
        .map_err(StorageError::from)?
        .rows_affected();
        // Consent is a column of the identity row: it moves with it.
        counts.identities = sqlx::query(
            "UPDATE contact_identities SET contact_id = $1 WHERE contact_id = $2 AND tenant_id = $3",
        )
        .bind(into)
        .bind(from)
        .bind(tenant_id)
        .execute(&mut *tx)
        .await
        .map_err(StorageError::from)?
        .rows_affected();
        sqlx::query("UPDATE contacts SET display_name = COALESCE(display_name, $1), phone = COALESCE(phone, $2), updated_at = $3 WHERE id = $4 AND tenant_id = $5")
            .bind(from_name)
            .bind(from_phone)
            .bind(now)
            .bind(into)
            .bind(tenant_id)
            .execute(&mut *tx)
            .await
            .map_err(StorageError::from)?;
        sqlx::query("DELETE FROM contacts WHERE id = $1 AND tenant_id = $2")
            .bind(from)
            .bind(tenant_id)
            .execute(&mut *tx)
            .await
            .map_err(StorageError::from)?;
        let mut detail = serde_json::to_value(&counts).unwrap_or_default();
        detail["from"] = serde_json::json!(from);
        audit(
            &mut tx,
            Some(tenant_id),
            actor,
            "contact.merge",
            into,
            &detail,
        )
        .await?;
        tx.commit().await.map_err(StorageError::from)?;
        Ok(counts)
    }
}
