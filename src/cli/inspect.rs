//! Commands that poke at a data directory: `stats`, `check`, `get`, `put`, `delete`,
//! `scan`, `compact`. They open the store read-write (taking its lock, so they fail
//! clearly with "locked" while another process has it open) with `Config::production`,
//! so a `put` is durable when the command returns — except `check`, which opens it
//! read-only (it changes nothing and works beside a running writer).

use crate::cli::error::{CliError, CliResult};
use alexdb_engine::{AlexStorage, Config, IndexSource, VerifyReport};
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

/// Refuse a directory that does not exist or holds no store (rather than create one).
fn require_store(dir: &Path) -> CliResult<()> {
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
    Ok(())
}

fn open(dir: &Path, existing: Existing) -> CliResult<AlexStorage> {
    if existing == Existing::Required {
        require_store(dir)?;
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
            .map(|keyspace| json!({"name": keyspace.name, "keys": keyspace.keys, "index_bytes": keyspace.index_bytes, "index_depth": keyspace.index_depth, "index_data_nodes": keyspace.index_data_nodes, "index_largest_node_slots": keyspace.index_largest_node_slots, "index_slab_bytes": keyspace.index_slab_bytes}))
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
                "  keyspace {:?}: {} keys, index {:.1} MB ({:.1} MB in a huge-page slab), depth {}, {} data nodes (largest {} slots)",
                keyspace.name,
                keyspace.keys,
                keyspace.index_bytes as f64 / 1e6,
                keyspace.index_slab_bytes as f64 / 1e6,
                keyspace.index_depth,
                keyspace.index_data_nodes,
                keyspace.index_largest_node_slots
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

/// Verify the store read-only (`AlexStorage::verify_dir`: every record's checksum, the log
/// by the wal's recovery rules, index ↔ log agreement, MANIFEST and snapshot). Prints each
/// damage with its file, offset, keyspace and key; fails with `Damage` (exit code 3) if
/// there is any. A store that does not open is damage too, reported where it failed.
pub fn check(dir: &Path, json_output: bool) -> CliResult<()> {
    require_store(dir)?;
    let report = AlexStorage::verify_dir(dir)
        .map_err(|error| CliError::store(format!("verifying {}", dir.display()), error))?;
    print!("{}", render_check(dir, &report, json_output));
    if report.is_clean() {
        Ok(())
    } else {
        Err(CliError::Damage(format!(
            "{} problem(s) in {}",
            report.damage_count(),
            dir.display()
        )))
    }
}

/// What `check` prints: one line per damage, torn tail and note, then a summary line (or
/// one JSON document).
fn render_check(dir: &Path, report: &VerifyReport, json_output: bool) -> String {
    if json_output {
        let damage: Vec<_> = report
            .damage
            .iter()
            .map(|damage| {
                json!({
                    "kind": format!("{:?}", damage.kind), "file": damage.file.display().to_string(),
                    "offset": damage.offset, "keyspace": damage.keyspace, "key": damage.key,
                    "reason": damage.reason,
                })
            })
            .collect();
        let torn_tail = report.torn_tail.as_ref().map(|torn| {
            json!({"file": torn.file.display().to_string(), "offset": torn.offset, "bytes": torn.bytes})
        });
        let value = json!({
            "dir": dir.display().to_string(), "clean": report.is_clean(),
            "keys_checked": report.keys_checked, "keyspaces_checked": report.keyspaces_checked,
            "records_checked": report.records_checked, "bytes_checked": report.bytes_checked,
            "segments_checked": report.segments_checked,
            "records_above_applied": report.records_above_applied, "applied_seq": report.applied_seq,
            "damage_count": report.damage_count(), "damage": damage, "torn_tail": torn_tail,
            "notes": report.notes, "duration_s": report.duration.as_secs_f64(),
        });
        return format!("{value:#}\n");
    }
    let mut out = String::new();
    for damage in &report.damage {
        out.push_str(&format!("damage: {damage}\n"));
    }
    if report.damage_omitted > 0 {
        out.push_str(&format!(
            "damage: {} more not listed\n",
            report.damage_omitted
        ));
    }
    if let Some(torn) = &report.torn_tail {
        out.push_str(&format!(
            "torn tail: {} at offset {} ({} bytes): an unfinished write, not damage (a read-write open truncates it)\n",
            torn.file.display(),
            torn.offset,
            torn.bytes
        ));
    }
    for note in &report.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    let verdict = if report.is_clean() {
        "no damage".to_string()
    } else {
        format!("{} problem(s)", report.damage_count())
    };
    out.push_str(&format!(
        "checked {} keys in {} keyspace(s) and {} records ({:.1} MB) in {} segment file(s) in {:.3} s: {verdict}\n",
        report.keys_checked,
        report.keyspaces_checked,
        report.records_checked,
        report.bytes_checked as f64 / 1e6,
        report.segments_checked,
        report.duration.as_secs_f64()
    ));
    out
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

    /// A store whose first (sealed) log segment has a flipped byte in the record of key
    /// 0 (long overwritten); returns the segment and the record's offset.
    fn damaged_store(dir: &Path) -> (std::path::PathBuf, u64) {
        let mut config = Config::benchmark().with_segment_capacity(32 << 10);
        config.checkpoint_every_bytes = 0;
        let mut storage = AlexStorage::open_with(dir, config).unwrap();
        for round in 0..3 {
            for key in 0..400i64 {
                let value = format!("round-{round}-key-{key}-padding");
                storage.insert(key, value.as_bytes()).unwrap();
            }
        }
        storage.checkpoint().unwrap();
        storage.close().unwrap();
        let segment = dir.join("00000000000000000001.log");
        let mut bytes = std::fs::read(&segment).unwrap();
        let needle = b"round-0-key-0-padding";
        let at = bytes
            .windows(needle.len())
            .position(|window| window == needle)
            .expect("the first segment holds key 0's first value");
        bytes[at + 2] ^= 0x10;
        std::fs::write(&segment, bytes).unwrap();
        // Record header (24 bytes) and head (keyspace, key: 12 bytes) precede the value.
        (segment, (at - 36) as u64)
    }

    #[test]
    fn check_is_clean_on_a_healthy_store_even_beside_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = AlexStorage::open(dir.path()).unwrap();
        writer.insert(1, b"one").unwrap();
        writer.insert(2, b"two").unwrap();
        // The writer holds the lock; check opens read-only.
        check(dir.path(), false).unwrap();
        let report = AlexStorage::verify_dir(dir.path()).unwrap();
        let text = render_check(dir.path(), &report, false);
        assert!(
            text.contains("checked 2 keys") && text.ends_with("no damage\n"),
            "{text}"
        );
        writer.close().unwrap();
    }

    #[test]
    fn check_names_the_damaged_file_and_offset_and_exits_with_3() {
        let dir = tempfile::tempdir().unwrap();
        let (segment, offset) = damaged_store(dir.path());
        let error = check(dir.path(), false).unwrap_err();
        assert_eq!(error.exit_code(), crate::cli::error::EXIT_DAMAGE, "{error}");

        let report = AlexStorage::verify_dir(dir.path()).unwrap();
        let text = render_check(dir.path(), &report, false);
        let expected = format!("damage: {} at offset {offset}: ", segment.display());
        assert!(text.contains(&expected), "{text}");
        assert!(text.contains("problem(s)"), "{text}");

        let json: serde_json::Value =
            serde_json::from_str(&render_check(dir.path(), &report, true)).unwrap();
        assert_eq!(json["clean"], false);
        // The read-only open refuses the damaged sealed segment ("Open", at the record),
        // and the log inspection finds the same record ("Record").
        let damage = &json["damage"][0];
        assert_eq!(damage["file"], segment.display().to_string());
        assert_eq!(damage["offset"], offset);
        assert!(
            damage["kind"] == "Open" || damage["kind"] == "Record",
            "{damage}"
        );
    }
}
