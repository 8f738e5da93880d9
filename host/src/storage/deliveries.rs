//! Deliveries: what a delivery reads (an outbound message with its
//! recipient and consent as they are now) and records (each provider call,
//! the provider's id and status, final failures, a provider's consent
//! signal).

use serde::Serialize;
use sqlx::{Any, Row, Transaction};

use super::audit::audit;
use super::consent::{ConsentChange, ConsentSource};
use super::conversations::{MESSAGE_COLUMNS, message_from, open_column};
use super::events::Pending;
use super::outbox::{Job, complete_many};
use super::{Db, StorageError, new_id, now_ms};
use crate::crypto::{Field, TenantCipher};
use crate::domain::{AttemptOutcome, DeliveryStatus, EventType, MessageKind, MessageStatus};

/// An outbound message as delivery needs it.
#[derive(Debug, Clone)]
pub struct DeliveryTarget {
    pub id: String,
    pub channel_id: String,
    pub contact_id: String,
    pub text: Option<String>,
    pub kind: MessageKind,
    pub status: MessageStatus,
    /// The stored payload (a template message's template).
    pub payload: serde_json::Value,
    /// The media this part sends.
    pub attachments: Vec<crate::domain::Attachment>,
    pub address: String,
    /// The address's blind index (where consent changes are recorded).
    pub address_index: String,
    pub opted_out: bool,
    pub attempts: i64,
}

/// One provider call, for the record.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub outcome: AttemptOutcome,
    pub http_status: Option<u16>,
    pub error_code: Option<String>,
    pub error: Option<String>,
}

/// A recorded attempt, for the API.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptRecord {
    pub attempt: i64,
    pub outcome: String,
    pub http_status: Option<i64>,
    pub error_code: Option<String>,
    pub error: Option<String>,
    pub created_at: i64,
}

