//! The `alexdb` command-line tool. `main` parses the arguments (clap), runs one command
//! and maps its result to an exit code: 0 success, 1 store or I/O failure, 2 bad input
//! (arguments, plan, numbers), 3 damage or a consistency failure.
//!
//! Rooms: `args` (the command line), `experiment` + `plan` + `phases` (phased
//! experiments), `workload/` (key distributions, YCSB, db_bench, the thread runner),
//! `store` (the interface workloads drive and its implementations), `histogram`,
//! `progress`, `report` + `chart` (output), `inspect` (commands on a data directory).

mod args;
mod chart;
pub mod error;
mod experiment;
pub mod histogram;
mod inspect;
mod phases;
mod plan;
mod progress;
mod report;
pub mod store;
pub mod workload;

use args::{BenchCommand, Cli, Command, DbBenchArgs, ExperimentArgs, YcsbArgs};
use clap::Parser;
use error::{CliError, CliResult};
use experiment::ExperimentOptions;
use std::process::ExitCode;

/// Parse the command line, run the command, report an error on stderr.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("alexdb: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

fn run(cli: Cli) -> CliResult<()> {
    let (quiet, json) = (cli.quiet, cli.json);
    match cli.command {
        None => {
            let options = ExperimentOptions {
                quiet,
                json,
                ..ExperimentOptions::default()
            };
            experiment::run_experiment(&options).map(drop)
        }
        Some(Command::Experiment(args)) => {
            experiment::run_experiment(&experiment_options(args, quiet, json)?).map(drop)
        }
        Some(Command::Bench(BenchCommand::Ycsb(args))) => ycsb(args, quiet, json),
        Some(Command::Bench(BenchCommand::Db(args))) => db_bench(args, quiet, json),
        Some(Command::Stats { dir }) => inspect::stats(&dir, json),
        Some(Command::Check { dir }) => inspect::check(&dir, json),
        Some(Command::Get { dir, key }) => inspect::get(&dir, key, json),
        Some(Command::Put { dir, key, value }) => inspect::put(&dir, key, &value),
        Some(Command::Delete { dir, key }) => inspect::delete(&dir, key, quiet),
        Some(Command::Scan {
            dir,
            from,
            to,
            limit,
        }) => inspect::scan(&dir, from, to, limit, json),
        Some(Command::Compact { dir }) => inspect::compact(&dir, json, quiet),
    }
}

/// A count from the command line that must fit a `usize` (threads, sizes).
fn small(flag: &str, value: u64) -> CliResult<usize> {
    usize::try_from(value).map_err(|_| CliError::Usage(format!("--{flag} {value} is too large")))
}

fn experiment_options(
    args: ExperimentArgs,
    quiet: bool,
    json: bool,
) -> CliResult<ExperimentOptions> {
    Ok(ExperimentOptions {
        plan: args.plan,
        dir: args.dir,
        keys: args.keys,
        value_size: args
            .value_size
            .map(|v| small("value-size", v))
            .transpose()?,
        threads: args.threads.map(|t| small("threads", t)).transpose()?,
        sync: args.sync,
        seed: args.seed,
        engine: args.engine,
        out: (!args.no_report).then_some(args.out),
        quiet,
        json,
    })
}

fn ycsb(args: YcsbArgs, quiet: bool, json: bool) -> CliResult<()> {
    let threads = small("threads", args.threads)?;
    if threads == 0 || threads > workload::runner::MAX_THREADS {
        return Err(CliError::Usage(format!(
            "--threads {threads} is not in 1..={}",
            workload::runner::MAX_THREADS
        )));
    }
    if args.records == 0 {
        return Err(CliError::Usage("--records must be at least 1".to_string()));
    }
    let options = workload::ycsb::YcsbOptions {
        workload: args.workload,
        records: args.records,
        ops: args.ops,
        threads,
        value_size: small("value-size", args.value_size)?,
        seed: args.seed,
        distribution: args.distribution,
    };
    let (temp_dir, dir) = workload::dbbench::base_dir(args.dir.as_deref())?;
    let store = store::open_store(args.engine, &dir, args.sync)
        .map_err(|error| CliError::store(format!("opening {}", dir.display()), error))?;
    let report = workload::ycsb::run(&*store, &options, !quiet)?;
    drop(store);
    drop(temp_dir);
    if json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|error| CliError::Other(error.to_string()))?;
        println!("{text}");
    } else if !quiet {
        println!("{}", workload::ycsb::render(&report));
    }
    Ok(())
}

fn db_bench(args: DbBenchArgs, quiet: bool, json: bool) -> CliResult<()> {
    let threads = small("threads", args.threads)?;
    if threads == 0 || threads > workload::runner::MAX_THREADS {
        return Err(CliError::Usage(format!(
            "--threads {threads} is not in 1..={}",
            workload::runner::MAX_THREADS
        )));
    }
    if args.num == 0 {
        return Err(CliError::Usage("--num must be at least 1".to_string()));
    }
    let options = workload::dbbench::DbBenchOptions {
        benchmarks: workload::dbbench::parse_benchmarks(&args.benchmarks)?,
        num: args.num,
        reads: args.reads.unwrap_or(args.num),
        value_size: small("value-size", args.value_size)?,
        threads,
        histogram: args.histogram,
        seed: args.seed,
        engine: args.engine,
    };
    let (temp_dir, dir) = workload::dbbench::base_dir(args.dir.as_deref())?;
    let talk = !quiet && !json;
    if talk {
        let name = match args.engine {
            store::EngineKind::Alex => "alexdb",
            store::EngineKind::Storage => "alexdb-storage",
            store::EngineKind::Btree => "btreemap",
        };
        println!("{}", workload::dbbench::header(&options, name));
    }
    let results = workload::dbbench::run(&dir, &options, !quiet, |result| {
        if talk {
            println!("{}", workload::dbbench::render(result, options.histogram));
        }
    })?;
    drop(temp_dir);
    if json {
        let text = serde_json::to_string_pretty(&results)
            .map_err(|error| CliError::Other(error.to_string()))?;
        println!("{text}");
    }
    Ok(())
}
