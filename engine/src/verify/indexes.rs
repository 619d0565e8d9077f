//! Checks 2 and 3, index ↔ log: each index walked beside the newest record of each key,
//! and for every disagreement an explanation of what is where.

use super::newest::{Newest, Seen};
use super::{DamageKind, Verifier};
use crate::codec::{self, KeyspaceId, PackedLocation, TAG_PUT};

impl Verifier<'_> {
    /// Walk each index beside the newest record of each key (both in key order).
    pub(super) fn check_indexes(&mut self) {
        let storage = self.storage;
        let mut newest = std::mem::take(&mut self.newest);
        for state in storage.keyspaces.iter() {
            let id = state.handle.id;
            let winners = newest.remove(&id).map(Newest::finish).unwrap_or_default();
            self.report.keyspaces_checked += 1;
            self.report.keys_checked += state.index.len() as u64;
            let mut winners = winners.into_iter().peekable();
            for (key, &location) in state.index.iter() {
                while let Some(winner) = winners.next_if(|winner| winner.key < key) {
                    self.not_indexed(id, winner);
                }
                let winner = winners.next_if(|winner| winner.key == key);
                let agrees = winner
                    .is_some_and(|winner| !winner.is_tombstone() && winner.location == location);
                if !agrees {
                    self.explain_pointer(id, key, PackedLocation(location), winner);
                }
            }
            for winner in winners {
                self.not_indexed(id, winner);
            }
        }
    }

    /// The newest record of a key that is not in the index: damage if it is a put.
    fn not_indexed(&mut self, keyspace: KeyspaceId, winner: Seen) {
        if winner.is_tombstone() {
            return;
        }
        let location = PackedLocation(winner.location);
        let path = self.storage.segment_path_of(location.segment_id().0);
        let reason = format!(
            "the newest record of this key (sequence {}) is a put, but the index does not hold the key",
            winner.seq()
        );
        self.damage(
            DamageKind::IndexMissing,
            &path,
            location.offset(),
            Some((keyspace, winner.key)),
            reason,
        );
    }

    /// The index maps `key` to `location`, which is not where its newest record is (or
    /// that record is a tombstone): say what is there instead. Two records of a key with
    /// the same sequence number are copies of one another (compaction keeps numbers), so
    /// pointing at either is right.
    fn explain_pointer(
        &mut self,
        keyspace: KeyspaceId,
        key: i64,
        location: PackedLocation,
        winner: Option<Seen>,
    ) {
        let storage = self.storage;
        let (segment_id, offset) = (location.segment_id().0, location.offset());
        let Some(slot) = storage.segments.get(segment_id) else {
            let reason = format!(
                "the index points into segment {segment_id}, which is not part of the store"
            );
            self.damage(
                DamageKind::IndexPointer,
                &storage.dir,
                offset,
                Some((keyspace, key)),
                reason,
            );
            return;
        };
        let reason = match slot.segment.record_at_verified(offset) {
            Err(error) => format!("the index points here, but there is no valid record: {error}"),
            Ok(record) => match codec::decode_head(record.payload) {
                None => "the index points at a record too short to hold a key".to_string(),
                Some((found_keyspace, found_key, _)) if found_keyspace != keyspace => {
                    format!(
                        "the index points at a record of keyspace {} (key {found_key})",
                        self.keyspace_name(found_keyspace)
                    )
                }
                Some((_, found_key, _)) if found_key != key => {
                    format!("the index points at a record of key {found_key}")
                }
                Some(_) if record.tag != TAG_PUT => format!(
                    "the index points at a tombstone (sequence {})",
                    record.seq.0
                ),
                Some(_) => match winner {
                    Some(winner)
                        if winner.seq() > record.seq.0
                            || (winner.seq() == record.seq.0 && winner.is_tombstone()) =>
                    {
                        let newest = PackedLocation(winner.location);
                        format!(
                            "the index points at an older record (sequence {}); the newest is a {} \
                             (sequence {}) in {} at offset {}",
                            record.seq.0,
                            if winner.is_tombstone() {
                                "tombstone"
                            } else {
                                "put"
                            },
                            winner.seq(),
                            storage.segment_path_of(newest.segment_id().0).display(),
                            newest.offset()
                        )
                    }
                    // A copy of the newest record: right.
                    Some(winner) if winner.seq() == record.seq.0 => return,
                    _ if record.seq.0 > storage.applied_seq => format!(
                        "the index points at a record (sequence {}) above the applied sequence {}",
                        record.seq.0, storage.applied_seq
                    ),
                    _ => format!(
                        "the index points at a record (sequence {}) the scan of its segment \
                         did not reach (see the damage reported for this file)",
                        record.seq.0
                    ),
                },
            },
        };
        self.damage(
            DamageKind::IndexPointer,
            slot.segment.path(),
            offset,
            Some((keyspace, key)),
            reason,
        );
    }
}
