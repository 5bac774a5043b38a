//! `nexis validate`: the long-running validator service, and `nexis health`, the liveness
//! probe a container health check runs against it.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use super::secret::Secret;
use anyhow::{Context, bail};
use clap::Args;
use tracing::{info, warn};

use super::chain::ChainArgs;
use super::check::{PackageArgs, registry_for};
use super::llm::ContentCheckArgs;
use super::service::ServiceArgs;
use nexis::api::ValidationApi;
use nexis::chain::Hotkey;
use nexis::chain::weights::ScoringWindows;
use nexis::index::refresh::{DEFAULT_BUCKET, DEFAULT_OBJECT_KEY, SnapshotSource};
use nexis::owner::OwnerPublisher;
use nexis::owner::pending::PendingBundles;
use nexis::owner::publish::DEFAULT_MAX_ATTEMPTS;
use nexis::protocol::{DEFAULT_CATEGORY, DEFAULT_SPEC_ID, IntervalClock, MAX_MINERS_PER_INTERVAL};
use nexis::storage::{LocalStore, ObjectStore, S3Config, S3Store};
use nexis::validator::PackageValidator;
use nexis::validator::interval::{IntervalEvaluator, IntervalSettings};
use nexis::validator::metrics::{Health, Metrics, check_health, heartbeat_path};
use nexis::validator::service::{EvidenceApi, ServiceSettings, ValidatorService};
use nexis::validator::state::ValidatorState;

/// Arguments of `nexis validate`.
#[derive(Debug, Args)]
#[command(after_help = "Evaluates every closed interval once, in order, and sets weights once per \
    weight epoch. State (last finished interval, decisions, weights, overlap index) lives in \
    NEXIS_WORKDIR/validator-state; a restart resumes after the last recorded interval.\n\n\
    Example (embedded chain, local buckets):\n  nexis validate --buckets-dir ./buckets --poll-sec 1")]
pub struct ValidateArgs {
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Miner hotkeys to leave out, comma-separated.
    #[arg(long, env = "NEXIS_EXCLUDE_HOTKEYS", value_delimiter = ',')]
    pub exclude_hotkeys: Vec<String>,
    /// Enabled dataset specs, comma-separated.
    #[arg(long, env = "NEXIS_VALIDATOR_ENABLED_SPECS", value_delimiter = ',', default_value = DEFAULT_SPEC_ID)]
    pub specs: Vec<String>,
    /// Required category; an empty string requires none.
    #[arg(long, env = "NEXIS_DATASET_CATEGORY", default_value = DEFAULT_CATEGORY)]
    pub category: String,
    /// Seconds between block polls.
    #[arg(long, env = "NEXIS_BLOCK_POLL_SEC", default_value_t = 12.0)]
    pub poll_sec: f64,
    #[command(flatten)]
    pub service: ServiceArgs,
    /// Grace after the deadline block's time before a manifest counts as late, seconds.
    #[arg(long, env = "NEXIS_VALIDATOR_UPLOAD_GRACE_SEC", default_value_t = 60)]
    pub upload_grace_sec: u64,
    /// Miners validated at once.
    #[arg(long, env = "NEXIS_VALIDATOR_MINER_CONCURRENCY", default_value_t = 8)]
    pub miner_concurrency: usize,
    /// Time budget of one miner's validation, seconds.
    #[arg(long, env = "NEXIS_VALIDATOR_MINER_BUDGET_SEC", default_value_t = 300)]
    pub miner_budget_sec: u64,
    /// Memory for decoding miners' datasets, MiB, shared by all miners checked at once
    /// (larger loads wait their turn; about 640 bytes per row).
    #[arg(long, env = "NEXIS_VALIDATOR_MEMORY_BUDGET_MIB", value_parser = clap::value_parser!(u64).range(1..),
          default_value_t = nexis::dataset::memory::DEFAULT_BUDGET_BYTES >> 20)]
    pub memory_budget_mib: u64,
    /// `version_key` of weight submissions.
    #[arg(long, env = "NEXIS_WEIGHTS_VERSION_KEY", default_value_t = 0)]
    pub weights_version_key: u64,
    /// Validation API base URL (protocol §12); empty turns reporting off.
    #[arg(long, env = "NEXIS_VALIDATION_API_URL")]
    pub validation_api_url: Option<String>,
    /// Timeout of each validation API request, seconds.
    #[arg(long, env = "NEXIS_VALIDATION_API_TIMEOUT_SEC")]
    pub validation_api_timeout_sec: Option<String>,
    #[command(flatten)]
    pub record_info: RecordInfoArgs,
    /// The subnet owner's validator hotkey (SS58). When it is this validator's hotkey, owner
    /// mode publishes accepted bundles and the overlap snapshot after each interval.
    #[arg(long, env = "NEXIS_OWNER_VALIDATOR_HOTKEY")]
    pub owner_validator_hotkey: Option<String>,
    #[command(flatten)]
    pub record_info_write: RecordInfoWriteArgs,
    /// Evaluate pending intervals, set weights if due, and exit.
    #[arg(long)]
    pub once: bool,
    #[command(flatten)]
    pub blocks: BlockArgs,
    #[command(flatten)]
    pub package: PackageArgs,
    #[command(flatten)]
    pub content: ContentCheckArgs,
    #[command(flatten)]
    pub source: super::source_auth::SourceCheckArgs,
}

