//! The durable job queue. A worker leases due jobs (PostgreSQL: `FOR UPDATE
//! SKIP LOCKED`, so replicas never take the same row; SQLite: the single
//! writer connection serializes claims). Every later change to a job is
//! fenced by `lease_owner`: a worker whose lease expired and was taken over
//! can no longer complete, retry or extend it.

use sqlx::Row;

use super::{Db, Dialect, StorageError, now_ms};
use crate::domain::Task;

/// A leased job.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    pub tenant_id: String,
    /// What to do; `Err` says why the stored row cannot be read (the
    /// worker dead-letters it).
    pub task: Result<Task, String>,
    /// Attempts including this one.
    pub attempts: u32,
    /// Who holds the lease.
    pub owner: String,
    /// When this worker got the lease.
    pub claimed_at: std::time::Instant,
}

/// A job as the API shows it (dead letters).
#[derive(Debug, Clone, serde::Serialize)]
pub struct JobRecord {
    pub id: String,
    pub kind: String,
    pub payload: serde_json::Value,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
}

impl Db {
    /// Lease up to `limit` due jobs (pending and due, or leased with an
    /// expired lease) for `lease_ms`, fairly across tenants: each tenant's
    /// oldest due job ranks first, its second-oldest next, and so on, so one
    /// tenant's backlog cannot push another tenant's jobs back. No tenant
    /// gets more than its room: its `max_concurrent_jobs` (or
    /// `default_cap`) less the jobs it has `running` on this replica, so a
    /// tenant at its cap is passed over and one claim never takes a tenant
    /// past it.
    pub async fn claim_jobs(
        &self,
        owner: &str,
        lease_ms: i64,
        limit: u32,
        running: &[(String, usize)],
        default_cap: usize,
    ) -> Result<Vec<Job>, StorageError> {
        let now = now_ms();
        // The jobs each tenant runs here, as bound pairs after the five
        // fixed placeholders; ids come from the caller's own state, bound,
        // never spliced.
        let running_rows = if running.is_empty() {
            "SELECT CAST(NULL AS TEXT), CAST(NULL AS BIGINT) WHERE false".to_string()
        } else {
            let pairs: Vec<String> = (0..running.len())
                .map(|i| format!("(${}, CAST(${} AS BIGINT))", 2 * i + 6, 2 * i + 7))
                .collect();
            format!("VALUES {}", pairs.join(", "))
        };
        // Ranking every due job would cost a sort of the whole queue per
        // claim (a 10,000-job backlog made draining it quadratic). Instead:
        // the tenants with pending jobs, found by walking the (status,
        // tenant_id, next_attempt_at) index one tenant at a time, plus those
        // holding an expired lease (no more than the jobs in flight); then
        // each tenant's oldest `limit` due jobs, read in index order; then
        // the round-robin ranking over those few.
        let busy = "pending_tenants(tenant_id) AS (
                SELECT MIN(tenant_id) FROM outbox WHERE status = 'pending'
                UNION ALL
                SELECT (SELECT MIN(o.tenant_id) FROM outbox o WHERE o.status = 'pending' AND o.tenant_id > p.tenant_id)
                FROM pending_tenants p WHERE p.tenant_id IS NOT NULL),
             busy AS (
                SELECT tenant_id FROM pending_tenants WHERE tenant_id IS NOT NULL
                UNION
                SELECT tenant_id FROM outbox WHERE status = 'leased' AND lease_until < $1)";
        let oldest = "(SELECT x.id, x.tenant_id, x.next_attempt_at FROM outbox x
                  WHERE x.status = 'pending' AND x.tenant_id = b.tenant_id AND x.next_attempt_at <= $1
                  ORDER BY x.next_attempt_at LIMIT $2)";
        let expired = "SELECT y.id, y.tenant_id, y.next_attempt_at FROM outbox y
                  WHERE y.status = 'leased' AND y.tenant_id = b.tenant_id AND y.lease_until < $1";
        let candidates = match self.dialect {
            Dialect::Postgres => format!(
                "SELECT c.id, c.tenant_id, c.next_attempt_at FROM busy b
                 CROSS JOIN LATERAL ({oldest} UNION ALL {expired}) c"
            ),
            // No LATERAL in SQLite: the same per-tenant reads as a
            // correlated list, each id then found by primary key.
            Dialect::Sqlite => format!(
                "SELECT c.id, c.tenant_id, c.next_attempt_at FROM busy b
                 JOIN outbox c ON c.id IN (SELECT id FROM {oldest} UNION ALL SELECT id FROM ({expired}))"
            ),
        };
        let with = format!(
            "WITH RECURSIVE {busy}, candidates AS ({candidates}), running(tenant_id, n) AS ({running_rows})"
        );
        // A tenant's n-th job is taken only while n fits its room.
        let ranked = "SELECT id FROM (
                SELECT c.id, c.next_attempt_at,
                       ROW_NUMBER() OVER (PARTITION BY c.tenant_id ORDER BY c.next_attempt_at) AS turn,
                       COALESCE(t.max_concurrent_jobs, $5) - COALESCE(r.n, 0) AS room
                FROM candidates c
                LEFT JOIN tenants t ON t.id = c.tenant_id
                LEFT JOIN running r ON r.tenant_id = c.tenant_id) q
             WHERE turn <= room
             ORDER BY turn, next_attempt_at LIMIT $2";
        let due = "((o.status = 'pending' AND o.next_attempt_at <= $1) OR (o.status = 'leased' AND o.lease_until < $1))";
        let sql = match self.dialect {
            // Window functions cannot take row locks, so the fair pick is
            // made first and locked after; a row another replica locked
            // meanwhile is skipped (and the due check repeated).
            Dialect::Postgres => format!(
                "{with}, picked AS ({ranked}),
                 due AS (
                    SELECT o.id FROM outbox o WHERE o.id IN (SELECT id FROM picked) AND {due}
                    FOR UPDATE OF o SKIP LOCKED)
                 UPDATE outbox o SET status = 'leased', lease_owner = $3, lease_until = $4, attempts = o.attempts + 1
                 FROM due WHERE o.id = due.id
                 RETURNING o.id, o.tenant_id, o.kind, o.payload, CAST(o.attempts AS BIGINT) AS attempts"
            ),
            Dialect::Sqlite => format!(
                "{with} UPDATE outbox SET status = 'leased', lease_owner = $3, lease_until = $4, attempts = attempts + 1
                 WHERE id IN ({ranked})
                 RETURNING id, tenant_id, kind, payload, CAST(attempts AS BIGINT) AS attempts"
            ),
        };
        // Audited: `sql` is built from literals and numbered placeholders
        // only; every value is bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(i64::from(limit.max(1)))
            .bind(owner)
            .bind(now + lease_ms)
            .bind(default_cap as i64);
        for (tenant, n) in running {
            query = query.bind(tenant).bind(*n as i64);
        }
        let rows = query.fetch_all(&self.write).await?;
        Ok(rows
            .iter()
            .map(|r| {
                let payload: String = r.get("payload");
                let payload = serde_json::from_str(&payload).unwrap_or_default();
                Job {
                    id: r.get("id"),
                    tenant_id: r.get("tenant_id"),
                    task: Task::from_row(r.get::<&str, _>("kind"), &payload),
                    attempts: r.get::<i64, _>("attempts").clamp(0, u32::MAX as i64) as u32,
                    owner: owner.to_string(),
                    claimed_at: std::time::Instant::now(),
                }
            })
            .collect())
    }

    /// Push forward every lease `owner` holds (its heartbeat); returns how
    /// many. A job taken over by another worker is no longer `owner`'s, so
    /// this never revives a lost lease.
    pub async fn extend_leases(&self, owner: &str, lease_ms: i64) -> Result<u64, StorageError> {
        let r = sqlx::query(
            "UPDATE outbox SET lease_until = $1 WHERE status = 'leased' AND lease_owner = $2",
        )
        .bind(now_ms() + lease_ms)
        .bind(owner)
        .execute(&self.write)
        .await?;
        Ok(r.rows_affected())
    }

    /// Push a held lease forward; false when the lease was lost.
    pub async fn extend_lease(&self, job: &Job, lease_ms: i64) -> Result<bool, StorageError> {
        let r = sqlx::query("UPDATE outbox SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 AND status = 'leased'")
            .bind(now_ms() + lease_ms)
            .bind(&job.id)
            .bind(&job.owner)
            .execute(&self.write)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Mark a held job done; false when the lease was lost.
    pub async fn complete_job(&self, job: &Job) -> Result<bool, StorageError> {
        let mut tx = self.write.begin().await?;
        let ok = complete_in(&mut tx, job).await?;
        tx.commit().await?;
        Ok(ok)
    }

    /// Put a held job back for another attempt after `delay_ms`.
    pub async fn retry_job(
        &self,
        job: &Job,
        delay_ms: i64,
        error: &str,
    ) -> Result<bool, StorageError> {
        let r = sqlx::query("UPDATE outbox SET status = 'pending', next_attempt_at = $1, lease_owner = NULL, lease_until = NULL, last_error = $2 WHERE id = $3 AND lease_owner = $4 AND status = 'leased'")
            .bind(now_ms() + delay_ms.max(0))
            .bind(truncate(error))
            .bind(&job.id)
            .bind(&job.owner)
            .execute(&self.write)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Give up on a held job: it stays, as a dead letter, for the API.
    pub async fn dead_letter_job(&self, job: &Job, error: &str) -> Result<bool, StorageError> {
        let r = sqlx::query("UPDATE outbox SET status = 'dead', lease_owner = NULL, lease_until = NULL, last_error = $1 WHERE id = $2 AND lease_owner = $3 AND status = 'leased'")
            .bind(truncate(error))
            .bind(&job.id)
            .bind(&job.owner)
            .execute(&self.write)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// The tenant's jobs in one state (e.g. `dead`), newest first.
    pub async fn list_jobs(
        &self,
        tenant_id: &str,
        status: &str,
        limit: u32,
    ) -> Result<Vec<JobRecord>, StorageError> {
        let rows = sqlx::query("SELECT id, kind, payload, status, CAST(attempts AS BIGINT) AS attempts, last_error, created_at FROM outbox WHERE tenant_id = $1 AND status = $2 ORDER BY created_at DESC, id DESC LIMIT $3")
            .bind(tenant_id)
            .bind(status)
            .bind(i64::from(limit.clamp(1, 500)))
            .fetch_all(&self.read)
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let payload: String = r.get("payload");
                JobRecord {
                    id: r.get("id"),
                    kind: r.get("kind"),
                    payload: serde_json::from_str(&payload).unwrap_or_default(),
                    status: r.get("status"),
                    attempts: r.get("attempts"),
                    last_error: r.get("last_error"),
                    created_at: r.get("created_at"),
                }
            })
            .collect())
    }

    /// Jobs not finished yet (pending or leased), across tenants: the
    /// outbox depth.
    pub async fn outbox_depth(&self) -> Result<i64, StorageError> {
        let r = sqlx::query(
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM outbox WHERE status IN ('pending', 'leased')",
        )
        .fetch_one(&self.read)
        .await?;
        Ok(r.get("n"))
    }
}

