//! Runs alexdb and its peers through the same workloads and prints ops/s and the ratio
//! alexdb/peer for each case, then the issue's must-reach ratios as met or missed.
//!
//! ```text
//! cargo run --release --manifest-path benches/peers/Cargo.toml -- \
//!     [--records 1000000] [--ops N] [--threads 1,2] [--durability both|durable|fast] \
//!     [--stores alexdb,lmdb,redb,fjall,btree,null[,rocksdb][,floor]] \
//!     [--workloads ycsb-a,...,ycsb-f,fillrandom,readrandom,multireadrandom] [--dir DIR] \
//!     [--rounds N] [--reopen-after-load]
//! ```
//!
//! For each durability, every store is opened (and loaded) in its own directory under
//! `--dir` (deleted afterwards); then each case runs on every store in turn, one store at
//! a time, so that a peer's run and alexdb's are minutes — not whole store lifetimes —
//! apart. With `--rounds N` all the cases are run N times over, the stores' order
//! rotating by one each round; the table gives each store's median rate and the median
//! of the per-round ratios (a round's alexdb run against the same round's peer run).
//! Why: this machine's memory has slow and fast spells lasting seconds (the same binary
//! reads at ~310 and ~550 ns per `get` within one process), so a ratio of two runs made
//! far apart can measure the spells rather than the stores. `--reopen-after-load` closes
//! and reopens every store once it is loaded, before the first case (YCSB's load and run
//! are separate invocations; alexdb then reads through an index bulk loaded at open
//! instead of the one its inserts grew).
//! - YCSB (`alexdb::cli::workload::ycsb::run`): one store per durability, loaded with
//!   `--records` records by the first workload (batches of 100, not timed); the other
//!   workloads and thread counts then run one after another on the loaded store, as
//!   YCSB itself is run (their load phase is skipped, see `Loaded`).
//! - `readrandom` (`alexdb::cli::workload::dbbench::run_on_store`): one store loaded with
//!   keys `0..records` in a shuffled order (batches of 100, not timed), then random
//!   `get`s, once per thread count; `multireadrandom` then reads the same store 100
//!   random keys per `KvStore::multi_get` call (ops counted per key).
//! - `fillrandom` (the same entry point): random `put`s of keys in `0..records` into an
//!   empty store, a fresh one per thread count.
//!
//! The `null` store does nothing: its rate is the driver's own, the floor under all.
//! The `floor` store (only when asked for; no scans) is a hash table over an in-memory
//! log: the floor of any store that reads an index and then a record, as alexdb does.

