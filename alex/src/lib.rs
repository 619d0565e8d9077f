//! PLACEHOLDER: the public API of the ALEX index, backed by a `BTreeMap` so dependent
//! crates can be built against it. To be replaced by the real ALEX implementation
//! (keeping every public name and signature).

use std::collections::BTreeMap;
use std::ops::RangeBounds;

/// Error of [`AlexMap::bulk_load`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BulkLoadError {
    #[error(
        "bulk load input is not strictly increasing at index {index}: key {key} follows {previous}"
    )]
    NotStrictlyIncreasing {
        index: usize,
        previous: i64,
        key: i64,
    },
}

/// Shape and size of an index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlexStats {
    pub keys: usize,
    pub depth: usize,
    pub model_nodes: usize,
    pub data_nodes: usize,
    pub heap_bytes: usize,
}

/// An ordered map from `i64` to `V`.
#[derive(Clone)]
pub struct AlexMap<V> {
    inner: BTreeMap<i64, V>,
}

impl<V: Copy + std::fmt::Debug> std::fmt::Debug for AlexMap<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<V: Copy> Default for AlexMap<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V: Copy> AlexMap<V> {
    pub fn new() -> Self {
        AlexMap {
            inner: BTreeMap::new(),
        }
    }
    pub fn bulk_load(sorted: &[(i64, V)]) -> Result<Self, BulkLoadError> {
        for (index, pair) in sorted.windows(2).enumerate() {
            if pair[0].0 >= pair[1].0 {
                return Err(BulkLoadError::NotStrictlyIncreasing {
                    index: index + 1,
                    previous: pair[0].0,
                    key: pair[1].0,
                });
            }
        }
        Ok(AlexMap {
            inner: sorted.iter().copied().collect(),
        })
    }
    pub fn len(&self) -> usize {
        self.inner.len()
    }
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
    pub fn get(&self, key: i64) -> Option<&V> {
        self.inner.get(&key)
    }
    pub fn contains_key(&self, key: i64) -> bool {
        self.inner.contains_key(&key)
    }
    pub fn insert(&mut self, key: i64, value: V) -> Option<V> {
        self.inner.insert(key, value)
    }
    pub fn remove(&mut self, key: i64) -> Option<V> {
        self.inner.remove(&key)
    }
    pub fn range<R: RangeBounds<i64>>(&self, range: R) -> Range<'_, V> {
        Range {
            inner: self.inner.range(range),
        }
    }
    pub fn iter(&self) -> Range<'_, V> {
        self.range(..)
    }
    pub fn first_key_value(&self) -> Option<(i64, &V)> {
        self.inner.first_key_value().map(|(k, v)| (*k, v))
    }
    pub fn last_key_value(&self) -> Option<(i64, &V)> {
        self.inner.last_key_value().map(|(k, v)| (*k, v))
    }
    pub fn stats(&self) -> AlexStats {
        AlexStats {
            keys: self.len(),
            ..AlexStats::default()
        }
    }
    pub fn check_invariants(&self) {}
}

/// Iterator over a key range, in both directions.
#[derive(Debug)]
pub struct Range<'a, V> {
    inner: std::collections::btree_map::Range<'a, i64, V>,
}

impl<'a, V> Iterator for Range<'a, V> {
    type Item = (i64, &'a V);
    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next().map(|(k, v)| (*k, v))
    }
}

impl<V> DoubleEndedIterator for Range<'_, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.inner.next_back().map(|(k, v)| (*k, v))
    }
}
