//! The `alexdb` command-line tool: phased experiments, YCSB and db_bench workloads, and
//! commands for poking at a data directory. Everything lives in the library's `cli`
//! module; see `docs/cli.md`.

fn main() -> std::process::ExitCode {
    alexdb::cli::main()
}