use alexdb::cli::store::{CompactSummary, KvStore, StoreStats};
use alexdb::cli::workload::dbbench;
use alexdb::cli::workload::make_value;
use alexdb::cli::workload::ycsb::{self, Workload, YcsbOptions};
use alexdb_peers::{Durability, StoreKind, open_store};
use clap::Parser;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(about = "alexdb side by side with LMDB, redb, fjall, RocksDB and a BTreeMap")]
struct Args {
    /// Records loaded before each case (the key space of fillrandom/readrandom).
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Timed operations of every case (default: per case, see --help of the docs).
    #[arg(long)]
    ops: Option<u64>,
    /// Thread counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    threads: Vec<usize>,
    #[arg(long, value_enum, default_value_t = DurabilityChoice::Both)]
    durability: DurabilityChoice,
    /// Stores, comma-separated; alexdb is always run (every ratio divides by it).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = default_stores())]
    stores: Vec<StoreKind>,
    /// Workloads, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = ALL_WORKLOADS.to_vec())]
    workloads: Vec<Work>,
    /// Value bytes.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// Where the stores' directories go (default: the system temp dir). Must not be a
    /// tmpfs for the durable cases to mean anything.
    #[arg(long)]
    dir: Option<PathBuf>,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Times every case is run on every store, interleaved (see the module docs).
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Close and reopen every store after its load, before the first case: YCSB's own
    /// procedure, whose load and run phases are separate invocations that each open
    /// the database (and db_bench's `--use_existing_db`). Off by default: the stores are
    /// read as the load left them.
    #[arg(long)]
    reopen_after_load: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum DurabilityChoice {
    Both,
    Durable,
    Fast,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Work {
    #[value(name = "ycsb-a")]
    YcsbA,
    #[value(name = "ycsb-b")]
    YcsbB,
    #[value(name = "ycsb-c")]
    YcsbC,
    #[value(name = "ycsb-d")]
    YcsbD,
    #[value(name = "ycsb-e")]
    YcsbE,
    #[value(name = "ycsb-f")]
    YcsbF,
    Fillrandom,
    Readrandom,
    /// `readrandom` asked 100 keys per batched read (`KvStore::multi_get`: alexdb's
    /// `multi_get`, one read transaction for LMDB and redb, `get` per key otherwise).
    Multireadrandom,
}

const ALL_WORKLOADS: [Work; 9] = [
    Work::YcsbA,
    Work::YcsbB,
    Work::YcsbC,
    Work::YcsbD,
    Work::YcsbE,
    Work::YcsbF,
    Work::Fillrandom,
    Work::Readrandom,
    Work::Multireadrandom,
];

fn default_stores() -> Vec<StoreKind> {
    let mut stores = vec![
        StoreKind::Alexdb,
        StoreKind::Lmdb,
        StoreKind::Redb,
        StoreKind::Fjall,
        StoreKind::Btree,
    ];
    if cfg!(feature = "rocksdb") {
        stores.push(StoreKind::Rocksdb);
    }
    stores.push(StoreKind::Null);
    stores
}

impl Work {
    fn name(self) -> &'static str {
        match self {
            Work::YcsbA => "ycsb-a",
            Work::YcsbB => "ycsb-b",
            Work::YcsbC => "ycsb-c",
            Work::YcsbD => "ycsb-d",
            Work::YcsbE => "ycsb-e",
            Work::YcsbF => "ycsb-f",
            Work::Fillrandom => "fillrandom",
            Work::Readrandom => "readrandom",
            Work::Multireadrandom => "multireadrandom",
        }
    }

    fn ycsb(self) -> Option<Workload> {
        Some(match self {
            Work::YcsbA => Workload::A,
            Work::YcsbB => Workload::B,
            Work::YcsbC => Workload::C,
            Work::YcsbD => Workload::D,
            Work::YcsbE => Workload::E,
            Work::YcsbF => Workload::F,
            Work::Fillrandom | Work::Readrandom | Work::Multireadrandom => return None,
        })
    }

    /// Timed operations of a case by default: a million where the writes are cheap or
    /// absent, fewer where every write is an fsync (durable) or an operation is a scan.
    fn default_ops(self, durability: Durability, records: u64) -> u64 {
        match (self, durability) {
            (Work::Fillrandom, Durability::Fast) => records,
            (Work::Fillrandom, Durability::Durable) => 50_000,
            (Work::YcsbE, _) => 100_000,
            (Work::YcsbA | Work::YcsbF, Durability::Durable) => 50_000,
            (Work::YcsbB | Work::YcsbD, Durability::Durable) => 200_000,
            _ => 1_000_000,
        }
    }

    /// The issue's must-reach ratio alexdb/LMDB for this workload, if any.
    fn must_reach_vs_lmdb(self) -> Option<f64> {
        match self {
            Work::YcsbC | Work::Readrandom => Some(3.0),
            Work::YcsbB => Some(2.0),
            _ => None,
        }
    }
}

/// One store's runs of one case: a rate per round, or the failure that ended them.
#[derive(Default)]
struct Measured {
    /// ops/s of each round, in round order.
    rounds: Vec<f64>,
    failed: bool,
}

impl Measured {
    /// The rates, or `None` if a round failed or none ran.
    fn rates(&self) -> Option<&[f64]> {
        (!self.failed && !self.rounds.is_empty()).then_some(self.rounds.as_slice())
    }
}

/// The median of a non-empty list (the mean of the two middle values for an even count).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[middle]
    } else {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    }
}

/// One row of the table: a workload at a durability and thread count.
struct Row {
    work: Work,
    durability: Durability,
    threads: usize,
    ops: u64,
    /// Per store, in the order of `--stores` (a failure's message is printed).
    results: Vec<Measured>,
}

