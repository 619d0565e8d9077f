//! fjall: one database, one keyspace, a block cache that holds the whole data set.

use crate::{Durability, decode_key, encode_key, peer_error};
use alexdb::cli::store::{CompactSummary, KvStore, StoreStats};
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// fjall's README: a block cache of 20-25% of memory, or more when the data set fits in
/// memory. 1 GiB holds the 1M x 100-byte data set several times over.
const CACHE_BYTES: u64 = 1 << 30;
const KEYSPACE: &str = "kv";

/// fjall. The option is `None` only while `reopen` runs or after it failed.
pub struct FjallStore {
    dir: PathBuf,
    persist: Option<PersistMode>,
    open: Option<(Database, Keyspace)>,
}

impl std::fmt::Debug for FjallStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FjallStore")
            .field("dir", &self.dir)
            .field("persist", &self.persist)
            .finish_non_exhaustive()
    }
}

fn fail(dir: &Path) -> impl Fn(fjall::Error) -> alexdb::Error + '_ {
    move |error| peer_error(dir, "fjall", error)
}

fn open_db(dir: &Path) -> alexdb::Result<(Database, Keyspace)> {
    let db = Database::builder(dir)
        .cache_size(CACHE_BYTES)
        .open()
        .map_err(fail(dir))?;
    let keyspace = db
        .keyspace(KEYSPACE, KeyspaceCreateOptions::default)
        .map_err(fail(dir))?;
    Ok((db, keyspace))
}

impl FjallStore {
    pub fn open(dir: &Path, durability: Durability) -> alexdb::Result<FjallStore> {
        Ok(FjallStore {
            dir: dir.to_path_buf(),
            persist: match durability {
                Durability::Durable => Some(PersistMode::SyncAll),
                Durability::Fast => None,
            },
            open: Some(open_db(dir)?),
        })
    }

    fn handles(&self) -> alexdb::Result<&(Database, Keyspace)> {
        self.open
            .as_ref()
            .ok_or_else(|| peer_error(&self.dir, "fjall", "closed (an earlier reopen failed)"))
    }
}

impl KvStore for FjallStore {
    fn name(&self) -> &'static str {
        "fjall"
    }

    fn get(&self, key: i64, out: &mut Vec<u8>) -> alexdb::Result<bool> {
        out.clear();
        let (_, keyspace) = self.handles()?;
        match keyspace.get(encode_key(key)).map_err(fail(&self.dir))? {
            Some(value) => {
                out.extend_from_slice(&value);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn put(&self, key: i64, value: &[u8]) -> alexdb::Result<()> {
        self.put_batch(&[(key, value)])
    }

    fn put_batch(&self, items: &[(i64, &[u8])]) -> alexdb::Result<()> {
        let (db, keyspace) = self.handles()?;
        let mut batch = db.batch().durability(self.persist);
        for (key, value) in items {
            batch.insert(keyspace, encode_key(*key), *value);
        }
        batch.commit().map_err(fail(&self.dir))
    }

    /// fjall's `remove` does not say whether the key existed: a lookup first (not atomic
    /// with the removal; the workloads here never race a delete with a write of its key).
    fn delete(&self, key: i64) -> alexdb::Result<bool> {
        let (db, keyspace) = self.handles()?;
        let encoded = encode_key(key);
        if !keyspace.contains_key(encoded).map_err(fail(&self.dir))? {
            return Ok(false);
        }
        let mut batch = db.batch().durability(self.persist);
        batch.remove(keyspace, encoded);
        batch.commit().map_err(fail(&self.dir))?;
        Ok(true)
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
        let (_, keyspace) = self.handles()?;
        let mut seen = 0;
        for guard in keyspace.range(encode_key(start)..) {
            let (key, value) = guard.into_inner().map_err(fail(&self.dir))?;
            let key = decode_key(&key)
                .ok_or_else(|| peer_error(&self.dir, "fjall", "a key is not 8 bytes"))?;
            f(key, &value);
            seen += 1;
            if seen == count {
                break;
            }
        }
        Ok(seen)
    }

    fn checkpoint(&self) -> alexdb::Result<()> {
        let (db, _) = self.handles()?;
        db.persist(PersistMode::SyncAll).map_err(fail(&self.dir))
    }

    fn compact(&self) -> alexdb::Result<CompactSummary> {
        let (_, keyspace) = self.handles()?;
        let before = keyspace.disk_space();
        let started = Instant::now();
        keyspace.major_compact().map_err(fail(&self.dir))?;
        Ok(CompactSummary {
            bytes_reclaimed: before.saturating_sub(keyspace.disk_space()),
            duration: started.elapsed(),
            ..CompactSummary::default()
        })
    }

    fn reopen(&mut self) -> alexdb::Result<Duration> {
        self.checkpoint()?;
        let dir = self.dir.clone();
        crate::timed_reopen(&mut self.open, || open_db(&dir))
    }

    fn stats(&self) -> StoreStats {
        let Ok((_, keyspace)) = self.handles() else {
            return StoreStats::default();
        };
        StoreStats {
            keys: keyspace.len().unwrap_or(0) as u64,
            file_bytes: keyspace.disk_space(),
            segments: keyspace.table_count() as u64,
            space_amplification: 1.0,
            ..StoreStats::default()
        }
    }
}
