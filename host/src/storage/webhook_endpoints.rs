//! Event webhook endpoints (issue 13): where a tenant's events are POSTed,
//! their signing secrets (sealed), the fan-out cursor over the tenant's
//! event stream, and the record of every delivery attempt.
//!
//! Fan-out reads the durable `events` table, never the write paths:
//! [`Db::dispatch_webhook_events`] moves an endpoint's cursor with a
//! conditional UPDATE in the same transaction that enqueues one outbox job
//! per (endpoint, event), so two replicas never enqueue an event twice and a
//! crash in between enqueues nothing (the next pass does it).

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::audit::audit;
use super::outbox::{Job, complete_in, enqueue, enqueue_many};
use super::{Db, StorageError, new_id, now_ms};
use crate::crypto::WebhookSecret;
use crate::domain::{EventType, Task};
use crate::secrets::{Keyring, Purpose};

/// Whether an endpoint receives events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookEndpointStatus {
    Active,
    /// Failing for the whole retry window: no longer dispatched to.
    Disabled,
}

impl WebhookEndpointStatus {
    /// The column value.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEndpointStatus::Active => "active",
            WebhookEndpointStatus::Disabled => "disabled",
        }
    }

    fn parse(s: &str) -> WebhookEndpointStatus {
        match s {
            "active" => WebhookEndpointStatus::Active,
            // Anything else is not dispatched to.
            _ => WebhookEndpointStatus::Disabled,
        }
    }
}

/// An endpoint as the API shows it (never its secrets).
#[derive(Debug, Clone, Serialize)]
pub struct WebhookEndpoint {
    pub id: String,
    pub url: String,
    pub types: Vec<String>,
    pub status: WebhookEndpointStatus,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a delivery needs of its endpoint, secrets opened.
#[derive(Debug, Clone)]
pub struct SigningEndpoint {
    pub url: String,
    pub status: WebhookEndpointStatus,
    /// The current secret first, then a rotated-out one still valid.
    pub secrets: Vec<WebhookSecret>,
}

/// One attempt, as `GET /v1/webhook-endpoints/{id}/deliveries` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct WebhookAttempt {
    pub id: String,
    pub event_id: String,
    #[serde(skip)]
    pub event_seq: i64,
    /// This event's attempt number at this endpoint (retries and manual
    /// replays counted).
    pub attempt: i64,
    /// The receiver's HTTP status; absent when there was no answer.
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub succeeded: bool,
    pub started_at: i64,
    pub finished_at: i64,
}

/// How an attempt ended, to record.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub started_at: i64,
}

impl AttemptResult {
    pub fn succeeded(&self) -> bool {
        succeeded(self.status_code.map(i64::from), self.error.is_some())
    }
}

/// An attempt succeeded when the receiver answered 2xx (and nothing else
/// went wrong, e.g. reading its answer).
fn succeeded(status_code: Option<i64>, failed: bool) -> bool {
    !failed && status_code.is_some_and(|s| (200..300).contains(&s))
}

/// An endpoint with events to fan out.
#[derive(Debug, Clone)]
pub struct DispatchTarget {
    pub tenant_id: String,
    pub endpoint_id: String,
    pub types: Vec<EventType>,
    pub cursor: i64,
}

/// The sealed secret set: the current secret, and during a rotation the
/// previous one with the time it stops being used.
#[derive(Serialize, Deserialize)]
struct SecretSet {
    current: String,
    #[serde(default)]
    previous: Option<String>,
    #[serde(default)]
    previous_until: Option<i64>,
}

const ENDPOINT_COLUMNS: &str = "id, url, types, status, created_at, updated_at";

fn endpoint_from(r: &sqlx::any::AnyRow) -> WebhookEndpoint {
    let types: String = r.get("types");
    WebhookEndpoint {
        id: r.get("id"),
        url: r.get("url"),
        types: serde_json::from_str(&types).unwrap_or_default(),
        status: WebhookEndpointStatus::parse(r.get("status")),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
    }
}

fn attempt_from(r: &sqlx::any::AnyRow) -> WebhookAttempt {
    let seq: i64 = r.get("event_seq");
    let status_code: Option<i64> = r.get("status_code");
    let error: Option<String> = r.get("error");
    WebhookAttempt {
        id: r.get("id"),
        event_id: super::cursor(seq),
        event_seq: seq,
        attempt: r.get("attempt"),
        succeeded: succeeded(status_code, error.is_some()),
        status_code,
        error,
        started_at: r.get("started_at"),
        finished_at: r.get("finished_at"),
    }
}

async fn seal(
    secrets: &Keyring,
    tenant_id: &str,
    endpoint_id: &str,
    set: &SecretSet,
) -> Result<Vec<u8>, StorageError> {
    let json = serde_json::to_vec(set).map_err(|e| StorageError::Internal(e.into()))?;
    Ok(secrets
        .seal(tenant_id, Purpose::WebhookSecret { endpoint_id }, &json)
        .await?)
}

