//! Command-line parsing (clap derive; flags also read from their environment variables and
//! a `.env` file), logging set-up and exit codes. Each subcommand has its own file.

mod api;
mod args;
mod bench;
mod bench_api;
mod bench_dataset;
mod bench_subnet;
mod blocks;
mod btcli;
mod chain;
mod chain_admin;
mod chain_doctor;
mod chain_settings;
mod check;
mod conform_weights;
mod dataset;
mod demo;
mod health;
mod intervals;
mod llm;
mod mine;
mod r2;
mod record_info;
mod reveal_round;
mod secret;
mod self_check;
mod service;
mod source_auth;
mod sources;
mod sync;
mod validate;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;

/// Exit code for usage and environment errors.
pub(crate) const EXIT_USAGE: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "nexis",
    version,
    about = "Validator, miner and owner tooling for the Nexisgen video-clip dataset subnet",
    long_about = "nexis validates, mines and curates interval packages of 5-second 1280x720 \
                  YouTube clips for the Nexisgen Bittensor subnet.\n\nEvery flag can also be \
                  set through the environment variable shown in its help, or a .env file in \
                  the working directory."
)]
struct Cli {
    /// Show per-stage timings and other debug detail.
    #[arg(long, global = true, env = "NEXIS_DEBUG", alias = btcli::LOGGING_DEBUG)]
    debug: bool,
    /// Log everything nexis does (btcli's `--logging.trace`).
    #[arg(long = btcli::LOGGING_TRACE, global = true, hide = true)]
    trace: bool,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value = "human", env = "NEXIS_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate one interval package from a local directory and print the decision.
    Check(Box<check::CheckArgs>),
    /// Commit this miner's R2 read credentials on chain (protocol §4).
    CommitCredentials(Box<chain::CommitArgs>),
    /// Inspect the chain: status, weights; register on the embedded chain.
    #[command(subcommand)]
    Chain(chain::ChainCommand),
    /// Build and upload this miner's package for every interval (or once).
    Mine(Box<mine::MineArgs>),
    /// Miner sources: search YouTube for usable videos (`sources discover`).
    #[command(subcommand)]
    Sources(sources::SourcesCommand),
    /// Run the validator service: evaluate every closed interval, set weights each epoch.
    Validate(Box<validate::ValidateArgs>),
    /// Report miners whose clips do not come from the YouTube source they claim (sidecar).
    ValidateSourceAuth(Box<source_auth::SourceAuthArgs>),
    /// Owner: copy accepted clips from the miners' buckets into the owner dataset bucket.
    SyncOwnerDatasets(Box<sync::SyncArgs>),
    /// Exit 0 when a service's loop progressed recently (container health checks).
    Health(health::HealthArgs),
    /// Run a whole subnet on this machine: honest and cheating miners, a validator, weights.
    Demo(Box<demo::DemoArgs>),
    /// Run the validation evidence server, or manage its blacklist.
    Api(Box<api::ApiArgs>),
    /// The owner dataset: stats, SQL queries, WebDataset export, catalog rebuild.
    #[command(subcommand)]
    Dataset(Box<dataset::DatasetCommand>),
    /// Measure performance (see `nexis bench --help`).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

fn init_logging(debug: bool, trace: bool, format: LogFormat, command: &Command) {
    let default = match (trace, debug) {
        (true, _) => "nexis=trace,info",
        (false, true) => "nexis=debug,info",
        // `bench api` posts thousands of reports with the validator's client: not one line each.
        (false, false) if matches!(command, Command::Bench(bench::BenchCommand::Api(_))) => "nexis=warn,warn",
        (false, false) => "nexis=info,warn",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Colours only on a terminal: logs piped to a file or a journal stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = match format {
        LogFormat::Human => builder.compact().try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Settings where an empty value means something ("no category", "metrics off").
const MEANINGFUL_WHEN_EMPTY: [&str; 2] = ["NEXIS_DATASET_CATEGORY", "NEXIS_METRICS_ADDR"];

/// Treats `NAME=` (as in a `.env` copied from `.env.example`) like an unset variable, so
/// blank lines fall back to the defaults instead of failing to parse.
fn drop_blank_settings() {
    let blank: Vec<_> = std::env::vars_os()
        .filter(|(k, v)| {
            let k = k.to_string_lossy();
            let ours = ["NEXIS_", "BT_", "R2_", "OPENAI_", "GEMINI_"].iter().any(|p| k.starts_with(p));
            ours && v.to_string_lossy().trim().is_empty() && !MEANINGFUL_WHEN_EMPTY.contains(&k.as_ref())
        })
        .map(|(k, _)| k)
        .collect();
    for key in blank {
        // SAFETY: called from `main` before the runtime or any other thread exists.
        unsafe { std::env::remove_var(key) };
    }
}

/// The command line, with `--version` showing the commit, protocol and weights version key.
fn command() -> clap::Command {
    // Built once per process; leaking the text gives clap the 'static string it keeps.
    let long: &'static str = Box::leak(btcli::long_version().into_boxed_str());
    Cli::command().long_version(long)
}

fn parse() -> Cli {
    let matches = command().get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// Parses arguments, runs the subcommand and maps the outcome to an exit code.
pub(crate) fn main() -> ExitCode {
    // A missing .env is normal; a malformed one is reported but not fatal.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("warning: ignoring .env: {e}");
    }
    drop_blank_settings();
    let cli = parse();
    init_logging(cli.debug, cli.trace, cli.log_format, &cli.command);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Check(args) => check::run(*args).await,
            Command::CommitCredentials(args) => chain::commit(*args).await,
            Command::Chain(cmd) => chain::run(cmd).await,
            Command::Mine(args) => mine::run(*args).await,
            Command::Sources(cmd) => sources::run(cmd).await,
            Command::Validate(args) => validate::run(*args).await,
            Command::ValidateSourceAuth(args) => source_auth::run(*args).await,
            Command::SyncOwnerDatasets(args) => sync::run(*args).await,
            Command::Health(args) => Ok(health::run(args)),
            Command::Api(args) => api::run(*args).await,
            Command::Bench(cmd) => bench::run(cmd).await,
            Command::Dataset(cmd) => dataset::run(*cmd).await,
            Command::Demo(args) => demo::run_demo(*args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
