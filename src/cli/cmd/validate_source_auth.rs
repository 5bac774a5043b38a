//! The source-authenticity check on the command line: its settings (shared by `check`,
//! `validate` and `validate-source-auth`) and `nexis validate-source-auth`, the drop-in
//! for the Python sidecar that reports miners whose clips do not come from the source
//! they claim.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tracing::info;

use crate::cli::args::BlockArgs;
use crate::cli::args::ChainArgs;
use crate::cli::args::StorageArgs;
use crate::cli::args::{EvidenceApiArgs, IntervalArgs};
use crate::cli::args::{MinerBudgetArg, SourceCheckArgs};
use crate::cli::args::{PackageArgs, registry_for};
use nexis::shutdown::Shutdown;
use nexis::validator::{IntervalEvaluator, PackageValidator, Seat, SourceAuthSidecar};

/// Arguments of `nexis validate-source-auth`.
#[derive(Debug, Args)]
#[command(after_help = "Checks every closed interval once: discovers and samples miners exactly as \
    `nexis validate` does, runs only the source check on the sampled clips, and posts the hotkeys \
    with a source_frame_mismatch to the evidence API (POST /v1/invalid-hotkeys, signed). A source \
    that cannot be fetched never lists a miner.\n\n\
    Example (embedded chain, local buckets, local source mirror):\n  \
    nexis validate-source-auth --buckets-dir ./buckets --source-cache-dir ./sources --once")]
pub(crate) struct SourceAuthArgs {
    #[command(flatten)]
    chain: ChainArgs,
    #[command(flatten)]
    storage: StorageArgs,
    #[command(flatten)]
    intervals: IntervalArgs,
    #[command(flatten)]
    budget: MinerBudgetArg,
    #[command(flatten)]
    api: EvidenceApiArgs,
    /// Check pending intervals and exit.
    #[arg(long)]
    once: bool,
    #[command(flatten)]
    blocks: BlockArgs,
    #[command(flatten)]
    package: PackageArgs,
    #[command(flatten)]
    source: SourceCheckArgs,
}

/// Runs `nexis validate-source-auth`.
pub(crate) async fn run(args: SourceAuthArgs) -> anyhow::Result<ExitCode> {
    let poll = args.intervals.poll()?;
    let sidecar = sidecar(&args).await?;
    if args.once {
        let reports = sidecar.tick().await?;
        for r in &reports {
            println!(
                "interval {}: {} miners checked, reported: [{}]",
                r.interval_id,
                r.evaluated,
                r.reported.join(", ")
            );
        }
        if reports.is_empty() {
            println!("no closed interval to check");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let shutdown = Shutdown::on_signal("stopping after the current step");
    sidecar.run(poll, &shutdown).await;
    Ok(ExitCode::SUCCESS)
}

/// The sidecar these flags describe: the validator's evaluator with the source check as
/// its only row check.
async fn sidecar(args: &SourceAuthArgs) -> anyhow::Result<SourceAuthSidecar> {
    let network = args.chain.network()?;
    let (clock, _) = args.blocks.resolve()?;
    let workdir = args.storage.workdir()?;
    let seat = Seat { netuid: args.chain.netuid(&network)?, clock, hotkey: Arc::new(args.chain.hotkey()?) };
    let api = args.api.client(&seat.hotkey)?;
    if api.is_none() {
        info!("NEXIS_VALIDATION_API_URL is empty: mismatching miners are logged, not reported");
    }
    let registry = registry_for(&args.intervals.specs.specs)?;
    let probe = args.package.probe().await?;
    let check = args.source.source_check(&workdir, true)?.context("the source check could not be set up")?;
    let validator = PackageValidator::new(registry, probe, args.package.limits(), workdir.join("scratch"))
        .with_row_check(Arc::new(check));
    let chain: Arc<dyn nexis::chain::Chain> = Arc::from(args.chain.connect(&network).await?);
    // Lateness is the validator's business; the sidecar checks every package.
    let grace = Duration::from_secs(u64::from(u32::MAX));
    let settings = args.intervals.settings(args.budget.budget(), grace);
    info!(hotkey = %seat.hotkey.ss58(), netuid = seat.netuid, "source-auth sidecar started");
    let evaluator = IntervalEvaluator::new(seat, chain, args.storage.miner_stores(), validator, settings);
    Ok(SourceAuthSidecar { evaluator, api, state_path: workdir.join("source-auth").join("last_interval") })
}
