//! Tests of plan parsing: the default and example plans parse, every phase kind parses,
//! and bad values, unknown fields and syntax errors name their line and field.

use super::*;
use crate::cli::store::SyncSetting;
use crate::cli::workload::keys::DeletePattern;
use std::path::Path;

fn error_of(text: &str) -> String {
    match Plan::parse(text, "test.toml") {
        Ok(plan) => panic!("parsed a bad plan: {plan:?}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn default_plan_parses() {
    let plan = Plan::default_plan();
    let kinds: Vec<&str> = plan.phases.iter().map(Phase::kind).collect();
    assert_eq!(
        kinds,
        [
            "load", "read", "delete", "read", "compact", "read", "reopen", "read"
        ]
    );
    assert_eq!(plan.keys, 1_000_000);
}

#[test]
fn every_example_plan_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/experiments");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "toml") {
            Plan::load(&path).unwrap_or_else(|error| panic!("{error}"));
            count += 1;
        }
    }
    assert!(count >= 3, "only {count} example plans");
}

#[test]
fn a_full_plan_parses_with_every_kind() {
    let plan = Plan::parse(
        r#"
name = "all"
keys = 5000
value_size = 16
threads = 2
sync = "full"
seed = 7

[[phase]]
kind = "load"
distribution = "zipf_clustered"
batch = 10
[[phase]]
kind = "read"
distribution = "zipfian"
miss_fraction = 0.25
[[phase]]
kind = "read"
batch = 64
[[phase]]
kind = "write"
ops = 100
[[phase]]
kind = "mixed"
read_fraction = 0.9
threads = 1
[[phase]]
kind = "delete"
fraction = 0.1
pattern = "range"
[[phase]]
kind = "compact"
[[phase]]
kind = "checkpoint"
[[phase]]
kind = "reopen"
[[phase]]
kind = "scan"
length = 10
[[phase]]
kind = "wait"
seconds = 0.5
"#,
        "all.toml",
    )
    .unwrap();
    assert_eq!(plan.phases.len(), 11);
    assert_eq!(plan.sync, SyncSetting::Full);
    assert!(matches!(
        plan.phases[2],
        Phase::Read {
            batch: Some(64),
            ..
        }
    ));
    assert_eq!(
        plan.phases[5],
        Phase::Delete {
            fraction: 0.1,
            pattern: DeletePattern::Range
        }
    );
}

#[test]
fn bad_values_name_the_line_and_field() {
    let text = "keys = 100\n\n[[phase]]\nkind = \"load\"\n\n[[phase]]\nkind = \"delete\"\nfraction = 1.5\n";
    let error = error_of(text);
    assert!(error.contains("test.toml:8:"), "{error}");
    assert!(error.contains("phase 2 (delete)"), "{error}");
    assert!(error.contains("`fraction`"), "{error}");

    let error = error_of("keys = 100\n[[phase]]\nkind = \"read\"\nbatch = 0\n");
    assert!(
        error.contains("phase 1 (read)") && error.contains("`batch`"),
        "{error}"
    );
    let error = error_of("keys = 100\n[[phase]]\nkind = \"write\"\nbatch = 8\n");
    assert!(error.contains("batch"), "{error}");

    let error = error_of("keys = 0\n[[phase]]\nkind = \"load\"\n");
    assert!(
        error.contains("test.toml:1:") && error.contains("`keys`"),
        "{error}"
    );
}

#[test]
fn unknown_fields_and_kinds_name_the_line() {
    let error = error_of("keys = 10\n[[phase]]\nkind = \"load\"\ncuont = 5\n");
    assert!(error.contains("cuont"), "{error}");
    assert!(error.contains("test.toml:"), "{error}");

    let error = error_of("keys = 10\n[[phase]]\nkind = \"explode\"\n");
    assert!(
        error.contains("explode") && error.contains("test.toml:3:"),
        "{error}"
    );

    let error = error_of("keys = 10\n[[phase]]\nkind = \"read\"\nfraction = 0.5\n");
    assert!(
        error.contains("test.toml:4:") && error.contains("does not apply"),
        "{error}"
    );

    let error = error_of("keys = 10\n[[phase]]\nkind = \"delete\"\n");
    assert!(
        error.contains("`fraction`") && error.contains("required"),
        "{error}"
    );

    let error = error_of("keys = 10\n[[phase]]\nkind = \"load\"\ndistribution = \"zipfian\"\n");
    assert!(
        error.contains("test.toml:4:") && error.contains("sequential"),
        "{error}"
    );

    let error = error_of("keys = 10\nthreds = 3\n[[phase]]\nkind = \"load\"\n");
    assert!(
        error.contains("threds") && error.contains("test.toml:2:"),
        "{error}"
    );
}

#[test]
fn syntax_and_type_errors_name_the_line() {
    let error = error_of("keys = 10\n[[phase]]\nkind = \"read\"\nops = \"many\"\n");
    assert!(error.contains("test.toml:"), "{error}");
    assert!(
        error.contains("ops") || error.contains("integer"),
        "{error}"
    );

    let error = error_of("keys = 10\nvalue_size = = 3\n");
    assert!(error.contains("test.toml:2:"), "{error}");

    let error = error_of("keys = 10\n");
    assert!(error.contains("no phases"), "{error}");
}
