//! Who may run a plugin call now. Every call first takes a permit from its
//! tenant's gate (at most the tenant's `max_concurrent_plugin_calls` at
//! once), then one from the platform gate (at most the instance pool's
//! size). A tenant that floods waits behind its own gate, in a bounded
//! queue; past that queue, or after waiting [`Fairness::max_wait`], it gets
//! [`PluginError::Busy`] (its webhooks answer 503 with `Retry-After`), and no
//! other tenant's call waits on it.
//!
//! Background work (the outbox workers' replies and deliveries, run inside
//! [`background`]) waits rather than being refused, but in a line of its
//! own: at most the tenant's share of background calls stand in the gate's
//! queue at once, so however many jobs a tenant has in flight, its
//! webhooks find the queue free for them and are never refused because of
//! its own backlog.
//!
//! Compiles have their own platform-wide gate: a compile holds a core for
//! tens to hundreds of milliseconds, so only a few run at once however many
//! uploads or cold loads arrive.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::PluginError;

/// Concurrency shares (platform defaults; a tenant's own cap overrides
/// `calls_per_tenant`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fairness {
    /// Plugin calls one tenant may run at once.
    pub calls_per_tenant: u32,
    /// Calls of one tenant that may wait for a permit; more are refused at
    /// once.
    pub queue_per_tenant: u32,
    /// How long a call waits for its tenant's permit before it is refused.
    pub max_wait: Duration,
    /// How long a background call waits (its line, then the gate) before
    /// it is refused.
    pub background_max_wait: Duration,
    /// Compiles that may run at once, platform-wide.
    pub compiles: u32,
}

impl Default for Fairness {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get() as u32);
        Fairness {
            // No tenant may keep more than half the cores busy with its
            // plugins, so a flood of CPU-burning calls leaves room for every
            // other tenant's.
            calls_per_tenant: (cores / 2).max(1),
            queue_per_tenant: 64,
            max_wait: Duration::from_secs(5),
            background_max_wait: Duration::from_secs(60),
            compiles: (cores / 2).max(1),
        }
    }
}

struct Gate {
    permits: Arc<Semaphore>,
    size: u32,
    waiting: AtomicUsize,
    /// Background calls' line in front of the gate (`size` places).
    background: Arc<Semaphore>,
}

tokio::task_local! {
    static BACKGROUND: ();
}

/// Run `work` as background work: its plugin calls wait for their
/// tenant's share (up to [`Fairness::background_max_wait`]) instead of
/// being refused when the queue is full, and stand in the queue no more
/// than the tenant's share at a time.
pub async fn background<F: std::future::Future>(work: F) -> F::Output {
    BACKGROUND.scope((), work).await
}

fn in_background() -> bool {
    BACKGROUND.try_with(|_| ()).is_ok()
}

/// Permits for one call: its tenant's and the platform's (and a background
/// call's place in its line); released on drop.
#[derive(Debug)]
pub struct CallPermit {
    _tenant: OwnedSemaphorePermit,
    _platform: OwnedSemaphorePermit,
    _line: Option<OwnedSemaphorePermit>,
}

/// The per-tenant gates and the platform gate.
pub(crate) struct Gates {
    fairness: Fairness,
    /// Tenants with an upload being validated.
    uploads: Arc<Mutex<std::collections::HashSet<String>>>,
    tenants: Mutex<HashMap<String, Arc<Gate>>>,
    platform: Arc<Semaphore>,
    compiles: CompileGate,
}

/// Gates of tenants with no call in flight are dropped once this many
/// exist, so the map stays small however many tenants there are.
const MAX_IDLE_GATES: usize = 4_096;

impl Gates {
    pub(crate) fn new(fairness: Fairness, platform_slots: u32) -> Self {
        Gates {
            fairness,
            uploads: Arc::default(),
            tenants: Mutex::new(HashMap::new()),
            platform: Arc::new(Semaphore::new(platform_slots.max(1) as usize)),
            compiles: CompileGate::new(fairness.compiles),
        }
    }

    pub(crate) fn fairness(&self) -> Fairness {
        self.fairness
    }

