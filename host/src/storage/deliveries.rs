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
use super::outbox::{Job, complete_in};
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
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1 AND tenant_id = $2"
    )))
    .bind(id)
    .bind(cipher.tenant_id())
    .fetch_one(&mut **tx)
    .await?;
    events.push(
        cipher,
        EventType::MessageUpdated,
        message_from(cipher, &row)?,
    );
    Ok(())
}

async fn insert_attempt(
    tx: &mut Transaction<'_, Any>,
    tenant_id: &str,
    target: &DeliveryTarget,
    attempt: &Attempt,
    now: i64,
) -> Result<(), StorageError> {
    sqlx::query(
        "INSERT INTO delivery_attempts (id, tenant_id, message_id, attempt, outcome, http_status, error_code, error, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(new_id("att"))
    .bind(tenant_id)
    .bind(&target.id)
    .bind(target.attempts + 1)
    .bind(attempt.outcome.as_str())
    .bind(attempt.http_status.map(i64::from))
    .bind(attempt.error_code.clone())
    .bind(attempt.error.clone())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
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

impl SentWrite {
    /// Record the message's provider id and status (never moving a status
    /// backwards: a callback may already have arrived) inside `tx`, and
    /// complete `complete` with it; true when the job was completed
    /// (false: its lease was lost, the send is recorded anyway).
    pub(super) async fn apply(
        &self,
        tx: &mut Transaction<'_, Any>,
        events: &mut Pending,
        now: i64,
    ) -> Result<bool, StorageError> {
        let SentWrite {
            cipher,
            target,
            external_id,
            status,
            attempt,
            complete,
        } = self;
        let (status, complete) = (*status, complete.as_ref());
        let tenant_id = cipher.tenant_id();
        let mut new_rank = MessageStatus::from(status).rank();
        let mut new_status = MessageStatus::from(status).as_str().to_string();
        let mut external_id = external_id.as_deref();
        if let Some(ext) = external_id {
            // A status callback that raced the send left a placeholder row
            // under the provider's id: fold its progress into ours.
            let holder = sqlx::query("SELECT id, kind, status, CAST(status_rank AS BIGINT) AS status_rank FROM messages WHERE channel_id = $1 AND direction = 'outbound' AND external_id = $2 AND tenant_id = $3 AND id <> $4")
                .bind(&target.channel_id)
                .bind(ext)
                .bind(tenant_id)
                .bind(&target.id)
                .fetch_optional(&mut **tx)
                .await?;
            // Another real message already has this id (a provider that
            // reused one): keep that message as it is, and record this send
            // without the id rather than fail, which would send it again.
            if holder.as_ref().is_some_and(|h| {
                MessageKind::parse(h.get::<&str, _>("kind")) != Some(MessageKind::Placeholder)
            }) {
                tracing::warn!(message = %target.id, external_id = %ext, "the provider's id for this send is already another message's; recorded without it");
                external_id = None;
            } else if let Some(p) = holder {
                let r: i64 = p.get("status_rank");
                if r > i64::from(new_rank) {
                    new_rank = r as i32;
                    new_status = p.get("status");
                }
                sqlx::query("DELETE FROM messages WHERE id = $1 AND tenant_id = $2")
                    .bind(p.get::<String, _>("id"))
                    .bind(tenant_id)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        sqlx::query(
            "UPDATE messages SET external_id = COALESCE($1, external_id), \
             status = CASE WHEN status_rank < $2 THEN $3 ELSE status END, \
             status_rank = CASE WHEN status_rank < $2 THEN $2 ELSE status_rank END, \
             attempts = attempts + 1, updated_at = $4 WHERE id = $5 AND tenant_id = $6",
        )
        .bind(external_id.map(str::to_string))
        .bind(new_rank)
        .bind(new_status)
        .bind(now)
        .bind(&target.id)
        .bind(tenant_id)
        .execute(&mut **tx)
        .await?;
        insert_attempt(tx, tenant_id, target, attempt, now).await?;
        message_updated(tx, cipher, events, &target.id).await?;
        sqlx::query(
            "INSERT INTO usage (tenant_id, period, channel_id, inbound, outbound) VALUES ($1, $2, $3, 0, 1) \
             ON CONFLICT (tenant_id, period, channel_id) DO UPDATE SET outbound = usage.outbound + 1",
        )
        .bind(tenant_id)
        .bind(super::usage::period_of(now))
        .bind(&target.channel_id)
        .execute(&mut **tx)
        .await?;
        Ok(match complete {
            Some(job) => complete_in(tx, job).await?,
            None => false,
        })
    }
}