fn main() {
    let mut args = Args::parse();
    if !args.stores.contains(&StoreKind::Alexdb) {
        args.stores.insert(0, StoreKind::Alexdb);
    }
    args.stores.dedup();
    if args.records == 0 || args.threads.contains(&0) || args.rounds == 0 {
        eprintln!("--records, --threads and --rounds must be at least 1");
        std::process::exit(2);
    }
    let base = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    if let Err(error) = std::fs::create_dir_all(&base) {
        eprintln!("cannot create {}: {error}", base.display());
        std::process::exit(1);
    }
    let durabilities: Vec<Durability> = match args.durability {
        DurabilityChoice::Both => vec![Durability::Fast, Durability::Durable],
        DurabilityChoice::Durable => vec![Durability::Durable],
        DurabilityChoice::Fast => vec![Durability::Fast],
    };

    let started = Instant::now();
    println!("# alexdb and peers, side by side");
    println!();
    println!(
        "records {} x {} B values, i64 keys (peers: 8 order-preserving bytes); stores: {}",
        args.records,
        args.value_size,
        args.stores
            .iter()
            .map(|store| store.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "data under {} ({}); load at start: {}",
        base.display(),
        filesystem_of(&base),
        loadavg()
    );
    println!(
        "{} round(s), stores interleaved case by case; rates are medians of the rounds, \
         ratios medians of the per-round ratios{}",
        args.rounds,
        if args.reopen_after_load {
            "; every store closed and reopened after its load"
        } else {
            ""
        }
    );
    println!();

    let mut rows = Vec::new();
    for &durability in &durabilities {
        for &work in &args.workloads {
            for &threads in &args.threads {
                rows.push(Row {
                    work,
                    durability,
                    threads,
                    ops: args
                        .ops
                        .unwrap_or_else(|| work.default_ops(durability, args.records)),
                    results: args.stores.iter().map(|_| Measured::default()).collect(),
                });
            }
        }
    }
    let mut run = Run {
        args: &args,
        base: &base,
        rows,
        started,
        measured: 0,
    };
    for &durability in &durabilities {
        run.durability(durability);
    }
    let rows = run.rows;

    print_table(&args.stores, &rows);
    println!();
    print_must_reach(&args.stores, &rows);
    println!();
    println!(
        "total {:.0} s; load at end: {}",
        started.elapsed().as_secs_f64(),
        loadavg()
    );
}

/// A store opened fresh in its own temporary directory.
struct Fresh {
    store: Box<dyn KvStore>,
    dir: tempfile::TempDir,
}

impl Fresh {
    fn open(base: &Path, kind: StoreKind, durability: Durability) -> Result<Fresh, String> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("peers-{}-", kind.name()))
            .tempdir_in(base)
            .map_err(|error| format!("temp dir in {}: {error}", base.display()))?;
        let store =
            open_store(kind, &dir.path().join("db"), durability).map_err(|e| e.to_string())?;
        Ok(Fresh { store, dir })
    }

    /// Close the store, then delete its directory.
    fn close(self) -> Result<(), String> {
        drop(self.store);
        self.dir
            .close()
            .map_err(|error| format!("removing the store: {error}"))
    }
}

/// A store that already holds the YCSB records: forwards everything but `put_batch`,
/// which only YCSB's load phase calls and which would write the very same keys and
/// values again. This is YCSB's own practice: load once, then run the workloads one
/// after another on the loaded database.
struct Loaded<'a>(&'a dyn KvStore);

impl KvStore for Loaded<'_> {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn get(&self, key: i64, out: &mut Vec<u8>) -> alexdb::Result<bool> {
        self.0.get(key, out)
    }
    fn put(&self, key: i64, value: &[u8]) -> alexdb::Result<()> {
        self.0.put(key, value)
    }
    fn put_batch(&self, _items: &[(i64, &[u8])]) -> alexdb::Result<()> {
        Ok(())
    }
    fn delete(&self, key: i64) -> alexdb::Result<bool> {
        self.0.delete(key)
    }
    fn scan(
        &self,
        start: i64,
        count: usize,
        f: &mut dyn FnMut(i64, &[u8]),
    ) -> alexdb::Result<usize> {
        self.0.scan(start, count, f)
    }
    fn checkpoint(&self) -> alexdb::Result<()> {
        self.0.checkpoint()
    }
    fn compact(&self) -> alexdb::Result<CompactSummary> {
        self.0.compact()
    }
    fn reopen(&mut self) -> alexdb::Result<std::time::Duration> {
        Err(alexdb::Error::Io {
            path: PathBuf::new(),
            source: std::io::Error::other("a borrowed store cannot be reopened"),
        })
    }
    fn stats(&self) -> StoreStats {
        self.0.stats()
    }
}