    fn gate(&self, tenant: &str, size: u32) -> Arc<Gate> {
        let mut tenants = self.tenants.lock();
        if let Some(g) = tenants.get(tenant)
            && g.size == size
        {
            return g.clone();
        }
        if tenants.len() >= MAX_IDLE_GATES {
            // A gate nobody holds a permit of or waits on is only its
            // semaphore; it is recreated on the tenant's next call.
            tenants.retain(|_, g| {
                Arc::strong_count(g) > 1 || g.permits.available_permits() < g.size as usize
            });
        }
        // A changed cap takes effect with a fresh gate; calls holding the
        // old one's permits finish undisturbed.
        let g = Arc::new(Gate {
            permits: Arc::new(Semaphore::new(size as usize)),
            size,
            waiting: AtomicUsize::new(0),
            background: Arc::new(Semaphore::new(size as usize)),
        });
        tenants.insert(tenant.to_string(), g.clone());
        g
    }

    /// Wait for `tenant`'s share (`cap` overrides the default), then for a
    /// platform slot.
    pub(crate) async fn acquire(
        &self,
        tenant: &str,
        cap: Option<u32>,
    ) -> Result<CallPermit, PluginError> {
        let size = cap.unwrap_or(self.fairness.calls_per_tenant).max(1);
        let gate = self.gate(tenant, size);
        let busy = || PluginError::Busy {
            retry_after_secs: 1,
        };
        if in_background() {
            // A place in the background line first, then a patient wait:
            // the line keeps background calls to `size` in the queue.
            let deadline = tokio::time::Instant::now() + self.fairness.background_max_wait;
            let waited = tokio::time::timeout_at(deadline, async {
                let line = gate.background.clone().acquire_owned().await.ok()?;
                let tenant = gate.permits.clone().acquire_owned().await.ok()?;
                Some((line, tenant))
            })
            .await;
            let Ok(Some((line, tenant_permit))) = waited else {
                return Err(busy());
            };
            return self.platform_permit(tenant_permit, Some(line)).await;
        }
        let tenant_permit = match gate.permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if gate.waiting.load(Ordering::Relaxed) >= self.fairness.queue_per_tenant as usize {
                    return Err(busy());
                }
                gate.waiting.fetch_add(1, Ordering::Relaxed);
                let waited = tokio::time::timeout(
                    self.fairness.max_wait,
                    gate.permits.clone().acquire_owned(),
                )
                .await;
                gate.waiting.fetch_sub(1, Ordering::Relaxed);
                match waited {
                    Ok(Ok(p)) => p,
                    _ => {
                        return Err(busy());
                    }
                }
            }
        };
        self.platform_permit(tenant_permit, None).await
    }

    /// The platform slot for a call that holds its tenant's permit.
    async fn platform_permit(
        &self,
        tenant: OwnedSemaphorePermit,
        line: Option<OwnedSemaphorePermit>,
    ) -> Result<CallPermit, PluginError> {
        // Every call ends within its deadline, so this wait is bounded by
        // the longest deadline; it is FIFO across tenants, and each tenant
        // holds at most its share of the slots.
        let platform =
            self.platform.clone().acquire_owned().await.map_err(|_| {
                PluginError::Unavailable("the plugin runtime is shutting down".into())
            })?;
        Ok(CallPermit {
            _tenant: tenant,
            _platform: platform,
            _line: line,
        })
    }

    /// Claim `tenant`'s one upload validation at a time; `None` while
    /// another is running.
    pub(crate) fn try_upload(&self, tenant: &str) -> Option<UploadSlot> {
        if !self.uploads.lock().insert(tenant.to_string()) {
            return None;
        }
        Some(UploadSlot {
            uploads: self.uploads.clone(),
            tenant: tenant.to_string(),
        })
    }

    /// Hold a compile slot while `f` runs (a blocking wait: compiles run on
    /// blocking threads).
    pub(crate) fn compiling<R>(&self, f: impl FnOnce() -> R) -> R {
        self.compiles.run(f)
    }
}

/// A tenant's upload validation in progress; released on drop.
#[derive(Debug)]
pub struct UploadSlot {
    uploads: Arc<Mutex<std::collections::HashSet<String>>>,
    tenant: String,
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        self.uploads.lock().remove(&self.tenant);
    }
}

/// A counting semaphore for blocking threads.
struct CompileGate {
    running: Mutex<u32>,
    freed: Condvar,
    max: u32,
}

impl CompileGate {
    fn new(max: u32) -> Self {
        CompileGate {
            running: Mutex::new(0),
            freed: Condvar::new(),
            max: max.max(1),
        }
    }

    fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        {
            let mut running = self.running.lock();
            while *running >= self.max {
                self.freed.wait(&mut running);
            }
            *running += 1;
        }
        struct Release<'a>(&'a CompileGate);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                *self.0.running.lock() -= 1;
                self.0.freed.notify_one();
            }
        }
        let _release = Release(self);
        f()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fairness(calls: u32, queue: u32) -> Fairness {
        Fairness {
            calls_per_tenant: calls,
            queue_per_tenant: queue,
            max_wait: Duration::from_millis(50),
            background_max_wait: Duration::from_millis(50),
            compiles: 1,
        }
    }

    #[tokio::test]
    async fn a_tenant_over_its_share_is_refused_and_others_are_not() {
        let gates = Gates::new(fairness(1, 0), 8);
        let held = gates.acquire("a", None).await.expect("first call of a");
        // No queue: a's second call is refused at once ...
        assert!(matches!(
            gates.acquire("a", None).await,
            Err(PluginError::Busy { .. })
        ));
        // ... while b gets its own share.
        let b = gates.acquire("b", None).await.expect("b is unaffected");
        drop((held, b));
        gates
            .acquire("a", None)
            .await
            .expect("a's permit came back");
    }

    #[tokio::test]
    async fn a_waiting_call_gets_the_permit_when_it_is_released() {
        let gates = Arc::new(Gates::new(
            Fairness {
                max_wait: Duration::from_secs(5),
                ..fairness(1, 4)
            },
            8,
        ));
        let held = gates.acquire("a", None).await.unwrap();
        let g = gates.clone();
        let waiter = tokio::spawn(async move { g.acquire("a", None).await.map(|_| ()) });
        tokio::task::yield_now().await;
        drop(held);
        waiter.await.unwrap().expect("the queued call ran");
    }

    #[tokio::test]
    async fn background_calls_wait_in_a_line_that_leaves_the_queue_to_webhooks() {
        // A share of 1 and a queue of 1: one waiting call fills the queue.
        let gates = Arc::new(Gates::new(
            Fairness {
                max_wait: Duration::from_secs(5),
                background_max_wait: Duration::from_secs(5),
                ..fairness(1, 1)
            },
            8,
        ));
        let held = gates.acquire("a", None).await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let call = |name: &'static str| {
            let (g, order) = (gates.clone(), order.clone());
            async move {
                let permit = g.acquire("a", None).await?;
                order.lock().push(name);
                drop(permit);
                Ok::<_, PluginError>(())
            }
        };
        // Eight background calls: one stands in the gate's queue, seven
        // wait in their line behind it; none is refused.
        let jobs: Vec<_> = (0..8)
            .map(|_| tokio::spawn(background(call("job"))))
            .collect();
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        // A webhook's call still finds the queue's place free, and runs
        // second, not ninth.
        let webhook = tokio::spawn(call("webhook"));
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(
            !webhook.is_finished(),
            "the webhook's call waits, it is not refused"
        );
        drop(held);
        webhook.await.unwrap().expect("the webhook's call ran");
        for j in jobs {
            j.await.unwrap().expect("every background call ran");
        }
        let order = order.lock().clone();
        assert_eq!(order.len(), 9);
        assert_eq!(
            order.iter().position(|n| *n == "webhook"),
            Some(1),
            "{order:?}"
        );
    }

    #[tokio::test]
    async fn a_tenant_cap_overrides_the_default() {
        let gates = Gates::new(fairness(1, 0), 8);
        let _one = gates.acquire("a", Some(2)).await.unwrap();
        let _two = gates.acquire("a", Some(2)).await.expect("cap of 2");
        assert!(gates.acquire("a", Some(2)).await.is_err());
    }

    #[test]
    fn compile_gate_runs_at_most_max_at_once() {
        let gate = Arc::new(CompileGate::new(2));
        let peak = Arc::new(AtomicUsize::new(0));
        let now = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (gate, peak, now) = (gate.clone(), peak.clone(), now.clone());
                std::thread::spawn(move || {
                    gate.run(|| {
                        let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(n, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(5));
                        now.fetch_sub(1, Ordering::SeqCst);
                    })
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let peak = peak.load(Ordering::SeqCst);
        assert!((1..=2).contains(&peak), "peak {peak}");
    }
}
