//! The source-authenticity check on the command line: its settings (shared by `check`,
//! `validate` and `validate-source-auth`) and `nexis validate-source-auth`, the drop-in
//! for the Python sidecar that reports miners whose clips do not come from the source
//! they claim.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{ArgAction, Args};
use tracing::info;

use super::args::{MinerBudgetArg, YtDlpArgs};
use super::blocks::BlockArgs;
use super::chain::ChainArgs;
use super::check::{PackageArgs, registry_for};
use super::intervals::{EvidenceApiArgs, IntervalArgs};
use super::service::StorageArgs;
use nexis::shutdown::Shutdown;
use nexis::validator::PackageValidator;
use nexis::validator::config::Seat;
use nexis::validator::interval::IntervalEvaluator;
use nexis::validator::source_auth::SourceAuthSidecar;
use nexis::validator::source_fetch::SourceFetchSettings;
use nexis::validator::stages::source::{DEFAULT_MAX_ROWS, SourceCheck};

/// Settings of the source check.
#[derive(Debug, Args)]
pub(crate) struct SourceCheckArgs {
    /// Compare sampled clips with the YouTube source they claim (downloads from YouTube;
    /// off by default because datacenter IPs are often blocked).
    #[arg(long = "source-check", env = "NEXIS_VALIDATOR_SOURCE_CHECK_ENABLED", action = ArgAction::SetTrue)]
    pub enabled: bool,
    /// Sampled rows per package whose source is checked.
    #[arg(long, env = "NEXIS_VALIDATOR_SOURCE_CHECK_MAX_ROWS", default_value_t = DEFAULT_MAX_ROWS)]
    pub source_check_max_rows: usize,
    /// Fail rows whose source YouTube reports (twice) as not existing, private or removed
    /// (`source_unavailable`); `false` only notes it.
    #[arg(long, env = "NEXIS_VALIDATOR_SOURCE_UNAVAILABLE_HARD", default_value_t = true, action = ArgAction::Set)]
    pub source_unavailable_hard: bool,
    /// Directory of whole source videos `{video_id}.mp4` used instead of downloading.
    #[arg(long, env = "NEXIS_SOURCE_CACHE_DIR")]
    pub source_cache_dir: Option<PathBuf>,
    /// Size bound of the downloaded-section cache under the work directory, bytes.
    #[arg(long, env = "NEXIS_SOURCE_SECTION_CACHE_MAX_BYTES", default_value_t = 1 << 30)]
    pub source_section_cache_max_bytes: u64,
    /// Size cap of one downloaded source section, bytes.
    #[arg(long, env = "NEXIS_SOURCE_SECTION_MAX_BYTES", default_value_t = 64 << 20)]
    pub source_section_max_bytes: u64,
    /// Timeout of one source download, seconds.
    #[arg(long, env = "NEXIS_SOURCE_FETCH_TIMEOUT_SEC", default_value_t = 120)]
    pub source_fetch_timeout_sec: u64,
    #[command(flatten)]
    pub ytdlp: YtDlpArgs,
}

impl SourceCheckArgs {
    /// The source check with its section cache under `workdir`, when enabled (or `force`).
    pub(crate) fn source_check(&self, workdir: &Path, force: bool) -> anyhow::Result<Option<SourceCheck>> {
        if !(self.enabled || force) {
            return Ok(None);
        }
        let cookies_file = self.ytdlp.cookies_file()?;
        if let Some(dir) = &self.source_cache_dir
            && !dir.is_dir()
        {
            bail!("NEXIS_SOURCE_CACHE_DIR {} is not a directory", dir.display());
        }
        let check = SourceCheck {
            fetch: SourceFetchSettings {
                yt_dlp: self.ytdlp.yt_dlp.clone(),
                timeout: Duration::from_secs(self.source_fetch_timeout_sec.max(1)),
                max_section_bytes: self.source_section_max_bytes,
                cache_dir: workdir.join("source-cache"),
                cache_max_bytes: self.source_section_cache_max_bytes,
                mirror_dir: self.source_cache_dir.clone(),
                cookies_file,
                proxy: self.ytdlp.proxy(),
            },
            max_rows: self.source_check_max_rows,
            not_found_is_hard: self.source_unavailable_hard,
            ffmpeg_timeout: Duration::from_secs(120),
            stats: Arc::default(),
        };
        info!(
            max_rows = check.max_rows,
            mirror = ?check.fetch.mirror_dir,
            cookies = check.fetch.cookies_file.is_some(),
            proxy = check.fetch.proxy.is_some(),
            "source-authenticity check is on"
        );
        Ok(Some(check))
    }

    /// Adds the source check to `validator` when enabled.
    pub(crate) fn apply(&self, validator: PackageValidator, workdir: &Path) -> anyhow::Result<PackageValidator> {
        Ok(match self.source_check(workdir, false)? {
            Some(check) => validator.with_row_check(Arc::new(check)),
            None => validator,
        })
    }
}

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
