//! The `alexdb` command-line tool: phased experiments, YCSB and db_bench workloads, and
//! commands for poking at a data directory. Everything lives in `cli/`; see `docs/cli.md`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
