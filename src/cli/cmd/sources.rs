//! `nexis sources discover`: search YouTube with yt-dlp for videos a miner can use, filter
//! them, record them with their provenance in the discovered-sources state file, and print
//! them. The same flags drive the miner's search mode (`NEXIS_SOURCES_QUERIES`), and the
//! yt-dlp access flags (cookies, proxy) serve every yt-dlp call of the miner. With
//! `--category-precheck` and a model key, each new result's thumbnail is judged with the
//! validators' category prompt first and off-category videos are skipped.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::cli::args::LlmArgs;
use crate::cli::args::{ModelNamesArgs, SearchArgs, WorkdirArg, state_file};
use nexis::miner::discover::{append_state, apply_filters, precheck_new};
use nexis::miner::ledger::Ledger;
use nexis::protocol::DEFAULT_CATEGORY as NATURE_CATEGORY;

/// `nexis sources ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum SourcesCommand {
    /// Search YouTube for usable sources, filter them and record them for the miner.
    Discover(DiscoverArgs),
}

/// Arguments of `nexis sources discover`.
#[derive(Debug, Args)]
#[command(after_help = "Each kept video is appended (once) to NEXIS_WORKDIR/discovered-sources.jsonl with \
    the query and the time; `nexis mine` mines those sources with NEXIS_SOURCES_FILE's.")]
pub(crate) struct DiscoverArgs {
    /// The search phrase.
    #[arg(long)]
    pub(crate) query: String,
    /// Results asked of YouTube (before filtering).
    #[arg(long, default_value_t = 20)]
    pub(crate) limit: usize,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
    /// The work directory (the state file and the miner's ledger live there).
    #[command(flatten)]
    pub(crate) workdir: WorkdirArg,
    #[command(flatten)]
    pub(crate) search: SearchArgs,
    #[command(flatten)]
    pub(crate) llm: LlmArgs,
    /// The pre-check's model: the validators' category model.
    #[command(flatten)]
    pub(crate) models: ModelNamesArgs,
}

/// Runs `nexis sources ...`.
pub(crate) async fn run(cmd: SourcesCommand) -> anyhow::Result<ExitCode> {
    let SourcesCommand::Discover(args) = cmd;
    let workdir = args.workdir.path();
    std::fs::create_dir_all(&workdir).with_context(|| format!("creating {}", workdir.display()))?;
    let filters = args.search.filters()?;
    let precheck = args.search.precheck(&args.llm, &args.models.category_model, Some(NATURE_CATEGORY))?;
    let found = args.search.searcher()?.search(&args.query, args.limit).await?;
    // The ledger is read only when no miner holds it.
    let ledger = Ledger::open(&workdir.join("miner-ledger")).ok();
    let (kept, rejected) = apply_filters(found, &filters, ledger.as_ref())?;
    let state = state_file(&workdir);
    let checked = precheck_new(precheck.as_deref(), &state, kept).await;
    let kept = checked.kept;
    let added =
        append_state(&state, &args.query, &kept).with_context(|| format!("recording in {}", state.display()))?;
    for c in &kept {
        if args.json {
            println!("{}", serde_json::to_string(c)?);
        } else {
            let minutes = c.duration_sec.unwrap_or(0.0) / 60.0;
            println!("{}  {:>5.1} min  {:>4}p  {}", c.url, minutes, c.height.unwrap_or(0), c.title);
        }
    }
    for (c, reason) in &rejected {
        tracing::info!(video_id = %c.video_id, reason = %reason, "filtered out");
    }
    let precheck_note = match &precheck {
        Some(_) => format!(
            ", {} off-category (category pre-check), {} not pre-checked",
            checked.skipped.len(),
            checked.unchecked
        ),
        None => String::new(),
    };
    eprintln!(
        "{} kept, {} filtered out{precheck_note}, {added} new in {}",
        kept.len(),
        rejected.len(),
        state.display()
    );
    Ok(ExitCode::SUCCESS)
}
