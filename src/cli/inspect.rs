//! Commands that poke at a data directory: `stats`, `check`, `get`, `put`, `delete`,
//! `scan`, `compact`. They open the store read-write (taking its lock, so they fail
//! clearly with "locked" while another process has it open) with `Config::production`,
//! so a `put` is durable when the command returns.

use crate::cli::error::{CliError, CliResult};
use alexdb_engine::{AlexStorage, Config, IndexSource};
use serde_json::json;
use std::path::Path;

/// What an inspect command may do with a directory that holds no store yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Existing {
    /// The store must exist (reading commands).
    Required,
    /// A new store may be created (`put`).
    MayCreate,
}

fn open(dir: &Path, existing: Existing) -> CliResult<AlexStorage> {
    if existing == Existing::Required {
        if !dir.is_dir() {
            return Err(CliError::Usage(format!(
                "{}: no such directory",
                dir.display()
            )));
        }
        if !dir.join("MANIFEST").exists() {
            return Err(CliError::Usage(format!(
                "{}: not an alexdb data directory (it has no MANIFEST)",
                dir.display()
            )));
        }
    }
    AlexStorage::open_with(dir, Config::production())
        .map_err(|error| CliError::store(format!("opening {}", dir.display()), error))
}

fn close(storage: AlexStorage, dir: &Path) -> CliResult<()> {
    storage
        .close()
        .map_err(|error| CliError::store(format!("closing {}", dir.display()), error))
}

/// A value for the terminal: text if it is printable UTF-8, else hex.
fn render(value: &[u8]) -> String {
    match std::str::from_utf8(value) {
        Ok(text)
            if !text
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t') =>
        {
            text.to_string()
        }
        _ => {
            let hex: String = value.iter().map(|byte| format!("{byte:02x}")).collect();
            format!("0x{hex}")
        }
    }
}

pub fn stats(dir: &Path, json_output: bool) -> CliResult<()> {
    let storage = open(dir, Existing::Required)?;
    let stats = storage.stats();
    let report = storage.open_report();
    let source = match &report.source {
        IndexSource::Snapshot {
            number,
            replayed_records,
            ..
        } => {
            format!("snapshot {number} + {replayed_records} log records replayed")
        }
        IndexSource::FullScan {
            reason,
            records_scanned,
        } => {
            format!("full scan of {records_scanned} records ({reason})")
        }
    };
    if json_output {
        let keyspaces: Vec<_> = stats
            .keyspaces
            .iter()
            .map(|keyspace| json!({"name": keyspace.name, "keys": keyspace.keys, "index_bytes": keyspace.index_bytes, "index_depth": keyspace.index_depth}))
            .collect();
        let value = json!({
            "dir": dir.display().to_string(),
            "keys": stats.keys,
            "keyspaces": keyspaces,
            "live_bytes": stats.live_bytes,
            "dead_bytes": stats.dead_bytes,
            "written_bytes": stats.written_bytes,
            "file_bytes": stats.file_bytes,
            "segments": stats.segments,
            "space_amplification": stats.space_amplification,
            "index_bytes": stats.index_bytes,
            "index_depth": stats.index_depth,
            "last_seq": stats.last_seq,
            "open_s": report.duration.as_secs_f64(),
            "opened_from": source,
        });
        println!("{value:#}");
    } else {
        println!("store           {}", dir.display());
        println!("keys            {}", stats.keys);
        for keyspace in &stats.keyspaces {
            println!(
                "  keyspace {:?}: {} keys, index {:.1} MB, depth {}",
                keyspace.name,
                keyspace.keys,
                keyspace.index_bytes as f64 / 1e6,
                keyspace.index_depth
            );
        }
        println!("live bytes      {:.1} MB", stats.live_bytes as f64 / 1e6);
        println!("dead bytes      {:.1} MB", stats.dead_bytes as f64 / 1e6);
        println!("space amp.      {:.2}", stats.space_amplification);
        println!(
            "segments        {} ({:.1} MB on disk)",
            stats.segments,
            stats.file_bytes as f64 / 1e6
        );
        println!(
            "index           {:.1} MB, depth {}",
            stats.index_bytes as f64 / 1e6,
            stats.index_depth
        );
        println!("last sequence   {}", stats.last_seq);
        println!(
            "opened in       {:.3} s from {source}",
            report.duration.as_secs_f64()
        );
    }
    close(storage, dir)
}

