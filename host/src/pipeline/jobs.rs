//! What an outbound job runs with ([`DeliveryConfig`]: attempts, backoff,
//! leases) and what becomes of it ([`JobOutcome`], which the worker
//! records). Shared by the outbound pipeline and the event-webhook stage;
//! no stage's logic lives here.

use std::time::Duration;

use crate::storage::Job;

/// How long a job stays leased without its worker's heartbeat: the longest a
/// crashed process's jobs wait before another worker runs them.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(20);

/// Retry and lease settings of outbound jobs.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Attempts before a job becomes a dead letter.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt, with jitter
    /// ([`crate::outbound::backoff`]).
    pub base_delay: Duration,
    /// Longest retry delay.
    pub max_delay: Duration,
    /// Whole-request timeout of a provider call.
    pub request_timeout: Duration,
    /// How long a job stays leased without a heartbeat (see
    /// [`WorkerConfig::lease`](crate::worker::WorkerConfig::lease)); also the
    /// lease of a follow-up job handed to the same worker.
    pub lease: Duration,
    /// How long an event webhook is retried after its event, and how long
    /// an endpoint may fail before it is disabled
    /// ([`crate::pipeline::webhook_delivery`]).
    pub webhook_retry_window: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            max_attempts: 8,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(600),
            request_timeout: Duration::from_secs(15),
            lease: DEFAULT_LEASE,
            webhook_retry_window: Duration::from_secs(24 * 3600),
        }
    }
}

impl DeliveryConfig {
    /// The delay before a job's next attempt (see [`crate::outbound::backoff`]).
    pub fn backoff(&self, attempt: u32) -> Duration {
        crate::outbound::backoff(self.base_delay, self.max_delay, attempt)
    }

    /// The lease a follow-up job gets, in the unit storage keeps.
    pub fn lease_ms(&self) -> i64 {
        self.lease.as_millis() as i64
    }

    /// After a failed attempt of `job`: the retry's delay (at least what
    /// the provider asked for, at most `max_delay`), or `None` when the
    /// job has had its last attempt.
    pub fn retry_delay(&self, job: &Job, retry_after: Option<Duration>) -> Option<Duration> {
        (job.attempts < self.max_attempts).then(|| {
            self.backoff(job.attempts)
                .max(retry_after.unwrap_or_default().min(self.max_delay))
        })
    }

    /// `Retry` after the usual backoff, or `Dead` after the last attempt.
    pub fn retry_or_dead(&self, job: &Job, error: String) -> JobOutcome {
        match self.retry_delay(job, None) {
            Some(delay) => JobOutcome::Retry { delay, error },
            None => JobOutcome::Dead { error },
        }
    }
}

/// What became of a job.
#[derive(Debug)]
pub enum JobOutcome {
    /// Finished (every part sent, or ended in a recorded terminal state).
    Done,
    /// Try again after the delay.
    Retry { delay: Duration, error: String },
    /// Give up: a dead letter.
    Dead { error: String },
    /// Another worker owns the job now.
    LeaseLost,
    /// Done, and this follow-up job (already leased to the same worker)
    /// runs next.
    Then(Job),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(attempts: u32) -> Job {
        Job {
            id: "j".into(),
            tenant_id: "t".into(),
            task: Err("unused".into()),
            attempts,
            owner: "w".into(),
            claimed_at: std::time::Instant::now(),
        }
    }

    #[test]
    fn a_retry_waits_for_the_provider_up_to_the_cap_and_ends_after_the_last_attempt() {
        let config = DeliveryConfig {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_secs(60),
            ..DeliveryConfig::default()
        };
        // The provider's Retry-After wins over a shorter backoff …
        assert_eq!(
            config.retry_delay(&job(1), Some(Duration::from_secs(30))),
            Some(Duration::from_secs(30))
        );
        // … but never past the longest delay.
        assert_eq!(
            config.retry_delay(&job(1), Some(Duration::from_secs(3600))),
            Some(Duration::from_secs(60))
        );
        let plain = config.retry_delay(&job(2), None).unwrap();
        assert!(plain <= config.max_delay, "{plain:?}");
        // The last attempt: no retry, the job is a dead letter.
        assert_eq!(config.retry_delay(&job(3), None), None);
        assert!(matches!(
            config.retry_or_dead(&job(3), "boom".into()),
            JobOutcome::Dead { error } if error == "boom"
        ));
        assert!(matches!(
            config.retry_or_dead(&job(2), "boom".into()),
            JobOutcome::Retry { .. }
        ));
    }
}
