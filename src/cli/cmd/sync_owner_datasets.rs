//! `nexis sync-owner-datasets`: the owner's worker that copies every accepted row from the
//! miners' buckets into the owner dataset bucket (protocol §13).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::args::IntervalBlocksArg;
use crate::cli::args::{CatalogValidatorArg, OwnerDbArgs};
use anyhow::bail;
use clap::Args;

use crate::cli::args::ChainArgs;
use crate::cli::args::R2Credentials;
use crate::cli::args::ServiceArgs;
use crate::cli::args::SizeCapArgs;
use crate::cli::args::{RecordInfoArgs, RecordInfoWriteArgs};
use nexis::chain::NetUid;
use nexis::owner::metrics::SyncMetrics;
use nexis::owner::progress::{ProgressStore, RetryPolicy};
use nexis::owner::{OwnerSync, PassSummary, SyncSettings};
use nexis::shutdown::Shutdown;
use nexis::storage::{LocalStore, ObjectStore};
use nexis::telemetry::heartbeat_path;

/// Arguments of `nexis sync-owner-datasets`.
#[derive(Debug, Args)]
#[command(after_help = "Copies every row of every bundle in the record-info bucket that has no \
    copied_to_owner.marker into NEXIS_OWNER_DB_BUCKET as nature/{id}/clip.mp4, first_image.jpg and \
    metadata.json, verifying both sha256 digests, and keeps the parquet catalog catalog/interval={I}/part-*.parquet \
    (see `nexis dataset`) up to date. Progress lives in NEXIS_WORKDIR/owner-sync; a \
    restart resumes and overwrites instead of duplicating.\n\n\
    Example (embedded chain, local buckets):\n  nexis sync-owner-datasets --buckets-dir ./buckets \
    --owner-db-bucket owner-db --once")]
pub(crate) struct SyncArgs {
    #[command(flatten)]
    pub(crate) chain: ChainArgs,
    /// Seconds between passes.
    #[arg(long, env = "NEXIS_OWNER_SYNC_POLL_SEC", default_value_t = 60.0)]
    pub(crate) poll_sec: f64,
    /// Miner hotkeys whose bundles are left alone, comma-separated.
    #[arg(long, env = "NEXIS_OWNER_SYNC_EXCLUDE_HOTKEYS", value_delimiter = ',')]
    pub(crate) exclude_hotkeys: Vec<String>,
    /// Run one pass and exit (exit status 1 when the pass failed or rows still fail).
    #[arg(long)]
    pub(crate) once: bool,
    /// Rows copied at once.
    #[arg(long, env = "NEXIS_OWNER_SYNC_CONCURRENCY", default_value_t = 4)]
    pub(crate) concurrency: usize,
    /// Failed attempts after which a row is given up (recorded and reported).
    #[arg(long, env = "NEXIS_OWNER_SYNC_MAX_ATTEMPTS", default_value_t = 5)]
    pub(crate) max_attempts: u32,
    /// First retry delay of a failed row, seconds; doubles per attempt.
    #[arg(long, env = "NEXIS_OWNER_SYNC_RETRY_BASE_SEC", default_value_t = 60)]
    pub(crate) retry_base_sec: u64,
    /// Longest retry delay, seconds.
    #[arg(long, env = "NEXIS_OWNER_SYNC_RETRY_CAP_SEC", default_value_t = 3600)]
    pub(crate) retry_cap_sec: u64,
    #[command(flatten)]
    pub(crate) service: ServiceArgs,
    #[command(flatten)]
    pub(crate) record_info: RecordInfoArgs,
    #[command(flatten)]
    pub(crate) record_info_write: RecordInfoWriteArgs,
    #[command(flatten)]
    pub(crate) owner_db: OwnerDbArgs,
    #[command(flatten)]
    pub(crate) caps: SizeCapArgs,
    /// The interval length (the sync lists only the intervals since its high-water mark).
    #[command(flatten)]
    pub(crate) interval: IntervalBlocksArg,
    /// Longest time between two listings of the whole record-info bucket, seconds.
    #[arg(long, env = "NEXIS_OWNER_SYNC_FULL_LIST_SEC", default_value_t = 3600)]
    pub(crate) full_list_sec: u64,
    #[command(flatten)]
    pub(crate) validator: CatalogValidatorArg,
    /// Pause after each copied row, milliseconds (throttling; tests use it).
    #[arg(long, hide = true, default_value_t = 0)]
    pub(crate) pause_after_row_ms: u64,
}