/// Walk every key of every keyspace and read its value (which verifies the record's
/// checksum). Prints each damaged record with its location; fails with `Damage`.
pub fn check(dir: &Path, json_output: bool) -> CliResult<()> {
    let storage = match open(dir, Existing::Required) {
        Ok(storage) => storage,
        Err(CliError::Store {
            source: source @ alexdb_engine::Error::Corruption { .. },
            ..
        }) => {
            eprintln!("damage: {source}");
            return Err(CliError::Damage(format!(
                "the store in {} does not open",
                dir.display()
            )));
        }
        Err(other) => return Err(other),
    };
    let mut checked: u64 = 0;
    let mut damaged: Vec<String> = Vec::new();
    for keyspace in storage.keyspaces() {
        let range = storage.range_in(&keyspace, ..).map_err(|error| {
            CliError::store(format!("listing keyspace {:?}", keyspace.name()), error)
        })?;
        for item in range {
            checked += 1;
            if let Err(error) = item {
                damaged.push(format!("keyspace {:?}: {error}", keyspace.name()));
            }
        }
    }
    if json_output {
        println!(
            "{:#}",
            json!({"dir": dir.display().to_string(), "keys_checked": checked, "damaged": damaged})
        );
    } else {
        for damage in &damaged {
            println!("damage: {damage}");
        }
        println!(
            "checked {checked} keys in {} keyspace(s): {} damaged",
            storage.keyspaces().len(),
            damaged.len()
        );
    }
    close(storage, dir)?;
    if damaged.is_empty() {
        Ok(())
    } else {
        Err(CliError::Damage(format!(
            "{} of {checked} keys in {} do not read back",
            damaged.len(),
            dir.display()
        )))
    }
}

pub fn get(dir: &Path, key: i64, json_output: bool) -> CliResult<()> {
    let storage = open(dir, Existing::Required)?;
    let value = storage
        .get(key)
        .map_err(|error| CliError::store(format!("reading key {key}"), error))?;
    match value {
        Some(value) if json_output => println!(
            "{}",
            json!({"key": key, "value": render(value), "len": value.len()})
        ),
        Some(value) => println!("{}", render(value)),
        None => return Err(CliError::Other(format!("key {key} not found"))),
    }
    Ok(())
}

pub fn put(dir: &Path, key: i64, value: &str) -> CliResult<()> {
    let mut storage = open(dir, Existing::MayCreate)?;
    storage
        .insert(key, value.as_bytes())
        .map_err(|error| CliError::store(format!("writing key {key}"), error))?;
    close(storage, dir)
}

pub fn delete(dir: &Path, key: i64, quiet: bool) -> CliResult<()> {
    let mut storage = open(dir, Existing::Required)?;
    let existed = storage
        .delete(key)
        .map_err(|error| CliError::store(format!("deleting key {key}"), error))?;
    close(storage, dir)?;
    if !quiet {
        println!(
            "{}",
            if existed {
                "deleted"
            } else {
                "not found (nothing written)"
            }
        );
    }
    Ok(())
}

pub fn scan(
    dir: &Path,
    from: Option<i64>,
    to: Option<i64>,
    limit: u64,
    json_output: bool,
) -> CliResult<()> {
    let storage = open(dir, Existing::Required)?;
    let range = from.unwrap_or(i64::MIN)..=to.unwrap_or(i64::MAX);
    let mut rows = Vec::new();
    for item in storage
        .range(range)
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
    {
        let (key, value) = item.map_err(|error| CliError::store("scanning", error))?;
        if json_output {
            rows.push(json!({"key": key, "value": render(value)}));
        } else {
            println!("{key}\t{}", render(value));
        }
    }
    if json_output {
        println!("{:#}", serde_json::Value::Array(rows));
    }
    Ok(())
}

pub fn compact(dir: &Path, json_output: bool, quiet: bool) -> CliResult<()> {
    let mut storage = open(dir, Existing::Required)?;
    let before = storage.stats();
    let report = storage
        .compact()
        .map_err(|error| CliError::store(format!("compacting {}", dir.display()), error))?;
    let after = storage.stats();
    close(storage, dir)?;
    if json_output {
        println!(
            "{:#}",
            json!({
                "segments_in": report.segments_in, "segments_out": report.segments_out,
                "bytes_reclaimed": report.bytes_reclaimed, "live_records_moved": report.live_records_moved,
                "tombstones_dropped": report.tombstones_dropped, "duration_s": report.duration.as_secs_f64(),
                "space_amplification_before": before.space_amplification, "space_amplification_after": after.space_amplification,
            })
        );
    } else if !quiet {
        println!(
            "compacted {} segments into {}: {:.1} MB reclaimed, {} records moved, {} tombstones dropped, in {:.2} s",
            report.segments_in,
            report.segments_out,
            report.bytes_reclaimed as f64 / 1e6,
            report.live_records_moved,
            report.tombstones_dropped,
            report.duration.as_secs_f64()
        );
        println!(
            "space amplification {:.2} -> {:.2}",
            before.space_amplification, after.space_amplification
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_render_as_text_or_hex() {
        assert_eq!(render(b"hello"), "hello");
        assert_eq!(render(&[0, 1, 255]), "0x0001ff");
    }

    #[test]
    fn missing_and_foreign_directories_are_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let error = stats(&missing, false).unwrap_err().to_string();
        assert!(error.contains("no such directory"), "{error}");
        let error = check(dir.path(), false).unwrap_err().to_string();
        assert!(error.contains("not an alexdb data directory"), "{error}");
        // Refusing must not have created a store.
        assert!(!dir.path().join("MANIFEST").exists());
    }
}
