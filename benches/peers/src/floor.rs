//! The floor of any "index, then record" store: a hash table from key to offset over an
//! append-only log of records, both in memory, both in huge pages.
//!
//! alexdb's `get` is two dependent reads: the index (the key's slot, which holds the
//! record's offset), then the record in the log. No design of that shape can do with less
//! than one read of each, and this store does exactly that much: one multiply-shift hash
//! and (almost always) one cache line of an open-addressing table at load ≤ 1/2, then the
//! record's lines, asked for together as alexdb asks for them — no learned model, no
//! search, no checksum, no mmap of a file, a read lock no other thread writes. Its rate
//! is what alexdb's design could reach with every piece of its own work made free;
//! between it and alexdb is what alexdb's own code costs, between it and the `null` store
//! what the two reads themselves cost on this machine.
//!
//! Writes are for loading it; deletes leave tombstones; scans are refused (the table keeps
//! no order). Nothing reaches a disk; `reopen` keeps the data.

use alexdb::cli::store::{CompactSummary, KvStore, StoreStats};
use memmap2::{MmapMut, MmapOptions};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Bytes of the log's reservation: address space only, memory is used as it is written.
const LOG_RESERVATION: usize = 16 << 30;
/// Slots of the first table (grows by doubling at load 1/2).
const FIRST_SLOTS: usize = 1 << 10;
/// A slot nobody has used.
const EMPTY: u64 = u64::MAX;
/// A deleted key's slot (probes continue past it).
const TOMBSTONE: u64 = u64::MAX - 1;
/// A record: key (8 bytes), value length (4), the value.
const RECORD_HEAD: usize = 12;

/// Anonymous memory of `len` bytes, reserved without swap (`MAP_NORESERVE`: pages are
/// found as they are first written) and advised into huge pages (advice only: on a
/// kernel without transparent huge pages it stays in small ones).
fn huge_anon(len: usize) -> std::io::Result<MmapMut> {
    let map = MmapOptions::new().len(len).no_reserve_swap().map_anon()?;
    #[cfg(target_os = "linux")]
    let _ = map.advise(memmap2::Advice::HugePage);
    Ok(map)
}

/// The floor's errors as a peer's, with no file behind them.
fn floor_error(what: &str) -> alexdb::Error {
    crate::peer_error(std::path::Path::new("(memory)"), "floor", what)
}

/// Open addressing, linear probing: `(key, offset)` pairs, `offset` [`EMPTY`] or
/// [`TOMBSTONE`] for a free slot.
struct Table {
    slots: MmapMut,
    mask: usize,
    /// `64 - log2(slots)`: a key's home is the top bits of its multiplied hash.
    shift: u32,
    /// Slots holding a key or a tombstone (what the load factor counts).
    used: usize,
}

impl Table {
    fn with_slots(count: usize) -> std::io::Result<Table> {
        let mut slots = huge_anon(count * 16)?;
        for pair in slots.chunks_exact_mut(16) {
            pair[8..].copy_from_slice(&EMPTY.to_le_bytes());
        }
        Ok(Table {
            slots,
            mask: count - 1,
            shift: 64 - count.trailing_zeros(),
            used: 0,
        })
    }