/// The store in `fresh`, or why there is none.
fn opened(fresh: &Option<Result<Fresh, String>>) -> Result<&dyn KvStore, String> {
    match fresh {
        Some(Ok(fresh)) => Ok(&*fresh.store),
        Some(Err(message)) => Err(message.clone()),
        None => Err("store not opened for this case".to_string()),
    }
}

/// One store kind's stores at one durability, open side by side with the other kinds'.
struct Opened {
    /// Position in `--stores`.
    index: usize,
    kind: StoreKind,
    /// The YCSB store (if a YCSB workload was asked), or why it could not be opened.
    ycsb: Option<Result<Fresh, String>>,
    /// Whether the YCSB records are in (the first YCSB workload loads them).
    ycsb_loaded: bool,
    /// The store loaded with keys `0..records` for readrandom and multireadrandom.
    reads: Option<Result<Fresh, String>>,
}

/// The state of a whole comparison.
struct Run<'a> {
    args: &'a Args,
    base: &'a Path,
    rows: Vec<Row>,
    started: Instant,
    measured: usize,
}

impl Run<'_> {
    /// Every case at `durability`: open (and load) every store, then run each case on
    /// each store in turn, `--rounds` times over, the stores' order rotating by one each
    /// round. YCSB's workloads share one store per kind, loaded by the first of them;
    /// readrandom and multireadrandom one loaded with keys `0..records`; fillrandom gets
    /// an empty store per run.
    fn durability(&mut self, durability: Durability) {
        let args = self.args;
        let ycsb = args.workloads.iter().any(|work| work.ycsb().is_some());
        let reads = args
            .workloads
            .iter()
            .any(|work| matches!(work, Work::Readrandom | Work::Multireadrandom));
        let mut opened: Vec<Opened> = args
            .stores
            .iter()
            .copied()
            .enumerate()
            .map(|(index, kind)| Opened {
                index,
                kind,
                ycsb: ycsb.then(|| Fresh::open(self.base, kind, durability)),
                ycsb_loaded: false,
                reads: reads.then(|| {
                    Fresh::open(self.base, kind, durability).and_then(|fresh| {
                        load_shuffled(&*fresh.store, args.records, args.value_size)?;
                        Ok(fresh)
                    })
                }),
            })
            .collect();
        if args.reopen_after_load {
            for store in &mut opened {
                self.load_and_reopen(store);
            }
        }
        // Fillrandom last, as before: its fresh stores do not sit between the reads.
        let mut works = args.workloads.clone();
        works.sort_by_key(|work| *work == Work::Fillrandom);
        for round in 0..args.rounds {
            for &work in &works {
                for &threads in &args.threads {
                    let count = opened.len();
                    for turn in 0..count {
                        let store = &mut opened[(turn + round) % count];
                        let (index, kind) = (store.index, store.kind);
                        let result = self.case(store, work, durability, threads);
                        self.record(index, kind, work, durability, threads, round, result);
                    }
                }
            }
        }
        for store in opened {
            for fresh in [store.ycsb, store.reads].into_iter().flatten().flatten() {
                self.close(fresh, store.kind);
            }
        }
    }

    /// `--reopen-after-load`: load the YCSB store (the first YCSB workload with no
    /// operations), then close and reopen it and the readrandom store. A failure
    /// replaces the store by its message, as a failed open does.
    fn load_and_reopen(&self, store: &mut Opened) {
        let first_ycsb = self
            .args
            .workloads
            .iter()
            .copied()
            .find(|w| w.ycsb().is_some());
        if let (Some(Ok(fresh)), Some(work)) = (&store.ycsb, first_ycsb) {
            let options = YcsbOptions {
                workload: work.ycsb().expect("a YCSB workload"),
                records: self.args.records,
                ops: 0,
                threads: 1,
                value_size: self.args.value_size,
                seed: self.args.seed,
                distribution: None,
            };
            match ycsb::run(&*fresh.store, &options, false) {
                Ok(_) => store.ycsb_loaded = true,
                Err(error) => store.ycsb = Some(Err(format!("ycsb load: {error}"))),
            }
        }
        for slot in [&mut store.ycsb, &mut store.reads] {
            if let Some(Ok(fresh)) = slot
                && let Err(error) = fresh.store.reopen()
            {
                *slot = Some(Err(format!("reopen after load: {error}")));
            }
        }
    }

    /// One run of one case on one store.
    fn case(
        &self,
        store: &mut Opened,
        work: Work,
        durability: Durability,
        threads: usize,
    ) -> Result<f64, String> {
        match work {
            Work::Fillrandom => Fresh::open(self.base, store.kind, durability).and_then(|fresh| {
                let result = self.db_bench(&*fresh.store, Work::Fillrandom, durability, threads);
                self.close(fresh, store.kind);
                result
            }),
            Work::Readrandom | Work::Multireadrandom => {
                self.db_bench(opened(&store.reads)?, work, durability, threads)
            }
            _ => {
                let fresh = opened(&store.ycsb)?;
                let result = if store.ycsb_loaded {
                    self.ycsb(&Loaded(fresh), work, durability, threads)
                } else {
                    self.ycsb(fresh, work, durability, threads)
                };
                store.ycsb_loaded |= result.is_ok();
                result
            }
        }
    }

    fn ops(&self, work: Work, durability: Durability) -> u64 {
        self.args
            .ops
            .unwrap_or_else(|| work.default_ops(durability, self.args.records))
    }

    fn seed(&self, work: Work, threads: usize) -> u64 {
        self.args.seed ^ ((work as u64) << 8) ^ threads as u64
    }

    /// One YCSB workload (its load is skipped by a [`Loaded`] store).
    fn ycsb(
        &self,
        store: &dyn KvStore,
        work: Work,
        durability: Durability,
        threads: usize,
    ) -> Result<f64, String> {
        let workload = work.ycsb().expect("called for YCSB workloads only");
        let options = YcsbOptions {
            workload,
            records: self.args.records,
            ops: self.ops(work, durability),
            threads,
            value_size: self.args.value_size,
            seed: self.seed(work, threads),
            distribution: None,
        };
        ycsb::run(store, &options, false)
            .map(|report| report.ops_per_s)
            .map_err(|error| error.to_string())
    }

    /// One db_bench benchmark (fillrandom or readrandom) over keys `0..records`.
    fn db_bench(
        &self,
        store: &dyn KvStore,
        work: Work,
        durability: Durability,
        threads: usize,
    ) -> Result<f64, String> {
        dbbench::run_on_store(
            store,
            work.name(),
            self.args.records,
            self.ops(work, durability),
            threads,
            self.args.value_size,
            self.seed(work, threads),
        )
        .map(|stats| stats.ops_per_sec())
        .map_err(|error| error.to_string())
    }

    fn close(&self, fresh: Fresh, kind: StoreKind) {
        if let Err(message) = fresh.close() {
            eprintln!("{}: {message}", kind.name());
        }
    }

    /// Put a result in its row and print a progress line.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        index: usize,
        kind: StoreKind,
        work: Work,
        durability: Durability,
        threads: usize,
        round: usize,
        result: Result<f64, String>,
    ) {
        self.measured += 1;
        let total = self.rows.len() * self.args.stores.len() * self.args.rounds;
        let round = if self.args.rounds > 1 {
            format!(" (round {}/{})", round + 1, self.args.rounds)
        } else {
            String::new()
        };
        let prefix = format!(
            "[{}/{total}] {} {} t={threads} {}{round}:",
            self.measured,
            work.name(),
            durability.name(),
            kind.name()
        );
        match &result {
            Ok(ops_per_s) => eprintln!(
                "{prefix} {ops_per_s:.0} ops/s ({:.0} s elapsed, load {})",
                self.started.elapsed().as_secs_f64(),
                loadavg()
            ),
            Err(message) => eprintln!("{prefix} FAILED: {message}"),
        }
        if let Some(row) = self
            .rows
            .iter_mut()
            .find(|row| row.work == work && row.durability == durability && row.threads == threads)
        {
            let measured = &mut row.results[index];
            match result {
                Ok(ops_per_s) => measured.rounds.push(ops_per_s),
                Err(_) => measured.failed = true,
            }
        }
    }
}

