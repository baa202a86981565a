//! A bounded map that forgets the least recently used entry first: what the query-embedding
//! cache and the server's response cache both keep.

use std::collections::HashMap;

/// At most `capacity` values by key; reading a value counts as using it.
#[derive(Debug)]
pub struct Recent<V> {
    entries: HashMap<String, (V, u64)>,
    capacity: usize,
    clock: u64,
}

impl<V> Recent<V> {
    pub fn new(capacity: usize) -> Self {
        Recent {
            entries: HashMap::new(),
            capacity: capacity.max(1),
            clock: 0,
        }
    }

    /// The value of `key`, now the most recently used.
    pub fn get(&mut self, key: &str) -> Option<&V> {
        self.clock += 1;
        let now = self.clock;
        let (value, used) = self.entries.get_mut(key)?;
        *used = now;
        Some(value)
    }

    /// Keeps `value` under `key`, forgetting the least recently used entry when full.
    pub fn insert(&mut self, key: String, value: V) {
        self.clock += 1;
        if self.entries.len() >= self.capacity
            && !self.entries.contains_key(&key)
            && let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(key, _)| key.clone())
        {
            self.entries.remove(&oldest);
        }
        self.entries.insert(key, (value, self.clock));
    }

    pub fn remove(&mut self, key: &str) {
        self.entries.remove(key);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_the_least_recently_used_first() {
        let mut recent = Recent::new(3);
        for (key, value) in [("a", 1), ("b", 2), ("c", 3)] {
            recent.insert(key.to_owned(), value);
        }
        assert_eq!(recent.get("a"), Some(&1), "a is now the most recent");
        recent.insert("d".to_owned(), 4);
        assert_eq!(recent.len(), 3);
        assert_eq!(recent.get("b"), None, "b was the least recently used");
        assert_eq!(recent.get("a"), Some(&1));
        assert_eq!(recent.get("c"), Some(&3));
        assert_eq!(recent.get("d"), Some(&4));
    }

    #[test]
    fn replacing_a_key_keeps_the_others() {
        let mut recent = Recent::new(2);
        recent.insert("a".to_owned(), 1);
        recent.insert("b".to_owned(), 2);
        recent.insert("a".to_owned(), 10);
        assert_eq!(recent.get("a"), Some(&10));
        assert_eq!(recent.get("b"), Some(&2));
        recent.remove("a");
        assert_eq!(recent.get("a"), None);
        assert_eq!(recent.len(), 1);
        assert!(!recent.is_empty());
        let mut tiny = Recent::new(0);
        assert!(tiny.is_empty());
        tiny.insert("a".to_owned(), 1);
        tiny.insert("b".to_owned(), 2);
        assert_eq!(tiny.len(), 1, "a capacity of 0 still holds one");
    }
}