impl Db {
    /// An outbound message of the cipher's tenant, opened, with its
    /// recipient and consent as they are now.
    pub async fn delivery_target(
        &self,
        cipher: &TenantCipher,
        message_id: &str,
    ) -> Result<DeliveryTarget, StorageError> {
        let tenant_id = cipher.tenant_id();
        let r = sqlx::query(
            "SELECT m.id, m.channel_id, m.contact_id, m.text, m.kind, m.status, m.payload, m.attachments, CAST(m.attempts AS BIGINT) AS attempts, \
             ci.id AS identity_id, ci.address_index, ci.address_sealed, CAST(ci.opted_out AS BIGINT) AS opted_out \
             FROM messages m \
             JOIN contact_identities ci ON ci.contact_id = m.contact_id AND ci.channel_id = m.channel_id AND ci.tenant_id = m.tenant_id \
             WHERE m.id = $1 AND m.tenant_id = $2 AND m.direction = 'outbound'",
        )
        .bind(message_id)
        .bind(tenant_id)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StorageError::NotFound("message"))?;
        let column = |name: &str| -> String { r.get(name) };
        let unknown = |what: &str, v: String| {
            StorageError::Internal(anyhow::anyhow!(
                "outbound message {message_id} has an unknown {what} `{v}`"
            ))
        };
        let kind = column("kind");
        let status = column("status");
        let identity = column("identity_id");
        let address = cipher
            .open_opt(
                Field::IdentityAddress,
                &identity,
                r.get::<Option<String>, _>("address_sealed").as_deref(),
            )?
            .unwrap_or_default();
        Ok(DeliveryTarget {
            id: r.get("id"),
            channel_id: r.get("channel_id"),
            contact_id: r.get("contact_id"),
            text: open_column(cipher, &r, Field::MessageText)?,
            kind: MessageKind::parse(&kind).ok_or_else(|| unknown("kind", kind.clone()))?,
            status: MessageStatus::parse(&status)
                .ok_or_else(|| unknown("status", status.clone()))?,
            payload: open_column(cipher, &r, Field::MessagePayload)?
                .and_then(|p| serde_json::from_str(&p).ok())
                .unwrap_or_default(),
            attachments: match open_column(cipher, &r, Field::MessageAttachments)? {
                None => Vec::new(),
                Some(json) => serde_json::from_str(&json)
                    .map_err(|e| unknown("attachments", e.to_string()))?,
            },
            address,
            address_index: column("address_index"),
            opted_out: r.get::<i64, _>("opted_out") != 0,
            attempts: r.get("attempts"),
        })
    }

    /// A provider call that did not deliver. `terminal` sets the message's
    /// final status (`failed` or `refused`) with `error`; otherwise only the
    /// attempt is counted (it will be retried). `consent_revoked` marks the
    /// contact opted out on this channel, from the provider's signal.
    pub async fn record_failed_attempt(
        &self,
        cipher: &TenantCipher,
        target: &DeliveryTarget,
        attempt: &Attempt,
        terminal: Option<(MessageStatus, &serde_json::Value)>,
        consent_revoked: bool,
    ) -> Result<(), StorageError> {
        let tenant_id = cipher.tenant_id();
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        let mut events = Pending::default();
        let counted = i32::from(attempt.outcome != AttemptOutcome::Refused);
        match terminal {
            Some((status, error)) => {
                sqlx::query("UPDATE messages SET status = $1, status_rank = $7, error = $2, attempts = attempts + $3, updated_at = $4 WHERE id = $5 AND tenant_id = $6 AND status_rank < $7")
                    .bind(status.as_str())
                    .bind(error.to_string())
                    .bind(counted)
                    .bind(now)
                    .bind(&target.id)
                    .bind(tenant_id)
                    .bind(MessageStatus::FINAL_RANK)
                    .execute(&mut *tx)
                    .await?;
                message_updated(&mut tx, cipher, &mut events, &target.id).await?;
            }
            None => {
                sqlx::query("UPDATE messages SET attempts = attempts + $1, updated_at = $2 WHERE id = $3 AND tenant_id = $4")
                    .bind(counted)
                    .bind(now)
                    .bind(&target.id)
                    .bind(tenant_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        insert_attempt(&mut tx, tenant_id, target, attempt, now).await?;
        if attempt.outcome == AttemptOutcome::Refused {
            audit(
                &mut tx,
                Some(tenant_id),
                "system",
                "send.refused",
                &target.contact_id,
                &serde_json::json!({ "channel_id": target.channel_id, "message_id": target.id, "reason": "contact_opted_out" }),
            )
            .await?;
        }
        if consent_revoked && !target.opted_out {
            let change = ConsentChange {
                channel_id: &target.channel_id,
                address_index: &target.address_index,
                contact_id: &target.contact_id,
                message_id: &target.id,
                opted_out: true,
                source: ConsentSource::Provider,
            };
            if change
                .record(&mut tx, tenant_id, attempt.error_code.as_deref(), now)
                .await?
            {
                let shown =
                    super::contacts::contact_in(&mut tx, cipher, &target.contact_id).await?;
                events.push(cipher, EventType::ContactUpdated, shown);
            }
        }
        let appended = events.append(&mut tx, now).await?;
        tx.commit().await?;
        self.published(appended);
        Ok(())
    }

    /// An outbound message's provider calls, oldest first.
    pub async fn delivery_attempts(
        &self,
        tenant_id: &str,
        message_id: &str,
    ) -> Result<Vec<AttemptRecord>, StorageError> {
        let rows = sqlx::query("SELECT CAST(attempt AS BIGINT) AS attempt, outcome, CAST(http_status AS BIGINT) AS http_status, error_code, error, created_at FROM delivery_attempts WHERE message_id = $1 AND tenant_id = $2 ORDER BY attempt, id")
            .bind(message_id)
            .bind(tenant_id)
            .fetch_all(&self.read)
            .await?;
        Ok(rows
            .iter()
            .map(|r| AttemptRecord {
                attempt: r.get("attempt"),
                outcome: r.get("outcome"),
                http_status: r.get("http_status"),
                error_code: r.get("error_code"),
                error: r.get("error"),
                created_at: r.get("created_at"),
            })
            .collect())
    }
}

/// Queue `message.updated` for a message this transaction changed, as the
/// API now shows it.
async fn message_updated(
    tx: &mut Transaction<'_, Any>,
    cipher: &TenantCipher,
    events: &mut Pending,
    id: &str,
) -> Result<(), StorageError> {
    messages_updated(tx, events, &[(cipher, id)]).await
}

/// Queue `message.updated` for messages (of any tenants) this transaction
/// changed, as the API now shows them, read in one statement.
async fn messages_updated(
    tx: &mut Transaction<'_, Any>,
    events: &mut Pending,
    ids: &[(&TenantCipher, &str)],
) -> Result<(), StorageError> {
    let keys: Vec<serde_json::Value> = ids
        .iter()
        .map(|(c, id)| serde_json::json!({ "id": id, "t": c.tenant_id() }))
        .collect();
    let sql = format!(
        "SELECT tenant_id, {MESSAGE_COLUMNS} FROM messages \
         WHERE (id, tenant_id) IN (SELECT value ->> 'id', value ->> 't' FROM {})",
        super::json_rows(tx)
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(serde_json::Value::Array(keys).to_string())
        .fetch_all(&mut **tx)
        .await?;
    // In the order asked (the rows come in any order).
    for (cipher, id) in ids {
        let row = rows
            .iter()
            .find(|r| {
                r.get::<&str, _>("id") == *id && r.get::<&str, _>("tenant_id") == cipher.tenant_id()
            })
            .ok_or(StorageError::NotFound("message"))?;
        events.push(
            cipher,
            EventType::MessageUpdated,
            message_from(cipher, row)?,
        );
    }
    Ok(())
}

async fn insert_attempt(
    tx: &mut Transaction<'_, Any>,
    tenant_id: &str,
    target: &DeliveryTarget,
    attempt: &Attempt,
    now: i64,
) -> Result<(), StorageError> {
    insert_attempts(tx, &[(tenant_id, target, attempt)], now).await
}

/// Record provider calls (of any tenants) in one statement.
async fn insert_attempts(
    tx: &mut Transaction<'_, Any>,
    attempts: &[(&str, &DeliveryTarget, &Attempt)],
    now: i64,
) -> Result<(), StorageError> {
    let rows: Vec<serde_json::Value> = attempts
        .iter()
        .map(|(tenant_id, target, attempt)| {
            serde_json::json!({
                "id": new_id("att"), "t": tenant_id, "m": target.id, "n": target.attempts + 1,
                "o": attempt.outcome.as_str(), "h": attempt.http_status, "c": attempt.error_code,
                "e": attempt.error,
            })
        })
        .collect();
    super::execute_rows(
        tx,
        "INSERT INTO delivery_attempts (id, tenant_id, message_id, attempt, outcome, http_status, error_code, error, created_at) \
         SELECT value ->> 'id', value ->> 't', value ->> 'm', CAST(value ->> 'n' AS BIGINT), value ->> 'o', CAST(value ->> 'h' AS BIGINT), value ->> 'c', value ->> 'e', $2 FROM {rows}",
        rows,
        now,
    )
    .await
}

/// A send the provider accepted, to record (through
/// [`OutboundWriter`](super::OutboundWriter)).
#[derive(Debug)]
pub struct SentWrite {
    pub cipher: TenantCipher,
    pub target: DeliveryTarget,
    /// The provider's id for the message, when it gave one.
    pub external_id: Option<String>,
    pub status: DeliveryStatus,
    pub attempt: Attempt,
    /// The job to complete with this record (the last part's).
    pub complete: Option<Job>,
}

/// Record a batch of accepted sends inside `tx` with a fixed handful of
/// statements whatever the batch's size: the placeholders their provider
/// ids may have left looked up in one, the messages updated in one (a
/// status never moves backwards: a callback may already have arrived),
/// their attempts in one, their `message.updated` events read in one, the
/// last parts' jobs completed in one. For each write, in order: true when
/// its job was completed (false: no job, or its lease was lost; the send
/// is recorded anyway).
pub(super) async fn apply_sent(
    tx: &mut Transaction<'_, Any>,
    events: &mut Pending,
    writes: &[&SentWrite],
    now: i64,
) -> Result<Vec<bool>, StorageError> {
    if writes.is_empty() {
        return Ok(Vec::new());
    }
    let holders = placeholders_of(tx, writes).await?;
    let mut updates = Vec::with_capacity(writes.len());
    for (i, w) in writes.iter().enumerate() {
        let tenant_id = w.cipher.tenant_id();
        let mut rank = MessageStatus::from(w.status).rank();
        let mut status = MessageStatus::from(w.status).as_str().to_string();
        let mut external_id = w.external_id.as_deref();
        match holders.get(&i) {
            // Another real message already has this id (a provider that
            // reused one): keep that message as it is, and record this
            // send without the id rather than fail, which would send it
            // again.
            Some(h) if h.kind != Some(MessageKind::Placeholder) => {
                tracing::warn!(message = %w.target.id, external_id = ?external_id, "the provider's id for this send is already another message's; recorded without it");
                external_id = None;
            }
            // A status callback that raced the send left a placeholder
            // row under the provider's id: fold its progress into ours.
            Some(h) => {
                if h.rank > i64::from(rank) {
                    rank = h.rank as i32;
                    status = h.status.clone();
                }
                sqlx::query("DELETE FROM messages WHERE id = $1 AND tenant_id = $2")
                    .bind(&h.id)
                    .bind(tenant_id)
                    .execute(&mut **tx)
                    .await?;
            }
            None => {}
        }
        updates.push(serde_json::json!({
            "id": w.target.id, "t": tenant_id, "x": external_id, "s": status, "r": rank,
        }));
    }
    super::execute_rows(
        tx,
        "UPDATE messages SET external_id = COALESCE(sent.x, messages.external_id), \
         status = CASE WHEN messages.status_rank < sent.r THEN sent.s ELSE messages.status END, \
         status_rank = CASE WHEN messages.status_rank < sent.r THEN sent.r ELSE messages.status_rank END, \
         attempts = messages.attempts + 1, updated_at = $2 \
         FROM (SELECT value ->> 'id' AS id, value ->> 't' AS t, value ->> 'x' AS x, value ->> 's' AS s, CAST(value ->> 'r' AS INTEGER) AS r FROM {rows}) AS sent \
         WHERE messages.id = sent.id AND messages.tenant_id = sent.t",
        updates,
        now,
    )
    .await?;
    let attempts: Vec<(&str, &DeliveryTarget, &Attempt)> = writes
        .iter()
        .map(|w| (w.cipher.tenant_id(), &w.target, &w.attempt))
        .collect();
    insert_attempts(tx, &attempts, now).await?;
    let updated: Vec<(&TenantCipher, &str)> = writes
        .iter()
        .map(|w| (&w.cipher, w.target.id.as_str()))
        .collect();
    messages_updated(tx, events, &updated).await?;
    // One usage row per tenant and channel, however many sends it had.
    let mut sent: Vec<((&str, &str), i64)> = Vec::new();
    for w in writes {
        let key = (w.cipher.tenant_id(), w.target.channel_id.as_str());
        match sent.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => sent.push((key, 1)),
        }
    }
    for ((tenant_id, channel_id), n) in sent {
        sqlx::query(
            "INSERT INTO usage (tenant_id, period, channel_id, inbound, outbound) VALUES ($1, $2, $3, 0, $4) \
             ON CONFLICT (tenant_id, period, channel_id) DO UPDATE SET outbound = usage.outbound + excluded.outbound",
        )
        .bind(tenant_id)
        .bind(super::usage::period_of(now))
        .bind(channel_id)
        .bind(n)
        .execute(&mut **tx)
        .await?;
    }
    let jobs: Vec<&Job> = writes.iter().filter_map(|w| w.complete.as_ref()).collect();
    let completed = complete_many(tx, &jobs).await?;
    Ok(writes
        .iter()
        .map(|w| {
            w.complete
                .as_ref()
                .is_some_and(|j| completed.contains(&j.id))
        })
        .collect())
}

/// Another outbound message holding a send's provider id.
struct Holder {
    id: String,
    kind: Option<MessageKind>,
    status: String,
    rank: i64,
}

/// The messages already holding the provider ids of `writes`, by the
/// write's index.
async fn placeholders_of(
    tx: &mut Transaction<'_, Any>,
    writes: &[&SentWrite],
) -> Result<std::collections::HashMap<usize, Holder>, StorageError> {
    let keys: Vec<serde_json::Value> = writes
        .iter()
        .enumerate()
        .filter_map(|(i, w)| {
            let x = w.external_id.as_deref()?;
            Some(serde_json::json!({
                "i": i, "c": w.target.channel_id, "x": x, "t": w.cipher.tenant_id(), "id": w.target.id,
            }))
        })
        .collect();
    if keys.is_empty() {
        return Ok(Default::default());
    }
    let sql = format!(
        "SELECT CAST(k.i AS BIGINT) AS i, m.id, m.kind, m.status, CAST(m.status_rank AS BIGINT) AS status_rank \
         FROM (SELECT value ->> 'i' AS i, value ->> 'c' AS c, value ->> 'x' AS x, value ->> 't' AS t, value ->> 'id' AS own FROM {}) AS k \
         JOIN messages m ON m.channel_id = k.c AND m.direction = 'outbound' AND m.external_id = k.x AND m.tenant_id = k.t AND m.id <> k.own",
        super::json_rows(tx)
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(serde_json::Value::Array(keys).to_string())
        .fetch_all(&mut **tx)
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let holder = Holder {
                id: r.get("id"),
                kind: MessageKind::parse(r.get::<&str, _>("kind")),
                status: r.get("status"),
                rank: r.get("status_rank"),
            };
            (r.get::<i64, _>("i") as usize, holder)
        })
        .collect())
}