/// Put keys `0..records` in a shuffled order (a fixed permutation), 100 per batch,
/// with the values `readrandom` checks.
fn load_shuffled(store: &dyn KvStore, records: u64, value_size: usize) -> Result<(), String> {
    // i -> (i * step) mod records is a permutation when step and records are coprime.
    let mut step = 1_000_003u64 % records.max(2);
    while gcd(step, records) != 1 {
        step += 1;
    }
    let mut values: Vec<Vec<u8>> = vec![Vec::new(); 100];
    let mut next = 0u64;
    while next < records {
        let end = (next + 100).min(records);
        let keys: Vec<i64> = (next..end)
            .map(|i| ((i as u128 * step as u128) % records as u128) as i64)
            .collect();
        for (key, value) in keys.iter().zip(values.iter_mut()) {
            make_value(*key, 0, value_size, value);
        }
        let items: Vec<(i64, &[u8])> = keys
            .iter()
            .copied()
            .zip(values.iter().map(Vec::as_slice))
            .collect();
        store
            .put_batch(&items)
            .map_err(|error| format!("load: {error}"))?;
        next = end;
    }
    Ok(())
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn print_table(stores: &[StoreKind], rows: &[Row]) {
    let peers: Vec<(usize, StoreKind)> = stores
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, kind)| !matches!(kind, StoreKind::Alexdb | StoreKind::Null))
        .collect();
    let alex = stores
        .iter()
        .position(|kind| *kind == StoreKind::Alexdb)
        .expect("alexdb is always in the list");
    let mut header = String::from("| workload | durability | threads | ops |");
    let mut rule = String::from("|---|---|---:|---:|");
    for kind in stores {
        header.push_str(&format!(" {} ops/s |", kind.name()));
        rule.push_str("---:|");
    }
    for (_, kind) in &peers {
        header.push_str(&format!(" alexdb/{} |", kind.name()));
        rule.push_str("---:|");
    }
    println!("{header}");
    println!("{rule}");
    for row in rows {
        let mut line = format!(
            "| {} | {} | {} | {} |",
            row.work.name(),
            row.durability.name(),
            row.threads,
            row.ops
        );
        for result in &row.results {
            match result.rates() {
                Some(rates) => line.push_str(&format!(" {} |", rate(median(rates)))),
                None => line.push_str(" failed |"),
            }
        }
        for (index, _) in &peers {
            match ratio(row, alex, *index) {
                Some(ratio) => line.push_str(&format!(" {ratio:.2} |")),
                None => line.push_str(" - |"),
            }
        }
        println!("{line}");
    }
}

