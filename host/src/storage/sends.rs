//! Proactive sends (`POST /v1/messages`): the recipient as a contact of the
//! channel, the stored message(s) with their delivery job, and idempotency
//! keys that replay the original answer.

use sqlx::Row;

use super::audit::audit;
use super::events::Pending;
use super::inbound::upsert_contact_and_conversation;
use super::outbox::enqueue;
use super::replies::{Thread, insert_outbound};
use super::{Db, StorageError, is_unique_violation, new_id, now_ms};
use crate::crypto::{Field, TenantCipher};
use crate::domain::{ContactAddress, MessageKind, MessageStatus, OutboundPart, Task};

/// The recipient of a proactive send, as the channel knows them.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub contact_id: String,
    pub conversation_id: String,
    pub opted_out: bool,
    /// When they last wrote to us on this channel (Unix ms), if ever.
    pub last_inbound_at: Option<i64>,
}

/// An idempotency key's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Idempotency {
    /// First use: the caller owns the key now and must `finish` it.
    New,
    /// A finished request with the same body: its answer.
    Replay { status: u16, response: String },
    /// The same key with another body.
    Mismatch,
    /// The same key is being processed right now.
    InProgress,
}

/// How long an unfinished claim on an idempotency key holds. A request
/// that has neither answered nor released its claim by then was lost with
/// its process (a crash, a kill): the same request may claim the key
/// again. Generous against the handler's own time, which is bounded by
/// plugin deadlines and database timeouts.
pub const IDEMPOTENCY_LEASE_MS: i64 = 60_000;

impl Recipient {
    /// Where a business-initiated message to them goes (it answers
    /// nothing), written by `author` (a member) or the API.
    fn thread<'a>(&'a self, channel_id: &'a str, author: Option<&'a str>) -> Thread<'a> {
        Thread {
            channel_id,
            conversation_id: &self.conversation_id,
            contact_id: &self.contact_id,
            reply_to: None,
            author,
        }
    }
}

impl Db {
    /// The contact behind `to` on the channel (created on first send) with
    /// their consent and last inbound message.
    pub async fn recipient(
        &self,
        cipher: &TenantCipher,
        channel_id: &str,
        to: &str,
    ) -> Result<Recipient, StorageError> {
        let tenant_id = cipher.tenant_id();
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        let mut events = Pending::default();
        let who = ContactAddress {
            address: to.to_string(),
            phone: None,
            user_id: None,
            display_name: None,
        };
        let (contact_id, conversation_id) = upsert_contact_and_conversation(
            &mut tx,
            cipher,
            &mut events,
            channel_id,
            &who,
            false,
            now,
        )
        .await?;
        let r = sqlx::query(
            "SELECT CAST(ci.opted_out AS BIGINT) AS opted_out, \
             (SELECT MAX(m.created_at) FROM messages m WHERE m.tenant_id = ci.tenant_id AND m.channel_id = ci.channel_id AND m.contact_id = ci.contact_id AND m.direction = 'inbound') AS last_inbound_at \
             FROM contact_identities ci WHERE ci.channel_id = $1 AND ci.address_index = $2 AND ci.tenant_id = $3",
        )
        .bind(channel_id)
        .bind(cipher.address_index(to))
        .bind(tenant_id)
        .fetch_one(&mut *tx)
        .await?;
        let appended = events.append(&mut tx, now).await?;
        tx.commit().await?;
        self.published(appended);
        Ok(Recipient {
            contact_id,
            conversation_id,
            opted_out: r.get::<i64, _>("opted_out") != 0,
            last_inbound_at: r.get("last_inbound_at"),
        })
    }