/// The owner dataset bucket: a local directory, or R2 with the owner's write keys.
fn owner_db(args: &SyncArgs, endpoint: Option<String>) -> anyhow::Result<Arc<dyn ObjectStore>> {
    let bucket = args.owner_db.required_bucket("the owner sync")?;
    if let Some(dir) = &args.service.storage.buckets.buckets_dir {
        return Ok(Arc::new(LocalStore::new(dir.join(bucket))));
    }
    let [account_id, access_key, secret_key] = args.owner_db.credentials();
    let credentials = R2Credentials { account_id, access_key, secret_key };
    credentials.required("the owner dataset bucket")?.store(bucket, endpoint, "owner dataset bucket")
}

/// The worker's settings from `args`; scratch space under `workdir`.
fn sync_settings(args: &SyncArgs, netuid: NetUid, workdir: &Path) -> anyhow::Result<SyncSettings> {
    Ok(SyncSettings {
        netuid,
        concurrency: args.concurrency.max(1),
        retry: RetryPolicy {
            max_attempts: args.max_attempts,
            base: Duration::from_secs(args.retry_base_sec),
            cap: Duration::from_secs(args.retry_cap_sec.max(args.retry_base_sec)),
        },
        excluded: args
            .exclude_hotkeys
            .iter()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .collect::<BTreeSet<_>>(),
        max_dataset_bytes: args.caps.max_dataset_bytes,
        max_dataset_rows: args.caps.max_dataset_rows,
        max_decoded_bytes: nexis::catalog::rebuild::DEFAULT_MAX_DECODED_BYTES,
        max_clip_bytes: args.caps.max_clip_bytes,
        max_frame_bytes: args.caps.max_frame_bytes,
        scratch: workdir.join("owner-sync").join("scratch"),
        progress_bar: true,
        pause_after_row: Duration::from_millis(args.pause_after_row_ms),
        interval_blocks: args.interval.resolve()?,
        full_list_every: Duration::from_secs(args.full_list_sec),
        validator_hotkey: args.validator.hotkey(),
        ..SyncSettings::default()
    })
}

/// Prints the failures and counters of a `--once` pass; exit status 1 when rows or
/// bundles still fail.
fn report_once(summary: &PassSummary) -> ExitCode {
    for f in &summary.failures {
        eprintln!(
            "{} {}/{} row {}: attempt {}: {}",
            if f.given_up { "gave up" } else { "failed" },
            f.interval_id,
            f.hotkey,
            f.clip_id,
            f.attempts,
            f.error
        );
    }
    let fields: Vec<String> = summary.fields().iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("{}", fields.join(" "));
    let clean = summary.rows_failed == 0 && summary.bundle_errors == 0;
    if clean { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

/// Runs `nexis sync-owner-datasets`.
pub(crate) async fn run(args: SyncArgs) -> anyhow::Result<ExitCode> {
    if !(args.poll_sec > 0.0 && args.poll_sec.is_finite()) {
        bail!("--poll-sec / NEXIS_OWNER_SYNC_POLL_SEC must be a positive number of seconds");
    }
    if args.max_attempts == 0 {
        bail!("--max-attempts / NEXIS_OWNER_SYNC_MAX_ATTEMPTS must be at least 1");
    }
    let network = args.chain.network()?;
    let netuid = args.chain.netuid(&network)?;
    let endpoint = args.service.storage.endpoint();
    let record_info = args.record_info_write.store(
        &args.record_info,
        args.service.storage.buckets.buckets_dir.as_ref(),
        endpoint.clone(),
        "the owner sync",
    )?;
    let owner_db = owner_db(&args, endpoint.clone())?;
    let stores = args.service.storage.miner_stores();
    let workdir = args.service.storage.workdir()?;
    let progress = ProgressStore::open(&workdir.join("owner-sync").join("progress"))?;
    let chain: Arc<dyn nexis::chain::Chain> = Arc::from(args.chain.connect(&network).await?);
    let metrics = Arc::new(SyncMetrics::new());
    let m = metrics.clone();
    args.service.serve_metrics(move || m.render()).await?;
    let sync = OwnerSync {
        record_info,
        owner_db,
        chain,
        stores,
        progress,
        metrics,
        settings: sync_settings(&args, netuid, &workdir)?,
        heartbeat: Some(heartbeat_path(&workdir, "owner-sync")),
    };
    if args.once {
        return Ok(report_once(&sync.pass().await?));
    }
    let shutdown = Shutdown::on_signal("stopping after the current step");
    sync.run(Duration::from_secs_f64(args.poll_sec), &shutdown).await;
    Ok(ExitCode::SUCCESS)
}