/// The record-info bucket holding the shared overlap snapshot (protocol §10).
#[derive(Debug, Args)]
pub struct RecordInfoArgs {
    /// Bucket of the shared `record_info.json`.
    #[arg(long, env = "NEXIS_RECORD_INFO_BUCKET", default_value = DEFAULT_BUCKET)]
    pub record_info_bucket: String,
    /// Object key of the snapshot in that bucket.
    #[arg(long, env = "NEXIS_RECORD_INFO_OBJECT_KEY", default_value = DEFAULT_OBJECT_KEY)]
    pub record_info_object_key: String,
    /// Cloudflare account id of the record-info bucket.
    #[arg(long, env = "NEXIS_RECORD_INFO_ACCOUNT_ID", hide_env_values = true)]
    pub record_info_account_id: Option<String>,
    /// Read access key of the record-info bucket.
    #[arg(long, env = "NEXIS_RECORD_INFO_READ_ACCESS_KEY", hide_env_values = true)]
    pub record_info_read_access_key: Option<Secret>,
    /// Read secret key of the record-info bucket.
    #[arg(long, env = "NEXIS_RECORD_INFO_READ_SECRET_KEY", hide_env_values = true)]
    pub record_info_read_secret_key: Option<Secret>,
}

impl RecordInfoArgs {
    /// Where to read the snapshot: a local bucket directory, R2 with read keys, or nowhere.
    pub fn source(
        &self,
        buckets_dir: Option<&PathBuf>,
        endpoint: Option<String>,
    ) -> anyhow::Result<Option<SnapshotSource>> {
        let key = self.record_info_object_key.trim().to_string();
        let bucket = self.record_info_bucket.trim();
        let store: Arc<dyn ObjectStore> = if let Some(dir) = buckets_dir {
            Arc::new(LocalStore::new(dir.join(bucket)))
        } else {
            match (&self.record_info_account_id, &self.record_info_read_access_key, &self.record_info_read_secret_key) {
                (Some(account), Some(access), Some(secret)) => {
                    let config = S3Config::r2(account.trim(), bucket, access.trim(), secret.trim())
                        .with_endpoint_override(endpoint);
                    Arc::new(S3Store::new(config).context("record-info bucket settings")?)
                }
                (None, None, None) => {
                    info!(
                        "no NEXIS_RECORD_INFO_* credentials: the overlap index holds this validator's own kept rows only"
                    );
                    return Ok(None);
                }
                _ => bail!(
                    "set all of NEXIS_RECORD_INFO_ACCOUNT_ID, NEXIS_RECORD_INFO_READ_ACCESS_KEY and \
                     NEXIS_RECORD_INFO_READ_SECRET_KEY, or none of them"
                ),
            }
        };
        Ok(Some(SnapshotSource { store, key }))
    }
}

/// Write access to the record-info bucket (owner validator and owner sync). No defaults.
#[derive(Debug, Args)]
pub struct RecordInfoWriteArgs {
    /// Write access key of the record-info bucket (owner only).
    #[arg(long, env = "NEXIS_RECORD_INFO_WRITE_ACCESS_KEY", hide_env_values = true)]
    pub record_info_write_access_key: Option<Secret>,
    /// Write secret key of the record-info bucket (owner only).
    #[arg(long, env = "NEXIS_RECORD_INFO_WRITE_SECRET_KEY", hide_env_values = true)]
    pub record_info_write_secret_key: Option<Secret>,
}

