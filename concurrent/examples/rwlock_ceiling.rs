//! What a mixed read/write load can gain from a second thread when every write takes one
//! `RwLock` over the index exclusively — with nothing else in the way. An `AlexMap` of 1M
//! keys behind a `parking_lot::RwLock`; a read looks a key up under the shared lock and
//! touches the 128-byte "record" it names; a write reserves a record with one atomic
//! add, copies 128 bytes (standing in for the append) and repoints the key under the
//! exclusive lock. No log, no group commit, no metrics: the part of
//! `ConcurrentAlexStorage`'s write path no design built on the `RwLock` can remove.
//! (With writes this frequent the store's reader bias is off, so its reads take the same
//! `RwLock`.) Prints 2T/1T per write percentage, 0.7 s per thread count, three rounds.
//!
//! `LOCK=slots` swaps the `RwLock` for a lock whose readers never write a shared word:
//! each thread counts itself in on its own 128-byte slot and checks a writer flag; a
//! writer takes a mutex, raises the flag and waits for every slot to drain (a "big
//! reader" lock, what the store's biased lock becomes if its bias is never turned off).
//! It asks whether a better lock would lift the ceiling at 20% writes. `LOCK=buffered`
//! goes further than the design allows: writes go into a small lock-free table
//! that reads probe first, under the shared side of that lock, and only every few
//! thousand writes take it exclusively to move the table into the index (see
//! `WriteBuffer`) — the ceiling of writes that do not exclude readers.
//!
//! `[LOCK=rwlock|slots|buffered] cargo run --release -p alexdb-concurrent --example rwlock_ceiling
//! -- [write %...]` (default 20 5 0). docs/PERFORMANCE.md, "Session 10" and "Session 15",
//! has the figures.

use alexdb_alex::AlexMap;
use parking_lot::{Mutex, MutexGuard, RwLock};
use std::cell::{Cell, UnsafeCell};
use std::hint::black_box;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Operations per check of the stop flag.
const BATCH: u64 = 100;

/// Reader slots of [`SlotLock`]; threads beyond this share them.
const SLOTS: usize = 32;

/// A counter on its own pair of cache lines.
#[repr(align(128))]
struct Padded(AtomicUsize);

/// The "big reader" lock of `LOCK=slots` (see the module docs).
struct SlotLock<T> {
    writers: Mutex<()>,
    writing: Padded,
    readers: Box<[Padded]>,
    data: UnsafeCell<T>,
}

// SAFETY: shared access hands out `&T` only to counted-in readers while no writer holds
// the flag, exclusive access `&mut T` only to the one writer that holds the mutex, raised
// the flag and saw every reader slot at zero afterwards (the Dekker pattern in `read`
// and `write`, all `SeqCst`), so `T: Send + Sync` is all it needs.
unsafe impl<T: Send + Sync> Sync for SlotLock<T> {}

thread_local! {
    static READER_SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

struct SlotRead<'a, T> {
    lock: &'a SlotLock<T>,
    slot: &'a AtomicUsize,
}

struct SlotWrite<'a, T> {
    lock: &'a SlotLock<T>,
    _writers: MutexGuard<'a, ()>,
}

impl<T> SlotLock<T> {
    fn new(data: T) -> SlotLock<T> {
        SlotLock {
            writers: Mutex::new(()),
            writing: Padded(AtomicUsize::new(0)),
            readers: (0..SLOTS).map(|_| Padded(AtomicUsize::new(0))).collect(),
            data: UnsafeCell::new(data),
        }
    }

    fn read(&self) -> SlotRead<'_, T> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let index = READER_SLOT.with(|slot| {
            if slot.get() == usize::MAX {
                slot.set(NEXT.fetch_add(1, Ordering::Relaxed) % SLOTS);
            }
            slot.get()
        });
        let slot = &self.readers[index].0;
        loop {
            slot.fetch_add(1, Ordering::SeqCst);
            if self.writing.0.load(Ordering::SeqCst) == 0 {
                return SlotRead { lock: self, slot };
            }
            slot.fetch_sub(1, Ordering::Release);
            while self.writing.0.load(Ordering::Relaxed) != 0 {
                std::hint::spin_loop();
            }
        }
    }

    fn write(&self) -> SlotWrite<'_, T> {
        let writers = self.writers.lock();
        self.writing.0.store(1, Ordering::SeqCst);
        for slot in self.readers.iter() {
            while slot.0.load(Ordering::SeqCst) != 0 {
                std::hint::spin_loop();
            }
        }
        SlotWrite {
            lock: self,
            _writers: writers,
        }
    }
}

