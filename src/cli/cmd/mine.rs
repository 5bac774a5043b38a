//! `nexis mine`: build and upload this miner's package for each interval as it opens
//! (or once, with `--once`), to its R2 bucket or, with `--out DIR`, to a local directory
//! with the same layout.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::secret::Secret;
use anyhow::{Context, bail};
use clap::Args;
use tracing::info;

use crate::cli::args::BlockArgs;
use crate::cli::args::ChainArgs;
use crate::cli::args::LlmArgs;
use crate::cli::args::R2Credentials;
use crate::cli::args::SearchArgs;
use crate::cli::args::SelfCheckArgs;
use crate::cli::args::registry_for;
use crate::cli::args::{CategoryArg, PollArg, S3EndpointArg, WorkdirArg};
use nexis::chain::NetUid;
use nexis::chain::commitment::bucket_for_hotkey;
use nexis::llm::ChatClient;
use nexis::media::{Ffprobe, MediaProbe};
use nexis::miner::caption::{Captioner, LlmCaptioner};
use nexis::miner::clipper::Clipper;
use nexis::miner::download::Downloader;
use nexis::miner::ledger::Ledger;
use nexis::miner::metrics::MinerMetrics;
use nexis::miner::package::{PackageInfo, UploadPolicy};
use nexis::miner::{Miner, MinerSettings};
use nexis::protocol::{Block, DEFAULT_SPEC_ID};
use nexis::shutdown::Shutdown;
use nexis::storage::{LocalStore, ObjectStore, S3Store};

/// Arguments of `nexis mine`.
#[derive(Debug, Args)]
#[command(after_help = "Sources come from NEXIS_SOURCES_FILE (one YouTube URL per line) and, with \
    NEXIS_SOURCES_QUERIES, from YouTube searches. A source file already in \
    NEXIS_WORKDIR/raw/{video_id}.mp4 is used without downloading.\n\n\
    Example (one package into a local directory):\n  nexis mine --once --interval 7756800 --out ./bucket")]
pub(crate) struct MineArgs {
    #[command(flatten)]
    pub(crate) chain: ChainArgs,
    /// File of YouTube URLs, one per line.
    #[arg(long, env = "NEXIS_SOURCES_FILE", default_value = "sources.txt")]
    pub(crate) sources_file: PathBuf,
    /// The work directory: downloads, packages in progress and the ledger of published
    /// segments.
    #[command(flatten)]
    pub(crate) workdir: WorkdirArg,
    /// Dataset spec of the packages.
    #[arg(long, env = "NEXIS_DATASET_SPEC_DEFAULT", default_value = DEFAULT_SPEC_ID)]
    pub(crate) spec: String,
    /// Specs this miner may build, comma-separated; `--spec` must be one of them.
    #[arg(long, env = "NEXIS_MINER_ENABLED_SPECS", value_delimiter = ',', default_value = DEFAULT_SPEC_ID)]
    pub(crate) enabled_specs: Vec<String>,
    #[command(flatten)]
    pub(crate) category: CategoryArg,
    /// Build one package and exit.
    #[arg(long)]
    pub(crate) once: bool,
    /// Interval of `--once` (default: the interval open now).
    #[arg(long, requires = "once")]
    pub(crate) interval: Option<u64>,
    /// Write the package under DIR/{interval}/ instead of uploading to R2.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) poll: PollArg,
    /// Most clips in one package.
    #[arg(long, env = "NEXIS_MINER_MAX_CLIPS_PER_INTERVAL", default_value_t = 40)]
    pub(crate) max_clips_per_interval: usize,
    /// Clips cut at once (default: the number of cores).
    #[arg(long, env = "NEXIS_MINER_CLIP_CONCURRENCY")]
    pub(crate) clip_concurrency: Option<usize>,
    /// Timeout of one ffmpeg run, seconds.
    #[arg(long, env = "NEXIS_FFMPEG_TIMEOUT_SEC", default_value_t = 300)]
    pub(crate) ffmpeg_timeout_sec: u64,
    /// File of YouTube search phrases, one per line: before each interval they are searched
    /// (`nexis sources discover`'s filters) and the results mined with the sources file's.
    #[arg(long, env = "NEXIS_SOURCES_QUERIES")]
    pub(crate) sources_queries: Option<PathBuf>,
    /// Search results asked per phrase.
    #[arg(long, env = "NEXIS_SOURCES_PER_QUERY", default_value_t = 10)]
    pub(crate) sources_per_query: usize,
    #[command(flatten)]
    pub(crate) search: SearchArgs,
    /// Timeout of one download attempt, seconds.
    #[arg(long, env = "NEXIS_YT_DLP_TIMEOUT_SEC", default_value_t = 1800)]
    pub(crate) yt_dlp_timeout_sec: u64,
    #[command(flatten)]
    pub s3: S3EndpointArg,
    /// Cloudflare account id of the miner's bucket.
    #[arg(long, env = "R2_ACCOUNT_ID", hide_env_values = true)]
    pub r2_account_id: Option<String>,
    /// Signing region of the bucket (`auto` for R2).
    #[arg(long, env = "R2_REGION", default_value = "auto")]
    pub r2_region: String,
    /// R2 write access key.
    #[arg(long, env = "R2_WRITE_ACCESS_KEY", hide_env_values = true)]
    pub r2_write_access_key: Option<Secret>,
    /// R2 write secret key.
    #[arg(long, env = "R2_WRITE_SECRET_KEY", hide_env_values = true)]
    pub r2_write_secret_key: Option<Secret>,
    /// Caption model on OpenAI-compatible servers (a Gemini key always uses the protocol's model).
    #[arg(long, env = "NEXIS_CAPTION_MODEL", default_value = "gpt-4o-mini")]
    pub(crate) caption_model: String,
    /// Timeout of one caption request, seconds.
    #[arg(long, env = "NEXIS_CAPTION_TIMEOUT_SEC", default_value_t = 60)]
    pub(crate) caption_timeout_sec: u64,
    #[command(flatten)]
    pub(crate) llm: LlmArgs,
    #[command(flatten)]
    pub(crate) blocks: BlockArgs,
    #[command(flatten)]
    pub(crate) self_check: SelfCheckArgs,
}