    #[inline(always)]
    fn home(&self, key: i64) -> usize {
        ((key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    #[inline(always)]
    fn pair(&self, slot: usize) -> (i64, u64) {
        let bytes = &self.slots[slot * 16..slot * 16 + 16];
        let key = i64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
        let offset = u64::from_le_bytes(bytes[8..].try_into().expect("8 bytes"));
        (key, offset)
    }

    fn set(&mut self, slot: usize, key: i64, offset: u64) {
        self.slots[slot * 16..slot * 16 + 8].copy_from_slice(&key.to_le_bytes());
        self.slots[slot * 16 + 8..slot * 16 + 16].copy_from_slice(&offset.to_le_bytes());
    }

    /// The slot holding `key`, if any.
    #[inline(always)]
    fn find(&self, key: i64) -> Option<usize> {
        let mut slot = self.home(key);
        loop {
            match self.pair(slot) {
                (_, EMPTY) => return None,
                (k, offset) if k == key && offset != TOMBSTONE => return Some(slot),
                _ => slot = (slot + 1) & self.mask,
            }
        }
    }

    /// Point `key` at `offset` (a new slot if it has none).
    fn put(&mut self, key: i64, offset: u64) {
        if let Some(slot) = self.find(key) {
            self.set(slot, key, offset);
            return;
        }
        let mut slot = self.home(key);
        while !matches!(self.pair(slot).1, EMPTY | TOMBSTONE) {
            slot = (slot + 1) & self.mask;
        }
        if self.pair(slot).1 == EMPTY {
            self.used += 1;
        }
        self.set(slot, key, offset);
    }

    /// Every live `(key, offset)`, in slot order.
    fn live(&self) -> impl Iterator<Item = (i64, u64)> + '_ {
        (0..=self.mask)
            .map(|slot| self.pair(slot))
            .filter(|&(_, offset)| offset != EMPTY && offset != TOMBSTONE)
    }
}

struct Inner {
    table: Table,
    log: MmapMut,
    log_len: usize,
}

impl Inner {
    fn value(&self, offset: u64) -> &[u8] {
        let at = offset as usize;
        let len = u32::from_le_bytes(self.log[at + 8..at + 12].try_into().expect("4 bytes"));
        &self.log[at + RECORD_HEAD..at + RECORD_HEAD + len as usize]
    }

    fn append(&mut self, key: i64, value: &[u8]) -> alexdb::Result<u64> {
        let len = u32::try_from(value.len()).map_err(|_| floor_error("value over 4 GiB"))?;
        let at = self.log_len;
        let end = at + RECORD_HEAD + value.len();
        if end > self.log.len() {
            return Err(floor_error("log reservation full"));
        }
        self.log[at..at + 8].copy_from_slice(&key.to_le_bytes());
        self.log[at + 8..at + 12].copy_from_slice(&len.to_le_bytes());
        self.log[at + RECORD_HEAD..end].copy_from_slice(value);
        self.log_len = end;
        Ok(at as u64)
    }

    /// Double the table (rebuilt without tombstones) once half its slots are used.
    fn reserve_one(&mut self) -> alexdb::Result<()> {
        if (self.table.used + 1) * 2 <= self.table.mask + 1 {
            return Ok(());
        }
        let mut bigger = Table::with_slots((self.table.mask + 1) * 2)
            .map_err(|error| floor_error(&error.to_string()))?;
        for (key, offset) in self.table.live() {
            bigger.put(key, offset);
        }
        self.table = bigger;
        Ok(())
    }

    fn put(&mut self, key: i64, value: &[u8]) -> alexdb::Result<()> {
        self.reserve_one()?;
        let offset = self.append(key, value)?;
        self.table.put(key, offset);
        Ok(())
    }
}

/// Stripes of the reader lock: a reader takes its thread's stripe only.
const STRIPES: usize = 16;

/// One stripe on a cache line of its own, so readers on different threads write no
/// shared line.
#[repr(align(128))]
#[derive(Default)]
struct Stripe(RwLock<()>);

/// See the module documentation.
pub struct FloorStore {
    /// A reader holds its thread's stripe shared; a writer holds every stripe exclusively
    /// (taken in index order). A single lock word would be written by every reader, and
    /// at 2 threads its line's trips between the cores took most of a floor `get`.
    stripes: [Stripe; STRIPES],
    inner: UnsafeCell<Inner>,
}

// SAFETY: `inner` is read only under a shared stripe and written only under all stripes
// held exclusively (`read` and `write` below), so a write never overlaps another access;
// the mappings it holds are plain memory, usable from any thread.
unsafe impl Sync for FloorStore {}
// SAFETY: as above; nothing in it is tied to the thread that made it.
unsafe impl Send for FloorStore {}

/// The stripe of the calling thread (threads numbered in the order they first ask).
fn stripe_of_thread() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
    }
    STRIPE.with(|stripe| *stripe)
}

struct ReadGuard<'a> {
    _stripe: RwLockReadGuard<'a, ()>,
    inner: &'a Inner,
}

