//! The inbound transaction: contacts, conversations, idempotent message
//! inserts, monotonic status updates and processing jobs, committed together
//! before the webhook is acknowledged.

use serde::Serialize;
use sqlx::{Any, Row, Transaction};

use super::consent::ConsentChange;
use super::contacts::{SealedProfile, contact_in};
use super::conversations::{ConversationRecord, MESSAGE_COLUMNS, MessageRecord, message_from};
use super::events::{Appended, Pending};
use super::outbox::enqueue_many;
use super::usage::count_usage;
use super::{Db, StorageError, json_rows, new_id, now_ms};
use crate::crypto::{Field, Index, TenantCipher};
use crate::domain::{
    ContactAddress, DeliveryStatus, Direction, Disposition, EventType, InboundMessage, MessageKind,
    MessageStatus, StatusUpdate, Task,
};

/// One parsed, checked event.
// Mostly messages; see `domain::Event`.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum InboundItem {
    Message(InboundMessage, Disposition),
    Status(StatusUpdate),
}

/// What the transaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InboundOutcome {
    /// New messages stored.
    pub inserted: u32,
    /// Messages already stored (provider retries).
    pub duplicates: u32,
    /// Status updates that moved a message forward.
    pub statuses_applied: u32,
    /// Status updates ignored (older than the stored status, or terminal).
    pub statuses_ignored: u32,
    /// Jobs queued for the workers (an idle worker need not look otherwise).
    #[serde(skip)]
    pub queued: u32,
}

impl Db {
    /// Store one webhook's events for the cipher's tenant on `channel_id`,
    /// in one transaction; content is sealed under the tenant's key.
    pub async fn store_inbound(
        &self,
        cipher: &TenantCipher,
        channel_id: &str,
        items: &[InboundItem],
    ) -> Result<InboundOutcome, StorageError> {
        let mut outcomes = self
            .store_inbound_batch(&[(cipher, channel_id, items)])
            .await?;
        Ok(outcomes.pop().unwrap_or_default())
    }

    /// Store several webhooks in one transaction (group commit): one
    /// outcome per webhook, all committed or none.
    pub async fn store_inbound_batch(
        &self,
        batch: &[(&TenantCipher, &str, &[InboundItem])],
    ) -> Result<Vec<InboundOutcome>, StorageError> {
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        let (outcomes, appended) = store_batch(&mut tx, batch, now).await?;
        tx.commit().await?;
        self.published(appended);
        Ok(outcomes)
    }
}

/// One inbound message of a batch, with where it came from.
struct Incoming<'a> {
    /// Index of its webhook in the batch.
    hook: usize,
    tenant_id: &'a str,
    cipher: &'a TenantCipher,
    channel_id: &'a str,
    message: &'a InboundMessage,
    disposition: &'a Disposition,
}

