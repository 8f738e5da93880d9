//! A small bounded map that evicts the least recently used entry. The
//! runtime's caches hold at most a few thousand entries and evict only on a
//! miss (which costs a compile or a disk read anyway), so a linear scan for
//! the oldest entry is cheaper than keeping an ordered index up to date on
//! every hit.

use std::collections::HashMap;
use std::hash::Hash;

/// At most `capacity` entries; inserting into a full map evicts the entry
/// used longest ago.
#[derive(Debug)]
pub(crate) struct Lru<K, V> {
    entries: HashMap<K, (V, u64)>,
    capacity: usize,
    clock: u64,
}

impl<K: Hash + Eq + Clone, V: Clone> Lru<K, V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Lru {
            entries: HashMap::new(),
            capacity: capacity.max(1),
            clock: 0,
        }
    }

    /// The value for `key`, marking it used.
    pub(crate) fn get(&mut self, key: &K) -> Option<V> {
        self.clock += 1;
        let clock = self.clock;
        self.entries.get_mut(key).map(|(v, used)| {
            *used = clock;
            v.clone()
        })
    }

    /// Insert (or refresh) `key`; returns what was evicted to make room.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Vec<(K, V)> {
        self.clock += 1;
        let mut evicted = Vec::new();
        if !self.entries.contains_key(&key) {
            while self.entries.len() >= self.capacity {
                match self.pop_oldest() {
                    Some(e) => evicted.push(e),
                    None => break,
                }
            }
        }
        self.entries.insert(key, (value, self.clock));
        evicted
    }

    /// Remove and return the entry used longest ago.
    pub(crate) fn pop_oldest(&mut self) -> Option<(K, V)> {
        let oldest = self
            .entries
            .iter()
            .min_by_key(|(_, (_, used))| *used)
            .map(|(k, _)| k.clone())?;
        self.entries.remove(&oldest).map(|(v, _)| (oldest, v))
    }

    /// Remove `key`.
    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        self.entries.remove(key).map(|(v, _)| v)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::Lru;

    #[test]
    fn evicts_the_least_recently_used() {
        let mut lru = Lru::new(2);
        lru.insert("a", 1);
        lru.insert("b", 2);
        assert_eq!(lru.get(&"a"), Some(1)); // b is now the oldest
        let evicted = lru.insert("c", 3);
        assert_eq!(evicted, vec![("b", 2)]);
        assert_eq!(lru.get(&"b"), None);
        assert_eq!(lru.get(&"a"), Some(1));
        assert_eq!(lru.get(&"c"), Some(3));
        assert_eq!(lru.len(), 2);
    }

    #[test]
    fn refreshing_a_key_evicts_nothing() {
        let mut lru = Lru::new(1);
        lru.insert("a", 1);
        assert!(lru.insert("a", 2).is_empty());
        assert_eq!(lru.get(&"a"), Some(2));
    }
}
