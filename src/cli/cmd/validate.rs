//! `nexis validate`: the long-running validator service. The flags become one
//! [`ValidatorConfig`], which builds the service.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tracing::{info, warn};

use crate::cli::args::BlockArgs;
use crate::cli::args::ChainArgs;
use crate::cli::args::ContentCheckArgs;
use crate::cli::args::ServiceArgs;
use crate::cli::args::SourceCheckArgs;
use crate::cli::args::{EvidenceApiArgs, IntervalArgs};
use crate::cli::args::{MechIdArg, MinerBudgetArg, VersionKeyArg};
use crate::cli::args::{PackageArgs, registry_for};
use crate::cli::args::{RecordInfoArgs, RecordInfoWriteArgs};
use nexis::chain::Chain;
use nexis::evidence::EvidenceApi;
use nexis::owner::OwnerMode;
use nexis::owner::pending::PendingBundles;
use nexis::shutdown::Shutdown;
use nexis::storage::ObjectStore;
use nexis::telemetry::heartbeat_path;
use nexis::validator::{
    ConfigError, ConfigField, PackageValidator, Seat, ServiceError, ServiceSettings, ValidatorConfig, ValidatorState,
};

/// Arguments of `nexis validate`.
#[derive(Debug, Args)]
#[command(after_help = "Evaluates every closed interval once, in order, and sets weights once per \
    weight epoch. State (last finished interval, decisions, weights, overlap index) lives in \
    NEXIS_WORKDIR/validator-state; a restart resumes after the last recorded interval.\n\n\
    Example (embedded chain, local buckets):\n  nexis validate --buckets-dir ./buckets --poll-sec 1")]
pub(crate) struct ValidateArgs {
    #[command(flatten)]
    chain: ChainArgs,
    #[command(flatten)]
    intervals: IntervalArgs,
    #[command(flatten)]
    service: ServiceArgs,
    /// Grace after the deadline block's time before a manifest counts as late, seconds.
    #[arg(long, env = "NEXIS_VALIDATOR_UPLOAD_GRACE_SEC", default_value_t = 60)]
    upload_grace_sec: u64,
    #[command(flatten)]
    budget: MinerBudgetArg,
    /// Memory for decoding miners' datasets, MiB, shared by all miners checked at once
    /// (larger loads wait their turn; about 640 bytes per row).
    #[arg(long, env = "NEXIS_VALIDATOR_MEMORY_BUDGET_MIB", value_parser = clap::value_parser!(u64).range(1..),
          default_value_t = nexis::dataset::memory::DEFAULT_BUDGET_BYTES >> 20)]
    memory_budget_mib: u64,
    #[command(flatten)]
    version_key: VersionKeyArg,
    #[command(flatten)]
    mechid: MechIdArg,
    /// Fingerprint the first frames of accepted packages and prune footage already
    /// published under another claimed source (`duplicate_content` in the notes).
    #[arg(long, env = "NEXIS_VALIDATOR_DUPLICATE_CONTENT_CHECK", default_value_t = true, action = clap::ArgAction::Set)]
    duplicate_content_check: bool,
    #[command(flatten)]
    api: EvidenceApiArgs,
    #[command(flatten)]
    record_info: RecordInfoArgs,
    /// The subnet owner's validator hotkey (SS58). When it is this validator's hotkey, owner
    /// mode publishes accepted bundles and the overlap snapshot after each interval.
    #[arg(long, env = "NEXIS_OWNER_VALIDATOR_HOTKEY")]
    owner_validator_hotkey: Option<String>,
    #[command(flatten)]
    record_info_write: RecordInfoWriteArgs,
    /// Evaluate pending intervals, set weights if due, and exit.
    #[arg(long)]
    once: bool,
    #[command(flatten)]
    blocks: BlockArgs,
    #[command(flatten)]
    package: PackageArgs,
    #[command(flatten)]
    content: ContentCheckArgs,
    #[command(flatten)]
    source: SourceCheckArgs,
}

/// Runs `nexis validate`.
pub(crate) async fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let service = config(&args).await?.build().map_err(config_error)?;
    if args.once {
        service.resume().await;
        let report = service.tick().await.map_err(service_error)?;
        info!(block = report.block, intervals = report.intervals.len(), weights = report.weights.is_some(), "done");
        return Ok(ExitCode::SUCCESS);
    }
    let shutdown = Shutdown::on_signal("stopping after the current step (a step cut short is retried after restart)");
    service.run(&shutdown).await.map_err(service_error)?;
    Ok(ExitCode::SUCCESS)
}

/// A validator setting the library refused, named by its flag and environment variable.
fn config_error(e: ConfigError) -> anyhow::Error {
    match e {
        ConfigError::ZeroLength(field) => {
            let flag = match field {
                ConfigField::IntervalBlocks => "--interval-blocks / NEXIS_INTERVAL_BLOCKS",
                ConfigField::WeightEpochBlocks => "--weight-epoch-blocks / NEXIS_WEIGHT_EPOCH_BLOCKS",
                ConfigField::Poll => "--poll-sec / NEXIS_BLOCK_POLL_SEC",
            };
            anyhow::anyhow!("{flag} must be positive")
        }
    }
}

/// A service failure, with the flag that chooses the work directory when the state is at fault.
fn service_error(e: ServiceError) -> anyhow::Error {
    match e {
        ServiceError::StateAheadOfChain { .. } => {
            anyhow::anyhow!("{e} (the work directory: --workdir / NEXIS_WORKDIR)")
        }
        e => e.into(),
    }
}

