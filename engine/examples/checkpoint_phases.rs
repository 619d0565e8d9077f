//! Where an automatic checkpoint's time goes as a store grows: insert random keys with
//! 100-byte values (`Config::benchmark()`, automatic checkpoints off) in steps, and after
//! each step take a checkpoint phase by phase — sync the log, encode the snapshot into
//! its temporary file, encode it once more at once (into the page-cache pages the first
//! temporary file just gave back), commit (sync, rename, MANIFEST) — printing each
//! phase's wall time and, for the two I/O phases, the thread's CPU time (Linux).
//!
//! docs/PERFORMANCE.md (session 8) reads the 10M-key single-insert figure with it: each
//! automatic checkpoint stalls the inserting thread for the sum of these phases.
//!
//! Run: `cargo run --release -p alexdb-engine --example checkpoint_phases` (about 15 s
//! and 1.5 GB of temporary files under the system temp dir, or `CHECKPOINT_PHASES_DIR`;
//! `CHECKPOINT_PHASES_KEYS` sets the total, default 10,000,000, in five steps;
//! `CHECKPOINT_PHASES_WRITEBACK=0` turns `Config::log_writeback` off, and with it the
//! early writeback of sealed log segments that leaves the log sync little to write).

use alexdb_engine::{AlexStorage, Config};
use std::time::Instant;

/// CPU seconds this thread has used so far (0 where `getrusage` has no per-thread form).
fn thread_cpu_seconds() -> f64 {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `getrusage` fills the zeroed struct it is given and reads nothing else.
        let usage = unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            libc::getrusage(libc::RUSAGE_THREAD, &mut usage);
            usage
        };
        let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
        seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
    #[cfg(not(target_os = "linux"))]
    0.0
}

/// Wall and CPU seconds of `f`.
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64, f64) {
    let (wall, cpu) = (Instant::now(), thread_cpu_seconds());
    let out = f();
    (
        out,
        wall.elapsed().as_secs_f64(),
        thread_cpu_seconds() - cpu,
    )
}

fn main() -> alexdb_engine::Result<()> {
    let total: u64 = std::env::var("CHECKPOINT_PHASES_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let base =
        std::env::var_os("CHECKPOINT_PHASES_DIR").map_or_else(std::env::temp_dir, Into::into);
    let dir = tempfile::tempdir_in(&base).map_err(|e| alexdb_engine::Error::Io {
        path: base.clone(),
        source: e,
    })?;
    let mut config = Config::benchmark();
    config.checkpoint_every_bytes = 0;
    config.log_writeback = std::env::var("CHECKPOINT_PHASES_WRITEBACK").as_deref() != Ok("0");
    println!("log_writeback: {}", config.log_writeback);
    let mut store = AlexStorage::open_with(dir.path(), config)?;
    let value = [3u8; 100];
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let step = (total / 5).max(1);
    println!("keys      inserts   log sync (CPU)    encode   again    commit (CPU)");
    while (store.len() as u64) < total {
        let (_, inserts, _) = timed(|| -> alexdb_engine::Result<()> {
            for _ in 0..step {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                store.insert(x as i64, &value)?;
            }
            Ok(())
        });
        let (synced, sync_wall, sync_cpu) = timed(|| store.sync());
        synced?;
        let (pending, encode, _) = timed(|| store.begin_checkpoint());
        // Abandoned: the temporary file is removed, its pages go back to the kernel.
        drop(pending?);
        let (pending, again, _) = timed(|| store.begin_checkpoint());
        let pending = pending?;
        let (written, commit_wall, commit_cpu) = timed(|| pending.write());
        store.finish_checkpoint(written?);
        println!(
            "{:>8}  {inserts:>6.3} s  {sync_wall:.3} s ({sync_cpu:.3})  {encode:.3} s  {again:.3} s  {commit_wall:.3} s ({commit_cpu:.3})",
            store.len()
        );
    }
    store.close()
}
