//! The inbound transaction: contacts, conversations, idempotent message
//! inserts, monotonic status updates and processing jobs, committed together
//! before the webhook is acknowledged.

use serde::Serialize;
use sqlx::{Any, Row, Transaction};

use super::consent::{ConsentChange, ConsentSource};
use super::outbox::enqueue;
use super::usage::count_usage;
use super::{Db, StorageError, new_id, now_ms};
use crate::domain::{
    AutoReply, ContactAddress, DeliveryStatus, InboundMessage, MessageKind, MessageStatus,
    StatusUpdate, Task,
};

/// What the inbound guardrails decided for a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Store and process (possibly after a rewrite, already applied).
    Accept,
    /// Store for a human: the channel has no persona, so there is nothing
    /// to process (a persona bound later answers new messages, not these).
    Inbox,
    /// Store as blocked, with the reason; the persona never sees it. A
    /// guardrail's `reply` (e.g. the HELP text) is sent instead.
    Blocked {
        reason: String,
        reply: Option<String>,
    },
    /// The user opted out: the contact × channel is marked opted out and
    /// the change audited with its source. `reply` is the confirmation, the
    /// one message an opted-out contact still gets.
    OptOut {
        source: ConsentSource,
        reply: Option<String>,
    },
    /// The user opted back in; `reply` confirms it.
    OptIn {
        source: ConsentSource,
        reply: Option<String>,
    },
}

impl Disposition {
    /// The fixed answer a guardrail chose, if any.
    fn auto_reply(&self) -> Option<&str> {
        match self {
            Disposition::Accept | Disposition::Inbox => None,
            Disposition::Blocked { reply, .. }
            | Disposition::OptOut { reply, .. }
            | Disposition::OptIn { reply, .. } => reply.as_deref(),
        }
    }
}

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
}