/// A batch's events inside the caller's transaction. The statements are
/// per batch, not per message (the rows travel as one JSON parameter), so
/// a batch of 64 webhooks costs about as many round trips as one: that is
/// what group commit is for. Only what is rare (a first-seen sender, a
/// consent change, a delivery status) costs statements of its own.
async fn store_batch(
    tx: &mut Transaction<'_, Any>,
    batch: &[(&TenantCipher, &str, &[InboundItem])],
    now: i64,
) -> Result<(Vec<InboundOutcome>, Vec<Appended>), StorageError> {
    let mut outcomes = vec![InboundOutcome::default(); batch.len()];
    let mut events = Pending::default();
    let mut incoming = Vec::new();
    for (hook, (cipher, channel_id, items)) in batch.iter().enumerate() {
        let tenant_id = cipher.tenant_id();
        for item in items.iter() {
            match item {
                InboundItem::Message(message, disposition) => incoming.push(Incoming {
                    hook,
                    tenant_id,
                    cipher,
                    channel_id,
                    message,
                    disposition,
                }),
                InboundItem::Status(s) => {
                    if apply_status(tx, cipher, &mut events, channel_id, s, now).await? {
                        outcomes[hook].statuses_applied += 1;
                    } else {
                        outcomes[hook].statuses_ignored += 1;
                    }
                }
            }
        }
    }
    if incoming.is_empty() {
        let appended = events.append(tx, now).await?;
        return Ok((outcomes, appended));
    }

    let parties = resolve_parties(tx, &incoming, &mut events, now).await?;
    let ids: Vec<String> = incoming.iter().map(|_| new_id("msg")).collect();
    let inserted = insert_messages(tx, &incoming, &parties, &ids, now).await?;

    let mut tasks: Vec<(&str, Task)> = Vec::new();
    let mut touched: Vec<(&str, &str)> = Vec::new();
    let mut usage: Vec<(&str, &str, i64)> = Vec::new();
    for (n, m) in incoming.iter().enumerate() {
        if !inserted.contains(ids[n].as_str()) {
            outcomes[m.hook].duplicates += 1;
            continue;
        }
        outcomes[m.hook].inserted += 1;
        let (contact, conversation) = &parties[n];
        events.push(
            m.cipher,
            EventType::MessageCreated,
            inbound_record(m, &ids[n], contact, conversation, now),
        );
        if !touched.contains(&(m.tenant_id, conversation.as_str())) {
            touched.push((m.tenant_id, conversation));
        }
        match usage
            .iter_mut()
            .find(|(t, c, _)| *t == m.tenant_id && *c == m.channel_id)
        {
            Some(u) => u.2 += 1,
            None => usage.push((m.tenant_id, m.channel_id, 1)),
        }
        // Only a change of consent is recorded and confirmed: a second
        // STOP gets no second confirmation, and "yes" from a contact who
        // never opted out is just a message.
        let consent_changed = match m.disposition.consent() {
            Some((opted_out, source)) => {
                ConsentChange {
                    channel_id: m.channel_id,
                    address_index: &m.cipher.address_index(&m.message.sender.address),
                    contact_id: contact,
                    message_id: &ids[n],
                    opted_out,
                    source,
                }
                .record(tx, m.tenant_id, None, now)
                .await?
            }
            None => false,
        };
        if consent_changed {
            let shown = contact_in(tx, m.cipher, contact).await?;
            events.push(m.cipher, EventType::ContactUpdated, shown);
        }
        if let Some(task) = m.disposition.task(&ids[n], m.channel_id, consent_changed) {
            outcomes[m.hook].queued += 1;
            tasks.push((m.tenant_id, task));
        }
    }
    enqueue_many(tx, &tasks, now).await?;
    touch_conversations(tx, &touched, now).await?;
    for (tenant_id, channel_id, inbound) in usage {
        count_usage(tx, tenant_id, channel_id, inbound, now).await?;
    }
    let appended = events.append(tx, now).await?;
    Ok((outcomes, appended))
}

/// A stored inbound message as the API shows it (for its event).
fn inbound_record(
    m: &Incoming<'_>,
    id: &str,
    contact: &str,
    conversation: &str,
    now: i64,
) -> MessageRecord {
    let (status, error) = stored_status(m.disposition);
    MessageRecord {
        id: id.to_string(),
        channel_id: m.channel_id.to_string(),
        conversation_id: conversation.to_string(),
        contact_id: contact.to_string(),
        direction: Direction::Inbound.as_str().into(),
        external_id: m.message.external_id.clone(),
        kind: m.message.kind.clone(),
        text: m.message.text.clone(),
        attachments: serde_json::to_value(&m.message.attachments).unwrap_or_default(),
        status: status.as_str().into(),
        error: error.map(|e| serde_json::from_str(&e).unwrap_or(serde_json::Value::String(e))),
        created_at: now,
        author_id: None,
    }
}

/// The status and error an inbound message is stored with.
fn stored_status(disposition: &Disposition) -> (MessageStatus, Option<String>) {
    match disposition {
        Disposition::Blocked { reason, .. } => {
            (MessageStatus::Blocked, Some(super::blocked_error(reason)))
        }
        _ => (MessageStatus::Received, None),
    }
}

