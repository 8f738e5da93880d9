//! Replies: what the reply worker reads (the message, its contact and
//! consent, recent history) and writes (the reply and its delivery job with
//! the processing job's completion, in one transaction); and how any
//! outbound message is inserted.

use sqlx::{Any, Row, Transaction};

use super::audit::audit;
use super::conversations::{MessageRecord, open_column};
use super::events::Pending;
use super::outbox::{Job, LeasedJob, complete_many, enqueue_leased_many};
use super::{Db, StorageError, new_id};
use crate::crypto::{Field, TenantCipher};
use crate::domain::{
    Attachment, Direction, EventType, MessageKind, MessageStatus, ReplyPlan, Task, TokenUsage, Turn,
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
    /// When the message was stored (where its history ends).
    pub created_at: i64,
    /// Earlier turns, oldest first: empty until [`Db::reply_history`]
    /// read them, which only a persona that reads them needs.
    pub history: Vec<Turn>,
    /// No reply has been sent in this conversation yet.
    pub first_reply: bool,
    /// A person took the conversation over: no reply is generated.
    pub handled_by_human: bool,
}

impl Db {
    /// An inbound message of the tenant with its contact and consent,
    /// without its history. (Reads go to the read pool: the job that asks
    /// was committed with, or after, what it reads.)
    pub async fn reply_context(
        &self,
        cipher: &TenantCipher,
        message_id: &str,
    ) -> Result<ReplyContext, StorageError> {
        let tenant_id = cipher.tenant_id();
        let r = sqlx::query(
            "SELECT m.id, m.channel_id, m.conversation_id, m.contact_id, m.text, m.external_id, m.created_at, \
             ci.id AS identity_id, ci.address_sealed, CAST(ci.opted_out AS BIGINT) AS opted_out, c.name_sealed, cv.handler, \
             CAST(CASE WHEN EXISTS (SELECT 1 FROM messages o WHERE o.tenant_id = m.tenant_id AND o.conversation_id = m.conversation_id \
                  AND o.direction = 'outbound' AND o.kind = 'text' AND o.status NOT IN ('blocked', 'refused')) THEN 0 ELSE 1 END AS BIGINT) AS first_reply \
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
        // No reply has gone out in this conversation (read with the context:
        // one round trip less per reply).
        let first_reply = r.get::<i64, _>("first_reply") != 0;
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
            created_at: r.get("created_at"),
            history: Vec::new(),
            first_reply,
            handled_by_human: r.get::<String, _>("handler")
                == crate::domain::Handler::Human.as_str(),
        })
    }

    /// The turns of `ctx`'s conversation before its message that were
    /// actually exchanged (not blocked, refused or failed), oldest first,
    /// at most [`HISTORY_TURNS`].
    pub async fn reply_history(
        &self,
        cipher: &TenantCipher,
        ctx: &ReplyContext,
    ) -> Result<Vec<Turn>, StorageError> {
        let rows = sqlx::query(
            "SELECT id, direction, text FROM messages \
             WHERE tenant_id = $1 AND conversation_id = $2 AND id <> $3 AND created_at <= $4 AND text IS NOT NULL \
             AND status NOT IN ('blocked', 'refused', 'failed') \
             ORDER BY created_at DESC, id DESC LIMIT $5",
        )
        .bind(cipher.tenant_id())
        .bind(&ctx.conversation_id)
        .bind(&ctx.message_id)
        .bind(ctx.created_at)
        .bind(HISTORY_TURNS)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .rev()
            .map(|h| {
                Ok(Turn {
                    direction: Direction::parse(&h.get::<String, _>("direction"))
                        .unwrap_or(Direction::Outbound),
                    text: open_column(cipher, h, Field::MessageText)?.unwrap_or_default(),
                })
            })
            .collect()
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

/// Store a batch of the workers' decisions with their jobs' completions
/// inside `tx`, with a fixed handful of statements whatever the batch's
/// size: the jobs completed (fenced by their leases) in one, the replies'
/// messages in one, their conversations touched in one, their delivery jobs
/// (each leased to the worker that wrote the reply, so it runs it at once)
/// in one. For each write, in order: `None` (and nothing written) when its
/// job's lease was lost to another worker, which then owns the reply;
/// otherwise its delivery job, if any.
pub(super) async fn apply_replies(
    tx: &mut Transaction<'_, Any>,
    events: &mut Pending,
    writes: &[&ReplyWrite],
    now: i64,
) -> Result<Vec<Option<Option<Job>>>, StorageError> {
    if writes
        .iter()
        .any(|w| w.job.tenant_id != w.cipher.tenant_id())
    {
        return Err(StorageError::Internal(anyhow::anyhow!(
            "a reply sealed under another tenant's key"
        )));
    }
    let jobs: Vec<&Job> = writes.iter().map(|w| &w.job).collect();
    let completed = complete_many(tx, &jobs).await?;
    let mut rows = Vec::new();
    let mut deliveries = Vec::new();
    let mut touched = Vec::new();
    let mut results = Vec::with_capacity(writes.len());
    for w in writes {
        if !completed.contains(&w.job.id) {
            results.push(None);
            continue;
        }
        let (ctx, tenant_id) = (&w.ctx, w.job.tenant_id.as_str());
        let thread = Thread::from(ctx);
        let mut delivery = None;
        match &w.plan {
            ReplyPlan::Send { parts, kind } => {
                let base = new_id("msg");
                let mut ids = Vec::with_capacity(parts.len());
                for (i, part) in parts.iter().enumerate() {
                    // `-NNN` keeps the parts of one reply in order by id.
                    let id = format!("{base}-{i:03}");
                    rows.push(OutboundRow {
                        cipher: &w.cipher,
                        thread: thread.clone(),
                        id: id.clone(),
                        kind: *kind,
                        text: part.text.as_deref(),
                        attachments: &part.attachments,
                        part: i,
                        status: MessageStatus::Queued,
                        error: None,
                    });
                    ids.push(id);
                }
                if !ids.is_empty() {
                    let task = Task::Deliver {
                        channel_id: ctx.channel_id.to_string(),
                        message_ids: ids,
                    };
                    let job = LeasedJob::new(tenant_id, task, &w.job.owner, w.lease_ms);
                    delivery = Some(deliveries.len());
                    deliveries.push(job);
                }
            }
            ReplyPlan::Blocked { text, reason } => rows.push(OutboundRow {
                cipher: &w.cipher,
                thread: thread.clone(),
                id: format!("{}-000", new_id("msg")),
                kind: MessageKind::Reply,
                text: Some(text),
                attachments: &[],
                part: 0,
                status: MessageStatus::Blocked,
                error: Some(super::blocked_error(reason)),
            }),
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
        if matches!(w.plan, ReplyPlan::Send { .. } | ReplyPlan::Blocked { .. }) {
            touched.push((tenant_id, ctx.conversation_id.as_str()));
        }
        if w.tokens.prompt > 0 || w.tokens.completion > 0 {
            add_tokens(tx, tenant_id, &ctx.channel_id, w.tokens, now).await?;
        }
        results.push(Some(delivery));
    }
    insert_outbound_rows(tx, events, &rows, now).await?;
    super::inbound::touch_conversations(tx, &touched, now).await?;
    let jobs = enqueue_leased_many(tx, deliveries, now).await?;
    let mut jobs: Vec<Option<Job>> = jobs.into_iter().map(Some).collect();
    Ok(results
        .into_iter()
        .map(|r| r.map(|delivery| delivery.and_then(|i| jobs[i].take())))
        .collect())
}

/// Count a reply's LLM tokens in its channel's usage.
async fn add_tokens(
    tx: &mut Transaction<'_, Any>,
    tenant_id: &str,
    channel_id: &str,
    tokens: TokenUsage,
    now: i64,
) -> Result<(), StorageError> {
    sqlx::query(
        "INSERT INTO usage (tenant_id, period, channel_id, inbound, outbound, llm_prompt_tokens, llm_completion_tokens) VALUES ($1, $2, $3, 0, 0, $4, $5) \
         ON CONFLICT (tenant_id, period, channel_id) DO UPDATE SET llm_prompt_tokens = usage.llm_prompt_tokens + excluded.llm_prompt_tokens, llm_completion_tokens = usage.llm_completion_tokens + excluded.llm_completion_tokens",
    )
    .bind(tenant_id)
    .bind(super::usage::period_of(now))
    .bind(channel_id)
    .bind(i64::from(tokens.prompt))
    .bind(i64::from(tokens.completion))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Where an outbound message goes, and what it answers.
#[derive(Clone)]
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

/// One outbound message to insert.
pub(crate) struct OutboundRow<'a> {
    pub cipher: &'a TenantCipher,
    pub thread: Thread<'a>,
    pub id: String,
    pub kind: MessageKind,
    pub text: Option<&'a str>,
    pub attachments: &'a [Attachment],
    pub part: usize,
    pub status: MessageStatus,
    pub error: Option<String>,
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
    let row = OutboundRow {
        cipher,
        thread: ctx.clone(),
        id: id.to_string(),
        kind,
        text,
        attachments,
        part,
        status,
        error,
    };
    insert_outbound_rows(tx, events, std::slice::from_ref(&row), now).await?;
    super::inbound::touch_conversations(tx, &[(cipher.tenant_id(), ctx.conversation_id)], now).await
}

/// Insert outbound messages (of any tenants, each sealed under its own
/// key) in one statement, each with its `message.created` event. The
/// caller moves their conversations' `last_message_at`.
pub(crate) async fn insert_outbound_rows(
    tx: &mut Transaction<'_, Any>,
    events: &mut Pending,
    rows: &[OutboundRow<'_>],
    now: i64,
) -> Result<(), StorageError> {
    if rows.is_empty() {
        return Ok(());
    }
    let json: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            // A media-only part has no text.
            let text = r.text.filter(|t| !t.is_empty());
            serde_json::json!({
                "id": r.id, "t": r.cipher.tenant_id(), "c": r.thread.channel_id,
                "cv": r.thread.conversation_id, "ct": r.thread.contact_id, "k": r.kind.as_str(),
                "tx": r.cipher.seal_opt(Field::MessageText, &r.id, text),
                "at": super::inbound::sealed_attachments(r.cipher, &r.id, r.attachments),
                "s": r.status.as_str(), "r": r.status.rank(), "e": r.error,
                "rt": r.thread.reply_to, "p": r.part, "a": r.thread.author,
            })
        })
        .collect();
    // Until the provider names it, an outbound message's external id is
    // its own id (unique, and never a provider's). No payload yet: `''`.
    super::execute_rows(
        tx,
        "INSERT INTO messages (id, tenant_id, channel_id, conversation_id, contact_id, direction, external_id, kind, text, attachments, payload, status, status_rank, error, created_at, updated_at, reply_to_id, part, attempts, author_id) \
         SELECT value ->> 'id', value ->> 't', value ->> 'c', value ->> 'cv', value ->> 'ct', 'outbound', value ->> 'id', value ->> 'k', value ->> 'tx', \
                value ->> 'at', '', value ->> 's', CAST(value ->> 'r' AS INTEGER), value ->> 'e', $2, $2, value ->> 'rt', CAST(value ->> 'p' AS INTEGER), 0, value ->> 'a' \
         FROM {rows}",
        json,
        now,
    )
    .await?;
    for r in rows {
        let text = r.text.filter(|t| !t.is_empty());
        events.push(
            r.cipher,
            EventType::MessageCreated,
            MessageRecord {
                id: r.id.clone(),
                channel_id: r.thread.channel_id.to_string(),
                conversation_id: r.thread.conversation_id.to_string(),
                contact_id: r.thread.contact_id.to_string(),
                direction: Direction::Outbound.as_str().into(),
                external_id: r.id.clone(),
                kind: r.kind.as_str().into(),
                text: text.map(str::to_string),
                attachments: serde_json::to_value(r.attachments).unwrap_or_default(),
                status: r.status.as_str().into(),
                error: r.error.as_deref().map(|e| {
                    serde_json::from_str(e).unwrap_or(serde_json::Value::String(e.to_string()))
                }),
                created_at: now,
                author_id: r.thread.author.map(str::to_string),
            },
        );
    }
    Ok(())
}