impl Job {
    /// The task's kind for logs and metrics (`invalid` for an unreadable row).
    pub fn kind_name(&self) -> &'static str {
        self.task.as_ref().map_or("invalid", |t| t.kind().as_str())
    }
}

/// Enqueue `task` for `tenant_id`, due now, inside the caller's
/// transaction (so the change that asks for it and the job commit
/// together).
pub(crate) async fn enqueue(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant_id: &str,
    task: &Task,
    now: i64,
) -> Result<(), StorageError> {
    enqueue_many(tx, &[(tenant_id, task.clone())], now).await
}

/// Enqueue several jobs in one statement, inside the caller's transaction.
pub(crate) async fn enqueue_many(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tasks: &[(&str, Task)],
    now: i64,
) -> Result<(), StorageError> {
    if tasks.is_empty() {
        return Ok(());
    }
    let rows: Vec<serde_json::Value> = tasks
        .iter()
        .map(|(tenant_id, task)| {
            serde_json::json!({
                "id": super::new_id("job"), "t": tenant_id, "k": task.kind().as_str(),
                "p": task.payload().to_string(),
            })
        })
        .collect();
    super::execute_rows(
        tx,
        "INSERT INTO outbox (id, tenant_id, kind, payload, status, attempts, next_attempt_at, created_at) \
         SELECT value ->> 'id', value ->> 't', value ->> 'k', value ->> 'p', 'pending', 0, $2, $2 FROM {rows}",
        rows,
        now,
    )
    .await
}

