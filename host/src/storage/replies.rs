//! Replies: what the reply worker reads (the message, its contact and
//! consent, recent history) and writes (the reply and its delivery job with
//! the processing job's completion, in one transaction); and how any
//! outbound message is inserted.

use sqlx::{Any, Row, Transaction};

use super::audit::audit;
use super::conversations::{MessageRecord, open_column};
use super::events::Pending;
use super::outbox::{Job, complete_in, enqueue_leased};
use super::{Db, StorageError, new_id};
use crate::crypto::{Field, TenantCipher};
use crate::domain::{
    Attachment, Direction, EventType, MessageKind, MessageStatus, OutboundPart, Task, Turn,
};

/// How many earlier turns the responder sees.
pub const HISTORY_TURNS: i64 = 10;

/// An inbound message with what a reply to it needs.
#[derive(Debug, Clone)]
pub struct ReplyContext {
    pub message_id: String,
    pub channel_id: String,
    pub conversation_id: String,
    pub contact_id: String,
    pub text: Option<String>,
    /// The provider's id of the inbound message (to quote it).
    pub external_id: String,
    pub contact_address: String,
    pub contact_name: Option<String>,
    pub opted_out: bool,
    /// Earlier turns, oldest first.
    pub history: Vec<Turn>,
    /// No reply has been sent in this conversation yet.
    pub first_reply: bool,
    /// A person took the conversation over: no reply is generated.
    pub handled_by_human: bool,
}

/// What the worker decided for an inbound message.
#[derive(Debug, Clone)]
pub enum ReplyPlan {
    /// Send these parts, in order, as messages of `kind`.
    Send {
        parts: Vec<OutboundPart>,
        kind: MessageKind,
    },
    /// An outbound guardrail blocked the reply: stored, never sent.
    Blocked { text: String, reason: String },
    /// The contact opted out: nothing is generated or sent; recorded.
    Refused,
    /// Nothing to send (no persona bound).
    Nothing,
}

/// LLM tokens spent on a reply.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenUsage {
    pub prompt: u32,
    pub completion: u32,
}

impl Db {
    /// An inbound message of the tenant with its contact, consent and the
    /// conversation's recent history. (Reads go to the read pool: the job
    /// that asks was committed with, or after, what it reads.)
    pub async fn reply_context(
        &self,
        cipher: &TenantCipher,
        message_id: &str,
    ) -> Result<ReplyContext, StorageError> {
        let tenant_id = cipher.tenant_id();
        let r = sqlx::query(
            "SELECT m.id, m.channel_id, m.conversation_id, m.contact_id, m.text, m.external_id, m.created_at, \
             ci.id AS identity_id, ci.address_sealed, CAST(ci.opted_out AS BIGINT) AS opted_out, c.name_sealed, cv.handler \
             FROM messages m \
             JOIN conversations cv ON cv.id = m.conversation_id AND cv.tenant_id = m.tenant_id \
             JOIN contact_identities ci ON ci.contact_id = m.contact_id AND ci.channel_id = m.channel_id AND ci.tenant_id = m.tenant_id \
             JOIN contacts c ON c.id = m.contact_id AND c.tenant_id = m.tenant_id \
             WHERE m.id = $1 AND m.tenant_id = $2",
        )
        .bind(message_id)
        .bind(tenant_id)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StorageError::NotFound("message"))?;
        let conversation_id: String = r.get("conversation_id");
        let created_at: i64 = r.get("created_at");
        // Earlier turns that were actually exchanged (not blocked/refused).
        let rows = sqlx::query(
            "SELECT id, direction, text FROM messages \
             WHERE tenant_id = $1 AND conversation_id = $2 AND id <> $3 AND created_at <= $4 AND text IS NOT NULL \
             AND status NOT IN ('blocked', 'refused', 'failed') \
             ORDER BY created_at DESC, id DESC LIMIT $5",
        )
        .bind(tenant_id)
        .bind(&conversation_id)
        .bind(message_id)
        .bind(created_at)
        .bind(HISTORY_TURNS)
        .fetch_all(&self.read)
        .await?;
        let history: Vec<Turn> = rows
            .iter()
            .rev()
            .map(|h| {
                Ok(Turn {
                    direction: if h.get::<String, _>("direction") == "inbound" {
                        Direction::Inbound
                    } else {
                        Direction::Outbound
                    },
                    text: open_column(cipher, h, Field::MessageText)?.unwrap_or_default(),
                })
            })
            .collect::<Result<_, StorageError>>()?;
        let first_reply = sqlx::query(
            "SELECT 1 FROM messages WHERE tenant_id = $1 AND conversation_id = $2 AND direction = 'outbound' AND kind = 'text' AND status NOT IN ('blocked', 'refused') LIMIT 1",
        )
        .bind(tenant_id)
        .bind(&conversation_id)
        .fetch_optional(&self.read)
        .await?
        .is_none();
        let sealed = |column: &str| r.get::<Option<String>, _>(column);
        let identity: String = r.get("identity_id");
        let contact_id: String = r.get("contact_id");
        Ok(ReplyContext {
            message_id: r.get("id"),
            channel_id: r.get("channel_id"),
            conversation_id,
            text: open_column(cipher, &r, Field::MessageText)?,
            contact_address: cipher
                .open_opt(
                    Field::IdentityAddress,
                    &identity,
                    sealed("address_sealed").as_deref(),
                )?
                .unwrap_or_default(),
            contact_name: cipher.open_opt(
                Field::ContactName,
                &contact_id,
                sealed("name_sealed").as_deref(),
            )?,
            contact_id,
            external_id: r.get("external_id"),
            opted_out: r.get::<i64, _>("opted_out") != 0,
            history,
            first_reply,
            handled_by_human: r.get::<String, _>("handler")
                == crate::domain::Handler::Human.as_str(),
        })
    }
}