/// The contact and conversation of every message's sender: one lookup for
/// the whole batch; a sender seen for the first time, or whose profile
/// changed, goes through [`upsert_contact_and_conversation`] on its own.
async fn resolve_parties(
    tx: &mut Transaction<'_, Any>,
    incoming: &[Incoming<'_>],
    events: &mut Pending,
    now: i64,
) -> Result<Vec<(String, String)>, StorageError> {
    let rows: Vec<serde_json::Value> = incoming
        .iter()
        .enumerate()
        .map(|(i, m)| {
            serde_json::json!({
                "i": i, "t": m.tenant_id, "c": m.channel_id, "a": m.cipher.address_index(&m.message.sender.address),
            })
        })
        .collect();
    let sql = format!(
        "SELECT CAST(value ->> 'i' AS BIGINT) AS i, ci.contact_id, c.name_sealed, c.phone_index, cv.id AS conversation_id \
         FROM {} \
         JOIN contact_identities ci ON ci.channel_id = value ->> 'c' AND ci.address_index = value ->> 'a' AND ci.tenant_id = value ->> 't' \
         JOIN contacts c ON c.id = ci.contact_id \
         LEFT JOIN conversations cv ON cv.channel_id = ci.channel_id AND cv.contact_id = ci.contact_id",
        json_rows(tx)
    );
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(serde_json::Value::Array(rows).to_string())
        .fetch_all(&mut **tx)
        .await?;
    let mut known: Vec<Option<sqlx::any::AnyRow>> = vec![None; incoming.len()];
    for r in found {
        let i: i64 = r.get("i");
        if let Some(slot) = known.get_mut(i as usize) {
            *slot = Some(r);
        }
    }
    let mut parties: Vec<(String, String)> = Vec::with_capacity(incoming.len());
    // Each tenant's `link_identities_by_phone`, read at most once per batch
    // and only when a first-seen sender has a phone number.
    let mut linking: Vec<(&str, bool)> = Vec::new();
    let mut newcomers: Vec<Newcomer<'_>> = Vec::new();
    for (i, m) in incoming.iter().enumerate() {
        let who = &m.message.sender;
        let found = known[i].take();
        let known_address = found.is_some();
        let hit = match found {
            Some(r) => {
                let contact: String = r.get("contact_id");
                let changed = profile_changed(m.cipher, &contact, who, &r)?;
                let conversation: Option<String> = r.get("conversation_id");
                conversation.filter(|_| !changed).map(|cv| (contact, cv))
            }
            None => None,
        };
        // A sender already resolved earlier in this batch (perhaps just
        // created) is reused rather than looked up again.
        let earlier = || {
            incoming[..i]
                .iter()
                .position(|e| {
                    e.tenant_id == m.tenant_id
                        && e.channel_id == m.channel_id
                        && e.message.sender == *who
                })
                .map(|j| parties[j].clone())
        };
        let party = match hit.or_else(earlier) {
            Some(p) => p,
            None if known_address => {
                // Known, but its profile changed or it has no conversation
                // on this channel yet.
                upsert_contact_and_conversation(tx, m.cipher, events, m.channel_id, who, false, now)
                    .await?
            }
            None if who.phone.is_some()
                && links_by_phone(tx, &mut linking, m.tenant_id).await? =>
            {
                upsert_contact_and_conversation(tx, m.cipher, events, m.channel_id, who, true, now)
                    .await?
            }
            None => {
                // First seen, nothing to link: created with the batch's
                // other newcomers, below. The same address seen earlier in
                // the batch under another profile is that newcomer, with
                // the later profile.
                let same = newcomers.iter_mut().find(|n| {
                    n.cipher.tenant_id() == m.tenant_id
                        && n.channel_id == m.channel_id
                        && n.who.address == who.address
                });
                let n = match same {
                    Some(n) => {
                        n.who = who;
                        n
                    }
                    None => {
                        newcomers.push(Newcomer::new(m.cipher, m.channel_id, who));
                        newcomers.last_mut().expect("just pushed")
                    }
                };
                (n.contact.clone(), n.conversation.clone())
            }
        };
        parties.push(party);
    }
    create_newcomers(tx, &newcomers, events, now).await?;
    Ok(parties)
}

/// A first-seen sender whose contact, identity and conversation are
/// created (ids chosen up front, so later messages of the same sender in
/// a batch reuse them).
struct Newcomer<'a> {
    cipher: &'a TenantCipher,
    channel_id: &'a str,
    /// The sender's latest profile in the batch.
    who: &'a ContactAddress,
    contact: String,
    identity: String,
    conversation: String,
}

impl<'a> Newcomer<'a> {
    fn new(cipher: &'a TenantCipher, channel_id: &'a str, who: &'a ContactAddress) -> Self {
        Newcomer {
            cipher,
            channel_id,
            who,
            contact: new_id("ct"),
            identity: new_id("cid"),
            conversation: new_id("cv"),
        }
    }
}