impl<T> Deref for SlotRead<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this reader is counted in and saw no writer after counting in, so a
        // writer waits for it to leave before touching the data (see `SlotLock`).
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> Drop for SlotRead<'_, T> {
    fn drop(&mut self) {
        self.slot.fetch_sub(1, Ordering::Release);
    }
}

impl<T> Deref for SlotWrite<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the only writer, with every reader out (see `SlotLock`).
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for SlotWrite<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference handed out.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for SlotWrite<'_, T> {
    fn drop(&mut self) {
        self.lock.writing.0.store(0, Ordering::Release);
    }
}

/// The lock under test: `LOCK=rwlock` (default) or `LOCK=slots`.
/// Slots of [`WriteBuffer`]'s table (a power of two), and the fill at which a write
/// merges the table into the index.
const BUFFER_SLOTS: usize = 1 << 14;
const MERGE_AT: usize = BUFFER_SLOTS / 4;
/// An empty table slot (the example's keys are random; one equal to this is not written).
const NO_KEY: i64 = i64::MIN;

/// A table slot: a key and the record it points to (0 until the writer stored it).
#[repr(align(16))]
struct BufferSlot {
    key: AtomicI64,
    at: AtomicU64,
}

/// `LOCK=buffered`: writes that do not exclude readers. A write claims a slot of a small
/// open-addressing table (atomics only) under the *shared* side of a [`SlotLock`]; a read
/// probes the table, then the index, under the same shared side; once the table holds
/// [`MERGE_AT`] keys, the write that filled it takes the lock exclusively and moves them
/// into the index. The design an LSM memtable gives, in front of the learned index.
struct WriteBuffer {
    lock: SlotLock<AlexMap<u64>>,
    table: Box<[BufferSlot]>,
    used: AtomicUsize,
}

impl WriteBuffer {
    fn new(index: AlexMap<u64>) -> WriteBuffer {
        WriteBuffer {
            lock: SlotLock::new(index),
            table: (0..BUFFER_SLOTS)
                .map(|_| BufferSlot {
                    key: AtomicI64::new(NO_KEY),
                    at: AtomicU64::new(0),
                })
                .collect(),
            used: AtomicUsize::new(0),
        }
    }

    fn home(key: i64) -> usize {
        (key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) as usize
            >> (64 - BUFFER_SLOTS.trailing_zeros())
    }

    /// The record `key` points to in the table, if it is there (caller holds the shared side).
    fn probe(&self, key: i64) -> Option<u64> {
        let mut slot = Self::home(key);
        loop {
            let entry = &self.table[slot];
            match entry.key.load(Ordering::Acquire) {
                NO_KEY => return None,
                found if found == key => {
                    return match entry.at.load(Ordering::Acquire) {
                        0 => None,
                        at => Some(at),
                    };
                }
                _ => slot = (slot + 1) & (BUFFER_SLOTS - 1),
            }
        }
    }

    fn read(&self, key: i64, records: &[[u8; 128]]) -> u8 {
        let index = self.lock.read();
        let at = match self.probe(key) {
            Some(at) => at,
            None => *index.get(key).expect("every key is loaded"),
        };
        records[at as usize][0]
    }

    fn insert(&self, key: i64, at: u64) {
        let full = {
            let _shared = self.lock.read();
            let mut slot = Self::home(key);
            loop {
                let entry = &self.table[slot];
                match entry
                    .key
                    .compare_exchange(NO_KEY, key, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => {
                        entry.at.store(at.max(1), Ordering::Release);
                        break self.used.fetch_add(1, Ordering::Relaxed) + 1 == MERGE_AT;
                    }
                    Err(found) if found == key => {
                        entry.at.store(at.max(1), Ordering::Release);
                        break false;
                    }
                    Err(_) => slot = (slot + 1) & (BUFFER_SLOTS - 1),
                }
            }
        };
        if full {
            let mut index = self.lock.write();
            for entry in self.table.iter() {
                let key = entry.key.load(Ordering::Relaxed);
                if key != NO_KEY {
                    let at = entry.at.load(Ordering::Relaxed);
                    if at != 0 {
                        index.insert(key, at);
                    }
                    entry.key.store(NO_KEY, Ordering::Relaxed);
                    entry.at.store(0, Ordering::Relaxed);
                }
            }
            self.used.store(0, Ordering::Relaxed);
        }
    }
}