/// The worker's decision for one processing job, to store with the job's
/// completion (through [`OutboundWriter`](super::OutboundWriter)).
#[derive(Debug)]
pub struct ReplyWrite {
    pub cipher: TenantCipher,
    pub job: Job,
    pub ctx: ReplyContext,
    pub plan: ReplyPlan,
    pub tokens: TokenUsage,
    /// The lease of the reply's delivery job, leased to the same worker.
    pub lease_ms: i64,
}

impl ReplyWrite {
    /// Store the decision and complete the job inside `tx`. `None` (and
    /// nothing written) when the job's lease was lost to another worker,
    /// which then owns the reply; otherwise the reply's delivery job, if
    /// any, already leased to the same worker so it can run it at once.
    pub(super) async fn apply(
        &self,
        tx: &mut Transaction<'_, Any>,
        events: &mut Pending,
        now: i64,
    ) -> Result<Option<Option<Job>>, StorageError> {
        let ReplyWrite {
            cipher,
            job,
            ctx,
            plan,
            tokens,
            lease_ms,
        } = self;
        let (tokens, lease_ms) = (*tokens, *lease_ms);
        let tenant_id = job.tenant_id.as_str();
        if tenant_id != cipher.tenant_id() {
            return Err(StorageError::Internal(anyhow::anyhow!(
                "a reply sealed under another tenant's key"
            )));
        }
        if !complete_in(tx, job).await? {
            return Ok(None);
        }
        let mut delivery = None;
        match plan {
            ReplyPlan::Send { parts, kind } => {
                let base = new_id("msg");
                let mut ids = Vec::with_capacity(parts.len());
                for (i, part) in parts.iter().enumerate() {
                    // `-NNN` keeps the parts of one reply in order by id.
                    let id = format!("{base}-{i:03}");
                    insert_outbound(
                        tx,
                        cipher,
                        events,
                        &Thread::from(ctx),
                        &id,
                        *kind,
                        part.text.as_deref(),
                        &part.attachments,
                        i,
                        MessageStatus::Queued,
                        None,
                        now,
                    )
                    .await?;
                    ids.push(id);
                }
                if !ids.is_empty() {
                    delivery = Some(
                        enqueue_leased(
                            tx,
                            tenant_id,
                            Task::Deliver {
                                channel_id: ctx.channel_id.to_string(),
                                message_ids: ids,
                            },
                            &job.owner,
                            lease_ms,
                            now,
                        )
                        .await?,
                    );
                }
            }
            ReplyPlan::Blocked { text, reason } => {
                let error = super::blocked_error(reason);
                let id = format!("{}-000", new_id("msg"));
                insert_outbound(
                    tx,
                    cipher,
                    events,
                    &Thread::from(ctx),
                    &id,
                    MessageKind::Reply,
                    Some(text),
                    &[],
                    0,
                    MessageStatus::Blocked,
                    Some(error),
                    now,
                )
                .await?;
            }
            ReplyPlan::Refused => {
                audit(
                    tx,
                    Some(tenant_id),
                    "system",
                    "reply.refused",
                    &ctx.contact_id,
                    &serde_json::json!({ "channel_id": ctx.channel_id, "message_id": ctx.message_id, "reason": "contact_opted_out" }),
                )
                .await?;
            }
            ReplyPlan::Nothing => {}
        }
        if tokens.prompt > 0 || tokens.completion > 0 {
            sqlx::query(
                "INSERT INTO usage (tenant_id, period, channel_id, inbound, outbound, llm_prompt_tokens, llm_completion_tokens) VALUES ($1, $2, $3, 0, 0, $4, $5) \
                 ON CONFLICT (tenant_id, period, channel_id) DO UPDATE SET llm_prompt_tokens = usage.llm_prompt_tokens + excluded.llm_prompt_tokens, llm_completion_tokens = usage.llm_completion_tokens + excluded.llm_completion_tokens",
            )
            .bind(tenant_id)
            .bind(super::usage::period_of(now))
            .bind(&ctx.channel_id)
            .bind(i64::from(tokens.prompt))
            .bind(i64::from(tokens.completion))
            .execute(&mut **tx)
            .await?;
        }
        Ok(Some(delivery))
    }
}

