//! The newest record of each key, per keyspace, for the log → index comparison: one
//! 24-byte [`Seen`] per record, folded down to one per key now and then (see the bounds
//! in the module docs of `verify`).

/// Entries a keyspace's record list may reach before its first fold.
pub(super) const FOLD_MIN: usize = 1 << 16;
/// Set in `Seen::seq_tag` for a tombstone (sequence numbers stay far below 2^63).
pub(super) const TOMBSTONE: u64 = 1 << 63;

/// One record seen, for the log → index comparison.
#[derive(Clone, Copy, Debug)]
pub(super) struct Seen {
    pub(super) key: i64,
    /// Sequence number, with [`TOMBSTONE`] set for tombstones.
    pub(super) seq_tag: u64,
    /// Packed location of the record.
    pub(super) location: u64,
}

impl Seen {
    pub(super) fn seq(self) -> u64 {
        self.seq_tag & !TOMBSTONE
    }

    pub(super) fn is_tombstone(self) -> bool {
        self.seq_tag & TOMBSTONE != 0
    }
}

/// The records of one keyspace, folded to the newest per key now and then.
#[derive(Debug, Default)]
pub(super) struct Newest {
    pub(super) entries: Vec<Seen>,
    pub(super) fold_at: usize,
}

impl Newest {
    pub(super) fn push(&mut self, seen: Seen) {
        self.entries.push(seen);
        if self.entries.len() >= self.fold_at.max(FOLD_MIN) {
            self.fold();
            self.fold_at = self.fold_at.max(self.entries.len() * 2);
        }
    }

    /// Sort by key and keep only the newest record of each key.
    fn fold(&mut self) {
        self.entries
            .sort_unstable_by(|a, b| a.key.cmp(&b.key).then(b.seq().cmp(&a.seq())));
        self.entries.dedup_by_key(|seen| seen.key);
    }

    /// The newest record of every key, in key order.
    pub(super) fn finish(mut self) -> Vec<Seen> {
        self.fold();
        self.entries
    }
}