/// The validator these flags (and the environment) describe.
async fn config(args: &ValidateArgs) -> anyhow::Result<ValidatorConfig> {
    let network = args.chain.network()?;
    let (clock, windows) = args.blocks.resolve()?;
    let poll = args.intervals.poll()?;
    if args.service.storage.workdir.given().is_none() && !network.is_embedded() {
        warn!(
            workdir = %args.service.storage.workdir.path().display(),
            "NEXIS_WORKDIR is not set: validator state goes to the default state directory; set it explicitly for a service"
        );
    }
    let workdir = args.service.storage.workdir()?;
    let seat = Seat { netuid: args.chain.netuid(&network)?, clock, hotkey: Arc::new(args.chain.hotkey()?) };
    let owner_store = owner_store(args, &seat)?;
    let packages = package_validator(args, &workdir).await?;
    let chain: Arc<dyn Chain> = Arc::from(args.chain.connect(&network).await?);
    let state = ValidatorState::open(&workdir.join("validator-state"))?;
    let mut config = ValidatorConfig::new(seat, chain, args.service.storage.miner_stores(), packages, state);
    let m = config.metrics.clone();
    args.service.serve_metrics(move || m.render()).await?;
    let budget = args.budget.budget();
    config.intervals = args.intervals.settings(budget, Duration::from_secs(args.upload_grace_sec));
    config.service = ServiceSettings {
        windows,
        version_key: args.version_key.version_key,
        mecid: args.mechid.mechid,
        poll,
        heartbeat: Some(heartbeat_path(&workdir, "validator")),
        set_weights: true,
    };
    config.api = evidence_api(args, &config.seat)?;
    config.snapshot =
        args.record_info.source(args.service.storage.buckets.buckets_dir.as_ref(), args.service.storage.endpoint())?;
    if let Some(store) = owner_store {
        owner_mode(args, &mut config, store, &workdir)?;
    }
    Ok(config)
}

/// The package pipeline: specs, ffprobe, size caps, and the content and source checks.
async fn package_validator(args: &ValidateArgs, workdir: &Path) -> anyhow::Result<PackageValidator> {
    let registry = registry_for(&args.intervals.specs.specs)?;
    let mut limits = args.package.limits();
    limits.memory = nexis::dataset::memory::MemoryBudget::new(args.memory_budget_mib.saturating_mul(1 << 20));
    let probe = args.package.probe().await?;
    let mut validator = PackageValidator::new(registry, probe, limits, workdir.join("scratch"))
        .with_fingerprints(args.duplicate_content_check);
    if let Some(checks) = args.content.content_checks(args.intervals.category())? {
        validator = validator.with_content_checks(checks);
    }
    args.source.apply(validator, workdir)
}

/// The record-info bucket with write access when this validator is the owner's.
fn owner_store(args: &ValidateArgs, seat: &Seat) -> anyhow::Result<Option<Arc<dyn ObjectStore>>> {
    let owner = args.owner_validator_hotkey.as_deref().map(str::trim).filter(|h| !h.is_empty());
    if owner != Some(seat.hotkey.ss58().as_str()) {
        return Ok(None);
    }
    let who = "owner mode (NEXIS_OWNER_VALIDATOR_HOTKEY is this validator's hotkey)";
    let endpoint = args.service.storage.endpoint();
    let store = args.record_info_write.store(
        &args.record_info,
        args.service.storage.buckets.buckets_dir.as_ref(),
        endpoint,
        who,
    )?;
    info!("owner mode: publishing accepted bundles and the overlap snapshot after each interval");
    Ok(Some(store))
}

/// Owner mode: publish accepted bundles and the snapshot to `store` after each interval
/// (the same [`OwnerMode`] the demo installs).
fn owner_mode(
    args: &ValidateArgs,
    config: &mut ValidatorConfig,
    store: Arc<dyn ObjectStore>,
    workdir: &Path,
) -> anyhow::Result<()> {
    import_legacy_pending(&config.state, workdir)?;
    OwnerMode { record_info: store, snapshot_key: args.record_info.object_key() }.install(config);
    Ok(())
}

/// Moves the pending bundles of the stand-alone `owner-publish` database of earlier
/// versions into the validator state, once.
fn import_legacy_pending(state: &ValidatorState, workdir: &Path) -> anyhow::Result<()> {
    let old = workdir.join("owner-publish");
    if old.is_dir() {
        let pending = PendingBundles::in_tree(state.owner_pending_tree());
        let n = pending.import_from(&old).context("importing NEXIS_WORKDIR/owner-publish")?;
        std::fs::rename(&old, workdir.join("owner-publish.imported"))
            .context("retiring NEXIS_WORKDIR/owner-publish")?;
        info!(bundles = n, "pending owner bundles moved into the validator state");
    }
    Ok(())
}

/// The evidence API the validator reports to and takes exclusions from, if configured.
fn evidence_api(args: &ValidateArgs, seat: &Seat) -> anyhow::Result<Option<Arc<dyn EvidenceApi>>> {
    match args.api.client(&seat.hotkey)? {
        Some(api) => {
            info!(timeout_sec = api.timeout().as_secs_f64(), "evidence API reporting is on");
            Ok(Some(Arc::new(api)))
        }
        None => {
            info!("NEXIS_VALIDATION_API_URL is empty: evidence API reporting and exclusions are off");
            Ok(None)
        }
    }
}