enum Index {
    RwLock(RwLock<AlexMap<u64>>),
    Slots(SlotLock<AlexMap<u64>>),
    Buffered(WriteBuffer),
}

impl Index {
    /// Look `key` up and read the first byte of its record, under the shared lock.
    #[inline]
    fn read(&self, key: i64, records: &[[u8; 128]]) -> u8 {
        let touch = |index: &AlexMap<u64>| {
            let at = *index.get(key).expect("every key is loaded");
            records[at as usize][0]
        };
        match self {
            Index::RwLock(lock) => touch(&lock.read()),
            Index::Slots(lock) => touch(&lock.read()),
            Index::Buffered(buffer) => buffer.read(key, records),
        }
    }

    #[inline]
    fn insert(&self, key: i64, at: u64) {
        match self {
            Index::RwLock(lock) => lock.write().insert(key, at),
            Index::Slots(lock) => lock.write().insert(key, at),
            Index::Buffered(buffer) => {
                buffer.insert(key, at);
                None
            }
        };
    }
}

struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn main() {
    let mut percents: Vec<u64> = std::env::args()
        .skip(1)
        .map(|arg| arg.parse().expect("write percentage"))
        .collect();
    if percents.is_empty() {
        percents = vec![20, 5, 0];
    }
    let mut rng = Xorshift(88_172_645_463_325_252);
    let mut keys: Vec<i64> = (0..1_000_000).map(|_| rng.next() as i64).collect();
    keys.sort_unstable();
    keys.dedup();
    let records: Vec<[u8; 128]> = vec![[7u8; 128]; keys.len() * 2];
    let pairs: Vec<(i64, u64)> = keys
        .iter()
        .enumerate()
        .map(|(i, &k)| (k, i as u64))
        .collect();
    let loaded = AlexMap::bulk_load(&pairs).expect("sorted, distinct keys");
    let lock = std::env::var("LOCK").unwrap_or_else(|_| "rwlock".into());
    let map = match lock.as_str() {
        "rwlock" => Index::RwLock(RwLock::new(loaded)),
        "slots" => Index::Slots(SlotLock::new(loaded)),
        "buffered" => Index::Buffered(WriteBuffer::new(loaded)),
        other => panic!("LOCK={other}: expected rwlock, slots or buffered"),
    };
    println!("lock: {lock}");
    let tail = AtomicU64::new(keys.len() as u64);
    let run = |threads: usize, percent: u64| -> f64 {
        let stop = AtomicBool::new(false);
        let ops = AtomicU64::new(0);
        let started = Instant::now();
        std::thread::scope(|scope| {
            for thread in 0..threads {
                let (map, keys, records, tail, stop, ops) =
                    (&map, &keys, &records, &tail, &stop, &ops);
                scope.spawn(move || {
                    let mut rng = Xorshift(0x9E37_79B9_7F4A_7C15 ^ (thread as u64 + 1));
                    let mut scratch = [0u8; 128];
                    let mut done = 0;
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..BATCH {
                            let draw = rng.next();
                            let key = keys[(draw % keys.len() as u64) as usize];
                            if (draw >> 7) % 100 < percent {
                                let at =
                                    tail.fetch_add(1, Ordering::Relaxed) % records.len() as u64;
                                scratch.copy_from_slice(&records[at as usize]);
                                black_box(&scratch);
                                map.insert(key, at);
                            } else {
                                black_box(map.read(key, records));
                            }
                        }
                        done += BATCH;
                    }
                    ops.fetch_add(done, Ordering::Relaxed);
                });
            }
            std::thread::sleep(Duration::from_millis(700));
            stop.store(true, Ordering::Relaxed);
        });
        ops.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
    };
    for &percent in &percents {
        for _ in 0..3 {
            let one = run(1, percent);
            let two = run(2, percent);
            println!(
                "{percent}% writes: 1T {:.2} M ops/s, 2T {:.2} M ops/s, 2T/1T {:.3}",
                one / 1e6,
                two / 1e6,
                two / one
            );
        }
    }
}
