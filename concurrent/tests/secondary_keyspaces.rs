//! A secondary that catches up (and read-only stores that open) while the writer creates
//! keyspaces and writes to them at once. `catch_up` reads the MANIFEST (the keyspace catalog) and then follows the log;
//! a keyspace created after that MANIFEST read whose first records are already in the
//! log when the follower polls makes the records name a keyspace the secondary does not
//! know yet.
//! That used to fail the catch-up (and lose the rest of its poll); these tests keep it
//! fixed: the follower now re-reads the MANIFEST when a record names an unknown keyspace.
//! Run alone: `cargo test -p alexdb-concurrent --release --test secondary_keyspaces -- --nocapture`

use alexdb_concurrent::ConcurrentAlexStorage;
use alexdb_engine::Config;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const KEYSPACES: usize = 400;

/// Creates keyspaces and writes to each right away, while a secondary catches up in a
/// tight loop; every `catch_up` must succeed, and at the end every keyspace's key must
/// be visible on the secondary (I-8).
fn keyspaces_created_while_catching_up() -> (Vec<String>, Vec<String>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let writer = ConcurrentAlexStorage::open_with(dir.path(), Config::benchmark()).expect("open");
    writer.insert(0, b"seed").expect("insert");
    let secondary = ConcurrentAlexStorage::open_secondary(dir.path()).expect("open_secondary");
    let done = AtomicBool::new(false);
    let limit = Instant::now() + Duration::from_secs(60);
    let errors: Vec<String> = std::thread::scope(|scope| {
        let follower = {
            let (secondary, done) = (&secondary, &done);
            scope.spawn(move || {
                let mut errors = Vec::new();
                while !done.load(Ordering::Acquire) && Instant::now() < limit {
                    if let Err(error) = secondary.catch_up() {
                        errors.push(error.to_string());
                    }
                }
                errors
            })
        };
        for i in 0..KEYSPACES {
            let keyspace = writer.keyspace(&format!("ks{i}")).expect("create keyspace");
            writer
                .insert_in(&keyspace, 1, format!("value {i}").as_bytes())
                .expect("insert_in");
        }
        done.store(true, Ordering::Release);
        follower.join().expect("follower")
    });
    assert!(Instant::now() < limit, "ran past the time limit");
    // Everything is acknowledged now; one more catch-up must show all of it.
    let mut missing = Vec::new();
    match secondary.catch_up() {
        Ok(_) => {
            for i in 0..KEYSPACES {
                let name = format!("ks{i}");
                let found = secondary
                    .existing_keyspace(&name)
                    .ok()
                    .and_then(|keyspace| secondary.get_in(&keyspace, 1).ok().flatten());
                if found != Some(format!("value {i}").into_bytes()) {
                    missing.push(name);
                }
            }
        }
        Err(error) => missing.push(format!("final catch_up failed: {error}")),
    }
    (errors, missing)
}

/// Regression (engine/src/follow.rs, `catch_up`): the MANIFEST is read before the log is
/// followed, so a record of a keyspace created in between used to fail with
/// `Error::Corruption` ("names keyspace N which does not exist"), and the records after
/// it in that poll were never applied (I-8). Now the follower re-reads the MANIFEST.
#[test]
fn secondary_sees_keyspaces_created_while_it_catches_up() {
    let (errors, missing) = keyspaces_created_while_catching_up();
    println!(
        "catch_up errors: {} (first: {:?}); keyspaces missing at the end: {} (first: {:?})",
        errors.len(),
        errors.first(),
        missing.len(),
        missing.first()
    );
    assert!(errors.is_empty(), "catch_up failed {} times", errors.len());
    assert!(missing.is_empty(), "{} keyspaces missing", missing.len());
}

/// The same race at open: `open_readonly` reads the MANIFEST, then the log; a keyspace
/// created in between used to fail the open with `Error::Corruption`.
#[test]
fn readonly_opens_while_keyspaces_are_created() {
    let dir = tempfile::tempdir().expect("temp dir");
    let writer = ConcurrentAlexStorage::open_with(dir.path(), Config::benchmark()).expect("open");
    writer.insert(0, b"seed").expect("insert");
    let done = AtomicBool::new(false);
    let limit = Instant::now() + Duration::from_secs(60);
    let (opens, errors) = std::thread::scope(|scope| {
        let reader = {
            let done = &done;
            let dir = dir.path();
            scope.spawn(move || {
                let (mut opens, mut errors) = (0u64, Vec::new());
                while !done.load(Ordering::Acquire) && Instant::now() < limit {
                    opens += 1;
                    if let Err(error) = ConcurrentAlexStorage::open_readonly(dir) {
                        errors.push(error.to_string());
                    }
                }
                (opens, errors)
            })
        };
        for i in 0..KEYSPACES {
            let keyspace = writer.keyspace(&format!("ks{i}")).expect("create keyspace");
            writer.insert_in(&keyspace, 1, b"v").expect("insert_in");
        }
        done.store(true, Ordering::Release);
        reader.join().expect("reader")
    });
    println!(
        "{} of {opens} read-only opens failed (first: {:?})",
        errors.len(),
        errors.first()
    );
    assert!(errors.is_empty(), "{} opens failed", errors.len());
}
