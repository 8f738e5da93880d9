//! Prometheus metrics (`GET /metrics`). Labels are bounded and never
//! identify a tenant: adapter and plugin-world names, outcomes, trap kinds
//! and query kinds only. One registry per process (like the wasmtime
//! engine), so the runtime can count without threading a handle through.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// Every metric the host exports.
pub struct Metrics {
    registry: Registry,
    webhooks: Family<Labels, Counter>,
    webhook_seconds: Family<Labels, Histogram>,
    plugin_calls: Family<Labels, Counter>,
    plugin_call_seconds: Family<Labels, Histogram>,
    fuel: Family<Labels, Counter>,
    traps: Family<Labels, Counter>,
    deliveries: Family<Labels, Counter>,
    jobs: Family<Labels, Counter>,
    outbox_depth: Gauge,
    db_seconds: Family<Labels, Histogram>,
}

fn latency() -> Histogram {
    // 10 µs … ~42 s.
    Histogram::new(exponential_buckets(0.000_01, 4.0, 12))
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("switchboard");
    let m = Metrics {
        webhooks: Family::default(),
        webhook_seconds: Family::new_with_constructor(latency),
        plugin_calls: Family::default(),
        plugin_call_seconds: Family::new_with_constructor(latency),
        fuel: Family::default(),
        traps: Family::default(),
        deliveries: Family::default(),
        jobs: Family::default(),
        outbox_depth: Gauge::default(),
        db_seconds: Family::new_with_constructor(latency),
        registry: Registry::default(),
    };
    registry.register(
        "webhooks",
        "Webhooks received, by channel adapter and outcome",
        m.webhooks.clone(),
    );
    registry.register(
        "webhook_duration_seconds",
        "Webhook handling time (verify, parse, guardrails, commit), by adapter",
        m.webhook_seconds.clone(),
    );
    registry.register(
        "plugin_calls",
        "Plugin calls, by world and outcome",
        m.plugin_calls.clone(),
    );
    registry.register(
        "plugin_call_duration_seconds",
        "Plugin call time (instantiation excluded), by world",
        m.plugin_call_seconds.clone(),
    );
    registry.register(
        "plugin_fuel_consumed",
        "Fuel consumed by plugin calls, by world",
        m.fuel.clone(),
    );
    registry.register(
        "plugin_traps",
        "Plugin calls stopped by a trap or limit, by kind",
        m.traps.clone(),
    );
    registry.register(
        "delivery_attempts",
        "Provider calls for outbound messages, by adapter and outcome",
        m.deliveries.clone(),
    );
    registry.register(
        "jobs",
        "Outbox jobs run, by kind and outcome",
        m.jobs.clone(),
    );
    registry.register(
        "outbox_depth",
        "Outbox jobs pending or leased (sampled at scrape)",
        m.outbox_depth.clone(),
    );
    registry.register(
        "db_query_duration_seconds",
        "Database operation time, by operation",
        m.db_seconds.clone(),
    );
    Metrics { registry, ..m }
});

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

/// Bounded label values: anything unexpected becomes `other`, so a
/// tenant's plugin name can never become a label.
fn bounded(value: &str, allowed: &[&str]) -> String {
    if allowed.contains(&value) {
        value.to_string()
    } else {
        "other".to_string()
    }
}

const ADAPTERS: &[&str] = &[
    "whatsapp-cloud",
    "twilio-sms",
    "twilio-whatsapp",
    "telegram",
    "shared",
];

impl Metrics {
    /// A webhook ended with `outcome` (`stored`, `handshake`, or an error
    /// code) after `elapsed`.
    pub fn webhook(&self, adapter: &str, outcome: &'static str, elapsed: Duration) {
        let adapter = bounded(adapter, ADAPTERS);
        self.webhooks
            .get_or_create(&vec![
                ("adapter", adapter.clone()),
                ("outcome", outcome.to_string()),
            ])
            .inc();
        self.webhook_seconds
            .get_or_create(&vec![("adapter", adapter)])
            .observe(elapsed.as_secs_f64());
    }

    /// A plugin call of `world` ended with `outcome` (`ok` or an error code).
    pub fn plugin_call(
        &self,
        world: &'static str,
        outcome: &'static str,
        elapsed: Duration,
        fuel: u64,
    ) {
        self.plugin_calls
            .get_or_create(&vec![
                ("world", world.to_string()),
                ("outcome", outcome.to_string()),
            ])
            .inc();
        self.plugin_call_seconds
            .get_or_create(&vec![("world", world.to_string())])
            .observe(elapsed.as_secs_f64());
        self.fuel
            .get_or_create(&vec![("world", world.to_string())])
            .inc_by(fuel);
    }

    /// A call stopped by a trap or a limit of `kind`.
    pub fn trap(&self, kind: &'static str) {
        self.traps
            .get_or_create(&vec![("kind", kind.to_string())])
            .inc();
    }

    /// A provider call for an outbound message.
    pub fn delivery(&self, adapter: &str, outcome: &'static str) {
        self.deliveries
            .get_or_create(&vec![
                ("adapter", bounded(adapter, ADAPTERS)),
                ("outcome", outcome.to_string()),
            ])
            .inc();
    }

    /// An outbox job ran (`kind`: a task kind's name, or `invalid` for a
    /// row that could not be read; a bounded set either way).
    pub fn job(&self, kind: &'static str, outcome: &'static str) {
        self.jobs
            .get_or_create(&vec![
                ("kind", kind.to_string()),
                ("outcome", outcome.to_string()),
            ])
            .inc();
    }

    /// A database operation took `elapsed`.
    pub fn db(&self, op: &'static str, elapsed: Duration) {
        self.db_seconds
            .get_or_create(&vec![("op", op.to_string())])
            .observe(elapsed.as_secs_f64());
    }

    /// The Prometheus text exposition, with the outbox depth as of now.
    pub fn render(&self, outbox_depth: Option<i64>) -> String {
        if let Some(d) = outbox_depth {
            self.outbox_depth.set(d);
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_adapters_are_not_labels() {
        metrics().webhook("acme-private-adapter", "stored", Duration::from_millis(1));
        let text = metrics().render(None);
        assert!(!text.contains("acme-private-adapter"));
        assert!(
            text.contains(r#"switchboard_webhooks_total{adapter="other",outcome="stored"}"#),
            "{text}"
        );
    }
}
