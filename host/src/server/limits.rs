//! Per-tenant API rate limits (a token bucket per tenant, per replica) and
//! the short-lived caches the tenant extractor needs on every request: plan
//! limits and API keys' last use (written at most once a minute per key).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::storage::{Db, StorageError, TenantLimits};

/// How long plan limits are cached.
const LIMITS_TTL: Duration = Duration::from_secs(5);
/// How often a key's `last_used_at` is written.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct ApiLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
    limits: Mutex<HashMap<String, (Instant, TenantLimits)>>,
    touched: Mutex<HashMap<String, Instant>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A refused request: retry after this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub limit: u64,
    pub retry_after_secs: u64,
}

impl ApiLimiter {
    /// The tenant's plan limits, cached briefly.
    pub async fn limits(&self, db: &Db, tenant_id: &str) -> Result<TenantLimits, StorageError> {
        if let Some((at, l)) = self.limits.lock().get(tenant_id)
            && at.elapsed() < LIMITS_TTL
        {
            return Ok(*l);
        }
        let l = db.tenant_limits(tenant_id).await?;
        let mut cache = self.limits.lock();
        if cache.len() > 100_000 {
            cache.clear();
        }
        cache.insert(tenant_id.to_string(), (Instant::now(), l));
        Ok(l)
    }

    /// Take one request from the tenant's bucket of `rps` per second (a
    /// burst of one second's worth).
    pub fn check(&self, tenant_id: &str, rps: u64) -> Result<(), Limited> {
        let rps = rps.max(1) as f64;
        let now = Instant::now();
        let mut buckets = self.buckets.lock();
        let b = buckets.entry(tenant_id.to_string()).or_insert(Bucket {
            tokens: rps,
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rps).min(rps);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Limited {
                limit: rps as u64,
                retry_after_secs: ((1.0 - b.tokens) / rps).ceil().max(1.0) as u64,
            })
        }
    }

    /// Whether the key's last use should be written now.
    pub fn should_touch(&self, key_id: &str) -> bool {
        let mut touched = self.touched.lock();
        match touched.get(key_id) {
            Some(at) if at.elapsed() < TOUCH_EVERY => false,
            _ => {
                if touched.len() > 100_000 {
                    touched.clear();
                }
                touched.insert(key_id.to_string(), Instant::now());
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ApiLimiter;

    #[test]
    fn a_bucket_allows_its_rate_then_refuses_with_a_wait() {
        let l = ApiLimiter::default();
        for _ in 0..3 {
            assert!(l.check("t", 3).is_ok());
        }
        let refused = l.check("t", 3).unwrap_err();
        assert_eq!(refused.limit, 3);
        assert_eq!(refused.retry_after_secs, 1);
        // Other tenants have their own bucket.
        assert!(l.check("u", 3).is_ok());
    }

    #[test]
    fn keys_are_touched_at_most_once_a_minute() {
        let l = ApiLimiter::default();
        assert!(l.should_touch("k"));
        assert!(!l.should_touch("k"));
        assert!(l.should_touch("other"));
    }
}