impl RecordInfoWriteArgs {
    /// The record-info bucket with write access: a local bucket directory, or R2 with the
    /// account id and write keys, refusing (naming every missing variable) without them.
    pub fn store(
        &self,
        info: &RecordInfoArgs,
        buckets_dir: Option<&PathBuf>,
        endpoint: Option<String>,
        who: &str,
    ) -> anyhow::Result<Arc<dyn ObjectStore>> {
        let bucket = info.record_info_bucket.trim();
        if bucket.is_empty() {
            bail!("NEXIS_RECORD_INFO_BUCKET is empty; {who} needs the record-info bucket");
        }
        if let Some(dir) = buckets_dir {
            return Ok(Arc::new(LocalStore::new(dir.join(bucket))));
        }
        let given = |v: Option<&str>| v.map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
        let values = [
            ("NEXIS_RECORD_INFO_ACCOUNT_ID", given(info.record_info_account_id.as_deref())),
            ("NEXIS_RECORD_INFO_WRITE_ACCESS_KEY", given(self.record_info_write_access_key.as_deref())),
            ("NEXIS_RECORD_INFO_WRITE_SECRET_KEY", given(self.record_info_write_secret_key.as_deref())),
        ];
        let missing: Vec<&str> = values.iter().filter(|(_, v)| v.is_none()).map(|(n, _)| *n).collect();
        let [(_, Some(account)), (_, Some(access)), (_, Some(secret))] = values else {
            bail!(
                "{who} writes to the record-info bucket and needs its write credentials, which have no default: \
                 set {}",
                missing.join(", ")
            );
        };
        let config = S3Config::r2(&account, bucket, access, secret).with_endpoint_override(endpoint);
        Ok(Arc::new(S3Store::new(config).context("record-info bucket settings")?))
    }
}

/// Block constants; the live-network values are the defaults and any override is logged.
#[derive(Debug, Args)]
pub struct BlockArgs {
    /// Interval length in blocks (50).
    #[arg(long, env = "NEXIS_INTERVAL_BLOCKS")]
    pub interval_blocks: Option<u64>,
    /// Blocks after an interval before it is validated (2).
    #[arg(long, env = "NEXIS_UPLOAD_RESERVE_BLOCKS")]
    pub upload_reserve_blocks: Option<u64>,
    /// Weight epoch length in blocks (250).
    #[arg(long, env = "NEXIS_WEIGHT_EPOCH_BLOCKS")]
    pub weight_epoch_blocks: Option<u64>,
    /// Block time used to estimate timestamps, seconds (12).
    #[arg(long, env = "NEXIS_BLOCK_TIME_SEC")]
    pub block_time_sec: Option<u64>,
    /// Blocks of intervals summed into one epoch's scores (1600).
    #[arg(long, env = "NEXIS_SCORE_WINDOW_BLOCKS")]
    pub score_window_blocks: Option<u64>,
    /// A rejection within this many blocks zeroes a miner (500).
    #[arg(long, env = "NEXIS_REJECTION_WINDOW_BLOCKS")]
    pub rejection_window_blocks: Option<u64>,
}

impl BlockArgs {
    /// The clock and windows, refusing zero lengths and logging every override.
    pub fn resolve(&self) -> anyhow::Result<(IntervalClock, ScoringWindows)> {
        let mut clock = IntervalClock::default();
        let mut windows = ScoringWindows::default();
        let overrides = [
            ("NEXIS_INTERVAL_BLOCKS", self.interval_blocks, &mut clock.interval_blocks),
            ("NEXIS_UPLOAD_RESERVE_BLOCKS", self.upload_reserve_blocks, &mut clock.upload_reserve_blocks),
            ("NEXIS_WEIGHT_EPOCH_BLOCKS", self.weight_epoch_blocks, &mut clock.weight_epoch_blocks),
            ("NEXIS_BLOCK_TIME_SEC", self.block_time_sec, &mut clock.block_time_sec),
            ("NEXIS_SCORE_WINDOW_BLOCKS", self.score_window_blocks, &mut windows.score_blocks),
            ("NEXIS_REJECTION_WINDOW_BLOCKS", self.rejection_window_blocks, &mut windows.rejection_blocks),
        ];
        for (name, value, slot) in overrides {
            if let Some(v) = value {
                if v == 0 && name != "NEXIS_UPLOAD_RESERVE_BLOCKS" {
                    bail!("{name} must be positive");
                }
                warn!(setting = name, value = v, default = *slot, "block constant overridden");
                *slot = v;
            }
        }
        Ok((clock, windows))
    }
}

