//! LMDB through heed: one environment, one unnamed database of raw bytes.

use crate::{Durability, decode_key, encode_key, nothing_compacted, peer_error};
use alexdb::cli::store::{CompactSummary, KvStore, StoreStats};
use heed::types::Bytes;
use heed::{CommitOrAbort, Database, Env, EnvFlags, EnvOpenOptions};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The memory map's size: the most the data file may grow to (sparse until used).
const MAP_SIZE: usize = 16 << 30;

/// LMDB. The option is `None` only while `reopen` runs or after it failed.
#[derive(Debug)]
pub struct LmdbStore {
    dir: PathBuf,
    durability: Durability,
    env: Option<Env>,
    db: Database<'static, Bytes, Bytes>,
}

fn fail(dir: &Path) -> impl Fn(heed::Error) -> alexdb::Error + '_ {
    move |error| peer_error(dir, "lmdb", error)
}

fn open_env(
    dir: &Path,
    durability: Durability,
) -> alexdb::Result<(Env, Database<'static, Bytes, Bytes>)> {
    std::fs::create_dir_all(dir).map_err(|source| alexdb::Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut options = EnvOpenOptions::new();
    options.map_size(MAP_SIZE).max_dbs(1);
    if durability == Durability::Fast {
        // SAFETY: NO_SYNC and NO_META_SYNC only drop the fsyncs at commit: a system crash
        // may lose the last transactions, which is the point of the fast setting; no
        // memory safety depends on them.
        unsafe { options.flags(EnvFlags::NO_SYNC | EnvFlags::NO_META_SYNC) };
    }
    // SAFETY: heed requires that this process not open the same environment twice at once
    // and that no other code truncates the file under the map; the directory is this
    // store's own, and `reopen` closes the environment (and waits) before opening it again.
    let env = unsafe { options.open(dir) }.map_err(fail(dir))?;
    let txn = env.write_txn().map_err(fail(dir))?;
    let db = env
        .create_databases_and_commit(txn, |opener, txn| -> heed::Result<_> {
            let db = opener.create_database::<Bytes, Bytes>(txn, None)?;
            Ok(CommitOrAbort::<_, ()>::Commit(db))
        })
        .map_err(fail(dir))?
        .unwrap_commit();
    Ok((env, db))
}

impl LmdbStore {
    pub fn open(dir: &Path, durability: Durability) -> alexdb::Result<LmdbStore> {
        let (env, db) = open_env(dir, durability)?;
        Ok(LmdbStore {
            dir: dir.to_path_buf(),
            durability,
            env: Some(env),
            db,
        })
    }

    fn env(&self) -> alexdb::Result<&Env> {
        self.env
            .as_ref()
            .ok_or_else(|| peer_error(&self.dir, "lmdb", "closed (an earlier reopen failed)"))
    }
}

impl KvStore for LmdbStore {
    fn name(&self) -> &'static str {
        "lmdb"
    }

    fn get(&self, key: i64, out: &mut Vec<u8>) -> alexdb::Result<bool> {
        out.clear();
        let txn = self.env()?.read_txn().map_err(fail(&self.dir))?;
        match self
            .db
            .get(&txn, &encode_key(key))
            .map_err(fail(&self.dir))?
        {
            Some(value) => {
                out.extend_from_slice(value);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// One read transaction for the whole batch (LMDB's way to read many keys).
    fn multi_get(
        &self,
        keys: &[i64],
        f: &mut dyn FnMut(usize, Option<&[u8]>),
    ) -> alexdb::Result<()> {
        let txn = self.env()?.read_txn().map_err(fail(&self.dir))?;
        for (i, &key) in keys.iter().enumerate() {
            f(
                i,
                self.db
                    .get(&txn, &encode_key(key))
                    .map_err(fail(&self.dir))?,
            );
        }
        Ok(())
    }

    fn put(&self, key: i64, value: &[u8]) -> alexdb::Result<()> {
        self.put_batch(&[(key, value)])
    }

    fn put_batch(&self, items: &[(i64, &[u8])]) -> alexdb::Result<()> {
        let mut txn = self.env()?.write_txn().map_err(fail(&self.dir))?;
        for (key, value) in items {
            self.db
                .put(&mut txn, &encode_key(*key), value)
                .map_err(fail(&self.dir))?;
        }
        txn.commit().map_err(fail(&self.dir))
    }

    fn delete(&self, key: i64) -> alexdb::Result<bool> {
        let mut txn = self.env()?.write_txn().map_err(fail(&self.dir))?;
        let existed = self
            .db
            .delete(&mut txn, &encode_key(key))
            .map_err(fail(&self.dir))?;
        txn.commit().map_err(fail(&self.dir))?;
        Ok(existed)
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
        let txn = self.env()?.read_txn().map_err(fail(&self.dir))?;
        let start = encode_key(start);
        let bounds: (Bound<&[u8]>, Bound<&[u8]>) = (Bound::Included(&start[..]), Bound::Unbounded);
        let mut seen = 0;
        for item in self.db.range(&txn, &bounds).map_err(fail(&self.dir))? {
            let (key, value) = item.map_err(fail(&self.dir))?;
            let key = decode_key(key)
                .ok_or_else(|| peer_error(&self.dir, "lmdb", "a key is not 8 bytes"))?;
            f(key, value);
            seen += 1;
            if seen == count {
                break;
            }
        }
        Ok(seen)
    }

    fn checkpoint(&self) -> alexdb::Result<()> {
        self.env()?.force_sync().map_err(fail(&self.dir))
    }

    fn compact(&self) -> alexdb::Result<CompactSummary> {
        // LMDB reuses freed pages in place; nothing to do.
        Ok(nothing_compacted())
    }

    fn reopen(&mut self) -> alexdb::Result<Duration> {
        if let Some(env) = self.env.take() {
            env.prepare_for_closing().wait();
        }
        let started = Instant::now();
        let (env, db) = open_env(&self.dir, self.durability)?;
        let elapsed = started.elapsed();
        self.env = Some(env);
        self.db = db;
        Ok(elapsed)
    }

    fn stats(&self) -> StoreStats {
        let Ok(env) = self.env() else {
            return StoreStats::default();
        };
        let keys = env
            .read_txn()
            .and_then(|txn| self.db.len(&txn))
            .unwrap_or(0);
        StoreStats {
            keys,
            file_bytes: env.real_disk_size().unwrap_or(0),
            space_amplification: 1.0,
            ..StoreStats::default()
        }
    }
}
