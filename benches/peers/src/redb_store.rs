//! redb: one table of 8-byte keys and byte values, its default 1 GiB cache.

use crate::{Durability, decode_key, encode_key, nothing_compacted, peer_error};
use alexdb::cli::store::{CompactSummary, KvStore, StoreStats};
use redb::{Database, ReadableDatabase, ReadableTableMetadata, TableDefinition};
use std::path::{Path, PathBuf};
use std::time::Duration;

const TABLE: TableDefinition<&[u8; 8], &[u8]> = TableDefinition::new("kv");
const FILE: &str = "data.redb";

/// redb. The option is `None` only while `reopen` runs or after it failed.
#[derive(Debug)]
pub struct RedbStore {
    dir: PathBuf,
    durability: redb::Durability,
    db: Option<Database>,
}

fn fail(dir: &Path) -> impl Fn(&dyn std::fmt::Display) -> alexdb::Error + '_ {
    move |error| peer_error(dir, "redb", error)
}

fn open_db(dir: &Path) -> alexdb::Result<Database> {
    std::fs::create_dir_all(dir).map_err(|source| alexdb::Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let db = Database::create(dir.join(FILE)).map_err(|e| fail(dir)(&e))?;
    // Create the table so that readers of an empty store find it.
    let txn = db.begin_write().map_err(|e| fail(dir)(&e))?;
    txn.open_table(TABLE).map_err(|e| fail(dir)(&e))?;
    txn.commit().map_err(|e| fail(dir)(&e))?;
    Ok(db)
}

impl RedbStore {
    pub fn open(dir: &Path, durability: Durability) -> alexdb::Result<RedbStore> {
        Ok(RedbStore {
            dir: dir.to_path_buf(),
            durability: match durability {
                Durability::Durable => redb::Durability::Immediate,
                Durability::Fast => redb::Durability::None,
            },
            db: Some(open_db(dir)?),
        })
    }

    fn db(&self) -> alexdb::Result<&Database> {
        self.db
            .as_ref()
            .ok_or_else(|| peer_error(&self.dir, "redb", "closed (an earlier reopen failed)"))
    }

    /// Run `f` on the table in one write transaction of the store's durability.
    fn write<T>(
        &self,
        f: impl FnOnce(&mut redb::Table<'_, &[u8; 8], &[u8]>) -> Result<T, redb::StorageError>,
    ) -> alexdb::Result<T> {
        let fail = fail(&self.dir);
        let mut txn = self.db()?.begin_write().map_err(|e| fail(&e))?;
        txn.set_durability(self.durability).map_err(|e| fail(&e))?;
        let result = {
            let mut table = txn.open_table(TABLE).map_err(|e| fail(&e))?;
            f(&mut table).map_err(|e| fail(&e))?
        };
        txn.commit().map_err(|e| fail(&e))?;
        Ok(result)
    }
}

impl KvStore for RedbStore {
    fn name(&self) -> &'static str {
        "redb"
    }

    fn get(&self, key: i64, out: &mut Vec<u8>) -> alexdb::Result<bool> {
        out.clear();
        let fail = fail(&self.dir);
        let txn = self.db()?.begin_read().map_err(|e| fail(&e))?;
        let table = txn.open_table(TABLE).map_err(|e| fail(&e))?;
        match table.get(&encode_key(key)).map_err(|e| fail(&e))? {
            Some(value) => {
                out.extend_from_slice(value.value());
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// One read transaction and one table open for the whole batch.
    fn multi_get(
        &self,
        keys: &[i64],
        f: &mut dyn FnMut(usize, Option<&[u8]>),
    ) -> alexdb::Result<()> {
        let fail = fail(&self.dir);
        let txn = self.db()?.begin_read().map_err(|e| fail(&e))?;
        let table = txn.open_table(TABLE).map_err(|e| fail(&e))?;
        for (i, &key) in keys.iter().enumerate() {
            let value = table.get(&encode_key(key)).map_err(|e| fail(&e))?;
            f(i, value.as_ref().map(|value| value.value()));
        }
        Ok(())
    }

    fn put(&self, key: i64, value: &[u8]) -> alexdb::Result<()> {
        self.put_batch(&[(key, value)])
    }

    fn put_batch(&self, items: &[(i64, &[u8])]) -> alexdb::Result<()> {
        self.write(|table| {
            for (key, value) in items {
                table.insert(&encode_key(*key), *value)?;
            }
            Ok(())
        })
    }

    fn delete(&self, key: i64) -> alexdb::Result<bool> {
        self.write(|table| Ok(table.remove(&encode_key(key))?.is_some()))
    }

    fn scan(
        &self,
        start: i64,
        count: usize,
        f: &mut dyn FnMut(i64, &[u8]),
    ) -> alexdb::Result<usize> {
        if count == 0 {
            return Ok(0);
        }
        let fail = fail(&self.dir);
        let txn = self.db()?.begin_read().map_err(|e| fail(&e))?;
        let table = txn.open_table(TABLE).map_err(|e| fail(&e))?;
        let mut seen = 0;
        let start = encode_key(start);
        for item in table.range::<&[u8; 8]>(&start..).map_err(|e| fail(&e))? {
            let (key, value) = item.map_err(|e| fail(&e))?;
            let key = decode_key(key.value()).ok_or_else(|| fail(&"a key is not 8 bytes"))?;
            f(key, value.value());
            seen += 1;
            if seen == count {
                break;
            }
        }
        Ok(seen)
    }

    fn checkpoint(&self) -> alexdb::Result<()> {
        // An empty transaction committed durably makes the non-durable ones before it
        // durable too.
        let fail = fail(&self.dir);
        let mut txn = self.db()?.begin_write().map_err(|e| fail(&e))?;
        txn.set_durability(redb::Durability::Immediate)
            .map_err(|e| fail(&e))?;
        txn.commit().map_err(|e| fail(&e))
    }

    fn compact(&self) -> alexdb::Result<CompactSummary> {
        // `Database::compact` needs `&mut`; redb reuses freed pages by itself.
        Ok(nothing_compacted())
    }

    fn reopen(&mut self) -> alexdb::Result<Duration> {
        self.checkpoint()?;
        let dir = self.dir.clone();
        crate::timed_reopen(&mut self.db, || open_db(&dir))
    }

    fn stats(&self) -> StoreStats {
        let Ok(db) = self.db() else {
            return StoreStats::default();
        };
        let keys = db
            .begin_read()
            .ok()
            .and_then(|txn| txn.open_table(TABLE).ok())
            .and_then(|table| table.len().ok())
            .unwrap_or(0);
        let file_bytes = std::fs::metadata(self.dir.join(FILE))
            .map(|meta| meta.len())
            .unwrap_or(0);
        StoreStats {
            keys,
            file_bytes,
            space_amplification: 1.0,
            ..StoreStats::default()
        }
    }
}
