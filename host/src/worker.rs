//! Background workers: lease due jobs from the outbox and run them through
//! the reply or delivery pipeline. Any number of workers, in any number of
//! replicas, may run against one database: leases (and `SKIP LOCKED` on
//! PostgreSQL) keep each job with one worker at a time, and every write a
//! job makes is fenced by its lease.

use std::sync::Arc;
use std::time::Duration;

use std::collections::HashMap;

use parking_lot::Mutex;
use tokio::sync::{Notify, watch};
use tokio::task::{JoinHandle, JoinSet};
use tracing::Instrument;

use crate::orchestrator::Responder;
use crate::pipeline::Pipeline;
use crate::pipeline::delivery::Sender;
use crate::pipeline::jobs::{DEFAULT_LEASE, DeliveryConfig, JobOutcome};
use crate::pipeline::outbound;
use crate::storage::{Job, new_secret_id};

/// Worker settings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Concurrent workers in this process (0: none; the process only
    /// accepts webhooks and another replica delivers).
    pub workers: usize,
    /// How often an idle worker looks for due jobs (it is also woken when
    /// a webhook stores a message).
    pub poll_interval: Duration,
    /// Jobs one worker runs at once (each on its own task; a claim takes
    /// as many as there is room for).
    pub batch: u32,
    /// How long a claimed job stays leased without a heartbeat. Each worker
    /// renews its leases every quarter of this while it lives, so a lease
    /// need not outlast the longest job (an LLM call with its retries), only
    /// a worker's silence: the jobs of a worker that died (a crash, a
    /// SIGKILL, a lost replica) are taken over within one lease.
    pub lease: Duration,
    /// Retry policy for deliveries and processing.
    pub delivery: DeliveryConfig,
    /// Jobs one tenant may run at once here (`None`: half of the
    /// process's `workers × batch`); a tenant's `max_concurrent_jobs`
    /// overrides it.
    pub jobs_per_tenant: Option<usize>,
}

impl WorkerConfig {
    /// Jobs a tenant without its own `max_concurrent_jobs` may run at once
    /// here.
    pub fn default_jobs_per_tenant(&self) -> usize {
        self.jobs_per_tenant
            .unwrap_or(self.workers * self.batch as usize / 2)
            .max(1)
    }
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            workers: 4,
            poll_interval: Duration::from_millis(250),
            batch: 16,
            lease: DEFAULT_LEASE,
            delivery: DeliveryConfig::default(),
            jobs_per_tenant: None,
        }
    }
}

/// Running workers.
pub struct Workers {
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Start `config.workers` workers.
    pub fn spawn(
        pipeline: Pipeline,
        responder: Arc<Responder>,
        sender: Arc<Sender>,
        config: WorkerConfig,
        wake: Arc<Notify>,
    ) -> Workers {
        let (stop, rx) = watch::channel(false);
        let shares = Arc::new(JobShares::new(config.default_jobs_per_tenant()));
        let handles = (0..config.workers)
            .map(|n| {
                let worker = Worker {
                    owner: format!("w{n}-{}", new_secret_id("lease")),
                    pipeline: pipeline.clone(),
                    responder: responder.clone(),
                    sender: sender.clone(),
                    config: config.clone(),
                    wake: wake.clone(),
                    shares: shares.clone(),
                };
                tokio::spawn(worker.run(rx.clone()))
            })
            .collect();
        Workers { stop, handles }
    }

    /// Finish the jobs in hand, then stop.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for h in self.handles {
            let _ = h.await;
        }
    }
}

/// Renew every lease `owner` holds, every quarter lease, for as long as its
/// worker runs. A task beside the worker (not inside its job), so a job busy
/// for minutes keeps its lease, and a process that dies stops renewing.
async fn heartbeat(db: crate::storage::Db, owner: String, lease: Duration) {
    let every = lease / 4;
    let lease_ms = lease.as_millis() as i64;
    loop {
        tokio::time::sleep(every).await;
        if let Err(e) = db.extend_leases(&owner, lease_ms).await {
            tracing::warn!(%owner, error = %e, "renewing job leases failed; they expire unless the next renewal succeeds");
        }
    }
}

#[derive(Clone)]
struct Worker {
    owner: String,
    pipeline: Pipeline,
    responder: Arc<Responder>,
    sender: Arc<Sender>,
    config: WorkerConfig,
    wake: Arc<Notify>,
    shares: Arc<JobShares>,
}

/// How many jobs each tenant runs on this replica now. Claims pass these
/// counts to the database, which gives a tenant no more than its room (its
/// `max_concurrent_jobs`, by default half of the process's job slots, less
/// what it runs), so a tenant whose jobs are slow (a flood, a deliberately
/// slow LLM endpoint) leaves slots for everyone else.
struct JobShares {
    running: Mutex<HashMap<String, usize>>,
    default_cap: usize,
    /// Held from reading the counts until the claimed jobs are counted, so
    /// two workers of this replica never claim from the same counts (which
    /// could take a tenant past its cap together).
    claiming: tokio::sync::Mutex<()>,
}

impl JobShares {
    fn new(default_cap: usize) -> Self {
        JobShares {
            running: Mutex::new(HashMap::new()),
            default_cap,
            claiming: tokio::sync::Mutex::new(()),
        }
    }

    /// Each tenant with jobs running here, and how many.
    fn running(&self) -> Vec<(String, usize)> {
        self.running
            .lock()
            .iter()
            .map(|(t, n)| (t.clone(), *n))
            .collect()
    }

