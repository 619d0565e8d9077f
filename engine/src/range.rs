//! Ordered iteration over a keyspace's keys and values.
//!
//! Records sit in the log in write order, not key order, so each step of a range scan
//! reads a record somewhere else in the mappings: one cache miss per key, and walked one
//! after another they add up. The iterator therefore reads the index a few entries ahead
//! of what it hands out and starts loading those records (`SegmentTable::prefetch`), so
//! their misses overlap. The look-ahead grows with the number of items taken — none (and
//! no buffer) for a range that stops after its first item, up to [`MAX_AHEAD`] for a
//! long one.

use crate::Result;
use crate::codec::{KeyspaceId, PackedLocation};
use crate::segments::SegmentTable;

/// The most index entries a range holds ahead of what it has handed out, per end.
pub const MAX_AHEAD: usize = 8;

/// Index entries taken from one end of the index range, not yet handed out: a ring of
/// at most [`MAX_AHEAD`], oldest (nearest to that end) first.
#[derive(Debug, Default)]
struct Ahead {
    entries: [(i64, u64); MAX_AHEAD],
    head: usize,
    len: usize,
}

impl Ahead {
    fn push(&mut self, entry: (i64, u64)) {
        debug_assert!(self.len < MAX_AHEAD);
        self.entries[(self.head + self.len) % MAX_AHEAD] = entry;
        self.len += 1;
    }

    /// The entry nearest to this buffer's end of the range.
    fn pop_oldest(&mut self) -> Option<(i64, u64)> {
        if self.len == 0 {
            return None;
        }
        let entry = self.entries[self.head];
        self.head = (self.head + 1) % MAX_AHEAD;
        self.len -= 1;
        Some(entry)
    }

    /// The entry farthest from this buffer's end: the next one for the *other* end once
    /// the index range between the two buffers is used up.
    fn pop_newest(&mut self) -> Option<(i64, u64)> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        Some(self.entries[(self.head + self.len) % MAX_AHEAD])
    }
}

/// Keys and zero-copy values of a key range, in key order; iterate from either end.
/// A damaged record yields an `Err` item and iteration can go on.
#[derive(Debug)]
pub struct Range<'a> {
    keyspace: KeyspaceId,
    inner: alexdb_alex::Range<'a, u64>,
    segments: &'a SegmentTable,
    /// Taken from the front of `inner` (ascending; allocated at the second `next`), and
    /// how many items `next` returned.
    front: Option<Box<Ahead>>,
    front_taken: usize,
    /// Taken from the back of `inner` (descending; allocated at the second `next_back`),
    /// and how many items `next_back` returned.
    back: Option<Box<Ahead>>,
    back_taken: usize,
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
            front: None,
            front_taken: 0,
            back: None,
            back_taken: 0,
        }
    }

    fn resolve(&self, (key, location): (i64, u64)) -> Result<(i64, &'a [u8])> {
        let segments: &'a SegmentTable = self.segments;
        segments
            .value(self.keyspace, key, PackedLocation(location))
            .map(|value| (key, value))
    }

    /// How far ahead to read after `taken` items: one more than taken, up to the cap.
    fn wanted(taken: usize) -> usize {
        (taken + 1).min(MAX_AHEAD)
    }
}

impl<'a> Range<'a> {
    /// The next item from the front, or from the back if `from_back`.
    fn step(&mut self, from_back: bool) -> Option<Result<(i64, &'a [u8])>> {
        let Range {
            inner,
            segments,
            front,
            front_taken,
            back,
            back_taken,
            ..
        } = self;
        let (mine, taken, other) = if from_back {
            (back, back_taken, front)
        } else {
            (front, front_taken, back)
        };
        let mut pull = || {
            let entry = if from_back {
                inner.next_back()
            } else {
                inner.next()
            };
            entry.map(|(key, location)| (key, *location))
        };
        let entry = if *taken == 0 {
            // A range often stops after one item (a seek): no look-ahead for it.
            pull().or_else(|| pop_newest(other))
        } else {
            let wanted = Range::wanted(*taken);
            let mine = mine.get_or_insert_with(Box::default);
            while mine.len < wanted {
                let Some(entry) = pull() else {
                    break;
                };
                segments.prefetch(PackedLocation(entry.1));
                mine.push(entry);
            }
            mine.pop_oldest().or_else(|| pop_newest(other))
        }?;
        *taken += 1;
        Some(self.resolve(entry))
    }
}

impl<'a> Iterator for Range<'a> {
    type Item = Result<(i64, &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        self.step(false)
    }
}

impl DoubleEndedIterator for Range<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.step(true)
    }
}

/// The other end's farthest buffered entry, if that end has a buffer.
fn pop_newest(ahead: &mut Option<Box<Ahead>>) -> Option<(i64, u64)> {
    ahead.as_mut().and_then(|ahead| ahead.pop_newest())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_order_across_wrap_around() {
        let mut ahead = Ahead::default();
        let mut expected = std::collections::VecDeque::new();
        for round in 0..100i64 {
            while ahead.len < MAX_AHEAD - (round as usize % 3) {
                let entry = (round * 100 + ahead.len as i64, round as u64);
                ahead.push(entry);
                expected.push_back(entry);
            }
            assert_eq!(ahead.pop_oldest(), expected.pop_front());
            if round % 5 == 0 {
                assert_eq!(ahead.pop_newest(), expected.pop_back());
            }
        }
        while let Some(entry) = ahead.pop_oldest() {
            assert_eq!(Some(entry), expected.pop_front());
        }
        assert!(expected.is_empty());
        assert_eq!(ahead.pop_newest(), None);
    }
}