/// A job to enqueue already leased to `owner` (the worker that will run it
/// next, without a claim round trip).
pub(crate) struct LeasedJob {
    job: Job,
    lease_ms: i64,
}

impl LeasedJob {
    pub(crate) fn new(tenant_id: &str, task: Task, owner: &str, lease_ms: i64) -> Self {
        LeasedJob {
            job: Job {
                id: super::new_id("job"),
                tenant_id: tenant_id.to_string(),
                task: Ok(task),
                attempts: 1,
                owner: owner.to_string(),
                claimed_at: std::time::Instant::now(),
            },
            lease_ms,
        }
    }
}

/// Enqueue leased jobs in one statement, inside the caller's transaction;
/// returns them, in order, as their workers hold them.
pub(crate) async fn enqueue_leased_many(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    jobs: Vec<LeasedJob>,
    now: i64,
) -> Result<Vec<Job>, StorageError> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<serde_json::Value> = jobs
        .iter()
        .filter_map(|l| {
            let task = l.job.task.as_ref().ok()?;
            Some(serde_json::json!({
                "id": l.job.id, "t": l.job.tenant_id, "k": task.kind().as_str(),
                "p": task.payload().to_string(), "o": l.job.owner, "u": now + l.lease_ms,
            }))
        })
        .collect();
    super::execute_rows(
        tx,
        "INSERT INTO outbox (id, tenant_id, kind, payload, status, attempts, next_attempt_at, lease_owner, lease_until, created_at) \
         SELECT value ->> 'id', value ->> 't', value ->> 'k', value ->> 'p', 'leased', 1, $2, value ->> 'o', CAST(value ->> 'u' AS BIGINT), $2 FROM {rows}",
        rows,
        now,
    )
    .await?;
    Ok(jobs.into_iter().map(|l| l.job).collect())
}

