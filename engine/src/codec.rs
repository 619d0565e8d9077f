//! How the engine encodes its entries into log records, and record locations into the
//! index's `u64` payloads.
//!
//! A record's payload is `head ++ value`, where `head` = keyspace id (u32 LE) ++ key
//! (i64 LE). The record's tag says what it is: [`TAG_PUT`] or [`TAG_DELETE`] (a
//! tombstone, whose value is empty). The layout is described in `docs/FORMAT.md`.

use alexdb_wal::{Location, SegmentId};

/// Tag of a record that sets a key to a value.
pub const TAG_PUT: u8 = 1;
/// Tag of a tombstone: the key is deleted as of this record's sequence number.
pub const TAG_DELETE: u8 = 2;

/// Length of the per-record head: keyspace id and key.
pub const HEAD_LEN: usize = 12;

/// Bits of a packed location that hold the offset inside the segment.
const OFFSET_BITS: u32 = 40;
/// Offsets must be below this (1 TiB), so segment capacities are too.
pub const MAX_OFFSET: u64 = 1 << OFFSET_BITS;
/// Segment ids must be below this (2^24) to be packed.
pub const MAX_SEGMENT_ID: u64 = 1 << (64 - OFFSET_BITS);

/// Identifies a keyspace inside records, snapshots and the manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyspaceId(pub u32);

/// The default keyspace, which always exists.
pub const DEFAULT_KEYSPACE: KeyspaceId = KeyspaceId(0);

/// Encode the head of an entry.
pub fn encode_head(keyspace: KeyspaceId, key: i64) -> [u8; HEAD_LEN] {
    let mut head = [0u8; HEAD_LEN];
    head[..4].copy_from_slice(&keyspace.0.to_le_bytes());
    head[4..].copy_from_slice(&key.to_le_bytes());
    head
}

/// The heads of `items` (puts into `keyspace`), to be borrowed by [`put_entries`].
pub fn put_heads(keyspace: KeyspaceId, items: &[(i64, &[u8])]) -> Vec<[u8; HEAD_LEN]> {
    items
        .iter()
        .map(|(key, _)| encode_head(keyspace, *key))
        .collect()
}

/// The log entries that put `items`, with heads from [`put_heads`] (same order).
pub fn put_entries<'a>(
    items: &'a [(i64, &'a [u8])],
    heads: &'a [[u8; HEAD_LEN]],
) -> Vec<alexdb_wal::Entry<'a>> {
    items
        .iter()
        .zip(heads)
        .map(|((_, value), head)| alexdb_wal::Entry {
            tag: TAG_PUT,
            head,
            body: value,
        })
        .collect()
}

/// Decode the head of a record payload: `None` if the payload is too short to have one.
#[inline]
pub fn decode_head(payload: &[u8]) -> Option<(KeyspaceId, i64, &[u8])> {
    let head: &[u8; HEAD_LEN] = payload.get(..HEAD_LEN)?.try_into().ok()?;
    let keyspace = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let key = i64::from_le_bytes([
        head[4], head[5], head[6], head[7], head[8], head[9], head[10], head[11],
    ]);
    Some((KeyspaceId(keyspace), key, &payload[HEAD_LEN..]))
}

/// A record location packed into the `u64` payload the index stores:
/// segment id in the top 24 bits, offset in the low 40.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackedLocation(pub u64);

impl PackedLocation {
    /// Pack a location; `None` if it does not fit (id ≥ 2^24 or offset ≥ 2^40).
    pub fn pack(location: Location) -> Option<PackedLocation> {
        let id = location.segment_id.0;
        if id >= MAX_SEGMENT_ID || location.offset >= MAX_OFFSET {
            return None;
        }
        Some(PackedLocation((id << OFFSET_BITS) | location.offset))
    }

    pub fn segment_id(self) -> SegmentId {
        SegmentId(self.0 >> OFFSET_BITS)
    }

    pub fn offset(self) -> u64 {
        self.0 & (MAX_OFFSET - 1)
    }

    #[cfg(test)]
    pub fn unpack(self) -> Location {
        Location {
            segment_id: self.segment_id(),
            offset: self.offset(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_round_trips_extreme_keys() {
        for key in [i64::MIN, -1, 0, 1, i64::MAX] {
            let head = encode_head(KeyspaceId(7), key);
            let mut payload = head.to_vec();
            payload.extend_from_slice(b"value");
            assert_eq!(
                decode_head(&payload),
                Some((KeyspaceId(7), key, &b"value"[..]))
            );
        }
        assert_eq!(decode_head(&[0u8; HEAD_LEN - 1]), None);
    }

    #[test]
    fn locations_pack_and_refuse_what_does_not_fit() {
        let location = Location {
            segment_id: SegmentId(MAX_SEGMENT_ID - 1),
            offset: MAX_OFFSET - 1,
        };
        let packed = PackedLocation::pack(location).expect("fits");
        assert_eq!(packed.unpack(), location);
        let too_far = Location {
            segment_id: SegmentId(1),
            offset: MAX_OFFSET,
        };
        assert_eq!(PackedLocation::pack(too_far), None);
        let too_many = Location {
            segment_id: SegmentId(MAX_SEGMENT_ID),
            offset: 0,
        };
        assert_eq!(PackedLocation::pack(too_many), None);
    }
}
