//! `nexis bench`: performance measurements on generated data.

use std::process::ExitCode;

use clap::{Args, Subcommand};

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Generate a package of N unique rows and time `check` on it.
    Check(BenchCheckArgs),
}

/// Arguments of `nexis bench check`.
#[derive(Debug, Args)]
pub struct BenchCheckArgs {
    /// Rows in the generated package.
    #[arg(long, default_value_t = 100_000)]
    pub rows: usize,
}

/// Runs a benchmark.
pub async fn run(cmd: BenchCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BenchCommand::Check(args) => {
            anyhow::bail!("bench check with {} rows is not available yet", args.rows)
        }
    }
}