fn print_must_reach(stores: &[StoreKind], rows: &[Row]) {
    let (Some(alex), Some(lmdb)) = (
        stores.iter().position(|kind| *kind == StoreKind::Alexdb),
        stores.iter().position(|kind| *kind == StoreKind::Lmdb),
    ) else {
        println!("must-reach: not checked (lmdb was not run)");
        return;
    };
    let null = stores.iter().position(|kind| *kind == StoreKind::Null);
    let floor = stores.iter().position(|kind| *kind == StoreKind::Floor);
    println!("must-reach (alexdb/lmdb): ycsb-c and readrandom >= 3x, ycsb-b >= 2x");
    for row in rows {
        let Some(target) = row.work.must_reach_vs_lmdb() else {
            continue;
        };
        let mut verdict = match ratio(row, alex, lmdb) {
            Some(ratio) if ratio >= target => format!("{ratio:.2}x >= {target}x MET"),
            Some(ratio) => format!("{ratio:.2}x < {target}x MISSED"),
            None => "not measured".to_string(),
        };
        if let Some(ratios) = round_ratios(row, alex, lmdb).filter(|ratios| ratios.len() > 1) {
            let met = ratios.iter().filter(|ratio| **ratio >= target).count();
            let listed: Vec<String> = ratios.iter().map(|ratio| format!("{ratio:.2}")).collect();
            verdict.push_str(&format!(
                " (median of rounds {}; at or above in {met} of {})",
                listed.join(", "),
                ratios.len()
            ));
        }
        if let Some(net) = null.and_then(|null| net_ratio(row, alex, lmdb, null)) {
            verdict.push_str(&format!(
                " (net of the driver's own time per op: {net:.2}x)"
            ));
        }
        if let Some(reach) = floor.and_then(|floor| ratio(row, floor, lmdb)) {
            verdict.push_str(&format!(" (the floor store/lmdb: {reach:.2}x)"));
        }
        println!(
            "- {} {} t={}: {verdict}",
            row.work.name(),
            row.durability.name(),
            row.threads
        );
    }
}

