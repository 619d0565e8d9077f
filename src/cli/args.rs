//! The command line (clap derive). Counts accept `1000000`, `1_000_000`, `1M` or `100k`.

use crate::cli::store::{EngineKind, SyncSetting};
use crate::cli::workload::ycsb::{RequestDistribution, Workload};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// alexdb: an embedded key-value store (ALEX learned index over memory-mapped,
/// checksummed, append-only files). With no command, runs the default experiment in a
/// temporary directory and writes alexdb-report/.
#[derive(Debug, Parser)]
#[command(name = "alexdb", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Print nothing but errors (and the report files are still written).
    #[arg(long, global = true)]
    pub quiet: bool,
    /// Print results as JSON on stdout instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a phased experiment (load, read, delete, compact, reopen, ...) from a plan.
    Experiment(ExperimentArgs),
    /// Standard benchmarks: YCSB core workloads, LevelDB's db_bench.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Print a store's sizes and space use.
    Stats { dir: PathBuf },
    /// Verify every record's checksum and the index against the log (read-only, works
    /// beside a writer); exit code 3 on damage, with its file and offset.
    Check { dir: PathBuf },
    /// Print the value of a key.
    #[command(allow_negative_numbers = true)]
    Get {
        dir: PathBuf,
        #[arg(value_parser = parse_key)]
        key: i64,
    },
    /// Write a key (value given as text, durably synced); creates the store if DIR has none.
    #[command(allow_negative_numbers = true)]
    Put {
        dir: PathBuf,
        #[arg(value_parser = parse_key)]
        key: i64,
        value: String,
    },
    /// Delete a key.
    #[command(allow_negative_numbers = true)]
    Delete {
        dir: PathBuf,
        #[arg(value_parser = parse_key)]
        key: i64,
    },
    /// Print keys and values in key order.
    #[command(allow_negative_numbers = true)]
    Scan {
        dir: PathBuf,
        /// First key (default: the smallest).
        #[arg(long, value_parser = parse_key)]
        from: Option<i64>,
        /// Last key, inclusive (default: the largest).
        #[arg(long, value_parser = parse_key)]
        to: Option<i64>,
        /// Most keys to print.
        #[arg(long, default_value = "20", value_parser = parse_count)]
        limit: u64,
    },
    /// Compact a store: rewrite mostly-dead segments, reclaim their space.
    Compact { dir: PathBuf },
}

#[derive(Debug, Args)]
pub struct ExperimentArgs {
    /// Plan file (TOML); default: the embedded docs/experiments/default.toml.
    #[arg(long)]
    pub plan: Option<PathBuf>,
    /// Data directory (created; must be empty); default: a fresh temporary directory.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Override the plan's key count.
    #[arg(long, value_parser = parse_count)]
    pub keys: Option<u64>,
    /// Override the plan's value size in bytes.
    #[arg(long, value_parser = parse_count)]
    pub value_size: Option<u64>,
    /// Override the plan's thread count.
    #[arg(long, value_parser = parse_count)]
    pub threads: Option<u64>,
    /// Override the plan's sync mode.
    #[arg(long, value_enum)]
    pub sync: Option<SyncSetting>,
    /// Override the plan's random seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Report directory.
    #[arg(long, default_value = "alexdb-report")]
    pub out: PathBuf,
    /// Write no report files.
    #[arg(long)]
    pub no_report: bool,
    /// Store to run against (btree: in-memory BTreeMap baseline).
    #[arg(long, value_enum, default_value = "alex")]
    pub engine: EngineKind,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// YCSB core workloads A-F (standard proportions and generators).
    Ycsb(YcsbArgs),
    /// LevelDB db_bench benchmarks (micros/op, MB/s).
    Db(DbBenchArgs),
}