/// The work directory: the given one, else the XDG state directory (`~/.local/state/nexis`).
pub fn workdir(value: Option<PathBuf>) -> PathBuf {
    value.filter(|v| !v.as_os_str().is_empty()).unwrap_or_else(nexis::config::default_workdir)
}

/// The owner's pending bundles, in the validator state (moved from the stand-alone
/// `owner-publish` database of earlier versions, which is imported once).
fn owner_pending(state: &ValidatorState, workdir: &std::path::Path) -> anyhow::Result<PendingBundles> {
    let pending = PendingBundles::in_tree(state.owner_pending_tree());
    let old = workdir.join("owner-publish");
    if old.is_dir() {
        let n = pending.import_from(&old).context("importing NEXIS_WORKDIR/owner-publish")?;
        std::fs::rename(&old, workdir.join("owner-publish.imported"))
            .context("retiring NEXIS_WORKDIR/owner-publish")?;
        info!(bundles = n, "pending owner bundles moved into the validator state");
    }
    Ok(pending)
}

/// Resolves on Ctrl+C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn evidence_api(args: &ValidateArgs, signer: &Hotkey) -> anyhow::Result<Option<Arc<dyn EvidenceApi>>> {
    let api = ValidationApi::from_env_values(
        args.validation_api_url.as_deref(),
        args.validation_api_timeout_sec.as_deref(),
        signer.clone(),
    )?;
    match api {
        Some(api) => {
            info!(timeout_sec = api.timeout().as_secs_f64(), "validation API reporting is on");
            Ok(Some(Arc::new(api)))
        }
        None => {
            info!("NEXIS_VALIDATION_API_URL is empty: validation API reporting and exclusions are off");
            Ok(None)
        }
    }
}

