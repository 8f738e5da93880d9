//! Per-call resource limits: platform defaults, overridable per tenant.

use serde::{Deserialize, Serialize};

/// The limits one plugin call runs under. Every field is a hard cap whose
/// breach ends the call with a typed [`PluginError`](super::PluginError).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Fuel budget (roughly one unit per wasm instruction). Parsing a 1 KB
    /// webhook costs ~40k; the default leaves room for a few MB of body.
    pub fuel: u64,
    /// Wall-clock budget in milliseconds. A guest that computes is stopped
    /// by epoch interruption (whatever fuel it has left); a guest waiting in
    /// a host call (a WASI sleep or poll) by abandoning the call's future at
    /// the deadline, so every call returns within it plus scheduling slack.
    pub deadline_ms: u64,
    /// Linear-memory cap in bytes (all memories of the instance together).
    pub memory_bytes: u64,
    /// Cap on the size of what a call returns (strings, bytes and a fixed
    /// overhead per record), so a plugin cannot flood the host.
    pub output_bytes: u64,
    /// Cap on the number of events one `parse` may return.
    pub max_events: u32,
    /// Cap on log output per call (host `log` lines plus stdout/stderr);
    /// the rest is dropped and counted.
    pub log_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 200_000_000,
            deadline_ms: 1_000,
            memory_bytes: 32 << 20,
            output_bytes: 2 << 20,
            // Providers batch far fewer (Meta: tens); more is a flood, and
            // every event becomes database work.
            max_events: 1_000,
            log_bytes: 64 << 10,
        }
    }
}

/// A tenant's (or binding's) overrides of the platform defaults; `None`
/// keeps the default. The runtime clamps memory to its pool's slot size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LimitOverrides {
    pub fuel: Option<u64>,
    pub deadline_ms: Option<u64>,
    pub memory_bytes: Option<u64>,
    pub output_bytes: Option<u64>,
    pub max_events: Option<u32>,
    pub log_bytes: Option<u64>,
    /// The tenant's share of concurrent plugin calls (see
    /// [`Fairness`](super::Fairness)); not a per-call limit.
    pub concurrent_calls: Option<u32>,
}

impl Limits {
    /// These limits with `overrides` applied.
    pub fn with(self, overrides: &LimitOverrides) -> Limits {
        Limits {
            fuel: overrides.fuel.unwrap_or(self.fuel),
            deadline_ms: overrides.deadline_ms.unwrap_or(self.deadline_ms),
            memory_bytes: overrides.memory_bytes.unwrap_or(self.memory_bytes),
            output_bytes: overrides.output_bytes.unwrap_or(self.output_bytes),
            max_events: overrides.max_events.unwrap_or(self.max_events),
            log_bytes: overrides.log_bytes.unwrap_or(self.log_bytes),
        }
    }
}

/// Quotas of the `kv` host import, per tenant + plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvQuota {
    /// Longest key, in bytes.
    pub max_key_bytes: u32,
    /// Largest value, in bytes.
    pub max_value_bytes: u32,
    /// Most keys one tenant's plugin may hold.
    pub max_keys: u32,
}

impl Default for KvQuota {
    fn default() -> Self {
        KvQuota {
            max_key_bytes: 256,
            max_value_bytes: 64 << 10,
            max_keys: 1_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_only_what_they_set() {
        let base = Limits::default();
        let o = LimitOverrides {
            fuel: Some(5),
            memory_bytes: Some(1 << 20),
            ..Default::default()
        };
        let l = base.with(&o);
        assert_eq!(l.fuel, 5);
        assert_eq!(l.memory_bytes, 1 << 20);
        assert_eq!(l.deadline_ms, base.deadline_ms);
        assert_eq!(l.log_bytes, base.log_bytes);
    }
}