impl Db {
    /// Store one webhook's events for `tenant_id` on `channel_id`, in one
    /// transaction.
    pub async fn store_inbound(
        &self,
        tenant_id: &str,
        channel_id: &str,
        items: &[InboundItem],
    ) -> Result<InboundOutcome, StorageError> {
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        let out = store_in(&mut tx, tenant_id, channel_id, items, now).await?;
        if out.inserted > 0 {
            count_usage(&mut tx, tenant_id, channel_id, i64::from(out.inserted), now).await?;
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Store several webhooks in one transaction (group commit): one
    /// outcome per webhook, all committed or none.
    pub async fn store_inbound_batch(
        &self,
        batch: &[(&str, &str, &[InboundItem])],
    ) -> Result<Vec<InboundOutcome>, StorageError> {
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        let mut outcomes = Vec::with_capacity(batch.len());
        // Usage is counted once per channel per batch, not per webhook.
        let mut usage: Vec<(&str, &str, i64)> = Vec::new();
        for (tenant_id, channel_id, items) in batch {
            let out = store_in(&mut tx, tenant_id, channel_id, items, now).await?;
            match usage
                .iter_mut()
                .find(|(t, c, _)| t == tenant_id && c == channel_id)
            {
                Some(u) => u.2 += i64::from(out.inserted),
                None => usage.push((tenant_id, channel_id, i64::from(out.inserted))),
            }
            outcomes.push(out);
        }
        for (tenant_id, channel_id, inserted) in usage {
            if inserted > 0 {
                count_usage(&mut tx, tenant_id, channel_id, inserted, now).await?;
            }
        }
        tx.commit().await?;
        Ok(outcomes)
    }
}

/// One webhook's events inside the caller's transaction.
async fn store_in(
    tx: &mut Transaction<'_, Any>,
    tenant_id: &str,
    channel_id: &str,
    items: &[InboundItem],
    now: i64,
) -> Result<InboundOutcome, StorageError> {
    let mut out = InboundOutcome::default();
    let mut touched_conversations: Vec<String> = Vec::new();
    for item in items {
        match item {
            InboundItem::Message(m, disposition) => {
                let (contact, conversation) =
                    upsert_contact_and_conversation(tx, tenant_id, channel_id, &m.sender, now)
                        .await?;
                let (status, error) = match disposition {
                    Disposition::Blocked { reason, .. } => {
                        (MessageStatus::Blocked, Some(super::blocked_error(reason)))
                    }
                    _ => (MessageStatus::Received, None),
                };
                let id = new_id("msg");
                let inserted = sqlx::query(
                    "INSERT INTO messages (id, tenant_id, channel_id, conversation_id, contact_id, direction, external_id, kind, text, attachments, payload, status, status_rank, error, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, 'inbound', $6, $7, $8, $9, $10, $11, $14, $12, $13, $13) \
                     ON CONFLICT (channel_id, direction, external_id) DO NOTHING",
                )
                .bind(&id)
                .bind(tenant_id)
                .bind(channel_id)
                .bind(&conversation)
                .bind(&contact)
                .bind(&m.external_id)
                .bind(&m.kind)
                .bind(m.text.clone())
                .bind(serde_json::to_string(&m.attachments).unwrap_or_else(|_| "[]".into()))
                .bind(serde_json::to_string(m).unwrap_or_default())
                .bind(status.as_str())
                .bind(error)
                .bind(now)
                .bind(status.rank())
                .execute(&mut **tx)
                .await?
                .rows_affected()
                    == 1;
                if !inserted {
                    out.duplicates += 1;
                    continue;
                }
                out.inserted += 1;
                if !touched_conversations.contains(&conversation) {
                    touched_conversations.push(conversation.clone());
                }
                let consent = match disposition {
                    Disposition::OptOut { source, .. } => Some((true, *source)),
                    Disposition::OptIn { source, .. } => Some((false, *source)),
                    _ => None,
                };
                // Only a change of consent is recorded and confirmed: a
                // second STOP gets no second confirmation, and "yes" from a
                // contact who never opted out is just a message.
                let mut changed = false;
                if let Some((opted_out, source)) = consent {
                    let change = ConsentChange {
                        channel_id,
                        address: &m.sender.address,
                        contact_id: &contact,
                        message_id: &id,
                        opted_out,
                        source,
                    };
                    changed = change.record(tx, tenant_id, None, now).await?;
                }
                // Accepted messages go to the persona; a guardrail's fixed
                // answer (consent confirmation, HELP) is sent as is.
                let process = |auto_reply: Option<(&str, MessageKind)>| Task::Process {
                    message_id: id.clone(),
                    channel_id: channel_id.to_string(),
                    auto_reply: auto_reply.map(|(text, kind)| AutoReply {
                        text: text.to_string(),
                        kind,
                    }),
                };
                let task = match (disposition, disposition.auto_reply()) {
                    (Disposition::Accept, _) => Some(process(None)),
                    (Disposition::OptIn { .. }, _) if !changed => Some(process(None)),
                    (Disposition::OptOut { .. } | Disposition::OptIn { .. }, _) if !changed => None,
                    (Disposition::OptOut { .. }, Some(reply)) => {
                        Some(process(Some((reply, MessageKind::OptOutConfirmation))))
                    }
                    (_, Some(reply)) => Some(process(Some((reply, MessageKind::AutoReply)))),
                    (_, None) => None,
                };
                if let Some(task) = task {
                    enqueue(tx, tenant_id, &task, now).await?;
                }
            }
            InboundItem::Status(s) => {
                if apply_status(tx, tenant_id, channel_id, s, now).await? {
                    out.statuses_applied += 1;
                } else {
                    out.statuses_ignored += 1;
                }
            }
        }
    }
    for conversation in &touched_conversations {
        sqlx::query(
            "UPDATE conversations SET last_message_at = $1 WHERE id = $2 AND tenant_id = $3",
        )
        .bind(now)
        .bind(conversation)
        .bind(tenant_id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(out)
}

/// The contact and conversation behind a channel address, created on first
/// sight, in one lookup on the hot path (a known sender). Profile fields are
/// refreshed only when the provider sends different ones.
pub(crate) async fn upsert_contact_and_conversation(
    tx: &mut Transaction<'_, Any>,
    tenant_id: &str,
    channel_id: &str,
    who: &ContactAddress,
    now: i64,
) -> Result<(String, String), StorageError> {
    let row = sqlx::query(
        "SELECT ci.contact_id, c.display_name, c.phone, cv.id AS conversation_id FROM contact_identities ci \
         JOIN contacts c ON c.id = ci.contact_id \
         LEFT JOIN conversations cv ON cv.channel_id = ci.channel_id AND cv.contact_id = ci.contact_id \
         WHERE ci.channel_id = $1 AND ci.address = $2 AND ci.tenant_id = $3",
    )
    .bind(channel_id)
    .bind(&who.address)
    .bind(tenant_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        let contact = create_contact(tx, tenant_id, channel_id, who, now).await?;
        let conversation = upsert_conversation(tx, tenant_id, channel_id, &contact, now).await?;
        return Ok((contact, conversation));
    };
    let contact: String = row.get("contact_id");
    let name: Option<String> = row.get("display_name");
    let phone: Option<String> = row.get("phone");
    let changed = (who.display_name.is_some() && who.display_name != name)
        || (who.phone.is_some() && who.phone != phone);
    if changed {
        sqlx::query("UPDATE contacts SET display_name = COALESCE($1, display_name), phone = COALESCE($2, phone), updated_at = $3 WHERE id = $4 AND tenant_id = $5")
            .bind(who.display_name.clone())
            .bind(who.phone.clone())
            .bind(now)
            .bind(&contact)
            .bind(tenant_id)
            .execute(&mut **tx)
            .await?;
    }
    let conversation = match row.get::<Option<String>, _>("conversation_id") {
        Some(c) => c,
        None => upsert_conversation(tx, tenant_id, channel_id, &contact, now).await?,
    };
    Ok((contact, conversation))
}

/// Create a contact and its first identity for a never-seen address.
async fn create_contact(
    tx: &mut Transaction<'_, Any>,
    tenant_id: &str,
    channel_id: &str,
    who: &ContactAddress,
    now: i64,
) -> Result<String, StorageError> {
    let contact = new_id("ct");
    sqlx::query("INSERT INTO contacts (id, tenant_id, display_name, phone, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)")
        .bind(&contact)
        .bind(tenant_id)
        .bind(who.display_name.clone())
        .bind(who.phone.clone())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    sqlx::query("INSERT INTO contact_identities (id, tenant_id, contact_id, channel_id, address, user_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(new_id("cid"))
        .bind(tenant_id)
        .bind(&contact)
        .bind(channel_id)
        .bind(&who.address)
        .bind(who.user_id.clone())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(contact)
}

async fn upsert_conversation(
    tx: &mut Transaction<'_, Any>,
    tenant_id: &str,
    channel_id: &str,
    contact: &str,
    now: i64,
) -> Result<String, StorageError> {
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
    let id = new_id("cv");
    sqlx::query("INSERT INTO conversations (id, tenant_id, channel_id, contact_id, status, created_at, last_message_at) VALUES ($1, $2, $3, $4, 'open', $5, $5)")
        .bind(&id)
        .bind(tenant_id)
        .bind(channel_id)
        .bind(contact)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(id)
}

/// Move an outbound message's status forward, never back; `failed` is
/// terminal and cannot override `read`. A callback for a message we have no
/// record of (sent outside Switchboard, or racing our own send) creates a
/// placeholder so later callbacks still apply in order.
async fn apply_status(
    tx: &mut Transaction<'_, Any>,
    tenant_id: &str,
    channel_id: &str,
    s: &StatusUpdate,
    now: i64,
) -> Result<bool, StorageError> {
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
    let updated = sqlx::query(
        "UPDATE messages SET status = $1, status_rank = $2, error = COALESCE($3, error), updated_at = $4 \
         WHERE channel_id = $5 AND direction = 'outbound' AND external_id = $6 AND tenant_id = $7 AND status_rank < $8",
    )
        .bind(status.as_str())
        .bind(new_rank)
        .bind(error.clone())
        .bind(now)
        .bind(channel_id)
        .bind(&s.external_id)
        .bind(tenant_id)
        .bind(below)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if updated > 0 {
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
    let (contact, conversation) =
        upsert_contact_and_conversation(tx, tenant_id, channel_id, &who, now).await?;
    sqlx::query(
        "INSERT INTO messages (id, tenant_id, channel_id, conversation_id, contact_id, direction, external_id, kind, text, attachments, payload, status, status_rank, error, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'outbound', $6, $12, NULL, '[]', $7, $8, $9, $10, $11, $11) \
         ON CONFLICT (channel_id, direction, external_id) DO NOTHING",
    )
    .bind(new_id("msg"))
    .bind(tenant_id)
    .bind(channel_id)
    .bind(&conversation)
    .bind(&contact)
    .bind(&s.external_id)
    .bind(serde_json::to_string(s).unwrap_or_default())
    .bind(status.as_str())
    .bind(new_rank)
    .bind(error)
    .bind(now)
    .bind(MessageKind::Placeholder.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(true)
}
