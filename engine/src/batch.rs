//! `WriteBatch`: puts and deletes, possibly across keyspaces, applied atomically.

use crate::codec::{self, DEFAULT_KEYSPACE, HEAD_LEN, KeyspaceId, TAG_DELETE, TAG_PUT};
use crate::keyspace::Keyspace;
use alexdb_wal::Entry;
use std::ops::Range;

/// One operation of a batch; its value lives in the batch's shared buffer.
#[derive(Clone, Debug)]
pub(crate) struct BatchOp {
    pub keyspace: KeyspaceId,
    pub key: i64,
    pub tag: u8,
    pub value: Range<usize>,
}

/// An atomic group of writes: after a crash, all of it is there or none of it.
/// Later operations on the same key win over earlier ones.
#[derive(Clone, Debug, Default)]
pub struct WriteBatch {
    pub(crate) ops: Vec<BatchOp>,
    pub(crate) data: Vec<u8>,
}

impl WriteBatch {
    pub fn new() -> WriteBatch {
        WriteBatch::default()
    }

    /// Set `key` of the default keyspace to `value`.
    pub fn put(&mut self, key: i64, value: &[u8]) -> &mut WriteBatch {
        self.push(DEFAULT_KEYSPACE, key, TAG_PUT, value)
    }

    /// Delete `key` of the default keyspace.
    pub fn delete(&mut self, key: i64) -> &mut WriteBatch {
        self.push(DEFAULT_KEYSPACE, key, TAG_DELETE, &[])
    }

    /// Set `key` of `keyspace` to `value`.
    pub fn put_in(&mut self, keyspace: &Keyspace, key: i64, value: &[u8]) -> &mut WriteBatch {
        self.push(keyspace.id, key, TAG_PUT, value)
    }

    /// Delete `key` of `keyspace`.
    pub fn delete_in(&mut self, keyspace: &Keyspace, key: i64) -> &mut WriteBatch {
        self.push(keyspace.id, key, TAG_DELETE, &[])
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn clear(&mut self) {
        self.ops.clear();
        self.data.clear();
    }

    /// The log entries of this batch, in order; `heads` is scratch space they borrow.
    pub fn log_entries<'a>(&'a self, heads: &'a mut Vec<[u8; HEAD_LEN]>) -> Vec<Entry<'a>> {
        heads.clear();
        heads.extend(
            self.ops
                .iter()
                .map(|op| codec::encode_head(op.keyspace, op.key)),
        );
        let heads: &'a Vec<[u8; HEAD_LEN]> = heads;
        self.ops
            .iter()
            .zip(heads)
            .map(|(op, head)| Entry {
                tag: op.tag,
                head,
                body: &self.data[op.value.clone()],
            })
            .collect()
    }

    /// Whether any operation of the batch is a delete.
    pub fn has_deletes(&self) -> bool {
        self.ops.iter().any(|op| op.tag == TAG_DELETE)
    }

    fn push(&mut self, keyspace: KeyspaceId, key: i64, tag: u8, value: &[u8]) -> &mut WriteBatch {
        let start = self.data.len();
        self.data.extend_from_slice(value);
        self.ops.push(BatchOp {
            keyspace,
            key,
            tag,
            value: start..self.data.len(),
        });
        self
    }
}
