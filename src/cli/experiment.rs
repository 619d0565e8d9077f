//! `alexdb experiment` (and `alexdb` with no arguments): load a plan, apply the
//! command-line overrides, open the store, run the phases in order printing a row per
//! phase, and write the report.

use crate::cli::error::{CliError, CliResult};
use crate::cli::phases::{PhaseContext, run_phase};
use crate::cli::plan::Plan;
use crate::cli::report::{self, ExperimentReport};
use crate::cli::store::{EngineKind, SyncSetting, open_store};
use crate::cli::workload::keys::Population;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Everything `alexdb experiment` takes.
#[derive(Clone, Debug)]
pub struct ExperimentOptions {
    pub plan: Option<PathBuf>,
    pub dir: Option<PathBuf>,
    pub keys: Option<u64>,
    pub value_size: Option<usize>,
    pub threads: Option<usize>,
    pub sync: Option<SyncSetting>,
    pub seed: Option<u64>,
    pub engine: EngineKind,
    /// Where the report goes; `None` writes none.
    pub out: Option<PathBuf>,
    pub quiet: bool,
    pub json: bool,
}

impl Default for ExperimentOptions {
    fn default() -> ExperimentOptions {
        ExperimentOptions {
            plan: None,
            dir: None,
            keys: None,
            value_size: None,
            threads: None,
            sync: None,
            seed: None,
            engine: EngineKind::Alex,
            out: Some(PathBuf::from("alexdb-report")),
            quiet: false,
            json: false,
        }
    }
}

/// The plan to run: the file or the default, with the overrides applied and checked.
pub fn resolve_plan(options: &ExperimentOptions) -> CliResult<Plan> {
    let mut plan = match &options.plan {
        Some(path) => Plan::load(path)?,
        None => Plan::default_plan(),
    };
    if let Some(keys) = options.keys {
        plan.keys = keys;
    }
    if let Some(value_size) = options.value_size {
        plan.value_size = value_size;
    }
    if let Some(threads) = options.threads {
        plan.threads = threads;
    }
    if let Some(sync) = options.sync {
        plan.sync = sync;
    }
    if let Some(seed) = options.seed {
        plan.seed = seed;
    }
    plan.validate_settings().map_err(|(field, message)| {
        CliError::Usage(format!("--{}: {message}", field.replace('_', "-")))
    })?;
    Ok(plan)
}

/// A data directory for the experiment: `dir` (created if missing, refused if it holds
/// anything, so an experiment never runs over someone's data), or a fresh temporary one.
fn prepare_dir(dir: Option<&Path>) -> CliResult<(Option<tempfile::TempDir>, PathBuf)> {
    match dir {
        Some(dir) => {
            if dir.exists() {
                let mut entries =
                    std::fs::read_dir(dir).map_err(|source| CliError::io(dir, source))?;
                if entries.next().is_some() {
                    return Err(CliError::Usage(format!(
                        "--dir {}: the directory is not empty; an experiment needs an empty or new directory",
                        dir.display()
                    )));
                }
            } else {
                std::fs::create_dir_all(dir).map_err(|source| CliError::io(dir, source))?;
            }
            Ok((None, dir.to_path_buf()))
        }
        None => {
            let temp = tempfile::Builder::new()
                .prefix("alexdb-experiment-")
                .tempdir()
                .map_err(|source| CliError::io(std::env::temp_dir(), source))?;
            let path = temp.path().to_path_buf();
            Ok((Some(temp), path))
        }
    }
}

/// Run the experiment; prints as it goes (unless quiet or json) and writes the report.
pub fn run_experiment(options: &ExperimentOptions) -> CliResult<ExperimentReport> {
    let plan = resolve_plan(options)?;
    let (temp_dir, dir) = prepare_dir(options.dir.as_deref())?;
    let talk = !options.quiet && !options.json;
    let mut store = open_store(options.engine, &dir, plan.sync)
        .map_err(|error| CliError::store(format!("opening {}", dir.display()), error))?;
    if talk {
        println!(
            "alexdb experiment {:?}: {}\nstore {} in {}, {} keys x {} B, {} thread(s), sync {}, seed {}\n",
            plan.name,
            plan.description,
            store.name(),
            if temp_dir.is_some() {
                format!("{} (temporary)", dir.display())
            } else {
                dir.display().to_string()
            },
            plan.keys,
            plan.value_size,
            plan.threads,
            plan.sync.name(),
            plan.seed,
        );
        println!("{}", report::table_header());
    }
    let started = Instant::now();
    let mut population = Population::new();
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let mut phases = Vec::with_capacity(plan.phases.len());
    let mut failure: Option<CliError> = None;
    for (position, phase) in plan.phases.iter().enumerate() {
        let mut context = PhaseContext {
            store: &mut *store,
            population: &mut population,
            plan: &plan,
            show_progress: !options.quiet,
            rng: &mut rng,
        };
        let phase_report = match run_phase(position + 1, phase, &mut context) {
            Ok(phase_report) => phase_report,
            Err(error) => {
                failure = Some(error);
                break;
            }
        };
        if talk {
            println!("{}", report::table_row(&phase_report));
        }
        let anomalies = phase_report.anomalies;
        let note = phase_report.note.clone();
        phases.push(phase_report);
        if anomalies > 0 {
            failure = Some(CliError::Consistency(format!(
                "phase {} ({}): {note}",
                position + 1,
                phase.kind()
            )));
            break;
        }
    }
    drop(store);
    let report = ExperimentReport {
        tool: format!("alexdb {}", env!("CARGO_PKG_VERSION")),
        store: options.engine_name().to_string(),
        dir: if temp_dir.is_some() {
            "(temporary)".to_string()
        } else {
            dir.display().to_string()
        },
        plan,
        phases,
        total_wall_s: started.elapsed().as_secs_f64(),
    };
    drop(temp_dir);
    if let Some(out) = &options.out {
        let written = report::write_report(&report, out)?;
        if talk {
            println!(
                "\ntotal {:.1} s; report: {}, {}, {}",
                report.total_wall_s,
                written.json.display(),
                written.csv.display(),
                written.svg.display()
            );
        }
    }
    if options.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|error| CliError::Other(format!("serializing the report: {error}")))?;
        println!("{text}");
    }
    match failure {
        Some(error) => Err(error),
        None => Ok(report),
    }
}