/// Newcomers in three statements (contacts, identities, conversations),
/// however many; their `conversation.created` events in order.
async fn create_newcomers(
    tx: &mut Transaction<'_, Any>,
    newcomers: &[Newcomer<'_>],
    events: &mut Pending,
    now: i64,
) -> Result<(), StorageError> {
    if newcomers.is_empty() {
        return Ok(());
    }
    let (mut contacts, mut identities, mut conversations) = (vec![], vec![], vec![]);
    for n in newcomers {
        let p = SealedProfile::new(n.cipher, &n.contact, n.who);
        contacts.push(serde_json::json!({
            "id": n.contact, "t": n.cipher.tenant_id(), "ns": p.name_sealed, "ni": p.name_index,
            "ps": p.phone_sealed, "pi": p.phone_index,
        }));
        identities.push(identity_row(
            n.cipher,
            &n.identity,
            &n.contact,
            n.channel_id,
            n.who,
        ));
        conversations.push(conversation_row(
            n.cipher,
            &n.conversation,
            n.channel_id,
            &n.contact,
        ));
    }
    super::execute_rows(
        tx,
        "INSERT INTO contacts (id, tenant_id, name_sealed, name_index, phone_sealed, phone_index, created_at, updated_at) \
         SELECT value ->> 'id', value ->> 't', value ->> 'ns', value ->> 'ni', value ->> 'ps', value ->> 'pi', $2, $2 FROM {rows}",
        contacts,
        now,
    )
    .await?;
    super::execute_rows(tx, INSERT_IDENTITIES, identities, now).await?;
    super::execute_rows(tx, INSERT_CONVERSATIONS, conversations, now).await?;
    for n in newcomers {
        events.push(
            n.cipher,
            EventType::ConversationCreated,
            new_conversation(&n.conversation, n.channel_id, &n.contact, now),
        );
    }
    Ok(())
}

/// Channel identities, from [`identity_row`]s.
const INSERT_IDENTITIES: &str = "INSERT INTO contact_identities (id, tenant_id, contact_id, channel_id, address_index, address_sealed, user_id_sealed, created_at) \
     SELECT value ->> 'id', value ->> 't', value ->> 'ct', value ->> 'c', value ->> 'ai', value ->> 'as', value ->> 'us', $2 FROM {rows}";

/// Open conversations, from [`conversation_row`]s.
const INSERT_CONVERSATIONS: &str = "INSERT INTO conversations (id, tenant_id, channel_id, contact_id, status, created_at, last_message_at) \
     SELECT value ->> 'id', value ->> 't', value ->> 'c', value ->> 'ct', 'open', $2, $2 FROM {rows}";

fn identity_row(
    cipher: &TenantCipher,
    id: &str,
    contact: &str,
    channel_id: &str,
    who: &ContactAddress,
) -> serde_json::Value {
    serde_json::json!({
        "id": id, "t": cipher.tenant_id(), "ct": contact, "c": channel_id,
        "ai": cipher.address_index(&who.address),
        "as": cipher.seal(Field::IdentityAddress, id, &who.address),
        "us": cipher.seal_opt(Field::IdentityUserId, id, who.user_id.as_deref()),
    })
}

fn conversation_row(
    cipher: &TenantCipher,
    id: &str,
    channel_id: &str,
    contact: &str,
) -> serde_json::Value {
    serde_json::json!({ "id": id, "t": cipher.tenant_id(), "c": channel_id, "ct": contact })
}

/// A conversation just created, as its event shows it.
fn new_conversation(id: &str, channel_id: &str, contact: &str, now: i64) -> ConversationRecord {
    ConversationRecord {
        id: id.to_string(),
        channel_id: channel_id.to_string(),
        contact_id: contact.to_string(),
        status: crate::domain::ConversationStatus::Open.as_str().into(),
        handler: crate::domain::Handler::Bot.as_str().into(),
        assignee_id: None,
        created_at: now,
        last_message_at: now,
    }
}

/// Whether the tenant links new identities by phone, from the batch's
/// `cache` or read once.
async fn links_by_phone<'a>(
    tx: &mut Transaction<'_, Any>,
    cache: &mut Vec<(&'a str, bool)>,
    tenant_id: &'a str,
) -> Result<bool, StorageError> {
    if let Some((_, on)) = cache.iter().find(|(t, _)| *t == tenant_id) {
        return Ok(*on);
    }
    let on = sqlx::query(
        "SELECT CAST(link_identities_by_phone AS BIGINT) AS on_ FROM tenants WHERE id = $1",
    )
    .bind(tenant_id)
    .fetch_optional(&mut **tx)
    .await?
    .is_some_and(|r| r.get::<i64, _>("on_") != 0);
    cache.push((tenant_id, on));
    Ok(on)
}

/// Insert the batch's messages idempotently (a provider's retry of a stored
/// message is skipped); returns the ids of the rows actually inserted.
async fn insert_messages(
    tx: &mut Transaction<'_, Any>,
    incoming: &[Incoming<'_>],
    parties: &[(String, String)],
    ids: &[String],
    now: i64,
) -> Result<std::collections::HashSet<String>, StorageError> {
    let rows: Vec<serde_json::Value> = incoming
        .iter()
        .zip(parties)
        .zip(ids)
        .map(|((m, (contact, conversation)), id)| {
            let (status, error) = stored_status(m.disposition);
            let sealed = SealedMessage::new(
                m.cipher,
                id,
                m.message.text.as_deref(),
                &m.message.attachments,
                m.message,
            );
            serde_json::json!({
                "id": id, "t": m.tenant_id, "c": m.channel_id, "cv": conversation, "ct": contact,
                "x": m.message.external_id, "k": m.message.kind, "tx": sealed.text,
                "at": sealed.attachments, "p": sealed.payload,
                "s": status.as_str(), "r": status.rank(), "e": error,
            })
        })
        .collect();
    // `WHERE true` lets SQLite parse the upsert after a SELECT.
    let sql = format!(
        "INSERT INTO messages (id, tenant_id, channel_id, conversation_id, contact_id, direction, external_id, kind, text, attachments, payload, status, status_rank, error, created_at, updated_at) \
         SELECT value ->> 'id', value ->> 't', value ->> 'c', value ->> 'cv', value ->> 'ct', 'inbound', value ->> 'x', value ->> 'k', value ->> 'tx', \
                value ->> 'at', value ->> 'p', value ->> 's', CAST(value ->> 'r' AS INTEGER), value ->> 'e', $2, $2 \
         FROM {} WHERE true \
         ON CONFLICT (channel_id, direction, external_id) DO NOTHING RETURNING id",
        json_rows(tx)
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(serde_json::Value::Array(rows).to_string())
        .bind(now)
        .fetch_all(&mut **tx)
        .await?;
    Ok(rows.iter().map(|r| r.get::<String, _>("id")).collect())
}

/// Move the touched conversations' `last_message_at` to `now`.
pub(super) async fn touch_conversations(
    tx: &mut Transaction<'_, Any>,
    touched: &[(&str, &str)],
    now: i64,
) -> Result<(), StorageError> {
    if touched.is_empty() {
        return Ok(());
    }
    let rows: Vec<serde_json::Value> = touched
        .iter()
        .map(|(t, id)| serde_json::json!({ "t": t, "id": id }))
        .collect();
    super::execute_rows(
        tx,
        "UPDATE conversations SET last_message_at = $2 \
         WHERE (id, tenant_id) IN (SELECT value ->> 'id', value ->> 't' FROM {rows})",
        rows,
        now,
    )
    .await
}

/// The contact and conversation behind a channel address, created on first
/// sight, in one lookup on the hot path (a known sender). Profile fields are
/// refreshed only when the provider sends different ones. With
/// `link_by_phone` (the tenant's `link_identities_by_phone`), a first-seen
/// address whose phone number is already a contact's joins that contact.
pub(crate) async fn upsert_contact_and_conversation(
    tx: &mut Transaction<'_, Any>,
    cipher: &TenantCipher,
    events: &mut Pending,
    channel_id: &str,
    who: &ContactAddress,
    link_by_phone: bool,
    now: i64,
) -> Result<(String, String), StorageError> {
    let tenant_id = cipher.tenant_id();
    let row = sqlx::query(
        "SELECT ci.contact_id, c.name_sealed, c.phone_index, cv.id AS conversation_id FROM contact_identities ci \
         JOIN contacts c ON c.id = ci.contact_id \
         LEFT JOIN conversations cv ON cv.channel_id = ci.channel_id AND cv.contact_id = ci.contact_id \
         WHERE ci.channel_id = $1 AND ci.address_index = $2 AND ci.tenant_id = $3",
    )
    .bind(channel_id)
    .bind(cipher.address_index(&who.address))
    .bind(tenant_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        let linked = match link_by_phone {
            true => contact_with_phone(tx, cipher, who).await?,
            false => None,
        };
        if let Some(contact) = linked {
            add_identity(tx, cipher, channel_id, &contact, who, now).await?;
            // The contact may already talk on this channel from another
            // address (a phone number and a BSUID on WhatsApp).
            let conversation =
                upsert_conversation(tx, cipher, events, channel_id, &contact, now).await?;
            return Ok((contact, conversation));
        }
        let n = Newcomer::new(cipher, channel_id, who);
        create_newcomers(tx, std::slice::from_ref(&n), events, now).await?;
        return Ok((n.contact, n.conversation));
    };
    let contact: String = row.get("contact_id");
    if profile_changed(cipher, &contact, who, &row)? {
        let p = SealedProfile::new(cipher, &contact, who);
        sqlx::query("UPDATE contacts SET name_sealed = COALESCE($1, name_sealed), name_index = COALESCE($2, name_index), \
                     phone_sealed = COALESCE($3, phone_sealed), phone_index = COALESCE($4, phone_index), updated_at = $5 WHERE id = $6 AND tenant_id = $7")
            .bind(p.name_sealed)
            .bind(p.name_index)
            .bind(p.phone_sealed)
            .bind(p.phone_index)
            .bind(now)
            .bind(&contact)
            .bind(tenant_id)
            .execute(&mut **tx)
            .await?;
    }
    let conversation = match row.get::<Option<String>, _>("conversation_id") {
        Some(c) => c,
        None => upsert_conversation(tx, cipher, events, channel_id, &contact, now).await?,
    };
    Ok((contact, conversation))
}

/// Whether the provider sent a name or phone number other than the
/// contact's stored ones (in `row`: `name_sealed`, `phone_index`).
fn profile_changed(
    cipher: &TenantCipher,
    contact: &str,
    who: &ContactAddress,
    row: &sqlx::any::AnyRow,
) -> Result<bool, StorageError> {
    if let Some(name) = &who.display_name {
        let stored = cipher.open_opt(
            Field::ContactName,
            contact,
            row.get::<Option<String>, _>("name_sealed").as_deref(),
        )?;
        if stored.as_ref() != Some(name) {
            return Ok(true);
        }
    }
    Ok(who.phone.as_deref().is_some_and(|phone| {
        cipher.index(Index::Phone, phone) != row.get::<Option<String>, _>("phone_index")
    }))
}

/// A message's content as stored: sealed under the tenant's key and bound
/// to the message id. An empty attachment list is stored as `''`.
pub(super) struct SealedMessage {
    pub text: Option<String>,
    pub attachments: String,
    pub payload: String,
}

impl SealedMessage {
    pub(super) fn new(
        cipher: &TenantCipher,
        id: &str,
        text: Option<&str>,
        attachments: &[crate::domain::Attachment],
        payload: &impl Serialize,
    ) -> SealedMessage {
        SealedMessage {
            text: cipher.seal_opt(Field::MessageText, id, text),
            attachments: sealed_attachments(cipher, id, attachments),
            payload: cipher.seal(
                Field::MessagePayload,
                id,
                &serde_json::to_string(payload).unwrap_or_default(),
            ),
        }
    }
}

/// A message's attachments as stored: sealed JSON, `''` for none.
pub(super) fn sealed_attachments(
    cipher: &TenantCipher,
    id: &str,
    attachments: &[crate::domain::Attachment],
) -> String {
    match attachments {
        [] => String::new(),
        some => cipher.seal(
            Field::MessageAttachments,
            id,
            &serde_json::to_string(some).unwrap_or_else(|_| "[]".into()),
        ),
    }
}

/// A channel identity of an existing contact, for a never-seen address.
async fn add_identity(
    tx: &mut Transaction<'_, Any>,
    cipher: &TenantCipher,
    channel_id: &str,
    contact: &str,
    who: &ContactAddress,
    now: i64,
) -> Result<(), StorageError> {
    let row = identity_row(cipher, &new_id("cid"), contact, channel_id, who);
    super::execute_rows(tx, INSERT_IDENTITIES, vec![row], now).await
}

/// The tenant's oldest contact with the first-seen sender's phone number
/// (asked only when the tenant links identities by phone).
async fn contact_with_phone(
    tx: &mut Transaction<'_, Any>,
    cipher: &TenantCipher,
    who: &ContactAddress,
) -> Result<Option<String>, StorageError> {
    let Some(index) = who
        .phone
        .as_deref()
        .and_then(|p| cipher.index(Index::Phone, p))
    else {
        return Ok(None);
    };
    let row = sqlx::query(
        "SELECT id FROM contacts WHERE tenant_id = $1 AND phone_index = $2 ORDER BY id LIMIT 1",
    )
    .bind(cipher.tenant_id())
    .bind(index)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(|r| r.get("id")))
}

async fn upsert_conversation(
    tx: &mut Transaction<'_, Any>,
    cipher: &TenantCipher,
    events: &mut Pending,
    channel_id: &str,
    contact: &str,
    now: i64,
) -> Result<String, StorageError> {
    let tenant_id = cipher.tenant_id();
    if let Some(row) = sqlx::query(
        "SELECT id FROM conversations WHERE channel_id = $1 AND contact_id = $2 AND tenant_id = $3",
    )
    .bind(channel_id)
    .bind(contact)
    .bind(tenant_id)
    .fetch_optional(&mut **tx)
    .await?
    {
        return Ok(row.get("id"));
    }
    create_conversation(tx, cipher, events, channel_id, contact, now).await
}

/// A contact's conversation on a channel, which does not exist yet.
async fn create_conversation(
    tx: &mut Transaction<'_, Any>,
    cipher: &TenantCipher,
    events: &mut Pending,
    channel_id: &str,
    contact: &str,
    now: i64,
) -> Result<String, StorageError> {
    let id = new_id("cv");
    let row = conversation_row(cipher, &id, channel_id, contact);
    super::execute_rows(tx, INSERT_CONVERSATIONS, vec![row], now).await?;
    events.push(
        cipher,
        EventType::ConversationCreated,
        new_conversation(&id, channel_id, contact, now),
    );
    Ok(id)
}

/// Move an outbound message's status forward, never back; `failed` is
/// terminal and cannot override `read`. A callback for a message we have no
/// record of (sent outside Switchboard, or racing our own send) creates a
/// placeholder so later callbacks still apply in order.
async fn apply_status(
    tx: &mut Transaction<'_, Any>,
    cipher: &TenantCipher,
    events: &mut Pending,
    channel_id: &str,
    s: &StatusUpdate,
    now: i64,
) -> Result<bool, StorageError> {
    let tenant_id = cipher.tenant_id();
    let status = MessageStatus::from(s.status);
    let new_rank = status.rank();
    let error = s
        .error
        .as_ref()
        .map(|e| serde_json::to_string(e).unwrap_or_default());
    // Forward moves only: a non-failed status needs a lower stored rank; a
    // failure applies unless the message was already read or is final.
    let below = if s.status == DeliveryStatus::Failed {
        MessageStatus::FAILABLE_BELOW
    } else {
        new_rank
    };
    let sql = format!(
        "UPDATE messages SET status = $1, status_rank = $2, error = COALESCE($3, error), updated_at = $4 \
         WHERE channel_id = $5 AND direction = 'outbound' AND external_id = $6 AND tenant_id = $7 AND status_rank < $8 \
         RETURNING {MESSAGE_COLUMNS}"
    );
    let updated = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(status.as_str())
        .bind(new_rank)
        .bind(error.clone())
        .bind(now)
        .bind(channel_id)
        .bind(&s.external_id)
        .bind(tenant_id)
        .bind(below)
        .fetch_all(&mut **tx)
        .await?;
    if !updated.is_empty() {
        for row in &updated {
            events.push(
                cipher,
                EventType::MessageUpdated,
                message_from(cipher, row)?,
            );
        }
        return Ok(true);
    }
    let exists = sqlx::query("SELECT 1 FROM messages WHERE channel_id = $1 AND direction = 'outbound' AND external_id = $2 AND tenant_id = $3")
        .bind(channel_id)
        .bind(&s.external_id)
        .bind(tenant_id)
        .fetch_optional(&mut **tx)
        .await?
        .is_some();
    if exists {
        return Ok(false);
    }
    let Some(recipient) = &s.recipient else {
        return Ok(false);
    };
    let who = ContactAddress {
        address: recipient.clone(),
        phone: None,
        user_id: None,
        display_name: None,
    };
    // No phone on a status callback: nothing to link by.
    let (contact, conversation) =
        upsert_contact_and_conversation(tx, cipher, events, channel_id, &who, false, now).await?;
    let id = new_id("msg");
    let sealed = SealedMessage::new(cipher, &id, None, &[], s);
    sqlx::query(
        "INSERT INTO messages (id, tenant_id, channel_id, conversation_id, contact_id, direction, external_id, kind, text, attachments, payload, status, status_rank, error, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'outbound', $6, $12, NULL, '', $7, $8, $9, $10, $11, $11) \
         ON CONFLICT (channel_id, direction, external_id) DO NOTHING",
    )
    .bind(&id)
    .bind(tenant_id)
    .bind(channel_id)
    .bind(&conversation)
    .bind(&contact)
    .bind(&s.external_id)
    .bind(sealed.payload)
    .bind(status.as_str())
    .bind(new_rank)
    .bind(error)
    .bind(now)
    .bind(MessageKind::Placeholder.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::{Keyring, MasterKey};
    use crate::storage::NewChannel;

    fn from(address: &str, name: &str, external_id: &str) -> InboundItem {
        InboundItem::Message(
            InboundMessage {
                external_id: external_id.into(),
                sender: ContactAddress {
                    address: address.into(),
                    phone: None,
                    user_id: None,
                    display_name: Some(name.into()),
                },
                recipient: None,
                group_id: None,
                timestamp: None,
                text: Some("hi".into()),
                attachments: vec![],
                location: None,
                reply_to: None,
                reaction: None,
                interactive: None,
                consent: None,
                kind: "text".into(),
                route_key: None,
            },
            Disposition::Inbox,
        )
    }

    async fn count(db: &Db, sql: &str) -> i64 {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_one(&db.read)
            .await
            .unwrap()
            .get::<i64, _>(0)
    }

    /// First-seen senders are created together, once each: the same
    /// address twice in a batch (under a changed name) is one contact with
    /// the later name, and a sender known before keeps its contact.
    #[tokio::test]
    async fn a_batch_creates_its_newcomers_once_each() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&super::super::default_url(dir.path()))
            .await
            .unwrap();
        db.migrate().await.unwrap();
        let tenant = db.create_tenant("t", "T").await.unwrap().id;
        let ring = Keyring::new(db.clone(), MasterKey::from_bytes([1; 32]));
        let channel = db
            .create_channel(
                &tenant,
                &NewChannel {
                    id: super::super::new_secret_id("ch"),
                    name: "c".into(),
                    adapter: "webchat".into(),
                    config: Default::default(),
                    guardrails: vec![],
                    route_key: None,
                    bindings: vec![],
                },
                &ring,
            )
            .await
            .unwrap()
            .id;
        let cipher = ring.cipher(&tenant).await.unwrap();
        let known = [from("old", "Old", "m0")];
        db.store_inbound(&cipher, &channel, &known).await.unwrap();

        let first = [from("a", "Ann", "m1"), from("b", "Bob", "m2")];
        let second = [from("a", "Annie", "m3"), from("old", "Old", "m4")];
        let third = [from("c", "Cy", "m5"), from("a", "Annie", "m6")];
        let outcomes = db
            .store_inbound_batch(&[
                (&cipher, &channel, &first[..]),
                (&cipher, &channel, &second[..]),
                (&cipher, &channel, &third[..]),
            ])
            .await
            .unwrap();
        assert_eq!(
            outcomes.iter().map(|o| o.inserted).collect::<Vec<_>>(),
            [2, 2, 2]
        );
        // old, a, b, c: four contacts, identities and conversations.
        for table in ["contacts", "contact_identities", "conversations"] {
            let n = count(
                &db,
                &format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {table}"),
            )
            .await;
            assert_eq!(n, 4, "{table}");
        }
        // Every message of an address in its one conversation.
        assert_eq!(
            count(
                &db,
                "SELECT CAST(COUNT(DISTINCT conversation_id) AS BIGINT) FROM messages WHERE external_id IN ('m1', 'm3', 'm6')"
            )
            .await,
            1
        );
        assert_eq!(
            count(
                &db,
                "SELECT CAST(COUNT(DISTINCT conversation_id) AS BIGINT) FROM messages WHERE external_id IN ('m0', 'm4')"
            )
            .await,
            1
        );
        // The newcomer's contact has the batch's later name.
        let contact: String =
            sqlx::query("SELECT contact_id FROM messages WHERE external_id = 'm1'")
                .fetch_one(&db.read)
                .await
                .unwrap()
                .get(0);
        let sealed: Option<String> = sqlx::query("SELECT name_sealed FROM contacts WHERE id = $1")
            .bind(&contact)
            .fetch_one(&db.read)
            .await
            .unwrap()
            .get(0);
        assert_eq!(
            cipher
                .open_opt(Field::ContactName, &contact, sealed.as_deref())
                .unwrap()
                .as_deref(),
            Some("Annie")
        );
        // One `conversation.created` event per new conversation.
        assert_eq!(
            count(
                &db,
                "SELECT CAST(COUNT(*) AS BIGINT) FROM events WHERE type = 'conversation.created'"
            )
            .await,
            4
        );
    }
}