    /// Store a business-initiated send (already split into parts) and its
    /// delivery job: an agent's reply when `author` (a member) wrote it,
    /// else a proactive message; returns the message ids in order.
    pub async fn store_send(
        &self,
        cipher: &TenantCipher,
        channel_id: &str,
        to: &Recipient,
        parts: &[OutboundPart],
        author: Option<&str>,
    ) -> Result<Vec<String>, StorageError> {
        let tenant_id = cipher.tenant_id();
        let now = now_ms();
        let thread = to.thread(channel_id, author);
        let kind = if author.is_some() {
            MessageKind::Agent
        } else {
            MessageKind::Proactive
        };
        let mut tx = self.write.begin().await?;
        let mut events = Pending::default();
        let base = new_id("msg");
        let mut ids = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let id = format!("{base}-{i:03}");
            insert_outbound(
                &mut tx,
                cipher,
                &mut events,
                &thread,
                &id,
                kind,
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
        let task = Task::Deliver {
            channel_id: channel_id.to_string(),
            message_ids: ids,
        };
        enqueue(&mut tx, tenant_id, &task, now).await?;
        let appended = events.append(&mut tx, now).await?;
        tx.commit().await?;
        self.published(appended);
        let Task::Deliver { message_ids, .. } = task else {
            unreachable!("built above")
        };
        Ok(message_ids)
    }

    /// Store a template send (one message, no text: the template is its
    /// payload) and its delivery job; returns the message id.
    pub async fn store_template_send(
        &self,
        cipher: &TenantCipher,
        channel_id: &str,
        to: &Recipient,
        template: &serde_json::Value,
    ) -> Result<String, StorageError> {
        let tenant_id = cipher.tenant_id();
        let now = now_ms();
        let thread = to.thread(channel_id, None);
        let id = format!("{}-000", new_id("msg"));
        let mut tx = self.write.begin().await?;
        let mut events = Pending::default();
        insert_outbound(
            &mut tx,
            cipher,
            &mut events,
            &thread,
            &id,
            MessageKind::Template,
            None,
            &[],
            0,
            MessageStatus::Queued,
            None,
            now,
        )
        .await?;
        sqlx::query("UPDATE messages SET payload = $1 WHERE id = $2 AND tenant_id = $3")
            .bind(cipher.seal(
                Field::MessagePayload,
                &id,
                &serde_json::json!({ "template": template }).to_string(),
            ))
            .bind(&id)
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?;
        let task = Task::Deliver {
            channel_id: channel_id.to_string(),
            message_ids: vec![id.clone()],
        };
        enqueue(&mut tx, tenant_id, &task, now).await?;
        let appended = events.append(&mut tx, now).await?;
        tx.commit().await?;
        self.published(appended);
        Ok(id)
    }

    /// Store a proactive send an outbound guardrail blocked.
    pub async fn store_blocked_send(
        &self,
        cipher: &TenantCipher,
        channel_id: &str,
        to: &Recipient,
        text: &str,
        reason: &str,
    ) -> Result<String, StorageError> {
        let now = now_ms();
        let thread = to.thread(channel_id, None);
        let id = format!("{}-000", new_id("msg"));
        let error = super::blocked_error(reason);
        let mut tx = self.write.begin().await?;
        let mut events = Pending::default();
        insert_outbound(
            &mut tx,
            cipher,
            &mut events,
            &thread,
            &id,
            MessageKind::Proactive,
            Some(text),
            &[],
            0,
            MessageStatus::Blocked,
            Some(error),
            now,
        )
        .await?;
        let appended = events.append(&mut tx, now).await?;
        tx.commit().await?;
        self.published(appended);
        Ok(id)
    }

    /// Record a refused send in the audit log.
    pub async fn record_refused_send(
        &self,
        tenant_id: &str,
        channel_id: &str,
        contact_id: &str,
        reason: &str,
    ) -> Result<(), StorageError> {
        let mut tx = self.write.begin().await?;
        audit(
            &mut tx,
            Some(tenant_id),
            "api",
            "send.refused",
            contact_id,
            &serde_json::json!({ "channel_id": channel_id, "reason": reason }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Claim an idempotency key for a request whose body hashes to `hash`.
    pub async fn begin_idempotent(
        &self,
        cipher: &TenantCipher,
        key: &str,
        hash: &str,
    ) -> Result<Idempotency, StorageError> {
        self.begin_idempotent_at(cipher, key, hash, now_ms()).await
    }

    /// [`Self::begin_idempotent`] as of `now` (Unix ms): an unfinished
    /// claim of the same request older than [`IDEMPOTENCY_LEASE_MS`] is
    /// abandoned and taken over.
    pub async fn begin_idempotent_at(
        &self,
        cipher: &TenantCipher,
        key: &str,
        hash: &str,
        now: i64,
    ) -> Result<Idempotency, StorageError> {
        let tenant_id = cipher.tenant_id();
        // A released claim can vanish between a failed insert and the
        // read: then the key is free, and inserting again claims it.
        let mut attempts = 0;
        let r = loop {
            attempts += 1;
            let inserted = sqlx::query("INSERT INTO idempotency_keys (tenant_id, key, request_hash, status, response, created_at) VALUES ($1, $2, $3, 0, '', $4)")
                .bind(tenant_id)
                .bind(key)
                .bind(hash)
                .bind(now)
                .execute(&self.write)
                .await;
            match inserted {
                Ok(_) => return Ok(Idempotency::New),
                Err(e) if is_unique_violation(&e) => {}
                Err(e) => return Err(e.into()),
            }
            let row = sqlx::query("SELECT request_hash, CAST(status AS BIGINT) AS status, response FROM idempotency_keys WHERE tenant_id = $1 AND key = $2")
                .bind(tenant_id)
                .bind(key)
                .fetch_optional(&self.write)
                .await?;
            match row {
                Some(r) => break r,
                // Someone keeps claiming and releasing it: busy.
                None if attempts >= 3 => return Ok(Idempotency::InProgress),
                None => continue,
            }
        };
        let stored: String = r.get("request_hash");
        let status: i64 = r.get("status");
        if stored == hash && status == 0 {
            // Take over an abandoned claim; the condition makes one of
            // several concurrent retries win.
            let taken = sqlx::query("UPDATE idempotency_keys SET created_at = $1 WHERE tenant_id = $2 AND key = $3 AND status = 0 AND request_hash = $4 AND created_at < $5")
                .bind(now)
                .bind(tenant_id)
                .bind(key)
                .bind(hash)
                .bind(now - IDEMPOTENCY_LEASE_MS)
                .execute(&self.write)
                .await?;
            if taken.rows_affected() == 1 {
                return Ok(Idempotency::New);
            }
        }
        Ok(if stored != hash {
            Idempotency::Mismatch
        } else if status == 0 {
            Idempotency::InProgress
        } else {
            Idempotency::Replay {
                status: status as u16,
                // The answer shows the message: sealed like it.
                response: cipher.open(Field::IdempotentResponse, key, r.get("response"))?,
            }
        })
    }

    /// Store the answer for a claimed key (or release the key when the
    /// request failed in a way worth retrying: `status` is `None`).
    pub async fn finish_idempotent(
        &self,
        cipher: &TenantCipher,
        key: &str,
        answer: Option<(u16, &str)>,
    ) -> Result<(), StorageError> {
        let tenant_id = cipher.tenant_id();
        match answer {
            Some((status, response)) => {
                sqlx::query("UPDATE idempotency_keys SET status = $1, response = $2 WHERE tenant_id = $3 AND key = $4")
                    .bind(i32::from(status))
                    .bind(cipher.seal(Field::IdempotentResponse, key, response))
                    .bind(tenant_id)
                    .bind(key)
                    .execute(&self.write)
                    .await?;
            }
            None => {
                sqlx::query(
                    "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2 AND status = 0",
                )
                .bind(tenant_id)
                .bind(key)
                .execute(&self.write)
                .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn db() -> (tempfile::TempDir, Db, TenantCipher) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&super::super::default_url(dir.path()))
            .await
            .unwrap();
        db.migrate().await.unwrap();
        let t = db.create_tenant("t", "T").await.unwrap().id;
        (dir, db, TenantCipher::new(&t, &[3; 32]))
    }

    #[tokio::test]
    async fn an_abandoned_claim_is_taken_over_after_the_lease() {
        let (_dir, db, t) = db().await;
        let t0 = now_ms();
        assert_eq!(
            db.begin_idempotent_at(&t, "k", "h1", t0).await.unwrap(),
            Idempotency::New
        );
        // Within the lease: still someone else's.
        let within = t0 + IDEMPOTENCY_LEASE_MS - 1;
        assert_eq!(
            db.begin_idempotent_at(&t, "k", "h1", within).await.unwrap(),
            Idempotency::InProgress
        );
        // Another body never takes it over.
        let after = t0 + IDEMPOTENCY_LEASE_MS + 1;
        assert_eq!(
            db.begin_idempotent_at(&t, "k", "h2", after).await.unwrap(),
            Idempotency::Mismatch
        );
        // Past the lease: the same request claims it, once.
        assert_eq!(
            db.begin_idempotent_at(&t, "k", "h1", after).await.unwrap(),
            Idempotency::New
        );
        assert_eq!(
            db.begin_idempotent_at(&t, "k", "h1", after).await.unwrap(),
            Idempotency::InProgress
        );
        // A finished answer is never taken over, however old.
        db.finish_idempotent(&t, "k", Some((202, "{}")))
            .await
            .unwrap();
        assert_eq!(
            db.begin_idempotent_at(&t, "k", "h1", after + 10 * IDEMPOTENCY_LEASE_MS)
                .await
                .unwrap(),
            Idempotency::Replay {
                status: 202,
                response: "{}".into()
            }
        );
    }
}