impl ExperimentOptions {
    fn engine_name(&self) -> &'static str {
        match self.engine {
            EngineKind::Alex => "alexdb",
            EngineKind::Storage => "alexdb-storage",
            EngineKind::Btree => "btreemap",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::plan::Phase;

    fn tiny_options(engine: EngineKind, out: &Path) -> ExperimentOptions {
        ExperimentOptions {
            keys: Some(2000),
            engine,
            out: Some(out.to_path_buf()),
            quiet: true,
            ..ExperimentOptions::default()
        }
    }

    #[test]
    fn default_plan_runs_small_on_the_baseline() {
        let out = tempfile::tempdir().unwrap();
        let report = run_experiment(&tiny_options(EngineKind::Btree, out.path())).unwrap();
        assert_eq!(report.phases.len(), 8);
        let reads: Vec<_> = report
            .phases
            .iter()
            .filter(|phase| phase.kind == "read")
            .collect();
        assert_eq!(reads[0].hits, 2000);
        assert!(
            reads[1].misses > 700 && reads[1].misses < 1300,
            "{:?}",
            reads[1]
        );
        assert_eq!(report.phases.last().unwrap().keys, 1000);
        assert!(out.path().join("report.json").exists());
        assert!(out.path().join("chart.svg").exists());
    }

    /// Batched reads check every key like single gets do (hits, then misses of deleted
    /// keys), on the baseline and on alexdb.
    #[test]
    fn batched_read_phases_check_every_key() {
        let plans = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/experiments");
        for engine in [EngineKind::Btree, EngineKind::Alex] {
            let out = tempfile::tempdir().unwrap();
            let options = ExperimentOptions {
                plan: Some(plans.join("batched-reads.toml")),
                ..tiny_options(engine, out.path())
            };
            let report = run_experiment(&options).unwrap();
            let reads: Vec<_> = report
                .phases
                .iter()
                .filter(|phase| phase.kind == "read")
                .collect();
            assert_eq!(reads.len(), 5);
            // 2,000 reads asked 256 at a time are 8 calls: 2,048 keys.
            let asked: Vec<u64> = reads.iter().map(|read| read.ops).collect();
            assert_eq!(asked, [2000, 2000, 2048, 2000, 2048]);
            for read in &reads[..3] {
                assert_eq!((read.hits, read.misses, read.anomalies), (read.ops, 0, 0));
            }
            for read in &reads[3..] {
                assert_eq!(read.hits + read.misses, read.ops, "{read:?}");
                assert_eq!(read.anomalies, 0, "{read:?}");
                assert!(read.misses > 300 && read.misses < 750, "{read:?}");
            }
        }
    }

    #[test]
    fn overrides_are_checked() {
        let options = ExperimentOptions {
            threads: Some(0),
            ..ExperimentOptions::default()
        };
        let error = resolve_plan(&options).unwrap_err().to_string();
        assert!(error.contains("--threads"), "{error}");
        let options = ExperimentOptions {
            keys: Some(5),
            sync: Some(SyncSetting::Full),
            ..ExperimentOptions::default()
        };
        let plan = resolve_plan(&options).unwrap();
        assert_eq!((plan.keys, plan.sync), (5, SyncSetting::Full));
        assert!(matches!(plan.phases[0], Phase::Load { .. }));
    }

    #[test]
    fn a_non_empty_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("precious"), b"data").unwrap();
        let options = ExperimentOptions {
            dir: Some(dir.path().to_path_buf()),
            out: None,
            quiet: true,
            ..ExperimentOptions::default()
        };
        let error = run_experiment(&options).unwrap_err().to_string();
        assert!(error.contains("not empty"), "{error}");
    }
}
