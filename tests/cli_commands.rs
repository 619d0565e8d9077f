//! End-to-end runs of the `alexdb` binary against the real engine: a tiny experiment
//! (reports written and parseable), bad plans (line numbers, exit code 2), the store
//! commands (put/get/scan/delete/stats/compact/check), damage found by `check` (exit
//! code 3), a locked directory, and tiny YCSB and db_bench runs.

use std::path::Path;
use std::process::{Command, Output};

fn alexdb(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_alexdb"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("the alexdb binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
}

#[test]
fn tiny_default_experiment_writes_its_report() {
    let work = tempfile::tempdir().unwrap();
    let output = alexdb(
        &["experiment", "--keys", "2_000", "--dir", "data"],
        work.path(),
    );
    assert_exit(&output, 0);
    let stdout = text(&output.stdout);
    for kind in ["load", "read", "delete", "compact", "reopen"] {
        assert!(stdout.contains(kind), "{stdout}");
    }
    let report = work.path().join("alexdb-report");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("report.json")).unwrap())
            .unwrap();
    let phases = json["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 8);
    assert_eq!(phases[1]["hits"], 2000);
    assert_eq!(phases[7]["keys"], 1000);
    assert!(phases.iter().all(|phase| phase["anomalies"] == 0));
    let csv = std::fs::read_to_string(report.join("phases.csv")).unwrap();
    assert_eq!(csv.lines().count(), 9);
    let svg = std::fs::read_to_string(report.join("chart.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.trim_end().ends_with("</svg>"));
    // The data directory stays and is a store the other commands can open.
    let output = alexdb(&["stats", "data", "--json"], work.path());
    assert_exit(&output, 0);
    let stats: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(stats["keys"], 1000);
}

#[test]
fn json_output_is_one_document() {
    let work = tempfile::tempdir().unwrap();
    let output = alexdb(
        &["experiment", "--keys", "500", "--json", "--no-report"],
        work.path(),
    );
    assert_exit(&output, 0);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["plan"]["keys"], 500);
    assert!(!work.path().join("alexdb-report").exists());
}

#[test]
fn bad_plans_and_numbers_are_reported_with_their_line() {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("plan.toml"),
        "keys = 100\n\n[[phase]]\nkind = \"load\"\n\n[[phase]]\nkind = \"delete\"\nfraction = 2\n",
    )
    .unwrap();
    let output = alexdb(&["experiment", "--plan", "plan.toml"], work.path());
    assert_exit(&output, 2);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("plan.toml:8:") && stderr.contains("fraction"),
        "{stderr}"
    );

    let output = alexdb(&["experiment", "--plan", "missing.toml"], work.path());
    assert_exit(&output, 1);
    assert!(text(&output.stderr).contains("missing.toml"));

    let output = alexdb(&["experiment", "--keys", "lots"], work.path());
    assert_exit(&output, 2);
    assert!(text(&output.stderr).contains("not a count"));
}

#[test]
fn store_commands_round_trip() {
    let work = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| alexdb(args, work.path());
    assert_exit(&run(&["put", "db", "-7", "minus seven"]), 0);
    assert_exit(&run(&["put", "db", "3", "three"]), 0);
    assert_exit(&run(&["put", "db", "9", "nine"]), 0);
    let output = run(&["get", "db", "-7"]);
    assert_exit(&output, 0);
    assert_eq!(text(&output.stdout).trim(), "minus seven");
    let output = run(&["scan", "db", "--from", "0"]);
    assert_exit(&output, 0);
    assert_eq!(text(&output.stdout), "3\tthree\n9\tnine\n");
    assert_exit(&run(&["delete", "db", "3"]), 0);
    let output = run(&["get", "db", "3"]);
    assert_exit(&output, 1);
    assert!(text(&output.stderr).contains("not found"));
    assert_exit(&run(&["compact", "db"]), 0);
    let output = run(&["check", "db"]);
    assert_exit(&output, 0);
    assert!(
        text(&output.stdout).contains("checked 2 keys"),
        "{}",
        text(&output.stdout)
    );
    let output = run(&["stats", "nowhere"]);
    assert_exit(&output, 2);
    assert!(text(&output.stderr).contains("no such directory"));
}

#[test]
fn check_reports_damage_with_a_location() {
    let work = tempfile::tempdir().unwrap();
    let value = "V".repeat(64);
    for key in ["1", "2", "3"] {
        assert_exit(&alexdb(&["put", "db", key, &value], work.path()), 0);
    }
    // Flip a byte inside the first record's value: damage before valid records.
    let log = std::fs::read_dir(work.path().join("db"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|ext| ext == "log"))
        .expect("the store has a log segment");
    let mut bytes = std::fs::read(&log).unwrap();
    let at = bytes
        .windows(64)
        .position(|window| window == value.as_bytes())
        .expect("the value is in the log");
    bytes[at + 10] ^= 0x40;
    std::fs::write(&log, bytes).unwrap();
    let output = alexdb(&["check", "db"], work.path());
    assert_exit(&output, 3);
    let all = text(&output.stdout) + &text(&output.stderr);
    assert!(all.contains("offset") || all.contains("damage"), "{all}");
}

#[test]
fn a_locked_directory_fails_clearly() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("db");
    let store = alexdb_engine::AlexStorage::open(&dir).unwrap();
    let output = alexdb(&["stats", "db"], work.path());
    assert_exit(&output, 1);
    assert!(
        text(&output.stderr).contains("locked"),
        "{}",
        text(&output.stderr)
    );
    drop(store);
    assert_exit(&alexdb(&["stats", "db"], work.path()), 0);
}

#[test]
fn tiny_benchmarks_run_against_the_engine() {
    let work = tempfile::tempdir().unwrap();
    for workload in ["a", "d", "e", "f"] {
        let output = alexdb(
            &[
                "bench",
                "ycsb",
                "--workload",
                workload,
                "--records",
                "2000",
                "--ops",
                "2000",
                "--threads",
                "2",
            ],
            work.path(),
        );
        assert_exit(&output, 0);
        assert!(text(&output.stdout).contains("[OVERALL], Throughput(ops/sec)"));
    }
    let output = alexdb(
        &[
            "bench",
            "db",
            "--num",
            "2000",
            "--benchmarks",
            "fillseq,fillrandom,fillsync,readrandom,multireadrandom,readseq,readwhilewriting,deleterandom,compact",
            "--histogram",
        ],
        work.path(),
    );
    assert_exit(&output, 0);
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("fillseq      :") && stdout.contains("micros/op"),
        "{stdout}"
    );
    assert!(
        stdout.contains("readrandom") && stdout.contains("of 2000 found"),
        "{stdout}"
    );
    assert!(
        stdout.contains("multireadrandom :") && stdout.contains("keys per call"),
        "{stdout}"
    );
}

#[test]
fn every_example_plan_runs_small() {
    let plans = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/experiments");
    let work = tempfile::tempdir().unwrap();
    let mut ran = 0;
    for entry in std::fs::read_dir(&plans).unwrap() {
        let plan = entry.unwrap().path();
        if plan.extension().is_none_or(|ext| ext != "toml") {
            continue;
        }
        let plan = plan.to_str().unwrap().to_string();
        let output = alexdb(
            &[
                "experiment",
                "--plan",
                &plan,
                "--keys",
                "3000",
                "--quiet",
                "--no-report",
            ],
            work.path(),
        );
        assert_exit(&output, 0);
        ran += 1;
    }
    assert!(ran >= 5, "only {ran} plans");
}
