//! The key-value store behind the plugins' `kv` host import. Scoped by the
//! host to (tenant, plugin); a plugin can never name another scope. The
//! server uses the database-backed store (`storage::SqlKv`); [`MemoryKv`]
//! serves tests and the CLI's one-off runs.

use std::collections::{BTreeMap, HashMap};

use parking_lot::Mutex;

/// Whose keys these are. Built by the host from the call context, never from
/// anything the plugin says.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KvScope {
    /// The tenant the plugin runs for.
    pub tenant: String,
    /// The plugin (first-party name or uploaded plugin id).
    pub plugin: String,
}

/// Failure of the backing store (not a quota refusal).
#[derive(Debug, thiserror::Error)]
#[error("key-value store unavailable: {0}")]
pub struct KvUnavailable(pub String);

/// A backing store for plugin key-value data.
pub trait KvStore: Send + Sync {
    /// Read a value.
    fn get(&self, scope: &KvScope, key: &str) -> Result<Option<Vec<u8>>, KvUnavailable>;
    /// Write a value. `max_keys` is enforced atomically with the write: a new
    /// key beyond it is refused with `Ok(false)`.
    fn set(
        &self,
        scope: &KvScope,
        key: &str,
        value: &[u8],
        max_keys: u32,
    ) -> Result<bool, KvUnavailable>;
    /// Delete a key.
    fn delete(&self, scope: &KvScope, key: &str) -> Result<(), KvUnavailable>;
    /// Number of keys in a scope.
    fn count(&self, scope: &KvScope) -> Result<u64, KvUnavailable>;
}

/// An in-memory store (process lifetime).
#[derive(Default)]
pub struct MemoryKv {
    scopes: Mutex<HashMap<KvScope, BTreeMap<String, Vec<u8>>>>,
}

impl KvStore for MemoryKv {
    fn get(&self, scope: &KvScope, key: &str) -> Result<Option<Vec<u8>>, KvUnavailable> {
        Ok(self
            .scopes
            .lock()
            .get(scope)
            .and_then(|m| m.get(key).cloned()))
    }

    fn set(
        &self,
        scope: &KvScope,
        key: &str,
        value: &[u8],
        max_keys: u32,
    ) -> Result<bool, KvUnavailable> {
        let mut scopes = self.scopes.lock();
        let map = scopes.entry(scope.clone()).or_default();
        if !map.contains_key(key) && map.len() as u64 >= u64::from(max_keys) {
            return Ok(false);
        }
        map.insert(key.to_string(), value.to_vec());
        Ok(true)
    }

    fn delete(&self, scope: &KvScope, key: &str) -> Result<(), KvUnavailable> {
        if let Some(m) = self.scopes.lock().get_mut(scope) {
            m.remove(key);
        }
        Ok(())
    }

    fn count(&self, scope: &KvScope) -> Result<u64, KvUnavailable> {
        Ok(self.scopes.lock().get(scope).map_or(0, |m| m.len() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_isolated_and_key_count_is_enforced() {
        let kv = MemoryKv::default();
        let a = KvScope {
            tenant: "a".into(),
            plugin: "p".into(),
        };
        let b = KvScope {
            tenant: "b".into(),
            plugin: "p".into(),
        };
        assert!(kv.set(&a, "k", b"1", 2).unwrap());
        assert_eq!(kv.get(&b, "k").unwrap(), None);
        assert!(kv.set(&a, "k2", b"2", 2).unwrap());
        assert!(
            !kv.set(&a, "k3", b"3", 2).unwrap(),
            "third key must be refused"
        );
        assert!(
            kv.set(&a, "k", b"overwrite", 2).unwrap(),
            "overwriting an existing key is not a new key"
        );
        assert_eq!(kv.get(&a, "k").unwrap().as_deref(), Some(&b"overwrite"[..]));
        kv.delete(&a, "k").unwrap();
        assert_eq!(kv.count(&a).unwrap(), 1);
    }
}