/// Complete held jobs in one statement inside the caller's transaction, so
/// their effects and their completions commit together; returns the ids of
/// those whose lease was still theirs (the others were taken over).
pub(crate) async fn complete_many(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    jobs: &[&Job],
) -> Result<std::collections::HashSet<String>, StorageError> {
    if jobs.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<serde_json::Value> = jobs
        .iter()
        .map(|j| serde_json::json!({ "id": j.id, "o": j.owner }))
        .collect();
    let sql = format!(
        "UPDATE outbox SET status = 'done', lease_owner = NULL, lease_until = NULL \
         WHERE status = 'leased' AND (id, lease_owner) IN (SELECT value ->> 'id', value ->> 'o' FROM {}) \
         RETURNING id",
        super::json_rows(tx)
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(serde_json::Value::Array(rows).to_string())
        .fetch_all(&mut **tx)
        .await?;
    Ok(rows.iter().map(|r| r.get::<String, _>("id")).collect())
}

/// Complete a held job inside the caller's transaction, so the job's
/// effects and its completion commit together.
pub(crate) async fn complete_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    job: &Job,
) -> Result<bool, StorageError> {
    let r = sqlx::query("UPDATE outbox SET status = 'done', lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2 AND status = 'leased'")
        .bind(&job.id)
        .bind(&job.owner)
        .execute(&mut **tx)
        .await?;
    Ok(r.rows_affected() == 1)
}

fn truncate(error: &str) -> String {
    error.chars().take(2000).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn db_with_jobs(jobs: &[(&str, i64)]) -> (Db, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&crate::storage::default_url(dir.path()))
            .await
            .unwrap();
        db.migrate().await.unwrap();
        for t in ["noisy", "quiet"] {
            sqlx::query("INSERT INTO tenants (id, slug, name, status, created_at) VALUES ($1, $1, $1, 'active', 0)")
                .bind(t)
                .execute(&db.write)
                .await
                .unwrap();
        }
        for (i, (tenant, at)) in jobs.iter().enumerate() {
            sqlx::query("INSERT INTO outbox (id, tenant_id, kind, payload, next_attempt_at, created_at) VALUES ($1, $2, 'message.deliver', '{}', $3, $3)")
                .bind(format!("job-{i:04}"))
                .bind(*tenant)
                .bind(*at)
                .execute(&db.write)
                .await
                .unwrap();
        }
        (db, dir)
    }

    #[tokio::test]
    async fn claims_are_fair_across_tenants_and_skip_tenants_at_their_cap() {
        // A backlog of 50 old jobs from one tenant, then one from another.
        let mut jobs: Vec<(&str, i64)> = (0..50).map(|i| ("noisy", 1_000 + i)).collect();
        jobs.push(("quiet", 5_000));
        let (db, _dir) = db_with_jobs(&jobs).await;
        let claimed = db.claim_jobs("w1", 60_000, 2, &[], 8).await.unwrap();
        let tenants: Vec<&str> = claimed.iter().map(|j| j.tenant_id.as_str()).collect();
        assert!(tenants.contains(&"quiet"), "{tenants:?}");
        assert!(tenants.contains(&"noisy"), "{tenants:?}");
        // The noisy tenant's oldest job came first among its own.
        let noisy = claimed.iter().find(|j| j.tenant_id == "noisy").unwrap();
        assert_eq!(noisy.id, "job-0000");

        // A tenant at its cap is passed over, whatever its backlog.
        let claimed = db
            .claim_jobs("w2", 60_000, 10, &[("noisy".to_string(), 8)], 8)
            .await
            .unwrap();
        assert!(claimed.is_empty(), "{claimed:?}");

        // One claim never takes a tenant past its room: 3 running of 8.
        let claimed = db
            .claim_jobs("w3", 60_000, 10, &[("noisy".to_string(), 3)], 8)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 5, "{claimed:?}");

        // A tenant's own cap wins over the default.
        sqlx::query("UPDATE tenants SET max_concurrent_jobs = 2 WHERE id = 'noisy'")
            .execute(&db.write)
            .await
            .unwrap();
        let claimed = db.claim_jobs("w4", 60_000, 10, &[], 8).await.unwrap();
        assert_eq!(claimed.len(), 2, "{claimed:?}");
    }
}
