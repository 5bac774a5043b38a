//! Source search flags (shared by `sources discover` and `mine`): yt-dlp and its access
//! settings, the discovery filters and the optional category pre-check of new results.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

use super::{LlmArgs, YtDlpArgs};
use nexis::llm::ChatClient;
use nexis::miner::discover::{DiscoveryPlan, Filters, Searcher};
use nexis::miner::precheck::CategoryPrecheck;
use nexis::protocol::DEFAULT_CATEGORY as NATURE_CATEGORY;

/// Which licenses are acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum License {
    /// Any license.
    Any,
    /// Creative Commons only.
    Cc,
}

/// yt-dlp, its access settings and the discovery filters (shared by `mine`).
#[derive(Debug, Args)]
pub(crate) struct SearchArgs {
    #[command(flatten)]
    pub(crate) ytdlp: YtDlpArgs,
    /// Shortest source to keep, seconds.
    #[arg(long, env = "NEXIS_SOURCES_MIN_DURATION_SEC", default_value_t = 30.0)]
    pub(crate) min_duration_sec: f64,
    /// Longest source to keep, seconds.
    #[arg(long, env = "NEXIS_SOURCES_MAX_DURATION_SEC", default_value_t = 3600.0)]
    pub(crate) max_duration_sec: f64,
    /// `cc`: only videos under a Creative Commons license.
    #[arg(long, env = "NEXIS_SOURCES_LICENSE", value_enum, default_value = "any")]
    pub(crate) license: License,
    /// Time limit of one search, seconds.
    #[arg(long, env = "NEXIS_SOURCES_SEARCH_TIMEOUT_SEC", default_value_t = 300)]
    pub(crate) search_timeout_sec: u64,
    /// Before recording a new result, show its thumbnail to the model with the validators'
    /// category prompt and skip it when off-category (needs a model key; nature category only).
    #[arg(long, env = "NEXIS_SOURCES_CATEGORY_PRECHECK")]
    pub(crate) category_precheck: bool,
    /// Time limit of one pre-check step (thumbnail fetch, model request), seconds.
    #[arg(long, env = "NEXIS_SOURCES_CATEGORY_PRECHECK_TIMEOUT_SEC", default_value_t = 30)]
    pub(crate) category_precheck_timeout_sec: u64,
}

impl SearchArgs {
    pub(crate) fn searcher(&self) -> anyhow::Result<Searcher> {
        Ok(Searcher {
            binary: self.ytdlp.yt_dlp.clone(),
            timeout: Duration::from_secs(self.search_timeout_sec.max(1)),
            extra_args: self.ytdlp.access_args()?,
        })
    }

    pub(crate) fn filters(&self) -> anyhow::Result<Filters> {
        if !(self.min_duration_sec >= 0.0 && self.min_duration_sec <= self.max_duration_sec) {
            bail!("--min-duration-sec must be between 0 and --max-duration-sec");
        }
        Ok(Filters {
            min_duration_sec: self.min_duration_sec,
            max_duration_sec: self.max_duration_sec,
            min_height: 720,
            creative_commons_only: self.license == License::Cc,
        })
    }

    /// The category pre-check with `model` (the validators' category model), when
    /// `--category-precheck` is on and `category` is the one the validators' category check
    /// judges; on without a model key is an error.
    pub(crate) fn precheck(
        &self,
        llm: &LlmArgs,
        model: &str,
        category: Option<&str>,
    ) -> anyhow::Result<Option<Arc<CategoryPrecheck>>> {
        if !self.category_precheck {
            return Ok(None);
        }
        if category != Some(NATURE_CATEGORY) {
            tracing::warn!(
                category,
                "the category pre-check only judges {NATURE_CATEGORY} (the validators' category check): it is off"
            );
            return Ok(None);
        }
        let Some(provider) = llm.provider() else {
            bail!(
                "--category-precheck needs a model: set OPENAI_API_KEY (and OPENAI_BASE_URL for another \
                 OpenAI-compatible server) or GEMINI_API_KEY"
            );
        };
        let model = provider.model(Some(model), model);
        let timeout = Duration::from_secs(self.category_precheck_timeout_sec.max(1));
        tracing::info!(provider = %provider.kind, model = %model, "category pre-check of discovered sources on");
        let client = ChatClient::new(provider, model, timeout, llm.llm_concurrency.max(1))
            .context("the category pre-check's model client")?
            .with_rate_limiter(llm.rate_limiter());
        Ok(Some(Arc::new(CategoryPrecheck::new(client, timeout).context("the category pre-check")?)))
    }

    /// The miner's search mode, when `queries` names a file of phrases; `category` is the
    /// miner's (for the category pre-check).
    pub(crate) fn plan(
        &self,
        queries: Option<&Path>,
        workdir: &Path,
        per_query: usize,
        llm: &LlmArgs,
        model: &str,
        category: Option<&str>,
    ) -> anyhow::Result<Option<DiscoveryPlan>> {
        let Some(queries) = queries.filter(|q| !q.as_os_str().is_empty()) else { return Ok(None) };
        if !queries.is_file() {
            bail!("NEXIS_SOURCES_QUERIES {} is not a file of search phrases", queries.display());
        }
        Ok(Some(DiscoveryPlan {
            queries_file: queries.to_path_buf(),
            state_file: state_file(workdir),
            searcher: self.searcher()?,
            filters: self.filters()?,
            per_query,
            precheck: self.precheck(llm, model, category)?,
        }))
    }
}

/// Where discovered sources are recorded.
pub(crate) fn state_file(workdir: &Path) -> PathBuf {
    workdir.join("discovered-sources.jsonl")
}
