//! Contacts: one customer with several channel identities. Reading one,
//! listing and finding them, their timeline across conversations, and
//! merging two contacts that turn out to be the same person.

use serde::Serialize;
use sqlx::Row;

use super::audit::audit;
use super::conversations::{MessageRecord, MessagesOf, Page, page_cursor};
use super::events::Pending;
use super::{Db, StorageError, json_rows, now_ms};
use crate::crypto::{Field, Index, TenantCipher};
use crate::domain::{ContactAddress, EventType};

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

const IDENTITY_COLUMNS: &str = "id, contact_id, channel_id, address_sealed, user_id_sealed, CAST(opted_out AS BIGINT) AS opted_out, consent_source, consent_updated_at";

/// An identity row (`IDENTITY_COLUMNS`) as the API shows it, opened.
fn identity_json(
    cipher: &TenantCipher,
    i: &sqlx::any::AnyRow,
) -> Result<serde_json::Value, StorageError> {
    let id: String = i.get("id");
    let sealed = |column: &str| i.get::<Option<String>, _>(column);
    let address = cipher.open_opt(
        Field::IdentityAddress,
        &id,
        sealed("address_sealed").as_deref(),
    )?;
    let user_id = cipher.open_opt(
        Field::IdentityUserId,
        &id,
        sealed("user_id_sealed").as_deref(),
    )?;
    let source: Option<String> = i.get("consent_source");
    let at: Option<i64> = i.get("consent_updated_at");
    Ok(serde_json::json!({
        "channel_id": i.get::<String, _>("channel_id"),
        // An erased identity has no address left.
        "address": address.unwrap_or_default(),
        "user_id": user_id,
        "opted_out": i.get::<i64, _>("opted_out") != 0,
        "consent_source": source,
        "consent_updated_at": at,
    }))
}

/// A contact row (`id, name_sealed, phone_sealed, created_at`), opened.
fn contact_from(
    cipher: &TenantCipher,
    r: &sqlx::any::AnyRow,
) -> Result<ContactRecord, StorageError> {
    let id: String = r.get("id");
    let sealed = |column: &str| r.get::<Option<String>, _>(column);
    Ok(ContactRecord {
        display_name: cipher.open_opt(Field::ContactName, &id, sealed("name_sealed").as_deref())?,
        phone: cipher.open_opt(Field::ContactPhone, &id, sealed("phone_sealed").as_deref())?,
        id,
        identities: Vec::new(),
        created_at: r.get("created_at"),
    })
}

/// The search condition of `GET /v1/contacts?q=`, on the contact aliased
/// `c`, with the blind indexes of `q` bound as `$n` (as a name), `$n+1`
/// (as a phone number) and `$n+2` (as a channel address): names, phone
/// numbers and addresses are sealed, so a contact is found by an exact
/// (normalised) value, never by a fragment. The one place that knows how
/// an address is found.
fn search_condition(n: usize) -> String {
    format!(
        "(c.name_index = ${n} OR c.phone_index = ${} \
          OR EXISTS (SELECT 1 FROM contact_identities s WHERE s.contact_id = c.id AND s.tenant_id = c.tenant_id AND s.address_index = ${}))",
        n + 1,
        n + 2
    )
}

/// One of the cipher's tenant's contacts with its identities, opened,
/// read on `conn` (a pool connection, or a transaction that changed it).
async fn load_contact(
    conn: &mut sqlx::AnyConnection,
    cipher: &TenantCipher,
    id: &str,
) -> Result<ContactRecord, StorageError> {
    let tenant_id = cipher.tenant_id();
    let r = sqlx::query(
        "SELECT id, name_sealed, phone_sealed, created_at FROM contacts WHERE id = $1 AND tenant_id = $2",
    )
    .bind(id)
    .bind(tenant_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StorageError::NotFound("contact"))?;
    let mut contact = contact_from(cipher, &r)?;
    contact.identities = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {IDENTITY_COLUMNS} FROM contact_identities WHERE contact_id = $1 AND tenant_id = $2 ORDER BY id"
    )))
    .bind(id)
    .bind(tenant_id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|i| identity_json(cipher, i))
    .collect::<Result<_, _>>()?;
    Ok(contact)
}

/// A contact as the API shows it, inside the transaction that changed it
/// (for its `contact.updated` event).
pub(super) async fn contact_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    cipher: &TenantCipher,
    id: &str,
) -> Result<ContactRecord, StorageError> {
    load_contact(tx, cipher, id).await
}

impl Db {
    /// One of the cipher's tenant's contacts, opened.
    pub async fn get_contact(
        &self,
        cipher: &TenantCipher,
        id: &str,
    ) -> Result<ContactRecord, StorageError> {
        let mut conn = self.read.acquire().await?;
        load_contact(&mut conn, cipher, id).await
    }