/// alexdb's rate over the peer's, round by round (each pair measured minutes apart).
fn round_ratios(row: &Row, alex: usize, peer: usize) -> Option<Vec<f64>> {
    let alex = row.results[alex].rates()?;
    let peer = row.results[peer].rates()?;
    (alex.len() == peer.len() && peer.iter().all(|rate| *rate > 0.0))
        .then(|| alex.iter().zip(peer).map(|(a, p)| a / p).collect())
}

/// The median of the per-round ratios alexdb/peer.
fn ratio(row: &Row, alex: usize, peer: usize) -> Option<f64> {
    round_ratios(row, alex, peer).map(|ratios| median(&ratios))
}

/// The ratio of the stores' own times per operation: each store's time per op less
/// the null store's (the driver's), LMDB's over alexdb's. `None` unless both exceed it.
fn net_ratio(row: &Row, alex: usize, peer: usize, null: usize) -> Option<f64> {
    let per_op = |index: usize| Some(1.0 / median(row.results[index].rates()?));
    let driver = per_op(null)?;
    let alex = per_op(alex)? - driver;
    let peer = per_op(peer)? - driver;
    (alex > 0.0 && peer > 0.0).then(|| peer / alex)
}

/// `1234567.0` as `1.23M`, `45678.0` as `45.7k`.
fn rate(ops_per_s: f64) -> String {
    if ops_per_s >= 1e6 {
        format!("{:.2}M", ops_per_s / 1e6)
    } else if ops_per_s >= 1e3 {
        format!("{:.1}k", ops_per_s / 1e3)
    } else {
        format!("{ops_per_s:.0}")
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_string())
}

/// The device and type of the filesystem holding `dir` (the longest mount point that is
/// a prefix of it, from /proc/mounts).
fn filesystem_of(dir: &Path) -> String {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let Ok(mounts) = std::fs::read_to_string("/proc/mounts") else {
        return "filesystem unknown".to_string();
    };
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let device = fields.next()?;
            let mount = fields.next()?;
            let kind = fields.next()?;
            dir.starts_with(mount).then(|| {
                (
                    mount.len(),
                    format!("{kind} on {device}, mounted at {mount}"),
                )
            })
        })
        .max_by_key(|(len, _)| *len)
        .map_or_else(|| "filesystem unknown".to_string(), |(_, text)| text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(results: Vec<Measured>) -> Row {
        Row {
            work: Work::Readrandom,
            durability: Durability::Fast,
            threads: 1,
            ops: 10,
            results,
        }
    }

    fn measured(rounds: &[f64]) -> Measured {
        Measured {
            rounds: rounds.to_vec(),
            failed: false,
        }
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0]), 3.0);
        assert_eq!(median(&[5.0, 1.0, 3.0]), 3.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn ratios_pair_rounds_and_take_their_median() {
        let row = row(vec![
            measured(&[300.0, 200.0, 900.0]),
            measured(&[100.0, 100.0, 100.0]),
        ]);
        assert_eq!(round_ratios(&row, 0, 1), Some(vec![3.0, 2.0, 9.0]));
        assert_eq!(ratio(&row, 0, 1), Some(3.0));
    }

    #[test]
    fn a_failed_or_missing_round_gives_no_ratio() {
        let failed = Measured {
            rounds: vec![100.0],
            failed: true,
        };
        assert_eq!(failed.rates(), None);
        assert_eq!(Measured::default().rates(), None);
        let with_failure = row(vec![measured(&[300.0, 200.0]), failed]);
        assert_eq!(ratio(&with_failure, 0, 1), None);
        let uneven = row(vec![measured(&[300.0, 200.0]), measured(&[100.0])]);
        assert_eq!(ratio(&uneven, 0, 1), None);
    }

    #[test]
    fn net_ratio_subtracts_the_drivers_median_time() {
        // Medians: alexdb 250 ops/s (4 ms per op), lmdb 1000 (1 ms), null 2000 (0.5 ms).
        let row = row(vec![
            measured(&[250.0, 240.0, 260.0]),
            measured(&[1000.0]),
            measured(&[2000.0, 2000.0]),
        ]);
        let net = net_ratio(&row, 0, 1, 2).unwrap();
        assert!(
            (net - (0.001 - 0.0005) / (0.004 - 0.0005)).abs() < 1e-9,
            "{net}"
        );
    }
}