fn bucket_store(args: &MineArgs, hotkey: &str) -> anyhow::Result<Arc<dyn ObjectStore>> {
    if let Some(out) = &args.out {
        info!(dir = %out.display(), "writing packages to a local directory instead of R2");
        return Ok(Arc::new(LocalStore::new(out)));
    }
    let credentials = R2Credentials {
        account_id: ("R2_ACCOUNT_ID", args.r2_account_id.as_deref()),
        access_key: ("R2_WRITE_ACCESS_KEY", args.r2_write_access_key.as_deref()),
        secret_key: ("R2_WRITE_SECRET_KEY", args.r2_write_secret_key.as_deref()),
    };
    let keys = credentials.required("uploading packages (or use --out DIR)")?;
    let mut config = keys.config(&bucket_for_hotkey(hotkey), args.s3.get());
    config.region = args.r2_region.trim().to_string();
    Ok(Arc::new(S3Store::new(config).context("R2 bucket settings")?))
}

fn captioner(args: &MineArgs) -> anyhow::Result<Arc<dyn Captioner>> {
    let Some(provider) = args.llm.provider() else {
        bail!(
            "the miner needs a caption model: set OPENAI_API_KEY (and OPENAI_BASE_URL for another \
             OpenAI-compatible server) or GEMINI_API_KEY"
        );
    };
    let model = provider.model(Some(&args.caption_model), "gpt-4o-mini");
    info!(provider = %provider.kind, model = %model, "captions");
    let timeout = Duration::from_secs(args.caption_timeout_sec.max(1));
    let client =
        ChatClient::new(provider, model, timeout, args.llm.llm_concurrency)?.with_rate_limiter(args.llm.rate_limiter());
    Ok(Arc::new(LlmCaptioner { client }))
}