struct WriteGuard<'a> {
    _stripes: Vec<RwLockWriteGuard<'a, ()>>,
    inner: &'a mut Inner,
}

impl FloorStore {
    pub fn new() -> alexdb::Result<FloorStore> {
        let io = |error: std::io::Error| floor_error(&error.to_string());
        Ok(FloorStore {
            stripes: Default::default(),
            inner: UnsafeCell::new(Inner {
                table: Table::with_slots(FIRST_SLOTS).map_err(io)?,
                log: huge_anon(LOG_RESERVATION).map_err(io)?,
                log_len: 0,
            }),
        })
    }

    fn read(&self) -> ReadGuard<'_> {
        let stripe = self.stripes[stripe_of_thread()]
            .0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // SAFETY: a stripe is held shared, so no writer holds all of them (see `Sync`).
        let inner = unsafe { &*self.inner.get() };
        ReadGuard {
            _stripe: stripe,
            inner,
        }
    }

    fn write(&self) -> WriteGuard<'_> {
        let stripes = self
            .stripes
            .iter()
            .map(|stripe| {
                stripe
                    .0
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
            })
            .collect();
        // SAFETY: every stripe is held exclusively, so no reader or other writer holds
        // one (see `Sync`), and this guard is the only way to `inner` until it drops.
        let inner = unsafe { &mut *self.inner.get() };
        WriteGuard {
            _stripes: stripes,
            inner,
        }
    }
}

impl std::ops::Deref for ReadGuard<'_> {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        self.inner
    }
}

impl std::ops::Deref for WriteGuard<'_> {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        self.inner
    }
}

impl std::ops::DerefMut for WriteGuard<'_> {
    fn deref_mut(&mut self) -> &mut Inner {
        self.inner
    }
}

impl KvStore for FloorStore {
    fn name(&self) -> &'static str {
        "floor"
    }

    fn get(&self, key: i64, out: &mut Vec<u8>) -> alexdb::Result<bool> {
        out.clear();
        let inner = self.read();
        let Some(slot) = inner.table.find(key) else {
            return Ok(false);
        };
        let offset = inner.table.pair(slot).1;
        // The record's first three lines together, as alexdb's `get` asks for them.
        #[cfg(target_arch = "x86_64")]
        for line in 0..3 {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            let address = inner.log.as_ptr().wrapping_add(offset as usize + 64 * line);
            // SAFETY: a prefetch never faults and reads nothing into the program.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(address as *const i8) };
        }
        out.extend_from_slice(inner.value(offset));
        Ok(true)
    }

    fn put(&self, key: i64, value: &[u8]) -> alexdb::Result<()> {
        self.write().put(key, value)
    }

    fn put_batch(&self, items: &[(i64, &[u8])]) -> alexdb::Result<()> {
        let mut inner = self.write();
        for (key, value) in items {
            inner.put(*key, value)?;
        }
        Ok(())
    }

    fn delete(&self, key: i64) -> alexdb::Result<bool> {
        let mut inner = self.write();
        let Some(slot) = inner.table.find(key) else {
            return Ok(false);
        };
        inner.table.set(slot, key, TOMBSTONE);
        Ok(true)
    }

    /// Refused: the table keeps no order, and a floor for point reads says nothing of
    /// scans.
    fn scan(
        &self,
        _start: i64,
        _count: usize,
        _f: &mut dyn FnMut(i64, &[u8]),
    ) -> alexdb::Result<usize> {
        Err(floor_error("no scans (a floor for point reads only)"))
    }

    fn checkpoint(&self) -> alexdb::Result<()> {
        Ok(())
    }

    fn compact(&self) -> alexdb::Result<CompactSummary> {
        Ok(crate::nothing_compacted())
    }

    fn reopen(&mut self) -> alexdb::Result<std::time::Duration> {
        Ok(std::time::Duration::ZERO)
    }

    fn stats(&self) -> StoreStats {
        let inner = self.read();
        StoreStats {
            keys: inner.table.live().count() as u64,
            index_bytes: inner.table.slots.len() as u64,
            ..StoreStats::default()
        }
    }
}