async fn open(
    secrets: &Keyring,
    tenant_id: &str,
    endpoint_id: &str,
    sealed: &[u8],
) -> Result<SecretSet, StorageError> {
    let json = secrets
        .open(tenant_id, Purpose::WebhookSecret { endpoint_id }, sealed)
        .await?;
    serde_json::from_slice(&json).map_err(|e| StorageError::Internal(e.into()))
}

fn parse_secret(s: &str) -> Result<WebhookSecret, StorageError> {
    WebhookSecret::parse(s).map_err(|e| StorageError::Internal(e.into()))
}

impl Db {
    /// Store a new endpoint; returns it and its secret (shown once). Only
    /// events committed after this are delivered to it.
    pub async fn create_webhook_endpoint(
        &self,
        tenant_id: &str,
        actor: &str,
        url: &str,
        types: &[EventType],
        secrets: &Keyring,
    ) -> Result<(WebhookEndpoint, WebhookSecret), StorageError> {
        let id = new_id("we");
        let now = now_ms();
        let secret = WebhookSecret::generate();
        let set = SecretSet {
            current: secret.reveal(),
            previous: None,
            previous_until: None,
        };
        // Sealed before the transaction: a tenant's first seal writes its
        // data key, and SQLite has one writer connection.
        let sealed = seal(secrets, tenant_id, &id, &set).await?;
        let types: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
        let types_json = serde_json::to_string(&types).unwrap_or_default();
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, tenant_id, url, types, secrets_enc, status, cursor, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'active', COALESCE((SELECT seq FROM event_sequences WHERE tenant_id = $2), 0), $6, $6)",
        )
        .bind(&id)
        .bind(tenant_id)
        .bind(url)
        .bind(&types_json)
        .bind(sealed)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            Some(tenant_id),
            actor,
            "webhook_endpoint.create",
            &id,
            &serde_json::json!({ "url": url, "types": types }),
        )
        .await?;
        tx.commit().await?;
        Ok((
            WebhookEndpoint {
                id,
                url: url.to_string(),
                types: types.iter().map(|t| t.to_string()).collect(),
                status: WebhookEndpointStatus::Active,
                created_at: now,
                updated_at: now,
            },
            secret,
        ))
    }

    /// The tenant's endpoints, oldest first.
    pub async fn webhook_endpoints(
        &self,
        tenant_id: &str,
    ) -> Result<Vec<WebhookEndpoint>, StorageError> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 ORDER BY id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id)
            .fetch_all(&self.read)
            .await?;
        Ok(rows.iter().map(endpoint_from).collect())
    }

    /// One of the tenant's endpoints (`NotFound` for another tenant's).
    pub async fn webhook_endpoint(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> Result<WebhookEndpoint, StorageError> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .map(|r| endpoint_from(&r))
            .ok_or(StorageError::NotFound("webhook endpoint"))
    }

    /// Delete an endpoint and its delivery record; its queued deliveries
    /// then find nothing to send.
    pub async fn delete_webhook_endpoint(
        &self,
        tenant_id: &str,
        actor: &str,
        id: &str,
    ) -> Result<(), StorageError> {
        let mut tx = self.write.begin().await?;
        let gone = sqlx::query("DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if gone.rows_affected() == 0 {
            return Err(StorageError::NotFound("webhook endpoint"));
        }
        sqlx::query("DELETE FROM webhook_deliveries WHERE tenant_id = $1 AND endpoint_id = $2")
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        audit(
            &mut tx,
            Some(tenant_id),
            actor,
            "webhook_endpoint.delete",
            id,
            &serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replace an endpoint's secret; the previous one keeps signing (beside
    /// the new one) for `overlap_ms`. Returns the new secret and when the
    /// old one stops.
    pub async fn rotate_webhook_secret(
        &self,
        tenant_id: &str,
        actor: &str,
        id: &str,
        secrets: &Keyring,
        overlap_ms: i64,
    ) -> Result<(WebhookSecret, i64), StorageError> {
        let row = sqlx::query(
            "SELECT secrets_enc FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        .ok_or(StorageError::NotFound("webhook endpoint"))?;
        let old: Vec<u8> = row.get("secrets_enc");
        let old = open(secrets, tenant_id, id, &old).await?;
        let secret = WebhookSecret::generate();
        let now = now_ms();
        let until = now + overlap_ms;
        let set = SecretSet {
            current: secret.reveal(),
            previous: Some(old.current),
            previous_until: Some(until),
        };
        let sealed = seal(secrets, tenant_id, id, &set).await?;
        let mut tx = self.write.begin().await?;
        let updated = sqlx::query(
            "UPDATE webhook_endpoints SET secrets_enc = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4",
        )
        .bind(sealed)
        .bind(now)
        .bind(tenant_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StorageError::NotFound("webhook endpoint"));
        }
        audit(
            &mut tx,
            Some(tenant_id),
            actor,
            "webhook_endpoint.rotate_secret",
            id,
            &serde_json::json!({ "previous_valid_until": until }),
        )
        .await?;
        tx.commit().await?;
        Ok((secret, until))
    }

    /// The endpoint a delivery signs for, secrets opened (a rotated-out
    /// secret only until it expires); `None` once it is deleted.
    pub async fn signing_endpoint(
        &self,
        tenant_id: &str,
        id: &str,
        secrets: &Keyring,
    ) -> Result<Option<SigningEndpoint>, StorageError> {
        let Some(row) = sqlx::query(
            "SELECT url, status, secrets_enc FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&self.read)
        .await?
        else {
            return Ok(None);
        };
        let sealed: Vec<u8> = row.get("secrets_enc");
        let set = open(secrets, tenant_id, id, &sealed).await?;
        let mut keys = vec![parse_secret(&set.current)?];
        if let (Some(previous), Some(until)) = (&set.previous, set.previous_until)
            && until > now_ms()
        {
            keys.push(parse_secret(previous)?);
        }
        Ok(Some(SigningEndpoint {
            url: row.get("url"),
            status: WebhookEndpointStatus::parse(row.get("status")),
            secrets: keys,
        }))
    }

    /// Record an attempt. A success completes `job` in the same commit and
    /// ends the endpoint's failing run; a failure starts one if none is
    /// under way. Returns when the endpoint's failing run began (`None`
    /// after a success, or when the endpoint is gone).
    pub async fn record_webhook_attempt(
        &self,
        job: &Job,
        endpoint_id: &str,
        event_seq: i64,
        result: &AttemptResult,
    ) -> Result<Option<i64>, StorageError> {
        let now = now_ms();
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_seq, attempt, status_code, error, started_at, finished_at) \
             SELECT $1, $2, $3, $4, CAST(COUNT(*) + 1 AS BIGINT), $5, $6, $7, $8 FROM webhook_deliveries \
             WHERE tenant_id = $2 AND endpoint_id = $3 AND event_seq = $4",
        )
        .bind(new_id("whd"))
        .bind(&job.tenant_id)
        .bind(endpoint_id)
        .bind(event_seq)
        .bind(result.status_code.map(i64::from))
        .bind(result.error.as_deref().map(truncate))
        .bind(result.started_at)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let failing_since = if result.succeeded() {
            sqlx::query(
                "UPDATE webhook_endpoints SET failing_since = NULL WHERE tenant_id = $1 AND id = $2",
            )
            .bind(&job.tenant_id)
            .bind(endpoint_id)
            .execute(&mut *tx)
            .await?;
            complete_in(&mut tx, job).await?;
            None
        } else {
            sqlx::query(
                "UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, $1) \
                 WHERE tenant_id = $2 AND id = $3 RETURNING failing_since",
            )
            .bind(result.started_at)
            .bind(&job.tenant_id)
            .bind(endpoint_id)
            .fetch_optional(&mut *tx)
            .await?
            .and_then(|r| r.get::<Option<i64>, _>("failing_since"))
        };
        tx.commit().await?;
        Ok(failing_since)
    }

    /// Stop dispatching to an endpoint that kept failing; audited once.
    pub async fn disable_webhook_endpoint(
        &self,
        tenant_id: &str,
        id: &str,
        reason: &str,
    ) -> Result<(), StorageError> {
        let mut tx = self.write.begin().await?;
        let changed = sqlx::query(
            "UPDATE webhook_endpoints SET status = 'disabled', updated_at = $1 \
             WHERE tenant_id = $2 AND id = $3 AND status = 'active'",
        )
        .bind(now_ms())
        .bind(tenant_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if changed.rows_affected() == 1 {
            audit(
                &mut tx,
                Some(tenant_id),
                "system",
                "webhook_endpoint.disable",
                id,
                &serde_json::json!({ "reason": reason }),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// An endpoint's attempts, newest first, at most `limit`, older than
    /// attempt `before` when given (the previous page's last id).
    pub async fn webhook_attempts(
        &self,
        tenant_id: &str,
        endpoint_id: &str,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<WebhookAttempt>, StorageError> {
        let rows = sqlx::query(
            "SELECT id, event_seq, attempt, status_code, error, started_at, finished_at FROM webhook_deliveries \
             WHERE tenant_id = $1 AND endpoint_id = $2 AND ($3 = '' OR id < $3) ORDER BY id DESC LIMIT $4",
        )
        .bind(tenant_id)
        .bind(endpoint_id)
        .bind(before.unwrap_or(""))
        .bind(i64::from(limit.clamp(1, 100)))
        .fetch_all(&self.read)
        .await?;
        Ok(rows.iter().map(attempt_from).collect())
    }

    /// When an event was first attempted at an endpoint.
    pub async fn first_webhook_attempt(
        &self,
        tenant_id: &str,
        endpoint_id: &str,
        event_seq: i64,
    ) -> Result<Option<i64>, StorageError> {
        Ok(sqlx::query(
            "SELECT MIN(started_at) AS first FROM webhook_deliveries \
             WHERE tenant_id = $1 AND endpoint_id = $2 AND event_seq = $3",
        )
        .bind(tenant_id)
        .bind(endpoint_id)
        .bind(event_seq)
        .fetch_one(&self.read)
        .await?
        .get("first"))
    }

    /// Deliver an attempt's event to its endpoint once more (a new job).
    pub async fn retry_webhook_attempt(
        &self,
        tenant_id: &str,
        endpoint_id: &str,
        attempt_id: &str,
    ) -> Result<(), StorageError> {
        let mut tx = self.write.begin().await?;
        let seq: i64 = sqlx::query(
            "SELECT event_seq FROM webhook_deliveries WHERE tenant_id = $1 AND endpoint_id = $2 AND id = $3",
        )
        .bind(tenant_id)
        .bind(endpoint_id)
        .bind(attempt_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StorageError::NotFound("webhook delivery"))?
        .get("event_seq");
        let task = Task::WebhookDelivery {
            endpoint_id: endpoint_id.to_string(),
            event_seq: seq,
        };
        enqueue(&mut tx, tenant_id, &task, now_ms()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Active endpoints of active tenants whose cursor is behind their
    /// tenant's stream, across tenants (the dispatcher's scan).
    pub async fn webhook_dispatch_targets(&self) -> Result<Vec<DispatchTarget>, StorageError> {
        let rows = sqlx::query(
            "SELECT w.id, w.tenant_id, w.types, w.cursor FROM webhook_endpoints w \
             JOIN event_sequences s ON s.tenant_id = w.tenant_id \
             JOIN tenants t ON t.id = w.tenant_id \
             WHERE w.status = 'active' AND t.status = 'active' AND w.cursor < s.seq",
        )
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let types: String = r.get("types");
                let types: Vec<String> = serde_json::from_str(&types).unwrap_or_default();
                DispatchTarget {
                    tenant_id: r.get("tenant_id"),
                    endpoint_id: r.get("id"),
                    types: types.iter().filter_map(|t| EventType::parse(t)).collect(),
                    cursor: r.get("cursor"),
                }
            })
            .collect())
    }

    /// Fan out up to `limit` events after the target's cursor: one job per
    /// event of a subscribed type, and the cursor moved past them all, in
    /// one transaction. The cursor moves only from the value the caller
    /// read, so when another replica got there first this enqueues
    /// nothing. Returns how many events were read and jobs enqueued.
    pub async fn dispatch_webhook_events(
        &self,
        target: &DispatchTarget,
        limit: u32,
    ) -> Result<(usize, usize), StorageError> {
        let mut tx = self.write.begin().await?;
        // Type and number only: nothing is opened here (the worker opens
        // the event it sends).
        let events = sqlx::query(
            "SELECT seq, type FROM events WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(&target.tenant_id)
        .bind(target.cursor)
        .bind(i64::from(limit.max(1)))
        .fetch_all(&mut *tx)
        .await?;
        let Some(last) = events.last().map(|r| r.get::<i64, _>("seq")) else {
            return Ok((0, 0));
        };
        // First, so the row is locked (PostgreSQL) while the jobs are
        // written; a replica that read the same cursor then moves nothing.
        let moved = sqlx::query(
            "UPDATE webhook_endpoints SET cursor = $1 \
             WHERE tenant_id = $2 AND id = $3 AND cursor = $4 AND status = 'active'",
        )
        .bind(last)
        .bind(&target.tenant_id)
        .bind(&target.endpoint_id)
        .bind(target.cursor)
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() == 0 {
            return Ok((0, 0));
        }
        let jobs: Vec<(&str, Task)> = events
            .iter()
            .filter(|r| EventType::parse(r.get("type")).is_some_and(|t| target.types.contains(&t)))
            .map(|r| {
                (
                    target.tenant_id.as_str(),
                    Task::WebhookDelivery {
                        endpoint_id: target.endpoint_id.clone(),
                        event_seq: r.get("seq"),
                    },
                )
            })
            .collect();
        enqueue_many(&mut tx, &jobs, now_ms()).await?;
        tx.commit().await?;
        Ok((events.len(), jobs.len()))
    }
}

fn truncate(error: &str) -> String {
    error.chars().take(500).collect()
}