    /// The tenant's contacts, newest first, optionally only those with an
    /// identity on `channel_id` and those matching `q` (see
    /// [`search_condition`]). Two statements per page: the contacts, then
    /// all their identities.
    pub async fn list_contacts(
        &self,
        cipher: &TenantCipher,
        channel_id: Option<&str>,
        q: Option<&str>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<ContactRecord>, StorageError> {
        let tenant_id = cipher.tenant_id();
        let limit = limit.clamp(1, 200);
        let q = q.map(str::trim).filter(|q| !q.is_empty());
        let search = if q.is_some() {
            search_condition(5)
        } else {
            "true".to_string()
        };
        let sql = format!(
            "SELECT c.id, c.name_sealed, c.phone_sealed, c.created_at FROM contacts c \
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
            query = query
                .bind(cipher.index(Index::Name, q))
                .bind(cipher.index(Index::Phone, q))
                .bind(cipher.address_index(q));
        }
        let rows = query.fetch_all(&self.read).await?;
        let mut data: Vec<ContactRecord> = rows
            .iter()
            .map(|r| contact_from(cipher, r))
            .collect::<Result<_, _>>()?;
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
                c.identities.push(identity_json(cipher, i)?);
            }
        }
        Ok(Page { data, next_cursor })
    }

    /// A contact's timeline: their messages across all their conversations
    /// (every channel), oldest first. `NotFound` when the contact is not
    /// the tenant's.
    pub async fn contact_messages(
        &self,
        cipher: &TenantCipher,
        contact_id: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<MessageRecord>, StorageError> {
        self.messages_page(cipher, MessagesOf::Contact(contact_id), limit, cursor)
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
        cipher: &TenantCipher,
        actor: &str,
        into: &str,
        from: &str,
    ) -> Result<MergeCounts, MergeError> {
        if into == from {
            return Err(MergeError::SameContact);
        }
        let tenant_id = cipher.tenant_id();
        let now = now_ms();
        let mut tx = self.write.begin().await.map_err(StorageError::from)?;
        let mut counts = MergeCounts::default();
        let found = sqlx::query(
            "SELECT id, name_sealed, phone_sealed, created_at FROM contacts WHERE id IN ($1, $2) AND tenant_id = $3",
        )
        .bind(into)
        .bind(from)
        .bind(tenant_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(StorageError::from)?;
        let found: Vec<ContactRecord> = found
            .iter()
            .map(|r| contact_from(cipher, r))
            .collect::<Result<_, _>>()?;
        let (Some(ours), Some(theirs)) = (
            found.iter().find(|c| c.id == into),
            found.iter().find(|c| c.id == from),
        ) else {
            return Err(StorageError::NotFound("contact").into());
        };
        // Ours first, theirs where we have none; sealed again for `into`'s
        // row (a sealed value only opens on the row it was written for).
        let profile = SealedProfile::of(
            cipher,
            into,
            ours.display_name
                .as_deref()
                .or(theirs.display_name.as_deref()),
            ours.phone.as_deref().or(theirs.phone.as_deref()),
        );

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
        sqlx::query("UPDATE contacts SET name_sealed = $1, name_index = $2, phone_sealed = $3, phone_index = $4, updated_at = $5 WHERE id = $6 AND tenant_id = $7")
            .bind(profile.name_sealed)
            .bind(profile.name_index)
            .bind(profile.phone_sealed)
            .bind(profile.phone_index)
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
        let mut events = Pending::default();
        let merged = contact_in(&mut tx, cipher, into).await?;
        events.push(cipher, EventType::ContactUpdated, merged);
        let appended = events.append(&mut tx, now).await?;
        tx.commit().await.map_err(StorageError::from)?;
        self.published(appended);
        Ok(counts)
    }
}

/// A contact's name and phone number as stored: sealed, with their
/// blind indexes.
pub(super) struct SealedProfile {
    pub name_sealed: Option<String>,
    pub name_index: Option<String>,
    pub phone_sealed: Option<String>,
    pub phone_index: Option<String>,
}

impl SealedProfile {
    pub(super) fn new(cipher: &TenantCipher, contact: &str, who: &ContactAddress) -> SealedProfile {
        SealedProfile::of(
            cipher,
            contact,
            who.display_name.as_deref(),
            who.phone.as_deref(),
        )
    }

    pub(super) fn of(
        cipher: &TenantCipher,
        contact: &str,
        name: Option<&str>,
        phone: Option<&str>,
    ) -> SealedProfile {
        SealedProfile {
            name_sealed: cipher.seal_opt(Field::ContactName, contact, name),
            name_index: name.and_then(|n| cipher.index(Index::Name, n)),
            phone_sealed: cipher.seal_opt(Field::ContactPhone, contact, phone),
            phone_index: phone.and_then(|p| cipher.index(Index::Phone, p)),
        }
    }
}