#[derive(Debug, Args)]
pub struct YcsbArgs {
    /// Workload: a (50/50 read/update), b (95/5), c (read only), d (read latest,
    /// 5% inserts), e (short scans, 5% inserts), f (read-modify-write).
    #[arg(long, value_enum)]
    pub workload: Workload,
    /// Records loaded before the run.
    #[arg(long, default_value = "1000000", value_parser = parse_count)]
    pub records: u64,
    /// Operations in the run.
    #[arg(long, default_value = "1000000", value_parser = parse_count)]
    pub ops: u64,
    #[arg(long, default_value = "1", value_parser = parse_count)]
    pub threads: u64,
    /// Replace the workload's request distribution.
    #[arg(long, value_enum)]
    pub distribution: Option<RequestDistribution>,
    /// Value size in bytes (YCSB's default record is 10 fields x 100 B; we use one value).
    #[arg(long, default_value = "100", value_parser = parse_count)]
    pub value_size: u64,
    #[arg(long, value_enum, default_value = "off")]
    pub sync: SyncSetting,
    /// Data directory (must be empty); default: temporary.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "alex")]
    pub engine: EngineKind,
    #[arg(long, default_value = "42")]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct DbBenchArgs {
    /// Comma-separated: fillseq, fillrandom, fillsync, overwrite, readrandom,
    /// multireadrandom, readseq, readmissing, readwhilewriting, deleterandom, deleteseq,
    /// compact, stats.
    #[arg(
        long,
        default_value = "fillseq,fillrandom,readrandom,readseq,readwhilewriting,deleterandom"
    )]
    pub benchmarks: String,
    /// Entries per benchmark.
    #[arg(long, default_value = "1000000", value_parser = parse_count)]
    pub num: u64,
    /// Reads per read benchmark (default: num).
    #[arg(long, value_parser = parse_count)]
    pub reads: Option<u64>,
    #[arg(long, default_value = "100", value_parser = parse_count)]
    pub value_size: u64,
    /// Reader threads of readwhilewriting (plus one writer) and of the read benchmarks.
    #[arg(long, default_value = "1", value_parser = parse_count)]
    pub threads: u64,
    /// Print a latency histogram per benchmark.
    #[arg(long)]
    pub histogram: bool,
    /// Data directory (must be empty); default: temporary.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "alex")]
    pub engine: EngineKind,
    #[arg(long, default_value = "301")]
    pub seed: u64,
}

/// A count: digits with optional `_` separators and an optional k/M/G suffix (powers
/// of 1000).
pub fn parse_count(text: &str) -> Result<u64, String> {
    let cleaned: String = text.trim().chars().filter(|c| *c != '_').collect();
    let (digits, multiplier) = match cleaned.chars().last() {
        Some('k' | 'K') => (&cleaned[..cleaned.len() - 1], 1_000),
        Some('m' | 'M') => (&cleaned[..cleaned.len() - 1], 1_000_000),
        Some('g' | 'G') => (&cleaned[..cleaned.len() - 1], 1_000_000_000),
        _ => (cleaned.as_str(), 1),
    };
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a count (examples: 1000, 1_000_000, 100k, 1M)"))?;
    value
        .checked_mul(multiplier)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// A key: any `i64`, with optional `_` separators.
pub fn parse_key(text: &str) -> Result<i64, String> {
    let cleaned: String = text.trim().chars().filter(|c| *c != '_').collect();
    cleaned.parse().map_err(|_| {
        format!(
            "{text:?} is not a key (an integer from {} to {})",
            i64::MIN,
            i64::MAX
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn counts_and_keys() {
        assert_eq!(parse_count("1_000_000"), Ok(1_000_000));
        assert_eq!(parse_count("1M"), Ok(1_000_000));
        assert_eq!(parse_count("250k"), Ok(250_000));
        assert!(parse_count("ten").unwrap_err().contains("not a count"));
        assert!(
            parse_count("99999999999G")
                .unwrap_err()
                .contains("too large")
        );
        assert_eq!(parse_key("-9_223_372_036_854_775_808"), Ok(i64::MIN));
        assert!(parse_key("1.5").is_err());
    }

    #[test]
    fn negative_keys_are_not_flags() {
        let cli = Cli::try_parse_from(["alexdb", "get", "/tmp/x", "-5"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Get { key: -5, .. })));
    }
}
