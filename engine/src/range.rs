//! Ordered iteration over a keyspace's keys and values.

use crate::Result;
use crate::codec::{KeyspaceId, PackedLocation};
use crate::segments::SegmentTable;

/// Keys and zero-copy values of a key range, in key order; iterate from either end.
/// A damaged record yields an `Err` item and iteration can go on.
#[derive(Debug)]
pub struct Range<'a> {
    keyspace: KeyspaceId,
    inner: alexdb_alex::Range<'a, u64>,
    segments: &'a SegmentTable,
}

impl<'a> Range<'a> {
    pub(crate) fn new(
        keyspace: KeyspaceId,
        inner: alexdb_alex::Range<'a, u64>,
        segments: &'a SegmentTable,
    ) -> Range<'a> {
        Range {
            keyspace,
            inner,
            segments,
        }
    }

    fn resolve(&self, (key, location): (i64, &u64)) -> Result<(i64, &'a [u8])> {
        let segments: &'a SegmentTable = self.segments;
        segments
            .value(self.keyspace, key, PackedLocation(*location))
            .map(|value| (key, value))
    }
}

impl<'a> Iterator for Range<'a> {
    type Item = Result<(i64, &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self.inner.next()?;
        Some(self.resolve(item))
    }
}

impl DoubleEndedIterator for Range<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let item = self.inner.next_back()?;
        Some(self.resolve(item))
    }
}