    fn start(self: &Arc<Self>, tenant: &str) -> JobSlot {
        *self.running.lock().entry(tenant.to_string()).or_insert(0) += 1;
        JobSlot {
            shares: self.clone(),
            tenant: tenant.to_string(),
        }
    }
}

/// One running job's place in its tenant's count, given back on drop.
struct JobSlot {
    shares: Arc<JobShares>,
    tenant: String,
}

impl Drop for JobSlot {
    fn drop(&mut self) {
        let mut running = self.shares.running.lock();
        if let Some(n) = running.get_mut(&self.tenant) {
            *n -= 1;
            if *n == 0 {
                running.remove(&self.tenant);
            }
        }
    }
}

impl Worker {
    /// Claim and run jobs until stopped, renewing this worker's leases
    /// meanwhile (including while it finishes the jobs in hand).
    async fn run(self, stop: watch::Receiver<bool>) {
        let beat = tokio::spawn(heartbeat(
            self.pipeline.db.clone(),
            self.owner.clone(),
            self.config.lease,
        ));
        self.work(stop).await;
        beat.abort();
    }

    async fn work(&self, mut stop: watch::Receiver<bool>) {
        let slots = self.config.batch.max(1) as usize;
        let mut running = JoinSet::new();
        loop {
            if *stop.borrow() {
                break;
            }
            // Claim when at least half the slots are free (or none run):
            // one claim per job finishing would cost a claim query per job.
            let room = slots - running.len();
            let mut idle = false;
            if running.is_empty() || room >= slots.div_ceil(2) {
                let claiming = self.shares.claiming.lock().await;
                let jobs = self.claim(room).await;
                idle = jobs.len() < room;
                for job in jobs {
                    let slot = self.shares.start(&job.tenant_id);
                    running.spawn(self.clone().run_chain(job, slot));
                }
                drop(claiming);
            }
            tokio::select! {
                _ = stop.changed() => {}
                Some(_) = running.join_next(), if !running.is_empty() => {
                    // Take every other finished job too before claiming.
                    while running.try_join_next().is_some() {}
                }
                _ = self.wake.notified(), if idle => {}
                _ = tokio::time::sleep(self.config.poll_interval), if idle => {}
            }
        }
        // Finish the jobs in hand.
        while running.join_next().await.is_some() {}
    }

    /// Lease up to `room` due jobs, within each tenant's room here.
    async fn claim(&self, room: usize) -> Vec<Job> {
        let t = std::time::Instant::now();
        let claimed = self
            .pipeline
            .db
            .claim_jobs(
                &self.owner,
                self.config.lease.as_millis() as i64,
                room as u32,
                &self.shares.running(),
                self.shares.default_cap,
            )
            .await;
        crate::metrics::metrics().db("claim_jobs", t.elapsed());
        claimed.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "claiming jobs failed");
            Vec::new()
        })
    }

    /// Run `job`, then the follow-up it leased to this worker (a reply's
    /// delivery: no claim round trip, no poll delay), holding the tenant's
    /// slot throughout.
    async fn run_chain(self, job: Job, _slot: JobSlot) {
        let mut next = Some(job);
        while let Some(job) = next.take() {
            let span = tracing::info_span!("job", id = %job.id, kind = job.kind_name(), tenant = %job.tenant_id, attempt = job.attempts);
            // Each job on its own task: a bug that panics fails that job
            // (it is retried after its lease), not this worker.
            let worker = self.clone();
            let id = job.id.clone();
            // Background work: its plugin calls wait their turn behind the
            // tenant's webhooks rather than being refused or crowding them out.
            let run = tokio::spawn(
                crate::runtime::background(async move { worker.run_job(job).await })
                    .instrument(span),
            );
            match run.await {
                Ok(follow_up) => next = follow_up,
                Err(e) => {
                    tracing::error!(job = %id, error = %e, "job panicked; it will be retried when its lease expires")
                }
            }
        }
    }

    /// Run one job and record its outcome; returns the follow-up job, if
    /// the outcome leased one to this worker.
    async fn run_job(&self, job: Job) -> Option<Job> {
        let p = &self.pipeline;
        let outcome = outbound::run(
            p,
            &self.responder,
            &self.sender,
            &self.config.delivery,
            &job,
        )
        .await;
        crate::metrics::metrics().job(
            job.kind_name(),
            match &outcome {
                JobOutcome::Done | JobOutcome::Then(_) => "done",
                JobOutcome::Retry { .. } => "retry",
                JobOutcome::Dead { .. } => "dead",
                JobOutcome::LeaseLost => "lease_lost",
            },
        );
        let recorded = match &outcome {
            JobOutcome::Done | JobOutcome::Then(_) => Ok(true),
            JobOutcome::LeaseLost => Ok(false),
            JobOutcome::Retry { delay, error } => {
                tracing::info!(job = %job.id, kind = job.kind_name(), attempt = job.attempts, delay_ms = delay.as_millis() as u64, %error, "job will be retried");
                p.db.retry_job(&job, delay.as_millis() as i64, error).await
            }
            JobOutcome::Dead { error } => {
                tracing::warn!(job = %job.id, kind = job.kind_name(), attempt = job.attempts, %error, "job dead-lettered");
                p.db.dead_letter_job(&job, error).await
            }
        };
        match recorded {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(job = %job.id, "lease lost to another worker; leaving the job to it")
            }
            Err(e) => tracing::warn!(job = %job.id, error = %e, "recording a job outcome failed"),
        }
        match outcome {
            JobOutcome::Then(next) => Some(next),
            _ => None,
        }
    }
}