/// Where an outbound message goes, and what it answers.
pub(crate) struct Thread<'a> {
    pub channel_id: &'a str,
    pub conversation_id: &'a str,
    pub contact_id: &'a str,
    pub reply_to: Option<&'a str>,
    /// The member writing (an agent's reply).
    pub author: Option<&'a str>,
}

impl<'a> From<&'a ReplyContext> for Thread<'a> {
    fn from(ctx: &'a ReplyContext) -> Self {
        Thread {
            channel_id: &ctx.channel_id,
            conversation_id: &ctx.conversation_id,
            contact_id: &ctx.contact_id,
            reply_to: Some(&ctx.message_id),
            author: None,
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert_outbound(
    tx: &mut Transaction<'_, Any>,
    cipher: &TenantCipher,
    events: &mut Pending,
    ctx: &Thread<'_>,
    id: &str,
    kind: MessageKind,
    text: Option<&str>,
    attachments: &[Attachment],
    part: usize,
    status: MessageStatus,
    error: Option<String>,
    now: i64,
) -> Result<(), StorageError> {
    let tenant_id = cipher.tenant_id();
    // A media-only part has no text.
    let text = text.filter(|t| !t.is_empty());
    // Until the provider names it, an outbound message's external id is
    // its own id (unique, and never a provider's). No payload yet: `''`.
    sqlx::query(
        "INSERT INTO messages (id, tenant_id, channel_id, conversation_id, contact_id, direction, external_id, kind, text, attachments, payload, status, status_rank, error, created_at, updated_at, reply_to_id, part, attempts, author_id) \
         VALUES ($1, $2, $3, $4, $5, 'outbound', $1, $6, $7, $14, '', $8, $9, $10, $11, $11, $12, $13, 0, $15)",
    )
    .bind(id)
    .bind(tenant_id)
    .bind(ctx.channel_id)
    .bind(ctx.conversation_id)
    .bind(ctx.contact_id)
    .bind(kind.as_str())
    .bind(cipher.seal_opt(Field::MessageText, id, text))
    .bind(status.as_str())
    .bind(status.rank())
    .bind(error.clone())
    .bind(now)
    .bind(ctx.reply_to.map(str::to_string))
    .bind(part as i64)
    .bind(super::inbound::sealed_attachments(cipher, id, attachments))
    .bind(ctx.author.map(str::to_string))
    .execute(&mut **tx)
    .await?;
    events.push(
        cipher,
        EventType::MessageCreated,
        MessageRecord {
            id: id.to_string(),
            channel_id: ctx.channel_id.to_string(),
            conversation_id: ctx.conversation_id.to_string(),
            contact_id: ctx.contact_id.to_string(),
            direction: "outbound".into(),
            external_id: id.to_string(),
            kind: kind.as_str().into(),
            text: text.map(str::to_string),
            attachments: serde_json::to_value(attachments).unwrap_or_default(),
            status: status.as_str().into(),
            error: error.as_deref().map(|e| {
                serde_json::from_str(e).unwrap_or(serde_json::Value::String(e.to_string()))
            }),
            created_at: now,
            author_id: ctx.author.map(str::to_string),
        },
    );
    sqlx::query("UPDATE conversations SET last_message_at = $1 WHERE id = $2 AND tenant_id = $3")
        .bind(now)
        .bind(ctx.conversation_id)
        .bind(tenant_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