/// Runs `nexis validate`.
pub async fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let network = args.chain.network()?;
    let netuid = args.chain.netuid(&network)?;
    let (clock, windows) = args.blocks.resolve()?;
    if !(args.poll_sec > 0.0 && args.poll_sec.is_finite()) {
        bail!("--poll-sec / NEXIS_BLOCK_POLL_SEC must be a positive number of seconds");
    }
    if args.service.workdir.is_none() && !network.is_embedded() {
        warn!(
            workdir = %workdir(None).display(),
            "NEXIS_WORKDIR is not set: validator state goes to the default state directory; set it explicitly for a service"
        );
    }
    let workdir = args.service.workdir()?;
    let signer = Arc::new(args.chain.hotkey()?);
    let endpoint = args.service.endpoint();
    let owner_hotkey = args.owner_validator_hotkey.as_deref().map(str::trim).filter(|h| !h.is_empty());
    let owner_store = match owner_hotkey {
        Some(owner) if owner == signer.ss58() => {
            let who = "owner mode (NEXIS_OWNER_VALIDATOR_HOTKEY is this validator's hotkey)";
            let store = args.record_info_write.store(
                &args.record_info,
                args.service.buckets_dir.as_ref(),
                endpoint.clone(),
                who,
            )?;
            info!("owner mode: publishing accepted bundles and the overlap snapshot after each interval");
            Some(store)
        }
        _ => None,
    };
    let registry = registry_for(&args.specs)?;
    nexis::dataset::memory::configure(args.memory_budget_mib.saturating_mul(1 << 20));
    let probe = args.package.probe().await?;
    let chain: Arc<dyn nexis::chain::Chain> = Arc::from(args.chain.connect(&network).await?);
    let state = ValidatorState::open(&workdir.join("validator-state"))?;
    let metrics = Arc::new(Metrics::new());
    let m = metrics.clone();
    args.service.serve_metrics(move || m.render()).await?;
    let category = args.category.trim();
    let mut validator =
        PackageValidator::new(registry, Arc::new(probe), args.package.limits(), workdir.join("scratch"));
    if let Some(checks) = args.content.content_checks((!category.is_empty()).then_some(category))? {
        validator = validator.with_content_checks(checks);
    }
    let validator = args.source.apply(validator, &workdir)?;
    let evaluator = IntervalEvaluator {
        chain: chain.clone(),
        stores: args.service.miner_stores(),
        validator,
        settings: IntervalSettings {
            netuid,
            validator_hotkey: signer.ss58(),
            expected_category: (!category.is_empty()).then(|| category.to_string()),
            enabled_specs: args.specs.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
            max_miners: MAX_MINERS_PER_INTERVAL,
            miner_concurrency: args.miner_concurrency.max(1),
            miner_budget: Duration::from_secs(args.miner_budget_sec.max(1)),
            upload_grace: Duration::from_secs(args.upload_grace_sec),
            clock,
            excluded: args
                .exclude_hotkeys
                .iter()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
                .collect::<BTreeSet<_>>(),
        },
    };
    let api = evidence_api(&args, &signer)?;
    let mut snapshot = args.record_info.source(args.service.buckets_dir.as_ref(), endpoint)?;
    let publisher = match owner_store {
        Some(store) => {
            // Without separate read keys the owner reads the snapshot with its write keys.
            if snapshot.is_none() {
                snapshot = Some(SnapshotSource {
                    store: store.clone(),
                    key: args.record_info.record_info_object_key.trim().into(),
                });
            }
            Some(Arc::new(OwnerPublisher {
                record_info: store,
                snapshot_key: args.record_info.record_info_object_key.trim().to_string(),
                chain: chain.clone(),
                netuid,
                stores: args.service.miner_stores(),
                scratch: workdir.join("scratch"),
                max_dataset_bytes: args.package.limits().max_dataset_bytes,
                pending: Some(owner_pending(&state, &workdir)?),
                max_attempts: DEFAULT_MAX_ATTEMPTS,
            }))
        }
        None => None,
    };
    let service = ValidatorService::new(
        chain.clone(),
        signer,
        evaluator,
        state,
        api,
        metrics,
        ServiceSettings {
            netuid,
            clock,
            windows,
            version_key: args.weights_version_key,
            poll: Duration::from_secs_f64(args.poll_sec),
            heartbeat: Some(heartbeat_path(&workdir, "validator")),
            set_weights: true,
        },
    );
    let service = match snapshot {
        Some(source) => service.with_snapshot(source),
        None => service,
    };
    let service = match publisher {
        Some(p) => service.with_publisher(p),
        None => service,
    };
    if args.once {
        service.resume().await;
        let report = service.tick().await?;
        info!(block = report.block, intervals = report.intervals.len(), weights = report.weights.is_some(), "done");
        return Ok(ExitCode::SUCCESS);
    }
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        info!("shutdown requested; stopping after the current step (a step cut short is retried after restart)");
        let _ = tx.send(true);
    });
    service.run(rx).await?;
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `nexis health`.
#[derive(Debug, Args)]
#[command(after_help = "Exit status: 0 when the service's loop progressed within --max-age-sec, \
    1 otherwise. Meant for container health checks.")]
pub struct HealthArgs {
    /// Which service to check.
    #[arg(long, value_parser = ["validator", "owner-sync"], default_value = "validator")]
    pub service: String,
    /// Longest acceptable time since the loop last progressed, seconds.
    #[arg(long, env = "NEXIS_HEALTH_MAX_AGE_SEC", default_value_t = 600)]
    pub max_age_sec: u64,
    /// The service's work directory.
    #[arg(long, env = "NEXIS_WORKDIR")]
    pub workdir: Option<PathBuf>,
}

/// Runs `nexis health`.
pub fn health(args: HealthArgs) -> ExitCode {
    let path = heartbeat_path(&workdir(args.workdir), &args.service);
    match check_health(&path, Duration::from_secs(args.max_age_sec)) {
        Health::Alive { age_sec, beat } => {
            println!(
                "healthy: {} progressed {age_sec} s ago (block {}, last interval {})",
                args.service,
                beat.block,
                beat.last_interval.map_or("-".to_string(), |i| i.to_string())
            );
            ExitCode::SUCCESS
        }
        Health::Stale { age_sec, .. } => {
            println!("unhealthy: {} has not progressed for {age_sec} s (limit {} s)", args.service, args.max_age_sec);
            ExitCode::from(1)
        }
        Health::Missing(why) => {
            println!("unhealthy: no liveness file ({why}); is the {} running with this NEXIS_WORKDIR?", args.service);
            ExitCode::from(1)
        }
    }
}