/// The miner of `args`, with its work directories under `workdir`.
fn build_miner(
    args: &MineArgs,
    workdir: &Path,
    hotkey: String,
    netuid: NetUid,
    probe: Arc<dyn MediaProbe>,
    captioner: Arc<dyn Captioner>,
) -> anyhow::Result<Miner> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let category = args.category.category.trim();
    let category = (!category.is_empty()).then_some(category);
    let self_check = args.self_check.self_check(&args.llm, args.spec.trim(), category, probe.clone(), workdir)?;
    Ok(Miner {
        settings: MinerSettings {
            sources_file: args.sources_file.clone(),
            packages_dir: workdir.join("packages"),
            max_clips: args.max_clips_per_interval,
            clip_concurrency: args.clip_concurrency.unwrap_or(cores).max(1),
            caption_concurrency: args.llm.llm_concurrency.max(1),
            upload: UploadPolicy::default(),
            progress: std::io::stderr().is_terminal(),
            discovery: args.search.plan(
                args.sources_queries.as_deref(),
                workdir,
                args.sources_per_query,
                &args.llm,
                &args.self_check.models.category_model,
                category,
            )?,
        },
        info: PackageInfo {
            miner_hotkey: hotkey.clone(),
            netuid,
            interval_id: 0,
            spec_id: args.spec.trim().to_string(),
            category: category.map(str::to_string),
        },
        downloader: Downloader {
            raw_dir: workdir.join("raw"),
            binary: args.search.ytdlp.yt_dlp.clone(),
            timeout: Duration::from_secs(args.yt_dlp_timeout_sec.max(1)),
            attempts: 3,
            extra_args: args.search.ytdlp.access_args()?,
        },
        clipper: Clipper {
            probe: probe.clone(),
            timeout: Duration::from_secs(args.ffmpeg_timeout_sec.max(1)),
            threads: 1,
        },
        probe,
        captioner,
        ledger: Ledger::open(&workdir.join("miner-ledger"))?,
        store: bucket_store(args, &hotkey)?,
        self_check,
        metrics: MinerMetrics::default(),
    })
}

/// Runs `nexis mine`.
pub(crate) async fn run(args: MineArgs) -> anyhow::Result<ExitCode> {
    let spec = args.spec.trim();
    registry_for(&[spec.to_string()])?;
    if !args.enabled_specs.iter().any(|s| s.trim() == spec) {
        bail!("--spec {spec} is not in NEXIS_MINER_ENABLED_SPECS ({})", args.enabled_specs.join(","));
    }
    let captioner = captioner(&args)?;
    let network = args.chain.network()?;
    let netuid = args.chain.netuid(&network)?;
    let (clock, _) = args.blocks.resolve()?;
    let hotkey = args.chain.hotkey()?;
    let workdir = args.workdir.path();
    std::fs::create_dir_all(&workdir).with_context(|| format!("creating {}", workdir.display()))?;
    let probe = Ffprobe::new(None, Duration::from_secs(60));
    probe
        .check_available(std::env::var_os("PATH").as_deref())
        .context("ffprobe is needed to probe sources and clips")?;
    let probe: Arc<dyn MediaProbe> = Arc::new(probe);
    let miner = build_miner(&args, &workdir, hotkey.ss58(), netuid, probe, captioner)?;
    let metrics = miner.metrics.clone();
    args.self_check.serve_metrics(move || metrics.render()).await?;
    if args.once
        && let Some(interval) = args.interval
    {
        let report = miner.mine_interval(interval).await?;
        println!(
            "{}",
            serde_json::json!({
                "interval_id": report.interval_id, "records": report.records, "clips_failed": report.clips_failed,
                "captions_dropped": report.captions_dropped, "sources_failed": report.sources_failed,
                "skipped": report.skipped, "resumed": report.resumed,
                "self_check_dropped": report.self_check_dropped, "recaptioned": report.recaptioned,
            })
        );
        return Ok(ExitCode::SUCCESS);
    }
    let chain = args.chain.connect(&network).await?;
    if args.once {
        let interval = clock.interval_start(Block::new(chain.current_block().await?)).get();
        let report = miner.mine_interval(interval).await?;
        info!(interval, records = report.records, "done");
        return Ok(ExitCode::SUCCESS);
    }
    let poll = args.poll.period()?;
    let shutdown = Shutdown::on_signal("stopping the miner");
    miner.run(&clock, chain.as_ref(), poll, &shutdown).await;
    Ok(ExitCode::SUCCESS)
}
